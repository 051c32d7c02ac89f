"""Fused masked softmax for attention (numba): scale, mask and normalise each score row in one kernel.

Scores arrive as (..., Tq, Tk). A position is attended when the boolean mask is True there and, with
`causal`, when its key index j <= its query index i (top-left aligned, as Keras's `use_causal_mask`
and PyTorch's `is_causal`). Masked positions get exactly zero weight. A row with no attended
position (fully masked) gets all-zero weights rather than NaN or a uniform row, so padded queries
contribute nothing and receive no gradient.
"""
import numba
import numpy as np

from tinydl.backend import threads

# below this many scores the thread pool costs more than it saves: numba's OpenMP workers spin after
# a parallel region and fight BLAS threads for the cores (measured: a transformer step 25 ms serial,
# 44 ms with parallel softmax at 262k scores on 2 cores)
_PARALLEL_MIN = threads.PARALLEL_MIN_HEAVY
_NO_MASK = np.ones((1, 1), dtype=np.bool_)
_BLOCK = 64


def attention_softmax_fwd(scores, mask, causal, scale):
    """softmax(scale * scores) over the last axis, masked positions exactly 0, fully masked rows all 0.

    `mask`: None or a boolean array broadcastable to `scores.shape` (True = attend). `causal`: also
    hide keys after the query (j > i). Returns a new array shaped and typed like `scores`.
    """
    s2, rows, tq, tk = _rows(scores)
    m2 = _mask_rows(mask, scores.shape, rows, tk)
    out = np.empty((rows, tk), dtype=s2.dtype)
    kernel = _fwd_parallel if s2.size >= _PARALLEL_MIN else _fwd_serial
    kernel(s2, m2, mask is not None, bool(causal), tq, s2.dtype.type(scale), out, s2.dtype == np.float32)
    return out.reshape(scores.shape)


def attention_softmax_bwd(weights, grad, scale):
    """Gradient w.r.t. the unscaled scores: scale * w * (g - sum(g * w)) along the last axis.

    `weights` are `attention_softmax_fwd`'s output and `grad` the gradient w.r.t. them; masked
    positions (weight 0) get gradient 0. Returns a new array shaped like `weights`.
    """
    w2, rows, _, tk = _rows(weights)
    g2 = np.ascontiguousarray(grad, dtype=w2.dtype).reshape(rows, tk)
    out = np.empty((rows, tk), dtype=w2.dtype)
    kernel = _bwd_parallel if w2.size >= _PARALLEL_MIN else _bwd_serial
    kernel(w2, g2, w2.dtype.type(scale), out)
    return out.reshape(weights.shape)


def _rows(a):
    """`a` as a C-contiguous float (rows, Tk) array, with rows, Tq and Tk."""
    if a.ndim < 2:
        raise ValueError(f"attention softmax needs scores of shape (..., Tq, Tk), got {a.shape}")
    if a.dtype not in (np.float32, np.float64):
        a = a.astype(np.float64)
    tq, tk = a.shape[-2], a.shape[-1]
    rows = a.size // tk if tk else 0
    return np.ascontiguousarray(a).reshape(rows, tk), rows, tq, tk


def _mask_rows(mask, shape, rows, tk):
    """The mask broadcast to the scores' shape, as a contiguous (rows, Tk) boolean array."""
    if mask is None:
        return _NO_MASK
    full = np.broadcast_to(np.asarray(mask, dtype=np.bool_), shape)
    return np.ascontiguousarray(full).reshape(rows, tk)


# fast-math without 'nnan'/'ninf': the -inf of masked positions must compare as -inf
_FLAGS = {"nsz", "arcp", "contract", "afn", "reassoc"}
_LOG2E = 1.4426950408889634
_LN2_HI = 0.693359375
_LN2_LO = -2.12194440e-4


