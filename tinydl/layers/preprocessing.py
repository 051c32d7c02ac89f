"""Preprocessing layers (Keras 3): Rescaling, Resizing, CenterCrop, Normalization (with `adapt`),
Discretization, CategoryEncoding.

Resizing is a linear map along height and along width (one interpolation matrix each, built in NumPy),
so it is differentiable and exports to ONNX as two MatMuls. The matrices follow PyTorch's
`interpolate` (half-pixel centres; 'nearest' is 'nearest-exact'), which is what Keras's torch backend calls.
"""
import math

import numpy as np

from tinydl import backend, ops
from tinydl.layers.base import Layer
from tinydl.tensor import Tensor

__all__ = ["Rescaling", "Resizing", "CenterCrop", "Normalization", "Discretization", "CategoryEncoding"]

_EPSILON = 1e-7  # Keras's backend.epsilon(), the floor of Normalization's standard deviation
_INTERPOLATIONS = ("bilinear", "nearest", "bicubic")
_OUTPUT_MODES = ("int", "one_hot", "multi_hot", "count")


class Rescaling(Layer):
    """`inputs * scale + offset` (scale and offset: numbers, or one value per channel of the last axis)."""

    supports_masking = True

    def __init__(self, scale, offset=0.0, **kwargs):
        super().__init__(**kwargs)
        self.scale, self.offset = _number_or_list(scale), _number_or_list(offset)

    def call(self, inputs):
        x = _as_float(inputs, self.dtype)
        return x * _constant(self.scale, x) + _constant(self.offset, x)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "scale": self.scale, "offset": self.offset}


