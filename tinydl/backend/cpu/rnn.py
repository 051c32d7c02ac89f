"""Recurrent scans (numba): the whole time loop of an LSTM, GRU or simple RNN, forward and BPTT.

Layout: batch-major (N, T, ...) as Keras. The caller does the input projection for every step as one
GEMM up front (`xw = x @ kernel + bias`, shape (N, T, gates*units)) and, after backward, turns the
pre-activation gradients `dz` into dx, dkernel, dbias and drecurrent_kernel with GEMMs of its own, so
the kernels here hold only what is sequential: one recurrent matmul per step (BLAS) and the
fused gate arithmetic. Those per-step products are small, so each scan runs under
`threads.gemm_loop` (one BLAS thread for small products: see backend/threads.py). The LSTM's time
loop is Python's, with NumPy's BLAS for the product and a numba kernel for the gates of each step
(faster than np.dot inside numba: see lstm_fwd); the GRU and simple RNN still loop inside numba.

`mask` is a bool array (N, T): a step whose mask is False carries the state through unchanged.
Activations are int codes (backend.kernels.ACTIVATION_CODES); their derivatives are taken from their outputs.
Gate orders are Keras's: LSTM i, f, c, o; GRU z, r, h.
"""
import math

import numba
import numpy as np
# SciPy's BLAS, which numba's np.dot calls, loaded now (not when the first kernel runs) so that the
# thread policy sees and limits it from the first scan on
import scipy.linalg.cython_blas  # noqa: F401
from numba import types
from numba.extending import overload

from tinydl.backend import threads


def lstm_fwd(xw, h0, c0, U, mask, act, rec_act):
    """LSTM over all steps: (hs, cs, gates) = states h_t, c_t (N, T, u) and activated gates (N, T, 4u)."""
    N, T, G = xw.shape
    u = G // 4
    hs = np.empty((N, T, u), xw.dtype)
    cs = np.empty((N, T, u), xw.dtype)
    gates = np.empty((N, T, G), xw.dtype)
    xw, U, mask = _c(xw), _c(U, xw.dtype), _c(mask, np.bool_)
    h, c = np.array(h0, xw.dtype), np.array(c0, xw.dtype)
    z = np.empty((N, G), xw.dtype)
    scratch = np.empty((2, u), xw.dtype)
    # the time loop is Python's: NumPy's BLAS does each step's product (measured 4.7-5.0 ms per forward
    # against 5.9-6.8 ms with np.dot inside numba, which calls SciPy's slower OpenBLAS build)
    with threads.gemm_loop(N, G, u):
        for t in range(T):
            np.matmul(h, U, out=z)
            _lstm_fwd_step(t, xw, z, h, c, mask, int(act), int(rec_act), hs, cs, gates, scratch)
    return hs, cs, gates


