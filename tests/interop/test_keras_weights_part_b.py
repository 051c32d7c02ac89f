"""Keras 3 `.weights.h5` files of models with issue 16 part B layers load into the same tinydl models (and
back): composite layers keep their weights where Keras's weights tree puts them (skipped without keras)."""
import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import tinydl as td  # noqa: E402

keras = pytest.importorskip("keras")
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")


def _gqa(m):
    q = m.Input((5, 6))
    return m.Model(q, m.layers.GroupQueryAttention(2, 4, 2, use_gate=True)(q, q))


MODELS = {
    "GroupQueryAttention": (_gqa, (2, 5, 6)),
    "RNN(StackedRNNCells)": (lambda m: m.Sequential([m.Input((4, 3)), m.layers.RNN(m.layers.StackedRNNCells(
        [m.layers.LSTMCell(3), m.layers.GRUCell(2)]))]), (2, 4, 3)),
    "RNN(SimpleRNNCell)": (lambda m: m.Sequential([m.Input((4, 3)), m.layers.RNN(m.layers.SimpleRNNCell(3))]),
                           (2, 4, 3)),
    "ConvLSTM2D": (lambda m: m.Sequential([m.Input((3, 5, 5, 2)), m.layers.ConvLSTM2D(2, 3)]), (2, 3, 5, 5, 2)),
    "Pipeline": (lambda m: m.Sequential([m.Input((4,)), m.layers.Pipeline([m.layers.Dense(3), m.layers.Dense(2)])]),
                 (3, 4)),
    "Conv3D+EinsumDense": (lambda m: m.Sequential([
        m.Input((4, 4, 4, 2)), m.layers.Conv3D(3, 2), m.layers.GlobalAveragePooling3D(),
        m.layers.EinsumDense("ab,bc->ac", 4, bias_axes="c")]), (2, 4, 4, 4, 2)),
}


@pytest.mark.parametrize("name", MODELS)
def test_keras_weights_file_loads_into_tinydl_and_back(name, tmp_path):
    build, shape = MODELS[name]
    x = np.random.default_rng(0).standard_normal(shape).astype("float32")
    theirs, ours = build(keras), build(td)
    expected = keras.ops.convert_to_numpy(theirs(x))
    theirs.save_weights(tmp_path / "k.weights.h5")
    ours.load_weights(tmp_path / "k.weights.h5")
    np.testing.assert_allclose(ours(x).numpy(), expected, rtol=1e-5, atol=1e-6)
    ours.save_weights(tmp_path / "t.weights.h5")
    again = build(keras)
    again.load_weights(tmp_path / "t.weights.h5")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(again(x)), expected, rtol=1e-5, atol=1e-6)


def test_a_keras_archive_of_the_new_layers_loads_in_tinydl_and_back(tmp_path):
    layers = keras.layers
    x = np.random.default_rng(1).standard_normal((2, 4, 6)).astype("float32")
    q = keras.Input((4, 6))
    h = layers.GroupQueryAttention(2, 4, 2)(q, q)
    h = layers.RNN(layers.StackedRNNCells([layers.LSTMCell(3), layers.GRUCell(2)]), return_sequences=True)(h)
    h = layers.Conv1DTranspose(3, 2, strides=2)(h)
    h = layers.SeparableConv1D(3, 2)(h)
    h = layers.UpSampling1D(2)(h)
    h = layers.EinsumDense("abc,cd->abd", (None, 5), bias_axes="d")(h)
    h = layers.AdaptiveAveragePooling1D(3)(h)
    model = keras.Model(q, layers.add([h, layers.multiply([h, h])]))
    expected = keras.ops.convert_to_numpy(model(x))
    model.save(tmp_path / "k.keras")
    ours = td.models.load_model(tmp_path / "k.keras")
    np.testing.assert_allclose(ours(x).numpy(), expected, rtol=1e-5, atol=1e-6)
    ours.save(tmp_path / "t.keras")
    again = keras.models.load_model(tmp_path / "t.keras")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(again(x)), expected, rtol=1e-5, atol=1e-6)
