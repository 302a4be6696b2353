"""Datasets: bundled digits, the split helper, and the MNIST / Fashion-MNIST IDX loaders.

The IDX tests build small files themselves; the download path runs against a local
http.server on 127.0.0.1 (never the real network).
"""
import functools
import gzip
import hashlib
import http.server
import os
import threading

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


def make_split(folder, prefix="train", n=7, rows=4, cols=3, seed=0, gz=True, n_labels=None):
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
    assert X.dtype == np.float32 and X.shape == (7, 12)
    np.testing.assert_array_equal(X, (images.reshape(7, 12) / np.float32(255)).astype(np.float32))
    assert X.min() >= 0 and X.max() <= 1
    np.testing.assert_array_equal(y, labels)
    assert y.dtype == np.int64
    X2, _ = load_idx_dataset("mnist", "train", data_dir=tmp_path, download=False, as_images=True)
    assert X2.shape == (7, 4, 3)
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
    with pytest.raises(DatasetError, match=r"truncated: the header declares shape \(7, 4, 3\)"):
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
    def log_message(self, *args):
        pass


@pytest.fixture
def server(tmp_path, monkeypatch):
    root = tmp_path / "served"
    root.mkdir()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                            functools.partial(_Quiet, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
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
    with pytest.raises(ChecksumError, match="does not match the published"):
        load_mnist(data_dir=dest, download=True)
    assert "train-images-idx3-ubyte.gz" not in os.listdir(dest)
    assert not [f for f in os.listdir(dest) if f.startswith(".numpyae-download-")]


def test_download_unreachable_host_is_unavailable(server, tmp_path, monkeypatch):
    root, base = server  # nothing served: 404 for every file
    names = list(ds.IDX_DATASETS["mnist"]["sha256"])
    _point_mnist_at(monkeypatch, base, root)
    monkeypatch.setitem(ds.IDX_DATASETS["mnist"], "sha256", {n: "0" * 64 for n in names})
    with pytest.raises(DatasetUnavailableError, match="downloading failed"):
        load_mnist(data_dir=tmp_path / "dl")


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
