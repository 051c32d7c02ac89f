"""Graph data for graph neural networks, in PyTorch Geometric's conventions.

    g = Graph(x, edge_index, y=label)          # x (N, F); edge_index int (2, E), sources then targets
    batch = batch_graphs([g1, g2, g3])          # one disjoint graph with a `batch` vector (N,)
    loader = GraphLoader(graphs, batch_size=32, shuffle=True)
    model.fit(loader, epochs=10)                # batches ([x, edge_index, batch], y)

An edge s->t sends s's features to t: the adjacency used by the layers is A[t, s] = weight.
The utilities (`add_self_loops`, `add_remaining_self_loops`, `remove_self_loops`, `degree`, `gcn_norm`)
work on raw arrays (NumPy or
CuPy) or Tensors and return raw arrays: graph structure is data, not something to differentiate.
"""
import math

import numpy as np

from tinydl import backend
from tinydl.tensor import Tensor

__all__ = ["Graph", "batch_graphs", "GraphLoader", "add_self_loops", "add_remaining_self_loops",
           "remaining_self_loops_index", "remove_self_loops", "degree", "gcn_norm", "check_edge_index",
           "check_batch", "num_graphs_of"]


class Graph:
    """One graph: node features `x` (N, F), `edge_index` (2, E), optional `edge_weight` (E,), labels `y`.

    `y` and `sample_weight` are node-level (first axis N) or graph-level (a scalar or a first axis of
    1); `batch_graphs` concatenates them along the first axis either way, as PyTorch Geometric does.
    `batch` (N,) holds graph ids for a graph made of several (see `batch_graphs`).
    """

    def __init__(self, x, edge_index, edge_weight=None, y=None, sample_weight=None, batch=None, num_nodes=None):
        self.x = None if x is None else _array(x)
        if self.x is not None and self.x.ndim < 1:
            raise ValueError(f"Graph: x must have shape (num_nodes, ...), got {self.x.shape}")
        n = self.x.shape[0] if self.x is not None else num_nodes
        if n is None:
            raise ValueError("Graph: pass node features x or num_nodes")
        if num_nodes is not None and int(num_nodes) != n:
            raise ValueError(f"Graph: num_nodes={num_nodes} but x has {n} rows")
        self.num_nodes = int(n)
        self.edge_index = check_edge_index(edge_index, self.num_nodes, where="Graph")
        self.edge_weight = None
        if edge_weight is not None:
            w = _array(edge_weight)
            if w.shape != (self.num_edges,):
                raise ValueError(f"Graph: edge_weight must have shape ({self.num_edges},), got {w.shape}")
            self.edge_weight = w
        self.y = None if y is None else _array(y)
        self.sample_weight = None if sample_weight is None else _array(sample_weight)
        self.batch = None
        if batch is not None:
            self.batch = _array(batch).astype(np.int64, copy=False)
            check_batch(self.batch, self.num_nodes, where="Graph")

    @property
    def num_edges(self):
        return int(self.edge_index.shape[1])

    @property
    def num_features(self):
        return 0 if self.x is None or self.x.ndim == 1 else int(self.x.shape[1])

    @property
    def num_graphs(self):
        return 1 if self.batch is None else num_graphs_of(self.batch)

    def inputs(self, names=("x", "edge_index", "batch")):
        """The arrays a model takes, by attribute name (`batch` is all zeros for a single graph)."""
        out = []
        for name in names:
            if name == "batch" and self.batch is None:
                out.append(np.zeros(self.num_nodes, dtype=np.int64))
            else:
                value = getattr(self, name)
                if value is None:
                    raise ValueError(f"Graph has no {name!r} to feed the model")
                out.append(value)
        return out

    def __repr__(self):
        parts = [f"num_nodes={self.num_nodes}", f"num_edges={self.num_edges}"]
        if self.x is not None:
            parts.append(f"x={tuple(self.x.shape)}")
        if self.y is not None:
            parts.append(f"y={tuple(self.y.shape)}")
        if self.batch is not None:
            parts.append(f"num_graphs={self.num_graphs}")
        return f"Graph({', '.join(parts)})"


