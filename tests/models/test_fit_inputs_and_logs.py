"""What fit/evaluate/predict accept and report, as Keras 3 does: dict inputs matched by name, the
trailing-axis rank rule, dict logs in every callback hook, custom metrics with variables made after
super().__init__(), empty validation data, DataLoaders and other iterables of batches."""
import numpy as np
import pytest

import tinydl as td
from tinydl import callbacks, layers, metrics
from tinydl.models import Model, Sequential

X = np.random.default_rng(0).standard_normal((24, 3)).astype(np.float32)
Y = X @ np.array([[1.0], [-2.0], [0.5]], dtype=np.float32)


def _difference_model():
    zeta, alpha = layers.Input((1,), name="zeta"), layers.Input((1,), name="alpha")
    return Model([zeta, alpha], layers.Subtract()([zeta, alpha]))


def test_dict_inputs_are_matched_to_input_names_not_key_order():
    model = _difference_model()
    out = model.predict({"zeta": np.full((2, 1), 5.0), "alpha": np.full((2, 1), 1.0)}, verbose=0)
    np.testing.assert_allclose(out, [[4.0], [4.0]])  # zeta - alpha, though "alpha" sorts first


def test_dict_inputs_missing_a_name_raise_naming_the_expected_keys():
    with pytest.raises(ValueError, match=r"\['zeta', 'alpha'\].*lacks \['zeta', 'alpha'\]"):
        _difference_model().predict({"foo": np.ones((2, 1)), "bar": np.ones((2, 1))}, verbose=0)


def test_dict_inputs_with_extra_keys_warn_and_ignore_them():
    with pytest.warns(UserWarning, match=r"\['extra'\]"):
        out = _difference_model().predict({"zeta": np.ones((2, 1)), "alpha": np.zeros((2, 1)),
                                           "extra": np.ones((2, 1))}, verbose=0)
    np.testing.assert_allclose(out, np.ones((2, 1)))


def test_data_one_rank_short_of_an_input_ending_in_1_gets_the_axis_added():
    model = Sequential([layers.Input((4, 4, 1)), layers.Flatten(), layers.Dense(1, use_bias=False,
                                                                                kernel_initializer="ones")])
    x = np.arange(32, dtype=np.float32).reshape(2, 4, 4)
    np.testing.assert_allclose(model.predict(x, verbose=0), x.reshape(2, -1).sum(axis=1, keepdims=True))
    np.testing.assert_allclose(model.predict(x[..., None, None][..., 0], verbose=0), model.predict(x, verbose=0))
    with pytest.raises(ValueError, match="expected input"):
        model.predict(np.ones((2, 4), np.float32), verbose=0)


def test_every_callback_hook_gets_a_dict_of_logs():
    seen = []

    class KeysRecorder(callbacks.Callback):
        pass
    for hook in ("on_train_begin", "on_train_end", "on_test_begin", "on_test_end", "on_predict_begin",
                 "on_predict_end"):
        setattr(KeysRecorder, hook, lambda self, logs=None, hook=hook: seen.append((hook, sorted(logs.keys()))))
    for hook in ("on_epoch_begin", "on_epoch_end", "on_train_batch_begin", "on_train_batch_end",
                 "on_test_batch_begin", "on_test_batch_end", "on_predict_batch_begin", "on_predict_batch_end"):
        setattr(KeysRecorder, hook, lambda self, i, logs=None, hook=hook: seen.append((hook, sorted(logs.keys()))))
    model = Sequential([layers.Input((3,)), layers.Dense(1)])
    model.compile("sgd", "mean_squared_error")
    model.fit(X, Y, batch_size=12, epochs=1, validation_data=(X, Y), callbacks=[KeysRecorder()], verbose=0)
    model.predict(X, callbacks=[KeysRecorder()], verbose=0)
    hooks = {h for h, _ in seen}
    assert len(hooks) == 14, sorted(hooks)  # all ten of fit, all four of predict
    assert dict(seen)["on_epoch_end"] == ["loss", "val_loss"]


