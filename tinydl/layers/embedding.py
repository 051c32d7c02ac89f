"""Embedding: integer ids to dense vectors, rows of a trainable (input_dim, output_dim) table."""
import numpy as np

from tinydl import constraints, ops
from tinydl.backend import array_module
from tinydl.io.config import deserialize, serialize
from tinydl.layers.base import Layer

__all__ = ["Embedding"]


class Embedding(Layer):
    """`embeddings[ids]`: ids of shape (batch, ...) give vectors of shape (batch, ..., output_dim).

    With `mask_zero=True` id 0 is padding: the output carries the mask `ids != 0`, which
    mask-aware layers downstream (recurrent layers, pooling) use; `input_dim` must then count it.
    `input_length` is accepted and ignored, as Keras 3 does.
    """

    def __init__(self, input_dim, output_dim, embeddings_initializer="uniform", embeddings_regularizer=None,
                 embeddings_constraint=None, mask_zero=False, weights=None, lora_rank=None, lora_alpha=None,
                 quantization_config=None, input_length=None, **kwargs):
        super().__init__(**kwargs)
        if int(input_dim) <= 0 or int(output_dim) <= 0:
            raise ValueError(f"Embedding '{self.name}' needs positive input_dim and output_dim, "
                             f"got input_dim={input_dim}, output_dim={output_dim}")
        if lora_rank or quantization_config:
            raise NotImplementedError(f"Embedding '{self.name}': lora_rank and quantization_config are not supported")
        self.input_dim = int(input_dim)
        self.output_dim = int(output_dim)
        self.embeddings_initializer = deserialize(embeddings_initializer) if isinstance(
            embeddings_initializer, dict) else embeddings_initializer
        self.embeddings_regularizer = deserialize(embeddings_regularizer) if isinstance(
            embeddings_regularizer, dict) else embeddings_regularizer
        self.embeddings_constraint = constraints.get(embeddings_constraint)
        self.mask_zero = bool(mask_zero)
        self.supports_masking = self.mask_zero
        self._initial_weights = weights

    def build(self, input_shape=None):
        init = "random_uniform" if self.embeddings_initializer == "uniform" else self.embeddings_initializer
        self.embeddings = self.add_weight("embeddings", (self.input_dim, self.output_dim), init,
                                          regularizer=self.embeddings_regularizer,
                                          constraint=self.embeddings_constraint)
        if self._initial_weights is not None:
            self.set_weights(self._initial_weights)
            self._initial_weights = None

    def call(self, inputs):
        ids = inputs.data
        if ids.dtype.kind not in "iu":
            ids = ids.astype(np.int64)
        if ids.size:
            low, high = int(ids.min()), int(ids.max())
            if low < 0 or high >= self.input_dim:
                bad = low if low < 0 else high
                raise ValueError(f"Embedding '{self.name}' got index {bad} outside [0, {self.input_dim}) "
                                 f"(input_dim={self.input_dim}) in input of shape {tuple(inputs.shape)}")
        return ops.take(self.embeddings, ids, axis=0)

    def compute_mask(self, inputs, mask=None):
        """`inputs != 0` (a boolean array shaped like the ids) when mask_zero, else None."""
        if not self.mask_zero:
            return None
        ids = inputs.data if hasattr(inputs, "data") else inputs
        return array_module(ids).not_equal(ids, 0)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.output_dim,)

    def get_config(self):
        return {**super().get_config(), "input_dim": self.input_dim, "output_dim": self.output_dim,
                "embeddings_initializer": serialize(self.embeddings_initializer),
                "embeddings_regularizer": serialize(self.embeddings_regularizer),
                "activity_regularizer": serialize(self.activity_regularizer),
                "embeddings_constraint": serialize(self.embeddings_constraint), "mask_zero": self.mask_zero}
