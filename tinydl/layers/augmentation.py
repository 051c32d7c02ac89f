"""Image augmentation layers (Keras 3): RandomFlip, RandomRotation, RandomZoom, RandomTranslation, RandomCrop,
RandomContrast, RandomBrightness, RandomGrayscale, RandomInvert, Solarization, AutoContrast, RandomColorDegeneration,
RandomSharpness, RandomPosterization, RandomSaturation, RandomHue, RandomShear, RandomGaussianBlur, Equalization,
MixUp, RandomErasing, CutMix, RandomColorJitter, RandomPerspective. Each is active only in training
(`training=True`, as `fit` calls it) and the identity in inference, except AutoContrast (deterministic, applied
always) and RandomCrop, which center-crops to the target's aspect ratio and resizes there.

Random draws follow Keras's distributions (one draw per sample; RandomCrop one offset per batch) from the
layer's own generator when `seed` is given, else from tinydl's global one. The geometric layers share
`affine_transform`, Keras's map from output pixels to input coordinates with its fill modes; it is a
weighted gather, so gradients reach the input.
"""
import numpy as np

from tinydl import backend, ops
from tinydl.layers.base import Layer
from tinydl.layers.preprocessing import resize_images
from tinydl.ops.image import gaussian_blur
from tinydl.tensor import Tensor

__all__ = ["RandomFlip", "RandomRotation", "RandomZoom", "RandomTranslation", "RandomCrop", "RandomContrast",
           "RandomBrightness", "RandomGrayscale", "RandomInvert", "Solarization", "AutoContrast",
           "RandomColorDegeneration", "RandomSharpness", "RandomPosterization", "RandomSaturation", "RandomHue",
           "RandomShear", "RandomGaussianBlur", "Equalization", "MixUp", "RandomErasing", "CutMix",
           "RandomColorJitter", "RandomPerspective"]

FILL_MODES = ("reflect", "wrap", "constant", "nearest")
_FLIP_MODES = ("horizontal", "vertical", "horizontal_and_vertical")


class _ImageLayer(Layer):
    """Shared arguments: data_format, and the (batch, h, w, c) or (h, w, c) input check."""

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        if data_format not in (None, "channels_last", "channels_first"):
            raise ValueError(f"{type(self).__name__} '{self.name}': data_format must be 'channels_last' or "
                             f"'channels_first', got {data_format!r}")
        self.data_format = data_format or "channels_last"

    def _images(self, inputs):
        """Inputs as a float batch (a single image gains a batch axis), and whether to drop it again."""
        x = inputs if isinstance(inputs, Tensor) and inputs.dtype.kind == "f" else Tensor._wrap(
            (inputs.data if isinstance(inputs, Tensor) else np.asarray(inputs)).astype(self.dtype), False)
        if x.ndim not in (3, 4):
            raise ValueError(f"{type(self).__name__} '{self.name}' expects images of rank 3 or 4, got shape "
                             f"{tuple(x.shape)}")
        return (ops.expand_dims(x, 0), True) if x.ndim == 3 else (x, False)

    def _hw_axes(self):
        return (1, 2) if self.data_format == "channels_last" else (2, 3)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format}


class _RandomImageLayer(_ImageLayer):
    """An image layer with `seed`: its own generator when given, else tinydl's global one."""

    def __init__(self, seed=None, data_format=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self.seed = seed
        own = None if seed is None else np.random.default_rng(int(seed))
        self._rng = (lambda: own) if own is not None else backend.rng

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}


class RandomFlip(_RandomImageLayer):
    """Flips each image with probability 1/2: left-right ('horizontal'), up-down ('vertical'), or both at once."""

    def __init__(self, mode="horizontal_and_vertical", seed=None, data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        if mode not in _FLIP_MODES:
            raise ValueError(f"RandomFlip '{self.name}': mode must be one of {_FLIP_MODES}, got {mode!r}")
        self.mode = mode

    def call(self, inputs, training=True):
        if not training:
            return inputs
        x, single = self._images(inputs)
        flips = _constant(self._rng().uniform(size=(x.shape[0], 1, 1, 1)) <= 0.5, x)
        h_axis, w_axis = self._hw_axes()
        if self.mode in ("horizontal", "horizontal_and_vertical"):
            x = ops.where(flips, ops.flip(x, axis=w_axis), x)
        if self.mode in ("vertical", "horizontal_and_vertical"):
            x = ops.where(flips, ops.flip(x, axis=h_axis), x)
        return x[0] if single else x

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


class _AffineLayer(_RandomImageLayer):
    """Rotation, zoom and translation: one affine map per image, sampled with `affine_transform`."""

    def __init__(self, fill_mode="reflect", interpolation="bilinear", seed=None, fill_value=0.0, data_format=None,
                 **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        if fill_mode not in FILL_MODES:
            raise ValueError(f"{type(self).__name__} '{self.name}': fill_mode must be one of {FILL_MODES}, got "
                             f"{fill_mode!r}")
        _check_interpolation(self, interpolation)
        self.fill_mode, self.interpolation, self.fill_value = fill_mode, interpolation, float(fill_value)

    def call(self, inputs, training=True):
        if not training:
            return inputs
        x, single = self._images(inputs)
        h_axis, w_axis = self._hw_axes()
        transforms = self.transforms(x.shape[0], x.shape[h_axis], x.shape[w_axis])
        y = affine_transform(x, transforms, self.interpolation, self.fill_mode, self.fill_value, self.data_format)
        return y[0] if single else y

    def get_config(self):
        return {**super().get_config(), "fill_mode": self.fill_mode, "interpolation": self.interpolation,
                "fill_value": self.fill_value}


class RandomRotation(_AffineLayer):
    """Rotates each image by a random fraction of a full turn drawn from `factor` (f: [-f, f]; (lo, hi))."""

    def __init__(self, factor, fill_mode="reflect", interpolation="bilinear", seed=None, fill_value=0.0,
                 data_format=None, **kwargs):
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kwargs)
        self.factor = _symmetric(factor, "factor", self)

    def transforms(self, n, height, width):
        angles = np.deg2rad(self._rng().uniform(self.factor[0] * 360.0, self.factor[1] * 360.0, size=n))
        return rotation_transforms(angles, height, width)

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


class RandomZoom(_AffineLayer):
    """Zooms each image by `1 + u`, u drawn from height_factor (and width_factor, or the same u when None);
    a positive u zooms out, a negative one in (Keras's convention)."""

    def __init__(self, height_factor, width_factor=None, fill_mode="reflect", interpolation="bilinear", seed=None,
                 fill_value=0.0, data_format=None, **kwargs):
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kwargs)
        self.height_factor, self.width_factor = _as_given(height_factor), _as_given(width_factor)
        self._height = _symmetric(height_factor, "height_factor", self)
        self._width = None if width_factor is None else _symmetric(width_factor, "width_factor", self)
        if self._height[0] < -1 or (self._width is not None and self._width[0] < -1):
            raise ValueError(f"RandomZoom '{self.name}': factors must be >= -1, got height_factor={height_factor}, "
                             f"width_factor={width_factor}")

    def transforms(self, n, height, width):
        zoom_h = self._rng().uniform(1 + self._height[0], 1 + self._height[1], size=n)
        zoom_w = zoom_h if self._width is None else self._rng().uniform(1 + self._width[0], 1 + self._width[1], size=n)
        zeros = np.zeros(n)
        return np.stack([zoom_w, zeros, (width - 1) / 2 * (1 - zoom_w), zeros, zoom_h, (height - 1) / 2 * (1 - zoom_h),
                         zeros, zeros], axis=1)

    def get_config(self):
        return {**super().get_config(), "height_factor": self.height_factor, "width_factor": self.width_factor}


