"""Graph convolution: one GCNConv layer, forward + backward, on a random graph.

N = 10,000 nodes, E = 100,000 random directed edges, 64 input and 64 output features, float32.
tinydl's GCNConv (CSR-sorted scatter kernels, normalisation D^-1/2 (A + I) D^-1/2 with only the missing self
loops added, recomputed every call, as PyTorch Geometric's GCNConv does without caching) against the same
layer written in PyTorch two ways: PyG-style message passing (gather, scale, `index_add_`) and a sparse matrix
product (`torch.sparse.mm` on a COO adjacency). Gradients flow to x, kernel and bias in all three.

    python -m benchmarks graph
"""
import pathlib
import sys

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

import tinydl as td  # noqa: E402
from benchmarks.run import torch_or_none  # noqa: E402

NODES, EDGES, FEATURES = 10_000, 100_000, 64


def workloads():
    """GCN forward + backward: tinydl against PyTorch index_add_ and sparse.mm (when installed)."""
    rng = np.random.default_rng(0)
    x_np = rng.standard_normal((NODES, FEATURES)).astype(np.float32)
    edge_index = rng.integers(0, NODES, (2, EDGES)).astype(np.int64)
    grad = rng.standard_normal((NODES, FEATURES)).astype(np.float32)
    td.set_seed(0)
    layer = td.layers.GCNConv(FEATURES)
    x = td.tensor(x_np, requires_grad=True)
    layer([x, edge_index])

    def ours():
        layer([x, edge_index]).backward(grad)

    label = f"GCNConv fwd+bwd (N={NODES}, E={EDGES}, F={FEATURES})"
    torch = torch_or_none()
    if torch is None:
        return [(label, ours, None, "torch")]
    kernel = torch.tensor(layer.kernel.numpy(), requires_grad=True)
    bias = torch.tensor(layer.bias.numpy(), requires_grad=True)
    x_t = torch.tensor(x_np, requires_grad=True)
    ei_t = torch.from_numpy(edge_index)
    grad_t = torch.from_numpy(grad)

    def normalized(torch):
        loops = torch.arange(NODES)  # PyG's add_remaining_self_loops: an existing self loop is not doubled
        ei = torch.cat([ei_t[:, ei_t[0] != ei_t[1]], torch.stack([loops, loops])], dim=1)
        deg = torch.zeros(NODES).index_add_(0, ei[1], torch.ones(ei.shape[1]))
        inv = deg.pow(-0.5).masked_fill_(deg == 0, 0)
        return ei, inv[ei[0]] * inv[ei[1]]

    def torch_index_add():
        ei, w = normalized(torch)
        h = x_t @ kernel
        out = torch.zeros(NODES, FEATURES).index_add_(0, ei[1], h[ei[0]] * w[:, None]) + bias
        out.backward(grad_t)

    def torch_sparse():
        ei, w = normalized(torch)
        adjacency = torch.sparse_coo_tensor(ei.flip(0), w, (NODES, NODES))
        out = torch.sparse.mm(adjacency, x_t @ kernel) + bias
        out.backward(grad_t)

    _check_same(layer, x, edge_index, torch, x_t, kernel, bias, normalized)
    return [(label, ours, torch_index_add, "torch index_add_"), (label, ours, torch_sparse, "torch sparse.mm")]


def _check_same(layer, x, edge_index, torch, x_t, kernel, bias, normalized):
    """The references compute the same layer (so the timing compares like with like)."""
    ei, w = normalized(torch)
    with torch.no_grad():
        reference = torch.sparse.mm(torch.sparse_coo_tensor(ei.flip(0), w, (NODES, NODES)), x_t @ kernel) + bias
    with td.no_grad():
        ours = layer([x, edge_index]).numpy()
    np.testing.assert_allclose(ours, reference.numpy(), rtol=1e-3, atol=1e-4)


if __name__ == "__main__":
    from benchmarks.run import script_main
    sys.exit(script_main("graph"))
