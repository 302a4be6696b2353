"""Command line:  python -m numpyae {train, gradcheck, study} ...

    python -m numpyae train                  default autoencoder on the bundled digits
    python -m numpyae gradcheck              every built-in model against finite differences
    python -m numpyae study latent           code size 2..32: autoencoder vs PCA
    python -m numpyae study pretraining      pretrained vs random-init classifier on few labels
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


def _positive_int(text):
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive int, got {value}")
    return value


def _load_dataset(name):
    from . import load_digits
    if name == "digits":
        return load_digits()
    raise ValueError(f"--dataset must be one of ['digits'], got {name!r}")


def _write_table(run, stem, rows, columns, formats=None):
    from .study import format_markdown, write_csv
    table = format_markdown(rows, columns, formats)
    with open(os.path.join(run, f"{stem}.md"), "w") as f:
        f.write(table + "\n")
    write_csv(rows, columns, os.path.join(run, f"{stem}.csv"))
    return table


def study_latent(args):
    from .study import (LATENT_COLUMNS, LATENT_FORMATS, LATENT_SUMMARY_COLUMNS,
                        LATENT_TABLE_COLUMNS, latent_size_study, plot_latent_study,
                        summarize_latent)
    X, y = _load_dataset(args.dataset)
    sizes = args.sizes or [2, 4, 8, 16, 32]
    epochs = args.epochs or 150
    n_seeds = args.seeds or 3
    seeds = list(range(args.seed, args.seed + n_seeds))
    start = time.perf_counter()
    log = None if args.quiet else (lambda line: print(line, flush=True))
    rows = []
    for seed in seeds:
        if log:
            log(f"seed {seed}")
        rows += latent_size_study(X, y, sizes=sizes, epochs=epochs,
                                  probe_epochs=args.probe_epochs, seed=seed, log=log)
    numeric, table_rows = summarize_latent(rows)
    run = _run_dir(args.out, "study-latent")
    _write_table(run, "latent_study_per_seed", rows, LATENT_COLUMNS, LATENT_FORMATS)
    from .study import format_markdown, write_csv
    table = format_markdown(table_rows, LATENT_TABLE_COLUMNS)
    with open(os.path.join(run, "latent_study.md"), "w") as f:
        f.write(table + "\n")
    write_csv(numeric, LATENT_SUMMARY_COLUMNS, os.path.join(run, "latent_study.csv"))
    _save_figure(plot_latent_study(rows), os.path.join(run, "latent_study.png"))
    spread = "mean ± sample std over" if n_seeds > 1 else "one seed:"
    print(f"\nlatent-size study on {args.dataset}: {len(X)} images, 20% held out (stratified); "
          f"autoencoders {X.shape[1]}-64-k-64-{X.shape[1]} (relu hidden, linear code, MSE), "
          f"Adam lr 3e-3, {epochs} epochs of 32 for every size; PCA fitted on the training "
          f"split; probe = logistic regression on standardized codes/features; dead outputs = "
          f"output units stuck at 0 on every training image; {spread} seeds "
          f"{', '.join(map(str, seeds))} (split, init, shuffling)\n")
    print(table)
    print(f"\ntotal {time.perf_counter() - start:.0f} s; run folder: {run}")
    return 0


def study_pretraining(args):
    from .study import (PRETRAIN_COLUMNS, PRETRAIN_SEED_COLUMNS, plot_pretraining_study,
                        pretraining_study)
    X, y = _load_dataset(args.dataset)
    seeds = list(range(args.seed, args.seed + (args.seeds or 10)))
    epochs = args.epochs or 100
    start = time.perf_counter()
    log = None if args.quiet else (lambda line: print(line, flush=True))
    histories = {}
    summary, per_seed = pretraining_study(X, y, fractions=args.fractions, seeds=seeds,
                                          sizes=[X.shape[1]] + args.hidden,
                                          activation=args.activation, epochs=epochs,
                                          pretrain_epochs=args.pretrain_epochs,
                                          finetune_epochs=args.pretrain_epochs,
                                          split_seed=args.seed, log=log, histories=histories)
    run = _run_dir(args.out, "study-pretraining")
    table = _write_table(run, "pretraining_study", summary, PRETRAIN_COLUMNS)
    _write_table(run, "pretraining_per_seed", per_seed, PRETRAIN_SEED_COLUMNS,
                 {"pretrained acc": ".3f", "random-init acc": ".3f"})
    _save_figure(plot_pretraining_study(per_seed), os.path.join(run, "pretraining_study.png"))
    from .pretraining import plot_stage_histories
    _save_figure(plot_stage_histories(histories[seeds[0]]),
                 os.path.join(run, f"pretraining_histories_seed{seeds[0]}.png"))
    arch = "-".join(str(s) for s in [X.shape[1]] + args.hidden)
    print(f"\npretraining study on {args.dataset}: 20% test split (stratified); encoder {arch} "
          f"{args.activation}; greedy layer-wise pretraining + fine-tuning ({args.pretrain_epochs}"
          f" epochs each, Adam lr 3e-3) on the unlabeled training images, then Adam lr 3e-3, {epochs} epochs of 16 on the labeled subset for "
          f"both classifiers; mean ± std over {len(seeds)} seeds\n")
    print(table)
    print(f"\ntotal {time.perf_counter() - start:.0f} s; run folder: {run}")
    return 0


STUDIES = {"latent": study_latent, "pretraining": study_pretraining}


def cmd_study(args):
    return STUDIES[args.study](args)


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
    s = sub.add_parser("study", help="run a study, print its table, write a run folder")
    s.add_argument("study", choices=sorted(STUDIES))
    s.add_argument("--dataset", default="digits", choices=["digits"])
    s.add_argument("--seed", type=int, default=0, help="data split seed (and first seed)")
    s.add_argument("--epochs", type=int, default=None,
                   help="training epochs (latent: each autoencoder, default 150; "
                        "pretraining: each classifier, default 100)")
    s.add_argument("--sizes", type=int, nargs="+", default=None,
                   help="latent: code sizes (default 2 4 8 16 32)")
    s.add_argument("--probe-epochs", type=int, default=100,
                   help="latent: epochs of the logistic-regression probe")
    s.add_argument("--pretrain-epochs", type=int, default=60,
                   help="pretraining: epochs of every greedy stage and of the autoencoder "
                        "fine-tuning")
    s.add_argument("--seeds", type=_positive_int, default=None,
                   help="number of seeds, from --seed on (latent: default 3; pretraining: 10)")
    s.add_argument("--fractions", type=float, nargs="+", default=[0.05, 0.1],
                   help="pretraining: labeled fractions of the training split")
    s.add_argument("--hidden", type=int, nargs="+", default=[48, 24],
                   help="pretraining: encoder layer sizes after the input")
    s.add_argument("--activation", default="sigmoid", help="pretraining: encoder activation")
    s.add_argument("--out", default="runs", help="folder for run folders (default: runs)")
    s.add_argument("--quiet", action="store_true", help="only the final table")
    s.set_defaults(func=cmd_study)
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    return args.func(args)
