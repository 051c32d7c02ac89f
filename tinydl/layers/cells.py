"""`RNN(cell)`: a recurrent layer that runs any cell over time, with Keras's cells SimpleRNNCell, LSTMCell,
GRUCell and StackedRNNCells.

    cell = StackedRNNCells([LSTMCell(32), GRUCell(16)])
    y = RNN(cell, return_sequences=True)(x)        # x: (batch, timesteps, features)

A cell is any Layer with `call(inputs, states[, training]) -> (output, new_states)` and a `state_size`
(an int or a list of ints); `output_size` defaults to the first state's size. The loop runs step by step
on the tape, so user cells differentiate like any layer (the fused SimpleRNN/LSTM/GRU layers are faster).
Weights and config keys are Keras 3's: the cells' `kernel`, `recurrent_kernel`, `bias` (LSTM gates
i, f, c, o; GRU gates z, r, h with `reset_after=True` bias (2, 3*units)).
"""
import numpy as np

from tinydl import activations, backend, constraints, initializers, ops
from tinydl.io.config import deserialize, serialize
from tinydl.layers.base import Layer, call_args, flatten
from tinydl.tensor import Tensor

__all__ = ["RNN", "SimpleRNNCell", "LSTMCell", "GRUCell", "StackedRNNCells"]


