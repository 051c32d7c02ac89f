"""Attention layers: MultiHeadAttention against Keras's formula written in NumPy einsums, masks
(explicit, causal, implicit from Embedding(mask_zero=True)), transformer blocks' padding and causality,
and the clear errors for bad input."""
import numpy as np
import pytest

import tinydl as td
import tinydl.losses  # noqa: F401
from tinydl import layers
from tinydl.models import Model


def softmax_where(logits, allowed):
    """Softmax over the last axis with disallowed positions at weight 0 (rows with none allowed: 0)."""
    logits = np.where(allowed, logits, -np.inf)
    top = logits.max(-1, keepdims=True)
    e = np.where(allowed, np.exp(logits - np.where(np.isfinite(top), top, 0)), 0)
    total = e.sum(-1, keepdims=True)
    return np.where(total > 0, e / np.where(total > 0, total, 1), 0)


def mha_reference(weights, query, value, key, allowed, key_dim):
    """Keras 3 MultiHeadAttention in einsums: project, scale the query, dot, softmax, combine, output."""
    wq, bq, wk, bk, wv, bv, wo, bo = weights
    q = np.einsum("btd,dhk->bthk", query, wq) + bq
    k = np.einsum("bsd,dhk->bshk", key, wk) + bk
    v = np.einsum("bsd,dhk->bshk", value, wv) + bv
    q = q / np.sqrt(key_dim)
    scores = np.einsum("bshk,bthk->bhts", k, q)
    p = softmax_where(scores, allowed[:, None])
    attended = np.einsum("bhts,bshk->bthk", p, v)
    return np.einsum("bthk,hkd->btd", attended, wo) + bo, p


def test_multi_head_attention_matches_keras_formula_with_all_masks():
    td.set_seed(0)
    rng = np.random.default_rng(0)
    query, value, key = rng.standard_normal((2, 4, 6)), rng.standard_normal((2, 5, 3)), rng.standard_normal((2, 5, 7))
    mha = layers.MultiHeadAttention(num_heads=3, key_dim=2, value_dim=4, output_shape=5, dtype="float64")
    attention_mask = rng.random((2, 4, 5)) > 0.2
    value_mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], bool)
    out, scores = mha(query, value, key, attention_mask=attention_mask, value_mask=value_mask,
                      use_causal_mask=True, return_attention_scores=True)
    assert [w.shape for w in mha.weights] == [(6, 3, 2), (3, 2), (7, 3, 2), (3, 2), (3, 3, 4), (3, 4), (3, 4, 5), (5,)]
    allowed = attention_mask & value_mask[:, None, :] & np.tril(np.ones((4, 5), bool))
    ref, ref_p = mha_reference(mha.get_weights(), query, value, key, allowed, 2)
    np.testing.assert_allclose(out.numpy(), ref, atol=1e-12)
    np.testing.assert_allclose(scores.numpy(), ref_p, atol=1e-12)


def test_implicit_masks_come_from_embedding_mask_zero():
    td.set_seed(1)
    ids = np.array([[3, 4, 0, 0], [1, 2, 5, 0]])
    x = layers.Embedding(8, 6, mask_zero=True, dtype="float64")(ids)
    mha = layers.MultiHeadAttention(num_heads=2, key_dim=3, dtype="float64")
    out, scores = mha(x, x, return_attention_scores=True)
    keep = ids != 0
    assert np.all(scores.numpy()[~np.broadcast_to((keep[:, None, :] & keep[:, :, None])[:, None], scores.shape)] == 0)
    np.testing.assert_array_equal(out._keras_mask, keep)
    ref, _ = mha_reference(mha.get_weights(), x.numpy(), x.numpy(), x.numpy(), keep[:, :, None] & keep[:, None, :], 3)
    np.testing.assert_allclose(out.numpy(), ref, atol=1e-12)


def test_encoder_ignores_padding_and_decoder_ignores_the_future():
    td.set_seed(2)
    embed = layers.TokenAndPositionEmbedding(20, 8, 8, mask_zero=True, dtype="float64")
    encoder = layers.TransformerEncoder(16, 2, dtype="float64")
    decoder = layers.TransformerDecoder(16, 2, dtype="float64")
    padded, short = np.array([[5, 6, 7, 0, 0]]), np.array([[5, 6, 7]])
    np.testing.assert_allclose(encoder(embed(padded)).numpy()[:, :3], encoder(embed(short)).numpy(), atol=1e-12)
    a, b = np.array([[5, 6, 7, 8, 9]]), np.array([[5, 6, 7, 1, 2]])
    np.testing.assert_allclose(decoder(embed(a)).numpy()[:, :3], decoder(embed(b)).numpy()[:, :3], atol=1e-12)
    assert not np.allclose(decoder(embed(a)).numpy()[:, 3:], decoder(embed(b)).numpy()[:, 3:])


