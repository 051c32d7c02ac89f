"""Saving and loading: legacy .h5, Keras 3 .weights.h5 and .keras round trips, exact resume, damaged files."""
import json
import os
import subprocess
import sys
import textwrap
import zipfile

import h5py
import numpy as np
import pytest

import tinydl as td
from tinydl.layers import BatchNormalization, Concatenate, Dense, Dropout, Input, Lambda
from tinydl.models import Model, Sequential, load_model

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def mlp():
    td.set_seed(0)
    return Sequential([Input(shape=(4,)), Dense(8, activation="relu"), BatchNormalization(), Dropout(0.2),
                       Dense(3, activation="softmax")], name="mlp")


def two_in_two_out():
    """Functional: two inputs, a nested Sequential shared by both, a shared Dense, two outputs."""
    td.set_seed(1)
    a, b = Input(shape=(3,), name="a"), Input(shape=(3,), name="b")
    tower = Sequential([Input(shape=(3,)), Dense(5, activation="tanh")], name="tower")
    shared = Dense(4, name="shared")
    ha, hb = shared(tower(a)), shared(tower(b))
    joined = Concatenate(name="joined")([ha, hb])
    return Model([a, b], [Dense(1, name="score")(joined), Dense(2, activation="softmax", name="label")(joined)])


def data(n=12):
    rng = np.random.default_rng(0)
    return rng.standard_normal((n, 4)).astype("float32"), rng.integers(0, 3, n)


def predict(model, x):
    out = model.predict(x, verbose=0)
    return out if isinstance(out, list) else [out]


