"""The speed issue's table: one training step of each workload at default threads and at one thread.

Each workload is timed interleaved against PyTorch CPU (tinydl call, torch call, repeated; each side's
minimum), first with every library at its default thread count, then with one thread everywhere
(BLAS through threadpoolctl, numba, torch). Then:
- load: the same steps at default threads while two CPU-bound processes run; the row's ratio is
  tinydl's slowdown (loaded / quiet) over torch's, so PASS means tinydl suffers no more than torch.
- memory: the peak resident memory a training step adds (Linux VmHWM, reset before the step) for
  tinydl and torch.
- inference: `model(x)` and `model.predict(x)` on one row of the digits MLP against the same forward
  in bare NumPy (aim: `model(x)` within 2x) and PyTorch under `no_grad`.

    python -m benchmarks            # this table (about 2-3 minutes)
    python -m benchmarks steps --rounds 9
    python benchmarks/steps.py --only memory,inference   # sections: steps, memory, inference
"""
import contextlib
import gc
import os
import pathlib
import subprocess
import sys
import time

if __package__ in (None, ""):
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

import tinydl as td  # noqa: E402
from benchmarks import attention, conv, graph, rnn  # noqa: E402
from benchmarks.run import torch_or_none  # noqa: E402

MLP_BATCH = 64


SECTIONS = ("steps", "memory", "inference")


def main(rounds=7, only=SECTIONS):
    """Print the table (the `only` sections of it) and return the rows (dicts); without PyTorch there is
    nothing to compare against."""
    torch = torch_or_none()
    if torch is None:
        print("the steps table compares against PyTorch CPU: pip install torch==2.13.0")
        return []
    print(f"load average before: {_load()}; cpus: {os.cpu_count()}; torch {torch.__version__}, "
          f"default threads: torch {torch.get_num_threads()}", flush=True)
    rows = step_rows(torch, rounds) if "steps" in only else []
    if "memory" in only:
        for row in memory_rows():
            rows.append(row)
            _print_progress(row)
    if "inference" in only:
        rows += inference_rows(torch, rounds)
    print()
    print_table(rows)
    print(f"load average after: {_load()}")
    return rows


def step_rows(torch, rounds):
    """Every workload's step at default threads, at one thread, then under load."""
    steps = step_workloads(torch)
    rows = []
    quiet = {}
    for threads in ("default", 1):
        with thread_limit(torch, threads):
            for name, ours, ref, aim in steps:
                a, b = interleaved(ours, ref, rounds)
                quiet[name, threads] = (a, b)
                rows.append(_row(f"{name} [{threads} thr]", a, b, aim))
                _print_progress(rows[-1])
    with busy_processes(2):
        for name, ours, ref, aim in steps:
            a, b = interleaved(ours, ref, max(3, rounds // 2))
            qa, qb = quiet[name, "default"]
            row = _row(f"{name} [load: 2 busy procs]", a / qa, b / qb, 1.0, unit="x")
            rows.append(row)
            _print_progress(row)
    return rows


def step_workloads(torch):
    """(name, tinydl step, torch step, aim ratio) for every workload of the issue."""
    out = memory_workloads(torch)
    out.append(mlp_step(torch))
    gcn = graph.workloads()[0]
    out.append(("GCNConv fwd+bwd 10k nodes 100k edges", gcn[1], gcn[2], 1.0))
    label, ours, matmuls, _ = conv.gemm_rows(None)[0]
    out.append(("Dense 2048 step vs numpy matmul rate", ours, matmuls, 1 / 0.9))
    return out


def memory_workloads(torch):
    """The LSTM, CNN and transformer steps: the rows whose peak memory the table compares."""
    rows = rnn.train_rows(torch, "LSTM", "adam") + conv.cnn_rows(torch) + attention.encoder_block(torch)
    return [(_short(label), ours, ref, 1.0) for label, ours, ref, _ in rows]


def mlp_step(torch):
    """MLP 64-128-128-10, batch 64, sparse cross-entropy from logits, Adam: one train_on_batch."""
    from tinydl.layers import Dense, Input
    rng = np.random.default_rng(0)
    x = rng.standard_normal((MLP_BATCH, 64)).astype(np.float32)
    y = rng.integers(0, 10, MLP_BATCH)
    td.set_seed(0)
    model = td.models.Sequential([Input(shape=(64,)), Dense(128, activation="relu"),
                                  Dense(128, activation="relu"), Dense(10)])
    model.compile(optimizer="adam", loss=td.losses.SparseCategoricalCrossentropy(from_logits=True))
    nn = torch.nn
    net = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 10))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, eps=1e-7)
    tx, ty = torch.tensor(x), torch.tensor(y)

    def theirs():
        opt.zero_grad()
        nn.functional.cross_entropy(net(tx), ty).backward()
        opt.step()
    return (f"MLP 64-128-128-10 step, batch {MLP_BATCH}", lambda: model.train_on_batch(x, y), theirs, 1.0)


