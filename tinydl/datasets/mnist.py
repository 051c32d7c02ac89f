"""MNIST: 70,000 28x28 grey-scale handwritten digits (downloaded from Keras's bucket on first use)."""
from tinydl.datasets.remote import fetch, load_npz


def load_data(path="mnist.npz"):
    """`(x_train, y_train), (x_test, y_test)`: uint8 images (60000/10000, 28, 28) and labels 0..9."""
    f = load_npz(fetch("mnist.npz", fname=path))
    return (f["x_train"], f["y_train"]), (f["x_test"], f["y_test"])
