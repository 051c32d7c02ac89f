"""The default floating dtype: a leaf of the backend, so keras_api and the package both read it."""
import numpy as np

__all__ = ["default_dtype", "set_default_dtype", "as_dtype"]

_dtype = [np.dtype("float32")]


def default_dtype():
    """The floating dtype new tensors and weights get (float32 unless changed)."""
    return _dtype[0]


def set_default_dtype(dtype):
    """Change the default floating dtype ('float32' or 'float64')."""
    _dtype[0] = as_dtype(dtype)


def as_dtype(dtype):
    """A NumPy dtype from a dtype object or its name; unknown names are a clear error."""
    if dtype is None:
        return _dtype[0]
    try:
        return np.dtype(dtype)
    except TypeError:
        raise TypeError(f"unknown dtype {dtype!r}: expected a NumPy dtype or its name, such as 'float32'") from None
