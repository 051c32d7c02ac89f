"""History: records each epoch's logs; fit returns it."""
from tinydl.callbacks.callback import Callback

__all__ = ["History"]


class History(Callback):
    """`history.history` maps each log key (`loss`, `val_accuracy`, ...) to its per-epoch values."""

    def __init__(self):
        super().__init__()
        self.history = {}
        self.epoch = []

    def on_train_begin(self, logs=None):
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)
        if self.model is not None:
            self.model.history = self
