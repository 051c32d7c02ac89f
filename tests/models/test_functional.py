"""The functional API with the core layers: several inputs and outputs, shared layers, nested models,
Sequential add/pop, masks through the graph, config round trips, and input errors."""
import json

import numpy as np
import pytest

import tinydl as td
from tinydl import layers as L
from tinydl.io.config import deserialize, serialize
from tinydl.models import Model, Sequential

rng = np.random.default_rng(0)


class MaskedMean(L.Layer):
    """Mean over time of the unmasked steps (a mask consumer, for the tests)."""

    def call(self, inputs, mask=None):
        if mask is None:
            return td.mean(inputs, axis=1)
        weights = td.tensor(mask.astype(inputs.dtype)[..., None])
        return (inputs * weights).sum(axis=1) / weights.sum(axis=1)


def relu(x):
    return np.maximum(x, 0)


def two_in_two_out():
    a, b = L.Input(shape=(3,), name="a"), L.Input(shape=(2,), name="b")
    h = L.Concatenate(name="joined")([a, b])
    h = L.Dense(4, activation="relu", name="hidden")(h)
    out1 = L.Dense(1, name="out1")(h)
    out2 = L.Dense(2, activation="softmax", name="out2")(L.Add(name="skip")([h, L.Dense(4, name="side")(a)]))
    return Model([a, b], [out1, out2])


def test_multi_input_multi_output_model_computes_the_formula():
    model = two_in_two_out()
    assert model.input_names == ["a", "b"] and model.output_names == ["out1", "out2"]
    xa, xb = rng.standard_normal((5, 3)).astype(np.float32), rng.standard_normal((5, 2)).astype(np.float32)
    p1, p2 = model.predict([xa, xb], verbose=0)
    w = {layer.name: layer.get_weights() for layer in model.layers}
    h = relu(np.concatenate([xa, xb], 1) @ w["hidden"][0] + w["hidden"][1])
    np.testing.assert_allclose(p1, h @ w["out1"][0] + w["out1"][1], rtol=1e-5, atol=1e-6)
    logits = (h + xa @ w["side"][0] + w["side"][1]) @ w["out2"][0] + w["out2"][1]
    e = np.exp(logits - logits.max(1, keepdims=True))
    np.testing.assert_allclose(p2, e / e.sum(1, keepdims=True), rtol=1e-5, atol=1e-6)
    assert model.output_shape == [(None, 1), (None, 2)]


def test_multi_output_model_trains_with_losses_per_output():
    td.set_seed(0)
    model = two_in_two_out()
    model.compile("adam", loss=["mean_squared_error", "sparse_categorical_crossentropy"], loss_weights=[1.0, 0.5])
    xa, xb = rng.standard_normal((32, 3)).astype(np.float32), rng.standard_normal((32, 2)).astype(np.float32)
    y1, y2 = xa[:, :1] * 2, (xb[:, 0] > 0).astype(np.int64)
    history = model.fit([xa, xb], [y1, y2], epochs=10, batch_size=8, verbose=0)
    assert {"loss", "out1_loss", "out2_loss"} <= set(history.history)
    assert history.history["loss"][-1] < history.history["loss"][0]


def siamese():
    """A shared Dense twin applied to two inputs; outputs both embeddings and their L1 distance."""
    twin = L.Dense(3, activation="tanh", name="twin")
    x1, x2 = L.Input(shape=(4,), name="left"), L.Input(shape=(4,), name="right")
    e1, e2 = twin(x1), twin(x2)
    distance = L.Lambda(lambda d: td.abs(d).sum(axis=1, keepdims=True), name="l1")(L.Subtract()([e1, e2]))
    return Model([x1, x2], [e1, e2, distance]), twin


