"""Activations, softmax family and dropout: the elementwise and row-wise pieces of neural nets."""
import math

import numpy as np

from tinydl import backend
from tinydl.autograd import Function
from tinydl.backend import array_module

__all__ = [
    "tanh", "sigmoid", "relu", "leaky_relu", "elu", "selu", "gelu", "softplus", "silu", "hard_sigmoid",
    "softmax", "log_softmax", "dropout", "erf",
]

_SELU_ALPHA = 1.6732632423543772
_SELU_SCALE = 1.0507009873554805


class _Activation(Function):
    """Elementwise activation with `compute(x)` and `derivative()` (dy/dx as an array)."""

    def forward(self, x):
        self.x = x
        self.out = self.compute(x)
        return self.out

    def backward(self, g):
        return g * self.derivative()


class Tanh(_Activation):
    compute = staticmethod(lambda x: array_module(x).tanh(x))

    def derivative(self):
        return 1 - self.out * self.out


class Sigmoid(_Activation):
    def compute(self, x):
        return _sigmoid(x)

    def derivative(self):
        return self.out * (1 - self.out)


def _sigmoid(x):
    """Logistic function without overflow for large |x|."""
    xp = array_module(x)
    return 0.5 * (1 + xp.tanh(0.5 * x))


class ReLU(Function):
    """max(x, 0); saves only where x > 0, as booleans: a quarter of a float32 array, and neither x nor
    the output has to stay alive for backward."""

    def forward(self, x):
        self.positive = x > 0
        return array_module(x).maximum(x, 0)

    def backward(self, g):
        return g * self.positive


class LeakyReLU(_Activation):
    def __init__(self, negative_slope):
        self.negative_slope = negative_slope

    def compute(self, x):
        return array_module(x).where(x > 0, x, x * self.negative_slope)

    def derivative(self):
        return array_module(self.x).where(self.x > 0, 1, self.negative_slope).astype(self.x.dtype)


class ELU(_Activation):
    def __init__(self, alpha):
        self.alpha = alpha

    def compute(self, x):
        xp = array_module(x)
        return xp.where(x > 0, x, self.alpha * xp.expm1(xp.minimum(x, 0)))

    def derivative(self):
        xp = array_module(self.x)
        return xp.where(self.x > 0, 1, self.out + self.alpha).astype(self.x.dtype)


class SELU(_Activation):
    def compute(self, x):
        xp = array_module(x)
        return _SELU_SCALE * xp.where(x > 0, x, _SELU_ALPHA * xp.expm1(xp.minimum(x, 0)))

    def derivative(self):
        xp = array_module(self.x)
        neg = _SELU_SCALE * _SELU_ALPHA * xp.exp(xp.minimum(self.x, 0))
        return xp.where(self.x > 0, _SELU_SCALE, neg).astype(self.x.dtype)


class GELU(_Activation):
    def __init__(self, approximate):
        self.approximate = approximate

    def compute(self, x):
        xp = array_module(x)
        if self.approximate:
            self.inner = math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)
            self.t = xp.tanh(self.inner)
            return 0.5 * x * (1 + self.t)
        self.cdf = 0.5 * (1 + _erf_array(x / math.sqrt(2)))
        return x * self.cdf

    def derivative(self):
        x = self.x
        if self.approximate:
            dinner = math.sqrt(2 / math.pi) * (1 + 3 * 0.044715 * x * x)
            return 0.5 * (1 + self.t) + 0.5 * x * (1 - self.t * self.t) * dinner
        pdf = array_module(x).exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
        return self.cdf + x * pdf


class Softplus(_Activation):
    def compute(self, x):
        xp = array_module(x)
        return xp.log1p(xp.exp(-xp.abs(x))) + xp.maximum(x, 0)

    def derivative(self):
        return _sigmoid(self.x)


class SiLU(_Activation):
    def compute(self, x):
        self.s = _sigmoid(x)
        return x * self.s

    def derivative(self):
        return self.s * (1 + self.x * (1 - self.s))


