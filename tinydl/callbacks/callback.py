"""Callback: the base class with every Keras hook (CallbackList, which fit drives, is in callback_list.py)."""

__all__ = ["Callback"]


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


HOOKS = tuple(name for name in vars(Callback) if name.startswith("on_"))  # every hook, in Keras's order
