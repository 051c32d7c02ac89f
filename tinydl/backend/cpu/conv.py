"""im2col / col2im for channels-last images (numba): convolution as one BLAS matrix product.

Layout: `x` is (N, H, W, C); `cols` is (G, N*OH*OW, KH*KW*C/G), one matrix per channel group, row
m = (n*OH + i)*OW + j, column (a*KW + b)*C/G + c. With G=1 this is the usual (M, K) patch matrix, so
`cols[0] @ kernel.reshape(K, out)` is the convolution with a (KH, KW, C, out) kernel. Padding is
virtual in the numba loops (out-of-image taps read as zero and are never written back).

Measured choices (2 shared cores, float32, 3x3 kernels, forward; the scripts are benchmarks/conv.py and
the loops timed side by side):
- im2col + OpenBLAS GEMM wherever C*KH*KW > 16: at 64x13x13x32 -> 64 a direct numba loop nest took
  18.8-34.7 ms against 7.1-19 ms for im2col + GEMM (BLAS blocks for cache and SIMD, the loop nest
  does not). For C*KH*KW <= 16 (a first layer on grey images, 64x28x28x1 -> 32) the direct loop wins,
  2.3 ms against 6-22 ms: the patch matrix is as big as the output and the K=9 GEMM is memory-bound.
  So `conv2d_direct` below serves the forward pass there; backward still builds patches for dW.
- numba loops beat NumPy strided slicing (one slice copy per tap) 2-10x for C >= 3 (im2col 0.34 vs
  0.71 ms at 64x13x13x32; col2im 0.36 vs 3.6 ms), but lose 4x for C == 1 (the first layer of a CNN on
  grey images: 1.45 vs 0.32 ms), where a numba element loop pays its per-element bookkeeping for one
  value. So C == 1 goes through NumPy slicing, everything else through numba.
- Threads: `prange` kernels exist but run only above PARALLEL_MIN. In isolation they halve im2col on
  2 cores, but between two OpenBLAS calls (whose threads are still spinning) numba's pool and BLAS
  oversubscribe the cores and a conv forward got 3-7x slower. col2im parallelises over images, never
  over output rows, because neighbouring rows add into the same input pixels.
"""
import numba
import numpy as np

from tinydl.backend import threads

PARALLEL_MIN = threads.PARALLEL_MIN


def im2col(x, kh, kw, sh, sw, dh, dw, pt, pl, oh, ow, groups):
    """Patch matrix (G, N*OH*OW, KH*KW*C/G) of x (N, H, W, C) for a kernel KHxKW, strides, dilation, padding."""
    x = np.ascontiguousarray(x)
    n, _, _, c = x.shape
    if c == 1:
        return _im2col_slices(x, kh, kw, sh, sw, dh, dw, pt, pl, oh, ow)
    cols = np.empty((groups, n * oh * ow, kh * kw * (c // groups)), dtype=x.dtype)
    if groups > 1:
        _im2col_grouped(x, cols, oh, ow, kh, kw, sh, sw, dh, dw, pt, pl)
    elif cols.size >= PARALLEL_MIN:
        _im2col_parallel(x, cols[0], oh, ow, kh, kw, sh, sw, dh, dw, pt, pl)
    else:
        _im2col_serial(x, cols[0], oh, ow, kh, kw, sh, sw, dh, dw, pt, pl)
    return cols


def col2im(cols, x_shape, kh, kw, sh, sw, dh, dw, pt, pl, oh, ow):
    """The adjoint of im2col: add every patch entry of `cols` back into an image of `x_shape`."""
    x_shape = tuple(int(v) for v in x_shape)
    if x_shape[3] == 1:
        return _col2im_slices(cols, x_shape, kh, kw, sh, sw, dh, dw, pt, pl, oh, ow)
    cols = np.ascontiguousarray(cols)
    dx = np.zeros(x_shape, dtype=cols.dtype)
    if cols.shape[0] > 1:
        _col2im_grouped(cols, dx, oh, ow, kh, kw, sh, sw, dh, dw, pt, pl)
    elif cols.size >= PARALLEL_MIN and x_shape[0] > 1:
        _col2im_parallel(cols[0], dx, oh, ow, kh, kw, sh, sw, dh, dw, pt, pl)
    else:
        _col2im_serial(cols[0], dx, oh, ow, kh, kw, sh, sw, dh, dw, pt, pl)
    return dx


def _far_padding(h, w, kh, kw, sh, sw, dh, dw, pt, pl, oh, ow):
    """Bottom and right padding that keep every tap's slice inside the padded image."""
    return max((oh - 1) * sh + (kh - 1) * dh + 1 - h - pt, 0), max((ow - 1) * sw + (kw - 1) * dw + 1 - w - pl, 0)


def _im2col_slices(x, kh, kw, sh, sw, dh, dw, pt, pl, oh, ow):
    """im2col by one strided NumPy copy per tap (fastest for single-channel images)."""
    n, h, w, c = x.shape
    pb, pr = _far_padding(h, w, kh, kw, sh, sw, dh, dw, pt, pl, oh, ow)
    if pt or pb or pl or pr:
        x = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)))
    patches = np.empty((n, oh, ow, kh, kw, c), dtype=x.dtype)
    for a in range(kh):
        for b in range(kw):
            patches[:, :, :, a, b, :] = x[:, a * dh:a * dh + (oh - 1) * sh + 1:sh,
                                          b * dw:b * dw + (ow - 1) * sw + 1:sw, :]
    return patches.reshape(1, n * oh * ow, kh * kw * c)


