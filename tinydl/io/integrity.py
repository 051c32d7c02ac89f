"""Integrity for the HDF5 files tinydl writes, in attributes Keras ignores (so Keras still reads them).

Every dataset carries `tinydl_sha256`, the SHA-256 of its dtype, shape and bytes; the root carries
`tinydl_sha256`, the SHA-256 of the whole tree without the array bytes: every group's and dataset's name,
every attribute (configs, layer and weight names, the datasets' own digests), every dtype and shape.
`verify` recomputes both and names what differs, so a flipped bit anywhere (a config `relu`->`selu`, an
unchecksummed scalar, a chunk index that makes HDF5 return the fill value) is an error, not a silent load.
Files without the root attribute (written by Keras or an older tinydl) are read without the digests; in
every file, a dataset whose bytes are not all stored (HDF5 would return its fill value) is refused.
"""
import hashlib

import numpy as np

__all__ = ["DIGEST", "seal", "verify", "verify_tree", "verify_arrays", "is_sealed"]

DIGEST = "tinydl_sha256"
_BLOCK = 1 << 24  # arrays are hashed in blocks of about this many bytes


def seal(f):
    """Write the digests into an open, fully written HDF5 file."""
    datasets = []
    f.visititems(lambda name, obj: datasets.append(obj) if hasattr(obj, "shape") else None)
    for dataset in datasets:
        dataset.attrs[DIGEST] = _array_digest(dataset)
    f.attrs[DIGEST] = _tree_digest(f)


def is_sealed(f):
    """Whether the file carries tinydl's digests."""
    return DIGEST in f.attrs


def verify(f, filepath, max_array_bytes=None):
    """Raise ValueError naming the file and the damaged part unless every digest matches."""
    verify_tree(f, filepath)
    verify_arrays(f, filepath, max_array_bytes)


def verify_tree(f, filepath):
    """Check the root digest (names, attributes, dtypes, shapes): cheap, and done before any config is used."""
    if is_sealed(f) and _text(f.attrs[DIGEST]) != _tree_digest(f):
        raise ValueError(f"{filepath}: integrity check failed: the file's structure, configs or names differ "
                         "from when it was saved (the file is corrupted or was modified)")


def verify_arrays(f, filepath, max_array_bytes=None):
    """Check every dataset's digest; first refuse, before reading it, a dataset declaring more than
    `max_array_bytes` (more than the model it is loaded into could hold)."""
    datasets = []
    f.visititems(lambda name, obj: datasets.append(obj) if hasattr(obj, "shape") else None)
    for dataset in datasets:
        nbytes = int(np.prod(dataset.shape, dtype=np.int64)) * dataset.dtype.itemsize
        if max_array_bytes is not None and nbytes > max_array_bytes:
            raise ValueError(f"{filepath}: dataset '{dataset.name}' declares shape {dataset.shape} "
                             f"({nbytes} bytes), more than the model could hold ({max_array_bytes} bytes); "
                             "the file does not belong to this model or is damaged")
        _check_stored(dataset, filepath)
    if not is_sealed(f):
        return
    for dataset in datasets:
        try:
            actual = _array_digest(dataset)
        except OSError as e:
            raise ValueError(f"{filepath}: the data of '{dataset.name}' is corrupted ({e})") from e
        if DIGEST not in dataset.attrs or _text(dataset.attrs[DIGEST]) != actual:
            raise ValueError(f"{filepath}: integrity check failed for dataset '{dataset.name}': its bytes differ "
                             "from when it was saved (the file is corrupted or was modified)")


def _check_stored(dataset, filepath):
    """Refuse a dataset whose bytes are not all stored: HDF5 would silently return its fill value (zeros)
    for them, as after a flipped bit in a chunk index. Checked in every file, sealed or not."""
    if dataset.size == 0:
        return
    layout = dataset.id.get_create_plist().get_layout()
    if layout == 1:  # contiguous (h5py.h5d.CONTIGUOUS): stored at an offset, or not at all
        missing = dataset.id.get_offset() is None
    elif layout == 2:  # chunked: every chunk of the shape must exist
        expected = int(np.prod([-(-n // c) for n, c in zip(dataset.shape, dataset.chunks)], dtype=np.int64))
        missing = dataset.id.get_num_chunks() < expected
    else:  # compact: the bytes live in the object header itself
        missing = False
    if missing:
        raise ValueError(f"{filepath}: dataset '{dataset.name}' has no data stored for some or all of its "
                         f"shape {dataset.shape} (HDF5 would return fill values); the file is damaged or "
                         "incomplete")


def _array_digest(dataset):
    """SHA-256 of a dataset's dtype, shape and bytes, read in blocks of rows."""
    h = hashlib.sha256(f"{dataset.dtype.str}{tuple(dataset.shape)}".encode())
    if dataset.ndim == 0 or dataset.size == 0:
        h.update(np.ascontiguousarray(dataset[()]).tobytes())
        return h.hexdigest()
    row_bytes = max(1, dataset.nbytes // max(1, dataset.shape[0]))
    step = max(1, _BLOCK // row_bytes)
    for start in range(0, dataset.shape[0], step):
        h.update(np.ascontiguousarray(dataset[start:start + step]).tobytes())
    return h.hexdigest()


def _tree_digest(f):
    """SHA-256 of names, attributes, dtypes and shapes of the whole tree (root's own digest left out)."""
    h = hashlib.sha256()
    items = [("/", f)]
    f.visititems(lambda name, obj: items.append((name, obj)))
    for name, obj in sorted(items, key=lambda item: item[0]):
        h.update(b"\x00" + name.encode("utf8"))
        if hasattr(obj, "shape"):
            h.update(f"{obj.dtype.str}{tuple(obj.shape)}".encode())
        for key in sorted(obj.attrs):
            if obj is f and key == DIGEST:
                continue
            h.update(b"\x01" + key.encode("utf8") + b"\x02" + _attr_bytes(obj.attrs[key]))
    return h.hexdigest()


def _attr_bytes(value):
    """An attribute's value as bytes (strings by their text, numbers by dtype and bytes)."""
    array = np.asarray(value)
    if array.dtype.kind in "OSU":
        return b"\x1f".join(_text(x).encode("utf8") for x in array.ravel())
    return array.dtype.str.encode() + array.tobytes()


def _text(x):
    """An HDF5 string (bytes or str) as str."""
    return x.decode("utf8", "replace") if isinstance(x, bytes) else str(x)
