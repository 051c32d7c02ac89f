"""A small CNN on the bundled 8x8 digits: Conv -> MaxPool -> Conv -> MaxPool -> Dense -> Dense(10)."""
from tinydl import optimizers
from tinydl.examples.mlp import train_and_report
from tinydl.layers import Conv2D, Dense, Flatten, Input, MaxPooling2D, Reshape
from tinydl.models import Sequential


def build_model():
    """The CNN, uncompiled; 'same' padding keeps the tiny 8x8 images at 8x8 -> 4x4 -> 2x2."""
    return Sequential([
        Input(shape=(8, 8)), Reshape((8, 8, 1)),
        Conv2D(32, 3, padding="same", activation="relu"), MaxPooling2D(),
        Conv2D(64, 3, padding="same", activation="relu"), MaxPooling2D(),
        Flatten(), Dense(64, activation="relu"), Dense(10, activation="softmax"),
    ], name="digits_cnn")


def main(epochs=None, verbose=2):
    """Train on digits; print and return the test accuracy."""
    return train_and_report(build_model, "digits CNN", epochs or 8, verbose,
                            optimizer=optimizers.Adam(learning_rate=0.003))


if __name__ == "__main__":
    main()
