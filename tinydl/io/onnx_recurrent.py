"""ONNX converters of the recurrent layers: SimpleRNN, LSTM, GRU as ONNX RNN/LSTM/GRU nodes, Bidirectional,
TimeDistributed and Masking.

onnxruntime's CPU kernels reject `layout=1`, so sequences are transposed to time-major around each node.
Keras's LSTM gates i, f, c, o become ONNX's i, o, f, c; GRU's z, r, h are ONNX's order and
`reset_after=True` is `linear_before_reset=1`. `go_backwards` reverses the input along time and runs
forwards, which gives Keras's reversed output order. Masked sequences (Masking, Embedding(mask_zero), or a
`mask=` graph tensor) cannot use those nodes (ONNX knows only per-sample lengths, Keras skips any masked step),
so a masked layer is unrolled into one small step graph per time step (the length must be fixed).
"""
import types

import numpy as np

from tinydl import layers as L
from tinydl.io.onnx import OnnxExportError, converter_for, onnx_converter
from tinydl.io.onnx_converters import tensor_value
from tinydl.layers.base import KerasTensor

_INT_MIN = np.iinfo(np.int64).min

_ONNX_ACTIVATIONS = {"tanh": ("Tanh", None, None), "sigmoid": ("Sigmoid", None, None), "relu": ("Relu", None, None),
                     "hard_sigmoid": ("HardSigmoid", 1.0 / 6, 0.5), "linear": ("Affine", 1.0, 0.0),
                     "softplus": ("Softplus", None, None), "softsign": ("Softsign", None, None),
                     "elu": ("Elu", 1.0, None)}


@onnx_converter(L.SimpleRNN, L.LSTM, L.GRU)
def _recurrent(ctx, layer, node, inputs):
    mask = _input_mask(ctx, layer, node)
    inputs = inputs[:1] + _initial_states(ctx, node)  # inputs[1:] may hold a mask= graph tensor too
    seq, states = _scan(ctx, layer, inputs[0], inputs[1:]) if mask is None else \
        _unrolled(ctx, layer, inputs[0], inputs[1:], mask, node.input_tensors[0].shape)
    out = seq if layer.return_sequences else states[0]
    return [out] + states if layer.return_state else out


@onnx_converter(L.Bidirectional)
def _bidirectional(ctx, layer, node, inputs):
    mask = _input_mask(ctx, layer, node)
    inputs = inputs[:1] + _initial_states(ctx, node)
    init = inputs[1:]
    half = len(init) // 2
    if mask is None:
        fw_seq, fw_states = _scan(ctx, layer.forward_layer, inputs[0], init[:half])
        bw_seq, bw_states = _scan(ctx, layer.backward_layer, inputs[0], init[half:])
    else:
        shape = node.input_tensors[0].shape
        fw_seq, fw_states = _unrolled(ctx, layer.forward_layer, inputs[0], init[:half], mask, shape)
        bw_seq, bw_states = _unrolled(ctx, layer.backward_layer, inputs[0], init[half:], mask, shape)
    if layer.return_sequences:
        y, y_rev = fw_seq, _reverse_time(ctx, bw_seq, axis=1)
    else:
        y, y_rev = fw_states[0], bw_states[0]
    mode = layer.merge_mode
    if mode == "concat":
        out = [ctx.op("Concat", [y, y_rev], axis=-1)]
    elif mode == "sum":
        out = [ctx.op("Add", [y, y_rev])]
    elif mode == "mul":
        out = [ctx.op("Mul", [y, y_rev])]
    elif mode == "ave":
        out = [ctx.op("Mul", [ctx.op("Add", [y, y_rev]), ctx.const(np.float32(0.5))])]
    else:
        out = [y, y_rev]
    if layer.return_state:
        out += fw_states + bw_states
    return out if len(out) > 1 else out[0]


@onnx_converter(L.TimeDistributed)
def _time_distributed(ctx, layer, node, inputs):
    x = inputs[0]
    in_shape = node.input_tensors[0].shape
    out_shape = node.output_tensors[0].shape
    flat = ctx.reshape(x, [-1] + [int(d) for d in in_shape[2:]])
    inner_node = types.SimpleNamespace(
        input_tensors=[KerasTensor((None,) + tuple(in_shape[2:]), node.input_tensors[0].dtype)],
        output_tensors=[KerasTensor((None,) + tuple(out_shape[2:]), node.output_tensors[0].dtype)],
        args=(), kwargs={}, layer=layer.layer)
    converter = converter_for(type(layer.layer))
    if converter is None:
        raise OnnxExportError(f"ONNX export: TimeDistributed '{layer.name}' wraps {type(layer.layer).__name__}, "
                              "which has no ONNX converter")
    y = converter(ctx, layer.layer, inner_node, [flat])
    y = y if isinstance(y, str) else y[0]
    lead = ctx.op("Slice", [ctx.op("Shape", [x]), ctx.ints([0], "starts"), ctx.ints([2], "ends")])
    shape = ctx.op("Concat", [lead, ctx.ints([int(d) for d in out_shape[2:]])], axis=0)
    return ctx.op("Reshape", [y, shape])


