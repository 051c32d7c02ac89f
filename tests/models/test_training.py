"""compile / fit / evaluate / predict: the Keras training API, checked against hand-computed numbers."""
import io
import contextlib

import numpy as np
import pytest

import tinydl as td
from tinydl.data import Dataset, Sequence
from tinydl.layers import Dense, Input
from tinydl.models import Model, Sequential


def linear_model(units=1, inputs=3, kernel=None):
    """Dense(units) on `inputs` features with a known kernel and zero bias."""
    model = Sequential([Input(shape=(inputs,)), Dense(units)])
    if kernel is not None:
        model.set_weights([np.asarray(kernel, np.float32), np.zeros(units, np.float32)])
    return model


def test_one_sgd_step_matches_the_closed_form():
    x = np.array([[1.0, 2.0, 3.0], [0.5, -1.0, 2.0]], np.float32)
    y = np.array([[1.0], [0.0]], np.float32)
    w = np.array([[0.1], [0.2], [0.3]], np.float32)
    model = linear_model(kernel=w)
    model.compile(optimizer=td.optimizers.SGD(learning_rate=0.1), loss="mean_squared_error")
    loss = model.train_on_batch(x, y)
    pred = x @ w
    assert loss == pytest.approx(float(np.mean((pred - y) ** 2)), rel=1e-6)
    grad_w = 2 * x.T @ (pred - y) / len(x)
    grad_b = 2 * (pred - y).sum(axis=0) / len(x)
    kernel, bias = model.get_weights()
    np.testing.assert_allclose(kernel, w - 0.1 * grad_w, rtol=1e-6)
    np.testing.assert_allclose(bias, -0.1 * grad_b, rtol=1e-6)


def test_fit_returns_history_with_keras_keys_and_the_loss_falls():
    td.set_seed(0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((200, 4)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64)
    model = Sequential([Input(shape=(4,)), Dense(16, activation="relu"), Dense(2, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=5, batch_size=20, validation_split=0.25, verbose=0)
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert len(history.history["loss"]) == 5 and history.epoch == list(range(5))
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert model.history is history


def test_reported_loss_is_the_batch_size_weighted_mean_and_evaluate_agrees():
    x = np.arange(10, dtype=np.float32).reshape(5, 2) / 10
    y = np.ones((5, 1), np.float32)
    model = linear_model(inputs=2, kernel=[[0.5], [0.25]])
    model.compile(optimizer=td.optimizers.SGD(learning_rate=0.0), loss="mean_squared_error")
    history = model.fit(x, y, batch_size=2, epochs=1, shuffle=False, verbose=0)
    expected = float(np.mean((x @ np.array([[0.5], [0.25]], np.float32) - y) ** 2))
    assert history.history["loss"][0] == pytest.approx(expected, rel=1e-6)
    assert model.evaluate(x, y, batch_size=3, verbose=0) == pytest.approx(expected, rel=1e-6)


def test_multi_output_logs_use_output_names():
    td.set_seed(0)
    a = Input(shape=(3,), name="a")
    h = Dense(8, activation="relu")(a)
    out1 = Dense(2, activation="softmax", name="out1")(h)
    out2 = Dense(1, name="out2")(h)
    model = Model(a, [out1, out2])
    model.compile("adam", loss=["sparse_categorical_crossentropy", "mean_squared_error"], loss_weights=[1.0, 0.5],
                  metrics={"out1": ["accuracy"], "out2": ["mae"]})
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 3)).astype(np.float32)
    ys = [(x[:, 0] > 0).astype(np.int64), x[:, 1:2]]
    history = model.fit(x, ys, epochs=2, batch_size=8, validation_data=(x, ys), verbose=0)
    keys = set(history.history)
    assert {"loss", "out1_loss", "out2_loss", "out1_accuracy", "out2_mae"} <= keys
    assert {"val_loss", "val_out1_loss", "val_out2_accuracy" if False else "val_out1_accuracy"} <= keys
    logs = model.evaluate(x, {"out1": ys[0], "out2": ys[1]}, verbose=0, return_dict=True)
    assert logs["loss"] == pytest.approx(logs["out1_loss"] + 0.5 * logs["out2_loss"], rel=1e-5)


def test_generators_datasets_and_sequences_train_like_arrays():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 3)).astype(np.float32)
    y = x @ np.array([[1.0], [-2.0], [0.5]], np.float32)

    class Batches(Sequence):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            return x[i * 16:(i + 1) * 16], y[i * 16:(i + 1) * 16]

    def generator():
        while True:
            for i in range(4):
                yield x[i * 16:(i + 1) * 16], y[i * 16:(i + 1) * 16]

    results = []
    for source, kwargs in ((Dataset(x, y, batch_size=16), {}), (Batches(), {}),
                           (generator(), {"steps_per_epoch": 4}), (x, {"y": y, "batch_size": 16, "shuffle": False})):
        model = linear_model(kernel=np.zeros((3, 1)))
        model.compile(optimizer=td.optimizers.SGD(0.1), loss="mean_squared_error")
        history = model.fit(source, epochs=3, verbose=0, **kwargs)
        results.append(history.history["loss"])
    for other in results[1:]:
        np.testing.assert_allclose(other, results[0], rtol=1e-6)
    assert results[0][-1] < results[0][0]