def memory_rows():
    """Peak step memory of the memory workloads, measured in a child process whose malloc returns
    every large block to the system on free (else reused heap pages hide the step's peak)."""
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "0"}
    root = pathlib.Path(__file__).resolve().parent.parent
    code = "from benchmarks import steps; steps.print_memory()"
    out = subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True, check=True)
    rows = []
    for line in out.stdout.splitlines():
        name, ours, ref = line.rsplit("|", 2)
        # 1 MiB slack: malloc's heap and page granularity below that are not the step's doing
        rows.append(_row(f"{name} [peak step memory]", float(ours), float(ref), 1.0, unit="MiB", slack=1.0))
    return rows


def print_memory():
    """name|tinydl MiB|torch MiB, one line per workload (run by memory_rows in a child process)."""
    torch = torch_or_none()
    for name, ours, ref, _ in memory_workloads(torch):
        print(f"{name}|{peak_step_memory(ours)}|{peak_step_memory(ref)}", flush=True)


def inference_rows(torch, rounds):
    """One row of digits through the MLP: model(x) and predict(x) against bare NumPy and torch no_grad."""
    from tinydl.examples import mlp
    td.set_seed(0)
    model = mlp.build_model()
    x = np.random.default_rng(0).random((1, 8, 8)).astype(np.float32)
    weights = [w.numpy() for w in model.weights]
    w1, b1, w2, b2, w3, b3 = weights

    def bare():
        h = np.maximum(x.reshape(1, 64) @ w1 + b1, 0)
        h = np.maximum(h @ w2 + b2, 0)
        z = h @ w3 + b3
        e = np.exp(z - z.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)

    nn = torch.nn
    net = nn.Sequential(nn.Flatten(), nn.Linear(64, 128), nn.ReLU(), nn.Dropout(0.1), nn.Linear(128, 64),
                        nn.ReLU(), nn.Linear(64, 10), nn.Softmax(dim=-1)).eval()
    for layer, (w, b) in zip([net[1], net[4], net[6]], [(w1, b1), (w2, b2), (w3, b3)]):
        layer.weight.data = torch.tensor(w.T.copy())
        layer.bias.data = torch.tensor(b)
    tx = torch.tensor(x)

    def torch_forward():
        with torch.no_grad():
            return net(tx)

    np.testing.assert_allclose(model(x).numpy(), bare(), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(torch_forward().numpy(), bare(), rtol=1e-4, atol=1e-6)
    rows = []
    calls = (("model(x)", lambda: model(x), 2.0), ("model.predict(x)", lambda: model.predict(x, verbose=0), None))
    for name, ours, aim in calls:
        for ref_name, ref in (("numpy", bare), ("torch no_grad", torch_forward)):
            a, b = interleaved(ours, ref, rounds, calls=50)
            rows.append(_row(f"digits MLP 1 row {name} vs {ref_name}", a, b,
                             aim if ref_name == "numpy" else None))
            _print_progress(rows[-1])
    return rows


# -- measuring ----------------------------------------------------------------------------------------

def interleaved(ours, ref, rounds, calls=1):
    """Seconds per call (tinydl, reference): calls alternate, each side's minimum over the rounds."""
    ours(), ref()
    a = b = float("inf")
    for _ in range(rounds):
        a = min(a, _time(ours, calls))
        b = min(b, _time(ref, calls))
    return a, b


def _time(fn, calls):
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls


@contextlib.contextmanager
def thread_limit(torch, threads):
    """Every library at its default thread count ('default'), or at `threads` threads."""
    if threads == "default":
        yield
        return
    import numba
    from threadpoolctl import threadpool_limits
    before_numba, before_torch = numba.get_num_threads(), torch.get_num_threads()
    numba.set_num_threads(threads)
    torch.set_num_threads(threads)
    try:
        with threadpool_limits(threads):
            yield
    finally:
        numba.set_num_threads(before_numba)
        torch.set_num_threads(before_torch)


@contextlib.contextmanager
def busy_processes(n):
    """`n` CPU-bound processes running for the duration (killed on exit)."""
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]
    time.sleep(0.3)
    try:
        yield
    finally:
        for p in procs:
            p.kill()
            p.wait()


