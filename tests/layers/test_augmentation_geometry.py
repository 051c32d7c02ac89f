"""RandomShear, RandomGaussianBlur, RandomErasing and RandomPerspective against Keras 3.15, with factors that
make Keras deterministic or with the same drawn parameters handed to both, and against closed forms."""
import os

import numpy as np
import pytest

import tinydl as td
from tinydl import layers as L
from tinydl.layers.augmentation import affine_transform, shear_transforms

os.environ.setdefault("KERAS_BACKEND", "torch")
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
IMAGES = np.random.default_rng(0).uniform(0, 255, (3, 6, 7, 3)).astype("float32")
SHEARS = np.array([[0.3, -0.1], [-0.2, 0.25], [0.5, 0.0]])


def _keras():
    return pytest.importorskip("keras")


@pytest.mark.parametrize("fill_mode", ["reflect", "wrap", "constant", "nearest"])
@pytest.mark.parametrize("data_format,interpolation", [("channels_last", "bilinear"), ("channels_first", "nearest")])
def test_shear_matches_keras_on_given_shears(fill_mode, data_format, interpolation):
    keras = _keras()
    x = IMAGES if data_format == "channels_last" else IMAGES.transpose(0, 3, 1, 2)
    ours = affine_transform(td.tensor(x), shear_transforms(SHEARS[:, 0], SHEARS[:, 1]), interpolation, fill_mode, 3.0,
                            data_format).numpy()
    layer = keras.layers.RandomShear(0.5, 0.5, interpolation=interpolation, fill_mode=fill_mode, fill_value=3.0,
                                     data_format=data_format)
    theirs = layer.transform_images(keras.ops.convert_to_tensor(x), {
        "shear_factor": keras.ops.convert_to_tensor(SHEARS.astype("float32")), "input_shape": x.shape})
    np.testing.assert_allclose(ours, keras.ops.convert_to_numpy(theirs), rtol=1e-5, atol=1e-3)


def test_shear_draws_one_sign_for_both_factors_and_passes_gradients():
    layer = L.RandomShear((0.2, 0.2), (0.4, 0.4), seed=1)
    t = layer.transforms(50, 6, 7)
    assert set(np.round(t[:, 1], 6)) == {0.2, -0.2} and np.allclose(t[:, 3], 2 * t[:, 1])
    x = td.tensor(IMAGES.astype("float64"), requires_grad=True)
    L.RandomShear(0.3, dtype="float64")(x, training=True).sum().backward()
    assert np.abs(x.grad.numpy()).sum() > 0


def test_an_integer_shear_shifts_rows_by_their_index():
    x = np.arange(2 * 4 * 6, dtype="float64").reshape(2, 4, 6, 1)
    y = L.RandomShear((1.0, 1.0), fill_mode="constant", fill_value=-1.0, dtype="float64", seed=0)
    t = y.transforms(2, 4, 6)
    out = affine_transform(td.tensor(x), t, "nearest", "constant", -1.0).numpy()
    for i, sign in enumerate(np.sign(t[:, 1])):
        for row in range(4):
            for col in range(6):
                src = col + int(sign) * row
                expected = x[i, row, src, 0] if 0 <= src < 6 else -1.0
                assert out[i, row, col, 0] == expected


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_gaussian_blur_matches_keras_with_fixed_factors(data_format):
    keras = _keras()
    x = IMAGES if data_format == "channels_last" else IMAGES.transpose(0, 3, 1, 2)
    for args in [((1.0, 1.0), 3, (0.7, 0.7)), ((1.0, 1.0), 5, (0.4, 0.4)), (0.0, 3, 1.0)]:
        ours = L.RandomGaussianBlur(*args, data_format=data_format)(x, training=True).numpy()
        theirs = keras.layers.RandomGaussianBlur(*args, data_format=data_format)(x, training=True)
        np.testing.assert_allclose(ours, keras.ops.convert_to_numpy(theirs), rtol=1e-5, atol=1e-3)


