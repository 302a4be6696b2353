import os
import subprocess
import sys

import numpy as np
import pytest

import numpyae
from numpyae.apps.cli import main


def test_gradcheck_command_passes(capsys):
    assert main(["gradcheck"]) == 0
    out = capsys.readouterr().out
    assert "all gradients agree" in out and "encoder.0.W" in out


def test_gradcheck_command_fails_on_a_tiny_tolerance(capsys):
    assert main(["gradcheck", "--tol", "1e-30"]) == 1
    assert "FAIL" in capsys.readouterr().out


def test_train_command_writes_a_run_folder(tmp_path, capsys):
    assert main(["train", "--epochs", "5", "--out", str(tmp_path), "--quiet"]) == 0
    out = capsys.readouterr().out
    run = out.strip().splitlines()[-1].split("run folder: ")[1]
    assert sorted(os.listdir(run)) == ["loss_curve.png", "model.npz", "reconstructions.png"]
    model = numpyae.load(os.path.join(run, "model.npz"))
    assert model.input_dim == 64
    assert "validation" in out and "reconstruction MSE" in out


def test_module_entry_point_runs():
    proc = subprocess.run([sys.executable, "-m", "numpyae", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and "gradcheck" in proc.stdout


def test_code_dim_sets_the_code_size_of_the_generative_models(tmp_path, capsys):
    assert main(["train", "--model", "vae", "--code-dim", "3", "--epochs", "1", "--iw-samples", "5",
                 "--quiet", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "(3 mean, 3 log-variance), decoder 3-128-64" in out
    assert "(manifold.png needs --code-dim 2; skipped)" in out
    run = out.strip().splitlines()[-1].split("run folder: ")[1]
    assert numpyae.load(os.path.join(run, "model.npz")).code_dim == 3
    assert "manifold.png" not in os.listdir(run)
    # one name for the code size: --latent is gone (a usage error, exit status 2)
    assert main(["train", "--model", "vae", "--latent", "3"]) == 2
    assert "unrecognized arguments: --latent 3" in capsys.readouterr().err
