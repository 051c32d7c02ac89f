"""Loss cores: fused sparse softmax cross-entropy (forward + backward) and an optimizer step.

References: the same loss composed from NumPy (log-softmax, pick, softmax - onehot) and PyTorch's
`cross_entropy` when installed; Adam on an MLP's worth of weights against `torch.optim.Adam`.

    python -m benchmarks losses
"""
import pathlib
import sys

if __package__ in (None, ""):
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

import tinydl as td  # noqa: E402
from benchmarks.run import torch_or_none  # noqa: E402
from tinydl import optimizers  # noqa: E402


def _xent_workloads(n, classes):
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(n, classes)).astype(np.float32) * 3
    labels = rng.integers(0, classes, size=n)
    x = td.tensor(logits, requires_grad=True)

    def tinydl_fn():
        x.grad = None
        td.sparse_softmax_cross_entropy(x, labels).sum().backward()

    def numpy_fn():
        shifted = logits - logits.max(axis=1, keepdims=True)
        lse = np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        loss = -(shifted - lse)[np.arange(n), labels]
        grad = np.exp(shifted - lse)
        grad[np.arange(n), labels] -= 1
        return loss, grad

    name = f"sparse softmax xent fwd+bwd ({n}x{classes})"
    rows = [(name, tinydl_fn, numpy_fn, "numpy")]
    torch = torch_or_none()
    if torch is not None:
        xt = torch.tensor(logits, requires_grad=True)
        yt = torch.tensor(labels)

        def torch_fn():
            xt.grad = None
            torch.nn.functional.cross_entropy(xt, yt, reduction="sum").backward()
        rows.append((name, tinydl_fn, torch_fn, "torch"))
    return rows


def _adam_workloads():
    rng = np.random.default_rng(1)
    shapes = [(64, 128), (128,), (128, 64), (64,), (64, 10), (10,)]

    class Var:
        def __init__(self, shape):
            self.data = rng.normal(size=shape).astype(np.float32)

    variables = [Var(s) for s in shapes]
    grads = [rng.normal(size=s).astype(np.float32) for s in shapes]
    opt = optimizers.Adam()

    def tinydl_fn():
        opt.apply(grads, variables)

    name = "Adam step (digits MLP weights, 17k params)"
    torch = torch_or_none()
    if torch is None:
        return [(name, tinydl_fn, None, "torch")]
    params = [torch.nn.Parameter(torch.tensor(v.data)) for v in variables]
    for p, g in zip(params, grads):
        p.grad = torch.tensor(g)
    topt = torch.optim.Adam(params, lr=1e-3, eps=1e-7)

    def torch_fn():
        topt.step()
    return [(name, tinydl_fn, torch_fn, "torch")]


def workloads():
    return _xent_workloads(32, 10) + _xent_workloads(512, 1000) + _adam_workloads()


if __name__ == "__main__":
    from benchmarks.run import script_main
    sys.exit(script_main("losses"))
