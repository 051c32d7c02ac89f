"""keras.models.clone_model, model_from_json and save_model: new models from an existing one's config."""
import json

from tinydl.io.config import deserialize, serialize
from tinydl.io.model_config import model_from_config
from tinydl.layers.core import Input
from tinydl.models.model import Model
from tinydl.models.sequential import Sequential

__all__ = ["clone_model", "model_from_json", "save_model"]


def clone_model(model, input_tensors=None, clone_function=None, call_function=None, recursive=False, **kwargs):
    """A new model with the same architecture and freshly initialised weights (not compiled).

    A Sequential model's layers go through `clone_function(layer)` (default: rebuilt from their config);
    `input_tensors` (an Input) replaces its input. Functional and subclassed models are rebuilt from
    their config; for them the per-layer arguments are an error.
    """
    if kwargs:
        raise ValueError(f"clone_model: unexpected keyword arguments {sorted(kwargs)}")
    if not isinstance(model, Model):
        raise ValueError(f"clone_model: the model argument must be a tinydl Model, received {type(model).__name__}")
    if isinstance(model, Sequential):
        return _clone_sequential(model, input_tensors, clone_function or _clone_layer, call_function, recursive)
    for arg, value in (("input_tensors", input_tensors), ("clone_function", clone_function),
                       ("call_function", call_function)):
        if value is not None:
            raise ValueError(f"clone_model: {arg} is supported for Sequential models only in tinydl, "
                             f"received it for {type(model).__name__} {model.name!r}")
    return type(model).from_config(model.get_config())


def model_from_json(json_string, custom_objects=None):
    """A model (fresh weights) from the JSON that `model.to_json()` or Keras wrote."""
    return model_from_config(json.loads(json_string), custom_objects=custom_objects)


def save_model(model, filepath, overwrite=True, zipped=None, **kwargs):
    """`model.save(filepath)`: a `.keras` archive or `.h5` file by the name."""
    if zipped is False:
        raise ValueError("save_model: zipped=False (an unzipped .keras folder) is not supported by tinydl")
    model.save(filepath, overwrite=overwrite, **kwargs)


def _clone_sequential(model, input_tensors, clone_function, call_function, recursive):
    """A Sequential of cloned layers, on `input_tensors` or an Input like the original's."""
    if call_function is not None:
        raise ValueError("clone_model: call_function is supported for functional models in Keras; "
                         "tinydl does not support it, received call_function for a Sequential model")

    def clone(layer):
        if recursive and isinstance(layer, Sequential):
            return _clone_sequential(layer, None, clone_function, None, True)
        return clone_function(layer)
    layers = [clone(layer) for layer in model.layers]
    clone_ = Sequential(name=model.name)
    if input_tensors is not None:
        clone_.add(input_tensors if not isinstance(input_tensors, (list, tuple)) else input_tensors[0])
    elif model.get_config().get("build_input_shape"):
        clone_.add(Input(batch_shape=tuple(model.get_config()["build_input_shape"])))
    for layer in layers:
        clone_.add(layer)
    return clone_


def _clone_layer(layer):
    """A new layer from `layer`'s config (new weights)."""
    return deserialize(serialize(layer))
