"""safetensors weights and the Hugging Face folder layout (issue 21 item 1), read back by the real
`safetensors` package (its NumPy and PyTorch loaders), and damaged files refused by tinydl's reader."""
import json
import os

import numpy as np
import pytest

import tinydl as td
from tinydl.io.safetensors import decode, encode
from tinydl.layers import LSTM, Conv2D, Dense, Flatten, Input
from tinydl.models import Model, Sequential, from_pretrained

safetensors_numpy = pytest.importorskip("safetensors.numpy")


def small_model(seed=0):
    """A model with dense, recurrent and conv weights under distinct Keras paths."""
    td.set_seed(seed)
    image, seq = Input(shape=(6, 6, 2)), Input(shape=(5, 3))
    a = Flatten()(Conv2D(3, 3, activation="relu")(image))
    b = LSTM(4)(seq)
    out = Dense(2)(td.layers.Concatenate()([a, b]))
    return Model([image, seq], out, name="two_branch")


def inputs():
    rng = np.random.default_rng(1)
    return [rng.standard_normal((3, 6, 6, 2)).astype("float32"), rng.standard_normal((3, 5, 3)).astype("float32")]


def test_save_weights_writes_keras_paths_that_the_safetensors_package_reads_as_the_same_arrays(tmp_path):
    model = small_model()
    model.save_weights(tmp_path / "w.safetensors")
    got = safetensors_numpy.load_file(str(tmp_path / "w.safetensors"))
    expected = {w.path: w.numpy() for w in model.weights}
    assert set(got) == set(expected)
    conv, lstm, dense = (next(l for l in model.layers if isinstance(l, kind)) for kind in (Conv2D, LSTM, Dense))
    assert {f"{conv.name}/kernel", f"{lstm.name}/lstm_cell/recurrent_kernel", f"{dense.name}/bias"} <= set(got)
    for name, value in expected.items():
        assert got[name].dtype == np.float32
        np.testing.assert_array_equal(got[name], value)


def test_the_pytorch_loader_reads_the_same_tensors(tmp_path):
    torch_loader = pytest.importorskip("safetensors.torch")
    model = small_model()
    model.save_weights(tmp_path / "w.safetensors")
    got = torch_loader.load_file(str(tmp_path / "w.safetensors"))
    for w in model.weights:
        np.testing.assert_array_equal(got[w.path].numpy(), w.numpy())


def test_load_weights_reads_a_file_written_by_the_safetensors_package_by_name(tmp_path):
    target = small_model(seed=7)
    # C order: the package writes a Fortran-ordered array's memory as if it were C order
    arrays = {w.path: np.ascontiguousarray(w.numpy() * 2 + 1) for w in target.weights}
    safetensors_numpy.save_file(arrays, str(tmp_path / "theirs.safetensors"))
    target.load_weights(tmp_path / "theirs.safetensors")
    for w in target.weights:
        np.testing.assert_array_equal(w.numpy(), arrays[w.path])


def test_round_trip_into_the_same_architecture_with_other_automatic_layer_names(tmp_path):
    model, other = small_model(seed=0), small_model(seed=3)
    assert {w.path for w in model.weights}.isdisjoint(w.path for w in other.weights)  # conv2d vs conv2d_1
    model.save_weights(tmp_path / "w.safetensors")
    assert not np.allclose(model.predict(inputs(), verbose=0), other.predict(inputs(), verbose=0))
    with pytest.raises(ValueError, match="the model has no weights named"):  # by_name: names must match
        other.load_weights(tmp_path / "w.safetensors", by_name=True)
    other.load_weights(tmp_path / "w.safetensors")
    np.testing.assert_array_equal(model.predict(inputs(), verbose=0), other.predict(inputs(), verbose=0))


