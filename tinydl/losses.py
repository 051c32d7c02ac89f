"""Losses with Keras 3's formulas, names, defaults, reductions and config keys.

A Loss is called as `loss(y_true, y_pred, sample_weight=None)` and returns a scalar Tensor:
`call(y_true, y_pred)` gives one value per sample (the last axis reduced), each is multiplied by its
sample weight, and the default reduction 'sum_over_batch_size' divides the weighted sum by the
number of per-sample values (not by the sum of the weights), as Keras does. `y_true` may be a NumPy
array or a Tensor; `y_pred` is a Tensor (arrays are wrapped). Non-logit crossentropies clip
probabilities to [1e-7, 1 - 1e-7] as Keras does; with `from_logits=True` they use stable forms, and
(Sparse)CategoricalCrossentropy on logits runs the fused softmax cross-entropy kernel.

    loss = losses.get("sparse_categorical_crossentropy")
    value = loss(labels, model_output)          # scalar Tensor; value.backward()
"""
import re

import numpy as np

from tinydl import backend, ops
from tinydl.backend import array_module
from tinydl.io.config import deserialize_preferring, get_registered, register_serializable, serialize
from tinydl.tensor import Tensor, as_tensor

__all__ = [
    "Loss", "LossFunctionWrapper", "MeanSquaredError", "MeanAbsoluteError", "Huber", "BinaryCrossentropy",
    "CategoricalCrossentropy", "SparseCategoricalCrossentropy", "KLDivergence", "CosineSimilarity",
    "MeanAbsolutePercentageError", "MeanSquaredLogarithmicError", "LogCosh", "Poisson", "Hinge", "SquaredHinge",
    "CategoricalHinge", "mean_absolute_percentage_error", "mean_squared_logarithmic_error", "log_cosh", "poisson",
    "hinge", "squared_hinge", "categorical_hinge", "mean_squared_error", "mean_absolute_error", "huber",
    "binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy", "kl_divergence",
    "cosine_similarity", "BinaryFocalCrossentropy", "CategoricalFocalCrossentropy", "Dice", "Tversky",
    "binary_focal_crossentropy", "categorical_focal_crossentropy", "dice", "tversky",
    "CTC", "ctc", "Circle", "circle", "CategoricalGeneralizedCrossEntropy", "categorical_generalized_cross_entropy",
    "get", "serialize", "deserialize", "reduce_weighted_values", "EPSILON",
]

EPSILON = 1e-7  # keras.backend.epsilon()
_REDUCTIONS = ("sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none", None)


class Loss:
    """Base class: subclasses give `call(y_true, y_pred)` returning one loss per sample."""

    def __init__(self, name=None, reduction="sum_over_batch_size", dtype=None):
        if reduction not in _REDUCTIONS:
            raise ValueError(f"invalid reduction {reduction!r}: expected one of {_REDUCTIONS}")
        self.name = name or _snake(type(self).__name__)
        self.reduction = reduction
        self.dtype = dtype

    def __call__(self, y_true, y_pred, sample_weight=None):
        keras_mask = getattr(y_pred, "_keras_mask", None)
        y_pred = _pred(y_pred, self.dtype)
        values, mask = self._call_with_mask(y_true, y_pred)
        mask = fold_keras_mask(mask, keras_mask, values)
        return reduce_weighted_values(values, sample_weight=sample_weight, mask=mask, reduction=self.reduction)

    def _call_with_mask(self, y_true, y_pred):
        """Per-sample losses and an optional boolean mask of the samples that count.

        A user subclass's `call` gets y_true as a Tensor of y_pred's dtype and device, as in Keras.
        """
        return self.call(_true(y_true, y_pred), y_pred), None

    def call(self, y_true, y_pred):
        raise NotImplementedError(f"{type(self).__name__} must implement call(y_true, y_pred)")

    def get_config(self):
        return {"name": self.name, "reduction": self.reduction}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name!r}>"


@register_serializable()
class LossFunctionWrapper(Loss):
    """A Loss around a function `fn(y_true, y_pred, **kwargs)` that returns one value per sample."""

    def __init__(self, fn, reduction="sum_over_batch_size", name=None, dtype=None, **kwargs):
        if isinstance(fn, str):
            fn = _FUNCTIONS.get(fn) or _registered_function(fn)
        super().__init__(name=name or getattr(fn, "__name__", None), reduction=reduction, dtype=dtype)
        self.fn = fn
        self._fn_kwargs = kwargs

    def _call_with_mask(self, y_true, y_pred):
        return self.call(y_true, y_pred), None

    def call(self, y_true, y_pred):
        return self.fn(y_true, y_pred, **self._fn_kwargs)

    def get_config(self):
        config = super().get_config()
        if type(self) is LossFunctionWrapper:
            config["fn"] = _fn_name(self.fn)
            config.update(self._fn_kwargs)
        return config


@register_serializable()
class MeanSquaredError(LossFunctionWrapper):
    """mean((y_true - y_pred) ** 2) over the last axis."""

    def __init__(self, reduction="sum_over_batch_size", name="mean_squared_error", dtype=None):
        super().__init__(mean_squared_error, reduction=reduction, name=name, dtype=dtype)


