"""The Keras 3 `.keras` archive: a zip of config.json, metadata.json and model.weights.h5.

config.json is the serialized model with its `compile_config` (optimizer, loss, metrics) when it
was compiled; model.weights.h5 is Keras 3's weights tree (`layers/<name>/vars/<i>`, `optimizer/vars`).
"""
import contextlib
import datetime
import io
import json
import warnings
import zipfile
import zlib

import numpy as np

from tinydl.io import hdf5

__all__ = ["save_model", "load_model", "load_weights"]

_CONFIG, _METADATA, _WEIGHTS = "config.json", "metadata.json", "model.weights.h5"


def save_model(model, filepath, overwrite=True):
    """Write `model` (architecture, weights, compile config, optimizer state) to a `.keras` zip."""
    hdf5._check_overwrite(filepath, overwrite)
    import h5py
    config = hdf5.model_to_config(model)
    compile_config = _compile_config(model)
    if compile_config is not None:
        config["compile_config"] = compile_config
    metadata = {"keras_version": hdf5.KERAS_VERSION, "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S")}
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        hdf5.write_keras3_weights(f, model)
    with hdf5.atomic_path(filepath) as tmp, zipfile.ZipFile(tmp, "w") as zf:
        zf.writestr(_METADATA, json.dumps(metadata))
        zf.writestr(_CONFIG, json.dumps(config, default=hdf5._json_default))
        zf.writestr(_WEIGHTS, buffer.getvalue(), compress_type=zipfile.ZIP_STORED)


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True):
    """A model from a `.keras` archive (compiled, with its optimizer state, when it was saved compiled)."""
    import h5py
    with _explained(filepath):
        with zipfile.ZipFile(filepath) as zf:
            names = set(zf.namelist())
            missing = {_CONFIG, _WEIGHTS} - names
            if missing:
                raise ValueError(f"{filepath}: not a .keras archive (missing {sorted(missing)})")
            config = json.loads(zf.read(_CONFIG).decode("utf8"))
            weights = zf.read(_WEIGHTS)
        model = hdf5.model_from_config(config, custom_objects, safe_mode)
        compile_config = config.get("compile_config")
        if compile and compile_config:
            _compile_from(model, compile_config, custom_objects)
        with h5py.File(io.BytesIO(weights), "r") as f:
            hdf5.read_keras3_weights(f, model, filepath)
            if compile and compile_config and "optimizer" in f and "vars" in f["optimizer"]:
                group = f["optimizer/vars"]
                values = [hdf5._read_dataset(group, str(i), filepath) for i in range(len(group))]
                if values:
                    _restore_optimizer(model, values, compile_config, filepath)
    return model


def _restore_optimizer(model, values, compile_config, filepath):
    """Optimizer iteration and slots from `optimizer/vars`; a mismatch only warns (training restarts fresh)."""
    model.optimizer.build(model.trainable_weights)
    try:
        hdf5.set_optimizer_variables(model, values)
    except ValueError as e:
        warnings.warn(f"{filepath}: the saved optimizer state was not restored ({e}); the optimizer starts fresh")
        return
    optimizer = compile_config.get("optimizer")
    saved_lr = optimizer.get("config", {}).get("learning_rate") if isinstance(optimizer, dict) else None
    if isinstance(saved_lr, float) and len(values) > 1 and np.float32(saved_lr) == np.float32(values[1]):
        model.optimizer._learning_rate = saved_lr  # the float32 copy rounds it: keep the exact config value


def load_weights(model, filepath, skip_mismatch=False):
    """Only the weights of a `.keras` archive, into an existing model."""
    import h5py
    hdf5._require_built(model, filepath)
    with _explained(filepath), hdf5._all_or_nothing(model):
        with zipfile.ZipFile(filepath) as zf:
            if _WEIGHTS not in zf.namelist():
                raise ValueError(f"{filepath}: the archive has no {_WEIGHTS}")
            weights = zf.read(_WEIGHTS)
        with h5py.File(io.BytesIO(weights), "r") as f:
            hdf5.read_keras3_weights(f, model, filepath, skip_mismatch=skip_mismatch)


def _compile_config(model):
    """Keras 3's compile_config: the serialized optimizer and compile()'s loss/metrics arguments."""
    training = hdf5._training_config(model)
    if training is None:
        return None
    from tinydl.io.config import serialize
    optimizer = hdf5._keras_class_names(serialize(model.optimizer))
    return {"optimizer": optimizer, "loss": training["loss"], "loss_weights": training["loss_weights"],
            "metrics": training["metrics"], "weighted_metrics": training["weighted_metrics"],
            "run_eagerly": False, "steps_per_execution": 1, "jit_compile": False}


def _compile_from(model, compile_config, custom_objects):
    from tinydl import optimizers
    optimizer = compile_config.get("optimizer")
    optimizer = optimizers.deserialize(optimizer, custom_objects) if isinstance(optimizer, dict) else optimizer
    training = dict(compile_config, optimizer_config=None)
    model.compile(optimizer=optimizer or "rmsprop",
                  loss=hdf5._deserialize_nested(training.get("loss"), custom_objects),
                  metrics=hdf5._deserialize_nested(training.get("metrics"), custom_objects),
                  loss_weights=training.get("loss_weights"),
                  weighted_metrics=hdf5._deserialize_nested(training.get("weighted_metrics"), custom_objects))


@contextlib.contextmanager
def _explained(filepath):
    """Errors from a damaged archive as ValueError naming the file."""
    try:
        with hdf5._explained(filepath, "load"):
            yield
    except (zipfile.BadZipFile, zlib.error, EOFError) as e:
        raise ValueError(f"{filepath}: not a valid .keras (zip) archive: {e}") from e
