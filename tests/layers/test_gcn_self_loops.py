"""GCNConv adds only the missing self loops, as PyTorch Geometric's GCNConv (add_remaining_self_loops):
checked against a hand-computed case and a dense NumPy reference of PyG's formula on graphs with self
loops, duplicate edges and isolated nodes."""
import numpy as np
import pytest

import tinydl as td
from tinydl.graph import add_remaining_self_loops, gcn_norm
from tinydl.layers import GCNConv

# 4 nodes: 0->1 twice (a duplicate), a self loop 1->1, 2->0; node 3 is isolated
EDGES = np.array([[0, 0, 1, 2], [1, 1, 1, 0]])


def pyg_dense_adjacency(edge_index, n, edge_weight=None):
    """PyG's A': non-loop edges add up into A[t, s]; each node's loop is its existing loop's weight (the
    last one given) or 1."""
    w = np.ones(edge_index.shape[1]) if edge_weight is None else np.asarray(edge_weight, dtype=np.float64)
    a = np.zeros((n, n))
    loops = np.ones(n)
    for (s, t), weight in zip(edge_index.T, w):
        if s == t:
            loops[s] = weight
        else:
            a[t, s] += weight
    return a + np.diag(loops)


def pyg_gcn(x, edge_index, kernel, bias, edge_weight=None):
    a = pyg_dense_adjacency(edge_index, len(x), edge_weight)
    d = a.sum(axis=1)
    inv = np.where(d > 0, 1 / np.sqrt(np.where(d > 0, d, 1)), 0)
    return (inv[:, None] * a * inv[None, :]) @ x @ kernel + bias


def test_existing_self_loop_is_kept_once_and_missing_ones_are_added_hand_computed():
    layer = GCNConv(4, use_bias=False, kernel_initializer="identity")
    x = np.eye(4)
    out = layer([x, EDGES]).numpy()
    # degrees with one loop each: node 0: 1 (from 2) + 1, node 1: 2 (duplicate 0->1) + 1, nodes 2, 3: 1
    expected = np.array([
        [1 / 2, 0, 1 / np.sqrt(2), 0],
        [2 / np.sqrt(6), 1 / 3, 0, 0],
        [0, 0, 1, 0],
        [0, 0, 0, 1],
    ])
    np.testing.assert_allclose(out, expected, rtol=1e-6)


@pytest.mark.parametrize("weighted", [False, True])
def test_gcnconv_equals_pyg_on_random_graphs_with_loops_duplicates_and_isolated_nodes(weighted):
    rng = np.random.default_rng(0)
    n = 7
    edges = rng.integers(0, n - 1, size=(2, 20))          # node 6 is isolated
    edges[:, :3] = [[2, 2, 4], [2, 2, 4]]                 # a repeated self loop and another loop
    edges[:, 3:5] = [[0, 0], [5, 5]]                      # a duplicate edge
    weight = rng.uniform(0.5, 2.0, size=20) if weighted else None
    x = rng.standard_normal((n, 3))
    layer = GCNConv(2, dtype="float64")
    inputs = [x, edges] + ([weight] if weighted else [])
    out = layer(inputs).numpy()
    kernel, bias = layer.get_weights()
    np.testing.assert_allclose(out, pyg_gcn(x, edges, kernel, bias, weight), rtol=1e-10)


def test_edge_weights_keep_their_gradient_through_the_remaining_loops():
    """d out / d w by finite differences in float64: the existing loop's weight is used, not duplicated."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 3))
    layer = GCNConv(2, dtype="float64")
    w = td.Tensor(np.array([0.7, 1.3, 0.4, 1.1]), requires_grad=True)
    out = layer([x, EDGES, w])
    probe = rng.standard_normal(out.shape)
    (out * probe).sum().backward()
    kernel, bias = layer.get_weights()
    eps, numeric = 1e-6, []
    for i in range(4):
        d = np.zeros(4)
        d[i] = eps
        f = lambda v: (pyg_gcn(x, EDGES, kernel, bias, v) * probe).sum()  # noqa: E731
        numeric.append((f(w.numpy() + d) - f(w.numpy() - d)) / (2 * eps))
    np.testing.assert_allclose(w.grad.numpy(), numeric, rtol=1e-6, atol=1e-9)


def test_add_remaining_self_loops_and_gcn_norm_follow_pyg():
    ei, w = add_remaining_self_loops(EDGES, np.array([1.0, 2.0, 0.5, 3.0]), num_nodes=4, fill_value=1.0)
    assert ei.tolist() == [[0, 0, 2, 0, 1, 2, 3], [1, 1, 0, 0, 1, 2, 3]]
    assert w.tolist() == [1.0, 2.0, 3.0, 1.0, 0.5, 1.0, 1.0]
    ei, norm = gcn_norm(EDGES, None, 4, dtype="float64")
    dense = np.zeros((4, 4))
    np.add.at(dense, (ei[1], ei[0]), norm)
    a = pyg_dense_adjacency(EDGES, 4)
    d = a.sum(axis=1)
    np.testing.assert_allclose(dense, a / np.sqrt(np.outer(d, d)), rtol=1e-12)


def test_onnx_export_keeps_existing_loops_once(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    from tinydl.layers import Input
    from tinydl.models import Model
    x_in = Input(shape=(3,), name="x")
    ei_in = Input(batch_shape=(2, None), dtype="int64", name="edge_index")
    w_in = Input(batch_shape=(None,), name="edge_weight")
    model = Model([x_in, ei_in, w_in], GCNConv(2)([x_in, ei_in, w_in]))
    x = np.random.default_rng(2).standard_normal((4, 3)).astype(np.float32)
    w = np.array([0.7, 1.3, 0.4, 1.1], dtype=np.float32)
    path = str(tmp_path / "gcn.onnx")
    model.export(path)
    session = ort.InferenceSession(path)
    names = [i.name for i in session.get_inputs()]
    got = session.run(None, dict(zip(names, [x, EDGES.astype(np.int64), w])))[0]
    kernel, bias = model.layers[-1].get_weights()
    np.testing.assert_allclose(got, pyg_gcn(x, EDGES, kernel, bias, w), rtol=1e-5, atol=1e-6)
