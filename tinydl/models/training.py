"""The Keras training API as a mixin of Model: compile, fit, evaluate, predict and the *_on_batch calls.

One training step (`train_step`, the method subclasses override): forward with training=True (passed only
when `call` declares it, as Keras), the compiled loss plus `model.losses` (`compute_loss`), the gradients
(`compute_gradients`), `apply_gradients`, then the metrics (`compute_metrics`) and the logs they give.
Callbacks observe every stage.
"""
import sys
import warnings

import numpy as np

from tinydl import backend, distribution, losses, metrics as metrics_mod, optimizers
from tinydl.callbacks import CallbackList
from tinydl.layers.base import flatten, pack_like
from tinydl.models.fit_arguments import check_data, check_fit_arguments, finite_batches
from tinydl.models.data_adapter import DataHandler, batch_size_of, split_validation, unpack_batch
from tinydl.tensor import Tensor
from tinydl.autograd import no_grad

__all__ = ["Trainer"]



def _capped_epochs(epochs):
    """epochs, lowered to keras.config.max_epochs() when that cap is set and smaller (with Keras's warning)."""
    cap = backend.keras_api.max_epochs()
    if cap and cap < epochs:
        warnings.warn(f"Limiting epochs to {cap}")
        return cap
    return epochs


def _capped_steps(steps):
    """steps per epoch, lowered to keras.config.max_steps_per_epoch() when that cap is set (as Keras's
    EpochIterator: a cap also bounds an unspecified number of steps)."""
    cap = backend.keras_api.max_steps_per_epoch()
    if cap and (not steps or cap < steps):
        warnings.warn(f"Limiting steps_per_epoch to {cap}")
        return cap
    return steps

