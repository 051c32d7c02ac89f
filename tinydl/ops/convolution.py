"""Convolution and pooling on channels-last arrays: conv, conv_transpose, depthwise_conv, max_pool, average_pool.

Everything is 2D inside: a 1D input (N, L, C) is treated as a (N, 1, L, C) image. A convolution is one
im2col kernel call and one BLAS product per channel group (`backend/cpu/conv.py` says why), its
backward one product for the kernel gradient and one product plus col2im for the input gradient, each
done per slice of the batch whose patch matrix takes about `Conv.PATCH_BYTES` (bounded memory).
Kernels are cross-correlated, laid out (kh, kw, in/groups, out) as in Keras; 'same' padding follows
TF/Keras (output ceil(size / stride), the odd padding pixel at the end).
"""
import contextlib

import numpy as np

from tinydl import backend
from tinydl.autograd import Function
from tinydl.backend import threads
from tinydl.ops._util import data
from tinydl.ops.shape import reshape

__all__ = ["conv", "conv_transpose", "depthwise_conv", "max_pool", "average_pool"]

_PADDINGS = ("valid", "same")


def conv(x, kernel, strides=1, padding="valid", dilation_rate=1, groups=None):
    """N-D (1 or 2) cross-correlation of channels-last `x` with `kernel` (k..., in/groups, out).

    `padding` is 'valid', 'same' or, for 1D, 'causal'. `groups` defaults to in_channels / kernel's in
    axis (a grouped convolution splits input and output channels into `groups` consecutive blocks).
    """
    xs, ks = _shape(x), _shape(kernel)
    rank = _rank("conv", xs, ks)
    kin, out = ks[-2], ks[-1]
    if groups is None:
        groups = xs[-1] // kin if kin and xs[-1] % kin == 0 else 0
    if groups < 1 or kin * groups != xs[-1]:
        raise ValueError(f"conv: input {tuple(xs)} has {xs[-1]} channels but kernel {tuple(ks)} expects "
                         f"{kin} x groups={groups}: the kernel's in axis must be channels / groups")
    if out % groups:
        raise ValueError(f"conv: kernel {tuple(ks)} has {out} output channels, not divisible by groups={groups}")
    geo = _geometry("conv", xs[1:-1], ks[:-2], strides, padding, dilation_rate, rank)
    return Conv(geo=geo, groups=groups, rank=rank)(x, kernel)