@pytest.mark.parametrize("suffix", [".h5", ".keras"])
def test_sequential_round_trip_keeps_config_weights_and_compile_state(tmp_path, suffix):
    model = mlp()
    model.compile(optimizer=td.optimizers.Adam(learning_rate=0.01), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    x, y = data()
    model.fit(x, y, epochs=2, batch_size=4, verbose=0)
    model.save(tmp_path / f"m{suffix}")
    clone = load_model(tmp_path / f"m{suffix}")
    assert type(clone) is Sequential and [l.name for l in clone.layers] == [l.name for l in model.layers]
    for w, v in zip(model.get_weights(), clone.get_weights()):
        np.testing.assert_array_equal(w, v)
    np.testing.assert_array_equal(predict(model, x)[0], predict(clone, x)[0])
    assert type(clone.optimizer) is td.optimizers.Adam and clone.optimizer.learning_rate == 0.01
    assert clone.optimizer.iterations == model.optimizer.iterations == 6
    for name in ("momentum", "velocity"):
        for s, t in zip(model.optimizer.get_state()["slots"][name], clone.optimizer.get_state()["slots"][name]):
            np.testing.assert_array_equal(s, t)


@pytest.mark.parametrize("suffix", [".h5", ".keras"])
def test_functional_multi_io_nested_and_shared_layers_round_trip(tmp_path, suffix):
    model = two_in_two_out()
    xs = [np.random.default_rng(2).standard_normal((5, 3)).astype("float32") for _ in range(2)]
    model.save(tmp_path / f"f{suffix}")
    clone = load_model(tmp_path / f"f{suffix}")
    assert clone.input_names == ["a", "b"] and len(clone.outputs) == 2
    assert len(clone.weights) == len(model.weights) == 8  # shared layers hold their weights once
    for a, b in zip(predict(model, xs), predict(clone, xs)):
        np.testing.assert_array_equal(a, b)


def test_legacy_h5_layout_is_keras_s(tmp_path):
    model = mlp()
    model.compile(optimizer="adam", loss="mse")
    x, y = data()
    model.fit(x, np.eye(3, dtype="float32")[y], epochs=1, verbose=0)
    model.save(tmp_path / "m.h5")
    with h5py.File(tmp_path / "m.h5") as f:
        assert {"model_config", "training_config", "keras_version", "backend"} <= set(f.attrs)
        config = json.loads(f.attrs["model_config"])
        assert config["class_name"] == "Sequential"
        assert json.loads(f.attrs["training_config"])["loss"] == "mean_squared_error"  # Keras 3 rejects "mse"
        names = [n.decode() if isinstance(n, bytes) else n for n in f["model_weights"].attrs["layer_names"]]
        assert names == [l.name for l in model.layers]
        dense = model.layers[0].name
        assert f[f"model_weights/{dense}/{dense}/kernel"].shape == (4, 8)
        assert list(f[f"model_weights/{dense}"].attrs["weight_names"]) == [f"{dense}/kernel", f"{dense}/bias"]
        bn = model.layers[1].name
        assert [n.split("/")[-1] for n in f[f"model_weights/{bn}"].attrs["weight_names"]] == [
            "gamma", "beta", "moving_mean", "moving_variance"]
        assert "optimizer_weights" in f


def test_weights_files_in_both_layouts_load_into_a_fresh_model(tmp_path):
    model = mlp()
    x, _ = data()
    model.save_weights(tmp_path / "w.weights.h5")
    model.save_weights(tmp_path / "w.h5")
    with h5py.File(tmp_path / "w.weights.h5") as f:
        assert f["layers/dense/vars/0"].shape == (4, 8) and f["layers/dense_1/vars/1"].shape == (3,)
        assert f["layers/batch_normalization/vars"].attrs["name"] == model.layers[1].name
    model.save(tmp_path / "whole.keras")
    model.save(tmp_path / "whole.h5")
    for path in ("w.weights.h5", "w.h5", "whole.keras", "whole.h5"):
        td.set_seed(7)
        fresh = Sequential([Input(shape=(4,)), Dense(8, activation="relu"), BatchNormalization(), Dropout(0.2),
                            Dense(3, activation="softmax")])
        fresh.load_weights(tmp_path / path)
        np.testing.assert_array_equal(predict(fresh, x)[0], predict(model, x)[0])


def test_load_weights_by_name_and_skip_mismatch(tmp_path):
    td.set_seed(0)
    source = Sequential([Input(shape=(4,)), Dense(3, name="keep"), Dense(2, name="other")])
    source.save_weights(tmp_path / "w.h5")
    target = Sequential([Input(shape=(4,)), Dense(3, name="keep"), Dense(5, name="other")])
    with pytest.raises(ValueError, match="shape"):
        target.load_weights(tmp_path / "w.h5")
    with pytest.warns(UserWarning, match="skipped"):
        target.load_weights(tmp_path / "w.h5", by_name=True, skip_mismatch=True)
    np.testing.assert_array_equal(target.get_layer("keep").get_weights()[0], source.get_layer("keep").get_weights()[0])


def test_long_weight_name_lists_are_split_over_several_attributes(tmp_path):
    layers = [Input(shape=(2,))] + [Dense(2, name="d" * 4000 + f"_{i}") for i in range(20)]  # 80 kB of names
    model = Sequential(layers)
    model.save(tmp_path / "big.h5")
    with h5py.File(tmp_path / "big.h5") as f:
        attrs = f["model_weights"].attrs
        assert "layer_names" not in attrs and "layer_names0" in attrs and "layer_names1" in attrs
    x = np.ones((2, 2), "float32")
    np.testing.assert_array_equal(predict(load_model(tmp_path / "big.h5"), x)[0], predict(model, x)[0])


def test_lambda_layers_load_only_with_safe_mode_off(tmp_path):
    inp = Input(shape=(3,))
    model = Model(inp, Dense(2)(Lambda(lambda t: t * 2.0)(inp)))
    model.save(tmp_path / "lam.h5")
    with pytest.raises(ValueError, match="safe_mode=False"):
        load_model(tmp_path / "lam.h5")
    x = np.ones((2, 3), "float32")
    np.testing.assert_allclose(predict(load_model(tmp_path / "lam.h5", safe_mode=False), x)[0], predict(model, x)[0])


def test_saving_is_atomic_a_failed_save_leaves_the_old_file(tmp_path, monkeypatch):
    model = mlp()
    path = tmp_path / "m.h5"
    model.save(path)
    before = path.read_bytes()
    from tinydl.io import hdf5

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")
    monkeypatch.setattr(hdf5, "_write_legacy_weights", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        model.save(path)
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["m.h5"]  # no temporary file left behind


def test_clear_errors_for_missing_wrong_format_and_weights_only_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothere.h5"):
        load_model(tmp_path / "nothere.h5")
    (tmp_path / "text.h5").write_text("this is not HDF5")
    with pytest.raises(OSError, match="text.h5.*not a readable HDF5"):
        load_model(tmp_path / "text.h5")
    mlp().save_weights(tmp_path / "w.weights.h5")
    with pytest.raises(ValueError, match="weights-only"):
        load_model(tmp_path / "w.weights.h5")
    with pytest.raises(ValueError, match="save_weights"):
        mlp().save(tmp_path / "x.weights.h5")
    other = Sequential([Input(shape=(4,)), Dense(2)])
    with pytest.raises(ValueError, match="w.weights.h5"):
        other.load_weights(tmp_path / "w.weights.h5")


@pytest.mark.parametrize("suffix", [".h5", ".keras"])
def test_fuzzed_files_raise_clear_errors_or_load_a_whole_model(tmp_path, suffix):
    """Flipped and truncated bytes: load_model raises ValueError/OSError naming the file, or returns a model
    that runs (a flip inside a name, say, can be harmless); never another exception, never half a model."""
    model = mlp()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(*data(), epochs=1, verbose=0)
    good = tmp_path / f"good{suffix}"
    model.save(good)
    raw = good.read_bytes()
    rng = np.random.default_rng(0)
    x = data()[0]
    outcomes = {"error": 0, "loaded": 0}
    for trial in range(40):
        damaged = bytearray(raw)
        if trial % 2:
            damaged = damaged[:int(rng.integers(0, len(raw)))]
        else:
            for pos in rng.integers(0, len(raw), size=4):
                damaged[pos] ^= 1 << int(rng.integers(0, 8))
        path = tmp_path / f"bad{trial}{suffix}"
        path.write_bytes(bytes(damaged))
        try:
            clone = load_model(path)
        except (ValueError, OSError) as e:
            assert path.name in str(e), e
            outcomes["error"] += 1
            continue
        assert isinstance(clone, Model) and len(clone.weights) == len(model.weights)
        assert predict(clone, x)[0].shape == (12, 3)
        outcomes["loaded"] += 1
    assert outcomes["error"] >= 20  # every truncation at least


def test_fuzzed_weights_files_raise_clear_errors_and_leave_the_model_usable(tmp_path):
    model = mlp()
    good = tmp_path / "good.weights.h5"
    model.save_weights(good)
    raw = good.read_bytes()
    rng = np.random.default_rng(1)
    td.set_seed(9)
    target = Sequential([Input(shape=(4,)), Dense(8, activation="relu"), BatchNormalization(), Dropout(0.2),
                         Dense(3, activation="softmax")])
    errors = 0
    for trial in range(30):
        damaged = bytearray(raw)
        if trial % 2:
            damaged = damaged[:int(rng.integers(0, len(raw)))]
        else:
            for pos in rng.integers(0, len(raw), size=4):
                damaged[pos] ^= 1 << int(rng.integers(0, 8))
        path = tmp_path / f"bad{trial}.weights.h5"
        path.write_bytes(bytes(damaged))
        before = target.get_weights()
        try:
            target.load_weights(path)
        except (ValueError, OSError) as e:
            assert path.name in str(e), e
            for w, v in zip(before, target.get_weights()):  # all or nothing: a failed load changes no weight
                np.testing.assert_array_equal(w, v)
            errors += 1
    assert errors >= 15
    assert predict(target, data()[0])[0].shape == (12, 3)


RESUME = textwrap.dedent("""
    import sys, numpy as np
    sys.path.insert(0, {repo!r})
    import tinydl as td
    from tinydl.models import load_model
    x, y = np.load({data!r} + "/x.npy"), np.load({data!r} + "/y.npy")
    model = load_model({path!r})
    model.fit(x, y, epochs=4, initial_epoch=2, batch_size=8, shuffle=False, verbose=0)
    np.save({data!r} + "/resumed.npy", np.concatenate([w.ravel() for w in model.get_weights()]))
""")


def _resume_model():
    td.set_seed(3)
    model = Sequential([Input(shape=(4,)), Dense(16, activation="tanh"), BatchNormalization(),
                        Dense(3, activation="softmax")])
    model.compile(optimizer=td.optimizers.Adam(learning_rate=0.01), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


@pytest.mark.parametrize("suffix", [".h5", ".keras"])
def test_load_then_fit_in_a_fresh_process_resumes_exactly(tmp_path, suffix):
    x, y = data(40)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    straight = _resume_model()
    straight.fit(x, y, epochs=4, batch_size=8, shuffle=False, verbose=0)
    first = _resume_model()
    first.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    first.save(tmp_path / f"half{suffix}")
    script = RESUME.format(repo=REPO, data=str(tmp_path), path=str(tmp_path / f"half{suffix}"))
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)
    resumed = np.load(tmp_path / "resumed.npy")
    expected = np.concatenate([w.ravel() for w in straight.get_weights()])
    np.testing.assert_array_equal(resumed, expected)


def test_keras_archive_holds_config_metadata_and_weights(tmp_path):
    model = mlp()
    model.compile(optimizer="sgd", loss="mse")
    model.save(tmp_path / "m.keras")
    with zipfile.ZipFile(tmp_path / "m.keras") as zf:
        assert set(zf.namelist()) == {"config.json", "metadata.json", "model.weights.h5"}
        config = json.loads(zf.read("config.json"))
        assert config["class_name"] == "Sequential" and "compile_config" in config
        assert "keras_version" in json.loads(zf.read("metadata.json"))


class Subclassed(Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dense = Dense(2)

    def call(self, inputs, training=None):
        return self.dense(inputs)


def test_subclassed_models_save_weights_but_not_their_architecture(tmp_path):
    model = Subclassed()
    x = np.ones((2, 3), "float32")
    expected = predict(model, x)[0]
    with pytest.raises(ValueError, match="save_weights"):
        model.save(tmp_path / "sub.h5")
    model.save_weights(tmp_path / "sub.weights.h5")
    fresh = Subclassed()
    fresh(x)
    fresh.load_weights(tmp_path / "sub.weights.h5")
    np.testing.assert_array_equal(predict(fresh, x)[0], expected)


def test_keras3_weights_by_name_and_no_silent_overwrite(tmp_path):
    td.set_seed(0)
    source = Sequential([Input(shape=(4,)), Dense(3, name="first"), Dense(2, name="second")])
    source.save_weights(tmp_path / "w.weights.h5")
    target = Sequential([Input(shape=(4,)), Dense(3, name="first"), Dense(7, name="third")])
    target.load_weights(tmp_path / "w.weights.h5", by_name=True)
    np.testing.assert_array_equal(target.get_layer("first").get_weights()[0], source.get_layer("first").get_weights()[0])
    source.save(tmp_path / "m.h5")
    with pytest.raises(FileExistsError, match="overwrite=False"):
        source.save(tmp_path / "m.h5", overwrite=False)
