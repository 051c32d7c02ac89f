"""Activation functions by Keras 3 name, on Tensors, built from `tinydl.ops`.

    act = activations.get("relu")      # a function Tensor -> Tensor
    activations.serialize(act)         # 'relu'

`get(None)` is `linear`. Names follow Keras: 'swish' is an alias of 'silu' (serialized as 'silu').
"""
from tinydl import ops
from tinydl.io.config import register_serializable
from tinydl.tensor import Tensor, as_tensor
from tinydl.io import config as cfg

__all__ = [
    "relu", "relu6", "leaky_relu", "elu", "selu", "gelu", "softplus", "softsign", "silu", "swish",
    "hard_sigmoid", "hard_silu", "hard_swish", "sigmoid", "tanh", "softmax", "log_softmax", "exponential",
    "linear", "mish", "celu", "glu", "hard_tanh", "hard_shrink", "soft_shrink", "tanh_shrink", "log_sigmoid",
    "squareplus", "sparse_plus", "sparse_sigmoid", "sparsemax", "threshold", "get", "serialize", "deserialize",
]


@register_serializable()
def relu(x, negative_slope=0.0, max_value=None, threshold=0.0):
    """max(x, 0), with Keras's optional negative slope, cap and threshold."""
    x = _t(x)
    if negative_slope == 0.0 and max_value is None and threshold == 0.0:
        return ops.relu(x)
    if negative_slope != 0.0 and max_value is None and threshold == 0.0:
        return ops.leaky_relu(x, negative_slope=negative_slope)
    out = x * ops.greater(x, threshold).astype(x.dtype) if threshold != 0.0 else ops.relu(x)
    if max_value is not None:
        out = ops.clip(out, 0.0, max_value)
    if negative_slope != 0.0:
        out = out - negative_slope * ops.relu(threshold - x)
    return out


@register_serializable()
def relu6(x):
    """min(max(x, 0), 6)."""
    return ops.minimum(ops.relu(_t(x)), 6.0)


@register_serializable()
def leaky_relu(x, negative_slope=0.2):
    """x for x > 0, else negative_slope * x (Keras default slope 0.2)."""
    return ops.leaky_relu(_t(x), negative_slope=negative_slope)


@register_serializable()
def elu(x, alpha=1.0):
    """x for x > 0, else alpha * (exp(x) - 1)."""
    return ops.elu(_t(x), alpha=alpha)


@register_serializable()
def selu(x):
    """Scaled ELU with the self-normalising constants."""
    return ops.selu(_t(x))


@register_serializable()
def gelu(x, approximate=False):
    """x * Phi(x) (exact erf form by default, as Keras 3)."""
    return ops.gelu(_t(x), approximate=approximate)


@register_serializable()
def softplus(x):
    """log(1 + exp(x))."""
    return ops.softplus(_t(x))


@register_serializable()
def softsign(x):
    """x / (1 + |x|)."""
    x = _t(x)
    return x / (ops.abs(x) + 1.0)


@register_serializable()
def silu(x):
    """x * sigmoid(x) (also called swish)."""
    return ops.silu(_t(x))


swish = silu


@register_serializable()
def hard_sigmoid(x):
    """relu6(x + 3) / 6."""
    return ops.hard_sigmoid(_t(x))


@register_serializable()
def hard_silu(x):
    """x * hard_sigmoid(x)."""
    x = _t(x)
    return x * ops.hard_sigmoid(x)


hard_swish = hard_silu


@register_serializable()
def sigmoid(x):
    """1 / (1 + exp(-x))."""
    return ops.sigmoid(_t(x))


@register_serializable()
def tanh(x):
    """Hyperbolic tangent."""
    return ops.tanh(_t(x))


@register_serializable()
def softmax(x, axis=-1):
    """exp(x) / sum(exp(x)) along `axis` (the last by default, as Keras)."""
    return ops.softmax(_t(x), axis=axis)


@register_serializable()
def log_softmax(x, axis=-1):
    """log(softmax(x)) without overflow."""
    return ops.log_softmax(_t(x), axis=axis)


@register_serializable()
def exponential(x):
    """exp(x)."""
    return ops.exp(_t(x))


@register_serializable()
def linear(x):
    """The identity."""
    return _t(x)


@register_serializable()
def mish(x):
    """x * tanh(softplus(x))."""
    x = _t(x)
    return x * ops.tanh(ops.softplus(x))


