"""Saving and loading models in Keras's files: the legacy `.h5` layout, Keras 3's `.weights.h5`, and `.keras`.

    model.save("m.h5")                      # legacy layout: model_config, training_config, model_weights,
    model = tinydl.models.load_model("m.h5")  # optimizer_weights (load + fit resumes exactly)
    model.save_weights("w.weights.h5")      # Keras 3 weights format: layers/<name>/vars/0, 1, ...
    model.load_weights("w.weights.h5")      # either format, or a .keras archive

The format follows the file name, as Keras does: `*.weights.h5` is Keras 3's weights format, any other
`.h5`/`.hdf5` the legacy layout, `.keras` the zip archive (see `keras_archive.py`). Every write goes to a
temporary file in the same folder that is renamed over the target at the end, so a crash never leaves
half a file. Loading a damaged file raises ValueError/OSError naming the file and what is wrong.
"""
import contextlib
import json
import os
import re
import tempfile
import warnings

import numpy as np

from tinydl.io.config import deserialize, register_serializable, serialize

__all__ = ["save_model", "load_model", "save_weights", "load_weights", "model_to_config", "model_from_config",
           "atomic_path"]

KERAS_VERSION = "3.15.1"      # the Keras version whose files we write (and whose loader we test against)
HEADER_LIMIT = 64512          # HDF5 attributes over this many bytes are split into name0, name1, ...

# Short loss names Keras 3 cannot load from a training_config (it needs the full function name).
_LOSS_NAMES = {"mse": "mean_squared_error", "mae": "mean_absolute_error", "mape": "mean_absolute_percentage_error",
               "msle": "mean_squared_logarithmic_error", "bce": "binary_crossentropy",
               "cce": "categorical_crossentropy", "scce": "sparse_categorical_crossentropy"}


# -- public API ------------------------------------------------------------------------------------
def save_model(model, filepath, overwrite=True, include_optimizer=True):
    """Save architecture, weights and (compiled) training state to `.h5`/`.hdf5` or `.keras`."""
    filepath = os.fspath(filepath)
    if filepath.endswith(".keras"):
        from tinydl.io import keras_archive
        return keras_archive.save_model(model, filepath, overwrite=overwrite)
    if filepath.endswith(".weights.h5"):
        raise ValueError(f"{filepath}: a '.weights.h5' file holds weights only; use model.save_weights() for it, "
                         "or save the whole model to a '.h5' or '.keras' file")
    if not filepath.endswith((".h5", ".hdf5")):
        raise ValueError(f"{filepath}: model.save() writes '.h5'/'.hdf5' (legacy Keras) or '.keras' files; "
                         "give the file one of those extensions")
    _check_overwrite(filepath, overwrite)
    h5py = _h5py()
    with atomic_path(filepath) as tmp, h5py.File(tmp, "w") as f:
        f.attrs["keras_version"] = KERAS_VERSION
        f.attrs["backend"] = "tinydl"
        f.attrs["model_config"] = json.dumps(model_to_config(model), default=_json_default)
        training = _training_config(model) if include_optimizer else None
        if training is not None:
            f.attrs["training_config"] = json.dumps(training, default=_json_default)
        _write_legacy_weights(f.create_group("model_weights"), model)
        if training is not None:
            _write_optimizer_weights(f, model)


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True):
    """A model from a `.h5`/`.hdf5` (legacy Keras) or `.keras` file, compiled when it was saved compiled."""
    filepath = os.fspath(filepath)
    _check_exists(filepath)
    if _is_zip(filepath):
        from tinydl.io import keras_archive
        return keras_archive.load_model(filepath, custom_objects, compile, safe_mode)
    with _open_h5(filepath) as f, _explained(filepath, "load a model from"):
        if "model_config" not in f.attrs:
            what = "a weights-only file" if ("layers" in f or "layer_names" in f.attrs) else "no 'model_config'"
            raise ValueError(f"{filepath}: {what}; it cannot be loaded with load_model() (build the model and "
                             "call model.load_weights() instead)")
        config = _json_attr(f, "model_config", filepath)
        model = model_from_config(config, custom_objects, safe_mode)
        if "model_weights" not in f:
            raise ValueError(f"{filepath}: the file has a model config but no 'model_weights' group")
        _read_legacy_weights(f["model_weights"], model, filepath)
        if compile and "training_config" in f.attrs:
            training = _json_attr(f, "training_config", filepath)
            _compile_from(model, training, custom_objects)
            if "optimizer_weights" in f:
                _read_optimizer_weights(f["optimizer_weights"], model, training, filepath)
    return model


