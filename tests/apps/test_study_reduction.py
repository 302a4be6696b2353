"""study reduction (numpyae.apps.reduction): autoencoder codes against PCA, LDA, LLE and Isomap,
as a function and on the command line (digits, and MNIST IDX files written to tmp_path)."""
import csv
import gzip
import os

import numpy as np
import pytest
from sklearn.manifold import Isomap, LocallyLinearEmbedding
from sklearn.neighbors import KNeighborsClassifier

import numpyae
from numpyae.apps import reduction
from numpyae.apps.cli import main
from numpyae.apps.reduction import (METHODS, REDUCTION_COLUMNS, plot_reduction_study,
                                    reduction_study)

TRACEBACK = "Traceback (most recent call last)"


@pytest.fixture(scope="module")
def digits():
    X, y = numpyae.load_digits()
    return X[:400], y[:400]


def _one_line_error(code, err, status, *names):
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == status and len(lines) == 1 and TRACEBACK not in err, err
    for name in names:
        assert name in lines[0], lines[0]
    return lines[0]


def _runs(out):
    return sorted(os.listdir(out)) if os.path.isdir(out) else []


# ---- the study ----------------------------------------------------------------------------

def test_reduction_study_rows_methods_and_what_is_not_available(digits):
    X, y = digits
    embeddings, log = {}, []
    rows = reduction_study(X, y, sizes=(12, 2), folds=2, epochs=3, seed=0, log=log.append,
                           embeddings=embeddings)
    assert [(r["code size"], r["method"]) for r in rows] == \
        [(k, m) for k in (2, 12) for m in METHODS]
    assert len(log) == 2 and log[0].startswith("fold 1/2: 200 train / 200 test images")
    by = {(r["code size"], r["method"]): r for r in rows}
    lda12 = by[(12, "LDA")]   # ten classes: LDA has at most 9 dimensions, said, not faked
    assert lda12["accuracy mean"] == "" and lda12["fit seconds"] == ""
    assert lda12["note"] == "not available: LDA gives at most n_classes - 1 = 9 dimensions"
    for r in rows:
        if r is lda12:
            continue
        assert 0 <= r["accuracy mean"] <= 1 and r["accuracy sd"] >= 0 and r["folds"] == 2
        assert r["fit seconds"] >= 0
        has_inverse = r["method"] in ("PCA", "autoencoder")
        assert (r["reconstruction MSE mean"] != "") == has_inverse, r
    assert by[(12, "PCA")]["reconstruction MSE mean"] < by[(2, "PCA")]["reconstruction MSE mean"]
    assert by[(12, "PCA")]["accuracy mean"] > by[(2, "PCA")]["accuracy mean"]
    assert by[(2, "LLE")]["note"] == "no inverse; one fit at k=12 per fold, its first k columns"
    assert sorted(embeddings) == sorted([*METHODS, "labels"])
    assert all(embeddings[m].shape == (200, 2) for m in METHODS)
    fig = plot_reduction_study(rows, embeddings)
    assert len(fig.axes) == 2 + len(METHODS)
    assert len(plot_reduction_study(rows).axes) == 2


def test_lle_and_isomap_codes_of_size_k_are_the_first_k_columns_of_a_larger_fit(digits):
    """Why the study fits LLE and Isomap once per fold: their k-dimensional embedding (and a
    new point's code) is the first k columns of the larger one, up to each column's sign."""
    X, y = digits
    X = X.astype(np.float64)
    tr, te = np.arange(300), np.arange(300, 400)
    for make in (lambda k: Isomap(n_neighbors=15, n_components=k, eigen_solver="dense"),
                 lambda k: LocallyLinearEmbedding(n_neighbors=15, n_components=k,
                                                  eigen_solver="arpack", random_state=0)):
        big, small = make(8).fit(X[tr]), make(3).fit(X[tr])
        for Z_big, Z_small in ((big.embedding_, small.embedding_),
                               (big.transform(X[te]), small.transform(X[te]))):
            signs = np.sign(np.sum(Z_big[:, :3] * Z_small, axis=0))
            np.testing.assert_allclose(Z_big[:, :3] * signs, Z_small, atol=1e-6)
        knn = lambda Z_tr, Z_te: KNeighborsClassifier(5).fit(Z_tr, y[tr]).score(Z_te, y[te])
        assert knn(big.embedding_[:, :3], big.transform(X[te])[:, :3]) == \
            knn(small.embedding_, small.transform(X[te]))


