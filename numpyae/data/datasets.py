"""Datasets: the bundled digits, MNIST / Fashion-MNIST from IDX files, natural-image patches,
load_dataset(name) for the command line, and a seeded split helper.

load_digits(): the UCI "Optical Recognition of Handwritten Digits" test set (Alpaydin & Kaynak,
1998; UCI Machine Learning Repository, CC BY 4.0): 1,797 images of 8x8 pixels, values 0..16.
load_mnist() / load_fashion_mnist(): read from a folder or a cache, downloaded (SHA-256
checked, written atomically) only when missing.
load_patches(): square patches of natural photographs bundled in numpyae/data/photos/ (UFLDL's
sparse-autoencoder exercise); load_photograph(name) reads one of them.

Errors. Every public function checks its arguments first (TypeError / ValueError naming the
argument). A dataset file that is corrupt, truncated, gzip-bombed, of the wrong shape or with
labels out of range raises DatasetError naming the file, before any large allocation. A
download that fails in any way (DNS failure, refused connection, timeout, HTTP error, truncated
body, wrong SHA-256, a cache folder that cannot be written or a full disk) raises DownloadError
or ChecksumError (both DatasetErrors) naming the URL, and the file where it is a write that
failed; the next mirror is then tried, and when every mirror failed the loader raises
DatasetUnavailableError (a FileNotFoundError) listing each URL's reason, on which
load_dataset falls back to the bundled digits with a message.

Downloads. Pooch (scipy.datasets and scikit-image fetch their data with it) was considered
and not adopted: the hand-written downloader below does what Pooch does for this use (SHA-256
check, a temporary file in the cache folder renamed only after the check, retries of transient
failures with a growing wait, a timeout) and what Pooch does not: several mirrors per file,
errors that name the URL in the library's own classes, a size ceiling, and the bytes exactly
as served (Pooch streams through requests, whose iter_content undoes a Content-Encoding: gzip
that some servers put on .gz files, so their hash never matches). It needs only the standard
library, where Pooch would add requests, urllib3, certifi, idna, charset-normalizer,
platformdirs and packaging. tests/data/test_downloads.py shows each failure mode.
"""
from __future__ import annotations

import gzip
import hashlib
import http.client
import math
import numbers
import os
import socket
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import warnings
import zlib
from importlib import resources

import numpy as np

from ..core.checks import check_array, check_positive_int, check_probability
from ..core.random import as_generator
from .preprocessing import ZCAWhitening, normalize_patches, whiten_image

DIGITS_SHAPE = (8, 8)


def _check_bool(value, name):
    """value as a bool; only True, False and NumPy's bools are accepted (not "no", not 0)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {type(value).__name__} {value!r}")
    return bool(value)


def _check_path(value, name):
    """A file or folder argument as a str path: a str or an os.PathLike, not empty, no NUL."""
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a path (str or os.PathLike), got {type(value).__name__} "
                        f"{value!r}")
    if not value or "\0" in value:
        raise ValueError(f"{name} must be a non-empty path without NUL characters, got {value!r}")
    return value


def load_digits(*, as_images=False):
    """Pixels as float32 in [0, 1], shape (1797, 64) (or (1797, 8, 8)), and int64 labels 0..9."""
    as_images = _check_bool(as_images, "as_images")
    with resources.files("numpyae").joinpath("data/digits.csv.gz").open("rb") as f:
        raw = np.loadtxt(gzip.open(f, "rt"), delimiter=",", dtype=np.int64)
    X = (raw[:, :64] / 16.0).astype(np.float32)
    y = raw[:, 64]
    if as_images:
        X = X.reshape(-1, *DIGITS_SHAPE)
    return X, y


def _as_rows(a, name):
    """Any array-like with a first (row) axis; a clear error for scalars and ragged lists."""
    if a is None or isinstance(a, (str, bytes, dict, set)):
        raise TypeError(f"{name} must be an array with one row per example, got {type(a).__name__}")
    try:
        arr = np.asarray(a)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{name} must be a rectangular array: {exc}") from None
    if arr.ndim < 1:
        raise ValueError(f"{name} must have a first (row) axis, got a 0-d {arr.dtype} array")
    return arr


def train_validation_split(X, y=None, *, fraction=0.2, rng=0):
    """Shuffle with rng (an int seed or a Generator) and hold out `fraction` of the rows.

    Returns X_train, X_val, y_train, y_val (the y parts are None when y is None).
    """
    generator = as_generator(rng)  # checked before any work
    X = _as_rows(X, "X")
    if len(X) < 2:
        raise ValueError(f"X must have at least 2 rows to split, got shape {X.shape}")
    if y is not None:
        y = _as_rows(y, "y")
        if len(y) != len(X):
            raise ValueError(f"y must have one entry per row of X ({len(X)}), got {len(y)}")
    frac = check_probability(fraction, "fraction", open_low=True)
    n_val = int(round(frac * len(X)))
    if not 1 <= n_val < len(X):
        raise ValueError(f"fraction={frac} leaves one side empty for {len(X)} rows")
    order = generator.permutation(len(X))
    tr, va = order[n_val:], order[:n_val]
    if y is None:
        return X[tr], X[va], None, None
    return X[tr], X[va], y[tr], y[va]


# ---- MNIST and Fashion-MNIST (IDX files) ---------------------------------------------------------
#
# IDX format (LeCun et al.): a big-endian header, then the data in C order.
#     bytes 0-1   zero
#     byte  2     element type: 0x08 = unsigned byte (the only type these datasets use)
#     byte  3     number of dimensions d
#     4 * d       each dimension as a big-endian uint32
#     then        prod(dims) elements
# Images are idx3 (magic 0x00000803: n, rows, cols); labels idx1 (magic 0x00000801: n).
# Files may be gzipped (detected by the gzip magic bytes 1f 8b, not by the name).
# A file is read as a stream: the header first, its declared size checked against a ceiling
# (MAX_IDX_BYTES) and against the size on disk, then the data decompressed chunk by chunk into
# one array of exactly the declared size. A forged header or a gzip bomb is refused before
# anything of its declared size is allocated, and never more than declared is decompressed.

IDX_IMAGES_MAGIC = 0x00000803
IDX_LABELS_MAGIC = 0x00000801
IMAGE_SHAPE_28 = (28, 28)

#: The most data (bytes, after decompression, header excluded) read_idx accepts by default:
#: 64 MiB. The largest file of MNIST and Fashion-MNIST, the 60,000 training images of 28x28,
#: holds 47,040,000; pass max_bytes= to read_idx for larger IDX files of other datasets.
MAX_IDX_BYTES = 64 * 2**20

#: The most bytes one download may bring (the largest file served, Fashion-MNIST's gzipped
#: training images, has 26,421,880); a server sending more is cut off and the file discarded.
MAX_DOWNLOAD_BYTES = 64 * 2**20

_CHUNK = 4 << 20  # bytes read (and decompressed) at a time
_PROBE = 1 << 16  # bytes read after the declared data to find out whether there are more


class DatasetError(ValueError):
    """A dataset file is corrupt, truncated, inconsistent or fails its checksum; the message
    names the file (or, for a download, the URL)."""


class ChecksumError(DatasetError):
    """A downloaded file's SHA-256 does not match the published one; nothing was written."""


