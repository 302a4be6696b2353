"""Command line:  python -m numpyae {train, gradcheck, trace, study} ...

    python -m numpyae train                  default autoencoder on the bundled digits
    python -m numpyae train --model sparse --dataset patches     KL-sparse filters (UFLDL)
    python -m numpyae train --model denoising | contractive | ksparse
    python -m numpyae train --model vae --code-dim 2     samples, 2-D manifold, latent scatter
    python -m numpyae train --model cvae | aae           conditional VAE, adversarial autoencoder
    python -m numpyae gradcheck              every built-in model against finite differences
    python -m numpyae trace --model autoencoder   one forward/backward pass, step by step
    python -m numpyae study latent           code size 2..32: autoencoder vs PCA
    python -m numpyae study pretraining      pretrained vs random-init classifier on few labels

--code-dim is the code size of the vae, cvae and aae (the latent dimension).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from typing import NamedTuple

import numpy as np

from ..analysis.metrics import prior_distance
from ..analysis.plotting import (plot_codes_over_prior, plot_history, plot_image_rows, plot_images,
                                 plot_latent, plot_latent_manifold, plot_reconstructions,
                                 plot_stage_histories)
from ..data.datasets import train_validation_split
from ..io import save
from ..models.aae import mlp_aae
from ..models.autoencoder import mlp_autoencoder
from ..models.vae import mlp_cvae, mlp_vae
from ..nn.optimizers import Adam
from ..teaching.cases import run_all
from ..teaching.trace import build_traceable, trace_backprop, traceable_models
from ..training.fit import fit
from .common import (fit_checkpoint_kwargs, format_markdown, load_study_dataset,
                     load_training_data, print_curve, run_dir, save_figure, write_csv,
                     write_markdown, write_table)
from .study import (LATENT_COLUMNS, LATENT_FORMATS, LATENT_SUMMARY_COLUMNS, LATENT_TABLE_COLUMNS,
                    PRETRAIN_COLUMNS, PRETRAIN_SEED_COLUMNS, latent_size_study,
                    plot_latent_study, plot_pretraining_study, pretraining_study,
                    summarize_latent)
from .train_regularized import DEFAULTS as REGULARIZED_DEFAULTS
from .train_regularized import TRAINERS as REGULARIZED_TRAINERS
from .train_regularized import add_arguments as add_regularized_arguments


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
    X_tr, X_te, y_tr, y_te = train_validation_split(X, y, fraction=0.2, rng=args.seed)
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
    save_figure(plot_history(history, ["loss", "val_loss"], title="BCE per pixel"),
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
    """Test terms averaged over `draws` noise draws (one draw's neg. ELBO varies by ~0.2)."""
    runs = [model.evaluate(X_te, y_te) for _ in range(draws)]
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
                                       "val_kl"], title="negative ELBO (nats per digit)"),
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
    save_figure(plot_latent(model.encode(data.X), data.y,
                            title=f"posterior means of all {len(data.X)} digits"),
                os.path.join(run, "latent_scatter.png"))
    a, b = np.flatnonzero(data.y_te == 0)[0], np.flatnonzero(data.y_te == 6)[0]
    save_figure(plot_image_rows(model.interpolate(data.X_te[a], data.X_te[b], 10)[None],
                                title="interpolation between the posterior means of a 0 and a 6"),
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
    # does a sample look like its class? nearest class mean of the training digits
    means = np.stack([data.X_tr[data.y_tr == c].mean(0) for c in range(10)])
    nearest = np.argmin(((rows.reshape(-1, D)[:, None, :] - means[None]) ** 2).sum(-1), axis=1)
    acc_gen = float(np.mean(nearest == np.repeat(np.arange(10), per_class)))
    near_te = np.argmin(((data.X_te[:, None, :] - means[None]) ** 2).sum(-1), axis=1)
    print(f"generated samples whose nearest training class mean is the requested class: "
          f"{acc_gen:.0%} (real test digits: {float(np.mean(near_te == data.y_te)):.0%})")


def train_cvae(args):
    """`train --model cvae`: train_vae with the digit class as the condition."""
    return train_vae(args, conditional=True)


def train_aae(args):
    """`train --model aae`: an adversarial autoencoder and its unregularized twin; prints how
    close each one's test codes are to the --prior, writes the model and its figures. Exit
    status 1 if the AAE's codes are not closer to the prior (MMD^2) than the twin's."""
    data = _split_data(args)
    sizes = [data.X.shape[1], 128, 128, args.code_dim]
    model = mlp_aae(sizes, discriminator=(64, 64), prior=args.prior, rng=args.seed)
    history = fit(model, data.X_tr, model.make_optimizers(lr=args.lr, adversarial_lr=args.lr),
                  epochs=args.epochs, batch_size=args.batch_size, validation_data=(data.X_te,),
                  rng=args.seed, progress=not args.quiet, **fit_checkpoint_kwargs(args))
    plain = _train_unregularized_twin(sizes, data.X_tr, args)
    codes, plain_codes = model.encode(data.X_te), plain.encode(data.X_te)
    run = _save_model(model, args.out, f"aae-{args.prior}")
    _write_aae_figures(model, codes, plain_codes, data, run, args)
    print(f"AAE: encoder {data.X.shape[1]}-128-128-{args.code_dim}, decoder mirror, "
          f"discriminator {args.code_dim}-64-64-1, prior {model.prior!r}; {len(data.X_tr)} "
          f"train / {len(data.X_te)} test digits")
    print(f"last epoch: reconstruction BCE {history['reconstruction'][-1]:.4f}  discriminator "
          f"{history['discriminator'][-1]:.4f}  generator {history['generator'][-1]:.4f}  "
          f"(an undecided discriminator gives log 2 = 0.6931)")
    print(f"test reconstruction BCE per pixel: AAE {history['val_reconstruction'][-1]:.4f}  "
          f"unregularized {plain.evaluate(data.X_te)['loss']:.4f}")
    closer = _print_prior_distances(codes, plain_codes, model.prior, args.seed)
    print(f"run folder: {run}")
    return 0 if closer else 1


def _train_unregularized_twin(sizes, X_tr, args):
    """The AAE's encoder/decoder architecture trained on reconstruction alone."""
    plain = mlp_autoencoder(sizes, activation="relu", loss="bce", rng=args.seed)
    fit(plain, X_tr, Adam(plain.parameters(), lr=args.lr), epochs=args.epochs,
        batch_size=args.batch_size, rng=args.seed, progress=False)
    return plain


def _write_aae_figures(model, codes, plain_codes, data, run, args):
    """codes_over_prior.png (AAE and twin side by side), samples.png, reconstructions.png."""
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(12, 5))
    prior_pts = model.prior.sample(2000, args.seed + 3)
    plot_codes_over_prior(codes, prior_pts, data.y_te, ax=axes[0],
                          title=f"AAE codes of test digits over the {args.prior} prior")
    plot_codes_over_prior(plain_codes, prior_pts, data.y_te, ax=axes[1],
                          title="unregularized autoencoder (same architecture)")
    save_figure(fig, os.path.join(run, "codes_over_prior.png"))
    save_figure(plot_images(model.sample(100, rng=args.seed), n_cols=10,
                            title="AAE samples: decoded prior samples"),
                os.path.join(run, "samples.png"))
    save_figure(plot_reconstructions(data.X_te[:12], model.reconstruct(data.X_te[:12]), n=12,
                                     title="AAE: test digits and reconstructions"),
                os.path.join(run, "reconstructions.png"))


