"""The device the tests/gpu checks run on: TINYDL_TEST_DEVICE ('cuda' unless set; 'cpu' runs the same
checks on this machine, with NumPy standing in for CuPy, to test the checks themselves)."""
import os

import numpy as np
import pytest

from tinydl.backend import check_device, cupy_available

DEVICE = check_device(os.environ.get("TINYDL_TEST_DEVICE", "cuda"))

requires_device = pytest.mark.skipif(
    DEVICE == "cuda" and not cupy_available(),
    reason="needs CuPy and a CUDA GPU (or TINYDL_TEST_DEVICE=cpu to run the checks on the CPU)")


def device_xp():
    """The array module of DEVICE: cupy on 'cuda', numpy on 'cpu'."""
    if DEVICE == "cpu":
        return np
    import cupy  # lazy: only on a GPU machine
    return cupy
