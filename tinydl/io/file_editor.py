"""KerasFileEditor: inspect and edit the weights of a `.keras` archive or a `.weights.h5` file, as Keras's.

    editor = KerasFileEditor("model.keras")
    editor.summary()                              # the weights tree
    editor.weights_dict["layers"]["dense"]["0"]   # a kernel, as a NumPy array
    editor.rename_object("dense", "dense_renamed"); editor.delete_weight("dense_renamed", "1")
    editor.save("edited.weights.h5")

`weights_dict` is Keras 3's weights tree with each `vars` level folded into its object: nested dicts of
object names whose leaves are the arrays, keyed by their names in the file ('0', '1', ...).
"""
import collections
import io
import json
import os
import pprint
import sys
import tempfile
import zipfile

import numpy as np

from tinydl.io.h5_utils import h5py_module, write_dataset, write_h5
from tinydl.io.weights_h5 import write_keras3_weights

_MAX_DATASET_BYTES = 1 << 32  # Keras's limit on one array read from a file (4 GiB)


class KerasFileEditor:
    """Open a `.keras` or `.weights.h5` file; `config` and `metadata` are the archive's JSON (None for a
    weights file), `weights_dict` the editable weights tree, `object_metadata` the HDF5 attributes by path."""

    def __init__(self, filepath, stream=None):
        self.filepath = str(filepath)
        self.metadata = None
        self.config = None
        self.stream = stream  # where summary() and the opening lines print; None: sys.stdout
        h5py = h5py_module()
        if self.filepath.endswith(".keras"):
            with zipfile.ZipFile(self.filepath, "r") as zf:
                self.config = json.loads(zf.read("config.json"))
                self.metadata = json.loads(zf.read("metadata.json"))
                weights = io.BytesIO(zf.read("model.weights.h5"))
            h5 = h5py.File(weights, "r")
        elif self.filepath.endswith(".weights.h5"):
            h5 = h5py.File(self.filepath, "r")
        else:
            raise ValueError("Invalid filename: expected a `.keras` `.weights.h5` extension. "
                             f"Received: filepath={self.filepath}")
        try:
            self.weights_dict, self.object_metadata = self._extract(h5, {}, "")
        finally:
            h5.close()
        self._print(f"Keras model file '{self.filepath}'")
        if self.metadata is not None:
            self._print(f"Saved with Keras {self.metadata.get('keras_version')} - date: "
                        f"{self.metadata.get('date_saved')}")

    # -- reading -------------------------------------------------------------------------------
    def _extract(self, group, metadata, inner_path):
        h5py = h5py_module()
        attributes = dict(group.attrs.items())
        if attributes:
            metadata[inner_path] = attributes
        result = collections.OrderedDict()
        for key in group.keys():
            path = f"{inner_path}/{key}"
            link = group.get(key, default=None, getclass=True, getlink=True)
            if link in (h5py.ExternalLink, h5py.SoftLink):
                raise ValueError(f"Not allowed: H5 file with {link.__name__}")
            value = group[key]
            if isinstance(value, h5py.Group):
                if len(value) == 0:
                    continue
                if "vars" in value.keys():
                    if len(value["vars"]) == 0:
                        continue
                    result[key], metadata = self._extract(value["vars"], metadata, path)
                else:
                    result[key], metadata = self._extract(value, metadata, path)
                continue
            if not isinstance(value, h5py.Dataset):
                continue
            if value.external:
                raise ValueError(f"Not allowed: H5 file Dataset with external links: {value.external}")
            if value.is_virtual:
                raise ValueError(f"Not allowed: H5 file with virtual Dataset at {path}")
            if len(value.shape) > 64 or int(np.prod(value.shape, dtype=object)) * value.dtype.itemsize > \
                    _MAX_DATASET_BYTES:
                raise ValueError(f"HDF5 dataset {path} too large or malformed to load safely")
            result[key] = value[()]
        return result, metadata

    # -- printing ------------------------------------------------------------------------------
    def _print(self, text):
        print(text, file=self.stream or sys.stdout)

    def summary(self):
        """Print the weights tree: objects (with their saved name) and each weight's shape and dtype."""
        self._print("Weights structure")
        self._print_tree(self.weights_dict, prefix="  ", inner_path="", first=True)

    def _print_tree(self, tree, prefix, inner_path, first):
        for index, (key, value) in enumerate(tree.items()):
            path = os.path.join(inner_path, key)
            last = index == len(tree) - 1
            connector = "> " if first else ("└─ " if last else "├─ ")
            first = False
            if isinstance(value, dict):
                label = f"{prefix}{connector}{key}"
                name = self.object_metadata.get(path, {}).get("name")
                self._print(label + (f" ('{name}')" if name is not None else ""))
                self._print_tree(value, prefix + ("    " if last else "│   "), path, first)
            elif hasattr(value, "shape"):
                self._print(f"{prefix}{connector}{key}: shape={value.shape}, dtype={value.dtype}")
            else:
                self._print(f"{prefix}{connector}{key}: {value}")

    def _config_info(self):
        return pprint.pformat(self.config)

    # -- comparing -----------------------------------------------------------------------------
    def compare(self, reference_model):
        """Mismatches between the file's weights and `reference_model`'s (missing or extra objects and
        weights, other shapes), printed; returns {'status': 'success'|'error', 'error_count', 'match_count'}."""
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "reference.weights.h5")
            write_h5(path, lambda f: write_keras3_weights(f, reference_model))
            reference = KerasFileEditor(path, stream=io.StringIO()).weights_dict
        errors, matches = self._compare(self.weights_dict, reference, "")
        self._print(f"Found {errors} error(s)" if errors else "Comparison successful: no mismatch found")
        return {"status": "error" if errors else "success", "error_count": errors, "match_count": matches}

    def _compare(self, ours, reference, path):
        errors, matches = 0, 0
        for key in reference:
            where = f"{path}/{key}"
            if key not in ours:
                self._print(f"Object or weight {where} is in the reference model but missing in the file")
                errors += 1
            elif isinstance(reference[key], dict) != isinstance(ours[key], dict):
                self._print(f"{where} is an object in one and a weight in the other")
                errors += 1
            elif isinstance(reference[key], dict):
                e, m = self._compare(ours[key], reference[key], where)
                errors, matches = errors + e, matches + m
            elif np.shape(ours[key]) != np.shape(reference[key]):
                self._print(f"Weight {where} has shape {np.shape(ours[key])} in the file and "
                            f"{np.shape(reference[key])} in the reference model")
                errors += 1
            else:
                matches += 1
        for key in ours:
            if key not in reference:
                self._print(f"Object or weight {path}/{key} is in the file but not in the reference model")
                errors += 1
        return errors, matches

    # -- editing -------------------------------------------------------------------------------
    def _edit_object(self, edit_fn, source_name, target_name=None):
        if target_name is not None and "/" in target_name:
            raise ValueError("Argument `target_name` should be a leaf name, not a full path name. "
                             f"Received: target_name='{target_name}'")
        if "/" in source_name:
            elements = source_name.split("/")
            tree = self.weights_dict
            for element in elements[:-1]:
                if element not in tree:
                    raise ValueError(f"Path '{source_name}' not found in model.")
                tree = tree[element]
            if elements[-1] not in tree:
                raise ValueError(f"Path '{source_name}' not found in model.")
            edit_fn(tree, elements[-1], target_name)
            return
        found = []

        def collect(tree):
            for key, value in tree.items():
                if isinstance(value, dict):
                    collect(value)
            if source_name in tree:
                found.append(tree)

        collect(self.weights_dict)
        if len(found) > 1:
            raise ValueError(f"Name '{source_name}' occurs more than once in the model; try passing a complete path")
        if not found:
            raise ValueError(f"Source name '{source_name}' does not appear in the model. Use "
                             "`editor.summary()` to list all objects.")
        edit_fn(found[0], source_name, target_name)

    def rename_object(self, object_name, new_name):
        """Rename an object (a layer: 'dense_2' or its path 'layers/dense_2') to the leaf name `new_name`."""
        def rename(tree, source, target):
            tree[target] = tree.pop(source)
        self._edit_object(rename, object_name, new_name)

    def delete_object(self, object_name):
        """Remove an object ('dense_2' or 'layers/dense_2') and its weights."""
        self._edit_object(lambda tree, source, target: tree.pop(source), object_name)

    def add_object(self, object_path, weights):
        """Add an object at `object_path` ('layers/dense_2') with `weights`, {'0': kernel, '1': bias}."""
        _check_weights(weights)
        elements = object_path.split("/")
        tree = self.weights_dict
        for element in elements[:-1]:
            if element not in tree:
                raise ValueError(f"Path '{'/'.join(elements[:-1])}' not found in model.")
            tree = tree[element]
        tree[elements[-1]] = weights

    def delete_weight(self, object_name, weight_name):
        """Remove the weight `weight_name` ('0') of an object."""
        def delete(tree, source, target):
            if weight_name not in tree[source]:
                raise ValueError(f"Weight {weight_name} not found in object {object_name}. Weights found: "
                                 f"{list(tree[source].keys())}")
            tree[source].pop(weight_name)
        self._edit_object(delete, object_name)

    def add_weights(self, object_name, weights):
        """Add (or replace) weights {'2': array} in an existing object."""
        _check_weights(weights)
        self._edit_object(lambda tree, source, target: tree[source].update(weights), object_name)

    # -- writing -------------------------------------------------------------------------------
    def save(self, filepath):
        """Write the edited weights as a `.weights.h5` file (Keras 3's tree: `<object path>/vars/<name>`)."""
        filepath = str(filepath)
        if not filepath.endswith(".weights.h5"):
            raise ValueError(f"Invalid `filepath` argument: expected a `.weights.h5` extension. "
                             f"Received: filepath={filepath}")
        h5py = h5py_module()

        def write(tree, group):
            leaves = {}
            for name, value in tree.items():
                if isinstance(value, dict):
                    if value:
                        write(value, group.require_group(name))
                else:
                    leaves[name] = value
            if leaves:
                variables = group.require_group("vars")
                for name, value in leaves.items():
                    write_dataset(variables, name, np.asarray(value))

        with h5py.File(filepath, "w") as f:
            write(self.weights_dict, f)

    def resave_weights(self, filepath):
        """The same as save(filepath)."""
        self.save(filepath)


def _check_weights(weights):
    if not isinstance(weights, dict):
        raise ValueError("Argument `weights` should be a dict where keys are weight names (usually '0', '1', "
                         f"etc.) and values are NumPy arrays. Received: type(weights)={type(weights)}")
