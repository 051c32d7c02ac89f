"""DistillationLoss, LogitsDistillation and FeatureDistillation (Keras 3.15's semantics)."""
import inspect

from tinydl import losses, ops, tree

# Keras's `losses.get` turns a function's name (or its short alias) into the function itself, not a Loss
# object: `LogitsDistillation(loss="kl_divergence")` therefore applies kl_divergence to the tempered logits
# (no softmax), exactly as Keras does; only a KLDivergence *object* gets the softmax path.
_FUNCTION_ALIASES = {"mse": "mean_squared_error", "MSE": "mean_squared_error", "mae": "mean_absolute_error",
                     "MAE": "mean_absolute_error", "mape": "mean_absolute_percentage_error",
                     "MAPE": "mean_absolute_percentage_error", "msle": "mean_squared_logarithmic_error",
                     "MSLE": "mean_squared_logarithmic_error", "kld": "kl_divergence", "KLD": "kl_divergence",
                     "kullback_leibler_divergence": "kl_divergence", "logcosh": "log_cosh"}


def _convert_loss_to_function(loss_item):
    """A loss name -> the loss (function for a function name, object for a class name); others unchanged."""
    if loss_item is None or not isinstance(loss_item, str):
        return loss_item
    fn = getattr(losses, _FUNCTION_ALIASES.get(loss_item, loss_item), None)
    if inspect.isfunction(fn) and not loss_item.startswith("_") and loss_item not in ("get", "serialize",
                                                                                      "deserialize"):
        return fn
    try:
        loss_fn = losses.get(loss_item)
    except ValueError:
        loss_fn = None
    if loss_fn is None:
        raise ValueError(f"Unknown loss function: '{loss_item}'.")
    return loss_fn


def _serialize_loss(loss):
    def one(item):
        if item is None or isinstance(item, str):
            return item
        if inspect.isfunction(item):
            return item.__name__
        return losses.serialize(item)
    return tree.map_structure(one, loss)


def _deserialize_loss(config):
    if isinstance(config, dict) and "class_name" in config:
        return losses.deserialize(config)
    if isinstance(config, (list, tuple)):
        return [_deserialize_loss(c) for c in config]
    if isinstance(config, dict):
        return {k: _deserialize_loss(v) for k, v in config.items()}
    return config


def _check_losses(loss, message):
    if all(item is None for item in tree.flatten(loss)):
        raise ValueError(message)


def _total(loss_values):
    flat = tree.flatten(loss_values)
    return ops.sum(ops.stack([ops.convert_to_tensor(v, dtype="float32") if isinstance(v, float) else v
                              for v in flat]))


class DistillationLoss:
    """Base class: how a student's outputs are compared with the teacher's (override `compute_loss`)."""

    def compute_loss(self, teacher_outputs, student_outputs, **kwargs):
        raise NotImplementedError("Subclasses must implement compute_loss")

    def validate_outputs(self, teacher_outputs, student_outputs):
        tree.assert_same_structure(teacher_outputs, student_outputs)

    def validate_model_compatibility(self, teacher, student):
        pass


class FeatureDistillation(DistillationLoss):
    """`loss` (default 'mse') between teacher and student features (final outputs, or named layers')."""

    def __init__(self, loss="mse", teacher_layer_name=None, student_layer_name=None):
        self.teacher_layer_name = teacher_layer_name
        self.student_layer_name = student_layer_name
        self.loss = tree.map_structure(_convert_loss_to_function, loss)
        _check_losses(self.loss, "The `loss` argument in `FeatureDistillation` must contain at least one "
                                 "non-`None` value.")

    def validate_model_compatibility(self, teacher, student):
        if self.teacher_layer_name is not None or self.student_layer_name is not None:
            which = [n for n, m in (("teacher", teacher), ("student", student)) if getattr(m, "inputs", None) is None]
            if which:
                raise ValueError(
                    f"FeatureDistillation with specific layer names requires Functional or Sequential models. "
                    f"The {' and '.join(which)} model(s) appear to be subclassed (no symbolic inputs/outputs). "
                    f"Either use Functional/Sequential models, or use FeatureDistillation without layer names "
                    f"(to distill final outputs only), or use LogitsDistillation instead.")
        for role, model, name in (("teacher", teacher, self.teacher_layer_name),
                                  ("student", student, self.student_layer_name)):
            if name is not None:
                try:
                    model.get_layer(name=name)
                except ValueError as e:
                    raise ValueError(f"In {role} model: {e}")

    def validate_outputs(self, teacher_outputs, student_outputs):
        super().validate_outputs(teacher_outputs, student_outputs)
        try:
            tree.assert_same_structure(self.loss, teacher_outputs)
        except ValueError as e:
            raise ValueError(f"Loss structure mismatch. Loss structure: {self.loss}, Output structure: "
                             f"{tree.map_structure(lambda _: '*', teacher_outputs)}. Error: {e}")

    def compute_loss(self, teacher_outputs, student_outputs, **kwargs):
        def apply_loss(loss_fn, teacher_features, student_features):
            if loss_fn is None:
                return 0.0
            return ops.mean(loss_fn(teacher_features, student_features))
        return _total(tree.map_structure(apply_loss, self.loss, teacher_outputs, student_outputs))

    def get_config(self):
        return {"loss": _serialize_loss(self.loss), "teacher_layer_name": self.teacher_layer_name,
                "student_layer_name": self.student_layer_name}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["loss"] = _deserialize_loss(config["loss"])
        return cls(**config)


class LogitsDistillation(DistillationLoss):
    """`loss` between teacher and student logits divided by `temperature`; a KLDivergence object compares
    their softmaxes and is scaled by temperature**2 (as Keras)."""

    def __init__(self, temperature=3.0, loss="kl_divergence"):
        self.temperature = temperature
        self.loss = tree.map_structure(_convert_loss_to_function, loss)
        _check_losses(self.loss, "At least one loss must be non-`None`.")
        if isinstance(temperature, bool) or not isinstance(temperature, (int, float)):
            raise ValueError(f"temperature must be a number, got {type(temperature)}")
        if temperature <= 0.0:
            raise ValueError("temperature must be positive.")

    def compute_loss(self, teacher_outputs, student_outputs, **kwargs):
        t = self.temperature
        teacher_scaled = tree.map_structure(lambda x: ops.divide(x, t), teacher_outputs)
        student_scaled = tree.map_structure(lambda x: ops.divide(x, t), student_outputs)

        def apply_loss(loss_fn, teacher_logits, student_logits):
            if loss_fn is None:
                return 0.0
            if isinstance(loss_fn, losses.KLDivergence):
                value = ops.mean(loss_fn(ops.softmax(teacher_logits, axis=-1), ops.softmax(student_logits, axis=-1)))
                return value * (t ** 2)
            return ops.mean(loss_fn(teacher_logits, student_logits))
        return _total(tree.map_structure(apply_loss, self.loss, teacher_scaled, student_scaled))

    def get_config(self):
        return {"temperature": self.temperature, "loss": _serialize_loss(self.loss)}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["loss"] = _deserialize_loss(config["loss"])
        return cls(**config)
