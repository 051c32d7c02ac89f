"""The autograd engine: accumulation, long chains, several outputs, no_grad, retain_graph, errors."""

import weakref

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import tinydl as td
from tinydl.autograd import Function, unbroadcast
from tinydl.testing import gradcheck


def leaf(values, dtype="float64"):
    return td.tensor(values, requires_grad=True, dtype=dtype)


# -- gradients add up where a tensor is used several times ---------------------------------------
def test_x_times_x_gives_2x():
    x = leaf([1.0, -2.0, 3.0])
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, -4.0, 6.0])


def test_x_plus_x_gives_2():
    x = leaf([1.0, -2.0])
    (x + x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 2.0])


def test_diamond_graph_sums_both_paths():
    x = leaf(2.0)
    y = x * 3.0
    z = y * y + y  # dz/dx = (2y + 1) * 3 = 39
    z.backward()
    assert x.grad.item() == pytest.approx(39.0)


@pytest.mark.parametrize("build", [
    lambda x: (lambda a: a + a * 3)(x * 2),    # a's consumer `a * 3` is reached after a itself
    lambda x: (lambda a: a * 3 + a)(x * 2),
    lambda x: (lambda a: (a * 3) * a + a)(x * 2),
], ids=["short path first", "long path first", "three uses"])
def test_node_reached_by_paths_of_different_lengths(build):
    report = gradcheck(build, [np.array([0.5, -1.5])])
    assert report.ok, report


@settings(max_examples=25, deadline=None, derandomize=True)
@given(st.lists(st.tuples(st.integers(0, 50), st.integers(0, 50), st.sampled_from("+*-t")), min_size=1, max_size=12))
def test_random_graphs_match_finite_differences(steps):
    """Each step combines two earlier values (inputs or results), so nodes get reused in any order."""
    def build(x, y):
        values = [x, y]
        for i, j, op in steps:
            a, b = values[i % len(values)], values[j % len(values)]
            values.append({"+": a + b, "*": a * b * 0.5, "-": a - b, "t": td.tanh(a) + b}[op])
        return values[-1]
    report = gradcheck(build, [np.array([0.3, -0.7]), np.array([[0.9], [-0.2]])])
    assert report.ok, report


def test_shared_weight_used_in_two_layers():
    rng = np.random.default_rng(0)
    w = leaf(rng.standard_normal((3, 3)))
    x = td.tensor(rng.standard_normal((2, 3)), dtype="float64")
    loss = td.tanh(td.tanh(x @ w) @ w).sum()
    loss.backward()
    report = gradcheck(lambda w_: td.tanh(td.tanh(x @ w_) @ w_).sum(), [w.numpy()])
    assert report.ok, report
    # the analytic gradient is the same one gradcheck recomputed
    w2 = leaf(w.numpy())
    td.tanh(td.tanh(x @ w2) @ w2).sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), w2.grad.numpy())


def test_grads_accumulate_across_backward_calls_until_zero_grad():
    x = leaf([1.0, 2.0])
    (x * 3.0).sum().backward()
    (x * 3.0).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [6.0, 6.0])
    x.zero_grad()
    assert x.grad is None
    (x * 3.0).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 3.0])


def test_broadcast_input_gets_gradient_of_its_own_shape():
    b = leaf([1.0, 2.0, 3.0])
    x = td.tensor(np.ones((4, 3)), dtype="float64")
    (x + b).sum().backward()
    np.testing.assert_allclose(b.grad.numpy(), [4.0, 4.0, 4.0])


def test_unbroadcast_sums_added_and_stretched_axes():
    g = np.ones((2, 3, 4))
    assert unbroadcast(g, (3, 1)).tolist() == [[8.0]] * 3
    assert unbroadcast(g, ()).item() == 24.0
    assert unbroadcast(g, (2, 3, 4)) is g


# -- the tape is walked without recursion ----------------------------------------------------------
def test_backward_through_10000_op_chain_is_not_recursive():
    # its speed is measured in benchmarks/overhead.py ("backward through a 10,000-op chain")
    x = leaf(0.5)
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    y.backward()
    assert x.grad.item() == pytest.approx(1.0001 ** 10_000)


def test_deep_chain_of_mixed_ops():
    x = leaf(np.linspace(-1, 1, 4))
    y = x
    for _ in range(2_000):
        y = td.tanh(y) + 0.01 * y
    y.sum().backward()
    assert np.all(np.isfinite(x.grad.numpy()))


# -- several outputs -------------------------------------------------------------------------------
def test_split_outputs_each_carry_their_gradient():
    x = leaf(np.arange(6.0))
    a, b, c = td.split(x, 3)
    (a * 1.0 + b * 2.0).sum().backward()  # c unused: its slice gets zeros
    np.testing.assert_allclose(x.grad.numpy(), [1, 1, 2, 2, 0, 0])


