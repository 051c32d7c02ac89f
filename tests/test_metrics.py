"""Metrics: hand-worked results (Keras's documented numbers), sample weights, AUC against a trapezoid
computed by hand and against the exact Mann-Whitney AUC, accuracy resolution as Keras's compile, configs, lookup."""
import math

import numpy as np
import pytest

import tinydl as td
from tinydl import losses, metrics


def test_mean_and_sum_with_sample_weight():
    m = metrics.Mean()
    m.update_state([1.0, 3.0, 5.0, 7.0])
    assert m.result() == 4.0
    m.reset_state()
    m.update_state([1.0, 3.0, 5.0, 7.0], sample_weight=[1, 1, 0, 0])
    assert m.result() == 2.0
    m.update_state(np.array([[10.0, 20.0]]))             # one sample, its elements averaged: 15
    assert m.result() == pytest.approx((1 + 3 + 15) / 3)
    s = metrics.Sum()
    s.update_state([1.0, 3.0, 5.0, 7.0], sample_weight=[1, 0, 2, 0])
    assert s.result() == 11.0
    assert metrics.Mean().result() == 0.0


def test_accuracy_family_hand_worked():
    a = metrics.Accuracy()
    a.update_state([[1], [2], [3], [4]], [[0], [2], [3], [4]])
    assert a.result() == 0.75 and a.name == "accuracy"
    b = metrics.BinaryAccuracy()
    b.update_state([[1], [1], [0], [0]], [[0.98], [1], [0], [0.6]])
    assert b.result() == 0.75
    b.reset_state()
    b.update_state([[1], [1], [0], [0]], [[0.98], [1], [0], [0.6]], sample_weight=[1, 0, 0, 1])
    assert b.result() == 0.5
    c = metrics.CategoricalAccuracy()
    c.update_state([[0, 0, 1], [0, 1, 0]], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]], sample_weight=[0.7, 0.3])
    assert c.result() == pytest.approx(0.3)
    s = metrics.SparseCategoricalAccuracy()
    s.update_state([[2], [1]], [[0.1, 0.6, 0.3], [0.05, 0.95, 0]])
    assert s.result() == 0.5
    s.update_state(np.array([0, 0]), td.tensor([[0.9, 0.1, 0.0], [0.2, 0.7, 0.1]]))   # Tensors work too
    assert s.result() == 0.5


def test_top_k_accuracies():
    t = metrics.TopKCategoricalAccuracy(k=1)
    t.update_state([[0, 0, 1], [0, 1, 0]], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]])
    assert t.result() == 0.5
    s = metrics.SparseTopKCategoricalAccuracy(k=2)
    s.update_state([2, 2, 1], [[0.1, 0.9, 0.8], [0.05, 0.95, 0], [0.3, 0.3, 0.4]], sample_weight=[1, 1, 2])
    # hits: yes (0.8 is 2nd), no, yes (tie at 0.3 counts) -> (1 + 0 + 2) / 4
    assert s.result() == 0.75
    assert metrics.SparseTopKCategoricalAccuracy().k == 5


def test_precision_recall_hand_worked():
    p = metrics.Precision()
    p.update_state([0, 1, 1, 1], [1, 0, 1, 1])
    assert p.result() == pytest.approx(2 / 3)
    p.reset_state()
    p.update_state([0, 1, 1, 1], [1, 0, 1, 1], sample_weight=[0, 0, 1, 0])
    assert p.result() == 1.0
    r = metrics.Recall(thresholds=0.7)
    r.update_state([0, 1, 1, 1], [0.9, 0.2, 0.71, 0.7])
    assert r.result() == pytest.approx(1 / 3)                  # only 0.71 > 0.7
    top = metrics.Precision(top_k=2)
    top.update_state([0, 0, 1, 1], [1, 1, 1, 1])
    assert top.result() == 0.0
    cls = metrics.Recall(class_id=1)
    cls.update_state(np.eye(3)[[1, 1, 2]], [[0.1, 0.8, 0.1], [0.6, 0.3, 0.1], [0.1, 0.7, 0.2]])
    assert cls.result() == 0.5
    assert metrics.Precision().result() == 0.0


