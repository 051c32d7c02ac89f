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
        return _ops.to_device(self, device=device)

    def astype(self, dtype):
        """A copy with another dtype; gradients flow back cast to the original dtype."""
        return _ops.cast(self, dtype=backend.as_dtype(dtype))

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

    def reshape(self, *shape):
        """The same elements in a new shape: x.reshape(2, 3) or x.reshape((2, 3))."""
        return _ops.reshape(self, shape[0] if len(shape) == 1 and not isinstance(shape[0], int) else shape)

    def transpose(self, *axes):
        """Axes permuted: x.transpose(1, 0) or x.transpose((1, 0)); reversed with no argument."""
        if len(axes) == 1 and not isinstance(axes[0], int):
            axes = axes[0]
        return _ops.transpose(self, axes or None)

    # -- the ops as methods: x.add(y) is td.add(x, y) ---------------------------------------
    # arithmetic and comparison
    def add(self, b):
        """a + b with broadcasting."""
        return _ops.add(self, b)

    def subtract(self, b):
        """a - b with broadcasting."""
        return _ops.subtract(self, b)

    def multiply(self, b):
        """a * b with broadcasting."""
        return _ops.multiply(self, b)

    def divide(self, b):
        """a / b with broadcasting."""
        return _ops.divide(self, b)

    def power(self, b):
        """a ** b with broadcasting; d/db is taken where a > 0."""
        return _ops.power(self, b)

    def negative(self):
        """-x."""
        return _ops.negative(self)

    def exp(self):
        """e ** x."""
        return _ops.exp(self)

    def log(self):
        """Natural logarithm."""
        return _ops.log(self)

    def log1p(self):
        """log(1 + x), accurate for small x."""
        return _ops.log1p(self)

    def sqrt(self):
        """Square root."""
        return _ops.sqrt(self)

    def abs(self):
        """|x|; the gradient at 0 is 0."""
        return _ops.abs(self)

    def maximum(self, b):
        """Elementwise maximum; ties send half the gradient to each side."""
        return _ops.maximum(self, b)

    def minimum(self, b):
        """Elementwise minimum; ties send half the gradient to each side."""
        return _ops.minimum(self, b)

    def clip(self, a_min=None, a_max=None):
        """x limited to [a_min, a_max]; gradient 1 inside the closed interval, 0 outside."""
        return _ops.clip(self, a_min, a_max)

    def cast(self, dtype):
        """x converted to `dtype`; the gradient is cast back."""
        return _ops.cast(self, dtype)

    def sign(self):
        """-1, 0 or 1 by the sign of x (no gradient)."""
        return _ops.sign(self)

    def square(self):
        """x * x."""
        return _ops.square(self)

    def equal(self, b):
        """Elementwise equal comparison (boolean tensor, no gradient)."""
        return _ops.equal(self, b)

    def not_equal(self, b):
        """Elementwise not equal comparison (boolean tensor, no gradient)."""
        return _ops.not_equal(self, b)

    def less(self, b):
        """Elementwise less comparison (boolean tensor, no gradient)."""
        return _ops.less(self, b)

    def less_equal(self, b):
        """Elementwise less equal comparison (boolean tensor, no gradient)."""
        return _ops.less_equal(self, b)

    def greater(self, b):
        """Elementwise greater comparison (boolean tensor, no gradient)."""
        return _ops.greater(self, b)

    def greater_equal(self, b):
        """Elementwise greater equal comparison (boolean tensor, no gradient)."""
        return _ops.greater_equal(self, b)

    # reductions
    def sum(self, axis=None, keepdims=False):
        """Sum over `axis` (all axes when None)."""
        return _ops.sum(self, axis, keepdims)

    def mean(self, axis=None, keepdims=False):
        """Arithmetic mean over `axis`."""
        return _ops.mean(self, axis, keepdims)

    def max(self, axis=None, keepdims=False):
        """Largest element over `axis`; ties share the gradient equally."""
        return _ops.max(self, axis, keepdims)

    def min(self, axis=None, keepdims=False):
        """Smallest element over `axis`; ties share the gradient equally."""
        return _ops.min(self, axis, keepdims)

    def var(self, axis=None, keepdims=False, ddof=0):
        """Variance over `axis` (population variance unless ddof=1), as numpy.var."""
        return _ops.var(self, axis, keepdims, ddof)

    def std(self, axis=None, keepdims=False, ddof=0):
        """Standard deviation over `axis`, as numpy.std."""
        return _ops.std(self, axis, keepdims, ddof)

    def prod(self, axis=None, keepdims=False):
        """Product over `axis`; the gradient is exact even where elements are zero."""
        return _ops.prod(self, axis, keepdims)

    def logsumexp(self, axis=None, keepdims=False):
        """log(sum(exp(x))) over `axis`, stable for large inputs (1e4 does not overflow)."""
        return _ops.logsumexp(self, axis, keepdims)

    def argmax(self, axis=None, keepdims=False):
        """Index of the largest element along `axis` (no gradient)."""
        return _ops.argmax(self, axis, keepdims)

    def argmin(self, axis=None, keepdims=False):
        """Index of the smallest element along `axis` (no gradient)."""
        return _ops.argmin(self, axis, keepdims)

    def cumsum(self, axis=None):
        """Running sum along `axis` (flattened when None), as numpy.cumsum."""
        return _ops.cumsum(self, axis)

    # shapes
    def expand_dims(self, axis):
        """A new axis of length 1 inserted at `axis`."""
        return _ops.expand_dims(self, axis)

    def squeeze(self, axis=None):
        """Axes of length 1 removed (only `axis` when given; it must have length 1)."""
        return _ops.squeeze(self, axis)

    def split(self, indices_or_sections, axis=0):
        """A list of sub-tensors, as numpy.split."""
        return _ops.split(self, indices_or_sections, axis)

    def pad(self, pad_width, mode='constant', constant_values=0):
        """Constant padding, as numpy.pad (`pad_width` an int, a pair, or a pair per axis)."""
        return _ops.pad(self, pad_width, mode, constant_values)

    def take(self, indices, axis=None):
        """Elements of x at integer `indices` along `axis`, as numpy.take; repeated indices add gradients."""
        return _ops.take(self, indices, axis)

    def gather(self, indices, axis=None):
        """Elements of x at integer `indices` along `axis`, as numpy.take; repeated indices add gradients."""
        return _ops.gather(self, indices, axis)

    def broadcast_to(self, shape):
        """x broadcast to `shape` (a read-only view in forward)."""
        return _ops.broadcast_to(self, shape)

    def tile(self, reps):
        """x repeated `reps` times along each axis, as numpy.tile."""
        return _ops.tile(self, reps)

    def repeat(self, repeats, axis=None):
        """Each element repeated, as numpy.repeat."""
        return _ops.repeat(self, repeats, axis)

    def flip(self, axis=None):
        """Order of elements reversed along `axis` (all axes when None)."""
        return _ops.flip(self, axis)

    def moveaxis(self, source, destination):
        """Axis `source` moved to position `destination`, as numpy.moveaxis."""
        return _ops.moveaxis(self, source, destination)

    # matrix product and activations
    def matmul(self, b):
        """Matrix product with NumPy's rules: batched over leading axes, broadcast, 1-D promoted."""
        return _ops.matmul(self, b)

    def tanh(self):
        """Hyperbolic tangent."""
        return _ops.tanh(self)

    def sigmoid(self):
        """1 / (1 + exp(-x)), stable for large |x|."""
        return _ops.sigmoid(self)

    def relu(self):
        """max(x, 0); gradient 0 at 0."""
        return _ops.relu(self)

    def leaky_relu(self, negative_slope=0.2):
        """x for x > 0, else negative_slope * x (Keras's default slope 0.2)."""
        return _ops.leaky_relu(self, negative_slope)

    def elu(self, alpha=1.0):
        """x for x > 0, else alpha * (exp(x) - 1)."""
        return _ops.elu(self, alpha)

    def selu(self):
        """Scaled ELU with the self-normalising constants."""
        return _ops.selu(self)

    def gelu(self, approximate=False):
        """Gaussian error linear unit: x * Phi(x) exactly, or the tanh form when approximate=True."""
        return _ops.gelu(self, approximate)

    def softplus(self):
        """log(1 + exp(x)), stable for large |x|."""
        return _ops.softplus(self)

    def silu(self):
        """x * sigmoid(x) (swish)."""
        return _ops.silu(self)

    def hard_sigmoid(self):
        """relu6(x + 3) / 6, as Keras 3."""
        return _ops.hard_sigmoid(self)

    def softmax(self, axis=-1):
        """exp(x) / sum(exp(x)) along `axis`, stable for logits of 1e4."""
        return _ops.softmax(self, axis)

    def log_softmax(self, axis=-1):
        """log(softmax(x)) computed without overflow or log(0)."""
        return _ops.log_softmax(self, axis)

    def erf(self):
        """The Gauss error function, elementwise."""
        return _ops.erf(self)

    def dropout(self, rate, training=True):
        """Inverted dropout: zero each element with probability `rate`, scale the rest by 1/(1-rate)."""
        return _ops.dropout(self, rate, training)


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
