"""Forecast a noisy multi-frequency sine one step ahead with an LSTM, against the naive last-value forecast.

The series is three sines of incommensurate frequencies plus Gaussian noise; the model reads a window of
the last 24 values and predicts the next. The first 80% of the series trains, the last 20% tests.
"""
import numpy as np

import tinydl as td
from tinydl.layers import LSTM, Dense, Input
from tinydl.models import Sequential

WINDOW = 24


def make_series(n=3000, noise=0.1, seed=0):
    """sin(0.07 t) + 0.5 sin(0.23 t + 1) + 0.3 sin(0.51 t + 2) + N(0, noise^2), as float32."""
    t = np.arange(n)
    clean = np.sin(0.07 * t) + 0.5 * np.sin(0.23 * t + 1.0) + 0.3 * np.sin(0.51 * t + 2.0)
    return (clean + np.random.default_rng(seed).normal(0.0, noise, n)).astype(np.float32)


def windows(series, window=WINDOW):
    """(x (n, window, 1), y (n, 1)): each window of values and the value right after it."""
    idx = np.arange(window)[None, :] + np.arange(len(series) - window)[:, None]
    return series[idx][..., None], series[window:, None]


def build_model(units=32):
    """Window of values -> LSTM -> the next value (uncompiled)."""
    return Sequential([Input(shape=(WINDOW, 1)), LSTM(units), Dense(1)], name="sine_forecaster")


def main(epochs=None, verbose=2, length=3000):
    """Train, then print and return the test MSE of the model and of the naive last-value forecast."""
    td.set_seed(0)
    x, y = windows(make_series(length))
    split = int(0.8 * len(x))
    (x_train, y_train), (x_test, y_test) = (x[:split], y[:split]), (x[split:], y[split:])
    model = build_model()
    model.compile(optimizer=td.optimizers.Adam(learning_rate=0.005), loss="mean_squared_error")
    history = model.fit(x_train, y_train, batch_size=32, epochs=epochs or 8, verbose=verbose,
                        validation_split=0.1)
    predictions = model.predict(x_test, verbose=0)
    test_mse = float(np.mean((predictions - y_test) ** 2))
    naive_mse = float(np.mean((x_test[:, -1] - y_test) ** 2))
    print(f"sine forecast: test MSE {test_mse:.4f} vs naive last-value {naive_mse:.4f} "
          f"({naive_mse / test_mse:.2f}x better)")
    return {"history": history.history, "test_mse": test_mse, "naive_mse": naive_mse, "model": model}


if __name__ == "__main__":
    main()
