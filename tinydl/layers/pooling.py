"""Pooling layers: MaxPooling1D/2D/3D, AveragePooling1D/2D/3D, GlobalAveragePooling1D/2D/3D,
GlobalMaxPooling1D/2D/3D.

Keras 3 names, arguments, defaults and config keys. strides=None means pool_size. 'same' average
pooling divides by the taps inside the input, as Keras/TF. `data_format='channels_first'` (channels on
axis 1) works too: windowed pooling transposes to channels-last and back, global pooling reduces the
other axes. 3D windows pool height-width planes, then depth: a box window's max and its mean over the
in-volume taps both factor that way.
"""
from tinydl import ops
from tinydl.layers.base import InputSpec, Layer
from tinydl.ops.convolution import conv_output_length
from tinydl.tensor import Tensor

__all__ = ["MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "AveragePooling1D", "AveragePooling2D",
           "AveragePooling3D", "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAveragePooling3D",
           "GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalMaxPooling3D", "MaxPool1D", "MaxPool2D", "MaxPool3D",
           "AvgPool1D", "AvgPool2D", "AvgPool3D", "GlobalAvgPool1D", "GlobalAvgPool2D", "GlobalAvgPool3D",
           "GlobalMaxPool1D", "GlobalMaxPool2D", "GlobalMaxPool3D", "AdaptiveAveragePooling1D",
           "AdaptiveAveragePooling2D", "AdaptiveAveragePooling3D", "AdaptiveMaxPooling1D", "AdaptiveMaxPooling2D",
           "AdaptiveMaxPooling3D"]


class _Pooling(Layer):
    """Windowed pooling over the spatial axes of a channels-last input."""

    rank = 2
    op = None

    def __init__(self, pool_size=2, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(**kwargs)
        where = f"{type(self).__name__} '{self.name}'"
        self.data_format = _data_format(data_format, where)
        self.pool_size = _ints(pool_size, self.rank, "pool_size", where)
        self.strides = self.pool_size if strides is None else _ints(strides, self.rank, "strides", where)
        self.padding = str(padding).lower()
        if self.padding not in ("valid", "same"):
            raise ValueError(f"{where}: padding must be 'valid' or 'same', got {padding!r}")
        self.input_spec = InputSpec(ndim=self.rank + 2)

    def call(self, inputs):
        first = self.data_format == "channels_first"
        x = ops.transpose(inputs, _to_channels_last(self.rank)) if first else inputs
        try:
            y = type(self).op(x, self.pool_size, strides=self.strides, padding=self.padding)
        except ValueError as e:
            raise ValueError(f"{type(self).__name__} '{self.name}': {e}") from None
        return ops.transpose(y, _to_channels_first(self.rank)) if first else y

    def compute_output_shape(self, input_shape):
        first = self.data_format == "channels_first"
        spatial_in = input_shape[2:] if first else input_shape[1:-1]
        channels = input_shape[1] if first else input_shape[-1]
        spatial = [conv_output_length(n, k, s, 1, self.padding)
                   for n, k, s in zip(spatial_in, self.pool_size, self.strides)]
        return _output_shape(input_shape[0], channels, spatial, self.data_format)

    def get_config(self):
        return {**super().get_config(), "pool_size": self.pool_size, "padding": self.padding,
                "strides": self.strides, "data_format": self.data_format}


class MaxPooling1D(_Pooling):
    """Max over windows of steps: (batch, steps, channels)."""

    rank, op = 1, staticmethod(ops.max_pool)


class MaxPooling2D(_Pooling):
    """Max over pool_size windows of (batch, height, width, channels)."""

    rank, op = 2, staticmethod(ops.max_pool)


class MaxPooling3D(_Pooling):
    """Max over pool_size windows of (batch, depth, height, width, channels)."""

    rank = 3

    @staticmethod
    def op(x, pool_size, strides, padding):
        return _pool3d(ops.max_pool, x, pool_size, strides, padding)


class AveragePooling1D(_Pooling):
    """Mean over windows of steps: (batch, steps, channels)."""

    rank, op = 1, staticmethod(ops.average_pool)


class AveragePooling2D(_Pooling):
    """Mean over pool_size windows of (batch, height, width, channels)."""

    rank, op = 2, staticmethod(ops.average_pool)


class AveragePooling3D(_Pooling):
    """Mean over pool_size windows of (batch, depth, height, width, channels); 'same' counts in-volume taps."""

    rank = 3

    def __init__(self, pool_size, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)

    @staticmethod
    def op(x, pool_size, strides, padding):
        return _pool3d(ops.average_pool, x, pool_size, strides, padding)


class _GlobalPooling(Layer):
    """Reduce every spatial axis; keepdims keeps them as size 1."""

    rank = 2
    reduce = None

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        self.data_format = _data_format(data_format, f"{type(self).__name__} '{self.name}'")
        self.keepdims = bool(keepdims)
        self.input_spec = InputSpec(ndim=self.rank + 2)

    def call(self, inputs):
        return type(self).reduce(inputs, axis=self._spatial_axes(), keepdims=self.keepdims)

    def _spatial_axes(self):
        first = 2 if self.data_format == "channels_first" else 1
        return tuple(range(first, first + self.rank))

    def compute_output_shape(self, input_shape):
        channels = input_shape[1] if self.data_format == "channels_first" else input_shape[-1]
        if not self.keepdims:
            return (input_shape[0], channels)
        return _output_shape(input_shape[0], channels, (1,) * self.rank, self.data_format)

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format, "keepdims": self.keepdims}


