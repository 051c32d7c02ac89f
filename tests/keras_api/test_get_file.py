"""utils.get_file against a real HTTP server on 127.0.0.1: download, cache, hash checks, extraction."""
import hashlib
import io
import os
import tarfile
import zipfile

import pytest

from tests.keras_api.local_server import LocalServer
from tinydl.utils import get_file


@pytest.fixture
def served(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    (root / "data.bin").write_bytes(b"0123456789" * 1000)
    with tarfile.open(root / "pack.tar.gz", "w:gz") as tar:
        for name, data in (("pack/a.txt", b"alpha"), ("pack/sub/b.txt", b"beta")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    with zipfile.ZipFile(root / "pack.zip", "w") as z:
        z.writestr("z/c.txt", "gamma")
    with tarfile.open(root / "evil.tar", "w") as tar:
        info = tarfile.TarInfo("../escaped.txt")
        info.size = 4
        tar.addfile(info, io.BytesIO(b"evil"))
    with LocalServer(root) as server:
        yield server, root


def sha256(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def test_downloads_once_into_the_cache_dir(served, tmp_path):
    server, root = served
    cache = tmp_path / "cache"
    path = get_file(origin=server.url("data.bin"), cache_dir=str(cache), file_hash=sha256(root / "data.bin"))
    assert path == str(cache / "datasets" / "data.bin")
    assert open(path, "rb").read() == (root / "data.bin").read_bytes()
    again = get_file("data.bin", server.url("data.bin"), cache_dir=str(cache), cache_subdir="datasets")
    assert again == path and server.requests == ["/data.bin"]  # the second call used the cache
    get_file("data.bin", server.url("data.bin"), cache_dir=str(cache), force_download=True)
    assert server.requests == ["/data.bin", "/data.bin"]


def test_default_cache_is_keras_home(served, tmp_path, monkeypatch):
    server, _ = served
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "home"))
    path = get_file(origin=server.url("data.bin"), cache_subdir="things")
    assert path == str(tmp_path / "home" / "things" / "data.bin")


def test_a_wrong_hash_is_an_error_and_leaves_no_file(served, tmp_path):
    server, _ = served
    with pytest.raises(ValueError, match="hash does not match"):
        get_file(origin=server.url("data.bin"), cache_dir=str(tmp_path), file_hash="0" * 64)
    assert not os.path.exists(tmp_path / "datasets" / "data.bin")


def test_a_stale_cached_file_is_downloaded_again(served, tmp_path):
    server, root = served
    (tmp_path / "datasets").mkdir()
    (tmp_path / "datasets" / "data.bin").write_bytes(b"old")
    md5 = hashlib.md5((root / "data.bin").read_bytes()).hexdigest()
    path = get_file(origin=server.url("data.bin"), cache_dir=str(tmp_path), md5_hash=md5)
    assert open(path, "rb").read() == (root / "data.bin").read_bytes() and len(server.requests) == 1


@pytest.mark.parametrize("archive, member, content", [("pack.tar.gz", "pack/sub/b.txt", "beta"),
                                                      ("pack.zip", "z/c.txt", "gamma")])
def test_extract_returns_the_extracted_folder(served, tmp_path, archive, member, content):
    server, _ = served
    folder = get_file(archive, server.url(archive), cache_dir=str(tmp_path), extract=True)
    assert folder == str(tmp_path / "datasets" / "pack_extracted")  # Keras's naming for fname with a dot
    assert open(os.path.join(folder, member)).read() == content
    untarred = get_file("packdir", server.url("pack.tar.gz"), cache_dir=str(tmp_path), untar=True)
    assert untarred == str(tmp_path / "datasets" / "packdir")
    assert os.path.exists(tmp_path / "datasets" / "packdir_archive")


def test_archive_members_escaping_the_folder_are_refused(served, tmp_path):
    server, _ = served
    with pytest.raises(ValueError, match="outside"):
        get_file("evil.tar", server.url("evil.tar"), cache_dir=str(tmp_path), extract=True)
    assert not os.path.exists(tmp_path / "datasets" / "escaped.txt")


def test_offline_error_names_the_url(tmp_path, served):
    server, _ = served
    with pytest.raises(OSError, match="missing.bin"):
        get_file(origin=server.url("missing.bin"), cache_dir=str(tmp_path))
    with pytest.raises(OSError, match="127.0.0.1:9"):
        get_file(origin="http://127.0.0.1:9/nothing.npz", cache_dir=str(tmp_path))


def test_bad_arguments_are_errors(tmp_path):
    with pytest.raises(ValueError, match="origin"):
        get_file("x")
    with pytest.raises(ValueError, match="fname"):
        get_file("a/b.bin", "http://127.0.0.1:9/b.bin", cache_dir=str(tmp_path))
