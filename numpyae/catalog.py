"""The built-in models, each as a small instance on random data, for `python -m numpyae gradcheck`.

Every entry is name -> build(rng) returning (model, X, y). Models are tiny so that an
entry-by-entry finite-difference check takes well under a second. Inputs are kept away from
relu's kink by construction where a model has relu units (see _away_from_kinks).
"""
from __future__ import annotations

import numpy as np

from .models import mlp_autoencoder

GRADCHECK_CASES = {}


def case(name):
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


@case("autoencoder (deep stack, 4 layers)")
def _deep_stack(rng):
    model = mlp_autoencoder([6, 5, 4, 3, 2], activation="tanh", code_activation="softplus",
                            loss="mse", rng=rng, dtype=np.float64)
    return model, unit_inputs(rng), None


@case("autoencoder (greedy stack, tied)")
def _greedy_stack(rng):
    from .pretraining import stack_autoencoders
    stages = [mlp_autoencoder([6, 4], activation="sigmoid", code_activation="sigmoid",
                              loss="bce", tied=True, rng=rng, dtype=np.float64),
              mlp_autoencoder([4, 3], activation="sigmoid", code_activation="tanh",
                              output_activation="sigmoid", loss="mse", tied=True, rng=rng,
                              dtype=np.float64)]
    return stack_autoencoders(stages), unit_inputs(rng), None


@case("classifier (tanh encoder, softmax head)")
def _classifier(rng):
    from .models import mlp_classifier
    model = mlp_classifier([6, 5, 3], 4, activation="tanh", code_activation="sigmoid", rng=rng,
                           dtype=np.float64)
    return model, unit_inputs(rng), np.array([0, 1, 2, 3, 1])


def run_all(tol=1e-6, seed=0, out=print):
    """Check every case; print one row per model and parameter. Returns True if all pass."""
    from .gradcheck import check_model
    ok = True
    out(f"{'model':36s} {'parameter':22s} {'max rel err':>12s}")
    for name, build in GRADCHECK_CASES.items():
        model, X, y = build(np.random.default_rng(seed))
        report = check_model(model, X, y)
        for row in report.rows:
            flag = "" if row.max_error <= tol else "  FAIL"
            ok = ok and row.max_error <= tol
            out(f"{name:36s} {row.name:22s} {row.max_error:12.2e}{flag}")
    out("all gradients agree with finite differences" if ok
        else f"some gradients exceed the tolerance {tol:g}")
    return ok


# ---- generative models (VAE, CVAE, AAE): smooth activations, eps/prior samples held fixed ----

def _vae_case(rng, likelihood="bernoulli", **kw):
    from .models import mlp_vae
    model = mlp_vae([6, 5, 3], activation="tanh", likelihood=likelihood, beta=0.7,
                    seed=int(rng.integers(2**31)), dtype=np.float64, **kw)
    return model, unit_inputs(rng), None


@case("vae (bernoulli)")
def _vae_bernoulli(rng):
    return _vae_case(rng)


@case("vae (gaussian, learned variance)")
def _vae_gaussian(rng):
    return _vae_case(rng, "gaussian_learned")


@case("vae KL term alone")
def _vae_kl(rng):
    from .models import KLTerm
    model, X, y = _vae_case(rng)
    return KLTerm(model), X, y


def _cvae_case(rng):
    from .models import mlp_cvae
    model = mlp_cvae([6, 5, 2], 3, activation="tanh", seed=int(rng.integers(2**31)),
                     dtype=np.float64)
    return model, unit_inputs(rng), rng.integers(3, size=5)


@case("cvae (bernoulli)")
def _cvae(rng):
    return _cvae_case(rng)


@case("cvae KL term alone")
def _cvae_kl(rng):
    from .models import KLTerm
    model, X, y = _cvae_case(rng)
    return KLTerm(model), X, y


def _aae_phase(phase, prior):
    def build(rng):
        from .models import AAEPhase, mlp_aae
        model = mlp_aae([6, 5, 2], discriminator=(4,), prior=prior, activation="tanh",
                        disc_activation="tanh", seed=int(rng.integers(2**31)), dtype=np.float64)
        return AAEPhase(model, phase), unit_inputs(rng), None
    return build


for _phase in ("reconstruction", "discriminator", "generator"):
    case(f"aae {_phase} phase (mixture)")(_aae_phase(_phase, "mixture"))
case("aae discriminator phase (gaussian)")(_aae_phase("discriminator", "gaussian"))
