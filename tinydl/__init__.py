"""tinydl: a deep-learning framework small enough to read, on NumPy arrays and numba kernels.

    import tinydl as td
    x = td.tensor([1.0, 2.0], requires_grad=True)
    (x * x).sum().backward()
    x.grad            # tensor([2., 4.])
"""
from tinydl.backend import (  # noqa: F401
    default_dtype, device, get_default_device, set_default_device, set_default_dtype, set_seed,
)
from tinydl.autograd import Function, enable_grad, is_grad_enabled, no_grad  # noqa: F401
from tinydl.tensor import Tensor, as_tensor, tensor  # noqa: F401
from tinydl.ops import *  # noqa: F401,F403
from tinydl import ops  # noqa: F401

__version__ = "0.1.0"


_SUBMODULES = {"layers", "models", "losses", "metrics", "optimizers", "schedules", "initializers", "activations",
               "regularizers", "callbacks", "datasets", "data", "io", "testing", "backend", "examples", "graph",
               "distribution"}


def __getattr__(name):
    """Submodules on first use (`td.layers.Dense`), so `import tinydl` stays fast."""
    if name in _SUBMODULES:
        import importlib
        return importlib.import_module(f"tinydl.{name}")
    raise AttributeError(f"module 'tinydl' has no attribute {name!r}")


def clear_session():
    """Reset layer-name counters, as keras.backend.clear_session()."""
    from tinydl.layers.base import clear_session as clear
    clear()