def test_sample_weight_and_class_weight_scale_the_loss():
    x = np.array([[1.0], [2.0]], np.float32)
    y = np.array([[0.0], [0.0]], np.float32)
    model = linear_model(inputs=1, kernel=[[1.0]])
    model.compile(optimizer=td.optimizers.SGD(0.0), loss="mean_squared_error")
    # Keras: sum(w_i * l_i) / n
    assert model.test_on_batch(x, y, sample_weight=np.array([1.0, 3.0])) == pytest.approx((1 * 1 + 3 * 4) / 2)
    clf = Sequential([Input(shape=(1,)), Dense(2, activation="softmax")])
    clf.compile(optimizer=td.optimizers.SGD(0.0), loss="sparse_categorical_crossentropy")
    labels = np.array([0, 1])
    plain = clf.test_on_batch(x, labels)
    p = clf.predict(x, verbose=0)
    per_sample = -np.log(p[[0, 1], labels])
    assert plain == pytest.approx(per_sample.mean(), rel=1e-5)
    weighted = clf.train_on_batch(x, labels, class_weight={0: 2.0, 1: 0.0})
    assert weighted == pytest.approx(2.0 * per_sample[0] / 2, rel=1e-5)


def test_predict_is_batched_numpy_and_matches_a_direct_call():
    td.set_seed(0)
    model = Sequential([Input(shape=(5,)), Dense(7, activation="tanh"), Dense(2)])
    x = np.random.default_rng(0).standard_normal((37, 5)).astype(np.float32)
    out = model.predict(x, batch_size=8, verbose=0)
    assert isinstance(out, np.ndarray) and out.shape == (37, 2)
    np.testing.assert_allclose(out, model(x).numpy(), rtol=1e-6)
    np.testing.assert_allclose(model.predict_on_batch(x[:4]), out[:4], rtol=1e-6)


def test_verbose_modes_print_like_keras():
    x = np.zeros((10, 2), np.float32)
    y = np.zeros((10, 1), np.float32)
    model = linear_model(inputs=2, kernel=[[0.0], [0.0]])
    model.compile("sgd", "mean_squared_error")
    for verbose, expect in ((0, None), (2, "5/5 - "), (1, "5/5 ")):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            model.fit(x, y, epochs=1, batch_size=2, verbose=verbose)
        text = out.getvalue()
        if expect is None:
            assert text == ""
        else:
            assert "Epoch 1/1" in text and expect in text and "loss: 0.0000" in text


def test_summary_counts_parameters_in_closed_form():
    model = Sequential([Input(shape=(64,)), Dense(32), Dense(10)])
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert "dense" in text and "(None, 32)" in text
    assert f"Total params: {64 * 32 + 32 + 32 * 10 + 10:,}" in text
    assert "Non-trainable params: 0" in text


def test_summary_shows_skip_connections():
    from tinydl.layers import Add
    x = Input(shape=(4,))
    h = Dense(4, name="inner")(x)
    out = Add(name="skip")([x, h])
    lines = []
    Model(x, out).summary(print_fn=lines.append)
    skip_row = next(line for line in lines if line.startswith("skip"))
    assert "inner[0][0]" in skip_row and "Connected to" in lines[2]


