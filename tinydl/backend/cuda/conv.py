"""im2col / col2im as array code: the GPU path (CuPy arrays) and the readable reference (NumPy arrays)
of backend/cpu/conv.py, with the same names, signatures and layouts.

One strided slice per kernel tap (KH*KW array ops, each over the whole batch) on a zero-padded copy;
cols is (G, N*OH*OW, KH*KW*C/G) exactly as on the CPU, so the ops above run unchanged on both devices.
Every function works on the array module of its input (`xp`).
"""
from tinydl.backend import array_module


def im2col(x, kh, kw, sh, sw, dh, dw, pt, pl, oh, ow, groups):
    """Patch matrix (G, N*OH*OW, KH*KW*C/G) of x (N, H, W, C) for a kernel KHxKW, strides, dilation, padding."""
    xp = array_module(x)
    n, h, w, c = x.shape
    pb, pr = _far_padding(h, w, kh, kw, sh, sw, dh, dw, pt, pl, oh, ow)
    padded = xp.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)))
    patches = xp.empty((n, oh, ow, kh, kw, c), dtype=x.dtype)
    for a in range(kh):
        for b in range(kw):
            patches[:, :, :, a, b, :] = padded[:, a * dh:a * dh + (oh - 1) * sh + 1:sh,
                                               b * dw:b * dw + (ow - 1) * sw + 1:sw, :]
    cg = c // groups
    cols = patches.reshape(n * oh * ow, kh * kw, groups, cg).transpose(2, 0, 1, 3)
    return xp.ascontiguousarray(cols.reshape(groups, n * oh * ow, kh * kw * cg))


def col2im(cols, x_shape, kh, kw, sh, sw, dh, dw, pt, pl, oh, ow):
    """The adjoint of im2col: add every patch entry of `cols` back into an image of `x_shape`."""
    xp = array_module(cols)
    n, h, w, c = (int(v) for v in x_shape)
    groups = cols.shape[0]
    cg = c // groups
    patches = cols.reshape(groups, n, oh, ow, kh, kw, cg).transpose(1, 2, 3, 4, 5, 0, 6)
    patches = patches.reshape(n, oh, ow, kh, kw, c)
    pb, pr = _far_padding(h, w, kh, kw, sh, sw, dh, dw, pt, pl, oh, ow)
    padded = xp.zeros((n, h + pt + pb, w + pl + pr, c), dtype=cols.dtype)
    for a in range(kh):
        for b in range(kw):
            padded[:, a * dh:a * dh + (oh - 1) * sh + 1:sh, b * dw:b * dw + (ow - 1) * sw + 1:sw, :] += \
                patches[:, :, :, a, b, :]
    return xp.ascontiguousarray(padded[:, pt:pt + h, pl:pl + w, :])


def _far_padding(h, w, kh, kw, sh, sw, dh, dw, pt, pl, oh, ow):
    """Bottom and right padding that keep every tap's slice inside the padded image."""
    pb = max((oh - 1) * sh + (kh - 1) * dh + 1 - h - pt, 0)
    pr = max((ow - 1) * sw + (kw - 1) * dw + 1 - w - pl, 0)
    return pb, pr


def conv2d_direct(x, w, sh, sw, dh, dw, pt, pl, oh, ow):
    """Ungrouped conv of x (N, H, W, C) with w (KH, KW, C, O); on the GPU simply im2col + one matmul."""
    kh, kw, _, out = w.shape
    cols = im2col(x, kh, kw, sh, sw, dh, dw, pt, pl, oh, ow, 1)[0]
    return (cols @ w.reshape(-1, out)).reshape(x.shape[0], oh, ow, out)
