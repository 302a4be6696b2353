"""Studies: small, seeded experiments that print a table and write it (markdown + CSV) with a plot.

latent_size_study     code size 2..32: autoencoder vs PCA reconstruction error, and a downstream
                      classifier's accuracy on the codes vs on the PCA features; sigmoid vs relu
                      decoder output.
pretraining_study     a classifier initialized from a greedily pretrained, fine-tuned autoencoder
                      vs the same classifier from random initialization, trained on a few labels
                      with the same budget, over several seeds (mean and spread).

Both run from the command line:  python -m numpyae study latent   /   python -m numpyae study pretraining
Every random choice (split, subsets, initializations, shuffling) comes from the seeds given.
"""
from __future__ import annotations

import time
from typing import NamedTuple

import numpy as np

from ..analysis.pca import PCA
from ..core.checks import check_array, check_labels, check_sizes
from ..core.random import as_generator
from ..models.autoencoder import mlp_autoencoder
from ..models.classifier import Classifier, mlp_classifier
from ..nn.layers import Dense, Sequential
from ..nn.optimizers import Adam
from ..training.fit import fit
from ..training.pretraining import pretrain_and_finetune
from .common import code_size_axes, format_markdown, write_csv

__all__ = ["format_markdown", "write_csv", "labeled_subset", "probe_accuracy", "dead_outputs",
           "latent_size_study", "summarize_latent", "plot_latent_study", "pretraining_study",
           "plot_pretraining_study", "LATENT_COLUMNS", "LATENT_FORMATS", "LATENT_SUMMARY_COLUMNS",
           "LATENT_TABLE_COLUMNS", "PRETRAIN_COLUMNS", "PRETRAIN_SEED_COLUMNS"]


# ---- shared pieces ------------------------------------------------------------------------

def _check_xy(X, y):
    X = check_array(X, "X", ndim=2, dtype=np.float32)
    y = check_labels(y, "y", n=len(X))
    return X, y


class _Split(NamedTuple):
    """A study's train/test split and its number of classes."""
    X_tr: np.ndarray
    X_te: np.ndarray
    y_tr: np.ndarray
    y_te: np.ndarray
    n_classes: int


def _split(X, y, test_fraction, rng):
    """Stratified split: round(test_fraction * n_c) test rows from every class c."""
    test = []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        test.append(rng.choice(idx, int(round(test_fraction * len(idx))), replace=False))
    test = np.sort(np.concatenate(test))
    train = np.setdiff1d(np.arange(len(X)), test)
    return _Split(X[train], X[test], y[train], y[test], int(y.max()) + 1)


def labeled_subset(y, fraction, rng):
    """Indices of a stratified subset: round(fraction * n_c) rows (at least 1) of every class."""
    out = []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        out.append(rng.choice(idx, max(1, int(round(fraction * len(idx)))), replace=False))
    return np.sort(np.concatenate(out))


def probe_accuracy(F_train, y_train, F_test, y_test, *, n_classes=None, epochs=100, batch_size=64,
                   lr=1e-2, seed=0):
    """Test accuracy of multinomial logistic regression on features F (standardized with the
    training mean and std). The same probe scores autoencoder codes and PCA features."""
    F_train = np.asarray(F_train, dtype=np.float32)
    F_test = np.asarray(F_test, dtype=np.float32)
    mu, sd = F_train.mean(axis=0), F_train.std(axis=0)
    sd = np.where(sd > 1e-8, sd, 1).astype(np.float32)
    F_train, F_test = (F_train - mu) / sd, (F_test - mu) / sd
    n_classes = n_classes or int(max(y_train.max(), y_test.max())) + 1
    rng = as_generator(seed)
    clf = Classifier(Sequential([]), Dense(F_train.shape[1], n_classes, rng=rng))
    fit(clf, F_train, Adam(clf.parameters(), lr=lr), y=y_train, epochs=epochs,
        batch_size=batch_size, rng=rng, progress=False)
    return clf.score(F_test, y_test)


def _mse(model, X):
    return float(np.mean((model.reconstruct(X) - X) ** 2))


# ---- latent size --------------------------------------------------------------------------

LATENT_COLUMNS = ["code size", "method", "seed", "train MSE", "test MSE", "probe accuracy",
                  "dead outputs", "seconds"]
