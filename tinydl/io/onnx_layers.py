"""ONNX converters of the activation, noise, normalisation and preprocessing layers (see tinydl/io/onnx.py).

Noise, dropout and augmentation layers are the identity in inference, which is what an exported model runs.
"""
import numpy as np

from tinydl import backend, layers as L
from tinydl.io.onnx import OnnxExportError, onnx_converter
from tinydl.layers.audio import linear_to_mel_weight_matrix
from tinydl.layers.preprocessing import given_statistic, resize_matrix


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


# -- noise and augmentation (inference: identity) ----------------------------------------------------------------
@onnx_converter(L.GaussianNoise, L.GaussianDropout, L.AlphaDropout, L.SpatialDropout1D, L.SpatialDropout2D,
                L.SpatialDropout3D, L.RandomFlip, L.RandomRotation, L.RandomZoom, L.RandomTranslation, L.RandomCrop,
                L.RandomContrast, L.RandomBrightness, L.RandomGrayscale, L.RandomInvert, L.Solarization,
                L.RandomColorDegeneration, L.RandomSharpness, L.RandomPosterization, L.RandomSaturation, L.RandomHue,
                L.RandomShear, L.RandomGaussianBlur, L.Equalization,
                L.MixUp, L.RandomErasing, L.CutMix, L.RandomColorJitter,
                L.RandomPerspective)
def _inference_identity(ctx, layer, node, inputs):
    return ctx.op("Identity", [inputs[0]])


@onnx_converter(L.AutoContrast)
def _auto_contrast(ctx, layer, node, inputs):
    """Per image and channel: (x - min) / (max - min) onto value_range, clipped; a flat channel is kept."""
    x = inputs[0]
    axes = [1, 2] if layer.data_format == "channels_last" else [2, 3]
    low, high = ctx.reduce("ReduceMin", x, axes), ctx.reduce("ReduceMax", x, axes)
    span = ctx.op("Sub", [high, low])
    flat = ctx.op("Equal", [span, ctx.const(np.float32(0))])
    safe = ctx.op("Where", [flat, ctx.const(np.float32(1)), span])
    lo, hi = (np.float32(v) for v in layer.value_range)
    scaled = ctx.op("Add", [ctx.op("Mul", [ctx.op("Div", [ctx.op("Sub", [x, low]), safe]), ctx.const(hi - lo)]),
                            ctx.const(lo)])
    return ctx.op("Where", [flat, x, ctx.op("Clip", [scaled, ctx.const(lo), ctx.const(hi)])])


# -- normalisation -----------------------------------------------------------------------------------------------
@onnx_converter(L.UnitNormalization)
def _unit_normalization(ctx, layer, node, inputs):
    x = inputs[0]
    axes = layer.axis if isinstance(layer.axis, list) else [layer.axis]
    square_sum = ctx.reduce("ReduceSum", ctx.op("Mul", [x, x]), axes)
    norm = ctx.op("Sqrt", [ctx.op("Max", [square_sum, ctx.const(np.float32(1e-12))])])
    return ctx.op("Div", [x, norm])


@onnx_converter(L.RMSNormalization)
def _rms_normalization(ctx, layer, node, inputs):
    x = inputs[0]
    rank = len(node.input_tensors[0].shape)
    axes = sorted(a % rank for a in layer.axis)
    mean_square = ctx.reduce("ReduceMean", ctx.op("Mul", [x, x]), axes)
    rms = ctx.op("Sqrt", [ctx.op("Add", [mean_square, ctx.const(np.float32(layer.epsilon))])])
    shape = [1] * rank
    for a in axes:
        shape[a] = node.input_tensors[0].shape[a]
    return ctx.op("Mul", [ctx.op("Div", [x, rms]), ctx.const(layer.scale.numpy().reshape(shape), "scale")])


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
    return ctx.emit_layer(layer.layer, node, inputs)  # inference runs the wrapped layer as it is


