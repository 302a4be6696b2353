"""The command line's error contract, tried adversarially.

Every error ends in one line on stderr and never in a traceback: exit status 2 for a usage
error (a bad flag value, flags that do not go together, an output place that cannot be
written), found before the first training step and before any run folder is made; exit
status 1 for a failure at run time (a corrupt dataset or checkpoint, training that diverges).
An unexpected bug is one line too, naming its type and NUMPYAE_DEBUG=1 for the traceback.

Most cases run numpyae.apps.cli.main in-process; a few run `python -m numpyae` in a subprocess
to show what a user's terminal gets.
"""
import gzip
import os
import subprocess
import sys

import numpy as np
import pytest

import numpyae
from numpyae.apps import cli, train_regularized
from numpyae.io.files import read_checkpoint

TRACEBACK = "Traceback (most recent call last)"


def run(argv, capsys):
    """main(argv) in-process: (exit status, stdout, stderr). main returns its status; it never
    raises SystemExit, not even for argparse's own errors."""
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code, err, status, *names):
    """Exit `status`, no traceback, exactly one non-empty stderr line, which names every one of
    `names` and starts with "numpyae"."""
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == status, err
    assert TRACEBACK not in err
    assert len(lines) == 1, err
    assert lines[0].startswith("numpyae"), lines[0]
    for name in names:
        assert name in lines[0], (name, lines[0])
    return lines[0]


@pytest.fixture
def no_figures(monkeypatch):
    """No figures are drawn (a figure costs more than these tests' training); the printed
    report, the models and the checkpoints are unchanged."""
    for module in (cli, train_regularized):
        for name in dir(module):
            if name.startswith("plot_") or name == "save_figure":
                monkeypatch.setattr(module, name, lambda *args, **kwargs: None)


@pytest.fixture
def no_work(monkeypatch):
    """Every training entry point of the command line replaced by a recorder: a usage error
    must come before any of them is called."""
    calls = []

    def recorder(name):
        def called(*args, **kwargs):
            calls.append(name)
            raise AssertionError(f"{name} was called before the usage error")
        return called

    for module, name in ((cli, "fit"), (train_regularized, "fit"), (cli, "latent_size_study"),
                         (cli, "pretraining_study"), (cli, "run_all")):
        monkeypatch.setattr(module, name, recorder(f"{module.__name__}.{name}"))
    return calls


def run_folders(out):
    """The run folders made under --out (none if --out does not exist)."""
    if not os.path.isdir(out):
        return []
    return [d for d in os.listdir(out) if os.path.isdir(os.path.join(out, d))]


# ---- usage errors: exit 2, one line naming the flag, before any work ----------------------------

