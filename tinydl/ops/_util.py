"""Small helpers shared by the ops: scalar pairing, axis normalisation, index unwrapping."""
from tinydl.tensor import Tensor, as_tensor


def pair(a, b):
    """Both operands as Tensors; a Python scalar takes the dtype of the Tensor beside it."""
    if isinstance(a, Tensor):
        if not isinstance(b, Tensor):
            b = as_tensor(b, like=a)
    elif isinstance(b, Tensor):
        a = as_tensor(a, like=b)
    else:
        a, b = as_tensor(a), as_tensor(b)
        if a.dtype.kind in "fc" and b.dtype.kind not in "fc":
            b = as_tensor(b.data.astype(a.dtype))
    return a, b


def data(x):
    """The raw array of a Tensor, or `x` itself."""
    return x.data if isinstance(x, Tensor) else x


def norm_axes(axis, ndim):
    """`axis` (None, int or tuple, negatives allowed) as a sorted tuple of non-negative axes."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    out = []
    for a in axes:
        if not -ndim <= a < ndim:
            raise ValueError(f"axis {a} is out of bounds for an array of dimension {ndim}")
        out.append(a % ndim)
    return tuple(sorted(out))


def restore_reduced(g, shape, axis, keepdims):
    """Reshape a reduced gradient `g` so that it broadcasts against the unreduced `shape`."""
    if keepdims or g.ndim == len(shape):
        return g
    axes = norm_axes(axis, len(shape))
    full = list(shape)
    for a in axes:
        full[a] = 1
    return g.reshape(full)


def raw_index(index):
    """An index with every Tensor inside it replaced by its array."""
    if isinstance(index, tuple):
        return tuple(data(i) for i in index)
    return data(index)


def is_basic_index(index):
    """True when `index` holds only ints, slices, None and Ellipsis (no arrays or lists)."""
    items = index if isinstance(index, tuple) else (index,)
    return all(i is None or i is Ellipsis or isinstance(i, (int, slice)) for i in items)
