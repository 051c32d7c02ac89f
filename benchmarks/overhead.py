"""Engine overhead: one elementwise op on a 4-element tensor, forward + backward.

At this size the arithmetic is nothing and the time is the framework's bookkeeping: wrapping arrays,
recording the node, walking the tape. References: the same forward and backward written by hand in
NumPy (the floor), and PyTorch eager when installed.

    python -m benchmarks overhead
"""
import pathlib
import sys

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

import tinydl as td  # noqa: E402
from benchmarks.run import torch_or_none  # noqa: E402

SIZE = 4

# name -> (tinydl op, numpy forward+backward by hand, torch op)
UNARY = {
    "tanh": (td.tanh, lambda x, g: g * (1 - np.tanh(x) ** 2), "tanh"),
    "exp": (td.exp, lambda x, g: g * np.exp(x), "exp"),
    "sigmoid": (td.sigmoid, lambda x, g: (lambda s: g * s * (1 - s))(1 / (1 + np.exp(-x))), "sigmoid"),
    "relu": (td.relu, lambda x, g: g * (np.maximum(x, 0) > 0), "relu"),
}
BINARY = {
    "add": (td.add, lambda a, b, g: (a + b, g, g), "add"),
    "mul": (td.multiply, lambda a, b, g: (a * b, g * b, g * a), "mul"),
    "sub": (td.subtract, lambda a, b, g: (a - b, g, -g), "sub"),
    "div": (td.divide, lambda a, b, g: (a / b, g / b, -g * a / (b * b)), "div"),
}


def workloads():
    """(name, tinydl_fn, reference_fn, reference_name) for every op, against NumPy and PyTorch."""
    rng = np.random.default_rng(0)
    a_np = rng.uniform(0.5, 1.5, SIZE).astype(np.float32)
    b_np = rng.uniform(0.5, 1.5, SIZE).astype(np.float32)
    g_np = np.ones(SIZE, np.float32)
    a, b = td.tensor(a_np, requires_grad=True), td.tensor(b_np, requires_grad=True)
    torch = torch_or_none()
    if torch is not None:
        a_t = torch.tensor(a_np, requires_grad=True)
        b_t = torch.tensor(b_np, requires_grad=True)
        g_t = torch.ones(SIZE)

    out = []
    for name, (op, by_hand, torch_name) in UNARY.items():
        label = f"{name} fwd+bwd ({SIZE} elems)"
        ours = _step(lambda op=op: op(a), g_np)
        out.append((label, ours, lambda f=by_hand: f(a_np, g_np), "numpy"))
        if torch is not None:
            out.append((label, ours, _step(lambda top=getattr(torch, torch_name): top(a_t), g_t), "torch"))
    for name, (op, by_hand, torch_name) in BINARY.items():
        label = f"{name} fwd+bwd ({SIZE} elems)"
        ours = _step(lambda op=op: op(a, b), g_np)
        out.append((label, ours, lambda f=by_hand: f(a_np, b_np, g_np), "numpy"))
        if torch is not None:
            out.append((label, ours, _step(lambda top=getattr(torch, torch_name): top(a_t, b_t), g_t), "torch"))
    out.append(("10,000-op chain, forward + backward", _chain(td, 10_000),
                _chain(torch, 10_000) if torch is not None else None, "torch"))
    out.append(("import tinydl in a fresh process", _fresh_import("tinydl"), _fresh_import("numpy"),
                "import numpy"))
    return out


def _chain(lib, n):
    """y = x * 1.0001 repeated n times, then backward: the tape walk on a long, thin graph."""
    def step():
        x = lib.tensor([0.5], requires_grad=True)
        y = x
        for _ in range(n):
            y = y * 1.0001
        y.sum().backward()
    return step


def _step(forward, grad):
    """Forward, then backward with an explicit output gradient (same code for tinydl and torch).

    Leaf gradients accumulate across calls in both libraries alike, which is fine for timing.
    """
    def step():
        forward().backward(grad)
    return step


def _fresh_import(module):
    """Start a Python process that imports `module` (the interpreter's own start-up included)."""
    import subprocess

    def step():
        subprocess.run([sys.executable, "-c", f"import {module}"], check=True)
    return step


if __name__ == "__main__":
    from benchmarks.run import script_main
    sys.exit(script_main("overhead"))
