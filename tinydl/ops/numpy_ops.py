"""keras.ops's NumPy-like functions: more reductions, shape ops, sorting, indexing updates, array creation.

Differentiable ones compose existing ops (their gradients come for free); the rest call NumPy/CuPy
by name and return Tensors without a gradient (indices, counts, booleans, new arrays).
"""
import builtins

import numpy as np

from tinydl import backend
from tinydl.autograd import Function
from tinydl.backend import add_at, array_module
from tinydl.ops._util import data, norm_axes
from tinydl.ops.convolution import conv
from tinydl.ops.elementwise import NumpyCall, Unary, isnan
from tinydl.ops.linalg import matmul
from tinydl.ops.math import cast, divide, maximum, multiply, sqrt, square, subtract, where
from tinydl.ops.reduce import cumsum, max as _max, mean, min as _min, prod, sum as _sum
from tinydl.ops.shape import (
    concatenate, flip, getitem, moveaxis, pad, reshape, split, squeeze, stack, take, transpose,
)
from tinydl.tensor import Tensor, as_tensor

__all__ = [
    # reductions
    "all", "any", "amax", "amin", "average", "median", "quantile", "percentile", "count_nonzero", "ptp",
    "cumprod", "diff", "trapezoid", "trace", "nansum", "nanmean", "nanmax", "nanmin", "nanprod", "nanvar",
    "nanstd", "nancumsum", "nancumprod", "nanargmax", "nanargmin", "nanmedian", "nanquantile", "nanpercentile",
    # shapes and indexing
    "ravel", "swapaxes", "hstack", "vstack", "dstack", "hsplit", "vsplit", "dsplit", "array_split", "unstack",
    "roll", "rot90", "fliplr", "flipud", "tril", "triu", "diag", "diagonal", "diagflat", "append",
    "take_along_axis", "get_item", "slice", "slice_update", "scatter", "scatter_update", "select", "sort",
    "argsort", "argpartition", "top_k", "in_top_k", "vander", "meshgrid", "unravel_index", "nonzero", "unique",
    "searchsorted", "digitize", "bincount", "histogram", "isin", "copy", "nan_to_num", "correlate",
    "corrcoef", "cdist", "real", "imag", "conj", "conjugate", "angle", "polar", "view", "view_as_complex",
    "view_as_real",
    # creation
    "arange", "array", "eye", "identity", "empty", "empty_like", "full", "full_like", "zeros", "zeros_like",
    "ones", "ones_like", "linspace", "logspace", "geomspace", "tri", "bartlett", "blackman", "hamming",
    "hanning", "kaiser",
]


# -- reductions -----------------------------------------------------------------------------------------
def all(x, axis=None, keepdims=False):  # noqa: A001  (Keras's and NumPy's name)
    """True where every element along `axis` is nonzero (no gradient)."""
    return NumpyCall("all", axis=_axis(axis), keepdims=keepdims)(x)


def any(x, axis=None, keepdims=False):  # noqa: A001
    """True where some element along `axis` is nonzero (no gradient)."""
    return NumpyCall("any", axis=_axis(axis), keepdims=keepdims)(x)


def amax(x, axis=None, keepdims=False):
    """Maximum along `axis` (Keras's name for max)."""
    return _max(x, axis=axis, keepdims=keepdims)


def amin(x, axis=None, keepdims=False):
    """Minimum along `axis` (Keras's name for min)."""
    return _min(x, axis=axis, keepdims=keepdims)


def average(x, axis=None, weights=None):
    """Weighted mean along `axis`; 1-D weights run along `axis`, else they are shaped like x."""
    x = as_tensor(x)
    if weights is None:
        return mean(x, axis=axis)
    w = as_tensor(weights)
    if w.ndim == 1 and x.ndim > 1:
        if axis is None:
            raise ValueError("average: 1-D weights need an axis when x has more than one dimension")
        shape = [1] * x.ndim
        shape[axis] = -1
        w = reshape(w, shape)
    return divide(_sum(multiply(x, w), axis=axis), _sum(w * np.ones(x.shape, dtype=w.dtype), axis=axis))


def quantile(x, q, axis=None, method="linear", keepdims=False):
    """The q-th quantiles (q in [0, 1], scalar or 1-D) along `axis`, interpolated as NumPy's `method`."""
    if method not in ("linear", "lower", "higher", "midpoint", "nearest"):
        raise ValueError(f"quantile: method must be one of linear, lower, higher, midpoint, nearest; "
                         f"received {method!r}")
    x = as_tensor(x)
    qs = np.asarray(data(q), dtype=np.float64)
    if (qs < 0).any() or (qs > 1).any():
        raise ValueError(f"quantile: q must be in [0, 1], received {qs}")
    flat, out_shape = _reduce_to_last(x, axis, keepdims)
    ordered = sort(flat, axis=-1)
    n = flat.shape[-1]
    pos = qs.reshape(-1) * (n - 1)
    lo, hi = np.floor(pos).astype(np.int64), np.ceil(pos).astype(np.int64)
    frac = pos - lo
    if method == "lower":
        hi, frac = lo, frac * 0
    elif method == "higher":
        lo, frac = hi, frac * 0
    elif method == "midpoint":
        frac = np.where(hi > lo, 0.5, 0.0)
    elif method == "nearest":
        near = np.where(frac > 0.5, hi, np.where(frac < 0.5, lo, np.where(lo % 2 == 0, lo, hi)))
        lo = hi = near
        frac = frac * 0
    a, b = take(ordered, lo, axis=-1), take(ordered, hi, axis=-1)
    vals = a + (b - a) * frac.astype(x.dtype)  # (..., len(q))
    vals = moveaxis(vals, -1, 0)
    return reshape(vals, (qs.shape if qs.ndim else ()) + out_shape)


