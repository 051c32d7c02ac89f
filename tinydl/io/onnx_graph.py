"""ONNX converters of the graph layers (GCNConv, GATConv, SAGEConv, GINConv, global pools).

Message passing becomes Gather (rows of the sources) and ScatterND with reduction="add" (sums at the
targets, opset 16+), so graphs of any size and edge count go through one exported model; the node
count is read from x's shape and the graph count from the batch vector's last id.
GATConv subtracts each head's global maximum score before the softmax instead of the maximum over a
node's in-edges (ScatterElements' max needs opset 18): the result is the same unless a node's scores
sit more than ~80 below the head's maximum, where exp underflows.
"""
import numpy as np

from tinydl.io.onnx import onnx_converter
from tinydl.layers import graph as G

_FLOAT = 1  # onnx.TensorProto.FLOAT


@onnx_converter(G.GCNConv)
def _gcn(ctx, layer, node, inputs):
    x, src, dst, weight, n = _conv_inputs(ctx, inputs)
    if weight is None and (layer.add_self_loops or layer.normalize):
        weight = _fill(ctx, src, 1.0)
    if layer.add_self_loops:  # PyG's add_remaining_self_loops: an existing loop keeps its weight, once
        is_loop = ctx.op("Equal", [src, dst])
        keep = ctx.op("Squeeze", [ctx.op("NonZero", [ctx.op("Not", [is_loop])]), ctx.ints([0], "axes")])
        found = ctx.op("Squeeze", [ctx.op("NonZero", [is_loop]), ctx.ints([0], "axes")])
        loops = _range(ctx, n)
        loop_weight = ctx.op("ScatterElements", [_fill(ctx, loops, 1.0), _gather(ctx, src, found),
                                                 _gather(ctx, weight, found)], axis=0)
        src = _concat(ctx, _gather(ctx, src, keep), loops)
        dst = _concat(ctx, _gather(ctx, dst, keep), loops)
        weight = _concat(ctx, _gather(ctx, weight, keep), loop_weight)
    if layer.normalize:
        inv_sqrt = _where_positive(ctx, _scatter_add(ctx, weight, dst, _shape(ctx, n)),
                                   lambda d: ctx.op("Reciprocal", [ctx.op("Sqrt", [d])]))
        weight = ctx.op("Mul", [ctx.op("Mul", [_gather(ctx, inv_sqrt, src), weight]), _gather(ctx, inv_sqrt, dst)])
    h = ctx.op("MatMul", [x, ctx.weight(layer.kernel)])
    out = _propagate(ctx, h, src, dst, weight, _shape(ctx, n, layer.units))
    return _finish(ctx, layer, out)


@onnx_converter(G.GATConv)
def _gat(ctx, layer, node, inputs):
    x, src, dst, _, n = _conv_inputs(ctx, inputs)
    heads, units = layer.heads, layer.units
    if layer.add_self_loops:
        keep = ctx.op("Squeeze", [ctx.op("NonZero", [ctx.op("Not", [ctx.op("Equal", [src, dst])])]),
                                  ctx.ints([0], "axes")])
        loops = _range(ctx, n)
        src = _concat(ctx, _gather(ctx, src, keep), loops)
        dst = _concat(ctx, _gather(ctx, dst, keep), loops)
    h = ctx.reshape(ctx.op("MatMul", [x, ctx.weight(layer.kernel)]), [-1, heads, units])
    score_src = ctx.reduce("ReduceSum", ctx.op("Mul", [h, ctx.weight(layer.attention_source)]), [2], keepdims=0)
    score_dst = ctx.reduce("ReduceSum", ctx.op("Mul", [h, ctx.weight(layer.attention_target)]), [2], keepdims=0)
    scores = ctx.op("LeakyRelu", [ctx.op("Add", [_gather(ctx, score_src, src), _gather(ctx, score_dst, dst)])],
                    alpha=float(layer.negative_slope))
    peak = ctx.reduce("ReduceMax", scores, [0], keepdims=1)
    weights = ctx.op("Exp", [ctx.op("Sub", [scores, peak])])
    totals = _scatter_add(ctx, weights, dst, _shape(ctx, n, heads))
    alpha = ctx.op("Div", [weights, _gather(ctx, totals, dst)])
    messages = ctx.op("Mul", [_gather(ctx, h, src), ctx.unsqueeze(alpha, [2])])
    out = _scatter_add(ctx, messages, dst, _shape(ctx, n, heads, units))
    out = ctx.reshape(out, [-1, heads * units]) if layer.concat else ctx.reduce("ReduceMean", out, [1], keepdims=0)
    return _finish(ctx, layer, out)


@onnx_converter(G.SAGEConv)
def _sage(ctx, layer, node, inputs):
    x, src, dst, weight, n = _conv_inputs(ctx, inputs)
    weight = weight if weight is not None else _fill(ctx, src, 1.0)
    scale = _where_nonzero(ctx, _scatter_add(ctx, weight, dst, _shape(ctx, n)), lambda t: ctx.op("Reciprocal", [t]))
    weight = ctx.op("Mul", [weight, _gather(ctx, scale, dst)])
    mean = _propagate(ctx, x, src, dst, weight, _shape(ctx, n, layer.kernel.shape[0]))
    out = ctx.op("MatMul", [mean, ctx.weight(layer.kernel)])
    if layer.root_kernel is not None:
        out = ctx.op("Add", [out, ctx.op("MatMul", [x, ctx.weight(layer.root_kernel)])])
    return _finish(ctx, layer, out)


