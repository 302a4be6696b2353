"""The battery's "CLI" area: `python -m numpyae ...` run in-process (numpyae.apps.cli.main),
every case in a fresh working folder, the network unreachable.

The command line ends every error in one line on stderr: exit status 2 for a usage error, 1 for
a failure at run time, never a traceback (an exception escaping main() is one), and a usage error
comes before any training step (a refusal after training loses the training). A flag that is
accepted must be honoured: --checkpoint writes its file, --resume resumes (or refuses), --dataset
mnist trains on MNIST's 784 pixels.

Covered: every flag of train / gradcheck / trace / study given junk (0, negatives, NaN, inf,
words, empty strings, out-of-range values), the exact inputs of the robustness issue (defects 1,
2, 11, 13), unreadable data, resumes with other settings, and junk drawn by Hypothesis for the
cheap subcommands.
"""
import glob
import gzip
import itertools
import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import numpyae
from robustness_helpers import SETTINGS, Battery

battery = Battery("CLI")

FAST = ["--epochs", "1", "--quiet", "--out", "runs"]
_counter = itertools.count()


def idx_bytes(arr):
    return bytes([0, 0, 8, arr.ndim]) + b"".join(int(s).to_bytes(4, "big") for s in arr.shape) \
        + arr.tobytes()


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """A folder with a small valid MNIST (40 train, 10 test images), a corrupt one, a saved
    model, and a corrupt .npz."""
    root = tmp_path_factory.mktemp("cli")
    rng = np.random.default_rng(0)
    for name, n in (("train", 40), ("t10k", 10)):
        for kind, arr in (("images-idx3", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)),
                          ("labels-idx1", (np.arange(n) % 10).astype(np.uint8))):
            (root / "mnist").mkdir(exist_ok=True)
            (root / "mnist" / f"{name}-{kind}-ubyte.gz").write_bytes(gzip.compress(idx_bytes(arr)))
    (root / "corrupt").mkdir()
    for f in os.listdir(root / "mnist"):
        raw = (root / "mnist" / f).read_bytes()
        (root / "corrupt" / f).write_bytes(raw[:len(raw) // 2] if "images" in f else raw)
    numpyae.save(numpyae.mlp_autoencoder([64, 32, 16], rng=0), root / "model.npz")
    (root / "corrupt.npz").write_bytes(b"PK\x03\x04 not really a zip")
    (root / "a_file").write_text("not a folder")
    return root


def new_case(work):
    """A fresh working folder for one command line."""
    cwd = work / f"case{next(_counter)}"
    cwd.mkdir()
    return cwd


def run(work, argv, cwd=None, **kw):
    """One command line in a fresh folder under work (or cwd); `{work}` in argv is replaced."""
    cwd = cwd or new_case(work)
    argv = [a.replace("{work}", str(work)) for a in argv]
    return battery.cli(argv, cwd=cwd, **kw)


def _checkpoint_written(cwd, name="ck.npz"):
    """data lost if --checkpoint <name> was not written (or does not load)."""
    def lost():
        path = cwd / name
        if not path.exists():
            return f"--checkpoint {name} asked for, nothing written"
        try:
            numpyae.load(path)
        except Exception as exc:  # noqa: BLE001
            return f"--checkpoint {name} written but unreadable: {type(exc).__name__}: {exc}"
        return None
    return lost


def _trained_on_mnist(cwd):
    """silent garbage if the run folder's models do not take MNIST's 784 pixels."""
    def check(out, err):
        files = glob.glob(os.path.join(cwd, "runs", "*", "*.npz"))
        if not files:
            return "no model file in the run folder"
        for f in files:
            model = numpyae.load(f)
            if model.input_dim != 784:
                return (f"--dataset mnist accepted, but {os.path.basename(f)} has "
                        f"{model.input_dim} inputs: it trained on something else")
        return None
    return check


# ---- the issue's exact inputs ------------------------------------------------------------------

REGULARIZED = ["sparse", "denoising", "contractive", "ksparse"]
EXTRA = {"ksparse": ["--ks", "5"], "sparse": [], "denoising": [], "contractive": []}


def test_regularized_trainers_honour_their_flags(work):
    """train --model sparse|denoising|contractive|ksparse: --checkpoint writes its file, --resume
    of a missing file is refused, --dataset mnist trains on MNIST (issue defect 1)."""
    for model in REGULARIZED:
        base = ["train", "--model", model, *EXTRA[model], *FAST]
        cwd = new_case(work)
        run(work, base + ["--checkpoint", "ck.npz"], cwd=cwd, valid=True, defect=1,
            lost=_checkpoint_written(cwd))
        run(work, base + ["--resume", "missing.npz"], valid=False, codes=(1, 2),
            names=["missing.npz", "--resume"], defect=1)
        cwd = new_case(work)
        run(work, base + ["--dataset", "mnist", "--data-dir", "{work}/mnist", "--offline"],
            cwd=cwd, valid=None, codes=(2,), names=["--dataset", "mnist"], defect=1,
            check=_trained_on_mnist(cwd))


def test_output_places_are_checked_before_training(work):
    """--out /proc/nope and --iw-samples 0 failed after training (issue defect 2)."""
    run(work, ["train", *FAST[:-2], "--out", "/proc/nope"], valid=False, codes=(1, 2),
        names=["/proc/nope", "--out"], defect=2)
    run(work, ["train", *FAST[:-2], "--out", "{work}/a_file"], valid=False, codes=(1, 2),
        names=[str(work / "a_file"), "--out"], defect=2)
    run(work, ["train", "--model", "vae", *FAST, "--iw-samples", "0"], valid=False,
        names=["--iw-samples"], defect=2)
    run(work, ["train", *FAST, "--checkpoint", "/no/such/ck.npz"], valid=False, codes=(1, 2),
        names=["/no/such/ck.npz", "--checkpoint"], defect=2)


def test_study_arguments(work):
    """study --epochs 0 became 150; study --fractions -0.5 was accepted (issue defect 11)."""
    latent = ["study", "latent", "--sizes", "2", "--seeds", "1", "--probe-epochs", "1",
              "--quiet", "--out", "runs"]
    pretraining = ["study", "pretraining", "--seeds", "1", "--epochs", "1",
                   "--pretrain-epochs", "1", "--hidden", "8", "--quiet", "--out", "runs"]
    run(work, latent + ["--epochs", "0"], valid=False, names=["--epochs"], defect=11)
    run(work, pretraining + ["--fractions", "-0.5"], valid=False, names=["--fractions"],
        defect=11)
    for flag, value in (("--epochs", "-1"), ("--sizes", "0"), ("--sizes", "-2"), ("--seeds", "0"),
                        ("--probe-epochs", "0"), ("--epochs", "x")):
        run(work, latent + ([] if flag == "--epochs" else ["--epochs", "1"]) + [flag, value],
            valid=False, names=[flag])
    for flag, value in (("--fractions", "0"), ("--fractions", "1.5"), ("--fractions", "nan"),
                        ("--fractions", "x"), ("--hidden", "0"), ("--hidden", "-8"),
                        ("--pretrain-epochs", "0"), ("--activation", "bogus"),
                        ("--seeds", "-1"), ("--epochs", "0")):
        run(work, pretraining + [flag, value], valid=False, names=[flag])
    run(work, latent + ["--epochs", "1"], valid=True)
    run(work, pretraining, valid=True)


def test_issue_tracebacks(work):
    """The command lines that ended in a Python traceback (issue defect 13)."""
    cases = [
        (["train", "--quiet", "--out", "runs", "--epochs", "0"], (2,), ["--epochs"]),
        (["train", *FAST, "--batch-size", "0"], (2,), ["--batch-size"]),
        (["train", *FAST, "--lr", "nan"], (2,), ["--lr"]),
        (["train", *FAST, "--seed", "-1"], (2,), ["--seed"]),
        (["train", *FAST, "--checkpoint", "ck.npz", "--checkpoint-every", "0"], (2,),
         ["--checkpoint-every"]),
        (["train", *FAST, "--latent", "0"], (2,), ["--latent"]),
        (["train", "--model", "vae", *FAST, "--code-dim", "0"], (2,), ["--code-dim"]),
        (["train", "--model", "ksparse", *FAST, "--ks", "0,abc"], (2,), ["--ks"]),
        (["train", *FAST, "--resume", "missing.npz"], (1, 2), ["missing.npz", "--resume"]),
        (["train", *FAST, "--dataset", "mnist", "--data-dir", "{work}/corrupt", "--offline"],
         (1, 2), [str(work / "corrupt")]),
        (["train", *FAST, "--lr", "1e30", "--epochs", "2"], (1,), ["epoch", "--lr"]),
    ]
    for argv, codes, names in cases:
        run(work, argv, valid=False, codes=codes, names=names, defect=13,
            before_work="--lr" not in argv or "nan" in argv)
    for model, extra in (("autoencoder", []), ("vae", ["--iw-samples", "5"])):
        run(work, ["train", "--model", model, *FAST, *extra, "--dataset", "patches",
                   "--n-patches", "300"],
            valid=None, names=["--dataset", "patches"], defect=13)


# ---- every flag given junk -------------------------------------------------------------------------

T, F, E = True, False, None  # valid, invalid, either
JUNK_TABLE = [
    # (argv before the flag, flag, {value: validity})
    (["train", "--quiet", "--out", "runs"], "--epochs",
     {"0": F, "-1": F, "abc": F, "1.5": F, "": F, "nan": F, "1e3": F}),
    (["train", *FAST], "--batch-size", {"0": F, "-3": F, "x": F, "2.5": F, "100000": T}),
    (["train", *FAST], "--lr", {"nan": F, "inf": F, "-inf": F, "-0.01": F, "0": F, "abc": F,
                                "1e309": F, "0.01": T}),
    (["train", *FAST], "--seed", {"-1": F, "x": F, "1.5": F, "7": T}),
    (["train", *FAST, "--checkpoint", "ck.npz"], "--checkpoint-every",
     {"0": F, "-2": F, "x": F, "3": T}),
    (["train", "--model", "vae", *FAST, "--iw-samples", "5"], "--code-dim",
     {"0": F, "-1": F, "x": F}),
    (["train", "--model", "vae", *FAST, "--iw-samples", "5"], "--beta",
     {"-1": F, "nan": F, "inf": F, "x": F}),
    (["train", "--model", "vae", *FAST, "--iw-samples", "5"], "--kl-warmup",
     {"-1": F, "x": F, "1.5": F}),
    (["train", "--model", "vae", *FAST], "--iw-samples", {"-1": F, "x": F}),
    (["train", "--model", "contractive", *FAST], "--lam",
     {"-1": F, "nan": F, "inf": F, "x": F}),
    (["train", "--model", "sparse", "--dataset", "patches", *FAST], "--n-patches",
     {"0": F, "-5": F, "x": F}),   # a valid count is run by tests/apps (its exit is a verdict)
    (["train", "--model", "ksparse", *FAST], "--ks",
     {"0": F, "": F, "5,200": F, "-3": F, "x": F, "3": T}),
    (["train", *FAST], "--likelihood", {"bogus": F}),
    (["train", *FAST], "--prior", {"bogus": F}),
    (["train", *FAST], "--dataset", {"bogus": F, "MNIST": F}),
    (["train", *FAST], "--model", {"bogus": F, "": F}),
    (["train", *FAST], "--resume", {"{work}/model.npz": F, "{work}/corrupt.npz": F,
                                    "{work}": F}),
    (["train", *FAST], "--checkpoint", {"/proc/nope.npz": F, "{work}": F,
                                        "{work}/a_file/ck.npz": F}),
    (["train", *FAST, "--dataset", "mnist", "--offline"], "--data-dir",
     {"{work}/a_file": E, "{work}/no_such_folder": T}),
    (["gradcheck"], "--tol", {"nan": F, "-1": F, "x": F, "inf": E}),
    (["gradcheck"], "--seed", {"-1": F, "x": F}),
    (["trace"], "--model", {"bogus": F, "": F}),
    (["trace"], "--step", {"999": F, "-999": F, "x": F, "2": T}),
    (["trace"], "--tol", {"nan": F, "-1": F, "x": F}),
    (["trace"], "--seed", {"-1": F, "x": F, "3": T}),
]


def _table_cases():
    for prefix, flag, values in JUNK_TABLE:
        for value, valid in values.items():
            yield prefix, flag, value, valid


def test_every_flag_given_junk(work):
    for prefix, flag, value, valid in _table_cases():
        names = [flag, flag.lstrip("-"), value.replace("{work}", str(work))] if value else [flag]
        codes = (2,) if not any(k in flag for k in ("--resume", "--data-dir")) else (1, 2)
        cwd = new_case(work)
        lost = _checkpoint_written(cwd) if "--checkpoint" in prefix and valid else None
        run(work, prefix + [flag, value], cwd=cwd, valid=valid, names=names, codes=codes,
            lost=lost)


def test_usage(work):
    for argv, valid in (([], F), (["bogus"], F), (["--help"], T), (["train", "--help"], T),
                        (["study"], F), (["study", "bogus"], F), (["train", "--epochs"], F),
                        (["trace", "--list"], T)):
        run(work, argv, valid=valid, names=["command", "study", "bogus", "--epochs", "usage"],
            codes=(2,))


def test_resume_from_the_command_line(work):
    """A checkpoint written by `train --checkpoint` resumes with the same flags, and is refused
    with other ones."""
    cwd = new_case(work)
    base = ["train", "--quiet", "--out", "runs"]
    run(work, base + ["--epochs", "1", "--checkpoint", "ck.npz"], cwd=cwd, valid=True,
        lost=_checkpoint_written(cwd))
    run(work, base + ["--epochs", "2", "--resume", "ck.npz", "--checkpoint", "ck.npz"], cwd=cwd,
        valid=True, lost=_checkpoint_written(cwd))
    # another --seed is another train/validation split of the digits: other data
    for flag, value, names in (("--batch-size", "7", ["--batch-size", "batch_size", "batch size"]),
                               ("--lr", "0.01", ["--lr", "lr"]),
                               ("--seed", "3", ["--seed", "seed", "rng", "data", "X"])):
        run(work, base + ["--epochs", "3", "--resume", "ck.npz", flag, value], cwd=cwd,
            valid=False, codes=(1, 2), names=names + ["ck.npz"], defect=7)


# ---- junk drawn by Hypothesis for the cheap subcommands --------------------------------------------

JUNK_TEXT = st.one_of(
    st.integers(-10 ** 20, 10 ** 20).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["", " ", "0x10", "1e400", "-0", "+3", "1_000", "٣", "None", "--", "-h"]),
    st.text(min_size=1, max_size=6))


def _int_text(text):
    try:
        return int(text)
    except ValueError:
        return None


def _float_text(text):
    try:
        return float(text)
    except ValueError:
        return None


@settings(max_examples=120, **SETTINGS)
@given(flag=st.sampled_from(["--seed", "--step", "--tol", "--model"]), text=JUNK_TEXT)
def test_trace_junk(work, flag, text):
    """`trace` is cheap: any junk for its flags, with validity computed from the text."""
    if text.startswith("-") and _float_text(text) is None:
        return  # argparse reads it as another option: not a value for the flag
    if flag == "--seed":
        v = _int_text(text)
        valid = v is not None and 0 <= v < 2 ** 63
    elif flag == "--step":
        v = _int_text(text)
        valid = None if v is not None and -50 < v < 50 else False
    elif flag == "--tol":
        v = _float_text(text)
        if v is not None and np.isfinite(v) and v >= 0:
            return  # a valid tolerance: exit 1 is then a verdict, not a refusal
        valid = False
    else:
        valid = text in ("autoencoder", "vae", "sparse")
    run(work, ["trace", flag, text], valid=valid, names=[flag, repr(text), text.strip() or flag],
        codes=(2,))


@settings(max_examples=60, **SETTINGS)
@given(flag=st.sampled_from(["--epochs", "--batch-size", "--lr", "--seed", "--code-dim",
                             "--iw-samples", "--kl-warmup", "--checkpoint-every"]),
       text=JUNK_TEXT)
def test_train_junk(work, flag, text):
    """`train` with one numeric flag spoiled: only values that must be refused are drawn (a
    valid value would train), and each must be refused before training."""
    if text.startswith("-") and _float_text(text) is None:
        return
    if flag in ("--lr",):
        v = _float_text(text)
        if v is not None and np.isfinite(v) and v > 0:
            return  # valid: not drawn here
    elif flag == "--seed":
        v = _int_text(text)
        if v is not None and v >= 0:
            return
    elif flag == "--kl-warmup":
        v = _int_text(text)
        if v is not None and v >= 0:
            return
    else:
        v = _int_text(text)
        if v is not None and v > 0:
            return
    prefix = ["train", "--quiet", "--out", "runs"]
    if flag != "--epochs":
        prefix += ["--epochs", "1"]
    if flag in ("--code-dim", "--iw-samples", "--kl-warmup"):
        prefix += ["--model", "vae"]
    if flag == "--checkpoint-every":
        prefix += ["--checkpoint", "ck.npz"]
    run(work, prefix + [flag, text], valid=False, names=[flag], codes=(2,))