@register_serializable()
class MeanAbsoluteError(LossFunctionWrapper):
    """mean(|y_true - y_pred|) over the last axis."""

    def __init__(self, reduction="sum_over_batch_size", name="mean_absolute_error", dtype=None):
        super().__init__(mean_absolute_error, reduction=reduction, name=name, dtype=dtype)


@register_serializable()
class Huber(LossFunctionWrapper):
    """0.5 e^2 where |e| <= delta, else delta |e| - 0.5 delta^2; mean over the last axis."""

    def __init__(self, delta=1.0, reduction="sum_over_batch_size", name="huber_loss", dtype=None):
        super().__init__(huber, reduction=reduction, name=name, dtype=dtype, delta=delta)
        self.delta = delta

    def get_config(self):
        return {**super().get_config(), "delta": self.delta}


@register_serializable()
class BinaryCrossentropy(LossFunctionWrapper):
    """-(t log p + (1 - t) log(1 - p)), mean over `axis`; labels smoothed towards 0.5."""

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1, reduction="sum_over_batch_size",
                 name="binary_crossentropy", dtype=None):
        super().__init__(binary_crossentropy, reduction=reduction, name=name, dtype=dtype,
                         from_logits=from_logits, label_smoothing=label_smoothing, axis=axis)
        self.from_logits, self.label_smoothing, self.axis = from_logits, label_smoothing, axis

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits,
                "label_smoothing": self.label_smoothing, "axis": self.axis}


@register_serializable()
class CategoricalCrossentropy(LossFunctionWrapper):
    """-sum(y_true * log(p)) over `axis` for one-hot (or soft) targets."""

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1, reduction="sum_over_batch_size",
                 name="categorical_crossentropy", dtype=None):
        super().__init__(categorical_crossentropy, reduction=reduction, name=name, dtype=dtype,
                         from_logits=from_logits, label_smoothing=label_smoothing, axis=axis)
        self.from_logits, self.label_smoothing, self.axis = from_logits, label_smoothing, axis

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits,
                "label_smoothing": self.label_smoothing, "axis": self.axis}


@register_serializable()
class SparseCategoricalCrossentropy(LossFunctionWrapper):
    """-log(p[label]) for integer labels; `ignore_class` labels count neither in the sum nor the divisor."""

    def __init__(self, from_logits=False, ignore_class=None, reduction="sum_over_batch_size",
                 name="sparse_categorical_crossentropy", dtype=None):
        super().__init__(sparse_categorical_crossentropy, reduction=reduction, name=name, dtype=dtype,
                         from_logits=from_logits, ignore_class=ignore_class)
        self.from_logits, self.ignore_class = from_logits, ignore_class

    def _call_with_mask(self, y_true, y_pred):
        return _sparse_xent(y_true, y_pred, self.from_logits, self.ignore_class)

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits, "ignore_class": self.ignore_class}


@register_serializable()
class KLDivergence(LossFunctionWrapper):
    """sum(t log(t / p)) over the last axis, both clipped to [1e-7, 1]."""

    def __init__(self, reduction="sum_over_batch_size", name="kl_divergence", dtype=None):
        super().__init__(kl_divergence, reduction=reduction, name=name, dtype=dtype)


@register_serializable()
class CosineSimilarity(LossFunctionWrapper):
    """-sum(l2_normalize(y_true) * l2_normalize(y_pred)) over `axis` (-1 for identical directions)."""

    def __init__(self, axis=-1, reduction="sum_over_batch_size", name="cosine_similarity", dtype=None):
        super().__init__(cosine_similarity, reduction=reduction, name=name, dtype=dtype, axis=axis)
        self.axis = axis

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


@register_serializable()
class MeanAbsolutePercentageError(LossFunctionWrapper):
    """100 * mean(|y_true - y_pred| / max(|y_true|, 1e-7)) over the last axis."""

    def __init__(self, reduction="sum_over_batch_size", name="mean_absolute_percentage_error", dtype=None):
        super().__init__(mean_absolute_percentage_error, reduction=reduction, name=name, dtype=dtype)


@register_serializable()
class MeanSquaredLogarithmicError(LossFunctionWrapper):
    """mean((log(max(y_pred, eps) + 1) - log(max(y_true, eps) + 1)) ** 2) over the last axis."""

    def __init__(self, reduction="sum_over_batch_size", name="mean_squared_logarithmic_error", dtype=None):
        super().__init__(mean_squared_logarithmic_error, reduction=reduction, name=name, dtype=dtype)


@register_serializable()
class LogCosh(LossFunctionWrapper):
    """mean(log(cosh(y_pred - y_true))) over the last axis, computed without overflow."""

    def __init__(self, reduction="sum_over_batch_size", name="log_cosh", dtype=None):
        super().__init__(log_cosh, reduction=reduction, name=name, dtype=dtype)


@register_serializable()
class Poisson(LossFunctionWrapper):
    """mean(y_pred - y_true * log(y_pred + 1e-7)) over the last axis."""

    def __init__(self, reduction="sum_over_batch_size", name="poisson", dtype=None):
        super().__init__(poisson, reduction=reduction, name=name, dtype=dtype)


@register_serializable()
class Hinge(LossFunctionWrapper):
    """mean(max(1 - y_true * y_pred, 0)) over the last axis; 0/1 labels become -1/1."""

    def __init__(self, reduction="sum_over_batch_size", name="hinge", dtype=None):
        super().__init__(hinge, reduction=reduction, name=name, dtype=dtype)