def save_weights(model, filepath, overwrite=True):
    """Save the weights: Keras 3's format for `*.weights.h5`, the legacy layout for other `.h5` names."""
    filepath = os.fspath(filepath)
    if not filepath.endswith((".h5", ".hdf5")):
        raise ValueError(f"{filepath}: save_weights() writes HDF5 files; name it '*.weights.h5' (Keras 3's "
                         "format) or '*.h5' (the legacy layout)")
    _check_overwrite(filepath, overwrite)
    h5py = _h5py()
    with atomic_path(filepath) as tmp, h5py.File(tmp, "w") as f:
        if filepath.endswith(".weights.h5"):
            write_keras3_weights(f, model)
        else:
            _write_legacy_weights(f, model)


def load_weights(model, filepath, by_name=False, skip_mismatch=False):
    """Load weights from any of the formats (found from the file's contents, not its name).

    Legacy files are matched layer by layer in order (layers without weights skipped), or by layer
    name with `by_name=True`; Keras 3 files by the model's structure. `skip_mismatch=True` skips layers
    whose weight count or shapes differ (with a warning) instead of raising.
    """
    filepath = os.fspath(filepath)
    _check_exists(filepath)
    if _is_zip(filepath):
        from tinydl.io import keras_archive
        return keras_archive.load_weights(model, filepath, skip_mismatch=skip_mismatch)
    _require_built(model, filepath)
    with _open_h5(filepath) as f, _explained(filepath, "load weights from"), _all_or_nothing(model):
        if "layers" in f or "vars" in f:
            read_keras3_weights(f, model, filepath, by_name=by_name, skip_mismatch=skip_mismatch)
        elif "model_weights" in f:
            _read_legacy_weights(f["model_weights"], model, filepath, by_name, skip_mismatch)
        elif "layer_names" in f.attrs or "layer_names0" in f.attrs:
            _read_legacy_weights(f, model, filepath, by_name, skip_mismatch)
        else:
            raise ValueError(f"{filepath}: not a Keras weights file (no 'layers', 'model_weights' or "
                             "'layer_names' found)")


# -- model configs ---------------------------------------------------------------------------------
def model_to_config(model):
    """`{"class_name", "config"}` of a model, with Keras's class names (Functional, Sequential)."""
    from tinydl.models.model import Model
    if getattr(model, "_graph", None) is None and type(model).get_config is Model.get_config:
        raise ValueError(f"cannot save subclassed model '{model.name}' ({type(model).__name__}) with its architecture: "
                         "it has no functional graph and no get_config() of its own. Save its weights with "
                         "model.save_weights('w.weights.h5') and rebuild it in code, or define get_config()")
    config = serialize(model)
    config["class_name"] = _class_name(model)
    return _keras_class_names(config)


def model_from_config(config, custom_objects=None, safe_mode=True):
    """Build the model a `{"class_name", "config"}` dict describes (Functional/Model/Sequential or registered)."""
    _register_model_aliases()
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError("the model config is not a {'class_name': ..., 'config': ...} dict")
    model = deserialize(_drop_keras_only(config), custom_objects, safe_mode=safe_mode)
    from tinydl.models.model import Model
    if not isinstance(model, Model):
        raise ValueError(f"the config describes a {type(model).__name__}, not a model")
    return model


# Config keys Keras 3 writes that have no tinydl counterpart; dropped when they hold their default.
_KERAS_ONLY = {"optional": False, "quantization_config": None, "lora_rank": None, "lora_alpha": None,
               "input_axes": None, "output_axes": None, "sliding_window": None, "use_gate": False,
               "renorm": False, "renorm_clipping": None, "renorm_momentum": 0.99}


def _drop_keras_only(config):
    """A config without Keras-only keys at their default values (so Keras's files build tinydl layers)."""
    if isinstance(config, dict):
        out = {k: _drop_keras_only(v) for k, v in config.items()}
        if isinstance(out.get("kwargs"), dict) and "args" in out and "mask" in out["kwargs"] and \
                out["kwargs"]["mask"] is None:  # Keras records mask=None
            out["kwargs"] = {k: v for k, v in out["kwargs"].items() if k != "mask"}
        if isinstance(out.get("layers"), list) and "output_layers" in out:
            out["layers"] = _drop_mask_ops(out)
        inner = out.get("config")
        if "class_name" in out and isinstance(inner, dict):
            out["config"] = {k: v for k, v in inner.items() if not (k in _KERAS_ONLY and v == _KERAS_ONLY[k])}
        return out
    if isinstance(config, list):
        return [_drop_keras_only(v) for v in config]
    return config


_KERAS_MASK_OPS = {"NotEqual", "Any", "Equal", "LogicalAnd", "LogicalOr", "LogicalNot", "Squeeze", "ExpandDims"}


def _is_mask_op(entry):
    """An op node Keras may record for a mask: a known mask op, or any keras.ops node (Concatenate's mask
    uses ZerosLike, LogicalOr and the Concatenate op); those still used by real layers are kept."""
    return entry.get("class_name") in _KERAS_MASK_OPS or str(entry.get("module", "")).startswith("keras.src.ops")


