"""ONNX converters of tinydl's built-in layers (one function per layer family; see tinydl/io/onnx.py).

Each converter gets the context, the layer, the functional-graph node (for shapes and call arguments)
and the ONNX names of the node's input tensors, and returns the names of its outputs.
"""
import numpy as np

from tinydl import layers as L
from tinydl.io.onnx import OnnxExportError, onnx_converter, onnx_masker
from tinydl.layers.pooling import adaptive_bins

_INT_MAX = np.iinfo(np.int64).max


def _rank(node, i=0):
    return len(node.input_tensors[i].shape)


def _no_masks(layer, node):
    """Call-time masks and options that change the math cannot be exported: say so."""
    for key in ("mask", "attention_mask", "padding_mask", "decoder_padding_mask", "encoder_padding_mask",
                "decoder_attention_mask", "encoder_attention_mask", "query_mask", "value_mask", "key_mask"):
        value = node.kwargs.get(key)
        if value is not None and not hasattr(value, "_keras_history"):
            raise OnnxExportError(f"ONNX export: {type(layer).__name__} '{layer.name}' was called with a constant "
                                  f"{key}; pass masks as model inputs to export it")


# -- core --------------------------------------------------------------------------------------------------------
@onnx_converter(L.InputLayer, L.Identity, L.Dropout, L.ActivityRegularization)
def _identity(ctx, layer, node, inputs):
    return [ctx.op("Identity", [x]) for x in inputs[:max(1, len(node.output_tensors))]]


@onnx_converter(L.Dense)
def _dense(ctx, layer, node, inputs):
    y = ctx.matmul_add(inputs[0], layer.kernel, layer.bias)
    return ctx.activation(y, layer.activation)


@onnx_converter(L.Activation)
def _activation_layer(ctx, layer, node, inputs):
    y = ctx.activation(inputs[0], layer.activation)
    return ctx.op("Identity", [y]) if y == inputs[0] else y


@onnx_converter(L.Flatten)
def _flatten(ctx, layer, node, inputs):
    x, rank = inputs[0], len(node.input_tensors[0].shape)
    if layer.data_format == "channels_first" and rank > 2:  # flatten in channels-last order, as the layer
        x = ctx.op("Transpose", [x], perm=[0, *range(2, rank), 1])
    return ctx.op("Flatten", [x], axis=1)


@onnx_converter(L.Reshape)
def _reshape(ctx, layer, node, inputs):
    return ctx.reshape(inputs[0], [0] + [int(d) for d in layer.target_shape])


@onnx_converter(L.Permute)
def _permute(ctx, layer, node, inputs):
    return ctx.transpose(inputs[0], (0,) + tuple(layer.dims))


@onnx_converter(L.RepeatVector)
def _repeat_vector(ctx, layer, node, inputs):
    return ctx.op("Tile", [ctx.unsqueeze(inputs[0], [1]), ctx.ints([1, layer.n, 1], "repeats")])


@onnx_converter(L.Embedding)
def _embedding(ctx, layer, node, inputs):
    ids = inputs[0]
    if np.dtype(node.input_tensors[0].dtype).kind == "f":
        ids = ctx.op("Cast", [ids], to=7)  # INT64
    return ctx.op("Gather", [ctx.weight(layer.embeddings), ids], axis=0)


@onnx_converter(L.ReversibleEmbedding)
def _reversible_embedding(ctx, layer, node, inputs):
    """Forward: Embedding's Gather; reverse=True: MatMul with embeddings.T (or reverse_embeddings), soft-capped."""
    if not node.kwargs.get("reverse", False):
        return _embedding(ctx, layer, node, inputs)
    x = inputs[0]
    kernel = layer.embeddings.numpy().T if layer.tie_weights else layer.reverse_embeddings.numpy()
    if layer.reverse_dtype == "float64":
        x = ctx.op("Cast", [x], to=11)  # DOUBLE
        kernel = ctx.const(kernel, "reverse_kernel", dtype=np.float64)
    else:
        kernel = ctx.const(kernel, "reverse_kernel")
    logits = ctx.op("MatMul", [x, kernel])
    if layer.logit_soft_cap is not None:
        dtype = np.float64 if layer.reverse_dtype == "float64" else np.float32
        cap = ctx.const(layer.logit_soft_cap, "soft_cap", dtype=dtype)
        logits = ctx.op("Mul", [ctx.op("Tanh", [ctx.op("Div", [logits, cap])]), cap])
    return logits


# -- normalization -----------------------------------------------------------------------------------------------
@onnx_converter(L.BatchNormalization)
def _batch_norm(ctx, layer, node, inputs):
    """Inference: x * gamma / sqrt(var + eps) + (beta - mean * that), folded into one scale and shift."""
    rank = _rank(node)
    axis = layer.axis % rank
    var = layer.moving_variance.numpy().astype(np.float64)
    mean = layer.moving_mean.numpy().astype(np.float64)
    gamma = layer.gamma.numpy().astype(np.float64) if layer.gamma is not None else 1.0
    beta = layer.beta.numpy().astype(np.float64) if layer.beta is not None else 0.0
    scale = gamma / np.sqrt(var + layer.epsilon)
    shift = beta - mean * scale
    shape = [1] * rank
    shape[axis] = -1
    y = ctx.op("Mul", [inputs[0], ctx.const(scale.reshape(shape), f"{layer.name}.scale")])
    return ctx.op("Add", [y, ctx.const(shift.reshape(shape), f"{layer.name}.shift")])


