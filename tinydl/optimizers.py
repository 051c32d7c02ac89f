"""Optimizers with Keras 3's update formulas, defaults, names and config keys.

    opt = optimizers.get("adam")                      # or Adam(learning_rate=1e-3)
    opt.apply(grads, variables)                       # or opt.apply_gradients(zip(grads, variables))

`grads` are raw arrays or Tensors, one per variable (None skips a variable); `variables` are objects
with a `.data` array (a Tensor or a layer weight) updated IN PLACE. Each step, as Keras's
BaseOptimizer: gradients are unscaled (`loss_scale_factor`), clipped (`clipnorm`, else
`global_clipnorm`, else `clipvalue`), decoupled weight decay is applied (`w -= w * weight_decay * lr`),
then the optimizer's own update, the variables' constraints, the EMA of the weights (`use_ema`), and
finally the step counter goes up. The learning rate is `learning_rate`: a float, a schedule called
with the step count, or a no-argument callable; reading `optimizer.learning_rate` gives its current
value. With `gradient_accumulation_steps=n`, gradients are summed and the update runs on every n-th
call with their mean; `iterations` then counts updates (calls // n) while schedules see the count of
calls, as in Keras.

Per-variable state ("slots": momentum, velocity, ...) is created on the first `apply`, keyed by the
variable object, in the order the variables first appear. Saved state, for exact resume:

    state = opt.get_state()
    # {"iterations": int,                 number of apply() calls so far (Keras's `iteration` variable)
    #  "learning_rate": float or None,    the float rate (None when it is a schedule or callable)
    #  "slots": {slot_name: [array, ...]} one NumPy array per variable, in variable order; None where a
    #                                     variable lacks that slot (Muon's velocity of its Muon-path matrices)
    #  "extra": {name: float}             optimizer-wide scalars, only where there are some (Nadam)
    #  }                                  slot names: see `slot_names` (e.g. ["momentum", "velocity"])
    opt2.set_state(state)                 # before or after its first apply; shapes are checked

`variables()` gives the same state as Keras's `optimizer.variables` list (iteration, learning_rate,
then the slots in Keras 3.15's creation order, checked against Keras) and `variable_names()` their
Keras-style paths: what the legacy HDF5 `optimizer_weights` group stores. `set_weights(list)` loads
that list back.
"""
import math
import re
from collections.abc import MutableMapping

import numpy as np

from tinydl import backend, constraints, schedules
from tinydl.backend import array_module
from tinydl.io.config import register_serializable, serialize
from tinydl.tensor import Tensor
from tinydl.io import config as cfg

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "Adamax", "Nadam", "Lion",
           "Adafactor", "Ftrl", "Lamb", "Muon", "ScheduleFreeAdamW", "LossScaleOptimizer", "MultiOptimizer",
           "OptimizerMap", "get", "serialize", "deserialize"]