@register_serializable()
class SquaredHinge(LossFunctionWrapper):
    """mean(max(1 - y_true * y_pred, 0) ** 2) over the last axis; 0/1 labels become -1/1."""

    def __init__(self, reduction="sum_over_batch_size", name="squared_hinge", dtype=None):
        super().__init__(squared_hinge, reduction=reduction, name=name, dtype=dtype)


@register_serializable()
class CategoricalHinge(LossFunctionWrapper):
    """max(max((1 - y_true) * y_pred) - sum(y_true * y_pred) + 1, 0) per sample."""

    def __init__(self, reduction="sum_over_batch_size", name="categorical_hinge", dtype=None):
        super().__init__(categorical_hinge, reduction=reduction, name=name, dtype=dtype)


@register_serializable()
class BinaryFocalCrossentropy(LossFunctionWrapper):
    """(1 - p_t)^gamma * binary crossentropy, optionally class-balanced by alpha; mean over `axis`."""

    def __init__(self, apply_class_balancing=False, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0,
                 axis=-1, reduction="sum_over_batch_size", name="binary_focal_crossentropy", dtype=None):
        super().__init__(binary_focal_crossentropy, reduction=reduction, name=name, dtype=dtype,
                         apply_class_balancing=apply_class_balancing, alpha=alpha, gamma=gamma,
                         from_logits=from_logits, label_smoothing=label_smoothing, axis=axis)
        self.apply_class_balancing, self.alpha, self.gamma = apply_class_balancing, alpha, gamma
        self.from_logits, self.label_smoothing, self.axis = from_logits, label_smoothing, axis

    def get_config(self):
        return {**super().get_config(), "apply_class_balancing": self.apply_class_balancing, "alpha": self.alpha,
                "gamma": self.gamma, "from_logits": self.from_logits, "label_smoothing": self.label_smoothing,
                "axis": self.axis}


@register_serializable()
class CategoricalFocalCrossentropy(LossFunctionWrapper):
    """sum(alpha * (1 - p)^gamma * -y_true log p) over `axis` (Lin et al.'s focal loss, Keras's form)."""

    def __init__(self, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0, axis=-1,
                 reduction="sum_over_batch_size", name="categorical_focal_crossentropy", dtype=None):
        super().__init__(categorical_focal_crossentropy, reduction=reduction, name=name, dtype=dtype, alpha=alpha,
                         gamma=gamma, from_logits=from_logits, label_smoothing=label_smoothing, axis=axis)
        self.alpha, self.gamma, self.from_logits = alpha, gamma, from_logits
        self.label_smoothing, self.axis = label_smoothing, axis

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits, "label_smoothing": self.label_smoothing,
                "axis": self.axis, "alpha": self.alpha, "gamma": self.gamma}


@register_serializable()
class Dice(LossFunctionWrapper):
    """1 - 2 sum(y_true y_pred) / (sum(y_true) + sum(y_pred) + 1e-7), over `axis` (all axes when None)."""

    def __init__(self, reduction="sum_over_batch_size", name="dice", axis=None, dtype=None):
        super().__init__(dice, reduction=reduction, name=name, dtype=dtype, axis=axis)
        self.axis = axis

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


@register_serializable()
class Tversky(LossFunctionWrapper):
    """1 - tp / (tp + alpha fp + beta fn + 1e-7) with soft counts over `axis` (Dice when both are 0.5)."""

    def __init__(self, alpha=0.5, beta=0.5, reduction="sum_over_batch_size", name="tversky", axis=None, dtype=None):
        super().__init__(tversky, reduction=reduction, name=name, dtype=dtype, alpha=alpha, beta=beta, axis=axis)
        self.alpha, self.beta, self.axis = alpha, beta, axis

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha, "beta": self.beta, "axis": self.axis}


@register_serializable()
class CTC(LossFunctionWrapper):
    """Connectionist temporal classification: y_true (batch, max_length) integer labels with 0 the blank and
    padding; y_pred (batch, steps, classes) logits. All output steps count."""

    def __init__(self, reduction="sum_over_batch_size", name="ctc", dtype=None):
        super().__init__(ctc, reduction=reduction, name=name, dtype=dtype)


@register_serializable()
class Circle(LossFunctionWrapper):
    """Circle loss (Sun et al. 2020) over the batch's pairwise cosine distances of L2-normalized embeddings:
    y_true integer labels (batch,), y_pred embeddings (batch, dim). Samples with a zero loss are masked out
    of the reduction, as in Keras."""

    def __init__(self, gamma=80.0, margin=0.4, remove_diagonal=True, reduction="sum_over_batch_size",
                 name="circle", dtype=None):
        super().__init__(circle, reduction=reduction, name=name, dtype=dtype, gamma=gamma, margin=margin,
                         remove_diagonal=remove_diagonal)
        self.gamma, self.margin, self.remove_diagonal = gamma, margin, remove_diagonal

    def _call_with_mask(self, y_true, y_pred):
        values = self.call(y_true, y_pred)
        return values, values._keras_mask

    def get_config(self):
        return {**super().get_config(), "gamma": self.gamma, "margin": self.margin,
                "remove_diagonal": self.remove_diagonal}


