"""keras.ops.nn beyond the basic activations: more activations, normalisations, losses, attention, space-to-depth.

Elementwise activations are `Unary` nodes given their slope; everything else composes existing ops,
so its gradient comes from theirs.
"""
import math

from tinydl.backend import array_module
from tinydl.ops.attention import scaled_dot_product_attention
from tinydl.ops.convolution import conv, depthwise_conv
from tinydl.ops.elementwise import Unary
from tinydl.ops.linalg import norm
from tinydl.ops.math import clip, log, maximum, multiply, sqrt, square, subtract, where
from tinydl.ops.nn import log_softmax, sigmoid, silu, softmax, softplus, tanh
from tinydl.ops.norm import layer_norm
from tinydl.ops.reduce import mean, sum as _sum
from tinydl.ops.shape import reshape, split, squeeze, transpose
from tinydl.tensor import Tensor, as_tensor

__all__ = [
    "relu6", "celu", "glu", "hard_shrink", "hard_silu", "hard_swish", "hard_tanh", "log_sigmoid", "soft_shrink",
    "softsign", "sparse_plus", "sparse_sigmoid", "squareplus", "swish", "tanh_shrink", "threshold", "sparsemax",
    "normalize", "moments", "layer_normalization", "rms_normalization", "batch_normalization",
    "binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy", "multi_hot", "psnr",
    "dot_product_attention", "depth_to_space", "space_to_depth", "separable_conv",
]

EPSILON = 1e-7  # Keras's backend.epsilon(), used to clip probabilities in the crossentropies


def relu6(x):
    """min(max(x, 0), 6)."""
    return Unary(lambda xp, x: xp.clip(x, 0, 6), lambda xp, x, y: (x > 0) & (x < 6))(x)


def celu(x, alpha=1.0):
    """x for x > 0, alpha * (exp(x / alpha) - 1) otherwise."""
    return Unary(lambda xp, x: xp.where(x > 0, x, alpha * xp.expm1(xp.minimum(x, 0) / alpha)),
                 lambda xp, x, y: xp.where(x > 0, 1, xp.exp(xp.minimum(x, 0) / alpha)))(x)


def glu(x, axis=-1):
    """Gated linear unit: a * sigmoid(b), with x split in halves a, b along `axis`."""
    if x.shape[axis] % 2:
        raise ValueError(f"glu: axis {axis} must have an even length, got shape {tuple(x.shape)}")
    a, b = split(x, 2, axis=axis)
    return multiply(a, sigmoid(b))


def hard_shrink(x, threshold=0.5):
    """x where |x| > threshold, else 0."""
    return Unary(lambda xp, x: xp.where(xp.abs(x) > threshold, x, 0), lambda xp, x, y: xp.abs(x) > threshold)(x)


def hard_silu(x):
    """x * relu6(x + 3) / 6."""
    return Unary(lambda xp, x: x * xp.clip(x + 3, 0, 6) / 6,
                 lambda xp, x, y: xp.where(x < -3, 0, xp.where(x > 3, 1, (2 * x + 3) / 6)))(x)


hard_swish = hard_silu


def hard_tanh(x):
    """x clipped to [-1, 1]."""
    return Unary(lambda xp, x: xp.clip(x, -1, 1), lambda xp, x, y: xp.abs(x) < 1)(x)


def log_sigmoid(x):
    """log(sigmoid(x)) = -softplus(-x), stable for large |x|."""
    return -softplus(-as_tensor(x))


def soft_shrink(x, threshold=0.5):
    """x - threshold * sign(x) where |x| > threshold, else 0."""
    return Unary(lambda xp, x: xp.where(xp.abs(x) > threshold, x - threshold * xp.sign(x), 0),
                 lambda xp, x, y: xp.abs(x) > threshold)(x)


def softsign(x):
    """x / (1 + |x|)."""
    return Unary(lambda xp, x: x / (1 + xp.abs(x)), lambda xp, x, y: 1 / (1 + xp.abs(x)) ** 2)(x)


