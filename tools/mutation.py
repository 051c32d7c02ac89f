"""Mutation testing: how many small planted bugs do the fast tests of each area catch? (not run in CI: slow)

    pip install mutmut==2.5.1
    python tools/mutation.py                          # every module below (hours on two cores)
    python tools/mutation.py callbacks/early_stopping.py autograd.py   # some of them
    python tools/mutation.py --list                   # the modules and their tests

For each module, the committed tree (`git archive HEAD`) is copied to a temporary folder, so the working tree is
never touched; mutmut mutates the module there one mutant at a time and runs that module's fast tests (`-x`,
one process). The table gives the kill rate per module; every survivor is printed as a diff, to be killed by a
new test or listed in SURVIVORS_EQUIVALENT below with the reason it cannot change behaviour.
"""
import argparse
import os
import pathlib
import sqlite3
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent

# module (under tinydl/) -> the fast tests that specify it
AREAS = {
    "autograd.py": ["tests/test_autograd.py"],
    "tensor.py": ["tests/test_tensor.py", "tests/test_autograd.py"],
    "ops/math.py": ["tests/ops"],
    "ops/reduce.py": ["tests/ops"],
    "ops/shape.py": ["tests/ops"],
    "ops/linalg.py": ["tests/ops"],
    "ops/nn.py": ["tests/ops"],
    "ops/losses.py": ["tests/ops", "tests/test_losses.py"],
    "optimizers.py": ["tests/test_optimizers.py"],
    "losses.py": ["tests/test_losses.py"],
    "metrics.py": ["tests/test_metrics.py"],
    "callbacks/monitor.py": ["tests/callbacks"],
    "callbacks/early_stopping.py": ["tests/callbacks"],
    "callbacks/reduce_lr.py": ["tests/callbacks"],
    "callbacks/model_checkpoint.py": ["tests/callbacks"],
    "callbacks/history.py": ["tests/callbacks"],
    "layers/core.py": ["tests/layers/test_core_layers.py", "tests/contract"],
    "layers/recurrent.py": ["tests/layers/test_recurrent.py", "tests/contract/test_layer_contract.py"],
}

# "module:line: mutant" -> why it cannot change behaviour (kept in sync with the last run's survivors)
SURVIVORS_EQUIVALENT = {}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", help="paths under tinydl/ (default: every module in AREAS)")
    parser.add_argument("--list", action="store_true", help="print the modules and their tests, run nothing")
    args = parser.parse_args(argv)
    modules = args.modules or list(AREAS)
    if args.list:
        for module in modules:
            print(f"tinydl/{module}: {' '.join(AREAS[module])}")
        return 0
    unknown = [m for m in modules if m not in AREAS]
    if unknown:
        parser.error(f"no tests known for {unknown}; add them to AREAS in {__file__}")
    rows = [run_module(module) for module in modules]
    print_table(rows)
    return 0


def run_module(module):
    """Mutate tinydl/<module> in a copy of HEAD; return (module, killed, survived, timeout, total, survivors)."""
    with tempfile.TemporaryDirectory(prefix="tinydl-mutation-") as tmp:
        export_head(tmp)
        target = f"tinydl/{module}"
        runner = f"{sys.executable} -m pytest -x -q -p no:cacheprovider -p no:randomly {' '.join(AREAS[module])}"
        env = {**os.environ, "PYTHONPATH": tmp, "OMP_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1"}
        print(f"== {target} ({' '.join(AREAS[module])})", flush=True)
        subprocess.run(["mutmut", "run", "--paths-to-mutate", target, "--runner", runner, "--tests-dir", "tests",
                        "--no-progress"], cwd=tmp, env=env, check=False)
        counts, survivors = read_results(pathlib.Path(tmp) / ".mutmut-cache")
        diffs = [subprocess.run(["mutmut", "show", str(i)], cwd=tmp, env=env, capture_output=True,
                                text=True).stdout for i in survivors]
    killed = counts.get("ok_killed", 0) + counts.get("ok_suspicious", 0)
    timeout = counts.get("bad_timeout", 0)
    survived = counts.get("bad_survived", 0)
    for diff in diffs:
        print(diff)
    return module, killed, survived, timeout, sum(counts.values()), diffs


def export_head(folder):
    """The committed tree of this repository, unpacked into `folder`."""
    archive = subprocess.run(["git", "archive", "HEAD"], cwd=ROOT, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", folder], input=archive, check=True)


def read_results(cache):
    """({status: count}, [survivor ids]) from mutmut 2's sqlite cache."""
    with sqlite3.connect(cache) as db:
        counts = dict(db.execute("SELECT status, COUNT(*) FROM Mutant GROUP BY status").fetchall())
        survivors = [row[0] for row in db.execute("SELECT id FROM Mutant WHERE status = 'bad_survived'")]
    return counts, survivors


def print_table(rows):
    """module | mutants | killed | survived | timeout | kill rate (timeouts count as killed: the tests hung)."""
    print(f"\n{'module':32} {'mutants':>8} {'killed':>7} {'survived':>9} {'timeout':>8} {'kill rate':>10}")
    for module, killed, survived, timeout, total, _ in rows:
        rate = (killed + timeout) / total if total else float("nan")
        print(f"{'tinydl/' + module:32} {total:8d} {killed:7d} {survived:9d} {timeout:8d} {rate:10.1%}")


if __name__ == "__main__":
    sys.exit(main())
