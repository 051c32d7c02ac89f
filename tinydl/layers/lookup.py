"""Vocabulary layers (Keras 3): StringLookup, IntegerLookup, TextVectorization, Hashing and HashedCrossing.

Index layout, as Keras: the mask token (when given) at 0, then `num_oov_indices` out-of-vocabulary indices,
then the vocabulary. `adapt(data)` builds the vocabulary from token counts (most frequent first; ties in
reverse token order, as Keras) within `max_tokens`. Strings live in NumPy arrays: these layers run on the CPU and
take no gradient; plain StringLookup/IntegerLookup export to ONNX as ai.onnx.ml's LabelEncoder.

Where Keras uses TensorFlow's FarmHash (Hashing, HashedCrossing, StringLookup with several OOV indices), tinydl uses the
64-bit FNV-1a hash of the UTF-8 bytes (salted when `salt` is given): the bins are deterministic across runs
and machines but differ from Keras's, so a model trained with Keras's hashing must be re-trained.
"""
import re
import string

import numpy as np

from tinydl import backend
from tinydl.layers.base import Layer
from tinydl.layers.preprocessing import encode_categorical
from tinydl.tensor import Tensor

__all__ = ["StringLookup", "IntegerLookup", "TextVectorization", "Hashing", "HashedCrossing"]

_MODES = ("int", "one_hot", "multi_hot", "count", "tf_idf")
_PUNCTUATION = re.compile("[%s]" % re.escape(string.punctuation))
_FNV_OFFSET, _FNV_PRIME = 0xCBF29CE484222325, 0x100000001B3


class _ValuesLayer(Layer):
    """A layer whose input is one array of values: a Python list of strings is that array, not several inputs."""

    def __call__(self, inputs, *args, **kwargs):
        if isinstance(inputs, (list, tuple)):
            inputs = np.asarray(inputs)
        return super().__call__(inputs, *args, **kwargs)


