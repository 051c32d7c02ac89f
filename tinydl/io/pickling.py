"""Pickling a model (`pickle.dumps(model)`, `joblib.dump(model, f)`) through its `.keras` bytes, as Keras 3 does.

The pickle holds one call, `model_from_keras_bytes(archive)`, so no arbitrary object graph of the model is
pickled: what comes back is what `load_model` would give from a `.keras` file (architecture, weights, compile
config, optimizer iteration and slots), and a continued `fit` matches an uninterrupted one. Unpickling runs
code by the nature of pickle: unpickle only data you trust (safetensors is the safe way to share weights).
"""
import io

from tinydl.io import keras_archive

__all__ = ["reduce_model", "model_from_keras_bytes"]


def reduce_model(model):
    """The `__reduce__` value of a model: rebuild it from its `.keras` archive bytes."""
    return model_from_keras_bytes, (keras_archive.to_bytes(model),)


def model_from_keras_bytes(data):
    """A model from `.keras` archive bytes (compiled with its optimizer state when it was)."""
    # safe_mode=False as in Keras: unpickling runs code anyway, and a Lambda layer must come back
    return keras_archive.load_model(io.BytesIO(data), safe_mode=False, source="<pickled .keras bytes>")
