"""ONNX export: `model.export("m.onnx", format="onnx", opset=17)`, checked by onnxruntime in the tests.

The exporter walks the model's functional graph (Sequential, functional, nested models; a subclassed
model is traced once on symbolic inputs of the shape it was built with) and asks one converter per
layer class for ONNX nodes:

    @onnx_converter(MyLayer)
    def _my_layer(ctx, layer, node, inputs):      # inputs: ONNX value names of node.input_tensors
        return ctx.op("Relu", [inputs[0]])        # one name per output tensor (or a list)

`ctx` (an `OnnxContext`) makes nodes and initializers and has helpers (`const`, `weight`, `transpose`,
`reshape`, `activation`, ...). Channels-last convolution and pooling are wrapped in Transposes to ONNX's
NCHW; back-to-back Transposes that cancel are folded away at the end. Every graph input and output has
a shape whose batch dimension is the string "batch" (dynamic). The file targets opset 17 and IR version
8, which onnxruntime releases of the last years all accept. A layer with no converter fails the export
with an `OnnxExportError` naming it.
"""
import math

import numpy as np

from tinydl.io.files import atomic_path
from tinydl.io.model_config import is_model

__all__ = ["export", "onnx_converter", "converter_for", "onnx_masker", "OnnxContext", "OnnxExportError",
           "supported_layers"]

IR_VERSION = 8
_CONVERTERS = {}


class OnnxExportError(ValueError):
    """A model cannot be exported (a layer without converter, an unsupported option)."""


def onnx_converter(*classes):
    """Register the decorated function as the ONNX converter of these layer classes."""
    def register(fn):
        for cls in classes:
            _CONVERTERS[cls] = fn
        return fn
    return register


def converter_for(layer_class):
    """The converter registered for exactly this layer class, or None."""
    return _CONVERTERS.get(layer_class)


def supported_layers():
    """Names of the layer classes that have an ONNX converter."""
    _load_converters()
    return sorted(cls.__name__ for cls in _CONVERTERS)


def export(model, filepath=None, opset=17, batch_dim="batch"):
    """Convert `model` to an ONNX ModelProto (checked with onnx.checker) and write it to `filepath`."""
    import onnx
    from onnx import helper
    _load_converters()
    if opset < 15:  # Shape(start, end), Trilu and ScatterND reduction need 14-16; 17 is the default
        raise OnnxExportError(f"opset {opset} is too old: tinydl exports opset 15 or newer (17 by default)")
    graph = _graph_of(model)
    ctx = OnnxContext(opset)
    inputs = []
    for kt, name in zip(graph.input_tensors, _unique_names(graph.input_names)):
        ctx.used.add(name)
        inputs.append(helper.make_tensor_value_info(name, _onnx_dtype(kt.dtype), _dims(kt.shape, batch_dim, name)))
    names = ctx.emit_graph(graph, [i.name for i in inputs])
    outputs = []
    input_names = {i.name for i in inputs}
    for kt, value, out_name in zip(graph.output_tensors, names, _unique_names(model.output_names)):
        if out_name in ctx.used or value in input_names or value in {o.name for o in outputs}:
            out_name = ctx.fresh(out_name)
        ctx.used.add(out_name)
        ctx.nodes.append(helper.make_node("Identity", [value], [out_name], name=ctx.fresh("output")))
        outputs.append(helper.make_tensor_value_info(out_name, _onnx_dtype(kt.dtype), _dims(kt.shape, batch_dim,
                                                                                         out_name)))
    nodes = _fold_transposes(ctx.nodes, {o.name for o in outputs})
    nodes = _fold_identities(nodes, {o.name for o in outputs})
    onnx_graph = helper.make_graph(nodes, model.name or "tinydl_model", inputs, outputs, ctx.initializers)
    imports = [helper.make_opsetid("", opset)] + [helper.make_opsetid(d, v) for d, v in sorted(ctx.domains.items())]
    proto = helper.make_model(onnx_graph, opset_imports=imports,
                              producer_name="tinydl", producer_version=_version())
    proto.ir_version = IR_VERSION
    onnx.checker.check_model(proto)
    if filepath is not None:
        with atomic_path(str(filepath)) as tmp:
            onnx.save(proto, tmp)
    return proto


