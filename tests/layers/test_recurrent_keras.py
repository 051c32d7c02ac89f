"""The recurrent layers against Keras itself (Keras 3 on its torch backend, when both are installed):
the same weights give the same outputs for masks, go_backwards, return options, zero outputs for
masked steps, GRU's two bias layouts, Bidirectional's merge modes and initial states; configs have
Keras's keys. Skipped when keras or torch is missing (neither is a dependency of tinydl)."""
import os

import numpy as np
import pytest

pytest.importorskip("torch")
os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")
if keras.backend.backend() != "torch":
    pytest.skip("these comparisons run Keras on its torch backend", allow_module_level=True)

from tinydl import layers as L  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # keras's torch backend and NumPy 2

RNG = np.random.default_rng(0)
X = RNG.standard_normal((3, 6, 4)).astype("float32")
MASK = np.ones((3, 6), bool)
MASK[0, 4:] = False  # padding at the end
MASK[1, 2] = False  # a hole in the middle
MASK[2, 0] = False  # padding at the start


def _numpy(out):
    outs = out if isinstance(out, (list, tuple)) else [out]
    return [np.asarray(keras.ops.convert_to_numpy(o)) if not hasattr(o, "_ctx") else o.numpy() for o in outs]


def _same(keras_layer, ours, mask, **call):
    expected = keras_layer(X, mask=mask, **call) if mask is not None else keras_layer(X, **call)
    ours(X, **call)
    ours.set_weights([np.asarray(keras.ops.convert_to_numpy(w)) for w in keras_layer.weights])
    got = ours(X, mask=mask, **call)
    expected, got = _numpy(expected), _numpy(got)
    assert len(expected) == len(got)
    for a, b in zip(expected, got):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "SimpleRNN"])
@pytest.mark.parametrize("options", [{}, {"return_sequences": True, "return_state": True},
                                     {"go_backwards": True, "return_sequences": True},
                                     {"return_sequences": True, "zero_output_for_mask": True}],
                         ids=["last", "sequences+state", "backwards", "zero_output"])
@pytest.mark.parametrize("masked", [False, True], ids=["no mask", "mask"])
def test_same_outputs_as_keras(kind, options, masked):
    _same(getattr(keras.layers, kind)(3, **options), getattr(L, kind)(3, **options), MASK if masked else None)


@pytest.mark.parametrize("kind,options", [("GRU", {"reset_after": False, "return_sequences": True}),
                                          ("LSTM", {"activation": "relu", "recurrent_activation": "hard_sigmoid"}),
                                          ("SimpleRNN", {"activation": "relu", "go_backwards": True})])
def test_same_outputs_as_keras_for_other_variants(kind, options):
    _same(getattr(keras.layers, kind)(3, **options), getattr(L, kind)(3, **options), MASK)


@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave", None])
@pytest.mark.parametrize("options", [{}, {"return_sequences": True, "return_state": True}], ids=["last", "seq+state"])
def test_bidirectional_same_outputs_as_keras(merge_mode, options):
    _same(keras.layers.Bidirectional(keras.layers.LSTM(3, **options), merge_mode=merge_mode),
          L.Bidirectional(L.LSTM(3, **options), merge_mode=merge_mode), MASK)


def test_initial_state_same_as_keras():
    h0, c0 = RNG.standard_normal((3, 3)).astype("float32"), RNG.standard_normal((3, 3)).astype("float32")
    _same(keras.layers.LSTM(3, return_sequences=True), L.LSTM(3, return_sequences=True), None,
          initial_state=[h0, c0])


@pytest.mark.parametrize("make", [lambda m: m.LSTM(3), lambda m: m.GRU(3), lambda m: m.SimpleRNN(3),
                                  lambda m: m.Bidirectional(m.LSTM(3)), lambda m: m.Masking(),
                                  lambda m: m.TimeDistributed(m.Dense(2))],
                         ids=["LSTM", "GRU", "SimpleRNN", "Bidirectional", "Masking", "TimeDistributed"])
def test_config_keys_are_keras_keys(make):
    assert set(make(L).get_config()) == set(make(keras.layers).get_config())


def _models():
    import tinydl as td

    def ours():
        return td.models.Sequential([L.Input(shape=(5,), dtype="int64"), L.Embedding(10, 3, mask_zero=True),
                                     L.Bidirectional(L.LSTM(4, return_sequences=True)), L.GRU(3, reset_after=False),
                                     L.Dense(2)])

    def theirs():
        return keras.Sequential([keras.Input(shape=(5,), dtype="int64"), keras.layers.Embedding(10, 3, mask_zero=True),
                                 keras.layers.Bidirectional(keras.layers.LSTM(4, return_sequences=True)),
                                 keras.layers.GRU(3, reset_after=False), keras.layers.Dense(2)])
    return ours, theirs


@pytest.mark.parametrize("filename", ["m.weights.h5", "m.h5"])
def test_hdf5_files_move_between_keras_and_tinydl(tmp_path, filename):
    import tinydl as td
    ours, theirs = _models()
    ids = np.array([[3, 1, 4, 0, 0], [2, 7, 1, 8, 2]])
    mine = ours()
    mine(ids)
    path = str(tmp_path / filename)
    if filename.endswith(".weights.h5"):
        mine.save_weights(path)
        loaded = theirs()
        loaded.load_weights(path)
    else:
        mine.save(path)
        loaded = keras.models.load_model(path)
    np.testing.assert_allclose(_numpy(loaded(ids))[0], mine(ids).numpy(), rtol=1e-5, atol=1e-6)
    source = theirs()
    source(ids)
    back = str(tmp_path / ("k_" + filename))
    if filename.endswith(".weights.h5"):
        source.save_weights(back)
        again = ours()
        again(ids)
        again.load_weights(back)
    else:
        source.save(back)
        again = td.models.load_model(back)
    np.testing.assert_allclose(again(ids).numpy(), _numpy(source(ids))[0], rtol=1e-5, atol=1e-6)