@register_serializable()
def celu(x, alpha=1.0):
    """max(x, 0) + alpha * (exp(min(x, 0) / alpha) - 1)."""
    x = _t(x)
    return ops.relu(x) + alpha * (ops.exp(ops.minimum(x, 0.0) / alpha) - 1.0)


@register_serializable()
def glu(x, axis=-1):
    """a * sigmoid(b), where a and b are the two halves of x along `axis`."""
    x = _t(x)
    if x.shape[axis] % 2:
        raise ValueError(f"glu: axis {axis} of shape {x.shape} must have an even length")
    a, b = ops.split(x, 2, axis=axis)
    return a * ops.sigmoid(b)


@register_serializable()
def hard_tanh(x):
    """clip(x, -1, 1)."""
    return ops.clip(_t(x), -1.0, 1.0)


@register_serializable()
def hard_shrink(x, threshold=0.5):
    """x where |x| > threshold, else 0."""
    x = _t(x)
    return ops.where(ops.greater(ops.abs(x), threshold), x, 0.0)


@register_serializable()
def soft_shrink(x, threshold=0.5):
    """x - threshold above it, x + threshold below -threshold, 0 between."""
    x = _t(x)
    return ops.where(ops.greater(x, threshold), x - threshold,
                     ops.where(ops.less(x, -threshold), x + threshold, 0.0))


@register_serializable()
def tanh_shrink(x):
    """x - tanh(x)."""
    x = _t(x)
    return x - ops.tanh(x)


@register_serializable()
def log_sigmoid(x):
    """log(sigmoid(x)) = -softplus(-x), stable for large |x|."""
    return -ops.softplus(-_t(x))


@register_serializable()
def squareplus(x, b=4):
    """(x + sqrt(x^2 + b)) / 2."""
    x = _t(x)
    return (x + ops.sqrt(ops.square(x) + float(b))) * 0.5


@register_serializable()
def sparse_plus(x):
    """0 for x <= -1, (x + 1)^2 / 4 between, x for x >= 1."""
    x = _t(x)
    middle = ops.square(x + 1.0) * 0.25
    return ops.where(ops.less_equal(x, -1.0), 0.0, ops.where(ops.greater_equal(x, 1.0), x, middle))


@register_serializable()
def sparse_sigmoid(x):
    """0 for x <= -1, (x + 1) / 2 between, 1 for x >= 1."""
    return ops.sparse_sigmoid(_t(x))


@register_serializable()
def sparsemax(x, axis=-1):
    """Euclidean projection of x onto the probability simplex along `axis` (a softmax with exact zeros)."""
    return ops.sparsemax(_t(x), axis=axis)


@register_serializable()
def threshold(x, threshold, default_value):
    """x where x > threshold, else default_value."""
    return ops.threshold(_t(x), threshold, default_value)


_BY_NAME = {fn.__name__: fn for fn in (
    relu, relu6, leaky_relu, elu, selu, gelu, softplus, softsign, silu, hard_sigmoid, hard_silu, sigmoid,
    tanh, softmax, log_softmax, exponential, linear, mish, celu, glu, hard_tanh, hard_shrink, soft_shrink,
    tanh_shrink, log_sigmoid, squareplus, sparse_plus, sparse_sigmoid, sparsemax, threshold)}
_BY_NAME.update({"swish": silu, "hard_swish": hard_silu})


def get(identifier):
    """The activation function for a Keras name, a serialized dict, None (linear) or a callable."""
    if identifier is None:
        return linear
    if isinstance(identifier, str):
        fn = _BY_NAME.get(identifier)
        if fn is None:
            raise ValueError(f"unknown activation {identifier!r}; known: {sorted(_BY_NAME)}")
        return fn
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if callable(identifier):
        return identifier
    raise ValueError(f"could not interpret activation {identifier!r}: expected a name or a callable")


def serialize(activation):
    """The Keras name of an activation ('relu'); a custom callable's registered name or config."""
    if activation is None:
        return "linear"
    name = getattr(activation, "__name__", None)
    if name in _BY_NAME and _BY_NAME[name] is activation:
        return name
    return cfg.serialize(activation)


def deserialize(config, custom_objects=None):
    """An activation from a name or a serialized dict (Keras 3 writes functions as class_name 'function')."""
    if isinstance(config, str):
        if custom_objects and config in custom_objects:
            return custom_objects[config]
        return get(config)
    if isinstance(config, dict):
        if config.get("class_name") == "function":
            return deserialize(config.get("config"), custom_objects)
        return cfg.deserialize(config, custom_objects)
    return get(config)


def _t(x):
    """x as a Tensor."""
    return x if isinstance(x, Tensor) else as_tensor(x)

