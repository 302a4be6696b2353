"""`python -m numpyae train --model {sparse, denoising, contractive, ksparse}`: the classic
regularized-autoencoder results, each printed and drawn into a run folder.

    sparse       KL-sparse autoencoder on natural-image patches, UFLDL exercise settings, L-BFGS
                 against an Adam twin; filter grids, localization and orientation selectivity
                 against random filters (PASS / FAIL), mean hidden activation vs rho
    denoising    masking noise 0.3 on digits; error on corrupted held-out inputs vs a vanilla
                 autoencoder of the same size and budget
    contractive  contractive autoencoder on digits; mean ||J||_F on held-out inputs vs vanilla
    ksparse      k-sparse autoencoder on digits with Makhzani & Frey's k schedule and alpha*k
                 encoding, against an unscheduled twin; dead units, nonzero code units per
                 example and error for several k, filter grids

Each trains on --dataset digits (default) or patches. --checkpoint / --checkpoint-every /
--resume act on the main model: sparse checkpoints its Adam twin (its L-BFGS model retrains from
the seed in seconds and keeps no checkpoint); denoising and contractive checkpoint the
regularized model (its vanilla twin retrains from the seed); ksparse needs a single --ks value
and checkpoints its scheduled model (the unscheduled twin retrains from the seed); its k
schedule spans the first half of --epochs, so a resume needs the same --epochs (another one is
refused, naming schedule_steps). A resumed run prints the same numbers as an uninterrupted one.
"""
from __future__ import annotations

import os
import time

import numpy as np

from ..analysis.metrics import (beats_random, jacobian_frobenius_norm, localization_score,
                                orientation_selectivity)
from ..analysis.plotting import plot_filters, plot_reconstructions
from ..data.datasets import PATCH_IMAGES, load_digits, load_patches, train_validation_split
from ..io import save
from ..models.presets import (ContractiveAutoencoder, DenoisingAutoencoder, KSparseAutoencoder,
                              SparseAutoencoder)
from ..nn.corruption import MaskingNoise
from ..nn.optimizers import Adam
from ..training.fit import fit
from ..training.lbfgs import minimize
from .common import (UsageError, fit_checkpoint_kwargs, int_between, nonnegative_float,
                     positive_int_list, run_dir, save_figure)

#: per-trainer defaults for --epochs / --batch-size / --lr when they are not given
DEFAULTS = {
    "sparse": {"epochs": 100, "batch_size": 100, "lr": 3e-3},  # the Adam twin
    "denoising": {"epochs": 150, "batch_size": 32, "lr": 3e-3},
    "contractive": {"epochs": 150, "batch_size": 32, "lr": 3e-3},
    "ksparse": {"epochs": 100, "batch_size": 128, "lr": 1e-2},
}

#: the --dataset values these trainers read (every model here has 64 inputs: 8x8 images)
DATASETS = {name: ("digits", "patches") for name in DEFAULTS}

#: the code size of the k-sparse autoencoders; every --ks value must be at most this
KSPARSE_CODE_SIZE = 100
#: the k-sparse encoding keeps the alpha*k largest units (Makhzani & Frey report alpha = 2 or
#: 3; 3 here), and the weights start from N(0, KSPARSE_INIT_STD^2): from Glorot's larger start
#: the filter grid keeps visible noise and, at k = 5, twice as many units die (29 of 100
#: against 14, measured with the defaults on the digits)
KSPARSE_ALPHA, KSPARSE_INIT_STD = 3.0, 0.01

#: flags only some of these trainers read: dest -> (the --model values that read it, default).
#: cli refuses them for any other --model instead of ignoring them.
FLAGS = {
    "lam": (("contractive",), 0.1),
    "ks": (("ksparse",), [5, 10, 20, 40]),
    "max_iter": (("sparse",), 400),
}

#: --n-patches when --dataset patches and it is not given (UFLDL's number); at least
#: MIN_PATCHES, so that the 10% held out is at least one patch
N_PATCHES, MIN_PATCHES = 10000, 10


