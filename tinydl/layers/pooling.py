"""Pooling layers: MaxPooling1D/2D, AveragePooling1D/2D, GlobalAveragePooling1D/2D, GlobalMaxPooling1D/2D.

Keras 3 names, arguments, defaults and config keys; channels-last only. strides=None means pool_size.
'same' average pooling divides by the taps inside the input, as Keras/TF.
"""
from tinydl import ops
from tinydl.layers.base import InputSpec, Layer
from tinydl.ops.convolution import conv_output_length
from tinydl.tensor import Tensor

__all__ = ["MaxPooling1D", "MaxPooling2D", "AveragePooling1D", "AveragePooling2D", "GlobalAveragePooling1D",
           "GlobalAveragePooling2D", "GlobalMaxPooling1D", "GlobalMaxPooling2D", "MaxPool1D", "MaxPool2D",
           "AvgPool1D", "AvgPool2D", "GlobalAvgPool1D", "GlobalAvgPool2D", "GlobalMaxPool1D", "GlobalMaxPool2D"]


class _Pooling(Layer):
    """Windowed pooling over the spatial axes of a channels-last input."""

    rank = 2
    op = None

    def __init__(self, pool_size=2, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(**kwargs)
        where = f"{type(self).__name__} '{self.name}'"
        if data_format not in (None, "channels_last"):
            raise ValueError(f"{where}: only data_format='channels_last' is supported, got {data_format!r}")
        self.pool_size = _ints(pool_size, self.rank, "pool_size", where)
        self.strides = self.pool_size if strides is None else _ints(strides, self.rank, "strides", where)
        self.padding = str(padding).lower()
        if self.padding not in ("valid", "same"):
            raise ValueError(f"{where}: padding must be 'valid' or 'same', got {padding!r}")
        self.data_format = "channels_last"
        self.input_spec = InputSpec(ndim=self.rank + 2)

    def call(self, inputs):
        try:
            return type(self).op(inputs, self.pool_size, strides=self.strides, padding=self.padding)
        except ValueError as e:
            raise ValueError(f"{type(self).__name__} '{self.name}': {e}") from None

    def compute_output_shape(self, input_shape):
        spatial = [conv_output_length(n, k, s, 1, self.padding)
                   for n, k, s in zip(input_shape[1:-1], self.pool_size, self.strides)]
        return (input_shape[0], *spatial, input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "pool_size": self.pool_size, "padding": self.padding,
                "strides": self.strides, "data_format": self.data_format}


class MaxPooling1D(_Pooling):
    """Max over windows of steps: (batch, steps, channels)."""

    rank, op = 1, staticmethod(ops.max_pool)


class MaxPooling2D(_Pooling):
    """Max over pool_size windows of (batch, height, width, channels)."""

    rank, op = 2, staticmethod(ops.max_pool)


class AveragePooling1D(_Pooling):
    """Mean over windows of steps: (batch, steps, channels)."""

    rank, op = 1, staticmethod(ops.average_pool)


class AveragePooling2D(_Pooling):
    """Mean over pool_size windows of (batch, height, width, channels)."""

    rank, op = 2, staticmethod(ops.average_pool)


class _GlobalPooling(Layer):
    """Reduce every spatial axis; keepdims keeps them as size 1."""

    rank = 2
    reduce = None

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        if data_format not in (None, "channels_last"):
            raise ValueError(f"{type(self).__name__} '{self.name}': only data_format='channels_last' is "
                             f"supported, got {data_format!r}")
        self.data_format = "channels_last"
        self.keepdims = bool(keepdims)
        self.input_spec = InputSpec(ndim=self.rank + 2)

    def call(self, inputs):
        return type(self).reduce(inputs, axis=tuple(range(1, self.rank + 1)), keepdims=self.keepdims)

    def compute_output_shape(self, input_shape):
        if self.keepdims:
            return (input_shape[0],) + (1,) * self.rank + (input_shape[-1],)
        return (input_shape[0], input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format, "keepdims": self.keepdims}


class GlobalAveragePooling1D(_GlobalPooling):
    """Mean over steps: (batch, steps, channels) -> (batch, channels); with a mask, over unmasked steps."""

    rank, reduce = 1, staticmethod(ops.mean)
    supports_masking = True

    def call(self, inputs, mask=None):
        if mask is None:
            return super().call(inputs)
        weights = Tensor._wrap(mask.astype(inputs.dtype)[:, :, None], False)
        total = ops.sum(inputs * weights, axis=1, keepdims=self.keepdims)
        return total / ops.sum(weights, axis=1, keepdims=self.keepdims)

    def compute_mask(self, inputs, mask=None):
        return None


class GlobalAveragePooling2D(_GlobalPooling):
    """Mean over height and width: (batch, h, w, channels) -> (batch, channels)."""

    rank, reduce = 2, staticmethod(ops.mean)


class GlobalMaxPooling1D(_GlobalPooling):
    """Max over steps: (batch, steps, channels) -> (batch, channels)."""

    rank, reduce = 1, staticmethod(ops.max)


class GlobalMaxPooling2D(_GlobalPooling):
    """Max over height and width: (batch, h, w, channels) -> (batch, channels)."""

    rank, reduce = 2, staticmethod(ops.max)


MaxPool1D, MaxPool2D, AvgPool1D, AvgPool2D = MaxPooling1D, MaxPooling2D, AveragePooling1D, AveragePooling2D
GlobalAvgPool1D, GlobalAvgPool2D = GlobalAveragePooling1D, GlobalAveragePooling2D
GlobalMaxPool1D, GlobalMaxPool2D = GlobalMaxPooling1D, GlobalMaxPooling2D


def _ints(value, rank, what, where):
    """An int or `rank` positive ints as a tuple, or an error naming the layer."""
    try:
        values = (int(value),) * rank if isinstance(value, int) else tuple(int(v) for v in value)
    except TypeError:
        values = ()
    if len(values) != rank or min(values) < 1:
        raise ValueError(f"{where}: {what} must be a positive int or {rank} positive ints, got {value!r}")
    return values
