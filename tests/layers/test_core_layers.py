"""Core, embedding, reshaping and merge layers: outputs against NumPy formulas, Keras weights and counts,
eager gradients, masks, and errors that name the layer and the shapes."""
import numpy as np
import pytest

import tinydl as td
from tinydl import layers as L
from tinydl.models import Sequential

rng = np.random.default_rng(0)


def summary_totals(model):
    """(total, trainable, non-trainable) parameter counts as printed by summary()."""
    lines = []
    model.summary(print_fn=lines.append)
    get = lambda label: int(next(l for l in lines if l.startswith(label)).split(":")[1].replace(",", ""))  # noqa
    return get("Total params"), get("Trainable params"), get("Non-trainable params")


# -- parameter counts -----------------------------------------------------------------------------
def test_parameter_counts_equal_the_closed_forms():
    n_in, units, channels, vocab, dim = 7, 5, 5, 11, 3
    layers = {
        "dense": (L.Dense(units), (None, n_in), n_in * units + units, 0),
        "dense_nobias": (L.Dense(units, use_bias=False), (None, n_in), n_in * units, 0),
        "bn": (L.BatchNormalization(), (None, channels), 4 * channels, 2 * channels),
        "ln": (L.LayerNormalization(), (None, channels), 2 * channels, 0),
        "embedding": (L.Embedding(vocab, dim), (None, 4), vocab * dim, 0),
    }
    for name, (layer, shape, total, frozen) in layers.items():
        layer.build(shape)
        assert layer.count_params() == total, name
        assert sum(w.size for w in layer.non_trainable_weights) == frozen, name
    for layer in (L.Permute((2, 1)), L.RepeatVector(2), L.Add(), L.Concatenate(), L.Dot(1), L.Flatten()):
        layer.build((None, 3, 4) if not isinstance(layer, (L.Add, L.Concatenate, L.Dot)) else [(None, 3)] * 2)
        assert layer.count_params() == 0


def test_summary_totals_equal_the_closed_forms():
    model = Sequential([L.Input(shape=(6,), dtype="int64"), L.Embedding(20, 8), L.Flatten(),
                        L.BatchNormalization(), L.Dense(4), L.LayerNormalization(), L.Dense(2)])
    emb, bn, d1, ln, d2 = 20 * 8, 4 * 48, 48 * 4 + 4, 2 * 4, 4 * 2 + 2
    total = emb + bn + d1 + ln + d2
    assert summary_totals(model) == (total, total - 2 * 48, 2 * 48)
    assert model.count_params() == total


# -- Dense, Activation, Dropout, Flatten, Reshape, Lambda, Identity --------------------------------
def test_dense_is_x_at_kernel_plus_bias_with_keras_weights():
    x = rng.standard_normal((3, 4))
    layer = L.Dense(2, activation="relu", dtype="float64")
    out = layer(x).numpy()
    kernel, bias = layer.get_weights()
    assert kernel.shape == (4, 2) and bias.shape == (2,)
    np.testing.assert_allclose(out, np.maximum(x @ kernel + bias, 0))


def test_dense_gradient_flows_back_to_the_input_tensor():
    x = td.tensor(rng.standard_normal((3, 4)), requires_grad=True)
    layer = L.Dense(2, dtype="float64")
    layer(x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.tile(layer.kernel.numpy().sum(axis=1), (3, 1)))


def test_dropout_scales_kept_units_in_training_only():
    td.set_seed(1)
    x = np.ones((200, 50), np.float32)
    out = L.Dropout(0.25)(x, training=True).numpy()
    assert set(np.unique(out)) <= {0.0, np.float32(1 / 0.75)}
    assert abs((out == 0).mean() - 0.25) < 0.02
    np.testing.assert_array_equal(L.Dropout(0.25)(x).numpy(), x)


def test_flatten_reshape_identity_lambda_activation():
    x = rng.standard_normal((2, 3, 4)).astype(np.float32)
    np.testing.assert_array_equal(L.Flatten()(x).numpy(), x.reshape(2, 12))
    np.testing.assert_array_equal(L.Reshape((4, 3))(x).numpy(), x.reshape(2, 4, 3))
    np.testing.assert_array_equal(L.Reshape((-1, 6))(x).numpy(), x.reshape(2, 2, 6))
    np.testing.assert_array_equal(L.Identity()(x).numpy(), x)
    np.testing.assert_allclose(L.Lambda(lambda t: t * 2 + 1)(x).numpy(), x * 2 + 1)
    np.testing.assert_allclose(L.Activation("tanh")(x).numpy(), np.tanh(x), rtol=1e-6)