def check_arguments(args):
    """Combinations these trainers cannot run, refused (UsageError) before any work:
    --n-patches without --dataset patches, and checkpoint flags for several k-sparse models.
    Fills in --n-patches for --dataset patches."""
    if args.dataset != "patches":
        if args.n_patches is not None:
            raise UsageError(f"--n-patches applies to --dataset patches, not {args.dataset}")
    elif args.n_patches is None:
        args.n_patches = N_PATCHES
    if args.model == "ksparse" and len(args.ks) > 1 and (args.checkpoint or args.resume):
        flag = "--checkpoint" if args.checkpoint else "--resume"
        raise UsageError(f"{flag} with --model ksparse needs a single --ks value (one model per "
                         f"k, one checkpoint), got --ks {','.join(map(str, args.ks))}")


def _data(args):
    """(X_tr, X_va, image shape, description): patches for --dataset patches, else the digits."""
    if args.dataset == "patches":
        X = load_patches(args.n_patches, rng=args.seed)
        X_tr, X_va, _, _ = train_validation_split(X, fraction=0.1, rng=args.seed)
        return X_tr, X_va, (8, 8), (f"natural-image patches (8x8, of the whitened photographs "
                                    f"{', '.join(PATCH_IMAGES)})")
    X, y = load_digits()
    X_tr, X_va, _, _ = train_validation_split(X, y, fraction=0.2, rng=args.seed)
    return X_tr, X_va, (8, 8), "digits (8x8)"


def _fit(model, X_tr, X_va, args, *, checkpointed=False):
    """Adam(--lr), --epochs epochs of --batch-size, validated on X_va; returns the History.
    checkpointed=True: with --checkpoint / --checkpoint-every / --resume (the main model)."""
    opt = Adam(model.parameters(), lr=args.lr)
    return fit(model, X_tr, opt, epochs=args.epochs, batch_size=args.batch_size,
               validation_data=(X_va,), rng=args.seed, progress=not args.quiet,
               **(fit_checkpoint_kwargs(args) if checkpointed else {}))


def _against_vanilla(name, model, vanilla, X_tr, X_va, args, figure):
    """Train `model` (checkpointed) and its unregularized twin `vanilla` alike, save `model` in
    a new run folder and draw figure(m, label) for each into <run>/<figure file>_<label>.png.
    Returns the run."""
    _fit(model, X_tr, X_va, args, checkpointed=True)
    _fit(vanilla, X_tr, X_va, args)
    run = run_dir(args.out, name)
    save(model, os.path.join(run, "model.npz"))
    for label, m in ((name, model), ("vanilla", vanilla)):
        fig, stem = figure(m, label)
        save_figure(fig, os.path.join(run, f"{stem}_{label}.png"))
    return run


def _mse(a, b):
    return float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))


# ---- sparse ---------------------------------------------------------------------------------

#: the UFLDL exercise's sparsity target, sparsity weight and weight decay
SPARSE_RHO, SPARSE_BETA, SPARSE_LAMBDA = 0.01, 3.0, 1e-4

#: the filter criteria of --model sparse: localization is the energy share of a filter in its
#: best window of half the patch side (4 x 4 of 8 x 8: a quarter of the patch), orientation
#: selectivity the share of its spectral energy in its best band of SPARSE_BAND degrees; a
#: filter beats random on one when it scores above the SPARSE_PERCENTILE-th percentile of
#: N_RANDOM_FILTERS i.i.d. Gaussian filters, and the run passes when at least SPARSE_PASS_SHARE
#: of the L-BFGS filters beat random on both
SPARSE_BAND, SPARSE_PERCENTILE, SPARSE_PASS_SHARE, N_RANDOM_FILTERS = 30.0, 95.0, 0.8, 10000


