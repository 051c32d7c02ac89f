"""Hostile and damaged files, faults while saving, and file system manners (issue 18, items 1-6)."""
import json
import os
import stat
import subprocess
import sys
import textwrap
import threading
import zipfile

import h5py
import numpy as np
import pytest

import tinydl as td
from tinydl.io.limits import DEFAULT_LIMITS, load_limits
from tinydl.layers import Dense, Input, Lambda
from tinydl.models import Model, Sequential, load_model

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def trained_mlp():
    """A compiled MLP after two Adam steps, so the files hold optimizer slots and an iteration count."""
    td.set_seed(0)
    model = Sequential([Input(shape=(4,)), Dense(8, activation="relu"), Dense(3, activation="softmax")], name="mlp")
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    model.fit(rng.standard_normal((8, 4)).astype("float32"), rng.integers(0, 3, 8), batch_size=4, epochs=1, verbose=0)
    return model


def state_of(model):
    """Everything a load restores: config, weights and optimizer variables, as comparable plain values."""
    opt = [np.asarray(v).tolist() for v in model.optimizer.variables()] if model.optimizer else []
    return json.dumps(model.get_config(), sort_keys=True), [w.tolist() for w in model.get_weights()], opt


# -- 1. safe_mode is per call ---------------------------------------------------------------------------
def test_a_trusted_unsafe_load_in_one_thread_never_lets_another_threads_load_run_code(tmp_path):
    inp = x = Input(shape=(3,))
    for _ in range(10):  # a longer unsafe load: more chances for the other thread to run inside it
        x = Lambda(lambda t: t * 2.0)(x)
    Model(inp, x).save(tmp_path / "trusted.keras")
    inp = x = Input(shape=(3,))
    for _ in range(20):  # a nested model built before the Lambda: the trusted load may begin meanwhile
        x = Dense(3)(x)
    inner, inp = Model(inp, x), Input(shape=(3,))
    hostile = Model(inp, Lambda(lambda t: (np.__dict__.setdefault("_tinydl_pwned", []).append(1), t)[1])(inner(inp)))
    hostile.save(tmp_path / "hostile.keras")
    np.__dict__.pop("_tinydl_pwned", None)  # the Lambda ran once while the model was built here
    outcomes = {"trusted_failures": 0, "hostile_loads": 0, "hostile_refusals": 0}

    def trusted():
        for _ in range(40):
            try:
                load_model(tmp_path / "trusted.keras", safe_mode=False)
            except ValueError:
                outcomes["trusted_failures"] += 1

    def attacker():
        for _ in range(40):
            try:
                load_model(tmp_path / "hostile.keras")
                outcomes["hostile_loads"] += 1
            except ValueError as e:
                assert "safe_mode=False" in str(e)
                outcomes["hostile_refusals"] += 1
    threads = [threading.Thread(target=trusted), threading.Thread(target=attacker)]
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # switch threads often, as a loaded machine would
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(previous)
        # Known, outside io: autograd's no_grad flag is process-wide, and symbolic layer calls (building a
        # loaded model) enter it, so two threads building models can leave recording off. Put it back here
        # so later tests are not affected; the fix belongs in autograd.py (a per-thread flag).
        td.enable_grad().__enter__()
    assert outcomes == {"trusted_failures": 0, "hostile_loads": 0, "hostile_refusals": 40}
    assert not hasattr(np, "_tinydl_pwned")


# -- 2. caps on what a file may ask for ------------------------------------------------------------------
def test_a_weights_file_declaring_a_huge_dataset_is_refused_before_reading_it(tmp_path):
    model = trained_mlp()
    path = tmp_path / "huge.weights.h5"
    model.save_weights(path)
    with h5py.File(path, "a") as f:  # 4e8 float32 elements declared (1.6 GB), a few bytes on disk
        del f.attrs["tinydl_sha256"]  # a hostile file carries no digest (as files from Keras)
        del f["layers/dense/vars/0"]
        f["layers/dense/vars"].create_dataset("0", shape=(400_000_000,), dtype="float32", chunks=(1 << 20,))
    assert os.path.getsize(path) < 100_000
    before = model.get_weights()
    with pytest.raises(ValueError, match=r"huge\.weights\.h5.*'/layers/dense/vars/0' declares shape \(400000000,\)"):
        model.load_weights(path)
    for a, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(a, b)