# -- Embedding ------------------------------------------------------------------------------------
def test_embedding_looks_up_rows_of_its_table():
    layer = L.Embedding(10, 3, dtype="float64")
    ids = np.array([[1, 2, 1], [9, 0, 4]])
    out = layer(ids).numpy()
    (table,) = layer.get_weights()
    assert table.shape == (10, 3) and layer.weights[0].name == "embeddings"
    assert np.abs(table).max() <= 0.05  # Keras's 'uniform': RandomUniform(-0.05, 0.05)
    np.testing.assert_array_equal(out, table[ids])


def test_embedding_gradient_adds_up_over_repeated_ids():
    layer = L.Embedding(5, 2, dtype="float64")
    layer(np.array([[1, 1, 3]])).sum().backward()
    expected = np.zeros((5, 2))
    expected[1] = 2
    expected[3] = 1
    np.testing.assert_array_equal(layer.embeddings.grad.numpy(), expected)


def test_embedding_mask_zero_gives_a_boolean_mask_of_nonzero_ids():
    ids = np.array([[3, 1, 0, 0], [2, 0, 5, 0]])
    layer = L.Embedding(6, 2, mask_zero=True)
    out = layer(ids)
    mask = layer.compute_mask(ids)
    assert isinstance(mask, np.ndarray) and mask.dtype == bool and mask.shape == (2, 4)
    np.testing.assert_array_equal(mask, ids != 0)
    np.testing.assert_array_equal(out._keras_mask, ids != 0)
    assert L.Embedding(6, 2).compute_mask(ids) is None
    # the mask passes through layers that support masking
    np.testing.assert_array_equal(L.Dense(3)(out)._keras_mask, ids != 0)


def test_embedding_out_of_range_ids_name_the_layer():
    layer = L.Embedding(4, 2, name="tokens")
    with pytest.raises(ValueError, match=r"Embedding 'tokens' got index 4 outside \[0, 4\).*\(1, 2\)"):
        layer(np.array([[1, 4]]))
    with pytest.raises(ValueError, match=r"'tokens' got index -1"):
        layer(np.array([[-1, 0]]))


# -- Permute, RepeatVector ------------------------------------------------------------------------
def test_permute_moves_the_non_batch_axes():
    x = rng.standard_normal((2, 3, 4, 5))
    np.testing.assert_array_equal(L.Permute((3, 1, 2))(x).numpy(), x.transpose(0, 3, 1, 2).astype(np.float32))
    with pytest.raises(ValueError, match="Permute.*permutation of 1..2"):
        L.Permute((0, 1))
    with pytest.raises(ValueError, match=r"Permute 'p' expected input with 3 dimensions, got shape \(2, 3\)"):
        L.Permute((2, 1), name="p")(np.zeros((2, 3)))


def test_repeat_vector_repeats_and_its_gradient_sums():
    x = td.tensor(rng.standard_normal((2, 3)), requires_grad=True)
    out = L.RepeatVector(4, dtype="float64")(x)
    np.testing.assert_array_equal(out.numpy(), np.repeat(x.numpy()[:, None, :], 4, axis=1))
    out.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.full((2, 3), 4.0))
    with pytest.raises(ValueError, match=r"RepeatVector 'rv' expected input with 2 dimensions, got shape \(2, 3, 1\)"):
        L.RepeatVector(2, name="rv")(np.zeros((2, 3, 1)))


# -- merges ---------------------------------------------------------------------------------------
def test_elementwise_merges_match_numpy():
    a, b, c = (rng.standard_normal((2, 3, 4)) for _ in range(3))
    kw = {"dtype": "float64"}
    np.testing.assert_allclose(L.Add(**kw)([a, b, c]).numpy(), a + b + c)
    np.testing.assert_allclose(L.Subtract(**kw)([a, b]).numpy(), a - b)
    np.testing.assert_allclose(L.Multiply(**kw)([a, b, c]).numpy(), a * b * c)
    np.testing.assert_allclose(L.Average(**kw)([a, b, c]).numpy(), (a + b + c) / 3)
    np.testing.assert_allclose(L.Maximum(**kw)([a, b, c]).numpy(), np.maximum(np.maximum(a, b), c))
    np.testing.assert_allclose(L.Minimum(**kw)([a, b, c]).numpy(), np.minimum(np.minimum(a, b), c))
    np.testing.assert_allclose(L.Add(**kw)([a, b[:, :1]]).numpy(), a + b[:, :1])  # broadcast


