"""Fashion-MNIST: 70,000 28x28 grey-scale images of 10 kinds of clothing (downloaded on first use)."""
import gzip
import os

import numpy as np

from tinydl.datasets.remote import fetch

FILES = ("train-labels-idx1-ubyte.gz", "train-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz",
         "t10k-images-idx3-ubyte.gz")


def load_data():
    """`(x_train, y_train), (x_test, y_test)`: uint8 images (60000/10000, 28, 28) and labels 0..9."""
    paths = [fetch(name, cache_subdir=os.path.join("datasets", "fashion-mnist")) for name in FILES]
    y_train, x_train = _labels(paths[0]), _images(paths[1])
    y_test, x_test = _labels(paths[2]), _images(paths[3])
    return (x_train.reshape(len(y_train), 28, 28), y_train), (x_test.reshape(len(y_test), 28, 28), y_test)


def _labels(path):
    """The labels of an IDX1 file (8 header bytes)."""
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read(), np.uint8, offset=8)


def _images(path):
    """The pixels of an IDX3 file (16 header bytes), flat."""
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read(), np.uint8, offset=16)
