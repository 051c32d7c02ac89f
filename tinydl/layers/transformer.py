"""Transformer building blocks with keras_hub's names, arguments and weight order.

PositionEmbedding (learned), SinusoidalPositionEncoding, TokenAndPositionEmbedding, TransformerEncoder
and TransformerDecoder. Padding masks flow from `Embedding(mask_zero=True)` / TokenAndPositionEmbedding
into the attention of the blocks, as in keras_hub.
"""
import numpy as np

from tinydl import activations, ops
from tinydl.io.config import deserialize, serialize
from tinydl.layers.base import Layer, to_tensor
from tinydl.tensor import Tensor
from tinydl.layers.attention import MultiHeadAttention
from tinydl.layers.core import Dense, Dropout
from tinydl.layers.embedding import Embedding
from tinydl.layers.normalization import LayerNormalization

__all__ = ["PositionEmbedding", "SinusoidalPositionEncoding", "TokenAndPositionEmbedding", "TransformerEncoder",
           "TransformerDecoder"]


class PositionEmbedding(Layer):
    """Learned position vectors: returns `embeddings[start_index:start_index + T]` broadcast to the
    input's shape (batch, T, dim), to be added to it (keras_hub). Weight: `embeddings` (sequence_length, dim).
    """

    supports_masking = True

    def __init__(self, sequence_length, initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        if sequence_length is None or int(sequence_length) <= 0:
            raise ValueError(f"PositionEmbedding '{self.name}' needs a positive sequence_length, got {sequence_length}")
        self.sequence_length = int(sequence_length)
        self.initializer = deserialize(initializer) if isinstance(initializer, dict) else initializer

    def build(self, input_shape):
        init = "random_uniform" if self.initializer == "uniform" else self.initializer  # Keras's alias
        self.position_embeddings = self.add_weight("embeddings", (self.sequence_length, input_shape[-1]), init)
        self.built = True

    def call(self, inputs, start_index=0):
        length = inputs.shape[-2]
        if start_index + length > self.sequence_length:
            raise ValueError(f"PositionEmbedding '{self.name}' has sequence_length={self.sequence_length}, got a "
                             f"sequence of length {length} starting at {start_index} "
                             f"(input shape {tuple(inputs.shape)})")
        width = self.position_embeddings.shape[-1]
        if inputs.shape[-1] != width:
            raise ValueError(f"PositionEmbedding '{self.name}' was built for width {width}, "
                             f"got input of shape {tuple(inputs.shape)}")
        rows = self.position_embeddings[start_index:start_index + length]
        return ops.broadcast_to(rows, tuple(inputs.shape))

    def get_config(self):
        return {**super().get_config(), "sequence_length": self.sequence_length,
                "initializer": serialize(self.initializer)}


class SinusoidalPositionEncoding(Layer):
    """Fixed sin/cos position encodings shaped like the input (batch, T, dim), as keras_hub: even
    features sin(pos / max_wavelength^(2i/dim)), odd ones the matching cos. No weights."""

    supports_masking = True

    def __init__(self, max_wavelength=10000, **kwargs):
        super().__init__(**kwargs)
        self.max_wavelength = max_wavelength

    def call(self, inputs, start_index=0):
        length, dim = inputs.shape[-2], inputs.shape[-1]
        position = np.arange(length, dtype=np.float64) + start_index
        features = np.arange(dim)
        timescales = (1.0 / self.max_wavelength) ** (2 * (features // 2) / dim)
        angles = position[:, None] * timescales[None, :]
        table = np.where(features % 2 == 1, np.cos(angles), np.sin(angles)).astype(inputs.dtype)
        return Tensor(np.broadcast_to(table, tuple(inputs.shape)).copy(), device=inputs.device)

    def get_config(self):
        return {**super().get_config(), "max_wavelength": self.max_wavelength}


class TokenAndPositionEmbedding(Layer):
    """Token embedding plus learned position embedding (keras_hub): ids (batch, T) -> (batch, T, embedding_dim).

    Weights: token_embedding/embeddings (vocabulary_size, embedding_dim), then
    position_embedding/embeddings (sequence_length, embedding_dim). `mask_zero=True` makes id 0
    padding, and the output carries the mask `ids != 0`.
    """

    def __init__(self, vocabulary_size, sequence_length, embedding_dim, tie_weights=True,
                 embeddings_initializer="uniform", mask_zero=False, **kwargs):
        super().__init__(**kwargs)
        self.vocabulary_size = int(vocabulary_size)
        self.sequence_length = int(sequence_length)
        self.embedding_dim = int(embedding_dim)
        self.tie_weights = bool(tie_weights)
        self.embeddings_initializer = (deserialize(embeddings_initializer) if isinstance(embeddings_initializer, dict)
                                       else embeddings_initializer)
        self.mask_zero = bool(mask_zero)
        self.supports_masking = self.mask_zero
        self.token_embedding = Embedding(self.vocabulary_size, self.embedding_dim,
                                         embeddings_initializer=self.embeddings_initializer,
                                         mask_zero=self.mask_zero, dtype=self.dtype, name="token_embedding")
        self.position_embedding = PositionEmbedding(self.sequence_length, initializer=self.embeddings_initializer,
                                                    dtype=self.dtype, name="position_embedding")

    def call(self, inputs, start_index=0):
        tokens = self.token_embedding(inputs)
        return tokens + self.position_embedding(tokens, start_index=start_index)

    def compute_mask(self, inputs, mask=None):
        return self.token_embedding.compute_mask(inputs, mask)

    def get_config(self):
        return {**super().get_config(), "vocabulary_size": self.vocabulary_size,
                "sequence_length": self.sequence_length, "embedding_dim": self.embedding_dim,
                "tie_weights": self.tie_weights, "embeddings_initializer": serialize(self.embeddings_initializer),
                "mask_zero": self.mask_zero}


class _TransformerBlock(Layer):
    """What encoder and decoder share: arguments, config, sub-layer factories, residual steps."""

    supports_masking = True

    def __init__(self, intermediate_dim, num_heads, dropout=0, activation="relu", layer_norm_epsilon=1e-05,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", normalize_first=False, **kwargs):
        super().__init__(**kwargs)
        if int(intermediate_dim) <= 0 or int(num_heads) <= 0:
            raise ValueError(f"{type(self).__name__} '{self.name}' needs positive intermediate_dim and num_heads, "
                             f"got {intermediate_dim} and {num_heads}")
        self.intermediate_dim = int(intermediate_dim)
        self.num_heads = int(num_heads)
        self.dropout = float(dropout)
        self.activation = activations.get(activation)
        self.layer_norm_epsilon = float(layer_norm_epsilon)
        self.kernel_initializer = deserialize(kernel_initializer) if isinstance(kernel_initializer, dict) \
            else kernel_initializer
        self.bias_initializer = deserialize(bias_initializer) if isinstance(bias_initializer, dict) \
            else bias_initializer
        self.normalize_first = bool(normalize_first)
        self._hidden_dim = None

    def _key_dim(self, hidden_dim):
        if hidden_dim % self.num_heads:
            raise ValueError(f"{type(self).__name__} '{self.name}': the input width {hidden_dim} must be divisible "
                             f"by num_heads={self.num_heads}")
        return hidden_dim // self.num_heads

    def _attention(self, name, hidden_dim):
        return MultiHeadAttention(self.num_heads, self._key_dim(hidden_dim), dropout=self.dropout,
                                  kernel_initializer=self.kernel_initializer, bias_initializer=self.bias_initializer,
                                  dtype=self.dtype, name=name)

    def _norm(self, name):
        return LayerNormalization(epsilon=self.layer_norm_epsilon, dtype=self.dtype, name=name)

    def _dense(self, units, name, activation=None):
        return Dense(units, activation=activation, kernel_initializer=self.kernel_initializer,
                     bias_initializer=self.bias_initializer, dtype=self.dtype, name=name)

    def _dropout(self, name):
        return Dropout(self.dropout, dtype=self.dtype, name=name)

    def _feedforward_layers(self, hidden_dim, norm_first):
        """keras_hub makes the encoder's feed-forward norm before its dense layers, the decoder's after."""
        if norm_first:
            self._feedforward_layer_norm = self._norm("feedforward_layer_norm")
        self._feedforward_intermediate_dense = self._dense(self.intermediate_dim, "feedforward_intermediate_dense",
                                                           self.activation)
        self._feedforward_output_dense = self._dense(hidden_dim, "feedforward_output_dense")
        if not norm_first:
            self._feedforward_layer_norm = self._norm("feedforward_layer_norm")
        self._feedforward_dropout = self._dropout("feedforward_dropout")

    def _attention_step(self, x, attention, norm, dropout, training, **attention_kwargs):
        """Residual around (pre- or post-) normalised attention, as keras_hub."""
        residual = x
        if self.normalize_first:
            x = _keep_mask(norm(x), residual)
        x = attention(x, training=training, **attention_kwargs)
        x = dropout(x, training=training) + residual
        return norm(x) if not self.normalize_first else x

    def _feedforward_step(self, x, training):
        residual = x
        if self.normalize_first:
            x = self._feedforward_layer_norm(x)
        x = self._feedforward_output_dense(self._feedforward_intermediate_dense(x))
        x = self._feedforward_dropout(x, training=training) + residual
        return self._feedforward_layer_norm(x) if not self.normalize_first else x

    def _check_width(self, x, label):
        if x.ndim != 3:
            raise ValueError(f"{type(self).__name__} '{self.name}' expects {label} of shape (batch, length, dim), "
                             f"got {tuple(x.shape)}")
        if self._hidden_dim is not None and x.shape[-1] != self._hidden_dim:
            raise ValueError(f"{type(self).__name__} '{self.name}' was built for width {self._hidden_dim}, got "
                             f"{label} of shape {tuple(x.shape)}")

    def get_config(self):
        return {**super().get_config(), "intermediate_dim": self.intermediate_dim, "num_heads": self.num_heads,
                "dropout": self.dropout, "activation": activations.serialize(self.activation),
                "layer_norm_epsilon": self.layer_norm_epsilon,
                "kernel_initializer": serialize(self.kernel_initializer),
                "bias_initializer": serialize(self.bias_initializer), "normalize_first": self.normalize_first}


class TransformerEncoder(_TransformerBlock):
    """keras_hub's encoder block: self-attention then a feed-forward network, each with a residual,
    dropout and layer norm (after, or before with normalize_first). `encoder(x, padding_mask=None,
    attention_mask=None)`; the padding mask defaults to the input's implicit mask.

    Weights in keras_hub's order: self_attention_layer (8), self_attention_layer_norm (2),
    feedforward_layer_norm (2), feedforward_intermediate_dense (2), feedforward_output_dense (2).
    """

    def build(self, input_shape):
        hidden = input_shape[-1]
        self._hidden_dim = hidden
        self._self_attention_layer = self._attention("self_attention_layer", hidden)
        self._self_attention_layer_norm = self._norm("self_attention_layer_norm")
        self._self_attention_dropout = self._dropout("self_attention_dropout")
        self._feedforward_layers(hidden, norm_first=True)
        self.built = True

    def call(self, inputs, padding_mask=None, attention_mask=None, training=None, return_attention_scores=False):
        self._check_width(inputs, "inputs")
        mask = _merge_padding_and_attention_mask(inputs, padding_mask, attention_mask)
        scores = []
        x = self._attention_step(inputs, self._self_attention_attend, self._self_attention_layer_norm,
                                 self._self_attention_dropout, training, mask=mask,
                                 scores=scores if return_attention_scores else None)
        x = self._feedforward_step(x, training)
        return (x, scores[0]) if return_attention_scores else x

    def _self_attention_attend(self, x, training, mask, scores):
        if scores is None:
            return self._self_attention_layer(x, x, attention_mask=mask, training=training)
        out, weights = self._self_attention_layer(x, x, attention_mask=mask, training=training,
                                                  return_attention_scores=True)
        scores.append(weights)
        return out


class TransformerDecoder(_TransformerBlock):
    """keras_hub's decoder block: causal self-attention, cross-attention to `encoder_sequence` (when
    given), then a feed-forward network; each with residual, dropout and layer norm.

    `decoder(decoder_sequence, encoder_sequence=None, use_causal_mask=True)`, or a list
    [decoder_sequence, encoder_sequence]. Padding masks of both sequences (implicit or given as
    decoder_padding_mask / encoder_padding_mask) hide padded keys. A decoder made without an
    encoder sequence has no cross-attention weights, as in keras_hub.

    Weights in keras_hub's order: self_attention (8), self_attention_layer_norm (2), cross_attention (8)
    and cross_attention_layer_norm (2) when built with an encoder sequence, feedforward_intermediate_dense
    (2), feedforward_output_dense (2), feedforward_layer_norm (2).
    """

    def build(self, decoder_sequence_shape, encoder_sequence_shape=None):
        if isinstance(decoder_sequence_shape, list) and decoder_sequence_shape and \
                isinstance(decoder_sequence_shape[0], (list, tuple)):
            decoder_sequence_shape, encoder_sequence_shape = (list(decoder_sequence_shape) + [None])[:2]
        self._hidden_dim = decoder_sequence_shape[-1]
        self._has_cross = None
        if encoder_sequence_shape is not None:
            self._make_sublayers(True)
        self.built = True

    def _make_sublayers(self, with_cross):
        hidden = self._hidden_dim
        self._self_attention_layer = self._attention("self_attention", hidden)
        self._self_attention_layer_norm = self._norm("self_attention_layer_norm")
        self._self_attention_dropout = self._dropout("self_attention_dropout")
        if with_cross:
            self._cross_attention_layer = self._attention("cross_attention", hidden)
            self._cross_attention_layer_norm = self._norm("cross_attention_layer_norm")
            self._cross_attention_dropout = self._dropout("cross_attention_dropout")
        self._feedforward_layers(hidden, norm_first=False)
        self._has_cross = with_cross

    def call(self, decoder_sequence, encoder_sequence=None, decoder_padding_mask=None, decoder_attention_mask=None,
             encoder_padding_mask=None, encoder_attention_mask=None, use_causal_mask=True, training=None):
        if isinstance(decoder_sequence, (list, tuple)):
            decoder_sequence, encoder_sequence = (list(decoder_sequence) + [None])[:2]
        x = decoder_sequence
        self._check_width(x, "decoder_sequence")
        if encoder_sequence is not None:
            encoder_sequence = to_tensor(encoder_sequence, self.dtype)
            self._check_width(encoder_sequence, "encoder_sequence")
            if encoder_sequence.shape[0] != x.shape[0]:
                raise ValueError(f"TransformerDecoder '{self.name}': decoder and encoder sequences must have the same "
                                 f"batch size, got {tuple(x.shape)} and {tuple(encoder_sequence.shape)}")
        if self._has_cross is None:
            self._make_sublayers(encoder_sequence is not None)
        elif self._has_cross != (encoder_sequence is not None):
            state = "with" if self._has_cross else "without"
            raise ValueError(f"TransformerDecoder '{self.name}' was built {state} an encoder sequence; call it the "
                             "same way every time (keras_hub does the same)")
        self_mask = _merge_padding_and_attention_mask(x, decoder_padding_mask, decoder_attention_mask)
        x = self._attention_step(x, self._self_attend, self._self_attention_layer_norm, self._self_attention_dropout,
                                 training, mask=self_mask, causal=bool(use_causal_mask))
        if encoder_sequence is not None:
            cross_mask = _merge_padding_and_attention_mask(encoder_sequence, encoder_padding_mask,
                                                           encoder_attention_mask)
            x = self._attention_step(x, self._cross_attend, self._cross_attention_layer_norm,
                                     self._cross_attention_dropout, training, mask=cross_mask,
                                     encoder=encoder_sequence)
        return self._feedforward_step(x, training)

    def _self_attend(self, x, training, mask, causal):
        return self._self_attention_layer(x, x, attention_mask=mask, use_causal_mask=causal, training=training)

    def _cross_attend(self, x, training, mask, encoder):
        return self._cross_attention_layer(x, encoder, attention_mask=mask, training=training)


def _merge_padding_and_attention_mask(inputs, padding_mask, attention_mask):
    """keras_hub's merge: padding mask (batch, T) -> (batch, 1, T) on the keys, AND the attention mask."""
    mask = padding_mask if padding_mask is not None else getattr(inputs, "_keras_mask", None)
    if mask is not None:
        mask = np.asarray(mask.numpy() if isinstance(mask, Tensor) else mask).astype(bool)[:, None, :]
    if attention_mask is not None:
        attention_mask = np.asarray(attention_mask.numpy() if isinstance(attention_mask, Tensor)
                                    else attention_mask).astype(bool)
        mask = attention_mask if mask is None else mask & attention_mask
    return mask


def _keep_mask(out, source):
    """`out` carrying `source`'s implicit mask (a normalised input is still the same padded sequence)."""
    if isinstance(out, Tensor) and getattr(out, "_keras_mask", None) is None:
        out._keras_mask = getattr(source, "_keras_mask", None)
    return out