def batch_graphs(graphs):
    """Several graphs as one disjoint graph: nodes stacked, edge ids shifted, a `batch` vector of graph ids."""
    graphs = list(graphs)
    if not graphs:
        raise ValueError("batch_graphs: need at least one graph")
    for i, g in enumerate(graphs):
        if not isinstance(g, Graph):
            raise TypeError(f"batch_graphs: item {i} is a {type(g).__name__}, not a Graph")
    offsets = np.cumsum([0] + [g.num_nodes for g in graphs[:-1]])
    edge_index = np.concatenate([g.edge_index + off for g, off in zip(graphs, offsets)], axis=1) \
        if graphs else np.zeros((2, 0), np.int64)
    batch = np.concatenate([np.full(g.num_nodes, i, dtype=np.int64) for i, g in enumerate(graphs)])
    x = _concat([g.x for g in graphs], "x")
    return Graph(x, edge_index.astype(np.int64), edge_weight=_concat([g.edge_weight for g in graphs], "edge_weight"),
                 y=_concat([g.y for g in graphs], "y"), sample_weight=_concat([g.sample_weight for g in graphs],
                                                                              "sample_weight"),
                 batch=batch, num_nodes=int(sum(g.num_nodes for g in graphs)))


class GraphLoader:
    """Batches of graphs for `Model.fit` / `evaluate` / `predict`: a Sequence of (inputs, y[, sample_weight]).

    Each item merges `batch_size` graphs with `batch_graphs` and yields `([x, edge_index, batch], y)`
    (the input names are configurable, e.g. `inputs=("x", "edge_index", "edge_weight", "batch")`),
    plus the concatenated `sample_weight` when the graphs carry one. With `shuffle=True` the order
    is drawn again from tinydl's generator at the end of every epoch.
    """

    def __init__(self, graphs, batch_size=32, shuffle=False, inputs=("x", "edge_index", "batch")):
        self.graphs = [graphs] if isinstance(graphs, Graph) else list(graphs)
        if not self.graphs:
            raise ValueError("GraphLoader: no graphs given")
        if int(batch_size) < 1:
            raise ValueError(f"GraphLoader: batch_size must be >= 1, got {batch_size}")
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.input_names = tuple(inputs)
        self.order = np.arange(len(self.graphs))
        if self.shuffle:
            self.on_epoch_end()

    def __len__(self):
        return math.ceil(len(self.graphs) / self.batch_size)

    def __getitem__(self, i):
        if not -len(self) <= i < len(self):
            raise IndexError(f"GraphLoader has {len(self)} batches, asked for batch {i}")
        i %= len(self)
        picked = [self.graphs[j] for j in self.order[i * self.batch_size:(i + 1) * self.batch_size]]
        merged = batch_graphs(picked) if len(picked) > 1 or picked[0].batch is None else picked[0]
        x = merged.inputs(self.input_names)
        if merged.sample_weight is not None:
            return x, merged.y, merged.sample_weight
        return x, merged.y

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    def on_epoch_end(self):
        """Draw a new order of the graphs when shuffling."""
        if self.shuffle:
            self.order = backend.rng().permutation(len(self.graphs))


# -- utilities ----------------------------------------------------------------------------------

def add_self_loops(edge_index, edge_weight=None, num_nodes=None, fill_value=1.0):
    """(edge_index, edge_weight) with an edge i->i appended for every node (existing loops are kept)."""
    ei = _raw(edge_index)
    return _append_loops(ei, None if edge_weight is None else _raw(edge_weight), _num_nodes(ei, num_nodes),
                         fill_value)


def add_remaining_self_loops(edge_index, edge_weight=None, num_nodes=None, fill_value=1.0):
    """(edge_index, edge_weight) with exactly one loop i->i per node, as PyTorch Geometric's function of
    this name: existing loops are replaced, a node's loop keeping the weight of its existing loop (the
    last one when repeated), the others `fill_value`; every other edge is kept as it is."""
    ei = _raw(edge_index)
    n = _num_nodes(ei, num_nodes)
    new_ei, pick = remaining_self_loops_index(ei, n)
    if edge_weight is None:
        return new_ei, None
    w = _raw(edge_weight)
    xp = backend.array_module(w)
    return new_ei, xp.concatenate([w, xp.full(n, fill_value, dtype=w.dtype)])[pick]


