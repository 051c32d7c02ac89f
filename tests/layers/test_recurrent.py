"""Recurrent layers in Keras's conventions: known weights against gate equations worked by hand for two
steps, weight layouts and names, masks from Embedding/Masking through models, Bidirectional merges,
TimeDistributed, initial states, dropout, and clear errors for bad input."""
import json
import math

import numpy as np
import pytest

import tinydl as td
from tinydl import layers as L
from tinydl.io.config import deserialize, serialize
from tinydl.models import Model, Sequential
from tinydl.testing import gradcheck


def sig(v):
    return 1 / (1 + math.exp(-v))


def run(layer, x, **kwargs):
    out = layer(np.asarray(x, dtype="float64"), **kwargs)
    return [o.numpy() for o in out] if isinstance(out, (list, tuple)) else out.numpy()


# -- two steps by hand (one unit, one feature: every gate a scalar) ------------------------------------

def test_lstm_two_steps_match_the_gate_equations_by_hand():
    layer = L.LSTM(1, return_sequences=True, return_state=True, dtype="float64")
    layer.build((1, 2, 1))
    # kernel [i, f, c, o], recurrent_kernel [i, f, c, o], bias [i, f, c, o]
    layer.set_weights([np.array([[0.5, 0.25, 1.0, -0.5]]), np.array([[0.1, 0.2, 0.3, 0.4]]),
                       np.array([0.0, 1.0, 0.0, 0.0])])
    seq, h, c = run(layer, [[[1.0], [2.0]]])
    # step 1: h0 = c0 = 0
    i1, f1, g1, o1 = sig(0.5), sig(0.25 + 1.0), math.tanh(1.0), sig(-0.5)
    c1 = f1 * 0 + i1 * g1
    h1 = o1 * math.tanh(c1)
    # step 2: x = 2
    i2 = sig(2 * 0.5 + 0.1 * h1)
    f2 = sig(2 * 0.25 + 0.2 * h1 + 1.0)
    g2 = math.tanh(2 * 1.0 + 0.3 * h1)
    o2 = sig(2 * -0.5 + 0.4 * h1)
    c2 = f2 * c1 + i2 * g2
    h2 = o2 * math.tanh(c2)
    np.testing.assert_allclose(seq[0, :, 0], [h1, h2], rtol=1e-12)
    np.testing.assert_allclose([h[0, 0], c[0, 0]], [h2, c2], rtol=1e-12)


@pytest.mark.parametrize("reset_after", [True, False])
def test_gru_two_steps_match_the_gate_equations_by_hand(reset_after):
    layer = L.GRU(1, return_sequences=True, reset_after=reset_after, dtype="float64")
    layer.build((1, 2, 1))
    kernel, recurrent = np.array([[0.5, -0.25, 1.0]]), np.array([[0.3, 0.2, -0.7]])  # [z, r, h]
    bias = np.array([[0.1, 0.2, 0.3], [-0.1, 0.05, 0.4]]) if reset_after else np.array([0.1, 0.2, 0.3])
    layer.set_weights([kernel, recurrent, bias])
    seq = run(layer, [[[1.0], [-2.0]]])
    h, outs = 0.0, []
    for x in (1.0, -2.0):
        if reset_after:
            z = sig(0.5 * x + 0.1 + 0.3 * h - 0.1)
            r = sig(-0.25 * x + 0.2 + 0.2 * h + 0.05)
            hh = math.tanh(1.0 * x + 0.3 + r * (-0.7 * h + 0.4))
        else:
            z = sig(0.5 * x + 0.1 + 0.3 * h)
            r = sig(-0.25 * x + 0.2 + 0.2 * h)
            hh = math.tanh(1.0 * x + 0.3 + (r * h) * -0.7)
        h = z * h + (1 - z) * hh
        outs.append(h)
    np.testing.assert_allclose(seq[0, :, 0], outs, rtol=1e-12)


def test_simple_rnn_two_steps_match_by_hand():
    layer = L.SimpleRNN(1, return_sequences=True, dtype="float64")
    layer.build((1, 2, 1))
    layer.set_weights([np.array([[0.8]]), np.array([[-0.6]]), np.array([0.1])])
    seq = run(layer, [[[1.0], [0.5]]])
    h1 = math.tanh(0.8 + 0.1)
    h2 = math.tanh(0.8 * 0.5 - 0.6 * h1 + 0.1)
    np.testing.assert_allclose(seq[0, :, 0], [h1, h2], rtol=1e-12)