class Optimizer:
    """Base class: subclasses name their slots in `_slots(self)` and implement `_update(g, w, lr, slots)`."""

    # Keras creates the slots of one variable together (interleaved) for most optimizers; RMSprop
    # creates each kind for every variable in turn. This only affects `variables()` ordering.
    _interleaved = True

    def __init__(self, learning_rate, weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 use_ema=False, ema_momentum=0.99, ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, name=None, **kwargs):
        kwargs.pop("decay", None)
        if kwargs:
            raise ValueError(f"{type(self).__name__}: argument(s) not recognized: {sorted(kwargs)}")
        if sum(a is not None for a in (clipnorm, clipvalue, global_clipnorm)) > 1:
            raise ValueError("only one of clipnorm, clipvalue and global_clipnorm can be set; got "
                             f"clipnorm={clipnorm}, clipvalue={clipvalue}, global_clipnorm={global_clipnorm}")
        if gradient_accumulation_steps and not gradient_accumulation_steps >= 2:
            raise ValueError(f"gradient_accumulation_steps must be an integer >= 2, got {gradient_accumulation_steps}")
        if use_ema and not 0 <= ema_momentum <= 1:
            raise ValueError(f"ema_momentum must be in [0, 1], got {ema_momentum}")
        self.name = name or _snake(type(self).__name__)
        self.weight_decay = weight_decay
        self.clipnorm, self.clipvalue, self.global_clipnorm = clipnorm, clipvalue, global_clipnorm
        self.use_ema, self.ema_momentum, self.ema_overwrite_frequency = use_ema, ema_momentum, ema_overwrite_frequency
        self.loss_scale_factor = loss_scale_factor
        self.gradient_accumulation_steps = gradient_accumulation_steps
        self._learning_rate = _check_learning_rate(learning_rate)
        self._iterations = 0
        self._variables = []          # the variables, in first-seen order
        self._index = {}              # id(variable) -> position in _variables
        self._state = {}              # slot name -> list of arrays, one per variable
        self._pending_state = None    # state set before the first apply
        self._exclude_ids, self._exclude_pattern = set(), None

    # -- counters and learning rate --------------------------------------------------------------
    @property
    def iterations(self):
        """Updates applied so far; with gradient accumulation, calls to apply() // accumulation steps."""
        steps = self.gradient_accumulation_steps
        return self._iterations // steps if steps else self._iterations

    @iterations.setter
    def iterations(self, value):
        """Set the raw counter of apply() calls (Keras's `iteration` variable)."""
        self._iterations = int(value)

    @property
    def learning_rate(self):
        """The current learning rate as a float (a schedule is evaluated at the count of apply() calls)."""
        lr = self._learning_rate
        if isinstance(lr, schedules.LearningRateSchedule):
            return float(lr(self._iterations))
        if callable(lr):
            return float(lr())
        return lr

    @learning_rate.setter
    def learning_rate(self, value):
        if not (isinstance(value, schedules.LearningRateSchedule) or callable(value)) and \
                isinstance(self._learning_rate, schedules.LearningRateSchedule):
            raise TypeError("this optimizer was created with a LearningRateSchedule, so its learning rate is not "
                            "settable to a float; create the optimizer with a float learning_rate instead")
        self._learning_rate = _check_learning_rate(value)

    @property
    def learning_rate_schedule(self):
        """The schedule (or callable) given as learning_rate, or None for a float rate."""
        return None if isinstance(self._learning_rate, float) else self._learning_rate

    # -- applying gradients ----------------------------------------------------------------------
    def minimize(self, loss, var_list):
        """One step on `var_list` (Tensors requiring grad) down the gradient of `loss`: a scalar Tensor or a
        no-argument callable returning one; returns the loss value (as Keras's `optimizer.minimize`)."""
        for v in var_list:
            v.grad = None
        value = loss() if callable(loss) else loss
        value.backward()
        grads = [v.grad.data if v.grad is not None else None for v in var_list]
        for v in var_list:
            v.grad = None
        self.apply(grads, var_list)
        return value

    def apply_gradients(self, grads_and_vars):
        """Apply `(gradient, variable)` pairs; returns `iterations`."""
        pairs = list(grads_and_vars)
        if pairs:
            grads, variables = zip(*pairs)
            self.apply(list(grads), list(variables))
        return self.iterations

    def apply(self, grads, variables=None):
        """One update of `variables` (in place) from `grads`; without variables, the ones built with."""
        grads = list(grads)
        if variables is None:
            if not self._variables:
                raise ValueError("apply(grads) without variables needs an optimizer already built on variables: "
                                 "pass the variables on the first call")
            variables = self._variables
        variables = list(variables)
        if len(grads) != len(variables):
            raise ValueError(f"got {len(grads)} gradients for {len(variables)} variables: expected one per variable")
        pairs = [(_raw(g), v) for g, v in zip(grads, variables) if g is not None]
        if not pairs:
            raise ValueError("no gradients provided for any variable")
        self.build(variables)
        grads = [g if g.dtype == v.data.dtype else g.astype(v.data.dtype) for g, v in pairs]
        variables = [v for _, v in pairs]
        for g, v in zip(grads, variables):
            if g.shape != v.data.shape:
                raise ValueError(f"gradient of shape {g.shape} does not match variable "
                                 f"{_var_name(v, self._index[id(v)])!r} of shape {v.data.shape}")
        if self.loss_scale_factor is not None:
            grads = [g / self.loss_scale_factor for g in grads]
        steps = self.gradient_accumulation_steps
        if steps:
            grads = self._accumulate(grads, variables, steps)
        if grads is not None:
            self._step(grads, variables)
            if steps:
                for acc in self._state["gradient_accumulator"]:
                    acc[...] = 0
        for v in variables:
            self._constrain(v)
        if self.use_ema:
            self._update_ema()
        self._iterations += 1

    def _accumulate(self, grads, variables, steps):
        """Add grads to the accumulators; on every `steps`-th call return their mean, else None."""
        accumulators = [self._state["gradient_accumulator"][self._index[id(v)]] for v in variables]
        if (self._iterations + 1) % steps:
            for acc, g in zip(accumulators, grads):
                acc += g
            return None
        return [(g + acc) / steps for g, acc in zip(grads, accumulators)]

    def _step(self, grads, variables):
        """Clip, decay the weights, and apply this optimizer's update to each variable."""
        grads = self._clip(grads)
        lr = self.learning_rate
        for v in variables:
            decay = self._weight_decay_of(v)
            if decay and self._decays(v):
                v.data -= v.data * decay * lr
        self._before_updates()
        for g, v in zip(grads, variables):
            i = self._index[id(v)]
            self._update(g, v.data, lr, {name: arrays[i] for name, arrays in self._state.items()})

    def _constrain(self, v):
        """Project a variable with its constraint, if it has one."""
        constraint = getattr(v, "constraint", None)
        if constraint is None:
            return
        if isinstance(constraint, (str, dict)):
            constraint = constraints.get(constraint)
        out = constraint(v)
        v.data[...] = out.data if isinstance(out, Tensor) else out

    def build(self, variables):
        """Create the slots of any variable not seen before (called by `apply`)."""
        new = [v for v in variables if id(v) not in self._index]
        if not new:
            return
        for v in new:
            if not hasattr(v, "data"):
                raise TypeError(f"optimizer variables need a `.data` array updated in place, got {type(v).__name__}")
            self._index[id(v)] = len(self._variables)
            self._variables.append(v)
            for name, fill in self._all_slots():
                self._state.setdefault(name, []).append(_initial_slot(v, fill))
        if self._pending_state is not None:
            state, self._pending_state = self._pending_state, None
            self.set_state(state)

    def _update(self, g, w, lr, slots):
        raise NotImplementedError(f"{type(self).__name__} must implement _update")

    def _before_updates(self):
        """Optimizer-wide state updated once per step, before the per-variable updates (Nadam)."""

    def _extra_state(self):
        """Optimizer-wide scalars saved with the state ({} for most optimizers)."""
        return {}

    def _set_extra_state(self, extra):
        pass

    def _derive_extra_state(self):
        """Rebuild optimizer-wide scalars from `iterations` when a saved state lacks them."""

    def _slots(self):
        """(slot name, initial fill) pairs of this optimizer: a fill is a number, "copy" (of the variable), or a
        function of the variable returning the initial slot array, or None where that variable has no
        such slot (Muon's Adam velocity)."""
        return []

    def _all_slots(self):
        base = [("average", "copy")] if self.use_ema else []
        if self.gradient_accumulation_steps:
            base.append(("gradient_accumulator", 0.0))
        return base + self._slots()

    @property
    def slot_names(self):
        """Names of the per-variable state arrays, as in `get_state()["slots"]`."""
        return [name for name, _ in self._all_slots()]

    # -- clipping, weight decay, EMA -------------------------------------------------------------
    def _clip(self, grads):
        # norms and scales stay on the grads' device: no host sync per step
        if self.clipnorm and self.clipnorm > 0:
            return [g * (self.clipnorm / array_module(g).maximum(array_module(g).sqrt((g * g).sum()), self.clipnorm))
                    .astype(g.dtype) for g in grads]
        if self.global_clipnorm and self.global_clipnorm > 0:
            xp = array_module(grads[0]) if grads else np
            norm = xp.sqrt(sum((g * g).sum(dtype=xp.float64) for g in grads))
            return [g * _clip_scale(norm, self.global_clipnorm).astype(g.dtype) for g in grads]
        if self.clipvalue and self.clipvalue > 0:
            return [array_module(g).clip(g, -self.clipvalue, self.clipvalue) for g in grads]
        return grads

    def _weight_decay_of(self, v):
        """The decoupled weight decay rate of a variable (one rate for all, except in Muon)."""
        return self.weight_decay

    def scale_loss(self, loss):
        """The loss times `loss_scale_factor` (when set), for a train step to differentiate: `apply` divides
        the gradients by the same factor."""
        return loss if self.loss_scale_factor is None else loss * self.loss_scale_factor

    def exclude_from_weight_decay(self, var_list=None, var_names=None):
        """Variables (or variables whose name matches any of `var_names`) that weight decay skips."""
        self._exclude_ids = {id(v) for v in (var_list or [])}
        self._exclude_pattern = re.compile("|".join(set(var_names))) if var_names else None

    def _decays(self, v):
        if id(v) in self._exclude_ids:
            return False
        if self._exclude_pattern is not None:
            name = getattr(v, "path", None) or getattr(v, "name", None) or ""
            if self._exclude_pattern.search(str(name)):
                return False
        return True

    def _update_ema(self):
        momentum = self.ema_momentum if self.iterations != 0 else 0.0
        for v, avg in zip(self._variables, self._state["average"]):
            avg *= momentum
            avg += (1 - momentum) * v.data
        freq = self.ema_overwrite_frequency
        if freq and (self.iterations + 1) % freq == 0:
            self.finalize_variable_values(self._variables)

    def finalize_variable_values(self, var_list=None):
        """With use_ema, overwrite the variables with their moving averages (Keras does this after fit)."""
        if not self.use_ema:
            return
        for v in (var_list or self._variables):
            i = self._index.get(id(v))
            if i is not None:
                v.data[...] = self._state["average"][i]

    # -- state -----------------------------------------------------------------------------------
    def __getstate__(self):
        """Pickled state: slots stay keyed by position in `_variables`; ids (which unpickling changes) are dropped."""
        state = dict(self.__dict__)
        state["_index"] = None
        state["_exclude_ids"] = [v for v in self._variables if id(v) in self._exclude_ids]
        return state

    def __setstate__(self, state):
        """Re-key the slots by the unpickled variables' ids, so a continued fit updates the right slots."""
        self.__dict__.update(state)
        self._index = {id(v): i for i, v in enumerate(self._variables)}
        self._exclude_ids = {id(v) for v in state["_exclude_ids"]}

    def to(self, device):
        """Move the per-variable state (slots) to `device`; `model.to(device)` calls this."""
        for name, arrays in self._state.items():
            self._state[name] = [None if a is None else backend.to_device(a, device) for a in arrays]
        return self

    def get_state(self):
        """A plain dict of the optimizer's state (format in the module docstring); arrays are NumPy copies."""
        lr = self._learning_rate if isinstance(self._learning_rate, float) else None
        state = {"iterations": int(self._iterations), "learning_rate": lr,
                 "slots": {name: [None if a is None else _to_numpy(a) for a in arrays]
                           for name, arrays in self._state.items()}}
        if self._extra_state():
            state["extra"] = dict(self._extra_state())
        return state

    def set_state(self, state):
        """Restore a dict from `get_state()`; before the first apply it is kept until the variables are known."""
        self._iterations = int(state["iterations"])
        if state.get("extra"):
            self._set_extra_state(state["extra"])
        else:
            self._derive_extra_state()
        if state.get("learning_rate") is not None and isinstance(self._learning_rate, float):
            self._learning_rate = float(state["learning_rate"])
        slots = state.get("slots") or {}
        if not self._variables:
            self._pending_state = {"iterations": self._iterations, "learning_rate": None, "slots": slots} \
                if any(len(v) for v in slots.values()) else None
            return
        expected = self.slot_names
        if sorted(slots) != sorted(expected):
            raise ValueError(f"{type(self).__name__} state has slots {sorted(slots)}, expected {sorted(expected)}")
        for name in expected:
            arrays, current = slots[name], self._state[name]
            if len(arrays) != len(current):
                raise ValueError(f"optimizer state has {len(arrays)} '{name}' arrays for {len(current)} variables")
            for i, (src, dst) in enumerate(zip(arrays, current)):
                if dst is None or src is None:
                    if dst is not src:
                        raise ValueError(f"optimizer state '{name}' for variable "
                                         f"{_var_name(self._variables[i], i)!r} should be "
                                         f"{'absent' if dst is None else 'an array'}, got {type(src).__name__}")
                    continue
                src = np.asarray(src.get() if hasattr(src, "get") else src)
                if src.shape != dst.shape:
                    raise ValueError(f"optimizer state '{name}' for variable "
                                     f"{_var_name(self._variables[i], i)!r} has shape {src.shape}, "
                                     f"expected {dst.shape}")
                dst[...] = backend.to_device(src.astype(dst.dtype, copy=False), backend.device_of(dst))

    def variables(self):
        """The state as Keras's `optimizer.variables`: iteration, learning_rate (float rates only), slots."""
        out = [np.array(self._iterations, dtype=np.int64)]
        if isinstance(self._learning_rate, float):
            out.append(np.array(self._learning_rate, dtype=np.float32))
        out += [_to_numpy(self._state[name][i]) for name, i in self._slot_order()]
        return out + [np.array(v, dtype=np.float32) for v in self._extra_state().values()]

    def variable_names(self):
        """Keras 3 paths of `variables()`: '<name>/iteration', '<name>/learning_rate', '<name>/<var>_<slot>'."""
        names = ["iteration"] + (["learning_rate"] if isinstance(self._learning_rate, float) else [])
        names += [f"{_var_name(self._variables[i], i).replace('/', '_')}_{name}" for name, i in self._slot_order()]
        return [f"{self.name}/{n}" for n in names + list(self._extra_state())]

    def set_weights(self, weights):
        """Load a list shaped like `variables()` (the optimizer must have been built on its variables)."""
        weights = list(weights)
        if not self._variables:
            raise ValueError("set_weights() on an optimizer that has not been built: apply it once, or call "
                             "build(variables) first")
        order = self._slot_order()
        extra = list(self._extra_state())
        if extra:
            self._set_extra_state({k: float(np.asarray(v)) for k, v in zip(extra, weights[len(weights) - len(extra):])})
            weights = weights[:len(weights) - len(extra)]
        head = len(weights) - len(order)
        if head not in (1, 2):
            raise ValueError(f"expected {len(order) + 1 + isinstance(self._learning_rate, float)} optimizer "
                             f"weights, got {len(weights)}")
        self._iterations = int(np.asarray(weights[0]))
        if head == 2 and isinstance(self._learning_rate, float):
            self._learning_rate = float(np.asarray(weights[1]))
        for (name, i), src in zip(order, weights[head:]):
            dst = self._state[name][i]
            src = np.asarray(src)
            if src.shape != dst.shape:
                raise ValueError(f"optimizer weight '{name}' for variable {i} has shape {src.shape}, "
                                 f"expected {dst.shape}")
            dst[...] = backend.to_device(src.astype(dst.dtype, copy=False), backend.device_of(dst))

    def keras_variables(self, var_order=None):
        """(values, names) of `variables()` with the slots as Keras lists them for a model: variables visited
        in `var_order` (the model's trainable weights in Keras's layer order), the others after them."""
        values, names = self.variables(), self.variable_names()
        order, extra = self._slot_order(), len(self._extra_state())
        head = len(values) - len(order) - extra
        position = {key: head + k for k, key in enumerate(order)}
        keep = list(range(head)) + [position[key] for key in self._slot_order(self._permutation(var_order))]
        keep += list(range(len(values) - extra, len(values)))
        return [values[k] for k in keep], [names[k] for k in keep]

    def set_keras_variables(self, values, var_order=None):
        """Load a list from `keras_variables(var_order)` (the optimizer must be built on the variables)."""
        values, order, extra = list(values), self._slot_order(), len(self._extra_state())
        head = len(values) - len(order) - extra
        if head not in (1, 2):
            raise ValueError(f"expected {len(order) + 2 + extra} optimizer values (iteration, learning_rate, slots"
                             f"{', extra' if extra else ''}), got {len(values)}")
        by_key = dict(zip(self._slot_order(self._permutation(var_order)), values[head:head + len(order)]))
        self.set_weights(values[:head] + [by_key[key] for key in order] + values[len(values) - extra:])

    def _permutation(self, var_order):
        """Indices of this optimizer's variables, those in `var_order` first in that order."""
        if var_order is None:
            return None
        first = []
        for v in var_order:
            i = self._index.get(id(v))
            if i is not None and i not in first:
                first.append(i)
        return first + [i for i in range(len(self._variables)) if i not in set(first)]

    def _slot_groups(self):
        """Slot names grouped as Keras creates them: each group interleaved per variable, groups in turn."""
        names = [name for name, _ in self._slots()]
        return [names] if self._interleaved else [[name] for name in names]

    def _slot_order(self, permutation=None):
        """(slot name, variable index) pairs in Keras's creation order, visiting the variables in
        `permutation`'s order when given (Keras's own variable order); absent slots are skipped."""
        indices = list(range(len(self._variables))) if permutation is None else list(permutation)
        order = [("average", i) for i in indices] if self.use_ema else []
        if self.gradient_accumulation_steps:
            order += [("gradient_accumulator", i) for i in indices]
        for group in self._slot_groups():
            order += [(name, i) for i in indices for name in group]
        return [(name, i) for name, i in order if self._state[name][i] is not None]

    # -- config ----------------------------------------------------------------------------------
    def get_config(self):
        lr = self._learning_rate
        if isinstance(lr, schedules.LearningRateSchedule):
            lr = schedules.serialize(lr)
        elif not isinstance(lr, float):
            lr = cfg.serialize(lr)
        return {"name": self.name, "learning_rate": lr, "weight_decay": self.weight_decay,
                "clipnorm": self.clipnorm, "global_clipnorm": self.global_clipnorm, "clipvalue": self.clipvalue,
                "use_ema": self.use_ema, "ema_momentum": self.ema_momentum,
                "ema_overwrite_frequency": self.ema_overwrite_frequency,
                "loss_scale_factor": self.loss_scale_factor,
                "gradient_accumulation_steps": self.gradient_accumulation_steps}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        if isinstance(config.get("learning_rate"), dict):
            config["learning_rate"] = schedules.deserialize(config["learning_rate"], custom_objects)
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name!r} learning_rate={self.learning_rate!r}>"


