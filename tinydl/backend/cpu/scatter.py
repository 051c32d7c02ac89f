"""Gather, scatter and segment kernels for graph neural networks (numba).

Every reduction runs over output rows through a CSR view of the index (`segment_csr`): the edges of
segment `s` are `order[indptr[s]:indptr[s+1]]`, in their original order, so sums are deterministic
and parallel loops write disjoint rows (never `y[idx[i]] +=` inside prange). Arrays are 2-D
(rows, features), C-contiguous, float32 or float64; indices are int64.

Threads: the `prange` versions run only above PARALLEL_MIN elements. Measured on 2 shared cores, a
GCN layer step (N=10k, E=100k, F=64: two spmm kernels between three OpenBLAS GEMMs) took 35 ms
with serial kernels and 80-145 ms with parallel ones, because numba's OpenMP pool and BLAS's still
spinning threads oversubscribe the cores (the same effect backend/cpu/conv.py measured). So, as
there, the threshold is high enough that layer-sized graphs stay serial.
"""
import numba
import numpy as np

from tinydl.backend import threads

PARALLEL_MIN = threads.PARALLEL_MIN


def segment_csr(index, num_segments):
    """(order, indptr): the positions of `index` grouped by value, stable, and the segment offsets."""
    index = np.ascontiguousarray(index, dtype=np.int64)
    num_segments = int(num_segments)
    if index.ndim != 1 or num_segments < 0:
        raise ValueError(f"segment_csr: expected a 1-D index and num_segments >= 0, got shape {index.shape} "
                         f"and {num_segments}")
    if index.size and (index.min() < 0 or index.max() >= num_segments):  # the jitted loop does not check
        bad = int(index.min()) if index.min() < 0 else int(index.max())
        raise IndexError(f"segment_csr: index holds {bad}, outside [0, {num_segments})")
    return _counting_sort(index, num_segments)


def gather_rows(x, index):
    """x[index] for a 2-D x and 1-D int64 index."""
    x = np.ascontiguousarray(x)
    out = np.empty((index.shape[0], x.shape[1]), dtype=x.dtype)
    if out.size >= PARALLEL_MIN:
        _gather_rows_par(x, np.ascontiguousarray(index, dtype=np.int64), out)
    else:
        np.take(x, index, axis=0, out=out)
    return out


def csr_sum(src, order, indptr):
    """out[s] = sum of src[order[j]] for j in segment s (zeros for empty segments)."""
    src = np.ascontiguousarray(src)
    out = np.zeros((indptr.shape[0] - 1, src.shape[1]), dtype=src.dtype)
    if src.size >= PARALLEL_MIN:
        _csr_sum_par(src, order, indptr, out)
    else:
        _csr_sum_ser(src, order, indptr, out)
    return out


def csr_spmm(x, indices, values, indptr):
    """Sparse (CSR) times dense: out[s] = sum over j in row s of values[j] * x[indices[j]]."""
    x = np.ascontiguousarray(x)
    values = np.ascontiguousarray(values, dtype=x.dtype)
    out = np.zeros((indptr.shape[0] - 1, x.shape[1]), dtype=x.dtype)
    if indices.shape[0] * x.shape[1] >= PARALLEL_MIN:
        _csr_spmm_par(x, indices, values, indptr, out)
    else:
        _csr_spmm_ser(x, indices, values, indptr, out)
    return out


def edge_dot(a, b, row, col):
    """out[e] = dot(a[row[e]], b[col[e]]): the gradient of an edge weight in a weighted sum."""
    a, b = np.ascontiguousarray(a), np.ascontiguousarray(b)
    out = np.empty(row.shape[0], dtype=a.dtype)
    if row.shape[0] * a.shape[1] >= PARALLEL_MIN:
        _edge_dot_par(a, b, row, col, out)
    else:
        _edge_dot_ser(a, b, row, col, out)
    return out


