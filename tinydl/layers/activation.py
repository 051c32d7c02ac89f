"""Activation layers with Keras 3's names, arguments and weights: ReLU, LeakyReLU, PReLU, ELU, Softmax."""
import warnings

from tinydl import activations, constraints, ops, regularizers
from tinydl.io.config import deserialize, serialize
from tinydl.layers.base import Layer
from tinydl.tensor import Tensor

__all__ = ["ReLU", "LeakyReLU", "PReLU", "ELU", "Softmax"]

# Keras's "large negative number" for masked logits in float32/float64 (it uses -1e9 there)
_MASKED_LOGIT = -1e9


class ReLU(Layer):
    """`max(x, 0)` with Keras's optional cap (`max_value`), slope below `threshold` and threshold."""

    supports_masking = True

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, **kwargs):
        super().__init__(**kwargs)
        if max_value is not None and max_value < 0.0:
            raise ValueError(f"ReLU '{self.name}': max_value must be >= 0 or None, got {max_value}")
        if negative_slope is None or negative_slope < 0.0:
            raise ValueError(f"ReLU '{self.name}': negative_slope must be a float >= 0, got {negative_slope}")
        if threshold is None or threshold < 0.0:
            raise ValueError(f"ReLU '{self.name}': threshold must be a float >= 0, got {threshold}")
        self.max_value = None if max_value is None else float(max_value)
        self.negative_slope = float(negative_slope)
        self.threshold = float(threshold)

    def call(self, inputs):
        return activations.relu(inputs, negative_slope=self.negative_slope, max_value=self.max_value,
                                threshold=self.threshold)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "max_value": self.max_value, "negative_slope": self.negative_slope,
                "threshold": self.threshold}


class LeakyReLU(Layer):
    """`x` for x >= 0, `negative_slope * x` below (Keras's default slope 0.3; `alpha` is its old name)."""

    supports_masking = True

    def __init__(self, negative_slope=0.3, **kwargs):
        if "alpha" in kwargs:
            negative_slope = kwargs.pop("alpha")
            warnings.warn("LeakyReLU's argument `alpha` is deprecated: use `negative_slope`", stacklevel=2)
        super().__init__(**kwargs)
        if negative_slope is None or negative_slope < 0.0:
            raise ValueError(f"LeakyReLU '{self.name}': negative_slope must be a float >= 0, got {negative_slope}")
        self.negative_slope = float(negative_slope)

    def call(self, inputs):
        return ops.leaky_relu(inputs, negative_slope=self.negative_slope)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "negative_slope": self.negative_slope}


class PReLU(Layer):
    """`relu(x) - alpha * relu(-x)` with a learned `alpha` per input element (shared along `shared_axes`)."""

    def __init__(self, alpha_initializer="Zeros", alpha_regularizer=None, alpha_constraint=None,
                 shared_axes=None, **kwargs):
        super().__init__(**kwargs)
        self.alpha_initializer = _object(alpha_initializer)
        self.alpha_regularizer = regularizers.get(_object(alpha_regularizer))
        self.alpha_constraint = constraints.get(alpha_constraint)
        if shared_axes is None:
            self.shared_axes = None
        elif isinstance(shared_axes, (list, tuple)):
            self.shared_axes = [int(a) for a in shared_axes]
        else:
            self.shared_axes = [int(shared_axes)]
        self.alpha = None

    def build(self, input_shape):
        shape = list(input_shape[1:])
        for axis in self.shared_axes or ():
            if not 1 <= axis <= len(shape):
                raise ValueError(f"PReLU '{self.name}': shared_axes entry {axis} is not a non-batch axis of input "
                                 f"shape {tuple(input_shape)}")
            shape[axis - 1] = 1
        if None in shape:
            raise ValueError(f"PReLU '{self.name}' needs known sizes on the axes it does not share, got input "
                             f"shape {tuple(input_shape)}; pass shared_axes for the unknown ones")
        self.alpha = self.add_weight("alpha", tuple(shape), self.alpha_initializer,
                                     regularizer=self.alpha_regularizer, constraint=self.alpha_constraint)

    def call(self, inputs):
        return ops.relu(inputs) - self.alpha * ops.relu(-inputs)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "alpha_initializer": serialize(self.alpha_initializer),
                "alpha_regularizer": serialize(self.alpha_regularizer),
                "alpha_constraint": serialize(self.alpha_constraint), "shared_axes": self.shared_axes}


class ELU(Layer):
    """`x` for x > 0, `alpha * (exp(x) - 1)` below."""

    supports_masking = True

    def __init__(self, alpha=1.0, **kwargs):
        super().__init__(**kwargs)
        self.alpha = float(alpha)

    def call(self, inputs):
        return ops.elu(inputs, alpha=self.alpha)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha}


class Softmax(Layer):
    """Softmax over `axis` (an int or a list of axes); masked positions get probability 0, as Keras."""

    supports_masking = True

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = [int(a) for a in axis] if isinstance(axis, (list, tuple)) else int(axis)

    def call(self, inputs, mask=None):
        keep = None
        if mask is not None:
            mask = mask.data if isinstance(mask, Tensor) else mask
            keep = mask if mask.dtype == bool else mask > 0.5
            keep = Tensor._wrap(keep, False)
            inputs = ops.where(keep, inputs, _MASKED_LOGIT)
        axes = self.axis if isinstance(self.axis, list) else [self.axis]
        if len(axes) == 1:
            outputs = ops.softmax(inputs, axis=axes[0])
        else:
            outputs = ops.exp(inputs - ops.logsumexp(inputs, axis=tuple(axes), keepdims=True))
        if keep is not None:  # a row masked entirely gives zeros rather than a uniform distribution
            outputs = outputs * ops.cast(keep, outputs.dtype)
        return outputs

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


def _object(value):
    """Keras configs hold initializers/regularizers as dicts: objects from them; names and objects as given."""
    return deserialize(value) if isinstance(value, dict) else value