def test_keras_style_custom_metric_makes_its_variables_after_super_init():
    class CountPositives(metrics.Metric):
        def __init__(self, name="count_positives", **kwargs):
            super().__init__(name=name, **kwargs)
            self.positives = self.add_variable(shape=(), initializer="zeros", name="positives")

        def update_state(self, y_true, y_pred, sample_weight=None):
            self.positives.assign_add(float((np.asarray(y_pred) > 0).sum()))

        def result(self):
            return float(self.positives)

        def reset_state(self):
            self.positives.assign(0.0)
    m = CountPositives()
    m.update_state(None, np.array([1.0, -1.0, 2.0]))
    assert m.result() == 2.0
    m.reset_state()
    assert m.result() == 0.0
    model = Sequential([layers.Input((3,)), layers.Dense(1, kernel_initializer="ones")])
    model.compile("sgd", "mean_squared_error", metrics=[CountPositives()])
    logs = model.evaluate(X, Y, verbose=0, return_dict=True)
    assert logs["count_positives"] == float((X.sum(axis=1) > 0).sum())


def test_validation_split_leaving_no_samples_raises():
    model = Sequential([layers.Input((3,)), layers.Dense(1)])
    model.compile("sgd", "mean_squared_error")
    with pytest.raises(ValueError, match="validation_split=0.5 of 1 samples"):
        model.fit(X[:1], Y[:1], validation_split=0.5, verbose=0)


def test_empty_validation_data_leaves_the_val_keys_out():
    model = Sequential([layers.Input((3,)), layers.Dense(1)])
    model.compile("sgd", "mean_squared_error")
    history = model.fit(X, Y, validation_data=(X[:0], Y[:0]), verbose=0)
    assert set(history.history) == {"loss"}


class _Batches:
    """An iterable of (x, y) batches without __getitem__ or __next__ (iterated afresh each epoch)."""

    def __iter__(self):
        return iter([(X[:12], Y[:12]), (X[12:], Y[12:])])

    def __len__(self):
        return 2


def _trained(data, **kwargs):
    td.set_seed(0)
    model = Sequential([layers.Input((3,)), layers.Dense(1)])
    model.compile(td.optimizers.SGD(0.05), "mean_squared_error")
    model.fit(data, epochs=3, verbose=0, **kwargs)
    return model.get_weights()


def test_any_iterable_of_batches_trains_like_the_same_arrays():
    expected = _trained(X, y=Y, batch_size=12, shuffle=False)
    for got, want in zip(_trained(_Batches()), expected):
        np.testing.assert_allclose(got, want, rtol=1e-6)


def test_a_pytorch_dataloader_trains_like_the_same_arrays():
    torch = pytest.importorskip("torch")
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.tensor(X), torch.tensor(Y)),
                                         batch_size=12, shuffle=False)
    expected = _trained(X, y=Y, batch_size=12, shuffle=False)
    for got, want in zip(_trained(loader), expected):
        np.testing.assert_allclose(got, want, rtol=1e-6)


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_constraints_and_activity_regularizers_survive_saving(tmp_path, suffix):
    from tinydl import constraints
    model = Sequential([layers.Input((3,)), layers.Dense(2, kernel_constraint=constraints.MaxNorm(0.3),
                                                         activity_regularizer="l2")])
    path = str(tmp_path / f"m{suffix}")
    model.save(path)
    dense = td.models.load_model(path).layers[-1]
    assert isinstance(dense.kernel_constraint, constraints.MaxNorm) and dense.kernel_constraint.max_value == 0.3
    assert dense.kernel.constraint is dense.kernel_constraint
    dense(X)
    assert len(dense.losses) == 1
    assert float(dense.losses[0]) == pytest.approx(0.01 * float(np.sum(dense(X).numpy() ** 2)) / len(X), rel=1e-5)
