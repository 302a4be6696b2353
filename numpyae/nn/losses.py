"""Losses: forward(output, target) -> float, backward() -> dL/d output (the output's shape).

``output`` is what the network's last layer produces; ``predict(output)`` turns it into the
prediction a user sees (identity for MSE, sigmoid for BCE on logits, softmax for cross-entropy).
The target is data: it gets no gradient.

reduction (MSE and BCE):
    "mean"  mean over batch and features   L = 1/(B D) sum_bd l_bd   (default; what "MSE" usually means)
    "sum"   sum over features, mean over batch   L = 1/B sum_bd l_bd  (used by the VAE's ELBO)
"""
from __future__ import annotations

import math

import numpy as np

from .activations import stable_sigmoid
from ..core.checks import FLOAT_DTYPES, check_array, check_choice, check_finite_float, \
    check_labels, check_value_range
from ..core.registry import register

_REDUCTIONS = ("mean", "sum")


def as_output(output, name="output"):
    """A raw network output for predict(): a float32/float64 ndarray passes as it is (what a
    model hands over, at no cost); anything else is checked like user input (2-D, real,
    finite) and cast to float32 unless float64."""
    if type(output) is np.ndarray and output.dtype.type in FLOAT_DTYPES:
        return output
    return check_array(output, name, ndim=2)


class TargetRange:
    """The range a loss's (or a likelihood's) targets must lie in for it to mean anything:
    target_range (low, high), or None for any real; long_name names it in errors."""
    target_range = None
    long_name = "this loss"

    def check_target_range(self, target, name="target", hint=None):
        """target, if it lies in target_range (or there is none), else a ValueError naming
        `name`, the range needed and the range found. One min and one max over the array."""
        if self.target_range is None:
            return target
        if hint is None:
            hint = f"; scale it, e.g. {name} / 255 for 8-bit pixels"
        return check_value_range(target, name, *self.target_range, what=self.long_name,
                                 hint=hint)


class Loss(TargetRange):
    """A loss L(output, target): forward -> float, backward -> dL/d output (the output's shape).

    target_range  (low, high) the targets must lie in for the loss to mean anything (None: any
                  real). BinaryCrossEntropy needs [0, 1]: with a target t > 1 the loss
                  log(1 + e^z) - t z is unbounded below and training drives it to -inf.
                  __call__ checks it; a model checks its data once, before training
                  (models.base.Model.check_input), never per step.
    """

    name = "loss"
    target_range = None
    #: what the loss is called in messages ("the binary cross-entropy loss")
    long_name = "this loss"
    #: whether the output is logits the loss maps through a sigmoid itself (a network's last
    #: layer must then apply no activation)
    takes_logits = False

    def __init__(self, reduction="mean"):
        self.reduction = check_choice(reduction, "reduction", _REDUCTIONS)

    def _scale(self, output):
        """1/(B D) for "mean", 1/B for "sum"."""
        B = output.shape[0]
        D = output[0].size if self.reduction == "mean" else 1
        return 1.0 / (B * D)

    @staticmethod
    def _check(output, target):
        if output.shape != target.shape:
            raise ValueError(f"target must have the output's shape {output.shape}, got {target.shape}")

    def forward(self, output, target):
        """L(output, target), a float; caches what backward needs."""
        raise NotImplementedError

    def backward(self):
        """dL/d output of the last forward  (the output's shape)."""
        raise NotImplementedError

    def predict(self, output):
        """The prediction a user sees from the raw output (here the output itself)."""
        return as_output(output)

    def __call__(self, output, target):
        """forward() on user input: output (B, D) and target are checked (real, finite, matching
        shapes, the target inside target_range; output cast to float32 unless float64) first.
        Models call forward() directly (their data was checked once, up front)."""
        output = check_array(output, "output", ndim=2)
        return self.forward(output, self._check_target(target, output))

    def _check_target(self, target, output):
        target = check_array(target, "target", ndim=2, dtype=output.dtype.type)
        if target.shape != output.shape:
            raise ValueError(f"target must have the output's shape {output.shape}, got {target.shape}")
        return self.check_target_range(target, "target")

    def get_config(self, ctx):
        """Constructor arguments, JSON-able."""
        return {"reduction": self.reduction}

    def __repr__(self):
        return f"{type(self).__name__}(reduction={self.reduction!r})"


@register
class MSE(Loss):
    """Squared error  L = c * sum_bd (o_bd - t_bd)^2,  c = 1/(B D) ("mean") or 1/B ("sum").

    dL/do = 2 c (o - t)        (B, D)
    """
    name = "mse"

    def forward(self, output, target):
        self._check(output, target)
        self.diff = output - target
        self.c = output.dtype.type(self._scale(output))
        return float(self.c * np.vdot(self.diff, self.diff))

    def backward(self):
        return (2 * self.c) * self.diff


