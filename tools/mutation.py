"""Mutation testing: how many small planted bugs do the fast tests of each area catch? (not run in CI: slow)

    pip install cosmic-ray==8.4.6
    python tools/mutation.py                          # every module below (hours on two cores)
    python tools/mutation.py callbacks/early_stopping.py autograd.py   # some of them
    python tools/mutation.py --list                   # the modules and their tests

For each module, the committed tree (`git archive HEAD`) is copied to a temporary folder, so the working tree is
never touched; cosmic-ray mutates the module there one mutant at a time and runs that module's fast tests (`-x`,
one process). The table gives the kill rate per module (killed / (killed + survived); "incompetent" mutants,
which cannot even be imported, are counted apart); every survivor is printed as a diff, to be killed by a new
test or explained as equivalent (cannot change behaviour) where the run's figures are quoted.
(mutmut 2.5.1 was tried first: it crashes on mutants of multi-line statements, "Attribute Mutant.line is required".)
"""
import argparse
import json
import os
import pathlib
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
    "callbacks/early_stopping.py": ["tests/callbacks/test_monitoring_callbacks.py"],
    "callbacks/reduce_lr.py": ["tests/callbacks"],
    "callbacks/model_checkpoint.py": ["tests/callbacks"],
    "callbacks/history.py": ["tests/callbacks"],
    "layers/core.py": ["tests/layers/test_core_layers.py", "tests/contract"],
    "layers/recurrent.py": ["tests/layers/test_recurrent.py", "tests/contract/test_layer_contract.py"],
}

# Survivors of the last runs that cannot change behaviour, per module, with the reason.
EQUIVALENT = {
    "callbacks/early_stopping.py": [
        ("epoch > 0  ->  epoch != 0", "epochs are never negative"),
        ("self.stopped_epoch > 0  ->  != 0", "stopped_epoch is never negative"),
        ("self.verbose > 0  ->  != 0 (two places)", "verbose is 0 or 1 (Keras); a negative verbose means nothing"),
    ],
    "callbacks/monitor.py": [  # from a partial run (86 of 105 mutants)
        ('self.mode != "auto"  ->  > "auto" / is not "auto"', "the constructor leaves only 'auto', 'min', 'max'"),
        ('self.mode == "min"  ->  >= "min"', "'max' < 'min', so only 'min' passes either way"),
        ("reference is None: return True  ->  False", "callers always pass a number (best is set first)"),
    ],
}


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
    """Mutate tinydl/<module> in a copy of HEAD; return (module, killed, survived, incompetent, survivors)."""
    with tempfile.TemporaryDirectory(prefix="tinydl-mutation-") as tmp:
        export_head(tmp)
        config = pathlib.Path(tmp) / "cosmic-ray.toml"
        config.write_text(CONFIG.format(module=f"tinydl/{module}", python=sys.executable,
                                        tests=" ".join(AREAS[module])))
        env = {**os.environ, "PYTHONPATH": tmp, "OMP_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1"}
        print(f"== tinydl/{module} ({' '.join(AREAS[module])})", flush=True)
        for command in ("init", "exec"):
            subprocess.run(["cosmic-ray", command, str(config), "session.sqlite"], cwd=tmp, env=env, check=True)
        dump = subprocess.run(["cosmic-ray", "dump", "session.sqlite"], cwd=tmp, env=env, capture_output=True,
                              text=True, check=True).stdout
    outcomes = [json.loads(line)[1] for line in dump.splitlines() if line.strip()]
    outcomes = [o for o in outcomes if o is not None]
    killed = sum(o["test_outcome"] == "killed" for o in outcomes)
    incompetent = sum(o["test_outcome"] == "incompetent" for o in outcomes)
    survivors = [o["diff"] for o in outcomes if o["test_outcome"] == "survived"]
    for diff in survivors:
        print(diff)
    return module, killed, len(survivors), incompetent, survivors


CONFIG = """[cosmic-ray]
module-path = "{module}"
timeout = 120.0
excluded-modules = []
test-command = "{python} -m pytest -x -q -p no:cacheprovider {tests}"

[cosmic-ray.distributor]
name = "local"
"""


def export_head(folder):
    """The committed tree of this repository, unpacked into `folder`."""
    archive = subprocess.run(["git", "archive", "HEAD"], cwd=ROOT, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", folder], input=archive, check=True)


def print_table(rows):
    """module | mutants | killed | survived | incompetent | kill rate."""
    print(f"\n{'module':32} {'mutants':>8} {'killed':>7} {'survived':>9} {'incompetent':>12} {'kill rate':>10}")
    for module, killed, survived, incompetent, _ in rows:
        total = killed + survived + incompetent
        rate = killed / (killed + survived) if killed + survived else float("nan")
        print(f"{'tinydl/' + module:32} {total:8d} {killed:7d} {survived:9d} {incompetent:12d} {rate:10.1%}")


if __name__ == "__main__":
    sys.exit(main())
