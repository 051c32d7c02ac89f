"""Recurrent cores: LSTM, GRU and simple-RNN scans over a whole sequence, with BPTT.

    seq, h, c = td.lstm(x, h0, c0, kernel, recurrent_kernel, bias, mask=mask)

Inputs are batch-major (N, T, F), weights in Keras's layouts (LSTM gates i, f, c, o; GRU z, r, h).
With the usual activations (tanh, sigmoid, relu, hard_sigmoid, linear) one op runs the whole time
loop in a fused kernel (numba on cpu, cupy on cuda); the input projection of every step is one GEMM
before the loop and the weight gradients are GEMMs after it. Other activations, or a recurrent
dropout mask, take a step-by-step path built from tinydl's own ops (same results, slower).

Masks are bool (N, T): a masked step carries the state through unchanged (Keras semantics), and its
output is the carried state, or zeros with `zero_output_for_mask=True`. With `go_backwards=True`
the sequence is read last step first and the output sequence comes out in that reversed order.
"""
from tinydl.autograd import Function
from tinydl.backend import array_module, kernel
from tinydl.backend.kernels import ACTIVATION_CODES
from tinydl.ops import nn
from tinydl.ops.math import where
from tinydl.ops.shape import reshape, split, stack
from tinydl.tensor import Tensor, as_tensor

__all__ = ["lstm", "gru", "simple_rnn"]


def lstm(x, h0, c0, kernel, recurrent_kernel, bias=None, mask=None, go_backwards=False,
         activation="tanh", recurrent_activation="sigmoid", zero_output_for_mask=False,
         recurrent_dropout_mask=None):
    """An LSTM over a whole sequence: (sequence (N, T, u), h_T (N, u), c_T (N, u)).

    kernel (F, 4u), recurrent_kernel (u, 4u), bias (4u,) with gates i, f, c, o as Keras.
    `recurrent_dropout_mask` (N, u) multiplies h_{t-1} before the recurrent matmul.
    """
    x, h0, c0, kernel_, rk = (_tensor(a) for a in (x, h0, c0, kernel, recurrent_kernel))
    u = rk.shape[0]
    _check("lstm", x, kernel_, rk, 4, u, bias, (4 * u,), h0=h0, c0=c0)
    bias = _bias(bias, 4 * u, x)
    mask = _mask("lstm", mask, x)
    act, rec = _code(activation), _code(recurrent_activation)
    if act is None or rec is None or recurrent_dropout_mask is not None:
        return _lstm_steps(x, h0, c0, kernel_, rk, bias, mask, go_backwards, _fn(activation),
                           _fn(recurrent_activation), zero_output_for_mask, recurrent_dropout_mask)
    return LSTMScan(mask=mask, go_backwards=bool(go_backwards), act=act, rec_act=rec,
                    zero_output=bool(zero_output_for_mask))(x, h0, c0, kernel_, rk, bias)


def gru(x, h0, kernel, recurrent_kernel, bias=None, mask=None, go_backwards=False, activation="tanh",
        recurrent_activation="sigmoid", reset_after=True, zero_output_for_mask=False,
        recurrent_dropout_mask=None):
    """A GRU over a whole sequence: (sequence (N, T, u), h_T (N, u)).

    kernel (F, 3u), recurrent_kernel (u, 3u), gates z, r, h as Keras, `h = z*h_prev + (1-z)*hh`.
    reset_after=True: bias (2, 3u) = input bias and recurrent bias, `hh = act(x_h + r*(h_prev U_h + b_rh))`;
    reset_after=False: bias (3u,), `hh = act(x_h + (r*h_prev) U_h)`.
    """
    x, h0, kernel_, rk = (_tensor(a) for a in (x, h0, kernel, recurrent_kernel))
    u = rk.shape[0]
    bshape = (2, 3 * u) if reset_after else (3 * u,)
    _check("gru", x, kernel_, rk, 3, u, bias, bshape, h0=h0)
    if bias is None:
        bias = Tensor._wrap(array_module(x.data).zeros(bshape, x.dtype), False)
    bias = _tensor(bias)
    mask = _mask("gru", mask, x)
    act, rec = _code(activation), _code(recurrent_activation)
    if act is None or rec is None or recurrent_dropout_mask is not None:
        return _gru_steps(x, h0, kernel_, rk, bias, mask, go_backwards, _fn(activation),
                          _fn(recurrent_activation), bool(reset_after), zero_output_for_mask,
                          recurrent_dropout_mask)
    return GRUScan(mask=mask, go_backwards=bool(go_backwards), act=act, rec_act=rec, reset_after=bool(reset_after),
                   zero_output=bool(zero_output_for_mask))(x, h0, kernel_, rk, bias)


