"""Normalisation: batch_norm (batch statistics, channels last) and layer_norm, forward + backward.

References: the same computation chained from tinydl's generic ops (what the fused kernels replace)
and PyTorch's BatchNorm/LayerNorm when installed.

    python -m benchmarks norm
"""
import pathlib
import sys

if __package__ in (None, ""):
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

import tinydl as td  # noqa: E402
from benchmarks.run import torch_or_none  # noqa: E402

EPS = 1e-3


def workloads():
    rows = []
    for shape in [(256, 512), (32, 16, 16, 32)]:
        rows += _workloads("batch_norm", shape)
    for shape in [(256, 512), (32, 128, 64)]:
        rows += _workloads("layer_norm", shape)
    return rows


def _workloads(op, shape):
    rng = np.random.default_rng(0)
    data = rng.normal(size=shape).astype(np.float32)
    grad = rng.normal(size=shape).astype(np.float32)
    c = shape[-1]
    x = td.tensor(data, requires_grad=True)
    gamma = td.tensor(np.ones(c, np.float32), requires_grad=True)
    beta = td.tensor(np.zeros(c, np.float32), requires_grad=True)
    axes = tuple(range(len(shape) - 1)) if op == "batch_norm" else (-1,)

    def reset():
        x.grad = gamma.grad = beta.grad = None

    def tinydl_fn():
        reset()
        getattr(td, op)(x, gamma, beta, epsilon=EPS).backward(grad)

    def chained_fn():
        reset()
        mean = x.mean(axis=axes, keepdims=True)
        centered = x - mean
        var = (centered * centered).mean(axis=axes, keepdims=True)
        (centered / td.sqrt(var + EPS) * gamma + beta).backward(grad)

    name = f"{op} fwd+bwd {shape}"
    rows = [(name, tinydl_fn, chained_fn, "tinydl generic ops")]
    torch = torch_or_none()
    if torch is not None:
        if op == "batch_norm":
            # PyTorch is channels-first: the same data with channels moved to axis 1
            xt = torch.tensor(np.ascontiguousarray(np.moveaxis(data, -1, 1)), requires_grad=True)
            gt = torch.tensor(np.ascontiguousarray(np.moveaxis(grad, -1, 1)))
            module = (torch.nn.BatchNorm1d if len(shape) == 2 else torch.nn.BatchNorm2d)(c, eps=EPS)
        else:
            xt, gt = torch.tensor(data, requires_grad=True), torch.tensor(grad)
            module = torch.nn.LayerNorm(c, eps=EPS)

        def torch_fn():
            xt.grad = None
            module.zero_grad()
            module(xt).backward(gt)
        rows.append((name, tinydl_fn, torch_fn, "torch"))
    return rows


if __name__ == "__main__":
    from benchmarks.run import script_main
    sys.exit(script_main("norm"))
