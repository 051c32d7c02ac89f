"""CIFAR-10: 60,000 32x32 colour images in 10 classes (downloaded from the University of Toronto)."""
import os

import numpy as np

from tinydl.datasets.remote import RestrictedUnpickler, fetch


def load_data():
    """`(x_train, y_train), (x_test, y_test)`: uint8 images (50000/10000, 32, 32, 3), labels (n, 1)."""
    folder = os.path.join(fetch("cifar-10-batches-py-target", extract=True), "cifar-10-batches-py")
    parts = [load_batch(os.path.join(folder, f"data_batch_{i}")) for i in range(1, 6)]
    x_train = np.concatenate([x for x, _ in parts])
    y_train = np.concatenate([y for _, y in parts]).astype("uint8")  # Keras's CIFAR-10 labels are uint8
    x_test, y_test = load_batch(os.path.join(folder, "test_batch"))
    return (x_train, y_train.reshape(-1, 1)), (x_test, y_test.astype("uint8").reshape(-1, 1))


def load_batch(fpath, label_key="labels"):
    """One pickled CIFAR batch as (images (n, 32, 32, 3) uint8, labels (n,) as stored)."""
    with open(fpath, "rb") as f:
        batch = RestrictedUnpickler(f, encoding="bytes").load()
    batch = {k.decode("utf8") if isinstance(k, bytes) else k: v for k, v in batch.items()}
    data = np.asarray(batch["data"], dtype="uint8").reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return data, np.asarray(batch[label_key])