class RNN(Layer):
    """Runs `cell` over the time axis of (batch, timesteps, features) inputs.

    Masked steps keep the previous states and repeat the previous output (zeros with
    `zero_output_for_mask=True`). `return_state=True` returns `(output, *final_states)`, the states in
    the cell's structure (StackedRNNCells: one list per cell).
    `unroll` is accepted for Keras compatibility: tinydl always runs the loop step by step.
    """

    supports_masking = True

    def __init__(self, cell, return_sequences=False, return_state=False, go_backwards=False, stateful=False,
                 unroll=False, zero_output_for_mask=False, **kwargs):
        super().__init__(**kwargs)
        if isinstance(cell, (list, tuple)):
            cell = StackedRNNCells(cell)
        if not isinstance(cell, Layer) or not hasattr(cell, "state_size"):
            raise TypeError(f"RNN '{self.name}' needs a cell: a Layer with call(inputs, states) and a state_size "
                            f"attribute, got {type(cell).__name__}")
        if stateful:
            raise NotImplementedError(f"RNN '{self.name}': stateful=True is not supported")
        self.cell = cell
        self.return_sequences, self.return_state = bool(return_sequences), bool(return_state)
        self.go_backwards, self.stateful, self.unroll = bool(go_backwards), False, bool(unroll)
        self.zero_output_for_mask = bool(zero_output_for_mask)

    @property
    def state_size(self):
        return self.cell.state_size

    def build(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(f"RNN '{self.name}' expects input of shape (batch, timesteps, features), "
                             f"got {tuple(input_shape)}")
        if not self.cell.built:
            self.cell.build((input_shape[0], input_shape[2]))
            self.cell.built = True

    def call(self, sequences, initial_state=None, mask=None, training=None):
        n, t = sequences.shape[0], sequences.shape[1]
        mask = _step_mask(mask, n, t, self.name)
        states = self._initial_states(initial_state, sequences)
        for cell in _cells(self.cell):
            if hasattr(cell, "reset_dropout_mask"):
                cell.reset_dropout_mask()
        steps = range(t - 1, -1, -1) if self.go_backwards else range(t)
        outputs, previous = [], None
        for i in steps:
            output, new_states = self._step(sequences[:, i], states, training)
            if mask is not None:
                keep = Tensor._wrap(mask[:, i:i + 1].astype(sequences.dtype), False)
                new_states = [keep * s + (1 - keep) * old for s, old in zip(new_states, states)]
                fallback = output * 0.0 if previous is None or self.zero_output_for_mask else previous
                output = keep * output + (1 - keep) * fallback
            states, previous = new_states, output
            outputs.append(output)
        result = ops.stack(outputs, axis=1) if self.return_sequences else outputs[-1]
        if not self.return_state:
            return result
        final = _unflatten(states, self.cell.state_size)  # Keras keeps the cell's state structure
        return (result, *final)

    def _step(self, x, states, training):
        """One cell call; the new states as a flat list."""
        structured = _unflatten(states, self.cell.state_size)
        kwargs = {"training": training} if _takes(self.cell, "training") else {}
        output, new_states = self.cell(x, structured, **kwargs)
        return output, list(flatten(new_states))

    def _initial_states(self, initial_state, sequences):
        sizes = _flat_sizes(self.cell.state_size)
        n = sequences.shape[0]
        if initial_state is None:
            if hasattr(self.cell, "get_initial_state"):
                return list(flatten(self.cell.get_initial_state(batch_size=n)))
            xp = backend.array_module(sequences.data)
            return [Tensor._wrap(xp.zeros((n, size), sequences.dtype), False) for size in sizes]
        states = list(flatten(initial_state))
        if len(states) != len(sizes):
            raise ValueError(f"RNN '{self.name}' expects initial_state as {len(sizes)} tensor(s) of shapes "
                             f"{[(n, s) for s in sizes]}, got {len(states)}")
        out = []
        for s, size in zip(states, sizes):
            s = s if isinstance(s, Tensor) else Tensor(np.asarray(s, dtype=sequences.dtype))
            if tuple(s.shape) != (n, size):
                raise ValueError(f"RNN '{self.name}' expects initial states of shapes {[(n, z) for z in sizes]}, "
                                 f"got {tuple(s.shape)}")
            out.append(s)
        return out

    def compute_mask(self, inputs, mask=None):
        mask = flatten(mask)[0] if mask is not None else None
        output_mask = mask if self.return_sequences else None
        if self.return_state:
            size = self.cell.state_size
            return [output_mask] + [None] * (len(size) if isinstance(size, (list, tuple)) else 1)
        return output_mask

    def get_config(self):
        return {**super().get_config(), "return_sequences": self.return_sequences,
                "return_state": self.return_state, "go_backwards": self.go_backwards, "stateful": self.stateful,
                "unroll": self.unroll, "zero_output_for_mask": self.zero_output_for_mask,
                "cell": serialize(self.cell)}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["cell"] = deserialize(config["cell"])
        return super().from_config(config)


class _Cell(Layer):
    """What Keras's three cells share: arguments, weights, dropout masks (one draw per sequence), config."""

    gates = 1

    def __init__(self, units, activation="tanh", use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros", kernel_regularizer=None,
                 recurrent_regularizer=None, bias_regularizer=None, kernel_constraint=None, recurrent_constraint=None,
                 bias_constraint=None, dropout=0.0, recurrent_dropout=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(units, bool) or int(units) != units or units <= 0:
            raise ValueError(f"{type(self).__name__} '{self.name}' needs a positive integer units, got {units!r}")
        check_dropout_rates(f"{type(self).__name__} '{self.name}'", dropout, recurrent_dropout)
        self.units = int(units)
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        set_weight_options(self, kernel_initializer, recurrent_initializer, bias_initializer, kernel_regularizer,
                           recurrent_regularizer, bias_regularizer, kernel_constraint, recurrent_constraint,
                           bias_constraint)
        self.dropout, self.recurrent_dropout, self.seed = float(dropout), float(recurrent_dropout), seed
        self._rng = dropout_rng(seed)
        self.reset_dropout_mask()

    @property
    def state_size(self):
        return self.units

    @property
    def output_size(self):
        return self.units

    def build(self, input_shape):
        width = self.gates * self.units
        self.kernel = self.add_weight("kernel", (input_shape[-1], width), self.kernel_initializer,
                                      regularizer=self.kernel_regularizer, constraint=self.kernel_constraint)
        self.recurrent_kernel = self.add_weight("recurrent_kernel", (self.units, width), self.recurrent_initializer,
                                                regularizer=self.recurrent_regularizer,
                                                constraint=self.recurrent_constraint)
        self.bias = self.add_weight("bias", self._bias_shape(), self._bias_initializer(),
                                    regularizer=self.bias_regularizer, constraint=self.bias_constraint) \
            if self.use_bias else None

    def _bias_shape(self):
        return (self.gates * self.units,)

    def _bias_initializer(self):
        return self.bias_initializer

    def reset_dropout_mask(self):
        """Forget the dropout masks, so the next sequence draws new ones (RNN calls this per call)."""
        self._masks = {}

    reset_recurrent_dropout_mask = reset_dropout_mask

    def _dropped(self, x, which, rate, training):
        """x times this sequence's inverted-dropout mask (drawn at the first step), in training only."""
        if not training or rate == 0:
            return x
        if which not in self._masks:
            keep = self._rng().random(tuple(x.shape)) >= rate
            scale = (keep / (1.0 - rate)).astype(x.dtype)
            self._masks[which] = Tensor._wrap(backend.to_device(scale, backend.device_of(x.data)), False)
        return x * self._masks[which]

    def get_initial_state(self, batch_size=None):
        """Zero states, one (batch, units) array per state."""
        sizes = _flat_sizes(self.state_size)
        return [Tensor(np.zeros((batch_size, s), dtype=self.dtype)) for s in sizes]

    def get_config(self):
        return {**super().get_config(), "units": self.units, "activation": activations.serialize(self.activation),
                "use_bias": self.use_bias, "kernel_initializer": serialize(self.kernel_initializer),
                "recurrent_initializer": serialize(self.recurrent_initializer),
                "bias_initializer": serialize(self.bias_initializer),
                "kernel_regularizer": serialize(self.kernel_regularizer),
                "recurrent_regularizer": serialize(self.recurrent_regularizer),
                "bias_regularizer": serialize(self.bias_regularizer),
                "kernel_constraint": serialize(self.kernel_constraint),
                "recurrent_constraint": serialize(self.recurrent_constraint),
                "bias_constraint": serialize(self.bias_constraint), "dropout": self.dropout,
                "recurrent_dropout": self.recurrent_dropout, "seed": self.seed}


class SimpleRNNCell(_Cell):
    """`h = activation(x @ kernel + bias + h_prev @ recurrent_kernel)`; the output is h."""

    def call(self, inputs, states, training=None):
        h = _first(states)
        x = self._dropped(inputs, "x", self.dropout, training)
        h_in = self._dropped(h, "h", self.recurrent_dropout, training)
        z = ops.matmul(x, self.kernel)
        if self.use_bias:
            z = z + self.bias
        out = self.activation(z + ops.matmul(h_in, self.recurrent_kernel))
        return out, [out]


class LSTMCell(_Cell):
    """LSTM step with gates i, f, c, o; states [h, c]; `unit_forget_bias` starts the forget bias at one."""

    gates = 4

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal", bias_initializer="zeros",
                 unit_forget_bias=True, **kwargs):
        super().__init__(units, activation, use_bias, kernel_initializer, recurrent_initializer, bias_initializer,
                         **kwargs)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.unit_forget_bias = bool(unit_forget_bias)

    @property
    def state_size(self):
        return [self.units, self.units]

    def _bias_initializer(self):
        if not self.unit_forget_bias:
            return self.bias_initializer
        init, u = self.bias_initializer, self.units

        def forget_ones(shape, dtype=None):
            dtype = np.dtype(dtype or self.dtype)
            return np.concatenate([np.asarray(init((u,), dtype=dtype)), np.ones(u, dtype),
                                   np.asarray(init((2 * u,), dtype=dtype))]).astype(dtype)
        return forget_ones

    def call(self, inputs, states, training=None):
        h, c = flatten(states)[:2]
        x = self._dropped(inputs, "x", self.dropout, training)
        h_in = self._dropped(h, "h", self.recurrent_dropout, training)
        z = ops.matmul(x, self.kernel) + ops.matmul(h_in, self.recurrent_kernel)
        if self.use_bias:
            z = z + self.bias
        u = self.units
        i = self.recurrent_activation(z[:, :u])
        f = self.recurrent_activation(z[:, u:2 * u])
        c = f * c + i * self.activation(z[:, 2 * u:3 * u])
        o = self.recurrent_activation(z[:, 3 * u:])
        h = o * self.activation(c)
        return h, [h, c]

    def get_config(self):
        return {**super().get_config(), "recurrent_activation": activations.serialize(self.recurrent_activation),
                "unit_forget_bias": self.unit_forget_bias}


class GRUCell(_Cell):
    """GRU step with gates z, r, h: `h = z * h_prev + (1 - z) * hh`; `reset_after=True` keeps bias (2, 3*units)."""

    gates = 3

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal", bias_initializer="zeros",
                 kernel_regularizer=None, recurrent_regularizer=None, bias_regularizer=None, kernel_constraint=None,
                 recurrent_constraint=None, bias_constraint=None, dropout=0.0, recurrent_dropout=0.0,
                 reset_after=True, seed=None, **kwargs):
        super().__init__(units, activation, use_bias, kernel_initializer, recurrent_initializer, bias_initializer,
                         kernel_regularizer, recurrent_regularizer, bias_regularizer, kernel_constraint,
                         recurrent_constraint, bias_constraint, dropout, recurrent_dropout, seed, **kwargs)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.reset_after = bool(reset_after)

    def _bias_shape(self):
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def call(self, inputs, states, training=None):
        h = _first(states)
        x = self._dropped(inputs, "x", self.dropout, training)
        h_in = self._dropped(h, "h", self.recurrent_dropout, training)
        u = self.units
        xz = ops.matmul(x, self.kernel)
        if self.use_bias:
            xz = xz + (self.bias[0] if self.reset_after else self.bias)
        if self.reset_after:
            hz = ops.matmul(h_in, self.recurrent_kernel)
            if self.use_bias:
                hz = hz + self.bias[1]
            z = self.recurrent_activation(xz[:, :u] + hz[:, :u])
            r = self.recurrent_activation(xz[:, u:2 * u] + hz[:, u:2 * u])
            hh = self.activation(xz[:, 2 * u:] + r * hz[:, 2 * u:])
        else:
            hz = ops.matmul(h_in, self.recurrent_kernel[:, :2 * u])
            z = self.recurrent_activation(xz[:, :u] + hz[:, :u])
            r = self.recurrent_activation(xz[:, u:2 * u] + hz[:, u:])
            hh = self.activation(xz[:, 2 * u:] + ops.matmul(r * h_in, self.recurrent_kernel[:, 2 * u:]))
        out = z * h + (1 - z) * hh
        return out, [out]

    def get_config(self):
        return {**super().get_config(), "recurrent_activation": activations.serialize(self.recurrent_activation),
                "reset_after": self.reset_after}


