"""Command line:  python -m numpyae {train, gradcheck, trace, study, assignment} ...

    python -m numpyae train                  default autoencoder on the bundled digits
    python -m numpyae train --model sparse --dataset patches     KL-sparse filters (UFLDL)
    python -m numpyae train --model denoising | contractive | ksparse
    python -m numpyae train --model vae --code-dim 2     samples, 2-D manifold, latent scatter
    python -m numpyae train --model cvae | aae           conditional VAE, adversarial autoencoder
    python -m numpyae train --model conv     convolutional vs dense autoencoder, same parameters
    python -m numpyae gradcheck              every built-in model against finite differences
    python -m numpyae trace --model autoencoder   one forward/backward pass, step by step
    python -m numpyae study latent           code size 2..32: autoencoder vs PCA
    python -m numpyae study pretraining      pretrained vs random-init classifier on few labels
    python -m numpyae study reduction        autoencoder codes vs PCA, LDA, LLE and Isomap
    python -m numpyae study latent --dataset mnist --published   the published MNIST table
    python -m numpyae assignment release SOURCE.ipynb --out student.ipynb   solutions -> stubs
    python -m numpyae assignment grade SOURCE.ipynb SUBMISSIONS/ --out grades.csv   (runs the
                                             students' code: the time limit is not a sandbox)

--code-dim is the code size of the vae, cvae and aae (the latent dimension).

Errors end in one line on stderr, never a traceback: a usage error (a bad flag value, flags
that do not go together, an output folder that cannot be written) has exit status 2 and is
found before any training step; a failure while running (a corrupt dataset or checkpoint,
training that diverges to NaN, ...) has exit status 1. NUMPYAE_DEBUG=1 shows the traceback.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from typing import NamedTuple

import numpy as np

from ..analysis.metrics import prior_distance
from ..analysis.plotting import (plot_codes_over_prior, plot_history, plot_image_rows, plot_images,
                                 plot_latent, plot_latent_manifold, plot_reconstructions,
                                 plot_stage_histories)
from ..analysis.plotting import plot_filters
from ..data.datasets import DatasetError, train_validation_split
from ..io import save
from ..io.files import ModelFileError
from ..models.aae import mlp_aae
from ..models.autoencoder import mlp_autoencoder
from ..models.base import NonFiniteError
from ..models.conv import conv_autoencoder
from ..models.vae import mlp_cvae, mlp_vae
from ..nn.activations import ACTIVATIONS
from ..nn.optimizers import Adam
from ..teaching.cases import run_all
from ..teaching.trace import build_traceable, trace_backprop, traceable_models
from ..training.fit import fit
from .assignment import add_parser as add_assignment_parser
from .common import (IDX_DATASET_NAMES, MAX_UNITS, UsageError, apply_flag_table,
                     check_checkpoint_flags, check_data_dir, check_output_folder, existing_file,
                     fit_checkpoint_kwargs, flag_name, format_markdown, fraction, int_between,
                     layer_size, load_study_dataset, load_training_data, nonnegative_float,
                     nonnegative_int, one_line, path_text, positive_float, positive_int,
                     print_curve, run_dir, save_figure, write_csv, write_markdown, write_table)
from .study import (LATENT_COLUMNS, LATENT_FORMATS, LATENT_SUMMARY_COLUMNS, LATENT_TABLE_COLUMNS,
                    PRETRAIN_COLUMNS, PRETRAIN_SEED_COLUMNS, latent_size_study,
                    plot_latent_study, plot_pretraining_study, pretraining_study,
                    summarize_latent)
from .published import check_published_arguments, study_published_latent
from .reduction import (REDUCTION_FLAGS, add_reduction_arguments, check_reduction_arguments,
                        study_reduction)
from .train_regularized import DATASETS as REGULARIZED_DATASETS
from .train_regularized import DEFAULTS as REGULARIZED_DEFAULTS
from .train_regularized import FLAGS as REGULARIZED_FLAGS
from .train_regularized import TRAINERS as REGULARIZED_TRAINERS
from .train_regularized import add_arguments as add_regularized_arguments
from .train_regularized import check_arguments as check_regularized_arguments


class _Data(NamedTuple):
    """The --dataset and its 80/20 train/test split (seeded with --seed)."""
    X: np.ndarray
    y: np.ndarray
    X_tr: np.ndarray
    X_te: np.ndarray
    y_tr: np.ndarray
    y_te: np.ndarray
    name: str
    image_shape: tuple


def _split_data(args):
    """--dataset (the bundled digits by default; mnist / fashion-mnist when available), split."""
    data = load_training_data(args)
    X, y = data
    try:
        X_tr, X_te, y_tr, y_te = train_validation_split(X, y, fraction=0.2, rng=args.seed)
    except ValueError as exc:  # a dataset of a few images
        raise ValueError(f"--dataset {data.name}: {len(X)} images cannot be split 80/20 into "
                         f"training and validation ({exc})") from None
    return _Data(X, y, X_tr, X_te, y_tr, y_te, data.name, data.image_shape)


def _save_model(model, base, name):
    """A new run folder <base>/<name>-<time> holding model.npz; returns the folder."""
    run = run_dir(base, name)
    save(model, os.path.join(run, "model.npz"))
    return run


def _mse(a, b):
    return float(np.mean((a - b) ** 2))


# ---- the default autoencoder ----------------------------------------------------------------

def train_vanilla(args):
    """`train` (--model autoencoder): a relu MLP autoencoder with BCE on logits; prints its
    validation BCE and reconstruction MSE, writes the model, loss curve and reconstructions."""
    data = _split_data(args)
    X_tr, X_va = data.X_tr, data.X_te
    sizes = [64, 32, 16] if data.name == "digits" else [data.X.shape[1], 256, 32]
    model = mlp_autoencoder(sizes, activation="relu", loss="bce", rng=args.seed)
    before = model.evaluate(X_va)
    history = fit(model, X_tr, Adam(model.parameters(), lr=args.lr), epochs=args.epochs,
                  batch_size=args.batch_size, validation_data=(X_va,), rng=args.seed,
                  progress=not args.quiet, **fit_checkpoint_kwargs(args))
    run = _save_model(model, args.out, "autoencoder")
    save_figure(plot_history(history, ["loss", "val_loss"], title="BCE per pixel",
                             ylabel="binary cross-entropy per pixel (nats)"),
                os.path.join(run, "loss_curve.png"))
    save_figure(plot_reconstructions(X_va[:12], model.reconstruct(X_va[:12]), n=12,
                                     image_shape=data.image_shape,
                                     title=f"validation {data.name} and reconstructions"),
                os.path.join(run, "reconstructions.png"))
    arch = "-".join(str(s) for s in sizes + sizes[-2::-1])
    print(f"model: {model.n_parameters()} parameters, {arch} relu, BCE on logits, "
          f"{len(X_tr)} train / {len(X_va)} validation images ({data.name})")
    print(f"validation BCE: {before['loss']:.4f} before training -> {history['val_loss'][-1]:.4f} "
          f"after {history.epochs} epochs")
    print(f"reconstruction MSE per pixel: train {_mse(model.reconstruct(X_tr), X_tr):.5f}  "
          f"validation {_mse(model.reconstruct(X_va), X_va):.5f}  "
          f"(predicting the mean digit: {_mse(X_va.mean(0), X_va):.5f})")
    print(f"run folder: {run}")
    return 0


# ---- the convolutional autoencoder against a dense one of the same size -----------------------

#: `train --model conv`: (channels of the two stride-2 levels, code_dim) by image size:
#: 8x8 -> 4x4 -> 2x2 for the digits, 28x28 -> 14x14 -> 7x7 for MNIST / Fashion-MNIST
CONV_SHAPES = {(8, 8): ((8, 16), 16), (28, 28): ((16, 32), 32)}

#: --epochs / --batch-size / --lr of `train --model conv` when not given, by --dataset: on a
#: quiet machine the digits train both models in ~10 s, MNIST's 48,000 training images in
#: ~5 s an epoch (the conv model) and ~1 s (the dense one)
CONV_DEFAULTS = {"digits": {"epochs": 300, "batch_size": 32, "lr": 3e-3},
                 "mnist": {"epochs": 10, "batch_size": 32, "lr": 3e-3},
                 "fashion-mnist": {"epochs": 10, "batch_size": 32, "lr": 3e-3}}


def conv_defaults(args):
    """The --epochs / --batch-size / --lr defaults of --model conv for the --dataset ({} for
    another --model)."""
    return dict(CONV_DEFAULTS.get(args.dataset, {})) if args.model == "conv" else {}


def dense_twin_sizes(n_params, n_in, code_dim):
    """[n_in, h, code_dim]: the MLP autoencoder n_in-h-code_dim-h-n_in whose parameter count
        2 n_in h + 2 h code_dim + 2 h + code_dim + n_in    (four weight matrices, four biases)
    is nearest to n_params (h >= 1)."""
    h = max(1, round((n_params - n_in - code_dim) / (2 * n_in + 2 * code_dim + 2)))
    return [n_in, h, code_dim]


def train_conv(args):
    """`train --model conv`: a convolutional autoencoder (3x3 stride-2 convolutions, relu, BCE on
    logits; numpyae.models.conv) against the relu MLP autoencoder with the nearest number of
    parameters, both trained with the same epochs, batch size, learning rate and seed. Prints
    both parameter counts and test reconstruction errors; writes the conv model (the one
    --checkpoint / --resume act on; the dense twin retrains from the seed), reconstructions by
    both models, the first convolution's filters and the loss curves."""
    data = _split_data(args)
    channels, code_dim = CONV_SHAPES.get(data.image_shape, CONV_SHAPES[(28, 28)])
    conv = conv_autoencoder(data.image_shape, channels, code_dim, rng=args.seed)
    sizes = dense_twin_sizes(conv.n_parameters(), data.X.shape[1], code_dim)
    dense = mlp_autoencoder(sizes, activation="relu", loss="bce", rng=args.seed)
    budget = dict(epochs=args.epochs, batch_size=args.batch_size,
                  validation_data=(data.X_te,), rng=args.seed, progress=not args.quiet)
    seconds = {}
    start = time.perf_counter()
    conv_history = fit(conv, data.X_tr, Adam(conv.parameters(), lr=args.lr), **budget,
                       **fit_checkpoint_kwargs(args))
    seconds["conv"] = time.perf_counter() - start
    start = time.perf_counter()
    dense_history = fit(dense, data.X_tr, Adam(dense.parameters(), lr=args.lr), **budget)
    seconds["dense"] = time.perf_counter() - start
    run = _save_model(conv, args.out, "conv")
    _write_conv_figures(conv, dense, conv_history, dense_history, data, run)
    _print_conv_report(conv, dense, sizes, data, args, seconds)
    print(f"run folder: {run}")
    return 0


