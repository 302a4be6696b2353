"""Layers with explicit forward and backward passes: Dense, TiedDense, Sequential, TopK.

The layer protocol (ARCHITECTURE.md):

    layer.forward(x, *, training=True) -> y        caches what backward needs on the layer
    layer.backward(dy, *, input_grad=True) -> dx   ADDS into each Parameter.grad; returns dL/dx,
                                                   or None with input_grad=False (x is data)
    layer.named_parameters() -> [(name, Parameter)]

Batch is the first axis. backward follows the forward it belongs to. A layer never writes into
an array it was given or has returned; arrays that never leave a method live in its Workspace.

A layer with a piecewise part (a kink of its activation, a selection such as TopK's) also has,
for the gradient checker only (nothing calls them in training):

    layer.kink_state() -> {kink name: array}    which side of each kink every element lies on
                                                after the last forward (relu: a > 0; TopK: its mask)
    layer.kink_margin() -> {kink name: array}   |distance to that kink| per element, same names

A finite difference during which some kink_state changes has crossed a kink: it measures
neither one-sided derivative, and the checker reports that entry as not comparable.
"""
from __future__ import annotations

import numpy as np

from ..core.checks import check_array, check_dtype, check_positive_int
from ..core.random import as_generator
from ..core.registry import register
from .activations import get_activation
from .initializers import default_init_for, initialize
from .parameter import Parameter, unique


class Workspace:
    """Scratch arrays of one layer, reused from step to step.

    get(name, shape, dtype) returns the same array as long as shape and dtype match the last
    request, else a new one. Only for arrays no caller ever sees: whatever a layer returns or
    caches on itself is a new array, so that it cannot change under the caller's feet.
    """

    def __init__(self):
        self._arrays = {}

    def get(self, name, shape, dtype, fill=None):
        """The buffer `name`; a new one (filled with `fill` if given) if shape or dtype changed."""
        arr = self._arrays.get(name)
        if arr is None or arr.shape != shape or arr.dtype != dtype:
            arr = self._arrays[name] = np.empty(shape, dtype=dtype)
            if fill is not None:
                arr.fill(fill)
        return arr


def _workspace(layer):
    """layer's Workspace (made on first use, so layers built without __init__ get one too)."""
    work = layer.__dict__.get("_work")
    if work is None:
        work = layer._work = Workspace()
    return work


def batch_sum(layer, da):
    """sum over the batch of da  (n,), computed as the matrix-vector product 1^T da with a
    vector of ones kept in the layer's workspace (BLAS: 2-3x faster than da.sum(axis=0))."""
    ones = _workspace(layer).get("ones", (da.shape[0],), da.dtype, fill=1)
    return ones @ da


def activation_chain(layer, dy):
    """da = dy * f'(a) for a Dense-like layer, into the layer's reusable da buffer."""
    a = layer.a
    if dy.shape != a.shape:
        raise ValueError(f"dy must have the layer output's shape {a.shape}, got {dy.shape}")
    out = None
    if layer.activation.name != "identity":      # identity returns dy itself
        out = _workspace(layer).get("da", a.shape, np.result_type(dy, a))
    return layer.activation.chain(a, layer.y, dy, out=out)


def _kink_name(activation, c):
    return f"{activation.name} at a = {c:g}"


def activation_kink_state(layer):
    """For a Dense-like layer after forward: {"relu at a = 0": a > 0, ...}, one bool array
    (B, n_out) per kink c of its activation (a > c); {} for a smooth activation or before any
    forward. For the gradient checker only."""
    act, a = layer.activation, getattr(layer, "a", None)
    if a is None:
        return {}
    return {_kink_name(act, c): a > c for c in getattr(act, "kinks", ())}


def activation_kink_margin(layer):
    """|a - c| (B, n_out) per kink c of the layer's activation, named as activation_kink_state."""
    act, a = layer.activation, getattr(layer, "a", None)
    if a is None:
        return {}
    return {_kink_name(act, c): np.abs(a - c) for c in getattr(act, "kinks", ())}


class Layer:
    """Base class. Subclasses override forward/backward and, if they own weights, named_parameters."""

    def named_parameters(self):
        """[(name, Parameter)] of this layer (a tied weight appears under each user)."""
        return []

    def parameters(self):
        """The Parameters of this layer, each once."""
        return unique(p for _, p in self.named_parameters())

    def forward(self, x, *, training=True):
        """y = layer(x); caches what backward needs."""
        raise NotImplementedError

    def backward(self, dy, *, input_grad=True):
        """Adds dL/dθ into every Parameter.grad; returns dL/dx (None with input_grad=False)."""
        raise NotImplementedError

    def __call__(self, x, *, training=False):
        """forward() on user input: x is checked (2-D, real, finite, the layer's input size) and
        cast to the layer's dtype first. Models call forward() directly (already checked)."""
        params = self.parameters()
        dtype = params[0].value.dtype.type if params else None
        x = check_array(x, "x", ndim=2, n_features=input_dim(self), dtype=dtype)
        return self.forward(x, training=training)

    def get_config(self, ctx):
        """Constructor arguments as JSON-able values (nested objects through ctx.serialize)."""
        return {}

    def __repr__(self):
        return f"{type(self).__name__}()"