@onnx_converter(L.LayerNormalization)
def _layer_norm(ctx, layer, node, inputs):
    rank = _rank(node)
    axes = layer._axes(rank)
    if getattr(layer, "rms_scaling", False):  # Keras: x / sqrt(var(x) + eps) * gamma, x not centred
        x = inputs[0]
        d = ctx.op("Sub", [x, ctx.reduce("ReduceMean", x, axes)])
        var = ctx.reduce("ReduceMean", ctx.op("Mul", [d, d]), axes)
        y = ctx.op("Div", [x, ctx.op("Sqrt", [ctx.op("Add", [var, ctx.const(np.float32(layer.epsilon))])])])
        shape = [n if a in axes else 1 for a, n in enumerate(node.input_tensors[0].shape)]
        return ctx.op("Mul", [y, ctx.const(layer.gamma.numpy().reshape(shape))])
    return _layer_norm_nodes(ctx, inputs[0], axes, rank, layer.gamma, layer.beta, layer.epsilon)


def _layer_norm_nodes(ctx, x, axes, rank, gamma, beta, epsilon):
    """(x - mean) / sqrt(var + eps) * gamma + beta over `axes` (mean and var over the same axes)."""
    mean = ctx.reduce("ReduceMean", x, axes)
    d = ctx.op("Sub", [x, mean])
    var = ctx.reduce("ReduceMean", ctx.op("Mul", [d, d]), axes)
    y = ctx.op("Div", [d, ctx.op("Sqrt", [ctx.op("Add", [var, ctx.const(np.float32(epsilon))])])])
    shape = [1] * rank
    for a in axes:
        shape[a] = -1
    if gamma is not None:
        y = ctx.op("Mul", [y, ctx.const(gamma.numpy().reshape([s if s != -1 else n for s, n in
                                                              zip(shape, _fill(shape, gamma.shape))]))])
    if beta is not None:
        y = ctx.op("Add", [y, ctx.const(beta.numpy().reshape([s if s != -1 else n for s, n in
                                                             zip(shape, _fill(shape, beta.shape))]))])
    return y


def _fill(shape, sizes):
    """`sizes` placed at the -1 entries of `shape` (1 elsewhere)."""
    it = iter(sizes)
    return [next(it) if s == -1 else 1 for s in shape]


# -- merge ----------------------------------------------------------------------------------------------------------
@onnx_converter(L.Add)
def _add(ctx, layer, node, inputs):
    return ctx.op("Sum", inputs) if len(inputs) > 1 else ctx.op("Identity", inputs)


@onnx_converter(L.Subtract)
def _subtract(ctx, layer, node, inputs):
    return ctx.op("Sub", inputs[:2])


@onnx_converter(L.Multiply)
def _multiply(ctx, layer, node, inputs):
    y = inputs[0]
    for x in inputs[1:]:
        y = ctx.op("Mul", [y, x])
    return y if y != inputs[0] else ctx.op("Identity", [y])


@onnx_converter(L.Average)
def _average(ctx, layer, node, inputs):
    return ctx.op("Mul", [ctx.op("Sum", inputs), ctx.const(np.float32(1.0 / len(inputs)))])


@onnx_converter(L.Maximum)
def _maximum(ctx, layer, node, inputs):
    return ctx.op("Max", inputs)


@onnx_converter(L.Minimum)
def _minimum(ctx, layer, node, inputs):
    return ctx.op("Min", inputs)


@onnx_converter(L.Concatenate)
def _concatenate(ctx, layer, node, inputs):
    return ctx.op("Concat", inputs, axis=layer.axis % _rank(node))


@onnx_converter(L.Dot)
def _dot(ctx, layer, node, inputs):
    """Keras's batch_dot as one Einsum: batch axis shared, the two `axes` contracted."""
    shapes = [t.shape for t in node.input_tensors]
    a, b = layer._axes_for(shapes)
    x, y = inputs
    if layer.normalize:
        x, y = _l2_normalize(ctx, x, a), _l2_normalize(ctx, y, b)
    letters = iter("cdefghijklmnopqrstuvwxyz")
    xs = ["b"] + [next(letters) for _ in shapes[0][1:]]
    ys = ["b"] + [next(letters) for _ in shapes[1][1:]]
    ys[b] = xs[a]
    out = [c for i, c in enumerate(xs) if i != a] + [c for i, c in enumerate(ys) if i not in (0, b)]
    z = ctx.op("Einsum", [x, y], equation=f"{''.join(xs)},{''.join(ys)}->{''.join(out)}")
    return ctx.unsqueeze(z, [1]) if len(out) == 1 else z


def _l2_normalize(ctx, x, axis):
    sq = ctx.op("ReduceSum", [ctx.op("Mul", [x, x]), ctx.ints([axis], "axes")], keepdims=1)
    return ctx.op("Div", [x, ctx.op("Sqrt", [ctx.op("Max", [sq, ctx.const(np.float32(1e-14))])])])


# -- convolution and pooling (channels-last in, NCHW inside) -----------------------------------------------------------
def _to_nchw(ctx, x, rank):
    return ctx.transpose(x, [0, rank + 1] + list(range(1, rank + 1)))


