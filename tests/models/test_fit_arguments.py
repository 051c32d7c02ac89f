"""fit() refuses wrong arguments by name, and check_numerics covers generators and validation data (issue 18,
items 9 and 10)."""
import numpy as np
import pytest

import tinydl as td
from tinydl.layers import Dense, Input
from tinydl.models import Sequential


def model(check_numerics=False):
    td.set_seed(0)
    m = Sequential([Input(shape=(3,)), Dense(2)])
    m.compile("sgd", "mean_squared_error", check_numerics=check_numerics)
    return m


X, Y = np.ones((10, 3), "float32"), np.ones((10, 2), "float32")


@pytest.mark.parametrize("kwargs, error, message", [
    ({"batch_size": 0}, ValueError, r"fit\(batch_size=\.\.\.\) expects an int >= 1, got 0"),
    ({"batch_size": -5}, ValueError, r"fit\(batch_size=\.\.\.\) expects an int >= 1, got -5"),
    ({"batch_size": 2.0}, TypeError, r"fit\(batch_size=\.\.\.\) expects an int >= 1 or None, got 2\.0 \(float\)"),
    ({"batch_size": True}, TypeError, r"fit\(batch_size=\.\.\.\) expects an int >= 1 or None, got True \(bool\)"),
    ({"epochs": -1}, ValueError, r"fit\(epochs=\.\.\.\) expects an int >= 0, got -1"),
    ({"epochs": 1.5}, TypeError, r"fit\(epochs=\.\.\.\) expects an int >= 0, got 1\.5 \(float\)"),
    ({"initial_epoch": -1}, ValueError, r"fit\(initial_epoch=\.\.\.\) expects an int >= 0, got -1"),
    ({"steps_per_epoch": 0}, ValueError, r"fit\(steps_per_epoch=\.\.\.\) expects an int >= 1, got 0"),
    ({"validation_freq": 0}, ValueError, r"fit\(validation_freq=\.\.\.\) expects an int >= 1, got 0"),
    ({"validation_split": 1.0}, ValueError, r"fit\(validation_split=\.\.\.\) expects a float in \[0, 1\), got 1\.0"),
    ({"validation_split": "0.2"}, ValueError, r"expects a float in \[0, 1\), got '0\.2'"),
    ({"validation_split": 0.95}, ValueError, r"validation_split=0\.95 of 10 samples leaves 0 for training"),
])
def test_each_wrong_fit_argument_is_named_with_what_was_expected_and_received(kwargs, error, message):
    m = model()
    before = m.get_weights()
    with pytest.raises(error, match=message):
        m.fit(X, Y, verbose=0, **kwargs)
    for a, b in zip(m.get_weights(), before):
        np.testing.assert_array_equal(a, b)  # refused before any step


def test_valid_edge_values_still_train_as_before():
    assert model().fit(X, Y, epochs=0, verbose=0).history == {}  # Keras: epochs=0 trains nothing
    history = model().fit(X, Y, batch_size=np.int64(4), epochs=np.int32(2), validation_split=0.2, verbose=0)
    assert history.epoch == [0, 1] and len(history.history["val_loss"]) == 2


@pytest.mark.parametrize("x, y, message", [
    (X[:0], Y[:0], r"x holds 0 samples"),
    (np.full((10, 3), "a"), Y, r"x has dtype <U1 \(shape \(10, 3\)\); tinydl trains on numeric arrays"),
    (X.astype(object), Y, r"x has dtype object"),
    (X.astype(complex), Y, r"x has dtype complex128"),
    (X, np.full((10, 2), "b"), r"y has dtype <U1"),
])
def test_empty_and_non_numeric_data_are_refused_by_name(x, y, message):
    with pytest.raises((TypeError, ValueError), match=message):
        model().fit(x, y, verbose=0)


def test_non_numeric_validation_data_is_refused_by_name():
    # empty validation data is not an error: Keras leaves the val_ keys out (tests/models/test_fit_inputs_and_logs.py)
    with pytest.raises(TypeError, match="validation_data's y has dtype <U1"):
        model().fit(X, Y, validation_data=(X, np.full((10, 2), "b")), verbose=0)


def test_check_numerics_covers_generators_and_validation_data():
    bad = X.copy()
    bad[3, 1] = np.nan

    def batches():
        yield X[:5], Y[:5]
        yield bad[:5], Y[:5]
    m = model(check_numerics=True)
    with pytest.raises(ValueError, match=r"x\[0\] \(shape \(5, 3\)\) holds 1 NaN"):
        m.fit(batches(), epochs=1, steps_per_epoch=2, verbose=0)
    assert all(np.isfinite(w).all() for w in m.get_weights())
    with pytest.raises(ValueError, match=r"x\[0\] \(shape \(10, 3\)\) holds 1 NaN"):
        model(check_numerics=True).fit(X, Y, validation_data=(bad, Y), verbose=0)
    with pytest.raises(ValueError, match=r"y\[0\] \(shape \(5, 2\)\) holds 1 NaN"):
        model(check_numerics=True).fit(X, Y, validation_data=iter([(X[:5], np.where(bad[:5, :2] > 0, 1, np.inf))]),
                                       validation_steps=1, verbose=0)
    model().fit(batches(), epochs=1, steps_per_epoch=2, verbose=0)  # without the flag, nothing is checked
