"""Elementwise arithmetic: add, multiply, power, exp, log, ... and comparisons (no gradient)."""
from tinydl.autograd import Function, unbroadcast
from tinydl.backend import array_module
from tinydl.ops._util import pair
from tinydl.tensor import as_tensor

__all__ = [
    "add", "subtract", "multiply", "divide", "power", "negative", "exp", "log", "log1p", "sqrt", "abs",
    "maximum", "minimum", "clip", "where", "cast", "sign", "square",
    "equal", "not_equal", "less", "less_equal", "greater", "greater_equal",
]


def _broadcast_error(name, a, b):
    """A ValueError naming the op and both shapes."""
    return ValueError(f"{name}: shapes {tuple(a.shape)} and {tuple(b.shape)} cannot be broadcast together")


class _Binary(Function):
    """Elementwise function of two broadcast inputs; subclasses give `compute` and `grads`."""

    saves_inputs = True  # False where the gradients need only the shapes: the input arrays can then go

    def forward(self, a, b):
        try:
            out = self.compute(a, b)
        except ValueError:
            raise _broadcast_error(type(self).__name__.lower(), a, b) from None
        self.a_shape, self.b_shape = a.shape, b.shape
        if self.saves_inputs:
            self.a, self.b = a, b
        return out

    def backward(self, g):
        ga, gb = self.grads(g)
        return (unbroadcast(ga, self.a_shape) if ga is not None else None,
                unbroadcast(gb, self.b_shape) if gb is not None else None)


class Add(_Binary):
    saves_inputs = False
    compute = staticmethod(lambda a, b: a + b)

    def grads(self, g):
        return g, g


class Subtract(_Binary):
    saves_inputs = False
    compute = staticmethod(lambda a, b: a - b)

    def grads(self, g):
        return g, (-g if self.needs_grad[1] else None)


class Multiply(_Binary):
    compute = staticmethod(lambda a, b: a * b)

    def grads(self, g):
        return (g * self.b if self.needs_grad[0] else None), (g * self.a if self.needs_grad[1] else None)


class Divide(_Binary):
    compute = staticmethod(lambda a, b: a / b)

    def grads(self, g):
        ga = g / self.b
        return (ga if self.needs_grad[0] else None), (-ga * self.a / self.b if self.needs_grad[1] else None)


class Power(_Binary):
    def compute(self, a, b):
        self.out = a ** b
        return self.out

    def grads(self, g):
        a, b = self.a, self.b
        ga = g * b * a ** (b - 1) if self.needs_grad[0] else None
        gb = None
        if self.needs_grad[1]:
            xp = array_module(a)
            safe = xp.where(a > 0, a, 1)
            gb = g * self.out * xp.log(safe)
        return ga, gb


class Maximum(_Binary):
    def compute(self, a, b):
        return array_module(a).maximum(a, b)

    def grads(self, g):
        return _select_grads(g, self.a > self.b, self.a == self.b)


class Minimum(_Binary):
    def compute(self, a, b):
        return array_module(a).minimum(a, b)

    def grads(self, g):
        return _select_grads(g, self.a < self.b, self.a == self.b)


def _select_grads(g, first_wins, tie):
    """Gradient split for maximum/minimum: to the winner, half each on ties."""
    share = first_wins + 0.5 * tie
    return g * share.astype(g.dtype), g * (1 - share).astype(g.dtype)


def add(a, b):
    """a + b with broadcasting."""
    return Add.apply(*pair(a, b))


def subtract(a, b):
    """a - b with broadcasting."""
    return Subtract.apply(*pair(a, b))


def multiply(a, b):
    """a * b with broadcasting."""
    return Multiply.apply(*pair(a, b))


def divide(a, b):
    """a / b with broadcasting."""
    return Divide.apply(*pair(a, b))


def power(a, b):
    """a ** b with broadcasting; d/db is taken where a > 0."""
    return Power.apply(*pair(a, b))


def maximum(a, b):
    """Elementwise maximum; ties send half the gradient to each side."""
    return Maximum.apply(*pair(a, b))


def minimum(a, b):
    """Elementwise minimum; ties send half the gradient to each side."""
    return Minimum.apply(*pair(a, b))


class _Unary(Function):
    """Elementwise function of one input; subclasses give `compute(x)` and `grad(g)`."""

    def forward(self, x):
        self.x = x
        self.out = self.compute(x)
        return self.out

    def backward(self, g):
        return self.grad(g)


class Negative(_Unary):
    compute = staticmethod(lambda x: -x)

    def grad(self, g):
        return -g


