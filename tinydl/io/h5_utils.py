"""What the HDF5 formats share: checksummed datasets, split string attributes, guarded opening and
loading (errors name the file; a failed load leaves the model's weights as they were)."""
import contextlib
import io
import json
import warnings

import numpy as np

from tinydl.io import files, integrity, limits

__all__ = ["HEADER_LIMIT", "write_dataset", "read_dataset", "write_attr_list", "read_attr_list", "text",
           "json_attr", "dedupe", "json_default", "h5py_module", "open_h5", "explained", "all_or_nothing",
           "require_built", "assign_weights", "write_h5", "h5_bytes", "array_cap"]

HEADER_LIMIT = 64512          # HDF5 attributes over this many bytes are split into name0, name1, ...


def write_h5(filepath, fill):
    """Build an HDF5 file in memory with `fill(f)`, seal it (see integrity.py) and write it atomically.

    Building in memory keeps a full disk from ever reaching HDF5's close (h5py can crash the process
    there); the bytes then go to a temporary file that replaces `filepath` only when complete."""
    files.write_atomic(filepath, h5_bytes(fill))


def h5_bytes(fill):
    """The bytes of a sealed HDF5 file built in memory by `fill(f)`."""
    buffer = io.BytesIO()
    with h5py_module().File(buffer, "w") as f:
        fill(f)
        integrity.seal(f)
    return buffer.getvalue()


def array_cap(model):
    """The most bytes one dataset may declare when loaded into `model`: all its weights in float64, plus 1 MiB
    (generous, so that skip_mismatch can still skip a larger layer of another model's file)."""
    return sum(int(w.size) for w in model.weights) * 8 + (1 << 20)


def write_dataset(group, name, value):
    """One array; non-scalar arrays get a Fletcher-32 checksum so that corrupted bytes are detected."""
    value = np.asarray(value)
    if value.ndim and value.size and value.nbytes < 2 ** 30:  # one chunk per array; HDF5 caps chunks at 4 GB
        group.create_dataset(name, data=value, fletcher32=True, chunks=value.shape)
    else:
        group.create_dataset(name, data=value)


def read_dataset(group, name, filepath):
    if name not in group:
        raise ValueError(f"{filepath}: dataset '{group.name}/{name}' is missing")
    dataset = group[name]
    if not hasattr(dataset, "shape"):
        raise ValueError(f"{filepath}: '{group.name}/{name}' is a group, expected an array")
    try:
        return np.asarray(dataset[()])
    except OSError as e:
        raise ValueError(f"{filepath}: the data of '{group.name}/{name}' is corrupted ({e})") from e


def write_attr_list(group, name, items):
    """A list of names as a string attribute, split into name0, name1, ... beyond Keras's 64,512-byte limit."""
    data = np.array([s.encode("utf8") for s in items], dtype=object) if items else np.zeros((0,), "float64")
    encoded = [s.encode("utf8") for s in items]
    total = sum(len(s) + 1 for s in encoded)
    if total <= HEADER_LIMIT:
        group.attrs.create(name, data, dtype=str_dtype() if items else None)
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
        group.attrs.create(f"{name}{i}", np.array(chunk, dtype=object), dtype=str_dtype())


def read_attr_list(group, name):
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
    return [text(x) for x in np.atleast_1d(raw)] if np.size(raw) else []


def str_dtype():
    import h5py
    return h5py.string_dtype("utf-8")


def text(x):
    return x.decode("utf8") if isinstance(x, bytes) else str(x)


def json_attr(f, name, filepath):
    """A JSON attribute (a model or training config), refused beyond the `max_config_bytes` cap."""
    raw = f.attrs[name]
    cap = limits.current_limits()["max_config_bytes"]
    if np.asarray(raw).nbytes > cap or len(raw) > cap:
        raise ValueError(f"{filepath}: the '{name}' attribute holds over {cap} bytes; if you trust the file, "
                         "raise the cap with tinydl.io.limits.load_limits(max_config_bytes=...)")
    try:
        return json.loads(text(raw))
    except (UnicodeDecodeError, ValueError) as e:
        raise ValueError(f"{filepath}: the '{name}' attribute is not valid JSON ({e})") from e


def dedupe(names):
    """Names made unique by suffixing repeats with _1, _2, ..."""
    seen, out = {}, []
    for n in names:
        k = seen.get(n, 0)
        seen[n] = k + 1
        out.append(n if k == 0 else f"{n}_{k}")
    return out


def json_default(obj):
    """JSON for NumPy scalars/arrays and tuples in configs."""
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.dtype):
        return obj.name
    raise TypeError(f"cannot write {obj!r} ({type(obj).__name__}) into a JSON model config")


def h5py_module():
    try:
        import h5py
    except ImportError as e:  # pragma: no cover
        raise ImportError("saving to HDF5 needs h5py: pip install h5py (or tinydl[io])") from e
    return h5py


@contextlib.contextmanager
def all_or_nothing(model):
    """Restore every weight when loading fails part-way, so a damaged file never leaves half a model."""
    before = [w.numpy() for w in model.weights]
    try:
        yield
    except BaseException:
        for w, value in zip(model.weights, before):
            w.assign(value)
        raise


@contextlib.contextmanager
def open_h5(filepath):
    """Open an HDF5 file for reading; a file that is not HDF5 (or is truncated) is a clear OSError."""
    h5py = h5py_module()
    try:
        f = h5py.File(filepath, "r")
    except OSError as e:
        raise OSError(f"{filepath}: not a readable HDF5 file (truncated, corrupted or another format): {e}") from e
    try:
        yield f
    finally:
        f.close()


@contextlib.contextmanager
def explained(filepath, doing):
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


def require_built(model, filepath):
    if not model.built or (getattr(model, "_graph", None) is None and not model.weights and model._layers):
        raise ValueError(f"cannot load weights from {filepath} into model '{model.name}': it is not built yet; "
                         "call it on data (or build it) first so its weights exist")


def assign_weights(layer, variables, values, filepath, saved_name, skip_mismatch):
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
