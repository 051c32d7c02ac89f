"""Attention layers with Keras names and weight layouts: MultiHeadAttention, Attention, AdditiveAttention.

All of them compute their weights with the fused masked-softmax kernel, so masked positions get
exactly zero weight. One deliberate difference from Keras: a query whose keys are all masked (a
padded query) gets zero attention weights, hence a zero attention output, where Keras spreads a
uniform weight over all keys; the positions are padding either way and masked downstream.
"""
import math

import numpy as np

from tinydl import constraints, initializers, ops
from tinydl.layers.base import Layer, to_tensor
from tinydl.tensor import Tensor
from tinydl.io.config import serialize

__all__ = ["MultiHeadAttention", "GroupedQueryAttention", "GroupQueryAttention", "Attention", "AdditiveAttention"]


class MultiHeadAttention(Layer):
    """Keras 3's MultiHeadAttention: `mha(query, value, key=None, attention_mask=None, use_causal_mask=False,
    return_attention_scores=False, training=None)` on (batch, T, dim) sequences.

    Weights, in Keras's order and layout: query/key/value kernels (dim, num_heads, key_dim|value_dim)
    with biases (num_heads, key_dim|value_dim), output kernel (num_heads, value_dim, out_dim) and bias
    (out_dim,). Masks: `attention_mask` (batch, T, S) with True = attend, and the implicit masks of
    query, value and key (from `Embedding(mask_zero=True)`), combined as Keras does. The output keeps
    the query's mask.
    """

    supports_masking = True

    def __init__(self, num_heads, key_dim, value_dim=None, dropout=0.0, use_bias=True, output_shape=None,
                 attention_axes=None, flash_attention=None, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None, seed=None, **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        if int(num_heads) <= 0 or int(key_dim) <= 0:
            raise ValueError(f"MultiHeadAttention '{self.name}' needs positive num_heads and key_dim, "
                             f"got num_heads={num_heads}, key_dim={key_dim}")
        if attention_axes not in (None, 1, -2, (1,), [1], (-2,), [-2]):
            raise NotImplementedError(f"MultiHeadAttention '{self.name}': attention_axes={attention_axes} is not "
                                      "supported; only attention over the sequence axis (the default)")
        if not 0 <= dropout < 1:
            raise ValueError(f"MultiHeadAttention '{self.name}' needs 0 <= dropout < 1, got {dropout}")
        self.num_heads = int(num_heads)
        self.key_dim = int(key_dim)
        self.value_dim = int(value_dim) if value_dim is not None else self.key_dim
        self.dropout = float(dropout)
        self.use_bias = bool(use_bias)
        if isinstance(output_shape, (list, tuple)):
            if len(output_shape) != 1:
                raise NotImplementedError(f"MultiHeadAttention '{self.name}': output_shape must be an int or a "
                                          f"1-tuple, got {output_shape}")
            output_shape = output_shape[0]
        self._output_dim = None if output_shape is None else int(output_shape)
        self.attention_axes = attention_axes
        self.kernel_initializer = kernel_initializer
        self.bias_initializer = bias_initializer
        self.kernel_regularizer = kernel_regularizer
        self.bias_regularizer = bias_regularizer
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.seed = seed
        self._weights_made = False

    # -- weights -----------------------------------------------------------------------------
    def build(self, query_shape, value_shape=None, key_shape=None):
        """Make the weights when the value's width is known (a list [query, value(, key)] of shapes
        or separate arguments, as Keras); with the query's shape alone it waits for the first call."""
        _build_from_shapes(self, query_shape, value_shape, key_shape)

    def _make_weights(self, query_dim, value_dim, key_dim):
        """The eight weights in Keras's order: query, key, value kernels and biases, then output."""
        h, out = self.num_heads, self._output_dim or query_dim
        kinit = initializers.get(self.kernel_initializer)
        self.query_kernel, self.query_bias = self._pair("query", (query_dim, h, self.key_dim), kinit)
        self.key_kernel, self.key_bias = self._pair("key", (key_dim, h, self.key_dim), kinit)
        self.value_kernel, self.value_bias = self._pair("value", (value_dim, h, self.value_dim), kinit)
        self.output_kernel = self._weight("attention_output", "kernel", (h, self.value_dim, out), kinit)
        self.output_bias = (self._weight("attention_output", "bias", (out,), self.bias_initializer)
                            if self.use_bias else None)
        self._weights_made = True

    def _pair(self, part, shape, kinit):
        kernel = self._weight(part, "kernel", shape, kinit)
        bias = self._weight(part, "bias", shape[1:], self.bias_initializer) if self.use_bias else None
        return kernel, bias

    def _weight(self, part, name, shape, init):
        """A kernel or bias of one projection, with the kernel's or the bias's regularizer and constraint."""
        kind = "kernel" if name == "kernel" else "bias"
        var = self.add_weight(name, shape, init, regularizer=getattr(self, f"{kind}_regularizer"),
                              constraint=getattr(self, f"{kind}_constraint"))
        var.path = f"{self.name}/{part}/{name}"
        return var

    def set_weights(self, weights):
        """Set the eight (four without bias) arrays; a shape mismatch names num_heads/key_dim."""
        mine = self.weights
        if len(weights) != len(mine):
            raise ValueError(f"MultiHeadAttention '{self.name}' expects {len(mine)} weight arrays "
                             f"(query, key, value, output kernels{' and biases' if self.use_bias else ''}), "
                             f"got {len(weights)}")
        for var, value in zip(mine, weights):
            if tuple(np.shape(value)) != var.shape:
                raise ValueError(
                    f"MultiHeadAttention '{self.name}': weight '{var.path}' has shape {var.shape} for num_heads="
                    f"{self.num_heads}, key_dim={self.key_dim}, value_dim={self.value_dim}, but the given array has "
                    f"shape {tuple(np.shape(value))}: the weights were made with other num_heads/key_dim/value_dim")
        super().set_weights(weights)

    # -- calling -----------------------------------------------------------------------------
    def call(self, query, value=None, key=None, query_mask=None, value_mask=None, key_mask=None,
             attention_mask=None, return_attention_scores=False, training=None, use_causal_mask=False):
        query, value, key = _call_inputs(self, query, value, key, "MultiHeadAttention", "mha")
        mask = self._attention_mask(query, value, key, query_mask, value_mask, key_mask, attention_mask)
        q = self._project(query, self.query_kernel, self.query_bias)
        k = self._project(key, self.key_kernel, self.key_bias)
        v = self._project(value, self.value_kernel, self.value_bias)
        rate = self.dropout if training else 0.0
        result = ops.scaled_dot_product_attention(
            q, k, v, mask=None if mask is None else mask[:, None], causal=bool(use_causal_mask), dropout=rate,
            scale=1.0 / math.sqrt(self.key_dim), return_weights=bool(return_attention_scores))
        attended, scores = result if return_attention_scores else (result, None)
        out = self._merge_heads(attended)
        return (out, scores) if return_attention_scores else out

    def _project(self, x, kernel, bias):
        """(batch, T, dim) -> (batch, heads, T, size) through a (dim, heads, size) kernel."""
        dim, heads, size = kernel.shape
        # one (batch*T, dim) @ (dim, heads*size) product: NumPy runs a 3-D @ 2-D matmul as a loop of small ones
        y = ops.matmul(ops.reshape(x, (-1, dim)), ops.reshape(kernel, (dim, heads * size)))
        if bias is not None:
            y = y + ops.reshape(bias, (heads * size,))
        y = ops.reshape(y, (x.shape[0], x.shape[1], heads, size))
        return ops.transpose(y, (0, 2, 1, 3))

    def _merge_heads(self, attended):
        """(batch, heads, T, value_dim) -> (batch, T, out_dim) through the output kernel."""
        b, h, t, size = attended.shape
        out_dim = self.output_kernel.shape[-1]
        merged = ops.reshape(ops.transpose(attended, (0, 2, 1, 3)), (b * t, h * size))
        out = ops.matmul(merged, ops.reshape(self.output_kernel, (h * size, out_dim)))
        if self.output_bias is not None:
            out = out + self.output_bias
        return ops.reshape(out, (b, t, out_dim))

    def _check_shapes(self, query, value, key):
        """Clear errors for inputs this layer cannot attend."""
        where = f"MultiHeadAttention '{self.name}'"
        _check_ranks(where, query, value, key)
        if query.shape[0] != value.shape[0] or key.shape[0] != value.shape[0]:
            raise ValueError(f"{where}: query, value and key must have the same batch size, got query "
                             f"{tuple(query.shape)}, value {tuple(value.shape)}, key {tuple(key.shape)}")
        if key.shape[1] != value.shape[1]:
            raise ValueError(f"{where}: key and value must have the same length, got key {tuple(key.shape)} "
                             f"and value {tuple(value.shape)}")
        if self._weights_made:
            for label, t, kernel in (("query", query, self.query_kernel), ("value", value, self.value_kernel),
                                     ("key", key, self.key_kernel)):
                if t.shape[-1] != kernel.shape[0]:
                    raise ValueError(f"{where} was built for {label} with last dimension {kernel.shape[0]}, "
                                     f"got {label} of shape {tuple(t.shape)}")

    def _attention_mask(self, query, value, key, query_mask, value_mask, key_mask, attention_mask):
        return _combined_mask(self, query, value, key, query_mask, value_mask, key_mask, attention_mask)

    def get_config(self):
        return {**super().get_config(), "num_heads": self.num_heads, "key_dim": self.key_dim,
                "value_dim": self.value_dim, "dropout": self.dropout, "use_bias": self.use_bias,
                "output_shape": self._output_dim, "attention_axes": self.attention_axes,
                "kernel_initializer": serialize(self.kernel_initializer),
                "bias_initializer": serialize(self.bias_initializer),
                "kernel_regularizer": serialize(self.kernel_regularizer),
                "bias_regularizer": serialize(self.bias_regularizer),
                "activity_regularizer": serialize(self.activity_regularizer),
                "kernel_constraint": serialize(self.kernel_constraint),
                "bias_constraint": serialize(self.bias_constraint), "seed": self.seed}


class Attention(Layer):
    """Keras's dot-product attention: `Attention()([query, value(, key)], mask=[query_mask, value_mask])`.

    score_mode 'dot': scores = query @ key^T (times a learned scalar `scale` with use_scale);
    'concat': scores = concat_score_weight * sum(tanh(scale * (query_i + key_j))). Weights: `scale` ()
    when use_scale, then `concat_score_weight` () for 'concat'. Outputs at masked queries are zeroed.
    """

    supports_masking = True

    def __init__(self, use_scale=False, score_mode="dot", dropout=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        if score_mode not in ("dot", "concat"):
            raise ValueError(f"Attention '{self.name}': score_mode must be 'dot' or 'concat', got {score_mode!r}")
        self.use_scale = bool(use_scale)
        self.score_mode = score_mode
        self.dropout = float(dropout)
        self.seed = seed

    def build(self, input_shape):
        self.scale = self.add_weight("scale", (), "ones") if self.use_scale else None
        self.concat_score_weight = (self.add_weight("concat_score_weight", (), "ones")
                                    if self.score_mode == "concat" else None)
        self.built = True

    def call(self, inputs, mask=None, training=None, return_attention_scores=False, use_causal_mask=False):
        query, value, key = _unpack_attention_inputs(self, inputs)
        query_mask, value_mask = _unpack_masks(mask)
        scores = self._scores(query, key)
        weights = ops.masked_softmax(scores, mask=None if value_mask is None else value_mask[:, None, :],
                                     causal=bool(use_causal_mask))
        if training and self.dropout > 0:
            weights = ops.dropout(weights, self.dropout)
        out = ops.matmul(weights, value)
        if query_mask is not None:
            out = out * Tensor(query_mask[..., None].astype(out.dtype))
        return (out, weights) if return_attention_scores else out

    def _scores(self, query, key):
        if self.score_mode == "dot":
            scores = ops.matmul(query, ops.transpose(key, (0, 2, 1)))
            return scores * self.scale if self.scale is not None else scores
        q = ops.reshape(query, (query.shape[0], query.shape[1], 1, query.shape[2]))
        k = ops.reshape(key, (key.shape[0], 1, key.shape[1], key.shape[2]))
        summed = q + k
        if self.scale is not None:
            summed = summed * self.scale
        return ops.sum(ops.tanh(summed), axis=-1) * self.concat_score_weight

    def compute_mask(self, inputs, mask=None):
        query_mask, _ = _unpack_masks(mask)
        return None if query_mask is None else query_mask

    def get_config(self):
        return {**super().get_config(), "use_scale": self.use_scale, "score_mode": self.score_mode,
                "dropout": self.dropout, "seed": self.seed}


class AdditiveAttention(Attention):
    """Keras's Bahdanau attention: scores = sum(scale * tanh(query_i + key_j)), `scale` of shape (dim,)."""

    def __init__(self, use_scale=True, dropout=0.0, **kwargs):
        kwargs.pop("score_mode", None)
        super().__init__(use_scale=use_scale, dropout=dropout, **kwargs)

    def build(self, input_shape):
        dim = input_shape[0][-1] if isinstance(input_shape, list) else input_shape[-1]
        self.scale = self.add_weight("scale", (dim,), "glorot_uniform") if self.use_scale else None
        self.concat_score_weight = None
        self.built = True

    def _scores(self, query, key):
        q = ops.reshape(query, (query.shape[0], query.shape[1], 1, query.shape[2]))
        k = ops.reshape(key, (key.shape[0], 1, key.shape[1], key.shape[2]))
        hidden = ops.tanh(q + k)
        if self.scale is not None:
            hidden = hidden * self.scale
        return ops.sum(hidden, axis=-1)

    def get_config(self):
        config = super().get_config()
        config.pop("score_mode")
        return config


class GroupQueryAttention(Layer):
    """Keras 3's GroupQueryAttention (GroupedQueryAttention in Keras's source): `num_query_heads` query heads
    share `num_key_value_heads` key/value heads, each serving num_query_heads // num_key_value_heads of them.

    Called as `gqa(query, value, key=None, ...)` with MultiHeadAttention's masks and options.
    `sliding_window=w` lets position i attend to j only when |i - j| < w (with `use_causal_mask`, the
    w - 1 positions before i); `use_gate=True` multiplies the attended heads by
    `sigmoid(query @ gate_kernel + gate_bias)` before the output projection. Weights, in Keras's order:
    query (dim, query_heads, head_dim), key and value (dim, kv_heads, head_dim), each with a bias over
    its last two axes, the gate (as the query) when used, and the output (query_heads, head_dim, dim).
    """

    supports_masking = True

    def __init__(self, head_dim, num_query_heads, num_key_value_heads, dropout=0.0, use_bias=True,
                 sliding_window=None, flash_attention=None, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, use_gate=False, seed=None, **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        where = f"GroupQueryAttention '{self.name}'"
        if min(int(head_dim), int(num_query_heads), int(num_key_value_heads)) <= 0:
            raise ValueError(f"{where} needs positive head_dim, num_query_heads and num_key_value_heads, got "
                             f"{head_dim}, {num_query_heads}, {num_key_value_heads}")
        if num_query_heads % num_key_value_heads:
            raise ValueError(f"{where}: num_query_heads={num_query_heads} must be divisible by "
                             f"num_key_value_heads={num_key_value_heads}")
        if not 0 <= dropout < 1:
            raise ValueError(f"{where} needs 0 <= dropout < 1, got {dropout}")
        if sliding_window is not None and int(sliding_window) <= 0:
            raise ValueError(f"{where} needs a positive sliding_window or None, got {sliding_window!r}")
        if flash_attention:
            raise NotImplementedError(f"{where}: flash_attention=True needs flash-attention kernels, which tinydl "
                                      "does not have; leave it None or False")
        self.head_dim, self.num_query_heads = int(head_dim), int(num_query_heads)
        self.num_key_value_heads = int(num_key_value_heads)
        self.num_repeats = self.num_query_heads // self.num_key_value_heads
        self.dropout, self.use_bias, self.use_gate = float(dropout), bool(use_bias), bool(use_gate)
        self.sliding_window = None if sliding_window is None else int(sliding_window)
        # objects, not names, so the config holds them serialized, as Keras's does
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer, self.bias_regularizer = kernel_regularizer, bias_regularizer
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.seed = seed
        self._weights_made = False

    def build(self, query_shape, value_shape=None, key_shape=None):
        """Make the weights once the value's width is known (shapes as a list or separate arguments)."""
        _build_from_shapes(self, query_shape, value_shape, key_shape)

    def _make_weights(self, query_dim, value_dim, key_dim):
        q_heads, kv_heads, size = self.num_query_heads, self.num_key_value_heads, self.head_dim
        self.query_kernel, self.query_bias = self._pair("query", (query_dim, q_heads, size))
        self.key_kernel, self.key_bias = self._pair("key", (key_dim, kv_heads, size))
        if self.use_gate:
            self.gate_kernel, self.gate_bias = self._pair("gate", (query_dim, q_heads, size))
        self.value_kernel, self.value_bias = self._pair("value", (value_dim, kv_heads, size))
        self.output_kernel = self._weight("attention_output", "kernel", (q_heads, size, query_dim))
        self.output_bias = self._weight("attention_output", "bias", (query_dim,)) if self.use_bias else None
        self._weights_made = True

    def _pair(self, part, shape):
        kernel = self._weight(part, "kernel", shape)
        return kernel, (self._weight(part, "bias", shape[1:]) if self.use_bias else None)

    def _weight(self, part, name, shape):
        kind = "kernel" if name == "kernel" else "bias"
        var = self.add_weight(name, shape, getattr(self, f"{kind}_initializer"),
                              regularizer=getattr(self, f"{kind}_regularizer"),
                              constraint=getattr(self, f"{kind}_constraint"))
        var.path = f"{self.name}/{part}/{name}"
        return var

    def call(self, query, value=None, key=None, query_mask=None, value_mask=None, key_mask=None,
             attention_mask=None, return_attention_scores=False, training=None, use_causal_mask=False):
        query, value, key = _call_inputs(self, query, value, key, "GroupQueryAttention", "gqa")
        mask = _combined_mask(self, query, value, key, query_mask, value_mask, key_mask, attention_mask)
        if self.sliding_window is not None:
            i, j = np.arange(query.shape[1])[:, None], np.arange(value.shape[1])[None, :]
            band = (np.abs(i - j) < self.sliding_window)[None]
            mask = band if mask is None else mask & band
        q = _heads(query, self.query_kernel, self.query_bias)
        k = ops.repeat(_heads(key, self.key_kernel, self.key_bias), self.num_repeats, axis=1)
        v = ops.repeat(_heads(value, self.value_kernel, self.value_bias), self.num_repeats, axis=1)
        result = ops.scaled_dot_product_attention(
            q, k, v, mask=None if mask is None else mask[:, None], causal=bool(use_causal_mask),
            dropout=self.dropout if training else 0.0, scale=1.0 / math.sqrt(self.head_dim),
            return_weights=bool(return_attention_scores))
        attended, scores = result if return_attention_scores else (result, None)
        if self.use_gate:
            attended = attended * ops.sigmoid(_heads(query, self.gate_kernel, self.gate_bias))
        out = ops.einsum("buqh,uhm->bqm", attended, self.output_kernel)
        if self.output_bias is not None:
            out = out + self.output_bias
        return (out, scores) if return_attention_scores else out

    def _check_shapes(self, query, value, key):
        where = f"GroupQueryAttention '{self.name}'"
        _check_ranks(where, query, value, key)
        if key.shape[1] != value.shape[1] or len({query.shape[0], key.shape[0], value.shape[0]}) > 1:
            raise ValueError(f"{where}: query, value and key need one batch size and key and value one length, "
                             f"got query {tuple(query.shape)}, value {tuple(value.shape)}, key {tuple(key.shape)}")
        if query.shape[-1] != value.shape[-1]:
            raise ValueError(f"{where}: query and value need the same last dimension, got query "
                             f"{tuple(query.shape)} and value {tuple(value.shape)}")

    def get_config(self):
        return {**super().get_config(), "head_dim": self.head_dim, "num_query_heads": self.num_query_heads,
                "num_key_value_heads": self.num_key_value_heads, "use_bias": self.use_bias,
                "use_gate": self.use_gate, "sliding_window": self.sliding_window, "dropout": self.dropout,
                "kernel_initializer": serialize(self.kernel_initializer),
                "bias_initializer": serialize(self.bias_initializer),
                "kernel_regularizer": serialize(self.kernel_regularizer),
                "bias_regularizer": serialize(self.bias_regularizer),
                "activity_regularizer": serialize(self.activity_regularizer),
                "kernel_constraint": serialize(self.kernel_constraint),
                "bias_constraint": serialize(self.bias_constraint), "seed": self.seed}


GroupedQueryAttention = GroupQueryAttention


def _heads(x, kernel, bias):
    """(batch, T, dim) -> (batch, heads, T, size) through a (dim, heads, size) kernel and (heads, size) bias."""
    y = ops.einsum("btm,muh->buth", x, kernel)
    return y if bias is None else y + ops.expand_dims(bias, 1)


def _build_from_shapes(layer, query_shape, value_shape, key_shape):
    """Build an attention layer from [query, value(, key)] shapes or separate ones; weights once value's is known."""
    if isinstance(query_shape, list) and query_shape and isinstance(query_shape[0], (list, tuple)):
        query_shape, value_shape, key_shape = (list(query_shape) + [None, None])[:3]
    if value_shape is not None:
        layer._make_weights(query_shape[-1], value_shape[-1], (key_shape or value_shape)[-1])
    layer.built = True


def _call_inputs(layer, query, value, key, kind, short):
    """A call's query, value and key (or a list of them) as checked Tensors, the layer's weights made on first use."""
    if isinstance(query, (list, tuple)):
        query, value, key = (list(query) + [None, None])[:3]
    if value is None:
        raise ValueError(f"{kind} '{layer.name}' needs a value: call it as {short}(query, value)")
    query, value = _tensor(query, layer.dtype), _tensor(value, layer.dtype)
    key = value if key is None else _tensor(key, layer.dtype)
    layer._check_shapes(query, value, key)
    if not layer._weights_made:
        layer._make_weights(query.shape[-1], value.shape[-1], key.shape[-1])
    return query, value, key


def _check_ranks(where, query, value, key):
    """A ValueError naming `where` unless query, value and key are all (batch, length, dim)."""
    for label, t in (("query", query), ("value", value), ("key", key)):
        if t.ndim != 3:
            raise ValueError(f"{where} expects {label} of shape (batch, length, dim), got {tuple(t.shape)}")


def _unpack_attention_inputs(layer, inputs):
    """[query, value(, key)] as Tensors, with clear errors for other shapes."""
    where = f"{type(layer).__name__} '{layer.name}'"
    if not isinstance(inputs, (list, tuple)) or len(inputs) not in (2, 3):
        raise ValueError(f"{where} expects a list [query, value] or [query, value, key]")
    query, value = inputs[0], inputs[1]
    key = inputs[2] if len(inputs) == 3 else value
    if query.shape[0] != value.shape[0] or key.shape[0] != value.shape[0]:
        raise ValueError(f"{where}: query, value and key must have the same batch size, got "
                         f"{tuple(query.shape)}, {tuple(value.shape)}, {tuple(key.shape)}")
    if key.shape[1] != value.shape[1]:
        raise ValueError(f"{where}: key and value must have the same length, got {tuple(key.shape)} "
                         f"and {tuple(value.shape)}")
    if query.shape[-1] != key.shape[-1]:
        raise ValueError(f"{where}: query and key must have the same last dimension, got {tuple(query.shape)} "
                         f"and {tuple(key.shape)}")
    return query, value, key


def _unpack_masks(mask):
    """(query_mask, value_mask) as boolean arrays or None, from a list of masks or None."""
    if mask is None:
        return None, None
    if not isinstance(mask, (list, tuple)):
        raise ValueError("attention masks are given as a list [query_mask, value_mask]")
    masks = [None if m is None else _raw(m).astype(bool) for m in mask]
    return (masks + [None, None])[0], (masks + [None, None])[1]


def _tensor(x, dtype):
    """x as a Tensor in the layer's float dtype (masks carried along)."""
    return to_tensor(x, dtype)


def _raw(m):
    """The array inside a Tensor, or the array itself."""
    return np.asarray(m.numpy() if isinstance(m, Tensor) else m)


def _mask_of(t, explicit):
    """The explicit mask, else the tensor's implicit (`_keras_mask`) one, as a boolean array."""
    m = explicit if explicit is not None else getattr(t, "_keras_mask", None)
    return None if m is None else _raw(m).astype(bool)


def _combined_mask(layer, query, value, key, query_mask, value_mask, key_mask, attention_mask):
    """Keras's mask: attention_mask & query_mask[:, :, None] & value_mask[:, None] & key_mask[:, None]."""
    b, t, s = query.shape[0], query.shape[1], value.shape[1]
    query_mask = _mask_of(query, query_mask)
    value_mask = _mask_of(value, value_mask)
    key_mask = _mask_of(key, key_mask) if key is not value else None
    mask = None
    for m, expand in ((query_mask, lambda a: a[:, :, None]), (value_mask, lambda a: a[:, None, :]),
                      (key_mask, lambda a: a[:, None, :])):
        if m is not None:
            m = expand(m)
            mask = m if mask is None else mask & m
    if attention_mask is not None:
        attention_mask = _raw(attention_mask).astype(bool)
        try:
            fits = np.broadcast_shapes(attention_mask.shape, (b, t, s)) == (b, t, s)
        except ValueError:
            fits = False
        if not fits:
            raise ValueError(f"{type(layer).__name__} '{layer.name}': attention_mask of shape "
                             f"{tuple(attention_mask.shape)} does not broadcast to (batch, query length, "
                             f"value length) = {(b, t, s)}")
        mask = attention_mask if mask is None else mask & attention_mask
    if mask is not None and mask.ndim < 3:
        mask = mask.reshape((1,) * (3 - mask.ndim) + mask.shape)
    return mask
