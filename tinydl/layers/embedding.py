"""Embedding: integer ids to dense vectors, rows of a trainable (input_dim, output_dim) table; ReversibleEmbedding
also maps vectors back to logits over the ids."""
import numpy as np

from tinydl import constraints, ops
from tinydl.backend import array_module
from tinydl.io.config import deserialize, serialize
from tinydl.layers.base import Layer

__all__ = ["Embedding", "ReversibleEmbedding"]


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


class ReversibleEmbedding(Embedding):
    """An Embedding that can also run backwards: `layer(vectors, reverse=True)` gives logits over the `input_dim`
    ids, `vectors @ embeddings.T` with `tie_weights=True` (Keras's default), else `vectors @ reverse_embeddings`,
    a separate (output_dim, input_dim) weight; `logit_soft_cap` c gives `c * tanh(logits / c)`."""

    _REVERSE_DTYPES = (None, "float32", "float64")

    def __init__(self, input_dim, output_dim, tie_weights=True, embeddings_initializer="uniform",
                 embeddings_regularizer=None, embeddings_constraint=None, mask_zero=False, reverse_dtype=None,
                 logit_soft_cap=None, **kwargs):
        super().__init__(input_dim, output_dim, embeddings_initializer=embeddings_initializer,
                         embeddings_regularizer=embeddings_regularizer, embeddings_constraint=embeddings_constraint,
                         mask_zero=mask_zero, **kwargs)
        if reverse_dtype is not None:
            reverse_dtype = _dtype_name(reverse_dtype)
        if reverse_dtype not in self._REVERSE_DTYPES:
            raise ValueError(f"ReversibleEmbedding '{self.name}': reverse_dtype={reverse_dtype!r} is not supported "
                             f"(tinydl computes in float32 or float64)")
        if logit_soft_cap is not None and not float(logit_soft_cap) > 0:
            raise ValueError(f"ReversibleEmbedding '{self.name}': logit_soft_cap must be positive, got "
                             f"{logit_soft_cap!r}")
        self.tie_weights = bool(tie_weights)
        self.reverse_dtype = reverse_dtype
        self.logit_soft_cap = logit_soft_cap

    def build(self, input_shape=None):
        super().build(input_shape)
        if not self.tie_weights:
            init = "random_uniform" if self.embeddings_initializer == "uniform" else self.embeddings_initializer
            self.reverse_embeddings = self.add_weight("reverse_embeddings", (self.output_dim, self.input_dim), init)

    def call(self, inputs, reverse=False):
        if not reverse:
            return super().call(inputs)
        kernel = ops.transpose(self.embeddings) if self.tie_weights else self.reverse_embeddings
        if self.reverse_dtype is not None:
            inputs, kernel = ops.cast(inputs, self.reverse_dtype), ops.cast(kernel, self.reverse_dtype)
        logits = ops.matmul(inputs, kernel)
        if self.logit_soft_cap is not None:
            logits = ops.tanh(logits / self.logit_soft_cap) * self.logit_soft_cap
        return logits

    def compute_mask(self, inputs, mask=None):
        """The padding mask of the forward direction (Keras sets it in call); none for logits."""
        if getattr(inputs, "dtype", None) is not None and np.dtype(inputs.dtype).kind == "f":
            return None
        return super().compute_mask(inputs, mask)

    def compute_output_shape(self, input_shape, reverse=False):
        if reverse:
            return tuple(input_shape[:-1]) + (self.input_dim,)
        return super().compute_output_shape(input_shape)

    def get_config(self):
        return {**super().get_config(), "tie_weights": self.tie_weights, "reverse_dtype": self.reverse_dtype,
                "logit_soft_cap": self.logit_soft_cap}


def _dtype_name(dtype):
    """NumPy's name of a dtype ('float64' for np.float64), or the value as given when NumPy does not know it."""
    try:
        return np.dtype(dtype).name
    except TypeError:
        return str(dtype)
