"""Layer-norm kernels over the rows of a 2-D array (numba): one pass per row for the statistics,
one for the output; the backward needs two row sums and one pass. Sums are kept in float64."""
import math

import numba
import numpy as np

from tinydl.backend import threads

# below this many elements the parallel versions cost more to start than they save
_PARALLEL_MIN = threads.PARALLEL_MIN_HEAVY
# reassociation lets the row sums vectorise; NaN and inf keep their IEEE behaviour (no 'nnan'/'ninf')
_FAST = {"reassoc", "contract", "arcp", "nsz"}


def layer_norm_fwd(x, gamma, beta, epsilon):
    """Normalise each row of x (rows, d), then `* gamma + beta` (each (d,)).

    Returns (y, xhat, mean, var, inv) with mean, var (biased) and inv = 1/sqrt(var + eps) per row.
    """
    x = np.ascontiguousarray(x)
    rows, d = x.shape
    y, xhat = np.empty_like(x), np.empty_like(x)
    mean, var, inv = (np.empty(rows, dtype=x.dtype) for _ in range(3))
    gamma = np.ascontiguousarray(gamma, dtype=x.dtype)
    beta = np.ascontiguousarray(beta, dtype=x.dtype)
    run = _ln_fwd_parallel if x.size >= _PARALLEL_MIN else _ln_fwd_serial
    run(x, gamma, beta, float(epsilon), y, xhat, mean, var, inv)
    return y, xhat, mean, var, inv


def layer_norm_bwd(g, xhat, inv, gamma):
    """Gradients of layer_norm for dy = g (rows, d): (dx, dgamma, dbeta), with
    dx = inv * (g*gamma - mean(g*gamma) - xhat * mean(g*gamma*xhat)), dgamma = sum(g*xhat), dbeta = sum(g)."""
    g = np.ascontiguousarray(g, dtype=xhat.dtype)
    xhat = np.ascontiguousarray(xhat)
    dx = np.empty_like(xhat)
    gamma = np.ascontiguousarray(gamma, dtype=xhat.dtype)
    if g.size >= _PARALLEL_MIN:
        _ln_bwd_parallel(g, xhat, inv, gamma, dx)
        return dx, (g * xhat).sum(axis=0), g.sum(axis=0)
    dgamma = np.zeros(g.shape[1], dtype=np.float64)
    dbeta = np.zeros(g.shape[1], dtype=np.float64)
    _ln_bwd_serial(g, xhat, inv, gamma, dx, dgamma, dbeta)
    return dx, dgamma.astype(xhat.dtype), dbeta.astype(xhat.dtype)


@numba.njit(cache=True, fastmath=_FAST)
def _ln_row_fwd(x, gamma, beta, eps, y, xhat, mean, var, inv, i):
    d = x.shape[1]
    s = 0.0
    for j in range(d):
        s += x[i, j]
    m = s / d
    v = 0.0
    for j in range(d):
        c = x[i, j] - m
        v += c * c
    v /= d
    r = 1.0 / math.sqrt(v + eps)
    mean[i], var[i], inv[i] = m, v, r
    for j in range(d):
        h = (x[i, j] - m) * r
        xhat[i, j] = h
        y[i, j] = h * gamma[j] + beta[j]


@numba.njit(cache=True, fastmath=_FAST)
def _ln_fwd_serial(x, gamma, beta, eps, y, xhat, mean, var, inv):
    # the row helper's body, inlined by hand: a call per row costs about 2x on short rows
    rows, d = x.shape
    for i in range(rows):
        xi, yi, hi = x[i], y[i], xhat[i]
        s = 0.0
        for j in range(d):
            s += xi[j]
        m = s / d
        v = 0.0
        for j in range(d):
            c = xi[j] - m
            v += c * c
        v /= d
        r = 1.0 / math.sqrt(v + eps)
        mean[i], var[i], inv[i] = m, v, r
        mf, rf = xi.dtype.type(m), xi.dtype.type(r)
        for j in range(d):
            h = (xi[j] - mf) * rf
            hi[j] = h
            yi[j] = h * gamma[j] + beta[j]


@numba.njit(cache=True, parallel=True, fastmath=_FAST)
def _ln_fwd_parallel(x, gamma, beta, eps, y, xhat, mean, var, inv):
    for i in numba.prange(x.shape[0]):
        _ln_row_fwd(x, gamma, beta, eps, y, xhat, mean, var, inv, i)


