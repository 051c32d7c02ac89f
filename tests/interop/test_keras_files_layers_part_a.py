"""Models of the activation, noise, normalisation, preprocessing and augmentation layers cross between tinydl and
Keras 3 through .h5, .keras and .weights.h5 files and predict the same. Skipped without keras."""
import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

keras = pytest.importorskip("keras")
if keras.backend.backend() != "torch":  # pragma: no cover - another backend was configured first
    pytest.skip("the interop tests run Keras with the torch backend", allow_module_level=True)

import tinydl as td  # noqa: E402
import tinydl.layers as tl  # noqa: E402
from tinydl.models import Model as TdModel, load_model  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")
X = np.random.default_rng(0).uniform(0, 4, (5, 6, 5, 3)).astype("float32")


def part_a_model(L, Model, augment=True):
    """Rescaling, Normalization, Resizing, CenterCrop, RandomFlip/Rotation/Zoom/Translation/Contrast/Brightness,
    GroupNormalization, PReLU, SpatialDropout2D, GaussianNoise, SpectralNormalization, LeakyReLU, ELU, ReLU,
    UnitNormalization, AlphaDropout, GaussianDropout, Softmax."""
    x = L.Input(shape=(6, 5, 3))
    a = L.Normalization(mean=[1.0, 2.0, 1.5], variance=[1.0, 2.0, 0.5])(L.Rescaling(0.5, offset=0.1)(x))
    a = L.CenterCrop(3, 3)(L.Resizing(4, 4)(a))
    augmentations = (L.RandomFlip(), L.RandomRotation(0.1), L.RandomZoom(0.1), L.RandomTranslation(0.1, 0.1),
                     L.RandomContrast(0.2, value_range=(-10, 10)), L.RandomBrightness(0.1, value_range=(-10, 10)))
    for layer in augmentations if augment else ():
        a = layer(a)
    a = L.SpatialDropout2D(0.2)(L.PReLU(alpha_initializer="random_uniform")(L.GroupNormalization(groups=3)(a)))
    h = L.SpectralNormalization(L.Dense(8))(L.GaussianNoise(0.1)(L.Flatten()(a)))
    h = L.ReLU(max_value=2.0)(L.ELU(alpha=0.5)(L.LeakyReLU(0.1)(h)))
    h = L.GaussianDropout(0.1)(L.AlphaDropout(0.1)(L.UnitNormalization()(h)))
    return Model(x, L.Softmax()(L.Dense(3)(h)))


def _same(a, b):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("suffix", [".h5", ".keras"])
def test_tinydl_file_loads_in_keras_and_predicts_the_same(suffix, tmp_path):
    td.set_seed(0)
    ours = part_a_model(tl, TdModel)
    ours.save(str(tmp_path / f"m{suffix}"))
    theirs = keras.models.load_model(str(tmp_path / f"m{suffix}"))
    _same(theirs.predict(X, verbose=0), ours.predict(X, verbose=0))


@pytest.mark.parametrize("suffix", [".h5", ".keras"])
def test_keras_file_loads_in_tinydl_and_predicts_the_same(suffix, tmp_path):
    keras.utils.set_random_seed(0)
    # Keras 3.15 cannot write .h5 with its augmentation layers (deepcopy of a module in their state)
    theirs = part_a_model(keras.layers, keras.Model, augment=suffix == ".keras")
    theirs.save(str(tmp_path / f"k{suffix}"))
    ours = load_model(str(tmp_path / f"k{suffix}"))
    _same(ours.predict(X, verbose=0), theirs.predict(X, verbose=0))


def test_weights_files_cross_both_ways(tmp_path):
    td.set_seed(0)
    ours, theirs = part_a_model(tl, TdModel), part_a_model(keras.layers, keras.Model)
    ours.save_weights(str(tmp_path / "ours.weights.h5"))
    theirs.load_weights(str(tmp_path / "ours.weights.h5"))
    _same(theirs.predict(X, verbose=0), ours.predict(X, verbose=0))
    keras.utils.set_random_seed(1)
    theirs = part_a_model(keras.layers, keras.Model)
    theirs.save_weights(str(tmp_path / "theirs.weights.h5"))
    ours.load_weights(str(tmp_path / "theirs.weights.h5"))
    _same(ours.predict(X, verbose=0), theirs.predict(X, verbose=0))


@pytest.mark.parametrize("suffix", [".h5", ".keras"])
def test_adapted_normalization_crosses_both_ways(suffix, tmp_path):
    data = np.random.default_rng(2).standard_normal((20, 4)).astype("float32") * 3 + 1

    def build(L, Model):
        x = L.Input(shape=(4,))
        norm = L.Normalization()
        norm.adapt(data)
        return Model(x, L.Dense(2)(norm(x)))
    td.set_seed(0)
    ours = build(tl, TdModel)
    ours.save(str(tmp_path / f"ours{suffix}"))
    theirs = keras.models.load_model(str(tmp_path / f"ours{suffix}"))
    _same(theirs.predict(data, verbose=0), ours.predict(data, verbose=0))
    theirs = build(keras.layers, keras.Model)
    theirs.save(str(tmp_path / f"theirs{suffix}"))
    ours = load_model(str(tmp_path / f"theirs{suffix}"))
    _same(ours.predict(data, verbose=0), theirs.predict(data, verbose=0))
