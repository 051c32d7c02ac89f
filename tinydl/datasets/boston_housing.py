"""Boston housing prices: 506 houses, 13 features, price in k$ (downloaded on first use)."""
import numpy as np

from tinydl.datasets.remote import fetch, split_shuffled


def load_data(path="boston_housing.npz", test_split=0.2, seed=113):
    """`(x_train, y_train), (x_test, y_test)` shuffled by `seed`, the last `test_split` for testing."""
    if not 0 <= test_split < 1:
        raise ValueError(f"Invalid `test_split` argument: {test_split}. It must be between 0 and 1 (exclusive of 1).")
    with np.load(fetch("boston_housing.npz", fname=path), allow_pickle=False) as f:
        x, y = f["x"], f["y"]
    return split_shuffled(x, y, test_split, seed)