def test_a_file_for_another_model_is_refused_naming_the_missing_and_unknown_weights(tmp_path):
    small_model().save_weights(tmp_path / "w.safetensors")
    other = Sequential([Input(shape=(3,)), Dense(2, name="head")])
    before = other.get_weights()
    with pytest.raises(ValueError, match=r"head/kernel.*weights are matched by path"):
        other.load_weights(tmp_path / "w.safetensors")
    for a, b in zip(before, other.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_a_wrong_shape_is_refused_and_skip_mismatch_skips_it_with_a_warning(tmp_path):
    model = Sequential([Input(shape=(3,)), Dense(2, name="a"), Dense(4, name="b")])
    arrays = {"a/kernel": np.ones((3, 2), "float32"), "a/bias": np.ones(2, "float32"),
              "b/kernel": np.ones((2, 5), "float32"), "b/bias": np.ones(5, "float32")}
    safetensors_numpy.save_file(arrays, str(tmp_path / "w.safetensors"))
    with pytest.raises(ValueError, match=r"shapes differ for \['b/bias', 'b/kernel'\]"):
        model.load_weights(tmp_path / "w.safetensors")
    with pytest.warns(UserWarning, match="skipped"):
        model.load_weights(tmp_path / "w.safetensors", skip_mismatch=True)
    np.testing.assert_array_equal(model.get_weights()[0], np.ones((3, 2)))
    assert not np.array_equal(model.get_weights()[2], np.ones((2, 4)))


def test_float64_and_integer_arrays_keep_their_dtype_through_encode_and_the_package(tmp_path):
    arrays = {"f64": np.arange(6, dtype="float64").reshape(2, 3), "i32": np.array([-1, 2], "int32"),
              "u8": np.array([255], "uint8"), "flag": np.array([True, False]), "scalar": np.float32(2.5)}
    path = tmp_path / "mixed.safetensors"
    path.write_bytes(encode(arrays))
    theirs = safetensors_numpy.load_file(str(path))
    ours, _ = decode(path.read_bytes())
    for name, value in arrays.items():
        for got in (theirs[name], ours[name]):
            assert got.dtype == np.asarray(value).dtype and got.shape == np.shape(value)
            np.testing.assert_array_equal(got, value)


# -- the Hugging Face folder -------------------------------------------------------------------------
def test_save_pretrained_writes_config_json_and_model_safetensors_and_from_pretrained_rebuilds(tmp_path):
    model = small_model()
    model.save_pretrained(tmp_path / "hf")
    assert sorted(os.listdir(tmp_path / "hf")) == ["config.json", "model.safetensors"]
    config = json.loads((tmp_path / "hf" / "config.json").read_text())
    assert config["class_name"] == "Functional" and config["config"]["name"] == "two_branch"
    clone = from_pretrained(tmp_path / "hf")
    np.testing.assert_array_equal(clone.predict(inputs(), verbose=0), model.predict(inputs(), verbose=0))


def test_above_max_shard_size_the_weights_are_sharded_with_an_index_the_package_can_follow(tmp_path):
    model = small_model()
    model.save_pretrained(tmp_path / "hf", max_shard_size=300)  # bytes: a few weights per shard
    names = sorted(os.listdir(tmp_path / "hf"))
    shards = [n for n in names if n.startswith("model-")]
    assert len(shards) >= 3 and all(n.endswith(f"-of-{len(shards):05d}.safetensors") for n in shards)
    index = json.loads((tmp_path / "hf" / "model.safetensors.index.json").read_text())
    assert index["metadata"]["total_size"] == sum(w.numpy().nbytes for w in model.weights)
    assert set(index["weight_map"]) == {w.path for w in model.weights}
    for w in model.weights:  # each name is in the shard the index says, as the package reads it
        shard = safetensors_numpy.load_file(str(tmp_path / "hf" / index["weight_map"][w.path]))
        np.testing.assert_array_equal(shard[w.path], w.numpy())
    clone = from_pretrained(tmp_path / "hf")
    np.testing.assert_array_equal(clone.predict(inputs(), verbose=0), model.predict(inputs(), verbose=0))


def test_saving_again_unsharded_removes_the_old_shards_and_index(tmp_path):
    model = small_model()
    model.save_pretrained(tmp_path / "hf", max_shard_size="300B")
    model.save_pretrained(tmp_path / "hf")
    assert sorted(os.listdir(tmp_path / "hf")) == ["config.json", "model.safetensors"]


@pytest.mark.parametrize("size, expected", [(1000, 1000), ("5GB", 5 * 10 ** 9), ("10MiB", 10 << 20), ("2kb", 2000)])
def test_max_shard_size_is_bytes_or_a_hugging_face_size_string(size, expected):
    from tinydl.io.safetensors import _parse_size
    assert _parse_size(size) == expected


@pytest.mark.parametrize("size", [0, -5, "lots", "5TB", True])
def test_a_bad_max_shard_size_is_refused_naming_the_argument(size, tmp_path):
    with pytest.raises(ValueError, match="max_shard_size"):
        small_model().save_pretrained(tmp_path / "hf", max_shard_size=size)


def test_from_pretrained_of_a_missing_folder_or_config_says_what_it_expected(tmp_path):
    with pytest.raises(FileNotFoundError, match="config.json"):
        from_pretrained(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="config.json"):
        from_pretrained(tmp_path / "empty")


def test_an_index_pointing_outside_the_folder_is_refused(tmp_path):
    small_model().save_pretrained(tmp_path / "hf", max_shard_size=300)
    index_path = tmp_path / "hf" / "model.safetensors.index.json"
    index = json.loads(index_path.read_text())
    index["weight_map"]["dense/bias"] = "../../etc/passwd"
    index_path.write_text(json.dumps(index))
    with pytest.raises(ValueError, match="weight_map must map names to files named"):
        from_pretrained(tmp_path / "hf")


def test_shards_larger_in_total_than_the_model_can_take_are_refused_before_reading(tmp_path):
    small_model().save_pretrained(tmp_path / "hf", max_shard_size=300)
    for shard in sorted((tmp_path / "hf").glob("model-*.safetensors"))[:2]:  # each alone under the cap
        shard.write_bytes(shard.read_bytes() + b" " * 700_000)
    with pytest.raises(ValueError, match=r"index.json: the shards hold \d+ bytes, more than the model"):
        from_pretrained(tmp_path / "hf")


def test_a_lambda_in_config_json_is_refused_in_safe_mode(tmp_path):
    inp = Input(shape=(2,))
    Model(inp, td.layers.Lambda(lambda t: t * 3.0)(inp)).save_pretrained(tmp_path / "hf")
    with pytest.raises(ValueError, match="safe_mode"):
        from_pretrained(tmp_path / "hf")
    model = from_pretrained(tmp_path / "hf", safe_mode=False)
    np.testing.assert_allclose(model.predict(np.ones((1, 2), "float32"), verbose=0), [[3.0, 3.0]])


# -- damaged files --------------------------------------------------------------------------------------
def _saved(tmp_path):
    model = Sequential([Input(shape=(4,)), Dense(3, name="a"), Dense(2, name="b")])
    model.save_weights(tmp_path / "w.safetensors")
    return model, (tmp_path / "w.safetensors").read_bytes()


def _header_with(tmp_path, edit):
    """A valid tinydl file whose header JSON was changed by `edit(header dict)`, digest removed."""
    _, data = _saved(tmp_path)
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + n])
    header["__metadata__"].pop("tinydl_sha256")
    edit(header)
    raw = json.dumps(header).encode()
    return len(raw).to_bytes(8, "little") + raw + data[8 + n:]


