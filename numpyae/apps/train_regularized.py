"""`python -m numpyae train --model {sparse, denoising, contractive, ksparse}`: the classic
regularized-autoencoder results, each printed and drawn into a run folder.

    sparse       KL-sparse autoencoder on natural-image patches, UFLDL exercise settings;
                 filter grid, localization score vs random filters, mean hidden activation vs rho
    denoising    masking noise 0.3 on digits; error on corrupted held-out inputs vs a vanilla
                 autoencoder of the same size and budget
    contractive  contractive autoencoder on digits; mean ||J||_F on held-out inputs vs vanilla
    ksparse      k-sparse autoencoder on digits; nonzero code units per example, error for several k

Each trains on --dataset digits (default) or patches. --checkpoint / --checkpoint-every /
--resume act on the main model: sparse checkpoints its main phase (the short large-batch phase
after it reruns, from the seed, after a resume); denoising and contractive checkpoint the
regularized model (its vanilla twin retrains from the seed); ksparse needs a single --ks value.
A resumed run prints the same numbers as an uninterrupted one.
"""
from __future__ import annotations

import argparse
import os

import numpy as np

from ..analysis.metrics import jacobian_frobenius_norm, localization_score
from ..analysis.plotting import plot_filters, plot_history, plot_reconstructions
from ..data.datasets import load_digits, load_patches, train_validation_split
from ..io import save
from ..models.presets import (ContractiveAutoencoder, DenoisingAutoencoder, KSparseAutoencoder,
                              SparseAutoencoder)
from ..nn.corruption import MaskingNoise
from ..nn.optimizers import Adam
from ..training.fit import fit
from .common import (UsageError, fit_checkpoint_kwargs, int_between, nonnegative_float,
                     positive_int_list, run_dir, save_figure)

#: per-trainer defaults for --epochs / --batch-size / --lr when they are not given
DEFAULTS = {
    "sparse": {"epochs": 300, "batch_size": 100, "lr": 3e-3},
    "denoising": {"epochs": 150, "batch_size": 32, "lr": 3e-3},
    "contractive": {"epochs": 150, "batch_size": 32, "lr": 3e-3},
    "ksparse": {"epochs": 100, "batch_size": 32, "lr": 1e-3},
}

#: the --dataset values these trainers read (every model here has 64 inputs: 8x8 images)
DATASETS = {name: ("digits", "patches") for name in DEFAULTS}

#: the code size of the k-sparse autoencoders; every --ks value must be at most this
KSPARSE_CODE_SIZE = 100