def test_auc_roc_equals_trapezoid_by_hand():
    m = metrics.AUC(num_thresholds=3)     # thresholds -1e-7, 0.5, 1 + 1e-7
    m.update_state([0, 0, 1, 1], [0, 0.5, 0.3, 0.9])
    # (fpr, tpr) at the thresholds: (1, 1), (0, 0.5), (0, 0); trapezoids: 1 * (1 + 0.5) / 2 + 0
    assert m.result() == pytest.approx(0.75)
    m.reset_state()
    m.update_state([0, 0, 1, 1], [0, 0.5, 0.3, 0.9], sample_weight=[1, 0, 0, 1])
    assert m.result() == 1.0


def _exact_roc_auc(y, p):
    """P(score of a positive > score of a negative), ties counting half (the Mann-Whitney statistic)."""
    pos, neg = p[y == 1][:, None], p[y == 0][None, :]
    return float(((pos > neg) + 0.5 * (pos == neg)).mean())


def test_auc_default_200_thresholds_close_to_exact_roc():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 500)
    p = np.clip(0.3 * y + rng.uniform(0, 0.7, 500), 0, 1)
    m = metrics.AUC()
    assert m.num_thresholds == 200 and m.curve == "ROC" and m.summation_method == "interpolation"
    for chunk in range(5):
        m.update_state(y[chunk * 100:(chunk + 1) * 100], p[chunk * 100:(chunk + 1) * 100])
    assert m.result() == pytest.approx(_exact_roc_auc(y, p), abs=2e-3)
    assert m.direction == "up"


def test_auc_pr_interpolation_and_minoring_majoring():
    y, p = [0, 0, 1, 1], [0, 0.5, 0.3, 0.9]
    pr = metrics.AUC(num_thresholds=3, curve="PR")
    pr.update_state(y, p)
    # counts at thresholds: tp = [2, 1, 0], fp = [2, 0, 0], fn = [0, 1, 2]; P = tp + fp = [4, 1, 0]
    # each increment is divided by the positives tp + fn = 2
    # interval 0: slope = dtp / dP = 1 / 3, intercept = tp_B - slope * P_B = 2 / 3, P ratio 4 / 1
    # interval 1: P_B = 0 -> ratio 1, slope = 1, intercept = 0
    expected = (1 / 3) * (1 + (2 / 3) * math.log(4)) / 2 + 1 * (1 + 0) / 2
    assert pr.result() == pytest.approx(expected)
    lo, hi = metrics.AUC(num_thresholds=3, summation_method="minoring"), metrics.AUC(
        num_thresholds=3, summation_method="majoring")
    lo.update_state(y, p)
    hi.update_state(y, p)
    assert (lo.result(), hi.result()) == (pytest.approx(0.5), pytest.approx(1.0))
    logits = metrics.AUC(num_thresholds=3, from_logits=True)
    logits.update_state(y, [-10.0, 0.0, -0.8, 2.2])
    assert logits.result() == pytest.approx(0.75)


def test_regression_metrics_and_rmse_with_weights():
    mse = metrics.MeanSquaredError()
    mse.update_state([[0, 1], [0, 0]], [[1, 1], [0, 0]])
    assert mse.result() == 0.25 and mse.direction == "down"
    mae = metrics.MeanAbsoluteError()
    mae.update_state([[0, 1], [0, 0]], [[1, 1], [0, 0]], sample_weight=[1, 0])
    assert mae.result() == 0.5
    rmse = metrics.RootMeanSquaredError()
    rmse.update_state([[0, 1], [0, 0]], [[1, 1], [0, 0]], sample_weight=[1, 0])
    assert rmse.result() == pytest.approx(math.sqrt(0.5))


def test_loss_as_metric_goes_down():
    m = metrics.get("binary_crossentropy")
    assert isinstance(m, metrics.MeanMetricWrapper) and m.direction == "down" and m.name == "binary_crossentropy"
    y, p = np.array([[0.0, 1.0], [0.0, 0.0]]), np.array([[0.6, 0.4], [0.4, 0.6]])
    m.update_state(y, p)
    assert m.result() == pytest.approx(np.mean([0.916291, 0.713558]), rel=1e-5)
    wrapped = metrics.MeanMetricWrapper(losses.mean_absolute_error, name="mae_fn")
    wrapped.update_state(y, p)
    assert wrapped.result() == pytest.approx(0.55) and wrapped.direction == "down"


