"""Convolution workloads: conv forward+backward at a few sizes, a CNN training step, a GEMM-bound dense step.

- conv fwd+bwd: tinydl `conv` (NHWC, kernel (kh, kw, in, out)) against torch `conv2d` (NCHW, its native
  layout), the same upstream gradient; the input gradient is computed except for a first layer.
- CNN step: batch 64 of 28x28x1, Conv32(3x3, relu) - MaxPool2 - Conv64(3x3, relu) - MaxPool2 - Dense128
  (relu) - Dense10, softmax cross-entropy from logits, Adam; tinydl's `train_on_batch` against the same
  model and optimizer step in torch.
- GEMM step: a Dense(2048 -> 2048) layer's forward + backward on a batch of 1024 (three float32 GEMMs of
  1024x2048x2048 plus a bias). Reference: the same three products done by bare `numpy.matmul`, i.e. the
  machine's measured float32 matmul rate at this size, so 1 / ratio is the fraction of that rate tinydl
  reaches (the aim is >= 0.7). torch is shown for comparison.

    python -m benchmarks conv
    python benchmarks/conv.py --interleaved # tinydl and reference calls alternate (for a loaded machine)
    python benchmarks/conv.py --compile     # numba cold-compile cost, then a second process's (cached) cost
"""
import pathlib
import subprocess
import sys

if __package__ in (None, ""):
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

import tinydl as td  # noqa: E402
from benchmarks.run import torch_or_none  # noqa: E402

CONV_SIZES = [  # (batch, height, width, in, out, padding, input needs grad)
    (64, 28, 28, 1, 32, "valid", False),
    (64, 13, 13, 32, 64, "valid", True),
    (16, 32, 32, 64, 64, "same", True),
]
GEMM = (1024, 2048, 2048)


def workloads():
    torch = torch_or_none()
    rows = []
    for size in CONV_SIZES:
        rows += _conv_rows(torch, *size)
    rows += cnn_rows(torch)
    rows += gemm_rows(torch)
    return rows


def _conv_rows(torch, n, h, w, cin, cout, padding, input_grad):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, h, w, cin)).astype(np.float32)
    k = (rng.standard_normal((3, 3, cin, cout)) * 0.1).astype(np.float32)
    xt = td.tensor(x, requires_grad=input_grad)
    kt = td.tensor(k, requires_grad=True)
    out_hw = h if padding == "same" else h - 2
    g = rng.standard_normal((n, out_hw, out_hw, cout)).astype(np.float32)

    def ours():
        kt.grad = xt.grad = None
        td.conv(xt, kt, padding=padding).backward(g)

    label = f"conv3x3 fwd+bwd {n}x{h}x{w}x{cin}->{cout} {padding}"
    if torch is None:
        return [(label, ours, None, "torch")]
    tx = torch.tensor(x.transpose(0, 3, 1, 2).copy(), requires_grad=input_grad)
    tk = torch.tensor(k.transpose(3, 2, 0, 1).copy(), requires_grad=True)
    tg = torch.tensor(g.transpose(0, 3, 1, 2).copy())

    def theirs():
        tk.grad = tx.grad = None
        torch.nn.functional.conv2d(tx, tk, padding=padding).backward(tg)
    return [(label, ours, theirs, "torch")]


def cnn_rows(torch):
    from tinydl import layers as L
    from tinydl.losses import SparseCategoricalCrossentropy
    rng = np.random.default_rng(0)
    x = rng.random((64, 28, 28, 1)).astype(np.float32)
    y = rng.integers(0, 10, 64)
    td.set_seed(0)
    model = td.models.Sequential([
        L.Input(shape=(28, 28, 1)), L.Conv2D(32, 3, activation="relu"), L.MaxPooling2D(),
        L.Conv2D(64, 3, activation="relu"), L.MaxPooling2D(), L.Flatten(), L.Dense(128, activation="relu"),
        L.Dense(10)])
    model.compile(optimizer="adam", loss=SparseCategoricalCrossentropy(from_logits=True))

    def ours():
        model.train_on_batch(x, y)

    label = "CNN train step (batch 64, 28x28x1, conv32-pool-conv64-pool-dense128-10, Adam)"
    if torch is None:
        return [(label, ours, None, "torch")]
    nn = torch.nn
    net = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3), nn.ReLU(),
                        nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64 * 5 * 5, 128), nn.ReLU(), nn.Linear(128, 10))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, eps=1e-7)
    tx, ty = torch.tensor(x.transpose(0, 3, 1, 2).copy()), torch.tensor(y)

    def theirs():
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(tx), ty).backward()
        opt.step()
    return [(label, ours, theirs, "torch")]


def gemm_rows(torch):
    m, k, n = GEMM
    rng = np.random.default_rng(0)
    x = rng.standard_normal((m, k)).astype(np.float32)
    w = (rng.standard_normal((k, n)) * 0.02).astype(np.float32)
    b = np.zeros(n, np.float32)
    g = rng.standard_normal((m, n)).astype(np.float32)
    from tinydl.layers import Dense
    layer = Dense(n)
    layer.build((m, k))
    layer.set_weights([w, b])
    xt = td.tensor(x, requires_grad=True)

    def ours():
        xt.grad = layer.kernel.grad = layer.bias.grad = None
        layer(xt).backward(g)

    def three_matmuls():
        np.matmul(x, w)
        np.matmul(x.T, g)
        np.matmul(g, w.T)

    label = f"dense step fwd+bwd {m}x{k} @ {k}x{n} (3 GEMMs)"
    rows = [(label, ours, three_matmuls, "numpy matmul rate")]
    if torch is not None:
        tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
        tg = torch.tensor(g)

        def theirs():
            tx.grad = tw.grad = tb.grad = None
            (tx @ tw + tb).backward(tg)
        rows.append((label, ours, theirs, "torch"))
    return rows


def compile_cost(cache_dir):
    """Seconds for the first conv + pool forward/backward in a fresh process using numba cache `cache_dir`
    (numba itself is imported before the clock starts: this is compiling or loading kernels only)."""
    import os
    code = ("import time, numba, numpy as np, tinydl as td; t = time.perf_counter(); "
            "x = td.tensor(np.ones((2, 6, 6, 3), np.float32), requires_grad=True); "
            "k = td.tensor(np.ones((3, 3, 3, 4), np.float32), requires_grad=True); "
            "y = td.max_pool(td.conv(x, k, padding='same'), 2).sum() + td.average_pool(x, 3, 3).sum(); "
            "y.backward(); print(time.perf_counter() - t)")
    root = pathlib.Path(__file__).resolve().parent.parent
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache_dir)}
    return float(subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, env=env,
                                check=True).stdout)


def print_compile_cost():
    """Cold compile (empty numba cache), then a second process that finds the cache filled."""
    import tempfile
    with tempfile.TemporaryDirectory() as cache:
        cold, warm = compile_cost(cache), compile_cost(cache)
    print(f"first conv + pools fwd/bwd (float32) in a new process: {cold:.2f} s with an empty numba cache, "
          f"{warm:.3f} s in a second process reading the cache (cache=True)")


if __name__ == "__main__":
    if "--compile" in sys.argv:
        print_compile_cost()
    else:
        from benchmarks.run import script_main
        sys.exit(script_main("conv"))
