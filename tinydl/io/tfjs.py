"""TensorFlow.js layers format (`model.export(dir, format="tfjs")`): `model.json` and binary weight shards,
loadable with `tf.loadLayersModel("file://dir/model.json")` (verified with @tensorflow/tfjs in Node).

model.json holds `modelTopology` (the model config in the Keras 2 form TF.js reads: `batch_input_shape`,
nested inbound node lists, class `Model` for functional graphs) and `weightsManifest` (weights named by Keras
path, `dense/kernel`, in `group1-shardKofN.bin` files of at most `shard_bytes`, little-endian float32/int32).
TF.js has no class for some Keras layers (e.g. MultiHeadAttention, Attention, GroupNormalization); exporting a
model with one raises a ValueError naming them.
"""
import json
import os

import numpy as np

from tinydl.io.files import write_atomic
from tinydl.io.model_config import KERAS_VERSION, model_to_config

__all__ = ["export", "TFJS_LAYERS"]

# Layer classes @tensorflow/tfjs-layers 4.x can deserialize (its registered class names).
TFJS_LAYERS = frozenset("""Activation Add AlphaDropout Average AveragePooling1D AveragePooling2D AveragePooling3D
BatchNormalization Bidirectional CategoryEncoding CenterCrop Concatenate Conv1D Conv2D Conv2DTranspose Conv3D
Conv3DTranspose ConvLSTM2D Cropping2D Dense DepthwiseConv2D Dot Dropout ELU Embedding Flatten GRU GaussianDropout
GaussianNoise GlobalAveragePooling1D GlobalAveragePooling2D GlobalMaxPooling1D GlobalMaxPooling2D InputLayer LSTM
LayerNormalization LeakyReLU Masking MaxPooling1D MaxPooling2D MaxPooling3D Maximum Minimum Multiply PReLU Permute
ReLU RepeatVector Rescaling Reshape Resizing SeparableConv2D SimpleRNN Softmax SpatialDropout1D ThresholdedReLU
TimeDistributed UpSampling2D ZeroPadding2D Functional Model Sequential""".split())

_DTYPES = {"float32": "float32", "float64": "float32", "float16": "float32", "int32": "int32", "int64": "int32",
           "bool": "bool"}  # TF.js holds float32, int32 and bool tensors
_INITIALIZER_ALIASES = {"uniform": "random_uniform", "normal": "random_normal"}  # Keras aliases TF.js lacks
_KERAS3_ONLY = ("module", "registered_name", "build_config", "compile_config", "optional", "quantization_config")


def export(model, directory, shard_bytes=4 * 1024 * 1024):
    """Write `directory/model.json` and `group1-shard*.bin` for TF.js's `loadLayersModel`."""
    directory = os.fspath(directory)
    if not (isinstance(shard_bytes, int) and shard_bytes > 0):
        raise ValueError(f"shard_bytes must be a positive int, got {shard_bytes!r}")
    topology = tfjs_topology(model_to_config(model))
    names, arrays = _weights(model)
    data = b"".join(a.tobytes() for a in arrays)
    shards = [data[i:i + shard_bytes] for i in range(0, len(data), shard_bytes)] or [b""]
    paths = [f"group1-shard{i + 1}of{len(shards)}.bin" for i in range(len(shards))]
    manifest = [{"paths": paths, "weights": [{"name": n, "shape": list(a.shape), "dtype": a.dtype.name}
                                             for n, a in zip(names, arrays)]}]
    os.makedirs(directory, exist_ok=True)
    for path, shard in zip(paths, shards):
        write_atomic(os.path.join(directory, path), shard)
    document = {"format": "layers-model", "generatedBy": f"tinydl (Keras {KERAS_VERSION} config)",
                "convertedBy": "tinydl", "modelTopology": topology, "weightsManifest": manifest}
    write_atomic(os.path.join(directory, "model.json"), json.dumps(document).encode("utf8"))


def tfjs_topology(config):
    """The Keras 2 style `modelTopology` TF.js reads, from a tinydl (Keras 3) model config."""
    missing = sorted(set().union(*map(_classes, _layer_list(config))) - TFJS_LAYERS)
    if missing:
        raise ValueError(f"cannot export to TF.js: @tensorflow/tfjs-layers has no layer class {missing}; "
                         "export to ONNX (onnxruntime-web runs it in the browser) or rebuild the model without them")
    return {"keras_version": "2.15.0", "backend": "tensorflow", "model_config": _model(config)}


def _model(config):
    """A model config in Keras 2 form (Functional as 'Model', nested inbound node lists)."""
    kind, inner = config["class_name"], config["config"]
    if kind == "Sequential" and "input_layers" not in inner:
        layers = [_layer(layer) for layer in inner["layers"]]
        return {"class_name": "Sequential", "config": {"name": inner["name"], "layers": layers}}
    layers = []
    for layer in inner["layers"]:
        converted = _layer(layer)
        converted["name"] = layer["name"]
        converted["inbound_nodes"] = [_node(node) for node in layer.get("inbound_nodes", [])]
        layers.append(converted)
    return {"class_name": "Model", "config": {"name": inner["name"], "layers": layers,
                                               "input_layers": _endpoints(inner["input_layers"]),
                                               "output_layers": _endpoints(inner["output_layers"])}}


