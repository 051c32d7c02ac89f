"""Activation layers, noise layers, UnitNormalization, GroupNormalization and SpectralNormalization against
Keras 3 (torch backend) with the same inputs and weights; config keys as Keras's. Skipped without keras."""
import numpy as np
import pytest

from tests.keras_torch import keras_on_torch

keras = keras_on_torch("the interop tests run Keras with the torch backend")

import tinydl.layers as tl  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
TOL = {"rtol": 1e-5, "atol": 1e-5}


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _pair(name, *args, x, **kwargs):
    """(keras layer, tinydl layer), both built on x, tinydl's weights set to Keras's randomised ones."""
    k, t = getattr(keras.layers, name)(*args, **kwargs), getattr(tl, name)(*args, **kwargs)
    k(x)
    t(x)
    weights = [np.random.default_rng(1).standard_normal(np.shape(w)).astype("float32") for w in k.get_weights()]
    k.set_weights(weights)
    t.set_weights(weights)
    assert [w.name for w in t.weights] == [w.name for w in k.weights]
    return k, t


CASES = [
    ("ReLU", (), {}), ("ReLU", (), {"max_value": 0.7, "negative_slope": 0.2, "threshold": 0.1}),
    ("LeakyReLU", (), {}), ("LeakyReLU", (), {"negative_slope": 0.01}),
    ("PReLU", (), {}), ("PReLU", (), {"shared_axes": [1, 2]}),
    ("ELU", (), {}), ("ELU", (), {"alpha": 0.3}),
    ("Softmax", (), {}), ("Softmax", (), {"axis": 1}), ("Softmax", (), {"axis": [1, 2]}),
    ("UnitNormalization", (), {}), ("UnitNormalization", (), {"axis": [1, 3]}),
    ("GroupNormalization", (), {"groups": 2}), ("GroupNormalization", (), {"groups": 3, "axis": 1, "epsilon": 0.1}),
    ("GroupNormalization", (), {"groups": 1, "center": False}),
    ("GaussianNoise", (0.2,), {}), ("GaussianDropout", (0.2,), {}), ("AlphaDropout", (0.2,), {}),
    ("SpatialDropout2D", (0.3,), {}), ("SpatialDropout2D", (0.3,), {"data_format": "channels_first"}),
]


@pytest.mark.parametrize("name,args,kwargs", CASES, ids=[f"{n}{k}" for n, _, k in CASES])
def test_inference_outputs_and_config_keys_match_keras(name, args, kwargs):
    x = (np.random.default_rng(0).standard_normal((2, 6, 3, 4)) + np.arange(4)).astype("float32")
    k, t = _pair(name, *args, x=x, **kwargs)
    np.testing.assert_allclose(t(x).numpy(), _np(k(x)), **TOL)
    assert set(t.get_config()) == set(k.get_config())


def test_softmax_mask_zeroes_masked_positions_as_keras():
    x = np.random.default_rng(2).standard_normal((2, 3, 4)).astype("float32")
    mask = np.array([[[1, 1, 0, 1]] * 3, [[0, 0, 0, 0]] * 3], dtype=bool)
    np.testing.assert_allclose(tl.Softmax()(x, mask=mask).numpy(), _np(keras.layers.Softmax()(x, mask=mask)), **TOL)


@pytest.mark.parametrize("power_iterations", [1, 3])
def test_spectral_normalization_training_step_matches_keras(power_iterations):
    x = np.random.default_rng(3).standard_normal((4, 5)).astype("float32")
    k = keras.layers.SpectralNormalization(keras.layers.Dense(3), power_iterations=power_iterations)
    t = tl.SpectralNormalization(tl.Dense(3), power_iterations=power_iterations)
    k(x)
    t(x)
    assert [w.name for w in t.weights] == [w.name for w in k.weights]
    t.set_weights(k.get_weights())
    for _ in range(2):
        np.testing.assert_allclose(t(x, training=True).numpy(), _np(k(x, training=True)), **TOL)
    for a, b in zip(t.get_weights(), k.get_weights()):
        np.testing.assert_allclose(a, b, **TOL)
    np.testing.assert_allclose(t(x).numpy(), _np(k(x)), **TOL)
