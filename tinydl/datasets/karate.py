"""Zachary's karate club (34 members, 78 friendships, public domain), bundled.

    edge_index, labels = tinydl.datasets.karate.load_data()
    train_mask, test_mask = tinydl.datasets.karate.split_nodes(labels, per_class=4)

W. W. Zachary, "An information flow model for conflict and fission in small groups", J. Anthropol.
Res. 33, 452-473 (1977). The club split in two; `labels` are the standard two communities:
0 = Mr. Hi's group (17 members), 1 = the Officer's (17 members). Edges are undirected, so
`edge_index` (2, 156) holds each friendship in both directions, in PyTorch Geometric's layout.
"""
import os

import numpy as np

__all__ = ["load_data", "split_nodes", "CLASS_NAMES", "NUM_NODES"]

CLASS_NAMES = ("Mr. Hi", "Officer")
NUM_NODES = 34
_PATH = os.path.join(os.path.dirname(__file__), "data", "karate_club.csv")


def load_data(directed=False):
    """(edge_index int64 (2, 156), labels int64 (34,)); `directed=True` gives each edge once (2, 78)."""
    nodes, edges, part = [], [], None
    with open(_PATH) as f:
        for line in f:
            line = line.strip()
            if line.startswith("#"):
                part = {"# nodes": nodes, "# edges": edges}.get(line, part)
                continue
            if line:
                part.append([int(v) for v in line.split(",")])
    nodes, edges = np.array(nodes, dtype=np.int64), np.array(edges, dtype=np.int64).T
    labels = np.empty(NUM_NODES, dtype=np.int64)
    labels[nodes[:, 0]] = nodes[:, 1]
    if not directed:
        edges = np.concatenate([edges, edges[::-1]], axis=1)
    return edges, labels


def split_nodes(labels, per_class=4, seed=0):
    """(train_mask, test_mask) booleans: `per_class` random labelled nodes of each class, the rest for testing."""
    rng = np.random.default_rng(seed)
    train = np.zeros(len(labels), dtype=bool)
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        if per_class > len(members):
            raise ValueError(f"split_nodes: class {c} has only {len(members)} nodes, asked for {per_class}")
        train[rng.choice(members, per_class, replace=False)] = True
    return train, ~train