@numba.njit(cache=True, fastmath=_FLAGS, inline="always")
def _fwd_row(s, mask, has_mask, causal, tq, scale, out, r, fast, shift):
    tk = s.shape[1]
    limit = min(tk, r % tq + 1) if causal else tk
    # typed constants: a float literal would promote float32 loops to float64
    ninf = -np.float32(np.inf)
    top = ninf
    if has_mask:
        for j in range(limit):
            v = s[r, j] * scale if mask[r, j] else ninf
            out[r, j] = v
            top = max(top, v)
    else:
        for j in range(limit):
            v = s[r, j] * scale
            out[r, j] = v
            top = max(top, v)
    for j in range(limit, tk):
        out[r, j] = ninf
    if top == ninf:
        for j in range(tk):
            out[r, j] = np.float32(0.0)
        return
    _exp_shifted(out, r, top, fast, shift)
    total = np.float32(0.0)
    for j in range(tk):
        total += out[r, j]
    inv = np.float32(1.0) / total
    for j in range(tk):
        out[r, j] *= inv


@numba.njit(cache=True, fastmath=_FLAGS, inline="always")
def _exp_shifted(out, r, top, fast, shift):
    """out[r] = exp(out[r] - top): with `fast` (float32) a vectorisable Cephes polynomial, else np.exp.

    Exact zeros below exp(-87) (masked positions hold -inf), a few ulps from expf elsewhere.
    """
    tk = out.shape[1]
    if fast:
        for j in range(tk):
            x0 = out[r, j] - top
            x = max(x0, np.float32(-87.0))
            n = np.floor(x * np.float32(_LOG2E) + np.float32(0.5))
            x = x - n * np.float32(_LN2_HI) - n * np.float32(_LN2_LO)
            p = np.float32(1.9875691500e-4) * x + np.float32(1.3981999507e-3)
            p = p * x + np.float32(8.3334519073e-3)
            p = p * x + np.float32(4.1665795894e-2)
            p = p * x + np.float32(1.6666665459e-1)
            p = p * x + np.float32(5.0000001201e-1)
            keep = x0 > np.float32(-87.0)
            out[r, j] = p * x * x + x + np.float32(1.0) if keep else np.float32(0.0)
            shift[j] = np.int32(n) << 23 if keep else np.int32(0)
        bits = out[r].view(np.int32)
        for j in range(tk):
            bits[j] += shift[j]
    else:
        for j in range(tk):
            out[r, j] = np.exp(out[r, j] - top)


@numba.njit(cache=True, fastmath=_FLAGS)
def _fwd_serial(s, mask, has_mask, causal, tq, scale, out, fast):
    shift = np.empty(s.shape[1], dtype=np.int32)
    for r in range(s.shape[0]):
        _fwd_row(s, mask, has_mask, causal, tq, scale, out, r, fast, shift)


@numba.njit(cache=True, fastmath=_FLAGS, parallel=True)
def _fwd_parallel(s, mask, has_mask, causal, tq, scale, out, fast):
    rows = s.shape[0]
    blocks = (rows + _BLOCK - 1) // _BLOCK
    for b in numba.prange(blocks):
        shift = np.empty(s.shape[1], dtype=np.int32)  # scratch per block of rows, not per row
        for r in range(b * _BLOCK, min(rows, (b + 1) * _BLOCK)):
            _fwd_row(s, mask, has_mask, causal, tq, scale, out, r, fast, shift)


@numba.njit(cache=True, fastmath=_FLAGS, inline="always")
def _bwd_row(w, g, scale, out, r):
    tk = w.shape[1]
    dot = 0.0
    for j in range(tk):
        dot += w[r, j] * g[r, j]
    d = g.dtype.type(dot)
    for j in range(tk):
        out[r, j] = scale * w[r, j] * (g[r, j] - d)


@numba.njit(cache=True, fastmath=_FLAGS)
def _bwd_serial(w, g, scale, out):
    for r in range(w.shape[0]):
        _bwd_row(w, g, scale, out, r)


@numba.njit(cache=True, fastmath=_FLAGS, parallel=True)
def _bwd_parallel(w, g, scale, out):
    for r in numba.prange(w.shape[0]):
        _bwd_row(w, g, scale, out, r)
