"""Max and average pooling on CuPy arrays: twins of backend/cpu/pool.py (same names and signatures).

Windows are gathered with one strided slice per tap; padded taps are -inf for max (never chosen) and
are left out of the count for the mean. argmax is the flat in-image index ih*W + iw of the first
maximum, taps scanned row by row as on the CPU.
"""
import cupy
import cupyx


def max_pool2d(x, ph, pw, sh, sw, pt, pl, oh, ow):
    """(y, argmax): window maxima (N, OH, OW, C) and the flat in-image index ih*W + iw of each."""
    n, h, w, c = x.shape
    windows = _windows(x, ph, pw, sh, sw, pt, pl, oh, ow, -cupy.inf)
    tap = windows.argmax(axis=3)
    y = cupy.take_along_axis(windows, tap[:, :, :, None], axis=3)[:, :, :, 0]
    rows = cupy.arange(oh)[None, :, None, None] * sh - pt + tap // pw
    cols = cupy.arange(ow)[None, None, :, None] * sw - pl + tap % pw
    return cupy.ascontiguousarray(y), (rows * w + cols).astype(cupy.int64)


def max_pool2d_backward(g, argmax, x_shape):
    """Gradient wrt the input: each output gradient added at its argmax position."""
    n, h, w, c = (int(v) for v in x_shape)
    dx = cupy.zeros((n, h * w, c), dtype=g.dtype)
    batch = cupy.broadcast_to(cupy.arange(n)[:, None, None, None], g.shape)
    channel = cupy.broadcast_to(cupy.arange(c)[None, None, None, :], g.shape)
    cupyx.scatter_add(dx, (batch.ravel(), argmax.ravel(), channel.ravel()), g.ravel())
    return dx.reshape(n, h, w, c)


def avg_pool2d(x, ph, pw, sh, sw, pt, pl, oh, ow):
    """Window means (N, OH, OW, C) over the taps inside the image."""
    total = _windows(x, ph, pw, sh, sw, pt, pl, oh, ow, 0).sum(axis=3)
    return (total / _counts(x.shape, x.dtype, ph, pw, sh, sw, pt, pl, oh, ow)).astype(x.dtype)


def avg_pool2d_backward(g, x_shape, ph, pw, sh, sw, pt, pl):
    """Gradient wrt the input: each output gradient spread evenly over its in-image taps."""
    n, h, w, c = (int(v) for v in x_shape)
    oh, ow = g.shape[1], g.shape[2]
    share = (g / _counts(x_shape, g.dtype, ph, pw, sh, sw, pt, pl, oh, ow)).astype(g.dtype)
    pb, pr = _far_padding(h, w, ph, pw, sh, sw, pt, pl, oh, ow)
    padded = cupy.zeros((n, h + pt + pb, w + pl + pr, c), dtype=g.dtype)
    for a in range(ph):
        for b in range(pw):
            padded[:, a:a + (oh - 1) * sh + 1:sh, b:b + (ow - 1) * sw + 1:sw, :] += share
    return cupy.ascontiguousarray(padded[:, pt:pt + h, pl:pl + w, :])


def _windows(x, ph, pw, sh, sw, pt, pl, oh, ow, fill):
    """(N, OH, OW, PH*PW, C): every window's taps, row by row, padding filled with `fill`."""
    n, h, w, c = x.shape
    pb, pr = _far_padding(h, w, ph, pw, sh, sw, pt, pl, oh, ow)
    padded = cupy.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)), constant_values=fill)
    return cupy.stack([padded[:, a:a + (oh - 1) * sh + 1:sh, b:b + (ow - 1) * sw + 1:sw, :]
                       for a in range(ph) for b in range(pw)], axis=3)


def _counts(x_shape, dtype, ph, pw, sh, sw, pt, pl, oh, ow):
    """(1, OH, OW, 1): how many taps of each window fall inside the image."""
    ones = cupy.ones((1, int(x_shape[1]), int(x_shape[2]), 1), dtype=dtype)
    return _windows(ones, ph, pw, sh, sw, pt, pl, oh, ow, 0).sum(axis=3)


def _far_padding(h, w, ph, pw, sh, sw, pt, pl, oh, ow):
    """Bottom and right padding that keep every tap's slice inside the padded image."""
    return max((oh - 1) * sh + ph - h - pt, 0), max((ow - 1) * sw + pw - w - pl, 0)