def _describe_conv(conv, image_shape):
    """"28x28x1 -> 14x14x16 -> 7x7x32 -> 32 (...)": the encoder of `conv`, and its decoder."""
    shape = tuple(image_shape) + (1,)
    parts = ["x".join(map(str, shape))]
    for layer in conv.encoder.layers:
        if hasattr(layer, "kernel_size"):
            shape = layer.output_shape(shape)
            parts.append("x".join(map(str, shape)))
    k = conv.encoder[1].kernel_size[0]
    return (" -> ".join(parts) +
            f" -> {conv.code_dim} (Conv2D {k}x{k} stride 2 relu, then Dense), decoder the mirror "
            f"(ConvTranspose2D)")


def _print_conv_report(conv, dense, sizes, data, args, seconds):
    """The two models, their parameter counts and their test BCE and MSE per pixel."""
    X_te = data.X_te
    print(f"conv autoencoder: {conv.n_parameters():,} parameters, "
          f"{_describe_conv(conv, data.image_shape)}")
    arch = "-".join(str(s) for s in sizes + sizes[-2::-1])
    print(f"dense autoencoder: {dense.n_parameters():,} parameters, {arch} relu (the nearest "
          f"parameter count)")
    print(f"both: BCE on logits, Adam lr {args.lr:g}, {args.epochs} epochs of {args.batch_size}, "
          f"seed {args.seed}; {len(data.X_tr)} train / {len(X_te)} test images ({data.name}); "
          f"training took {seconds['conv']:.1f} s (conv) and {seconds['dense']:.1f} s (dense)")
    rows = [(name, m.evaluate(X_te)["loss"], _mse(m.reconstruct(X_te), X_te))
            for name, m in (("conv", conv), ("dense", dense))]
    print("test reconstruction error:    BCE per pixel   MSE per pixel")
    for name, bce, mse in rows:
        print(f"  {name:26s} {bce:13.4f} {mse:15.5f}")
    print(f"  {'predicting the mean image':26s} {'':13s} {_mse(data.X_tr.mean(0), X_te):15.5f}")
    (_, _, conv_mse), (_, _, dense_mse) = rows
    verdict = "lower" if conv_mse < dense_mse else "NOT lower"
    print(f"conv vs dense with the same number of parameters: test MSE {conv_mse:.5f} vs "
          f"{dense_mse:.5f} ({verdict} for the conv autoencoder, "
          f"{100 * (conv_mse / dense_mse - 1):+.1f}%)")


