"""Gradient cases for batch_norm (batch statistics, given statistics, without gamma/beta, channels
first, the returned statistics) and layer_norm (last axis, several axes, without gamma/beta).

tests/layers/test_normalization.py compares the values with NumPy formulas.
"""
import numpy as np
from hypothesis import strategies as st

import tinydl as td
from tinydl.testing import OpCase, array_tuples, positive_arrays

# statistics need a few distinct values per group; elements in (-2, 2) are spread enough at these sizes


def _bn_inputs(n, c, extra=()):
    """(x (n, *extra, c), gamma (c,), beta (c,))."""
    return array_tuples((n, *extra, c), (c,), (c,))


def _bn_with_stats(n, c):
    """(x, mean, variance > 0, gamma, beta)."""
    return st.tuples(array_tuples((n, c), (c,)), positive_arrays((c,)), array_tuples((c,), (c,))).map(
        lambda t: (t[0][0], t[0][1], t[1], *t[2]))


def _bn_stats_out(x, gamma, beta):
    y, mean, var = td.batch_norm(x, gamma, beta, return_stats=True)
    return td.concatenate([y.reshape(-1), mean * 1.5, var * 0.5], axis=0)


CASES = [
    OpCase("batch_norm", lambda x, g, b: td.batch_norm(x, g, b), _bn_inputs(4, 3),
           reference=lambda x, g, b: reference_norm(x, (0,), 1e-3) * g + b),
    OpCase("batch_norm", lambda x, g, b: td.batch_norm(x, g, b, epsilon=1e-2), _bn_inputs(3, 2, (2,)),
                      variant="3d", reference=lambda x, g, b: reference_norm(x, (0, 1), 1e-2) * g + b),
    OpCase("batch_norm", lambda x, g, b: td.batch_norm(x, g, b, axis=1),
                      array_tuples((3, 2, 2), (2,), (2,)), variant="axis=1",
                      reference=lambda x, g, b: reference_norm(x, (0, 2), 1e-3) * g[:, None] + b[:, None]),
    OpCase("batch_norm", lambda x: td.batch_norm(x), array_tuples((5, 2)), variant="no affine",
                      reference=lambda x: reference_norm(x, (0,), 1e-3)),
    OpCase("batch_norm", lambda x, b: td.batch_norm(x, beta=b), array_tuples((4, 2), (2,)),
                      variant="center only",
                      reference=lambda x, b: reference_norm(x, (0,), 1e-3) + b),
    OpCase("batch_norm", _bn_stats_out, _bn_inputs(4, 2), variant="return_stats",
                      reference=lambda x, g, b: np.concatenate([(reference_norm(x, (0,), 1e-3) * g + b).ravel(),
                                                                x.mean(0) * 1.5, x.var(0) * 0.5])),
    OpCase("batch_norm", lambda x, m, v, g, b: td.batch_norm(x, g, b, mean=m, variance=v),
                      _bn_with_stats(3, 2), variant="given stats",
                      reference=lambda x, m, v, g, b: (x - m) / np.sqrt(v + 1e-3) * g + b),
    OpCase("batch_norm", lambda x, m, v: td.batch_norm(x, mean=m, variance=v),
                      st.tuples(array_tuples((3, 2), (2,)), positive_arrays((2,))).map(
                          lambda t: (t[0][0], t[0][1], t[1])), variant="given stats, no affine",
                      reference=lambda x, m, v: (x - m) / np.sqrt(v + 1e-3)),
    OpCase("layer_norm", lambda x, g, b: td.layer_norm(x, g, b), array_tuples((2, 4), (4,), (4,)),
                      reference=lambda x, g, b: reference_norm(x, (1,), 1e-3) * g + b),
    OpCase("layer_norm", lambda x, g, b: td.layer_norm(x, g, b, axis=(1, 2)),
                      array_tuples((2, 2, 3), (2, 3), (2, 3)), variant="axes (1, 2)",
                      reference=lambda x, g, b: reference_norm(x, (1, 2), 1e-3) * g + b),
    OpCase("layer_norm", lambda x: td.layer_norm(x, epsilon=1e-2), array_tuples((3, 2, 3)),
                      variant="no affine",
                      reference=lambda x: reference_norm(x, (2,), 1e-2)),
    OpCase("layer_norm", lambda x, g: td.layer_norm(x, g, axis=1), array_tuples((2, 3, 2), (3,)),
                      variant="axis=1, scale only",
                      reference=lambda x, g: reference_norm(x, (1,), 1e-3) * g[:, None]),
]


def reference_norm(x, axes, epsilon):
    """(x - mean) / sqrt(biased variance + epsilon), statistics over `axes`."""
    mean = x.mean(axis=axes, keepdims=True)
    return (x - mean) / np.sqrt(((x - mean) ** 2).mean(axis=axes, keepdims=True) + epsilon)