def simple_rnn(x, h0, kernel, recurrent_kernel, bias=None, mask=None, go_backwards=False,
               activation="tanh", zero_output_for_mask=False, recurrent_dropout_mask=None):
    """A fully connected RNN over a whole sequence, `h_t = act(x_t W + h_{t-1} U + b)`: (sequence, h_T)."""
    x, h0, kernel_, rk = (_tensor(a) for a in (x, h0, kernel, recurrent_kernel))
    u = rk.shape[0]
    _check("simple_rnn", x, kernel_, rk, 1, u, bias, (u,), h0=h0)
    bias = _bias(bias, u, x)
    mask = _mask("simple_rnn", mask, x)
    act = _code(activation)
    if act is None or recurrent_dropout_mask is not None:
        return _rnn_steps(x, h0, kernel_, rk, bias, mask, go_backwards, _fn(activation),
                          zero_output_for_mask, recurrent_dropout_mask)
    return RNNScan(mask=mask, go_backwards=bool(go_backwards), act=act,
                   zero_output=bool(zero_output_for_mask))(x, h0, kernel_, rk, bias)


# -- the fused ops --------------------------------------------------------------------------------

class _Scan(Function):
    """Shared plumbing: time reversal, the up-front input GEMM and the after-loop weight GEMMs."""

    def _prepare(self, x, W, b_in):
        xp = array_module(x)
        N, T, F = x.shape
        xs = x[:, ::-1] if self.go_backwards else x
        self.xs = xp.ascontiguousarray(xs).reshape(N * T, F)
        mask = self.mask
        if mask is None:
            mask = xp.ones((N, T), dtype=bool)
        elif self.go_backwards:
            mask = mask[:, ::-1]
        self.m = xp.ascontiguousarray(mask)
        xw = self.xs @ W
        if xp.result_type(xw, b_in) == xw.dtype:
            xw += b_in  # in place: one (N*T, gates) array fewer to allocate and write
        else:
            xw = xw + b_in
        return xw.reshape(N, T, -1)

    def _output(self, hs):
        if self.zero_output and self.mask is not None:
            return hs * self.m[..., None]
        return hs

    def _state_grads(self, gy):
        if self.zero_output and self.mask is not None:
            return gy * self.m[..., None]
        return gy

    def _input_grads(self, dz, W):
        """dx (in the caller's time order), dW and db from the pre-activation gradients dz (N, T, G)."""
        N, T, G = dz.shape
        dz2 = dz.reshape(N * T, G)
        dx = dw = None
        if self.needs_grad[0]:
            dx = (dz2 @ W.T).reshape(N, T, -1)
            if self.go_backwards:
                dx = dx[:, ::-1]
        if self.needs_grad[self.w_index]:
            dw = self.xs.T @ dz2
        return dx, dw, dz2.sum(axis=0)

    def _h_prev(self, h0, hs):
        """h_{t-1} for every step, flattened to (N*T, u)."""
        xp = array_module(hs)
        N, T, u = hs.shape
        return xp.concatenate([h0[:, None, :].astype(hs.dtype), hs[:, :-1]], axis=1).reshape(N * T, u)


class LSTMScan(_Scan):
    w_index = 3

    def __init__(self, mask, go_backwards, act, rec_act, zero_output):
        self.mask, self.go_backwards, self.zero_output = mask, go_backwards, zero_output
        self.act, self.rec_act = act, rec_act

    def forward(self, x, h0, c0, W, U, b):
        xw = self._prepare(x, W, b)
        hs, cs, gates = kernel("lstm_fwd", x)(xw, h0, c0, U, self.m, self.act, self.rec_act)
        self.h0, self.c0, self.W, self.U, self.hs, self.cs, self.gates = h0, c0, W, U, hs, cs, gates
        return self._output(hs), hs[:, -1].copy(), cs[:, -1].copy()

    def backward(self, gy, gh, gc):
        dz, dh0, dc0 = kernel("lstm_bwd", gy)(self._state_grads(gy), gh, gc, self.gates, self.cs, self.c0,
                                             self.U, self.m, self.act, self.rec_act)
        dx, dw, db = self._input_grads(dz, self.W)
        du = None
        if self.needs_grad[4]:
            N, T, G = dz.shape
            du = self._h_prev(self.h0, self.hs).T @ dz.reshape(N * T, G)
        return dx, dh0, dc0, dw, du, db