class OnnxContext:
    """Collects nodes and initializers while converters run; names every value uniquely."""

    def __init__(self, opset):
        self.opset = opset
        self.nodes, self.initializers = [], []
        self.used = set()
        self.values = {}  # id(KerasTensor) -> ONNX name, for the graph being emitted
        self.masks = {}   # id(KerasTensor) -> ONNX name of its (batch, time) bool mask, when it carries one
        self.domains = {}  # other operator sets a converter used (e.g. {"ai.onnx.ml": 2} for LabelEncoder)

    # -- building blocks -----------------------------------------------------------------------------
    def fresh(self, base):
        """A value/node name not used before: `base`, `base_1`, ..."""
        base = "".join(c if c.isalnum() or c in "_./-" else "_" for c in str(base)) or "v"
        name, i = base, 0
        while name in self.used:
            i += 1
            name = f"{base}_{i}"
        self.used.add(name)
        return name

    def op(self, op_type, inputs, outputs=1, name=None, **attrs):
        """Add a node; returns its output name (or a list of names when outputs > 1)."""
        from onnx import helper
        outs = [self.fresh(f"{name or op_type}_out") for _ in range(outputs)]
        self.nodes.append(helper.make_node(op_type, list(inputs), outs, name=self.fresh(name or op_type),
                                           **{k: v for k, v in attrs.items() if v is not None}))
        return outs[0] if outputs == 1 else outs

    def const(self, value, name="const", dtype=None):
        """An initializer holding `value` (floats as float32 unless `dtype` says otherwise)."""
        from onnx import numpy_helper
        value = np.asarray(value)
        if dtype is not None:
            value = value.astype(dtype)
        elif value.dtype.kind == "f":
            value = value.astype(np.float32)
        elif value.dtype.kind in "iu":
            value = value.astype(np.int64)
        name = self.fresh(name)
        self.initializers.append(numpy_helper.from_array(np.array(value, order="C"), name))  # 0-d stays 0-d
        return name

    def ints(self, values, name="shape"):
        return self.const(np.asarray(values, dtype=np.int64), name)

    def weight(self, var, name=None):
        """A layer weight as a float32 initializer."""
        value = var.numpy() if hasattr(var, "numpy") else np.asarray(var)
        return self.const(value, name or getattr(var, "path", "w").replace("/", "."))

    def transpose(self, x, perm):
        return self.op("Transpose", [x], perm=list(perm))

    def reshape(self, x, shape):
        return self.op("Reshape", [x, self.ints(shape)])

    def unsqueeze(self, x, axes):
        return self.op("Unsqueeze", [x, self.ints(axes, "axes")])

    def reduce(self, op_type, x, axes, keepdims=1):
        """ReduceSum/ReduceMean/ReduceMax over `axes` (attribute or input form, as the opset wants)."""
        if op_type == "ReduceSum" or self.opset >= 18:
            return self.op(op_type, [x, self.ints(axes, "axes")], keepdims=keepdims)
        return self.op(op_type, [x], axes=list(axes), keepdims=keepdims)

    def matmul_add(self, x, kernel, bias=None):
        y = self.op("MatMul", [x, self.weight(kernel) if not isinstance(kernel, str) else kernel])
        if bias is not None:
            y = self.op("Add", [y, self.weight(bias) if not isinstance(bias, str) else bias])
        return y

    def activation(self, x, fn):
        """An activation function (tinydl.activations) as ONNX nodes."""
        return _activation(self, x, fn)

    def name_of(self, kt):
        """The ONNX name of a KerasTensor of the graph being emitted."""
        return self.values[id(kt)]

    def mask_of(self, kt):
        """The ONNX name of the implicit (batch, time) bool mask a KerasTensor carries, or None."""
        return None if kt is None else self.masks.get(id(kt))

    # -- graphs ----------------------------------------------------------------------------------------
    def emit_graph(self, graph, input_names, input_masks=None):
        """Emit every node of a functional graph; returns the ONNX names of its outputs (masks follow in
        `self.masks`, as Embedding(mask_zero=True) and Masking make them and mask-aware layers pass them)."""
        saved, saved_masks = self.values, self.masks
        self.values, self.masks = dict(saved), dict(saved_masks)
        for kt, name, mask in zip(graph.input_tensors, input_names, input_masks or [None] * len(input_names)):
            self.values[id(kt)] = name
            self.masks[id(kt)] = mask
        for node in graph.nodes:
            inputs = [self.values[id(t)] for t in node.input_tensors]
            outs = self.emit_layer(node.layer, node, inputs)
            outs = [outs] if isinstance(outs, str) else list(outs)
            if len(outs) < len(node.output_tensors):
                raise OnnxExportError(f"the ONNX converter of {type(node.layer).__name__} '{node.layer.name}' gave "
                                      f"{len(outs)} outputs for {len(node.output_tensors)}")
            for kt, name in zip(node.output_tensors, outs):
                self.values[id(kt)] = name
            if not getattr(self, "_inner_masks", None):
                masks = _output_masks(self, node.layer, node, inputs)
                for kt, mask in zip(node.output_tensors, masks):
                    self.masks[id(kt)] = mask
            else:
                for kt, mask in zip(node.output_tensors, self._inner_masks):
                    self.masks[id(kt)] = mask
                self._inner_masks = None
        result = [self.values[id(t)] for t in graph.output_tensors]
        result_masks = [self.masks.get(id(t)) for t in graph.output_tensors]
        self.values, self.masks = saved, saved_masks
        self._graph_masks = result_masks
        return result

    def emit_layer(self, layer, node, inputs):
        """ONNX names of the outputs of one layer call (nested models are inlined)."""
        if is_model(layer) and type(layer) not in _CONVERTERS:
            masks = [self.mask_of(t) for t in node.input_tensors]
            out = self.emit_graph(_graph_of(layer), inputs, masks)
            self._inner_masks = self._graph_masks
            return out
        converter = _CONVERTERS.get(type(layer))
        if converter is None:
            raise OnnxExportError(
                f"ONNX export: layer '{layer.name}' ({type(layer).__name__}) has no ONNX converter. Register one "
                f"with @tinydl.io.onnx.onnx_converter({type(layer).__name__}); supported layers: "
                f"{', '.join(supported_layers())}")
        return converter(self, layer, node, inputs)


