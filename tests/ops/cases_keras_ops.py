"""Gradient cases for keras.ops's names added in issue 16: elementwise math, nn activations and losses,
NumPy-like reductions and shape ops, linalg, and core control flow.

Every case has a NumPy (or SciPy) reference written independently of tinydl; inputs keep away from
kinks (|x| = threshold, ties) so that finite differences see a smooth function.
"""
import itertools

import numpy as np
import scipy.linalg
import scipy.special
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinydl as td
from tinydl import ops
from tinydl.testing import (
    OpCase, array_tuples, arrays, broadcastable_shapes, positive_arrays, separated_arrays, shapes,
)

from .cases_core import SIDE, any_shape, one, two_broadcast

SHAPE = any_shape(1, 2)  # small: most cases here are elementwise or cheap compositions


def unary(name, reference, elements=(-2.0, 2.0), away_from=(), fn=None, variant="", **kwargs):
    """A case for an elementwise op of one input."""
    return OpCase(name, fn or getattr(ops, name), one(SHAPE, elements=elements, away_from=away_from),
                  variant=variant, reference=reference, kwargs=kwargs)


def binary(name, reference, strategy=None, **kwargs):
    return OpCase(name, getattr(ops, name), two_broadcast() if strategy is None else strategy, reference=reference,
                  kwargs=kwargs)


def positive_pair():
    return broadcastable_shapes(max_side=SIDE).flatmap(
        lambda s: st.tuples(positive_arrays(s[0]), arrays(s[1], away_from=(0,), margin=0.4)))


def matrices(n=None, batch=()):
    """(m,) with m a square float64 matrix, well conditioned (diagonal dominant)."""
    sizes = st.integers(1, SIDE) if n is None else st.just(n)
    return sizes.flatmap(lambda k: st.tuples(arrays(batch + (k, k)).map(lambda a: a + 4 * np.eye(k))))


def spd_factor(n=None):
    """(x,) such that x @ x.T + n I is symmetric positive-definite."""
    sizes = st.integers(1, SIDE) if n is None else st.just(n)
    return sizes.flatmap(lambda k: st.tuples(arrays((k, k))))


def spd(x):
    return x @ td.ops.swapaxes(x, -1, -2) + x.shape[-1] * np.eye(x.shape[-1])


def spd_np(x):
    return x @ np.swapaxes(x, -1, -2) + x.shape[-1] * np.eye(x.shape[-1])


def distinct(shape):
    return st.tuples(arrays(shape, distinct=True))


def separated_singular_values():
    """(m x n matrices,) near diag(8, 5, 2.5): singular values well apart and far from zero."""
    def build(shape):
        shift = np.zeros(shape)
        shift[range(min(shape)), range(min(shape))] = [8.0, 5.0, 2.5][:min(shape)]
        return st.tuples(arrays(shape, elements=(-0.5, 0.5)).map(lambda a: a + shift))
    return st.sampled_from([(2, 3), (3, 2), (3, 3)]).flatmap(build)


def tall_matrices():
    """(m x n with m >= n,) near a scaled identity, so that R's diagonal stays away from zero; no entry is 0,
    where LAPACK's Householder step switches sign (an all-zero sub-column makes QR discontinuous)."""
    def build(shape):
        shift = np.zeros(shape)
        shift[range(shape[1]), range(shape[1])] = 3.0
        return st.tuples(arrays(shape, elements=(-0.5, 0.5), away_from=(0,), margin=0.1).map(lambda a: a + shift))
    return st.sampled_from([(2, 2), (3, 2), (3, 3), (4, 2)]).flatmap(build)


def svd_invariants(x):
    """Quantities free of the singular vectors' signs: u**2, s and vh**2 weighted differently, summed."""
    u, s, vh = ops.svd(x, full_matrices=False)
    return td.concatenate([td.ravel(u * u), s * 3.0, td.ravel(vh * vh) * 2.0])


def svd_invariants_np(x):
    u, s, vh = np.linalg.svd(x, full_matrices=False)
    return np.concatenate([(u * u).ravel(), s * 3.0, (vh * vh).ravel() * 2.0])


# -- NumPy references -----------------------------------------------------------------------------------
def sparsemax_reference(x, axis=-1):
    """Projection onto the simplex (Martins & Astudillo, Algorithm 1), row by row."""
    x = np.moveaxis(x, axis, -1)
    out = np.empty_like(x)
    for idx in np.ndindex(x.shape[:-1]):
        z = np.sort(x[idx])[::-1]
        k = np.arange(1, len(z) + 1)
        support = 1 + k * z > np.cumsum(z)
        kz = k[support][-1]
        tau = (np.cumsum(z)[kz - 1] - 1) / kz
        out[idx] = np.maximum(x[idx] - tau, 0)
    return np.moveaxis(out, -1, axis)


def attention_reference(q, k, v, scale=None):
    scale = 1 / np.sqrt(q.shape[-1]) if scale is None else scale
    logits = np.einsum("btnh,bsnh->bnts", q, k) * scale
    w = np.exp(logits - logits.max(-1, keepdims=True))
    w /= w.sum(-1, keepdims=True)
    return np.einsum("bnts,bsnh->btnh", w, v)


def cumprod_reference(x, axis):
    out = np.ones_like(x)
    running = np.ones_like(np.take(x, 0, axis=axis))
    for i in range(x.shape[axis]):
        running = running * np.take(x, i, axis=axis)
        idx = [slice(None)] * x.ndim
        idx[axis] = i
        out[tuple(idx)] = running
    return out