def lstm_bwd(dhs, dhT, dcT, gates, cs, c0, U, mask, act, rec_act):
    """BPTT through lstm_fwd: (dz, dh0, dc0), dz the gradient of the gates' pre-activations (N, T, 4u).

    `dhs` is the gradient reaching each state h_t from outside the recurrence, `dhT`/`dcT` that of
    the final states.
    """
    dt = gates.dtype
    N, T, G = gates.shape
    dz = np.empty(gates.shape, dt)
    dhs, c0, UT, mask = _c(dhs, dt), _c(c0, dt), _c(U.T, dt), _c(mask, np.bool_)
    dh, dc = np.array(dhT, dt), np.array(dcT, dt)
    dzt = np.empty((N, G), dt)
    dh_rec = np.empty((N, G // 4), dt)
    ac = np.empty(G // 4, dt)
    with threads.gemm_loop(N, G // 4, G):  # a Python time loop, as in lstm_fwd
        for t in range(T - 1, -1, -1):
            _lstm_bwd_step(t, dhs, gates, cs, c0, mask, int(act), int(rec_act), dh, dc, dzt, dz, ac)
            np.matmul(dzt, UT, out=dh_rec)
            dh += dh_rec
    return dz, dh, dc


def gru_fwd(xw, h0, U, b_rec, mask, act, rec_act, reset_after):
    """GRU over all steps: (hs, gates, aux) = states (N, T, u), activated z, r, hh (N, T, 3u), and aux
    (N, T, u): the recurrent candidate term `h_prev @ U_h + b_rec_h` (reset_after) or `r * h_prev`."""
    N, T, G = xw.shape
    u = G // 3
    dt = xw.dtype
    hs = np.empty((N, T, u), dt)
    gates = np.empty((N, T, G), dt)
    aux = np.empty((N, T, u), dt)
    with threads.gemm_loop(N, G, u):
        if reset_after:
            _gru_fwd_after(_c(xw), _c(h0, dt), _c(U, dt), _c(b_rec, dt), _c(mask, np.bool_),
                           int(act), int(rec_act), hs, gates, aux)
        else:
            _gru_fwd_before(_c(xw), _c(h0, dt), _c(U[:, :2 * u], dt), _c(U[:, 2 * u:], dt),
                            _c(mask, np.bool_), int(act), int(rec_act), hs, gates, aux)
    return hs, gates, aux


def gru_bwd(dhs, dhT, gates, aux, hs, h0, U, mask, act, rec_act, reset_after):
    """BPTT through gru_fwd: (dx, dh0), dx the gradient of the input-side pre-activations (N, T, 3u).

    With reset_after the recurrent-side gradient equals dx except the candidate block, times r.
    """
    dt = gates.dtype
    u = gates.shape[2] // 3
    dx = np.empty(gates.shape, dt)
    with threads.gemm_loop(gates.shape[0], u, 3 * u):
        if reset_after:
            dh0 = _gru_bwd_after(_c(dhs, dt), _c(dhT, dt), gates, aux, hs, _c(h0, dt), _c(U.T, dt),
                                 _c(mask, np.bool_), int(act), int(rec_act), dx)
        else:
            dh0 = _gru_bwd_before(_c(dhs, dt), _c(dhT, dt), gates, hs, _c(h0, dt), _c(U[:, :2 * u].T, dt),
                                  _c(U[:, 2 * u:].T, dt), _c(mask, np.bool_), int(act), int(rec_act), dx)
    return dx, dh0


def simple_rnn_fwd(xw, h0, U, mask, act):
    """Simple RNN over all steps: the states h_t (N, T, u)."""
    hs = np.empty(xw.shape, xw.dtype)
    N, _, u = xw.shape
    with threads.gemm_loop(N, u, u):
        _rnn_fwd(_c(xw), _c(h0, xw.dtype), _c(U, xw.dtype), _c(mask, np.bool_), int(act), hs)
    return hs


def simple_rnn_bwd(dhs, dhT, hs, h0, U, mask, act):
    """BPTT through simple_rnn_fwd: (dz, dh0), dz the gradient of the pre-activations (N, T, u)."""
    dt = hs.dtype
    dz = np.empty(hs.shape, dt)
    N, _, u = hs.shape
    with threads.gemm_loop(N, u, u):
        dh0 = _rnn_bwd(_c(dhs, dt), _c(dhT, dt), hs, _c(U.T, dt), _c(mask, np.bool_), int(act), dz)
    return dz, dh0


def _c(a, dtype=None):
    """A C-contiguous array (numba's np.dot wants contiguous operands)."""
    return np.ascontiguousarray(a, dtype=dtype)


# -- activations by code ------------------------------------------------------------------------
# float32 tanh is Eigen's rational approximation (error < 4e-7, |tanh| <= 1, vectorisable); float64
# keeps libm's tanh/exp so gradient checks in float64 see the exact functions.

_F = np.float32
# fast-math without 'nnan'/'ninf': a NaN must stay NaN (diverged training has to show), not be clamped away
_FAST = {"nsz", "arcp", "contract", "afn", "reassoc"}
_A = tuple(_F(v) for v in (4.89352455891786e-03, 6.37261928875436e-04, 1.48572235717979e-05,
                           5.12229709037114e-08, -8.60467152213735e-11, 2.00018790482477e-13,
                           -2.76076847742355e-16))
_A1, _A3, _A5, _A7, _A9, _A11, _A13 = _A
_B0, _B2, _B4, _B6 = (_F(v) for v in (4.89352518554385e-03, 2.26843463243900e-03, 1.18534705686654e-04,
                                       1.19825839466702e-06))
_LIM = _F(7.90531110763549805)
_HALF = _F(0.5)
_ONE = _F(1)
_ZERO = _F(0)
_SIX = _F(6)


def _tanh(x):
    """tanh: rational approximation in float32, libm in float64 (typed dispatch below)."""
    return math.tanh(x)


def _sigmoid(x):
    """1 / (1 + exp(-x)), by the same dispatch."""
    return 1.0 / (1.0 + math.exp(-x))


@numba.njit(cache=True, fastmath=_FAST, error_model="numpy")
def _tanh32(x):
    x = _LIM if x > _LIM else x
    x = -_LIM if x < -_LIM else x
    x2 = x * x
    p = x2 * _A13 + _A11
    p = x2 * p + _A9
    p = x2 * p + _A7
    p = x2 * p + _A5
    p = x2 * p + _A3
    p = x2 * p + _A1
    q = x2 * _B6 + _B4
    q = x2 * q + _B2
    q = x2 * q + _B0
    return x * p / q


@overload(_tanh)
def _tanh_typed(x):
    if x == types.float32:
        return lambda x: _tanh32(x)
    return lambda x: math.tanh(x)


@overload(_sigmoid)
def _sigmoid_typed(x):
    if x == types.float32:
        return lambda x: _HALF * _tanh32(_HALF * x) + _HALF
    return lambda x: 1.0 / (1.0 + math.exp(-x))


@numba.njit(cache=True, fastmath=_FAST, error_model="numpy")
def _act(x, code):
    if code == 1:
        return _tanh(x)
    if code == 2:
        return _sigmoid(x)
    if code == 3:
        return x if x > 0 else x * _ZERO
    if code == 4:
        y = x / _SIX + _HALF
        y = y * _ZERO if y < 0 else y
        return y * _ZERO + _ONE if y > 1 else y
    return x


@numba.njit(cache=True, fastmath=_FAST, error_model="numpy")
def _dact(y, code):
    """The activation's derivative, from its output y."""
    if code == 1:
        return _ONE - y * y
    if code == 2:
        return y * (_ONE - y)
    if code == 3:
        return y * _ZERO + _ONE if y > 0 else y * _ZERO
    if code == 4:
        return (y * _ZERO + _ONE) / _SIX if 0 < y < 1 else y * _ZERO
    return y * _ZERO + _ONE


# -- LSTM -----------------------------------------------------------------------------------------

@numba.njit(cache=True, fastmath=_FAST, error_model="numpy")
def _lstm_fwd_step(t, xw, z, h, c, mask, act, rec_act, hs, cs, gates, scratch):
    """Step t of every row: gates from xw[:, t] + z (= h_{t-1} @ U); h, c advance in place."""
    N, _, G = xw.shape
    u = G // 4
    for n in range(N):
        gr = gates[n, t]
        _add_rows(gr, xw[n, t], z[n])
        _lstm_cell(gr, c[n], h[n], mask[n, t], u, act, rec_act, scratch[0], scratch[1])
        _copy_row(cs[n, t], c[n])
        _copy_row(hs[n, t], h[n])


@numba.njit(cache=True, fastmath=_FAST, error_model="numpy")
def _lstm_cell(gr, cr, hr, keep, u, act, rec_act, cn, hn):
    """One row of one step, in place: gate pre-activations in gr become gates; c, h advance if keep.

    Written as short single-purpose loops so that LLVM vectorises each (cn, hn are scratch rows).
    """
    gi, gf, gg, go = gr[:u], gr[u:2 * u], gr[2 * u:3 * u], gr[3 * u:]
    _act_inplace(gr[:2 * u], rec_act)
    _act_inplace(gg, act)
    _act_inplace(go, rec_act)
    if not keep:
        return
    for j in range(u):
        cn[j] = gf[j] * cr[j] + gi[j] * gg[j]
    _copy_row(cr, cn)
    _act_inplace(cn, act)
    for j in range(u):
        hr[j] = go[j] * cn[j]


@numba.njit(cache=True, fastmath=_FAST, error_model="numpy")
def _act_inplace(a, code):
    """a = act(a) elementwise, one branch per call rather than per element."""
    n = a.shape[0]
    if code == 1:
        for k in range(n):
            a[k] = _tanh(a[k])
    elif code == 2:
        for k in range(n):
            a[k] = _sigmoid(a[k])
    elif code != 0:
        for k in range(n):
            a[k] = _act(a[k], code)


@numba.njit(cache=True, fastmath=_FAST, error_model="numpy")
def _add_rows(out, a, b):
    for k in range(out.shape[0]):
        out[k] = a[k] + b[k]


@numba.njit(cache=True, fastmath=_FAST, error_model="numpy")
def _copy_row(out, a):
    for k in range(out.shape[0]):
        out[k] = a[k]


@numba.njit(cache=True, fastmath=_FAST, error_model="numpy")
def _lstm_bwd_step(t, dhs, gates, cs, c0, mask, act, rec_act, dh, dc, dzt, dz, ac):
    """Step t backward for every row: dzt (and dz[:, t]) from dh, dc; dh zeroed, dc carried to t-1."""
    N, _, G = gates.shape
    u = G // 4
    for n in range(N):
        dhr = dh[n]
        _add_inplace(dhr, dhs[n, t])
        if mask[n, t]:
            c_prev = cs[n, t - 1] if t > 0 else c0[n]
            _lstm_cell_bwd(gates[n, t], cs[n, t], c_prev, dhr, dc[n], dzt[n], ac, u, act, rec_act)
        else:
            dzt[n] = 0
        _copy_row(dz[n, t], dzt[n])


@numba.njit(cache=True, fastmath=_FAST, error_model="numpy")
def _lstm_cell_bwd(gr, cr, c_prev, dhr, dcr, dzr, ac, u, act, rec_act):
    """One row of one unmasked step backward: dz row from dh (then zeroed) and dc (then carried to t-1)."""
    gi, gf, gg, go = gr[:u], gr[u:2 * u], gr[2 * u:3 * u], gr[3 * u:]
    dzi, dzf, dzg, dzo = dzr[:u], dzr[u:2 * u], dzr[2 * u:3 * u], dzr[3 * u:]
    _copy_row(ac, cr)
    _act_inplace(ac, act)
    for j in range(u):
        dzo[j] = dhr[j] * go[j]
    _dact_mul(dzo, ac, act)
    for j in range(u):
        dcr[j] += dzo[j]
    for j in range(u):
        dzo[j] = dhr[j] * ac[j]
    _dact_mul(dzo, go, rec_act)
    for j in range(u):
        dzi[j] = dcr[j] * gg[j]
    _dact_mul(dzi, gi, rec_act)
    for j in range(u):
        dzf[j] = dcr[j] * c_prev[j]
    _dact_mul(dzf, gf, rec_act)
    for j in range(u):
        dzg[j] = dcr[j] * gi[j]
    _dact_mul(dzg, gg, act)
    for j in range(u):
        dcr[j] *= gf[j]
    dhr[:] = 0


@numba.njit(cache=True, fastmath=_FAST, error_model="numpy")
def _dact_mul(out, y, code):
    """out *= act'(from output y), one branch per call."""
    n = out.shape[0]
    if code == 1:
        for k in range(n):
            out[k] *= _ONE - y[k] * y[k]
    elif code == 2:
        for k in range(n):
            out[k] *= y[k] * (_ONE - y[k])
    elif code != 0:
        for k in range(n):
            out[k] *= _dact(y[k], code)


@numba.njit(cache=True, fastmath=_FAST, error_model="numpy")
def _add_inplace(out, a):
    for k in range(out.shape[0]):
        out[k] += a[k]


# -- GRU ------------------------------------------------------------------------------------------

@numba.njit(cache=True, fastmath=_FAST, error_model="numpy")
def _gru_fwd_after(xw, h0, U, b_rec, mask, act, rec_act, hs, gates, aux):
    N, T, G = xw.shape
    u = G // 3
    h = h0.copy()
    for t in range(T):
        rec = np.dot(h, U)
        for n in range(N):
            gr, xr, rr, ar, hr = gates[n, t], xw[n, t], rec[n], aux[n, t], h[n]
            _add_rows(ar, rr[2 * u:], b_rec[2 * u:])
            _add_rows(gr[:2 * u], xr[:2 * u], rr[:2 * u])
            _add_inplace(gr[:2 * u], b_rec[:2 * u])
            _act_inplace(gr[:2 * u], rec_act)
            gz, g_r, gh, xh = gr[:u], gr[u:2 * u], gr[2 * u:], xr[2 * u:]
            for j in range(u):
                gh[j] = xh[j] + g_r[j] * ar[j]
            _act_inplace(gh, act)
            if mask[n, t]:
                _gru_mix(hr, gz, gh, u)
            _copy_row(hs[n, t], hr)


@numba.njit(cache=True, fastmath=_FAST, error_model="numpy")
def _gru_mix(hr, gz, gh, u):
    """h = z * h_prev + (1 - z) * hh, in place."""
    for j in range(u):
        hr[j] = gz[j] * hr[j] + (_ONE - gz[j]) * gh[j]


@numba.njit(cache=True, fastmath=_FAST, error_model="numpy")
def _gru_fwd_before(xw, h0, Uzr, Uh, mask, act, rec_act, hs, gates, aux):
    N, T, G = xw.shape
    u = G // 3
    h = h0.copy()
    rhp = np.empty((N, u), xw.dtype)
    for t in range(T):
        rec = np.dot(h, Uzr)
        for n in range(N):
            gr = gates[n, t]
            _add_rows(gr[:2 * u], xw[n, t, :2 * u], rec[n])
            _act_inplace(gr[:2 * u], rec_act)
            g_r, hr, pr = gr[u:2 * u], h[n], rhp[n]
            for j in range(u):
                pr[j] = g_r[j] * hr[j]
            _copy_row(aux[n, t], pr)
        rech = np.dot(rhp, Uh)
        for n in range(N):
            gr = gates[n, t]
            gh = gr[2 * u:]
            _add_rows(gh, xw[n, t, 2 * u:], rech[n])
            _act_inplace(gh, act)
            if mask[n, t]:
                _gru_mix(h[n], gr[:u], gh, u)
            _copy_row(hs[n, t], h[n])


@numba.njit(cache=True, fastmath=_FAST, error_model="numpy")
def _gru_bwd_after(dhs, dhT, gates, aux, hs, h0, UT, mask, act, rec_act, dx):
    N, T, G = gates.shape
    u = G // 3
    dh = dhT.copy()
    drec = np.empty((N, G), gates.dtype)
    for t in range(T - 1, -1, -1):
        for n in range(N):
            dhr, dxr, dr = dh[n], dx[n, t], drec[n]
            _add_inplace(dhr, dhs[n, t])
            if mask[n, t]:
                gr = gates[n, t]
                h_prev = hs[n, t - 1] if t > 0 else h0[n]
                _gru_gate_bwd(gr, h_prev, dhr, dxr, u, act, rec_act)
                dah, dar, g_r, ar = dxr[2 * u:], dxr[u:2 * u], gr[u:2 * u], aux[n, t]
                for j in range(u):
                    dar[j] = dah[j] * ar[j]
                _dact_mul(dar, g_r, rec_act)
                _copy_row(dr, dxr)
                drh = dr[2 * u:]
                for j in range(u):
                    drh[j] *= g_r[j]
                gz = gr[:u]
                for j in range(u):
                    dhr[j] *= gz[j]
            else:
                dxr[:] = 0
                dr[:] = 0
        dh += np.dot(drec, UT)
    return dh


@numba.njit(cache=True, fastmath=_FAST, error_model="numpy")
def _gru_gate_bwd(gr, h_prev, dhr, dxr, u, act, rec_act):
    """dx's z block and candidate block of one row (the r block needs the candidate's recurrent term)."""
    gz, gh = gr[:u], gr[2 * u:]
    daz, dah = dxr[:u], dxr[2 * u:]
    for j in range(u):
        dah[j] = dhr[j] * (_ONE - gz[j])
    _dact_mul(dah, gh, act)
    for j in range(u):
        daz[j] = dhr[j] * (h_prev[j] - gh[j])
    _dact_mul(daz, gz, rec_act)


@numba.njit(cache=True, fastmath=_FAST, error_model="numpy")
def _gru_bwd_before(dhs, dhT, gates, hs, h0, UzrT, UhT, mask, act, rec_act, dx):
    N, T, G = gates.shape
    u = G // 3
    dh = dhT.copy()
    dah_t = np.empty((N, u), gates.dtype)
    dzr = np.empty((N, 2 * u), gates.dtype)
    for t in range(T - 1, -1, -1):
        for n in range(N):
            dhr, dxr = dh[n], dx[n, t]
            _add_inplace(dhr, dhs[n, t])
            if mask[n, t]:
                gr = gates[n, t]
                h_prev = hs[n, t - 1] if t > 0 else h0[n]
                _gru_gate_bwd(gr, h_prev, dhr, dxr, u, act, rec_act)
                _copy_row(dah_t[n], dxr[2 * u:])
                gz = gr[:u]
                for j in range(u):
                    dhr[j] *= gz[j]
            else:
                dxr[:] = 0
                dah_t[n] = 0
        drh = np.dot(dah_t, UhT)
        for n in range(N):
            dxr, dzrr = dx[n, t], dzr[n]
            if mask[n, t]:
                g_r = gates[n, t, u:2 * u]
                h_prev = hs[n, t - 1] if t > 0 else h0[n]
                dar, dhr, drr = dxr[u:2 * u], dh[n], drh[n]
                for j in range(u):
                    dar[j] = drr[j] * h_prev[j]
                _dact_mul(dar, g_r, rec_act)
                for j in range(u):
                    dhr[j] += drr[j] * g_r[j]
            _copy_row(dzrr, dxr[:2 * u])
        dh += np.dot(dzr, UzrT)
    return dh


# -- simple RNN -----------------------------------------------------------------------------------

@numba.njit(cache=True, fastmath=_FAST, error_model="numpy")
def _rnn_fwd(xw, h0, U, mask, act, hs):
    N, T, u = xw.shape
    h = h0.copy()
    for t in range(T):
        z = np.dot(h, U)
        for n in range(N):
            hr = h[n]
            if mask[n, t]:
                _add_rows(hr, xw[n, t], z[n])
                _act_inplace(hr, act)
            _copy_row(hs[n, t], hr)


@numba.njit(cache=True, fastmath=_FAST, error_model="numpy")
def _rnn_bwd(dhs, dhT, hs, UT, mask, act, dz):
    N, T, u = hs.shape
    dh = dhT.copy()
    dzt = np.empty((N, u), hs.dtype)
    for t in range(T - 1, -1, -1):
        for n in range(N):
            dhr, dzr = dh[n], dzt[n]
            _add_inplace(dhr, dhs[n, t])
            if mask[n, t]:
                _copy_row(dzr, dhr)
                _dact_mul(dzr, hs[n, t], act)
                dhr[:] = 0
            else:
                dzr[:] = 0
            _copy_row(dz[n, t], dzr)
        dh += np.dot(dzt, UT)
    return dh