@onnx_converter(L.Masking)
def _masking(ctx, layer, node, inputs):
    x = inputs[0]
    differs = ctx.op("Not", [ctx.op("Equal", [x, ctx.const(np.float32(layer.mask_value))])])
    keep = ctx.op("Cast", [differs], to=1)  # FLOAT
    keep = ctx.reduce("ReduceMax", keep, [-1], keepdims=1)
    return ctx.op("Mul", [x, keep])


# -- pieces -------------------------------------------------------------------------------------------------------

def _initial_states(ctx, node):
    """ONNX names of the call's initial_state tensors (keyword or second positional argument), in order."""
    initial = node.kwargs.get("initial_state", node.args[1] if len(node.args) > 1 else None)
    if initial is None:
        return []
    return [ctx.name_of(t) for t in (initial if isinstance(initial, (list, tuple)) else [initial])]


def _scan(ctx, layer, x, initial):
    """One recurrent layer on (N, T, F) input `x`: (sequence (N, T, u) in Keras's order, [final states])."""
    kind = {L.LSTM: "LSTM", L.GRU: "GRU", L.SimpleRNN: "RNN"}[type(layer)]
    u = layer.units
    if layer.go_backwards:
        x = _reverse_time(ctx, x, axis=1)
    xt = ctx.transpose(x, [1, 0, 2])
    kernel, recurrent = layer.kernel.numpy(), layer.recurrent_kernel.numpy()
    bias = layer.bias.numpy() if layer.bias is not None else None
    order = [0, 3, 1, 2] if kind == "LSTM" else list(range(layer.gates))  # Keras i,f,c,o -> ONNX i,o,f,c

    def reorder(w):
        return np.concatenate([w[..., k * u:(k + 1) * u] for k in order], axis=-1)
    W = reorder(kernel).T[None]
    R = reorder(recurrent).T[None]
    width = layer.gates * u
    if bias is None:
        b_in, b_rec = np.zeros(width), np.zeros(width)
    elif kind == "GRU" and layer.reset_after:
        b_in, b_rec = bias[0], bias[1]
    else:
        b_in, b_rec = reorder(bias), np.zeros(width)
    B = np.concatenate([b_in, b_rec])[None]
    names, alphas, betas = [], [], []
    acts = [layer.recurrent_activation, layer.activation, layer.activation] if kind == "LSTM" else \
        [layer.recurrent_activation, layer.activation] if kind == "GRU" else [layer.activation]
    for fn in acts:
        name = getattr(fn, "__name__", None)
        if name not in _ONNX_ACTIVATIONS:
            raise OnnxExportError(f"ONNX export: {type(layer).__name__} '{layer.name}' uses activation {name!r}, "
                                  f"which ONNX recurrent nodes lack")
        op, alpha, beta = _ONNX_ACTIVATIONS[name]
        names.append(op)
        if alpha is not None:
            alphas.append(alpha)
        if beta is not None:
            betas.append(beta)
    args = [xt, ctx.const(W, f"{layer.name}.W"), ctx.const(R, f"{layer.name}.R"), ctx.const(B, f"{layer.name}.B"), ""]
    args += [ctx.unsqueeze(s, [0]) for s in initial]
    attrs = {"hidden_size": u, "activations": names}
    if alphas:
        attrs["activation_alpha"] = alphas
    if betas:
        attrs["activation_beta"] = betas
    if kind == "GRU":
        attrs["linear_before_reset"] = int(layer.reset_after)
    n_out = 3 if kind == "LSTM" else 2
    while args and args[-1] == "":
        args.pop()
    outs = ctx.op(kind, args, outputs=n_out, name=layer.name, **attrs)
    y = ctx.transpose(ctx.op("Squeeze", [outs[0], ctx.ints([1], "axes")]), [1, 0, 2])
    states = [ctx.op("Squeeze", [s, ctx.ints([0], "axes")]) for s in outs[1:]]
    return y, states


def _reverse_time(ctx, x, axis):
    return ctx.op("Slice", [x, ctx.ints([-1], "starts"), ctx.ints([_INT_MIN], "ends"), ctx.ints([axis], "axes"),
                            ctx.ints([-1], "steps")])


