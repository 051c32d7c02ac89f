"""The op gradient registry: every differentiable op in `tinydl.ops` is checked against finite differences.

Cases live in `tests/ops/cases_<area>.py` modules, each defining `CASES = [OpCase(...), ...]`; this
file finds every such module, so adding an op means adding its case next to the others' and nothing
here. An op in `tinydl.ops.__all__` without a case (and not listed in NO_GRADIENT) fails the suite.

Each case is also a specification: `test_op_meets_its_specification` checks its forward against the
case's independent NumPy `reference`, that every input's gradient has the input's shape and dtype,
that no input array is written to, and that backward frees every node of the graph it walked.
"""
import importlib
import pathlib
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, seed, settings

import tinydl as td
from tinydl import ops

# Public names in tinydl.ops that have no gradient to check, and why.
NO_GRADIENT = {
    "argmax": "integer output",
    "argmin": "integer output",
    "one_hot": "integer input, constant output",
    "sign": "piecewise constant",
    "equal": "boolean output",
    "not_equal": "boolean output",
    "less": "boolean output",
    "less_equal": "boolean output",
    "greater": "boolean output",
    "greater_equal": "boolean output",
    **{name: "boolean output" for name in [
        "all", "any", "allclose", "isclose", "isfinite", "isinf", "isnan", "isneginf", "isposinf", "isreal", "isin",
        "signbit", "in_top_k", "logical_and", "logical_or", "logical_xor", "logical_not"]},
    **{name: "integer inputs and output" for name in [
        "bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_not", "bitwise_invert", "bitwise_left_shift",
        "bitwise_right_shift", "left_shift", "right_shift", "gcd", "lcm", "bincount"]},
    **{name: "piecewise constant" for name in [
        "floor", "ceil", "trunc", "round", "floor_divide", "heaviside", "nextafter", "angle", "digitize",
        "histogram"]},
    **{name: "integer output (indices or counts)" for name in [
        "argsort", "argpartition", "count_nonzero", "nanargmax", "nanargmin", "nonzero", "unique", "unravel_index",
        "searchsorted", "matrix_rank", "multi_hot", "ctc_decode"]},
    **{name: "a new constant array: no input to differentiate" for name in [
        "arange", "array", "eye", "identity", "empty", "empty_like", "full", "full_like", "zeros", "zeros_like",
        "ones", "ones_like", "linspace", "logspace", "geomspace", "tri", "bartlett", "blackman", "hamming", "hanning",
        "kaiser", "meshgrid"]},
    **{name: "facts about a tensor, or a NumPy array off the tape" for name in [
        "shape", "ndim", "size", "dtype", "is_tensor", "convert_to_numpy", "stop_gradient", "vectorize"]},
    "jvp": "its Jacobian-vector product is computed off the tape (tinydl has no second-order gradients)",
    **{name: "complex or reinterpreted bytes: gradient checks run on real float64" for name in [
        "polar", "view", "view_as_complex", "view_as_real", "eig"]},
    # Keras differentiates these; tinydl computes them with NumPy/CuPy without a backward for now
    **{name: "no backward yet (NumPy forward only)" for name in [
        "lstsq", "lu_factor", "pinv", "nanmedian", "nanquantile", "nanpercentile", "segment_prod"]},
}


# Ops whose cases have no OpCase.reference, and where their forward is checked against one instead.
REFERENCE_ELSEWHERE = {
    "dropout": "random mask: tests/test_autograd.py checks its scaling and reproducibility",
    # the step-by-step reference has the default activations only: other activations and dropout masks wait
    "lstm": "cases with other activations or a dropout mask: no reference yet",
    "gru": "cases with a dropout mask: no reference yet",
    "simple_rnn": "cases with other activations: no reference yet",
}
SPEC_SETTINGS = settings(max_examples=5, deadline=None, database=None,
                         suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                HealthCheck.filter_too_much])


def _load_cases():
    """Every OpCase from every cases_*.py module beside this file, in a stable order."""
    cases = []
    for path in sorted(pathlib.Path(__file__).parent.glob("cases_*.py")):
        module = importlib.import_module(f"{__package__}.{path.stem}")
        cases.extend(getattr(module, "CASES"))
    return cases


CASES = _load_cases()


def _ids(cases):
    """Unique test ids: `name[variant]`, numbered when two cases would collide."""
    seen, ids = {}, []
    for case in cases:
        n = seen[case.id] = seen.get(case.id, 0) + 1
        ids.append(case.id if n == 1 else f"{case.id}#{n}")
    return ids


@pytest.mark.parametrize("case", CASES, ids=_ids(CASES))
def test_gradient_matches_finite_differences(case):
    # a fixed seed per case: every run draws the same examples (no flaky CI), each case different ones
    @seed(zlib.crc32(case.id.encode()))
    @settings(max_examples=15, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])
    @given(arrays=case.inputs)
    def check(arrays):
        report = case.check(arrays)
        assert report.ok, f"{case.id}: {report} (input shapes {[a.shape for a in arrays]})"
    check()