#: flags only some of these trainers read: dest -> (the --model values that read it, default).
#: cli refuses them for any other --model instead of ignoring them.
FLAGS = {
    "lam": (("contractive",), 0.1),
    "ks": (("ksparse",), [5, 10, 20, 40]),
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
        return X_tr, X_va, (8, 8), "natural-image patches (8x8, whitened grace_hopper.jpg)"
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


def train_sparse(args):
    """KL-sparse autoencoder, UFLDL sparse-autoencoder exercise: 64 inputs, 25 sigmoid hidden
    units, rho = 0.01, beta = 3, lambda = 1e-4, ~10,000 patches."""
    X_tr, X_va, shape, what = _data(args)
    model = SparseAutoencoder([64, 25], rho=SPARSE_RHO, beta=SPARSE_BETA,
                              weight_decay=SPARSE_LAMBDA, rng=args.seed)
    history, fine_args = _fit_sparse(model, X_tr, X_va, args)
    run = _write_sparse_run(model, history, shape, args)
    print(f"data: {len(X_tr)} train / {len(X_va)} held-out {what}")
    _print_sparse_report(model, X_va, shape, args, fine_args)
    print(f"run folder: {run}")
    return 0


def _fit_sparse(model, X_tr, X_va, args):
    """Train with the flags, then finish with large batches at a lower rate. Returns the History
    of both phases (one record) and the second phase's settings."""
    history = _fit(model, X_tr, X_va, args, checkpointed=True)
    # UFLDL optimizes the full-batch objective (L-BFGS); the KL term depends on the batch mean
    # rho_hat, which small minibatches estimate noisily. Finish with large batches at a lower
    # rate so rho_hat is measured over 1000 patches per step.
    fine = max(1, args.epochs // 3)
    fine_args = argparse.Namespace(**{**vars(args), "epochs": fine, "lr": args.lr / 3,
                                      "batch_size": max(args.batch_size, 1000)})
    fine_history = _fit(model, X_tr, X_va, fine_args)
    for k in history.records:
        history.records[k].extend(fine_history.records[k])
    history.epochs += fine_history.epochs
    return history, fine_args


def _write_sparse_run(model, history, shape, args):
    """A run folder with the model, its filters and its loss curve."""
    run = run_dir(args.out, "sparse")
    save(model, os.path.join(run, "model.npz"))
    save_figure(plot_filters(model.encoder.layers[0].W.value, shape,
                             title="KL-sparse autoencoder filters (W columns)"),
                os.path.join(run, "filters.png"))
    save_figure(plot_history(history, ["loss", "reconstruction", "kl_sparsity", "weight_decay",
                                       "val_loss"], log=True, title="2 x UFLDL objective"),
                os.path.join(run, "loss_curve.png"))
    return run


def _print_sparse_report(model, X_va, shape, args, fine_args):
    """Print the settings, the held-out UFLDL objective, the filters' localization against
    random filters and the mean hidden activation against rho."""
    rho, beta, lam = SPARSE_RHO, SPARSE_BETA, SPARSE_LAMBDA
    score = localization_score(model.encoder.layers[0].W.value, shape)
    rand = localization_score(np.random.default_rng(args.seed).standard_normal((64, 10000)), shape)
    act = model.encode(X_va).mean(axis=0)
    terms = model.evaluate(X_va)
    print(f"model: 64-25-64 sigmoid, rho={rho}, beta={beta}, weight decay lambda={lam} "
          f"(UFLDL J; the model minimizes 2J with MSE(sum), see SparseAutoencoder)")
    print(f"training: Adam, {args.epochs} epochs of batch {args.batch_size} at lr {args.lr:g}, "
          f"then {fine_args.epochs} epochs of batch {fine_args.batch_size} at lr {fine_args.lr:g}")
    print(f"UFLDL objective J on held-out patches: {SparseAutoencoder.ufldl_objective(terms):.4f} "
          f"(reconstruction 1/2*||.||^2 {terms['reconstruction'] / 2:.4f}, "
          f"KL {terms['kl_sparsity'] / 2:.4f}, weight decay {terms['weight_decay'] / 2:.4f})")
    print(f"localization score (energy fraction in the best 3x3 window, mean over filters): "
          f"learned {score.mean():.3f}  vs random Gaussian filters {rand.mean():.3f}")
    print(f"   learned filters with score > the 95th percentile of random ones: "
          f"{np.mean(score > np.percentile(rand, 95)):.0%}")
    rel = abs(act.mean() - rho) / rho
    print(f"mean hidden activation on held-out patches: {act.mean():.4f} (rho = {rho}; "
          f"{rel:.0%} off, {'within' if rel <= 0.25 else 'NOT within'} 25%); "
          f"per unit {act.min():.4f}..{act.max():.4f}")


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
    """k-sparse autoencoders (TopK code) for several k: exactly k nonzero units; error per k.
    With a single --ks value the model is checkpointed (--checkpoint, --resume)."""
    X_tr, X_va, shape, what = _data(args)
    models = [_train_ksparse_one(k, X_tr, X_va, args) for k in args.ks]
    run = run_dir(args.out, "ksparse")
    rows = [_write_ksparse_one(k, model, X_va, shape, run) for k, model in zip(args.ks, models)]
    print(f"data: {len(X_tr)} train / {len(X_va)} held-out {what}")
    _print_ksparse_table(rows, args)
    print(f"run folder: {run}")
    return 0


def _train_ksparse_one(k, X_tr, X_va, args):
    """Train one k-sparse autoencoder (checkpointed when it is the only one); returns it."""
    model = KSparseAutoencoder([64, KSPARSE_CODE_SIZE], k=k, rng=args.seed)
    _fit(model, X_tr, X_va, args, checkpointed=len(args.ks) == 1)
    return model


def _write_ksparse_one(k, model, X_va, shape, run):
    """Write one k-sparse autoencoder's filters and model into run; returns its row
    (k, fewest and most nonzero code units per held-out example, units ever active, MSE)."""
    H = model.encode(X_va)
    nnz = np.count_nonzero(H, axis=1)
    used = int(np.count_nonzero((H != 0).any(axis=0)))
    save_figure(plot_filters(model.encoder.layers[0].W.value, shape,
                             title=f"k-sparse autoencoder filters, k={k}"),
                os.path.join(run, f"filters_k{k}.png"))
    save(model, os.path.join(run, f"model_k{k}.npz"))
    return k, nnz.min(), nnz.max(), used, _mse(model.reconstruct(X_va), X_va)


def _print_ksparse_table(rows, args):
    """Print one line per k and whether every held-out example has exactly k nonzero units."""
    n_code = KSPARSE_CODE_SIZE
    print(f"model: 64-{n_code}-64 linear, TopK(k) code, tied weights, squared error, "
          f"{args.epochs} epochs per k")
    print(f"{'k':>4s} {'nonzero code units per example (min..max)':>44s} "
          f"{'units ever active':>18s} {'held-out MSE/pixel':>20s}")
    for k, lo, hi, used, mse in rows:
        print(f"{k:4d} {f'{lo}..{hi}':>44s} {f'{used}/{n_code}':>18s} {mse:20.5f}")
    exact = all(lo == hi == k for k, lo, hi, _, _ in rows)
    print(f"exactly k nonzero code units in every held-out example: {'yes' if exact else 'NO'}")


TRAINERS = {"sparse": train_sparse, "denoising": train_denoising,
            "contractive": train_contractive, "ksparse": train_ksparse}


def add_arguments(parser):
    """The extra options of these trainers (added to `python -m numpyae train`)."""
    parser.add_argument("--lam", type=nonnegative_float, default=None,
                        help="contractive penalty weight, >= 0 (--model contractive; default 0.1)")
    parser.add_argument("--n-patches", type=int_between(MIN_PATCHES, 10**6), default=None,
                        help=f"patches sampled for --dataset patches ({MIN_PATCHES}..10^6; "
                             f"default {N_PATCHES}, as UFLDL)")
    parser.add_argument("--ks", type=_ks_list, default=None,
                        help=f"comma-separated distinct k values, each 1..{KSPARSE_CODE_SIZE} "
                             f"(--model ksparse; default 5,10,20,40)")


def _ks_list(text):
    """argparse type of --ks: comma-separated distinct ints in [1, KSPARSE_CODE_SIZE]."""
    return positive_int_list(text, KSPARSE_CODE_SIZE)
