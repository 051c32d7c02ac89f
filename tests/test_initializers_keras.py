"""Every keras.initializers name against Keras 3 itself (torch backend): deterministic initializers give the
same values exactly (Zeros, Ones, Constant, Identity, STFT), random ones the same distribution (moments,
bounds, orthogonality) and the same config. Skipped without keras and torch."""

import numpy as np
import pytest

from tests.keras_torch import keras_on_torch

keras = keras_on_torch("these comparisons run Keras on its torch backend")

import tinydl as td  # noqa: E402
from tinydl import initializers  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")


def k2np(x):
    return np.asarray(keras.ops.convert_to_numpy(x), dtype=np.float64)


@pytest.mark.parametrize("name,kwargs,shape", [
    ("Zeros", {}, (3, 4)), ("Ones", {}, (2, 3, 2)), ("Constant", {"value": -1.5}, (5,)),
    ("Identity", {"gain": 2.5}, (3, 5)), ("Identity", {}, (4, 2)),
    ("STFT", {}, (16, 1, 9)), ("STFT", {"side": "imag", "window": "hamming", "scaling": "spectrum"}, (8, 2, 5)),
    ("STFT", {"window": "blackman", "periodic": True}, (10, 1, 6)),
    ("STFT", {"window": "bartlett", "scaling": None, "side": "imag"}, (7, 3, 4)),
    ("STFT", {"window": "boxcar"}, (6, 1, 4)), ("STFT", {"window": None}, (5, 2, 3)),
    ("STFT", {"window": [0.1, 0.5, 1.0, 0.5, 0.2]}, (5, 1, 3)),
])
def test_deterministic_initializers_equal_keras(name, kwargs, shape):
    expected = k2np(getattr(keras.initializers, name)(**kwargs)(shape))
    got = getattr(initializers, name)(**kwargs)(shape)
    assert got.shape == shape and got.dtype == np.float32
    expected = np.broadcast_to(expected, shape)     # Keras's STFT gives one channel whatever the shape asks
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_stft_kernel_in_a_conv_computes_the_dft_of_each_frame():
    """Real and imaginary kernels with a boxcar window and no scaling are numpy's rfft of each frame."""
    frame = np.random.default_rng(0).normal(size=8)
    real = initializers.STFT("real", window=None, scaling=None)((8, 1, 5), dtype="float64")[:, 0, :]
    imag = initializers.STFT("imag", window=None, scaling=None)((8, 1, 5), dtype="float64")[:, 0, :]
    np.testing.assert_allclose(frame @ real + 1j * (frame @ imag), np.fft.rfft(frame), atol=1e-12)


@pytest.mark.parametrize("kwargs,match", [({"side": "both"}, "side"), ({"window": "kaiserr"}, "window"),
                                          ({"scaling": "power"}, "scaling")])
def test_stft_bad_arguments_are_clear_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        initializers.STFT(**kwargs)
    with pytest.raises(ValueError, match="frame_length"):
        initializers.STFT()((4, 3))


RANDOM = [
    ("RandomNormal", {"mean": 0.3, "stddev": 0.2}), ("RandomUniform", {"minval": -0.2, "maxval": 0.6}),
    ("TruncatedNormal", {"mean": -0.1, "stddev": 0.3}),
    ("VarianceScaling", {"scale": 2.0, "mode": "fan_avg", "distribution": "untruncated_normal"}),
    ("VarianceScaling", {"scale": 0.5, "mode": "fan_out", "distribution": "uniform"}),
    ("GlorotNormal", {}), ("GlorotUniform", {}), ("HeNormal", {}), ("HeUniform", {}), ("LecunNormal", {}),
    ("LecunUniform", {}), ("Orthogonal", {"gain": 1.5}),
]


@pytest.mark.parametrize("name,kwargs", RANDOM, ids=[n + str(k) for n, k in RANDOM])
def test_random_initializers_match_keras_in_distribution(name, kwargs):
    shape = (60, 4, 25)                                  # fans: in 240, out 100 (receptive field 60)
    theirs = k2np(getattr(keras.initializers, name)(seed=7, **kwargs)(shape))
    td.set_seed(7)
    ours = getattr(initializers, name)(**kwargs)(shape).astype(np.float64)
    assert ours.shape == theirs.shape
    assert abs(ours.mean() - theirs.mean()) < 4 * theirs.std() / np.sqrt(ours.size) + 1e-9
    assert ours.std() == pytest.approx(theirs.std(), rel=0.06)
    assert ours.min() >= theirs.min() - 0.15 * np.ptp(theirs) and ours.max() <= theirs.max() + 0.15 * np.ptp(theirs)
    if name == "Orthogonal":
        flat = ours.reshape(-1, shape[-1])
        np.testing.assert_allclose(flat.T @ flat, 1.5 ** 2 * np.eye(shape[-1]), atol=1e-5)


@pytest.mark.parametrize("name", sorted(n for n in dir(keras.initializers) if n[0].isupper()
                                        and n not in ("Initializer",)))
def test_every_keras_initializer_exists_with_keras_config(name):
    kcls = getattr(keras.initializers, name)
    args = {"Constant": {"value": 0.5}}.get(kcls.__name__, {})
    config = getattr(initializers, name)(**args).get_config()
    expected = kcls(**args).get_config()
    if kcls.__name__ == "Identity":
        expected["gain"] = 1.0        # Keras 3.15's Identity forgets its gain in get_config; tinydl keeps it
    assert config == expected
    assert initializers.get(name).__class__ is getattr(initializers, name)
