"""keras.ops.image: colour conversions, padding and cropping, resizing, patches and blurring of image batches.

Images are (batch, height, width, channels) or a single (height, width, channels) image; data_format
'channels_first' is accepted where Keras accepts it. Differentiable functions compose tinydl.ops.
"""
import numpy as np

from tinydl.backend import array_module
from tinydl.ops.convolution import conv, depthwise_conv
from tinydl.ops.reduce import mean
from tinydl.ops.shape import getitem, pad, reshape, stack, take, transpose
from tinydl.tensor import Tensor, as_tensor

__all__ = ["rgb_to_grayscale", "rgb_to_hsv", "hsv_to_rgb", "pad_images", "crop_images", "resize",
           "extract_patches", "gaussian_blur", "sobel_edges", "ssim", "map_coordinates", "affine_transform"]


def rgb_to_grayscale(images, data_format=None):
    """Luma 0.2989 R + 0.5870 G + 0.1140 B, keeping a channel axis of length 1."""
    x, restore = _channels_last(images, data_format)
    weights = np.array([0.2989, 0.5870, 0.1140], dtype=x.dtype).reshape(3, 1)
    return restore(x @ weights)


def rgb_to_hsv(images, data_format=None):
    """RGB in [0, 1] to HSV in [0, 1] (no gradient)."""
    x, restore = _channels_last(images, data_format)
    a = x.data
    xp = array_module(a)
    r, g, b = a[..., 0], a[..., 1], a[..., 2]
    v = a.max(-1)
    delta = v - a.min(-1)
    safe = xp.where(delta == 0, 1, delta)
    s = xp.where(v == 0, 0, delta / xp.where(v == 0, 1, v))
    h = xp.where(v == r, (g - b) / safe, xp.where(v == g, 2 + (b - r) / safe, 4 + (r - g) / safe))
    h = xp.where(delta == 0, 0, (h / 6) % 1.0)
    return restore(Tensor(xp.stack([h, s, v], axis=-1).astype(a.dtype)))


def hsv_to_rgb(images, data_format=None):
    """HSV in [0, 1] to RGB in [0, 1] (no gradient)."""
    x, restore = _channels_last(images, data_format)
    a = x.data
    xp = array_module(a)
    h, s, v = a[..., 0], a[..., 1], a[..., 2]

    def channel(n):  # the closed form f(n) = v - v s max(0, min(k, 4 - k, 1)), k = (n + 6 h) mod 6
        k = (n + 6 * h) % 6
        return v - v * s * xp.clip(xp.minimum(k, 4 - k), 0, 1)
    return restore(Tensor(xp.stack([channel(5), channel(3), channel(1)], axis=-1).astype(a.dtype)))


def pad_images(images, top_padding=None, left_padding=None, bottom_padding=None, right_padding=None,
               target_height=None, target_width=None, data_format=None):
    """Zero-pad to target_height x target_width, or by the given paddings (two of each axis's three)."""
    x, restore = _channels_last(images, data_format)
    h, w = x.shape[1:3]
    top, bottom = _split_extra("pad_images", "height", h, top_padding, bottom_padding, target_height, grow=True)
    left, right = _split_extra("pad_images", "width", w, left_padding, right_padding, target_width, grow=True)
    return restore(pad(x, ((0, 0), (top, bottom), (left, right), (0, 0))))


def crop_images(images, top_cropping=None, left_cropping=None, bottom_cropping=None, right_cropping=None,
                target_height=None, target_width=None, data_format=None):
    """Crop to target_height x target_width, or by the given croppings (two of each axis's three)."""
    x, restore = _channels_last(images, data_format)
    h, w = x.shape[1:3]
    top, bottom = _split_extra("crop_images", "height", h, top_cropping, bottom_cropping, target_height, grow=False)
    left, right = _split_extra("crop_images", "width", w, left_cropping, right_cropping, target_width, grow=False)
    return restore(getitem(x, (slice(None), slice(top, h - bottom), slice(left, w - right))))