def _write_conv_figures(conv, dense, conv_history, dense_history, data, run):
    """reconstructions.png (test images, conv and dense reconstructions), filters.png (the
    first convolution's kernels, one tile per output channel) and loss_curve.png."""
    import matplotlib.pyplot as plt
    shape, X = data.image_shape, data.X_te[:12]
    rows = np.stack([X, conv.reconstruct(X), dense.reconstruct(X)])
    save_figure(plot_image_rows(rows, row_labels=["test", "conv", "dense"], image_shape=shape,
                                title=f"test {data.name} and their reconstructions"),
                os.path.join(run, "reconstructions.png"))
    W = conv.encoder[1].W.value                     # (kh, kw, 1, channels)
    kh, kw, _, n = W.shape
    save_figure(plot_filters(W[:, :, 0, :].reshape(kh * kw, n), (kh, kw), n_cols=8,
                             title=f"the {n} {kh}x{kw} filters of the first convolution "
                                   f"(grey 0, white +, black -)"),
                os.path.join(run, "filters.png"))
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    plot_history(conv_history, ["loss", "val_loss"], ax=axes[0], title="conv: BCE per pixel")
    plot_history(dense_history, ["loss", "val_loss"], ax=axes[1], title="dense: BCE per pixel")
    save_figure(fig, os.path.join(run, "loss_curve.png"))


# ---- generative models: VAE, CVAE, AAE --------------------------------------------------------

#: Documented result of `python -m numpyae train --model vae --dataset digits --code-dim 2` with
#: the default settings (Bernoulli decoder, beta 1, 60 epochs, batch 32, lr 3e-3): the test
#: negative ELBO ends below this many nats per digit. Measured: 24.65 (seed 0), 24.64, 25.09,
#: 24.89 (seeds 1-3, each with its own train/test split).
VAE_DIGITS_NEG_ELBO_BOUND = 25.5


def _vae_defaults(args):
    """Whether the VAE runs with the settings VAE_DIGITS_NEG_ELBO_BOUND documents."""
    return (args.code_dim, args.likelihood, args.beta, args.kl_warmup, args.epochs,
            args.batch_size, args.lr) == (2, "bernoulli", 1.0, 0, 60, 32, 3e-3)


def _vae_test_terms(model, X_te, y_te, draws=10):
    """Test terms averaged over `draws` noise draws, seeded 0 .. draws - 1 (one draw's negative
    ELBO varies by ~0.2)."""
    runs = [model.evaluate(X_te, y_te, rng=i) for i in range(draws)]
    return {k: float(np.mean([r[k] for r in runs])) for k in runs[0]}


def train_vae(args, conditional=False):
    """`train --model vae` (a CVAE with conditional=True): prints the test negative ELBO before
    and after training and an importance-sampled log p(x), writes the model and its figures.
    Exit status 1 if the test negative ELBO does not fall (or, with the documented defaults on
    the digits, does not end below VAE_DIGITS_NEG_ELBO_BOUND)."""
    data = _split_data(args)
    D = data.X.shape[1]
    kw = dict(likelihood=args.likelihood, beta=args.beta, kl_warmup=args.kl_warmup, rng=args.seed)
    sizes = [D, 128, args.code_dim]
    model = mlp_cvae(sizes, 10, **kw) if conditional else mlp_vae(sizes, **kw)
    y_tr, y_te = (data.y_tr, data.y_te) if conditional else (None, None)
    before = _vae_test_terms(model, data.X_te, y_te)
    history = fit(model, data.X_tr, Adam(model.parameters(), lr=args.lr), y=y_tr,
                  epochs=args.epochs, batch_size=args.batch_size,
                  validation_data=(data.X_te, y_te), rng=args.seed, progress=not args.quiet,
                  **fit_checkpoint_kwargs(args))
    after = _vae_test_terms(model, data.X_te, y_te)
    logp = model.log_likelihood(data.X_te, y_te, K=args.iw_samples, rng=args.seed)
    run = _save_model(model, args.out, "cvae" if conditional else "vae")
    _write_vae_curves(model, history, data.X_te, y_te, run)
    ok = _print_vae_report(model, data, history, before, after, logp, args, conditional)
    rng = np.random.default_rng(args.seed)
    if conditional:
        _cvae_samples_by_class(model, data, run, rng)
    else:
        _write_vae_figures(model, data, run, rng)
    print(f"run folder: {run}")
    return 0 if ok else 1


def _write_vae_curves(model, history, X_te, y_te, run):
    """loss_curve.png (negative ELBO and its terms by epoch) and reconstructions.png."""
    save_figure(plot_history(history, ["neg_elbo", "val_neg_elbo", "val_reconstruction",
                                       "val_kl"], title="negative ELBO (nats per digit)",
                             ylabel="nats per digit"),
                os.path.join(run, "loss_curve.png"))
    save_figure(plot_reconstructions(X_te[:12], model.reconstruct(X_te[:12], None if y_te is None
                                                                  else y_te[:12]), n=12,
                                     title="test digits and reconstructions (decoder mean at mu)"),
                os.path.join(run, "reconstructions.png"))


def _print_vae_report(model, data, history, before, after, logp, args, conditional):
    """Print the model, the validation curve, the test ELBO and log p(x). Returns whether the
    test negative ELBO fell (and, with the documented defaults, ended below the bound)."""
    D, k, c = data.X.shape[1], model.code_dim, "+10" if conditional else ""
    print(f"model: {type(model).__name__} {model.n_parameters()} parameters, encoder "
          f"{D}{c}-128-({k} mean, {k} log-variance), decoder {k}{c}-128-{D}, "
          f"{model.likelihood!r}, beta={args.beta}, kl_warmup={args.kl_warmup} steps; "
          f"{len(data.X_tr)} train / {len(data.X_te)} test digits")
    print_curve(history, "val_neg_elbo")
    falls = after["neg_elbo"] < before["neg_elbo"]
    print(f"test negative ELBO (nats per digit, mean of 10 eps draws): "
          f"{before['neg_elbo']:.2f} before training -> {after['neg_elbo']:.2f} "
          f"after {history.epochs} epochs (reconstruction {after['reconstruction']:.2f} + KL "
          f"{after['kl']:.2f}); falls: {'yes' if falls else 'NO'}")
    if not conditional and _vae_defaults(args) and D == 64:  # the bound is for the digits
        below = after["neg_elbo"] < VAE_DIGITS_NEG_ELBO_BOUND
        print(f"documented bound for these defaults: test negative ELBO < "
              f"{VAE_DIGITS_NEG_ELBO_BOUND} nats: {'yes' if below else 'NO'}")
        falls = falls and below
    print(f"test log p(x) importance-sampled with K={args.iw_samples}: {float(logp.mean()):.2f} "
          f"(>= -negative ELBO {-after['neg_elbo']:.2f}, as it should be)")
    return falls


