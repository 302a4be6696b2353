"""study reduction: autoencoder codes against PCA, LDA, LLE and Isomap.

For every code size k and every method, a stratified k-fold cross-validation (seeded):

    fit the method on the training folds (LDA with the labels, the others without)
    codes  Z_tr = f(X_tr), Z_te = f(X_te)                        (n, k)
    accuracy    a simple classifier fitted on (Z_tr, y_tr), scored on (Z_te, y_te)
    reconstruction MSE  mean((g(Z_te) - X_te)^2) per pixel, for a method with an inverse g
                        (PCA: Z V_k^T + mean; the autoencoder: its decoder); LDA, LLE and
                        Isomap have none
    fit seconds         wall time of the method's fit

and the mean ± sample standard deviation over the folds. The methods:

    PCA          sklearn.decomposition.PCA(k)
    LDA          sklearn's LinearDiscriminantAnalysis(n_components=k): at most n_classes - 1
                 dimensions (9 for ten digits), so larger k is reported as not available, not
                 padded or faked
    LLE          sklearn's LocallyLinearEmbedding(n_neighbors=10), standard LLE, ARPACK
                 started from the seed
    Isomap       sklearn's Isomap(n_neighbors=10), the dense eigensolver (ARPACK would start
                 from NumPy's global random state, which Isomap does not let one seed)
    autoencoder  numpyae's AutoencoderTransformer: D -> 64 -> k -> 64 -> D, relu hidden layers,
                 linear code, sigmoid output, MSE, Adam(3e-3), `epochs` epochs of 32

LLE and Isomap are spectral: the k-dimensional embedding is the first k eigenvectors (sorted
by eigenvalue) of a matrix that does not depend on k, and a new point's code is linear in
them. So each is fitted once per fold at the largest k and its k-dimensional codes are the
first k columns (their fit time is that one fit, for every k). PCA, LDA and the autoencoder
are fitted for every k.

Run it with  python -m numpyae study reduction [--dataset mnist --data-dir ...]. It needs
scikit-learn (pip install "numpyae[sklearn]"); without it the command says so in one line.
"""
from __future__ import annotations

import os
import time
import warnings

import numpy as np

from ..core.checks import check_positive_int, check_sizes
from .common import (UsageError, code_size_axes, format_markdown, int_between, run_dir,
                     save_figure, write_markdown, write_csv)

try:  # scikit-learn is optional: without it, check_reduction_arguments says what to install
    from sklearn.decomposition import PCA
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
    from sklearn.linear_model import LogisticRegression
    from sklearn.manifold import Isomap, LocallyLinearEmbedding
    from sklearn.model_selection import StratifiedKFold, train_test_split
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits   # a dependency of scikit-learn

    from ..integrations.sklearn import AutoencoderTransformer
except ImportError as exc:
    SKLEARN_MISSING = exc
else:
    SKLEARN_MISSING = None

__all__ = ["METHODS", "CLASSIFIERS", "reduction_study", "reduction_table", "plot_reduction_study",
           "REDUCTION_COLUMNS", "REDUCTION_TABLE_COLUMNS", "REDUCTION_FLAGS",
           "add_reduction_arguments", "check_reduction_arguments", "study_reduction"]

METHODS = ("PCA", "LDA", "LLE", "Isomap", "autoencoder")
#: the classifiers scored on the codes: 5 nearest neighbours on the codes as they are, or
#: logistic regression on standardized codes
CLASSIFIERS = ("knn", "logistic")
_CLASSIFIER_TEXT = {"knn": "5-nearest-neighbours",
                    "logistic": "logistic regression (standardized)"}
#: neighbours of LLE's and Isomap's graphs
N_NEIGHBORS = 10
#: the autoencoder's hidden layer (as in study latent)
HIDDEN = 64

#: numeric rows (CSV): one per (code size, method)
REDUCTION_COLUMNS = ["code size", "method", "folds", "accuracy mean", "accuracy sd",
                     "reconstruction MSE mean", "reconstruction MSE sd", "fit seconds", "note"]
#: printed rows (markdown): "mean ± sd"
REDUCTION_TABLE_COLUMNS = ["code size", "method", "accuracy", "reconstruction MSE",
                           "fit seconds", "note"]


# ---- the study ----------------------------------------------------------------------------

