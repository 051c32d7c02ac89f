"""Fused recurrent scans: per time step one matmul and ONE elementwise kernel for all the gate math.

The array-code scans of backend/cuda/rnn.py launch a dozen small kernels per step; here each step's gate
arithmetic is one `Elementwise` (backend/cuda/elementwise.py) writing straight into the outputs' slices.
The drivers work on any array module and take the step kernels as arguments: backend/cuda/fused.py
passes the CuPy kernels, the CPU tests pass `spec.numpy_kernel()`, so the whole fused scan (slicing,
buffers, matmuls and the kernel text) is checked against rnn.py and the numba kernels without a GPU.
Same signatures and results as backend/cpu/rnn.py, plus the keyword-only step kernels.
"""
from tinydl.backend import array_module
from tinydl.backend.cuda.elementwise import Elementwise

LSTM_FWD_STEP = Elementwise(
    "T xi, T xf, T xg, T xo, T hi, T hf, T hg, T ho, T c_prev, T h_prev, bool keep, int64 act, int64 rec",
    "T gi, T gf, T gg, T go, T c, T h",
    """
    T in_gate = activate(xi + hi, rec);
    T forget = activate(xf + hf, rec);
    T cell = activate(xg + hg, act);
    T out_gate = activate(xo + ho, rec);
    T c_next = forget * c_prev + in_gate * cell;
    gi = in_gate;
    gf = forget;
    gg = cell;
    go = out_gate;
    c = choose(keep, c_next, c_prev);
    h = choose(keep, out_gate * activate(c_next, act), h_prev);
    """,
    "tinydl_lstm_fwd_step")

LSTM_BWD_STEP = Elementwise(
    "T dh_carry, T dh_mm, T dh_out, T dc, T gi, T gf, T gg, T go, T c, T c_prev, bool keep, int64 act, int64 rec",
    "T dzi, T dzf, T dzg, T dzo, T dc_next, T dh_next",
    """
    T zero = 0;
    T dh = dh_carry + dh_mm + dh_out;
    T ac = activate(c, act);
    T dct = dc + dh * go * activate_grad(ac, act);
    dzi = choose(keep, dct * gg * activate_grad(gi, rec), zero);
    dzf = choose(keep, dct * c_prev * activate_grad(gf, rec), zero);
    dzg = choose(keep, dct * gi * activate_grad(gg, act), zero);
    dzo = choose(keep, dh * ac * activate_grad(go, rec), zero);
    dc_next = choose(keep, dct * gf, dc);
    dh_next = choose(keep, zero, dh);
    """,
    "tinydl_lstm_bwd_step")

# reset_after=True (Keras's default): the recurrent matmul includes the candidate's part, reset applied after
GRU_FWD_STEP = Elementwise(
    "T xz, T xr, T xh, T rz, T rr, T rh, T bz, T br, T bh, T h_prev, bool keep, int64 act, int64 rec",
    "T gz, T gr, T gh, T a, T h",
    """
    T update = activate(xz + rz + bz, rec);
    T reset = activate(xr + rr + br, rec);
    T rec_h = rh + bh;
    T cand = activate(xh + reset * rec_h, act);
    gz = update;
    gr = reset;
    gh = cand;
    a = rec_h;
    h = choose(keep, update * h_prev + (1 - update) * cand, h_prev);
    """,
    "tinydl_gru_fwd_step")

GRU_BWD_STEP = Elementwise(
    "T dh_carry, T dh_mm, T dh_out, T gz, T gr, T gh, T a, T h_prev, bool keep, int64 act, int64 rec",
    "T dxz, T dxr, T dxh, T drz, T drr, T drh, T dh_next",
    """
    T zero = 0;
    T dh = dh_carry + dh_mm + dh_out;
    T dah = dh * (1 - gz) * activate_grad(gh, act);
    T daz = dh * (h_prev - gh) * activate_grad(gz, rec);
    T dar = dah * a * activate_grad(gr, rec);
    T kept_z = choose(keep, daz, zero);
    T kept_r = choose(keep, dar, zero);
    dxz = kept_z;
    dxr = kept_r;
    dxh = choose(keep, dah, zero);
    drz = kept_z;
    drr = kept_r;
    drh = choose(keep, dah * gr, zero);
    dh_next = choose(keep, dh * gz, dh);
    """,
    "tinydl_gru_bwd_step")

