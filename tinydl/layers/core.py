"""Core layers: Input, Dense, Activation, Dropout, Flatten, Reshape, Lambda, Identity."""
import base64
import marshal
import types

import numpy as np

from tinydl import activations, backend, constraints, ops, regularizers
from tinydl.io.config import safe_mode, serialize
from tinydl.layers.base import InputSpec, Layer
from tinydl.layers.naming import unique_name
from tinydl.layers.symbolic import KerasTensor, Node, flatten
from tinydl.tensor import Tensor

__all__ = ["InputLayer", "Input", "Dense", "Activation", "ActivityRegularization", "Dropout", "Flatten", "Reshape",
           "Lambda", "Identity"]


class InputLayer(Layer):
    """The source of a functional graph: holds the shape and dtype of one model input."""

    def __init__(self, shape=None, batch_size=None, dtype=None, name=None, batch_shape=None,
                 input_shape=None, batch_input_shape=None, sparse=False, ragged=False, **kwargs):
        shape = shape if shape is not None else input_shape
        if batch_shape is None:
            batch_shape = batch_input_shape if batch_input_shape is not None else (batch_size,) + tuple(shape or ())
        dtype = dtype or "float32"
        super().__init__(name=name or unique_name("input_layer"), dtype=None, **kwargs)
        self.input_dtype = np.dtype(dtype).name
        self.batch_shape = tuple(batch_shape)
        self.built = True
        self.output = KerasTensor(self.batch_shape, self.input_dtype, name=self.name, history=(self, 0, 0))
        self._inbound_nodes.append(Node(self, (), {}, self.output))

    def call(self, inputs):
        return inputs

    def get_config(self):
        return {"batch_shape": list(self.batch_shape), "dtype": self.input_dtype, "sparse": False,
                "name": self.name}

    @classmethod
    def from_config(cls, config):
        config = dict(config)  # keeps batch_shape, which Layer.from_config drops for other layers
        if isinstance(config.get("dtype"), dict):
            config["dtype"] = config["dtype"].get("config", {}).get("name", "float32")
        return cls(**config)


def Input(shape=None, batch_size=None, dtype=None, name=None, batch_shape=None, sparse=False):  # noqa: N802
    """A symbolic input of a functional model: `Input(shape=(28, 28, 1))` (the batch dim is left out)."""
    if shape is None and batch_shape is None:
        raise ValueError("Input() needs `shape` (without the batch dimension) or `batch_shape`")
    return InputLayer(shape=shape, batch_size=batch_size, dtype=dtype, name=name, batch_shape=batch_shape).output


class Dense(Layer):
    """`activation(inputs @ kernel + bias)` over the last axis; kernel (in, units), as Keras."""

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None, lora_rank=None,
                 lora_alpha=None, quantization_config=None, **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        if lora_rank or quantization_config:
            raise NotImplementedError(f"Dense '{self.name}': lora_rank and quantization_config are not supported")
        if int(units) <= 0:
            raise ValueError(f"Dense '{self.name}' needs a positive number of units, got {units}")
        self.units = int(units)
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = kernel_initializer
        self.bias_initializer = bias_initializer
        self.kernel_regularizer = kernel_regularizer
        self.bias_regularizer = bias_regularizer
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.input_spec = InputSpec(min_ndim=2)
        self.supports_masking = True

    def build(self, input_shape):
        last = input_shape[-1]
        if last is None:
            raise ValueError(f"Dense '{self.name}' needs a known last input dimension, got shape {input_shape}")
        self.kernel = self.add_weight("kernel", (last, self.units), self.kernel_initializer,
                                      regularizer=self.kernel_regularizer, constraint=self.kernel_constraint)
        self.bias = self.add_weight("bias", (self.units,), self.bias_initializer, regularizer=self.bias_regularizer,
                                    constraint=self.bias_constraint) if self.use_bias else None
        self.input_spec = InputSpec(min_ndim=2, axes={-1: last})

    def call(self, inputs):
        y = ops.matmul(inputs, self.kernel)
        if self.bias is not None:
            y = y + self.bias
        return self.activation(y)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "activation": activations.serialize(self.activation),
                "use_bias": self.use_bias, "kernel_initializer": serialize(self.kernel_initializer),
                "bias_initializer": serialize(self.bias_initializer),
                "kernel_regularizer": serialize(self.kernel_regularizer),
                "bias_regularizer": serialize(self.bias_regularizer),
                "kernel_constraint": serialize(self.kernel_constraint),
                "bias_constraint": serialize(self.bias_constraint)}


class Activation(Layer):
    """An activation function as a layer: `Activation('relu')`."""

    supports_masking = True

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.get(activation)

    def call(self, inputs):
        return self.activation(inputs)

    def get_config(self):
        return {**super().get_config(), "activation": activations.serialize(self.activation)}


class ActivityRegularization(Layer):
    """Identity that adds `l1 * sum|x| + l2 * sum x**2` (divided by the batch size) to the model's losses."""

    supports_masking = True

    def __init__(self, l1=0.0, l2=0.0, **kwargs):
        super().__init__(activity_regularizer=regularizers.L1L2(l1=l1, l2=l2), **kwargs)
        self.l1, self.l2 = float(l1), float(l2)

    def call(self, inputs):
        return inputs

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.pop("activity_regularizer", None)  # l1 and l2 describe it, as Keras
        return {**config, "l1": self.l1, "l2": self.l2}


