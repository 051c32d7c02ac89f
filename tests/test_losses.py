"""Losses: values against direct NumPy formulas and Keras's documented numbers, reductions, sample
weights, the fused softmax cross-entropy (stability, gradient, kernel twins), configs and lookup."""
import numpy as np
import pytest

import tinydl as td
from tinydl import backend, losses
from tinydl.io import config

EPS = 1e-7
rng = np.random.default_rng(0)
YT = rng.normal(size=(4, 3))
YP = rng.normal(size=(4, 3))


def t(a, grad=False):
    return td.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


def val(x):
    return np.asarray(x.numpy(), dtype=np.float64)


def test_mse_mae_huber_match_numpy():
    np.testing.assert_allclose(val(losses.MeanSquaredError()(YT, t(YP))), ((YT - YP) ** 2).mean())
    np.testing.assert_allclose(val(losses.MeanAbsoluteError()(YT, t(YP))), np.abs(YT - YP).mean())
    e = np.abs(YP - YT)
    for delta in (1.0, 0.5):
        expected = np.where(e <= delta, 0.5 * e ** 2, delta * e - 0.5 * delta ** 2).mean()
        np.testing.assert_allclose(val(losses.Huber(delta=delta)(YT, t(YP))), expected)


def test_per_sample_losses_reduce_last_axis():
    np.testing.assert_allclose(val(losses.mean_squared_error(YT, t(YP))), ((YT - YP) ** 2).mean(-1))
    assert losses.MeanSquaredError(reduction=None)(YT, t(YP)).shape == (4,)
    np.testing.assert_allclose(val(losses.MeanSquaredError(reduction="sum")(YT, t(YP))),
                               ((YT - YP) ** 2).mean(-1).sum())


def test_sample_weight_divides_by_number_of_samples_not_weight_sum():
    w = np.array([1.0, 0.0, 2.0, 0.5])
    per = ((YT - YP) ** 2).mean(-1)
    np.testing.assert_allclose(val(losses.MeanSquaredError()(YT, t(YP), sample_weight=w)), (per * w).sum() / 4)
    np.testing.assert_allclose(
        val(losses.MeanSquaredError(reduction="mean_with_sample_weight")(YT, t(YP), sample_weight=w)),
        (per * w).sum() / w.sum())
    # (N, 1) weights are squeezed to match (N,) losses, as Keras's squeeze_or_expand_to_same_rank
    np.testing.assert_allclose(val(losses.MeanSquaredError()(YT, t(YP), sample_weight=w[:, None])),
                               (per * w).sum() / 4)


def test_binary_crossentropy_probabilities_clip_at_epsilon():
    yt = np.array([[0.0, 1.0], [0.0, 0.0]])
    yp = np.array([[0.6, 0.4], [0.4, 0.6]])
    np.testing.assert_allclose(val(losses.binary_crossentropy(yt, t(yp))), [0.916291, 0.713558], rtol=1e-5)
    edge = np.array([[0.0, 1.0]])
    p = np.clip(np.array([[1.0, 0.0]]), EPS, 1 - EPS)
    expected = -(edge * np.log(p) + (1 - edge) * np.log(1 - p)).mean()
    np.testing.assert_allclose(val(losses.BinaryCrossentropy()(edge, t([[1.0, 0.0]]))), expected)


def test_binary_crossentropy_logits_and_label_smoothing():
    z = np.array([[-50.0, 0.0, 3.0]])
    y = np.array([[1.0, 0.0, 1.0]])
    ys = y * 0.8 + 0.5 * 0.2
    p = 1 / (1 + np.exp(-z))
    expected = -(ys * np.log(p) + (1 - ys) * np.log1p(-p)).mean()
    got = losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.2)(y, t(z))
    np.testing.assert_allclose(val(got), expected, rtol=1e-10)
    # (N,) targets against (N, 1) predictions are expanded, as Keras does
    assert losses.binary_crossentropy(np.array([1.0, 0.0]), t([[0.9], [0.2]])).shape == (2,)


def test_categorical_crossentropy_probabilities_logits_and_smoothing():
    yt = np.eye(3)[[1, 2]]
    yp = np.array([[0.05, 0.95, 0.0], [0.1, 0.8, 0.1]])
    np.testing.assert_allclose(val(losses.categorical_crossentropy(yt, t(yp))), [0.051293, 2.302585], rtol=1e-5)
    z = rng.normal(size=(2, 3))
    logp = z - np.log(np.exp(z).sum(-1, keepdims=True))
    np.testing.assert_allclose(val(losses.CategoricalCrossentropy(from_logits=True)(yt, t(z))),
                               -(yt * logp).sum(-1).mean())
    smooth = yt * 0.9 + 0.1 / 3
    np.testing.assert_allclose(
        val(losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1)(yt, t(z))),
        -(smooth * logp).sum(-1).mean())
    with pytest.raises(ValueError, match="sparse_categorical_crossentropy"):
        losses.CategoricalCrossentropy()(np.array([1, 2]), t(yp))