@numba.njit(cache=True, fastmath=_FAST)
def _ln_row_bwd(g, xhat, inv, gamma, dx, i):
    d = g.shape[1]
    a = 0.0
    b = 0.0
    for j in range(d):
        gx = g[i, j] * gamma[j]
        a += gx
        b += gx * xhat[i, j]
    a /= d
    b /= d
    r = inv[i]
    for j in range(d):
        dx[i, j] = r * (g[i, j] * gamma[j] - a - xhat[i, j] * b)


@numba.njit(cache=True, fastmath=_FAST)
def _ln_bwd_serial(g, xhat, inv, gamma, dx, dgamma, dbeta):
    rows, d = g.shape
    for i in range(rows):
        gi, hi, di = g[i], xhat[i], dx[i]
        a = 0.0
        b = 0.0
        for j in range(d):
            gx = gi[j] * gamma[j]
            a += gx
            b += gx * hi[j]
        af, bf, rf = gi.dtype.type(a / d), gi.dtype.type(b / d), inv[i]
        for j in range(d):
            di[j] = rf * (gi[j] * gamma[j] - af - hi[j] * bf)
            dgamma[j] += gi[j] * hi[j]
            dbeta[j] += gi[j]


@numba.njit(cache=True, parallel=True, fastmath=_FAST)
def _ln_bwd_parallel(g, xhat, inv, gamma, dx):
    for i in numba.prange(g.shape[0]):
        _ln_row_bwd(g, xhat, inv, gamma, dx, i)


def batch_norm_fwd(x, gamma, beta, epsilon):
    """Normalise each column of x (rows, c) with its mean and biased variance, then `* gamma + beta`.

    Returns (y, mean, var, inv) with inv = 1/sqrt(var + eps) per column.
    """
    x = np.ascontiguousarray(x)
    y = np.empty_like(x)
    c = x.shape[1]
    mean, var, inv = (np.empty(c, dtype=x.dtype) for _ in range(3))
    _bn_fwd(x, np.ascontiguousarray(gamma, dtype=x.dtype), np.ascontiguousarray(beta, dtype=x.dtype),
            float(epsilon), y, mean, var, inv)
    return y, mean, var, inv


def batch_norm_bwd(g, x, mean, inv, gamma):
    """Gradients of batch_norm with batch statistics for dy = g (rows, c): (dx, dgamma, dbeta), with
    xhat = (x - mean) * inv, dx = gamma * inv * (g - mean(g) - xhat * mean(g * xhat)) per column."""
    g = np.ascontiguousarray(g, dtype=x.dtype)
    x = np.ascontiguousarray(x)
    dx = np.empty_like(x)
    c = x.shape[1]
    dgamma, dbeta = np.empty(c, dtype=x.dtype), np.empty(c, dtype=x.dtype)
    _bn_bwd(g, x, mean, inv, np.ascontiguousarray(gamma, dtype=x.dtype), dx, dgamma, dbeta)
    return dx, dgamma, dbeta


@numba.njit(cache=True, fastmath=_FAST)
def _bn_fwd(x, gamma, beta, eps, y, mean, var, inv):
    rows, c = x.shape
    s = np.zeros(c)
    for i in range(rows):
        for j in range(c):
            s[j] += x[i, j]
    m = s / max(rows, 1)
    v = np.zeros(c)
    for i in range(rows):
        for j in range(c):
            d = x[i, j] - m[j]
            v[j] += d * d
    v /= max(rows, 1)
    scale = np.empty(c)
    shift = np.empty(c)
    for j in range(c):
        r = 1.0 / math.sqrt(v[j] + eps)
        mean[j], var[j], inv[j] = m[j], v[j], r
        scale[j] = r * gamma[j]
        shift[j] = beta[j] - m[j] * r * gamma[j]
    for i in range(rows):
        for j in range(c):
            y[i, j] = x[i, j] * scale[j] + shift[j]


@numba.njit(cache=True, fastmath=_FAST)
def _bn_bwd(g, x, mean, inv, gamma, dx, dgamma, dbeta):
    rows, c = x.shape
    sg = np.zeros(c)
    sgx = np.zeros(c)
    for i in range(rows):
        for j in range(c):
            sg[j] += g[i, j]
            sgx[j] += g[i, j] * (x[i, j] - mean[j])
    n = max(rows, 1)
    a = np.empty(c)
    b = np.empty(c)
    k = np.empty(c)
    for j in range(c):
        dbeta[j] = sg[j]
        dgamma[j] = sgx[j] * inv[j]
        k[j] = gamma[j] * inv[j]
        a[j] = sg[j] / n
        b[j] = sgx[j] * inv[j] * inv[j] / n  # mean(g * xhat) * inv, applied to (x - mean)
    for i in range(rows):
        for j in range(c):
            dx[i, j] = k[j] * (g[i, j] - a[j] - (x[i, j] - mean[j]) * b[j])