def train_sparse(args):
    """KL-sparse autoencoder, the UFLDL sparse-autoencoder exercise: 64 inputs, 25 sigmoid
    hidden units, rho = 0.01, beta = 3, lambda = 1e-4, minimized full-batch with L-BFGS
    (--max-iter iterations, 400 as in the exercise's minFunc run, in float64 as there), against
    a twin from the same initial weights trained with Adam (--epochs epochs of --batch-size at
    --lr; the one --checkpoint / --resume act on). Without --quiet it also prints the wall-clock
    time of both, which varies between runs. Prints the filter criteria against random
    filters (see SPARSE_BAND); on --dataset patches returns 0 when the L-BFGS filters pass
    them, 1 when not. On the digits the criteria are printed but not judged (they describe
    edge detectors) and the status is 0."""
    X_tr, X_va, shape, what = _data(args)
    start = time.perf_counter()
    adam, adam_history = _fit_sparse_adam(X_tr, X_va, args)  # a refused resume stops here
    adam_seconds = time.perf_counter() - start
    model, lbfgs_history, seconds = _fit_sparse_lbfgs(X_tr, X_va, args)
    run = _write_sparse_run(model, adam, lbfgs_history, adam_history, shape, args)
    held = "patches" if args.dataset == "patches" else "digits"
    print(f"data: {len(X_tr)} train / {len(X_va)} held-out {what}")
    print(f"model: 64-25-64 sigmoid, rho={SPARSE_RHO}, beta={SPARSE_BETA}, weight decay "
          f"lambda={SPARSE_LAMBDA} (UFLDL's J; the model minimizes 2J: MSE(sum) has no 1/2, so it "
          f"holds KLSparsity(beta={2 * SPARSE_BETA:g}) and WeightDecay({2 * SPARSE_LAMBDA:g}))")
    print(f"training: L-BFGS, full batch, float64: {lbfgs_history.iterations} iterations "
          f"({lbfgs_history.status}); its twin from the same initial weights: Adam, "
          f"{adam_history.epochs} epochs of batch {args.batch_size} at lr {args.lr:g}")
    if not args.quiet:  # wall-clock times differ between runs; --quiet prints only the results
        print(f"time: L-BFGS {seconds:.1f} s, Adam {adam_seconds:.1f} s (wall clock)")
    for name, m in (("L-BFGS", model), ("Adam", adam)):
        _print_sparse_objective(name, m, X_va, held)
    passed = _print_sparse_criteria(model, adam, shape, args)
    print(f"run folder: {run}")
    return 0 if passed or args.dataset != "patches" else 1


def _fit_sparse_adam(X_tr, X_va, args):
    """The Adam twin: SparseAutoencoder(rng=--seed) trained by _fit (checkpointed).
    Returns (model, History)."""
    adam = SparseAutoencoder([64, 25], rho=SPARSE_RHO, beta=SPARSE_BETA,
                             weight_decay=SPARSE_LAMBDA, rng=args.seed)
    return adam, _fit(adam, X_tr, X_va, args, checkpointed=True)


def _fit_sparse_lbfgs(X_tr, X_va, args):
    """The exercise's run: the same initial weights in float64, minimize(method="lbfgs") on all
    of X_tr, validated on X_va. Returns (model, MinimizeHistory, seconds)."""
    model = SparseAutoencoder([64, 25], rho=SPARSE_RHO, beta=SPARSE_BETA,
                              weight_decay=SPARSE_LAMBDA, rng=args.seed).astype(np.float64)
    start = time.perf_counter()
    history = minimize(model, X_tr.astype(np.float64), method="lbfgs", max_iter=args.max_iter,
                       validation_data=(X_va.astype(np.float64),), progress=not args.quiet)
    return model, history, time.perf_counter() - start


