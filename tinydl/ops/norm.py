"""Normalisation ops: batch_norm and layer_norm as fused Functions with closed-form backward passes.

Both normalise `x` over some axes, `xhat = (x - mean) / sqrt(var + epsilon)` with the biased
variance, then scale and shift with `gamma` and `beta`, which vary along the other ("parameter") axes.
"""
from tinydl import backend
from tinydl.autograd import Function
from tinydl.backend import array_module
# the one copy of the normalisation maths: array code on any array module (the kernels' reference)
from tinydl.backend.cuda.norm import normalize, normalize_grad
from tinydl.ops._util import norm_axes

__all__ = ["batch_norm", "layer_norm"]


def batch_norm(x, gamma=None, beta=None, mean=None, variance=None, axis=-1, epsilon=1e-3, return_stats=False):
    """Batch normalisation over every axis but `axis` (the channels), gamma/beta of shape (C,).

    Without `mean`/`variance` it uses the batch's statistics (training); with them (inference, the
    moving statistics) it uses those. `return_stats=True` (batch statistics only) also returns the
    batch mean and biased variance, each of shape (C,), as Tensors.
    """
    ndim = len(x.shape)
    channel = norm_axes(axis, ndim)
    if len(channel) != 1:
        raise ValueError(f"batch_norm: axis must be one axis, got {axis}")
    stat_axes = tuple(a for a in range(ndim) if a != channel[0])
    if (mean is None) != (variance is None):
        raise ValueError("batch_norm: pass both mean and variance (inference) or neither (batch statistics)")
    if mean is not None:
        if return_stats:
            raise ValueError("batch_norm: return_stats needs batch statistics (no mean/variance given)")
        return _normalize_with(x, gamma, beta, mean, variance, stat_axes, channel, epsilon)
    y, m, v = _normalize(x, gamma, beta, stat_axes, channel, epsilon)
    return (y, m, v) if return_stats else y


def layer_norm(x, gamma=None, beta=None, axis=-1, epsilon=1e-3):
    """Layer normalisation over `axis` (an int or a tuple), gamma/beta shaped like x on those axes."""
    axes = norm_axes(axis, len(x.shape))
    return _normalize(x, gamma, beta, axes, axes, epsilon)[0]


def _normalize(x, gamma, beta, stat_axes, param_axes, epsilon):
    """(y, mean, var) of the fused normalisation with statistics computed over `stat_axes`."""
    params = [p for p in (gamma, beta) if p is not None]
    return Normalize(stat_axes=tuple(stat_axes), param_axes=tuple(param_axes), epsilon=float(epsilon),
                     has_gamma=gamma is not None, has_beta=beta is not None)(x, *params)


def _normalize_with(x, gamma, beta, mean, variance, stat_axes, param_axes, epsilon):
    """The normalisation with given statistics (shaped like gamma)."""
    params = [p for p in (gamma, beta) if p is not None]
    return NormalizeWith(stat_axes=tuple(stat_axes), param_axes=tuple(param_axes), epsilon=float(epsilon),
                         has_gamma=gamma is not None, has_beta=beta is not None)(x, mean, variance, *params)


class _NormBase(Function):
    """Shared shape helpers: parameters broadcast along `param_axes`, reduced over the others."""

    def __init__(self, stat_axes, param_axes, epsilon, has_gamma, has_beta):
        self.stat_axes, self.param_axes, self.epsilon = stat_axes, param_axes, epsilon
        self.has_gamma, self.has_beta = has_gamma, has_beta

    def _param_view(self, x, p):
        """A parameter of shape x.shape[param_axes] reshaped to broadcast against x."""
        shape = [x.shape[a] if a in self.param_axes else 1 for a in range(x.ndim)]
        return p.reshape(shape)

    def _param_grad(self, g):
        """Sum `g` over the non-parameter axes, shaped like a parameter."""
        other = tuple(a for a in range(g.ndim) if a not in self.param_axes)
        return g.sum(axis=other).reshape(self.pshape)

    def _split_params(self, params):
        it = iter(params)
        gamma = next(it) if self.has_gamma else None
        beta = next(it) if self.has_beta else None
        return gamma, beta


