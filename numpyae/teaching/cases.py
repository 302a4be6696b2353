"""The built-in models, each as a small instance on random data, for `python -m numpyae gradcheck`.

Every entry is name -> build(rng) returning (model, X, y). Models are tiny so that an
entry-by-entry finite-difference check takes well under a second. Most models use smooth
activations; the relu and leaky relu cases have kinks, and the k-sparse case draws inputs away
from TopK's switch points (topk_inputs). A finite difference that does cross a kink is not an
error: the checker reports it apart as not comparable (the "kinks" column of run_all).
"""
from __future__ import annotations

import numbers

import numpy as np

from ..core.checks import check_nonnegative_float
from ..models import (AAEPhase, ContractiveAutoencoder, DenoisingAutoencoder, KLTerm,
                      KSparseAutoencoder, L1SparseAutoencoder, SparseAutoencoder, mlp_aae,
                      mlp_autoencoder, mlp_classifier, mlp_cvae, mlp_vae, stack_autoencoders)
from ..models.conv import ConvDenoisingAutoencoder, conv_autoencoder, conv_vae
from ..nn.conv import MaxPool2D, im2col
from ..nn.penalties import Contractive, KLSparsity, L1Activity, WeightDecay
from .gradcheck import check_model


GRADCHECK_CASES = {}


def case(name):
    """Decorator: register build(rng) -> (model, X, y) in GRADCHECK_CASES under name."""
    def decorate(build):
        GRADCHECK_CASES[name] = build
        return build
    return decorate


def unit_inputs(rng, n=5, d=6):
    """Inputs in (0.05, 0.95): valid targets for BCE and MSE alike."""
    return rng.uniform(0.05, 0.95, size=(n, d))


@case("autoencoder (tanh, bce)")
def _vanilla_bce(rng):
    model = mlp_autoencoder([6, 4, 3], activation="tanh", loss="bce", rng=rng, dtype=np.float64)
    return model, unit_inputs(rng), None


@case("autoencoder (relu, bce)")
def _relu(rng):
    model = mlp_autoencoder([6, 5, 3], activation="relu", loss="bce", rng=rng, dtype=np.float64)
    return model, unit_inputs(rng), None


@case("autoencoder (leaky relu, mse)")
def _leaky_relu(rng):
    model = mlp_autoencoder([6, 5, 3], activation="leaky_relu", code_activation="leaky_relu",
                            loss="mse", rng=rng, dtype=np.float64)
    return model, unit_inputs(rng), None


@case("autoencoder (sigmoid, mse)")
def _vanilla_mse(rng):
    model = mlp_autoencoder([6, 5, 2], activation="sigmoid", code_activation="softplus",
                            loss="mse", rng=rng, dtype=np.float64)
    return model, unit_inputs(rng), None


@case("autoencoder (elu, overcomplete)")
def _overcomplete(rng):
    model = mlp_autoencoder([4, 7], activation="elu", code_activation="elu", loss="mse",
                            rng=rng, dtype=np.float64)
    return model, unit_inputs(rng, d=4), None


@case("autoencoder (tied, deep)")
def _tied(rng):
    model = mlp_autoencoder([6, 5, 3], activation="tanh", code_activation="sigmoid", loss="bce",
                            tied=True, rng=rng, dtype=np.float64)
    return model, unit_inputs(rng), None



# ---- regularized autoencoders ----------------------------------------------------------

@case("denoising (gaussian noise)")
def _denoising_gaussian(rng):
    model = DenoisingAutoencoder([6, 4], noise="gaussian", level=0.2, rng=rng, dtype=np.float64)
    return model, unit_inputs(rng), None


@case("denoising (masking noise)")
def _denoising_masking(rng):
    model = DenoisingAutoencoder([6, 5, 3], noise="masking", level=0.3, activation="tanh",
                                 code_activation="tanh", rng=rng, dtype=np.float64)
    return model, unit_inputs(rng), None


@case("denoising (salt and pepper, tied)")
def _denoising_sp(rng):
    model = DenoisingAutoencoder([6, 4], noise="salt_and_pepper", level=0.3, tied=True, rng=rng,
                                 dtype=np.float64)
    return model, unit_inputs(rng), None


@case("sparse KL + weight decay (UFLDL)")
def _sparse_kl(rng):
    model = SparseAutoencoder([6, 4], rho=0.1, rng=rng, dtype=np.float64)
    return model, unit_inputs(rng), None


@case("sparse L1 (deep, tied)")
def _sparse_l1(rng):
    model = L1SparseAutoencoder([6, 5, 4], beta=0.05, tied=True, rng=rng, dtype=np.float64)
    return model, unit_inputs(rng), None


