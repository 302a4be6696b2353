"""Decoder likelihoods p(x | z) of the VAE, with the loss protocol:

    R = likelihood.forward(output, target)   1/B sum_b -log p(x_b | z_b), a float
    dR/d output = likelihood.backward()      (B, D); a learned variance's gradient is added
    likelihood.log_prob(output, target)      per example log p(x | z), for evaluation
    likelihood.predict(output)               the mean of p(x | z), the reconstruction

Bernoulli (logits, the cross-entropy "Bernoulli" decoder) and Gaussian (fixed or learned
per-feature variance).
"""
from __future__ import annotations

import math

import numpy as np

from ..core.checks import check_array, check_bool, check_dtype, check_finite_float, \
    check_positive_int
from ..core.registry import register
from .activations import stable_sigmoid
from .losses import TargetRange, as_output, gaussian_nll_sum
from .parameter import Parameter

_LOG_2PI = math.log(2 * math.pi)


class Likelihood(TargetRange):
    """p(x | z) given the decoder output o: a loss with the loss protocol, plus log_prob.

    target_range  (low, high) the data x must lie in (None: any real). The Bernoulli
                  likelihood needs [0, 1]: for x > 1 its -log p(x|z) is unbounded below.
    forward / backward are the unchecked protocol the VAE calls on data it checked once;
    __call__ and log_prob check their arguments like user input. A subclass implements
    forward, backward, _log_prob (unchecked) and predict.
    """
    name = "likelihood"
    target_range = None
    #: what the likelihood is called in messages ("the Bernoulli likelihood")
    long_name = "this likelihood"
    #: the number of features D the likelihood is built for (None: any)
    n_features = None
    #: whether the decoder output is logits (its last layer must apply no activation)
    takes_logits = False

    def forward(self, output, target):
        """R = 1/B sum_b -log p(x_b | z_b), a float; caches what backward needs."""
        raise NotImplementedError

    def backward(self):
        """dR/d output (B, D); adds the gradients of the likelihood's own parameters."""
        raise NotImplementedError

    def __call__(self, output, target):
        """forward() on user input: output (B, D) and target (B, D) checked first (real,
        finite, matching shapes, the target inside target_range)."""
        output, target = self._check_pair(output, target)
        return self.forward(output, target)

    def log_prob(self, output, target):
        """Per example log p(x | z):  output (B, D) -> (B,), or (K, B, D) -> (K, B) for K
        decoder outputs per example; target (B, D). Both checked like user input."""
        output, target = self._check_pair(output, target, stacked=True)
        return self._log_prob(output, target)

    def _log_prob(self, output, target):
        """log_prob without the checks (what the VAE calls on its own arrays)."""
        raise NotImplementedError

    def predict(self, output):
        """The mean of p(x | z): what the decoder's output reconstructs."""
        raise NotImplementedError

    def _check_pair(self, output, target, *, stacked=False):
        """(output, target) checked: output (B, D) (or (K, B, D) when stacked), target (B, D)
        of the output's dtype and inside target_range; D = n_features when that is set."""
        try:
            nd = np.ndim(output)
        except (ValueError, TypeError):   # ragged: check_array names it
            nd = 2
        output = check_array(output, "output", ndim=3 if stacked and nd == 3 else 2,
                             n_features=self.n_features)
        target = check_array(target, "target", ndim=2, n_features=self.n_features,
                             dtype=output.dtype.type)
        if target.shape != output.shape[-2:]:
            raise ValueError(f"target must have shape {output.shape[-2:]} to match the output "
                             f"{output.shape}, got {target.shape}")
        return output, self.check_target_range(target, "target")

    def named_parameters(self):
        """[(name, Parameter)] of the likelihood (a learned variance), else []."""
        return []

    def parameters(self):
        """The likelihood's Parameters."""
        return [p for _, p in self.named_parameters()]

    def get_config(self, ctx):
        """Constructor arguments, JSON-able."""
        return {}


@register
class Bernoulli(Likelihood):
    """o are logits;  -log p(x | z) = sum_d log(1 + exp(o_d)) - x_d o_d   (BCE on logits, summed).

    For x in [0, 1] that are not binary (grey pixels) this is the usual cross-entropy
    "Bernoulli" decoder; it is then a loss, not a normalized density of x.
        R     = 1/B sum_bd softplus(o_bd) - x_bd o_bd
        dR/do = (sigmoid(o) - x) / B                                     (B, D)
    Both come from one e = exp(-|o|) <= 1 (no overflow for either sign):
        softplus(o) = max(o, 0) + log1p(e),   sigmoid(o) = [1 if o >= 0 else e] / (1 + e)
    This is the same function as BinaryCrossEntropy(reduction="sum") (the tests check that), ~9x
    faster than np.logaddexp on a 128 x 784 batch, and it shares e between forward and backward.
    """
    name = "bernoulli"
    target_range = (0.0, 1.0)
    long_name = "the Bernoulli likelihood"
    takes_logits = True

    @staticmethod
    def _nll_elements(o, x, e):
        out = np.log1p(e)
        out += np.maximum(o, 0)
        out -= x * o
        return out

    def forward(self, output, target):
        o, x = output, target
        if o.shape != x.shape:
            raise ValueError(f"target must have the output's shape {o.shape}, got {x.shape}")
        e = np.exp(-np.abs(o))
        self.o, self.x, self.e = o, x, e
        return float(self._nll_elements(o, x, e).sum() / len(o))

    def backward(self):
        o, e = self.o, self.e
        sig = np.maximum(e, o >= 0)     # = np.where(o >= 0, 1, e) (0 <= e <= 1), ~8x faster
        sig /= 1 + e
        sig -= self.x
        sig *= 1 / len(o)
        return sig

    def _log_prob(self, output, target):
        return -self._nll_elements(output, target, np.exp(-np.abs(output))).sum(axis=-1)

    def predict(self, output):
        """sigmoid(o): the mean of p(x | z), in [0, 1]."""
        return stable_sigmoid(as_output(output))

    def __repr__(self):
        return "Bernoulli()"


