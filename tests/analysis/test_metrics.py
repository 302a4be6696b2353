"""Analysis metrics (numpyae.analysis.metrics): filter localization, the encoder Jacobian, and
the distance of codes from a prior (mmd2, prior_distance)."""
import numpy as np
import pytest

import numpyae
from numpyae.analysis.metrics import (encoder_jacobian, jacobian_frobenius_norm,
                                      localization_score, mmd2, prior_distance)
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