def percentile(x, q, axis=None, method="linear", keepdims=False):
    """quantile with q in percent."""
    return quantile(x, np.asarray(data(q), dtype=np.float64) / 100, axis=axis, method=method, keepdims=keepdims)


def median(x, axis=None, keepdims=False):
    """The middle value (mean of the two middle ones) along `axis`."""
    return quantile(x, 0.5, axis=axis, keepdims=keepdims)


def count_nonzero(x, axis=None):
    """Number of nonzero elements along `axis` (no gradient)."""
    return NumpyCall("count_nonzero", axis=_axis(axis))(x)


def ptp(x, axis=None, keepdims=False):
    """max - min along `axis`."""
    return _max(x, axis=axis, keepdims=keepdims) - _min(x, axis=axis, keepdims=keepdims)


class CumProd(Function):
    def __init__(self, axis):
        self.axis = axis

    def forward(self, x):
        self.x = x
        return array_module(x).cumprod(x, axis=self.axis)

    def backward(self, g):
        # d y_j / d x_i = prod_{k < i} x_k * prod_{i < k <= j} x_k: exact at zeros, O(n^2) along the axis
        xp = array_module(g)
        x, gm = xp.moveaxis(self.x, self.axis, -1), xp.moveaxis(g, self.axis, -1)
        before = xp.cumprod(xp.concatenate([xp.ones_like(x[..., :1]), x[..., :-1]], axis=-1), axis=-1)
        grad = xp.empty_like(x)
        for i in range(x.shape[-1]):
            after = xp.cumprod(xp.concatenate([xp.ones_like(x[..., :1]), x[..., i + 1:]], axis=-1), axis=-1)
            grad[..., i] = before[..., i] * (gm[..., i:] * after).sum(axis=-1)
        return xp.moveaxis(grad, -1, self.axis)


def cumprod(x, axis=None, dtype=None):
    """Cumulative product along `axis` (of the flattened input when None)."""
    x = as_tensor(x)
    if dtype is not None:
        x = cast(x, backend.as_dtype(dtype))
    if axis is None:
        x, axis = reshape(x, (-1,)), 0
    return CumProd(axis=axis % builtins.max(x.ndim, 1))(x)


def diff(a, n=1, axis=-1):
    """The n-th discrete difference along `axis`."""
    a = as_tensor(a)
    for _ in range(n):
        m = a.shape[axis]
        a = take(a, np.arange(1, m), axis=axis) - take(a, np.arange(0, m - 1), axis=axis)
    return a


def trapezoid(y, x=None, dx=1.0, axis=-1):
    """Integral of y along `axis` by the trapezoidal rule, at sample points x or spacing dx."""
    y = as_tensor(y)
    m = y.shape[axis]
    pairs = take(y, np.arange(1, m), axis=axis) + take(y, np.arange(0, m - 1), axis=axis)
    widths = dx if x is None else diff(as_tensor(x), axis=axis if as_tensor(x).ndim > 1 else -1)
    if x is not None and as_tensor(x).ndim == 1 and y.ndim > 1:
        shape = [1] * y.ndim
        shape[axis] = -1
        widths = reshape(widths, shape)
    return _sum(pairs * widths, axis=axis) / 2


def trace(x, offset=0, axis1=0, axis2=1):
    """Sum of the `offset` diagonal over axes axis1, axis2."""
    return _sum(diagonal(x, offset, axis1, axis2), axis=-1)


def _nan_filled(x, fill):
    x = as_tensor(x)
    return where(isnan(x), fill, x)


def nansum(x, axis=None, keepdims=False):
    """Sum treating NaN as 0."""
    return _sum(_nan_filled(x, 0.0), axis=axis, keepdims=keepdims)


def nanmean(x, axis=None, keepdims=False):
    """Mean of the non-NaN elements."""
    x = as_tensor(x)
    count = _sum(Tensor((~isnan(x).data).astype(x.dtype)), axis=axis, keepdims=keepdims)
    return nansum(x, axis=axis, keepdims=keepdims) / count


def nanmax(x, axis=None, keepdims=False):
    """Maximum ignoring NaN (NaN where every element is NaN)."""
    return _nan_extreme(_max, x, -np.inf, axis, keepdims)


