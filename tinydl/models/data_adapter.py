"""Turn what `fit`/`evaluate`/`predict` receive into batches of (x, y, sample_weight).

Arrays (and lists/dicts of arrays) are cut into batches, shuffled per epoch when asked; Python
generators and Sequence-like objects (`__len__` + `__getitem__`) are consumed as they come.
"""
import numpy as np

from tinydl import backend
from tinydl.layers.base import flatten, pack_like

__all__ = ["DataHandler", "split_validation", "unpack_batch"]


def unpack_batch(batch):
    """A batch as (x, y, sample_weight) from `x`, `(x,)`, `(x, y)` or `(x, y, sample_weight)` (a list of
    two or three items counts as a tuple, as Keras: a PyTorch DataLoader yields lists)."""
    if isinstance(batch, list) and len(batch) in (2, 3):
        batch = tuple(batch)
    if isinstance(batch, tuple):
        if len(batch) == 1:
            return batch[0], None, None
        if len(batch) == 2:
            return batch[0], batch[1], None
        if len(batch) == 3:
            return batch
        raise ValueError(f"a batch tuple must be (x,), (x, y) or (x, y, sample_weight); got {len(batch)} items")
    return batch, None, None


def _as_arrays(struct):
    """Nested lists/dicts of array-likes as NumPy arrays; float data in the default dtype."""
    if struct is None:
        return None

    def convert(a):
        if hasattr(a, "numpy") and not isinstance(a, np.ndarray):
            a = a.numpy()
        a = np.asarray(a)
        if a.dtype.kind == "f" and a.dtype != backend.default_dtype():
            a = a.astype(backend.default_dtype())
        return a
    if isinstance(struct, (list, tuple)) and not _is_array_list(struct):
        return convert(struct)
    return pack_like(struct, [convert(a) for a in flatten(struct)])


def _is_array_list(struct):
    """True for a list/tuple of arrays (several inputs), False for a nested list of numbers (one array)."""
    return all(hasattr(a, "shape") or isinstance(a, (list, dict)) and not _is_number_list(a) for a in struct)


def _is_number_list(a):
    return isinstance(a, list) and all(isinstance(v, (int, float, list)) for v in a)


def _length(struct, what):
    """Common number of samples of all arrays in `struct`; a clear error when they differ."""
    sizes = {len(a) for a in flatten(struct)}
    if len(sizes) > 1:
        raise ValueError(f"{what} arrays have different numbers of samples: {sorted(sizes)}")
    return sizes.pop()


def _is_arrays(x):
    return all(hasattr(a, "shape") or isinstance(a, (list, float, int)) for a in flatten(x)) and not _is_source(x)


def _is_source(x):
    """True for generators, Sequence-like objects and other iterables of batches (a PyTorch DataLoader)."""
    if isinstance(x, (list, tuple, dict, str, bytes, np.ndarray)) or hasattr(x, "shape"):
        return False
    return hasattr(x, "__next__") or hasattr(x, "__iter__") or (hasattr(x, "__getitem__") and hasattr(x, "__len__"))


def _source_kind(x):
    """'generator' (consumed once), 'sequence' (indexed per step) or 'iterable' (iterated afresh each epoch)."""
    if hasattr(x, "__next__"):
        return "generator"
    if hasattr(x, "__getitem__") and hasattr(x, "__len__"):
        return "sequence"
    return "iterable"


def _host_batch(batch):
    """A batch with PyTorch tensors as NumPy arrays (fit accepts a DataLoader, as Keras 3 does)."""
    x, y, sample_weight = unpack_batch(batch)

    def convert(struct):
        if struct is None:
            return None
        return pack_like(struct, [a.detach().cpu().numpy() if type(a).__module__.startswith("torch") else a
                                  for a in flatten(struct)])
    return convert(x), convert(y), convert(sample_weight)