def _write_vae_figures(model, data, run, rng):
    """samples.png, latent_scatter.png, interpolation.png and, for a 2-D code, manifold.png."""
    save_figure(plot_images(model.sample(100, rng=rng), n_cols=10,
                            title="VAE samples: z ~ N(0, I), decoder mean"),
                os.path.join(run, "samples.png"))
    if model.code_dim >= 2:
        save_figure(plot_latent(model.encode(data.X), data.y, label_name="digit",
                                title=f"posterior means of all {len(data.X)} digits"),
                    os.path.join(run, "latent_scatter.png"))
    else:
        print("(latent_scatter.png needs --code-dim 2 or more; skipped)")
    zeros, sixes = np.flatnonzero(data.y_te == 0), np.flatnonzero(data.y_te == 6)
    if len(zeros) and len(sixes):
        a, b, what = zeros[0], sixes[0], "a 0 and a 6"
    else:  # a small dataset whose test split lacks a class: its first two test images
        a, b, what = 0, min(1, len(data.y_te) - 1), "the first two test images"
    save_figure(plot_image_rows(model.interpolate(data.X_te[a], data.X_te[b], 10)[None],
                                title=f"interpolation between the posterior means of {what}"),
                os.path.join(run, "interpolation.png"))
    if model.code_dim == 2:
        save_figure(plot_latent_manifold(model.decode, n=15,
                                         title="decoded grid at N(0,1) quantiles"),
                    os.path.join(run, "manifold.png"))
    else:
        print("(manifold.png needs --code-dim 2; skipped)")


def _cvae_samples_by_class(model, data, run, rng, per_class=10):
    """samples_by_class.png (one row per requested class), and print how many samples lie
    nearest to the training mean of the class they were asked for."""
    D = data.X.shape[1]
    rows = np.stack([model.generate(c, per_class, rng=rng) for c in range(10)])
    save_figure(plot_image_rows(rows, row_labels=list(range(10)),
                                title="CVAE samples: one row per requested digit class"),
                os.path.join(run, "samples_by_class.png"))
    # does a sample look like its class? nearest class mean of the training digits (over the
    # classes the training split has: all ten, unless a small dataset lacks one)
    present = np.array([c for c in range(10) if np.any(data.y_tr == c)])
    means = np.stack([data.X_tr[data.y_tr == c].mean(0) for c in present])
    gen = rows[present].reshape(-1, D)
    nearest = present[np.argmin(((gen[:, None, :] - means[None]) ** 2).sum(-1), axis=1)]
    acc_gen = float(np.mean(nearest == np.repeat(present, per_class)))
    near_te = present[np.argmin(((data.X_te[:, None, :] - means[None]) ** 2).sum(-1), axis=1)]
    print(f"generated samples whose nearest training class mean is the requested class: "
          f"{acc_gen:.0%} (real test digits: {float(np.mean(near_te == data.y_te)):.0%})")


def train_cvae(args):
    """`train --model cvae`: train_vae with the digit class as the condition."""
    return train_vae(args, conditional=True)


#: The AAE recipe of notebook 08 (the same split, seed and settings give the same model): encoder
#: 64-96-64-k, a mirrored decoder, discriminator k-64-64-1, Adam with the one --lr (3e-3) for all
#: three phases, 60 epochs of 32 (the train defaults). On the digits with --prior mixture and
#: seed 0 its test codes sit on the ring, MMD^2 to the prior 0.011 (a fresh prior sample: -0.005).
AAE_HIDDEN = (96, 64)
AAE_DISCRIMINATOR = (64, 64)
#: the encoder's hidden layers for the 28x28 datasets (784 pixels; not tuned against the prior)
AAE_HIDDEN_IDX = (128, 128)


def train_aae(args):
    """`train --model aae`: an adversarial autoencoder (on the digits the recipe of notebook 08:
    AAE_HIDDEN, AAE_DISCRIMINATOR) and its unregularized twin; prints how close each one's test
    codes are to the --prior (MMD^2 and more), writes the model and its figures. Exit status 1
    if the AAE's codes are not closer to the prior (MMD^2) than the twin's."""
    data = _split_data(args)
    hidden = AAE_HIDDEN if data.name == "digits" else AAE_HIDDEN_IDX
    sizes = [data.X.shape[1], *hidden, args.code_dim]
    model = mlp_aae(sizes, discriminator=AAE_DISCRIMINATOR, prior=args.prior, rng=args.seed)
    history = fit(model, data.X_tr, model.make_optimizers(lr=args.lr, adversarial_lr=args.lr),
                  epochs=args.epochs, batch_size=args.batch_size, validation_data=(data.X_te,),
                  rng=args.seed, progress=not args.quiet, **fit_checkpoint_kwargs(args))
    plain = _train_unregularized_twin(sizes, data.X_tr, args)
    codes, plain_codes = model.encode(data.X_te), plain.encode(data.X_te)
    run = _save_model(model, args.out, f"aae-{args.prior}")
    arch = "-".join(str(s) for s in sizes)
    disc = "-".join(str(s) for s in (args.code_dim, *AAE_DISCRIMINATOR, 1))
    print(f"AAE: encoder {arch}, decoder mirror, discriminator {disc}, prior {model.prior!r}; "
          f"Adam lr {args.lr:g} for all three phases, {history.epochs} epochs of "
          f"{args.batch_size}; {len(data.X_tr)} train / {len(data.X_te)} test digits")
    print(f"last epoch: reconstruction BCE {history['reconstruction'][-1]:.4f}  discriminator "
          f"{history['discriminator'][-1]:.4f}  generator {history['generator'][-1]:.4f}  "
          f"(an undecided discriminator gives log 2 = 0.6931)")
    print(f"test reconstruction BCE per pixel: AAE {history['val_reconstruction'][-1]:.4f}  "
          f"unregularized {plain.evaluate(data.X_te)['loss']:.4f}")
    distances = _print_prior_distances(codes, plain_codes, model.prior, args.seed)
    _write_aae_figures(model, codes, plain_codes, data, run, args, history, distances)
    print(f"run folder: {run}")
    return 0 if distances["AAE"]["mmd"] < distances["unregularized"]["mmd"] else 1


def _train_unregularized_twin(sizes, X_tr, args):
    """The AAE's encoder/decoder architecture trained on reconstruction alone."""
    plain = mlp_autoencoder(sizes, activation="relu", loss="bce", rng=args.seed)
    fit(plain, X_tr, Adam(plain.parameters(), lr=args.lr), epochs=args.epochs,
        batch_size=args.batch_size, rng=args.seed, progress=False)
    return plain


