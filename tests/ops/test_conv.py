"""conv, conv_transpose, depthwise_conv, max_pool and average_pool against direct float64 loops.

The references below are deliberately slow and obvious: one loop per index, padding worked out with
TF/Keras arithmetic (output ceil(n / s) for 'same', the odd padding pixel at the end), kernels in
Keras's (kh, kw, in/groups, out) layout, cross-correlation. Gradients are compared with the same loops
run backwards (every product x * w sends gy * w to x and gy * x to w).
"""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import tinydl as td

SETTINGS = settings(max_examples=15, deadline=None, derandomize=True, database=None)


# -- references ------------------------------------------------------------------------------------
def same_pad(n, k, s, d=1):
    """(out, pad_before) for TF 'same' padding along one axis."""
    out = -(-n // s)
    total = max((out - 1) * s + (k - 1) * d + 1 - n, 0)
    return out, total // 2


def geometry(n, k, s, d, padding):
    if padding == "same":
        return same_pad(n, k, s, d)
    return (n - (k - 1) * d - 1) // s + 1, 0


def ref_conv2d(x, w, gy, strides, padding, dilation, groups):
    """Output and, for upstream gradient gy (or None), the gradients of x and w."""
    n_, h, wd, cin = x.shape
    kh, kw, cg, cout = w.shape
    og = cout // groups
    (oh, pt), (ow, pl) = geometry(h, kh, strides[0], dilation[0], padding), \
        geometry(wd, kw, strides[1], dilation[1], padding)
    y = np.zeros((n_, oh, ow, cout))
    dx, dw = np.zeros_like(x), np.zeros_like(w)
    for n in range(n_):
        for i in range(oh):
            for j in range(ow):
                for o in range(cout):
                    g = o // og
                    for a in range(kh):
                        for b in range(kw):
                            ih = i * strides[0] - pt + a * dilation[0]
                            iw = j * strides[1] - pl + b * dilation[1]
                            if not (0 <= ih < h and 0 <= iw < wd):
                                continue
                            for c in range(cg):
                                y[n, i, j, o] += x[n, ih, iw, g * cg + c] * w[a, b, c, o]
                                if gy is not None:
                                    dx[n, ih, iw, g * cg + c] += gy[n, i, j, o] * w[a, b, c, o]
                                    dw[a, b, c, o] += gy[n, i, j, o] * x[n, ih, iw, g * cg + c]
    return y, dx, dw


def ref_conv_transpose(x, w, strides, padding, output_padding):
    """Scatter form: input pixel (i, j) adds x * w[a, b] at output (i*s - pad + a, j*s - pad + b)."""
    n_, h, wd, cin = x.shape
    kh, kw, cout, _ = w.shape
    sizes, pads = [], []
    for n, k, s, op in zip((h, wd), (kh, kw), strides, output_padding):
        if op is None:
            size = n * s + max(k - s, 0) if padding == "valid" else n * s
        else:
            size = (n - 1) * s + k - 2 * (k // 2 if padding == "same" else 0) + op
        sizes.append(size)
        pads.append(max((n - 1) * s + k - size, 0) // 2 if padding == "same" else 0)
    y = np.zeros((n_, sizes[0], sizes[1], cout))
    for n in range(n_):
        for i in range(h):
            for j in range(wd):
                for a in range(kh):
                    for b in range(kw):
                        oi, oj = i * strides[0] - pads[0] + a, j * strides[1] - pads[1] + b
                        if 0 <= oi < sizes[0] and 0 <= oj < sizes[1]:
                            for o in range(cout):
                                for c in range(cin):
                                    y[n, oi, oj, o] += x[n, i, j, c] * w[a, b, o, c]
    return y


def ref_pool(x, k, s, padding, kind):
    """Max (first maximum wins) or mean over in-image taps; returns output and the gradient for ones."""
    n_, h, wd, c_ = x.shape
    (oh, pt), (ow, pl) = geometry(h, k[0], s[0], 1, padding), geometry(wd, k[1], s[1], 1, padding)
    y = np.zeros((n_, oh, ow, c_))
    dx = np.zeros_like(x)
    for n in range(n_):
        for i in range(oh):
            for j in range(ow):
                for c in range(c_):
                    taps = [(i * s[0] - pt + a, j * s[1] - pl + b) for a in range(k[0]) for b in range(k[1])]
                    taps = [(p, q) for p, q in taps if 0 <= p < h and 0 <= q < wd]
                    values = [x[n, p, q, c] for p, q in taps]
                    if kind == "max":
                        best = int(np.argmax(values))
                        y[n, i, j, c] = values[best]
                        dx[n, taps[best][0], taps[best][1], c] += 1
                    else:
                        y[n, i, j, c] = sum(values) / len(values)
                        for p, q in taps:
                            dx[n, p, q, c] += 1 / len(values)
    return y, dx


# -- hypothesis comparisons -------------------------------------------------------------------------
@st.composite
def conv_problems(draw):
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    cg, og = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    padding = draw(st.sampled_from(["valid", "same"]))
    if draw(st.booleans()):
        strides, dilation = (draw(st.integers(1, 3)), draw(st.integers(1, 3))), (1, 1)
    else:
        strides, dilation = (1, 1), (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    h = draw(st.integers((kh - 1) * dilation[0] + 1, (kh - 1) * dilation[0] + 6))
    w = draw(st.integers((kw - 1) * dilation[1] + 1, (kw - 1) * dilation[1] + 6))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    x = rng.standard_normal((draw(st.integers(1, 3)), h, w, cg * groups))
    kernel = rng.standard_normal((kh, kw, cg, og * groups))
    return x, kernel, strides, padding, dilation, groups


@SETTINGS
@given(conv_problems())
def test_conv2d_matches_direct_loops(problem):
    x, w, strides, padding, dilation, groups = problem
    xt, wt = td.tensor(x, requires_grad=True), td.tensor(w, requires_grad=True)
    y = td.conv(xt, wt, strides=strides, padding=padding, dilation_rate=dilation, groups=groups)
    gy = np.random.default_rng(0).standard_normal(y.shape)
    (y * td.tensor(gy)).sum().backward()
    ref_y, ref_dx, ref_dw = ref_conv2d(x, w, gy, strides, padding, dilation, groups)
    np.testing.assert_allclose(y.numpy(), ref_y, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(xt.grad.numpy(), ref_dx, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(wt.grad.numpy(), ref_dw, rtol=1e-10, atol=1e-10)


@SETTINGS
@given(st.integers(1, 4), st.integers(1, 3), st.integers(1, 2), st.sampled_from(["valid", "same", "causal"]),
       st.integers(0, 999))
def test_conv1d_is_conv2d_on_a_one_pixel_high_image(k, stride, dilation, padding, seed):
    rng = np.random.default_rng(seed)
    if stride > 1:
        dilation = 1
    x = rng.standard_normal((2, (k - 1) * dilation + 1 + seed % 5, 3))
    w = rng.standard_normal((k, 3, 2))
    y = td.conv(td.tensor(x), td.tensor(w), strides=stride, padding=padding, dilation_rate=dilation).numpy()
    if padding == "causal":  # causal: left-pad by the kernel's reach, then 'valid'
        x = np.pad(x, ((0, 0), ((k - 1) * dilation, 0), (0, 0)))
        padding = "valid"
    ref, _, _ = ref_conv2d(x[:, None], w[None], None, (1, stride), padding, (1, dilation), 1)
    np.testing.assert_allclose(y, ref[:, 0], rtol=1e-10, atol=1e-10)


@SETTINGS
@given(st.integers(1, 4), st.integers(1, 3), st.sampled_from(["valid", "same"]), st.sampled_from([None, 0, 1, 2]),
       st.integers(0, 999))
def test_conv_transpose_matches_scatter_loops(k, stride, padding, output_padding, seed):
    if output_padding is not None and output_padding >= stride:
        output_padding = stride - 1
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, 1 + seed % 3, 1 + seed % 4, 2))
    w = rng.standard_normal((k, k, 3, 2))
    y = td.conv_transpose(td.tensor(x), td.tensor(w), strides=stride, padding=padding, output_padding=output_padding)
    ref = ref_conv_transpose(x, w, (stride, stride), padding, (output_padding, output_padding))
    np.testing.assert_allclose(y.numpy(), ref, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("k, s, padding, output_padding, expected", [
    (3, 2, "same", None, 8), (3, 2, "valid", None, 9), (2, 2, "valid", None, 8), (3, 2, "same", 1, 8),
    (3, 1, "same", None, 4), (5, 3, "valid", 0, 14),
])
def test_conv_transpose_output_size_follows_keras(k, s, padding, output_padding, expected):
    y = td.conv_transpose(td.tensor(np.ones((1, 4, 4, 1))), td.tensor(np.ones((k, k, 2, 1))), strides=s,
                          padding=padding, output_padding=output_padding)
    assert y.shape == (1, expected, expected, 2)


@SETTINGS
@given(st.integers(1, 3), st.integers(1, 2), st.integers(1, 3), st.sampled_from(["valid", "same"]),
       st.integers(0, 999))
def test_depthwise_conv_output_channel_c_times_m(k, stride, multiplier, padding, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, k + seed % 4, k + 1, 3))
    w = rng.standard_normal((k, k, 3, multiplier))
    y = td.depthwise_conv(td.tensor(x), td.tensor(w), strides=stride, padding=padding).numpy()
    for c in range(3):
        for m in range(multiplier):
            ref, _, _ = ref_conv2d(x[..., c:c + 1], w[:, :, c:c + 1, m:m + 1], None, (stride, stride), padding,
                                   (1, 1), 1)
            np.testing.assert_allclose(y[..., c * multiplier + m], ref[..., 0], rtol=1e-10, atol=1e-10)


@SETTINGS
@given(st.integers(1, 3), st.integers(1, 3), st.sampled_from([None, 1, 2, 3]), st.sampled_from(["valid", "same"]),
       st.sampled_from(["max", "avg"]), st.integers(0, 999))
def test_pool2d_matches_direct_loops(kh, kw, stride, padding, kind, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, kh + seed % 5, kw + seed % 3, 2))
    op = td.max_pool if kind == "max" else td.average_pool
    xt = td.tensor(x, requires_grad=True)
    y = op(xt, (kh, kw), strides=stride, padding=padding)
    y.sum().backward()
    s = (kh, kw) if stride is None else (stride, stride)
    ref_y, ref_dx = ref_pool(x, (kh, kw), s, padding, kind)
    np.testing.assert_allclose(y.numpy(), ref_y, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(xt.grad.numpy(), ref_dx, rtol=1e-12, atol=1e-12)


def test_pool1d_matches_pool2d_on_one_row():
    x = np.random.default_rng(0).standard_normal((2, 7, 3))
    for op in (td.max_pool, td.average_pool):
        y = op(td.tensor(x), 3, strides=2, padding="same").numpy()
        ref = op(td.tensor(x[:, None]), (1, 3), strides=(1, 2), padding="same").numpy()[:, 0]
        np.testing.assert_allclose(y, ref)


def test_average_pool_same_excludes_padding_from_the_count():
    x = np.ones((1, 3, 3, 1))
    y = td.average_pool(td.tensor(x), 2, strides=2, padding="same").numpy()
    np.testing.assert_allclose(y, np.ones((1, 2, 2, 1)))  # corners average 1 tap, not 1/4


def test_max_pool_gradient_goes_to_first_maximum_only():
    x = td.tensor(np.array([[[[1.0], [1.0]], [[1.0], [0.0]]]]), requires_grad=True)
    td.max_pool(x, 2).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy()[0, :, :, 0], [[1, 0], [0, 0]])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dtype_is_kept(dtype):
    x = td.tensor(np.ones((1, 5, 5, 2)), dtype=dtype, requires_grad=True)
    w = td.tensor(np.ones((3, 3, 2, 4)), dtype=dtype, requires_grad=True)
    for y in (td.conv(x, w, padding="same"), td.max_pool(x, 2), td.average_pool(x, 2),
              td.conv_transpose(x, td.tensor(np.ones((3, 3, 4, 2)), dtype=dtype), strides=2)):
        assert y.dtype == np.dtype(dtype)
        y.sum().backward()
    assert x.grad.dtype == np.dtype(dtype) and w.grad.dtype == np.dtype(dtype)


# -- errors ---------------------------------------------------------------------------------------
def test_kernel_larger_than_valid_input_names_the_shapes():
    with pytest.raises(ValueError, match=r"kernel \(5, 5\).*\(4, 4\).*padding='valid'"):
        td.conv(td.tensor(np.ones((1, 4, 4, 1))), td.tensor(np.ones((5, 5, 1, 2))))
    with pytest.raises(ValueError, match=r"pool_size \(3, 3\).*\(2, 2\)"):
        td.max_pool(td.tensor(np.ones((1, 2, 2, 1))), 3)


def test_wrong_rank_names_the_shapes():
    with pytest.raises(ValueError, match=r"input \(4, 4\) and kernel \(3, 3, 1, 2\)"):
        td.conv(td.tensor(np.ones((4, 4))), td.tensor(np.ones((3, 3, 1, 2))))
    with pytest.raises(ValueError, match=r"got \(4, 4\)"):
        td.average_pool(td.tensor(np.ones((4, 4))), 2)


def test_channel_mismatch_names_the_shapes():
    with pytest.raises(ValueError, match=r"input \(2, 8, 8, 4\) has 4 channels but kernel \(3, 3, 3, 2\)"):
        td.conv(td.tensor(np.ones((2, 8, 8, 4))), td.tensor(np.ones((3, 3, 3, 2))))
    with pytest.raises(ValueError, match=r"not divisible by groups=2"):
        td.conv(td.tensor(np.ones((1, 4, 4, 4))), td.tensor(np.ones((3, 3, 2, 3))))
    with pytest.raises(ValueError, match=r"has 2 channels but kernel \(3, 3, 4, 3\) expects 3"):
        td.conv_transpose(td.tensor(np.ones((1, 4, 4, 2))), td.tensor(np.ones((3, 3, 4, 3))))


def test_bad_padding_is_refused():
    with pytest.raises(ValueError, match="padding must be one of"):
        td.conv(td.tensor(np.ones((1, 4, 4, 1))), td.tensor(np.ones((3, 3, 1, 1))), padding="full")


def test_threaded_kernels_match_serial_ones():
    from tinydl.backend.cpu import conv, pool
    x = np.random.default_rng(0).standard_normal((3, 6, 5, 4))
    serial = conv.im2col(x, 3, 2, 2, 1, 1, 2, 1, 1, 3, 4, 1)
    threaded = np.empty_like(serial[0])
    conv._im2col_parallel(x, threaded, 3, 4, 3, 2, 2, 1, 1, 2, 1, 1)
    np.testing.assert_array_equal(threaded, serial[0])
    dx = np.zeros_like(x)
    conv._col2im_parallel(serial[0], dx, 3, 4, 3, 2, 2, 1, 1, 2, 1, 1)
    np.testing.assert_allclose(dx, conv.col2im(serial, x.shape, 3, 2, 2, 1, 1, 2, 1, 1, 3, 4))
    y, arg = pool.max_pool2d(x, 2, 2, 2, 2, 0, 0, 3, 2)
    y2, arg2 = np.empty_like(y), np.empty_like(arg)
    pool._max_fwd_parallel(x, y2, arg2, 2, 2, 2, 2, 0, 0)
    np.testing.assert_array_equal(y, y2)
    np.testing.assert_array_equal(arg, arg2)


def test_import_compiles_nothing_and_a_second_process_reuses_numba_cache(tmp_path):
    import os
    import subprocess
    import sys
    code = ("import sys, numpy as np, tinydl; assert 'numba' not in sys.modules; "
            "from tinydl.backend.cpu import conv; x = np.ones((1, 4, 4, 2), np.float32); "
            "conv.im2col(x, 3, 3, 1, 1, 1, 1, 1, 1, 4, 4, 1); s = conv._im2col_serial.stats; "
            "print(len(s.cache_hits), len(s.cache_misses))")
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}

    def run():
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        return tuple(int(v) for v in out.stdout.split())
    assert run() == (0, 1)  # cold: compiled once and written to the cache
    assert run() == (1, 0)  # warm: loaded, nothing compiled


@pytest.mark.parametrize("channels, strides", [(20, 1), (20, 2), (3, 1)])
def test_pointwise_conv_is_a_matrix_product(channels, strides):
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((2, 5, 4, channels)), rng.standard_normal((1, 1, channels, 6))
    xt, wt = td.tensor(x, requires_grad=True), td.tensor(w, requires_grad=True)
    y = td.conv(xt, wt, strides=strides)
    gy = rng.standard_normal(y.shape)
    y.backward(gy)
    ref_y, ref_dx, ref_dw = ref_conv2d(x, w, gy, (strides, strides), "valid", (1, 1), 1)
    np.testing.assert_allclose(y.numpy(), ref_y, atol=1e-12)
    np.testing.assert_allclose(xt.grad.numpy(), ref_dx, atol=1e-12)
    np.testing.assert_allclose(wt.grad.numpy(), ref_dw, atol=1e-12)
