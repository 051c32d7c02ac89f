"""Array module, device, dtype and seeding: the only place that knows numpy from cupy.

A kernel is looked up by name for the device an array lives on (`kernel("im2col", x)`), so an op
has one implementation that runs on both devices. Kernel modules are imported lazily, on first use,
so `import tinydl` never imports numba or compiles anything.
"""
import contextlib
import importlib
import os

import numpy as np

from tinydl.backend.dtypes import as_dtype, default_dtype, set_default_dtype

from tinydl.backend.cuda.transfer import upload  # NumPy only at import: CuPy is imported on first upload
from tinydl.backend.kernels import FUSED, KERNELS

__all__ = [
    "array_module", "xp_for", "device_of", "check_device", "to_device", "cupy_available",
    "default_dtype", "set_default_dtype", "as_dtype", "set_seed", "rng", "kernel",
    "get_default_device", "set_default_device", "device", "add_at",
]

_DEVICES = ("cpu", "cuda")
_state = {"device": "cpu", "rng": np.random.default_rng()}
_kernel_cache = {}


def cupy_available():
    """True when CuPy imports and sees at least one GPU."""
    try:
        import cupy
        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:  # ImportError, CUDARuntimeError, driver errors: all mean "no GPU here"
        return False


def _cupy():
    """The cupy module, or a clear error when it cannot be used."""
    if not cupy_available():
        raise RuntimeError("device 'cuda' needs CuPy and a GPU: install tinydl[gpu] on a machine with CUDA")
    import cupy
    return cupy


def array_module(x):
    """numpy or cupy, whichever owns array `x` (numpy for anything that is not a cupy array)."""
    if type(x).__module__.startswith("cupy"):
        import cupy
        return cupy
    return np


def xp_for(device):
    """The array module for a device name ('cpu' or 'cuda')."""
    return np if check_device(device) == "cpu" else _cupy()


def device_of(x):
    """'cuda' for a cupy array, 'cpu' otherwise."""
    return "cuda" if type(x).__module__.startswith("cupy") else "cpu"


def check_device(device):
    """Normalise a device name ('cpu', 'cuda', 'cuda:0', 'gpu'); unknown names are a clear error."""
    if device is None:
        return _state["device"]
    name = str(device).lower().split(":")[0]
    name = "cuda" if name == "gpu" else name
    if name not in _DEVICES:
        raise ValueError(f"unknown device {device!r}: expected one of {_DEVICES}")
    return name


def to_device(a, device):
    """Array `a` moved to `device` (no copy when it already lives there)."""
    device = check_device(device)
    if device_of(a) == device:
        return a
    if device == "cpu":
        return a.get()
    cupy = _cupy()
    if isinstance(a, np.ndarray):  # through pinned memory: the host does not wait for queued GPU work
        return upload(a)
    return cupy.asarray(a)


def add_at(target, index, values):
    """target[index] += values in place, adding up repeated indices (numpy add.at / cupyx.scatter_add)."""
    if device_of(target) == "cpu":
        np.add.at(target, index, values)
    else:
        import cupyx  # lazy: only a cupy array gets here
        cupyx.scatter_add(target, index, values)
    return target


def get_default_device():
    """The device new tensors and models go to when none is named."""
    return _state["device"]


def set_default_device(device):
    """Set the device new tensors and models go to when none is named."""
    device = check_device(device)
    if device == "cuda":
        _cupy()
    _state["device"] = device


@contextlib.contextmanager
def device(name):
    """Context in which new tensors and models default to device `name`."""
    previous = _state["device"]
    set_default_device(name)
    try:
        yield
    finally:
        _state["device"] = previous


def set_seed(seed):
    """Make weight init, dropout and shuffling reproducible (also seeds numpy's legacy global RNG)."""
    _state["rng"] = np.random.default_rng(seed)
    np.random.seed(seed % 2**32)


def rng():
    """The generator all random draws in tinydl come from."""
    return _state["rng"]


def get_rng_state():
    """The generator's state, so a resumed run draws the same numbers (used by BackupAndRestore)."""
    return _state["rng"].bit_generator.state


def set_rng_state(state):
    """Restore a state from `get_rng_state`."""
    _state["rng"].bit_generator.state = state


def kernel(name, like=None):
    """The kernel called `name` for the device array `like` lives on (cpu when `like` is None)."""
    dev = "cpu" if like is None else device_of(like)
    key = (name, dev)
    fn = _kernel_cache.get(key)
    if fn is None:
        try:
            fused = dev == "cuda" and os.environ.get("TINYDL_FUSED", "1") != "0"  # 0: the array code, to compare
            module = FUSED.get(name, KERNELS[name]) if fused else KERNELS[name]
        except KeyError:
            raise KeyError(f"no kernel named {name!r}; known kernels: {sorted(KERNELS)}") from None
        mod = importlib.import_module(f"tinydl.backend.{dev}.{module}")
        fn = _kernel_cache[key] = getattr(mod, name)
    return fn


# keras.backend's functions (epsilon, floatx, clear_session, ...), last: they use the dtype functions above
from tinydl.backend import keras_api  # noqa: E402
from tinydl.backend.keras_api import *  # noqa: F401,F403,E402

__all__ += keras_api.__all__
