"""Fused row- and column-wise kernels: layer and batch normalisation, softmax cross-entropy and the attention
softmax's gradient, in a few launches each.

The array code (backend/cuda/norm.py, losses) spends a dozen small kernels per call on casts, means and
elementwise chains. Here each call is a handful of reductions with the arithmetic fused into their map
expressions plus one elementwise kernel writing every output (`Reduction` and `Elementwise` of
backend/cuda/elementwise.py). The drivers work on any array module and take the kernels as a mapping:
backend/cuda/fused.py passes the CuPy kernels, the CPU tests `{name: spec.numpy_kernel()}`.
Statistics are accumulated in float64, as in the array code.
"""
from tinydl.backend import array_module
from tinydl.backend.cuda.elementwise import Elementwise, Reduction

REDUCTIONS = {
    "sum": Reduction("T x", "float64 y", "x", "sum", "y = a", "tinydl_sum64"),
    "sum_product": Reduction("T x, T w", "float64 y", "x * w", "sum", "y = a", "tinydl_sum_product64"),
    "sum_normalized_product": Reduction("T g, T x, float64 mean64, float64 inv64", "float64 y",
                                        "g * ((x - mean64) * inv64)", "sum", "y = a", "tinydl_sum_normalized_product"),
    "sum_product3": Reduction("T x, T w, T v", "float64 y", "x * w * v", "sum", "y = a", "tinydl_sum_product3_64"),
    "centered_squares": Reduction("T x, float64 total, float64 n", "float64 y",
                                  "(x - total / n) * (x - total / n)", "sum", "y = a", "tinydl_centered_squares"),
    "max": Reduction("T x", "float64 y", "x", "max", "y = a", "tinydl_max64"),
    "sum_exp_shifted": Reduction("T x, float64 top", "float64 y", "exp(x - top)", "sum", "y = a",
                                 "tinydl_sum_exp_shifted"),
}

ELEMENTWISE = {
    "layer_norm_stats": Elementwise(
        "float64 total, float64 squares, float64 n, float64 eps", "float64 mean64, float64 inv64, T mean, T var, T inv",
        """
        double m = total / n;
        double v = squares / n;
        double r = 1 / sqrt(v + eps);
        mean64 = m;
        inv64 = r;
        mean = m;
        var = v;
        inv = r;
        """,
        "tinydl_layer_norm_stats"),
    "layer_norm_apply": Elementwise(
        "T x, float64 mean64, float64 inv64, T gamma, T beta", "T y, T xhat",
        """
        T h = (x - mean64) * inv64;
        xhat = h;
        y = h * gamma + beta;
        """,
        "tinydl_layer_norm_apply"),
    "batch_norm_apply": Elementwise(
        "T x, float64 mean64, float64 inv64, T gamma, T beta", "T y",
        "y = (x - mean64) * (inv64 * gamma) + beta",
        "tinydl_batch_norm_apply"),
    "batch_norm_grad": Elementwise(
        "T g, T x, float64 mean64, float64 inv64, T gamma, float64 dgamma, float64 dbeta, float64 n", "T dx",
        "dx = gamma * inv64 * (g - dbeta / n - (x - mean64) * inv64 * (dgamma / n))",
        "tinydl_batch_norm_grad"),
    "layer_norm_grad": Elementwise(
        "T g, T gamma, T xhat, T inv, float64 a, float64 b, float64 n", "T dx",
        "dx = inv * (g * gamma - a / n - xhat * (b / n))",
        "tinydl_layer_norm_grad"),
    "attention_softmax_grad": Elementwise(
        "T w, T g, float64 dot, float64 scale", "T ds", "ds = scale * w * (g - dot)", "tinydl_attention_softmax_grad"),
    "softmax_xent_loss": Elementwise(
        "float64 top, float64 total, T picked", "T loss, float64 shift",
        """
        double s = log(total);
        shift = s;
        loss = s - (picked - top);
        """,
        "tinydl_softmax_xent_loss"),
}


def layer_norm_fwd(x, gamma, beta, epsilon, *, kernels):
    """(y, xhat, mean, var, inv) as backend/cpu/norm.py: two row reductions and two elementwise launches."""
    xp = array_module(x)
    if x.dtype.kind != "f":  # integer input normalises in float64, as the array code
        x = x.astype(xp.float64)
    rows, d = x.shape
    dt = x.dtype
    gamma, beta = xp.asarray(gamma, dtype=dt), xp.asarray(beta, dtype=dt)
    total = kernels["sum"](x, axis=1)
    squares = kernels["centered_squares"](x, total[:, None], float(d), axis=1)
    mean64, inv64 = xp.empty(rows, xp.float64), xp.empty(rows, xp.float64)
    mean, var, inv = xp.empty(rows, dt), xp.empty(rows, dt), xp.empty(rows, dt)
    kernels["layer_norm_stats"](total, squares, float(d), float(epsilon), mean64, inv64, mean, var, inv)
    y, xhat = xp.empty_like(x), xp.empty_like(x)
    kernels["layer_norm_apply"](x, mean64[:, None], inv64[:, None], gamma, beta, y, xhat)
    return y, xhat, mean, var, inv