def _write_aae_figures(model, codes, plain_codes, data, run, args, history, distances):
    """codes_over_prior.png (AAE and twin side by side, on the same axes, each titled with its
    MMD^2 to the prior; for a code of 2 or more units), adversarial_losses.png, samples.png,
    reconstructions.png."""
    import matplotlib.pyplot as plt
    if args.code_dim >= 2:
        fig, axes = plt.subplots(1, 2, figsize=(12, 5.4), layout="constrained")
        prior_pts = model.prior.sample(2000, args.seed + 3)
        label_name = "class" if data.name == "fashion-mnist" else "digit"
        for ax, c, key, what in ((axes[0], codes, "AAE", "AAE"),
                                 (axes[1], plain_codes, "unregularized",
                                  "unregularized autoencoder")):
            plot_codes_over_prior(c, prior_pts, data.y_te, ax=ax, label_name=label_name,
                                  title=f"{what}: test codes over the {args.prior} prior\n"
                                        f"MMD² to the prior {distances[key]['mmd']:.4f}")
        both = np.concatenate([codes[:, :2], plain_codes[:, :2], prior_pts[:, :2]])
        centre = (both.min(axis=0) + both.max(axis=0)) / 2
        half = 0.53 * float(np.max(both.max(axis=0) - both.min(axis=0)))
        for ax in axes:   # one square window for both panels: spills and shrinkage compare
            ax.set_xlim(centre[0] - half, centre[0] + half)
            ax.set_ylim(centre[1] - half, centre[1] + half)
            ax.set_aspect("equal", adjustable="box")
        save_figure(fig, os.path.join(run, "codes_over_prior.png"))
    else:
        print("(codes_over_prior.png needs --code-dim 2 or more; skipped)")
    fig, ax = plt.subplots(figsize=(6.5, 4))
    ax.axhline(np.log(2), color="0.4", linestyle=":", linewidth=1)
    plot_history(history, ["discriminator", "generator"], ax=ax,
                 ylabel="binary cross-entropy per example (nats)",
                 title="adversarial losses (log 2 = 0.693: the discriminator is undecided)")
    save_figure(fig, os.path.join(run, "adversarial_losses.png"))
    save_figure(plot_images(model.sample(100, rng=args.seed), n_cols=10,
                            title="AAE samples: decoded prior samples"),
                os.path.join(run, "samples.png"))
    save_figure(plot_reconstructions(data.X_te[:12], model.reconstruct(data.X_te[:12]), n=12,
                                     title="AAE: test digits and reconstructions"),
                os.path.join(run, "reconstructions.png"))


def _nearest_mean_distance(z, prior):
    """Distance of each code (N, k) to the nearest mean of the prior: a mixture's component
    means (GaussianMixture.means), else the prior's mean."""
    means = getattr(prior, "means", None)
    means = prior.mean()[None] if means is None else means
    return np.sqrt(((z[:, None, :] - means[None]) ** 2).sum(axis=-1)).min(axis=1)


def _print_prior_distances(codes, plain_codes, prior, seed):
    """Print how close the AAE's codes, the twin's and a fresh prior sample are to the prior:
    MMD^2 (analysis.metrics.prior_distance), the distances of mean and covariance, and the share
    of codes within the radius around the nearest prior mean (component mean of a mixture) that
    holds 95% of the prior's samples. Returns {"AAE", "unregularized", "reference": stats}."""
    radius = np.quantile(_nearest_mean_distance(prior.sample(20000, seed + 4, np.float64),
                                                prior), 0.95)
    fresh = prior.sample(len(codes), seed + 2)
    rows = {"AAE": codes, "unregularized": plain_codes, "reference": fresh}
    stats = {}
    for key, z in rows.items():
        stats[key] = prior_distance(z, prior, rng=seed + 1)
        stats[key]["near"] = float(np.mean(_nearest_mean_distance(z, prior) <= radius))
    print(f"closeness of test codes to the prior (MMD^2: smaller is closer; 'near a mean': the "
          f"share within {radius:.2f} of the nearest prior mean, which holds 95% of the prior):")
    print(f"  {'':34s} {'MMD^2':>8s} {'|mean diff|':>12s} {'|cov diff|_F':>13s} "
          f"{'near a mean':>12s}")
    for key, label in (("AAE", "AAE"), ("unregularized", "unregularized autoencoder"),
                       ("reference", "reference: a fresh prior sample")):
        s = stats[key]
        print(f"  {label:34s} {s['mmd']:8.4f} {s['mean']:12.3f} {s['cov']:13.3f} "
              f"{s['near']:12.0%}")
    closer = stats["AAE"]["mmd"] < stats["unregularized"]["mmd"]
    print(f"AAE codes closer to the prior than the unregularized autoencoder's (MMD^2): "
          f"{'yes' if closer else 'NO'}")
    return stats


# ---- train ----------------------------------------------------------------------------------

TRAINERS = {"autoencoder": train_vanilla, "vae": train_vae, "cvae": train_cvae,
            "aae": train_aae, "conv": train_conv, **REGULARIZED_TRAINERS}
#: --epochs / --batch-size / --lr when not given: per trainer, else these
TRAIN_DEFAULTS = {"epochs": 60, "batch_size": 32, "lr": 3e-3}

#: the --dataset values each trainer reads; any other is refused, never replaced
TRAIN_DATASETS = {**{name: ("digits",) + IDX_DATASET_NAMES
                     for name in ("autoencoder", "vae", "cvae", "aae", "conv")},
                  **REGULARIZED_DATASETS}

#: flags only some trainers read: dest -> (the --model values that read it, default). Given to
#: another --model they are refused (a usage error), never silently ignored.
MODEL_FLAGS = {
    "code_dim": (("vae", "cvae", "aae"), 2),
    "likelihood": (("vae", "cvae"), "bernoulli"),
    "beta": (("vae", "cvae"), 1.0),
    "kl_warmup": (("vae", "cvae"), 0),
    "iw_samples": (("vae", "cvae"), 500),
    "prior": (("aae",), "gaussian"),
    **REGULARIZED_FLAGS,
}


def check_train_arguments(args):
    """Everything `train` can check before its first step, refused with a UsageError: the
    --model, flags that --model does not read, the --dataset it cannot use, the checkpoint
    flags, and the output places (--out created and writable, --checkpoint's folder writable).
    Fills in the per-trainer defaults."""
    if args.model not in TRAINERS:
        raise UsageError(f"unknown --model {args.model!r}; choose from {sorted(TRAINERS)}")
    apply_flag_table(args, MODEL_FLAGS, "model", "--model")
    if args.dataset not in TRAIN_DATASETS[args.model]:
        readers = [m for m, names in TRAIN_DATASETS.items() if args.dataset in names]
        raise UsageError(f"--model {args.model} trains on --dataset "
                         f"{' / '.join(TRAIN_DATASETS[args.model])}, not {args.dataset} "
                         f"(--dataset {args.dataset} is for --model {' / '.join(readers)})")
    if args.model == "aae" and args.prior == "mixture" and args.code_dim < 2:
        raise UsageError(f"--prior mixture (components on a circle) needs --code-dim 2 or more, "
                         f"got {args.code_dim}")
    check_data_dir(args)
    check_regularized_arguments(args)
    check_checkpoint_flags(args)
    check_output_folder(args.out, "--out")
    for key, value in {**TRAIN_DEFAULTS, **REGULARIZED_DEFAULTS.get(args.model, {}),
                       **conv_defaults(args)}.items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)


