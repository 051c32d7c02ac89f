"""Max and average pooling as array code: the GPU path (CuPy arrays) and the readable reference (NumPy
arrays) of backend/cpu/pool.py, with the same names and signatures; each function works on the array
module of its input (`xp`).

Windows are gathered with one strided slice per tap; padded taps are -inf for max (never chosen) and
are left out of the count for the mean. argmax is the flat in-image index ih*W + iw of the first
maximum, taps scanned row by row as on the CPU.
"""
from tinydl.backend import add_at, array_module


def max_pool2d(x, ph, pw, sh, sw, pt, pl, oh, ow):
    """(y, argmax): window maxima (N, OH, OW, C) and the flat in-image index ih*W + iw of each."""
    xp = array_module(x)
    n, h, w, c = x.shape
    windows = _windows(x, ph, pw, sh, sw, pt, pl, oh, ow, -xp.inf)
    tap = windows.argmax(axis=3)
    y = xp.take_along_axis(windows, tap[:, :, :, None], axis=3)[:, :, :, 0]
    rows = xp.arange(oh)[None, :, None, None] * sh - pt + tap // pw
    cols = xp.arange(ow)[None, None, :, None] * sw - pl + tap % pw
    return xp.ascontiguousarray(y), (rows * w + cols).astype(xp.int64)


def max_pool2d_backward(g, argmax, x_shape):
    """Gradient wrt the input: each output gradient added at its argmax position."""
    xp = array_module(g)
    n, h, w, c = (int(v) for v in x_shape)
    dx = xp.zeros((n, h * w, c), dtype=g.dtype)
    batch = xp.broadcast_to(xp.arange(n)[:, None, None, None], g.shape)
    channel = xp.broadcast_to(xp.arange(c)[None, None, None, :], g.shape)
    add_at(dx, (batch.ravel(), argmax.ravel(), channel.ravel()), g.ravel())
    return dx.reshape(n, h, w, c)


def avg_pool2d(x, ph, pw, sh, sw, pt, pl, oh, ow):
    """Window means (N, OH, OW, C) over the taps inside the image."""
    total = _windows(x, ph, pw, sh, sw, pt, pl, oh, ow, 0).sum(axis=3)
    return (total / _counts(x, x.shape, ph, pw, sh, sw, pt, pl, oh, ow)).astype(x.dtype)


def avg_pool2d_backward(g, x_shape, ph, pw, sh, sw, pt, pl):
    """Gradient wrt the input: each output gradient spread evenly over its in-image taps."""
    xp = array_module(g)
    n, h, w, c = (int(v) for v in x_shape)
    oh, ow = g.shape[1], g.shape[2]
    share = (g / _counts(g, x_shape, ph, pw, sh, sw, pt, pl, oh, ow)).astype(g.dtype)
    pb, pr = _far_padding(h, w, ph, pw, sh, sw, pt, pl, oh, ow)
    padded = xp.zeros((n, h + pt + pb, w + pl + pr, c), dtype=g.dtype)
    for a in range(ph):
        for b in range(pw):
            padded[:, a:a + (oh - 1) * sh + 1:sh, b:b + (ow - 1) * sw + 1:sw, :] += share
    return xp.ascontiguousarray(padded[:, pt:pt + h, pl:pl + w, :])


def _windows(x, ph, pw, sh, sw, pt, pl, oh, ow, fill):
    """(N, OH, OW, PH*PW, C): every window's taps, row by row, padding filled with `fill`."""
    xp = array_module(x)
    n, h, w, c = x.shape
    pb, pr = _far_padding(h, w, ph, pw, sh, sw, pt, pl, oh, ow)
    padded = xp.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)), constant_values=fill)
    return xp.stack([padded[:, a:a + (oh - 1) * sh + 1:sh, b:b + (ow - 1) * sw + 1:sw, :]
                       for a in range(ph) for b in range(pw)], axis=3)


def _counts(like, x_shape, ph, pw, sh, sw, pt, pl, oh, ow):
    """(1, OH, OW, 1) in like's dtype and array module: how many taps of each window fall inside the image."""
    xp = array_module(like)
    ones = xp.ones((1, int(x_shape[1]), int(x_shape[2]), 1), dtype=like.dtype)
    return _windows(ones, ph, pw, sh, sw, pt, pl, oh, ow, 0).sum(axis=3)


def _far_padding(h, w, ph, pw, sh, sw, pt, pl, oh, ow):
    """Bottom and right padding that keep every tap's slice inside the padded image."""
    return max((oh - 1) * sh + ph - h - pt, 0), max((ow - 1) * sw + pw - w - pl, 0)
