"""The 8x8 handwritten digits (1,797 images, classes 0-9), bundled.

    (x_train, y_train), (x_test, y_test) = tinydl.datasets.digits.load_data()
    x_train.shape  # (1437, 8, 8), float32 in [0, 1];  y_train: int64 labels

The split is fixed: the samples are shuffled with seed 0 and the last 20% (359) are the test set.
"""
import gzip
import os

import numpy as np

from tinydl.datasets._split import split

__all__ = ["load_data"]

_PATH = os.path.join(os.path.dirname(__file__), "data", "digits.csv.gz")


def load_data(test_fraction=0.2, seed=0):
    """((x_train, y_train), (x_test, y_test)): images (n, 8, 8) scaled to [0, 1], integer labels."""
    with gzip.open(_PATH, "rt") as f:
        raw = np.loadtxt(f, delimiter=",", dtype=np.float32)
    x = (raw[:, :64] / 16.0).reshape(-1, 8, 8).astype(np.float32)
    y = raw[:, 64].astype(np.int64)
    return split(x, y, test_fraction, seed)