LATENT_FORMATS = {"train MSE": ".5f", "test MSE": ".5f", "probe accuracy": ".3f", "seconds": ".1f"}
_LATENT_VALUES = ("train MSE", "test MSE", "probe accuracy", "dead outputs")
#: numeric summary (CSV): mean and sample standard deviation over seeds
LATENT_SUMMARY_COLUMNS = ["code size", "method", "seeds"] + [
    f"{c} {stat}" for c in _LATENT_VALUES for stat in ("mean", "sd")]
#: printed summary (markdown): "mean ± sd"
LATENT_TABLE_COLUMNS = ["code size", "method", "seeds"] + list(_LATENT_VALUES)
_LATENT_DIGITS = {"train MSE": 5, "test MSE": 5, "probe accuracy": 3, "dead outputs": 1}


def latent_size_study(X, y, *, sizes=(2, 4, 8, 16, 32), hidden=64,
                      output_activations=("sigmoid", "relu"), epochs=150, batch_size=32, lr=3e-3,
                      probe_epochs=100, test_fraction=0.2, seed=0, log=None):
    """Sweep the code size with one seed (split, initializations, shuffling); one row per
    (code size, method). summarize_latent() averages the rows of several seeds.

    methods   "PCA"                        rank-k PCA fitted on the training split
              "AE (<f> output)"            D -> hidden -> k -> hidden -> D, relu hidden layers,
                                           linear code, decoder output f (sigmoid or relu),
                                           MSE loss, Adam(lr) for `epochs` epochs: the same
                                           budget for every size and output
    train/test MSE       reconstruction error per pixel on each split
    probe accuracy       logistic regression (probe_accuracy) on the k-d codes or PCA features,
                         trained on the training split, scored on the test split
    dead outputs         output units stuck at 0 on every training image although their pixel
                         is nonzero in some (a relu output unit whose pre-activation went
                         negative for all inputs gets no gradient again); "" for PCA
    """
    X, y = _check_xy(X, y)
    sizes = check_sizes(sizes, min_length=1, what="at least one code size")
    rng = as_generator(seed, "seed")
    split = _split(X, y, test_fraction, rng)
    probe = dict(n_classes=split.n_classes, epochs=probe_epochs, seed=rng)
    train = dict(hidden=hidden, epochs=epochs, batch_size=batch_size, lr=lr, rng=rng)
    rows = []
    pca = PCA(max(sizes)).fit(split.X_tr)  # one SVD; the first k components are PCA with k
    for k in sizes:
        rows.append(_pca_row(pca, k, split, seed, probe))
        if log:
            log(_latent_line(rows[-1]))
        for out in output_activations:
            rows.append(_autoencoder_row(k, out, split, seed, train, probe))
            if log:
                log(_latent_line(rows[-1]))
    return rows


def _pca_row(pca, k, split, seed, probe):
    """One latent-study row for rank-k PCA: its reconstruction errors and probe accuracy."""
    t = time.perf_counter()
    acc = probe_accuracy(pca.transform(split.X_tr, k), split.y_tr, pca.transform(split.X_te, k),
                         split.y_te, **probe)
    return {"code size": k, "method": "PCA", "seed": seed,
            "train MSE": pca.reconstruction_error(split.X_tr, k),
            "test MSE": pca.reconstruction_error(split.X_te, k), "probe accuracy": acc,
            "dead outputs": "", "seconds": time.perf_counter() - t}


def _autoencoder_row(k, out, split, seed, train, probe):
    """One latent-study row for an autoencoder with code size k and output activation `out`,
    trained with the settings in `train` (hidden, epochs, batch_size, lr, rng)."""
    t = time.perf_counter()
    rng = train["rng"]
    model = mlp_autoencoder([split.X_tr.shape[1], train["hidden"], k], activation="relu",
                            code_activation="identity", output_activation=out, loss="mse",
                            rng=rng)
    fit(model, split.X_tr, Adam(model.parameters(), lr=train["lr"]), epochs=train["epochs"],
        batch_size=train["batch_size"], rng=rng, progress=False)
    acc = probe_accuracy(model.encode(split.X_tr), split.y_tr, model.encode(split.X_te),
                         split.y_te, **probe)
    return {"code size": k, "method": f"AE ({out} output)", "seed": seed,
            "train MSE": _mse(model, split.X_tr), "test MSE": _mse(model, split.X_te),
            "probe accuracy": acc, "dead outputs": dead_outputs(model, split.X_tr),
            "seconds": time.perf_counter() - t}


