"""The documented train/test split shared by the bundled data sets."""
import numpy as np


def split(x, y, test_fraction, seed):
    """Shuffle with a fixed seed (independent of td.set_seed), then hold out the last `test_fraction`."""
    order = np.random.default_rng(seed).permutation(len(x))
    x, y = x[order], y[order]
    cut = len(x) - int(round(len(x) * test_fraction))
    return (x[:cut], y[:cut]), (x[cut:], y[cut:])
