"""Normalisation as array code: the GPU path (CuPy arrays) and the readable reference (NumPy arrays) of
backend/cpu/norm.py, with the same names and signatures, plus `normalize`/`normalize_grad` over any
axes, which every layer-norm-shaped computation in tinydl uses (ops/norm.py's generic layouts too).

Every function works on the array module of its input (`xp`); statistics are accumulated in float64.
"""
from tinydl.backend import array_module


def layer_norm_fwd(x, gamma, beta, epsilon):
    """Normalise each row of x (rows, d), then `* gamma + beta` (each (d,)).

    Returns (y, xhat, mean, var, inv) with mean, var (biased) and inv = 1/sqrt(var + eps) per row.
    """
    xp = array_module(x)
    xhat, mean, var, inv = normalize(x, (1,), epsilon)
    y = xhat * xp.asarray(gamma, dtype=x.dtype) + xp.asarray(beta, dtype=x.dtype)
    return y, xhat, mean[:, 0], var[:, 0], inv[:, 0]


def layer_norm_bwd(g, xhat, inv, gamma):
    """Gradients of layer_norm for dy = g (rows, d): (dx, dgamma, dbeta), with
    dx = inv * (g*gamma - mean(g*gamma) - xhat * mean(g*gamma*xhat)), dgamma = sum(g*xhat), dbeta = sum(g)."""
    xp = array_module(g)
    g = g.astype(xhat.dtype)
    dx = normalize_grad(g * xp.asarray(gamma, dtype=xhat.dtype), xhat, inv[:, None], (1,))
    return dx, (g * xhat).sum(axis=0), g.sum(axis=0)


def normalize(x, axes, epsilon):
    """(xhat, mean, var, inv) of x over `axes` (keepdims): xhat = (x - mean) * inv, inv = 1/sqrt(var + eps),
    var biased; statistics in float64, results in x's dtype (float64 for integer x)."""
    xp = array_module(x)
    dtype = x.dtype if x.dtype.kind == "f" else xp.float64
    x64 = x.astype(xp.float64)
    mean = x64.mean(axis=axes, keepdims=True)
    centered = x64 - mean
    var = (centered * centered).mean(axis=axes, keepdims=True)
    inv = 1.0 / xp.sqrt(var + epsilon)
    return (centered * inv).astype(dtype), mean.astype(dtype), var.astype(dtype), inv.astype(dtype)


def normalize_grad(gx, xhat, inv, axes):
    """The gradient wrt x of `normalize` given gx = dL/dxhat: inv * (gx - mean(gx) - xhat * mean(gx * xhat)),
    the means over `axes` accumulated in float64."""
    xp = array_module(gx)
    a = gx.astype(xp.float64).mean(axis=axes, keepdims=True)
    b = (gx * xhat).astype(xp.float64).mean(axis=axes, keepdims=True)
    return (inv * (gx - a - xhat * b)).astype(xhat.dtype)


def batch_norm_fwd(x, gamma, beta, epsilon):
    """Normalise each column of x (rows, c) with its mean and biased variance, then `* gamma + beta`.

    Returns (y, mean, var, inv) with inv = 1/sqrt(var + eps) per column.
    """
    xp = array_module(x)
    x64 = x.astype(xp.float64)
    mean = x64.mean(axis=0)
    centered = x64 - mean
    var = (centered * centered).mean(axis=0)
    inv = 1.0 / xp.sqrt(var + epsilon)
    scale = inv * xp.asarray(gamma, dtype=xp.float64)
    y = (centered * scale + xp.asarray(beta, dtype=xp.float64)).astype(x.dtype)
    return y, mean.astype(x.dtype), var.astype(x.dtype), inv.astype(x.dtype)


def batch_norm_bwd(g, x, mean, inv, gamma):
    """Gradients of batch_norm with batch statistics for dy = g (rows, c): (dx, dgamma, dbeta), with
    xhat = (x - mean) * inv, dx = gamma * inv * (g - mean(g) - xhat * mean(g * xhat)) per column."""
    xp = array_module(g)
    n = max(x.shape[0], 1)
    g64 = g.astype(xp.float64)
    inv64 = inv.astype(xp.float64)
    xhat = (x.astype(xp.float64) - mean.astype(xp.float64)) * inv64
    dbeta = g64.sum(axis=0)
    dgamma = (g64 * xhat).sum(axis=0)
    k = xp.asarray(gamma, dtype=xp.float64) * inv64
    dx = k * (g64 - dbeta / n - xhat * (dgamma / n))
    return dx.astype(x.dtype), dgamma.astype(x.dtype), dbeta.astype(x.dtype)