#: (argv without --out, the flag the message must name). {dir} is a folder, {file} a regular
#: file, {missing} a path that does not exist; all inside the test's tmp_path.
USAGE_CASES = [
    # train: numbers
    (["train", "--epochs", "0"], "--epochs"),
    (["train", "--epochs", "-5"], "--epochs"),
    (["train", "--epochs", "abc"], "--epochs"),
    (["train", "--epochs", "1.5"], "--epochs"),
    (["train", "--batch-size", "0"], "--batch-size"),
    (["train", "--batch-size", "-1"], "--batch-size"),
    (["train", "--lr", "nan"], "--lr"),
    (["train", "--lr", "inf"], "--lr"),
    (["train", "--lr", "1e400"], "--lr"),
    (["train", "--lr", "0"], "--lr"),
    (["train", "--lr", "-0.1"], "--lr"),
    (["train", "--lr", "fast"], "--lr"),
    (["train", "--seed", "-1"], "--seed"),
    (["train", "--seed", "1.5"], "--seed"),
    (["train", "--checkpoint-every", "0", "--checkpoint", "{dir}/ck.npz"], "--checkpoint-every"),
    (["train", "--checkpoint-every", "3"], "--checkpoint-every"),
    (["train", "--model", "vae", "--code-dim", "0"], "--code-dim"),
    (["train", "--model", "aae", "--code-dim", "-2"], "--code-dim"),
    (["train", "--model", "vae", "--code-dim", "1e3"], "--code-dim"),
    (["train", "--model", "aae", "--code-dim", "100000"], "--code-dim"),
    (["train", "--model", "aae", "--prior", "mixture", "--code-dim", "1"], "--code-dim"),
    (["train", "--model", "vae", "--iw-samples", "0"], "--iw-samples"),
    (["train", "--model", "vae", "--iw-samples", "1000000000"], "--iw-samples"),
    (["train", "--model", "vae", "--beta", "-1"], "--beta"),
    (["train", "--model", "cvae", "--beta", "nan"], "--beta"),
    (["train", "--model", "vae", "--kl-warmup", "-1"], "--kl-warmup"),
    (["train", "--model", "vae", "--likelihood", "poisson"], "--likelihood"),
    (["train", "--model", "aae", "--prior", "uniform"], "--prior"),
    (["train", "--model", "contractive", "--lam", "-0.1"], "--lam"),
    (["train", "--model", "contractive", "--lam", "inf"], "--lam"),
    (["train", "--model", "ksparse", "--ks", "0,abc"], "--ks"),
    (["train", "--model", "ksparse", "--ks", "5,5"], "--ks"),
    (["train", "--model", "ksparse", "--ks", "101"], "--ks"),
    (["train", "--model", "ksparse", "--ks", ""], "--ks"),
    (["train", "--model", "sparse", "--dataset", "patches", "--n-patches", "0"], "--n-patches"),
    (["train", "--model", "sparse", "--dataset", "patches", "--n-patches", "5"], "--n-patches"),
    # train: flags a model does not read, datasets it cannot use, unknown names
    (["train", "--n-patches", "100"], "--n-patches"),
    (["train", "--code-dim", "3"], "--code-dim"),
    (["train", "--model", "denoising", "--lam", "0.5"], "--lam"),
    (["train", "--model", "vae", "--prior", "mixture"], "--prior"),
    (["train", "--model", "aae", "--iw-samples", "5"], "--iw-samples"),
    (["train", "--model", "contractive", "--ks", "5"], "--ks"),
    (["train", "--data-dir", "{dir}"], "--data-dir"),
    (["train", "--dataset", "patches"], "--dataset"),
    (["train", "--model", "vae", "--dataset", "patches"], "--dataset"),
    (["train", "--model", "cvae", "--dataset", "patches"], "--dataset"),
    (["train", "--model", "aae", "--dataset", "patches"], "--dataset"),
    (["train", "--model", "sparse", "--dataset", "mnist"], "--dataset"),
    (["train", "--model", "denoising", "--dataset", "fashion-mnist"], "--dataset"),
    (["train", "--model", "contractive", "--dataset", "mnist"], "--dataset"),
    (["train", "--model", "ksparse", "--dataset", "mnist"], "--dataset"),
    (["train", "--dataset", "cifar"], "--dataset"),
    (["train", "--model", "nope"], "--model"),
    (["train", "--latent", "3"], "--latent"),
    # train: checkpoints and output places
    (["train", "--resume", "{missing}"], "--resume"),
    (["train", "--resume", "{dir}"], "--resume"),
    (["train", "--resume", ""], "--resume"),
    (["train", "--checkpoint", "{missing}/sub/ck.npz"], "--checkpoint"),
    (["train", "--checkpoint", "{dir}"], "--checkpoint"),
    (["train", "--checkpoint", "{file}/ck.npz"], "--checkpoint"),
    (["train", "--checkpoint", "/dev/null"], "--checkpoint"),
    (["train", "--resume", "/dev/null"], "--resume"),
    (["train", "--model", "ksparse", "--checkpoint", "{dir}/ck.npz"], "--checkpoint"),
    (["train", "--model", "ksparse", "--ks", "3,6", "--resume", "{file}"], "--resume"),
    # study
    (["study", "latent", "--epochs", "0"], "--epochs"),
    (["study", "pretraining", "--epochs", "-3"], "--epochs"),
    (["study", "pretraining", "--fractions", "-0.5"], "--fractions"),
    (["study", "pretraining", "--fractions", "0"], "--fractions"),
    (["study", "pretraining", "--fractions", "1"], "--fractions"),
    (["study", "pretraining", "--fractions", "1.5"], "--fractions"),
    (["study", "pretraining", "--fractions", "nan"], "--fractions"),
    (["study", "pretraining", "--fractions", "0.1", "0.1"], "--fractions"),
    (["study", "pretraining", "--hidden", "0"], "--hidden"),
    (["study", "pretraining", "--hidden", "100000", "100000"], "--hidden"),
    (["study", "pretraining", "--pretrain-epochs", "0"], "--pretrain-epochs"),
    (["study", "pretraining", "--activation", "nope"], "--activation"),
    (["study", "pretraining", "--sizes", "4"], "--sizes"),
    (["study", "latent", "--sizes", "0"], "--sizes"),
    (["study", "latent", "--sizes", "2", "2"], "--sizes"),
    (["study", "latent", "--sizes", "65"], "--sizes"),      # more than the 64 pixels
    (["study", "latent", "--probe-epochs", "0"], "--probe-epochs"),
    (["study", "latent", "--seeds", "0"], "--seeds"),
    (["study", "latent", "--seeds", "99999999999999999999999"], "--seeds"),
    (["study", "latent", "--seed", "-1"], "--seed"),
    (["study", "latent", "--fractions", "0.1"], "--fractions"),
    (["study", "latent", "--data-dir", "{dir}"], "--data-dir"),
    (["study", "latent", "--dataset", "cifar"], "--dataset"),
    (["study", "nope"], "study"),
    # trace and gradcheck
    (["trace", "--tol", "0"], "--tol"),
    (["trace", "--tol", "nan"], "--tol"),
    (["trace", "--seed", "-1"], "--seed"),
    (["trace", "--step", "abc"], "--step"),
    (["trace", "--step", "999"], "--step"),
    (["trace", "--model", "nope"], "--model"),
    (["gradcheck", "--tol", "-1"], "--tol"),
    (["gradcheck", "--tol", "inf"], "--tol"),
    (["gradcheck", "--seed", "-1"], "--seed"),
    (["gradcheck", "--seed", "x"], "--seed"),
    # the command itself
    ([], "command"),
    (["fly"], "fly"),
]