def _is_keras_tensor_ref(value):
    return isinstance(value, dict) and value.get("class_name") == "__keras_tensor__"


def _drop_mask_ops(config):
    """A functional config's layers without the ops Keras records to compute masks (Masking's NotEqual and
    Any, passed on as `mask=` arguments): tinydl's layers carry masks implicitly, so those arguments go,
    then op layers that nothing uses any more."""
    ops = {e.get("name") for e in config["layers"] if _is_mask_op(e)}
    layers = []
    for entry in config["layers"]:
        nodes = []
        for node in entry.get("inbound_nodes", []):
            mask = node.get("kwargs", {}).get("mask") if isinstance(node, dict) else None
            if _is_keras_tensor_ref(mask) and mask["config"]["keras_history"][0] in ops:
                node = dict(node, kwargs={k: v for k, v in node["kwargs"].items() if k != "mask"})
            nodes.append(node)
        layers.append(dict(entry, inbound_nodes=nodes) if "inbound_nodes" in entry else entry)
    config = dict(config, layers=layers)
    while True:
        used = set(_referenced_layers(config["output_layers"]))
        for entry in layers:
            used.update(_referenced_layers(entry.get("inbound_nodes", [])))
        keep = [e for e in layers if not _is_mask_op(e) or e.get("name") in used]
        if len(keep) == len(layers):
            return keep
        layers = keep
        config = dict(config, layers=layers)


def _referenced_layers(value):
    """Names of layers a config fragment refers to (node arguments and [name, node, tensor] refs)."""
    if _is_keras_tensor_ref(value):
        return [value["config"]["keras_history"][0]]
    if isinstance(value, list) and len(value) >= 3 and isinstance(value[0], str) and isinstance(value[1], int):
        return [value[0]]
    if isinstance(value, list):
        return [n for v in value for n in _referenced_layers(v)]
    if isinstance(value, dict):
        return [n for v in value.values() for n in _referenced_layers(v)]
    return []


def _class_name(model):
    """'Functional' for graph models built by Model(inputs, outputs), else the class name."""
    from tinydl.models.model import Model
    if type(model) is Model and model._graph is not None:
        return "Functional"
    return type(model).__name__


def _keras_class_names(config):
    """A config as Keras writes it: nested graph models are 'Functional', built-ins name Keras's public
    modules (keras.layers, keras.initializers, ...) and carry no registered_name."""
    if isinstance(config, dict):
        out = {k: _keras_class_names(v) for k, v in config.items()}
        if out.get("class_name") == "Model" and isinstance(out.get("config"), dict) and "layers" in out["config"]:
            out["class_name"] = "Functional"
            out["module"] = "keras.src.models.functional"
        module = out.get("module")
        if isinstance(module, str) and module.startswith("keras.") and "class_name" in out:
            parts = module.split(".")
            if parts[1] == "models":
                out["module"] = "keras.src.models.functional" if out["class_name"] == "Functional" else "keras"
            elif parts[1] != "src":
                out["module"] = ".".join(parts[:2])
            out["registered_name"] = None
        return out
    if isinstance(config, list):
        return [_keras_class_names(v) for v in config]
    return config


_aliases_done = []


def _register_model_aliases():
    """'Functional' (Keras's name for graph models) builds a tinydl Model."""
    if not _aliases_done:
        from tinydl.models.model import Model
        register_serializable(name="Functional")(Model)
        _aliases_done.append(True)


# -- training config and optimizer state --------------------------------------------------------------
def _training_config(model):
    """Keras's training_config for a compiled model (None when it is not compiled)."""
    if not getattr(model, "compiled", False) or model.optimizer is None or not model._compile_args:
        return None
    args = model._compile_args
    return {"loss": _serialize_nested(args.get("loss"), loss=True),
            "loss_weights": args.get("loss_weights"),
            "metrics": _serialize_nested(args.get("metrics")),
            "weighted_metrics": _serialize_nested(args.get("weighted_metrics")),
            "run_eagerly": False, "steps_per_execution": 1, "jit_compile": False,
            "optimizer_config": {"class_name": type(model.optimizer).__name__,
                                 "config": model.optimizer.get_config()}}


def _serialize_nested(value, loss=False):
    """Losses/metrics given to compile (names, objects, lists, dicts) as JSON."""
    if value is None:
        return None
    if isinstance(value, str):
        return _LOSS_NAMES.get(value, value) if loss else value
    if isinstance(value, (list, tuple)):
        return [_serialize_nested(v, loss) for v in value]
    if isinstance(value, dict):
        return {k: _serialize_nested(v, loss) for k, v in value.items()}
    if hasattr(value, "get_config"):
        return serialize(value)
    name = getattr(value, "__name__", None)
    if name:
        return name
    raise TypeError(f"cannot save the compile argument {value!r}: use a name or an object with get_config()")