class StackedRNNCells(Layer):
    """Cells run one after the other at each step: cell k's output is cell k+1's input."""

    def __init__(self, cells, **kwargs):
        super().__init__(**kwargs)
        cells = list(cells)
        if not cells or not all(isinstance(c, Layer) and hasattr(c, "state_size") for c in cells):
            raise ValueError(f"StackedRNNCells '{self.name}' needs a non-empty list of cells (Layers with a "
                             f"state_size), got {cells!r}")
        self.cells = cells

    @property
    def state_size(self):
        return [c.state_size for c in self.cells]

    @property
    def output_size(self):
        last = self.cells[-1]
        return getattr(last, "output_size", _flat_sizes(last.state_size)[0])

    def build(self, input_shape):
        size = input_shape[-1]
        for cell in self.cells:
            if not cell.built:
                cell.build((input_shape[0], size))
                cell.built = True
            size = getattr(cell, "output_size", _flat_sizes(cell.state_size)[0])

    def get_initial_state(self, batch_size=None):
        """Every cell's initial states, cell by cell."""
        return [s for cell in self.cells for s in _initial(cell, batch_size, self.dtype)]

    def call(self, inputs, states, training=None):
        flat, new_states, x = list(flatten(states)), [], inputs
        for cell in self.cells:
            n = len(_flat_sizes(cell.state_size))
            mine, flat = flat[:n], flat[n:]
            kwargs = {"training": training} if _takes(cell, "training") else {}
            x, cell_states = cell(x, mine if isinstance(cell.state_size, (list, tuple)) else mine[0], **kwargs)
            new_states.append(list(flatten(cell_states)))
        return x, new_states

    def get_config(self):
        return {**super().get_config(), "cells": [serialize(c) for c in self.cells]}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["cells"] = [deserialize(c) for c in config["cells"]]
        return super().from_config(config)


