"""BackupAndRestore: survive a killed training run. Every epoch (or N batches) the callback writes the
weights, the optimizer state, the random generator's state and the epoch counter to `backup_dir`;
a rerun of `fit` with the same callback resumes after the last completed epoch and ends with the
same weights as an uninterrupted run."""
import contextlib
import json
import os
import zipfile
import zlib

import numpy as np

from tinydl import backend
from tinydl.callbacks.callback import Callback
from tinydl.io.files import atomic_path, remove_stale_temporaries

__all__ = ["BackupAndRestore"]

_FILE = "backup.npz"


class BackupAndRestore(Callback):
    """Keras 3 BackupAndRestore. The backup is one file, `backup_dir/backup.npz`, holding the weights,
    the optimizer slots and a JSON record (epoch, optimizer iterations and learning rate, RNG state);
    it is replaced atomically, so a kill at any moment leaves the previous backup intact.

    Documented choice: tinydl resumes at epoch boundaries only, which keeps a resumed run exactly
    equal to an uninterrupted one. An integer `save_freq` is accepted for Keras compatibility and
    saves at epoch ends. `delete_checkpoint=True` removes the backup when `fit` finishes normally: only the
    file it wrote (and `backup_dir` if that leaves it empty), never other files in the folder.
    """

    rank_zero_only = True  # writes files or prints: rank 0 only under data-parallel training

    def __init__(self, backup_dir, save_freq="epoch", delete_checkpoint=True):
        super().__init__()
        if not backup_dir:
            raise ValueError("BackupAndRestore needs a backup_dir")
        if save_freq != "epoch" and save_freq is not False and not (isinstance(save_freq, int) and save_freq > 0):
            raise ValueError(f"save_freq must be 'epoch', False or a positive integer, got {save_freq!r}")
        self.backup_dir = os.fspath(backup_dir)
        self.save_freq = save_freq
        self.delete_checkpoint = delete_checkpoint
        self.path = os.path.join(self.backup_dir, _FILE)

    def on_train_begin(self, logs=None):
        if not os.path.exists(self.path):
            return
        weights, slots, meta = self._read()
        self.model.set_weights(weights)
        optimizer = self.model.optimizer
        optimizer.build(self.model.trainable_weights)  # slots land now, even when no epoch is left to run
        optimizer.set_state({"iterations": meta["iterations"], "learning_rate": meta["learning_rate"],
                             "slots": slots, "extra": meta.get("extra", {})})
        backend.set_rng_state(meta["rng"])
        self.model._initial_epoch = meta["epoch"] + 1

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq is not False:
            self._write(epoch)

    def on_train_end(self, logs=None):
        """Remove the backup this callback wrote (and the folder if that leaves it empty); nothing else."""
        if not self.delete_checkpoint:
            return
        with contextlib.suppress(FileNotFoundError):
            os.remove(self.path)
        remove_stale_temporaries(self.path)
        with contextlib.suppress(OSError):
            os.rmdir(self.backup_dir)  # fails, as wanted, when the user keeps other files there

    def _read(self):
        """(weights, optimizer slots, record) from the backup; a damaged backup is a ValueError naming it."""
        try:
            with np.load(self.path, allow_pickle=False) as state:
                meta = json.loads(str(state["meta"]))
                weights = [state[f"w{i}"] for i in range(meta["n_weights"])]
                slots = {name: [state[f"s_{name}_{i}"] for i in range(n)] for name, n in meta["slots"].items()}
            int(meta["epoch"]), int(meta["iterations"]), meta["learning_rate"], meta["rng"]  # all present
        except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile, zlib.error, EOFError) as e:
            raise ValueError(f"BackupAndRestore: cannot resume from {self.path}: the backup is damaged or not "
                             f"tinydl's ({type(e).__name__}: {e}); delete it to start training afresh") from e
        return weights, slots, meta

    def _write(self, epoch):
        """Weights, optimizer state and RNG state into a temporary file, then renamed over the backup."""
        weights = self.model.get_weights()
        opt = self.model.optimizer.get_state()
        arrays = {f"w{i}": w for i, w in enumerate(weights)}
        for name, values in opt["slots"].items():
            arrays.update({f"s_{name}_{i}": np.asarray(v) for i, v in enumerate(values)})
        meta = {"epoch": epoch, "n_weights": len(weights), "iterations": opt["iterations"],
                "learning_rate": opt["learning_rate"], "slots": {k: len(v) for k, v in opt["slots"].items()},
                "extra": {k: float(v) for k, v in opt.get("extra", {}).items()},
                "rng": _jsonable(backend.get_rng_state())}
        arrays["meta"] = np.array(json.dumps(meta))
        with atomic_path(self.path) as tmp, open(tmp, "wb") as f:
            np.savez(f, **arrays)


def _jsonable(value):
    """The generator state (nested dicts of ints) as plain JSON types."""
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, np.integer):
        return int(value)
    return value
