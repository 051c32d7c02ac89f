"""Small callbacks: TerminateOnNaN, LambdaCallback, CSVLogger."""
import csv
import math
import os

import numpy as np

from tinydl.callbacks.callback import HOOKS, Callback

__all__ = ["TerminateOnNaN", "LambdaCallback", "CSVLogger"]


class TerminateOnNaN(Callback):
    """Stop training as soon as a batch's loss is NaN or infinite."""

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            print(f"Batch {batch}: Invalid loss, terminating training")
            self.model.stop_training = True


class LambdaCallback(Callback):
    """A callback from functions: `LambdaCallback(on_epoch_end=lambda epoch, logs: ...)`.

    Any hook name may be given; `on_batch_begin`/`on_batch_end` are Keras's names for the training
    batch hooks.
    """

    def __init__(self, **hooks):
        super().__init__()
        aliases = {"on_batch_begin": "on_train_batch_begin", "on_batch_end": "on_train_batch_end"}
        self._hooks = {}
        for name, fn in hooks.items():
            name = aliases.get(name, name)
            if name not in HOOKS:
                raise ValueError(f"LambdaCallback got an unknown hook {name!r}")
            if fn is not None:
                self._hooks[name] = fn

    def on_train_begin(self, logs=None):
        self._call("on_train_begin", logs)

    def on_train_end(self, logs=None):
        self._call("on_train_end", logs)

    def on_epoch_begin(self, epoch, logs=None):
        self._call("on_epoch_begin", epoch, logs)

    def on_epoch_end(self, epoch, logs=None):
        self._call("on_epoch_end", epoch, logs)

    def on_train_batch_begin(self, batch, logs=None):
        self._call("on_train_batch_begin", batch, logs)

    def on_train_batch_end(self, batch, logs=None):
        self._call("on_train_batch_end", batch, logs)

    def on_test_begin(self, logs=None):
        self._call("on_test_begin", logs)

    def on_test_end(self, logs=None):
        self._call("on_test_end", logs)

    def on_test_batch_begin(self, batch, logs=None):
        self._call("on_test_batch_begin", batch, logs)

    def on_test_batch_end(self, batch, logs=None):
        self._call("on_test_batch_end", batch, logs)

    def on_predict_begin(self, logs=None):
        self._call("on_predict_begin", logs)

    def on_predict_end(self, logs=None):
        self._call("on_predict_end", logs)

    def on_predict_batch_begin(self, batch, logs=None):
        self._call("on_predict_batch_begin", batch, logs)

    def on_predict_batch_end(self, batch, logs=None):
        self._call("on_predict_batch_end", batch, logs)

    def _call(self, hook, *args):
        """Call the user's function for `hook`, if one was given."""
        fn = self._hooks.get(hook)
        if fn is not None:
            fn(*args)


class CSVLogger(Callback):
    """One CSV row per epoch: `epoch` then every log key (sorted); header once; flushed each epoch.

    With `append=True` a rerun adds rows to the existing file without repeating the header.
    """

    rank_zero_only = True  # writes files or prints: rank 0 only under data-parallel training

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.filename = os.fspath(filename)
        self.sep = separator
        self.append = append
        self.keys = None
        self.writer = None
        self.file = None

    def on_train_begin(self, logs=None):
        append_header = True
        if self.append and os.path.exists(self.filename):
            with open(self.filename) as f:
                append_header = not bool(f.readline())
        self.file = open(self.filename, "a" if self.append else "w", newline="")
        self.append_header = append_header
        self.keys = None
        self.writer = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.keys is None:
            self.keys = sorted(logs)
        if self.model is not None and self.model.stop_training:
            logs = {k: logs.get(k, "NA") for k in self.keys}
        if self.writer is None:
            self.writer = csv.DictWriter(self.file, fieldnames=["epoch"] + self.keys, delimiter=self.sep)
            if self.append_header:
                self.writer.writeheader()
        row = {"epoch": epoch}
        row.update((k, _csv_value(logs.get(k, "NA"))) for k in self.keys)
        self.writer.writerow(row)
        self.file.flush()

    def on_train_end(self, logs=None):
        if self.file is not None:
            self.file.close()
        self.writer = None


def _csv_value(value):
    """Numbers as they are; arrays as '[a, b]' like Keras."""
    if isinstance(value, np.ndarray) and value.ndim > 0:
        return f"[{', '.join(str(v) for v in value.tolist())}]"
    return value