class GRUScan(_Scan):
    w_index = 2

    def __init__(self, mask, go_backwards, act, rec_act, reset_after, zero_output):
        self.mask, self.go_backwards, self.zero_output = mask, go_backwards, zero_output
        self.act, self.rec_act, self.reset_after = act, rec_act, reset_after

    def forward(self, x, h0, W, U, b):
        if self.reset_after:
            b_in, b_rec = b[0], b[1]
        else:
            b_in, b_rec = b, array_module(b).zeros_like(b)
        xw = self._prepare(x, W, b_in)
        hs, gates, aux = kernel("gru_fwd", x)(xw, h0, U, b_rec, self.m, self.act, self.rec_act,
                                              self.reset_after)
        self.h0, self.W, self.U, self.hs, self.gates, self.aux = h0, W, U, hs, gates, aux
        return self._output(hs), hs[:, -1].copy()

    def backward(self, gy, gh):
        xp = array_module(gy)
        dxz, dh0 = kernel("gru_bwd", gy)(self._state_grads(gy), gh, self.gates, self.aux, self.hs, self.h0,
                                         self.U, self.m, self.act, self.rec_act, self.reset_after)
        dx, dw, db_in = self._input_grads(dxz, self.W)
        N, T, G = dxz.shape
        u = G // 3
        dz2 = dxz.reshape(N * T, G)
        if self.reset_after:
            drec = dz2.copy()
            drec[:, 2 * u:] *= self.gates.reshape(N * T, G)[:, u:2 * u]
            du = self._h_prev(self.h0, self.hs).T @ drec if self.needs_grad[3] else None
            db = xp.stack([db_in, drec.sum(axis=0)])
        else:
            du = None
            if self.needs_grad[3]:
                du = xp.concatenate([self._h_prev(self.h0, self.hs).T @ dz2[:, :2 * u],
                                     self.aux.reshape(N * T, u).T @ dz2[:, 2 * u:]], axis=1)
            db = db_in
        return dx, dh0, dw, du, db


class RNNScan(_Scan):
    w_index = 2

    def __init__(self, mask, go_backwards, act, zero_output):
        self.mask, self.go_backwards, self.act, self.zero_output = mask, go_backwards, act, zero_output

    def forward(self, x, h0, W, U, b):
        xw = self._prepare(x, W, b)
        hs = kernel("simple_rnn_fwd", x)(xw, h0, U, self.m, self.act)
        self.h0, self.W, self.U, self.hs = h0, W, U, hs
        return self._output(hs), hs[:, -1].copy()

    def backward(self, gy, gh):
        dz, dh0 = kernel("simple_rnn_bwd", gy)(self._state_grads(gy), gh, self.hs, self.h0, self.U, self.m,
                                               self.act)
        dx, dw, db = self._input_grads(dz, self.W)
        du = None
        if self.needs_grad[3]:
            N, T, u = dz.shape
            du = self._h_prev(self.h0, self.hs).T @ dz.reshape(N * T, u)
        return dx, dh0, dw, du, db


# -- the step-by-step path (any activation, recurrent dropout) ------------------------------------

def _steps(x, mask, go_backwards):
    """The per-step slices of x (N, F) in processing order, with their (N, 1) bool masks or None."""
    N, T = x.shape[0], x.shape[1]
    parts = [reshape(p, (N, x.shape[2])) for p in split(x, T, axis=1)]
    masks = [None] * T if mask is None else [mask[:, t:t + 1] for t in range(T)]
    order = range(T - 1, -1, -1) if go_backwards else range(T)
    return [(parts[t], masks[t]) for t in order]


def _carry(m, new, old, zero_output):
    """(state, output) of a step: the new state where the mask holds, else the old one carried."""
    if m is None:
        return new, new
    state = where(m, new, old)
    out = where(m, new, 0.0) if zero_output else state
    return state, out


def _lstm_steps(x, h, c, W, U, b, mask, go_backwards, act, rec, zero_output, rec_scale):
    outs = []
    for xw, m in _steps(x @ W + b, mask, go_backwards):
        hd = h if rec_scale is None else h * rec_scale
        zi, zf, zg, zo = split(xw + hd @ U, 4, axis=1)
        i, f, g, o = rec(zi), rec(zf), act(zg), rec(zo)
        cn = f * c + i * g
        hn = o * act(cn)
        c, _ = _carry(m, cn, c, zero_output)
        h, out = _carry(m, hn, h, zero_output)
        outs.append(out)
    return stack(outs, axis=1), h, c


