import csv
import os

import numpy as np
import pytest

from numpyae import load_digits
from numpyae.apps.cli import main
from numpyae import mlp_autoencoder
from numpyae.apps.study import (LATENT_COLUMNS, LATENT_SUMMARY_COLUMNS, dead_outputs,
                           summarize_latent, format_markdown, labeled_subset, latent_size_study,
                           plot_latent_study, plot_pretraining_study, pretraining_study,
                           probe_accuracy, write_csv)


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits()
    return X[:500], y[:500]


def test_markdown_and_csv(tmp_path):
    rows = [{"a": 1, "b": 0.123456, "c": "x"}, {"a": 22, "b": 1.5, "c": "yy"}]
    table = format_markdown(rows, ["a", "b", "c"], {"b": ".2f"})
    lines = table.splitlines()
    assert lines[0].startswith("| a ") and set(lines[1]) <= {"|", "-"}
    assert "0.12" in lines[2] and "1.50" in lines[3] and len(lines) == 4
    assert len({len(line) for line in lines}) == 1  # aligned columns
    path = write_csv(rows, ["a", "b", "c"], tmp_path / "t.csv")
    with open(path) as f:
        read = list(csv.DictReader(f))
    assert [r["a"] for r in read] == ["1", "22"] and float(read[0]["b"]) == 0.123456


def test_labeled_subset_is_stratified():
    y = np.repeat(np.arange(4), [10, 20, 30, 40])
    idx = labeled_subset(y, 0.1, np.random.default_rng(0))
    assert np.bincount(y[idx]).tolist() == [1, 2, 3, 4]
    assert len(np.unique(idx)) == len(idx)
    assert np.bincount(y[labeled_subset(y, 0.01, np.random.default_rng(0))]).tolist() == [1] * 4


def test_probe_separates_informative_from_noise_features():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 300)
    informative = np.eye(3)[y] * 2 + 0.3 * rng.normal(size=(300, 3))
    noise = rng.normal(size=(300, 3))
    good = probe_accuracy(informative[:200], y[:200], informative[200:], y[200:], epochs=20)
    bad = probe_accuracy(noise[:200], y[:200], noise[200:], y[200:], epochs=20)
    assert good > 0.95 and bad < 0.6


def test_dead_outputs_counts_relu_units_stuck_at_zero(digits):
    X, _ = digits
    model = mlp_autoencoder([64, 8], loss="mse", output_activation="relu", rng=0)
    assert dead_outputs(model, X) < 64
    live = np.any(X > 1e-6, axis=0)
    model.decoder[0].b.value[:10] = -1e3   # ten output units can never fire again
    assert dead_outputs(model, X) >= int(live[:10].sum())
    model.decoder[0].b.value[:] = -1e3
    assert dead_outputs(model, X) == int(live.sum())
    sigmoid = mlp_autoencoder([64, 8], loss="mse", output_activation="sigmoid", rng=0)
    assert dead_outputs(sigmoid, X) == 0


def test_latent_size_study_small(digits):
    X, y = digits
    rows = latent_size_study(X, y, sizes=(2, 8), hidden=16, epochs=3, probe_epochs=5, seed=0)
    assert len(rows) == 6
    assert [r["method"] for r in rows[:3]] == ["PCA", "AE (sigmoid output)", "AE (relu output)"]
    for r in rows:
        assert set(LATENT_COLUMNS) <= set(r)
        assert (r["dead outputs"] == "") if r["method"] == "PCA" else r["dead outputs"] >= 0
        assert 0 < r["train MSE"] < 0.2 and 0 < r["test MSE"] < 0.2
        assert 0 <= r["probe accuracy"] <= 1
    pca = [r for r in rows if r["method"] == "PCA"]
    assert pca[1]["train MSE"] < pca[0]["train MSE"]   # more components, less error
    assert {r["seed"] for r in rows} == {0}

    more = latent_size_study(X, y, sizes=(2, 8), hidden=16, epochs=3, probe_epochs=5, seed=1)
    numeric, table = summarize_latent(rows + more)
    assert len(numeric) == 6 and all(r["seeds"] == 2 for r in numeric)
    first = numeric[0]
    assert first["method"] == "PCA" and first["dead outputs mean"] == ""
    vals = [rows[0]["test MSE"], more[0]["test MSE"]]
    assert first["test MSE mean"] == pytest.approx(np.mean(vals))
    assert first["test MSE sd"] == pytest.approx(np.std(vals, ddof=1))
    assert " ± " in table[1]["probe accuracy"] and table[0]["dead outputs"] == ""
    assert set(LATENT_SUMMARY_COLUMNS) <= set(numeric[1])
    fig = plot_latent_study(rows + more)
    assert len(fig.axes) == 2
    assert len(fig.axes[1].containers) == 3  # one error-bar series per method


