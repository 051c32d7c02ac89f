"""Colour augmentation layers (RandomGrayscale, RandomInvert, Solarization, AutoContrast, RandomColorDegeneration,
RandomSharpness, RandomPosterization, RandomSaturation, RandomHue) against Keras 3.15
with factors that make Keras deterministic (lower == upper), or with the same drawn parameters handed to both."""
import os

import numpy as np
import pytest

import tinydl as td
from tinydl import layers as L

os.environ.setdefault("KERAS_BACKEND", "torch")
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
IMAGES = np.random.default_rng(0).uniform(0, 255, (3, 4, 5, 3)).astype("float32")


def _keras():
    return pytest.importorskip("keras")


def _np(keras, y):
    return keras.ops.convert_to_numpy(y)


@pytest.mark.parametrize("make,scale", [
    (lambda k: k.RandomGrayscale(1.0), 1), (lambda k: k.RandomInvert((1.0, 1.0)), 1),
    (lambda k: k.RandomInvert(0.0), 1), (lambda k: k.Solarization(0.0, 0.0), 1), (lambda k: k.AutoContrast(), 1),
    (lambda k: k.AutoContrast(value_range=(-1, 1)), 255),
    (lambda k: k.RandomInvert((1.0, 1.0), value_range=(0, 1)), 255),
    (lambda k: k.RandomColorDegeneration((0.6, 0.6)), 1), (lambda k: k.RandomColorDegeneration((-0.5, -0.5)), 1),
    (lambda k: k.RandomColorDegeneration((1.0, 1.0), value_range=(0, 1)), 255),
    (lambda k: k.RandomSharpness((0.9, 0.9)), 1), (lambda k: k.RandomSharpness((0.1, 0.1), value_range=(0, 1)), 255),
    (lambda k: k.RandomSharpness((0.2, 0.2), data_format="channels_first"), 1),
    (lambda k: k.RandomPosterization((3, 3)), 1), (lambda k: k.RandomPosterization((8, 8)), 1),
    (lambda k: k.RandomPosterization((1, 1), value_range=(0, 1)), 255),
    (lambda k: k.RandomSaturation((0.5, 0.5)), 1), (lambda k: k.RandomSaturation((0.3, 0.3)), 1),
    (lambda k: k.RandomSaturation((0.8, 0.8), value_range=(0, 1)), 255), (lambda k: k.RandomSaturation((0.0, 0.0)), 1),
    (lambda k: k.RandomHue((0.0, 0.0)), 1)])
def test_matches_keras_with_deterministic_factors(make, scale):
    keras = _keras()
    x = IMAGES / scale
    ours = make(L)(x, training=True).numpy()
    theirs = _np(keras, make(keras.layers)(x, training=True))
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-4)


