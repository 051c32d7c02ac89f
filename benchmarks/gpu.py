"""GPU training steps, tinydl on CuPy against PyTorch CUDA on the same machine.

Empty (no rows) where CuPy or a GPU is missing. Each step ends with a device synchronisation so
the timer sees the GPU's work, not just the launches.

    python -m benchmarks gpu
"""
import pathlib
import sys

if __package__ in (None, ""):
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

import tinydl as td  # noqa: E402
from benchmarks.run import torch_or_none  # noqa: E402
from tinydl.backend import cupy_available  # noqa: E402


def workloads():
    if not cupy_available():
        return []
    import cupy
    torch = torch_or_none()
    rows = []
    for name, batch, sizes in (("MLP 784-512-512-10", 256, (784, 512, 512, 10)),
                               ("GEMM-bound dense 4096x4096", 4096, (4096, 4096, 4096))):
        rows += _dense_rows(name, batch, sizes, cupy, torch)
    return rows


def _dense_rows(name, batch, sizes, cupy, torch):
    """A train step of Dense layers (relu between) with SGD, tinydl vs torch.cuda."""
    from tinydl.layers import Dense, Input
    from tinydl.models import Sequential
    td.set_seed(0)
    layers = [Input(shape=(sizes[0],))] + [Dense(n, activation="relu") for n in sizes[1:-1]] + [Dense(sizes[-1])]
    model = Sequential(layers).to("cuda")
    model.compile(td.optimizers.SGD(0.01), "mean_squared_error")
    x = cupy.asarray(np.random.default_rng(0).standard_normal((batch, sizes[0])), dtype=cupy.float32)
    y = cupy.zeros((batch, sizes[-1]), dtype=cupy.float32)

    def ours():
        model.train_on_batch(x, y)
        cupy.cuda.Device().synchronize()
    label = f"{name} train step (batch {batch})"
    if torch is None or not torch.cuda.is_available():
        return [(label, ours, None, "torch.cuda")]
    mods = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        mods += [torch.nn.Linear(a, b), torch.nn.ReLU()]
    net = torch.nn.Sequential(*mods[:-1]).cuda()
    opt = torch.optim.SGD(net.parameters(), lr=0.01)
    xt, yt = torch.as_tensor(x, device="cuda"), torch.as_tensor(y, device="cuda")

    def theirs():
        opt.zero_grad()
        torch.nn.functional.mse_loss(net(xt), yt).backward()
        opt.step()
        torch.cuda.synchronize()
    return [(label, ours, theirs, "torch.cuda")]


if __name__ == "__main__":
    from benchmarks.run import script_main
    sys.exit(script_main("gpu"))
