"""SwapEMAWeights: evaluate and predict with the optimizer's moving averages of the weights (use_ema=True)."""
from tinydl.callbacks.callback import Callback


class SwapEMAWeights(Callback):
    """Swap the model's weights with the optimizer's EMA (`use_ema=True`) around evaluation and prediction,
    and with `swap_on_epoch=True` also at each epoch end (so that callbacks such as ModelCheckpoint see the
    EMA weights), as Keras's SwapEMAWeights. Training itself always runs on the raw weights."""

    def __init__(self, swap_on_epoch=False):
        super().__init__()
        self.swap_on_epoch = swap_on_epoch
        self._ema_weights_in_model = False

    def _ema_optimizers(self):
        optimizer = getattr(self.model.optimizer, "inner_optimizer", self.model.optimizer)  # LossScaleOptimizer
        inner = getattr(optimizer, "_inner", None)  # MultiOptimizer
        found = [o for o in (inner if inner is not None else [optimizer]) if getattr(o, "use_ema", False)]
        if not found:
            raise ValueError("SwapEMAWeights must be used when `use_ema=True` is set on the optimizer (or on one "
                             f"inner optimizer of a MultiOptimizer). Received: use_ema=False")
        return found

    def _swap_variables(self):
        for optimizer in self._ema_optimizers():
            averages = optimizer._state.get("average", [])
            for variable, average in zip(optimizer._variables, averages):
                raw = variable.data.copy()
                variable.data[...] = average
                average[...] = raw

    def _finalize_ema_values(self):
        # the averages hold the raw weights after a swap: put the EMA back, so that fit's final
        # finalize_variable_values leaves the EMA weights in the model
        for optimizer in self._ema_optimizers():
            for variable, average in zip(optimizer._variables, optimizer._state.get("average", [])):
                average[...] = variable.data

    def on_epoch_begin(self, epoch, logs=None):
        if self.swap_on_epoch and self._ema_weights_in_model:
            self._swap_variables()
            self._ema_weights_in_model = False

    def on_epoch_end(self, epoch, logs=None):
        if self.swap_on_epoch and not self._ema_weights_in_model:
            self._swap_variables()
            self._ema_weights_in_model = True
            if epoch == self.params["epochs"] - 1:
                self._finalize_ema_values()

    def on_test_begin(self, logs=None):
        if not self._ema_weights_in_model:
            self._swap_variables()
            self._ema_weights_in_model = True

    def on_test_end(self, logs=None):
        if self._ema_weights_in_model:
            self._swap_variables()
            self._ema_weights_in_model = False

    def on_predict_begin(self, logs=None):
        if not self._ema_weights_in_model:
            self._swap_variables()
            self._ema_weights_in_model = True

    def on_predict_end(self, logs=None):
        # Keras 3.15 tests `not self._ema_weights_in_model` here, so its model keeps the EMA weights after
        # predict; the raw weights are restored here, as on_test_end does
        if self._ema_weights_in_model:
            self._swap_variables()
            self._ema_weights_in_model = False
