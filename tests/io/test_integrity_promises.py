"""Every integrity promise of docs/saving_and_export.md, tested by breaking it.

- "arrays carry Fletcher-32 checksums, so flipped bytes are found on load": one byte of every saved array is
  flipped, one array at a time, in every file layout; the load must raise "corrupted" naming the file.
- "A damaged, truncated or wrong-format file raises OSError/ValueError naming the file".
- "Saves are atomic": a save that fails half-way leaves the old file as it was and no temporary file.
- "Lambda layers load only with safe_mode=False", in both model formats.
"""
import io
import os
import zipfile

import h5py
import numpy as np
import pytest

import tinydl as td
from tinydl.layers import BatchNormalization, Dense, Input, Lambda
from tinydl.models import Model, Sequential, load_model

X = np.random.default_rng(0).standard_normal((8, 4)).astype("float32")
Y = np.random.default_rng(1).standard_normal((8, 3)).astype("float32")


def trained_model():
    """Dense -> BatchNormalization -> Dense, one epoch of Adam (so every slot and statistic is saved)."""
    td.set_seed(0)
    model = Sequential([Input(shape=(4,)), Dense(5), BatchNormalization(), Dense(3)])
    model.compile(optimizer="adam", loss="mean_squared_error")
    model.fit(X, Y, epochs=1, batch_size=4, verbose=0)
    return model


def weights_only(filename):
    """Files named `w.*` or `*.weights.h5` hold weights only (save_weights); the others whole models."""
    return filename.startswith("w.") or filename.endswith(".weights.h5")


def save(model, path):
    if weights_only(path.name):
        model.save_weights(path)
    else:
        model.save(path)


def load(path, weights=None):
    """What a user calls to read `path` back: load_model, or load_weights into a fresh twin (optimizer built)."""
    if weights if weights is not None else weights_only(path.name):
        twin = trained_model()
        twin.load_weights(path)
        return twin
    return load_model(path)


def array_offsets(path):
    """{dataset name: (file offset of its stored bytes, stored size)} for every non-empty array in an HDF5 file."""
    offsets = {}
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset) and obj.size:
                if obj.chunks:
                    info = obj.id.get_chunk_info(0)
                    offsets[name] = (info.byte_offset, info.size)
                else:
                    offsets[name] = (obj.id.get_offset(), obj.id.get_storage_size())
        f.visititems(visit)
    return offsets


