"""The battery's "datasets" area: the IDX readers and loaders, downloads, load_dataset,
load_digits, load_patches and train_validation_split.

IDX files: random bytes, mutated headers and bodies (gzipped or not), well-formed files of random
shapes (read_idx must parse them exactly; the MNIST loaders must accept only n >= 1 images of
28 x 28 with labels 0..9), the issue's label 200, 0 images and 5 x 7 images, and a 3 MB gzip
bomb (refused naming the file, without allocating its declared size).

Downloads run against a local HTTP server (nothing else is ever reached): a mirror that cuts the
body short (chunked: http.client.IncompleteRead; with a Content-Length), serves wrong bytes, or
answers 404 must lead to the next mirror; when every mirror fails, load_mnist refuses naming the
files and load_dataset falls back to the bundled digits with a message. No temp file is left in
the cache folder.

Arguments: junk names, splits, folders, strings for bools ("no" for download=), and the digits
with split="test" (which has no test split: refused, never ignored).
"""
import gzip
import hashlib
import http.server
import os
import threading
import urllib.request
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from numpyae import load_dataset, load_digits, load_patches, train_validation_split
from numpyae.data import datasets as ds
from robustness_helpers import (BOOL_JUNK, DOCUMENTED_FILES, JUNK, SETTINGS, Battery, describe,
                                finite_array, is_positive_int)

battery = Battery("datasets")


def idx_bytes(arr, magic=None):
    """An IDX file (unsigned bytes) holding arr."""
    magic = magic if magic is not None else bytes([0, 0, 8, arr.ndim])
    return magic + b"".join(int(s).to_bytes(4, "big") for s in arr.shape) + arr.tobytes()


def write_split(folder, images, labels, *, prefix="train", gz=True):
    """Write <prefix>-images-idx3-ubyte[.gz] and <prefix>-labels-idx1-ubyte[.gz] into folder."""
    os.makedirs(folder, exist_ok=True)
    for name, arr in ((f"{prefix}-images-idx3-ubyte", images), (f"{prefix}-labels-idx1-ubyte", labels)):
        raw = idx_bytes(arr)
        with open(os.path.join(folder, name + (".gz" if gz else "")), "wb") as f:
            f.write(gzip.compress(raw, compresslevel=1) if gz else raw)


def _exact(images, labels):
    def check(out):
        X, y = out
        problem = finite_array(X, (len(images), images.shape[1] * images.shape[2]), np.float32,
                               "X", 0, 1)
        if problem:
            return problem
        if not np.array_equal(np.round(X * 255).astype(np.uint8).reshape(images.shape), images):
            return "pixels differ from the file's"
        if not np.array_equal(y, labels):
            return "labels differ from the file's"
        return None
    return check


# ---- IDX files -----------------------------------------------------------------------------------