def summarize_latent(rows):
    """Rows of several seeds -> one row per (code size, method), in first-seen order.

    Returns (numeric, table): numeric rows have "<value> mean" and "<value> sd" (sample standard
    deviation, 0 for one seed) for the CSV; table rows have "mean ± sd" strings to print.
    "dead outputs" is left empty for PCA.
    """
    groups = {}
    for r in rows:
        groups.setdefault((r["code size"], r["method"]), []).append(r)
    numeric, table = [], []
    for (k, method), rs in groups.items():
        num = {"code size": k, "method": method, "seeds": len(rs)}
        txt = dict(num)
        for c in _LATENT_VALUES:
            vals = [r[c] for r in rs if r.get(c, "") != ""]
            if not vals:
                num[f"{c} mean"] = num[f"{c} sd"] = txt[c] = ""
                continue
            mean = float(np.mean(vals))
            sd = float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0
            num[f"{c} mean"], num[f"{c} sd"] = mean, sd
            d = _LATENT_DIGITS[c]
            txt[c] = f"{mean:.{d}f} ± {sd:.{d}f}" if len(vals) > 1 else f"{mean:.{d}f}"
        numeric.append(num)
        table.append(txt)
    return numeric, table


def dead_outputs(model, X, tol=1e-6):
    """Number of reconstruction units that are <= tol on every row of X although X's column is
    nonzero somewhere: pixels the model can no longer produce."""
    X_hat = model.reconstruct(X)
    return int(np.sum(np.all(X_hat <= tol, axis=0) & np.any(X > tol, axis=0)))


def _latent_line(r):
    dead = f"  dead outputs {r['dead outputs']}" if r.get("dead outputs", "") != "" else ""
    return (f"k={r['code size']:<3d} {r['method']:20s} train MSE {r['train MSE']:.5f}  test MSE "
            f"{r['test MSE']:.5f}  probe accuracy {r['probe accuracy']:.3f}{dead}  "
            f"({r['seconds']:.1f} s)")


def plot_latent_study(rows, *, fig=None):
    """Left: train (dashed) and test (solid) reconstruction MSE against the code size, per
    method (log scale). Right: probe accuracy against the code size. With several seeds the
    points are means and the bars one standard deviation. Returns the Figure."""
    import matplotlib.pyplot as plt
    if fig is None:
        fig = plt.figure(figsize=(11, 4))
    ax1, ax2 = fig.subplots(1, 2)
    numeric, _ = summarize_latent(rows)
    methods = list(dict.fromkeys(r["method"] for r in numeric))
    for i, m in enumerate(methods):
        rs = sorted((r for r in numeric if r["method"] == m), key=lambda r: r["code size"])
        ks = [r["code size"] for r in rs]
        color = f"C{i}"
        get = lambda key: np.array([r[key] for r in rs], dtype=np.float64)
        ax1.errorbar(ks, get("test MSE mean"), get("test MSE sd"), fmt="o-", color=color,
                     capsize=3, label=f"{m} test")
        ax1.plot(ks, get("train MSE mean"), "--", color=color, alpha=0.7, label=f"{m} train")
        ax2.errorbar(ks, get("probe accuracy mean"), get("probe accuracy sd"), fmt="o-",
                     color=color, capsize=3, label=m)
    sizes = sorted({r["code size"] for r in numeric})
    code_size_axes((ax1, ax2), sizes)
    ax1.set_yscale("log")
    ax1.set_ylabel("reconstruction MSE per pixel")
    ax1.set_title("reconstruction error")
    ax2.set_ylabel("test accuracy of logistic regression")
    ax2.set_title("downstream classifier on the codes")
    fig.tight_layout()
    return fig


# ---- pretraining --------------------------------------------------------------------------

PRETRAIN_COLUMNS = ["labeled fraction", "labels", "seeds", "pretrained acc", "random-init acc",
                    "difference", "pretrained wins"]
PRETRAIN_SEED_COLUMNS = ["labeled fraction", "labels", "seed", "pretrained acc", "random-init acc"]


