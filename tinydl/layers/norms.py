"""More normalisation layers (Keras 3): UnitNormalization, RMSNormalization, GroupNormalization,
SpectralNormalization."""
import numpy as np

from tinydl import constraints, initializers, ops, regularizers
from tinydl.autograd import no_grad
from tinydl.io.config import deserialize
from tinydl.layers.base import InputSpec, Layer
from tinydl.layers.normalization import affine_config
from tinydl.layers.recurrent import Wrapper

__all__ = ["UnitNormalization", "RMSNormalization", "GroupNormalization", "SpectralNormalization"]


class UnitNormalization(Layer):
    """Scale each sample to unit L2 norm over `axis` (an int or a list): `x / sqrt(max(sum x**2, 1e-12))`."""

    supports_masking = True

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axis, (list, tuple)):
            self.axis = [int(a) for a in axis]
        elif isinstance(axis, int):
            self.axis = axis
        else:
            raise TypeError(f"UnitNormalization '{self.name}': axis must be an int or a list of ints, got {axis!r}")

    def call(self, inputs):
        axes = tuple(self.axis) if isinstance(self.axis, list) else self.axis
        square_sum = ops.sum(inputs * inputs, axis=axes, keepdims=True)
        return inputs / ops.sqrt(ops.maximum(square_sum, 1e-12))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


class RMSNormalization(Layer):
    """`x / sqrt(mean(x**2 over axis) + epsilon) * scale`, one trainable `scale` per position of `axis` (an int
    or a list of trailing axes), as Keras 3's RMSNormalization."""

    def __init__(self, axis=-1, epsilon=1e-6, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axis, (list, tuple)):
            self.axis = sorted(int(a) for a in axis)
        elif isinstance(axis, (int, np.integer)):
            self.axis = int(axis)
        else:
            raise TypeError(f"RMSNormalization '{self.name}': axis must be an int or a list of ints, got {axis!r}")
        self.epsilon = float(epsilon)
        self.scale = None

    def build(self, input_shape):
        ndim = len(input_shape)
        axes = self.axis if isinstance(self.axis, list) else [self.axis]
        for a in axes:
            if not -ndim <= a < ndim:
                raise ValueError(f"RMSNormalization '{self.name}': axis {a} is out of bounds for input shape "
                                 f"{tuple(input_shape)} (axis={self.axis})")
        shape = tuple(input_shape[a] for a in axes)
        if any(d is None for d in shape):
            raise ValueError(f"RMSNormalization '{self.name}' needs known sizes on axis {self.axis}, got input "
                             f"shape {tuple(input_shape)}")
        self.axis = axes  # Keras stores the axis as a list once built (it shows in get_config)
        self.scale = self.add_weight("scale", shape, "ones")

    def call(self, inputs):
        ndim = inputs.ndim
        axes = sorted(a % ndim for a in self.axis)
        # scale is shaped like the normalised axes: place it on them (Keras broadcasts, right for trailing axes)
        shape = [1] * ndim
        for a in axes:
            shape[a] = inputs.shape[a]
        scale = ops.reshape(self.scale, tuple(shape))
        return ops.rms_normalization(inputs, scale=scale, axis=tuple(axes), epsilon=self.epsilon)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "epsilon": self.epsilon}