class Normalize(_NormBase):
    """y = gamma * (x - mean) / sqrt(var + eps) + beta, statistics over `stat_axes`; outputs y, mean, var.

    Two common layouts run fused kernels on a 2-D view: statistics over the trailing axes (layer
    norm: one row per sample) and over every axis but the last (batch norm, channels last: one
    column per channel). Anything else uses array reductions.
    """

    def forward(self, x, *params):
        gamma, beta = self._split_params(params)
        axes = self.stat_axes
        self.pshape = tuple(x.shape[a] for a in self.param_axes)
        self.kshape = tuple(1 if a in axes else n for a, n in enumerate(x.shape))
        self.layout, self.view = _layout(x, axes, self.param_axes)
        self.gamma, self.shape = gamma, x.shape
        if self.layout == "rows":
            y, mean, var = self._forward_rows(x, gamma, beta)
        elif self.layout == "cols":
            y, mean, var = self._forward_cols(x, gamma, beta)
        else:
            y, mean, var = self._forward_generic(x, gamma, beta)
        self.count = x.size // max(mean.size, 1)
        out_shape = tuple(n for a, n in enumerate(x.shape) if a not in axes)
        return y.astype(x.dtype, copy=False), mean.reshape(out_shape), var.reshape(out_shape)

    def _affine(self, x, gamma, beta, d):
        """gamma and beta as (d,) arrays, ones and zeros where absent."""
        xp = array_module(x)
        g = xp.ones(d, dtype=x.dtype) if gamma is None else gamma.reshape(d)
        b = xp.zeros(d, dtype=x.dtype) if beta is None else beta.reshape(d)
        return g, b

    def _forward_rows(self, x, gamma, beta):
        """Layer norm over trailing axes: the fused row kernel on a (rows, d) view."""
        rows, d = self.view
        y, xhat, mean, var, inv = backend.kernel("layer_norm_fwd", x)(x.reshape(rows, d),
                                                                      *self._affine(x, gamma, beta, d), self.epsilon)
        self.xhat, self.inv = xhat, inv.reshape(self.kshape)
        return y.reshape(x.shape), mean, var

    def _forward_cols(self, x, gamma, beta):
        """Batch norm over every axis but the last: the fused column kernel on a (rows, c) view."""
        rows, c = self.view
        x2 = x.reshape(rows, c)
        y, mean, var, inv = backend.kernel("batch_norm_fwd", x)(x2, *self._affine(x, gamma, beta, c), self.epsilon)
        self.x2, self.mean, self.inv = x2, mean, inv.reshape(self.kshape)
        return y.reshape(x.shape), mean, var

    def _forward_generic(self, x, gamma, beta):
        """Any axes: the array-code maths of the kernels, over these axes."""
        xhat, mean, var, inv = normalize(x, self.stat_axes, self.epsilon)
        self.xhat, self.inv = xhat, inv
        y = xhat if gamma is None else xhat * self._param_view(x, gamma)
        if beta is not None:
            y = y + self._param_view(x, beta)
        return y, mean, var

    def _xhat(self):
        """The normalised input, shaped like x (recomputed in the column layout, which does not keep it)."""
        if self.layout == "cols":
            return ((self.x2 - self.mean) * self.inv.reshape(-1)).reshape(self.shape)
        return self.xhat.reshape(self.shape)

    def backward(self, gy, gmean, gvar):
        gamma, axes = self.gamma, self.stat_axes
        if self.layout is not None:
            rows, d = self.view
            g2 = gy.reshape(rows, d)
            gam = self._affine(gy, gamma, None, d)[0]
            if self.layout == "rows":
                dx, dgamma, dbeta = backend.kernel("layer_norm_bwd", gy)(g2, self.xhat, self.inv.reshape(rows), gam)
            else:
                dx, dgamma, dbeta = backend.kernel("batch_norm_bwd", gy)(g2, self.x2, self.mean,
                                                                         self.inv.reshape(d), gam)
            dx = dx.reshape(gy.shape)
            dgamma, dbeta = dgamma.reshape(self.pshape), dbeta.reshape(self.pshape)
        else:
            xhat, inv = self.xhat, self.inv
            gx = gy if gamma is None else gy * self._param_view(xhat, gamma)
            dx = normalize_grad(gx, xhat, inv, axes)
            dgamma = self._param_grad(gy * xhat) if self.has_gamma else None
            dbeta = self._param_grad(gy) if self.has_beta else None
        # the mean and variance outputs (used when a caller differentiates through the statistics)
        if gmean.any():
            dx = dx + gmean.reshape(self.kshape) / self.count
        if gvar.any():
            dx = dx + gvar.reshape(self.kshape) * (2.0 / self.count) * (self._xhat() / self.inv)
        grads = [dx if self.needs_grad[0] else None]
        rest = iter(self.needs_grad[1:])
        if self.has_gamma:
            grads.append(dgamma if next(rest) else None)
        if self.has_beta:
            grads.append(dbeta if next(rest) else None)
        return tuple(grads)