def conv_transpose(x, kernel, strides=1, padding="valid", output_padding=None, dilation_rate=1):
    """Transposed 2D convolution (Keras Conv2DTranspose): x (N, H, W, in), kernel (kh, kw, out, in).

    It is the gradient of `conv` with respect to its input, so output sizes follow Keras: with
    output_padding=None, H*s + max(k - s, 0) for 'valid' and H*s for 'same'; else
    (H - 1)*s + k - 2*pad + output_padding with pad = 0 ('valid') or k // 2 ('same').
    """
    xs, ks = _shape(x), _shape(kernel)
    if len(xs) != 4 or len(ks) != 4:
        raise ValueError(f"conv_transpose expects a 4D input (batch, height, width, channels) and a 4D kernel "
                         f"(kh, kw, out, in), got input {tuple(xs)} and kernel {tuple(ks)}")
    if ks[3] != xs[3]:
        raise ValueError(f"conv_transpose: input {tuple(xs)} has {xs[3]} channels but kernel {tuple(ks)} "
                         f"expects {ks[3]} (kernel layout is (kh, kw, out, in))")
    strides, dilation = _tuple(strides, 2, "strides"), _tuple(dilation_rate, 2, "dilation_rate")
    padding = _padding("conv_transpose", padding, 2)
    extra = (None, None) if output_padding is None else _tuple(output_padding, 2, "output_padding", minimum=0)
    if any(op is not None and op >= s for op, s in zip(extra, strides)):
        raise ValueError(f"conv_transpose: output_padding {output_padding} must be smaller than strides {strides}")
    sizes, pads = [], []
    for n, k, s, d, op in zip(xs[1:3], ks[:2], strides, dilation, extra):
        size = transposed_length(n, k, s, d, padding, op)
        keff = (k - 1) * d + 1
        total = max((n - 1) * s + keff - size, 0) if padding == "same" else 0
        sizes.append(size)
        pads.append(total // 2)
    geo = (tuple(ks[:2]), strides, dilation, tuple(pads), tuple(xs[1:3]))
    return ConvTranspose(geo=geo, out_size=tuple(sizes))(x, kernel)


def depthwise_conv(x, kernel, strides=1, padding="valid", dilation_rate=1):
    """2D depthwise convolution: x (N, H, W, C), kernel (kh, kw, C, depth_multiplier) -> C*dm channels.

    Output channel c*dm + m is input channel c convolved with kernel[..., c, m] (Keras's order).
    """
    xs, ks = _shape(x), _shape(kernel)
    if len(xs) != 4 or len(ks) != 4:
        raise ValueError(f"depthwise_conv expects a 4D input and a 4D kernel (kh, kw, channels, multiplier), "
                         f"got input {tuple(xs)} and kernel {tuple(ks)}")
    if ks[2] != xs[3]:
        raise ValueError(f"depthwise_conv: input {tuple(xs)} has {xs[3]} channels but kernel {tuple(ks)} "
                         f"expects {ks[2]}")
    grouped = reshape(kernel, (ks[0], ks[1], 1, ks[2] * ks[3]))
    return conv(x, grouped, strides, padding, dilation_rate, groups=xs[3])


def max_pool(x, pool_size, strides=None, padding="valid"):
    """Max over pool_size windows of a channels-last (N, L, C) or (N, H, W, C) input."""
    return _pool(MaxPool, "max_pool", x, pool_size, strides, padding)


def average_pool(x, pool_size, strides=None, padding="valid"):
    """Mean over pool_size windows; with 'same' padding the padded taps are not counted (Keras)."""
    return _pool(AvgPool, "average_pool", x, pool_size, strides, padding)


def transposed_length(n, k, s, d, padding, output_padding=None):
    """Keras's deconv_output_length: the output size of a transposed convolution along one axis."""
    keff = (k - 1) * d + 1
    if output_padding is None:
        return n * s + max(keff - s, 0) if padding == "valid" else n * s
    pad = keff // 2 if padding == "same" else 0
    return (n - 1) * s + keff - 2 * pad + output_padding


def conv_output_length(n, k, s, d, padding):
    """Output size of a convolution or pooling along one axis ('valid', 'same', 'causal'), or None."""
    if n is None:
        return None
    keff = (k - 1) * d + 1
    if padding == "valid":
        return (n - keff) // s + 1
    return -(-n // s)


class Conv(Function):
    """Grouped 2D cross-correlation through im2col and one BLAS product per group.

    Tiny patches (C*KH*KW <= DIRECT_MAX, a first layer on grey images) use a direct loop forward
    instead (faster there, see backend/cpu/conv.py); backward then builds the patches it needs.
    """

    DIRECT_MAX = 16
    PATCH_BYTES = 4 << 20

    def __init__(self, geo, groups, rank):
        self.geo, self.groups, self.rank = geo, groups, rank

    def forward(self, x, w):
        (kh, kw), (sh, sw), (dh, dw), (pt, pl), (oh, ow) = self.geo
        self.x_shape, self.w_shape = x.shape, w.shape
        x4 = x[:, None] if self.rank == 1 else x
        w4 = w[None] if self.rank == 1 else w
        self.x4, self.x4_shape = x4, x4.shape
        self.wg = _grouped(w4, self.groups)
        spatial = (ow,) if self.rank == 1 else (oh, ow)
        if self.groups == 1 and kh * kw * x4.shape[3] <= self.DIRECT_MAX:
            y = backend.kernel("conv2d_direct", x4)(x4, w4, sh, sw, dh, dw, pt, pl, oh, ow)
            return y.reshape((x.shape[0],) + spatial + (w.shape[-1],))
        # the patch matrix is kh*kw times the input: it is built a slice of the batch at a time (each
        # slice's product still fills BLAS) and rebuilt in backward rather than kept alive between the
        # passes (PyTorch's CPU conv saves only x and w too), so it never costs more than PATCH_BYTES
        rows = oh * ow
        xp = backend.array_module(x4)
        y = xp.empty((x4.shape[0] * rows, w.shape[-1]), dtype=xp.result_type(x4, w4))
        with self._blas_threads():
            for images in self._slices():
                y[images.start * rows:images.stop * rows] = self._product(self._patches(images))
        return y.reshape((x.shape[0],) + spatial + (w.shape[-1],))

    def _product(self, cols):
        """(rows, out) outputs of patch matrices (G, rows, K): one product per channel group."""
        if self.groups == 1:
            return cols[0] @ self.wg[0]
        return (cols @ self.wg).transpose(1, 0, 2).reshape(cols.shape[1], -1)

    def _blas_threads(self):
        """The thread policy's context for this conv's products (one BLAS thread for small ones)."""
        g, k, n = self.wg.shape
        m = self.x4_shape[0] * self.geo[4][0] * self.geo[4][1]
        if backend.array_module(self.wg) is not np:
            return contextlib.nullcontext()
        return threads.gemm(m, n * g, k)

    def _slices(self):
        """Slices of the batch whose patch matrices take about PATCH_BYTES each (at least one image)."""
        n = self.x4_shape[0]
        if self._pointwise():
            return [slice(0, n)]
        (kh, kw), (oh, ow) = self.geo[0], self.geo[4]
        per_image = oh * ow * kh * kw * self.x4_shape[3] * self.x4.dtype.itemsize
        step = max(1, self.PATCH_BYTES // max(per_image, 1))
        return [slice(i, min(i + step, n)) for i in range(0, n, step)]

    def _patches(self, images):
        (kh, kw), (sh, sw), (dh, dw), (pt, pl), (oh, ow) = self.geo
        x4 = self.x4[images]
        if self._pointwise():  # a 1x1 stride-1 conv's patch matrix is the input itself: no copy
            return x4.reshape(1, -1, x4.shape[3])
        return backend.kernel("im2col", x4)(x4, kh, kw, sh, sw, dh, dw, pt, pl, oh, ow, self.groups)

    def _pointwise(self):
        (kh, kw), (sh, sw) = self.geo[0], self.geo[1]
        return kh == kw == sh == sw == 1 and self.groups == 1

    def backward(self, g):
        with self._blas_threads():
            return self._gradients(g)

    def _gradients(self, g):
        """Kernel and input gradients, one batch slice at a time (each slice's patches rebuilt from x)."""
        (kh, kw), (sh, sw), (dh, dw), (pt, pl), (oh, ow) = self.geo
        groups, out, rows = self.groups, self.w_shape[-1], oh * ow
        gm = g.reshape(-1, out)
        gg = gm[None] if groups == 1 else gm.reshape(gm.shape[0], groups, out // groups).transpose(1, 0, 2)
        xp = backend.array_module(g)
        dw_groups = dx = None
        if self.needs_grad[0] and not self._pointwise():
            dx = xp.empty(self.x4_shape, dtype=xp.result_type(g, self.wg))
        for images in self._slices():
            g_slice = gg[:, images.start * rows:images.stop * rows]
            if self.needs_grad[1]:
                cols = self._patches(images)  # deleted before dcols is allocated: the two never coexist
                part = cols[0].T @ g_slice[0] if groups == 1 else cols.transpose(0, 2, 1) @ g_slice
                dw_groups = part if dw_groups is None else dw_groups + part
                del cols
            if self.needs_grad[0]:
                dcols = (g_slice[0] @ self.wg[0].T)[None] if groups == 1 else g_slice @ self.wg.transpose(0, 2, 1)
                if self._pointwise():
                    dx = dcols.reshape(self.x4_shape)
                else:
                    shape = (images.stop - images.start,) + self.x4_shape[1:]
                    dx[images] = backend.kernel("col2im", dcols)(dcols, shape, kh, kw, sh, sw, dh, dw, pt, pl, oh, ow)
                del dcols  # before the next slice's patches
        grad_w = None
        if dw_groups is not None:
            grad_w = dw_groups if groups == 1 else dw_groups.transpose(1, 0, 2)
            grad_w = grad_w.reshape(self.w_shape)
        return (None if dx is None else dx.reshape(self.x_shape)), grad_w


class ConvTranspose(Function):
    """Transposed 2D convolution: col2im of x @ kernel^T; its input gradient is a convolution."""

    def __init__(self, geo, out_size):
        self.geo, self.out_size = geo, out_size

    def forward(self, x, w):
        (kh, kw), (sh, sw), (dh, dw), (pt, pl), (ih, iw) = self.geo
        n, cin, out = x.shape[0], x.shape[3], w.shape[2]
        self.xm = x.reshape(-1, cin)
        self.wm = w.reshape(-1, cin)
        self.w_shape, self.x_shape = w.shape, x.shape
        cols = (self.xm @ self.wm.T)[None]
        y_shape = (n,) + self.out_size + (out,)
        return backend.kernel("col2im", cols)(cols, y_shape, kh, kw, sh, sw, dh, dw, pt, pl, ih, iw)

    def backward(self, g):
        (kh, kw), (sh, sw), (dh, dw), (pt, pl), (ih, iw) = self.geo
        cols = backend.kernel("im2col", g)(g, kh, kw, sh, sw, dh, dw, pt, pl, ih, iw, 1)[0]
        grad_x = (cols @ self.wm).reshape(self.x_shape) if self.needs_grad[0] else None
        grad_w = (cols.T @ self.xm).reshape(self.w_shape) if self.needs_grad[1] else None
        return grad_x, grad_w


class MaxPool(Function):
    """Window maxima; backward routes each gradient to the first maximum of its window."""

    def __init__(self, geo):
        self.geo = geo

    def forward(self, x):
        x4 = x[:, None] if x.ndim == 3 else x
        self.x_shape, self.x4_shape = x.shape, x4.shape
        y, self.argmax = backend.kernel("max_pool2d", x4)(x4, *self.geo)
        return y[:, 0] if x.ndim == 3 else y

    def backward(self, g):
        g4 = g[:, None] if g.ndim == 3 else g
        dx = backend.kernel("max_pool2d_backward", g4)(g4, self.argmax, self.x4_shape)
        return dx.reshape(self.x_shape)


class AvgPool(Function):
    """Window means over the in-image taps."""

    def __init__(self, geo):
        self.geo = geo

    def forward(self, x):
        x4 = x[:, None] if x.ndim == 3 else x
        self.x_shape, self.x4_shape = x.shape, x4.shape
        y = backend.kernel("avg_pool2d", x4)(x4, *self.geo)
        return y[:, 0] if x.ndim == 3 else y

    def backward(self, g):
        g4 = g[:, None] if g.ndim == 3 else g
        dx = backend.kernel("avg_pool2d_backward", g4)(g4, self.x4_shape, *self.geo[:6])
        return dx.reshape(self.x_shape)


def _pool(cls, name, x, pool_size, strides, padding):
    """Check arguments, work out the window geometry and apply a pooling Function."""
    xs = _shape(x)
    if len(xs) not in (3, 4):
        raise ValueError(f"{name} expects a 3D (batch, steps, channels) or 4D (batch, height, width, channels) "
                         f"input, got {tuple(xs)}")
    rank = len(xs) - 2
    pool = _tuple(pool_size, rank, "pool_size")
    strides = pool if strides is None else _tuple(strides, rank, "strides")
    padding = _padding(name, padding, rank)
    _check_fits(name, xs, pool, (1,) * rank, padding, "pool_size")
    if rank == 1:
        pool, strides, spatial = (1,) + pool, (1,) + strides, (1,) + tuple(xs[1:2])
    else:
        spatial = tuple(xs[1:3])
    outs, pads = zip(*[_same_or_valid(n, k, s, 1, padding) for n, k, s in zip(spatial, pool, strides)])
    geo = (pool[0], pool[1], strides[0], strides[1], pads[0], pads[1], outs[0], outs[1])
    return cls(geo=geo)(x)


def _geometry(name, spatial, ksize, strides, padding, dilation_rate, rank):
    """(kernel, strides, dilation, (pad_top, pad_left), (out_h, out_w)) for the 2D view of a conv."""
    strides = _tuple(strides, rank, "strides")
    dilation = _tuple(dilation_rate, rank, "dilation_rate")
    padding = _padding(name, padding, rank)
    if max(strides) > 1 and max(dilation) > 1:
        raise ValueError(f"{name}: strides {strides} > 1 together with dilation_rate {dilation} > 1 is not "
                         "supported (Keras refuses it too)")
    _check_fits(name, (None,) + tuple(spatial) + (None,), tuple(ksize), dilation, padding, "kernel")
    if padding == "causal":  # left-pad by the dilated kernel's reach, then a 'valid' conv
        outs, pads = (-(-spatial[0] // strides[0]),), ((ksize[0] - 1) * dilation[0],)
    else:
        outs, pads = zip(*[_same_or_valid(n, k, s, d, padding)
                           for n, k, s, d in zip(spatial, ksize, strides, dilation)])
    if rank == 1:
        return (1, ksize[0]), (1, strides[0]), (1, dilation[0]), (0, pads[0]), (1, outs[0])
    return tuple(ksize), strides, dilation, tuple(pads), tuple(outs)


def _same_or_valid(n, k, s, d, padding):
    """(output size, padding before) along one axis, TF's arithmetic."""
    keff = (k - 1) * d + 1
    if padding == "valid":
        return (n - keff) // s + 1, 0
    out = -(-n // s)
    return out, max((out - 1) * s + keff - n, 0) // 2


def _check_fits(name, xs, ksize, dilation, padding, what):
    """A 'valid' window must fit inside the input."""
    if padding != "valid":
        return
    for n, k, d in zip(xs[1:-1], ksize, dilation):
        if (k - 1) * d + 1 > n:
            raise ValueError(f"{name}: {what} {tuple(ksize)} (dilation {tuple(dilation)}) is larger than the "
                             f"input's spatial size {tuple(xs[1:-1])} with padding='valid'; use padding='same' "
                             "or a smaller kernel")


def _grouped(w4, groups):
    """Kernel (kh, kw, cin/G, out) as G matrices (G, kh*kw*cin/G, out/G)."""
    kh, kw, cg, out = w4.shape
    return w4.reshape(kh * kw * cg, groups, out // groups).transpose(1, 0, 2)


def _rank(name, xs, ks):
    """Spatial rank (1 or 2) from input and kernel shapes, or a clear error."""
    if len(xs) not in (3, 4) or len(ks) != len(xs):
        raise ValueError(f"{name} expects a 3D input (batch, steps, channels) with a 3D kernel (k, in, out) or a "
                         f"4D input (batch, height, width, channels) with a 4D kernel (kh, kw, in, out), got input "
                         f"{tuple(xs)} and kernel {tuple(ks)}")
    return len(xs) - 2


def _tuple(value, rank, what, minimum=1):
    """An int or a sequence of `rank` ints >= minimum as a tuple."""
    values = (int(value),) * rank if isinstance(value, int) else tuple(int(v) for v in value)
    if len(values) != rank or min(values) < minimum:
        raise ValueError(f"{what} must be an int or {rank} ints, each >= {minimum}, got {value!r}")
    return values


def _padding(name, padding, rank):
    """Lower-cased padding name, checked."""
    p = str(padding).lower()
    allowed = _PADDINGS + (("causal",) if rank == 1 and name == "conv" else ())
    if p not in allowed:
        raise ValueError(f"{name}: padding must be one of {allowed}, got {padding!r}")
    return p


def _shape(x):
    return tuple(data(x).shape)
