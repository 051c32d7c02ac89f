"""keras.utils' data helpers: PyDataset with prefetching workers, windows over time series, splits."""
import concurrent.futures

import numpy as np

from tinydl import tree
from tinydl.data import Sequence

__all__ = ["PyDataset", "timeseries_dataset_from_array", "split_dataset", "pack_x_y_sample_weight",
           "unpack_x_y_sample_weight"]


class PyDataset(Sequence):
    """Base for batch sources: define `__len__` and `__getitem__(index)`. With `workers` > 1 (threads, or
    processes with `use_multiprocessing=True`) asking for batch i also starts batches i+1 ... i+max_queue_size
    in the background, so `fit`, which asks in order, finds them ready."""

    def __init__(self, workers=1, use_multiprocessing=False, max_queue_size=10):
        for arg, value in (("workers", workers), ("max_queue_size", max_queue_size)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"PyDataset: {arg} must be a positive integer, received {arg}={value!r}")
        self._workers = workers
        self._use_multiprocessing = bool(use_multiprocessing)
        self._max_queue_size = max_queue_size
        self._pool, self._pending = None, {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "__getitem__" in cls.__dict__:
            cls.__getitem__ = _prefetching(cls.__dict__["__getitem__"])
        if "on_epoch_end" in cls.__dict__:
            cls.on_epoch_end = _dropping_prefetched(cls.__dict__["on_epoch_end"])

    workers = property(lambda self: self._workers)
    use_multiprocessing = property(lambda self: self._use_multiprocessing)
    max_queue_size = property(lambda self: self._max_queue_size)

    @property
    def num_batches(self):
        """The number of batches (`len(self)`)."""
        return len(self)

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_pool"], state["_pending"] = None, {}  # worker processes get the data, not the pool
        return state


def _prefetching(getitem):
    """`getitem` serving batch i from the workers and queueing the next ones."""
    def __getitem__(self, index):
        if getattr(self, "_workers", 1) == 1 and not getattr(self, "_use_multiprocessing", False):
            return getitem(self, index)
        if self._pool is None:
            executor = concurrent.futures.ProcessPoolExecutor if self._use_multiprocessing \
                else concurrent.futures.ThreadPoolExecutor
            self._pool = executor(self._workers)
        future = self._pending.pop(index, None) or self._pool.submit(_make_batch, self, index)
        for ahead in range(index + 1, min(index + 1 + self._max_queue_size, len(self))):
            if ahead not in self._pending:
                self._pending[ahead] = self._pool.submit(_make_batch, self, ahead)
        return future.result()
    __getitem__.__doc__ = getitem.__doc__
    __getitem__.__wrapped__ = getitem
    return __getitem__


def _make_batch(dataset, index):
    """The batch from the subclass's own `__getitem__` (module-level, so worker processes can unpickle it)."""
    return type(dataset).__getitem__.__wrapped__(dataset, index)


def _dropping_prefetched(on_epoch_end):
    """`on_epoch_end` that first discards batches fetched ahead (the next epoch may order them anew)."""
    def wrapper(self):
        for future in getattr(self, "_pending", {}).values():
            future.cancel()
        for future in getattr(self, "_pending", {}).values():
            if not future.cancelled():
                concurrent.futures.wait([future])
        self._pending = {}
        return on_epoch_end(self)
    wrapper.__doc__ = on_epoch_end.__doc__
    return wrapper


def timeseries_dataset_from_array(data, targets, sequence_length, sequence_stride=1, sampling_rate=1,
                                  batch_size=128, shuffle=False, seed=None, start_index=None, end_index=None,
                                  format="tf"):
    """Sliding windows over `data` in batches: window i is `data[start + s_i + j * sampling_rate]` for
    j < sequence_length, with target `targets[start + s_i]`; `format` is accepted for Keras code, and
    the result is always a tinydl batch source that `fit` takes."""
    if format not in ("tf", "tinydl"):
        raise ValueError(f"timeseries_dataset_from_array: format must be 'tf' or 'tinydl', received {format!r}")
    for arg, value in (("sequence_length", sequence_length), ("sequence_stride", sequence_stride),
                       ("sampling_rate", sampling_rate)):
        if not isinstance(value, (int, np.integer)) or value <= 0:
            raise ValueError(f"`{arg}` must be a positive integer. Received: {arg}={value}")
    data = np.asarray(data)
    start_index = 0 if start_index is None else int(start_index)
    end_index = len(data) if end_index is None else int(end_index)
    if not 0 <= start_index < len(data) or not start_index < end_index <= len(data):
        raise ValueError(f"start_index and end_index must select a non-empty part of the {len(data)} rows, "
                         f"received start_index={start_index}, end_index={end_index}")
    num_seqs = end_index - start_index - (sequence_length - 1) * sampling_rate
    if targets is not None:
        targets = np.asarray(targets)
        num_seqs = min(num_seqs, len(targets) - start_index)
    starts = np.arange(0, max(num_seqs, 0), sequence_stride)
    if shuffle:
        np.random.RandomState(seed).shuffle(starts)
    return _Windows(data, targets, starts + start_index, sequence_length, sampling_rate, batch_size)


class _Windows(Sequence):
    """Batches of windows cut on demand (the windows are not materialised all at once)."""

    def __init__(self, data, targets, starts, length, rate, batch_size):
        self.data, self.targets, self.starts = data, targets, starts
        self.offsets = np.arange(length) * rate
        self.batch_size = batch_size

    def __len__(self):
        if self.batch_size is None:
            return len(self.starts)
        return -(-len(self.starts) // self.batch_size)

    def __getitem__(self, index):
        if not 0 <= index < len(self):
            raise IndexError(f"batch {index} out of range for {len(self)} batches")
        if self.batch_size is None:
            starts = self.starts[index:index + 1]
        else:
            starts = self.starts[index * self.batch_size:(index + 1) * self.batch_size]
        x = self.data[starts[:, None] + self.offsets]
        if self.batch_size is None:
            x, batch = x[0], (lambda a: a[0])
        else:
            batch = (lambda a: a)
        if self.targets is None:
            return x
        return x, batch(self.targets[starts])

    def __iter__(self):
        return (self[i] for i in range(len(self)))


def split_dataset(dataset, left_size=None, right_size=None, shuffle=False, seed=None, preferred_backend=None):
    """Two parts of an array, a tuple/dict of arrays or a list of samples, of the sizes asked (ints are
    counts, floats fractions; one may be None for the rest). Parts keep the input's structure, as NumPy
    arrays whatever `preferred_backend` (Keras's choice between tf.data and torch datasets) names."""
    if preferred_backend not in (None, "tinydl", "numpy", "torch", "tensorflow", "jax"):
        raise ValueError(f"split_dataset: unknown preferred_backend {preferred_backend!r}")
    leaves = tree.flatten(dataset) if isinstance(dataset, (tuple, dict)) else [dataset]
    arrays = [np.asarray(a) for a in leaves]
    total = len(arrays[0])
    if any(len(a) != total for a in arrays):
        raise ValueError(f"split_dataset: the arrays have different lengths {[len(a) for a in arrays]}")
    if left_size is None and right_size is None:
        raise ValueError("At least one of the `left_size` or `right_size` must be specified. "
                         "Received: left_size=None and right_size=None")
    left, right = _split_sizes(left_size, right_size, total)
    order = np.random.RandomState(seed).permutation(total) if shuffle else np.arange(total)
    parts = []
    for idx in (order[:left], order[left:left + right]):
        cut = [a[idx] for a in arrays]
        parts.append(tree.pack_sequence_as(dataset, cut) if isinstance(dataset, (tuple, dict)) else cut[0])
    return tuple(parts)


def _split_sizes(left, right, total):
    """Integer sizes from counts or fractions, checked as Keras checks them."""
    for name, size in (("left_size", left), ("right_size", right)):
        if size is None:
            continue
        if type(size) not in (int, float):
            raise TypeError(f"Invalid `{name}` Type. Expected: int or float or None, Received: type({name})="
                            f"{type(size)}.")
        if (type(size) is int and not 0 < size < total) or (type(size) is float and not 0 < size < 1):
            raise ValueError(f"`{name}` should be either a positive integer smaller than {total}, or a float "
                             f"within the range `[0, 1]`. Received: {name}={size}")
    if type(left) is float and type(right) is float and left + right > 1:
        raise ValueError("The sum of `left_size` and `right_size` is greater than 1. It must be less than or "
                         "equal to 1.")
    left = round(left * total) if type(left) is float else left
    right = round(right * total) if type(right) is float else right
    left = total - right if left is None else left
    right = total - left if right is None else right
    if left + right > total:
        raise ValueError(f"The sum of `left_size` and `right_size` should be smaller than the {total}. "
                         f"Received: left_size + right_size = {left + right}")
    if left == 0 or right == 0:
        raise ValueError(f"With `dataset` of length={total}, left_size={left} and right_size={right}: one side "
                         "of the split would be empty")
    return int(left), int(right)


def pack_x_y_sample_weight(x, y=None, sample_weight=None):
    """`x`, `(x, y)` or `(x, y, sample_weight)`: the shortest tuple holding what is given."""
    if y is None:
        return x if not isinstance(x, (list, tuple)) else (x,)
    if sample_weight is None:
        return (x, y)
    return (x, y, sample_weight)


def unpack_x_y_sample_weight(data):
    """`(x, y, sample_weight)` from a batch of 1 to 3 parts (missing parts None)."""
    if isinstance(data, list):
        data = tuple(data)
    if not isinstance(data, tuple):
        return (data, None, None)
    if len(data) == 1:
        return (data[0], None, None)
    if len(data) == 2:
        return (data[0], data[1], None)
    if len(data) == 3:
        return data
    raise ValueError(f"Data is expected to be in format `x`, `(x,)`, `(x, y)`, or `(x, y, sample_weight)`, "
                     f"found: {data}")
