"""Recurrent layers with Keras's names, arguments and weight layouts: SimpleRNN, LSTM, GRU, the wrappers
Bidirectional and TimeDistributed, and Masking.

    x = Embedding(1000, 32, mask_zero=True)(ids)          # padding id 0 masks steps
    y = Bidirectional(LSTM(64, return_sequences=True))(x)  # masked steps carry the state through

Each recurrent layer runs the whole sequence in one op (`tinydl.ops.lstm` / `gru` / `simple_rnn`).
Weights: `kernel` (features, gates*units), `recurrent_kernel` (units, gates*units), `bias`, paths
`lstm/lstm_cell/kernel` as Keras 3; LSTM gates i, f, c, o; GRU gates z, r, h (bias (2, 3*units) with
reset_after=True, the default). Dropout draws one mask per sequence (the same for every step), as Keras.
"""
import numpy as np

from tinydl import activations, backend, constraints, initializers, ops
from tinydl.io.config import deserialize, serialize
from tinydl.layers.base import KerasTensor, Layer, call_args, flatten
from tinydl.layers.cells import check_dropout_rates
from tinydl.tensor import Tensor

__all__ = ["SimpleRNN", "LSTM", "GRU", "Bidirectional", "TimeDistributed", "Masking", "Wrapper"]