class GlobalAveragePooling1D(_GlobalPooling):
    """Mean over steps: (batch, steps, channels) -> (batch, channels); with a mask, over unmasked steps."""

    rank, reduce = 1, staticmethod(ops.mean)
    supports_masking = True

    def call(self, inputs, mask=None):
        if mask is None:
            return super().call(inputs)
        steps = self._spatial_axes()[0]
        weights = mask.astype(inputs.dtype)[:, None, :] if steps == 2 else mask.astype(inputs.dtype)[:, :, None]
        weights = Tensor._wrap(weights, False)
        total = ops.sum(inputs * weights, axis=steps, keepdims=self.keepdims)
        return total / ops.sum(weights, axis=steps, keepdims=self.keepdims)

    def compute_mask(self, inputs, mask=None):
        return None


class GlobalAveragePooling2D(_GlobalPooling):
    """Mean over height and width: (batch, h, w, channels) -> (batch, channels)."""

    rank, reduce = 2, staticmethod(ops.mean)


class GlobalAveragePooling3D(_GlobalPooling):
    """Mean over depth, height and width: (batch, d, h, w, channels) -> (batch, channels)."""

    rank, reduce = 3, staticmethod(ops.mean)


class GlobalMaxPooling1D(_GlobalPooling):
    """Max over steps: (batch, steps, channels) -> (batch, channels)."""

    rank, reduce = 1, staticmethod(ops.max)


class GlobalMaxPooling2D(_GlobalPooling):
    """Max over height and width: (batch, h, w, channels) -> (batch, channels)."""

    rank, reduce = 2, staticmethod(ops.max)


class GlobalMaxPooling3D(_GlobalPooling):
    """Max over depth, height and width: (batch, d, h, w, channels) -> (batch, channels)."""

    rank, reduce = 3, staticmethod(ops.max)


class _AdaptivePooling(Layer):
    """Pool each spatial axis into `output_size` bins: bin i of n inputs covers [floor(i*n/out), ceil((i+1)*n/out)),
    as Keras (and PyTorch). Box windows, so the axes are pooled one after the other."""

    rank = 1
    reduce = None

    def __init__(self, output_size, data_format=None, **kwargs):
        super().__init__(**kwargs)
        where = f"{type(self).__name__} '{self.name}'"
        self.output_size = _ints(output_size, self.rank, "output_size", where)
        self.data_format = _data_format(data_format, where)
        self.input_spec = InputSpec(ndim=self.rank + 2)

    def call(self, inputs):
        first = 2 if self.data_format == "channels_first" else 1
        for axis, out in zip(range(first, first + self.rank), self.output_size):
            inputs = ops.concatenate([type(self).reduce(inputs[_along(axis, start, stop)], axis=axis, keepdims=True)
                                      for start, stop in adaptive_bins(inputs.shape[axis], out)], axis=axis)
        return inputs

    def compute_output_shape(self, input_shape):
        channels = input_shape[1] if self.data_format == "channels_first" else input_shape[-1]
        return _output_shape(input_shape[0], channels, self.output_size, self.data_format)

    def get_config(self):
        return {**super().get_config(), "output_size": self.output_size, "data_format": self.data_format}


