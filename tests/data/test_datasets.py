"""Datasets: bundled digits, the split helper, and the MNIST / Fashion-MNIST IDX loaders.

The IDX tests build small files themselves (bad labels, shapes and counts, corrupt gzip
streams, gzip bombs, forged headers); the download path runs against a local http.server on
127.0.0.1 (never the real network). Each failure mode of a download is in test_downloads.py.
"""
import functools
import gzip
import hashlib
import http.server
import os
import threading
import time

import numpy as np
import pytest

from numpyae.data import datasets as ds
from numpyae.data.datasets import (ChecksumError, DatasetError, DatasetUnavailableError,
                                   load_dataset, load_digits, load_idx_dataset, load_mnist,
                                   read_idx, train_validation_split)


# ---- helpers ---------------------------------------------------------------------------------

def idx_bytes(array, magic=None):
    array = np.asarray(array, dtype=np.uint8)
    if magic is None:
        magic = 0x00000800 | array.ndim
    header = magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.tobytes()


def make_split(folder, prefix="train", n=7, rows=28, cols=28, seed=0, gz=True, n_labels=None):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, rows, cols), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n if n_labels is None else n_labels, dtype=np.uint8)
    os.makedirs(folder, exist_ok=True)
    for kind, arr in (("images-idx3", images), ("labels-idx1", labels)):
        data = idx_bytes(arr)
        name = f"{prefix}-{kind}-ubyte"
        if gz:
            with gzip.open(os.path.join(folder, name + ".gz"), "wb") as f:
                f.write(data)
        else:
            with open(os.path.join(folder, name), "wb") as f:
                f.write(data)
    return images, labels


@pytest.fixture(autouse=True)
def _no_network(monkeypatch, tmp_path):
    """Any accidental use of the real network fails loudly; the cache points into tmp_path."""
    def refuse(url, *a, **k):
        raise AssertionError(f"test tried to reach the network: {url}")
    monkeypatch.setattr(ds, "_urlopen", refuse)
    monkeypatch.setenv("NUMPYAE_DATA", str(tmp_path / "cache"))


# ---- bundled digits and the split ----------------------------------------------------------------

def test_digits_range_and_shapes():
    X, y = load_digits()
    assert X.shape == (1797, 64) and X.dtype == np.float32 and y.shape == (1797,)
    assert X.min() == 0.0 and X.max() == 1.0 and set(np.unique(y)) == set(range(10))
    assert load_digits(as_images=True)[0].shape == (1797, 8, 8)


def test_split_is_seeded_and_disjoint():
    X = np.arange(40, dtype=np.float32).reshape(20, 2)
    y = np.arange(20)
    a = train_validation_split(X, y, fraction=0.25, rng=3)
    b = train_validation_split(X, y, fraction=0.25, rng=3)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    X_tr, X_va, y_tr, y_va = a
    assert len(X_va) == 5 and len(X_tr) == 15
    assert set(y_tr) | set(y_va) == set(range(20)) and not set(y_tr) & set(y_va)


def test_bundled_digits():
    X, y = load_digits()
    assert X.shape == (1797, 64) and X.dtype == np.float32
    assert X.min() == 0.0 and X.max() == 1.0
    assert y.shape == (1797,) and set(np.unique(y)) == set(range(10))
    images, _ = load_digits(as_images=True)
    assert images.shape == (1797, 8, 8)