def cmd_train(args):
    """`train`: check the flags and output places, fill in the per-trainer defaults and run
    the --model's trainer."""
    check_train_arguments(args)
    return TRAINERS[args.model](args)


# ---- gradcheck and trace ----------------------------------------------------------------------

def cmd_gradcheck(args):
    """`gradcheck`: every built-in model against finite differences; status 1 on a failure."""
    return 0 if run_all(tol=args.tol, rng=args.seed) else 1


def cmd_trace(args):
    """`trace`: print one forward and backward pass of a model step by step, each step checked
    against finite differences; status 1 if a step's check exceeds --tol."""
    if args.list:
        for name in traceable_models():
            print(name)
        return 0
    try:
        key, model, X, y = build_traceable(args.model, rng=args.seed)
    except ValueError as exc:
        raise UsageError(f"--model {args.model!r} is not a traceable model: {exc}") from None
    t = trace_backprop(model, X, y, check=True)
    if args.step is not None and not -len(t) <= args.step < len(t):
        raise UsageError(f"--step must lie in [-{len(t)}, {len(t)}) for {key} ({len(t)} steps), "
                         f"got {args.step}")
    print(f"model: {key}")
    if args.step is not None:
        print(t.show(args.step))
    else:
        print(t)
    worst = t.check()
    return 0 if worst is None or worst <= args.tol else 1


# ---- study ----------------------------------------------------------------------------------

def _study_log(args):
    """The progress printer of a study: None with --quiet."""
    return None if args.quiet else (lambda line: print(line, flush=True))


def study_latent(args, X, y):
    """`study latent` on the --dataset (X, y): the latent-size study over --seeds seeds; prints
    the summary table and writes it (per seed and summarized, markdown and CSV) with its plot
    into a run folder. With --published: the published MNIST setup (apps.published)."""
    if args.published:
        return study_published_latent(args, X, y)
    sizes, epochs = args.sizes, args.epochs
    seeds = list(range(args.seed, args.seed + args.seeds))
    start = time.perf_counter()
    log = _study_log(args)
    rows = []
    for seed in seeds:
        if log:
            log(f"seed {seed}")
        rows += latent_size_study(X, y, sizes=sizes, epochs=epochs,
                                  probe_epochs=args.probe_epochs, seed=seed, log=log)
    run, table = _write_latent_run(rows, args.out)
    spread = "mean ± sample std over" if len(seeds) > 1 else "one seed:"
    print(f"\nlatent-size study on {args.dataset}: {len(X)} images, 20% held out (stratified); "
          f"autoencoders {X.shape[1]}-64-k-64-{X.shape[1]} (relu hidden, linear code, MSE), "
          f"Adam lr 3e-3, {epochs} epochs of 32 for every size; PCA fitted on the training "
          f"split; probe = logistic regression on standardized codes/features; dead outputs = "
          f"output units stuck at 0 on every training image; {spread} seeds "
          f"{', '.join(map(str, seeds))} (split, init, shuffling)\n")
    print(table)
    print(f"\ntotal {time.perf_counter() - start:.0f} s; run folder: {run}")
    return 0


def _write_latent_run(rows, base):
    """A study-latent run folder: the per-seed rows, the summary (markdown: mean ± sd strings;
    CSV: numbers) and the plot. Returns (run folder, summary markdown table)."""
    numeric, table_rows = summarize_latent(rows)
    run = run_dir(base, "study-latent")
    write_table(run, "latent_study_per_seed", rows, LATENT_COLUMNS, LATENT_FORMATS)
    table = format_markdown(table_rows, LATENT_TABLE_COLUMNS)
    write_markdown(table, os.path.join(run, "latent_study.md"))
    write_csv(numeric, LATENT_SUMMARY_COLUMNS, os.path.join(run, "latent_study.csv"))
    save_figure(plot_latent_study(rows), os.path.join(run, "latent_study.png"))
    return run, table


def study_pretraining(args, X, y):
    """`study pretraining` on the --dataset (X, y): pretrained vs random-init classifiers on few
    labels over --seeds seeds; prints the summary table and writes the tables and plots into a
    run folder."""
    seeds = list(range(args.seed, args.seed + args.seeds))
    epochs = args.epochs
    start = time.perf_counter()
    histories = {}
    summary, per_seed = pretraining_study(X, y, fractions=args.fractions, seeds=seeds,
                                          sizes=[X.shape[1]] + args.hidden,
                                          activation=args.activation, epochs=epochs,
                                          pretrain_epochs=args.pretrain_epochs,
                                          finetune_epochs=args.pretrain_epochs,
                                          split_seed=args.seed, log=_study_log(args),
                                          histories=histories)
    run, table = _write_pretraining_run(summary, per_seed, histories[seeds[0]], seeds[0],
                                        args.out)
    arch = "-".join(str(s) for s in [X.shape[1]] + args.hidden)
    print(f"\npretraining study on {args.dataset}: 20% test split (stratified); encoder {arch} "
          f"{args.activation}; greedy layer-wise pretraining + fine-tuning ({args.pretrain_epochs}"
          f" epochs each, Adam lr 3e-3) on the unlabeled training images, then Adam lr 3e-3, "
          f"{epochs} epochs of 16 on the labeled subset for both classifiers; mean ± std over "
          f"{len(seeds)} seeds\n")
    print(table)
    print(f"\ntotal {time.perf_counter() - start:.0f} s; run folder: {run}")
    return 0


def _write_pretraining_run(summary, per_seed, first_histories, first_seed, base):
    """A study-pretraining run folder: summary and per-seed tables, the accuracy plot and the
    first seed's pretraining curves. Returns (run folder, summary markdown table)."""
    run = run_dir(base, "study-pretraining")
    table = write_table(run, "pretraining_study", summary, PRETRAIN_COLUMNS)
    write_table(run, "pretraining_per_seed", per_seed, PRETRAIN_SEED_COLUMNS,
                {"pretrained acc": ".3f", "random-init acc": ".3f"})
    save_figure(plot_pretraining_study(per_seed), os.path.join(run, "pretraining_study.png"))
    # stage 1 and the fine-tuning reconstruct pixels (BCE on logits); later stages reconstruct
    # the codes of the stage below (MSE), see training.pretraining.default_stage_builder
    pixels, codes = "binary cross-entropy per pixel (nats)", "squared error per code unit"
    ylabels = {name: pixels if name in ("stage 1", "fine-tune") else codes
               for name in first_histories}
    save_figure(plot_stage_histories(first_histories, ylabels=ylabels),
                os.path.join(run, f"pretraining_histories_seed{first_seed}.png"))
    return run, table