def test_custom_function_with_two_outputs():
    class SinCos(Function):
        def forward(self, x):
            self.x = x
            return np.sin(x), np.cos(x)

        def backward(self, gs, gc):
            return gs * np.cos(self.x) - gc * np.sin(self.x)

    x = leaf([0.3, 1.2])
    s, c = SinCos.apply(x)
    (s * c).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.cos(2 * np.array([0.3, 1.2])))


class ScaleBy(Function):
    """y = factor * x, its parameter declared in __init__."""

    def __init__(self, factor):
        self.factor = factor

    def forward(self, x):
        return self.factor * x

    def backward(self, g):
        return self.factor * g


def test_function_parameters_are_init_arguments_and_apply_takes_none():
    x = leaf([1.0, -2.0])
    ScaleBy(factor=3.0)(x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 3.0])
    with pytest.raises(TypeError, match="factor"):
        ScaleBy.apply(x, factor=3.0)  # keyword arguments no longer become attributes


def test_needs_grad_tells_which_inputs_want_gradients():
    seen = []

    class Probe(Function):
        def forward(self, a, b):
            return a * b

        def backward(self, g):
            seen.append(list(self.needs_grad))
            return None, g

    a = td.tensor([1.0], dtype="float64")
    b = leaf([2.0])
    Probe.apply(a, b).sum().backward()
    assert seen == [[False, True]]
    assert a.grad is None and b.grad.item() == 1.0


# -- no_grad ---------------------------------------------------------------------------------------
def test_no_grad_as_context_records_nothing():
    x = leaf([1.0])
    with td.no_grad():
        y = x * 2
    assert not y.requires_grad and y.is_leaf
    assert td.is_grad_enabled()


def test_no_grad_as_decorator():
    @td.no_grad
    def double(t):
        return t * 2

    y = double(leaf([1.0]))
    assert not y.requires_grad
    assert td.is_grad_enabled()


def test_no_grad_restores_state_after_exception():
    with pytest.raises(KeyError):
        with td.no_grad():
            raise KeyError
    assert td.is_grad_enabled()


def test_enable_grad_inside_no_grad():
    x = leaf([1.0])
    with td.no_grad():
        with td.enable_grad():
            y = x * 2
    assert y.requires_grad


# -- retain_graph ----------------------------------------------------------------------------------
def test_second_backward_without_retain_graph_is_a_clear_error():
    x = leaf([1.0, 2.0])
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        y.backward()


def test_retain_graph_allows_a_second_backward():
    x = leaf([1.0, 2.0])
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), [4.0, 8.0])


def test_backward_frees_what_nodes_saved():
    x = leaf([1.0, 2.0])
    h = td.tanh(x)
    y = (h * h).sum()
    y.backward()
    assert h._ctx.edges is None and not vars(h._ctx)  # the saved arrays are gone


class _Double(Function):
    """2x, saving nothing for backward."""

    def forward(self, a):
        return 2 * a

    def backward(self, g):
        return 2 * g


def test_nodes_do_not_keep_their_inputs_arrays_alive():
    x = leaf([1.0, 2.0])
    h = _Double.apply(x)
    y = _Double.apply(h) * 3.0
    freed = weakref.ref(h.data)
    del h
    assert freed() is None  # only y's node and the user held h; its node keeps an edge, not the array
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [12.0, 12.0])


def test_backward_on_a_scalar_leaf():
    x = leaf(3.0)
    x.backward()
    assert x.grad.item() == 1.0


# -- errors ----------------------------------------------------------------------------------------
def test_backward_on_non_scalar_needs_a_gradient():
    y = leaf([1.0, 2.0]) * 2
    with pytest.raises(RuntimeError, match=r"non-scalar.*\(2,\)"):
        y.backward()


def test_backward_on_non_scalar_with_gradient():
    x = leaf([1.0, 2.0])
    (x * 2).backward(gradient=td.tensor([1.0, 10.0]))
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 20.0])


def test_backward_gradient_of_wrong_shape_is_an_error():
    y = leaf([1.0, 2.0]) * 2
    with pytest.raises(ValueError, match="shape"):
        y.backward(np.ones(3))


class AddWithoutUnbroadcast(Function):
    """A broadcasting add whose backward forgets to reduce the gradient to each input's shape."""

    def forward(self, a, b):
        return a + b

    def backward(self, g):
        return g, g


def test_function_returning_a_gradient_of_the_wrong_shape_is_rejected():
    a, b = leaf(np.ones((4, 3))), leaf(np.ones(3))  # (4, 3) gradient for the (3,) input b
    with pytest.raises(ValueError, match=r"AddWithoutUnbroadcast.*shape \(4, 3\) for input 1.*\(3,\)"):
        AddWithoutUnbroadcast.apply(a, b).sum().backward()
    assert b.grad is None


