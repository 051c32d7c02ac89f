"""Short fit runs of the model zoo on a device, each against the same run on the CPU.

    python -m tests.gpu.device_examples --device cuda --out examples.json [--quick] [--only mlp,gcn]

A run passes when the device reaches the CPU's figure: accuracy at most `ACCURACY_SLACK` below it, or a
validation loss at most `LOSS_SLACK` above it (float32 sums run in another order on a GPU, so the two runs
are close, not equal). `--device cpu` runs everything on this machine to test the runner itself.
"""
import argparse
import json
import sys
import time

ACCURACY_SLACK = 0.03
LOSS_SLACK = 0.05

# name: (module under tinydl.examples, main's arguments, quick arguments, figure, "max" or "min")
EXAMPLES = {
    "mlp": ("mlp", {"epochs": 10}, {"epochs": 1}, "test_accuracy", "max"),
    "gcn": ("gnn_node", {"epochs": 100}, {"epochs": 5}, "test_accuracy", "max"),
    "cnn": ("cnn", {"epochs": 2}, {"epochs": 1}, "test_accuracy", "max"),
    "lstm": ("text_classifier", {"epochs": 3}, {"epochs": 1, "n_train": 200}, "test_accuracy", "max"),
    "gpt": ("gpt", {"epochs": 1, "windows_per_epoch": 320, "sample_length": 40},
            {"epochs": 1, "windows_per_epoch": 32, "sample_length": 5}, "val_loss", "min"),
}


def main(argv=None):
    """Run the examples named by --only (all by default) on --device and the CPU; write the JSON report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--out", required=True)
    parser.add_argument("--quick", action="store_true", help="tiny runs (checks the runner, not the figures)")
    parser.add_argument("--only", default=",".join(EXAMPLES))
    args = parser.parse_args(argv)
    names = [n for n in args.only.split(",") if n]
    unknown = sorted(set(names) - set(EXAMPLES))
    if unknown:
        parser.error(f"--only: unknown examples {unknown}; expected some of {sorted(EXAMPLES)}")
    report = []
    for name in names:
        report.append(compare(name, args.device, args.quick))
        print(json.dumps(report[-1]), flush=True)
        with open(args.out, "w") as f:  # after each run, so a time limit still leaves the finished ones
            json.dump(report, f, indent=1)
    return 0 if all(row["passed"] for row in report) else 1


def compare(name, device, quick=False):
    """{name, figure, cpu_value, device_value, seconds, passed (or error)} for one example on both devices."""
    module, full, small, figure, goal = EXAMPLES[name]
    kwargs = small if quick else full
    row = {"name": name, "example": module, "figure": figure, "goal": goal, "device": device}
    try:
        row["cpu_value"], row["cpu_seconds"] = run(module, kwargs, "cpu", figure)
        row["device_value"], row["device_seconds"] = run(module, kwargs, device, figure)
    except Exception as error:  # a crash on the device is a result to report, not a reason to stop the others
        row.update(passed=False, error=f"{type(error).__name__}: {error}")
        return row
    cpu, dev = row["cpu_value"], row["device_value"]
    row["passed"] = bool(dev >= cpu - ACCURACY_SLACK) if goal == "max" else bool(dev <= cpu + LOSS_SLACK)
    return row


def run(module, kwargs, device, figure):
    """(figure, seconds) of tinydl.examples.<module>.main(**kwargs) with models on `device`."""
    import importlib

    import tinydl as td
    main_fn = importlib.import_module(f"tinydl.examples.{module}").main
    td.set_seed(0)
    start = time.perf_counter()
    with td.device(device):
        result = main_fn(verbose=0, **kwargs)
    return float(result[figure]), round(time.perf_counter() - start, 2)


if __name__ == "__main__":
    sys.exit(main())