# -- graph discovery --------------------------------------------------------------------------------------
def _graph_of(model):
    """The model's functional graph; a subclassed model is traced on Inputs of the shape it was built with."""
    graph = getattr(model, "_graph", None)
    if graph is not None:
        return graph
    from tinydl.layers.base import pack_like, flatten
    from tinydl.layers.core import Input
    from tinydl.models.functional import FunctionalGraph
    shapes = getattr(model, "_build_shapes", None)
    if shapes is None:
        raise OnnxExportError(f"model '{model.name}' has no graph and was never called: call it on data once "
                              "(so its input shapes are known) before exporting")
    leaves = [tuple(s) for s in flatten(shapes)] if isinstance(shapes, (list, dict)) else [tuple(shapes)]
    symbolic = [Input(batch_shape=(None,) + s[1:]) for s in leaves]
    inputs = pack_like(shapes, symbolic) if isinstance(shapes, (list, dict)) else symbolic[0]
    try:
        outputs = model.call(inputs, training=False)
    except TypeError:
        outputs = model.call(inputs)
    except Exception as e:  # noqa: BLE001 - any failure means the call is not traceable
        raise OnnxExportError(f"subclassed model '{model.name}' could not be traced for export "
                              f"({type(e).__name__}: {e}); build it functionally to export it") from e
    return FunctionalGraph(inputs, outputs)


def _unique_names(names):
    seen, out = set(), []
    for n in names:
        base, i = n, 0
        while n in seen:
            i += 1
            n = f"{base}_{i}"
        seen.add(n)
        out.append(n)
    return out


def _dims(shape, batch_dim, name):
    return [batch_dim if i == 0 and d is None else (f"{name}_dim{i}" if d is None else int(d))
            for i, d in enumerate(shape)]


def _onnx_dtype(dtype):
    from onnx import helper
    return helper.np_dtype_to_tensor_dtype(np.dtype(dtype))


def _version():
    try:
        import tinydl
        return tinydl.__version__
    except Exception:  # noqa: BLE001
        return "0"


# -- graph clean-up -----------------------------------------------------------------------------------------
def _fold_transposes(nodes, graph_outputs):
    """Drop Transpose pairs that cancel (NHWC->NCHW->NHWC between two convolutions), then dead nodes."""
    producer = {out: n for n in nodes for out in n.output}
    rename = {}
    for n in nodes:
        if n.op_type != "Transpose" or n.output[0] in graph_outputs:
            continue
        first = producer.get(n.input[0])
        if first is None or first.op_type != "Transpose":
            continue
        p1 = list(first.attribute[0].ints)
        p2 = list(n.attribute[0].ints)
        if len(p1) == len(p2) and all(p1[p2[i]] == i for i in range(len(p2))):
            rename[n.output[0]] = first.input[0]
    return _bypass(nodes, rename, graph_outputs)


