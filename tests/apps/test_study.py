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
    ax = plot_pretraining_study(per_seed)
    assert len(ax.patches) == 4


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
