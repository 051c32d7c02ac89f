"""Elementwise math kernels that NumPy lacks (numba)."""
import math

import numba
import numpy as np


@numba.njit(cache=True)
def _erf_flat(x, out):
    for i in range(x.size):
        out[i] = math.erf(x[i])


def erf(x):
    """The error function, elementwise, in x's dtype."""
    x = np.ascontiguousarray(x).reshape(np.shape(x))  # ascontiguousarray makes 0-d arrays 1-d
    out = np.empty_like(x)
    _erf_flat(x.reshape(-1), out.reshape(-1))
    return out