def _fold_identities(nodes, graph_outputs):
    """Identity nodes feeding only other nodes are bypassed."""
    rename = {n.output[0]: n.input[0] for n in nodes if n.op_type == "Identity" and n.output[0] not in graph_outputs}
    return _bypass(nodes, rename, graph_outputs)


def _bypass(nodes, rename, graph_outputs):
    """Point every input named in `rename` (old output -> the value to read instead) past the bypassed
    nodes, then drop the nodes nothing reads any more."""
    if not rename:
        return nodes
    for n in nodes:
        for i, name in enumerate(n.input):
            while name in rename:
                name = rename[name]
            n.input[i] = name
    return _drop_dead(nodes, graph_outputs)


def _drop_dead(nodes, graph_outputs):
    while True:
        needed = set(graph_outputs) | {i for n in nodes for i in n.input}
        alive = [n for n in nodes if any(o in needed for o in n.output)]
        if len(alive) == len(nodes):
            return alive
        nodes = alive


# -- implicit masks -------------------------------------------------------------------------------------------
_MASKERS = {}


def onnx_masker(*classes):
    """Register how these layers make or change implicit masks: `fn(ctx, layer, node, inputs)` returns one
    mask name (or None) per output. Without one, mask-aware layers pass their first input's mask on."""
    def register(fn):
        for cls in classes:
            _MASKERS[cls] = fn
        return fn
    return register


def _output_masks(ctx, layer, node, inputs):
    n = len(node.output_tensors)
    fn = _MASKERS.get(type(layer))
    if fn is not None:
        masks = fn(ctx, layer, node, inputs)
        return list(masks) + [None] * (n - len(masks))
    if getattr(layer, "supports_masking", False) and node.input_tensors:
        return [ctx.mask_of(node.input_tensors[0])] * n
    return [None] * n


# -- activations ----------------------------------------------------------------------------------------------
def _activation(ctx, x, fn):
    name = getattr(fn, "__name__", None) or type(fn).__name__
    simple = {"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh", "softplus": "Softplus", "softsign": "Softsign",
              "exponential": "Exp", "selu": "Selu"}
    if name == "linear":
        return x
    if name in simple:
        return ctx.op(simple[name], [x])
    if name == "softmax":
        return ctx.op("Softmax", [x], axis=-1)
    if name == "log_softmax":
        return ctx.op("LogSoftmax", [x], axis=-1)
    if name == "elu":
        return ctx.op("Elu", [x], alpha=1.0)
    if name == "leaky_relu":
        return ctx.op("LeakyRelu", [x], alpha=0.2)
    if name == "relu6":
        return ctx.op("Clip", [x, ctx.const(np.float32(0)), ctx.const(np.float32(6))])
    if name in ("silu", "swish"):
        return ctx.op("Mul", [x, ctx.op("Sigmoid", [x])])
    if name == "hard_sigmoid":
        return ctx.op("HardSigmoid", [x], alpha=1.0 / 6, beta=0.5)
    if name in ("hard_silu", "hard_swish"):
        return ctx.op("Mul", [x, ctx.op("HardSigmoid", [x], alpha=1.0 / 6, beta=0.5)])
    if name == "mish":
        return ctx.op("Mul", [x, ctx.op("Tanh", [ctx.op("Softplus", [x])])])
    if name == "gelu":
        inner = ctx.op("Erf", [ctx.op("Mul", [x, ctx.const(np.float32(1 / math.sqrt(2)))])])
        half = ctx.op("Mul", [x, ctx.const(np.float32(0.5))])
        return ctx.op("Mul", [half, ctx.op("Add", [inner, ctx.const(np.float32(1))])])
    raise OnnxExportError(f"ONNX export: activation {name!r} has no ONNX form")


# -- converters -------------------------------------------------------------------------------------------------
_loaded = []


def _load_converters():
    """Register the converters of the built-in layers (once, on first export)."""
    if _loaded:
        return
    _loaded.append(True)
    from tinydl.io import onnx_converters  # noqa: F401
    from tinydl.io import onnx_recurrent  # noqa: F401
    from tinydl.io import onnx_graph  # noqa: F401
    from tinydl.io import onnx_layers  # noqa: F401
