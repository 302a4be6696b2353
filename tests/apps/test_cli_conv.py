"""`python -m numpyae train --model conv`: the convolutional autoencoder against the dense one
with the same number of parameters (numpyae.apps.cli.train_conv).

Runs with --epochs 1 or 2: the printed report, the run folder (model, reconstructions of both
models, the first layer's filters, the loss curves), MNIST from IDX files and the fallback to
the digits, the flags it reads and the ones it refuses before any work, and a resumed run
printing what an uninterrupted one prints.
"""
import gzip
import os
import re

import numpy as np
import pytest

import numpyae
from numpyae.apps import cli
from numpyae.models.autoencoder import mlp_autoencoder
from numpyae.models.conv import conv_autoencoder
from numpyae.nn.conv import Conv2D

TRACEBACK = "Traceback (most recent call last)"


def run(argv, capsys):
    """main(argv) in-process: (exit status, stdout, stderr)."""
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def run_folder(out):
    """The run folder a trainer printed last."""
    return out.strip().splitlines()[-1].split("run folder: ")[1]


def run_folders(base):
    return [d for d in os.listdir(base)] if os.path.isdir(base) else []


def report_lines(out):
    """The lines of the report that do not depend on the clock (not the training time)."""
    return [line for line in out.splitlines()
            if "training took" not in line and not line.startswith("run folder")]


