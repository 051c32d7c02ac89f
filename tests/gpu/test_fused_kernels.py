"""The fused CUDA kernels of backend/cuda/fused.py against their array-code references.

On every machine: each fused kernel's body is evaluated by NumPy from the very text CuPy compiles
(backend/cuda/elementwise.py), inside the same drivers the GPU runs (backend/cuda/scans.py, rows.py), and
compared with the array-code twin (backend/cuda/rnn.py, norm.py) and the numba kernel. tests/gpu/test_nvrtc.py
compiles the same text. On a GPU only: the CuPy kernels themselves against the array code on CuPy arrays.
"""
import ast
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from tinydl.backend import cupy_available
from tinydl.backend.cpu import attention as numba_attention
from tinydl.backend.cpu import conv as numba_conv
from tinydl.backend.cpu import losses as numba_losses
from tinydl.backend.cpu import norm as numba_norm
from tinydl.backend.cpu import rnn as numba_rnn
from tinydl.backend.cuda import conv, elementwise, norm, patches, rnn, rows, scans, transfer
from tinydl.backend.kernels import ACTIVATION_CODES, FUSED, KERNELS

CUDA = pathlib.Path(scans.__file__).parent
ACTIVATION_PAIRS = [(1, 2), (3, 4), (0, 2), (2, 1)]  # (act, rec_act): tanh/sigmoid, relu/hard_sigmoid, ...
N, T, UNITS = 3, 6, 4
CLOSED_FORMS = {0: lambda x: x, 1: np.tanh, 2: lambda x: 1 / (1 + np.exp(-x)), 3: lambda x: np.maximum(x, 0),
                4: lambda x: np.clip(x / 6 + 0.5, 0, 1)}


def _tol(dtype, loss_of_digits=1.0):
    """Tolerances for `dtype`, widened by `loss_of_digits` where the inputs cancel (a large mean)."""
    tol = {"rtol": 2e-5, "atol": 2e-6} if dtype == np.float32 else {"rtol": 1e-12, "atol": 1e-13}
    return {k: v * loss_of_digits for k, v in tol.items()}


def _close(got, *references, dtype, loss_of_digits=1.0):
    for ref in references:
        assert len(got) == len(ref)
        for i, (a, b) in enumerate(zip(got, ref)):
            assert a.dtype == b.dtype == dtype and a.shape == b.shape, (i, a.dtype, a.shape, b.shape)
            np.testing.assert_allclose(a, b, **_tol(dtype, loss_of_digits), err_msg=f"output {i}")


@pytest.fixture
def draw():
    rng = np.random.default_rng(7)
    return lambda dtype, *shape: rng.standard_normal(shape).astype(dtype)


def _mask():
    mask = np.random.default_rng(3).random((N, T)) < 0.7
    mask[0, 0], mask[1, -1] = False, False  # a masked first and last step
    return mask


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("act,rec", ACTIVATION_PAIRS)
def test_fused_lstm_scan_matches_array_code_and_numba(draw, dtype, act, rec):
    mask = _mask()
    xw, U = draw(dtype, N, T, 4 * UNITS), draw(dtype, UNITS, 4 * UNITS) * 0.5
    h0, c0 = draw(dtype, N, UNITS), draw(dtype, N, UNITS)
    fused = scans.lstm_fwd(xw, h0, c0, U, mask, act, rec, step=scans.LSTM_FWD_STEP.numpy_kernel())
    _close(fused, rnn.lstm_fwd(xw, h0, c0, U, mask, act, rec), numba_rnn.lstm_fwd(xw, h0, c0, U, mask, act, rec),
           dtype=dtype)
    hs, cs, gates = fused
    dhs, dhT, dcT = draw(dtype, N, T, UNITS), draw(dtype, N, UNITS), draw(dtype, N, UNITS)
    args = (dhs, dhT, dcT, gates, cs, c0, U, mask, act, rec)
    got = scans.lstm_bwd(*args, step=scans.LSTM_BWD_STEP.numpy_kernel())
    _close(got, rnn.lstm_bwd(*args), numba_rnn.lstm_bwd(*args), dtype=dtype)


GRU_KERNELS = {"step": scans.GRU_FWD_STEP.numpy_kernel(), "reset_before_steps": (
    scans.GRU_FWD_GATES_STEP.numpy_kernel(), scans.GRU_FWD_CANDIDATE_STEP.numpy_kernel())}