class Trainer:
    """compile / fit / evaluate / predict for Model."""

    def _init_training(self):
        self.optimizer = None
        self.compiled = False
        self.stop_training = False
        self.history = None
        self._compiled = None
        self._compile_args = None
        self.check_numerics = False

    # -- compile -----------------------------------------------------------------------------
    def compile(self, optimizer="rmsprop", loss=None, metrics=None, loss_weights=None, weighted_metrics=None,
                run_eagerly=False, steps_per_execution=1, jit_compile="auto", auto_scale_loss=True,
                check_numerics=False):
        """Choose the optimizer, loss(es) and metrics (strings, objects, lists or dicts by output name).

        `check_numerics=True` (a tinydl extension) makes fit/evaluate/predict reject NaN or inf inputs.
        """
        self.optimizer = optimizers.get(optimizer)
        self._compile_args = {"loss": loss, "metrics": metrics, "loss_weights": loss_weights,
                              "weighted_metrics": weighted_metrics}
        self._compiled = _CompiledTargets(loss, metrics, loss_weights, weighted_metrics)
        self.compiled = True
        self.check_numerics = check_numerics
        self.stop_training = False

    @property
    def metrics(self):
        """The metrics fit resets and reads: the loss tracker and the compiled metrics (Keras 3's list)."""
        return self._compiled.metric_list() if self._compiled else []

    @property
    def metrics_names(self):
        return ["loss"] + [name for name, _ in self._compiled.named_metrics()] if self._compiled else []

    def _require_compiled(self, what):
        if not self.compiled:
            raise RuntimeError(f"model '{self.name}' must be compiled before {what}(): call "
                               "model.compile(optimizer=..., loss=...) first")

    # -- steps: the methods a subclass overrides, as in Keras 3 -------------------------------
    def train_step(self, data):
        """One optimisation step on a batch `(x, y, sample_weight)`; returns the logs (metric results)."""
        x, y, sample_weight = unpack_batch(data)
        y_pred = self._forward(x, training=True)
        loss = self.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=True)
        variables = self.trainable_weights
        # loss_scale_factor / LossScaleOptimizer: apply() divides the gradients by the same scale (Keras)
        scale_loss = getattr(self.optimizer, "scale_loss", None)
        grads = self.compute_gradients(loss if scale_loss is None else scale_loss(loss), variables)
        # the one place between gradients and update: data-parallel training averages `grads` here
        self.apply_gradients(grads, variables)
        return self.compute_metrics(x, y, y_pred, sample_weight)

    def test_step(self, data):
        """Forward in inference mode on a batch; updates the loss tracker and metrics, returns the logs."""
        x, y, sample_weight = unpack_batch(data)
        with no_grad():
            y_pred = self._forward(x, training=False)
            self.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=False)
        return self.compute_metrics(x, y, y_pred, sample_weight)

    def predict_step(self, data):
        """The model's outputs for one batch (Tensors, same nesting as the model's outputs)."""
        x, _, _ = unpack_batch(data)
        with no_grad():
            return self._forward(x, training=False)

    def _forward(self, x, training):
        """The model on a batch, as Keras 3's steps call it: `training` is passed only when `call` declares it.

        A subclassed model whose `call(inputs)` has no `training` argument therefore runs in fit as it runs
        anywhere else: its nested BatchNormalization and Dropout stay in inference mode (moving statistics
        unchanged), exactly as in Keras; declare `training=None` in `call` to train them.
        """
        x = self._on_device(x)
        return self(x, training=training) if self._call_has_training_arg else self(x)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The total loss Tensor: compiled losses (weighted) plus `model.losses`; updates the loss trackers."""
        self._require_compiled("compute_loss")
        return self._compiled.loss(self, self._on_device(y), y_pred, self._on_device(sample_weight),
                                   batch_size_of(x))

    def compute_gradients(self, loss, variables):
        """Gradients (raw arrays; None where a variable does not reach the loss) of `loss` for `variables`."""
        for v in variables:
            v.grad = None
        loss.backward()
        grads = [v.grad.data if v.grad is not None else None for v in variables]  # None: no update, as Keras
        for v in variables:
            v.grad = None
        dist = distribution.active()
        if dist is not None:  # data parallel: average over ranks between backward and apply
            grads = dist.reduce_gradients(grads)
        return grads

    def apply_gradients(self, grads, variables):
        """One optimizer update of `variables` from `grads` (constraints are applied by the optimizer)."""
        self.optimizer.apply(grads, variables)

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        """Update the compiled metrics with this batch and return every metric's result (the logs)."""
        self._compiled.update_metrics(y, y_pred, sample_weight)
        return self.get_metrics_result()

    def get_metrics_result(self):
        """{name: result} of `self.metrics`; values stay arrays on the device until a callback reads them."""
        logs = {}
        for metric in self.metrics:
            result = metric.result()
            logs.update(result if isinstance(result, dict) else {metric.name: result})
        return logs

    def reset_metrics(self):
        """Reset every metric in `self.metrics` (done at the start of each epoch and evaluation)."""
        for metric in self.metrics:
            metric.reset_state()

    def _on_device(self, struct):
        """Batch arrays moved to the model's device (`model.to('cuda')`); unchanged on the CPU."""
        device = getattr(self, "_device_name", None)
        if struct is None or device in (None, "cpu"):
            return struct
        return pack_like(struct, [backend.to_device(a, device) if hasattr(a, "shape") else a for a in flatten(struct)])

    # -- fit ---------------------------------------------------------------------------------
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, class_weight=None, sample_weight=None,
            initial_epoch=0, steps_per_epoch=None, validation_steps=None, validation_batch_size=None,
            validation_freq=1):
        """Train for `epochs` epochs; returns the History callback (`history.history[key]` per epoch)."""
        self._require_compiled("fit")
        check_fit_arguments(batch_size, epochs, validation_split, initial_epoch, steps_per_epoch, validation_freq,
                            validation_batch_size, validation_steps)
        if validation_split and validation_data is None:
            (x, y, sample_weight), validation_data = split_validation(x, y, sample_weight, validation_split)
        epochs = _capped_epochs(epochs)
        data = DataHandler(x, y, sample_weight, batch_size, _capped_steps(steps_per_epoch), shuffle,
                           class_weight)
        check_data(data, validation_split)
        self._check_arrays(data)
        dist = distribution.active()
        if dist is not None:
            dist.check_data(getattr(data, "n", None), getattr(data, "batch_size", None))
        verbose = _resolve_verbose(verbose)
        cbs = CallbackList(callbacks, add_history=True, add_progbar=verbose != 0, model=self,
                           verbose=verbose, epochs=epochs, steps=data.steps)
        self.stop_training = False
        self._initial_epoch = None
        cbs.on_train_begin({})
        if self._initial_epoch is not None:  # a callback (BackupAndRestore) resumes an interrupted run
            initial_epoch, self._initial_epoch = max(initial_epoch, self._initial_epoch), None
        if dist is not None:  # every rank starts from rank 0's weights, optimizer, RNG and resume epoch
            initial_epoch = dist.synchronize(self, initial_epoch)
        logs = {}
        for epoch in range(initial_epoch, epochs):
            self.reset_metrics()
            cbs.on_epoch_begin(epoch, {})
            batch_hooks = cbs.wants("on_train_batch_begin") or cbs.wants("on_train_batch_end")
            step_logs = None
            for step, batch in enumerate(self._numerics_checked(data)):
                if batch_hooks:
                    cbs.on_train_batch_begin(step, {})
                if dist is not None:
                    batch = dist.shard(*batch)
                step_logs = self.train_step(as_step_data(*batch))
                if batch_hooks:
                    cbs.on_train_batch_end(step, pythonify_logs(step_logs or {}))
                if self.stop_training:
                    break
            if data.exhausted and step_logs is None:
                warnings.warn("the data generator ran out of batches; training stops (pass steps_per_epoch "
                              "and a generator that repeats to train for more epochs)")
                break
            logs = pythonify_logs(step_logs or {})
            if dist is not None:  # the same logs on every rank, so callbacks decide alike
                logs = dist.average_logs(logs)
            if validation_data is not None and (epoch + 1) % validation_freq == 0:
                val = self._evaluate_data(validation_data, validation_batch_size or batch_size, validation_steps,
                                          cbs)
                logs.update({f"val_{k}": v for k, v in val.items()})
            cbs.on_epoch_end(epoch, logs)
            if self.stop_training:
                break
        if epochs > 0:  # as Keras: with use_ema the model ends fit holding the moving averages
            self.optimizer.finalize_variable_values(self.trainable_weights)
        cbs.on_train_end(logs)
        return cbs.history

    def _evaluate_data(self, validation_data, batch_size, steps, cbs):
        """Evaluate on validation data (a tuple of arrays, a generator or a dataset) and return logs."""
        if isinstance(validation_data, tuple):
            vx, vy, vsw = unpack_batch(validation_data)
            handler = DataHandler(vx, vy, vsw, batch_size, _capped_steps(steps))
        else:
            handler = DataHandler(validation_data, None, None, batch_size, _capped_steps(steps))
        if handler.kind == "arrays" and handler.n == 0:
            return {}  # as Keras: empty validation data adds no val_ keys
        check_data(handler, validation=True)
        self._check_arrays(handler)
        return self._test_loop(handler, cbs)

    def _test_loop(self, data, cbs):
        """Run test_step over all batches with fresh metrics and return their results."""
        self.reset_metrics()
        cbs.on_test_begin({})
        hooks = cbs.wants("on_test_batch_begin") or cbs.wants("on_test_batch_end")
        dist = distribution.active()
        step_logs = None
        for step, batch in enumerate(self._numerics_checked(data)):
            if hooks:
                cbs.on_test_batch_begin(step, {})
            if dist is not None:
                batch = dist.shard(*batch)
            step_logs = self.test_step(as_step_data(*batch))
            if hooks:
                cbs.on_test_batch_end(step, pythonify_logs(step_logs or {}))
        logs = pythonify_logs(step_logs or {})
        if dist is not None:
            logs = dist.average_logs(logs)
        cbs.on_test_end(logs)
        return logs

    # -- evaluate / predict ------------------------------------------------------------------
    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None, steps=None,
                 callbacks=None, return_dict=False):
        """Loss and metrics on the data: a scalar, a list in `metrics_names` order, or a dict."""
        self._require_compiled("evaluate")
        data = DataHandler(x, y, sample_weight, batch_size, _capped_steps(steps))
        self._check_arrays(data)
        verbose = _resolve_verbose(verbose)
        cbs = CallbackList(callbacks, add_progbar=verbose != 0, model=self, verbose=verbose, epochs=1,
                           steps=data.steps)
        return self._as_result(self._test_loop(data, cbs), return_dict)

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        """Model outputs for every sample, as NumPy arrays concatenated over batches."""
        data = DataHandler(x, None, None, batch_size, _capped_steps(steps))
        self._check_arrays(data)
        verbose = _resolve_verbose(verbose)
        cbs = CallbackList(callbacks, add_progbar=verbose != 0, model=self, verbose=verbose, epochs=1,
                           steps=data.steps)
        cbs.on_predict_begin({})
        outputs = []
        for step, (xb, _, _) in enumerate(data.epoch()):
            cbs.on_predict_batch_begin(step, {})
            out = _as_numpy(self.predict_step((xb,)))
            outputs.append(out)
            cbs.on_predict_batch_end(step, {"outputs": out})
        cbs.on_predict_end({})
        if not outputs:
            raise ValueError("predict() got no data: the input is empty")
        leaves = [flatten(o) for o in outputs]
        joined = [np.concatenate([batch[i] for batch in leaves], axis=0) for i in range(len(leaves[0]))]
        return pack_like(outputs[0], joined)

    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None, return_dict=False):
        """One training step on exactly this batch; returns the step's loss and metrics."""
        self._require_compiled("train_on_batch")
        data = DataHandler(x, y, sample_weight, batch_size=batch_size_of(_leaf_array(x)), class_weight=class_weight)
        self._check_arrays(data)
        self.reset_metrics()
        logs = {}
        for batch in data.epoch():
            logs = self.train_step(as_step_data(*batch))
        return self._as_result(pythonify_logs(logs or {}), return_dict)

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        """Loss and metrics on exactly this batch."""
        self._require_compiled("test_on_batch")
        data = DataHandler(x, y, sample_weight, batch_size=batch_size_of(_leaf_array(x)))
        self.reset_metrics()
        logs = {}
        for batch in data.epoch():
            logs = self.test_step(as_step_data(*batch))
        return self._as_result(pythonify_logs(logs or {}), return_dict)

    def predict_on_batch(self, x):
        """Outputs for exactly this batch, as NumPy."""
        data = DataHandler(x, None, None, batch_size=batch_size_of(_leaf_array(x)))
        (xb, _, _), = list(data.epoch())
        return _as_numpy(self.predict_step((xb,)))

    def _as_result(self, logs, return_dict):
        """Logs as evaluate returns them: the dict, or values in `metrics_names` order (a scalar if one)."""
        if return_dict:
            return logs
        values = [logs[name] for name in self.metrics_names if name in logs]
        return values[0] if len(values) == 1 else values

    def _numerics_checked(self, data):
        """One epoch's batches; with check_numerics, batches from generators are checked as they come."""
        if self.check_numerics and data.kind != "arrays":
            return finite_batches(data.epoch(), self.name)
        return data.epoch()

    def _check_arrays(self, data):
        """With check_numerics: refuse NaN/inf in array inputs, naming which array."""
        if not self.check_numerics or data.kind != "arrays":
            return
        for what, struct in (("x", data.x), ("y", data.y), ("sample_weight", data.sample_weight)):
            for i, a in enumerate(flatten(struct) if struct is not None else []):
                if a.dtype.kind == "f" and not np.isfinite(a).all():
                    bad = int((~np.isfinite(a)).sum())
                    raise ValueError(f"model '{self.name}': {what}[{i}] (shape {a.shape}) holds {bad} NaN or "
                                     "infinite value(s); clean the data or compile with check_numerics=False")


