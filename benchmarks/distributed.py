"""Data parallel over MPI: allreduce throughput, epoch times on 1 vs 2 ranks, CPU burned while waiting.

    python benchmarks/distributed.py            # spawns the mpiexec jobs itself and prints one table

It needs mpiexec (pip install 'tinydl[mpi]'), so `python -m benchmarks` skips it (no workloads()
entries). Rows with a target say PASS or FAIL: tinydl's allreduce reaches >= 90% of a bare
`comm.Allreduce` of the same bytes, and a rank waiting 2 s in a collective burns < 0.2 s of CPU.
"""
import json
import os
import pathlib
import subprocess
import sys
import time

if __package__ in (None, ""):
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

ROOT = pathlib.Path(__file__).resolve().parent.parent
SIZES = (2**10, 2**18, 2**22)   # float32 elements per allreduce: 4 KiB, 1 MiB and 16 MiB
WAIT_S = 2.0
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")


def workloads():
    """None for the in-process runner: every figure here needs several MPI processes."""
    return []


def main():
    rows = allreduce_rows(job(2, "allreduce")) + waiting_rows(job(2, "waiting"))
    for model in ("mlp", "cnn"):
        single = job(1, "epoch", model, NUMBA_NUM_THREADS=1, OPENBLAS_NUM_THREADS=1, OMP_NUM_THREADS=1)
        rows += epoch_rows(model, job(1, "epoch", model), single, job(2, "epoch", model))
    print_table(rows)
    return 0 if all(r[3] != "FAIL" for r in rows) else 1


def job(n, *args, **env):
    """Run this file as an MPI worker on `n` ranks (with extra environment `env`); rank 0's JSON result."""
    mpiexec = pathlib.Path(sys.executable).parent / "mpiexec"
    cmd = [str(mpiexec), "-n", str(n), sys.executable, "-m", "mpi4py", __file__, "--worker", *args]
    environ = {k: v for k, v in os.environ.items() if k not in THREAD_VARS}   # ranks choose their threads
    environ.update({"PYTHONPATH": str(ROOT)}, **{k: str(v) for k, v in env.items()})
    out = subprocess.run(cmd, env=environ, capture_output=True, text=True,
                         timeout=600, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


# -- rows ------------------------------------------------------------------------------------------
def allreduce_rows(result):
    rows = []
    for size, (ours, bare) in result.items():
        what = {"gradients": "gradient averaging (16 arrays)", "fresh": "allreduce to a new array"}.get(
            size, "allreduce(out=...)")
        mb = (SIZES[-1] if size in ("gradients", "fresh") else int(size)) * 4 / 2**20
        ratio = bare / ours
        target = "" if size == "fresh" else "PASS" if ratio >= 0.9 else "FAIL"   # fresh: page faults, no target
        if mb < 0.1:   # small messages measure latency, not bandwidth
            rows.append((f"{what} {mb * 1024:g} KiB float32, 2 ranks", f"{ours * 1e6:.0f} us",
                         f"bare Allreduce {bare * 1e6:.0f} us", ""))
            continue
        rows.append((f"{what} {mb:g} MiB float32, 2 ranks", f"{mb / 1024 / ours:.2f} GiB/s",
                     f"bare Allreduce {mb / 1024 / bare:.2f} GiB/s, tinydl/bare {ratio:.0%}", target))
    return rows


def waiting_rows(result):
    return [(f"CPU burned waiting {WAIT_S:g} s in a collective", f"tinydl {result['tinydl']:.3f} s",
             f"blocking Allreduce {result['blocking']:.3f} s", "PASS" if result["tinydl"] < 0.2 else "FAIL")]


def epoch_rows(model, one, single, two):
    """2 ranks against 1 rank with all cores' threads, and against 1 rank with one thread."""
    best_one = min(one["epoch_s"], single["epoch_s"])
    speedup = best_one / two["epoch_s"]
    return [(f"digits {model.upper()} epoch (global batch {one['batch']})",
             f"2 ranks {two['epoch_s'] * 1000:.0f} ms ({two['threads']} thread each)",
             f"1 rank {one['epoch_s'] * 1000:.0f} ms ({one['threads']} threads), {single['epoch_s'] * 1000:.0f} ms "
             f"(1 thread): speedup over the better {speedup:.2f}, efficiency {speedup / 2:.0%}", "")]


def print_table(rows):
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip())