@register_serializable()
class CategoricalGeneralizedCrossEntropy(LossFunctionWrapper):
    """(1 - p^q) / q with p the predicted probability of the true class (Zhang & Sabuncu 2018): y_true integer
    class indices, y_pred probabilities; q in (0, 1) moves it from cross-entropy (q -> 0) to MAE (q -> 1)."""

    def __init__(self, q=0.5, reduction="sum_over_batch_size", name="categorical_generalized_cross_entropy",
                 dtype=None):
        if not 0 < q < 1:
            raise ValueError(f"q must be in the interval (0, 1), got {q!r}")
        super().__init__(categorical_generalized_cross_entropy, reduction=reduction, name=name, dtype=dtype, q=q)
        self.q = q

    def get_config(self):
        return {**super().get_config(), "q": self.q}


# -- function forms: one loss value per sample ---------------------------------------------------
def mean_squared_error(y_true, y_pred):
    """mean((y_true - y_pred) ** 2, axis=-1)."""
    y_true, y_pred = _pair(y_true, y_pred)
    return ops.mean(ops.square(y_pred - y_true), axis=-1)


def mean_absolute_error(y_true, y_pred):
    """mean(|y_true - y_pred|, axis=-1)."""
    y_true, y_pred = _pair(y_true, y_pred)
    return ops.mean(ops.abs(y_pred - y_true), axis=-1)


def huber(y_true, y_pred, delta=1.0):
    """Huber loss, mean over the last axis."""
    y_true, y_pred = _pair(y_true, y_pred)
    error = y_pred - y_true
    abs_error = ops.abs(error)
    quadratic = 0.5 * ops.square(error)
    linear = delta * abs_error - 0.5 * delta * delta
    return ops.mean(ops.where(abs_error.data <= delta, quadratic, linear), axis=-1)


def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """Binary crossentropy, mean over `axis`; logits use max(x, 0) - x t + log(1 + exp(-|x|))."""
    y_true, y_pred = _pair(y_true, y_pred)
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing
    if from_logits:
        x = y_pred
        per_element = ops.relu(x) - x * y_true + ops.log1p(ops.exp(-ops.abs(x)))
    else:
        p = ops.clip(y_pred, EPSILON, 1.0 - EPSILON)
        per_element = -(y_true * ops.log(p) + (1.0 - y_true) * ops.log(1.0 - p))
    return ops.mean(per_element, axis=axis)


def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """-sum(y_true * log(p), axis); probabilities are renormalised and clipped to [1e-7, 1 - 1e-7]."""
    if isinstance(axis, bool):
        raise ValueError(f"categorical_crossentropy: axis must be an int, got {axis!r}")
    y_pred = _pred(y_pred)
    if from_logits and not label_smoothing and axis in (-1, y_pred.ndim - 1):
        labels = _one_hot_labels(y_true, y_pred)
        if labels is not None:
            return ops.sparse_softmax_cross_entropy(y_pred, labels)
    y_true, y_pred = _pair(y_true, y_pred)
    if tuple(y_true.shape) != tuple(y_pred.shape):
        raise ValueError(f"categorical_crossentropy: y_true of shape {tuple(y_true.shape)} does not match "
                         f"y_pred of shape {tuple(y_pred.shape)}; for integer labels use "
                         "sparse_categorical_crossentropy")
    if label_smoothing:
        classes = y_true.shape[axis]
        y_true = y_true * (1.0 - label_smoothing) + label_smoothing / classes
    if from_logits:
        log_prob = ops.log_softmax(y_pred, axis=axis)
    else:
        p = y_pred / ops.sum(y_pred, axis=axis, keepdims=True)
        log_prob = ops.log(ops.clip(p, EPSILON, 1.0 - EPSILON))
    return -ops.sum(y_true * log_prob, axis=axis)


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, ignore_class=None, axis=-1):
    """-log(p[label]) per sample for integer labels; ignored labels give 0."""
    if axis not in (-1, _pred(y_pred).ndim - 1):
        raise ValueError("sparse_categorical_crossentropy supports only axis=-1 (the class axis last)")
    return _sparse_xent(y_true, y_pred, from_logits, ignore_class)[0]


def kl_divergence(y_true, y_pred):
    """sum(t * log(t / p), axis=-1) with both clipped to [1e-7, 1]."""
    y_true, y_pred = _pair(y_true, y_pred)
    t = ops.clip(y_true, EPSILON, 1.0)
    p = ops.clip(y_pred, EPSILON, 1.0)
    return ops.sum(t * ops.log(t / p), axis=-1)


def cosine_similarity(y_true, y_pred, axis=-1):
    """-sum(l2_normalize(y_true) * l2_normalize(y_pred), axis)."""
    y_true, y_pred = _pair(y_true, y_pred)
    return -ops.sum(_l2_normalize(y_true, axis) * _l2_normalize(y_pred, axis), axis=axis)


def mean_absolute_percentage_error(y_true, y_pred):
    """100 * mean(|y_true - y_pred| / max(|y_true|, 1e-7), axis=-1)."""
    y_true, y_pred = _pair(y_true, y_pred)
    diff = ops.abs(y_true - y_pred) / ops.maximum(ops.abs(y_true), EPSILON)
    return 100.0 * ops.mean(diff, axis=-1)


