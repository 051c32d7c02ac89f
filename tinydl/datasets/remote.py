"""Downloaded data sets: where Keras publishes them, their checksums, and safe readers of their formats.

Files are fetched once with `tinydl.utils.get_file` into `~/.keras/datasets` (or $KERAS_HOME), the
same cache Keras uses, and checked against the published SHA-256 (MD5 for the word indexes). Without
a network the error names the URL, so the file can be fetched by hand into the cache.
"""
import io
import pickle
import zipfile

import numpy as np

from tinydl.datasets.download import get_file

__all__ = ["SOURCES", "fetch", "load_npz", "RestrictedUnpickler", "split_shuffled", "offset_words", "drop_long",
           "limit_vocabulary", "ragged"]

KERAS_BUCKET = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
TORONTO = "https://www.cs.toronto.edu/~kriz/"

# name -> (origin URL, file hash): Keras 3.15's published locations and checksums
SOURCES = {
    "mnist.npz": (KERAS_BUCKET + "mnist.npz", "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"),
    "boston_housing.npz": (KERAS_BUCKET + "boston_housing.npz",
                           "f553886a1f8d56431e820c5b82552d9d95cfcb96d1e678153f8839538947dff5"),
    "california_housing.npz": (KERAS_BUCKET + "california_housing.npz",
                               "1a2e3a52e0398de6463aebe6f4a8da34fb21fbb6b934cf88c3425e766f2a1a6f"),
    "imdb.npz": (KERAS_BUCKET + "imdb.npz", "69664113be75683a8fe16e3ed0ab59fda8886cb3cd7ada244f7d9544e4676b9f"),
    "imdb_word_index.json": (KERAS_BUCKET + "imdb_word_index.json", "bfafd718b763782e994055a2d397834f"),
    "reuters.npz": (KERAS_BUCKET + "reuters.npz", "d6586e694ee56d7a4e65172e12b3e987c03096cb01eab99753921ef915959916"),
    "reuters_word_index.json": (KERAS_BUCKET + "reuters_word_index.json", "4d44cc38712099c9e383dc6e5f11a921"),
    "cifar-10-batches-py-target": (TORONTO + "cifar-10-python.tar.gz",
                                   "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"),
    "cifar-100-python-target": (TORONTO + "cifar-100-python.tar.gz",
                                "85cd44d02ba6437773c5bbd22e183051d648de2e7d6b014e1ef29b855ba677a7"),
    # Keras publishes no hashes for Fashion-MNIST's four files
    "train-labels-idx1-ubyte.gz": (KERAS_BUCKET + "train-labels-idx1-ubyte.gz", None),
    "train-images-idx3-ubyte.gz": (KERAS_BUCKET + "train-images-idx3-ubyte.gz", None),
    "t10k-labels-idx1-ubyte.gz": (KERAS_BUCKET + "t10k-labels-idx1-ubyte.gz", None),
    "t10k-images-idx3-ubyte.gz": (KERAS_BUCKET + "t10k-images-idx3-ubyte.gz", None),
}


def fetch(source, fname=None, **kwargs):
    """The local path of a known source (downloaded and checked on first use); `fname` names the cached file."""
    origin, file_hash = SOURCES[source]
    return get_file(fname or source, origin=origin, file_hash=file_hash, **kwargs)


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickles NumPy arrays, lists, dicts and numbers only: a crafted file cannot run code."""

    ALLOWED = {("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "_reconstruct"),
               ("numpy._core.multiarray", "_reconstruct"), ("numpy.core.multiarray", "scalar"),
               ("numpy._core.multiarray", "scalar"), ("builtins", "list"), ("builtins", "dict")}

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a data file")
        return super().find_class(module, name)


def load_npz(path):
    """The arrays of an `.npz` file; object arrays (ragged sequences) through the restricted unpickler."""
    out = {}
    with zipfile.ZipFile(path) as archive:
        for member in archive.namelist():
            with archive.open(member) as f:
                data = io.BytesIO(f.read())
            version = np.lib.format.read_magic(data)
            shape, fortran, dtype = _header(data, version)
            if dtype.hasobject:
                array = RestrictedUnpickler(data, encoding="latin1").load()
            else:
                count = int(np.prod(shape))
                array = np.frombuffer(data.read(count * dtype.itemsize), dtype=dtype, count=count)
                array = array.reshape(shape, order="F" if fortran else "C")
            out[member[:-4] if member.endswith(".npy") else member] = array
    return out


def _header(data, version):
    """(shape, fortran_order, dtype) of an .npy stream positioned after its magic."""
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(data)
    return np.lib.format.read_array_header_2_0(data)


def split_shuffled(x, y, test_split, seed):
    """`(x, y)` shuffled by `seed` and cut into train and test at `1 - test_split`, as Keras cuts them."""
    if not 0 <= test_split < 1:
        raise ValueError(f"Invalid `test_split` argument: {test_split}. It must be between 0 and 1 "
                         "(exclusive of 1).")
    order = np.arange(len(x))
    np.random.RandomState(seed).shuffle(order)
    x, y = x[order], y[order]
    cut = int(len(x) * (1 - test_split))
    return (np.array(x[:cut]), np.array(y[:cut])), (np.array(x[cut:]), np.array(y[cut:]))


def offset_words(xs, start_char, index_from):
    """Word indices shifted by `index_from`, with `start_char` first when given."""
    head = [] if start_char is None else [start_char]
    return [head + [w + index_from for w in x] for x in xs]


def drop_long(xs, labels, maxlen):
    """Only the sequences shorter than `maxlen` (all when maxlen is falsy), with their labels."""
    if not maxlen:
        return list(xs), list(labels)
    kept = [i for i, x in enumerate(xs) if len(x) < maxlen]
    return [xs[i] for i in kept], [labels[i] for i in kept]


def limit_vocabulary(xs, num_words, skip_top, oov_char):
    """Words outside [skip_top, num_words) replaced by `oov_char` (removed when it is None)."""
    if not num_words:
        num_words = max((max(x) for x in xs if x), default=0)
    if oov_char is not None:
        return [[w if skip_top <= w < num_words else oov_char for w in x] for x in xs]
    return [[w for w in x if skip_top <= w < num_words] for x in xs]


def ragged(seqs):
    """A 1-D object array of lists (np.array would make a 2-D array of equal-length lists)."""
    out = np.empty(len(seqs), dtype=object)
    out[:] = [list(s) for s in seqs]
    return out
