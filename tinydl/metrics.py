"""Stateful metrics with Keras 3's formulas, names, defaults and config keys.

    m = metrics.get("accuracy", loss="sparse_categorical_crossentropy")   # SparseCategoricalAccuracy
    m.update_state(y_true, y_pred, sample_weight=None)                     # arrays or Tensors
    m.result()                                                             # a Python float
    m.reset_state()

Every metric has a `direction`: 'up' when larger is better (accuracies, AUC, precision, recall),
'down' when smaller is better (errors, losses), None when it cannot tell (Mean, Sum). Metrics run on
NumPy (Tensors are read with `.numpy()`), accumulate in float64 and never touch the tape.

Sample weights follow Keras's `reduce_to_samplewise_values`: per-element values are averaged over
the axes the weights lack, multiplied by the weights, summed into `total`, and the weights are
summed into `count` (without weights, `count` is the number of samples).
"""
import re

import numpy as np

from tinydl.io.config import deserialize_preferring, register_serializable, serialize
from tinydl import initializers, losses
from tinydl.autograd import no_grad
from tinydl.tensor import Tensor

__all__ = [
    "Metric", "MetricVariable", "Mean", "Sum", "MeanMetricWrapper", "Accuracy", "BinaryAccuracy", "CategoricalAccuracy",
    "SparseCategoricalAccuracy", "TopKCategoricalAccuracy", "SparseTopKCategoricalAccuracy", "Precision",
    "Recall", "AUC", "MeanSquaredError", "MeanAbsoluteError", "RootMeanSquaredError", "FBetaScore", "F1Score",
    "R2Score", "TruePositives", "FalsePositives", "FalseNegatives", "TrueNegatives", "SensitivityAtSpecificity",
    "SpecificityAtSensitivity", "PrecisionAtRecall", "RecallAtPrecision", "BinaryCrossentropy",
    "CategoricalCrossentropy", "SparseCategoricalCrossentropy", "Hinge", "SquaredHinge", "CategoricalHinge",
    "KLDivergence", "LogCoshError", "MeanAbsolutePercentageError", "MeanSquaredLogarithmicError", "Poisson",
    "CosineSimilarity", "PearsonCorrelation", "ConcordanceCorrelation", "IoU", "BinaryIoU", "MeanIoU", "OneHotIoU",
    "OneHotMeanIoU", "pearson_correlation", "concordance_correlation", "confusion_counts",
    "accuracy", "binary_accuracy", "categorical_accuracy", "sparse_categorical_accuracy",
    "top_k_categorical_accuracy", "sparse_top_k_categorical_accuracy", "mean_squared_error",
    "mean_absolute_error", "get", "serialize", "deserialize",
]

EPSILON = 1e-7


def _snake(name):
    """CamelCase -> snake_case ('AUC' -> 'auc')."""
    if name.isupper():
        return name.lower()
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


class MetricVariable(np.ndarray):
    """A metric's state array with Keras's `assign`, `assign_add`, `assign_sub` and `numpy()`."""

    def assign(self, value):
        self[...] = _np(value)
        return self

    def assign_add(self, value):
        self[...] += _np(value)
        return self

    def assign_sub(self, value):
        self[...] -= _np(value)
        return self

    def numpy(self):
        return np.array(self)

    @property
    def value(self):
        return self


class Metric:
    """Base class: `update_state`, `result() -> float`, `reset_state()`, `name`, `direction`, `get_config()`.

    Subclasses written the Keras way work too: create state with `self.add_variable(shape, initializer,
    name=...)` (arrays with `assign_add`), update it in `update_state`, compute `result()` from it;
    the default `reset_state()` puts every such variable back to its initial value.
    """

    direction = None

    def __init__(self, name=None, dtype=None):
        self.name = name or _snake(type(self).__name__)
        self.dtype = dtype or "float32"
        # Create the state of tinydl's own classes in the MRO only: a Keras-style subclass makes its
        # variables after super().__init__(), so its own reset_state cannot run yet (Keras never calls it here).
        own = next(c for c in type(self).__mro__ if c.__module__ == __name__ and "reset_state" in c.__dict__)
        own.reset_state(self)

    def update_state(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must implement update_state")

    def result(self):
        raise NotImplementedError(f"{type(self).__name__} must implement result")

    def reset_state(self):
        for variable, initial in self.__dict__.get("_metric_variables", []):
            variable[...] = initial

    def add_variable(self, shape=(), initializer="zeros", dtype=None, aggregation="sum", name=None):
        """A state array (float64 unless `dtype`), reset to its initial value by `reset_state()`."""
        shape = tuple(shape) if not isinstance(shape, int) else (shape,)
        initial = np.asarray(initializers.get(initializer)(shape, dtype=dtype or "float64"))
        variable = np.array(initial).view(MetricVariable)
        self.__dict__.setdefault("_metric_variables", []).append((variable, initial))
        return variable

    add_weight = add_variable

    @property
    def variables(self):
        """The arrays made with `add_variable`, in creation order."""
        return [v for v, _ in self.__dict__.get("_metric_variables", [])]

    def __call__(self, *args, **kwargs):
        """Update with one batch and return the running result."""
        self.update_state(*args, **kwargs)
        return self.result()

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name!r}>"


@register_serializable()
class Mean(Metric):
    """The (weighted) mean of the values given to `update_state(values, sample_weight=None)`."""

    def reset_state(self):
        self.total = 0.0
        self.count = 0.0

    def update_state(self, values, sample_weight=None):
        if _is_scalar_tensor(values) and (sample_weight is None or np.ndim(sample_weight) == 0):
            # a loss Tensor accumulates where it lives: no host sync per batch, one read in result()
            weight = 1.0 if sample_weight is None else float(sample_weight)
            self.total = self.total + values.data.reshape(()).astype(np.float64) * weight
            self.count += weight
            return
        values, weight = _samplewise(_np(values), sample_weight, np.mean)
        self.total += values.sum()
        if weight is not None:
            self.count += float(weight.sum())
        else:
            self.count += values.shape[0] if values.ndim >= 1 else 1

    def result(self):
        return self.total / self.count if self.count else 0.0  # a device scalar stays one until read


@register_serializable()
class Sum(Metric):
    """The (weighted) sum of the values given to `update_state(values, sample_weight=None)`."""

    def reset_state(self):
        self.total = 0.0

    def update_state(self, values, sample_weight=None):
        values, _ = _samplewise(_np(values), sample_weight, np.sum)
        self.total += float(values.sum())

    def result(self):
        return self.total


@register_serializable()
class MeanMetricWrapper(Mean):
    """The mean of `fn(y_true, y_pred, **kwargs)` over samples (how a loss becomes a metric)."""

    def __init__(self, fn, name=None, dtype=None, **kwargs):
        if isinstance(fn, str):
            fn = _FUNCTIONS.get(fn) or _loss_function(fn)
        self._fn = fn
        self._fn_kwargs = kwargs
        super().__init__(name=name or getattr(fn, "__name__", None), dtype=dtype)
        if self.direction is None and _is_loss_function(fn):
            self.direction = "down"

    def update_state(self, y_true, y_pred, sample_weight=None):
        values = self._fn(_np(y_true), _np(y_pred), **self._fn_kwargs)
        super().update_state(_np(values), sample_weight=sample_weight)

    def get_config(self):
        config = super().get_config()
        if type(self) is MeanMetricWrapper:
            config["fn"] = getattr(self._fn, "__name__", repr(self._fn))
            config.update(self._fn_kwargs)
        return config


# -- accuracies ------------------------------------------------------------------------------------
def accuracy(y_true, y_pred):
    """1.0 where y_pred equals y_true exactly, else 0.0 (elementwise)."""
    y_true, y_pred = _same_rank(_np(y_true), _np(y_pred))
    return (y_true == y_pred).astype(np.float64)


