"""Convolution layers: Conv1D/2D/3D, Conv1D/2D/3DTranspose, DepthwiseConv1D/2D, SeparableConv1D/2D.

Channels-last by default; `data_format='channels_first'` inputs are transposed to channels-last for the
ops and the output back before the activation.

Names, arguments, defaults, weight names and layouts are Keras 3's: Conv kernel (k..., in/groups, filters),
Conv2DTranspose kernel (kh, kw, filters, in), DepthwiseConv2D kernel (kh, kw, in, multiplier) (Keras 3's name),
SeparableConv2D depthwise_kernel, pointwise_kernel (1, 1, in*multiplier, filters), bias.
The 1D depthwise, separable and transposed layers run the 2D ops on a height-1 image; the 3D ones run
tinydl.ops.volumetric, which reuses the 2D im2col kernels.
"""
from tinydl import activations, constraints, ops
from tinydl.io.config import serialize
from tinydl.layers.base import InputSpec, Layer
from tinydl.ops.convolution import conv_output_length, transposed_length
from tinydl.ops.volumetric import conv3d, conv3d_transpose

__all__ = ["Conv1D", "Conv2D", "Conv3D", "Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose",
           "DepthwiseConv1D", "DepthwiseConv2D", "SeparableConv1D", "SeparableConv2D",
           "Convolution1D", "Convolution2D", "Convolution3D", "Convolution1DTranspose", "Convolution2DTranspose",
           "Convolution3DTranspose", "SeparableConvolution1D", "SeparableConvolution2D"]


