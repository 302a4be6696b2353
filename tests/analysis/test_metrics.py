"""Analysis metrics (numpyae.analysis.metrics): filter localization and orientation selectivity,
the encoder Jacobian, and the distance of codes from a prior (mmd2, prior_distance)."""
import numpy as np
import pytest

import numpyae
from numpyae.analysis.metrics import (beats_random, encoder_jacobian, jacobian_frobenius_norm,
                                      localization_score, mmd2, orientation_selectivity,
                                      prior_distance)
from numpyae.nn.priors import StandardGaussian


def test_localization_score_extremes():
    W = np.zeros((64, 3))
    W[10, 0] = 1.0                       # one pixel: all its energy in a 3x3 window
    W[:, 1] = np.tile([1.0, -1.0], 32)   # a pattern spread over the whole patch
    img = np.zeros((8, 8))
    img[2:4, 2:5] = [[1, -1, 1], [-1, 1, -1]]
    W[:, 2] = img.ravel()                # a small edge-like blob inside a 3x3 window
    s = localization_score(W)
    assert s[0] == pytest.approx(1.0, abs=0.02)  # (mean removal leaves a tiny spread)
    assert s[2] > 0.9
    assert s[1] < 0.2


def test_localization_score_random_baseline_and_errors():
    s = localization_score(np.random.default_rng(0).standard_normal((64, 2000)))
    assert 0.2 < s.mean() < 0.35 and np.all(s >= 9 / 64 - 1e-12)
    with pytest.raises(ValueError, match="image_shape"):
        localization_score(np.zeros((60, 2)))
    with pytest.raises(ValueError, match="window"):
        localization_score(np.zeros((16, 2)), window=5)


def test_localization_score_checks_image_shape():
    with pytest.raises(TypeError, match="image_shape must be a pair"):
        localization_score(np.zeros((64, 2)), "8x8")
    with pytest.raises(TypeError, match=r"image_shape\[i\] must be a positive int"):
        localization_score(np.zeros((64, 2)), (8.0, 8))
    with pytest.raises(ValueError, match=r"image_shape \(4, 8\) does not hold W's 64 rows"):
        localization_score(np.zeros((64, 2)), (4, 8))
    assert localization_score(np.zeros((64, 1)))[0] == 0.0   # no energy: 0, not NaN


# ---- orientation selectivity ------------------------------------------------------------------

_Y, _X = np.mgrid[0:8, 0:8] - 3.5


def _gabor(theta_deg, wavelength=4.0, sigma=1.5, cx=0.0, cy=0.0):
    """An 8x8 Gabor filter whose stripes run across the direction theta (x right, y down)."""
    t = np.radians(theta_deg)
    u = (_X - cx) * np.cos(t) + (_Y - cy) * np.sin(t)
    env = np.exp(-((_X - cx) ** 2 + (_Y - cy) ** 2) / (2 * sigma ** 2))
    return (env * np.cos(2 * np.pi * u / wavelength)).ravel()


def _edge(theta_deg):
    """A blurred step edge across the direction theta under a Gaussian window."""
    t = np.radians(theta_deg)
    return (np.tanh(_X * np.cos(t) + _Y * np.sin(t)) * np.exp(-(_X ** 2 + _Y ** 2) / 8)).ravel()


def test_orientation_selectivity_scores_oriented_filters_high_and_noise_low():
    angles = np.arange(0, 180, 15)
    gabors = np.stack([_gabor(a) for a in angles], axis=1)
    edges = np.stack([_edge(a) for a in angles], axis=1)
    noise = np.random.default_rng(0).standard_normal((64, 5000))
    s_noise = orientation_selectivity(noise)
    p95 = np.percentile(s_noise, 95)
    assert 0.25 < s_noise.mean() < 0.33 and 0.33 < p95 < 0.40
    assert np.all(orientation_selectivity(gabors) > 0.55)     # at every orientation
    assert np.all(orientation_selectivity(edges) > 0.45)
    assert np.all(orientation_selectivity(gabors) > p95)
    assert np.all(orientation_selectivity(edges) > p95)
    # a long grating (a wide envelope) is more selective still
    long = orientation_selectivity(_gabor(30, sigma=4.0)[:, None])[0]
    assert long > 0.75 and long > orientation_selectivity(_gabor(30)[:, None])[0] + 0.1


def test_orientation_selectivity_recovers_the_orientation_and_is_scale_free():
    angles = np.arange(0, 180, 15)
    gabors = np.stack([_gabor(a) for a in angles], axis=1)
    score, angle = orientation_selectivity(gabors, return_angle=True)
    diff = np.abs((angle - angles + 90) % 180 - 90)
    assert np.all(diff <= 8), angle
    # the sign, the scale and the mean of a filter change nothing
    np.testing.assert_allclose(orientation_selectivity(-3 * gabors + 0.7), score, rtol=1e-10)
    # a one-pixel impulse has a flat spectrum: no orientation
    impulse = np.zeros((64, 1))
    impulse[27] = 1
    assert orientation_selectivity(impulse)[0] < 0.3
    assert orientation_selectivity(np.zeros((64, 1)))[0] == 0.0