def nanmin(x, axis=None, keepdims=False):
    """Minimum ignoring NaN (NaN where every element is NaN)."""
    return _nan_extreme(_min, x, np.inf, axis, keepdims)


def _nan_extreme(reduce, x, fill, axis, keepdims):
    x = as_tensor(x)
    out = reduce(_nan_filled(x, fill), axis=axis, keepdims=keepdims)
    all_nan = np.all(np.asarray(_host(isnan(x).data)), axis=_axis(axis), keepdims=keepdims)
    return where(Tensor(all_nan), np.nan, out)


def nanprod(x, axis=None, keepdims=False):
    """Product treating NaN as 1."""
    return prod(_nan_filled(x, 1.0), axis=axis, keepdims=keepdims)


def nanvar(x, axis=None, keepdims=False):
    """Variance of the non-NaN elements."""
    x = as_tensor(x)
    m = nanmean(x, axis=axis, keepdims=True)
    out = nanmean(square(x - m), axis=axis, keepdims=True)
    return out if keepdims else _squeeze_axes(out, axis)


def nanstd(x, axis=None, keepdims=False):
    """Standard deviation of the non-NaN elements."""
    return sqrt(nanvar(x, axis=axis, keepdims=keepdims))


def nancumsum(x, axis=None, dtype=None):
    """Cumulative sum treating NaN as 0."""
    x = _nan_filled(x, 0.0)
    return cumsum(x if dtype is None else cast(x, backend.as_dtype(dtype)), axis=axis)


def nancumprod(x, axis=None, dtype=None):
    """Cumulative product treating NaN as 1."""
    return cumprod(_nan_filled(x, 1.0), axis=axis, dtype=dtype)


def nanargmax(x, axis=None, keepdims=False):
    """Index of the maximum ignoring NaN (no gradient)."""
    return NumpyCall("nanargmax", axis=axis, keepdims=keepdims)(x)


def nanargmin(x, axis=None, keepdims=False):
    """Index of the minimum ignoring NaN (no gradient)."""
    return NumpyCall("nanargmin", axis=axis, keepdims=keepdims)(x)


def nanmedian(x, axis=None, keepdims=False):
    """Median ignoring NaN (no gradient)."""
    return NumpyCall("nanmedian", axis=_axis(axis), keepdims=keepdims)(x)


def nanquantile(x, q, axis=None, method="linear", keepdims=False):
    """quantile ignoring NaN (no gradient)."""
    return Tensor(np.nanquantile(_host(as_tensor(x).data), data(q), axis=_axis(axis), method=method,
                                 keepdims=keepdims))


def nanpercentile(x, q, axis=None, method="linear", keepdims=False):
    """percentile ignoring NaN (no gradient)."""
    return nanquantile(x, np.asarray(data(q)) / 100, axis=axis, method=method, keepdims=keepdims)


# -- shapes and indexing ------------------------------------------------------------------------------------
def ravel(x):
    """x flattened to one axis."""
    return reshape(x, (-1,))


def swapaxes(x, axis1, axis2):
    """x with two axes exchanged."""
    axes = list(range(x.ndim))
    axes[axis1], axes[axis2] = axes[axis2], axes[axis1]
    return transpose(x, tuple(axes))


def hstack(xs):
    """Concatenate along axis 1 (axis 0 for 1-D inputs)."""
    xs = [as_tensor(x) for x in xs]
    return concatenate(xs, axis=0 if xs[0].ndim == 1 else 1)


def vstack(xs):
    """Concatenate along axis 0, 1-D inputs as rows."""
    return concatenate([_atleast(as_tensor(x), 2) for x in xs], axis=0)


def dstack(xs):
    """Concatenate along axis 2, inputs made at least 3-D as NumPy's atleast_3d."""
    return concatenate([_atleast(as_tensor(x), 3) for x in xs], axis=2)


def _atleast(x, n):
    """NumPy's atleast_2d / atleast_3d."""
    if x.ndim >= n:
        return x
    if x.ndim == 0:
        return reshape(x, (1,) * n)
    if x.ndim == 1:
        return reshape(x, (1, -1) if n == 2 else (1, -1, 1))
    return reshape(x, tuple(x.shape) + (1,))


def hsplit(x, indices_or_sections):
    """split along axis 1 (axis 0 for 1-D)."""
    return split(x, indices_or_sections, axis=0 if as_tensor(x).ndim == 1 else 1)


def vsplit(x, indices_or_sections):
    """split along axis 0."""
    return split(x, indices_or_sections, axis=0)


def dsplit(x, indices_or_sections):
    """split along axis 2."""
    return split(x, indices_or_sections, axis=2)