@register
class Dense(Layer):
    """Fully connected layer  y = f(x W + b).

    Shapes:  x (B, n_in)   W (n_in, n_out)   b (n_out,)   a, y (B, n_out)

    Backward, given dy = dL/dy (B, n_out) and optionally da = a further gradient with respect
    to the pre-activation a (B, n_out), from a penalty on a that joins the chain rule here:
        g  = dy * f'(a) + da            (B, n_out)   dL/da in total
        dW += x^T g                     (n_in, n_out)
        db += sum over the batch of g   (n_out,)
        dx  = g W^T                     (B, n_in)    (not computed with input_grad=False)

    After forward, x is the input it was given, a (B, n_out) the pre-activation and y = f(a)
    the output (for the identity, y is a). All three are left untouched by later calls.
    """

    def __init__(self, n_in, n_out, activation="identity", *, init=None, rng=None,
                 dtype=np.float32):
        self.n_in = check_positive_int(n_in, "n_in")
        self.n_out = check_positive_int(n_out, "n_out")
        self.activation = get_activation(activation)
        # None is the default; anything else (0, "") goes to initialize(), which names it
        self.init = default_init_for(self.activation.name) if init is None else init
        dtype = check_dtype(dtype)
        self.W = Parameter(initialize(self.init, self.n_in, self.n_out, as_generator(rng), dtype))
        self.b = Parameter(np.zeros(self.n_out, dtype=dtype))
        self.x = self.a = self.y = None
        self._work = Workspace()

    def named_parameters(self):
        return [("W", self.W), ("b", self.b)]

    def forward(self, x, *, training=True):
        if x.ndim != 2 or x.shape[1] != self.n_in:
            raise ValueError(f"Dense expects input of shape (batch, {self.n_in}), got {x.shape}")
        self.x = x
        a = x @ self.W.value
        a += self.b.value            # in place: one pass, no second (B, n_out) temporary
        self.a = a
        self.y = self.activation(a)
        return self.y

    def backward(self, dy, *, input_grad=True, da=None):
        g = activation_chain(self, dy)
        if da is not None:
            g = g + da
        self.W.grad += self.x.T @ g
        self.b.grad += batch_sum(self, g)
        return g @ self.W.value.T if input_grad else None

    def kink_state(self):
        """{"relu at a = 0": a > 0 (B, n_out)} for each kink of f after the last forward; {} for
        a smooth f. For the gradient checker (module doc); never called in training."""
        return activation_kink_state(self)

    def kink_margin(self):
        """{"relu at a = 0": |a| (B, n_out)}: each pre-activation's distance to each kink of f."""
        return activation_kink_margin(self)

    def get_config(self, ctx):
        return {"n_in": self.n_in, "n_out": self.n_out,
                "activation": self.activation.get_config(), "init": self.init}

    def __repr__(self):
        return f"Dense({self.n_in}, {self.n_out}, activation={self.activation.name!r})"