def test_sparse_categorical_crossentropy_matches_keras_doc_and_ignore_class():
    yp = t([[0.05, 0.95, 0.0], [0.1, 0.8, 0.1]])
    scce = losses.SparseCategoricalCrossentropy()
    assert float(scce(np.array([1, 2]), yp)) == pytest.approx(1.1769392, rel=1e-6)
    assert float(scce(np.array([1, 2]), yp, sample_weight=np.array([0.3, 0.7]))) == pytest.approx(0.8135988, 1e-6)
    assert float(scce(np.array([[1.0], [2.0]]), yp)) == pytest.approx(1.1769392, rel=1e-6)
    # ignored labels count in neither the sum nor the divisor
    ignoring = losses.SparseCategoricalCrossentropy(ignore_class=2)
    assert float(ignoring(np.array([1, 2]), yp)) == pytest.approx(-np.log(0.95), rel=1e-6)
    assert np.allclose(val(losses.sparse_categorical_crossentropy(np.array([1, 2]), yp, ignore_class=2)),
                       [-np.log(0.95), 0.0])
    with pytest.raises(ValueError, match="label 3 is out of range for 3 classes"):
        scce(np.array([1, 3]), yp)


def test_kl_divergence_and_cosine_similarity():
    p = np.array([[0.2, 0.8], [0.5, 0.5]])
    q = np.array([[0.4, 0.6], [0.0, 1.0]])
    tc, qc = np.clip(p, EPS, 1), np.clip(q, EPS, 1)
    np.testing.assert_allclose(val(losses.KLDivergence()(p, t(q))), (tc * np.log(tc / qc)).sum(-1).mean())
    a = np.array([[1.0, 0.0], [1.0, 1.0]])
    b = np.array([[2.0, 0.0], [-1.0, 1.0]])
    np.testing.assert_allclose(val(losses.cosine_similarity(a, t(b))), [-1.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(val(losses.CosineSimilarity()(a, t(b))), -0.5)


def test_fused_xent_is_stable_at_logits_1e4_in_float32_and_float64():
    for dtype in ("float32", "float64"):
        z = td.tensor(np.array([[1e4, 0.0, -1e4], [-1e4, 1e4, 1e4]]), dtype=dtype, requires_grad=True)
        loss = td.sparse_softmax_cross_entropy(z, np.array([1, 2]))
        assert np.all(np.isfinite(loss.numpy()))
        np.testing.assert_allclose(loss.numpy(), [1e4, np.log(2)], rtol=1e-6)
        loss.sum().backward()
        np.testing.assert_allclose(z.grad.numpy(), [[1, -1, 0], [0, 0.5, -0.5]], atol=1e-6)
        assert z.grad.dtype == np.dtype(dtype)


def test_fused_xent_matches_log_softmax_and_kernels_directly():
    z = rng.normal(size=(5, 7)) * 3
    labels = rng.integers(0, 7, size=5)
    ref = -(z - np.log(np.exp(z).sum(-1, keepdims=True)))[np.arange(5), labels]
    loss, lse = backend.kernel("softmax_xent_fwd")(z, labels)
    np.testing.assert_allclose(loss, ref, rtol=1e-12)
    g = rng.normal(size=5)
    grad = backend.kernel("softmax_xent_bwd")(z, labels, lse, g)
    soft = np.exp(z) / np.exp(z).sum(-1, keepdims=True)
    np.testing.assert_allclose(grad, (soft - np.eye(7)[labels]) * g[:, None], rtol=1e-10)
    z32 = z.astype(np.float32)
    assert backend.kernel("softmax_xent_fwd")(z32, labels)[0].dtype == np.float32


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fused_xent_numpy_path_for_wide_rows_matches_numba_path(dtype):
    from tinydl.backend.cpu import losses as cpu
    z = (rng.normal(size=(6, cpu._NUMPY_MIN_CLASSES + 3)) * 3).astype(dtype)
    z[0, :] = 1e4
    labels = rng.integers(0, z.shape[1], size=6)
    loss, lse = cpu.softmax_xent_fwd(z, labels)
    ref_loss, ref_lse = np.empty_like(loss), np.empty_like(lse)
    cpu._fwd(z, labels, ref_loss, ref_lse)
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-6)
    np.testing.assert_allclose(lse, ref_lse, rtol=1e-7 if dtype == "float32" else 1e-12)
    g = rng.normal(size=6).astype(dtype)
    ref = np.empty_like(z)
    cpu._bwd(z, labels, lse, g, ref)
    np.testing.assert_allclose(cpu.softmax_xent_bwd(z, labels, lse, g), ref, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(ref[0], g[0] * (np.full(z.shape[1], 1 / z.shape[1]) - np.eye(z.shape[1])[labels[0]]),
                               rtol=1e-5)


def test_fused_xent_rank3_and_gradcheck():
    from tinydl.testing import gradcheck
    z = rng.normal(size=(2, 3, 4))
    labels = rng.integers(0, 4, size=(2, 3))
    report = gradcheck(lambda x: losses.SparseCategoricalCrossentropy(from_logits=True)(labels, x), [z])
    assert report.ok, report
    report = gradcheck(lambda x: losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1)(
        np.eye(4)[labels], x), [z])
    assert report.ok, report


def test_probability_losses_have_correct_gradients():
    from tinydl.testing import gradcheck
    p = rng.uniform(0.1, 0.9, size=(3, 4))
    labels = np.array([0, 3, 1])
    for fn in (lambda x: losses.SparseCategoricalCrossentropy()(labels, x),
               lambda x: losses.CategoricalCrossentropy()(np.eye(4)[labels], x),
               lambda x: losses.BinaryCrossentropy()(np.eye(4)[labels], x),
               lambda x: losses.KLDivergence()(np.full((3, 4), 0.25), x),
               lambda x: losses.CosineSimilarity()(np.eye(4)[labels], x)):
        report = gradcheck(fn, [p])
        assert report.ok, report


def test_y_true_as_tensor_and_y_pred_dtype_kept():
    out = losses.MeanSquaredError()(t(YT), td.tensor(YP, dtype="float32"))
    assert out.dtype == np.float32 and out.shape == ()


def test_config_round_trips_with_keras_keys():
    cases = [
        (losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.1),
         {"name": "binary_crossentropy", "reduction": "sum_over_batch_size", "from_logits": True,
          "label_smoothing": 0.1, "axis": -1}),
        (losses.SparseCategoricalCrossentropy(ignore_class=0),
         {"name": "sparse_categorical_crossentropy", "reduction": "sum_over_batch_size", "from_logits": False,
          "ignore_class": 0}),
        (losses.MeanSquaredError(), {"name": "mean_squared_error", "reduction": "sum_over_batch_size"}),
    ]
    for loss, cfg in cases:
        assert loss.get_config() == cfg
    for loss in [c[0] for c in cases] + [losses.Huber(delta=2.0), losses.CosineSimilarity(axis=0),
                                         losses.CategoricalCrossentropy(axis=-1), losses.KLDivergence(),
                                         losses.MeanAbsoluteError()]:
        again = losses.deserialize(losses.serialize(loss))
        assert type(again) is type(loss) and again.get_config() == loss.get_config()
        assert config.deserialize(config.serialize(loss)).get_config() == loss.get_config()