class Resizing(Layer):
    """Resize image batches to (height, width): 'bilinear' (default), 'nearest' or 'bicubic' interpolation,
    optionally cropping or padding to the target's aspect ratio first, with Keras's antialias for downscaling."""

    def __init__(self, height, width, interpolation="bilinear", crop_to_aspect_ratio=False,
                 pad_to_aspect_ratio=False, fill_mode="constant", fill_value=0.0, antialias=False,
                 data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.height, self.width = _positive(height, "height", self), _positive(width, "width", self)
        if interpolation not in _INTERPOLATIONS:
            raise ValueError(f"Resizing '{self.name}': interpolation must be one of {_INTERPOLATIONS}, "
                             f"got {interpolation!r}")
        if crop_to_aspect_ratio and pad_to_aspect_ratio:
            raise ValueError(f"Resizing '{self.name}': only one of crop_to_aspect_ratio and pad_to_aspect_ratio "
                             "can be True")
        if fill_mode != "constant":
            raise ValueError(f"Resizing '{self.name}': fill_mode must be 'constant', got {fill_mode!r}")
        self.interpolation, self.antialias = interpolation, bool(antialias)
        self.crop_to_aspect_ratio, self.pad_to_aspect_ratio = bool(crop_to_aspect_ratio), bool(pad_to_aspect_ratio)
        self.fill_mode, self.fill_value = fill_mode, float(fill_value)
        self.data_format = _data_format(data_format, self)

    def call(self, inputs):
        out = resize_images(_as_float(inputs, self.dtype), (self.height, self.width), self.interpolation,
                            self.antialias, self.crop_to_aspect_ratio, self.pad_to_aspect_ratio, self.fill_value,
                            self.data_format)
        return _like_integer_input(out, inputs)

    def compute_output_shape(self, s):
        return _image_shape(s, self.height, self.width, self.data_format)

    def get_config(self):
        return {**super().get_config(), "height": self.height, "width": self.width,
                "interpolation": self.interpolation, "crop_to_aspect_ratio": self.crop_to_aspect_ratio,
                "pad_to_aspect_ratio": self.pad_to_aspect_ratio, "fill_mode": self.fill_mode,
                "fill_value": self.fill_value, "antialias": self.antialias, "data_format": self.data_format}


class CenterCrop(Layer):
    """The central (height, width) window of each image; an image smaller than that is cropped to the
    target's aspect ratio and resized up (bilinear), as Keras's smart_resize."""

    def __init__(self, height, width, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.height, self.width = _positive(height, "height", self), _positive(width, "width", self)
        self.data_format = _data_format(data_format, self)

    def call(self, inputs):
        x = _as_float(inputs, self.dtype)
        h_axis = x.ndim - 3 if self.data_format == "channels_last" else x.ndim - 2
        h, w = x.shape[h_axis], x.shape[h_axis + 1]
        if h < self.height or w < self.width:
            return resize_images(x, (self.height, self.width), "bilinear", False, True, False, 0.0,
                                 self.data_format)
        top, left = (h - self.height) // 2, (w - self.width) // 2
        index = [slice(None)] * x.ndim
        index[h_axis], index[h_axis + 1] = slice(top, top + self.height), slice(left, left + self.width)
        return x[tuple(index)]

    def compute_output_shape(self, s):
        return _image_shape(s, self.height, self.width, self.data_format)

    def get_config(self):
        return {**super().get_config(), "height": self.height, "width": self.width,
                "data_format": self.data_format}


class Normalization(Layer):
    """`(x - mean) / max(sqrt(variance), 1e-7)` per index of `axis` (`invert=True`: the inverse map).

    Give `mean` and `variance`, or call `adapt(data)` to compute them (population variance over every axis
    but `axis`). Adapted statistics are weights (Keras's `mean`, `variance`, `count`, not trainable), so they
    are saved with the model.
    """

    def __init__(self, axis=-1, mean=None, variance=None, invert=False, **kwargs):
        super().__init__(**kwargs)
        if axis is None:
            self.axis = ()
        elif isinstance(axis, int):
            self.axis = (axis,)
        else:
            self.axis = tuple(int(a) for a in axis)
        if (mean is None) != (variance is None):
            raise ValueError(f"Normalization '{self.name}': pass both mean and variance, or neither (and adapt), "
                             f"got mean={mean!r}, variance={variance!r}")
        self.input_mean, self.input_variance = _number_or_list(mean), _number_or_list(variance)
        self.invert = bool(invert)
        self.mean = self.variance = self.count = None

    def build(self, input_shape):
        ndim = len(input_shape)
        keep = self._keep_axes(ndim)
        if any(input_shape[a] is None for a in keep):
            raise ValueError(f"Normalization '{self.name}' needs known sizes on axis {self.axis}, got input shape "
                             f"{tuple(input_shape)}")
        self._broadcast = tuple(input_shape[a] if a in keep else 1 for a in range(ndim))
        if self.input_mean is None:
            shape = tuple(input_shape[a] for a in keep)
            self.mean = self.add_weight("mean", shape, "zeros", trainable=False)
            self.variance = self.add_weight("variance", shape, "ones", trainable=False)
            self.count = self.add_weight("count", (), "zeros", trainable=False, dtype="int32")

    def adapt(self, data, batch_size=None, steps=None):
        """Set mean and variance from `data` (an array, or an iterable of array batches), over every axis but
        `axis`; batches are combined exactly (Chan's parallel formula)."""
        if self.input_mean is not None:
            raise ValueError(f"Normalization '{self.name}' was given mean and variance; adapt() would replace them")
        total, mean, m2 = 0, None, None
        for i, batch in enumerate(_batches(data, batch_size)):
            if steps is not None and i >= steps:
                break
            batch = np.asarray(batch, dtype="float64")
            if not self.built:
                self._build_shapes = (None,) + batch.shape[1:]
                self.build(self._build_shapes)
            reduce = tuple(a for a in range(batch.ndim) if a not in self._keep_axes(batch.ndim))
            n = int(np.prod([batch.shape[a] for a in reduce]))
            b_mean, b_m2 = batch.mean(axis=reduce), batch.var(axis=reduce) * n
            if mean is None:
                total, mean, m2 = n, b_mean, b_m2
            else:
                delta = b_mean - mean
                mean = mean + delta * n / (total + n)
                m2 = m2 + b_m2 + delta ** 2 * total * n / (total + n)
                total += n
        if mean is None:
            raise ValueError(f"Normalization '{self.name}': adapt() got no data")
        self.mean.assign(mean.reshape(self.mean.shape))
        self.variance.assign((m2 / total).reshape(self.variance.shape))

    def call(self, inputs):
        x = _as_float(inputs, self.dtype)
        if self.input_mean is not None:
            shape = self._broadcast_shape(x)
            mean = _constant(given_statistic(self.input_mean, shape), x)
            variance = _constant(given_statistic(self.input_variance, shape), x)
        else:
            shape = self._broadcast_shape(x)
            mean, variance = ops.reshape(self.mean, shape), ops.reshape(self.variance, shape)
        std = ops.maximum(ops.sqrt(variance), _EPSILON)
        return mean + x * std if self.invert else (x - mean) / std

    def _broadcast_shape(self, x):
        keep = self._keep_axes(x.ndim)
        return tuple(x.shape[a] if a in keep else 1 for a in range(x.ndim))

    def _keep_axes(self, ndim):
        keep = []
        for a in self.axis:
            if not -ndim < a < ndim or a % ndim == 0:
                raise ValueError(f"Normalization '{self.name}': axis {a} is not a non-batch axis of an input with "
                                 f"{ndim} dimensions")
            keep.append(a % ndim)
        return tuple(sorted(keep))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "axis": list(self.axis), "invert": self.invert,
                "mean": self.input_mean, "variance": self.input_variance}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get("axis"), list):
            config["axis"] = tuple(config["axis"])
        return super().from_config(config)


