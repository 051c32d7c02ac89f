"""The legacy Keras HDF5 layout (`model.save("m.h5")`, `save_weights("w.h5")`), readable by Keras 3.

Root attributes `model_config` (JSON), `training_config` (only when compiled), `keras_version` and
`backend`; `model_weights/` with `layer_names` and one group per layer holding `weight_names` and the
arrays, matched to a model's layers in Keras's order; `optimizer_weights/` with the optimizer state,
so that load + fit resumes exactly. Called through `tinydl.io.saving`, which picks the format.
"""
import re

import numpy as np

from tinydl.io.compile_config import (compile_from, keep_exact_learning_rate, optimizer_variables,
                                      set_optimizer_variables, training_config)
from tinydl.io.h5_utils import (array_cap, assign_weights, dedupe, explained, json_attr, open_h5,
                                read_attr_list, read_dataset, require_built, write_attr_list, write_dataset,
                                write_h5)
from tinydl.io.integrity import verify_arrays, verify_tree
from tinydl.io.model_config import KERAS_VERSION, config_to_json, keras_layer_order, model_from_config, model_to_config

__all__ = ["save_model", "load_model", "save_weights", "load_weights", "is_legacy_weights"]


def save_model(model, filepath, include_optimizer=True):
    """Write architecture, weights and (compiled) training state in the legacy layout."""
    write_h5(filepath, lambda f: _write_model(f, model, include_optimizer))


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True):
    """A model from a legacy `.h5`, compiled (with its optimizer state) when it was saved compiled."""
    with open_h5(filepath) as f, explained(filepath, "load a model from"):
        verify_tree(f, filepath)
        if "model_config" not in f.attrs:
            what = "a weights-only file" if ("layers" in f or "layer_names" in f.attrs) else "no 'model_config'"
            raise ValueError(f"{filepath}: {what}; it cannot be loaded with load_model() (build the model and "
                             "call model.load_weights() instead)")
        config = json_attr(f, "model_config", filepath)
        model = model_from_config(config, custom_objects, safe_mode, source=filepath)
        if "model_weights" not in f:
            raise ValueError(f"{filepath}: the file has a model config but no 'model_weights' group")
        verify_arrays(f, filepath, array_cap(model))
        _read_legacy_weights(f["model_weights"], model, filepath)
        if compile and "training_config" in f.attrs:
            training = json_attr(f, "training_config", filepath)
            compile_from(model, training, custom_objects)
            if "optimizer_weights" in f:
                _read_optimizer_weights(f["optimizer_weights"], model, training, filepath)
    return model


def save_weights(model, filepath):
    """Write only the weights in the legacy layout (`layer_names` at the root)."""
    write_h5(filepath, lambda f: _write_legacy_weights(f, model))


def is_legacy_weights(f):
    """Whether an open HDF5 file holds legacy-layout weights (a full model file or weights only)."""
    return "model_weights" in f or "layer_names" in f.attrs or "layer_names0" in f.attrs


def load_weights(f, model, filepath, by_name=False, skip_mismatch=False):
    """Assign weights from an open legacy-layout file, by layer order (or by name)."""
    group = f["model_weights"] if "model_weights" in f else f
    _read_legacy_weights(group, model, filepath, by_name, skip_mismatch)


def _write_model(f, model, include_optimizer):
    """The legacy layout's root attributes and groups."""
    f.attrs["keras_version"] = KERAS_VERSION
    f.attrs["backend"] = "tinydl"
    f.attrs["model_config"] = config_to_json(model_to_config(model))
    training = training_config(model) if include_optimizer else None
    if training is not None:
        f.attrs["training_config"] = config_to_json(training)
    _write_legacy_weights(f.create_group("model_weights"), model)
    if training is not None:
        _write_optimizer_weights(f, model)


