"""Callback: the base class with every Keras hook, and CallbackList, which fit/evaluate/predict drive."""

from tinydl import distribution

__all__ = ["Callback", "CallbackList"]


class Callback:
    """Override the hooks you need. `self.model` is the model being trained, `self.params` holds
    `epochs`, `steps` and `verbose`. Hooks receive a `logs` dict with Keras's key names.

    `rank_zero_only = True` marks callbacks that write files or print: under data-parallel training
    they run on rank 0 only."""

    rank_zero_only = False

    def __init__(self):
        self.model = None
        self.params = {}

    def set_model(self, model):
        self.model = model

    def set_params(self, params):
        self.params = params

    def on_train_begin(self, logs=None): pass
    def on_train_end(self, logs=None): pass
    def on_epoch_begin(self, epoch, logs=None): pass
    def on_epoch_end(self, epoch, logs=None): pass
    def on_train_batch_begin(self, batch, logs=None): pass
    def on_train_batch_end(self, batch, logs=None): pass
    def on_test_begin(self, logs=None): pass
    def on_test_end(self, logs=None): pass
    def on_test_batch_begin(self, batch, logs=None): pass
    def on_test_batch_end(self, batch, logs=None): pass
    def on_predict_begin(self, logs=None): pass
    def on_predict_end(self, logs=None): pass
    def on_predict_batch_begin(self, batch, logs=None): pass
    def on_predict_batch_end(self, batch, logs=None): pass


_HOOKS = [name for name in vars(Callback) if name.startswith("on_")]


class CallbackList(Callback):
    """Several callbacks called as one, in order; History and ProgbarLogger are added as Keras does.

    Batch-level hooks are skipped entirely when no callback overrides them, so an epoch with nothing
    to observe pays nothing per batch.
    """

    def __init__(self, callbacks=None, add_history=False, add_progbar=False, model=None, **params):
        super().__init__()
        from tinydl.callbacks.history import History
        from tinydl.callbacks.progbar import ProgbarLogger
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
                               if getattr(type(c), hook) is not getattr(Callback, hook)] for hook in _HOOKS}
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


def forwarding_hooks(cls, targets):
    """Give `cls` one method per hook that calls every function `targets(self, hook)` returns, with the
    hook's arguments (CallbackList fans out to its callbacks; LambdaCallback to the user's functions)."""
    for hook in _HOOKS:
        setattr(cls, hook, _forwarding_hook(hook, targets))


def _forwarding_hook(hook, targets):
    if "epoch" in hook or "batch" in hook:  # these hooks take the epoch or batch index first
        def method(self, index, logs=None):
            for fn in targets(self, hook):
                fn(index, logs)
    else:
        def method(self, logs=None):
            for fn in targets(self, hook):
                fn(logs)
    method.__name__ = hook
    return method


forwarding_hooks(CallbackList, lambda self, hook: self._active[hook])