def binary_accuracy(y_true, y_pred, threshold=0.5):
    """Mean over the last axis of (y_pred > threshold) == y_true."""
    y_true, y_pred = _same_rank(_np(y_true), _np(y_pred))
    return ((y_pred > threshold).astype(y_true.dtype) == y_true).astype(np.float64).mean(axis=-1)


def categorical_accuracy(y_true, y_pred):
    """argmax(y_true) == argmax(y_pred) per sample (one-hot targets)."""
    return sparse_categorical_accuracy(np.argmax(_np(y_true), axis=-1), y_pred)


def sparse_categorical_accuracy(y_true, y_pred):
    """y_true == argmax(y_pred) per sample (integer targets, shape (N,) or (N, 1))."""
    y_true, y_pred = _np(y_true), _np(y_pred)
    shape = y_true.shape
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
        y_true = y_true.reshape(shape[:-1])
    matches = (y_true == np.argmax(y_pred, axis=-1)).astype(np.float64)
    return matches.reshape(shape) if matches.size == int(np.prod(shape)) else matches


def top_k_categorical_accuracy(y_true, y_pred, k=5):
    """1.0 where the target class (argmax of y_true) is among the k largest predictions."""
    return sparse_top_k_categorical_accuracy(np.argmax(_np(y_true), axis=-1), y_pred, k=k)


def sparse_top_k_categorical_accuracy(y_true, y_pred, k=5):
    """1.0 where the integer target's score is at least the k-th largest score (ties count, as Keras)."""
    y_true, y_pred = _np(y_true), _np(y_pred)
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
        y_true = y_true.reshape(y_true.shape[:-1])
    classes = y_pred.shape[-1]
    scores = y_pred.reshape(-1, classes)
    targets = y_true.reshape(-1).astype(np.int64)
    k = min(k, classes)
    kth = np.partition(scores, classes - k, axis=-1)[:, classes - k]
    hit = scores[np.arange(len(targets)), targets] >= kth
    return hit.astype(np.float64).reshape(y_true.shape)


def mean_squared_error(y_true, y_pred):
    """mean((y_true - y_pred) ** 2, axis=-1)."""
    y_true, y_pred = _same_rank(_np(y_true), _np(y_pred))
    return np.mean((y_pred - y_true) ** 2, axis=-1)


def mean_absolute_error(y_true, y_pred):
    """mean(|y_true - y_pred|, axis=-1)."""
    y_true, y_pred = _same_rank(_np(y_true), _np(y_pred))
    return np.mean(np.abs(y_pred - y_true), axis=-1)


@register_serializable()
class Accuracy(MeanMetricWrapper):
    """How often predictions equal labels exactly."""
    direction = "up"

    def __init__(self, name="accuracy", dtype=None):
        super().__init__(accuracy, name=name, dtype=dtype)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}


@register_serializable()
class BinaryAccuracy(MeanMetricWrapper):
    """How often (y_pred > threshold) matches binary labels."""
    direction = "up"

    def __init__(self, name="binary_accuracy", dtype=None, threshold=0.5):
        super().__init__(binary_accuracy, name=name, dtype=dtype, threshold=threshold)
        self.threshold = threshold

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "threshold": self.threshold}


@register_serializable()
class CategoricalAccuracy(MeanMetricWrapper):
    """How often argmax(y_pred) matches argmax of one-hot labels."""
    direction = "up"

    def __init__(self, name="categorical_accuracy", dtype=None):
        super().__init__(categorical_accuracy, name=name, dtype=dtype)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}


@register_serializable()
class SparseCategoricalAccuracy(MeanMetricWrapper):
    """How often argmax(y_pred) matches integer labels."""
    direction = "up"

    def __init__(self, name="sparse_categorical_accuracy", dtype=None):
        super().__init__(sparse_categorical_accuracy, name=name, dtype=dtype)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}


@register_serializable()
class TopKCategoricalAccuracy(MeanMetricWrapper):
    """How often the one-hot target is in the top k predictions (k=5)."""
    direction = "up"

    def __init__(self, k=5, name="top_k_categorical_accuracy", dtype=None):
        super().__init__(top_k_categorical_accuracy, name=name, dtype=dtype, k=k)
        self.k = k

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "k": self.k}


@register_serializable()
class SparseTopKCategoricalAccuracy(MeanMetricWrapper):
    """How often the integer target is in the top k predictions (k=5)."""
    direction = "up"

    def __init__(self, k=5, name="sparse_top_k_categorical_accuracy", dtype=None):
        super().__init__(sparse_top_k_categorical_accuracy, name=name, dtype=dtype, k=k)
        self.k = k

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "k": self.k}


# -- regression ------------------------------------------------------------------------------------
@register_serializable(name="metrics>MeanSquaredError")
class MeanSquaredError(MeanMetricWrapper):
    """Mean of squared errors (the mean over the last axis, then over samples)."""
    direction = "down"

    def __init__(self, name="mean_squared_error", dtype=None):
        super().__init__(mean_squared_error, name=name, dtype=dtype)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}


@register_serializable(name="metrics>MeanAbsoluteError")
class MeanAbsoluteError(MeanMetricWrapper):
    """Mean of absolute errors."""
    direction = "down"

    def __init__(self, name="mean_absolute_error", dtype=None):
        super().__init__(mean_absolute_error, name=name, dtype=dtype)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}


@register_serializable()
class RootMeanSquaredError(Mean):
    """sqrt of the (weighted) mean squared error over everything seen."""
    direction = "down"

    def __init__(self, name="root_mean_squared_error", dtype=None):
        super().__init__(name=name, dtype=dtype)

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred = _same_rank(_np(y_true), _np(y_pred))
        super().update_state((y_pred - y_true) ** 2, sample_weight=sample_weight)

    def result(self):
        return float(np.sqrt(super().result()))


# -- confusion-matrix metrics ----------------------------------------------------------------------
class _Confusion(Metric):
    """Shared update of true/false positive/negative counts at thresholds (Keras's metrics_utils)."""
    direction = "up"

    def _counts(self, y_true, y_pred, sample_weight, thresholds, evenly, top_k=None, class_id=None):
        return confusion_counts(y_true, y_pred, thresholds, evenly=evenly, sample_weight=sample_weight,
                                top_k=top_k, class_id=class_id)


def confusion_counts(y_true, y_pred, thresholds, evenly=False, sample_weight=None, label_weights=None,
                     multi_label=False, top_k=None, class_id=None):
    """(tp, fp, fn, tn) at each threshold (prediction > threshold is positive), as Keras's metrics_utils.

    Counts have shape (thresholds,), or (thresholds, labels) with `multi_label`. `evenly` marks
    thresholds spaced evenly on [0, 1] (possibly widened by epsilon at both ends): predictions are
    then clipped to [0, 1] and bucketed in one pass, as Keras's optimized path.
    """
    y_true, y_pred = _np(y_true).astype(np.float64), _np(y_pred).astype(np.float64)
    y_pred, y_true = _same_rank(y_pred, y_true)
    if top_k is not None:
        y_pred = _filter_top_k(y_pred, top_k)
    if class_id is not None:
        if y_pred.ndim == 1:
            raise ValueError("class_id needs y_pred of shape (num_samples, num_classes), got shape "
                             f"{y_pred.shape}")
        y_true, y_pred = y_true[..., class_id, None], y_pred[..., class_id, None]
    weight = np.ones_like(y_pred) if sample_weight is None else _broadcast_weight(sample_weight, y_pred)
    if label_weights is not None:
        weight = weight * np.broadcast_to(np.asarray(label_weights, dtype=np.float64), y_pred.shape)
    if multi_label:
        if y_pred.ndim != 2:
            raise ValueError(f"multi_label needs y_pred of rank 2 (samples, labels), got shape {y_pred.shape}")
        label, y_pred, weight = y_true != 0, y_pred, weight
    else:
        label, y_pred, weight = (y_true != 0).reshape(-1, 1), y_pred.reshape(-1, 1), weight.reshape(-1, 1)
    # compare in float32, as Keras does: float32(0.3) > float64(0.3) would count a prediction of 0.3 as above 0.3
    thresholds, y_pred = np.asarray(thresholds, dtype=np.float32), y_pred.astype(np.float32)
    if evenly:
        counts = _bucketed_counts(label, y_pred, weight, thresholds)
    else:
        above = y_pred[None] > thresholds[:, None, None]
        tp = ((above & label) * weight).sum(axis=1)
        fp = ((above & ~label) * weight).sum(axis=1)
        fn = ((~above & label) * weight).sum(axis=1)
        counts = tp, fp, fn, ((~above & ~label) * weight).sum(axis=1)
    return counts if multi_label else tuple(c[:, 0] for c in counts)


