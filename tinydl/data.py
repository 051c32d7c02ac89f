"""Batch sources for `fit`: `Dataset` (arrays cut into batches) and `Sequence` (your own `__getitem__`).

`fit`, `evaluate` and `predict` take NumPy arrays, lists/dicts of arrays, a Python generator of
batches, or any object with `__len__` and `__getitem__(i)` returning a batch, as Keras's PyDataset.
"""
import numpy as np

from tinydl import backend
from tinydl.layers.base import flatten, pack_like

__all__ = ["Sequence", "Dataset"]


class Sequence:
    """Base for batch sources: `__len__` is the number of batches, `__getitem__(i)` returns batch i
    as `x`, `(x, y)` or `(x, y, sample_weight)`. `on_epoch_end` runs after each epoch."""

    def __len__(self):
        raise NotImplementedError

    def __getitem__(self, index):
        raise NotImplementedError

    def on_epoch_end(self):
        pass


class Dataset(Sequence):
    """Arrays (or lists/dicts of arrays) served in batches, optionally reshuffled every epoch."""

    def __init__(self, x, y=None, sample_weight=None, batch_size=32, shuffle=False, drop_remainder=False):
        self.x, self.y, self.sample_weight = x, y, sample_weight
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.drop_remainder = drop_remainder
        sizes = {len(a) for a in flatten([x, y, sample_weight]) if a is not None}
        if len(sizes) != 1:
            raise ValueError(f"Dataset arrays have different lengths: {sorted(sizes)}")
        self.n = sizes.pop()
        self.order = np.arange(self.n)
        if shuffle:
            self.order = backend.rng().permutation(self.n)

    def __len__(self):
        full, rest = divmod(self.n, self.batch_size)
        return full if self.drop_remainder or rest == 0 else full + 1

    def __getitem__(self, index):
        if not 0 <= index < len(self):
            raise IndexError(f"batch {index} out of range for a Dataset of {len(self)} batches")
        idx = self.order[index * self.batch_size:(index + 1) * self.batch_size]
        parts = [p for p in (self.x, self.y, self.sample_weight) if p is not None]
        batch = [pack_like(p, [a[idx] for a in flatten(p)]) for p in parts]
        return batch[0] if len(batch) == 1 else tuple(batch)

    def on_epoch_end(self):
        if self.shuffle:
            self.order = backend.rng().permutation(self.n)
