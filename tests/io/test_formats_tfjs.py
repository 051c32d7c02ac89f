"""TF.js layers format (issue 21 item 3): `model.export(dir, format="tfjs")` is loaded by the real
@tensorflow/tfjs (installed from npm into a cache folder this test controls) in Node, and its `predict` matches
tinydl's for a dense, a conv, an LSTM and a dot-product attention model and for every example model that
tfjs-layers has classes for; the others are refused naming the missing classes."""
import fcntl
import importlib
import json
import os
import shutil
import subprocess

import numpy as np
import pytest

import tinydl as td
from tinydl.io.tfjs import TFJS_LAYERS
from tinydl.layers import LSTM, Activation, Conv2D, Dense, Dot, Flatten, Input, MaxPooling2D, MultiHeadAttention
from tinydl.models import Model, Sequential
from tests.io.example_models import example_inputs, example_names

TFJS_VERSION = "4.22.0"
HERE = os.path.dirname(os.path.abspath(__file__))
# npm install of @tensorflow/tfjs (pure JavaScript, no native build): ~20 s once, then cached here
CACHE = os.environ.get("TINYDL_TFJS_CACHE", os.path.expanduser(f"~/.cache/tinydl-tests/tfjs-{TFJS_VERSION}"))

# Example models with layers tfjs-layers has no class for, and those classes.
NO_TFJS_FORM = {
    "bert": ["Cropping1D", "TokenAndPositionEmbedding", "TransformerEncoder"],
    "gpt": ["TokenAndPositionEmbedding", "TransformerDecoder"],
    "t5": ["TokenAndPositionEmbedding", "TransformerDecoder", "TransformerEncoder"],
    "gnn_node": ["GCNConv"],
    "gnn_graph": ["GINConv", "GlobalMaxPool", "GlobalMeanPool"],
    "siamese": ["Subtract"],
}