def _fill(argv, tmp_path):
    (tmp_path / "dir").mkdir(exist_ok=True)
    (tmp_path / "file").write_text("not a checkpoint")
    paths = {"dir": tmp_path / "dir", "file": tmp_path / "file", "missing": tmp_path / "missing"}
    return [a.format(**paths) for a in argv]


@pytest.mark.parametrize("argv, flag", USAGE_CASES,
                         ids=[" ".join(a) or "(nothing)" for a, _ in USAGE_CASES])
def test_cli_usage_error_is_one_line_exit_2_before_any_work(argv, flag, tmp_path, capsys,
                                                             no_work):
    argv = _fill(argv, tmp_path)
    out = tmp_path / "runs"
    if argv and argv[0] in ("train", "study"):
        argv += ["--out", str(out), "--quiet"]
    code, _, err = run(argv, capsys)
    line = assert_one_line_error(code, err, 2, flag)
    assert "error" in line
    assert no_work == []
    assert run_folders(out) == []


def test_cli_usage_error_reads_like_argparse(capsys):
    """The format of the issue: "numpyae <command>: error: <flag> must be ..., got <value>"."""
    code, _, err = run(["train", "--epochs", "0"], capsys)
    assert err == "numpyae train: error: --epochs must be a positive int, got 0\n"
    code, _, err = run(["study", "pretraining", "--fractions", "-0.5"], capsys)
    assert err == "numpyae study: error: --fractions must be a fraction in (0, 1), got -0.5\n"
    assert code == 2


def test_cli_help_still_works_in_process(capsys):
    code, out, _ = run(["train", "--help"], capsys)
    assert code == 0 and "--checkpoint" in out and "main model" in out


