"""Contract cases for the preprocessing layers (Rescaling, Resizing, CenterCrop, Normalization,
Discretization, CategoryEncoding)."""
import numpy as np

from tinydl import layers as L
from tests.contract import LayerCase


def _adapted_normalization(axis=-1, **kw):
    layer = L.Normalization(axis=axis, **kw)
    layer.adapt(np.random.default_rng(5).standard_normal((10, 3, 4)) * 2 + 1)
    return layer


def _values_between_boundaries(rng):
    return [rng.uniform(-1.5, 2.5, (3, 4)).round(2) + 0.005]  # never on a boundary


def _ids(shape, high):
    return lambda rng: [rng.integers(0, high, shape).astype("int64")]


CASES = [
    LayerCase(lambda **kw: L.Rescaling(1 / 255.0, **kw), (2, 3, 3, 2)),
    LayerCase(lambda **kw: L.Rescaling([0.5, 2.0], offset=[-1.0, 1.0], **kw), (2, 3, 2),
              name="Rescaling[per channel]"),
    LayerCase(lambda **kw: L.Resizing(5, 3, **kw), (2, 4, 6, 2)),
    LayerCase(lambda **kw: L.Resizing(3, 7, interpolation="nearest", **kw), (2, 4, 5, 2), name="Resizing[nearest]"),
    LayerCase(lambda **kw: L.Resizing(6, 4, interpolation="bicubic", data_format="channels_first", **kw),
              (2, 2, 4, 5), name="Resizing[bicubic,channels_first]"),
    LayerCase(lambda **kw: L.Resizing(2, 3, antialias=True, crop_to_aspect_ratio=True, **kw), (2, 6, 7, 1),
              name="Resizing[antialias,crop]"),
    LayerCase(lambda **kw: L.Resizing(4, 4, pad_to_aspect_ratio=True, fill_value=0.5, **kw), (2, 3, 5, 2),
              name="Resizing[pad]"),
    LayerCase(lambda **kw: L.CenterCrop(2, 3, **kw), (2, 5, 6, 2)),
    LayerCase(lambda **kw: L.CenterCrop(6, 4, data_format="channels_first", **kw), (2, 2, 3, 5),
              name="CenterCrop[upscale,channels_first]"),
    LayerCase(lambda **kw: L.Normalization(mean=[1.0, -1.0, 0.5], variance=[4.0, 0.25, 1.0], **kw), (2, 4, 3)),
    LayerCase(lambda **kw: L.Normalization(axis=None, mean=2.0, variance=3.0, invert=True, **kw), (2, 4, 3),
              name="Normalization[invert,axis=None]"),
    LayerCase(lambda **kw: _adapted_normalization(axis=(1, 2), **kw), (2, 3, 4), name="Normalization[adapted]"),
    LayerCase(lambda **kw: L.Discretization(bin_boundaries=[-1.0, 0.0, 1.0], **kw),
              make_inputs=_values_between_boundaries, grad=False),
    LayerCase(lambda **kw: L.Discretization(bin_boundaries=[0.0, 1.0], output_mode="one_hot", **kw),
              make_inputs=_values_between_boundaries, grad=False, name="Discretization[one_hot]"),
    LayerCase(lambda **kw: L.Discretization(bin_boundaries=[0.0, 1.0], output_mode="count", **kw),
              make_inputs=_values_between_boundaries, grad=False, name="Discretization[count]"),
    LayerCase(lambda **kw: L.CategoryEncoding(5, **kw), make_inputs=_ids((3, 4), 5), grad=False),
    LayerCase(lambda **kw: L.CategoryEncoding(5, output_mode="one_hot", **kw), make_inputs=_ids((3, 1), 5),
              grad=False, name="CategoryEncoding[one_hot]"),
    LayerCase(lambda **kw: L.CategoryEncoding(4, output_mode="count", **kw), make_inputs=_ids((3, 6), 4),
              grad=False, name="CategoryEncoding[count]"),
]
