"""The GPU issue's table: training steps of tinydl on CuPy against PyTorch CUDA eager on the same GPU.

Every row is one training step (forward + backward + Adam; the GCN row: one GCNConv layer forward +
backward), timed with a device synchronisation after each batch of calls, tinydl and the reference
alternating, each side's minimum over the rounds. Columns: tinydl, reference, ratio, aim, PASS/FAIL,
and the peak device memory one step adds (CuPy's allocations through a memory hook; torch's
max_memory_allocated). The GEMM row compares the Dense step with the same three products done by bare
CuPy (cuBLAS): PASS at >= 70% of that rate.

    python -m benchmarks.gpu --out DIR            # on the GPU: table.md, results.json (and --profile)
    python -m benchmarks.gpu --out DIR --dry-run  # the same code path on the CPU, tiny sizes, NumPy + torch CPU
    python -m benchmarks gpu                      # the workload rows through the generic runner (GPU only)
"""
import argparse
import cProfile
import io
import json
import pathlib
import pstats
import sys
import time
import traceback

if __package__ in (None, ""):
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

import tinydl as td  # noqa: E402
from benchmarks.run import torch_or_none  # noqa: E402
from tinydl.backend import cupy_available, xp_for  # noqa: E402

# (name, aim on tinydl / reference time, sizes on the GPU, sizes for --dry-run)
WORKLOADS = {
    "mlp": ("digits-size MLP 64-128-64-10", 1.5, {"batch": 4096}, {"batch": 64}),
    "cnn": ("CNN conv32-pool-conv64-pool-dense128-10 28x28", 1.5, {"batch": 256}, {"batch": 8}),
    "lstm": ("LSTM", 2.0, {"batch": 64, "steps": 100, "units": 256, "features": 32},
             {"batch": 4, "steps": 6, "units": 8, "features": 3}),
    "transformer": ("transformer encoder block", 1.5, {"batch": 32, "tokens": 256, "d": 512, "heads": 8},
                    {"batch": 2, "tokens": 8, "d": 16, "heads": 2}),
    "gcn": ("GCNConv fwd+bwd", 1.5, {"nodes": 100_000, "edges": 1_000_000, "features": 128},
            {"nodes": 50, "edges": 200, "features": 8}),
    "gemm": ("GEMM-bound Dense step vs cuBLAS rate", 1 / 0.7, {"n": 8192}, {"n": 64}),
}
GEMM_SHARE = 0.7


def main(argv=None):
    """Run the table (and the profile of the worst row) into --out; return a process exit code."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gpu", description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="folder for table.md, results.json, profile_*.txt")
    parser.add_argument("--dry-run", action="store_true", help="on the CPU with tiny sizes (tests the script)")
    parser.add_argument("--only", default=",".join(WORKLOADS), help="comma-separated subset of " + ",".join(WORKLOADS))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-profile", action="store_true", help="skip the profile of the worst row")
    args = parser.parse_args(argv)
    names = [n for n in args.only.split(",") if n]
    unknown = sorted(set(names) - set(WORKLOADS))
    if unknown:
        parser.error(f"--only: unknown workloads {unknown}; expected some of {list(WORKLOADS)}")
    device = "cpu" if args.dry_run else "cuda"
    if device == "cuda" and not cupy_available():
        print("benchmarks/gpu.py needs CuPy and a CUDA GPU (use --dry-run to exercise it on the CPU)")
        return 2
    torch = torch_or_none()
    if torch is None:
        print("benchmarks/gpu.py compares against PyTorch: pip install torch")
        return 2
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows, steps = [], {}
    for name in names:
        try:
            row, steps[name] = measure(name, device, torch, args.rounds)
        except Exception as error:  # one broken workload must not cost the GPU run the other rows
            traceback.print_exc()
            row = error_row(name, error)
        rows.append(row)
        print(f"  {row['workload']}: {row['verdict']}", flush=True)
        # written after every row: a run cut short by its time limit still leaves the rows it measured
        (out / "table.md").write_text(format_table(rows, device) + "\n")
        (out / "results.json").write_text(json.dumps({"device": device, "rows": rows}, indent=2))
    print(format_table(rows, device))
    measured = [r for r in rows if "error" not in r]
    if not args.no_profile and measured:
        worst = max(measured, key=lambda r: r["ratio"] / r["aim"])
        path = out / f"profile_{worst['key']}.txt"
        path.write_text(profile(steps[worst["key"]], device, worst["workload"]))
        print(f"profile of the worst row ({worst['key']}): {path}")
    return 0


def workloads():
    """The rows for the generic runner (`python -m benchmarks gpu`); none without a GPU."""
    torch = torch_or_none()
    if not cupy_available() or torch is None or not torch.cuda.is_available():
        return []
    rows = []
    for key in WORKLOADS:
        label, ours, theirs = build(key, "cuda", torch)
        rows.append((label, ours, theirs, "bare cupy" if key == "gemm" else "torch.cuda"))
    return rows


def measure(key, device, torch, rounds):
    """One table row (a dict) for workload `key`, and tinydl's step function (for the profile)."""
    label, ours, theirs = build(key, device, torch)
    a, b = interleaved(ours, theirs, rounds)
    mem_ours, mem_theirs = peak_memory(ours, device, torch, "tinydl"), peak_memory(theirs, device, torch, "torch")
    return make_row(key, label, a, b, mem_ours, mem_theirs), ours


