"""Gradient cases for the core ops (math, reduce, shape, linalg, nn activations, softmax, dropout).

Each OpCase draws small random float64 inputs, broadcasting and size-1 axes included; the shared
runner in test_gradients.py checks every one with tinydl.testing.gradcheck.
"""
import numpy as np
import scipy.special
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinydl as td
from tinydl.testing import (
    OpCase, array_tuples, arrays, broadcastable_shapes, index_arrays, positive_arrays, separated_arrays, shapes,
)

SIDE = 3  # small sides keep finite differences cheap: at most 27 elements per input


def any_shape(min_dims=0, max_dims=3, min_side=1):
    return shapes(min_dims, max_dims, min_side, max(SIDE, min_side))


def one(shape=None, **kwargs):
    """A 1-tuple of one array (for unary ops)."""
    return st.tuples(arrays(shape if shape is not None else any_shape(), **kwargs))


def two_broadcast(**kwargs):
    """Two arrays of shapes that broadcast together."""
    return broadcastable_shapes(max_side=SIDE).flatmap(lambda s: array_tuples(*s, **kwargs))


def positive_divisor():
    return broadcastable_shapes(max_side=SIDE).flatmap(
        lambda s: st.tuples(arrays(s[0]), arrays(s[1], away_from=(0,), margin=0.4)))


def power_inputs():
    return broadcastable_shapes(max_side=SIDE).flatmap(
        lambda s: st.tuples(positive_arrays(s[0], (0.3, 2.0)), arrays(s[1], (-2.0, 2.0))))


def separated_pair():
    return broadcastable_shapes(max_side=SIDE).flatmap(lambda s: separated_arrays(*s))


def where_inputs():
    def build(s):
        cond_shape = np.broadcast_shapes(*s)
        return st.tuples(hnp.arrays(np.bool_, cond_shape), arrays(s[0]), arrays(s[1]))
    return broadcastable_shapes(max_side=SIDE).flatmap(build)


def with_zeros(shape):
    """Arrays where about a third of the elements are exactly zero (for prod)."""
    values = st.one_of(st.just(0.0), st.floats(-2, 2), st.floats(-2, 2))
    return shape.flatmap(lambda s: hnp.arrays(np.float64, s, elements=values))


def same_tail(n, min_dims=0):
    """n arrays that agree on every axis but the first (for concatenate)."""
    def build(tail):
        return st.tuples(*[arrays(st.integers(1, SIDE).map(lambda k: (k,) + tail)) for _ in range(n)])
    return any_shape(min_dims, 2).flatmap(build)


def matmul_inputs(kind):
    """(a, b) for matmul: '2d', 'batched' (broadcast batch axes), 'vec-mat', 'mat-vec', 'vec-vec'."""
    dims = st.tuples(st.integers(1, SIDE), st.integers(1, SIDE), st.integers(1, SIDE))

    def build(nkp):
        n, k, p = nkp
        if kind == "2d":
            return array_tuples((n, k), (k, p))
        if kind == "vec-mat":
            return array_tuples((k,), (k, p))
        if kind == "mat-vec":
            return array_tuples((n, k), (k,))
        if kind == "vec-vec":
            return array_tuples((k,), (k,))
        return broadcastable_shapes(min_dims=1, max_dims=2, max_side=2).flatmap(
            lambda bs: array_tuples(bs[0] + (n, k), bs[1] + (k, p)))
    return dims.flatmap(build)


def take_inputs(axis):
    """(x, indices) with repeated indices along `axis` (flattened when None)."""
    def build(shape):
        size = int(np.prod(shape)) if axis is None else shape[axis]
        return st.tuples(arrays(shape), index_arrays(size, shapes(1, 2, 1, 4)))
    return any_shape(1 if axis is None else 2, 3).flatmap(build)


def getitem_inputs():
    """One array with at least two axes of length two or more."""
    return st.tuples(arrays(shapes(2, 3, 2, SIDE)))


