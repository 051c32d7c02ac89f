"""Initializers: Keras names, defaults, fan computation, distributions and config round-trips."""
import math

import numpy as np
import pytest

import tinydl as td
from tinydl import activations, initializers, regularizers


def test_fans_follow_keras_for_dense_and_conv_kernels():
    assert initializers.compute_fans(()) == (1, 1)
    assert initializers.compute_fans((7,)) == (7, 7)
    assert initializers.compute_fans((64, 10)) == (64, 10)
    # Conv2D kernel (kh, kw, in, out): receptive field 3*3 times channels
    assert initializers.compute_fans((3, 3, 16, 32)) == (144, 288)
    # Keras 3.15's explicit axes, as for an attention kernel (d_model, heads, key_dim)
    assert initializers.compute_fans((64, 4, 16), input_axes=[0], output_axes=[1, 2]) == (64, 64)
    w = initializers.GlorotUniform(input_axes=[0], output_axes=[1, 2])((64, 4, 16))
    assert np.abs(w).max() <= math.sqrt(6 / 128)


def test_glorot_uniform_limit_and_variance():
    td.set_seed(0)
    w = initializers.get("glorot_uniform")((200, 300))
    limit = math.sqrt(6 / 500)
    assert w.dtype == np.float32 and w.shape == (200, 300)
    assert np.abs(w).max() <= limit
    assert abs(w.var() - limit ** 2 / 3) < 0.05 * limit ** 2 / 3


@pytest.mark.parametrize("name,scale,fan", [("he_normal", 2.0, "in"), ("lecun_normal", 1.0, "in"),
                                            ("glorot_normal", 1.0, "avg")])
def test_truncated_normal_presets_have_keras_stddev(name, scale, fan):
    td.set_seed(1)
    w = initializers.get(name)((400, 100), dtype="float64")
    n = 400 if fan == "in" else 250
    std = math.sqrt(scale / n) / 0.87962566103423978
    assert np.abs(w).max() <= 2 * std + 1e-12
    # the truncated distribution's stddev equals sqrt(scale / n)
    assert abs(w.std() - math.sqrt(scale / n)) < 0.03 * math.sqrt(scale / n)


def test_he_uniform_and_lecun_uniform_limits():
    td.set_seed(2)
    assert np.abs(initializers.HeUniform()((50, 8))).max() <= math.sqrt(6 / 50)
    assert np.abs(initializers.LecunUniform()((50, 8))).max() <= math.sqrt(3 / 50)


def test_keras_defaults_of_random_initializers():
    assert initializers.RandomNormal().get_config() == {"mean": 0.0, "stddev": 0.05, "seed": None}
    assert initializers.RandomUniform().get_config() == {"minval": -0.05, "maxval": 0.05, "seed": None}
    assert initializers.TruncatedNormal().get_config() == {"mean": 0.0, "stddev": 0.05, "seed": None}
    assert initializers.VarianceScaling().get_config() == {
        "scale": 1.0, "mode": "fan_in", "distribution": "truncated_normal", "seed": None, "input_axes": None,
        "output_axes": None}
    assert initializers.GlorotUniform().get_config() == {"seed": None, "input_axes": None, "output_axes": None}
    assert initializers.Orthogonal().get_config() == {"gain": 1.0, "seed": None}
    assert initializers.Constant().get_config() == {"value": 0.0}
    td.set_seed(3)
    t = initializers.TruncatedNormal(mean=1.0, stddev=0.1)((1000,), dtype="float64")
    assert np.all(np.abs(t - 1.0) <= 0.2)


def test_constant_zeros_ones_identity():
    assert np.array_equal(initializers.get("zeros")((2, 3)), np.zeros((2, 3), np.float32))
    assert np.array_equal(initializers.get("ones")((2,)), np.ones(2, np.float32))
    assert np.array_equal(initializers.Constant(3.5)((2, 2)), np.full((2, 2), 3.5, np.float32))
    assert np.array_equal(initializers.Identity(gain=2.0)((2, 3)), 2 * np.eye(2, 3, dtype=np.float32))


@pytest.mark.parametrize("shape", [(6, 4), (4, 6), (3, 2, 5)])
def test_orthogonal_rows_or_columns_are_orthonormal(shape):
    td.set_seed(4)
    w = initializers.get("orthogonal")(shape, dtype="float64").reshape(-1, shape[-1])
    small = w.T @ w if w.shape[0] >= w.shape[1] else w @ w.T
    np.testing.assert_allclose(small, np.eye(len(small)), atol=1e-12)


def test_integer_seed_repeats_and_set_seed_reproduces():
    a = initializers.GlorotUniform(seed=5)((3, 3))
    assert np.array_equal(a, initializers.GlorotUniform(seed=5)((3, 3)))
    td.set_seed(9)
    b = initializers.get("he_normal")((3, 3))
    td.set_seed(9)
    assert np.array_equal(b, initializers.get("he_normal")((3, 3)))


def test_config_round_trip_and_registry():
    from tinydl.io import config
    for name in ["glorot_uniform", "he_normal", "orthogonal", "zeros", "random_normal", "variance_scaling"]:
        init = initializers.get(name)
        again = config.deserialize(config.serialize(init))
        assert type(again) is type(init) and again.get_config() == init.get_config()
    vs = initializers.VarianceScaling(scale=2.0, mode="fan_out", distribution="uniform", seed=3)
    again = initializers.deserialize(initializers.serialize(vs))
    assert again.get_config() == vs.get_config()
    assert np.array_equal(again((4, 4)), vs((4, 4)))