def test_lstm_gate_blocks_follow_keras_layout_with_several_units():
    rng = np.random.default_rng(0)
    u, f = 2, 3
    layer = L.LSTM(u, return_state=True, dtype="float64")
    x = rng.standard_normal((2, 2, f))
    W, U, b = rng.standard_normal((f, 4 * u)), rng.standard_normal((u, 4 * u)), rng.standard_normal(4 * u)
    layer.build(x.shape)
    layer.set_weights([W, U, b])
    out, h, c = run(layer, x)
    hh, cc = np.zeros((2, u)), np.zeros((2, u))
    for t in range(2):
        z = x[:, t] @ W + hh @ U + b
        i, fg, g, o = 1 / (1 + np.exp(-z[:, :u])), 1 / (1 + np.exp(-z[:, u:2 * u])), np.tanh(z[:, 2 * u:3 * u]), \
            1 / (1 + np.exp(-z[:, 3 * u:]))
        cc = fg * cc + i * g
        hh = o * np.tanh(cc)
    np.testing.assert_allclose(out, hh, rtol=1e-12)
    np.testing.assert_allclose(h, hh, rtol=1e-12)
    np.testing.assert_allclose(c, cc, rtol=1e-12)


# -- weights ------------------------------------------------------------------------------------------

def test_weight_shapes_names_and_initial_values_follow_keras():
    td.set_seed(0)
    lstm = L.LSTM(8)
    lstm(np.zeros((1, 2, 3), "float32"))
    assert [w.name for w in lstm.weights] == ["kernel", "recurrent_kernel", "bias"]
    assert [w.path for w in lstm.weights] == [f"{lstm.name}/lstm_cell/{n}" for n in ("kernel", "recurrent_kernel",
                                                                                  "bias")]
    assert [w.shape for w in lstm.weights] == [(3, 32), (8, 32), (32,)]
    bias = lstm.bias.numpy()
    np.testing.assert_array_equal(bias[8:16], 1)  # unit_forget_bias
    np.testing.assert_array_equal(np.delete(bias, np.s_[8:16]), 0)
    U = lstm.recurrent_kernel.numpy()
    np.testing.assert_allclose(U @ U.T, np.eye(8), atol=1e-5)  # orthogonal rows
    gru = L.GRU(5)
    gru(np.zeros((1, 2, 3), "float32"))
    assert [w.shape for w in gru.weights] == [(3, 15), (5, 15), (2, 15)]
    gru_before = L.GRU(5, reset_after=False, use_bias=True)
    gru_before(np.zeros((1, 2, 3), "float32"))
    assert gru_before.bias.shape == (15,)
    rnn = L.SimpleRNN(4, use_bias=False)
    rnn(np.zeros((1, 2, 3), "float32"))
    assert [w.shape for w in rnn.weights] == [(3, 4), (4, 4)]


def test_config_has_keras_keys_and_round_trips():
    layer = L.GRU(3, return_sequences=True, go_backwards=True, reset_after=False, dropout=0.1)
    config = layer.get_config()
    for key in ("units", "activation", "recurrent_activation", "use_bias", "kernel_initializer",
                "recurrent_initializer", "bias_initializer", "dropout", "recurrent_dropout", "return_sequences",
                "return_state", "go_backwards", "stateful", "unroll", "reset_after", "seed"):
        assert key in config
    clone = deserialize(json.loads(json.dumps(serialize(layer))))
    assert type(clone) is L.GRU and clone.get_config() == config
    assert "unit_forget_bias" in L.LSTM(2).get_config()
    assert "recurrent_activation" not in L.SimpleRNN(2).get_config()


# -- masks ----------------------------------------------------------------------------------------------

def _padded_ids():
    ids = np.array([[3, 1, 4, 0, 0], [2, 7, 1, 8, 2]], dtype="int64")
    return ids, [3, 5]


@pytest.mark.parametrize("make", [lambda: L.LSTM(4), lambda: L.GRU(4), lambda: L.SimpleRNN(4),
                                  lambda: L.LSTM(4, go_backwards=True)])
def test_embedding_mask_zero_skips_padding_through_a_functional_model(make):
    td.set_seed(1)
    ids, lengths = _padded_ids()
    inp = L.Input(shape=(None,), dtype="int64")
    emb = L.Embedding(10, 3, mask_zero=True)
    rnn = make()
    model = Model(inp, rnn(emb(inp)))
    out = model.predict(ids, verbose=0) if hasattr(model, "predict") else model(ids).numpy()
    for row, n in enumerate(lengths):
        alone = rnn(emb(ids[row:row + 1, :n])).numpy()
        np.testing.assert_allclose(out[row:row + 1], alone, rtol=1e-5, atol=1e-6)