def test_siamese_branches_share_one_set_of_weights():
    td.set_seed(0)
    model, twin = siamese()
    assert len(model.weights) == 2 and len(model.trainable_weights) == 2  # kernel, bias once
    assert [layer.name for layer in model.layers].count("twin") == 1
    model.compile(td.optimizers.SGD(learning_rate=0.5), loss=[None, None, "mean_squared_error"])
    x1, x2 = rng.standard_normal((8, 4)).astype(np.float32), rng.standard_normal((8, 4)).astype(np.float32)
    before = twin.get_weights()
    model.train_on_batch([x1, x2], [np.zeros((8, 3)), np.zeros((8, 3)), np.zeros((8, 1), np.float32)])
    kernel, bias = twin.get_weights()
    assert not np.allclose(kernel, before[0])
    e1, e2, _ = model.predict([x1, x2], verbose=0)
    np.testing.assert_allclose(e1, np.tanh(x1 @ kernel + bias), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(e2, np.tanh(x2 @ kernel + bias), rtol=1e-5, atol=1e-6)


def test_shared_layer_gets_the_sum_of_both_branches_gradients():
    twin = L.Dense(2, dtype="float64", name="twin2")
    x1, x2 = L.Input(shape=(3,)), L.Input(shape=(3,))
    model = Model([x1, x2], L.Add(dtype="float64")([twin(x1), twin(x2)]))
    a, b = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    model([a, b]).sum().backward()
    np.testing.assert_allclose(twin.kernel.grad.numpy(), np.tile((a + b).sum(0)[:, None], (1, 2)))
    np.testing.assert_allclose(twin.bias.grad.numpy(), [8.0, 8.0])


def test_nested_model_is_used_as_a_layer_and_shares_its_weights():
    inner_in = L.Input(shape=(4,))
    inner = Model(inner_in, L.Dense(2, activation="relu", name="inner_dense")(inner_in), name="encoder")
    x = L.Input(shape=(4,))
    outer = Model(x, L.Dense(1, name="head")(inner(x)))
    assert [layer.name for layer in outer.layers][1] == "encoder"
    assert len(outer.weights) == 4
    data = rng.standard_normal((6, 4)).astype(np.float32)
    expected = inner.predict(data, verbose=0) @ outer.get_layer("head").kernel.numpy() + \
        outer.get_layer("head").bias.numpy()
    np.testing.assert_allclose(outer.predict(data, verbose=0), expected, rtol=1e-5, atol=1e-6)
    inner.set_weights([w * 2 for w in inner.get_weights()])  # the outer model sees the change
    expected = inner.predict(data, verbose=0) @ outer.get_layer("head").kernel.numpy() + \
        outer.get_layer("head").bias.numpy()
    np.testing.assert_allclose(outer.predict(data, verbose=0), expected, rtol=1e-5, atol=1e-6)


def test_nested_model_gradients_reach_an_input_tensor():
    inner_in = L.Input(shape=(3,))
    inner = Model(inner_in, L.Dense(2, dtype="float64")(inner_in))
    x = td.tensor(rng.standard_normal((2, 3)), requires_grad=True)
    inner(x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.tile(inner.layers[1].kernel.numpy().sum(1), (2, 1)))


def test_sequential_add_and_pop():
    model = Sequential()
    model.add(L.Input(shape=(5,)))
    model.add(L.Dense(4, name="d1"))
    model.add(L.BatchNormalization(name="bn"))
    model.add(L.Dense(3, name="d2"))
    assert [layer.name for layer in model.layers] == ["d1", "bn", "d2"]
    assert model.output_shape == (None, 3)
    popped = model.pop()
    assert popped.name == "d2" and [layer.name for layer in model.layers] == ["d1", "bn"]
    assert model.output_shape == (None, 4)
    assert model.predict(np.ones((2, 5), np.float32), verbose=0).shape == (2, 4)
    model.add(L.RepeatVector(2))
    assert model.output_shape == (None, 2, 4)
    assert len(model.weights) == 2 + 4


def test_sequential_built_from_the_first_data_it_sees():
    model = Sequential([L.Dense(3), L.Dense(1)])
    assert model.predict(np.ones((4, 7), np.float32), verbose=0).shape == (4, 1)
    assert model.layers[0].kernel.shape == (7, 3)


def test_mask_from_embedding_flows_through_the_graph():
    ids_in = L.Input(shape=(5,), dtype="int64")
    emb = L.Embedding(10, 3, mask_zero=True, name="emb")(ids_in)
    h = L.Dense(3, name="proj")(emb)  # supports masking: passes the mask on
    pooled = MaskedMean(name="pool")(h)
    model = Model(ids_in, pooled)
    ids = np.array([[4, 2, 7, 0, 0], [1, 0, 0, 0, 0]])
    table = model.get_layer("emb").get_weights()[0]
    kernel, bias = model.get_layer("proj").get_weights()
    steps = table[ids] @ kernel + bias
    mask = (ids != 0)[..., None]
    expected = (steps * mask).sum(1) / mask.sum(1)
    np.testing.assert_allclose(model.predict(ids, verbose=0), expected, rtol=1e-5, atol=1e-6)
    # without the mask the padded steps would count
    assert not np.allclose(expected, steps.mean(1), atol=1e-4)


def test_functional_config_round_trip_with_shared_layers_gives_same_predictions():
    model, _ = siamese()
    config = json.loads(json.dumps(serialize(model)))
    clone = deserialize(config, safe_mode=False)  # the Lambda layer carries code
    assert [layer.name for layer in clone.layers] == [layer.name for layer in model.layers]
    assert len(clone.weights) == 2
    clone.set_weights(model.get_weights())
    x1, x2 = rng.standard_normal((3, 4)).astype(np.float32), rng.standard_normal((3, 4)).astype(np.float32)
    for a, b in zip(model.predict([x1, x2], verbose=0), clone.predict([x1, x2], verbose=0)):
        np.testing.assert_allclose(a, b, rtol=1e-6)


def test_functional_config_round_trip_of_merges_norms_and_embeddings():
    tokens, feats = L.Input(shape=(4,), dtype="int64", name="tokens"), L.Input(shape=(4, 3), name="feats")
    e = L.Embedding(12, 3, mask_zero=True)(tokens)
    h = L.Concatenate()([e, L.LayerNormalization()(feats)])
    h = L.BatchNormalization()(L.Permute((2, 1))(h))
    d = L.Dot(axes=(1, 1), normalize=True)([h, h])
    out = L.Dense(2)(L.Flatten()(L.Multiply()([d, L.Maximum()([d, d])])))
    model = Model([tokens, feats], out)
    clone = Model.from_config(json.loads(json.dumps(model.get_config())))
    clone.set_weights(model.get_weights())
    args = [rng.integers(0, 12, (2, 4)), rng.standard_normal((2, 4, 3)).astype(np.float32)]
    np.testing.assert_allclose(clone.predict(args, verbose=0), model.predict(args, verbose=0), rtol=1e-6)


def test_sequential_config_round_trip_gives_same_predictions():
    model = Sequential([L.Input(shape=(6,)), L.Dense(5, activation="relu"), L.BatchNormalization(),
                        L.Dropout(0.3), L.Reshape((5, 1)), L.Permute((2, 1)), L.Flatten(), L.Dense(2)])
    model.layers[1].set_weights([np.full(5, 2.0), np.full(5, 0.5), np.full(5, 0.1), np.full(5, 3.0)])
    clone = deserialize(json.loads(json.dumps(serialize(model))))
    assert type(clone) is Sequential and len(clone.layers) == len(model.layers)
    assert [type(a) for a in clone.layers] == [type(b) for b in model.layers]
    clone.set_weights(model.get_weights())
    x = rng.standard_normal((4, 6)).astype(np.float32)
    np.testing.assert_allclose(clone.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)


def test_wrong_input_rank_names_expected_and_received_shapes():
    model = two_in_two_out()
    good_b = np.zeros((2, 2), np.float32)
    with pytest.raises(ValueError, match=r"expected input 'a' with shape \(None, 3\), got \(2, 3, 2\)"):
        model.predict([np.zeros((2, 3, 2), np.float32), good_b], verbose=0)
    model.predict([np.zeros((2, 3, 1), np.float32), good_b], verbose=0)  # a trailing 1 is squeezed, as Keras
    with pytest.raises(ValueError, match=r"expected input 'a' with shape \(None, 3\), got \(2, 4\)"):
        model.predict([np.zeros((2, 4), np.float32), good_b], verbose=0)
    with pytest.raises(ValueError, match=r"expects 2 input\(s\) \['a', 'b'\], got 1"):
        model.predict(np.zeros((2, 3), np.float32), verbose=0)


def test_wrong_shape_in_a_graph_call_names_the_layer():
    x = L.Input(shape=(4,))
    dense = L.Dense(2, name="d")
    dense(x)
    with pytest.raises(ValueError, match=r"Dense 'd' expected input with dimension -1 of size 4, "
                                         r"got shape \(None, 5\)"):
        dense(L.Input(shape=(5,)))
    with pytest.raises(ValueError, match=r"Subtract.*exactly 2 inputs, got 3"):
        L.Subtract()([x, x, x])


def test_a_nested_model_passes_its_output_mask_on():
    inner_ids = L.Input(shape=(4,), dtype="int64")
    encoder = Model(inner_ids, L.Embedding(6, 2, mask_zero=True, name="emb")(inner_ids), name="encoder")
    ids_in = L.Input(shape=(4,), dtype="int64")
    model = Model(ids_in, MaskedMean()(encoder(ids_in)))
    ids = np.array([[5, 2, 0, 0], [3, 0, 0, 0]])
    np.testing.assert_array_equal(encoder(ids)._keras_mask, ids != 0)
    table = encoder.get_layer("emb").get_weights()[0]
    expected = np.stack([table[[5, 2]].mean(0), table[3]])
    np.testing.assert_allclose(model.predict(ids, verbose=0), expected, rtol=1e-6)


def test_global_average_pooling_averages_only_unmasked_steps():
    ids_in = L.Input(shape=(4,), dtype="int64")
    model = Model(ids_in, L.GlobalAveragePooling1D()(L.Embedding(6, 2, mask_zero=True, name="emb")(ids_in)))
    ids = np.array([[5, 2, 0, 0], [3, 0, 0, 0]])
    table = model.get_layer("emb").get_weights()[0]
    np.testing.assert_allclose(model.predict(ids, verbose=0), [table[[5, 2]].mean(0), table[3]], rtol=1e-6)