@pytest.mark.parametrize("edit, message", [
    (lambda h: h["a/bias"].update(dtype="BF16"), "BF16 has no NumPy dtype"),
    (lambda h: h["a/bias"].update(dtype="F8_E4M3"), "tinydl reads"),
    (lambda h: h["a/bias"].update(shape=[-3]), "has shape"),
    (lambda h: h["a/bias"].update(shape=[4]), "needs 16 bytes, its offsets span 12"),
    (lambda h: h["a/bias"].update(shape=[1 << 39, 1 << 39, 1 << 39, 8]), "needs .* bytes, its offsets span 12"),
    (lambda h: h["a/bias"].update(shape=[1] * 40), "has shape"),
    (lambda h: h["a/kernel"].update(data_offsets=[0, 48]), "must tile the data"),
    (lambda h: h["a/bias"].update(data_offsets=[12, 8]), "data_offsets"),
    (lambda h: h["a/bias"].update(code="__import__('os')"), "exactly dtype, shape and data_offsets"),
    (lambda h: h.update(__metadata__={"x": 1}), "strings to strings"),
])
def test_a_damaged_header_is_a_value_error_naming_the_problem(tmp_path, edit, message):
    with pytest.raises(ValueError, match=message):
        decode(_header_with(tmp_path, edit), "w.safetensors")