def with_some_zeros(shape):
    values = st.one_of(st.just(0.0), st.floats(-2, 2), st.floats(-2, 2))
    return st.tuples(shape.flatmap(lambda s: hnp.arrays(np.float64, s, elements=values)))


def nan_inputs():
    """(x, mask) with the masked entries turned into NaN inside the case; at least one value kept per row."""
    return any_shape(2, 2, min_side=2).flatmap(
        lambda s: st.tuples(arrays(s, distinct=True), st.just(np.eye(*s, k=1, dtype=bool))))


def with_nans(fn):
    def case(x, mask):
        return fn(td.where(td.Tensor(mask), np.nan, x))
    return case


def with_nans_np(fn):
    def reference(x, mask):
        return fn(np.where(mask, np.nan, x))
    return reference


def segment_inputs(distinct_values=False):
    def build(n):
        return st.tuples(arrays((n, 2), distinct=distinct_values), st.just(np.arange(n) % 2))
    return st.integers(2, 5).flatmap(build)


def segment_reference(reduce):
    def reference(x, ids):
        return np.stack([reduce(x[ids == s], axis=0) for s in range(ids.max() + 1)])
    return reference


@ops.custom_gradient
def softplus_with_custom_gradient(x):
    """log(1 + e^x) computed without recording; its only gradient path is grad (sigmoid)."""
    def grad(upstream):
        return upstream / (1 + td.exp(-x))
    return td.log1p(td.exp(x)), grad


def scan_cumsum(x):
    carry, ys = ops.scan(lambda c, xi: (c + xi * c, c * xi), x[0] * 0 + 1.0, x)
    return carry + ys.sum(axis=0)


def scan_reference(x):
    c, ys = np.ones_like(x[0]), []
    for xi in x:
        c, y = c + xi * c, c * xi
        ys.append(y)
    return c + np.sum(ys, axis=0)


