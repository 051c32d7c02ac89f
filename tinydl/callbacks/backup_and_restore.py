"""BackupAndRestore: survive a killed training run. Every epoch (or N batches) the callback writes the
weights, the optimizer state, the random generator's state and the epoch counter to `backup_dir`;
a rerun of `fit` with the same callback resumes after the last completed epoch and ends with the
same weights as an uninterrupted run."""
import json
import os
import shutil

import numpy as np

from tinydl import backend
from tinydl.callbacks.callback import Callback
from tinydl.io.hdf5 import atomic_path

__all__ = ["BackupAndRestore"]

_FILE = "backup.npz"


class BackupAndRestore(Callback):
    """Keras 3 BackupAndRestore. The backup is one file, `backup_dir/backup.npz`, holding the weights,
    the optimizer slots and a JSON record (epoch, optimizer iterations and learning rate, RNG state);
    it is replaced atomically, so a kill at any moment leaves the previous backup intact.

    Documented choice: tinydl resumes at epoch boundaries only, which keeps a resumed run exactly
    equal to an uninterrupted one. An integer `save_freq` is accepted for Keras compatibility and
    saves at epoch ends. `delete_checkpoint=True` removes the backup when `fit` finishes normally.
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
        with np.load(self.path, allow_pickle=False) as state:
            meta = json.loads(str(state["meta"]))
            weights = [state[f"w{i}"] for i in range(meta["n_weights"])]
            slots = {name: [state[f"s_{name}_{i}"] for i in range(n)] for name, n in meta["slots"].items()}
        self.model.set_weights(weights)
        self.model.optimizer.set_state({"iterations": meta["iterations"], "learning_rate": meta["learning_rate"],
                                        "slots": slots, "extra": meta.get("extra", {})})
        backend.set_rng_state(meta["rng"])
        self.model._initial_epoch = meta["epoch"] + 1

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq is not False:
            self._write(epoch)

    def on_train_end(self, logs=None):
        if self.delete_checkpoint and os.path.isdir(self.backup_dir):
            shutil.rmtree(self.backup_dir, ignore_errors=True)

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
