"""ModelCheckpoint: save the model (or its weights) every epoch or every N batches, optionally only
when the monitored quantity improves. Each file is written under a temporary name and renamed into
place, so a crash never leaves a half-written checkpoint."""
import os

from tinydl.callbacks.monitor import MonitorCallback

__all__ = ["ModelCheckpoint"]


class ModelCheckpoint(MonitorCallback):
    """Keras 3 ModelCheckpoint. `filepath` may hold format fields: `{epoch:02d}` (1-based), `{batch}`,
    and any log key such as `{val_loss:.2f}`. Full models go to `.keras`/`.h5` files, weights
    (`save_weights_only=True`) to `.weights.h5` files, as Keras requires."""

    rank_zero_only = True  # writes files or prints: rank 0 only under data-parallel training

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False, save_weights_only=False,
                 mode="auto", save_freq="epoch", initial_value_threshold=None):
        super().__init__(monitor, mode, initial_value_threshold)
        self.filepath = os.fspath(filepath)
        self.verbose = verbose
        self.save_best_only = save_best_only
        self.save_weights_only = save_weights_only
        self.save_freq = save_freq
        if save_freq != "epoch" and not (isinstance(save_freq, int) and save_freq > 0):
            raise ValueError(f"ModelCheckpoint save_freq must be 'epoch' or a positive integer, got {save_freq!r}")
        if save_weights_only and not self.filepath.endswith(".weights.h5"):
            raise ValueError("when save_weights_only=True, the filepath must end in `.weights.h5`, "
                             f"got {self.filepath!r}")
        if not save_weights_only and not self.filepath.endswith((".keras", ".h5")):
            raise ValueError(f"the filepath must end in `.keras` or `.h5` to save a whole model, got {self.filepath!r}")
        self._batches_since_save = 0
        self._current_epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._current_epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.save_freq == "epoch":
            return
        self._batches_since_save += 1
        if self._batches_since_save >= self.save_freq:
            self._batches_since_save = 0
            self._save(self._current_epoch, batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self._save(epoch, None, logs)

    def _save(self, epoch, batch, logs):
        logs = dict(logs or {})
        path = self._file_path(epoch, batch, logs)
        if self.save_best_only:
            if self.minimize is None:  # decided once metrics exist; best then carries over between fits, as Keras
                self._reset_best()
            current = self._monitor_value(logs, "Saving the best model")
            if current is None:
                return
            if not self._is_improvement(current, self.best):
                if self.verbose > 0:
                    print(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {self.best:.5f}")
                return
            if self.verbose > 0:
                print(f"\nEpoch {epoch + 1}: {self.monitor} improved from {self.best:.5f} to {current:.5f}, "
                      f"saving model to {path}")
            self.best = current
        elif self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: saving model to {path}")
        # the model's own save path writes a temporary file and renames it (tinydl.io.files.atomic_path)
        if self.save_weights_only:
            self.model.save_weights(path)
        else:
            self.model.save(path)

    def _file_path(self, epoch, batch, logs):
        """`filepath` formatted with the 1-based epoch, the batch and the log values."""
        try:
            if batch is None or "batch" in logs:
                return self.filepath.format(epoch=epoch + 1, **logs)
            return self.filepath.format(epoch=epoch + 1, batch=batch + 1, **logs)
        except KeyError as e:
            raise KeyError(f"ModelCheckpoint filepath {self.filepath!r} refers to {e}, which is not in the logs "
                           f"{sorted(logs)}") from None