def _input_mask(ctx, layer, node):
    """The ONNX name of the (N, T) mask the layer reads (implicit, or a `mask=` graph tensor), or None."""
    given = node.kwargs.get("mask")
    if given is not None:
        if not hasattr(given, "_keras_history"):
            raise OnnxExportError(f"ONNX export: {type(layer).__name__} '{layer.name}' was called with a constant "
                                  "mask; pass it as a model input instead")
        return ctx.op("Cast", [ctx.name_of(given)], to=9)
    mask = ctx.mask_of(node.input_tensors[0]) if node.input_tensors else None
    if mask is None:
        _refuse_masks(layer, node)  # a mask the exporter did not follow: refuse rather than ignore it
    return mask


def _unrolled(ctx, layer, x, initial, mask, shape):
    """A masked recurrent layer as one unrolled step per time step: masked steps keep the state (and output
    zeros with zero_output_for_mask), as tinydl and Keras do; ONNX's RNN ops cannot skip steps."""
    steps = shape[1]
    if steps is None:
        raise OnnxExportError(f"ONNX export: masked {type(layer).__name__} '{layer.name}' needs a fixed number of "
                              "time steps (give the Input a known length)")
    kind, u = type(layer).__name__, layer.units
    if layer.go_backwards:
        x, mask = _reverse_time(ctx, x, axis=1), _reverse_time(ctx, mask, axis=1)
    bias = layer.bias.numpy() if layer.bias is not None else None
    gru_after = kind == "GRU" and layer.reset_after
    in_bias = (bias[0] if gru_after else bias) if bias is not None else None
    xw = ctx.op("MatMul", [x, ctx.const(layer.kernel.numpy(), f"{layer.name}.kernel")])
    if in_bias is not None:
        xw = ctx.op("Add", [xw, ctx.const(in_bias, f"{layer.name}.bias")])
    rec = layer.recurrent_kernel.numpy()
    rec_name = ctx.const(rec, f"{layer.name}.recurrent_kernel")
    rec_bias = ctx.const(bias[1], f"{layer.name}.recurrent_bias") if gru_after and bias is not None else None
    zeros = ctx.op("ConstantOfShape", [ctx.op("Concat", [ctx.op("Shape", [x], start=0, end=1), ctx.ints([u])], axis=0)],
                   value=tensor_value(np.array([0], np.float32)))
    h = initial[0] if initial else zeros
    c = (initial[1] if len(initial) > 1 else zeros) if kind == "LSTM" else None

    def cut(v, k):
        return ctx.op("Slice", [v, ctx.ints([k * u]), ctx.ints([(k + 1) * u]), ctx.ints([-1])])

    outputs = []
    for t in range(steps):
        xt = ctx.op("Gather", [xw, ctx.const(np.int64(t), "t")], axis=1)
        keep = ctx.unsqueeze(ctx.op("Gather", [mask, ctx.const(np.int64(t), "t")], axis=1), [1])
        if kind == "SimpleRNN":
            new_h = ctx.activation(ctx.op("Add", [xt, ctx.op("MatMul", [h, rec_name])]), layer.activation)
        elif kind == "LSTM":
            z = ctx.op("Add", [xt, ctx.op("MatMul", [h, rec_name])])
            i, f = ctx.activation(cut(z, 0), layer.recurrent_activation), ctx.activation(cut(z, 1),
                                                                                         layer.recurrent_activation)
            new_c = ctx.op("Add", [ctx.op("Mul", [f, c]), ctx.op("Mul", [i, ctx.activation(cut(z, 2),
                                                                                          layer.activation)])])
            o = ctx.activation(cut(z, 3), layer.recurrent_activation)
            new_h = ctx.op("Mul", [o, ctx.activation(new_c, layer.activation)])
            c = ctx.op("Where", [keep, new_c, c])
        else:  # GRU: z, r, h blocks
            if gru_after:
                hr = ctx.op("MatMul", [h, rec_name])
                if rec_bias is not None:
                    hr = ctx.op("Add", [hr, rec_bias])
                z = ctx.activation(ctx.op("Add", [cut(xt, 0), cut(hr, 0)]), layer.recurrent_activation)
                r = ctx.activation(ctx.op("Add", [cut(xt, 1), cut(hr, 1)]), layer.recurrent_activation)
                hh = ctx.activation(ctx.op("Add", [cut(xt, 2), ctx.op("Mul", [r, cut(hr, 2)])]), layer.activation)
            else:
                zr = ctx.op("MatMul", [h, ctx.const(rec[:, :2 * u], f"{layer.name}.recurrent_zr")])
                z = ctx.activation(ctx.op("Add", [cut(xt, 0), cut(zr, 0)]), layer.recurrent_activation)
                r = ctx.activation(ctx.op("Add", [cut(xt, 1), cut(zr, 1)]), layer.recurrent_activation)
                rh = ctx.op("MatMul", [ctx.op("Mul", [r, h]), ctx.const(rec[:, 2 * u:], f"{layer.name}.recurrent_h")])
                hh = ctx.activation(ctx.op("Add", [cut(xt, 2), rh]), layer.activation)
            one_minus = ctx.op("Sub", [ctx.const(np.float32(1)), z])
            new_h = ctx.op("Add", [ctx.op("Mul", [z, h]), ctx.op("Mul", [one_minus, hh])])
        h = ctx.op("Where", [keep, new_h, h])
        out = ctx.op("Where", [keep, new_h, zeros]) if layer.zero_output_for_mask else h
        outputs.append(ctx.unsqueeze(out, [1]))
    seq = ctx.op("Concat", outputs, axis=1) if len(outputs) > 1 else outputs[0]
    return seq, [h] + ([c] if kind == "LSTM" else [])


