"""Preprocessing for natural-image patches: UFLDL's patch normalization, image whitening, ZCA.

    normalize_patches(P)    the UFLDL sparse-autoencoder exercise's normalization: subtract each
                            patch's mean, clip to +/- 3 standard deviations, rescale to [0.1, 0.9]
    whiten_image(img)       Olshausen & Field's (1997) 1/f whitening filter, applied to a whole image
    ZCAWhitening            fit / transform / inverse_transform on rows of a data matrix
"""
from __future__ import annotations

import numpy as np

from ..core.checks import check_array, check_nonnegative_float


def normalize_patches(patches, *, n_std=3.0, low=0.1, high=0.9):
    """UFLDL's normalization of patches (N, D) for a sigmoid-output autoencoder:

        p <- p - mean(p)                          per patch (removes the local brightness)
        s  = n_std * std(all entries)             one scale for the whole set
        p <- clip(p, -s, s) / s                   now in [-1, 1]
        p <- low + (high - low) (p + 1) / 2       now in [low, high] = [0.1, 0.9] by default
    Returns float32 (N, D). The [0.1, 0.9] range keeps targets away from the sigmoid's asymptotes.
    Works in place on one float64 copy of patches (the argument is never written): about 12 bytes
    a value besides the float32 result.
    """
    n_std = check_nonnegative_float(n_std, "n_std")
    if n_std == 0:
        raise ValueError("n_std must be > 0, got 0")
    low = check_nonnegative_float(low, "low")
    high = check_nonnegative_float(high, "high")
    if not (0 <= low < high <= 1):
        raise ValueError(f"low and high must satisfy 0 <= low < high <= 1, got {low}, {high}")
    P = check_array(patches, "patches", ndim=2).astype(np.float64)  # a copy, ours to overwrite
    P -= P.mean(axis=1, keepdims=True)
    flat = P.reshape(-1)
    mean = flat.mean()  # 0 up to rounding, as each row's mean is
    s = n_std * np.sqrt(max(float(flat @ flat) / flat.size - mean * mean, 0.0))  # n_std * std(P)
    if s == 0:
        raise ValueError("patches are constant after removing each patch's mean; nothing to scale")
    np.clip(P, -s, s, out=P)
    P *= (high - low) / (2 * s)  # low + (high - low) (p/s + 1) / 2
    P += low + (high - low) / 2
    return P.astype(np.float32)


def whiten_image(image, *, f0=0.4):
    """Flatten an image's 1/f amplitude spectrum (Olshausen & Field 1997, "Sparse coding with an
    overcomplete basis set"; the preprocessing of the IMAGES used in the UFLDL exercise).

    In the 2-D Fourier domain, with radial frequency r in cycles/pixel (Nyquist = 0.5):
        F <- F * r * exp(-(r / f0)^4)
    The factor r whitens the ~1/r amplitude spectrum of natural images; the exponential rolls off
    the highest frequencies (noise, aliasing at the pixel grid). The default f0 = 0.4
    cycles/pixel is Olshausen & Field's (200 cycles/picture on 512-pixel images). A lower f0
    keeps less fine detail: on the bundled photographs the sparse autoencoder's filters then
    come out as smooth, whole-patch gratings instead of localized edges. Returns float64 of the
    same shape, with zero mean and unit variance (all zeros for a constant image).
    """
    if isinstance(image, (str, bytes)) or image is None:
        raise TypeError(f"image must be a 2-D grayscale array (H, W), got {type(image).__name__}")
    try:
        shape = np.shape(image)
    except ValueError as exc:  # ragged nested lists
        raise ValueError(f"image must be a rectangular 2-D array (H, W): {exc}") from None
    if len(shape) != 2:
        raise ValueError(f"image must be a 2-D grayscale array (H, W), got shape {shape}")
    img = check_array(image, "image", ndim=2, dtype=np.float64)  # real, finite, not empty
    f0 = check_nonnegative_float(f0, "f0")
    if f0 == 0:
        raise ValueError("f0 must be > 0, got 0")
    h, w = img.shape
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    r = np.sqrt(fx ** 2 + fy ** 2)
    filt = r * np.exp(-(r / f0) ** 4)
    out = np.fft.irfft2(np.fft.rfft2(img - img.mean()) * filt, s=img.shape)
    sd = out.std()
    return out / sd if sd > 0 else out


class ZCAWhitening:
    """ZCA whitening of rows x (D,):  x_white = (x - mu) W_zca,

        C = (1/N) sum (x - mu)^T (x - mu) = U diag(lam) U^T        (D, D)
        W_zca = U diag(1 / sqrt(lam + epsilon)) U^T                (symmetric)
    Of all whitening matrices, ZCA's stays closest to the identity, so whitened patches still look
    like (edge-enhanced) images. epsilon regularizes the small eigenvalues (UFLDL uses 0.1 for
    raw-pixel patches; scale it with the data's variance). inverse_transform undoes it.
    epsilon = 0 is accepted only when fit's covariance is of full rank (else it would divide by
    zero, and fit raises ValueError).
    """

    def __init__(self, epsilon=1e-2):
        self.epsilon = check_nonnegative_float(epsilon, "epsilon")
        self.mean_ = self.W_ = self.W_inv_ = self.eigenvalues_ = None

    def fit(self, X):
        """Fit mu, W_zca and its inverse (D, D) to the rows of X (N, D), N >= 2; returns self."""
        X = check_array(X, "X", ndim=2).astype(np.float64)
        if len(X) < 2:
            raise ValueError(f"X must have at least 2 rows to estimate a covariance, got {len(X)}")
        mean = X.mean(axis=0)
        Xc = X - mean
        C = Xc.T @ Xc / len(X)
        lam, U = np.linalg.eigh(C)
        lam = np.maximum(lam, 0)
        if self.epsilon == 0 and lam.min() <= lam.max() * len(lam) * np.finfo(np.float64).eps:
            raise ValueError(f"X's covariance is singular (eigenvalues from {lam.min():.3g} to "
                             f"{lam.max():.3g}) and epsilon=0 would divide by zero; use "
                             f"epsilon > 0 (UFLDL uses 0.1 for raw pixels)")
        self.mean_ = mean
        self.eigenvalues_ = lam[::-1]
        self.W_ = (U / np.sqrt(lam + self.epsilon)) @ U.T
        self.W_inv_ = (U * np.sqrt(lam + self.epsilon)) @ U.T
        return self

    def _check_fitted(self, X, name):
        if self.W_ is None:
            raise RuntimeError("ZCAWhitening is not fitted: call fit(X) first")
        return check_array(X, name, ndim=2, n_features=len(self.mean_))

    def transform(self, X):
        """x_white = (x - mu) W_zca per row  (N, D) -> (N, D), in X's dtype."""
        X = self._check_fitted(X, "X")
        dtype = X.dtype
        return ((X.astype(np.float64) - self.mean_) @ self.W_).astype(dtype)

    def inverse_transform(self, Z):
        """x = z W_zca^-1 + mu per row  (N, D) -> (N, D), in Z's dtype."""
        Z = self._check_fitted(Z, "Z")
        dtype = Z.dtype
        return (Z.astype(np.float64) @ self.W_inv_ + self.mean_).astype(dtype)

    def fit_transform(self, X):
        """fit(X), then transform(X)."""
        return self.fit(X).transform(X)

    def __repr__(self):
        return f"ZCAWhitening(epsilon={self.epsilon})"