def test_a_zip_bomb_member_is_refused_whether_its_header_is_honest_or_lies(tmp_path):
    model = trained_mlp()
    model.save(tmp_path / "m.keras")
    with zipfile.ZipFile(tmp_path / "m.keras") as zf:
        config, metadata = zf.read("config.json"), zf.read("metadata.json")
    bomb = tmp_path / "bomb.keras"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("config.json", config)
        zf.writestr("metadata.json", metadata)
        zf.writestr("model.weights.h5", bytes(64 << 20))  # 64 MB of zeros: 64 kB deflated
    assert os.path.getsize(bomb) < 200_000
    with pytest.raises(ValueError, match=r"bomb\.keras.*model\.weights\.h5 declares 67108864 bytes, over the cap"):
        load_model(bomb)
    data = bytearray(bomb.read_bytes())  # now make the central directory claim 1000 bytes: still refused
    entry = data.rfind(b"PK\x01\x02", 0, data.rfind(b"model.weights.h5"))
    data[entry + 24:entry + 28] = (1000).to_bytes(4, "little")
    liar = tmp_path / "liar.keras"
    liar.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"liar\.keras: not a valid \.keras \(zip\) archive: Bad CRC-32"):
        load_model(liar)


def test_an_oversized_config_is_refused_and_the_cap_can_be_raised_for_one_load(tmp_path):
    model = trained_mlp()
    model.save(tmp_path / "m.keras")
    with zipfile.ZipFile(tmp_path / "m.keras") as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    config = json.loads(members["config.json"])
    config["padding"] = " " * DEFAULT_LIMITS["max_config_bytes"]  # 16 MB of JSON, 16 kB deflated
    with zipfile.ZipFile(tmp_path / "big.keras", "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, json.dumps(config) if name == "config.json" else data)
    with pytest.raises(ValueError, match=r"big\.keras.*config\.json declares \d+ bytes, over the cap of 16777216"):
        load_model(tmp_path / "big.keras")
    with load_limits(max_config_bytes=32 << 20):
        loaded = load_model(tmp_path / "big.keras")
    assert state_of(loaded) == state_of(model)
    model.save(tmp_path / "m.h5")  # the legacy layout's config attribute has the same cap
    with load_limits(max_config_bytes=100), pytest.raises(ValueError, match=r"m\.h5.*'model_config'.*over 100 bytes"):
        load_model(tmp_path / "m.h5")


def test_a_config_asking_for_billions_of_weights_is_refused_before_allocating(tmp_path):
    model = Sequential([Input(shape=(23,)), Dense(5)])
    model.save(tmp_path / "m.keras")
    with zipfile.ZipFile(tmp_path / "m.keras") as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    config = json.loads(members["config.json"])
    config["config"]["layers"][-1]["config"]["units"] = 50_000_000  # 1.15e9 weights, 4.6 GB
    with zipfile.ZipFile(tmp_path / "wide.keras", "w") as zf:
        for name, data in members.items():
            zf.writestr(name, json.dumps(config) if name == "config.json" else data)
    with pytest.raises(ValueError, match=r"wide\.keras.*more than 268435456 weight elements.*\(23, 50000000\)"):
        load_model(tmp_path / "wide.keras")
    with load_limits(max_weight_elements=100):  # and the cap applies to small models when lowered
        with pytest.raises(ValueError, match="more than 100 weight elements"):
            load_model(tmp_path / "m.keras")
    Sequential([Input(shape=(23,)), Dense(5)])  # building in code is never capped
    with load_limits(max_weight_elements=100):
        Sequential([Input(shape=(23,)), Dense(50)])


def test_load_limits_rejects_unknown_caps_and_bad_values():
    with pytest.raises(TypeError, match=r"unknown caps \['max_bytes'\]"):
        with load_limits(max_bytes=1):
            pass
    with pytest.raises(ValueError, match=r"max_config_bytes=\.\.\.\) expects a positive int, got -1"):
        with load_limits(max_config_bytes=-1):
            pass


# -- 3. integrity: bit flips never load silently ---------------------------------------------------------
def flip_and_load(original, path, offset, bit, loader):
    """Load a copy of `original` with one bit flipped: None when refused, else the loaded state."""
    data = bytearray(original)
    data[offset] ^= 1 << bit
    path.write_bytes(bytes(data))
    try:
        return loader(path)
    except (ValueError, OSError):
        return None


@pytest.mark.parametrize("suffix", [".h5", ".weights.h5"])
def test_300_random_single_bit_flips_never_load_silently(tmp_path, suffix):
    model = trained_mlp()
    source = tmp_path / f"m{suffix}"
    if suffix == ".h5":
        model.save(source)
        loader = lambda p: state_of(load_model(p))  # noqa: E731
    else:
        model.save_weights(source)
        target = trained_mlp()

        def loader(p):
            target.load_weights(p)
            return state_of(target)
    original, expected = source.read_bytes(), state_of(model)
    rng = np.random.default_rng(18)
    silent, refused = 0, 0
    for offset, bit in zip(rng.integers(0, len(original), 300), rng.integers(0, 8, 300)):
        result = flip_and_load(original, tmp_path / f"flip{suffix}", int(offset), int(bit), loader)
        if result is None:
            refused += 1
        elif suffix == ".h5" and result != expected:
            silent += 1
        elif suffix == ".weights.h5" and result[1] != expected[1]:
            silent += 1
    assert silent == 0
    assert refused > 30  # most flips land in metadata or data; the rest hit unused bytes


def test_targeted_flips_in_configs_and_unchecksummed_scalars_are_refused(tmp_path):
    model = trained_mlp()
    model.save(tmp_path / "m.h5")
    original = (tmp_path / "m.h5").read_bytes()
    with h5py.File(tmp_path / "m.h5") as f:
        scalar = f["optimizer_weights"][str(f["optimizer_weights"].attrs["weight_names"][0])]
        assert scalar.shape == () and scalar.id.get_offset() is not None
        iteration_offset = scalar.id.get_offset()
        kernels = []  # layer names depend on how many Dense layers earlier tests made
        f["model_weights"].visititems(lambda name, obj: kernels.append(obj) if name.endswith("kernel") else None)
        kernel = kernels[0]
        kernel_offset = kernel.id.get_chunk_info(0).byte_offset
    targets = {"relu -> selu": (original.index(b'"relu"') + 1, 0),   # 'r' (0x72) -> 's' (0x73)
               "optimizer iteration": (iteration_offset, 0),
               "kernel bytes": (kernel_offset + 5, 3)}
    for what, (offset, bit) in targets.items():
        assert flip_and_load(original, tmp_path / "flip.h5", offset, bit, load_model) is None, what


@pytest.mark.parametrize("chunks", [None, (2, 4)])
def test_a_dataset_without_stored_bytes_is_refused_even_without_digests(tmp_path, chunks):
    model = trained_mlp()
    path = tmp_path / "w.weights.h5"
    model.save_weights(path)
    with h5py.File(path, "a") as f:  # as a file from Keras would be: no digests, and a kernel never written
        del f.attrs["tinydl_sha256"]
        shape = f["layers/dense/vars/0"].shape
        del f["layers/dense/vars/0"]
        dataset = f["layers/dense/vars"].create_dataset("0", shape=shape, dtype="float32", chunks=chunks)
        if chunks:
            dataset[:2] = 1.0  # the first chunk row only
    with pytest.raises(ValueError, match=r"'/layers/dense/vars/0' has no data stored.*fill values"):
        trained_mlp().load_weights(path)


def test_a_mismatch_names_the_damaged_dataset(tmp_path):
    model = trained_mlp()
    model.save_weights(tmp_path / "w.weights.h5")
    with h5py.File(tmp_path / "w.weights.h5", "a") as f:  # rewritten through HDF5: Fletcher-32 cannot see it
        f["optimizer/vars/0"][()] = 7
    with pytest.raises(ValueError, match=r"w\.weights\.h5: integrity check failed for dataset '/optimizer/vars/0'"):
        trained_mlp().load_weights(tmp_path / "w.weights.h5")


# -- 4. disk full ----------------------------------------------------------------------------------------
DISK_FULL = textwrap.dedent("""
    import os, resource, sys
    import numpy as np
    import tinydl as td
    from tinydl.layers import Dense, Input
    from tinydl.models import Sequential
    folder = sys.argv[1]
    td.set_seed(0)
    model = Sequential([Input(shape=(64,)), Dense(256), Dense(256)])
    model.compile("adam", "mse")
    model.fit(np.ones((4, 64), "float32"), np.ones((4, 256), "float32"), verbose=0)
    old = {}
    for name in ("m.h5", "m.keras", "w.weights.h5", "w.h5"):
        path = os.path.join(folder, name)
        (model.save_weights if name.startswith("w") else model.save)(path)
        old[name] = open(path, "rb").read()
    resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))  # the files are 0.35-1 MB
    for name in ("m.h5", "m.keras", "w.weights.h5", "w.h5"):
        path = os.path.join(folder, name)
        try:
            (model.save_weights if name.startswith("w") else model.save)(path)
            print(name, "saved")
        except OSError as e:
            print(name, "OSError", e.errno)
        assert open(path, "rb").read() == old[name], name
    print("alive", sorted(os.listdir(folder)))
""")


def test_a_full_disk_during_save_is_an_oserror_and_keeps_the_old_file(tmp_path):
    result = subprocess.run([sys.executable, "-c", DISK_FULL, str(tmp_path)], capture_output=True, text=True,
                            timeout=120, env={**os.environ, "PYTHONPATH": REPO})
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.split("\n")
    for name in ("m.h5", "m.keras", "w.weights.h5", "w.h5"):
        assert f"{name} OSError 27" in lines  # EFBIG
    assert "alive ['m.h5', 'm.keras', 'w.h5', 'w.weights.h5']" in lines  # and no temporary file left


# -- 5. temporary files of killed saves ------------------------------------------------------------------
def test_the_next_save_removes_temporaries_of_dead_processes_only(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    stale = tmp_path / f".m.h5.tinydl-tmp-{dead_pid}-abc123"
    live = tmp_path / f".m.h5.tinydl-tmp-{os.getppid()}-def456"   # a running process: maybe saving now
    other = tmp_path / f".n.h5.tinydl-tmp-{dead_pid}-abc123"      # another target's: not ours to judge
    for p in (stale, live, other):
        p.write_bytes(b"x" * 1000)
    trained_mlp().save(tmp_path / "m.h5")
    assert sorted(os.listdir(tmp_path)) == sorted(["m.h5", live.name, other.name])


# -- 6. file modes and links -----------------------------------------------------------------------------
def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize("name", ["m.h5", "m.keras", "w.weights.h5"])
def test_saved_files_respect_the_umask_and_keep_an_existing_files_mode(tmp_path, name):
    model = trained_mlp()
    save = model.save_weights if name.startswith("w") else model.save
    old = os.umask(0o022)
    try:
        save(tmp_path / name)
        assert mode(tmp_path / name) == 0o644
        os.chmod(tmp_path / name, 0o640)
        save(tmp_path / name)
        assert mode(tmp_path / name) == 0o640
    finally:
        os.umask(old)


def test_a_read_only_file_is_refused_and_left_alone(tmp_path):
    model = trained_mlp()
    path = tmp_path / "m.h5"
    model.save(path)
    before = path.read_bytes()
    os.chmod(path, 0o444)
    with pytest.raises(PermissionError, match=r"m\.h5 is read-only \(mode 444\)"):
        model.save(path)
    assert path.read_bytes() == before and mode(path) == 0o444
    assert os.listdir(tmp_path) == ["m.h5"]


def test_saving_to_a_symlink_writes_its_target_and_keeps_the_link(tmp_path):
    model = trained_mlp()
    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "m.keras"
    target.write_bytes(b"old")
    link = tmp_path / "link.keras"
    link.symlink_to(target)
    model.save(link)
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert state_of(load_model(target)) == state_of(model)
    assert sorted(os.listdir(tmp_path)) == ["link.keras", "real"]


def test_a_layer_named_dot_is_a_clear_error_when_saving_hdf5(tmp_path):
    model = Sequential([Input(shape=(2,)), Dense(2, name=".")])
    with pytest.raises(ValueError, match=r"layer name '\.' cannot be an HDF5 group name"):
        model.save(tmp_path / "m.h5")
    assert os.listdir(tmp_path) == []