@case("k-sparse (TopK, tied)")
def _sparse_topk(rng):
    model = KSparseAutoencoder([6, 5], k=2, rng=rng, dtype=np.float64)
    return model, topk_inputs(model, rng), None


@case("contractive (sigmoid, tied)")
def _contractive(rng):
    model = ContractiveAutoencoder([6, 4], lam=0.5, rng=rng, dtype=np.float64)
    return model, unit_inputs(rng), None


@case("contractive (tanh, deep)")
def _contractive_deep(rng):
    model = ContractiveAutoencoder([6, 5, 3], lam=0.5, activation="tanh", tied=False, rng=rng,
                                   dtype=np.float64)
    return model, unit_inputs(rng), None


@case("contractive + KL + L1 + weight decay")
def _all_penalties(rng):
    model = mlp_autoencoder([6, 5, 4], activation="softplus", code_activation="sigmoid",
                            loss="mse", rng=rng, dtype=np.float64,
                            penalties=[Contractive(0.3), KLSparsity(0.2, 0.5), L1Activity(0.1),
                                       WeightDecay(0.05)])
    return model, unit_inputs(rng), None


def topk_inputs(model, rng, n=5, gap=0.05):
    """Inputs for which, in every row, the k-th and (k+1)-th largest pre-TopK activations differ
    by more than `gap` (rows are redrawn until they do), so finite differences never swap the
    kept set: TopK is then a fixed linear mask and its gradient is exact."""
    k = model.code_layer.k
    rows = []
    while len(rows) < n:
        x = unit_inputs(rng, n=1, d=model.input_dim)
        z = np.sort(model.encoder.layers[0].forward(x, training=False)[0])[::-1]
        if z[k - 1] - z[k] > gap:
            rows.append(x[0])
    return np.array(rows)



@case("autoencoder (deep stack, 4 layers)")
def _deep_stack(rng):
    model = mlp_autoencoder([6, 5, 4, 3, 2], activation="tanh", code_activation="softplus",
                            loss="mse", rng=rng, dtype=np.float64)
    return model, unit_inputs(rng), None


@case("autoencoder (greedy stack, tied)")
def _greedy_stack(rng):
    stages = [mlp_autoencoder([6, 4], activation="sigmoid", code_activation="sigmoid",
                              loss="bce", tied=True, rng=rng, dtype=np.float64),
              mlp_autoencoder([4, 3], activation="sigmoid", code_activation="tanh",
                              output_activation="sigmoid", loss="mse", tied=True, rng=rng,
                              dtype=np.float64)]
    return stack_autoencoders(stages), unit_inputs(rng), None


@case("classifier (tanh encoder, softmax head)")
def _classifier(rng):
    model = mlp_classifier([6, 5, 3], 4, activation="tanh", code_activation="sigmoid", rng=rng,
                           dtype=np.float64)
    return model, unit_inputs(rng), np.array([0, 1, 2, 3, 1])


def run_all(tol=1e-6, rng=0, out=print):
    """Check every case; print one row per model and parameter. Returns True if all pass.

    Columns: the case, the parameter, the max relative error over the comparable entries, and
    "kinks": how many entries were not comparable because their finite difference crosses a
    kink (never a failure; numpyae.teaching.gradcheck). Names are padded to the longest one.
    """
    tol = check_nonnegative_float(tol, "tol")
    rng = check_nonnegative_int(rng, "rng")
    if not callable(out):
        raise TypeError(f"out must be a function that prints a line, got {type(out).__name__}")
    results = []
    for name, build in GRADCHECK_CASES.items():
        model, X, y = build(np.random.default_rng(rng))
        results.append((name, check_model(model, X, y)))
    w_case = max([len("model")] + [len(name) for name, _ in results])
    w_param = max([len("parameter")] + [len(r.name) for _, rep in results for r in rep.rows])
    out(f"{'model':{w_case}s}  {'parameter':{w_param}s}  {'max rel err':>12s}  {'kinks':>9s}")
    ok, notes = True, []
    for name, report in results:
        for row in report.rows:
            flag = "" if row.max_error <= tol else "  FAIL"
            ok = ok and row.max_error <= tol
            kinks = f"{row.n_kink}/{row.n_entries}" if row.n_kink else "0"
            out(f"{name:{w_case}s}  {row.name:{w_param}s}  {row.max_error:12.2e}  "
                f"{kinks:>9s}{flag}")
        notes += [f"{name}: {note}" for note in report.kink_notes]
    for note in notes:
        out(note)
    out("all gradients agree with finite differences" if ok
        else f"some gradients exceed the tolerance {tol:g}")
    return ok


