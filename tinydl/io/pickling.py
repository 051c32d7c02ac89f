"""Pickling a model (`pickle.dumps(model)`, `joblib.dump(model, f)`) through its `.keras` bytes, as Keras 3 does.

The pickle holds one call, `model_from_keras_bytes(archive)`, so no arbitrary object graph of the model is
pickled: what comes back is what `load_model` would give from a `.keras` file (architecture, weights, compile
config, optimizer iteration and slots), and a continued `fit` matches an uninterrupted one. Unpickling runs
code by the nature of pickle: unpickle only data you trust (safetensors is the safe way to share weights).
User code the archive names (layer classes from outside tinydl, functions given to `compile`) travels beside it
as pickle references, as `custom_objects`, so unpickling imports its module as plain pickle would.
"""
import io
import types

from tinydl.io import keras_archive

__all__ = ["reduce_model", "model_from_keras_bytes"]


def reduce_model(model):
    """The `__reduce__` value of a model: rebuild it from its `.keras` archive bytes."""
    return model_from_keras_bytes, (keras_archive.to_bytes(model), user_objects(model) or None)


def model_from_keras_bytes(data, custom_objects=None):
    """A model from `.keras` archive bytes (compiled with its optimizer state when it was)."""
    # safe_mode=False as in Keras: unpickling runs code anyway, and a Lambda layer must come back
    return keras_archive.load_model(io.BytesIO(data), custom_objects=custom_objects, safe_mode=False,
                                    source="<pickled .keras bytes>")


def user_objects(model):
    """{name: object} of the layer classes and compile functions from outside tinydl that `model` uses."""
    found = {}
    for layer in _all_layers(model):
        cls = type(layer)
        if not cls.__module__.startswith("tinydl."):
            found[cls.__name__] = cls
    for fn in _functions(getattr(model, "_compile_args", None)):
        if not fn.__module__.startswith("tinydl.") and fn.__name__ != "<lambda>":
            found[fn.__name__] = fn
    return found


def _all_layers(layer):
    """`layer` and every layer inside it."""
    yield layer
    for child in getattr(layer, "layers", None) or []:
        if child is not layer:
            yield from _all_layers(child)


def _functions(value):
    """Plain functions anywhere in nested dicts/lists/tuples."""
    if isinstance(value, types.FunctionType):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _functions(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _functions(v)
