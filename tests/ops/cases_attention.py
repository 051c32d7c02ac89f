"""Gradient cases for scaled_dot_product_attention: plain, causal, boolean masks (padding and full,
fully masked rows included), broadcast leading dims, and the weights output.

test_attention.py compares the values and gradients with a float64 reference written from the formula.
"""
import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinydl as td
from tinydl.testing import OpCase, array_tuples, arrays, shapes

attend = td.scaled_dot_product_attention


def qkv(lead=(1, 2), extra=()):
    """(q, k, v) with small Tq, Tk, d, dv, plus any arrays drawn by `extra(tq, tk)` strategies."""
    def build(sizes):
        tq, tk, d, dv = sizes
        arrays = array_tuples((*lead, tq, d), (*lead, tk, d), (*lead, tk, dv))
        if not extra:
            return arrays
        return st.tuples(arrays, *[e(tq, tk) for e in extra]).map(lambda t: (*t[0], *t[1:]))
    return st.tuples(*[st.integers(1, 3)] * 4).flatmap(build)


def full_mask(tq, tk):
    return hnp.arrays(np.bool_, (tq, tk))


def padding_mask(tq, tk):
    return hnp.arrays(np.bool_, (1, 1, 1, tk))


def with_weights(q, k, v):
    out, w = attend(q, k, v, causal=True, return_weights=True)
    return td.concatenate([out, w * w], axis=-1)


CASES = [
    OpCase("scaled_dot_product_attention", attend, qkv()),
    OpCase("scaled_dot_product_attention", lambda q, k, v: attend(q, k, v, causal=True), qkv(), variant="causal"),
    OpCase("scaled_dot_product_attention", lambda q, k, v, m: attend(q, k, v, mask=m), qkv(extra=(full_mask,)),
           variant="mask"),
    OpCase("scaled_dot_product_attention", lambda q, k, v, m: attend(q, k, v, mask=m, causal=True, scale=0.7),
           qkv(extra=(padding_mask,)), variant="padding+causal"),
    OpCase("scaled_dot_product_attention", attend, qkv(lead=(2,)), variant="3d"),
    OpCase("scaled_dot_product_attention", with_weights, qkv(), variant="return_weights"),
    OpCase("masked_softmax", td.masked_softmax, st.tuples(arrays(shapes(2, 4, 1, 3)))),
    OpCase("masked_softmax", lambda s, m: td.masked_softmax(s, m, causal=True),
           st.tuples(st.integers(1, 3), st.integers(1, 3)).flatmap(
               lambda t: st.tuples(arrays((2, *t)), hnp.arrays(np.bool_, t))), variant="mask+causal"),
]
