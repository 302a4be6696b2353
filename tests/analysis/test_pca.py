"""PCA and principal angles (numpyae.analysis.pca); a linear autoencoder spans the PCA subspace."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from numpyae import Adam, fit, load_digits, mlp_autoencoder
from numpyae.analysis.pca import PCA, decoder_subspace, pca_subspace_angles, principal_angles
from numpyae.models.autoencoder import linear_autoencoder


def test_pca_matches_the_covariance_eigendecomposition():
    X, _ = load_digits()
    pca = PCA(10).fit(X)
    Xc = X.astype(np.float64) - X.mean(0)
    evals, evecs = np.linalg.eigh(Xc.T @ Xc / (len(X) - 1))
    evals, evecs = evals[::-1], evecs[:, ::-1]
    np.testing.assert_allclose(pca.explained_variance_, evals[:10], rtol=1e-8)
    np.testing.assert_allclose(pca.components_ @ pca.components_.T, np.eye(10), atol=1e-12)
    # each component is an eigenvector up to sign
    np.testing.assert_allclose(np.abs(np.sum(pca.components_ * evecs[:, :10].T, axis=1)), 1,
                               rtol=1e-8)
    # rank-k reconstruction error = the sum of the discarded eigenvalues (per entry, biased)
    expected = evals[10:].sum() * (len(X) - 1) / len(X) / X.shape[1]
    assert pca.reconstruction_error(X) == pytest.approx(expected, rel=1e-8)


def test_pca_error_falls_with_k_and_vanishes_at_full_rank():
    X, _ = load_digits()
    full = PCA(64).fit(X)
    errors = [full.reconstruction_error(X, k) for k in (1, 2, 4, 8, 16, 32, 64)]
    assert all(a > b for a, b in zip(errors, errors[1:]))
    assert errors[-1] < 1e-20
    # the truncated error of one fit is the error of a rank-k fit
    pca4 = PCA(4).fit(X)
    assert pca4.reconstruction_error(X) == pytest.approx(errors[2], rel=1e-10)
    np.testing.assert_allclose(np.mean((pca4.reconstruct(X) - X) ** 2), errors[2], rtol=1e-10)
    assert pca4.transform(X[:5]).shape == (5, 4)
    np.testing.assert_allclose(np.abs(full.transform(X[:5], 4)), np.abs(pca4.transform(X[:5])),
                               rtol=1e-8, atol=1e-10)
    with pytest.raises(ValueError, match="fitted components"):
        pca4.reconstruction_error(X, 5)


def test_pca_bad_input():
    with pytest.raises(ValueError, match="n_components"):
        PCA(10).fit(np.zeros((5, 4)))
    with pytest.raises(RuntimeError, match="not fitted"):
        PCA(2).transform(np.zeros((3, 4)))
    with pytest.raises(ValueError, match="4 features"):
        PCA(2).fit(np.random.default_rng(0).normal(size=(6, 4))).transform(np.zeros((2, 3)))


def _subspaces_with_angles(theta, d, rng):
    """Bases A = [e_1..e_p], B = [cos t_i e_i + sin t_i e_{p+i}], both rotated by one random
    orthogonal matrix and mixed by random invertible matrices: the angles are exactly theta."""
    p = len(theta)
    A = np.eye(d)[:, :p]
    B = np.cos(theta) * np.eye(d)[:, :p] + np.sin(theta) * np.eye(d)[:, p:2 * p]
    Q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    mix_a = rng.normal(size=(p, p)) + 3 * np.eye(p)
    mix_b = rng.normal(size=(p, p)) + 3 * np.eye(p)
    return Q @ A @ mix_a, Q @ B @ mix_b


@settings(max_examples=50)
@given(st.lists(st.floats(0.0, np.pi / 2, allow_nan=False, allow_infinity=False), min_size=1,
                max_size=4), st.integers(0, 2 ** 31))
def test_principal_angles_recovers_constructed_angles(theta, seed):
    theta = np.array(theta)
    rng = np.random.default_rng(seed)
    A, B = _subspaces_with_angles(theta, 2 * len(theta) + 2, rng)
    got = principal_angles(A, B)
    np.testing.assert_allclose(got, np.sort(theta), atol=1e-9)
    np.testing.assert_allclose(principal_angles(B, A), got, atol=1e-12)


def test_principal_angles_small_angles_are_accurate():
    rng = np.random.default_rng(0)
    A, B = _subspaces_with_angles(np.array([1e-10, 3e-9]), 7, rng)
    np.testing.assert_allclose(principal_angles(A, B), [1e-10, 3e-9], rtol=1e-4)


def test_principal_angles_of_different_dimensions_and_errors():
    e = np.eye(5)
    # span(e1) inside span(e1, e2): one angle, zero; span(e3) vs span(e1, e2): pi/2
    np.testing.assert_allclose(principal_angles(e[:, :1], e[:, :2]), [0.0], atol=1e-15)
    np.testing.assert_allclose(principal_angles(e[:, 2:3], e[:, :2]), [np.pi / 2])
    with pytest.raises(ValueError, match="linearly dependent"):
        principal_angles(np.ones((5, 2)), e[:, :2])
    with pytest.raises(ValueError, match="same number of rows"):
        principal_angles(e[:, :2], np.eye(4)[:, :2])
    with pytest.raises(ValueError, match="at most as many columns"):
        principal_angles(np.eye(3, 4), e[:, :2])


def test_decoder_subspace_of_plain_and_tied_decoders():
    plain = mlp_autoencoder([6, 2], loss="mse", rng=0)
    np.testing.assert_array_equal(decoder_subspace(plain), plain.decoder[0].W.value.T)
    tied = mlp_autoencoder([6, 2], loss="mse", tied=True, rng=0)
    np.testing.assert_array_equal(decoder_subspace(tied), tied.encoder[0].W.value)
    assert decoder_subspace(tied).shape == (6, 2)
    with pytest.raises(ValueError, match="exactly one weight layer"):
        decoder_subspace(mlp_autoencoder([6, 4, 2], rng=0))


def test_linear_autoencoder_spans_the_pca_subspace_on_digits():
    """Baldi & Hornik: the MSE-optimal linear autoencoder projects onto the top-k principal
    subspace. Trained briefly on all 1797 digits (Adam, then a smaller learning rate to settle
    the minibatch noise), the decoder's column space is within 0.05 rad of PCA's."""
    X, _ = load_digits()
    k = 4  # eigenvalues 0.395 | 0.272 around the cut: a clear gap, so the subspace is well defined
    model = linear_autoencoder(64, k, rng=0)
    pca = PCA(k).fit(X)
    angles_before = pca_subspace_angles(model, pca)
    for lr, epochs in ((1e-2, 60), (1e-3, 40)):
        fit(model, X, Adam(model.parameters(), lr=lr), epochs=epochs, batch_size=64, rng=0,
            progress=False)
    angles = pca_subspace_angles(model, X)
    np.testing.assert_allclose(angles, pca_subspace_angles(model, pca), atol=1e-12)
    assert angles_before.max() > 1.0  # a random start is far from it
    assert angles.max() < 0.05, angles
    # and it reconstructs as well as PCA does (to within 2%)
    mse = float(np.mean((model.reconstruct(X) - X) ** 2))
    assert mse < 1.02 * pca.reconstruction_error(X)
