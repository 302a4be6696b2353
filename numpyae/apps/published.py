"""The published MNIST latent-size setup: python -m numpyae study latent --dataset mnist --published

The latent-size table this project's sources report trains, for every code size k, the
shallow autoencoder

    h = relu(x W1 + b1)          784 -> k     relu code
    x_hat = relu(h W2 + b2)      k -> 784     relu output
    L = mean((x_hat - x)^2)      MSE per pixel

with Adam for 10 epochs on the 60,000 MNIST training images, and reports the MSE on the
10,000 test images (PUBLISHED_TEST_LOSS). The sources leave the batch size and the learning
rate open; here they are BATCH_SIZE = 256 and LR = 1e-3 (Adam's customary default). The study
prints its own test MSE beside the published one for each k, and the dead outputs: output
units stuck at 0 on every training image (a relu output unit whose pre-activation went
negative for all inputs gets no gradient again), which a relu output invites.
"""
from __future__ import annotations

import os
import time

import numpy as np

from ..core.checks import check_array, check_positive_int, check_sizes
from ..data.datasets import load_dataset
from ..models.autoencoder import mlp_autoencoder
from ..nn.optimizers import Adam
from ..training.fit import fit
from .common import UsageError, format_markdown, run_dir, save_figure, write_csv, write_markdown
from .study import dead_outputs

__all__ = ["PUBLISHED_TEST_LOSS", "BATCH_SIZE", "LR", "EPOCHS", "published_latent_study",
           "summarize_published", "plot_published_study", "check_published_arguments",
           "study_published_latent", "PUBLISHED_COLUMNS", "PUBLISHED_SUMMARY_COLUMNS"]

#: code size k -> the test MSE the sources report for it
PUBLISHED_TEST_LOSS = {10: 0.0338, 20: 0.0220, 30: 0.0179, 40: 0.0128, 50: 0.0112, 60: 0.0107,
                       70: 0.0094, 80: 0.0082, 90: 0.0071, 100: 0.0077}
EPOCHS = 10
#: not stated in the sources; chosen here
BATCH_SIZE = 256
LR = 1e-3

#: one row per (code size, seed)
PUBLISHED_COLUMNS = ["code size", "seed", "train MSE", "test MSE", "published test MSE",
                     "difference", "dead outputs", "seconds"]
#: one row per code size: numpyae's test MSE (mean ± sd over seeds) beside the published one
PUBLISHED_SUMMARY_COLUMNS = ["code size", "seeds", "test MSE", "published test MSE",
                             "difference", "dead outputs"]


def published_latent_study(X_train, X_test, *, sizes=tuple(PUBLISHED_TEST_LOSS), epochs=EPOCHS,
                           batch_size=BATCH_SIZE, lr=LR, seed=0, log=None):
    """The published setup (module doc) for every k in sizes, one seed (the weights and the
    shuffling). Returns one row per k (PUBLISHED_COLUMNS):

    train MSE    the last epoch's mean training loss (as a Keras log shows it)
    test MSE     model.evaluate(X_test): the mean squared error per pixel on the test set
    published test MSE, difference   PUBLISHED_TEST_LOSS[k] and test MSE minus it ("" for a
                 k the sources do not report)
    dead outputs output units stuck at 0 on every training image although their pixel is
                 nonzero in some (study.dead_outputs)
    """
    X_train = check_array(X_train, "X_train", ndim=2, dtype=np.float32)
    X_test = check_array(X_test, "X_test", ndim=2, n_features=X_train.shape[1],
                         dtype=np.float32)
    sizes = check_sizes(sizes, "sizes", min_length=1, what="at least one code size")
    epochs = check_positive_int(epochs, "epochs")
    batch_size = check_positive_int(batch_size, "batch_size")
    rows = []
    for k in sizes:
        start = time.perf_counter()
        model = mlp_autoencoder([X_train.shape[1], k], code_activation="relu",
                                output_activation="relu", loss="mse", rng=seed)
        history = fit(model, X_train, Adam(model.parameters(), lr=lr), epochs=epochs,
                      batch_size=batch_size, rng=seed, progress=False)
        test = float(model.evaluate(X_test)["loss"])
        published = PUBLISHED_TEST_LOSS.get(k, "")
        rows.append({"code size": k, "seed": seed, "train MSE": float(history["loss"][-1]),
                     "test MSE": test, "published test MSE": published,
                     "difference": "" if published == "" else test - published,
                     "dead outputs": dead_outputs(model, X_train),
                     "seconds": time.perf_counter() - start})
        if log:
            r = rows[-1]
            versus = "" if published == "" else f"  (published {published:.4f})"
            log(f"k={k:<4d} seed {seed}: train MSE {r['train MSE']:.4f}  test MSE {test:.4f}"
                f"{versus}  dead outputs {r['dead outputs']}  ({r['seconds']:.1f} s)")
    return rows


