"""The fused recurrent scans against a plain step-by-step float64 reference written here from tinydl's
elementwise ops (one getitem, matmul, sigmoid, tanh and where per step, Keras's gate equations).

Hypothesis draws sizes, lengths, masks (all-masked rows included), directions and zero-output mode;
values and the gradients of every input (through the sequence and the final states) must agree.
The array-code twins (backend/cuda/rnn.py) are checked against the numba kernels in tests/test_kernel_twins.py.
"""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import tinydl as td

SETTINGS = settings(max_examples=20, deadline=None, database=None)


# -- the reference: Keras's equations, one step at a time -------------------------------------------

def _mask_step(mask, t):
    return None if mask is None else mask[:, t:t + 1]


def _advance(keep, new, old):
    return new if keep is None else td.where(keep, new, old)


def _emit(keep, new, state, zero_output):
    if keep is None:
        return state
    return td.where(keep, new, 0.0) if zero_output else state


def ref_lstm(x, h, c, W, U, b, mask=None, go_backwards=False, zero_output=False):
    u = U.shape[0]
    order = range(x.shape[1] - 1, -1, -1) if go_backwards else range(x.shape[1])
    outs = []
    for t in order:
        xt = x[:, t, :]
        gate = [xt @ W[:, k * u:(k + 1) * u] + h @ U[:, k * u:(k + 1) * u] + b[k * u:(k + 1) * u] for k in range(4)]
        i, f, g, o = td.sigmoid(gate[0]), td.sigmoid(gate[1]), td.tanh(gate[2]), td.sigmoid(gate[3])
        c_new = f * c + i * g
        h_new = o * td.tanh(c_new)
        keep = _mask_step(mask, t)
        c = _advance(keep, c_new, c)
        h = _advance(keep, h_new, h)
        outs.append(_emit(keep, h_new, h, zero_output))
    return td.stack(outs, axis=1), h, c


def ref_gru(x, h, W, U, b, mask=None, go_backwards=False, zero_output=False, reset_after=True):
    u = U.shape[0]
    order = range(x.shape[1] - 1, -1, -1) if go_backwards else range(x.shape[1])
    b_in, b_rec = (b[0], b[1]) if reset_after else (b, None)
    outs = []
    for t in order:
        xt = x[:, t, :]
        xz, xr, xh = (xt @ W[:, k * u:(k + 1) * u] + b_in[k * u:(k + 1) * u] for k in range(3))
        if reset_after:
            hz, hr, hh_rec = (h @ U[:, k * u:(k + 1) * u] + b_rec[k * u:(k + 1) * u] for k in range(3))
            z, r = td.sigmoid(xz + hz), td.sigmoid(xr + hr)
            hh = td.tanh(xh + r * hh_rec)
        else:
            z = td.sigmoid(xz + h @ U[:, :u])
            r = td.sigmoid(xr + h @ U[:, u:2 * u])
            hh = td.tanh(xh + (r * h) @ U[:, 2 * u:])
        h_new = z * h + (1 - z) * hh
        keep = _mask_step(mask, t)
        h = _advance(keep, h_new, h)
        outs.append(_emit(keep, h_new, h, zero_output))
    return td.stack(outs, axis=1), h


def ref_rnn(x, h, W, U, b, mask=None, go_backwards=False, zero_output=False):
    order = range(x.shape[1] - 1, -1, -1) if go_backwards else range(x.shape[1])
    outs = []
    for t in order:
        h_new = td.tanh(x[:, t, :] @ W + h @ U + b)
        keep = _mask_step(mask, t)
        h = _advance(keep, h_new, h)
        outs.append(_emit(keep, h_new, h, zero_output))
    return td.stack(outs, axis=1), h


# -- drawing problems ---------------------------------------------------------------------------------

@st.composite
def problems(draw, gates, states, bias=None):
    n, t, f, u = draw(st.integers(1, 3)), draw(st.integers(1, 6)), draw(st.integers(1, 3)), draw(st.integers(1, 4))
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    bias_shape = bias(u) if bias else (gates * u,)
    arrays = [rng.uniform(-1.5, 1.5, (n, t, f))] + [rng.uniform(-1, 1, (n, u)) for _ in range(states)]
    arrays += [rng.uniform(-1, 1, (f, gates * u)), rng.uniform(-1, 1, (u, gates * u)), rng.uniform(-1, 1, bias_shape)]
    mask = draw(st.one_of(st.none(), st.just(rng.random((n, t)) < 0.6), st.just(np.zeros((n, t), bool))))
    options = {"go_backwards": draw(st.booleans()), "zero_output": draw(st.booleans())}
    return arrays, mask, options