def peak_step_memory(step):
    """MiB of resident memory one call of `step` adds at its peak (Linux: VmHWM reset before the call)."""
    step()
    gc.collect()
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return float("nan")
    base = _status_kib("VmRSS")
    step()
    return (_status_kib("VmHWM") - base) / 1024


def _status_kib(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


# -- the table ----------------------------------------------------------------------------------------

def _row(name, ours, ref, aim, unit="s", slack=0.0):
    """One table row; PASS when ours <= aim * ref + slack (slack: what the measurement cannot resolve)."""
    ratio = ours / ref if ref else float("nan")
    verdict = "-" if aim is None else ("PASS" if ours <= aim * ref + slack else "FAIL")
    return {"workload": name, "tinydl": ours, "torch": ref, "ratio": ratio, "aim": aim, "unit": unit,
            "verdict": verdict}


def _fmt(value, unit):
    if unit == "s":
        return f"{value * 1e3:.3g} ms" if value >= 1e-3 else f"{value * 1e6:.3g} us"
    if unit == "x":
        return f"{value:.2f}x"
    return f"{value:.1f} {unit}"


def _ratio(row):
    return "-" if row["ratio"] != row["ratio"] else f"{row['ratio']:.2f}x"  # NaN: a zero reference


def _print_progress(row):
    print(f"  {row['workload']}: {_fmt(row['tinydl'], row['unit'])} vs {_fmt(row['torch'], row['unit'])} "
          f"({_ratio(row)}) {row['verdict']}", flush=True)


def print_table(rows):
    """workload | tinydl | reference | ratio | aim | PASS/FAIL."""
    header = ("workload", "tinydl", "reference", "ratio", "aim", "")
    lines = [(r["workload"], _fmt(r["tinydl"], r["unit"]), _fmt(r["torch"], r["unit"]), _ratio(r),
              "-" if r["aim"] is None else f"<= {r['aim']:.2f}x", r["verdict"]) for r in rows]
    widths = [max(len(c) for c in col) for col in zip(header, *lines)]
    for i, line in enumerate([header] + lines):
        print(" | ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip())
        if i == 0:
            print("-+-".join("-" * w for w in widths))
    print("ratio = tinydl / reference (torch 2.13 CPU; bare numpy for the Dense GEMM step and the 'vs numpy' rows);"
          " load rows: tinydl's loaded/quiet slowdown over torch's")


def _short(label):
    return label.split(" (")[0] if label.startswith("CNN") or label.startswith("encoder") else label


def _load():
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


if __name__ == "__main__":
    main(int(sys.argv[sys.argv.index("--rounds") + 1]) if "--rounds" in sys.argv else 7,
         sys.argv[sys.argv.index("--only") + 1].split(",") if "--only" in sys.argv else SECTIONS)
