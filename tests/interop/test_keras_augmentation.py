"""Augmentation layers against Keras 3 (torch backend). Factors with lower == upper make Keras's draws
deterministic, so the transforms (rotation, zoom, translation with every fill mode and interpolation,
brightness, contrast) are compared number for number in training mode; RandomCrop in inference.
Config keys are Keras's. Skipped without keras."""
import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

keras = pytest.importorskip("keras")
if keras.backend.backend() != "torch":  # pragma: no cover - another backend was configured first
    pytest.skip("the interop tests run Keras with the torch backend", allow_module_level=True)

import tinydl.layers as tl  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
TOL = {"rtol": 1e-4, "atol": 1e-4}
IMAGES = np.random.default_rng(0).uniform(0, 1, (2, 6, 7, 3)).astype("float32")


def _check(name, *args, x=IMAGES, training=True, **kwargs):
    k, t = getattr(keras.layers, name)(*args, **kwargs), getattr(tl, name)(*args, **kwargs)
    expected = keras.ops.convert_to_numpy(k(x, training=training))
    np.testing.assert_allclose(t(x, training=training).numpy(), expected, **TOL)
    assert set(t.get_config()) == set(k.get_config())


@pytest.mark.parametrize("fill_mode", ["reflect", "wrap", "constant", "nearest"])
@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
def test_random_rotation_with_a_fixed_angle(fill_mode, interpolation):
    _check("RandomRotation", (0.07, 0.07), fill_mode=fill_mode, interpolation=interpolation, fill_value=0.5)


def test_random_rotation_quarter_turn_and_channels_first():
    _check("RandomRotation", (0.25, 0.25), x=IMAGES[:, :6, :6])
    _check("RandomRotation", (-0.1, -0.1), x=np.moveaxis(IMAGES, -1, 1), data_format="channels_first")


@pytest.mark.parametrize("fill_mode", ["reflect", "constant", "wrap"])
def test_random_zoom_with_fixed_factors(fill_mode):
    _check("RandomZoom", (0.3, 0.3), (-0.2, -0.2), fill_mode=fill_mode)
    _check("RandomZoom", (-0.4, -0.4), fill_mode=fill_mode, interpolation="nearest")


@pytest.mark.parametrize("fill_mode", ["reflect", "constant", "nearest"])
def test_random_translation_with_fixed_factors(fill_mode):
    _check("RandomTranslation", (0.2, 0.2), (-0.3, -0.3), fill_mode=fill_mode, fill_value=0.25)


def test_random_brightness_and_contrast_with_fixed_factors():
    _check("RandomBrightness", (0.1, 0.1), value_range=(0, 1))
    _check("RandomBrightness", (-0.3, -0.3), value_range=(0, 1))
    _check("RandomContrast", (-0.5, 0.5), value_range=(0, 1))  # factor drawn from [1 + 0.5, 1 + 0.5]
    _check("RandomContrast", (0.0, 0.0), value_range=(0, 1))


@pytest.mark.parametrize("size", [(3, 4), (6, 7)])
def test_random_crop_is_the_identity_in_inference(size):
    _check("RandomCrop", *size, training=False)


@pytest.mark.parametrize("size", [(6, 7), (8, 5), (6, 9)])
def test_random_crop_of_an_input_not_larger_than_the_target_is_deterministic(size):
    _check("RandomCrop", *size)


@pytest.mark.parametrize("name,args", [("RandomFlip", ()), ("RandomCrop", (3, 3))])
def test_config_keys(name, args):
    assert set(getattr(tl, name)(*args).get_config()) == set(getattr(keras.layers, name)(*args).get_config())
