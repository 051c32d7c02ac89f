"""A training step reads nothing back to the host, so on a GPU it queues work without waiting.

Device-agnostic check: the batch arrays are a NumPy subclass that raises on every host read (float, int,
bool, item, tolist) and whose reductions stay arrays; operations on them keep the subclass, so any
`float(...)` or `if array:` on the step's path raises here exactly where it would sync a GPU.
"""
import numpy as np
import pytest

import tinydl as td
from tinydl import losses
from tinydl.layers import LSTM, Dense, Input, Masking
from tinydl.tensor import Tensor


class HostReadError(AssertionError):
    pass


class DeviceOnly(np.ndarray):
    """An array whose values cannot be read on the host."""

    def _refuse(self, *args, **kwargs):
        raise HostReadError("read back to the host")

    __float__ = __int__ = __bool__ = __index__ = item = tolist = _refuse

    def all(self, *args, **kwargs):
        return np.asarray(self.view(np.ndarray).all(*args, **kwargs)).view(DeviceOnly)

    def any(self, *args, **kwargs):
        return np.asarray(self.view(np.ndarray).any(*args, **kwargs)).view(DeviceOnly)


def device_only(a):
    return np.asarray(a).view(DeviceOnly)


def test_the_detector_catches_a_host_read():
    a = device_only([1.0, 2.0])
    with pytest.raises(HostReadError):
        float(a.sum())
    with pytest.raises(HostReadError):
        bool(np.all(a > 0))
    assert isinstance(np.sqrt((a * a).sum()), DeviceOnly)


@pytest.mark.parametrize("clip", [{}, {"clipnorm": 1.0}, {"global_clipnorm": 1.0}])
def test_a_masked_lstm_step_with_clipping_stays_on_the_device(clip):
    rng = np.random.default_rng(0)
    td.set_seed(0)
    model = td.models.Sequential([Input(shape=(5, 2)), Masking(0.0), LSTM(3, return_sequences=True), Dense(1)])
    model.compile(td.optimizers.Adam(1e-3, **clip), "mean_squared_error")
    x = rng.standard_normal((4, 5, 2)).astype(np.float32)
    x[0, 3:] = 0  # masked steps: the loss rescales by the count of valid steps
    y = rng.standard_normal((4, 5, 1)).astype(np.float32)
    model.train_on_batch(x, y)
    before = [w.numpy().copy() for w in model.trainable_weights]
    logs = model.train_step((device_only(x), device_only(y)))
    assert isinstance(logs["loss"], DeviceOnly)
    assert any(not np.array_equal(b, w.numpy()) for b, w in zip(before, model.trainable_weights))


# categorical_crossentropy from logits is left out: its one-hot check runs on the host for NumPy labels
# (free there) and is skipped for device labels (losses._one_hot_labels), which this stand-in cannot show
@pytest.mark.parametrize("loss", ["sparse_categorical_crossentropy", "hinge", "squared_hinge"])
def test_a_classifier_step_stays_on_the_device(loss):
    rng = np.random.default_rng(1)
    td.set_seed(0)
    model = td.models.Sequential([Input(shape=(6,)), Dense(8, activation="relu"), Dense(3)])
    model.compile("adam", loss if "hinge" in loss else td.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = rng.standard_normal((4, 6)).astype(np.float32)
    labels = rng.integers(0, 3, 4)
    y = labels if loss.startswith("sparse") else np.eye(3, dtype=np.float32)[labels]
    model.train_on_batch(x, y)
    model.train_step((device_only(x), device_only(y)))  # a numba kernel's outputs are plain arrays again



@pytest.mark.parametrize("valid", [[1, 0, 1, 1], [0, 0, 0, 0]])
def test_a_masked_mean_divides_by_the_valid_count(valid):
    values = Tensor._wrap(np.array([1.0, 2.0, 3.0, 4.0], np.float32), False)
    mask = np.array(valid, bool)
    got = losses.reduce_weighted_values(values, mask=device_only(mask))
    expected = (np.array([1.0, 2.0, 3.0, 4.0]) * mask).sum() / max(mask.sum(), 1)
    np.testing.assert_allclose(np.asarray(got.data.view(np.ndarray)), expected, rtol=1e-6)


@pytest.mark.parametrize("y_true,expected", [([0.0, 1.0, 1.0], 3.5 / 3), ([0.0, 1.0, 0.5], 2.5 / 3)])
def test_hinge_maps_binary_labels_on_the_device(y_true, expected):
    # all-0/1 labels become -1/1 (margins 2, 0.5, 1); other labels are used as given (margins 1, 0.5, 1)
    got = losses.hinge(Tensor._wrap(device_only(np.array([y_true])), False), np.array([[1.0, 0.5, 0.0]]))
    np.testing.assert_allclose(np.asarray(got.data.view(np.ndarray)), [expected], rtol=1e-12)


def test_global_clipnorm_of_an_infinite_norm_is_nan():
    var = [td.tensor(np.zeros(2)), td.tensor(np.zeros(2))]
    td.optimizers.SGD(1.0, global_clipnorm=1.0).apply([np.array([3.0, 4.0]), np.array([np.inf, 0.0])], var)
    assert np.isnan(var[0].numpy()).all() and np.isnan(var[1].numpy()).all()