def as_step_data(x, y=None, sample_weight=None):
    """A batch as the step methods receive it, as Keras: `(x,)`, `(x, y)` or `(x, y, sample_weight)`."""
    if sample_weight is not None:
        return x, y, sample_weight
    return (x,) if y is None else (x, y)


def _as_numpy(outputs):
    """predict_step's outputs (Tensors or arrays, any nesting) as NumPy arrays in the same nesting."""
    return pack_like(outputs, [t.numpy() if isinstance(t, Tensor) else np.asarray(
        t.get() if hasattr(t, "get") and not isinstance(t, np.ndarray) else t) for t in flatten(outputs)])


def _leaf_array(x):
    return np.asarray(flatten(x)[0]) if not hasattr(flatten(x)[0], "shape") else flatten(x)[0]


def _resolve_verbose(verbose):
    """'auto' is 1 (live bar) on a terminal and 2 (a line per epoch) otherwise."""
    if verbose == "auto":
        return 1 if sys.stdout.isatty() else 2
    return int(verbose)


class _CompiledTargets:
    """The compiled losses and metrics, matched to the model's outputs on the first batch."""

    def __init__(self, loss, metrics, loss_weights, weighted_metrics):
        self.loss_arg, self.metrics_arg = loss, metrics
        self.loss_weights_arg, self.weighted_metrics_arg = loss_weights, weighted_metrics
        self.built = False
        self.metrics, self.output_trackers = [], []
        self.loss_tracker = metrics_mod.Mean(name="loss")
        self.compile_metrics = _CompileMetrics(self)

    def build(self, model, y, y_pred):
        """Resolve names and objects now that the outputs (and their names) are known."""
        outputs = flatten(y_pred)
        names = model.output_names if len(model.output_names) == len(outputs) else [
            f"output_{i + 1}" for i in range(len(outputs))]
        self.names = names
        self.multi = len(outputs) > 1
        self.losses = _per_output(self.loss_arg, names, "loss")
        self.losses = [losses.get(l) if l is not None else None for l in self.losses]
        if all(l is None for l in self.losses):
            raise ValueError(f"model '{model.name}' was compiled without a loss: pass loss=... to compile()")
        weights = _per_output(self.loss_weights_arg, names, "loss_weights")
        self.loss_weights = [1.0 if w is None else float(w) for w in weights]
        trues = _match(y, names, "y")
        self.metrics = []
        for spec_arg, weighted in ((self.metrics_arg, False), (self.weighted_metrics_arg, True)):
            per = _per_output(spec_arg, names, "metrics", nested=True)
            for i, specs in enumerate(per):
                for spec in specs or []:
                    m = metrics_mod.get(spec, loss=self.losses[i], output_shape=tuple(outputs[i].shape),
                                        y_true=trues[i], y_pred=outputs[i])
                    if isinstance(spec, str):
                        m.name = spec
                    label = ("weighted_" if weighted else "") + m.name
                    label = f"{names[i]}_{label}" if self.multi else label
                    self.metrics.append((label, i, m, weighted))
        self.output_trackers = [metrics_mod.Mean(name=f"{n}_loss") for n in names] if self.multi else []
        self.built = True

    def loss(self, model, y, y_pred, sample_weight, batch_size):
        """Total loss Tensor (weighted output losses + regularisation); also updates the loss trackers."""
        if not self.built:
            self.build(model, y, y_pred)
        preds = flatten(y_pred)
        trues = _match(y, self.names, "y")
        sws = _match(sample_weight, self.names, "sample_weight", broadcast=True)
        total = None
        for i, (fn, pred) in enumerate(zip(self.losses, preds)):
            if fn is None:
                continue
            if trues[i] is None:
                raise ValueError(f"no target (y) given for output '{self.names[i]}'")
            value = fn(trues[i], pred, sample_weight=sws[i])
            if self.multi:
                self.output_trackers[i].update_state(value, sample_weight=batch_size)
            value = value * self.loss_weights[i] if self.loss_weights[i] != 1.0 else value
            total = value if total is None else total + value
        for penalty in model.losses:
            total = total + penalty
        self.loss_tracker.update_state(total, sample_weight=batch_size)
        return total

    def update_metrics(self, y, y_pred, sample_weight):
        """Update the compiled metrics (NumPy on the host: predictions are copied only when there are some)."""
        if not self.built or not self.metrics:
            return
        preds = [t.numpy() if isinstance(t, Tensor) else np.asarray(t) for t in flatten(y_pred)]
        masks = [getattr(t, "_keras_mask", None) for t in flatten(y_pred)]
        trues = _match(y, self.names, "y")
        sws = _match(sample_weight, self.names, "sample_weight", broadcast=True)
        for label, i, metric, weighted in self.metrics:
            # masks apply to every metric; sample weights only to weighted_metrics, as Keras 3
            metric.update_state(trues[i], preds[i], sample_weight=_mask_weight(masks[i], sws[i] if weighted else None))

    def named_metrics(self):
        if not self.built:
            return []
        named = [(t.name, t) for t in self.output_trackers]
        return named + [(label, m) for label, _, m, _ in self.metrics]

    def metric_list(self):
        """What `model.metrics` is: the loss tracker, then the compiled metrics as one object (as Keras 3)."""
        return [self.loss_tracker, self.compile_metrics]

    def reset(self):
        for m in self.metric_list():
            m.reset_state()

    def results(self):
        """Every result as a Python float (the one read of the accumulated arrays)."""
        return pythonify_logs({"loss": self.loss_tracker.result(), **self.compile_metrics.result()})