# -- preprocessing -----------------------------------------------------------------------------------------------
@onnx_converter(L.Rescaling)
def _rescaling(ctx, layer, node, inputs):
    x = _float_input(ctx, node, inputs[0])
    return ctx.op("Add", [ctx.op("Mul", [x, ctx.const(np.asarray(layer.scale, np.float32))]),
                          ctx.const(np.asarray(layer.offset, np.float32))])


@onnx_converter(L.Resizing)
def _resizing(ctx, layer, node, inputs):
    y = _resize(ctx, node, _float_input(ctx, node, inputs[0]), (layer.height, layer.width), layer.interpolation,
                layer.antialias, layer.crop_to_aspect_ratio, layer.pad_to_aspect_ratio, layer.fill_value,
                layer.data_format, layer)
    dtype = np.dtype(node.input_tensors[0].dtype)
    if dtype.kind not in "iu":
        return y
    info = np.iinfo(dtype)
    clipped = ctx.op("Clip", [ctx.op("Round", [y]), ctx.const(np.float32(info.min)), ctx.const(np.float32(info.max))])
    return ctx.op("Cast", [clipped], to=_onnx_type(dtype))


@onnx_converter(L.CenterCrop)
def _center_crop(ctx, layer, node, inputs):
    x, shape = _float_input(ctx, node, inputs[0]), node.input_tensors[0].shape
    h_axis = len(shape) - 3 if layer.data_format == "channels_last" else len(shape) - 2
    h, w = _known_hw(shape, h_axis, layer)
    if h < layer.height or w < layer.width:
        return _resize(ctx, node, x, (layer.height, layer.width), "bilinear", False, True, False, 0.0,
                       layer.data_format, layer)
    top, left = (h - layer.height) // 2, (w - layer.width) // 2
    return _slice(ctx, x, h_axis, (top, top + layer.height), (left, left + layer.width))


@onnx_converter(L.Normalization)
def _normalization(ctx, layer, node, inputs):
    x = _float_input(ctx, node, inputs[0])
    shape = [1 if d is None else d for d in node.input_tensors[0].shape]
    keep = _keep_axes(layer, len(shape))
    broadcast = [shape[a] if a in keep else 1 for a in range(len(shape))]
    if layer.input_mean is not None:
        mean = given_statistic(layer.input_mean, broadcast).astype(np.float32)
        variance = given_statistic(layer.input_variance, broadcast).astype(np.float32)
    else:
        mean, variance = layer.mean.numpy().reshape(broadcast), layer.variance.numpy().reshape(broadcast)
    std = np.maximum(np.sqrt(variance), 1e-7).astype(np.float32)
    if layer.invert:
        return ctx.op("Add", [ctx.const(mean, "mean"), ctx.op("Mul", [x, ctx.const(std, "std")])])
    return ctx.op("Div", [ctx.op("Sub", [x, ctx.const(mean, "mean")]), ctx.const(std, "std")])


@onnx_converter(L.Discretization)
def _discretization(ctx, layer, node, inputs):
    x = _float_input(ctx, node, inputs[0])
    boundaries = ctx.const(np.asarray(layer.bin_boundaries, np.float32), "bin_boundaries")
    above = ctx.op("Cast", [ctx.op("GreaterOrEqual", [ctx.unsqueeze(x, [-1]), boundaries])], to=7)  # int64
    ids = ctx.op("ReduceSum", [above, ctx.ints([-1], "axes")], keepdims=0)
    if layer.output_mode == "int":
        return ctx.op("Cast", [ids], to=6)  # int32, as Keras
    return _encode(ctx, ids, len(layer.bin_boundaries) + 1, layer.output_mode, node.input_tensors[0].shape, layer)


@onnx_converter(L.CategoryEncoding)
def _category_encoding(ctx, layer, node, inputs):
    ids = ctx.op("Cast", [inputs[0]], to=7)
    return _encode(ctx, ids, layer.num_tokens, layer.output_mode, node.input_tensors[0].shape, layer)