def test_pretraining_study_small(digits):
    X, y = digits
    histories = {}
    summary, per_seed = pretraining_study(X, y, fractions=(0.1, 0.2), seeds=(0, 1),
                                          sizes=(64, 16, 8), pretrain_epochs=2, finetune_epochs=1,
                                          epochs=3, batch_size=16, histories=histories)
    assert sorted(histories) == [0, 1]
    assert list(histories[0]) == ["stage 1", "stage 2", "fine-tune"]
    assert histories[0]["stage 1"].epochs == 2 and histories[0]["fine-tune"].epochs == 1
    assert len(per_seed) == 4 and len(summary) == 2
    assert summary[0]["labeled fraction"] == "10%" and summary[0]["seeds"] == 2
    assert summary[0]["labels"] < summary[1]["labels"]
    assert "±" in summary[0]["pretrained acc"] and summary[0]["pretrained wins"].endswith("/2")
    for r in per_seed:
        assert 0 <= r["pretrained acc"] <= 1 and 0 <= r["random-init acc"] <= 1
    fig = plot_pretraining_study(per_seed)
    accuracy, difference = fig.axes
    assert len(accuracy.patches) == 4                   # a bar per (fraction, initialization)
    assert len(difference.get_lines()) >= 2             # per-seed points and the zero line


def test_cli_study_latent_writes_a_run_folder(tmp_path, capsys):
    assert main(["study", "latent", "--sizes", "2", "--epochs", "1", "--probe-epochs", "2",
                 "--seeds", "1", "--out", str(tmp_path), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "| code size | method" in out and "AE (relu output)" in out
    assert "Adam lr 3e-3, 1 epochs of 32" in out   # --epochs 1 is 1, not the default
    (run,) = [d for d in os.listdir(tmp_path) if d.startswith("study-latent")]
    assert sorted(os.listdir(tmp_path / run)) == [
        "latent_study.csv", "latent_study.md", "latent_study.png", "latent_study_per_seed.csv",
        "latent_study_per_seed.md"]
    with open(tmp_path / run / "latent_study.csv") as f:
        read = list(csv.DictReader(f))
    assert [r["method"] for r in read] == ["PCA", "AE (sigmoid output)", "AE (relu output)"]
    assert 0 < float(read[0]["test MSE mean"]) < 0.1
    assert main(["study", "latent", "--seeds", "0"]) == 2
    assert "--seeds must be an int in [1, 1000], got 0" in capsys.readouterr().err


def test_cli_study_pretraining_writes_a_run_folder(tmp_path, capsys):
    assert main(["study", "pretraining", "--seeds", "2", "--fractions", "0.05", "--epochs", "2",
                 "--pretrain-epochs", "1", "--hidden", "8", "--out", str(tmp_path),
                 "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "| labeled fraction |" in out and "| 5%" in out
    (run,) = [d for d in os.listdir(tmp_path) if d.startswith("study-pretraining")]
    assert {"pretraining_study.md", "pretraining_study.csv", "pretraining_per_seed.csv",
            "pretraining_histories_seed0.png"} <= set(os.listdir(tmp_path / run))


def _per_seed(pretrained, random_init, fraction=0.05):
    return [{"labeled fraction": fraction, "labels": 70, "seed": i, "pretrained acc": p,
             "random-init acc": r} for i, (p, r) in enumerate(zip(pretrained, random_init))]


def test_pretraining_plot_starts_its_accuracy_axis_at_zero_and_shows_the_spread():
    """Reproducer: accuracies of 0.71 to 0.75 drew bars on an axis starting at 0.71 (the lowest
    accuracy minus 0.1, clipped), which magnified a 0.02 gap."""
    pre, rnd = [0.745, 0.735, 0.74], [0.72, 0.73, 0.71]
    rows = _per_seed(pre, rnd) + _per_seed([0.81, 0.83, 0.82], [0.80, 0.80, 0.83], 0.1)
    fig = plot_pretraining_study(rows)
    accuracy, difference = fig.axes
    assert accuracy.get_ylim() == (0.0, 1.0)
    # the spread: an error bar per bar (one sample standard deviation) and every seed as a dot
    bars = [c for c in accuracy.containers if hasattr(c, "has_yerr") and c.has_yerr]
    assert len(bars) == 4
    seeds = [line for line in accuracy.get_lines() if line.get_marker() == "."]
    assert sorted(np.concatenate([line.get_ydata() for line in seeds])) == sorted(
        pre + rnd + [0.81, 0.83, 0.82, 0.80, 0.80, 0.83])
    caps = [cap.get_ydata()[0] for cap in bars[0].lines[1]]   # the first bar: pretrained, 5%
    assert max(caps) - min(caps) == pytest.approx(2 * np.std(pre, ddof=1))
    assert np.mean(caps) == pytest.approx(np.mean(pre))
    # the comparison at its true size: paired differences in percentage points, and zero
    points = [line for line in difference.get_lines() if line.get_marker() == "."]
    np.testing.assert_allclose(points[0].get_ydata(), 100 * (np.array(pre) - rnd))
    assert any(list(line.get_ydata()) == [0, 0] for line in difference.get_lines())
    assert "percentage points" in difference.get_ylabel()


def test_pretraining_plot_refuses_rows_that_are_not_the_study_rows():
    with pytest.raises(ValueError, match="non-empty list"):
        plot_pretraining_study([])
    with pytest.raises(ValueError, match="lacks 'random-init acc'"):
        plot_pretraining_study([{"labeled fraction": 0.1, "labels": 3, "seed": 0,
                                 "pretrained acc": 0.5}])