def _compile_from(model, training, custom_objects):
    """Compile `model` as the training_config says."""
    from tinydl import optimizers
    opt_config = training.get("optimizer_config")
    if opt_config is None:
        raise ValueError("training_config has no 'optimizer_config'")
    optimizer = optimizers.deserialize(opt_config, custom_objects)
    model.compile(optimizer=optimizer, loss=_deserialize_nested(training.get("loss"), custom_objects),
                  metrics=_deserialize_nested(training.get("metrics"), custom_objects),
                  loss_weights=training.get("loss_weights"),
                  weighted_metrics=_deserialize_nested(training.get("weighted_metrics"), custom_objects))


def _deserialize_nested(value, custom_objects):
    """Inverse of `_serialize_nested`: dicts with class_name become objects, names stay names."""
    if isinstance(value, dict) and "class_name" in value:
        return deserialize(value, custom_objects)
    if isinstance(value, dict):
        return {k: _deserialize_nested(v, custom_objects) for k, v in value.items()}
    if isinstance(value, list):
        return [_deserialize_nested(v, custom_objects) for v in value]
    return value


def optimizer_variables(model):
    """(values, names) of the optimizer's state as Keras lists it: iteration, learning_rate, then the slots
    with the model's trainable weights in Keras's layer order (the order Keras builds its optimizer in)."""
    optimizer = model.optimizer
    values, names = optimizer.variables(), optimizer.variable_names()
    order = optimizer._slot_order()
    head = len(values) - len(order)
    perm = _keras_variable_permutation(model, optimizer)
    position = {key: k for k, key in enumerate(order)}
    picked = [head + position[(name, perm[i])] for name, i in order]
    return values[:head] + [values[k] for k in picked], names[:head] + [names[k] for k in picked]


def set_optimizer_variables(model, values):
    """Inverse of `optimizer_variables`: load a Keras-ordered list into the (built) optimizer."""
    optimizer = model.optimizer
    order = optimizer._slot_order()
    head = len(values) - len(order)
    if head not in (1, 2):
        raise ValueError(f"expected {len(order) + 2} optimizer values (iteration, learning_rate, slots), "
                         f"got {len(values)}")
    perm = _keras_variable_permutation(model, optimizer)
    by_key = {(name, perm[i]): values[head + k] for k, (name, i) in enumerate(order)}
    optimizer.set_weights(list(values[:head]) + [by_key[key] for key in order])


def _keras_variable_permutation(model, optimizer):
    """perm[i] = the optimizer's index of the i-th trainable variable in Keras's order."""
    keras_order, seen = [], set()
    for layer in keras_layer_order(model):
        for w in layer.trainable_weights:
            if id(w) in optimizer._index and id(w) not in seen:
                seen.add(id(w))
                keras_order.append(optimizer._index[id(w)])
    rest = [i for i in range(len(optimizer._variables)) if i not in set(keras_order)]
    return keras_order + rest


def _write_optimizer_weights(f, model):
    """`optimizer_weights/<name>/<var>` with weight_names, in Keras's order."""
    optimizer = model.optimizer
    if not getattr(optimizer, "_variables", None):
        return  # never applied: nothing to save, Keras writes nothing either
    values, names = optimizer_variables(model)
    prefix = re.sub(r"[^\w.-]", "_", str(optimizer.name or "optimizer"))
    full = _dedupe([f"{prefix}/{n}" for n in names])
    group = f.create_group("optimizer_weights")
    _write_attr_list(group, "weight_names", full)
    for name, value in zip(full, values):
        _write_dataset(group, name, np.asarray(value))


def _read_optimizer_weights(group, model, training, filepath):
    """Restore the optimizer's iteration count and slots (building them on the trainable weights first)."""
    names = _read_attr_list(group, "weight_names")
    values = [_read_dataset(group, n, filepath) for n in names]
    optimizer = model.optimizer
    optimizer.build(model.trainable_weights)
    try:
        set_optimizer_variables(model, values)
    except ValueError as e:
        raise ValueError(f"{filepath}: the saved optimizer state does not fit the model: {e}") from e
    saved_lr = training.get("optimizer_config", {}).get("config", {}).get("learning_rate")
    if isinstance(saved_lr, float) and len(values) > 1 and np.asarray(values[1]).shape == () and \
            np.float32(saved_lr) == np.float32(np.asarray(values[1])):
        optimizer._learning_rate = saved_lr  # the float32 copy rounds it: keep the exact config value


