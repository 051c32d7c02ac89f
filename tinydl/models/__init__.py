"""Models: the functional API, subclassed models, Sequential, and the training loop."""
from tinydl.io import saving
from tinydl.layers.core import Input  # noqa: F401
from tinydl.models.model import Model  # noqa: F401
from tinydl.models.sequential import Sequential  # noqa: F401
from tinydl.models.cloning import clone_model, model_from_json, save_model  # noqa: F401


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True):
    """A model from a `.h5` (legacy Keras) or `.keras` file; Lambda layers only with safe_mode=False."""
    return saving.load_model(filepath, custom_objects=custom_objects, compile=compile, safe_mode=safe_mode)


def from_pretrained(directory, custom_objects=None, safe_mode=True):
    """A model from a folder written by `model.save_pretrained(dir)`: config.json + safetensors weights."""
    return saving.from_pretrained(directory, custom_objects=custom_objects, safe_mode=safe_mode)
