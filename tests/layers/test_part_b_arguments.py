"""Issue 16 part B layers: refused arguments raise errors naming the argument, and a few behaviours a
contract case does not pin (shapes with None, EinsumDense's kernel shapes, adaptive bins)."""
import numpy as np
import pytest

import tinydl as td
from tinydl import layers as L
from tinydl.layers.einsum_dense import einsum_dense_shapes
from tinydl.layers.pooling import adaptive_bins


@pytest.mark.parametrize("make, match", [
    (lambda: L.EinsumDense("ab->b", 3), "equation must be"),
    (lambda: L.EinsumDense("ab,bc->ac", 3, lora_rank=2), "lora_rank"),
    (lambda: L.EinsumDense("ab,bc->ac", 3, quantization_config={"mode": "int8"}), "quantization_config"),
    (lambda: L.GroupQueryAttention(2, 3, 2), "divisible by num_key_value_heads"),
    (lambda: L.GroupQueryAttention(2, 4, 2, flash_attention=True), "flash_attention"),
    (lambda: L.GroupQueryAttention(2, 4, 2, sliding_window=0), "sliding_window"),
    (lambda: L.ConvLSTM2D(2, 3, padding="causal"), "padding"),
    (lambda: L.ConvLSTM2D(2, 3, stateful=True), "stateful"),
    (lambda: L.ConvLSTM2D(2, 3, strides=2, dilation_rate=2), "dilation_rate"),
    (lambda: L.Conv3DTranspose(2, 3, strides=2, output_padding=2), "output_padding"),
    (lambda: L.Conv3D(3, 2, groups=2), "divisible by groups"),
    (lambda: L.AdaptiveMaxPooling2D((2, 0)), "output_size"),
    (lambda: L.UpSampling1D(0), "size"),
    (lambda: L.ZeroPadding3D(((1, -1), 0, 0)), "padding"),
    (lambda: L.Cropping3D(data_format="nchw"), "data_format"),
    (lambda: L.Pipeline([]), "non-empty list of layers"),
])
def test_refused_arguments_name_themselves(make, match):
    with pytest.raises((ValueError, NotImplementedError, TypeError), match=match):
        make()


def test_einsum_dense_kernel_and_bias_shapes_follow_the_equation():
    parts = L.EinsumDense("abc,cde->abde", (None, 4, 8))._parts
    kernel, bias, full, ins, outs = einsum_dense_shapes(parts, "de", (None, 5, 16), (None, 4, 8))
    assert (kernel, bias, full, ins, outs) == ([16, 4, 8], [4, 8], [None, 5, 4, 8], [0], [1, 2])
    parts = L.EinsumDense("...b,bc->...c", 7)._parts
    assert einsum_dense_shapes(parts, "c", (2, 3, 5), (7,))[:3] == ([5, 7], [7], [2, 3, 7])
    with pytest.raises(ValueError, match="bias_axes"):
        einsum_dense_shapes(L.EinsumDense("ab,bc->ac", 3)._parts, "z", (2, 4), (3,))


def test_adaptive_bins_cover_the_axis_like_pytorch():
    assert adaptive_bins(7, 3) == [(0, 3), (2, 5), (4, 7)]
    assert adaptive_bins(4, 4) == [(0, 1), (1, 2), (2, 3), (3, 4)]
    x = np.arange(2 * 7 * 1, dtype="float64").reshape(2, 7, 1)
    got = L.AdaptiveAveragePooling1D(3)(td.tensor(x)).numpy()[:, :, 0]
    np.testing.assert_allclose(got, [[1, 3, 5], [8, 10, 12]])


def test_symbolic_shapes_keep_unknown_sizes():
    seq = L.Input(shape=(None, 6, 6, 2))
    assert tuple(L.ConvLSTM2D(3, 3, return_sequences=True)(seq).shape) == (None, None, 4, 4, 3)
    vol = L.Input(shape=(8, 8, 8, 1))
    assert tuple(L.Conv3DTranspose(2, 3, strides=2, padding="same")(vol).shape) == (None, 16, 16, 16, 2)
    assert tuple(L.MaxPooling3D(2)(vol).shape) == (None, 4, 4, 4, 1)


def test_conv3d_layers_train_in_a_model():
    td.set_seed(0)
    rng = np.random.default_rng(0)
    x, y = rng.random((8, 6, 6, 6, 1)).astype("float32"), rng.integers(0, 2, 8)
    model = td.models.Sequential([L.Input((6, 6, 6, 1)), L.Conv3D(4, 3, activation="relu"), L.MaxPooling3D(2),
                                  L.GlobalAveragePooling3D(), L.Dense(2)])
    model.compile(optimizer="adam", loss=td.losses.SparseCategoricalCrossentropy(from_logits=True))
    first = model.train_on_batch(x, y)
    for _ in range(20):
        last = model.train_on_batch(x, y)
    assert last < 0.9 * first


@pytest.mark.parametrize("backwards", [False, True])
def test_conv_lstm_onnx_export_follows_a_mask_input(tmp_path, backwards):
    ort = pytest.importorskip("onnxruntime")
    td.set_seed(0)
    frames, mask = L.Input(batch_shape=(2, 3, 4, 4, 2)), L.Input(batch_shape=(2, 3), dtype="bool")
    out = L.ConvLSTM2D(2, 3, padding="same", return_sequences=True, go_backwards=backwards)(frames, mask=mask)
    model = td.models.Model([frames, mask], out)
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 4, 2)).astype("float32")
    m = np.array([[True, False, True], [True, True, False]])
    with td.no_grad():
        expected = model([x, m]).numpy()
    model.export(tmp_path / "m.onnx", format="onnx", opset=17)
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    feeds = {i.name: a for i, a in zip(session.get_inputs(), [x, m])}
    np.testing.assert_allclose(session.run(None, feeds)[0], expected, rtol=1e-5, atol=1e-5)
