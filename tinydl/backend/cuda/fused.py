"""Fused CUDA kernels, the fast GPU path of the kernels named in backend.kernels.FUSED.

Each is the array-code kernel of backend/cuda (its readable reference, same name and signature) with the
per-element arithmetic fused into one launch. Kernels are built at import (CuPy compiles on first
launch), so tests/gpu/test_nvrtc.py compiles every source here without a GPU.
"""
import cupy

from tinydl.backend.cuda import patches, rows, scans

(_LSTM_FWD, _LSTM_BWD, _GRU_FWD, _GRU_BWD, _GRU_FWD_GATES, _GRU_FWD_CANDIDATE, _GRU_BWD_CANDIDATE, _GRU_BWD_RESET,
 _SIMPLE_FWD, _SIMPLE_BWD) = (cupy.ElementwiseKernel(*spec.arguments, preamble=spec.preamble) for spec in scans.STEPS)
_IM2COL = cupy.ElementwiseKernel(*patches.IM2COL.arguments, preamble=patches.IM2COL.preamble)
_ROWS = {**{name: cupy.ReductionKernel(*spec.arguments, preamble=spec.preamble)
            for name, spec in rows.REDUCTIONS.items()},
         **{name: cupy.ElementwiseKernel(*spec.arguments, preamble=spec.preamble)
            for name, spec in rows.ELEMENTWISE.items()}}


def lstm_fwd(xw, h0, c0, U, mask, act, rec_act):
    """LSTM over all steps: (hs, cs, gates); per step one matmul and one fused gate kernel."""
    return scans.lstm_fwd(xw, h0, c0, U, mask, act, rec_act, step=_LSTM_FWD)


def lstm_bwd(dhs, dhT, dcT, gates, cs, c0, U, mask, act, rec_act):
    """BPTT through lstm_fwd: (dz, dh0, dc0); per step one fused gate kernel and one matmul."""
    return scans.lstm_bwd(dhs, dhT, dcT, gates, cs, c0, U, mask, act, rec_act, step=_LSTM_BWD)


def gru_fwd(xw, h0, U, b_rec, mask, act, rec_act, reset_after):
    """GRU over all steps: (hs, gates, aux); per step one or (reset_after=False) two matmuls and kernels."""
    return scans.gru_fwd(xw, h0, U, b_rec, mask, act, rec_act, reset_after, step=_GRU_FWD,
                         reset_before_steps=(_GRU_FWD_GATES, _GRU_FWD_CANDIDATE))


def gru_bwd(dhs, dhT, gates, aux, hs, h0, U, mask, act, rec_act, reset_after):
    """BPTT through gru_fwd: (dx, dh0); per step one or (reset_after=False) two kernels and matmuls."""
    return scans.gru_bwd(dhs, dhT, gates, aux, hs, h0, U, mask, act, rec_act, reset_after, step=_GRU_BWD,
                         reset_before_steps=(_GRU_BWD_CANDIDATE, _GRU_BWD_RESET))


def simple_rnn_fwd(xw, h0, U, mask, act):
    """Simple RNN over all steps: the states; per step one matmul and one fused kernel."""
    return scans.simple_rnn_fwd(xw, h0, U, mask, act, step=_SIMPLE_FWD)


def simple_rnn_bwd(dhs, dhT, hs, h0, U, mask, act):
    """BPTT through simple_rnn_fwd: (dz, dh0); per step one fused kernel and one matmul."""
    return scans.simple_rnn_bwd(dhs, dhT, hs, h0, U, mask, act, step=_SIMPLE_BWD)


def layer_norm_fwd(x, gamma, beta, epsilon):
    """(y, xhat, mean, var, inv) of each row of x (rows, d): two reductions and two elementwise launches."""
    return rows.layer_norm_fwd(cupy.ascontiguousarray(x), gamma, beta, epsilon, kernels=_ROWS)


def layer_norm_bwd(g, xhat, inv, gamma):
    """(dx, dgamma, dbeta) of layer_norm_fwd: four reductions and one elementwise launch."""
    return rows.layer_norm_bwd(g, xhat, inv, gamma, kernels=_ROWS)


def batch_norm_fwd(x, gamma, beta, epsilon):
    """(y, mean, var, inv) of each column of x (rows, c): two reductions and two elementwise launches."""
    return rows.batch_norm_fwd(cupy.ascontiguousarray(x), gamma, beta, epsilon, kernels=_ROWS)


def batch_norm_bwd(g, x, mean, inv, gamma):
    """(dx, dgamma, dbeta) of batch_norm_fwd with batch statistics: two reductions and one elementwise launch."""
    return rows.batch_norm_bwd(g, x, mean, inv, gamma, kernels=_ROWS)


def softmax_xent_fwd(logits, labels):
    """(loss, stats) of softmax cross-entropy with integer labels: two reductions, a gather, one elementwise."""
    return rows.softmax_xent_fwd(cupy.ascontiguousarray(logits), labels, kernels=_ROWS)


def attention_softmax_bwd(weights, grad, scale):
    """Gradient wrt the unscaled scores of the masked softmax: one reduction and one elementwise launch."""
    return rows.attention_softmax_bwd(weights, grad, scale, kernels=_ROWS)


def im2col(x, kh, kw, sh, sw, dh, dw, pt, pl, oh, ow, groups):
    """Patch matrix (G, N*OH*OW, KH*KW*C/G) of x (N, H, W, C) in one launch (padding read as zeros)."""
    return patches.im2col(x, kh, kw, sh, sw, dh, dw, pt, pl, oh, ow, groups, kernel=_IM2COL)


def conv2d_direct(x, w, sh, sw, dh, dw, pt, pl, oh, ow):
    """Ungrouped conv of x (N, H, W, C) with w (KH, KW, C, O): the one-launch patch matrix and one matmul."""
    return patches.conv2d_direct(x, w, sh, sw, dh, dw, pt, pl, oh, ow, kernel=_IM2COL)