def mean_squared_logarithmic_error(y_true, y_pred):
    """mean((log(max(y_pred, 1e-7) + 1) - log(max(y_true, 1e-7) + 1)) ** 2, axis=-1)."""
    y_true, y_pred = _pair(y_true, y_pred)
    first = ops.log(ops.maximum(y_pred, EPSILON) + 1.0)
    second = ops.log(ops.maximum(y_true, EPSILON) + 1.0)
    return ops.mean(ops.square(first - second), axis=-1)


def log_cosh(y_true, y_pred):
    """mean(log(cosh(y_pred - y_true)), axis=-1) as x + softplus(-2x) - log(2)."""
    y_true, y_pred = _pair(y_true, y_pred)
    x = y_pred - y_true
    return ops.mean(x + ops.softplus(x * -2.0) - float(np.log(2.0)), axis=-1)


def poisson(y_true, y_pred):
    """mean(y_pred - y_true * log(y_pred + 1e-7), axis=-1)."""
    y_true, y_pred = _pair(y_true, y_pred)
    return ops.mean(y_pred - y_true * ops.log(y_pred + EPSILON), axis=-1)


def hinge(y_true, y_pred):
    """mean(max(1 - y_true * y_pred, 0), axis=-1), 0/1 labels taken as -1/1."""
    y_true, y_pred = _pair(y_true, y_pred)
    return ops.mean(ops.relu(1.0 - _hinge_labels(y_true) * y_pred), axis=-1)


def squared_hinge(y_true, y_pred):
    """mean(max(1 - y_true * y_pred, 0) ** 2, axis=-1), 0/1 labels taken as -1/1."""
    y_true, y_pred = _pair(y_true, y_pred)
    return ops.mean(ops.square(ops.relu(1.0 - _hinge_labels(y_true) * y_pred)), axis=-1)


def categorical_hinge(y_true, y_pred):
    """max(max((1 - y_true) * y_pred, axis=-1) - sum(y_true * y_pred, axis=-1) + 1, 0)."""
    y_true, y_pred = _pair(y_true, y_pred)
    pos = ops.sum(y_true * y_pred, axis=-1)
    neg = ops.max((1.0 - y_true) * y_pred, axis=-1)
    return ops.relu(neg - pos + 1.0)


def binary_focal_crossentropy(y_true, y_pred, apply_class_balancing=False, alpha=0.25, gamma=2.0, from_logits=False,
                              label_smoothing=0.0, axis=-1):
    """Binary crossentropy on clipped probabilities times the focal factor (1 - p_t)^gamma, mean over `axis`."""
    y_true, y_pred = _pair(y_true, y_pred)
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing
    if from_logits:
        y_pred = ops.sigmoid(y_pred)
    p = ops.clip(y_pred, EPSILON, 1.0 - EPSILON)
    bce = -(y_true * ops.log(p) + (1.0 - y_true) * ops.log(1.0 - p))
    p_t = y_true * y_pred + (1.0 - y_true) * (1.0 - y_pred)
    focal = ops.power(1.0 - p_t, float(gamma)) * bce
    if apply_class_balancing:
        focal = (y_true * alpha + (1.0 - y_true) * (1.0 - alpha)) * focal
    return ops.mean(focal, axis=axis)


def categorical_focal_crossentropy(y_true, y_pred, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0,
                                   axis=-1):
    """sum(alpha (1 - p)^gamma * -y_true log p, axis) with p renormalised and clipped to [1e-7, 1 - 1e-7]."""
    y_true, y_pred = _pair(y_true, y_pred)
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + label_smoothing / y_true.shape[axis]
    if from_logits:
        y_pred = ops.softmax(y_pred, axis=axis)
    p = ops.clip(y_pred / ops.sum(y_pred, axis=axis, keepdims=True), EPSILON, 1.0 - EPSILON)
    cce = -y_true * ops.log(p)
    return ops.sum(ops.power(1.0 - p, float(gamma)) * alpha * cce, axis=axis)


def dice(y_true, y_pred, axis=None):
    """1 - 2 sum(y_true y_pred) / (sum(y_true) + sum(y_pred) + 1e-7) over `axis`."""
    y_true, y_pred = _pair(y_true, y_pred)
    intersection = ops.sum(y_true * y_pred, axis=axis)
    return 1.0 - 2.0 * intersection / (ops.sum(y_true, axis=axis) + ops.sum(y_pred, axis=axis) + EPSILON)


def tversky(y_true, y_pred, alpha=0.5, beta=0.5, axis=None):
    """1 - tp / (tp + alpha fp + beta fn + 1e-7), with tp = sum(t p), fp = sum((1 - p) t), fn = sum(p (1 - t))."""
    y_true, y_pred = _pair(y_true, y_pred)
    tp = ops.sum(y_true * y_pred, axis=axis)
    fp = ops.sum((1.0 - y_pred) * y_true, axis=axis)
    fn = ops.sum(y_pred * (1.0 - y_true), axis=axis)
    return 1.0 - tp / (tp + fp * alpha + fn * beta + EPSILON)