def check_dropout_rates(where, dropout, recurrent_dropout):
    """A ValueError naming `where` unless both dropout rates lie in [0, 1)."""
    for label, rate in (("dropout", dropout), ("recurrent_dropout", recurrent_dropout)):
        if not 0 <= rate < 1:
            raise ValueError(f"{where} needs 0 <= {label} < 1, got {rate}")


def set_weight_options(layer, kernel_initializer, recurrent_initializer, bias_initializer, kernel_regularizer,
                       recurrent_regularizer, bias_regularizer, kernel_constraint, recurrent_constraint,
                       bias_constraint):
    """Store a recurrent layer's kernel, recurrent-kernel and bias initializers, regularizers and constraints."""
    layer.kernel_initializer = initializers.get(kernel_initializer)
    layer.recurrent_initializer = initializers.get(recurrent_initializer)
    layer.bias_initializer = initializers.get(bias_initializer)
    layer.kernel_regularizer, layer.recurrent_regularizer = kernel_regularizer, recurrent_regularizer
    layer.bias_regularizer = bias_regularizer
    layer.kernel_constraint = constraints.get(kernel_constraint)
    layer.recurrent_constraint = constraints.get(recurrent_constraint)
    layer.bias_constraint = constraints.get(bias_constraint)


def dropout_rng(seed):
    """What draws a layer's dropout masks: a generator of its own when seeded, else tinydl's global one."""
    own = None if seed is None else np.random.default_rng(int(seed))
    return (lambda: own) if own is not None else backend.rng