class Dropout(Layer):
    """Zero a fraction `rate` of inputs while training (scaled by 1/(1-rate)); identity in inference."""

    supports_masking = True

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0 <= rate < 1:
            raise ValueError(f"Dropout '{self.name}' needs 0 <= rate < 1, got {rate}")
        self.rate = float(rate)
        self.noise_shape = None if noise_shape is None else list(noise_shape)
        self.seed = seed

    def call(self, inputs, training=None):
        if self.noise_shape is None or not training or self.rate == 0:
            return ops.dropout(inputs, self.rate, training=bool(training))
        # one draw per noise_shape entry (None: the input's size), shared along the axes of size 1
        shape = tuple(d if n is None else int(n) for n, d in zip(self.noise_shape, inputs.shape))
        keep = backend.rng().random(shape) < 1.0 - self.rate
        scale = backend.to_device((keep / (1.0 - self.rate)).astype(inputs.dtype), inputs.device)
        return inputs * Tensor._wrap(scale, False)

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed, "noise_shape": self.noise_shape}


class Flatten(Layer):
    """Flatten everything but the batch axis."""

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        if data_format not in (None, "channels_last", "channels_first"):
            raise ValueError(f"Flatten '{self.name}': data_format must be 'channels_last' or 'channels_first', "
                             f"got {data_format!r}")
        self.data_format = data_format or "channels_last"

    def call(self, inputs):
        if self.data_format == "channels_first" and inputs.ndim > 2:  # flatten in channels-last order, as Keras
            inputs = ops.transpose(inputs, (0, *range(2, inputs.ndim), 1))
        return ops.reshape(inputs, (inputs.shape[0], -1))

    def compute_output_shape(self, input_shape):
        rest = input_shape[1:]
        return (input_shape[0], None if None in rest else int(np.prod(rest)))

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format}


class Reshape(Layer):
    """Reshape each sample to `target_shape` (one entry may be -1)."""

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        self.target_shape = tuple(target_shape)

    def call(self, inputs):
        size = int(np.prod(inputs.shape[1:]))
        known = int(np.prod([d for d in self.target_shape if d != -1]))
        if (-1 not in self.target_shape and known != size) or (-1 in self.target_shape and size % known):
            raise ValueError(f"Reshape '{self.name}' cannot reshape input of shape {tuple(inputs.shape)} "
                             f"to target shape {self.target_shape}")
        return ops.reshape(inputs, (inputs.shape[0],) + self.target_shape)

    def get_config(self):
        return {**super().get_config(), "target_shape": list(self.target_shape)}


class Identity(Layer):
    """Returns its input unchanged."""

    supports_masking = True

    def call(self, inputs):
        return inputs


class Lambda(Layer):
    """Wraps a Python function of Tensors as a layer.

    Its config holds the function's bytecode, so building a Lambda from a file runs code: that is
    refused unless the loader is called with `safe_mode=False`.
    """

    def __init__(self, function, output_shape=None, mask=None, arguments=None, **kwargs):
        super().__init__(**kwargs)
        self.function = function
        self.output_shape = output_shape
        self.arguments = arguments or {}
        self.mask = mask

    def call(self, inputs):
        return self.function(inputs, **self.arguments)

    def compute_mask(self, inputs, mask=None):
        """`mask(inputs, mask)` when the Lambda was given a mask function, else that mask value (Keras)."""
        return self.mask(inputs, mask) if callable(self.mask) else self.mask

    def compute_output_spec(self, *args, **kwargs):
        """From `output_shape` when given (a shape without the batch axis, or a function of the input shape),
        else found by running the function (Keras)."""
        if self.output_shape is None:
            return super().compute_output_spec(*args, **kwargs)
        shapes = [t.shape for t in flatten(args[0])]
        shape = shapes[0] if len(shapes) == 1 else shapes
        if callable(self.output_shape):
            return KerasTensor(tuple(self.output_shape(shape)), self.dtype)
        return KerasTensor((shapes[0][0],) + tuple(self.output_shape), self.dtype)

    def get_config(self):
        # a Lambda built from a config keeps that config's code: re-marshalling loaded code gives other bytes
        codes = getattr(self, "_codes", {})
        mask = _function_config(self.mask, codes.get("mask")) if callable(self.mask) else self.mask
        return {**super().get_config(), "function": _function_config(self.function, codes.get("function")),
                "output_shape": self.output_shape, "arguments": self.arguments, "mask": mask}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        codes = {}
        for key in ("function", "mask"):
            if isinstance(config.get(key), dict):
                if safe_mode():
                    raise ValueError(f"Lambda layer '{config.get('name')}' holds Python bytecode; loading it would "
                                     "run code from the file. Pass safe_mode=False if you trust the file.")
                codes[key] = config[key]["config"]["code"]
                config[key] = _function_from_config(config[key])
        layer = super().from_config(config)
        layer._codes = codes
        return layer


def _function_config(function, code=None):
    """A function as Keras's `__lambda__` config: base64 bytecode and its default argument values."""
    code = code or base64.b64encode(marshal.dumps(function.__code__)).decode("ascii")
    defaults = list(function.__defaults__) if function.__defaults__ else None
    return {"class_name": "__lambda__", "config": {"code": code, "defaults": defaults}}


def _function_from_config(config):
    """Inverse of `_function_config` (runs code from the config: callers check safe_mode first)."""
    code = marshal.loads(base64.b64decode(config["config"]["code"]))
    defaults = config["config"].get("defaults")
    return types.FunctionType(code, {"td": __import__("tinydl"), "ops": ops, "np": np},
                              argdefs=tuple(defaults) if defaults else None)
