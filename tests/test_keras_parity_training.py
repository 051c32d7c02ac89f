"""Optimizers, losses, metrics and schedules against Keras itself (Keras 3 on its torch backend, when both
are installed): the same inputs give the same numbers to float32 rounding, optimizer state lists have
Keras's order and shapes. Skipped when keras or torch is missing (neither is a dependency of tinydl)."""
import os

import numpy as np
import pytest

pytest.importorskip("torch")
os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")
if keras.backend.backend() != "torch":
    pytest.skip("these comparisons run Keras on its torch backend", allow_module_level=True)

import tinydl as td  # noqa: E402
from tinydl import losses, metrics, optimizers, schedules  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

RNG = np.random.default_rng(0)
W0 = [RNG.normal(size=(3, 4)).astype(np.float32), RNG.normal(size=(4,)).astype(np.float32)]
GRADS = [[RNG.normal(size=w.shape).astype(np.float32) for w in W0] for _ in range(3)]


def k2np(x):
    return np.asarray(keras.ops.convert_to_numpy(x), dtype=np.float64)


class Var:
    def __init__(self, value, path):
        self.data = value.copy()
        self.path = path


@pytest.mark.parametrize("name,kwargs", [
    ("SGD", {"learning_rate": 0.1, "momentum": 0.9, "nesterov": True}),
    ("Adam", {"learning_rate": 0.01, "amsgrad": True}),
    ("AdamW", {"learning_rate": 0.01, "weight_decay": 0.1, "global_clipnorm": 0.5}),
    ("RMSprop", {"learning_rate": 0.01, "momentum": 0.5, "centered": True}),
    ("Adagrad", {"learning_rate": 0.1, "clipvalue": 0.2}),
    ("Adadelta", {"learning_rate": 1.0, "clipnorm": 0.5}),
    ("Adamax", {"learning_rate": 0.01}),
    ("Nadam", {"learning_rate": 0.01}),
    ("Lion", {"learning_rate": 0.01, "use_ema": True}),
    ("Adam", {"learning_rate": 0.01, "gradient_accumulation_steps": 2}),
    ("Nadam", {"learning_rate": schedules.ExponentialDecay(0.01, 1, 0.5), "gradient_accumulation_steps": 2}),
])
def test_optimizer_steps_and_state_match_keras(name, kwargs):
    kvars = [keras.Variable(w.copy()) for w in W0]
    lr = kwargs.get("learning_rate")
    kkwargs = dict(kwargs)
    if isinstance(lr, schedules.LearningRateSchedule):
        kkwargs["learning_rate"] = getattr(keras.optimizers.schedules, type(lr).__name__)(**lr.get_config())
    kopt = getattr(keras.optimizers, name)(**kkwargs)
    tvars = [Var(w, f"v{i}") for i, w in enumerate(W0)]
    topt = getattr(optimizers, name)(**kwargs)
    for grads in GRADS + GRADS[:1]:
        kopt.apply_gradients(zip([keras.ops.convert_to_tensor(g) for g in grads], kvars))
        topt.apply(grads, tvars)
    for kv, tv in zip(kvars, tvars):
        np.testing.assert_allclose(tv.data, k2np(kv.numpy()), rtol=2e-6, atol=1e-6)
    kstate = [np.asarray(v.numpy()) for v in kopt.variables]
    tstate = topt.variables()
    assert [a.shape for a in tstate] == [a.shape for a in kstate]
    for a, b in zip(tstate, kstate):
        np.testing.assert_allclose(a.astype(np.float64), b.astype(np.float64), rtol=2e-6, atol=1e-6)