@onnx_converter(G.GINConv)
def _gin(ctx, layer, node, inputs):
    x, src, dst, weight, n = _conv_inputs(ctx, inputs)
    features = node.input_tensors[0].shape[-1]
    total = _propagate(ctx, x, src, dst, weight, _shape(ctx, n, features))
    eps = float(layer.eps.numpy()) if layer.eps is not None else layer.initial_eps
    h = ctx.op("Add", [ctx.op("Mul", [x, ctx.const(np.float32(1.0 + eps), "one_plus_eps")]), total])
    out = ctx.emit_layer(layer.mlp, node, [h])
    return out if isinstance(out, str) else out[0]


@onnx_converter(G.GlobalSumPool, G.GlobalMeanPool, G.GlobalMaxPool)
def _pool(ctx, layer, node, inputs):
    x = inputs[0]
    kind = {G.GlobalSumPool: "ReduceSum", G.GlobalMeanPool: "ReduceMean", G.GlobalMaxPool: "ReduceMax"}[type(layer)]
    if len(inputs) == 1:  # one graph: reduce over all nodes
        return ctx.reduce(kind, x, [0], keepdims=1)
    batch = inputs[1]
    features = node.input_tensors[0].shape[-1]
    graphs = ctx.op("Add", [ctx.op("Gather", [batch, _int(ctx, -1)], axis=0),
                            _int(ctx, 1)])
    if kind == "ReduceMax":
        members = ctx.op("Equal", [ctx.unsqueeze(_range(ctx, graphs), [1]), ctx.unsqueeze(batch, [0])])  # (G, N)
        masked = ctx.op("Where", [ctx.unsqueeze(members, [2]), ctx.unsqueeze(x, [0]),
                                  ctx.const(np.float32(-np.inf), "minus_inf")])
        peak = ctx.reduce("ReduceMax", masked, [1], keepdims=0)
        return ctx.op("Where", [ctx.op("IsInf", [peak]), ctx.const(np.float32(0), "zero"), peak])
    total = _scatter_add(ctx, x, batch, _shape(ctx, graphs, features))
    if kind == "ReduceSum":
        return total
    counts = _scatter_add(ctx, _fill(ctx, batch, 1.0), batch, _shape(ctx, graphs))
    counts = ctx.op("Max", [counts, ctx.const(np.float32(1), "one_f")])
    return ctx.op("Div", [total, ctx.unsqueeze(counts, [1])])


# -- pieces ------------------------------------------------------------------------------------------------------
def _conv_inputs(ctx, inputs):
    """x, sources, targets, edge weights (or None) and the node count (a 0-d int64) of a conv layer call."""
    x, edge_index = inputs[0], inputs[1]
    src = ctx.op("Gather", [edge_index, _int(ctx, 0)], axis=0)
    dst = ctx.op("Gather", [edge_index, _int(ctx, 1)], axis=0)
    n = ctx.op("Gather", [ctx.op("Shape", [x]), _int(ctx, 0)], axis=0)
    return x, src, dst, inputs[2] if len(inputs) > 2 else None, n


def _propagate(ctx, x, src, dst, weight, shape):
    """out[t] = sum over edges s->t of weight * x[s] (unweighted when weight is None)."""
    messages = _gather(ctx, x, src)
    if weight is not None:
        messages = ctx.op("Mul", [messages, ctx.unsqueeze(weight, [1])])
    return _scatter_add(ctx, messages, dst, shape)


def _scatter_add(ctx, updates, index, shape):
    """Zeros of `shape` (a 1-D int64 value) with the rows of `updates` added at `index`."""
    zeros = ctx.op("ConstantOfShape", [shape], value=_float_tensor(0.0))
    return ctx.op("ScatterND", [zeros, ctx.unsqueeze(index, [1]), updates], reduction="add")


def _gather(ctx, x, index):
    return ctx.op("Gather", [x, index], axis=0)


def _concat(ctx, a, b):
    return ctx.op("Concat", [a, b], axis=0)


def _range(ctx, n):
    """0, 1, ..., n - 1 for a 0-d int64 n."""
    return ctx.op("Range", [_int(ctx, 0), n, _int(ctx, 1)])


def _shape(ctx, n, *rest):
    """The 1-D int64 shape (n, *rest) for a 0-d int64 n and fixed trailing sizes."""
    head = ctx.unsqueeze(n, [0])
    return ctx.op("Concat", [head, ctx.ints([int(r) for r in rest])], axis=0) if rest else head


def _fill(ctx, like, value):
    """A float32 vector of `value`, as long as the 1-D `like`."""
    return ctx.op("ConstantOfShape", [ctx.op("Shape", [like])], value=_float_tensor(value))


def _where_positive(ctx, t, fn):
    return ctx.op("Where", [ctx.op("Greater", [t, ctx.const(np.float32(0), "zero")]), fn(t),
                            ctx.const(np.float32(0), "zero")])


def _where_nonzero(ctx, t, fn):
    zero = ctx.const(np.float32(0), "zero")
    return ctx.op("Where", [ctx.op("Not", [ctx.op("Equal", [t, zero])]), fn(t), zero])


def _finish(ctx, layer, out):
    if layer.bias is not None:
        out = ctx.op("Add", [out, ctx.weight(layer.bias)])
    return ctx.activation(out, layer.activation)


def _int(ctx, value):
    """A 0-d int64 constant (ctx.const makes 1-d arrays of scalars)."""
    from onnx import helper
    return ctx.op("Constant", [], value=helper.make_tensor("value", 7, [], [int(value)]))


def _float_tensor(value):
    from onnx import helper
    return helper.make_tensor("value", _FLOAT, [1], [float(value)])