class Exp(_Unary):
    compute = staticmethod(lambda x: array_module(x).exp(x))

    def grad(self, g):
        return g * self.out


class Log(_Unary):
    compute = staticmethod(lambda x: array_module(x).log(x))

    def grad(self, g):
        return g / self.x


class Log1p(_Unary):
    compute = staticmethod(lambda x: array_module(x).log1p(x))

    def grad(self, g):
        return g / (1 + self.x)


class Sqrt(_Unary):
    compute = staticmethod(lambda x: array_module(x).sqrt(x))

    def grad(self, g):
        return g / (2 * self.out)


class Abs(_Unary):
    compute = staticmethod(lambda x: array_module(x).abs(x))

    def grad(self, g):
        return g * array_module(g).sign(self.x)


class Square(_Unary):
    compute = staticmethod(lambda x: x * x)

    def grad(self, g):
        return 2 * g * self.x


class Clip(_Unary):
    def __init__(self, a_min, a_max):
        self.a_min, self.a_max = a_min, a_max

    def compute(self, x):
        return array_module(x).clip(x, self.a_min, self.a_max)

    def grad(self, g):
        inside = True
        if self.a_min is not None:
            inside = inside & (self.x >= self.a_min)
        if self.a_max is not None:
            inside = inside & (self.x <= self.a_max)
        return g * inside


class Cast(_Unary):
    def __init__(self, dtype):
        self.dtype = dtype

    def compute(self, x):
        return x.astype(self.dtype)

    def grad(self, g):
        return g.astype(self.x.dtype)


class Where(Function):
    def forward(self, cond, x, y):
        self.cond, self.xshape, self.yshape = cond, x.shape, y.shape
        try:
            return array_module(x).where(cond, x, y)
        except ValueError:
            raise ValueError(f"where: shapes {cond.shape}, {x.shape} and {y.shape} cannot be broadcast "
                             "together") from None

    def backward(self, g):
        zero = g.dtype.type(0)
        xp = array_module(g)
        gx = unbroadcast(xp.where(self.cond, g, zero), self.xshape) if self.needs_grad[1] else None
        gy = unbroadcast(xp.where(self.cond, zero, g), self.yshape) if self.needs_grad[2] else None
        return None, gx, gy


def negative(x):
    """-x."""
    return Negative.apply(x)


def exp(x):
    """e ** x."""
    return Exp.apply(x)


def log(x):
    """Natural logarithm."""
    return Log.apply(x)


def log1p(x):
    """log(1 + x), accurate for small x."""
    return Log1p.apply(x)


def sqrt(x):
    """Square root."""
    return Sqrt.apply(x)


def abs(x):  # noqa: A001  (NumPy's name)
    """|x|; the gradient at 0 is 0."""
    return Abs.apply(x)


def square(x):
    """x * x."""
    return Square.apply(x)


def clip(x, a_min=None, a_max=None):
    """x limited to [a_min, a_max]; gradient 1 inside the closed interval, 0 outside."""
    return Clip(a_min=a_min, a_max=a_max)(x)


def cast(x, dtype):
    """x converted to `dtype`; the gradient is cast back."""
    return Cast(dtype=dtype)(x)


def where(condition, x, y):
    """x where condition holds, else y (broadcast); no gradient to the condition."""
    x, y = pair(x, y)
    return Where.apply(as_tensor(condition), x, y)


class _Compare(Function):
    """A comparison: boolean output, no gradient."""
    differentiable = False

    def forward(self, a, b):
        try:
            return self.op(a, b)
        except ValueError:
            raise _broadcast_error(self.name, a, b) from None


def _comparison(name, op):
    """A public comparison function built on `_Compare`."""
    cls = type(name.title().replace("_", ""), (_Compare,), {"op": staticmethod(op), "name": name})

    def compare(a, b):
        return cls.apply(*pair(a, b))
    compare.__name__ = name
    compare.__doc__ = f"Elementwise {name.replace('_', ' ')} comparison (boolean tensor, no gradient)."
    return compare


equal = _comparison("equal", lambda a, b: a == b)
not_equal = _comparison("not_equal", lambda a, b: a != b)
less = _comparison("less", lambda a, b: a < b)
less_equal = _comparison("less_equal", lambda a, b: a <= b)
greater = _comparison("greater", lambda a, b: a > b)
greater_equal = _comparison("greater_equal", lambda a, b: a >= b)


class Sign(Function):
    differentiable = False

    def forward(self, x):
        return array_module(x).sign(x)


def sign(x):
    """-1, 0 or 1 by the sign of x (no gradient)."""
    return Sign.apply(x)