def tfjs_folder():
    """node_modules with @tensorflow/tfjs, installed on first use; skip when node/npm or the registry is missing."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("Node.js and npm are needed to run TF.js")
    marker = os.path.join(CACHE, "node_modules", "@tensorflow", "tfjs", "package.json")
    os.makedirs(CACHE, exist_ok=True)
    with open(os.path.join(CACHE, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # pytest-xdist workers install once between them
        if not os.path.exists(marker):
            done = subprocess.run(["npm", "install", "--prefix", CACHE, "--no-audit", "--no-fund",
                                   f"@tensorflow/tfjs@{TFJS_VERSION}"], capture_output=True, text=True, timeout=600)
            if done.returncode != 0:
                pytest.skip(f"npm could not install @tensorflow/tfjs: {done.stderr[-500:]}")
    return os.path.join(CACHE, "node_modules")


def run_tfjs(jobs, tmp_path):
    """Predictions of TF.js for each (folder, input arrays), through tests/io/tfjs_predict.js."""
    modules = tfjs_folder()
    spec = [{"folder": str(folder), "inputs": [{"shape": list(a.shape), "data": a.ravel().tolist(),
                                                 "dtype": "int32" if a.dtype.kind in "iu" else "float32"}
                                                for a in arrays]} for folder, arrays in jobs]
    (tmp_path / "jobs.json").write_text(json.dumps(spec))
    done = subprocess.run(["node", os.path.join(HERE, "tfjs_predict.js"), str(tmp_path / "jobs.json")],
                          capture_output=True, text=True, timeout=300, env={**os.environ, "NODE_PATH": modules})
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


def assert_matches(result, expected, rtol=1e-4, atol=1e-5):
    assert "error" not in result, result.get("error")
    assert len(result["outputs"]) == len(expected)
    for got, want in zip(result["outputs"], expected):
        assert tuple(got["shape"]) == want.shape
        np.testing.assert_allclose(np.array(got["data"], dtype="float32").reshape(want.shape), want,
                                   rtol=rtol, atol=atol)


def dense_model():
    return Sequential([Input(shape=(6,)), Dense(8, activation="relu"), Dense(3, activation="softmax")])


def conv_model():
    return Sequential([Input(shape=(8, 8, 2)), Conv2D(4, 3, padding="same", activation="relu"), MaxPooling2D(2),
                       Conv2D(3, 2, strides=2), Flatten(), Dense(2)])


def lstm_model():
    inp = Input(shape=(7, 3))
    return Model(inp, Dense(2)(LSTM(5, return_sequences=True)(inp)))


def attention_model():
    """Dot-product self-attention from layers tfjs-layers has: softmax(q k^T) v."""
    inp = Input(shape=(5, 4))
    q, k, v = Dense(4, name="q")(inp), Dense(4, name="k")(inp), Dense(4, name="v")(inp)
    weights = Activation("softmax")(Dot(axes=2)([q, k]))
    return Model(inp, Dense(2)(Dot(axes=(2, 1))([weights, v])))


def mixed_model():
    """Wrappers, a GRU and batch normalization."""
    from tinydl.layers import GRU, BatchNormalization, Bidirectional, GlobalAveragePooling1D, TimeDistributed
    inp = Input(shape=(6, 4))
    x = Bidirectional(GRU(3, return_sequences=True, reset_after=False))(TimeDistributed(Dense(4))(inp))
    return Model(inp, Dense(2)(BatchNormalization()(Dense(5)(GlobalAveragePooling1D()(x)))))


BUILT = {"dense": dense_model, "conv": conv_model, "lstm": lstm_model, "attention": attention_model,
         "mixed": mixed_model}


@pytest.fixture(scope="module")
def tfjs_results(tmp_path_factory):
    """Every exportable model exported and run in one Node process (TF.js takes ~1 s to start)."""
    tmp = tmp_path_factory.mktemp("tfjs")
    rng = np.random.default_rng(0)
    models = {f"built:{name}": make for name, make in BUILT.items()}
    models.update({f"example:{name}": importlib.import_module(f"tinydl.examples.{name}").build_model
                   for name in example_names() if name not in NO_TFJS_FORM})
    jobs, expected = [], {}
    for key, make in models.items():
        td.set_seed(0)
        model = make()
        arrays = example_inputs(model, rng)
        folder = tmp / key.replace(":", "_")
        model.export(folder, format="tfjs")
        jobs.append((folder, arrays))
        outputs = model.predict(arrays if len(arrays) > 1 else arrays[0], verbose=0)
        expected[key] = [np.asarray(o) for o in (outputs if isinstance(outputs, (list, tuple)) else [outputs])]
    results = run_tfjs(jobs, tmp)
    return {key: (result, expected[key]) for key, result in zip(models, results)}


@pytest.mark.parametrize("name", sorted(BUILT))
def test_tfjs_predict_matches_tinydl(name, tfjs_results):
    assert_matches(*tfjs_results[f"built:{name}"])


@pytest.mark.parametrize("name", [n for n in example_names() if n not in NO_TFJS_FORM])
def test_every_example_model_with_a_tfjs_form_predicts_the_same_in_tfjs(name, tfjs_results):
    assert_matches(*tfjs_results[f"example:{name}"])


@pytest.mark.parametrize("name", sorted(NO_TFJS_FORM))
def test_example_models_with_layers_tfjs_lacks_are_refused_naming_them(name, tmp_path):
    model = importlib.import_module(f"tinydl.examples.{name}").build_model()
    with pytest.raises(ValueError, match="tfjs-layers has no layer class") as info:
        model.export(tmp_path / "m", format="tfjs")
    assert str(NO_TFJS_FORM[name]) in str(info.value)
    assert not set(NO_TFJS_FORM[name]) & TFJS_LAYERS
    assert not (tmp_path / "m").exists()


def test_a_gru_with_reset_after_which_tfjs_lacks_is_refused_naming_it():
    from tinydl.layers import GRU
    model = Sequential([Input(shape=(4, 2)), GRU(3, name="my_gru")])
    with pytest.raises(ValueError, match="GRU 'my_gru' has reset_after=True"):
        model.export("unused", format="tfjs")


def test_a_model_nested_in_another_is_refused_naming_it():
    head = Sequential([Input(shape=(6,)), Dense(2)], name="head")
    inp = Input(shape=(6,))
    with pytest.raises(ValueError, match="model 'head' is nested in another model"):
        Model(inp, head(Dense(6)(inp))).export("unused", format="tfjs")


def test_multi_head_attention_has_no_tfjs_form():
    inp = Input(shape=(4, 8))
    model = Model(inp, MultiHeadAttention(2, 4)(inp, inp))
    with pytest.raises(ValueError, match=r"\['MultiHeadAttention'\]"):
        model.export("unused", format="tfjs")


def test_model_json_holds_keras_topology_and_a_weights_manifest_over_shards(tmp_path):
    model = conv_model()
    model.export(tmp_path / "m", format="tfjs", shard_bytes=256)
    doc = json.loads((tmp_path / "m" / "model.json").read_text())
    assert doc["format"] == "layers-model"
    topology = doc["modelTopology"]["model_config"]
    assert topology["class_name"] == "Sequential"
    assert topology["config"]["layers"][0]["config"]["batch_input_shape"] == [None, 8, 8, 2]
    (group,) = doc["weightsManifest"]
    total = sum(w.numpy().nbytes for w in model.weights)
    assert len(group["paths"]) == -(-total // 256)
    assert sum(os.path.getsize(tmp_path / "m" / p) for p in group["paths"]) == total
    assert [w["name"] for w in group["weights"]] == [w.path for w in model.weights]
    data = b"".join((tmp_path / "m" / p).read_bytes() for p in group["paths"])
    np.testing.assert_array_equal(np.frombuffer(data[:model.weights[0].numpy().nbytes], "<f4"),
                                  model.weights[0].numpy().ravel())


def test_sharded_weights_load_in_tfjs(tmp_path):
    td.set_seed(1)
    model = conv_model()
    x = np.random.default_rng(1).standard_normal((2, 8, 8, 2)).astype("float32")
    model.export(tmp_path / "m", format="tfjs", shard_bytes=100)
    (result,) = run_tfjs([(tmp_path / "m", [x])], tmp_path)
    assert_matches(result, [model.predict(x, verbose=0)])


@pytest.mark.parametrize("damage", ["truncate_shard", "bad_json", "wrong_shape"])
def test_damaged_tfjs_files_are_refused_by_tfjs_with_an_error(damage, tmp_path):
    model = dense_model()
    model.export(tmp_path / "m", format="tfjs")
    doc_path = tmp_path / "m" / "model.json"
    if damage == "truncate_shard":
        shard = tmp_path / "m" / "group1-shard1of1.bin"
        shard.write_bytes(shard.read_bytes()[:-8])
    elif damage == "bad_json":
        doc_path.write_text(doc_path.read_text()[:-20])
    else:
        doc = json.loads(doc_path.read_text())
        doc["weightsManifest"][0]["weights"][0]["shape"] = [6, 9]
        doc_path.write_text(json.dumps(doc))
    (result,) = run_tfjs([(tmp_path / "m", [np.ones((1, 6), "float32")])], tmp_path)
    assert result["error"]


@pytest.mark.parametrize("shard_bytes", [0, -1, 2.5, "4MB"])
def test_a_bad_shard_size_is_refused(shard_bytes, tmp_path):
    with pytest.raises(ValueError, match="shard_bytes"):
        dense_model().export(tmp_path / "m", format="tfjs", shard_bytes=shard_bytes)
