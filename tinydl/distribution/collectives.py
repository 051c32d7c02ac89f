"""The MPI world: rank and size, and collectives that wait without burning a core.

MPICH busy-polls inside blocking collectives: a rank waiting 3 s for a slower one burns 3 s of CPU,
which on a machine with one core per rank slows the rank being waited for. Sleeping between `Test`
calls on a non-blocking collective stops that, but MPICH only moves a collective's data inside MPI
calls, so a sleeping rank also stalls the transfer (an `Iallreduce` of 16 MiB waited for with 1 ms
sleeps ran at 37-41% of `Allreduce`'s speed here). So every collective first waits for all ranks in
an `Ibarrier`, polled for 1 ms and then with sleeps (10 us growing to 0.5 ms: long waits cost almost no
CPU), then moves the data with the blocking call, which finds every rank present and runs at full speed.
A plain `python` run (no mpiexec) is a world of size 1 where every collective returns its input.
"""
import os
import sys
import time

import numpy as np

from tinydl import backend

__all__ = ["initialize", "rank", "size", "local_rank", "local_size", "is_chief", "allreduce", "allreduce_in_place",
           "broadcast_arrays", "broadcast_object", "allgather_object", "barrier", "wait", "host_array",
           "abort_on_uncaught_exception", "set_threads_per_rank"]

_OPS = ("sum", "average", "max", "min", "prod")
_world = {}   # filled once by initialize(): comm, MPI, rank, size, local_rank, local_size


def initialize(set_threads=True):
    """Start MPI (once) and, with `set_threads`, give each rank its share of this host's cores."""
    if _world:
        return
    from mpi4py import MPI  # lazy: `import tinydl` must not load MPI
    comm = MPI.COMM_WORLD
    _world.update(comm=comm, MPI=MPI)
    wait([comm.Ibarrier()])  # ranks start at different speeds: wait for the others asleep, not spinning
    local = comm.Split_type(MPI.COMM_TYPE_SHARED, key=comm.Get_rank())
    _world.update(rank=comm.Get_rank(), size=comm.Get_size(), local_rank=local.Get_rank(),
                  local_size=local.Get_size())
    local.Free()
    if _world["size"] > 1:
        abort_on_uncaught_exception()
        if set_threads:
            set_threads_per_rank(_world["local_size"])


def abort_on_uncaught_exception():
    """Make an uncaught exception on any rank abort the whole job (as `python -m mpi4py` does), instead of
    leaving the other ranks waiting forever at their next collective."""
    previous = sys.excepthook

    def hook(kind, value, traceback):
        previous(kind, value, traceback)
        sys.stderr.flush()
        _world["comm"].Abort(1)
    sys.excepthook = hook