# -- legacy weights layout ---------------------------------------------------------------------------
def keras_layer_order(model):
    """`model.layers` in the order Keras 3 lists them for the same graph (weights are matched by it).

    Keras orders a functional model's layers by depth from the outputs (deepest first), ties broken by
    when a depth-first walk from the outputs first meets them; Sequential keeps its stack order."""
    from tinydl.layers.core import InputLayer
    graph = getattr(model, "_graph", None)
    if graph is None or type(model).__name__ == "Sequential":
        return model.layers
    index, finished, ordered = {}, set(), []
    input_ids = {id(t) for t in graph.input_tensors}
    stack = [(t, False) for t in reversed(graph.output_tensors)]
    while stack:  # iterative depth-first walk: pre-order numbers layers, post-order lists nodes
        tensor, done = stack.pop()
        layer, node_index, _ = tensor._keras_history
        node = layer._inbound_nodes[node_index]
        if done:
            if id(node) not in finished:
                finished.add(id(node))
                ordered.append(node)
            continue
        if id(node) in finished:
            continue
        index.setdefault(id(layer), len(index))
        stack.append((tensor, True))
        if not isinstance(layer, InputLayer) and id(tensor) not in input_ids:
            stack.extend((t, False) for t in reversed(node.input_tensors))
    in_graph = {id(n) for n in ordered}
    node_depth, layer_depth, layers = {}, {}, {}
    for node in reversed(ordered):
        depth = max(node_depth.setdefault(id(node), 0), layer_depth.get(id(node.layer), 0))
        layer_depth[id(node.layer)] = depth
        layers[id(node.layer)] = node.layer
        node_depth[id(node)] = depth
        if isinstance(node.layer, InputLayer):
            continue
        for t in node.input_tensors:
            parent_layer, parent_index, _ = t._keras_history
            parent = parent_layer._inbound_nodes[parent_index]
            if id(parent) in in_graph:
                node_depth[id(parent)] = max(depth + 1, node_depth.get(id(parent), 0))
    for kt in graph.input_tensors:  # inputs no output needs still count, at depth 0
        layer = kt._keras_history[0]
        if id(layer) not in layers:
            layers[id(layer)] = layer
            layer_depth[id(layer)] = 0
            index[id(layer)] = -1
    return sorted(layers.values(), key=lambda l: (-layer_depth[id(l)], index[id(l)]))


def _legacy_weights(layer):
    """A layer's weights in Keras's legacy order: trainable, then non-trainable."""
    trainable = layer.trainable_weights
    ids = {id(w) for w in trainable}
    return trainable + [w for w in layer.weights if id(w) not in ids]


def _write_legacy_weights(group, model):
    """`layer_names` and one group per layer holding `weight_names` and the arrays (Keras 2/3 layout)."""
    layers = keras_layer_order(model)
    _write_attr_list(group, "layer_names", [layer.name for layer in layers])
    group.attrs["backend"] = "tinydl"
    group.attrs["keras_version"] = KERAS_VERSION
    for layer in sorted(layers, key=lambda l: l.name):
        layer_group = group.create_group(layer.name)
        weights = _legacy_weights(layer)
        names = _dedupe([_weight_name(layer, w) for w in weights])
        _write_attr_list(layer_group, "weight_names", names)
        for name, w in zip(names, weights):
            _write_dataset(layer_group, name, w.numpy())
    top = group.create_group("top_level_model_weights")
    _write_attr_list(top, "weight_names", [])


def _weight_name(layer, w):
    """The dataset name of a weight inside its layer group: '<layer>/<weight>' as Keras writes it."""
    path = getattr(w, "path", None) or w.name
    return path if path.startswith(layer.name + "/") else f"{layer.name}/{path}"


def _read_legacy_weights(group, model, filepath, by_name=False, skip_mismatch=False):
    """Assign each layer's weights from its group, matched by order (or by name)."""
    _require_built(model, filepath)
    saved = []
    for name in _read_attr_list(group, "layer_names"):
        if name not in group:
            raise ValueError(f"{filepath}: layer_names lists '{name}' but there is no group for it")
        weight_names = _read_attr_list(group[name], "weight_names")
        if weight_names:
            saved.append((name, [_read_dataset(group[name], w, filepath) for w in weight_names]))
    layers = [layer for layer in keras_layer_order(model) if layer.weights]
    if by_name:
        by = dict(saved)
        for layer in layers:
            if layer.name in by:
                _assign(layer, _legacy_weights(layer), by[layer.name], filepath, layer.name, skip_mismatch)
        return
    if len(saved) != len(layers):
        raise ValueError(f"{filepath}: the file has weights for {len(saved)} layers ({[n for n, _ in saved]}) but "
                         f"the model has {len(layers)} layers with weights ({[l.name for l in layers]})")
    for layer, (name, values) in zip(layers, saved):
        _assign(layer, _legacy_weights(layer), values, filepath, name, skip_mismatch)


