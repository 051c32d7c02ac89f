"""Tensor: an array (numpy or cupy) with an optional gradient and a link to the op that made it."""
import numpy as np

from tinydl import autograd, backend

__all__ = ["Tensor", "tensor", "as_tensor"]


class Tensor:
    """A wrapped array that records the ops applied to it, so `.backward()` can find gradients.

    `.data` is the raw array, `.grad` a Tensor of the same shape once backward has reached it
    (gradients add up across backward calls; reset with `zero_grad()`), `._ctx` the Function
    that produced it (None for leaves).
    """

    __slots__ = ("data", "grad", "requires_grad", "_ctx", "_out_index", "name", "_keras_mask", "__weakref__")
    __array_ufunc__ = None  # `ndarray + Tensor` defers to Tensor.__radd__ instead of unwrapping us
    __array_priority__ = 1000

    def __init__(self, data, requires_grad=False, dtype=None, device=None, name=None):
        self.data = _to_array(data, dtype, device)
        if requires_grad and self.data.dtype.kind not in "fc":
            raise TypeError(f"only floating tensors can require gradients, got dtype {self.data.dtype}")
        self.grad = None
        self.requires_grad = bool(requires_grad)
        self._ctx = None
        self._out_index = 0
        self.name = name
        self._keras_mask = None

    @classmethod
    def _wrap(cls, array, requires_grad):
        """Fast path for ops: wrap an array without any conversion or checks."""
        t = cls.__new__(cls)
        t.data = array
        t.grad = None
        t.requires_grad = requires_grad
        t._ctx = None
        t._out_index = 0
        t.name = None
        t._keras_mask = None
        return t

    # -- array facts -------------------------------------------------------------------------
    shape = property(lambda self: self.data.shape, doc="the array's shape")
    ndim = property(lambda self: self.data.ndim, doc="number of dimensions")
    dtype = property(lambda self: self.data.dtype, doc="the array's NumPy dtype")
    size = property(lambda self: self.data.size, doc="number of elements")
    device = property(lambda self: backend.device_of(self.data), doc="'cpu' or 'cuda'")
    is_leaf = property(lambda self: self._ctx is None, doc="True when no recorded op produced this tensor")

    def __len__(self):
        return len(self.data)

    def __repr__(self):
        grad = ", requires_grad=True" if self.requires_grad else ""
        dev = ", device='cuda'" if self.device == "cuda" else ""
        body = np.array2string(self.numpy(), separator=", ", prefix="tensor(")
        return f"tensor({body}, dtype={self.dtype}{dev}{grad})"

    def __array__(self, dtype=None, copy=None):
        a = self.numpy()
        return a if dtype is None else a.astype(dtype)

    def __bool__(self):
        return bool(self.data)

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __index__(self):
        return int(self.item())

    # -- conversion --------------------------------------------------------------------------
    def numpy(self):
        """The data as a NumPy array (copied off the GPU when needed)."""
        return self.data if isinstance(self.data, np.ndarray) else self.data.get()

    def item(self):
        """The single element as a Python number."""
        if self.data.size != 1:
            raise ValueError(f"item() needs a tensor with one element, got shape {self.shape}")
        return self.data.reshape(()).item()

    def tolist(self):
        """The data as nested Python lists."""
        return self.numpy().tolist()

    def detach(self):
        """The same data, cut off from the tape (no gradient flows through it)."""
        return Tensor._wrap(self.data, False)

    def to(self, device):
        """This tensor on `device` ('cpu' or 'cuda'); a differentiable copy when it moves."""
        device = backend.check_device(device)
        if self.device == device:
            return self
        from tinydl.ops.shape import to_device
        return to_device(self, device=device)

    def astype(self, dtype):
        """A copy with another dtype; gradients flow back cast to the original dtype."""
        from tinydl.ops.math import cast
        return cast(self, dtype=backend.as_dtype(dtype))

    def requires_grad_(self, flag=True):
        """Set requires_grad in place and return self."""
        if flag and self.data.dtype.kind not in "fc":
            raise TypeError(f"only floating tensors can require gradients, got dtype {self.data.dtype}")
        self.requires_grad = bool(flag)
        return self

    # -- gradients ---------------------------------------------------------------------------
    def backward(self, gradient=None, retain_graph=False):
        """Compute d(self)/d(leaf) for every leaf that requires grad and add it to the leaf's `.grad`."""
        if not self.requires_grad:
            raise RuntimeError("backward() on a tensor that does not require grad: no input of the ops "
                               "that produced it has requires_grad=True")
        if gradient is None:
            if self.data.size != 1:
                raise RuntimeError(f"backward() on a non-scalar tensor of shape {self.shape} needs a "
                                   "gradient argument of the same shape")
            gradient = backend.array_module(self.data).ones_like(self.data)
        else:
            gradient = gradient.data if isinstance(gradient, Tensor) else gradient
            xp = backend.array_module(self.data)
            gradient = xp.asarray(gradient, dtype=self.data.dtype)
            if gradient.shape != self.shape:
                raise ValueError(f"backward() gradient has shape {gradient.shape}, expected {self.shape}")
        autograd.backward(self, gradient, retain_graph=retain_graph)

    def zero_grad(self):
        """Forget the accumulated gradient."""
        self.grad = None

    # -- operators ---------------------------------------------------------------------------
    def __add__(self, other):
        return _ops.add(self, other)

    def __radd__(self, other):
        return _ops.add(other, self)

    def __sub__(self, other):
        return _ops.subtract(self, other)

    def __rsub__(self, other):
        return _ops.subtract(other, self)

    def __mul__(self, other):
        return _ops.multiply(self, other)

    def __rmul__(self, other):
        return _ops.multiply(other, self)

    def __truediv__(self, other):
        return _ops.divide(self, other)

    def __rtruediv__(self, other):
        return _ops.divide(other, self)

    def __pow__(self, other):
        return _ops.power(self, other)

    def __rpow__(self, other):
        return _ops.power(other, self)

    def __matmul__(self, other):
        return _ops.matmul(self, other)

    def __rmatmul__(self, other):
        return _ops.matmul(other, self)

    def __neg__(self):
        return _ops.negative(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return _ops.abs(self)

    def __getitem__(self, index):
        return _ops.getitem(self, index)

    def __eq__(self, other):
        return _ops.equal(self, other)

    def __ne__(self, other):
        return _ops.not_equal(self, other)

    def __lt__(self, other):
        return _ops.less(self, other)

    def __le__(self, other):
        return _ops.less_equal(self, other)

    def __gt__(self, other):
        return _ops.greater(self, other)

    def __ge__(self, other):
        return _ops.greater_equal(self, other)

    __hash__ = object.__hash__

    @property
    def T(self):
        """The transpose (all axes reversed)."""
        return _ops.transpose(self)


def tensor(data, requires_grad=False, dtype=None, device=None):
    """Make a Tensor from a list, scalar, array or Tensor (Python floats become the default dtype)."""
    if isinstance(data, Tensor):
        data = data.data
    return Tensor(data, requires_grad=requires_grad, dtype=dtype, device=device)


def as_tensor(x, like=None):
    """`x` as a Tensor without copying; Python scalars take the dtype of the Tensor `like` when given."""
    if isinstance(x, Tensor):
        return x
    if like is not None and isinstance(x, (int, float, bool, np.number)) and like.data.dtype.kind in "fc":
        xp = backend.array_module(like.data)
        return Tensor._wrap(xp.asarray(x, dtype=like.data.dtype), False)
    if isinstance(x, (list, tuple, int, float, bool)):
        return Tensor(x)
    if like is not None and backend.device_of(x) != like.device:
        x = backend.to_device(x, like.device)
    return Tensor._wrap(x if hasattr(x, "dtype") and hasattr(x, "shape") else np.asarray(x), False)


def _to_array(data, dtype, device):
    """An array on `device` with `dtype`; Python floats get the default dtype, as in Keras/PyTorch."""
    if isinstance(data, Tensor):
        data = data.data
    if dtype is not None:
        dtype = backend.as_dtype(dtype)
    device = backend.check_device(device) if device is not None else None
    if not hasattr(data, "dtype") or not hasattr(data, "shape"):
        arr = np.asarray(data)
        if dtype is None and arr.dtype.kind == "f":
            dtype = backend.default_dtype()
        data = arr if dtype is None else arr.astype(dtype, copy=False)
    elif dtype is not None and data.dtype != dtype:
        data = data.astype(dtype)
    if device is None:
        device = backend.get_default_device() if isinstance(data, np.ndarray) else backend.device_of(data)
    return backend.to_device(data, device)


from tinydl import ops as _ops  # noqa: E402  (ops import Tensor; bound here after the class exists)
