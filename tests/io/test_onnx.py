"""ONNX export: the file's contract (opset, IR version, dynamic batch, names) and onnxruntime agreement
for Sequential, functional multi-input/multi-output, nested and subclassed models."""
import numpy as np
import onnx
import pytest

import tinydl as td
from tinydl.io.onnx import OnnxExportError, onnx_converter, supported_layers
from tinydl.layers import (
    BatchNormalization, Concatenate, Conv2D, Dense, Flatten, Input, Lambda, Layer, MaxPooling2D,
)
from tinydl.models import Model, Sequential

ort = pytest.importorskip("onnxruntime")


def run(path, feeds):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session, session.run(None, feeds)


def outputs(model, x):
    with td.no_grad():
        out = model(x, training=False)
    return [t.numpy() for t in (out if isinstance(out, (list, tuple)) else [out])]


def cnn():
    td.set_seed(0)
    return Sequential([Input(shape=(8, 8, 1)), Conv2D(4, 3, padding="same", activation="relu"),
                       Conv2D(4, 3, activation="relu"), MaxPooling2D(2), BatchNormalization(), Flatten(),
                       Dense(3, activation="softmax")], name="cnn")


def test_sequential_export_has_opset_17_ir_8_and_a_dynamic_batch(tmp_path):
    model = cnn()
    proto = model.export(tmp_path / "cnn.onnx", format="onnx", opset=17)
    assert proto.ir_version == 8 and proto.opset_import[0].version == 17
    onnx.checker.check_model(onnx.load(tmp_path / "cnn.onnx"))
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == "batch" and [d.dim_value for d in dims[1:]] == [8, 8, 1]
    assert proto.graph.output[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    rng = np.random.default_rng(0)
    for batch in (1, 7):
        x = rng.standard_normal((batch, 8, 8, 1)).astype("float32")
        _, (got,) = run(tmp_path / "cnn.onnx", {proto.graph.input[0].name: x})
        np.testing.assert_allclose(got, outputs(model, x)[0], rtol=1e-4, atol=1e-5)


def test_back_to_back_layout_transposes_are_folded(tmp_path):
    proto = cnn().export(None)
    transposes = [n for n in proto.graph.node if n.op_type == "Transpose"]
    assert len(transposes) == 2  # into NCHW once before the first conv, back once before Flatten


def test_functional_multi_input_multi_output_keeps_names(tmp_path):
    td.set_seed(1)
    a, b = Input(shape=(4,), name="left"), Input(shape=(3,), name="right")
    h = Concatenate()([Dense(5, activation="tanh")(a), b])
    model = Model([a, b], [Dense(2, name="score")(h), Dense(3, activation="softmax", name="label")(h)])
    model.export(tmp_path / "m.onnx")
    rng = np.random.default_rng(0)
    xa, xb = rng.standard_normal((6, 4)).astype("float32"), rng.standard_normal((6, 3)).astype("float32")
    session, got = run(tmp_path / "m.onnx", {"left": xa, "right": xb})
    assert [i.name for i in session.get_inputs()] == ["left", "right"]
    assert [o.name for o in session.get_outputs()] == ["score", "label"]
    for g, e in zip(got, outputs(model, [xa, xb])):
        np.testing.assert_allclose(g, e, rtol=1e-4, atol=1e-5)


def test_nested_models_are_inlined_and_shared_layers_reused(tmp_path):
    td.set_seed(2)
    tower = Sequential([Input(shape=(3,)), Dense(4, activation="relu")], name="tower")
    a, b = Input(shape=(3,), name="a"), Input(shape=(3,), name="b")
    model = Model([a, b], Concatenate()([tower(a), tower(b)]))
    proto = model.export(tmp_path / "m.onnx")
    assert all(n.op_type != "Loop" for n in proto.graph.node)
    xs = [np.random.default_rng(i).standard_normal((2, 3)).astype("float32") for i in range(2)]
    _, (got,) = run(tmp_path / "m.onnx", {"a": xs[0], "b": xs[1]})
    np.testing.assert_allclose(got, outputs(model, xs)[0], rtol=1e-4, atol=1e-5)


class TwoStep(Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.hidden = Dense(6, activation="relu")
        self.out = Dense(2)

    def call(self, inputs, training=None):
        return self.out(self.hidden(inputs))


def test_subclassed_model_is_traced_from_the_shape_it_was_built_with(tmp_path):
    td.set_seed(3)
    model = TwoStep()
    x = np.random.default_rng(0).standard_normal((4, 5)).astype("float32")
    expected = outputs(model, x)[0]
    model.export(tmp_path / "sub.onnx")
    _, (got,) = run(tmp_path / "sub.onnx", {onnx.load(tmp_path / "sub.onnx").graph.input[0].name: x})
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    with pytest.raises(OnnxExportError, match="never called"):
        TwoStep().export(tmp_path / "unbuilt.onnx")


class Cube(Layer):
    def call(self, inputs):
        return inputs * inputs * inputs


def test_unsupported_layers_fail_naming_the_layer_and_a_converter_can_be_registered(tmp_path):
    inp = Input(shape=(3,))
    model = Model(inp, Cube(name="cube")(inp))
    with pytest.raises(OnnxExportError, match=r"'cube' \(Cube\) has no ONNX converter"):
        model.export(tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()

    @onnx_converter(Cube)
    def _cube(ctx, layer, node, inputs):
        square = ctx.op("Mul", [inputs[0], inputs[0]])
        return ctx.op("Mul", [square, inputs[0]])
    assert "Cube" in supported_layers()
    model.export(tmp_path / "m.onnx")
    x = np.array([[1.0, -2.0, 0.5]], "float32")
    _, (got,) = run(tmp_path / "m.onnx", {onnx.load(tmp_path / "m.onnx").graph.input[0].name: x})
    np.testing.assert_allclose(got, x ** 3)
    lam = Input(shape=(2,))
    with pytest.raises(OnnxExportError, match="Lambda"):
        Model(lam, Lambda(lambda t: t + 1.0)(lam)).export(None)


def test_only_onnx_format_and_recent_opsets(tmp_path):
    with pytest.raises(ValueError, match="onnx"):
        cnn().export(tmp_path / "m.tflite", format="tflite")
    with pytest.raises(OnnxExportError, match="opset"):
        cnn().export(tmp_path / "m.onnx", opset=9)


def test_padding_masks_from_mask_zero_embeddings_reach_attention(tmp_path):
    td.set_seed(4)
    from tinydl.layers import Embedding, GlobalAveragePooling1D, MultiHeadAttention, TransformerEncoder
    ids = Input(shape=(6,), dtype="int64", name="ids")
    x = Embedding(9, 8, mask_zero=True)(ids)
    x = TransformerEncoder(intermediate_dim=8, num_heads=2)(x)
    x = MultiHeadAttention(num_heads=2, key_dim=3)(x, x)
    model = Model(ids, Dense(2)(GlobalAveragePooling1D()(x)))
    batch = np.array([[3, 4, 5, 0, 0, 0], [1, 2, 3, 4, 5, 6], [7, 0, 2, 0, 0, 0]], "int64")
    model.export(tmp_path / "masked.onnx")
    _, (got,) = run(tmp_path / "masked.onnx", {"ids": batch})
    np.testing.assert_allclose(got, outputs(model, batch)[0], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("make", [
    lambda L: L.LSTM(3, return_sequences=True),
    lambda L: L.LSTM(3, go_backwards=True),
    lambda L: L.GRU(3, return_sequences=True, go_backwards=True),
    lambda L: L.GRU(3, reset_after=False, return_sequences=True),
    lambda L: L.SimpleRNN(3, return_sequences=True),
    lambda L: L.Bidirectional(L.LSTM(2, return_sequences=True)),
    lambda L: L.Bidirectional(L.GRU(2), merge_mode="sum"),
], ids=["lstm-seq", "lstm-back", "gru-back-seq", "gru-reset-before", "simple-rnn", "bi-lstm-seq", "bi-gru-sum"])
def test_masked_recurrent_layers_export_as_unrolled_steps(make, tmp_path):
    """Masked steps (padding anywhere, from Embedding(mask_zero=True) or Masking) keep the state."""
    import tinydl.layers as L
    td.set_seed(5)
    ids = Input(shape=(5,), dtype="int64", name="ids")
    model = Model(ids, make(L)(L.Embedding(6, 4, mask_zero=True)(ids)))
    batch = np.array([[1, 2, 0, 3, 0], [4, 5, 1, 2, 3], [0, 0, 2, 0, 0]], "int64")
    model.export(tmp_path / "rnn.onnx")
    _, got = run(tmp_path / "rnn.onnx", {"ids": batch})
    for g, e in zip(got, outputs(model, batch)):
        np.testing.assert_allclose(g, e, rtol=1e-4, atol=1e-5)
    steps = Input(shape=(4, 3), name="steps")
    masked = Model(steps, make(L)(L.Masking(0.0)(steps)))
    x = np.random.default_rng(0).standard_normal((2, 4, 3)).astype("float32")
    x[0, 2:] = 0.0
    masked.export(tmp_path / "masking.onnx")
    _, got = run(tmp_path / "masking.onnx", {"steps": x})
    for g, e in zip(got, outputs(masked, x)):
        np.testing.assert_allclose(g, e, rtol=1e-4, atol=1e-5)


def test_masks_through_concatenate_along_time_and_features(tmp_path):
    import tinydl.layers as L
    td.set_seed(6)
    a, b = Input(shape=(3,), dtype="int64", name="a"), Input(shape=(2,), dtype="int64", name="b")
    ea = L.Embedding(5, 4, mask_zero=True)(a)
    eb = L.Embedding(5, 4, mask_zero=True)(b)
    time = L.Concatenate(axis=1)([ea, eb])                       # (batch, 5, 4), masks joined
    feats = L.Concatenate()([ea, L.Embedding(5, 2, mask_zero=True)(a)])  # (batch, 3, 6), masks OR-ed
    model = Model([a, b], [L.GRU(3)(time), L.LSTM(2)(feats)])
    xa = np.array([[1, 0, 2], [0, 0, 0], [3, 4, 1]], "int64")
    xb = np.array([[0, 2], [1, 0], [0, 0]], "int64")
    model.export(tmp_path / "cat.onnx")
    _, got = run(tmp_path / "cat.onnx", {"a": xa, "b": xb})
    for g, e in zip(got, outputs(model, [xa, xb])):
        np.testing.assert_allclose(g, e, rtol=1e-4, atol=1e-5)