GRU_BWD_KERNELS = {"step": scans.GRU_BWD_STEP.numpy_kernel(), "reset_before_steps": (
    scans.GRU_BWD_CANDIDATE_STEP.numpy_kernel(), scans.GRU_BWD_RESET_STEP.numpy_kernel())}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("act,rec", ACTIVATION_PAIRS)
@pytest.mark.parametrize("reset_after", [True, False])
def test_fused_gru_scan_matches_array_code_and_numba(draw, dtype, act, rec, reset_after):
    mask = _mask()
    xw, U = draw(dtype, N, T, 3 * UNITS), draw(dtype, UNITS, 3 * UNITS) * 0.5
    b = draw(dtype, 3 * UNITS) if reset_after else np.zeros(3 * UNITS, dtype)  # as ops/rnn.py passes them
    h0 = draw(dtype, N, UNITS)
    args = (xw, h0, U, b, mask, act, rec, reset_after)
    fused = scans.gru_fwd(*args, **GRU_KERNELS)
    _close(fused, rnn.gru_fwd(*args), numba_rnn.gru_fwd(*args), dtype=dtype)
    hs, gates, aux = fused
    bargs = (draw(dtype, N, T, UNITS), draw(dtype, N, UNITS), gates, aux, hs, h0, U, mask, act, rec, reset_after)
    got = scans.gru_bwd(*bargs, **GRU_BWD_KERNELS)
    _close(got, rnn.gru_bwd(*bargs), numba_rnn.gru_bwd(*bargs), dtype=dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("offset", [0.0, 1e3])  # a large mean: the two-pass variance keeps its digits
def test_fused_layer_norm_matches_array_code_and_numba(draw, dtype, offset):
    x = (draw(dtype, 9, 7) + offset).astype(dtype)
    gamma, beta, g = draw(dtype, 7), draw(dtype, 7), draw(dtype, 9, 7)
    # the numba kernel normalises in x's dtype: at a large mean in float32 it is the less exact one
    kernels = [norm] if offset and dtype == np.float32 else [norm, numba_norm]
    fused = rows.layer_norm_fwd(x, gamma, beta, 1e-3, kernels=rows.numpy_kernels())
    digits = 1 + offset if dtype == np.float64 else 1  # float64 cancels ulps of the offset; float32 matches exactly
    _close(fused, *[k.layer_norm_fwd(x, gamma, beta, 1e-3) for k in kernels], dtype=dtype, loss_of_digits=digits)
    _, xhat, _, _, inv = fused
    got = rows.layer_norm_bwd(g, xhat, inv, gamma, kernels=rows.numpy_kernels())
    _close(got, *[k.layer_norm_bwd(g, xhat, inv, gamma) for k in kernels], dtype=dtype, loss_of_digits=digits)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fused_batch_norm_matches_array_code_and_numba(draw, dtype):
    x, gamma, beta, g = draw(dtype, 11, 4) * 2 + 1, draw(dtype, 4), draw(dtype, 4), draw(dtype, 11, 4)
    fused = rows.batch_norm_fwd(x, gamma, beta, 1e-3, kernels=rows.numpy_kernels())
    _close(fused, norm.batch_norm_fwd(x, gamma, beta, 1e-3), numba_norm.batch_norm_fwd(x, gamma, beta, 1e-3),
           dtype=dtype)
    _, mean, _, inv = fused
    got = rows.batch_norm_bwd(g, x, mean, inv, gamma, kernels=rows.numpy_kernels())
    _close(got, norm.batch_norm_bwd(g, x, mean, inv, gamma), numba_norm.batch_norm_bwd(g, x, mean, inv, gamma),
           dtype=dtype)


def test_fused_layer_norm_of_integers_is_float64_as_the_array_code():
    x, gamma, beta = np.arange(12).reshape(3, 4), np.ones(4), np.zeros(4)
    got = rows.layer_norm_fwd(x, gamma, beta, 1e-3, kernels=rows.numpy_kernels())
    _close(got, norm.layer_norm_fwd(x, gamma, beta, 1e-3), dtype=np.float64)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("scale", [1.0, 1e16])  # huge logits: the loss is s - (x[label] - m), exact
def test_fused_softmax_xent_matches_numba_and_a_float64_reference(draw, dtype, scale):
    logits = (draw(dtype, 8, 5) * scale).astype(dtype)
    labels = np.random.default_rng(2).integers(0, 5, 8)
    loss, stats = rows.softmax_xent_fwd(logits, labels, kernels=rows.numpy_kernels())
    ref_loss, ref_stats = numba_losses.softmax_xent_fwd(logits, labels)
    assert loss.dtype == dtype and stats.dtype == np.float64 and stats.shape == (8, 2)
    np.testing.assert_allclose(loss, ref_loss, **_tol(dtype))
    np.testing.assert_allclose(stats, ref_stats, **_tol(dtype))
    x = logits.astype(np.float64)
    top = x.max(axis=1)
    shift = np.log(np.exp(x - top[:, None]).sum(axis=1))
    np.testing.assert_allclose(loss, shift - (x[np.arange(8), labels] - top), **_tol(dtype))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fused_attention_softmax_gradient_matches_numba_and_the_closed_form(draw, dtype):
    scores, g = draw(dtype, 2, 3, 4, 6), draw(dtype, 2, 3, 4, 6)
    weights = numba_attention.attention_softmax_fwd(scores, None, True, 0.5)
    got = rows.attention_softmax_bwd(weights, g, 0.5, kernels=rows.numpy_kernels())
    assert got.dtype == dtype and got.shape == scores.shape
    np.testing.assert_allclose(got, numba_attention.attention_softmax_bwd(weights, g, 0.5), **_tol(dtype))
    w, g64 = weights.astype(np.float64), g.astype(np.float64)
    np.testing.assert_allclose(got, 0.5 * w * (g64 - (w * g64).sum(axis=-1, keepdims=True)), **_tol(dtype))


# (n, h, w, c, groups, kh, kw, sh, sw, dh, dw, pt, pl): strides, dilation, asymmetric padding, groups
CONV_GEOMETRIES = [(2, 6, 5, 4, 2, 3, 2, 2, 1, 1, 2, 1, 1), (1, 7, 7, 3, 1, 3, 3, 1, 1, 1, 1, 0, 0),
                   (2, 5, 6, 6, 3, 2, 3, 2, 2, 2, 1, 2, 0), (1, 3, 3, 2, 1, 3, 3, 1, 1, 1, 1, 1, 1)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("geometry", CONV_GEOMETRIES, ids=str)
def test_fused_im2col_matches_array_code_and_numba_exactly(draw, dtype, geometry):
    n, h, w, c, groups, kh, kw, sh, sw, dh, dw, pt, pl = geometry
    oh, ow = (h + 2 * pt - dh * (kh - 1) - 1) // sh + 1, (w + 2 * pl - dw * (kw - 1) - 1) // sw + 1
    x = draw(dtype, n, h, w, c)
    args = (kh, kw, sh, sw, dh, dw, pt, pl, oh, ow)
    cols = patches.im2col(x, *args, groups, kernel=patches.IM2COL.numpy_kernel())
    assert cols.dtype == dtype
    np.testing.assert_array_equal(cols, conv.im2col(x, *args, groups))  # a pure copy: bit for bit
    np.testing.assert_array_equal(cols, numba_conv.im2col(x, *args, groups))
    if groups == 1:
        wk = draw(dtype, kh, kw, c, 3)
        got = patches.conv2d_direct(x, wk, *args[2:], kernel=patches.IM2COL.numpy_kernel())
        np.testing.assert_allclose(got, numba_conv.conv2d_direct(x, wk, *args[2:]), **_tol(dtype))


def test_the_reductions_sum_and_max_in_float64_over_either_axis():
    x = np.array([[1.0, -2.0, 3.0], [0.5, 0.25, -4.0]], np.float32)
    k = rows.numpy_kernels()
    np.testing.assert_array_equal(k["sum"](x, axis=1), [2.0, -3.25])
    np.testing.assert_array_equal(k["max"](x, axis=0), [1.0, 0.25, 3.0])
    np.testing.assert_array_equal(k["sum_product"](x, np.float32([2, 0, 1]), axis=1), [5.0, -3.0])
    assert k["sum"](x, axis=1).dtype == np.float64
    np.testing.assert_allclose(k["centered_squares"](x, np.array([[2.0], [-3.25]]), 3.0, axis=1),
                               ((x - x.astype(np.float64).mean(axis=1, keepdims=True)) ** 2).sum(axis=1), rtol=1e-12)
    with pytest.raises(ValueError, match="reduce must be one of"):
        elementwise.Reduction("T x", "float64 y", "x", "prod", "y = a", "tinydl_prod")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("act", sorted(ACTIVATION_CODES.values()))
def test_fused_simple_rnn_scan_matches_array_code_and_numba(draw, dtype, act):
    mask = _mask()
    xw, U, h0 = draw(dtype, N, T, UNITS), draw(dtype, UNITS, UNITS) * 0.5, draw(dtype, N, UNITS)
    hs = scans.simple_rnn_fwd(xw, h0, U, mask, act, step=scans.SIMPLE_RNN_FWD_STEP.numpy_kernel())
    _close([hs], [rnn.simple_rnn_fwd(xw, h0, U, mask, act)], [numba_rnn.simple_rnn_fwd(xw, h0, U, mask, act)],
           dtype=dtype)
    args = (draw(dtype, N, T, UNITS), draw(dtype, N, UNITS), hs, h0, U, mask, act)
    got = scans.simple_rnn_bwd(*args, step=scans.SIMPLE_RNN_BWD_STEP.numpy_kernel())
    _close(got, rnn.simple_rnn_bwd(*args), numba_rnn.simple_rnn_bwd(*args), dtype=dtype)


def test_a_fully_masked_sequence_keeps_the_initial_state(draw):
    xw, U, h0, c0 = draw(np.float32, 2, 4, 8), draw(np.float32, 2, 8), draw(np.float32, 2, 2), draw(np.float32, 2, 2)
    hs, cs, _ = scans.lstm_fwd(xw, h0, c0, U, np.zeros((2, 4), bool), 1, 2, step=scans.LSTM_FWD_STEP.numpy_kernel())
    np.testing.assert_array_equal(hs, np.repeat(h0[:, None], 4, axis=1))
    np.testing.assert_array_equal(cs, np.repeat(c0[:, None], 4, axis=1))


@pytest.mark.parametrize("code", sorted(ACTIVATION_CODES.values()))
def test_numpy_meaning_of_the_activation_helpers_matches_the_array_code(code):
    x = np.linspace(-8, 8, 101)
    kernel = elementwise.Elementwise("T x, int64 code", "T y, T dy", "y = activate(x, code); "
                                     "dy = activate_grad(y, code)", "tinydl_probe").numpy_kernel()
    y, dy = kernel(x, code, np.empty_like(x), np.empty_like(x))
    f = CLOSED_FORMS[code]
    np.testing.assert_allclose(y, f(x), rtol=1e-14, atol=1e-15)
    inside = (np.abs(x) > 1e-9) & (np.abs(np.abs(x) - 3) > 1e-9)  # away from relu's and hard_sigmoid's kinks
    slope = (f(x + 1e-6) - f(x - 1e-6)) / 2e-6
    np.testing.assert_allclose(dy[inside], slope[inside], rtol=1e-6, atol=1e-6)


def test_a_body_outside_the_c_subset_is_refused():
    for body in ("y = x > 0 ? x : 0", "y = (float)x", "y = a && b", "y = !a", "y += x", "if (x) y = x",
                 "y = 0.5 * x", "y = x * 1e3", "y = .5"):
        with pytest.raises(ValueError, match="fused-kernel subset"):
            elementwise.parse(body)
    assert elementwise.parse("T s = x * 2; y = s != 0") == [("T", "s", "x * 2"), (None, "y", "s != 0")]


def test_a_numpy_kernel_checks_its_argument_count():
    with pytest.raises(TypeError, match="tinydl_lstm_fwd_step takes 13 inputs and 6 outputs, got 2"):
        scans.LSTM_FWD_STEP.numpy_kernel()(1, 2)


def test_every_fused_kernel_is_in_the_table_with_the_numba_signature():
    fused = _functions(CUDA / "fused.py")
    assert set(FUSED) <= set(KERNELS) and set(FUSED.values()) == {"fused"}
    for name in FUSED:
        cpu = _functions(CUDA.parent / "cpu" / f"{KERNELS[name]}.py")
        assert fused[name] == cpu[name], name


def test_every_fused_kernel_has_its_own_tinydl_name():
    specs = [*scans.STEPS, *rows.REDUCTIONS.values(), *rows.ELEMENTWISE.values()]
    assert all(spec.name.startswith("tinydl_") for spec in specs)
    assert len({spec.name for spec in specs}) == len(specs)


# -- on a GPU: the CuPy kernels themselves -----------------------------------------------------------------

@pytest.mark.skipif(not cupy_available(), reason="needs CuPy and a CUDA GPU")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("act,rec", ACTIVATION_PAIRS[:2])
def test_cupy_fused_kernels_match_the_array_code_on_the_gpu(draw, dtype, act, rec):
    import cupy  # lazy: only on a GPU machine

    from tinydl.backend.cuda import fused
    n, t, u = 16, 9, 32
    mask = np.random.default_rng(3).random((n, t)) < 0.8
    dev = lambda *shape: cupy.asarray(draw(dtype, *shape))  # noqa: E731
    xw, U, h0, c0 = dev(n, t, 4 * u), dev(u, 4 * u) * 0.3, dev(n, u), dev(n, u)
    fwd = fused.lstm_fwd(xw, h0, c0, U, mask, act, rec)
    _close([a.get() for a in fwd], [a.get() for a in rnn.lstm_fwd(xw, h0, c0, U, mask, act, rec)], dtype=dtype)
    args = (dev(n, t, u), dev(n, u), dev(n, u), fwd[2], fwd[1], c0, U, mask, act, rec)
    _close([a.get() for a in fused.lstm_bwd(*args)], [a.get() for a in rnn.lstm_bwd(*args)], dtype=dtype)
    for reset_after in (True, False):
        xw, U, b = dev(n, t, 3 * u), dev(u, 3 * u) * 0.3, dev(3 * u) * reset_after
        gargs = (xw, h0, U, b, mask, act, rec, reset_after)
        gfwd = fused.gru_fwd(*gargs)
        _close([a.get() for a in gfwd], [a.get() for a in rnn.gru_fwd(*gargs)], dtype=dtype)
        hs, gates, aux = gfwd
        bargs = (dev(n, t, u), dev(n, u), gates, aux, hs, h0, U, mask, act, rec, reset_after)
        _close([a.get() for a in fused.gru_bwd(*bargs)], [a.get() for a in rnn.gru_bwd(*bargs)], dtype=dtype)
    xw, U = dev(n, t, u), dev(u, u) * 0.3
    hs = fused.simple_rnn_fwd(xw, h0, U, mask, act)
    _close([hs.get()], [rnn.simple_rnn_fwd(xw, h0, U, mask, act).get()], dtype=dtype)
    sargs = (dev(n, t, u), dev(n, u), hs, h0, U, mask, act)
    _close([a.get() for a in fused.simple_rnn_bwd(*sargs)], [a.get() for a in rnn.simple_rnn_bwd(*sargs)],
           dtype=dtype)


@pytest.mark.skipif(not cupy_available(), reason="needs CuPy and a CUDA GPU")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cupy_row_kernels_match_the_array_code_on_the_gpu(draw, dtype):
    import cupy  # lazy: only on a GPU machine

    from tinydl.backend.cuda import attention, fused, losses
    dev = lambda *shape: cupy.asarray(draw(dtype, *shape))  # noqa: E731
    x, gamma, beta, g = dev(33, 65) + 3, dev(65), dev(65), dev(33, 65)
    bn = fused.batch_norm_fwd(x, gamma, beta, 1e-5)
    _close([a.get() for a in bn], [a.get() for a in norm.batch_norm_fwd(x, gamma, beta, 1e-5)], dtype=dtype)
    args = (g, x, bn[1], bn[3], gamma)
    _close([a.get() for a in fused.batch_norm_bwd(*args)], [a.get() for a in norm.batch_norm_bwd(*args)], dtype=dtype)
    fwd = fused.layer_norm_fwd(x, gamma, beta, 1e-5)
    _close([a.get() for a in fwd], [a.get() for a in norm.layer_norm_fwd(x, gamma, beta, 1e-5)], dtype=dtype)
    args = (g, fwd[1], fwd[4], gamma)
    _close([a.get() for a in fused.layer_norm_bwd(*args)], [a.get() for a in norm.layer_norm_bwd(*args)], dtype=dtype)
    logits, labels = dev(40, 1000) * 4, cupy.asarray(np.random.default_rng(0).integers(0, 1000, 40))
    _close([a.get() for a in fused.softmax_xent_fwd(logits, labels)],
           [a.get() for a in losses.softmax_xent_fwd(logits, labels)], dtype=dtype)
    for n, h, w, c, groups, kh, kw, sh, sw, dh, dw, pt, pl in CONV_GEOMETRIES:
        oh, ow = (h + 2 * pt - dh * (kh - 1) - 1) // sh + 1, (w + 2 * pl - dw * (kw - 1) - 1) // sw + 1
        x, args = dev(n, h, w, c), (kh, kw, sh, sw, dh, dw, pt, pl, oh, ow)
        np.testing.assert_array_equal(fused.im2col(x, *args, groups).get(), conv.im2col(x, *args, groups).get())
    weights = attention.attention_softmax_fwd(dev(2, 4, 50, 50), None, True, 0.125)
    grad = dev(2, 4, 50, 50)
    _close([fused.attention_softmax_bwd(weights, grad, 0.125).get()],
           [attention.attention_softmax_bwd(weights, grad, 0.125).get()], dtype=dtype)


def _functions(path):
    """{name: argument names} of the module-level functions in a file (read, not imported: CuPy may be absent)."""
    return {node.name: [a.arg for a in node.args.args] for node in ast.parse(path.read_text()).body
            if isinstance(node, ast.FunctionDef)}


# -- uploads through pinned memory ---------------------------------------------------------------------------

class _Event:
    def __init__(self, log):
        self.log, self.done = log, False

    def synchronize(self):
        self.log.append("wait")
        self.done = True


def _fake_uploader(depth):
    """A PinnedUploader on NumPy stand-ins: 'device' arrays are NumPy copies made when the copy is queued."""
    log, buffers = [], []

    def pinned_empty(nbytes):
        buffers.append(np.zeros(nbytes, np.uint8))
        return buffers[-1]

    def copy_async(device, host):
        log.append("copy")
        device[...] = host

    up = transfer.PinnedUploader(pinned_empty, np.empty, copy_async, lambda: _Event(log), depth=depth)
    return up, log, buffers


def test_uploads_go_through_a_ring_of_pinned_buffers():
    up, log, buffers = _fake_uploader(depth=2)
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    b = np.array([True, False])
    got = [up.upload(a), up.upload(b), up.upload(a[:, ::2] * 2)]  # a non-contiguous array too
    np.testing.assert_array_equal(got[0], a)
    np.testing.assert_array_equal(got[1], b)
    np.testing.assert_array_equal(got[2], [[0, 4], [6, 10]])
    assert [g.dtype for g in got] == [np.float32, np.bool_, np.float32]
    # the third upload reuses the first buffer, after waiting for the first copy's event only
    assert log == ["copy", "copy", "wait", "copy"] and len(buffers) == 2


def test_a_larger_array_gets_a_larger_buffer_and_the_caller_may_reuse_its_array():
    up, _, buffers = _fake_uploader(depth=1)
    small, large = np.ones(2, np.float64), np.arange(10, dtype=np.int64)
    first = up.upload(small)
    second = up.upload(large)
    large[:] = -1  # the host copy was staged: changing the source afterwards changes nothing on the device
    np.testing.assert_array_equal(first, [1.0, 1.0])
    np.testing.assert_array_equal(second, np.arange(10))
    assert [b.nbytes for b in buffers] == [16, 80]
    assert up.upload(np.float32(3.5)).shape == ()


@pytest.mark.skipif(not cupy_available(), reason="needs CuPy and a CUDA GPU")
def test_pinned_uploads_arrive_on_the_gpu():
    from tinydl.backend import to_device
    host = [np.random.default_rng(i).standard_normal((64, 33)).astype(np.float32) for i in range(20)]
    device = [to_device(h, "cuda") for h in host]  # more uploads than staging buffers
    for h, d in zip(host, device):
        np.testing.assert_array_equal(d.get(), h)


# -- which kernels a CuPy array gets ---------------------------------------------------------------------------

_LOOKUP = """
import tinydl.backend as b
FakeCupyArray = type("ndarray", (), {"__module__": "cupy._core.core"})  # device_of: 'cuda', without a GPU
print(b.kernel("lstm_fwd", FakeCupyArray()).__module__, b.kernel("im2col", FakeCupyArray()).__module__,
      b.kernel("erf", FakeCupyArray()).__module__, b.kernel("lstm_fwd").__module__)
"""


@pytest.mark.parametrize("flag,module", [(None, "fused"), ("1", "fused"), ("0", "rnn")])
def test_cupy_arrays_get_the_fused_kernels_unless_tinydl_fused_is_0(flag, module):
    pytest.importorskip("cupy")
    env = {k: v for k, v in os.environ.items() if k != "TINYDL_FUSED"}
    if flag is not None:
        env["TINYDL_FUSED"] = flag
    out = subprocess.run([sys.executable, "-c", _LOOKUP], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    lstm, im2col, erf, cpu = out.stdout.split()
    assert lstm == f"tinydl.backend.cuda.{module}" and im2col == lstm.replace("rnn", "conv")
    assert erf == "tinydl.backend.cuda.math" and cpu == "tinydl.backend.cpu.rnn"