def _col2im_slices(cols, x_shape, kh, kw, sh, sw, dh, dw, pt, pl, oh, ow):
    """col2im by one strided NumPy add per tap (single-channel images)."""
    n, h, w, c = x_shape
    pb, pr = _far_padding(h, w, kh, kw, sh, sw, dh, dw, pt, pl, oh, ow)
    patches = cols.reshape(n, oh, ow, kh, kw, c)
    dx = np.zeros((n, h + pt + pb, w + pl + pr, c), dtype=cols.dtype)
    for a in range(kh):
        for b in range(kw):
            dx[:, a * dh:a * dh + (oh - 1) * sh + 1:sh, b * dw:b * dw + (ow - 1) * sw + 1:sw, :] += \
                patches[:, :, :, a, b, :]
    return np.ascontiguousarray(dx[:, pt:pt + h, pl:pl + w, :])


@numba.njit(cache=True)
def _im2col_row(x, cols, r, oh, ow, kh, kw, sh, sw, dh, dw, pt, pl):
    """Fill the patch rows (one matrix, no groups) of output row r = n*OH + i."""
    n = r // oh
    i = r % oh
    height, width, channels = x.shape[1], x.shape[2], x.shape[3]
    for j in range(ow):
        m = r * ow + j
        for a in range(kh):
            ih = i * sh - pt + a * dh
            row_inside = 0 <= ih < height
            for b in range(kw):
                iw = j * sw - pl + b * dw
                base = (a * kw + b) * channels
                if row_inside and 0 <= iw < width:
                    for c in range(channels):
                        cols[m, base + c] = x[n, ih, iw, c]
                else:
                    for c in range(channels):
                        cols[m, base + c] = 0


@numba.njit(cache=True)
def _im2col_serial(x, cols, oh, ow, kh, kw, sh, sw, dh, dw, pt, pl):
    for r in range(x.shape[0] * oh):
        _im2col_row(x, cols, r, oh, ow, kh, kw, sh, sw, dh, dw, pt, pl)


@numba.njit(cache=True, parallel=True)
def _im2col_parallel(x, cols, oh, ow, kh, kw, sh, sw, dh, dw, pt, pl):
    for r in numba.prange(x.shape[0] * oh):
        _im2col_row(x, cols, r, oh, ow, kh, kw, sh, sw, dh, dw, pt, pl)


@numba.njit(cache=True)
def _im2col_grouped(x, cols, oh, ow, kh, kw, sh, sw, dh, dw, pt, pl):
    """Patch matrices of every channel group: cols[g, m, (a*KW + b)*C/G + c] = x[n, ih, iw, g*C/G + c]."""
    height, width, channels = x.shape[1], x.shape[2], x.shape[3]
    groups = cols.shape[0]
    cg = channels // groups
    for r in range(x.shape[0] * oh):
        n = r // oh
        i = r % oh
        for j in range(ow):
            m = r * ow + j
            for a in range(kh):
                ih = i * sh - pt + a * dh
                for b in range(kw):
                    iw = j * sw - pl + b * dw
                    base = (a * kw + b) * cg
                    inside = 0 <= ih < height and 0 <= iw < width
                    for g in range(groups):
                        for c in range(cg):
                            cols[g, m, base + c] = x[n, ih, iw, g * cg + c] if inside else 0


