"""Keras's downloadable data sets: small files in the real formats served from 127.0.0.1; tinydl downloads,
checks and reads them, and Keras's own load_data on the same files gives the same arrays."""
import gzip
import hashlib
import io
import os
import pickle
import tarfile

os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from tests.keras_api.local_server import LocalServer  # noqa: E402
from tinydl import datasets  # noqa: E402
from tinydl.datasets import remote  # noqa: E402

keras = pytest.importorskip("keras")
rng = np.random.default_rng(0)


def ragged(n, vocab=40):
    out = np.empty(n, dtype=object)
    out[:] = [rng.integers(0, vocab, rng.integers(1, 12)).tolist() for _ in range(n)]
    return out


def cifar_batch(n, label_key):
    return {b"data": rng.integers(0, 256, (n, 3072)).astype("uint8"),
            label_key.encode(): rng.integers(0, 10, n).tolist()}


def write_tar(path, members):
    with tarfile.open(path, "w:gz") as tar:
        for name, obj in members.items():
            data = pickle.dumps(obj)
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def idx(path, array, header):
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype("uint8").tobytes())


@pytest.fixture(scope="module")
def www(tmp_path_factory):
    root = tmp_path_factory.mktemp("www")
    np.savez(root / "mnist.npz", x_train=rng.integers(0, 256, (6, 28, 28)).astype("uint8"),
             y_train=np.arange(6, dtype="uint8"), x_test=rng.integers(0, 256, (3, 28, 28)).astype("uint8"),
             y_test=np.arange(3, dtype="uint8"))
    np.savez(root / "boston_housing.npz", x=rng.normal(size=(30, 13)), y=rng.normal(size=30))
    np.savez(root / "california_housing.npz", x=rng.normal(size=(700, 8)), y=rng.normal(size=700))
    np.savez(root / "imdb.npz", x_train=ragged(20), y_train=rng.integers(0, 2, 20), x_test=ragged(10),
             y_test=rng.integers(0, 2, 10))
    np.savez(root / "reuters.npz", x=ragged(25), y=rng.integers(0, 46, 25))
    (root / "imdb_word_index.json").write_text('{"the": 1, "movie": 2}')
    (root / "reuters_word_index.json").write_text('{"oil": 1}')
    write_tar(root / "cifar-10-python.tar.gz",
              {**{f"cifar-10-batches-py/data_batch_{i}": cifar_batch(4, "labels") for i in range(1, 6)},
               "cifar-10-batches-py/test_batch": cifar_batch(3, "labels")})
    fine_coarse = {b"data": rng.integers(0, 256, (5, 3072)).astype("uint8"), b"fine_labels": [1, 2, 3, 4, 5],
                   b"coarse_labels": [0, 1, 0, 1, 0]}
    write_tar(root / "cifar-100-python.tar.gz", {"cifar-100-python/train": fine_coarse,
                                                 "cifar-100-python/test": fine_coarse})
    for prefix, n in (("train", 5), ("t10k", 2)):
        idx(root / f"{prefix}-labels-idx1-ubyte.gz", rng.integers(0, 10, n), b"\0" * 8)
        idx(root / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28)), b"\0" * 16)
    with LocalServer(root) as server:
        yield server, root


@pytest.fixture
def sources(www, tmp_path, monkeypatch):
    """Point every source at the local server, with the served files' real checksums; cache in tmp."""
    server, root = www
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    for name, (origin, file_hash) in list(remote.SOURCES.items()):
        served = origin.rsplit("/", 1)[1]
        data = (root / served).read_bytes()
        digest = None if file_hash is None else (hashlib.md5(data).hexdigest() if len(file_hash) == 32
                                                 else hashlib.sha256(data).hexdigest())
        monkeypatch.setitem(remote.SOURCES, name, (server.url(served), digest))
    return server


def keras_reading(module, monkeypatch, path):
    """Make keras.datasets.<module> read `path` (our downloaded copy) instead of downloading."""
    mod = __import__(f"keras.src.datasets.{module}", fromlist=["get_file"])
    monkeypatch.setattr(mod, "get_file", lambda *a, **k: path)


def assert_same(ours, theirs):
    (xa, ya), (xb, yb) = ours
    (xc, yc), (xd, yd) = theirs
    for mine, keras_value in ((xa, xc), (ya, yc), (xb, xd), (yb, yd)):
        if np.asarray(mine).dtype == object:
            assert [list(s) for s in mine] == [list(s) for s in keras_value]
        else:
            np.testing.assert_array_equal(mine, keras_value)
            assert np.asarray(mine).dtype == np.asarray(keras_value).dtype


def test_mnist_and_the_cache(sources, monkeypatch, tmp_path):
    ours = datasets.mnist.load_data()
    cached = str(tmp_path / "keras_home" / "datasets" / "mnist.npz")
    assert os.path.exists(cached) and sources.requests.count("/mnist.npz") == 1
    datasets.mnist.load_data()
    assert sources.requests.count("/mnist.npz") == 1  # second load from the cache
    keras_reading("mnist", monkeypatch, cached)
    assert_same(ours, keras.datasets.mnist.load_data())