def test_unwritable_out_is_refused_before_training(tmp_path, capsys, no_work):
    """--out /proc/nope used to fail only after the training (defect 2)."""
    code, _, err = run(["train", "--epochs", "1", "--quiet", "--out", "/proc/nope"], capsys)
    assert_one_line_error(code, err, 2, "--out", "/proc/nope")
    (tmp_path / "plain").write_text("")
    for model in ("autoencoder", "denoising", "vae"):
        code, _, err = run(["train", "--model", model, "--epochs", "1", "--quiet", "--out",
                            tmp_path / "plain" / "runs"], capsys)
        assert_one_line_error(code, err, 2, "--out")
    code, _, err = run(["study", "latent", "--out", tmp_path / "plain"], capsys)
    assert_one_line_error(code, err, 2, "--out", "not a folder")
    assert no_work == []


def test_iw_samples_0_is_refused_before_training(tmp_path, capsys, no_work):
    """--iw-samples 0 used to fail only after the training (defect 2)."""
    code, _, err = run(["train", "--model", "vae", "--iw-samples", "0", "--epochs", "1",
                        "--quiet", "--out", tmp_path], capsys)
    assert_one_line_error(code, err, 2, "--iw-samples")
    assert no_work == [] and run_folders(tmp_path) == []


def test_out_is_created_when_missing(tmp_path, capsys, no_figures):
    out = tmp_path / "a" / "b"
    code, stdout, _ = run(["train", "--epochs", "1", "--quiet", "--out", out], capsys)
    assert code == 0 and len(run_folders(out)) == 1


# ---- study: 0 epochs is not 150, fractions lie in (0, 1) (defect 11) ---------------------------

def test_study_epochs_0_is_refused_not_150(tmp_path, capsys, no_work):
    code, _, err = run(["study", "latent", "--epochs", "0", "--out", tmp_path], capsys)
    assert_one_line_error(code, err, 2, "--epochs", "got 0")
    assert no_work == []


def test_study_fractions_must_lie_in_0_1(tmp_path, capsys, no_work):
    for bad in ("-0.5", "0", "1", "2"):
        code, _, err = run(["study", "pretraining", "--fractions", bad, "--out", tmp_path], capsys)
        assert_one_line_error(code, err, 2, "--fractions", "(0, 1)")
    assert no_work == []


# ---- failures at run time: exit 1, one line ------------------------------------------------------

def test_nonfinite_training_is_one_line_exit_1(tmp_path, capsys):
    """A NonFiniteError during training used to end in a traceback (defect 13)."""
    code, _, err = run(["train", "--lr", "1e30", "--epochs", "1", "--quiet", "--out", tmp_path],
                       capsys)
    line = assert_one_line_error(code, err, 1, "NonFiniteError", "epoch 1", "--lr")
    assert line.startswith("numpyae: error: training stopped at epoch 1, step ")
    assert run_folders(tmp_path) == []


def _write_corrupt_mnist(folder):
    os.makedirs(folder, exist_ok=True)
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"):
        with gzip.open(os.path.join(folder, name), "wb") as f:
            f.write(b"\x00\x00\x08\x03 this is not an IDX file")


def test_corrupt_mnist_file_is_one_line_exit_1(tmp_path, capsys):
    """A corrupt MNIST file used to end in a traceback (defect 13)."""
    data = tmp_path / "mnist"
    _write_corrupt_mnist(data)
    for argv in (["train", "--dataset", "mnist"], ["train", "--model", "vae", "--dataset", "mnist"],
                 ["study", "latent", "--dataset", "mnist"]):
        code, _, err = run(argv + ["--data-dir", data, "--offline", "--quiet", "--out",
                                   tmp_path / "runs"], capsys)
        assert_one_line_error(code, err, 1, "DatasetError", str(data), "-ubyte.gz")
    assert run_folders(tmp_path / "runs") == []