def _gru_steps(x, h, W, U, b, mask, go_backwards, act, rec, reset_after, zero_output, rec_scale):
    u = U.shape[0]
    b_in, b_rec = (b[0], b[1]) if reset_after else (b, None)
    uzr, uh = split(U, [2 * u], axis=1)
    outs = []
    for xw, m in _steps(x @ W + b_in, mask, go_backwards):
        hd = h if rec_scale is None else h * rec_scale
        xz, xr, xh = split(xw, 3, axis=1)
        if reset_after:
            rz, rr, rh = split(hd @ U + b_rec, 3, axis=1)
            z, r = rec(xz + rz), rec(xr + rr)
            hh = act(xh + r * rh)
        else:
            rz, rr = split(hd @ uzr, 2, axis=1)
            z, r = rec(xz + rz), rec(xr + rr)
            hh = act(xh + (r * hd) @ uh)
        hn = z * h + (1 - z) * hh
        h, out = _carry(m, hn, h, zero_output)
        outs.append(out)
    return stack(outs, axis=1), h


def _rnn_steps(x, h, W, U, b, mask, go_backwards, act, zero_output, rec_scale):
    outs = []
    for xw, m in _steps(x @ W + b, mask, go_backwards):
        hd = h if rec_scale is None else h * rec_scale
        h, out = _carry(m, act(xw + hd @ U), h, zero_output)
        outs.append(out)
    return stack(outs, axis=1), h


# -- argument checks and activation lookup --------------------------------------------------------

def _tensor(a):
    return a if isinstance(a, Tensor) else as_tensor(a)


def _bias(bias, n, like):
    if bias is None:
        return Tensor._wrap(array_module(like.data).zeros((n,), like.dtype), False)
    return _tensor(bias)


def _check(name, x, W, U, gates, u, bias, bias_shape, **states):
    """Clear errors for shapes that do not fit together."""
    if x.ndim != 3:
        raise ValueError(f"{name}: expected input of shape (batch, timesteps, features), got {tuple(x.shape)}")
    if x.shape[1] == 0:
        raise ValueError(f"{name}: the input has no time steps (shape {tuple(x.shape)}); a scan needs at least one")
    if U.shape != (u, gates * u):
        raise ValueError(f"{name}: recurrent_kernel must be (units, {gates}*units), got {tuple(U.shape)}")
    if W.shape != (x.shape[2], gates * u):
        raise ValueError(f"{name}: kernel must be ({x.shape[2]}, {gates * u}) for input {tuple(x.shape)}, "
                         f"got {tuple(W.shape)}")
    if bias is not None and tuple(bias.shape) != bias_shape:
        raise ValueError(f"{name}: bias must be {bias_shape}, got {tuple(bias.shape)}")
    for key, s in states.items():
        if tuple(s.shape) != (x.shape[0], u):
            raise ValueError(f"{name}: initial state {key} must be (batch, units) = {(x.shape[0], u)}, "
                             f"got {tuple(s.shape)}")


def _mask(name, mask, x):
    """The mask as a bool array (N, T), or None."""
    if mask is None:
        return None
    m = mask.data if isinstance(mask, Tensor) else mask
    xp = array_module(x.data)
    m = xp.asarray(m)
    if m.shape != x.shape[:2]:
        raise ValueError(f"{name}: mask must be (batch, timesteps) = {tuple(x.shape[:2])}, got {tuple(m.shape)}")
    return m.astype(bool) if m.dtype != bool else m


def _code(activation):
    """The fused kernels' code for an activation, or None when only the step-by-step path has it."""
    if activation is None:
        return ACTIVATION_CODES["linear"]
    if isinstance(activation, str):
        return ACTIVATION_CODES.get(activation)
    name = getattr(activation, "__name__", None)
    module = getattr(activation, "__module__", "") or ""
    if module.startswith("tinydl.") and name in ACTIVATION_CODES:
        return ACTIVATION_CODES[name]
    return None


def _fn(activation):
    """An activation as a function of Tensors: a callable, or the name of an op in tinydl.ops.nn."""
    if callable(activation):
        return activation
    if activation is None or activation == "linear":
        return lambda t: t
    fn = getattr(nn, activation, None) if activation in nn.__all__ else None
    if fn is None:  # names of tinydl.activations (a floor above ops) are resolved by the layers
        raise ValueError(f"unknown activation {activation!r}: pass a function or one of {sorted(nn.__all__)}")
    return fn