def sparse_plus(x):
    """0 for x <= -1, (x + 1)**2 / 4 on (-1, 1), x for x >= 1."""
    return Unary(lambda xp, x: xp.where(x <= -1, 0, xp.where(x >= 1, x, (x + 1) ** 2 / 4)),
                 lambda xp, x, y: xp.where(x <= -1, 0, xp.where(x >= 1, 1, (x + 1) / 2)))(x)


def sparse_sigmoid(x):
    """0 for x <= -1, (x + 1) / 2 on (-1, 1), 1 for x >= 1."""
    return Unary(lambda xp, x: xp.clip((x + 1) / 2, 0, 1), lambda xp, x, y: 0.5 * (xp.abs(x) < 1))(x)


def squareplus(x, b=4):
    """(x + sqrt(x**2 + b)) / 2, a smooth ReLU."""
    return Unary(lambda xp, x: (x + xp.sqrt(x * x + b)) / 2, lambda xp, x, y: (1 + x / xp.sqrt(x * x + b)) / 2)(x)


def swish(x):
    """x * sigmoid(x) (Keras's alias of silu)."""
    return silu(x)


def tanh_shrink(x):
    """x - tanh(x)."""
    return Unary(lambda xp, x: x - xp.tanh(x), lambda xp, x, y: xp.tanh(x) ** 2)(x)


def threshold(x, threshold, default_value):
    """x where x > threshold, else default_value."""
    return Unary(lambda xp, x: xp.where(x > threshold, x, default_value), lambda xp, x, y: x > threshold)(x)


def sparsemax(x, axis=-1):
    """Euclidean projection of x onto the simplex along `axis` (Martins & Astudillo, 2016): sparse softmax."""
    x = as_tensor(x)
    xp = array_module(x.data)
    z = xp.flip(xp.sort(x.data, axis=axis), axis=axis)  # the support is found on constants ...
    k = xp.arange(1, x.shape[axis] + 1, dtype=x.dtype).reshape([-1 if a == axis % x.ndim else 1
                                                                  for a in range(x.ndim)])
    support = (1 + k * z) > xp.cumsum(z, axis=axis)
    mask = Tensor(x.data >= xp.take_along_axis(z, support.sum(axis=axis, keepdims=True) - 1, axis=axis))
    tau = (_sum(where(mask, x, 0.0), axis=axis, keepdims=True) - 1) / _sum(mask.data * 1.0, axis=axis,
                                                                             keepdims=True)
    return maximum(x - tau, 0.0)  # ... and tau is differentiated through the chosen entries


def normalize(x, axis=-1, order=2, epsilon=None):
    """x divided by its `order`-norm along `axis` (at least epsilon, default 1e-7 as Keras)."""
    n = norm(x, ord=order, axis=axis, keepdims=True)
    return x / maximum(n, EPSILON if epsilon is None else epsilon)


def moments(x, axes, keepdims=False, synchronized=False):
    """(mean, variance) over `axes`; `synchronized` (cross-replica statistics) raises when True."""
    if synchronized:
        raise ValueError("moments: synchronized=True needs a distribution strategy; tinydl.distribution "
                         "synchronises BatchNormalization itself (expected False, received True)")
    m = mean(x, axis=axes, keepdims=True)
    v = mean(square(x - m), axis=axes, keepdims=True)
    if not keepdims:
        m, v = squeeze(m, axis=axes), squeeze(v, axis=axes)
    return m, v


def layer_normalization(x, gamma=None, beta=None, axis=-1, epsilon=None, **kwargs):
    """(x - mean) / sqrt(var + epsilon) * gamma + beta over `axis` (epsilon defaults to 1e-7 as Keras)."""
    if kwargs.pop("rms_scaling", False):
        return rms_normalization(x, scale=gamma, axis=axis, epsilon=epsilon)
    if kwargs:
        raise TypeError(f"layer_normalization: unexpected arguments {sorted(kwargs)}")
    return layer_norm(x, gamma, beta, axis=axis, epsilon=EPSILON if epsilon is None else epsilon)