def _refuse_masks(layer, node):
    """Masked steps carry state in Keras; ONNX's per-sample lengths cannot say that: refuse, clearly."""
    if node.kwargs.get("mask") is not None:
        raise OnnxExportError(f"ONNX export: {type(layer).__name__} '{layer.name}' was called with a mask, which ONNX "
                              "recurrent nodes cannot express")
    seen, stack = set(), [node.input_tensors[0]] if node.input_tensors else []
    while stack:
        kt = stack.pop()
        history = getattr(kt, "_keras_history", None)
        if history is None or id(kt) in seen:
            continue
        seen.add(id(kt))
        producer = history[0]
        if isinstance(producer, L.Masking) or getattr(producer, "mask_zero", False):
            raise OnnxExportError(f"ONNX export: {type(layer).__name__} '{layer.name}' reads a masked sequence "
                                  f"(from {type(producer).__name__} '{producer.name}'); masks have no exact ONNX "
                                  "form: export a model without masking")
        if getattr(producer, "supports_masking", False):
            nodes = producer._inbound_nodes
            index = history[1]
            if index < len(nodes):
                stack.extend(nodes[index].input_tensors)


@onnx_converter(L.ConvLSTM1D, L.ConvLSTM2D, L.ConvLSTM3D)
def _conv_lstm(ctx, layer, node, inputs):
    """A ConvLSTM unrolled into one step graph per frame (ONNX's LSTM is fully connected): Conv nodes in ONNX's
    channels-first layout, masked frames keeping the states as tinydl and Keras do."""
    mask = _input_mask(ctx, layer, node)
    steps, rank, f = node.input_tensors[0].shape[1], layer.rank, layer.filters
    if steps is None:
        raise OnnxExportError(f"ONNX export: {type(layer).__name__} '{layer.name}' needs a fixed number of frames "
                              "(give the Input a known length)")
    if node.kwargs.get("initial_state") is not None or len(node.args) > 1:
        raise OnnxExportError(f"ONNX export: {type(layer).__name__} '{layer.name}' with initial_state is not "
                              "supported")
    x = inputs[0] if layer.data_format == "channels_first" else \
        ctx.transpose(inputs[0], [0, 1, rank + 2] + list(range(2, rank + 2)))
    to_onnx = (rank + 1, rank) + tuple(range(rank))  # (k..., in, out) -> (out, in, k...)
    kernel = ctx.const(np.transpose(layer.kernel.numpy(), to_onnx), f"{layer.name}.kernel")
    recurrent = ctx.const(np.transpose(layer.recurrent_kernel.numpy(), to_onnx), f"{layer.name}.recurrent_kernel")
    bias = None if layer.bias is None else \
        ctx.const(layer.bias.numpy().reshape((-1,) + (1,) * rank), f"{layer.name}.bias")
    padding = {"auto_pad": "SAME_UPPER"} if layer.padding == "same" else {"pads": [0] * (2 * rank)}
    spatial = list(range(2, rank + 2))

    def gate(z, k):
        return ctx.op("Slice", [z, ctx.ints([k * f]), ctx.ints([(k + 1) * f]), ctx.ints([1])])

    h = c = previous = None
    outputs = []
    for t in (range(steps - 1, -1, -1) if layer.go_backwards else range(steps)):
        xt = ctx.op("Gather", [x, ctx.const(np.int64(t), "t")], axis=1)
        xg = ctx.op("Conv", [xt, kernel], kernel_shape=list(layer.kernel_size), strides=list(layer.strides),
                    dilations=list(layer.dilation_rate), **padding)
        if bias is not None:
            xg = ctx.op("Add", [xg, bias])
        if h is None:
            h = c = ctx.op("Mul", [gate(xg, 0), ctx.const(np.float32(0))])
        z = ctx.op("Add", [xg, ctx.op("Conv", [h, recurrent], kernel_shape=list(layer.kernel_size),
                                              auto_pad="SAME_UPPER")])
        i, forget = ctx.activation(gate(z, 0), layer.recurrent_activation), \
            ctx.activation(gate(z, 1), layer.recurrent_activation)
        new_c = ctx.op("Add", [ctx.op("Mul", [forget, c]),
                               ctx.op("Mul", [i, ctx.activation(gate(z, 2), layer.activation)])])
        new_h = ctx.op("Mul", [ctx.activation(gate(z, 3), layer.recurrent_activation),
                               ctx.activation(new_c, layer.activation)])
        out = new_h
        if mask is not None:
            keep = ctx.unsqueeze(ctx.op("Gather", [mask, ctx.const(np.int64(t), "t")], axis=1), [1] + spatial)
            fallback = ctx.op("Mul", [new_h, ctx.const(np.float32(0))]) \
                if previous is None or layer.zero_output_for_mask else previous
            out = ctx.op("Where", [keep, new_h, fallback])
            new_h, new_c = ctx.op("Where", [keep, new_h, h]), ctx.op("Where", [keep, new_c, c])
        h, c, previous = new_h, new_c, out
        outputs.append(out)
    if layer.return_sequences:
        y = ctx.op("Concat", [ctx.unsqueeze(o, [1]) for o in outputs], axis=1)
        if layer.data_format != "channels_first":
            y = ctx.transpose(y, [0, 1] + [i + 1 for i in spatial] + [2])
    else:
        y = outputs[-1]
    if layer.data_format != "channels_first":
        last = [0] + spatial + [1]
        h, c = ctx.transpose(h, last), ctx.transpose(c, last)
        y = y if layer.return_sequences else ctx.transpose(y, last)
    return [y, h, c] if layer.return_state else y


