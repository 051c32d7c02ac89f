"""Writing files so that a crash, a kill or a full disk never leaves half a file, and checks shared by loaders.

    with atomic_path("m.h5") as tmp:        # write to tmp; renamed over m.h5 only if the block succeeds
        ...
    write_atomic("m.keras", data)           # the same for bytes built in memory

The temporary file sits beside the target as `.<name>.tinydl-tmp-<pid>-<random>`, so that one left by a
killed process is recognisable: the next save of the same target removes those whose process is gone.
The target is written as `open(path, "w")` would write it: a symlink is followed (its target is replaced),
an existing file keeps its permission bits, a new one gets `0o666 & ~umask`, and a file without an owner
write bit (e.g. 0444) is refused with PermissionError, even for root.
"""
import contextlib
import os
import re
import stat
import tempfile

__all__ = ["atomic_path", "write_atomic", "remove_stale_temporaries", "check_exists", "check_overwrite", "is_zip",
           "TEMP_MARK"]

TEMP_MARK = ".tinydl-tmp-"


@contextlib.contextmanager
def atomic_path(filepath):
    """A temporary path in the target's folder, renamed over `filepath` only when the block succeeds."""
    target = _resolve_link(os.fspath(filepath))
    folder = os.path.dirname(os.path.abspath(target))
    os.makedirs(folder, exist_ok=True)
    mode = _mode_for(target)
    remove_stale_temporaries(target)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(target)}{TEMP_MARK}{os.getpid()}-", dir=folder)
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise


def write_atomic(filepath, data):
    """Write `data` (bytes) to `filepath` atomically, flushed to disk before the rename."""
    with atomic_path(filepath) as tmp, open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def remove_stale_temporaries(target):
    """Delete temporary files of earlier saves of `target` whose writing process no longer runs."""
    folder = os.path.dirname(os.path.abspath(target))
    pattern = re.compile(re.escape(f".{os.path.basename(target)}{TEMP_MARK}") + r"(\d+)-\w+$")
    with contextlib.suppress(OSError):
        for name in os.listdir(folder):
            match = pattern.match(name)
            if match and not _process_alive(int(match.group(1))):
                with contextlib.suppress(OSError):
                    os.remove(os.path.join(folder, name))


def check_exists(filepath):
    """FileNotFoundError/IsADirectoryError naming the path unless it is an existing file."""
    if not os.path.exists(filepath):
        raise FileNotFoundError(f"no such file: {filepath}")
    if os.path.isdir(filepath):
        raise IsADirectoryError(f"{filepath} is a folder; expected a .h5, .weights.h5 or .keras file "
                                "(TensorFlow SavedModel folders are not supported)")


def check_overwrite(filepath, overwrite):
    """FileExistsError when `filepath` exists and `overwrite` is False."""
    if not overwrite and os.path.exists(filepath):
        raise FileExistsError(f"{filepath} exists and overwrite=False")


def is_zip(filepath):
    """True when the file starts with a zip signature (a .keras archive)."""
    with open(filepath, "rb") as fh:
        return fh.read(4) == b"PK\x03\x04"


def _resolve_link(path):
    """The file a symlink points to (as open() writes through links); other paths unchanged."""
    return os.path.realpath(path) if os.path.islink(path) else path


def _mode_for(target):
    """Permission bits the saved file gets: the existing file's, else 0o666 masked by the umask."""
    try:
        st = os.stat(target)
    except FileNotFoundError:
        return 0o666 & ~_umask()
    if not stat.S_ISREG(st.st_mode):
        raise IsADirectoryError(f"{target} exists and is not a regular file; cannot save over it")
    if not st.st_mode & stat.S_IWUSR or not os.access(target, os.W_OK):
        raise PermissionError(f"{target} is read-only (mode {stat.S_IMODE(st.st_mode):o}); make it writable "
                              "or save elsewhere")
    return stat.S_IMODE(st.st_mode)


def _umask():
    """The process umask, read without changing it where Linux allows (os.umask is not thread-safe)."""
    with contextlib.suppress(OSError, ValueError):
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _process_alive(pid):
    """Whether a process with this id exists (a temporary file of a live save must not be removed)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True