def rms_normalization(x, scale=None, axis=-1, epsilon=None):
    """x / sqrt(mean(x**2, axis) + epsilon) * scale."""
    eps = 1e-7 if epsilon is None else epsilon
    y = x / sqrt(mean(square(x), axis=axis, keepdims=True) + eps)
    return y if scale is None else y * scale


def batch_normalization(x, mean, variance, axis, offset=None, scale=None, epsilon=1e-3):
    """(x - mean) / sqrt(variance + epsilon) * scale + offset, the statistics shaped (C,) for channel `axis`."""
    shape = [1] * len(x.shape)
    shape[axis] = x.shape[axis]

    def along(v):
        return reshape(as_tensor(v), shape) if v is not None and len(getattr(v, "shape", ())) == 1 else v

    y = (x - along(mean)) / sqrt(along(variance) + epsilon)
    if scale is not None:
        y = y * along(scale)
    return y if offset is None else y + along(offset)


def binary_crossentropy(target, output, from_logits=False):
    """Elementwise -(t log p + (1 - t) log(1 - p)); probabilities clipped to [eps, 1 - eps] as Keras."""
    target, output = as_tensor(target), as_tensor(output)
    if from_logits:  # log(sigmoid(z)) = -softplus(-z), log(1 - sigmoid(z)) = -softplus(z)
        return target * softplus(-output) + (1 - target) * softplus(output)
    p = clip(output, EPSILON, 1 - EPSILON)
    return -(target * log(p) + (1 - target) * log(1 - p))


def categorical_crossentropy(target, output, from_logits=False, axis=-1):
    """-sum(t log p) along `axis`; probabilities renormalised and clipped as Keras."""
    target, output = as_tensor(target), as_tensor(output)
    _check_same_shape("categorical_crossentropy", target, output)
    if from_logits:
        return -_sum(target * log_softmax(output, axis=axis), axis=axis)
    p = clip(output / _sum(output, axis=axis, keepdims=True), EPSILON, 1 - EPSILON)
    return -_sum(target * log(p), axis=axis)


def sparse_categorical_crossentropy(target, output, from_logits=False, axis=-1):
    """categorical_crossentropy with integer class targets (shape of output without `axis`)."""
    output = as_tensor(output)
    target = as_tensor(target).data
    if target.ndim == output.ndim and target.shape[axis] == 1:
        target = target.squeeze(axis)
    xp = array_module(target)
    classes = output.shape[axis]
    onehot = (xp.moveaxis(target[..., None] == xp.arange(classes), -1, axis % output.ndim)).astype(output.dtype)
    return categorical_crossentropy(Tensor(onehot), output, from_logits=from_logits, axis=axis)


def multi_hot(inputs, num_classes=None, axis=-1, dtype=None, sparse=False, **kwargs):
    """1.0 at each class index present in the last axis of `inputs` (a 1-D input is one sample)."""
    num_classes = kwargs.pop("num_tokens", num_classes)
    if kwargs or sparse or num_classes is None:
        raise ValueError(f"multi_hot: needs num_classes and dense output (received num_classes={num_classes}, "
                         f"sparse={sparse}, other arguments {sorted(kwargs)})")
    idx = as_tensor(inputs).data
    xp = array_module(idx)
    batched = idx if idx.ndim > 1 else idx[None]
    hot = (batched[..., None] == xp.arange(num_classes)).any(axis=-2)
    hot = hot if idx.ndim > 1 else hot[0]
    hot = xp.moveaxis(hot, -1, axis)
    return Tensor(hot.astype(dtype or "float32"))


def psnr(x1, x2, max_val):
    """Peak signal-to-noise ratio in dB: 20 log10(max_val) - 10 log10(mean((x1 - x2)**2))."""
    mse = mean(square(subtract(x1, x2)))
    return 20 * math.log10(max_val) - 10 / math.log(10) * log(mse)


