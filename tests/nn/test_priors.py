"""Priors p(z) of the adversarial autoencoder (numpyae.nn.priors): the standard Gaussian and the
Gaussian mixture on a circle; samples, moments and log-densities."""
import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from numpyae.nn.priors import GaussianMixture, StandardGaussian


def test_mixture_means_on_a_circle_and_sample_moments():
    prior = GaussianMixture(dim=3, n_components=10, radius=4.0, std=0.5)
    r = np.linalg.norm(prior.means[:, :2], axis=1)
    np.testing.assert_allclose(r, 4.0)
    assert np.all(prior.means[:, 2] == 0)
    z, comp = prior.sample(50000, 0, return_components=True)
    assert z.dtype == np.float32 and set(np.unique(comp)) == set(range(10))
    np.testing.assert_allclose(z.mean(0), prior.mean(), atol=0.05)
    np.testing.assert_allclose(np.cov(z.T), prior.covariance(), atol=0.1)


@settings(max_examples=30)
@given(seed=st.integers(0, 2**31 - 1), n_components=st.integers(1, 12))
def test_mixture_log_prob_matches_the_direct_formula(seed, n_components):
    prior = GaussianMixture(dim=2, n_components=n_components, radius=3.0, std=0.7)
    z = np.random.default_rng(seed).normal(0, 4, size=(6, 2))
    dens = np.zeros(6)
    for m in prior.means:
        dens += np.exp(-np.sum((z - m) ** 2, 1) / (2 * 0.49)) / (2 * math.pi * 0.49)
    np.testing.assert_allclose(prior.log_prob(z), np.log(dens / n_components), rtol=1e-10)


def test_standard_gaussian_prior():
    prior = StandardGaussian(3)
    z = np.random.default_rng(0).normal(size=(4, 3))
    expected = -0.5 * np.sum(z ** 2, 1) - 1.5 * math.log(2 * math.pi)
    np.testing.assert_allclose(prior.log_prob(z), expected)
    assert prior.sample(5, 0).shape == (5, 3)
