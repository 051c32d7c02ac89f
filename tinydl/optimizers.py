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
    #  "slots": {slot_name: [array, ...]} one NumPy array per variable, in variable order
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

import numpy as np

from tinydl import backend, constraints, schedules
from tinydl.backend import array_module
from tinydl.io.config import register_serializable, serialize
from tinydl.tensor import Tensor
from tinydl.io import config as cfg

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "Adamax", "Nadam", "Lion", "get",
           "serialize", "deserialize"]


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
        if self.weight_decay:
            for v in variables:
                if self._decays(v):
                    v.data -= v.data * self.weight_decay * lr
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
                xp = array_module(v.data)
                self._state.setdefault(name, []).append(
                    xp.array(v.data, copy=True) if fill == "copy" else xp.full_like(v.data, fill))
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
        """(slot name, initial fill value) pairs of this optimizer."""
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
    def to(self, device):
        """Move the per-variable state (slots) to `device`; `model.to(device)` calls this."""
        for name, arrays in self._state.items():
            self._state[name] = [backend.to_device(a, device) for a in arrays]
        return self

    def get_state(self):
        """A plain dict of the optimizer's state (format in the module docstring); arrays are NumPy copies."""
        lr = self._learning_rate if isinstance(self._learning_rate, float) else None
        state = {"iterations": int(self._iterations), "learning_rate": lr,
                 "slots": {name: [_to_numpy(a) for a in arrays] for name, arrays in self._state.items()}}
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

    def _slot_groups(self):
        """Slot names grouped as Keras creates them: each group interleaved per variable, groups in turn."""
        names = [name for name, _ in self._slots()]
        return [names] if self._interleaved else [[name] for name in names]

    def _slot_order(self):
        """(slot name, variable index) pairs in Keras's creation order."""
        n = len(self._variables)
        order = [("average", i) for i in range(n)] if self.use_ema else []
        if self.gradient_accumulation_steps:
            order += [("gradient_accumulator", i) for i in range(n)]
        for group in self._slot_groups():
            order += [(name, i) for i in range(n) for name in group]
        return order

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


_CLASSES = {cls.__name__: cls for cls in (SGD, Adam, AdamW, RMSprop, Adagrad, Adadelta, Adamax, Nadam, Lion)}
_LOWER = {name.lower(): cls for name, cls in _CLASSES.items()}


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


def _snake(name):
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _clip_scale(norm, limit):
    """limit / max(norm, limit) as a 0-d array on norm's device; NaN when the global norm is not finite."""
    xp = array_module(norm)
    return xp.where(xp.isfinite(norm), limit / xp.maximum(norm, limit), xp.nan)
