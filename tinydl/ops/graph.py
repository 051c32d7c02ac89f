"""Graph ops: gather rows, scatter sum / mean / max by index, segment softmax, weighted message passing.

Conventions follow PyTorch Geometric: `index` is a 1-D integer array with one entry per row of
`src` saying which output row (segment) it goes to; `edge_index` is (2, E), sources in row 0 and
targets in row 1. Every reduction is deterministic: rows are summed in their original order.
"""
import numpy as np

from tinydl.autograd import Function
from tinydl.backend import array_module, kernel, to_device, device_of
from tinydl.tensor import Tensor, as_tensor

__all__ = ["gather_rows", "scatter_add", "scatter_sum", "scatter_mean", "scatter_max", "segment_softmax",
           "propagate"]


def gather_rows(x, index):
    """x[index] along the first axis; rows gathered several times add their gradients."""
    x = _tensor(x)
    idx = check_index(index, x.data, num_segments=x.shape[0], op="gather_rows")
    return GatherRows(index=idx)(x)


def scatter_add(src, index, num_segments):
    """out[s] = sum of src[i] over the i with index[i] == s; shape (num_segments,) + src.shape[1:]."""
    src = _tensor(src)
    n = _num_segments(num_segments, "scatter_add")
    idx = check_index(index, src.data, length=src.shape[0], num_segments=n, op="scatter_add")
    return ScatterAdd(index=idx, num_segments=n)(src)


scatter_sum = scatter_add


def scatter_mean(src, index, num_segments):
    """The mean of the src rows of each segment (0 for empty segments)."""
    src = _tensor(src)
    n = _num_segments(num_segments, "scatter_mean")
    idx = check_index(index, src.data, length=src.shape[0], num_segments=n, op="scatter_mean")
    return ScatterMean(index=idx, num_segments=n)(src)


def scatter_max(src, index, num_segments):
    """The elementwise max of the src rows of each segment (0 for empty segments).

    The gradient goes to the row holding the max (the first one on ties), as torch_scatter's.
    """
    src = _tensor(src)
    n = _num_segments(num_segments, "scatter_max")
    idx = check_index(index, src.data, length=src.shape[0], num_segments=n, op="scatter_max")
    return ScatterMax(index=idx, num_segments=n)(src)


def segment_softmax(scores, index, num_segments):
    """Softmax of `scores` over the rows sharing a segment (per column): attention over incoming edges."""
    scores = _tensor(scores)
    n = _num_segments(num_segments, "segment_softmax")
    idx = check_index(index, scores.data, length=scores.shape[0], num_segments=n, op="segment_softmax")
    return SegmentSoftmax(index=idx, num_segments=n)(scores)


def propagate(x, edge_index, edge_weight=None, num_nodes=None):
    """Weighted sum of source features at each target: out[t] = sum over edges s->t of w * x[s].

    That is `A @ x` for the sparse matrix A[t, s] = w (duplicate edges add up), done in one pass
    without materialising per-edge messages. `edge_weight` (E,) may require a gradient. The output
    has `num_nodes` rows (default: as many as x).
    """
    x = _tensor(x)
    n_out = x.shape[0] if num_nodes is None else _num_segments(num_nodes, "propagate")
    src, dst = check_edge_index(edge_index, x.data, num_sources=x.shape[0], num_targets=n_out, op="propagate")
    if edge_weight is None:
        return Propagate(src=src, dst=dst, num_nodes=n_out)(x)
    w = _tensor(edge_weight)
    if w.ndim != 1 or w.shape[0] != src.shape[0]:
        raise ValueError(f"propagate: edge_weight must have shape ({src.shape[0]},) (one per edge), got {w.shape}")
    return Propagate(src=src, dst=dst, num_nodes=n_out)(x, w)


# -- validation -------------------------------------------------------------------------------

def check_index(index, like, length=None, num_segments=None, op="scatter", what="index"):
    """`index` as a 1-D int64 array on the device of `like`, with a clear error for bad input."""
    arr = _raw(index)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{op}: {what} must be an integer array, got dtype {arr.dtype}")
    if arr.ndim != 1:
        raise ValueError(f"{op}: {what} must be 1-D, got shape {arr.shape}")
    if length is not None and arr.shape[0] != length:
        raise ValueError(f"{op}: {what} has {arr.shape[0]} entries but the input has {length} rows")
    if num_segments is not None and arr.shape[0]:
        lo, hi = int(arr.min()), int(arr.max())
        if lo < 0 or hi >= num_segments:
            bad = lo if lo < 0 else hi
            raise IndexError(f"{op}: {what} holds {bad}, outside [0, {num_segments})")
    xp = array_module(like)
    return xp.ascontiguousarray(to_device(arr, device_of(like)), dtype=xp.int64)


def check_edge_index(edge_index, like, num_sources, num_targets=None, op="propagate"):
    """(sources, targets) int64 arrays from an edge_index of shape (2, E), checked against the node counts."""
    arr = _raw(edge_index)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{op}: edge_index must be an integer array, got dtype {arr.dtype}")
    if arr.ndim != 2 or arr.shape[0] != 2:
        raise ValueError(f"{op}: edge_index must have shape (2, num_edges) (sources, targets), got {arr.shape}")
    num_targets = num_sources if num_targets is None else num_targets
    src = check_index(arr[0], like, num_segments=num_sources, op=op, what="edge_index[0] (source node)")
    dst = check_index(arr[1], like, num_segments=num_targets, op=op, what="edge_index[1] (target node)")
    return src, dst


