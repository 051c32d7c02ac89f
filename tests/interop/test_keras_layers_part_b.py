"""Issue 16 part B layers against real Keras 3 with shared weights: same weight names and shapes, same
outputs, same get_config keys and values (skipped without keras)."""
import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from tinydl import layers as L  # noqa: E402

keras = pytest.importorskip("keras")
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")

CASES = [
    ("Conv1DTranspose", dict(filters=4, kernel_size=3, strides=2, padding="same"), (2, 5, 3)),
    ("Conv1DTranspose", dict(filters=2, kernel_size=3, strides=2, output_padding=1, activation="relu"), (2, 5, 3)),
    ("DepthwiseConv1D", dict(kernel_size=3, depth_multiplier=2, strides=2, padding="same"), (2, 7, 3)),
    ("SeparableConv1D", dict(filters=5, kernel_size=3, depth_multiplier=2, dilation_rate=2), (2, 9, 3)),
    ("UpSampling1D", dict(size=3), (2, 4, 3)),
    ("ZeroPadding1D", dict(padding=(1, 2)), (2, 4, 3)),
    ("Conv3D", dict(filters=4, kernel_size=(3, 2, 3), strides=(1, 2, 1)), (2, 5, 6, 7, 3)),
    ("Conv3D", dict(filters=4, kernel_size=3, padding="same", strides=2, groups=2), (2, 5, 6, 7, 2)),
    ("Conv3D", dict(filters=3, kernel_size=2, padding="same", dilation_rate=(2, 1, 2),
                    data_format="channels_first"), (2, 2, 5, 4, 5)),
    ("Conv3DTranspose", dict(filters=4, kernel_size=3, strides=2, padding="same"), (2, 3, 4, 3, 3)),
    ("Conv3DTranspose", dict(filters=2, kernel_size=(2, 3, 2), strides=(2, 1, 2)), (2, 3, 4, 3, 3)),
    ("Conv3DTranspose", dict(filters=2, kernel_size=3, strides=2, output_padding=(1, 0, 1)), (1, 3, 2, 3, 2)),
    ("MaxPooling3D", dict(pool_size=2), (2, 5, 4, 6, 3)),
    ("MaxPooling3D", dict(pool_size=(3, 2, 3), strides=(2, 1, 2), padding="same"), (2, 5, 4, 7, 3)),
    ("AveragePooling3D", dict(pool_size=(2, 3, 2), strides=1), (2, 5, 4, 6, 3)),
    ("AveragePooling3D", dict(pool_size=3, strides=2, padding="same"), (2, 5, 7, 5, 3)),
    ("GlobalMaxPooling3D", dict(), (2, 3, 4, 5, 3)),
    ("GlobalAveragePooling3D", dict(keepdims=True, data_format="channels_first"), (2, 3, 4, 5, 3)),
    ("UpSampling3D", dict(size=(2, 1, 3)), (2, 3, 2, 2, 3)),
    ("ZeroPadding3D", dict(padding=((1, 0), (0, 2), (1, 1))), (2, 3, 2, 2, 3)),
    ("Cropping3D", dict(cropping=((1, 0), (0, 2), (1, 1))), (2, 3, 4, 5, 3)),
]
CASES += [
    ("EinsumDense", dict(equation="ab,bc->ac", output_shape=4, bias_axes="c"), (3, 5)),
    ("EinsumDense", dict(equation="abc,cde->abde", output_shape=(None, 2, 3), bias_axes="de", activation="relu"),
     (2, 4, 5)),
    ("EinsumDense", dict(equation="...b,bc->...c", output_shape=4, bias_axes="c"), (2, 3, 4, 5)),
    ("EinsumDense", dict(equation="abc,cd->abd", output_shape=(None, 6)), (2, 3, 5)),
    ("EinsumDense", dict(equation="ab...,bc->ac...", output_shape=4, bias_axes="c"), (2, 5, 3)),
]
CASES += [
    ("ConvLSTM1D", dict(filters=3, kernel_size=3, padding="same", return_sequences=True), (2, 4, 6, 2)),
    ("ConvLSTM2D", dict(filters=3, kernel_size=(3, 2), strides=(2, 1)), (2, 3, 6, 5, 2)),
    ("ConvLSTM2D", dict(filters=2, kernel_size=2, dilation_rate=2, go_backwards=True, return_sequences=True,
                        data_format="channels_first", unit_forget_bias=False), (2, 3, 2, 5, 5)),
    ("ConvLSTM3D", dict(filters=2, kernel_size=2, padding="same"), (1, 3, 3, 4, 3, 2)),
]
CASES += [
    ("AdaptiveAveragePooling1D", dict(output_size=3), (2, 7, 3)),
    ("AdaptiveMaxPooling1D", dict(output_size=4, data_format="channels_first"), (2, 3, 7)),
    ("AdaptiveAveragePooling2D", dict(output_size=(3, 2)), (2, 7, 5, 3)),
    ("AdaptiveMaxPooling2D", dict(output_size=3), (2, 8, 5, 2)),
    ("AdaptiveAveragePooling3D", dict(output_size=(2, 3, 2), data_format="channels_first"), (2, 2, 5, 7, 4)),
    ("AdaptiveMaxPooling3D", dict(output_size=2), (2, 5, 4, 3, 2)),
]
CASES += [
    ("UpSampling2D", dict(size=(2, 3), data_format="channels_first"), (2, 3, 2, 4)),
    ("ZeroPadding2D", dict(padding=((1, 2), (3, 0)), data_format="channels_first"), (2, 3, 2, 4)),
    ("Cropping2D", dict(cropping=((1, 0), (1, 2)), data_format="channels_first"), (2, 3, 5, 6)),
]
SKIP_KEYS = {"name", "dtype"}