def _to_nhwc(ctx, x, rank):
    return ctx.transpose(x, [0] + list(range(2, rank + 2)) + [1])


def _nchw_input(ctx, layer, x, rank):
    """A conv layer's input in ONNX's NCHW: transposed unless the layer is channels_first already."""
    return x if layer.data_format == "channels_first" else _to_nchw(ctx, x, rank)


def _conv_padding(layer, rank):
    """ONNX padding attributes for Keras's 'valid' / 'same' / 'causal'."""
    if layer.padding == "valid":
        return {"pads": [0] * (2 * rank)}
    if layer.padding == "same":
        return {"auto_pad": "SAME_UPPER"}
    keff = (layer.kernel_size[0] - 1) * layer.dilation_rate[0] + 1  # causal: all padding on the left
    return {"pads": [keff - 1, 0]}


def _finish_conv(ctx, layer, y, rank):
    """Bias and activation while still NCHW (so the transposes between two convolutions cancel), then NHWC."""
    if layer.use_bias:
        bias = layer.bias.numpy().reshape((-1,) + (1,) * rank)
        y = ctx.op("Add", [y, ctx.const(bias, f"{layer.name}.bias")])
    channelwise = getattr(layer.activation, "__name__", "") in ("softmax", "log_softmax")
    if layer.data_format == "channels_first":  # the layer's output layout is NCHW too
        return ctx.activation(y, layer.activation)
    if not channelwise:
        y = ctx.activation(y, layer.activation)
    y = _to_nhwc(ctx, y, rank)
    return ctx.activation(y, layer.activation) if channelwise else y


@onnx_converter(L.Conv1D, L.Conv2D, L.Conv3D)
def _conv(ctx, layer, node, inputs):
    rank = layer.rank
    kernel = layer.kernel.numpy()  # (k..., in/groups, filters)
    w = np.transpose(kernel, (rank + 1, rank) + tuple(range(rank)))
    y = ctx.op("Conv", [_nchw_input(ctx, layer, inputs[0], rank), ctx.const(w, f"{layer.name}.kernel")],
               kernel_shape=list(layer.kernel_size), strides=list(layer.strides),
               dilations=list(layer.dilation_rate), group=layer.groups, **_conv_padding(layer, rank))
    return _finish_conv(ctx, layer, y, rank)