@pytest.mark.parametrize("data, message", [
    (b"", "only 0 bytes"), (b"\xff" * 8 + b"{}", "header length"), ((4).to_bytes(8, "little") + b"[1] ", "JSON object"),
    ((2).to_bytes(8, "little") + b"\xff\xfe", "not JSON"),
])
def test_garbage_is_a_value_error(data, message):
    with pytest.raises(ValueError, match=message):
        decode(data, "w.safetensors")


def test_model_save_to_a_safetensors_name_points_to_save_weights_and_save_pretrained(tmp_path):
    model, _ = _saved(tmp_path)
    with pytest.raises(ValueError, match=r"save_weights\('w.safetensors'\).*save_pretrained"):
        model.save(tmp_path / "m.safetensors")


def test_a_truncated_file_is_refused_and_the_weights_are_left_alone(tmp_path):
    model, data = _saved(tmp_path)
    before = model.get_weights()
    (tmp_path / "cut.safetensors").write_bytes(data[:-5])
    with pytest.raises(ValueError, match="cut.safetensors.*truncated or padded"):
        model.load_weights(tmp_path / "cut.safetensors")
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_three_hundred_random_bit_flips_are_each_refused_or_load_exactly_the_saved_weights(tmp_path):
    model, data = _saved(tmp_path)
    saved = model.get_weights()
    rng = np.random.default_rng(0)
    refused = 0
    for trial in range(300):
        damaged = bytearray(data)
        bit = int(rng.integers(0, len(data) * 8))
        damaged[bit // 8] ^= 1 << (bit % 8)
        path = tmp_path / "flip.safetensors"
        path.write_bytes(bytes(damaged))
        target = Sequential([Input(shape=(4,)), Dense(3, name="a"), Dense(2, name="b")])
        before = target.get_weights()
        try:
            target.load_weights(path)
        except (ValueError, OSError) as e:
            assert "flip.safetensors" in str(e) or isinstance(e, OSError)
            refused += 1
            for a, b in zip(before, target.get_weights()):
                np.testing.assert_array_equal(a, b)
            continue
        for a, b in zip(saved, target.get_weights()):  # a flip in the header's padding or a harmless spot
            np.testing.assert_array_equal(a, b)
    assert refused > 250


def test_loading_never_runs_code_the_reader_uses_no_pickle(tmp_path, monkeypatch):
    import pickle
    model, data = _saved(tmp_path)

    def forbidden(*args, **kwargs):
        raise AssertionError("pickle used while reading safetensors")
    monkeypatch.setattr(pickle, "loads", forbidden)
    monkeypatch.setattr(pickle, "load", forbidden)
    monkeypatch.setattr(np, "load", forbidden)
    model.load_weights(tmp_path / "w.safetensors")
