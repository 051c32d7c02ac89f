"""Contract cases for the vocabulary layers (StringLookup, IntegerLookup, TextVectorization, Hashing,
HashedCrossing): index layers with no float path (no gradients) and no ONNX form (string tensors and vocabulary
tables)."""
import numpy as np

from tinydl import layers as L
from tests.contract import LayerCase

NO_ONNX = "hashing, n-grams and tf-idf run in Python; only plain lookups export (ai.onnx.ml LabelEncoder)"
VOCAB = ["a", "b", "c", "d"]


def _words(rng):
    """Strings as an object array: the dtype of `Input(dtype="string")`."""
    return [np.array(VOCAB + ["z", ""], dtype=object)[rng.integers(0, 6, (3, 4))]]


def _crossed(rng):
    """A string feature and an integer feature, (6, 1) each: what HashedCrossing crosses."""
    return [np.array(VOCAB + ["z", ""], dtype=object)[rng.integers(0, 6, (6, 1))],
            rng.integers(0, 4, (6, 1)).astype("int64")]


def _integers(rng):
    return [np.array([12, 36, 1138, 42, 7, 0])[rng.integers(0, 6, (3, 4))].astype("int64")]


def _texts(rng):
    return [np.array([["The quick fox."], ["a FOX, a dog"], ["quick quick"]], dtype=object)]


def _text_vectorization(**kw):
    layer = L.TextVectorization(max_tokens=8, output_sequence_length=5, **kw)
    layer.adapt(["the quick brown fox", "the lazy dog", "quick dog"])
    return layer


CASES = [
    LayerCase(lambda **kw: L.StringLookup(vocabulary=VOCAB, **kw), make_inputs=_words, grad=False),
    LayerCase(lambda **kw: L.StringLookup(vocabulary=VOCAB, mask_token="", output_mode="multi_hot", **kw),
              make_inputs=_words, grad=False, name="StringLookup[mask,multi_hot]"),
    LayerCase(lambda **kw: L.StringLookup(vocabulary=VOCAB, mask_token="", num_oov_indices=2, output_mode="count",
                                          **kw), make_inputs=_words, grad=False, onnx=NO_ONNX,
              name="StringLookup[mask,2 oov,count]"),
    LayerCase(lambda **kw: L.StringLookup(vocabulary=VOCAB, output_mode="tf_idf", idf_weights=[0.5, 1.0, 1.5, 2.0],
                                          pad_to_max_tokens=True, max_tokens=7, **kw), make_inputs=_words,
              grad=False, onnx=NO_ONNX, name="StringLookup[tf_idf,padded]"),
    LayerCase(lambda **kw: L.IntegerLookup(vocabulary=[12, 36, 1138, 42], **kw), make_inputs=_integers, grad=False),
    LayerCase(lambda **kw: L.IntegerLookup(vocabulary=[12, 36, 1138, 42], mask_token=0, output_mode="multi_hot",
                                           **kw), make_inputs=_integers, grad=False,
              name="IntegerLookup[mask,multi_hot]"),
    LayerCase(_text_vectorization, make_inputs=_texts, grad=False, onnx=NO_ONNX),
    LayerCase(lambda **kw: L.TextVectorization(vocabulary=["quick", "fox", "a", "a fox"], ngrams=2,
                                               output_mode="count", standardize="lower", **kw),
              make_inputs=_texts, grad=False, onnx=NO_ONNX, name="TextVectorization[ngrams,count]"),
    LayerCase(lambda **kw: L.Hashing(5, **kw), make_inputs=_words, grad=False, onnx=NO_ONNX),
    LayerCase(lambda **kw: L.Hashing(4, mask_value="", salt=7, output_mode="multi_hot", **kw), make_inputs=_words,
              grad=False, onnx=NO_ONNX, name="Hashing[mask,salt,multi_hot]"),
    LayerCase(lambda **kw: L.HashedCrossing(7, **kw),
              make_inputs=_crossed, single_input=False, grad=False, onnx=NO_ONNX),
    LayerCase(lambda **kw: L.HashedCrossing(7, output_mode="one_hot", **kw), make_inputs=_crossed,
              single_input=False, grad=False, onnx=NO_ONNX, name="HashedCrossing[one_hot]"),
]
