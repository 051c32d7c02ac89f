"""train_step / test_step / predict_step as in Keras 3: steps take `data`, return logs, and are what a
subclass overrides; loss computation and metric updates are separate; no per-batch host reads."""
import numpy as np
import pytest

import tinydl as td
from tinydl.examples import custom_train_step
from tinydl.layers import Dense, Input
from tinydl.models import Model
from tinydl.tensor import Tensor


def _sgd_reference(kernel, bias, x, y, lr, batch):
    """Minibatch SGD on mean squared error for y = x @ kernel + bias, in float64; returns weights and losses."""
    k, b = kernel.astype(np.float64), bias.astype(np.float64)
    batch_losses = []
    for lo in range(0, len(x), batch):
        xb, yb = x[lo:lo + batch].astype(np.float64), y[lo:lo + batch].astype(np.float64)
        err = xb @ k + b - yb
        batch_losses.append(np.mean(err ** 2))
        k = k - lr * 2 * xb.T @ err / len(xb)
        b = b - lr * 2 * err.sum(axis=0) / len(xb)
    return k, b, batch_losses


def test_overridden_train_step_drives_fit_and_matches_hand_computed_sgd():
    td.set_seed(0)
    x, y = custom_train_step.make_data(n=96)
    model = custom_train_step.build_model()
    model.compile(optimizer=td.optimizers.SGD(learning_rate=0.05))
    kernel0, bias0 = model.get_layer("linear").get_weights()
    history = model.fit(x, y, batch_size=32, epochs=1, shuffle=False, verbose=0)
    k, b, batch_losses = _sgd_reference(kernel0, bias0, x, y, lr=0.05, batch=32)
    kernel, bias = model.get_layer("linear").get_weights()
    np.testing.assert_allclose(kernel, k, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(bias, b, rtol=1e-5, atol=1e-6)
    # the epoch log is the last step's logs: the tracker's mean over the epoch's batches
    assert history.history["loss"][0] == pytest.approx(np.mean(batch_losses), rel=1e-5)
    assert set(history.history) == {"loss", "mae"}


def test_overridden_metrics_are_reset_each_epoch_and_by_evaluate():
    x, y = custom_train_step.make_data(n=64)
    model = custom_train_step.build_model()
    model.compile(optimizer=td.optimizers.SGD(learning_rate=0.0))  # weights fixed: every epoch sees the same loss
    history = model.fit(x, y, batch_size=64, epochs=2, verbose=0)
    assert history.history["loss"][0] == pytest.approx(history.history["loss"][1], rel=1e-6)
    pred = model.predict(x, verbose=0)
    expected = float(np.mean((pred - y) ** 2))
    assert model.evaluate(x, y, verbose=0, return_dict=True)["loss"] == pytest.approx(expected, rel=1e-5)


def test_example_main_learns_the_generating_weights():
    out = custom_train_step.main(epochs=15, verbose=0)
    np.testing.assert_allclose(out["kernel"][:, 0], [2.0, -1.0, 0.5], atol=0.02)
    assert out["bias"][0] == pytest.approx(0.3, abs=0.02)
    assert out["loss"] < 1e-3


def _regressor():
    inputs = Input(shape=(2,))
    model = Model(inputs, Dense(1)(inputs))
    model.compile(optimizer="sgd", loss="mean_squared_error", metrics=["mae"])
    return model


def test_default_train_step_returns_logs_and_compute_loss_adds_model_losses():
    model = _regressor()
    x = np.array([[1.0, 2.0], [3.0, -1.0]], dtype=np.float32)
    y = np.array([[1.0], [0.0]], dtype=np.float32)
    kernel, bias = model.get_weights()
    pred = x @ kernel + bias
    logs = model.train_step((x, y))
    assert set(logs) == {"loss", "mae"}
    assert float(logs["loss"]) == pytest.approx(np.mean((pred - y) ** 2), rel=1e-5)
    assert float(logs["mae"]) == pytest.approx(np.mean(np.abs(pred - y)), rel=1e-5)
    y_pred = model(x)
    loss = model.compute_loss(x=x, y=y, y_pred=y_pred)
    assert isinstance(loss, Tensor)
    assert float(loss) == pytest.approx(np.mean((y_pred.numpy() - y) ** 2), rel=1e-5)


def test_test_step_and_predict_step_take_data_tuples():
    model = _regressor()
    x = np.array([[1.0, 2.0], [3.0, -1.0]], dtype=np.float32)
    y = np.array([[1.0], [0.0]], dtype=np.float32)
    kernel, bias = model.get_weights()
    logs = model.test_step((x, y))
    assert float(logs["loss"]) == pytest.approx(np.mean((x @ kernel + bias - y) ** 2), rel=1e-5)
    out = model.predict_step((x,))
    np.testing.assert_allclose(out.numpy(), x @ kernel + bias, rtol=1e-6)


def test_fit_reads_no_tensor_item_per_batch(monkeypatch):
    """The loss accumulates as an array; reading it happens once per log step, not via .item() per batch."""
    model = _regressor()
    calls = []
    original = Tensor.item
    monkeypatch.setattr(Tensor, "item", lambda self: calls.append(1) or original(self))
    x = np.random.default_rng(0).standard_normal((64, 2)).astype(np.float32)
    model.fit(x, x[:, :1], batch_size=8, epochs=2, verbose=0)
    assert calls == []


def test_overridden_predict_step_output_is_what_predict_concatenates():
    class Doubling(Model):
        def predict_step(self, data):
            (x,) = data
            return self(x) * 2.0
    inputs = Input(shape=(2,))
    model = Doubling(inputs, Dense(1)(inputs))
    x = np.arange(10, dtype=np.float32).reshape(5, 2)
    np.testing.assert_allclose(model.predict(x, batch_size=2, verbose=0), 2 * model(x).numpy(), rtol=1e-6)


def _bn_net(declares_training):
    class WithTraining(Model):
        def __init__(self):
            super().__init__()
            self.bn = td.layers.BatchNormalization(momentum=0.5)

        def call(self, x, training=None):
            return self.bn(x)

    class WithoutTraining(WithTraining):
        def call(self, x):
            return self.bn(x)
    return WithTraining() if declares_training else WithoutTraining()


@pytest.mark.parametrize("declares_training", [True, False])
def test_fit_passes_training_only_to_a_call_that_declares_it(declares_training):
    """Keras 3's rule: with `training` in call(), BatchNormalization trains (moving mean moves towards the
    batch mean: 0.5 * 0 + 0.5 * 4 after one step); without it, the layer stays in inference mode."""
    model = _bn_net(declares_training)
    model.compile(optimizer=td.optimizers.SGD(0.0), loss="mean_squared_error")
    x = np.full((4, 2), 4.0, dtype=np.float32)
    model.fit(x, x, batch_size=4, epochs=1, verbose=0)
    expected = 2.0 if declares_training else 0.0
    np.testing.assert_allclose(model.bn.moving_mean.numpy(), [expected, expected])
