"""Gather, scatter and segment kernels for graph neural networks (CuPy twins of backend/cpu/scatter.py).

One thread per (output row, feature) walks that row's CSR segment in order, so results are
deterministic (no atomics) exactly as on the CPU.
"""
import cupy

_I64 = cupy.int64

_csr_sum = cupy.ElementwiseKernel(
    "raw T src, raw int64 order, raw int64 indptr, int64 F", "T out",
    """
    long long s = i / F, f = i % F;
    T acc = 0;
    for (long long j = indptr[s]; j < indptr[s + 1]; ++j) acc += src[order[j] * F + f];
    out = acc;
    """,
    "tinydl_csr_sum")

_csr_spmm = cupy.ElementwiseKernel(
    "raw T x, raw int64 indices, raw T values, raw int64 indptr, int64 F", "T out",
    """
    long long s = i / F, f = i % F;
    T acc = 0;
    for (long long j = indptr[s]; j < indptr[s + 1]; ++j) acc += values[j] * x[indices[j] * F + f];
    out = acc;
    """,
    "tinydl_csr_spmm")

_edge_dot = cupy.ElementwiseKernel(
    "raw T a, raw T b, raw int64 row, raw int64 col, int64 F", "T out",
    """
    long long r = row[i], c = col[i];
    T acc = 0;
    for (long long f = 0; f < F; ++f) acc += a[r * F + f] * b[c * F + f];
    out = acc;
    """,
    "tinydl_edge_dot")

_csr_max = cupy.ElementwiseKernel(
    "raw T src, raw int64 order, raw int64 indptr, int64 F", "T out, int64 arg",
    """
    long long s = i / F, f = i % F;
    long long lo = indptr[s], hi = indptr[s + 1];
    if (hi == lo) { out = 0; arg = -1; }
    else {
        long long best = order[lo];
        T m = src[best * F + f];
        for (long long j = lo + 1; j < hi; ++j) {
            long long e = order[j];
            T v = src[e * F + f];
            if (v > m) { m = v; best = e; }
        }
        out = m; arg = best;
    }
    """,
    "tinydl_csr_max")

def segment_csr(index, num_segments):
    """(order, indptr): the positions of `index` grouped by value, stable, and the segment offsets."""
    index = cupy.ascontiguousarray(index, dtype=_I64)
    order = cupy.argsort(index).astype(_I64)  # CuPy's sort is a stable radix sort
    bounds = cupy.arange(int(num_segments) + 1, dtype=_I64)
    indptr = cupy.searchsorted(index[order], bounds, side="left").astype(_I64)
    return order, indptr


def gather_rows(x, index):
    """x[index] for a 2-D x and 1-D int64 index."""
    return cupy.take(x, index, axis=0)


def csr_sum(src, order, indptr):
    """out[s] = sum of src[order[j]] for j in segment s (zeros for empty segments)."""
    src = cupy.ascontiguousarray(src)
    out = cupy.empty((indptr.shape[0] - 1, src.shape[1]), dtype=src.dtype)
    if out.size:
        _csr_sum(src, order, indptr, src.shape[1], out)
    return out


def csr_spmm(x, indices, values, indptr):
    """Sparse (CSR) times dense: out[s] = sum over j in row s of values[j] * x[indices[j]]."""
    x = cupy.ascontiguousarray(x)
    values = cupy.ascontiguousarray(values, dtype=x.dtype)
    out = cupy.empty((indptr.shape[0] - 1, x.shape[1]), dtype=x.dtype)
    if out.size:
        _csr_spmm(x, indices, values, indptr, x.shape[1], out)
    return out


def edge_dot(a, b, row, col):
    """out[e] = dot(a[row[e]], b[col[e]]): the gradient of an edge weight in a weighted sum."""
    a, b = cupy.ascontiguousarray(a), cupy.ascontiguousarray(b)
    out = cupy.empty(row.shape[0], dtype=a.dtype)
    if out.size:
        _edge_dot(a, b, row, col, a.shape[1], out)
    return out


def csr_max(src, order, indptr):
    """(out, arg): per segment and feature the max of src and the row it came from (first on ties)."""
    src = cupy.ascontiguousarray(src)
    n = indptr.shape[0] - 1
    out = cupy.empty((n, src.shape[1]), dtype=src.dtype)
    arg = cupy.empty((n, src.shape[1]), dtype=_I64)
    if out.size:
        _csr_max(src, order, indptr, src.shape[1], out, arg)
    return out, arg


def csr_max_backward(g, arg, num_rows):
    """The gradient of csr_max for src (num_rows rows): g[s, f] goes to row arg[s, f]."""
    out = cupy.zeros((num_rows, g.shape[1]), dtype=g.dtype)
    seg, feat = cupy.nonzero(arg >= 0)
    # each src row belongs to one segment, so no two (seg, feat) pairs write the same element
    out[arg[seg, feat], feat] = g[seg, feat]
    return out


def segment_softmax_forward(scores, order, indptr):
    """Softmax of scores (E, H) over the rows of each segment, per column."""
    scores = cupy.ascontiguousarray(scores)
    seg = _segment_ids(order, indptr)
    peak, _ = csr_max(scores, order, indptr)
    ex = cupy.exp(scores - peak[seg])
    return ex / csr_sum(ex, order, indptr)[seg]


def segment_softmax_backward(y, g, order, indptr):
    """The gradient of segment_softmax_forward: y * (g - sum over the segment of g * y)."""
    seg = _segment_ids(order, indptr)
    return y * (g - csr_sum(g * y, order, indptr)[seg])


def _segment_ids(order, indptr):
    """The segment of every row, recovered from the CSR view (the original index)."""
    n = order.shape[0]
    sorted_ids = cupy.searchsorted(indptr, cupy.arange(n, dtype=_I64), side="right") - 1
    seg = cupy.empty(n, dtype=_I64)
    seg[order] = sorted_ids
    return seg