class RandomTranslation(_AffineLayer):
    """Shifts each image by fractions of its height and width drawn from height_factor and width_factor."""

    def __init__(self, height_factor, width_factor, fill_mode="reflect", interpolation="bilinear", seed=None,
                 fill_value=0.0, data_format=None, **kwargs):
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kwargs)
        self.height_factor, self.width_factor = _as_given(height_factor), _as_given(width_factor)
        self._height = _symmetric(height_factor, "height_factor", self)
        self._width = _symmetric(width_factor, "width_factor", self)

    def transforms(self, n, height, width):
        dy = self._rng().uniform(self._height[0], self._height[1], size=n) * height
        dx = self._rng().uniform(self._width[0], self._width[1], size=n) * width
        ones, zeros = np.ones(n), np.zeros(n)
        return np.stack([ones, zeros, -dx, zeros, ones, -dy, zeros, zeros], axis=1)

    def get_config(self):
        return {**super().get_config(), "height_factor": self.height_factor, "width_factor": self.width_factor}


class RandomCrop(_RandomImageLayer):
    """Training: a random (height, width) window, one offset for the batch; an input not larger than the target
    is cut at the centred box of the target's aspect ratio and resized (bilinear) to (height, width).
    Inference: the identity, as Keras 3.15 (its docstring promises a centre crop; its code returns the input)."""

    def __init__(self, height, width, seed=None, data_format=None, name=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, name=name, **kwargs)
        for what, value in (("height", height), ("width", width)):
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"RandomCrop '{self.name}': {what} must be a positive int, got {value!r}")
        self.height, self.width = int(height), int(width)

    def call(self, inputs, training=True):
        if not training:
            return inputs
        x, single = self._images(inputs)
        h_axis, w_axis = self._hw_axes()
        h, w = x.shape[h_axis], x.shape[w_axis]
        if h > self.height and w > self.width:
            top = int(self._rng().uniform(0, h - self.height + 1))
            left = int(self._rng().uniform(0, w - self.width + 1))
        else:  # Keras's offsets of the centred aspect-ratio box
            crop_h = max(min(h, int(float(w * self.height) / self.width)), 1)
            crop_w = max(min(w, int(float(h * self.width) / self.height)), 1)
            top, left = int(float(h - crop_h) / 2), int(float(w - crop_w) / 2)
        index = [slice(None)] * 4
        index[h_axis], index[w_axis] = slice(top, top + self.height), slice(left, left + self.width)
        y = x[tuple(index)]
        if (y.shape[h_axis], y.shape[w_axis]) != (self.height, self.width):
            y = resize_images(y, (self.height, self.width), data_format=self.data_format)
        return y[0] if single else y

    def compute_output_shape(self, s):
        s = list(s)
        h_axis = len(s) - 3 if self.data_format == "channels_last" else len(s) - 2
        s[h_axis], s[h_axis + 1] = self.height, self.width
        return tuple(s)

    def get_config(self):
        return {**super().get_config(), "height": self.height, "width": self.width}


class RandomContrast(_RandomImageLayer):
    """Scales each image's deviation from its per-channel mean by a factor drawn from [1 - lo, 1 + hi]
    (`factor` f in [0, 1] gives lo = 0, hi = f, as Keras 3.15), then clips to `value_range`."""

    def __init__(self, factor, value_range=(0, 255), seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.factor = _bounded(factor, (0.0, 1.0), self)
        self.value_range = _value_range(value_range, self)

    def call(self, inputs, training=True):
        if not training:
            return inputs
        x, single = self._images(inputs)
        factor = self._rng().uniform(1.0 - self.factor[0], 1.0 + self.factor[1], size=(x.shape[0], 1, 1, 1))
        h_axis, w_axis = self._hw_axes()
        mean = ops.mean(x, axis=(h_axis, w_axis), keepdims=True)
        y = ops.clip((x - mean) * _constant(factor.astype(x.dtype), x) + mean, *self.value_range)
        return y[0] if single else y

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "value_range": self.value_range}


class RandomBrightness(_RandomImageLayer):
    """Adds to each image `u * (value_range[1] - value_range[0])`, u drawn from `factor` (f: [-f, f]; (lo, hi)
    within [-1, 1]), then clips to `value_range`."""

    def __init__(self, factor, value_range=(0, 255), seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.factor = _bounded(factor, (-1.0, 1.0), self)
        self.value_range = list(_value_range(value_range, self))

    def call(self, inputs, training=True):
        if not training:
            return inputs
        x, single = self._images(inputs)
        delta = self._rng().uniform(self.factor[0], self.factor[1], size=(x.shape[0], 1, 1, 1))
        delta = delta * (self.value_range[1] - self.value_range[0])
        y = ops.clip(x + _constant(delta.astype(x.dtype), x), *self.value_range)
        return y[0] if single else y

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "value_range": self.value_range}