class _IndexLookup(_ValuesLayer):
    """Maps tokens to indices (or back, with invert=True) and encodes them (int, one_hot, multi_hot, count,
    tf_idf)."""

    def __init__(self, max_tokens, num_oov_indices, mask_token, oov_token, vocabulary, idf_weights, invert,
                 output_mode, pad_to_max_tokens, sparse, **kwargs):
        super().__init__(**kwargs)
        where = f"{type(self).__name__} '{self.name}'"
        if output_mode not in _MODES:
            raise ValueError(f"{where}: output_mode must be one of {_MODES}, got {output_mode!r}")
        if invert and output_mode != "int":
            raise ValueError(f"{where}: invert=True needs output_mode='int', got {output_mode!r}")
        if int(num_oov_indices) < 0:
            raise ValueError(f"{where}: num_oov_indices must be >= 0, got {num_oov_indices}")
        if max_tokens is not None and int(max_tokens) <= 1:
            raise ValueError(f"{where}: max_tokens must be > 1 (or None), got {max_tokens}")
        if pad_to_max_tokens and max_tokens is None:
            raise ValueError(f"{where}: pad_to_max_tokens=True needs max_tokens")
        if sparse:
            raise ValueError(f"{where}: sparse=True is not supported (tinydl has no sparse tensors)")
        if idf_weights is not None and output_mode != "tf_idf":
            raise ValueError(f"{where}: idf_weights are used only with output_mode='tf_idf', got {output_mode!r}")
        self.max_tokens = None if max_tokens is None else int(max_tokens)
        self.num_oov_indices, self.mask_token, self.oov_token = int(num_oov_indices), mask_token, oov_token
        self.invert, self.output_mode, self.pad_to_max_tokens, self.sparse = bool(invert), output_mode, \
            bool(pad_to_max_tokens), False
        self._vocabulary, self._idf, self._index = [], None, {}
        if vocabulary is not None:
            self.set_vocabulary(vocabulary, idf_weights)
        elif idf_weights is not None:
            raise ValueError(f"{where}: idf_weights need a vocabulary")

    # -- vocabulary --------------------------------------------------------------------------------------------
    def set_vocabulary(self, vocabulary, idf_weights=None):
        """Use `vocabulary` (a list of tokens, or a path to a file with one token a line)."""
        if isinstance(vocabulary, str):
            with open(vocabulary, encoding="utf-8") as f:
                vocabulary = [line.rstrip("\n") for line in f]
        tokens = [self._token(t) for t in np.asarray(vocabulary).ravel().tolist()]
        where = f"{type(self).__name__} '{self.name}'"
        if len(set(tokens)) != len(tokens):
            raise ValueError(f"{where}: the vocabulary has repeated tokens")
        if self.mask_token is not None and tokens[:1] == [self.mask_token]:
            tokens = tokens[1:]  # Keras accepts a vocabulary that starts with the mask token
        if self.mask_token is not None and self.mask_token in tokens:
            raise ValueError(f"{where}: the mask token {self.mask_token!r} may only be the vocabulary's first entry")
        if self.max_tokens is not None and len(tokens) + self._specials() > self.max_tokens:
            raise ValueError(f"{where}: a vocabulary of {len(tokens)} tokens plus {self._specials()} special ones "
                             f"exceeds max_tokens={self.max_tokens}")
        if self.output_mode == "tf_idf":
            if idf_weights is None:
                raise ValueError(f"{where}: output_mode='tf_idf' needs idf_weights with the vocabulary")
            idf = np.asarray(idf_weights, dtype="float64").ravel()
            if len(idf) != len(tokens):
                raise ValueError(f"{where}: {len(idf)} idf_weights for {len(tokens)} vocabulary tokens")
            # specials: the mask gets 0, the OOV indices the mean weight (Keras)
            self._idf = np.concatenate([[0.0] * (self.mask_token is not None),
                                        [idf.mean()] * self.num_oov_indices, idf])
        self._vocabulary = tokens
        self._index = {t: i + self._specials() for i, t in enumerate(tokens)}

    def get_vocabulary(self, include_special_tokens=True):
        """The tokens in index order (with the mask and OOV tokens first unless told otherwise)."""
        if not include_special_tokens:
            return list(self._vocabulary)
        specials = ([self.mask_token] if self.mask_token is not None else []) + \
            [self.oov_token] * self.num_oov_indices
        return specials + list(self._vocabulary)

    def vocabulary_size(self):
        """Number of indices, special tokens included."""
        return len(self._vocabulary) + self._specials()

    def adapt(self, data, steps=None):
        """Vocabulary (and idf weights for tf_idf) from the tokens of `data` (each row of a batch a document)."""
        batches = [b for i, b in enumerate(_batches(data)) if steps is None or i < steps]
        self.adapt_rows(row for batch in batches for row in self._token_rows(batch))

    def adapt_rows(self, rows):
        """Vocabulary (and idf weights) from token rows, one document each."""
        counts, documents, n_docs = {}, {}, 0
        for row in rows:
            n_docs += 1
            for token in row:
                counts[token] = counts.get(token, 0) + 1
            for token in set(row):
                documents[token] = documents.get(token, 0) + 1
        for special in (self.mask_token, self.oov_token):
            counts.pop(special, None)
        tokens = sorted(counts, key=lambda t: (counts[t], t), reverse=True)  # ties: reverse token order (Keras)
        if self.max_tokens is not None:
            tokens = tokens[:max(self.max_tokens - self._specials(), 0)]
        idf = None
        if self.output_mode == "tf_idf":
            idf = [np.log(1 + n_docs / (1 + documents[t])) for t in tokens]
        self.set_vocabulary(tokens, idf)

    # -- calling -------------------------------------------------------------------------------------------------
    def call(self, inputs):
        values = inputs.data if isinstance(inputs, Tensor) else np.asarray(inputs)
        values = backend.to_device(values, "cpu") if backend.device_of(values) == "cuda" else values
        if self.invert:
            return Tensor._wrap(self._invert(values), False)
        return self._encode(self._lookup(values))

    def _lookup(self, values):
        """Token array -> int64 index array."""
        flat = [self._index_of(self._token(v)) for v in np.asarray(values).ravel().tolist()]
        return np.asarray(flat, dtype="int64").reshape(np.shape(values))

    def _index_of(self, token):
        if self.mask_token is not None and token == self.mask_token:
            return 0
        index = self._index.get(token) if self._vocabulary else None
        if index is not None:
            return index
        if self.num_oov_indices == 0:
            raise ValueError(f"{type(self).__name__} '{self.name}': token {token!r} is not in the vocabulary and "
                             "num_oov_indices=0")
        return (self.mask_token is not None) + self._oov_bin(token)

    def _oov_bin(self, token):
        return 0 if self.num_oov_indices == 1 else fnv1a(str(token)) % self.num_oov_indices

    def _invert(self, indices):
        vocabulary = self.get_vocabulary()
        indices = np.asarray(indices).astype("int64")
        size = len(vocabulary)
        out = [vocabulary[i] if 0 <= i < size and (i >= self._specials() or (self.mask_token is not None and i == 0))
               else self.oov_token for i in indices.ravel().tolist()]
        return np.asarray(out, dtype=object if not out else None).reshape(indices.shape)

    def _encode(self, ids):
        if self.output_mode == "int":
            return Tensor._wrap(ids, False)
        depth = self.max_tokens if self.pad_to_max_tokens else self.vocabulary_size()
        mode = "count" if self.output_mode == "tf_idf" else self.output_mode
        out = encode_categorical(ids, depth, mode, None, self, self.dtype)  # vectors in the layer's dtype
        if self.mask_token is not None and mode != "one_hot":
            out.data[..., 0] = 0  # the mask token is not counted (Keras)
        if self.output_mode == "tf_idf":
            idf = np.zeros(depth, dtype=out.data.dtype)
            idf[:len(self._idf)] = self._idf
            out = Tensor._wrap(out.data * idf, False)
        return out

    def _specials(self):
        return (self.mask_token is not None) + self.num_oov_indices

    def _token_rows(self, batch):
        array = np.asarray(batch)
        rows = array.reshape(len(array), -1) if array.ndim > 1 else array.reshape(-1, 1)
        return [[self._token(t) for t in row.tolist()] for row in rows]

    def get_config(self):
        return {**super().get_config(), "max_tokens": self.max_tokens, "num_oov_indices": self.num_oov_indices,
                "mask_token": self.mask_token, "oov_token": self.oov_token,
                "vocabulary": self.get_vocabulary(include_special_tokens=False) or None,
                "idf_weights": None if self._idf is None else
                self._idf[self._specials():].tolist(), "invert": self.invert,
                "output_mode": self.output_mode, "pad_to_max_tokens": self.pad_to_max_tokens, "sparse": self.sparse}


