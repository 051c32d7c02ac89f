"""Graph ops against dense NumPy references: values, dtypes, empty segments, determinism, bad input."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import tinydl as td
from tinydl.backend.cpu import scatter as cpu_kernels


def _graph(seed, rows=20, segments=6, feats=3, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((rows, feats)).astype(dtype), rng.integers(0, segments, rows)


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 10**6), st.integers(1, 30), st.integers(1, 8))
def test_scatter_reductions_match_numpy_ufunc_at(seed, rows, segments):
    src, index = _graph(seed, rows, segments)
    total = np.zeros((segments, 3))
    np.add.at(total, index, src)
    count = np.bincount(index, minlength=segments)[:, None]
    peak = np.full((segments, 3), -np.inf)
    np.maximum.at(peak, index, src)
    peak[count[:, 0] == 0] = 0
    np.testing.assert_allclose(td.scatter_add(src, index, segments).numpy(), total, atol=1e-12)
    np.testing.assert_allclose(td.scatter_mean(src, index, segments).numpy(), total / np.maximum(count, 1), atol=1e-12)
    np.testing.assert_allclose(td.scatter_max(src, index, segments).numpy(), peak)


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 10**6), st.integers(1, 30), st.integers(1, 8))
def test_segment_softmax_sums_to_one_per_segment_and_matches_dense(seed, rows, segments):
    scores, index = _graph(seed, rows, segments, feats=2)
    out = td.segment_softmax(scores, index, segments).numpy()
    for s in range(segments):
        rows_s = index == s
        if rows_s.any():
            e = np.exp(scores[rows_s] - scores[rows_s].max(axis=0))
            np.testing.assert_allclose(out[rows_s], e / e.sum(axis=0), rtol=1e-12)


def test_segment_softmax_is_stable_for_large_scores():
    out = td.segment_softmax(np.array([1e4, 1e4 - 1.0, -1e4]), np.array([0, 0, 1]), 2).numpy()
    np.testing.assert_allclose(out, [1 / (1 + np.exp(-1)), np.exp(-1) / (1 + np.exp(-1)), 1.0])


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 10**6), st.integers(1, 6), st.integers(0, 25))
def test_propagate_is_a_sparse_matmul_with_duplicate_edges_and_self_loops(seed, nodes, edges):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((nodes, 4))
    edge_index = rng.integers(0, nodes, (2, edges))
    w = rng.standard_normal(edges)
    dense = np.zeros((nodes, nodes))
    np.add.at(dense, (edge_index[1], edge_index[0]), w)
    np.testing.assert_allclose(td.propagate(x, edge_index, w).numpy(), dense @ x, atol=1e-12)


def test_gather_rows_repeats_rows_and_adds_their_gradients():
    x = td.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    out = td.gather_rows(x, [1, 1, 0])
    np.testing.assert_array_equal(out.numpy(), [[3, 4], [3, 4], [1, 2]])
    out.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[1, 1], [2, 2]])


def test_scatter_max_sends_gradient_to_first_maximum_only():
    src = td.tensor([[1.0], [5.0], [5.0], [2.0]], requires_grad=True)
    td.scatter_max(src, [0, 0, 0, 1], 3).sum().backward()
    np.testing.assert_array_equal(src.grad.numpy().ravel(), [0, 1, 0, 1])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_ops_keep_float32_and_float64(dtype):
    src, index = _graph(0, dtype=dtype)
    for fn in (td.scatter_add, td.scatter_mean, td.scatter_max, td.segment_softmax):
        assert fn(src, index, 6).dtype == dtype
    edge_index = np.stack([index, index[::-1]])
    assert td.propagate(src[:6], edge_index, np.ones(20, dtype)).dtype == dtype


def test_empty_index_gives_zero_segments():
    out = td.scatter_add(np.zeros((0, 3)), np.zeros(0, dtype=np.int64), 4)
    np.testing.assert_array_equal(out.numpy(), np.zeros((4, 3)))
    assert td.scatter_max(np.zeros((0, 2)), np.zeros(0, dtype=np.int32), 2).shape == (2, 2)
    assert td.propagate(np.ones((3, 2)), np.zeros((2, 0), dtype=np.int64)).numpy().sum() == 0


def test_parallel_kernels_agree_with_numpy_and_stay_deterministic(monkeypatch):
    monkeypatch.setattr(cpu_kernels, "PARALLEL_MIN", 1024)
    rng = np.random.default_rng(1)
    nodes, edges = 3000, 30000
    src = rng.standard_normal((edges, 4)).astype(np.float32)
    index = rng.integers(0, nodes, edges)
    first = td.scatter_add(src, index, nodes).numpy()
    reference = np.zeros((nodes, 4), np.float32)
    np.add.at(reference, index, src)  # add.at also sums in index order, so float32 bits agree
    np.testing.assert_array_equal(first, reference)
    np.testing.assert_array_equal(td.scatter_add(src, index, nodes).numpy(), first)
    x = rng.standard_normal((nodes, 4)).astype(np.float32)
    edge_index = rng.integers(0, nodes, (2, edges))
    dense = np.zeros((nodes, 4))
    np.add.at(dense, edge_index[1], x[edge_index[0]].astype(np.float64))
    np.testing.assert_allclose(td.propagate(x, edge_index).numpy(), dense, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("call, error, message", [
    (lambda: td.scatter_add(np.ones((3, 2)), [0, 1, 5], 4), IndexError, "holds 5, outside \\[0, 4\\)"),
    (lambda: td.scatter_add(np.ones((3, 2)), [0, -1, 2], 4), IndexError, "holds -1"),
    (lambda: td.scatter_add(np.ones((3, 2)), [0.0, 1.0, 2.0], 4), TypeError, "integer array"),
    (lambda: td.scatter_add(np.ones((3, 2)), [0, 1], 4), ValueError, "2 entries but the input has 3 rows"),
    (lambda: td.scatter_add(np.ones((3, 2)), [[0, 1, 2]], 4), ValueError, "must be 1-D"),
    (lambda: td.scatter_add(np.ones((3, 2)), [0, 1, 2], -1), ValueError, "non-negative"),
    (lambda: td.propagate(np.ones((3, 2)), np.zeros((3, 4), dtype=np.int64)), ValueError, "shape \\(2, num_edges\\)"),
    (lambda: td.propagate(np.ones((3, 2)), [[0, 1], [2, 3]]), IndexError, "target node\\) holds 3"),
    (lambda: td.propagate(np.ones((3, 2)), [[0, 1], [2, 1]], np.ones(3)), ValueError, "edge_weight must have shape"),
])
def test_bad_input_is_a_clear_error(call, error, message):
    with pytest.raises(error, match=message):
        call()