def test_wrong_shape_is_rejected_between_two_nodes_too():
    a, b = leaf(np.ones((2, 3))), leaf(np.ones((1, 3)))
    with pytest.raises(ValueError, match=r"input 1.*\(1, 3\)"):
        AddWithoutUnbroadcast.apply(a, b * 2.0).sum().backward()


def test_gradcheck_fails_such_a_function_instead_of_passing_it():
    with pytest.raises(ValueError, match="AddWithoutUnbroadcast"):
        gradcheck(AddWithoutUnbroadcast.apply, [np.ones((4, 3)), np.ones(3)])


def test_backward_on_tensor_without_grad_says_so():
    with pytest.raises(RuntimeError, match="does not require grad"):
        (td.tensor([1.0]) * 2).sum().backward()


def test_gradcheck_catches_a_wrong_backward():
    class WrongSquare(Function):
        def forward(self, x):
            self.x = x
            return x * x

        def backward(self, g):
            return g * self.x  # should be 2 * g * x

    report = gradcheck(WrongSquare.apply, [np.array([1.0, 2.0, 3.0])])
    assert not report.ok
    assert report.worst_input == 0 and report.worst_index == (2,)
    assert "FAILED" in str(report)


# -- numerical stability ---------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_softmax_family_is_stable_at_1e4(dtype):
    logits = td.tensor([[1e4, 0.0, -1e4], [1e4, 1e4, 1e4]], requires_grad=True, dtype=dtype)
    sm = td.softmax(logits)
    lsm = td.log_softmax(logits)
    lse = td.logsumexp(logits, axis=-1)
    np.testing.assert_allclose(sm.numpy(), [[1, 0, 0], [1 / 3] * 3], atol=1e-6)
    np.testing.assert_allclose(lsm.numpy(), [[0, -1e4, -2e4], [-np.log(3)] * 3], rtol=1e-6)
    np.testing.assert_allclose(lse.numpy(), [1e4, 1e4 + np.log(3)], rtol=1e-6)
    (sm.sum() + lsm.sum() + lse.sum()).backward()
    assert np.all(np.isfinite(logits.grad.numpy()))


def test_sigmoid_and_softplus_are_stable_for_large_inputs():
    x = td.tensor([-1e4, 0.0, 1e4], requires_grad=True)
    np.testing.assert_allclose(td.sigmoid(x).numpy(), [0.0, 0.5, 1.0])
    np.testing.assert_allclose(td.softplus(x).numpy(), [0.0, np.log(2), 1e4], rtol=1e-6)
    (td.sigmoid(x) + td.softplus(x)).sum().backward()
    assert np.all(np.isfinite(x.grad.numpy()))


# -- kinks and ties follow documented conventions ------------------------------------------------
def test_maximum_splits_gradient_on_ties():
    a, b = leaf([1.0, 2.0, 3.0]), leaf([1.0, 5.0, 0.0])
    td.maximum(a, b).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), [0.5, 0.0, 1.0])
    np.testing.assert_allclose(b.grad.numpy(), [0.5, 1.0, 0.0])


def test_max_shares_gradient_among_tied_elements():
    x = leaf([[1.0, 3.0, 3.0], [0.0, -1.0, 2.0]])
    x.max(axis=1).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [[0, 0.5, 0.5], [0, 0, 1]])


def test_relu_and_abs_have_zero_gradient_at_zero():
    x = leaf([0.0])
    (td.relu(x) + td.abs(x)).sum().backward()
    assert x.grad.item() == 0.0


def test_prod_gradient_with_zeros_is_exact():
    x = leaf([2.0, 0.0, 3.0, 0.0])
    x.prod().backward()
    np.testing.assert_allclose(x.grad.numpy(), [0, 0, 0, 0])
    y = leaf([2.0, 0.0, 3.0])
    y.prod().backward()
    np.testing.assert_allclose(y.grad.numpy(), [0, 6, 0])


def test_getitem_with_repeated_indices_adds_gradients():
    x = leaf([10.0, 20.0, 30.0])
    x[[0, 0, 2, 0]].sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3, 0, 1])


def test_dropout_is_reproducible_with_set_seed_and_identity_when_not_training():
    x = td.tensor(np.ones((100,)))
    td.set_seed(7)
    a = td.dropout(x, 0.5).numpy()
    td.set_seed(7)
    b = td.dropout(x, 0.5).numpy()
    np.testing.assert_array_equal(a, b)
    assert set(np.unique(a)) <= {0.0, 2.0}
    assert td.dropout(x, 0.5, training=False) is x