class AdaptiveAveragePooling1D(_AdaptivePooling):
    """Mean over `output_size` adaptive bins of the steps axis."""

    rank, reduce = 1, staticmethod(ops.mean)


class AdaptiveAveragePooling2D(_AdaptivePooling):
    """Mean over adaptive bins of height and width."""

    rank, reduce = 2, staticmethod(ops.mean)


class AdaptiveAveragePooling3D(_AdaptivePooling):
    """Mean over adaptive bins of depth, height and width."""

    rank, reduce = 3, staticmethod(ops.mean)


class AdaptiveMaxPooling1D(_AdaptivePooling):
    """Max over `output_size` adaptive bins of the steps axis."""

    rank, reduce = 1, staticmethod(ops.max)


class AdaptiveMaxPooling2D(_AdaptivePooling):
    """Max over adaptive bins of height and width."""

    rank, reduce = 2, staticmethod(ops.max)


class AdaptiveMaxPooling3D(_AdaptivePooling):
    """Max over adaptive bins of depth, height and width."""

    rank, reduce = 3, staticmethod(ops.max)


def adaptive_bins(n, out):
    """The (start, stop) of each of `out` adaptive bins over `n` positions."""
    return [((i * n) // out, -((-(i + 1) * n) // out)) for i in range(out)]


MaxPool1D, MaxPool2D, AvgPool1D, AvgPool2D = MaxPooling1D, MaxPooling2D, AveragePooling1D, AveragePooling2D
MaxPool3D, AvgPool3D = MaxPooling3D, AveragePooling3D
GlobalAvgPool1D, GlobalAvgPool2D = GlobalAveragePooling1D, GlobalAveragePooling2D
GlobalMaxPool1D, GlobalMaxPool2D = GlobalMaxPooling1D, GlobalMaxPooling2D
GlobalAvgPool3D, GlobalMaxPool3D = GlobalAveragePooling3D, GlobalMaxPooling3D


def _pool3d(op, x, pool_size, strides, padding):
    """A 3D pooling as the 2D pooling of every depth slice, then a 1D pooling along depth."""
    n, d, h, w, c = x.shape
    y = op(ops.reshape(x, (n * d, h, w, c)), pool_size[1:], strides=strides[1:], padding=padding)
    oh, ow = y.shape[1:3]
    y = op(ops.reshape(y, (n, d, oh * ow * c)), pool_size[:1], strides=strides[:1], padding=padding)
    return ops.reshape(y, (n, y.shape[1], oh, ow, c))


def _output_shape(batch, channels, spatial, data_format):
    """(batch, channels, *spatial) for channels_first, else (batch, *spatial, channels)."""
    spatial = tuple(spatial)
    return (batch, channels) + spatial if data_format == "channels_first" else (batch,) + spatial + (channels,)


def _along(axis, start, stop):
    """An index selecting start:stop on `axis` only."""
    return (slice(None),) * axis + (slice(start, stop),)


def _data_format(value, where):
    """'channels_last' (None's meaning, as Keras's default) or 'channels_first', or a clear error."""
    if value is None:
        return "channels_last"
    if value not in ("channels_last", "channels_first"):
        raise ValueError(f"{where}: data_format must be 'channels_last' or 'channels_first', got {value!r}")
    return value


def _to_channels_last(rank):
    return (0,) + tuple(range(2, rank + 2)) + (1,)


def _to_channels_first(rank):
    return (0, rank + 1) + tuple(range(1, rank + 1))


def _ints(value, rank, what, where):
    """An int or `rank` positive ints as a tuple, or an error naming the layer."""
    try:
        values = (int(value),) * rank if isinstance(value, int) else tuple(int(v) for v in value)
    except TypeError:
        values = ()
    if len(values) != rank or min(values) < 1:
        raise ValueError(f"{where}: {what} must be a positive int or {rank} positive ints, got {value!r}")
    return values