def _bucketed_counts(label, y_pred, weight, thresholds):
    """Confusion counts (thresholds, labels) for evenly spaced thresholds by one histogram per label."""
    n, labels = len(thresholds), y_pred.shape[1]
    buckets = np.ceil(np.clip(y_pred, 0.0, 1.0) * np.float32(n - 1)) - 1
    if thresholds[0] < 0 or thresholds[-1] > 1:
        buckets = np.maximum(buckets, 0)
    # a bucket of -1 (a prediction of exactly 0 with a threshold of exactly 0) is above no threshold
    keep = buckets >= 0
    index = (buckets + n * np.arange(labels)[None, :]).astype(np.int64)

    def histogram(values):
        hist = np.bincount(index[keep], weights=values[keep], minlength=n * labels)
        return hist.reshape(labels, n).T

    positive, negative = label * weight, ~label * weight
    tp = np.cumsum(histogram(positive)[::-1], axis=0)[::-1]
    fp = np.cumsum(histogram(negative)[::-1], axis=0)[::-1]
    return tp, fp, positive.sum(axis=0) - tp, negative.sum(axis=0) - fp


@register_serializable()
class TruePositives(Metric):
    """The (weighted) count of positive labels predicted positive (prediction > threshold, default 0.5)."""
    _count = 0

    def __init__(self, thresholds=None, name=None, dtype=None):
        self.init_thresholds = thresholds
        self.thresholds = parse_thresholds(thresholds, default=0.5)
        self._evenly = evenly_spaced(self.thresholds)
        super().__init__(name=name, dtype=dtype)

    def reset_state(self):
        self.accumulator = np.zeros(len(self.thresholds))

    def update_state(self, y_true, y_pred, sample_weight=None):
        counts = confusion_counts(y_true, y_pred, self.thresholds, self._evenly, sample_weight)
        self.accumulator += counts[self._count]

    def result(self):
        return float(self.accumulator[0]) if len(self.thresholds) == 1 else [float(v) for v in self.accumulator]

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "thresholds": self.init_thresholds}


@register_serializable()
class FalsePositives(TruePositives):
    """The (weighted) count of negative labels predicted positive."""
    _count = 1


@register_serializable()
class FalseNegatives(TruePositives):
    """The (weighted) count of positive labels predicted negative."""
    _count = 2


@register_serializable()
class TrueNegatives(TruePositives):
    """The (weighted) count of negative labels predicted negative."""
    _count = 3


def parse_thresholds(thresholds, default=0.5):
    """A list of thresholds in [0, 1] from None (the default), one number or a sequence."""
    if thresholds is None:
        thresholds = [default]
    elif not isinstance(thresholds, (list, tuple, np.ndarray)):
        thresholds = [thresholds]
    thresholds = [float(t) for t in thresholds]
    if not all(0.0 <= t <= 1.0 for t in thresholds):
        raise ValueError(f"thresholds must be in [0, 1], got {thresholds}")
    return thresholds


def evenly_spaced(thresholds):
    """True when there are 3 or more thresholds spaced evenly from 0 to 1 (Keras's fast path)."""
    n = len(thresholds)
    return n >= 3 and bool(np.allclose(thresholds, np.arange(n) / (n - 1), atol=EPSILON))


class _AtConstraint(Metric):
    """The best of one rate among thresholds where another rate is at least `value` (Keras's
    SensitivitySpecificityBase): `num_thresholds` evenly spaced from 0 to 1, or just 0.5 when 1."""
    direction = "up"

    def __init__(self, value, num_thresholds=200, class_id=None, name=None, dtype=None):
        if not 0 <= value <= 1:
            raise ValueError(f"{type(self).__name__}: {self._value_name} must be in [0, 1], "
                             f"got {self._value_name}={value}")
        if num_thresholds <= 0:
            raise ValueError(f"{type(self).__name__}: num_thresholds must be an integer > 0, got {num_thresholds}")
        self.value, self.num_thresholds, self.class_id = value, num_thresholds, class_id
        setattr(self, self._value_name, value)
        if num_thresholds == 1:
            self.thresholds, self._evenly = [0.5], False
        else:
            inner = [(i + 1) * 1.0 / (num_thresholds - 1) for i in range(num_thresholds - 2)]
            self.thresholds, self._evenly = [0.0] + inner + [1.0], True
        super().__init__(name=name, dtype=dtype)

    def reset_state(self):
        n = len(self.thresholds)
        self.true_positives, self.false_positives = np.zeros(n), np.zeros(n)
        self.true_negatives, self.false_negatives = np.zeros(n), np.zeros(n)

    def update_state(self, y_true, y_pred, sample_weight=None):
        tp, fp, fn, tn = confusion_counts(y_true, y_pred, self.thresholds, self._evenly, sample_weight,
                                          class_id=self.class_id)
        self.true_positives += tp
        self.false_positives += fp
        self.false_negatives += fn
        self.true_negatives += tn

    def result(self):
        tp, fp, fn, tn = self.true_positives, self.false_positives, self.false_negatives, self.true_negatives
        rates = {"sensitivity": _divide_no_nan(tp, tp + fn), "specificity": _divide_no_nan(tn, tn + fp),
                 "precision": _divide_no_nan(tp, tp + fp)}
        rates["recall"] = rates["sensitivity"]
        feasible = rates[self._value_name] >= self.value
        return float(np.max(np.where(feasible, rates[self._result_name], 0.0), initial=0.0))

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "class_id": self.class_id,
                "num_thresholds": self.num_thresholds, self._value_name: self.value}