@settings(max_examples=350, **SETTINGS)
@given(data=st.data(), how=st.sampled_from(["bytes", "mutate", "args", "valid", "valid"]))
def test_loaders(data, how, tmp_path_factory):
    folder = tmp_path_factory.getbasetemp() / "idx"
    folder.mkdir(exist_ok=True)
    path = folder / "f-idx"
    if how == "valid":  # a well-formed file of random shape: read_idx parses it exactly
        n = data.draw(st.integers(0, 3))
        r = data.draw(st.sampled_from([28, 28, 28, 1, 5, 6]))
        c = data.draw(st.sampled_from([28, 28, 28, 1, 7]))
        rng = np.random.default_rng(n * 100 + r * 10 + c)
        images = rng.integers(0, 256, (n, r, c), dtype=np.uint8)
        labels = rng.integers(0, 10, n, dtype=np.uint8)
        if n and data.draw(st.booleans()):
            labels[-1] = data.draw(st.sampled_from([10, 200, 255]))
        gz = data.draw(st.booleans())
        sub = folder / f"valid-{n}-{r}-{c}-{int(gz)}-{int(labels.max(initial=0))}"
        write_split(sub, images, labels, prefix="t10k", gz=gz)
        one = sub / ("t10k-images-idx3-ubyte" + (".gz" if gz else ""))
        battery.attempt("read_idx", lambda: ds.read_idx(one, magic=ds.IDX_IMAGES_MAGIC),
                        valid=True, inputs=f"well-formed images {images.shape}, gz={gz}",
                        check=lambda a: None if (a.dtype == np.uint8 and np.array_equal(a, images))
                        else f"parsed {a.dtype} {a.shape}, not the file's array")
        mnist_ok = n >= 1 and (r, c) == (28, 28) and labels.max(initial=0) < 10
        battery.attempt("load_mnist", lambda: ds.load_mnist("test", data_dir=sub, download=False),
                        valid=mnist_ok, names=[str(sub), "images", "labels"],
                        check=_exact(images, labels), documented=DOCUMENTED_FILES,
                        defect=None if mnist_ok else 11,
                        inputs=f"IDX files: {n} images of {r}x{c}, labels up to "
                               f"{labels.max(initial=0)}, gz={gz}")
        return
    if how in ("bytes", "mutate"):
        if how == "bytes":
            raw = data.draw(st.binary(max_size=64))
        else:
            arr = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
            raw = bytearray(idx_bytes(arr))
            for _ in range(data.draw(st.integers(1, 3))):
                raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
            raw = bytes(raw[:data.draw(st.integers(0, len(raw) + 2))])
            if data.draw(st.booleans()):
                raw = gzip.compress(raw)[:data.draw(st.integers(0, 80))]
        path.write_bytes(raw)
        magic = data.draw(st.sampled_from([None, ds.IDX_IMAGES_MAGIC, ds.IDX_LABELS_MAGIC]))

        def check(out):
            if not isinstance(out, np.ndarray) or out.dtype != np.uint8:
                return f"read_idx returned {type(out).__name__}"
            return None
        battery.attempt("read_idx", lambda: ds.read_idx(path, magic=magic), valid=None,
                        names=[str(path)], check=check, inputs=f"{how}: {raw[:24]!r}...",
                        memory_mb=64)
        return
    kw = dict(name=data.draw(st.sampled_from(["mnist", "fashion-mnist"])),
              split=data.draw(st.sampled_from(["train", "test"])),
              data_dir=str(folder / "empty"), download=data.draw(st.booleans()))
    spoil = data.draw(st.sampled_from(["name", "split", "data_dir", "download", "as_images"]))
    if spoil in ("download", "as_images"):
        kw[spoil] = data.draw(BOOL_JUNK)
    else:
        kw[spoil] = data.draw(st.one_of(JUNK, st.just("cifar")))
    if spoil == "data_dir" and isinstance(kw[spoil], str):
        kw[spoil] = str(folder / kw[spoil])
    dd = kw["data_dir"]
    battery.attempt("load_idx_dataset", lambda: ds.load_idx_dataset(**kw), valid=False,
                    names=[spoil, str(dd)] + ([dd] if isinstance(dd, str) else []),
                    documented=DOCUMENTED_FILES, inputs=describe(**kw),
                    defect=11 if spoil in ("download", "as_images") else None)


def test_issue_idx_files(tmp_path):
    """The IDX files of issue defect 11: label 200, 0 images, 5 x 7 images; and their kin."""
    rng = np.random.default_rng(0)
    good_images = rng.integers(0, 256, (4, 28, 28), dtype=np.uint8)
    good_labels = np.array([0, 1, 2, 3], dtype=np.uint8)
    cases = [
        ("a label 200", good_images, np.array([0, 1, 200, 3], np.uint8), 11),
        ("0 images", np.zeros((0, 28, 28), np.uint8), np.zeros(0, np.uint8), 11),
        ("5 x 7 images", rng.integers(0, 256, (4, 5, 7), dtype=np.uint8), good_labels, 11),
        ("4 images, 3 labels", good_images, good_labels[:3], None),
        ("labels of shape (4, 1)", good_images, good_labels[:, None], None),
        ("images of shape (4, 784)", good_images.reshape(4, 784), good_labels, None),
    ]
    for label, images, labels, defect in cases:
        folder = tmp_path / label.replace(" ", "_")
        write_split(folder, images, labels)
        battery.attempt("load_mnist", lambda: ds.load_mnist(data_dir=folder, download=False),
                        valid=False, names=[str(folder)], documented=DOCUMENTED_FILES,
                        defect=defect, inputs=label, before_work=False)
        battery.attempt("load_dataset", lambda: load_dataset("mnist", data_dir=folder,
                                                             download=False),
                        valid=False, names=[str(folder)], documented=DOCUMENTED_FILES,
                        defect=defect, inputs=f"{label} (corrupt files are not papered over)")
    folder = tmp_path / "good"
    write_split(folder, good_images, good_labels)
    battery.attempt("load_mnist", lambda: ds.load_mnist(data_dir=folder, download=False),
                    valid=True, check=_exact(good_images, good_labels), inputs="4 good images")
    battery.attempt("load_dataset", lambda: load_dataset("mnist", data_dir=folder,
                                                         download=False),
                    valid=True, check=lambda d: _exact(good_images, good_labels)(tuple(d))
                    or (None if d.name == "mnist" else f"loaded {d.name!r}"),
                    inputs="4 good images")