def _layout(x, stat_axes, param_axes):
    """('rows', (rows, d)) for statistics over the trailing axes with parameters on them (layer norm),
    ('cols', (rows, c)) for statistics over all axes but the last (batch norm, channels last),
    (None, None) otherwise."""
    k, ndim = len(stat_axes), x.ndim
    if x.dtype.kind != "f" or x.size == 0 or k == 0:
        return None, None
    if stat_axes == param_axes and stat_axes == tuple(range(ndim - k, ndim)):
        d = 1
        for n in x.shape[ndim - k:]:
            d *= n
        return "rows", (x.size // d, d)
    if stat_axes == tuple(range(ndim - 1)) and param_axes == (ndim - 1,):
        return "cols", (x.size // x.shape[-1], x.shape[-1])
    return None, None


class NormalizeWith(_NormBase):
    """y = gamma * (x - mean) / sqrt(variance + eps) + beta with given mean and variance (inference).

    Forward is one multiply-add, `x * scale + shift`; backward centres x only when the gradients of
    gamma or the variance need it.
    """

    def forward(self, x, mean, variance, *params):
        xp = array_module(x)
        gamma, beta = self._split_params(params)
        self.pshape = tuple(x.shape[a] for a in self.param_axes)
        m, v = self._param_view(x, mean), self._param_view(x, variance)
        inv = 1.0 / xp.sqrt(v + self.epsilon)
        scale = inv if gamma is None else inv * self._param_view(x, gamma)
        shift = -m * scale if beta is None else self._param_view(x, beta) - m * scale
        self.x, self.m, self.inv, self.scale = x, m, inv, scale
        return (x * scale + shift).astype(x.dtype, copy=False)

    def backward(self, g):
        inv, scale = self.inv, self.scale
        need = self.needs_grad
        rest = list(need[3:])
        gamma_wanted = self.has_gamma and rest[0]
        sg = self._param_grad(g) if need[1] or (self.has_beta and rest[-1]) else None
        sgxc = self._param_grad(g * (self.x - self.m)) if need[2] or gamma_wanted else None
        scale_p, inv_p = scale.reshape(self.pshape), inv.reshape(self.pshape)
        grads = [g * scale if need[0] else None,
                 -sg * scale_p if need[1] else None,
                 sgxc * (-0.5) * scale_p * inv_p * inv_p if need[2] else None]
        if self.has_gamma:
            grads.append(sgxc * inv_p if gamma_wanted else None)
        if self.has_beta:
            grads.append(sg if rest[-1] else None)
        return tuple(grads)
