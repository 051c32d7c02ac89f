"""Callbacks, Keras 3 semantics: hooks around training, evaluation and prediction."""
from tinydl.callbacks.callback import Callback, CallbackList  # noqa: F401
from tinydl.callbacks.history import History  # noqa: F401
from tinydl.callbacks.progbar import Progbar, ProgbarLogger  # noqa: F401
