"""Elementwise activations y = f(a) with their first and second derivatives.

An activation is a function object, not a layer (it has no forward/backward of its own; a
Dense layer applies it and its chain-rule step inside its own forward and backward):

    f(a)                          y = f(a)
    f.derivative(a, y)            f'(a)     (may use the output y when that is cheaper)
    f.second_derivative(a, y)     f''(a)    (the contractive penalty needs it)
    f.chain(a, y, dy, out=None)   dy * f'(a), the chain-rule step of a layer's backward

All are elementwise: shapes in = shapes out, dtype preserved. ``chain`` never writes into a, y
or dy, and may return dy itself (identity), so a caller must not write into its result either;
with out= it writes into that buffer.

    f.kinks                       the points a = c where f is not smooth (a tuple, () if none)

``kinks`` is for the gradient checker: a finite difference whose stencil has a pre-activation
on both sides of such a point measures neither one-sided derivative, so that entry is "not
comparable" (numpyae.teaching.gradcheck). A point counts as a kink when f, f' or f'' jumps
there, since all three enter an objective: f in every loss, f' in the contractive penalty.
Nothing reads ``kinks`` during training.
"""
from __future__ import annotations

import numpy as np


class Activation:
    """Base class: an elementwise y = f(a) with f', f'' and the fused chain-rule step (module doc)."""
    name = "activation"
    #: the points a = c where f, f' or f'' jumps (module doc); smooth activations have none
    kinks = ()

    def __call__(self, a):
        """y = f(a), elementwise."""
        raise NotImplementedError

    def derivative(self, a, y):
        """f'(a), elementwise; y = f(a) is passed in for activations whose f' is cheaper from y."""
        raise NotImplementedError

    def second_derivative(self, a, y):
        """f''(a), elementwise."""
        raise NotImplementedError

    def chain(self, a, y, dy, out=None):
        """dL/da = dy * f'(a)  (elementwise; shapes of a). Subclasses fuse it into fewer passes."""
        return np.multiply(dy, self.derivative(a, y), out=out)

    def get_config(self):
        """{"name": ..., options}: what get_activation rebuilds this activation from."""
        return {"name": self.name}

    def __repr__(self):
        args = ", ".join(f"{k}={v}" for k, v in self.get_config().items() if k != "name")
        return f"{type(self).__name__}({args})"


class Identity(Activation):
    """f(a) = a,  f' = 1,  f'' = 0."""
    name = "identity"

    def __call__(self, a):
        return a

    def derivative(self, a, y):
        return np.ones_like(a)

    def second_derivative(self, a, y):
        return np.zeros_like(a)

    def chain(self, a, y, dy, out=None):
        """f' = 1, so dL/da = dy: no pass over the data at all (out is not used)."""
        return dy


def stable_sigmoid(a):
    """1 / (1 + exp(-a)) without overflow for large |a| of either sign.

    With e = exp(-|a|) <= 1:   a >= 0:  1 / (1 + e)      a < 0:  e / (1 + e)
    The numerator "1 if a >= 0 else e" is max(e, [a >= 0]) (as 0 <= e <= 1): the same numbers
    as np.where(a >= 0, 1, e), about 8x faster (np.where is slow on unpredictable signs).
    """
    e = np.exp(-np.abs(a))
    y = np.maximum(e, a >= 0)
    y /= 1 + e
    return y


class Sigmoid(Activation):
    """f(a) = 1/(1+exp(-a)),  f' = y(1-y),  f'' = y(1-y)(1-2y).

    forward uses the identity  1/(1+exp(-a)) = (1 + tanh(a/2)) / 2 : tanh never overflows, so it
    is stable for either sign without branches, and it takes four in-place passes instead of the
    seven that stable_sigmoid needs. (Near y = 0 it is accurate to eps absolutely rather than
    relatively; the losses that need log(y) work on logits with stable_sigmoid instead.)
    """
    name = "sigmoid"

    def __call__(self, a):
        y = np.multiply(a, 0.5)   # Python floats keep float32 arrays float32
        np.tanh(y, out=y)
        y *= 0.5
        y += 0.5
        return y

    def derivative(self, a, y):
        return y * (1 - y)

    def chain(self, a, y, dy, out=None):
        """dL/da = dy * y * (1 - y), from the cached output y, in place in one array."""
        da = np.subtract(1, y, out=out)
        da *= y
        da *= dy
        return da

    def second_derivative(self, a, y):
        return y * (1 - y) * (1 - 2 * y)


class Tanh(Activation):
    """f(a) = tanh(a),  f' = 1 - y^2,  f'' = -2 y (1 - y^2)."""
    name = "tanh"

    def __call__(self, a):
        return np.tanh(a)

    def derivative(self, a, y):
        return 1 - y * y

    def second_derivative(self, a, y):
        return -2 * y * (1 - y * y)

    def chain(self, a, y, dy, out=None):
        """dL/da = dy * (1 - y^2), from the cached output y, in place in one array."""
        da = np.multiply(y, y, out=out)
        np.subtract(1, da, out=da)
        da *= dy
        return da


