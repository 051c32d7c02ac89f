"""Gradient cases for the 3D convolutions (tinydl.ops.volumetric): conv3d (strides, 'same', dilation, groups)
and conv3d_transpose (strides, 'same', output_padding). References: one NumPy product per kernel tap over
strided slices of the padded volume (conv3d) and the scatter of every tap into a full-size buffer
(conv3d_transpose), written from the definitions, not from the im2col path."""
import numpy as np
from hypothesis import strategies as st

import tinydl as td
from tinydl.testing import OpCase, array_tuples


def volume_and_kernel(k, cin, out, lo, batch=1, groups=1):
    side = st.integers(lo, lo + 1)
    return st.tuples(side, side, side).flatmap(
        lambda s: array_tuples((batch,) + s + (cin,), (k, k, k, cin // groups, out)))


def transposed(k, cin, out):
    side = st.integers(1, 2)
    return st.tuples(side, side, side).flatmap(lambda s: array_tuples((1,) + s + (cin,), (k, k, k, out, cin)))


def ref_conv3d(x, w, strides=(1, 1, 1), padding="valid", dilation=(1, 1, 1), groups=1):
    """sum over taps (a, b, c) of the tap's strided slice of the padded volume times kernel[a, b, c]."""
    spatial, k = x.shape[1:4], w.shape[:3]
    outs, pads = [], []
    for n, kk, s, d in zip(spatial, k, strides, dilation):
        keff = (kk - 1) * d + 1
        out = -(-n // s) if padding == "same" else (n - keff) // s + 1
        total = max((out - 1) * s + keff - n, 0) if padding == "same" else 0
        outs.append(out)
        pads.append((total // 2, total - total // 2))
    xp = np.pad(x, ((0, 0), *pads, (0, 0)))
    cg, og = w.shape[3], w.shape[4] // groups
    y = np.zeros((x.shape[0], *outs, w.shape[4]))
    for a in range(k[0]):
        for b in range(k[1]):
            for c in range(k[2]):
                window = xp[:, a * dilation[0]::strides[0], b * dilation[1]::strides[1],
                            c * dilation[2]::strides[2]][:, :outs[0], :outs[1], :outs[2]]
                for g in range(groups):
                    y[..., g * og:(g + 1) * og] += window[..., g * cg:(g + 1) * cg] @ w[a, b, c, :, g * og:(g + 1) * og]
    return y


def ref_conv3d_transpose(x, w, strides, padding, output_padding=None):
    """Every input voxel's x @ kernel[a, b, c]^T added at its strided place, then Keras's output window."""
    k = w.shape[:3]
    sizes, starts = [], []
    for i, (n, kk, s) in enumerate(zip(x.shape[1:4], k, strides)):
        p = None if output_padding is None else output_padding[i]
        if p is None:
            size = n * s + max(kk - s, 0) if padding == "valid" else n * s
        else:
            size = (n - 1) * s + kk - 2 * (kk // 2 if padding == "same" else 0) + p
        sizes.append(size)
        starts.append((max((n - 1) * s + kk - size, 0) if padding == "same" else 0) // 2)
    full = [max((n - 1) * s + kk, st_ + sz) for n, s, kk, st_, sz in zip(x.shape[1:4], strides, k, starts, sizes)]
    y = np.zeros((x.shape[0], *full, w.shape[3]))
    for i in np.ndindex(*x.shape[1:4]):
        for a, b, c in np.ndindex(*k):
            at = (slice(None), i[0] * strides[0] + a, i[1] * strides[1] + b, i[2] * strides[2] + c)
            y[at] += x[(slice(None),) + i] @ w[a, b, c].T
    return y[:, starts[0]:starts[0] + sizes[0], starts[1]:starts[1] + sizes[1], starts[2]:starts[2] + sizes[2]]


CASES = [
    OpCase("conv3d", lambda x, w: td.conv3d(x, w), volume_and_kernel(2, 2, 2, 2), variant="valid",
           reference=ref_conv3d),
    OpCase("conv3d", lambda x, w: td.conv3d(x, w, strides=(2, 1, 2), padding="same"), volume_and_kernel(3, 2, 2, 2),
           variant="strides (2, 1, 2) same", reference=lambda x, w: ref_conv3d(x, w, (2, 1, 2), "same")),
    OpCase("conv3d", lambda x, w: td.conv3d(x, w, dilation_rate=(2, 1, 1), padding="same"),
           volume_and_kernel(2, 1, 2, 2), variant="dilation (2, 1, 1) same",
           reference=lambda x, w: ref_conv3d(x, w, padding="same", dilation=(2, 1, 1))),
    OpCase("conv3d", lambda x, w: td.conv3d(x, w, groups=2), volume_and_kernel(2, 4, 2, 2, groups=2),
           variant="groups 2", reference=lambda x, w: ref_conv3d(x, w, groups=2)),
    OpCase("conv3d_transpose", lambda x, w: td.conv3d_transpose(x, w, strides=2), transposed(2, 2, 2),
           variant="stride 2 valid", reference=lambda x, w: ref_conv3d_transpose(x, w, (2, 2, 2), "valid")),
    OpCase("conv3d_transpose", lambda x, w: td.conv3d_transpose(x, w, strides=(2, 1, 2), padding="same"),
           transposed(3, 1, 2), variant="strides (2, 1, 2) same",
           reference=lambda x, w: ref_conv3d_transpose(x, w, (2, 1, 2), "same")),
    OpCase("conv3d_transpose", lambda x, w: td.conv3d_transpose(x, w, strides=2, output_padding=(1, 0, 1)),
           transposed(2, 1, 1), variant="stride 2 output_padding (1, 0, 1)",
           reference=lambda x, w: ref_conv3d_transpose(x, w, (2, 2, 2), "valid", (1, 0, 1))),
]
