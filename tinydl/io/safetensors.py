"""safetensors weights (`model.save_weights("w.safetensors")`) and the Hugging Face folder layout
(`model.save_pretrained(dir)` / `tinydl.models.from_pretrained(dir)`).

A safetensors file is `uint64 little-endian header length, JSON header, raw little-endian arrays`; the header
maps each tensor name to `{"dtype", "shape", "data_offsets": [begin, end]}` (offsets into the data that follows)
and may hold `"__metadata__"` (strings only). Tensors are named by Keras weight paths (`dense/kernel`,
`lstm/lstm_cell/bias`), so loading matches by name, not by order. Reading is plain parsing and NumPy views:
nothing in the file is executed. tinydl adds a SHA-256 of the tensor table and the data to the metadata
(`tinydl_sha256`), which other readers ignore, so a flipped bit is an error rather than a silent change.

A pretrained folder holds `config.json` (the model's config, as in `.keras`) and `model.safetensors`, or, when
the weights pass `max_shard_size`, `model-00001-of-0000N.safetensors` shards with `model.safetensors.index.json`
(`{"metadata": {"total_size"}, "weight_map": {name: shard file}}`), as Hugging Face's libraries write them.
"""
import hashlib
import json
import math
import os
import re
import struct
import warnings

import numpy as np

from tinydl.io.files import check_exists, write_atomic
from tinydl.io.h5_utils import all_or_nothing, require_built
from tinydl.io.limits import current_limits
from tinydl.io.model_config import config_to_json, model_from_config, model_to_config

__all__ = ["save_weights", "load_weights", "is_safetensors", "weights_dict", "encode", "decode",
           "save_pretrained", "from_pretrained", "WEIGHTS_NAME", "INDEX_NAME", "CONFIG_NAME"]

WEIGHTS_NAME, INDEX_NAME, CONFIG_NAME = "model.safetensors", "model.safetensors.index.json", "config.json"
DIGEST_KEY, ORDER_KEY = "tinydl_sha256", "tinydl_weight_order"

# safetensors dtype names and the NumPy dtypes they are (little-endian); BF16 has no NumPy dtype.
_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1",
           "U64": "<u8", "U32": "<u4", "U16": "<u2", "U8": "u1", "BOOL": "?"}
_NAMES = {np.dtype(v): k for k, v in _DTYPES.items()}
_MAX_HEADER = 100 << 20  # the safetensors package's own cap on the JSON header
_SHARD = re.compile(r"^model-\d{5}-of-\d{5}\.safetensors$")


def save_weights(model, filepath):
    """Write the model's weights to a safetensors file, named by weight path."""
    write_atomic(filepath, _encode_model(model))


def load_weights(model, filepath, by_name=False, skip_mismatch=False):
    """Assign weights by path from a safetensors file; every model weight must be there with its shape
    (unless `skip_mismatch`, which skips missing or misshapen ones with a warning). All or nothing.

    A file tinydl wrote for a model of the same structure whose layers got other automatic names
    (`dense_3` for `dense`) loads by the weight order it records, as Keras's `.weights.h5` loads by structure;
    `by_name=True` turns that off (names must match)."""
    require_built(model, filepath)
    tensors, meta = _read_file(filepath, _file_cap(model))
    with all_or_nothing(model):
        _assign(model, tensors if by_name else _by_structure(model, tensors, meta), filepath, skip_mismatch)


def is_safetensors(filepath):
    """Whether the file starts like a safetensors file (a plausible header length, then '{')."""
    with open(filepath, "rb") as fh:
        head = fh.read(9)
    if len(head) < 9 or head[8:9] != b"{":
        return False
    return struct.unpack("<Q", head[:8])[0] <= os.path.getsize(filepath) - 8


def weights_dict(model):
    """{weight path: NumPy array} of every weight, paths made unique by a `:1`, `:2` suffix if repeated."""
    out, seen = {}, set()
    for w in model.weights:
        if id(w) in seen:
            continue
        seen.add(id(w))
        name = str(getattr(w, "path", None) or w.name)
        key, n = name, 0
        while key in out:
            n += 1
            key = f"{name}:{n}"
        out[key] = np.asarray(w.numpy())
    return out