@register_serializable()
class SensitivityAtSpecificity(_AtConstraint):
    """The best sensitivity (recall) at thresholds where specificity >= `specificity`."""
    _value_name, _result_name = "specificity", "sensitivity"

    def __init__(self, specificity, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(specificity, num_thresholds, class_id, name, dtype)


@register_serializable()
class SpecificityAtSensitivity(_AtConstraint):
    """The best specificity at thresholds where sensitivity >= `sensitivity`."""
    _value_name, _result_name = "sensitivity", "specificity"

    def __init__(self, sensitivity, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(sensitivity, num_thresholds, class_id, name, dtype)


@register_serializable()
class PrecisionAtRecall(_AtConstraint):
    """The best precision at thresholds where recall >= `recall`."""
    _value_name, _result_name = "recall", "precision"

    def __init__(self, recall, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(recall, num_thresholds, class_id, name, dtype)


@register_serializable()
class RecallAtPrecision(_AtConstraint):
    """The best recall at thresholds where precision >= `precision`."""
    _value_name, _result_name = "precision", "recall"

    def __init__(self, precision, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(precision, num_thresholds, class_id, name, dtype)


class _PrecisionRecall(_Confusion):
    """Precision or Recall at one or more thresholds (default 0.5), with Keras's top_k and class_id."""

    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None, dtype=None):
        self.init_thresholds = thresholds
        self.top_k, self.class_id = top_k, class_id
        default = 0.5 if top_k is None else -np.inf
        if thresholds is None:
            thresholds = [default]
        self._single = not isinstance(thresholds, (list, tuple, np.ndarray))
        self.thresholds = [float(thresholds)] if self._single else [float(t) for t in thresholds]
        super().__init__(name=name, dtype=dtype)

    def reset_state(self):
        n = len(self.thresholds)
        self.true_positives, self.false_positives = np.zeros(n), np.zeros(n)
        self.false_negatives = np.zeros(n)

    def update_state(self, y_true, y_pred, sample_weight=None):
        tp, fp, fn, _ = self._counts(y_true, y_pred, sample_weight, self.thresholds, False, self.top_k, self.class_id)
        self.true_positives += tp
        self.false_positives += fp
        self.false_negatives += fn

    def result(self):
        values = _divide_no_nan(self.true_positives, self.true_positives + self._other())
        return float(values[0]) if len(values) == 1 else [float(v) for v in values]

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "thresholds": self.init_thresholds, "top_k": self.top_k,
                "class_id": self.class_id}


@register_serializable()
class Precision(_PrecisionRecall):
    """tp / (tp + fp) with predictions above the threshold counted positive."""

    def _other(self):
        return self.false_positives


@register_serializable()
class Recall(_PrecisionRecall):
    """tp / (tp + fn) with predictions above the threshold counted positive."""

    def _other(self):
        return self.false_negatives


@register_serializable()
class AUC(Metric):
    """Area under the ROC, PR or PR-gain curve from confusion counts at `num_thresholds` thresholds (Keras 3).

    Thresholds are -1e-7, 1/(n-1), ..., (n-2)/(n-1), 1 + 1e-7; the area is the trapezoid sum
    ('interpolation', the default), or 'minoring'/'majoring' rectangles; PR with 'interpolation' uses
    Keras's Davis & Goadrich interpolation. With `multi_label=True`, y_pred is (samples, labels), each
    label gets its own curve and the result is their mean (weighted by `label_weights` when given);
    otherwise `label_weights` weighs each label's counts in the single pooled curve.
    """
    direction = "up"
    _CURVES = {"roc": "ROC", "pr": "PR", "prgain": "PRGAIN"}

    def __init__(self, num_thresholds=200, curve="ROC", summation_method="interpolation", name=None, dtype=None,
                 thresholds=None, multi_label=False, num_labels=None, label_weights=None, from_logits=False):
        if str(curve).lower() not in self._CURVES:
            raise ValueError(f"AUC: curve must be 'ROC', 'PR' or 'PRGAIN', got {curve!r}")
        summation_method = str(summation_method).lower()
        if summation_method not in ("interpolation", "minoring", "majoring"):
            raise ValueError("AUC: summation_method must be 'interpolation', 'minoring' or 'majoring', "
                             f"got {summation_method!r}")
        if num_labels and not multi_label:
            raise ValueError(f"AUC: num_labels is needed only when multi_label is True, got num_labels={num_labels}")
        self._init_thresholds = thresholds
        if thresholds is not None:
            inner = sorted(float(t) for t in thresholds)
            self.num_thresholds = len(inner) + 2
            self._evenly = evenly_spaced([0.0] + inner + [1.0])
        else:
            if num_thresholds <= 1:
                raise ValueError(f"AUC: num_thresholds must be an integer > 1, got {num_thresholds}")
            self.num_thresholds = num_thresholds
            inner = [(i + 1) * 1.0 / (num_thresholds - 1) for i in range(num_thresholds - 2)]
            self._evenly = True
        self._thresholds = [0.0 - EPSILON] + inner + [1.0 + EPSILON]
        self.curve, self.summation_method = self._CURVES[str(curve).lower()], summation_method
        self.multi_label, self.num_labels = bool(multi_label), num_labels
        self.label_weights = None if label_weights is None else np.asarray(label_weights, dtype=np.float64)
        self.from_logits = from_logits
        self.true_positives = None
        super().__init__(name=name, dtype=dtype)
        if not self.multi_label or num_labels:
            self._build(num_labels)

    @property
    def thresholds(self):
        return list(self._thresholds)

    def _build(self, labels):
        """Zero counts of shape (thresholds,), or (thresholds, labels) with multi_label."""
        shape = (self.num_thresholds, labels) if self.multi_label else (self.num_thresholds,)
        self.true_positives, self.false_positives = np.zeros(shape), np.zeros(shape)
        self.true_negatives, self.false_negatives = np.zeros(shape), np.zeros(shape)

    def reset_state(self):
        if self.true_positives is not None:
            for counts in (self.true_positives, self.false_positives, self.true_negatives, self.false_negatives):
                counts[...] = 0

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = _np(y_pred)
        if self.multi_label and y_pred.ndim != 2:
            raise ValueError(f"AUC(multi_label=True) expects y_pred of rank 2 (samples, labels), got shape "
                             f"{y_pred.shape}")
        if self.true_positives is None:
            self._build(y_pred.shape[1])
        if self.from_logits:
            y_pred = 1.0 / (1.0 + np.exp(-y_pred.astype(np.float64)))
        label_weights = None if self.multi_label else self.label_weights
        tp, fp, fn, tn = confusion_counts(y_true, y_pred, self._thresholds, self._evenly, sample_weight,
                                          label_weights=label_weights, multi_label=self.multi_label)
        if tp.shape != self.true_positives.shape:
            raise ValueError(f"AUC was built for counts of shape {self.true_positives.shape} (num_labels="
                             f"{self.num_labels}), got a batch with {y_pred.shape[-1]} labels")
        self.true_positives += tp
        self.false_positives += fp
        self.false_negatives += fn
        self.true_negatives += tn

    def result(self):
        if self.true_positives is None:
            return 0.0
        if self.curve == "PR" and self.summation_method == "interpolation":
            return self._over_labels(self._interpolate_pr_auc())
        x, y = self._curve_points()
        if self.summation_method == "interpolation":
            heights = (y[:-1] + y[1:]) / 2.0
        elif self.summation_method == "minoring":
            heights = np.minimum(y[:-1], y[1:])
        else:
            heights = np.maximum(y[:-1], y[1:])
        return self._over_labels((x[:-1] - x[1:]) * heights)

    def _curve_points(self):
        """(x, y) of the curve at each threshold."""
        tp, fp, fn, tn = self.true_positives, self.false_positives, self.false_negatives, self.true_negatives
        recall = _divide_no_nan(tp, tp + fn)
        if self.curve == "ROC":
            return _divide_no_nan(fp, fp + tn), recall
        if self.curve == "PR":
            return recall, _divide_no_nan(tp, tp + fp)
        scaling = _divide_no_nan(tp + fn, tn + fp)
        recall_gain = np.where(tp == 0, 0.0, 1.0 - scaling * _divide_no_nan(fn, tp))
        precision_gain = np.where(tp == 0, 1.0, 1.0 - scaling * _divide_no_nan(fp, tp))
        return np.maximum(recall_gain, 0.0), precision_gain

    def _over_labels(self, terms):
        """The area: the sum of the terms, and with multi_label the (weighted) mean over labels."""
        if not self.multi_label:
            return float(terms.sum())
        by_label = terms.sum(axis=0)
        if self.label_weights is None:
            return float(by_label.mean())
        return float(_divide_no_nan((by_label * self.label_weights).sum(), self.label_weights.sum()))

    def _interpolate_pr_auc(self):
        tp, fp, fn = self.true_positives, self.false_positives, self.false_negatives
        dtp = tp[:-1] - tp[1:]
        p = tp + fp
        dp = p[:-1] - p[1:]
        slope = _divide_no_nan(dtp, np.maximum(dp, 0))
        intercept = tp[1:] - slope * p[1:]
        both = (p[:-1] > 0) & (p[1:] > 0)
        ratio = np.where(both, _divide_no_nan(p[:-1], np.maximum(p[1:], 0)), 1.0)
        with np.errstate(divide="ignore"):
            log_ratio = np.log(np.where(ratio > 0, ratio, 1.0))
        return _divide_no_nan(slope * (dtp + intercept * log_ratio), np.maximum(tp[1:] + fn[1:], 0))

    def get_config(self):
        label_weights = None if self.label_weights is None else self.label_weights.tolist()
        config = {"name": self.name, "dtype": self.dtype, "num_thresholds": self.num_thresholds,
                  "curve": self.curve, "summation_method": self.summation_method, "multi_label": self.multi_label,
                  "num_labels": self.num_labels, "label_weights": label_weights, "from_logits": self.from_logits}
        if self._init_thresholds is not None:
            config["thresholds"] = self._thresholds[1:-1]
        return config


@register_serializable()
class FBetaScore(Metric):
    """F-beta per class from thresholded predictions (the row max when threshold is None), as Keras 3.

    average: None (one score per class), 'micro' (pooled counts), 'macro' (mean of class scores) or
    'weighted' (class scores weighted by their share of positive labels).
    """
    direction = "up"

    def __init__(self, average=None, beta=1.0, threshold=None, name="fbeta_score", dtype=None):
        if average not in (None, "micro", "macro", "weighted"):
            raise ValueError(f"{type(self).__name__}: average must be None, 'micro', 'macro' or 'weighted', "
                             f"got {average!r}")
        if not beta > 0:
            raise ValueError(f"{type(self).__name__}: beta must be > 0, got {beta}")
        if threshold is not None and not 0 < threshold <= 1:
            raise ValueError(f"{type(self).__name__}: threshold must be in (0, 1], got {threshold}")
        self.average, self.beta, self.threshold = average, beta, threshold
        self.true_positives = None
        super().__init__(name=name, dtype=dtype)

    def reset_state(self):
        if self.true_positives is not None:
            for counts in (self.true_positives, self.false_positives, self.false_negatives, self.intermediate_weights):
                counts[...] = 0

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred = _np(y_true).astype(np.float64), _np(y_pred).astype(np.float64)
        if y_pred.ndim != 2 or y_true.shape != y_pred.shape:
            raise ValueError(f"{type(self).__name__} expects y_true and y_pred of one shape (batch, classes), got "
                             f"{y_true.shape} and {y_pred.shape}")
        if self.threshold is None:
            y_pred = ((y_pred >= y_pred.max(axis=-1, keepdims=True)) & (np.abs(y_pred) > 1e-9)).astype(np.float64)
        else:
            y_pred = (y_pred > self.threshold).astype(np.float64)
        weight = None if sample_weight is None else _np(sample_weight).astype(np.float64).reshape(-1, 1)
        axis = None if self.average == "micro" else 0

        def total(values):
            return (values if weight is None else values * weight).sum(axis=axis)
        counts = (total(y_pred * y_true), total(y_pred * (1 - y_true)), total((1 - y_pred) * y_true), total(y_true))
        if self.true_positives is None:
            self.true_positives, self.false_positives, self.false_negatives, self.intermediate_weights = (
                np.zeros_like(np.asarray(c, dtype=np.float64)) for c in counts)
        for acc, c in zip((self.true_positives, self.false_positives, self.false_negatives,
                           self.intermediate_weights), counts):
            acc += c

    def result(self):
        if self.true_positives is None:
            return 0.0
        tp, fp, fn = self.true_positives, self.false_positives, self.false_negatives
        precision = tp / (tp + fp + EPSILON)
        recall = tp / (tp + fn + EPSILON)
        b2 = self.beta ** 2
        score = (1 + b2) * precision * recall / (b2 * precision + recall + EPSILON)
        if self.average == "weighted":
            weights = self.intermediate_weights / (self.intermediate_weights.sum() + EPSILON)
            return float((score * weights).sum())
        if self.average is not None:
            return float(np.mean(score))
        return [float(v) for v in np.atleast_1d(score)]

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "average": self.average, "beta": self.beta,
                "threshold": self.threshold}


@register_serializable()
class F1Score(FBetaScore):
    """FBetaScore with beta = 1."""

    def __init__(self, average=None, threshold=None, name="f1_score", dtype=None):
        super().__init__(average=average, beta=1.0, threshold=threshold, name=name, dtype=dtype)

    def get_config(self):
        config = super().get_config()
        del config["beta"]
        return config


@register_serializable()
class R2Score(Metric):
    """Coefficient of determination per output, aggregated as Keras 3 ('uniform_average' by default)."""
    direction = "up"

    def __init__(self, class_aggregation="uniform_average", num_regressors=0, name="r2_score", dtype=None):
        if class_aggregation not in ("uniform_average", "variance_weighted_average", None):
            raise ValueError("R2Score: class_aggregation must be 'uniform_average', 'variance_weighted_average' or "
                             f"None, got {class_aggregation!r}")
        if num_regressors < 0:
            raise ValueError(f"R2Score: num_regressors must be >= 0, got {num_regressors}")
        self.class_aggregation, self.num_regressors = class_aggregation, num_regressors
        super().__init__(name=name, dtype=dtype)

    def reset_state(self):
        self.sum = self.squared_sum = self.total_mse = self.count = 0.0
        self.num_samples = 0

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred = _np(y_true).astype(np.float64), _np(y_pred).astype(np.float64)
        if y_true.ndim == 1:
            y_true = y_true[:, None]
        if y_pred.ndim == 1:
            y_pred = y_pred[:, None]
        weight = np.ones(1) if sample_weight is None else _np(sample_weight).astype(np.float64)
        if weight.ndim == 1:
            weight = weight[:, None]
        weight = np.broadcast_to(weight, y_true.shape)
        weighted = y_true * weight
        self.sum = self.sum + weighted.sum(axis=0)
        self.squared_sum = self.squared_sum + (y_true * weighted).sum(axis=0)
        self.total_mse = self.total_mse + ((y_true - y_pred) ** 2 * weight).sum(axis=0)
        self.count = self.count + weight.sum(axis=0)
        self.num_samples += y_true.size

    def result(self):
        if not self.num_samples:
            return 0.0
        mean = self.sum / self.count
        total = self.squared_sum - self.sum * mean
        with np.errstate(divide="ignore", invalid="ignore"):
            raw = 1 - self.total_mse / total
        raw = np.where(np.isinf(raw), 0.0, raw)
        if self.class_aggregation == "uniform_average":
            score = float(np.mean(raw))
        elif self.class_aggregation == "variance_weighted_average":
            score = float((total * raw).sum() / total.sum())
        else:
            score = raw
        if self.num_regressors and self.num_regressors < self.num_samples - 1:
            n, p = self.num_samples, self.num_regressors
            score = 1 - (1 - score) * (n - 1) / (n - p - 1)
        return score if self.class_aggregation is None else float(score)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "class_aggregation": self.class_aggregation,
                "num_regressors": self.num_regressors}