def remaining_self_loops_index(edge_index, num_nodes):
    """(new edge_index, pick) of `add_remaining_self_loops`: new weights are `concat([w, fill(N)])[pick]`,
    so a caller can gather differentiable weights the same way."""
    ei = _raw(edge_index)
    xp = backend.array_module(ei)
    n, e = int(num_nodes), ei.shape[1]
    is_loop = ei[0] == ei[1]
    kept = xp.nonzero(~is_loop)[0]
    loop_pick = e + xp.arange(n)                           # the fill value by default
    loop_pick[ei[0, is_loop]] = xp.nonzero(is_loop)[0]     # an existing loop's own weight (the last wins)
    nodes = xp.arange(n, dtype=ei.dtype)
    new_ei = xp.concatenate([ei[:, kept], xp.stack([nodes, nodes])], axis=1)
    return new_ei, xp.concatenate([kept, loop_pick]).astype(np.int64)


def remove_self_loops(edge_index, edge_weight=None):
    """(edge_index, edge_weight) without the edges i->i."""
    ei = _raw(edge_index)
    keep = ei[0] != ei[1]
    return ei[:, keep], None if edge_weight is None else _raw(edge_weight)[keep]


def degree(index, num_nodes=None, edge_weight=None, dtype=None):
    """How many times (or with what total weight) each node appears in `index`, e.g. in-degree for edge_index[1]."""
    idx = _raw(index)
    xp = backend.array_module(idx)
    n = int(idx.max()) + 1 if num_nodes is None and idx.size else int(num_nodes or 0)
    if idx.size and (int(idx.min()) < 0 or int(idx.max()) >= n):
        bad = int(idx.min()) if int(idx.min()) < 0 else int(idx.max())
        raise IndexError(f"degree: index holds node {bad}, outside [0, {n}) for num_nodes={n}")
    dtype = backend.as_dtype(dtype)
    if edge_weight is None:
        return xp.bincount(idx, minlength=n).astype(dtype)
    return xp.bincount(idx, weights=_raw(edge_weight), minlength=n).astype(dtype)


def gcn_norm(edge_index, edge_weight=None, num_nodes=None, add_self_loops=True, dtype=None):
    """GCN's symmetric normalisation D^-1/2 (A + I) D^-1/2 as (edge_index, edge_weight) arrays.

    A[t, s] sums the weights of the edges s->t (duplicates add up). With `add_self_loops` every node
    gets exactly one self loop, as PyTorch Geometric's GCN (`add_remaining_self_loops`): a node that
    already has one keeps it and its weight, the others get weight 1. D is the row sum (weighted
    in-degree). Nodes of degree 0 get weight 0 instead of dividing by zero.
    """
    ei = _raw(edge_index)
    xp = backend.array_module(ei)
    n = _num_nodes(ei, num_nodes)
    ei = check_edge_index(ei, n, where="gcn_norm")
    dtype = backend.as_dtype(dtype if dtype is not None else
                             (_raw(edge_weight).dtype if edge_weight is not None else None))
    w = xp.ones(ei.shape[1], dtype=dtype) if edge_weight is None else _raw(edge_weight).astype(dtype, copy=False)
    if add_self_loops:
        ei, w = add_remaining_self_loops(ei, w, n, 1.0)
    deg = xp.zeros(n, dtype=dtype)
    if ei.shape[1]:
        deg = xp.bincount(ei[1], weights=w, minlength=n).astype(dtype)
    inv_sqrt = xp.where(deg > 0, 1.0 / xp.sqrt(xp.where(deg > 0, deg, 1)), 0).astype(dtype)
    return ei, inv_sqrt[ei[0]] * w * inv_sqrt[ei[1]]