def test_split_keeps_rows_with_their_labels():
    X = np.arange(20).reshape(10, 2)
    y = np.arange(10)
    a = train_validation_split(X, y, fraction=0.3, rng=1)
    b = train_validation_split(X, y, fraction=0.3, rng=1)
    assert all(np.array_equal(u, v) for u, v in zip(a, b))
    X_tr, X_va, y_tr, y_va = a
    assert len(X_va) == 3 and len(X_tr) == 7
    assert set(y_tr).isdisjoint(y_va) and set(y_tr) | set(y_va) == set(range(10))
    assert np.array_equal(X_tr[:, 0] // 2, y_tr)


@pytest.mark.parametrize("kwargs, text", [({"fraction": 0}, "fraction"), ({"fraction": 1.0}, "fraction"),
                                          ({"y": np.arange(3)}, "y must have one entry")])
def test_split_errors(kwargs, text):
    with pytest.raises(ValueError, match=text):
        train_validation_split(np.zeros((10, 2)), **kwargs)


# ---- IDX parsing -----------------------------------------------------------------------------

@pytest.mark.parametrize("gz", [True, False])
def test_idx_images_and_labels_round_trip(tmp_path, gz):
    images, labels = make_split(tmp_path, gz=gz)
    X, y = load_idx_dataset("mnist", "train", data_dir=tmp_path, download=False)
    assert X.dtype == np.float32 and X.shape == (7, 784)
    np.testing.assert_array_equal(X, (images.reshape(7, 784) / np.float32(255)).astype(np.float32))
    assert X.min() >= 0 and X.max() <= 1
    np.testing.assert_array_equal(y, labels)
    assert y.dtype == np.int64
    X2, _ = load_idx_dataset("mnist", "train", data_dir=tmp_path, download=False, as_images=True)
    assert X2.shape == (7, 28, 28)
    np.testing.assert_array_equal(X2.reshape(7, -1), X)


def test_read_idx_exact_bytes(tmp_path):
    arr = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    path = tmp_path / "a.idx"
    path.write_bytes(idx_bytes(arr))
    np.testing.assert_array_equal(read_idx(path, magic=ds.IDX_IMAGES_MAGIC), arr)


def test_wrong_magic(tmp_path):
    make_split(tmp_path, gz=False)
    # a labels file where the images file should be
    os.replace(tmp_path / "train-labels-idx1-ubyte", tmp_path / "train-images-idx3-ubyte")
    make_split(tmp_path / "x", gz=False)
    os.replace(tmp_path / "x" / "train-labels-idx1-ubyte", tmp_path / "train-labels-idx1-ubyte")
    with pytest.raises(DatasetError, match=r"wrong magic number 0x00000801, expected 0x00000803"):
        load_mnist(data_dir=tmp_path, download=False)


def test_unsupported_element_type(tmp_path):
    path = tmp_path / "f.idx"
    path.write_bytes(bytes([0, 0, 0x0D, 1]) + (2).to_bytes(4, "big") + b"\0" * 8)
    with pytest.raises(DatasetError, match="element type 0x0d"):
        read_idx(path)


@pytest.mark.parametrize("gz", [True, False])
def test_truncated_file(tmp_path, gz):
    make_split(tmp_path, gz=False)
    path = tmp_path / "train-images-idx3-ubyte"
    data = path.read_bytes()[:-5]
    if gz:
        os.unlink(path)
        path = tmp_path / "train-images-idx3-ubyte.gz"
        path.write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)
    with pytest.raises(DatasetError, match=r"truncated: the header declares shape \(7, 28, 28\)"):
        load_mnist(data_dir=tmp_path, download=False)


def test_truncated_gzip_stream_and_header(tmp_path):
    make_split(tmp_path, gz=True)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-12])
    with pytest.raises(DatasetError, match="gzip stream is truncated or corrupt"):
        load_mnist(data_dir=tmp_path, download=False)
    path.write_bytes(bytes([0, 0, 8, 3, 0, 0]))
    with pytest.raises(DatasetError, match="truncated IDX header"):
        load_mnist(data_dir=tmp_path, download=False)


def test_trailing_bytes(tmp_path):
    path = tmp_path / "f.idx"
    path.write_bytes(idx_bytes(np.zeros(3)) + b"xx")
    with pytest.raises(DatasetError, match="2 bytes after the data"):
        read_idx(path)


def test_images_labels_count_mismatch(tmp_path):
    make_split(tmp_path, n=7, n_labels=6)
    with pytest.raises(DatasetError, match="holds 7 images but .* holds 6 labels"):
        load_mnist(data_dir=tmp_path, download=False)


def test_offline_missing_names_each_file_and_folder(tmp_path):
    with pytest.raises(DatasetUnavailableError) as info:
        load_mnist("test", data_dir=tmp_path, download=False)
    msg = str(info.value)
    assert "t10k-images-idx3-ubyte.gz" in msg and "t10k-labels-idx1-ubyte.gz" in msg
    assert str(tmp_path) in msg
    assert isinstance(info.value, FileNotFoundError)


