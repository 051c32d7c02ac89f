"""Scaled dot-product attention as one fused Function: BLAS matmuls around a masked-softmax kernel."""
import math

import numpy as np

from tinydl import backend
from tinydl.autograd import Function, unbroadcast
from tinydl.backend import array_module
from tinydl.tensor import Tensor

__all__ = ["scaled_dot_product_attention", "masked_softmax"]


def scaled_dot_product_attention(q, k, v, mask=None, causal=False, dropout=0.0, scale=None,
                                 return_weights=False):
    """softmax(scale * q @ k^T, masked) @ v over any leading batch/head dims.

    q: (..., Tq, d), k: (..., Tk, d), v: (..., Tk, dv); leading dims broadcast. `mask`: boolean,
    broadcastable to (..., Tq, Tk), True = attend (as Keras). `causal`: query i attends to keys
    j <= i. Masked positions get exactly zero weight; a query whose keys are all masked gets zero
    weights and a zero output. `dropout`: rate applied to the weights (inverted dropout, from
    tinydl's generator) whenever it is > 0; pass 0 at inference. `scale` defaults to 1/sqrt(d).
    With `return_weights`, returns (output, weights), the weights taken before dropout, as Keras.
    """

    if not 0 <= dropout < 1:
        raise ValueError(f"scaled_dot_product_attention: dropout must be in [0, 1), got {dropout}")
    qs, ks, vs = (_shape(t) for t in (q, k, v))
    _check_shapes(qs, ks, vs)
    if mask is not None:
        target = (*np.broadcast_shapes(qs[:-2], ks[:-2]), qs[-2], ks[-2])
        mask = _as_mask(mask.data if isinstance(mask, Tensor) else mask, q, target, "scaled_dot_product_attention")
    if scale is None:
        scale = 1.0 / math.sqrt(qs[-1]) if qs[-1] else 1.0
    return ScaledDotProductAttention(mask=mask, causal=bool(causal), rate=float(dropout), scale=float(scale),
                                     with_weights=bool(return_weights))(q, k, v)


def masked_softmax(scores, mask=None, causal=False):
    """softmax over the last axis of scores (..., Tq, Tk) with masked positions at exactly zero weight.

    `mask`: boolean broadcastable to scores' shape, True = keep; `causal`: hide j > i. A row with
    nothing kept gets all-zero weights. The fused kernel of scaled_dot_product_attention, for layers
    whose scores are not a dot product (additive attention).
    """

    shape = tuple(scores.shape)
    if len(shape) < 2:
        raise ValueError(f"masked_softmax: scores must have shape (..., Tq, Tk), got {shape}")
    if mask is not None:
        mask = _as_mask(mask.data if isinstance(mask, Tensor) else mask, scores, shape, "masked_softmax")
    return MaskedSoftmax(mask=mask, causal=bool(causal))(scores)


class MaskedSoftmax(Function):
    def __init__(self, mask, causal):
        self.mask, self.causal = mask, causal

    def forward(self, s):
        self.w = backend.kernel("attention_softmax_fwd", s)(s, self.mask, self.causal, 1.0)
        return self.w

    def backward(self, g):
        return backend.kernel("attention_softmax_bwd", self.w)(self.w, g, 1.0)


class ScaledDotProductAttention(Function):
    """out = dropout(softmax(scale * q k^T | mask)) @ v; a second output, the weights, when asked for."""

    def __init__(self, mask, causal, rate, scale, with_weights):
        self.mask, self.causal, self.rate, self.scale, self.with_weights = mask, causal, rate, scale, with_weights

    def forward(self, q, k, v):
        xp = array_module(q)
        scores = xp.matmul(q, k.swapaxes(-1, -2))
        w = backend.kernel("attention_softmax_fwd", scores)(scores, self.mask, self.causal, self.scale)
        self.q, self.k, self.v, self.w = q, k, v, w
        p = w
        self.keep = None
        if self.rate > 0:
            draw = backend.rng().random(w.shape)
            keep = (xp.asarray(draw) >= self.rate)
            self.keep = keep.astype(w.dtype) * w.dtype.type(1.0 / (1.0 - self.rate))
            p = w * self.keep
        out = xp.matmul(p, v)
        return (out, w) if self.with_weights else out

    def backward(self, g, gw=None):
        xp = array_module(g)
        # upstream gradients may be broadcast views (zero strides), which BLAS cannot take
        g = xp.ascontiguousarray(g)
        q, k, v, w = self.q, self.k, self.v, self.w
        p = w if self.keep is None else w * self.keep
        dq = dk = dv = None
        if self.needs_grad[2]:
            dv = unbroadcast(xp.matmul(p.swapaxes(-1, -2), g), v.shape)
        if self.needs_grad[0] or self.needs_grad[1]:
            dw = xp.matmul(g, v.swapaxes(-1, -2))
            if self.keep is not None:
                dw *= self.keep
            if gw is not None:
                dw += gw
            ds = backend.kernel("attention_softmax_bwd", w)(w, dw, self.scale)
            if self.needs_grad[0]:
                dq = unbroadcast(xp.matmul(ds, k), q.shape)
            if self.needs_grad[1]:
                dk = unbroadcast(xp.matmul(ds.swapaxes(-1, -2), q), k.shape)
        return dq, dk, dv


def _shape(t):
    """The shape of a Tensor or array."""
    return tuple(t.shape)


def _check_shapes(qs, ks, vs):
    """Clear errors for q/k/v shapes that cannot be attended together."""
    name = "scaled_dot_product_attention"
    for label, s in (("q", qs), ("k", ks), ("v", vs)):
        if len(s) < 2:
            raise ValueError(f"{name}: {label} must have shape (..., T, d), got {s}")
    if qs[-1] != ks[-1]:
        raise ValueError(f"{name}: q and k must share the last dimension, got q {qs} and k {ks}")
    if ks[-2] != vs[-2]:
        raise ValueError(f"{name}: k and v must have the same length (axis -2), got k {ks} and v {vs}")
    try:
        np.broadcast_shapes(qs[:-2], ks[:-2], vs[:-2])
    except ValueError:
        raise ValueError(f"{name}: leading (batch/head) dims of q {qs}, k {ks} and v {vs} do not "
                         "broadcast together") from None


def _as_mask(mask, like, target, name):
    """`mask` as a boolean array on `like`'s device, checked to broadcast to `target` (..., Tq, Tk)."""
    xp = array_module(like.data if hasattr(like, "data") else like)
    mask = xp.asarray(mask)
    if mask.dtype != np.bool_:
        mask = mask != 0
    try:
        full = np.broadcast_shapes(mask.shape, target)
    except ValueError:
        full = None
    if full != target:
        raise ValueError(f"{name}: mask of shape {tuple(mask.shape)} does not broadcast "
                         f"to the attention scores' shape (..., Tq, Tk) = {target}")
    return mask
