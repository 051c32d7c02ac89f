"""Vocabulary layers against the examples of Keras 3's documentation (Keras's own versions need TensorFlow,
so the documented outputs are the reference), plus adapt, tf-idf, files, hashing and argument errors."""
import numpy as np
import pytest

from tinydl import layers as L

VOCAB = ["a", "b", "c", "d"]
DATA = np.array([["a", "c", "d"], ["d", "z", "b"]])


def test_string_lookup_documented_examples():
    np.testing.assert_array_equal(L.StringLookup(vocabulary=VOCAB)(DATA).numpy(), [[1, 3, 4], [4, 0, 2]])
    np.testing.assert_array_equal(L.StringLookup(vocabulary=VOCAB, output_mode="multi_hot")(DATA).numpy(),
                                  [[0, 1, 0, 1, 1], [1, 0, 1, 0, 1]])
    np.testing.assert_array_equal(L.StringLookup(vocabulary=VOCAB, invert=True)(np.array([[1, 3, 4], [4, 0, 2]]))
                                  .numpy(), [["a", "c", "d"], ["d", "[UNK]", "b"]])
    counted = L.StringLookup(vocabulary=VOCAB, output_mode="count")(np.array([["a", "c", "d", "d"],
                                                                              ["d", "z", "b", "z"]]))
    np.testing.assert_array_equal(counted.numpy(), [[0, 1, 0, 1, 2], [2, 0, 1, 0, 1]])
    tf_idf = L.StringLookup(vocabulary=VOCAB, output_mode="tf_idf", idf_weights=[0.25, 0.75, 0.6, 0.4])
    np.testing.assert_allclose(tf_idf(np.array([["a", "c", "d", "d"], ["d", "z", "b", "z"]])).numpy(),
                               [[0, 0.25, 0, 0.6, 0.8], [1.0, 0, 0.75, 0, 0.4]])


def test_string_lookup_adapt_orders_by_count_then_reverse_token_as_keras():
    layer = L.StringLookup()
    layer.adapt(DATA)
    assert layer.get_vocabulary() == ["[UNK]", "d", "z", "c", "b", "a"]
    capped = L.StringLookup(max_tokens=3, mask_token="")
    capped.adapt(DATA)
    assert capped.get_vocabulary() == ["", "[UNK]", "d"] and capped.vocabulary_size() == 3


def test_integer_lookup_documented_examples():
    vocab = [12, 36, 1138, 42]
    np.testing.assert_array_equal(L.IntegerLookup(vocabulary=vocab)(np.array([[12, 1138, 42], [42, 1000, 36]]))
                                  .numpy(), [[1, 3, 4], [4, 0, 2]])
    two_oov = L.IntegerLookup(vocabulary=vocab, num_oov_indices=2)
    np.testing.assert_array_equal(two_oov(np.array([[12, 1138, 42], [37, 1000, 36]])).numpy(),
                                  [[2, 4, 5], [1, 0, 3]])
    masked = L.IntegerLookup(vocabulary=vocab, mask_token=0)
    np.testing.assert_array_equal(masked(np.array([[12, 0, 42]])).numpy(), [[2, 0, 5]])
    assert L.IntegerLookup(vocabulary=vocab, invert=True)(np.array([[1, 0]])).numpy().tolist() == [[12, -1]]


def test_text_vectorization_documented_example_and_modes():
    layer = L.TextVectorization(max_tokens=5000, output_mode="int", output_sequence_length=4)
    layer.adapt(["foo bar", "bar baz", "baz bada boom"])
    assert layer.get_vocabulary() == ["", "[UNK]", "baz", "bar", "foo", "boom", "bada"]
    np.testing.assert_array_equal(layer(np.array([["foo qux bar"], ["qux baz"]])).numpy(), [[4, 1, 3, 0], [1, 2, 0, 0]])
    tf_idf = L.TextVectorization(output_mode="tf_idf")
    tf_idf.adapt(["a b a", "b c"])  # idf = log(1 + documents / (1 + documents with the token))
    idf = {"b": np.log(1 + 2 / 3), "a": np.log(2), "c": np.log(2)}
    assert tf_idf.get_vocabulary() == ["[UNK]", "b", "a", "c"]
    np.testing.assert_allclose(tf_idf(["A, a! c z"]).numpy(),
                               [[np.mean(list(idf.values())), 0, 2 * idf["a"], idf["c"]]], rtol=1e-6)
    grams = L.TextVectorization(output_mode="multi_hot", ngrams=2, vocabulary=["the", "fox", "the fox", "dog"])
    np.testing.assert_array_equal(grams(["The fox"]).numpy(), [[0, 1, 1, 1, 0]])
    chars = L.TextVectorization(split="character", standardize=None, vocabulary=["a", "b"])
    np.testing.assert_array_equal(chars(["abA"]).numpy(), [[2, 3, 1]])


def test_vocabulary_from_a_file(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_text("a\nb\nc\nd\n", encoding="utf-8")
    np.testing.assert_array_equal(L.StringLookup(vocabulary=str(path))(DATA).numpy(), [[1, 3, 4], [4, 0, 2]])


def test_hashing_is_deterministic_and_keeps_the_mask_in_bin_zero():
    values = np.array([["A"], ["B"], ["C"], ["D"], ["E"]])
    first, second = L.Hashing(3)(values).numpy(), L.Hashing(3)(values).numpy()
    np.testing.assert_array_equal(first, second)
    assert first.min() >= 0 and first.max() < 3
    masked = L.Hashing(3, mask_value="")(np.array(["A", "", "C"])).numpy()
    assert masked[1] == 0 and (masked[[0, 2]] >= 1).all()
    assert not np.array_equal(L.Hashing(1000, salt=1)(values).numpy(), L.Hashing(1000, salt=2)(values).numpy())


@pytest.mark.parametrize("make,message", [
    (lambda: L.StringLookup(output_mode="binary"), "output_mode"),
    (lambda: L.StringLookup(invert=True, output_mode="count"), "invert"),
    (lambda: L.StringLookup(vocabulary=["a", "a"]), "repeated"),
    (lambda: L.StringLookup(vocabulary=["a", "b"], max_tokens=2), "max_tokens"),
    (lambda: L.StringLookup(vocabulary=["a"], output_mode="tf_idf"), "idf_weights"),
    (lambda: L.StringLookup(pad_to_max_tokens=True), "max_tokens"),
    (lambda: L.StringLookup(sparse=True), "sparse"),
    (lambda: L.StringLookup(vocabulary=["a"], num_oov_indices=0)(np.array(["b"])), "num_oov_indices=0"),
    (lambda: L.IntegerLookup(oov_method="farmhash"), "oov_method"),
    (lambda: L.TextVectorization(split="tab"), "split"),
    (lambda: L.TextVectorization(output_mode="multi_hot", output_sequence_length=3), "output_sequence_length"),
    (lambda: L.TextVectorization(ragged=True), "ragged"),
    (lambda: L.Hashing(0), "num_bins"),
])
def test_invalid_arguments_are_refused_with_their_name(make, message):
    with pytest.raises(ValueError, match=message):
        make()