def _assign(layer, variables, values, filepath, saved_name, skip_mismatch):
    """Set `variables` from `values` after checking the count and every shape."""
    where = f"layer '{layer.name}' ({type(layer).__name__}, saved as '{saved_name}')"
    problem = None
    if len(values) != len(variables):
        problem = f"{where} has {len(variables)} weights but the file holds {len(values)}"
    else:
        for var, value in zip(variables, values):
            if tuple(value.shape) != tuple(var.shape):
                problem = (f"{where}: weight '{var.name}' has shape {tuple(var.shape)} but the file holds "
                           f"shape {tuple(value.shape)}")
                break
    if problem:
        if skip_mismatch:
            warnings.warn(f"{filepath}: skipped {problem}")
            return
        raise ValueError(f"{filepath}: {problem}")
    for var, value in zip(variables, values):
        var.assign(np.asarray(value, dtype=var.dtype))


# -- Keras 3 weights layout (layers/<name>/vars/<i>) --------------------------------------------------
def write_keras3_weights(f, model):
    """Keras 3's `.weights.h5` tree: `vars` of each object, sub-layers under `layers/<snake class>`."""
    visited = set()
    _write_k3(f, model, "", visited)
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None and getattr(optimizer, "_variables", None):
        group = f.create_group("optimizer/vars")
        group.attrs["name"] = str(optimizer.name)
        for i, value in enumerate(optimizer_variables(model)[0]):
            _write_dataset(group, str(i), np.asarray(value))


def _write_k3(f, layer, path, visited):
    if id(layer) in visited:
        return
    visited.add(id(layer))
    group = f.require_group(f"{path}/vars" if path else "vars")
    group.attrs["name"] = layer.name
    parts = _keras_parts(layer)
    if parts is not None:  # a composite Keras layer: its weights live in sub-objects' vars
        weights = layer.weights
        for sub, start, stop in parts:
            sub_group = f.require_group(f"{path}/{sub}/vars")
            for i, w in enumerate(weights[start:stop]):
                _write_dataset(sub_group, str(i), w.numpy())
        visited.update(id(sub) for sub in _all_sublayers(layer))
        return
    for i, w in enumerate(_own_weights(layer)):
        _write_dataset(group, str(i), w.numpy())
    for child_path, child in _k3_children(layer, path):
        _write_k3(f, child, child_path, visited)


def _keras_parts(layer):
    """Where Keras 3's weights tree keeps a composite layer's weights: (sub-path, start, stop) over
    `layer.weights`, or None for layers whose own `vars` hold them."""
    kind = type(layer).__name__
    n = len(layer.weights)
    if kind in ("LSTM", "GRU", "SimpleRNN"):
        return [("cell", 0, n)]
    if kind == "Bidirectional":
        k = len(layer.forward_layer.weights)
        return [("forward_layer/cell", 0, k), ("backward_layer/cell", k, n)]
    if kind == "TimeDistributed":
        return [("layer", 0, n)]
    if kind == "MultiHeadAttention" and n in (4, 8):
        step = n // 4
        return [(part, i * step, (i + 1) * step)
                for i, part in enumerate(("query_dense", "key_dense", "value_dense", "output_dense"))] + [
            ("_dropout_layer", n, n), ("_softmax", n, n)]
    return None


def read_keras3_weights(f, model, filepath, by_name=False, skip_mismatch=False):
    """Assign weights from a Keras 3 weights tree, by structure (or by the saved layer names)."""
    if by_name:
        saved = {}
        for key in f.get("layers", {}):
            vars_group = f["layers"][key].get("vars")
            if vars_group is not None and "name" in vars_group.attrs:
                saved[_text(vars_group.attrs["name"])] = f"layers/{key}"
        for layer in model.layers:
            if layer.name in saved and layer.weights:
                values = _flatten_group(f[saved[layer.name]], filepath)
                _assign(layer, layer.weights, values, filepath, layer.name, skip_mismatch)
        return
    _read_k3(f, model, "", filepath, skip_mismatch, set())


def _read_k3(f, layer, path, filepath, skip_mismatch, visited):
    if id(layer) in visited:
        return
    visited.add(id(layer))
    group = f[path] if path else f
    parts = _keras_parts(layer)
    if parts is not None and all(stop == start or (f"{sub}/vars" in group and len(group[f"{sub}/vars"]) == stop - start)
                                 for sub, start, stop in parts):
        values = [_read_dataset(group[f"{sub}/vars"], str(i), filepath)
                  for sub, start, stop in parts for i in range(stop - start)]
        _assign(layer, layer.weights, values, filepath, path or "/", skip_mismatch)
        visited.update(id(sub) for sub in _all_sublayers(layer))
        return
    own = _own_weights(layer)
    children = list(_k3_children(layer, path))
    structured = ("vars" in group or not own) and all(p in f for p, _ in children)
    if structured and "vars" in group and len(group["vars"]) == len(own):
        values = [_read_dataset(group["vars"], str(i), filepath) for i in range(len(own))]
        _assign(layer, own, values, filepath, path or "/", skip_mismatch)
        for child_path, child in children:
            _read_k3(f, child, child_path, filepath, skip_mismatch, visited)
        return
    if structured and not own:
        for child_path, child in children:
            _read_k3(f, child, child_path, filepath, skip_mismatch, visited)
        return
    # The saved tree names sub-objects differently (e.g. another framework's attribute names):
    # take every array under this layer's group in Keras's order and match them to all its weights.
    _assign(layer, layer.weights, _flatten_group(group, filepath), filepath, path or "/", skip_mismatch)
    visited.update(id(sub) for sub in _all_sublayers(layer))


