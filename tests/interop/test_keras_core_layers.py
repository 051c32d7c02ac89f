"""The core layers compute what Keras 3's do, number for number, given the same weights.

Runs against the real `keras` package with the torch backend (`pip install torch keras`); skipped when
keras is not installed. Covers training-mode BatchNormalization (outputs and moving statistics),
LayerNormalization, Embedding masks, the merge layers (their masks too), Dot, Permute, RepeatVector.
"""
import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

keras = pytest.importorskip("keras")
if keras.backend.backend() != "torch":  # pragma: no cover - another backend was configured first
    pytest.skip("the interop tests run Keras with the torch backend", allow_module_level=True)

import tinydl as td  # noqa: E402
import tinydl.layers as tl  # noqa: E402

rng = np.random.default_rng(0)
TOL = {"rtol": 1e-5, "atol": 1e-5}


def np_of(x):
    return keras.ops.convert_to_numpy(x)


def both(name, *args, inputs, training=None, **kwargs):
    """(keras output, tinydl output, keras layer, tinydl layer) with tinydl's weights copied from Keras."""
    k_layer, t_layer = getattr(keras.layers, name)(*args, **kwargs), getattr(tl, name)(*args, **kwargs)
    call = {} if training is None else {"training": training}
    k_out = k_layer(inputs, **call)
    t_layer(inputs) if k_layer.weights else None
    if k_layer.weights:
        t_layer.set_weights([np.asarray(w) for w in k_layer.get_weights()])
        # training-mode calls move the moving statistics; rebuild so both start from the same values
        if training:
            k_layer, t_layer = getattr(keras.layers, name)(*args, **kwargs), getattr(tl, name)(*args, **kwargs)
            k_layer.build(np.shape(inputs))
            t_layer.build(np.shape(inputs))
            weights = [rng.standard_normal(np.shape(w)).astype("float32") ** 2 for w in k_layer.get_weights()]
            k_layer.set_weights(weights)
            t_layer.set_weights(weights)
            k_out = k_layer(inputs, **call)
    t_out = t_layer(inputs, **call)
    return np_of(k_out), t_out.numpy(), k_layer, t_layer


@pytest.mark.parametrize("training", [False, True])
@pytest.mark.parametrize("shape,axis", [((6, 3), -1), ((2, 3, 4, 5), -1), ((3, 4, 2), 1)])
def test_batchnormalization_matches_keras(shape, axis, training):
    x = (rng.standard_normal(shape) * 2 + 1).astype("float32")
    k, t, k_layer, t_layer = both("BatchNormalization", inputs=x, training=training, axis=axis, momentum=0.8)
    np.testing.assert_allclose(t, k, **TOL)
    assert [w.name for w in t_layer.weights] == [w.name for w in k_layer.weights]
    for a, b in zip(t_layer.get_weights(), k_layer.get_weights()):
        np.testing.assert_allclose(a, np.asarray(b), **TOL)


@pytest.mark.parametrize("kwargs", [{}, {"axis": [1, 2]}, {"center": False, "epsilon": 1e-5}, {"rms_scaling": True},
                                    {"rms_scaling": True, "axis": [1, 2]}])
def test_layernormalization_matches_keras(kwargs):
    x = (rng.standard_normal((3, 4, 5)) * 3).astype("float32")
    k, t, k_layer, t_layer = both("LayerNormalization", inputs=x, **kwargs)
    np.testing.assert_allclose(t, k, **TOL)
    assert [w.shape for w in t_layer.weights] == [tuple(w.shape) for w in k_layer.weights]


def test_embedding_and_its_mask_match_keras():
    ids = np.array([[3, 1, 0, 0], [2, 0, 5, 0]], "int32")
    k_layer, t_layer = keras.layers.Embedding(6, 3, mask_zero=True), tl.Embedding(6, 3, mask_zero=True)
    k_out = np_of(k_layer(ids))
    t_layer(ids)
    t_layer.set_weights(k_layer.get_weights())
    np.testing.assert_allclose(t_layer(ids).numpy(), k_out)
    np.testing.assert_array_equal(t_layer.compute_mask(ids), np_of(k_layer.compute_mask(ids)))


@pytest.mark.parametrize("name", ["Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum"])
def test_elementwise_merges_match_keras(name):
    xs = [rng.standard_normal((2, 3, 4)).astype("float32") for _ in range(2 if name == "Subtract" else 3)]
    k, t, _, _ = both(name, inputs=xs)
    np.testing.assert_allclose(t, k, **TOL)


def test_merging_different_ranks_matches_keras():
    xs = [rng.standard_normal((2, 4)).astype("float32"), rng.standard_normal((2, 3, 4)).astype("float32")]
    k, t, _, _ = both("Add", inputs=xs)
    np.testing.assert_allclose(t, k, **TOL)