# reset_after=False: the reset gate scales h before the candidate's matmul, so a step is two kernels
GRU_FWD_GATES_STEP = Elementwise(
    "T xz, T xr, T rz, T rr, T h_prev, int64 rec", "T gz, T gr, T a",
    """
    T update = activate(xz + rz, rec);
    T reset = activate(xr + rr, rec);
    gz = update;
    gr = reset;
    a = reset * h_prev;
    """,
    "tinydl_gru_fwd_gates_step")

GRU_FWD_CANDIDATE_STEP = Elementwise(
    "T xh, T ah, T gz, T h_prev, bool keep, int64 act", "T gh, T h",
    """
    T cand = activate(xh + ah, act);
    gh = cand;
    h = choose(keep, gz * h_prev + (1 - gz) * cand, h_prev);
    """,
    "tinydl_gru_fwd_candidate_step")

GRU_BWD_CANDIDATE_STEP = Elementwise(
    "T dh_carry, T dh_mm, T dh_out, T gz, T gh, T h_prev, bool keep, int64 act, int64 rec",
    "T dxz, T dxh, T dh_total",
    """
    T zero = 0;
    T dh = dh_carry + dh_mm + dh_out;
    dxz = choose(keep, dh * (h_prev - gh) * activate_grad(gz, rec), zero);
    dxh = choose(keep, dh * (1 - gz) * activate_grad(gh, act), zero);
    dh_total = dh;
    """,
    "tinydl_gru_bwd_candidate_step")

GRU_BWD_RESET_STEP = Elementwise(
    "T drh, T dh_total, T gz, T gr, T h_prev, bool keep, int64 rec", "T dxr, T dh_next",
    """
    T zero = 0;
    dxr = choose(keep, drh * h_prev * activate_grad(gr, rec), zero);
    dh_next = choose(keep, dh_total * gz + drh * gr, dh_total);
    """,
    "tinydl_gru_bwd_reset_step")

SIMPLE_RNN_FWD_STEP = Elementwise(
    "T xw, T hu, T h_prev, bool keep, int64 act", "T h",
    "h = choose(keep, activate(xw + hu, act), h_prev)",
    "tinydl_simple_rnn_fwd_step")

SIMPLE_RNN_BWD_STEP = Elementwise(
    "T dh_carry, T dh_mm, T dh_out, T h, bool keep, int64 act", "T dz, T dh_next",
    """
    T zero = 0;
    T dh = dh_carry + dh_mm + dh_out;
    dz = choose(keep, dh * activate_grad(h, act), zero);
    dh_next = choose(keep, zero, dh);
    """,
    "tinydl_simple_rnn_bwd_step")

STEPS = (LSTM_FWD_STEP, LSTM_BWD_STEP, GRU_FWD_STEP, GRU_BWD_STEP, GRU_FWD_GATES_STEP, GRU_FWD_CANDIDATE_STEP,
         GRU_BWD_CANDIDATE_STEP, GRU_BWD_RESET_STEP, SIMPLE_RNN_FWD_STEP, SIMPLE_RNN_BWD_STEP)


def lstm_fwd(xw, h0, c0, U, mask, act, rec_act, *, step):
    """LSTM over all steps: (hs, cs, gates) as backend/cpu/rnn.py, one matmul + one `step` kernel per step."""
    xp = array_module(xw)
    N, T, G = xw.shape
    u = G // 4
    dt = xw.dtype
    hs, cs, gates = xp.empty((N, T, u), dt), xp.empty((N, T, u), dt), xp.empty((N, T, G), dt)
    h, c, U = h0.astype(dt), c0.astype(dt), U.astype(dt)
    keep = xp.asarray(mask, dtype=bool)[:, :, None]
    zh = xp.empty((N, G), dt)
    for t in range(T):
        xp.matmul(h, U, out=zh)
        step(*_quarters(xw[:, t]), *_quarters(zh), c, h, keep[:, t], act, rec_act,
             *_quarters(gates[:, t]), cs[:, t], hs[:, t])
        h, c = hs[:, t], cs[:, t]
    return hs, cs, gates


