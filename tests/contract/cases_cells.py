"""Contract cases for RNN(cell) and Keras's cells (cells.py): each cell, stacked cells, masks, states, backwards."""
import numpy as np

from tinydl import layers as L
from tests.contract import LayerCase

MASK = np.array([[True, True, True, False], [True, False, True, True]])

CASES = [
    LayerCase(lambda **kw: L.RNN(L.SimpleRNNCell(3, **kw), **kw), (2, 4, 3)),
    LayerCase(lambda **kw: L.RNN(L.LSTMCell(3, **kw), return_sequences=True, return_state=True, **kw), (2, 4, 3),
              name="RNN[LSTMCell,sequences+state]"),
    LayerCase(lambda **kw: L.RNN(L.GRUCell(2, **kw), return_sequences=True, go_backwards=True, **kw), (2, 4, 3),
              call_kwargs={"mask": MASK}, name="RNN[GRUCell,backwards,mask]"),
    LayerCase(lambda **kw: L.RNN(L.GRUCell(2, reset_after=False, activation="relu", **kw),
                                 zero_output_for_mask=True, return_sequences=True, **kw), (2, 4, 3),
              call_kwargs={"mask": MASK}, name="RNN[GRUCell reset_before,zero_output_for_mask]"),
    LayerCase(lambda **kw: L.RNN(L.StackedRNNCells([L.LSTMCell(3, **kw), L.SimpleRNNCell(2, **kw)], **kw),
                                 return_sequences=True, **kw), (2, 4, 3), name="RNN[StackedRNNCells]"),
]
