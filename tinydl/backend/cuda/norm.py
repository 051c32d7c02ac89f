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
