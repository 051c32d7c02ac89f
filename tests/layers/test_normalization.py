"""BatchNormalization and LayerNormalization against NumPy formulas written here, Keras's weights and rules."""
import numpy as np
import pytest

import tinydl as td
from tinydl import layers as L
from tinydl.testing import gradcheck

EPS = 1e-3


def bn_reference(x, gamma, beta, mean, var, axis=-1, eps=EPS):
    """gamma * (x - mean) / sqrt(var + eps) + beta, parameters along `axis`."""
    shape = [1] * x.ndim
    shape[axis] = -1
    r = lambda p: np.reshape(p, shape)  # noqa: E731
    return r(gamma) * (x - r(mean)) / np.sqrt(r(var) + eps) + r(beta)


def batch_stats(x, axis=-1):
    """Per-channel mean and biased variance over every other axis."""
    axes = tuple(a for a in range(x.ndim) if a != axis % x.ndim)
    return x.mean(axis=axes), x.var(axis=axes)


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((8, 3)) * [1.0, 2.0, 0.5] + [0.5, -1.0, 3.0]).astype(np.float64)
    gamma, beta = np.array([1.5, 0.5, 2.0]), np.array([0.1, -0.2, 0.3])
    return x, gamma, beta


def test_batchnorm_weights_in_keras_order_with_two_non_trainable():
    bn = L.BatchNormalization()
    bn.build((None, 5))
    assert [w.name for w in bn.weights] == ["gamma", "beta", "moving_mean", "moving_variance"]
    assert [w.shape for w in bn.weights] == [(5,)] * 4
    assert [w.name for w in bn.non_trainable_weights] == ["moving_mean", "moving_variance"]
    assert bn.count_params() == 4 * 5
    np.testing.assert_array_equal(bn.get_weights()[0], np.ones(5))
    np.testing.assert_array_equal(bn.get_weights()[3], np.ones(5))
    assert bn.weights[0].path == f"{bn.name}/gamma"


def test_batchnorm_without_center_and_scale_keeps_only_the_moving_statistics():
    bn = L.BatchNormalization(center=False, scale=False)
    bn.build((None, 4))
    assert [w.name for w in bn.weights] == ["moving_mean", "moving_variance"]
    assert bn.count_params() == 8 and bn.trainable_weights == []


def test_batchnorm_training_uses_batch_statistics_with_biased_variance(data):
    x, gamma, beta = data
    bn = L.BatchNormalization(dtype="float64")
    bn.build((None, 3))
    bn.set_weights([gamma, beta, np.zeros(3), np.ones(3)])
    out = bn(x, training=True).numpy()
    mean, var = batch_stats(x)
    np.testing.assert_allclose(out, bn_reference(x, gamma, beta, mean, var), rtol=1e-12, atol=1e-12)


def test_batchnorm_moving_statistics_after_one_step_follow_keras(data):
    x, gamma, beta = data
    bn = L.BatchNormalization(momentum=0.9, dtype="float64")
    bn.build((None, 3))
    mm0, mv0 = np.array([0.2, 0.0, -0.1]), np.array([1.0, 2.0, 0.5])
    bn.set_weights([gamma, beta, mm0, mv0])
    bn(x, training=True)
    mean, var = batch_stats(x)
    _, _, mm, mv = bn.get_weights()
    np.testing.assert_allclose(mm, mm0 * 0.9 + mean * 0.1, rtol=1e-12)
    np.testing.assert_allclose(mv, mv0 * 0.9 + var * 0.1, rtol=1e-12)


def test_batchnorm_inference_uses_moving_statistics_and_leaves_them(data):
    x, gamma, beta = data
    bn = L.BatchNormalization(dtype="float64")
    bn.build((None, 3))
    mm, mv = np.array([0.5, -1.0, 3.0]), np.array([1.0, 4.0, 0.25])
    bn.set_weights([gamma, beta, mm, mv])
    out = bn(x, training=False).numpy()
    np.testing.assert_allclose(out, bn_reference(x, gamma, beta, mm, mv), rtol=1e-12)
    out_default = bn(x).numpy()  # no training flag outside fit: inference
    np.testing.assert_allclose(out_default, out)
    np.testing.assert_array_equal(bn.get_weights()[2], mm)