_FUSED = {L.SimpleRNNCell: L.SimpleRNN, L.LSTMCell: L.LSTM, L.GRUCell: L.GRU}


@onnx_converter(L.RNN)
def _rnn_of_cells(ctx, layer, node, inputs):
    """RNN(cell) with Keras's cells: each cell is exactly its fused layer (SimpleRNN, LSTM, GRU), exported as
    those; a StackedRNNCells chains them (without masks or returned states). User cells have no ONNX form."""
    cells = layer.cell.cells if isinstance(layer.cell, L.StackedRNNCells) else [layer.cell]
    unknown = [type(c).__name__ for c in cells if type(c) not in _FUSED]
    if unknown:
        raise OnnxExportError(f"ONNX export: RNN '{layer.name}' runs cells {unknown}, which have no ONNX form "
                              "(Keras's SimpleRNNCell, LSTMCell, GRUCell and StackedRNNCells of them do)")
    initial = _initial_states(ctx, node)
    if len(cells) == 1:
        return _recurrent(ctx, _fused(layer, cells[0], 0, last=True), node, inputs)
    if _input_mask(ctx, layer, node) is not None or layer.return_state or initial:
        raise OnnxExportError(f"ONNX export: RNN '{layer.name}' of StackedRNNCells is exported without masks, "
                              "initial_state or return_state only")
    x = inputs[0]
    for k, cell in enumerate(cells):
        seq, states = _scan(ctx, _fused(layer, cell, k, last=k == len(cells) - 1), x, [])
        x = seq
    return seq if layer.return_sequences else states[0]


def _fused(layer, cell, index, last):
    """The fused recurrent layer computing what `cell` computes inside `layer` (position `index` of a stack)."""
    options = {"activation": cell.activation, "use_bias": cell.use_bias,
               "return_sequences": layer.return_sequences if last else True,
               "return_state": layer.return_state, "go_backwards": layer.go_backwards and index == 0,
               "zero_output_for_mask": layer.zero_output_for_mask, "name": f"{layer.name}_{cell.name}"}
    if not isinstance(cell, L.SimpleRNNCell):
        options["recurrent_activation"] = cell.recurrent_activation
    if isinstance(cell, L.GRUCell):
        options["reset_after"] = cell.reset_after
    fused = _FUSED[type(cell)](cell.units, **options)
    fused.build((None, None, cell.kernel.shape[0]))
    fused.set_weights(cell.get_weights())
    return fused