def test_reduction_study_is_reproducible_and_the_classifier_matters(digits):
    X, y = digits
    a = reduction_study(X, y, sizes=(2,), folds=2, epochs=2, seed=1)
    b = reduction_study(X, y, sizes=(2,), folds=2, epochs=2, seed=1)
    c = reduction_study(X, y, sizes=(2,), folds=2, epochs=2, seed=1, classifier="logistic")
    strip = lambda rows: [{k: v for k, v in r.items() if k != "fit seconds"} for r in rows]
    assert strip(a) == strip(b)
    assert [r["accuracy mean"] for r in a] != [r["accuracy mean"] for r in c]


@pytest.mark.parametrize("kwargs, message", [
    (dict(sizes=(0,)), "sizes"),
    (dict(sizes=(65,)), r"sizes must be distinct code sizes in \[1, 64\]"),
    (dict(sizes=(2, 2)), "sizes must be distinct"),
    (dict(folds=1), "folds must be at least 2"),
    (dict(folds=2.5), "folds"),
    (dict(epochs=0), "epochs"),
    (dict(classifier="svm"), "classifier must be one of"),
])
def test_reduction_study_refuses_bad_arguments_before_any_work(kwargs, message, digits,
                                                                monkeypatch):
    X, y = digits
    monkeypatch.setattr(reduction, "_one_fold", lambda *a, **k: pytest.fail("work started"))
    with pytest.raises((TypeError, ValueError), match=message):
        reduction_study(X, y, **kwargs)


def test_reduction_study_refuses_data_it_cannot_split_or_classify(digits, monkeypatch):
    X, y = digits
    monkeypatch.setattr(reduction, "_one_fold", lambda *a, **k: pytest.fail("work started"))
    y_few_nines = np.r_[np.repeat(np.arange(9), 5), [9, 9]]
    with pytest.raises(ValueError, match="at least 5 examples of every class; class 9 has 2"):
        reduction_study(X[:47], y_few_nines, folds=5)
    with pytest.raises(ValueError, match="at least 2 classes"):
        reduction_study(X, np.zeros(len(X), dtype=int))
    with pytest.raises(ValueError, match="y must hold one integer label per row"):
        reduction_study(X, y[:10])
    with pytest.raises(ValueError, match="finite"):
        reduction_study(np.full_like(X, np.nan), y)
    with pytest.raises(ValueError, match="sizes must stay below the 19 training images"):
        reduction_study(X[:40], y[:40], sizes=(2, 20), folds=2)


# ---- the command line ---------------------------------------------------------------------

