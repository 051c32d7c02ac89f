"""Graph layers against dense float64 references written from each paper's formula.

Every reference builds the (multi-)adjacency matrix A[t, s] = sum of the weights of the edges s->t
and applies the formula with dense tinydl ops, so its gradients come from a different code path
(matmul, softmax on dense matrices) than the layers' scatter/gather kernels. Random graphs from
hypothesis include isolated nodes, self loops and duplicate edges.
"""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import tinydl as td
from tinydl.testing import gradcheck
from tinydl.layers import Dense
from tinydl.layers.graph import (
    GATConv, GCNConv, GINConv, GlobalMaxPool, GlobalMeanPool, GlobalSumPool, SAGEConv,
)

SETTINGS = settings(max_examples=15, deadline=None, derandomize=True, database=None)


@st.composite
def graphs(draw, max_nodes=6, max_edges=14):
    """(x (N, 3), edge_index (2, E), edge_weight (E,)) with random edges: loops and repeats allowed."""
    n = draw(st.integers(1, max_nodes))
    e = draw(st.integers(0, max_edges))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 3))
    edge_index = rng.integers(0, n, (2, e))
    if e >= 2 and draw(st.booleans()):  # make sure of a duplicate edge and a self loop
        edge_index[:, 1] = edge_index[:, 0]
        edge_index[1, -1] = edge_index[0, -1]
    return x, edge_index, rng.uniform(0.5, 2.0, e)


def adjacency(edge_index, n, weight=None):
    """Dense A[t, s] summing the weights (1 by default) of the edges s->t."""
    a = np.zeros((n, n))
    np.add.at(a, (edge_index[1], edge_index[0]), 1.0 if weight is None else weight)
    return a


def check_against(layer, inputs, reference, seed=0):
    """Outputs equal, and gradients for x and every weight equal under a random cotangent."""
    x = td.tensor(inputs[0], requires_grad=True)
    out = layer([x] + list(inputs[1:]))
    weights = layer.trainable_weights
    x_ref = td.tensor(inputs[0], requires_grad=True)
    w_ref = [td.tensor(w.numpy(), requires_grad=True) for w in weights]
    expected = reference(x_ref, *w_ref)
    np.testing.assert_allclose(out.numpy(), expected.numpy(), rtol=1e-9, atol=1e-10)
    r = np.random.default_rng(seed).standard_normal(out.shape)
    for w in weights:
        w.grad = None
    (out * td.tensor(r)).sum().backward()
    (expected * td.tensor(r)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), x_ref.grad.numpy(), rtol=1e-8, atol=1e-10)
    for w, ref in zip(weights, w_ref):
        np.testing.assert_allclose(w.grad.numpy(), ref.grad.numpy(), rtol=1e-8, atol=1e-10, err_msg=w.path)


def gcn_matrix(edge_index, n, weight=None, self_loops=True, normalize=True):
    """D^-1/2 A' D^-1/2, D the row sums of A' (0 for rows summing to 0); with self_loops A' has exactly one
    loop per node, as PyG's add_remaining_self_loops: an existing loop's weight (the last), else 1."""
    a = adjacency(edge_index, n, weight)
    if self_loops:
        weights = np.ones(edge_index.shape[1]) if weight is None else np.asarray(weight, dtype=np.float64)
        loops = np.ones(n)
        for (s, t), value in zip(np.asarray(edge_index).T, weights):
            if s == t:
                loops[s] = value
        np.fill_diagonal(a, loops)
    if not normalize:
        return a
    d = a.sum(axis=1)
    inv = np.where(d > 0, 1 / np.sqrt(np.where(d > 0, d, 1)), 0)
    return inv[:, None] * a * inv[None, :]


@SETTINGS
@given(graphs(), st.booleans(), st.sampled_from([(True, True), (True, False), (False, True), (False, False)]))
def test_gcn_is_normalized_adjacency_times_x_w(graph, weighted, options):
    x, edge_index, w = graph
    loops, normalize = options
    layer = GCNConv(4, add_self_loops=loops, normalize=normalize, dtype="float64")
    inputs = [x, edge_index] + ([w] if weighted else [])
    m = td.tensor(gcn_matrix(edge_index, len(x), w if weighted else None, loops, normalize))
    check_against(layer, inputs, lambda x_, k, b: m @ (x_ @ k) + b)


