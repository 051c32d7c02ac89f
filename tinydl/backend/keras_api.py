"""Keras's `keras.backend` functions: epsilon, floatx, image data format, dtypes, uids and the session.

Layers live floors above the backend, so they register what the backend must know of them here
(`on_clear_session`, `register_keras_tensor_type`) instead of the backend importing them.
"""
import gc
import os

import numpy as np

from tinydl.backend.dtypes import default_dtype, set_default_dtype

__all__ = ["backend", "epsilon", "set_epsilon", "floatx", "set_floatx", "image_data_format",
           "set_image_data_format", "clear_session", "is_keras_tensor", "get_uid", "standardize_dtype",
           "is_float_dtype", "is_int_dtype", "enable_interactive_logging", "disable_interactive_logging",
           "is_interactive_logging_enabled", "on_clear_session", "register_keras_tensor_type"]

_config = {"epsilon": 1e-7, "image_data_format": "channels_last", "interactive_logging": True}
_uids = {}
_session_hooks = []
_keras_tensor_types = []
FLOATX_SUPPORTED = ("float32", "float64")


def backend():
    """The name of the backend running Keras code: 'tinydl'."""
    return "tinydl"


def epsilon():
    """The fuzz factor Keras code reads for numerical safety (1e-7 unless changed)."""
    return _config["epsilon"]


def set_epsilon(value):
    """Change the value `epsilon()` returns."""
    _config["epsilon"] = float(value)


def floatx():
    """The default float dtype as a string ('float32' unless changed)."""
    return default_dtype().name


def set_floatx(value):
    """Change the default float dtype: new weights and tensors get it ('float32' or 'float64')."""
    name = standardize_dtype(value) if isinstance(value, str) or hasattr(value, "dtype") else str(value)
    if name not in FLOATX_SUPPORTED:
        raise ValueError(f"set_floatx: unsupported value {value!r}: expected one of {FLOATX_SUPPORTED} "
                         "(tinydl's kernels run float32 and float64 only)")
    set_default_dtype(name)


def image_data_format():
    """'channels_last': the layout images have in tinydl's layers."""
    return _config["image_data_format"]


def set_image_data_format(data_format):
    """Set the image layout; tinydl's layers run channels_last only, so 'channels_first' is an error."""
    value = str(data_format).lower()
    if value not in ("channels_first", "channels_last"):
        raise ValueError("set_image_data_format: the data_format argument must be one of "
                         f"{{'channels_first', 'channels_last'}}. Received: data_format={data_format}")
    if value == "channels_first":
        raise ValueError("set_image_data_format: tinydl's layers support data_format='channels_last' only, "
                         "received 'channels_first'")
    _config["image_data_format"] = value


def enable_interactive_logging():
    """Progress bars draw live on stdout (the default)."""
    _config["interactive_logging"] = True


def disable_interactive_logging():
    """Progress goes to the `tinydl` logger, one line per finished bar (for logs of batch jobs)."""
    _config["interactive_logging"] = False


def is_interactive_logging_enabled():
    """True unless `disable_interactive_logging()` was called."""
    return _config["interactive_logging"]


def _cap_from_env(name):
    value = os.environ.get(name)
    return int(value) if value else None


# Keras's debugging caps on fit (epochs) and on fit/evaluate/predict (steps per epoch); None is no cap.
# Read from KERAS_MAX_EPOCHS / KERAS_MAX_STEPS_PER_EPOCH at import, as Keras does.
_MAX_EPOCHS = _cap_from_env("KERAS_MAX_EPOCHS")
_MAX_STEPS_PER_EPOCH = _cap_from_env("KERAS_MAX_STEPS_PER_EPOCH")


def _check_cap(value, name):
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0):
        raise ValueError(f"{name} must be a non-negative integer or None, got {value!r}")
    return None if value is None else int(value)


def set_max_epochs(max_epochs):
    """Cap the number of epochs of every `fit` call (None: no cap; 0 also means no cap, as in Keras)."""
    global _MAX_EPOCHS
    _MAX_EPOCHS = _check_cap(max_epochs, "max_epochs")


def set_max_steps_per_epoch(max_steps_per_epoch):
    """Cap the steps of each epoch of `fit`, `evaluate` and `predict` (None: no cap)."""
    global _MAX_STEPS_PER_EPOCH
    _MAX_STEPS_PER_EPOCH = _check_cap(max_steps_per_epoch, "max_steps_per_epoch")


def max_epochs():
    """The cap set by set_max_epochs or KERAS_MAX_EPOCHS, or None."""
    return _MAX_EPOCHS


def max_steps_per_epoch():
    """The cap set by set_max_steps_per_epoch or KERAS_MAX_STEPS_PER_EPOCH, or None."""
    return _MAX_STEPS_PER_EPOCH


def clear_session(free_memory=True):
    """Start afresh: layer names count from `dense` again, uids restart at 1; `free_memory` runs the
    garbage collector so arrays of dropped models are released."""
    _uids.clear()
    for hook in _session_hooks:
        hook()
    if free_memory:
        gc.collect()


def on_clear_session(hook):
    """Run `hook()` on every `clear_session()` (a layer module resets its name counters)."""
    _session_hooks.append(hook)
    return hook


def register_keras_tensor_type(cls):
    """Make `is_keras_tensor` recognise instances of `cls` (the functional API's symbolic tensor)."""
    _keras_tensor_types.append(cls)
    return cls


def is_keras_tensor(x):
    """True for a symbolic tensor of the functional API (what `Input` returns), False for data."""
    return any(isinstance(x, cls) for cls in _keras_tensor_types)


def get_uid(prefix=""):
    """1, 2, 3, ... for successive calls with the same prefix (reset by `clear_session`)."""
    _uids[prefix] = _uids.get(prefix, 0) + 1
    return _uids[prefix]


def standardize_dtype(dtype):
    """A dtype's canonical name ('float32', 'int64', 'bool'); None gives `floatx()`."""
    if dtype is None:
        return floatx()
    if dtype in ("int", int):
        return "int32"  # Keras's Python-int default
    if dtype is float:
        return "float32"
    if hasattr(dtype, "dtype") and not isinstance(dtype, (type, np.dtype)):
        dtype = dtype.dtype
    try:
        return np.dtype(dtype).name
    except TypeError:
        raise ValueError(f"Invalid dtype: {dtype!r}") from None


def is_float_dtype(dtype):
    """True for floating dtypes."""
    return standardize_dtype(dtype).startswith(("float", "bfloat"))


def is_int_dtype(dtype):
    """True for signed and unsigned integer dtypes."""
    return standardize_dtype(dtype).startswith(("int", "uint"))