# -- losses and correlations as metrics ------------------------------------------------------------
class _LossMetric(MeanMetricWrapper):
    """The mean over samples of one of tinydl.losses' functions; its keyword arguments are its config."""
    direction = "down"

    def __init__(self, loss_name, name, dtype, **kwargs):
        super().__init__(_loss_function(loss_name), name=name, dtype=dtype, **kwargs)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, **self._fn_kwargs}


@register_serializable(name="metrics>BinaryCrossentropy")
class BinaryCrossentropy(_LossMetric):
    """Mean binary crossentropy (probabilities, or logits with `from_logits`)."""

    def __init__(self, name="binary_crossentropy", dtype=None, from_logits=False, label_smoothing=0):
        super().__init__("binary_crossentropy", name, dtype, from_logits=from_logits,
                         label_smoothing=label_smoothing)


@register_serializable(name="metrics>CategoricalCrossentropy")
class CategoricalCrossentropy(_LossMetric):
    """Mean categorical crossentropy against one-hot labels."""

    def __init__(self, name="categorical_crossentropy", dtype=None, from_logits=False, label_smoothing=0, axis=-1):
        super().__init__("categorical_crossentropy", name, dtype, from_logits=from_logits,
                         label_smoothing=label_smoothing, axis=axis)


@register_serializable(name="metrics>SparseCategoricalCrossentropy")
class SparseCategoricalCrossentropy(_LossMetric):
    """Mean categorical crossentropy against integer labels."""

    def __init__(self, name="sparse_categorical_crossentropy", dtype=None, from_logits=False, ignore_class=None,
                 axis=-1):
        super().__init__("sparse_categorical_crossentropy", name, dtype, from_logits=from_logits,
                         ignore_class=ignore_class, axis=axis)

    def update_state(self, y_true, y_pred, sample_weight=None):
        ignore_class = self._fn_kwargs["ignore_class"]
        if ignore_class is not None and sample_weight is not None:
            # Keras masks ignored labels out of the weights (so out of the count) only when weights are given
            labels, y_pred = _np(y_true), _np(y_pred)
            if labels.ndim == y_pred.ndim:
                labels = labels[..., 0]
            weight, mask = _same_rank(_np(sample_weight).astype(np.float64), labels != ignore_class)
            sample_weight = weight * mask
        super().update_state(y_true, y_pred, sample_weight)


