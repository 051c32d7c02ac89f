"""The shared 'did the monitored quantity improve?' logic of EarlyStopping, ModelCheckpoint and
ReduceLROnPlateau (Keras 3's MonitorCallback)."""
import warnings

import numpy as np

from tinydl.callbacks.callback import Callback

__all__ = ["MonitorCallback"]


class MonitorCallback(Callback):
    """Decides improvement of `logs[monitor]` by `mode` ('min', 'max' or 'auto') and `min_delta`.

    'auto' minimises names that are `loss` once `val_` is stripped, otherwise asks the compiled
    metric of that name for its direction ('up' or 'down'), and raises if it cannot tell.
    """

    def __init__(self, monitor="val_loss", mode="auto", baseline=None, min_delta=0):
        super().__init__()
        if mode not in ("auto", "min", "max"):
            warnings.warn(f"{type(self).__name__} mode '{mode}' is unknown, falling back to 'auto'", stacklevel=3)
            mode = "auto"
        self.monitor = monitor
        self.mode = mode
        self.baseline = baseline
        self.min_delta = abs(min_delta)
        self.minimize = None
        self.best = None

    def _direction(self):
        """True to minimise the monitored quantity, False to maximise it."""
        if self.mode != "auto":
            return self.mode == "min"
        name = self.monitor[4:] if self.monitor.startswith("val_") else self.monitor
        if name == "loss" or name.endswith("_loss"):
            return True
        compiled = getattr(self.model, "_compiled", None)
        for label, metric in (compiled.named_metrics() if compiled is not None else []):
            if label == name and getattr(metric, "direction", None) in ("up", "down"):
                return metric.direction == "down"
        raise ValueError(f"{type(self).__name__} callback received monitor={self.monitor!r} but cannot tell "
                         "whether it should be maximized or minimized. Pass mode='max' to monitor the highest "
                         "value or mode='min' for the lowest.")

    def _reset_best(self):
        """Set the direction (now that metrics exist) and start `best` from the baseline or +-inf."""
        self.minimize = self._direction()
        self.best = self.baseline if self.baseline is not None else (np.inf if self.minimize else -np.inf)

    def _is_improvement(self, value, reference):
        """value beats reference by more than min_delta in the monitored direction."""
        if reference is None:
            return True
        if self.minimize:
            return value + self.min_delta < reference
        return value - self.min_delta > reference

    def _monitor_value(self, logs, what):
        """logs[monitor], or None with a warning naming the keys that are there."""
        value = (logs or {}).get(self.monitor)
        if value is None:
            warnings.warn(f"{what} conditioned on metric `{self.monitor}` which is not available. Available "
                          f"metrics are: {','.join(logs or {})}", stacklevel=3)
        return value