@SETTINGS
@given(graphs())
def test_gcn_wide_input_takes_the_other_product_order(graph):
    x, edge_index, _ = graph
    x = np.repeat(x, 3, axis=1)  # 9 features > 2 units: propagate after the matmul
    layer = GCNConv(2, dtype="float64")
    m = td.tensor(gcn_matrix(edge_index, len(x)))
    check_against(layer, [x, edge_index], lambda x_, k, b: m @ (x_ @ k) + b)


def test_gcn_gradient_reaches_edge_weights():
    x, edge_index = np.eye(3), np.array([[0, 1, 2], [1, 2, 0]])
    layer = GCNConv(2, dtype="float64")
    report = gradcheck(lambda w: layer([td.tensor(x), edge_index, w]), [np.array([1.0, 2.0, 0.5])])
    assert report, report  # the weights enter both the messages and the degree normalisation


def gat_reference(edge_index, n, heads, units, concat, slope):
    """Dense GAT: attention over each node's in-edges plus one self loop, edge multiplicities counted."""
    counts = adjacency(edge_index[:, edge_index[0] != edge_index[1]], n) + np.eye(n)
    mask = td.tensor(counts[None])  # (1, N, N) multiplicity of j->i

    def reference(x, kernel, att_src, att_dst, bias):
        z = td.reshape(x @ kernel, (n, heads, units))
        s_src = td.transpose(td.sum(z * att_src, axis=-1))  # (H, N)
        s_dst = td.transpose(td.sum(z * att_dst, axis=-1))
        e = td.leaky_relu(td.expand_dims(s_dst, 2) + td.expand_dims(s_src, 1), negative_slope=slope)  # (H, i, j)
        weights = td.exp(e - np.max(e.numpy(), axis=2, keepdims=True)) * mask
        alpha = weights / td.sum(weights, axis=2, keepdims=True)
        out = td.transpose(alpha @ td.transpose(z, (1, 0, 2)), (1, 0, 2))  # (N, H, C)
        out = td.reshape(out, (n, heads * units)) if concat else td.mean(out, axis=1)
        return out + bias
    return reference


@SETTINGS
@given(graphs(), st.integers(1, 3), st.booleans())
def test_gat_is_softmax_attention_over_in_neighbours(graph, heads, concat):
    x, edge_index, _ = graph
    layer = GATConv(2, heads=heads, concat=concat, negative_slope=0.3, dtype="float64")
    check_against(layer, [x, edge_index], gat_reference(edge_index, len(x), heads, 2, concat, 0.3))


def test_gat_attention_dropout_acts_only_in_training():
    td.set_seed(0)
    x, edge_index = np.random.default_rng(0).standard_normal((5, 3)), np.array([[0, 1, 2, 3], [1, 2, 3, 4]])
    layer = GATConv(4, heads=2, dropout=0.5, dtype="float64")
    infer = layer([x, edge_index], training=False).numpy()
    np.testing.assert_array_equal(infer, layer([x, edge_index]).numpy())
    assert not np.allclose(layer([x, edge_index], training=True).numpy(), infer)


@SETTINGS
@given(graphs(), st.booleans())
def test_sage_is_mean_of_in_neighbours_plus_root(graph, weighted):
    x, edge_index, w = graph
    a = adjacency(edge_index, len(x), w if weighted else None)
    rows = a.sum(axis=1, keepdims=True)
    mean = td.tensor(np.where(rows != 0, a / np.where(rows != 0, rows, 1), 0))
    layer = SAGEConv(3, dtype="float64")
    inputs = [x, edge_index] + ([w] if weighted else [])
    check_against(layer, inputs, lambda x_, k, kr, b: (mean @ x_) @ k + x_ @ kr + b)


@SETTINGS
@given(graphs(), st.floats(-0.5, 1.0))
def test_gin_is_mlp_of_weighted_self_plus_neighbour_sum(graph, eps):
    x, edge_index, _ = graph
    a = td.tensor(adjacency(edge_index, len(x)))
    layer = GINConv(Dense(3, activation="tanh", dtype="float64"), eps=eps, train_eps=True, dtype="float64")
    check_against(layer, [x, edge_index], lambda x_, e, k, b: td.tanh(((1 + e) * x_ + a @ x_) @ k + b))
    assert [w.name for w in layer.weights] == ["eps", "kernel", "bias"]