@register_serializable(name="metrics>Hinge")
class Hinge(_LossMetric):
    """Mean of max(1 - y_true * y_pred, 0) with labels in {-1, 1} (0/1 labels are mapped)."""

    def __init__(self, name="hinge", dtype=None):
        super().__init__("hinge", name, dtype)


@register_serializable(name="metrics>SquaredHinge")
class SquaredHinge(_LossMetric):
    """Mean of max(1 - y_true * y_pred, 0) ** 2."""

    def __init__(self, name="squared_hinge", dtype=None):
        super().__init__("squared_hinge", name, dtype)


@register_serializable(name="metrics>CategoricalHinge")
class CategoricalHinge(_LossMetric):
    """Mean of max(max_wrong - correct + 1, 0) over one-hot labels."""

    def __init__(self, name="categorical_hinge", dtype=None):
        super().__init__("categorical_hinge", name, dtype)


@register_serializable(name="metrics>KLDivergence")
class KLDivergence(_LossMetric):
    """Mean Kullback-Leibler divergence sum(y_true * log(y_true / y_pred))."""

    def __init__(self, name="kl_divergence", dtype=None):
        super().__init__("kl_divergence", name, dtype)


@register_serializable()
class LogCoshError(_LossMetric):
    """Mean of log(cosh(y_pred - y_true)) (Keras names it 'logcosh')."""

    def __init__(self, name="logcosh", dtype=None):
        super().__init__("log_cosh", name, dtype)


@register_serializable(name="metrics>MeanAbsolutePercentageError")
class MeanAbsolutePercentageError(_LossMetric):
    """Mean of 100 * |y_true - y_pred| / max(|y_true|, epsilon)."""

    def __init__(self, name="mean_absolute_percentage_error", dtype=None):
        super().__init__("mean_absolute_percentage_error", name, dtype)


@register_serializable(name="metrics>MeanSquaredLogarithmicError")
class MeanSquaredLogarithmicError(_LossMetric):
    """Mean of (log(1 + y_pred) - log(1 + y_true)) ** 2."""

    def __init__(self, name="mean_squared_logarithmic_error", dtype=None):
        super().__init__("mean_squared_logarithmic_error", name, dtype)


@register_serializable(name="metrics>Poisson")
class Poisson(_LossMetric):
    """Mean of y_pred - y_true * log(y_pred + epsilon)."""

    def __init__(self, name="poisson", dtype=None):
        super().__init__("poisson", name, dtype)


@register_serializable(name="metrics>CosineSimilarity")
class CosineSimilarity(_LossMetric):
    """Mean cosine similarity of y_true and y_pred along `axis` (larger is better, unlike the loss)."""
    direction = "up"

    def __init__(self, name="cosine_similarity", dtype=None, axis=-1):
        super().__init__("cosine_similarity", name, dtype, axis=axis)

    def update_state(self, y_true, y_pred, sample_weight=None):
        # the loss is the negated similarity
        values = -self._fn(_np(y_true), _np(y_pred), **self._fn_kwargs)
        Mean.update_state(self, values, sample_weight=sample_weight)


def pearson_correlation(y_true, y_pred, axis=-1):
    """Pearson's correlation of y_true and y_pred along `axis` (population standard deviations)."""
    y_true, y_pred = _same_rank(_np(y_true).astype(np.float64), _np(y_pred).astype(np.float64))
    true_norm = y_true - y_true.mean(axis=axis, keepdims=True)
    pred_norm = y_pred - y_pred.mean(axis=axis, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):    # a constant sample has no correlation: nan, as Keras
        true_norm = true_norm / true_norm.std(axis=axis, keepdims=True)
        pred_norm = pred_norm / pred_norm.std(axis=axis, keepdims=True)
    return np.mean(true_norm * pred_norm, axis=axis)


def concordance_correlation(y_true, y_pred, axis=-1):
    """Lin's concordance 2 cov / (var_true + var_pred + (mean_true - mean_pred)^2) along `axis`."""
    y_true, y_pred = _same_rank(_np(y_true).astype(np.float64), _np(y_pred).astype(np.float64))
    true_mean, pred_mean = y_true.mean(axis=axis, keepdims=True), y_pred.mean(axis=axis, keepdims=True)
    true_var, pred_var = y_true.var(axis=axis, keepdims=True), y_pred.var(axis=axis, keepdims=True)
    covariance = (y_true - true_mean) * (y_pred - pred_mean)
    norm = true_var + pred_var + (true_mean - pred_mean) ** 2
    return np.mean(2 * covariance / (norm + EPSILON), axis=axis)


@register_serializable()
class PearsonCorrelation(MeanMetricWrapper):
    """The mean over samples of Pearson's correlation along `axis`."""
    direction = "up"

    def __init__(self, name="pearson_correlation", dtype=None, axis=-1):
        super().__init__(pearson_correlation, name=name, dtype=dtype, axis=axis)
        self.axis = axis

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "axis": self.axis}


@register_serializable()
class ConcordanceCorrelation(MeanMetricWrapper):
    """The mean over samples of Lin's concordance correlation along `axis`."""
    direction = "up"

    def __init__(self, name="concordance_correlation", dtype=None, axis=-1):
        super().__init__(concordance_correlation, name=name, dtype=dtype, axis=axis)
        self.axis = axis

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "axis": self.axis}