def flip_byte(raw, offset, size):
    """A copy of `raw` with one bit flipped in the middle of [offset, offset + size)."""
    damaged = bytearray(raw)
    damaged[offset + size // 2] ^= 0x10
    return bytes(damaged)


def is_scalar(path, name):
    with h5py.File(path, "r") as f:
        return f[name].ndim == 0


LAYOUTS = ["m.h5", "w.weights.h5", "w.h5"]


@pytest.mark.parametrize("filename", LAYOUTS)
def test_a_flipped_byte_in_any_saved_array_raises_corrupted_naming_the_file(filename, tmp_path):
    model = trained_model()
    good = tmp_path / filename
    save(model, good)
    raw = good.read_bytes()
    # load_weights reads no optimizer state, so only the model's arrays can matter there
    offsets = {name: where for name, where in array_offsets(good).items()
               if not is_scalar(good, name) and not (weights_only(filename) and name.startswith("optimizer/"))}
    assert len(offsets) >= 8  # kernels, biases, gamma, beta, moving statistics (and slots for the full files)
    silent = []
    for name, (offset, size) in offsets.items():
        bad = tmp_path / f"bad-{filename}"
        bad.write_bytes(flip_byte(raw, offset, size))
        try:
            load(bad, weights_only(filename))
        except ValueError as e:
            assert "corrupted" in str(e) and bad.name in str(e), e
            continue
        silent.append(name)
    assert not silent, f"a flipped byte in these arrays loaded silently: {silent}"


@pytest.mark.parametrize("filename", ["m.h5", "w.weights.h5"])
def test_a_flipped_byte_in_a_saved_scalar_raises_corrupted(filename, tmp_path):
    model = trained_model()
    good = tmp_path / filename
    save(model, good)
    raw = good.read_bytes()
    scalars = {name: where for name, where in array_offsets(good).items() if is_scalar(good, name)}
    assert scalars
    for name, (offset, size) in scalars.items():
        bad = tmp_path / f"bad-{filename}"
        bad.write_bytes(flip_byte(raw, offset, size))
        with pytest.raises(ValueError, match="corrupted"):
            load(bad, weights_only(filename))


def test_a_flipped_byte_in_the_weights_of_a_keras_archive_raises_corrupted(tmp_path):
    """The .keras zip is rebuilt around the damaged weights file, so only the HDF5 checksums can see the flip."""
    model = trained_model()
    good = tmp_path / "m.keras"
    model.save(good)
    with zipfile.ZipFile(good) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    inner = tmp_path / "inner.weights.h5"
    inner.write_bytes(members["model.weights.h5"])
    offsets = array_offsets(inner)
    assert len(offsets) >= 8
    for name, (offset, size) in offsets.items():
        if is_scalar(inner, name):
            continue
        bad = tmp_path / "bad.keras"
        with zipfile.ZipFile(bad, "w") as archive:
            for member, data in members.items():
                archive.writestr(member, flip_byte(data, offset, size) if member == "model.weights.h5" else data)
        with pytest.raises(ValueError, match="corrupted") as error:
            load_model(bad)
        assert "bad.keras" in str(error.value), (name, error.value)


@pytest.mark.parametrize("filename", LAYOUTS + ["m.keras"])
def test_every_truncation_raises_oserror_or_valueerror_naming_the_file(filename, tmp_path):
    model = trained_model()
    good = tmp_path / filename
    save(model, good)
    raw = good.read_bytes()
    for fraction in (0.0, 0.1, 0.3, 0.5, 0.7, 0.9, 0.99):
        bad = tmp_path / f"cut-{filename}"
        bad.write_bytes(raw[:int(fraction * len(raw))])
        with pytest.raises((OSError, ValueError)) as error:
            load(bad, weights_only(filename))
        assert bad.name in str(error.value), (fraction, error.value)


def zip_without_config(model, tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("metadata.json", "{}")
    return buffer.getvalue()


@pytest.mark.parametrize("filename, make_bytes", [
    ("empty.h5", lambda model, tmp_path: b""),
    ("text.h5", lambda model, tmp_path: b"this is not HDF5\n" * 100),
    ("text.keras", lambda model, tmp_path: b"not a zip archive"),
    ("noconfig.keras", zip_without_config),
    ("text.weights.h5", lambda model, tmp_path: b"\x89HDF\r\n\x1a\n" + b"\0" * 100),
], ids=lambda v: v if isinstance(v, str) else "")
def test_a_wrong_format_file_raises_oserror_or_valueerror_naming_the_file(filename, make_bytes, tmp_path):
    model = trained_model()
    path = tmp_path / filename
    path.write_bytes(make_bytes(model, tmp_path))
    with pytest.raises((OSError, ValueError)) as error:
        load(path)
    assert filename in str(error.value), error.value


class DiskFull(Exception):
    """Raised by the sabotaged writer."""


@pytest.mark.parametrize("saved_as, named", [("real.keras", "zip.h5"), ("real.h5", "h5.keras")])
def test_a_file_with_the_other_suffix_loads_by_its_contents(saved_as, named, tmp_path):
    """The documented rule ("found from the contents") rather than a format error: same weights, same outputs."""
    model = trained_model()
    model.save(tmp_path / saved_as)
    os.replace(tmp_path / saved_as, tmp_path / named)
    clone = load_model(tmp_path / named)
    for a, b in zip(model.get_weights(), clone.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(clone.predict(X, verbose=0), model.predict(X, verbose=0), rtol=1e-6)


@pytest.mark.parametrize("filename", LAYOUTS + ["m.keras"])
def test_a_save_that_fails_half_way_leaves_the_old_file_and_no_temporary(filename, tmp_path, monkeypatch):
    """The writer dies after its third array; the target keeps its old bytes and the folder holds nothing new."""
    model = trained_model()
    path = tmp_path / filename
    save(model, path)
    before = path.read_bytes()
    model.fit(X, Y, epochs=1, verbose=0)  # the next save would write different numbers
    calls = {"n": 0}
    create_dataset = h5py.Group.create_dataset

    def dies_on_the_third(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise DiskFull("no space left")
        return create_dataset(self, *args, **kwargs)
    monkeypatch.setattr(h5py.Group, "create_dataset", dies_on_the_third)
    with pytest.raises(DiskFull):
        save(model, path)
    assert calls["n"] == 3
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == [filename]


@pytest.mark.parametrize("filename", LAYOUTS + ["m.keras"])
def test_a_first_save_that_fails_leaves_no_file_at_all(filename, tmp_path, monkeypatch):
    model = trained_model()

    def dies(self, *args, **kwargs):
        raise DiskFull("no space left")
    monkeypatch.setattr(h5py.Group, "create_dataset", dies)
    with pytest.raises(DiskFull):
        save(model, tmp_path / filename)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("suffix", [".h5", ".keras"])
def test_lambda_layers_load_only_with_safe_mode_off(suffix, tmp_path):
    inp = Input(shape=(3,))
    model = Model(inp, Dense(2)(Lambda(lambda t: t * 2.0 + 1.0)(inp)))
    path = tmp_path / f"lambda{suffix}"
    model.save(path)
    with pytest.raises(ValueError, match="safe_mode=False"):
        load_model(path)
    x = np.arange(6, dtype="float32").reshape(2, 3)
    kernel, bias = model.layers[-1].get_weights()
    expected = (x * 2.0 + 1.0) @ kernel + bias  # NumPy reference of the whole model
    np.testing.assert_allclose(load_model(path, safe_mode=False).predict(x, verbose=0), expected, rtol=1e-5)