class StringLookup(_IndexLookup):
    """Strings to integer indices (or back with invert=True); see the module docstring for the layout."""

    def __init__(self, max_tokens=None, num_oov_indices=1, mask_token=None, oov_token="[UNK]", vocabulary=None,
                 idf_weights=None, invert=False, output_mode="int", pad_to_max_tokens=False, sparse=False,
                 encoding="utf-8", name=None, salt=None, **kwargs):
        self.encoding, self.salt = encoding, salt
        super().__init__(max_tokens, num_oov_indices, mask_token, oov_token, vocabulary, idf_weights, invert,
                         output_mode, pad_to_max_tokens, sparse, name=name, **kwargs)

    def _token(self, value):
        return value.decode(self.encoding) if isinstance(value, bytes) else str(value)

    def _oov_bin(self, token):
        return 0 if self.num_oov_indices == 1 else fnv1a(token, self.salt, self.encoding) % self.num_oov_indices

    def get_config(self):
        return {**super().get_config(), "encoding": self.encoding, "salt": self.salt}


class IntegerLookup(_IndexLookup):
    """Integers to indices (or back); several OOV indices take `value % num_oov_indices` ('floormod')."""

    def __init__(self, max_tokens=None, num_oov_indices=1, mask_token=None, oov_token=-1, vocabulary=None,
                 vocabulary_dtype="int64", idf_weights=None, invert=False, output_mode="int", sparse=False,
                 pad_to_max_tokens=False, oov_method="floormod", salt=None, name=None, **kwargs):
        if oov_method != "floormod":
            raise ValueError(f"IntegerLookup: oov_method must be 'floormod', got {oov_method!r}")
        if vocabulary_dtype not in ("int32", "int64"):
            raise ValueError(f"IntegerLookup: vocabulary_dtype must be 'int32' or 'int64', got {vocabulary_dtype!r}")
        self.vocabulary_dtype, self.oov_method, self.salt = vocabulary_dtype, oov_method, salt
        super().__init__(max_tokens, num_oov_indices, mask_token, int(oov_token), vocabulary, idf_weights, invert,
                         output_mode, pad_to_max_tokens, sparse, name=name, **kwargs)

    def _token(self, value):
        return int(value)

    def _oov_bin(self, token):
        return token % self.num_oov_indices

    def _invert(self, indices):
        return super()._invert(indices).astype(self.vocabulary_dtype)

    def get_config(self):
        return {**super().get_config(), "vocabulary_dtype": self.vocabulary_dtype, "oov_method": self.oov_method,
                "salt": self.salt}


