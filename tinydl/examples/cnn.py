"""A small CNN on the bundled 8x8 digits: Conv -> MaxPool -> Conv -> MaxPool -> Dense -> Dense(10)."""
import tinydl as td
from tinydl import optimizers
from tinydl.datasets import digits
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
    td.set_seed(0)
    (x_train, y_train), (x_test, y_test) = digits.load_data()
    model = build_model()
    model.compile(optimizer=optimizers.Adam(learning_rate=0.003), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(x_train, y_train, batch_size=32, epochs=epochs or 8, verbose=verbose)
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(f"digits CNN: test loss {loss:.4f}, test accuracy {accuracy:.4f}")
    return {"history": history.history, "test_loss": loss, "test_accuracy": accuracy, "model": model}


if __name__ == "__main__":
    main()
