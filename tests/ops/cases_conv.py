"""Gradient cases for convolution and pooling: conv (1D, 2D, grouped, causal), conv_transpose,
depthwise_conv, max_pool and average_pool, across strides, paddings, dilations and odd sizes.

Each case fixes its parameters (the variant) and draws the shapes; inputs stay tiny because gradcheck
perturbs every element. Each case's reference is test_conv.py's slow direct loops.
"""
import numpy as np
from hypothesis import strategies as st

import tinydl as td
from tinydl.testing import OpCase, array_tuples, arrays

from .test_conv import ref_conv2d, ref_conv_transpose, ref_pool


def image_and_kernel(k, reach, cin, out, rank=2, batch=2):
    """(x, kernel) with spatial sides from `reach` (the dilated kernel size) to reach + 2."""
    side = st.integers(reach, reach + 2)
    spatial = st.tuples(*[side] * rank)
    return spatial.flatmap(lambda s: array_tuples((batch,) + s + (cin,), (k,) * rank + (cin, out)))


def grouped(k, groups, cg, outg):
    side = st.integers(k, k + 2)
    return st.tuples(side, side).flatmap(
        lambda s: array_tuples((1,) + s + (cg * groups,), (k, k, cg, outg * groups)))


def depthwise(k, channels, multiplier):
    side = st.integers(k, k + 2)
    return st.tuples(side, side).flatmap(lambda s: array_tuples((2,) + s + (channels,), (k, k, channels, multiplier)))


def transposed(k, cin, out):
    side = st.integers(1, 3)
    return st.tuples(side, side).flatmap(lambda s: array_tuples((1,) + s + (cin,), (k, k, out, cin)))


def pool_input(rank, k):
    side = st.integers(k, k + 3)
    shape = st.tuples(st.just(2), *[side] * rank, st.integers(1, 2))
    # distinct values: a tie inside a max window makes the gradient jump under finite differences
    return st.tuples(arrays(shape, distinct=True, margin=0.01))


def conv_ref(strides=1, padding="valid", dilation=1, groups=1):
    """The direct-loop convolution with these settings, for 2D or (as a one-pixel-high image) 1D input."""
    def reference(x, w):
        if x.ndim == 3:
            if padding == "causal":
                x = np.pad(x, ((0, 0), (dilation * (w.shape[0] - 1), 0), (0, 0)))
            return reference(x[:, None], w[None])[:, 0]
        pair = lambda v: (v, v) if isinstance(v, int) else v  # noqa: E731
        mode = "valid" if padding == "causal" else padding
        return ref_conv2d(x, w, None, pair(strides), mode, pair(dilation), groups)[0]
    return reference


def depthwise_ref(strides=1, padding="valid"):
    """Depthwise is a grouped conv, one group per channel, output channel c * multiplier + j."""
    def reference(x, w):
        kh, kw, c, m = w.shape
        return ref_conv2d(x, w.reshape(kh, kw, 1, c * m), None, (strides, strides), padding, (1, 1), c)[0]
    return reference


def pool_ref(k, strides=None, padding="valid", kind="max"):
    def reference(x):
        s = k if strides is None else strides
        if x.ndim == 3:
            return ref_pool(x[:, None], (1, k), (1, s), padding, kind)[0][:, 0]
        return ref_pool(x, (k, k), (s, s), padding, kind)[0]
    return reference