def _encode(ctx, ids, depth, mode, shape, layer):
    """int64 ids as Keras's one_hot / multi_hot / count float vectors (inputs of rank 2 with a batch)."""
    if mode == "one_hot":
        if len(shape) >= 2 and shape[-1] == 1:
            ids = ctx.op("Squeeze", [ids, ctx.ints([-1], "axes")])
        hot = ctx.op("Equal", [ctx.unsqueeze(ids, [-1]), ctx.const(np.arange(depth, dtype=np.int64), "tokens")])
        return ctx.op("Cast", [hot], to=1)
    if len(shape) != 2:
        raise OnnxExportError(f"ONNX export: {type(layer).__name__} '{layer.name}' with output_mode={mode!r} is "
                              f"exported for inputs of shape (batch, n), got {tuple(shape)}")
    hot = ctx.op("Cast", [ctx.op("Equal", [ctx.unsqueeze(ids, [-1]),
                                           ctx.const(np.arange(depth, dtype=np.int64), "tokens")])], to=1)
    count = ctx.op("ReduceSum", [hot, ctx.ints([1], "axes")], keepdims=0)
    return count if mode == "count" else ctx.op("Min", [count, ctx.const(np.float32(1))])


def _resize(ctx, node, x, size, interpolation, antialias, crop, pad, fill_value, data_format, layer):
    """Crop or pad to the aspect ratio, then two MatMuls with the layer's interpolation matrices."""
    shape = list(node.input_tensors[0].shape)
    rank = len(shape)
    h_axis = rank - 3 if data_format == "channels_last" else rank - 2
    h, w = _known_hw(shape, h_axis, layer)
    height, width = size
    if crop:
        crop_h = max(min(h, int(float(w * height) / width)), 1)
        crop_w = max(min(w, int(float(h * width) / height)), 1)
        top, left = int(float(h - crop_h) / 2), int(float(w - crop_w) / 2)
        x, h, w = _slice(ctx, x, h_axis, (top, top + crop_h), (left, left + crop_w)), crop_h, crop_w
    elif pad:
        pad_h, pad_w = max(h, int(float(w * height) / width)), max(w, int(float(h * width) / height))
        top, left = int(float(pad_h - h) / 2), int(float(pad_w - w) / 2)
        pads = [0] * (2 * rank)
        pads[h_axis], pads[h_axis + 1], pads[rank + h_axis], pads[rank + h_axis + 1] = top, left, top, left
        x = ctx.op("Pad", [x, ctx.ints(pads, "pads"), ctx.const(np.float32(fill_value))])
        h, w = h + 2 * top, w + 2 * left
    rows = ctx.const(resize_matrix(h, height, interpolation, antialias).astype(np.float32), "resize_rows")
    cols_t = ctx.const(resize_matrix(w, width, interpolation, antialias).T.astype(np.float32), "resize_cols")
    if data_format == "channels_last":  # (..., h, w, c) -> (..., c, h, w) for the two products
        perm = list(range(rank - 3)) + [rank - 1, rank - 3, rank - 2]
        x = ctx.transpose(x, perm)
    y = ctx.op("MatMul", [ctx.op("MatMul", [rows, x]), cols_t])
    if data_format == "channels_last":
        y = ctx.transpose(y, list(range(rank - 3)) + [rank - 2, rank - 1, rank - 3])
    return y


def _slice(ctx, x, h_axis, rows, cols):
    return ctx.op("Slice", [x, ctx.ints([rows[0], cols[0]], "starts"), ctx.ints([rows[1], cols[1]], "ends"),
                            ctx.ints([h_axis, h_axis + 1], "axes")])


def _known_hw(shape, h_axis, layer):
    h, w = shape[h_axis], shape[h_axis + 1]
    if h is None or w is None:
        raise OnnxExportError(f"ONNX export: {type(layer).__name__} '{layer.name}' needs known image sizes, got "
                              f"input shape {tuple(shape)}")
    return h, w


def _keep_axes(layer, ndim):
    return tuple(sorted(a % ndim for a in layer.axis))


def _float_input(ctx, node, x):
    """Integer inputs cast to float32, as the layers cast them."""
    return x if np.dtype(node.input_tensors[0].dtype).kind == "f" else ctx.op("Cast", [x], to=1)