def test_train_falls_back_to_digits_with_a_one_line_note(tmp_path, capsys, no_figures):
    """MNIST not available: `train` says so in one line and uses the digits (defect 14)."""
    code, out, err = run(["train", "--dataset", "mnist", "--offline", "--data-dir",
                          tmp_path / "none", "--epochs", "1", "--quiet", "--out", tmp_path], capsys)
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 0 and len(lines) == 1 and TRACEBACK not in err
    assert lines[0].startswith("note: mnist is not available, falling back to the bundled 8x8 "
                               "digits")
    assert "train-images-idx3-ubyte.gz" in lines[0] and str(tmp_path / "none") in lines[0]
    assert "validation images (digits)" in out


def test_study_never_replaces_the_dataset_it_was_asked_for(tmp_path, capsys, no_work):
    """A study asked for MNIST does not quietly run on the digits: exit 1, one line (defect 14)."""
    for study in ("latent", "pretraining"):
        code, _, err = run(["study", study, "--dataset", "fashion-mnist", "--offline",
                            "--data-dir", tmp_path / "none", "--out", tmp_path / "runs"], capsys)
        assert_one_line_error(code, err, 1, "DatasetUnavailableError", str(tmp_path / "none"))
    assert no_work == [] and run_folders(tmp_path / "runs") == []


