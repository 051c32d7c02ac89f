"""Model: a layer with a training API. Built functionally (`Model(inputs, outputs)`) or by subclassing."""
import warnings

from tinydl import backend, ops
from tinydl.io import openvino, pickling, saving, tfjs
from tinydl.layers.base import KerasTensor, Layer, flatten, pack_like, unique_name
from tinydl.layers.naming import snake_case
from tinydl.models.functional import FunctionalGraph, graph_config, graph_from_config
from tinydl.models.training import Trainer
from tinydl.models.summary import summary

__all__ = ["Model"]


class Model(Trainer, Layer):
    """A trainable graph of layers.

    Functional: `Model(inputs=Input(...), outputs=...)`. Subclassed: override `call(self, inputs,
    training=None)` and create layers in `__init__`. Either way: `compile`, `fit`, `evaluate`,
    `predict`, `summary`, `save`.
    """

    def __init__(self, inputs=None, outputs=None, name=None, trainable=True, **kwargs):
        if name is None:
            name = unique_name("functional" if inputs is not None else _snake_class(self))
        super().__init__(name=name, trainable=trainable, **kwargs)
        self._init_training()
        self._graph = None
        if inputs is not None:
            if outputs is None:
                raise ValueError("Model(inputs=...) also needs outputs=...")
            self._set_graph(FunctionalGraph(inputs, outputs))

    def _set_graph(self, graph):
        """Adopt a functional graph: its layers become this model's sub-layers."""
        self._graph = graph
        self._graph_layers = [layer for layer in graph.layers if layer is not self]
        self.built = True

    # -- functional facts --------------------------------------------------------------------
    @property
    def layers(self):
        """The model's layers (for functional models, InputLayers first, as Keras)."""
        if self._graph is not None:
            return list(self._graph.layers)
        return list(self._layers)

    def get_layer(self, name=None, index=None):
        """A layer by name or index."""
        if index is not None:
            return self.layers[index]
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise ValueError(f"model '{self.name}' has no layer named {name!r}; layers: {[l.name for l in self.layers]}")

    inputs = property(lambda self: self._graph.inputs if self._graph else None)
    outputs = property(lambda self: self._graph.outputs if self._graph else None)
    input_names = property(lambda self: self._graph.input_names if self._graph else ["input"])

    @property
    def output_names(self):
        return self._graph.output_names if self._graph else ["output"]

    @property
    def input_shape(self):
        shapes = [t.shape for t in self._graph.input_tensors]
        return shapes[0] if len(shapes) == 1 else shapes

    @property
    def output_shape(self):
        shapes = [t.shape for t in self._graph.output_tensors]
        return shapes[0] if len(shapes) == 1 else shapes

    # -- calling -----------------------------------------------------------------------------
    def build(self, input_shape):
        if self._graph is None and type(self).call is Model.call:
            raise ValueError(f"model '{self.name}' has no layers to build")
        self.built = True

    def call(self, inputs, training=None, mask=None):
        if self._graph is None:
            raise NotImplementedError(f"subclassed model '{self.name}' must override call(inputs, training=None)")
        outputs = self._graph.run(self._check_inputs(inputs), training=bool(training))
        self._output_masks = [getattr(t, "_keras_mask", None) for t in flatten(outputs)]
        return outputs

    def compute_mask(self, inputs, mask=None):
        """The masks the graph's last layers put on the outputs (a functional model passes them on, as Keras)."""
        masks = getattr(self, "_output_masks", None) if self._graph is not None else None
        if not masks or all(m is None for m in masks):
            return None
        return masks[0] if len(masks) == 1 else masks

    def _check_inputs(self, inputs):
        """Inputs in the graph's nesting, with ranks and fixed sizes checked against the Input shapes."""
        graph = self._graph
        if isinstance(inputs, dict):
            inputs = self._inputs_by_name(inputs)
        leaves = flatten(inputs)
        if len(leaves) != len(graph.input_tensors):
            raise ValueError(f"model '{self.name}' expects {len(graph.input_tensors)} input(s) "
                             f"{graph.input_names}, got {len(leaves)}")
        leaves = [_adjust_rank(value, kt.shape) for kt, value in zip(graph.input_tensors, leaves)]
        for kt, value in zip(graph.input_tensors, leaves):
            shape = tuple(value.shape)
            if len(shape) != len(kt.shape) or any(a is not None and a != b for a, b in zip(kt.shape, shape)):
                raise ValueError(f"model '{self.name}' expected input '{kt.name}' with shape {kt.shape}, "
                                 f"got {shape}")
        return pack_like(graph.inputs, leaves) if not isinstance(graph.inputs, KerasTensor) else leaves[0]

    def _inputs_by_name(self, inputs):
        """A dict of inputs matched to the model's inputs by name (dict keys or Input names), as Keras:
        a missing name is an error, extra keys are ignored with a warning."""
        graph = self._graph
        names = list(graph.inputs) if isinstance(graph.inputs, dict) else graph.input_names
        missing = [n for n in names if n not in inputs]
        if missing:
            raise ValueError(f"model '{self.name}' expects inputs named {names}; the dict passed lacks {missing} "
                             f"(got keys {sorted(inputs)})")
        extra = sorted(set(inputs) - set(names))
        if extra:
            warnings.warn(f"model '{self.name}': input keys {extra} do not match any input {names}; they are "
                          "ignored", stacklevel=3)
        if isinstance(graph.inputs, dict):
            return {n: inputs[n] for n in names}
        matched = [inputs[n] for n in names]
        return matched[0] if isinstance(graph.inputs, KerasTensor) else type(graph.inputs)(matched)

    def to(self, device):
        """Move every weight to `device` ('cpu' or 'cuda'); returns the model."""
        device = backend.check_device(device)
        for layer in [self] + self.sublayers():
            layer._device_name = device
        for w in self.weights:
            w.data = backend.to_device(w.data, device)
            w.grad = None
        if getattr(self, "optimizer", None) is not None:
            self.optimizer.to(device)
        return self

    # -- configuration -----------------------------------------------------------------------
    def get_config(self):
        if self._graph is None:
            return {"name": self.name, "trainable": self.trainable}
        return {"name": self.name, "trainable": self.trainable, **graph_config(self._graph)}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        if "layers" not in config:
            return cls(**{k: v for k, v in config.items() if k in ("name", "trainable")})
        inputs, outputs = graph_from_config(config, custom_objects)
        return cls(inputs=inputs, outputs=outputs, name=config.get("name"))

    # summary, saving and export live in their own modules
    def save(self, filepath, overwrite=True, include_optimizer=True):
        """Save to `.h5` (legacy Keras layout) or `.keras` (Keras 3 archive); see tinydl.io.saving."""
        saving.save_model(self, filepath, overwrite=overwrite, include_optimizer=include_optimizer)

    def save_weights(self, filepath, overwrite=True):
        """Save the weights: `*.weights.h5` in Keras 3's format, other `.h5` in the legacy layout."""
        saving.save_weights(self, filepath, overwrite=overwrite)

    def load_weights(self, filepath, by_name=False, skip_mismatch=False):
        """Load weights from a `.weights.h5`, legacy `.h5` or `.keras` file."""
        saving.load_weights(self, filepath, by_name=by_name, skip_mismatch=skip_mismatch)

    def save_pretrained(self, directory, max_shard_size="5GB"):
        """A Hugging Face style folder: config.json + model.safetensors (sharded with an index json above
        `max_shard_size`); load it with `tinydl.models.from_pretrained(directory)`."""
        saving.save_pretrained(self, directory, max_shard_size=max_shard_size)

    def __reduce_ex__(self, protocol):
        """Pickle (and joblib, deepcopy) through the `.keras` bytes, as Keras 3 does; a model without a
        saveable architecture (subclassed without get_config, or not built) pickles as a plain object."""
        if self.built and (getattr(self, "inputs", None) is not None
                           or type(self).get_config is not Model.get_config):
            return pickling.reduce_model(self)
        return object.__reduce_ex__(self, protocol)

    def export(self, filepath, format="onnx", opset=17, **kwargs):
        """Export for inference: `format='onnx'` an ONNX model (tinydl.io.onnx), `'tfjs'` a TF.js layers
        folder (tinydl.io.tfjs), `'openvino'` OpenVINO IR `.xml` + `.bin` (tinydl.io.openvino)."""
        if format == "onnx":
            from tinydl.io import onnx
            return onnx.export(self, filepath, opset=opset, **kwargs)
        if format == "tfjs":
            return tfjs.export(self, filepath, **kwargs)
        if format == "openvino":  # converted from the ONNX export by the openvino package
            from tinydl.io import onnx
            return openvino.export(onnx.export(self, None, opset=opset, **kwargs), filepath)
        raise ValueError(f"unsupported export format {format!r}: tinydl exports 'onnx', 'tfjs' and 'openvino'")

    def summary(self, line_length=None, positions=None, print_fn=None, expand_nested=False, show_trainable=False):
        """Print a Keras-style table: layer (type), output shape, parameter count, connections."""
        return summary(self, line_length=line_length, print_fn=print_fn, show_trainable=show_trainable)


def _adjust_rank(value, expected):
    """Keras's rank rule: data one rank short of an Input whose last size is 1 gets that axis added;
    one rank over with a last size of 1 gets it squeezed."""
    shape = tuple(value.shape)
    if len(shape) == len(expected) - 1 and expected[-1] == 1:
        return ops.reshape(value, shape + (1,))
    if len(shape) == len(expected) + 1 and shape[-1] == 1:
        return ops.reshape(value, shape[:-1])
    return value


def _snake_class(obj):
    return snake_case(type(obj).__name__)


# Keras names graph models "Functional" in configs: build a Model from those too.
from tinydl.io.config import register_serializable  # noqa: E402
register_serializable(name="Functional")(Model)