def lstm_bwd(dhs, dhT, dcT, gates, cs, c0, U, mask, act, rec_act, *, step):
    """BPTT through lstm_fwd: (dz, dh0, dc0) as backend/cpu/rnn.py, one kernel + one matmul per step."""
    xp = array_module(dhs)
    N, T, G = gates.shape
    u = G // 4
    dt = gates.dtype
    dz = xp.empty((N, T, G), dt)
    UT = xp.ascontiguousarray(U.T.astype(dt))
    keep = xp.asarray(mask, dtype=bool)[:, :, None]
    dh, dc = dhT.astype(dt), dcT.astype(dt)
    dh_mm = xp.zeros((N, u), dt)
    buffers = [(xp.empty((N, u), dt), xp.empty((N, u), dt)) for _ in range(2)]  # ping-pong: never alias in/out
    for t in range(T - 1, -1, -1):
        c_prev = cs[:, t - 1] if t > 0 else c0.astype(dt)
        dc_next, dh_next = buffers[t % 2]
        step(dh, dh_mm, dhs[:, t], dc, *_quarters(gates[:, t]), cs[:, t], c_prev, keep[:, t], act, rec_act,
             *_quarters(dz[:, t]), dc_next, dh_next)
        xp.matmul(dz[:, t], UT, out=dh_mm)
        dh, dc = dh_next, dc_next
    return dz, dh + dh_mm, dc.copy()


def gru_fwd(xw, h0, U, b_rec, mask, act, rec_act, reset_after, *, step, reset_before_steps):
    """GRU over all steps: (hs, gates, aux) as backend/cpu/rnn.py. reset_after=True: one matmul + `step` per
    step; reset_after=False: two matmuls and the two `reset_before_steps` kernels (gates, candidate)."""
    if not reset_after:
        return _gru_fwd_reset_before(xw, h0, U, mask, act, rec_act, *reset_before_steps)
    xp = array_module(xw)
    N, T, G = xw.shape
    u = G // 3
    dt = xw.dtype
    hs, gates, aux = xp.empty((N, T, u), dt), xp.empty((N, T, G), dt), xp.empty((N, T, u), dt)
    h, U, b_rec = h0.astype(dt), U.astype(dt), b_rec.astype(dt)
    keep = xp.asarray(mask, dtype=bool)[:, :, None]
    rec = xp.empty((N, G), dt)
    for t in range(T):
        xp.matmul(h, U, out=rec)
        step(*_thirds(xw[:, t]), *_thirds(rec), *_thirds(b_rec), h, keep[:, t], act, rec_act,
             *_thirds(gates[:, t]), aux[:, t], hs[:, t])
        h = hs[:, t]
    return hs, gates, aux


def gru_bwd(dhs, dhT, gates, aux, hs, h0, U, mask, act, rec_act, reset_after, *, step, reset_before_steps):
    """BPTT through gru_fwd: (dx, dh0) as backend/cpu/rnn.py, two kernels and two matmuls per step for
    reset_after=False (`reset_before_steps`: candidate, reset), one of each otherwise."""
    if not reset_after:
        return _gru_bwd_reset_before(dhs, dhT, gates, hs, h0, U, mask, act, rec_act, *reset_before_steps)
    xp = array_module(dhs)
    N, T, G = gates.shape
    u = G // 3
    dt = gates.dtype
    dx = xp.empty((N, T, G), dt)
    UT = xp.ascontiguousarray(U.T.astype(dt))
    keep = xp.asarray(mask, dtype=bool)[:, :, None]
    dh = dhT.astype(dt)
    dh_mm = xp.zeros((N, u), dt)
    drec = xp.empty((N, G), dt)  # the gradient of the recurrent pre-activations: dx with the candidate's * r
    buffers = [xp.empty((N, u), dt) for _ in range(2)]
    for t in range(T - 1, -1, -1):
        h_prev = hs[:, t - 1] if t > 0 else h0.astype(dt)
        dh_next = buffers[t % 2]
        step(dh, dh_mm, dhs[:, t], *_thirds(gates[:, t]), aux[:, t], h_prev, keep[:, t], act, rec_act,
             *_thirds(dx[:, t]), *_thirds(drec), dh_next)
        xp.matmul(drec, UT, out=dh_mm)
        dh = dh_next
    return dx, dh + dh_mm


def simple_rnn_fwd(xw, h0, U, mask, act, *, step):
    """Simple RNN over all steps: the states (N, T, u) as backend/cpu/rnn.py, one matmul + one kernel per step."""
    xp = array_module(xw)
    N, T, u = xw.shape
    dt = xw.dtype
    hs = xp.empty((N, T, u), dt)
    h, U = h0.astype(dt), U.astype(dt)
    keep = xp.asarray(mask, dtype=bool)[:, :, None]
    hu = xp.empty((N, u), dt)
    for t in range(T):
        xp.matmul(h, U, out=hu)
        step(xw[:, t], hu, h, keep[:, t], act, hs[:, t])
        h = hs[:, t]
    return hs