def test_frozen_batchnorm_runs_in_inference_even_when_training(data):
    x, gamma, beta = data
    bn = L.BatchNormalization(dtype="float64")
    bn.build((None, 3))
    bn.trainable = False
    out = bn(x, training=True).numpy()
    np.testing.assert_allclose(out, bn_reference(x, np.ones(3), np.zeros(3), np.zeros(3), np.ones(3)))
    np.testing.assert_array_equal(bn.get_weights()[2], np.zeros(3))


def test_batchnorm_channels_first_normalises_axis_1():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 2, 5))
    bn = L.BatchNormalization(axis=1, dtype="float64")
    out = bn(x, training=True).numpy()
    assert [w.shape for w in bn.weights] == [(2,)] * 4
    mean, var = batch_stats(x, axis=1)
    np.testing.assert_allclose(out, bn_reference(x, np.ones(2), np.zeros(2), mean, var, axis=1), atol=1e-12)


def test_batchnorm_gradient_reaches_the_input_tensor(data):
    x, gamma, beta = data
    bn = L.BatchNormalization(dtype="float64")
    xt = td.tensor(x, requires_grad=True)
    (bn(xt, training=True) * td.tensor(np.arange(24.0).reshape(8, 3))).sum().backward()
    assert xt.grad is not None and xt.grad.shape == x.shape
    # normalising removes the mean, so the input gradient sums to zero per channel
    np.testing.assert_allclose(xt.grad.numpy().sum(axis=0), 0, atol=1e-10)
    upstream = np.arange(24.0).reshape(8, 3)
    mean, var = x.mean(axis=0), x.var(axis=0)
    np.testing.assert_allclose(bn.beta.grad.numpy(), upstream.sum(axis=0), rtol=1e-12)
    np.testing.assert_allclose(bn.gamma.grad.numpy(), (upstream * (x - mean) / np.sqrt(var + EPS)).sum(axis=0),
                               rtol=1e-9)
    assert bn.moving_mean.grad is None


def test_batchnorm_in_fit_updates_moving_statistics_toward_the_data():
    td.set_seed(0)
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((64, 2)) * 3 + 5).astype(np.float32)
    y = rng.standard_normal((64, 1)).astype(np.float32)
    model = td.models.Sequential([L.Input(shape=(2,)), L.BatchNormalization(momentum=0.5), L.Dense(1)])
    model.compile("sgd", "mean_squared_error")
    model.fit(x, y, batch_size=64, epochs=8, verbose=0)
    bn = model.layers[0]
    np.testing.assert_allclose(bn.moving_mean.numpy(), x.mean(axis=0), rtol=0.01)
    np.testing.assert_allclose(bn.moving_variance.numpy(), x.var(axis=0), rtol=0.01)


def test_batchnorm_wrong_channel_count_names_layer_and_shapes():
    bn = L.BatchNormalization(name="bn")
    bn(np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match=r"BatchNormalization 'bn'.*size 3.*\(2, 4\)"):
        bn(np.zeros((2, 4), np.float32))
    with pytest.raises(ValueError, match=r"'bn'.*2 dimensions.*\(2, 3, 3\)"):
        bn(np.zeros((2, 3, 3), np.float32))


def test_batchnorm_config_has_keras_keys():
    config = L.BatchNormalization(momentum=0.9).get_config()
    assert {"axis", "momentum", "epsilon", "center", "scale", "beta_initializer", "gamma_initializer",
            "moving_mean_initializer", "moving_variance_initializer", "beta_regularizer", "gamma_regularizer",
            "beta_constraint", "gamma_constraint", "synchronized"} <= set(config)
    assert config["momentum"] == 0.9 and config["epsilon"] == 1e-3 and config["axis"] == -1


def test_layernorm_matches_the_formula_per_sample():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 4, 5)) * 2 + 1
    ln = L.LayerNormalization(dtype="float64")
    ln.build((None, 4, 5))
    gamma, beta = rng.standard_normal(5), rng.standard_normal(5)
    ln.set_weights([gamma, beta])
    mean, var = x.mean(axis=-1, keepdims=True), x.var(axis=-1, keepdims=True)
    np.testing.assert_allclose(ln(x).numpy(), (x - mean) / np.sqrt(var + EPS) * gamma + beta, rtol=1e-12)
    assert [w.name for w in ln.weights] == ["gamma", "beta"] and ln.count_params() == 10


