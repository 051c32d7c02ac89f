"""Compiled state in files: Keras's training_config (legacy `.h5`) and compile_config (`.keras`), one way
back to a compiled model, and the optimizer's variables in Keras's order."""
import numpy as np

from tinydl import optimizers
from tinydl.io.config import deserialize, serialize
from tinydl.io.model_config import keras_layer_order, with_keras_class_names

__all__ = ["training_config", "compile_config", "compile_from", "optimizer_variables", "set_optimizer_variables",
           "keep_exact_learning_rate", "serialize_nested", "deserialize_nested"]

# Short loss names Keras 3 cannot load from a training_config (it needs the full function name).
_LOSS_NAMES = {"mse": "mean_squared_error", "mae": "mean_absolute_error", "mape": "mean_absolute_percentage_error",
               "msle": "mean_squared_logarithmic_error", "bce": "binary_crossentropy",
               "cce": "categorical_crossentropy", "scce": "sparse_categorical_crossentropy"}


def training_config(model):
    """Keras's training_config for a compiled model (None when it is not compiled)."""
    if not getattr(model, "compiled", False) or model.optimizer is None or not model._compile_args:
        return None
    args = model._compile_args
    return {"loss": serialize_nested(args.get("loss"), loss=True),
            "loss_weights": args.get("loss_weights"),
            "metrics": serialize_nested(args.get("metrics")),
            "weighted_metrics": serialize_nested(args.get("weighted_metrics")),
            "run_eagerly": False, "steps_per_execution": 1, "jit_compile": False,
            "optimizer_config": {"class_name": type(model.optimizer).__name__,
                                 "config": model.optimizer.get_config()}}


def serialize_nested(value, loss=False):
    """Losses/metrics given to compile (names, objects, lists, dicts) as JSON."""
    if value is None:
        return None
    if isinstance(value, str):
        return _LOSS_NAMES.get(value, value) if loss else value
    if isinstance(value, (list, tuple)):
        return [serialize_nested(v, loss) for v in value]
    if isinstance(value, dict):
        return {k: serialize_nested(v, loss) for k, v in value.items()}
    if hasattr(value, "get_config"):
        return serialize(value)
    name = getattr(value, "__name__", None)
    if name:
        return name
    raise TypeError(f"cannot save the compile argument {value!r}: use a name or an object with get_config()")


def compile_config(model):
    """Keras 3's compile_config (`.keras` archives): the serialized optimizer and compile()'s arguments."""
    training = training_config(model)
    if training is None:
        return None
    optimizer = with_keras_class_names(serialize(model.optimizer))
    return {"optimizer": optimizer, "loss": training["loss"], "loss_weights": training["loss_weights"],
            "metrics": training["metrics"], "weighted_metrics": training["weighted_metrics"],
            "run_eagerly": False, "steps_per_execution": 1, "jit_compile": False}


def compile_from(model, config, custom_objects):
    """Compile `model` as a training_config (legacy `.h5`) or compile_config (`.keras`) says."""
    spec = config.get("optimizer_config", config.get("optimizer"))
    if spec is None:
        raise ValueError("the saved compile config names no optimizer ('optimizer_config' or 'optimizer')")
    optimizer = optimizers.deserialize(spec, custom_objects) if isinstance(spec, dict) else spec
    model.compile(optimizer=optimizer, loss=deserialize_nested(config.get("loss"), custom_objects),
                  metrics=deserialize_nested(config.get("metrics"), custom_objects),
                  loss_weights=config.get("loss_weights"),
                  weighted_metrics=deserialize_nested(config.get("weighted_metrics"), custom_objects))


def keep_exact_learning_rate(optimizer, config, values):
    """The float32 copy of the learning rate in `values` rounds it: keep the config's exact float instead."""
    spec = config.get("optimizer_config", config.get("optimizer"))
    saved_lr = spec.get("config", {}).get("learning_rate") if isinstance(spec, dict) else None
    if isinstance(saved_lr, float) and len(values) > 1 and np.asarray(values[1]).shape == () and \
            np.float32(saved_lr) == np.float32(np.asarray(values[1])):
        optimizer._learning_rate = saved_lr


def deserialize_nested(value, custom_objects):
    """Inverse of `serialize_nested`: dicts with class_name become objects, names stay names (unless
    `custom_objects` has the name: a user's loss or metric function saved by its name)."""
    if isinstance(value, str) and custom_objects and value in custom_objects:
        return custom_objects[value]
    if isinstance(value, dict) and "class_name" in value:
        return deserialize(value, custom_objects)
    if isinstance(value, dict):
        return {k: deserialize_nested(v, custom_objects) for k, v in value.items()}
    if isinstance(value, list):
        return [deserialize_nested(v, custom_objects) for v in value]
    return value


def optimizer_variables(model):
    """(values, names) of the optimizer's state as Keras lists it: iteration, learning_rate, then the slots
    with the model's trainable weights in Keras's layer order (the order Keras builds its optimizer in)."""
    return model.optimizer.keras_variables(_keras_trainable_order(model))


def set_optimizer_variables(model, values):
    """Inverse of `optimizer_variables`: load a Keras-ordered list into the (built) optimizer."""
    model.optimizer.set_keras_variables(values, _keras_trainable_order(model))


def _keras_trainable_order(model):
    """The model's trainable weights in Keras's layer order."""
    return [w for layer in keras_layer_order(model) for w in layer.trainable_weights]
