"""Layer-norm kernels over the rows of a 2-D array (CuPy twin of backend/cpu/norm.py, same names and
signatures), written as CuPy array code; statistics are accumulated in float64."""
import cupy


def layer_norm_fwd(x, gamma, beta, epsilon):
    """Normalise each row of x (rows, d), then `* gamma + beta` (each (d,)).

    Returns (y, xhat, mean, var, inv) with mean, var (biased) and inv = 1/sqrt(var + eps) per row.
    """
    x64 = x.astype(cupy.float64)
    mean = x64.mean(axis=1)
    centered = x64 - mean[:, None]
    var = (centered * centered).mean(axis=1)
    inv = 1.0 / cupy.sqrt(var + epsilon)
    xhat = (centered * inv[:, None]).astype(x.dtype)
    y = xhat * cupy.asarray(gamma, dtype=x.dtype) + cupy.asarray(beta, dtype=x.dtype)
    return y, xhat, mean.astype(x.dtype), var.astype(x.dtype), inv.astype(x.dtype)


def layer_norm_bwd(g, xhat, inv, gamma):
    """Gradients of layer_norm for dy = g (rows, d): (dx, dgamma, dbeta), with
    dx = inv * (g*gamma - mean(g*gamma) - xhat * mean(g*gamma*xhat)), dgamma = sum(g*xhat), dbeta = sum(g)."""
    g = g.astype(xhat.dtype)
    gx = g * cupy.asarray(gamma, dtype=xhat.dtype)
    a = gx.astype(cupy.float64).mean(axis=1, keepdims=True)
    b = (gx * xhat).astype(cupy.float64).mean(axis=1, keepdims=True)
    dx = (inv[:, None] * (gx - a - xhat * b)).astype(xhat.dtype)
    return dx, (g * xhat).sum(axis=0), g.sum(axis=0)


def batch_norm_fwd(x, gamma, beta, epsilon):
    """Normalise each column of x (rows, c) with its mean and biased variance, then `* gamma + beta`.

    Returns (y, mean, var, inv) with inv = 1/sqrt(var + eps) per column.
    """
    x64 = x.astype(cupy.float64)
    mean = x64.mean(axis=0)
    centered = x64 - mean
    var = (centered * centered).mean(axis=0)
    inv = 1.0 / cupy.sqrt(var + epsilon)
    scale = inv * cupy.asarray(gamma, dtype=cupy.float64)
    y = (centered * scale + cupy.asarray(beta, dtype=cupy.float64)).astype(x.dtype)
    return y, mean.astype(x.dtype), var.astype(x.dtype), inv.astype(x.dtype)


def batch_norm_bwd(g, x, mean, inv, gamma):
    """Gradients of batch_norm with batch statistics for dy = g (rows, c): (dx, dgamma, dbeta), with
    xhat = (x - mean) * inv, dx = gamma * inv * (g - mean(g) - xhat * mean(g * xhat)) per column."""
    n = max(x.shape[0], 1)
    g64 = g.astype(cupy.float64)
    inv64 = inv.astype(cupy.float64)
    xhat = (x.astype(cupy.float64) - mean.astype(cupy.float64)) * inv64
    dbeta = g64.sum(axis=0)
    dgamma = (g64 * xhat).sum(axis=0)
    k = cupy.asarray(gamma, dtype=cupy.float64) * inv64
    dx = k * (g64 - dbeta / n - xhat * (dgamma / n))
    return dx.astype(x.dtype), dgamma.astype(x.dtype), dbeta.astype(x.dtype)