def test_gaussian_blur_with_an_uneven_kernel_is_the_separable_gaussian_on_chosen_images():
    # (Keras 3.15's torch gaussian_blur fails on non-square kernels, so this one is checked against NumPy)
    x = IMAGES.astype("float64")
    layer = L.RandomGaussianBlur(kernel_size=(5, 3), value_range=(-1e9, 1e9), dtype="float64")
    y = layer.blur(td.tensor(x), np.array([True, False, True]), (0.8, 0.5)).numpy()

    def g(n, s):
        t = np.arange(n) - (n - 1) / 2
        k = np.exp(-t * t / (2 * s * s))
        return k / k.sum()
    kernel = np.outer(g(3, 0.5), g(5, 0.8))  # rows (height) from sigma y, columns from sigma x
    padded = np.pad(x, ((0, 0), (1, 1), (2, 2), (0, 0)))
    blurred = sum(kernel[i, j] * padded[:, i:i + 6, j:j + 7] for i in range(3) for j in range(5))
    np.testing.assert_allclose(y[[0, 2]], blurred[[0, 2]], rtol=1e-10)
    np.testing.assert_array_equal(y[1], x[1])


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_erasing_matches_keras_fixed_and_on_given_boxes(data_format):
    keras = _keras()
    x = IMAGES if data_format == "channels_last" else IMAGES.transpose(0, 3, 1, 2)
    ours = L.RandomErasing((1.0, 1.0), (1.0, 1.0), fill_value=7.0, data_format=data_format)(x, training=True)
    theirs = keras.layers.RandomErasing((1.0, 1.0), (1.0, 1.0), fill_value=7.0, data_format=data_format)(
        x, training=True)
    np.testing.assert_array_equal(ours.numpy(), keras.ops.convert_to_numpy(theirs))
    corners = (np.array([0.5, 2.0, 0.0]), np.array([3.2, 6.0, 7.0]), np.array([1.0, 0.0, 2.5]),
               np.array([4.0, 2.0, 6.0]))
    apply = np.array([True, True, False])
    fill = np.random.default_rng(1).normal(size=x.shape) * 255
    layer = keras.layers.RandomErasing(data_format=data_format)
    masks = layer._generate_batch_mask(x.shape, tuple(keras.ops.convert_to_tensor(c.astype("float32"))
                                                      for c in corners))
    theirs = layer.transform_images(keras.ops.convert_to_tensor(x), {
        "batch_masks": masks, "apply_erasing": keras.ops.convert_to_tensor(apply),
        "fill_value": keras.ops.clip(keras.ops.convert_to_tensor(fill.astype("float32")), 0, 255)})
    ours = L.RandomErasing(data_format=data_format).erase(td.tensor(x), corners, apply, fill)
    np.testing.assert_allclose(ours.numpy(), keras.ops.convert_to_numpy(theirs), rtol=1e-6)


def test_erasing_fills_one_box_per_chosen_image_and_passes_gradients_elsewhere():
    x = td.tensor(IMAGES.astype("float64"), requires_grad=True)
    y = L.RandomErasing((1.0, 1.0), (0.2, 0.3), fill_value=[1.0, 2.0, 3.0], seed=4, dtype="float64")(
        x, training=True)
    changed = (y.numpy() != IMAGES).any(axis=-1)
    for image, box in zip(y.numpy(), changed):
        rows, cols = np.nonzero(box)
        assert box[rows.min():rows.max() + 1, cols.min():cols.max() + 1].all()  # a rectangle
        np.testing.assert_array_equal(image[box], np.broadcast_to([1.0, 2.0, 3.0], (box.sum(), 3)))
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.repeat(~changed[..., None], 3, axis=-1).astype(float))