@register_serializable()
class SGD(Optimizer):
    """v = momentum * v - lr * g; w += v (or w += momentum * v - lr * g with nesterov); plain w -= lr * g."""

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, weight_decay=None, clipnorm=None,
                 clipvalue=None, global_clipnorm=None, use_ema=False, ema_momentum=0.99, ema_overwrite_frequency=None,
                 loss_scale_factor=None, gradient_accumulation_steps=None, name="SGD", **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, use_ema, ema_momentum,
                         ema_overwrite_frequency, loss_scale_factor, gradient_accumulation_steps, name, **kwargs)
        if not isinstance(momentum, (int, float)) or not 0 <= momentum <= 1:
            raise ValueError(f"SGD: momentum must be a float in [0, 1], got {momentum!r}")
        self.momentum, self.nesterov = float(momentum), nesterov

    def _slots(self):
        return [("momentum", 0.0)] if self.momentum != 0 else []

    def _update(self, g, w, lr, slots):
        if self.momentum == 0:
            w -= g * lr
            return
        m = slots["momentum"]
        m *= self.momentum
        m -= g * lr
        if self.nesterov:
            w += m * self.momentum - g * lr
        else:
            w += m

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


@register_serializable()
class Adam(Optimizer):
    """m += (g - m)(1 - b1); v += (g^2 - v)(1 - b2); w -= lr sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)."""

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False, weight_decay=None,
                 clipnorm=None, clipvalue=None, global_clipnorm=None, use_ema=False, ema_momentum=0.99,
                 ema_overwrite_frequency=None, loss_scale_factor=None, gradient_accumulation_steps=None, name="adam",
                 **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, use_ema, ema_momentum,
                         ema_overwrite_frequency, loss_scale_factor, gradient_accumulation_steps, name, **kwargs)
        self.beta_1, self.beta_2, self.epsilon, self.amsgrad = beta_1, beta_2, epsilon, amsgrad

    def _slots(self):
        return [("momentum", 0.0), ("velocity", 0.0)] + ([("velocity_hat", 0.0)] if self.amsgrad else [])

    def _slot_groups(self):
        return [["momentum", "velocity"]] + ([["velocity_hat"]] if self.amsgrad else [])

    def _update(self, g, w, lr, slots):
        t = self.iterations + 1
        alpha = lr * math.sqrt(1 - self.beta_2 ** t) / (1 - self.beta_1 ** t)
        m, v = slots["momentum"], slots["velocity"]
        m += (g - m) * (1 - self.beta_1)
        v += (g * g - v) * (1 - self.beta_2)
        if self.amsgrad:
            v_hat = slots["velocity_hat"]
            array_module(v).maximum(v_hat, v, out=v_hat)
            v = v_hat
        w -= (m * alpha) / (array_module(v).sqrt(v) + self.epsilon)

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon,
                "amsgrad": self.amsgrad}


