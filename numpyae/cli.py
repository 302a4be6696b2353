"""Command line:  python -m numpyae {train, gradcheck} ...

    python -m numpyae train                  default autoencoder on the bundled digits
    python -m numpyae gradcheck              every built-in model against finite differences
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np


def _run_dir(base, name):
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = os.path.join(base, f"{name}-{stamp}")
    k = 1
    while os.path.exists(path):
        k += 1
        path = os.path.join(base, f"{name}-{stamp}-{k}")
    os.makedirs(path)
    return path


def _save_figure(fig_or_ax, path):
    import matplotlib.pyplot as plt
    fig = getattr(fig_or_ax, "figure", fig_or_ax)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def load_training_data(args):
    """The --dataset the trainers use: digits, mnist or fashion-mnist. When MNIST /
    Fashion-MNIST is not available, says so on stderr and returns the bundled digits.
    Returns a numpyae.datasets.LoadedDataset (unpacks as X, y; .name, .image_shape)."""
    import warnings

    from .datasets import load_dataset
    name = getattr(args, "dataset", "digits")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # printed below instead
        data = load_dataset(name, data_dir=getattr(args, "data_dir", None),
                            download=not getattr(args, "offline", False))
    if data.message:
        print(f"note: {data.message}", file=sys.stderr)
    return data


def fit_checkpoint_kwargs(args):
    """--checkpoint / --checkpoint-every / --resume as fit() keyword arguments."""
    kw = {}
    if getattr(args, "checkpoint", None):
        kw["checkpoint"] = args.checkpoint
        kw["checkpoint_every"] = args.checkpoint_every
    if getattr(args, "resume", None):
        kw["resume"] = args.resume
    return kw


def train_vanilla(args):
    from . import Adam, fit, mlp_autoencoder, train_validation_split
    from .plotting import plot_history, plot_reconstructions

    data = load_training_data(args)
    X, y = data
    X_tr, X_va, _, _ = train_validation_split(X, y, fraction=0.2, seed=args.seed)
    sizes = [64, 32, 16] if data.name == "digits" else [X.shape[1], 256, 32]
    model = mlp_autoencoder(sizes, activation="relu", loss="bce", rng=args.seed)
    before = model.evaluate(X_va)
    opt = Adam(model.parameters(), lr=args.lr)
    history = fit(model, X_tr, opt, epochs=args.epochs, batch_size=args.batch_size,
                  validation_data=(X_va,), seed=args.seed, progress=not args.quiet,
                  **fit_checkpoint_kwargs(args))
    mse_tr = float(np.mean((model.reconstruct(X_tr) - X_tr) ** 2))
    mse_va = float(np.mean((model.reconstruct(X_va) - X_va) ** 2))
    mse_start = float(np.mean((model.reconstruct(X_va) * 0 + X_va.mean(0) - X_va) ** 2))
    run = _run_dir(args.out, "autoencoder")
    model.save(os.path.join(run, "model.npz"))
    _save_figure(plot_history(history, ["loss", "val_loss"], title="BCE per pixel"),
                 os.path.join(run, "loss_curve.png"))
    _save_figure(plot_reconstructions(X_va[:12], model.reconstruct(X_va[:12]), n=12,
                                      image_shape=data.image_shape,
                                      title=f"validation {data.name} and reconstructions"),
                 os.path.join(run, "reconstructions.png"))
    arch = "-".join(str(s) for s in sizes + sizes[-2::-1])
    print(f"model: {model.n_parameters()} parameters, {arch} relu, BCE on logits, "
          f"{len(X_tr)} train / {len(X_va)} validation images ({data.name})")
    print(f"validation BCE: {before['loss']:.4f} before training -> {history['val_loss'][-1]:.4f} "
          f"after {history.epochs} epochs")
    print(f"reconstruction MSE per pixel: train {mse_tr:.5f}  validation {mse_va:.5f}  "
          f"(predicting the mean digit: {mse_start:.5f})")
    print(f"run folder: {run}")
    return 0


TRAINERS = {"autoencoder": train_vanilla}


def cmd_train(args):
    if args.model not in TRAINERS:
        print(f"unknown --model {args.model!r}; choose from {sorted(TRAINERS)}", file=sys.stderr)
        return 2
    return TRAINERS[args.model](args)


def cmd_gradcheck(args):
    from .catalog import run_all
    return 0 if run_all(tol=args.tol, seed=args.seed) else 1


def build_parser():
    p = argparse.ArgumentParser(prog="python -m numpyae", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train a model and write a run folder")
    t.add_argument("--model", default="autoencoder", help=f"one of {sorted(TRAINERS)}")
    t.add_argument("--dataset", default="digits", choices=["digits", "mnist", "fashion-mnist"],
                   help="mnist/fashion-mnist are read from --data-dir or the cache "
                        "($NUMPYAE_DATA), downloaded if missing; else the bundled digits are used")
    t.add_argument("--data-dir", default=None, help="folder holding the MNIST IDX files")
    t.add_argument("--offline", action="store_true", help="never download datasets")
    t.add_argument("--checkpoint", default=None, help="write a resumable checkpoint (.npz) here")
    t.add_argument("--checkpoint-every", type=int, default=1, help="epochs between checkpoints")
    t.add_argument("--resume", default=None, help="resume training from this checkpoint")
    t.add_argument("--epochs", type=int, default=60)
    t.add_argument("--batch-size", type=int, default=32)
    t.add_argument("--lr", type=float, default=3e-3)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--out", default="runs", help="folder for run folders (default: runs)")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(func=cmd_train)
    g = sub.add_parser("gradcheck", help="check every built-in model's gradients")
    g.add_argument("--tol", type=float, default=1e-6)
    g.add_argument("--seed", type=int, default=0)
    g.set_defaults(func=cmd_gradcheck)
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    return args.func(args)