CASES = [
    # elementwise, one input
    unary("absolute", np.abs, away_from=(0,)), unary("fabs", np.abs, away_from=(0,)),
    unary("sin", np.sin), unary("cos", np.cos), unary("tan", np.tan, elements=(-1.2, 1.2)),
    unary("arcsin", np.arcsin, elements=(-0.9, 0.9)), unary("arccos", np.arccos, elements=(-0.9, 0.9)),
    unary("arctan", np.arctan), unary("sinh", np.sinh), unary("cosh", np.cosh), unary("arcsinh", np.arcsinh),
    unary("arccosh", np.arccosh, elements=(1.2, 3.0)), unary("arctanh", np.arctanh, elements=(-0.9, 0.9)),
    unary("exp2", np.exp2), unary("expm1", np.expm1), unary("log2", np.log2, elements=(0.2, 3.0)),
    unary("log10", np.log10, elements=(0.2, 3.0)), unary("cbrt", np.cbrt, away_from=(0,), ),
    unary("reciprocal", lambda x: 1 / x, away_from=(0,)), unary("rsqrt", lambda x: 1 / np.sqrt(x), elements=(0.2, 3)),
    unary("deg2rad", lambda x: x * np.pi / 180), unary("rad2deg", lambda x: x * 180 / np.pi),
    unary("sinc", lambda x: np.sin(np.pi * x) / (np.pi * x), away_from=(0,)),
    unary("erfc", scipy.special.erfc), unary("erfinv", scipy.special.erfinv, elements=(-0.9, 0.9)),
    unary("relu6", lambda x: np.minimum(np.maximum(x, 0), 6), elements=(-2, 8), away_from=(0, 6)),
    unary("celu", lambda x: np.where(x > 0, x, 0.5 * (np.exp(x / 0.5) - 1)), away_from=(0,), alpha=0.5),
    unary("hard_shrink", lambda x: np.where(np.abs(x) > 0.5, x, 0), away_from=(-0.5, 0.5)),
    unary("soft_shrink", lambda x: np.where(x > 0.3, x - 0.3, np.where(x < -0.3, x + 0.3, 0)),
          away_from=(-0.3, 0.3), threshold=0.3),
    unary("hard_silu", lambda x: x * np.minimum(np.maximum(x + 3, 0), 6) / 6, elements=(-5, 5), away_from=(-3, 3)),
    unary("hard_swish", lambda x: x * np.minimum(np.maximum(x + 3, 0), 6) / 6, elements=(-5, 5), away_from=(-3, 3)),
    unary("hard_tanh", lambda x: np.clip(x, -1, 1), away_from=(-1, 1)),
    unary("log_sigmoid", lambda x: -np.log1p(np.exp(-x)), elements=(-5, 5)),
    unary("softsign", lambda x: x / (1 + np.abs(x)), away_from=(0,)),
    unary("sparse_plus", lambda x: np.where(x <= -1, 0, np.where(x >= 1, x, (x + 1) ** 2 / 4)), away_from=(-1, 1)),
    unary("sparse_sigmoid", lambda x: np.where(x <= -1, 0, np.where(x >= 1, 1, (x + 1) / 2)), away_from=(-1, 1)),
    unary("squareplus", lambda x: (x + np.sqrt(x * x + 2)) / 2, b=2),
    unary("swish", lambda x: x / (1 + np.exp(-x))), unary("tanh_shrink", lambda x: x - np.tanh(x)),
    OpCase("threshold", lambda x: ops.threshold(x, 0.2, -1.0), one(SHAPE, away_from=(0.2,)),
           reference=lambda x: np.where(x > 0.2, x, -1.0)),
    OpCase("real", ops.real, one(SHAPE), reference=np.real),
    OpCase("imag", lambda x: ops.imag(x) + x, one(SHAPE), reference=lambda x: x),
    OpCase("conj", ops.conj, one(SHAPE), reference=np.conj),
    OpCase("conjugate", ops.conjugate, one(SHAPE), reference=np.conjugate),
    OpCase("copy", ops.copy, one(SHAPE), reference=np.copy),
    OpCase("convert_to_tensor", lambda x: ops.convert_to_tensor(x) * 2, one(SHAPE), reference=lambda x: 2 * x),
    OpCase("saturate_cast", lambda x: ops.saturate_cast(x, "float64") * 2, one(SHAPE), reference=lambda x: x * 2),
    OpCase("nan_to_num", lambda x: ops.nan_to_num(td.log(x)), one(SHAPE, elements=(0.2, 2)), reference=np.log),
    OpCase("custom_gradient", lambda x: softplus_with_custom_gradient(x) * 0.5, one(SHAPE),
           reference=lambda x: np.log1p(np.exp(x)) * 0.5),
    # elementwise, two inputs
    binary("arctan2", np.arctan2, positive_pair()), binary("hypot", np.hypot, positive_pair()),
    binary("logaddexp", np.logaddexp), binary("logaddexp2", np.logaddexp2),
    OpCase("fmax", ops.fmax, broadcastable_shapes(max_side=SIDE).flatmap(
        lambda s: array_tuples(*s, distinct=True)).filter(lambda ab: not np.isin(ab[0], ab[1]).any()),
        reference=np.fmax),
    OpCase("fmin", ops.fmin, broadcastable_shapes(max_side=SIDE).flatmap(
        lambda s: array_tuples(*s, distinct=True)).filter(lambda ab: not np.isin(ab[0], ab[1]).any()),
        reference=np.fmin),
    OpCase("mod", ops.mod, st.tuples(arrays((3,), elements=(0.1, 0.9)), st.just(np.array([0.7, -0.9, 2.0]))),
           wrt=[0], reference=np.mod),
    OpCase("fmod", ops.fmod, st.tuples(arrays((3,), elements=(-0.9, 0.9)), st.just(np.array([1.3, -1.5, 2.0]))),
           reference=np.fmod),
    OpCase("divide_no_nan", ops.divide_no_nan, st.tuples(arrays((4,)), st.just(np.array([0.0, 1.5, -2.0, 0.0]))),
           wrt=[0], reference=lambda a, b: np.where(b == 0, 0, a / np.where(b == 0, 1, b))),
    binary("true_divide", np.true_divide, positive_pair()),
    OpCase("ldexp", lambda x: ops.ldexp(x, np.array([1, -2, 3])), one((3,)),
           reference=lambda x: np.ldexp(x, [1, -2, 3])),
    # activations along an axis, normalisation, losses
    OpCase("glu", lambda x: ops.glu(x, axis=0), one(st.tuples(st.just(4), st.integers(1, 3))),
           reference=lambda x: x[:2] / (1 + np.exp(-x[2:]))),
    OpCase("sparsemax", ops.sparsemax, distinct(st.tuples(st.integers(1, 3), st.integers(2, 4))),
           reference=sparsemax_reference),
    OpCase("normalize", ops.normalize, one(shapes(1, 2, 1, SIDE), elements=(0.3, 2)),
           reference=lambda x: x / np.sqrt((x * x).sum(-1, keepdims=True))),
    OpCase("normalize", lambda x: ops.normalize(x, axis=0, order=1), one(shapes(2, 2, 1, SIDE), elements=(0.3, 2)),
           variant="order=1", reference=lambda x: x / np.abs(x).sum(0, keepdims=True)),
    OpCase("moments", lambda x: ops.moments(x, (0,))[1] + ops.moments(x, (0,))[0], one(shapes(2, 2, 2, SIDE)),
           reference=lambda x: x.var(0) + x.mean(0)),
    OpCase("layer_normalization", lambda x, g, b: ops.layer_normalization(x, g, b, epsilon=1e-3),
           st.integers(2, 4).flatmap(lambda n: array_tuples((2, n), (n,), (n,), distinct=True)),
           reference=lambda x, g, b: (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-3) * g
           + b),
    OpCase("rms_normalization", lambda x, s: ops.rms_normalization(x, s, epsilon=1e-3),
           st.integers(1, 4).flatmap(lambda n: array_tuples((2, n), (n,))),
           reference=lambda x, s: x / np.sqrt((x * x).mean(-1, keepdims=True) + 1e-3) * s),
    OpCase("batch_normalization", lambda x, m, v, o, s: ops.batch_normalization(x, m, v, -1, o, s),
           st.integers(1, 3).flatmap(lambda c: st.tuples(arrays((2, c)), arrays((c,)), positive_arrays((c,)),
                                                         arrays((c,)), arrays((c,)))),
           reference=lambda x, m, v, o, s: (x - m) / np.sqrt(v + 1e-3) * s + o),
    OpCase("binary_crossentropy", ops.binary_crossentropy,
           st.tuples(arrays((2, 3), elements=(0, 1)), arrays((2, 3), elements=(0.05, 0.95))),
           reference=lambda t, p: -(t * np.log(p) + (1 - t) * np.log(1 - p))),
    OpCase("binary_crossentropy", lambda t, z: ops.binary_crossentropy(t, z, from_logits=True),
           array_tuples((2, 3), (2, 3)), variant="logits",
           reference=lambda t, z: -(t * np.log(1 / (1 + np.exp(-z))) + (1 - t) * np.log(1 - 1 / (1 + np.exp(-z))))),
    OpCase("categorical_crossentropy", ops.categorical_crossentropy,
           st.tuples(arrays((2, 3), elements=(0, 1)), arrays((2, 3), elements=(0.2, 1.0))),
           reference=lambda t, p: -(t * np.log(p / p.sum(-1, keepdims=True))).sum(-1)),
    OpCase("categorical_crossentropy", lambda t, z: ops.categorical_crossentropy(t, z, from_logits=True),
           array_tuples((2, 3), (2, 3)), variant="logits",
           reference=lambda t, z: -(t * (z - np.log(np.exp(z).sum(-1, keepdims=True)))).sum(-1)),
    OpCase("sparse_categorical_crossentropy", lambda z: ops.sparse_categorical_crossentropy(
        np.array([2, 0]), z, from_logits=True), one((2, 3)),
        reference=lambda z: -(z - np.log(np.exp(z).sum(-1, keepdims=True)))[[0, 1], [2, 0]]),
    OpCase("psnr", lambda a, b: ops.psnr(a, b, 2.0), separated_arrays((2, 3), (2, 3)),
           reference=lambda a, b: 20 * np.log10(2.0) - 10 * np.log10(((a - b) ** 2).mean())),
    OpCase("dot_product_attention", ops.dot_product_attention,
           st.tuples(arrays((1, 2, 2, 3)), arrays((1, 3, 2, 3)), arrays((1, 3, 2, 2))), reference=attention_reference),
    OpCase("dot_product_attention", lambda q, k, v: ops.dot_product_attention(q, k, v, bias=np.zeros((1, 2, 2, 3))),
           st.tuples(arrays((1, 2, 2, 3)), arrays((1, 3, 2, 3)), arrays((1, 3, 2, 2))), variant="bias",
           reference=attention_reference),
    OpCase("depth_to_space", lambda x: ops.depth_to_space(x, 2), one((1, 2, 1, 8)),
           reference=lambda x: x.reshape(1, 2, 1, 2, 2, 2).transpose(0, 1, 3, 2, 4, 5).reshape(1, 4, 2, 2)),
    OpCase("space_to_depth", lambda x: ops.space_to_depth(x, 2), one((1, 2, 4, 1)),
           reference=lambda x: x.reshape(1, 1, 2, 2, 2, 1).transpose(0, 1, 3, 2, 4, 5).reshape(1, 1, 2, 4)),
    OpCase("separable_conv", ops.separable_conv, st.tuples(arrays((1, 3, 3, 2)), arrays((2, 2, 2, 1)),
                                                           arrays((1, 1, 2, 2))),
           reference=lambda x, d, p: np.einsum("nhwc,cd->nhwd", np.stack([np.stack([
               np.einsum("ijc,ijc->c", x[0, i:i + 2, j:j + 2], d[..., 0]) for j in range(2)]) for i in range(2)])[None],
               p[0, 0])),
    # reductions
    OpCase("amax", lambda x: ops.amax(x, axis=0), distinct(shapes(1, 2, 1, SIDE)), reference=lambda x: x.max(0)),
    OpCase("amin", lambda x: ops.amin(x, axis=-1), distinct(shapes(1, 2, 1, SIDE)), reference=lambda x: x.min(-1)),
    OpCase("average", lambda x, w: ops.average(x, axis=1, weights=w),
           st.integers(1, 3).flatmap(lambda n: st.tuples(arrays((2, n)), positive_arrays((n,)))),
           reference=lambda x, w: (x * w).sum(1) / w.sum()),
    OpCase("median", lambda x: ops.median(x, axis=-1), distinct(shapes(1, 2, 1, 4)),
           reference=lambda x: np.median(x, axis=-1)),
    OpCase("quantile", lambda x: ops.quantile(x, np.array([0.2, 0.9])), distinct(shapes(1, 2, 1, 3)),
           reference=lambda x: np.quantile(x, [0.2, 0.9])),
    OpCase("quantile", lambda x: ops.quantile(x, 0.4, axis=0, method="nearest", keepdims=True),
           distinct(shapes(1, 2, 1, 3)), variant="nearest",
           reference=lambda x: np.quantile(x, 0.4, axis=0, method="nearest", keepdims=True)),
    OpCase("percentile", lambda x: ops.percentile(x, 35.0, axis=-1), distinct(shapes(1, 2, 1, 4)),
           reference=lambda x: np.percentile(x, 35.0, axis=-1)),
    OpCase("ptp", lambda x: ops.ptp(x, axis=0), distinct(shapes(1, 2, 1, SIDE)), reference=lambda x: np.ptp(x, 0)),
    OpCase("cumprod", lambda x: ops.cumprod(x, axis=-1), with_some_zeros(shapes(1, 2, 1, 4)),
           reference=lambda x: cumprod_reference(x, -1)),
    OpCase("cumprod", ops.cumprod, with_some_zeros(shapes(1, 2, 1, 3)), variant="flat",
           reference=lambda x: cumprod_reference(x.ravel(), 0)),
    OpCase("diff", lambda x: ops.diff(x, n=2, axis=0), one(shapes(1, 2, 3, 4)), reference=lambda x: np.diff(x, 2, 0)),
    OpCase("trapezoid", lambda y, x: ops.trapezoid(y, x), st.integers(2, 4).flatmap(
        lambda n: array_tuples((2, n), (n,))), reference=lambda y, x: np.trapezoid(y, x)),
    OpCase("trace", lambda x: ops.trace(x, offset=1, axis1=1, axis2=0), one(shapes(2, 3, 1, SIDE)),
           reference=lambda x: np.trace(x, 1, 1, 0)),
    OpCase("nansum", with_nans(lambda x: ops.nansum(x, axis=0)), nan_inputs(),
           reference=with_nans_np(lambda x: np.nansum(x, axis=0))),
    OpCase("nanmean", with_nans(lambda x: ops.nanmean(x, axis=1)), nan_inputs(),
           reference=with_nans_np(lambda x: np.nanmean(x, axis=1))),
    OpCase("nanmax", with_nans(ops.nanmax), nan_inputs(), reference=with_nans_np(np.nanmax)),
    OpCase("nanmin", with_nans(lambda x: ops.nanmin(x, axis=1)), nan_inputs(),
           reference=with_nans_np(lambda x: np.nanmin(x, axis=1))),
    OpCase("nanprod", with_nans(lambda x: ops.nanprod(x, axis=0)), nan_inputs(),
           reference=with_nans_np(lambda x: np.nanprod(x, axis=0))),
    OpCase("nanvar", with_nans(lambda x: ops.nanvar(x, axis=1)), nan_inputs(),
           reference=with_nans_np(lambda x: np.nanvar(x, axis=1))),
    OpCase("nanstd", with_nans(ops.nanstd), nan_inputs(), reference=with_nans_np(np.nanstd)),
    OpCase("nancumsum", with_nans(lambda x: ops.nancumsum(x, axis=1)), nan_inputs(),
           reference=with_nans_np(lambda x: np.nancumsum(x, axis=1))),
    OpCase("nancumprod", with_nans(lambda x: ops.nancumprod(x, axis=0)), nan_inputs(),
           reference=with_nans_np(lambda x: np.nancumprod(x, axis=0))),
    # shapes and indexing
    OpCase("ravel", ops.ravel, one(), reference=np.ravel),
    OpCase("swapaxes", lambda x: ops.swapaxes(x, 0, -1), one(shapes(2, 3, 1, SIDE)),
           reference=lambda x: np.swapaxes(x, 0, -1)),
    OpCase("hstack", lambda a, b: ops.hstack([a, b]), array_tuples((2, 1), (2, 3)),
           reference=lambda a, b: np.hstack([a, b])),
    OpCase("vstack", lambda a, b: ops.vstack([a, b]), array_tuples((3,), (2, 3)),
           reference=lambda a, b: np.vstack([a, b])),
    OpCase("dstack", lambda a, b: ops.dstack([a, b]), array_tuples((2, 3), (2, 3, 2)),
           reference=lambda a, b: np.dstack([a, b])),
    OpCase("hsplit", lambda x: ops.hsplit(x, 2)[1] * 2, one((2, 4)), reference=lambda x: x[:, 2:] * 2),
    OpCase("vsplit", lambda x: ops.vsplit(x, [1])[0] * 2, one((3, 2)), reference=lambda x: x[:1] * 2),
    OpCase("dsplit", lambda x: ops.dsplit(x, 2)[0] * 2, one((1, 2, 4)), reference=lambda x: x[..., :2] * 2),
    OpCase("array_split", lambda x: ops.array_split(x, 3)[0] * 2, one((5, 2)), reference=lambda x: x[:2] * 2),
    OpCase("unstack", lambda x: ops.unstack(x, axis=1)[-1] * 2, one(shapes(2, 3, 1, SIDE)),
           reference=lambda x: x[:, -1] * 2),
    OpCase("roll", lambda x: ops.roll(x, 2, axis=-1), one(shapes(1, 3, 1, SIDE)),
           reference=lambda x: np.roll(x, 2, -1)),
    OpCase("roll", lambda x: ops.roll(x, -1), one(), variant="flat", reference=lambda x: np.roll(x, -1)),
    OpCase("rot90", lambda x: ops.rot90(x, k=1), one(shapes(2, 3, 1, SIDE)), reference=np.rot90),
    OpCase("rot90", lambda x: ops.rot90(x, k=-1, axes=(1, 0)), one(shapes(2, 3, 1, SIDE)), variant="k=-1",
           reference=lambda x: np.rot90(x, -1, (1, 0))),
    OpCase("fliplr", ops.fliplr, one(shapes(2, 3, 1, SIDE)), reference=np.fliplr),
    OpCase("flipud", ops.flipud, one(shapes(1, 3, 1, SIDE)), reference=np.flipud),
    OpCase("tril", lambda x: ops.tril(x, -1), one(shapes(2, 3, 1, SIDE)), reference=lambda x: np.tril(x, -1)),
    OpCase("triu", ops.triu, one(shapes(2, 3, 1, SIDE)), reference=np.triu),
    OpCase("diagonal", lambda x: ops.diagonal(x, 1, 0, 2), one(shapes(3, 3, 1, SIDE)),
           reference=lambda x: np.diagonal(x, 1, 0, 2)),
    OpCase("diag", lambda x: ops.diag(x, -1), one(shapes(1, 1, 1, SIDE)), reference=lambda x: np.diag(x, -1)),
    OpCase("diag", lambda x: ops.diag(x, 1), one(shapes(2, 2, 1, SIDE)), variant="2-D",
           reference=lambda x: np.diag(x, 1)),
    OpCase("diagflat", ops.diagflat, one(shapes(1, 2, 1, SIDE)), reference=np.diagflat),
    OpCase("append", ops.append, array_tuples((2,), (1, 2)), reference=np.append),
    OpCase("take_along_axis", lambda x: ops.take_along_axis(x, np.array([[1, 0, 1], [0, 0, 0]]), axis=-1),
           one((2, 2)), reference=lambda x: np.take_along_axis(x, np.array([[1, 0, 1], [0, 0, 0]]), -1)),
    OpCase("get_item", lambda x: ops.get_item(x, (slice(1, None), 0)), one((3, 2)), reference=lambda x: x[1:, 0]),
    OpCase("slice", lambda x: ops.slice(x, (1, 0), (2, 2)), one((3, 3)), reference=lambda x: x[1:3, 0:2]),
    OpCase("slice_update", lambda x, u: ops.slice_update(x, (1, 1), u), array_tuples((3, 3), (2, 1)),
           reference=lambda x, u: np.concatenate([x[:, :1], np.concatenate([x[:1, 1:2], u]), x[:, 2:]], axis=1)),
    OpCase("scatter", lambda v: ops.scatter(np.array([[0, 1], [2, 0], [0, 1]]), v, (3, 2)), one((3,)),
           reference=lambda v: np.array([[0, v[0] + v[2]], [0, 0], [v[1], 0]])),
    OpCase("scatter_update", lambda x, u: ops.scatter_update(x, np.array([[0], [2]]), u), array_tuples((3, 2), (2, 2)),
           reference=lambda x, u: np.stack([u[0], x[1], u[1]])),
    OpCase("scatter_update", lambda x, u: ops.scatter_update(x, np.array([[0, 1], [0, 1]]), u, reduction="add"),
           array_tuples((2, 2), (2,)), variant="add",
           reference=lambda x, u: x + np.array([[0, u.sum()], [0, 0]])),
    OpCase("select", lambda a, b: ops.select([a > 0, b > 0], [a, b], 0.5), array_tuples((3,), (3,), away_from=(0,)),
           reference=lambda a, b: np.select([a > 0, b > 0], [a, b], 0.5)),
    OpCase("sort", lambda x: ops.sort(x, axis=0), distinct(shapes(1, 2, 1, SIDE)), reference=lambda x: np.sort(x, 0)),
    OpCase("top_k", lambda x: ops.top_k(x, 2)[0], distinct(st.tuples(st.integers(1, 2), st.integers(2, 4))),
           reference=lambda x: -np.sort(-x, axis=-1)[..., :2]),
    OpCase("vander", lambda x: ops.vander(x, 3), one((3,)), reference=lambda x: np.vander(x, 3)),
    OpCase("correlate", ops.correlate, array_tuples((4,), (2,)), reference=np.correlate),
    OpCase("correlate", lambda a, v: ops.correlate(a, v, mode="same"), array_tuples((2,), (3,)), variant="same",
           reference=lambda a, v: np.correlate(a, v, "same")),
    OpCase("corrcoef", ops.corrcoef, st.tuples(arrays((2, 4), distinct=True)), reference=np.corrcoef),
    OpCase("cdist", ops.cdist, st.tuples(arrays((2, 2)), arrays((3, 2))).filter(
        lambda xy: np.abs(xy[0][:, None] - xy[1][None]).sum(-1).min() > 0.1),
        reference=lambda x, y: np.sqrt(((x[:, None] - y[None]) ** 2).sum(-1))),
    # products and linalg
    OpCase("dot", ops.dot, array_tuples((2, 3, 2), (2, 1)), reference=np.dot),
    OpCase("dot", ops.dot, array_tuples((2, 3, 2), (1, 2, 2)), variant="N-D", reference=np.dot),
    OpCase("vdot", ops.vdot, array_tuples((2, 2), (4,)), reference=lambda a, b: np.vdot(a, b)),
    OpCase("inner", ops.inner, array_tuples((2, 3), (3,)), reference=np.inner),
    OpCase("outer", ops.outer, array_tuples((2, 1), (3,)), reference=np.outer),
    OpCase("tensordot", lambda a, b: ops.tensordot(a, b, axes=([0, 2], [1, 0])), array_tuples((2, 3, 2), (2, 2)),
           reference=lambda a, b: np.tensordot(a, b, ([0, 2], [1, 0]))),
    OpCase("kron", ops.kron, array_tuples((2, 1), (2, 3)), reference=np.kron),
    OpCase("cross", ops.cross, array_tuples((2, 3), (3,)), reference=np.cross),
    OpCase("cross", ops.cross, array_tuples((2,), (2, 2)), variant="2-vectors",
           reference=lambda a, b: a[0] * b[:, 1] - a[1] * b[:, 0]),
    OpCase("norm", ops.norm, one(shapes(1, 2, 1, SIDE), elements=(0.2, 2)), reference=np.linalg.norm),
    OpCase("norm", lambda x: ops.norm(x, ord=3, axis=0), one(shapes(2, 2, 1, SIDE), elements=(0.2, 2)), variant="ord=3",
           reference=lambda x: np.linalg.norm(x, 3, 0)),
    OpCase("norm", lambda x: ops.norm(x, ord=1, axis=(0, 1)), st.tuples(arrays((3, 2), distinct=True, away_from=(0,))),
           variant="matrix 1", reference=lambda x: np.linalg.norm(x, 1, (0, 1))),
    OpCase("norm", lambda x: ops.norm(x, ord="fro", axis=(0, 1)), one((2, 3), elements=(0.2, 2)), variant="fro",
           reference=lambda x: np.linalg.norm(x, "fro", (0, 1))),
    OpCase("inv", ops.inv, matrices(), reference=np.linalg.inv),
    OpCase("det", ops.det, matrices(batch=(2,)), reference=np.linalg.det),
    OpCase("slogdet", lambda x: ops.slogdet(x)[1], matrices(), reference=lambda x: np.linalg.slogdet(x)[1]),
    OpCase("logdet", lambda x: ops.logdet(spd(x)), spd_factor(), reference=lambda x: np.linalg.slogdet(spd_np(x))[1]),
    OpCase("solve", ops.solve, matrices(3).map(lambda m: (m[0], np.arange(6.0).reshape(3, 2) - 2)),
           reference=np.linalg.solve),
    OpCase("solve", ops.solve, st.tuples(matrices(2).map(lambda m: m[0]), arrays((2,))), variant="vector b",
           reference=np.linalg.solve),
    OpCase("solve_triangular", lambda a, b: ops.solve_triangular(a, b, lower=True),
           st.tuples(matrices(3).map(lambda m: m[0]), arrays((3, 1))),
           reference=lambda a, b: scipy.linalg.solve_triangular(a, b, lower=True)),
    OpCase("cholesky", lambda x: ops.cholesky(spd(x)), spd_factor(), reference=lambda x: np.linalg.cholesky(spd_np(x))),
    OpCase("cholesky_inverse", lambda x: ops.cholesky_inverse(x + 3 * np.eye(x.shape[0])),
           st.tuples(arrays((2, 2)).map(np.tril)), reference=lambda x: np.linalg.inv(
               (x + 3 * np.eye(2)) @ (x + 3 * np.eye(2)).T)),
    OpCase("eigh", lambda x: ops.eigh(spd(x) + np.diag(np.arange(x.shape[0]) * 3.0))[0], spd_factor(),
           reference=lambda x: np.linalg.eigh(spd_np(x) + np.diag(np.arange(x.shape[0]) * 3.0))[0]),
    OpCase("eigh", lambda x: ops.eigh(spd(x) + np.diag(np.arange(x.shape[0]) * 3.0))[1] ** 2, spd_factor(),
           variant="vectors",
           reference=lambda x: np.linalg.eigh(spd_np(x) + np.diag(np.arange(x.shape[0]) * 3.0))[1] ** 2),
    OpCase("svd", lambda x: ops.svd(x, compute_uv=False), separated_singular_values(), variant="values",
           reference=lambda x: np.linalg.svd(x, compute_uv=False)),
    OpCase("svd", svd_invariants, separated_singular_values(), variant="vectors", reference=svd_invariants_np),
    OpCase("qr", lambda x: ops.qr(x)[0] * 2.0, tall_matrices(), variant="q",
           reference=lambda x: np.linalg.qr(x)[0] * 2.0),
    OpCase("qr", lambda x: ops.qr(x)[1], tall_matrices(), variant="r", reference=lambda x: np.linalg.qr(x)[1]),
    # core: control flow and segments
    OpCase("cond", lambda x: ops.cond(True, lambda: x * 2, lambda: x), one(), reference=lambda x: x * 2),
    OpCase("switch", lambda x: ops.switch(5, [lambda a: a, lambda a: a * 3], x), one(), reference=lambda x: x * 3),
    OpCase("fori_loop", lambda x: ops.fori_loop(0, 3, lambda i, v: v * x + i, x), one(),
           reference=lambda x: ((x * x) * x + 1) * x + 2),
    OpCase("while_loop", lambda x: ops.while_loop(lambda v, i: i < 3, lambda v, i: (v * x, i + 1), (x, 0))[0],
           one(), reference=lambda x: x ** 4),
    OpCase("scan", scan_cumsum, one(shapes(1, 2, 1, SIDE)), reference=scan_reference),
    OpCase("associative_scan", lambda x: ops.associative_scan(lambda a, b: a * b, x, axis=1),
           one(shapes(2, 2, 1, SIDE)), reference=lambda x: np.cumprod(x, axis=1)),
    OpCase("associative_scan", lambda x: ops.associative_scan(lambda a, b: a + b, x, reverse=True),
           one(shapes(1, 2, 1, SIDE)), variant="reverse", reference=lambda x: np.cumsum(x[::-1], 0)[::-1]),
    OpCase("map", lambda x: ops.map(lambda r: r.sum() * r, x), one(shapes(2, 2, 1, SIDE)),
           reference=lambda x: x.sum(1, keepdims=True) * x),
    OpCase("vectorized_map", lambda x: ops.vectorized_map(lambda r: r * r[0], x), one(shapes(2, 2, 1, SIDE)),
           reference=lambda x: x * x[:, :1]),
    OpCase("segment_sum", ops.segment_sum, segment_inputs(), reference=segment_reference(np.sum)),
    OpCase("segment_max", ops.segment_max, segment_inputs(True), reference=segment_reference(np.max)),
    OpCase("segment_min", ops.segment_min, segment_inputs(True), reference=segment_reference(np.min)),
]


