"""Normalisation layers: BatchNormalization and LayerNormalization (Keras 3 arguments and weights)."""
from tinydl import constraints, distribution, ops
from tinydl.autograd import no_grad
from tinydl.io.config import deserialize, serialize
from tinydl.layers.base import InputSpec, Layer
from tinydl.tensor import Tensor

__all__ = ["BatchNormalization", "LayerNormalization"]


class BatchNormalization(Layer):
    """Normalise each channel (`axis`) with the batch's statistics while training, and with moving
    averages of them in inference: `moving = moving * momentum + batch * (1 - momentum)`.

    Weights in Keras's order: gamma, beta (trainable), moving_mean, moving_variance (not trainable).
    A frozen layer (`trainable=False`) always runs in inference mode, as in Keras 3.
    """

    supports_masking = True

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones", moving_mean_initializer="zeros",
                 moving_variance_initializer="ones", beta_regularizer=None, gamma_regularizer=None,
                 beta_constraint=None, gamma_constraint=None, synchronized=False, renorm=False,
                 renorm_clipping=None, renorm_momentum=0.99, **kwargs):
        super().__init__(**kwargs)
        if renorm:
            raise NotImplementedError(f"BatchNormalization '{self.name}': renorm=True is not supported")
        if isinstance(axis, (list, tuple)):
            if len(axis) != 1:
                raise ValueError(f"BatchNormalization '{self.name}' normalises one axis, got axis={axis}")
            axis = axis[0]
        self.axis = int(axis)
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.center = bool(center)
        self.scale = bool(scale)
        self.beta_initializer = _maybe_deserialize(beta_initializer)
        self.gamma_initializer = _maybe_deserialize(gamma_initializer)
        self.moving_mean_initializer = _maybe_deserialize(moving_mean_initializer)
        self.moving_variance_initializer = _maybe_deserialize(moving_variance_initializer)
        self.beta_regularizer = _maybe_deserialize(beta_regularizer)
        self.gamma_regularizer = _maybe_deserialize(gamma_regularizer)
        self.beta_constraint = constraints.get(beta_constraint)
        self.gamma_constraint = constraints.get(gamma_constraint)
        self.synchronized = bool(synchronized)
        self.gamma = self.beta = None

    def build(self, input_shape):
        ndim = len(input_shape)
        if not -ndim <= self.axis < ndim:
            raise ValueError(f"BatchNormalization '{self.name}' has axis={self.axis}, which input shape "
                             f"{tuple(input_shape)} does not have")
        channels = input_shape[self.axis]
        if channels is None:
            raise ValueError(f"BatchNormalization '{self.name}' needs a known size on axis {self.axis}, "
                             f"got input shape {tuple(input_shape)}")
        shape = (channels,)
        if self.scale:
            self.gamma = self.add_weight("gamma", shape, self.gamma_initializer, regularizer=self.gamma_regularizer,
                                         constraint=self.gamma_constraint)
        if self.center:
            self.beta = self.add_weight("beta", shape, self.beta_initializer, regularizer=self.beta_regularizer,
                                        constraint=self.beta_constraint)
        self.moving_mean = self.add_weight("moving_mean", shape, self.moving_mean_initializer, trainable=False)
        self.moving_variance = self.add_weight("moving_variance", shape, self.moving_variance_initializer,
                                               trainable=False)
        self.input_spec = InputSpec(ndim=ndim, axes={self.axis: channels})

    def call(self, inputs, training=None, mask=None):
        if mask is not None and mask.ndim != inputs.ndim - 1:
            raise ValueError(f"BatchNormalization '{self.name}' expects a mask with one dimension less than its "
                             f"input, got mask shape {tuple(mask.shape)} for input shape {tuple(inputs.shape)}")
        if training and self.trainable:
            if self.synchronized and distribution.active() is not None:
                return self._synchronized(inputs, mask)
            if mask is not None:
                mean, var = self._masked_moments(inputs, mask)
                self._update_moving(mean.data, var.data)
                return ops.batch_norm(inputs, self.gamma, self.beta, mean=mean, variance=var, axis=self.axis,
                                      epsilon=self.epsilon)
            y, mean, var = ops.batch_norm(inputs, self.gamma, self.beta, axis=self.axis, epsilon=self.epsilon,
                                          return_stats=True)
            self._update_moving(mean.data, var.data)
            return y
        return ops.batch_norm(inputs, self.gamma, self.beta, mean=self.moving_mean, variance=self.moving_variance,
                              axis=self.axis, epsilon=self.epsilon)

    def _synchronized(self, inputs, mask):
        """Training with the moments of the global batch (every rank's slice), as Keras's synchronized=True."""
        if mask is not None:
            raise ValueError(f"BatchNormalization '{self.name}': synchronized=True does not support masked inputs")
        mean, var = distribution.synchronized_moments(inputs, self.axis)
        self._update_moving(mean.data, var.data)
        return ops.batch_norm(inputs, self.gamma, self.beta, mean=mean, variance=var, axis=self.axis,
                              epsilon=self.epsilon)

    def _masked_moments(self, inputs, mask):
        """Mean and variance over the unmasked positions only, as Keras's BatchNormalization with a mask."""
        axes = tuple(a for a in range(inputs.ndim) if a != self.axis % inputs.ndim)
        if self.axis % inputs.ndim != inputs.ndim - 1:
            raise ValueError(f"BatchNormalization '{self.name}' supports masks only with axis=-1, got axis={self.axis}")
        weights = Tensor._wrap(mask.astype(inputs.dtype)[..., None], False)
        weighted = inputs * weights
        count = ops.sum(weights, axis=axes) + 1e-7
        mean = ops.sum(weighted, axis=axes) / count
        shape = [1 if a in axes else -1 for a in range(inputs.ndim)]
        diff = weighted - ops.reshape(mean, shape)
        var = ops.sum(weights * diff * diff, axis=axes) / count
        return ops.reshape(mean, (-1,)), ops.reshape(var, (-1,))

    def _update_moving(self, mean, var):
        """moving = moving * momentum + batch * (1 - momentum), in place and off the tape."""
        with no_grad():
            for moving, batch in ((self.moving_mean, mean), (self.moving_variance, var)):
                data = moving.data
                data *= self.momentum
                data += (1.0 - self.momentum) * batch.astype(data.dtype, copy=False)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "momentum": self.momentum, "epsilon": self.epsilon,
                "center": self.center, "scale": self.scale,
                "beta_initializer": serialize(self.beta_initializer),
                "gamma_initializer": serialize(self.gamma_initializer),
                "moving_mean_initializer": serialize(self.moving_mean_initializer),
                "moving_variance_initializer": serialize(self.moving_variance_initializer),
                "beta_regularizer": serialize(self.beta_regularizer),
                "gamma_regularizer": serialize(self.gamma_regularizer),
                "beta_constraint": serialize(self.beta_constraint),
                "gamma_constraint": serialize(self.gamma_constraint),
                "synchronized": self.synchronized}