def ctc(y_true, y_pred):
    """CTC loss per sample: y_true (batch, max_length) integer labels, 0 the blank/padding; y_pred logits
    (batch, steps, classes); every output step is used and the label length is the count of nonzero labels."""
    y_pred = _pred(y_pred)
    y_true = as_tensor(y_true)
    if y_true.ndim != 2:
        raise ValueError(f"ctc: y_true must be (batch_size, max_length) integer labels, got shape {y_true.shape}")
    if y_pred.ndim != 3:
        raise ValueError(f"ctc: y_pred must be (batch_size, max_length, num_classes) logits, got shape "
                         f"{y_pred.shape}")
    y_true = ops.cast(y_true, "int32")
    batch, steps = y_pred.shape[0], y_pred.shape[1]
    label_length = ops.cast(ops.sum(ops.cast(ops.not_equal(y_true, 0), "int32"), axis=-1), "int32")
    return ops.ctc_loss(y_true, y_pred, label_length, ops.full((batch,), steps, dtype="int32"), mask_index=0)


def circle(y_true, y_pred, ref_labels=None, ref_embeddings=None, remove_diagonal=True, gamma=80, margin=0.4):
    """Circle loss per query: y_true integer labels, y_pred L2-normalized embeddings; against ref_embeddings
    / ref_labels (default: the batch itself, without self-pairs when remove_diagonal). The result carries a
    `_keras_mask` of the nonzero losses, which the Circle class reduces over, as Keras does."""
    y_pred = _pred(y_pred)
    y_true = ops.cast(as_tensor(y_true), "int32")
    ref_embeddings = y_pred if ref_embeddings is None else _pred(ref_embeddings, y_pred.dtype)
    ref_labels = y_true if ref_labels is None else ops.cast(as_tensor(ref_labels), "int32")
    distances = ops.maximum(1.0 - ops.matmul(y_pred, ops.transpose(ref_embeddings)), 0.0)
    query = ops.reshape(y_true, (-1, 1))
    key = ops.reshape(ref_labels, (-1, 1))
    positive = ops.equal(query, ops.transpose(key))
    negative = ops.logical_not(positive)
    if remove_diagonal:
        positive = ops.logical_and(positive, ops.logical_not(ops.eye(query.shape[0], key.shape[0], dtype="bool")))
    pos_f, neg_f = ops.cast(positive, distances.dtype), ops.cast(negative, distances.dtype)
    pos_weights = ops.maximum((margin + distances) * pos_f, 0.0)
    neg_weights = ops.maximum((1.0 + margin - distances) * neg_f, 0.0)
    pos_wdists = -1.0 * gamma * pos_weights * (margin - distances)
    neg_wdists = gamma * neg_weights * ((1.0 - margin) - distances)
    p_loss = ops.logsumexp(ops.where(positive, pos_wdists, float("-inf")), axis=1)
    n_loss = ops.logsumexp(ops.where(negative, neg_wdists, float("-inf")), axis=1)
    loss = ops.softplus(p_loss + n_loss)
    loss._keras_mask = ops.greater(loss, 0.0).data
    return loss


def categorical_generalized_cross_entropy(y_true, y_pred, q):
    """(1 - p^q) / q per sample, p = y_pred at the integer label y_true."""
    y_pred = _pred(y_pred)
    labels = ops.cast(ops.reshape(as_tensor(y_true), (-1,)) if as_tensor(y_true).ndim > 1 else as_tensor(y_true),
                      "int32")
    p = ops.sum(y_pred * ops.cast(ops.one_hot(labels, y_pred.shape[-1]), y_pred.dtype), axis=-1)
    return (1.0 - ops.power(p, q)) / q


# -- reduction (Keras's reduce_weighted_values) ----------------------------------------------------
def fold_keras_mask(mask, keras_mask, values):
    """`mask` and the predictions' `_keras_mask` (padding steps from Embedding(mask_zero)/Masking) as one
    boolean mask of the per-step values they both fit, as Keras masks losses and metrics."""
    if keras_mask is None:
        return mask
    keras_mask = keras_mask.data if isinstance(keras_mask, Tensor) else keras_mask
    if tuple(keras_mask.shape) != tuple(values.shape):
        return mask
    keras_mask = keras_mask.astype(bool)
    return keras_mask if mask is None else (mask & keras_mask)


def reduce_weighted_values(values, sample_weight=None, mask=None, reduction="sum_over_batch_size"):
    """Weight per-sample losses and reduce them as Keras does (mask folded into the weights)."""
    if reduction not in _REDUCTIONS:
        raise ValueError(f"invalid reduction {reduction!r}: expected one of {_REDUCTIONS}")
    xp = array_module(values.data)
    dtype = values.dtype
    weight = None
    if sample_weight is not None:
        raw = sample_weight.data if isinstance(sample_weight, Tensor) else sample_weight
        weight = xp.asarray(raw, dtype=dtype) if xp is not np else np.asarray(raw, dtype=dtype)
    if mask is not None:
        m = mask.astype(dtype)
        if reduction in ("mean", "sum_over_batch_size"):
            valid = m.sum()  # stays on the device: no host sync per batch
            m = m * xp.where(valid > 0, m.size / xp.where(valid > 0, valid, 1), 0).astype(dtype)
        if weight is None:
            weight = m
        else:
            m, weight = _same_rank(m, weight)
            weight = weight * m
    if weight is not None:
        values, weight = _same_rank(values, weight)
        if weight.ndim < values.ndim:
            weight = weight.reshape(weight.shape + (1,) * (values.ndim - weight.ndim))
        try:
            values = values * Tensor._wrap(weight, False)
        except ValueError:
            raise ValueError(f"sample_weight of shape {tuple(weight.shape)} does not fit losses of shape "
                             f"{tuple(values.shape)}: expected one weight per sample") from None
    if reduction in (None, "none") or values.ndim == 0 or tuple(values.shape) == (0,):
        return values
    total = ops.sum(values)
    if reduction == "sum":
        return total
    if reduction == "mean_with_sample_weight" and weight is not None:
        divisor = float(weight.sum())
        return total / divisor if divisor else total * 0.0
    return total / values.size if values.size else total


