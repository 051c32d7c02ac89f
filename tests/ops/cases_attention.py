"""Gradient cases for scaled_dot_product_attention: plain, causal, boolean masks (padding and full,
fully masked rows included), broadcast leading dims, and the weights output.

Each case's forward reference is test_attention.py's float64 formula (which also checks the gradients).
"""
import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinydl as td
from tinydl.testing import OpCase, array_tuples, arrays, shapes

from .test_attention import reference

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


def attention_ref(q, k, v, mask=None, causal=False, scale=None, weights=False):
    """test_attention.py's reference; it scales logits by 1/sqrt(d), so another scale is folded into q."""
    if scale is not None:
        q = q * scale * np.sqrt(q.shape[-1])
    out, p, _ = reference(q, k, v, mask, causal, np.zeros(q.shape[:-1] + v.shape[-1:]))
    return np.concatenate([out, p * p], axis=-1) if weights else out


def masked_softmax_ref(scores, mask=None, causal=False):
    """Softmax over the allowed last-axis positions; a row with none allowed is all zeros."""
    tq, tk = scores.shape[-2:]
    allowed = np.ones((tq, tk), bool) if mask is None else mask
    if causal:
        allowed = allowed & np.tril(np.ones((tq, tk), bool))
    e = np.where(allowed, np.exp(scores - scores.max(axis=-1, keepdims=True)), 0.0)
    total = e.sum(axis=-1, keepdims=True)
    return np.where(total > 0, e / np.where(total > 0, total, 1), 0.0)


CASES = [
    OpCase("scaled_dot_product_attention", attend, qkv(), reference=attention_ref),
    OpCase("scaled_dot_product_attention", lambda q, k, v: attend(q, k, v, causal=True), qkv(), variant="causal",
           reference=lambda q, k, v: attention_ref(q, k, v, causal=True)),
    OpCase("scaled_dot_product_attention", lambda q, k, v, m: attend(q, k, v, mask=m), qkv(extra=(full_mask,)),
           variant="mask", reference=lambda q, k, v, m: attention_ref(q, k, v, mask=m)),
    OpCase("scaled_dot_product_attention", lambda q, k, v, m: attend(q, k, v, mask=m, causal=True, scale=0.7),
           qkv(extra=(padding_mask,)), variant="padding+causal",
           reference=lambda q, k, v, m: attention_ref(q, k, v, mask=m, causal=True, scale=0.7)),
    OpCase("scaled_dot_product_attention", attend, qkv(lead=(2,)), variant="3d", reference=attention_ref),
    OpCase("scaled_dot_product_attention", with_weights, qkv(), variant="return_weights",
           reference=lambda q, k, v: attention_ref(q, k, v, causal=True, weights=True)),
    OpCase("masked_softmax", td.masked_softmax, st.tuples(arrays(shapes(2, 4, 1, 3))), reference=masked_softmax_ref),
    OpCase("masked_softmax", lambda s, m: td.masked_softmax(s, m, causal=True),
           st.tuples(st.integers(1, 3), st.integers(1, 3)).flatmap(
               lambda t: st.tuples(arrays((2, *t)), hnp.arrays(np.bool_, t))), variant="mask+causal",
           reference=lambda s, m: masked_softmax_ref(s, m, causal=True)),
]
