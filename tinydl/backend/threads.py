"""The thread policy of tinydl on the CPU: how many threads BLAS and numba's kernels use, by call size.

Two thread pools share the cores: OpenBLAS's (NumPy's matmul, and SciPy's copy of OpenBLAS that numba's
`np.dot` calls inside jitted code) and numba's `prange` pool. After a call, OpenBLAS's threads spin a
while waiting for the next one, so a pool started next to them runs on busy cores. The rules, each
measured (docs/architecture.md, "Threads", has the numbers):

1. One large product (a Dense or conv GEMM, an input projection) keeps BLAS's thread count: the user's,
   as set by OPENBLAS_NUM_THREADS or threadpoolctl. BLAS splits big products well.
2. A loop of small products (an RNN scan: one (batch, units) @ (units, gates) product per step) runs
   with one BLAS thread: each product is too short to pay for waking and joining a second thread, and
   on a loaded machine the per-step join waits for a descheduled thread. `gemm_loop(m, n, k)` decides.
3. numba's parallel kernels run only above PARALLEL_MIN elements (PARALLEL_MIN_HEAVY for kernels doing
   tens of flops per element): below it the pool costs more to start and fights BLAS's spinning threads
   for the cores. The kernel modules in backend/cpu take their thresholds from here.

This module only ever lowers a thread count for the length of one call and then restores it, so a
user's own limits (environment variables, `threadpoolctl.threadpool_limits`) stay the ceiling.
"""
import contextlib
import functools

# numba prange kernels over fewer elements than this run serially (elementwise-cost kernels)
PARALLEL_MIN = 1 << 24
# the same for kernels doing tens of flops per element (attention's softmax rows)
PARALLEL_MIN_HEAVY = 1 << 22
# a loop of GEMMs with fewer multiply-adds each than this runs with one BLAS thread
SMALL_GEMM_MACS = 1 << 22


def gemm_loop(m, n, k):
    """Context for a loop of (m, k) @ (k, n) products: one BLAS thread when each product is small."""
    if m * n * k >= SMALL_GEMM_MACS:
        return contextlib.nullcontext()
    return single_blas_thread()


@contextlib.contextmanager
def single_blas_thread():
    """Every loaded BLAS library runs on one thread inside the block (its count is restored after)."""
    libraries = blas_libraries()
    before = [lib.get_num_threads() for lib in libraries]
    for lib in libraries:
        lib.set_num_threads(1)
    try:
        yield
    finally:
        for lib, count in zip(libraries, before):
            lib.set_num_threads(count)


@functools.cache
def blas_libraries():
    """threadpoolctl controllers of the BLAS libraries: NumPy's and SciPy's (which numba's np.dot calls)."""
    # imported here, not at the top: `import tinydl` stays fast, and SciPy's BLAS must be loaded before
    # threadpoolctl looks, or numba's np.dot would run on a library nobody limits
    import scipy.linalg.cython_blas  # noqa: F401
    from threadpoolctl import ThreadpoolController
    return tuple(ThreadpoolController().select(user_api="blas").lib_controllers)
