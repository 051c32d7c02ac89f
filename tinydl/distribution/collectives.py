"""The MPI world: rank and size, and collectives that wait without burning a core.

MPICH busy-polls inside blocking collectives: a rank waiting 3 s for a slower one burns 3 s of CPU,
which on a machine with one core per rank slows the rank being waited for. So every collective here
is non-blocking (`Iallreduce`, `Ibcast`, `Ibarrier`) and waited for with `Testall` and a sleep that
grows from 10 us to 1 ms. A plain `python` run (no mpiexec) is a world of size 1 where every
collective returns its input.
"""
import os
import time

import numpy as np

from tinydl import backend

__all__ = ["initialize", "rank", "size", "local_rank", "local_size", "is_chief", "allreduce", "allreduce_many",
           "start_allreduce", "broadcast_arrays", "broadcast_object", "allgather_object", "barrier", "wait", "host_array",
           "set_threads_per_rank"]

_OPS = ("sum", "average", "max", "min", "prod")
_world = {}   # filled once by initialize(): comm, MPI, rank, size, local_rank, local_size


def initialize(set_threads=True):
    """Start MPI (once) and, with `set_threads`, give each rank its share of this host's cores."""
    if _world:
        return
    from mpi4py import MPI  # lazy: `import tinydl` must not load MPI
    comm = MPI.COMM_WORLD
    local = comm.Split_type(MPI.COMM_TYPE_SHARED, key=comm.Get_rank())
    _world.update(comm=comm, MPI=MPI, rank=comm.Get_rank(), size=comm.Get_size(), local_rank=local.Get_rank(),
                  local_size=local.Get_size())
    local.Free()
    if set_threads and _world["size"] > 1:
        set_threads_per_rank(_world["local_size"])


def set_threads_per_rank(ranks_on_host):
    """numba and BLAS threads = this host's cores / ranks on it, so ranks do not oversubscribe cores."""
    threads = max(1, (os.cpu_count() or 1) // ranks_on_host)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ.setdefault(var, str(threads))
    import sys
    if "numba" in sys.modules:  # already started: its pool exists, only the active count can change
        import numba
        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    try:
        from threadpoolctl import threadpool_limits  # lazy and optional: BLAS may already be loaded
    except ImportError:
        return threads
    threadpool_limits(threads)
    return threads


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


def allreduce(array, op="average"):
    """`op` ('sum', 'average', 'max', 'min', 'prod') of `array` over all ranks, as a new array on its device."""
    return allreduce_many([array], op)[0]


def allreduce_many(arrays, op="average"):
    """Reduce several arrays at once: every reduction is started, then all are waited for together."""
    if op not in _OPS:
        raise ValueError(f"allreduce: op must be one of {_OPS}, got {op!r}")
    hosts = [host_array(a, f"allreduce: array {i}") for i, a in enumerate(arrays)]
    if size() == 1:
        return [backend.to_device(h.copy(), backend.device_of(a)) for h, a in zip(hosts, arrays)]
    MPI = _world["MPI"]
    mpi_op = {"sum": MPI.SUM, "average": MPI.SUM, "max": MPI.MAX, "min": MPI.MIN, "prod": MPI.PROD}[op]
    outs = [np.empty_like(h) for h in hosts]
    wait([_world["comm"].Iallreduce(h, o, op=mpi_op) for h, o in zip(hosts, outs)])
    if op == "average":
        outs = [(o / size()).astype(o.dtype, copy=False) for o in outs]
    return [backend.to_device(o, backend.device_of(a)) for o, a in zip(outs, arrays)]


def start_allreduce(host):
    """Start a sum-allreduce of NumPy array `host`; returns (request, result array filled when it completes)."""
    out = np.empty_like(host)
    return _world["comm"].Iallreduce(host, out, op=_world["MPI"].SUM), out


def broadcast_arrays(arrays, root=0):
    """Rank `root`'s values of `arrays` (NumPy, contiguous) written into them in place on every rank."""
    if size() == 1:
        return arrays
    wait([_world["comm"].Ibcast(a, root=root) for a in arrays])
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


def wait(requests):
    """Wait for MPI requests with Testall and a growing sleep (10 us .. 1 ms) instead of a busy loop."""
    test = _world["MPI"].Request.Testall
    delay = 1e-5
    while not test(requests):
        time.sleep(delay)
        delay = min(delay * 2, 1e-3)


def host_array(array, what="array"):
    """A contiguous NumPy copy-or-view of `array` (CuPy arrays are staged through host memory)."""
    if backend.device_of(array) != "cpu":
        array = array.get()
    if not isinstance(array, np.ndarray):
        raise TypeError(f"{what}: expected a NumPy or CuPy array, got {type(array).__name__}")
    return np.ascontiguousarray(array)