CASES = [
    OpCase("conv", lambda x, w: td.conv(x, w), image_and_kernel(3, 3, 2, 2), variant="2d valid", reference=conv_ref()),
    OpCase("conv", lambda x, w: td.conv(x, w, strides=2, padding="same"), image_and_kernel(3, 3, 2, 3),
           variant="2d stride 2 same", reference=conv_ref(2, "same")),
    OpCase("conv", lambda x, w: td.conv(x, w, strides=(1, 2), padding="same"), image_and_kernel(2, 2, 1, 2),
           variant="2d even kernel, strides (1, 2), same", reference=conv_ref((1, 2), "same")),
    OpCase("conv", lambda x, w: td.conv(x, w, dilation_rate=2, padding="same"), image_and_kernel(2, 3, 2, 2),
           variant="2d dilation 2 same", reference=conv_ref(1, "same", 2)),
    OpCase("conv", lambda x, w: td.conv(x, w, dilation_rate=(2, 1)), image_and_kernel(2, 3, 1, 2),
           variant="2d dilation (2, 1) valid", reference=conv_ref(1, "valid", (2, 1))),
    OpCase("conv", lambda x, w: td.conv(x, w, padding="same"), grouped(2, 3, 1, 2), variant="2d groups 3",
           reference=conv_ref(1, "same", groups=3)),
    OpCase("conv", lambda x, w: td.conv(x, w, strides=2), grouped(3, 2, 2, 1), variant="2d groups 2 stride 2",
           reference=conv_ref(2, groups=2)),
    OpCase("conv", lambda x, w: td.conv(x, w, strides=2, padding="same"), image_and_kernel(3, 3, 2, 2, rank=1),
           variant="1d stride 2 same", reference=conv_ref(2, "same")),
    OpCase("conv", lambda x, w: td.conv(x, w, dilation_rate=2, padding="causal"),
           image_and_kernel(2, 3, 2, 2, rank=1), variant="1d causal dilation 2", reference=conv_ref(1, "causal", 2)),
    OpCase("conv_transpose", lambda x, w: td.conv_transpose(x, w, strides=2), transposed(3, 2, 2),
           variant="stride 2 valid", reference=lambda x, w: ref_conv_transpose(x, w, (2, 2), "valid", (None, None))),
    OpCase("conv_transpose", lambda x, w: td.conv_transpose(x, w, strides=2, padding="same"), transposed(3, 1, 2),
           variant="stride 2 same", reference=lambda x, w: ref_conv_transpose(x, w, (2, 2), "same", (None, None))),
    OpCase("conv_transpose", lambda x, w: td.conv_transpose(x, w, strides=2, padding="same", output_padding=0),
           transposed(2, 2, 1), variant="stride 2 same output_padding 0",
           reference=lambda x, w: ref_conv_transpose(x, w, (2, 2), "same", (0, 0))),
    OpCase("conv_transpose", lambda x, w: td.conv_transpose(x, w, strides=3, padding="valid", output_padding=1),
           transposed(2, 1, 2), variant="stride 3 (> k) valid output_padding 1",
           reference=lambda x, w: ref_conv_transpose(x, w, (3, 3), "valid", (1, 1))),
    OpCase("depthwise_conv", lambda x, w: td.depthwise_conv(x, w, padding="same"), depthwise(3, 2, 2),
           variant="multiplier 2 same", reference=depthwise_ref(1, "same")),
    OpCase("depthwise_conv", lambda x, w: td.depthwise_conv(x, w, strides=2), depthwise(2, 3, 1),
           variant="stride 2 valid", reference=depthwise_ref(2)),
    OpCase("max_pool", lambda x: td.max_pool(x, 2), pool_input(2, 2), variant="2d 2x2", reference=pool_ref(2)),
    OpCase("max_pool", lambda x: td.max_pool(x, 3, strides=2, padding="same"), pool_input(2, 3),
           variant="2d 3x3 stride 2 same", reference=pool_ref(3, 2, "same")),
    OpCase("max_pool", lambda x: td.max_pool(x, 2, strides=1, padding="same"), pool_input(1, 2),
           variant="1d stride 1 same", reference=pool_ref(2, 1, "same")),
    OpCase("average_pool", lambda x: td.average_pool(x, 2), pool_input(2, 2), variant="2d 2x2",
           reference=pool_ref(2, kind="avg")),
    OpCase("average_pool", lambda x: td.average_pool(x, 3, strides=2, padding="same"), pool_input(2, 3),
           variant="2d 3x3 stride 2 same", reference=pool_ref(3, 2, "same", "avg")),
    OpCase("average_pool", lambda x: td.average_pool(x, 3, strides=1, padding="same"), pool_input(1, 3),
           variant="1d stride 1 same", reference=pool_ref(3, 1, "same", "avg")),
]