def _write_sparse_run(model, adam, lbfgs_history, adam_history, shape, args):
    """A run folder with the L-BFGS model (model.npz), the Adam twin (model_adam.npz), the filter
    grids of both and the two loss curves."""
    run = run_dir(args.out, "sparse")
    save(model, os.path.join(run, "model.npz"))
    save(adam, os.path.join(run, "model_adam.npz"))
    for m, stem, how in ((model, "filters", f"L-BFGS, {lbfgs_history.iterations} iterations"),
                         (adam, "filters_adam", f"Adam, {adam_history.epochs} epochs")):
        save_figure(plot_filters(m.encoder.layers[0].W.value, shape, n_cols=5,
                                 title=f"KL-sparse autoencoder filters ({how})\n"
                                       f"the 25 columns of the first weight matrix"),
                    os.path.join(run, f"{stem}.png"))
    save_figure(_sparse_loss_figure(lbfgs_history, adam_history, args),
                os.path.join(run, "loss_curve.png"))
    return run


def _sparse_loss_figure(lbfgs_history, adam_history, args):
    """Two panels of UFLDL's J (the model's loss / 2): L-BFGS by iteration, Adam by epoch, each
    on the training and the held-out set. The y axis shows the spread after the first steps
    (from 0.98 x the lowest J to the highest J after 5% of the run); the first steps' larger
    values run off the top, and the panel says where J started."""
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    panels = ((axes[0], lbfgs_history, "L-BFGS iteration (one full-batch step each)",
               "L-BFGS, full batch, J after iteration 1", "training set (all of it)"),
              (axes[1], adam_history, f"Adam epoch ({args.batch_size} patches a step)",
               f"Adam, lr {args.lr:g}, J after epoch 1",
               "training set (mean over the epoch's minibatches)"))
    curves = [(np.asarray(h["loss"]) / 2, np.asarray(h["val_loss"]) / 2) for _, h, *_ in panels]
    low = min(min(c.min() for c in pair) for pair in curves)
    high = max(max(c[len(c) // 20 + 1:].max(initial=c[-1]) for c in pair) for pair in curves)
    for (ax, history, xlabel, title, train_label), (train, held) in zip(panels, curves):
        steps = np.arange(1, len(train) + 1)
        ax.plot(steps, train, label=train_label)
        ax.plot(steps, held, "--", label="held-out set")
        ax.set_xlabel(xlabel)
        ax.set_title(f"{title}: {train[0]:.3g}")
        ax.set_ylim(0.98 * low, high + 0.1 * (high - low) + 1e-9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    axes[0].set_ylabel("UFLDL objective J per example\n(1/2 squared error + KL + weight decay)")
    fig.suptitle("Sparse autoencoder: the objective while training (same model, same start)")
    fig.tight_layout()
    return fig


def _print_sparse_objective(name, model, X_va, held):
    """Print the model's held-out UFLDL objective J and its parts, and its mean hidden
    activation against rho."""
    m64 = model.astype(np.float64)
    terms = m64.evaluate(X_va.astype(np.float64), batch_size=len(X_va))
    act = m64.encode(X_va.astype(np.float64)).mean(axis=0)
    rel = abs(act.mean() - SPARSE_RHO) / SPARSE_RHO
    print(f"{name}: UFLDL objective J on the held-out {held}: "
          f"{SparseAutoencoder.ufldl_objective(terms):.4f} (1/2 squared error "
          f"{terms['reconstruction'] / 2:.4f}, KL {terms['kl_sparsity'] / 2:.4f}, weight decay "
          f"{terms['weight_decay'] / 2:.4f}); mean hidden activation {act.mean():.4f} "
          f"(rho = {SPARSE_RHO}; {rel:.0%} off), per unit {act.min():.4f}..{act.max():.4f}")


def _print_sparse_criteria(model, adam, shape, args):
    """Print localization and orientation selectivity of both models' filters against random
    Gaussian filters, and the verdict for the L-BFGS filters. Returns True if they pass."""
    window = max(1, min(shape) // 2)
    rand = np.random.default_rng(args.seed).standard_normal((shape[0] * shape[1],
                                                              N_RANDOM_FILTERS))
    rand_loc = localization_score(rand, shape, window=window)
    rand_ori = orientation_selectivity(rand, shape, bandwidth=SPARSE_BAND)
    print(f"filter criteria (the 25 first-layer filters of each model; random = "
          f"{N_RANDOM_FILTERS:,} i.i.d. Gaussian filters):")
    print(f"  localization: energy share in the best {window}x{window} window; orientation: "
          f"share of the spectral energy in the best {SPARSE_BAND:g}-degree band (DC excluded); "
          f"'> p{SPARSE_PERCENTILE:g}': the share of filters above the random filters' "
          f"{SPARSE_PERCENTILE:g}th percentile")
    print(f"  {'filters':26s} {'localization':>12s} {f'> p{SPARSE_PERCENTILE:g}':>7s} "
          f"{'orientation':>12s} {f'> p{SPARSE_PERCENTILE:g}':>7s} {'both':>6s}")
    rows = {}
    for name, m in (("L-BFGS", model), ("Adam", adam)):
        W = m.encoder.layers[0].W.value
        loc = localization_score(W, shape, window=window)
        ori = orientation_selectivity(W, shape, bandwidth=SPARSE_BAND)
        loc_share, loc_cut = beats_random(loc, rand_loc, percentile=SPARSE_PERCENTILE)
        ori_share, ori_cut = beats_random(ori, rand_ori, percentile=SPARSE_PERCENTILE)
        both = float(np.mean((loc > loc_cut) & (ori > ori_cut)))
        rows[name] = both
        print(f"  {name:26s} {loc.mean():12.3f} {loc_share:7.0%} {ori.mean():12.3f} "
              f"{ori_share:7.0%} {both:6.0%}")
    print(f"  {'random filters, mean':26s} {rand_loc.mean():12.3f} {'':7s} {rand_ori.mean():12.3f}")
    print(f"  {f'random filters, p{SPARSE_PERCENTILE:g}':26s} {loc_cut:12.3f} {'':7s} "
          f"{ori_cut:12.3f}")
    small = localization_score(model.encoder.layers[0].W.value, shape)
    small_share, _ = beats_random(small, localization_score(rand, shape))
    print(f"  (3x3-window localization, the earlier measure: L-BFGS mean {small.mean():.3f}, "
          f"{small_share:.0%} of the filters above the random p{SPARSE_PERCENTILE:g})")
    share = rows["L-BFGS"]
    passed = share >= SPARSE_PASS_SHARE
    if args.dataset != "patches":
        print(f"criterion (>= {SPARSE_PASS_SHARE:.0%} of the L-BFGS filters beat random on both): "
              f"{share:.0%}, not judged on --dataset {args.dataset} (it describes edge detectors "
              f"of natural-image patches)")
    else:
        print(f"criterion: >= {SPARSE_PASS_SHARE:.0%} of the L-BFGS filters beat random on both: "
              f"{share:.0%} -> {'PASS' if passed else 'FAIL'}")
    return passed


# ---- denoising and contractive: against a vanilla twin --------------------------------------

def train_denoising(args):
    """Masking noise 0.3 on digits: denoising vs vanilla autoencoder, same size and budget."""
    X_tr, X_va, shape, what = _data(args)
    p = 0.3
    sizes = [64, 48]
    # the corruption draws from rng + 1, so weights and noise come from different streams
    dae = DenoisingAutoencoder(sizes, noise="masking", level=p, rng=args.seed)
    vanilla = DenoisingAutoencoder(sizes, noise="masking", level=0.0, rng=args.seed)
    noise = MaskingNoise(p, rng=args.seed + 1000)  # a fixed corruption of the held-out set
    X_noisy = noise.forward(X_va, training=True)
    run = _against_vanilla(
        "denoising", dae, vanilla, X_tr, X_va, args,
        lambda m, label: (plot_reconstructions(X_va[:12], m.reconstruct(X_noisy[:12]),
                                               X_noisy[:12], n=12,
                                               title=f"{label} autoencoder on masked digits "
                                                     f"(p={p})"), "reconstructions"))
    rows = [(name, _mse(m.reconstruct(X_noisy), X_va), _mse(m.reconstruct(X_va), X_va))
            for name, m in (("denoising", dae), ("vanilla", vanilla))]
    print(f"data: {len(X_tr)} train / {len(X_va)} held-out {what}; masking noise p={p}")
    print(f"models: {'-'.join(map(str, sizes + sizes[-2::-1]))} sigmoid, BCE, {args.epochs} epochs "
          f"each, same initialization; the denoising one trains on masked inputs")
    print("MSE per pixel against the CLEAN held-out digits:")
    print(f"{'model':12s} {'from corrupted input':>22s} {'from clean input':>18s}")
    for name, noisy, clean in rows:
        print(f"{name:12s} {noisy:22.5f} {clean:18.5f}")
    better = rows[0][1] < rows[1][1]
    print(f"denoising reconstructs corrupted inputs {'closer to' if better else 'NOT closer to'} "
          f"the clean ones than vanilla ({rows[0][1]:.5f} vs {rows[1][1]:.5f})")
    print(f"run folder: {run}")
    return 0


def train_contractive(args):
    """Contractive vs vanilla autoencoder on digits: mean ||J||_F on held-out inputs."""
    X_tr, X_va, shape, what = _data(args)
    sizes, lam = [64, 32], args.lam
    cae = ContractiveAutoencoder(sizes, lam=lam, rng=args.seed)
    vanilla = ContractiveAutoencoder(sizes, lam=0.0, rng=args.seed)
    run = _against_vanilla(
        "contractive", cae, vanilla, X_tr, X_va, args,
        lambda m, label: (plot_filters(m.encoder.layers[0].W.value, shape,
                                       title=f"{label} filters"), "filters"))
    rows = [(name, jacobian_frobenius_norm(m.encoder, X_va).mean(),
             _mse(m.reconstruct(X_va), X_va))
            for name, m in (("contractive", cae), ("vanilla", vanilla))]
    print(f"data: {len(X_tr)} train / {len(X_va)} held-out {what}")
    print(f"models: 64-32-64 sigmoid, tied weights, BCE summed over pixels, {args.epochs} epochs "
          f"each, same initialization; contractive lam={lam}, vanilla lam=0")
    print(f"{'model':12s} {'mean ||J||_F held-out':>22s} {'reconstruction MSE':>20s}")
    for name, j, mse in rows:
        print(f"{name:12s} {j:22.4f} {mse:20.5f}")
    smaller = rows[0][1] < rows[1][1]
    print(f"the contractive encoder's Jacobian is {'smaller' if smaller else 'NOT smaller'}"
          f" ({rows[0][1]:.4f} vs {rows[1][1]:.4f}, ratio {rows[0][1] / rows[1][1]:.2f})")
    print(f"run folder: {run}")
    return 0


# ---- k-sparse -------------------------------------------------------------------------------

def train_ksparse(args):
    """k-sparse autoencoders (TopK code) for several k, each trained with Makhzani & Frey's k
    schedule and, for comparison, without it: dead units per k, exactly k nonzero units in
    training and alpha*k when encoding, error per k, a filter grid per k. With a single --ks
    value the scheduled model is checkpointed (--checkpoint, --resume); its unscheduled twin
    retrains from the seed."""
    X_tr, X_va, shape, what = _data(args)
    schedule_steps = _ksparse_schedule_steps(len(X_tr), args)
    pairs = [_train_ksparse_pair(k, schedule_steps, X_tr, X_va, args) for k in args.ks]
    run = run_dir(args.out, "ksparse")
    rows = [_write_ksparse_pair(k, scheduled, unscheduled, X_tr, X_va, shape, run)
            for k, (scheduled, unscheduled) in zip(args.ks, pairs)]
    print(f"data: {len(X_tr)} train / {len(X_va)} held-out {what}")
    _print_ksparse_table(rows, pairs[0][0], len(X_tr), args)
    print(f"run folder: {run}")
    return 0


def _ksparse_schedule_steps(n_train, args):
    """The paper's schedule length: the optimizer steps of the first half of training,
    (--epochs * ceil(n_train / --batch-size)) // 2 (within an epoch when --epochs is 1)."""
    return args.epochs * -(-n_train // args.batch_size) // 2


def _ksparse_model(k, schedule_steps, args):
    """A 64-KSPARSE_CODE_SIZE-64 k-sparse autoencoder with this trainer's fixed settings."""
    return KSparseAutoencoder([64, KSPARSE_CODE_SIZE], k=k, schedule_steps=schedule_steps,
                              alpha=KSPARSE_ALPHA, init_std=KSPARSE_INIT_STD, rng=args.seed)


def _train_ksparse_pair(k, schedule_steps, X_tr, X_va, args):
    """(scheduled, unscheduled): the same network, seed and data, trained with the k schedule
    (checkpointed when it is the only k) and with the target k from the first step."""
    scheduled = _ksparse_model(k, schedule_steps, args)
    _fit(scheduled, X_tr, X_va, args, checkpointed=len(args.ks) == 1)
    unscheduled = _ksparse_model(k, 0, args)
    _fit(unscheduled, X_tr, X_va, args)
    return scheduled, unscheduled


def _write_ksparse_pair(k, scheduled, unscheduled, X_tr, X_va, shape, run):
    """Write the scheduled model and both filter grids into run; returns the row of k: dead
    units on the training set (scheduled, unscheduled), the fewest and most nonzero code units
    per held-out example in training mode (k) and when encoding (alpha*k), and the held-out
    squared error per pixel with each."""
    dead = [int(np.count_nonzero(m.firing_counts(X_tr) == 0)) for m in (scheduled, unscheduled)]
    n = KSPARSE_CODE_SIZE
    for m, d, stem, how in ((scheduled, dead[0], f"filters_k{k}", f"k scheduled from {n}"),
                            (unscheduled, dead[1], f"filters_k{k}_unscheduled", "no schedule")):
        save_figure(plot_filters(m.encoder.layers[0].W.value, shape,
                                 title=f"k-sparse filters, k = {k} ({how}): "
                                       f"{d} of {n} units dead"),
                    os.path.join(run, f"{stem}.png"))
    save(scheduled, os.path.join(run, f"model_k{k}.npz"))
    X_va = scheduled.check_input(X_va)
    nnz_train = np.count_nonzero(scheduled.encoder.forward(X_va, training=True), axis=1)
    nnz_encode = np.count_nonzero(scheduled.encode(X_va), axis=1)
    mse_train = scheduled.forward_loss(X_va, training=True)["reconstruction"] / X_va.shape[1]
    return {"k": k, "dead": dead[0], "dead_unscheduled": dead[1],
            "train": (int(nnz_train.min()), int(nnz_train.max())),
            "encode": (int(nnz_encode.min()), int(nnz_encode.max())),
            "inference_k": scheduled.inference_k,
            "mse_train": float(mse_train), "mse_encode": _mse(scheduled.reconstruct(X_va), X_va)}


def _print_ksparse_table(rows, model, n_train, args):
    """Print the settings, the schedule, one line per k, and whether every held-out code keeps
    exactly k units in training and alpha*k when encoding."""
    n, S = KSPARSE_CODE_SIZE, model.schedule_steps
    steps = -(-n_train // args.batch_size)
    print(f"model: 64-{n}-64 linear, TopK code, tied weights, squared error; weights from "
          f"N(0, {KSPARSE_INIT_STD}^2); Adam lr {args.lr:g}, batch {args.batch_size}, "
          f"{args.epochs} epochs ({args.epochs * steps} steps) per model")
    print(f"k schedule (Makhzani & Frey, Sec. 4.2.1): k falls linearly from {n} (every unit) to "
          f"the target k over the first half of training ({S} steps), then stays; the "
          f"unscheduled twin (same seed) uses the target k from the first step")
    epochs = sorted({0, *range(0, args.epochs, max(1, args.epochs // 10))})
    print(f"   k at the start of epoch " + ", ".join(
        f"{e + 1}: {model.training_k(e * steps)}" for e in epochs))
    print(f"encoding (encode, reconstruct, evaluate) keeps the alpha*k largest units, alpha = "
          f"{KSPARSE_ALPHA:g} (Sec. 2.2), at most {n}")
    print("dead unit: never among the k kept units of any training example at the final k")
    print(f"{'':4s} {'dead units of ' + str(n):>24s} {'nonzero code units per':>26s} "
          f"{'held-out squared error':>26s}")
    print(f"{'k':>4s} {'scheduled':>12s} {'unscheduled':>11s} {'example, k (min..max)':>26s} "
          f"{'alpha*k':>9s} {'per pixel, k':>16s} {'alpha*k':>9s}")
    for r in rows:
        print(f"{r['k']:4d} {r['dead']:12d} {r['dead_unscheduled']:11d} "
              f"{'{}..{}'.format(*r['train']):>26s} {'{}..{}'.format(*r['encode']):>9s} "
              f"{r['mse_train']:16.5f} {r['mse_encode']:9.5f}")
    exact = all(r["train"] == (r["k"], r["k"]) for r in rows)
    print(f"exactly k nonzero code units in every held-out example: {'yes' if exact else 'NO'}"
          f" (training mode)")
    exact = all(r["encode"] == (r["inference_k"], r["inference_k"]) for r in rows)
    print(f"exactly min({n}, {KSPARSE_ALPHA:g}k) nonzero code units in every held-out "
          f"encoding: {'yes' if exact else 'NO'}")
    clauses = [f"{verb} the held-out error for k = {', '.join(ks)}" for verb, ks in (
        ("raises", [str(r["k"]) for r in rows if r["mse_encode"] > r["mse_train"]]),
        ("lowers", [str(r["k"]) for r in rows if r["mse_encode"] < r["mse_train"]]),
        ("keeps", [str(r["k"]) for r in rows if r["mse_encode"] == r["mse_train"]])) if ks]
    print(f"reconstructing from alpha*k units instead of k {' and '.join(clauses)} (the paper "
          f"keeps alpha*k units for features, not for reconstruction)")
    print(f"dead units of {n}, k = {', '.join(str(r['k']) for r in rows)}: with the schedule "
          f"{', '.join(str(r['dead']) for r in rows)}; without it "
          f"{', '.join(str(r['dead_unscheduled']) for r in rows)}")


TRAINERS = {"sparse": train_sparse, "denoising": train_denoising,
            "contractive": train_contractive, "ksparse": train_ksparse}


def add_arguments(parser):
    """The extra options of these trainers (added to `python -m numpyae train`)."""
    parser.add_argument("--lam", type=nonnegative_float, default=None,
                        help="contractive penalty weight, >= 0 (--model contractive; default 0.1)")
    parser.add_argument("--n-patches", type=int_between(MIN_PATCHES, 10**6), default=None,
                        help=f"patches sampled for --dataset patches ({MIN_PATCHES}..10^6; "
                             f"default {N_PATCHES}, as UFLDL)")
    parser.add_argument("--max-iter", type=int_between(1, 100_000), default=None,
                        help="L-BFGS iterations of --model sparse (1..100000; default 400, as "
                             "UFLDL's minFunc run); --epochs, --batch-size and --lr train its "
                             "Adam twin")
    parser.add_argument("--ks", type=_ks_list, default=None,
                        help=f"comma-separated distinct k values, each 1..{KSPARSE_CODE_SIZE} "
                             f"(--model ksparse; default 5,10,20,40)")


def _ks_list(text):
    """argparse type of --ks: comma-separated distinct ints in [1, KSPARSE_CODE_SIZE]."""
    return positive_int_list(text, KSPARSE_CODE_SIZE)