def _layer(layer):
    """One layer's {class_name, config} without Keras 3's extra keys, InputLayer in Keras 2 form."""
    if layer["class_name"] in ("Functional", "Model", "Sequential") or "layers" in layer.get("config", {}):
        # tfjs-layers 4.22 fails such graphs with "Graph disconnected" at the inner model's Input
        raise ValueError(f"cannot export to TF.js: model '{layer['config'].get('name')}' is nested in another "
                         "model, which TF.js's loader does not reconnect; build the model from its layers directly")
    config = _plain(layer["config"])
    if layer["class_name"] == "GRU" and config.get("reset_after"):
        raise ValueError(f"cannot export to TF.js: GRU '{config.get('name')}' has reset_after=True (Keras 3's "
                         "default), which TF.js's GRU does not implement; build it with reset_after=False")
    if layer["class_name"] == "InputLayer":
        config["batch_input_shape"] = config.pop("batch_shape", None) or [None, *config.pop("shape", [])]
        for key in ("sparse", "ragged"):
            config.pop(key, None)
    for key in ("layer", "forward_layer", "backward_layer", "cell"):
        if isinstance(config.get(key), dict) and "class_name" in config[key]:
            config[key] = _layer(config[key])
    return {"class_name": layer["class_name"], "config": config}


def _plain(value):
    """Nested config values without Keras 3-only keys; DTypePolicy dicts become their dtype name."""
    if isinstance(value, dict):
        if value.get("class_name") == "DTypePolicy":
            return value["config"]["name"]
        return {k: _value(k, v) for k, v in value.items() if k not in _KERAS3_ONLY}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _value(key, value):
    """A config value TF.js understands: its dtypes, its initializer names."""
    if key == "dtype" and isinstance(value, str):
        return _DTYPES.get(value, value)
    if key.endswith("_initializer") and isinstance(value, str):
        return _INITIALIZER_ALIASES.get(value, value)
    return _plain(value)


def _node(node):
    """A Keras 3 node ({"args", "kwargs"}) as Keras 2's list of [layer, node index, tensor index, kwargs]."""
    if isinstance(node, list):
        return node
    kwargs = {k: v for k, v in node.get("kwargs", {}).items() if not _is_tensor(v)}
    return [[*t["config"]["keras_history"], kwargs] for t in _tensors(node.get("args", []))]


def _tensors(value):
    """The `__keras_tensor__` entries of a node's arguments, in order."""
    if _is_tensor(value):
        return [value]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in _tensors(v)]
    return []


def _is_tensor(value):
    return isinstance(value, dict) and value.get("class_name") == "__keras_tensor__"


def _endpoints(value):
    """input_layers/output_layers always as a list of [name, node, tensor] triples."""
    return [value] if value and isinstance(value[0], str) else value


def _layer_list(config):
    """The layer configs of a model config (a model subclass with a functional graph is exported as 'Model')."""
    return config["config"].get("layers", [])


def _classes(config):
    """Every class_name of a layer (or model) in a config, nested ones included."""
    found = set()
    if isinstance(config, dict):
        if "class_name" in config and isinstance(config.get("config"), dict) and config["class_name"] not in (
                "__keras_tensor__",):
            if "name" in config["config"] or "layers" in config["config"]:
                found.add(config["class_name"])
        for key in ("layers", "layer", "forward_layer", "backward_layer", "cell", "config"):
            value = config.get(key)
            if isinstance(value, list):
                for item in value:
                    found |= _classes(item)
            elif isinstance(value, dict):
                found |= _classes(value)
    return found


def _weights(model):
    """(names, arrays) of the model's weights in TF.js dtypes, named by Keras path."""
    names, arrays, seen, tfjs_names = [], [], set(), _tfjs_names(model)
    for w in model.weights:
        if id(w) in seen:
            continue
        seen.add(id(w))
        value = np.asarray(w.numpy())
        dtype = _DTYPES.get(value.dtype.name)
        if dtype is None:
            raise ValueError(f"cannot export to TF.js: weight {w.path!r} has dtype {value.dtype}")
        names.append(tfjs_names.get(id(w), str(w.path)))
        arrays.append(np.asarray(value, dtype=np.dtype(dtype).newbyteorder("<")))  # tobytes() writes C order
    return names, arrays


def _tfjs_names(model):
    """{id(weight): name} where TF.js names a weight other than its Keras path: Bidirectional's halves are
    `<layer>/forward_<inner>/<weight>` and `<layer>/backward_<inner>/<weight>` there, TimeDistributed's
    `<layer>/<weight>`."""
    names = {}
    for layer in getattr(model, "layers", []):
        if getattr(layer, "layers", None) is not None and layer is not model:
            names.update(_tfjs_names(layer))
        if type(layer).__name__ == "TimeDistributed":
            names.update({id(w): f"{layer.name}/{w.name}" for w in layer.weights})
        if type(layer).__name__ == "Bidirectional":
            inner = layer.get_config()["layer"]["config"]["name"]
            for side, half in (("forward", layer.forward_layer), ("backward", layer.backward_layer)):
                for w in half.weights:
                    names[id(w)] = f"{layer.name}/{side}_{inner}/{w.name}"
    return names