def test_merge_gradients_reach_every_input():
    a = td.tensor(rng.standard_normal((2, 3)), requires_grad=True)
    b = td.tensor(rng.standard_normal((2, 3)), requires_grad=True)
    L.Subtract(dtype="float64")([a, b]).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), np.ones((2, 3)))
    np.testing.assert_array_equal(b.grad.numpy(), -np.ones((2, 3)))
    a.grad = b.grad = None
    L.Multiply(dtype="float64")([a, b]).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), b.numpy())


def test_concatenate_joins_along_its_axis():
    a, b = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 1, 4))
    np.testing.assert_allclose(L.Concatenate(axis=1, dtype="float64")([a, b]).numpy(), np.concatenate([a, b], 1))
    c = rng.standard_normal((2, 3, 2))
    np.testing.assert_allclose(L.Concatenate(dtype="float64")([a, c]).numpy(), np.concatenate([a, c], -1))


def test_dot_is_a_per_sample_contraction():
    x, y = rng.standard_normal((4, 5)), rng.standard_normal((4, 5))
    out = L.Dot(axes=1, dtype="float64")([x, y]).numpy()
    np.testing.assert_allclose(out, (x * y).sum(axis=1, keepdims=True))
    a, b = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 5, 3))
    out = L.Dot(axes=(1, 2), dtype="float64")([a, b]).numpy()
    np.testing.assert_allclose(out, np.einsum("bki,bjk->bij", a, b))
    assert out.shape == (2, 4, 5)
    a2 = rng.standard_normal((2, 6, 4))
    np.testing.assert_allclose(L.Dot(axes=-1, dtype="float64")([a, a2]).numpy(), np.einsum("bik,bjk->bij", a, a2))


def test_dot_normalize_gives_cosine_similarity():
    x, y = rng.standard_normal((4, 5)), rng.standard_normal((4, 5))
    out = L.Dot(axes=1, normalize=True, dtype="float64")([x, y]).numpy()
    cosine = (x * y).sum(1) / np.linalg.norm(x, axis=1) / np.linalg.norm(y, axis=1)
    np.testing.assert_allclose(out[:, 0], cosine, rtol=1e-12)
    np.testing.assert_allclose(L.Dot(axes=1, normalize=True)([x, x]).numpy(), np.ones((4, 1)), rtol=1e-6)


def test_merge_masks_follow_keras():
    m1 = np.array([[True, True, False]])
    m2 = np.array([[True, False, True]])
    a, b = td.tensor(np.ones((1, 3, 2), np.float32)), td.tensor(np.ones((1, 3, 2), np.float32))
    a._keras_mask, b._keras_mask = m1, m2
    np.testing.assert_array_equal(L.Add()([a, b])._keras_mask, m1 | m2)  # Keras 3.15: OR
    np.testing.assert_array_equal(L.Concatenate(axis=1)([a, b])._keras_mask, np.concatenate([m1, m2], axis=1))
    np.testing.assert_array_equal(L.Concatenate()([a, b])._keras_mask, m1 | m2)  # any() over features
    c = td.tensor(np.ones((1, 3, 2), np.float32))
    assert L.Multiply()([a, c])._keras_mask is None  # an unmasked input: no mask (Keras 3.15)
    assert L.Dot(axes=2)([a, b])._keras_mask is None
    assert L.Add()([c, c * 1.0])._keras_mask is None


def test_merge_shape_errors_name_the_layer_and_the_shapes():
    a, b = np.zeros((2, 3), np.float32), np.zeros((2, 4), np.float32)
    with pytest.raises(ValueError, match=r"Add 'add_x' got inputs with incompatible shapes \[\(2, 3\), \(2, 4\)\]"):
        L.Add(name="add_x")([a, b])
    with pytest.raises(ValueError, match=r"Subtract 'sub' should be called on a list of exactly 2 inputs, got 3"):
        L.Subtract(name="sub")([a, a, a])
    with pytest.raises(ValueError, match=r"Add 'a1' should be called on a list of inputs"):
        L.Add(name="a1")(a)
    with pytest.raises(ValueError, match=r"Concatenate 'cat'.*except on the concatenation axis.*\(2, 3, 1\)"):
        L.Concatenate(axis=1, name="cat")([np.zeros((2, 3, 2)), np.zeros((2, 3, 1))])
    with pytest.raises(ValueError, match=r"Dot 'dot'.*\(2, 3\) and \(2, 4\).*axis 1 has size 3, axis 1 has size 4"):
        L.Dot(axes=1, name="dot")([a, b])
    with pytest.raises(ValueError, match=r"different batch sizes"):
        L.Multiply()([np.zeros((2, 3)), np.zeros((3, 3))])