def _classifier(name):
    """A fresh classifier for the codes: 5-NN or standardized logistic regression."""
    if name == "knn":
        return KNeighborsClassifier(n_neighbors=5)
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))


def _check_study_args(X, y, sizes, folds, classifier, epochs):
    """X (n, D) float, y (n,) int labels, the sizes, folds, classifier and epochs, checked
    before any work (ValueError / TypeError naming the argument)."""
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    if X.ndim != 2 or len(X) == 0 or not np.all(np.isfinite(X)):
        raise ValueError(f"X must be a non-empty 2-D array of finite numbers, got shape "
                         f"{X.shape}")
    if y.shape != (len(X),) or y.dtype.kind not in "iu":
        raise ValueError(f"y must hold one integer label per row of X ({len(X)}), got shape "
                         f"{y.shape} of {y.dtype}")
    sizes = check_sizes(sizes, "sizes", min_length=1, what="at least one code size")
    if max(sizes) > X.shape[1] or len(set(sizes)) != len(sizes):
        raise ValueError(f"sizes must be distinct code sizes in [1, {X.shape[1]}] (the number "
                         f"of features), got {sizes}")
    if not isinstance(classifier, str) or classifier not in CLASSIFIERS:
        raise ValueError(f"classifier must be one of {list(CLASSIFIERS)}, got {classifier!r}")
    folds = check_positive_int(folds, "folds")
    check_positive_int(epochs, "epochs")
    if folds < 2:
        raise ValueError(f"folds must be at least 2, got {folds}")
    classes, counts = np.unique(y, return_counts=True)
    if len(classes) < 2:
        raise ValueError(f"y must hold at least 2 classes to classify, got {len(classes)}")
    if counts.min() < folds:
        raise ValueError(f"{folds}-fold cross-validation needs at least {folds} examples of "
                         f"every class; class {classes[np.argmin(counts)]} has "
                         f"{counts.min()}")
    n_train = len(X) - -(-len(X) // folds)    # the smallest training part of a fold
    if max(sizes) >= n_train - 1:
        raise ValueError(f"sizes must stay below the {n_train - 1} training images of a fold "
                         f"less one (LLE and Isomap solve an eigenproblem of that size), got "
                         f"{max(sizes)}")
    return X, y, sorted(sizes), folds


def _spectral(name, k, n_train, seed):
    """LLE or Isomap with k components and N_NEIGHBORS neighbours (fewer on a tiny fold)."""
    n_neighbors = min(N_NEIGHBORS, n_train - 1)
    if name == "LLE":
        return LocallyLinearEmbedding(n_neighbors=n_neighbors, n_components=k,
                                      eigen_solver="arpack", random_state=seed)
    return Isomap(n_neighbors=n_neighbors, n_components=k, eigen_solver="dense")


def _fit_timed(method, X, y=None):
    """method.fit(X[, y]) and its wall time in seconds."""
    start = time.perf_counter()
    with warnings.catch_warnings():
        # pixels that are 0 in every image (the digits' borders) make the within-class scatter
        # singular, which LDA's SVD solver handles (its "Variables are collinear" says so)
        warnings.filterwarnings("ignore", message="Variables are collinear")
        if y is None:
            method.fit(X)
        else:
            method.fit(X, y)
    return method, time.perf_counter() - start


def _fold_scores(method, Z_tr, Z_te, y_tr, y_te, X_te, classifier):
    """(accuracy, reconstruction MSE or None) of one fitted method on one fold."""
    acc = float(_classifier(classifier).fit(Z_tr, y_tr).score(Z_te, y_te))
    rec = None
    if method is not None and hasattr(method, "inverse_transform"):
        rec = float(np.mean((method.inverse_transform(Z_te) - X_te) ** 2))
    return acc, rec


def _one_fold(X, y, tr, te, sizes, n_classes, epochs, classifier, seed):
    """{(k, method): (accuracy, reconstruction MSE or None, fit seconds)} on one fold, and
    {method: held-out 2-D codes} when 2 is among the sizes."""
    X_tr, X_te, y_tr, y_te = X[tr], X[te], y[tr], y[te]
    out, codes2 = {}, {}
    kmax = max(sizes)
    spectral = {name: _fit_timed(_spectral(name, kmax, len(tr), seed), X_tr)
                for name in ("LLE", "Isomap")}
    spectral_codes = {name: (m.transform(X_tr), m.transform(X_te))
                      for name, (m, _) in spectral.items()}
    for k in sizes:
        fitted = {"PCA": _fit_timed(PCA(k, random_state=seed), X_tr)}
        if k <= n_classes - 1:
            fitted["LDA"] = _fit_timed(LinearDiscriminantAnalysis(n_components=k), X_tr, y_tr)
        fitted["autoencoder"] = _fit_timed(AutoencoderTransformer(
            k, hidden=(HIDDEN,), output_activation="sigmoid", epochs=epochs,
            random_state=seed), X_tr)
        for name in METHODS:
            if name in spectral:
                Z_tr, Z_te = (z[:, :k] for z in spectral_codes[name])
                acc, rec = _fold_scores(None, Z_tr, Z_te, y_tr, y_te, X_te, classifier)
                out[(k, name)] = (acc, rec, spectral[name][1])
            elif name in fitted:
                method, seconds = fitted[name]
                Z_tr, Z_te = method.transform(X_tr), method.transform(X_te)
                acc, rec = _fold_scores(method, Z_tr, Z_te, y_tr, y_te, X_te, classifier)
                out[(k, name)] = (acc, rec, seconds)
            else:
                continue
            if k == 2:
                codes2[name] = Z_te
    return out, codes2


def _summary_row(k, name, results, folds, n_classes, kmax):
    """One numeric row from the folds' (accuracy, reconstruction, seconds) of (k, name)."""
    row = {"code size": k, "method": name, "folds": folds, "note": ""}
    if not results:   # LDA beyond n_classes - 1
        row.update({c: "" for c in REDUCTION_COLUMNS[3:8]})
        row["note"] = (f"not available: LDA gives at most n_classes - 1 = {n_classes - 1} "
                       f"dimensions")
        return row
    sd = (lambda v: float(np.std(v, ddof=1))) if len(results) > 1 else (lambda v: 0.0)
    accs = [r[0] for r in results]
    row["accuracy mean"], row["accuracy sd"] = float(np.mean(accs)), sd(accs)
    recs = [r[1] for r in results if r[1] is not None]
    row["reconstruction MSE mean"] = float(np.mean(recs)) if recs else ""
    row["reconstruction MSE sd"] = sd(recs) if recs else ""
    row["fit seconds"] = float(np.mean([r[2] for r in results]))
    if name in ("LLE", "Isomap"):
        row["note"] = f"no inverse; one fit at k={kmax} per fold, its first k columns"
    elif name == "LDA":
        row["note"] = "no inverse"
    return row


def reduction_study(X, y, *, sizes=(2, 4, 8, 16, 32), folds=5, epochs=50, classifier="knn",
                    seed=0, log=None, embeddings=None):
    """Autoencoder codes against PCA, LDA, LLE and Isomap (module doc): one row per
    (code size, method), sizes ascending, methods in METHODS order.

    X            (n, D) data in [0, 1] (the autoencoder's output is a sigmoid)
    y            (n,) integer labels: the classifier's targets, and LDA's
    sizes        distinct code sizes in [1, D]
    folds        stratified cross-validation folds (shuffled with seed); every class needs
                 at least `folds` examples
    epochs       the autoencoder's training epochs (batch 32, Adam 3e-3)
    classifier   "knn" (5 nearest neighbours on the codes) or "logistic" (logistic regression
                 on standardized codes)
    seed         the folds, the autoencoders' and LLE's random draws
    log          None or a function called with one progress line per fold
    embeddings   None or a dict, filled with method -> the held-out 2-D codes of the first
                 fold and "labels" -> their labels (when 2 is among the sizes)
    Returns the rows (REDUCTION_COLUMNS; accuracy and reconstruction are mean and sample sd
    over the folds; "" where a method has no value).

    Every fit runs with one BLAS thread (threadpoolctl): the problems are small, so threads
    cost more than they give (on a busy two-core machine LDA's fit on the digits took 2 s
    with two threads, 0.02 s with one), and the fit times compare methods on equal terms.
    """
    X, y, sizes, folds = _check_study_args(X, y, sizes, folds, classifier, epochs)
    n_classes = len(np.unique(y))
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    results = {}
    for i, (tr, te) in enumerate(splitter.split(X, y)):
        start = time.perf_counter()
        with threadpool_limits(limits=1):
            fold, codes2 = _one_fold(X, y, tr, te, sizes, n_classes, epochs, classifier, seed)
        for key, value in fold.items():
            results.setdefault(key, []).append(value)
        if i == 0 and embeddings is not None and codes2:
            embeddings.update(codes2)
            embeddings["labels"] = y[te]
        if log:
            log(f"fold {i + 1}/{folds}: {len(tr)} train / {len(te)} test images, "
                f"{time.perf_counter() - start:.1f} s")
    return [_summary_row(k, name, results.get((k, name), []), folds, n_classes, max(sizes))
            for k in sizes for name in METHODS]


def reduction_table(rows):
    """The rows of reduction_study as a markdown table (REDUCTION_TABLE_COLUMNS): "mean ± sd"
    strings, "-" where a method has no value, "n/a" where it has no such code size."""
    return format_markdown(_table_rows(rows), REDUCTION_TABLE_COLUMNS)


def _table_rows(rows):
    """The printed form of the rows: "mean ± sd" strings, "-" where a method has no value."""
    out = []
    for r in rows:
        t = {"code size": r["code size"], "method": r["method"], "note": r["note"]}
        if r["accuracy mean"] == "":
            t["accuracy"] = t["reconstruction MSE"] = t["fit seconds"] = "n/a"
        else:
            t["accuracy"] = f"{r['accuracy mean']:.3f} ± {r['accuracy sd']:.3f}"
            t["reconstruction MSE"] = ("-" if r["reconstruction MSE mean"] == "" else
                                       f"{r['reconstruction MSE mean']:.4f} ± "
                                       f"{r['reconstruction MSE sd']:.4f}")
            t["fit seconds"] = f"{r['fit seconds']:.2f}"
        out.append(t)
    return out


def plot_reduction_study(rows, embeddings=None, *, fig=None, title=None):
    """Top left: cross-validated accuracy against the code size, one line per method (bars:
    one sd over the folds). Top right: reconstruction MSE of the methods with an inverse.
    Bottom (when `embeddings` holds 2-D codes): each method's 2-D codes of the held-out fold,
    coloured by label, side by side. Returns the Figure."""
    import matplotlib.pyplot as plt
    panels = [m for m in METHODS if embeddings and m in embeddings]
    if fig is None:
        fig = plt.figure(figsize=(15, 7 if panels else 4.5))
    grid = fig.add_gridspec(2 if panels else 1, 10, height_ratios=[1.4, 1] if panels else [1])
    ax_acc, ax_rec = fig.add_subplot(grid[0, :6]), fig.add_subplot(grid[0, 6:])
    sizes = sorted({r["code size"] for r in rows})
    for i, m in enumerate(METHODS):
        rs = [r for r in rows if r["method"] == m and r["accuracy mean"] != ""]
        if rs:
            ax_acc.errorbar([r["code size"] for r in rs], [r["accuracy mean"] for r in rs],
                            [r["accuracy sd"] for r in rs], fmt="o-", color=f"C{i}",
                            capsize=3, label=m)
        rec = [r for r in rs if r["reconstruction MSE mean"] != ""]
        if rec:
            ax_rec.errorbar([r["code size"] for r in rec],
                            [r["reconstruction MSE mean"] for r in rec],
                            [r["reconstruction MSE sd"] for r in rec], fmt="o-",
                            color=f"C{i}", capsize=3, label=m)
    code_size_axes((ax_acc, ax_rec), sizes)
    ax_acc.set_ylabel("cross-validated accuracy on the codes")
    ax_acc.set_title(title or "classification accuracy on the codes (mean ± sd over folds)")
    ax_rec.set_yscale("log")
    ax_rec.set_ylabel("held-out reconstruction MSE per pixel")
    ax_rec.set_title("reconstruction (methods with an inverse)")
    for j, m in enumerate(panels):
        ax = fig.add_subplot(grid[1, 2 * j:2 * j + 2])
        Z, labels = embeddings[m], embeddings["labels"]
        for c in np.unique(labels):
            pts = Z[labels == c]
            ax.scatter(pts[:, 0], pts[:, 1], s=5, color=plt.cm.tab10(int(c) % 10), label=str(c))
        ax.set_title(f"{m}, 2-D (held-out fold)", fontsize=10)
        ax.set_box_aspect(1)
        ax.set_xticks([])
        ax.set_yticks([])
        if j == len(panels) - 1:
            ax.legend(fontsize=7, markerscale=2, loc="center left", bbox_to_anchor=(1, 0.5),
                      title="label", title_fontsize=7)
    fig.tight_layout()
    return fig


# ---- the command line -------------------------------------------------------------------

#: flags only study reduction reads: dest -> (the studies that read it, default)
REDUCTION_FLAGS = {
    "folds": (("reduction",), 5),
    "max_samples": (("reduction",), 2000),
    "classifier": (("reduction",), "knn"),
}

#: the most rows LLE and Isomap see: their memory and time grow as n^2 and faster
MAX_SAMPLES = 20_000


def add_reduction_arguments(s):
    """The study parser's flags that only study reduction reads."""
    s.add_argument("--folds", type=int_between(2, 20), default=None,
                   help="reduction: stratified cross-validation folds, 2..20 (default 5)")
    s.add_argument("--max-samples", type=int_between(20, MAX_SAMPLES), default=None,
                   help=f"reduction: use a stratified random subset of at most this many "
                        f"images, 20..{MAX_SAMPLES} (default 2000; the digits have 1797)")
    s.add_argument("--classifier", default=None, choices=list(CLASSIFIERS),
                   help="reduction: the classifier scored on the codes: knn (5 nearest "
                        "neighbours, default) or logistic (logistic regression on standardized "
                        "codes)")


def check_reduction_arguments(args):
    """What study reduction checks before any work (UsageError): scikit-learn is installed,
    and --seeds, which it does not read (the folds give the spread), is not given."""
    if args.study != "reduction":
        return
    if SKLEARN_MISSING is not None:
        raise UsageError(f'study reduction needs scikit-learn >= 1.6: pip install '
                         f'"numpyae[sklearn]" ({SKLEARN_MISSING})')
    if getattr(args, "seeds", None) is not None:
        raise UsageError("--seeds applies to study latent / pretraining, not reduction (its "
                         "spread is over the --folds)")


def _subsample(X, y, n, seed):
    """A stratified random subset of n rows (all of them when there are no more than n)."""
    if len(X) <= n:
        return X, y
    X, _, y, _ = train_test_split(X, y, train_size=n, stratify=y, random_state=seed)
    return X, y


def study_reduction(args, X, y):
    """`study reduction` on the --dataset (X, y): prints the table and writes it (markdown and
    CSV) with its figure into a run folder."""
    start = time.perf_counter()
    n_all = len(X)
    X, y = _subsample(X, y, args.max_samples, args.seed)
    log = None if args.quiet else (lambda line: print(line, flush=True))
    embeddings = {}
    rows = reduction_study(X, y, sizes=args.sizes, folds=args.folds, epochs=args.epochs,
                           classifier=args.classifier, seed=args.seed, log=log,
                           embeddings=embeddings)
    run = run_dir(args.out, "study-reduction")
    table = reduction_table(rows)
    write_markdown(table, os.path.join(run, "reduction_study.md"))
    write_csv(rows, REDUCTION_COLUMNS, os.path.join(run, "reduction_study.csv"))
    save_figure(plot_reduction_study(rows, embeddings or None,
                                     title=f"{args.dataset}: accuracy of "
                                           f"{_CLASSIFIER_TEXT[args.classifier]} on the codes"),
                os.path.join(run, "reduction_study.png"))
    D = X.shape[1]
    subset = (f"a stratified subset of {len(X)} of its {n_all} images" if len(X) < n_all
              else f"{len(X)} images")
    print(f"\nreduction study on {args.dataset}: {subset}, {args.folds}-fold stratified "
          f"cross-validation (seed {args.seed}); classifier: {_CLASSIFIER_TEXT[args.classifier]}"
          f" on the codes; autoencoder {D}-{HIDDEN}-k-{HIDDEN}-{D} (relu, linear code, sigmoid "
          f"output, MSE), Adam lr 3e-3, {args.epochs} epochs of 32, for every size and fold; "
          f"LLE (standard) and Isomap with {N_NEIGHBORS} neighbours; reconstruction MSE per "
          f"pixel on the held-out fold; fit seconds per fold\n")
    print(table)
    if not embeddings:
        print("\n(the 2-D embeddings need 2 among --sizes; left out of the figure)")
    print(f"\ntotal {time.perf_counter() - start:.0f} s; run folder: {run}")
    return 0

