"""Reductions along axes (NumPy's `axis` and `keepdims`): sum, mean, max, var, logsumexp, cumsum, ..."""
import builtins  # this module defines sum, max and min; the builtins are reached through here

from tinydl.autograd import Function
from tinydl.backend import array_module, as_dtype
from tinydl.ops._util import norm_axes, restore_reduced
from tinydl.ops.math import cast, maximum, minimum, sqrt

__all__ = ["sum", "mean", "max", "min", "var", "std", "prod", "logsumexp", "argmax", "argmin", "cumsum"]


class _Reduce(Function):
    """A reduction whose backward spreads the output gradient back over the reduced axes."""

    def __init__(self, axis, keepdims):
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x):
        self.x = x
        self.out = self.compute(x)
        return self.out

    def backward(self, g):
        g = restore_reduced(g, self.x.shape, self.axis, self.keepdims)
        return self.spread(g)


class Sum(_Reduce):
    def compute(self, x):
        return x.sum(axis=self.axis, keepdims=self.keepdims)

    def spread(self, g):
        return array_module(g).broadcast_to(g, self.x.shape).copy()


class Mean(_Reduce):
    def compute(self, x):
        return x.mean(axis=self.axis, keepdims=self.keepdims)

    def spread(self, g):
        n = self.x.size // builtins.max(self.out.size, 1)
        return array_module(g).broadcast_to(g / n, self.x.shape).copy()


class _Extreme(_Reduce):
    """max/min: the gradient goes to the extreme elements, split equally among ties."""

    def spread(self, g):
        out = restore_reduced(self.out, self.x.shape, self.axis, self.keepdims)
        hit = (self.x == out).astype(g.dtype)
        return g * hit / hit.sum(axis=norm_axes(self.axis, self.x.ndim), keepdims=True)


class Max(_Extreme):
    def compute(self, x):
        return x.max(axis=self.axis, keepdims=self.keepdims)


class Min(_Extreme):
    def compute(self, x):
        return x.min(axis=self.axis, keepdims=self.keepdims)


class Var(_Reduce):
    def __init__(self, axis, keepdims, ddof):
        self.axis, self.keepdims, self.ddof = axis, keepdims, ddof

    def compute(self, x):
        self.centered = x - x.mean(axis=self.axis, keepdims=True)
        n = x.size // builtins.max(_reduced_size(x.shape, self.axis), 1)
        self.denom = n - self.ddof
        return (self.centered * self.centered).sum(axis=self.axis, keepdims=self.keepdims) / self.denom

    def spread(self, g):
        return g * (2 / self.denom) * self.centered


class Prod(_Reduce):
    def compute(self, x):
        return x.prod(axis=self.axis, keepdims=self.keepdims)

    def spread(self, g):
        # d(prod)/dx_i is the product of all other elements: exclusive cumulative products from both
        # ends, so zeros in x need no division.
        xp = array_module(self.x)
        axes = norm_axes(self.axis, self.x.ndim)
        rest = [a for a in range(self.x.ndim) if a not in axes]
        moved = self.x.transpose(rest + list(axes))
        flat = moved.reshape(moved.shape[:len(rest)] + (-1,))
        ones = xp.ones(flat.shape[:-1] + (1,), dtype=flat.dtype)
        left = xp.cumprod(xp.concatenate([ones, flat[..., :-1]], axis=-1), axis=-1)
        right = xp.flip(xp.cumprod(xp.flip(xp.concatenate([flat[..., 1:], ones], axis=-1), -1), axis=-1), -1)
        others = (left * right).reshape(moved.shape)
        inverse = xp.argsort(xp.asarray(rest + list(axes)))
        return g * others.transpose([int(i) for i in inverse])


class LogSumExp(_Reduce):
    def compute(self, x):
        xp = array_module(x)
        m = x.max(axis=self.axis, keepdims=True)
        m = xp.where(xp.isfinite(m), m, 0)
        self.shifted_exp = xp.exp(x - m)
        total = self.shifted_exp.sum(axis=self.axis, keepdims=True)
        out = xp.log(total) + m
        self.softmax = self.shifted_exp / total
        return out if self.keepdims else out.reshape(_reduced_shape(x.shape, self.axis))

    def spread(self, g):
        return g * self.softmax