# -- lookup and serialization ----------------------------------------------------------------------
_CLASSES = {cls.__name__: cls for cls in (
    MeanSquaredError, MeanAbsoluteError, Huber, BinaryCrossentropy, CategoricalCrossentropy,
    SparseCategoricalCrossentropy, KLDivergence, CosineSimilarity, LossFunctionWrapper, MeanAbsolutePercentageError,
    MeanSquaredLogarithmicError, LogCosh, Poisson, Hinge, SquaredHinge, CategoricalHinge, BinaryFocalCrossentropy,
    CategoricalFocalCrossentropy, Dice, Tversky, CTC, Circle, CategoricalGeneralizedCrossEntropy)}
_ALIASES = {
    "mean_squared_error": MeanSquaredError, "mse": MeanSquaredError, "MSE": MeanSquaredError,
    "mean_absolute_error": MeanAbsoluteError, "mae": MeanAbsoluteError, "MAE": MeanAbsoluteError,
    "huber": Huber, "huber_loss": Huber,
    "binary_crossentropy": BinaryCrossentropy, "bce": BinaryCrossentropy, "BCE": BinaryCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "kl_divergence": KLDivergence, "kld": KLDivergence, "KLD": KLDivergence,
    "kullback_leibler_divergence": KLDivergence,
    "cosine_similarity": CosineSimilarity,
    "mean_absolute_percentage_error": MeanAbsolutePercentageError, "mape": MeanAbsolutePercentageError,
    "MAPE": MeanAbsolutePercentageError,
    "mean_squared_logarithmic_error": MeanSquaredLogarithmicError, "msle": MeanSquaredLogarithmicError,
    "MSLE": MeanSquaredLogarithmicError,
    "log_cosh": LogCosh, "logcosh": LogCosh, "poisson": Poisson, "hinge": Hinge, "squared_hinge": SquaredHinge,
    "categorical_hinge": CategoricalHinge, "binary_focal_crossentropy": BinaryFocalCrossentropy,
    "categorical_focal_crossentropy": CategoricalFocalCrossentropy, "dice": Dice, "tversky": Tversky,
    "ctc": CTC, "circle": Circle,  # Keras's get knows these two names, not categorical_generalized_cross_entropy
}
_FUNCTIONS = {fn.__name__: fn for fn in (
    mean_squared_error, mean_absolute_error, huber, binary_crossentropy, categorical_crossentropy,
    sparse_categorical_crossentropy, kl_divergence, cosine_similarity, mean_absolute_percentage_error,
    mean_squared_logarithmic_error, log_cosh, poisson, hinge, squared_hinge, categorical_hinge,
    binary_focal_crossentropy, categorical_focal_crossentropy, dice, tversky, ctc, circle,
    categorical_generalized_cross_entropy)}


def get(identifier):
    """A Loss from a Keras name ('mse', 'categorical_crossentropy', 'Huber'), config, instance or callable."""
    if identifier is None:
        return None
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier()
    if isinstance(identifier, str):
        cls = _ALIASES.get(identifier)
        if cls is None and identifier in _CLASSES and identifier != "LossFunctionWrapper":
            cls = _CLASSES[identifier]
        if cls is None:
            raise ValueError(f"unknown loss {identifier!r}; known: {', '.join(sorted(_ALIASES))}")
        return cls()
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if callable(identifier):
        return LossFunctionWrapper(identifier, name=getattr(identifier, "__name__", None))
    raise ValueError(f"could not interpret loss {identifier!r}: expected a name, a Loss, a config or a callable")


def deserialize(config, custom_objects=None):
    """Build a loss from a config dict (class names of this module first) or a name."""
    if isinstance(config, str):
        if custom_objects and config in custom_objects:
            return get(custom_objects[config])
        return get(config)
    return deserialize_preferring(_CLASSES, config, custom_objects)


# -- helpers ---------------------------------------------------------------------------------------
def _sparse_xent(y_true, y_pred, from_logits, ignore_class):
    """Per-sample sparse crossentropy and the mask of counted samples (None without ignore_class)."""
    y_pred = _pred(y_pred)
    labels = _label_array(y_true, y_pred)
    if labels.ndim == y_pred.ndim and labels.shape[-1] == 1:
        labels = labels.reshape(labels.shape[:-1])
    if tuple(labels.shape) != tuple(y_pred.shape[:-1]):
        raise ValueError(f"sparse_categorical_crossentropy: labels of shape {tuple(labels.shape)} do not match "
                         f"predictions of shape {tuple(y_pred.shape)} (expected labels of shape "
                         f"{tuple(y_pred.shape[:-1])} or {tuple(y_pred.shape[:-1]) + (1,)})")
    mask = None
    if ignore_class is not None:
        mask = labels != ignore_class
        labels = labels * mask
    if from_logits:
        values = ops.sparse_softmax_cross_entropy(y_pred, labels)
    else:
        values = ops.sparse_probability_cross_entropy(y_pred, labels, epsilon=EPSILON)
    if mask is not None:
        values = ops.where(Tensor._wrap(mask, False), values, 0.0)
    return values, mask


