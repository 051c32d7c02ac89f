"""The array-code kernels of backend/cuda on the device's arrays (CuPy on a GPU) against the numba kernels:
the same cases as tests/test_kernel_twins.py, which runs them with NumPy on every machine."""
import numpy as np
import pytest

from tests.gpu.device import device_xp, requires_device
from tests.test_kernel_twins import CASES, draws, same_on

pytestmark = requires_device


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.__name__.split("__")[1])
def test_array_code_twin_on_the_device_matches_the_numba_kernel(case, dtype):
    case(same_on(device_xp(), dtype), draws(dtype), dtype)
