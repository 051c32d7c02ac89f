"""Convolutional LSTMs (Keras 3's ConvLSTM1D, ConvLSTM2D, ConvLSTM3D): an LSTM whose products are convolutions.

    y = ConvLSTM2D(16, 3, padding="same", return_sequences=True)(frames)   # (batch, time, h, w, channels)

Gates i, f, c, o as Keras: `x_g = conv(x_t, kernel_g) + bias_g` (the layer's strides, padding, dilation),
`h_g = conv(h_{t-1}, recurrent_kernel_g)` (stride 1, 'same'); `c = f*c + i*act(x_c + h_c)`, `h = o*act(c)`.
Weights `kernel` (k..., in, 4*filters), `recurrent_kernel` (k..., filters, 4*filters), `bias` (4*filters,),
paths `conv_lstm2d/conv_lstm_cell/...`. The input convolution of every step runs as one batched convolution
(the im2col/GEMM path); the recurrent one runs per step. ONNX export unrolls the frames (tinydl.io.onnx_recurrent).
"""
import numpy as np

from tinydl import activations, backend, ops
from tinydl.io.config import serialize
from tinydl.layers.base import KerasTensor, Layer, flatten
from tinydl.layers.cells import check_dropout_rates, dropout_rng, set_weight_options
from tinydl.ops.convolution import conv_output_length
from tinydl.ops.volumetric import conv3d
from tinydl.tensor import Tensor

__all__ = ["ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D"]


