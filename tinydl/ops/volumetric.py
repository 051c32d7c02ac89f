"""3D convolutions (Keras Conv3D, Conv3DTranspose) on channels-last volumes (N, D, H, W, C).

They reuse the 2D im2col/col2im kernels: the 2D patches of every depth slice are computed once, and a
3D patch row is the kd slices a depth window covers, gathered with strided views. So the hot loop is
the same numba kernel plus one BLAS product per group, on both devices.
"""
import contextlib

import numpy as np

from tinydl import backend
from tinydl.autograd import Function
from tinydl.backend import array_module, threads
from tinydl.ops.convolution import conv_output_length, transposed_length
from tinydl.ops._util import data

__all__ = ["conv3d", "conv3d_transpose"]


def conv3d(x, kernel, strides=1, padding="valid", dilation_rate=1, groups=1):
    """Grouped 3D cross-correlation: x (N, D, H, W, C), kernel (kd, kh, kw, C/groups, out)."""
    xs, ks = tuple(data(x).shape), tuple(data(kernel).shape)
    if len(xs) != 5 or len(ks) != 5:
        raise ValueError(f"conv3d expects a 5D input (batch, depth, height, width, channels) and a 5D kernel "
                         f"(kd, kh, kw, in, out), got input {xs} and kernel {ks}")
    groups = int(groups)
    if groups < 1 or ks[3] * groups != xs[4] or ks[4] % groups:
        raise ValueError(f"conv3d: input {xs} has {xs[4]} channels but kernel {ks} expects {ks[3]} x "
                         f"groups={groups}, with out channels divisible by groups")
    strides, dilation = _triple(strides, "strides"), _triple(dilation_rate, "dilation_rate")
    padding = _padding(padding)
    if max(strides) > 1 and max(dilation) > 1:
        raise ValueError(f"conv3d: strides {strides} > 1 together with dilation_rate {dilation} > 1 is not "
                         "supported (Keras refuses it too)")
    outs, pads = [], []
    for n, k, s, d in zip(xs[1:4], ks[:3], strides, dilation):
        keff = (k - 1) * d + 1
        if padding == "valid" and keff > n:
            raise ValueError(f"conv3d: kernel {ks[:3]} (dilation {dilation}) is larger than the input's "
                             f"spatial size {xs[1:4]} with padding='valid'; use padding='same' or a smaller kernel")
        out = conv_output_length(n, k, s, d, padding)
        outs.append(out)
        pads.append(max((out - 1) * s + keff - n, 0) // 2 if padding == "same" else 0)
    geo = Geometry(ks[:3], strides, dilation, tuple(pads), tuple(outs))
    return Conv3D(geo=geo, groups=groups)(x, kernel)


def conv3d_transpose(x, kernel, strides=1, padding="valid", output_padding=None, dilation_rate=1):
    """Transposed 3D convolution (the input gradient of conv3d): x (N, D, H, W, in), kernel (kd, kh, kw, out, in)."""
    xs, ks = tuple(data(x).shape), tuple(data(kernel).shape)
    if len(xs) != 5 or len(ks) != 5 or ks[4] != xs[4]:
        raise ValueError(f"conv3d_transpose expects a 5D input (batch, depth, height, width, channels) and a 5D "
                         f"kernel (kd, kh, kw, out, in) with in = the input's channels, got input {xs} and "
                         f"kernel {ks}")
    strides, dilation = _triple(strides, "strides"), _triple(dilation_rate, "dilation_rate")
    padding = _padding(padding)
    extra = (None,) * 3 if output_padding is None else _triple(output_padding, "output_padding", minimum=0)
    if any(p is not None and p >= s for p, s in zip(extra, strides)):
        raise ValueError(f"conv3d_transpose: output_padding {output_padding} must be smaller than strides {strides}")
    sizes, pads = [], []
    for n, k, s, d, p in zip(xs[1:4], ks[:3], strides, dilation, extra):
        size = transposed_length(n, k, s, d, padding, p)
        keff = (k - 1) * d + 1
        sizes.append(size)
        pads.append((max((n - 1) * s + keff - size, 0) if padding == "same" else 0) // 2)
    geo = Geometry(ks[:3], strides, dilation, tuple(pads), tuple(xs[1:4]))
    return Conv3DTranspose(geo=geo, out_size=tuple(sizes))(x, kernel)


class Geometry:
    """A 3D window: kernel, strides, dilation, front padding and the convolution's output sizes."""

    def __init__(self, kernel, strides, dilation, pads, outs):
        self.kernel, self.strides, self.dilation = tuple(kernel), tuple(strides), tuple(dilation)
        self.pads, self.outs = tuple(pads), tuple(outs)

    def plane(self):
        """The 2D kernels' (kh, kw, sh, sw, dh, dw, pt, pl, oh, ow) arguments for the height-width plane."""
        (_, kh, kw), (_, sh, sw), (_, dh, dw) = self.kernel, self.strides, self.dilation
        return kh, kw, sh, sw, dh, dw, self.pads[1], self.pads[2], self.outs[1], self.outs[2]

    def padded_depth(self, depth):
        """(front, back) depth padding that keeps every depth tap inside the padded volume."""
        kd, sd, dd, pd, od = self.kernel[0], self.strides[0], self.dilation[0], self.pads[0], self.outs[0]
        return pd, max((od - 1) * sd + (kd - 1) * dd + 1 - depth - pd, 0)


def im2col3d(x, geo, groups):
    """Patch matrices (G, N*OD*OH*OW, KD*KH*KW*C/G) of x (N, D, H, W, C), rows ordered (kd, kh, kw, c)."""
    xp = array_module(x)
    n, depth, h, w, c = x.shape
    front, back = geo.padded_depth(depth)
    if front or back:
        x = xp.pad(x, ((0, 0), (front, back), (0, 0), (0, 0), (0, 0)))
    dp = depth + front + back
    (kd, _, _), sd, dd, od = geo.kernel, geo.strides[0], geo.dilation[0], geo.outs[0]
    cols = backend.kernel("im2col", x)(x.reshape(n * dp, h, w, c), *geo.plane(), groups)
    cols = cols.reshape(groups, n, dp, -1, cols.shape[-1])
    taps = [cols[:, :, a * dd:a * dd + (od - 1) * sd + 1:sd] for a in range(kd)]
    return xp.stack(taps, axis=4).reshape(groups, -1, kd * cols.shape[-1])


def col2im3d(cols, x_shape, geo):
    """The adjoint of im2col3d: every patch entry of `cols` (G, M, K) added back into a volume of `x_shape`."""
    xp = array_module(cols)
    n, depth, h, w, c = x_shape
    front, back = geo.padded_depth(depth)
    dp = depth + front + back
    (kd, _, _), sd, dd, od = geo.kernel, geo.strides[0], geo.dilation[0], geo.outs[0]
    groups = cols.shape[0]
    per_tap = cols.reshape(groups, n, od, -1, kd, cols.shape[-1] // kd)
    planes = xp.zeros((groups, n, dp) + per_tap.shape[3:4] + per_tap.shape[5:], dtype=cols.dtype)
    for a in range(kd):  # the depth slices of one tap never overlap, so a strided += is exact
        planes[:, :, a * dd:a * dd + (od - 1) * sd + 1:sd] += per_tap[:, :, :, :, a]
    planes = planes.reshape(groups, -1, planes.shape[-1])
    dx = backend.kernel("col2im", planes)(planes, (n * dp, h, w, c), *geo.plane())
    return dx.reshape(n, dp, h, w, c)[:, front:front + depth]


class Conv3D(Function):
    """Grouped 3D cross-correlation: im2col3d and one BLAS product per group."""

    def __init__(self, geo, groups):
        self.geo, self.groups = geo, groups

    def forward(self, x, w):
        self.x_shape, self.w_shape = x.shape, w.shape
        self.wg = _grouped(w, self.groups)
        self.cols = im2col3d(x, self.geo, self.groups)
        with self._blas_threads():
            y = self.cols @ self.wg
        return y.transpose(1, 0, 2).reshape((x.shape[0],) + self.geo.outs + (w.shape[-1],))

    def backward(self, g):
        groups, out = self.groups, self.w_shape[-1]
        gg = g.reshape(-1, groups, out // groups).transpose(1, 0, 2)
        grad_x = grad_w = None
        with self._blas_threads():
            if self.needs_grad[1]:
                grad_w = (self.cols.transpose(0, 2, 1) @ gg).transpose(1, 0, 2).reshape(self.w_shape)
            if self.needs_grad[0]:
                grad_x = col2im3d(gg @ self.wg.transpose(0, 2, 1), self.x_shape, self.geo)
        return grad_x, grad_w

    def _blas_threads(self):
        """The thread policy's context for this convolution's products."""
        g, k, n = self.wg.shape
        if array_module(self.wg) is not np:
            return contextlib.nullcontext()
        return threads.gemm(self.cols.shape[1], n * g, k)


class Conv3DTranspose(Function):
    """Transposed 3D convolution: col2im3d of x @ kernel^T; its input gradient is a 3D convolution."""

    def __init__(self, geo, out_size):
        self.geo, self.out_size = geo, out_size

    def forward(self, x, w):
        cin, out = x.shape[-1], w.shape[3]
        self.xm, self.wm = x.reshape(-1, cin), w.reshape(-1, cin)
        self.x_shape, self.w_shape = x.shape, w.shape
        cols = (self.xm @ self.wm.T)[None]
        return col2im3d(cols, (x.shape[0],) + self.out_size + (out,), self.geo)

    def backward(self, g):
        cols = im2col3d(g, self.geo, 1)[0]
        grad_x = (cols @ self.wm).reshape(self.x_shape) if self.needs_grad[0] else None
        grad_w = (cols.T @ self.xm).reshape(self.w_shape) if self.needs_grad[1] else None
        return grad_x, grad_w


def _grouped(w, groups):
    """Kernel (kd, kh, kw, cin/G, out) as G matrices (G, kd*kh*kw*cin/G, out/G)."""
    out = w.shape[-1]
    return w.reshape(-1, groups, out // groups).transpose(1, 0, 2)


def _triple(value, what, minimum=1):
    """An int or three ints >= minimum as a tuple."""
    try:
        values = (int(value),) * 3 if isinstance(value, int) else tuple(int(v) for v in value)
    except TypeError:
        values = ()
    if len(values) != 3 or min(values) < minimum:
        raise ValueError(f"{what} must be an int or 3 ints, each >= {minimum}, got {value!r}")
    return values


def _padding(padding):
    p = str(padding).lower()
    if p not in ("valid", "same"):
        raise ValueError(f"padding must be 'valid' or 'same', got {padding!r}")
    return p