def simple_rnn_bwd(dhs, dhT, hs, h0, U, mask, act, *, step):
    """BPTT through simple_rnn_fwd: (dz, dh0) as backend/cpu/rnn.py, one kernel + one matmul per step."""
    xp = array_module(dhs)
    N, T, u = hs.shape
    dt = hs.dtype
    dz = xp.empty((N, T, u), dt)
    UT = xp.ascontiguousarray(U.T.astype(dt))
    keep = xp.asarray(mask, dtype=bool)[:, :, None]
    dh = dhT.astype(dt)
    dh_mm = xp.zeros((N, u), dt)
    buffers = [xp.empty((N, u), dt) for _ in range(2)]
    for t in range(T - 1, -1, -1):
        dh_next = buffers[t % 2]
        step(dh, dh_mm, dhs[:, t], hs[:, t], keep[:, t], act, dz[:, t], dh_next)
        xp.matmul(dz[:, t], UT, out=dh_mm)
        dh = dh_next
    return dz, dh + dh_mm


def _gru_fwd_reset_before(xw, h0, U, mask, act, rec_act, gates_step, candidate_step):
    """gru_fwd for reset_after=False: z, r and r*h in one kernel, the candidate and new state in another."""
    xp = array_module(xw)
    N, T, G = xw.shape
    u = G // 3
    dt = xw.dtype
    hs, gates, aux = xp.empty((N, T, u), dt), xp.empty((N, T, G), dt), xp.empty((N, T, u), dt)
    h, U = h0.astype(dt), U.astype(dt)
    U_zr, U_h = xp.ascontiguousarray(U[:, :2 * u]), xp.ascontiguousarray(U[:, 2 * u:])
    keep = xp.asarray(mask, dtype=bool)[:, :, None]
    rec, ah = xp.empty((N, 2 * u), dt), xp.empty((N, u), dt)
    for t in range(T):
        xz, xr, xh = _thirds(xw[:, t])
        gz, gr, gh = _thirds(gates[:, t])
        xp.matmul(h, U_zr, out=rec)
        gates_step(xz, xr, rec[:, :u], rec[:, u:], h, rec_act, gz, gr, aux[:, t])
        xp.matmul(aux[:, t], U_h, out=ah)
        candidate_step(xh, ah, gz, h, keep[:, t], act, gh, hs[:, t])
        h = hs[:, t]
    return hs, gates, aux


def _gru_bwd_reset_before(dhs, dhT, gates, hs, h0, U, mask, act, rec_act, candidate_step, reset_step):
    """gru_bwd for reset_after=False: the candidate's and update's gradients, the matmul through the
    candidate's weights, then the reset gate's gradient and the carried state gradient."""
    xp = array_module(dhs)
    N, T, G = gates.shape
    u = G // 3
    dt = gates.dtype
    dx = xp.empty((N, T, G), dt)
    UT = U.T.astype(dt)
    UT_zr, UT_h = xp.ascontiguousarray(UT[:2 * u]), xp.ascontiguousarray(UT[2 * u:])
    keep = xp.asarray(mask, dtype=bool)[:, :, None]
    dh = dhT.astype(dt)
    dh_mm, drh, dh_total = xp.zeros((N, u), dt), xp.empty((N, u), dt), xp.empty((N, u), dt)
    buffers = [xp.empty((N, u), dt) for _ in range(2)]
    for t in range(T - 1, -1, -1):
        h_prev = hs[:, t - 1] if t > 0 else h0.astype(dt)
        gz, gr, gh = _thirds(gates[:, t])
        dxz, dxr, dxh = _thirds(dx[:, t])
        dh_next = buffers[t % 2]
        candidate_step(dh, dh_mm, dhs[:, t], gz, gh, h_prev, keep[:, t], act, rec_act, dxz, dxh, dh_total)
        xp.matmul(dxh, UT_h, out=drh)
        reset_step(drh, dh_total, gz, gr, h_prev, keep[:, t], rec_act, dxr, dh_next)
        xp.matmul(dx[:, t, :2 * u], UT_zr, out=dh_mm)
        dh = dh_next
    return dx, dh + dh_mm


def _quarters(a):
    """The four gate blocks along the last axis (views)."""
    u = a.shape[-1] // 4
    return a[..., :u], a[..., u:2 * u], a[..., 2 * u:3 * u], a[..., 3 * u:]


def _thirds(a):
    """The three gate blocks along the last axis (views)."""
    u = a.shape[-1] // 3
    return a[..., :u], a[..., u:2 * u], a[..., 2 * u:]
