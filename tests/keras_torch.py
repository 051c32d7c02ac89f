"""The one way a test module gets Keras 3 to compare against: on its torch backend, or the module is skipped."""
import os

import pytest


def keras_on_torch(reason):
    """The keras module on its torch backend; skips the calling test module, with `reason` when Keras was
    loaded first on another backend, and without torch or keras installed."""
    pytest.importorskip("torch")
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "torch":
        pytest.skip(reason, allow_module_level=True)
    return keras
