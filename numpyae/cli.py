"""Command line:  python -m numpyae {train, gradcheck, trace} ...

    python -m numpyae train                  default autoencoder on the bundled digits
    python -m numpyae gradcheck              every built-in model against finite differences
    python -m numpyae trace --model autoencoder   one forward/backward pass, step by step
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


def cmd_train(args):
    if args.model not in TRAINERS:
        print(f"unknown --model {args.model!r}; choose from {sorted(TRAINERS)}", file=sys.stderr)
        return 2
    return TRAINERS[args.model](args)


def cmd_gradcheck(args):
    from .catalog import run_all
    return 0 if run_all(tol=args.tol, seed=args.seed) else 1


def cmd_trace(args):
    from .trace import build_traceable, trace_backprop, traceable_models
    if args.list:
        for name in traceable_models():
            print(name)
        return 0
    try:
        key, model, X, y = build_traceable(args.model, seed=args.seed)
    except ValueError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    t = trace_backprop(model, X, y, check=True)
    print(f"model: {key}")
    if args.step is not None:
        if not -len(t) <= args.step < len(t):
            print(f"--step must lie in [0, {len(t)}), got {args.step}", file=sys.stderr)
            return 2
        print(t.show(args.step))
    else:
        print(t)
    worst = t.check()
    return 0 if worst is None or worst <= args.tol else 1


def build_parser():
    p = argparse.ArgumentParser(prog="python -m numpyae", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train a model and write a run folder")
    t.add_argument("--model", default="autoencoder", help=f"one of {sorted(TRAINERS)}")
    t.add_argument("--dataset", default="digits", choices=["digits"])
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
    tr = sub.add_parser("trace", help="print one forward and backward pass, step by step")
    tr.add_argument("--model", default="autoencoder",
                    help="a gradcheck case (see --list) or its first word, e.g. autoencoder")
    tr.add_argument("--step", type=int, default=None, help="print only this step")
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--tol", type=float, default=1e-7,
                    help="exit status 1 if a step's gradient check exceeds this")
    tr.add_argument("--list", action="store_true", help="list the traceable models")
    tr.set_defaults(func=cmd_trace)
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    return args.func(args)
