"""Input corruption for denoising autoencoders (Vincent et al. 2008, 2010).

A corruption is a Layer without parameters that is active only in training:

    x_tilde = C(x; noise)        training=True: a fresh noise sample is drawn and kept on self
    x_tilde = x                  training=False (inference, evaluate, reconstruct)

The autoencoder encodes x_tilde but measures the reconstruction against the CLEAN x, so the
network has to undo the corruption. The sample drawn in forward is kept (``self.noise`` /
``self.mask``) so that backward reuses exactly it; a gradient check holds the Generator fixed
(numpyae.gradcheck snapshots and restores every Generator it finds), so every finite-difference
evaluation sees the same noise as the analytic pass.

Every corruption here is affine in x for a fixed noise sample, so backward is a mask:

    GaussianNoise    x_tilde = x + std * eps,  eps ~ N(0, 1)       dx = dy
    MaskingNoise     x_tilde = m * x,  m_i ~ Bernoulli(1 - p)        dx = m * dy
    SaltAndPepper    x_tilde = k * x + (1 - k) * s                    dx = k * dy
                     k_i ~ Bernoulli(1 - p) keeps x_i; where k_i = 0, s_i is `low` or `high`
                     with probability 1/2 each
All shapes are (B, D) in and out.
"""
from __future__ import annotations

import numpy as np

from ..core.registry import register
from .layers import Layer
from ..core.checks import check_finite_float, check_nonnegative_float, check_probability
from ..core.random import as_generator, int_seed


class Corruption(Layer):
    """Base class: identity at inference, a kept noise sample in training."""

    def __init__(self, rng=None):
        self.rng_seed = int_seed(rng)
        self.rng = as_generator(rng)
        self.training = False

    def forward(self, x, *, training=True):
        if x.ndim != 2:
            raise ValueError(f"{type(self).__name__} expects input of shape (batch, features), "
                             f"got {x.shape}")
        self.training = bool(training)
        if not training:
            return x
        return self._corrupt(x)

    def backward(self, dy, *, input_grad=True):
        if not input_grad:
            return None
        return self._backward(dy) if self.training else dy

    def get_config(self, ctx):
        return {"rng": self.rng_seed}


@register
class GaussianNoise(Corruption):
    """Additive isotropic Gaussian noise:  x_tilde = x + std * eps,  eps ~ N(0, I).

    Backward: d x_tilde / d x = I, so  dx = dy   (B, D).
    """

    def __init__(self, std=0.1, *, rng=None):
        super().__init__(rng)
        self.std = check_nonnegative_float(std, "std")
        self.noise = None

    def _corrupt(self, x):
        # draw in float64 and cast: the same sample whatever the model's dtype
        self.noise = (self.std * self.rng.standard_normal(x.shape)).astype(x.dtype, copy=False)
        return x + self.noise

    def _backward(self, dy):
        return dy

    def get_config(self, ctx):
        return {"std": self.std, **super().get_config(ctx)}

    def __repr__(self):
        return f"GaussianNoise(std={self.std})"


@register
class MaskingNoise(Corruption):
    """Masking noise: each input is set to 0 with probability p (Vincent et al. 2010, sec. 4.2).

        x_tilde = m * x,   m_i ~ Bernoulli(1 - p) independently per example and feature
    No rescaling by 1/(1-p) (unlike inverted dropout): the corrupted image is what the encoder sees.
    Backward:  dx = m * dy   (B, D).
    """

    def __init__(self, p=0.25, *, rng=None):
        super().__init__(rng)
        self.p = check_probability(p, "p")
        self.mask = None

    def _corrupt(self, x):
        self.mask = (self.rng.random(x.shape) >= self.p).astype(x.dtype)
        return x * self.mask

    def _backward(self, dy):
        return dy * self.mask

    def get_config(self, ctx):
        return {"p": self.p, **super().get_config(ctx)}

    def __repr__(self):
        return f"MaskingNoise(p={self.p})"


@register
class SaltAndPepper(Corruption):
    """Salt-and-pepper noise: a fraction p of the inputs, chosen at random, is set to `low` or
    `high` (the range of the data; 0 and 1 by default) with probability 1/2 each.

        x_tilde = k * x + (1 - k) * s,   k_i ~ Bernoulli(1 - p),  s_i uniform on {low, high}
    Backward: the replaced entries do not depend on x, so  dx = k * dy   (B, D).
    """

    def __init__(self, p=0.25, *, low=0.0, high=1.0, rng=None):
        super().__init__(rng)
        self.p = check_probability(p, "p")
        self.low, self.high = check_finite_float(low, "low"), check_finite_float(high, "high")
        if not self.low < self.high:
            raise ValueError(f"low and high must satisfy low < high, got low={low}, high={high}")
        self.keep = self.values = None

    def _corrupt(self, x):
        u = self.rng.random(x.shape)
        keep = u >= self.p
        # among the replaced entries (u < p), u < p/2 gives `low`, the rest `high`
        self.values = np.where(u < 0.5 * self.p, self.low, self.high).astype(x.dtype)
        self.keep = keep.astype(x.dtype)
        return np.where(keep, x, self.values)

    def _backward(self, dy):
        return dy * self.keep

    def get_config(self, ctx):
        return {"p": self.p, "low": self.low, "high": self.high, **super().get_config(ctx)}

    def __repr__(self):
        return f"SaltAndPepper(p={self.p}, low={self.low}, high={self.high})"


CORRUPTIONS = {"gaussian": GaussianNoise, "masking": MaskingNoise, "salt_and_pepper": SaltAndPepper}


def get_corruption(spec, level=None, *, rng=None, name="corruption"):
    """A Corruption from a name ("gaussian", "masking", "salt_and_pepper") and its level
    (std >= 0 for gaussian, a probability p in [0, 1) otherwise), a Corruption instance
    (returned as is; a level is then refused) or None. `name` is the argument's name in
    messages (the level's is "level")."""
    if spec is None or isinstance(spec, Corruption):
        if level is not None:
            raise ValueError(f"level applies only to a {name} given by name "
                             f"({sorted(CORRUPTIONS)}), got level={level!r} with {spec!r}")
        return spec
    if isinstance(spec, str) and spec in CORRUPTIONS:
        cls = CORRUPTIONS[spec]
        if level is None:
            return cls(rng=rng)
        level = (check_nonnegative_float(level, "level") if cls is GaussianNoise
                 else check_probability(level, "level"))
        return cls(level, rng=rng)
    raise ValueError(f"{name} must be one of {sorted(CORRUPTIONS)}, a Corruption or None, "
                     f"got {spec!r}")
