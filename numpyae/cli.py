"""Command line:  python -m numpyae {train, gradcheck} ...

    python -m numpyae train                  default autoencoder on the bundled digits
    python -m numpyae train --model sparse --dataset patches     KL-sparse filters (UFLDL)
    python -m numpyae train --model denoising | contractive | ksparse
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


def train_vanilla(args):
    from . import Adam, fit, load_digits, mlp_autoencoder, train_validation_split
    from .plotting import plot_history, plot_reconstructions

    X, y = load_digits()
    X_tr, X_va, _, _ = train_validation_split(X, y, fraction=0.2, seed=args.seed)
    model = mlp_autoencoder([64, 32, 16], activation="relu", loss="bce", rng=args.seed)
    before = model.evaluate(X_va)
    opt = Adam(model.parameters(), lr=args.lr)
    history = fit(model, X_tr, opt, epochs=args.epochs, batch_size=args.batch_size,
                  validation_data=(X_va,), seed=args.seed, progress=not args.quiet)
    mse_tr = float(np.mean((model.reconstruct(X_tr) - X_tr) ** 2))
    mse_va = float(np.mean((model.reconstruct(X_va) - X_va) ** 2))
    mse_start = float(np.mean((model.reconstruct(X_va) * 0 + X_va.mean(0) - X_va) ** 2))
    run = _run_dir(args.out, "autoencoder")
    model.save(os.path.join(run, "model.npz"))
    _save_figure(plot_history(history, ["loss", "val_loss"], title="BCE per pixel"),
                 os.path.join(run, "loss_curve.png"))
    _save_figure(plot_reconstructions(X_va[:12], model.reconstruct(X_va[:12]), n=12,
                                      title="validation digits and reconstructions"),
                 os.path.join(run, "reconstructions.png"))
    print(f"model: {model.n_parameters()} parameters, 64-32-16-32-64 relu, BCE on logits, "
          f"{len(X_tr)} train / {len(X_va)} validation digits")
    print(f"validation BCE: {before['loss']:.4f} before training -> {history['val_loss'][-1]:.4f} "
          f"after {history.epochs} epochs")
    print(f"reconstruction MSE per pixel: train {mse_tr:.5f}  validation {mse_va:.5f}  "
          f"(predicting the mean digit: {mse_start:.5f})")
    print(f"run folder: {run}")
    return 0


TRAINERS = {"autoencoder": train_vanilla}

# regularized autoencoders (issue 3): sparse, denoising, contractive, ksparse
from .train_regularized import DEFAULTS as _REGULARIZED_DEFAULTS  # noqa: E402
from .train_regularized import TRAINERS as _REGULARIZED_TRAINERS  # noqa: E402
from .train_regularized import add_arguments as _add_regularized_arguments  # noqa: E402

TRAINERS.update(_REGULARIZED_TRAINERS)
#: --epochs / --batch-size / --lr when not given: per trainer, else these
TRAIN_DEFAULTS = {"epochs": 60, "batch_size": 32, "lr": 3e-3}


def cmd_train(args):
    if args.model not in TRAINERS:
        print(f"unknown --model {args.model!r}; choose from {sorted(TRAINERS)}", file=sys.stderr)
        return 2
    for key, value in {**TRAIN_DEFAULTS, **_REGULARIZED_DEFAULTS.get(args.model, {})}.items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
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
    t.add_argument("--dataset", default="digits", choices=["digits", "patches"])
    t.add_argument("--epochs", type=int, default=None, help="default: per model (60)")
    t.add_argument("--batch-size", type=int, default=None, help="default: per model (32)")
    t.add_argument("--lr", type=float, default=None, help="default: per model (3e-3)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--out", default="runs", help="folder for run folders (default: runs)")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_regularized_arguments(t)
    t.set_defaults(func=cmd_train)
    g = sub.add_parser("gradcheck", help="check every built-in model's gradients")
    g.add_argument("--tol", type=float, default=1e-6)
    g.add_argument("--seed", type=int, default=0)
    g.set_defaults(func=cmd_gradcheck)
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    return args.func(args)