def _own_weights(layer):
    """Weights the layer itself made (not its sub-layers'): trainable first, as Keras's save_own_variables."""
    own = list(layer._weights)
    return [w for w in own if w.trainable] + [w for w in own if not w.trainable]


def _k3_children(layer, path):
    """(path, sub-layer) pairs as Keras's saving walks them: a model's `layers`, else layer attributes."""
    from tinydl.layers.base import Layer, _snake
    from tinydl.models.model import Model
    prefix = f"{path}/" if path else ""
    if isinstance(layer, Model):
        used = {}
        for sub in keras_layer_order(layer):
            if sub is layer:
                continue
            base = _snake(type(sub).__name__ if _class_name(sub) != "Functional" else "Functional")
            n = used.get(base, -1) + 1
            used[base] = n
            yield f"{prefix}layers/{base if n == 0 else f'{base}_{n}'}", sub
        return
    seen = set()
    for attr in sorted(layer.__dict__, key=lambda a: (a.startswith("_"), a)):
        value = layer.__dict__[attr]
        if attr == "_layers":  # tinydl's tracking list: sub-layers it holds that no attribute names come last
            continue
        if isinstance(value, Layer) and id(value) not in seen:
            seen.add(id(value))
            yield f"{prefix}{attr}", value
        elif isinstance(value, (list, tuple)) and value and all(isinstance(v, Layer) for v in value):
            used = {}
            for sub in value:
                if id(sub) in seen:
                    continue
                seen.add(id(sub))
                base = _snake(type(sub).__name__)
                n = used.get(base, -1) + 1
                used[base] = n
                yield f"{prefix}{attr}/{base if n == 0 else f'{base}_{n}'}", sub
    used = {}
    for sub in layer.__dict__.get("_layers", []):
        if id(sub) not in seen:
            seen.add(id(sub))
            base = _snake(type(sub).__name__)
            n = used.get(base, -1) + 1
            used[base] = n
            yield f"{prefix}_layers/{base if n == 0 else f'{base}_{n}'}", sub


def _all_sublayers(layer):
    out, stack = [], list(layer._layers)
    while stack:
        sub = stack.pop()
        out.append(sub)
        stack.extend(sub._layers)
    return out


def _flatten_group(group, filepath):
    """Every array under a group: its `vars` (by index) first, then sub-groups in Keras's walk order."""
    values = []
    if "vars" in group:
        vars_group = group["vars"]
        values += [_read_dataset(vars_group, str(i), filepath) for i in range(len(vars_group))]
    for key in sorted((k for k in group if k != "vars"), key=lambda a: (a.startswith("_"), a)):
        child = group[key]
        if hasattr(child, "keys"):
            values += _flatten_group(child, filepath)
    return values


# -- HDF5 helpers --------------------------------------------------------------------------------------
@contextlib.contextmanager
def atomic_path(filepath):
    """A temporary path in the target's folder, renamed over `filepath` only when the block succeeds."""
    folder = os.path.dirname(os.path.abspath(filepath))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-" + os.path.basename(filepath) + "-", dir=folder)
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, filepath)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise


def _write_dataset(group, name, value):
    """One array; non-scalar arrays get a Fletcher-32 checksum so that corrupted bytes are detected."""
    value = np.asarray(value)
    if value.ndim and value.size and value.nbytes < 2 ** 30:  # one chunk per array; HDF5 caps chunks at 4 GB
        group.create_dataset(name, data=value, fletcher32=True, chunks=value.shape)
    else:
        group.create_dataset(name, data=value)


def _read_dataset(group, name, filepath):
    if name not in group:
        raise ValueError(f"{filepath}: dataset '{group.name}/{name}' is missing")
    dataset = group[name]
    if not hasattr(dataset, "shape"):
        raise ValueError(f"{filepath}: '{group.name}/{name}' is a group, expected an array")
    try:
        return np.asarray(dataset[()])
    except OSError as e:
        raise ValueError(f"{filepath}: the data of '{group.name}/{name}' is corrupted ({e})") from e


