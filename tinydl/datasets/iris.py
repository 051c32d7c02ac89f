"""Fisher's iris flowers (150 samples, 4 features, 3 classes), bundled.

    (x_train, y_train), (x_test, y_test) = tinydl.datasets.iris.load_data()

Features are sepal length, sepal width, petal length, petal width in cm (float32); labels 0-2
(setosa, versicolor, virginica). Fixed split: shuffled with seed 0, the last 20% (30) are the test set.
"""
import os

import numpy as np

from tinydl.datasets._split import split

__all__ = ["load_data", "CLASS_NAMES"]

CLASS_NAMES = ("setosa", "versicolor", "virginica")
_PATH = os.path.join(os.path.dirname(__file__), "data", "iris.csv")


def load_data(test_fraction=0.2, seed=0):
    """((x_train, y_train), (x_test, y_test)) with float32 features and integer labels."""
    raw = np.loadtxt(_PATH, delimiter=",", skiprows=1, dtype=np.float64)
    return split(raw[:, :4].astype(np.float32), raw[:, 4].astype(np.int64), test_fraction, seed)
