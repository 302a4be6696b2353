"""Priors p(z) over codes for the adversarial autoencoder.

    StandardGaussian(dim)                         N(0, I)
    GaussianMixture(dim=2, n_components=10, ...)  equal-weight isotropic Gaussians whose means sit
                                                  on a circle of `radius` in the first two dims
Each prior draws with sample(n, rng) and scores with log_prob(z).
"""
from __future__ import annotations

import math

import numpy as np

from ..core.registry import register
from ..core.checks import check_array, check_bool, check_dtype, check_nonnegative_float, \
    check_positive_int
from ..core.random import as_generator


class Prior:
    """A distribution p(z) over codes z of dimension `dim`."""

    dim = None

    def sample(self, n, rng=None, dtype=np.float32):
        """n draws z ~ p(z), shape (n, dim)."""
        raise NotImplementedError

    def log_prob(self, z):
        """log p(z) per row  (n, dim) -> (n,)."""
        raise NotImplementedError

    def mean(self):
        """E[z], shape (dim,)."""
        raise NotImplementedError

    def covariance(self):
        """Cov[z] = E[(z - E z)(z - E z)^T], shape (dim, dim)."""
        raise NotImplementedError

    def _check(self, z):
        return check_array(z, "z", ndim=2, n_features=self.dim, dtype=None)


@register
class StandardGaussian(Prior):
    """p(z) = N(0, I_dim)."""

    def __init__(self, dim):
        self.dim = check_positive_int(dim, "dim")

    def sample(self, n, rng=None, dtype=np.float32):
        """n draws z ~ N(0, I), shape (n, dim), in dtype (float32 or float64)."""
        n, dtype = check_positive_int(n, "n"), check_dtype(dtype)
        return as_generator(rng).standard_normal((n, self.dim), dtype=dtype)

    def log_prob(self, z):
        z = self._check(z)
        return -0.5 * (z * z).sum(axis=1) - 0.5 * self.dim * math.log(2 * math.pi)

    def mean(self):
        return np.zeros(self.dim)

    def covariance(self):
        return np.eye(self.dim)

    def get_config(self, ctx):
        """The constructor arguments, for saving: {"dim"}."""
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
        """n draws z ~ p(z), shape (n, dim); with return_components also their components (n,)."""
        n, dtype = check_positive_int(n, "n"), check_dtype(dtype)
        return_components = check_bool(return_components, "return_components")
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
        """The constructor arguments, for saving: {"dim", "n_components", "radius", "std"}."""
        return {"dim": self.dim, "n_components": self.n_components, "radius": self.radius,
                "std": self.std}

    def __repr__(self):
        return (f"GaussianMixture(dim={self.dim}, n_components={self.n_components}, "
                f"radius={self.radius}, std={self.std})")


def get_prior(spec, dim):
    """The Prior for spec: "gaussian"/"normal" -> StandardGaussian(dim), "mixture" ->
    GaussianMixture(dim), or a Prior instance (its dim must equal dim)."""
    if isinstance(spec, Prior):
        if spec.dim != dim:
            raise ValueError(f"prior has dim {spec.dim}, the codes have {dim}")
        return spec
    if isinstance(spec, str) and spec in ("gaussian", "normal"):
        return StandardGaussian(dim)
    if isinstance(spec, str) and spec == "mixture":
        return GaussianMixture(dim)
    raise ValueError(f"prior must be 'gaussian', 'mixture' or a Prior, got {spec!r}")
