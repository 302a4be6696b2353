"""study latent --dataset mnist --published (numpyae.apps.published): the published MNIST
latent-size setup, run offline on small IDX files written to tmp_path; and the one-line exit 1
when MNIST is neither on disk nor downloadable (no network)."""
import csv
import gzip
import os
import urllib.error

import numpy as np
import pytest

from numpyae.apps import published
from numpyae.apps.cli import main
from numpyae.apps.published import (PUBLISHED_TEST_LOSS, published_latent_study,
                                    summarize_published)
from numpyae.data import datasets

TRACEBACK = "Traceback (most recent call last)"


def _one_line_error(code, err, status, *names):
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == status and len(lines) == 1 and TRACEBACK not in err, err
    for name in names:
        assert name in lines[0], lines[0]
    return lines[0]


def _runs(out):
    return sorted(os.listdir(out)) if os.path.isdir(out) else []


def _write_idx(folder, prefix, n, seed=1):
    """A valid MNIST split as gzipped IDX files: n random 28x28 images, labels 0..9 cycling."""
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = (np.arange(n) % 10).astype(np.uint8)
    for name, arr, kind in ((f"{prefix}-images-idx3-ubyte.gz", images, 3),
                            (f"{prefix}-labels-idx1-ubyte.gz", labels, 1)):
        header = bytes([0, 0, 8, kind]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
        with gzip.open(os.path.join(folder, name), "wb") as f:
            f.write(header + arr.tobytes())


@pytest.fixture
def mnist_files(tmp_path):
    """A small MNIST with a training (80 images) and a test split (30), on disk only."""
    folder = tmp_path / "mnist"
    _write_idx(folder, "train", 80, seed=1)
    _write_idx(folder, "t10k", 30, seed=2)
    return folder


def test_the_published_numbers_are_the_sources_table():
    assert PUBLISHED_TEST_LOSS == {10: 0.0338, 20: 0.0220, 30: 0.0179, 40: 0.0128, 50: 0.0112,
                                   60: 0.0107, 70: 0.0094, 80: 0.0082, 90: 0.0071, 100: 0.0077}
    assert (published.EPOCHS, published.BATCH_SIZE, published.LR) == (10, 256, 1e-3)


def test_published_latent_study_trains_784_k_784_relu_relu_mse(monkeypatch):
    rng = np.random.default_rng(0)
    X_train, X_test = rng.random((64, 784), dtype=np.float32), rng.random((16, 784),
                                                                          dtype=np.float32)
    built = []
    real = published.mlp_autoencoder
    monkeypatch.setattr(published, "mlp_autoencoder",
                        lambda *a, **k: built.append((a, k)) or real(*a, **k))
    rows = published_latent_study(X_train, X_test, sizes=(10, 15), epochs=2, seed=3)
    assert built == [(([784, 10],), dict(code_activation="relu", output_activation="relu",
                                         loss="mse", rng=3)),
                     (([784, 15],), dict(code_activation="relu", output_activation="relu",
                                         loss="mse", rng=3))]
    assert [r["code size"] for r in rows] == [10, 15]
    r10, r15 = rows
    assert r10["published test MSE"] == 0.0338
    assert r10["difference"] == pytest.approx(r10["test MSE"] - 0.0338)
    assert r15["published test MSE"] == "" and r15["difference"] == ""   # not in the table
    for r in rows:
        assert r["seed"] == 3 and 0 < r["test MSE"] < 1 and 0 < r["train MSE"] < 1
        assert isinstance(r["dead outputs"], int) and 0 <= r["dead outputs"] <= 784
    table = summarize_published(rows + [dict(r10, seed=4, **{"test MSE": r10["test MSE"] + 0.01})])
    assert table[0]["seeds"] == 2 and "±" in table[0]["test MSE"]
    assert table[1]["published test MSE"] == "-" and table[1]["difference"] == "-"


def test_published_latent_study_refuses_mismatched_test_data():
    X = np.zeros((8, 784), np.float32)
    with pytest.raises(ValueError, match="X_test"):
        published_latent_study(X, np.zeros((8, 64), np.float32), sizes=(10,))
    with pytest.raises((TypeError, ValueError), match="sizes"):
        published_latent_study(X, X, sizes=(0,))


def test_cli_published_setup_on_mnist_files(mnist_files, tmp_path, capsys):
    code = main(["study", "latent", "--dataset", "mnist", "--published", "--data-dir",
                 str(mnist_files), "--sizes", "10", "20", "--epochs", "1", "--out",
                 str(tmp_path / "runs")])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "published latent-size setup on mnist: 80 training / 30 test images; 784-k-784, " \
           "relu code and relu output, MSE, Adam, 1 epochs" in out
    assert "batch 256, lr 0.001" in out and "(differs from the published setup: --epochs 1)" in out
    assert "k=10   seed 0:" in out and "(published 0.0338)" in out
    table = [line for line in out.splitlines() if line.startswith("| 10 ")]
    assert len(table) == 1 and "| 0.0338 " in table[0]
    (run,) = _runs(tmp_path / "runs")
    assert run.startswith("study-latent-published-")
    assert sorted(os.listdir(tmp_path / "runs" / run)) == [
        "published_latent.csv", "published_latent.md", "published_latent.png",
        "published_latent_per_seed.csv"]
    with open(tmp_path / "runs" / run / "published_latent_per_seed.csv") as f:
        read = list(csv.DictReader(f))
    assert [(r["code size"], r["published test MSE"]) for r in read] == [("10", "0.0338"),
                                                                        ("20", "0.022")]


def test_cli_published_defaults_are_the_published_setup(mnist_files, tmp_path, capsys,
                                                        monkeypatch):
    seen = {}

    def record(X_train, X_test, **kwargs):
        seen.update(kwargs, n_train=len(X_train), n_test=len(X_test))
        return []

    monkeypatch.setattr(published, "published_latent_study", record)
    monkeypatch.setattr(published, "summarize_published", lambda rows: [])
    monkeypatch.setattr(published, "plot_published_study", lambda rows: None)
    monkeypatch.setattr(published, "save_figure", lambda fig, path: path)
    code = main(["study", "latent", "--dataset", "mnist", "--published", "--data-dir",
                 str(mnist_files), "--out", str(tmp_path / "runs"), "--quiet"])
    assert code == 0, capsys.readouterr().err
    assert seen == dict(sizes=[10, 20, 30, 40, 50, 60, 70, 80, 90, 100], epochs=10, seed=0,
                        log=None, n_train=80, n_test=30)   # the full splits, one seed
    assert "differs from the published setup" not in capsys.readouterr().out


@pytest.mark.parametrize("argv, status, names", [
    (["--published"], 2, ["--published is the published MNIST setup: it needs --dataset mnist, "
                          "got digits"]),
    (["--published", "--dataset", "fashion-mnist"], 2, ["needs --dataset mnist"]),
    (["--published", "--dataset", "mnist", "--probe-epochs", "3"], 2,
     ["--probe-epochs applies to study latent without --published"]),
    (["--published", "--dataset", "mnist", "--folds", "3"], 2,
     ["--folds applies to study reduction, not latent"]),
])
def test_cli_published_usage_errors_before_any_work(argv, status, names, tmp_path, capsys,
                                                    monkeypatch):
    monkeypatch.setattr(published, "published_latent_study", lambda *a, **k: pytest.fail("work"))
    code = main(["study", "latent", *argv, "--offline", "--out", str(tmp_path / "runs")])
    _one_line_error(code, capsys.readouterr().err, status, *names)
    assert _runs(tmp_path / "runs") == []


def test_published_is_refused_by_the_other_studies(tmp_path, capsys):
    for study in ("pretraining", "reduction"):
        code = main(["study", study, "--published", "--out", str(tmp_path)])
        _one_line_error(code, capsys.readouterr().err, 2,
                        f"--published applies to study latent, not {study}")


def test_no_mnist_on_disk_and_downloads_off_is_one_line_exit_1(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(published, "published_latent_study", lambda *a, **k: pytest.fail("work"))
    code = main(["study", "latent", "--dataset", "mnist", "--published", "--offline",
                 "--data-dir", str(tmp_path / "none"), "--out", str(tmp_path / "runs")])
    _one_line_error(code, capsys.readouterr().err, 1, "DatasetUnavailableError",
                    "train-images-idx3-ubyte.gz", str(tmp_path / "none"),
                    "downloading is switched off")
    assert _runs(tmp_path / "runs") == []


def test_no_mnist_on_disk_and_no_network_is_one_line_exit_1(tmp_path, capsys, monkeypatch):
    """Without --offline the study tries every mirror; with no network each fails (a DNS
    failure, as on a machine without network) and the study says so in one line, exit 1,
    without running on another dataset."""
    tried = []

    def no_network(url, *args, **kwargs):
        tried.append(url if isinstance(url, str) else url.full_url)
        raise urllib.error.URLError(OSError(-2, "Name or service not known"))

    monkeypatch.setattr(datasets, "_urlopen", no_network)
    monkeypatch.setattr(datasets, "_sleep", lambda seconds: None)
    monkeypatch.setattr(published, "published_latent_study", lambda *a, **k: pytest.fail("work"))
    code = main(["study", "latent", "--dataset", "mnist", "--published", "--data-dir",
                 str(tmp_path / "none"), "--out", str(tmp_path / "runs")])
    line = _one_line_error(code, capsys.readouterr().err, 1, "DatasetUnavailableError",
                           "downloading failed", str(tmp_path / "none"))
    assert "falling back" not in line and "bundled" not in line
    assert tried and all("train-images-idx3-ubyte.gz" in url for url in tried)
    assert _runs(tmp_path / "runs") == []


def test_a_missing_test_split_is_one_line_exit_1_before_training(tmp_path, capsys,
                                                                  monkeypatch):
    _write_idx(tmp_path / "mnist", "train", 40)       # no t10k files
    monkeypatch.setattr(published, "published_latent_study", lambda *a, **k: pytest.fail("work"))
    code = main(["study", "latent", "--dataset", "mnist", "--published", "--offline",
                 "--data-dir", str(tmp_path / "mnist"), "--out", str(tmp_path / "runs")])
    _one_line_error(code, capsys.readouterr().err, 1, "DatasetUnavailableError", "test split",
                    "t10k-images-idx3-ubyte.gz")
    assert _runs(tmp_path / "runs") == []