def check_nonnegative_int(value, name):
    """value as an int >= 0 (a seed), or a clear error."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int >= 0, got {type(value).__name__} {value!r}")
    if value < 0:
        raise ValueError(f"{name} must be an int >= 0, got {value}")
    return int(value)


# ---- generative models (VAE, CVAE, AAE): smooth activations, eps/prior samples held fixed ----

def _vae_case(rng, likelihood="bernoulli", **kw):
    model = mlp_vae([6, 5, 3], activation="tanh", likelihood=likelihood, beta=0.7,
                    rng=int(rng.integers(2**31)), dtype=np.float64, **kw)
    return model, unit_inputs(rng), None


@case("vae (bernoulli)")
def _vae_bernoulli(rng):
    return _vae_case(rng)


@case("vae (gaussian, learned variance)")
def _vae_gaussian(rng):
    return _vae_case(rng, "gaussian_learned")


@case("vae KL term alone")
def _vae_kl(rng):
    model, X, y = _vae_case(rng)
    return KLTerm(model), X, y


def _cvae_case(rng):
    model = mlp_cvae([6, 5, 2], 3, activation="tanh", rng=int(rng.integers(2**31)),
                     dtype=np.float64)
    return model, unit_inputs(rng), rng.integers(3, size=5)


@case("cvae (bernoulli)")
def _cvae(rng):
    return _cvae_case(rng)


@case("cvae KL term alone")
def _cvae_kl(rng):
    model, X, y = _cvae_case(rng)
    return KLTerm(model), X, y


def _aae_phase(phase, prior):
    def build(rng):
        model = mlp_aae([6, 5, 2], discriminator=(4,), prior=prior, activation="tanh",
                        disc_activation="tanh", rng=int(rng.integers(2**31)), dtype=np.float64)
        return AAEPhase(model, phase), unit_inputs(rng), None
    return build


for _phase in ("reconstruction", "discriminator", "generator"):
    case(f"aae {_phase} phase (mixture)")(_aae_phase(_phase, "mixture"))
case("aae discriminator phase (gaussian)")(_aae_phase("discriminator", "gaussian"))


# ---- convolutional models (numpyae.models.conv) --------------------------------------------

def pool_gap(encoder, X):
    """The smallest gap between the largest and the second-largest entry of any max-pool window
    of the encoder on X (inf without max pooling)."""
    gaps, x = [np.inf], X
    for layer in encoder.layers:
        if isinstance(layer, MaxPool2D):
            cols = im2col(x, layer.pool_size, layer.stride)
            w = np.sort(cols.reshape(cols.shape[:3] + (-1, cols.shape[-1])), axis=3)
            gaps.append(float((w[:, :, :, -1] - w[:, :, :, -2]).min()))
        x = layer.forward(x, training=False)
    return min(gaps)


def pool_apart_inputs(model, rng, n=3, gap=1e-3):
    """unit_inputs for which every max-pool window's maximum leads by more than `gap`: a step
    of the finite differences (<= 2e-4 on one weight) then never swaps a window's maximum."""
    for _ in range(100):
        X = unit_inputs(rng, n=n, d=model.input_dim)
        if pool_gap(model.encoder, X) > gap:
            return X
    raise RuntimeError("no inputs with max-pool windows apart in 100 draws")


@case("conv autoencoder (tanh, bce)")
def _conv_autoencoder(rng):
    model = conv_autoencoder((6, 6), (2, 3), 2, activation="tanh", rng=rng, dtype=np.float64)
    return model, unit_inputs(rng, n=3, d=36), None


@case("conv autoencoder (2 channels, odd sizes)")
def _conv_autoencoder_odd(rng):
    model = conv_autoencoder((5, 3), (2,), 2, in_channels=2, kernel_size=(3, 2), stride=(2, 1),
                             padding=(1, 0), activation="softplus", rng=rng, dtype=np.float64)
    return model, unit_inputs(rng, n=2, d=30), None


@case("conv autoencoder (maxpool, mse)")
def _conv_autoencoder_maxpool(rng):
    model = conv_autoencoder((4, 4), (2, 2), 2, downsample="maxpool", activation="tanh",
                             loss="mse", rng=rng, dtype=np.float64)
    return model, pool_apart_inputs(model, rng), None


@case("conv denoising (masking noise)")
def _conv_denoising(rng):
    model = ConvDenoisingAutoencoder((6, 6), (2, 3), 2, noise="masking", level=0.3,
                                     activation="tanh", rng=int(rng.integers(2**31)),
                                     dtype=np.float64)
    return model, unit_inputs(rng, n=3, d=36), None


@case("conv VAE (bernoulli)")
def _conv_vae(rng):
    model = conv_vae((6, 6), (2, 3), 2, activation="tanh", rng=int(rng.integers(2**31)),
                     dtype=np.float64)
    return model, unit_inputs(rng, n=3, d=36), None
