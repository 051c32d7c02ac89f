"""Keras's elementwise math beyond the basics: trigonometry, exponents, rounding, binary functions.

Each differentiable op is one `Unary` or `BinaryOp` node given its forward and its derivative as
functions of the raw arrays, so one line says what the op is and what its slope is.
"""
import math

from tinydl.autograd import Function, unbroadcast
from tinydl.backend import array_module
from tinydl.ops._util import pair
from tinydl.ops.math import abs as _abs, divide, subtract
from tinydl.ops.nn import erf
from tinydl.tensor import as_tensor

__all__ = [
    "absolute", "fabs", "sin", "cos", "tan", "arcsin", "arccos", "arctan", "sinh", "cosh", "arcsinh", "arccosh",
    "arctanh", "exp2", "expm1", "log2", "log10", "cbrt", "reciprocal", "rsqrt", "deg2rad", "rad2deg", "sinc",
    "erfc", "erfinv", "arctan2", "hypot", "logaddexp", "logaddexp2", "fmax", "fmin", "mod", "fmod",
    "divide_no_nan", "true_divide", "ldexp",
    "floor", "ceil", "trunc", "round", "floor_divide", "heaviside", "nextafter", "gcd", "lcm", "signbit",
    "isfinite", "isinf", "isnan", "isneginf", "isposinf", "isreal", "isclose", "allclose",
    "logical_and", "logical_or", "logical_xor", "logical_not",
    "bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_not", "bitwise_invert", "bitwise_left_shift",
    "bitwise_right_shift", "left_shift", "right_shift",
]

LN2, LN10 = math.log(2.0), math.log(10.0)


class Unary(Function):
    """y = f(x) elementwise, with dy/dx = slope(xp, x, y); both given at construction."""

    def __init__(self, f, slope):
        self.f, self.slope = f, slope

    def forward(self, x):
        self.x = x
        self.out = self.f(array_module(x), x)
        return self.out

    def backward(self, g):
        return g * self.slope(array_module(g), self.x, self.out)


class BinaryOp(Function):
    """y = f(a, b) with broadcasting; slopes (xp, a, b, y) -> dy/da and dy/db (None: not differentiable)."""

    def __init__(self, f, slope_a, slope_b=None):
        self.f, self.slope_a, self.slope_b = f, slope_a, slope_b

    def forward(self, a, b):
        self.a, self.b = a, b
        self.out = self.f(array_module(a), a, b)
        return self.out

    def backward(self, g):
        xp = array_module(g)
        ga = gb = None
        if self.needs_grad[0] and self.slope_a is not None:
            ga = unbroadcast(g * self.slope_a(xp, self.a, self.b, self.out), self.a.shape)
        if self.needs_grad[1] and self.slope_b is not None:
            gb = unbroadcast(g * self.slope_b(xp, self.a, self.b, self.out), self.b.shape)
        return ga, gb


class NumpyCall(Function):
    """A NumPy (or CuPy) function by name on the input arrays: no gradient (boolean, integer or stepwise)."""
    differentiable = False

    def __init__(self, name, **kwargs):
        self.name, self.kwargs = name, kwargs

    def forward(self, *arrays):
        xp = array_module(arrays[0])
        return xp.asarray(getattr(xp, self.name)(*arrays, **self.kwargs))  # allclose gives a Python bool


def _unary(name, f, slope, doc):
    """A public unary op built on `Unary`."""
    def op(x):
        return Unary(f, slope)(x)
    op.__name__, op.__doc__ = name, doc
    return op


def _binary(name, f, slope_a, slope_b, doc):
    """A public binary op built on `BinaryOp`, Python scalars paired with the Tensor beside them."""
    def op(x1, x2):
        return BinaryOp(f, slope_a, slope_b)(*pair(x1, x2))
    op.__name__, op.__doc__ = name, doc
    return op


def _numpy(name, nargs=1, doc=None, numpy_name=None):
    """A public op without gradient calling NumPy's `numpy_name` (default `name`) on `nargs` inputs;
    nargs "xy" names the two arguments x, y (Keras's bitwise ops) instead of x1, x2."""
    target = numpy_name or name
    if nargs == 1:
        def op(x):
            return NumpyCall(target)(x)
    elif nargs == "xy":
        def op(x, y):
            return NumpyCall(target)(*pair(x, y))
    else:
        def op(x1, x2):
            return NumpyCall(target)(*pair(x1, x2))
    op.__name__ = name
    op.__doc__ = doc or f"NumPy's `{target}` elementwise (no gradient)."
    return op


def absolute(x):
    """|x| (Keras's name for abs)."""
    return _abs(x)


