"""Smoke tests of the regularized-autoencoder CLI trainers (one or two epochs: the real runs are
`python -m numpyae train --model sparse --dataset patches` etc., recorded in the issue)."""
import os

import pytest

from numpyae.apps.cli import main


@pytest.mark.parametrize("argv, expected", [
    (["--model", "denoising", "--epochs", "1"], ["from corrupted input", "vanilla"]),
    (["--model", "contractive", "--epochs", "1", "--lam", "0.2"], ["mean ||J||_F", "lam=0.2"]),
    (["--model", "ksparse", "--epochs", "1", "--ks", "3,6"],
     ["3..3", "6..6", "exactly k nonzero code units in every held-out example: yes"]),
])
def test_trainer_runs_and_prints(argv, expected, tmp_path, capsys):
    assert main(["train", *argv, "--quiet", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for text in expected:
        assert text in out
    (run,) = os.listdir(tmp_path)
    files = os.listdir(tmp_path / run)
    assert any(f.endswith(".png") for f in files) and any(f.endswith(".npz") for f in files)


def test_unknown_model_is_refused(capsys):
    assert main(["train", "--model", "nope"]) == 2
    assert "unknown --model" in capsys.readouterr().err


# ---- sparse: the UFLDL exercise with L-BFGS, its filter criteria and its texts ----------------

SPARSE_SMALL = ["train", "--model", "sparse", "--quiet", "--max-iter", "15", "--epochs", "2"]


def _sparse_run(argv, tmp_path, capsys):
    code = main([*argv, "--out", str(tmp_path)])
    out = capsys.readouterr().out
    (run,) = os.listdir(tmp_path)
    return code, out, tmp_path / run


def test_sparse_on_patches_prints_the_criteria_and_exits_by_the_verdict(tmp_path, capsys):
    code, out, run = _sparse_run([*SPARSE_SMALL, "--dataset", "patches", "--n-patches", "2000"],
                                 tmp_path, capsys)
    for text in ("1800 train / 200 held-out natural-image patches", "grass, gravel, raccoon",
                 "training: L-BFGS, full batch, float64: 15 iterations (max_iter)",
                 "Adam, 2 epochs of batch 100", "L-BFGS: UFLDL objective J on the held-out patches",
                 "Adam: UFLDL objective J on the held-out patches", "mean hidden activation",
                 "energy share in the best 4x4 window", "best 30-degree band (DC excluded)",
                 "i.i.d. Gaussian filters", "random filters, mean", "random filters, p95",
                 "3x3-window localization",
                 "criterion: >= 80% of the L-BFGS filters beat random on both:"):
        assert text in out, text
    rows = {line.split()[0]: line.split() for line in out.splitlines()
            if line.strip().startswith(("L-BFGS ", "Adam "))}
    for name in ("L-BFGS", "Adam"):   # localization, its share, orientation, its share, both
        assert len(rows[name]) == 6 and all(rows[name][i].endswith("%") for i in (2, 4, 5))
    verdict = out.split("criterion: ")[1].splitlines()[0]
    assert verdict.endswith("PASS") or verdict.endswith("FAIL")
    assert code == (0 if verdict.endswith("PASS") else 1)
    assert sorted(os.listdir(run)) == ["filters.png", "filters_adam.png", "loss_curve.png",
                                       "model.npz", "model_adam.npz"]


def test_sparse_on_digits_says_held_out_digits_not_patches(tmp_path, capsys):
    """It printed "UFLDL objective J on held-out patches" when it had trained on the digits."""
    code, out, _ = _sparse_run(SPARSE_SMALL, tmp_path, capsys)
    assert code == 0                      # the edge criterion is printed, not judged, on digits
    assert "patches" not in out.replace("natural-image patches", "")
    assert "J on the held-out digits" in out and "held-out digits (8x8)" in out
    assert "not judged on --dataset digits" in out


def test_sparse_epochs_2_trains_and_says_2_epochs(tmp_path, capsys, monkeypatch):
    """--epochs 2 printed "then 1 epochs" and trained 3 (a second large-batch phase); the Adam
    twin now trains exactly --epochs epochs and the text says so."""
    from numpyae.apps import train_regularized
    trained = []
    real_fit = train_regularized.fit

    def spy(*args, **kwargs):
        history = real_fit(*args, **kwargs)
        trained.append(history.epochs)
        return history
    monkeypatch.setattr(train_regularized, "fit", spy)
    code, out, _ = _sparse_run(SPARSE_SMALL, tmp_path, capsys)
    assert code == 0 and trained == [2]
    assert "Adam, 2 epochs of batch 100" in out and "then" not in out


def test_sparse_loss_curve_labels_are_words_with_units(tmp_path, capsys, monkeypatch):
    """Legends showed raw History keys (loss, val_loss, kl_sparsity, ...)."""
    from numpyae.apps import train_regularized
    figures = {}

    def keep(fig, path):
        figures[os.path.basename(path)] = getattr(fig, "figure", fig)
    monkeypatch.setattr(train_regularized, "save_figure", keep)
    assert main([*SPARSE_SMALL, "--out", str(tmp_path)]) == 0
    capsys.readouterr()
    fig = figures["loss_curve.png"]
    texts = [t.get_text() for ax in fig.axes for t in ax.get_legend().get_texts()]
    labels = [ax.get_xlabel() for ax in fig.axes] + [fig.axes[0].get_ylabel()]
    assert texts and not {"loss", "val_loss", "kl_sparsity", "reconstruction"} & set(texts)
    assert "held-out set" in texts and any("training set" in t for t in texts)
    assert "L-BFGS iteration" in labels[0] and "Adam epoch" in labels[1]
    assert "UFLDL objective J per example" in labels[2]
    import matplotlib.pyplot as plt
    plt.close("all")


@pytest.mark.parametrize("argv, words", [
    (["--model", "denoising", "--max-iter", "5"], "--max-iter applies to --model sparse"),
    (["--model", "sparse", "--max-iter", "0"], "--max-iter"),
])
def test_max_iter_is_read_by_sparse_only(argv, words, tmp_path, capsys):
    assert main(["train", *argv, "--out", str(tmp_path)]) == 2
    assert words in capsys.readouterr().err
    assert os.listdir(tmp_path) == []