class DownloadError(DatasetError):
    """One URL could not be downloaded: DNS failure, refused connection, timeout, HTTP error,
    truncated body, a body larger than MAX_DOWNLOAD_BYTES, or a file in the cache that could not
    be written (disk full, no permission). The message names the URL, and the file for a
    failed write; nothing was kept. .url is the URL, .transient says whether trying the same
    URL again may succeed (timeouts, dropped connections, HTTP 5xx)."""

    def __init__(self, message, *, url=None, transient=False):
        super().__init__(message)
        self.url, self.transient = url, transient


class DatasetUnavailableError(FileNotFoundError):
    """The dataset files are not on disk and could not be downloaded. The message names each
    missing file, the folder, and each URL tried with its reason; .errors holds the
    DownloadError / ChecksumError of each URL tried."""

    def __init__(self, message, errors=()):
        super().__init__(message)
        self.errors = list(errors)

    def __str__(self):
        return self.args[0]


def _split_files(prefix):
    return {"images": f"{prefix}-images-idx3-ubyte.gz", "labels": f"{prefix}-labels-idx1-ubyte.gz"}


#: name -> where to get it. SHA-256 of the gzipped files as published by the dataset hosts'
#: mirrors (cross-checked against several independent public manifests).
IDX_DATASETS = {
    "mnist": {
        "title": "MNIST handwritten digits (LeCun, Cortes & Burges)",
        "mirrors": ("https://ossci-datasets.s3.amazonaws.com/mnist/",
                    "https://storage.googleapis.com/cvdf-datasets/mnist/",
                    "http://yann.lecun.com/exdb/mnist/"),
        "splits": {"train": _split_files("train"), "test": _split_files("t10k")},
        "image_shape": IMAGE_SHAPE_28,
        "n_classes": 10,
        "sha256": {
            "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
            "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
            "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
            "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
        },
    },
    "fashion-mnist": {
        "title": "Fashion-MNIST (Xiao, Rasul & Vollgraf, Zalando Research)",
        "mirrors": ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        "splits": {"train": _split_files("train"), "test": _split_files("t10k")},
        "image_shape": IMAGE_SHAPE_28,
        "n_classes": 10,
        "sha256": {
            "train-images-idx3-ubyte.gz": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
            "train-labels-idx1-ubyte.gz": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
            "t10k-images-idx3-ubyte.gz": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
            "t10k-labels-idx1-ubyte.gz": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
        },
    },
}

#: what urlopen is called through; tests replace it (never the network in tests)
_urlopen = urllib.request.urlopen
#: what waits between two attempts at one URL; tests replace it
_sleep = time.sleep


def data_home(data_dir=None):
    """The folder datasets live in: data_dir if given, else $NUMPYAE_DATA, else a per-user cache
    ($XDG_CACHE_HOME/numpyae, ~/.cache/numpyae; %LOCALAPPDATA%\\numpyae on Windows)."""
    if data_dir is not None:
        return os.path.abspath(os.path.expanduser(_check_path(data_dir, "data_dir")))
    env = os.environ.get("NUMPYAE_DATA")
    if env:
        return os.path.abspath(os.path.expanduser(env))
    if sys.platform.startswith("win") and os.environ.get("LOCALAPPDATA"):
        return os.path.join(os.environ["LOCALAPPDATA"], "numpyae")
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "numpyae")


def _reason(exc):
    """An OSError's own words without the errno number and the repeated path."""
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


def _read_upto(stream, n):
    """Up to n bytes of a binary stream (fewer only at its end)."""
    parts, got = [], 0
    while got < n:
        chunk = stream.read(n - got)
        if not chunk:
            break
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