def _raw(a):
    """The array inside a Tensor, or `a` as an array."""
    if isinstance(a, Tensor):
        return a.data
    return a if hasattr(a, "dtype") and hasattr(a, "ndim") else np.asarray(a)


def _num_segments(n, op):
    """A non-negative Python int, or a clear error."""
    try:
        value = int(n)
    except (TypeError, ValueError):
        raise TypeError(f"{op}: num_segments must be an int, got {n!r}") from None
    if value < 0 or value != n:
        raise ValueError(f"{op}: num_segments must be a non-negative int, got {n!r}")
    return value


def _tensor(x):
    return as_tensor(x)


def _rows(a):
    """A 2-D (rows, features) contiguous view of `a`."""
    features = 1
    for n in a.shape[1:]:
        features *= n
    return array_module(a).ascontiguousarray(a).reshape(a.shape[0], features)


def _csr(index, num_segments):
    return kernel("segment_csr", index)(index, num_segments)


# -- functions ------------------------------------------------------------------------------------

class GatherRows(Function):
    def __init__(self, index):
        self.index = index

    def forward(self, x):
        self.shape = x.shape
        out = kernel("gather_rows", x)(_rows(x), self.index)
        return out.reshape((self.index.shape[0],) + x.shape[1:])

    def backward(self, g):
        order, indptr = _csr(self.index, self.shape[0])
        return kernel("csr_sum", g)(_rows(g), order, indptr).reshape(self.shape)


class ScatterAdd(Function):
    def __init__(self, index, num_segments):
        self.index, self.num_segments = index, num_segments

    def forward(self, src):
        order, indptr = _csr(self.index, self.num_segments)
        out = kernel("csr_sum", src)(_rows(src), order, indptr)
        return out.reshape((self.num_segments,) + src.shape[1:])

    def backward(self, g):
        return kernel("gather_rows", g)(_rows(g), self.index).reshape((self.index.shape[0],) + g.shape[1:])


class ScatterMean(Function):
    def __init__(self, index, num_segments):
        self.index, self.num_segments = index, num_segments

    def forward(self, src):
        xp = array_module(src)
        order, indptr = _csr(self.index, self.num_segments)
        self.src_shape = src.shape
        self.count = xp.maximum(xp.diff(indptr), 1).astype(src.dtype)[:, None]
        out = kernel("csr_sum", src)(_rows(src), order, indptr) / self.count
        return out.reshape((self.num_segments,) + src.shape[1:])

    def backward(self, g):
        g = _rows(g) / self.count
        return kernel("gather_rows", g)(g, self.index).reshape(self.src_shape)


class ScatterMax(Function):
    def __init__(self, index, num_segments):
        self.index, self.num_segments = index, num_segments

    def forward(self, src):
        order, indptr = _csr(self.index, self.num_segments)
        self.src_shape = src.shape
        out, self.arg = kernel("csr_max", src)(_rows(src), order, indptr)
        return out.reshape((self.num_segments,) + src.shape[1:])

    def backward(self, g):
        return kernel("csr_max_backward", g)(_rows(g), self.arg, self.src_shape[0]).reshape(self.src_shape)


class SegmentSoftmax(Function):
    def __init__(self, index, num_segments):
        self.index, self.num_segments = index, num_segments

    def forward(self, scores):
        self.order, self.indptr = _csr(self.index, self.num_segments)
        self.out = kernel("segment_softmax_forward", scores)(_rows(scores), self.order, self.indptr)
        return self.out.reshape(scores.shape)

    def backward(self, g):
        grad = kernel("segment_softmax_backward", g)(self.out, _rows(g), self.order, self.indptr)
        return grad.reshape(g.shape)


class Propagate(Function):
    def __init__(self, src, dst, num_nodes):
        self.src, self.dst, self.num_nodes = src, dst, num_nodes

    def forward(self, x, w=None):
        xp = array_module(x)
        self.x, self.w = x, w
        order, indptr = _csr(self.dst, self.num_nodes)
        values = xp.ones(order.shape[0], dtype=x.dtype) if w is None else w[order]
        out = kernel("csr_spmm", x)(_rows(x), self.src[order], values, indptr)
        return out.reshape((self.num_nodes,) + x.shape[1:])

    def backward(self, g):
        xp = array_module(g)
        g2 = _rows(g)
        dx = dw = None
        if self.needs_grad[0]:
            order, indptr = _csr(self.src, self.x.shape[0])
            values = xp.ones(order.shape[0], dtype=g.dtype) if self.w is None else self.w[order]
            dx = kernel("csr_spmm", g)(g2, self.dst[order], values, indptr).reshape(self.x.shape)
        if self.w is not None and self.needs_grad[1]:
            dw = kernel("edge_dot", g)(g2, _rows(self.x), self.dst, self.src)
        return (dx, dw) if self.w is not None else dx
