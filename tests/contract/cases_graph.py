"""Contract cases for the graph layers: a small random graph with a self loop, a duplicate edge and an
isolated node; pools over a batch of two graphs."""
import numpy as np

from tests.contract import LayerCase
from tinydl.layers import Dense
from tinydl.layers.graph import (
    GATConv, GCNConv, GINConv, GlobalMaxPool, GlobalMeanPool, GlobalSumPool, SAGEConv,
)


def graph_inputs(weighted=False):
    """x (6, 3) and 9 edges over nodes 0..4 (node 5 isolated), with a self loop and a duplicate edge."""
    def make(rng):
        edge_index = np.array([[0, 1, 2, 3, 4, 2, 1, 1, 3],
                               [1, 2, 3, 4, 0, 2, 0, 0, 1]], dtype=np.int64)
        arrays = [rng.standard_normal((6, 3)), edge_index]
        if weighted:
            arrays.append(rng.uniform(0.5, 2.0, edge_index.shape[1]))
        return arrays
    return make


def pool_inputs(rng):
    return [rng.standard_normal((7, 3)), np.array([0, 0, 0, 1, 1, 1, 1], dtype=np.int64)]


CASES = [
    LayerCase(lambda **kw: GCNConv(4, **kw), make_inputs=graph_inputs()),
    LayerCase(lambda **kw: GCNConv(4, activation="tanh", **kw), make_inputs=graph_inputs(weighted=True),
              name="GCNConv[weighted]"),
    LayerCase(lambda **kw: GCNConv(2, normalize=False, add_self_loops=False, **kw), make_inputs=graph_inputs(),
              name="GCNConv[raw]"),
    LayerCase(lambda **kw: GATConv(2, heads=2, **kw), make_inputs=graph_inputs()),
    LayerCase(lambda **kw: GATConv(3, heads=2, concat=False, **kw), make_inputs=graph_inputs(),
              name="GATConv[mean]"),
    LayerCase(lambda **kw: SAGEConv(4, **kw), make_inputs=graph_inputs()),
    LayerCase(lambda **kw: SAGEConv(3, root_weight=False, **kw), make_inputs=graph_inputs(weighted=True),
              name="SAGEConv[weighted]"),
    LayerCase(lambda **kw: GINConv(Dense(4, activation="tanh", dtype=kw.get("dtype")), train_eps=True, **kw),
              make_inputs=graph_inputs()),
    LayerCase(lambda **kw: GINConv(Dense(2, dtype=kw.get("dtype")), eps=0.5, **kw),
              make_inputs=graph_inputs(weighted=True), name="GINConv[weighted]"),
    LayerCase(lambda **kw: GlobalSumPool(**kw), make_inputs=pool_inputs),
    LayerCase(lambda **kw: GlobalMeanPool(**kw), make_inputs=pool_inputs),
    LayerCase(lambda **kw: GlobalMaxPool(**kw), make_inputs=pool_inputs),
]