def array_split(x, indices_or_sections, axis=0):
    """split that allows unequal parts: the first n % k parts get one extra element."""
    if isinstance(indices_or_sections, int):
        n, k = as_tensor(x).shape[axis], indices_or_sections
        if k <= 0:
            raise ValueError(f"array_split: indices_or_sections must be positive, received {k}")
        sizes = [n // k + 1] * (n % k) + [n // k] * (k - n % k)
        indices_or_sections = list(np.cumsum(sizes)[:-1])
    return split(x, indices_or_sections, axis=axis)


def unstack(x, num=None, axis=0):
    """The slices of x along `axis`, as a list."""
    x = as_tensor(x)
    n = x.shape[axis]
    if num is not None and num != n:
        raise ValueError(f"unstack: num={num} does not match axis {axis} of shape {tuple(x.shape)}")
    lead = (builtins.slice(None),) * (axis % x.ndim)
    return [getitem(x, lead + (i,)) for i in range(n)]


def roll(x, shift, axis=None):
    """x with elements shifted by `shift` along `axis` (flattened when None), wrapping around."""
    x = as_tensor(x)
    if axis is None:
        return reshape(roll(reshape(x, (-1,)), shift, 0), x.shape)
    shifts = (shift,) if isinstance(shift, int) else tuple(shift)
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    shifts = shifts * len(axes) if len(shifts) == 1 else shifts
    for s, a in zip(shifts, axes):
        n = x.shape[a]
        x = take(x, (np.arange(n) - s) % n, axis=a)
    return x


def rot90(array, k=1, axes=(0, 1)):
    """x rotated by 90 degrees k times in the plane of `axes`, as NumPy."""
    x = as_tensor(array)
    a0, a1 = axes
    k %= 4
    if k == 0:
        return copy(x)
    if k == 2:
        return flip(flip(x, axis=a0), axis=a1)
    if k == 1:
        return swapaxes(flip(x, axis=a1), a0, a1)
    return flip(swapaxes(x, a0, a1), axis=a1)


def fliplr(x):
    """x reversed along axis 1."""
    return flip(x, axis=1)


def flipud(x):
    """x reversed along axis 0."""
    return flip(x, axis=0)


def tril(x, k=0):
    """x with elements above the k-th diagonal (of the last two axes) set to 0."""
    return _triangle(x, k, lower=True)


def triu(x, k=0):
    """x with elements below the k-th diagonal (of the last two axes) set to 0."""
    return _triangle(x, k, lower=False)


def _triangle(x, k, lower):
    x = as_tensor(x)
    xp = array_module(x.data)
    rows, cols = x.shape[-2:]
    keep = xp.tri(rows, cols, k, dtype=bool) if lower else ~xp.tri(rows, cols, k - 1, dtype=bool)
    return where(Tensor(keep), x, 0.0 if x.dtype.kind == "f" else 0)


def diagonal(x, offset=0, axis1=0, axis2=1):
    """The `offset` diagonal over axis1, axis2, as the last axis."""
    x = as_tensor(x)
    a1, a2 = axis1 % x.ndim, axis2 % x.ndim
    x = transpose(x, tuple(a for a in range(x.ndim) if a not in (a1, a2)) + (a1, a2))
    rows, cols = x.shape[-2:]
    n = builtins.max(0, builtins.min(rows, cols - offset) if offset >= 0 else builtins.min(rows + offset, cols))
    i = np.arange(n) + builtins.max(0, -offset)
    return getitem(x, (Ellipsis, i, i + offset))


def diag(x, k=0):
    """A 1-D input as the k-th diagonal of a square matrix; a 2-D input's k-th diagonal."""
    x = as_tensor(x)
    if x.ndim == 2:
        return diagonal(x, k)
    if x.ndim != 1:
        raise ValueError(f"diag: expected a 1-D or 2-D input, received shape {tuple(x.shape)}")
    square_ = multiply(reshape(x, (1, -1)), np.eye(x.shape[0], dtype=x.dtype))
    return pad(square_, ((0, k), (k, 0)) if k >= 0 else ((-k, 0), (0, -k)))


def diagflat(x, k=0):
    """The flattened input as the k-th diagonal of a square matrix."""
    return diag(ravel(as_tensor(x)), k)


def append(x1, x2, axis=None):
    """x2 appended to x1 along `axis` (both flattened when None)."""
    x1, x2 = as_tensor(x1), as_tensor(x2)
    if axis is None:
        return concatenate([ravel(x1), ravel(x2)], axis=0)
    return concatenate([x1, x2], axis=axis)


def take_along_axis(x, indices, axis=None):
    """Elements of x at `indices` along `axis` (the other axes broadcast), as numpy.take_along_axis."""
    x = as_tensor(x)
    idx = np.asarray(_host(data(indices)), dtype=np.int64)
    if axis is None:
        x, axis = reshape(x, (-1,)), 0
    axis %= x.ndim
    if idx.ndim != x.ndim:
        raise ValueError(f"take_along_axis: indices need {x.ndim} dimensions like x, received shape {idx.shape}")
    out_shape = [builtins.max(a, b) if i != axis else b for i, (a, b) in enumerate(zip(x.shape, idx.shape))]
    idx = np.broadcast_to(idx, out_shape)
    index = []
    for d, n in enumerate(out_shape):
        shape = [1] * len(out_shape)
        shape[d] = n
        if d == axis:
            index.append(np.where(idx < 0, idx + x.shape[axis], idx))
        else:
            index.append((np.arange(n) if x.shape[d] > 1 else np.zeros(n, dtype=np.int64)).reshape(shape))
    return getitem(x, tuple(backend.to_device(i, x.device) for i in index))


def get_item(x, key):
    """x[key]."""
    return getitem(as_tensor(x), key)


def slice(inputs, start_indices, shape):  # noqa: A001  (Keras's name)
    """The block of `inputs` starting at `start_indices` with size `shape`."""
    start = [int(s) for s in _host(data(start_indices))]
    return getitem(as_tensor(inputs), tuple(builtins.slice(s, s + n) for s, n in zip(start, shape)))


def slice_update(inputs, start_indices, updates):
    """`inputs` with the block at `start_indices` replaced by `updates`."""
    inputs, updates = as_tensor(inputs), as_tensor(updates)
    start = [int(s) for s in np.asarray(_host(data(start_indices)))]
    widths = [(s, n - s - u) for s, n, u in zip(start, inputs.shape, updates.shape)]
    if builtins.any(after < 0 or before < 0 for before, after in widths):
        raise ValueError(f"slice_update: updates of shape {tuple(updates.shape)} at {start} do not fit in "
                         f"inputs of shape {tuple(inputs.shape)}")
    xp = array_module(inputs.data)
    inside = xp.pad(xp.ones(updates.shape, dtype=bool), widths)
    return where(Tensor(inside), pad(cast(updates, inputs.dtype), widths), inputs)


class Scatter(Function):
    def __init__(self, index, shape):
        self.index, self.shape = index, shape

    def forward(self, values):
        out = array_module(values).zeros(self.shape, dtype=values.dtype)
        return add_at(out, self.index, values)

    def backward(self, g):
        return g[self.index]


class ScatterUpdate(Function):
    def __init__(self, index, add):
        self.index, self.add = index, add

    def forward(self, inputs, updates):
        out = inputs.copy()
        if self.add:
            add_at(out, self.index, updates.astype(out.dtype))
        else:
            out[self.index] = updates
        return out

    def backward(self, g):
        gi = g
        if not self.add:
            gi = g.copy()
            gi[self.index] = 0
        return gi, g[self.index]


def scatter(indices, values, shape):
    """Zeros of `shape` with `values` added at `indices` (N, k): repeated indices add up."""
    return Scatter(index=_scatter_index(indices), shape=tuple(shape))(as_tensor(values))


def scatter_update(inputs, indices, updates, reduction=None):
    """`inputs` with `updates` written (reduction None) or added (reduction 'add') at `indices` (N, k)."""
    if reduction not in (None, "add"):
        raise ValueError(f"scatter_update: reduction must be None or 'add', received {reduction!r}")
    return ScatterUpdate(index=_scatter_index(indices), add=reduction == "add")(as_tensor(inputs),
                                                                                as_tensor(updates))


def _scatter_index(indices):
    """(N, k) integer indices as a tuple of k index arrays."""
    idx = data(indices)
    idx = idx if hasattr(idx, "ndim") else np.asarray(idx)
    if idx.ndim == 1:
        idx = idx[:, None]
    return tuple(idx[:, j].astype(np.int64) for j in range(idx.shape[1]))


def select(condlist, choicelist, default=0):
    """The element of the first choice whose condition holds, else `default`."""
    if len(condlist) != len(choicelist):
        raise ValueError(f"select: condlist and choicelist must have the same length, received "
                         f"{len(condlist)} and {len(choicelist)}")
    out = as_tensor(default, like=as_tensor(choicelist[0]))
    for cond, choice in reversed(list(zip(condlist, choicelist))):
        out = where(as_tensor(cond), choice, out)
    return out


def sort(x, axis=-1):
    """x sorted along `axis`; the gradient goes back to where each element came from."""
    x = as_tensor(x)
    if axis is None:
        x, axis = ravel(x), 0
    return take_along_axis(x, argsort(x, axis=axis), axis=axis)


def argsort(x, axis=-1):
    """Indices that sort x along `axis` (stable; no gradient)."""
    return NumpyCall("argsort", axis=axis, kind="stable")(x)


def argpartition(x, kth, axis=-1):
    """Indices that put the kth element in its sorted place, smaller before, larger after (no gradient)."""
    return NumpyCall("argpartition", kth=kth, axis=axis)(x)


def top_k(x, k, sorted=True):  # noqa: A002  (Keras's name)
    """(values, indices) of the k largest entries along the last axis, largest first."""
    x = as_tensor(x)
    xp = array_module(x.data)
    idx = xp.argsort(-x.data, axis=-1, kind="stable")[..., :k]
    if not sorted:
        idx = xp.sort(idx, axis=-1)
    return take_along_axis(x, idx, axis=-1), Tensor(idx)


def in_top_k(targets, predictions, k):
    """True where the target class's prediction is among the k largest of its row (ties count as in)."""
    p = as_tensor(predictions).data
    xp = array_module(p)
    t = xp.asarray(data(targets)).astype(np.int64)
    target_score = xp.take_along_axis(p, t[:, None], axis=-1)
    return Tensor((p > target_score).sum(axis=-1) < k)


def vander(x, N=None, increasing=False):  # noqa: N803  (NumPy's name)
    """Columns of powers of x: x**(N-1), ..., x, 1 (reversed when `increasing`)."""
    x = as_tensor(x)
    n = x.shape[0] if N is None else N
    cols, power = [], Tensor(np.ones(x.shape, dtype=x.dtype))
    for _ in range(n):
        cols.append(power)
        power = power * x
    return stack(cols if increasing else cols[::-1], axis=1)


def meshgrid(*x, indexing="xy"):
    """Coordinate grids from 1-D inputs (no gradient)."""
    arrays = [as_tensor(v).data for v in x]
    return [Tensor(g) for g in array_module(arrays[0]).meshgrid(*arrays, indexing=indexing)]


def unravel_index(indices, shape):
    """Flat indices as a tuple of coordinate arrays (no gradient)."""
    idx = as_tensor(indices).data
    return tuple(Tensor(i) for i in array_module(idx).unravel_index(idx, shape))


def nonzero(x):
    """Indices of the nonzero elements, one array per axis (no gradient)."""
    a = as_tensor(x).data
    return tuple(Tensor(i) for i in array_module(a).nonzero(a))


def unique(x, sorted=True, return_index=False, return_inverse=False, return_counts=False, axis=None,  # noqa: A002
           size=None, fill_value=None):
    """The distinct elements (sorted), optionally with first indices, inverse and counts; no gradient.

    With `size`, outputs are cut or padded to that length with `fill_value` (default: the smallest value).
    """
    if not sorted:
        raise ValueError("unique: sorted=False is not supported (NumPy always sorts); expected True")
    a = as_tensor(x).data
    out = array_module(a).unique(a, return_index=return_index, return_inverse=return_inverse,
                                 return_counts=return_counts, axis=axis)
    out = list(out) if isinstance(out, tuple) else [out]
    if size is not None:
        fill = out[0].min() if fill_value is None else fill_value
        out[0] = _fit(out[0], size, fill)
        pos = 1 + return_index
        if return_index:
            out[1] = _fit(out[1], size, 0)
        if return_counts:
            out[pos + return_inverse] = _fit(out[pos + return_inverse], size, 0)
    tensors = [Tensor(o) for o in out]
    return tensors[0] if len(tensors) == 1 else tuple(tensors)


def _fit(a, size, fill):
    xp = array_module(a)
    if len(a) >= size:
        return a[:size]
    return xp.concatenate([a, xp.full(size - len(a), fill, dtype=a.dtype)])


def searchsorted(sorted_sequence, values, side="left"):
    """Where each value would be inserted to keep the sequence sorted (no gradient)."""
    return NumpyCall("searchsorted", side=side)(as_tensor(sorted_sequence), as_tensor(values))


def digitize(x, bins):
    """The bin index of each element (no gradient)."""
    return NumpyCall("digitize")(as_tensor(x), as_tensor(bins))


def bincount(x, weights=None, minlength=0, sparse=False):
    """Counts (or summed weights) of each non-negative integer; batched along axis 0 for 2-D x."""
    if sparse:
        raise ValueError("bincount: sparse=True is not supported (no sparse tensors); expected False")
    a = as_tensor(x).data
    xp = array_module(a)
    w = None if weights is None else as_tensor(weights).data
    dtype = None if w is None else w.dtype  # NumPy sums weights in float64
    if a.ndim == 1:
        return Tensor(xp.bincount(a, weights=w, minlength=minlength).astype(dtype or np.int64))
    length = builtins.max(minlength, int(a.max()) + 1 if a.size else 0)
    rows = [xp.bincount(r, weights=None if w is None else w[i], minlength=length) for i, r in enumerate(a)]
    return Tensor(xp.stack(rows).astype(dtype or np.int64))


def histogram(x, bins=10, range=None):  # noqa: A002  (NumPy's name)
    """(counts, bin edges) of a 1-D input (no gradient)."""
    a = as_tensor(x).data
    counts, edges = array_module(a).histogram(a, bins=bins, range=range)
    return Tensor(counts), Tensor(edges)


def isin(x1, x2, assume_unique=False, invert=False):
    """True where an element of x1 is in x2 (no gradient)."""
    return NumpyCall("isin", assume_unique=assume_unique, invert=invert)(as_tensor(x1), as_tensor(x2))


def copy(x):
    """A copy of x (the gradient passes through)."""
    x = as_tensor(x)
    return cast(x, x.dtype)


def nan_to_num(x, nan=0.0, posinf=None, neginf=None):
    """x with NaN, +inf and -inf replaced (by default 0 and the dtype's largest finite values)."""
    x = as_tensor(x)
    if x.dtype.kind != "f":
        return copy(x)
    big = float(np.finfo(x.dtype).max)
    xp = array_module(x.data)
    out = where(Tensor(xp.isnan(x.data)), nan, x)
    out = where(Tensor(xp.isposinf(x.data)), big if posinf is None else posinf, out)
    return where(Tensor(xp.isneginf(x.data)), -big if neginf is None else neginf, out)


def correlate(x1, x2, mode="valid"):
    """Cross-correlation of two 1-D inputs, as numpy.correlate (modes 'valid', 'same', 'full').

    With 'same' the output has max(len(x1), len(x2)) elements, as NumPy (and Keras's NumPy and JAX
    backends; its torch backend returns len(x1))."""
    if mode not in ("valid", "same", "full"):
        raise ValueError(f"correlate: mode must be 'valid', 'same' or 'full', received {mode!r}")
    a, v = as_tensor(x1), as_tensor(x2)
    m, n = a.shape[0], v.shape[0]
    if m < n:  # NumPy swaps the inputs then: c_av[k] = c_va[-k]
        full = flip(_full_correlation(v, a), axis=0)
    else:
        full = _full_correlation(a, v)
    short, long_ = builtins.min(m, n), builtins.max(m, n)
    if mode == "full":
        return full
    if mode == "valid":
        return full[short - 1:long_]
    start = (short - 1) // 2 if m >= n else short // 2
    return full[start:start + long_]


def _full_correlation(a, v):
    """All overlaps of v sliding over a: length len(a) + len(v) - 1, via the conv op."""
    n = v.shape[0]
    padded = pad(a, ((n - 1, n - 1),))
    return reshape(conv(reshape(padded, (1, -1, 1)), reshape(v, (n, 1, 1))), (-1,))


def corrcoef(x):
    """Pearson correlation coefficients between the rows of x."""
    x = as_tensor(x)
    if x.ndim == 1:
        x = reshape(x, (1, -1))
    xc = x - mean(x, axis=1, keepdims=True)
    cov = matmul(xc, transpose(xc))
    d = sqrt(diagonal(cov))
    return cov / (reshape(d, (-1, 1)) * reshape(d, (1, -1)))


def cdist(x, y):
    """Euclidean distances between every row of x (..., P, M) and every row of y (..., R, M)."""
    x, y = as_tensor(x), as_tensor(y)
    delta = subtract(reshape(x, x.shape[:-1] + (1, x.shape[-1])), reshape(y, y.shape[:-2] + (1,) + y.shape[-2:]))
    return sqrt(maximum(_sum(square(delta), axis=-1), 0.0))


def real(x):
    """The real part (x itself for real inputs, with its gradient)."""
    return Unary(lambda xp, a: xp.real(a).copy(), lambda xp, a, y: 1.0)(x)


def imag(x):
    """The imaginary part (zeros for real inputs, gradient 0)."""
    return Unary(lambda xp, a: xp.imag(a).copy(), lambda xp, a, y: 0.0)(x)


def conj(x):
    """The complex conjugate (x itself for real inputs, with its gradient)."""
    return Unary(lambda xp, a: xp.conj(a), lambda xp, a, y: 1.0)(x)


conjugate = conj


def angle(x):
    """The complex argument (0 or pi for real inputs; no gradient)."""
    return NumpyCall("angle")(x)


def polar(abs_, angle):
    """abs_ * exp(1j * angle), complex (no gradient)."""
    r, t = as_tensor(abs_).data, as_tensor(angle).data
    return Tensor(r * array_module(r).exp(1j * t))


def view(x, dtype=None):
    """The same bytes read as `dtype` (no gradient)."""
    a = as_tensor(x).data
    return Tensor(a.view(backend.as_dtype(dtype)) if dtype is not None else a.view())


def view_as_complex(x):
    """A (..., 2) real array as complex numbers (no gradient)."""
    a = as_tensor(x).data
    if a.shape[-1:] != (2,):
        raise ValueError(f"view_as_complex: the last axis must have length 2, received shape {a.shape}")
    return Tensor(a[..., 0] + 1j * a[..., 1])


def view_as_real(x):
    """A complex array as (..., 2) real numbers (no gradient)."""
    a = as_tensor(x).data
    xp = array_module(a)
    return Tensor(xp.stack([a.real, a.imag], axis=-1))


# -- creation ---------------------------------------------------------------------------------------------------
def _floatx(dtype):
    return backend.as_dtype(dtype) if dtype is not None else backend.default_dtype()


def arange(start, stop=None, step=None, dtype=None):
    """Evenly spaced values in [start, stop); integers stay integer (int32 as Keras) unless dtype says."""
    if stop is None:
        start, stop = 0, start
    step = 1 if step is None else step
    if dtype is None:
        is_int = builtins.all(isinstance(v, (int, np.integer)) for v in (start, stop, step))
        dtype = np.int32 if is_int else backend.default_dtype()
    return Tensor(np.arange(start, stop, step).astype(backend.as_dtype(dtype)))


def array(x, dtype=None):
    """A Tensor holding a copy of x."""
    return Tensor(np.array(_host(data(x)), dtype=None if dtype is None else backend.as_dtype(dtype)))


def eye(N, M=None, k=0, dtype=None):  # noqa: N803  (NumPy's names)
    """Ones on the k-th diagonal of an N x M matrix."""
    return Tensor(np.eye(N, M, k, dtype=_floatx(dtype)))


def identity(n, dtype=None):
    """The n x n identity matrix."""
    return eye(n, dtype=dtype)


def zeros(shape, dtype=None):
    """Zeros of `shape` (float32 by default)."""
    return Tensor(np.zeros(shape, dtype=_floatx(dtype)))


def ones(shape, dtype=None):
    """Ones of `shape` (float32 by default)."""
    return Tensor(np.ones(shape, dtype=_floatx(dtype)))


def empty(shape, dtype=None):
    """An array of `shape` (zeros here: uninitialised memory would make runs irreproducible)."""
    return zeros(shape, dtype)


def full(shape, fill_value, dtype=None):
    """`shape` filled with `fill_value` (float32 unless dtype or an integer fill says otherwise)."""
    value = np.asarray(data(fill_value))
    if dtype is None:
        dtype = backend.default_dtype() if value.dtype.kind == "f" else value.dtype
    return Tensor(np.full(shape, value, dtype=backend.as_dtype(dtype)))


def _like(x, value, dtype):
    a = as_tensor(x).data
    return Tensor(array_module(a).full(a.shape, value, dtype=a.dtype if dtype is None else backend.as_dtype(dtype)))


def zeros_like(x, dtype=None):
    """Zeros shaped and typed like x."""
    return _like(x, 0, dtype)


def ones_like(x, dtype=None):
    """Ones shaped and typed like x."""
    return _like(x, 1, dtype)


def empty_like(x, dtype=None):
    """An array shaped like x (zeros, for reproducibility)."""
    return _like(x, 0, dtype)


def full_like(x, fill_value, dtype=None):
    """`fill_value` shaped and typed like x."""
    return _like(x, data(fill_value), dtype)


def linspace(start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0):
    """`num` evenly spaced values from start to stop (and the step when `retstep`)."""
    out = np.linspace(data(start), data(stop), num, endpoint=endpoint, retstep=retstep, axis=axis)
    values, step = out if retstep else (out, None)
    t = Tensor(values.astype(_floatx(dtype)))
    return (t, step) if retstep else t


def logspace(start, stop, num=50, endpoint=True, base=10, dtype=None, axis=0):
    """base ** linspace(start, stop)."""
    return Tensor(np.logspace(data(start), data(stop), num, endpoint=endpoint, base=base, axis=axis)
                  .astype(_floatx(dtype)))


def geomspace(start, stop, num=50, endpoint=True, dtype=None, axis=0):
    """Values evenly spaced on a log scale from start to stop."""
    return Tensor(np.geomspace(data(start), data(stop), num, endpoint=endpoint, axis=axis).astype(_floatx(dtype)))


def tri(N, M=None, k=0, dtype=None):  # noqa: N803
    """Ones at and below the k-th diagonal of an N x M matrix."""
    return Tensor(np.tri(N, M, k, dtype=_floatx(dtype)))


def bartlett(x):
    """The Bartlett (triangular) window of length x."""
    return Tensor(np.bartlett(int(data(x))).astype(backend.default_dtype()))


def blackman(x):
    """The Blackman window of length x."""
    return Tensor(np.blackman(int(data(x))).astype(backend.default_dtype()))


def hamming(x):
    """The Hamming window of length x."""
    return Tensor(np.hamming(int(data(x))).astype(backend.default_dtype()))


def hanning(x):
    """The Hann window of length x."""
    return Tensor(np.hanning(int(data(x))).astype(backend.default_dtype()))


def kaiser(x, beta):
    """The Kaiser window of length x with shape parameter beta."""
    return Tensor(np.kaiser(int(data(x)), beta).astype(backend.default_dtype()))


# -- helpers ----------------------------------------------------------------------------------------------------
def _host(a):
    """An array (or list or scalar) as a NumPy array on the host."""
    return np.asarray(backend.to_device(a, "cpu") if hasattr(a, "shape") else a)


def _axis(axis):
    """A list axis as the tuple NumPy wants."""
    return tuple(axis) if isinstance(axis, list) else axis


def _reduce_to_last(x, axis, keepdims):
    """(x with the reduced axes flattened into the last one, the output shape after reducing)."""
    axes = norm_axes(axis, x.ndim)
    kept = [a for a in range(x.ndim) if a not in axes]
    moved = transpose(x, tuple(kept) + axes)
    flat = reshape(moved, tuple(x.shape[a] for a in kept) + (-1,))
    if keepdims:
        out_shape = tuple(1 if a in axes else x.shape[a] for a in range(x.ndim))
    else:
        out_shape = tuple(x.shape[a] for a in kept)
    return flat, out_shape


def _squeeze_axes(x, axis):
    return squeeze(x, axis=_axis(axis)) if axis is not None else reshape(x, ())
