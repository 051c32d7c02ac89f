"""Shape and indexing ops: reshape, transpose, concatenate, split, pad, take, getitem, tile, ..."""
import numpy as np

from tinydl.autograd import Function, unbroadcast
from tinydl.backend import add_at, array_module, as_dtype, device_of, to_device as _move
from tinydl.ops._util import is_basic_index, norm_axes, raw_index
from tinydl.tensor import Tensor, as_tensor

__all__ = [
    "reshape", "transpose", "expand_dims", "squeeze", "concatenate", "stack", "split", "pad", "take",
    "gather", "broadcast_to", "tile", "repeat", "flip", "getitem", "one_hot", "to_device", "moveaxis",
]


class Reshape(Function):
    def __init__(self, shape):
        self.shape = shape

    def forward(self, x):
        self.in_shape = x.shape
        try:
            return x.reshape(self.shape)
        except ValueError:
            raise ValueError(f"reshape: cannot reshape an array of shape {x.shape} into {self.shape}") from None

    def backward(self, g):
        return g.reshape(self.in_shape)


def reshape(x, shape):
    """The same elements in a new shape (one dimension may be -1)."""
    return Reshape(shape=tuple(shape) if not isinstance(shape, int) else (shape,))(x)


class Transpose(Function):
    def __init__(self, axes):
        self.axes = axes

    def forward(self, x):
        self.perm = tuple(range(x.ndim))[::-1] if self.axes is None else tuple(a % x.ndim for a in self.axes)
        return x.transpose(self.perm)

    def backward(self, g):
        inverse = [0] * len(self.perm)
        for i, p in enumerate(self.perm):
            inverse[p] = i
        return g.transpose(inverse)


def transpose(x, axes=None):
    """Axes permuted (reversed when `axes` is None), as numpy.transpose."""
    return Transpose(axes=None if axes is None else tuple(axes))(x)


def moveaxis(x, source, destination):
    """Axis `source` moved to position `destination`, as numpy.moveaxis."""
    order = [a for a in range(x.ndim) if a != source % x.ndim]
    order.insert(destination % x.ndim, source % x.ndim)
    return transpose(x, order)


def expand_dims(x, axis):
    """A new axis of length 1 inserted at `axis`."""
    shape = list(x.shape)
    axes = norm_axes(axis, x.ndim + (1 if isinstance(axis, int) else len(axis)))
    for a in axes:
        shape.insert(a, 1)
    return reshape(x, shape)


def squeeze(x, axis=None):
    """Axes of length 1 removed (only `axis` when given; it must have length 1)."""
    axes = tuple(i for i, n in enumerate(x.shape) if n == 1) if axis is None else norm_axes(axis, x.ndim)
    for a in axes:
        if x.shape[a] != 1:
            raise ValueError(f"squeeze: axis {a} of shape {x.shape} has length {x.shape[a]}, not 1")
    return reshape(x, [n for i, n in enumerate(x.shape) if i not in axes])


class Concatenate(Function):
    def __init__(self, axis):
        self.axis = axis

    def forward(self, *arrays):
        xp = array_module(arrays[0])
        self.sizes = [a.shape[self.axis] for a in arrays]
        try:
            return xp.concatenate(arrays, axis=self.axis)
        except ValueError:
            shapes = ", ".join(str(a.shape) for a in arrays)
            raise ValueError(f"concatenate: shapes {shapes} do not match outside axis {self.axis}") from None

    def backward(self, g):
        xp = array_module(g)
        cuts = list(xp.cumsum(xp.asarray(self.sizes))[:-1].tolist()) if len(self.sizes) > 1 else []
        return tuple(xp.split(g, cuts, axis=self.axis))


def concatenate(tensors, axis=0):
    """Tensors joined along an existing axis."""
    return Concatenate(axis=axis)(*tensors)


def stack(tensors, axis=0):
    """Tensors joined along a new axis."""
    tensors = list(tensors)
    shapes = {tuple(t.shape) for t in tensors}
    if len(shapes) > 1:
        raise ValueError(f"stack: all tensors need the same shape, got {sorted(shapes)}")
    return concatenate([expand_dims(t, axis) for t in tensors], axis=axis)