def test_solarization_matches_keras_on_given_additions_and_thresholds():
    keras = _keras()
    x = IMAGES / 127.5 - 1
    additions = np.array([10.0, 50.0, 90.0], "float32").reshape(3, 1, 1, 1)
    thresholds = np.array([30.0, 100.0, 200.0], "float32").reshape(3, 1, 1, 1)
    ours = L.Solarization(0.5, 0.5, value_range=(-1, 1)).solarize(td.tensor(x), additions, thresholds).numpy()
    theirs = keras.layers.Solarization(0.5, 0.5, value_range=(-1, 1)).transform_images(
        keras.ops.convert_to_tensor(x), {"additions": keras.ops.convert_to_tensor(additions),
                                         "thresholds": keras.ops.convert_to_tensor(thresholds)})
    np.testing.assert_allclose(ours, _np(keras, theirs), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_hue_and_saturation_match_keras_on_given_draws(data_format):
    keras = _keras()
    x = IMAGES.copy()
    x[0, 0, :4] = [[10, 10, 10], [0, 0, 0], [200, 50, 50], [50, 200, 50]]  # grey, black, red and green maxima
    x = x if data_format == "channels_last" else x.transpose(0, 3, 1, 2)
    shifts, scales = np.array([0.3, -0.2, 0.45]), np.array([0.2, 1.0, 3.0])
    ours = L.RandomHue(0.5, data_format=data_format).turn(td.tensor(x), shifts).numpy()
    theirs = keras.layers.RandomHue(0.5, data_format=data_format).transform_images(
        keras.ops.convert_to_tensor(x), {"factor": keras.ops.convert_to_tensor(shifts.astype("float32"))})
    np.testing.assert_allclose(ours, _np(keras, theirs), rtol=1e-5, atol=1e-3)
    ours = L.RandomSaturation(0.5, data_format=data_format).saturate(td.tensor(x), scales).numpy()
    theirs = keras.layers.RandomSaturation(0.5, data_format=data_format).transform_images(
        keras.ops.convert_to_tensor(x), {"factor": keras.ops.convert_to_tensor(scales.astype("float32"))})
    np.testing.assert_allclose(ours, _np(keras, theirs), rtol=1e-5, atol=1e-3)


def test_a_full_hue_turn_and_unit_saturation_keep_the_image_and_gradients_flow():
    x = td.tensor(IMAGES.astype("float64") / 255, requires_grad=True)
    same = L.RandomSaturation(0.5, value_range=(0, 1), dtype="float64").saturate(x, np.ones(3))
    np.testing.assert_allclose(same.numpy(), x.numpy(), atol=1e-12)
    turned = L.RandomHue(0.5, value_range=(0, 1), dtype="float64").turn(x, np.array([1 / 3, 1 / 3, 1 / 3]))
    np.testing.assert_allclose(turned.numpy(), x.numpy()[..., [2, 0, 1]], atol=1e-12)  # R->G, G->B, B->R
    (same.sum() + turned.sum()).backward()
    assert x.grad is not None and np.abs(x.grad.numpy()).sum() > 0


@pytest.mark.parametrize("kwargs,scale,shift", [({}, 1, 0), ({"bins": 16}, 1, 0), ({"value_range": (0, 1)}, 255, 0),
                                                ({"value_range": (-1, 1), "bins": 64}, 127.5, 1)])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_equalization_matches_keras(kwargs, scale, shift, data_format):
    keras = _keras()
    x = IMAGES.copy()
    x[..., 1] = np.round(x[..., 1] / 40) * 10 + 30  # few occupied bins
    x[..., 2] = 17  # one bin: kept as it is
    x = x / scale - shift
    x = x if data_format == "channels_last" else x.transpose(0, 3, 1, 2)
    ours = L.Equalization(data_format=data_format, **kwargs)(x, training=True).numpy()
    theirs = keras.layers.Equalization(data_format=data_format, **kwargs)(x, training=True)
    np.testing.assert_allclose(ours, _np(keras, theirs), rtol=1e-6, atol=1e-6)


def test_equalization_spreads_a_batch_histogram_to_the_full_range():
    x = np.array([10.0, 10.0, 20.0, 30.0]).reshape(2, 1, 2, 1)  # one histogram over both images
    y = L.Equalization(dtype="float64")(x, training=True).numpy().ravel()
    np.testing.assert_array_equal(y, [0.0, 0.0, 128.0, 255.0])  # cdf 2, 3, 4 from cdf_min 2: 0, 255/2, 255


@pytest.mark.parametrize("kwargs,scale", [
    ({"brightness_factor": (0.1, 0.1), "contrast_factor": (0.0, 0.0), "saturation_factor": (0.3, 0.3),
      "hue_factor": (0.0, 0.0)}, 1),
    ({"value_range": (0, 1), "saturation_factor": (0.7, 0.7)}, 255), ({"brightness_factor": (-0.2, -0.2)}, 1)])
def test_color_jitter_matches_keras_with_fixed_factors(kwargs, scale):
    keras = _keras()
    ours = L.RandomColorJitter(**kwargs)(IMAGES / scale, training=True).numpy()
    theirs = keras.layers.RandomColorJitter(**kwargs)(IMAGES / scale, training=True)
    np.testing.assert_allclose(ours, _np(keras, theirs), rtol=1e-5, atol=1e-3)


def test_color_jitter_is_its_steps_in_order_on_one_generator():
    x = IMAGES.astype("float64")
    y = L.RandomColorJitter(brightness_factor=(0.1, 0.1), contrast_factor=(0.5, 0.5), hue_factor=(0.2, 0.2),
                            seed=3, dtype="float64")(x, training=True).numpy()
    rng = np.random.default_rng(3)
    step = L.RandomBrightness((0.1, 0.1), dtype="float64")(x, training=True)
    contrast = L.RandomContrast((0.5, 0.5), dtype="float64")
    contrast._rng = lambda: rng
    hue = L.RandomHue((0.2, 0.2), dtype="float64")
    hue._rng = lambda: rng
    rng.uniform(size=(3, 1, 1, 1))  # the brightness draw
    np.testing.assert_allclose(y, hue(contrast(step, training=True), training=True).numpy(), rtol=1e-10)


def test_grayscale_is_the_luma_on_every_channel_and_channels_first_agrees():
    y = L.RandomGrayscale(1.0, dtype="float64")(IMAGES.astype("float64"), training=True).numpy()
    luma = IMAGES.astype("float64") @ np.array([0.2989, 0.587, 0.114])
    np.testing.assert_allclose(y, np.repeat(luma[..., None], 3, axis=-1), rtol=1e-12)
    first = L.RandomGrayscale(1.0, data_format="channels_first")(IMAGES.transpose(0, 3, 1, 2), training=True)
    np.testing.assert_allclose(first.numpy().transpose(0, 2, 3, 1), y, rtol=1e-5)


def test_random_draws_apply_to_some_images_and_a_seed_repeats_them():
    x = np.random.default_rng(1).uniform(0, 255, (40, 2, 2, 3))
    a = L.RandomInvert(1.0, seed=4, dtype="float64")(x, training=True).numpy()
    b = L.RandomInvert(1.0, seed=4, dtype="float64")(x, training=True).numpy()
    np.testing.assert_array_equal(a, b)
    inverted = [np.allclose(o, 255 - i) for o, i in zip(a, x)]
    kept = [np.array_equal(o, i) for o, i in zip(a, x)]
    assert all(p or q for p, q in zip(inverted, kept)) and any(inverted) and any(kept)
    g = L.RandomGrayscale(0.5, seed=2, dtype="float64")(x, training=True).numpy()
    grey = [np.allclose(o[..., 0], o[..., 2]) for o in g]
    assert any(grey) and not all(grey)


def test_solarization_threshold_inverts_values_above_it():
    x = np.array([0.0, 100.0, 200.0, 255.0]).reshape(1, 1, 4, 1)
    y = L.Solarization(0.0, (0.5, 0.5), dtype="float64").solarize(
        td.tensor(x), np.zeros((1, 1, 1, 1)), np.full((1, 1, 1, 1), 150.0)).numpy()
    np.testing.assert_allclose(y.ravel(), [0.0, 100.0, 55.0, 0.0])


def test_autocontrast_spans_the_range_keeps_flat_channels_and_passes_gradients():
    x = td.tensor(IMAGES.astype("float64") * 0.5 + 20, requires_grad=True)
    y = L.AutoContrast(dtype="float64")(x)  # inference too
    assert np.allclose(y.numpy().min(axis=(1, 2)), 0) and np.allclose(y.numpy().max(axis=(1, 2)), 255)
    y.sum().backward()
    assert x.grad is not None
    flat = np.full((1, 2, 2, 3), 7.0)
    np.testing.assert_array_equal(L.AutoContrast(dtype="float64")(flat).numpy(), flat)


def test_posterization_keeps_the_top_bits_and_draws_them_in_lo_to_hi():
    x = np.array([0.0, 37.9, 128.0, 200.0, 255.0]).reshape(1, 1, 5, 1)
    y = L.RandomPosterization((2, 2), dtype="float64")(x, training=True).numpy().ravel()
    np.testing.assert_array_equal(y, [0.0, 0.0, 128.0, 192.0, 192.0])
    many = np.repeat(np.full((1, 1, 1, 1), 255.0), 200, axis=0)
    kept = L.RandomPosterization(4, seed=1, dtype="float64")(many, training=True).numpy().ravel()
    assert set(kept) == {255.0 - (2 ** (8 - b) - 1) for b in (1, 2, 3)}  # bits in [1, 4)


def test_sharpness_half_is_the_identity_and_zero_is_the_smoothing_with_gradients():
    x = td.tensor(IMAGES.astype("float64"), requires_grad=True)
    np.testing.assert_allclose(L.RandomSharpness((0.5, 0.5), dtype="float64")(x, training=True).numpy(), x.numpy())
    y = L.RandomSharpness((0.0, 0.0), value_range=(-1e9, 1e9), dtype="float64")(x, training=True)
    kernel = np.array([[1, 1, 1], [1, 5, 1], [1, 1, 1]]) / 13.0
    padded = np.pad(IMAGES.astype("float64"), ((0, 0), (1, 1), (1, 1), (0, 0)))
    smooth = sum(kernel[i, j] * padded[:, i:i + 4, j:j + 5] for i in range(3) for j in range(3))
    np.testing.assert_allclose(y.numpy(), smooth, rtol=1e-12)
    y.sum().backward()
    assert np.allclose(x.grad.numpy()[:, 1:-1, 1:-1], 1.0)  # every interior pixel feeds 13/13 of its taps


def test_color_degeneration_one_is_the_grayscale():
    a = L.RandomColorDegeneration((1.0, 1.0), dtype="float64")(IMAGES.astype("float64"), training=True).numpy()
    b = L.RandomGrayscale(1.0, dtype="float64")(IMAGES.astype("float64"), training=True).numpy()
    np.testing.assert_allclose(a, b, rtol=1e-12)


@pytest.mark.parametrize("layer", [L.RandomGrayscale(1.0), L.RandomInvert((1.0, 1.0)), L.Solarization(0.5, 0.5),
                                   L.RandomColorDegeneration(0.5), L.RandomSharpness(0.5), L.RandomPosterization(4),
                                   L.RandomSaturation(0.5), L.RandomHue(0.5), L.Equalization(),
                                   L.RandomColorJitter(brightness_factor=0.5, hue_factor=0.5)])
def test_the_random_ones_are_the_identity_in_inference(layer):
    np.testing.assert_array_equal(layer(IMAGES).numpy(), IMAGES)


@pytest.mark.parametrize("make,message", [
    (lambda: L.RandomGrayscale(1.5), "factor"), (lambda: L.RandomInvert(2.0), "factor"),
    (lambda: L.Solarization(addition_factor=-0.1), "addition_factor"),
    (lambda: L.Solarization(threshold_factor=(0.1, 0.2, 0.3)), "threshold_factor"),
    (lambda: L.AutoContrast(value_range=5), "value_range"), (lambda: L.RandomInvert(value_range=(1,)), "value_range"),
    (lambda: L.RandomGrayscale(data_format="nhwc"), "data_format"), (lambda: L.RandomPosterization(9), "factor"),
    (lambda: L.RandomSharpness(1.5), "factor"), (lambda: L.RandomColorDegeneration((0.1, 0.2, 0.3)), "factor"),
    (lambda: L.RandomSharpness(0.5, value_range=(0, 1, 2)), "value_range"), (lambda: L.RandomHue(1.5), "factor"),
    (lambda: L.RandomSaturation("high"), "factor"), (lambda: L.Equalization(bins=1), "bins"),
    (lambda: L.Equalization(value_range=[1]), "value_range"),
    (lambda: L.RandomColorJitter(hue_factor=2.0), "hue_factor"),
    (lambda: L.RandomColorJitter(contrast_factor="x"), "contrast_factor")])
def test_bad_arguments_raise_naming_themselves(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_grayscale_refuses_images_without_3_or_1_channels():
    with pytest.raises(ValueError, match="channels"):
        L.RandomGrayscale(1.0)(np.zeros((1, 2, 2, 2)), training=True)
