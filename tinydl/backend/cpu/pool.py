"""Max and average pooling over channels-last images (numba), forward and backward.

Windows are PH x PW with strides SH, SW and virtual padding (top PT, left PL): taps outside the image
are skipped (a 'same' window always keeps at least one tap inside), so max pooling never sees the
padding and average pooling divides by the number of taps inside the image (Keras/TF 'same'
semantics). Max pooling keeps, per output, the flat index ih*W + iw of the first maximum, and its
backward sends each gradient there. Loops run over images; threads split the batch only for very
large inputs (each image writes only its own gradient, so no races).
"""
import numba
import numpy as np

from tinydl.backend import threads

PARALLEL_MIN = threads.PARALLEL_MIN  # threads fight OpenBLAS for the cores below this (see cpu/conv.py)


def max_pool2d(x, ph, pw, sh, sw, pt, pl, oh, ow):
    """(y, argmax): window maxima (N, OH, OW, C) and the flat in-image index ih*W + iw of each."""
    x = np.ascontiguousarray(x)
    y = np.empty((x.shape[0], oh, ow, x.shape[3]), dtype=x.dtype)
    arg = np.empty(y.shape, dtype=np.int64)
    run = _max_fwd_parallel if x.size >= PARALLEL_MIN and x.shape[0] > 1 else _max_fwd_serial
    run(x, y, arg, ph, pw, sh, sw, pt, pl)
    return y, arg


def max_pool2d_backward(g, argmax, x_shape):
    """Gradient wrt the input: each output gradient added at its argmax position."""
    g = np.ascontiguousarray(g)
    dx = np.zeros(tuple(x_shape), dtype=g.dtype)
    run = _max_bwd_parallel if dx.size >= PARALLEL_MIN and dx.shape[0] > 1 else _max_bwd_serial
    run(g, np.ascontiguousarray(argmax), dx.reshape(dx.shape[0], -1, dx.shape[3]))
    return dx


def avg_pool2d(x, ph, pw, sh, sw, pt, pl, oh, ow):
    """Window means (N, OH, OW, C) over the taps inside the image."""
    x = np.ascontiguousarray(x)
    y = np.empty((x.shape[0], oh, ow, x.shape[3]), dtype=x.dtype)
    run = _avg_fwd_parallel if x.size >= PARALLEL_MIN and x.shape[0] > 1 else _avg_fwd_serial
    run(x, y, ph, pw, sh, sw, pt, pl)
    return y


def avg_pool2d_backward(g, x_shape, ph, pw, sh, sw, pt, pl):
    """Gradient wrt the input: each output gradient spread evenly over its in-image taps."""
    g = np.ascontiguousarray(g)
    dx = np.zeros(tuple(x_shape), dtype=g.dtype)
    run = _avg_bwd_parallel if dx.size >= PARALLEL_MIN and dx.shape[0] > 1 else _avg_bwd_serial
    run(g, dx, ph, pw, sh, sw, pt, pl)
    return dx


@numba.njit(cache=True)
def _max_fwd_image(x, y, arg, n, ph, pw, sh, sw, pt, pl):
    # the window's first in-image tap seeds the maximum, so the channel loops stay branch-light
    height, width, channels = x.shape[1], x.shape[2], x.shape[3]
    for i in range(y.shape[1]):
        h0, h1 = _window(i, sh, pt, ph, height)
        for j in range(y.shape[2]):
            w0, w1 = _window(j, sw, pl, pw, width)
            first = h0 * width + w0
            for c in range(channels):
                y[n, i, j, c] = x[n, h0, w0, c]
                arg[n, i, j, c] = first
            for ih in range(h0, h1):
                for iw in range(w0, w1):
                    k = ih * width + iw
                    for c in range(channels):
                        v = x[n, ih, iw, c]
                        if v > y[n, i, j, c]:
                            y[n, i, j, c] = v
                            arg[n, i, j, c] = k