@register_serializable()
class AdamW(Adam):
    """Adam with decoupled weight decay (default 0.004): w -= w * weight_decay * lr before each Adam step."""

    def __init__(self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 amsgrad=False, clipnorm=None, clipvalue=None, global_clipnorm=None, use_ema=False, ema_momentum=0.99,
                 ema_overwrite_frequency=None, loss_scale_factor=None, gradient_accumulation_steps=None, name="adamw",
                 **kwargs):
        if weight_decay is None:
            raise ValueError("AdamW: weight_decay must be a float, got None")
        super().__init__(learning_rate, beta_1, beta_2, epsilon, amsgrad, weight_decay, clipnorm, clipvalue,
                         global_clipnorm, use_ema, ema_momentum, ema_overwrite_frequency, loss_scale_factor,
                         gradient_accumulation_steps, name, **kwargs)


@register_serializable()
class RMSprop(Optimizer):
    """v = rho v + (1 - rho) g^2; w -= lr g / sqrt(v + eps) (centered: v - mean_g^2 + eps; with momentum)."""

    _interleaved = False

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False, weight_decay=None,
                 clipnorm=None, clipvalue=None, global_clipnorm=None, use_ema=False, ema_momentum=0.99,
                 ema_overwrite_frequency=None, loss_scale_factor=None, gradient_accumulation_steps=None,
                 name="rmsprop", **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, use_ema, ema_momentum,
                         ema_overwrite_frequency, loss_scale_factor, gradient_accumulation_steps, name, **kwargs)
        self.rho, self.momentum, self.epsilon, self.centered = rho, momentum, epsilon, centered

    def _slots(self):
        return ([("velocity", 0.0)] + ([("momentum", 0.0)] if self.momentum > 0 else [])
                + ([("average_gradient", 0.0)] if self.centered else []))

    def _update(self, g, w, lr, slots):
        xp = array_module(w)
        rho = self.rho
        v = slots["velocity"]
        v *= rho
        v += (1 - rho) * (g * g)
        if self.centered:
            avg = slots["average_gradient"]
            avg *= rho
            avg += (1 - rho) * g
            denominator = v - avg * avg + self.epsilon
        else:
            denominator = v + self.epsilon
        increment = (lr * g) / xp.sqrt(denominator)
        if self.momentum > 0:
            mom = slots["momentum"]
            mom *= self.momentum
            mom += increment
            w -= mom
        else:
            w -= increment

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "momentum": self.momentum, "epsilon": self.epsilon,
                "centered": self.centered}


@register_serializable()
class Adagrad(Optimizer):
    """a += g^2 (a starts at initial_accumulator_value); w -= lr g / sqrt(a + eps)."""

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7, weight_decay=None,
                 clipnorm=None, clipvalue=None, global_clipnorm=None, use_ema=False, ema_momentum=0.99,
                 ema_overwrite_frequency=None, loss_scale_factor=None, gradient_accumulation_steps=None, name="adagrad",
                 **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, use_ema, ema_momentum,
                         ema_overwrite_frequency, loss_scale_factor, gradient_accumulation_steps, name, **kwargs)
        if initial_accumulator_value < 0:
            raise ValueError("Adagrad: initial_accumulator_value must be non-negative, got "
                             f"{initial_accumulator_value}")
        self.initial_accumulator_value, self.epsilon = initial_accumulator_value, epsilon

    def _slots(self):
        return [("accumulator", float(self.initial_accumulator_value))]

    def _update(self, g, w, lr, slots):
        acc = slots["accumulator"]
        acc += g * g
        w -= (lr * g) / array_module(w).sqrt(acc + self.epsilon)

    def get_config(self):
        return {**super().get_config(), "initial_accumulator_value": self.initial_accumulator_value,
                "epsilon": self.epsilon}


@register_serializable()
class Adadelta(Optimizer):
    """a = rho a + (1 - rho) g^2; d = -sqrt(b + eps) g / sqrt(a + eps); b = rho b + (1 - rho) d^2; w += lr d."""

    def __init__(self, learning_rate=0.001, rho=0.95, epsilon=1e-7, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, use_ema=False, ema_momentum=0.99, ema_overwrite_frequency=None,
                 loss_scale_factor=None, gradient_accumulation_steps=None, name="adadelta", **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, use_ema, ema_momentum,
                         ema_overwrite_frequency, loss_scale_factor, gradient_accumulation_steps, name, **kwargs)
        self.rho, self.epsilon = rho, epsilon

    def _slots(self):
        return [("accumulated_grad", 0.0), ("accumulated_delta_var", 0.0)]

    def _update(self, g, w, lr, slots):
        xp = array_module(w)
        rho, eps = self.rho, self.epsilon
        acc_g, acc_d = slots["accumulated_grad"], slots["accumulated_delta_var"]
        acc_g *= rho
        acc_g += (1 - rho) * (g * g)
        delta = -(xp.sqrt(acc_d + eps) * g) / xp.sqrt(acc_g + eps)
        acc_d *= rho
        acc_d += (1 - rho) * (delta * delta)
        w += lr * delta

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "epsilon": self.epsilon}


@register_serializable()
class Adamax(Optimizer):
    """m += (g - m)(1 - b1); u = max(b2 u, |g|); w -= lr m / ((1 - b1^t)(u + eps))."""

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, weight_decay=None, clipnorm=None,
                 clipvalue=None, global_clipnorm=None, use_ema=False, ema_momentum=0.99, ema_overwrite_frequency=None,
                 loss_scale_factor=None, gradient_accumulation_steps=None, name="adamax", **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, use_ema, ema_momentum,
                         ema_overwrite_frequency, loss_scale_factor, gradient_accumulation_steps, name, **kwargs)
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon

    def _slots(self):
        return [("momentum", 0.0), ("norm", 0.0)]

    def _update(self, g, w, lr, slots):
        xp = array_module(w)
        m, u = slots["momentum"], slots["norm"]
        m += (g - m) * (1 - self.beta_1)
        xp.maximum(u * self.beta_2, xp.abs(g), out=u)
        w -= (lr * m) / ((1 - self.beta_1 ** (self.iterations + 1)) * (u + self.epsilon))

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}


@register_serializable()
class Nadam(Optimizer):
    """Adam with Nesterov momentum and Keras's momentum schedule u_t = b1 (1 - 0.5 * 0.96^t)."""

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, weight_decay=None, clipnorm=None,
                 clipvalue=None, global_clipnorm=None, use_ema=False, ema_momentum=0.99, ema_overwrite_frequency=None,
                 loss_scale_factor=None, gradient_accumulation_steps=None, name="nadam", **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, use_ema, ema_momentum,
                         ema_overwrite_frequency, loss_scale_factor, gradient_accumulation_steps, name, **kwargs)
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon
        self._u_product = 1.0

    def _slots(self):
        return [("momentum", 0.0), ("velocity", 0.0)]

    def _before_updates(self):
        self._u_product *= self.beta_1 * (1.0 - 0.5 * 0.96 ** (self.iterations + 1))

    def _extra_state(self):
        return {"u_product": self._u_product}

    def _set_extra_state(self, extra):
        self._u_product = float(extra["u_product"])

    def _derive_extra_state(self):
        # u_product is the running product of the momentum schedule over the updates so far
        self._u_product = 1.0
        for t in range(1, self.iterations + 1):
            self._u_product *= self.beta_1 * (1.0 - 0.5 * 0.96 ** t)

    def _update(self, g, w, lr, slots):
        xp = array_module(w)
        b1, b2 = self.beta_1, self.beta_2
        u_t = b1 * (1.0 - 0.5 * 0.96 ** (self.iterations + 1))
        u_t_1 = b1 * (1.0 - 0.5 * 0.96 ** (self.iterations + 2))
        u_product_t = self._u_product
        u_product_t_1 = u_product_t * u_t_1
        m, v = slots["momentum"], slots["velocity"]
        m += (g - m) * (1 - b1)
        v += (g * g - v) * (1 - b2)
        m_hat = (u_t_1 * m) / (1 - u_product_t_1) + ((1 - u_t) * g) / (1 - u_product_t)
        v_hat = v / (1 - b2 ** (self.iterations + 1))
        w -= (m_hat * lr) / (xp.sqrt(v_hat) + self.epsilon)

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}