@pytest.mark.parametrize("kwargs", [{}, {"test_split": 0.5, "seed": 3}])
def test_boston_housing(sources, monkeypatch, tmp_path, kwargs):
    ours = datasets.boston_housing.load_data(**kwargs)
    keras_reading("boston_housing", monkeypatch, str(tmp_path / "keras_home" / "datasets" / "boston_housing.npz"))
    assert_same(ours, keras.datasets.boston_housing.load_data(**kwargs))


@pytest.mark.parametrize("version", ["large", "small"])
def test_california_housing(sources, monkeypatch, tmp_path, version):
    ours = datasets.california_housing.load_data(version=version)
    keras_reading("california_housing", monkeypatch,
                  str(tmp_path / "keras_home" / "datasets" / "california_housing.npz"))
    assert_same(ours, keras.datasets.california_housing.load_data(version=version))
    assert len(ours[0][0]) + len(ours[1][0]) == (600 if version == "small" else 700)


@pytest.mark.parametrize("kwargs", [{}, {"num_words": 20, "skip_top": 4, "maxlen": 10, "seed": 5},
                                    {"start_char": None, "oov_char": None, "index_from": 0, "num_words": 30}])
@pytest.mark.parametrize("name", ["imdb", "reuters"])
def test_text_sets(sources, monkeypatch, tmp_path, name, kwargs):
    ours = getattr(datasets, name).load_data(**kwargs)
    keras_reading(name, monkeypatch, str(tmp_path / "keras_home" / "datasets" / f"{name}.npz"))
    assert_same(ours, getattr(keras.datasets, name).load_data(**kwargs))


def test_imdb_word_index(sources):
    assert datasets.imdb.get_word_index() == {"the": 1, "movie": 2}


def test_cifar10(sources, tmp_path):
    """Keras's cifar10 writes into 10,000-row slots per batch file, so the small files are compared file by
    file with Keras's reader, and load_data with their concatenation."""
    from keras.src.datasets.cifar import load_batch
    (x_train, y_train), (x_test, y_test) = datasets.cifar10.load_data()
    folder = tmp_path / "keras_home" / "datasets" / "cifar-10-batches-py-target" / "cifar-10-batches-py"
    parts = [load_batch(str(folder / f"data_batch_{i}")) for i in range(1, 6)]
    np.testing.assert_array_equal(x_train, np.concatenate([x for x, _ in parts]).transpose(0, 2, 3, 1))
    np.testing.assert_array_equal(y_train, np.concatenate([y for _, y in parts]).reshape(-1, 1))
    x, y = load_batch(str(folder / "test_batch"))
    np.testing.assert_array_equal(x_test, x.transpose(0, 2, 3, 1))
    np.testing.assert_array_equal(y_test, np.reshape(y, (-1, 1)))
    assert x_train.shape == (20, 32, 32, 3) and x_train.dtype == np.uint8 and y_train.dtype == np.uint8


@pytest.mark.parametrize("label_mode", ["fine", "coarse"])
def test_cifar100(sources, monkeypatch, tmp_path, label_mode):
    ours = datasets.cifar100.load_data(label_mode)
    keras_reading("cifar100", monkeypatch, str(tmp_path / "keras_home" / "datasets" / "cifar-100-python-target"))
    assert_same(ours, keras.datasets.cifar100.load_data(label_mode))


def test_fashion_mnist(sources, monkeypatch, tmp_path):
    ours = datasets.fashion_mnist.load_data()
    folder = tmp_path / "keras_home" / "datasets" / "fashion-mnist"
    monkeypatch.setattr("keras.src.datasets.fashion_mnist.get_file", lambda fname, **k: str(folder / fname))
    assert_same(ours, keras.datasets.fashion_mnist.load_data())
    assert ours[0][0].shape == (5, 28, 28)


def test_a_corrupted_download_is_refused(sources, monkeypatch):
    origin, _ = remote.SOURCES["mnist.npz"]
    monkeypatch.setitem(remote.SOURCES, "mnist.npz", (origin, "f" * 64))
    with pytest.raises(ValueError, match="hash does not match"):
        datasets.mnist.load_data()


def test_offline_error_names_the_url(monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setitem(remote.SOURCES, "mnist.npz", ("http://127.0.0.1:9/mnist.npz", None))
    with pytest.raises(OSError, match="http://127.0.0.1:9/mnist.npz"):
        datasets.mnist.load_data()


def test_pickled_code_in_a_data_file_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))
    bad = np.empty(1, dtype=object)
    bad[0] = Evil()
    np.savez(tmp_path / "bad.npz", x=bad)
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        remote.load_npz(tmp_path / "bad.npz")


def test_reuters_label_names_are_keras_topics_in_label_order():
    assert datasets.reuters.get_label_names() == keras.datasets.reuters.get_label_names()
    assert len(datasets.reuters.get_label_names()) == 46


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist", "cifar10", "cifar100", "imdb", "reuters",
                                  "boston_housing", "california_housing"])
def test_every_public_function_of_keras_dataset_modules_exists(name):
    keras_names = {n for n in dir(getattr(keras.datasets, name)) if not n.startswith("_")}
    missing = sorted(n for n in keras_names if not callable(getattr(getattr(datasets, name), n, None)))
    assert not missing, f"tinydl.datasets.{name} lacks {missing}"