class _BaseConv(Layer):
    """What every convolution layer shares: argument checks, the channel check, bias and activation."""

    rank = 2

    def __init__(self, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1,
                 activation=None, use_bias=True, bias_initializer="zeros", bias_regularizer=None,
                 activity_regularizer=None, bias_constraint=None, **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        if data_format not in (None, "channels_last", "channels_first"):
            raise ValueError(f"{self._where()}: data_format must be 'channels_last' or 'channels_first', "
                             f"got {data_format!r}")
        self.kernel_size = _ints(kernel_size, self.rank, "kernel_size", self)
        self.strides = _ints(strides, self.rank, "strides", self)
        self.dilation_rate = _ints(dilation_rate, self.rank, "dilation_rate", self)
        self.padding = str(padding).lower()
        allowed = ("valid", "same", "causal") if self.rank == 1 and self._allows_causal else ("valid", "same")
        if self.padding not in allowed:
            raise ValueError(f"{self._where()}: padding must be one of {allowed}, got {padding!r}")
        self.data_format = data_format or "channels_last"
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.bias_initializer = bias_initializer
        self.bias_regularizer = bias_regularizer
        self.bias_constraint = constraints.get(bias_constraint)
        self.input_spec = InputSpec(ndim=self.rank + 2)

    _allows_causal = False

    def _where(self):
        return f"{type(self).__name__} '{self.name}'"

    def _channels(self, input_shape):
        """The input's channel count, which must be known to build."""
        if len(input_shape) != self.rank + 2:
            raise ValueError(f"{self._where()} expected input with {self.rank + 2} dimensions (batch, "
                             f"{_SPATIAL[self.rank]}, channels), got {tuple(input_shape)}")
        channels = input_shape[self._channel_axis]
        if channels is None:
            raise ValueError(f"{self._where()} needs a known channel dimension, got input shape {tuple(input_shape)}")
        return int(channels)

    def _check_channels(self, shape):
        if len(shape) != self.rank + 2 or shape[self._channel_axis] != self.in_channels:
            raise ValueError(f"{self._where()} expected input with {self.in_channels} channels, got {tuple(shape)}")

    @property
    def _channel_axis(self):
        return 1 if self.data_format == "channels_first" else -1

    def _last(self, x):
        """A channels-first input as channels-last, where the ops compute (channels-last: unchanged)."""
        return ops.transpose(x, (0, *range(2, self.rank + 2), 1)) if self.data_format == "channels_first" else x

    def _last_shape(self, shape):
        shape = tuple(shape)
        return (shape[0], *shape[2:], shape[1]) if self.data_format == "channels_first" else shape

    def _first_shape(self, shape):
        """A channels-last output shape in the layer's data_format."""
        shape = tuple(shape)
        return (shape[0], shape[-1], *shape[1:-1]) if self.data_format == "channels_first" else shape

    def _run(self, fn, *args, **kwargs):
        """Call an op, prefixing its errors with this layer's class and name."""
        try:
            return fn(*args, **kwargs)
        except ValueError as e:
            raise ValueError(f"{self._where()}: {e}") from None

    def _finish(self, y):
        """Bias, back to the layer's data_format, then the activation (on the output as Keras sees it)."""
        if self.use_bias:
            y = y + self.bias
        if self.data_format == "channels_first":
            y = ops.transpose(y, (0, self.rank + 1, *range(1, self.rank + 1)))
        return self.activation(y)

    def _make_bias(self, n):
        self.bias = self.add_weight("bias", (n,), self.bias_initializer, regularizer=self.bias_regularizer,
                                    constraint=self.bias_constraint) \
            if self.use_bias else None

    def _spatial_out(self, input_shape):
        return [conv_output_length(n, k, s, d, self.padding) for n, k, s, d in
                zip(input_shape[1:-1], self.kernel_size, self.strides, self.dilation_rate)]

    def get_config(self):
        return {**super().get_config(), "kernel_size": self.kernel_size, "strides": self.strides,
                "padding": self.padding, "data_format": self.data_format, "dilation_rate": self.dilation_rate,
                "activation": activations.serialize(self.activation), "use_bias": self.use_bias,
                "bias_initializer": serialize(self.bias_initializer),
                "bias_regularizer": serialize(self.bias_regularizer),
                "activity_regularizer": serialize(self.activity_regularizer),
                "bias_constraint": serialize(self.bias_constraint)}


class _Conv(_BaseConv):
    """Conv1D/Conv2D: `activation(conv(inputs, kernel) + bias)`."""

    _allows_causal = True

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1,
                 groups=1, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(kernel_size, strides, padding, data_format, dilation_rate, activation, use_bias,
                         bias_initializer, bias_regularizer, activity_regularizer, bias_constraint, **kwargs)
        if int(filters) <= 0:
            raise ValueError(f"{self._where()} needs a positive number of filters, got {filters}")
        self.filters, self.groups = int(filters), int(groups)
        if self.groups < 1 or self.filters % self.groups:
            raise ValueError(f"{self._where()}: filters={filters} must be divisible by groups={groups}")
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(f"{self._where()}: strides {self.strides} > 1 with dilation_rate "
                             f"{self.dilation_rate} > 1 is not supported")
        self.kernel_initializer = kernel_initializer
        self.kernel_regularizer = kernel_regularizer
        self.kernel_constraint = constraints.get(kernel_constraint)

    def build(self, input_shape):
        self.in_channels = self._channels(input_shape)
        if self.in_channels % self.groups:
            raise ValueError(f"{self._where()}: input channels {self.in_channels} (input shape "
                             f"{tuple(input_shape)}) must be divisible by groups={self.groups}")
        shape = self.kernel_size + (self.in_channels // self.groups, self.filters)
        self.kernel = self.add_weight("kernel", shape, self.kernel_initializer, regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        self._make_bias(self.filters)

    def call(self, inputs):
        self._check_channels(inputs.shape)
        inputs = self._last(inputs)
        conv = conv3d if self.rank == 3 else ops.conv
        # passed straight on: a local name would keep the pre-bias output alive through bias and activation
        return self._finish(self._run(conv, inputs, self.kernel, strides=self.strides, padding=self.padding,
                                      dilation_rate=self.dilation_rate, groups=self.groups))

    def compute_output_shape(self, input_shape):
        self._check_channels(input_shape)
        input_shape = self._last_shape(input_shape)
        return self._first_shape((input_shape[0], *self._spatial_out(input_shape), self.filters))

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "groups": self.groups,
                "kernel_initializer": serialize(self.kernel_initializer),
                "kernel_regularizer": serialize(self.kernel_regularizer),
                "kernel_constraint": serialize(self.kernel_constraint)}


class Conv1D(_Conv):
    """1D convolution over (batch, steps, channels); padding 'valid', 'same' or 'causal'."""

    rank = 1


class Conv2D(_Conv):
    """2D convolution over (batch, height, width, channels); kernel (kh, kw, in/groups, filters)."""

    rank = 2


class Conv3D(_Conv):
    """3D convolution over (batch, depth, height, width, channels); kernel (kd, kh, kw, in/groups, filters)."""

    rank = 3


class _ConvTranspose(_BaseConv):
    """Transposed convolution (the gradient of a convolution w.r.t. its input); kernel (k..., filters, in)."""

    def __init__(self, filters, kernel_size, strides=1, padding="valid", output_padding=None, data_format=None,
                 dilation_rate=1, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(kernel_size, strides, padding, data_format, dilation_rate, activation, use_bias,
                         bias_initializer, bias_regularizer, activity_regularizer, bias_constraint, **kwargs)
        self.filters = int(filters)
        self.output_padding = None if output_padding is None else _ints(output_padding, self.rank,
                                                                         "output_padding", self, minimum=0)
        if self.output_padding is not None and any(p >= s for p, s in zip(self.output_padding, self.strides)):
            raise ValueError(f"{self._where()}: output_padding {self.output_padding} must be smaller than "
                             f"strides {self.strides}")
        self.kernel_initializer = kernel_initializer
        self.kernel_regularizer = kernel_regularizer
        self.kernel_constraint = constraints.get(kernel_constraint)

    def build(self, input_shape):
        self.in_channels = self._channels(input_shape)
        shape = self.kernel_size + (self.filters, self.in_channels)
        self.kernel = self.add_weight("kernel", shape, self.kernel_initializer, regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        self._make_bias(self.filters)

    def call(self, inputs):
        self._check_channels(inputs.shape)
        inputs = self._last(inputs)
        if self.rank == 3:
            y = self._run(conv3d_transpose, inputs, self.kernel, strides=self.strides, padding=self.padding,
                          output_padding=self.output_padding, dilation_rate=self.dilation_rate)
        elif self.rank == 2:
            y = self._run(ops.conv_transpose, inputs, self.kernel, strides=self.strides, padding=self.padding,
                          output_padding=self.output_padding, dilation_rate=self.dilation_rate)
        else:
            pad = None if self.output_padding is None else (0,) + self.output_padding
            y = self._run(ops.conv_transpose, ops.expand_dims(inputs, 1), ops.expand_dims(self.kernel, 0),
                          strides=(1,) + self.strides, padding=self.padding, output_padding=pad,
                          dilation_rate=(1,) + self.dilation_rate)
            y = ops.squeeze(y, 1)
        return self._finish(y)

    def compute_output_shape(self, input_shape):
        self._check_channels(input_shape)
        input_shape = self._last_shape(input_shape)
        pads = self.output_padding or (None,) * self.rank
        sizes = [None if n is None else transposed_length(n, k, s, d, self.padding, p) for n, k, s, d, p in
                 zip(input_shape[1:-1], self.kernel_size, self.strides, self.dilation_rate, pads)]
        return self._first_shape((input_shape[0], *sizes, self.filters))

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "output_padding": self.output_padding,
                "kernel_initializer": serialize(self.kernel_initializer),
                "kernel_regularizer": serialize(self.kernel_regularizer),
                "kernel_constraint": serialize(self.kernel_constraint)}


class Conv1DTranspose(_ConvTranspose):
    """Transposed 1D convolution over (batch, steps, channels); kernel (k, filters, in)."""

    rank = 1


class Conv2DTranspose(_ConvTranspose):
    """Transposed 2D convolution over (batch, height, width, channels); kernel (kh, kw, filters, in)."""

    rank = 2


class Conv3DTranspose(_ConvTranspose):
    """Transposed 3D convolution over (batch, depth, height, width, channels); kernel (kd, kh, kw, filters, in)."""

    rank = 3


class _DepthwiseConv(_BaseConv):
    """Each input channel convolved with its own depth_multiplier filters; output channel c*dm + m."""

    def __init__(self, kernel_size, strides=1, padding="valid", depth_multiplier=1, data_format=None,
                 dilation_rate=1, activation=None, use_bias=True, depthwise_initializer="glorot_uniform",
                 bias_initializer="zeros", depthwise_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, depthwise_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(kernel_size, strides, padding, data_format, dilation_rate, activation, use_bias,
                         bias_initializer, bias_regularizer, activity_regularizer, bias_constraint, **kwargs)
        self.depth_multiplier = int(depth_multiplier)
        self.depthwise_initializer = depthwise_initializer
        self.depthwise_regularizer = depthwise_regularizer
        self.depthwise_constraint = constraints.get(depthwise_constraint)

    def build(self, input_shape):
        self.in_channels = self._channels(input_shape)
        shape = self.kernel_size + (self.in_channels, self.depth_multiplier)
        # Keras 3 names this weight 'kernel' (Keras 2 said 'depthwise_kernel'; SeparableConv2D still does)
        self.kernel = self.add_weight("kernel", shape, self.depthwise_initializer,
                                      regularizer=self.depthwise_regularizer, constraint=self.depthwise_constraint)
        self._make_bias(self.in_channels * self.depth_multiplier)

    @property
    def depthwise_kernel(self):
        """The (kh, kw, in, depth_multiplier) kernel, under its Keras 2 name."""
        return self.kernel

    def call(self, inputs):
        self._check_channels(inputs.shape)
        inputs = self._last(inputs)
        return self._finish(_depthwise(self, inputs, self.kernel))

    def compute_output_shape(self, input_shape):
        self._check_channels(input_shape)
        input_shape = self._last_shape(input_shape)
        return self._first_shape((input_shape[0], *self._spatial_out(input_shape),
                                  self.in_channels * self.depth_multiplier))

    def get_config(self):
        return {**super().get_config(), "depth_multiplier": self.depth_multiplier,
                "depthwise_initializer": serialize(self.depthwise_initializer),
                "depthwise_regularizer": serialize(self.depthwise_regularizer),
                "depthwise_constraint": serialize(self.depthwise_constraint)}


class DepthwiseConv1D(_DepthwiseConv):
    """Depthwise 1D convolution over (batch, steps, channels); kernel (k, in, depth_multiplier)."""

    rank = 1


class DepthwiseConv2D(_DepthwiseConv):
    """Depthwise 2D convolution over (batch, height, width, channels); kernel (kh, kw, in, depth_multiplier)."""

    rank = 2


class _SeparableConv(_BaseConv):
    """A depthwise convolution (strides, dilation, padding) then a 1x1 pointwise convolution to `filters`."""

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1,
                 depth_multiplier=1, activation=None, use_bias=True, depthwise_initializer="glorot_uniform",
                 pointwise_initializer="glorot_uniform", bias_initializer="zeros", depthwise_regularizer=None,
                 pointwise_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 depthwise_constraint=None, pointwise_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(kernel_size, strides, padding, data_format, dilation_rate, activation, use_bias,
                         bias_initializer, bias_regularizer, activity_regularizer, bias_constraint, **kwargs)
        self.filters = int(filters)
        self.depth_multiplier = int(depth_multiplier)
        self.depthwise_initializer, self.pointwise_initializer = depthwise_initializer, pointwise_initializer
        self.depthwise_regularizer, self.pointwise_regularizer = depthwise_regularizer, pointwise_regularizer
        self.depthwise_constraint = constraints.get(depthwise_constraint)
        self.pointwise_constraint = constraints.get(pointwise_constraint)

    def build(self, input_shape):
        self.in_channels = self._channels(input_shape)
        mid = self.in_channels * self.depth_multiplier
        self.depthwise_kernel = self.add_weight(
            "depthwise_kernel", self.kernel_size + (self.in_channels, self.depth_multiplier),
            self.depthwise_initializer, regularizer=self.depthwise_regularizer, constraint=self.depthwise_constraint)
        self.pointwise_kernel = self.add_weight("pointwise_kernel", (1,) * self.rank + (mid, self.filters),
                                                self.pointwise_initializer, regularizer=self.pointwise_regularizer,
                                                constraint=self.pointwise_constraint)
        self._make_bias(self.filters)

    def call(self, inputs):
        self._check_channels(inputs.shape)
        inputs = self._last(inputs)
        mid = _depthwise(self, inputs, self.depthwise_kernel)
        pointwise = ops.reshape(self.pointwise_kernel, self.pointwise_kernel.shape[-2:])
        # one (pixels, mid) @ (mid, filters) product, not one small product per image row
        flat = ops.matmul(ops.reshape(mid, (-1, mid.shape[-1])), pointwise)
        return self._finish(ops.reshape(flat, tuple(mid.shape[:-1]) + (self.filters,)))

    def compute_output_shape(self, input_shape):
        self._check_channels(input_shape)
        input_shape = self._last_shape(input_shape)
        return self._first_shape((input_shape[0], *self._spatial_out(input_shape), self.filters))

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "depth_multiplier": self.depth_multiplier,
                "depthwise_initializer": serialize(self.depthwise_initializer),
                "pointwise_initializer": serialize(self.pointwise_initializer),
                "depthwise_regularizer": serialize(self.depthwise_regularizer),
                "pointwise_regularizer": serialize(self.pointwise_regularizer),
                "depthwise_constraint": serialize(self.depthwise_constraint),
                "pointwise_constraint": serialize(self.pointwise_constraint)}


class SeparableConv1D(_SeparableConv):
    """Depthwise then pointwise 1D convolution over (batch, steps, channels)."""

    rank = 1


class SeparableConv2D(_SeparableConv):
    """Depthwise then pointwise 2D convolution over (batch, height, width, channels)."""

    rank = 2


Convolution1D, Convolution2D, Convolution3D = Conv1D, Conv2D, Conv3D
Convolution1DTranspose, Convolution2DTranspose, Convolution3DTranspose = Conv1DTranspose, Conv2DTranspose, \
    Conv3DTranspose
SeparableConvolution1D, SeparableConvolution2D = SeparableConv1D, SeparableConv2D
_SPATIAL = {1: "steps", 2: "height, width", 3: "depth, height, width"}


def _depthwise(layer, inputs, kernel):
    """The layer's depthwise convolution of channels-last inputs (1D as a height-1 image)."""
    if layer.rank == 2:
        return layer._run(ops.depthwise_conv, inputs, kernel, strides=layer.strides, padding=layer.padding,
                          dilation_rate=layer.dilation_rate)
    y = layer._run(ops.depthwise_conv, ops.expand_dims(inputs, 1), ops.expand_dims(kernel, 0),
                   strides=(1,) + layer.strides, padding=layer.padding, dilation_rate=(1,) + layer.dilation_rate)
    return ops.squeeze(y, 1)


def _ints(value, rank, what, layer, minimum=1):
    """An int or `rank` ints (each >= minimum) as a tuple, or an error naming the layer."""
    try:
        values = (int(value),) * rank if isinstance(value, int) else tuple(int(v) for v in value)
    except TypeError:
        values = ()
    if len(values) != rank or min(values) < minimum:
        raise ValueError(f"{type(layer).__name__} '{layer.name}': {what} must be an int or {rank} ints "
                         f">= {minimum}, got {value!r}")
    return values
