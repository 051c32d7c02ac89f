"""keras.ops's signal and window ops: Fourier transforms on (real, imag) pairs, framing, adaptive pooling,
im2col (unfold/fold), einops-style rearrange, the Bessel function i0 and forward-mode jvp.

Keras passes complex values as (real, imag) tuples of real tensors, so every transform here takes and
returns real Tensors and stays on the real-valued tape.
"""
import math
import re

import numpy as np

from tinydl.autograd import Function
from tinydl.backend import add_at, array_module
from tinydl.ops.elementwise import Unary
from tinydl.ops.reduce import max as _max, mean
from tinydl.ops.shape import concatenate, flip, getitem, pad, reshape, stack, take, transpose
from tinydl.tensor import Tensor, as_tensor

__all__ = ["fft", "fft2", "ifft2", "rfft", "irfft", "stft", "istft", "extract_sequences", "adaptive_average_pool",
           "adaptive_max_pool", "unfold", "fold", "rearrange", "i0", "jvp"]


class FFT(Function):
    """The DFT over the last `ndim` axes of re + i im, as (real, imag); inverse=True for the normalised inverse."""

    def __init__(self, ndim, inverse):
        self.ndim, self.inverse = ndim, inverse

    def forward(self, re, im):
        out = self._transform(array_module(re), re + 1j * im, self.inverse)
        self.dtype = re.dtype
        return out.real.astype(re.dtype), out.imag.astype(re.dtype)

    def backward(self, g_re, g_im):
        # the adjoint of the DFT matrix F is n F^-1; of F^-1 it is F / n
        xp = array_module(g_re)
        g = self._transform(xp, g_re + 1j * g_im, not self.inverse)
        n = math.prod(g_re.shape[-self.ndim:])
        g = g * n if not self.inverse else g / n
        return g.real.astype(self.dtype), g.imag.astype(self.dtype)

    def _transform(self, xp, z, inverse):
        axes = tuple(range(-self.ndim, 0))
        return xp.fft.ifftn(z, axes=axes) if inverse else xp.fft.fftn(z, axes=axes)


def fft(x):
    """DFT along the last axis of a (real, imag) pair; returns (real, imag)."""
    return FFT(ndim=1, inverse=False)(*_pair(x, "fft"))


def fft2(x):
    """2-D DFT over the last two axes of a (real, imag) pair."""
    return FFT(ndim=2, inverse=False)(*_pair(x, "fft2"))


def ifft2(x):
    """Inverse 2-D DFT over the last two axes of a (real, imag) pair."""
    return FFT(ndim=2, inverse=True)(*_pair(x, "ifft2"))


