"""Penalties added to an autoencoder's reconstruction loss:  L = L_rec(x_hat, x) + sum_p P_p.

WeightDecay acts on every weight matrix W; L1Activity, KLSparsity and Contractive act on the
code layer, the encoder's last layer h = f(a), a = x_c W + b (x_c is that layer's own input).

The penalty protocol (ARCHITECTURE.md), once per forward and backward pass of the model:

    penalty.bind(layer)                      at construction: refuses a code layer it cannot use
    P = penalty.forward(h, layer, weights)   h (B, k) the code, layer the code layer after its
                                             forward (a, y cached), weights the W Parameters
    dh, da = penalty.backward()              dP/dh and dP/da (B, k), either may be None; dP/dW
                                             that bypasses h and a is ADDED into W.grad here

The model adds dh to what the decoder sends back into the code and passes da to the code
layer's backward(dy, da=da), so penalties compose with deeper encoders. Code penalties are means
over the batch, except KLSparsity, a function of the batch-mean activation (Ng's CS294A notes).
"""
from __future__ import annotations

import numpy as np

from ..core.registry import register
from .layers import Dense
from ..core.checks import check_nonnegative_float, check_probability


class Penalty:
    """Base class: a scalar P of the code and the weights, with its gradients (module doc)."""
    name = "penalty"

    def bind(self, layer):
        """Check that this penalty can be applied to the code layer; raise a clear error if not."""

    def forward(self, h, layer, weights):
        """P, a float; caches what backward needs."""
        raise NotImplementedError

    def backward(self):
        """(dP/dh, dP/da) of the last forward, each (B, k) or None; adds dP/dW into W.grad."""
        raise NotImplementedError

    def get_config(self, ctx):
        """Constructor arguments, JSON-able."""
        return {}

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config(None).items())
        return f"{type(self).__name__}({args})"


@register
class WeightDecay(Penalty):
    """L2 weight decay on every weight matrix (not the biases):

        P = lam/2 * sum_W sum_ij W_ij^2          (the lambda/2 of UFLDL's sparse autoencoder)
        dP/dW = lam * W                           (each W's shape), added into W.grad

    A tied W (shared by an encoder and a decoder layer) is one Parameter and counts once.
    """
    name = "weight_decay"

    def __init__(self, lam=1e-4):
        self.lam = check_nonnegative_float(lam, "lam")
        self.weights = ()

    def forward(self, h, layer, weights):
        self.weights = weights
        total = sum(float(np.vdot(w.value, w.value)) for w in weights)
        return 0.5 * self.lam * total

    def backward(self):
        for w in self.weights:
            w.grad += w.value.dtype.type(self.lam) * w.value
        return None, None

    def get_config(self, ctx):
        return {"lam": self.lam}


@register
class L1Activity(Penalty):
    """L1 penalty on the code:  P = beta * (1/B) sum_b ||h_b||_1 = beta/B sum_bj |h_bj|.

        dP/dh = beta/B * sign(h)        (B, k)
    (sign(0) = 0: a relu code unit that is off stays off without a push either way. A finite
    difference that moves some h_bj across 0 crosses the kink of |h|; kink_state() lets the
    gradient checker report that entry as not comparable.)
    """
    name = "l1_activity"

    def __init__(self, beta=1e-3):
        self.beta = check_nonnegative_float(beta, "beta")
        self.h = None

    def forward(self, h, layer, weights):
        self.h = h
        return self.beta * float(np.abs(h).sum()) / h.shape[0]

    def backward(self):
        h = self.h
        return np.sign(h) * h.dtype.type(self.beta / h.shape[0]), None

    def kink_state(self):
        """{"|h| at h = 0": sign(h) (B, k)} after the last forward: which side of the kink of |h|
        each code entry lies on ({} before any). For the gradient checker; not used in training."""
        return {} if self.h is None else {"|h| at h = 0": np.sign(self.h)}

    def kink_margin(self):
        """{"|h| at h = 0": |h| (B, k)}: each code entry's distance to the kink."""
        return {} if self.h is None else {"|h| at h = 0": np.abs(self.h)}

    def get_config(self, ctx):
        return {"beta": self.beta}


