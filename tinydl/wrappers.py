"""keras.wrappers: tinydl models as scikit-learn estimators (scikit-learn is an optional dependency).

`model` is a function `model(X, y, **model_kwargs)` returning a compiled model (built for the data it
is given), or a compiled Model, which `fit` clones: a clone is not compiled, so, as in Keras, a Model
instance fails with a clear error and the function form is the one to use.
"""
import copy

import numpy as np

from tinydl.models import Model, clone_model

try:  # optional dependency: the wrappers only exist for scikit-learn users
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, TransformerMixin
    from sklearn.utils.multiclass import type_of_target
    from sklearn.utils.validation import check_is_fitted, validate_data
    SKLEARN_AVAILABLE = True
except ImportError:
    SKLEARN_AVAILABLE = False

    class BaseEstimator:
        pass

    class ClassifierMixin:
        pass

    class RegressorMixin:
        pass

    class TransformerMixin:
        pass

__all__ = ["SKLearnClassifier", "SKLearnRegressor", "SKLearnTransformer"]


class SKLBase(BaseEstimator):
    """Shared fit/predict: validate the data, build the model, fit it, undo the target encoding."""

    def __init__(self, model, warm_start=False, model_kwargs=None, fit_kwargs=None):
        if not SKLEARN_AVAILABLE:
            raise ImportError("tinydl.wrappers need scikit-learn: pip install scikit-learn (or tinydl[sklearn])")
        self.model = model
        self.warm_start = warm_start
        self.model_kwargs = model_kwargs
        self.fit_kwargs = fit_kwargs

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = True
        return tags

    def __sklearn_clone__(self):
        model = self.model if callable(self.model) else copy.deepcopy(self.model)
        return type(self)(model=model, warm_start=self.warm_start, model_kwargs=self.model_kwargs,
                          fit_kwargs=self.fit_kwargs)

    @property
    def epoch_(self):
        """The number of epochs trained so far."""
        history = getattr(self, "history_", None)
        return len(history.epoch) if history is not None else 0

    def fit(self, X, y, **kwargs):
        """Fit the model on (X, y); `kwargs` go to `model.fit` after `fit_kwargs`."""
        classifier = isinstance(self, ClassifierMixin)  # one label column; regressors take several targets
        X, y = validate_data(self, X, y, multi_output=not classifier, y_numeric=not classifier)
        y = self._process_target(y, reset=True)
        model = self.model_ if self.warm_start and hasattr(self, "model_") else self._get_model(X, y)
        if not getattr(model, "compiled", False):
            raise RuntimeError("Given model needs to be compiled, and have a loss and an optimizer.")
        fit_kwargs = dict(self.fit_kwargs or {})
        fit_kwargs.update(kwargs)
        self.history_ = model.fit(X, y, **fit_kwargs)
        self.model_ = model
        return self

    def predict(self, X):
        """The model's predictions in the targets' original form."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        return self._reverse_process_target(np.asarray(self.model_.predict(X, verbose=0)))

    def _get_model(self, X, y):
        if isinstance(self.model, Model):
            return clone_model(self.model)
        return self.model(X=X, y=y, **(self.model_kwargs or {}))

    def _process_target(self, y, reset=False):
        """Targets as 2-D float arrays (the 1-D-ness remembered to undo it)."""
        type_of_target(y, raise_unknown=True)
        y = np.asarray(y)
        if reset:
            self.target_ndim_ = y.ndim
        return y.reshape(-1, 1) if y.ndim == 1 else y

    def _reverse_process_target(self, y):
        return y.reshape(-1) if self.target_ndim_ == 1 and y.ndim == 2 and y.shape[1] == 1 else y


class SKLearnClassifier(ClassifierMixin, SKLBase):
    """A classifier: labels are one-hot encoded for the model; `predict` gives labels back, `classes_` lists them."""

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.poor_score = True
        return tags

    def decision_function(self, X):
        """The model's raw outputs."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        return np.asarray(self.model_.predict(X, verbose=0))

    def _process_target(self, y, reset=False):
        target_type = type_of_target(y, raise_unknown=True)
        if target_type not in ("binary", "multiclass"):
            raise ValueError(f"Only binary and multiclass target types are supported. Target type: {target_type}")
        y = np.asarray(y).reshape(-1)
        if reset:
            self.classes_ = np.unique(y)
            if len(self.classes_) == 1:
                raise ValueError("Classifier can't train when only one class is present.")
        return (y[:, None] == self.classes_[None, :]).astype("float32")

    def _reverse_process_target(self, y):
        return self.classes_[np.argmax(y, axis=-1)]


class SKLearnRegressor(RegressorMixin, SKLBase):
    """A regressor: `predict` returns 1-D predictions for 1-D targets."""

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.regressor_tags.poor_score = True
        tags.target_tags.multi_output = True
        return tags

    def _reverse_process_target(self, y):
        return super()._reverse_process_target(y).astype(np.float64)  # scikit-learn's regressors predict float64


class SKLearnTransformer(TransformerMixin, SKLBase):
    """A transformer: `transform(X)` is the fitted model's output (e.g. an encoder's features)."""

    def transform(self, X):
        """The model's output for X."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        return np.asarray(self.model_.predict(X, verbose=0))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = []
        tags.target_tags.multi_output = True
        return tags