def _parse_idx(stream, path, magic, max_bytes, file_size, check_dims):
    """The IDX array of a stream of bytes (decompressed already); file_size is the size on disk
    of a raw file (None for gzip, whose decompressed size is known only by reading it)."""
    head = _read_upto(stream, 4)
    if len(head) < 4:
        raise DatasetError(f"{path}: truncated IDX file ({len(head)} bytes, no header)")
    found = int.from_bytes(head, "big")
    if magic is not None and found != magic:
        kind = {IDX_IMAGES_MAGIC: " (images IDX file)", IDX_LABELS_MAGIC: " (labels IDX file)"}
        raise DatasetError(f"{path}: wrong magic number 0x{found:08x}, expected 0x{magic:08x}"
                           f"{kind.get(magic, '')}")
    if head[0] != 0 or head[1] != 0:
        raise DatasetError(f"{path}: not an IDX file (magic 0x{found:08x})")
    if head[2] != 0x08:
        raise DatasetError(f"{path}: IDX element type 0x{head[2]:02x} is not supported "
                           f"(only unsigned bytes, 0x08)")
    ndim = head[3]
    if ndim == 0:
        raise DatasetError(f"{path}: the IDX header declares 0 dimensions")
    raw_dims = _read_upto(stream, 4 * ndim)
    if len(raw_dims) < 4 * ndim:
        raise DatasetError(f"{path}: truncated IDX header ({4 + len(raw_dims)} bytes for "
                           f"{ndim} dimensions)")
    dims = tuple(int.from_bytes(raw_dims[4 * i:4 * i + 4], "big") for i in range(ndim))
    header, n_bytes = 4 + 4 * ndim, math.prod(dims)
    if n_bytes > max_bytes:
        raise DatasetError(f"{path}: the header declares shape {dims}, {n_bytes:,} bytes of "
                           f"data, more than the ceiling of {max_bytes:,} bytes (max_bytes; "
                           f"the largest MNIST file holds 47,040,000)")
    if check_dims is not None:
        check_dims(dims)
    if file_size is not None and file_size < header + n_bytes:
        raise DatasetError(f"{path}: truncated: the header declares shape {dims} "
                           f"({header + n_bytes} bytes), the file has {file_size}")
    if file_size is not None and file_size > header + n_bytes:
        raise DatasetError(f"{path}: {file_size - header - n_bytes} bytes after the data the "
                           f"header declares (shape {dims})")
    data = np.empty(n_bytes, dtype=np.uint8)
    view, got = memoryview(data), 0
    while got < n_bytes:
        k = stream.readinto(view[got:got + _CHUNK])
        if not k:
            break
        got += k
    if got < n_bytes:
        raise DatasetError(f"{path}: truncated: the header declares shape {dims} "
                           f"({header + n_bytes} bytes), the file has {header + got}"
                           f"{' after decompression' if file_size is None else ''}")
    extra = len(_read_upto(stream, _PROBE))  # at a gzip stream's end, this checks its CRC
    if extra:
        raise DatasetError(f"{path}: {extra}{' or more' if extra == _PROBE else ''} bytes after "
                           f"the data the header declares (shape {dims})")
    return data.reshape(dims)


def _read_idx(path, magic=None, max_bytes=MAX_IDX_BYTES, check_dims=None):
    """read_idx with check_dims(dims), called after the header is read and before the data are:
    it raises DatasetError for a shape its caller does not accept."""
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        raise
    except OSError as exc:  # a folder, no permission, an I/O error
        raise DatasetError(f"{path}: cannot be read ({_reason(exc)})") from None
    with f:
        try:
            gz = f.read(2) == b"\x1f\x8b"
            f.seek(0)
            size = os.fstat(f.fileno()).st_size
            stream = gzip.GzipFile(fileobj=f, mode="rb") if gz else f
            return _parse_idx(stream, path, magic, max_bytes, None if gz else size, check_dims)
        except (OSError, EOFError, zlib.error) as exc:
            if gz:
                raise DatasetError(f"{path}: gzip stream is truncated or corrupt ({exc})") from None
            raise DatasetError(f"{path}: cannot be read ({_reason(exc)})") from None


def read_idx(path, *, magic=None, max_bytes=MAX_IDX_BYTES):
    """Parse one IDX file (gzipped or raw) into a uint8 array of the shape its header declares.

    magic      the expected 4-byte magic number (IDX_IMAGES_MAGIC or IDX_LABELS_MAGIC), if any
    max_bytes  the most data the header may declare (default MAX_IDX_BYTES, 64 MiB); checked
               before anything is allocated, and never more is decompressed
    Raises DatasetError naming the file for a wrong magic number, an unsupported element type,
    a declared size over max_bytes, a corrupt gzip stream, or a file shorter or longer than its
    header says; FileNotFoundError for a missing file.
    """
    path = _check_path(path, "path")
    if magic is not None and (isinstance(magic, bool) or not isinstance(magic, numbers.Integral)
                              or not 0 <= magic < 2**32):
        raise TypeError(f"magic must be None or a 4-byte unsigned int such as IDX_IMAGES_MAGIC, "
                        f"got {type(magic).__name__} {magic!r}")
    max_bytes = check_positive_int(max_bytes, "max_bytes")
    return _read_idx(path, magic, max_bytes)


# ---- downloads -------------------------------------------------------------------------------