def test_masking_layer_masks_steps_equal_to_mask_value():
    td.set_seed(2)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 4, 3)).astype("float32")
    x[0, 2:] = -1.0
    model = Sequential([L.Input(shape=(4, 3)), L.Masking(mask_value=-1.0), L.GRU(5)])
    out = model(x).numpy()
    gru = model.layers[-1]
    np.testing.assert_allclose(out[0], gru(x[:1, :2]).numpy()[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out[1], gru(x[1:]).numpy()[0], rtol=1e-5, atol=1e-6)
    masked = L.Masking(mask_value=-1.0)(x)
    np.testing.assert_array_equal(masked._keras_mask, [[True, True, False, False], [True] * 4])
    np.testing.assert_array_equal(masked.numpy()[0, 2:], 0)


def test_return_sequences_passes_the_mask_on_and_masked_steps_repeat_the_state():
    x = np.random.default_rng(3).standard_normal((1, 4, 2)).astype("float32")
    mask = np.array([[True, True, False, True]])
    layer = L.LSTM(3, return_sequences=True)
    out = layer(x, mask=mask)
    np.testing.assert_array_equal(out._keras_mask, mask)
    np.testing.assert_array_equal(out.numpy()[0, 2], out.numpy()[0, 1])
    assert layer.compute_mask(x, mask) is mask
    assert L.LSTM(3).compute_mask(x, mask) is None


# -- Bidirectional and TimeDistributed --------------------------------------------------------------------

@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave", None])
def test_bidirectional_merges_forward_and_time_reversed_backward(merge_mode):
    td.set_seed(4)
    x = np.random.default_rng(4).standard_normal((2, 5, 3))
    bi = L.Bidirectional(L.LSTM(4, return_sequences=True, dtype="float64"), merge_mode=merge_mode, dtype="float64")
    out = run(bi, x)
    owners = [w.path.split("/")[0] for w in bi.weights]
    assert all(o.startswith("forward_lstm") for o in owners[:3]) and all(o.startswith("backward_lstm") for o in owners[3:])
    fw, bw = bi.forward_layer, bi.backward_layer
    assert bw.go_backwards and not fw.go_backwards
    y = fw(x).numpy()
    y_rev = bw(x).numpy()[:, ::-1]
    expected = {"concat": lambda: np.concatenate([y, y_rev], -1), "sum": lambda: y + y_rev,
                "mul": lambda: y * y_rev, "ave": lambda: (y + y_rev) / 2, None: lambda: [y, y_rev]}[merge_mode]()
    if merge_mode is None:
        for a, b in zip(out, expected):
            np.testing.assert_allclose(a, b, rtol=1e-12)
    else:
        np.testing.assert_allclose(out, expected, rtol=1e-12)
    # the backward half reads the sequence last step first
    backward_alone = L.LSTM(4, return_sequences=True, dtype="float64")
    backward_alone.build(x.shape)
    backward_alone.set_weights(bw.get_weights())
    np.testing.assert_allclose(backward_alone(x[:, ::-1].copy()).numpy(), bw(x).numpy(), rtol=1e-12)


def test_bidirectional_weights_are_forward_then_backward_and_config_round_trips():
    td.set_seed(5)
    bi = L.Bidirectional(L.GRU(3), merge_mode="sum")
    x = np.random.default_rng(5).standard_normal((2, 4, 2)).astype("float32")
    out = bi(x).numpy()
    assert len(bi.weights) == 6
    assert bi.weights[0] is bi.forward_layer.kernel and bi.weights[3] is bi.backward_layer.kernel
    clone = deserialize(json.loads(json.dumps(serialize(bi))))
    assert clone.get_config() == bi.get_config()
    clone(x)
    clone.set_weights(bi.get_weights())
    np.testing.assert_allclose(clone(x).numpy(), out, rtol=1e-6)


def test_bidirectional_with_its_own_backward_layer():
    x = np.random.default_rng(13).standard_normal((2, 4, 3)).astype("float32")
    bi = L.Bidirectional(L.LSTM(2, return_sequences=True),
                         backward_layer=L.GRU(3, return_sequences=True, go_backwards=True, name="back_gru"))
    out = bi(x)
    assert out.shape == (2, 4, 5) and bi.backward_layer.name == "back_gru"
    np.testing.assert_allclose(out.numpy()[..., 2:], bi.backward_layer(x).numpy()[:, ::-1], rtol=1e-6)
    clone = deserialize(json.loads(json.dumps(serialize(bi))))
    assert type(clone.backward_layer) is L.GRU and clone.get_config() == bi.get_config()
    with pytest.raises(ValueError, match="go_backwards must be the opposite"):
        L.Bidirectional(L.LSTM(2), backward_layer=L.LSTM(2))


def test_bidirectional_return_state_and_initial_state():
    x = np.random.default_rng(6).standard_normal((2, 3, 2)).astype("float32")
    bi = L.Bidirectional(L.LSTM(4, return_state=True))
    out, hf, cf, hb, cb = bi(x)
    assert out.shape == (2, 8) and hf.shape == hb.shape == (2, 4)
    np.testing.assert_allclose(out.numpy(), np.concatenate([hf.numpy(), hb.numpy()], -1), rtol=1e-6)
    states = [np.full((2, 4), 0.3, "float32")] * 4
    out2 = bi(x, initial_state=states)[0]
    assert not np.allclose(out2.numpy(), out.numpy())
    with pytest.raises(ValueError, match="even number of initial states"):
        bi(x, initial_state=states[:3])


def test_bidirectional_masked_sequence_outputs_zero_at_padding():
    td.set_seed(7)
    ids, lengths = _padded_ids()
    emb = L.Embedding(10, 3, mask_zero=True)
    out = L.Bidirectional(L.GRU(2, return_sequences=True))(emb(ids))
    np.testing.assert_array_equal(out.numpy()[0, 3:], 0)  # Keras forces zero outputs at masked steps here
    np.testing.assert_array_equal(out._keras_mask, ids != 0)


def test_time_distributed_applies_the_layer_to_every_step():
    td.set_seed(8)
    x = np.random.default_rng(8).standard_normal((2, 4, 3)).astype("float32")
    layer = L.TimeDistributed(L.Dense(5))
    out = layer(x).numpy()
    dense = layer.layer
    expected = x @ dense.kernel.numpy() + dense.bias.numpy()
    np.testing.assert_allclose(out, expected, rtol=1e-5)
    assert layer.weights == dense.weights
    clone = deserialize(json.loads(json.dumps(serialize(layer))))
    assert clone.get_config() == layer.get_config()


# -- initial state, dropout, gradients ----------------------------------------------------------------------

def test_initial_state_starts_the_scan_and_receives_gradients():
    x = np.random.default_rng(9).standard_normal((2, 3, 2))
    layer = L.LSTM(4, dtype="float64")
    h0 = td.tensor(np.full((2, 4), 0.5), requires_grad=True)
    c0 = td.tensor(np.full((2, 4), -0.2), requires_grad=True)
    out = layer(x, initial_state=[h0, c0])
    expected = td.lstm(x, h0, c0, layer.kernel, layer.recurrent_kernel, layer.bias)[1]
    np.testing.assert_allclose(out.numpy(), expected.numpy(), rtol=1e-12)
    report = gradcheck(lambda h, c: layer(x, initial_state=[h, c]), [h0.numpy(), c0.numpy()])
    assert report, report  # both initial states get the finite-difference gradient


def test_dropout_only_while_training():
    td.set_seed(10)
    x = np.random.default_rng(10).standard_normal((3, 4, 5)).astype("float32")
    layer = L.GRU(4, dropout=0.5, recurrent_dropout=0.3)
    a, b = layer(x, training=False).numpy(), layer(x, training=False).numpy()
    np.testing.assert_array_equal(a, b)
    c = layer(x, training=True)
    assert not np.allclose(c.numpy(), a)


@pytest.mark.parametrize("cls", [L.SimpleRNN, L.LSTM, L.GRU])
def test_gradient_through_dropout_masks_matches_finite_differences(cls):
    """With the masks fixed by the seed, d(output)/d(recurrent_kernel) is the masked network's gradient."""
    x = np.random.default_rng(10).standard_normal((3, 4, 5))
    layer = cls(4, dropout=0.5, recurrent_dropout=0.3, dtype="float64")
    layer(x)  # builds the weights, so every objective() below draws the same masks
    r = np.random.default_rng(11).standard_normal((3, 4))

    def objective():
        td.set_seed(10)  # the same dropout masks in every evaluation
        return (layer(x, training=True) * td.tensor(r)).sum()
    objective().backward()
    analytic = layer.recurrent_kernel.grad.numpy()
    k = layer.recurrent_kernel.numpy()
    direction = np.random.default_rng(12).standard_normal(k.shape)
    eps = 1e-6
    values = []
    for sign in (1, -1):
        layer.recurrent_kernel.assign(k + sign * eps * direction)
        with td.no_grad():
            values.append(float(objective().numpy()))
    numeric = (values[0] - values[1]) / (2 * eps)
    np.testing.assert_allclose((analytic * direction).sum(), numeric, rtol=1e-6, atol=1e-8)


def test_lstm_trains_in_a_model():
    td.set_seed(11)
    rng = np.random.default_rng(11)
    x = rng.standard_normal((64, 6, 2)).astype("float32")
    y = x[:, :, :1].sum(axis=1)  # the running sum of the first feature
    model = Sequential([L.Input(shape=(6, 2)), L.LSTM(8), L.Dense(1)])
    model.compile(optimizer=td.optimizers.Adam(learning_rate=0.02), loss="mean_squared_error")
    history = model.fit(x, y, epochs=15, batch_size=16, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < 0.3 * losses[0]


# -- errors --------------------------------------------------------------------------------------------------

def test_two_dimensional_input_names_the_layer():
    with pytest.raises(ValueError, match=r"LSTM 'my_lstm' expects input of shape \(batch, timesteps, features\), "
                                         r"got shape \(4, 3\)"):
        L.LSTM(2, name="my_lstm")(np.zeros((4, 3), "float32"))
    with pytest.raises(ValueError, match=r"GRU 'g'.*\(batch, timesteps, features\)"):
        Sequential([L.Input(shape=(3,)), L.GRU(2, name="g")])


def test_mask_shape_mismatch_names_the_layer():
    layer = L.GRU(2, name="gru_m")
    with pytest.raises(ValueError, match=r"GRU 'gru_m' got a mask of shape \(4, 5\) for input with "
                                         r"\(batch, timesteps\) = \(4, 3\)"):
        layer(np.zeros((4, 3, 2), "float32"), mask=np.ones((4, 5), bool))


def test_initial_state_of_wrong_size_or_count_names_the_layer():
    layer = L.LSTM(3, name="lstm_s")
    x = np.zeros((2, 4, 1), "float32")
    with pytest.raises(ValueError, match=r"LSTM 'lstm_s' expects each initial state of shape \(batch, units\) = "
                                         r"\(2, 3\), got \(2, 5\)"):
        layer(x, initial_state=[np.zeros((2, 3), "float32"), np.zeros((2, 5), "float32")])
    with pytest.raises(ValueError, match=r"LSTM 'lstm_s' expects initial_state as a list of 2 tensor\(s\) \[h, c\], "
                                         r"got 1"):
        layer(x, initial_state=[np.zeros((2, 3), "float32")])


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="merge_mode"):
        L.Bidirectional(L.LSTM(2), merge_mode="max")
    with pytest.raises(TypeError, match="recurrent layer"):
        L.Bidirectional(L.Dense(2))
    with pytest.raises(NotImplementedError, match="stateful"):
        L.LSTM(2, stateful=True)
    with pytest.raises(ValueError, match="dropout"):
        L.GRU(2, dropout=1.5)


def test_onnx_export_of_masked_sequences_unrolls_and_matches(tmp_path):
    # masked steps keep the state, which ONNX's LSTM node cannot do: the exporter unrolls the steps
    ort = pytest.importorskip("onnxruntime")
    inp = L.Input(shape=(5,), dtype="int64", name="ids")
    model = Model(inp, L.LSTM(2, name="masked_lstm")(L.Embedding(10, 3, mask_zero=True)(inp)))
    proto = model.export(tmp_path / "m.onnx", format="onnx")
    assert not any(n.op_type == "LSTM" for n in proto.graph.node)
    ids = np.array([[3, 0, 4, 0, 0], [1, 2, 3, 4, 5]], "int64")
    got, = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"]).run(None, {"ids": ids})
    np.testing.assert_allclose(got, model.predict(ids, verbose=0), rtol=1e-4, atol=1e-5)


def test_padding_steps_count_in_neither_loss_nor_metrics():
    td.set_seed(12)
    ids = np.random.default_rng(12).integers(1, 10, (16, 6))
    ids[:8, 4:] = 0
    y = (ids % 2).astype("float32")[..., None]
    model = Sequential([L.Input(shape=(6,), dtype="int64"), L.Embedding(10, 4, mask_zero=True),
                        L.GRU(5, return_sequences=True), L.TimeDistributed(L.Dense(1, activation="sigmoid"))])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    flipped = y.copy()
    flipped[:8, 4:] = 1 - flipped[:8, 4:]  # targets at padding steps must not matter
    np.testing.assert_allclose(model.evaluate(ids, y, verbose=0), model.evaluate(ids, flipped, verbose=0), rtol=1e-6)