def make_row(key, label, ours_s, ref_s, mem_ours, mem_ref):
    """A row: times, ratio, aim and PASS/FAIL (PASS when tinydl / reference <= aim)."""
    aim = WORKLOADS[key][1]
    ratio = ours_s / ref_s
    return {"key": key, "workload": label, "tinydl_s": ours_s, "reference_s": ref_s, "ratio": ratio, "aim": aim,
            "verdict": "PASS" if ratio <= aim else "FAIL", "tinydl_peak_mib": mem_ours, "reference_peak_mib": mem_ref}


def error_row(key, error):
    """The row of a workload that raised: FAIL, with the error in place of the figures."""
    return {"key": key, "workload": WORKLOADS[key][0], "error": f"{type(error).__name__}: {error}"[:300],
            "aim": WORKLOADS[key][1], "verdict": "FAIL"}


def format_table(rows, device):
    """The issue's table as Markdown."""
    reference = "PyTorch CUDA eager" if device == "cuda" else "PyTorch CPU (dry run)"
    lines = ["| workload | tinydl | reference | ratio | aim | verdict | peak MiB tinydl | peak MiB reference |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        aim = f">= {GEMM_SHARE:.0%} of cuBLAS" if r["key"] == "gemm" else f"<= {r['aim']:.1f}x"
        if "error" in r:
            lines.append(f"| {r['workload']} | error: {r['error']} | - | - | {aim} | FAIL | - | - |")
            continue
        ratio = f"{1 / r['ratio']:.0%} of the rate" if r["key"] == "gemm" else f"{r['ratio']:.2f}x"
        lines.append(f"| {r['workload']} | {_ms(r['tinydl_s'])} | {_ms(r['reference_s'])} | {ratio} | {aim} | "
                     f"{r['verdict']} | {r['tinydl_peak_mib']:.1f} | {r['reference_peak_mib']:.1f} |")
    lines.append(f"\nreference: {reference}, except the GEMM row (the same three products in bare "
                 f"{'CuPy' if device == 'cuda' else 'NumPy'}); device: {device}")
    return "\n".join(lines)


# -- the workloads: each returns (label, tinydl step, reference step), both ending with a device sync ------

def build(key, device, torch):
    """(label, ours, theirs) for workload `key` at the GPU sizes ('cuda') or the dry-run sizes ('cpu')."""
    name, _, full, small = WORKLOADS[key]
    sizes = full if device == "cuda" else small
    xp = xp_for(device)
    tdev = "cuda" if device == "cuda" else "cpu"
    sync = _synchronizer(device, torch)
    td.set_seed(0)
    torch.manual_seed(0)
    with td.device(device):
        ours, theirs = BUILDERS[key](xp, torch, tdev, **sizes)
    label = f"{name} ({', '.join(f'{k} {v}' for k, v in sizes.items())})"
    return label, _synced(ours, sync), _synced(theirs, sync)


def _mlp(xp, torch, tdev, batch):
    from tinydl.layers import Dense, Input
    x, y = _data(xp, (batch, 64)), _labels(xp, batch, 10)
    model = td.models.Sequential([Input(shape=(64,)), Dense(128, activation="relu"), Dense(64, activation="relu"),
                                  Dense(10)])
    nn = torch.nn
    net = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 10))
    return _classifier_steps(model, net, x, y, torch, tdev)