class _Recurrent(Layer):
    """What SimpleRNN, LSTM and GRU share: arguments, checks, masks, dropout, states, outputs, config."""

    gates = 1
    n_states = 1
    cell_name = "simple_rnn_cell"
    supports_masking = True

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal", bias_initializer="zeros",
                 kernel_regularizer=None, recurrent_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, recurrent_constraint=None, bias_constraint=None,
                 dropout=0.0, recurrent_dropout=0.0, seed=None, return_sequences=False, return_state=False,
                 go_backwards=False, stateful=False, unroll=False, zero_output_for_mask=False, **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        if int(units) <= 0:
            raise ValueError(f"{type(self).__name__} '{self.name}' needs a positive number of units, got {units}")
        if stateful:
            raise NotImplementedError(f"{type(self).__name__} '{self.name}': stateful=True is not supported")
        check_dropout_rates(f"{type(self).__name__} '{self.name}'", dropout, recurrent_dropout)
        self.units = int(units)
        self.activation = activations.get(activation)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = _maybe_deserialize(kernel_initializer)
        self.recurrent_initializer = _maybe_deserialize(recurrent_initializer)
        self.bias_initializer = _maybe_deserialize(bias_initializer)
        self.kernel_regularizer = _maybe_deserialize(kernel_regularizer)
        self.recurrent_regularizer = _maybe_deserialize(recurrent_regularizer)
        self.bias_regularizer = _maybe_deserialize(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.recurrent_constraint = constraints.get(recurrent_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.dropout = float(dropout)
        self.recurrent_dropout = float(recurrent_dropout)
        self.seed = seed
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.stateful = False
        self.unroll = bool(unroll)
        self.zero_output_for_mask = bool(zero_output_for_mask)

    # -- weights -----------------------------------------------------------------------------
    def build(self, input_shape):
        self._check_shape(input_shape)
        features = input_shape[-1]
        width = self.gates * self.units
        self.kernel = self._weight("kernel", (features, width), self.kernel_initializer, self.kernel_regularizer,
                                   self.kernel_constraint)
        self.recurrent_kernel = self._weight("recurrent_kernel", (self.units, width), self.recurrent_initializer,
                                             self.recurrent_regularizer, self.recurrent_constraint)
        self.bias = self._weight("bias", self._bias_shape(), self.bias_initializer,
                                 self.bias_regularizer, self.bias_constraint) if self.use_bias else None
        self._features = features

    def _weight(self, name, shape, initializer, regularizer, constraint):
        w = self.add_weight(name, shape, initializer, regularizer=regularizer, constraint=constraint)
        w.path = f"{self.name}/{self.cell_name}/{name}"
        return w

    def _bias_shape(self):
        return (self.gates * self.units,)

    # -- calling -----------------------------------------------------------------------------
    def call(self, sequences, initial_state=None, mask=None, training=None):
        self._check_shape(tuple(sequences.shape))
        n, t = sequences.shape[0], sequences.shape[1]
        mask = self._check_mask(mask, n, t)
        states = self._initial_states(initial_state, sequences)
        x = sequences
        if training and self.dropout > 0:
            x = x * self._dropout_mask((n, 1, sequences.shape[2]), self.dropout, x)
        rec_mask = None
        if training and self.recurrent_dropout > 0:
            rec_mask = self._dropout_mask((n, self.units), self.recurrent_dropout, x)
        zero_output = self.zero_output_for_mask and mask is not None
        seq, *final = self._scan(x, states, mask, rec_mask, zero_output)
        if self.return_sequences:
            output = seq
        else:
            output = seq[:, -1] if zero_output else final[0]
        if self.return_state:
            return (output, *final)
        return output

    def _common(self, mask, rec_mask, zero_output):
        """Keyword arguments every scan op takes."""
        return {"mask": mask, "go_backwards": self.go_backwards, "activation": _name(self.activation),
                "zero_output_for_mask": zero_output, "recurrent_dropout_mask": rec_mask}

    def compute_mask(self, inputs, mask=None):
        mask = flatten(mask)[0] if mask is not None else None
        output_mask = mask if self.return_sequences else None
        if self.return_state:
            return [output_mask] + [None] * self.n_states
        return output_mask

    def compute_output_spec(self, sequences, initial_state=None, mask=None, training=None, **kwargs):
        shape = tuple(sequences.shape)
        self._check_shape(shape)
        out = KerasTensor(shape[:2] + (self.units,) if self.return_sequences else (shape[0], self.units), self.dtype)
        if self.return_state:
            return (out,) + tuple(KerasTensor((shape[0], self.units), self.dtype) for _ in range(self.n_states))
        return out

    # -- checks and pieces -------------------------------------------------------------------
    def _where(self):
        return f"{type(self).__name__} '{self.name}'"

    def _check_shape(self, shape):
        if len(shape) != 3:
            raise ValueError(f"{self._where()} expects input of shape (batch, timesteps, features), got shape "
                             f"{tuple(shape)}; give each sample a time axis (e.g. Reshape((timesteps, features)))")
        features = getattr(self, "_features", None)
        if features is not None and shape[2] is not None and shape[2] != features:
            raise ValueError(f"{self._where()} was built for {features} features per step, got input of shape "
                             f"{tuple(shape)}")

    def _check_mask(self, mask, n, t):
        if mask is None:
            return None
        m = flatten(mask)[0] if isinstance(mask, (list, tuple)) else mask
        if m is None:
            return None
        m = m.data if isinstance(m, Tensor) else m
        xp = backend.array_module(m)
        m = xp.asarray(m)
        if m.ndim == 3 and m.shape[2] == 1:
            m = m[:, :, 0]
        if m.shape != (n, t):
            raise ValueError(f"{self._where()} got a mask of shape {tuple(m.shape)} for input with (batch, timesteps)"
                             f" = {(n, t)}: the mask must be (batch, timesteps)")
        return m.astype(bool)

    def _initial_states(self, initial_state, sequences):
        n = sequences.shape[0]
        xp = backend.array_module(sequences.data)
        if initial_state is None:
            zeros = Tensor._wrap(xp.zeros((n, self.units), sequences.dtype), False)
            return [zeros] * self.n_states
        states = list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state]
        names = "[h, c]" if self.n_states == 2 else "[h]"
        if len(states) != self.n_states:
            raise ValueError(f"{self._where()} expects initial_state as a list of {self.n_states} tensor(s) {names}, "
                             f"got {len(states)}")
        out = []
        for s in states:
            s = s if isinstance(s, Tensor) else Tensor(s, dtype=sequences.dtype, device=sequences.device)
            if tuple(s.shape) != (n, self.units):
                raise ValueError(f"{self._where()} expects each initial state of shape (batch, units) = "
                                 f"{(n, self.units)}, got {tuple(s.shape)}")
            out.append(s.astype(sequences.dtype) if s.dtype != sequences.dtype else s)
        return out

    def _dropout_mask(self, shape, rate, like):
        """Inverted-dropout scale, one draw per sequence (shared by every step), from tinydl's generator,
        on the device of Tensor `like`."""
        keep = backend.rng().random(shape) >= rate
        scale = (keep / (1.0 - rate)).astype(like.dtype)
        return Tensor._wrap(backend.to_device(scale, backend.device_of(like.data)), False)

    # -- config ------------------------------------------------------------------------------
    def get_config(self):
        config = {**super().get_config(), "units": self.units, "activation": activations.serialize(self.activation)}
        if self.gates > 1:
            config["recurrent_activation"] = activations.serialize(self.recurrent_activation)
        config.update({
            "use_bias": self.use_bias, "kernel_initializer": serialize(self.kernel_initializer),
            "recurrent_initializer": serialize(self.recurrent_initializer),
            "bias_initializer": serialize(self.bias_initializer),
            "kernel_regularizer": serialize(self.kernel_regularizer),
            "recurrent_regularizer": serialize(self.recurrent_regularizer),
            "bias_regularizer": serialize(self.bias_regularizer),
            "activity_regularizer": serialize(self.activity_regularizer),
            "kernel_constraint": serialize(self.kernel_constraint),
            "recurrent_constraint": serialize(self.recurrent_constraint),
            "bias_constraint": serialize(self.bias_constraint),
            "dropout": self.dropout, "recurrent_dropout": self.recurrent_dropout, "seed": self.seed,
            "return_sequences": self.return_sequences, "return_state": self.return_state,
            "go_backwards": self.go_backwards, "stateful": self.stateful, "unroll": self.unroll,
            "zero_output_for_mask": self.zero_output_for_mask,
        })
        return config


class SimpleRNN(_Recurrent):
    """Fully connected RNN: `h_t = activation(x_t @ kernel + h_{t-1} @ recurrent_kernel + bias)`."""

    def __init__(self, units, activation="tanh", **kwargs):
        if "recurrent_activation" in kwargs:  # Keras's SimpleRNN has no gates, and refuses it too
            raise TypeError("SimpleRNN has no gates, so no recurrent_activation; got "
                            f"recurrent_activation={kwargs['recurrent_activation']!r}")
        super().__init__(units, activation=activation, **kwargs)

    def get_config(self):
        config = super().get_config()
        del config["seed"]  # Keras's SimpleRNN has no seed key
        return config

    def _scan(self, x, states, mask, rec_mask, zero_output):
        return ops.simple_rnn(x, states[0], self.kernel, self.recurrent_kernel, self.bias,
                              **self._common(mask, rec_mask, zero_output))


class LSTM(_Recurrent):
    """Long short-term memory (Hochreiter 1997), gates i, f, c, o in Keras's layout.

    `unit_forget_bias=True` (default) starts the forget gate's bias at one. `return_state=True`
    returns `(output, h, c)`; `initial_state=[h, c]` on call starts from given states.
    """

    gates = 4
    n_states = 2
    cell_name = "lstm_cell"

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", unit_forget_bias=True,
                 implementation=2, use_cudnn="auto", **kwargs):
        super().__init__(units, activation=activation, recurrent_activation=recurrent_activation, **kwargs)
        self.unit_forget_bias = bool(unit_forget_bias)

    def build(self, input_shape):
        super().build(input_shape)
        if self.use_bias and self.unit_forget_bias:
            init = initializers.get(self.bias_initializer)
            u, dtype = self.units, np.dtype(self.dtype)
            value = np.concatenate([np.asarray(init((u,), dtype=dtype)), np.ones(u, dtype),
                                    np.asarray(init((2 * u,), dtype=dtype))]).astype(dtype)
            self.bias.assign(value)

    def _scan(self, x, states, mask, rec_mask, zero_output):
        return ops.lstm(x, states[0], states[1], self.kernel, self.recurrent_kernel, self.bias,
                        recurrent_activation=_name(self.recurrent_activation),
                        **self._common(mask, rec_mask, zero_output))

    def get_config(self):
        config = super().get_config()
        config["unit_forget_bias"] = self.unit_forget_bias
        return config


