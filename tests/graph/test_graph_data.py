"""tinydl.graph: the Graph container, batching into one disjoint graph, utilities, and the loader."""
import numpy as np
import pytest

import tinydl as td
from tinydl.graph import (
    Graph, GraphLoader, add_self_loops, batch_graphs, degree, gcn_norm, remove_self_loops,
)


def triangle(label):
    return Graph(np.arange(6.0).reshape(3, 2), [[0, 1, 2], [1, 2, 0]], y=label)


def test_batch_graphs_shifts_edges_and_numbers_the_graphs():
    merged = batch_graphs([triangle(1), Graph(np.ones((2, 2)), [[0], [1]], y=0), triangle(2)])
    assert merged.num_nodes == 8 and merged.num_edges == 7 and merged.num_graphs == 3
    np.testing.assert_array_equal(merged.edge_index, [[0, 1, 2, 3, 5, 6, 7], [1, 2, 0, 4, 6, 7, 5]])
    np.testing.assert_array_equal(merged.batch, [0, 0, 0, 1, 1, 2, 2, 2])
    np.testing.assert_array_equal(merged.y, [1, 0, 2])


def test_self_loop_utilities():
    ei, w = add_self_loops(np.array([[0, 1], [1, 1]]), np.array([2.0, 3.0]), num_nodes=3)
    np.testing.assert_array_equal(ei, [[0, 1, 0, 1, 2], [1, 1, 0, 1, 2]])
    np.testing.assert_array_equal(w, [2, 3, 1, 1, 1])
    ei, w = remove_self_loops(ei, w)
    np.testing.assert_array_equal(ei, [[0], [1]])
    np.testing.assert_array_equal(w, [2])


def test_degree_counts_duplicates_and_weights():
    np.testing.assert_array_equal(degree(np.array([1, 1, 2]), num_nodes=4), [0, 2, 1, 0])
    np.testing.assert_array_equal(degree(np.array([1, 1, 2]), 3, edge_weight=np.array([0.5, 1, 2])), [0, 1.5, 2])


def test_gcn_norm_matches_the_dense_formula_and_leaves_isolated_nodes_at_zero():
    edge_index = np.array([[0, 0, 1], [1, 1, 0]])  # a duplicate edge; node 2 isolated
    ei, w = gcn_norm(edge_index, num_nodes=3, dtype="float64")
    dense = np.zeros((3, 3))
    np.add.at(dense, (ei[1], ei[0]), w)
    a = np.array([[0, 1, 0], [2, 0, 0], [0, 0, 0]]) + np.eye(3)
    d = a.sum(axis=1)
    np.testing.assert_allclose(dense, a / np.sqrt(np.outer(d, d)))
    _, w = gcn_norm(edge_index, num_nodes=3, add_self_loops=False, dtype="float64")
    assert np.all(np.isfinite(w))


def test_loader_yields_fit_ready_batches_and_reshuffles():
    td.set_seed(0)
    graphs = [triangle(i) for i in range(5)]
    loader = GraphLoader(graphs, batch_size=2, shuffle=True)
    assert len(loader) == 3
    (x, edge_index, batch), y = loader[0]
    assert x.shape == (6, 2) and edge_index.shape == (2, 6) and list(batch) == [0, 0, 0, 1, 1, 1]
    first = [tuple(loader[i][1]) for i in range(3)]
    assert sorted(v for part in first for v in part) == [0, 1, 2, 3, 4]
    orders = {tuple(loader.order)}
    for _ in range(5):
        loader.on_epoch_end()
        orders.add(tuple(loader.order))
    assert len(orders) > 1
    with pytest.raises(IndexError, match="has 3 batches"):
        loader[3]


def test_loader_passes_node_masks_as_sample_weight():
    g = Graph(np.ones((4, 2)), [[0, 1], [1, 2]], y=np.array([0, 1, 1, 0]), sample_weight=np.array([1, 0, 1, 0.0]))
    inputs, y, sw = GraphLoader(g, batch_size=1)[0]
    assert len(inputs) == 3 and list(sw) == [1, 0, 1, 0] and list(inputs[2]) == [0, 0, 0, 0]


@pytest.mark.parametrize("make, error, message", [
    (lambda: Graph(np.ones((3, 2)), [[0, 1], [1, 3]]), IndexError, "holds node 3, outside \\[0, 3\\)"),
    (lambda: Graph(np.ones((3, 2)), [[0.5, 1], [1, 2]]), TypeError, "must hold integers"),
    (lambda: Graph(np.ones((3, 2)), [[0, 1, 2]]), ValueError, "shape \\(2, num_edges\\)"),
    (lambda: Graph(np.ones((3, 2)), [[0, 1], [1, 2]], edge_weight=[1.0]), ValueError, "edge_weight must have"),
    (lambda: Graph(np.ones((3, 2)), [[0], [1]], batch=[1, 0, 0]), ValueError, "must be sorted"),
    (lambda: Graph(np.ones((3, 2)), [[0], [1]], batch=[0, 0]), ValueError, "2 entries but there are 3 nodes"),
    (lambda: batch_graphs([triangle(0), "not a graph"]), TypeError, "item 1 is a str"),
    (lambda: batch_graphs([triangle(0), Graph(np.ones((1, 2)), np.zeros((2, 0), int))]), ValueError,
     "some graphs have y"),
])
def test_bad_graphs_are_clear_errors(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_loader_feeds_fit_validation_and_predict():
    from tinydl.examples import gnn_graph
    td.set_seed(0)
    model = gnn_graph.build_model(hidden=8)
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    train = GraphLoader(gnn_graph.make_graphs(24), batch_size=8, shuffle=True)
    val = GraphLoader(gnn_graph.make_graphs(10, seed=5), batch_size=4)
    history = model.fit(train, validation_data=val, epochs=2, verbose=0)
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert model.predict(val, verbose=0).shape == (10, 3)  # one row per graph, batches concatenated
