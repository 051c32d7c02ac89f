"""The im2col patch matrix in one launch: each element gathers its input pixel (zero in the padding).

The array code (backend/cuda/conv.py) pads a copy of the image and copies one strided slice per kernel
tap (KH*KW + 1 launches); here one `Elementwise` computes, for every entry of the patch matrix, which
input element it holds. The driver works on any array module and takes the kernel as an argument:
backend/cuda/fused.py passes the CuPy kernel, the CPU tests `IM2COL.numpy_kernel()`.
"""
from tinydl.backend import array_module
from tinydl.backend.cuda.elementwise import Elementwise

IM2COL = Elementwise(
    "raw T x, int64 h, int64 w, int64 c, int64 kh, int64 kw, int64 sh, int64 sw, int64 dh, int64 dw, "
    "int64 pt, int64 pl, int64 oh, int64 ow, int64 rows, int64 cg",
    "T cols",
    """
    T zero = 0;
    long long origin = 0;
    long long width = kh * kw * cg;
    long long k = imod(i, width);
    long long row = imod(idiv(i, width), rows);
    long long group = idiv(i, width * rows);
    long long tap = idiv(k, cg);
    long long pixel = imod(row, oh * ow);
    long long image = idiv(row, oh * ow);
    long long ih = idiv(pixel, ow) * sh - pt + idiv(tap, kw) * dh;
    long long iw = imod(pixel, ow) * sw - pl + imod(tap, kw) * dw;
    bool inside = (ih >= 0) * (ih < h) * (iw >= 0) * (iw < w);
    long long source = ((image * h + ih) * w + iw) * c + group * cg + imod(k, cg);
    cols = choose(inside, x[choose(inside, source, origin)], zero);
    """,
    "tinydl_im2col")


def im2col(x, kh, kw, sh, sw, dh, dw, pt, pl, oh, ow, groups, *, kernel):
    """Patch matrix (G, N*OH*OW, KH*KW*C/G) of x (N, H, W, C), as backend/cpu/conv.py, in one launch."""
    xp = array_module(x)
    n, h, w, c = x.shape
    cg = c // groups
    rows = n * oh * ow
    cols = xp.empty((groups, rows, kh * kw * cg), dtype=x.dtype)
    if cols.size:
        kernel(xp.ascontiguousarray(x), h, w, c, kh, kw, sh, sw, dh, dw, pt, pl, oh, ow, rows, cg, cols)
    return cols


def conv2d_direct(x, w, sh, sw, dh, dw, pt, pl, oh, ow, *, kernel):
    """Ungrouped conv of x (N, H, W, C) with w (KH, KW, C, O): the one-launch patch matrix and one matmul."""
    kh, kw, _, out = w.shape
    cols = im2col(x, kh, kw, sh, sw, dh, dw, pt, pl, oh, ow, 1, kernel=kernel)[0]
    return (cols @ w.reshape(-1, out)).reshape(x.shape[0], oh, ow, out)