@register_serializable()
class Lion(Optimizer):
    """w -= lr sign(b1 m + (1 - b1) g); m = b2 m + (1 - b2) g (Keras defaults b1 0.9, b2 0.99)."""

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.99, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, use_ema=False, ema_momentum=0.99, ema_overwrite_frequency=None,
                 loss_scale_factor=None, gradient_accumulation_steps=None, name="lion", **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, use_ema, ema_momentum,
                         ema_overwrite_frequency, loss_scale_factor, gradient_accumulation_steps, name, **kwargs)
        if not 0 < beta_1 <= 1:
            raise ValueError(f"Lion: beta_1 must be in (0, 1], got {beta_1} (0 makes it SignSGD)")
        self.beta_1, self.beta_2 = beta_1, beta_2

    def _slots(self):
        return [("momentum", 0.0)]

    def _update(self, g, w, lr, slots):
        xp = array_module(w)
        m = slots["momentum"]
        w -= lr * xp.sign(m * self.beta_1 + g * (1.0 - self.beta_1))
        m *= self.beta_2
        m += g * (1.0 - self.beta_2)

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2}


@register_serializable()
class Adafactor(Optimizer):
    """Adam-like steps with factored second moments: a rank >= 2 variable keeps row and column means r, c of
    g^2 + epsilon_1 (decayed by 1 - t^beta_2_decay) instead of a full velocity; the step is scaled by
    max(epsilon_2, rms(w)) * min(lr, 1 / sqrt(t)) and clipped to rms <= clip_threshold (Keras 3's formulas).

    `relative_step` is Keras's flag: its min(lr, 1 / sqrt(t)) for float rates is applied either way by
    the relative step size, so in Keras 3.15, and here, it does not change the steps.
    """

    def __init__(self, learning_rate=0.001, beta_2_decay=-0.8, epsilon_1=1e-30, epsilon_2=0.001, clip_threshold=1.0,
                 relative_step=True, weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 use_ema=False, ema_momentum=0.99, ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, name="adafactor", **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, use_ema, ema_momentum,
                         ema_overwrite_frequency, loss_scale_factor, gradient_accumulation_steps, name, **kwargs)
        self.beta_2_decay, self.epsilon_1, self.epsilon_2 = beta_2_decay, epsilon_1, epsilon_2
        self.clip_threshold, self.relative_step = clip_threshold, relative_step

    def _slots(self):
        # a vector keeps a full velocity; its r and c are unused scalars, listed as Keras lists them
        def rows(v):
            w = v.data
            return array_module(w).zeros(w.shape[:-1] if w.ndim >= 2 else (), dtype=w.dtype)

        def columns(v):
            w = v.data
            return array_module(w).zeros(w.shape[:-2] + w.shape[-1:] if w.ndim >= 2 else (), dtype=w.dtype)
        return [("r", rows), ("c", columns), ("velocity", 0.0)]

    def _update(self, g, w, lr, slots):
        xp = array_module(w)
        t = self.iterations + 1
        rho = min(lr, 1.0 / math.sqrt(t))
        alpha = max(self.epsilon_2, _rms(w)) * rho
        squared = g * g + self.epsilon_1
        beta_2 = 1.0 - t ** self.beta_2_decay
        v = slots["velocity"]
        if w.ndim >= 2:
            r, c = slots["r"], slots["c"]
            r[...] = beta_2 * r + (1 - beta_2) * squared.mean(axis=-1)
            c[...] = beta_2 * c + (1 - beta_2) * squared.mean(axis=-2)
            v[...] = (r / r.mean(axis=-1, keepdims=True))[..., None] * c[..., None, :]
        else:
            v[...] = beta_2 * v + (1 - beta_2) * squared
        u = g / xp.sqrt(v)
        u = u / max(1.0, _rms(u) / self.clip_threshold)
        w -= alpha * u

    def get_config(self):
        return {**super().get_config(), "beta_2_decay": self.beta_2_decay, "epsilon_1": self.epsilon_1,
                "epsilon_2": self.epsilon_2, "clip_threshold": self.clip_threshold,
                "relative_step": self.relative_step}


@register_serializable()
class Ftrl(Optimizer):
    """Follow-the-regularized-leader (McMahan et al.) with L1, L2 and L2-shrinkage terms, as Keras 3:
    n += g^2; z += g + 2 s w - (n_new^-p - n^-p) / lr * w; w = (clip(z, -l1, l1) - z) / (n_new^-p / lr + 2 l2)."""

    def __init__(self, learning_rate=0.001, learning_rate_power=-0.5, initial_accumulator_value=0.1,
                 l1_regularization_strength=0.0, l2_regularization_strength=0.0,
                 l2_shrinkage_regularization_strength=0.0, beta=0.0, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, use_ema=False, ema_momentum=0.99, ema_overwrite_frequency=None,
                 loss_scale_factor=None, gradient_accumulation_steps=None, name="ftrl", **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, use_ema, ema_momentum,
                         ema_overwrite_frequency, loss_scale_factor, gradient_accumulation_steps, name, **kwargs)
        for arg, value in (("initial_accumulator_value", initial_accumulator_value),
                           ("l1_regularization_strength", l1_regularization_strength),
                           ("l2_regularization_strength", l2_regularization_strength),
                           ("l2_shrinkage_regularization_strength", l2_shrinkage_regularization_strength)):
            if value < 0.0:
                raise ValueError(f"Ftrl: {arg} must be positive or zero, got {arg}={value}")
        if learning_rate_power > 0.0:
            raise ValueError(f"Ftrl: learning_rate_power must be negative or zero, got {learning_rate_power}")
        self.learning_rate_power, self.initial_accumulator_value = learning_rate_power, initial_accumulator_value
        self.l1_regularization_strength = l1_regularization_strength
        self.l2_regularization_strength = l2_regularization_strength
        self.l2_shrinkage_regularization_strength = l2_shrinkage_regularization_strength
        self.beta = beta

    def _slots(self):
        return [("accumulator", float(self.initial_accumulator_value)), ("linear", 0.0)]

    def _update(self, g, w, lr, slots):
        xp = array_module(w)
        accumulator, linear = slots["accumulator"], slots["linear"]
        power = -self.learning_rate_power
        l1 = self.l1_regularization_strength
        l2 = self.l2_regularization_strength + self.beta / (2.0 * lr)
        new_accumulator = accumulator + g * g
        linear += (g + 2 * self.l2_shrinkage_regularization_strength * w) - \
            (new_accumulator ** power - accumulator ** power) / lr * w
        quadratic = new_accumulator ** power / lr + 2 * l2
        w[...] = (xp.clip(linear, -l1, l1) - linear) / quadratic
        accumulator[...] = new_accumulator

    def get_config(self):
        return {**super().get_config(), "learning_rate_power": self.learning_rate_power,
                "initial_accumulator_value": self.initial_accumulator_value,
                "l1_regularization_strength": self.l1_regularization_strength,
                "l2_regularization_strength": self.l2_regularization_strength,
                "l2_shrinkage_regularization_strength": self.l2_shrinkage_regularization_strength,
                "beta": self.beta}


@register_serializable()
class Lamb(Optimizer):
    """Adam's bias-corrected step u = m_hat / (sqrt(v_hat) + eps), scaled per variable by the trust ratio
    ||w|| / ||u|| (1 where either norm is 0): w -= ratio * lr * u."""

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, weight_decay=None, clipnorm=None,
                 clipvalue=None, global_clipnorm=None, use_ema=False, ema_momentum=0.99, ema_overwrite_frequency=None,
                 loss_scale_factor=None, gradient_accumulation_steps=None, name="lamb", **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, use_ema, ema_momentum,
                         ema_overwrite_frequency, loss_scale_factor, gradient_accumulation_steps, name, **kwargs)
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon

    def _slots(self):
        return [("momentum", 0.0), ("velocity", 0.0)]

    def _update(self, g, w, lr, slots):
        xp = array_module(w)
        t = self.iterations + 1
        m, v = slots["momentum"], slots["velocity"]
        m += (g - m) * (1 - self.beta_1)
        v += (g * g - v) * (1 - self.beta_2)
        update = (m / (1.0 - self.beta_1 ** t)) / (xp.sqrt(v / (1.0 - self.beta_2 ** t)) + self.epsilon)
        w_norm, u_norm = math.sqrt(float((w * w).sum())), math.sqrt(float((update * update).sum()))
        ratio = w_norm / u_norm if w_norm > 0 and u_norm > 0 else 1.0
        w -= ratio * lr * update

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}