def _cnn(xp, torch, tdev, batch):
    from tinydl.layers import Conv2D, Dense, Flatten, Input, MaxPooling2D
    x, y = _data(xp, (batch, 28, 28, 1)), _labels(xp, batch, 10)
    model = td.models.Sequential([Input(shape=(28, 28, 1)), Conv2D(32, 3, activation="relu"), MaxPooling2D(),
                                  Conv2D(64, 3, activation="relu"), MaxPooling2D(), Flatten(),
                                  Dense(128, activation="relu"), Dense(10)])
    nn = torch.nn
    net = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3), nn.ReLU(),
                        nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64 * 5 * 5, 128), nn.ReLU(), nn.Linear(128, 10))
    # torch convolves NCHW: the transpose is part of the data, not of the timed step
    return _classifier_steps(model, net, x, y, torch, tdev, torch_x=x.transpose(0, 3, 1, 2))


def _lstm(xp, torch, tdev, batch, steps, units, features):
    from tinydl.layers import LSTM, Dense, Input
    x, y = _data(xp, (batch, steps, features)), _data(xp, (batch, 1))
    model = td.models.Sequential([Input(shape=(steps, features)), LSTM(units), Dense(1)])
    model.compile(td.optimizers.Adam(1e-3), "mean_squared_error")
    lstm, head = torch.nn.LSTM(features, units, batch_first=True).to(tdev), torch.nn.Linear(units, 1).to(tdev)
    opt = torch.optim.Adam([*lstm.parameters(), *head.parameters()], lr=1e-3, eps=1e-7)
    tx, ty = _torch(torch, x, tdev), _torch(torch, y, tdev)

    def theirs():
        opt.zero_grad()
        out, _ = lstm(tx)
        torch.nn.functional.mse_loss(head(out[:, -1]), ty).backward()
        opt.step()
    return (lambda: model.train_on_batch(x, y)), theirs


def _transformer(xp, torch, tdev, batch, tokens, d, heads):
    from tinydl.layers import Input, TransformerEncoder
    x = _data(xp, (batch, tokens, d))
    y = xp.zeros_like(x)
    model = td.models.Sequential([Input(shape=(tokens, d)), TransformerEncoder(4 * d, heads, dropout=0.0)])
    model.compile(td.optimizers.Adam(1e-3), "mean_squared_error")
    layer = torch.nn.TransformerEncoderLayer(d, heads, dim_feedforward=4 * d, dropout=0.0, batch_first=True)
    layer = layer.to(tdev)
    opt = torch.optim.Adam(layer.parameters(), lr=1e-3, eps=1e-7)
    tx, ty = _torch(torch, x, tdev), _torch(torch, y, tdev)

    def theirs():
        opt.zero_grad()
        torch.nn.functional.mse_loss(layer(tx), ty).backward()
        opt.step()
    return (lambda: model.train_on_batch(x, y)), theirs


def _gcn(xp, torch, tdev, nodes, edges, features):
    rng = np.random.default_rng(0)
    x_host = rng.standard_normal((nodes, features)).astype(np.float32)
    edge_host = rng.integers(0, nodes, (2, edges)).astype(np.int64)
    grad_host = rng.standard_normal((nodes, features)).astype(np.float32)
    layer = td.layers.GCNConv(features)
    x = td.tensor(xp.asarray(x_host), requires_grad=True)
    edge_index, grad = xp.asarray(edge_host), xp.asarray(grad_host)
    layer([x, edge_index])

    def ours():
        layer([x, edge_index]).backward(grad)

    kernel = torch.tensor(np.asarray(layer.kernel.numpy()), device=tdev, requires_grad=True)
    bias = torch.tensor(np.asarray(layer.bias.numpy()), device=tdev, requires_grad=True)
    tx = torch.tensor(x_host, device=tdev, requires_grad=True)
    ei, tgrad = torch.tensor(edge_host, device=tdev), torch.tensor(grad_host, device=tdev)

    def theirs():  # PyG's GCNConv without caching: normalise, transform, gather-scale-scatter
        loops = torch.arange(nodes, device=tdev)
        full = torch.cat([ei[:, ei[0] != ei[1]], torch.stack([loops, loops])], dim=1)  # only missing loops, as PyG
        deg = torch.zeros(nodes, device=tdev).index_add_(0, full[1], torch.ones(full.shape[1], device=tdev))
        inv = deg.pow(-0.5).masked_fill_(deg == 0, 0)
        h = tx @ kernel
        msg = h[full[0]] * (inv[full[0]] * inv[full[1]])[:, None]
        out = torch.zeros(nodes, features, device=tdev).index_add_(0, full[1], msg) + bias
        out.backward(tgrad)
    return ours, theirs


