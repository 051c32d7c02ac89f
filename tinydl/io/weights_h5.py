"""Keras 3's weights format (`model.save_weights("w.weights.h5")`, and `model.weights.h5` inside `.keras`):
`vars/0, 1, ...` of each object, sub-layers under `layers/<snake class name>` for models and under their
attribute names for layers, composite layers' weights in Keras's sub-objects, `optimizer/vars`."""
import numpy as np

from tinydl.io.compile_config import optimizer_variables
from tinydl.io.h5_utils import assign_weights, read_dataset, text, write_dataset, write_h5
from tinydl.io.model_config import is_model, keras_class_name, keras_layer_order
from tinydl.layers.base import Layer, snake_case

__all__ = ["save_weights", "load_weights", "is_keras3_weights", "write_keras3_weights", "read_keras3_weights"]


def save_weights(model, filepath):
    """Write the model's (and its optimizer's) weights to a `.weights.h5` file."""
    write_h5(filepath, lambda f: write_keras3_weights(f, model))


def is_keras3_weights(f):
    """Whether an open HDF5 file holds a Keras 3 weights tree."""
    return "layers" in f or "vars" in f


def load_weights(f, model, filepath, by_name=False, skip_mismatch=False):
    """Assign weights from an open Keras 3 weights file (see `read_keras3_weights`)."""
    read_keras3_weights(f, model, filepath, by_name=by_name, skip_mismatch=skip_mismatch)


def write_keras3_weights(f, model, include_optimizer=True):
    """Keras 3's `.weights.h5` tree: `vars` of each object, sub-layers under `layers/<snake class>`, and
    the optimizer's variables (unless `include_optimizer=False`)."""
    visited = set()
    _write_k3(f, model, "", visited)
    optimizer = getattr(model, "optimizer", None)
    if include_optimizer and optimizer is not None and getattr(optimizer, "_variables", None):
        group = f.create_group("optimizer/vars")
        group.attrs["name"] = str(optimizer.name)
        for i, value in enumerate(optimizer_variables(model)[0]):
            write_dataset(group, str(i), np.asarray(value))


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
                write_dataset(sub_group, str(i), w.numpy())
        visited.update(id(sub) for sub in layer.sublayers())
        return
    for i, w in enumerate(_own_weights(layer)):
        write_dataset(group, str(i), w.numpy())
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
    if kind in ("ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D"):
        return [("cell", 0, n)]
    if kind == "GroupQueryAttention" and layer.weights:
        step = 2 if layer.use_bias else 1
        parts = ["_query_dense", "_key_dense"] + (["_gate_dense"] if layer.use_gate else []) + \
            ["_value_dense", "_output_dense"]
        return [(part, i * step, (i + 1) * step) for i, part in enumerate(parts)] + [
            ("_dropout_layer", n, n), ("_softmax", n, n)]
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
                saved[text(vars_group.attrs["name"])] = f"layers/{key}"
        for layer in model.layers:
            if layer.name in saved and layer.weights:
                values = _flatten_group(f[saved[layer.name]], filepath)
                assign_weights(layer, layer.weights, values, filepath, layer.name, skip_mismatch)
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
        values = [read_dataset(group[f"{sub}/vars"], str(i), filepath)
                  for sub, start, stop in parts for i in range(stop - start)]
        assign_weights(layer, layer.weights, values, filepath, path or "/", skip_mismatch)
        visited.update(id(sub) for sub in layer.sublayers())
        return
    own = _own_weights(layer)
    children = list(_k3_children(layer, path))
    structured = ("vars" in group or not own) and all(p in f for p, _ in children)
    if structured and "vars" in group and len(group["vars"]) == len(own):
        values = [read_dataset(group["vars"], str(i), filepath) for i in range(len(own))]
        assign_weights(layer, own, values, filepath, path or "/", skip_mismatch)
        for child_path, child in children:
            _read_k3(f, child, child_path, filepath, skip_mismatch, visited)
        return
    if structured and not own:
        for child_path, child in children:
            _read_k3(f, child, child_path, filepath, skip_mismatch, visited)
        return
    # The saved tree names sub-objects differently (e.g. another framework's attribute names):
    # take every array under this layer's group in Keras's order and match them to all its weights.
    assign_weights(layer, layer.weights, _flatten_group(group, filepath), filepath, path or "/", skip_mismatch)
    visited.update(id(sub) for sub in layer.sublayers())


def _own_weights(layer):
    """Weights the layer itself made (not its sub-layers'): trainable first, as Keras's save_own_variables."""
    own = list(layer._weights)
    return [w for w in own if w.trainable] + [w for w in own if not w.trainable]


def _k3_children(layer, path):
    """(path, sub-layer) pairs as Keras's saving walks them: a model's `layers`, else layer attributes."""
    prefix = f"{path}/" if path else ""
    if is_model(layer):
        used = {}
        for sub in keras_layer_order(layer):
            if sub is layer:
                continue
            base = snake_case(_source_name(sub) if keras_class_name(sub) != "Functional" else "Functional")
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
                base = snake_case(_source_name(sub))
                n = used.get(base, -1) + 1
                used[base] = n
                yield f"{prefix}{attr}/{base if n == 0 else f'{base}_{n}'}", sub
    used = {}
    for sub in layer.__dict__.get("_layers", []):
        if id(sub) not in seen:
            seen.add(id(sub))
            base = snake_case(_source_name(sub))
            n = used.get(base, -1) + 1
            used[base] = n
            yield f"{prefix}_layers/{base if n == 0 else f'{base}_{n}'}", sub


def _flatten_group(group, filepath):
    """Every array under a group: its `vars` (by index) first, then sub-groups in Keras's walk order."""
    values = []
    if "vars" in group:
        vars_group = group["vars"]
        values += [read_dataset(vars_group, str(i), filepath) for i in range(len(vars_group))]
    for key in sorted((k for k in group if k != "vars"), key=lambda a: (a.startswith("_"), a)):
        child = group[key]
        if hasattr(child, "keys"):
            values += _flatten_group(child, filepath)
    return values


# Keras classes exported under another name: the weights tree uses the class's own name
_KERAS_SOURCE_NAMES = {"GroupQueryAttention": "GroupedQueryAttention"}


def _source_name(layer):
    """The name of Keras's class for this layer, as its weights tree spells it."""
    name = type(layer).__name__
    return _KERAS_SOURCE_NAMES.get(name, name)