def _print_prior_distances(codes, plain_codes, prior, seed):
    """Print MMD^2, mean and covariance distances to the prior of the AAE's codes, the twin's and
    a fresh prior sample. Returns whether the AAE's codes are closer (MMD^2) than the twin's."""
    stats = prior_distance(codes, prior, rng=seed + 1)
    plain_stats = prior_distance(plain_codes, prior, rng=seed + 1)
    ref = prior_distance(prior.sample(len(codes), seed + 2), prior, rng=seed + 1)
    print("closeness of test codes to the prior (smaller is closer):")
    print(f"  {'':34s} {'MMD^2':>8s} {'|mean diff|':>12s} {'|cov diff|_F':>13s}")
    for label, s in (("AAE", stats), ("unregularized autoencoder", plain_stats),
                     ("reference: a fresh prior sample", ref)):
        print(f"  {label:34s} {s['mmd']:8.4f} {s['mean']:12.3f} {s['cov']:13.3f}")
    closer = stats["mmd"] < plain_stats["mmd"]
    print(f"AAE codes closer to the prior than the unregularized autoencoder's (MMD^2): "
          f"{'yes' if closer else 'NO'}")
    return closer


# ---- train ----------------------------------------------------------------------------------

TRAINERS = {"autoencoder": train_vanilla, "vae": train_vae, "cvae": train_cvae,
            "aae": train_aae, **REGULARIZED_TRAINERS}
#: --epochs / --batch-size / --lr when not given: per trainer, else these
TRAIN_DEFAULTS = {"epochs": 60, "batch_size": 32, "lr": 3e-3}


def cmd_train(args):
    """`train`: fill in the per-trainer defaults and run the --model's trainer."""
    if args.model not in TRAINERS:
        print(f"unknown --model {args.model!r}; choose from {sorted(TRAINERS)}", file=sys.stderr)
        return 2
    for key, value in {**TRAIN_DEFAULTS, **REGULARIZED_DEFAULTS.get(args.model, {})}.items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
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


# ---- study ----------------------------------------------------------------------------------