def split_validation(x, y, sample_weight, validation_split):
    """Keras's validation_split: the last fraction of the samples (before shuffling) held out."""
    if not 0 < validation_split < 1:
        raise ValueError(f"validation_split must be in (0, 1), got {validation_split}")
    if _is_source(x):
        raise ValueError("validation_split works only with array inputs, not generators or datasets")
    n = _length([x, y] if y is not None else x, "x/y")
    cut = int(n * (1 - validation_split))
    if cut == 0 or cut == n:
        raise ValueError(f"validation_split={validation_split} of {n} samples leaves {cut} for training and "
                         f"{n - cut} for validation: both need at least one sample (pass more data or "
                         "another split)")

    def take(struct, part):
        if struct is None:
            return None
        return pack_like(struct, [np.asarray(a)[part] for a in flatten(struct)])
    head, tail = slice(0, cut), slice(cut, n)
    return (take(x, head), take(y, head), take(sample_weight, head)), (take(x, tail), take(y, tail),
                                                                        take(sample_weight, tail))


class DataHandler:
    """Yields each epoch's batches; `steps` is the number of batches per epoch when known."""

    def __init__(self, x, y=None, sample_weight=None, batch_size=None, steps=None, shuffle=False,
                 class_weight=None):
        self.steps_arg = steps
        self.shuffle = shuffle
        self.exhausted = False
        if _is_source(x):
            if y is not None:
                raise ValueError("when x is a generator or dataset, it must yield y itself: do not pass y")
            self.source = x
            self.kind = _source_kind(x)
            sized = self.kind != "generator" and hasattr(x, "__len__")
            self.steps = steps if steps is not None else (len(x) if sized else None)
            self.class_weight = class_weight
            return
        self.kind = "arrays"
        self.x = _as_arrays(x)
        self.y = _as_arrays(y)
        self.sample_weight = _as_arrays(sample_weight)
        self.n = _length(self.x, "x")
        if self.y is not None:
            ny = _length(self.y, "y")
            if ny != self.n:
                raise ValueError(f"x has {self.n} samples but y has {ny}: they must have the same length")
        if self.sample_weight is not None and _length(self.sample_weight, "sample_weight") != self.n:
            raise ValueError(f"sample_weight has {_length(self.sample_weight, 'sample_weight')} entries but x "
                             f"has {self.n} samples")
        self.batch_size = int(batch_size or 32)
        batches = -(-self.n // self.batch_size)
        self.steps = min(steps, batches) if steps is not None else batches
        self.class_weight = class_weight

    def epoch(self):
        """An iterator of (x, y, sample_weight) batches for one epoch."""
        if self.kind == "arrays":
            return self._array_batches()
        if self.kind == "sequence":
            return self._sequence_batches()
        if self.kind == "iterable":
            return self._iterable_batches()
        return self._generator_batches()

    def _array_batches(self):
        order = backend.rng().permutation(self.n) if self.shuffle else None
        for step in range(self.steps):
            lo, hi = step * self.batch_size, min((step + 1) * self.batch_size, self.n)
            idx = order[lo:hi] if order is not None else slice(lo, hi)
            pick = (lambda s: None if s is None else pack_like(s, [a[idx] for a in flatten(s)]))
            yield self._weighted(pick(self.x), pick(self.y), pick(self.sample_weight))

    def _sequence_batches(self):
        for step in range(self.steps):
            yield self._weighted(*_host_batch(self.source[step]))
        if hasattr(self.source, "on_epoch_end"):
            self.source.on_epoch_end()

    def _iterable_batches(self):
        for step, batch in enumerate(self.source):
            if self.steps is not None and step >= self.steps:
                return
            yield self._weighted(*_host_batch(batch))

    def _generator_batches(self):
        step = 0
        while self.steps is None or step < self.steps:
            try:
                batch = next(self.source)
            except StopIteration:
                if step == 0:
                    self.exhausted = True
                return
            step += 1
            yield self._weighted(*_host_batch(batch))

    def _weighted(self, x, y, sample_weight):
        """Apply class_weight (per-sample weights from the labels) to a batch."""
        if self.class_weight is None or y is None:
            return x, y, sample_weight
        labels = np.asarray(flatten(y)[0])
        labels = labels.argmax(axis=-1) if labels.ndim > 1 and labels.shape[-1] > 1 else labels.reshape(-1)
        weights = np.array([self.class_weight.get(int(c), 1.0) for c in labels], dtype=backend.default_dtype())
        if sample_weight is not None:
            weights = weights * np.asarray(sample_weight).reshape(-1)
        return x, y, weights


def batch_size_of(x):
    """Number of samples in a batch (first leaf's first dimension)."""
    return int(flatten(x)[0].shape[0])