def _mean_spread(values):
    values = np.asarray(values, dtype=np.float64)
    return f"{values.mean():.3f} ± {values.std(ddof=1) if len(values) > 1 else 0.0:.3f}"


def pretraining_study(X, y, *, fractions=(0.05, 0.1), seeds=(0, 1, 2, 3, 4), sizes=(64, 48, 24),
                      activation="sigmoid", pretrain_epochs=30, finetune_epochs=30,
                      pretrain_lr=3e-3, epochs=100, batch_size=16, lr=3e-3, test_fraction=0.2,
                      split_seed=0, log=None, histories=None):
    """Unsupervised pretraining, then supervision on a few labels, against random initialization.

    One stratified train/test split (split_seed). For every seed:
      1. greedy layer-wise pretraining of `sizes` on all training images (no labels), stacked
         and fine-tuned end to end as an autoencoder (pretrain_and_finetune);
      2. for every fraction, a stratified labeled subset of the training split (seeded);
      3. Classifier.from_autoencoder (pretrained encoder + new head) and mlp_classifier (same
         architecture, random init, same seed) trained on the subset with the same budget:
         Adam(lr), `epochs` epochs of `batch_size`; scored on the test split.
    Returns (summary_rows, per_seed_rows). Spread is the sample standard deviation over seeds.
    histories: optionally a dict, filled with seed -> {"stage 1": History, ..., "fine-tune": ...}
    (the autoencoder's pretraining and fine-tuning records).
    """
    X, y = _check_xy(X, y)
    sizes = check_sizes(sizes)
    if sizes[0] != X.shape[1]:
        raise ValueError(f"sizes[0] must be the number of features {X.shape[1]}, got {sizes[0]}")
    split = _split(X, y, test_fraction, as_generator(split_seed, "split_seed"))
    pretrain = dict(activation=activation, pretrain_epochs=pretrain_epochs,
                    finetune_epochs=finetune_epochs, lr=pretrain_lr)
    train = dict(activation=activation, epochs=epochs, batch_size=batch_size, lr=lr)
    per_seed = []
    for seed in seeds:
        rng = as_generator(seed, "seeds[i]")
        ae, stage_histories = pretrain_and_finetune(split.X_tr, sizes, rng=rng, **pretrain)
        if histories is not None:
            histories[seed] = stage_histories
        for frac in fractions:
            per_seed.append(_compare_on_few_labels(ae, sizes, split, frac, seed, rng, train))
            if log:
                log(_pretraining_line(per_seed[-1]))
    return _summarize_pretraining(per_seed, fractions), per_seed


def _compare_on_few_labels(ae, sizes, split, frac, seed, rng, train):
    """Draw a stratified labeled subset (a fraction frac of the training split) and an init seed
    from rng; train the pretrained and the randomly initialized classifier on it alike, with the
    settings in `train`. Returns the per-seed row."""
    idx = labeled_subset(split.y_tr, frac, rng)
    init_seed = int(rng.integers(2 ** 31))
    accs = {}
    for name, clf in (
            ("pretrained", Classifier.from_autoencoder(ae, split.n_classes, rng=init_seed)),
            ("random", mlp_classifier(sizes, split.n_classes, activation=train["activation"],
                                      code_activation=train["activation"], rng=init_seed))):
        fit(clf, split.X_tr[idx], Adam(clf.parameters(), lr=train["lr"]), y=split.y_tr[idx],
            epochs=train["epochs"], batch_size=train["batch_size"], rng=init_seed,
            progress=False)
        accs[name] = clf.score(split.X_te, split.y_te)
    return {"labeled fraction": frac, "labels": len(idx), "seed": seed,
            "pretrained acc": accs["pretrained"], "random-init acc": accs["random"]}


def _pretraining_line(r):
    """The progress line of one (seed, fraction) comparison."""
    return (f"seed {r['seed']}  {r['labeled fraction']:.0%} labels ({r['labels']}): pretrained "
            f"{r['pretrained acc']:.3f}  random init {r['random-init acc']:.3f}")


