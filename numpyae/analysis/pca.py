"""PCA from numpy.linalg.svd, principal angles between subspaces, and the linear autoencoder.

The classic fact (Baldi & Hornik 1989; Bourlard & Kamp 1988): an undercomplete autoencoder
    h = x W1 + b1        (D -> k),   x_hat = h W2 + b2        (k -> D)
with identity activations trained to the minimum of the mean squared error reconstructs every x
by the orthogonal projection onto the span of the top-k principal components of the centred
data. Its weights need not be the components themselves (any invertible k x k mix of them, and
W1 need not equal W2^T), but the decoder's output directions, the rows of W2 (the column space
of W2^T, a k-dimensional subspace of R^D), are exactly PCA's k-dimensional subspace.

"Exactly the same subspace" is measured with principal angles: for subspaces spanned by the
columns of A (D, p) and B (D, q), with orthonormal bases Qa, Qb, the cosines of the angles are
the singular values of Qa^T Qb. 0 means the subspaces coincide (in that direction), pi/2 means
orthogonal. principal_angles computes them; pca_subspace_angles(model, X) compares a
linear autoencoder's decoder with PCA fitted on X.
"""
from __future__ import annotations

import numpy as np

from ..core.checks import check_array, check_positive_int


class PCA:
    """Principal component analysis by the SVD of the centred data.

        X - mean = U S V^T            components = V^T[:k]   (k, D), rows orthonormal
        transform(X)         = (X - mean) V_k               (N, k)   coordinates ("PCA features")
        inverse_transform(Z) = Z V_k^T + mean               (N, D)
        explained_variance   = S^2 / (N - 1)                 per component

    Reconstructing with the top k components is the best rank-k affine reconstruction in squared
    error (Eckart-Young), which is why PCA is the yardstick for an autoencoder's code size.
    """

    def __init__(self, n_components):
        self.n_components = check_positive_int(n_components, "n_components")
        self.mean_ = self.components_ = self.explained_variance_ = None

    def fit(self, X):
        """Fit mean_, components_ (k, D), explained_variance_(ratio_) to X (N, D); returns self."""
        X = check_array(X, "X", ndim=2, dtype=np.float64)
        n, d = X.shape
        if self.n_components > min(n, d):
            raise ValueError(f"n_components must be <= min(n_samples, n_features) = {min(n, d)}, "
                             f"got {self.n_components}")
        self.mean_ = X.mean(axis=0)
        _, s, vt = np.linalg.svd(X - self.mean_, full_matrices=False)
        self.components_ = vt[:self.n_components]
        var = s ** 2 / max(n - 1, 1)
        self.explained_variance_ = var[:self.n_components]
        self.explained_variance_ratio_ = var[:self.n_components] / var.sum() if var.sum() > 0 \
            else np.zeros(self.n_components)
        self.n_features_ = d
        return self

    def _check_fitted(self):
        if self.components_ is None:
            raise RuntimeError("PCA is not fitted: call fit(X) first")

    def transform(self, X, n_components=None):
        """Coordinates of X in the principal directions  (N, D) -> (N, k)
        (the first n_components <= k of them if given)."""
        self._check_fitted()
        X = check_array(X, "X", ndim=2, n_features=self.n_features_, dtype=np.float64)
        return (X - self.mean_) @ self._top(n_components).T

    def inverse_transform(self, Z):
        """Points of the principal subspace from coordinates  (N, k) -> (N, D)."""
        self._check_fitted()
        Z = check_array(Z, "Z", ndim=2, n_features=self.n_components, dtype=np.float64)
        return Z @ self.components_ + self.mean_

    def reconstruct(self, X):
        """The rank-k reconstruction inverse_transform(transform(X))  (N, D) -> (N, D)."""
        return self.inverse_transform(self.transform(X))

    def reconstruction_error(self, X, n_components=None):
        """Mean squared error per entry of the rank-k reconstruction of X (same scale as MSE).

        n_components: use only the first k <= self.n_components components (default: all), so
        one fit gives the whole error-versus-k curve.
        """
        self._check_fitted()
        X = check_array(X, "X", ndim=2, n_features=self.n_features_, dtype=np.float64)
        V = self._top(n_components)
        Xc = X - self.mean_
        return float(np.mean((Xc @ V.T @ V - Xc) ** 2))

    def _top(self, n_components):
        if n_components is None:
            return self.components_
        k = check_positive_int(n_components, "n_components")
        if k > self.n_components:
            raise ValueError(f"n_components must be <= the {self.n_components} fitted components, "
                             f"got {k}")
        return self.components_[:k]

    def __repr__(self):
        return f"PCA(n_components={self.n_components})"