def given_statistic(value, broadcast):
    """A given mean or variance in the input's broadcast shape: one value per index of the kept axes laid out
    along them (as Keras reshapes it, so axis=1 works too), or a scalar (or a broadcastable array) spread."""
    array = np.asarray(value, dtype="float64")
    if array.ndim and array.size == int(np.prod(broadcast)) and array.shape != tuple(broadcast):
        return array.reshape(broadcast)
    return np.broadcast_to(array, broadcast)


class Discretization(Layer):
    """Bucket index of each value: bucket i holds `bin_boundaries[i-1] <= x < bin_boundaries[i]`.

    `output_mode`: 'int' (int32 indices, as Keras), or 'one_hot', 'multi_hot', 'count' over the
    `len(bin_boundaries) + 1` buckets. `adapt(data)` with `num_bins` sets the boundaries to the data's
    exact quantiles (Keras approximates them within `epsilon`; exact ones are within any epsilon).
    """

    def __init__(self, bin_boundaries=None, num_bins=None, epsilon=0.01, output_mode="int", sparse=False,
                 dtype=None, name=None, **kwargs):
        super().__init__(name=name, dtype=dtype, **kwargs)
        if (bin_boundaries is None) == (num_bins is None):
            raise ValueError(f"Discretization '{self.name}': pass exactly one of bin_boundaries and num_bins, got "
                             f"bin_boundaries={bin_boundaries!r}, num_bins={num_bins!r}")
        if output_mode not in _OUTPUT_MODES:
            raise ValueError(f"Discretization '{self.name}': output_mode must be one of {_OUTPUT_MODES}, got "
                             f"{output_mode!r}")
        _refuse_sparse(sparse, self)
        _refuse_trainable(kwargs, self)
        self.bin_boundaries = None if bin_boundaries is None else [float(b) for b in bin_boundaries]
        if self.bin_boundaries is not None and sorted(self.bin_boundaries) != self.bin_boundaries:
            raise ValueError(f"Discretization '{self.name}': bin_boundaries must be sorted, got {bin_boundaries}")
        self.num_bins = None if num_bins is None else int(num_bins)
        self.epsilon, self.output_mode, self.sparse = float(epsilon), output_mode, False

    def adapt(self, data, steps=None):
        """Boundaries at the `num_bins`-quantiles of every value in `data` (an array or iterable of batches)."""
        if self.num_bins is None:
            raise ValueError(f"Discretization '{self.name}': adapt() needs num_bins (bin_boundaries were given)")
        values = np.concatenate([np.asarray(b, dtype="float64").ravel()
                                 for i, b in enumerate(_batches(data, None)) if steps is None or i < steps])
        quantiles = np.quantile(values, np.linspace(0, 1, self.num_bins + 1)[1:-1], method="inverted_cdf")
        self.bin_boundaries = [float(q) for q in quantiles]

    def call(self, inputs):
        if self.bin_boundaries is None:
            raise ValueError(f"Discretization '{self.name}' has no bin_boundaries yet: call adapt(data) first")
        x = inputs.data if isinstance(inputs, Tensor) else np.asarray(inputs)
        xp = backend.array_module(x)
        indices = xp.digitize(x, xp.asarray(self.bin_boundaries, dtype=x.dtype)).astype("int32")
        return encode_categorical(indices, len(self.bin_boundaries) + 1, self.output_mode, None, self, self.dtype)

    def get_config(self):
        config = {**super().get_config(), "bin_boundaries": self.bin_boundaries, "num_bins": self.num_bins,
                  "epsilon": self.epsilon, "output_mode": self.output_mode, "sparse": self.sparse}
        config.pop("trainable")  # Keras's Discretization takes no `trainable`
        return config


