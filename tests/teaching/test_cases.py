"""The gradient-check catalogue (numpyae.teaching.cases): it covers every model family and every
regularizer, and each case passes check_model at 1e-7 in float64."""
import numpy as np
import pytest

import numpyae
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


def test_run_all_table_is_aligned_and_has_a_kink_column(monkeypatch):
    """The classifier rows used to shift the columns: every name is now padded to the longest."""
    from numpyae.teaching import cases
    lines = []
    assert cases.run_all(out=lines.append)
    head, rows = lines[0], [line for line in lines[1:] if line.startswith(tuple(GRADCHECK_CASES))]
    assert head.split() == ["model", "parameter", "max", "rel", "err", "kinks"]
    end_err, end_kink = head.index("max rel err") + len("max rel err"), len(head)
    assert len(rows) > len(GRADCHECK_CASES)
    for row in rows:
        assert row[end_err - 1].isdigit() and row[end_err] == " ", row
        assert row[end_kink - 1].isdigit(), row
    assert any(row.startswith("classifier") for row in rows)


def test_run_all_counts_kinks_and_does_not_fail_on_them(monkeypatch):
    from numpyae.teaching import cases

    def on_the_kink(rng):
        model = numpyae.mlp_autoencoder([5, 4, 3], activation="relu", rng=rng, dtype=np.float64)
        X = rng.uniform(0.1, 0.9, (3, 5))
        X[0] = 0.0                                   # a = b = 0: exactly on the relu kink
        return model, X, None

    monkeypatch.setattr(cases, "GRADCHECK_CASES", {"relu on its kink": on_the_kink})
    lines = []
    assert cases.run_all(out=lines.append)
    row = next(line for line in lines if "encoder.0.b" in line)
    assert row.split()[-1] == "4/4"
    assert any("relu on its kink: encoder.0.b: 4 of 4 entries cross" in line for line in lines)
    assert lines[-1] == "all gradients agree with finite differences"


def test_run_all_refuses_bad_arguments():
    from numpyae.teaching.cases import run_all
    with pytest.raises(ValueError, match="rng must be an int >= 0"):
        run_all(rng=-1)
    with pytest.raises(TypeError, match="tol must be a real number"):
        run_all(tol="x")
