"""The one entry point for saving and loading: picks the format module from the file name (saving) or
the file's contents (loading), as Keras does.

    model.save("m.h5")                        # hdf5.py: the legacy Keras layout, readable by Keras 3
    model.save("m.keras")                     # keras_archive.py: Keras 3's zip (config.json, model.weights.h5)
    model.save_weights("w.weights.h5")        # weights_h5.py: Keras 3's weights format
    model.save_weights("w.h5")                # hdf5.py: legacy layout, weights only
    model.save_weights("w.safetensors")       # safetensors.py: weights by path, no code in the file
    tinydl.models.load_model(path)            # .h5 or .keras, found from the contents
    model.load_weights(path)                  # any of the above
    model.export("m.onnx")                    # onnx.py (export only, through Model.export)

A new format is a sibling module with save/load functions and one row in
`_MODEL_FORMATS` or `_WEIGHTS_FORMATS` (and a test of its file's contents in the loaders below). Every write goes through `files.atomic_path`/`write_atomic`.
"""
import os

from tinydl.io import hdf5, keras_archive, safetensors, weights_h5
from tinydl.io.files import check_exists, check_overwrite, is_zip
from tinydl.io.h5_utils import all_or_nothing, array_cap, explained, open_h5, require_built
from tinydl.io.integrity import verify

__all__ = ["save_model", "load_model", "save_weights", "load_weights", "save_pretrained", "from_pretrained"]

# (file name ending, format module) in the order they are tried, longer endings first. A model format
# module has save_model(model, path, include_optimizer); a weights format module save_weights(model, path).
_MODEL_FORMATS = ((".keras", keras_archive), (".h5", hdf5), (".hdf5", hdf5))
_WEIGHTS_FORMATS = ((".weights.h5", weights_h5), (".h5", hdf5), (".hdf5", hdf5), (".safetensors", safetensors))


def save_model(model, filepath, overwrite=True, include_optimizer=True):
    """Save architecture, weights and (compiled) training state to `.h5`/`.hdf5` or `.keras`."""
    filepath = os.fspath(filepath)
    if filepath.endswith(".weights.h5"):
        raise ValueError(f"{filepath}: a '.weights.h5' file holds weights only; use model.save_weights() for it, "
                         "or save the whole model to a '.h5' or '.keras' file")
    module = _format_of(_MODEL_FORMATS, filepath)
    if module is None:
        raise ValueError(f"{filepath}: model.save() writes '.h5'/'.hdf5' (legacy Keras) or '.keras' files; "
                         "give the file one of those extensions (safetensors: model.save_weights('w.safetensors') "
                         "or model.save_pretrained(folder))")
    check_overwrite(filepath, overwrite)
    module.save_model(model, filepath, include_optimizer=include_optimizer)


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True):
    """A model from a `.h5`/`.hdf5` (legacy Keras) or `.keras` file, compiled when it was saved compiled."""
    filepath = os.fspath(filepath)
    check_exists(filepath)
    if is_zip(filepath):
        return keras_archive.load_model(filepath, custom_objects, compile, safe_mode)
    return hdf5.load_model(filepath, custom_objects, compile, safe_mode)


def save_weights(model, filepath, overwrite=True):
    """Save the weights: Keras 3's format for `*.weights.h5`, the legacy layout for other `.h5` names."""
    filepath = os.fspath(filepath)
    module = _format_of(_WEIGHTS_FORMATS, filepath)
    if module is None:
        raise ValueError(f"{filepath}: save_weights() writes HDF5 or safetensors files; name it '*.weights.h5' "
                         "(Keras 3's format), '*.h5' (the legacy layout) or '*.safetensors'")
    check_overwrite(filepath, overwrite)
    module.save_weights(model, filepath)


def load_weights(model, filepath, by_name=False, skip_mismatch=False):
    """Load weights from any of the formats (found from the file's contents, not its name).

    Legacy files are matched layer by layer in order (layers without weights skipped), or by layer
    name with `by_name=True`; Keras 3 files by the model's structure. `skip_mismatch=True` skips layers
    whose weight count or shapes differ (with a warning) instead of raising. A failed load leaves the
    model's weights as they were.
    """
    filepath = os.fspath(filepath)
    check_exists(filepath)
    if is_zip(filepath):
        return keras_archive.load_weights(model, filepath, skip_mismatch=skip_mismatch)
    if safetensors.is_safetensors(filepath):
        return safetensors.load_weights(model, filepath, by_name=by_name, skip_mismatch=skip_mismatch)
    require_built(model, filepath)
    with open_h5(filepath) as f, explained(filepath, "load weights from"), all_or_nothing(model):
        verify(f, filepath, array_cap(model))
        if weights_h5.is_keras3_weights(f):
            weights_h5.load_weights(f, model, filepath, by_name=by_name, skip_mismatch=skip_mismatch)
        elif hdf5.is_legacy_weights(f):
            hdf5.load_weights(f, model, filepath, by_name=by_name, skip_mismatch=skip_mismatch)
        else:
            raise ValueError(f"{filepath}: not a Keras weights file (no 'layers', 'model_weights' or "
                             "'layer_names' found)")


def save_pretrained(model, directory, max_shard_size="5GB"):
    """A Hugging Face style folder: config.json + model.safetensors (or shards and an index json)."""
    safetensors.save_pretrained(model, directory, max_shard_size=max_shard_size)


def from_pretrained(directory, custom_objects=None, safe_mode=True):
    """A model from a `save_pretrained` folder; reading it runs no code (Lambda layers need safe_mode=False)."""
    return safetensors.from_pretrained(directory, custom_objects=custom_objects, safe_mode=safe_mode)


def _format_of(formats, filepath):
    """The module of the first format whose file name ending `filepath` has, or None."""
    for ending, module in formats:
        if filepath.endswith(ending):
            return module
    return None