def csr_max(src, order, indptr):
    """(out, arg): per segment and feature the max of src and the row it came from (first on ties).

    Empty segments give 0 and arg -1.
    """
    src = np.ascontiguousarray(src)
    n = indptr.shape[0] - 1
    out = np.zeros((n, src.shape[1]), dtype=src.dtype)
    arg = np.full((n, src.shape[1]), -1, dtype=np.int64)
    if src.size >= PARALLEL_MIN:
        _csr_max_par(src, order, indptr, out, arg)
    else:
        _csr_max_ser(src, order, indptr, out, arg)
    return out, arg


def csr_max_backward(g, arg, num_rows):
    """The gradient of csr_max for src (num_rows rows): g[s, f] goes to row arg[s, f]."""
    g = np.ascontiguousarray(g)
    out = np.zeros((num_rows, g.shape[1]), dtype=g.dtype)
    # each src row belongs to one segment, so the rows written by different segments never collide
    if g.size >= PARALLEL_MIN:
        _csr_max_bwd_par(g, arg, out)
    else:
        _csr_max_bwd_ser(g, arg, out)
    return out


def segment_softmax_forward(scores, order, indptr):
    """Softmax of scores (E, H) over the rows of each segment, per column."""
    scores = np.ascontiguousarray(scores)
    out = np.empty_like(scores)
    if scores.size >= PARALLEL_MIN:
        _seg_softmax_par(scores, order, indptr, out)
    else:
        _seg_softmax_ser(scores, order, indptr, out)
    return out


def segment_softmax_backward(y, g, order, indptr):
    """The gradient of segment_softmax_forward: y * (g - sum over the segment of g * y)."""
    y, g = np.ascontiguousarray(y), np.ascontiguousarray(g)
    out = np.empty_like(y)
    if y.size >= PARALLEL_MIN:
        _seg_softmax_bwd_par(y, g, order, indptr, out)
    else:
        _seg_softmax_bwd_ser(y, g, order, indptr, out)
    return out


# -- numba bodies: one row of output each; serial and parallel drivers share them ------------------

@numba.njit(cache=True)
def _counting_sort(index, num_segments):
    indptr = np.zeros(num_segments + 1, dtype=np.int64)
    for e in range(index.shape[0]):
        indptr[index[e] + 1] += 1
    for s in range(num_segments):
        indptr[s + 1] += indptr[s]
    fill = indptr[:-1].copy()
    order = np.empty(index.shape[0], dtype=np.int64)
    for e in range(index.shape[0]):
        s = index[e]
        order[fill[s]] = e
        fill[s] += 1
    return order, indptr


@numba.njit(cache=True, parallel=True)
def _gather_rows_par(x, index, out):
    for e in numba.prange(index.shape[0]):
        out[e, :] = x[index[e], :]


@numba.njit(cache=True, inline="always")
def _csr_sum_row(src, order, indptr, out, s):
    for j in range(indptr[s], indptr[s + 1]):
        e = order[j]
        for f in range(src.shape[1]):
            out[s, f] += src[e, f]


@numba.njit(cache=True)
def _csr_sum_ser(src, order, indptr, out):
    for s in range(out.shape[0]):
        _csr_sum_row(src, order, indptr, out, s)


@numba.njit(cache=True, parallel=True)
def _csr_sum_par(src, order, indptr, out):
    for s in numba.prange(out.shape[0]):
        _csr_sum_row(src, order, indptr, out, s)


@numba.njit(cache=True, inline="always")
def _csr_spmm_row(x, indices, values, indptr, out, s):
    for j in range(indptr[s], indptr[s + 1]):
        c = indices[j]
        v = values[j]
        for f in range(x.shape[1]):
            out[s, f] += v * x[c, f]


@numba.njit(cache=True)
def _csr_spmm_ser(x, indices, values, indptr, out):
    for s in range(out.shape[0]):
        _csr_spmm_row(x, indices, values, indptr, out, s)


@numba.njit(cache=True, parallel=True)
def _csr_spmm_par(x, indices, values, indptr, out):
    for s in numba.prange(out.shape[0]):
        _csr_spmm_row(x, indices, values, indptr, out, s)


@numba.njit(cache=True, inline="always")
def _edge_dot_one(a, b, row, col, out, e):
    acc = a[0, 0] * 0
    r, c = row[e], col[e]
    for f in range(a.shape[1]):
        acc += a[r, f] * b[c, f]
    out[e] = acc