def test_cli_study_reduction_writes_table_csv_and_figure(tmp_path, capsys):
    code = main(["study", "reduction", "--sizes", "2", "12", "--epochs", "2", "--folds", "2",
                 "--max-samples", "300", "--out", str(tmp_path), "--quiet"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "reduction study on digits: a stratified subset of 300 of its 1797 images, 2-fold" in out
    assert "| code size | method      | accuracy" in out
    assert "not available: LDA gives at most n_classes - 1 = 9 dimensions" in out
    (run,) = _runs(tmp_path)
    assert run.startswith("study-reduction-")
    assert sorted(os.listdir(tmp_path / run)) == ["reduction_study.csv", "reduction_study.md",
                                                  "reduction_study.png"]
    with open(tmp_path / run / "reduction_study.csv") as f:
        read = list(csv.DictReader(f))
    assert list(read[0]) == REDUCTION_COLUMNS and len(read) == 2 * len(METHODS)
    lda = [r for r in read if r["method"] == "LDA"]
    assert lda[0]["accuracy mean"] != "" and lda[1]["accuracy mean"] == ""


def test_cli_study_reduction_without_2_leaves_the_embeddings_out(tmp_path, capsys):
    code = main(["study", "reduction", "--sizes", "3", "--epochs", "1", "--folds", "2",
                 "--max-samples", "100", "--classifier", "logistic", "--out", str(tmp_path),
                 "--quiet"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "(the 2-D embeddings need 2 among --sizes; left out of the figure)" in out
    assert "classifier: logistic regression (standardized) on the codes" in out


@pytest.mark.parametrize("argv, names", [
    (["--seeds", "2"], ["--seeds applies to study latent / pretraining, not reduction"]),
    (["--probe-epochs", "3"], ["--probe-epochs applies to study latent, not reduction"]),
    (["--hidden", "8"], ["--hidden applies to study pretraining, not reduction"]),
    (["--published"], ["--published applies to study latent, not reduction"]),
    (["--folds", "1"], ["--folds must be an int in [2, 20], got 1"]),
    (["--max-samples", "5"], ["--max-samples must be an int in [20, 20000], got 5"]),
    (["--classifier", "svm"], ["--classifier", "invalid choice"]),
    (["--sizes", "4", "4"], ["--sizes must list distinct values"]),
    (["--data-dir", "x"], ["--data-dir applies to --dataset mnist / fashion-mnist"]),
])
def test_cli_study_reduction_usage_errors_before_any_work(argv, names, tmp_path, capsys,
                                                          monkeypatch):
    monkeypatch.setattr(reduction, "reduction_study", lambda *a, **k: pytest.fail("work"))
    code = main(["study", "reduction", *argv, "--out", str(tmp_path / "runs")])
    _one_line_error(code, capsys.readouterr().err, 2, *names)
    assert _runs(tmp_path / "runs") == []


@pytest.mark.parametrize("study", ["latent", "pretraining"])
def test_reduction_flags_are_refused_by_the_other_studies(study, tmp_path, capsys):
    for flag, value in (("--folds", "3"), ("--max-samples", "100"), ("--classifier", "knn")):
        code = main(["study", study, flag, value, "--out", str(tmp_path)])
        _one_line_error(code, capsys.readouterr().err, 2,
                        f"{flag} applies to study reduction, not {study}")


def test_cli_study_reduction_without_mnist_says_so_in_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(reduction, "reduction_study", lambda *a, **k: pytest.fail("work"))
    code = main(["study", "reduction", "--dataset", "fashion-mnist", "--offline", "--data-dir",
                 str(tmp_path / "none"), "--out", str(tmp_path / "runs")])
    _one_line_error(code, capsys.readouterr().err, 1, "DatasetUnavailableError",
                    str(tmp_path / "none"))
    assert _runs(tmp_path / "runs") == []


def _write_idx(folder, prefix, n, seed=1):
    """A small valid MNIST split (gzipped IDX files): n random 28x28 images whose labels
    cycle 0..9, and a bright stripe at the label's row so that the classes differ."""
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(seed)
    labels = (np.arange(n) % 10).astype(np.uint8)
    images = rng.integers(0, 60, size=(n, 28, 28), dtype=np.uint8)
    for i, c in enumerate(labels):
        images[i, 2 + 2 * c:4 + 2 * c, :] = 250
    for name, arr, kind in ((f"{prefix}-images-idx3-ubyte.gz", images, 3),
                            (f"{prefix}-labels-idx1-ubyte.gz", labels, 1)):
        header = bytes([0, 0, 8, kind]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
        with gzip.open(os.path.join(folder, name), "wb") as f:
            f.write(header + arr.tobytes())


def test_cli_study_reduction_on_mnist_files(tmp_path, capsys):
    _write_idx(tmp_path / "mnist", "train", 120)
    code = main(["study", "reduction", "--dataset", "mnist", "--data-dir", str(tmp_path / "mnist"),
                 "--sizes", "2", "4", "--epochs", "2", "--folds", "3", "--max-samples", "90",
                 "--out", str(tmp_path / "runs"), "--quiet"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "reduction study on mnist: a stratified subset of 90 of its 120 images" in out
    assert "autoencoder 784-64-k-64-784" in out
    pca4 = [line for line in out.splitlines() if line.startswith("| 4 ") and "PCA" in line]
    assert pca4 and float(pca4[0].split("|")[3].split("±")[0]) > 0.9   # the stripes separate