def summarize_published(rows):
    """One row per code size (PUBLISHED_SUMMARY_COLUMNS, printed form): numpyae's test MSE as
    "mean ± sd" over the seeds (the value alone for one seed), the published value, the
    difference of the means and the dead outputs (mean over seeds)."""
    out = []
    for k in dict.fromkeys(r["code size"] for r in rows):
        rs = [r for r in rows if r["code size"] == k]
        test = np.array([r["test MSE"] for r in rs])
        mean = float(test.mean())
        text = (f"{mean:.4f} ± {test.std(ddof=1):.4f}" if len(rs) > 1 else f"{mean:.4f}")
        published = PUBLISHED_TEST_LOSS.get(k)
        dead = float(np.mean([r["dead outputs"] for r in rs]))
        out.append({"code size": k, "seeds": len(rs), "test MSE": text,
                    "published test MSE": "-" if published is None else f"{published:.4f}",
                    "difference": "-" if published is None else f"{mean - published:+.4f}",
                    "dead outputs": f"{dead:g}"})
    return out


def plot_published_study(rows, *, ax=None):
    """Test MSE against the code size: numpyae's runs (dots; the line through their means)
    and the published values. Returns the Axes."""
    import matplotlib.pyplot as plt
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4.5))
    sizes = sorted({r["code size"] for r in rows})
    means = [np.mean([r["test MSE"] for r in rows if r["code size"] == k]) for k in sizes]
    ax.plot([r["code size"] for r in rows], [r["test MSE"] for r in rows], "o", color="C0",
            alpha=0.5, ms=4)
    ax.plot(sizes, means, "-", color="C0", label="numpyae (this run)")
    pub = sorted(PUBLISHED_TEST_LOSS.items())
    ax.plot([k for k, _ in pub], [v for _, v in pub], "s--", color="C3", label="published")
    ax.set_yscale("log")
    ax.set_xlabel("code size k")
    ax.set_ylabel("test MSE per pixel")
    ax.set_title("MNIST 784-k-784, relu code and output, MSE, Adam")
    ax.grid(alpha=0.3)
    ax.legend()
    return ax


# ---- the command line -------------------------------------------------------------------

def check_published_arguments(args):
    """`study latent --published`, checked before the study's defaults are filled in
    (UsageError): it needs --dataset mnist and has no probe (--probe-epochs is refused).
    Its defaults: --sizes 10 20 ... 100, --epochs 10, --seeds 1. Nothing happens for another
    study or without --published."""
    if args.study != "latent" or not getattr(args, "published", None):
        return
    if args.dataset != "mnist":
        raise UsageError(f"--published is the published MNIST setup: it needs --dataset mnist, "
                         f"got {args.dataset}")
    if args.probe_epochs is not None:
        raise UsageError("--probe-epochs applies to study latent without --published (the "
                         "published setup reports the test MSE only)")
    for dest, default in (("sizes", list(PUBLISHED_TEST_LOSS)), ("epochs", EPOCHS),
                          ("seeds", 1)):
        if getattr(args, dest) is None:
            setattr(args, dest, default)


def study_published_latent(args, X, y):
    """`study latent --dataset mnist --published` with the MNIST training split (X, y): loads
    the test split (never another dataset in its place), runs published_latent_study over
    --seeds seeds, prints numpyae's test MSE beside the published one, and writes the tables
    (markdown and CSV) and the plot into a run folder."""
    X_test, _ = load_dataset(args.dataset, split="test", data_dir=args.data_dir,
                             download=not args.offline, fallback=False)
    start = time.perf_counter()
    log = None if args.quiet else (lambda line: print(line, flush=True))
    rows = []
    for seed in range(args.seed, args.seed + args.seeds):
        rows += published_latent_study(X, X_test, sizes=args.sizes, epochs=args.epochs,
                                       seed=seed, log=log)
    summary = summarize_published(rows)
    run = run_dir(args.out, "study-latent-published")
    table = format_markdown(summary, PUBLISHED_SUMMARY_COLUMNS)
    write_markdown(table, os.path.join(run, "published_latent.md"))
    write_csv(summary, PUBLISHED_SUMMARY_COLUMNS, os.path.join(run, "published_latent.csv"))
    write_csv(rows, PUBLISHED_COLUMNS, os.path.join(run, "published_latent_per_seed.csv"))
    save_figure(plot_published_study(rows), os.path.join(run, "published_latent.png"))
    changed = [f"{flag} {value}" for flag, value, published in
               (("--epochs", args.epochs, EPOCHS),) if value != published]
    print(f"\npublished latent-size setup on mnist: {len(X)} training / {len(X_test)} test "
          f"images; {X.shape[1]}-k-{X.shape[1]}, relu code and relu output, MSE, Adam, "
          f"{args.epochs} epochs; not stated in the sources and chosen here: batch "
          f"{BATCH_SIZE}, lr {LR:g}; seeds {args.seed}..{args.seed + args.seeds - 1}"
          + (f" (differs from the published setup: {', '.join(changed)})" if changed else "")
          + "\n")
    print(table)
    print(f"\ntotal {time.perf_counter() - start:.0f} s; run folder: {run}")
    return 0