class GroupNormalization(Layer):
    """Split the channels (`axis`) into `groups` and normalise each sample's group over its channels and all
    other non-batch axes; then scale by gamma and shift by beta, one per channel (Keras's weights)."""

    supports_masking = True

    def __init__(self, groups=32, axis=-1, epsilon=1e-3, center=True, scale=True, beta_initializer="zeros",
                 gamma_initializer="ones", beta_regularizer=None, gamma_regularizer=None, beta_constraint=None,
                 gamma_constraint=None, **kwargs):
        super().__init__(**kwargs)
        self.groups, self.axis, self.epsilon = int(groups), int(axis), float(epsilon)
        self.center, self.scale = bool(center), bool(scale)
        self.beta_initializer = _object(beta_initializer)
        self.gamma_initializer = _object(gamma_initializer)
        self.beta_regularizer = regularizers.get(_object(beta_regularizer))
        self.gamma_regularizer = regularizers.get(_object(gamma_regularizer))
        self.beta_constraint = constraints.get(beta_constraint)
        self.gamma_constraint = constraints.get(gamma_constraint)
        self.gamma = self.beta = None

    def build(self, input_shape):
        ndim = len(input_shape)
        if not -ndim < self.axis < ndim or self.axis % ndim == 0:
            raise ValueError(f"GroupNormalization '{self.name}': axis={self.axis} is not a non-batch axis of input "
                             f"shape {tuple(input_shape)}")
        dim = input_shape[self.axis]
        if dim is None:
            raise ValueError(f"GroupNormalization '{self.name}' needs a known size on axis {self.axis}, got input "
                             f"shape {tuple(input_shape)}")
        if dim < self.groups or dim % self.groups:
            raise ValueError(f"GroupNormalization '{self.name}': groups={self.groups} must divide the {dim} "
                             f"channels on axis {self.axis} (and be at most {dim})")
        if self.scale:
            self.gamma = self.add_weight("gamma", (dim,), self.gamma_initializer, regularizer=self.gamma_regularizer,
                                         constraint=self.gamma_constraint)
        if self.center:
            self.beta = self.add_weight("beta", (dim,), self.beta_initializer, regularizer=self.beta_regularizer,
                                        constraint=self.beta_constraint)
        self.input_spec = InputSpec(ndim=ndim, axes={self.axis: dim})

    def call(self, inputs):
        axis = self.axis % inputs.ndim
        shape = tuple(inputs.shape)
        grouped = shape[:axis] + (self.groups, shape[axis] // self.groups) + shape[axis + 1:]
        x = ops.reshape(inputs, grouped)
        reduce = tuple(a for a in range(1, x.ndim) if a != axis)
        centred = x - ops.mean(x, axis=reduce, keepdims=True)
        x = centred / ops.sqrt(ops.mean(centred * centred, axis=reduce, keepdims=True) + self.epsilon)
        x = ops.reshape(x, shape)
        channel = [1] * len(shape)
        channel[axis] = shape[axis]
        if self.gamma is not None:
            x = x * ops.reshape(self.gamma, channel)
        if self.beta is not None:
            x = x + ops.reshape(self.beta, channel)
        return x

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "groups": self.groups, "axis": self.axis, "epsilon": self.epsilon,
                "center": self.center, "scale": self.scale, **affine_config(self)}


class SpectralNormalization(Wrapper):
    """Keeps the wrapped layer's kernel (or embeddings) at spectral norm about 1: each training call runs
    `power_iterations` steps of power iteration from the stored vector `u` and divides the kernel by the
    estimated largest singular value, in place (Keras 3's behaviour; inference leaves the kernel alone).

    Weights (Keras's order): the kernel, `vector_u` (1, kernel.shape[-1], not trainable), the layer's others.
    """

    def __init__(self, layer, power_iterations=1, **kwargs):
        super().__init__(layer, **kwargs)
        if int(power_iterations) <= 0:
            raise ValueError(f"SpectralNormalization '{self.name}': power_iterations must be a positive int, got "
                             f"{power_iterations}")
        self.power_iterations = int(power_iterations)

    def build(self, input_shape):
        if not self.layer.built:
            self.layer._build_shapes = tuple(input_shape)
            self.layer.build(tuple(input_shape))
        self.kernel = getattr(self.layer, "kernel", None)
        if self.kernel is None:
            self.kernel = getattr(self.layer, "embeddings", None)
        if self.kernel is None:
            raise ValueError(f"SpectralNormalization '{self.name}' wraps a layer with a `kernel` or `embeddings` "
                             f"weight, got {type(self.layer).__name__} '{self.layer.name}'")
        self.vector_u = self.add_weight("vector_u", (1, self.kernel.shape[-1]),
                                        initializers.TruncatedNormal(stddev=0.02), trainable=False,
                                        dtype=self.kernel.dtype)
        # Keras tracks the kernel as the wrapper's own variable too: own [kernel, vector_u], then the layer's
        self._weights.insert(0, self.kernel)

    def call(self, inputs, training=False):
        if training and np.any(self.kernel.numpy() != 0):
            self._normalize_kernel()
        return self.layer(inputs)

    def _normalize_kernel(self):
        """One round of power iteration; divides the kernel by sigma = v W u^T and stores the new u."""
        with no_grad():
            kernel = self.kernel.numpy()
            weights = kernel.reshape(-1, kernel.shape[-1])
            u = self.vector_u.numpy()
            for _ in range(self.power_iterations):
                v = _unit(u @ weights.T)
                u = _unit(v @ weights)
            sigma = (v @ weights @ u.T).item()
            self.vector_u.assign(u)
            self.kernel.assign(kernel / sigma)

    def get_config(self):
        return {**super().get_config(), "power_iterations": self.power_iterations}


def _unit(x):
    """x over its L2 norm (Keras's normalize with axis=None, epsilon 1e-12)."""
    return x / np.sqrt(max(float(np.sum(x * x)), 1e-12))


def _object(value):
    """Keras configs hold initializers/regularizers as dicts: objects from them; names and objects as given."""
    return deserialize(value) if isinstance(value, dict) else value