@numba.njit(cache=True)
def _edge_dot_ser(a, b, row, col, out):
    for e in range(out.shape[0]):
        _edge_dot_one(a, b, row, col, out, e)


@numba.njit(cache=True, parallel=True)
def _edge_dot_par(a, b, row, col, out):
    for e in numba.prange(out.shape[0]):
        _edge_dot_one(a, b, row, col, out, e)


@numba.njit(cache=True, inline="always")
def _csr_max_row(src, order, indptr, out, arg, s):
    lo, hi = indptr[s], indptr[s + 1]
    if hi == lo:
        return
    first = order[lo]
    for f in range(src.shape[1]):
        out[s, f] = src[first, f]
        arg[s, f] = first
    for j in range(lo + 1, hi):
        e = order[j]
        for f in range(src.shape[1]):
            if src[e, f] > out[s, f]:
                out[s, f] = src[e, f]
                arg[s, f] = e


@numba.njit(cache=True)
def _csr_max_ser(src, order, indptr, out, arg):
    for s in range(out.shape[0]):
        _csr_max_row(src, order, indptr, out, arg, s)


@numba.njit(cache=True, parallel=True)
def _csr_max_par(src, order, indptr, out, arg):
    for s in numba.prange(out.shape[0]):
        _csr_max_row(src, order, indptr, out, arg, s)


@numba.njit(cache=True, inline="always")
def _csr_max_bwd_row(g, arg, out, s):
    for f in range(g.shape[1]):
        e = arg[s, f]
        if e >= 0:
            out[e, f] = g[s, f]


@numba.njit(cache=True)
def _csr_max_bwd_ser(g, arg, out):
    for s in range(g.shape[0]):
        _csr_max_bwd_row(g, arg, out, s)


@numba.njit(cache=True, parallel=True)
def _csr_max_bwd_par(g, arg, out):
    for s in numba.prange(g.shape[0]):
        _csr_max_bwd_row(g, arg, out, s)


@numba.njit(cache=True, inline="always")
def _seg_softmax_row(scores, order, indptr, out, s):
    lo, hi = indptr[s], indptr[s + 1]
    if hi == lo:
        return
    for h in range(scores.shape[1]):
        m = scores[order[lo], h]
        for j in range(lo + 1, hi):
            v = scores[order[j], h]
            if v > m:
                m = v
        total = m * 0
        for j in range(lo, hi):
            e = order[j]
            ex = np.exp(scores[e, h] - m)
            out[e, h] = ex
            total += ex
        for j in range(lo, hi):
            out[order[j], h] /= total


@numba.njit(cache=True)
def _seg_softmax_ser(scores, order, indptr, out):
    for s in range(indptr.shape[0] - 1):
        _seg_softmax_row(scores, order, indptr, out, s)


@numba.njit(cache=True, parallel=True)
def _seg_softmax_par(scores, order, indptr, out):
    for s in numba.prange(indptr.shape[0] - 1):
        _seg_softmax_row(scores, order, indptr, out, s)


@numba.njit(cache=True, inline="always")
def _seg_softmax_bwd_row(y, g, order, indptr, out, s):
    lo, hi = indptr[s], indptr[s + 1]
    if hi == lo:
        return
    for h in range(y.shape[1]):
        dot = y[0, 0] * 0
        for j in range(lo, hi):
            e = order[j]
            dot += g[e, h] * y[e, h]
        for j in range(lo, hi):
            e = order[j]
            out[e, h] = y[e, h] * (g[e, h] - dot)


@numba.njit(cache=True)
def _seg_softmax_bwd_ser(y, g, order, indptr, out):
    for s in range(indptr.shape[0] - 1):
        _seg_softmax_bwd_row(y, g, order, indptr, out, s)


@numba.njit(cache=True, parallel=True)
def _seg_softmax_bwd_par(y, g, order, indptr, out):
    for s in numba.prange(indptr.shape[0] - 1):
        _seg_softmax_bwd_row(y, g, order, indptr, out, s)