def test_orientation_selectivity_follows_its_formula_on_a_small_case():
    W = np.random.default_rng(3).standard_normal((16, 2))
    got = orientation_selectivity(W, (4, 4), bandwidth=40, pad=1)
    for j in range(2):
        F = np.abs(np.fft.fft2((W[:, j] - W[:, j].mean()).reshape(4, 4))) ** 2
        fy, fx = np.meshgrid(np.fft.fftfreq(4), np.fft.fftfreq(4), indexing="ij")
        theta = np.degrees(np.arctan2(fy, fx)) % 180
        dc = (fy == 0) & (fx == 0)
        best = max(F[(np.abs((theta - phi + 90) % 180 - 90) <= 20) & ~dc].sum()
                   for phi in range(180))
        assert got[j] == pytest.approx(best / F[~dc].sum(), rel=1e-12)


@pytest.mark.parametrize("kwargs, error, words", [
    ({"bandwidth": 0}, ValueError, "bandwidth must be a number of degrees in (0, 180), got 0"),
    ({"bandwidth": 180}, ValueError, "bandwidth must be a number of degrees in (0, 180)"),
    ({"bandwidth": float("nan")}, ValueError, "bandwidth must be a number of degrees"),
    ({"bandwidth": "30"}, TypeError, "bandwidth must be a number of degrees in (0, 180), got str"),
    ({"pad": 0}, ValueError, "pad must be a positive int"),
    ({"return_angle": 1}, TypeError, "return_angle must be True or False"),
    ({"image_shape": (4, 4)}, ValueError, "does not hold W's 64 rows"),
])
def test_orientation_selectivity_refuses_bad_arguments(kwargs, error, words):
    with pytest.raises(error) as info:
        orientation_selectivity(np.ones((64, 2)), **kwargs)
    assert words in str(info.value)
    with pytest.raises(ValueError, match="W contains NaN"):
        orientation_selectivity(np.full((64, 2), np.nan))


def test_beats_random_counts_strictly_above_the_percentile():
    random_scores = np.arange(101, dtype=float)           # its 95th percentile is 95
    share, cut = beats_random([96.0, 95.0, 10.0, 99.0], random_scores)
    assert cut == 95.0 and share == 0.5
    assert beats_random([1.0], random_scores, percentile=0)[0] == 1.0
    with pytest.raises(ValueError, match=r"percentile must be a number in \[0, 100\], got 101"):
        beats_random([1.0], random_scores, percentile=101)
    with pytest.raises(ValueError, match="scores must be 1-D"):
        beats_random(np.ones((2, 2)), random_scores)


def _fd_jacobian(f, X, h=1e-5):
    cols = []
    for i in range(X.shape[1]):
        e = np.zeros_like(X)
        e[:, i] = h
        cols.append((f(X + e) - f(X - e)) / (2 * h))
    return np.stack(cols, axis=2)


@pytest.mark.parametrize("tied", [False, True])
def test_encoder_jacobian_matches_finite_differences(tied):
    model = numpyae.mlp_autoencoder([6, 5, 3], activation="tanh", code_activation="sigmoid",
                                    tied=tied, rng=0, dtype=np.float64)
    X = np.random.default_rng(0).uniform(0, 1, (4, 6))
    J = encoder_jacobian(model.encoder, X)
    assert J.shape == (4, 3, 6)
    np.testing.assert_allclose(J, _fd_jacobian(lambda z: model.encoder.forward(z), X),
                               rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(jacobian_frobenius_norm(model.encoder, X),
                               np.sqrt((J ** 2).sum(axis=(1, 2))))


def test_one_layer_contractive_penalty_equals_mean_squared_jacobian_norm():
    from numpyae.nn.penalties import Contractive
    model = numpyae.mlp_autoencoder([6, 4], activation="sigmoid", code_activation="softplus",
                                    loss="mse", rng=1, dtype=np.float64,
                                    penalties=[Contractive(2.0)])
    X = np.random.default_rng(1).uniform(0, 1, (5, 6))
    value = model.forward_loss(X, training=False)["contractive"]
    assert value == pytest.approx(2.0 * np.mean(jacobian_frobenius_norm(model.encoder, X) ** 2),
                                  rel=1e-12)


def test_encoder_jacobian_refuses_other_layers():
    from numpyae.nn.layers import Dense, Sequential, TopK
    with pytest.raises(TypeError, match="Dense and TiedDense"):
        encoder_jacobian(Sequential([Dense(4, 3), TopK(1)]), np.zeros((2, 4)))


def test_mmd_separates_distributions():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(300, 2)), rng.normal(size=(300, 2))
    same = mmd2(a, b)
    shifted = mmd2(a, b + 1.0)
    assert abs(same) < 0.02 and shifted > 10 * abs(same)
    d = prior_distance(a, StandardGaussian(2), rng=1)
    assert d["mean"] < 0.2 and d["cov"] < 0.3
    with pytest.raises(ValueError, match="same number of columns"):
        mmd2(a, np.zeros((5, 3)))