def _code_activation_name(layer):
    act = getattr(layer, "activation", None)
    return getattr(act, "name", None)


@register
class KLSparsity(Penalty):
    """KL sparsity (Ng, CS294A lecture notes "Sparse autoencoder", sec. 2.3):

        rho_hat_j = (1/B) sum_b h_bj                        mean activation of code unit j   (k,)
        P = beta * sum_j KL(rho || rho_hat_j)
        KL(rho || q) = rho log(rho / q) + (1 - rho) log((1 - rho) / (1 - q))

    Gradient. dKL/dq = -rho/q + (1 - rho)/(1 - q), and each h_bj enters rho_hat_j with weight 1/B,
    so every example of the batch receives the same term for unit j:

        dP/dh_bj = beta/B * ( -rho/rho_hat_j + (1 - rho)/(1 - rho_hat_j) )      (B, k)

    This is the "sparsity delta" that UFLDL adds to the hidden layer's backpropagated error
    (before the multiplication by f'(a)); here the model adds it to dh.

    Requirements: the code must lie in (0, 1) (a sigmoid code layer); bind() and forward() refuse
    anything else. rho_hat is clipped to [eps, 1 - eps] so the value stays finite; where the clip
    is active the penalty is constant in h and its gradient is 0. The clip's bounds are kinks:
    kink_state() tells the gradient checker which units are clipped, so a finite difference that
    moves rho_hat across eps or 1 - eps is reported as not comparable.
    """
    name = "kl_sparsity"

    def __init__(self, rho=0.01, beta=3.0, eps=1e-6):
        self.rho = check_probability(rho, "rho", open_low=True)
        self.beta = check_nonnegative_float(beta, "beta")
        self.eps = check_probability(eps, "eps", open_low=True)
        if self.eps >= 0.5:
            raise ValueError(f"eps must be < 0.5, got {eps}")
        self.h = self.rho_hat = self.clipped = None

    def bind(self, layer):
        name = _code_activation_name(layer)
        if name is not None and name != "sigmoid":
            raise ValueError(f"KLSparsity needs code activations in (0, 1), i.e. a sigmoid code "
                             f"layer; the code layer has activation {name!r}")

    def forward(self, h, layer, weights):
        lo, hi = float(h.min()), float(h.max())
        if lo < 0 or hi > 1:
            raise ValueError(f"KLSparsity needs code activations in (0, 1) (a sigmoid code layer); "
                             f"got values in [{lo:.4g}, {hi:.4g}]")
        self.h = h
        rho_hat = h.sum(axis=0) / len(h)   # (not h.mean: it divides in float64)
        clipped = np.clip(rho_hat, self.eps, 1 - self.eps)
        self.rho_hat = clipped
        self.clipped = clipped != rho_hat
        rho = self.rho
        kl = rho * np.log(rho / clipped) + (1 - rho) * np.log((1 - rho) / (1 - clipped))
        return self.beta * float(kl.sum())

    def backward(self):
        h, q, rho = self.h, self.rho_hat, self.rho
        dq = self.beta * (-rho / q + (1 - rho) / (1 - q))
        dq[self.clipped] = 0
        dh = np.broadcast_to((dq / h.shape[0]).astype(h.dtype, copy=False), h.shape)
        return dh, None

    def kink_state(self):
        """{"clip of rho_hat to [eps, 1 - eps]": (below eps, above 1 - eps) per unit, (2, k)
        bool} after the last forward ({} before any): the clip's two kinks.
        For the gradient checker; not used in training."""
        if self.h is None:
            return {}
        raw = self._raw_rho_hat()
        return {"clip of rho_hat to [eps, 1 - eps]": np.stack([raw < self.eps, raw > 1 - self.eps])}

    def kink_margin(self):
        """Each unit's distance of rho_hat to its nearer clip bound, (2, k) like kink_state."""
        if self.h is None:
            return {}
        raw = self._raw_rho_hat()
        d = np.minimum(np.abs(raw - self.eps), np.abs(raw - (1 - self.eps)))
        return {"clip of rho_hat to [eps, 1 - eps]": np.stack([d, d])}

    def _raw_rho_hat(self):
        return np.asarray(self.h, dtype=np.float64).sum(axis=0) / len(self.h)

    def get_config(self, ctx):
        return {"rho": self.rho, "beta": self.beta, "eps": self.eps}