def test_get_by_keras_names_and_clear_error():
    assert isinstance(losses.get("mse"), losses.MeanSquaredError)
    assert isinstance(losses.get("mean_squared_error"), losses.MeanSquaredError)
    assert isinstance(losses.get("categorical_crossentropy"), losses.CategoricalCrossentropy)
    assert isinstance(losses.get("SparseCategoricalCrossentropy"), losses.SparseCategoricalCrossentropy)
    assert isinstance(losses.get("kld"), losses.KLDivergence)
    assert losses.get("huber").name == "huber_loss"
    custom = losses.get(lambda a, b: losses.mean_absolute_error(a, b) * 2)
    assert float(custom(YT, t(YP))) == pytest.approx(2 * np.abs(YT - YP).mean())
    with pytest.raises(ValueError, match=r"unknown loss 'msee'; known: .*mean_squared_error"):
        losses.get("msee")


def test_fused_probability_xent_clips_like_keras_and_stops_gradient_when_clipped():
    p = t([[0.0, 1.0, 0.0], [0.2, 0.3, 0.5]], grad=True)
    loss = td.sparse_probability_cross_entropy(p, np.array([0, 2]))
    np.testing.assert_allclose(val(loss), [-np.log(1e-7), -np.log(0.5)])
    loss.sum().backward()
    # row 0 is clipped: no gradient; row 1: d(-log(p2 / sum p))/dp = -(onehot - p2) / (p2 * sum p)
    np.testing.assert_allclose(p.grad.numpy(), [[0, 0, 0], [1.0, 1.0, -1.0]], atol=1e-12)