@numba.njit(cache=True)
def _col2im_image(cols, dx, n, oh, ow, kh, kw, sh, sw, dh, dw, pt, pl):
    """Add the patches of image n (one matrix, no groups) back into dx[n]."""
    height, width, channels = dx.shape[1], dx.shape[2], dx.shape[3]
    for i in range(oh):
        for j in range(ow):
            m = (n * oh + i) * ow + j
            for a in range(kh):
                ih = i * sh - pt + a * dh
                if ih < 0 or ih >= height:
                    continue
                for b in range(kw):
                    iw = j * sw - pl + b * dw
                    if iw < 0 or iw >= width:
                        continue
                    base = (a * kw + b) * channels
                    for c in range(channels):
                        dx[n, ih, iw, c] += cols[m, base + c]


@numba.njit(cache=True)
def _col2im_serial(cols, dx, oh, ow, kh, kw, sh, sw, dh, dw, pt, pl):
    for n in range(dx.shape[0]):
        _col2im_image(cols, dx, n, oh, ow, kh, kw, sh, sw, dh, dw, pt, pl)


@numba.njit(cache=True, parallel=True)
def _col2im_parallel(cols, dx, oh, ow, kh, kw, sh, sw, dh, dw, pt, pl):
    for n in numba.prange(dx.shape[0]):
        _col2im_image(cols, dx, n, oh, ow, kh, kw, sh, sw, dh, dw, pt, pl)


@numba.njit(cache=True)
def _col2im_grouped(cols, dx, oh, ow, kh, kw, sh, sw, dh, dw, pt, pl):
    """The adjoint of _im2col_grouped."""
    height, width, channels = dx.shape[1], dx.shape[2], dx.shape[3]
    groups = cols.shape[0]
    cg = channels // groups
    for n in range(dx.shape[0]):
        for i in range(oh):
            for j in range(ow):
                m = (n * oh + i) * ow + j
                for a in range(kh):
                    ih = i * sh - pt + a * dh
                    if ih < 0 or ih >= height:
                        continue
                    for b in range(kw):
                        iw = j * sw - pl + b * dw
                        if iw < 0 or iw >= width:
                            continue
                        base = (a * kw + b) * cg
                        for g in range(groups):
                            for c in range(cg):
                                dx[n, ih, iw, g * cg + c] += cols[g, m, base + c]


def conv2d_direct(x, w, sh, sw, dh, dw, pt, pl, oh, ow):
    """Ungrouped conv of x (N, H, W, C) with w (KH, KW, C, O) by a direct loop nest, for tiny C*KH*KW.

    With C*KH*KW <= ~16 (a first layer on grey images) the patch matrix is as big as the output and
    the GEMM is memory-bound: measured 2.3 ms against 6-20 ms for im2col + GEMM at 64x28x28x1 -> 32.
    """
    x = np.ascontiguousarray(x)
    w = np.ascontiguousarray(w, dtype=x.dtype)
    y = np.empty((x.shape[0], oh, ow, w.shape[3]), dtype=x.dtype)
    _conv_direct(x, w, y, sh, sw, dh, dw, pt, pl)
    return y


@numba.njit(cache=True)
def _conv_direct(x, w, y, sh, sw, dh, dw, pt, pl):
    height, width, channels = x.shape[1], x.shape[2], x.shape[3]
    kh, kw, out = w.shape[0], w.shape[1], w.shape[3]
    for n in range(x.shape[0]):
        for i in range(y.shape[1]):
            for j in range(y.shape[2]):
                for o in range(out):
                    y[n, i, j, o] = 0
                for a in range(kh):
                    ih = i * sh - pt + a * dh
                    if ih < 0 or ih >= height:
                        continue
                    for b in range(kw):
                        iw = j * sw - pl + b * dw
                        if iw < 0 or iw >= width:
                            continue
                        for c in range(channels):
                            v = x[n, ih, iw, c]
                            for o in range(out):
                                y[n, i, j, o] += v * w[a, b, c, o]