def _label_array(y_true, like):
    """Integer labels as a raw int64 array on `like`'s device."""
    raw = y_true.data if isinstance(y_true, Tensor) else y_true
    xp = array_module(like.data)
    if xp is np:
        raw = np.asarray(raw.get() if hasattr(raw, "get") else raw)
    else:
        raw = xp.asarray(raw)
    if raw.dtype.kind == "f":
        raw = raw.astype(xp.int64)
    elif raw.dtype.kind not in "iu":
        raise TypeError(f"integer class labels expected, got dtype {raw.dtype}")
    return raw.astype(xp.int64, copy=False)


def _one_hot_labels(y_true, y_pred):
    """Integer labels when y_true is a constant exact one-hot array shaped like y_pred, else None."""
    if isinstance(y_true, Tensor) and y_true.requires_grad:
        return None
    raw = y_true.data if isinstance(y_true, Tensor) else y_true
    if not hasattr(raw, "shape"):
        raw = np.asarray(raw)
    if tuple(raw.shape) != tuple(y_pred.shape) or raw.shape[-1] < 1:
        return None
    xp = array_module(raw)
    if xp is not np:
        return None  # deciding on the device would cost a host sync every batch: take the general path
    ones = raw == 1
    if not bool(xp.all((raw == 0) | ones)) or not bool(xp.all(ones.sum(axis=-1) == 1)):
        return None
    labels = ones.argmax(axis=-1)
    if array_module(y_pred.data) is not xp:
        labels = backend.to_device(labels, y_pred.device)
    return labels


def _pred(y_pred, dtype=None):
    """Predictions as a floating Tensor."""
    if not isinstance(y_pred, Tensor):
        y_pred = as_tensor(y_pred if hasattr(y_pred, "dtype") else np.asarray(y_pred))
        if y_pred.dtype.kind != "f":
            y_pred = Tensor._wrap(y_pred.data.astype(backend.default_dtype()), False)
    if dtype is not None and y_pred.dtype != np.dtype(dtype):
        y_pred = ops.cast(y_pred, np.dtype(dtype))
    return y_pred


def _true(y_true, like):
    """Targets as a Tensor on `like`'s device with `like`'s dtype (cast keeps the graph if it has one)."""
    if isinstance(y_true, Tensor):
        if y_true.dtype == like.dtype:
            return y_true
        if y_true.requires_grad:
            return ops.cast(y_true, like.dtype)
        return Tensor._wrap(y_true.data.astype(like.dtype), False)
    raw = y_true if hasattr(y_true, "dtype") and hasattr(y_true, "shape") else np.asarray(y_true)
    t = as_tensor(raw, like=like)
    if t.dtype != like.dtype:
        t = Tensor._wrap(t.data.astype(like.dtype), False)
    return t


def _pair(y_true, y_pred):
    """(y_true, y_pred) as Tensors of one dtype, ranks aligned as Keras's squeeze_or_expand_to_same_rank."""
    y_pred = _pred(y_pred)
    y_true = _true(y_true, y_pred)
    return _same_rank(y_true, y_pred)


def _same_rank(x1, x2, expand_rank_1=True):
    """Squeeze or expand a trailing axis of size 1 when the ranks differ by exactly one (Keras's rule)."""
    r1, r2 = x1.ndim, x2.ndim
    if r1 == r2:
        return x1, x2
    if r1 == r2 + 1 and x1.shape[-1] == 1:
        if r2 == 1 and expand_rank_1:
            x2 = x2.reshape(tuple(x2.shape) + (1,))
        else:
            x1 = x1.reshape(tuple(x1.shape[:-1]))
    if r2 == r1 + 1 and x2.shape[-1] == 1:
        if r1 == 1 and expand_rank_1:
            x1 = x1.reshape(tuple(x1.shape) + (1,))
        else:
            x2 = x2.reshape(tuple(x2.shape[:-1]))
    return x1, x2


def _hinge_labels(y_true):
    """Binary 0/1 labels mapped to -1/1 (other labels kept), as Keras's hinge losses."""
    raw = y_true.data
    xp = array_module(raw)
    binary = xp.all((raw == 0) | (raw == 1))  # decided on the device: no host sync per batch
    return ops.where(Tensor._wrap(binary, False), y_true * 2.0 - 1.0, y_true)


def _l2_normalize(x, axis):
    """x / sqrt(max(sum(x ** 2), 1e-7)) along `axis` (Keras's ops.normalize)."""
    square_sum = ops.sum(ops.square(x), axis=axis, keepdims=True)
    return x / ops.sqrt(ops.maximum(square_sum, EPSILON))


def _snake(name):
    """CamelCase -> snake_case."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _fn_name(fn):
    """A function's serializable name (registered or module-level)."""
    return getattr(fn, "__name__", repr(fn))


def _registered_function(name):
    """A loss function by name from the global registry, or a clear error."""
    try:
        return get_registered(name)
    except KeyError:
        raise ValueError(f"unknown loss function {name!r}; known: {sorted(_FUNCTIONS)}") from None

