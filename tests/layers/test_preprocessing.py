"""Preprocessing layers: adapt (batched = whole, NumPy references), interpolation matrices against closed
forms, and the argument and input errors."""
import numpy as np
import pytest

from tinydl import layers as L
from tinydl.layers.preprocessing import resize_matrix


def test_normalization_adapt_over_batches_equals_adapt_over_the_whole_array():
    data = np.random.default_rng(0).standard_normal((37, 2, 3)) * 5 + 3
    whole, batched = L.Normalization(axis=-1), L.Normalization(axis=-1)
    whole.adapt(data)
    batched.adapt(data, batch_size=8)
    np.testing.assert_allclose(whole.mean.numpy(), data.mean(axis=(0, 1)), rtol=1e-6)
    np.testing.assert_allclose(whole.variance.numpy(), data.var(axis=(0, 1)), rtol=1e-5)
    for a, b in zip(whole.get_weights(), batched.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5)
    x = data[:4].astype("float32")
    np.testing.assert_allclose(whole(x).numpy(), (x - data.mean((0, 1))) / data.std((0, 1)), rtol=1e-4, atol=1e-5)


def test_normalization_invert_undoes_normalization():
    x = np.random.default_rng(1).standard_normal((3, 4)).astype("float32")
    forward = L.Normalization(mean=[1.0, 2.0, 3.0, 4.0], variance=[1.0, 4.0, 9.0, 16.0])
    inverse = L.Normalization(mean=[1.0, 2.0, 3.0, 4.0], variance=[1.0, 4.0, 9.0, 16.0], invert=True)
    np.testing.assert_allclose(inverse(forward(x)).numpy(), x, rtol=1e-5, atol=1e-6)


def test_discretization_adapt_puts_boundaries_at_the_quantiles():
    layer = L.Discretization(num_bins=4)
    layer.adapt(np.arange(100.0))
    assert layer.bin_boundaries == [24.0, 49.0, 74.0]
    np.testing.assert_array_equal(layer(np.array([[0.0, 24.0, 60.0, 99.0]])).numpy(), [[0, 1, 2, 3]])


def test_resize_matrices_rows_sum_to_one_and_identity_at_the_same_size():
    for interpolation in ("bilinear", "nearest", "bicubic"):
        np.testing.assert_allclose(resize_matrix(5, 5, interpolation), np.eye(5), atol=1e-12)
        for n_in, n_out in ((4, 9), (9, 4)):
            np.testing.assert_allclose(resize_matrix(n_in, n_out, interpolation).sum(axis=1), 1.0)
    # halving with bilinear: each output is the mean of two neighbours (half-pixel centres)
    np.testing.assert_allclose(resize_matrix(4, 2), [[0.5, 0.5, 0, 0], [0, 0, 0.5, 0.5]])
    np.testing.assert_allclose(resize_matrix(6, 2, antialias=True).sum(axis=1), 1.0)


@pytest.mark.parametrize("make,message", [
    (lambda: L.Resizing(0, 3), "height"),
    (lambda: L.Resizing(3, 3, interpolation="lanczos3"), "interpolation"),
    (lambda: L.Resizing(3, 3, crop_to_aspect_ratio=True, pad_to_aspect_ratio=True), "pad_to_aspect_ratio"),
    (lambda: L.Resizing(3, 3, fill_mode="reflect"), "fill_mode"),
    (lambda: L.CenterCrop(2, 2, data_format="NHWC"), "data_format"),
    (lambda: L.Normalization(mean=1.0), "variance"),
    (lambda: L.Normalization(mean=1.0, variance=1.0).adapt(np.ones((2, 2))), "adapt"),
    (lambda: L.Discretization(), "num_bins"),
    (lambda: L.Discretization(bin_boundaries=[1.0, 0.0]), "sorted"),
    (lambda: L.Discretization(bin_boundaries=[0.0], output_mode="tf_idf"), "output_mode"),
    (lambda: L.Discretization(bin_boundaries=[0.0], sparse=True), "sparse"),
    (lambda: L.Discretization(num_bins=3)(np.ones((2, 2))), "adapt"),
    (lambda: L.CategoryEncoding(), "num_tokens"),
    (lambda: L.CategoryEncoding(3, output_mode="int"), "output_mode"),
    (lambda: L.CategoryEncoding(3)(np.array([[0, 3]])), r"\[0, 3\)"),
    (lambda: L.CategoryEncoding(3)(np.array([[0.5]])), "integer"),
    (lambda: L.CategoryEncoding(3)(np.zeros((2, 2, 2), "int64")), "rank"),
    (lambda: L.CategoryEncoding(3)(np.array([[0, 1]]), count_weights=np.ones((1, 2))), "count_weights"),
])
def test_invalid_arguments_and_inputs_are_refused_clearly(make, message):
    with pytest.raises(ValueError, match=message):
        make()