def _split_extra(name, what, size, before, after, target, grow):
    """(before, after) from any two of before, after and the target size."""
    given = sum(v is not None for v in (before, after, target))
    if given != 2:
        raise ValueError(f"{name}: give exactly two of the two {what} amounts and target_{what}, received "
                         f"{before}, {after} and {target}")
    change = None if target is None else (target - size if grow else size - target)
    before = change - after if before is None else before
    after = change - before if after is None else after
    if before < 0 or after < 0:
        raise ValueError(f"{name}: the {what} amounts must not be negative (image {what} {size}, target {target})")
    return before, after


def resize(images, size, interpolation="bilinear", antialias=False, crop_to_aspect_ratio=False,
           pad_to_aspect_ratio=False, fill_mode="constant", fill_value=0.0, data_format=None):
    """Resize to size (height, width) with half-pixel centres, 'bilinear' or 'nearest' (PyTorch's nearest-exact)."""
    if interpolation not in ("bilinear", "nearest"):
        raise ValueError(f"resize: interpolation must be 'bilinear' or 'nearest', received {interpolation!r}")
    for arg, value in (("antialias", antialias), ("crop_to_aspect_ratio", crop_to_aspect_ratio),
                       ("pad_to_aspect_ratio", pad_to_aspect_ratio)):
        if value:
            raise ValueError(f"resize: {arg}=True is not supported (expected False)")
    x, restore = _channels_last(images, data_format)
    for axis, (n_in, n_out) in zip((1, 2), zip(x.shape[1:3], size)):
        x = _resize_axis(x, axis, n_in, n_out, interpolation)
    return restore(x)


def _resize_axis(x, axis, n_in, n_out, interpolation):
    """Resample one axis: nearest takes floor(i * n_in / n_out); bilinear blends the two neighbours."""
    scale = n_in / n_out
    if interpolation == "nearest":
        return take(x, np.minimum(np.floor((np.arange(n_out) + 0.5) * scale).astype(np.int64), n_in - 1), axis=axis)
    pos = np.maximum((np.arange(n_out) + 0.5) * scale - 0.5, 0)
    lo = np.minimum(np.floor(pos).astype(np.int64), n_in - 1)
    hi = np.minimum(lo + 1, n_in - 1)
    shape = [1] * x.ndim
    shape[axis] = n_out
    frac = (pos - lo).astype(x.dtype).reshape(shape)
    a, b = take(x, lo, axis=axis), take(x, hi, axis=axis)
    return a + (b - a) * frac


def extract_patches(images, size, strides=None, dilation_rate=1, padding="valid", data_format=None):
    """Patches of size (ph, pw) flattened into the channel axis: (N, H', W', ph * pw * C)."""
    x, restore = _channels_last(images, data_format)
    ph, pw = (size, size) if isinstance(size, int) else tuple(size)
    channels = x.shape[-1]
    eye = np.eye(ph * pw * channels, dtype=x.dtype).reshape(ph, pw, channels, ph * pw * channels)
    strides = (ph, pw) if strides is None else strides
    return restore(conv(x, eye, strides=strides, padding=padding, dilation_rate=dilation_rate))


def gaussian_blur(images, kernel_size=(3, 3), sigma=(1.0, 1.0), data_format=None):
    """Each channel convolved with a normalised Gaussian, zero-padded to the input's size.

    As Keras, kernel_size and sigma are (x, y) pairs: the first runs along the width, the second along the height.
    """
    x, restore = _channels_last(images, data_format)
    kw, kh = (kernel_size, kernel_size) if isinstance(kernel_size, int) else tuple(kernel_size)
    sw, sh = (sigma, sigma) if isinstance(sigma, (int, float)) else tuple(sigma)
    kernel = np.outer(_gaussian(kh, sh), _gaussian(kw, sw)).astype(x.dtype)
    channels = x.shape[-1]
    weights = np.repeat(kernel[:, :, None, None], channels, axis=2)
    return restore(depthwise_conv(x, weights, padding="same"))