class Split(Function):
    def __init__(self, indices_or_sections, axis):
        self.indices_or_sections, self.axis = indices_or_sections, axis

    def forward(self, x):
        xp = array_module(x)
        try:
            parts = xp.split(x, self.indices_or_sections, axis=self.axis)
        except ValueError as e:
            raise ValueError(f"split: {e} (shape {x.shape}, axis {self.axis})") from None
        return tuple(parts)

    def backward(self, *grads):
        return array_module(grads[0]).concatenate(grads, axis=self.axis)


def split(x, indices_or_sections, axis=0):
    """A list of sub-tensors, as numpy.split."""
    out = Split(indices_or_sections=indices_or_sections, axis=axis)(x)
    return list(out) if isinstance(out, tuple) else [out]


class Pad(Function):
    def __init__(self, pad_width, constant_values):
        self.pad_width, self.constant_values = pad_width, constant_values

    def forward(self, x):
        xp = array_module(x)
        self.slices = tuple(slice(lo, lo + n) for (lo, _), n in zip(self.pad_width, x.shape))
        return xp.pad(x, self.pad_width, mode="constant", constant_values=self.constant_values)

    def backward(self, g):
        return g[self.slices]


def pad(x, pad_width, mode="constant", constant_values=0):
    """Constant padding, as numpy.pad (`pad_width` an int, a pair, or a pair per axis)."""
    if mode != "constant":
        raise ValueError(f"pad: only mode='constant' is supported, got {mode!r}")
    return Pad(pad_width=_pad_pairs(pad_width, x.ndim), constant_values=constant_values)(x)


def _pad_pairs(pad_width, ndim):
    """numpy.pad's pad_width forms as one (before, after) pair per axis."""
    pw = np.asarray(pad_width, dtype=int)
    return tuple(tuple(int(v) for v in p) for p in np.broadcast_to(pw, (ndim, 2)))


class Take(Function):
    def __init__(self, axis):
        self.axis = axis

    def forward(self, x, indices):
        self.shape, self.indices = x.shape, indices
        try:
            return array_module(x).take(x, indices, axis=self.axis)
        except IndexError as e:
            raise IndexError(f"take: {e} (shape {x.shape}, axis {self.axis})") from None

    def backward(self, g):
        xp = array_module(g)
        out = xp.zeros(self.shape, dtype=g.dtype)
        if self.axis is None:
            add_at(out.reshape(-1), self.indices.reshape(-1), g.reshape(-1))
            return out, None
        axis = self.axis % len(self.shape)
        # move the taken axis first, so one scatter-add over the leading index covers every case
        g_moved = xp.moveaxis(g, list(range(axis, axis + self.indices.ndim)), list(range(self.indices.ndim)))
        g_flat = g_moved.reshape((self.indices.size,) + g_moved.shape[self.indices.ndim:])
        target = xp.moveaxis(out, axis, 0)
        add_at(target, self.indices.reshape(-1), g_flat)
        return out, None


def take(x, indices, axis=None):
    """Elements of x at integer `indices` along `axis`, as numpy.take; repeated indices add gradients."""
    idx = indices if isinstance(indices, Tensor) else as_tensor(_as_index_array(indices, x))
    return Take(axis=axis)(x, idx)


gather = take


def _as_index_array(indices, like):
    """Integer indices as an array on the device of `like`."""
    return _move(np.asarray(indices, dtype=np.int64), device_of(like.data))


class BroadcastTo(Function):
    def __init__(self, shape):
        self.shape = shape

    def forward(self, x):
        self.in_shape = x.shape
        try:
            return array_module(x).broadcast_to(x, self.shape)
        except ValueError:
            raise ValueError(f"broadcast_to: cannot broadcast shape {x.shape} to {self.shape}") from None

    def backward(self, g):
        return unbroadcast(g, self.in_shape)


def broadcast_to(x, shape):
    """x broadcast to `shape` (a read-only view in forward)."""
    return BroadcastTo(shape=tuple(shape))(x)


