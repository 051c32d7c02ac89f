"""keras.utils array helpers, keras.tree, keras.random, keras.saving and keras.models functions against Keras."""
import collections
import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import tinydl  # noqa: E402
from tinydl import random as R, tree as T, utils as U  # noqa: E402

keras = pytest.importorskip("keras")
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.mark.parametrize("labels, num_classes", [([0, 2, 1, 2], None), ([[1], [0]], 3),
                                                 (np.array([[0, 1], [2, 3]]), 5)])
def test_to_categorical_matches_keras(labels, num_classes):
    ours, theirs = U.to_categorical(labels, num_classes), keras.utils.to_categorical(labels, num_classes)
    np.testing.assert_array_equal(ours, np.asarray(theirs))
    assert ours.shape == np.asarray(theirs).shape


def test_to_categorical_rejects_labels_out_of_range():
    with pytest.raises(ValueError, match="num_classes=2"):
        U.to_categorical([0, 2], 2)


@pytest.mark.parametrize("axis, order", [(-1, 2), (1, 2), (-1, 1)])
def test_normalize_matches_keras(axis, order):
    x = np.array([[3.0, 4.0, 0.0], [0.0, 0.0, 0.0], [1.0, -2.0, 2.0]])
    np.testing.assert_allclose(U.normalize(x, axis, order), np.asarray(keras.utils.normalize(x, axis, order)),
                               rtol=1e-6)


def test_normalize_along_axis_0_gives_unit_columns():
    """Keras 3.15 (torch backend) divides by the wrong norms for axis=0; tinydl gives unit columns."""
    x = np.array([[3.0, 4.0, 0.0], [0.0, 0.0, 0.0], [1.0, -2.0, 2.0]])
    out = U.normalize(x, axis=0)
    np.testing.assert_allclose(out, x / np.sqrt([10.0, 20.0, 4.0]))
    np.testing.assert_allclose(np.linalg.norm(out, axis=0), [1.0, 1.0, 1.0])


@pytest.mark.parametrize("kwargs", [{}, {"maxlen": 2}, {"maxlen": 4, "padding": "post"},
                                    {"maxlen": 2, "truncating": "post", "value": 9},
                                    {"dtype": "float32", "value": 0.5, "padding": "post"}])
def test_pad_sequences_matches_keras(kwargs):
    seqs = [[1, 2, 3], [4], [], [5, 6, 7, 8, 9]]
    ours, theirs = U.pad_sequences(seqs, **kwargs), keras.utils.pad_sequences(seqs, **kwargs)
    np.testing.assert_array_equal(ours, theirs)
    assert ours.dtype == theirs.dtype


def test_pad_sequences_bad_padding_names_the_argument():
    with pytest.raises(ValueError, match="padding"):
        U.pad_sequences([[1]], padding="middle")