def test_more_keras_losses_match_numpy():
    yt = np.abs(YT) + 0.1
    yp = np.abs(YP) + 0.1
    np.testing.assert_allclose(val(losses.get("mape")(yt, t(yp))), 100 * np.mean(np.abs(yt - yp) / yt))
    np.testing.assert_allclose(val(losses.get("msle")(yt, t(yp))), np.mean((np.log1p(yp) - np.log1p(yt)) ** 2))
    np.testing.assert_allclose(val(losses.get("logcosh")(YT, t(YP))), np.mean(np.log(np.cosh(YP - YT))))
    np.testing.assert_allclose(val(losses.get("poisson")(yt, t(yp))), np.mean(yp - yt * np.log(yp + EPS)))
    labels = np.array([[0.0, 1.0], [0.0, 0.0]])
    scores = np.array([[0.6, 0.4], [0.4, 0.6]])
    assert float(losses.get("hinge")(labels, t(scores))) == pytest.approx(1.3)       # Keras's documented value
    signs = 2 * labels - 1
    np.testing.assert_allclose(val(losses.get("squared_hinge")(labels, t(scores))),
                               np.mean(np.maximum(1 - signs * scores, 0) ** 2))
    onehot = np.eye(3)[[0, 2]]
    z = YP[:2]
    expected = np.maximum(((1 - onehot) * z).max(-1) - (onehot * z).sum(-1) + 1, 0).mean()
    np.testing.assert_allclose(val(losses.get("categorical_hinge")(onehot, t(z))), expected)
    assert losses.get("log_cosh").name == "log_cosh"


def test_keras_style_loss_subclass_gets_tensors_of_the_prediction_dtype():
    class Quartic(losses.Loss):
        def call(self, y_true, y_pred):
            assert isinstance(y_true, td.Tensor) and y_true.dtype == y_pred.dtype
            return td.mean(td.square(td.square(y_pred - y_true)), axis=-1)

    out = Quartic()(YT, td.tensor(YP, dtype="float32"))
    assert out.dtype == np.float32 and out.shape == ()
    assert float(out) == pytest.approx(((YP - YT) ** 4).mean(), rel=1e-5)
    assert Quartic().name == "quartic"


def test_focal_dice_tversky_values_and_configs():
    y = np.array([[1.0, 0.0, 1.0]])
    p = np.array([[0.9, 0.2, 0.6]])
    bce = -(y * np.log(p) + (1 - y) * np.log(1 - p))
    p_t = y * p + (1 - y) * (1 - p)
    np.testing.assert_allclose(val(losses.BinaryFocalCrossentropy(gamma=2.0)(y, t(p))), ((1 - p_t) ** 2 * bce).mean())
    dice = 1 - 2 * (y * p).sum() / (y.sum() + p.sum() + EPS)
    np.testing.assert_allclose(val(losses.Dice()(y, t(p))), dice)
    np.testing.assert_allclose(val(losses.Tversky()(y, t(p))), dice, rtol=1e-6)   # alpha = beta = 0.5 is Dice
    onehot, probs = np.eye(3)[[0]], np.array([[0.7, 0.2, 0.1]])
    np.testing.assert_allclose(val(losses.CategoricalFocalCrossentropy()(onehot, t(probs))),
                               0.25 * 0.3 ** 2 * -np.log(0.7))
    for loss in (losses.BinaryFocalCrossentropy(apply_class_balancing=True, alpha=0.4), losses.Dice(axis=(1,)),
                 losses.CategoricalFocalCrossentropy(gamma=3.0), losses.Tversky(alpha=0.2, beta=0.8)):
        again = losses.deserialize(losses.serialize(loss))
        assert type(again) is type(loss) and again.get_config() == loss.get_config()


@pytest.mark.parametrize("value", [1e16, 1e17, -1e17])
@pytest.mark.parametrize("classes", [3, 300])  # the numba path and the NumPy path for wide rows
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fused_xent_on_huge_equal_logits_is_log_classes(value, classes, dtype):
    """Closed form: equal logits give loss log(c) and gradient softmax - onehot = 1/c - [label], however large."""
    z = td.Tensor(np.full((2, classes), value, dtype=dtype), requires_grad=True)
    loss = losses.SparseCategoricalCrossentropy(from_logits=True)(np.array([0, 2]), z)
    loss.backward()
    assert float(loss) == pytest.approx(np.log(classes), rel=1e-6)
    expected = np.full((2, classes), 1.0 / classes) - np.eye(classes)[[0, 2]]
    np.testing.assert_allclose(z.grad.numpy(), expected / 2, rtol=1e-5, atol=1e-7)