def test_accuracy_resolution_follows_keras_compile():
    def kind(**kw):
        return type(metrics.get("accuracy", **kw)).__name__
    # Keras 3's shape rule
    assert kind(y_true=np.zeros((4, 1)), y_pred=np.zeros((4, 1))) == "BinaryAccuracy"
    assert kind(y_true=np.zeros(4), y_pred=np.zeros((4, 10))) == "SparseCategoricalAccuracy"
    assert kind(y_true=np.zeros((4, 1)), y_pred=np.zeros((4, 10))) == "SparseCategoricalAccuracy"
    assert kind(y_true=np.zeros((4, 10)), y_pred=np.zeros((4, 10))) == "CategoricalAccuracy"
    assert kind(y_true=(4, 10), y_pred=(4, 10)) == "CategoricalAccuracy"
    # from the loss, output shape breaking ties
    assert kind(loss="binary_crossentropy") == "BinaryAccuracy"
    assert kind(loss=losses.SparseCategoricalCrossentropy(from_logits=True)) == "SparseCategoricalAccuracy"
    assert kind(loss="categorical_crossentropy") == "CategoricalAccuracy"
    assert kind(loss="mse", output_shape=(None, 1)) == "BinaryAccuracy"
    assert kind(loss="mse", output_shape=(None, 3)) == "CategoricalAccuracy"
    assert kind() == "Accuracy"
    assert metrics.get("accuracy", loss="binary_crossentropy").name == "accuracy"
    assert metrics.get("acc", loss="binary_crossentropy").name == "acc"


def test_get_by_name_keeps_the_string_as_name():
    assert isinstance(metrics.get("mse"), metrics.MeanSquaredError) and metrics.get("mse").name == "mse"
    assert metrics.get("mean_absolute_error").name == "mean_absolute_error"
    assert isinstance(metrics.get("AUC"), metrics.AUC) and metrics.get("auc").name == "auc"
    assert isinstance(metrics.get("sparse_categorical_accuracy"), metrics.SparseCategoricalAccuracy)
    assert metrics.AUC().name == "auc" and metrics.Precision().name == "precision"
    with pytest.raises(ValueError, match="unknown metric 'acuracy'; known: .*accuracy"):
        metrics.get("acuracy")


def test_configs_round_trip_with_keras_keys():
    assert metrics.BinaryAccuracy().get_config() == {"name": "binary_accuracy", "dtype": "float32", "threshold": 0.5}
    assert metrics.AUC().get_config() == {
        "name": "auc", "dtype": "float32", "num_thresholds": 200, "curve": "ROC",
        "summation_method": "interpolation", "multi_label": False, "num_labels": None, "label_weights": None,
        "from_logits": False}
    from tinydl.io import config
    for m in [metrics.Mean(name="m"), metrics.Sum(), metrics.Accuracy(), metrics.BinaryAccuracy(threshold=0.3),
              metrics.CategoricalAccuracy(), metrics.SparseCategoricalAccuracy(), metrics.TopKCategoricalAccuracy(k=3),
              metrics.SparseTopKCategoricalAccuracy(k=2), metrics.Precision(thresholds=0.3), metrics.Recall(top_k=2),
              metrics.AUC(num_thresholds=50, curve="PR"), metrics.AUC(thresholds=[0.2, 0.7]),
              metrics.MeanSquaredError(), metrics.MeanAbsoluteError(), metrics.RootMeanSquaredError(),
              metrics.F1Score(average="macro", threshold=0.4), metrics.FBetaScore(beta=0.5),
              metrics.R2Score(class_aggregation=None, num_regressors=2)]:
        again = metrics.deserialize(metrics.serialize(m))
        assert type(again) is type(m) and again.get_config() == m.get_config(), type(m).__name__
    # the global registry keeps the loss under the shared class name, the metric under metrics>...
    assert isinstance(config.deserialize({"class_name": "MeanSquaredError", "config": {}}), losses.MeanSquaredError)
    assert isinstance(config.deserialize({"class_name": "metrics>MeanSquaredError", "config": {}}),
                      metrics.MeanSquaredError)


def test_loss_names_as_metrics():
    m = metrics.get("mape")
    m.update_state([[1.0, 2.0]], [[1.5, 2.0]])
    assert m.name == "mape" and m.direction == "down" and m.result() == pytest.approx(25.0)
    assert metrics.get("logcosh").name == "logcosh"


def test_keras_style_custom_metric_with_add_variable():
    class CountPositives(metrics.Metric):
        direction = "up"

        def __init__(self, name="positives", **kwargs):
            super().__init__(name=name, **kwargs)
            self.count = self.add_variable(shape=(), initializer="zeros", name="count")
            self.seen = self.add_weight(name="seen")

        def update_state(self, y_true, y_pred, sample_weight=None):
            self.count.assign_add(np.sum(np.asarray(y_pred) > 0))
            self.seen.assign_add(np.size(y_pred))

        def result(self):
            return self.count / self.seen

    m = CountPositives()
    m.update_state(None, [1.0, -1.0, 2.0, 0.0])
    assert float(m.result()) == 0.5 and len(m.variables) == 2
    m.reset_state()
    assert float(m.count) == 0.0
    m.update_state(None, [3.0])
    assert float(m.result()) == 1.0


