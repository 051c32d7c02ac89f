"""Recurrent scans as array code: the GPU path (CuPy arrays) and the readable reference (NumPy arrays)
of backend/cpu/rnn.py, with the same names, signatures and results.

One step at a time: the recurrent matmul per step (cuBLAS on the GPU) and the gate arithmetic as a few
elementwise calls. Every function works on the array module of its input (`xp`), so the numba kernels
are tested against this file on every CPU run (tests/test_kernel_twins.py).
Activations are int codes (backend.kernels.ACTIVATION_CODES).
"""
from tinydl.backend import array_module


def lstm_fwd(xw, h0, c0, U, mask, act, rec_act):
    """LSTM over all steps: (hs, cs, gates) = states h_t, c_t (N, T, u) and activated gates (N, T, 4u)."""
    xp = array_module(xw)
    N, T, G = xw.shape
    u = G // 4
    dt = xw.dtype
    hs = xp.empty((N, T, u), dt)
    cs = xp.empty((N, T, u), dt)
    gates = xp.empty((N, T, G), dt)
    h, c, U = h0.astype(dt), c0.astype(dt), U.astype(dt)
    keep = xp.asarray(mask, dtype=bool)[:, :, None]
    for t in range(T):
        z = xw[:, t] + h @ U
        i, f = _act(z[:, :u], rec_act), _act(z[:, u:2 * u], rec_act)
        g, o = _act(z[:, 2 * u:3 * u], act), _act(z[:, 3 * u:], rec_act)
        gates[:, t] = xp.concatenate([i, f, g, o], axis=1)
        cn = f * c + i * g
        hn = o * _act(cn, act)
        c = xp.where(keep[:, t], cn, c)
        h = xp.where(keep[:, t], hn, h)
        cs[:, t] = c
        hs[:, t] = h
    return hs, cs, gates


def lstm_bwd(dhs, dhT, dcT, gates, cs, c0, U, mask, act, rec_act):
    """BPTT through lstm_fwd: (dz, dh0, dc0), dz the gradient of the gates' pre-activations (N, T, 4u)."""
    xp = array_module(dhs)
    N, T, G = gates.shape
    u = G // 4
    dt = gates.dtype
    dz = xp.empty((N, T, G), dt)
    UT = xp.ascontiguousarray(U.T.astype(dt))
    dh, dc = dhT.astype(dt), dcT.astype(dt)
    keep = xp.asarray(mask, dtype=bool)[:, :, None]
    for t in range(T - 1, -1, -1):
        k = keep[:, t]
        dht = dh + dhs[:, t]
        i, f, g, o = (gates[:, t, s * u:(s + 1) * u] for s in range(4))
        c_prev = cs[:, t - 1] if t > 0 else c0.astype(dt)
        ac = _act(cs[:, t], act)
        dct = dc + dht * o * _dact(ac, act)
        dzt = xp.concatenate([dct * g * _dact(i, rec_act), dct * c_prev * _dact(f, rec_act),
                              dct * i * _dact(g, act), dht * ac * _dact(o, rec_act)], axis=1)
        dzt = xp.where(k, dzt, 0)
        dz[:, t] = dzt
        dc = xp.where(k, dct * f, dc)
        dh = xp.where(k, 0, dht) + dzt @ UT
    return dz, dh, dc


def gru_fwd(xw, h0, U, b_rec, mask, act, rec_act, reset_after):
    """GRU over all steps: (hs, gates, aux), as the cpu kernel."""
    xp = array_module(xw)
    N, T, G = xw.shape
    u = G // 3
    dt = xw.dtype
    hs = xp.empty((N, T, u), dt)
    gates = xp.empty((N, T, G), dt)
    aux = xp.empty((N, T, u), dt)
    h, U, b_rec = h0.astype(dt), U.astype(dt), b_rec.astype(dt)
    keep = xp.asarray(mask, dtype=bool)[:, :, None]
    for t in range(T):
        x = xw[:, t]
        if reset_after:
            rec = h @ U + b_rec
            z = _act(x[:, :u] + rec[:, :u], rec_act)
            r = _act(x[:, u:2 * u] + rec[:, u:2 * u], rec_act)
            a = rec[:, 2 * u:]
            hh = _act(x[:, 2 * u:] + r * a, act)
        else:
            rec = h @ U[:, :2 * u]
            z = _act(x[:, :u] + rec[:, :u], rec_act)
            r = _act(x[:, u:2 * u] + rec[:, u:], rec_act)
            a = r * h
            hh = _act(x[:, 2 * u:] + a @ U[:, 2 * u:], act)
        gates[:, t] = xp.concatenate([z, r, hh], axis=1)
        aux[:, t] = a
        h = xp.where(keep[:, t], z * h + (1 - z) * hh, h)
        hs[:, t] = h
    return hs, gates, aux


