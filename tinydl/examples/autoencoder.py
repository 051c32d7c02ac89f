"""A dense autoencoder on digits: 64 -> 32 -> 8 (latent) -> 32 -> 64, trained to reconstruct its input."""
import numpy as np

import tinydl as td
from tinydl.datasets import digits
from tinydl.layers import Dense, Flatten, Input, Reshape
from tinydl.models import Model


def build_model():
    """Encoder and decoder as one functional model."""
    image = Input(shape=(8, 8), name="image")
    h = Dense(32, activation="relu")(Flatten()(image))
    latent = Dense(8, activation="relu", name="latent")(h)
    h = Dense(32, activation="relu")(latent)
    out = Reshape((8, 8))(Dense(64, activation="sigmoid")(h))
    return Model(inputs=image, outputs=out, name="autoencoder")


def main(epochs=None, verbose=2):
    """Train; report test reconstruction MSE against predicting the mean image."""
    return train_and_report(build_model, epochs or 40, verbose, "autoencoder")


def train_and_report(build, epochs, verbose, label):
    """Build (seeded) and train a model to reconstruct the digits; print and return its test MSE and the
    mean-image MSE."""
    td.set_seed(0)
    (x_train, _), (x_test, _) = digits.load_data()
    model = build()
    model.compile(optimizer="adam", loss="mean_squared_error")
    history = model.fit(x_train, x_train, epochs=epochs, batch_size=32, verbose=verbose)
    mse = float(np.mean((model.predict(x_test, verbose=0) - x_test) ** 2))
    baseline = float(np.mean((x_train.mean(axis=0) - x_test) ** 2))
    print(f"{label}: test reconstruction MSE {mse:.4f} (mean-image baseline {baseline:.4f})")
    return {"history": history.history, "test_mse": mse, "baseline_mse": baseline, "model": model}


if __name__ == "__main__":
    main()
