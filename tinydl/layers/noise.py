"""Noise and dropout variants, active only while training: GaussianNoise, GaussianDropout, AlphaDropout,
SpatialDropout1D/2D/3D (Keras 3 arguments and configs).

A layer given a `seed` draws from its own generator (so two runs with the same seed draw the same noise);
without one it draws from tinydl's global generator (`tinydl.set_seed`).
"""
import math

import numpy as np

from tinydl import backend
from tinydl.layers.base import InputSpec, Layer
from tinydl.layers.core import Dropout
from tinydl.tensor import Tensor

__all__ = ["GaussianNoise", "GaussianDropout", "AlphaDropout", "SpatialDropout1D", "SpatialDropout2D",
           "SpatialDropout3D"]

# SELU's constants: AlphaDropout keeps a SELU network's mean and variance
_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


class GaussianNoise(Layer):
    """Adds zero-mean Gaussian noise of standard deviation `stddev` while training; identity otherwise."""

    supports_masking = True

    def __init__(self, stddev, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0 <= stddev <= 1:
            raise ValueError(f"GaussianNoise '{self.name}': stddev must be a float between 0 and 1, got {stddev}")
        self.stddev, self.seed = float(stddev), seed
        self._rng = _generator(seed)

    def call(self, inputs, training=False):
        if not training or self.stddev == 0:
            return inputs
        noise = self._rng().normal(0.0, self.stddev, size=inputs.shape)
        return inputs + _constant(noise, inputs)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "stddev": self.stddev, "seed": self.seed}


class GaussianDropout(Layer):
    """Multiplies by Gaussian noise of mean 1 and variance `rate / (1 - rate)` while training."""

    supports_masking = True

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0 <= rate <= 1:
            raise ValueError(f"GaussianDropout '{self.name}': rate must be a float between 0 and 1, got {rate}")
        self.rate, self.seed = float(rate), seed
        self._rng = _generator(seed)

    def call(self, inputs, training=False):
        if not training or not 0 < self.rate < 1:
            return inputs
        stddev = math.sqrt(self.rate / (1.0 - self.rate))
        return inputs * _constant(self._rng().normal(1.0, stddev, size=inputs.shape), inputs)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


class AlphaDropout(Layer):
    """Dropout for SELU networks: dropped units take SELU's negative saturation, then an affine map
    restores the input's mean and variance (Keras's formula)."""

    supports_masking = True

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0 <= rate <= 1:
            raise ValueError(f"AlphaDropout '{self.name}': rate must be a float between 0 and 1, got {rate}")
        self.rate, self.seed = float(rate), seed
        self.noise_shape = None if noise_shape is None else list(noise_shape)
        self._rng = _generator(seed)

    def call(self, inputs, training=False):
        if not training or self.rate <= 0:
            return inputs
        kept = (self._rng().random(_noise_shape(self.noise_shape, inputs, self)) >= self.rate).astype(inputs.dtype)
        alpha_p = -_SELU_ALPHA * _SELU_SCALE
        a = ((1 - self.rate) * (1 + self.rate * alpha_p ** 2)) ** -0.5
        b = -a * alpha_p * self.rate
        # a * (x * kept + alpha_p * (1 - kept)) + b, as one multiply and one add of constants
        return inputs * _constant(a * kept, inputs) + _constant(a * alpha_p * (1 - kept) + b, inputs)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed, "noise_shape": self.noise_shape}


class SpatialDropout1D(Dropout):
    """Dropout of whole feature maps: one draw per (sample, channel) of a (batch, steps, channels) input."""

    supports_masking = False
    _rank = 3

    def __init__(self, rate, seed=None, name=None, dtype=None, **kwargs):
        super().__init__(rate, seed=seed, name=name, dtype=dtype, **kwargs)
        # Keras's SpatialDropout takes neither (its mask is always one draw per sample and channel)
        for key, default in (("noise_shape", None), ("trainable", True)):
            if kwargs.get(key, default) != default:
                raise ValueError(f"{type(self).__name__} '{self.name}' takes no {key} argument (Keras's has none), "
                                 f"got {key}={kwargs[key]!r}")
        self.data_format = "channels_last"
        self.input_spec = InputSpec(ndim=self._rank)
        self._rng = _generator(seed)

    def call(self, inputs, training=None):
        if not training or self.rate == 0:
            return inputs
        n, c = inputs.shape[0], inputs.shape[-1 if self.data_format == "channels_last" else 1]
        spatial = [1] * (self._rank - 2)
        shape = (n, *spatial, c) if self.data_format == "channels_last" else (n, c, *spatial)
        keep = self._rng().random(shape) < 1.0 - self.rate
        return inputs * _constant(keep / (1.0 - self.rate), inputs)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        for key in ("noise_shape", "trainable"):  # Keras's SpatialDropout configs have neither
            config.pop(key)
        return config


class SpatialDropout2D(SpatialDropout1D):
    """Dropout of whole 2D feature maps: one draw per (sample, channel) of an image batch."""

    _rank = 4

    def __init__(self, rate, data_format=None, seed=None, name=None, dtype=None, **kwargs):
        super().__init__(rate, seed=seed, name=name, dtype=dtype, **kwargs)
        if data_format not in (None, "channels_last", "channels_first"):
            raise ValueError(f"{type(self).__name__} '{self.name}': data_format must be 'channels_last' or "
                             f"'channels_first', got {data_format!r}")
        self.data_format = data_format or "channels_last"

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format}


class SpatialDropout3D(SpatialDropout2D):
    """Dropout of whole 3D feature maps: one draw per (sample, channel) of a volume batch."""

    _rank = 5


def _generator(seed):
    """A function giving the generator to draw from: the layer's own when seeded, else tinydl's global one."""
    if seed is None:
        return backend.rng
    own = np.random.default_rng(int(seed))
    return lambda: own


def _constant(array, like):
    """A NumPy array as a constant Tensor on `like`'s device and dtype (noise takes no gradient)."""
    return Tensor._wrap(backend.to_device(np.asarray(array, dtype=like.dtype), like.device), False)


def _noise_shape(noise_shape, inputs, layer):
    """Keras's noise_shape: None entries take the input's size; the rest broadcast."""
    if noise_shape is None:
        return tuple(inputs.shape)
    if len(noise_shape) != inputs.ndim:
        raise ValueError(f"{type(layer).__name__} '{layer.name}': noise_shape {noise_shape} needs one entry per "
                         f"input dimension, got input shape {tuple(inputs.shape)}")
    return tuple(d if n is None else int(n) for n, d in zip(noise_shape, inputs.shape))
