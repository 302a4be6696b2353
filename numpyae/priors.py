"""Priors over codes for the adversarial autoencoder, and statistics of how close codes are to one.

    StandardGaussian(dim)                         N(0, I)
    GaussianMixture(dim=2, n_components=10, ...)  equal-weight isotropic Gaussians whose means sit
                                                  on a circle of `radius` in the first two dims
Each prior draws with sample(n, rng) and scores with log_prob(z).

Closeness of codes to a prior (prior_distance):
    mmd       squared maximum mean discrepancy between codes and fresh prior samples, with a sum
              of Gaussian kernels k(a, b) = sum_s exp(-|a - b|^2 / (2 s^2)) over a few bandwidths s
              (unbiased U-statistic; ~0 when both samples come from the same distribution)
    mean      |mean(codes) - mean(prior)|                (Euclidean norm)
    cov       |cov(codes) - cov(prior)|_F                (Frobenius norm)
"""
from __future__ import annotations

import math

import numpy as np

from .io import register
from ._validation import as_generator, check_array, check_positive_int, check_nonnegative_float


class Prior:
    dim = None

    def sample(self, n, rng=None, dtype=np.float32):
        raise NotImplementedError

    def log_prob(self, z):
        raise NotImplementedError

    def mean(self):
        raise NotImplementedError

    def covariance(self):
        raise NotImplementedError

    def _check(self, z):
        return check_array(z, "z", ndim=2, n_features=self.dim, dtype=None)


@register
class StandardGaussian(Prior):
    """p(z) = N(0, I_dim)."""

    def __init__(self, dim):
        self.dim = check_positive_int(dim, "dim")

    def sample(self, n, rng=None, dtype=np.float32):
        return as_generator(rng).standard_normal((check_positive_int(n, "n"), self.dim), dtype=dtype)

    def log_prob(self, z):
        z = self._check(z)
        return -0.5 * (z * z).sum(axis=1) - 0.5 * self.dim * math.log(2 * math.pi)

    def mean(self):
        return np.zeros(self.dim)

    def covariance(self):
        return np.eye(self.dim)

    def get_config(self, ctx):
        return {"dim": self.dim}

    def __repr__(self):
        return f"StandardGaussian(dim={self.dim})"


@register
class GaussianMixture(Prior):
    """Equal-weight mixture of n_components Gaussians N(m_c, std^2 I), with
    m_c = radius (cos 2 pi c / n, sin 2 pi c / n, 0, ..., 0)   (a ring in the first two dims).
    """

    def __init__(self, dim=2, n_components=10, radius=4.0, std=0.5):
        self.dim = check_positive_int(dim, "dim")
        if self.dim < 2:
            raise ValueError(f"dim must be >= 2 for components on a circle, got {dim}")
        self.n_components = check_positive_int(n_components, "n_components")
        self.radius = check_nonnegative_float(radius, "radius")
        self.std = check_nonnegative_float(std, "std")
        if self.std == 0:
            raise ValueError("std must be > 0")
        angle = 2 * np.pi * np.arange(self.n_components) / self.n_components
        self.means = np.zeros((self.n_components, self.dim))
        self.means[:, 0] = self.radius * np.cos(angle)
        self.means[:, 1] = self.radius * np.sin(angle)

    def sample(self, n, rng=None, dtype=np.float32, return_components=False):
        n = check_positive_int(n, "n")
        rng = as_generator(rng)
        comp = rng.integers(self.n_components, size=n)
        z = (self.means[comp] + self.std * rng.standard_normal((n, self.dim))).astype(dtype)
        return (z, comp) if return_components else z

    def log_prob(self, z):
        z = self._check(z)
        d2 = ((z[:, None, :] - self.means[None].astype(z.dtype)) ** 2).sum(-1)   # (n, C)
        a = -0.5 * d2 / self.std ** 2
        m = a.max(axis=1, keepdims=True)
        lse = (m + np.log(np.exp(a - m).sum(axis=1, keepdims=True)))[:, 0]
        return lse - math.log(self.n_components) - self.dim * (math.log(self.std) + 0.5 * math.log(2 * math.pi))

    def mean(self):
        return self.means.mean(axis=0)

    def covariance(self):
        centred = self.means - self.mean()
        return centred.T @ centred / self.n_components + self.std ** 2 * np.eye(self.dim)

    def get_config(self, ctx):
        return {"dim": self.dim, "n_components": self.n_components, "radius": self.radius,
                "std": self.std}

    def __repr__(self):
        return (f"GaussianMixture(dim={self.dim}, n_components={self.n_components}, "
                f"radius={self.radius}, std={self.std})")


def get_prior(spec, dim):
    if isinstance(spec, Prior):
        if spec.dim != dim:
            raise ValueError(f"prior has dim {spec.dim}, the codes have {dim}")
        return spec
    if spec in ("gaussian", "normal"):
        return StandardGaussian(dim)
    if spec == "mixture":
        return GaussianMixture(dim)
    raise ValueError(f"prior must be 'gaussian', 'mixture' or a Prior, got {spec!r}")


def mmd2(X, Y, scales=(0.5, 1.0, 2.0, 4.0)):
    """Unbiased squared MMD between samples X (n, d) and Y (m, d) with the kernel
    k(a, b) = sum_s exp(-|a - b|^2 / (2 s^2)):
        MMD^2 = mean_{i!=j} k(x_i, x_j) + mean_{i!=j} k(y_i, y_j) - 2 mean_{i,j} k(x_i, y_j)
    Computed in float64 (an evaluation statistic, not a training path)."""
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    if X.ndim != 2 or Y.ndim != 2 or X.shape[1] != Y.shape[1] or len(X) < 2 or len(Y) < 2:
        raise ValueError(f"X and Y must be 2-D samples (>= 2 rows) with the same number of "
                         f"columns, got {X.shape} and {Y.shape}")

    def gram(A, B):
        d2 = (A * A).sum(1)[:, None] + (B * B).sum(1)[None] - 2 * A @ B.T
        np.maximum(d2, 0, out=d2)
        return sum(np.exp(-d2 / (2 * s * s)) for s in scales)

    n, m = len(X), len(Y)
    kxx, kyy, kxy = gram(X, X), gram(Y, Y), gram(X, Y)
    return float((kxx.sum() - np.trace(kxx)) / (n * (n - 1))
                 + (kyy.sum() - np.trace(kyy)) / (m * (m - 1)) - 2 * kxy.mean())


def prior_distance(codes, prior, *, n_prior=None, rng=0, scales=None):
    """How close codes (N, d) are to prior: {"mmd": ..., "mean": ..., "cov": ...} (see module doc).
    The MMD bandwidths default to multiples of the prior's overall scale sqrt(trace(cov) / d)."""
    codes = check_array(codes, "codes", ndim=2, n_features=prior.dim, dtype=np.float64)
    rng = as_generator(rng)
    ref = prior.sample(n_prior or len(codes), rng, dtype=np.float64)
    cov = prior.covariance()
    if scales is None:
        base = math.sqrt(np.trace(cov) / prior.dim)
        scales = tuple(base * f for f in (0.25, 0.5, 1.0, 2.0))
    return {"mmd": mmd2(codes, ref, scales),
            "mean": float(np.linalg.norm(codes.mean(0) - prior.mean())),
            "cov": float(np.linalg.norm(np.cov(codes.T).reshape(prior.dim, prior.dim) - cov))}
