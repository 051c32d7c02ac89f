"""Test-session setup: one BLAS thread per process.

`pytest -n 2` runs two worker processes on a 2-core machine; with OpenBLAS's default of one thread
per core each, four threads fight for two cores and matrix products slow down 10-100x. This runs
before NumPy is first imported, so the limit takes effect (an explicit setting in the environment wins).
"""
import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
