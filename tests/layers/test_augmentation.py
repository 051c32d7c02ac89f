"""Augmentation layers: closed-form transforms (quarter turns, integer shifts), per-sample flips, random crop
windows, seeds, inference identity, and argument errors."""
import numpy as np
import pytest

import tinydl as td
from tinydl import layers as L

IMAGES = np.random.default_rng(0).uniform(0, 1, (6, 5, 5, 2))


def test_a_quarter_turn_rotation_is_numpy_rot90_counterclockwise():
    y = L.RandomRotation((0.25, 0.25), dtype="float64")(IMAGES, training=True).numpy()
    np.testing.assert_allclose(y, np.rot90(IMAGES, k=1, axes=(1, 2)), atol=1e-12)


def test_an_integer_translation_shifts_and_fills_with_the_constant():
    y = L.RandomTranslation((0.2, 0.2), (-0.4, -0.4), fill_mode="constant", fill_value=7.0,
                            dtype="float64")(IMAGES, training=True).numpy()
    np.testing.assert_allclose(y[:, 1:, :3], IMAGES[:, :4, 2:])  # down by 1 row, left by 2 columns
    assert (y[:, 0] == 7.0).all() and (y[:, :, 3:] == 7.0).all()


def test_random_flip_flips_each_image_left_right_or_leaves_it():
    y = L.RandomFlip("horizontal", seed=3, dtype="float64")(IMAGES, training=True).numpy()
    flipped = [np.array_equal(a, b[:, ::-1]) for a, b in zip(y, IMAGES)]
    kept = [np.array_equal(a, b) for a, b in zip(y, IMAGES)]
    assert all(f or k for f, k in zip(flipped, kept)) and any(flipped) and any(kept)


def test_random_crop_takes_one_window_of_the_batch():
    y = L.RandomCrop(3, 2, seed=1, dtype="float64")(IMAGES, training=True).numpy()
    windows = [(t, left) for t in range(3) for left in range(4)
               if np.array_equal(y, IMAGES[:, t:t + 3, left:left + 2])]
    assert len(windows) == 1


@pytest.mark.parametrize("layer", [L.RandomFlip(), L.RandomRotation(0.2), L.RandomZoom(0.3), L.RandomCrop(2, 2),
                                   L.RandomTranslation(0.2, 0.2), L.RandomContrast(0.5), L.RandomBrightness(0.5)])
def test_every_augmentation_is_the_identity_in_inference(layer):
    np.testing.assert_array_equal(layer(IMAGES.astype("float32")).numpy(), IMAGES.astype("float32"))


def test_a_seed_repeats_the_draws_and_gradients_reach_the_input():
    a = L.RandomRotation(0.3, seed=5)(IMAGES, training=True).numpy()
    b = L.RandomRotation(0.3, seed=5)(IMAGES, training=True).numpy()
    np.testing.assert_array_equal(a, b)
    x = td.tensor(IMAGES, requires_grad=True)
    L.RandomZoom(0.3, dtype="float64")(x, training=True).sum().backward()
    assert x.grad is not None and np.abs(x.grad.numpy()).sum() > 0


def test_contrast_keeps_each_channel_mean_before_clipping():
    x = IMAGES * 0.2 + 0.4  # far from the clip range
    y = L.RandomContrast(0.9, value_range=(0, 1), dtype="float64")(x, training=True).numpy()
    np.testing.assert_allclose(y.mean(axis=(1, 2)), x.mean(axis=(1, 2)), atol=1e-12)


@pytest.mark.parametrize("make,message", [
    (lambda: L.RandomFlip("diagonal"), "mode"),
    (lambda: L.RandomRotation(0.1, fill_mode="mirror"), "fill_mode"),
    (lambda: L.RandomRotation(0.1, interpolation="bicubic"), "interpolation"),
    (lambda: L.RandomRotation((0.3, 0.1)), "lower <= upper"),
    (lambda: L.RandomZoom("big"), "height_factor"),
    (lambda: L.RandomZoom((-1.5, 0.0)), ">= -1"),
    (lambda: L.RandomCrop(0, 3), "height"),
    (lambda: L.RandomContrast(1.5), "factor"),
    (lambda: L.RandomBrightness(0.2, value_range=(0, 1, 2)), "value_range"),
    (lambda: L.RandomFlip(data_format="NHWC"), "data_format"),
    (lambda: L.RandomFlip()(np.ones((2, 3), "float32"), training=True), "rank 3 or 4"),
])
def test_invalid_arguments_are_refused_with_their_name(make, message):
    with pytest.raises(ValueError, match=message):
        make()