def _gaussian(n, sigma):
    t = np.arange(n) - (n - 1) / 2
    g = np.exp(-t * t / (2 * sigma * sigma))
    return g / g.sum()


def sobel_edges(images, data_format=None):
    """Vertical and horizontal Sobel responses per channel: (N, H, W, C, 2), zero-padded as Keras."""
    x, _ = _channels_last(images, data_format)
    dy = np.array([[-1, -2, -1], [0, 0, 0], [1, 2, 1]], dtype=x.dtype)
    channels = x.shape[-1]
    outs = [depthwise_conv(x, np.repeat(k[:, :, None, None], channels, axis=2), padding="same") for k in (dy, dy.T)]
    y = stack(outs, axis=-1)
    return transpose(y, (0, 3, 1, 2, 4)) if data_format == "channels_first" else y


def ssim(image1, image2, max_val=1.0, filter_size=11, filter_sigma=1.5, k1=0.01, k2=0.03, data_format=None):
    """Structural similarity (Wang et al., 2004) per image pair: local statistics under a Gaussian window
    (valid positions only), averaged over positions and channels; a scalar for single images."""
    a, _ = _channels_last(image1, data_format)
    b, _ = _channels_last(image2, data_format)
    if tuple(a.shape) != tuple(b.shape):
        raise ValueError(f"ssim: images must have the same shape, received {tuple(a.shape)} and {tuple(b.shape)}")
    if filter_size > min(a.shape[1:3]):
        raise ValueError(f"ssim: filter_size {filter_size} is larger than the images {tuple(a.shape[1:3])}")
    g = _gaussian(filter_size, filter_sigma)
    channels = a.shape[-1]
    window = np.repeat(np.outer(g, g).astype(a.dtype)[:, :, None, None], channels, axis=2)

    def local(x):
        return depthwise_conv(x, window)
    mu1, mu2 = local(a), local(b)
    c1, c2 = (k1 * max_val) ** 2, (k2 * max_val) ** 2
    var1, var2, cov = local(a * a) - mu1 * mu1, local(b * b) - mu2 * mu2, local(a * b) - mu1 * mu2
    index = (2 * mu1 * mu2 + c1) * (2 * cov + c2) / ((mu1 * mu1 + mu2 * mu2 + c1) * (var1 + var2 + c2))
    out = mean(index, axis=(1, 2, 3))
    return reshape(out, ()) if as_tensor(image1).ndim == 3 else out


def affine_transform(images, transform, interpolation="bilinear", fill_mode="constant", fill_value=0, data_format=None):
    """Each output pixel (x, y) reads the input at ((a0 x + a1 y + a2) / k, (b0 x + b1 y + b2) / k),
    k = c0 x + c1 y + 1, for transform [a0, a1, a2, b0, b1, b2, c0, c1] (one, or one per image)."""
    if interpolation not in ("nearest", "bilinear"):
        raise ValueError(f"affine_transform: interpolation must be 'nearest' or 'bilinear', received {interpolation!r}")
    x, restore = _channels_last(images, data_format)
    t = np.asarray(as_tensor(transform).data, dtype=np.float64).reshape(-1, 8)
    n, h, w, c = x.shape
    if len(t) not in (1, n):
        raise ValueError(f"affine_transform: expected 1 or {n} transforms, received {len(t)}")
    yy, xx, cc = np.meshgrid(np.arange(h), np.arange(w), np.arange(c), indexing="ij")
    out = []
    for i in range(n):
        a0, a1, a2, b0, b1, b2, c0, c1 = t[i % len(t)]
        k = c0 * xx + c1 * yy + 1
        coords = [(b0 * xx + b1 * yy + b2) / k, (a0 * xx + a1 * yy + a2) / k, cc]
        out.append(map_coordinates(getitem(x, i), coords, order=int(interpolation == "bilinear"),
                                   fill_mode=fill_mode, fill_value=fill_value))
    return restore(stack(out, axis=0))