class CategoryEncoding(Layer):
    """Integer category ids as 'one_hot', 'multi_hot' (default) or 'count' vectors of length `num_tokens`;
    `count` mode takes optional `count_weights` of the input's shape."""

    def __init__(self, num_tokens=None, output_mode="multi_hot", sparse=False, **kwargs):
        super().__init__(**kwargs)
        if num_tokens is None or int(num_tokens) < 1:
            raise ValueError(f"CategoryEncoding '{self.name}': num_tokens must be a positive int, got {num_tokens!r}")
        if output_mode not in ("one_hot", "multi_hot", "count"):
            raise ValueError(f"CategoryEncoding '{self.name}': output_mode must be 'one_hot', 'multi_hot' or "
                             f"'count', got {output_mode!r}")
        _refuse_sparse(sparse, self)
        self.num_tokens, self.output_mode, self.sparse = int(num_tokens), output_mode, False

    def call(self, inputs, count_weights=None):
        ids = inputs.data if isinstance(inputs, Tensor) else np.asarray(inputs)
        if count_weights is not None and self.output_mode != "count":
            raise ValueError(f"CategoryEncoding '{self.name}': count_weights needs output_mode='count', got "
                             f"output_mode={self.output_mode!r}")
        weights = count_weights.data if isinstance(count_weights, Tensor) else count_weights
        return encode_categorical(ids, self.num_tokens, self.output_mode, weights, self, self.dtype)

    def get_config(self):
        return {**super().get_config(), "num_tokens": self.num_tokens, "output_mode": self.output_mode}


def encode_categorical(ids, depth, output_mode, count_weights=None, layer=None, dtype="float32"):
    """Integer ids (any int array, rank 0-2) as Keras's 'int', 'one_hot', 'multi_hot' or 'count' encoding."""
    xp = backend.array_module(ids)
    if output_mode == "int":
        return Tensor._wrap(ids, False)
    where = f"{type(layer).__name__} '{layer.name}'" if layer is not None else "encode_categorical"
    if ids.dtype.kind not in "iu" and not (ids.dtype.kind == "f" and bool((ids == xp.round(ids)).all())):
        raise ValueError(f"{where} expects integer category ids, got dtype {ids.dtype}")
    ids = ids.astype("int64")
    if ids.size and (int(ids.min()) < 0 or int(ids.max()) >= depth):
        raise ValueError(f"{where}: category ids must be in [0, {depth}), got values from {int(ids.min())} to "
                         f"{int(ids.max())}")
    if ids.ndim == 0:
        ids = ids[None]
    if output_mode == "one_hot":
        if ids.ndim >= 2 and ids.shape[-1] == 1:
            ids = ids[..., 0]
        return Tensor._wrap(xp.eye(depth, dtype=dtype)[ids], False)
    if ids.ndim > 2:
        raise ValueError(f"{where}: output_mode={output_mode!r} supports inputs of rank at most 2, got shape "
                         f"{tuple(ids.shape)}")
    rows = ids[None] if ids.ndim == 1 else ids
    hot = (rows[..., None] == xp.arange(depth)).astype(dtype)  # a comparison, so cupy runs it too (no ufunc.at)
    if count_weights is not None:
        hot *= xp.asarray(count_weights, dtype=dtype).reshape(rows.shape)[..., None]
    out = hot.sum(axis=1)
    if output_mode == "multi_hot":
        out = (out > 0).astype(dtype)
    return Tensor._wrap(out[0] if ids.ndim == 1 else out, False)