YT = RNG.normal(size=(6, 4)).astype(np.float32)
YP = RNG.normal(size=(6, 4)).astype(np.float32)
POS_T, POS_P = (RNG.uniform(0.1, 2, size=(2, 6, 4)).astype(np.float32))
BIN = RNG.integers(0, 2, size=(6, 4)).astype(np.float32)
PROBS = RNG.uniform(0, 1, size=(6, 4)).astype(np.float32)
PROBS[0, 0], PROBS[1, 1] = 0.0, 1.0
LOGITS = (RNG.normal(size=(6, 5)) * 4).astype(np.float32)
LABELS = RNG.integers(0, 5, size=6)
ONEHOT = np.eye(5, dtype=np.float32)[LABELS]
SOFT = RNG.dirichlet(np.ones(5), size=6).astype(np.float32)
SW = RNG.uniform(0, 2, size=6).astype(np.float32)
LOSS_CASES = [
    ("MeanSquaredError", {}, YT, YP), ("MeanAbsoluteError", {}, YT, YP), ("Huber", {"delta": 0.7}, YT, YP),
    ("LogCosh", {}, YT, YP), ("MeanAbsolutePercentageError", {}, YT, YP),
    ("MeanSquaredLogarithmicError", {}, POS_T, POS_P),
    ("Poisson", {}, POS_T, POS_P), ("Hinge", {}, BIN, YP), ("SquaredHinge", {}, BIN, YP),
    ("CategoricalHinge", {}, ONEHOT, LOGITS), ("KLDivergence", {}, SOFT, SOFT[::-1].copy()),
    ("CosineSimilarity", {}, YT, YP), ("BinaryCrossentropy", {"label_smoothing": 0.2}, BIN, PROBS),
    ("BinaryCrossentropy", {"from_logits": True}, BIN, YP * 5),
    ("CategoricalCrossentropy", {"label_smoothing": 0.1}, ONEHOT, SOFT),
    ("CategoricalCrossentropy", {"from_logits": True}, ONEHOT, LOGITS),
    ("SparseCategoricalCrossentropy", {}, LABELS, SOFT),
    ("SparseCategoricalCrossentropy", {"from_logits": True, "ignore_class": 2}, LABELS, LOGITS),
    ("BinaryFocalCrossentropy", {"apply_class_balancing": True, "gamma": 1.5, "label_smoothing": 0.1}, BIN, PROBS),
    ("BinaryFocalCrossentropy", {"from_logits": True}, BIN, YP * 3),
    ("CategoricalFocalCrossentropy", {"label_smoothing": 0.1}, ONEHOT, SOFT),
    ("CategoricalFocalCrossentropy", {"from_logits": True, "alpha": 0.5}, ONEHOT, LOGITS),
    ("Dice", {}, BIN, PROBS), ("Dice", {"axis": (1,)}, BIN, PROBS),
    ("Tversky", {"alpha": 0.3, "beta": 0.7, "axis": (1,)}, BIN, PROBS),
]


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("name,kwargs,y_true,y_pred", LOSS_CASES, ids=[f"{c[0]}{c[1]}" for c in LOSS_CASES])
def test_loss_matches_keras(name, kwargs, y_true, y_pred, weighted):
    sw = SW if weighted else None
    expected = k2np(getattr(keras.losses, name)(**kwargs)(y_true, y_pred, sample_weight=sw))
    got = getattr(losses, name)(**kwargs)(y_true, td.tensor(y_pred), sample_weight=sw).numpy()
    np.testing.assert_allclose(got, expected, rtol=2e-6, atol=1e-6)