@register
class TiedDense(Layer):
    """A decoder layer that reuses a Dense layer's weights transposed:  y = f(x W_s^T + c).

    W_s (n_in_s, n_out_s) is the *same* Parameter as source.W; c (n_in_s,) is this layer's own bias.
    Shapes:  x (B, n_out_s)   a, y (B, n_in_s)

    Backward, given dy (B, n_in_s):
        da = dy * f'(a)                 (B, n_in_s)
        dW_s += da^T x                  (n_in_s, n_out_s)   (= (x^T da)^T, added to the shared grad)
        dc += sum over the batch of da  (n_in_s,)
        dx  = da W_s                    (B, n_out_s)
    Because backward adds into the shared Parameter, W_s.grad ends up as the sum of the encoder's
    and the decoder's contributions, which is the gradient of the loss with respect to the tie.
    """

    def __init__(self, source, activation="identity", *, dtype=None):
        if not isinstance(source, Dense):
            raise TypeError(f"source must be a Dense layer to tie to, got {type(source).__name__}")
        self.source = source
        self.n_in, self.n_out = source.n_out, source.n_in
        self.activation = get_activation(activation)
        self.b = Parameter(np.zeros(self.n_out, dtype=dtype or source.W.value.dtype))
        self.x = self.a = self.y = None
        self._work = Workspace()

    @property
    def W(self):
        """The tied weight: the source layer's W Parameter itself."""
        return self.source.W

    def named_parameters(self):
        return [("W", self.source.W), ("b", self.b)]

    def forward(self, x, *, training=True):
        if x.ndim != 2 or x.shape[1] != self.n_in:
            raise ValueError(f"TiedDense expects input of shape (batch, {self.n_in}), got {x.shape}")
        self.x = x
        a = x @ self.source.W.value.T
        a += self.b.value
        self.a = a
        self.y = self.activation(a)
        return self.y

    def backward(self, dy, *, input_grad=True):
        da = activation_chain(self, dy)
        self.source.W.grad += da.T @ self.x
        self.b.grad += batch_sum(self, da)
        return da @ self.source.W.value if input_grad else None

    def kink_state(self):
        """{"relu at a = 0": a > 0 (B, n_in_s)} for each kink of f after the last forward; {}
        for a smooth f. For the gradient checker (module doc); never called in training."""
        return activation_kink_state(self)

    def kink_margin(self):
        """{"relu at a = 0": |a| (B, n_in_s)}: each pre-activation's distance to each kink of f."""
        return activation_kink_margin(self)

    def get_config(self, ctx):
        return {"source": ctx.serialize(self.source), "activation": self.activation.get_config()}

    def __repr__(self):
        return f"TiedDense({self.n_in}, {self.n_out}, activation={self.activation.name!r}, tied)"


@register
class Sequential(Layer):
    """Layers applied in order: forward left to right, backward right to left (chain rule).

    With input_grad=False (the stack's input is data) backward stops at the first layer that
    has parameters, and asks it for its parameter gradients only.
    """

    def __init__(self, layers):
        layers = list(layers)
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise TypeError(f"layers[{i}] must be a Layer, got {type(layer).__name__}")
        self.layers = layers

    def named_parameters(self):
        return [(f"{i}.{name}", p) for i, layer in enumerate(self.layers)
                for name, p in layer.named_parameters()]

    def forward(self, x, *, training=True):
        for layer in self.layers:
            x = layer.forward(x, training=training)
        return x

    def backward(self, dy, *, input_grad=True):
        return backward_through(self.layers, dy, input_grad=input_grad)

    def __len__(self):
        return len(self.layers)

    def __getitem__(self, i):
        return self.layers[i]

    def __iter__(self):
        return iter(self.layers)

    def get_config(self, ctx):
        return {"layers": [ctx.serialize(layer) for layer in self.layers]}

    def __repr__(self):
        inner = ",\n  ".join(repr(layer) for layer in self.layers)
        return f"Sequential([\n  {inner}\n])"


def backward_through(layers, dy, *, input_grad=True):
    """Backward through `layers` (given in forward order), last layer first.

    With input_grad=False the layers' input is data: the layers below the lowest one with
    parameters are not visited, and that one computes no dx. Returns dx, or None."""
    layers = list(layers)
    if not input_grad:
        first = next((i for i, layer in enumerate(layers) if layer.named_parameters()), None)
        if first is None:
            return None
        layers = layers[first:]
    for i in range(len(layers) - 1, -1, -1):
        dy = layers[i].backward(dy, input_grad=input_grad or i > 0)
    return dy


def _sublayers(layer):
    return getattr(layer, "layers", None)


def flatten(layer):
    """The leaf layers of a (possibly nested) Sequential, in forward order."""
    subs = _sublayers(layer)
    if subs is None:
        return [layer]
    return [leaf for sub in subs for leaf in flatten(sub)]


def input_dim(layer):
    """Number of input features of a layer stack (first layer that declares n_in), or None."""
    subs = _sublayers(layer)
    if subs is None:
        return getattr(layer, "n_in", None)
    for sub in subs:
        n = input_dim(sub)
        if n is not None:
            return n
    return None


def output_dim(layer):
    """Number of output features of a layer stack (last layer that declares n_out), or None."""
    subs = _sublayers(layer)
    if subs is None:
        return getattr(layer, "n_out", None)
    for sub in reversed(subs):
        n = output_dim(sub)
        if n is not None:
            return n
    return None