def set_threads_per_rank(ranks_on_host):
    """numba and BLAS threads = this host's cores / ranks on it, so ranks do not oversubscribe cores;
    thread counts set in the environment win. Returns the numba thread count."""
    threads = max(1, (os.cpu_count() or 1) // ranks_on_host)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ.setdefault(var, str(threads))
    numba_threads = int(os.environ["NUMBA_NUM_THREADS"])
    if "numba" in sys.modules:  # already started: its pool exists, only the active count can change
        import numba
        numba.set_num_threads(min(numba_threads, numba.config.NUMBA_NUM_THREADS))
    try:
        from threadpoolctl import threadpool_limits  # optional; BLAS may be loaded already, so limit it now
    except ImportError:
        return numba_threads
    threadpool_limits(int(os.environ["OPENBLAS_NUM_THREADS"]), user_api="blas")
    return numba_threads


def rank():
    """This process's rank in the world (0 without mpiexec)."""
    initialize()
    return _world["rank"]


def size():
    """Number of processes in the world (1 without mpiexec)."""
    initialize()
    return _world["size"]


def local_rank():
    """Rank among the processes on this host."""
    initialize()
    return _world["local_rank"]


def local_size():
    """Number of processes on this host."""
    initialize()
    return _world["local_size"]


def is_chief():
    """True on rank 0, the rank that writes files and prints."""
    return rank() == 0


def allreduce(array, op="average", out=None):
    """`op` ('sum', 'average', 'max', 'min', 'prod') of `array` over all ranks, as a new array on its device.

    `out` (a NumPy array shaped like `array`; `array` itself for in place) receives the result instead:
    reusing it saves the page faults of a fresh result, which cost more than the transfer for many MiB.
    """
    host = host_array(array, "allreduce")
    if out is not None and (not isinstance(out, np.ndarray) or out.shape != host.shape or out.dtype != host.dtype):
        raise ValueError(f"allreduce: out must be a NumPy array of shape {host.shape} and dtype {host.dtype}")
    result = np.empty_like(host) if out is None else out
    _reduce([(host, result)], op)
    return backend.to_device(result, backend.device_of(array)) if out is None else result


def allreduce_in_place(arrays, op="sum"):
    """Reduce contiguous NumPy `arrays` over all ranks, each overwritten with its result."""
    return [recv for _, recv in _reduce([(a, a) for a in arrays], op)]


def _reduce(pairs, op):
    """Reduce each (send, receive) pair of NumPy arrays over all ranks, after all ranks have arrived."""
    if op not in _OPS:
        raise ValueError(f"allreduce: op must be one of {_OPS}, got {op!r}")
    if op == "average" and any(recv.dtype.kind not in "fc" for _, recv in pairs):
        kinds = sorted({str(recv.dtype) for _, recv in pairs if recv.dtype.kind not in "fc"})
        raise TypeError(f"allreduce: op='average' needs floating-point arrays, got {kinds}; use op='sum'")
    if size() == 1:
        for send, recv in pairs:
            if recv is not send:
                recv[...] = send
        return pairs
    MPI = _world["MPI"]
    mpi_op = {"sum": MPI.SUM, "average": MPI.SUM, "max": MPI.MAX, "min": MPI.MIN, "prod": MPI.PROD}[op]
    barrier()
    for send, recv in pairs:
        _world["comm"].Allreduce(MPI.IN_PLACE if send is recv else send, recv, op=mpi_op)
        if op == "average":
            recv /= size()
    return pairs


def broadcast_arrays(arrays, root=0):
    """Rank `root`'s values of `arrays` (NumPy, contiguous) written into them in place on every rank."""
    if size() == 1:
        return arrays
    barrier()
    for a in arrays:
        _world["comm"].Bcast(a, root=root)
    return arrays


def broadcast_object(obj, root=0):
    """Rank `root`'s picklable `obj` on every rank."""
    if size() == 1:
        return obj
    barrier()  # the pickled bcast below blocks (and busy-polls) until root arrives: arrive together first
    return _world["comm"].bcast(obj, root=root)


def allgather_object(obj):
    """A list of every rank's picklable `obj`, in rank order."""
    if size() == 1:
        return [obj]
    barrier()
    return _world["comm"].allgather(obj)


def barrier():
    """Wait until every rank arrives, sleeping rather than spinning."""
    if size() > 1:
        wait([_world["comm"].Ibarrier()])


def wait(requests, spin_s=1e-3):
    """Wait for MPI requests: `Testall` in a yielding loop for `spin_s` (ranks that arrive together meet
    at once: a barrier's messages only move while both ranks are inside MPI), then with a sleep
    growing from 10 us to 0.5 ms between tests, so a long wait costs almost no CPU."""
    test = _world["MPI"].Request.Testall
    end = time.perf_counter() + spin_s
    while time.perf_counter() < end:
        if test(requests):
            return
        os.sched_yield()  # give the core to a rank that still computes, when they share one
    delay = 1e-5
    while not test(requests):
        time.sleep(delay)
        delay = min(delay * 2, 5e-4)


def host_array(array, what="array"):
    """A contiguous NumPy copy-or-view of `array` (CuPy arrays are staged through host memory)."""
    if backend.device_of(array) != "cpu":
        array = array.get()
    if not isinstance(array, np.ndarray):
        raise TypeError(f"{what}: expected a NumPy or CuPy array, got {type(array).__name__}")
    return np.ascontiguousarray(array)