fabs = absolute
sin = _unary("sin", lambda xp, x: xp.sin(x), lambda xp, x, y: xp.cos(x), "Sine.")
cos = _unary("cos", lambda xp, x: xp.cos(x), lambda xp, x, y: -xp.sin(x), "Cosine.")
tan = _unary("tan", lambda xp, x: xp.tan(x), lambda xp, x, y: 1 + y * y, "Tangent.")
arcsin = _unary("arcsin", lambda xp, x: xp.arcsin(x), lambda xp, x, y: 1 / xp.sqrt(1 - x * x), "Inverse sine.")
arccos = _unary("arccos", lambda xp, x: xp.arccos(x), lambda xp, x, y: -1 / xp.sqrt(1 - x * x), "Inverse cosine.")
arctan = _unary("arctan", lambda xp, x: xp.arctan(x), lambda xp, x, y: 1 / (1 + x * x), "Inverse tangent.")
sinh = _unary("sinh", lambda xp, x: xp.sinh(x), lambda xp, x, y: xp.cosh(x), "Hyperbolic sine.")
cosh = _unary("cosh", lambda xp, x: xp.cosh(x), lambda xp, x, y: xp.sinh(x), "Hyperbolic cosine.")
arcsinh = _unary("arcsinh", lambda xp, x: xp.arcsinh(x), lambda xp, x, y: 1 / xp.sqrt(x * x + 1),
                 "Inverse hyperbolic sine.")
arccosh = _unary("arccosh", lambda xp, x: xp.arccosh(x), lambda xp, x, y: 1 / xp.sqrt(x * x - 1),
                 "Inverse hyperbolic cosine (x >= 1).")
arctanh = _unary("arctanh", lambda xp, x: xp.arctanh(x), lambda xp, x, y: 1 / (1 - x * x),
                 "Inverse hyperbolic tangent (|x| < 1).")
exp2 = _unary("exp2", lambda xp, x: xp.exp2(x), lambda xp, x, y: y * LN2, "2 ** x.")
expm1 = _unary("expm1", lambda xp, x: xp.expm1(x), lambda xp, x, y: y + 1, "exp(x) - 1, accurate for small x.")
log2 = _unary("log2", lambda xp, x: xp.log2(x), lambda xp, x, y: 1 / (x * LN2), "Base-2 logarithm.")
log10 = _unary("log10", lambda xp, x: xp.log10(x), lambda xp, x, y: 1 / (x * LN10), "Base-10 logarithm.")
cbrt = _unary("cbrt", lambda xp, x: xp.cbrt(x), lambda xp, x, y: 1 / (3 * y * y), "Cube root (any sign).")
reciprocal = _unary("reciprocal", lambda xp, x: 1 / x, lambda xp, x, y: -y * y, "1 / x.")
rsqrt = _unary("rsqrt", lambda xp, x: 1 / xp.sqrt(x), lambda xp, x, y: -0.5 * y * y * y, "1 / sqrt(x).")
deg2rad = _unary("deg2rad", lambda xp, x: xp.deg2rad(x), lambda xp, x, y: math.pi / 180, "Degrees to radians.")
rad2deg = _unary("rad2deg", lambda xp, x: xp.rad2deg(x), lambda xp, x, y: 180 / math.pi, "Radians to degrees.")


def _sinc_slope(xp, x, y):
    """d/dx sin(pi x) / (pi x) = (cos(pi x) - sinc(x)) / x, which is 0 at x = 0."""
    safe = xp.where(x == 0, 1, x)
    return xp.where(x == 0, 0, (xp.cos(math.pi * x) - y) / safe)


sinc = _unary("sinc", lambda xp, x: xp.sinc(x), _sinc_slope, "Normalised sinc: sin(pi x) / (pi x), 1 at 0.")


def erfc(x):
    """Complementary error function 1 - erf(x)."""
    return subtract(1.0, erf(x))


def _erfinv_array(xp, y):
    """erf^-1 by Newton's method on erf from a closed-form start (Winitzki's approximation)."""
    a = 0.147
    ln = xp.log1p(-y * y)
    t = 2 / (math.pi * a) + ln / 2
    x = xp.sign(y) * xp.sqrt(xp.sqrt(t * t - ln / a) - t)
    for _ in range(3):
        err = erf(x).data - y  # on raw arrays: nothing is recorded
        x = x - err / (2 / math.sqrt(math.pi) * xp.exp(-x * x))
    return x


erfinv = _unary("erfinv", _erfinv_array, lambda xp, x, y: math.sqrt(math.pi) / 2 * xp.exp(y * y),
                "Inverse error function on (-1, 1).")


def _hypot_share(xp, a, b, y):
    return xp.where(y == 0, 0, a / xp.where(y == 0, 1, y))


arctan2 = _binary("arctan2", lambda xp, a, b: xp.arctan2(a, b), lambda xp, a, b, y: b / (a * a + b * b),
                  lambda xp, a, b, y: -a / (a * a + b * b), "Angle of the point (x2, x1), quadrant-aware.")
hypot = _binary("hypot", lambda xp, a, b: xp.hypot(a, b), _hypot_share,
                lambda xp, a, b, y: _hypot_share(xp, b, a, y), "sqrt(x1**2 + x2**2) without overflow.")