@onnx_converter(L.Conv1DTranspose, L.Conv2DTranspose, L.Conv3DTranspose)
def _conv_transpose(ctx, layer, node, inputs):
    from tinydl.ops.convolution import transposed_length
    rank = layer.rank
    kernel = layer.kernel.numpy()  # (k..., filters, in)
    w = np.transpose(kernel, (rank + 1, rank) + tuple(range(rank)))
    pads_begin, pads_end, out_pad = [], [], []
    for i in range(rank):
        k, s, d = layer.kernel_size[i], layer.strides[i], layer.dilation_rate[i]
        op = None if layer.output_padding is None else layer.output_padding[i]
        keff = (k - 1) * d + 1
        delta = keff - transposed_length(1, k, s, d, layer.padding, op)  # full length minus Keras's length
        if delta >= 0:
            pads_begin.append(delta // 2)
            pads_end.append(delta - delta // 2)
            out_pad.append(0)
        else:
            pads_begin.append(0)
            pads_end.append(0)
            out_pad.append(-delta)
    y = ctx.op("ConvTranspose", [_nchw_input(ctx, layer, inputs[0], rank), ctx.const(w, f"{layer.name}.kernel")],
               kernel_shape=list(layer.kernel_size), strides=list(layer.strides), dilations=list(layer.dilation_rate),
               pads=pads_begin + pads_end, output_padding=out_pad if any(out_pad) else None)
    return _finish_conv(ctx, layer, y, rank)


def _depthwise(ctx, layer, x):
    kernel = layer.depthwise_kernel.numpy()  # (k..., in, multiplier): output channel c * m + j
    rank, (cin, mult) = layer.rank, kernel.shape[-2:]
    spatial = kernel.shape[:rank]
    w = np.moveaxis(kernel.reshape(spatial + (cin * mult,)), -1, 0).reshape((cin * mult, 1) + spatial)
    return ctx.op("Conv", [x, ctx.const(w, f"{layer.name}.depthwise_kernel")], kernel_shape=list(spatial),
                  strides=list(layer.strides), dilations=list(layer.dilation_rate), group=cin,
                  **_conv_padding(layer, rank))


@onnx_converter(L.DepthwiseConv1D, L.DepthwiseConv2D)
def _depthwise_conv(ctx, layer, node, inputs):
    rank = layer.rank
    return _finish_conv(ctx, layer, _depthwise(ctx, layer, _nchw_input(ctx, layer, inputs[0], rank)), rank)


@onnx_converter(L.SeparableConv1D, L.SeparableConv2D)
def _separable_conv(ctx, layer, node, inputs):
    rank = layer.rank
    mid = _depthwise(ctx, layer, _nchw_input(ctx, layer, inputs[0], rank))
    pointwise = np.transpose(layer.pointwise_kernel.numpy(), (rank + 1, rank) + tuple(range(rank)))
    y = ctx.op("Conv", [mid, ctx.const(pointwise, f"{layer.name}.pointwise_kernel")], kernel_shape=[1] * rank)
    return _finish_conv(ctx, layer, y, rank)


@onnx_converter(L.MaxPooling1D, L.MaxPooling2D, L.MaxPooling3D, L.AveragePooling1D, L.AveragePooling2D,
                L.AveragePooling3D)
def _pool(ctx, layer, node, inputs):
    rank = layer.rank
    op = "MaxPool" if "Max" in type(layer).__name__ else "AveragePool"
    pad = {"auto_pad": "SAME_UPPER"} if layer.padding == "same" else {"pads": [0] * (2 * rank)}
    extra = {"count_include_pad": 0} if op == "AveragePool" else {}
    first = layer.data_format == "channels_first"  # already ONNX's layout
    y = ctx.op(op, [inputs[0] if first else _to_nchw(ctx, inputs[0], rank)], kernel_shape=list(layer.pool_size),
               strides=list(layer.strides), **pad, **extra)
    return y if first else _to_nhwc(ctx, y, rank)


@onnx_converter(L.GlobalAveragePooling1D, L.GlobalAveragePooling2D, L.GlobalAveragePooling3D, L.GlobalMaxPooling1D,
                L.GlobalMaxPooling2D, L.GlobalMaxPooling3D)
def _global_pool(ctx, layer, node, inputs):
    mask = ctx.mask_of(node.input_tensors[0]) if isinstance(layer, L.GlobalAveragePooling1D) else None
    first = 2 if layer.data_format == "channels_first" else 1  # the first spatial axis
    if mask is not None:  # the mean over unmasked steps only
        weights = ctx.unsqueeze(ctx.op("Cast", [mask], to=1), [3 - first])
        total = ctx.reduce("ReduceSum", ctx.op("Mul", [inputs[0], weights]), [first], keepdims=int(layer.keepdims))
        return ctx.op("Div", [total, ctx.reduce("ReduceSum", weights, [first], keepdims=int(layer.keepdims))])
    op = "ReduceMax" if "Max" in type(layer).__name__ else "ReduceMean"
    return ctx.reduce(op, inputs[0], list(range(first, first + layer.rank)), keepdims=int(layer.keepdims))


@onnx_converter(L.UpSampling1D, L.UpSampling2D, L.UpSampling3D)
def _upsampling_nd(ctx, layer, node, inputs):
    scales = np.ones(len(node.input_tensors[0].shape), np.float32)
    sizes = (layer.size,) if isinstance(layer.size, int) else layer.size
    first = 2 if getattr(layer, "data_format", None) == "channels_first" else 1
    scales[first:first + len(sizes)] = sizes
    return ctx.op("Resize", [inputs[0], "", ctx.const(scales, "scales")], mode="nearest",
                  coordinate_transformation_mode="asymmetric", nearest_mode="floor")


@onnx_converter(L.ZeroPadding1D, L.ZeroPadding2D, L.ZeroPadding3D)
def _zero_padding_nd(ctx, layer, node, inputs):
    margins = (layer.padding,) if isinstance(layer, L.ZeroPadding1D) else layer.padding
    rank = len(margins) + 2
    first = 2 if layer.data_format == "channels_first" else 1
    begin, end = [0] * rank, [0] * rank
    for i, (a, b) in enumerate(margins):
        begin[first + i], end[first + i] = a, b
    return ctx.op("Pad", [inputs[0], ctx.ints(begin + end, "pads")], mode="constant")


@onnx_converter(L.Cropping2D, L.Cropping3D)
def _cropping_nd(ctx, layer, node, inputs):
    first = 2 if layer.data_format == "channels_first" else 1
    starts = [a for a, _ in layer.cropping]
    ends = [-b if b else _INT_MAX for _, b in layer.cropping]
    return ctx.op("Slice", [inputs[0], ctx.ints(starts, "starts"), ctx.ints(ends, "ends"),
                            ctx.ints(list(range(first, first + len(starts))), "axes")])


@onnx_converter(L.Cropping1D)
def _cropping_1d(ctx, layer, node, inputs):
    start, end = layer.cropping
    return ctx.op("Slice", [inputs[0], ctx.ints([start], "starts"), ctx.ints([-end if end else _INT_MAX], "ends"),
                            ctx.ints([1], "axes")])


# -- attention ----------------------------------------------------------------------------------------------------------
def tensor_value(array):
    from onnx import numpy_helper
    return numpy_helper.from_array(array)


def _keep(ctx, query_mask=None, value_mask=None, key_mask=None, attention_mask=None):
    """The (batch, T, S) bool 'may attend' mask from the query/value/key masks and an attention mask, or None."""
    parts = []
    if query_mask is not None:
        parts.append(ctx.unsqueeze(query_mask, [2]))
    for m in (value_mask, key_mask):
        if m is not None:
            parts.append(ctx.unsqueeze(m, [1]))
    if attention_mask is not None:
        parts.append(ctx.op("Cast", [attention_mask], to=9))  # BOOL
    if not parts:
        return None
    keep = parts[0]
    for part in parts[1:]:
        keep = ctx.op("And", [keep, part])
    return keep


def _masked_softmax(ctx, scores, keep=None, causal=False):
    """softmax over the last axis where `keep` (and, if causal, key <= query) allows; rows allowing nothing
    get zero weights, as tinydl's masked softmax."""
    if causal:
        tail = ctx.op("Shape", [scores], start=-2)
        ones = ctx.op("ConstantOfShape", [tail], value=tensor_value(np.array([1], np.float32)))
        lower = ctx.op("Cast", [ctx.op("Trilu", [ones], upper=0)], to=9)
        keep = lower if keep is None else ctx.op("And", [keep, lower])
    if keep is None:
        return ctx.op("Softmax", [scores], axis=-1)
    scores = ctx.op("Where", [keep, scores, ctx.const(np.float32(-1e9))])
    weights = ctx.op("Softmax", [scores], axis=-1)
    return ctx.op("Mul", [weights, ctx.op("Cast", [keep], to=1)])


def _mha(ctx, layer, query, value, key=None, causal=False, attention_mask=None, return_scores=False,
         query_mask=None, value_mask=None, key_mask=None):
    """Keras's MultiHeadAttention: project to heads, softmax(q k^T / sqrt(key_dim)), merge heads, project out."""
    key = value if key is None else key
    h = layer.num_heads

    def project(x, kernel, bias):
        dim, heads, size = kernel.shape
        w = ctx.const(kernel.numpy().reshape(dim, heads * size), kernel.path.replace("/", "."))
        y = ctx.op("MatMul", [x, w])
        if bias is not None:
            y = ctx.op("Add", [y, ctx.const(bias.numpy().reshape(heads * size), bias.path.replace("/", "."))])
        return ctx.transpose(ctx.reshape(y, [0, 0, heads, size]), [0, 2, 1, 3])

    q = project(query, layer.query_kernel, layer.query_bias)
    k = project(key, layer.key_kernel, layer.key_bias)
    v = project(value, layer.value_kernel, layer.value_bias)
    scores = ctx.op("MatMul", [q, ctx.transpose(k, [0, 1, 3, 2])])
    scores = ctx.op("Mul", [scores, ctx.const(np.float32(1.0 / np.sqrt(layer.key_dim)))])
    keep = _keep(ctx, query_mask, value_mask, key_mask, attention_mask)
    weights = _masked_softmax(ctx, scores, None if keep is None else ctx.unsqueeze(keep, [1]), causal)
    attended = ctx.transpose(ctx.op("MatMul", [weights, v]), [0, 2, 1, 3])
    merged = ctx.reshape(attended, [0, 0, h * layer.value_dim])
    out_kernel = layer.output_kernel.numpy()
    out = ctx.op("MatMul", [merged, ctx.const(out_kernel.reshape(h * layer.value_dim, out_kernel.shape[-1]),
                                              layer.output_kernel.path.replace("/", "."))])
    if layer.output_bias is not None:
        out = ctx.op("Add", [out, ctx.weight(layer.output_bias)])
    return (out, weights) if return_scores else out


def _attention_tensors(node):
    """The [query, value, key] an attention layer was called with (a list or separate arguments; None if absent)."""
    first = node.args[0]
    if isinstance(first, (list, tuple)):
        return (list(first) + [None, None])[:3]
    return [first, node.args[1] if len(node.args) > 1 else node.kwargs.get("value"),
            node.args[2] if len(node.args) > 2 else node.kwargs.get("key")]


def _arg(ctx, node, position, key):
    """The ONNX name of a call argument given by position or keyword (None when absent)."""
    value = node.args[position] if len(node.args) > position else node.kwargs.get(key)
    if value is None or not hasattr(value, "_keras_history"):
        return None
    return ctx.name_of(value)


@onnx_converter(L.MultiHeadAttention)
def _multi_head_attention(ctx, layer, node, inputs):
    _no_masks(layer, node)
    tensors = _attention_tensors(node)
    query, value, key = [None if t is None else ctx.name_of(t) for t in tensors]
    mask = node.kwargs.get("attention_mask")
    mask = ctx.name_of(mask) if mask is not None and hasattr(mask, "_keras_history") else None
    out = _mha(ctx, layer, query, value, key, causal=bool(node.kwargs.get("use_causal_mask")), attention_mask=mask,
               return_scores=bool(node.kwargs.get("return_attention_scores")), query_mask=ctx.mask_of(tensors[0]),
               value_mask=ctx.mask_of(tensors[1]),
               key_mask=ctx.mask_of(tensors[2]) if tensors[2] is not None and tensors[2] is not tensors[1] else None)
    return list(out) if isinstance(out, tuple) else out


@onnx_converter(L.Attention, L.AdditiveAttention)
def _attention(ctx, layer, node, inputs):
    _no_masks(layer, node)
    query, value = inputs[0], inputs[1]
    query_mask, value_mask = ctx.mask_of(node.input_tensors[0]), ctx.mask_of(node.input_tensors[1])
    key = inputs[2] if len(inputs) > 2 else value
    if isinstance(layer, L.AdditiveAttention) or layer.score_mode == "concat":
        hidden = ctx.op("Add", [ctx.unsqueeze(query, [2]), ctx.unsqueeze(key, [1])])
        if isinstance(layer, L.AdditiveAttention):
            hidden = ctx.op("Tanh", [hidden])
            if layer.scale is not None:
                hidden = ctx.op("Mul", [hidden, ctx.weight(layer.scale)])
            scores = ctx.op("ReduceSum", [hidden, ctx.ints([-1], "axes")], keepdims=0)
        else:
            if layer.scale is not None:
                hidden = ctx.op("Mul", [hidden, ctx.weight(layer.scale)])
            scores = ctx.op("ReduceSum", [ctx.op("Tanh", [hidden]), ctx.ints([-1], "axes")], keepdims=0)
            scores = ctx.op("Mul", [scores, ctx.weight(layer.concat_score_weight)])
    else:
        scores = ctx.op("MatMul", [query, ctx.transpose(key, [0, 2, 1])])
        if layer.scale is not None:
            scores = ctx.op("Mul", [scores, ctx.weight(layer.scale)])
    weights = _masked_softmax(ctx, scores, _keep(ctx, value_mask=value_mask), bool(node.kwargs.get("use_causal_mask")))
    out = ctx.op("MatMul", [weights, value])
    if query_mask is not None:
        out = ctx.op("Mul", [out, ctx.op("Cast", [ctx.unsqueeze(query_mask, [2])], to=1)])
    return [out, weights] if node.kwargs.get("return_attention_scores") else out


# -- transformer blocks ---------------------------------------------------------------------------------------------------
def _positions(ctx, layer, x, table):
    """`table[:T]` (T = x's sequence length, read at run time) broadcast to x's shape."""
    length = ctx.op("Shape", [x], start=-2, end=-1)
    rows = ctx.op("Slice", [ctx.const(np.asarray(table), f"{layer.name}.positions"), ctx.ints([0], "starts"), length,
                            ctx.ints([0], "axes")])
    return ctx.op("Expand", [rows, ctx.op("Shape", [x])])


@onnx_converter(L.PositionEmbedding)
def _position_embedding(ctx, layer, node, inputs):
    if node.kwargs.get("start_index"):
        raise OnnxExportError(f"ONNX export: PositionEmbedding '{layer.name}' with start_index is not supported")
    return _positions(ctx, layer, inputs[0], layer.position_embeddings.numpy())


@onnx_converter(L.SinusoidalPositionEncoding)
def _sinusoidal(ctx, layer, node, inputs):
    """sin/cos of position * timescale, computed for the run-time length (even features sin, odd cos)."""
    if node.kwargs.get("start_index"):
        raise OnnxExportError(f"ONNX export: SinusoidalPositionEncoding '{layer.name}' with start_index is not "
                              "supported")
    x = inputs[0]
    dim = node.input_tensors[0].shape[-1]
    features = np.arange(dim)
    timescales = (1.0 / layer.max_wavelength) ** (2 * (features // 2) / dim)
    ones = ctx.op("ConstantOfShape", [ctx.op("Shape", [x], start=-2, end=-1)],
                  value=tensor_value(np.array([1], np.float32)))
    steps = ctx.op("Sub", [ctx.op("CumSum", [ones, ctx.const(np.int64(0), "axis")]), ctx.const(np.float32(1))])
    angles = ctx.op("Mul", [ctx.unsqueeze(steps, [1]), ctx.const(timescales[None, :], f"{layer.name}.timescales")])
    odd = ctx.const((features % 2 == 1)[None, :], f"{layer.name}.odd", dtype=np.bool_)
    table = ctx.op("Where", [odd, ctx.op("Cos", [angles]), ctx.op("Sin", [angles])])
    return ctx.op("Expand", [table, ctx.op("Shape", [x])])


@onnx_converter(L.TokenAndPositionEmbedding)
def _token_and_position(ctx, layer, node, inputs):
    ids = inputs[0]
    if np.dtype(node.input_tensors[0].dtype).kind == "f":
        ids = ctx.op("Cast", [ids], to=7)
    tokens = ctx.op("Gather", [ctx.weight(layer.token_embedding.embeddings), ids], axis=0)
    pos = _positions(ctx, layer, tokens, layer.position_embedding.position_embeddings.numpy())
    return ctx.op("Add", [tokens, pos])


def _norm(ctx, norm, x):
    return _layer_norm_nodes(ctx, x, norm._axes(3), 3, norm.gamma, norm.beta, norm.epsilon)


def _residual_attention(ctx, block, x, attention, norm, value=None, **kwargs):
    """keras_hub's residual step; self-attention (value None) attends to the (normalised) query itself."""
    residual = x
    if block.normalize_first:
        x = _norm(ctx, norm, x)
    x = ctx.op("Add", [_mha(ctx, attention, x, x if value is None else value, **kwargs), residual])
    return x if block.normalize_first else _norm(ctx, norm, x)


def _feedforward(ctx, block, x):
    residual = x
    if block.normalize_first:
        x = _norm(ctx, block._feedforward_layer_norm, x)
    inner = block._feedforward_intermediate_dense
    x = ctx.activation(ctx.matmul_add(x, inner.kernel, inner.bias), inner.activation)
    outer = block._feedforward_output_dense
    x = ctx.op("Add", [ctx.matmul_add(x, outer.kernel, outer.bias), residual])
    return x if block.normalize_first else _norm(ctx, block._feedforward_layer_norm, x)


def _mask_arg(ctx, node, key):
    value = node.kwargs.get(key)
    return ctx.name_of(value) if value is not None and hasattr(value, "_keras_history") else None


@onnx_converter(L.TransformerEncoder)
def _transformer_encoder(ctx, layer, node, inputs):
    _no_masks(layer, node)
    if node.kwargs.get("padding_mask") is not None or node.kwargs.get("return_attention_scores"):
        raise OnnxExportError(f"ONNX export: TransformerEncoder '{layer.name}' with a padding mask or attention "
                              "scores is not supported; pass attention_mask instead")
    x = inputs[0]
    mask = ctx.mask_of(node.input_tensors[0])  # the padding mask: queries and keys
    x = _residual_attention(ctx, layer, x, layer._self_attention_layer, layer._self_attention_layer_norm,
                            attention_mask=_mask_arg(ctx, node, "attention_mask"), query_mask=mask, value_mask=mask)
    return _feedforward(ctx, layer, x)


@onnx_converter(L.TransformerDecoder)
def _transformer_decoder(ctx, layer, node, inputs):
    _no_masks(layer, node)
    for key in ("decoder_padding_mask", "encoder_padding_mask"):
        if node.kwargs.get(key) is not None:
            raise OnnxExportError(f"ONNX export: TransformerDecoder '{layer.name}' with {key} is not supported")
    first = node.args[0]
    if isinstance(first, (list, tuple)):
        tensors = (list(first) + [None])[:2]
    else:
        tensors = [first, node.args[1] if len(node.args) > 1 else node.kwargs.get("encoder_sequence")]
    x, encoder = [None if t is None else ctx.name_of(t) for t in tensors]
    causal = node.kwargs.get("use_causal_mask", True)
    mask = ctx.mask_of(tensors[0])
    x = _residual_attention(ctx, layer, x, layer._self_attention_layer, layer._self_attention_layer_norm,
                            causal=bool(causal), attention_mask=_mask_arg(ctx, node, "decoder_attention_mask"),
                            query_mask=mask, value_mask=mask)
    if encoder is not None:
        # the residual sum loses the decoder's mask, so only the encoder's padding hides keys here
        x = _residual_attention(ctx, layer, x, layer._cross_attention_layer, layer._cross_attention_layer_norm,
                                value=encoder, attention_mask=_mask_arg(ctx, node, "encoder_attention_mask"),
                                value_mask=ctx.mask_of(tensors[1]))
    return _feedforward(ctx, layer, x)

# Recurrent layers (SimpleRNN, LSTM, GRU, Bidirectional, TimeDistributed, Masking): tinydl/io/onnx_recurrent.py


# -- implicit masks -------------------------------------------------------------------------------------------------------
@onnx_masker(L.Embedding, L.TokenAndPositionEmbedding, L.ReversibleEmbedding)
def _embedding_mask(ctx, layer, node, inputs):
    """mask_zero: id 0 is padding (none on ReversibleEmbedding's reverse logits)."""
    if not layer.mask_zero or node.kwargs.get("reverse", False):
        return [None]
    ids = inputs[0]
    if np.dtype(node.input_tensors[0].dtype) != np.int64:
        ids = ctx.op("Cast", [ids], to=7)
    return [ctx.op("Not", [ctx.op("Equal", [ids, ctx.const(np.int64(0), "zero")])])]


@onnx_masker(L.Masking)
def _masking_mask(ctx, layer, node, inputs):
    differs = ctx.op("Not", [ctx.op("Equal", [inputs[0], ctx.const(np.float32(layer.mask_value))])])
    any_differs = ctx.reduce("ReduceMax", ctx.op("Cast", [differs], to=1), [-1], keepdims=0)
    return [ctx.op("Cast", [any_differs], to=9)]


@onnx_masker(L.Add, L.Subtract, L.Multiply, L.Average, L.Maximum, L.Minimum)
def _merge_mask(ctx, layer, node, inputs):
    """Keras 3.15: the OR of the inputs' masks; none when any input is unmasked."""
    masks = [ctx.mask_of(t) for t in node.input_tensors]
    if not masks or any(m is None for m in masks):
        return [None]
    out = masks[0]
    for m in masks[1:]:
        out = ctx.op("Or", [out, m])
    return [out]


@onnx_masker(L.Concatenate)
def _concatenate_mask(ctx, layer, node, inputs):
    """tinydl's rule: masks (all-True for unmasked inputs) broadcast over the features, concatenated along
    `axis`, then any() over the last axis: along the features that is the OR (all-True, i.e. no mask, when an
    input is unmasked); along the time axis the masks are joined."""
    masks = [ctx.mask_of(t) for t in node.input_tensors]
    if all(m is None for m in masks):
        return [None]
    rank = _rank(node)
    axis = layer.axis % rank
    if axis == rank - 1:
        if any(m is None for m in masks):
            return [None]
        out = masks[0]
        for m in masks[1:]:
            out = ctx.op("Or", [out, m])
        return [out]
    if rank == 3 and axis == 1:
        parts = []
        for m, x in zip(masks, inputs):
            if m is None:
                head = ctx.op("Shape", [x], start=0, end=2)
                m = ctx.op("Cast", [ctx.op("ConstantOfShape", [head], value=tensor_value(np.array([1], np.float32)))],
                           to=9)
            parts.append(m)
        return [ctx.op("Concat", parts, axis=1)]
    raise OnnxExportError(f"ONNX export: Concatenate '{layer.name}' joins masked inputs along axis {layer.axis}; "
                          "that mask is not exported to ONNX")


@onnx_masker(L.Dot, L.Lambda, L.GlobalAveragePooling1D)
def _no_mask(ctx, layer, node, inputs):
    return [None]


@onnx_masker(L.SimpleRNN, L.LSTM, L.GRU, L.Bidirectional)
def _recurrent_mask(ctx, layer, node, inputs):
    mask = ctx.mask_of(node.input_tensors[0]) if layer.return_sequences else None
    if isinstance(layer, L.Bidirectional) and layer.merge_mode is None:
        return [mask, mask]
    return [mask]


@onnx_converter(L.EinsumDense)
def _einsum_dense(ctx, layer, node, inputs):
    equation = layer.explicit_equation(len(node.input_tensors[0].shape))
    y = ctx.op("Einsum", [inputs[0], ctx.weight(layer.kernel)], equation=equation)
    if layer.bias is not None:
        y = ctx.op("Add", [y, ctx.weight(layer.bias)])
    return ctx.activation(y, layer.activation)


@onnx_converter(L.GroupQueryAttention)
def _grouped_query_attention(ctx, layer, node, inputs):
    _no_masks(layer, node)
    tensors = _attention_tensors(node)
    query, value, key = [None if t is None else ctx.name_of(t) for t in tensors]
    key = value if key is None else key

    def heads(x, kernel, bias):
        """(batch, T, dim) -> (batch, heads, T, size)."""
        dim, h, size = kernel.shape
        y = ctx.op("MatMul", [x, ctx.const(kernel.numpy().reshape(dim, h * size), kernel.path.replace("/", "."))])
        if bias is not None:
            y = ctx.op("Add", [y, ctx.const(bias.numpy().reshape(h * size), bias.path.replace("/", "."))])
        return ctx.transpose(ctx.reshape(y, [0, 0, h, size]), [0, 2, 1, 3])

    def repeated(x):
        """Each key/value head repeated num_repeats times in place: heads (h0, h0, h1, h1, ...)."""
        if layer.num_repeats == 1:
            return x
        x = ctx.op("Concat", [ctx.unsqueeze(x, [2])] * layer.num_repeats, axis=2)
        return ctx.reshape(x, [0, layer.num_query_heads, -1, layer.head_dim])

    q = heads(query, layer.query_kernel, layer.query_bias)
    k = repeated(heads(key, layer.key_kernel, layer.key_bias))
    v = repeated(heads(value, layer.value_kernel, layer.value_bias))
    scores = ctx.op("Mul", [ctx.op("MatMul", [q, ctx.transpose(k, [0, 1, 3, 2])]),
                            ctx.const(np.float32(1.0 / np.sqrt(layer.head_dim)))])
    mask = node.kwargs.get("attention_mask")
    mask = ctx.name_of(mask) if mask is not None and hasattr(mask, "_keras_history") else None
    keep = _keep(ctx, ctx.mask_of(tensors[0]), ctx.mask_of(tensors[1]),
                 ctx.mask_of(tensors[2]) if tensors[2] is not None and tensors[2] is not tensors[1] else None, mask)
    if layer.sliding_window is not None:
        t, s = tensors[0].shape[1], tensors[1].shape[1]
        if t is None or s is None:
            raise OnnxExportError(f"ONNX export: GroupQueryAttention '{layer.name}' with sliding_window needs "
                                  "fixed sequence lengths")
        band = np.abs(np.arange(t)[:, None] - np.arange(s)[None, :]) < layer.sliding_window
        band = ctx.const(band[None], f"{layer.name}.sliding_window", dtype=np.bool_)
        keep = band if keep is None else ctx.op("And", [keep, band])
    weights = _masked_softmax(ctx, scores, None if keep is None else ctx.unsqueeze(keep, [1]),
                              bool(node.kwargs.get("use_causal_mask")))
    attended = ctx.op("MatMul", [weights, v])
    if layer.use_gate:
        attended = ctx.op("Mul", [attended, ctx.op("Sigmoid", [heads(query, layer.gate_kernel, layer.gate_bias)])])
    size = layer.num_query_heads * layer.head_dim
    merged = ctx.reshape(ctx.transpose(attended, [0, 2, 1, 3]), [0, 0, size])
    kernel = layer.output_kernel
    out = ctx.op("MatMul", [merged, ctx.const(kernel.numpy().reshape(size, kernel.shape[-1]),
                                              kernel.path.replace("/", "."))])
    if layer.output_bias is not None:
        out = ctx.op("Add", [out, ctx.weight(layer.output_bias)])
    return [out, weights] if node.kwargs.get("return_attention_scores") else out


@onnx_converter(L.AdaptiveAveragePooling1D, L.AdaptiveAveragePooling2D, L.AdaptiveAveragePooling3D,
                L.AdaptiveMaxPooling1D, L.AdaptiveMaxPooling2D, L.AdaptiveMaxPooling3D)
def _adaptive_pool(ctx, layer, node, inputs):
    op = "ReduceMax" if "Max" in type(layer).__name__ else "ReduceMean"
    first = 2 if layer.data_format == "channels_first" else 1
    shape, y = node.input_tensors[0].shape, inputs[0]
    for axis, out in zip(range(first, first + layer.rank), layer.output_size):
        if shape[axis] is None:
            raise OnnxExportError(f"ONNX export: {type(layer).__name__} '{layer.name}' needs fixed spatial sizes")
        parts = [ctx.reduce(op, ctx.op("Slice", [y, ctx.ints([a], "starts"), ctx.ints([b], "ends"),
                                                 ctx.ints([axis], "axes")]), [axis], keepdims=1)
                 for a, b in adaptive_bins(shape[axis], out)]
        y = ctx.op("Concat", parts, axis=axis)
    return y