def _compare(fused, reference, arrays):
    """Same values, and the same gradients of a random projection of all outputs, for every input."""
    results = []
    for fn in (fused, reference):
        tensors = [td.tensor(a, requires_grad=True) for a in arrays]
        outs = fn(*tensors)
        rng = np.random.default_rng(1)
        loss = sum((o * td.tensor(rng.standard_normal(o.shape))).sum() for o in outs)
        loss.backward()
        results.append(([o.numpy() for o in outs], [t.grad.numpy() for t in tensors]))
    (out_f, grad_f), (out_r, grad_r) = results
    for a, b in zip(out_f, out_r):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    for a, b in zip(grad_f, grad_r):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-11)


@SETTINGS
@given(problems(4, 2))
def test_lstm_matches_step_by_step_reference(problem):
    arrays, mask, opt = problem
    _compare(lambda *a: td.lstm(*a, mask=mask, go_backwards=opt["go_backwards"],
                                zero_output_for_mask=opt["zero_output"]),
             lambda *a: ref_lstm(*a, mask=mask, go_backwards=opt["go_backwards"], zero_output=opt["zero_output"]),
             arrays)


@SETTINGS
@given(problems(3, 1, lambda u: (2, 3 * u)))
def test_gru_reset_after_matches_step_by_step_reference(problem):
    arrays, mask, opt = problem
    _compare(lambda *a: td.gru(*a, mask=mask, go_backwards=opt["go_backwards"],
                               zero_output_for_mask=opt["zero_output"]),
             lambda *a: ref_gru(*a, mask=mask, go_backwards=opt["go_backwards"], zero_output=opt["zero_output"]),
             arrays)


@SETTINGS
@given(problems(3, 1, lambda u: (3 * u,)))
def test_gru_reset_before_matches_step_by_step_reference(problem):
    arrays, mask, opt = problem
    _compare(lambda *a: td.gru(*a, mask=mask, go_backwards=opt["go_backwards"], reset_after=False,
                               zero_output_for_mask=opt["zero_output"]),
             lambda *a: ref_gru(*a, mask=mask, go_backwards=opt["go_backwards"], zero_output=opt["zero_output"],
                                reset_after=False),
             arrays)


@SETTINGS
@given(problems(1, 1))
def test_simple_rnn_matches_step_by_step_reference(problem):
    arrays, mask, opt = problem
    _compare(lambda *a: td.simple_rnn(*a, mask=mask, go_backwards=opt["go_backwards"],
                                      zero_output_for_mask=opt["zero_output"]),
             lambda *a: ref_rnn(*a, mask=mask, go_backwards=opt["go_backwards"], zero_output=opt["zero_output"]),
             arrays)


def test_masked_step_carries_the_state_and_repeats_the_output():
    rng = np.random.default_rng(0)
    x, h0, c0 = rng.standard_normal((1, 3, 2)), rng.standard_normal((1, 2)), rng.standard_normal((1, 2))
    W, U, b = rng.standard_normal((2, 8)), rng.standard_normal((2, 8)), rng.standard_normal(8)
    mask = np.array([[True, False, True]])
    seq, h, c = td.lstm(x, h0, c0, W, U, b, mask=mask)
    np.testing.assert_array_equal(seq.numpy()[0, 1], seq.numpy()[0, 0])
    zero_seq, _, _ = td.lstm(x, h0, c0, W, U, b, mask=mask, zero_output_for_mask=True)
    np.testing.assert_array_equal(zero_seq.numpy()[0, 1], 0)
    # dropping the masked step from the sequence altogether gives the same final state
    seq2, h2, c2 = td.lstm(x[:, [0, 2]], h0, c0, W, U, b)
    np.testing.assert_allclose(h.numpy(), h2.numpy(), rtol=1e-12)
    np.testing.assert_allclose(c.numpy(), c2.numpy(), rtol=1e-12)


def test_go_backwards_reads_last_step_first_and_returns_reversed_sequence():
    rng = np.random.default_rng(1)
    x, h0 = rng.standard_normal((2, 4, 3)), np.zeros((2, 5))
    W, U, b = rng.standard_normal((3, 15)), rng.standard_normal((5, 15)), rng.standard_normal((2, 15))
    back, hb = td.gru(x, h0, W, U, b, go_backwards=True)
    fwd, hf = td.gru(x[:, ::-1].copy(), h0, W, U, b)
    np.testing.assert_allclose(back.numpy(), fwd.numpy(), rtol=1e-12)
    np.testing.assert_allclose(hb.numpy(), hf.numpy(), rtol=1e-12)