@numba.njit(cache=True)
def _max_fwd_serial(x, y, arg, ph, pw, sh, sw, pt, pl):
    for n in range(x.shape[0]):
        _max_fwd_image(x, y, arg, n, ph, pw, sh, sw, pt, pl)


@numba.njit(cache=True, parallel=True)
def _max_fwd_parallel(x, y, arg, ph, pw, sh, sw, pt, pl):
    for n in numba.prange(x.shape[0]):
        _max_fwd_image(x, y, arg, n, ph, pw, sh, sw, pt, pl)


@numba.njit(cache=True)
def _max_bwd_image(g, arg, dx, n):
    """dx is (N, H*W, C) here, so the flat argmax indexes it without a division."""
    for i in range(g.shape[1]):
        for j in range(g.shape[2]):
            for c in range(g.shape[3]):
                dx[n, arg[n, i, j, c], c] += g[n, i, j, c]


@numba.njit(cache=True)
def _max_bwd_serial(g, arg, dx):
    for n in range(dx.shape[0]):
        _max_bwd_image(g, arg, dx, n)


@numba.njit(cache=True, parallel=True)
def _max_bwd_parallel(g, arg, dx):
    for n in numba.prange(dx.shape[0]):
        _max_bwd_image(g, arg, dx, n)


@numba.njit(cache=True)
def _window(i, stride, pad, size, limit):
    """[start, stop) of the in-image taps of window i along one axis."""
    start = i * stride - pad
    stop = min(start + size, limit)
    return max(start, 0), stop


@numba.njit(cache=True)
def _avg_fwd_image(x, y, n, ph, pw, sh, sw, pt, pl):
    height, width, channels = x.shape[1], x.shape[2], x.shape[3]
    for i in range(y.shape[1]):
        h0, h1 = _window(i, sh, pt, ph, height)
        for j in range(y.shape[2]):
            w0, w1 = _window(j, sw, pl, pw, width)
            for c in range(channels):
                y[n, i, j, c] = 0
            for ih in range(h0, h1):
                for iw in range(w0, w1):
                    for c in range(channels):
                        y[n, i, j, c] += x[n, ih, iw, c]
            count = max((h1 - h0) * (w1 - w0), 1)
            for c in range(channels):
                y[n, i, j, c] /= count


@numba.njit(cache=True)
def _avg_fwd_serial(x, y, ph, pw, sh, sw, pt, pl):
    for n in range(x.shape[0]):
        _avg_fwd_image(x, y, n, ph, pw, sh, sw, pt, pl)


@numba.njit(cache=True, parallel=True)
def _avg_fwd_parallel(x, y, ph, pw, sh, sw, pt, pl):
    for n in numba.prange(x.shape[0]):
        _avg_fwd_image(x, y, n, ph, pw, sh, sw, pt, pl)


@numba.njit(cache=True)
def _avg_bwd_image(g, dx, n, ph, pw, sh, sw, pt, pl):
    height, width, channels = dx.shape[1], dx.shape[2], dx.shape[3]
    for i in range(g.shape[1]):
        h0, h1 = _window(i, sh, pt, ph, height)
        for j in range(g.shape[2]):
            w0, w1 = _window(j, sw, pl, pw, width)
            scale = 1.0 / max((h1 - h0) * (w1 - w0), 1)
            for ih in range(h0, h1):
                for iw in range(w0, w1):
                    for c in range(channels):
                        dx[n, ih, iw, c] += g[n, i, j, c] * scale


@numba.njit(cache=True)
def _avg_bwd_serial(g, dx, ph, pw, sh, sw, pt, pl):
    for n in range(dx.shape[0]):
        _avg_bwd_image(g, dx, n, ph, pw, sh, sw, pt, pl)


@numba.njit(cache=True, parallel=True)
def _avg_bwd_parallel(g, dx, ph, pw, sh, sw, pt, pl):
    for n in numba.prange(dx.shape[0]):
        _avg_bwd_image(g, dx, n, ph, pw, sh, sw, pt, pl)