def test_cache_folder_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("NUMPYAE_DATA", str(tmp_path / "home"))
    images, labels = make_split(tmp_path / "home" / "fashion-mnist", prefix="t10k")
    X, y = ds.load_fashion_mnist("test", download=False)
    np.testing.assert_array_equal(y, labels)
    monkeypatch.delenv("NUMPYAE_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert ds.data_home() == os.path.join(str(tmp_path / "xdg"), "numpyae")


def test_bad_arguments():
    with pytest.raises(ValueError, match="name must be one of"):
        load_idx_dataset("cifar")
    with pytest.raises(ValueError, match="split must be one of"):
        load_mnist("validation")
    with pytest.raises(TypeError, match="data_dir must be a path"):
        load_mnist(data_dir=3)
    with pytest.raises(ValueError, match="name must be one of"):
        load_dataset("imagenet")


# ---- downloads against a local server --------------------------------------------------------------

class _Quiet(http.server.SimpleHTTPRequestHandler):
    """Serves the folder; a path under /truncated/ announces 5000 bytes more than it sends and
    closes the connection (what the real http.client reports as IncompleteRead)."""

    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path.startswith("/truncated/"):
            body = b"\x1f\x8b" + b"x" * 1000
            self.send_response(200)
            self.send_header("Content-Length", str(len(body) + 5000))
            self.end_headers()
            self.wfile.write(body)
            self.close_connection = True
            return
        super().do_GET()


@pytest.fixture
def server(tmp_path, monkeypatch):
    root = tmp_path / "served"
    root.mkdir()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                            functools.partial(_Quiet, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    import urllib.request
    monkeypatch.setattr(ds, "_urlopen", urllib.request.urlopen)  # only 127.0.0.1 is served
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


def _point_mnist_at(monkeypatch, base, root, corrupt=None):
    sums = {}
    for f in os.listdir(root):
        sums[f] = hashlib.sha256((root / f).read_bytes()).hexdigest()
    if corrupt:
        sums[corrupt] = "0" * 64
    spec = dict(ds.IDX_DATASETS["mnist"], mirrors=(base,), sha256=sums)
    monkeypatch.setitem(ds.IDX_DATASETS, "mnist", spec)


def test_download_verifies_and_writes_atomically(server, tmp_path, monkeypatch):
    root, base = server
    images, labels = make_split(root)
    _point_mnist_at(monkeypatch, base, root)
    dest = tmp_path / "dl"
    X, y = load_mnist(data_dir=dest, download=True)
    np.testing.assert_array_equal(y, labels)
    assert sorted(os.listdir(dest)) == ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"]
    # second call reads the cache, no server needed
    monkeypatch.setattr(ds, "_urlopen", None)
    np.testing.assert_array_equal(load_mnist(data_dir=dest)[0], X)


def test_download_checksum_mismatch_leaves_nothing(server, tmp_path, monkeypatch):
    root, base = server
    make_split(root)
    _point_mnist_at(monkeypatch, base, root, corrupt="train-images-idx3-ubyte.gz")
    dest = tmp_path / "dl"
    with pytest.raises(DatasetUnavailableError, match="does not match the published") as info:
        load_mnist(data_dir=dest, download=True)
    assert [type(e) for e in info.value.errors] == [ChecksumError]
    assert f"{base}train-images-idx3-ubyte.gz: SHA-256" in str(info.value)
    assert "train-images-idx3-ubyte.gz" not in os.listdir(dest)
    assert not [f for f in os.listdir(dest) if f.startswith(".numpyae-download-")]


def test_download_unreachable_host_is_unavailable(server, tmp_path, monkeypatch):
    root, base = server  # nothing served: 404 for every file
    names = list(ds.IDX_DATASETS["mnist"]["sha256"])
    _point_mnist_at(monkeypatch, base, root)
    monkeypatch.setitem(ds.IDX_DATASETS["mnist"], "sha256", {n: "0" * 64 for n in names})
    with pytest.raises(DatasetUnavailableError, match="downloading failed"):
        load_mnist(data_dir=tmp_path / "dl")


def test_real_truncated_download_tries_the_next_mirror(server, tmp_path, monkeypatch):
    root, base = server
    images, labels = make_split(root, n=3)
    _point_mnist_at(monkeypatch, base, root)
    spec = dict(ds.IDX_DATASETS["mnist"], mirrors=(base + "truncated/", base))
    monkeypatch.setitem(ds.IDX_DATASETS, "mnist", spec)
    sleeps = []
    monkeypatch.setattr(ds, "_sleep", sleeps.append)
    X, y = load_mnist(data_dir=tmp_path / "dl")
    np.testing.assert_array_equal(y, labels)
    assert sleeps == [1, 2, 1, 2]  # each file: the truncating mirror 3 times, then the good one
    assert sorted(os.listdir(tmp_path / "dl")) == ["train-images-idx3-ubyte.gz",
                                                   "train-labels-idx1-ubyte.gz"]
    spec = dict(spec, mirrors=(base + "truncated/",))
    monkeypatch.setitem(ds.IDX_DATASETS, "mnist", spec)
    with pytest.warns(RuntimeWarning, match="falling back"):
        data = load_dataset("mnist", data_dir=tmp_path / "dl2")
    assert data.name == "digits" and "truncated download" in data.message
    assert os.listdir(tmp_path / "dl2") == []


def test_download_interrupted_writes_nothing(tmp_path, monkeypatch):
    class Broken:
        def __init__(self):
            self.calls = 0

        def __enter__(self):
            return self

        def __exit__(self, *a):
            return False

        def read(self, n):
            self.calls += 1
            if self.calls > 1:
                raise OSError("connection reset")
            return b"\x1f\x8b partial"

    monkeypatch.setattr(ds, "_urlopen", lambda url, timeout: Broken())
    with pytest.raises(DatasetUnavailableError, match="connection reset"):
        load_mnist(data_dir=tmp_path / "dl")
    assert os.listdir(tmp_path / "dl") == []


# ---- load_dataset: the CLI's entry point -----------------------------------------------------

def test_load_dataset_falls_back_to_digits(tmp_path):
    with pytest.warns(RuntimeWarning, match="falling back to the bundled 8x8 digits"):
        data = load_dataset("mnist", data_dir=tmp_path, download=False)
    X, y = data
    assert data.name == "digits" and X.shape == (1797, 64) and data.image_shape == (8, 8)
    assert "train-images-idx3-ubyte.gz" in data.message
    with pytest.raises(DatasetUnavailableError):
        load_dataset("mnist", data_dir=tmp_path, download=False, fallback=False)


def test_load_dataset_reads_mnist_when_present(tmp_path):
    make_split(tmp_path, rows=28, cols=28, n=5)
    data = load_dataset("mnist", data_dir=tmp_path, download=False)
    assert data.name == "mnist" and data.X.shape == (5, 784) and data.message is None


def test_load_dataset_never_hides_corruption(tmp_path):
    make_split(tmp_path, n=7, n_labels=6)
    with pytest.raises(DatasetError):
        load_dataset("mnist", data_dir=tmp_path, download=False)


# ---- the CLI's --dataset ---------------------------------------------------------------------

def test_cli_falls_back_to_digits_with_a_message(tmp_path, capsys):
    from numpyae.apps import cli
    code = cli.main(["train", "--dataset", "fashion-mnist", "--offline", "--data-dir",
                     str(tmp_path / "none"), "--epochs", "1", "--quiet", "--out", str(tmp_path)])
    out, err = capsys.readouterr()
    assert code == 0
    assert "fashion-mnist is not available, falling back to the bundled 8x8 digits" in err
    assert "t10k" not in err and "train-images-idx3-ubyte.gz" in err and str(tmp_path / "none") in err
    assert "validation images (digits)" in out


def test_cli_trains_on_mnist_files_and_resumes(tmp_path, capsys):
    from numpyae.apps import cli
    make_split(tmp_path / "mnist", rows=28, cols=28, n=40)
    ck = tmp_path / "ck.npz"
    args = ["train", "--dataset", "mnist", "--data-dir", str(tmp_path / "mnist"), "--epochs", "2",
            "--quiet", "--out", str(tmp_path), "--checkpoint", str(ck)]
    assert cli.main(args) == 0
    out, err = capsys.readouterr()
    assert "784-256-32-256-784" in out and "32 train / 8 validation images (mnist)" in out
    assert err == ""
    from numpyae.io.files import read_checkpoint
    assert read_checkpoint(ck).epoch == 2
    assert cli.main(args[:-2] + ["--epochs", "3", "--resume", str(ck)]) == 0
    assert "after 3 epochs" in capsys.readouterr().out


def test_cli_generative_trainers_take_the_dataset(tmp_path, capsys):
    from numpyae.apps import cli
    make_split(tmp_path / "mnist", rows=28, cols=28, n=30)
    cli.main(["train", "--model", "aae", "--dataset", "mnist", "--data-dir", str(tmp_path / "mnist"),
              "--epochs", "1", "--quiet", "--out", str(tmp_path), "--code-dim", "2"])
    out = capsys.readouterr().out
    assert "AAE: encoder 784-128-128-2" in out and "24 train / 6 test" in out


# ---- IDX content is validated, every error names the file --------------------------------------

def _write(path, data, gz):
    path = str(path) + (".gz" if gz else "")
    with open(path, "wb") as f:
        f.write(gzip.compress(data) if gz else data)
    return path


@pytest.mark.parametrize("gz", [True, False])
def test_idx_label_200_is_refused_naming_the_file(tmp_path, gz):
    _write(tmp_path / "train-images-idx3-ubyte", idx_bytes(np.zeros((2, 28, 28))), gz)
    labels = _write(tmp_path / "train-labels-idx1-ubyte", idx_bytes([200, 1]), gz)
    with pytest.raises(DatasetError) as info:
        load_mnist(data_dir=tmp_path, download=False)
    assert str(info.value).startswith(labels)
    assert "label 200 at index 0 is outside 0..9" in str(info.value)
    with pytest.raises(DatasetError, match="label 200"):  # never papered over by the fallback
        load_dataset("mnist", data_dir=tmp_path, download=False)


def test_idx_with_0_images_is_refused_naming_the_file(tmp_path):
    images = _write(tmp_path / "t10k-images-idx3-ubyte", idx_bytes(np.zeros((0, 28, 28))), True)
    _write(tmp_path / "t10k-labels-idx1-ubyte", idx_bytes(np.zeros(3)), True)
    with pytest.raises(DatasetError, match=f"^{images}: holds 0 images"):
        load_mnist("test", data_dir=tmp_path, download=False)
    labels = _write(tmp_path / "t10k-labels-idx1-ubyte", idx_bytes(np.zeros(0)), True)
    with pytest.raises(DatasetError, match=f"^{labels}: holds 0 labels"):
        load_mnist("test", data_dir=tmp_path, download=False)


def test_idx_5x7_images_are_refused_naming_the_file(tmp_path):
    images = _write(tmp_path / "train-images-idx3-ubyte", idx_bytes(np.zeros((2, 5, 7))), True)
    _write(tmp_path / "train-labels-idx1-ubyte", idx_bytes([1, 2]), True)
    with pytest.raises(DatasetError) as info:
        ds.load_fashion_mnist(data_dir=tmp_path, download=False)
    assert str(info.value) == (f"{images}: images must be 28x28 pixels for Fashion-MNIST (Xiao, "
                               f"Rasul & Vollgraf, Zalando Research), the header declares 5x7 "
                               f"(shape (2, 5, 7))")


@pytest.mark.parametrize("images, labels, words", [  # an IDX magic number ends in ndim
    (np.zeros((2, 784)), [1, 2], "wrong magic number 0x00000802, expected 0x00000803 (images"),
    (np.zeros((2, 28, 28)), [[1], [2]], "wrong magic number 0x00000802, expected 0x00000801 (lab"),
    (np.zeros((3, 28, 28)), [1, 2], "holds 3 images but"),
])
def test_idx_split_shapes_are_checked_from_the_headers(tmp_path, images, labels, words):
    _write(tmp_path / "train-images-idx3-ubyte", idx_bytes(images), False)
    _write(tmp_path / "train-labels-idx1-ubyte", idx_bytes(labels), False)
    with pytest.raises(DatasetError) as info:
        load_mnist(data_dir=tmp_path, download=False)
    assert words in str(info.value) and str(tmp_path) in str(info.value)


def test_corrupt_mnist_file_is_a_dataset_error_naming_the_file(tmp_path):
    make_split(tmp_path, n=3)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    data = bytearray(path.read_bytes())
    data[20:40] = b"\xff" * 20  # the deflate stream is garbage now
    path.write_bytes(bytes(data))
    with pytest.raises(DatasetError, match=f"^{path}: gzip stream is truncated or corrupt"):
        load_mnist(data_dir=tmp_path, download=False)
    with pytest.raises(DatasetError, match=str(path)):
        load_dataset("mnist", data_dir=tmp_path, download=False)
    good = gzip.compress(idx_bytes(np.zeros((3, 28, 28))))
    path.write_bytes(good[:-8] + (0).to_bytes(4, "little") + good[-4:])  # CRC spoiled
    with pytest.raises(DatasetError, match=f"^{path}: gzip stream is truncated or corrupt"):
        load_mnist(data_dir=tmp_path, download=False)


def test_an_unreadable_idx_path_names_the_file(tmp_path):
    with pytest.raises(DatasetError, match=f"^{tmp_path}: cannot be read"):
        read_idx(tmp_path)  # a folder
    with pytest.raises(FileNotFoundError, match="missing.idx"):
        read_idx(tmp_path / "missing.idx")


# ---- gzip bombs and forged headers: refused before allocating --------------------------------

def _bomb(path, header, gigabytes):
    """A gzip file of many members, each 16 MiB of zeros compressed to ~16 KB: ~3 MB on disk for
    3 GB of data after header."""
    member = gzip.compress(b"\0" * (16 << 20), mtime=0)
    with open(path, "wb") as f:
        f.write(gzip.compress(header, mtime=0))
        for _ in range(int(gigabytes * 64)):
            f.write(member)
    return path


def _peak_bytes(fn):
    import tracemalloc
    tracemalloc.start()
    try:
        fn()
    except DatasetError as exc:
        error = exc
    else:
        error = None
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return error, peak


def test_a_3_mb_gzip_bomb_idx_file_is_refused_without_allocating(tmp_path):
    n = 3 * 2**30 // 784  # the header declares 3 GB of 28x28 images, and the stream holds them
    header = bytes([0, 0, 8, 3]) + b"".join(int(d).to_bytes(4, "big") for d in (n, 28, 28))
    path = _bomb(tmp_path / "train-images-idx3-ubyte.gz", header, 3)
    assert os.path.getsize(path) < 4e6
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros(n // 1000)))
    t0 = time.perf_counter()
    error, peak = _peak_bytes(lambda: read_idx(path))
    assert time.perf_counter() - t0 < 1 and peak < 4 << 20
    assert str(error).startswith(f"{path}: the header declares shape ({n}, 28, 28)")
    assert "more than the ceiling of 67,108,864 bytes" in str(error)
    with pytest.raises(DatasetError, match=str(path)):
        load_mnist(data_dir=tmp_path, download=False)


def test_a_gzip_bomb_behind_a_small_header_is_refused_after_a_small_probe(tmp_path):
    header = idx_bytes(np.zeros((4, 28, 28)))  # a well-formed file, then 3 GB of zeros
    path = _bomb(tmp_path / "bomb.gz", header, 3)
    t0 = time.perf_counter()
    error, peak = _peak_bytes(lambda: read_idx(path, magic=ds.IDX_IMAGES_MAGIC))
    assert time.perf_counter() - t0 < 1 and peak < 8 << 20
    assert str(error) == (f"{path}: 65536 or more bytes after the data the header declares "
                          f"(shape (4, 28, 28))")


def test_a_forged_raw_header_is_refused_before_reading(tmp_path):
    path = tmp_path / "forged"
    path.write_bytes(bytes([0, 0, 8, 3]) + b"\xff\xff\xff\xff" * 3)  # declares 2**96 bytes
    error, peak = _peak_bytes(lambda: read_idx(path))
    assert "more than the ceiling" in str(error) and str(path) in str(error) and peak < 1 << 20
    path.write_bytes(idx_bytes(np.zeros((2, 3))))
    with pytest.raises(DatasetError, match="the header declares shape \\(2, 3\\), 6 bytes of data, "
                                           "more than the ceiling of 5 bytes"):
        read_idx(path, max_bytes=5)
    np.testing.assert_array_equal(read_idx(path, max_bytes=6), np.zeros((2, 3)))
    path.write_bytes(bytes([0, 0, 8, 0]))
    with pytest.raises(DatasetError, match="declares 0 dimensions"):
        read_idx(path)


def test_the_ceiling_admits_the_largest_mnist_file():
    assert 60000 * 28 * 28 <= ds.MAX_IDX_BYTES < 2 * 60000 * 28 * 28


# ---- every public function checks its arguments first ----------------------------------------

def test_load_dataset_refuses_the_digits_test_split():
    with pytest.raises(ValueError) as info:
        load_dataset("digits", split="test")
    msg = str(info.value)
    assert "split must be None or one of ['all', 'train'] for 'digits', got 'test'" in msg
    assert "train_validation_split" in msg
    for split in (None, "all", "train"):
        data = load_dataset("digits", split=split)
        assert data.X.shape == (1797, 64) and data.name == "digits"
    with pytest.raises(ValueError, match="split must be None or one of \\['train', 'test'\\]"):
        load_dataset("mnist", split="all", download=False)


def test_load_dataset_mnist_test_split(tmp_path):
    make_split(tmp_path, prefix="t10k", n=4)
    data = load_dataset("mnist", split="test", data_dir=tmp_path, download=False)
    assert data.name == "mnist" and data.X.shape == (4, 784) and data.image_shape == (28, 28)


@pytest.mark.parametrize("call, error, words", [
    (lambda: load_digits(as_images="no"), TypeError, "as_images must be True or False"),
    (lambda: load_dataset("digits", download="no"), TypeError, "download must be True or False"),
    (lambda: load_dataset("digits", fallback=0), TypeError, "fallback must be True or False"),
    (lambda: load_dataset("digits", data_dir=3), TypeError, "data_dir must be a path"),
    (lambda: load_dataset("mnist", data_dir=""), ValueError, "data_dir must be a non-empty path"),
    (lambda: load_dataset("digits", split=3), ValueError, "split must be None or one of"),
    (lambda: load_dataset(None), ValueError, "name must be one of"),
    (lambda: load_idx_dataset("mnist", data_dir="a\0b"), ValueError, "data_dir must be a non-"),
    (lambda: load_idx_dataset("mnist", as_images="yes"), TypeError, "as_images must be True"),
    (lambda: load_idx_dataset("mnist", download=None), TypeError, "download must be True"),
    (lambda: load_idx_dataset("mnist", split=None), ValueError, "split must be one of"),
    (lambda: load_mnist(data_dir=b"/tmp"), TypeError, "data_dir must be a path"),
    (lambda: read_idx(None), TypeError, "path must be a path"),
    (lambda: read_idx("x", magic="0x803"), TypeError, "magic must be None or a 4-byte"),
    (lambda: read_idx("x", magic=2**32), TypeError, "magic must be None or a 4-byte"),
    (lambda: read_idx("x", max_bytes=0), ValueError, "max_bytes must be a positive int"),
    (lambda: ds.data_home(""), ValueError, "data_dir must be a non-empty path"),
    (lambda: train_validation_split(np.zeros((4, 2)), rng="s"), TypeError, "rng must be None"),
    (lambda: train_validation_split(np.zeros((4, 2)), rng=-1), ValueError, "rng must be a non-neg"),
])
def test_public_functions_check_their_arguments(call, error, words, monkeypatch):
    monkeypatch.setattr(ds, "_fetch", lambda *a: pytest.fail("work started before the checks"))
    with pytest.raises(error) as info:
        call()
    assert words in str(info.value)