@pytest.mark.parametrize("scan", ["lstm", "gru", "simple_rnn"])
def test_float32_agrees_with_float64(scan):
    rng = np.random.default_rng(2)
    n, t, f, u = 4, 7, 3, 6
    g = {"lstm": 4, "gru": 3, "simple_rnn": 1}[scan]
    bias = (2, 3 * u) if scan == "gru" else (g * u,)
    args = [rng.standard_normal((n, t, f)), rng.standard_normal((n, u)) * 0.5]
    if scan == "lstm":
        args.append(rng.standard_normal((n, u)) * 0.5)
    args += [rng.standard_normal((f, g * u)) * 0.5, rng.standard_normal((u, g * u)) * 0.5, rng.standard_normal(bias)]
    mask = rng.random((n, t)) < 0.7
    out = {}
    for dtype in (np.float32, np.float64):
        tensors = [td.tensor(a.astype(dtype), requires_grad=True) for a in args]
        outs = getattr(td, scan)(*tensors, mask=mask)
        sum(o.sum() for o in outs).backward()
        assert all(o.dtype == dtype for o in outs)
        out[dtype] = [o.numpy() for o in outs] + [t.grad.numpy() for t in tensors]
    for a, b in zip(out[np.float32], out[np.float64]):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=2e-5)


def test_long_sequence_backward_has_no_recursion_and_linear_memory():
    rng = np.random.default_rng(3)
    x = td.tensor(rng.standard_normal((2, 3000, 3)).astype(np.float32))
    W = td.tensor(rng.standard_normal((3, 16)).astype(np.float32) * 0.3, requires_grad=True)
    U = td.tensor(rng.standard_normal((4, 16)).astype(np.float32) * 0.3, requires_grad=True)
    h0 = np.zeros((2, 4), np.float32)
    seq, h, c = td.lstm(x, h0, h0, W, U)
    (seq.sum() + h.sum()).backward()
    assert np.isfinite(W.grad.numpy()).all() and np.isfinite(U.grad.numpy()).all()
    assert seq._ctx is None or seq._ctx.edges is None  # one node for the whole sequence, freed after backward


# -- errors ----------------------------------------------------------------------------------------

def _lstm_args(n=2, t=3, f=4, u=5):
    return [np.zeros((n, t, f)), np.zeros((n, u)), np.zeros((n, u)), np.zeros((f, 4 * u)), np.zeros((u, 4 * u))]


def test_two_dimensional_input_is_a_clear_error():
    args = _lstm_args()
    args[0] = np.zeros((2, 4))
    with pytest.raises(ValueError, match=r"lstm: expected input of shape \(batch, timesteps, features\)"):
        td.lstm(*args)


def test_activation_names_are_ops_and_unknown_names_are_a_clear_error():
    args = _lstm_args()
    by_name = td.lstm(*args, activation="elu", recurrent_activation="hard_sigmoid")[0]
    by_function = td.lstm(*args, activation=td.elu, recurrent_activation=td.hard_sigmoid)[0]
    np.testing.assert_allclose(by_name.numpy(), by_function.numpy(), rtol=1e-6)
    with pytest.raises(ValueError, match="unknown activation 'swishy'"):
        td.lstm(*args, activation="swishy")


def test_empty_sequence_is_a_clear_error():
    args = _lstm_args(t=0)
    with pytest.raises(ValueError, match="lstm: the input has no time steps"):
        td.lstm(*args)


def test_mask_of_the_wrong_shape_is_a_clear_error():
    with pytest.raises(ValueError, match=r"gru: mask must be \(batch, timesteps\) = \(2, 3\), got \(2, 4\)"):
        td.gru(np.zeros((2, 3, 4)), np.zeros((2, 5)), np.zeros((4, 15)), np.zeros((5, 15)),
               mask=np.ones((2, 4), bool))


def test_initial_state_of_the_wrong_size_is_a_clear_error():
    args = _lstm_args()
    args[2] = np.zeros((2, 7))
    with pytest.raises(ValueError, match=r"lstm: initial state c0 must be \(batch, units\) = \(2, 5\), got \(2, 7\)"):
        td.lstm(*args)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nan_input_stays_nan(dtype):
    """Fast math must not clamp a NaN into a finite gate: a diverged model has to show it."""
    x = np.zeros((1, 2, 1), dtype)
    x[0, 0, 0] = np.nan
    h = np.zeros((1, 2), dtype)
    assert np.isnan(td.lstm(x, h, h, np.ones((1, 8), dtype), np.ones((2, 8), dtype))[0].numpy()).all()
    assert np.isnan(td.gru(x, h, np.ones((1, 6), dtype), np.ones((2, 6), dtype))[0].numpy()).all()
    assert np.isnan(td.simple_rnn(x, h, np.ones((1, 2), dtype), np.ones((2, 2), dtype))[0].numpy()).all()
