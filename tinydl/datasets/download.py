"""keras.utils.get_file: download once into a cache directory, check the hash, extract archives.

It lives with the data sets, its first user, so they need not import the utils floor above them.
"""
import hashlib
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile

__all__ = ["get_file", "keras_home", "hash_file", "validate_file", "extract_archive"]


def get_file(fname=None, origin=None, untar=False, md5_hash=None, file_hash=None, cache_subdir="datasets",
             hash_algorithm="auto", extract=False, archive_format="auto", cache_dir=None, force_download=False):
    """The local path of `origin`'s file, downloaded into `cache_dir/cache_subdir` unless already there
    with the right hash; with `extract=True` the folder it was extracted to."""
    if origin is None:
        raise ValueError('Please specify the "origin" argument (URL of the file to download).')
    if md5_hash is not None and file_hash is None:
        file_hash, hash_algorithm = md5_hash, "md5"
    datadir = _writable_cache(cache_dir, cache_subdir)
    given = fname is not None and str(fname) != ""
    fname = os.fspath(fname) if given else os.path.basename(urllib.parse.urlsplit(origin).path)
    if not fname:
        raise ValueError(f"Can't parse the file name from the origin provided: '{origin}'. "
                         "Please specify the `fname` argument.")
    if os.sep in fname:
        raise ValueError("Paths are no longer accepted as the `fname` argument. To specify the file's parent "
                         f"directory, use the `cache_dir` argument. Received: fname={fname}")
    target, extraction_dir = _targets(datadir, fname, given, extract or untar)
    if force_download or not os.path.exists(target) or \
            (file_hash is not None and not validate_file(target, file_hash, hash_algorithm)):
        print(f"Downloading data from {origin}")
        _download(origin, target)
        if file_hash is not None and not validate_file(target, file_hash, hash_algorithm):
            os.remove(target)
            raise ValueError(f"Incomplete or corrupted file detected. The {_algorithm(hash_algorithm, file_hash)} "
                             f"file hash does not match the provided value of {file_hash}.")
    if extract or untar:
        if not extract_archive(target, extraction_dir, "tar" if untar else archive_format):
            raise ValueError(f"get_file: could not extract {target} as archive_format={archive_format!r}")
        return extraction_dir
    return target


def keras_home():
    """The cache root: $KERAS_HOME, else ~/.keras (as Keras)."""
    return os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")


def hash_file(fpath, algorithm="sha256", chunk_size=65535):
    """The hex digest of a file ('sha256' or 'md5'; 'auto' means sha256)."""
    hasher = hashlib.md5() if algorithm == "md5" else hashlib.sha256()
    with open(fpath, "rb") as f:
        for chunk in iter(lambda: f.read(chunk_size), b""):
            hasher.update(chunk)
    return hasher.hexdigest()


def validate_file(fpath, file_hash, algorithm="auto", chunk_size=65535):
    """True when the file's hash is `file_hash` ('auto': sha256 for 64 hex digits, else md5)."""
    return hash_file(fpath, _algorithm(algorithm, file_hash), chunk_size) == str(file_hash)


def extract_archive(file_path, path=".", archive_format="auto"):
    """Extract a tar or zip archive into `path`; False when it is none of the formats asked.

    Members that would land outside `path` (absolute names, `..`, links) are refused.
    """
    formats = {"auto": ["tar", "zip"], "tar": ["tar"], "zip": ["zip"], None: []}.get(archive_format)
    if formats is None:
        formats = list(archive_format)
    for kind in formats:
        if kind == "tar" and tarfile.is_tarfile(file_path):
            with tarfile.open(file_path) as archive:
                _check_members(path, [m.name for m in archive.getmembers()],
                               [m for m in archive.getmembers() if m.issym() or m.islnk()])
                _extract_atomically(path, lambda tmp: archive.extractall(tmp))
            return True
        if kind == "zip" and zipfile.is_zipfile(file_path):
            with zipfile.ZipFile(file_path) as archive:
                _check_members(path, archive.namelist(), [])
                _extract_atomically(path, lambda tmp: archive.extractall(tmp))
            return True
    return False


def _algorithm(algorithm, file_hash):
    """The concrete hash algorithm for 'auto', 'sha256' or 'md5'."""
    if algorithm not in ("auto", "sha256", "md5"):
        raise ValueError(f"hash_algorithm must be 'auto', 'sha256' or 'md5', received {algorithm!r}")
    if algorithm == "auto":
        return "sha256" if len(str(file_hash)) == 64 else "md5"
    return algorithm


def _writable_cache(cache_dir, cache_subdir):
    """`cache_dir/cache_subdir`, created; /tmp/.keras when the cache root is not writable."""
    base = os.path.expanduser(cache_dir or keras_home())
    if not os.path.exists(base) and _parent_writable(base):
        os.makedirs(base, exist_ok=True)
    if not os.access(base, os.W_OK):
        base = os.path.join(tempfile.gettempdir(), ".keras")
    datadir = os.path.join(base, cache_subdir)
    os.makedirs(datadir, exist_ok=True)
    return datadir


def _parent_writable(path):
    """True when `path` could be created."""
    parent = os.path.dirname(os.path.abspath(path))
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    return os.access(parent, os.W_OK)


def _targets(datadir, fname, given, extract):
    """Where the download goes and (when extracting) the folder it is extracted into, as Keras names them."""
    if not extract:
        return os.path.join(datadir, fname), None
    if given and "." in fname:
        stem = fname[:fname.find(".")]
        return os.path.join(datadir, fname), os.path.join(datadir, f"{stem}_extracted")
    return os.path.join(datadir, f"{fname}_archive"), os.path.join(datadir, fname)


def _download(origin, target):
    """Fetch `origin` to `target` through a temporary file, so an interrupted download leaves nothing."""
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(target), prefix=".download-")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(origin, timeout=60) as response:
            shutil.copyfileobj(response, out)
        os.replace(tmp, target)
    except urllib.error.HTTPError as e:
        raise OSError(f"URL fetch failure on {origin}: {e.code} -- {e.reason}") from None
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise OSError(f"URL fetch failure on {origin}: {reason} (no network? download the file by hand "
                      f"into {os.path.dirname(target)})") from None
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _check_members(path, names, links):
    """ValueError when an archive member would be written outside `path`."""
    root = os.path.realpath(path)
    for name in names:
        dest = os.path.realpath(os.path.join(root, name))
        if os.path.isabs(name) or not (dest == root or dest.startswith(root + os.sep)):
            raise ValueError(f"archive member {name!r} would be extracted outside {path!r}: refused")
    if links:
        raise ValueError(f"archive member {links[0].name!r} is a link: refused")


def _extract_atomically(path, extract):
    """Run `extract(tmpdir)` and move the result to `path`, so a failed extraction leaves no half folder."""
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(dir=parent, prefix=".extract-")
    try:
        extract(tmp)
        if os.path.exists(path):
            shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            shutil.rmtree(tmp)