class Tile(Function):
    def __init__(self, reps):
        self.reps = reps

    def forward(self, x):
        self.in_shape = x.shape
        return array_module(x).tile(x, self.reps)

    def backward(self, g):
        reps = (1,) * (g.ndim - len(self.reps)) + tuple(self.reps)
        shape = (1,) * (g.ndim - len(self.in_shape)) + tuple(self.in_shape)
        split_shape = []
        for r, n in zip(reps, shape):
            split_shape += [r, n]
        summed = g.reshape(split_shape).sum(axis=tuple(range(0, 2 * g.ndim, 2)))
        return summed.reshape(self.in_shape)


def tile(x, reps):
    """x repeated `reps` times along each axis, as numpy.tile."""
    return Tile(reps=(reps,) if isinstance(reps, int) else tuple(reps))(x)


class Repeat(Function):
    def __init__(self, repeats, axis):
        self.repeats, self.axis = repeats, axis

    def forward(self, x):
        self.in_shape = x.shape
        return array_module(x).repeat(x, self.repeats, axis=self.axis)

    def backward(self, g):
        xp = array_module(g)
        if self.axis is None:
            flat_len = 1
            for n in self.in_shape:
                flat_len *= n
            owner = xp.repeat(xp.arange(flat_len), self.repeats)
            out = xp.zeros(flat_len, dtype=g.dtype)
            return add_at(out, owner, g).reshape(self.in_shape)
        axis = self.axis % len(self.in_shape)
        owner = xp.repeat(xp.arange(self.in_shape[axis]), self.repeats)
        out = xp.zeros(self.in_shape, dtype=g.dtype)
        add_at(xp.moveaxis(out, axis, 0), owner, xp.moveaxis(g, axis, 0))
        return out


def repeat(x, repeats, axis=None):
    """Each element repeated, as numpy.repeat."""
    return Repeat(repeats=repeats, axis=axis)(x)


class Flip(Function):
    def __init__(self, axis):
        self.axis = axis

    def forward(self, x):
        return array_module(x).flip(x, axis=self.axis)

    def backward(self, g):
        return array_module(g).flip(g, axis=self.axis)


def flip(x, axis=None):
    """Order of elements reversed along `axis` (all axes when None)."""
    return Flip(axis=axis)(x)


class GetItem(Function):
    def __init__(self, index, basic):
        self.index, self.basic = index, basic

    def forward(self, x):
        self.shape, self.dtype = x.shape, x.dtype
        return x[self.index]

    def backward(self, g):
        out = array_module(g).zeros(self.shape, dtype=g.dtype)
        if self.basic:
            out[self.index] = g
        else:
            add_at(out, self.index, g)
        return out


def getitem(x, index):
    """x[index] with NumPy's basic and integer-array indexing; repeated indices add gradients."""
    index = raw_index(index)
    return GetItem(index=index, basic=is_basic_index(index))(x)


class OneHot(Function):
    differentiable = False

    def __init__(self, num_classes, dtype, axis=-1):
        self.num_classes, self.dtype, self.axis = num_classes, dtype, axis

    def forward(self, indices):
        xp = array_module(indices)
        hot = (indices[..., None] == xp.arange(self.num_classes)).astype(self.dtype)
        return hot if self.axis == -1 else xp.moveaxis(hot, -1, self.axis)


def one_hot(indices, num_classes, axis=-1, dtype=None, sparse=False):
    """One-hot float vectors for integer class ids, the class axis at `axis` (no gradient)."""
    if sparse:
        raise ValueError("one_hot: sparse=True is not supported (tinydl has no sparse tensors); expected False")
    if isinstance(axis, str) or (axis is not None and not isinstance(axis, int)) or isinstance(dtype, bool):
        raise TypeError(f"one_hot(indices, num_classes, axis=-1, dtype=None, sparse=False): axis must be an int, "
                        f"received {axis!r}")
    return OneHot(num_classes=int(num_classes), dtype=as_dtype(dtype), axis=axis)(indices)


class ToDevice(Function):
    def __init__(self, device):
        self.device = device

    def forward(self, x):
        self.source = device_of(x)
        return _move(x, self.device)

    def backward(self, g):
        return _move(g, self.source)


def to_device(x, device):
    """x copied to `device`; the gradient is copied back."""
    return ToDevice(device=device)(x)