def rfft(x, fft_length=None):
    """DFT of a real signal along the last axis (cut or zero-padded to fft_length): the n//2 + 1 first bins."""
    x = _fit_length(as_tensor(x), fft_length)
    n = x.shape[-1]
    re, im = FFT(ndim=1, inverse=False)(x, Tensor(array_module(x.data).zeros_like(x.data)))
    keep = (Ellipsis, slice(0, n // 2 + 1))
    return getitem(re, keep), getitem(im, keep)


def irfft(x, fft_length=None):
    """The real signal of length fft_length (default 2 (m - 1)) whose rfft is the (real, imag) pair x."""
    re, im = _pair(x, "irfft")
    m = re.shape[-1]
    n = 2 * (m - 1) if fft_length is None else int(fft_length)
    re, im = _fit_length(re, n // 2 + 1), _fit_length(im, n // 2 + 1)
    tail = slice(1, n - n // 2)  # the bins mirrored by Hermitian symmetry
    full_re = concatenate([re, flip(getitem(re, (Ellipsis, tail)), axis=-1)], axis=-1)
    full_im = concatenate([im, -flip(getitem(im, (Ellipsis, tail)), axis=-1)], axis=-1)
    return FFT(ndim=1, inverse=True)(full_re, full_im)[0]


def stft(x, sequence_length, sequence_stride, fft_length, window="hann", center=True):
    """Short-time Fourier transform of the last axis: (real, imag), each (..., frames, fft_length // 2 + 1).

    Frames of fft_length samples every sequence_stride, weighted by the window (of sequence_length,
    centred in the frame), after reflect-padding fft_length // 2 on each side when `center`.
    """
    x = as_tensor(x)
    if fft_length < sequence_length:
        raise ValueError(f"stft: fft_length must be at least sequence_length, received fft_length={fft_length}, "
                         f"sequence_length={sequence_length}")
    if center:
        x = _reflect_pad(x, fft_length // 2)
    win = _frame_window(window, sequence_length, fft_length, x.dtype)
    frames = extract_sequences(x, fft_length, sequence_stride)
    return rfft(frames * win if win is not None else frames, fft_length)


def istft(x, sequence_length, sequence_stride, fft_length, length=None, window="hann", center=True):
    """The signal whose stft is the (real, imag) pair x: windowed overlap-add divided by the summed squared window.

    This is Keras's NumPy backend (scipy.signal.istft), exact at the edges too; Keras's torch backend
    divides by the steady-state window sum instead, which differs near the ends of the signal.
    """
    re, _ = _pair(x, "istft")
    frames = irfft(x, fft_length)
    win = _frame_window(window, sequence_length, fft_length, re.dtype)
    n_frames = frames.shape[-2]
    index = np.arange(n_frames)[:, None] * sequence_stride + np.arange(fft_length)[None, :]
    total = fft_length + sequence_stride * (n_frames - 1)
    if win is None:
        signal = OverlapAdd(index=index, length=total)(frames) / sequence_stride
    else:
        signal = OverlapAdd(index=index, length=total)(frames * win)
        norm = np.zeros(total, dtype=re.dtype)
        np.add.at(norm, index, np.broadcast_to(win * win, index.shape))
        signal = signal / np.where(norm > 1e-10, norm, 1.0)
    start = fft_length // 2 if center else 0
    end = start + length if length is not None else (total - fft_length // 2 if center else total)
    return getitem(signal, (Ellipsis, slice(start, end)))


class OverlapAdd(Function):
    """Frames (..., F, L) added into a signal (..., length) at positions index (F, L)."""

    def __init__(self, index, length):
        self.index, self.length = index, length

    def forward(self, frames):
        xp = array_module(frames)
        out = xp.zeros(frames.shape[:-2] + (self.length,), dtype=frames.dtype)
        moved = xp.moveaxis(out, -1, 0)  # index the signal axis first, so add_at takes the frames' leading axes
        add_at(moved, self.index, xp.moveaxis(frames, (-2, -1), (0, 1)))
        return out

    def backward(self, g):
        return g[..., self.index]


def _frame_window(window, sequence_length, fft_length, dtype):
    """The window (periodic 'hann'/'hamming', an array, or None) zero-padded and centred in fft_length."""
    if window is None:
        return None
    if isinstance(window, str):
        n = np.arange(sequence_length)
        if window == "hann":
            win = 0.5 - 0.5 * np.cos(2 * np.pi * n / sequence_length)
        elif window == "hamming":
            win = 0.54 - 0.46 * np.cos(2 * np.pi * n / sequence_length)
        else:
            raise ValueError(f"window must be 'hann', 'hamming', an array or None, received {window!r}")
    else:
        win = np.asarray(as_tensor(window).data)
        if win.shape != (sequence_length,):
            raise ValueError(f"window must have shape ({sequence_length},), received {win.shape}")
    left = (fft_length - sequence_length) // 2
    return np.pad(win, (left, fft_length - sequence_length - left)).astype(dtype)


def _reflect_pad(x, p):
    """x padded by p samples on each side of the last axis, mirrored without repeating the edge (NumPy's reflect)."""
    n = x.shape[-1]
    if p >= n:
        raise ValueError(f"stft: center=True reflects fft_length // 2 = {p} samples; the signal needs more than "
                         f"that, received length {n}")
    index = np.concatenate([np.arange(p, 0, -1), np.arange(n), np.arange(n - 2, n - 2 - p, -1)])
    return take(x, index, axis=-1)


def _pair(x, name):
    if not isinstance(x, (tuple, list)) or len(x) != 2:
        raise ValueError(f"{name}: x must be a (real, imag) tuple of tensors, received {type(x).__name__}")
    re, im = as_tensor(x[0]), as_tensor(x[1])
    if tuple(re.shape) != tuple(im.shape):
        raise ValueError(f"{name}: real and imag parts must have the same shape, received {tuple(re.shape)} "
                         f"and {tuple(im.shape)}")
    return re, im


def _fit_length(x, n):
    """x cut or zero-padded along the last axis to length n (unchanged when n is None)."""
    if n is None or n == x.shape[-1]:
        return x
    if n < x.shape[-1]:
        return getitem(x, (Ellipsis, slice(0, n)))
    return pad(x, [(0, 0)] * (x.ndim - 1) + [(0, n - x.shape[-1])])


def extract_sequences(x, sequence_length, sequence_stride):
    """Frames of the last axis: (..., T) -> (..., 1 + (T - length) // stride, length)."""
    x = as_tensor(x)
    frames = 1 + (x.shape[-1] - sequence_length) // sequence_stride
    if frames < 1:
        raise ValueError(f"extract_sequences: sequence_length {sequence_length} is longer than the last axis of "
                         f"shape {tuple(x.shape)}")
    index = np.arange(frames)[:, None] * sequence_stride + np.arange(sequence_length)[None, :]
    return getitem(x, (Ellipsis, index))


def adaptive_average_pool(inputs, output_size, data_format=None):
    """Average over PyTorch's adaptive bins (start floor(i L / n), end ceil((i + 1) L / n)) per spatial axis."""
    return _adaptive(mean, inputs, output_size, data_format, "adaptive_average_pool")


def adaptive_max_pool(inputs, output_size, data_format=None):
    """Maximum over PyTorch's adaptive bins per spatial axis."""
    return _adaptive(_max, inputs, output_size, data_format, "adaptive_max_pool")


def _adaptive(reduce, inputs, output_size, data_format, name):
    """Both poolings are separable: a bin is a product of 1-D bins, so pool one spatial axis at a time."""
    x = as_tensor(inputs)
    spatial = x.ndim - 2
    if spatial < 1:
        raise ValueError(f"{name}: expected (batch, *spatial, channels), received shape {tuple(x.shape)}")
    if data_format not in (None, "channels_last", "channels_first"):
        raise ValueError(f"{name}: data_format must be 'channels_last' or 'channels_first', received {data_format!r}")
    sizes = (output_size,) * spatial if isinstance(output_size, int) else tuple(output_size)
    first = data_format == "channels_first"
    axes = range(2, x.ndim) if first else range(1, x.ndim - 1)
    for axis, n in zip(axes, sizes):
        length = x.shape[axis]
        bins = []
        for i in range(n):
            start, end = (i * length) // n, -((-(i + 1) * length) // n)
            window = getitem(x, (slice(None),) * axis + (slice(start, end),))
            bins.append(reduce(window, axis=axis))
        x = stack(bins, axis=axis)
    return x


def unfold(x, kernel_size, dilation=1, padding=0, stride=1):
    """im2col of a channels-first (N, C, H, W) input: (N, C * kh * kw, L) as torch.nn.functional.unfold."""
    x = as_tensor(x)
    geometry = _im2col_geometry(x.shape[2:], kernel_size, dilation, padding, stride)
    (ph, pw), rows, cols = geometry[0], geometry[1], geometry[2]
    padded = pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    patches = getitem(padded, (slice(None), slice(None), rows, cols))  # (N, C, kh*kw, L)
    n, c = x.shape[:2]
    return reshape(patches, (n, c * rows.shape[0], rows.shape[1]))


class Fold(Function):
    """col2im: every column added back at its window's positions."""

    def __init__(self, shape, rows, cols):
        self.shape, self.rows, self.cols = shape, rows, cols

    def forward(self, patches):
        out = array_module(patches).zeros(self.shape, dtype=patches.dtype)
        add_at(out, (slice(None), slice(None), self.rows, self.cols), patches)
        return out

    def backward(self, g):
        return g[:, :, self.rows, self.cols]


def fold(x, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """col2im, the adjoint of unfold: (N, C * kh * kw, L) -> (N, C, *output_size), overlaps added up."""
    x = as_tensor(x)
    (ph, pw), rows, cols = _im2col_geometry(tuple(output_size), kernel_size, dilation, padding, stride)
    k = rows.shape[0]
    n, ck, length = x.shape
    if ck % k or length != rows.shape[1]:
        raise ValueError(f"fold: input of shape {tuple(x.shape)} does not match kernel_size {kernel_size} and "
                         f"output_size {output_size} ({rows.shape[1]} blocks of {k} values per channel)")
    h, w = output_size
    patches = reshape(x, (n, ck // k, k, length))
    full = Fold(shape=(n, ck // k, h + 2 * ph, w + 2 * pw), rows=rows, cols=cols)(patches)
    return getitem(full, (slice(None), slice(None), slice(ph, ph + h), slice(pw, pw + w)))


def _im2col_geometry(spatial, kernel_size, dilation, padding, stride):
    """((pad_h, pad_w), rows (kh*kw, L), cols (kh*kw, L)): the padded-input position of every patch value."""
    def pair(v):
        return (v, v) if isinstance(v, int) else tuple(v)
    (kh, kw), (dh, dw), (ph, pw), (sh, sw) = (pair(v) for v in (kernel_size, dilation, padding, stride))
    h, w = spatial
    out_h = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    out_w = (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    if out_h < 1 or out_w < 1:
        raise ValueError(f"unfold/fold: kernel_size {kernel_size} with dilation {dilation} does not fit the "
                         f"padded input {spatial}")
    ki, kj = np.meshgrid(np.arange(kh) * dh, np.arange(kw) * dw, indexing="ij")
    oi, oj = np.meshgrid(np.arange(out_h) * sh, np.arange(out_w) * sw, indexing="ij")
    rows = ki.reshape(-1, 1) + oi.reshape(1, -1)
    cols = kj.reshape(-1, 1) + oj.reshape(1, -1)
    return (ph, pw), rows, cols


def rearrange(tensor, pattern, **axes_lengths):
    """einops.rearrange: reorder, merge "(a b)" and split axes, as in `"b (h w) c -> b h w c"`."""
    x = as_tensor(tensor)
    left, right = (_parse_side(side) for side in pattern.split("->"))
    names = [n for group in left for n in group]
    if sorted(names) != sorted(n for group in right for n in group) or len(set(names)) != len(names):
        raise ValueError(f"rearrange: both sides of {pattern!r} must name the same axes once each")
    if len(left) != x.ndim:
        raise ValueError(f"rearrange: {pattern!r} names {len(left)} axes, the input has shape {tuple(x.shape)}")
    sizes = dict(axes_lengths)
    for group, dim in zip(left, x.shape):
        unknown = [n for n in group if n not in sizes]
        known = math.prod(sizes[n] for n in group if n in sizes)
        if len(unknown) > 1:
            raise ValueError(f"rearrange: give the lengths of all but one axis of ({' '.join(group)})")
        if unknown:
            sizes[unknown[0]] = dim // known
        if math.prod(sizes[n] for n in group) != dim:
            raise ValueError(f"rearrange: ({' '.join(group)}) does not divide the axis of length {dim}")
    split = reshape(x, tuple(sizes[n] for n in names))
    moved = transpose(split, tuple(names.index(n) for group in right for n in group))
    return reshape(moved, tuple(math.prod(sizes[n] for n in group) for group in right))


def _parse_side(side):
    """'b (h w) c' -> [['b'], ['h', 'w'], ['c']]."""
    tokens = re.findall(r"\(|\)|[A-Za-z_][A-Za-z0-9_]*", side)
    groups, current = [], None
    for t in tokens:
        if t == "(":
            current = []
        elif t == ")":
            groups.append(current)
            current = None
        elif current is not None:
            current.append(t)
        else:
            groups.append([t])
    return groups


def _i1_series(xp, x):
    """The modified Bessel function I1 (d/dx I0) by its power series, float64 inside."""
    x = x.astype(np.float64)
    term = x / 2
    total = term.copy()
    quarter = x * x / 4
    for k in range(1, 200):
        term = term * quarter / (k * (k + 1))
        total = total + term
        if float(xp.max(xp.abs(term))) <= 1e-17 * float(xp.max(xp.abs(total)) + 1e-300):
            break
    return total


def i0(x):
    """The modified Bessel function of the first kind, order 0; its slope is I1."""
    return Unary(lambda xp, a: xp.i0(a).astype(a.dtype) if xp is np else _i0_series(xp, a),
                 lambda xp, a, y: _i1_series(xp, a).astype(a.dtype))(x)


def _i0_series(xp, x):
    """I0 by its power series (CuPy has no i0)."""
    term = xp.ones_like(x, dtype=np.float64)
    total = term.copy()
    quarter = x.astype(np.float64) ** 2 / 4
    for k in range(1, 200):
        term = term * quarter / (k * k)
        total = total + term
        if float(xp.max(term)) <= 1e-17 * float(xp.max(total)):
            break
    return total.astype(x.dtype)


def jvp(fun, primals, tangents, has_aux=False):
    """(fun(*primals), J @ tangents) and, with has_aux, the auxiliary output: J is built from one
    reverse pass per output element (exact, meant for small outputs)."""
    xs = [Tensor(as_tensor(p).data, requires_grad=True) for p in primals]
    result = fun(*xs)
    out, aux = (result[0], result[1]) if has_aux else (result, None)
    flat_out = reshape(out, (-1,))
    xp = array_module(out.data)
    tangent = [as_tensor(t).data for t in tangents]
    values = xp.zeros(flat_out.shape[0], dtype=out.dtype)
    for i in range(flat_out.shape[0]):
        for x in xs:
            x.grad = None
        seed = xp.zeros(flat_out.shape[0], dtype=out.dtype)
        seed[i] = 1
        flat_out.backward(seed, retain_graph=True)
        values[i] = sum(float((x.grad.data * t).sum()) for x, t in zip(xs, tangent) if x.grad is not None)
    primal_out = Tensor(out.data)
    tangent_out = Tensor(values.reshape(out.shape))
    return (primal_out, tangent_out, aux) if has_aux else (primal_out, tangent_out)