def gru_bwd(dhs, dhT, gates, aux, hs, h0, U, mask, act, rec_act, reset_after):
    """BPTT through gru_fwd: (dx, dh0), as the cpu kernel."""
    xp = array_module(dhs)
    N, T, G = gates.shape
    u = G // 3
    dt = gates.dtype
    dx = xp.empty((N, T, G), dt)
    U = U.astype(dt)
    UT = xp.ascontiguousarray(U.T)
    dh = dhT.astype(dt)
    keep = xp.asarray(mask, dtype=bool)[:, :, None]
    for t in range(T - 1, -1, -1):
        k = keep[:, t]
        dht = dh + dhs[:, t]
        z, r, hh = (gates[:, t, s * u:(s + 1) * u] for s in range(3))
        h_prev = hs[:, t - 1] if t > 0 else h0.astype(dt)
        dah = dht * (1 - z) * _dact(hh, act)
        daz = dht * (h_prev - hh) * _dact(z, rec_act)
        if reset_after:
            dar = dah * aux[:, t] * _dact(r, rec_act)
            dxt = xp.where(k, xp.concatenate([daz, dar, dah], axis=1), 0)
            drec = xp.concatenate([dxt[:, :2 * u], dxt[:, 2 * u:] * r], axis=1)
            dh = xp.where(k, dht * z, dht) + drec @ UT
        else:
            dah = xp.where(k, dah, 0)
            drh = dah @ UT[2 * u:]
            dar = drh * h_prev * _dact(r, rec_act)
            dxt = xp.where(k, xp.concatenate([daz, dar, dah], axis=1), 0)
            dh = xp.where(k, dht * z + drh * r, dht) + dxt[:, :2 * u] @ UT[:2 * u]
        dx[:, t] = dxt
    return dx, dh


def simple_rnn_fwd(xw, h0, U, mask, act):
    """Simple RNN over all steps: the states h_t (N, T, u)."""
    xp = array_module(xw)
    N, T, u = xw.shape
    hs = xp.empty((N, T, u), xw.dtype)
    h, U = h0.astype(xw.dtype), U.astype(xw.dtype)
    keep = xp.asarray(mask, dtype=bool)[:, :, None]
    for t in range(T):
        h = xp.where(keep[:, t], _act(xw[:, t] + h @ U, act), h)
        hs[:, t] = h
    return hs


def simple_rnn_bwd(dhs, dhT, hs, h0, U, mask, act):
    """BPTT through simple_rnn_fwd: (dz, dh0)."""
    xp = array_module(dhs)
    N, T, u = hs.shape
    dt = hs.dtype
    dz = xp.empty((N, T, u), dt)
    UT = xp.ascontiguousarray(U.T.astype(dt))
    dh = dhT.astype(dt)
    keep = xp.asarray(mask, dtype=bool)[:, :, None]
    for t in range(T - 1, -1, -1):
        k = keep[:, t]
        dht = dh + dhs[:, t]
        dzt = xp.where(k, dht * _dact(hs[:, t], act), 0)
        dz[:, t] = dzt
        dh = xp.where(k, 0, dht) + dzt @ UT
    return dz, dh


def _act(x, code):
    """Activation by code (backend.kernels.ACTIVATION_CODES)."""
    xp = array_module(x)
    if code == 1:
        return xp.tanh(x)
    if code == 2:
        return 0.5 * (1 + xp.tanh(0.5 * x))
    if code == 3:
        return xp.maximum(x, 0)
    if code == 4:
        return xp.clip(x / 6 + 0.5, 0, 1)
    return x


def _dact(y, code):
    """The activation's derivative from its output y."""
    xp = array_module(y)
    if code == 1:
        return 1 - y * y
    if code == 2:
        return y * (1 - y)
    if code == 3:
        return (y > 0).astype(y.dtype)
    if code == 4:
        return ((y > 0) & (y < 1)).astype(y.dtype) / 6
    return xp.ones_like(y)