def _write_mnist(folder, n, classes=10):
    """A small valid MNIST training split (gzipped IDX files) of n random 28x28 images with
    the labels 0, 1, ..., classes - 1, 0, 1, ..."""
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = (np.arange(n) % classes).astype(np.uint8)
    for name, arr, kind in (("train-images-idx3-ubyte.gz", images, 3),
                            ("train-labels-idx1-ubyte.gz", labels, 1)):
        header = bytes([0, 0, 8, kind]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
        with gzip.open(os.path.join(folder, name), "wb") as f:
            f.write(header + arr.tobytes())


def test_study_runs_on_mnist_files(tmp_path, capsys, no_figures):
    _write_mnist(tmp_path / "mnist", 60)
    code, out, err = run(["study", "latent", "--dataset", "mnist", "--data-dir", tmp_path / "mnist",
                          "--sizes", "2", "--epochs", "1", "--probe-epochs", "1", "--seeds", "1",
                          "--quiet", "--out", tmp_path / "runs"], capsys)
    assert code == 0, err
    assert "latent-size study on mnist: 60 images" in out and "784-64-k-64-784" in out


def test_a_dataset_too_small_to_split_is_one_line_exit_1(tmp_path, capsys):
    _write_mnist(tmp_path / "mnist", 2)
    code, _, err = run(["train", "--dataset", "mnist", "--data-dir", tmp_path / "mnist",
                        "--quiet", "--out", tmp_path / "runs"], capsys)
    assert_one_line_error(code, err, 1, "--dataset mnist", "2 images")


def test_cvae_on_a_dataset_lacking_a_class_reports_numbers(tmp_path, capsys, no_figures):
    _write_mnist(tmp_path / "mnist", 27, classes=9)   # no 9s, no 0 or 6 in a small test split
    for model in ("cvae", "vae"):
        code, out, err = run(["train", "--model", model, "--dataset", "mnist", "--data-dir",
                              tmp_path / "mnist", "--epochs", "1", "--iw-samples", "2",
                              "--quiet", "--out", tmp_path / "runs"], capsys)
        assert code in (0, 1) and err == "", err   # 1: the ELBO did not fall in one epoch
        assert "nan" not in out


@pytest.mark.parametrize("model, skipped", [("vae", "latent_scatter.png"),
                                             ("aae", "codes_over_prior.png")])
def test_a_one_unit_code_skips_the_2d_figures_instead_of_failing_after_training(
        model, skipped, tmp_path, capsys):
    vae_only = ["--iw-samples", "2"] if model == "vae" else []
    code, out, err = run(["train", "--model", model, "--code-dim", "1", "--epochs", "1",
                          *vae_only, "--quiet", "--out", tmp_path], capsys)
    assert code in (0, 1) and err == "", err   # 1: a verdict of NO after one epoch
    assert f"({skipped} needs --code-dim 2 or more; skipped)" in out
    assert len(run_folders(tmp_path)) == 1


def test_corrupt_resume_file_is_one_line_exit_1(tmp_path, capsys):
    (tmp_path / "ck.npz").write_bytes(b"PK\x03\x04 not really a zip")
    code, _, err = run(["train", "--resume", tmp_path / "ck.npz", "--epochs", "1", "--quiet",
                        "--out", tmp_path / "runs"], capsys)
    assert_one_line_error(code, err, 1, str(tmp_path / "ck.npz"))
    assert run_folders(tmp_path / "runs") == []


def test_resume_of_another_model_is_one_line_exit_1(tmp_path, capsys, no_figures):
    ck = tmp_path / "ck.npz"
    assert run(["train", "--model", "contractive", "--epochs", "1", "--quiet", "--checkpoint", ck,
                "--out", tmp_path / "a"], capsys)[0] == 0
    code, _, err = run(["train", "--resume", ck, "--epochs", "2", "--quiet",
                        "--out", tmp_path / "b"], capsys)
    assert_one_line_error(code, err, 1, str(ck))
    assert run_folders(tmp_path / "b") == []


def test_internal_bug_is_one_line_naming_its_type_and_the_debug_variable(tmp_path, capsys,
                                                                        monkeypatch):
    def buggy(args):
        return [][0]
    monkeypatch.setitem(cli.TRAINERS, "autoencoder", buggy)
    code, _, err = run(["train", "--out", tmp_path], capsys)
    assert_one_line_error(code, err, 1, "internal error", "IndexError", "NUMPYAE_DEBUG=1")
    monkeypatch.setenv("NUMPYAE_DEBUG", "1")
    with pytest.raises(IndexError):
        cli.main(["train", "--out", str(tmp_path)])


def test_numpyae_debug_shows_the_traceback_of_a_documented_error(tmp_path, monkeypatch):
    monkeypatch.setenv("NUMPYAE_DEBUG", "1")
    with pytest.raises(numpyae.NonFiniteError):
        cli.main(["train", "--lr", "1e30", "--epochs", "1", "--quiet", "--out", str(tmp_path)])


def test_interrupt_is_one_line_exit_130_with_the_resume_hint(tmp_path, capsys, monkeypatch):
    ck = tmp_path / "ck.npz"
    ck.write_bytes(b"")

    def interrupted(args):
        raise KeyboardInterrupt
    monkeypatch.setitem(cli.TRAINERS, "autoencoder", interrupted)
    code, _, err = run(["train", "--checkpoint", ck, "--out", tmp_path], capsys)
    assert_one_line_error(code, err, 130, "interrupted", f"--resume {ck}")


# ---- the regularized trainers honour the checkpoint flags (defect 1) ----------------------------

REGULARIZED = {
    "sparse": (["--model", "sparse"], "SparseAutoencoder"),
    "denoising": (["--model", "denoising"], "DenoisingAutoencoder"),
    "contractive": (["--model", "contractive"], "ContractiveAutoencoder"),
    "ksparse": (["--model", "ksparse", "--ks", "5"], "KSparseAutoencoder"),
}


def _report(out):
    """The printed report without its run-folder line (the folder name has the time in it)."""
    return [line for line in out.splitlines() if not line.startswith("run folder:")]


@pytest.mark.parametrize("name", sorted(REGULARIZED))
def test_regularized_trainer_writes_and_resumes_its_checkpoint(name, tmp_path, capsys,
                                                               no_figures):
    """--checkpoint used to write nothing for these trainers, and --resume to be ignored."""
    flags, cls = REGULARIZED[name]
    base = ["train", *flags, "--quiet"]
    code, straight, _ = run(base + ["--epochs", "2", "--out", tmp_path / "straight"], capsys)
    assert code == 0
    ck = tmp_path / "ck.npz"
    code, _, err = run(base + ["--epochs", "1", "--checkpoint", ck, "--out", tmp_path / "first"],
                       capsys)
    assert code == 0 and err == ""
    assert read_checkpoint(ck).epoch == 1
    assert type(numpyae.load(ck)).__name__ == cls
    code, resumed, err = run(base + ["--epochs", "2", "--resume", ck, "--checkpoint", ck,
                                     "--out", tmp_path / "resumed"], capsys)
    if name == "ksparse":
        # its k schedule spans the first half of --epochs, so a 1-epoch run is not the first
        # epoch of a 2-epoch one: the resume must be refused, naming what differs
        assert code == 1 and "schedule_steps" in err and len(err.strip().splitlines()) == 1
        return
    assert code == 0 and read_checkpoint(ck).epoch == 2
    assert _report(resumed) == _report(straight)  # the same numbers as an uninterrupted run
    # the checkpoint is really read: 2 epochs done, 1 asked for, is refused at run time
    code, _, err = run(base + ["--epochs", "1", "--resume", ck, "--out", tmp_path / "fewer"],
                       capsys)
    assert_one_line_error(code, err, 1, "epochs")
    assert run_folders(tmp_path / "fewer") == []


def test_regularized_trainers_honour_checkpoint_every(tmp_path, capsys, monkeypatch,
                                                       no_figures):
    written = []
    real_fit = train_regularized.fit

    def spy(*args, **kwargs):
        written.append((kwargs.get("checkpoint"), kwargs.get("checkpoint_every"),
                        kwargs.get("resume")))
        return real_fit(*args, **kwargs)
    monkeypatch.setattr(train_regularized, "fit", spy)
    ck = str(tmp_path / "ck.npz")
    assert run(["train", "--model", "denoising", "--epochs", "1", "--checkpoint", ck,
                "--checkpoint-every", "3", "--quiet", "--out", tmp_path], capsys)[0] == 0
    # the denoising model is checkpointed, its vanilla twin is not
    assert written == [(ck, 3, None), (None, None, None)]


def test_ksparse_with_several_k_refuses_checkpoint_flags(tmp_path, capsys, no_work):
    code, _, err = run(["train", "--model", "ksparse", "--ks", "3,6", "--checkpoint",
                        tmp_path / "ck.npz", "--out", tmp_path], capsys)
    assert_one_line_error(code, err, 2, "--checkpoint", "single --ks")
    assert not (tmp_path / "ck.npz").exists() and no_work == []


def test_help_says_which_model_is_checkpointed(capsys):
    _, out, _ = run(["train", "--help"], capsys)
    text = " ".join(out.split())
    assert "twin they compare with retrains from the seed" in text
    assert "ksparse needs a single --ks value" in text


# ---- end to end: what a terminal shows -----------------------------------------------------------

@pytest.mark.parametrize("argv, status, name", [
    (["train", "--epochs", "0"], 2, "--epochs"),
    (["train", "--resume", "missing.npz"], 2, "--resume"),
    (["study", "pretraining", "--fractions", "-0.5"], 2, "--fractions"),
    (["train", "--lr", "1e30", "--epochs", "1", "--quiet"], 1, "NonFiniteError"),
])
def test_python_m_numpyae_ends_errors_in_one_line(argv, status, name, tmp_path):
    env = {**os.environ, "MPLBACKEND": "Agg"}
    env.pop("NUMPYAE_DEBUG", None)
    proc = subprocess.run([sys.executable, "-m", "numpyae", *argv, "--out", str(tmp_path)],
                          capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)
    assert_one_line_error(proc.returncode, proc.stderr, status, name)
    assert run_folders(tmp_path) == []


def test_python_m_numpyae_debug_variable_shows_the_traceback(tmp_path):
    env = {**os.environ, "MPLBACKEND": "Agg", "NUMPYAE_DEBUG": "1"}
    proc = subprocess.run([sys.executable, "-m", "numpyae", "train", "--lr", "1e30", "--epochs",
                           "1", "--quiet", "--out", str(tmp_path)],
                          capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)
    assert proc.returncode == 1 and TRACEBACK in proc.stderr and "NonFiniteError" in proc.stderr
