"""Node classification on Zachary's karate club with a two-layer GCN (Kipf & Welling 2017).

The members have no features (one-hot ids instead), so everything the model knows comes from the
friendship graph and 4 labelled members per community; the loss sees only those (through
`sample_weight`), and accuracy is measured on the 26 others against a feature-free majority baseline.
"""
import numpy as np

import tinydl as td
from tinydl.datasets import karate
from tinydl.graph import Graph, GraphLoader
from tinydl.layers import Dropout, Input
from tinydl.layers.graph import GCNConv
from tinydl.models import Model


def build_model(num_nodes=karate.NUM_NODES, hidden=16, classes=2):
    """GCN(16, relu) -> dropout -> GCN(2, softmax) over [x, edge_index], uncompiled."""
    x = Input(shape=(num_nodes,), name="x")
    edge_index = Input(batch_shape=(2, None), dtype="int64", name="edge_index")
    h = GCNConv(hidden, activation="relu")([x, edge_index])
    h = Dropout(0.5)(h)
    out = GCNConv(classes, activation="softmax")([h, edge_index])
    return Model([x, edge_index], out, name="karate_gcn")


def main(epochs=None, verbose=2, per_class=4, seed=0):
    """Train on `per_class` labelled members per community; print and return test accuracy and baseline."""
    td.set_seed(seed)
    edge_index, labels = karate.load_data()
    train, test = karate.split_nodes(labels, per_class=per_class, seed=seed)
    x = np.eye(karate.NUM_NODES, dtype=np.float32)
    graph = Graph(x, edge_index, y=labels, sample_weight=train.astype(np.float32))
    model = build_model()
    model.compile(optimizer=td.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    loader = GraphLoader(graph, inputs=("x", "edge_index"))
    history = model.fit(loader, epochs=epochs or 100, verbose=verbose)
    predicted = model.predict(loader, verbose=0).argmax(axis=1)
    accuracy = float(np.mean(predicted[test] == labels[test]))
    majority = np.bincount(labels[train]).argmax()
    baseline = float(np.mean(labels[test] == majority))
    if verbose:
        print(f"karate club GCN: test accuracy {accuracy:.3f} on {test.sum()} members "
              f"(majority baseline {baseline:.3f})")
    return {"history": history.history, "test_accuracy": accuracy, "baseline_accuracy": baseline, "model": model}


if __name__ == "__main__":
    main()
