"""Customising what fit does: a Model subclass overrides `train_step(data) -> logs` and `test_step`, as in
Keras 3, and keeps fit's loop, callbacks, progress bar and History.

The step below computes its own loss (mean squared error written out), takes the gradients, applies them
with the compiled optimizer, and reports its own metrics; `fit` resets those at each epoch because the
model lists them in its `metrics` property.
"""
import numpy as np

import tinydl as td
from tinydl import losses, metrics, ops
from tinydl.layers import Dense, Input
from tinydl.models import Model


class CustomRegressor(Model):
    """A functional model whose training and evaluation steps are written by hand."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.loss_tracker = metrics.Mean(name="loss")
        self.mae_metric = metrics.MeanAbsoluteError(name="mae")

    def train_step(self, data):
        x, y = data
        y_pred = self(x, training=True)
        loss = ops.mean(losses.mean_squared_error(y, y_pred))
        grads = self.compute_gradients(loss, self.trainable_weights)
        self.optimizer.apply(grads, self.trainable_weights)
        self.loss_tracker.update_state(loss)
        self.mae_metric.update_state(y, y_pred)
        return {"loss": self.loss_tracker.result(), "mae": self.mae_metric.result()}

    def test_step(self, data):
        x, y = data
        y_pred = self(x, training=False)
        self.loss_tracker.update_state(ops.mean(losses.mean_squared_error(y, y_pred)))
        self.mae_metric.update_state(y, y_pred)
        return {"loss": self.loss_tracker.result(), "mae": self.mae_metric.result()}

    @property
    def metrics(self):
        return [self.loss_tracker, self.mae_metric]


def build_model(features=3):
    """A linear regressor (one Dense unit) with the hand-written steps, uncompiled."""
    inputs = Input(shape=(features,), name="features")
    return CustomRegressor(inputs=inputs, outputs=Dense(1, name="linear")(inputs), name="custom_regressor")


def make_data(n=256, features=3, seed=0):
    """y = x @ w + b + a little noise, with fixed w = (2, -1, 0.5, ...) and b = 0.3."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, features)).astype(np.float32)
    w = np.array([2.0, -1.0, 0.5] + [0.0] * (features - 3), dtype=np.float32)[:features]
    y = (x @ w + 0.3 + 0.01 * rng.standard_normal(n)).astype(np.float32)[:, None]
    return x, y


def main(epochs=None, verbose=2):
    """Fit the regressor with plain SGD; print and return the final losses and the learned weights."""
    td.set_seed(0)
    x, y = make_data()
    model = build_model()
    model.compile(optimizer=td.optimizers.SGD(learning_rate=0.1))  # no loss: train_step computes its own
    history = model.fit(x[:200], y[:200], batch_size=32, epochs=epochs or 20, verbose=verbose)
    results = model.evaluate(x[200:], y[200:], verbose=0, return_dict=True)
    kernel, bias = model.get_layer("linear").get_weights()
    print(f"custom train_step: test loss {results['loss']:.5f}, test mae {results['mae']:.4f}, "
          f"learned w {np.round(kernel[:, 0], 3).tolist()}, b {float(bias[0]):.3f}")
    return {"history": history.history, **results, "kernel": kernel, "bias": bias, "model": model}


if __name__ == "__main__":
    main()
