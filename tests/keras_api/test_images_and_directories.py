"""Image utilities (Pillow) against Keras's, and the directory data sets against the files they read."""
import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from tinydl import utils as U  # noqa: E402

PIL = pytest.importorskip("PIL.Image")
keras = pytest.importorskip("keras")
rng = np.random.default_rng(0)


@pytest.fixture(scope="module")
def picture(tmp_path_factory):
    path = tmp_path_factory.mktemp("img") / "p.png"
    PIL.fromarray(rng.integers(0, 256, (12, 20, 3)).astype("uint8")).save(path)
    return str(path)


@pytest.mark.parametrize("kwargs", [{}, {"color_mode": "grayscale"}, {"color_mode": "rgba"},
                                    {"target_size": (6, 8)}, {"target_size": (6, 6), "keep_aspect_ratio": True},
                                    {"target_size": (10, 5), "interpolation": "bilinear"}])
def test_load_img_and_img_to_array_match_keras(picture, kwargs):
    ours = U.img_to_array(U.load_img(picture, **kwargs))
    theirs = keras.utils.img_to_array(keras.utils.load_img(picture, **kwargs))
    np.testing.assert_array_equal(ours, theirs)
    assert ours.dtype == theirs.dtype == np.float32


@pytest.mark.parametrize("channels", [1, 3, 4])
@pytest.mark.parametrize("scale", [True, False])
def test_array_to_img_matches_keras(channels, scale):
    x = rng.uniform(0, 255, (5, 7, channels)).astype("float32")
    ours, theirs = U.array_to_img(x, scale=scale), keras.utils.array_to_img(x, scale=scale)
    assert ours.mode == theirs.mode and ours.size == theirs.size
    np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))


def test_save_img_round_trips_through_a_file(tmp_path):
    x = rng.integers(0, 256, (4, 6, 3)).astype("float32")
    U.save_img(tmp_path / "a.png", x, scale=False)
    keras.utils.save_img(tmp_path / "b.png", x, scale=False)
    np.testing.assert_array_equal(U.img_to_array(U.load_img(tmp_path / "a.png")), x)
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()


def test_image_argument_errors():
    with pytest.raises(ValueError, match="color_mode"):
        U.load_img("x.png", color_mode="cmyk")
    with pytest.raises(ValueError, match="rank 3"):
        U.array_to_img(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="channels_last"):
        U.img_to_array(np.zeros((2, 2, 3)), data_format="channels_first")


@pytest.fixture(scope="module")
def image_tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("images")
    pictures = {}
    for cls, n in (("cat", 3), ("dog", 4)):
        (root / cls).mkdir()
        for i in range(n):
            arr = np.full((8, 8, 3), 10 * i + (100 if cls == "dog" else 0), dtype="uint8")
            PIL.fromarray(arr).save(root / cls / f"{i}.png")
            pictures[str(root / cls / f"{i}.png")] = arr
    (root / "dog" / "notes.txt").write_text("not an image")
    return root, pictures


def test_image_dataset_from_directory_reads_every_file_with_its_class(image_tree):
    root, pictures = image_tree
    ds = U.image_dataset_from_directory(root, image_size=(8, 8), batch_size=3, shuffle=False, verbose=False)
    assert ds.class_names == ["cat", "dog"] and len(ds) == 3
    xs = np.concatenate([x for x, _ in ds])
    ys = np.concatenate([y for _, y in ds])
    assert xs.shape == (7, 8, 8, 3) and xs.dtype == np.float32
    for path, x, y in zip(ds.file_paths, xs, ys):
        np.testing.assert_array_equal(x, pictures[path])
        assert ds.class_names[y] == os.path.basename(os.path.dirname(path))
    assert ys.tolist() == [0, 0, 0, 1, 1, 1, 1]


def test_image_dataset_label_modes_shuffle_and_split(image_tree):
    root, _ = image_tree
    kwargs = dict(image_size=(4, 4), batch_size=None, seed=7, validation_split=0.3, verbose=False)
    train, val = U.image_dataset_from_directory(root, label_mode="categorical", subset="both", **kwargs)
    assert len(train) + len(val) == 7 and len(val) == int(0.3 * 7)
    assert not set(train.file_paths) & set(val.file_paths)
    order = np.arange(7)
    np.random.RandomState(7).shuffle(order)
    listed = sorted(p for p in train.file_paths + val.file_paths)
    assert train.file_paths + val.file_paths == [listed[i] for i in order]
    x, y = train[0]
    assert x.shape == (4, 4, 3) and y.tolist() in ([1.0, 0.0], [0.0, 1.0])
    binary = U.image_dataset_from_directory(root, label_mode="binary", shuffle=False, image_size=(4, 4), verbose=False)
    assert binary[0][1].shape == (7, 1)
    with pytest.raises(ValueError, match="seed"):
        U.image_dataset_from_directory(root, validation_split=0.2, subset="training", verbose=False)


def test_text_dataset_from_directory(tmp_path):
    for cls, texts in (("neg", ["bad", "awful film"]), ("pos", ["good", "great", "fine"])):
        (tmp_path / cls).mkdir()
        for i, text in enumerate(texts):
            (tmp_path / cls / f"{i}.txt").write_text(text)
    ds = U.text_dataset_from_directory(tmp_path, batch_size=2, shuffle=False, max_length=4, verbose=False)
    x = np.concatenate([b[0] for b in ds])
    y = np.concatenate([b[1] for b in ds])
    assert x.tolist() == ["bad", "awfu", "good", "grea", "fine"] and y.tolist() == [0, 0, 1, 1, 1]
    with pytest.raises(ValueError, match="class_names"):
        U.text_dataset_from_directory(tmp_path, class_names=["a", "b"], verbose=False)


def test_a_directory_data_set_trains_a_model(image_tree):
    import tinydl
    root, _ = image_tree
    ds = U.image_dataset_from_directory(root, image_size=(8, 8), batch_size=4, seed=1, verbose=False)
    model = tinydl.Sequential([tinydl.Input((8, 8, 3)), tinydl.layers.Flatten(), tinydl.layers.Dense(2)])
    model.compile(optimizer="adam", loss=tinydl.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(ds, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2 and np.isfinite(history.history["loss"]).all()