def dot_product_attention(query, key, value, bias=None, mask=None, scale=None, is_causal=False,
                          flash_attention=None, attn_logits_soft_cap=None):
    """Attention on Keras's (batch, seq, heads, dim) layout; `bias` is added to the logits."""
    if flash_attention:
        raise ValueError("dot_product_attention: flash_attention=True is not available (no flash kernels); "
                         "expected None or False")
    q, k, v = (transpose(as_tensor(t), (0, 2, 1, 3)) for t in (query, key, value))
    if bias is None and attn_logits_soft_cap is None:
        out = scaled_dot_product_attention(q, k, v, mask=mask, causal=is_causal, scale=scale)
        return transpose(out, (0, 2, 1, 3))
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
    logits = (q @ transpose(k, (0, 1, 3, 2))) * scale
    if bias is not None:
        logits = logits + bias
    if attn_logits_soft_cap is not None:
        logits = attn_logits_soft_cap * tanh(logits / attn_logits_soft_cap)
    allowed = _attention_mask(mask, is_causal, logits.shape, array_module(logits.data))
    if allowed is not None:
        logits = where(Tensor(allowed), logits, -1e9)
    return transpose(softmax(logits, axis=-1) @ v, (0, 2, 1, 3))


def depth_to_space(x, block_size, data_format="channels_last"):
    """Move blocks of channels into space: (N, H, W, C*b*b) -> (N, H*b, W*b, C)."""
    x = _channels_last(as_tensor(x), data_format)
    n, h, w, c = x.shape
    b = block_size
    blocks = transpose(reshape(x, (n, h, w, b, b, c // (b * b))), (0, 1, 3, 2, 4, 5))
    y = reshape(blocks, (n, h * b, w * b, c // (b * b)))
    return _from_channels_last(y, data_format)


def space_to_depth(x, block_size, data_format="channels_last"):
    """Move b x b blocks of space into channels: (N, H, W, C) -> (N, H/b, W/b, C*b*b)."""
    x = _channels_last(as_tensor(x), data_format)
    n, h, w, c = x.shape
    b = block_size
    blocks = transpose(reshape(x, (n, h // b, b, w // b, b, c)), (0, 1, 3, 2, 4, 5))
    y = reshape(blocks, (n, h // b, w // b, b * b * c))
    return _from_channels_last(y, data_format)


def separable_conv(inputs, depthwise_kernel, pointwise_kernel, strides=1, padding="valid", data_format=None,
                   dilation_rate=1):
    """Depthwise convolution followed by a 1x1 convolution (channels-last)."""
    if data_format not in (None, "channels_last"):
        raise ValueError(f"separable_conv: data_format must be 'channels_last', received {data_format!r}")
    y = depthwise_conv(inputs, depthwise_kernel, strides=strides, padding=padding, dilation_rate=dilation_rate)
    return conv(y, pointwise_kernel)


def _check_same_shape(name, target, output):
    if tuple(target.shape) != tuple(output.shape):
        raise ValueError(f"{name}: target and output must have the same shape, received {tuple(target.shape)} "
                         f"and {tuple(output.shape)}")


def _attention_mask(mask, causal, logits_shape, xp):
    """Boolean (..., Tq, Tk) of allowed logits, or None when everything is allowed."""
    allowed = None
    if mask is not None:
        allowed = xp.asarray(as_tensor(mask).data, dtype=bool)
    if causal:
        tq, tk = logits_shape[-2:]
        tri = xp.tril(xp.ones((tq, tk), dtype=bool))
        allowed = tri if allowed is None else allowed & tri
    return allowed


def _channels_last(x, data_format):
    if data_format == "channels_first":
        return transpose(x, (0, 2, 3, 1))
    if data_format != "channels_last":
        raise ValueError(f"data_format must be 'channels_last' or 'channels_first', received {data_format!r}")
    return x


def _from_channels_last(y, data_format):
    return transpose(y, (0, 3, 1, 2)) if data_format == "channels_first" else y

