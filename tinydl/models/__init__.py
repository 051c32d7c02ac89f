"""Models: the functional API, subclassed models, Sequential, and the training loop."""
from tinydl.layers.core import Input  # noqa: F401
from tinydl.models.model import Model  # noqa: F401
from tinydl.models.sequential import Sequential  # noqa: F401