def test_transformer_blocks_in_a_functional_model_train():
    td.set_seed(3)
    ids = layers.Input((None,), dtype="int64")
    x = layers.TokenAndPositionEmbedding(12, 6, 8, mask_zero=True)(ids)
    x = layers.TransformerEncoder(16, 2)(x)
    x = layers.TransformerDecoder(16, 2)(x, x)
    logits = layers.Dense(12)(x)
    model = Model(ids, logits)
    data = np.random.default_rng(0).integers(1, 12, size=(32, 6))
    model.compile(optimizer="adam", loss=td.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(data, data, epochs=8, batch_size=8, verbose=0)
    assert history.history["loss"][-1] < 0.7 * history.history["loss"][0]


def test_sinusoidal_encoding_follows_keras_hub_formula():
    enc = layers.SinusoidalPositionEncoding(max_wavelength=100)(np.zeros((1, 3, 4), "float32")).numpy()[0]
    pos = np.arange(3)[:, None]
    np.testing.assert_allclose(enc[:, 0], np.sin(pos[:, 0]), atol=1e-6)
    np.testing.assert_allclose(enc[:, 1], np.cos(pos[:, 0]), atol=1e-6)
    np.testing.assert_allclose(enc[:, 2], np.sin(pos[:, 0] / 10), atol=1e-6)
    np.testing.assert_allclose(enc[:, 3], np.cos(pos[:, 0] / 10), atol=1e-6)


def test_dot_attention_layer_matches_formula_and_zeroes_masked_queries():
    rng = np.random.default_rng(4)
    q, v = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 5, 4))
    q_mask, v_mask = np.array([[1, 1, 0], [1, 1, 1]], bool), np.array([[1, 1, 1, 0, 0], [1] * 5], bool)
    layer = layers.Attention(use_scale=True, dtype="float64")
    out = layer([q, v], mask=[q_mask, v_mask]).numpy()
    layer.scale.assign(np.array(2.0))
    out = layer([q, v], mask=[q_mask, v_mask]).numpy()
    p = softmax_where(2.0 * q @ v.transpose(0, 2, 1), v_mask[:, None, :])
    np.testing.assert_allclose(out, (p @ v) * q_mask[..., None], atol=1e-12)


def test_additive_attention_matches_bahdanau_formula():
    rng = np.random.default_rng(5)
    q, v = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 5, 4))
    layer = layers.AdditiveAttention(dtype="float64")
    out = layer([q, v]).numpy()
    scale = layer.scale.numpy()
    scores = (scale * np.tanh(q[:, :, None, :] + v[:, None, :, :])).sum(-1)
    np.testing.assert_allclose(out, softmax_where(scores, np.ones_like(scores, bool)) @ v, atol=1e-12)


def test_bad_inputs_give_errors_naming_the_layer():
    mha = layers.MultiHeadAttention(num_heads=2, key_dim=4, name="mha")
    q, v = np.zeros((2, 3, 8), "float32"), np.zeros((3, 5, 8), "float32")
    with pytest.raises(ValueError, match="MultiHeadAttention 'mha': query, value and key must have the same batch"):
        mha(q, v)
    with pytest.raises(ValueError, match=r"'mha': attention_mask of shape \(2, 3, 4\) does not broadcast"):
        mha(q, v[:2], attention_mask=np.ones((2, 3, 4), bool))
    other = layers.MultiHeadAttention(num_heads=4, key_dim=2)
    other(q, q)
    with pytest.raises(ValueError, match="other num_heads/key_dim"):
        other.set_weights(mha.get_weights())
    with pytest.raises(ValueError, match="'mha' was built for query with last dimension 8"):
        mha(np.zeros((2, 3, 6), "float32"), v[:2])
    with pytest.raises(ValueError, match="must be divisible by num_heads=3"):
        layers.TransformerEncoder(8, 3)(q)


def test_attention_dropout_acts_only_in_training_and_follows_the_seed():
    rng = np.random.default_rng(6)
    q = rng.standard_normal((2, 5, 8)).astype("float32")
    mha = layers.MultiHeadAttention(num_heads=2, key_dim=4, dropout=0.5)
    inference = mha(q, q).numpy()
    np.testing.assert_array_equal(mha(q, q, training=False).numpy(), inference)
    td.set_seed(7)
    first = mha(q, q, training=True).numpy()
    td.set_seed(7)
    np.testing.assert_array_equal(mha(q, q, training=True).numpy(), first)
    assert not np.allclose(first, inference)