@register
class BinaryCrossEntropy(Loss):
    """Binary cross-entropy on logits z against targets t in [0, 1].

    Per element:  l = log(1 + exp(z)) - t z     (= -t log s - (1-t) log(1-s), s = sigmoid(z))
    L = c * sum_bd l_bd;   dL/dz = c (sigmoid(z) - t)      (B, D)

    Both from one e = exp(-|z|) <= 1 (no overflow for either sign, no log(0)):
        log(1 + exp(z)) = max(z, 0) + log1p(e)       (the same as np.logaddexp(0, z), ~9x faster)
        sigmoid(z)      = max(e, [z >= 0]) / (1 + e)  (stable_sigmoid, reusing forward's e)

    The output is unrestricted logits; the targets must lie in [0, 1] (target_range): for
    t > 1 or t < 0 the loss is unbounded below in z, so it is no loss at all. __call__ refuses
    such targets, and a model with this loss refuses such data before training.
    """
    name = "bce"
    target_range = (0.0, 1.0)
    long_name = "the binary cross-entropy loss"
    takes_logits = True

    def forward(self, output, target):
        self._check(output, target)
        self.z, self.t = output, target
        self.c = output.dtype.type(self._scale(output))
        e = np.exp(-np.abs(output))
        self.e = e
        per_element = np.log1p(e)
        per_element += np.maximum(output, 0)
        per_element -= target * output
        return float(self.c * per_element.sum())

    def backward(self):
        z, e = self.z, self.e
        grad = np.maximum(e, z >= 0)      # sigmoid(z) = grad / (1 + e)
        grad /= 1 + e
        grad -= self.t
        grad *= self.c
        return grad

    def predict(self, output):
        """sigmoid(z): the reconstruction in [0, 1] from the logits."""
        return stable_sigmoid(as_output(output))


def log_softmax(z):
    """log softmax along the last axis: z - max - log(sum(exp(z - max)))."""
    shifted = z - z.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def softmax(z):
    """softmax along the last axis: exp(z_k) / sum_j exp(z_j), computed as exp(log_softmax(z))."""
    return np.exp(log_softmax(z))


@register
class SoftmaxCrossEntropy(Loss):
    """Softmax cross-entropy on logits z (B, K) with integer labels y (B,).

    L = -1/B sum_b log softmax(z_b)[y_b]
    dL/dz = 1/B (softmax(z) - onehot(y))      (B, K)
    """
    name = "softmax_cross_entropy"

    def __init__(self):
        super().__init__("mean")

    def _check_target(self, target, output):
        return check_labels(target, "target", n=output.shape[0], n_classes=output.shape[1])

    def forward(self, output, target):
        target = np.asarray(target)
        if target.shape != (output.shape[0],) or target.dtype.kind not in "iu":
            raise ValueError(f"target must be integer labels of shape ({output.shape[0]},), "
                             f"got {target.dtype} {target.shape}")
        if target.size and (target.min() < 0 or target.max() >= output.shape[1]):
            raise ValueError(f"target labels must lie in [0, {output.shape[1]}), "
                             f"got range [{target.min()}, {target.max()}]")
        self.labels = target
        self.logp = log_softmax(output)
        B = output.shape[0]
        return float(-self.logp[np.arange(B), target].sum() / B)

    def backward(self):
        B = self.logp.shape[0]
        grad = np.exp(self.logp)
        grad[np.arange(B), self.labels] -= 1
        grad /= B
        return grad

    def predict(self, output):
        """softmax(z): class probabilities, rows summing to 1."""
        return softmax(as_output(output))

    def get_config(self, ctx):
        return {}

    def __repr__(self):
        return "SoftmaxCrossEntropy()"


LOSSES = {"mse": MSE, "bce": BinaryCrossEntropy, "softmax_cross_entropy": SoftmaxCrossEntropy}


def get_loss(spec):
    """A Loss from a name ("mse", "bce", "softmax_cross_entropy") or a Loss instance."""
    if isinstance(spec, Loss):
        return spec
    if isinstance(spec, str) and spec in LOSSES:
        return LOSSES[spec]()
    raise ValueError(f"loss must be one of {sorted(LOSSES)} or a Loss, got {spec!r}")


_LOG_2PI = math.log(2 * math.pi)  # a Python float: multiplying float32 arrays keeps float32


def gaussian_nll_sum(diff, logvar, inv_var):
    """sum over every element of (o - t)^2 exp(-s) + s + log 2pi  (twice the NLL), with
    diff = o - t (B, D), s = logvar a scalar or per feature (D,), inv_var = exp(-s)."""
    n_rows = diff.size // max(np.size(logvar), 1)           # how often each s entry is used
    return (diff * diff * inv_var).sum() + n_rows * np.sum(logvar) + diff.size * _LOG_2PI


@register
class GaussianNLL(Loss):
    """Negative log-likelihood of targets t under N(o, sigma^2), with s = log sigma^2 fixed.

    Per element:  l = 0.5 ((o - t)^2 exp(-s) + s + log 2pi)
    L = c * sum_bd l_bd,   c = 1/(B D) ("mean") or 1/B ("sum")
    dL/do = c (o - t) exp(-s)                                   (B, D)
    With s = 0 this is 0.5 * squared error plus a constant: MSE up to scale. (A learned
    variance is a parameter: the VAE's Gaussian likelihood has one.)
    """
    name = "gaussian_nll"

    def __init__(self, reduction="mean", logvar=0.0):
        super().__init__(reduction)
        self.logvar = check_finite_float(logvar, "logvar")

    def forward(self, output, target):
        self._check(output, target)
        t = output.dtype.type
        s = t(self.logvar)
        self.diff = output - target
        self.inv_var = np.exp(-s)
        self.c = t(self._scale(output))
        return float(self.c * 0.5 * gaussian_nll_sum(self.diff, s, self.inv_var))

    def backward(self):
        return self.c * self.diff * self.inv_var

    def get_config(self, ctx):
        return {"reduction": self.reduction, "logvar": self.logvar}

    def __repr__(self):
        return f"GaussianNLL(reduction={self.reduction!r}, logvar={self.logvar})"


LOSSES["gaussian_nll"] = GaussianNLL