def encode(tensors, metadata=None):
    """The bytes of a safetensors file holding `tensors` ({name: array}), with tinydl's digest in metadata."""
    table, chunks, offset = {}, [], 0
    for name in sorted(tensors):
        array = np.asarray(tensors[name])
        dtype = _NAMES.get(array.dtype.newbyteorder("<") if array.dtype.byteorder == ">" else array.dtype)
        if dtype is None:
            raise ValueError(f"safetensors: weight {name!r} has dtype {array.dtype}, which safetensors cannot hold")
        data = np.asarray(array, dtype=_DTYPES[dtype]).tobytes()  # C order; keeps 0-d arrays 0-d
        table[name] = {"dtype": dtype, "shape": list(array.shape), "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    body = b"".join(chunks)
    meta = {str(k): str(v) for k, v in (metadata or {}).items()}
    meta.update(format="np", **{DIGEST_KEY: _digest(table, body)})
    header = json.dumps({"__metadata__": meta, **table}, separators=(",", ":")).encode("utf8")
    header += b" " * (-len(header) % 8)  # the data starts 8-byte aligned, as the safetensors package writes it
    return struct.pack("<Q", len(header)) + header + body


def decode(data, source="<bytes>"):
    """({name: array}, metadata) from safetensors bytes; a damaged or hostile file is a ValueError naming it."""
    if len(data) < 8:
        raise ValueError(f"{source}: not a safetensors file (only {len(data)} bytes)")
    n = struct.unpack("<Q", data[:8])[0]
    if n > min(_MAX_HEADER, len(data) - 8):
        raise ValueError(f"{source}: damaged safetensors file: header length {n} is past the file's "
                         f"{len(data)} bytes (or the 100 MiB cap)")
    header = _parse_header(data[8:8 + n], source)
    meta = header.pop("__metadata__", None) or {}
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise ValueError(f"{source}: damaged safetensors header: __metadata__ must map strings to strings")
    body = memoryview(data)[8 + n:]
    tensors = _tensors(header, body, source)
    expected = meta.get(DIGEST_KEY)
    if expected is not None and expected != _digest(header, body):
        raise ValueError(f"{source}: safetensors file is damaged: its tensor table or data does not match the "
                         f"SHA-256 saved with it ({DIGEST_KEY})")
    return tensors, meta


def save_pretrained(model, directory, max_shard_size="5GB"):
    """Write `config.json` and the weights as `model.safetensors`, or shards and an index json when the
    weights pass `max_shard_size` (bytes, or a string such as "10MB", "2GiB")."""
    directory = os.fspath(directory)
    limit = _parse_size(max_shard_size)
    config = config_to_json(model_to_config(model))
    tensors = weights_dict(model)
    os.makedirs(directory, exist_ok=True)
    shards = _split(tensors, limit)
    _remove_old_weights(directory)
    write_atomic(os.path.join(directory, CONFIG_NAME), config.encode("utf8"))
    if len(shards) == 1:
        write_atomic(os.path.join(directory, WEIGHTS_NAME), _encode_model(model))
        return
    weight_map = {}
    for i, shard in enumerate(shards):
        name = f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
        write_atomic(os.path.join(directory, name), encode(shard))
        weight_map.update({key: name for key in shard})
    total = sum(int(a.nbytes) for a in tensors.values())
    index = {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}
    # written last: a folder whose index is there has all its shards
    write_atomic(os.path.join(directory, INDEX_NAME), json.dumps(index, indent=2).encode("utf8"))


def from_pretrained(directory, custom_objects=None, safe_mode=True):
    """A model from a folder written by `save_pretrained` (config.json + safetensors weights, sharded or not)."""
    directory = os.fspath(directory)
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"{directory}: not a folder; from_pretrained() reads a folder with {CONFIG_NAME} "
                                f"and {WEIGHTS_NAME} (or {INDEX_NAME} and its shards)")
    config_path = os.path.join(directory, CONFIG_NAME)
    check_exists(config_path)
    cap = current_limits()["max_config_bytes"]
    if os.path.getsize(config_path) > cap:
        raise ValueError(f"{config_path}: {os.path.getsize(config_path)} bytes, over the config cap of {cap}; "
                         "if you trust the file, raise it with tinydl.io.limits.load_limits(...)")
    with open(config_path, "rb") as fh:
        try:
            config = json.loads(fh.read().decode("utf8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ValueError(f"{config_path}: not a valid JSON model config: {e}") from e
    model = model_from_config(config, custom_objects, safe_mode, source=config_path)
    _assign(model, _read_folder(directory, _file_cap(model)), directory, skip_mismatch=False)
    return model


def _encode_model(model):
    """safetensors bytes of the model's weights, recording their order for `_by_structure`."""
    tensors = weights_dict(model)
    return encode(tensors, {ORDER_KEY: json.dumps(list(tensors))})


def _by_structure(model, tensors, meta):
    """`tensors` renamed to this model's paths when their names differ but the recorded order matches
    one to one with equal shapes; otherwise unchanged (and matched by name)."""
    wanted = weights_dict(model)
    if set(tensors) == set(wanted) or ORDER_KEY not in meta:
        return tensors
    try:
        order = json.loads(meta[ORDER_KEY])
    except json.JSONDecodeError:
        return tensors
    if not (isinstance(order, list) and len(order) == len(wanted) and set(order) == set(tensors)
            and all(tensors[a].shape == w.shape for a, w in zip(order, wanted.values()))):
        return tensors
    return {b: tensors[a] for a, b in zip(order, wanted)}


def _parse_header(raw, source):
    """The JSON header as a dict (ValueError naming the file when it is not one)."""
    try:
        header = json.loads(raw.decode("utf8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise ValueError(f"{source}: damaged safetensors header (not JSON): {e}") from e
    if not isinstance(header, dict):
        raise ValueError(f"{source}: damaged safetensors header: expected a JSON object, got {type(header).__name__}")
    return header


def _tensors(header, body, source):
    """{name: read-only array} for a parsed table; entries must tile the data exactly, as the format requires."""
    spans, out = [], {}
    for name, entry in header.items():
        dtype, shape, begin, end = _entry(name, entry, source)
        size = math.prod(shape) * np.dtype(dtype).itemsize  # Python ints: a hostile shape cannot overflow
        if end - begin != size:
            raise ValueError(f"{source}: damaged safetensors header: tensor {name!r} of shape {shape} and dtype "
                             f"{entry['dtype']} needs {size} bytes, its offsets span {end - begin}")
        if end > len(body):
            raise ValueError(f"{source}: damaged safetensors file: tensor {name!r} ends at byte {end} of the data, "
                             f"the file holds {len(body)} (truncated or padded)")
        spans.append((begin, end, name))
        out[name] = np.frombuffer(body[begin:end], dtype=dtype).reshape(shape) if size else np.zeros(shape, dtype)
    position = 0
    for begin, end, name in sorted(spans):
        if begin != position:
            raise ValueError(f"{source}: damaged safetensors header: tensor {name!r} starts at byte {begin}, "
                             f"expected {position} (tensors must tile the data without gaps or overlaps)")
        position = end
    if position != len(body):
        raise ValueError(f"{source}: damaged safetensors file: the tensors cover {position} bytes of data, "
                         f"the file holds {len(body)} (truncated or padded)")
    return out


def _entry(name, entry, source):
    """(numpy dtype, shape, begin, end) of one header entry, checked."""
    if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
        raise ValueError(f"{source}: damaged safetensors header: tensor {name!r} must have exactly dtype, shape "
                         f"and data_offsets, got {entry!r:.200}")
    dtype = _DTYPES.get(entry["dtype"]) if isinstance(entry["dtype"], str) else None
    if dtype is None:
        raise ValueError(f"{source}: tensor {name!r} has dtype {entry['dtype']!r:.40}; tinydl reads "
                         f"{sorted(_DTYPES)} (BF16 has no NumPy dtype)")
    shape, offsets = entry["shape"], entry["data_offsets"]
    if not (isinstance(shape, list) and len(shape) <= 32 and all(type(d) is int and 0 <= d < 1 << 40 for d in shape)):
        raise ValueError(f"{source}: damaged safetensors header: tensor {name!r} has shape {shape!r:.100}")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(type(o) is int for o in offsets)
            and 0 <= offsets[0] <= offsets[1]):
        raise ValueError(f"{source}: damaged safetensors header: tensor {name!r} has data_offsets {offsets!r:.100}")
    return dtype, tuple(shape), offsets[0], offsets[1]


def _digest(table, body):
    """SHA-256 over the tensor table (canonical JSON) and the data bytes."""
    h = hashlib.sha256(json.dumps(table, sort_keys=True, separators=(",", ":")).encode("utf8"))
    h.update(body)
    return h.hexdigest()


def _read_file(filepath, cap):
    """The tensors of one safetensors file, refused before reading when it is larger than `cap` bytes."""
    filepath = os.fspath(filepath)
    check_exists(filepath)
    size = os.path.getsize(filepath)
    if size > cap:
        raise ValueError(f"{filepath}: {size} bytes, more than the model's weights can take ({cap} bytes): not "
                         "weights for this model; if you trust the file, raise max_member_bytes with "
                         "tinydl.io.limits.load_limits(...)")
    with open(filepath, "rb") as fh:
        return decode(fh.read(), filepath)


def _read_folder(directory, cap):
    """All tensors of a pretrained folder: one model.safetensors, or the shards its index names."""
    index_path = os.path.join(directory, INDEX_NAME)
    if not os.path.exists(index_path):
        return _read_file(os.path.join(directory, WEIGHTS_NAME), cap)[0]
    with open(index_path, "rb") as fh:
        try:
            weight_map = json.loads(fh.read(_MAX_HEADER).decode("utf8"))["weight_map"]
        except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as e:
            raise ValueError(f"{index_path}: damaged index (expected JSON with a 'weight_map'): {e}") from e
    if not isinstance(weight_map, dict) or not all(isinstance(v, str) and _SHARD.match(v)
                                                   for v in weight_map.values()):
        raise ValueError(f"{index_path}: damaged index: weight_map must map names to files named "
                         "model-NNNNN-of-NNNNN.safetensors in the same folder")
    tensors, shards = {}, sorted(set(weight_map.values()))
    total = sum(os.path.getsize(os.path.join(directory, shard)) for shard in shards
                if os.path.isfile(os.path.join(directory, shard)))
    if total > cap:
        raise ValueError(f"{index_path}: the shards hold {total} bytes, more than the model's weights can take "
                         f"({cap} bytes); if you trust the folder, raise max_member_bytes with "
                         "tinydl.io.limits.load_limits(...)")
    for shard in shards:
        got = _read_file(os.path.join(directory, shard), cap)[0]
        wrong = sorted(k for k in got if weight_map.get(k) != shard)
        if wrong:
            raise ValueError(f"{directory}/{shard}: holds {wrong[:5]}, which the index places elsewhere")
        tensors.update(got)
    missing = sorted(set(weight_map) - set(tensors))
    if missing:
        raise ValueError(f"{index_path}: names {missing[:5]} are in the index but in none of the shards")
    return tensors


def _assign(model, tensors, source, skip_mismatch):
    """Set each weight of `model` from the tensor with its path; unknown, missing or misshapen ones refused."""
    wanted = weights_dict(model)
    unknown = sorted(set(tensors) - set(wanted))
    missing = sorted(set(wanted) - set(tensors))
    wrong = sorted(k for k in set(wanted) & set(tensors) if tensors[k].shape != wanted[k].shape)
    problems = [f"{what} {names[:5]}" for what, names in (("the model has no weights named", unknown),
                                                           ("the file lacks", missing),
                                                           ("shapes differ for", wrong)) if names]
    if problems and not skip_mismatch:
        raise ValueError(f"{source}: the weights do not fit this model: " + "; ".join(problems)
                         + " (weights are matched by path, e.g. 'dense/kernel')")
    if problems:
        warnings.warn(f"{source}: skipped weights that do not fit: " + "; ".join(problems))
    by_path = dict(zip(wanted, _unique_weights(model)))
    for key, w in by_path.items():
        if key in tensors and key not in wrong:
            w.assign(np.array(tensors[key], dtype=w.numpy().dtype))


def _unique_weights(model):
    """model.weights without repeats, in the order `weights_dict` names them."""
    out, seen = [], set()
    for w in model.weights:
        if id(w) not in seen:
            seen.add(id(w))
            out.append(w)
    return out


def _file_cap(model):
    """The most bytes a weights file for this model may have: every weight in float64, plus 1 MiB of header."""
    elements = sum(int(w.size) for w in model.weights)
    return min(current_limits()["max_member_bytes"], elements * 8 + len(model.weights) * 4096 + (1 << 20))


def _split(tensors, limit):
    """Tensors grouped in name order into shards of at most `limit` bytes (a larger tensor gets its own)."""
    shards, current, size = [], {}, 0
    for name in sorted(tensors):
        nbytes = int(tensors[name].nbytes)
        if current and size + nbytes > limit:
            shards.append(current)
            current, size = {}, 0
        current[name] = tensors[name]
        size += nbytes
    shards.append(current)
    return shards


def _parse_size(value):
    """Bytes from an int or a string like '5GB', '10MiB', '200KB' (Hugging Face's max_shard_size)."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value > 0:
        return int(value)
    units = {"": 1, "B": 1, "KB": 10 ** 3, "MB": 10 ** 6, "GB": 10 ** 9, "KIB": 1 << 10, "MIB": 1 << 20,
             "GIB": 1 << 30}
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMG]I?B|B?)\s*", str(value).upper()) if isinstance(value, str) \
        else None
    if match is None or float(match.group(1)) <= 0:
        raise ValueError(f"max_shard_size must be a positive number of bytes or a string such as '5GB' or '10MiB', "
                         f"got {value!r}")
    return int(float(match.group(1)) * units[match.group(2)])


def _remove_old_weights(directory):
    """Drop weight files of an earlier save into the same folder, so shards of two saves never mix."""
    for name in os.listdir(directory):
        if name in (WEIGHTS_NAME, INDEX_NAME) or _SHARD.match(name):
            os.remove(os.path.join(directory, name))
