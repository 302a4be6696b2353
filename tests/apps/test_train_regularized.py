"""Smoke tests of the regularized-autoencoder CLI trainers (one or two epochs: the real runs are
`python -m numpyae train --model sparse --dataset patches` etc., recorded in the issue)."""
import os

import pytest

from numpyae.apps.cli import main


@pytest.mark.parametrize("argv, expected", [
    (["--model", "sparse", "--dataset", "patches", "--epochs", "1", "--n-patches", "2000"],
     ["localization score", "random Gaussian filters", "mean hidden activation", "UFLDL objective"]),
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