def test_merge_layers_in_a_functional_graph_infer_output_shapes():
    x1, x2 = L.Input(shape=(3, 4)), L.Input(shape=(5, 4))
    assert L.Concatenate(axis=1)([x1, x2]).shape == (None, 8, 4)
    assert L.Dot(axes=2)([x1, x2]).shape == (None, 3, 5)
    assert L.Add()([x1, x1]).shape == (None, 3, 4)
    assert L.RepeatVector(2)(L.Input(shape=(4,))).shape == (None, 2, 4)
    assert L.Permute((2, 1))(x1).shape == (None, 4, 3)
    assert L.Embedding(9, 2)(L.Input(shape=(7,), dtype="int64")).shape == (None, 7, 2)
    with pytest.raises(ValueError, match=r"Concatenate.*\(None, 3, 4\), \(None, 5, 4\)"):
        L.Concatenate()([x1, x2])


def test_set_weights_checks_counts_and_shapes():
    layer = L.BatchNormalization(name="bn7")
    layer.build((None, 3))
    with pytest.raises(ValueError, match=r"'bn7' expects 4 weight arrays, got 2"):
        layer.set_weights([np.ones(3), np.ones(3)])
    with pytest.raises(ValueError, match=r"shape \(4,\).*'bn7/beta' of shape \(3,\)"):
        layer.set_weights([np.ones(3), np.ones(4), np.ones(3), np.ones(3)])


def test_merging_inputs_of_different_ranks_expands_after_the_batch_axis_as_keras():
    a, b = rng.standard_normal((2, 4)), rng.standard_normal((2, 3, 4))
    np.testing.assert_allclose(L.Add(dtype="float64")([a, b]).numpy(), a[:, None, :] + b)
    x1, x2 = L.Input(shape=(4,)), L.Input(shape=(3, 4))
    assert L.Multiply()([x1, x2]).shape == (None, 3, 4)
    with pytest.raises(ValueError, match=r"incompatible shapes \[\(2, 3\), \(2, 3, 4\)\]"):
        L.Add()([np.zeros((2, 3)), np.zeros((2, 3, 4))])


def test_dropout_noise_shape_shares_the_mask_along_size_one_axes():
    td.set_seed(3)
    x = np.ones((4, 5, 6), np.float32)
    out = L.Dropout(0.5, noise_shape=(None, 1, 6))(x, training=True).numpy()
    np.testing.assert_array_equal(out, np.broadcast_to(out[:, :1, :], out.shape))  # same along time
    assert set(np.unique(out)) == {0.0, 2.0}
    assert L.Dropout(0.5, noise_shape=(None, 1, 6)).get_config()["noise_shape"] == [None, 1, 6]


def test_lambda_mask_argument_sets_the_output_mask():
    x = td.tensor(np.ones((2, 3), np.float32))
    x._keras_mask = np.array([[True, False, True], [True, True, False]])
    keep = L.Lambda(lambda t: t * 2, mask=lambda inputs, mask: mask)(x)
    np.testing.assert_array_equal(keep._keras_mask, x._keras_mask)
    assert L.Lambda(lambda t: t * 2)(x)._keras_mask is None


def test_an_explicit_mask_may_be_a_tensor():
    x = td.tensor(np.ones((1, 3, 2), np.float32))
    mask = td.tensor(np.array([[True, False, True]]))
    out = L.BatchNormalization(momentum=0.0)(x * td.tensor(np.array([1.0, 5.0, 3.0], np.float32)[None, :, None]),
                                             training=True, mask=mask)
    # mean 2 and variance 1, from steps 0 and 2 only
    np.testing.assert_allclose(out.numpy()[0, :, 0], np.array([-1, 3, 1]) / np.sqrt(1 + 1e-3), rtol=1e-5)