def check_edge_index(edge_index, num_nodes, where="edge_index"):
    """edge_index as an int64 (2, E) array whose ids lie in [0, num_nodes); a clear error otherwise."""
    ei = _raw(edge_index)
    if ei.dtype.kind not in "iu":
        if ei.size == 0 and ei.dtype.kind == "f":
            ei = ei.astype(np.int64)
        else:
            raise TypeError(f"{where}: edge_index must hold integers, got dtype {ei.dtype}")
    if ei.ndim != 2 or ei.shape[0] != 2:
        raise ValueError(f"{where}: edge_index must have shape (2, num_edges) (sources, targets), got {ei.shape}; "
                         "transpose an (E, 2) edge list first")
    if ei.size:
        lo, hi = int(ei.min()), int(ei.max())
        if lo < 0 or hi >= num_nodes:
            raise IndexError(f"{where}: edge_index holds node {lo if lo < 0 else hi}, outside [0, {num_nodes}) "
                             f"for a graph of {num_nodes} nodes")
    xp = backend.array_module(ei)
    return xp.ascontiguousarray(ei, dtype=xp.int64)


def check_batch(batch, num_nodes, where="batch"):
    """Check a batch vector: 1-D ints, one per node, sorted graph ids from 0; returns it as int64."""
    b = _raw(batch)
    if b.dtype.kind not in "iu":
        raise TypeError(f"{where}: the batch vector must hold integer graph ids, got dtype {b.dtype}")
    if b.ndim != 1:
        raise ValueError(f"{where}: the batch vector must be 1-D (one graph id per node), got shape {b.shape}")
    if b.shape[0] != num_nodes:
        raise ValueError(f"{where}: the batch vector has {b.shape[0]} entries but there are {num_nodes} nodes")
    if b.shape[0]:
        xp = backend.array_module(b)
        if int(b[0]) < 0:
            raise ValueError(f"{where}: the batch vector holds graph id {int(b[0])}; ids start at 0")
        if bool(xp.any(b[1:] < b[:-1])):
            at = int(xp.argmax(b[1:] < b[:-1]))
            raise ValueError(f"{where}: the batch vector must be sorted (nodes of each graph together, as "
                             f"batch_graphs makes them), but id {int(b[at])} is followed by {int(b[at + 1])} "
                             f"at node {at + 1}")
    return backend.array_module(b).ascontiguousarray(b, dtype=np.int64)


def num_graphs_of(batch):
    """The number of graphs a (sorted) batch vector describes: its last id + 1 (0 when empty)."""
    b = _raw(batch)
    return int(b[-1]) + 1 if b.shape[0] else 0


def _raw(a):
    """A Tensor's array, or an array from anything array-like."""
    if isinstance(a, Tensor):
        return a.data
    return a if hasattr(a, "dtype") and hasattr(a, "shape") else np.asarray(a)


def _array(a):
    """A NumPy array (Tensors and CuPy arrays copied to the host)."""
    a = _raw(a)
    return a if isinstance(a, np.ndarray) else np.asarray(a.get() if hasattr(a, "get") else a)


def _append_loops(ei, w, n, fill_value):
    """Edges i->i for every node appended to (ei, w); w stays None when None."""
    xp = backend.array_module(ei)
    loops = xp.arange(n, dtype=ei.dtype)
    ei = xp.concatenate([ei, xp.stack([loops, loops])], axis=1)
    if w is None:
        return ei, None
    return ei, xp.concatenate([w, xp.full(n, fill_value, dtype=w.dtype)])


def _num_nodes(edge_index, num_nodes):
    if num_nodes is not None:
        return int(num_nodes)
    return int(edge_index.max()) + 1 if edge_index.size else 0


def _concat(parts, name):
    """Concatenate per-graph arrays along axis 0 (scalars become length-1), or None when all are None."""
    if all(p is None for p in parts):
        return None
    if any(p is None for p in parts):
        raise ValueError(f"batch_graphs: some graphs have {name} and some do not")
    return np.concatenate([np.reshape(p, (1,) + p.shape) if p.ndim == 0 else p for p in parts])
