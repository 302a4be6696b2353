"""The gradient-check catalogue (numpyae.teaching.cases): it covers every model family and every
regularizer, and each case passes check_model at 1e-7 in float64."""
import numpy as np
import pytest

from numpyae.models.presets import KSparseAutoencoder
from numpyae.teaching.cases import GRADCHECK_CASES, topk_inputs
from numpyae.teaching.gradcheck import check_model

TOL = 1e-7
PHASES = ("reconstruction", "discriminator", "generator")
REGULARIZED_CASES = [name for name in GRADCHECK_CASES
                     if name.split(" ")[0] in ("denoising", "sparse", "k-sparse", "contractive")]


@pytest.mark.parametrize("name", sorted(GRADCHECK_CASES))
def test_every_catalogued_model_passes_the_gradient_check(name):
    model, X, y = GRADCHECK_CASES[name](np.random.default_rng(0))
    assert check_model(model, X, y).max_error <= 1e-7


def test_catalog_covers_every_variant():
    names = " ".join(GRADCHECK_CASES)
    for word in ("gaussian", "masking", "salt and pepper", "KL", "L1", "TopK", "contractive",
                 "tied", "weight decay"):
        assert word in names


@pytest.mark.parametrize("name", REGULARIZED_CASES)
def test_catalog_case_gradcheck(name):
    model, X, y = GRADCHECK_CASES[name](np.random.default_rng(0))
    report = check_model(model, X, y)
    assert report.max_error <= 1e-7, str(report)


def test_topk_inputs_keep_the_gap():
    model = KSparseAutoencoder([6, 5], k=2, rng=0, dtype=np.float64)
    X = topk_inputs(model, np.random.default_rng(1))
    z = np.sort(model.encoder[0].forward(X), axis=1)[:, ::-1]
    assert np.all(z[:, 1] - z[:, 2] > 0.05)


def test_gradcheck_cli_covers_vae_cvae_and_kl():
    names = " ".join(GRADCHECK_CASES)
    for key in ("vae (bernoulli)", "vae KL term alone", "cvae (bernoulli)", "cvae KL term alone"):
        assert key in names
    for name, build in GRADCHECK_CASES.items():
        if "vae" in name:
            model, X, y = build(np.random.default_rng(0))
            assert check_model(model, X, y).max_error <= TOL, name


def test_gradcheck_cli_covers_aae_phases():
    aae_cases = [n for n in GRADCHECK_CASES if n.startswith("aae")]
    assert {p for p in PHASES if any(p in n for n in aae_cases)} == set(PHASES)
    for name in aae_cases:
        model, X, y = GRADCHECK_CASES[name](np.random.default_rng(0))
        assert check_model(model, X, y).max_error <= TOL, name
