"""scaled_dot_product_attention against a float64 reference written from the formula.

The reference is softmax(q k^T / sqrt(d) with masked logits removed) v in plain NumPy, with its
gradients written out by hand (dv = P^T g, dP = g v^T, dS = P * (dP - rowsum(dP * P)) / sqrt(d)).
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinydl as td
from tinydl.backend.cpu import attention as cpu_kernels

attend = td.scaled_dot_product_attention


def reference(q, k, v, mask, causal, g):
    """Output and (dq, dk, dv) for upstream gradient g, in float64 from the formula."""
    scale = 1 / np.sqrt(q.shape[-1])
    tq, tk = q.shape[-2], k.shape[-2]
    allowed = np.ones((tq, tk), bool) if mask is None else mask
    if causal:
        allowed = allowed & np.tril(np.ones((tq, tk), bool))
    allowed = np.broadcast_to(allowed, q.shape[:-2] + (tq, tk))
    logits = np.where(allowed, q @ k.swapaxes(-1, -2) * scale, -np.inf)
    top = logits.max(-1, keepdims=True)
    e = np.where(allowed, np.exp(logits - np.where(np.isfinite(top), top, 0)), 0)
    total = e.sum(-1, keepdims=True)
    p = np.where(total > 0, e / np.where(total > 0, total, 1), 0)
    out = p @ v
    dv = p.swapaxes(-1, -2) @ g
    dp = g @ v.swapaxes(-1, -2)
    ds = p * (dp - (dp * p).sum(-1, keepdims=True)) * scale
    return out, p, (ds @ k, ds.swapaxes(-1, -2) @ q, dv)


@st.composite
def attention_problems(draw):
    """q, k, v of random batch, heads, lengths and widths; a mask of a random kind; the causal flag."""
    batch, heads = draw(st.integers(1, 2)), draw(st.integers(1, 3))
    tq, tk, d, dv = (draw(st.integers(1, 5)) for _ in range(4))
    floats = st.floats(-3, 3, allow_nan=False)
    q, k = (draw(hnp.arrays(np.float64, (batch, heads, t, d), elements=floats)) for t in (tq, tk))
    v = draw(hnp.arrays(np.float64, (batch, heads, tk, dv), elements=floats))
    kind = draw(st.sampled_from(["none", "padding", "full"]))
    mask = None
    if kind == "padding":
        mask = draw(hnp.arrays(np.bool_, (batch, 1, 1, tk)))
    elif kind == "full":
        mask = draw(hnp.arrays(np.bool_, (batch, heads, tq, tk)))
    return q, k, v, mask, draw(st.booleans())


@settings(max_examples=30, deadline=None)
@given(attention_problems())
def test_outputs_and_gradients_match_the_float64_reference(problem):
    q, k, v, mask, causal = problem
    tq_, tk_, tv_ = (td.tensor(a, requires_grad=True) for a in (q, k, v))
    out, w = attend(tq_, tk_, tv_, mask=mask, causal=causal, return_weights=True)
    g = np.random.default_rng(0).standard_normal(out.shape)
    out.backward(g)
    ref_out, ref_w, ref_grads = reference(q, k, v, None if mask is None else mask, causal, g)
    np.testing.assert_allclose(out.numpy(), ref_out, atol=1e-12)
    np.testing.assert_allclose(w.numpy(), ref_w, atol=1e-12)
    for t, ref in zip((tq_, tk_, tv_), ref_grads):
        np.testing.assert_allclose(t.grad.numpy(), ref, atol=1e-10)


@settings(max_examples=20, deadline=None)
@given(attention_problems(), st.sampled_from([np.float32, np.float64]))
def test_masked_positions_get_exactly_zero_weight(problem, dtype):
    q, k, v, mask, causal = problem
    _, w = attend(*(td.tensor(a.astype(dtype)) for a in (q, k, v)), mask=mask, causal=causal,
                  return_weights=True)
    tq, tk = q.shape[-2], k.shape[-2]
    allowed = np.ones((tq, tk), bool) if mask is None else mask
    if causal:
        allowed = allowed & np.tril(np.ones((tq, tk), bool))
    hidden = ~np.broadcast_to(allowed, w.shape)
    assert np.all(w.numpy()[hidden] == 0)
    rows = w.numpy().sum(-1)
    live = np.broadcast_to(allowed, w.shape).any(-1)
    np.testing.assert_allclose(rows[live], 1, rtol=1e-5)


def test_fully_masked_query_gets_zero_weights_zero_output_and_zero_gradient():
    q = td.tensor(np.ones((1, 2, 3)), requires_grad=True)
    v = td.tensor(np.arange(4.0).reshape(1, 2, 2), requires_grad=True)
    mask = np.array([[True, False], [False, False]])
    out, w = attend(q, q, v, mask=mask, return_weights=True)
    assert np.all(w.numpy()[0, 1] == 0) and np.all(out.numpy()[0, 1] == 0)
    assert np.all(np.isfinite(out.numpy()))
    out[:, 1].sum().backward()
    assert np.all(q.grad.numpy() == 0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_logits_of_1e4_do_not_overflow(dtype):
    q = np.array([[[1.0], [-1.0]]], dtype)
    k = np.array([[[1e4], [0.0], [-1e4]]], dtype)
    v = np.array([[[1.0], [2.0], [3.0]]], dtype)
    qt = td.tensor(q, requires_grad=True)
    out, w = attend(qt, td.tensor(k), td.tensor(v), scale=1.0, return_weights=True)
    np.testing.assert_array_equal(w.numpy(), [[[1, 0, 0], [0, 0, 1]]])
    np.testing.assert_array_equal(out.numpy(), [[[1.0], [3.0]]])
    out.sum().backward()
    assert np.all(np.isfinite(qt.grad.numpy()))


def test_float32_matches_float64_closely():
    rng = np.random.default_rng(1)
    q, k, v = (rng.standard_normal((2, 4, 16, 8)) for _ in range(3))
    mask = rng.random((2, 1, 1, 16)) > 0.3
    ref = attend(*(td.tensor(a) for a in (q, k, v)), mask=mask, causal=True).numpy()
    out = attend(*(td.tensor(a.astype(np.float32)) for a in (q, k, v)), mask=mask, causal=True)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.numpy(), ref, atol=2e-6)


def test_large_inputs_take_the_parallel_kernel_and_agree(monkeypatch):
    rng = np.random.default_rng(2)
    s = rng.standard_normal((3, 8, 8)).astype(np.float32)
    serial = cpu_kernels.attention_softmax_fwd(s, None, True, 0.5)
    monkeypatch.setattr(cpu_kernels, "_PARALLEL_MIN", 1)
    np.testing.assert_array_equal(cpu_kernels.attention_softmax_fwd(s, None, True, 0.5), serial)
    g = rng.standard_normal(s.shape).astype(np.float32)
    np.testing.assert_allclose(cpu_kernels.attention_softmax_bwd(serial, g, 0.5),
                               0.5 * serial * (g - (g * serial).sum(-1, keepdims=True)), atol=1e-6)


def test_mask_that_does_not_broadcast_is_a_clear_error():
    q = td.tensor(np.zeros((2, 3, 4, 8)))
    k = td.tensor(np.zeros((2, 3, 5, 8)))
    with pytest.raises(ValueError, match=r"mask of shape \(2, 4, 4\) does not broadcast .*\(2, 3, 4, 5\)"):
        attend(q, k, k, mask=np.ones((2, 4, 4), bool))


def test_mismatched_shapes_are_clear_errors():
    q = td.tensor(np.zeros((2, 4, 8)))
    with pytest.raises(ValueError, match="q and k must share the last dimension"):
        attend(q, td.tensor(np.zeros((2, 4, 7))), q)
    with pytest.raises(ValueError, match="k and v must have the same length"):
        attend(q, q, td.tensor(np.zeros((2, 5, 8))))
    with pytest.raises(ValueError, match="leading .* do not broadcast"):
        attend(q, td.tensor(np.zeros((3, 4, 8))), td.tensor(np.zeros((3, 4, 8))))


def test_dropout_is_reproducible_and_weights_are_returned_before_it():
    rng = np.random.default_rng(3)
    q, k, v = (td.tensor(rng.standard_normal((1, 6, 4))) for _ in range(3))
    td.set_seed(0)
    a, wa = attend(q, k, v, dropout=0.5, return_weights=True)
    td.set_seed(0)
    b = attend(q, k, v, dropout=0.5)
    plain, w = attend(q, k, v, return_weights=True)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    np.testing.assert_array_equal(wa.numpy(), w.numpy())
    assert not np.allclose(a.numpy(), plain.numpy())
    with pytest.raises(ValueError, match="dropout must be in"):
        attend(q, k, v, dropout=1.0)