@pytest.mark.parametrize("axis,shapes", [(-1, [(2, 3, 4), (2, 3, 2)]), (1, [(2, 1, 4), (2, 3, 4)])])
def test_concatenate_matches_keras(axis, shapes):
    xs = [rng.standard_normal(s).astype("float32") for s in shapes]
    k, t, _, _ = both("Concatenate", axis=axis, inputs=xs)
    np.testing.assert_allclose(t, k)


@pytest.mark.parametrize("axes,normalize,shapes", [
    (1, False, [(4, 5), (4, 5)]), (1, True, [(4, 5), (4, 5)]), ((1, 2), False, [(2, 3, 4), (2, 5, 3)]),
    (-1, True, [(2, 3, 4), (2, 6, 4)]), ((2, 1), False, [(2, 3, 4), (2, 4, 2)]),
])
def test_dot_matches_keras(axes, normalize, shapes):
    xs = [rng.standard_normal(s).astype("float32") for s in shapes]
    k, t, _, _ = both("Dot", axes=axes, normalize=normalize, inputs=xs)
    assert t.shape == k.shape
    np.testing.assert_allclose(t, k, **TOL)


def test_permute_and_repeat_vector_match_keras():
    x = rng.standard_normal((2, 3, 4, 5)).astype("float32")
    k, t, _, _ = both("Permute", (3, 1, 2), inputs=x)
    np.testing.assert_array_equal(t, k)
    v = rng.standard_normal((2, 4)).astype("float32")
    k, t, _, _ = both("RepeatVector", 3, inputs=v)
    np.testing.assert_array_equal(t, k)


def test_merge_masks_match_keras():
    m1 = np.array([[True, True, False]])
    m2 = np.array([[True, False, True]])
    xs = [np.ones((1, 3, 2), "float32"), np.ones((1, 3, 2), "float32")]
    for layer_name, kwargs in [("Add", {}), ("Concatenate", {"axis": 1}), ("Concatenate", {})]:
        k_mask = np_of(getattr(keras.layers, layer_name)(**kwargs).compute_mask(xs, [m1, m2]))
        t_mask = getattr(tl, layer_name)(**kwargs).compute_mask([td.tensor(x) for x in xs], [m1, m2])
        np.testing.assert_array_equal(t_mask, k_mask)


def test_masked_batchnormalization_matches_keras():
    x = (rng.standard_normal((2, 4, 3)) * 2 + 1).astype("float32")
    mask = np.array([[True, True, True, False], [True, False, False, False]])
    k_layer, t_layer = keras.layers.BatchNormalization(momentum=0.5), tl.BatchNormalization(momentum=0.5)
    k_out = np_of(k_layer(x, training=True, mask=mask))
    t_out = t_layer(x, training=True, mask=mask).numpy()
    np.testing.assert_allclose(t_out, k_out, **TOL)
    for a, b in zip(t_layer.get_weights(), k_layer.get_weights()):
        np.testing.assert_allclose(a, np.asarray(b), **TOL)


def test_keras_model_with_a_masked_embedding_loads_and_predicts_the_same(tmp_path):
    from tinydl.models import load_model
    ids = keras.layers.Input((5,), dtype="int32")
    e = keras.layers.LayerNormalization()(keras.layers.Embedding(7, 3, mask_zero=True)(ids))
    model = keras.Model(ids, keras.layers.Dense(2)(keras.layers.GlobalAveragePooling1D()(e)))
    model.save(tmp_path / "masked.keras")
    data = np.array([[1, 2, 0, 0, 0], [3, 3, 3, 0, 0], [1, 2, 3, 4, 5]], "int32")
    ours = load_model(tmp_path / "masked.keras").predict(data, verbose=0)
    np.testing.assert_allclose(ours, np_of(model.predict(data, verbose=0)), **TOL)


def test_keras_model_with_concatenated_masks_loads_and_predicts_the_same(tmp_path):
    from tinydl.models import load_model
    ids, x = keras.layers.Input((5,), dtype="int32"), keras.layers.Input((5, 2))
    e = keras.layers.Embedding(7, 3, mask_zero=True)(ids)
    joined = keras.layers.Concatenate()([e, keras.layers.Masking()(x)])  # Keras records its mask ops in the graph
    model = keras.Model([ids, x], keras.layers.GlobalAveragePooling1D()(joined))
    model.save(tmp_path / "concat.keras")
    data = [np.array([[1, 2, 0, 0, 0], [3, 3, 3, 0, 0]], "int32"), rng.standard_normal((2, 5, 2)).astype("float32")]
    data[1][0, 4] = 0.0  # step 4 of row 0: hidden by both masks
    ours = load_model(tmp_path / "concat.keras").predict(data, verbose=0)
    np.testing.assert_allclose(ours, np_of(model.predict(data, verbose=0)), **TOL)