def dims(*sizes):
    """Shapes with the given lengths, None meaning a random length."""
    return st.tuples(*[st.integers(1, SIDE) if s is None else st.just(s) for s in sizes])


def einsum_inputs(*patterns):
    """Arrays for an einsum whose operands use the letters in `patterns`; each letter gets one length."""
    letters = sorted(set("".join(patterns)))

    def build(sizes):
        size = dict(zip(letters, sizes))
        return array_tuples(*[tuple(size[c] for c in p) for p in patterns])
    return st.tuples(*[st.integers(1, SIDE) for _ in letters]).flatmap(build)


def seeded_dropout(x, rate):
    """Dropout with the same mask on every call, so finite differences see one function."""
    td.set_seed(1234)
    return td.dropout(x, rate)


def split_all(x):
    parts = td.split(x, 2, axis=0)
    return td.concatenate([p * float(i + 1) for i, p in enumerate(parts)], axis=0)


def split_first_only(x):
    return td.split(x, [1], axis=-1)[0] * 3.0


def reduce_cases(name, fn, reference, strategy=None, **arr_kwargs):
    """Three cases for a reduction: over all axes, over axis 0, over (0, -1) with keepdims."""
    strat = strategy or (lambda shape: st.tuples(arrays(shape, **arr_kwargs)))
    return [
        OpCase(name, lambda x: fn(x), strat(any_shape(0, 3)), variant="all", reference=reference),
        OpCase(name, lambda x: fn(x, axis=0), strat(any_shape(1, 3)), variant="axis=0",
               reference=lambda x: reference(x, axis=0)),
        OpCase(name, lambda x: fn(x, axis=(0, -1), keepdims=True), strat(any_shape(2, 3)),
               variant="axis=(0,-1),keepdims", reference=lambda x: reference(x, axis=(0, -1), keepdims=True)),
    ]


# -- NumPy references: the forward written independently of tinydl, plainly rather than fast ---------------
def reference_logsumexp(x, axis=None, keepdims=False):
    return np.log(np.sum(np.exp(x), axis=axis, keepdims=keepdims))


def reference_matmul(a, b):
    """Sums of products written out with broadcasting (not np.matmul, which the op itself calls)."""
    if a.ndim == 1 and b.ndim == 1:
        return (a * b).sum()
    if a.ndim == 1:
        return (a[:, None] * b).sum(axis=-2)
    if b.ndim == 1:
        return (a * b).sum(axis=-1)
    return (a[..., :, :, None] * b[..., None, :, :]).sum(axis=-2)


def reference_selu(x):
    alpha, scale = 1.6732632423543772, 1.0507009873554805  # Klambauer et al. (2017), as Keras
    return scale * np.where(x > 0, x, alpha * (np.exp(x) - 1))


def reference_softmax(x, axis=-1):
    e = np.exp(x)
    return e / e.sum(axis=axis, keepdims=True)