def _study_log(args):
    """The progress printer of a study: None with --quiet."""
    return None if args.quiet else (lambda line: print(line, flush=True))


def study_latent(args):
    """`study latent`: the latent-size study over --seeds seeds; prints the summary table and
    writes it (per seed and summarized, markdown and CSV) with its plot into a run folder."""
    X, y = load_study_dataset(args.dataset)
    sizes = args.sizes or [2, 4, 8, 16, 32]
    epochs = args.epochs or 150
    seeds = list(range(args.seed, args.seed + (args.seeds or 3)))
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


def study_pretraining(args):
    """`study pretraining`: pretrained vs random-init classifiers on few labels over --seeds
    seeds; prints the summary table and writes the tables and plots into a run folder."""
    X, y = load_study_dataset(args.dataset)
    seeds = list(range(args.seed, args.seed + (args.seeds or 10)))
    epochs = args.epochs or 100
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
    save_figure(plot_stage_histories(first_histories),
                os.path.join(run, f"pretraining_histories_seed{first_seed}.png"))
    return run, table


STUDIES = {"latent": study_latent, "pretraining": study_pretraining}


def cmd_study(args):
    """`study`: run the named study."""
    return STUDIES[args.study](args)


# ---- the parser -------------------------------------------------------------------------------

def _positive_int(text):
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive int, got {value}")
    return value


def build_parser():
    """The argparse parser of `python -m numpyae` and its four subcommands."""
    p = argparse.ArgumentParser(prog="python -m numpyae", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    _add_train_parser(sub)
    _add_gradcheck_parser(sub)
    _add_trace_parser(sub)
    _add_study_parser(sub)
    return p


def _add_train_parser(sub):
    t = sub.add_parser("train", help="train a model and write a run folder")
    t.add_argument("--model", default="autoencoder", help=f"one of {sorted(TRAINERS)}")
    t.add_argument("--dataset", default="digits",
                   choices=["digits", "mnist", "fashion-mnist", "patches"],
                   help="mnist/fashion-mnist are read from --data-dir or the cache "
                        "($NUMPYAE_DATA), downloaded if missing; else the bundled digits are used; "
                        "patches: natural-image patches (sparse autoencoder)")
    t.add_argument("--data-dir", default=None, help="folder holding the MNIST IDX files")
    t.add_argument("--offline", action="store_true", help="never download datasets")
    t.add_argument("--checkpoint", default=None, help="write a resumable checkpoint (.npz) here")
    t.add_argument("--checkpoint-every", type=int, default=1, help="epochs between checkpoints")
    t.add_argument("--resume", default=None, help="resume training from this checkpoint")
    t.add_argument("--epochs", type=int, default=None, help="default: per model (60)")
    t.add_argument("--batch-size", type=int, default=None, help="default: per model (32)")
    t.add_argument("--lr", type=float, default=None, help="default: per model (3e-3)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--out", default="runs", help="folder for run folders (default: runs)")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    add_regularized_arguments(t)
    _add_generative_arguments(t)
    t.set_defaults(func=cmd_train)


def _add_generative_arguments(t):
    t.add_argument("--code-dim", type=int, default=2,
                   help="code size, the latent dimension (vae, cvae, aae; default 2)")
    t.add_argument("--likelihood", default="bernoulli",
                   choices=["bernoulli", "gaussian", "gaussian_learned"], help="vae, cvae decoder")
    t.add_argument("--beta", type=float, default=1.0, help="KL weight (vae, cvae)")
    t.add_argument("--kl-warmup", type=int, default=0, help="KL warm-up steps (vae, cvae)")
    t.add_argument("--iw-samples", type=int, default=500,
                   help="importance samples K for the log p(x) estimate (vae, cvae)")
    t.add_argument("--prior", default="gaussian", choices=["gaussian", "mixture"], help="aae prior")


def _add_gradcheck_parser(sub):
    g = sub.add_parser("gradcheck", help="check every built-in model's gradients")
    g.add_argument("--tol", type=float, default=1e-6)
    g.add_argument("--seed", type=int, default=0)
    g.set_defaults(func=cmd_gradcheck)


def _add_trace_parser(sub):
    tr = sub.add_parser("trace", help="print one forward and backward pass, step by step")
    tr.add_argument("--model", default="autoencoder",
                    help="a gradcheck case (see --list) or its first word, e.g. autoencoder")
    tr.add_argument("--step", type=int, default=None, help="print only this step")
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--tol", type=float, default=1e-7,
                    help="exit status 1 if a step's gradient check exceeds this")
    tr.add_argument("--list", action="store_true", help="list the traceable models")
    tr.set_defaults(func=cmd_trace)


def _add_study_parser(sub):
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


def main(argv=None):
    """Parse argv (default: sys.argv[1:]) and run the subcommand; returns its exit status."""
    args = build_parser().parse_args(argv)
    return args.func(args)