_TEMP_PREFIX = ".numpyae-download-"
#: a temporary download file untouched this long is left over from a killed process
_STALE_SECONDS = 3600


def _check_url(url):
    """An http(s) URL as a str."""
    if not isinstance(url, str):
        raise TypeError(f"url must be an http(s) URL as a str, got {type(url).__name__} {url!r}")
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"url must be an http:// or https:// URL, got {url!r}")
    return url


def _network_error(url, exc, timeout):
    """DownloadError naming url for an exception the network layer raised."""
    reason = getattr(exc, "reason", None)
    if isinstance(exc, urllib.error.HTTPError):
        return DownloadError(f"{url}: HTTP {exc.code} {exc.reason}", url=url,
                             transient=exc.code >= 500 or exc.code in (408, 429))
    if isinstance(exc, urllib.error.URLError) and isinstance(reason, BaseException):
        exc = reason  # the socket error inside: DNS failure, refused connection, timeout, SSL
    if isinstance(exc, socket.gaierror):
        return DownloadError(f"{url}: host not found ({exc.strerror or exc})", url=url)
    if isinstance(exc, TimeoutError):  # socket.timeout is TimeoutError
        return DownloadError(f"{url}: timed out (no data for {timeout} s)", url=url, transient=True)
    if isinstance(exc, http.client.IncompleteRead):
        return DownloadError(f"{url}: truncated download: the connection closed after "
                             f"{len(exc.partial)} bytes of a read, {exc.expected} more were "
                             f"expected", url=url, transient=True)
    if isinstance(exc, ConnectionRefusedError):
        return DownloadError(f"{url}: connection refused", url=url)
    if isinstance(exc, (http.client.HTTPException, ConnectionError)):
        return DownloadError(f"{url}: the connection failed ({type(exc).__name__}: "
                             f"{exc or 'no detail'})", url=url, transient=True)
    if isinstance(exc, OSError):
        return DownloadError(f"{url}: {_reason(exc)}", url=url)
    return DownloadError(f"{url}: {type(exc).__name__}: {exc}", url=url)


#: what the network layer (urllib, http.client, socket, ssl) raises for one failed request;
#: OSError covers URLError, HTTPError, timeouts, resets and SSL errors, HTTPException covers
#: IncompleteRead and a garbled status line; ValueError an URL urllib cannot open
_NETWORK_ERRORS = (OSError, http.client.HTTPException, ValueError, EOFError)


def _content_length(response):
    """The Content-Length the server announced, or None."""
    headers = getattr(response, "headers", None)
    value = headers.get("Content-Length") if headers is not None else None
    try:
        length = int(value)
    except (TypeError, ValueError):
        return None
    return length if length >= 0 else None