class TextVectorization(_ValuesLayer):
    """Strings -> standardized (lower-cased, punctuation stripped) -> split (whitespace or characters) ->
    optional n-grams -> vocabulary indices ('int', padded or cut to output_sequence_length, 0 = padding,
    1 = OOV) or 'multi_hot' / 'count' / 'tf_idf' vectors. `adapt(texts)` builds the vocabulary."""

    def __init__(self, max_tokens=None, standardize="lower_and_strip_punctuation", split="whitespace", ngrams=None,
                 output_mode="int", output_sequence_length=None, pad_to_max_tokens=False, vocabulary=None,
                 idf_weights=None, sparse=False, ragged=False, encoding="utf-8", name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        where = f"TextVectorization '{self.name}'"
        if standardize not in (None, "lower_and_strip_punctuation", "lower", "strip_punctuation") \
                and not callable(standardize):
            raise ValueError(f"{where}: standardize must be None, 'lower_and_strip_punctuation', 'lower', "
                             f"'strip_punctuation' or a callable, got {standardize!r}")
        if split not in (None, "whitespace", "character") and not callable(split):
            raise ValueError(f"{where}: split must be None, 'whitespace', 'character' or a callable, got {split!r}")
        if output_mode not in ("int", "multi_hot", "count", "tf_idf"):
            raise ValueError(f"{where}: output_mode must be 'int', 'multi_hot', 'count' or 'tf_idf', got "
                             f"{output_mode!r}")
        if output_sequence_length is not None and output_mode != "int":
            raise ValueError(f"{where}: output_sequence_length needs output_mode='int'")
        if ragged:
            raise ValueError(f"{where}: ragged=True is not supported (tinydl has no ragged tensors)")
        if isinstance(ngrams, int):
            ngrams = tuple(range(1, ngrams + 1))
        self.standardize, self.split, self.ngrams = standardize, split, None if ngrams is None else tuple(ngrams)
        self.output_sequence_length, self.encoding, self.ragged = output_sequence_length, encoding, False
        self._lookup = StringLookup(max_tokens=max_tokens, num_oov_indices=1,
                                    mask_token="" if output_mode == "int" else None, vocabulary=vocabulary,
                                    idf_weights=idf_weights, output_mode=output_mode,
                                    pad_to_max_tokens=pad_to_max_tokens, sparse=sparse, encoding=encoding,
                                    name=f"{self.name}_lookup", dtype=self.dtype)
        self.max_tokens, self.output_mode, self.pad_to_max_tokens, self.sparse = max_tokens, output_mode, \
            bool(pad_to_max_tokens), False

    def adapt(self, data, batch_size=None, steps=None):
        """Vocabulary from the token rows of `data` (texts, or an iterable of batches of texts)."""
        batches = [np.asarray(b) for i, b in enumerate(_batches(data)) if steps is None or i < steps]
        self._lookup.adapt_rows(row for batch in batches for row in self._tokens(batch))

    def set_vocabulary(self, vocabulary, idf_weights=None):
        self._lookup.set_vocabulary(vocabulary, idf_weights)

    def get_vocabulary(self, include_special_tokens=True):
        return self._lookup.get_vocabulary(include_special_tokens)

    def vocabulary_size(self):
        return self._lookup.vocabulary_size()

    def call(self, inputs):
        texts = np.asarray(inputs.data if isinstance(inputs, Tensor) else inputs)
        rows = self._tokens(texts)
        if self.output_mode != "int":
            return _ragged_counts(self._lookup, rows)
        ids = [[self._lookup._index_of(t) for t in row] for row in rows]
        length = self.output_sequence_length or max([len(r) for r in ids] + [1])
        out = np.zeros((len(ids), length), dtype="int64")
        for i, row in enumerate(ids):
            out[i, :min(len(row), length)] = row[:length]
        return Tensor._wrap(out, False)

    def _tokens(self, texts):
        """Token lists, one per text (texts of shape (n,) or (n, 1))."""
        texts = texts.reshape(-1) if texts.ndim > 1 and texts.shape[-1] == 1 else texts.reshape(-1)
        return [self._ngrams(self._split(self._standardize(t))) for t in texts.tolist()]

    def _standardize(self, text):
        text = text.decode(self.encoding) if isinstance(text, bytes) else str(text)
        if callable(self.standardize):
            return self.standardize(text)
        if self.standardize in ("lower", "lower_and_strip_punctuation"):
            text = text.lower()
        if self.standardize in ("strip_punctuation", "lower_and_strip_punctuation"):
            text = _PUNCTUATION.sub("", text)
        return text

    def _split(self, text):
        if callable(self.split):
            return list(self.split(text))
        if self.split == "whitespace":
            return text.split()
        if self.split == "character":
            return list(text)
        return [text]

    def _ngrams(self, tokens):
        if self.ngrams is None:
            return tokens
        return [" ".join(tokens[i:i + n]) for n in self.ngrams for i in range(len(tokens) - n + 1)]

    def get_config(self):
        vocabulary = self.get_vocabulary(include_special_tokens=False) or None
        idf = self._lookup.get_config()["idf_weights"]
        return {**super().get_config(), "max_tokens": self.max_tokens,
                "standardize": self.standardize if not callable(self.standardize) else None,
                "split": self.split if not callable(self.split) else None,
                "ngrams": None if self.ngrams is None else list(self.ngrams), "output_mode": self.output_mode,
                "output_sequence_length": self.output_sequence_length, "pad_to_max_tokens": self.pad_to_max_tokens,
                "sparse": self.sparse, "ragged": self.ragged, "vocabulary": vocabulary, "idf_weights": idf,
                "encoding": self.encoding}


class Hashing(_ValuesLayer):
    """Values (strings or integers) to `num_bins` bins by a 64-bit hash (FNV-1a; see the module docstring);
    with `mask_value`, that value goes to bin 0 and the others to 1 .. num_bins - 1."""

    def __init__(self, num_bins, mask_value=None, salt=None, output_mode="int", sparse=False, **kwargs):
        super().__init__(**kwargs)
        if int(num_bins) < 1 or (mask_value is not None and int(num_bins) < 2):
            raise ValueError(f"Hashing '{self.name}': num_bins must be >= 1 (>= 2 with a mask_value), got {num_bins}")
        if output_mode not in ("int", "one_hot", "multi_hot", "count"):
            raise ValueError(f"Hashing '{self.name}': output_mode must be 'int', 'one_hot', 'multi_hot' or "
                             f"'count', got {output_mode!r}")
        if sparse:
            raise ValueError(f"Hashing '{self.name}': sparse=True is not supported (tinydl has no sparse tensors)")
        self.num_bins, self.mask_value, self.salt = int(num_bins), mask_value, salt
        self.output_mode, self.sparse = output_mode, False

    def call(self, inputs):
        values = np.asarray(inputs.data if isinstance(inputs, Tensor) else inputs)
        bins = self.num_bins - (self.mask_value is not None)
        flat = [0 if self.mask_value is not None and v == self.mask_value
                else fnv1a(v.decode() if isinstance(v, bytes) else str(v), self.salt) % bins
                + (self.mask_value is not None) for v in values.ravel().tolist()]
        ids = np.asarray(flat, dtype="int64").reshape(values.shape)
        return encode_categorical(ids, self.num_bins, self.output_mode, None, self, self.dtype)

    def get_config(self):
        return {**super().get_config(), "num_bins": self.num_bins, "salt": self.salt, "mask_value": self.mask_value,
                "output_mode": self.output_mode, "sparse": self.sparse}


class HashedCrossing(Layer):
    """Crosses two or more categorical features into `num_bins` bins: sample i goes to the bin of the hash of
    its values joined as `a_X_b_X_...` (64-bit FNV-1a, as Hashing; Keras hashes with TensorFlow's FarmHash, so
    the bins differ from Keras's). Inputs: a list of equally shaped arrays of shape (), (batch,) or (batch, 1)
    of strings or integers; output int64 ids of the first input's shape, or `one_hot` rows of num_bins."""

    def __init__(self, num_bins, output_mode="int", sparse=False, name=None, dtype=None, **kwargs):
        if output_mode == "int" and dtype is None:
            dtype = "int64"
        super().__init__(name=name, dtype=dtype, **kwargs)
        if int(num_bins) < 1:
            raise ValueError(f"HashedCrossing '{self.name}': num_bins must be >= 1, got {num_bins!r}")
        if output_mode not in ("int", "one_hot"):
            raise ValueError(f"HashedCrossing '{self.name}': output_mode must be 'int' or 'one_hot', got "
                             f"{output_mode!r}")
        if sparse:
            raise ValueError(f"HashedCrossing '{self.name}': sparse=True is not supported (tinydl has no sparse "
                             "tensors; Keras allows it only on TensorFlow)")
        self.num_bins, self.output_mode, self.sparse = int(num_bins), output_mode, False

    def __call__(self, inputs, *args, **kwargs):
        if not isinstance(inputs, (list, tuple)) or len(inputs) < 2:
            raise ValueError(f"HashedCrossing '{self.name}' should be called on a list of at least two inputs, got "
                             f"{type(inputs).__name__}")
        return super().__call__(list(inputs), *args, **kwargs)

    def call(self, inputs):
        inputs = [np.asarray(x.data if isinstance(x, Tensor) else x) for x in inputs]
        first = inputs[0].shape
        if len(first) > 2 or (len(first) == 2 and first[-1] != 1):
            raise ValueError(f"HashedCrossing '{self.name}': inputs must have shape (), (batch,) or (batch, 1), "
                             f"got {first}")
        if any(x.shape != first for x in inputs[1:]):
            raise ValueError(f"HashedCrossing '{self.name}': all inputs must have the same shape, got "
                             f"{[x.shape for x in inputs]}")
        columns = [[_text(v) for v in x.ravel().tolist()] for x in inputs]
        ids = np.asarray([fnv1a("_X_".join(row)) % self.num_bins for row in zip(*columns)],
                         dtype="int64").reshape(first)
        if self.output_mode == "int":
            return Tensor._wrap(ids.astype(self.dtype), False)
        return encode_categorical(ids, self.num_bins, self.output_mode, None, self, self.dtype)

    def compute_output_shape(self, input_shape):
        first = tuple(input_shape[0])
        if self.output_mode == "int":
            return first
        return (first[:-1] if first and first[-1] == 1 else first) + (self.num_bins,)

    def get_config(self):
        return {**super().get_config(), "num_bins": self.num_bins, "output_mode": self.output_mode,
                "sparse": self.sparse}


def _text(value):
    """A feature value as the text that is hashed (bytes decoded as UTF-8)."""
    return value.decode() if isinstance(value, bytes) else str(value)


def fnv1a(text, salt=None, encoding="utf-8"):
    """64-bit FNV-1a hash of `text`'s bytes (after `salt`'s, when given): stable across runs and machines."""
    h = _FNV_OFFSET
    prefix = b"" if salt is None else repr(salt).encode()
    for byte in prefix + text.encode(encoding):
        h = ((h ^ byte) * _FNV_PRIME) & 0xFFFFFFFFFFFFFFFF
    return h


def _ragged_counts(lookup, rows):
    """Vector encodings of token rows of different lengths: each row's indices encoded as one sample."""
    depth = lookup.max_tokens if lookup.pad_to_max_tokens else lookup.vocabulary_size()
    out = np.zeros((len(rows), depth), dtype=lookup.dtype)
    for i, row in enumerate(rows):
        if row:
            out[i] = lookup._encode(np.asarray([[lookup._index_of(t) for t in row]], dtype="int64")).data[0]
    return Tensor._wrap(out, False)


def _batches(data):
    """An array or list of values as one batch, or an iterable of batches (tuples give their first element)."""
    if isinstance(data, Tensor):
        data = data.data
    if isinstance(data, np.ndarray) or (isinstance(data, list) and data and not isinstance(data[0], (list, tuple,
                                                                                                     np.ndarray))):
        return [np.asarray(data)]
    return [b[0] if isinstance(b, tuple) else b for b in data]