def _reduced_size(shape, axis):
    """Number of elements in `shape` after reducing over `axis`."""
    size = 1
    for n in _reduced_shape(shape, axis):
        size *= n
    return size


def _reduced_shape(shape, axis):
    """`shape` with the reduced axes dropped."""
    axes = norm_axes(axis, len(shape))
    return tuple(n for i, n in enumerate(shape) if i not in axes)


def sum(x, axis=None, keepdims=False):  # noqa: A001  (NumPy's name)
    """Sum over `axis` (all axes when None)."""
    return Sum(axis=_axis(axis), keepdims=keepdims)(x)


def mean(x, axis=None, keepdims=False):
    """Arithmetic mean over `axis`."""
    return Mean(axis=_axis(axis), keepdims=keepdims)(x)


def max(x, axis=None, keepdims=False, initial=None):  # noqa: A001
    """Largest element over `axis` (and `initial`, when given); ties share the gradient equally."""
    out = Max(axis=_axis(axis), keepdims=keepdims)(x)
    return out if initial is None else maximum(out, initial)


def min(x, axis=None, keepdims=False, initial=None):  # noqa: A001
    """Smallest element over `axis` (and `initial`, when given); ties share the gradient equally."""
    out = Min(axis=_axis(axis), keepdims=keepdims)(x)
    return out if initial is None else minimum(out, initial)


def var(x, axis=None, keepdims=False, ddof=0):
    """Variance over `axis` (population variance unless ddof=1), as numpy.var."""
    return Var(axis=_axis(axis), keepdims=keepdims, ddof=ddof)(x)


def std(x, axis=None, keepdims=False, ddof=0):
    """Standard deviation over `axis`, as numpy.std."""
    return sqrt(var(x, axis=axis, keepdims=keepdims, ddof=ddof))


def prod(x, axis=None, keepdims=False, dtype=None):
    """Product over `axis` (computed in `dtype` when given); the gradient is exact even where elements are zero."""
    return Prod(axis=_axis(axis), keepdims=keepdims)(x if dtype is None else cast(x, as_dtype(dtype)))


def logsumexp(x, axis=None, keepdims=False):
    """log(sum(exp(x))) over `axis`, stable for large inputs (1e4 does not overflow)."""
    return LogSumExp(axis=_axis(axis), keepdims=keepdims)(x)


def _axis(axis):
    """Axis argument normalised to None, an int or a tuple."""
    return tuple(axis) if isinstance(axis, list) else axis


class _ArgExtreme(Function):
    differentiable = False

    def __init__(self, name, axis, keepdims):
        self.name, self.axis, self.keepdims = name, axis, keepdims

    def forward(self, x):
        return getattr(x, self.name)(axis=self.axis, keepdims=self.keepdims)


def argmax(x, axis=None, keepdims=False):
    """Index of the largest element along `axis` (no gradient)."""
    return _ArgExtreme(name="argmax", axis=axis, keepdims=keepdims)(x)


def argmin(x, axis=None, keepdims=False):
    """Index of the smallest element along `axis` (no gradient)."""
    return _ArgExtreme(name="argmin", axis=axis, keepdims=keepdims)(x)


class CumSum(Function):
    def __init__(self, axis):
        self.axis = axis

    def forward(self, x):
        self.shape = x.shape
        return array_module(x).cumsum(x, axis=self.axis)

    def backward(self, g):
        xp = array_module(g)
        if self.axis is None:
            return xp.flip(xp.cumsum(xp.flip(g))).reshape(self.shape)
        return xp.flip(xp.cumsum(xp.flip(g, self.axis), axis=self.axis), self.axis)


def cumsum(x, axis=None, dtype=None):
    """Running sum along `axis` (flattened when None, computed in `dtype` when given), as numpy.cumsum."""
    return CumSum(axis=axis)(x if dtype is None else cast(x, as_dtype(dtype)))
