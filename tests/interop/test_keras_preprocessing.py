"""Preprocessing layers against Keras 3 (torch backend) on the same inputs: Rescaling, Resizing (every
interpolation, antialias, crop/pad to aspect ratio, channels_first), CenterCrop, Normalization (given and
adapted statistics, invert), Discretization, CategoryEncoding; config keys as Keras's. Skipped without keras."""
import numpy as np
import pytest

from tests.keras_torch import keras_on_torch

keras = keras_on_torch("the interop tests run Keras with the torch backend")

import tinydl.layers as tl  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
TOL = {"rtol": 1e-5, "atol": 1e-5}
PIXEL_TOL = {"rtol": 1e-5, "atol": 1e-3}  # float32 sums of pixels up to 255 in another order
IMAGES = np.random.default_rng(0).uniform(0, 255, (2, 7, 9, 3)).astype("float32")


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _check(name, *args, x, call=None, tol=TOL, **kwargs):
    k, t = getattr(keras.layers, name)(*args, **kwargs), getattr(tl, name)(*args, **kwargs)
    call = call or {}
    np.testing.assert_allclose(t(x, **call).numpy(), _np(k(x, **call)), **tol)
    assert set(t.get_config()) == set(k.get_config())
    return k, t


@pytest.mark.parametrize("kwargs", [{"scale": 1 / 255.0}, {"scale": 2.0, "offset": -1.0},
                                    {"scale": [1.0, 2.0, 3.0], "offset": [0.0, 1.0, 2.0]}])
def test_rescaling(kwargs):
    _check("Rescaling", x=IMAGES, **kwargs)


@pytest.mark.parametrize("size", [(4, 5), (12, 17), (7, 3)])
@pytest.mark.parametrize("interpolation", ["bilinear", "nearest", "bicubic"])
def test_resizing_interpolations(size, interpolation):
    _check("Resizing", *size, x=IMAGES, interpolation=interpolation, tol=PIXEL_TOL)


@pytest.mark.parametrize("kwargs", [{"antialias": True}, {"antialias": True, "interpolation": "bicubic"},
                                    {"crop_to_aspect_ratio": True}, {"pad_to_aspect_ratio": True, "fill_value": 3.0},
                                    {"data_format": "channels_first"}])
def test_resizing_options(kwargs):
    _check("Resizing", 3, 4, x=IMAGES, tol=PIXEL_TOL, **kwargs)


def test_resizing_one_image_and_integer_input():
    _check("Resizing", 5, 4, x=IMAGES[0])
    _check("Resizing", 5, 4, x=IMAGES.astype("uint8"), tol={"atol": 1})  # float32 x.5 may round either way
    assert tl.Resizing(5, 4)(IMAGES.astype("uint8")).dtype == np.uint8


@pytest.mark.parametrize("size,data_format", [((3, 4), None), ((4, 4), None), ((10, 12), None),
                                              ((3, 2), "channels_first")])
def test_center_crop(size, data_format):
    _check("CenterCrop", *size, x=IMAGES, data_format=data_format)


@pytest.mark.parametrize("axis", [-1, (1, 2), None, 2])
def test_normalization_adapt(axis):
    data = (np.random.default_rng(1).standard_normal((20, 4, 3)) * 3 + 2).astype("float32")
    k, t = keras.layers.Normalization(axis=axis), tl.Normalization(axis=axis)
    k.adapt(data)
    t.adapt(data)
    assert [w.name for w in t.weights] == [w.name for w in k.weights]
    for a, b in zip(t.get_weights(), k.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(t(data[:3]).numpy(), _np(k(data[:3])), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("invert", [False, True])
def test_normalization_given_statistics(invert):
    _check("Normalization", x=IMAGES, mean=[1.0, 2.0, 3.0], variance=[4.0, 0.0, 9.0], invert=invert)
    _check("Normalization", x=IMAGES, axis=None, mean=3.0, variance=2.0, invert=invert)


@pytest.mark.parametrize("output_mode", ["int", "one_hot", "multi_hot", "count"])
def test_discretization(output_mode):
    x = np.array([[-1.5, 0.0, 0.2], [1.0, 3.0, 0.2]], dtype="float32")
    _check("Discretization", x=x, bin_boundaries=[0.0, 0.5, 1.0], output_mode=output_mode)
    if output_mode != "int":
        _check("Discretization", x=x[0], bin_boundaries=[0.0, 0.5, 1.0], output_mode=output_mode)


@pytest.mark.parametrize("output_mode", ["one_hot", "multi_hot", "count"])
@pytest.mark.parametrize("ids", [np.array([1, 0, 3]), np.array([[1], [2]]), np.array([[1, 2, 2], [3, 3, 0]])])
def test_category_encoding(output_mode, ids):
    _check("CategoryEncoding", x=ids, num_tokens=4, output_mode=output_mode)


def test_category_encoding_count_weights():
    ids, weights = np.array([[1, 2, 2], [3, 3, 0]]), np.array([[0.5, 1.0, 2.0], [3.0, 0.25, 1.0]], "float32")
    _check("CategoryEncoding", x=ids, call={"count_weights": weights}, num_tokens=4, output_mode="count")


PART_A = """ReLU LeakyReLU PReLU ELU Softmax Rescaling Resizing CenterCrop Normalization Discretization CategoryEncoding
    Hashing GaussianNoise GaussianDropout AlphaDropout SpatialDropout1D SpatialDropout2D SpatialDropout3D
    UnitNormalization GroupNormalization SpectralNormalization RandomFlip RandomRotation RandomZoom RandomTranslation
    RandomCrop RandomContrast RandomBrightness StringLookup IntegerLookup TextVectorization
    ActivityRegularization""".split()


@pytest.mark.parametrize("name", PART_A)
def test_constructor_takes_keras_s_arguments_with_keras_s_defaults(name):
    import inspect

    def signature(cls):
        return [(p.name, p.default) for p in inspect.signature(cls.__init__).parameters.values()
                if p.name not in ("self", "kwargs")]  # tinydl's may take **kwargs where Keras's does not
    assert signature(getattr(tl, name)) == signature(getattr(keras.layers, name))