def test_timeseries_windows_against_a_numpy_reference():
    data, targets = np.arange(40).reshape(20, 2), np.arange(100, 120)
    ds = U.timeseries_dataset_from_array(data, targets, sequence_length=4, sequence_stride=3, sampling_rate=2,
                                         batch_size=2, start_index=1, end_index=18)
    starts = list(range(0, 17 - 3 * 2, 3))  # windows must end before end_index
    xs = np.concatenate([x for x, _ in ds])
    ys = np.concatenate([y for _, y in ds])
    np.testing.assert_array_equal(xs, np.stack([data[1 + s:1 + s + 8:2] for s in starts]))
    np.testing.assert_array_equal(ys, targets[[1 + s for s in starts]])
    assert len(ds) == -(-len(starts) // 2)


def test_timeseries_shuffle_is_seeded_and_a_permutation():
    data = np.arange(30)
    a = np.concatenate(list(U.timeseries_dataset_from_array(data, None, 3, batch_size=4, shuffle=True, seed=1)))
    b = np.concatenate(list(U.timeseries_dataset_from_array(data, None, 3, batch_size=4, shuffle=True, seed=1)))
    np.testing.assert_array_equal(a, b)
    assert sorted(a[:, 0]) == list(range(28)) and (np.diff(a, axis=1) == 1).all()


@pytest.mark.parametrize("left, right", [(0.3, None), (None, 3), (6, 4), (0.25, 0.75)])
def test_split_dataset_sizes_match_keras(left, right):
    x, y = np.arange(20).reshape(10, 2), np.arange(10)
    ours = U.split_dataset((x, y), left_size=left, right_size=right)
    theirs = keras.utils.split_dataset((x, y), left_size=left, right_size=right, preferred_backend="torch")
    assert (len(ours[0][0]), len(ours[1][0])) == (len(theirs[0]), len(theirs[1]))
    np.testing.assert_array_equal(ours[0][1], y[:len(ours[0][1])])  # no shuffle: order kept
    np.testing.assert_array_equal(ours[0][0][:, 0] // 2, ours[0][1])


def test_split_dataset_may_leave_samples_out_and_shuffles_with_a_seed():
    x = {"a": np.arange(10), "b": np.arange(10) * 10}
    left, right = U.split_dataset(x, left_size=4, right_size=2, shuffle=True, seed=3)
    order = np.random.RandomState(3).permutation(10)
    np.testing.assert_array_equal(left["a"], order[:4])
    np.testing.assert_array_equal(right["b"], order[4:6] * 10)


def test_split_dataset_errors_as_keras():
    with pytest.raises(ValueError, match="At least one"):
        U.split_dataset(np.arange(5))
    with pytest.raises(ValueError, match="left_size"):
        U.split_dataset(np.arange(5), left_size=7)
    with pytest.raises(ValueError, match="preferred_backend"):
        U.split_dataset(np.arange(5), left_size=2, preferred_backend="mxnet")
    left, right = U.split_dataset(np.arange(5), left_size=2, preferred_backend="torch")  # NumPy either way
    assert isinstance(left, np.ndarray) and right.tolist() == [2, 3, 4]


@pytest.mark.parametrize("data", [np.ones(2), (np.ones(2),), (np.ones(2), np.zeros(2)), [1, 2, 3]])
def test_unpack_and_pack_match_keras(data):
    ours, theirs = U.unpack_x_y_sample_weight(data), keras.utils.unpack_x_y_sample_weight(data)
    assert [None if a is None else np.asarray(a).tolist() for a in ours] == \
        [None if a is None else np.asarray(a).tolist() for a in theirs]
    packed = U.pack_x_y_sample_weight(*ours)
    assert type(packed) is type(keras.utils.pack_x_y_sample_weight(*theirs))


STRUCTURES = [{"b": [1, (2, None)], "a": 3}, [1, [2, [3, {"z": 4, "y": 5}]]], (1,), 5, None,
              collections.OrderedDict([("b", 1), ("a", 2)])]


@pytest.mark.parametrize("structure", STRUCTURES)
def test_tree_functions_match_keras(structure):
    assert T.flatten(structure) == keras.tree.flatten(structure)
    assert T.flatten_with_path(structure) == keras.tree.flatten_with_path(structure)
    assert T.is_nested(structure) == keras.tree.is_nested(structure)
    assert T.lists_to_tuples(structure) == keras.tree.lists_to_tuples(structure)
    square = (lambda v: None if v is None else v * v)
    assert T.map_structure(square, structure) == keras.tree.map_structure(square, structure)
    leaves = list(range(len(T.flatten(structure))))
    assert T.pack_sequence_as(structure, leaves) == keras.tree.pack_sequence_as(structure, leaves)


def test_tree_traverse_and_up_to_match_keras():
    s = [1, [2, [3]]]
    for fn in (lambda x: None, lambda x: x * 2 if isinstance(x, int) else None,
               lambda x: T.MAP_TO_NONE if x == [3] else None):
        kfn = (lambda f: lambda x: keras.tree.MAP_TO_NONE if f(x) is T.MAP_TO_NONE else f(x))(fn)
        assert T.traverse(fn, s) == keras.tree.traverse(kfn, s)
        assert T.traverse(fn, s, top_down=False) == keras.tree.traverse(kfn, s, top_down=False)
    assert T.map_structure_up_to([1, (2, 3)], str, [[9], ((1, 2), 3)]) == \
        keras.tree.map_structure_up_to([1, (2, 3)], str, [[9], ((1, 2), 3)])
    shapes = {"a": (1, 2), "b": [(3,), (None, 4)]}
    assert T.map_shape_structure(len, shapes) == keras.tree.map_shape_structure(len, shapes)


@pytest.mark.parametrize("a, b", [([1, 2], [1, [2]]), ([1, 2], (1, 2)), ({"a": 1}, {"b": 1})])
def test_tree_assert_same_structure_fails_where_keras_fails(a, b):
    with pytest.raises(ValueError):
        keras.tree.assert_same_structure(a, b)
    with pytest.raises(ValueError):
        T.assert_same_structure(a, b)
    T.assert_same_structure(a, a)
    with pytest.raises(ValueError, match="same paths"):
        T.assert_same_paths({"a": 1}, {"b": 1})


def test_random_draws_follow_their_distributions():
    n = 200_000
    x = R.normal((n,), mean=2.0, stddev=3.0, seed=1).numpy()
    assert abs(x.mean() - 2.0) < 0.03 and abs(x.std() - 3.0) < 0.03 and x.dtype == np.float32
    u = R.uniform((n,), minval=-1.0, maxval=3.0, seed=2).numpy()
    assert u.min() >= -1 and u.max() < 3 and abs(u.mean() - 1.0) < 0.02
    t = R.truncated_normal((n,), stddev=2.0, seed=3).numpy()
    assert np.abs(t).max() <= 4.0 and abs(t.std() - 2.0 * 0.8796) < 0.02  # std of N(0,1) cut at +-2
    i = R.randint((n,), 3, 7, seed=4).numpy()
    assert set(np.unique(i)) == {3, 4, 5, 6} and i.dtype == np.int32
    counts = np.bincount(R.categorical(np.log([[0.2, 0.8]]), n, seed=5).numpy()[0], minlength=2) / n
    np.testing.assert_allclose(counts, [0.2, 0.8], atol=0.01)
    g = R.gamma((n,), alpha=2.0, seed=6).numpy()
    assert abs(g.mean() - 2.0) < 0.03
    b = R.beta((n,), 2.0, 6.0, seed=7).numpy()
    assert abs(b.mean() - 0.25) < 0.01
    k = R.binomial((n,), 10, 0.3, seed=8).numpy()
    assert abs(k.mean() - 3.0) < 0.03


def test_random_seeds_are_reproducible_and_seed_generators_advance():
    np.testing.assert_array_equal(R.normal((5,), seed=3).numpy(), R.normal((5,), seed=3).numpy())
    g1, g2 = R.SeedGenerator(7), R.SeedGenerator(7)
    first, second = R.uniform((4,), seed=g1).numpy(), R.uniform((4,), seed=g1).numpy()
    assert not np.array_equal(first, second)
    np.testing.assert_array_equal(first, R.uniform((4,), seed=g2).numpy())
    with pytest.raises(ValueError, match="seed"):
        R.normal((2,), seed="x")


def test_dropout_and_shuffle_match_keras_semantics():
    x = np.ones((1000, 10), dtype="float32")
    ours = R.dropout(x, 0.3, seed=1).numpy()
    theirs = keras.ops.convert_to_numpy(keras.random.dropout(keras.ops.convert_to_tensor(x), 0.3, seed=1))
    for out in (ours, theirs):
        assert set(np.unique(out)) <= {0.0, np.float32(1 / 0.7)}
        assert abs((out == 0).mean() - 0.3) < 0.02
    rows = R.dropout(x, 0.5, noise_shape=(1000, 1), seed=2).numpy()
    assert (rows == rows[:, :1]).all()  # one decision per row
    s = R.shuffle(np.arange(12).reshape(3, 4), axis=1, seed=0).numpy()
    assert sorted(s[0]) == [0, 1, 2, 3] and (s - s[:, :1] == s[0] - s[0, 0]).all()


class Scale(tinydl.layers.Layer):
    def __init__(self, factor=2.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def call(self, x):
        return x * self.factor

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


def _scale_layer(base):
    """The same custom layer written on `base` (tinydl's or Keras's Layer)."""
    class Scale(base):
        def __init__(self, factor=2.0, **kwargs):
            super().__init__(**kwargs)
            self.factor = factor

        def call(self, x):
            return x * self.factor

        def get_config(self):
            return {**super().get_config(), "factor": self.factor}
    return Scale


def test_registration_functions_behave_as_keras():
    for lib, base in ((tinydl, tinydl.layers.Layer), (keras, keras.layers.Layer)):
        cls = _scale_layer(base)
        registered = lib.saving.register_keras_serializable(package="mine")(cls)
        assert lib.saving.get_registered_name(registered) == "mine>Scale"
        assert lib.saving.get_registered_object("mine>Scale") is registered
        assert lib.saving.get_custom_objects()["mine>Scale"] is registered
        assert lib.saving.get_registered_object("nothing_here") is None
        layer = lib.saving.deserialize_keras_object(lib.saving.serialize_keras_object(registered(factor=3.0)))
        assert type(layer) is registered and layer.factor == 3.0
    with tinydl.saving.custom_object_scope({"Scale": Scale}):
        assert tinydl.saving.get_registered_object("Scale") is Scale
    assert tinydl.utils.CustomObjectScope is tinydl.saving.CustomObjectScope


def test_save_and_load_through_the_saving_facade(tmp_path):
    model = tinydl.Sequential([tinydl.Input((3,)), tinydl.layers.Dense(2)])
    x = np.arange(6, dtype="float32").reshape(2, 3)
    tinydl.saving.save_model(model, tmp_path / "m.keras")
    loaded = tinydl.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)
    tinydl.saving.save_weights(model, str(tmp_path / "m.weights.h5"))
    other = tinydl.models.clone_model(model)
    assert not np.allclose(other.predict(x, verbose=0), model.predict(x, verbose=0))
    tinydl.saving.load_weights(other, str(tmp_path / "m.weights.h5"))
    np.testing.assert_allclose(other.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)
    keras_model = keras.saving.load_model(tmp_path / "m.keras")  # Keras reads what the facade wrote
    np.testing.assert_allclose(np.asarray(keras_model.predict(x, verbose=0)), model.predict(x, verbose=0), rtol=1e-5)
    with pytest.raises(ValueError, match=".weights.h5"):
        tinydl.saving.save_weights(model, str(tmp_path / "m.h5"))


def test_clone_model_keeps_the_architecture_and_draws_new_weights():
    for lib in (tinydl, keras):
        inp = lib.Input((3,))
        model = lib.Model(inp, lib.layers.Dense(2, activation="relu", name="d")(lib.layers.Dense(4)(inp)))
        clone = lib.models.clone_model(model)
        assert [type(l).__name__ for l in clone.layers] == [type(l).__name__ for l in model.layers]
        assert [w.shape for w in clone.get_weights()] == [w.shape for w in model.get_weights()]
        assert not np.allclose(clone.get_weights()[0], model.get_weights()[0])
        seq = lib.Sequential([lib.Input((3,)), lib.layers.Dense(4), lib.layers.Dense(1)])
        renamed = lib.models.clone_model(
            seq, clone_function=lambda layer: type(layer).from_config({**layer.get_config(),
                                                                       "name": "c_" + layer.name}))
        assert [l.name for l in renamed.layers] == ["c_" + l.name for l in seq.layers]
    inp = tinydl.Input((2,))
    with pytest.raises(ValueError, match="clone_function"):
        tinydl.models.clone_model(tinydl.Model(inp, tinydl.layers.Dense(1)(inp)), clone_function=lambda layer: layer)


def test_model_from_json_reads_keras_json():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation="tanh")])
    ours = tinydl.models.model_from_json(model.to_json())
    assert isinstance(ours, tinydl.Sequential)
    assert ours.layers[0].units == 2 and ours.layers[0].get_config()["activation"] == "tanh"