def unfold_reference(x, k, stride):
    """im2col written as loops: (N, C * k * k, L), channel-major then kernel row, kernel column."""
    n, c, h, w = x.shape
    oh, ow = (h - k) // stride + 1, (w - k) // stride + 1
    cols = np.empty((n, c, k, k, oh, ow))
    for i in range(k):
        for j in range(k):
            cols[:, :, i, j] = x[:, :, i:i + stride * oh:stride, j:j + stride * ow:stride]
    return cols.reshape(n, c * k * k, oh * ow)


def fold_reference(cols, size, k, stride):
    """col2im as loops: every window's values added at its positions."""
    n, ckk, _ = cols.shape
    c, (h, w) = ckk // (k * k), size
    oh, ow = (h - k) // stride + 1, (w - k) // stride + 1
    blocks = cols.reshape(n, c, k, k, oh, ow)
    out = np.zeros((n, c, h, w))
    for i in range(k):
        for j in range(k):
            out[:, :, i:i + stride * oh:stride, j:j + stride * ow:stride] += blocks[:, :, i, j]
    return out


def adaptive_reference(reduce, x, out):
    """Pool each PyTorch adaptive bin of (N, H, W, C) into (N, *out, C) with loops."""
    n, h, w, c = x.shape
    y = np.empty((n,) + out + (c,))
    for i in range(out[0]):
        for j in range(out[1]):
            r = slice(i * h // out[0], -(-(i + 1) * h // out[0]))
            s = slice(j * w // out[1], -(-(j + 1) * w // out[1]))
            y[:, i, j] = reduce(x[:, r, s], axis=(1, 2))
    return y


def ctc_reference(z):
    """-log of the summed probability of every alignment, enumerated (labels [1, 1] over 4 steps and
    [2] over 3 steps, blank 0)."""
    lp = z - np.log(np.exp(z).sum(-1, keepdims=True))
    losses = []
    for b, (label, steps) in enumerate([((1, 1), 4), ((2,), 3)]):
        total = 0.0
        for path in itertools.product(range(3), repeat=steps):
            merged = [k for i, k in enumerate(path) if i == 0 or k != path[i - 1]]
            if tuple(k for k in merged if k != 0) == label:
                total += np.exp(sum(lp[b, t, k] for t, k in enumerate(path)))
        losses.append(-np.log(total))
    return np.array(losses)


def hann(n):
    return 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)


def stft_reference(x, length, stride, nfft):
    """Reflect-pad, frame, window and real-FFT, as Keras's NumPy backend (window length == nfft)."""
    x = np.pad(x, [(0, 0), (nfft // 2, nfft // 2)], mode="reflect")
    starts = range(0, x.shape[-1] - nfft + 1, stride)
    spec = np.stack([np.fft.rfft(x[:, s:s + nfft] * hann(length)) for s in starts], axis=1)
    return spec.real + spec.imag


def istft_reference(z, length, stride, nfft):
    """Inverse FFT each frame, window, overlap-add, divide by the overlapped squared window, drop the padding."""
    frames = np.fft.irfft(z, nfft) * hann(length)
    total = nfft + stride * (z.shape[-2] - 1)
    out, norm = np.zeros(z.shape[:-2] + (total,)), np.zeros(total)
    for f in range(z.shape[-2]):
        out[..., f * stride:f * stride + nfft] += frames[..., f, :]
        norm[f * stride:f * stride + nfft] += hann(length) ** 2
    out = out / np.where(norm > 1e-10, norm, 1.0)
    return out[..., nfft // 2:total - nfft // 2]


CASES += [
    OpCase("fft", lambda re, im: ops.fft((re, im))[0] + 2 * ops.fft((re, im))[1], array_tuples((2, 3), (2, 3)),
           reference=lambda re, im: np.fft.fft(re + 1j * im).real + 2 * np.fft.fft(re + 1j * im).imag),
    OpCase("fft2", lambda re, im: ops.fft2((re, im))[1], array_tuples((2, 3), (2, 3)),
           reference=lambda re, im: np.fft.fft2(re + 1j * im).imag),
    OpCase("ifft2", lambda re, im: ops.ifft2((re, im))[0] - ops.ifft2((re, im))[1], array_tuples((3, 2), (3, 2)),
           reference=lambda re, im: np.fft.ifft2(re + 1j * im).real - np.fft.ifft2(re + 1j * im).imag),
    OpCase("rfft", lambda x: ops.rfft(x, 5)[1] * 3 + ops.rfft(x, 5)[0], one((2, 4)),
           reference=lambda x: np.fft.rfft(x, 5).imag * 3 + np.fft.rfft(x, 5).real),
    OpCase("irfft", lambda re, im: ops.irfft((re, im)), array_tuples((2, 3), (2, 3)),
           reference=lambda re, im: np.fft.irfft(re + 1j * im)),
    OpCase("irfft", lambda re, im: ops.irfft((re, im), 5), array_tuples((4,), (4,)), variant="fft_length=5",
           reference=lambda re, im: np.fft.irfft(re + 1j * im, 5)),
    OpCase("extract_sequences", lambda x: ops.extract_sequences(x, 3, 2), one((2, 6)),
           reference=lambda x: np.stack([x[:, 0:3], x[:, 2:5]], axis=1)),
    OpCase("adaptive_average_pool", lambda x: ops.adaptive_average_pool(x, (2, 3)), one((1, 3, 4, 2)),
           reference=lambda x: adaptive_reference(np.mean, x, (2, 3))),
    OpCase("adaptive_max_pool", lambda x: ops.adaptive_max_pool(x, (2, 2)), distinct((1, 3, 3, 1)),
           reference=lambda x: adaptive_reference(np.max, x, (2, 2))),
    OpCase("unfold", lambda x: ops.unfold(x, 2, stride=2), one((1, 2, 4, 5)),
           reference=lambda x: unfold_reference(x, 2, 2)),
    OpCase("fold", lambda x: ops.fold(x, (4, 4), 2, stride=1), one((1, 8, 9)),
           reference=lambda x: fold_reference(x, (4, 4), 2, 1)),
    OpCase("rearrange", lambda x: ops.rearrange(x, "a (b c) -> c a b", c=2), one((3, 4)),
           reference=lambda x: x.reshape(3, 2, 2).transpose(2, 0, 1)),
    unary("i0", np.i0, elements=(-3, 3)),
    OpCase("ctc_loss", lambda z: ops.ctc_loss(np.array([[1, 1], [2, 0]]), z, np.array([2, 1]), np.array([4, 3])),
           one((2, 4, 3)), reference=ctc_reference),
    OpCase("stft", lambda x: ops.stft(x, 4, 2, 4)[0] + ops.stft(x, 4, 2, 4)[1], one((1, 7)),
           reference=lambda x: stft_reference(x, 4, 2, 4)),
    OpCase("istft", lambda re, im: ops.istft((re, im), 4, 2, 4), array_tuples((1, 4, 3), (1, 4, 3)),
           reference=lambda re, im: istft_reference(re + 1j * im, 4, 2, 4)),
]
