"""Contract cases for the attention layers and transformer blocks (tinydl/layers/attention.py, transformer.py)."""

from tests.contract import LayerCase
from tinydl import layers

ONNX = True


def padded_ids(rng):
    """Token ids with trailing zeros (padding) in the first row."""
    ids = rng.integers(1, 9, size=(2, 5))
    ids[0, 3:] = 0
    return [ids.astype("int64")]


CASES = [
    LayerCase(lambda **kw: layers.MultiHeadAttention(num_heads=2, key_dim=3, **kw), [(2, 4, 6), (2, 5, 6)],
              onnx=ONNX),
    LayerCase(lambda **kw: layers.MultiHeadAttention(num_heads=2, key_dim=2, value_dim=3, output_shape=5, **kw),
              [(2, 4, 6), (2, 4, 7)], call_kwargs={"use_causal_mask": True, "return_attention_scores": True},
              onnx=ONNX, name="MultiHeadAttention-causal-scores"),
    LayerCase(lambda **kw: layers.MultiHeadAttention(num_heads=1, key_dim=4, use_bias=False, **kw),
              [(2, 3, 4), (2, 5, 4), (2, 5, 6)], onnx=ONNX, name="MultiHeadAttention-key-no-bias"),
    LayerCase(lambda **kw: layers.GroupQueryAttention(head_dim=3, num_query_heads=4, num_key_value_heads=2, **kw),
              [(2, 4, 6), (2, 5, 6)], onnx=ONNX),
    LayerCase(lambda **kw: layers.GroupQueryAttention(head_dim=2, num_query_heads=3, num_key_value_heads=1,
                                                      use_gate=True, sliding_window=2, use_bias=False, **kw),
              [(2, 5, 4), (2, 5, 4)], call_kwargs={"use_causal_mask": True, "return_attention_scores": True},
              onnx=ONNX, name="GroupQueryAttention-gate-window-causal-scores"),
    LayerCase(lambda **kw: layers.Attention(**kw), [(2, 4, 6), (2, 5, 6)], onnx=ONNX),
    LayerCase(lambda **kw: layers.Attention(use_scale=True, score_mode="concat", **kw), [(2, 4, 6), (2, 5, 6)],
              call_kwargs={"use_causal_mask": True}, onnx=ONNX, name="Attention-concat-causal"),
    LayerCase(lambda **kw: layers.AdditiveAttention(**kw), [(2, 4, 6), (2, 5, 6), (2, 5, 6)], onnx=ONNX),
    LayerCase(lambda **kw: layers.PositionEmbedding(sequence_length=7, **kw), (2, 5, 4), onnx=ONNX),
    LayerCase(lambda **kw: layers.SinusoidalPositionEncoding(**kw), (2, 5, 6), grad=False, onnx=ONNX),
    LayerCase(lambda **kw: layers.TokenAndPositionEmbedding(10, 6, 4, mask_zero=True, **kw),
              make_inputs=padded_ids, onnx=ONNX),
    LayerCase(lambda **kw: layers.TransformerEncoder(intermediate_dim=12, num_heads=2, **kw), (2, 5, 8), onnx=ONNX),
    LayerCase(lambda **kw: layers.TransformerEncoder(intermediate_dim=12, num_heads=2, normalize_first=True,
                                                     activation="gelu", **kw), (2, 5, 8), onnx=ONNX,
              name="TransformerEncoder-normalize-first"),
    LayerCase(lambda **kw: layers.TransformerDecoder(intermediate_dim=12, num_heads=2, **kw), [(2, 5, 8), (2, 4, 8)],
              onnx=ONNX),
    LayerCase(lambda **kw: layers.TransformerDecoder(intermediate_dim=12, num_heads=2, normalize_first=True, **kw),
              (2, 5, 8), onnx=ONNX, name="TransformerDecoder-decoder-only"),
]