@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_perspective_matches_keras_on_given_corners(interpolation, data_format):
    keras = _keras()
    x = IMAGES if data_format == "channels_last" else IMAGES.transpose(0, 3, 1, 2)
    start = np.repeat(np.array([[[0.0, 0.0], [6.0, 0.0], [0.0, 5.0], [6.0, 5.0]]]), 3, axis=0)
    end = start + start * np.random.default_rng(2).uniform(-0.3, 0.3, (3, 4, 2))
    apply = np.array([True, False, True])
    layer = keras.layers.RandomPerspective(interpolation=interpolation, fill_value=3.0, data_format=data_format)
    theirs = layer.transform_images(keras.ops.convert_to_tensor(x), {
        "apply_perspective": keras.ops.convert_to_tensor(apply), "input_shape": x.shape,
        "start_points": keras.ops.convert_to_tensor(start.astype("float32")),
        "end_points": keras.ops.convert_to_tensor(end.astype("float32"))})
    ours = L.RandomPerspective(interpolation=interpolation, fill_value=3.0, data_format=data_format).warp(
        td.tensor(x), start, end, apply)
    np.testing.assert_allclose(ours.numpy(), keras.ops.convert_to_numpy(theirs), rtol=1e-5, atol=1e-3)
    fixed = keras.layers.RandomPerspective((1.0, 1.0), 0.0, data_format=data_format)(x, training=True)
    np.testing.assert_allclose(L.RandomPerspective((1.0, 1.0), 0.0, data_format=data_format)(x, training=True).numpy(),
                               keras.ops.convert_to_numpy(fixed), atol=1e-4)


def test_perspective_homography_moves_the_corners_and_passes_gradients():
    from tinydl.layers.augmentation import homographies
    start = np.array([[[0.0, 0.0], [6.0, 0.0], [0.0, 5.0], [6.0, 5.0]]])
    end = start * np.array([[[1.0, 1.0], [0.9, 1.0], [1.0, 1.2], [1.1, 0.8]]])
    t = homographies(start, end)[0]
    for (sx, sy), (ex, ey) in zip(start[0], end[0]):
        k = t[6] * ex + t[7] * ey + 1
        np.testing.assert_allclose([(t[0] * ex + t[1] * ey + t[2]) / k, (t[3] * ex + t[4] * ey + t[5]) / k], [sx, sy],
                                   atol=1e-12)
    x = td.tensor(IMAGES.astype("float64"), requires_grad=True)
    L.RandomPerspective(scale=0.5, dtype="float64")(x, training=True).sum().backward()
    assert np.abs(x.grad.numpy()).sum() > 0


@pytest.mark.parametrize("layer", [L.RandomShear(0.5, 0.5), L.RandomGaussianBlur(), L.RandomErasing(),
                                   L.RandomPerspective()])
def test_identity_in_inference(layer):
    np.testing.assert_array_equal(layer(IMAGES).numpy(), IMAGES)


@pytest.mark.parametrize("make,message", [
    (lambda: L.RandomShear(x_factor=1.5), "x_factor"), (lambda: L.RandomShear(y_factor=(0.1, -0.2)), "y_factor"),
    (lambda: L.RandomShear(fill_mode="mirror"), "fill_mode"), (lambda: L.RandomShear(interpolation="cubic"),
                                                               "interpolation"),
    (lambda: L.RandomGaussianBlur(kernel_size=4), "kernel_size"), (lambda: L.RandomGaussianBlur(sigma=2.0), "sigma"),
    (lambda: L.RandomGaussianBlur(factor=-0.5), "factor"), (lambda: L.RandomGaussianBlur(value_range=3), "value_range"),
    (lambda: L.RandomErasing(scale=(0.1, 2.0)), "scale"), (lambda: L.RandomErasing(fill_value=(1, 2)), "fill_value"),
    (lambda: L.RandomErasing(factor=3), "factor"), (lambda: L.RandomPerspective(scale=2.0), "scale"),
    (lambda: L.RandomPerspective(interpolation="cubic"), "interpolation"),
    (lambda: L.RandomPerspective(factor=(0.1, 0.2, 0.3)), "factor")])
def test_bad_arguments_raise_naming_themselves(make, message):
    with pytest.raises(ValueError, match=message):
        make()
