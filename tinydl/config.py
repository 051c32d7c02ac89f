"""keras.config: the library's global settings (float dtype, epsilon, image layout, safe deserialization)."""
from tinydl.backend.keras_api import (  # noqa: F401
    backend, disable_interactive_logging, enable_interactive_logging, epsilon, floatx, image_data_format,
    is_interactive_logging_enabled, max_epochs, max_steps_per_epoch, set_epsilon, set_floatx, set_image_data_format, set_max_epochs,
    set_max_steps_per_epoch,
)
from tinydl.io import config as _io_config

__all__ = ["backend", "epsilon", "set_epsilon", "floatx", "set_floatx", "image_data_format",
           "set_image_data_format", "enable_unsafe_deserialization", "enable_interactive_logging",
           "disable_interactive_logging", "is_interactive_logging_enabled", "max_epochs", "set_max_epochs",
           "max_steps_per_epoch", "set_max_steps_per_epoch"]

_open_scopes = []


def enable_unsafe_deserialization():
    """Let configs build code-carrying objects (Lambda) everywhere a call does not pass safe_mode itself."""
    # unsafe_mode is a context manager: entered and kept open (a reference held, so garbage collection
    # does not close it) it keeps the setting for the rest of the process
    scope = _io_config.unsafe_mode(True)
    scope.__enter__()
    _open_scopes.append(scope)
