"""The downloader of numpyae.data.datasets, one test per failure mode, all offline.

The network layer is datasets._urlopen (urllib.request.urlopen); every test replaces it with a
FakeNet that answers each URL with a scripted sequence of responses or exceptions, and replaces
datasets._sleep so that retries do not wait. Each failure must become a DownloadError or a
ChecksumError naming the URL (and the file, for a failed write), leave nothing in the cache
folder, move on to the next mirror, and, through load_dataset, end in the bundled digits with
a message.
"""
import errno
import gzip
import hashlib
import http.client
import os
import socket
import ssl
import time
import urllib.error

import numpy as np
import pytest

from numpyae.data import datasets as ds
from numpyae.data.datasets import (ChecksumError, DatasetError, DatasetUnavailableError,
                                   DownloadError, download_file, load_dataset, load_mnist)

M1, M2 = "https://mirror-one.invalid/mnist/", "https://mirror-two.invalid/mnist/"
IMAGES, LABELS = "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"


# ---- a scripted network ----------------------------------------------------------------------

class FakeResponse:
    """What urlopen returns: read(n) gives the body in pieces; `error` is raised once
    `fail_at` bytes were given; headers carry Content-Length unless length=None."""

    def __init__(self, body, *, length="auto", error=None, fail_at=0, status=200):
        self.body, self.pos, self.status = body, 0, status
        self.error, self.fail_at = error, fail_at
        n = len(body) if length == "auto" else length
        self.headers = {} if n is None else {"Content-Length": str(n)}
        self.closed = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.closed = True
        return False

    def read(self, n):
        if self.error is not None and self.pos >= self.fail_at:
            raise self.error
        end = self.pos + min(n, 1000)
        if self.error is not None:
            end = min(end, self.fail_at)
        chunk = self.body[self.pos:end]
        self.pos += len(chunk)
        return chunk


class FakeNet:
    """urlopen(url, timeout=...) answering each URL with its scripted outcomes in turn (the last
    one repeats); an outcome is an exception to raise or a function returning a response.
    Unknown URLs get HTTP 404. .calls lists every URL asked for."""

    def __init__(self):
        self.routes, self.calls = {}, []

    def route(self, url, *outcomes):
        self.routes[url] = list(outcomes)

    def __call__(self, url, timeout):
        assert timeout > 0
        self.calls.append(url)
        outcomes = self.routes.get(url)
        if not outcomes:
            raise urllib.error.HTTPError(url, 404, "Not Found", {}, None)
        outcome = outcomes.pop(0) if len(outcomes) > 1 else outcomes[0]
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome()


def idx_gz(array, magic):
    array = np.asarray(array, dtype=np.uint8)
    header = magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return gzip.compress(header + array.tobytes(), mtime=0)


