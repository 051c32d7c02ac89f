"""A training step keeps only what backward needs: no reference cycles, no graph-held intermediates."""
import gc
import weakref

import numpy as np
import pytest

import tinydl as td
from tinydl.layers import Activation, Dense, Input
from tinydl.layers.base import pack_like


@pytest.fixture
def no_gc():
    """Run with the cycle collector off: whatever is still alive is held by references, not awaiting gc."""
    gc.collect()
    gc.disable()
    yield
    gc.enable()


def test_pack_like_leaves_no_reference_cycle_holding_its_values(no_gc):
    value = td.tensor(np.ones(3))
    packed = pack_like([(0, 0), {"a": 0}], [value, 1, 2])
    assert packed == [(value, 1), {"a": 2}]
    alive = weakref.ref(value)
    del value, packed
    assert alive() is None


class _Probe(Dense):
    """A Dense layer that remembers (weakly) the output of its last call."""

    def call(self, inputs):
        out = super().call(inputs)
        self.last = weakref.ref(out)
        return out


def test_a_model_step_frees_layer_outputs_that_no_op_saved(no_gc):
    td.set_seed(0)
    probe = _Probe(8)
    model = td.models.Sequential([Input(shape=(4,)), probe, Activation("relu"), Dense(1)])
    x = np.random.default_rng(0).standard_normal((16, 4)).astype(np.float32)
    y = model(x, training=True)
    assert probe.last() is None  # relu saved a boolean mask; the model's run released the tensor
    y.sum().backward()
    kernel, bias = probe.kernel.numpy(), probe.bias.numpy()
    w2 = model.layers[-1].kernel.numpy()
    positive = (x @ kernel + bias) > 0
    expected = x.T @ (positive * w2[:, 0])  # d sum(relu(x k + b) w2) / dk
    np.testing.assert_allclose(probe.kernel.grad.numpy(), expected, rtol=1e-5, atol=1e-5)


def test_add_and_relu_save_no_input_array(no_gc):
    x_np = np.array([-2.0, -0.2, 0.5, 1.0])
    x = td.tensor(x_np, requires_grad=True)
    h = x * 3.0
    s = h + 1.0  # add's gradient needs only the shapes
    y = td.relu(s)  # relu's needs only where s > 0
    freed = [weakref.ref(h.data), weakref.ref(s.data)]
    del h, s
    assert [ref() for ref in freed] == [None, None]
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), 3.0 * (3.0 * x_np + 1.0 > 0))


def test_a_model_restored_from_pickle_runs_and_releases_the_same_way():
    import pickle
    td.set_seed(0)
    model = td.models.Sequential([Input(shape=(4,)), Dense(8), Activation("relu"), Dense(1)])
    x = np.random.default_rng(1).standard_normal((3, 4)).astype(np.float32)
    restored = pickle.loads(pickle.dumps(model))  # new KerasTensor objects: nothing may be keyed by old ids
    np.testing.assert_allclose(restored(x).numpy(), model(x).numpy(), rtol=1e-6)
