"""The attention layers give Keras 3's numbers with the same weights (real `keras`, torch backend; skipped
when keras is not installed)."""
import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

keras = pytest.importorskip("keras")
if keras.backend.backend() != "torch":  # pragma: no cover - another backend was configured first
    pytest.skip("these tests run Keras with the torch backend", allow_module_level=True)
pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning"), pytest.mark.filterwarnings("ignore::UserWarning")]

from tinydl import layers  # noqa: E402


def to_numpy(x):
    return keras.ops.convert_to_numpy(x)


def test_multi_head_attention_matches_keras_with_masks_and_causal():
    rng = np.random.default_rng(0)
    q, v, k = (rng.standard_normal(s).astype("float32") for s in ((2, 4, 6), (2, 5, 3), (2, 5, 7)))
    mask = rng.random((2, 4, 5)) > 0.2
    mask[:, :, 0] = True  # no fully masked query: Keras spreads those uniformly, tinydl gives them zero
    ours = layers.MultiHeadAttention(3, 2, value_dim=4, output_shape=5)
    out, scores = ours(q, v, k, attention_mask=mask, use_causal_mask=True, return_attention_scores=True)
    theirs = keras.layers.MultiHeadAttention(3, 2, value_dim=4, output_shape=5)
    theirs(q, v, k)
    assert [w.shape for w in theirs.get_weights()] == [w.shape for w in ours.get_weights()]
    theirs.set_weights(ours.get_weights())
    k_out, k_scores = theirs(q, v, k, attention_mask=mask, use_causal_mask=True, return_attention_scores=True)
    np.testing.assert_allclose(out.numpy(), to_numpy(k_out), atol=1e-5)
    np.testing.assert_allclose(scores.numpy(), to_numpy(k_scores), atol=1e-6)


def test_implicit_padding_masks_match_keras_on_real_tokens():
    ids = np.array([[3, 4, 5, 0, 0], [1, 2, 3, 4, 5]])
    ours_embed = layers.Embedding(8, 6, mask_zero=True)
    ours = layers.MultiHeadAttention(2, 3)
    out = ours(ours_embed(ids), ours_embed(ids))
    theirs_embed = keras.layers.Embedding(8, 6, mask_zero=True)
    theirs = keras.layers.MultiHeadAttention(2, 3)
    x = theirs_embed(ids)
    theirs(x, x)
    theirs_embed.set_weights(ours_embed.get_weights())
    theirs.set_weights(ours.get_weights())
    x = theirs_embed(ids)
    real = ids != 0
    np.testing.assert_allclose(out.numpy()[real], to_numpy(theirs(x, x))[real], atol=1e-5)


@pytest.mark.parametrize("name, kwargs", [("Attention", {}), ("Attention", {"use_scale": True}),
                                          ("Attention", {"score_mode": "concat", "use_scale": True}),
                                          ("AdditiveAttention", {})])
def test_dot_and_additive_attention_match_keras(name, kwargs):
    rng = np.random.default_rng(1)
    q, v = rng.standard_normal((2, 4, 6)).astype("float32"), rng.standard_normal((2, 3, 6)).astype("float32")
    v_mask = np.array([[1, 1, 0], [1, 1, 1]], bool)
    ours = getattr(layers, name)(**kwargs)
    out = ours([q, v], mask=[None, v_mask])
    theirs = getattr(keras.layers, name)(**kwargs)
    theirs([q, v])
    theirs.set_weights(ours.get_weights())
    np.testing.assert_allclose(out.numpy(), to_numpy(theirs([q, v], mask=[None, v_mask])), atol=1e-5)