def map_coordinates(inputs, coordinates, order, fill_mode="constant", fill_value=0.0):
    """inputs sampled at fractional coordinates (one array per axis of inputs), as scipy.ndimage.map_coordinates
    with order 0 (nearest) or 1 (linear); outside, fill_mode 'constant', 'nearest', 'wrap', 'mirror' or 'reflect'."""
    x = as_tensor(inputs)
    coords = [np.asarray(as_tensor(c).data, dtype=np.float64) for c in coordinates]
    if len(coords) != x.ndim:
        raise ValueError(f"map_coordinates: give one coordinate array per axis of inputs ({x.ndim}), "
                         f"received {len(coords)}")
    if order not in (0, 1):
        raise ValueError(f"map_coordinates: order must be 0 or 1, received {order}")
    if fill_mode not in _WRAPS:
        raise ValueError(f"map_coordinates: fill_mode must be one of {sorted(_WRAPS)}, received {fill_mode!r}")
    per_axis = [_taps(c, n, order, fill_mode) for c, n in zip(coords, x.shape)]
    out = None
    for corner in np.ndindex(*[len(t) for t in per_axis]):
        taps = [per_axis[a][k] for a, k in enumerate(corner)]
        index = tuple(t[0] for t in taps)
        weight = np.prod([t[1] for t in taps], axis=0).astype(x.dtype)
        inside = np.logical_and.reduce([t[2] for t in taps])
        term = getitem(x, index) * (weight * inside) + (fill_value * weight * ~inside).astype(x.dtype)
        out = term if out is None else out + term
    return out


def _taps(coord, n, order, fill_mode):
    """[(index, weight, inside)] of the 1 (order 0) or 2 (order 1) grid points a coordinate reads along one axis."""
    if order == 0:
        points = [(np.round(coord).astype(np.int64), np.ones_like(coord))]
    else:
        low = np.floor(coord)
        frac = coord - low
        points = [(low.astype(np.int64), 1 - frac), (low.astype(np.int64) + 1, frac)]
    taps = []
    for index, weight in points:
        inside = (index >= 0) & (index < n) if fill_mode == "constant" else np.ones(index.shape, dtype=bool)
        taps.append((_WRAPS[fill_mode](index, n), weight, inside))
    return taps


def _mirror(i, n):
    """Reflect about the edge samples without repeating them: period 2 (n - 1)."""
    if n == 1:
        return np.zeros_like(i)
    period = 2 * (n - 1)
    i = np.abs(i) % period
    return np.where(i >= n, period - i, i)


def _reflect(i, n):
    """Reflect about the edges, repeating the edge samples: period 2 n."""
    i = i % (2 * n)
    return np.where(i >= n, 2 * n - 1 - i, i)


_WRAPS = {"constant": lambda i, n: np.clip(i, 0, n - 1), "nearest": lambda i, n: np.clip(i, 0, n - 1),
          "wrap": lambda i, n: i % n, "mirror": _mirror, "reflect": _reflect}


def _channels_last(images, data_format):
    """(a 4-D channels-last Tensor, a function turning a result back into the caller's layout)."""
    x = as_tensor(images)
    if data_format not in (None, "channels_last", "channels_first"):
        raise ValueError(f"data_format must be 'channels_last' or 'channels_first', received {data_format!r}")
    if x.ndim not in (3, 4):
        raise ValueError(f"expected images of shape (batch, height, width, channels) or (height, width, channels),"
                         f" received {tuple(x.shape)}")
    single = x.ndim == 3
    first = data_format == "channels_first"
    if single:
        x = reshape(x, (1,) + tuple(x.shape))
    if first:
        x = transpose(x, (0, 2, 3, 1))

    def restore(y):
        if first:
            y = transpose(y, (0, 3, 1, 2))
        return reshape(y, tuple(y.shape[1:])) if single else y
    return x, restore

