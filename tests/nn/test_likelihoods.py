"""Decoder likelihoods p(x | z) of the VAE (numpyae.nn.likelihoods): Bernoulli on logits and the
Gaussian with a fixed or learned per-feature variance; forward/backward/log_prob/predict."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import numpyae as nae
from numpyae.models import mlp_vae
from numpyae.nn.likelihoods import Bernoulli, Gaussian, get_likelihood
from numpyae.nn.losses import BinaryCrossEntropy, GaussianNLL
from numpyae.teaching.gradcheck import check_model, numerical_gradient

TOL = 1e-7


def unit_inputs(seed, n=5, d=6):
    return np.random.default_rng(seed).uniform(0.05, 0.95, size=(n, d))


@settings(max_examples=50)
@given(o=arrays(np.float32, (4, 5), elements=st.floats(-80, 80, width=32)),
       x=arrays(np.float32, (4, 5), elements=st.floats(0, 1, width=32)))
def test_bernoulli_equals_bce_on_logits_summed(o, x):
    lik, bce = Bernoulli(), BinaryCrossEntropy(reduction="sum")
    a, b = lik.forward(o, x), bce.forward(o, x)
    assert np.isfinite(a) and a == pytest.approx(b, rel=1e-5, abs=1e-4)
    np.testing.assert_allclose(lik.backward(), bce.backward(), rtol=1e-5, atol=1e-7)
    assert lik.backward().dtype == np.float32
    np.testing.assert_allclose(-lik.log_prob(o, x).mean(), a, rtol=1e-5, atol=1e-4)


def test_gaussian_fixed_variance_is_scaled_squared_error():
    rng = np.random.default_rng(0)
    o, x = rng.normal(size=(4, 6)), rng.normal(size=(4, 6))
    lik = Gaussian(6, logvar=math.log(0.25), dtype=np.float64)
    expected = np.mean(np.sum((x - o) ** 2 / 0.25 + math.log(0.25) + math.log(2 * math.pi), 1)) / 2
    assert lik.forward(o, x) == pytest.approx(expected, rel=1e-12)
    np.testing.assert_allclose(lik.backward(), (o - x) / 0.25 / 4, rtol=1e-12)
    np.testing.assert_allclose(-lik.log_prob(o, x).mean(), expected, rtol=1e-12)


def test_learned_log_variance_gradient_matches_finite_differences():
    """The learned per-feature log-variance (GaussianNLL's logvar argument before) is the
    likelihood's Parameter u: backward adds dR/du into u.grad and returns dR/do."""
    rng = np.random.default_rng(1)
    o, t = rng.normal(size=(5, 4)), rng.normal(size=(5, 4))
    lik = Gaussian(4, logvar=0.3, learn_variance=True, min_logvar=-4.0, dtype=np.float64)
    lik.u.value[:] = rng.normal(size=4)
    lik.forward(o, t)
    do = lik.backward()
    analytic = lik.u.grad.copy()
    numeric = numerical_gradient(lambda: lik.forward(o, t), lik.u.value)
    assert nae.relative_error(analytic, numeric).max() <= TOL
    assert analytic.shape == (4,) and lik.parameters() == [lik.u]
    numeric_o = numerical_gradient(lambda: lik.forward(o, t), o)
    assert nae.relative_error(do, numeric_o).max() <= TOL


@settings(max_examples=30)
@given(data=st.data(), batch=st.integers(1, 4), n=st.integers(1, 5))
def test_gaussian_likelihood_gradients_for_output_and_learned_log_variance(data, batch, n):
    """Per feature s_d = lo + softplus(u_d - lo), broadcast over the batch: dR/do and dR/du."""
    from helpers import arrays as bounded
    o, x = data.draw(bounded((batch, n))), data.draw(bounded((batch, n)))
    lik = Gaussian(n, learn_variance=True, min_logvar=-4.0, dtype=np.float64)
    lik.u.value[:] = data.draw(bounded((n,), -2, 2))
    lik.forward(o, x)
    do = lik.backward()
    f = lambda: lik.forward(o, x)
    assert nae.check_gradient(f, o, do).max_error <= TOL
    assert nae.check_gradient(f, lik.u.value, lik.u.grad.copy()).max_error <= TOL


def test_gaussian_fixed_variance_equals_gaussian_nll_summed():
    rng = np.random.default_rng(2)
    o, x = rng.normal(size=(4, 6)), rng.normal(size=(4, 6))
    lik, loss = Gaussian(6, logvar=-0.7, dtype=np.float64), GaussianNLL("sum", logvar=-0.7)
    assert lik.forward(o, x) == pytest.approx(loss.forward(o, x), rel=1e-12)
    np.testing.assert_allclose(lik.backward(), loss.backward(), rtol=1e-12)
    assert lik.parameters() == []


def test_likelihood_predict_is_the_mean_of_p_x_given_z():
    o = np.array([[-2.0, 0.0, 3.0]])
    np.testing.assert_allclose(Bernoulli().predict(o), 1 / (1 + np.exp(-o)), rtol=1e-12)
    assert Gaussian(3, dtype=np.float64).predict(o) is o
    assert isinstance(get_likelihood("gaussian_learned", 3, np.float64), Gaussian)
    with pytest.raises(ValueError, match="likelihood must be"):
        get_likelihood("poisson", 3, np.float64)


def test_gaussian_learned_variance_vae_passes_the_gradient_check():
    """check_model on a small float64 VAE whose Gaussian likelihood learns its variance."""
    model = mlp_vae([6, 4, 2], activation="softplus", likelihood="gaussian_learned", rng=5,
                    dtype=np.float64)
    report = check_model(model, unit_inputs(5))
    assert report.max_error <= 1e-7, str(report)
    assert report["likelihood.u"].shape == (6,)
    assert report["likelihood.u"].max_error <= 1e-7


def test_learned_variance_stays_above_its_floor():
    lik = Gaussian(3, logvar=0.0, learn_variance=True, min_logvar=-4.0, dtype=np.float64)
    assert np.allclose(lik.feature_logvar(), 0.0)
    lik.u.value[:] = [-1e3, -4.0, 50.0]
    s = lik.feature_logvar()
    assert np.all(s >= -4.0) and np.all(np.isfinite(s)) and s[2] == pytest.approx(50.0)


def test_bernoulli_refuses_targets_outside_unit_interval():
    """The Bernoulli -log p(x|z) = softplus(o) - x o is unbounded below for x > 1: its user-facing
    entry points refuse such x by name (the VAE refuses such data before training)."""
    o = np.zeros((2, 3))
    for call in (lambda x: Bernoulli()(o, x), lambda x: Bernoulli().log_prob(o, x)):
        with pytest.raises(ValueError, match=r"target must lie in \[0, 1\] for the Bernoulli "
                                             r"likelihood \(got values in \[0, 255\]\)"):
            call(np.array([[0.0, 128.0, 255.0]] * 2))
        with pytest.raises(ValueError, match=r"target must lie in \[0, 1\]"):
            call(np.full((2, 3), -0.5))
    assert np.isfinite(Bernoulli()(o, np.array([[0.0, 0.5, 1.0]] * 2)))


def test_log_prob_checks_its_arguments_and_takes_k_outputs_per_example():
    lik = Gaussian(3, dtype=np.float64)
    o, x = np.zeros((4, 2, 3)), np.full((2, 3), 0.5)
    np.testing.assert_allclose(lik.log_prob(o, x), np.broadcast_to(lik.log_prob(o[0], x), (4, 2)))
    with pytest.raises(ValueError, match="target must have shape"):
        lik.log_prob(o, np.zeros((3, 3)))
    with pytest.raises(TypeError, match="output"):
        lik.log_prob("o", x)
