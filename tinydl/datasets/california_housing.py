"""California housing: 20,640 districts, 8 features, median house value (downloaded on first use)."""
import numpy as np

from tinydl.datasets.remote import fetch, split_shuffled


def load_data(version="large", path="california_housing.npz", test_split=0.2, seed=113):
    """`(x_train, y_train), (x_test, y_test)`; version="small" keeps the first 600 districts."""
    if not 0 <= test_split < 1:
        raise ValueError(f"Invalid `test_split` argument: {test_split}. It must be between 0 and 1 (exclusive of 1).")
    if version not in ("small", "large"):
        raise ValueError(f"Argument `version` must be one of 'small', 'large'. Received: version={version}")
    with np.load(fetch("california_housing.npz", fname=path), allow_pickle=False) as f:
        x, y = f["x"], f["y"]
    if version == "small":
        x, y = x[:600], y[:600]
    return split_shuffled(x, y, test_split, seed)
