"""Noise layers in training (statistics against closed forms, seeds), SpectralNormalization's power iteration
against NumPy's SVD, and the argument errors of the activation, noise and normalisation layers."""
import numpy as np
import pytest

import tinydl as td
from tinydl import layers as L

SELU_ALPHA, SELU_SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946


def _ones(shape=(200, 50, 10)):
    return np.ones(shape, dtype="float64")


def test_gaussian_noise_adds_noise_of_stddev_only_in_training():
    x = np.random.default_rng(0).standard_normal((400, 250))
    layer = L.GaussianNoise(0.3, seed=1, dtype="float64")
    np.testing.assert_array_equal(layer(x).numpy(), x)
    noise = layer(x, training=True).numpy() - x
    assert abs(noise.mean()) < 0.005 and abs(noise.std() - 0.3) < 0.003


def test_gaussian_dropout_multiplies_by_mean_one_noise_of_variance_rate_over_keep():
    factor = L.GaussianDropout(0.2, seed=0, dtype="float64")(_ones(), training=True).numpy()
    assert abs(factor.mean() - 1) < 0.005 and abs(factor.var() - 0.2 / 0.8) < 0.005


def test_alpha_dropout_keeps_zero_mean_unit_variance_and_uses_the_two_affine_values():
    rate = 0.3
    x = np.random.default_rng(0).standard_normal((300, 300))
    y = L.AlphaDropout(rate, seed=2, dtype="float64")(x, training=True).numpy()
    alpha_p = -SELU_ALPHA * SELU_SCALE
    a = ((1 - rate) * (1 + rate * alpha_p ** 2)) ** -0.5
    b = -a * alpha_p * rate
    dropped = np.isclose(y, a * alpha_p + b)
    assert abs(dropped.mean() - rate) < 0.01
    np.testing.assert_allclose(y[~dropped], a * x[~dropped] + b)
    assert abs(y.mean()) < 0.01 and abs(y.var() - 1) < 0.02


def test_alpha_dropout_noise_shape_shares_the_draw_along_axes_of_size_one():
    y = L.AlphaDropout(0.5, noise_shape=(None, 1, None), seed=3, dtype="float64")(_ones((4, 6, 5)), training=True)
    y = y.numpy()
    np.testing.assert_array_equal(y, np.broadcast_to(y[:, :1], y.shape))


@pytest.mark.parametrize("cls,shape,data_format", [(L.SpatialDropout1D, (50, 7, 8), None),
                                                   (L.SpatialDropout2D, (50, 3, 4, 8), "channels_last"),
                                                   (L.SpatialDropout2D, (50, 8, 3, 4), "channels_first"),
                                                   (L.SpatialDropout3D, (50, 2, 3, 2, 8), None)])
def test_spatial_dropout_drops_whole_channels_and_scales_the_rest(cls, shape, data_format):
    kwargs = {} if data_format is None else {"data_format": data_format}
    y = cls(0.25, seed=0, dtype="float64", **kwargs)(_ones(shape), training=True).numpy()
    channel_axis = 1 if data_format == "channels_first" else -1
    per_channel = np.moveaxis(y, channel_axis, 1).reshape(shape[0], 8, -1)
    assert set(np.unique(per_channel)) <= {0.0, 1 / 0.75}
    assert (per_channel.min(axis=2) == per_channel.max(axis=2)).all()  # one draw per (sample, channel)
    assert abs((per_channel[..., 0] == 0).mean() - 0.25) < 0.06


def test_a_seed_makes_the_noise_reproducible():
    x = _ones((3, 4))
    a = L.GaussianNoise(0.5, seed=7)(x, training=True).numpy()
    b = L.GaussianNoise(0.5, seed=7)(x, training=True).numpy()
    np.testing.assert_array_equal(a, b)


def test_spectral_normalization_drives_the_largest_singular_value_to_one():
    td.set_seed(0)
    layer = L.SpectralNormalization(L.Dense(6, kernel_initializer="random_normal"), power_iterations=1)
    x = np.ones((2, 4), dtype="float32")
    layer(x)
    layer.kernel.assign(np.random.default_rng(0).standard_normal((4, 6)) * 3)
    for _ in range(30):
        layer(x, training=True)
    assert np.linalg.svd(layer.kernel.numpy(), compute_uv=False)[0] == pytest.approx(1.0, abs=1e-4)
    before = layer.kernel.numpy()
    layer(x)  # inference leaves the kernel alone
    np.testing.assert_array_equal(layer.kernel.numpy(), before)


def test_group_normalization_with_one_channel_per_group_is_instance_normalization():
    x = np.random.default_rng(1).standard_normal((2, 5, 5, 3)) * 4 + 2
    y = L.GroupNormalization(groups=3, epsilon=0.0, dtype="float64")(x).numpy()
    expected = (x - x.mean(axis=(1, 2), keepdims=True)) / x.std(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(y, expected, atol=1e-10)


@pytest.mark.parametrize("make,message", [
    (lambda: L.ReLU(max_value=-1.0), "max_value"),
    (lambda: L.ReLU(negative_slope=-0.1), "negative_slope"),
    (lambda: L.ReLU(threshold=-0.5), "threshold"),
    (lambda: L.LeakyReLU(negative_slope=-1.0), "negative_slope"),
    (lambda: L.GaussianNoise(1.5), "stddev"),
    (lambda: L.GaussianDropout(-0.1), "rate"),
    (lambda: L.AlphaDropout(2.0), "rate"),
    (lambda: L.SpatialDropout2D(0.2, data_format="nchw"), "data_format"),
    (lambda: L.SpectralNormalization(L.Dense(2), power_iterations=0), "power_iterations"),
    (lambda: L.GroupNormalization(groups=4)(np.ones((2, 6), "float32")), "groups=4"),
    (lambda: L.SpectralNormalization(L.Flatten())(np.ones((2, 3), "float32")), "kernel"),
    (lambda: L.PReLU(shared_axes=[3])(np.ones((2, 3), "float32")), "shared_axes"),
])
def test_invalid_arguments_are_refused_with_their_name(make, message):
    with pytest.raises((ValueError, TypeError), match=message):
        make()


def test_leaky_relu_takes_alpha_as_its_deprecated_name():
    with pytest.warns(UserWarning, match="alpha"):
        layer = L.LeakyReLU(alpha=0.1)
    assert layer.negative_slope == 0.1
    np.testing.assert_allclose(layer(np.array([[-2.0, 3.0]], "float32")).numpy(), [[-0.2, 3.0]])