# -- workers (run under mpiexec) ---------------------------------------------------------------------
def worker_allreduce():
    """Best of 5 per size: tinydl.distribution.allreduce against comm.Allreduce on the same array."""
    import numpy as np
    from mpi4py import MPI

    from tinydl import distribution
    from tinydl.distribution.data_parallel import GradientAverager
    comm = MPI.COMM_WORLD
    result = {}
    for size in SIZES:
        x = np.ones(size, dtype=np.float32)
        out = np.empty_like(x)

        def ours():
            distribution.allreduce(x, "sum", out=out)

        def bare():
            comm.Allreduce(x, out)
        result[size] = interleaved(ours, bare, comm)
    grads = np.array_split(np.ones(SIZES[-1], dtype=np.float32), 16)   # a model's gradients, 16 arrays
    average = GradientAverager(25 * 2**20)
    result["gradients"] = interleaved(lambda: average(grads, 0.5), bare, comm)
    result["fresh"] = interleaved(lambda: distribution.allreduce(x, "sum"), bare, comm)
    return result


def worker_waiting():
    """Rank 1 arrives 2 s late; rank 0's CPU seconds while it waits, through tinydl and a blocking Allreduce."""
    import numpy as np
    from mpi4py import MPI

    from tinydl import distribution
    comm = MPI.COMM_WORLD
    distribution.initialize()   # its start-up collective is not part of the measurement
    x, out = np.ones(16, dtype=np.float32), np.empty(16, dtype=np.float32)
    result = {}
    calls = {"tinydl": lambda: distribution.allreduce(x, "sum"), "blocking": lambda: comm.Allreduce(x, out)}
    for name, call in calls.items():
        comm.Barrier()
        if comm.Get_rank() == 1:
            time.sleep(WAIT_S)
        cpu = time.process_time()
        call()
        result[name] = time.process_time() - cpu
    return result


def worker_epoch(model_name):
    """Seconds per training epoch (best of 3, after one warm-up epoch) of a digits model, global batch 64."""
    import tinydl as td
    from tinydl import distribution
    from tinydl.datasets import digits
    from tinydl.examples import cnn, mlp
    distribution.set_distribution(distribution.DataParallel())
    (x, y), _ = digits.load_data()
    td.set_seed(0)
    model = (mlp if model_name == "mlp" else cnn).build_model()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    n = len(x) // 64 * 64   # whole global batches only
    model.fit(x[:n], y[:n], batch_size=64, epochs=1, verbose=0)
    times = []
    for _ in range(3):
        distribution.barrier()
        start = time.perf_counter()
        model.fit(x[:n], y[:n], batch_size=64, epochs=1, verbose=0)
        distribution.barrier()
        times.append(time.perf_counter() - start)
    import numba  # lazy like everywhere: only this worker needs the actual thread count
    return {"epoch_s": min(times), "batch": 64, "threads": numba.get_num_threads()}


def interleaved(ours, bare, comm, rounds=9):
    """(best of ours, best of bare) over `rounds` alternating timed calls, the ranks lined up before each,
    so load from other processes on a shared machine hits both alike."""
    ours(), bare()
    times = ([], [])
    for _ in range(rounds):
        for fn, record in zip((ours, bare), times):
            comm.Barrier()
            start = time.perf_counter()
            fn()
            record.append(time.perf_counter() - start)
    return min(times[0]), min(times[1])


def worker(kind, *args):
    result = {"allreduce": worker_allreduce, "waiting": worker_waiting, "epoch": worker_epoch}[kind](*args)
    from tinydl import distribution
    if distribution.is_chief():
        print(json.dumps(result))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        worker(*sys.argv[2:])
    else:
        sys.exit(main())