def layer_norm_bwd(g, xhat, inv, gamma, *, kernels):
    """(dx, dgamma, dbeta) as backend/cpu/norm.py: four reductions and one elementwise launch."""
    xp = array_module(g)
    dt = xhat.dtype
    g, gamma = g.astype(dt, copy=False), xp.asarray(gamma, dtype=dt)
    a = kernels["sum_product"](g, gamma, axis=1)
    b = kernels["sum_product3"](g, gamma, xhat, axis=1)
    dx = xp.empty_like(xhat)
    kernels["layer_norm_grad"](g, gamma, xhat, inv[:, None], a[:, None], b[:, None], float(xhat.shape[1]), dx)
    dgamma = kernels["sum_product"](g, xhat, axis=0).astype(dt)
    return dx, dgamma, kernels["sum"](g, axis=0).astype(dt)


def batch_norm_fwd(x, gamma, beta, epsilon, *, kernels):
    """(y, mean, var, inv) per column as backend/cpu/norm.py: two column reductions and two elementwise launches."""
    xp = array_module(x)
    rows, c = x.shape
    dt = x.dtype
    gamma, beta = xp.asarray(gamma, dtype=dt), xp.asarray(beta, dtype=dt)
    total = kernels["sum"](x, axis=0)
    squares = kernels["centered_squares"](x, total[None, :], float(max(rows, 1)), axis=0)
    mean64, inv64 = xp.empty(c, xp.float64), xp.empty(c, xp.float64)
    mean, var, inv = xp.empty(c, dt), xp.empty(c, dt), xp.empty(c, dt)
    kernels["layer_norm_stats"](total, squares, float(max(rows, 1)), float(epsilon), mean64, inv64, mean, var, inv)
    y = xp.empty_like(x)
    kernels["batch_norm_apply"](x, mean64, inv64, gamma, beta, y)
    return y, mean, var, inv


def batch_norm_bwd(g, x, mean, inv, gamma, *, kernels):
    """(dx, dgamma, dbeta) per column as backend/cpu/norm.py: two column reductions and one elementwise launch."""
    xp = array_module(g)
    dt = x.dtype
    mean64, inv64 = mean.astype(xp.float64), inv.astype(xp.float64)
    gamma = xp.asarray(gamma, dtype=dt)
    dbeta = kernels["sum"](g, axis=0)
    dgamma = kernels["sum_normalized_product"](g, x, mean64, inv64, axis=0)
    dx = xp.empty_like(x)
    kernels["batch_norm_grad"](g.astype(dt, copy=False), x, mean64, inv64, gamma, dgamma, dbeta,
                               float(max(x.shape[0], 1)), dx)
    return dx, dgamma.astype(dt), dbeta.astype(dt)


def softmax_xent_fwd(logits, labels, *, kernels):
    """(loss, stats) as backend/cpu/losses.py: the row max, the shifted exp-sum, one gather, one elementwise."""
    xp = array_module(logits)
    labels = xp.asarray(labels, dtype=xp.int64)
    top = kernels["max"](logits, axis=1)
    total = kernels["sum_exp_shifted"](logits, top[:, None], axis=1)
    picked = xp.take_along_axis(logits, labels[:, None], axis=1)[:, 0]
    stats = xp.empty((logits.shape[0], 2), xp.float64)
    stats[:, 0] = top
    loss = xp.empty(logits.shape[0], logits.dtype)
    kernels["softmax_xent_loss"](top, total, picked, loss, stats[:, 1])
    return loss, stats


def attention_softmax_bwd(weights, grad, scale, *, kernels):
    """The gradient wrt the unscaled scores, scale * w * (g - sum(g * w)), as backend/cpu/attention.py:
    one reduction (in float64) and one elementwise launch."""
    xp = array_module(weights)
    grad = grad.astype(weights.dtype, copy=False)
    dot = kernels["sum_product"](weights, grad, axis=-1)
    ds = xp.empty_like(weights)
    kernels["attention_softmax_grad"](weights, grad, dot[..., None], float(scale), ds)
    return ds


def numpy_kernels():
    """Every kernel of this module as its NumPy evaluation (for the CPU tests)."""
    return {name: spec.numpy_kernel() for name, spec in {**REDUCTIONS, **ELEMENTWISE}.items()}