@register
class Contractive(Penalty):
    """Contractive penalty (Rifai et al. 2011, "Contractive auto-encoders"):

        P = lam * (1/B) sum_b ||J_b||_F^2,     J_b = d h_b / d x_b    (k, n) per example

    for the code layer h = f(a), a = x W + b, with x (B, n) the code layer's input, W (n, k),
    and any elementwise f. Since dh_bj/dx_bi = f'(a_bj) W_ij,

        ||J_b||_F^2 = sum_j f'(a_bj)^2 sum_i W_ij^2 = sum_j g_bj^2 s_j,
        g = f'(a) (B, k),   s_j = sum_i W_ij^2  (k,)

    so  P = lam/B * sum_bj g_bj^2 s_j : closed form, no per-example Jacobian. For a one-layer
    encoder J is the Jacobian of the code with respect to the data; for a deeper encoder it is the
    code layer's own Jacobian (with respect to the previous layer's output).

    Gradient. P depends on W twice (through s and through a) and on b, x only through a.
    With g2 = f''(a):

        dP/da_bj = lam/B * 2 g_bj g2_bj s_j                          (B, k)   returned as da
        dP/dW_ij |direct = lam/B * sum_b g_bj^2 * 2 W_ij
                         = 2 lam W_ij * mean_b(g_bj^2)                 (n, k)   added into W.grad
    and the model pushes da through the affine map like any other pre-activation gradient
    (Dense.backward(dy, da=da)):
        dP/dW |through a = x^T da   (n, k)     dP/db = sum_b da   (k,)     dP/dx = da W^T   (B, n)
    so the penalty composes with the layers below the code layer.

    relu: f' = [a > 0], f'' = 0, so P = lam * mean_b sum_{j active} s_j and da = 0 (a kink at a = 0).

    Kinks: P is a function of f'(a), so it is non-smooth wherever f' or f'' jumps. Those points
    are the code layer's activation ``kinks`` (relu, leaky relu and ELU at a = 0: for ELU, f' is
    C0 only at 0); the code layer's own kink_state() already reports a finite difference across
    them, so the penalty adds no kink_state of its own.
    """
    name = "contractive"

    def __init__(self, lam=0.1):
        self.lam = check_nonnegative_float(lam, "lam")
        self.layer = self.g = None

    def bind(self, layer):
        if not isinstance(layer, Dense):
            raise TypeError(f"Contractive needs a Dense code layer (the encoder's last layer), "
                            f"got {type(layer).__name__}")

    def forward(self, h, layer, weights):
        self.bind(layer)
        self.layer = layer
        W = layer.W.value
        self.s = np.einsum("ij,ij->j", W, W)                                   # (k,)
        self.g = layer.activation.derivative(layer.a, layer.y)                 # (B, k)
        self.gg = self.g * self.g                                               # (B, k)
        B = self.g.shape[0]
        return self.lam * float((self.gg @ self.s).sum()) / B

    def backward(self):
        layer, g, s = self.layer, self.g, self.s
        B = g.shape[0]
        c = g.dtype.type(2 * self.lam / B)
        g2 = layer.activation.second_derivative(layer.a, layer.y)
        da = (c * g) * g2 * s                                                  # (B, k)
        layer.W.grad += layer.W.value * (c * self.gg.sum(axis=0))              # direct term (n, k)
        return None, da

    def get_config(self, ctx):
        return {"lam": self.lam}


PENALTIES = {cls.name: cls for cls in (WeightDecay, L1Activity, KLSparsity, Contractive)}