def test_config_behaves_as_keras():
    for lib in (keras, tinydl):
        c = lib.utils.Config(a=1)
        c.b = 2
        c["d"] = 4
        assert (c.as_dict(), c.to_json(), len(c), "a" in c, c.get("z", 5), list(c)) == \
            ({"a": 1, "b": 2, "d": 4}, '{"a": 1, "b": 2, "d": 4}', 3, True, 5, ["a", "b", "d"])
        c.freeze()
        assert c.frozen
        with pytest.raises(ValueError, match="frozen"):
            c.e = 1
        with pytest.raises(ValueError, match="frozen"):
            c.update(e=1)
        with pytest.raises(AttributeError, match="Unknown attribute"):
            c.zz
        c.unfreeze()
        c.e = 5
        assert c.e == 5


def test_orthogonal_regularizer_matches_keras_and_a_numpy_reference():
    w = np.random.default_rng(0).normal(size=(5, 3)).astype("float32")
    w[0] = 0.0  # a zero row: normalised safely
    ours = float(tinydl.regularizers.OrthogonalRegularizer(0.3, "rows")(w).numpy())
    theirs = float(keras.ops.convert_to_numpy(keras.regularizers.OrthogonalRegularizer(0.3, "rows")(w)))
    np.testing.assert_allclose(ours, theirs, rtol=1e-6)
    # columns (Keras 3.15 fails on NumPy input here): the mean |cosine| between distinct columns, times factor/2
    unit = w / np.linalg.norm(w, axis=0)
    cos = unit.T @ unit
    expected = 0.3 * 0.5 * np.abs(cos - np.diag(np.diag(cos))).sum() / 3.0
    np.testing.assert_allclose(float(tinydl.regularizers.orthogonal_regularizer(0.3, "columns")(w).numpy()),
                               expected, rtol=1e-6)
    ours, theirs = (lib.regularizers.get("orthogonal_regularizer").get_config() for lib in (tinydl, keras))
    assert ours["mode"] == theirs["mode"] and ours["factor"] == pytest.approx(theirs["factor"])  # Keras: float32
    with pytest.raises(ValueError, match="mode"):
        tinydl.regularizers.OrthogonalRegularizer(mode="diagonal")
