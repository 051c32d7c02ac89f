"""The digits MLP trained data-parallel over MPI ranks: `mpiexec -n 2 python -m tinydl.examples.data_parallel`.

The script is the single-process one plus `set_distribution(DataParallel())`: `batch_size` stays the
global batch, rank 0 prints, and a plain `python -m tinydl.examples.data_parallel` runs on one process.
"""
import tinydl as td
from tinydl import distribution
from tinydl.datasets import digits
from tinydl.layers import BatchNormalization, Dense, Flatten, Input
from tinydl.models import Sequential


def build_model():
    """The MLP with BatchNormalization(synchronized=True): batch statistics over every rank's slice."""
    return Sequential([Input(shape=(8, 8)), Flatten(), Dense(128, activation="relu"),
                       BatchNormalization(synchronized=True), Dense(64, activation="relu"),
                       Dense(10, activation="softmax")], name="digits_mlp_data_parallel")


def main(epochs=None, verbose=2):
    """Train on digits over all ranks; rank 0 prints the test accuracy (the same on every rank)."""
    distribution.set_distribution(distribution.DataParallel())
    td.set_seed(0)
    (x_train, y_train), (x_test, y_test) = digits.load_data()
    model = build_model()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x_train, y_train, batch_size=64, epochs=epochs or 20, verbose=verbose)
    loss, accuracy = model.evaluate(x_test, y_test, batch_size=64, verbose=0)
    if distribution.is_chief():
        print(f"digits MLP on {distribution.size()} rank(s): test loss {loss:.4f}, test accuracy {accuracy:.4f}")
    distribution.set_distribution(None)
    return {"history": history.history, "test_loss": loss, "test_accuracy": accuracy, "model": model}


if __name__ == "__main__":
    main()