def _gemm(xp, torch, tdev, n):
    """A Dense(n -> n) step on a batch of n (SGD), against its three products (forward, dW, dx) in bare xp."""
    from tinydl.layers import Dense, Input
    x, y = _data(xp, (n, n)), _data(xp, (n, n))
    model = td.models.Sequential([Input(shape=(n,)), Dense(n, use_bias=False)])
    model.compile(td.optimizers.SGD(1e-3), "mean_squared_error")
    w, g = _data(xp, (n, n)), _data(xp, (n, n))

    def matmuls():
        x @ w
        x.T @ g
        g @ w.T
    return (lambda: model.train_on_batch(x, y)), matmuls


BUILDERS = {"mlp": _mlp, "cnn": _cnn, "lstm": _lstm, "transformer": _transformer, "gcn": _gcn, "gemm": _gemm}


def _classifier_steps(model, net, x, y, torch, tdev, torch_x=None):
    """Adam train steps with sparse cross-entropy from logits, for a tinydl model and a torch module."""
    model.compile(td.optimizers.Adam(1e-3), td.losses.SparseCategoricalCrossentropy(from_logits=True))
    net = net.to(tdev)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, eps=1e-7)
    tx, ty = _torch(torch, x if torch_x is None else torch_x, tdev), _torch(torch, y, tdev)

    def theirs():
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(tx), ty).backward()
        opt.step()
    return (lambda: model.train_on_batch(x, y)), theirs


def _data(xp, shape):
    return xp.asarray(np.random.default_rng(len(shape)).standard_normal(shape), dtype=xp.float32)


def _labels(xp, n, classes):
    return xp.asarray(np.random.default_rng(1).integers(0, classes, n), dtype=xp.int64)


def _torch(torch, a, tdev):
    """A torch tensor on `tdev` with a copy of array `a` (NumPy or CuPy)."""
    host = a.get() if hasattr(a, "get") else np.asarray(a)
    return torch.tensor(np.ascontiguousarray(host), device=tdev)


# -- measuring -------------------------------------------------------------------------------------------

def interleaved(ours, theirs, rounds):
    """Seconds per step (tinydl, reference): warmed up, then calls alternate; each side's minimum."""
    for _ in range(2):
        ours(), theirs()
    calls = max(1, min(20, int(0.05 / max(_time(ours, 1), 1e-6))))
    a = b = float("inf")
    for _ in range(rounds):
        a = min(a, _time(ours, calls))
        b = min(b, _time(theirs, calls))
    return a, b


def peak_memory(step, device, torch, side):
    """MiB of device memory one step allocates above what was in use before it, at its peak."""
    if device == "cpu":
        from benchmarks.steps import peak_step_memory  # host memory stands in on a dry run
        return peak_step_memory(step)
    if side == "torch":
        torch.cuda.synchronize()
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        step()
        return (torch.cuda.max_memory_allocated() - base) / 2**20
    with cupy_peak_hook() as hook:
        step()
    return hook.peak / 2**20


def profile(step, device, label):
    """Where one step's time goes: GPU vs CPU time per step (cupyx.profiler.benchmark on the GPU) and the
    host functions by own time (cProfile): a launch-bound step shows CPU time well above GPU time."""
    parts = [f"profile of: {label} (device {device})\n"]
    if device == "cuda":
        from cupyx.profiler import benchmark  # lazy: only on a GPU machine
        parts.append(str(benchmark(step, n_repeat=10, n_warmup=2)) + "\n")
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(3):
        step()
    profiler.disable()
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(40)
    parts.append(text.getvalue())
    return "\n".join(parts)


def cupy_peak_hook():
    """A CuPy memory hook (a context manager) counting the bytes in use and their peak while active."""
    import cupy  # lazy: only on a GPU machine

    class PeakHook(cupy.cuda.MemoryHook):
        name = "tinydl_peak"

        def __init__(self):
            self.in_use = self.peak = 0

        def malloc_postprocess(self, **kwargs):  # CuPy passes every argument by keyword
            self.in_use += kwargs["mem_size"]
            self.peak = max(self.peak, self.in_use)

        def free_postprocess(self, **kwargs):
            self.in_use -= kwargs["mem_size"]
    return PeakHook()


def _synchronizer(device, torch):
    if device == "cpu":
        return lambda: None
    import cupy  # lazy: only on a GPU machine

    def sync():
        cupy.cuda.Device().synchronize()
        torch.cuda.synchronize()
    return sync


def _synced(fn, sync):
    def step():
        fn()
        sync()
    return step


def _time(fn, calls):
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls


def _ms(seconds):
    return f"{seconds * 1e3:.3g} ms" if seconds >= 1e-3 else f"{seconds * 1e6:.3g} us"


if __name__ == "__main__":
    sys.exit(main())
