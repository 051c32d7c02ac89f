"""RNN(cell): Keras's cells against real Keras 3 with shared weights, a user cell against a NumPy loop,
and the argument checks."""
import os

import numpy as np
import pytest

import tinydl as td
from tinydl import layers as L
from tinydl import tree

MASK = np.array([[1, 1, 1, 0, 0], [1, 0, 1, 1, 1]], bool)
CELLS = {
    "simple": lambda m: m.SimpleRNNCell(4, activation="relu"),
    "lstm": lambda m: m.LSTMCell(4),
    "gru": lambda m: m.GRUCell(4),
    "gru_reset_before": lambda m: m.GRUCell(4, reset_after=False),
    "stacked": lambda m: m.StackedRNNCells([m.LSTMCell(3), m.GRUCell(2)]),
}
OPTIONS = [dict(), dict(return_sequences=True, go_backwards=True), dict(return_sequences=True, return_state=True),
           dict(return_sequences=True, zero_output_for_mask=True)]


class MinimalRNNCell(L.Layer):
    """A user cell (Keras's documented pattern), linear: h = x @ kernel + h_prev @ recurrent_kernel."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units, self.state_size = units, units

    def build(self, input_shape):
        self.kernel = self.add_weight("kernel", (input_shape[-1], self.units))
        self.recurrent_kernel = self.add_weight("recurrent_kernel", (self.units, self.units))

    def call(self, inputs, states):
        out = td.matmul(inputs, self.kernel) + td.matmul(states[0], self.recurrent_kernel)
        return out, [out]


@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: ",".join(o) or "defaults")
@pytest.mark.parametrize("cell", CELLS, ids=list(CELLS))
def test_rnn_of_each_cell_matches_keras_with_a_mask(cell, options):
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    x = np.random.default_rng(0).standard_normal((2, 5, 3)).astype("float32")
    theirs, ours = keras.layers.RNN(CELLS[cell](keras.layers), **options), L.RNN(CELLS[cell](L), **options)
    expected = tree.flatten(theirs(x, mask=MASK))
    ours.build(x.shape)
    assert [tuple(w.shape) for w in ours.weights] == [tuple(w.shape) for w in theirs.weights]
    assert [w.name for w in ours.weights] == [w.name for w in theirs.weights]
    ours.set_weights([keras.ops.convert_to_numpy(w) for w in theirs.weights])
    got = tree.flatten(ours(td.tensor(x), mask=MASK))
    assert len(got) == len(expected)
    for a, b in zip(got, expected):
        np.testing.assert_allclose(a.numpy(), keras.ops.convert_to_numpy(b), rtol=1e-5, atol=1e-6)
    assert set(ours.get_config()) == set(theirs.get_config())
    assert set(ours.cell.get_config()) == set(theirs.cell.get_config())


def test_a_user_cell_runs_like_a_numpy_loop_and_differentiates():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 4, 3))
    layer = L.RNN(MinimalRNNCell(2, dtype="float64"), return_sequences=True, dtype="float64")
    xt = td.tensor(x, requires_grad=True)
    y = layer(xt)
    k, r = layer.cell.kernel.numpy(), layer.cell.recurrent_kernel.numpy()
    h, expected = np.zeros((2, 2)), []
    for t in range(4):
        h = x[:, t] @ k + h @ r
        expected.append(h)
    np.testing.assert_allclose(y.numpy(), np.stack(expected, 1), rtol=1e-12)
    y.sum().backward()
    # d sum(h_t) / dx_s = kernel @ (sum over t >= s of r^(t-s)) applied to ones
    ones = np.ones(2)
    grad = np.stack([k @ sum(np.linalg.matrix_power(r, t - s) @ ones for t in range(s, 4)) for s in range(4)])
    np.testing.assert_allclose(xt.grad.numpy(), np.broadcast_to(grad, (2, 4, 3)), rtol=1e-10)


def test_dropout_draws_one_mask_per_sequence_and_only_in_training():
    td.set_seed(0)
    x = td.tensor(np.ones((3, 6, 4)))
    layer = L.RNN(L.SimpleRNNCell(5, dropout=0.5, dtype="float64"), return_sequences=True, dtype="float64")
    plain = layer(x, training=False).numpy()
    cell = layer.cell
    reference = L.RNN(L.SimpleRNNCell(5, dtype="float64"), return_sequences=True, dtype="float64")
    reference(x)
    reference.set_weights(layer.get_weights())
    np.testing.assert_allclose(plain, reference(x).numpy())
    dropped = layer(x, training=True).numpy()
    mask = cell._masks["x"].numpy()
    assert set(np.unique(mask)) <= {0.0, 2.0} and mask.shape == (3, 4)
    h = np.zeros((3, 5))
    k, r, b = (w.numpy() for w in cell.weights)
    for t in range(6):  # the same input mask at every step
        h = np.tanh((np.ones((3, 4)) * mask) @ k + b + h @ r)
        np.testing.assert_allclose(dropped[:, t], h, rtol=1e-10)


def test_a_list_of_cells_is_stacked_and_bad_cells_are_refused():
    layer = L.RNN([L.SimpleRNNCell(3), L.GRUCell(2)])
    assert isinstance(layer.cell, L.StackedRNNCells)
    assert layer(td.tensor(np.ones((2, 3, 4), "float32"))).shape == (2, 2)
    with pytest.raises(TypeError, match="needs a cell"):
        L.RNN(L.Dense(3))
    with pytest.raises(NotImplementedError, match="stateful"):
        L.RNN(L.LSTMCell(2), stateful=True)
    with pytest.raises(ValueError, match="0 <= dropout < 1"):
        L.LSTMCell(2, dropout=1.5)
    with pytest.raises(ValueError, match="initial_state"):
        L.RNN(L.LSTMCell(2))(td.tensor(np.ones((2, 3, 4), "float32")), initial_state=[np.zeros((2, 2), "float32")])


@pytest.mark.parametrize("make", [lambda: L.RNN(L.LSTMCell(4), return_sequences=True, go_backwards=True),
                                  lambda: L.LSTM(4, return_sequences=True)], ids=["RNN(LSTMCell)", "LSTM"])
def test_onnx_export_follows_a_mask_input_and_user_cells_are_refused(tmp_path, make):
    ort = pytest.importorskip("onnxruntime")
    from tinydl.io.onnx import OnnxExportError
    td.set_seed(0)
    seq, mask = L.Input(batch_shape=(2, 5, 3)), L.Input(batch_shape=(2, 5), dtype="bool")
    model = td.models.Model([seq, mask], make()(seq, mask=mask))  # the mask tensor is no initial state
    x = np.random.default_rng(0).standard_normal((2, 5, 3)).astype("float32")
    with td.no_grad():
        expected = model([x, MASK]).numpy()
    model.export(tmp_path / "m.onnx", format="onnx", opset=17)
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    feeds = {i.name: a for i, a in zip(session.get_inputs(), [x, MASK])}
    np.testing.assert_allclose(session.run(None, feeds)[0], expected, rtol=1e-5, atol=1e-5)
    user = td.models.Model(seq, L.RNN(MinimalRNNCell(2))(seq))
    with pytest.raises(OnnxExportError, match="MinimalRNNCell"):
        user.export(tmp_path / "u.onnx", format="onnx", opset=17)