@pytest.fixture
def files():
    """A valid MNIST-shaped train split: {name: gzipped bytes}, and the arrays."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(3, 28, 28), dtype=np.uint8)
    labels = np.array([3, 0, 9], dtype=np.uint8)
    return {IMAGES: idx_gz(images, 0x803), LABELS: idx_gz(labels, 0x801)}, images, labels


@pytest.fixture
def net(monkeypatch, files, tmp_path):
    """A FakeNet behind datasets._urlopen, MNIST pointed at two mirrors whose SHA-256 table
    matches `files`, and datasets._sleep recording its waits."""
    fake = FakeNet()
    fake.sleeps = []
    blobs, _, _ = files
    spec = dict(ds.IDX_DATASETS["mnist"], mirrors=(M1, M2),
                sha256={name: hashlib.sha256(b).hexdigest() for name, b in blobs.items()})
    monkeypatch.setitem(ds.IDX_DATASETS, "mnist", spec)
    monkeypatch.setattr(ds, "_urlopen", fake)
    monkeypatch.setattr(ds, "_sleep", fake.sleeps.append)
    monkeypatch.setenv("NUMPYAE_DATA", str(tmp_path / "cache"))
    return fake


def serve(blob, **kw):
    return lambda: FakeResponse(blob, **kw)


def sha(blob):
    return hashlib.sha256(blob).hexdigest()


# ---- the reproducer: a truncated download ----------------------------------------------------

def test_truncated_download_tries_the_next_mirror_then_falls_back_to_the_digits(net, tmp_path,
                                                                               files):
    blobs, _, _ = files
    cut = http.client.IncompleteRead(b"\x1f\x8b partial", 5000)
    for base in (M1, M2):
        net.route(base + IMAGES, serve(blobs[IMAGES], error=cut, fail_at=10))
        net.route(base + LABELS, serve(blobs[LABELS]))
    folder = tmp_path / "dl"
    with pytest.warns(RuntimeWarning, match="falling back to the bundled 8x8 digits"):
        data = load_dataset("mnist", data_dir=folder)
    assert data.name == "digits" and data.X.shape == (1797, 64)
    assert f"{M1}{IMAGES}: truncated download" in data.message
    assert f"{M2}{IMAGES}: truncated download" in data.message
    assert net.calls == [M1 + IMAGES] * 3 + [M2 + IMAGES] * 3  # 2 retries per mirror
    assert net.sleeps == [1, 2, 1, 2]
    assert os.listdir(folder) == []  # nothing partial in the cache
    with pytest.raises(DatasetUnavailableError) as info:
        load_mnist(data_dir=folder)
    assert all(isinstance(e, DownloadError) and e.transient for e in info.value.errors)
    assert [e.url for e in info.value.errors] == [M1 + IMAGES, M2 + IMAGES]


def test_a_truncated_first_mirror_is_followed_by_a_good_second_one(net, tmp_path, files):
    blobs, images, labels = files
    cut = http.client.IncompleteRead(b"", 9)
    net.route(M1 + IMAGES, serve(blobs[IMAGES], error=cut, fail_at=40))
    net.route(M2 + IMAGES, serve(blobs[IMAGES]))
    net.route(M1 + LABELS, serve(blobs[LABELS]))
    X, y = load_mnist(data_dir=tmp_path / "dl")
    np.testing.assert_array_equal(y, labels)
    np.testing.assert_array_equal(np.round(X * 255).astype(np.uint8), images.reshape(3, -1))
    assert sorted(os.listdir(tmp_path / "dl")) == [IMAGES, LABELS]
    assert (tmp_path / "dl" / IMAGES).read_bytes() == blobs[IMAGES]
    assert net.calls == [M1 + IMAGES] * 3 + [M2 + IMAGES, M1 + LABELS]


# ---- every failure mode of one URL -----------------------------------------------------------

BODY = b"the published bytes of a file" * 50


def _outcomes():
    """name -> (outcome of urlopen, error class, words in the message, transient)."""
    return {
        "dns failure": (urllib.error.URLError(socket.gaierror(-2, "Name or service not known")),
                        DownloadError, "host not found (Name or service not known)", False),
        "connection refused": (urllib.error.URLError(ConnectionRefusedError(111, "refused")),
                               DownloadError, "connection refused", False),
        "timeout while connecting": (urllib.error.URLError(TimeoutError("timed out")),
                                     DownloadError, "timed out (no data for 30 s)", True),
        "timeout while reading": (serve(BODY, error=socket.timeout("timed out"), fail_at=100),
                                  DownloadError, "timed out", True),
        "HTTP 404": (urllib.error.HTTPError("u", 404, "Not Found", {}, None),
                     DownloadError, "HTTP 404 Not Found", False),
        "HTTP 503": (urllib.error.HTTPError("u", 503, "Service Unavailable", {}, None),
                     DownloadError, "HTTP 503 Service Unavailable", True),
        "IncompleteRead": (serve(BODY, error=http.client.IncompleteRead(b"ab", 700), fail_at=200),
                           DownloadError, "truncated download: the connection closed after 2 "
                                          "bytes of a read, 700 more were expected", True),
        "body shorter than Content-Length": (serve(BODY[:-7], length=len(BODY)), DownloadError,
                                             f"truncated download: {len(BODY) - 7:,} of the "
                                             f"{len(BODY):,} bytes announced", True),
        "connection reset mid-body": (serve(BODY, error=ConnectionResetError(104, "reset"),
                                            fail_at=300),
                                      DownloadError, "the connection failed", True),
        "server closed without answering": (http.client.RemoteDisconnected("closed"),
                                            DownloadError, "the connection failed", True),
        "garbled status line": (http.client.BadStatusLine("HTTP/9 ???"), DownloadError,
                                "the connection failed (BadStatusLine", True),
        "TLS certificate refused": (urllib.error.URLError(ssl.SSLCertVerificationError(
            1, "certificate verify failed")), DownloadError, "certificate verify failed", False),
        "unexpected status": (serve(BODY, status=206), DownloadError, "HTTP 206, expected 200",
                              False),
        "wrong hash": (serve(BODY + b"!"), ChecksumError, "does not match the published", False),
        "truncated body without Content-Length": (serve(BODY[:-7], length=None), ChecksumError,
                                                  "does not match the published", False),
        "announced body over the ceiling": (serve(BODY, length=10**12), DownloadError,
                                            "announces 1,000,000,000,000 bytes, more than the "
                                            "ceiling", False),
    }


@pytest.mark.parametrize("case", list(_outcomes()))
def test_each_network_failure_names_the_url_and_leaves_nothing(case, tmp_path, monkeypatch):
    outcome, cls, words, transient = _outcomes()[case]
    net = FakeNet()
    url = "https://host.invalid/f.gz"
    net.route(url, outcome)
    sleeps = []
    monkeypatch.setattr(ds, "_urlopen", net)
    monkeypatch.setattr(ds, "_sleep", sleeps.append)
    dest = tmp_path / "cache" / "f.gz"
    with pytest.raises(cls) as info:
        download_file(url, dest, sha(BODY))
    assert type(info.value) is cls and isinstance(info.value, DatasetError)
    assert str(info.value).startswith(f"{url}: ") and words in str(info.value)
    assert os.listdir(tmp_path / "cache") == []
    if cls is DownloadError:
        assert info.value.url == url and info.value.transient is transient
        assert net.calls == [url] * (3 if transient else 1)
        assert sleeps == ([1, 2] if transient else [])


def test_a_body_longer_than_the_ceiling_is_cut_off(tmp_path, monkeypatch):
    net = FakeNet()
    net.route("https://h.invalid/f", serve(BODY, length=None))
    monkeypatch.setattr(ds, "_urlopen", net)
    with pytest.raises(DownloadError, match="more than the ceiling of 100 bytes"):
        download_file("https://h.invalid/f", tmp_path / "f", sha(BODY), max_bytes=100)
    assert os.listdir(tmp_path) == []


def test_a_transient_failure_is_retried_and_then_succeeds(tmp_path, monkeypatch):
    net = FakeNet()
    url = "https://h.invalid/f"
    net.route(url, urllib.error.HTTPError(url, 503, "Busy", {}, None),
              serve(BODY, error=http.client.IncompleteRead(b"", 5), fail_at=9), serve(BODY))
    sleeps = []
    monkeypatch.setattr(ds, "_urlopen", net)
    monkeypatch.setattr(ds, "_sleep", sleeps.append)
    assert download_file(url, tmp_path / "f", sha(BODY)) == str(tmp_path / "f")
    assert (tmp_path / "f").read_bytes() == BODY and os.listdir(tmp_path) == ["f"]
    assert net.calls == [url] * 3 and sleeps == [1, 2]
    net.calls.clear()
    net.route(url, socket.timeout("timed out"))
    with pytest.raises(DownloadError, match="timed out"):
        download_file(url, tmp_path / "g", sha(BODY), retries=0)
    assert net.calls == [url]


def test_disk_full_while_writing_names_the_file_and_leaves_nothing(tmp_path, monkeypatch):
    net = FakeNet()
    url = "https://h.invalid/f"
    net.route(url, serve(BODY))
    monkeypatch.setattr(ds, "_urlopen", net)
    real_fdopen = os.fdopen

    class Full:
        def __init__(self, f):
            self.f = f

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def write(self, data):
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(ds.os, "fdopen", lambda fd, mode: Full(real_fdopen(fd, mode)))
    dest = tmp_path / "f.gz"
    with pytest.raises(DownloadError, match=f"{url}: cannot write {dest} \\(No space left on"):
        download_file(url, dest, sha(BODY))
    assert os.listdir(tmp_path) == []


def test_a_failed_fsync_or_rename_leaves_nothing(tmp_path, monkeypatch):
    net = FakeNet()
    url = "https://h.invalid/f"
    net.route(url, serve(BODY))
    monkeypatch.setattr(ds, "_urlopen", net)
    (tmp_path / "dir.gz").mkdir()  # the destination is a folder: the rename fails
    with pytest.raises(DownloadError, match=f"cannot write {tmp_path / 'dir.gz'}"):
        download_file(url, tmp_path / "dir.gz", sha(BODY))
    assert os.listdir(tmp_path) == ["dir.gz"] and os.listdir(tmp_path / "dir.gz") == []

    def no_space(fd):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(ds.os, "fsync", no_space)
    with pytest.raises(DownloadError, match="No space left on device"):
        download_file(url, tmp_path / "f.gz", sha(BODY))
    assert os.listdir(tmp_path) == ["dir.gz"]


def test_an_unwritable_cache_folder_tries_the_mirrors_then_falls_back(net, tmp_path, monkeypatch):
    def refuse(*a, **k):
        raise PermissionError(errno.EACCES, "Permission denied")
    monkeypatch.setattr(ds.tempfile, "mkstemp", refuse)
    folder = tmp_path / "ro"
    with pytest.raises(DatasetUnavailableError) as info:
        load_mnist(data_dir=folder)
    msg = str(info.value)
    assert f"{M1}{IMAGES}: cannot write a file in {folder} (Permission denied)" in msg
    assert f"{M2}{IMAGES}: cannot write a file in {folder}" in msg
    assert net.calls == [] and os.listdir(folder) == []
    with pytest.warns(RuntimeWarning):
        assert load_dataset("mnist", data_dir=folder).name == "digits"


def test_a_cache_folder_that_cannot_be_created_falls_back_naming_it(net, tmp_path):
    (tmp_path / "file").write_text("not a folder")
    folder = tmp_path / "file" / "mnist"
    with pytest.raises(DatasetUnavailableError, match=f"the folder {folder} cannot be created"):
        load_mnist(data_dir=folder)
    with pytest.warns(RuntimeWarning):
        data = load_dataset("mnist", data_dir=folder)
    assert data.name == "digits" and str(folder) in data.message and net.calls == []


def test_every_mirror_with_a_wrong_hash_falls_back(net, tmp_path, files):
    blobs, _, _ = files
    for base in (M1, M2):
        net.route(base + IMAGES, serve(blobs[IMAGES] + b"tampered"))
    folder = tmp_path / "dl"
    with pytest.warns(RuntimeWarning):
        data = load_dataset("mnist", data_dir=folder)
    assert data.name == "digits" and data.message.count("does not match the published") == 2
    assert os.listdir(folder) == [] and net.calls == [M1 + IMAGES, M2 + IMAGES]


def test_dns_failure_everywhere_falls_back_without_waiting(net, tmp_path):
    for base in (M1, M2):
        for name in (IMAGES, LABELS):
            net.route(base + name, urllib.error.URLError(socket.gaierror(-3, "Temporary failure")))
    with pytest.warns(RuntimeWarning):
        data = load_dataset("mnist", data_dir=tmp_path / "dl")
    assert data.name == "digits" and "host not found" in data.message
    assert net.sleeps == [] and net.calls == [M1 + IMAGES, M2 + IMAGES]


def test_an_interrupted_download_removes_its_temporary_file(tmp_path, monkeypatch):
    net = FakeNet()
    net.route("https://h.invalid/f", serve(BODY, error=KeyboardInterrupt(), fail_at=500))
    monkeypatch.setattr(ds, "_urlopen", net)
    with pytest.raises(KeyboardInterrupt):
        download_file("https://h.invalid/f", tmp_path / "f", sha(BODY))
    assert os.listdir(tmp_path) == []


def test_stale_temporary_files_of_killed_downloads_are_removed(net, tmp_path, files):
    blobs, _, labels = files
    net.route(M1 + IMAGES, serve(blobs[IMAGES]))
    net.route(M1 + LABELS, serve(blobs[LABELS]))
    folder = tmp_path / "dl"
    folder.mkdir()
    stale, fresh = folder / ".numpyae-download-old.part", folder / ".numpyae-download-new.part"
    stale.write_bytes(b"\x1f\x8b half a file")
    fresh.write_bytes(b"\x1f\x8b another process is writing this")
    two_hours_ago = time.time() - 7200
    os.utime(stale, (two_hours_ago, two_hours_ago))
    np.testing.assert_array_equal(load_mnist(data_dir=folder)[1], labels)
    assert sorted(os.listdir(folder)) == sorted([fresh.name, IMAGES, LABELS])


@pytest.mark.parametrize("kwargs, error, words", [
    ({"url": "ftp://h/f"}, ValueError, "url must be an http:// or https:// URL"),
    ({"url": b"https://h/f"}, TypeError, "url must be an http(s) URL"),
    ({"url": "https://"}, ValueError, "url must be"),
    ({"dest": None}, TypeError, "dest must be a path"),
    ({"dest": ""}, ValueError, "dest must be a non-empty path"),
    ({"sha256": "abc"}, ValueError, "sha256 must be 64 hexadecimal digits"),
    ({"sha256": "z" * 64}, ValueError, "sha256 must be 64 hexadecimal digits"),
    ({"timeout": 0}, ValueError, "timeout must be a positive number"),
    ({"timeout": float("nan")}, ValueError, "timeout must be a positive number"),
    ({"timeout": "30"}, TypeError, "timeout must be a positive number"),
    ({"retries": -1}, ValueError, "retries must be an int >= 0"),
    ({"retries": True}, TypeError, "retries must be an int >= 0"),
    ({"retries": 1.0}, TypeError, "retries must be an int >= 0"),
    ({"max_bytes": 0}, ValueError, "max_bytes must be a positive int"),
])
def test_download_file_checks_its_arguments_before_any_request(kwargs, error, words, tmp_path,
                                                               monkeypatch):
    net = FakeNet()
    monkeypatch.setattr(ds, "_urlopen", net)
    args = dict(url="https://h.invalid/f", dest=tmp_path / "f", sha256=sha(BODY))
    args.update(kwargs)
    with pytest.raises(error) as info:
        download_file(args.pop("url"), args.pop("dest"), args.pop("sha256"), **args)
    assert words in str(info.value)
    assert net.calls == [] and os.listdir(tmp_path) == []
