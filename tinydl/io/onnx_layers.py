"""ONNX converters of the activation, noise, normalisation and preprocessing layers (see tinydl/io/onnx.py).

Noise and dropout layers are the identity in inference, which is what an exported model runs.
"""
import numpy as np

from tinydl import layers as L
from tinydl.io.onnx import OnnxExportError, converter_for, onnx_converter


# -- activation layers -------------------------------------------------------------------------------------------
@onnx_converter(L.ReLU)
def _relu(ctx, layer, node, inputs):
    x = inputs[0]
    if layer.threshold != 0.0:
        out = ctx.op("Mul", [x, ctx.op("Cast", [ctx.op("Greater", [x, ctx.const(np.float32(layer.threshold))])],
                                       to=1)])
    else:
        out = ctx.op("Relu", [x])
    if layer.max_value is not None:
        out = ctx.op("Clip", [out, ctx.const(np.float32(0)), ctx.const(np.float32(layer.max_value))])
    if layer.negative_slope != 0.0:
        below = ctx.op("Relu", [ctx.op("Sub", [ctx.const(np.float32(layer.threshold)), x])])
        out = ctx.op("Sub", [out, ctx.op("Mul", [below, ctx.const(np.float32(layer.negative_slope))])])
    return out


@onnx_converter(L.LeakyReLU)
def _leaky_relu(ctx, layer, node, inputs):
    return ctx.op("LeakyRelu", [inputs[0]], alpha=layer.negative_slope)


@onnx_converter(L.PReLU)
def _prelu(ctx, layer, node, inputs):
    return ctx.op("PRelu", [inputs[0], ctx.weight(layer.alpha)])


@onnx_converter(L.ELU)
def _elu(ctx, layer, node, inputs):
    return ctx.op("Elu", [inputs[0]], alpha=layer.alpha)


@onnx_converter(L.Softmax)
def _softmax(ctx, layer, node, inputs):
    if node.kwargs.get("mask") is not None:
        raise OnnxExportError(f"ONNX export: Softmax '{layer.name}' was called with a mask, which has no ONNX form")
    axes = layer.axis if isinstance(layer.axis, list) else [layer.axis]
    if len(axes) == 1:
        return ctx.op("Softmax", [inputs[0]], axis=axes[0])
    x = inputs[0]
    shifted = ctx.op("Sub", [x, ctx.reduce("ReduceMax", x, axes)])
    e = ctx.op("Exp", [shifted])
    return ctx.op("Div", [e, ctx.reduce("ReduceSum", e, axes)])


# -- noise (inference: identity) ---------------------------------------------------------------------------------
@onnx_converter(L.GaussianNoise, L.GaussianDropout, L.AlphaDropout, L.SpatialDropout1D, L.SpatialDropout2D,
                L.SpatialDropout3D)
def _inference_identity(ctx, layer, node, inputs):
    return ctx.op("Identity", [inputs[0]])


# -- normalisation -----------------------------------------------------------------------------------------------
@onnx_converter(L.UnitNormalization)
def _unit_normalization(ctx, layer, node, inputs):
    x = inputs[0]
    axes = layer.axis if isinstance(layer.axis, list) else [layer.axis]
    square_sum = ctx.reduce("ReduceSum", ctx.op("Mul", [x, x]), axes)
    norm = ctx.op("Sqrt", [ctx.op("Max", [square_sum, ctx.const(np.float32(1e-12))])])
    return ctx.op("Div", [x, norm])


@onnx_converter(L.GroupNormalization)
def _group_normalization(ctx, layer, node, inputs):
    shape = tuple(node.input_tensors[0].shape)
    if None in shape[1:]:
        raise OnnxExportError(f"ONNX export: GroupNormalization '{layer.name}' needs known non-batch sizes, got "
                              f"input shape {shape}")
    axis = layer.axis % len(shape)
    grouped = [0, *shape[1:axis], layer.groups, shape[axis] // layer.groups, *shape[axis + 1:]]
    x = ctx.reshape(inputs[0], grouped)
    reduce = [a for a in range(1, len(grouped)) if a != axis]
    centred = ctx.op("Sub", [x, ctx.reduce("ReduceMean", x, reduce)])
    variance = ctx.reduce("ReduceMean", ctx.op("Mul", [centred, centred]), reduce)
    std = ctx.op("Sqrt", [ctx.op("Add", [variance, ctx.const(np.float32(layer.epsilon))])])
    y = ctx.reshape(ctx.op("Div", [centred, std]), [0, *shape[1:]])
    channel = [1] * (len(shape) - 1)
    channel[axis - 1] = shape[axis]
    if layer.gamma is not None:
        y = ctx.op("Mul", [y, ctx.const(layer.gamma.numpy().reshape(channel), "gamma")])
    if layer.beta is not None:
        y = ctx.op("Add", [y, ctx.const(layer.beta.numpy().reshape(channel), "beta")])
    return y


@onnx_converter(L.SpectralNormalization)
def _spectral_normalization(ctx, layer, node, inputs):
    inner = converter_for(type(layer.layer))
    if inner is None:
        raise OnnxExportError(f"ONNX export: SpectralNormalization '{layer.name}' wraps "
                              f"{type(layer.layer).__name__}, which has no ONNX converter")
    return inner(ctx, layer.layer, node, inputs)