class LayerNormalization(Layer):
    """Normalise each sample over `axis` (an int or a list), then scale by gamma and shift by beta.

    Weights in Keras's order: gamma, beta, each shaped like the input on `axis`. With
    `rms_scaling=True` (Keras 3): `x / sqrt(var(x) + eps) * gamma`, with gamma only.
    """

    supports_masking = True

    def __init__(self, axis=-1, epsilon=1e-3, center=True, scale=True, rms_scaling=False,
                 beta_initializer="zeros", gamma_initializer="ones", beta_regularizer=None,
                 gamma_regularizer=None, beta_constraint=None, gamma_constraint=None, **kwargs):
        super().__init__(**kwargs)
        self.axis = list(axis) if isinstance(axis, (list, tuple)) else int(axis)
        self.epsilon = float(epsilon)
        self.center = bool(center)
        self.scale = bool(scale)
        self.rms_scaling = bool(rms_scaling)
        self.beta_initializer = _maybe_deserialize(beta_initializer)
        self.gamma_initializer = _maybe_deserialize(gamma_initializer)
        self.beta_regularizer = _maybe_deserialize(beta_regularizer)
        self.gamma_regularizer = _maybe_deserialize(gamma_regularizer)
        self.beta_constraint = constraints.get(beta_constraint)
        self.gamma_constraint = constraints.get(gamma_constraint)
        self.gamma = self.beta = None

    def _axes(self, ndim):
        axes = self.axis if isinstance(self.axis, list) else [self.axis]
        for a in axes:
            if not -ndim <= a < ndim:
                raise ValueError(f"LayerNormalization '{self.name}' has axis={self.axis}, which an input with "
                                 f"{ndim} dimensions does not have")
        return tuple(sorted(a % ndim for a in axes))

    def build(self, input_shape):
        axes = self._axes(len(input_shape))
        shape = tuple(input_shape[a] for a in axes)
        if None in shape:
            raise ValueError(f"LayerNormalization '{self.name}' needs known sizes on axis {self.axis}, "
                             f"got input shape {tuple(input_shape)}")
        if self.scale or self.rms_scaling:
            self.gamma = self.add_weight("gamma", shape, self.gamma_initializer, regularizer=self.gamma_regularizer,
                                         constraint=self.gamma_constraint)
        if self.center and not self.rms_scaling:
            self.beta = self.add_weight("beta", shape, self.beta_initializer, regularizer=self.beta_regularizer,
                                        constraint=self.beta_constraint)
        self.input_spec = InputSpec(ndim=len(input_shape), axes={a: input_shape[a] for a in axes})

    def call(self, inputs):
        axes = self._axes(inputs.ndim)
        if self.rms_scaling:
            return self._rms_scaled(inputs, axes)
        return ops.layer_norm(inputs, self.gamma, self.beta, axis=axes, epsilon=self.epsilon)

    def _rms_scaled(self, inputs, axes):
        """Keras's rms_scaling: `x / sqrt(var(x) + eps) * gamma` (the variance, so not centred, no beta)."""
        out = inputs / ops.sqrt(ops.var(inputs, axis=axes, keepdims=True) + self.epsilon)
        if self.gamma is None:
            return out
        shape = [inputs.shape[a] if a in axes else 1 for a in range(inputs.ndim)]
        return out * ops.reshape(self.gamma, shape)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "epsilon": self.epsilon, "center": self.center,
                "scale": self.scale, "rms_scaling": self.rms_scaling, **affine_config(self)}


def _maybe_deserialize(value):
    """Initializer/regularizer configs (dicts, as Keras writes them) as objects; names and objects as given."""
    return deserialize(value) if isinstance(value, dict) else value


def affine_config(layer):
    """The config entries of a norm layer's beta and gamma: initializers, regularizers, constraints (Keras's keys)."""
    return {f"{weight}_{kind}": serialize(getattr(layer, f"{weight}_{kind}"))
            for kind in ("initializer", "regularizer", "constraint") for weight in ("beta", "gamma")}