class _ConvLSTM(Layer):
    """What ConvLSTM1D/2D/3D share; `rank` is the number of spatial axes."""

    rank = 2
    supports_masking = True

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1,
                 activation="tanh", recurrent_activation="sigmoid", use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros", unit_forget_bias=True,
                 kernel_regularizer=None, recurrent_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, recurrent_constraint=None, bias_constraint=None, dropout=0.0,
                 recurrent_dropout=0.0, seed=None, return_sequences=False, return_state=False, go_backwards=False,
                 stateful=False, unroll=False, zero_output_for_mask=False, **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        where = f"{type(self).__name__} '{self.name}'"
        if isinstance(filters, bool) or int(filters) != filters or filters <= 0:
            raise ValueError(f"{where} needs a positive integer filters, got {filters!r}")
        if data_format not in (None, "channels_last", "channels_first"):
            raise ValueError(f"{where}: data_format must be 'channels_last' or 'channels_first', got {data_format!r}")
        if str(padding).lower() not in ("valid", "same"):
            raise ValueError(f"{where}: padding must be 'valid' or 'same', got {padding!r}")
        if stateful:
            raise NotImplementedError(f"{where}: stateful=True is not supported")
        check_dropout_rates(where, dropout, recurrent_dropout)
        self.filters = int(filters)
        self.kernel_size = _ints(kernel_size, self.rank, "kernel_size", where)
        self.strides = _ints(strides, self.rank, "strides", where)
        self.dilation_rate = _ints(dilation_rate, self.rank, "dilation_rate", where)
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(f"{where}: strides {self.strides} > 1 with dilation_rate {self.dilation_rate} > 1 is "
                             "not supported")
        self.padding, self.data_format = str(padding).lower(), data_format or "channels_last"
        self.activation = activations.get(activation)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.use_bias, self.unit_forget_bias = bool(use_bias), bool(unit_forget_bias)
        set_weight_options(self, kernel_initializer, recurrent_initializer, bias_initializer, kernel_regularizer,
                           recurrent_regularizer, bias_regularizer, kernel_constraint, recurrent_constraint,
                           bias_constraint)
        self.dropout, self.recurrent_dropout, self.seed = float(dropout), float(recurrent_dropout), seed
        self._rng = dropout_rng(seed)
        self.return_sequences, self.return_state = bool(return_sequences), bool(return_state)
        self.go_backwards, self.stateful, self.unroll = bool(go_backwards), False, bool(unroll)
        self.zero_output_for_mask = bool(zero_output_for_mask)

    # -- weights -----------------------------------------------------------------------------
    def build(self, input_shape):
        if len(input_shape) != self.rank + 3:
            raise ValueError(f"{type(self).__name__} '{self.name}' expects input of rank {self.rank + 3} (batch, "
                             f"time, {'spatial..., ' if self.rank > 1 else 'steps, '}channels), got "
                             f"{tuple(input_shape)}")
        channels = input_shape[2] if self.data_format == "channels_first" else input_shape[-1]
        if channels is None:
            raise ValueError(f"{type(self).__name__} '{self.name}' needs a known channel dimension, got "
                             f"{tuple(input_shape)}")
        width = 4 * self.filters
        self.kernel = self._weight("kernel", self.kernel_size + (channels, width), self.kernel_initializer,
                                   self.kernel_regularizer, self.kernel_constraint)
        self.recurrent_kernel = self._weight("recurrent_kernel", self.kernel_size + (self.filters, width),
                                             self.recurrent_initializer, self.recurrent_regularizer,
                                             self.recurrent_constraint)
        self.bias = self._weight("bias", (width,), self._bias_init(), self.bias_regularizer,
                                 self.bias_constraint) if self.use_bias else None

    def _weight(self, name, shape, initializer, regularizer, constraint):
        w = self.add_weight(name, shape, initializer, regularizer=regularizer, constraint=constraint)
        w.path = f"{self.name}/conv_lstm_cell/{name}"
        return w

    def _bias_init(self):
        if not self.unit_forget_bias:
            return self.bias_initializer
        init, f = self.bias_initializer, self.filters

        def forget_ones(shape, dtype=None):
            dtype = np.dtype(dtype or self.dtype)
            return np.concatenate([np.asarray(init((f,), dtype=dtype)), np.ones(f, dtype),
                                   np.asarray(init((2 * f,), dtype=dtype))]).astype(dtype)
        return forget_ones

    # -- calling -----------------------------------------------------------------------------
    def call(self, sequences, initial_state=None, mask=None, training=None):
        if self.data_format == "channels_first":  # (N, T, C, spatial...) -> channels-last
            sequences = ops.transpose(sequences, (0, 1, *range(3, self.rank + 3), 2))
        n, t = sequences.shape[0], sequences.shape[1]
        mask = _time_mask(mask, n, t, self)
        x_gates = self._input_gates(sequences, training)  # (N, T, out spatial..., 4f)
        h, c = self._initial_states(initial_state, x_gates)
        rec_masks = self._dropout_masks(tuple(h.shape), self.recurrent_dropout, h) if training else None
        outputs, previous = [], None
        for i in (range(t - 1, -1, -1) if self.go_backwards else range(t)):
            h_new, c_new = self._step(x_gates[:, i], h, c, rec_masks)
            out = h_new
            if mask is not None:
                keep = Tensor._wrap(mask[:, i].reshape((n,) + (1,) * (self.rank + 1)).astype(h.dtype), False)
                h_new, c_new = keep * h_new + (1 - keep) * h, keep * c_new + (1 - keep) * c
                fallback = out * 0.0 if previous is None or self.zero_output_for_mask else previous
                out = keep * out + (1 - keep) * fallback
            h, c, previous = h_new, c_new, out
            outputs.append(out)
        output = ops.stack(outputs, axis=1) if self.return_sequences else outputs[-1]
        output, h, c = (self._first(v, time=v is output and self.return_sequences) for v in (output, h, c))
        return (output, h, c) if self.return_state else output

    def _input_gates(self, x, training):
        """conv(x_t, kernel) + bias for every step at once: (N, T, out spatial..., 4*filters)."""
        n, t = x.shape[0], x.shape[1]
        flat = ops.reshape(x, (n * t,) + tuple(x.shape[2:]))
        if training and self.dropout > 0:  # one mask per gate and sequence, shared by the steps (Keras)
            masks = self._dropout_masks((n, 1) + tuple(x.shape[2:]), self.dropout, x)
            f = self.filters
            gates = [self._conv(ops.reshape(x * m, flat.shape), self.kernel[..., g * f:(g + 1) * f], self.strides,
                                self.padding, self.dilation_rate) for g, m in enumerate(masks)]
            y = ops.concatenate(gates, axis=-1)
        else:
            y = self._conv(flat, self.kernel, self.strides, self.padding, self.dilation_rate)
        if self.use_bias:
            y = y + self.bias
        return ops.reshape(y, (n, t) + tuple(y.shape[1:]))

    def _step(self, xg, h, c, rec_masks):
        """One LSTM step from the input gates `xg` and the previous states."""
        f = self.filters
        if rec_masks is None:
            hg = self._conv(h, self.recurrent_kernel, 1, "same", 1)
        else:
            hg = ops.concatenate([self._conv(h * m, self.recurrent_kernel[..., g * f:(g + 1) * f], 1, "same", 1)
                                  for g, m in enumerate(rec_masks)], axis=-1)
        z = xg + hg
        i = self.recurrent_activation(z[..., :f])
        forget = self.recurrent_activation(z[..., f:2 * f])
        c = forget * c + i * self.activation(z[..., 2 * f:3 * f])
        o = self.recurrent_activation(z[..., 3 * f:])
        return o * self.activation(c), c

    def _conv(self, x, kernel, strides, padding, dilation):
        if self.rank == 3:
            return conv3d(x, kernel, strides=strides, padding=padding, dilation_rate=dilation)
        return ops.conv(x, kernel, strides=strides, padding=padding, dilation_rate=dilation)

    def _initial_states(self, initial_state, x_gates):
        shape = tuple(x_gates.shape[:1]) + tuple(x_gates.shape[2:-1]) + (self.filters,)
        if initial_state is None:
            xp = backend.array_module(x_gates.data)
            zeros = Tensor._wrap(xp.zeros(shape, x_gates.dtype), False)
            return zeros, zeros
        states = list(flatten(initial_state))
        if len(states) != 2:
            raise ValueError(f"{type(self).__name__} '{self.name}' expects initial_state as [h, c], got "
                             f"{len(states)} tensor(s)")
        states = [s if isinstance(s, Tensor) else Tensor(np.asarray(s, dtype=x_gates.dtype)) for s in states]
        if self.data_format == "channels_first":
            states = [ops.transpose(s, (0, *range(2, self.rank + 2), 1)) for s in states]
        for s in states:
            if tuple(s.shape) != shape:
                raise ValueError(f"{type(self).__name__} '{self.name}' expects initial states of shape {shape} "
                                 f"(channels-last), got {tuple(s.shape)}")
        return states[0], states[1]

    def _dropout_masks(self, shape, rate, like):
        """Four inverted-dropout masks (one per gate), or None when the rate is 0."""
        if rate == 0:
            return None
        masks = []
        for _ in range(4):
            keep = self._rng().random(shape) >= rate
            scale = (keep / (1.0 - rate)).astype(like.dtype)
            masks.append(Tensor._wrap(backend.to_device(scale, backend.device_of(like.data)), False))
        return masks

    def _first(self, v, time=False):
        """A channels-last result in the layer's data_format."""
        if self.data_format != "channels_first":
            return v
        lead = 2 if time else 1
        return ops.transpose(v, (*range(lead), v.ndim - 1, *range(lead, v.ndim - 1)))

    def compute_output_shape(self, input_shape):
        first = self.data_format == "channels_first"
        spatial = input_shape[3:] if first else input_shape[2:-1]
        out = tuple(conv_output_length(s, k, st, d, self.padding) for s, k, st, d in
                    zip(spatial, self.kernel_size, self.strides, self.dilation_rate))
        state = (input_shape[0], self.filters) + out if first else (input_shape[0],) + out + (self.filters,)
        output = state[:1] + (input_shape[1],) + state[1:] if self.return_sequences else state
        return (output, state, state) if self.return_state else output

    def compute_output_spec(self, sequences, initial_state=None, mask=None, training=None, **kwargs):
        shapes = self.compute_output_shape(tuple(sequences.shape))
        if self.return_state:
            return tuple(KerasTensor(shape, self.dtype) for shape in shapes)
        return KerasTensor(shapes, self.dtype)

    def compute_mask(self, inputs, mask=None):
        mask = flatten(mask)[0] if mask is not None else None
        output_mask = mask if self.return_sequences else None
        return [output_mask, None, None] if self.return_state else output_mask

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "strides": self.strides, "padding": self.padding, "data_format": self.data_format,
                "dilation_rate": self.dilation_rate, "activation": activations.serialize(self.activation),
                "recurrent_activation": activations.serialize(self.recurrent_activation),
                "use_bias": self.use_bias, "kernel_initializer": serialize(self.kernel_initializer),
                "recurrent_initializer": serialize(self.recurrent_initializer),
                "bias_initializer": serialize(self.bias_initializer), "unit_forget_bias": self.unit_forget_bias,
                "kernel_regularizer": serialize(self.kernel_regularizer),
                "recurrent_regularizer": serialize(self.recurrent_regularizer),
                "bias_regularizer": serialize(self.bias_regularizer),
                "activity_regularizer": serialize(self.activity_regularizer),
                "kernel_constraint": serialize(self.kernel_constraint),
                "recurrent_constraint": serialize(self.recurrent_constraint),
                "bias_constraint": serialize(self.bias_constraint), "dropout": self.dropout,
                "recurrent_dropout": self.recurrent_dropout, "seed": self.seed,
                "return_sequences": self.return_sequences, "return_state": self.return_state,
                "go_backwards": self.go_backwards, "stateful": self.stateful, "unroll": self.unroll,
                "zero_output_for_mask": self.zero_output_for_mask}