def write_mnist(folder, n):
    """A small valid MNIST training split (gzipped IDX files) of n random 28x28 images."""
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = (np.arange(n) % 10).astype(np.uint8)
    for name, arr, kind in (("train-images-idx3-ubyte.gz", images, 3),
                            ("train-labels-idx1-ubyte.gz", labels, 1)):
        header = bytes([0, 0, 8, kind]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
        with gzip.open(os.path.join(folder, name), "wb") as f:
            f.write(header + arr.tobytes())


@pytest.fixture
def no_work(monkeypatch):
    """fit replaced by a recorder that fails: a usage error must come before any training."""
    calls = []

    def fit(*args, **kwargs):
        calls.append("fit")
        raise AssertionError("fit was called before the usage error")

    monkeypatch.setattr(cli, "fit", fit)
    return calls


# ---- the same number of parameters ---------------------------------------------------------------

@pytest.mark.parametrize("image, channels, code, n_conv, hidden, n_dense", [
    ((8, 8), (8, 16), 16, 4609, 28, 4616),
    ((28, 28), (16, 32), 32, 111521, 68, 111928)])
def test_the_dense_twin_has_the_nearest_parameter_count(image, channels, code, n_conv, hidden,
                                                        n_dense):
    assert cli.CONV_SHAPES[image] == (channels, code)
    conv = conv_autoencoder(image, channels, code, rng=0)
    assert conv.n_parameters() == n_conv
    D = image[0] * image[1]
    sizes = cli.dense_twin_sizes(n_conv, D, code)
    assert sizes == [D, hidden, code]
    counts = {h: mlp_autoencoder([D, h, code]).n_parameters() for h in (hidden - 1, hidden,
                                                                         hidden + 1)}
    assert counts[hidden] == n_dense
    assert min(counts, key=lambda h: abs(counts[h] - n_conv)) == hidden


# ---- the run on the digits -----------------------------------------------------------------------

def test_train_conv_on_the_digits_prints_both_models_and_writes_its_run_folder(tmp_path,
                                                                              capsys):
    code, out, err = run(["train", "--model", "conv", "--epochs", "2", "--quiet", "--out",
                          tmp_path], capsys)
    assert code == 0, err
    assert err == ""                                         # --quiet: no progress bar
    assert ("conv autoencoder: 4,609 parameters, 8x8x1 -> 4x4x8 -> 2x2x16 -> 16 (Conv2D 3x3 "
            "stride 2 relu, then Dense)") in out
    assert "dense autoencoder: 4,616 parameters, 64-28-16-28-64 relu" in out
    assert ("both: BCE on logits, Adam lr 0.003, 2 epochs of 32, seed 0; 1438 train / 359 test "
            "images (digits)") in out
    rows = {m.group(1): (float(m.group(2)), float(m.group(3)))
            for m in re.finditer(r"^  (conv|dense) +([\d.]+) +([\d.]+)$", out, re.M)}
    assert set(rows) == {"conv", "dense"}
    assert re.search(r"conv vs dense with the same number of parameters: test MSE "
                     rf"{rows['conv'][1]:.5f} vs {rows['dense'][1]:.5f} \((NOT )?lower", out)
    run_dir = run_folder(out)
    assert sorted(os.listdir(run_dir)) == ["filters.png", "loss_curve.png", "model.npz",
                                           "reconstructions.png"]
    model = numpyae.load(os.path.join(run_dir, "model.npz"))
    assert isinstance(model.encoder[1], Conv2D) and model.n_parameters() == 4609
    assert model.input_dim == 64 and model.code_dim == 16
    # the printed test errors are the saved model's
    X, y = numpyae.data.datasets.load_digits()
    _, X_te, _, _ = numpyae.data.datasets.train_validation_split(X, y, fraction=0.2, rng=0)
    assert model.evaluate(X_te)["loss"] == pytest.approx(rows["conv"][0], abs=5e-5)


def test_the_filter_picture_shows_the_first_convolution_and_the_reconstructions_both_models(
        tmp_path, capsys, monkeypatch):
    drawn = {}
    monkeypatch.setattr(cli, "plot_filters", lambda W, shape, **kw: drawn.update(
        filters=(np.array(W), shape)))
    monkeypatch.setattr(cli, "plot_image_rows", lambda rows, **kw: drawn.update(
        rows=(np.array(rows), kw["row_labels"])))
    monkeypatch.setattr(cli, "plot_history", lambda *args, **kw: None)
    monkeypatch.setattr(cli, "save_figure", lambda *args: None)
    code, out, err = run(["train", "--model", "conv", "--epochs", "1", "--quiet", "--out",
                          tmp_path], capsys)
    assert code == 0, err
    model = numpyae.load(os.path.join(run_folder(out), "model.npz"))
    W, shape = drawn["filters"]
    assert shape == (3, 3) and W.shape == (9, 8)
    for o in range(8):       # tile o is model.encoder[1].W.value[:, :, 0, o], row-major
        np.testing.assert_array_equal(W[:, o].reshape(3, 3), model.encoder[1].W.value[:, :, 0, o])
    rows, labels = drawn["rows"]
    assert labels == ["test", "conv", "dense"] and rows.shape == (3, 12, 64)
    np.testing.assert_allclose(rows[1], model.reconstruct(rows[0]), atol=1e-6)


def test_train_conv_reads_epochs_batch_size_lr_and_seed(tmp_path, capsys):
    code, out, err = run(["train", "--model", "conv", "--epochs", "1", "--batch-size", "64",
                          "--lr", "0.01", "--seed", "3", "--quiet", "--out", tmp_path], capsys)
    assert code == 0, err
    assert "Adam lr 0.01, 1 epochs of 64, seed 3; 1438 train / 359 test" in out
    first = report_lines(out)
    code, out, _ = run(["train", "--model", "conv", "--epochs", "1", "--batch-size", "64",
                        "--lr", "0.01", "--seed", "4", "--quiet", "--out", tmp_path], capsys)
    assert code == 0 and report_lines(out) != first         # another seed, other numbers


@pytest.mark.parametrize("dataset, epochs", [("digits", 300), ("mnist", 10),
                                             ("fashion-mnist", 10)])
def test_train_conv_defaults_depend_on_the_dataset(dataset, epochs, tmp_path):
    args = cli.build_parser().parse_args(["train", "--model", "conv", "--dataset", dataset,
                                          "--out", str(tmp_path)])
    cli.check_train_arguments(args)
    assert (args.epochs, args.batch_size, args.lr) == (epochs, 32, 3e-3)
    args = cli.build_parser().parse_args(["train", "--model", "autoencoder", "--out",
                                          str(tmp_path)])
    cli.check_train_arguments(args)
    assert args.epochs == cli.TRAIN_DEFAULTS["epochs"]      # other models keep theirs


# ---- MNIST ---------------------------------------------------------------------------------------

def test_train_conv_on_mnist_files_uses_the_28x28_architecture(tmp_path, capsys):
    write_mnist(tmp_path / "mnist", 40)
    code, out, err = run(["train", "--model", "conv", "--dataset", "mnist", "--data-dir",
                          tmp_path / "mnist", "--epochs", "1", "--quiet", "--out",
                          tmp_path / "runs"], capsys)
    assert code == 0, err
    assert ("conv autoencoder: 111,521 parameters, 28x28x1 -> 14x14x16 -> 7x7x32 -> 32") in out
    assert "dense autoencoder: 111,928 parameters, 784-68-32-68-784 relu" in out
    assert "32 train / 8 test images (mnist)" in out
    model = numpyae.load(os.path.join(run_folder(out), "model.npz"))
    assert model.input_dim == 784 and model.encoder[1].W.value.shape == (3, 3, 1, 16)


def test_train_conv_falls_back_to_the_digits_with_a_one_line_note(tmp_path, capsys):
    code, out, err = run(["train", "--model", "conv", "--dataset", "mnist", "--offline",
                          "--data-dir", tmp_path / "none", "--epochs", "1", "--quiet", "--out",
                          tmp_path / "runs"], capsys)
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 0 and len(lines) == 1 and TRACEBACK not in err
    assert lines[0].startswith("note: mnist is not available, falling back to the bundled 8x8 "
                               "digits")
    assert "4,609 parameters, 8x8x1" in out and "images (digits)" in out


# ---- flags it does not read: refused before any work ---------------------------------------------

@pytest.mark.parametrize("argv, names", [
    (["--code-dim", "3"], ["--code-dim", "conv"]),
    (["--likelihood", "gaussian"], ["--likelihood", "conv"]),
    (["--beta", "2"], ["--beta", "conv"]),
    (["--kl-warmup", "5"], ["--kl-warmup", "conv"]),
    (["--iw-samples", "5"], ["--iw-samples", "conv"]),
    (["--prior", "mixture"], ["--prior", "conv"]),
    (["--lam", "0.5"], ["--lam", "conv"]),
    (["--ks", "5"], ["--ks", "conv"]),
    (["--dataset", "patches"], ["--dataset", "patches", "conv"]),
    (["--n-patches", "100"], ["--n-patches"]),
    (["--data-dir", "{tmp}"], ["--data-dir", "digits"]),
    (["--checkpoint-every", "2"], ["--checkpoint-every", "--checkpoint"]),
    (["--checkpoint", "{tmp}/no/such/folder/ck.npz"], ["--checkpoint", "does not exist"]),
    (["--epochs", "0"], ["--epochs"]),
    (["--lr", "-1"], ["--lr"]),
    (["--batch-size", "x"], ["--batch-size"]),
])
def test_train_conv_refuses_flags_it_does_not_read_before_any_work(argv, names, tmp_path,
                                                                   capsys, no_work):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    code, _, err = run(["train", "--model", "conv", *argv, "--out", tmp_path / "runs"], capsys)
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and TRACEBACK not in err, err
    assert lines[0].startswith("numpyae")
    for name in names:
        assert name in lines[0], (name, lines[0])
    assert no_work == [] and run_folders(tmp_path / "runs") == []


# ---- checkpoint and resume -----------------------------------------------------------------------

def test_a_resumed_conv_run_prints_what_an_uninterrupted_one_prints(tmp_path, capsys):
    ck = tmp_path / "ck.npz"
    base = ["train", "--model", "conv", "--quiet", "--batch-size", "64", "--out", tmp_path]
    code, whole, err = run(base + ["--epochs", "2"], capsys)
    assert code == 0, err
    code, _, err = run(base + ["--epochs", "1", "--checkpoint", ck], capsys)
    assert code == 0 and ck.is_file(), err
    code, resumed, err = run(base + ["--epochs", "2", "--resume", ck, "--checkpoint", ck], capsys)
    assert code == 0, err
    assert report_lines(resumed) == report_lines(whole)
    first = numpyae.load(os.path.join(run_folder(whole), "model.npz"))
    second = numpyae.load(os.path.join(run_folder(resumed), "model.npz"))
    for (name, p), (_, q) in zip(first.named_parameters(), second.named_parameters()):
        np.testing.assert_array_equal(p.value, q.value, err_msg=name)


def test_a_conv_checkpoint_refuses_a_resume_with_another_batch_size(tmp_path, capsys):
    ck = tmp_path / "ck.npz"
    base = ["train", "--model", "conv", "--quiet", "--out", tmp_path / "runs"]
    assert run(base + ["--epochs", "1", "--checkpoint", ck], capsys)[0] == 0
    assert len(run_folders(tmp_path / "runs")) == 1
    code, _, err = run(base + ["--epochs", "2", "--resume", ck, "--batch-size", "16"], capsys)
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 1 and len(lines) == 1 and TRACEBACK not in err, err
    assert "batch_size: 32 in the checkpoint, 16 in this run" in lines[0]
    assert len(run_folders(tmp_path / "runs")) == 1            # no run folder for it