def test_unknown_initializer_name_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown initializer 'glorot'; known: .*glorot_uniform"):
        initializers.get("glorot")


# -- activations ----------------------------------------------------------------------------------
X = np.array([[-3.0, -0.5, 0.0, 0.5, 2.0, 7.0]])


@pytest.mark.parametrize("name,expected", [
    ("relu", np.maximum(X, 0)),
    ("relu6", np.clip(X, 0, 6)),
    ("linear", X),
    ("sigmoid", 1 / (1 + np.exp(-X))),
    ("tanh", np.tanh(X)),
    ("softplus", np.log1p(np.exp(X))),
    ("softsign", X / (1 + np.abs(X))),
    ("swish", X / (1 + np.exp(-X))),
    ("silu", X / (1 + np.exp(-X))),
    ("elu", np.where(X > 0, X, np.expm1(X))),
    ("selu", 1.0507009873554805 * np.where(X > 0, X, 1.6732632423543772 * np.expm1(X))),
    ("leaky_relu", np.where(X > 0, X, 0.2 * X)),
    ("hard_sigmoid", np.clip(X / 6 + 0.5, 0, 1)),
    ("exponential", np.exp(X)),
    ("mish", X * np.tanh(np.log1p(np.exp(X)))),
    ("softmax", np.exp(X) / np.exp(X).sum(-1, keepdims=True)),
    ("log_softmax", X - np.log(np.exp(X).sum(-1, keepdims=True))),
    ("celu", np.maximum(X, 0) + np.expm1(np.minimum(X, 0))),
    ("hard_tanh", np.clip(X, -1, 1)),
    ("hard_shrink", np.where(np.abs(X) > 0.5, X, 0)),
    ("soft_shrink", np.where(X > 0.5, X - 0.5, np.where(X < -0.5, X + 0.5, 0))),
    ("tanh_shrink", X - np.tanh(X)),
    ("log_sigmoid", -np.log1p(np.exp(-X))),
    ("squareplus", (X + np.sqrt(X ** 2 + 4)) / 2),
    ("sparse_plus", np.where(X <= -1, 0, np.where(X >= 1, X, (X + 1) ** 2 / 4))),
    ("glu", X[:, :3] / (1 + np.exp(-X[:, 3:]))),
])
def test_activation_values_by_keras_name(name, expected):
    out = activations.get(name)(td.tensor(X, dtype="float64"))
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-10, atol=1e-12)


def test_gelu_is_exact_erf_form_by_default():
    from math import erf
    out = activations.get("gelu")(td.tensor(X, dtype="float64")).numpy()
    expected = np.vectorize(lambda v: 0.5 * v * (1 + erf(v / math.sqrt(2))))(X)
    np.testing.assert_allclose(out, expected, rtol=1e-10)


def test_relu_with_keras_options():
    x = td.tensor(X, dtype="float64")
    out = activations.relu(x, negative_slope=0.1, max_value=5.0, threshold=1.0).numpy()
    expected = np.clip(np.where(X > 1.0, X, 0.0), 0, 5.0) - 0.1 * np.maximum(1.0 - X, 0)
    np.testing.assert_allclose(out, expected)


def test_activation_serialize_and_unknown_name():
    assert activations.serialize(activations.get("relu")) == "relu"
    assert activations.serialize(activations.get("swish")) == "silu"
    assert activations.serialize(None) == "linear"
    assert activations.get(None) is activations.linear
    assert activations.deserialize({"module": "keras.activations", "class_name": "function",
                                    "config": "tanh", "registered_name": None}) is activations.tanh
    with pytest.raises(ValueError, match="unknown activation 'relux'; known: "):
        activations.get("relux")


def test_activation_gradient_flows():
    x = td.tensor(X, dtype="float64", requires_grad=True)
    activations.get("mish")(x).sum().backward()
    assert x.grad.shape == X.shape


# -- regularizers ---------------------------------------------------------------------------------
W = np.array([[1.0, -2.0], [0.5, 0.0]])


def test_regularizer_values_and_keras_defaults():
    assert regularizers.get("l1").get_config() == {"l1": 0.01}
    assert regularizers.get("l2").get_config() == {"l2": 0.01}
    assert regularizers.get("l1_l2").get_config() == {"l1": 0.0, "l2": 0.0}
    w = td.tensor(W, dtype="float64")
    assert float(regularizers.L1(0.1)(w)) == pytest.approx(0.1 * 3.5)
    assert float(regularizers.L2(0.1)(w)) == pytest.approx(0.1 * 5.25)
    assert float(regularizers.L1L2(0.1, 0.2)(w)) == pytest.approx(0.35 + 0.2 * 5.25)
    assert float(regularizers.L1L2()(w)) == 0.0


def test_regularizer_gradient_and_round_trip():
    w = td.tensor(W, dtype="float64", requires_grad=True)
    regularizers.L2(0.5)(w).backward()
    np.testing.assert_allclose(w.grad.numpy(), W)
    from tinydl.io import config
    r = config.deserialize(config.serialize(regularizers.L1L2(l1=0.3, l2=0.4)))
    assert isinstance(r, regularizers.L1L2) and r.get_config() == {"l1": 0.3, "l2": 0.4}
    with pytest.raises(ValueError, match="unknown regularizer 'l3'"):
        regularizers.get("l3")
    with pytest.raises(ValueError, match="non-negative"):
        regularizers.L2(-1)
