"""CallbackList: several callbacks called as one; fit, evaluate and predict drive one."""
from tinydl import distribution
from tinydl.callbacks.callback import HOOKS, Callback
from tinydl.callbacks.history import History
from tinydl.callbacks.progbar import ProgbarLogger

__all__ = ["CallbackList"]


class CallbackList(Callback):
    """Several callbacks called as one, in order; History and ProgbarLogger are added as Keras does.

    Each hook calls, in order, the callbacks that override it: batch-level hooks cost nothing per
    batch when no callback observes them, and fit skips building their logs (`wants`).
    """

    def __init__(self, callbacks=None, add_history=False, add_progbar=False, model=None, **params):
        super().__init__()
        self.callbacks = list(callbacks.callbacks if isinstance(callbacks, CallbackList) else callbacks or [])
        self.history = next((c for c in self.callbacks if isinstance(c, History)), None)
        if self.history is None and add_history:
            self.history = History()
            self.callbacks.append(self.history)
        if add_progbar and not any(isinstance(c, ProgbarLogger) for c in self.callbacks):
            self.callbacks.append(ProgbarLogger())
        dist = distribution.active()
        if dist is not None:  # data parallel: file writers and printers live on rank 0 only
            self.callbacks = [c for c in self.callbacks if dist.keep_callback(c)]
        self._active = {hook: [getattr(c, hook) for c in self.callbacks
                               if getattr(type(c), hook) is not getattr(Callback, hook)] for hook in HOOKS}
        if model is not None:
            self.set_model(model)
        if params:
            self.set_params(params)

    def set_model(self, model):
        super().set_model(model)
        for c in self.callbacks:
            c.set_model(model)

    def set_params(self, params):
        super().set_params(params)
        for c in self.callbacks:
            c.set_params(params)

    def wants(self, hook):
        """True when some callback overrides `hook` (fit skips building batch logs otherwise)."""
        return bool(self._active[hook])

    def on_train_begin(self, logs=None):
        for hook in self._active["on_train_begin"]:
            hook(logs)

    def on_train_end(self, logs=None):
        for hook in self._active["on_train_end"]:
            hook(logs)

    def on_epoch_begin(self, epoch, logs=None):
        for hook in self._active["on_epoch_begin"]:
            hook(epoch, logs)

    def on_epoch_end(self, epoch, logs=None):
        for hook in self._active["on_epoch_end"]:
            hook(epoch, logs)

    def on_train_batch_begin(self, batch, logs=None):
        for hook in self._active["on_train_batch_begin"]:
            hook(batch, logs)

    def on_train_batch_end(self, batch, logs=None):
        for hook in self._active["on_train_batch_end"]:
            hook(batch, logs)

    def on_test_begin(self, logs=None):
        for hook in self._active["on_test_begin"]:
            hook(logs)

    def on_test_end(self, logs=None):
        for hook in self._active["on_test_end"]:
            hook(logs)

    def on_test_batch_begin(self, batch, logs=None):
        for hook in self._active["on_test_batch_begin"]:
            hook(batch, logs)

    def on_test_batch_end(self, batch, logs=None):
        for hook in self._active["on_test_batch_end"]:
            hook(batch, logs)

    def on_predict_begin(self, logs=None):
        for hook in self._active["on_predict_begin"]:
            hook(logs)

    def on_predict_end(self, logs=None):
        for hook in self._active["on_predict_end"]:
            hook(logs)

    def on_predict_batch_begin(self, batch, logs=None):
        for hook in self._active["on_predict_batch_begin"]:
            hook(batch, logs)

    def on_predict_batch_end(self, batch, logs=None):
        for hook in self._active["on_predict_batch_end"]:
            hook(batch, logs)