STUDIES = {"latent": study_latent, "pretraining": study_pretraining,
           "reduction": study_reduction}

#: --epochs and --seeds when not given, per study (what --help says)
STUDY_DEFAULTS = {"latent": {"epochs": 150, "seeds": 3},
                  "pretraining": {"epochs": 100, "seeds": 10},
                  "reduction": {"epochs": 50}}

#: flags only one study reads: dest -> (the studies that read it, default). Given to the other
#: study they are refused (a usage error), never silently ignored.
STUDY_FLAGS = {
    "sizes": (("latent", "reduction"), [2, 4, 8, 16, 32]),
    "published": (("latent",), False),
    "probe_epochs": (("latent",), 100),
    "fractions": (("pretraining",), [0.05, 0.1]),
    "hidden": (("pretraining",), [48, 24]),
    "activation": (("pretraining",), "sigmoid"),
    "pretrain_epochs": (("pretraining",), 60),
    **REDUCTION_FLAGS,
}


def check_study_arguments(args):
    """Everything `study` can check before loading data, refused with a UsageError: flags the
    study does not read, repeated --sizes / --fractions, --data-dir without an IDX dataset, and
    --out (created and writable). Fills in the per-study defaults."""
    check_published_arguments(args)   # before the defaults: --published has its own
    check_reduction_arguments(args)
    apply_flag_table(args, STUDY_FLAGS, "study", "study")
    for dest in ("sizes", "fractions"):
        values = getattr(args, dest)
        if values is not None and len(set(values)) != len(values):
            raise UsageError(f"{flag_name(dest)} must list distinct values, got "
                             f"{' '.join(map(str, values))}")
    check_data_dir(args)
    check_output_folder(args.out, "--out")
    for key, value in STUDY_DEFAULTS[args.study].items():
        if getattr(args, key) is None:
            setattr(args, key, value)


def cmd_study(args):
    """`study`: check the flags and --out, load the --dataset (never another one in its place),
    check the code sizes against it, and run the named study."""
    check_study_arguments(args)
    X, y = load_study_dataset(args.dataset, data_dir=args.data_dir, download=not args.offline)
    if args.sizes is not None and max(args.sizes) > X.shape[1]:
        raise UsageError(f"--sizes must be at most the {X.shape[1]} pixels of {args.dataset} "
                         f"(PCA has no more components), got {max(args.sizes)}")
    return STUDIES[args.study](args, X, y)


# ---- the parser -------------------------------------------------------------------------------