def test_layernorm_over_two_axes_has_weights_shaped_like_those_axes():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 4))
    ln = L.LayerNormalization(axis=[1, 2], epsilon=1e-5, dtype="float64")
    out = ln(x).numpy()
    assert [w.shape for w in ln.weights] == [(3, 4), (3, 4)]
    mean, var = x.mean(axis=(1, 2), keepdims=True), x.var(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(out, (x - mean) / np.sqrt(var + 1e-5), rtol=1e-12)


def test_layernorm_gradient_reaches_the_input_and_training_does_not_matter():
    rng = np.random.default_rng(4)
    x = td.tensor(rng.standard_normal((2, 6)), requires_grad=True)
    ln = L.LayerNormalization(dtype="float64")
    out = ln(x, training=True)
    np.testing.assert_allclose(out.numpy(), ln(x, training=False).numpy())
    (out * out * td.tensor(np.arange(12.0).reshape(2, 6))).sum().backward()
    assert x.grad is not None and np.abs(x.grad.numpy()).sum() > 0
    np.testing.assert_allclose(x.grad.numpy().sum(axis=-1), 0, atol=1e-9)


def test_layernorm_wrong_feature_size_is_a_clear_error():
    ln = L.LayerNormalization(name="ln")
    ln(np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match=r"LayerNormalization 'ln'.*size 3.*\(2, 5\)"):
        ln(np.zeros((2, 5), np.float32))


def test_batchnorm_with_a_mask_takes_statistics_over_unmasked_steps_only():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 4, 3))
    mask = np.array([[True, True, True, False], [True, False, False, False]])
    bn = L.BatchNormalization(momentum=0.75, dtype="float64")  # not 0.5: momentum and 1 - momentum differ
    xt = td.tensor(x, requires_grad=True)
    out = bn(xt, training=True, mask=mask)
    kept = x[mask]  # (4, 3): the unmasked steps
    mean, var = kept.mean(axis=0), kept.var(axis=0)
    np.testing.assert_allclose(out.numpy(), bn_reference(x, np.ones(3), np.zeros(3), mean, var), atol=1e-6)
    np.testing.assert_allclose(bn.moving_mean.numpy(), 0.75 * 0.0 + 0.25 * mean, atol=1e-6)
    np.testing.assert_allclose(bn.moving_variance.numpy(), 0.75 * 1.0 + 0.25 * var, atol=1e-6)
    fresh = L.BatchNormalization(dtype="float64")
    report = gradcheck(lambda t: fresh(t, training=True, mask=mask), [x])
    assert report, report  # masked steps are normalised with the unmasked steps' statistics
    np.testing.assert_array_equal(out._keras_mask, mask)


def test_batchnorm_mask_flows_from_embedding():
    ids = np.array([[3, 1, 0], [2, 0, 0]])
    emb = L.Embedding(5, 2, mask_zero=True, dtype="float64")
    bn = L.BatchNormalization(dtype="float64")
    out = bn(emb(ids), training=True)
    table = emb.get_weights()[0]
    kept = table[ids[ids != 0]]
    expected = (table[ids] - kept.mean(0)) / np.sqrt(kept.var(0) + EPS)
    np.testing.assert_allclose(out.numpy(), expected, atol=1e-6)


def test_masked_batchnorm_gradient_matches_finite_differences():
    from tinydl.testing import gradcheck
    rng = np.random.default_rng(6)
    mask = np.array([[True, True, False], [True, False, True]])
    bn = L.BatchNormalization(dtype="float64")
    bn.build((None, 3, 2))
    bn.set_weights([np.array([1.5, 0.5]), np.array([0.1, -0.3]), np.zeros(2), np.ones(2)])
    report = gradcheck(lambda x: bn(x, training=True, mask=mask), [rng.standard_normal((2, 3, 2))])
    assert report.ok, report


def test_layernorm_rms_scaling_divides_by_the_root_variance_and_has_only_gamma():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 3, 4)) + 2
    ln = L.LayerNormalization(rms_scaling=True, dtype="float64")
    ln.build((None, 3, 4))
    gamma = rng.standard_normal(4)
    ln.set_weights([gamma])
    assert [w.name for w in ln.weights] == ["gamma"]
    expected = x / np.sqrt(x.var(axis=-1, keepdims=True) + EPS) * gamma  # Keras: the variance, x not centred
    np.testing.assert_allclose(ln(x).numpy(), expected, rtol=1e-12)
    assert ln.get_config()["rms_scaling"] is True