@register_serializable()
class Muon(Optimizer):
    """Momentum orthogonalized by Newton-Schulz (Keras 3's Muon) for 2-D variables; AdamW for the rest.

    A variable takes the AdamW path (learning rate times `adam_lr_ratio`, decay `adam_weight_decay`) when it
    is not 2-D, when `exclude_embeddings` and its path names an embedding, or when its path matches a
    regular expression of `exclude_layers`. The Muon path: m = momentum m + g; the update is
    NS5(g + momentum m) (or NS5(m) without nesterov), scaled by sqrt(max(rows, cols)) * rms_rate.
    """

    def __init__(self, learning_rate=0.001, adam_beta_1=0.9, adam_beta_2=0.999, adam_weight_decay=0.004,
                 epsilon=1e-7, weight_decay=0.004, clipnorm=None, clipvalue=None, global_clipnorm=None, use_ema=False,
                 ema_momentum=0.99, ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, name="muon", exclude_layers=None, exclude_embeddings=True,
                 muon_a=3.4445, muon_b=-4.775, muon_c=2.0315, adam_lr_ratio=1, momentum=0.95, ns_steps=5,
                 nesterov=True, rms_rate=0.2, **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, use_ema, ema_momentum,
                         ema_overwrite_frequency, loss_scale_factor, gradient_accumulation_steps, name, **kwargs)
        self.adam_beta_1, self.adam_beta_2, self.adam_weight_decay = adam_beta_1, adam_beta_2, adam_weight_decay
        self.epsilon, self.exclude_layers, self.exclude_embeddings = epsilon, list(exclude_layers or []), \
            exclude_embeddings
        self.muon_a, self.muon_b, self.muon_c, self.adam_lr_ratio = muon_a, muon_b, muon_c, adam_lr_ratio
        self.momentum, self.ns_steps, self.nesterov, self.rms_rate = momentum, ns_steps, nesterov, rms_rate

    def uses_adamw(self, v):
        """True when variable `v` takes the AdamW path."""
        data = v.data if hasattr(v, "data") else v
        if data.ndim != 2:
            return True
        path = _var_name(v, 0)
        if self.exclude_embeddings and "embedding" in path.lower():
            return True
        return any(re.search(pattern, path) for pattern in self.exclude_layers)

    def _slots(self):
        return [("momentum", 0.0), ("velocity", self._velocity_slot)]

    def _velocity_slot(self, v):
        return array_module(v.data).zeros_like(v.data) if self.uses_adamw(v) else None

    def _weight_decay_of(self, v):
        return self.adam_weight_decay if self.uses_adamw(v) else self.weight_decay

    def _update(self, g, w, lr, slots):
        m, v = slots["momentum"], slots["velocity"]
        if v is not None:
            self._adamw_update(g, w, lr * self.adam_lr_ratio, m, v)
            return
        m *= self.momentum
        m += g
        update = self.newton_schulz(g + self.momentum * m if self.nesterov else m, self.ns_steps)
        step = lr * update
        if self.rms_rate is not None:
            step = step * (math.sqrt(max(w.shape[0], w.shape[1])) * self.rms_rate)
        w -= step

    def _adamw_update(self, g, w, lr, m, v):
        t = self.iterations + 1
        alpha = lr * math.sqrt(1 - self.adam_beta_2 ** t) / (1 - self.adam_beta_1 ** t)
        m += (g - m) * (1 - self.adam_beta_1)
        v += (g * g - v) * (1 - self.adam_beta_2)
        w -= (m * alpha) / (array_module(v).sqrt(v) + self.epsilon)

    def newton_schulz(self, x, steps):
        """The quintic Newton-Schulz iteration pushing x / ||x||_F towards the nearest semi-orthogonal matrix."""
        if x.ndim < 2:
            raise ValueError(f"Muon: Newton-Schulz needs a gradient of at least 2 dimensions, got shape {x.shape}")
        xp = array_module(x)
        tall = x.shape[-2] > x.shape[-1]
        if tall:
            x = xp.swapaxes(x, -1, -2)
        x = x / (xp.sqrt((x * x).sum(axis=(-2, -1), keepdims=True)) + 1e-7)
        a, b, c = self.muon_a, self.muon_b, self.muon_c
        for _ in range(steps):
            gram = x @ xp.swapaxes(x, -1, -2)
            x = a * x + (b * gram + c * gram @ gram) @ x
        return xp.swapaxes(x, -1, -2) if tall else x

    def get_config(self):
        return {**super().get_config(), "adam_beta_1": self.adam_beta_1, "adam_beta_2": self.adam_beta_2,
                "epsilon": self.epsilon, "exclude_layers": self.exclude_layers, "muon_a": self.muon_a,
                "muon_b": self.muon_b, "muon_c": self.muon_c, "adam_lr_ratio": self.adam_lr_ratio,
                "momentum": self.momentum, "ns_steps": self.ns_steps, "nesterov": self.nesterov,
                "exclude_embeddings": self.exclude_embeddings, "adam_weight_decay": self.adam_weight_decay,
                "rms_rate": self.rms_rate}


@register_serializable()
class ScheduleFreeAdamW(Optimizer):
    """Schedule-free AdamW (Defazio et al. 2024) as Keras 3: z ("momentum", starting at w) takes Adam-scaled
    SGD steps, x is the running average of z (weight 1/t), and the variable holds y = (1 - b1) z + b1 x;
    `warmup_steps` ramps the learning rate linearly from 1/warmup_steps of it."""

    def __init__(self, learning_rate=0.0025, beta_1=0.9, beta_2=0.999, epsilon=1e-8, warmup_steps=0,
                 weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None, use_ema=False,
                 ema_momentum=0.99, ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, name="schedule_free_adam_w", **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, use_ema, ema_momentum,
                         ema_overwrite_frequency, loss_scale_factor, gradient_accumulation_steps, name, **kwargs)
        self.beta_1, self.beta_2, self.epsilon, self.warmup_steps = beta_1, beta_2, epsilon, warmup_steps

    def _slots(self):
        return [("momentum", "copy"), ("velocity", 0.0)]

    def _update(self, g, w, lr, slots):
        xp = array_module(w)
        t = self.iterations + 1
        if self.warmup_steps > 0:
            lr = lr * min(t / self.warmup_steps, 1.0)
        z, v = slots["momentum"], slots["velocity"]
        # x is recovered from y and the z before this step (Keras on its torch backend reads z after the step,
        # because its "momentum_old" is a view of the variable it then updates in place)
        x_old = (w - (1 - self.beta_1) * z) / self.beta_1
        v += (g * g - v) * (1 - self.beta_2)
        z -= (lr * g) / (xp.sqrt(v / (1 - self.beta_2 ** t)) + self.epsilon)
        x_new = (1 - 1.0 / t) * x_old + (1.0 / t) * z
        w[...] = (1 - self.beta_1) * z + self.beta_1 * x_new

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon,
                "warmup_steps": self.warmup_steps}


