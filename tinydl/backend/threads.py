"""The thread policy of tinydl on the CPU: how many threads BLAS and numba's kernels use, by call size.

Two thread pools share the cores: OpenBLAS's (NumPy's matmul, and SciPy's copy of OpenBLAS that numba's
`np.dot` calls inside jitted code) and numba's `prange` pool. After a call, OpenBLAS's threads spin a
while waiting for the next one, so a pool started next to them runs on busy cores. The rules, each
measured (docs/architecture.md, "Threads", has the numbers):

1. One large product (a Dense or conv GEMM, an input projection) keeps BLAS's thread count: the user's,
   as set by OPENBLAS_NUM_THREADS or threadpoolctl. BLAS splits big products well.
2. A small product runs with one BLAS thread: it is too short to pay for waking and joining a second
   thread, and on a loaded machine the join waits for a descheduled thread. `gemm_loop(m, n, k)`
   decides for a loop of them (an RNN scan: one (batch, units) @ (units, gates) product per step),
   `gemm(m, n, k)` for one (matmul, Dense), acting only where OpenBLAS would otherwise use threads.
3. numba's parallel kernels run only above PARALLEL_MIN elements (PARALLEL_MIN_HEAVY for kernels doing
   tens of flops per element): below it the pool costs more to start and fights BLAS's spinning threads
   for the cores. The kernel modules in backend/cpu take their thresholds from here.

This module only ever lowers a thread count for the length of one call and then restores it, so a
user's own limits (environment variables, `threadpoolctl.threadpool_limits`) stay the ceiling.
"""
import contextlib
import functools
import sys

# numba prange kernels over fewer elements than this run serially (elementwise-cost kernels)
PARALLEL_MIN = 1 << 24
# the same for kernels doing tens of flops per element (attention's softmax rows)
PARALLEL_MIN_HEAVY = 1 << 22
# a GEMM with fewer multiply-adds than this runs with one BLAS thread
SMALL_GEMM_MACS = 1 << 22
# OpenBLAS's own cut-off: it runs products below 65536 * GEMM_MULTITHREAD_THRESHOLD (4) serially
OPENBLAS_SERIAL_MACS = 1 << 18


def gemm(m, n, k):
    """Context for one (m, k) @ (k, n) product: one BLAS thread in the band where OpenBLAS would use
    several but the product is too small for them to pay off (below OPENBLAS_SERIAL_MACS it is serial
    already, so nothing is done there and small calls pay nothing)."""
    if OPENBLAS_SERIAL_MACS <= m * n * k < SMALL_GEMM_MACS:
        return single_blas_thread()
    return contextlib.nullcontext()


def gemm_loop(m, n, k):
    """Context for a loop of (m, k) @ (k, n) products: one BLAS thread when each product is small."""
    if m * n * k >= SMALL_GEMM_MACS:
        return contextlib.nullcontext()
    return single_blas_thread()


class single_blas_thread:
    """Every loaded BLAS library runs on one thread inside the block (its count is restored after).

    A class, not a generator: it wraps single products too, where contextlib's overhead would show.
    """

    def __enter__(self):
        self.restore = []
        for lib in blas_libraries():
            count = lib.get_num_threads()
            if count != 1:
                lib.set_num_threads(1)
                self.restore.append((lib, count))
        return self

    def __exit__(self, *exc):
        for lib, count in self.restore:
            lib.set_num_threads(count)
        return False


def blas_libraries():
    """threadpoolctl controllers of the loaded BLAS libraries: NumPy's, and SciPy's once it is loaded
    (numba's np.dot calls SciPy's; backend/cpu/rnn.py imports it before its kernels run)."""
    return _controllers("scipy.linalg.cython_blas" in sys.modules)


@functools.cache
def _controllers(with_scipy):
    """Looked up once per set of libraries (threadpoolctl scans the process's shared objects)."""
    # imported here, not at the top, so that `import tinydl` stays fast
    from threadpoolctl import ThreadpoolController
    return tuple(ThreadpoolController().select(user_api="blas").lib_controllers)
