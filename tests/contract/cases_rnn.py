"""Contract cases for the recurrent layers (recurrent.py): SimpleRNN, LSTM, GRU (both bias layouts),
Bidirectional, TimeDistributed and Masking, with masks, return options and backwards reading."""
import numpy as np

from tinydl import layers as L
from tests.contract import LayerCase


def _with_padding(rng):
    """A (2, 5, 3) batch whose second sample ends with two all-zero (padding) steps."""
    x = rng.standard_normal((2, 5, 3))
    x[1, 3:] = 0.0
    return [x]


MASK = np.array([[True, True, True, False], [True, False, True, True]])

CASES = [
    LayerCase(lambda **kw: L.SimpleRNN(3, **kw), (2, 4, 3)),
    LayerCase(lambda **kw: L.SimpleRNN(2, return_sequences=True, go_backwards=True, activation="relu", **kw),
              (2, 3, 2), name="SimpleRNN[relu,backwards,sequences]"),
    LayerCase(lambda **kw: L.LSTM(3, **kw), (2, 4, 3)),
    LayerCase(lambda **kw: L.LSTM(2, return_sequences=True, return_state=True, **kw), (2, 4, 3),
              name="LSTM[sequences+state]"),
    LayerCase(lambda **kw: L.LSTM(2, return_sequences=True, **kw), (2, 4, 3), call_kwargs={"mask": MASK},
              name="LSTM[mask]"),
    LayerCase(lambda **kw: L.GRU(3, **kw), (2, 4, 2)),
    LayerCase(lambda **kw: L.GRU(2, reset_after=False, go_backwards=True, return_sequences=True, **kw), (2, 4, 3),
              name="GRU[reset_before,backwards]"),
    LayerCase(lambda **kw: L.Bidirectional(L.LSTM(2, return_sequences=True, **kw), **kw), (2, 4, 3)),
    LayerCase(lambda **kw: L.Bidirectional(L.GRU(2, **kw), merge_mode="ave", **kw), (2, 4, 3), call_kwargs={"mask": MASK},
              name="Bidirectional[GRU,ave,mask]"),
    LayerCase(lambda **kw: L.TimeDistributed(L.Dense(3, **kw), **kw), (2, 4, 5)),
    LayerCase(lambda **kw: L.Masking(mask_value=10.0, **kw), (2, 4, 3)),
    # finite differences move padding off mask_value (the mask flips), so this one skips the gradient check
    LayerCase(lambda **kw: L.Masking(**kw), make_inputs=_with_padding, grad=False, name="Masking[padding]"),
]