def _onnx_type(dtype):
    from onnx import helper  # noqa: keeps onnx lazy
    return helper.np_dtype_to_tensor_dtype(np.dtype(dtype))


# -- vocabulary lookups (ai.onnx.ml LabelEncoder) ----------------------------------------------------------------
@onnx_converter(L.StringLookup, L.IntegerLookup)
def _lookup(ctx, layer, node, inputs):
    where = f"ONNX export: {type(layer).__name__} '{layer.name}'"
    if layer.invert or layer.num_oov_indices != 1:
        raise OnnxExportError(f"{where}: only invert=False with one OOV index has an ONNX form (LabelEncoder)")
    specials = int(layer.mask_token is not None) + 1
    keys = list(layer.get_vocabulary(include_special_tokens=False))
    values = list(range(specials, specials + len(keys)))
    if layer.mask_token is not None:
        keys, values = [layer.mask_token] + keys, [0] + values
    ctx.domains["ai.onnx.ml"] = 2
    key_attr = {"keys_strings": [str(k) for k in keys]} if isinstance(layer, L.StringLookup) else \
        {"keys_int64s": [int(k) for k in keys]}
    x = inputs[0] if isinstance(layer, L.StringLookup) else ctx.op("Cast", [inputs[0]], to=7)
    ids = ctx.op("LabelEncoder", [x], domain="ai.onnx.ml", values_int64s=values,
                 default_int64=int(layer.mask_token is not None), **key_attr)
    if layer.output_mode == "int":
        return ids
    if layer.output_mode == "tf_idf":
        raise OnnxExportError(f"{where}: output_mode='tf_idf' has no ONNX form here")
    depth = layer.max_tokens if layer.pad_to_max_tokens else layer.vocabulary_size()
    y = _encode(ctx, ids, depth, layer.output_mode, node.input_tensors[0].shape, layer)
    if layer.mask_token is not None and layer.output_mode != "one_hot":  # the mask is not counted (Keras)
        keep = np.ones(depth, np.float32)
        keep[0] = 0
        y = ctx.op("Mul", [y, ctx.const(keep, "unmasked")])
    return y


# -- audio -------------------------------------------------------------------------------------------------------
@onnx_converter(L.STFTSpectrogram)
def _stft_spectrogram(ctx, layer, node, inputs):
    """A grouped Conv (one group per channel) with the real and imaginary kernels, then the layer's mode."""
    if layer.mode == "angle":
        raise OnnxExportError(f"ONNX export: STFTSpectrogram '{layer.name}' with mode='angle' needs atan2, which "
                              "ONNX (opset 17) does not have")
    shape = tuple(node.input_tensors[0].shape)
    channels = shape[2] if layer.data_format == "channels_last" else shape[1]
    x = ctx.transpose(inputs[0], (0, 2, 1)) if layer.data_format == "channels_last" else inputs[0]

    def transform(kernel, part):
        """(batch, channels, bins, frames) of one kernel."""
        k = kernel.numpy()[:, 0, :]  # (frame_length, bins)
        w = np.tile(k.T[:, None, :], (channels, 1, 1))  # (channels * bins, 1, frame_length), channel-major
        y = ctx.op("Conv", [x, ctx.const(w, f"{layer.name}.{part}")], kernel_shape=[layer.frame_length],
                   strides=[layer.step], group=channels,
                   auto_pad="SAME_UPPER" if layer.padding == "same" else "VALID")
        return ctx.reshape(y, [0, channels, layer.bins, -1])

    real = transform(layer.real_kernel, "real_kernel") if layer.mode != "imag" else None
    imag = transform(layer.imag_kernel, "imag_kernel") if layer.mode != "real" else None
    if layer.mode in ("real", "imag"):
        out = real if layer.mode == "real" else imag
    elif layer.mode == "stft":
        out = ctx.op("Concat", [real, imag], axis=2)
    else:
        power = ctx.op("Add", [ctx.op("Mul", [real, real]), ctx.op("Mul", [imag, imag])])
        if layer.mode == "psd":
            doubled = np.full(layer.bins, 2.0, np.float32)
            doubled[[0, -1]] = 1.0  # the DC and Nyquist bins count once
            out = ctx.op("Mul", [power, ctx.const(doubled.reshape(1, 1, -1, 1), "psd_weights")])
        else:
            eps = ctx.const(np.float32(backend.epsilon()), "epsilon")
            out = ctx.op("Sqrt", [ctx.op("Max", [power, eps])])
            if layer.mode == "log":
                out = ctx.op("Log", [ctx.op("Max", [out, eps])])
    bins = layer.bins * 2 if layer.mode == "stft" else layer.bins
    if layer.expand_dims:
        return ctx.transpose(out, (0, 3, 2, 1) if layer.data_format == "channels_last" else (0, 1, 3, 2))
    out = ctx.reshape(out, [0, channels * bins, -1])
    return ctx.transpose(out, (0, 2, 1)) if layer.data_format == "channels_last" else out


