"""CIFAR-100: 60,000 32x32 colour images in 100 classes (20 superclasses), downloaded on first use."""
import os

from tinydl.datasets.cifar10 import load_batch
from tinydl.datasets.remote import fetch


def load_data(label_mode="fine"):
    """`(x_train, y_train), (x_test, y_test)`: uint8 images (n, 32, 32, 3), labels (n, 1) of the
    100 fine classes or (label_mode="coarse") the 20 superclasses."""
    if label_mode not in ("fine", "coarse"):
        raise ValueError(f'`label_mode` must be one of `"fine"`, `"coarse"`. Received: label_mode={label_mode}.')
    folder = os.path.join(fetch("cifar-100-python-target", extract=True), "cifar-100-python")
    x_train, y_train = load_batch(os.path.join(folder, "train"), label_key=f"{label_mode}_labels")
    x_test, y_test = load_batch(os.path.join(folder, "test"), label_key=f"{label_mode}_labels")
    return (x_train, y_train.reshape(-1, 1)), (x_test, y_test.reshape(-1, 1))
