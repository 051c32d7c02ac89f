"""keras.utils' image helpers on Pillow (an optional dependency: `pip install tinydl[image]`)."""
import io
import os

import numpy as np

__all__ = ["img_to_array", "array_to_img", "load_img", "save_img"]

_INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "hamming", "box", "lanczos")


def img_to_array(img, data_format=None, dtype=None):
    """A PIL image as a float array (height, width, channels); grey images get one channel."""
    _check_format(data_format)
    x = np.asarray(img, dtype=dtype or "float32")
    if x.ndim == 2:
        x = x[..., None]
    if x.ndim != 3:
        raise ValueError(f"Unsupported image shape: {x.shape}")
    return x


def array_to_img(x, data_format=None, scale=True, dtype=None):
    """A (height, width, 1|3|4) array as a PIL image; `scale` stretches its values to 0..255 first."""
    pil = _pil()
    _check_format(data_format)
    x = np.asarray(x, dtype=dtype or "float32")
    if x.ndim != 3:
        raise ValueError(f"Expected image array to have rank 3 (single image). Got array with shape: {x.shape}")
    if scale:
        x = x - np.min(x)
        top = np.max(x)
        if top != 0:
            x = x / top
        x = x * 255
    channels = x.shape[2]
    modes = {1: "L", 3: "RGB", 4: "RGBA"}
    if channels not in modes:
        raise ValueError(f"Unsupported channel number: {channels}")
    data = x[:, :, 0] if channels == 1 else x
    if channels == 1 and not scale and np.max(x) > 255:
        return pil.fromarray(data.astype("int32"), "I")  # 32-bit grey keeps values above 255
    return pil.fromarray(data.astype("uint8"), modes[channels])


def load_img(path, color_mode="rgb", target_size=None, interpolation="nearest", keep_aspect_ratio=False):
    """An image file (path, path-like or bytes stream) as a PIL image in `color_mode`, resized to
    `target_size` (height, width), centre-cropped to its aspect ratio when `keep_aspect_ratio`."""
    pil = _pil()
    modes = {"grayscale": "L", "rgb": "RGB", "rgba": "RGBA"}
    if color_mode not in modes:
        raise ValueError(f'color_mode must be "grayscale", "rgb", or "rgba". Received: color_mode={color_mode}')
    if interpolation not in _INTERPOLATIONS:
        raise ValueError(f"Invalid interpolation method {interpolation!r}: expected one of {_INTERPOLATIONS}")
    if isinstance(path, io.BytesIO):
        img = pil.open(path)
    elif isinstance(path, (str, bytes, os.PathLike)):
        with open(path, "rb") as f:
            img = pil.open(io.BytesIO(f.read()))
    else:
        raise TypeError(f"path should be path-like or io.BytesIO, not {type(path)}")
    if img.mode != modes[color_mode] and not (color_mode == "grayscale" and img.mode in ("L", "I;16", "I")):
        img = img.convert(modes[color_mode])
    if target_size is not None:
        width_height = (target_size[1], target_size[0])
        if img.size != width_height:
            resample = getattr(pil.Resampling, interpolation.upper())
            if keep_aspect_ratio:
                img = img.crop(_centre_box(img.size, width_height))
            img = img.resize(width_height, resample)
    return img


def save_img(path, x, data_format=None, file_format=None, scale=True, **kwargs):
    """Save an array as an image file (format from `file_format` or the file name)."""
    img = array_to_img(x, data_format=data_format, scale=scale)
    if img.mode == "RGBA" and (file_format == "jpg" or file_format == "jpeg" or
                               str(path).lower().endswith((".jpg", ".jpeg"))):
        img = img.convert("RGB")  # JPEG has no alpha
    img.save(path, format="jpeg" if file_format == "jpg" else file_format, **kwargs)


def _centre_box(size, target):
    """The largest centred box of `size` with `target`'s aspect ratio (left, upper, right, lower)."""
    width, height = size
    crop_height = min(height, int(width * target[1] / target[0]))
    crop_width = min(width, int(height * target[0] / target[1]))
    left, top = (width - crop_width) // 2, (height - crop_height) // 2
    return left, top, left + crop_width, top + crop_height


def _check_format(data_format):
    """tinydl images are channels_last; other values are an error."""
    if data_format not in (None, "channels_last"):
        raise ValueError(f"data_format must be 'channels_last' (or None) in tinydl, received {data_format!r}")


def _pil():
    """PIL.Image, or a clear error naming the extra to install."""
    try:
        from PIL import Image  # optional dependency, imported on use
    except ImportError:
        raise ImportError("tinydl's image utilities need Pillow: pip install tinydl[image] (or pillow)") from None
    return Image