def test_bad_input_is_a_clear_error():
    model = Sequential([Input(shape=(3,)), Dense(1)])
    x = np.zeros((4, 3), np.float32)
    with pytest.raises(RuntimeError, match="must be compiled before fit"):
        model.fit(x, np.zeros((4, 1)))
    model.compile("sgd", "mean_squared_error")
    with pytest.raises(ValueError, match="x has 4 samples but y has 3"):
        model.fit(x, np.zeros((3, 1)), verbose=0)
    with pytest.raises(ValueError, match=r"expected input .* shape \(None, 3\), got \(4, 3, 2\)"):
        model.predict(np.zeros((4, 3, 2)), verbose=0)
    with pytest.raises((ValueError, KeyError), match="msee"):
        model.compile("sgd", "msee")
        model.fit(x, np.zeros((4, 1)), verbose=0)
    with pytest.raises((ValueError, KeyError), match="adamm"):
        model.compile("adamm", "mean_squared_error")
    model.compile("sgd", "mean_squared_error", check_numerics=True)
    bad = x.copy()
    bad[1, 2] = np.nan
    with pytest.raises(ValueError, match=r"x\[0\] \(shape \(4, 3\)\) holds 1 NaN"):
        model.fit(bad, np.zeros((4, 1)), verbose=0)


def test_stop_training_flag_ends_fit_after_the_current_batch():
    from tinydl.callbacks import Callback

    class StopAtSecondBatch(Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 1:
                self.model.stop_training = True

    model = linear_model(kernel=np.zeros((3, 1)))
    model.compile("sgd", "mean_squared_error")
    history = model.fit(np.zeros((40, 3)), np.zeros((40, 1)), batch_size=4, epochs=5, verbose=0,
                        callbacks=[StopAtSecondBatch()])
    assert history.epoch == [0]


def test_subclassed_model_trains_and_tracks_its_layers():
    class TwoLayer(Model):
        def __init__(self):
            super().__init__()
            self.hidden = Dense(8, activation="tanh")
            self.out = Dense(1)

        def call(self, inputs, training=None):
            return self.out(self.hidden(inputs))

    td.clear_session()
    td.set_seed(0)
    model = TwoLayer()
    assert model.name == "two_layer"
    x = np.random.default_rng(0).standard_normal((32, 3)).astype(np.float32)
    y = x[:, :1] - x[:, 1:2]
    model.compile(td.optimizers.Adam(0.05), "mean_squared_error")
    history = model.fit(x, y, epochs=10, batch_size=8, verbose=0)
    assert [w.path for w in model.weights] == ["dense/kernel", "dense/bias", "dense_1/kernel", "dense_1/bias"]
    assert model.count_params() == 3 * 8 + 8 + 8 + 1
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]


def test_sample_weights_reach_only_weighted_metrics_and_unused_weights_stay_put():
    x = np.array([[1.0], [2.0]], np.float32)
    y = np.array([[0.0], [0.0]], np.float32)
    model = linear_model(inputs=1, kernel=[[1.0]])
    model.compile(optimizer=td.optimizers.SGD(0.0), loss="mean_squared_error", metrics=["mae"],
                  weighted_metrics=["mae"])
    logs = model.test_on_batch(x, y, sample_weight=np.array([1.0, 3.0]), return_dict=True)
    assert logs["mae"] == pytest.approx(1.5)                       # (1 + 2) / 2, unweighted as Keras
    assert logs["weighted_mae"] == pytest.approx((1 + 3 * 2) / 4)  # weighted mean

    a, b = Input(shape=(1,)), Input(shape=(1,))
    unused = Dense(1, name="unused")
    unused(b)  # built, but not on the path to the output
    out = Dense(1, name="used")(a)
    two = Model([a, b], out)
    two._layers.append(unused)  # its weights are trainable weights of the model
    two.compile(td.optimizers.AdamW(0.1), "mean_squared_error")
    before = unused.get_weights()
    two.train_on_batch([x, x], y)
    for w0, w1 in zip(before, unused.get_weights()):
        np.testing.assert_array_equal(w0, w1)  # no gradient: no update, no weight decay (as Keras)