@register_serializable()
class LossScaleOptimizer(Optimizer):
    """Dynamic loss scaling around `inner_optimizer`, as Keras 3: a train step multiplies the loss by the
    current scale (`scale_loss`); `apply` divides the gradients by it and steps the inner optimizer when all
    are finite, doubling the scale after `dynamic_growth_steps` finite steps in a row; a non-finite gradient
    skips the step and halves the scale. tinydl computes in float32/float64, where this guards against
    overflowing gradients rather than float16 underflow.
    """

    _BASE_DEFAULTS = {"weight_decay": None, "clipnorm": None, "global_clipnorm": None, "clipvalue": None,
                      "use_ema": False, "ema_momentum": 0.99, "ema_overwrite_frequency": None,
                      "loss_scale_factor": None, "gradient_accumulation_steps": None}

    def __init__(self, inner_optimizer, initial_scale=2.0 ** 15, dynamic_growth_steps=2000, name=None, **kwargs):
        if not kwargs.pop("dynamic", True):
            raise ValueError("LossScaleOptimizer no longer supports dynamic=False: set loss_scale_factor on the "
                             "inner_optimizer instead")
        for arg, default in self._BASE_DEFAULTS.items():
            if arg in kwargs and kwargs.pop(arg) != default:
                raise ValueError(f"LossScaleOptimizer does not support {arg}: set {arg} on the inner_optimizer")
        super().__init__(0.0, name=name or "loss_scale_optimizer", **kwargs)
        self.inner_optimizer = get(inner_optimizer)
        self.inner_optimizer.loss_scale_factor = None
        # the inner optimizer's variables are this one's (savers look for them here)
        self._variables, self._index = self.inner_optimizer._variables, self.inner_optimizer._index
        self.initial_scale, self.dynamic_growth_steps = float(initial_scale), int(dynamic_growth_steps)
        self.dynamic_scale, self.step_counter = self.initial_scale, 0

    def apply(self, grads, variables=None):
        """Unscale and apply `grads` when all are finite, then grow the scale; otherwise only halve it."""
        grads = list(grads)
        if not all(bool(array_module(g).isfinite(g).all()) for g in (_raw(g) for g in grads if g is not None)):
            self.step_counter, self.dynamic_scale = 0, self.dynamic_scale * 0.5
            return
        scale = self.dynamic_scale
        self.inner_optimizer.apply([None if g is None else _raw(g) / scale for g in grads], variables)
        if self.step_counter == self.dynamic_growth_steps - 1:
            self.step_counter, self.dynamic_scale = 0, self.dynamic_scale * 2.0
        else:
            self.step_counter += 1

    def scale_loss(self, loss):
        return loss * self.dynamic_scale

    @property
    def iterations(self):
        return self.inner_optimizer.iterations

    @iterations.setter
    def iterations(self, value):
        self.inner_optimizer.iterations = value

    @property
    def learning_rate(self):
        return self.inner_optimizer.learning_rate

    @learning_rate.setter
    def learning_rate(self, value):
        self.inner_optimizer.learning_rate = value

    @property
    def learning_rate_schedule(self):
        return self.inner_optimizer.learning_rate_schedule

    def build(self, variables):
        self.inner_optimizer.build(variables)

    def finalize_variable_values(self, var_list=None):
        self.inner_optimizer.finalize_variable_values(var_list)

    def to(self, device):
        self.inner_optimizer.to(device)
        return self

    def get_state(self):
        return {"iterations": 0, "learning_rate": None, "slots": {},
                "extra": {"step_counter": self.step_counter, "dynamic_scale": self.dynamic_scale},
                "inner": self.inner_optimizer.get_state()}

    def set_state(self, state):
        extra = state.get("extra") or {}
        self.step_counter = int(extra.get("step_counter", 0))
        self.dynamic_scale = float(extra.get("dynamic_scale", self.initial_scale))
        if state.get("inner") is not None:
            self.inner_optimizer.set_state(state["inner"])

    def variables(self):
        """Keras's list: this wrapper's own (unused) iteration and learning rate, step_counter, dynamic_scale,
        then the inner optimizer's variables."""
        own = [np.array(0, dtype=np.int64), np.array(0.0, dtype=np.float32),
               np.array(self.step_counter, dtype=np.int64), np.array(self.dynamic_scale, dtype=np.float32)]
        return own + self.inner_optimizer.variables()

    def variable_names(self):
        own = [f"{self.name}/{n}" for n in ("iteration", "learning_rate", "step_counter", "dynamic_scale")]
        return own + self.inner_optimizer.variable_names()

    def set_weights(self, weights):
        weights = list(weights)
        self.step_counter, self.dynamic_scale = int(np.asarray(weights[2])), float(np.asarray(weights[3]))
        self.inner_optimizer.set_weights(weights[4:])

    def keras_variables(self, var_order=None):
        values, names = self.inner_optimizer.keras_variables(var_order)
        return self.variables()[:4] + values, self.variable_names()[:4] + names

    def set_keras_variables(self, values, var_order=None):
        values = list(values)
        if len(values) < 4:
            raise ValueError(f"expected LossScaleOptimizer values (iteration, learning_rate, step_counter, "
                             f"dynamic_scale, then the inner optimizer's), got {len(values)}")
        self.step_counter, self.dynamic_scale = int(np.asarray(values[2])), float(np.asarray(values[3]))
        self.inner_optimizer.set_keras_variables(values[4:], var_order)

    def get_config(self):
        return {"name": self.name, "inner_optimizer": serialize(self.inner_optimizer),
                "initial_scale": self.initial_scale, "dynamic_growth_steps": self.dynamic_growth_steps}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        inner = deserialize(config.pop("inner_optimizer"), custom_objects)
        return cls(inner, **config)


@register_serializable()
class OptimizerMap(MutableMapping):
    """Which optimizer updates which variable: keys are variable paths or regular expressions matched in full
    against them (an exact path wins; two matching patterns are an error), `default_optimizer` for the rest."""

    def __init__(self, default_optimizer, optimizer_map=None):
        if not isinstance(default_optimizer, Optimizer):
            raise TypeError(f"OptimizerMap: default_optimizer must be an Optimizer, got {default_optimizer!r}")
        if optimizer_map is not None and not isinstance(optimizer_map, dict):
            raise TypeError(f"OptimizerMap: optimizer_map must be a dict, got {optimizer_map!r}")
        self._default_optimizer = default_optimizer
        self._optimizer_map = {}
        for key, optimizer in (optimizer_map or {}).items():
            self[key] = optimizer

    @property
    def default_optimizer(self):
        return self._default_optimizer

    def __getitem__(self, key):
        if key in self._optimizer_map:
            return self._optimizer_map[key]
        matches = [pattern for pattern in self._optimizer_map if re.fullmatch(pattern, key)]
        if len(matches) > 1:
            raise ValueError(f"OptimizerMap: variable {key!r} matches several patterns: {matches}")
        return self._optimizer_map[matches[0]] if matches else self._default_optimizer

    def __setitem__(self, key, optimizer):
        if key in self._optimizer_map:
            raise ValueError(f"OptimizerMap: {key!r} already maps to {self._optimizer_map[key]!r}; keys must be "
                             "unique")
        if not isinstance(key, str):
            raise ValueError(f"OptimizerMap: keys must be strings (paths or patterns), got {key!r}")
        if not isinstance(optimizer, Optimizer) or isinstance(optimizer, (LossScaleOptimizer, MultiOptimizer)):
            raise ValueError(f"OptimizerMap: {key!r} must map to a plain Optimizer (not a LossScaleOptimizer or "
                             f"MultiOptimizer), got {optimizer!r}")
        self._optimizer_map[key] = optimizer

    def __delitem__(self, key):
        del self._optimizer_map[key]

    def __len__(self):
        return len(self._optimizer_map)

    def __iter__(self):
        return iter(self._optimizer_map)

    def __call__(self, variable):
        """The optimizer of a variable, looked up by its path (or name)."""
        return self[_var_name(variable, 0)]

    def get_config(self):
        return {"default_optimizer": serialize(self._default_optimizer),
                "optimizer_map": {key: serialize(opt) for key, opt in self._optimizer_map.items()}}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        mapping = {key: deserialize(opt, custom_objects) for key, opt in (config.get("optimizer_map") or {}).items()}
        return cls(deserialize(config["default_optimizer"], custom_objects), mapping)