def _softplus(a):
    return np.logaddexp(a.dtype.type(0), a)


@register
class Gaussian(Likelihood):
    """o are means;  -log p(x | z) = 0.5 sum_d ((x_d - o_d)^2 exp(-s_d) + s_d + log 2 pi).

    Fixed variance (learn_variance=False): s = logvar for every feature.
    Learned variance: one log-variance per feature, s = lo + softplus(u - lo), u (D,) a Parameter,
    lo = min_logvar. The soft floor keeps s >= lo (sigma >= exp(lo/2)): pixels that are always 0
    would otherwise drive sigma -> 0 and the likelihood to infinity. It is smooth, so the
    gradient never dies at the bound:
        dR/do = (o - x) exp(-s) / B                                        (B, D)
        dR/ds = 1/B sum_b 0.5 (1 - (x_b - o_b)^2 exp(-s))                  (D,)
        du   += dR/ds * sigmoid(u - lo)                                   (D,)
    """
    name = "gaussian"

    def __init__(self, n_features, logvar=0.0, learn_variance=False, min_logvar=-6.0,
                 dtype=np.float32):
        self.n_features = check_positive_int(n_features, "n_features")
        self.logvar = check_finite_float(logvar, "logvar")
        self.learn_variance = check_bool(learn_variance, "learn_variance")
        self.min_logvar = check_finite_float(min_logvar, "min_logvar")
        dtype = check_dtype(dtype)
        if self.learn_variance and not self.logvar > self.min_logvar:
            raise ValueError(f"logvar (the initial log-variance, {logvar}) must exceed "
                             f"min_logvar ({min_logvar})")
        self.u = None
        if self.learn_variance:
            # inverse of the soft floor: u = lo + log(exp(s - lo) - 1)
            u0 = self.min_logvar + math.log(math.expm1(self.logvar - self.min_logvar))
            self.u = Parameter(np.full(self.n_features, u0, dtype=dtype))

    def named_parameters(self):
        return [("u", self.u)] if self.learn_variance else []

    def feature_logvar(self):
        """s: the per-feature log-variance (D,) if learned, else the fixed float."""
        if not self.learn_variance:
            return self.logvar
        lo = self.u.value.dtype.type(self.min_logvar)
        return lo + _softplus(self.u.value - lo)

    def forward(self, output, target):
        if output.shape != target.shape:
            raise ValueError(f"target must have the output's shape {output.shape}, "
                             f"got {target.shape}")
        t = output.dtype.type
        s = self.feature_logvar() if self.learn_variance else t(self.logvar)
        self.diff = output - target
        self.inv_var = np.exp(-s)
        self.c = t(1.0 / len(output))
        return float(self.c * 0.5 * gaussian_nll_sum(self.diff, s, self.inv_var))

    def backward(self):
        if self.learn_variance:
            ds = (self.c * 0.5 * (1 - self.diff * self.diff * self.inv_var)).sum(axis=0)  # (D,)
            lo = self.u.value.dtype.type(self.min_logvar)
            self.u.grad += ds * (1 / (1 + np.exp(-(self.u.value - lo))))
        return self.c * self.diff * self.inv_var

    def _log_prob(self, output, target):
        s = self.feature_logvar()
        d = target - output
        return -0.5 * (d * d * np.exp(-s) + s + _LOG_2PI).sum(axis=-1) if np.ndim(s) else \
            -0.5 * ((d * d).sum(axis=-1) * math.exp(-s) + output.shape[-1] * (s + _LOG_2PI))

    def predict(self, output):
        """o itself: the Gaussian's mean."""
        return as_output(output)

    def get_config(self, ctx):
        return {"n_features": self.n_features, "logvar": self.logvar,
                "learn_variance": self.learn_variance, "min_logvar": self.min_logvar}

    def __repr__(self):
        return (f"Gaussian(n_features={self.n_features}, logvar={self.logvar}, "
                f"learn_variance={self.learn_variance})")


def get_likelihood(spec, n_features, dtype):
    """The Likelihood for spec: "bernoulli", "gaussian" (fixed variance), "gaussian_learned"
    (a learned per-feature variance over n_features) or a Likelihood instance."""
    if isinstance(spec, Likelihood):
        if spec.n_features is not None and spec.n_features != n_features:
            raise ValueError(f"likelihood is built for {spec.n_features} features, the data "
                             f"has {n_features}")
        return spec
    if isinstance(spec, str):
        if spec == "bernoulli":
            return Bernoulli()
        if spec == "gaussian":
            return Gaussian(n_features, dtype=dtype)
        if spec == "gaussian_learned":
            return Gaussian(n_features, learn_variance=True, dtype=dtype)
    raise ValueError(f"likelihood must be 'bernoulli', 'gaussian', 'gaussian_learned' or a "
                     f"Likelihood (Bernoulli(), Gaussian(...)), got {spec!r}")
