"""Weight constraints with Keras 3's names, defaults and formulas, applied by the optimizer after each update.

A constraint is called on a weight (a Tensor, a variable with `.data`, or a raw array) and returns the
projected raw array; the optimizer writes it back in place.

    MaxNorm(max_value=2, axis=0):   w * clip(|w|, 0, max) / (eps + |w|)    (norms along `axis`)
    MinMaxNorm(0.0, 1.0, rate=1.0): w * (rate * clip(|w|, min, max) + (1 - rate) |w|) / (eps + |w|)
    NonNeg():                       w * (w >= 0)
    UnitNorm(axis=0):               w / (eps + |w|)
"""
import numpy as np

from tinydl.backend import array_module
from tinydl.io.config import ConfigMixin, Family, register_serializable, serialize

__all__ = ["Constraint", "MaxNorm", "MinMaxNorm", "NonNeg", "UnitNorm", "get", "serialize", "deserialize"]

EPSILON = 1e-7


class Constraint(ConfigMixin):
    """Base class: `__call__(w) -> array`, `get_config()`, `from_config(config)`."""

    def __call__(self, w):
        return _raw(w)

    def get_config(self):
        return {}


@register_serializable()
class MaxNorm(Constraint):
    """Rescale slices along `axis` whose L2 norm exceeds `max_value` (Keras default 2)."""

    def __init__(self, max_value=2, axis=0):
        self.max_value, self.axis = max_value, axis

    def __call__(self, w):
        w = _raw(w)
        norms = _norms(w, self.axis)
        desired = array_module(w).clip(norms, 0, self.max_value)
        return w * (desired / (EPSILON + norms))

    def get_config(self):
        return {"max_value": self.max_value, "axis": self.axis}


@register_serializable()
class MinMaxNorm(Constraint):
    """Pull slice norms into [min_value, max_value] at speed `rate` (1: exactly)."""

    def __init__(self, min_value=0.0, max_value=1.0, rate=1.0, axis=0):
        self.min_value, self.max_value, self.rate, self.axis = min_value, max_value, rate, axis

    def __call__(self, w):
        w = _raw(w)
        norms = _norms(w, self.axis)
        clipped = array_module(w).clip(norms, self.min_value, self.max_value)
        desired = self.rate * clipped + (1 - self.rate) * norms
        return w * (desired / (EPSILON + norms))

    def get_config(self):
        return {"min_value": self.min_value, "max_value": self.max_value, "rate": self.rate, "axis": self.axis}


@register_serializable()
class NonNeg(Constraint):
    """Negative weights set to zero."""

    def __call__(self, w):
        w = _raw(w)
        return w * (w >= 0).astype(w.dtype)


@register_serializable()
class UnitNorm(Constraint):
    """Slices along `axis` scaled to unit L2 norm."""

    def __init__(self, axis=0):
        self.axis = axis

    def __call__(self, w):
        w = _raw(w)
        return w / (EPSILON + _norms(w, self.axis))

    def get_config(self):
        return {"axis": self.axis}


_ALIASES = {"max_norm": MaxNorm, "min_max_norm": MinMaxNorm, "non_neg": NonNeg, "unit_norm": UnitNorm}


_FAMILY = Family("constraint", _ALIASES, Constraint)
get = _FAMILY.get
deserialize = _FAMILY.deserialize


def _raw(w):
    """The raw array of a Tensor or variable, or `w` itself."""
    if isinstance(w, np.ndarray) or type(w).__module__.startswith("cupy"):
        return w
    return w.data if hasattr(w, "data") else np.asarray(w)


def _norms(w, axis):
    """L2 norms along `axis`, kept broadcastable against w."""
    return array_module(w).sqrt((w * w).sum(axis=axis, keepdims=True))


# Keras's lower-case names for the same classes (keras.constraints.max_norm is MaxNorm)
max_norm, min_max_norm, non_neg, unit_norm = MaxNorm, MinMaxNorm, NonNeg, UnitNorm
__all__ += ["max_norm", "min_max_norm", "non_neg", "unit_norm"]