def _write_optimizer_weights(f, model):
    """`optimizer_weights/<name>/<var>` with weight_names, in Keras's order."""
    optimizer = model.optimizer
    if not getattr(optimizer, "_variables", None):
        return  # never applied: nothing to save, Keras writes nothing either
    values, names = optimizer_variables(model)
    prefix = re.sub(r"[^\w.-]", "_", str(optimizer.name or "optimizer"))
    full = dedupe([f"{prefix}/{n}" for n in names])
    group = f.create_group("optimizer_weights")
    write_attr_list(group, "weight_names", full)
    for name, value in zip(full, values):
        write_dataset(group, name, np.asarray(value))


def _read_optimizer_weights(group, model, training, filepath):
    """Restore the optimizer's iteration count and slots (building them on the trainable weights first)."""
    names = read_attr_list(group, "weight_names")
    values = [read_dataset(group, n, filepath) for n in names]
    optimizer = model.optimizer
    optimizer.build(model.trainable_weights)
    try:
        set_optimizer_variables(model, values)
    except ValueError as e:
        raise ValueError(f"{filepath}: the saved optimizer state does not fit the model: {e}") from e
    keep_exact_learning_rate(optimizer, training, values)


# -- legacy weights layout ---------------------------------------------------------------------------
def _legacy_weights(layer):
    """A layer's weights in Keras's legacy order: trainable, then non-trainable."""
    trainable = layer.trainable_weights
    ids = {id(w) for w in trainable}
    return trainable + [w for w in layer.weights if id(w) not in ids]


def _write_legacy_weights(group, model):
    """`layer_names` and one group per layer holding `weight_names` and the arrays (Keras 2/3 layout)."""
    layers = keras_layer_order(model)
    write_attr_list(group, "layer_names", [layer.name for layer in layers])
    group.attrs["backend"] = "tinydl"
    group.attrs["keras_version"] = KERAS_VERSION
    for layer in sorted(layers, key=lambda l: l.name):
        _check_group_name(layer.name)
        layer_group = group.create_group(layer.name)
        weights = _legacy_weights(layer)
        names = dedupe([_weight_name(layer, w) for w in weights])
        write_attr_list(layer_group, "weight_names", names)
        for name, w in zip(names, weights):
            write_dataset(layer_group, name, w.numpy())
    top = group.create_group("top_level_model_weights")
    write_attr_list(top, "weight_names", [])


def _weight_name(layer, w):
    """The dataset name of a weight inside its layer group: '<layer>/<weight>' as Keras writes it."""
    path = getattr(w, "path", None) or w.name
    return path if path.startswith(layer.name + "/") else f"{layer.name}/{path}"


def _read_legacy_weights(group, model, filepath, by_name=False, skip_mismatch=False):
    """Assign each layer's weights from its group, matched by order (or by name)."""
    require_built(model, filepath)
    saved = []
    for name in read_attr_list(group, "layer_names"):
        if name not in group:
            raise ValueError(f"{filepath}: layer_names lists '{name}' but there is no group for it")
        weight_names = read_attr_list(group[name], "weight_names")
        if weight_names:
            saved.append((name, [read_dataset(group[name], w, filepath) for w in weight_names]))
    layers = [layer for layer in keras_layer_order(model) if layer.weights]
    if by_name:
        by = dict(saved)
        for layer in layers:
            if layer.name in by:
                assign_weights(layer, _legacy_weights(layer), by[layer.name], filepath, layer.name, skip_mismatch)
        return
    if len(saved) != len(layers):
        raise ValueError(f"{filepath}: the file has weights for {len(saved)} layers ({[n for n, _ in saved]}) but "
                         f"the model has {len(layers)} layers with weights ({[l.name for l in layers]})")
    for layer, (name, values) in zip(layers, saved):
        assign_weights(layer, _legacy_weights(layer), values, filepath, name, skip_mismatch)


def _check_group_name(name):
    """A layer name the legacy layout can use as an HDF5 group (it names the group, as in Keras)."""
    if name in ("", ".", "..") or "/" in name:
        raise ValueError(f"layer name {name!r} cannot be an HDF5 group name, so the model cannot be saved in the "
                         "legacy .h5 layout; rename the layer (no '/', not '.' or '..') or save to '.keras'")
