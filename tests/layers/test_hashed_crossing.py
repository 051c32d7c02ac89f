"""HashedCrossing: feature crosses hashed into bins. Keras 3.15's layer needs TensorFlow (tf.sparse.cross_hashed,
FarmHash), which is not installed here, so the reference is the documented rule: FNV-1a of 'a_X_b' mod num_bins."""
import numpy as np
import pytest

from tinydl import layers
from tinydl.layers.lookup import fnv1a


def test_crossing_hashes_the_joined_values_of_each_sample():
    colors, sizes = np.array(["red", "blue", "red"], dtype=object), np.array([1, 2, 1])
    out = layers.HashedCrossing(num_bins=11)([colors, sizes])
    expected = [fnv1a(f"{c}_X_{s}") % 11 for c, s in zip(colors, sizes)]
    assert out.dtype == np.int64 and out.numpy().tolist() == expected
    assert out.numpy()[0] == out.numpy()[2]  # equal crosses share a bin


def test_three_features_and_bytes_cross_like_their_text():
    a, b, c = np.array([b"x", b"y"], dtype=object), np.array(["p", "q"]), np.array([[3], [4]])
    out = layers.HashedCrossing(100)([a[:, None], b[:, None], c])
    assert out.shape == (2, 1)
    assert out.numpy()[:, 0].tolist() == [fnv1a("x_X_p_X_3") % 100, fnv1a("y_X_q_X_4") % 100]


def test_one_hot_rows_and_scalar_inputs():
    layer = layers.HashedCrossing(6, output_mode="one_hot")
    out = layer([np.array([["a"], ["b"]], dtype=object), np.array([[1], [2]])])
    assert out.shape == (2, 6) == layer.compute_output_shape([(2, 1), (2, 1)]) and out.dtype == np.float32
    np.testing.assert_array_equal(out.numpy().argmax(-1), [fnv1a("a_X_1") % 6, fnv1a("b_X_2") % 6])
    scalar = layers.HashedCrossing(6)([np.array("a"), np.array(1)])
    assert scalar.shape == () and int(scalar.numpy()) == fnv1a("a_X_1") % 6


def test_config_is_keras_s_and_int_mode_defaults_to_int64():
    layer = layers.HashedCrossing(5)
    config = layer.get_config()
    assert {k: config[k] for k in ("num_bins", "output_mode", "sparse", "dtype")} == {
        "num_bins": 5, "output_mode": "int", "sparse": False, "dtype": "int64"}
    assert layers.HashedCrossing(5, output_mode="one_hot").get_config()["dtype"] == "float32"


def test_functional_model_crosses_two_inputs():
    from tinydl.models import Model
    a, b = layers.Input(shape=(1,), dtype="int64"), layers.Input(shape=(1,), dtype="int64")
    model = Model([a, b], layers.HashedCrossing(9)([a, b]))
    out = model([np.array([[1], [2]]), np.array([[3], [4]])])
    assert out.numpy()[:, 0].tolist() == [fnv1a("1_X_3") % 9, fnv1a("2_X_4") % 9]


@pytest.mark.parametrize("kwargs, name", [({"num_bins": 0}, "num_bins"), ({"num_bins": 3, "output_mode": "count"},
                                           "output_mode"), ({"num_bins": 3, "sparse": True}, "sparse")])
def test_bad_arguments_are_refused_by_name(kwargs, name):
    with pytest.raises(ValueError, match=name):
        layers.HashedCrossing(**kwargs)


def test_inputs_must_be_two_or_more_of_one_shape():
    layer = layers.HashedCrossing(3)
    with pytest.raises(ValueError, match="at least two inputs"):
        layer(np.array([1, 2]))
    with pytest.raises(ValueError, match="same shape"):
        layer([np.array([1, 2]), np.array([1, 2, 3])])
    with pytest.raises(ValueError, match=r"\(batch, 1\)"):
        layer([np.ones((2, 3)), np.ones((2, 3))])
