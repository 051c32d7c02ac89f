"""Keras 3 reads tinydl's files and tinydl reads Keras's, for .h5 and .keras, with the same predictions.

Runs against the real `keras` package with the torch backend (`pip install torch keras`); skipped when
keras is not installed. The same architecture is written once and built with either library's layers,
so every layer type both libraries have is covered by one of the two models below.
"""
import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

keras = pytest.importorskip("keras")
pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning"), pytest.mark.filterwarnings("ignore::UserWarning")]
if keras.backend.backend() != "torch":  # pragma: no cover - another backend was configured first
    pytest.skip("the interop tests run Keras with the torch backend", allow_module_level=True)

import tinydl as td  # noqa: E402
import tinydl.layers as tl  # noqa: E402
from tinydl.models import Model as TdModel, load_model  # noqa: E402


def image_model(L, Model):
    """Conv2D, BatchNormalization, MaxPooling2D, DepthwiseConv2D, SeparableConv2D, Conv2DTranspose,
    AveragePooling2D, UpSampling2D, ZeroPadding2D, Cropping2D, GlobalMaxPooling2D, Flatten, Dropout,
    Dense, Add, Concatenate, Reshape, Activation."""
    x = L.Input(shape=(8, 8, 2), name="image")
    a = L.Conv2D(4, 3, padding="same", activation="relu")(x)
    a = L.BatchNormalization()(a)
    a = L.MaxPooling2D(2)(a)
    b = L.DepthwiseConv2D(3, padding="same", depth_multiplier=2)(a)
    b = L.SeparableConv2D(4, 3, padding="same")(b)
    a = L.Add()([a, b])
    c = L.Conv2DTranspose(3, 3, strides=2, padding="same")(a)
    c = L.AveragePooling2D(2)(L.UpSampling2D(2)(c))
    c = L.Cropping2D(((1, 1), (1, 1)))(L.ZeroPadding2D(1)(c))
    flat = L.Flatten()(L.Dropout(0.3)(c))
    pooled = L.GlobalMaxPooling2D()(a)
    joined = L.Concatenate()([flat, pooled])
    h = L.Activation("tanh")(L.Dense(6)(joined))
    return Model(x, L.Dense(3, activation="softmax", name="probs")(L.Reshape((6,))(h)))


def sequence_model(L, Model):
    """Embedding, Conv1D, MaxPooling1D, SimpleRNN, LSTM, GRU, Bidirectional, MultiHeadAttention,
    LayerNormalization, GlobalAveragePooling1D, Permute, RepeatVector, Multiply, Subtract, Average,
    Maximum, Minimum, Dot, Cropping1D; two inputs, two outputs."""
    ids = L.Input(shape=(6,), dtype="int32", name="ids")
    extra = L.Input(shape=(4,), name="extra")
    e = L.Embedding(10, 4)(ids)
    c = L.MaxPooling1D(2)(L.Conv1D(4, 2, padding="same", activation="relu")(e))
    s = L.SimpleRNN(3, return_sequences=True)(e)
    s = L.LSTM(3, return_sequences=True)(s)
    g = L.GRU(3)(s)
    bi = L.Bidirectional(L.LSTM(2))(e)
    att = L.MultiHeadAttention(num_heads=2, key_dim=2)(e, e)
    att = L.GlobalAveragePooling1D()(L.LayerNormalization()(att))
    perm = L.GlobalAveragePooling1D()(L.Permute((2, 1))(L.Cropping1D((1, 0))(c)))
    rep = L.Flatten()(L.RepeatVector(2)(g))
    mixed = L.Multiply()([att, extra])
    diff = L.Subtract()([mixed, L.Dense(4)(bi)])
    stats = [L.Average()([diff, extra]), L.Maximum()([diff, extra]), L.Minimum()([diff, extra])]
    dot = L.Dot(axes=1)([diff, extra])
    joined = L.Concatenate()(stats + [dot, rep, perm, g])
    return Model([ids, extra], [L.Dense(2, name="value")(joined), L.Dense(3, activation="softmax",
                                                                             name="kind")(joined)])


def masked_model(L, Model):
    """Masking, masked LSTM, TimeDistributed, Attention, AdditiveAttention, AveragePooling1D,
    GlobalMaxPooling1D, GlobalAveragePooling2D, Identity; padded steps are all-zero."""
    x = L.Input(shape=(5, 3), name="steps")
    h = L.LSTM(4, return_sequences=True)(L.Masking(0.0)(x))
    h = L.TimeDistributed(L.Dense(4, activation="tanh"))(h)
    a = L.Attention(use_scale=True)([h, h])
    b = L.AdditiveAttention()([h, h])
    pooled = L.GlobalMaxPooling1D()(L.AveragePooling1D(2, padding="same")(L.Identity()(a)))
    grid = L.GlobalAveragePooling2D()(L.Reshape((5, 4, 1))(b))
    return Model(x, L.Dense(2, name="out")(L.Concatenate()([pooled, grid])))


MODELS = {"image": image_model, "sequence": sequence_model, "masked": masked_model}