class GRU(_Recurrent):
    """Gated recurrent unit, gates z, r, h in Keras's layout: `h = z * h_prev + (1 - z) * hh`.

    `reset_after=True` (default, Keras 3 and cuDNN) applies the reset gate after the recurrent matmul
    and keeps two biases, shape (2, 3*units); `reset_after=False` applies it before, bias (3*units,).
    """

    gates = 3
    cell_name = "gru_cell"

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", reset_after=True,
                 implementation=2, use_cudnn="auto", **kwargs):
        super().__init__(units, activation=activation, recurrent_activation=recurrent_activation, **kwargs)
        self.reset_after = bool(reset_after)

    def _bias_shape(self):
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def _scan(self, x, states, mask, rec_mask, zero_output):
        return ops.gru(x, states[0], self.kernel, self.recurrent_kernel, self.bias,
                       recurrent_activation=_name(self.recurrent_activation), reset_after=self.reset_after,
                       **self._common(mask, rec_mask, zero_output))

    def get_config(self):
        config = super().get_config()
        config["reset_after"] = self.reset_after
        return config


# -- wrappers --------------------------------------------------------------------------------------

class Wrapper(Layer):
    """A layer that wraps another (its weights are the inner layer's)."""

    def __init__(self, layer, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(layer, Layer):
            raise TypeError(f"{type(self).__name__} '{self.name}' wraps a Layer, got {type(layer).__name__}")
        self.layer = layer

    def get_config(self):
        return {**super().get_config(), "layer": serialize(self.layer)}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["layer"] = deserialize(config["layer"])
        return super().from_config(config)


class Bidirectional(Wrapper):
    """Runs a recurrent layer forwards and a copy backwards, and merges the two outputs.

    merge_mode 'concat' (default), 'sum', 'mul', 'ave' or None (a list of both). Weights: the forward
    layer's, then the backward layer's (`forward_lstm/...`, `backward_lstm/...`), as Keras. With
    return_state the states come forward first: (output, h_fw, c_fw, h_bw, c_bw).
    """

    supports_masking = True

    def __init__(self, layer, merge_mode="concat", weights=None, backward_layer=None, **kwargs):
        if merge_mode not in ("concat", "sum", "mul", "ave", None):
            raise ValueError(f"Bidirectional: merge_mode must be 'concat', 'sum', 'mul', 'ave' or None, "
                             f"got {merge_mode!r}")
        if not isinstance(layer, _Recurrent):
            raise TypeError(f"Bidirectional wraps a recurrent layer (SimpleRNN, LSTM, GRU), got "
                            f"{type(layer).__name__}")
        super().__init__(layer, **kwargs)
        self.forward_layer = _copy_layer(layer, "forward_" + _strip(layer.name, "forward_"))
        if backward_layer is None:
            self.backward_layer = _copy_layer(layer, "backward_" + _strip(layer.name, "backward_"),
                                              go_backwards=not layer.go_backwards)
        else:
            if not isinstance(backward_layer, _Recurrent):
                raise TypeError(f"Bidirectional '{self.name}': backward_layer must be a recurrent layer, got "
                                f"{type(backward_layer).__name__}")
            self._check_pair(layer, backward_layer)
            self.backward_layer = backward_layer
        self._layers = [self.forward_layer, self.backward_layer]
        self.merge_mode = merge_mode
        self.return_sequences = layer.return_sequences
        self.return_state = layer.return_state
        for sub in (self.forward_layer, self.backward_layer):
            sub.zero_output_for_mask = sub.return_sequences
        self._initial_weights = weights

    def _check_pair(self, forward, backward):
        if backward.go_backwards == forward.go_backwards:
            raise ValueError(f"Bidirectional '{self.name}': backward_layer.go_backwards must be the opposite of "
                             f"layer.go_backwards ({forward.go_backwards})")
        for attr in ("return_sequences", "return_state"):
            if getattr(forward, attr) != getattr(backward, attr):
                raise ValueError(f"Bidirectional '{self.name}': forward and backward layers need the same "
                                 f"{attr}")

    def build(self, input_shape):
        with_time = tuple(input_shape)
        self.forward_layer.build(with_time)
        self.backward_layer.build(with_time)
        if self._initial_weights is not None:
            self.set_weights(self._initial_weights)
            self._initial_weights = None

    def call(self, sequences, initial_state=None, mask=None, training=None):
        fw_state = bw_state = None
        if initial_state is not None:
            states = list(initial_state)
            if len(states) % 2:
                raise ValueError(f"Bidirectional '{self.name}' expects an even number of initial states "
                                 f"(forward's then backward's), got {len(states)}")
            half = len(states) // 2
            fw_state, bw_state = states[:half], states[half:]
        y = self.forward_layer(sequences, initial_state=fw_state, mask=mask, training=training)
        y_rev = self.backward_layer(sequences, initial_state=bw_state, mask=mask, training=training)
        states = ()
        if self.return_state:
            states = tuple(y[1:]) + tuple(y_rev[1:])
            y, y_rev = y[0], y_rev[0]
        if self.return_sequences:
            y_rev = ops.flip(y_rev, axis=1)
        if self.merge_mode == "concat":
            output = ops.concatenate([y, y_rev], axis=-1)
        elif self.merge_mode == "sum":
            output = y + y_rev
        elif self.merge_mode == "ave":
            output = (y + y_rev) * 0.5
        elif self.merge_mode == "mul":
            output = y * y_rev
        else:
            output = (y, y_rev)
        if self.return_state:
            return (output if self.merge_mode is None else (output,)) + states
        return output

    def compute_mask(self, inputs, mask=None):
        mask = flatten(mask)[0] if isinstance(mask, (list, tuple)) else mask
        if self.return_sequences:
            output_mask = (mask, mask) if self.merge_mode is None else mask
        else:
            output_mask = (None, None) if self.merge_mode is None else None
        if self.return_state:
            n = self.forward_layer.n_states * 2
            head = list(output_mask) if isinstance(output_mask, tuple) else [output_mask]
            return head + [None] * n
        return output_mask

    def get_config(self):
        config = {**Layer.get_config(self), "merge_mode": self.merge_mode, "layer": serialize(self.forward_layer),
                  "backward_layer": serialize(self.backward_layer)}
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["layer"] = deserialize(config["layer"])
        if config.get("backward_layer") is not None:
            config["backward_layer"] = deserialize(config["backward_layer"])
        return Layer.from_config.__func__(cls, config)


class TimeDistributed(Wrapper):
    """Applies a layer to every time step: input (batch, time, ...) -> layer on (batch*time, ...) -> back."""

    supports_masking = True

    def build(self, input_shape):
        if len(input_shape) < 3:
            raise ValueError(f"TimeDistributed '{self.name}' expects input of at least 3 dimensions (batch, time, "
                             f"...), got shape {tuple(input_shape)}")
        inner = (None if input_shape[0] is None or input_shape[1] is None else input_shape[0] * input_shape[1],)
        self.layer.build(inner + tuple(input_shape[2:]))
        self.layer.built = True
        self.layer._build_shapes = inner + tuple(input_shape[2:])

    def call(self, inputs, training=None, mask=None):
        if inputs.ndim < 3:
            raise ValueError(f"TimeDistributed '{self.name}' expects input of at least 3 dimensions (batch, time, "
                             f"...), got shape {tuple(inputs.shape)}")
        n, t = inputs.shape[0], inputs.shape[1]
        flat = ops.reshape(inputs, (n * t,) + tuple(inputs.shape[2:]))
        kwargs = {}
        accepted = call_args(type(self.layer))
        if "training" in accepted:
            kwargs["training"] = training
        if "mask" in accepted and mask is not None:
            m = mask.data if isinstance(mask, Tensor) else mask
            kwargs["mask"] = m.reshape((n * t,) + tuple(m.shape[2:]))
        out = self.layer(flat, **kwargs)
        return ops.reshape(out, (n, t) + tuple(out.shape[1:]))


class Masking(Layer):
    """Masks time steps whose features all equal `mask_value`: they are zeroed and skipped downstream."""

    supports_masking = True

    def __init__(self, mask_value=0.0, **kwargs):
        super().__init__(**kwargs)
        self.mask_value = mask_value

    def call(self, inputs):
        keep = self._keep(inputs)
        return inputs * Tensor._wrap(keep[..., None].astype(inputs.dtype), False)

    def compute_mask(self, inputs, mask=None):
        return self._keep(inputs)

    def _keep(self, inputs):
        data = inputs.data if isinstance(inputs, Tensor) else inputs
        return backend.array_module(data).any(data != self.mask_value, axis=-1)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "mask_value": self.mask_value}


# -- helpers ---------------------------------------------------------------------------------------

def _name(activation):
    """A built-in activation as its name (the fused kernels know names), anything else as itself."""
    try:
        name = activations.serialize(activation)
    except TypeError:  # an unregistered callable: the step-by-step path calls it
        return activation
    return name if isinstance(name, str) else activation


def _maybe_deserialize(value):
    return deserialize(value) if isinstance(value, dict) else value


def _strip(name, prefix):
    return name[len(prefix):] if name.startswith(prefix) else name


def _copy_layer(layer, name, **changes):
    """A fresh layer with `layer`'s config, a new name and `changes` (Keras rebuilds wrapped layers so)."""
    config = serialize(layer)
    config["config"] = {**config["config"], "name": name, **changes}
    return deserialize(config)
