"""The Keras 3 `.keras` archive: a zip of config.json, metadata.json and model.weights.h5.

config.json is the serialized model with its `compile_config` (optimizer, loss, metrics) when it
was compiled; model.weights.h5 is Keras 3's weights tree (`layers/<name>/vars/<i>`, `optimizer/vars`).
The archive is built in memory and written in one atomic step; members are read with caps (limits.py).
"""
import contextlib
import datetime
import io
import json
import warnings
import zipfile
import zlib

from tinydl.io.compile_config import compile_config, compile_from, keep_exact_learning_rate, set_optimizer_variables
from tinydl.io.files import write_atomic
from tinydl.io.h5_utils import all_or_nothing, array_cap, explained, h5_bytes, h5py_module, read_dataset, require_built
from tinydl.io.integrity import verify
from tinydl.io.limits import current_limits
from tinydl.io.model_config import KERAS_VERSION, config_to_json, model_from_config, model_to_config
from tinydl.io.weights_h5 import read_keras3_weights, write_keras3_weights

__all__ = ["save_model", "load_model", "load_weights", "to_bytes"]

_CONFIG, _METADATA, _WEIGHTS = "config.json", "metadata.json", "model.weights.h5"


def save_model(model, filepath, include_optimizer=True):
    """Write `model` (architecture, weights, and unless `include_optimizer=False` its compile config and
    optimizer state, so that it loads compiled) to a `.keras` zip."""
    write_atomic(filepath, to_bytes(model, include_optimizer))


def to_bytes(model, include_optimizer=True):
    """The bytes of the `.keras` archive of `model` (what `save_model` writes; pickling uses them too)."""
    config = model_to_config(model)
    compiled = compile_config(model) if include_optimizer else None
    if compiled is not None:
        config["compile_config"] = compiled
    metadata = {"keras_version": KERAS_VERSION, "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S")}
    weights = h5_bytes(lambda f: write_keras3_weights(f, model, include_optimizer=include_optimizer))
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(_METADATA, json.dumps(metadata))
        zf.writestr(_CONFIG, config_to_json(config))
        zf.writestr(_WEIGHTS, weights, compress_type=zipfile.ZIP_STORED)
    return archive.getvalue()


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True, source=None):
    """A model from a `.keras` archive (compiled, with its optimizer state, when it was saved compiled);
    `filepath` may be a file object (e.g. BytesIO), named in errors by `source`."""
    h5py = h5py_module()
    source = filepath if source is None else source
    with _explained(source):
        with zipfile.ZipFile(filepath) as zf:
            missing = {_CONFIG, _WEIGHTS} - set(zf.namelist())
            if missing:
                raise ValueError(f"{source}: not a .keras archive (missing {sorted(missing)})")
            config = json.loads(_read_member(zf, _CONFIG, current_limits()["max_config_bytes"], source)
                                .decode("utf8"))
            model = model_from_config(config, custom_objects, safe_mode, source=source)
            weights = _read_member(zf, _WEIGHTS, _weights_cap(model), source)
        compiled = config.get("compile_config")
        if compile and compiled:
            compile_from(model, compiled, custom_objects)
        with h5py.File(io.BytesIO(weights), "r") as f:
            verify(f, source, array_cap(model))
            read_keras3_weights(f, model, source)
            if compile and compiled and "optimizer" in f and "vars" in f["optimizer"]:
                group = f["optimizer/vars"]
                values = [read_dataset(group, str(i), source) for i in range(len(group))]
                if values:
                    _restore_optimizer(model, values, compiled, source)
    return model


def load_weights(model, filepath, skip_mismatch=False):
    """Only the weights of a `.keras` archive, into an existing model."""
    h5py = h5py_module()
    require_built(model, filepath)
    with _explained(filepath), all_or_nothing(model):
        with zipfile.ZipFile(filepath) as zf:
            if _WEIGHTS not in zf.namelist():
                raise ValueError(f"{filepath}: the archive has no {_WEIGHTS}")
            weights = _read_member(zf, _WEIGHTS, _weights_cap(model), filepath)
        with h5py.File(io.BytesIO(weights), "r") as f:
            verify(f, filepath, array_cap(model))
            read_keras3_weights(f, model, filepath, skip_mismatch=skip_mismatch)


def _read_member(zf, name, cap, filepath):
    """A member's bytes, refused when its declared or its actual (inflated) size passes `cap`."""
    declared = zf.getinfo(name).file_size
    if declared > cap:
        raise ValueError(f"{filepath}: archive member {name} declares {declared} bytes, over the cap of {cap}; "
                         "if you trust the file, raise it with tinydl.io.limits.load_limits(...)")
    with zf.open(name) as fh:
        data = fh.read(cap + 1)
    if len(data) > cap:
        raise ValueError(f"{filepath}: archive member {name} inflates past the cap of {cap} bytes (its header "
                         f"declares {declared}): a zip bomb or a damaged archive")
    return data


def _weights_cap(model):
    """The most bytes model.weights.h5 may inflate to for this model: every weight in float64 with three
    optimizer slots each, plus HDF5's overhead; never above the `max_member_bytes` cap."""
    elements = sum(int(w.size) for w in model.weights)
    return min(current_limits()["max_member_bytes"], elements * 32 + len(model.weights) * 16384 + (1 << 20))


def _restore_optimizer(model, values, compiled, filepath):
    """Optimizer iteration and slots from `optimizer/vars`; a mismatch only warns (training restarts fresh)."""
    model.optimizer.build(model.trainable_weights)
    try:
        set_optimizer_variables(model, values)
    except ValueError as e:
        warnings.warn(f"{filepath}: the saved optimizer state was not restored ({e}); the optimizer starts fresh")
        return
    keep_exact_learning_rate(model.optimizer, compiled, values)


@contextlib.contextmanager
def _explained(filepath):
    """Errors from a damaged archive as ValueError naming the file."""
    try:
        with explained(filepath, "load"):
            yield
    except (zipfile.BadZipFile, zlib.error, EOFError) as e:
        raise ValueError(f"{filepath}: not a valid .keras (zip) archive: {e}") from e