def _summarize_pretraining(per_seed, fractions):
    """One summary row per fraction: mean ± spread of both accuracies and of their difference,
    and how many seeds the pretrained classifier won."""
    summary = []
    for frac in fractions:
        rs = [r for r in per_seed if r["labeled fraction"] == frac]
        pre = [r["pretrained acc"] for r in rs]
        rnd = [r["random-init acc"] for r in rs]
        diff = np.subtract(pre, rnd)
        summary.append({"labeled fraction": f"{frac:.0%}", "labels": rs[0]["labels"],
                        "seeds": len(rs), "pretrained acc": _mean_spread(pre),
                        "random-init acc": _mean_spread(rnd), "difference": _mean_spread(diff),
                        "pretrained wins": f"{int(np.sum(diff > 0))}/{len(rs)}"})
    return summary


def _check_per_seed(per_seed):
    """per_seed: the non-empty list of per-seed rows pretraining_study returns."""
    if not isinstance(per_seed, (list, tuple)) or not per_seed:
        raise ValueError(f"per_seed must be the non-empty list of rows pretraining_study returns, "
                         f"got {per_seed!r:.80}")
    for r in per_seed:
        missing = [c for c in PRETRAIN_SEED_COLUMNS if not isinstance(r, dict) or c not in r]
        if missing:
            raise ValueError(f"per_seed rows must have the columns {PRETRAIN_SEED_COLUMNS}; a row "
                             f"lacks {missing[0]!r}: {r!r:.80}")


def plot_pretraining_study(per_seed, *, fig=None):
    """Two panels, one group per labeled fraction. Returns the Figure.

    left   test accuracy on an axis from 0 to 1: the mean over seeds (bar), one standard
           deviation (error bar) and every seed (dots), pretrained vs random initialization
    right  the paired difference, pretrained minus random init of the same seed and labeled
           subset, in percentage points: every seed (dots) and mean ± one standard deviation,
           with the zero line (above it, pretraining helped). A small gap is read here at its
           true size, against the spread over seeds, instead of on a magnified accuracy axis.
    """
    import matplotlib.pyplot as plt
    _check_per_seed(per_seed)
    if fig is None:
        fig = plt.figure(figsize=(11, 4))
    ax, dax = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.4, 1]})
    fracs = list(dict.fromkeys(r["labeled fraction"] for r in per_seed))
    width = 0.35
    for j, (key, label) in enumerate((("pretrained acc", "pretrained"),
                                      ("random-init acc", "random init"))):
        for i, f in enumerate(fracs):
            vals = np.array([r[key] for r in per_seed if r["labeled fraction"] == f])
            x = i + (j - 0.5) * width
            sd = vals.std(ddof=1) if len(vals) > 1 else 0.0
            ax.bar(x, vals.mean(), width, yerr=sd, capsize=4, color=f"C{j}", alpha=0.6,
                   label=f"{label} (mean ± 1 sd)" if i == 0 else None)
            ax.plot(np.full(len(vals), x) + np.linspace(-0.08, 0.08, len(vals)), vals, "k.",
                    ms=4, label="one seed" if i == 0 and j == 0 else None)
    ax.set_xticks(range(len(fracs)))
    ax.set_xticklabels([f"{f:.0%} labels" for f in fracs])
    ax.set_ylabel("test accuracy")
    ax.set_ylim(0, 1)
    ax.set_title("test accuracy (axis from 0)")
    ax.legend(fontsize=8, loc="lower right")
    for i, f in enumerate(fracs):
        diff = 100 * np.array([r["pretrained acc"] - r["random-init acc"] for r in per_seed
                               if r["labeled fraction"] == f])
        sd = diff.std(ddof=1) if len(diff) > 1 else 0.0
        dax.plot(np.full(len(diff), i) + np.linspace(-0.1, 0.1, len(diff)), diff, "k.", ms=5,
                 label="one seed" if i == 0 else None)
        dax.errorbar(i + 0.25, diff.mean(), yerr=sd, fmt="o", color="C0", capsize=4,
                     label="mean ± 1 sd" if i == 0 else None)
    dax.axhline(0, color="0.4", linewidth=1)
    dax.set_xticks(range(len(fracs)))
    dax.set_xticklabels([f"{f:.0%} labels" for f in fracs])
    dax.set_xlim(-0.6, len(fracs) - 0.4)
    dax.set_ylabel("accuracy difference (percentage points)")
    dax.set_title("pretrained minus random init, same seed")
    dax.legend(fontsize=8)
    dax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig
