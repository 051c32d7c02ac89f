"""Weight penalties with Keras 3's names and defaults: `reg(weight) -> scalar Tensor` added to the loss.

    L1(l1=0.01):  l1 * sum(|w|)
    L2(l2=0.01):  l2 * sum(w ** 2)        (no factor 1/2, as Keras)
    L1L2(l1=0.0, l2=0.0): both
"""
import numpy as np

from tinydl import ops
from tinydl.io.config import ConfigMixin, Family, register_serializable, serialize
from tinydl.tensor import Tensor, as_tensor

__all__ = ["Regularizer", "L1", "L2", "L1L2", "get", "serialize", "deserialize"]


class Regularizer(ConfigMixin):
    """Base class: `__call__(weight) -> scalar Tensor`, `get_config()`, `from_config(config)`."""

    def __call__(self, x):
        return 0.0

    def get_config(self):
        return {}


@register_serializable()
class L1(Regularizer):
    """l1 * sum(|w|)."""

    def __init__(self, l1=0.01):
        self.l1 = _check("L1", "l1", l1)

    def __call__(self, x):
        return self.l1 * ops.sum(ops.abs(_t(x)))

    def get_config(self):
        return {"l1": self.l1}


@register_serializable()
class L2(Regularizer):
    """l2 * sum(w ** 2)."""

    def __init__(self, l2=0.01):
        self.l2 = _check("L2", "l2", l2)

    def __call__(self, x):
        return self.l2 * ops.sum(ops.square(_t(x)))

    def get_config(self):
        return {"l2": self.l2}


@register_serializable()
class L1L2(Regularizer):
    """l1 * sum(|w|) + l2 * sum(w ** 2); Keras defaults both to 0."""

    def __init__(self, l1=0.0, l2=0.0):
        self.l1 = _check("L1L2", "l1", l1)
        self.l2 = _check("L1L2", "l2", l2)

    def __call__(self, x):
        x = _t(x)
        total = None
        if self.l1:
            total = self.l1 * ops.sum(ops.abs(x))
        if self.l2:
            term = self.l2 * ops.sum(ops.square(x))
            total = term if total is None else total + term
        return total if total is not None else ops.sum(x * 0.0)

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}


@register_serializable()
class OrthogonalRegularizer(Regularizer):
    """factor * mean |cosine| between distinct rows (mode="rows") or columns of a rank-2 weight."""

    def __init__(self, factor=0.01, mode="rows"):
        self.factor = _check("OrthogonalRegularizer", "factor", factor)
        if mode not in ("rows", "columns"):
            raise ValueError(f'Invalid value for argument `mode`. Expected one of {{"rows", "columns"}}. '
                             f"Received: mode={mode}")
        self.mode = mode

    def __call__(self, x):
        x = _t(x)
        if x.ndim != 2:
            raise ValueError(f"Inputs to OrthogonalRegularizer must have rank 2. Received: inputs.shape={x.shape}")
        if self.mode == "columns":
            x = ops.transpose(x)
        unit = x / ops.sqrt(ops.maximum(ops.sum(ops.square(x), axis=1, keepdims=True), 1e-12))
        size = x.shape[0]
        off_diagonal = ops.matmul(unit, ops.transpose(unit)) * (1.0 - np.eye(size, dtype=x.dtype))
        return self.factor * 0.5 * ops.sum(ops.abs(off_diagonal)) / (size * (size - 1.0) / 2.0)

    def get_config(self):
        return {"factor": self.factor, "mode": self.mode}


_ALIASES = {"l1": L1, "l2": L2, "l1_l2": L1L2, "l1l2": L1L2, "orthogonal_regularizer": OrthogonalRegularizer}


_FAMILY = Family("regularizer", _ALIASES, Regularizer)
get = _FAMILY.get
deserialize = _FAMILY.deserialize


def _check(owner, name, value):
    """A non-negative float factor, or a clear error."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{owner}: {name} must be a number, got {value!r}") from None
    if value < 0 or value != value:
        raise ValueError(f"{owner}: {name} must be a non-negative number, got {value}")
    return value


def _t(x):
    """A weight (Tensor, array or an object with a Tensor `.value`) as a Tensor."""
    if isinstance(x, Tensor):
        return x
    return as_tensor(getattr(x, "value", x))


# Keras's lower-case names for the same classes (keras.regularizers.l2 is L2)
l1, l2, l1_l2, orthogonal_regularizer = L1, L2, L1L2, OrthogonalRegularizer
__all__ += ["OrthogonalRegularizer", "l1", "l2", "l1_l2", "orthogonal_regularizer"]
