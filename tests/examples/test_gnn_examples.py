"""The graph examples run briefly and learn: karate club beats the majority baseline by a wide margin,
and GIN tells cycles, paths and stars apart (>= 0.9)."""
import numpy as np

from tinydl.datasets import karate
from tinydl.examples import gnn_graph, gnn_node


def test_karate_data_is_the_standard_club():
    edge_index, labels = karate.load_data(directed=True)
    assert edge_index.shape == (2, 78) and labels.shape == (34,)
    assert np.bincount(labels).tolist() == [17, 17] and labels[0] == 0 and labels[33] == 1
    assert len({tuple(e) for e in edge_index.T}) == 78 and np.all(edge_index[0] < edge_index[1])
    train, test = karate.split_nodes(labels, per_class=4, seed=0)
    assert train.sum() == 8 and np.bincount(labels[train]).tolist() == [4, 4] and not np.any(train & test)


def test_gcn_on_karate_beats_the_majority_baseline_by_a_wide_margin():
    result = gnn_node.main(epochs=60, verbose=0)
    assert result["baseline_accuracy"] <= 0.6
    assert result["test_accuracy"] >= result["baseline_accuracy"] + 0.3
    assert result["history"]["loss"][-1] < result["history"]["loss"][0]


def test_gin_classifies_cycles_paths_and_stars():
    result = gnn_graph.main(epochs=30, verbose=0)
    assert result["test_accuracy"] >= 0.9