@pytest.mark.parametrize("case", CASES, ids=_ids(CASES))
def test_op_meets_its_specification(case):
    @seed(zlib.crc32(case.id.encode()) + 1)
    @SPEC_SETTINGS
    @given(arrays=case.inputs)
    def check(arrays):
        originals = [np.array(a, copy=True) for a in arrays]
        wrt = case.wrt if case.wrt is not None else [i for i, a in enumerate(arrays) if a.dtype.kind == "f"]
        tensors = [td.Tensor(a, requires_grad=i in wrt) for i, a in enumerate(arrays)]
        out = case.fn(*tensors, **case.kwargs)
        if case.reference is not None:
            expected = case.reference(*[a.copy() for a in originals])
            np.testing.assert_allclose(out.numpy(), expected, rtol=1e-7, atol=1e-10,
                                       err_msg=f"{case.id}: forward differs from the NumPy reference")
        nodes = _graph_nodes(out)
        (out * td.Tensor(np.ones(out.shape))).sum().backward()
        for i, (t, a, original) in enumerate(zip(tensors, arrays, originals)):
            np.testing.assert_array_equal(a, original, err_msg=f"{case.id}: input {i} was written to")
            if i in wrt and t.grad is not None:
                assert (t.grad.shape, t.grad.dtype) == (a.shape, a.dtype), (
                    f"{case.id}: input {i} {a.shape} {a.dtype} got a gradient {t.grad.shape} {t.grad.dtype}")
        kept = [type(fn).__name__ for fn in nodes if fn.edges is not None]
        assert not kept, f"{case.id}: backward left these nodes holding their inputs: {kept}"
    check()


def _graph_nodes(out):
    """Every Function node recorded between `out` and the leaves."""
    seen, stack = set(), [out._ctx] if out._ctx is not None else []
    while stack:
        fn = stack.pop()
        if fn not in seen:
            seen.add(fn)
            stack.extend(edge[0] for edge in fn.edges if edge is not None and isinstance(edge[0], td.Function))
    return seen


def test_every_case_has_a_reference_or_says_where_it_is_checked():
    missing = sorted({case.id for case in CASES if case.reference is None and case.name not in REFERENCE_ELSEWHERE})
    assert not missing, f"OpCases without a NumPy reference for the forward: {missing}"
    stale = sorted(set(REFERENCE_ELSEWHERE) - {case.name for case in CASES if case.reference is None})
    assert not stale, f"REFERENCE_ELSEWHERE names ops whose cases all have a reference now: {stale}"


def test_every_differentiable_op_has_a_case():
    covered = {case.name for case in CASES}
    missing = sorted(set(ops.__all__) - covered - set(NO_GRADIENT))
    assert not missing, (f"ops without a gradient case: {missing}; add an OpCase to tests/ops/cases_<area>.py "
                         "(or, if the op has no gradient, to NO_GRADIENT in tests/ops/test_gradients.py)")


def test_every_case_names_a_public_op():
    unknown = sorted({case.name for case in CASES} - set(ops.__all__))
    assert not unknown, f"OpCase names not in tinydl.ops.__all__ (typo, or op not exported): {unknown}"


def test_no_gradient_list_is_current():
    stale = sorted(set(NO_GRADIENT) - set(ops.__all__))
    assert not stale, f"NO_GRADIENT names ops that no longer exist: {stale}"


# the ops of NO_GRADIENT that take one or two float tensors and return one tensor
_UNARY_NO_GRADIENT = ["sign", "floor", "ceil", "trunc", "round", "signbit", "isfinite", "isinf", "isnan", "isneginf",
                      "isposinf", "isreal", "all", "any", "count_nonzero", "argsort", "nanargmax", "nanargmin",
                      "nanmedian", "angle", "logical_not", "argmax", "argmin", "stop_gradient", "zeros_like",
                      "ones_like", "pinv", "matrix_rank"]
_BINARY_NO_GRADIENT = ["equal", "not_equal", "less", "less_equal", "greater", "greater_equal", "floor_divide",
                       "heaviside", "nextafter", "isclose", "allclose", "logical_and", "logical_or", "logical_xor",
                       "isin", "lstsq"]


@pytest.mark.parametrize("name", _UNARY_NO_GRADIENT + _BINARY_NO_GRADIENT)
def test_non_differentiable_ops_record_nothing(name):
    x = td.tensor([[0.5, -1.0], [2.0, 0.0]], requires_grad=True)
    fn = getattr(td, name)
    out = fn(x, x * 2 + 1) if name in _BINARY_NO_GRADIENT else fn(x)
    assert name in NO_GRADIENT
    assert not out.requires_grad and out._ctx is None
