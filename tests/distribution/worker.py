"""Run by the MPI tests under `mpiexec -n N python -m mpi4py worker.py SCENARIO OUT`; each rank writes
its results to OUT/rank{r}.pkl for the test to compare with the single-process reference."""
import os
import pathlib
import pickle
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))

import numpy as np  # noqa: E402

from tests.distribution import scenarios  # noqa: E402
from tinydl import callbacks, distribution  # noqa: E402


def main(scenario, out):
    distribution.set_distribution(distribution.DataParallel())
    results = {"rank": distribution.rank(), "size": distribution.size()}
    results.update(SCENARIOS[scenario](pathlib.Path(out)))
    with open(pathlib.Path(out) / f"rank{distribution.rank()}.pkl", "wb") as f:
        pickle.dump(results, f)


def fit_everything(out):
    """Equivalence for SGD+momentum and Adam, files by rank 0 only, the negative controls, bad inputs, custom loops."""
    rank = distribution.rank()
    mine = out / f"r{rank}"
    mine.mkdir()
    results = {}
    for opt in ("sgd", "adam"):
        writers = [callbacks.CSVLogger(mine / f"{opt}.csv"), callbacks.TensorBoard(mine / f"tb_{opt}"),
                   callbacks.ModelCheckpoint(str(mine / (opt + "-{epoch}.weights.h5")), save_weights_only=True)]
        model, history = scenarios.train(scenarios.SEED + rank, opt, writers, verbose=2)
        (_, _), (vx, vy) = scenarios.data()
        results[opt] = {"weights": model.get_weights(), "history": history,
                        "evaluate": model.evaluate(vx, vy, batch_size=8, verbose=0, return_dict=True),
                        "predict": model.predict(vx, batch_size=8, verbose=0)}
    results["sequence"] = scenarios.train_on_sequence(scenarios.SEED + rank)
    distribution.set_distribution(distribution.DataParallel(auto_shard_dataset=False))
    results["own_shards"] = scenarios.train_on_sequence(scenarios.SEED + rank,
                                                        scenarios.Batches((rank, distribution.size())))
    distribution.set_distribution(distribution.DataParallel())
    results["unsynchronized_bn"] = scenarios.train(scenarios.SEED + rank, "sgd", synchronized=False)[0].get_weights()
    results["threads"] = {v: os.environ.get(v) for v in ("NUMBA_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
    results["no_allreduce"] = _negative_control("reduce_gradients", lambda self, grads: grads)
    results["no_broadcast"] = _negative_control("synchronize", lambda self, model, initial_epoch=0: initial_epoch)
    results["errors"] = _bad_inputs()
    results["custom"] = _custom_loop()
    return results


def _negative_control(hook, replacement):
    """Weights after training with one DataParallel hook replaced (the test expects them to be wrong)."""
    original = getattr(distribution.DataParallel, hook)
    setattr(distribution.DataParallel, hook, replacement)
    try:
        model, _ = scenarios.train(scenarios.SEED + distribution.rank(), "sgd")
    finally:
        setattr(distribution.DataParallel, hook, original)
    return model.get_weights()


def _bad_inputs():
    """The error message each bad input raises on this rank (None when nothing was raised)."""
    (x, y), _ = scenarios.data()
    errors = {}
    cases = {"batch_not_divisible": lambda m: m.fit(x, y, batch_size=distribution.size() + 1, verbose=0),
             "dataset_too_small": lambda m: m.fit(x[:distribution.size() - 1], y[:distribution.size() - 1],
                                                  batch_size=distribution.size(), verbose=0),
             "mismatched_models": None}
    for name, case in cases.items():
        try:
            if case is None:  # rank 1 builds a wider first layer than the others
                model = scenarios.build(0, "sgd", width=9 if distribution.rank() == 1 else 8)
                model.fit(x, y, batch_size=16, verbose=0)
            else:
                case(scenarios.build(0, "sgd"))
            errors[name] = None
        except ValueError as e:
            errors[name] = str(e)
    return errors


def _custom_loop():
    """allreduce ops on rank-valued arrays; DistributedOptimizer on per-rank gradients (r + 1) from zeros."""
    from tinydl import optimizers
    r = float(distribution.rank())
    value = np.array([r, -r], dtype=np.float32)
    reduced = {op: distribution.allreduce(value, op) for op in ("sum", "average", "max", "min")}
    in_place = value.copy()
    distribution.allreduce(in_place, "sum", out=in_place)
    reduced["in_place"] = in_place
    w = distribution.DistributedOptimizer(optimizers.SGD(learning_rate=0.1))
    var = scenarios.td.Tensor(np.zeros(3, dtype=np.float32), requires_grad=True)
    w.apply([np.full(3, r + 1, dtype=np.float32)], [var])
    variables = [scenarios.td.Tensor(np.full(2, r, dtype=np.float32))]
    distribution.broadcast_variables(variables)
    return {"allreduce": reduced, "optimizer_step": var.numpy(), "broadcast": variables[0].numpy(),
            "iterations": w.iterations}


def resume(out):
    """6 epochs with BackupAndRestore; with OUT/kill_after set, rank 0 signals after that epoch and sleeps."""
    kill_after = int(os.environ.get("KILL_AFTER_EPOCH", "-1"))

    class Signal(callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == kill_after and distribution.is_chief():
                (out / "killed_here").write_text(str(epoch))
                time.sleep(120)   # the test SIGKILLs the job now

    backup = callbacks.BackupAndRestore(out.parent / "backup")
    model, history = scenarios.train(scenarios.SEED + distribution.rank(), "adam", [backup, Signal()], epochs=6)
    return {"weights": model.get_weights(), "history": history}


def crash(out):
    """Rank 1 raises while rank 0 waits in a collective: the job must end, not hang."""
    if distribution.rank() == 1:
        raise RuntimeError("rank 1 fails on purpose")
    distribution.barrier()
    return {}


SCENARIOS = {"fit_everything": fit_everything, "resume": resume, "crash": crash}

if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