# -- intersection over union -----------------------------------------------------------------------
@register_serializable()
class IoU(Metric):
    """Mean intersection-over-union of `target_class_ids` from a confusion matrix summed over batches.

    Labels (and predictions, unless `sparse_y_pred=False` asks for the argmax along `axis`) are class
    ids; ids outside [0, num_classes) and `ignore_class` are skipped. The state and the sample weights
    have the metric's dtype, an integer type by default as in Keras (float weights are truncated).
    Classes that never appear are left out of the mean.
    """
    direction = "up"

    def __init__(self, num_classes, target_class_ids, name=None, dtype=None, ignore_class=None, sparse_y_true=True,
                 sparse_y_pred=True, axis=-1):
        if max(target_class_ids) >= num_classes:
            raise ValueError(f"{type(self).__name__}: target class id {max(target_class_ids)} is out of range "
                             f"[0, {num_classes})")
        self.num_classes, self.target_class_ids = int(num_classes), list(target_class_ids)
        self.ignore_class, self.sparse_y_true, self.sparse_y_pred, self.axis = (
            ignore_class, sparse_y_true, sparse_y_pred, axis)
        super().__init__(name=name, dtype=dtype or "int32")

    def reset_state(self):
        self.total_cm = np.zeros((self.num_classes, self.num_classes), dtype=np.float64)

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred = _np(y_true), _np(y_pred)
        if not self.sparse_y_true:
            y_true = np.argmax(y_true, axis=self.axis)
        if not self.sparse_y_pred:
            y_pred = np.argmax(y_pred, axis=self.axis)
        integer = np.issubdtype(np.dtype(self.dtype), np.integer)
        y_true, y_pred = y_true.astype(np.int64).reshape(-1), y_pred.astype(np.int64).reshape(-1)
        weight = np.ones(1) if sample_weight is None else _np(sample_weight).reshape(-1)
        if weight.size not in (1, y_true.size):
            raise ValueError(f"{type(self).__name__}: sample_weight of {weight.size} values does not fit "
                             f"{y_true.size} labels: expected one weight per label (or one in all)")
        weight = np.broadcast_to(weight.astype(np.int64) if integer else weight.astype(np.float64), y_true.shape)
        valid = (y_true >= 0) & (y_true < self.num_classes) & (y_pred >= 0) & (y_pred < self.num_classes)
        if self.ignore_class is not None:
            valid &= y_true != self.ignore_class
        np.add.at(self.total_cm, (y_true[valid], y_pred[valid]), weight[valid])

    def result(self):
        predicted, actual = self.total_cm.sum(axis=0), self.total_cm.sum(axis=1)
        true_positives = np.diag(self.total_cm)
        ids = self.target_class_ids
        true_positives, denominator = true_positives[ids], (predicted + actual - true_positives)[ids]
        valid = denominator > 1e-9
        iou = np.where(valid, true_positives / (denominator + EPSILON), 0.0)
        return float(iou.sum() / (valid.sum() + EPSILON))

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "num_classes": self.num_classes,
                "target_class_ids": self.target_class_ids, "ignore_class": self.ignore_class,
                "sparse_y_true": self.sparse_y_true, "sparse_y_pred": self.sparse_y_pred, "axis": self.axis}


@register_serializable()
class BinaryIoU(IoU):
    """IoU of binary labels against predictions >= `threshold`, over classes `target_class_ids` (0 and 1)."""

    def __init__(self, target_class_ids=(0, 1), threshold=0.5, name=None, dtype=None):
        super().__init__(num_classes=2, target_class_ids=target_class_ids, name=name, dtype=dtype)
        self.threshold = threshold

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = (_np(y_pred).astype(np.float32) >= self.threshold).astype(np.int64)
        super().update_state(y_true, y_pred, sample_weight)

    def get_config(self):
        return {"target_class_ids": self.target_class_ids, "threshold": self.threshold, "name": self.name,
                "dtype": self.dtype}


@register_serializable()
class MeanIoU(IoU):
    """IoU averaged over all `num_classes` classes."""

    def __init__(self, num_classes, name=None, dtype=None, ignore_class=None, sparse_y_true=True,
                 sparse_y_pred=True, axis=-1):
        super().__init__(num_classes, list(range(num_classes)), name=name, dtype=dtype, ignore_class=ignore_class,
                         sparse_y_true=sparse_y_true, sparse_y_pred=sparse_y_pred, axis=axis)

    def get_config(self):
        config = super().get_config()
        del config["target_class_ids"]
        return config


@register_serializable()
class OneHotIoU(IoU):
    """IoU with one-hot labels (and scores, argmax-ed, unless `sparse_y_pred=True`)."""

    def __init__(self, num_classes, target_class_ids, name=None, dtype=None, ignore_class=None, sparse_y_pred=False,
                 axis=-1):
        super().__init__(num_classes, target_class_ids, name=name, dtype=dtype, ignore_class=ignore_class,
                         sparse_y_true=False, sparse_y_pred=sparse_y_pred, axis=axis)

    def get_config(self):
        config = super().get_config()
        del config["sparse_y_true"]
        return config


@register_serializable()
class OneHotMeanIoU(MeanIoU):
    """MeanIoU with one-hot labels (and scores, argmax-ed, unless `sparse_y_pred=True`)."""

    def __init__(self, num_classes, name=None, dtype=None, ignore_class=None, sparse_y_pred=False, axis=-1):
        super().__init__(num_classes, name=name, dtype=dtype, ignore_class=ignore_class, sparse_y_true=False,
                         sparse_y_pred=sparse_y_pred, axis=axis)

    def get_config(self):
        config = super().get_config()
        del config["sparse_y_true"]
        return config


# -- lookup ----------------------------------------------------------------------------------------
_CLASSES = {cls.__name__: cls for cls in (
    Mean, Sum, MeanMetricWrapper, Accuracy, BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy,
    TopKCategoricalAccuracy, SparseTopKCategoricalAccuracy, Precision, Recall, AUC, MeanSquaredError,
    MeanAbsoluteError, RootMeanSquaredError, FBetaScore, F1Score, R2Score, TruePositives, FalsePositives,
    FalseNegatives, TrueNegatives, SensitivityAtSpecificity, SpecificityAtSensitivity, PrecisionAtRecall,
    RecallAtPrecision, BinaryCrossentropy, CategoricalCrossentropy, SparseCategoricalCrossentropy, Hinge,
    SquaredHinge, CategoricalHinge, KLDivergence, LogCoshError, MeanAbsolutePercentageError,
    MeanSquaredLogarithmicError, Poisson, CosineSimilarity, PearsonCorrelation, ConcordanceCorrelation, IoU,
    BinaryIoU, MeanIoU, OneHotIoU, OneHotMeanIoU)}
_NAMES = {**{_snake(name): cls for name, cls in _CLASSES.items() if cls is not MeanMetricWrapper},
          "auc": AUC, "mse": MeanSquaredError, "MSE": MeanSquaredError, "mae": MeanAbsoluteError,
          "MAE": MeanAbsoluteError, "kl_divergence": KLDivergence, "logcosh": LogCoshError}
_FUNCTIONS = {fn.__name__: fn for fn in (
    accuracy, binary_accuracy, categorical_accuracy, sparse_categorical_accuracy, top_k_categorical_accuracy,
    sparse_top_k_categorical_accuracy, mean_squared_error, mean_absolute_error, pearson_correlation,
    concordance_correlation)}
_LOSS_METRICS = {name: name for name in (
    "binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy", "kl_divergence", "huber",
    "mean_absolute_percentage_error", "mean_squared_logarithmic_error", "log_cosh", "poisson", "hinge",
    "squared_hinge", "categorical_hinge")}
_LOSS_METRICS.update({"kld": "kl_divergence", "mape": "mean_absolute_percentage_error",
                      "msle": "mean_squared_logarithmic_error", "logcosh": "log_cosh"})


def get(identifier, loss=None, output_shape=None, y_true=None, y_pred=None):
    """A Metric from a Keras name, config, instance or callable; a string keeps its name as the metric name.

    'accuracy' / 'acc' pick the accuracy that fits, as Keras's compile does: with `y_true` and `y_pred`
    (arrays or shapes), Keras 3's rule (prediction last dim 1 -> binary; labels of lower rank, or last
    dim 1 against more classes -> sparse; else categorical); otherwise from `loss` (a name or a Loss)
    and `output_shape`: binary crossentropy or an output of last dim 1 -> BinaryAccuracy, sparse
    categorical crossentropy -> SparseCategoricalAccuracy, else CategoricalAccuracy. With no hint at
    all it is the exact-match Accuracy, as `keras.metrics.get('accuracy')`.
    """
    if identifier is None:
        return None
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()
    if isinstance(identifier, str):
        if identifier.lower() in ("accuracy", "acc"):
            return _accuracy_for(identifier, loss, output_shape, y_true, y_pred)
        cls = _NAMES.get(identifier) or _CLASSES.get(identifier)
        if cls is not None and cls is not MeanMetricWrapper:
            metric = cls()
        elif identifier in _LOSS_METRICS:
            metric = MeanMetricWrapper(_loss_function(_LOSS_METRICS[identifier]))
        else:
            known = sorted(set(_NAMES) | {"accuracy", "acc"} | set(_LOSS_METRICS))
            raise ValueError(f"unknown metric {identifier!r}; known: {', '.join(known)}")
        metric.name = identifier
        return metric
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if callable(identifier):
        return MeanMetricWrapper(identifier, name=getattr(identifier, "__name__", None))
    raise ValueError(f"could not interpret metric {identifier!r}: expected a name, a Metric, a config or a callable")