class ConvLSTM1D(_ConvLSTM):
    """Convolutional LSTM over (batch, time, steps, channels)."""

    rank = 1


class ConvLSTM2D(_ConvLSTM):
    """Convolutional LSTM over (batch, time, height, width, channels)."""

    rank = 2


class ConvLSTM3D(_ConvLSTM):
    """Convolutional LSTM over (batch, time, depth, height, width, channels)."""

    rank = 3


def _ints(value, rank, what, where):
    try:
        values = (int(value),) * rank if isinstance(value, int) else tuple(int(v) for v in value)
    except (TypeError, ValueError):
        values = ()
    if len(values) != rank or min(values) < 1:
        raise ValueError(f"{where}: {what} must be an int or {rank} positive ints, got {value!r}")
    return values


def _time_mask(mask, n, t, layer):
    """The (batch, time) bool mask as a raw array, or None."""
    m = flatten(mask)[0] if isinstance(mask, (list, tuple)) else mask
    if m is None:
        return None
    m = m.data if isinstance(m, Tensor) else m
    m = backend.array_module(m).asarray(m)
    if tuple(m.shape) != (n, t):
        raise ValueError(f"{type(layer).__name__} '{layer.name}' got a mask of shape {tuple(m.shape)} for input with "
                         f"(batch, time) = {(n, t)}")
    return m.astype(bool)