class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line on stderr, exit status 2:
    "numpyae train: error: --epochs must be a positive int, got 0" (--help shows the usage)."""

    def error(self, message):
        """Print "<prog>: error: <message>" on one line and exit with status 2."""
        head = "argument "
        if message.startswith(head) and ": must " in message:
            flag, rest = message[len(head):].split(": ", 1)
            message = f"{flag.split('/')[-1]} {rest}"
        self.exit(2, f"{self.prog}: error: {one_line(message)}\n")


#: the iw-samples ceiling: K samples per row take K x (pixels) floats at once
MAX_IW_SAMPLES = 100_000


def build_parser():
    """The argparse parser of `numpyae` (python -m numpyae) and its subcommands."""
    p = OneLineParser(prog="numpyae", description=__doc__,
                      formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    _add_train_parser(sub)
    _add_gradcheck_parser(sub)
    _add_trace_parser(sub)
    _add_study_parser(sub)
    add_assignment_parser(sub)
    return p


def _add_train_parser(sub):
    t = sub.add_parser("train", help="train a model and write a run folder")
    t.add_argument("--model", default="autoencoder", help=f"one of {sorted(TRAINERS)}")
    t.add_argument("--dataset", default="digits",
                   choices=["digits", "mnist", "fashion-mnist", "patches"],
                   help="digits: the bundled 8x8 digits (every model). mnist / fashion-mnist "
                        "(autoencoder, vae, cvae, aae, conv): read from --data-dir or the cache "
                        "($NUMPYAE_DATA), downloaded if missing; when neither works the bundled "
                        "digits are used, with a note. patches: natural-image patches (sparse, "
                        "denoising, contractive, ksparse). A model refuses a dataset it cannot "
                        "use.")
    t.add_argument("--data-dir", type=path_text, default=None,
                   help="folder holding the MNIST / Fashion-MNIST IDX files")
    t.add_argument("--offline", action="store_true", help="never download datasets")
    t.add_argument("--checkpoint", type=path_text, default=None,
                   help="write a resumable checkpoint (.npz) of the main model here, every "
                        "--checkpoint-every epochs and at the end (its folder must exist). The "
                        "main model: aae, denoising and contractive checkpoint the regularized "
                        "model (the twin they compare with retrains from the seed); sparse its "
                        "Adam twin (the L-BFGS model retrains from the seed in seconds); ksparse needs "
                        "a single --ks value; conv checkpoints the conv autoencoder (the dense "
                        "one it compares with retrains from the seed)")
    t.add_argument("--checkpoint-every", type=positive_int, default=None,
                   help="epochs between checkpoints (default 1; needs --checkpoint)")
    t.add_argument("--resume", type=existing_file, default=None,
                   help="resume training from this checkpoint (same model, data and settings; "
                        "--epochs counts the epochs already done)")
    t.add_argument("--epochs", type=positive_int, default=None,
                   help="default: per model (60; conv: 300 on the digits, 10 on mnist / "
                        "fashion-mnist)")
    t.add_argument("--batch-size", type=positive_int, default=None,
                   help="default: per model (32)")
    t.add_argument("--lr", type=positive_float, default=None, help="default: per model (3e-3)")
    t.add_argument("--seed", type=nonnegative_int, default=0)
    t.add_argument("--out", type=path_text, default="runs",
                   help="folder for run folders, created if missing (default: runs)")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    add_regularized_arguments(t)
    _add_generative_arguments(t)
    t.set_defaults(func=cmd_train)


def _add_generative_arguments(t):
    t.add_argument("--code-dim", type=layer_size, default=None,
                   help=f"code size, the latent dimension, 1..{MAX_UNITS} (vae, cvae, aae; "
                        f"default 2)")
    t.add_argument("--likelihood", default=None,
                   choices=["bernoulli", "gaussian", "gaussian_learned"],
                   help="vae, cvae decoder (default bernoulli)")
    t.add_argument("--beta", type=nonnegative_float, default=None,
                   help="KL weight, >= 0 (vae, cvae; default 1)")
    t.add_argument("--kl-warmup", type=nonnegative_int, default=None,
                   help="KL warm-up steps (vae, cvae; default 0)")
    t.add_argument("--iw-samples", type=int_between(1, MAX_IW_SAMPLES), default=None,
                   help=f"importance samples K for the log p(x) estimate (vae, cvae; "
                        f"1..{MAX_IW_SAMPLES}, default 500)")
    t.add_argument("--prior", default=None, choices=["gaussian", "mixture"],
                   help="aae prior (default gaussian)")


def _add_gradcheck_parser(sub):
    g = sub.add_parser("gradcheck", help="check every built-in model's gradients")
    g.add_argument("--tol", type=positive_float, default=1e-6)
    g.add_argument("--seed", type=nonnegative_int, default=0)
    g.set_defaults(func=cmd_gradcheck)


def _add_trace_parser(sub):
    tr = sub.add_parser("trace", help="print one forward and backward pass, step by step")
    tr.add_argument("--model", default="autoencoder",
                    help="a gradcheck case (see --list) or its first word, e.g. autoencoder")
    tr.add_argument("--step", type=int, default=None,
                    help="print only this step (negative: from the end)")
    tr.add_argument("--seed", type=nonnegative_int, default=0)
    tr.add_argument("--tol", type=positive_float, default=1e-7,
                    help="exit status 1 if a step's gradient check exceeds this")
    tr.add_argument("--list", action="store_true", help="list the traceable models")
    tr.set_defaults(func=cmd_trace)


def _add_study_parser(sub):
    s = sub.add_parser("study", help="run a study, print its table, write a run folder")
    s.add_argument("study", choices=sorted(STUDIES))
    s.add_argument("--dataset", default="digits", choices=["digits", *IDX_DATASET_NAMES],
                   help="digits (default) or mnist / fashion-mnist (training split; read from "
                        "--data-dir or the cache, downloaded if missing; never replaced by "
                        "another dataset: exit status 1 when it is not available)")
    s.add_argument("--data-dir", type=path_text, default=None,
                   help="folder holding the MNIST / Fashion-MNIST IDX files")
    s.add_argument("--offline", action="store_true", help="never download datasets")
    s.add_argument("--seed", type=nonnegative_int, default=0,
                   help="data split seed (and first seed)")
    s.add_argument("--epochs", type=positive_int, default=None,
                   help="training epochs (latent: each autoencoder, default 150, 10 with "
                        "--published; pretraining: each classifier, default 100; reduction: "
                        "each autoencoder, default 50)")
    s.add_argument("--sizes", type=layer_size, nargs="+", default=None,
                   help="latent, reduction: distinct code sizes, at most the number of pixels "
                        "(default 2 4 8 16 32; latent --published: 10 20 ... 100)")
    s.add_argument("--published", action="store_true", default=None,
                   help="latent --dataset mnist: the published setup (784-k-784, relu code and "
                        "output, MSE, Adam, 10 epochs, full training and test sets), its test "
                        "MSE printed beside the published one")
    s.add_argument("--probe-epochs", type=positive_int, default=None,
                   help="latent: epochs of the logistic-regression probe (default 100)")
    s.add_argument("--pretrain-epochs", type=positive_int, default=None,
                   help="pretraining: epochs of every greedy stage and of the autoencoder "
                        "fine-tuning (default 60)")
    s.add_argument("--seeds", type=int_between(1, 1000), default=None,
                   help="number of seeds, from --seed on, 1..1000 (latent: default 3, 1 with "
                        "--published; pretraining: 10; reduction reads --folds instead)")
    s.add_argument("--fractions", type=fraction, nargs="+", default=None,
                   help="pretraining: distinct labeled fractions of the training split, each "
                        "in (0, 1) (default 0.05 0.1)")
    s.add_argument("--hidden", type=layer_size, nargs="+", default=None,
                   help=f"pretraining: encoder layer sizes after the input, each 1..{MAX_UNITS} "
                        f"(default 48 24)")
    s.add_argument("--activation", default=None, choices=sorted(ACTIVATIONS),
                   help="pretraining: encoder activation (default sigmoid)")
    s.add_argument("--out", type=path_text, default="runs",
                   help="folder for run folders, created if missing (default: runs)")
    add_reduction_arguments(s)
    s.add_argument("--quiet", action="store_true", help="only the final table")
    s.set_defaults(func=cmd_study)


# ---- main: every error in one line ------------------------------------------------------------

#: the library's documented errors: a failure at run time, exit status 1 (NonFiniteError,
#: ModelFileError and DatasetError are named for the reader; they subclass the others)
RUNTIME_ERRORS = (NonFiniteError, ModelFileError, DatasetError, ValueError, TypeError, OSError,
                  MemoryError)

#: set to 1 (or anything but 0 / empty) for the full traceback of an error
DEBUG_VARIABLE = "NUMPYAE_DEBUG"


def _debug():
    """Whether $NUMPYAE_DEBUG asks for tracebacks."""
    return os.environ.get(DEBUG_VARIABLE, "").strip() not in ("", "0")


def _show_warning(message, category, filename, lineno, file=None, line=None):
    """warnings.showwarning for the command line: one line on stderr, no source line."""
    print(f"numpyae: warning: {one_line(message)} ({category.__name__})", file=sys.stderr)


def _run(args):
    """Run the subcommand; every error becomes one line on stderr and an exit status."""
    try:
        return args.func(args)
    except UsageError as exc:
        print(f"numpyae {args.command}: error: {one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if _debug():
            raise
        ck = getattr(args, "checkpoint", None)
        hint = (f"; continue with --resume {ck}" if ck and os.path.isfile(ck) else "")
        print(f"numpyae: interrupted{hint}", file=sys.stderr)
        return 130
    except RUNTIME_ERRORS as exc:
        if _debug():
            raise
        hint = ("; a smaller --lr may help" if isinstance(exc, NonFiniteError) else
                "; smaller sizes or --batch-size may help" if isinstance(exc, MemoryError) else "")
        text = one_line(exc) or ("out of memory" if isinstance(exc, MemoryError) else
                                 "(no message)")
        print(f"numpyae: error: {text} ({type(exc).__name__}){hint}", file=sys.stderr)
        return 1
    except Exception as exc:  # a bug: still one line, with the way to its traceback
        if _debug():
            raise
        text = one_line(exc) or "(no message)"
        print(f"numpyae: internal error: {type(exc).__name__}: {text} (rerun with "
              f"{DEBUG_VARIABLE}=1 for the traceback)", file=sys.stderr)
        return 1


def main(argv=None):
    """Parse argv (default: sys.argv[1:]) and run the subcommand; returns its exit status:
    0 success, 1 a failure at run time (or a study / check verdict of NO), 2 a usage error,
    130 interrupted. Every error is one line on stderr; $NUMPYAE_DEBUG=1 shows tracebacks."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2), already printed
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    # Floating-point warnings (overflow in exp, ...) are noise next to the library's own check:
    # training that reaches NaN or inf stops with NonFiniteError, printed in one line below.
    # Every other warning is printed in one line.
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.showwarning = _show_warning
        return _run(args)