class HardSigmoid(_Activation):
    def compute(self, x):
        return array_module(x).clip(x / 6 + 0.5, 0, 1)

    def derivative(self):
        return ((self.x > -3) & (self.x < 3)).astype(self.x.dtype) / 6


def tanh(x):
    """Hyperbolic tangent."""
    return Tanh.apply(x)


def sigmoid(x):
    """1 / (1 + exp(-x)), stable for large |x|."""
    return Sigmoid.apply(x)


def relu(x):
    """max(x, 0); gradient 0 at 0."""
    return ReLU.apply(x)


def leaky_relu(x, negative_slope=0.2):
    """x for x > 0, else negative_slope * x (Keras's default slope 0.2)."""
    return LeakyReLU(negative_slope=negative_slope)(x)


def elu(x, alpha=1.0):
    """x for x > 0, else alpha * (exp(x) - 1)."""
    return ELU(alpha=alpha)(x)


def selu(x):
    """Scaled ELU with the self-normalising constants."""
    return SELU.apply(x)


def gelu(x, approximate=False):
    """Gaussian error linear unit: x * Phi(x) exactly, or the tanh form when approximate=True."""
    return GELU(approximate=approximate)(x)


def softplus(x):
    """log(1 + exp(x)), stable for large |x|."""
    return Softplus.apply(x)


def silu(x):
    """x * sigmoid(x) (swish)."""
    return SiLU.apply(x)


def hard_sigmoid(x):
    """relu6(x + 3) / 6, as Keras 3."""
    return HardSigmoid.apply(x)


class Erf(_Activation):
    def compute(self, x):
        return _erf_array(x)

    def derivative(self):
        return (2 / math.sqrt(math.pi)) * array_module(self.x).exp(-self.x * self.x)


def erf(x):
    """The Gauss error function, elementwise."""
    return Erf.apply(x)


def _erf_array(x):
    """erf on a raw array (a kernel: numba on cpu, cupy on cuda)."""
    return backend.kernel("erf", x)(x)


class Softmax(Function):
    def __init__(self, axis):
        self.axis = axis

    def forward(self, x):
        xp = array_module(x)
        e = xp.exp(x - x.max(axis=self.axis, keepdims=True))
        self.out = e / e.sum(axis=self.axis, keepdims=True)
        return self.out

    def backward(self, g):
        y = self.out
        return y * (g - (g * y).sum(axis=self.axis, keepdims=True))


class LogSoftmax(Function):
    def __init__(self, axis):
        self.axis = axis

    def forward(self, x):
        xp = array_module(x)
        shifted = x - x.max(axis=self.axis, keepdims=True)
        self.out = shifted - xp.log(xp.exp(shifted).sum(axis=self.axis, keepdims=True))
        return self.out

    def backward(self, g):
        xp = array_module(g)
        return g - xp.exp(self.out) * g.sum(axis=self.axis, keepdims=True)


def softmax(x, axis=-1):
    """exp(x) / sum(exp(x)) along `axis`, stable for logits of 1e4."""
    return Softmax(axis=axis)(x)


def log_softmax(x, axis=-1):
    """log(softmax(x)) computed without overflow or log(0)."""
    return LogSoftmax(axis=axis)(x)


class Dropout(Function):
    def __init__(self, rate):
        self.rate = rate

    def forward(self, x):
        xp = array_module(x)
        keep = 1.0 - self.rate
        draw = backend.rng().random(x.shape)
        mask = xp.asarray(draw < keep) if xp is not np else draw < keep
        self.scale = (mask / keep).astype(x.dtype)
        return x * self.scale

    def backward(self, g):
        return g * self.scale


def dropout(x, rate, training=True):
    """Inverted dropout: zero each element with probability `rate`, scale the rest by 1/(1-rate).

    The mask comes from tinydl's generator, so `td.set_seed` makes it reproducible. Identity when
    training is False or rate is 0.
    """
    if not 0 <= rate < 1:
        raise ValueError(f"dropout: rate must be in [0, 1), got {rate}")
    if not training or rate == 0:
        return x
    return Dropout(rate=float(rate))(x)