def resize_images(x, size, interpolation="bilinear", antialias=False, crop_to_aspect_ratio=False,
                  pad_to_aspect_ratio=False, fill_value=0.0, data_format="channels_last"):
    """Image batch (or one image) resized to `size` = (height, width) as Keras's torch backend does."""
    h_axis = x.ndim - 3 if data_format == "channels_last" else x.ndim - 2
    height, width = size
    h, w = x.shape[h_axis], x.shape[h_axis + 1]
    if crop_to_aspect_ratio:
        crop_h = max(min(h, int(float(w * height) / width)), 1)
        crop_w = max(min(w, int(float(h * width) / height)), 1)
        top, left = int(float(h - crop_h) / 2), int(float(w - crop_w) / 2)
        index = [slice(None)] * x.ndim
        index[h_axis], index[h_axis + 1] = slice(top, top + crop_h), slice(left, left + crop_w)
        x = x[tuple(index)]
    elif pad_to_aspect_ratio:
        pad_h = max(h, int(float(w * height) / width))
        pad_w = max(w, int(float(h * width) / height))
        top, left = int(float(pad_h - h) / 2), int(float(pad_w - w) / 2)
        widths = [(0, 0)] * x.ndim
        widths[h_axis], widths[h_axis + 1] = (top, top), (left, left)
        x = ops.pad(x, widths, constant_values=fill_value)
    rows = _constant(resize_matrix(x.shape[h_axis], height, interpolation, antialias), x)
    cols = _constant(resize_matrix(x.shape[h_axis + 1], width, interpolation, antialias), x)
    x = ops.moveaxis(ops.matmul(rows, ops.moveaxis(x, h_axis, -2)), -2, h_axis)
    return ops.moveaxis(ops.matmul(cols, ops.moveaxis(x, h_axis + 1, -2)), -2, h_axis + 1)


def resize_matrix(in_size, out_size, interpolation="bilinear", antialias=False):
    """(out_size, in_size) matrix M with `out = M @ in` along one axis, as torch's `interpolate` with
    align_corners=False ('nearest' as 'nearest-exact'; antialias widens the filter when downscaling)."""
    scale = in_size / out_size
    m = np.zeros((out_size, in_size))
    if interpolation == "nearest":
        m[np.arange(out_size), np.minimum(np.floor((np.arange(out_size) + 0.5) * scale), in_size - 1).astype(int)] = 1
        return m
    if antialias and scale > 1:
        return _antialiased(in_size, out_size, interpolation)
    for i in range(out_size):
        src = (i + 0.5) * scale - 0.5
        if interpolation == "bilinear":
            src = max(src, 0.0)
            i0 = min(int(math.floor(src)), in_size - 1)
            frac = src - i0
            m[i, i0] += 1 - frac
            m[i, min(i0 + 1, in_size - 1)] += frac
        else:
            i0 = int(math.floor(src))
            for k, coeff in zip(range(i0 - 1, i0 + 3), _cubic_coefficients(src - i0, -0.75)):
                m[i, min(max(k, 0), in_size - 1)] += coeff
    return m


def _antialiased(in_size, out_size, interpolation):
    """Downscaling filter of torch's antialias path: the kernel stretched by the scale, weights normalised."""
    scale = in_size / out_size
    support = (1.0 if interpolation == "bilinear" else 2.0) * scale
    kernel = _triangle if interpolation == "bilinear" else _cubic_aa
    m = np.zeros((out_size, in_size))
    for i in range(out_size):
        center = scale * (i + 0.5)
        lo, hi = max(int(center - support + 0.5), 0), min(int(center + support + 0.5), in_size)
        weights = np.array([kernel((j - center + 0.5) / scale) for j in range(lo, hi)])
        m[i, lo:hi] = weights / weights.sum()
    return m


