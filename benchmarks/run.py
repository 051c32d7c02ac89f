"""Find the workload modules in benchmarks/, time each workload against its reference, print a table.

A workload module is any `benchmarks/<name>.py` (other than this runner) with a function
`workloads()` returning a list of `(name, tinydl_fn, reference_fn, reference_name)` tuples.
Each fn takes no arguments and does one complete unit of work (inputs prepared outside it).
The same workload name may appear with several references (e.g. NumPy and PyTorch); tinydl is
timed once per name. `reference_fn` may be None when no reference is available.
"""
import argparse
import importlib
import json
import os
import pathlib
import platform
import sys
import timeit

HERE = pathlib.Path(__file__).resolve().parent
NOT_WORKLOADS = {"__init__", "__main__", "run", "steps"}
RESULTS = HERE / "results.json"


def main(argv=None):
    """Print the speed issue's table (no modules named), or run the named workload modules (`--all`: every
    one); return a process exit code."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", help=f"workload modules, of {available()} (default: the steps table "
                                                   "of benchmarks/steps.py)")
    parser.add_argument("--all", action="store_true", help="every workload module")
    parser.add_argument("--repeat", type=int, default=5, help="timing repeats; the minimum is reported")
    parser.add_argument("--json", default=str(RESULTS), help="where to write the results")
    parser.add_argument("--interleaved", action="store_true",
                        help="alternate tinydl and reference calls (steadier ratios on a loaded machine)")
    args = parser.parse_args(argv)
    if not args.modules and not args.all:
        from benchmarks import steps
        steps.main(rounds=args.repeat)
        return 0
    rows = []
    for module_name in args.modules or available():
        module = importlib.import_module(f"benchmarks.{module_name}")
        if args.interleaved:
            rows += run_interleaved(module_name, module.workloads(), rounds=args.repeat)
        else:
            rows += run_module(module_name, module.workloads(), repeat=args.repeat)
    print_table(rows)
    write_json(rows, args.json)
    return 0


def available():
    """Names of the workload modules beside this file."""
    return sorted(p.stem for p in HERE.glob("*.py") if p.stem not in NOT_WORKLOADS)


def run_module(module_name, workloads, repeat=5):
    """Time every workload of one module; one row per (workload, reference)."""
    rows, tinydl_times = [], {}
    for name, tinydl_fn, reference_fn, reference_name in workloads:
        if name not in tinydl_times:
            tinydl_times[name] = best_time(tinydl_fn, repeat)
        ref = best_time(reference_fn, repeat) if reference_fn is not None else None
        ours = tinydl_times[name]
        rows.append({"module": module_name, "workload": name, "tinydl_s": ours, "reference": reference_name,
                     "reference_s": ref, "ratio": ours / ref if ref else None})
    return rows


def script_main(module_name):
    """`python benchmarks/<module>.py [--interleaved] [--repeat N]`: that module alone, as `main` runs it."""
    return main([module_name, *sys.argv[1:]])


def run_interleaved(module_name, workloads, rounds=7):
    """Like run_module, but tinydl and reference calls alternate, so load that comes and goes on a
    shared machine hits both sides alike; each side's time is its minimum over the rounds."""
    import time
    rows = []
    for name, ours, ref, ref_name in workloads:
        if ref is None:
            rows.append({"module": module_name, "workload": name, "tinydl_s": best_time(ours), "reference": ref_name,
                         "reference_s": None, "ratio": None})
            continue
        ours(), ref()
        a = b = float("inf")
        for _ in range(rounds):
            t = time.perf_counter()
            ours()
            a = min(a, time.perf_counter() - t)
            t = time.perf_counter()
            ref()
            b = min(b, time.perf_counter() - t)
        rows.append({"module": module_name, "workload": name, "tinydl_s": a, "reference": ref_name, "reference_s": b,
                     "ratio": a / b})
    return rows


def best_time(fn, repeat=5, min_total=0.05):
    """Seconds per call: the minimum over `repeat` runs of enough calls to last `min_total` seconds."""
    fn()  # warm up: first-call compilation and caches are not what we measure
    timer = timeit.Timer(fn)
    number = 1
    while timer.timeit(number) < min_total and number < 1_000_000:
        number *= 4
    return min(timer.repeat(repeat=repeat, number=number)) / number


def print_table(rows):
    """One line per row: workload | tinydl | reference | ratio (tinydl time / reference time)."""
    header = ("workload", "tinydl", "reference", "ratio")
    lines = [(f"{r['module']}: {r['workload']}", fmt_time(r["tinydl_s"]),
              f"{r['reference']} {fmt_time(r['reference_s'])}" if r["reference_s"] else f"{r['reference']} n/a",
              f"{r['ratio']:.2f}x" if r["ratio"] else "-") for r in rows]
    widths = [max(len(str(c)) for c in col) for col in zip(header, *lines)]
    for i, line in enumerate([header] + lines):
        print(" | ".join(str(c).ljust(w) for c, w in zip(line, widths)).rstrip())
        if i == 0:
            print("-+-".join("-" * w for w in widths))
    print("ratio = tinydl time / reference time (below 1: tinydl is faster)")


def fmt_time(seconds):
    """A time with a readable unit."""
    if seconds is None:
        return "n/a"
    for unit, scale in (("s", 1), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def write_json(rows, path):
    """Results with the machine and library versions they were measured with."""
    import numpy
    torch = torch_or_none()
    info = {"python": platform.python_version(), "numpy": numpy.__version__, "machine": platform.machine(),
            "cpus": os.cpu_count(), "torch": torch.__version__ if torch else None,
            "threads": bench_threads()}
    pathlib.Path(path).write_text(json.dumps({"info": info, "results": rows}, indent=2))
    print(f"wrote {path}", file=sys.stderr)


def bench_threads():
    """Threads every library may use (TINYDL_BENCH_THREADS, default: all cores)."""
    return int(os.environ.get("TINYDL_BENCH_THREADS", os.cpu_count() or 1))


def torch_or_none():
    """PyTorch with its thread count set like ours, or None when it is not installed."""
    try:
        import torch
    except ImportError:
        return None
    if torch.get_num_threads() != bench_threads():
        torch.set_num_threads(bench_threads())
    return torch
