"""Data-parallel training over MPI, modelled on `keras.distribution`.

    from tinydl import distribution
    distribution.set_distribution(distribution.DataParallel())   # under: mpiexec -n 4 python -m mpi4py train.py
    model.fit(x, y, batch_size=256)                               # unchanged: 256 is the global batch

Every rank runs the same script. `fit` then broadcasts rank 0's weights, optimizer and RNG state,
gives each rank its slice of every global batch, averages gradients with a bucketed allreduce and
averages epoch logs, and runs file-writing callbacks on rank 0 only. A plain `python` run is a world
of size 1 and behaves exactly as without a distribution. mpi4py is imported on first use only.

This package sits just above `tensor`/`autograd` (it imports nothing higher), so layers, models and
callbacks may call it.
"""
from tinydl.distribution.collectives import (  # noqa: F401
    allgather_object, allreduce, barrier, broadcast_object, initialize, is_chief, local_rank, local_size, rank,
    size,
)
from tinydl.distribution.data_parallel import (  # noqa: F401
    DataParallel, DistributedOptimizer, active, broadcast_variables, distribution, set_distribution,
    synchronized_moments,
)

__all__ = ["initialize", "rank", "size", "local_rank", "local_size", "is_chief", "allreduce", "barrier",
           "broadcast_object", "allgather_object", "DataParallel", "DistributedOptimizer", "broadcast_variables",
           "set_distribution", "distribution", "active", "synchronized_moments"]
