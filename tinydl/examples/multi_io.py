"""Two inputs, two outputs: from a digit image and its row sums, predict the digit (classification)
and the image's ink (regression), with separate losses and loss weights."""
import numpy as np

import tinydl as td
from tinydl.datasets import digits
from tinydl.layers import Concatenate, Dense, Flatten, Input
from tinydl.models import Model


def build_model():
    """Functional model with inputs `image` (8, 8) and `rows` (8,), outputs `digit` and `ink`."""
    image = Input(shape=(8, 8), name="image")
    rows = Input(shape=(8,), name="rows")
    features = Concatenate()([Flatten()(image), Dense(16, activation="relu")(rows)])
    hidden = Dense(64, activation="relu")(features)
    digit = Dense(10, activation="softmax", name="digit")(hidden)
    ink = Dense(1, name="ink")(hidden)
    return Model(inputs=[image, rows], outputs=[digit, ink], name="multi_io")


def make_inputs(x):
    """The two inputs and the regression target for images x."""
    return [x, x.sum(axis=2)], x.mean(axis=(1, 2))[:, None].astype(np.float32)


def main(epochs=None, verbose=2):
    """Train both heads; print per-output test metrics."""
    td.set_seed(0)
    (x_train, y_train), (x_test, y_test) = digits.load_data()
    inputs_train, ink_train = make_inputs(x_train)
    inputs_test, ink_test = make_inputs(x_test)
    model = build_model()
    model.compile(optimizer="adam", loss={"digit": "sparse_categorical_crossentropy", "ink": "mean_squared_error"},
                  loss_weights={"digit": 1.0, "ink": 10.0}, metrics={"digit": ["accuracy"], "ink": ["mae"]})
    history = model.fit(inputs_train, {"digit": y_train, "ink": ink_train}, epochs=epochs or 20, batch_size=32,
                        validation_split=0.1, verbose=verbose)
    results = model.evaluate(inputs_test, {"digit": y_test, "ink": ink_test}, verbose=0, return_dict=True)
    print("multi-input/multi-output test results:", {k: round(v, 4) for k, v in results.items()})
    return {"history": history.history, **results, "model": model}


if __name__ == "__main__":
    main()