def test_f1_fbeta_and_r2_hand_worked():
    y = np.array([[1, 0], [0, 1], [1, 0], [0, 1]])
    p = np.array([[0.9, 0.1], [0.6, 0.4], [0.8, 0.2], [0.3, 0.7]])   # argmax picks: 0, 0, 0, 1
    f1 = metrics.F1Score()
    f1.update_state(y, p)
    # class 0: tp 2, fp 1, fn 0 -> P 2/3, R 1, F1 0.8; class 1: tp 1, fp 0, fn 1 -> P 1, R 1/2, F1 2/3
    np.testing.assert_allclose(f1.result(), [0.8, 2 / 3], rtol=1e-6)
    macro = metrics.F1Score(average="macro")
    macro.update_state(y, p)
    assert macro.result() == pytest.approx((0.8 + 2 / 3) / 2, rel=1e-6)
    f2 = metrics.FBetaScore(beta=2.0, average="micro")
    f2.update_state(y, p)
    # pooled: tp 3, fp 1, fn 1 -> P = R = 3/4 -> F2 = 3/4
    assert f2.result() == pytest.approx(0.75, rel=1e-6)
    r2 = metrics.R2Score()
    r2.update_state(np.array([[1.0], [2.0], [3.0]]), np.array([[1.0], [2.0], [4.0]]))
    assert r2.result() == pytest.approx(1 - 1 / 2)
    assert metrics.F1Score().get_config() == {"name": "f1_score", "dtype": "float32", "average": None,
                                              "threshold": None}


def test_new_metrics_in_compile_and_evaluate_equal_direct_updates():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(24, 3)).astype(np.float32)
    y = (rng.uniform(size=(24, 2)) > 0.5).astype(np.float32)
    td.set_seed(0)
    model = td.models.Sequential([td.layers.Input((3,)), td.layers.Dense(2, activation="sigmoid")])
    chosen = [metrics.AUC(multi_label=True, name="auc_ml"), metrics.TruePositives(), metrics.BinaryIoU(),
              metrics.PrecisionAtRecall(0.5), "binary_crossentropy", metrics.ConcordanceCorrelation()]
    model.compile(optimizer="sgd", loss="binary_crossentropy", metrics=chosen)
    logs = model.evaluate(x, y, batch_size=7, verbose=0, return_dict=True)
    pred = model.predict(x, verbose=0)
    for metric in [metrics.AUC(multi_label=True), metrics.TruePositives(), metrics.BinaryIoU(),
                   metrics.PrecisionAtRecall(0.5), metrics.BinaryCrossentropy(), metrics.ConcordanceCorrelation()]:
        for lo in range(0, 24, 7):
            metric.update_state(y[lo:lo + 7], pred[lo:lo + 7])
        key = {"auc": "auc_ml", "binary_crossentropy": "binary_crossentropy"}.get(metric.name, metric.name)
        assert logs[key] == pytest.approx(metric.result(), rel=1e-5, abs=1e-6), key


def test_new_metrics_reject_bad_inputs_clearly():
    with pytest.raises(ValueError, match="rank 2"):
        metrics.AUC(multi_label=True).update_state([1, 0], [0.3, 0.6])
    with pytest.raises(ValueError, match="num_labels"):
        metrics.AUC(num_labels=3)
    with pytest.raises(ValueError, match="out of range"):
        metrics.IoU(num_classes=2, target_class_ids=[2])
    with pytest.raises(ValueError, match="one weight per label"):
        metrics.MeanIoU(3).update_state([[0, 1], [2, 2]], [[0, 1], [2, 1]], sample_weight=[1, 2, 3])
    with pytest.raises(ValueError, match="specificity must be in"):
        metrics.SensitivityAtSpecificity(1.5)
    with pytest.raises(ValueError, match="thresholds must be in"):
        metrics.TruePositives(thresholds=[0.5, 1.2])
    with pytest.raises(ValueError, match="class_id"):
        metrics.PrecisionAtRecall(0.5, class_id=1).update_state([0, 1], [0.2, 0.9])
