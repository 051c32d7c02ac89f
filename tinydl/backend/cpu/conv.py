"""im2col / col2im for channels-last images (numba): convolution as one BLAS matrix product.

Layout: `x` is (N, H, W, C); `cols` is (G, N*OH*OW, KH*KW*C/G), one matrix per channel group, row
m = (n*OH + i)*OW + j, column (a*KW + b)*C/G + c. With G=1 this is the usual (M, K) patch matrix, so
`cols[0] @ kernel.reshape(K, out)` is the convolution with a (KH, KW, C, out) kernel. Padding is
virtual (out-of-image taps read/write nothing), so no padded copy of the input is ever made.

Why im2col + GEMM and not direct loops: measured here (2 cores, float32, `python -m benchmarks.conv_kernels`
kept in benchmarks/) a direct numba loop nest is 3-10x slower than im2col + OpenBLAS for every layer with
C*KH*KW >= 27 (BLAS reaches ~60-90% of peak, a scalar loop nest ~10%), and only ties on the first layer of
a CNN (C=1, K=9) where both take well under a millisecond. One path is simpler and never loses much.

Threads: `prange` only when the patch matrix is big enough (PARALLEL_MIN elements); below that numba's
thread pool costs more (30-300 us a call) than it saves. col2im parallelises over images, never over
output rows, because neighbouring rows add into the same input pixels.
"""
import numba
import numpy as np

PARALLEL_MIN = 1 << 18


def im2col(x, kh, kw, sh, sw, dh, dw, pt, pl, oh, ow, groups):
    """Patch matrix (G, N*OH*OW, KH*KW*C/G) of x (N, H, W, C) for a kernel KHxKW, strides, dilation, padding."""
    x = np.ascontiguousarray(x)
    n, _, _, c = x.shape
    cols = np.empty((groups, n * oh * ow, kh * kw * (c // groups)), dtype=x.dtype)
    if cols.size >= PARALLEL_MIN:
        _im2col_parallel(x, cols, oh, ow, kh, kw, sh, sw, dh, dw, pt, pl)
    else:
        _im2col_serial(x, cols, oh, ow, kh, kw, sh, sw, dh, dw, pt, pl)
    return cols


def col2im(cols, x_shape, kh, kw, sh, sw, dh, dw, pt, pl, oh, ow):
    """The adjoint of im2col: add every patch entry of `cols` back into an image of `x_shape`."""
    cols = np.ascontiguousarray(cols)
    dx = np.zeros(tuple(x_shape), dtype=cols.dtype)
    if cols.size >= PARALLEL_MIN and x_shape[0] > 1:
        _col2im_parallel(cols, dx, oh, ow, kh, kw, sh, sw, dh, dw, pt, pl)
    else:
        _col2im_serial(cols, dx, oh, ow, kh, kw, sh, sw, dh, dw, pt, pl)
    return dx


@numba.njit(cache=True)
def _im2col_row(x, cols, r, oh, ow, kh, kw, sh, sw, dh, dw, pt, pl):
    """Fill the patch rows of output row r = n*OH + i."""
    n = r // oh
    i = r % oh
    height, width, channels = x.shape[1], x.shape[2], x.shape[3]
    groups = cols.shape[0]
    cg = channels // groups
    for j in range(ow):
        m = r * ow + j
        for a in range(kh):
            ih = i * sh - pt + a * dh
            for b in range(kw):
                iw = j * sw - pl + b * dw
                base = (a * kw + b) * cg
                inside = 0 <= ih < height and 0 <= iw < width
                for g in range(groups):
                    if inside:
                        for c in range(cg):
                            cols[g, m, base + c] = x[n, ih, iw, g * cg + c]
                    else:
                        for c in range(cg):
                            cols[g, m, base + c] = 0


@numba.njit(cache=True)
def _im2col_serial(x, cols, oh, ow, kh, kw, sh, sw, dh, dw, pt, pl):
    for r in range(x.shape[0] * oh):
        _im2col_row(x, cols, r, oh, ow, kh, kw, sh, sw, dh, dw, pt, pl)


@numba.njit(cache=True, parallel=True)
def _im2col_parallel(x, cols, oh, ow, kh, kw, sh, sw, dh, dw, pt, pl):
    for r in numba.prange(x.shape[0] * oh):
        _im2col_row(x, cols, r, oh, ow, kh, kw, sh, sw, dh, dw, pt, pl)


@numba.njit(cache=True)
def _col2im_image(cols, dx, n, oh, ow, kh, kw, sh, sw, dh, dw, pt, pl):
    """Add the patches of image n back into dx[n]."""
    height, width, channels = dx.shape[1], dx.shape[2], dx.shape[3]
    groups = cols.shape[0]
    cg = channels // groups
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


@numba.njit(cache=True)
def _col2im_serial(cols, dx, oh, ow, kh, kw, sh, sw, dh, dw, pt, pl):
    for n in range(dx.shape[0]):
        _col2im_image(cols, dx, n, oh, ow, kh, kw, sh, sw, dh, dw, pt, pl)


@numba.njit(cache=True, parallel=True)
def _col2im_parallel(cols, dx, oh, ow, kh, kw, sh, sw, dh, dw, pt, pl):
    for n in numba.prange(dx.shape[0]):
        _col2im_image(cols, dx, n, oh, ow, kh, kw, sh, sw, dh, dw, pt, pl)
