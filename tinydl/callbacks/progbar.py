"""Progress output: `Progbar` (a live bar with ETA) and ProgbarLogger, the callback fit uses."""
import logging
import sys
import time

from tinydl import backend
from tinydl.callbacks.callback import Callback

__all__ = ["Progbar", "ProgbarLogger", "print_msg"]


class Progbar:
    """A Keras-style progress bar: `12/50 ━━━━━━━━━━━━━━━━━━━━ 1s 20ms/step - loss: 0.31`.

    verbose=1 redraws one line in place (at most every `interval` seconds); verbose=2 prints a single line
    when the target is reached. Values are averaged over the steps seen, except those named in
    `stateful_metrics`; with `stateless_metrics` instead, values are shown as given except those named there
    (ProgbarLogger passes `stateless_metrics=set()`: fit's logs are running means already).
    """

    def __init__(self, target, width=20, verbose=1, interval=0.05, stateful_metrics=None, stateless_metrics=None,
                 unit_name="step", stream=None):
        self.target, self.width, self.verbose = target, width, verbose
        self.interval, self.unit_name = interval, unit_name
        if stateful_metrics is not None and stateless_metrics is not None:
            raise ValueError("Only one of `stateful_metrics` or `stateless_metrics` can be provided, "
                             f"received stateful_metrics={stateful_metrics} and stateless_metrics={stateless_metrics}")
        self.stateful_metrics = set(stateful_metrics or ()) if stateless_metrics is None else None
        self.stateless_metrics = None if stateless_metrics is None else set(stateless_metrics)
        self.stream = stream or sys.stdout
        self.start = time.perf_counter()
        self._last_draw = 0.0
        self._values, self._seen = {}, 0

    def update(self, current, values=None, finalize=None):
        """Show progress at step `current` with `values`: a dict or a list of (name, value) pairs."""
        finalize = finalize if finalize is not None else (self.target is not None and current >= self.target)
        now = time.perf_counter()
        elapsed = now - self.start
        self._record(current, values, finalize)
        metrics = "".join(f" - {k}: {_fmt(total / count)}" for k, (total, count) in self._values.items())
        step = _step_time(elapsed / max(current, 1), self.unit_name)
        if self.verbose and not backend.is_interactive_logging_enabled():
            if finalize:  # as Keras: without interactive logging, one line per bar goes to the log
                print_msg(f"{current}/{self.target} - {elapsed:.0f}s - {step}{metrics}")
            return
        if self.verbose == 1:
            if not finalize and now - self._last_draw < self.interval:
                return
            self._last_draw = now
            per_step = elapsed / max(current, 1)
            if self.target is not None:
                filled = int(self.width * current / max(self.target, 1))
                bar = "━" * filled + "─" * (self.width - filled)
                timing = f"{elapsed:.0f}s" if finalize else f"ETA {per_step * (self.target - current):.0f}s"
                line = f"\r{current}/{self.target} {bar} {timing} {step}{metrics}"
            else:
                line = f"\r{current} {elapsed:.0f}s {step}{metrics}"
            self.stream.write(line + ("\n" if finalize else ""))
            self.stream.flush()
        elif self.verbose == 2 and finalize:
            self.stream.write(f"{current}/{self.target} - {elapsed:.0f}s - {step}{metrics}\n")
            self.stream.flush()


    def add(self, n, values=None):
        """Advance by `n` steps."""
        self.update(self._seen + n, values)

    def _record(self, current, values, finalize):
        """Keep each value: as given, or summed with its step count for averaging (Keras's rules)."""
        pairs = values.items() if isinstance(values, dict) else (values or [])
        for name, value in pairs:
            averaged = name not in self.stateful_metrics if self.stateful_metrics is not None \
                else name in self.stateless_metrics
            if not averaged or finalize or name not in self._values:
                steps = 1 if not averaged or finalize else max(current - self._seen, 1)
                self._values[name] = [value * steps, steps]
            else:
                steps = max(current - self._seen, 1)
                self._values[name][0] += value * steps
                self._values[name][1] += steps
        self._seen = current


def print_msg(message):
    """A line to stdout, or to the `tinydl` logger when interactive logging is off (as Keras)."""
    if backend.is_interactive_logging_enabled():
        print(message, file=sys.stdout)
    else:
        logging.getLogger("tinydl").info(message)


def _fmt(v):
    """A metric value as Keras prints it."""
    try:
        v = float(v)
    except (TypeError, ValueError):
        return str(v)
    return f"{v:.4f}" if 1e-3 <= abs(v) < 1e4 or v == 0 else f"{v:.4e}"


def _step_time(seconds, unit="step"):
    """'12ms/step' or '2s/step'."""
    return f"{seconds:.0f}s/{unit}" if seconds >= 1 else f"{seconds * 1e3:.0f}ms/{unit}"


class ProgbarLogger(Callback):
    """Prints progress for fit/evaluate/predict according to `params['verbose']` (0, 1 or 2)."""

    rank_zero_only = True  # writes files or prints: rank 0 only under data-parallel training

    def __init__(self):
        super().__init__()
        self.progbar = None
        self._in_fit = False

    @property
    def verbose(self):
        return self.params.get("verbose", 1)

    def on_train_begin(self, logs=None):
        self._in_fit = True

    def on_train_end(self, logs=None):
        self._in_fit = False

    def on_epoch_begin(self, epoch, logs=None):
        if self.verbose:
            epochs = self.params.get("epochs")
            print_msg(f"Epoch {epoch + 1}/{epochs}")
        self.progbar = Progbar(self.params.get("steps"), verbose=self.verbose, stateless_metrics=set())
        self.seen = 0

    def on_train_batch_end(self, batch, logs=None):
        self.seen = batch + 1
        if self.verbose == 1:
            self.progbar.update(self.seen, logs, finalize=False)

    def on_epoch_end(self, epoch, logs=None):
        if self.verbose:
            self.progbar.target = self.progbar.target or self.seen
            self.progbar.update(self.seen, logs, finalize=True)

    def on_test_begin(self, logs=None):
        if not self._in_fit:
            self.progbar = Progbar(self.params.get("steps"), verbose=self.verbose, stateless_metrics=set())
            self.seen = 0

    def on_test_batch_end(self, batch, logs=None):
        if not self._in_fit:
            self.seen = batch + 1
            if self.verbose == 1:
                self.progbar.update(self.seen, logs, finalize=False)

    def on_test_end(self, logs=None):
        if not self._in_fit and self.verbose:
            self.progbar.target = self.progbar.target or self.seen
            self.progbar.update(self.seen, logs, finalize=True)

    def on_predict_begin(self, logs=None):
        self.progbar = Progbar(self.params.get("steps"), verbose=self.verbose, stateless_metrics=set())
        self.seen = 0

    def on_predict_batch_end(self, batch, logs=None):
        self.seen = batch + 1
        if self.verbose == 1:
            self.progbar.update(self.seen, finalize=False)

    def on_predict_end(self, logs=None):
        if self.verbose:
            self.progbar.target = self.progbar.target or self.seen
            self.progbar.update(self.seen, finalize=True)