class _CompileMetrics:
    """The compiled metrics seen as one metric named 'compile_metrics', whose result is a dict (Keras 3)."""

    name = "compile_metrics"

    def __init__(self, targets):
        self.targets = targets

    def update_state(self, y_true, y_pred, sample_weight=None):
        self.targets.update_metrics(y_true, y_pred, sample_weight)

    def result(self):
        return {label: m.result() for label, m in self.targets.named_metrics()}

    def reset_state(self):
        for _, m in self.targets.named_metrics():
            m.reset_state()


def pythonify_logs(logs):
    """Log values as Python floats (reading device arrays once, at a log step)."""
    return {k: float(v) for k, v in logs.items()}


def _per_output(arg, names, what, nested=False):
    """A compile argument spread over outputs: one value for all, a list by position, a dict by name."""
    n = len(names)
    if isinstance(arg, dict):
        unknown = set(arg) - set(names)
        if unknown:
            raise ValueError(f"compile({what}=...) names unknown outputs {sorted(unknown)}; outputs are {names}")
        return [arg.get(name) if not nested or isinstance(arg.get(name), (list, tuple)) or arg.get(name) is None
                else [arg.get(name)] for name in names]
    if isinstance(arg, (list, tuple)):
        if nested:
            if arg and all(isinstance(a, (list, tuple)) or a is None for a in arg):
                if len(arg) != n:
                    raise ValueError(f"compile({what}=...) has {len(arg)} lists for {n} outputs")
                return list(arg)
            return [list(arg)] * n
        if len(arg) != n:
            raise ValueError(f"compile({what}=...) has {len(arg)} entries for {n} outputs {names}")
        return list(arg)
    return [arg] * n


def _match(struct, names, what, broadcast=False):
    """Targets (or weights) as a list aligned with the outputs; one array serves a single output."""
    n = len(names)
    if struct is None:
        return [None] * n
    if isinstance(struct, dict):
        return [struct.get(name) for name in names]
    if isinstance(struct, (list, tuple)) and len(struct) == n and n > 1:
        return list(struct)
    if n == 1 or broadcast:
        return [struct] * n
    raise ValueError(f"{what} must give one array per output {names} (a list or a dict), got {type(struct).__name__}")


def _mask_weight(mask, sample_weight):
    """The predictions' padding mask (Embedding(mask_zero), Masking) folded into the sample weights, so
    masked steps do not count in metrics, as Keras."""
    if mask is None:
        return sample_weight
    m = np.asarray(mask.get() if hasattr(mask, "get") else mask, dtype=np.float64)
    if sample_weight is None:
        return m
    w = np.asarray(sample_weight, dtype=np.float64)
    w = w.reshape(w.shape + (1,) * max(m.ndim - w.ndim, 0))
    return m * w