class ReLU(Activation):
    """f(a) = max(a, 0),  f' = [a > 0],  f'' = 0 (everywhere but the kink at 0)."""
    name = "relu"
    kinks = (0.0,)

    def __call__(self, a):
        return np.maximum(a, 0)

    def derivative(self, a, y):
        return (a > 0).astype(a.dtype)

    def second_derivative(self, a, y):
        return np.zeros_like(a)

    def chain(self, a, y, dy, out=None):
        """dL/da = dy * [a > 0]: the mask as 0.0/1.0 straight into the result, times dy."""
        if out is None:
            return np.multiply(dy, a > 0)
        np.greater(a, 0, out=out)
        out *= dy
        return out


class LeakyReLU(Activation):
    """f(a) = a if a > 0 else alpha*a,  f' = 1 or alpha,  f'' = 0 (a kink at 0)."""
    name = "leaky_relu"
    kinks = (0.0,)

    def __init__(self, alpha=0.01):
        alpha = float(alpha)
        if not (np.isfinite(alpha) and 0 <= alpha < 1):
            raise ValueError(f"alpha must lie in [0, 1), got {alpha}")
        self.alpha = alpha

    def __call__(self, a):
        return np.where(a > 0, a, a * a.dtype.type(self.alpha))

    def derivative(self, a, y):
        return np.where(a > 0, 1, self.alpha).astype(a.dtype)

    def second_derivative(self, a, y):
        return np.zeros_like(a)

    def get_config(self):
        return {"name": self.name, "alpha": self.alpha}


class ELU(Activation):
    """f(a) = a if a > 0 else alpha*(exp(a) - 1)
    f'  = 1 if a > 0 else y + alpha          (= alpha*exp(a))
    f'' = 0 if a > 0 else y + alpha

    a = 0 is a kink for the gradient checker (``kinks``). For alpha != 1, f' jumps from alpha to
    1 there: a kink of f itself. For alpha = 1, f is C1, but f'' still jumps from 1 to 0, and:
    - the contractive penalty is a function of f'(a), which then has a kink at 0;
    - even the loss alone is measured only to O(h) by a stencil that straddles 0. The
      fourth-order central difference of ELU at a = 0 is 1 - h/6, a relative error of 2e-5 at
      h = 1e-4, far above the 1e-7 of a right gradient.
    """
    name = "elu"
    kinks = (0.0,)

    def __init__(self, alpha=1.0):
        alpha = float(alpha)
        if not (np.isfinite(alpha) and alpha > 0):
            raise ValueError(f"alpha must be a finite number > 0, got {alpha}")
        self.alpha = alpha

    def __call__(self, a):
        return np.where(a > 0, a, a.dtype.type(self.alpha) * np.expm1(np.minimum(a, 0)))

    def derivative(self, a, y):
        return np.where(a > 0, 1, y + a.dtype.type(self.alpha)).astype(a.dtype)

    def second_derivative(self, a, y):
        return np.where(a > 0, 0, y + a.dtype.type(self.alpha)).astype(a.dtype)

    def get_config(self):
        return {"name": self.name, "alpha": self.alpha}


class Softplus(Activation):
    """f(a) = log(1 + exp(a)) = logaddexp(0, a),  f' = sigmoid(a),  f'' = s(1-s)."""
    name = "softplus"

    def __call__(self, a):
        return np.logaddexp(a.dtype.type(0), a)

    def derivative(self, a, y):
        return stable_sigmoid(a)

    def second_derivative(self, a, y):
        s = stable_sigmoid(a)
        return s * (1 - s)


ACTIVATIONS = {cls.name: cls for cls in (Identity, Sigmoid, Tanh, ReLU, LeakyReLU, ELU, Softplus)}
ACTIVATIONS["linear"] = Identity


def get_activation(spec) -> Activation:
    """An Activation from a name ("relu"), a config dict ({"name": "elu", "alpha": 0.5}),
    an Activation instance (returned as is) or None (identity)."""
    if spec is None:
        return Identity()
    if isinstance(spec, Activation):
        return spec
    if isinstance(spec, dict):
        spec = dict(spec)
        name = spec.pop("name", None)
        if not isinstance(name, str) or name not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {name!r}")
        try:
            return ACTIVATIONS[name](**spec)
        except TypeError as exc:
            raise TypeError(f"activation {name!r} does not take the options {sorted(spec)}: "
                            f"{exc}") from None
    if isinstance(spec, str):
        if spec not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {spec!r}")
        return ACTIVATIONS[spec]()
    raise TypeError(f"activation must be a name, a dict or an Activation, got {type(spec).__name__}")