CASES = [
    # elementwise arithmetic, broadcasting both ways
    OpCase("add", td.add, two_broadcast(), reference=np.add),
    OpCase("add", lambda x: 2.5 + x + 1, one(), variant="python scalars", reference=lambda x: x + 3.5),
    OpCase("subtract", td.subtract, two_broadcast(), reference=np.subtract),
    OpCase("subtract", lambda x: 1 - x, one(), variant="rsub", reference=lambda x: 1 - x),
    OpCase("multiply", td.multiply, two_broadcast(), reference=np.multiply),
    OpCase("multiply", lambda x: x * x, one(), variant="x*x", reference=np.square),
    OpCase("divide", td.divide, positive_divisor(), reference=np.divide),
    OpCase("divide", lambda x: 1 / x, one(away_from=(0,), margin=0.4), variant="rdiv", reference=np.reciprocal),
    OpCase("power", td.power, power_inputs(), variant="tensor exponent", reference=np.power),
    OpCase("power", lambda x: x ** 3, one(), variant="x**3", reference=lambda x: x * x * x),
    OpCase("power", lambda x: 2.0 ** x, one(), variant="2**x", reference=np.exp2),
    OpCase("negative", td.negative, one(), reference=np.negative),
    OpCase("exp", td.exp, one(), reference=np.exp),
    OpCase("log", td.log, st.tuples(positive_arrays(any_shape())), reference=np.log),
    OpCase("log1p", td.log1p, one(elements=(-0.6, 2.0)), reference=np.log1p),
    OpCase("sqrt", td.sqrt, st.tuples(positive_arrays(any_shape())), reference=np.sqrt),
    OpCase("abs", td.abs, one(away_from=(0,)), reference=np.abs),
    OpCase("square", td.square, one(), reference=np.square),
    OpCase("maximum", td.maximum, separated_pair(), reference=np.maximum),
    OpCase("minimum", td.minimum, separated_pair(), reference=np.minimum),
    OpCase("clip", lambda x: td.clip(x, -0.5, 0.7), one(away_from=(-0.5, 0.7)),
           reference=lambda x: np.minimum(np.maximum(x, -0.5), 0.7)),
    OpCase("clip", lambda x: td.clip(x, a_min=0.25), one(away_from=(0.25,)), variant="lower only",
           reference=lambda x: np.maximum(x, 0.25)),
    OpCase("where", td.where, where_inputs(), reference=np.where),
    OpCase("cast", lambda x: td.cast(x, np.float64) * 2.0, one(), reference=lambda x: x * 2.0),
    # reductions
    *reduce_cases("sum", td.sum, np.sum),
    *reduce_cases("mean", td.mean, np.mean),
    *reduce_cases("max", td.max, np.max, distinct=True),
    *reduce_cases("min", td.min, np.min, distinct=True),
    *reduce_cases("logsumexp", td.logsumexp, reference_logsumexp),
    *reduce_cases("prod", td.prod, np.prod, strategy=lambda shape: st.tuples(with_zeros(shape))),
    OpCase("var", lambda x: td.var(x, axis=-1), one(any_shape(1, 3)), reference=lambda x: np.var(x, axis=-1)),
    OpCase("var", lambda x: td.var(x, axis=0, ddof=1, keepdims=True), one(any_shape(1, 3, min_side=2)),
           variant="ddof=1", reference=lambda x: np.var(x, axis=0, ddof=1, keepdims=True)),
    OpCase("std", lambda x: td.std(x), one(shapes(1, 2, 2, SIDE), distinct=True), reference=np.std),
    OpCase("std", lambda x: td.std(x, axis=-1, ddof=1), one(shapes(1, 3, 2, SIDE), distinct=True),
           variant="ddof=1", reference=lambda x: np.std(x, axis=-1, ddof=1)),
    OpCase("cumsum", lambda x: td.cumsum(x), one(any_shape(1, 3)), variant="flat", reference=np.cumsum),
    OpCase("cumsum", lambda x: td.cumsum(x, axis=-1), one(any_shape(1, 3)), variant="axis=-1",
           reference=lambda x: np.cumsum(x, axis=-1)),
    # shapes and indexing
    OpCase("reshape", lambda x: td.reshape(x, (-1,)), one(), reference=np.ravel),
    OpCase("reshape", lambda x: x.reshape(1, -1, 1), one(), variant="method", reference=lambda x: x.reshape(1, -1, 1)),
    OpCase("transpose", lambda x: td.transpose(x), one(), reference=np.transpose),
    OpCase("transpose", lambda x: td.transpose(x, (1, 2, 0)), one(any_shape(3, 3)), variant="axes",
           reference=lambda x: np.transpose(x, (1, 2, 0))),
    OpCase("moveaxis", lambda x: td.moveaxis(x, 0, -1), one(any_shape(2, 3)),
           reference=lambda x: np.moveaxis(x, 0, -1)),
    OpCase("expand_dims", lambda x: td.expand_dims(x, 0), one(), reference=lambda x: x[None]),
    OpCase("squeeze", lambda x: td.squeeze(x), one(shapes(1, 3, 1, 2)), reference=np.squeeze),
    OpCase("concatenate", lambda a, b, c: td.concatenate([a, b, c], axis=0), same_tail(3),
           reference=lambda a, b, c: np.concatenate([a, b, c], axis=0)),
    OpCase("stack", lambda a, b: td.stack([a, b], axis=-1), any_shape().flatmap(lambda s: array_tuples(s, s)),
           reference=lambda a, b: np.stack([a, b], axis=-1)),
    OpCase("split", split_all, one(dims(4, None)), reference=lambda x: x * np.array([1, 1, 2, 2])[:, None]),
    OpCase("split", split_first_only, one(dims(None, 3)), variant="one part used", reference=lambda x: x[:, :1] * 3),
    OpCase("pad", lambda x: td.pad(x, 1), one(any_shape(1, 3)), reference=lambda x: np.pad(x, 1)),
    OpCase("pad", lambda x: td.pad(x, ((0, 2), (1, 0)), constant_values=0.5), one(any_shape(2, 2)),
           variant="per axis", reference=lambda x: np.pad(x, ((0, 2), (1, 0)), constant_values=0.5)),
    OpCase("take", lambda x, i: td.take(x, i, axis=1), take_inputs(1), reference=lambda x, i: np.take(x, i, axis=1)),
    OpCase("take", lambda x, i: td.take(x, i), take_inputs(None), variant="flat", reference=np.take),
    OpCase("gather", lambda x, i: td.gather(x, i, axis=0), take_inputs(0), reference=lambda x, i: x[i]),
    OpCase("broadcast_to", lambda x, y: td.broadcast_to(x, np.broadcast_shapes(x.shape, y.shape)) * y,
           two_broadcast(), wrt=[0], reference=np.multiply),
    OpCase("tile", lambda x: td.tile(x, (2, 1, 3)), one(any_shape(0, 3)), reference=lambda x: np.tile(x, (2, 1, 3))),
    OpCase("repeat", lambda x: td.repeat(x, 2, axis=0), one(any_shape(1, 3)),
           reference=lambda x: np.repeat(x, 2, axis=0)),
    OpCase("repeat", lambda x: td.repeat(x, 3), one(), variant="flat", reference=lambda x: np.repeat(x, 3)),
    OpCase("flip", lambda x: td.flip(x), one(), reference=lambda x: x[(slice(None, None, -1),) * x.ndim]),
    OpCase("flip", lambda x: td.flip(x, axis=0), one(any_shape(1, 3)), variant="axis=0", reference=lambda x: x[::-1]),
    OpCase("getitem", lambda x: x[1:, ::-1], getitem_inputs(), variant="slices", reference=lambda x: x[1:, ::-1]),
    OpCase("getitem", lambda x: x[0, ..., None], getitem_inputs(), variant="int, ellipsis, newaxis",
           reference=lambda x: x[0, ..., None]),
    OpCase("getitem", lambda x: x[[0, 1, 0, 0]], getitem_inputs(), variant="repeated int array",
           reference=lambda x: x[[0, 1, 0, 0]]),
    OpCase("getitem", lambda x: x[np.array([[1, 0], [1, 1]]), :, np.array([0, 1])[:, None]],
           st.tuples(arrays(shapes(3, 3, 2, SIDE))), variant="advanced mixed",
           reference=lambda x: x[np.array([[1, 0], [1, 1]]), :, np.array([0, 1])[:, None]]),
    OpCase("getitem", lambda x: x[x.data > 0], one(shapes(1, 2, 1, SIDE), away_from=(0,)), variant="bool mask",
           reference=lambda x: x[x > 0]),
    OpCase("to_device", lambda x: td.to_device(x, "cpu") * 2.0, one(), reference=lambda x: x * 2.0),
    # matrix products
    OpCase("matmul", td.matmul, matmul_inputs("2d"), variant="2d", reference=reference_matmul),
    OpCase("matmul", td.matmul, matmul_inputs("batched"), variant="batched broadcast", reference=reference_matmul),
    OpCase("matmul", td.matmul, matmul_inputs("vec-mat"), variant="1d @ 2d", reference=reference_matmul),
    OpCase("matmul", lambda a, b: a @ b, matmul_inputs("mat-vec"), variant="2d @ 1d", reference=reference_matmul),
    OpCase("matmul", td.matmul, matmul_inputs("vec-vec"), variant="1d @ 1d", reference=reference_matmul),
    OpCase("einsum", lambda a, b: td.einsum("ij,jk->ik", a, b), einsum_inputs("ij", "jk"), variant="matmul",
           reference=reference_matmul),
    OpCase("einsum", lambda a, b: td.einsum("bij,bjk->bik", a, b), einsum_inputs("bij", "bjk"),
           variant="batched", reference=reference_matmul),
    OpCase("einsum", lambda a, b: td.einsum("i,j", a, b), einsum_inputs("i", "j"), variant="outer implicit",
           reference=np.outer),
    OpCase("einsum", lambda a: td.einsum("ijk->ki", a), einsum_inputs("ijk"), variant="sum + transpose",
           reference=lambda a: a.sum(axis=1).T),
    OpCase("einsum", lambda a, b, c: td.einsum("ij,jk,kl->il", a, b, c), einsum_inputs("ij", "jk", "kl"),
           variant="three operands", reference=lambda a, b, c: reference_matmul(reference_matmul(a, b), c)),
    # activations
    OpCase("tanh", td.tanh, one(), reference=np.tanh),
    OpCase("sigmoid", td.sigmoid, one(elements=(-6, 6)), reference=lambda x: 1 / (1 + np.exp(-x))),
    OpCase("relu", td.relu, one(away_from=(0,)), reference=lambda x: np.where(x > 0, x, 0.0)),
    OpCase("leaky_relu", lambda x: td.leaky_relu(x, 0.1), one(away_from=(0,)),
           reference=lambda x: np.where(x > 0, x, 0.1 * x)),
    OpCase("elu", td.elu, one(away_from=(0,)), reference=lambda x: np.where(x > 0, x, np.exp(x) - 1)),
    OpCase("selu", td.selu, one(away_from=(0,)), reference=reference_selu),
    OpCase("gelu", td.gelu, one(elements=(-4, 4)), variant="exact",
           reference=lambda x: 0.5 * x * (1 + scipy.special.erf(x / np.sqrt(2)))),
    OpCase("gelu", lambda x: td.gelu(x, approximate=True), one(elements=(-4, 4)), variant="approximate",
           reference=lambda x: 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))),
    OpCase("softplus", td.softplus, one(elements=(-5, 5)), reference=lambda x: np.log(1 + np.exp(x))),
    OpCase("silu", td.silu, one(elements=(-5, 5)), reference=lambda x: x / (1 + np.exp(-x))),
    OpCase("hard_sigmoid", td.hard_sigmoid, one(elements=(-4, 4), away_from=(-3, 3)),
           reference=lambda x: np.clip(x + 3, 0, 6) / 6),
    OpCase("erf", td.erf, one(), reference=scipy.special.erf),
    OpCase("softmax", td.softmax, one(any_shape(1, 3)), reference=reference_softmax),
    OpCase("softmax", lambda x: td.softmax(x, axis=0), one(any_shape(1, 3)), variant="axis=0",
           reference=lambda x: reference_softmax(x, axis=0)),
    OpCase("log_softmax", td.log_softmax, one(any_shape(1, 3)), reference=lambda x: np.log(reference_softmax(x))),
    OpCase("log_softmax", lambda x: td.log_softmax(x, axis=0), one(any_shape(2, 3)), variant="axis=0",
           reference=lambda x: np.log(reference_softmax(x, axis=0))),
    # no reference: the mask is random; tests/test_autograd.py checks its scaling and reproducibility
    OpCase("dropout", lambda x: seeded_dropout(x, 0.5), one(any_shape(1, 3))),
]