@register_serializable()
class MultiOptimizer(Optimizer):
    """Several optimizers in one: `optimizer_map` (an OptimizerMap, or any function of a variable returning an
    Optimizer) picks each variable's optimizer when first built; `apply` hands each its own gradients.
    `iterations` counts apply() calls; each inner optimizer keeps its own learning rate and state."""

    def __init__(self, optimizer_map, loss_scale_factor=None, name=None):
        super().__init__(0.0, name=name or "multi_optimizer")
        if not callable(optimizer_map):
            raise TypeError(f"MultiOptimizer: optimizer_map must be an OptimizerMap or a function of a variable, "
                            f"got {optimizer_map!r}")
        self._optimizer_map, self._inner = optimizer_map, []
        for optimizer in list(getattr(optimizer_map, "values", lambda: [])()) + \
                [getattr(optimizer_map, "default_optimizer", None)]:
            if optimizer is not None and not any(optimizer is o for o in self._inner):
                self._inner.append(optimizer)
        self._owner = {}                # id(variable) -> index of its optimizer in self._inner
        self.loss_scale_factor = loss_scale_factor

    @property
    def optimizers(self):
        return list(self._inner)

    @property
    def loss_scale_factor(self):
        return self.__dict__.get("_loss_scale_factor")

    @loss_scale_factor.setter
    def loss_scale_factor(self, value):
        self._loss_scale_factor = value
        for optimizer in self.__dict__.get("_inner", []):
            optimizer.loss_scale_factor = value

    @property
    def learning_rate(self):
        raise AttributeError("a MultiOptimizer has no single learning rate: read it on its optimizers "
                             "(`multi.optimizers[i].learning_rate`)")

    @learning_rate.setter
    def learning_rate(self, value):
        if self.__dict__.get("_inner") is not None:
            raise AttributeError("a MultiOptimizer has no single learning rate: set it on its optimizers")
        self._learning_rate = _check_learning_rate(value)

    def build(self, variables):
        """Assign every new variable to its optimizer and build that optimizer on it."""
        groups = {}
        for v in variables:
            if id(v) in self._owner:
                continue
            optimizer = self._optimizer_map(v)
            if not isinstance(optimizer, Optimizer) or isinstance(optimizer, (LossScaleOptimizer, MultiOptimizer)):
                raise ValueError(f"MultiOptimizer: the optimizer of variable {_var_name(v, 0)!r} must be a plain "
                                 f"Optimizer (not a LossScaleOptimizer or MultiOptimizer), got {optimizer!r}")
            if not any(optimizer is o for o in self._inner):
                optimizer.loss_scale_factor = self.loss_scale_factor
                self._inner.append(optimizer)
            index = next(i for i, o in enumerate(self._inner) if o is optimizer)
            self._owner[id(v)] = index
            self._index[id(v)] = len(self._variables)
            self._variables.append(v)
            groups.setdefault(index, []).append(v)
        for index, group in groups.items():
            self._inner[index].build(group)

    def apply(self, grads, variables=None):
        grads = list(grads)
        variables = self._variables if variables is None else list(variables)
        if len(grads) != len(variables):
            raise ValueError(f"got {len(grads)} gradients for {len(variables)} variables: expected one per variable")
        self.build(variables)
        split = [([], []) for _ in self._inner]
        for g, v in zip(grads, variables):
            if g is not None:
                split[self._owner[id(v)]][0].append(g)
                split[self._owner[id(v)]][1].append(v)
        for optimizer, (sub_grads, sub_vars) in zip(self._inner, split):
            if sub_grads:
                optimizer.apply(sub_grads, sub_vars)
        self._iterations += 1

    def finalize_variable_values(self, var_list=None):
        for index, optimizer in enumerate(self._inner):
            mine = [v for v in (var_list or self._variables) if self._owner.get(id(v)) == index]
            if mine:
                optimizer.finalize_variable_values(mine)

    def to(self, device):
        for optimizer in self._inner:
            optimizer.to(device)
        return self

    def get_state(self):
        return {"iterations": int(self._iterations), "learning_rate": None, "slots": {},
                "inner": [optimizer.get_state() for optimizer in self._inner]}

    def set_state(self, state):
        self._iterations = int(state["iterations"])
        inner = state.get("inner") or []
        if len(inner) != len(self._inner):
            raise ValueError(f"MultiOptimizer state has {len(inner)} optimizers' states, expected {len(self._inner)}")
        for optimizer, sub in zip(self._inner, inner):
            optimizer.set_state(sub)

    def variables(self):
        """Keras's list: iteration, this wrapper's (unused) learning rate, then each optimizer's variables."""
        own = [np.array(self._iterations, dtype=np.int64), np.array(0.0, dtype=np.float32)]
        return own + [a for optimizer in self._inner for a in optimizer.variables()]

    def variable_names(self):
        own = [f"{self.name}/iteration", f"{self.name}/learning_rate"]
        return own + [n for optimizer in self._inner for n in optimizer.variable_names()]

    def set_weights(self, weights):
        weights = list(weights)
        self._iterations = int(np.asarray(weights[0]))
        start = 2
        for optimizer in self._inner:
            count = len(optimizer.variables()) if optimizer._variables else 0
            if count:
                optimizer.set_weights(weights[start:start + count])
                start += count

    def keras_variables(self, var_order=None):
        values, names = self.variables()[:2], self.variable_names()[:2]
        for optimizer in self._inner:
            sub_values, sub_names = optimizer.keras_variables(var_order)
            values, names = values + sub_values, names + sub_names
        return values, names

    def set_keras_variables(self, values, var_order=None):
        values = list(values)
        self._iterations = int(np.asarray(values[0]))
        start = 2
        for optimizer in self._inner:
            count = len(optimizer.variables()) if optimizer._variables else 0
            if count:
                optimizer.set_keras_variables(values[start:start + count], var_order)
                start += count
        if start != len(values):
            raise ValueError(f"expected {start} MultiOptimizer values, got {len(values)}")

    def get_config(self):
        return {"optimizer_map": serialize(self._optimizer_map), "loss_scale_factor": self.loss_scale_factor,
                "name": self.name}

    def __repr__(self):
        return f"<MultiOptimizer name={self.name!r} optimizers={self._inner!r}>"

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        mapping = config.pop("optimizer_map")
        if isinstance(mapping, dict):
            mapping = cfg.deserialize(mapping, custom_objects)
        return cls(mapping, **config)


_CLASSES = {cls.__name__: cls for cls in (SGD, Adam, AdamW, RMSprop, Adagrad, Adadelta, Adamax, Nadam, Lion,
                                                 Adafactor, Ftrl, Lamb, Muon, ScheduleFreeAdamW,
                                                 LossScaleOptimizer, MultiOptimizer)}
# by name: every optimizer buildable without arguments (a LossScaleOptimizer needs its inner optimizer)
_LOWER = {name.lower(): cls for name, cls in _CLASSES.items() if cls not in (LossScaleOptimizer, MultiOptimizer)}


def get(identifier):
    """An optimizer from a name ('adam', 'SGD', 'rmsprop', case-insensitive), a config dict or an instance."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Optimizer):
        return identifier()
    if isinstance(identifier, str):
        cls = _LOWER.get(identifier.lower())
        if cls is None:
            raise ValueError(f"unknown optimizer {identifier!r}; known: {', '.join(sorted(_LOWER))}")
        return cls()
    if isinstance(identifier, dict):
        return deserialize(identifier)
    raise ValueError(f"could not interpret optimizer {identifier!r}: expected a name, a config or an Optimizer")


def deserialize(config, custom_objects=None):
    """Build an optimizer from `{"class_name", "config"}` (class names are case-insensitive, as Keras)."""
    name = config.get("class_name", "")
    cls = _CLASSES.get(name) or _LOWER.get(str(name).lower())
    if cls is None:
        return cfg.deserialize(config, custom_objects)
    return cls.from_config(dict(config.get("config") or {}), custom_objects)


def _initial_slot(v, fill):
    """A slot's initial array for variable `v` (see `Optimizer._slots`)."""
    if callable(fill):
        return fill(v)
    w = v.data
    xp = array_module(w)
    return xp.array(w, copy=True) if fill == "copy" else xp.full_like(w, fill)


def _check_learning_rate(lr):
    """A float rate, a schedule or a callable; anything else is a clear error."""
    if isinstance(lr, schedules.LearningRateSchedule) or (callable(lr) and not isinstance(lr, (int, float))):
        return lr
    if isinstance(lr, dict):
        return schedules.deserialize(lr)
    if isinstance(lr, (int, float, np.number)) and not isinstance(lr, bool):
        return float(lr)
    raise ValueError(f"learning_rate must be a float, a LearningRateSchedule or a callable, got {lr!r}")


def _raw(g):
    """A gradient as a raw array."""
    if isinstance(g, Tensor):
        return g.data
    return g if hasattr(g, "shape") and hasattr(g, "dtype") else np.asarray(g)


def _to_numpy(a):
    """A NumPy copy of an array (copied off the GPU when needed)."""
    return a.get() if hasattr(a, "get") else np.array(a, copy=True)


def _var_name(v, i):
    """A variable's path or name, or its position."""
    return str(getattr(v, "path", None) or getattr(v, "name", None) or f"variable_{i}")


def _rms(x):
    """Root mean square of an array, as a float."""
    return math.sqrt(float((x * x).mean()))


def _snake(name):
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _clip_scale(norm, limit):
    """limit / max(norm, limit) as a 0-d array on norm's device; NaN when the global norm is not finite."""
    xp = array_module(norm)
    return xp.where(xp.isfinite(norm), limit / xp.maximum(norm, limit), xp.nan)