def _write_attr_list(group, name, items):
    """A list of names as a string attribute, split into name0, name1, ... beyond Keras's 64,512-byte limit."""
    data = np.array([s.encode("utf8") for s in items], dtype=object) if items else np.zeros((0,), "float64")
    encoded = [s.encode("utf8") for s in items]
    total = sum(len(s) + 1 for s in encoded)
    if total <= HEADER_LIMIT:
        group.attrs.create(name, data, dtype=_str_dtype() if items else None)
        return
    chunks, current, size = [], [], 0
    for s in encoded:
        if current and size + len(s) + 1 > HEADER_LIMIT:
            chunks.append(current)
            current, size = [], 0
        current.append(s)
        size += len(s) + 1
    chunks.append(current)
    for i, chunk in enumerate(chunks):
        group.attrs.create(f"{name}{i}", np.array(chunk, dtype=object), dtype=_str_dtype())


def _read_attr_list(group, name):
    """A list attribute as Python strings, joining split chunks (name0, name1, ...)."""
    if name in group.attrs:
        raw = group.attrs[name]
    elif f"{name}0" in group.attrs:
        raw, i = [], 0
        while f"{name}{i}" in group.attrs:
            raw.extend(list(group.attrs[f"{name}{i}"]))
            i += 1
    else:
        return []
    return [_text(x) for x in np.atleast_1d(raw)] if np.size(raw) else []


def _str_dtype():
    import h5py
    return h5py.string_dtype("utf-8")


def _text(x):
    return x.decode("utf8") if isinstance(x, bytes) else str(x)


def _json_attr(f, name, filepath):
    raw = f.attrs[name]
    try:
        return json.loads(_text(raw))
    except (UnicodeDecodeError, ValueError) as e:
        raise ValueError(f"{filepath}: the '{name}' attribute is not valid JSON ({e})") from e


def _dedupe(names):
    """Names made unique by suffixing repeats with _1, _2, ..."""
    seen, out = {}, []
    for n in names:
        k = seen.get(n, 0)
        seen[n] = k + 1
        out.append(n if k == 0 else f"{n}_{k}")
    return out


def _json_default(obj):
    """JSON for NumPy scalars/arrays and tuples in configs."""
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.dtype):
        return obj.name
    raise TypeError(f"cannot write {obj!r} ({type(obj).__name__}) into a JSON model config")


def _h5py():
    try:
        import h5py
    except ImportError as e:  # pragma: no cover
        raise ImportError("saving to HDF5 needs h5py: pip install h5py (or tinydl[io])") from e
    return h5py


@contextlib.contextmanager
def _all_or_nothing(model):
    """Restore every weight when loading fails part-way, so a damaged file never leaves half a model."""
    before = [w.numpy() for w in model.weights]
    try:
        yield
    except BaseException:
        for w, value in zip(model.weights, before):
            w.assign(value)
        raise


@contextlib.contextmanager
def _open_h5(filepath):
    """Open an HDF5 file for reading; a file that is not HDF5 (or is truncated) is a clear OSError."""
    h5py = _h5py()
    try:
        f = h5py.File(filepath, "r")
    except OSError as e:
        raise OSError(f"{filepath}: not a readable HDF5 file (truncated, corrupted or another format): {e}") from e
    try:
        yield f
    finally:
        f.close()


@contextlib.contextmanager
def _explained(filepath, doing):
    """Turn low-level failures inside a damaged file into a ValueError naming the file."""
    try:
        yield
    except ValueError as e:
        if filepath in str(e):
            raise
        raise ValueError(f"{filepath}: cannot {doing} this file: {e}") from e
    except (KeyError, TypeError, IndexError, AttributeError, RuntimeError, OSError, UnicodeDecodeError) as e:
        raise ValueError(f"cannot {doing} {filepath}: the file is damaged, not a Keras/tinydl file, "
                         f"or holds something tinydl cannot build ({type(e).__name__}: {e})") from e


def _check_exists(filepath):
    if not os.path.exists(filepath):
        raise FileNotFoundError(f"no such file: {filepath}")
    if os.path.isdir(filepath):
        raise IsADirectoryError(f"{filepath} is a folder; expected a .h5, .weights.h5 or .keras file "
                                "(TensorFlow SavedModel folders are not supported)")


def _check_overwrite(filepath, overwrite):
    if not overwrite and os.path.exists(filepath):
        raise FileExistsError(f"{filepath} exists and overwrite=False")


def _is_zip(filepath):
    with open(filepath, "rb") as fh:
        return fh.read(4) == b"PK\x03\x04"


def _require_built(model, filepath):
    if not model.built or (getattr(model, "_graph", None) is None and not model.weights and model._layers):
        raise ValueError(f"cannot load weights from {filepath} into model '{model.name}': it is not built yet; "
                         "call it on data (or build it) first so its weights exist")