@register
class TopK(Layer):
    """k-sparse code layer (Makhzani & Frey 2013, "k-Sparse Autoencoders", ICLR 2014): keep the
    K largest entries of each row, set the others to 0.

        y_bj = z_bj * m_bj,   m_bj = 1 if z_bj is among the K largest of row b, else 0
        K = k                              in training   (forward(x, training=True))
        K = min(n, floor(alpha * k))       at inference  (forward(x, training=False))
    Shapes:  z, m, y (B, n)

    alpha >= 1 (default 1: the same k in both modes). Makhzani & Frey train with k and encode
    with the alpha*k largest units, alpha >= 1 chosen on validation data (their Section 2.2).
    k is an attribute a schedule may change between steps (KSparseAutoencoder lowers it during
    training); it must stay <= n.

    Backward, given dy (B, n): for a fixed support the map is linear and diagonal, so
        dz = dy * m        (B, n)
    with m the mask of the forward it follows (K = k or alpha*k, whichever that forward kept):
    the gradient flows only through the kept units. The support changes (a kink) where the K-th
    and (K+1)-th largest entries of a row tie. The gradient checker sees it through
    kink_state() (the mask) and kink_margin() (how far each entry is from changing the support),
    both for the K of the last forward, and reports a finite difference that changes the
    support as not comparable. Ties are broken by np.argpartition; exactly K entries are kept
    per row.
    """

    def __init__(self, k, *, alpha=1.0):
        self.k = check_positive_int(k, "k")
        if isinstance(alpha, (bool, np.bool_)) or not isinstance(
                alpha, (int, float, np.integer, np.floating)):
            raise TypeError(f"alpha must be a real number >= 1, got {type(alpha).__name__} "
                            f"{alpha!r}")
        if not np.isfinite(alpha) or alpha < 1:
            raise ValueError(f"alpha must be a finite number >= 1 (inference keeps the "
                             f"alpha*k largest units), got {float(alpha)}")
        self.alpha = float(alpha)
        self.mask = None
        self._z = None
        self._kept = None

    def kept(self, n, *, training=True):
        """K, the number of entries kept per row of n units: k in training, min(n, floor(alpha
        k)) at inference (alpha * k is rounded down; a product a hair below an integer, such as
        2.3 * 10 = 22.999..., counts as that integer)."""
        if training:
            return self.k
        return min(int(n), int(np.floor(self.alpha * self.k + 1e-9)))

    @staticmethod
    def select(z, k):
        """The column indices (B, k) of the k largest entries of each row of z (B, n), in no
        particular order (np.argpartition; a tie is broken arbitrarily, exactly k per row)."""
        n = z.shape[1]
        return np.argpartition(z, n - k, axis=1)[:, n - k:]

    def forward(self, x, *, training=True):
        """y = z * m, keeping the K = kept(n, training=training) largest entries of each row of
        x (B, n); caches the mask (and a reference to x, for kink_margin)."""
        if x.ndim != 2:
            raise ValueError(f"TopK expects input of shape (batch, units), got {x.shape}")
        if self.k > x.shape[1]:
            raise ValueError(f"k must be <= the number of units {x.shape[1]}, got k={self.k}")
        kept = self.kept(x.shape[1], training=training)
        mask = np.zeros(x.shape, dtype=bool)
        np.put_along_axis(mask, self.select(x, kept), True, axis=1)
        self.mask = mask
        self._z = x                    # a reference, no copy: kink_margin reads it
        self._kept = kept
        return np.where(mask, x, x.dtype.type(0))

    def backward(self, dy, *, input_grad=True):
        """dz = dy * m, the mask of the last forward (class doc); None with input_grad=False."""
        return np.where(self.mask, dy, dy.dtype.type(0)) if input_grad else None

    def _kink_name(self):
        kept = getattr(self, "_kept", None)
        return f"top-{self.k if kept is None else kept} selection"

    def kink_state(self):
        """{"top-K selection": m (B, n) bool}, the kept set of the last forward ({} before any),
        named by that forward's K (k in training, alpha*k at inference). For the gradient
        checker (module doc); never called in training."""
        return {} if self.mask is None else {self._kink_name(): self.mask}

    def kink_margin(self):
        """How far each z_bj is from changing its row's kept set, (B, n), for the K of the last
        forward (k in training, alpha*k at inference):
            kept:     z_bj - z_b(K+1)      (the largest dropped entry of row b)
            dropped:  z_b(K) - z_bj        (the smallest kept entry of row b)
        The row's smallest margin is the gap z_b(K) - z_b(K+1); inf when K = n (nothing dropped)."""
        z, m = getattr(self, "_z", None), self.mask
        if z is None or m is None:
            return {}
        z = np.asarray(z, dtype=np.float64)
        smallest_kept = np.where(m, z, np.inf).min(axis=1, keepdims=True)
        largest_dropped = np.where(m, -np.inf, z).max(axis=1, keepdims=True)
        return {self._kink_name(): np.where(m, z - largest_dropped, smallest_kept - z)}

    def get_config(self, ctx):
        """{"k": k, "alpha": alpha}."""
        return {"k": self.k, "alpha": self.alpha}

    def __repr__(self):
        return f"TopK(k={self.k})" if self.alpha == 1 else f"TopK(k={self.k}, alpha={self.alpha:g})"