logaddexp = _binary("logaddexp", lambda xp, a, b: xp.logaddexp(a, b), lambda xp, a, b, y: xp.exp(a - y),
                    lambda xp, a, b, y: xp.exp(b - y), "log(exp(x1) + exp(x2)) without overflow.")
logaddexp2 = _binary("logaddexp2", lambda xp, a, b: xp.logaddexp2(a, b), lambda xp, a, b, y: xp.exp2(a - y),
                     lambda xp, a, b, y: xp.exp2(b - y), "log2(2**x1 + 2**x2) without overflow.")
fmax = _binary("fmax", lambda xp, a, b: xp.fmax(a, b), lambda xp, a, b, y: (y == a) * 1.0,
               lambda xp, a, b, y: (y != a) * 1.0, "Elementwise maximum that ignores NaN.")
fmin = _binary("fmin", lambda xp, a, b: xp.fmin(a, b), lambda xp, a, b, y: (y == a) * 1.0,
               lambda xp, a, b, y: (y != a) * 1.0, "Elementwise minimum that ignores NaN.")
mod = _binary("mod", lambda xp, a, b: xp.mod(a, b), lambda xp, a, b, y: 1.0,
              lambda xp, a, b, y: -xp.floor(a / b), "Remainder with the sign of the divisor (Python's %).")
fmod = _binary("fmod", lambda xp, a, b: xp.fmod(a, b), lambda xp, a, b, y: 1.0,
               lambda xp, a, b, y: -xp.trunc(a / b), "Remainder with the sign of the dividend (C's fmod).")


def _safe_divide(xp, a, b):
    return xp.where(b == 0, 0, a / xp.where(b == 0, 1, b))


divide_no_nan = _binary("divide_no_nan", _safe_divide, lambda xp, a, b, y: _safe_divide(xp, 1.0, b),
                        lambda xp, a, b, y: -_safe_divide(xp, y, b), "x1 / x2, and 0 where x2 is 0.")


def true_divide(x1, x2):
    """x1 / x2 (Keras's alias of divide)."""
    return divide(x1, x2)


def ldexp(x1, x2):
    """x1 * 2 ** x2 for integer x2; differentiable in x1."""
    x1, x2 = as_tensor(x1), as_tensor(x2)  # not pair(): x2 stays an integer
    return BinaryOp(lambda xp, a, b: xp.ldexp(a, b), lambda xp, a, b, y: xp.ldexp(1.0, b).astype(y.dtype))(x1, x2)


floor = _numpy("floor")
ceil = _numpy("ceil")
trunc = _numpy("trunc")


def round(x, decimals=0):  # noqa: A001  (Keras's and NumPy's name)
    """x rounded half to even at `decimals` places (no gradient: piecewise constant)."""
    return NumpyCall("round", decimals=decimals)(x)


floor_divide = _numpy("floor_divide", 2)
heaviside = _numpy("heaviside", 2, "0 for x1 < 0, x2 at 0, 1 for x1 > 0 (no gradient).")
nextafter = _numpy("nextafter", 2)
gcd = _numpy("gcd", 2)
lcm = _numpy("lcm", 2)
signbit = _numpy("signbit")
isfinite = _numpy("isfinite")
isinf = _numpy("isinf")
isnan = _numpy("isnan")
isneginf = _numpy("isneginf")
isposinf = _numpy("isposinf")
isreal = _numpy("isreal")
logical_and = _numpy("logical_and", 2)
logical_or = _numpy("logical_or", 2)
logical_xor = _numpy("logical_xor", 2)
logical_not = _numpy("logical_not")
bitwise_and = _numpy("bitwise_and", "xy")
bitwise_or = _numpy("bitwise_or", "xy")
bitwise_xor = _numpy("bitwise_xor", "xy")
bitwise_not = _numpy("bitwise_not", numpy_name="invert")
bitwise_invert = _numpy("bitwise_invert", numpy_name="invert")
bitwise_left_shift = _numpy("bitwise_left_shift", "xy", numpy_name="left_shift")
bitwise_right_shift = _numpy("bitwise_right_shift", "xy", numpy_name="right_shift")
left_shift = _numpy("left_shift", "xy")
right_shift = _numpy("right_shift", "xy")


def isclose(x1, x2, rtol=1e-5, atol=1e-8, equal_nan=False):
    """|x1 - x2| <= atol + rtol * |x2| elementwise (boolean, no gradient)."""
    return NumpyCall("isclose", rtol=rtol, atol=atol, equal_nan=equal_nan)(*pair(x1, x2))


def allclose(x1, x2, rtol=1e-5, atol=1e-8, equal_nan=False):
    """True when isclose holds everywhere (a boolean scalar tensor)."""
    return NumpyCall("allclose", rtol=rtol, atol=atol, equal_nan=equal_nan)(*pair(x1, x2))
