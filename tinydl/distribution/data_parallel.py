"""DataParallel: the same model on every rank, each global batch split across ranks, gradients averaged.

`fit` calls five hooks of the active DataParallel (see `active()`), all no-ops in a world of size 1:
`check_data` (batch sizes that split), `synchronize` (rank 0's weights, optimizer, RNG state and
resume epoch on every rank), `shard` (this rank's slice of a global batch), `reduce_gradients`
(between backward and `optimizer.apply`) and `average_logs` (epoch and evaluation logs). Callbacks
whose `rank_zero_only` is True (progress bar, checkpoints, CSV, TensorBoard, backups) exist on rank 0 only.
"""
import copy

import numpy as np

from tinydl import backend, ops, optimizers
from tinydl.autograd import Function, no_grad
from tinydl.distribution import collectives
from tinydl.tensor import Tensor

__all__ = ["DataParallel", "DistributedOptimizer", "broadcast_variables", "set_distribution", "distribution",
           "active", "synchronized_moments"]

_current = {"distribution": None}


def set_distribution(value):
    """Make `value` (a DataParallel, or None for single-process training) the distribution fit uses."""
    if value is not None and not isinstance(value, DataParallel):
        raise TypeError(f"set_distribution expects a DataParallel or None, got {type(value).__name__}")
    _current["distribution"] = value


def distribution():
    """The distribution set by `set_distribution` (None when none is)."""
    return _current["distribution"]


def active():
    """The DataParallel that fit must honour: the one set, when the world has more than one rank; else None."""
    dist = _current["distribution"]
    return dist if dist is not None and collectives.size() > 1 else None