def _gzip_bomb(path, gib=3):
    """A ~3 MB gzip file that inflates to `gib` GiB: an IDX header declaring that many image
    bytes, then zeros (identical gzip members, concatenated)."""
    n = gib * 2 ** 30 // 784
    chunk = bytes(2 ** 26)
    member = gzip.compress(chunk, compresslevel=9)
    head = gzip.compress(b"\0\0\x08\x03" + b"".join(s.to_bytes(4, "big") for s in (n, 28, 28)),
                         compresslevel=9)
    with open(path, "wb") as f:
        f.write(head)
        for _ in range(gib * 2 ** 30 // len(chunk)):
            f.write(member)
    return path


def test_gzip_bomb(tmp_path):
    """A 3 MB gzip IDX file declaring 3 GiB is refused naming the file, without allocating
    (issue defect 15: a bare MemoryError)."""
    folder = tmp_path / "bomb"
    folder.mkdir()
    images = _gzip_bomb(folder / "train-images-idx3-ubyte.gz")
    with open(folder / "train-labels-idx1-ubyte.gz", "wb") as f:
        f.write(gzip.compress(idx_bytes(np.zeros(3, np.uint8))))
    size = os.path.getsize(images)
    battery.attempt("read_idx", lambda: ds.read_idx(images), valid=False, names=[str(images)],
                    memory_mb=100, defect=15, limit=30,
                    inputs=f"gzip bomb: {size} bytes inflating to 3 GiB")
    battery.attempt("load_mnist", lambda: ds.load_mnist(data_dir=folder, download=False),
                    valid=False, names=[str(images)], memory_mb=100, defect=15, limit=30,
                    inputs=f"gzip bomb as train images: {size} bytes inflating to 3 GiB")


# ---- downloads -----------------------------------------------------------------------------------

TINY = np.random.default_rng(3).integers(0, 256, (3, 28, 28), dtype=np.uint8)
TINY_LABELS = np.array([7, 0, 9], np.uint8)
FILES = {"train-images-idx3-ubyte.gz": gzip.compress(idx_bytes(TINY), mtime=0),
         "train-labels-idx1-ubyte.gz": gzip.compress(idx_bytes(TINY_LABELS), mtime=0),
         "t10k-images-idx3-ubyte.gz": gzip.compress(idx_bytes(TINY[:2]), mtime=0),
         "t10k-labels-idx1-ubyte.gz": gzip.compress(idx_bytes(TINY_LABELS[:2]), mtime=0)}


class _Handler(http.server.BaseHTTPRequestHandler):
    """/<mode>/<file>: good, chunked (cut short: IncompleteRead), short (Content-Length too
    large), garbage (wrong bytes), 404."""
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        _, mode, name = self.path.split("/", 2)
        body = FILES.get(name)
        if mode == "404" or body is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if mode == "garbage":
            body = bytes(len(body))
        self.send_response(200)
        if mode == "chunked":
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.write(f"{len(body):x}\r\n".encode() + body[:len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body if mode != "short" else body[:len(body) // 2])
        self.wfile.flush()
        if mode == "short":
            self.close_connection = True

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def mirrors(server, monkeypatch):
    """set(modes): MNIST's mirrors become the local server's /<mode>/ folders; its SHA-256
    table the tiny files'; urlopen the real one; retries do not wait."""
    spec = ds.IDX_DATASETS["mnist"]
    monkeypatch.setitem(spec, "sha256", {k: hashlib.sha256(v).hexdigest() for k, v in FILES.items()})
    monkeypatch.setattr(ds, "_urlopen", urllib.request.urlopen, raising=False)
    monkeypatch.setattr(ds, "_sleep", lambda s: None, raising=False)

    def use(*modes):
        monkeypatch.setitem(spec, "mirrors", tuple(f"{server}/{m}/" for m in modes))
    return use


def _no_temps(folder):
    def lost():
        if not os.path.isdir(folder):
            return None
        extra = sorted(n for n in os.listdir(folder) if n not in FILES)
        return f"left in the cache folder {folder}: {extra}" if extra else None
    return lost


def test_downloads(mirrors, tmp_path):
    """A truncated download raises IncompleteRead, not an OSError (issue defect 14): the next
    mirror must be tried, and without one load_dataset falls back to the digits."""
    cases = [  # (mirrors, valid)
        (("chunked", "good"), True), (("short", "good"), True), (("garbage", "good"), True),
        (("404", "good"), True), (("good",), True),
        (("chunked",), False), (("short",), False), (("404",), False), (("garbage",), False),
        (("chunked", "404", "short"), False),
    ]
    for modes, ok in cases:
        mirrors(*modes)
        folder = tmp_path / ("-".join(modes) + "-mnist")
        battery.attempt("load_mnist(download=True)", lambda: ds.load_mnist(data_dir=folder),
                        valid=ok, names=[str(folder), "train-images-idx3-ubyte.gz", "mirror",
                                         "http"],
                        check=_exact(TINY, TINY_LABELS), documented=DOCUMENTED_FILES,
                        lost=_no_temps(folder), defect=14 if "chunked" in modes else None,
                        inputs=f"mirrors: {', '.join(modes)}")
        folder = tmp_path / ("-".join(modes) + "-dataset")

        def check(d):
            if ok:
                return _exact(TINY, TINY_LABELS)(tuple(d)) or (
                    None if d.name == "mnist" else f"fell back to {d.name!r}")
            if d.name != "digits" or d.X.shape[1] != 64:
                return f"returned {d.name!r} {d.X.shape}"
            if not d.message or "mnist" not in d.message.lower():
                return f"fell back without saying why: message {d.message!r}"
            return None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # the documented fallback warning
            battery.attempt("load_dataset('mnist')", lambda: load_dataset("mnist", data_dir=folder),
                            valid=True if ok or "garbage" not in modes else None,
                            names=[str(folder), "mirror", "SHA-256", "sha256", "checksum"],
                            check=check, documented=DOCUMENTED_FILES, lost=_no_temps(folder),
                            defect=14 if "chunked" in modes else None,
                            inputs=f"mirrors: {', '.join(modes)}")


# ---- arguments -----------------------------------------------------------------------------------

@settings(max_examples=150, **SETTINGS)
@given(data=st.data(), fn=st.sampled_from(["load_dataset", "load_digits", "load_patches"]))
def test_dataset_arguments(data, fn, tmp_path_factory):
    empty = tmp_path_factory.getbasetemp() / "empty-data"
    if fn == "load_digits":
        v = data.draw(st.one_of(BOOL_JUNK, st.booleans()))
        ok = isinstance(v, bool)
        battery.attempt("load_digits", lambda: load_digits(as_images=v), valid=ok,
                        names=["as_images"], defect=11,
                        check=lambda out: finite_array(out[0], (1797, 8, 8) if v else (1797, 64),
                                                       np.float32, "X", 0, 1),
                        inputs=describe(as_images=v))
        return
    if fn == "load_dataset":
        kw = dict(name="digits")
        spoil = data.draw(st.sampled_from([None, "name", "split", "data_dir", "download",
                                           "fallback"]))
        valid, defect = True, None
        if spoil == "name":
            kw["name"] = data.draw(st.one_of(JUNK, st.sampled_from(["cifar", "MNIST", ""])))
            valid = False
        elif spoil == "split":  # the digits have no test split: refused, never ignored
            kw["split"] = data.draw(st.sampled_from(["test", "val", 3, None, "TRAIN"]))
            valid, defect = (None, None) if kw["split"] is None else (False, 11)
        elif spoil == "data_dir":
            kw["data_dir"] = data.draw(st.sampled_from([3, ["x"], b"\0", ""]))
            valid = False
        elif spoil in ("download", "fallback"):
            kw["name"] = "mnist"
            kw["data_dir"] = str(empty)
            kw[spoil] = data.draw(BOOL_JUNK)
            valid, defect = False, 11

        def check(d):
            return finite_array(d[0], (1797, 64), np.float32, "X", 0, 1)
        battery.attempt("load_dataset", lambda: load_dataset(**kw), valid=valid,
                        names=[spoil, "name"], check=check, defect=defect,
                        documented=DOCUMENTED_FILES, inputs=describe(**kw))
        return
    kw = dict(n=data.draw(st.integers(1, 6)), size=data.draw(st.integers(2, 6)), rng=0)
    spoil = data.draw(st.sampled_from([None, "n", "size", "whiten", "normalize", "downsample",
                                       "image", "rng"]))
    valid = True
    if spoil in ("whiten", "normalize"):
        kw[spoil] = data.draw(BOOL_JUNK)
        valid = False
    elif spoil in ("n", "size", "downsample"):
        kw[spoil] = data.draw(st.one_of(JUNK, st.sampled_from([0, -2, 10 ** 6, 2.0])))
        valid = is_positive_int(kw[spoil])
        if valid and kw[spoil] >= 10 ** 6:
            valid = None if spoil != "n" else None  # a million: refused, or done
    elif spoil == "image":
        kw[spoil] = data.draw(st.sampled_from(["no_such.jpg", 3, None, "", "../../etc/passwd"]))
        valid = False
    elif spoil == "rng":
        kw[spoil] = data.draw(st.sampled_from([-1, 1.5, "x", [1]]))
        valid = False

    def check(X):
        size = kw["size"] if is_positive_int(kw["size"]) else None
        return finite_array(X, (kw["n"], size * size) if size else None, np.float32, "patches",
                            0, 1)
    battery.attempt("load_patches", lambda: load_patches(**kw), valid=valid, names=[spoil],
                    check=check, documented=DOCUMENTED_FILES, inputs=describe(**kw),
                    memory_mb=400, limit=20)


# ---- train_validation_split ------------------------------------------------------------------

@settings(max_examples=250, **SETTINGS)
@given(data=st.data(), spoil=st.sampled_from([None, "X", "y", "fraction", "rng"]))
def test_split(data, spoil):
    n = data.draw(st.integers(10, 14))  # every fraction drawn below leaves both sides non-empty
    X = np.random.default_rng(n).random((n, 3))
    kw = dict(y=np.arange(n), fraction=data.draw(st.sampled_from([0.2, 0.5, 0.9])),
              rng=data.draw(st.one_of(st.integers(0, 9),
                                      st.integers(0, 9).map(np.random.default_rng))))
    valid = spoil is None
    if spoil == "X":
        X = data.draw(st.sampled_from([None, "X", 3.0, np.zeros((1, 3)), np.zeros((0, 3)),
                                       [[1, 2], [3]], np.zeros(n, complex), np.zeros(n, object)]))
        if isinstance(X, np.ndarray) and X.dtype.kind in "cO":  # any dtype splits; y must fit
            valid = None
    elif spoil == "y":
        kw["y"] = data.draw(st.sampled_from([3, "y", np.arange(n + 1), [[1, 2], [3]], {"a": 1}]))
    elif spoil == "fraction":
        kw["fraction"] = data.draw(st.one_of(JUNK, st.sampled_from([1.0, 0.0, 1e-9, 0.9999])))
        if kw["fraction"] == 0.9999 and n > 2:
            kw["fraction"] = 1.0
        f = kw["fraction"]
        valid = (isinstance(f, (float, np.floating)) and bool(np.isfinite(f)) and 0 < f < 1
                 and 1 <= round(float(f) * n) < n)
    elif spoil == "rng":
        kw["rng"] = data.draw(st.sampled_from([-1, 1.5, "s", [1]]))

    def check(out):
        X_tr, X_va, y_tr, y_va = out
        if len(X_tr) + len(X_va) != len(X) or len(X_tr) != len(y_tr) or len(X_va) != len(y_va):
            return f"sizes {len(X_tr)} + {len(X_va)} of {len(X)}"
        rows = sorted(map(tuple, np.concatenate([X_tr, X_va]).reshape(len(X), -1).tolist()))
        if rows != sorted(map(tuple, np.asarray(X).reshape(len(X), -1).tolist())):
            return "the split loses or duplicates rows"
        if not np.array_equal(np.sort(np.concatenate([y_tr, y_va])), np.sort(kw["y"])):
            return "the labels do not follow their rows"
        return None
    battery.attempt("train_validation_split", lambda: train_validation_split(X, **kw),
                    valid=valid, names=[spoil], check=check, inputs=describe(X=X, **kw))