def _plain(value):
    """Config values as JSON would give them (tuples as lists)."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


@pytest.mark.parametrize("name, kwargs, shape", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_layer_matches_keras_with_shared_weights(name, kwargs, shape):
    x = np.random.default_rng(0).standard_normal(shape).astype("float32")
    theirs = getattr(keras.layers, name)(**kwargs)
    expected = keras.ops.convert_to_numpy(theirs(x))
    ours = getattr(L, name)(**kwargs)
    ours.build(shape)
    assert [(w.name, tuple(w.shape)) for w in ours.weights] == [(w.name, tuple(w.shape)) for w in theirs.weights]
    ours.set_weights([keras.ops.convert_to_numpy(w) for w in theirs.weights])
    got = ours(x).numpy()
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    kc, oc = theirs.get_config(), ours.get_config()
    assert set(oc) == set(kc)
    for key in set(kc) - SKIP_KEYS:
        if not isinstance(kc[key], dict):
            assert _plain(oc[key]) == _plain(kc[key]), key


GQA_CASES = [
    (dict(head_dim=3, num_query_heads=4, num_key_value_heads=2), {}),
    (dict(head_dim=2, num_query_heads=3, num_key_value_heads=1, use_gate=True), {}),
    (dict(head_dim=2, num_query_heads=2, num_key_value_heads=2, sliding_window=2, use_bias=False),
     {"use_causal_mask": True}),
    (dict(head_dim=2, num_query_heads=4, num_key_value_heads=2),
     {"return_attention_scores": True, "attention_mask": np.tril(np.ones((2, 5, 5), bool))}),
    (dict(head_dim=2, num_query_heads=2, num_key_value_heads=1, sliding_window=3),
     # no query row left with nothing to attend: there tinydl gives zero weights, Keras uniform ones
     {"value_mask": np.array([[1, 1, 0, 1, 1], [1, 1, 1, 0, 0]], bool)}),
]


@pytest.mark.parametrize("kwargs, call", GQA_CASES, ids=range(len(GQA_CASES)))
def test_group_query_attention_matches_keras(kwargs, call):
    import tinydl as td
    rng = np.random.default_rng(0)
    q, v = rng.standard_normal((2, 5, 6)).astype("float32"), rng.standard_normal((2, 5, 6)).astype("float32")
    theirs, ours = keras.layers.GroupQueryAttention(**kwargs), L.GroupQueryAttention(**kwargs)
    expected = theirs(q, v, **call)
    ours(td.tensor(q), td.tensor(v), **call)
    assert [(w.name, tuple(w.shape)) for w in ours.weights] == [(w.name, tuple(w.shape)) for w in theirs.weights]
    ours.set_weights([keras.ops.convert_to_numpy(w) for w in theirs.weights])
    got = ours(td.tensor(q), td.tensor(v), **call)
    expected, got = (expected, got) if isinstance(got, tuple) else ((expected,), (got,))
    for a, b in zip(got, expected):
        np.testing.assert_allclose(a.numpy(), keras.ops.convert_to_numpy(b), rtol=1e-5, atol=1e-6)
    assert _unregistered(ours.get_config()) == _unregistered({**theirs.get_config(), "name": ours.name,
                                                              "dtype": ours.dtype})


def _unregistered(config):
    """A config without serialized objects' 'registered_name' (tinydl writes the class name, Keras None)."""
    if isinstance(config, dict):
        return {k: _unregistered(v) for k, v in config.items() if k != "registered_name"}
    return config


def test_pipeline_matches_keras_and_defaults_to_training():
    import tinydl as td
    x = np.random.default_rng(0).standard_normal((3, 4)).astype("float32")
    theirs = keras.layers.Pipeline([keras.layers.Dense(3), keras.layers.Dense(2, activation="tanh")])
    ours = L.Pipeline([L.Dense(3), L.Dense(2, activation="tanh")])
    expected = keras.ops.convert_to_numpy(theirs(x))
    ours(td.tensor(x))
    ours.set_weights([keras.ops.convert_to_numpy(w) for w in theirs.weights])
    np.testing.assert_allclose(ours(td.tensor(x)).numpy(), expected, rtol=1e-5, atol=1e-6)
    assert set(ours.get_config()) == set(theirs.get_config()) == {"layers", "name"}
    dropout = L.Pipeline([L.Dropout(0.5)])
    ones = td.tensor(np.ones((4, 50), "float32"))
    assert set(np.unique(dropout(ones).numpy())) == {0.0, 2.0}  # training=True unless told otherwise
    np.testing.assert_array_equal(dropout(ones, training=False).numpy(), ones.numpy())


@pytest.mark.parametrize("name, kwargs", [("add", {}), ("subtract", {}), ("multiply", {}), ("average", {}),
                                          ("maximum", {}), ("minimum", {}), ("concatenate", {"axis": 1}),
                                          ("dot", {"axes": (2, 2), "normalize": True})])
def test_merge_functions_match_keras(name, kwargs):
    import tinydl as td
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal((2, 3, 4)).astype("float32") for _ in range(2)]
    expected = keras.ops.convert_to_numpy(getattr(keras.layers, name)(arrays, **kwargs))
    got = getattr(L, name)([td.tensor(a) for a in arrays], **kwargs)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-5, atol=1e-6)
    a, b = L.Input((3, 4)), L.Input((3, 4))
    model = td.models.Model([a, b], getattr(L, name)([a, b], name="merged", **kwargs))
    assert model.get_layer("merged").name == "merged"  # the layer takes Keras's layer keyword arguments
    np.testing.assert_allclose(model(arrays).numpy(), expected, rtol=1e-5, atol=1e-6)