def _download_once(url, dest, folder, sha256, timeout, max_bytes):
    """One attempt: url into a temporary file in folder, checked, then renamed to dest."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=_TEMP_PREFIX, suffix=".part", dir=folder)
    except OSError as exc:
        raise DownloadError(f"{url}: cannot write a file in {folder} ({_reason(exc)})",
                            url=url) from exc
    try:
        h, size = hashlib.sha256(), 0
        with os.fdopen(fd, "wb") as out:
            try:
                response = _urlopen(url, timeout=timeout)
            except _NETWORK_ERRORS as exc:
                raise _network_error(url, exc, timeout) from exc
            with response:
                status = getattr(response, "status", 200)
                if status is not None and status != 200:
                    raise DownloadError(f"{url}: HTTP {status}, expected 200", url=url)
                expected = _content_length(response)
                if expected is not None and expected > max_bytes:
                    raise DownloadError(f"{url}: the server announces {expected:,} bytes, more "
                                        f"than the ceiling of {max_bytes:,}", url=url)
                while True:
                    try:
                        chunk = response.read(_CHUNK)
                    except _NETWORK_ERRORS as exc:
                        raise _network_error(url, exc, timeout) from exc
                    if not chunk:
                        break
                    size += len(chunk)
                    if size > max_bytes:
                        raise DownloadError(f"{url}: more than the ceiling of {max_bytes:,} "
                                            f"bytes; the download was discarded", url=url)
                    h.update(chunk)
                    out.write(chunk)
            if expected is not None and size != expected:
                raise DownloadError(f"{url}: truncated download: {size:,} of the {expected:,} "
                                    f"bytes announced", url=url, transient=True)
            out.flush()
            os.fsync(out.fileno())
        digest = h.hexdigest()
        if digest != sha256:
            raise ChecksumError(f"{url}: SHA-256 {digest} does not match the published "
                                f"{sha256}; the download was discarded")
        os.replace(tmp, dest)
    except OSError as exc:  # writing the temporary file or renaming it: disk full, permissions
        raise DownloadError(f"{url}: cannot write {dest} ({_reason(exc)}); the download was "
                            f"discarded", url=url) from exc
    finally:
        try:
            os.unlink(tmp)  # gone already when the rename succeeded
        except FileNotFoundError:
            pass


def download_file(url, dest, sha256, *, timeout=30, retries=2, max_bytes=MAX_DOWNLOAD_BYTES):
    """Download url to dest atomically: into a temporary file in dest's folder, checked against
    its SHA-256, then renamed to dest. Whatever fails, nothing partial is left behind.

    timeout    seconds a connection or a read may wait for data (a positive number)
    retries    how many more times a transient failure (timeout, dropped connection, truncated
               body, HTTP 5xx) is tried again, after 1 s, 2 s, ... (a non-negative int)
    max_bytes  the most bytes accepted (default MAX_DOWNLOAD_BYTES)
    Raises ChecksumError for a SHA-256 mismatch and DownloadError (both DatasetErrors, naming
    the URL) for any other failure, transient or not. Returns dest.
    """
    url = _check_url(url)
    dest = os.path.abspath(_check_path(dest, "dest"))
    if not isinstance(sha256, str) or len(sha256) != 64 \
            or set(sha256.lower()) - set("0123456789abcdef"):
        raise ValueError(f"sha256 must be 64 hexadecimal digits, got {sha256!r}")
    if isinstance(timeout, bool) or not isinstance(timeout, numbers.Real):
        raise TypeError(f"timeout must be a positive number of seconds, got "
                        f"{type(timeout).__name__} {timeout!r}")
    if not math.isfinite(timeout) or timeout <= 0:
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    if isinstance(retries, bool) or not isinstance(retries, numbers.Integral):
        raise TypeError(f"retries must be an int >= 0, got {type(retries).__name__} {retries!r}")
    if retries < 0:
        raise ValueError(f"retries must be an int >= 0, got {retries!r}")
    max_bytes = check_positive_int(max_bytes, "max_bytes")
    folder = os.path.dirname(dest)
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        raise DownloadError(f"{url}: cannot create the folder {folder} ({_reason(exc)})",
                            url=url) from exc
    attempt = 0
    while True:
        try:
            _download_once(url, dest, folder, sha256.lower(), timeout, max_bytes)
            return dest
        except DownloadError as exc:
            if not exc.transient or attempt >= retries:
                raise
        attempt += 1
        _sleep(min(attempt, 10))


def _remove_stale_downloads(folder):
    """Delete temporary download files that a killed process left in folder (untouched for
    _STALE_SECONDS, an hour: a download in progress writes each 4 MiB it receives)."""
    try:
        names = os.listdir(folder)
    except OSError:
        return
    now = time.time()
    for name in names:
        if name.startswith(_TEMP_PREFIX):
            path = os.path.join(folder, name)
            try:
                if os.path.isfile(path) and now - os.path.getmtime(path) > _STALE_SECONDS:
                    os.unlink(path)
            except OSError:
                pass


def _find_local(folder, gz_name):
    """The gzipped or the raw file, whichever exists (gz first), or None."""
    for name in (gz_name, gz_name[:-3]):
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            return path
    return None


def _fetch(name, split, folder, download):
    """{"images": path, "labels": path} of one split: the files in folder, downloading the
    missing ones (each mirror in turn) when download is true; DatasetUnavailableError else."""
    spec = IDX_DATASETS[name]
    paths, missing = {}, []
    for role, gz_name in spec["splits"][split].items():
        paths[role] = _find_local(folder, gz_name)
        if paths[role] is None:
            missing.append((role, gz_name))
    errors, problem = [], None
    if missing and download:
        try:
            os.makedirs(folder, exist_ok=True)
        except OSError as exc:
            problem = f"the folder {folder} cannot be created ({_reason(exc)})"
        else:
            _remove_stale_downloads(folder)
            for role, gz_name in missing:
                for base in spec["mirrors"]:
                    try:
                        paths[role] = download_file(base + gz_name, os.path.join(folder, gz_name),
                                                    spec["sha256"][gz_name])
                        break
                    except DatasetError as exc:  # DownloadError or ChecksumError: next mirror
                        errors.append(exc)
                if paths[role] is None:
                    break  # every mirror failed; the other file would not make a split
        missing = [(r, g) for r, g in missing if paths[r] is None]
    if missing:
        listing = "\n".join(f"  {g}  (or the uncompressed {g[:-3]})" for _, g in missing)
        if not download:
            why = "downloading is switched off (download=False)\n"
        elif problem:
            why = f"downloading is impossible: {problem}\n"
        else:
            why = "downloading failed:\n" + "".join(f"  {e}\n" for e in errors)
        raise DatasetUnavailableError(
            f"{spec['title']}, {split} split: missing\n{listing}\nin the folder {folder}\n{why}"
            f"Put the files there, or set NUMPYAE_DATA / pass data_dir= to the folder that holds "
            f"them, or connect to the internet (hosts: {', '.join(spec['mirrors'])}).", errors)
    return paths


def _check_idx_args(name, split):
    """name and split of an IDX dataset, checked."""
    if not isinstance(name, str) or name not in IDX_DATASETS:
        raise ValueError(f"name must be one of {sorted(IDX_DATASETS)}, got {name!r}")
    if not isinstance(split, str) or split not in IDX_DATASETS[name]["splits"]:
        raise ValueError(f"split must be one of {sorted(IDX_DATASETS[name]['splits'])} for "
                         f"{name!r}, got {split!r}")


def _read_split(spec, paths):
    """Images (n, rows, cols) and labels (n,) of one split, as uint8, each file validated:
    labels 1-D, at least one, each below the class count; images 3-D of the dataset's image
    shape, as many as labels. Shapes are checked from the headers, before reading the data."""
    ip, lp = paths["images"], paths["labels"]
    n_classes, shape = spec["n_classes"], tuple(spec["image_shape"])

    def label_dims(dims):
        if len(dims) != 1:
            raise DatasetError(f"{lp}: labels must be 1-D (n,), the header declares shape {dims}")
        if dims[0] == 0:
            raise DatasetError(f"{lp}: holds 0 labels; a dataset needs at least one example")

    labels = _read_idx(lp, IDX_LABELS_MAGIC, MAX_IDX_BYTES, label_dims)
    bad = np.flatnonzero(labels >= n_classes)
    if bad.size:
        raise DatasetError(f"{lp}: label {labels[bad[0]]} at index {bad[0]} is outside "
                           f"0..{n_classes - 1} ({spec['title']} has {n_classes} classes; "
                           f"{bad.size} labels are out of range)")

    def image_dims(dims):
        if len(dims) != 3:
            raise DatasetError(f"{ip}: images must be 3-D (n, rows, cols), the header declares "
                               f"shape {dims}")
        if dims[0] == 0:
            raise DatasetError(f"{ip}: holds 0 images; a dataset needs at least one example")
        if tuple(dims[1:]) != shape:
            raise DatasetError(f"{ip}: images must be {shape[0]}x{shape[1]} pixels for "
                               f"{spec['title']}, the header declares {dims[1]}x{dims[2]} "
                               f"(shape {dims})")
        if dims[0] != len(labels):
            raise DatasetError(f"{ip} holds {dims[0]} images but {lp} holds {len(labels)} labels")

    images = _read_idx(ip, IDX_IMAGES_MAGIC, MAX_IDX_BYTES, image_dims)
    return images, labels


def load_idx_dataset(name, split="train", *, data_dir=None, download=True, as_images=False):
    """Images as float32 in [0, 1] (n, 784), or (n, 28, 28) with as_images=True, and int64 labels.

    name       "mnist" or "fashion-mnist"
    split      "train" (60,000) or "test" (10,000)
    data_dir   folder holding the IDX files (gzipped or raw). Default: $NUMPYAE_DATA/<name>,
               else a per-user cache folder (see data_home()).
    download   when files are missing, fetch them from the official hosts (each mirror in turn),
               check each file's SHA-256 and write it atomically; when that fails (or with
               download=False) raise DatasetUnavailableError naming each missing file, the
               folder and each URL tried with its reason.
    Raises DatasetError naming the file for a corrupt file, images that are not 28x28, no
    images, a label outside 0..9, or image and label files of different lengths.
    """
    _check_idx_args(name, split)
    folder = data_home(data_dir) if data_dir is not None else os.path.join(data_home(), name)
    download = _check_bool(download, "download")
    as_images = _check_bool(as_images, "as_images")
    images, labels = _read_split(IDX_DATASETS[name], _fetch(name, split, folder, download))
    X = images.astype(np.float32)
    del images
    X /= np.float32(255)  # division, not * (1/255): 255 maps to exactly 1.0
    if not as_images:
        X = X.reshape(len(X), -1)
    return X, labels.astype(np.int64)


def load_mnist(split="train", *, data_dir=None, download=True, as_images=False):
    """MNIST digits: float32 images in [0, 1], (n, 784) or (n, 28, 28), and int64 labels 0..9.
    See load_idx_dataset for the arguments and the errors."""
    return load_idx_dataset("mnist", split, data_dir=data_dir, download=download,
                            as_images=as_images)


def load_fashion_mnist(split="train", *, data_dir=None, download=True, as_images=False):
    """Fashion-MNIST: float32 images in [0, 1], (n, 784) or (n, 28, 28), and int64 labels 0..9.
    See load_idx_dataset for the arguments and the errors."""
    return load_idx_dataset("fashion-mnist", split, data_dir=data_dir, download=download,
                            as_images=as_images)


DATASET_NAMES = ("digits", "mnist", "fashion-mnist")

#: the splits load_dataset accepts per name. The bundled digits are one set of 1,797 images
#: (UCI's own test set, "optdigits.tes"), so "all" and "train" both mean all of them; hold out
#: a part with train_validation_split. MNIST and Fashion-MNIST have "train" and "test".
DATASET_SPLITS = {"digits": ("all", "train"), "mnist": ("train", "test"),
                  "fashion-mnist": ("train", "test")}


class LoadedDataset(tuple):
    """(X, y) plus .name (what was actually loaded), .image_shape and .message (why a fallback)."""

    def __new__(cls, X, y, name, image_shape, message=None):
        self = super().__new__(cls, (X, y))
        self.X, self.y, self.name, self.image_shape, self.message = X, y, name, image_shape, message
        return self


def load_dataset(name="digits", *, split=None, data_dir=None, download=True, fallback=True):
    """One entry point for the CLI and notebooks: "digits", "mnist" or "fashion-mnist".

    split      None (the default: "train" for MNIST / Fashion-MNIST, all 1,797 digits), or one
               of DATASET_SPLITS[name]: "train" or "test" for MNIST / Fashion-MNIST; "all" or
               "train" (the same 1,797 images) for the digits, which have no test split of
               their own (split="test" is refused: the bundled file is a single set, hold out
               a part with train_validation_split)
    data_dir, download   as in load_idx_dataset (checked, and unused for the digits)
    fallback   when MNIST / Fashion-MNIST cannot be found or fetched (DatasetUnavailableError:
               missing files, every mirror failing for any reason), return the bundled digits
               instead with .message saying why (and a RuntimeWarning); with fallback=False the
               DatasetUnavailableError propagates.
    Returns a LoadedDataset (unpacks as X, y). Corrupt files on disk are never papered over:
    DatasetError always propagates.
    """
    if not isinstance(name, str) or name not in DATASET_NAMES:
        raise ValueError(f"name must be one of {list(DATASET_NAMES)}, got {name!r}")
    if split is not None and (not isinstance(split, str) or split not in DATASET_SPLITS[name]):
        extra = (" (the bundled digits are one set of 1,797 images, UCI's test set; use "
                 "split='all' and hold out a part with train_validation_split)"
                 if name == "digits" and split == "test" else "")
        raise ValueError(f"split must be None or one of {list(DATASET_SPLITS[name])} for "
                         f"{name!r}, got {split!r}{extra}")
    if data_dir is not None:
        data_home(data_dir)  # checked for every name
    download = _check_bool(download, "download")
    fallback = _check_bool(fallback, "fallback")
    if name != "digits":
        try:
            X, y = load_idx_dataset(name, split or "train", data_dir=data_dir, download=download)
            return LoadedDataset(X, y, name, IDX_DATASETS[name]["image_shape"])
        except DatasetUnavailableError as exc:
            if not fallback:
                raise
            message = (f"{name} is not available, falling back to the bundled 8x8 digits.\n{exc}")
            warnings.warn(message, RuntimeWarning, stacklevel=2)
            X, y = load_digits()
            return LoadedDataset(X, y, "digits", DIGITS_SHAPE, message)
    X, y = load_digits()
    return LoadedDataset(X, y, "digits", DIGITS_SHAPE)


# ---- natural-image patches ---------------------------------------------------------------
#
# The UFLDL sparse-autoencoder exercise samples 10,000 8x8 patches from ten whitened natural
# scenes (Olshausen & Field's IMAGES). numpyae bundles a few free photographs instead (their
# sources and licences: PHOTOGRAPHS, README.md's Data section and data/photos/README.md) and
# whitens them the same way.

#: the grayscale photographs bundled in numpyae/data/photos/ as 8-bit PNG files, each made from
#: its source by converting colour to luminance (0.299 R + 0.587 G + 0.114 B) and averaging
#: 2x2 blocks of pixels: name -> (height, width, what it shows, source, licence)
PHOTOGRAPHS = {
    "grass": (256, 256, "grass blades, close up",
              "scikit-image, skimage.data.grass() (a texture from DeviantArt, linolafett)", "CC0"),
    "gravel": (256, 256, "gravel, from above",
               "scikit-image, skimage.data.gravel() (a texture from CC0Textures, Gravel04)",
               "CC0"),
    "raccoon": (384, 512, "a raccoon among palm leaves",
                "SciPy, scipy.datasets.face() (raccoon-procyon-lotor.jpg, public-domain-image.com)",
                "public domain"),
    "chelsea": (150, 225, "Chelsea the cat, close up",
                "scikit-image, skimage.data.chelsea() (photograph by Stefan van der Walt)", "CC0"),
    "camera": (256, 256, "a man with a camera on a tripod, outdoors",
               "scikit-image, skimage.data.camera() (photograph by Lav Varshney)", "CC0"),
}

#: the photographs load_patches samples by default: natural scenes whose structure is finer than
#: an 8x8 patch, like the UFLDL exercise's. Close-ups of one large object ("chelsea", "camera")
#: add long edges that cross the whole patch, and the sparse autoencoder's filters grow longer.
PATCH_IMAGES = ("grass", "gravel", "raccoon")

#: the most values (n * size**2) load_patches returns, e.g. 262,144 patches of 8x8 (UFLDL's
#: exercise samples 10,000); sampling and normalizing them peaks at about 20 bytes a value
#: (float64 while normalizing), 340 MB at the ceiling
MAX_PATCH_VALUES = 2**24


def _check_photograph_name(name, what="name"):
    """name, one of PHOTOGRAPHS (TypeError / ValueError naming `what` otherwise)."""
    if not isinstance(name, str):
        raise TypeError(f"{what} must be the name of a bundled photograph, one of "
                        f"{sorted(PHOTOGRAPHS)}, got {type(name).__name__} {name!r}")
    if name not in PHOTOGRAPHS:
        raise ValueError(f"{what} must be the name of a bundled photograph, one of "
                         f"{sorted(PHOTOGRAPHS)}, got {name!r}")
    return name


def load_photograph(name="grass"):
    """A bundled grayscale photograph (see PHOTOGRAPHS), float64 in [0, 1], shape (H, W).

    Read from numpyae/data/photos/<name>.png, inside the package: no network, ever.
    """
    name = _check_photograph_name(name)
    import matplotlib.image as mimage
    with resources.files("numpyae").joinpath(f"data/photos/{name}.png").open("rb") as f:
        raw = mimage.imread(f, format="png")
    h, w = PHOTOGRAPHS[name][:2]
    if raw.shape != (h, w):
        raise DatasetError(f"the bundled photograph {name}.png must be a {h} x {w} grayscale "
                           f"image, it is {raw.shape} (a damaged installation?)")
    return raw.astype(np.float64)  # matplotlib reads 8-bit PNG as value / 255 in float32


def _check_images(images):
    """images as a list of ("name", str) and ("array", float64 (H, W)) items, each checked."""
    if isinstance(images, str) or (isinstance(images, np.ndarray) and images.ndim == 2):
        items = [images]
    elif isinstance(images, (list, tuple)):
        items = list(images)
    else:
        raise TypeError(f"images must be a photograph's name (one of {sorted(PHOTOGRAPHS)}), a "
                        f"2-D grayscale array, or a list of them, got {type(images).__name__}")
    if not items:
        raise ValueError("images must name at least one photograph or hold one array, got an "
                         "empty list")
    checked = []
    for i, item in enumerate(items):
        what = "images" if len(items) == 1 and item is images else f"images[{i}]"
        if isinstance(item, str):
            checked.append(("name", _check_photograph_name(item, what)))
        elif isinstance(item, (np.ndarray, list, tuple)):
            checked.append(("array", check_array(item, what, ndim=2, dtype=np.float64)))
        else:
            raise TypeError(f"{what} must be a photograph's name (one of {sorted(PHOTOGRAPHS)}) "
                            f"or a 2-D grayscale array, got {type(item).__name__} {item!r}")
    return checked


def _block_mean(img, q):
    """The mean of each q x q block of img (rows and columns beyond a multiple of q dropped)."""
    H, W = (s - s % q for s in img.shape)
    return img[:H, :W].reshape(H // q, q, W // q, q).mean(axis=(1, 3))


def load_patches(n=10000, size=8, *, images=PATCH_IMAGES, whiten=True, normalize=True, zca=None,
                 downsample=1, rng=0):
    """Square patches of natural photographs, as in the UFLDL sparse-autoencoder exercise:
    float32 (n, size*size), each row one patch in row-major order.

    images      which photographs: a name of PHOTOGRAPHS, a 2-D grayscale array of your own, or
                a list of them. Default PATCH_IMAGES: grass, gravel and the raccoon.
    rng         int seed or np.random.Generator. As in UFLDL, each patch comes from an image
                drawn uniformly at random, at a position drawn uniformly at random; the same
                rng gives the same patches.
    downsample  first average blocks of downsample x downsample pixels of each image
    whiten      flatten each image's 1/f spectrum first (preprocessing.whiten_image: Olshausen &
                Field's filter F <- F r exp(-(r / 0.4)^4), as the exercise's images were), then
                scale it to unit variance; on unwhitened pixels an autoencoder spends its units
                on smooth low-frequency blobs
    zca         None, or a regularizer eps > 0: ZCA-whiten the sampled patches (each patch's
                mean removed first) with preprocessing.ZCAWhitening(epsilon = eps times the
                patches' mean variance per pixel); usually with whiten=False (one whitening
                is enough). UFLDL whitens raw-pixel patches this way for its linear decoders.
    normalize   UFLDL's normalization (preprocessing.normalize_patches): subtract each patch's
                mean, clip to +/- 3 standard deviations (of all values), rescale to [0.1, 0.9]
                for a sigmoid output. Without it: the whitened values (zero mean, unit
                variance), or the pixel values in [0, 1] with whiten=False and zca=None.
    n * size**2 may be at most MAX_PATCH_VALUES (2**24, e.g. 262,144 patches of 8x8). Every
    argument is checked before any image is read; the images never come from the network.
    """
    n = check_positive_int(n, "n")
    size = check_positive_int(size, "size")
    if n * size * size > MAX_PATCH_VALUES:
        raise ValueError(f"n * size**2 must be at most {MAX_PATCH_VALUES:,} (MAX_PATCH_VALUES), "
                         f"got n={n}, size={size}: {n * size * size:,} values")
    downsample = check_positive_int(downsample, "downsample")
    whiten = _check_bool(whiten, "whiten")
    normalize = _check_bool(normalize, "normalize")
    if zca is not None:
        if isinstance(zca, (bool, np.bool_)) or not isinstance(zca, numbers.Real):
            raise TypeError(f"zca must be None or a regularizer eps > 0 (a number), got "
                            f"{type(zca).__name__} {zca!r}")
        if not (math.isfinite(zca) and zca > 0):
            raise ValueError(f"zca must be None or a finite regularizer eps > 0, got {zca}")
        zca = float(zca)
    rng = as_generator(rng)
    sources = _check_images(images)
    prepared = []
    for i, (kind, value) in enumerate(sources):
        label = value if kind == "name" else f"images[{i}]"
        img = load_photograph(value) if kind == "name" else value
        if downsample > min(img.shape):
            raise ValueError(f"downsample must be at most the smaller side of {label} "
                             f"({min(img.shape)} pixels), got {downsample}")
        if downsample > 1:
            img = _block_mean(img, downsample)
        if size > min(img.shape):
            raise ValueError(f"size must be at most the smaller side of {label} "
                             f"({min(img.shape)} pixels after downsample={downsample}), got {size}")
        prepared.append(whiten_image(img) if whiten else img)
    which = rng.integers(0, len(prepared), size=n)
    patches = np.empty((n, size * size))
    offsets = np.arange(size)
    for i, img in enumerate(prepared):
        idx = np.flatnonzero(which == i)
        rows = rng.integers(0, img.shape[0] - size + 1, size=len(idx))
        cols = rng.integers(0, img.shape[1] - size + 1, size=len(idx))
        patches[idx] = img[rows[:, None, None] + offsets[None, :, None],
                           cols[:, None, None] + offsets[None, None, :]].reshape(len(idx),
                                                                                 size * size)
    if zca is not None:
        patches -= patches.mean(axis=1, keepdims=True)
        scale = float(np.mean(patches.var(axis=0)))
        if scale == 0:
            raise ValueError("zca: the patches are constant after removing each patch's mean; "
                             "there is nothing to whiten")
        patches = ZCAWhitening(epsilon=zca * scale).fit_transform(patches)
    if normalize:
        return normalize_patches(patches)
    return patches.astype(np.float32)