def _cells(cell):
    """A cell and, for stacked cells, every cell inside it."""
    inner = cell.cells if isinstance(cell, StackedRNNCells) else []
    return [cell] + [c for sub in inner for c in _cells(sub)]


def _flat_sizes(state_size):
    """A state_size (int, list, nested lists) as a flat list of ints."""
    if isinstance(state_size, (list, tuple)):
        return [s for part in state_size for s in _flat_sizes(part)]
    return [int(state_size)]


def _unflatten(states, state_size):
    """Flat states in the structure a cell's call expects: always a list (Keras passes `[h]` for one state)."""
    if not isinstance(state_size, (list, tuple)):
        return [states[0]]
    out, rest = [], list(states)
    for part in state_size:
        n = len(_flat_sizes(part))
        out.append(rest[0] if not isinstance(part, (list, tuple)) else _unflatten(rest[:n], part))
        rest = rest[n:]
    return out


def _initial(cell, batch_size, dtype):
    if hasattr(cell, "get_initial_state"):
        return list(flatten(cell.get_initial_state(batch_size=batch_size)))
    return [Tensor(np.zeros((batch_size, s), dtype=dtype)) for s in _flat_sizes(cell.state_size)]


def _first(states):
    return states[0] if isinstance(states, (list, tuple)) else states


def _takes(layer, argument):
    return argument in call_args(type(layer))


def _step_mask(mask, n, t, name):
    """The (batch, timesteps) bool mask as a raw array, or None."""
    if mask is None:
        return None
    m = flatten(mask)[0] if isinstance(mask, (list, tuple)) else mask
    if m is None:
        return None
    m = m.data if isinstance(m, Tensor) else m
    m = backend.array_module(m).asarray(m)
    if m.ndim == 3 and m.shape[2] == 1:
        m = m[:, :, 0]
    if tuple(m.shape) != (n, t):
        raise ValueError(f"RNN '{name}' got a mask of shape {tuple(m.shape)} for input with (batch, timesteps) = "
                         f"{(n, t)}")
    return m.astype(bool)