class RandomGrayscale(_RandomImageLayer):
    """Replaces each image, with probability `factor`, by its luma 0.2989 R + 0.587 G + 0.114 B on every channel
    (images with 3 channels, or 1, which stay as they are)."""

    def __init__(self, factor=0.5, data_format=None, seed=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not 0 <= factor <= 1:
            raise ValueError(f"RandomGrayscale '{self.name}': factor must be a number in [0, 1], got {factor!r}")
        self.factor = factor

    def call(self, inputs, training=True):
        if not training:
            return inputs
        x, single = self._images(inputs)
        apply = self._rng().uniform(0, 1, size=(x.shape[0], 1, 1, 1)) < self.factor
        y = ops.where(_constant(apply, x), grayscale(x, self.data_format, self), x)
        return y[0] if single else y

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


class RandomInvert(_RandomImageLayer):
    """Replaces each image x by `value_range[1] - x` when a uniform draw falls below a probability itself drawn
    from `factor` (f in [0, 1]: [0, f]; a pair (lo, hi) as given, so (1, 1) always inverts)."""

    def __init__(self, factor=1.0, value_range=(0, 255), seed=None, data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.factor = _bounded(factor, (0.0, 1.0), self)
        self.value_range = _value_range(value_range, self)

    def call(self, inputs, training=True):
        if not training:
            return inputs
        x, single = self._images(inputs)
        rng = self._rng()
        probability = rng.uniform(self.factor[0], self.factor[1], size=x.shape[0])
        apply = (rng.uniform(0, 1, size=x.shape[0]) < probability).reshape(-1, 1, 1, 1)
        y = ops.where(_constant(apply, x), self.value_range[1] - x, x)
        return y[0] if single else y

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "value_range": self.value_range}


class Solarization(_RandomImageLayer):
    """On the 0-255 scale of `value_range`: adds a draw of `addition_factor` to each image, clips to [0, 255], and
    inverts (255 - v) every value not below a draw of `threshold_factor`. Each factor f in [0, 1] means [0, f], a
    pair (lo, hi) is sorted; as Keras 3.15 the draws are uniform in [lo, 255 hi] (lo is not scaled by 255)."""

    def __init__(self, addition_factor=0.0, threshold_factor=0.0, value_range=(0, 255), seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.addition_factor = _unit_factor(addition_factor, "addition_factor", self)
        self.threshold_factor = _unit_factor(threshold_factor, "threshold_factor", self)
        self.value_range = _value_range(value_range, self)

    def call(self, inputs, training=True):
        if not training:
            return inputs
        x, single = self._images(inputs)
        rng, shape = self._rng(), (x.shape[0], 1, 1, 1)
        additions = rng.uniform(self.addition_factor[0], self.addition_factor[1] * 255, size=shape)
        thresholds = rng.uniform(self.threshold_factor[0], self.threshold_factor[1] * 255, size=shape)
        y = self.solarize(x, additions, thresholds)
        return y[0] if single else y

    def solarize(self, x, additions, thresholds):
        """The transform with given (batch, 1, 1, 1) additions and thresholds on the 0-255 scale."""
        lo, hi = self.value_range
        v = ops.clip((x - lo) * (255.0 / (hi - lo)) + _constant(additions.astype(x.dtype), x), 0.0, 255.0)
        v = ops.where(v < _constant(thresholds.astype(x.dtype), x), v, 255.0 - v)
        return v * ((hi - lo) / 255.0) + lo

    def get_config(self):
        return {**super().get_config(), "addition_factor": self.addition_factor,
                "threshold_factor": self.threshold_factor, "value_range": self.value_range}


class AutoContrast(_ImageLayer):
    """Stretches each channel of each image linearly so its minimum and maximum span `value_range`, in training
    and inference alike (no randomness); a constant channel (0/0) is left as it is."""

    def __init__(self, value_range=(0, 255), data_format=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self.value_range = _value_range(value_range, self)

    def call(self, inputs, training=True):
        x, single = self._images(inputs)
        lo, hi = self.value_range
        axes = self._hw_axes()
        low, high = ops.min(x, axis=axes, keepdims=True), ops.max(x, axis=axes, keepdims=True)
        span = high - low
        flat = _constant(span.numpy() == 0, x)
        safe = ops.where(flat, ops.ones_like(span), span)
        y = ops.clip((x - low) / safe * (hi - lo) + lo, lo, hi)
        y = ops.where(flat, x, y)
        return y[0] if single else y

    def get_config(self):
        return {**super().get_config(), "value_range": self.value_range}


class RandomColorDegeneration(_RandomImageLayer):
    """Moves each image towards its luma by a fraction drawn from `factor` (f: [-f, f] within [-1, 1], as Keras
    3.15; a pair is sorted): x + u (grey(x) - x), clipped to `value_range`. RGB or single-channel images."""

    def __init__(self, factor, value_range=(0, 255), data_format=None, seed=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.factor = _bounded(factor, (-1.0, 1.0), self)
        self.value_range = _value_range(value_range, self)

    def call(self, inputs, training=True):
        if not training:
            return inputs
        x, single = self._images(inputs)
        u = _constant(self._rng().uniform(self.factor[0], self.factor[1], size=(x.shape[0], 1, 1, 1))
                      .astype(x.dtype), x)
        y = ops.clip(x + u * (grayscale(x, self.data_format, self) - x), *self.value_range)
        return y[0] if single else y

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "value_range": self.value_range}


class RandomSharpness(_RandomImageLayer):
    """Blends each image with its 3x3 smoothing (weights 1/13, centre 5/13, zero padding): x + (1 - 2u)(smooth - x),
    u drawn from `factor` (f in [0, 1]: [0, f]; a pair sorted), clipped to `value_range`; u > 1/2 sharpens."""

    def __init__(self, factor, value_range=(0, 255), data_format=None, seed=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.factor = _bounded(factor, (0.0, 1.0), self)
        self.value_range = _value_range(value_range, self)

    def call(self, inputs, training=True):
        if not training:
            return inputs
        x, single = self._images(inputs)
        u = self._rng().uniform(self.factor[0], self.factor[1], size=(x.shape[0], 1, 1, 1))
        y = ops.clip(x + _constant((1.0 - 2.0 * u).astype(x.dtype), x) * (smooth3x3(x, self.data_format) - x),
                     *self.value_range)
        return y[0] if single else y

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "value_range": self.value_range}


class RandomPosterization(_RandomImageLayer):
    """Keeps the top b bits of each 8-bit value (on the 0-255 scale of `value_range`, truncated to integers), b
    drawn per image from [lo, hi) of `factor` (an int f in [1, 8]: [1, f); lo == hi: exactly lo bits).
    A step function: no gradient reaches the input (as Keras's uint8 round trip)."""

    def __init__(self, factor, value_range=(0, 255), data_format=None, seed=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.factor = _bounded(factor, (1, 8), self)
        self.value_range = _value_range(value_range, self)

    def call(self, inputs, training=True):
        if not training:
            return inputs
        x, single = self._images(inputs)
        lo, hi = int(self.factor[0]), int(self.factor[1])
        bits = np.full(x.shape[0], lo) if lo == hi else self._rng().integers(lo, hi, size=x.shape[0])
        y = self.posterize(x, bits)
        return y[0] if single else y

    def posterize(self, x, bits):
        """The transform keeping `bits[i]` bits of image i."""
        lo, hi = self.value_range
        v = np.clip((x.numpy().astype("float64") - lo) * (255.0 / (hi - lo)), 0, 255)
        step = (2.0 ** (8 - np.asarray(bits, dtype="float64"))).reshape(-1, 1, 1, 1)
        kept = np.floor(np.floor(v) / step) * step
        return _constant((kept * ((hi - lo) / 255.0) + lo).astype(x.dtype), x)

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "value_range": self.value_range}


class RandomSaturation(_RandomImageLayer):
    """Scales the HSV saturation of each image by u / (1 - u + 1e-7), u drawn from `factor` (f: [-f, f] within
    [-1, 1], a pair sorted), clipping it to `value_range`. As Keras 3.15 the HSV conversion takes the pixel values
    as they are (not rescaled from value_range), so u = 0.5 keeps the image and u = 0 makes it grey."""

    def __init__(self, factor, value_range=(0, 255), data_format=None, seed=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.factor = _bounded(factor, (-1.0, 1.0), self)
        self.value_range = _value_range(value_range, self)

    def call(self, inputs, training=True):
        if not training:
            return inputs
        x, single = self._images(inputs)
        u = self._rng().uniform(self.factor[0], self.factor[1], size=x.shape[0])
        y = self.saturate(x, u / (1.0 - u + 1e-7))
        return y[0] if single else y

    def saturate(self, x, scales):
        """The transform with given per-image saturation scales."""
        x = _channels_last(x, self.data_format)
        hue, saturation, value = _planes(rgb_to_hsv(x))
        saturation = ops.clip(saturation * _constant(scales.reshape(-1, 1, 1).astype(x.dtype), x), *self.value_range)
        return _from_channels_last(hsv_to_rgb(ops.stack([hue, saturation, value], axis=-1)), self.data_format)

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "value_range": self.value_range}


class RandomHue(_RandomImageLayer):
    """Turns the HSV hue of each image (values rescaled from `value_range` to [0, 1]) by +-u/2 of a full turn,
    u drawn from `factor` (f in [0, 1]: [0, f]; a pair sorted) and the sign by a fair coin drawn first; the
    result is clipped to [0, 1] and scaled back."""

    def __init__(self, factor, value_range=(0, 255), data_format=None, seed=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.factor = _bounded(factor, (0.0, 1.0), self)
        self.value_range = _value_range(value_range, self)

    def call(self, inputs, training=True):
        if not training:
            return inputs
        x, single = self._images(inputs)
        rng = self._rng()
        sign = np.where(rng.uniform(size=x.shape[0]) > 0.5, -1.0, 1.0)
        y = self.turn(x, sign * rng.uniform(self.factor[0], self.factor[1], size=x.shape[0]) * 0.5)
        return y[0] if single else y

    def turn(self, x, shifts):
        """The transform with given per-image hue shifts (fractions of a turn)."""
        lo, hi = self.value_range
        x = _channels_last((x - lo) / (hi - lo), self.data_format)
        hue, saturation, value = _planes(rgb_to_hsv(x))
        hue = hue + _constant(shifts.reshape(-1, 1, 1).astype(x.dtype), x)
        hue = ops.where(hue > 1.0, hue - 1.0, hue)
        hue = ops.where(hue < 0.0, hue + 1.0, hue)
        y = ops.clip(hsv_to_rgb(ops.stack([hue, saturation, value], axis=-1)), 0.0, 1.0) * (hi - lo) + lo
        return _from_channels_last(y, self.data_format)

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "value_range": self.value_range}


class RandomShear(_AffineLayer):
    """Shears each image: output pixel (x, y) takes input point (x + sx y, sy x + y), Keras's map
    [1, sx, 0, sy, 1, 0, 0, 0] about the top-left corner (as Keras 3.15), sx and sy drawn from x_factor and
    y_factor (f in [0, 1]: [-f, f]; a pair in
    [0, 1] sorted) and both negated together by a fair coin drawn first."""

    def __init__(self, x_factor=0.0, y_factor=0.0, interpolation="bilinear", fill_mode="reflect", fill_value=0.0,
                 data_format=None, seed=None, **kwargs):
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kwargs)
        self.x_factor, self.y_factor = _as_given(x_factor), _as_given(y_factor)
        self._x = _shear_factor(x_factor, "x_factor", self)
        self._y = _shear_factor(y_factor, "y_factor", self)

    def transforms(self, n, height, width):
        rng = self._rng()
        sign = np.where(rng.uniform(size=n) > 0.5, -1.0, 1.0)
        shear_y = rng.uniform(self._y[0], self._y[1], size=n)
        shear_x = rng.uniform(self._x[0], self._x[1], size=n)
        return shear_transforms(sign * shear_x, sign * shear_y)

    def get_config(self):
        return {**super().get_config(), "x_factor": self.x_factor, "y_factor": self.y_factor}


def shear_transforms(shear_x, shear_y):
    """Keras's 8-number shear transforms [1, sx, 0, sy, 1, 0, 0, 0] per image."""
    ones, zeros = np.ones_like(shear_x), np.zeros_like(shear_x)
    return np.stack([ones, shear_x, zeros, shear_y, ones, zeros, zeros, zeros], axis=1)


class RandomGaussianBlur(_RandomImageLayer):
    """Blurs each image, with a probability drawn from `factor` (f in [0, 1]: [0, f]; a pair sorted), by a
    Gaussian of odd `kernel_size` (an int, or (x, y)) and one (x, y) sigma pair per batch drawn from `sigma`
    (f in [0, 1]: [0, f]; a pair sorted) plus 1e-6, zero-padded; then clips to `value_range`."""

    def __init__(self, factor=1.0, kernel_size=3, sigma=1.0, value_range=(0, 255), data_format=None, seed=None,
                 **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.factor = _bounded(factor, (0.0, 1.0), self)
        sizes = kernel_size if isinstance(kernel_size, (list, tuple)) else (kernel_size, kernel_size)
        if len(sizes) != 2 or not all(isinstance(k, (int, np.integer)) and k > 0 and k % 2 == 1 for k in sizes):
            raise ValueError(f"RandomGaussianBlur '{self.name}': kernel_size must be an odd positive int or a pair of "
                             f"them, got {kernel_size!r}")
        self.kernel_size = tuple(int(k) for k in sizes)
        self.sigma = _unit_factor(sigma, "sigma", self)
        self.value_range = _value_range(value_range, self)

    def call(self, inputs, training=True):
        if not training:
            return inputs
        x, single = self._images(inputs)
        rng = self._rng()
        probability = rng.uniform(self.factor[0], self.factor[1], size=x.shape[0])
        apply = rng.uniform(0.0, 1.0, size=x.shape[0]) < probability
        sigma = rng.uniform(self.sigma[0], self.sigma[1], size=2) + 1e-6
        y = self.blur(x, apply, sigma)
        return y[0] if single else y

    def blur(self, x, apply, sigma):
        """The transform with given per-image choices and the batch's (x, y) sigma."""
        blurred = gaussian_blur(x, self.kernel_size, tuple(float(v) for v in sigma), data_format=self.data_format)
        return ops.clip(ops.where(_constant(np.asarray(apply).reshape(-1, 1, 1, 1), x), blurred, x),
                        *self.value_range)

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "kernel_size": self.kernel_size, "sigma": self.sigma,
                "value_range": self.value_range}


class Equalization(_ImageLayer):
    """Histogram equalisation per channel, the histogram (`bins` bins over the 0-255 scale of `value_range`) taken
    over the whole batch as Keras 3.15 does; a channel with one occupied bin is kept. Active in training only (as
    Keras's); a lookup, so no gradient reaches the input."""

    def __init__(self, value_range=(0, 255), bins=256, data_format=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins < 2:
            raise ValueError(f"Equalization '{self.name}': bins must be an int >= 2, got {bins!r}")
        self.bins = int(bins)
        self.value_range = _value_range(value_range, self)

    def call(self, inputs, training=True):
        if not training:
            return inputs
        x, single = self._images(inputs)
        a = x.numpy().astype("float64")
        axis = 3 if self.data_format == "channels_last" else 1
        lo, hi = self.value_range
        out = np.empty_like(a)
        for c in range(a.shape[axis]):
            channel = np.take(a, c, axis=axis)
            scaled = channel if (lo, hi) == (0, 255) else (channel - lo) * (255.0 / (hi - lo))
            equalized = self._equalize(scaled.astype("float32").astype("float64"))
            if (lo, hi) != (0, 255):
                equalized = equalized * ((hi - lo) / 255.0) + lo
            index = [slice(None)] * 4
            index[axis] = c
            out[tuple(index)] = equalized
        y = _constant(out.astype(x.dtype), x)
        return y[0] if single else y

    def _equalize(self, channel):
        indices = np.clip(np.trunc(channel * (self.bins - 1) / 255.0), 0, self.bins - 1).astype(np.int64)
        hist = np.bincount(indices.ravel(), minlength=self.bins)
        if np.count_nonzero(hist) <= 1:
            return channel
        cdf = np.cumsum(hist)
        cdf_min = cdf[np.nonzero(cdf)[0][0]]
        denominator = cdf[-1] - cdf_min or 1
        table = np.clip(np.round((cdf - cdf_min) * 255.0 / denominator), 0, 255)
        return table[np.clip(channel / 255.0 * (self.bins - 1), 0, self.bins - 1).astype(np.int64)]

    def get_config(self):
        return {**super().get_config(), "value_range": self.value_range, "bins": self.bins}


class MixUp(_RandomImageLayer):
    """MixUp (Zhang et al., 2018): image i becomes w x_i + (1 - w) x_p(i) for a batch permutation p and
    w ~ Beta(alpha, alpha) per image. Takes an image batch, or a dict with "images" and optionally "labels"
    (mixed with the same w and p); other keys are refused. Differentiable in the images and labels."""

    def __init__(self, alpha=0.2, data_format=None, seed=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or alpha <= 0:
            raise ValueError(f"MixUp '{self.name}': alpha must be a positive number, got {alpha!r}")
        self.alpha = alpha

    def call(self, inputs, training=True):
        if not training:
            return inputs
        data = inputs if isinstance(inputs, dict) else {"images": inputs}
        unknown = sorted(set(data) - {"images", "labels"})
        if unknown:
            raise ValueError(f"MixUp '{self.name}': takes a dict with 'images' and 'labels' only, got keys {unknown}")
        x, single = self._images(data["images"])
        rng = self._rng()
        order = rng.permutation(x.shape[0])
        weights = rng.beta(self.alpha, self.alpha, size=x.shape[0])
        labels = data.get("labels")
        if single and labels is not None:  # an unbatched image's labels gain the batch axis too
            labels = ops.expand_dims(labels if isinstance(labels, Tensor) else Tensor._wrap(
                np.asarray(labels, dtype=x.dtype), False), 0)
        out = self.mix(x, labels, order, weights)
        if single:
            out = {k: v[0] for k, v in out.items()}
        return out if isinstance(inputs, dict) else out["images"]

    def mix(self, images, labels, order, weights):
        """{"images": ..., "labels": ...} mixed with the given permutation and weights (labels may be None)."""
        w = _constant(np.asarray(weights).reshape(-1, 1, 1, 1).astype(images.dtype), images)
        index = backend.to_device(np.asarray(order, dtype=np.int64), images.device)
        out = {"images": w * images + (1.0 - w) * ops.take(images, index, axis=0)}
        if labels is not None:
            y = labels if isinstance(labels, Tensor) else Tensor._wrap(np.asarray(labels, dtype=images.dtype), False)
            v = ops.reshape(w, (-1,) + (1,) * (y.ndim - 1))
            out["labels"] = v * y + (1.0 - v) * ops.take(y, index, axis=0)
        return out

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha}


class RandomErasing(_RandomImageLayer):
    """Random erasing (Zhong et al., 2017): with a probability drawn from `factor` (f in [0, 1]: [0, f]; a pair
    sorted), each image loses a box of sides sqrt(u_w) W and sqrt(u_h) H, u drawn from `scale`, at a uniform
    position; the box takes `fill_value` (a number, or one per RGB channel; None: Gaussian noise times
    value_range[1]), clipped to `value_range`. Gradients reach the pixels outside the boxes."""

    def __init__(self, factor=1.0, scale=(0.02, 0.33), fill_value=None, value_range=(0, 255), seed=None,
                 data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.factor = _bounded(factor, (0.0, 1.0), self)
        self.scale = _unit_factor(scale, "scale", self)
        if not (fill_value is None or (isinstance(fill_value, (int, float)) and not isinstance(fill_value, bool))
                or (isinstance(fill_value, (list, tuple)) and len(fill_value) == 3)):
            raise ValueError(f"RandomErasing '{self.name}': fill_value must be None, a number or three numbers, got "
                             f"{fill_value!r}")
        self.fill_value = list(fill_value) if isinstance(fill_value, tuple) else fill_value
        self.value_range = _value_range(value_range, self)

    def call(self, inputs, training=True):
        if not training:
            return inputs
        x, single = self._images(inputs)
        rng, n = self._rng(), x.shape[0]
        h_axis, w_axis = self._hw_axes()
        height, width = x.shape[h_axis], x.shape[w_axis]
        sides = np.sqrt(rng.uniform(self.scale[0], self.scale[1], size=(n, 2)))
        x0 = rng.uniform(size=n) * (width - sides[:, 0] * width)
        y0 = rng.uniform(size=n) * (height - sides[:, 1] * height)
        probability = rng.uniform(self.factor[0], self.factor[1], size=n)
        apply = rng.uniform(size=n) < probability
        if self.fill_value is None:
            fill = rng.standard_normal(size=x.shape) * self.value_range[1]
        else:
            fill = np.broadcast_to(np.asarray(self.fill_value, dtype="float64").reshape(
                (1, 1, 1, -1) if self.data_format == "channels_last" else (1, -1, 1, 1)), x.shape)
        y = self.erase(x, (x0, x0 + sides[:, 0] * width, y0, y0 + sides[:, 1] * height), apply, fill)
        return y[0] if single else y

    def erase(self, x, corners, apply, fill):
        """Boxes (x0, x1, y0, y1) per image (pixels with x0 <= col < x1, y0 <= row < y1) filled where `apply`."""
        h_axis, w_axis = self._hw_axes()
        rows, cols = np.arange(x.shape[h_axis]), np.arange(x.shape[w_axis])
        x0, x1, y0, y1 = (np.asarray(c, dtype="float64").reshape(-1, 1, 1) for c in corners)
        inside = ((cols[None, None, :] >= x0) & (cols[None, None, :] < x1) &
                  (rows[None, :, None] >= y0) & (rows[None, :, None] < y1))
        inside = inside & np.asarray(apply, dtype=bool).reshape(-1, 1, 1)
        mask = inside[..., None] if self.data_format == "channels_last" else inside[:, None]
        fill = np.clip(np.asarray(fill, dtype="float64"), *self.value_range)
        return ops.where(_constant(np.broadcast_to(mask, x.shape), x), _constant(fill.astype(x.dtype), x), x)

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "scale": self.scale, "fill_value": self.fill_value,
                "value_range": self.value_range}


class CutMix(_RandomImageLayer):
    """CutMix (Yun et al., 2019): image i takes a box from image p(i) of a batch permutation, of sides
    sqrt(1 - w) H and sqrt(1 - w) W at a uniform position, w ~ Beta(a, a) per image and a drawn once per batch from
    `factor` (f in [0, 1]: [0, f]; a pair sorted) plus 1e-6. Labels (in a dict with "images") mix by the box's
    area: l' = v l_i + (1 - v) l_p(i), v = 1 - box area / image area (the unrounded box, as Keras 3.15). A single
    unbatched image is returned as it is. Gradients reach the pixels kept and pasted."""

    def __init__(self, factor=1.0, seed=None, data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.factor = _bounded(factor, (0.0, 1.0), self)

    def call(self, inputs, training=True):
        if not training:
            return inputs
        data = inputs if isinstance(inputs, dict) else {"images": inputs}
        unknown = sorted(set(data) - {"images", "labels"})
        if unknown:
            raise ValueError(f"CutMix '{self.name}': takes a dict with 'images' and 'labels' only, got keys {unknown}")
        x, single = self._images(data["images"])
        if single:
            return inputs
        rng, n = self._rng(), x.shape[0]
        h_axis, w_axis = self._hw_axes()
        height, width = x.shape[h_axis], x.shape[w_axis]
        alpha = rng.uniform(self.factor[0], self.factor[1]) + 1e-6
        ratio = np.sqrt(1.0 - rng.beta(alpha, alpha, size=n))
        x0 = rng.uniform(size=n) * (width - ratio * width)
        y0 = rng.uniform(size=n) * (height - ratio * height)
        order = rng.permutation(n)
        out = self.cut(x, data.get("labels"), (x0, x0 + ratio * width, y0, y0 + ratio * height), order)
        return out if isinstance(inputs, dict) else out["images"]

    def cut(self, images, labels, corners, order):
        """{"images": ..., "labels": ...} with the given boxes (x0, x1, y0, y1) pasted from images `order`."""
        h_axis, w_axis = self._hw_axes()
        height, width = images.shape[h_axis], images.shape[w_axis]
        rows, cols = np.arange(height), np.arange(width)
        x0, x1, y0, y1 = (np.asarray(c, dtype="float64") for c in corners)
        inside = ((cols[None, None, :] >= x0[:, None, None]) & (cols[None, None, :] < x1[:, None, None]) &
                  (rows[None, :, None] >= y0[:, None, None]) & (rows[None, :, None] < y1[:, None, None]))
        mask = inside[..., None] if self.data_format == "channels_last" else inside[:, None]
        index = backend.to_device(np.asarray(order, dtype=np.int64), images.device)
        out = {"images": ops.where(_constant(np.broadcast_to(mask, images.shape), images),
                                   ops.take(images, index, axis=0), images)}
        if labels is not None:
            y = labels if isinstance(labels, Tensor) else Tensor._wrap(np.asarray(labels, dtype=images.dtype), False)
            keep = 1.0 - (x1 - x0) * (y1 - y0) / (width * height)
            v = _constant(keep.reshape((-1,) + (1,) * (y.ndim - 1)).astype(y.dtype), y)
            out["labels"] = v * y + (1.0 - v) * ops.take(y, index, axis=0)
        return out

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


class RandomColorJitter(_RandomImageLayer):
    """RandomBrightness, RandomContrast, RandomSaturation and RandomHue in that order, each only when its factor
    is given (Keras 3.15's meanings, with the shared `value_range`), all drawing from this layer's generator.
    Unlike Keras 3.15, whose inner layers ignore it, `data_format` reaches every step."""

    def __init__(self, value_range=(0, 255), brightness_factor=None, contrast_factor=None, saturation_factor=None,
                 hue_factor=None, seed=None, data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.value_range = _value_range(value_range, self)
        self.brightness_factor, self.contrast_factor = _as_given(brightness_factor), _as_given(contrast_factor)
        self.saturation_factor, self.hue_factor = _as_given(saturation_factor), _as_given(hue_factor)
        steps = [(RandomBrightness, brightness_factor), (RandomContrast, contrast_factor),
                 (RandomSaturation, saturation_factor), (RandomHue, hue_factor)]
        self._steps = []
        for cls, factor in steps:
            if factor is None:
                continue
            try:
                step = cls(factor, value_range=self.value_range, data_format=self.data_format, dtype=self.dtype)
            except ValueError as error:
                what = cls.__name__.replace("Random", "").lower() + "_factor"
                raise ValueError(f"RandomColorJitter '{self.name}': {what}: {error}") from None
            step._rng = self._rng
            self._steps.append(step)

    def call(self, inputs, training=True):
        if not training:
            return inputs
        x, single = self._images(inputs)
        for step in self._steps:
            x = step(x, training=True)
        return x[0] if single else x

    def get_config(self):
        return {**super().get_config(), "value_range": self.value_range, "brightness_factor": self.brightness_factor,
                "contrast_factor": self.contrast_factor, "saturation_factor": self.saturation_factor,
                "hue_factor": self.hue_factor}


class RandomPerspective(_RandomImageLayer):
    """Warps each image, with a probability drawn from `factor` (f in [0, 1]: [0, f]; a pair sorted), by the
    homography moving its corners p to p (1 + d), d uniform in [-scale/2, scale/2] per coordinate (as Keras 3.15,
    so the top-left corner stays), sampled with `interpolation`, outside points taking `fill_value`."""

    def __init__(self, factor=1.0, scale=1.0, interpolation="bilinear", fill_value=0.0, seed=None, data_format=None,
                 **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.factor = _bounded(factor, (0.0, 1.0), self)
        if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not 0 <= scale <= 1:
            raise ValueError(f"RandomPerspective '{self.name}': scale must be a number in [0, 1], got {scale!r}")
        _check_interpolation(self, interpolation)
        self.scale, self.interpolation, self.fill_value = scale, interpolation, float(fill_value)

    def call(self, inputs, training=True):
        if not training:
            return inputs
        x, single = self._images(inputs)
        rng, n = self._rng(), x.shape[0]
        h_axis, w_axis = self._hw_axes()
        height, width = x.shape[h_axis], x.shape[w_axis]
        probability = rng.uniform(self.factor[0], self.factor[1], size=n)
        apply = rng.uniform(size=n) < probability
        moves = rng.uniform(-0.5 * self.scale, 0.5 * self.scale, size=(n, 4, 2))
        start = np.repeat(np.array([[[0.0, 0.0], [width - 1, 0.0], [0.0, height - 1],
                                     [width - 1, height - 1]]]), n, axis=0)
        y = self.warp(x, start, start + start * moves, apply)
        return y[0] if single else y

    def warp(self, x, start, end, apply):
        """Images moved from corners `start` (n, 4, 2 as (x, y)) to `end`, where `apply`."""
        warped = affine_transform(x, homographies(start, end), self.interpolation, "constant", self.fill_value,
                                  self.data_format)
        return ops.where(_constant(np.asarray(apply, dtype=bool).reshape(-1, 1, 1, 1), x), warped, x)

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "scale": self.scale,
                "interpolation": self.interpolation, "fill_value": self.fill_value}


def _check_interpolation(layer, interpolation):
    """The warping layers sample with 'nearest' or 'bilinear' only: anything else is an error naming the layer."""
    if interpolation not in ("nearest", "bilinear"):
        raise ValueError(f"{type(layer).__name__} '{layer.name}': interpolation must be 'nearest' or 'bilinear', "
                         f"got {interpolation!r}")


def homographies(start, end):
    """The 8-number transforms taking each output point of `end` (n, 4, 2) to its input point in `start`."""
    rows, targets = [], []
    for k in range(4):
        (sx, sy), (ex, ey) = start[:, k].T, end[:, k].T
        one, zero = np.ones_like(ex), np.zeros_like(ex)
        rows += [np.stack([ex, ey, one, zero, zero, zero, -sx * ex, -sx * ey], -1),
                 np.stack([zero, zero, zero, ex, ey, one, -sy * ex, -sy * ey], -1)]
        targets += [sx, sy]
    return np.linalg.solve(np.stack(rows, 1), np.stack(targets, 1)[..., None])[..., 0]


def _channels_last(x, data_format):
    return ops.transpose(x, (0, 2, 3, 1)) if data_format == "channels_first" else x


def _from_channels_last(x, data_format):
    return ops.transpose(x, (0, 3, 1, 2)) if data_format == "channels_first" else x


def _planes(x):
    if x.shape[-1] != 3:
        raise ValueError(f"HSV conversion expects 3 (RGB) channels, got shape {tuple(x.shape)}")
    return x[..., 0], x[..., 1], x[..., 2]


def rgb_to_hsv(x):
    """Channels-last RGB to HSV, all in [0, 1] for inputs there (dm_pix's formulas, as Keras's); composed of
    tinydl.ops, so differentiable (tinydl.ops.image.rgb_to_hsv is not)."""
    eps = float(np.finfo(x.dtype).eps)
    x = ops.where(ops.abs(x) < eps, ops.zeros_like(x), x)
    r, g, b = _planes(x)
    value = ops.maximum(ops.maximum(r, g), b)
    span = value - ops.minimum(ops.minimum(r, g), b)
    positive, spread = value > 0, span > 0
    saturation = ops.where(positive, span / ops.where(positive, value, ops.ones_like(value)), ops.zeros_like(value))
    norm = 1.0 / (6.0 * ops.where(spread, span, ops.ones_like(span)))
    hue = ops.where(value == g, norm * (b - r) + 2.0 / 6.0, norm * (r - g) + 4.0 / 6.0)
    hue = ops.where(value == r, norm * (g - b), hue)
    hue = ops.where(spread, hue, ops.zeros_like(hue))
    hue = ops.where(hue < 0.0, hue + 1.0, hue)
    return ops.stack([hue, saturation, value], axis=-1)


def hsv_to_rgb(x):
    """Channels-last HSV to RGB (dm_pix's formulas, as Keras's)."""
    hue, saturation, value = _planes(x)
    dh = ops.mod(hue, 1.0) * 6.0
    planes = [ops.clip(ops.abs(dh - 3.0) - 1.0, 0.0, 1.0), ops.clip(2.0 - ops.abs(dh - 2.0), 0.0, 1.0),
              ops.clip(2.0 - ops.abs(dh - 4.0), 0.0, 1.0)]
    return ops.stack([value * (1.0 - saturation + saturation * d) for d in planes], axis=-1)


def smooth3x3(x, data_format):
    """Each channel convolved with [[1, 1, 1], [1, 5, 1], [1, 1, 1]] / 13 over zero 'same' padding."""
    h_axis, w_axis = (1, 2) if data_format == "channels_last" else (2, 3)
    widths = [(0, 0)] * 4
    widths[h_axis], widths[w_axis] = (1, 1), (1, 1)
    padded = ops.pad(x, widths)
    h, w = x.shape[h_axis], x.shape[w_axis]
    total = None
    for dy in range(3):
        for dx in range(3):
            index = [slice(None)] * 4
            index[h_axis], index[w_axis] = slice(dy, dy + h), slice(dx, dx + w)
            tap = padded[tuple(index)] * ((5.0 if dy == dx == 1 else 1.0) / 13.0)
            total = tap if total is None else total + tap
    return total


def grayscale(x, data_format, layer):
    """Luma of RGB images (batch, h, w, 3) or (batch, 3, h, w), kept with a channel axis of 1; grey images as given."""
    axis = 3 if data_format == "channels_last" else 1
    if x.shape[axis] == 1:
        return x
    if x.shape[axis] != 3:
        raise ValueError(f"{type(layer).__name__} '{layer.name}' expects 3 (RGB) or 1 channels, got shape "
                         f"{tuple(x.shape)}")
    weights = _constant(np.array([0.2989, 0.587, 0.114], dtype=x.dtype).reshape(
        (1, 1, 1, 3) if axis == 3 else (1, 3, 1, 1)), x)
    return ops.sum(x * weights, axis=axis, keepdims=True)


def rotation_transforms(angles, height, width):
    """Keras's 8-number transforms rotating images by `angles` (radians) about their centres."""
    cx, cy = 0.5 * (width - 1), 0.5 * (height - 1)
    cos, sin, zeros = np.cos(angles), np.sin(angles), np.zeros_like(angles)
    a0, a1, b0, b1 = cos, -sin, sin, cos
    return np.stack([a0, a1, cx - cx * a0 - cy * a1, b0, b1, cy - cx * b0 - cy * b1, zeros, zeros], axis=1)


def affine_transform(x, transforms, interpolation="bilinear", fill_mode="reflect", fill_value=0.0,
                     data_format="channels_last"):
    """Output pixel (y, x) of image i takes input point (b0 x + b1 y + b2, a0 x + a1 y + a2) (row, col) of
    `transforms[i]` = [a0, a1, a2, b0, b1, b2, c0, c1] over k = c0 x + c1 y + 1, sampled with 'nearest' or
    'bilinear' interpolation; points outside follow `fill_mode` (Keras's map_coordinates)."""
    if data_format == "channels_first":
        return ops.transpose(affine_transform(ops.transpose(x, (0, 2, 3, 1)), transforms, interpolation, fill_mode,
                                              fill_value), (0, 3, 1, 2))
    n, h, w, c = x.shape
    ys, xs = np.meshgrid(np.arange(h, dtype="float64"), np.arange(w, dtype="float64"), indexing="ij")
    t = np.asarray(transforms, dtype="float64")[:, :, None, None]
    k = t[:, 6] * xs + t[:, 7] * ys + 1.0
    src_x, src_y = (t[:, 0] * xs + t[:, 1] * ys + t[:, 2]) / k, (t[:, 3] * xs + t[:, 4] * ys + t[:, 5]) / k
    flat = ops.reshape(x, (n * h * w, c))
    base = (np.arange(n) * h * w)[:, None, None]
    rows = [(_fix_index(r, h, fill_mode), wr, (0 <= r) & (r < h)) for r, wr in _taps(src_y, interpolation)]
    cols = [(_fix_index(q, w, fill_mode), wq, (0 <= q) & (q < w)) for q, wq in _taps(src_x, interpolation)]
    indices, weights, filled = [], [], np.zeros((n, h, w))
    for r, wr, r_inside in rows:
        for q, wq, q_inside in cols:
            weight = wr * wq
            inside = r_inside & q_inside if fill_mode == "constant" else True
            indices.append(base + r * w + q)
            weights.append(weight * inside)
            filled = filled + weight * ~np.asarray(inside, dtype=bool)
    # one gather of every tap, then their weighted sum
    taps = ops.reshape(ops.take(flat, backend.to_device(np.stack(indices).ravel(), x.device), axis=0),
                       (len(indices), n, h, w, c))
    out = ops.sum(taps * _constant(np.stack(weights)[..., None].astype(x.dtype), x), axis=0)
    if fill_mode == "constant" and fill_value != 0.0:
        out = out + _constant((filled * fill_value)[..., None].astype(x.dtype), x)
    return out


def _constant(array, like):
    """A NumPy array as a constant Tensor on `like`'s device."""
    return Tensor._wrap(backend.to_device(np.asarray(array), like.device), False)


def _taps(coordinate, interpolation):
    """(integer index, weight) pairs of one axis: the rounded index, or the two linear neighbours."""
    if interpolation == "nearest":
        return [(np.round(coordinate).astype(np.int64), np.ones_like(coordinate))]
    lower = np.floor(coordinate)
    upper_weight = coordinate - lower
    lower = lower.astype(np.int64)
    return [(lower, 1.0 - upper_weight), (lower + 1, upper_weight)]


def _fix_index(index, size, fill_mode):
    """Indices outside [0, size) mapped back in, per fill mode (constant clips; its weight is zeroed)."""
    if fill_mode in ("constant", "nearest"):
        return np.clip(index, 0, size - 1)
    if fill_mode == "wrap":
        return index % size
    if fill_mode == "mirror":
        return _mirror(index, size)
    return (_mirror(2 * index + 1, 2 * size + 1) - 1) // 2  # reflect: half-sample symmetric


def _mirror(index, size):
    s = size - 1
    if s == 0:
        return np.zeros_like(index)
    return np.abs((index + s) % (2 * s) - s)


def _as_given(factor):
    """A factor for the config: numbers as given, pairs as tuples (so a JSON round trip compares equal)."""
    return tuple(factor) if isinstance(factor, list) else factor


def _symmetric(factor, what, layer):
    """A number f as (-f, f), or a pair (lo, hi) as given."""
    if isinstance(factor, (int, float)) and not isinstance(factor, bool):
        return (-abs(float(factor)), abs(float(factor)))
    if isinstance(factor, (list, tuple)) and len(factor) == 2:
        lo, hi = float(factor[0]), float(factor[1])
        if lo > hi:
            raise ValueError(f"{type(layer).__name__} '{layer.name}': {what} (lower, upper) needs lower <= upper, "
                             f"got {factor!r}")
        return (lo, hi)
    raise ValueError(f"{type(layer).__name__} '{layer.name}': {what} must be a number or a pair of numbers, "
                     f"got {factor!r}")


def _bounded(factor, bounds, layer):
    """Keras's _set_factor: a number f gives (max(-|f|, low), |f|), a pair is sorted; both within bounds."""
    message = (f"{type(layer).__name__} '{layer.name}': factor must be a number or a pair of numbers in "
               f"[{bounds[0]}, {bounds[1]}], got {factor!r}")
    if isinstance(factor, (list, tuple)):
        if len(factor) != 2 or factor[0] > bounds[1] or factor[1] < bounds[0]:
            raise ValueError(message)
        return tuple(sorted(factor))
    if isinstance(factor, (int, float)) and not isinstance(factor, bool):
        if not bounds[0] <= factor <= bounds[1]:
            raise ValueError(message)
        return (max(-abs(factor), bounds[0]), abs(factor))
    raise ValueError(message)


def _shear_factor(factor, what, layer):
    """RandomShear's factors: a number f in [0, 1] gives (-f, f), a pair in [0, 1] is sorted."""
    if isinstance(factor, (int, float)) and not isinstance(factor, bool) and 0 <= factor <= 1:
        return (-float(factor), float(factor))
    if isinstance(factor, (list, tuple)) and len(factor) == 2 and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= 1 for v in factor):
        return tuple(sorted(float(v) for v in factor))
    raise ValueError(f"{type(layer).__name__} '{layer.name}': {what} must be a number or a pair of numbers in "
                     f"[0, 1], got {factor!r}")


def _unit_factor(factor, what, layer):
    """Solarization's factors: a number f in [0, 1] gives (0, f), a pair in [0, 1] is sorted."""
    pair = factor if isinstance(factor, (list, tuple)) else (0.0, factor)
    if len(pair) != 2 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= 1
                                 for v in pair):
        raise ValueError(f"{type(layer).__name__} '{layer.name}': {what} must be a number or a pair of numbers in "
                         f"[0, 1], got {factor!r}")
    return tuple(sorted(float(v) for v in pair))


def _value_range(value_range, layer):
    if not isinstance(value_range, (list, tuple)) or len(value_range) != 2:
        raise ValueError(f"{type(layer).__name__} '{layer.name}': value_range must be a pair (low, high), got "
                         f"{value_range!r}")
    return tuple(sorted(value_range))