def deserialize(config, custom_objects=None):
    """Build a metric from a config dict (this module's class names first) or a name."""
    if isinstance(config, str):
        return get(config)
    return deserialize_preferring(_CLASSES, config, custom_objects)


def _accuracy_for(name, loss, output_shape, y_true, y_pred):
    """The accuracy metric Keras's compile would choose, named `name`."""
    if y_true is not None and y_pred is not None:
        t_shape, p_shape = _shape_of(y_true), _shape_of(y_pred)
        is_binary = p_shape[-1] == 1
        is_sparse = len(t_shape) < len(p_shape) or (t_shape[-1] == 1 and p_shape[-1] > 1)
        cls = BinaryAccuracy if is_binary else SparseCategoricalAccuracy if is_sparse else CategoricalAccuracy
        return cls(name=name)
    loss_name = _loss_kind(loss)
    if loss_name is None and output_shape is None:
        return Accuracy(name=name)
    if loss_name == "binary_crossentropy" or (output_shape is not None and tuple(output_shape)[-1] == 1):
        return BinaryAccuracy(name=name)
    if loss_name == "sparse_categorical_crossentropy":
        return SparseCategoricalAccuracy(name=name)
    return CategoricalAccuracy(name=name)


def _loss_kind(loss):
    """'binary_crossentropy', 'sparse_categorical_crossentropy', ... for a loss name/object, or None."""
    if loss is None:
        return None
    kinds = {losses.BinaryCrossentropy: "binary_crossentropy", losses.CategoricalCrossentropy:
             "categorical_crossentropy", losses.SparseCategoricalCrossentropy: "sparse_categorical_crossentropy"}
    if isinstance(loss, str):
        try:
            loss = losses.get(loss)
        except ValueError:
            return loss
    for cls, kind in kinds.items():
        if isinstance(loss, cls):
            return kind
    fn = getattr(loss, "fn", loss)
    return getattr(fn, "__name__", None)


def _shape_of(x):
    """A shape tuple from an array, a Tensor or a shape."""
    if hasattr(x, "shape"):
        return tuple(x.shape)
    return tuple(x)


def _loss_function(name):
    """A loss function (per-sample) by name, turned into NumPy in and out for metrics."""
    fn = losses._FUNCTIONS.get(name)
    if fn is None:
        raise ValueError(f"unknown metric function {name!r}; known: {sorted(_FUNCTIONS) + sorted(losses._FUNCTIONS)}")

    def metric_fn(y_true, y_pred, **kwargs):
        y_pred = np.asarray(y_pred)
        if not np.issubdtype(y_pred.dtype, np.floating):
            y_pred = y_pred.astype(np.float32)
        with no_grad():    # in the predictions' precision: Keras's clip to 1 - 1e-7 differs in float32
            return _np(fn(y_true, y_pred, **kwargs))
    metric_fn.__name__ = name
    metric_fn._loss_function = True
    return metric_fn


def _is_loss_function(fn):
    """True for loss functions, whose metric should go down."""
    return getattr(fn, "_loss_function", False) or fn in losses._FUNCTIONS.values()


def _is_scalar_tensor(x):
    """True for a one-element Tensor (a loss), whose array may live on the GPU."""
    return isinstance(x, Tensor) and x.data.size == 1


def _np(x):
    """Any array-like (Tensor, cupy, list) as a NumPy array."""
    if hasattr(x, "numpy") and callable(x.numpy):
        x = x.numpy()
    elif hasattr(x, "get") and type(x).__module__.startswith("cupy"):
        x = x.get()
    return np.asarray(x)


def _same_rank(x1, x2):
    """Squeeze or expand a trailing axis of size 1 when ranks differ by one (Keras's rule)."""
    r1, r2 = x1.ndim, x2.ndim
    if r1 == r2 + 1 and x1.shape[-1] == 1:
        if r2 == 1:
            x2 = x2[..., None]
        else:
            x1 = x1[..., 0]
    elif r2 == r1 + 1 and x2.shape[-1] == 1:
        if r1 == 1:
            x1 = x1[..., None]
        else:
            x2 = x2[..., 0]
    return x1, x2


def _samplewise(values, sample_weight, reduce_fn):
    """Keras's reduce_to_samplewise_values: weighted per-sample values and the matching weights."""
    values = values.astype(np.float64)
    weight = None
    if sample_weight is not None:
        weight = _np(sample_weight).astype(np.float64)
        values, weight = _same_rank(values, weight)
        if values.ndim > weight.ndim:
            values = reduce_fn(values, axis=tuple(range(weight.ndim, values.ndim)))
        try:
            weight = np.broadcast_to(weight, values.shape)
        except ValueError:
            raise ValueError(f"sample_weight of shape {weight.shape} does not fit metric values of shape "
                             f"{values.shape}: expected one weight per sample") from None
        values = values * weight
        if weight.ndim > 1:
            weight = reduce_fn(weight, axis=tuple(range(1, weight.ndim)))
    if values.ndim > 1:
        values = reduce_fn(values, axis=tuple(range(1, values.ndim)))
    return values, weight


def _broadcast_weight(sample_weight, like):
    """Sample weights broadcast to the predictions' shape (a trailing axis added when needed)."""
    w = _np(sample_weight).astype(np.float64)
    if 0 < w.ndim < like.ndim and w.shape == like.shape[:w.ndim]:
        w = w.reshape(w.shape + (1,) * (like.ndim - w.ndim))
    return np.broadcast_to(w, like.shape)


def _filter_top_k(x, k):
    """x with everything but the k largest entries of the last axis set to -inf."""
    order = np.argsort(-x, axis=-1, kind="stable")[..., :k]
    out = np.full_like(x, -np.inf)
    np.put_along_axis(out, order, np.take_along_axis(x, order, axis=-1), axis=-1)
    return out


def _divide_no_nan(a, b):
    """a / b, 0 where b == 0."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    out = np.zeros(np.broadcast(a, b).shape)
    np.divide(a, b, out=out, where=b != 0)
    return out


# Keras's metric functions that are its loss functions (keras.metrics.hinge is keras.losses.hinge)
binary_crossentropy, binary_focal_crossentropy = losses.binary_crossentropy, losses.binary_focal_crossentropy
categorical_crossentropy, sparse_categorical_crossentropy = (losses.categorical_crossentropy,
                                                             losses.sparse_categorical_crossentropy)
categorical_focal_crossentropy, categorical_hinge = losses.categorical_focal_crossentropy, losses.categorical_hinge
hinge, squared_hinge, huber, kl_divergence, log_cosh, poisson = (losses.hinge, losses.squared_hinge, losses.huber,
                                                                losses.kl_divergence, losses.log_cosh, losses.poisson)
mean_absolute_percentage_error = losses.mean_absolute_percentage_error
mean_squared_logarithmic_error = losses.mean_squared_logarithmic_error
__all__ += ["binary_crossentropy", "binary_focal_crossentropy", "categorical_crossentropy",
            "sparse_categorical_crossentropy", "categorical_focal_crossentropy", "categorical_hinge", "hinge",
            "squared_hinge", "huber", "kl_divergence", "log_cosh", "poisson", "mean_absolute_percentage_error",
            "mean_squared_logarithmic_error"]