@onnx_converter(L.MelSpectrogram)
def _mel_spectrogram(ctx, layer, node, inputs):
    """Reflect-pad, Gather the frames, MatMul with the windowed DFT's cos and -sin parts, then the mel bank."""
    shape = tuple(node.input_tensors[0].shape)
    if shape[-1] is None:
        raise OnnxExportError(f"ONNX export: MelSpectrogram '{layer.name}' needs a known signal length, got {shape}")
    rank, n, half = len(shape), layer.fft_length, layer.fft_length // 2
    x = inputs[0] if np.dtype(node.input_tensors[0].dtype) == np.float32 else ctx.op("Cast", [inputs[0]], to=1)
    pads = [0] * (rank - 1) + [half] + [0] * (rank - 1) + [half]
    x = ctx.op("Pad", [x, ctx.ints(pads, "pads")], mode="reflect")
    frames = (shape[-1] + 2 * half - n) // layer.sequence_stride + 1
    index = np.arange(frames)[:, None] * layer.sequence_stride + np.arange(n)[None, :]
    framed = ctx.op("Gather", [x, ctx.ints(index, "frame_index")], axis=rank - 1)  # (..., frames, fft_length)
    bins = n // 2 + 1
    angle = 2 * np.pi * np.arange(n)[:, None] * np.arange(bins)[None, :] / n
    window = layer.frame_window()
    window = np.ones(n) if window is None else window
    real = ctx.op("MatMul", [framed, ctx.const(window[:, None] * np.cos(angle), "dft_real")])
    imag = ctx.op("MatMul", [framed, ctx.const(-window[:, None] * np.sin(angle), "dft_imag")])
    magnitude = ctx.op("Sqrt", [ctx.op("Add", [ctx.op("Mul", [real, real]), ctx.op("Mul", [imag, imag])])])
    spectrum = ctx.op("Pow", [magnitude, ctx.const(np.float32(layer.mag_exp), "mag_exp")])
    matrix = linear_to_mel_weight_matrix(layer.num_mel_bins, bins, layer.sampling_rate, layer.min_freq,
                                         layer.max_freq)
    mel = ctx.op("MatMul", [spectrum, ctx.const(matrix, "mel_matrix")])
    if layer.power_to_db:
        floor = ctx.op("Max", [mel, ctx.const(np.float32(layer.min_power), "min_power")])
        ref = 10.0 * np.log10(max(abs(layer.ref_power), layer.min_power))
        db = ctx.op("Sub", [ctx.op("Mul", [ctx.op("Log", [floor]), ctx.const(np.float32(10.0 / np.log(10.0)))]),
                            ctx.const(np.float32(ref), "ref_db")])
        peak = ctx.reduce("ReduceMax", db, list(range(rank + 1)), keepdims=0)
        mel = ctx.op("Max", [db, ctx.op("Sub", [peak, ctx.const(np.float32(layer.top_db), "top_db")])])
    return ctx.transpose(mel, tuple(range(rank - 1)) + (rank, rank - 1))