def _triangle(x):
    return max(0.0, 1.0 - abs(x))


def _cubic_aa(x, a=-0.5):
    """The cubic kernel torch's antialias path uses (a = -0.5)."""
    x = abs(x)
    if x < 1:
        return ((a + 2) * x - (a + 3)) * x * x + 1
    if x < 2:
        return (((x - 5) * x + 8) * x - 4) * a
    return 0.0


def _cubic_coefficients(t, a):
    """Weights of the 4 neighbours (i0-1 .. i0+2) at fraction t, Keys' cubic convolution with parameter a."""
    def near(x):
        return ((a + 2) * x - (a + 3)) * x * x + 1

    def far(x):
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a
    return far(t + 1), near(t), near(1 - t), far(2 - t)


def _batches(data, batch_size):
    """Arrays from `data`: an array or Tensor (split by batch_size when given), or an iterable of batches
    (tuples give their first element, as Keras's adapt of (x, y) datasets)."""
    if isinstance(data, Tensor):
        data = data.numpy()
    if isinstance(data, (np.ndarray, list)) and not (isinstance(data, list) and data and
                                                      isinstance(data[0], (np.ndarray, tuple))):
        data = np.asarray(data)
        step = batch_size or len(data) or 1
        return [data[i:i + step] for i in range(0, len(data), step)]
    return ([b[0] if isinstance(b, tuple) else b for b in data])


def _like_integer_input(out, inputs):
    """Integer images come back rounded in their own dtype, as Keras's resize (clipped to its range)."""
    dtype = inputs.dtype if isinstance(inputs, (Tensor, np.ndarray)) else np.asarray(inputs).dtype
    if np.dtype(dtype).kind not in "iu":
        return out
    xp = backend.array_module(out.data)
    info = np.iinfo(dtype)
    return Tensor._wrap(xp.clip(xp.round(out.data), info.min, info.max).astype(dtype), False)


def _as_float(inputs, dtype):
    """Inputs as a float Tensor of the layer's dtype (integer images are cast, as Keras)."""
    if isinstance(inputs, Tensor) and inputs.dtype.kind == "f":
        return inputs
    data = inputs.data if isinstance(inputs, Tensor) else np.asarray(inputs)
    return Tensor._wrap(data.astype(dtype or "float32"), False)


def _constant(value, like):
    """A constant Tensor of `like`'s dtype and device."""
    return Tensor._wrap(backend.to_device(np.asarray(value, dtype=like.dtype), like.device), False)


def _number_or_list(value):
    """A float, a (nested) list of floats from an array/list, or None."""
    if value is None:
        return None
    array = np.asarray(value, dtype="float64")
    return float(array) if array.ndim == 0 else array.tolist()


def _positive(value, what, layer):
    if not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{type(layer).__name__} '{layer.name}': {what} must be a positive int, got {value!r}")
    return int(value)


def _data_format(value, layer):
    if value not in (None, "channels_last", "channels_first"):
        raise ValueError(f"{type(layer).__name__} '{layer.name}': data_format must be 'channels_last' or "
                         f"'channels_first', got {value!r}")
    return value or "channels_last"


def _image_shape(s, height, width, data_format):
    s = list(s)
    h_axis = len(s) - 3 if data_format == "channels_last" else len(s) - 2
    s[h_axis], s[h_axis + 1] = height, width
    return tuple(s)


def _refuse_trainable(kwargs, layer):
    """Keras's layer takes no `trainable` (nor keeps one in its config): only the default is accepted."""
    if kwargs.get("trainable", True) is not True:
        raise ValueError(f"{type(layer).__name__} '{layer.name}' takes no trainable argument (Keras's has none, and "
                         f"it has no weights to train), got trainable={kwargs['trainable']!r}")


def _refuse_sparse(sparse, layer):
    if sparse:
        raise ValueError(f"{type(layer).__name__} '{layer.name}': sparse=True is not supported (tinydl has no "
                         "sparse tensors); use sparse=False")
