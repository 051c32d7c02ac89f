"""Contract cases for the convolutional LSTMs (conv_lstm.py): 1D, 2D (strided, channels_first, masked, states), 3D."""
import numpy as np

from tinydl import layers as L
from tests.contract import LayerCase

MASK = np.array([[True, True, False], [True, False, True]])

CASES = [
    LayerCase(lambda **kw: L.ConvLSTM1D(2, 3, padding="same", return_sequences=True, **kw), (2, 3, 5, 2)),
    LayerCase(lambda **kw: L.ConvLSTM2D(2, (3, 2), strides=(2, 1), **kw), (2, 3, 5, 4, 2)),
    LayerCase(lambda **kw: L.ConvLSTM2D(2, 2, data_format="channels_first", return_state=True, go_backwards=True,
                                        **kw), (2, 3, 2, 4, 3), name="ConvLSTM2D[channels_first,state]"),
    LayerCase(lambda **kw: L.ConvLSTM2D(2, 2, padding="same", return_sequences=True, **kw), (2, 3, 3, 3, 2),
              call_kwargs={"mask": MASK}, name="ConvLSTM2D[mask]"),
    LayerCase(lambda **kw: L.ConvLSTM1D(2, 2, return_sequences=True, zero_output_for_mask=True,
                                        data_format="channels_first", **kw), (2, 3, 2, 4),
              call_kwargs={"mask": MASK}, name="ConvLSTM1D[mask,zero_output,channels_first]"),
    LayerCase(lambda **kw: L.ConvLSTM3D(2, 2, **kw), (1, 2, 3, 3, 3, 2)),
]
