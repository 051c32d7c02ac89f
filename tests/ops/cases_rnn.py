"""Gradient cases for the recurrent scans lstm, gru and simple_rnn: masks, go_backwards, zero outputs for
masked steps, GRU's two bias layouts, and the step-by-step path (an activation the fused kernel lacks,
a recurrent dropout mask).

Each case returns the output sequence and the final states in one tensor, so gradients reach every input
through every output. The reference of a case with the default activations and no dropout mask is
test_rnn.py's step-by-step reference (Keras's equations one step at a time, on elementwise ops whose
own cases have NumPy references); test_rnn.py also compares gradients with it.
"""
import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinydl as td
from tinydl.testing import OpCase, arrays

from .test_rnn import ref_gru, ref_lstm, ref_rnn


def scan_inputs(gates, states, bias_shape=None, extra=()):
    """(x, *states, kernel, recurrent_kernel, bias, mask, *extra) for small N, T, F, u."""
    def build(sizes):
        n, t, f, u = sizes
        bias = bias_shape(u) if bias_shape else (gates * u,)
        parts = [arrays((n, t, f), (-1.5, 1.5))]
        parts += [arrays((n, u), (-1.0, 1.0)) for _ in range(states)]
        parts += [arrays((f, gates * u), (-1.0, 1.0)), arrays((u, gates * u), (-1.0, 1.0)),
                  arrays(bias, (-1.0, 1.0)), hnp.arrays(np.bool_, (n, t))]
        parts += [e(n, u) for e in extra]
        return st.tuples(*parts)
    return st.tuples(st.integers(1, 2), st.integers(1, 4), st.integers(1, 2), st.integers(1, 2)).flatmap(build)


def dropout_mask(n, u):
    return arrays((n, u), (0.0, 2.0))


def joined(outputs):
    """Sequence and states as one (N, T*u + k*u) tensor."""
    seq, *states = outputs
    return td.concatenate([seq.reshape(seq.shape[0], -1), *states], axis=1)


def lstm(x, h, c, w, u, b, m, **kw):
    return joined(td.lstm(x, h, c, w, u, b, **kw))


def lstm_masked(x, h, c, w, u, b, m, **kw):
    return joined(td.lstm(x, h, c, w, u, b, mask=m, **kw))


def lstm_dropout(x, h, c, w, u, b, m, d):
    return joined(td.lstm(x, h, c, w, u, b, mask=m, recurrent_dropout_mask=d))


def gru(x, h, w, u, b, m, **kw):
    return joined(td.gru(x, h, w, u, b, **kw))


def gru_masked(x, h, w, u, b, m, **kw):
    return joined(td.gru(x, h, w, u, b, mask=m, **kw))


def gru_dropout(x, h, w, u, b, m, d, **kw):
    return joined(td.gru(x, h, w, u, b, mask=m, recurrent_dropout_mask=d, **kw))


def rnn(x, h, w, u, b, m, **kw):
    return joined(td.simple_rnn(x, h, w, u, b, **kw))


def rnn_masked(x, h, w, u, b, m, **kw):
    return joined(td.simple_rnn(x, h, w, u, b, mask=m, **kw))


def scan_ref(ref, masked=True, **kwargs):
    """`ref` on a case's arrays (the last one is the mask), joined as the case joins the op's outputs."""
    def reference(*arrays):
        *args, mask = arrays
        outputs = ref(*[td.tensor(a) for a in args], mask=mask if masked else None, **kwargs)
        return joined(outputs).numpy()
    return reference


LSTM = scan_inputs(4, 2)
GRU_AFTER = scan_inputs(3, 1, lambda u: (2, 3 * u))
GRU_BEFORE = scan_inputs(3, 1, lambda u: (3 * u,))
RNN = scan_inputs(1, 1)

CASES = [
    OpCase("lstm", lstm, LSTM, reference=scan_ref(ref_lstm, masked=False)),
    OpCase("lstm", lstm_masked, LSTM, variant="mask", reference=scan_ref(ref_lstm)),
    OpCase("lstm", lstm_masked, LSTM, kwargs={"go_backwards": True, "zero_output_for_mask": True},
           variant="mask+backwards+zero_output", reference=scan_ref(ref_lstm, go_backwards=True, zero_output=True)),
    OpCase("lstm", lstm_masked, LSTM, kwargs={"activation": "softplus", "recurrent_activation": "hard_sigmoid"},
           variant="step-by-step path"),
    OpCase("lstm", lstm_dropout, scan_inputs(4, 2, extra=(dropout_mask,)), variant="recurrent dropout"),
    OpCase("gru", gru, GRU_AFTER, reference=scan_ref(ref_gru, masked=False)),
    OpCase("gru", gru_masked, GRU_AFTER, kwargs={"go_backwards": True}, variant="mask+backwards",
           reference=scan_ref(ref_gru, go_backwards=True)),
    OpCase("gru", gru_masked, GRU_BEFORE, kwargs={"reset_after": False}, variant="reset_after=False+mask",
           reference=scan_ref(ref_gru, reset_after=False)),
    OpCase("gru", gru_masked, GRU_BEFORE, kwargs={"reset_after": False, "go_backwards": True,
                                                  "zero_output_for_mask": True},
           variant="reset_after=False+backwards+zero_output",
           reference=scan_ref(ref_gru, reset_after=False, go_backwards=True, zero_output=True)),
    OpCase("gru", gru_dropout, scan_inputs(3, 1, lambda u: (2, 3 * u), extra=(dropout_mask,)),
           variant="recurrent dropout"),
    OpCase("simple_rnn", rnn, RNN, reference=scan_ref(ref_rnn, masked=False)),
    OpCase("simple_rnn", rnn_masked, RNN, kwargs={"go_backwards": True, "zero_output_for_mask": True},
           variant="mask+backwards+zero_output", reference=scan_ref(ref_rnn, go_backwards=True, zero_output=True)),
    OpCase("simple_rnn", rnn_masked, RNN, kwargs={"activation": "sigmoid"}, variant="sigmoid"),
    OpCase("simple_rnn", rnn_masked, RNN, kwargs={"activation": "softplus"}, variant="step-by-step path"),
]
