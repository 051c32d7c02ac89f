"""tinydl: a deep-learning framework small enough to read, on NumPy arrays and numba kernels.

    import tinydl as td
    x = td.tensor([1.0, 2.0], requires_grad=True)
    (x * x).sum().backward()
    x.grad            # tensor([2., 4.])
"""
from tinydl import backend  # noqa: F401
from tinydl.backend import (  # noqa: F401
    default_dtype, device, get_default_device, set_default_device, set_default_dtype, set_seed,
)
from tinydl.autograd import Function, enable_grad, is_grad_enabled, no_grad  # noqa: F401
from tinydl.tensor import Tensor, as_tensor, tensor  # noqa: F401
from tinydl.ops import *  # noqa: F401,F403
from tinydl import ops  # noqa: F401

__version__ = "0.1.0"


_SUBMODULES = {"layers", "models", "losses", "metrics", "optimizers", "schedules", "initializers", "activations",
               "regularizers", "constraints", "callbacks", "datasets", "data", "io", "testing", "backend", "examples",
               "graph", "utils", "config", "random", "tree", "saving", "wrappers", "distribution",
               "distillation"}

# Keras 3's top-level classes: name -> the module that defines it (imported on first use)
_KERAS_NAMES = {
    "Sequential": "tinydl.models", "Model": "tinydl.models", "Input": "tinydl.layers", "Layer": "tinydl.layers",
    "InputSpec": "tinydl.layers.base", "KerasTensor": "tinydl.layers.base", "Variable": "tinydl.layers.base",
    "Loss": "tinydl.losses", "Metric": "tinydl.metrics", "Optimizer": "tinydl.optimizers",
    "Initializer": "tinydl.initializers", "Regularizer": "tinydl.regularizers", "Constraint": "tinydl.constraints",
}


def __getattr__(name):
    """Submodules and Keras's top-level classes on first use (`td.layers.Dense`, `td.Sequential`), so
    `import tinydl` stays fast and never imports numba."""
    import importlib
    if name in _SUBMODULES:
        try:
            return importlib.import_module(f"tinydl.{name}")
        except ModuleNotFoundError as e:
            if e.name != f"tinydl.{name}":  # a missing dependency inside the module: show it as it is
                raise
    if name in _KERAS_NAMES:
        return getattr(importlib.import_module(_KERAS_NAMES[name]), name)
    raise AttributeError(f"module 'tinydl' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | _SUBMODULES | set(_KERAS_NAMES))


def version():
    """tinydl's version string, as keras.version()."""
    return __version__


def clear_session(free_memory=True):
    """Reset layer-name counters and uids, as keras.backend.clear_session()."""
    backend.clear_session(free_memory)  # layers, once imported, registered their name reset there