def inputs_for(name, n=4):
    rng = np.random.default_rng(0)
    if name == "image":
        return rng.standard_normal((n, 8, 8, 2)).astype("float32")
    if name == "masked":
        x = rng.standard_normal((n, 5, 3)).astype("float32")
        x[0, 3:] = 0.0
        x[-1, 4:] = 0.0
        return x
    return [rng.integers(0, 10, size=(n, 6)).astype("int32"), rng.standard_normal((n, 4)).astype("float32")]


def targets_for(name, n=4):
    rng = np.random.default_rng(1)
    if name == "image":
        return np.eye(3, dtype="float32")[rng.integers(0, 3, n)]
    if name == "masked":
        return rng.standard_normal((n, 2)).astype("float32")
    return [rng.standard_normal((n, 2)).astype("float32"), np.eye(3, dtype="float32")[rng.integers(0, 3, n)]]


def as_list(out):
    return [np.asarray(o) for o in out] if isinstance(out, (list, tuple)) else [np.asarray(out)]


def assert_same(a, b):
    for x, y in zip(as_list(a), as_list(b)):
        np.testing.assert_allclose(x, y, rtol=1e-4, atol=1e-5)


def losses_for(name):
    return {"image": "categorical_crossentropy", "masked": "mean_squared_error"}.get(
        name, ["mean_squared_error", "categorical_crossentropy"])


@pytest.mark.parametrize("suffix", [".h5", ".keras"])
@pytest.mark.parametrize("name", sorted(MODELS))
def test_tinydl_file_loads_in_keras_and_predicts_the_same(name, suffix, tmp_path):
    td.set_seed(0)
    model = MODELS[name](tl, TdModel)
    model.compile(optimizer="adam", loss=losses_for(name))
    model.fit(inputs_for(name), targets_for(name), epochs=1, batch_size=2, verbose=0)
    path = str(tmp_path / f"m{suffix}")
    model.save(path)
    theirs = keras.models.load_model(path)
    x = inputs_for(name, 5)
    assert_same(theirs.predict(x, verbose=0), model.predict(x, verbose=0))
    assert int(theirs.optimizer.iterations) == model.optimizer.iterations == 2


@pytest.mark.parametrize("suffix", [".h5", ".keras"])
@pytest.mark.parametrize("name", sorted(MODELS))
def test_keras_file_loads_in_tinydl_and_predicts_the_same(name, suffix, tmp_path):
    keras.utils.set_random_seed(0)
    theirs = MODELS[name](keras.layers, keras.Model)
    theirs.compile(optimizer="adam", loss=losses_for(name))
    theirs.fit(inputs_for(name), targets_for(name), epochs=1, batch_size=2, verbose=0)
    path = str(tmp_path / f"k{suffix}")
    theirs.save(path)
    ours = load_model(path)
    x = inputs_for(name, 5)
    assert_same(ours.predict(x, verbose=0), theirs.predict(x, verbose=0))
    if suffix == ".h5":  # Keras's .h5 keeps the optimizer config and state
        assert type(ours.optimizer).__name__ == "Adam" and ours.optimizer.iterations == 2


@pytest.mark.parametrize("name", sorted(MODELS))
def test_weights_files_cross_both_ways(name, tmp_path):
    td.set_seed(0)
    ours = MODELS[name](tl, TdModel)
    theirs = MODELS[name](keras.layers, keras.Model)
    ours.save_weights(str(tmp_path / "ours.weights.h5"))
    theirs.load_weights(str(tmp_path / "ours.weights.h5"))
    x = inputs_for(name, 3)
    assert_same(theirs.predict(x, verbose=0), ours.predict(x, verbose=0))
    keras.utils.set_random_seed(1)
    theirs = MODELS[name](keras.layers, keras.Model)
    theirs.save_weights(str(tmp_path / "theirs.weights.h5"))
    ours.load_weights(str(tmp_path / "theirs.weights.h5"))
    assert_same(ours.predict(x, verbose=0), theirs.predict(x, verbose=0))


def nested_shared_model(L, Model, Sequential):
    """A Sequential tower used twice (shared) inside a functional model, plus a shared Dense."""
    tower = Sequential([L.Input(shape=(3,)), L.Dense(4, activation="relu")], name="tower")
    shared = L.Dense(2, name="shared")
    a, b = L.Input(shape=(3,), name="a"), L.Input(shape=(3,), name="b")
    return Model([a, b], L.Concatenate()([shared(tower(a)), shared(tower(b))]))


@pytest.mark.parametrize("suffix", [".h5", ".keras"])
def test_nested_and_shared_layers_cross_both_ways(suffix, tmp_path):
    from tinydl.models import Sequential as TdSequential
    x = [np.random.default_rng(i).standard_normal((4, 3)).astype("float32") for i in range(2)]
    td.set_seed(0)
    ours = nested_shared_model(tl, TdModel, TdSequential)
    ours.save(str(tmp_path / f"ours{suffix}"))
    assert_same(keras.models.load_model(str(tmp_path / f"ours{suffix}")).predict(x, verbose=0),
                ours.predict(x, verbose=0))
    keras.utils.set_random_seed(0)
    theirs = nested_shared_model(keras.layers, keras.Model, keras.Sequential)
    theirs.save(str(tmp_path / f"theirs{suffix}"))
    assert_same(load_model(str(tmp_path / f"theirs{suffix}")).predict(x, verbose=0), theirs.predict(x, verbose=0))
