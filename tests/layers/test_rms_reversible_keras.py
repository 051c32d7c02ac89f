"""RMSNormalization and ReversibleEmbedding give Keras 3's numbers, weight names and configs with the same
weights (real `keras`, torch backend; skipped when keras is not installed)."""
import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

keras = pytest.importorskip("keras")
if keras.backend.backend() != "torch":  # pragma: no cover - another backend was configured first
    pytest.skip("these tests run Keras with the torch backend", allow_module_level=True)
pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning"),
              pytest.mark.filterwarnings("ignore::UserWarning")]

import tinydl as td  # noqa: E402
from tinydl import layers  # noqa: E402


def to_numpy(x):
    return keras.ops.convert_to_numpy(x)


def shared_weights(ours, theirs, rng):
    """The same random weights in both layers (built already), in Keras's order."""
    weights = [rng.standard_normal(w.shape).astype("float32") for w in theirs.get_weights()]
    theirs.set_weights(weights)
    ours.set_weights(weights)


# Keras's torch path calls F.rms_norm, which only takes trailing axes: axis=1 of a 3-d input fails there
@pytest.mark.parametrize("kwargs", [{}, {"axis": [1, 2]}, {"axis": -1, "epsilon": 0.5}, {"axis": [-2, -1]}])
def test_rms_normalization_matches_keras(kwargs):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 4)).astype("float32")
    ours, theirs = layers.RMSNormalization(**kwargs), keras.layers.RMSNormalization(**kwargs)
    ours(x), theirs(x)
    assert [w.name for w in ours.weights] == [w.name for w in theirs.weights] == ["scale"]
    assert ours.weights[0].shape == tuple(theirs.weights[0].shape)
    shared_weights(ours, theirs, rng)
    np.testing.assert_allclose(ours(x).numpy(), to_numpy(theirs(x)), rtol=1e-5, atol=1e-6)
    mine, keras_config = ours.get_config(), theirs.get_config()
    assert {k: mine[k] for k in ("axis", "epsilon")} == {k: keras_config[k] for k in ("axis", "epsilon")}


def test_rms_normalization_normalises_a_middle_axis_with_its_scale_on_that_axis():
    x = np.arange(24, dtype="float32").reshape(2, 3, 4) + 1
    layer = layers.RMSNormalization(axis=1, epsilon=0.0)
    layer(x)
    layer.set_weights([np.array([1.0, 2.0, 3.0], "float32")])
    rms = np.sqrt((x ** 2).mean(axis=1, keepdims=True))
    np.testing.assert_allclose(layer(x).numpy(), x / rms * np.array([1, 2, 3]).reshape(1, 3, 1), rtol=1e-6)


def test_rms_normalization_rejects_an_axis_outside_the_input():
    with pytest.raises(ValueError, match="axis 3 is out of bounds"):
        layers.RMSNormalization(axis=3)(np.ones((2, 3, 4), "float32"))
    with pytest.raises(TypeError, match="axis"):
        layers.RMSNormalization(axis="last")


@pytest.mark.parametrize("kwargs", [{}, {"tie_weights": False}, {"logit_soft_cap": 0.5},
                                    {"mask_zero": True, "tie_weights": False, "logit_soft_cap": 3.0}])
def test_reversible_embedding_matches_keras_both_ways(kwargs):
    rng = np.random.default_rng(1)
    ids = rng.integers(0, 7, (2, 5))
    ids[0, 3:] = 0
    vectors = rng.standard_normal((2, 5, 3)).astype("float32")
    ours, theirs = layers.ReversibleEmbedding(7, 3, **kwargs), keras.layers.ReversibleEmbedding(7, 3, **kwargs)
    ours(ids), theirs(ids)
    assert [w.name for w in ours.weights] == [w.name for w in theirs.weights]
    shared_weights(ours, theirs, rng)
    forward, keras_forward = ours(ids), theirs(ids)
    np.testing.assert_array_equal(forward.numpy(), to_numpy(keras_forward))
    logits, keras_logits = ours(vectors, reverse=True), theirs(vectors, reverse=True)
    assert logits.shape == (2, 5, 7)
    np.testing.assert_allclose(logits.numpy(), to_numpy(keras_logits), rtol=1e-5, atol=1e-6)
    if kwargs.get("mask_zero"):
        np.testing.assert_array_equal(np.asarray(ours.compute_mask(ids)), to_numpy(keras_forward._keras_mask))
    mine, keras_config = ours.get_config(), theirs.get_config()
    keys = ("input_dim", "output_dim", "tie_weights", "reverse_dtype", "logit_soft_cap", "mask_zero")
    assert {k: mine[k] for k in keys} == {k: keras_config[k] for k in keys}


def test_reversible_embedding_loads_keras_config():
    theirs = keras.layers.ReversibleEmbedding(9, 4, tie_weights=False, logit_soft_cap=2.0)
    config = {k: v for k, v in theirs.get_config().items() if k != "quantization_config"}
    ours = layers.ReversibleEmbedding.from_config(config)
    assert (ours.input_dim, ours.output_dim, ours.tie_weights, ours.logit_soft_cap) == (9, 4, False, 2.0)


def test_reversible_embedding_soft_caps_logits_and_casts_to_reverse_dtype():
    layer = layers.ReversibleEmbedding(4, 2, logit_soft_cap=1.0, reverse_dtype="float64")
    layer(np.zeros((1, 1), "int64"))
    layer.set_weights([np.full((4, 2), 5.0, "float32")])
    logits = layer(td.tensor(np.ones((1, 2), "float32")), reverse=True)
    assert logits.dtype == np.float64
    np.testing.assert_allclose(logits.numpy(), np.tanh(10.0) * np.ones((1, 4)))


def test_reversible_embedding_refuses_what_it_cannot_compute():
    with pytest.raises(ValueError, match="reverse_dtype"):
        layers.ReversibleEmbedding(4, 2, reverse_dtype="bfloat16")
    with pytest.raises(ValueError, match="logit_soft_cap"):
        layers.ReversibleEmbedding(4, 2, logit_soft_cap=0.0)