N = 40
YBIN = RNG.integers(0, 2, size=(N, 1)).astype(np.float32)
PBIN = np.clip(0.4 * YBIN + RNG.uniform(0, 0.6, size=(N, 1)), 0, 1).astype(np.float32)
PBIN[:5, 0] = [0.0, 0.5, 1.0, 0.25, 0.75]
CLS = RNG.integers(0, 6, size=N)
SCORES = RNG.uniform(size=(N, 6)).astype(np.float32)
SCORES[0] = [0.2, 0.2, 0.2, 0.1, 0.1, 0.2]
MSW = RNG.uniform(0, 2, size=N).astype(np.float32)
METRIC_CASES = [
    ("BinaryAccuracy", {"threshold": 0.3}, YBIN, PBIN), ("CategoricalAccuracy", {}, np.eye(6)[CLS], SCORES),
    ("SparseCategoricalAccuracy", {}, CLS[:, None], SCORES),
    ("TopKCategoricalAccuracy", {"k": 2}, np.eye(6)[CLS], SCORES),
    ("SparseTopKCategoricalAccuracy", {"k": 3}, CLS, SCORES),
    ("Precision", {"thresholds": 0.3}, YBIN, PBIN), ("Recall", {"class_id": 2}, np.eye(6)[CLS], SCORES),
    ("Precision", {"top_k": 2}, np.eye(6)[CLS], SCORES),
    ("AUC", {}, YBIN, PBIN), ("AUC", {"curve": "PR", "num_thresholds": 9}, YBIN, PBIN),
    ("AUC", {"summation_method": "minoring", "thresholds": [0.1, 0.35, 0.8]}, YBIN, PBIN),
    ("MeanSquaredError", {}, YT, YP), ("MeanAbsoluteError", {}, YT, YP), ("RootMeanSquaredError", {}, YT, YP),
    ("F1Score", {"average": "weighted"}, np.eye(6)[CLS], SCORES),
    ("FBetaScore", {"beta": 2.0, "average": "macro", "threshold": 0.5}, np.eye(6)[CLS], SCORES),
    ("R2Score", {"class_aggregation": "variance_weighted_average", "num_regressors": 2}, YT, YP),
]


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("name,kwargs,y_true,y_pred", METRIC_CASES, ids=[f"{c[0]}{c[1]}" for c in METRIC_CASES])
def test_metric_matches_keras(name, kwargs, y_true, y_pred, weighted):
    kmetric, tmetric = getattr(keras.metrics, name)(**kwargs), getattr(metrics, name)(**kwargs)
    weights = MSW if len(y_true) == N else SW
    for lo, hi in ((0, len(y_true) // 3), (len(y_true) // 3, len(y_true))):
        sw = weights[lo:hi] if weighted else None
        kmetric.update_state(y_true[lo:hi], y_pred[lo:hi], sample_weight=sw)
        tmetric.update_state(y_true[lo:hi], y_pred[lo:hi], sample_weight=sw)
    assert tmetric.result() == pytest.approx(float(k2np(kmetric.result())), rel=1e-5, abs=1e-6)
    assert tmetric.direction == getattr(kmetric, "_direction", None)


@pytest.mark.parametrize("name,kwargs", [
    ("ExponentialDecay", {"initial_learning_rate": 0.1, "decay_steps": 7, "decay_rate": 0.5, "staircase": True}),
    ("PiecewiseConstantDecay", {"boundaries": [3, 10], "values": [1.0, 0.5, 0.1]}),
    ("PolynomialDecay", {"initial_learning_rate": 0.1, "decay_steps": 8, "cycle": True, "end_learning_rate": 0.01}),
    ("InverseTimeDecay", {"initial_learning_rate": 0.1, "decay_steps": 5, "decay_rate": 0.3}),
    ("CosineDecay", {"initial_learning_rate": 0.0, "decay_steps": 20, "warmup_target": 0.2, "warmup_steps": 5}),
    ("CosineDecayRestarts", {"initial_learning_rate": 0.1, "first_decay_steps": 6, "t_mul": 2.0, "m_mul": 0.8}),
])
def test_schedule_matches_keras(name, kwargs):
    ks, ts = getattr(keras.optimizers.schedules, name)(**kwargs), getattr(schedules, name)(**kwargs)
    steps = [0, 1, 3, 7, 10, 11, 19, 20, 35, 100]
    np.testing.assert_allclose([ts(s) for s in steps], [float(k2np(ks(s))) for s in steps], rtol=1e-6, atol=1e-9)
    assert ts.get_config() == ks.get_config()