def _orthonormal_basis(A, name):
    A = check_array(A, name, ndim=2, dtype=np.float64)
    d, p = A.shape
    if p > d:
        raise ValueError(f"{name} must have at most as many columns as rows (a basis of a "
                         f"subspace of R^{d}), got shape {A.shape}")
    q, r = np.linalg.qr(A)
    diag = np.abs(np.diag(r))
    if diag.min() <= 1e-10 * max(diag.max(), np.finfo(np.float64).tiny):
        raise ValueError(f"the columns of {name} are linearly dependent (rank < {p}); "
                         f"principal angles need a basis")
    return q


def principal_angles(A, B):
    """Principal angles (radians, ascending) between the column spaces of A (D, p) and B (D, q).

    With orthonormal bases Qa (D, p), Qb (D, q) from QR and p <= q (swap otherwise):
        cos theta_i = sigma_i(Qa^T Qb)                    (p values)
        sin theta_i = sigma_i(Qa - Qb (Qb^T Qa))          (the part of Qa outside span B)
    arccos loses all accuracy for small angles (cos theta = 1 - theta^2/2 rounds to 1 below
    ~1e-8), arcsin for angles near pi/2, so each angle takes the formula that is accurate for it
    (sine below pi/4, cosine above), as in Bjorck & Golub (1973). min(p, q) angles are returned.
    """
    Qa, Qb = _orthonormal_basis(A, "A"), _orthonormal_basis(B, "B")
    if Qa.shape[0] != Qb.shape[0]:
        raise ValueError(f"A and B must have the same number of rows (the ambient dimension), "
                         f"got {Qa.shape[0]} and {Qb.shape[0]}")
    if Qa.shape[1] > Qb.shape[1]:
        Qa, Qb = Qb, Qa
    M = Qb.T @ Qa                                                   # (q, p)
    cos = np.clip(np.linalg.svd(M, compute_uv=False), 0.0, 1.0)     # descending -> angles ascending
    sin = np.clip(np.linalg.svd(Qa - Qb @ M, compute_uv=False), 0.0, 1.0)[::-1]  # ascending
    return np.where(cos ** 2 >= 0.5, np.arcsin(sin), np.arccos(cos))


def decoder_subspace(model):
    """The decoder's output directions of a one-layer-decoder autoencoder: W^T  (D, k).

    x_hat = h W + b with W (k, D): reconstructions live in b + the span of the rows of W.
    (A tied decoder, x_hat = h W_s^T + c, returns W_s itself.)
    """
    layers = getattr(model.decoder, "layers", [model.decoder])
    weighted = [layer for layer in layers if getattr(layer, "W", None) is not None]
    if len(weighted) != 1:
        raise ValueError(f"decoder_subspace needs a decoder with exactly one weight layer "
                         f"(a linear autoencoder), got {len(weighted)}")
    layer = weighted[0]
    W = np.asarray(layer.W.value, dtype=np.float64)
    # Dense: x_hat = h W + b, W (k, D).  TiedDense: x_hat = h W_s^T + c, W_s (D, k).
    return W if getattr(layer, "source", None) is not None else W.T


def pca_subspace_angles(model, data):
    """Principal angles between a linear autoencoder's decoder subspace and PCA's top-k
    subspace (k = the code size). Near zero when the autoencoder has learned PCA.

    data: the inputs X (PCA is fitted on them), or an already fitted PCA with at least k
    components (its first k are used), to avoid refitting when checking during training.
    """
    U = decoder_subspace(model)
    k = U.shape[1]
    pca = data if isinstance(data, PCA) else PCA(k).fit(data)
    return principal_angles(U, pca._top(k).T)
