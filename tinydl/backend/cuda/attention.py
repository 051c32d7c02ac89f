"""Fused masked softmax for attention (CuPy twin of backend/cpu/attention.py, same names and signatures).

Masked positions get exactly zero weight; a fully masked row gets all-zero weights; causal hides
keys after the query (j > i, top-left aligned).
"""
import cupy
import numpy as np

# one thread per score row: rows are short (Tk up to a few thousand) and there are many of them
_FWD_SOURCE = r"""
extern "C" __global__ void tinydl_attention_softmax_fwd_{T}(
        const {T}* s, const bool* mask, const int has_mask, const int causal,
        const long long rows, const long long tq, const long long tk, const {T} scale, {T}* out) {
    long long r = (long long)blockDim.x * blockIdx.x + threadIdx.x;
    if (r >= rows) return;
    const {T}* srow = s + r * tk;
    const bool* mrow = mask + r * tk;
    {T}* orow = out + r * tk;
    long long limit = causal ? min(tk, r % tq + 1) : tk;
    bool found = false;
    {T} top = 0;
    for (long long j = 0; j < limit; ++j) {
        if (has_mask && !mrow[j]) continue;
        {T} v = srow[j] * scale;
        if (!found || v > top) { top = v; found = true; }
    }
    if (!found || isinf(top)) {
        for (long long j = 0; j < tk; ++j) orow[j] = 0;
        return;
    }
    double total = 0;
    for (long long j = 0; j < tk; ++j) {
        {T} e = 0;
        if (j < limit && (!has_mask || mrow[j])) e = exp(srow[j] * scale - top);
        orow[j] = e;
        total += e;
    }
    {T} inv = ({T})(1.0 / total);
    for (long long j = 0; j < limit; ++j) orow[j] *= inv;
}
"""

_BWD = cupy.ElementwiseKernel(
    "T w, T g, T dot, T scale", "T ds", "ds = scale * w * (g - dot)", "tinydl_attention_softmax_bwd")
_THREADS = 128
# built at import (CuPy compiles on first launch), so the NVRTC test finds every source
_FWD = {name: cupy.RawKernel(_FWD_SOURCE.replace("{T}", name), f"tinydl_attention_softmax_fwd_{name}")
        for name in ("float", "double")}


def attention_softmax_fwd(scores, mask, causal, scale):
    """softmax(scale * scores) over the last axis, masked positions exactly 0, fully masked rows all 0."""
    if scores.dtype not in (cupy.float32, cupy.float64):
        scores = scores.astype(cupy.float64)
    s = cupy.ascontiguousarray(scores)
    tq, tk = s.shape[-2], s.shape[-1]
    rows = s.size // tk if tk else 0
    out = cupy.empty_like(s)
    if rows == 0:
        return out
    if mask is None:
        m = cupy.ones((1,), dtype=cupy.bool_)
    else:
        m = cupy.ascontiguousarray(cupy.broadcast_to(cupy.asarray(mask, dtype=cupy.bool_), s.shape))
    blocks = (rows + _THREADS - 1) // _THREADS
    _fwd_kernel(s.dtype)((blocks,), (_THREADS,), (
        s, m, np.int32(mask is not None), np.int32(bool(causal)), np.int64(rows), np.int64(tq),
        np.int64(tk), s.dtype.type(scale), out))
    return out


def attention_softmax_bwd(weights, grad, scale):
    """Gradient w.r.t. the unscaled scores: scale * w * (g - sum(g * w)) along the last axis."""
    grad = grad.astype(weights.dtype, copy=False)
    dot = (weights * grad).sum(axis=-1, keepdims=True)
    return _BWD(weights, grad, dot, weights.dtype.type(scale))


def _fwd_kernel(dtype):
    """The forward RawKernel for float32 or float64."""
    return _FWD["float" if dtype == cupy.float32 else "double"]