class DataParallel:
    """Keras 3's DataParallel on MPI ranks: `batch_size` stays the global batch, each rank takes its slice.

    `auto_shard_dataset=False` means every rank already reads its own data: batches are used whole and
    averaged weighted by their sizes. `bucket_size_mb` sets the size of the allreduce buckets (PyTorch
    DDP's 25 MB). `device_mesh` and `devices` are Keras's JAX-device arguments: the devices here are the
    MPI ranks, so they must be None.
    """

    def __init__(self, device_mesh=None, devices=None, auto_shard_dataset=True, bucket_size_mb=25):
        for name, value in (("device_mesh", device_mesh), ("devices", devices)):
            if value is not None:
                raise ValueError(f"DataParallel({name}=...): tinydl's devices are the MPI ranks started by "
                                 f"mpiexec, so {name} must be None; got {value!r}")
        if not bucket_size_mb > 0:
            raise ValueError(f"DataParallel: bucket_size_mb must be > 0, got {bucket_size_mb!r}")
        collectives.initialize()
        self.auto_shard_dataset = bool(auto_shard_dataset)
        self.averager = GradientAverager(int(bucket_size_mb * 2**20))
        self.share = 1.0 / self.size   # this rank's part of the current global batch (its gradient weight)
        self.seen = 0              # samples since the last average_logs (log weight)
        self.unbuilt_model = None  # a model fit gave to synchronize before it had weights

    @property
    def rank(self):
        return collectives.rank()

    @property
    def size(self):
        return collectives.size()

    # -- fit hooks ---------------------------------------------------------------------------------
    def check_data(self, n_samples, batch_size):
        """Refuse array data whose batches cannot be split over the ranks (same error on every rank)."""
        if n_samples is None or not self.auto_shard_dataset:
            return
        if n_samples < self.size:
            raise ValueError(f"DataParallel: the dataset has {n_samples} samples, fewer than the {self.size} "
                             "ranks; every rank needs at least one sample")
        if batch_size % self.size:
            raise ValueError(f"DataParallel: batch_size={batch_size} (the global batch) must be divisible by the "
                             f"number of ranks, {self.size}")
        last = n_samples % batch_size
        if 0 < last < self.size:
            raise ValueError(f"DataParallel: the last batch has {last} samples for {self.size} ranks; choose a "
                             f"batch_size that leaves none or at least {self.size} samples in the last batch")

    def synchronize(self, model, initial_epoch=0):
        """Rank 0's weights, optimizer state, RNG state and `initial_epoch` on every rank; returns the epoch.

        A model without weights yet (a Sequential without Input) is built by the first `shard`, from
        this rank's slice, and synchronized then, before its first training step.
        """
        epoch = collectives.broadcast_object(int(initial_epoch))
        if model.built:
            self._broadcast_model(model)
        else:
            self.unbuilt_model = model
        return epoch

    def _broadcast_model(self, model):
        broadcast_variables(model)
        optimizer = getattr(model, "optimizer", None)
        if optimizer is not None:  # slots exist (and a resumed state is applied) before rank 0's are sent
            optimizer.build(model.trainable_weights)
        state = collectives.broadcast_object({"optimizer": optimizer.get_state() if optimizer is not None else None,
                                              "rng": backend.get_rng_state()})
        if not collectives.is_chief():
            if optimizer is not None:
                optimizer.set_state(state["optimizer"])
            backend.set_rng_state(state["rng"])

    def shard(self, x, y=None, sample_weight=None):
        """This rank's contiguous slice of a global batch (x, y, sample_weight)."""
        n = _batch_len(x)
        if self.auto_shard_dataset:
            if n < self.size:
                raise ValueError(f"DataParallel: a batch of {n} samples cannot be split over {self.size} ranks")
            part = slice(self.rank * n // self.size, (self.rank + 1) * n // self.size)
            x, y, sample_weight = (_map_leaves(lambda a: a[part], s) for s in (x, y, sample_weight))
            self.share = (part.stop - part.start) / n
            n = part.stop - part.start
        else:  # batches of different sizes per rank: the global batch is their sum
            self.share = n / float(collectives.allreduce(np.array([n], dtype=np.float64), "sum")[0])
        self.seen += n
        if self.unbuilt_model is not None:
            self._build(x)
        return x, y, sample_weight

    def _build(self, x):
        """Build the waiting model by calling it (inference mode, off the tape) on `x`, then synchronize it."""
        model, self.unbuilt_model = self.unbuilt_model, None
        with no_grad():
            model(x, training=False)
        self._broadcast_model(model)

    def reduce_gradients(self, grads):
        """Gradients averaged over ranks, weighted by each rank's share of the batch `shard` last cut (equal
        weights when no batch was sharded since the last call); None stays None."""
        share, self.share = self.share, 1.0 / self.size   # unsharded steps (train_on_batch) weigh ranks alike
        return self.averager(grads, share)

    def average_logs(self, logs):
        """Logs averaged over ranks, weighted by the samples each rank saw since the last call."""
        weight, self.seen = float(self.seen), 0
        keys = list(logs)  # same insertion order on every rank: the same code built the logs
        values = np.array([weight * float(logs[k]) for k in keys] + [weight], dtype=np.float64)
        total = collectives.allreduce(values, "sum")
        return {k: float(v / total[-1]) for k, v in zip(keys, total[:-1])} if total[-1] else dict(logs)

    def keep_callback(self, callback):
        """False on ranks other than 0 for callbacks marked `rank_zero_only` (they write files or print)."""
        return collectives.is_chief() or not getattr(callback, "rank_zero_only", False)


def DistributedOptimizer(optimizer, bucket_size_mb=25):  # noqa: N802  (Horovod's and Keras-style name)
    """Horovod's DistributedOptimizer: the same optimizer (a copy of its class and state) whose `apply`
    first averages the gradients over ranks, so it works in `compile` and in custom loops alike."""
    base = optimizers.get(optimizer)
    collectives.initialize()
    averaging = copy.copy(base)
    averaging.__class__ = type(type(base).__name__, (_Averaging, type(base)), {})
    averaging.gradient_averager = GradientAverager(int(bucket_size_mb * 2**20))
    return averaging


class _Averaging:
    """The mixin DistributedOptimizer puts in front of the optimizer's class."""

    def apply(self, grads, variables=None):
        grads = [g.data if isinstance(g, Tensor) else g for g in grads]
        return super().apply(self.gradient_averager(grads, 1.0 / collectives.size()), variables)


def broadcast_variables(variables, root=0):
    """Rank `root`'s values of a model's weights (or a list of variables) on every rank, in place.

    Raises the same ValueError on every rank when the ranks' weight shapes differ.
    """
    variables = list(variables.weights) if hasattr(variables, "weights") else list(variables)
    shapes = [(tuple(v.data.shape), str(v.data.dtype)) for v in variables]
    everyone = collectives.allgather_object(shapes)
    for r, theirs in enumerate(everyone):
        if theirs != everyone[root]:
            raise ValueError(f"broadcast_variables: rank {r}'s model differs from rank {root}'s: "
                             f"{_first_difference(everyone[root], theirs)}; every rank must build the same model")
    hosts = [collectives.host_array(v.data).copy() for v in variables]
    collectives.broadcast_arrays(hosts, root)
    for v, h in zip(variables, hosts):
        v.data[...] = backend.to_device(h, backend.device_of(v.data))


class GradientAverager:
    """sum(share_r * g_r) over ranks (the shares, each rank's part of the batch, add up to 1), through
    flat buckets of about `bucket_bytes`.

    The buckets are kept between steps (fresh buffers of many MiB cost more in page faults than the
    transfer), so the averaged gradients it returns are views into them, valid until the next call.
    Buckets are reduced after the backward pass, not during it: MPICH moves a non-blocking collective's
    data only inside MPI calls, so one started mid-backward would wait for the end of backward anyway
    (docs/distributed.md).
    """

    def __init__(self, bucket_bytes):
        self.bucket_bytes = bucket_bytes
        self.layout = None    # (shapes and dtypes of the gradients, their buckets)
        self.buffers = []

    def __call__(self, grads, share):
        if collectives.size() == 1:
            return list(grads)
        present = [i for i, g in enumerate(grads) if g is not None]
        self._prepare([grads[i] for i in present])
        for members, flat in zip(self.buckets, self.buffers):
            offset = 0
            for j in members:
                g = collectives.host_array(grads[present[j]])
                np.multiply(g.reshape(-1), share, out=flat[offset:offset + g.size])
                offset += g.size
        collectives.allreduce_in_place(self.buffers, "sum")
        out = list(grads)
        for members, flat in zip(self.buckets, self.buffers):
            offset = 0
            for j in members:
                g = grads[present[j]]
                out[present[j]] = backend.to_device(flat[offset:offset + g.size].reshape(g.shape),
                                                    backend.device_of(g))
                offset += g.size
        return out

    def _prepare(self, grads):
        """(Re)make the buckets when the gradients' shapes or dtypes differ from the last call's."""
        layout = [(g.shape, g.dtype) for g in grads]
        if layout == self.layout:
            return
        self.layout = layout
        self.buckets = bucket_indices(grads, self.bucket_bytes)
        self.buffers = [np.empty(sum(grads[j].size for j in members), dtype=grads[members[0]].dtype)
                        for members in self.buckets]


def synchronized_moments(x, axis):
    """Mean and biased variance over every axis of `x` but `axis`, across all ranks (differentiable).

    BatchNormalization(synchronized=True) normalises with these, so N ranks at batch B/N compute what
    one process computes at batch B.
    """
    axes = tuple(a for a in range(x.ndim) if a != axis % x.ndim)
    count = collectives.allreduce(np.array([x.size // x.shape[axis]], dtype=np.float64), "sum")[0]
    mean = AllreduceSum.apply(ops.sum(x, axis=axes)) / float(count)
    shape = [1 if a in axes else -1 for a in range(x.ndim)]
    centred = x - ops.reshape(mean, shape)
    var = AllreduceSum.apply(ops.sum(centred * centred, axis=axes)) / float(count)
    return mean, var


class AllreduceSum(Function):
    """The sum of `x` over ranks. Backward: each rank's gradients are weighted by its share of the batch
    when averaged, so the incoming gradients are summed with those shares, over this rank's share."""

    def forward(self, x):
        return collectives.allreduce(x, "sum")

    def backward(self, g):
        dist = _current["distribution"]
        share = dist.share if dist is not None else 1.0
        return collectives.allreduce(g * share, "sum") / share


def bucket_indices(grads, bucket_bytes):
    """Indices of `grads` grouped into consecutive buckets of one dtype and about `bucket_bytes` each."""
    buckets, current, nbytes, dtype = [], [], 0, None
    for i, g in enumerate(grads):
        if current and (nbytes + g.nbytes > bucket_bytes or g.dtype != dtype):
            buckets.append(current)
            current, nbytes = [], 0
        current.append(i)
        nbytes += g.nbytes
        dtype = g.dtype
    return buckets + ([current] if current else [])


def _batch_len(x):
    leaf = _leaves(x)[0]
    return int(leaf.shape[0]) if hasattr(leaf, "shape") else len(leaf)


def _leaves(struct):
    if isinstance(struct, dict):
        return [leaf for k in struct for leaf in _leaves(struct[k])]
    if isinstance(struct, (list, tuple)):
        return [leaf for s in struct for leaf in _leaves(s)]
    return [] if struct is None else [struct]


def _map_leaves(fn, struct):
    """`fn` applied to every array in nested lists/tuples/dicts (None stays None)."""
    if struct is None:
        return None
    if isinstance(struct, dict):
        return {k: _map_leaves(fn, v) for k, v in struct.items()}
    if isinstance(struct, (list, tuple)):
        return type(struct)(_map_leaves(fn, s) for s in struct)
    return fn(struct)


def _first_difference(mine, theirs):
    if len(mine) != len(theirs):
        return f"{len(theirs)} weights instead of {len(mine)}"
    i = next(i for i, (a, b) in enumerate(zip(mine, theirs)) if a != b)
    return f"weight {i} is {theirs[i][0]} {theirs[i][1]}, expected {mine[i][0]} {mine[i][1]}"