@SETTINGS
@given(st.lists(st.integers(1, 4), min_size=1, max_size=4), st.integers(0, 2**32 - 1))
def test_pools_reduce_each_graph_of_the_batch(sizes, seed):
    x = np.random.default_rng(seed).standard_normal((sum(sizes), 3))
    batch = np.repeat(np.arange(len(sizes)), sizes)
    parts = np.split(x, np.cumsum(sizes)[:-1])
    for layer, fn in [(GlobalSumPool(dtype="float64"), np.sum), (GlobalMeanPool(dtype="float64"), np.mean),
                      (GlobalMaxPool(dtype="float64"), np.max)]:
        out = layer([td.tensor(x), batch]).numpy()
        np.testing.assert_allclose(out, np.stack([fn(p, axis=0) for p in parts]), rtol=1e-12)
    xt = td.tensor(x, requires_grad=True)
    GlobalMeanPool(dtype="float64")([xt, batch]).sum().backward()
    np.testing.assert_allclose(xt.grad.numpy(), np.repeat(1 / np.array(sizes), sizes)[:, None] * np.ones((1, 3)))


def test_gcn_weights_are_kernel_then_bias_like_dense():
    layer = GCNConv(5)
    layer([np.ones((4, 3), np.float32), np.array([[0, 1], [1, 2]])])
    assert [w.name for w in layer.weights] == ["kernel", "bias"]
    assert [w.shape for w in layer.get_weights()] == [(3, 5), (5,)]


def test_layers_work_in_the_functional_api():
    x = td.layers.Input(shape=(3,), name="x")
    edge_index = td.layers.Input(batch_shape=(2, None), dtype="int64", name="edge_index")
    batch = td.layers.Input(batch_shape=(None,), dtype="int64", name="batch")
    h = GCNConv(8, activation="relu")([x, edge_index])
    h = GATConv(4, heads=2)([h, edge_index])
    h = SAGEConv(4)([h, edge_index])
    h = GINConv(Dense(4))([h, edge_index])
    pooled = GlobalMeanPool()([h, batch])
    model = td.models.Model([x, edge_index, batch], Dense(2)(pooled))
    assert model.outputs[0].shape == (None, 2) if isinstance(model.outputs, list) else model.outputs.shape == (None, 2)
    out = model([np.ones((5, 3), np.float32), np.array([[0, 1, 3], [1, 2, 4]]), np.array([0, 0, 0, 1, 1])])
    assert out.shape == (2, 2)


@pytest.mark.parametrize("inputs, error, message", [
    ([np.ones((3, 2)), np.array([[0, 1], [1, 3]])], IndexError, "holds node 3, outside \\[0, 3\\)"),
    ([np.ones((3, 2)), np.array([[0, -1], [1, 2]])], IndexError, "holds node -1"),
    ([np.ones((3, 2)), np.array([[0.0, 1.0], [1.0, 2.0]])], TypeError, "must hold integers"),
    ([np.ones((3, 2)), np.array([[0, 1], [1, 2], [2, 0]])], ValueError, "shape \\(2, num_edges\\)"),
    ([np.ones((3, 2)), np.array([[0, 1], [1, 2]]), np.ones(3)], ValueError, "edge_weight must have shape \\(2,\\)"),
    ([np.ones((3, 2))], ValueError, "takes \\[x, edge_index\\]"),
])
def test_conv_bad_input_is_a_clear_error(inputs, error, message):
    with pytest.raises(error, match=message):
        GCNConv(2)(inputs)


@pytest.mark.parametrize("batch, error, message", [
    (np.array([0, 1, 0]), ValueError, "must be sorted"),
    (np.array([0, 1]), ValueError, "has 2 entries but there are 3 nodes"),
    (np.array([0.0, 0.0, 1.0]), TypeError, "integer graph ids"),
    (np.array([-1, 0, 0]), ValueError, "ids start at 0"),
])
def test_pool_bad_batch_is_a_clear_error(batch, error, message):
    with pytest.raises(error, match=message):
        GlobalSumPool()([np.ones((3, 2)), batch])
