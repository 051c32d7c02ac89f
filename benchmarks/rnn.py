"""Recurrent workloads: LSTM and GRU training steps against PyTorch's nn.LSTM / nn.GRU on CPU.

- train step: batch 32, 50 steps, 32 features, 128 units, return_sequences=False, a Dense(1) head, mean
  squared error, one SGD update; tinydl's `train_on_batch` against the same model, loss and optimizer
  step in torch (`batch_first=True`, its fused CPU kernels). Keras's GRU (reset_after=True) is
  torch's GRU formulation, so both do the same arithmetic.
- layer fwd+bwd: the recurrent layer alone (forward and backward of the sum of its output), no head.

Aim: tinydl <= 1.5x torch. `--memory` trains one step on a 1,000-step sequence and reports peak
memory (tracemalloc sees NumPy's buffers) next to the arrays the backward pass must keep.

    python -m benchmarks rnn
    python benchmarks/rnn.py --interleaved   # tinydl and torch calls alternate (for a loaded machine)
    python benchmarks/rnn.py --memory        # 1,000-step sequence: peak memory of one training step
"""
import pathlib
import sys
import time

if __package__ in (None, ""):
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

import tinydl as td  # noqa: E402
from benchmarks.run import torch_or_none  # noqa: E402

BATCH, STEPS, FEATURES, UNITS = 32, 50, 32, 128


def workloads():
    torch = torch_or_none()
    rows = []
    for kind in ("LSTM", "GRU"):
        rows += train_rows(torch, kind)
        rows += _layer_rows(torch, kind)
    return rows


def _data(steps=STEPS):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((BATCH, steps, FEATURES)).astype(np.float32)
    y = rng.standard_normal((BATCH, 1)).astype(np.float32)
    return x, y


def _tinydl_model(kind, steps=STEPS, optimizer="sgd"):
    from tinydl.layers import Dense, Input
    from tinydl import layers
    td.set_seed(0)
    model = td.models.Sequential([Input(shape=(steps, FEATURES)), getattr(layers, kind)(UNITS), Dense(1)])
    opt = td.optimizers.SGD(learning_rate=0.01) if optimizer == "sgd" else td.optimizers.Adam(epsilon=1e-7)
    model.compile(optimizer=opt, loss="mean_squared_error")
    return model


def _torch_model(torch, kind, optimizer="sgd"):
    torch.manual_seed(0)
    rnn = getattr(torch.nn, kind)(FEATURES, UNITS, batch_first=True)
    head = torch.nn.Linear(UNITS, 1)
    params = list(rnn.parameters()) + list(head.parameters())
    opt = torch.optim.SGD(params, lr=0.01) if optimizer == "sgd" else torch.optim.Adam(params, lr=1e-3, eps=1e-7)
    return rnn, head, opt


def train_rows(torch, kind, optimizer="sgd"):
    """The training step rows of `kind` ('LSTM' or 'GRU'), with an 'sgd' or 'adam' update on both sides."""
    x, y = _data()
    model = _tinydl_model(kind, optimizer=optimizer)

    def ours():
        model.train_on_batch(x, y)

    name = f"{kind.lower()} train step {BATCH}x{STEPS}x{FEATURES}->{UNITS}, {optimizer}"
    if torch is None:
        return [(name, ours, None, "torch")]
    rnn, head, opt = _torch_model(torch, kind, optimizer)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)

    def ref():
        opt.zero_grad()
        out, _ = rnn(xt)
        loss = torch.nn.functional.mse_loss(head(out[:, -1]), yt)
        loss.backward()
        opt.step()
    return [(name, ours, ref, "torch")]


def _layer_rows(torch, kind):
    from tinydl import layers
    x, _ = _data()
    layer = getattr(layers, kind)(UNITS, return_sequences=True)
    xt_ours = td.tensor(x, requires_grad=True)
    layer(xt_ours)

    def ours():
        for w in layer.weights:
            w.grad = None
        xt_ours.grad = None
        layer(xt_ours).sum().backward()

    name = f"{kind.lower()} layer fwd+bwd {BATCH}x{STEPS}x{FEATURES}->{UNITS}"
    if torch is None:
        return [(name, ours, None, "torch")]
    rnn = getattr(torch.nn, kind)(FEATURES, UNITS, batch_first=True)
    xt = torch.from_numpy(x).requires_grad_(True)

    def ref():
        rnn.zero_grad()
        xt.grad = None
        rnn(xt)[0].sum().backward()
    return [(name, ours, ref, "torch")]



def measure_long_sequence(steps=1000, kind="LSTM"):
    """One training step on a `steps`-long sequence: (seconds, peak traced MiB, MiB of saved activations)."""
    import tracemalloc
    x, y = _data(steps)
    model = _tinydl_model(kind, steps)
    model.train_on_batch(x[:2], y[:2])  # build and compile the kernels outside the measurement
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(200)  # the backward walk is iterative: a low limit must not matter
    try:
        tracemalloc.start()
        start = time.perf_counter()
        model.train_on_batch(x, y)
        seconds = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    finally:
        sys.setrecursionlimit(limit)
    gates = 4 if kind == "LSTM" else 3
    # saved for backward: gates (N,T,g*u), states h (and c) (N,T,u), the input (N,T,F), all float32
    saved = BATCH * steps * (gates * UNITS + (2 if kind == "LSTM" else 2) * UNITS + FEATURES) * 4
    return seconds, peak / 2**20, saved / 2**20


def print_memory():
    for kind in ("LSTM", "GRU"):
        for steps in (100, 1000):
            seconds, peak, saved = measure_long_sequence(steps, kind)
            print(f"{kind} train step, batch {BATCH}, {steps} steps, {FEATURES}->{UNITS}: {seconds * 1000:.0f} ms, "
                  f"peak traced memory {peak:.1f} MiB (saved activations {saved:.1f} MiB)")


if __name__ == "__main__":
    if "--memory" in sys.argv:
        print_memory()
    else:
        from benchmarks.run import script_main
        sys.exit(script_main("rnn"))
