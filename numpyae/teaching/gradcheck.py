"""Gradient checking: compare hand-derived gradients with central finite differences.

    numerical gradient   dL/dθ_i ≈ (L(θ + h e_i) - L(θ - h e_i)) / (2h)      error O(h²)
                         (by default the fourth-order stencil, see numerical_gradient)
    relative error       |a - n| / max(|a| + |n|, tiny)       (CS231n; both zero counts as 0)
                         In the reports, tiny is the size below which float64 finite differences
                         cannot resolve 1e-7 (round-off noise / 1e-7; see numerical_gradient):
                         an analytic 1e-17 against a numeric 3e-13 is agreement, not an error.

Rules of thumb for float64: <= 1e-7 is right; 1e-7..1e-4 deserves a look (a kink
such as relu's may have been crossed); above 1e-4 the derivation is wrong.

Everything is done on a float64 deep copy of the layer or model, so the original is untouched.
Stochastic parts (noise, dropout masks, VAE epsilon) draw from np.random.Generators; the checker
snapshots every Generator the object holds and restores it before each evaluation, so every
L(θ ± h e_i) sees exactly the noise the analytic backward pass saw.

Public tools:
    numerical_gradient(f, x)          any scalar function of one float array
    relative_error(a, n)
    check_gradient(f, x, analytic)    a hand-written gradient of any scalar function
    check_layer(layer, x)             L = sum(layer(x) * R) for a fixed random R
    check_model(model, X, y=None)     the model's own loss
    check_directional(model, X)       one random direction per parameter: two forward passes each
Each check returns a GradcheckReport that prints as a table.
"""
from __future__ import annotations

import copy
import html

import numpy as np

from ..nn.parameter import unique
from ..core.checks import check_nonnegative_float
from ..core.random import as_generator, generators

TINY = np.finfo(np.float64).tiny


def relative_error(analytic, numeric, tiny=TINY):
    """Elementwise |a - n| / max(|a| + |n|, tiny)."""
    a = np.asarray(analytic, dtype=np.float64)
    n = np.asarray(numeric, dtype=np.float64)
    return np.abs(a - n) / np.maximum(np.abs(a) + np.abs(n), tiny)


def numerical_gradient(f, x, h=None, order=4, *, return_noise=False):
    """Central-difference gradient of the scalar function f() at the float array x.

    order=2 (the textbook formula, h = 1e-6 by default):
        g_i = (f(x + h e_i) - f(x - h e_i)) / 2h                                  error O(h^2)
    order=4 (the default, h = 1e-4 by default): the same central difference taken at h and 2h
    and combined so that the h^2 terms cancel (Richardson extrapolation):
        g_i = [8 (f(x + h e_i) - f(x - h e_i)) - (f(x + 2h e_i) - f(x - 2h e_i))] / 12h   error O(h^4)
    The fourth-order stencil lets h be 100x larger for the same truncation error, which cuts the
    float64 round-off (about eps |f| / h) by the same factor: small gradient entries (1e-6 next
    to a loss of 1) are then still measured to ~1e-9 relative error instead of ~1e-6.

    With return_noise=True also returns, per entry, the round-off the formula can carry:
        noise_i = (u * sum_k |c_k f_k|  +  u |x_i| * slope * sum_k |c_k|) / denominator
    with u = F_ULPS * eps (a forward pass is many sums; its result carries several ulps)
    (f_k the stencil's function values, c_k its weights; the second term is the rounding of the
    perturbed point itself when x_i +- k d falls into a coarser binade).
    A gradient entry much smaller than noise_i / 1e-7 cannot be checked to 1e-7 relative error
    by any finite difference; the checks below use that as the floor of the relative error.

    x is perturbed in place one entry at a time (and restored), so f may read it through a
    reference, e.g. a Parameter's value. Integer arrays are refused: x[i] += h would truncate.
    """
    if not isinstance(x, np.ndarray):
        raise TypeError(f"x must be a NumPy float array, got {type(x).__name__}")
    if x.dtype.kind != "f":
        raise TypeError(f"x must be a float array (float64 for checks), got dtype {x.dtype}; "
                        f"an integer array would truncate x[i] + h")
    if order not in (2, 4):
        raise ValueError(f"order must be 2 or 4, got {order!r}")
    h = default_step(order) if h is None else check_nonnegative_float(h, "h")
    if h == 0:
        raise ValueError("h must be > 0")
    # A loss computed through layers of sums carries a few ulps, not one: budget F_ULPS of them.
    eps = F_ULPS * np.finfo(np.float64).eps
    grad = np.zeros(x.shape, dtype=np.float64)
    noise = np.zeros(x.shape, dtype=np.float64)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        old = x[i]
        # The step actually taken: x[i] + h rounds to the float grid, so use the representable
        # step d = (x[i] + h) - x[i] (exact, Sterbenz); x[i] +- d and +- 2d then land on the grid
        # and the stencil stays symmetric, instead of carrying an eps*|x|/h error from rounding.
        d = float((old + h) - old)

        def at(offset):
            x[i] = old + offset
            return f()

        fp, fm = at(d), at(-d)
        # Round-off: each f value carries eps*|f|, and a point that lands in a coarser binade
        # is off by up to eps*|x|, which moves f by that times the local slope.
        shift = eps * (abs(old) + 2 * d)
        if order == 2:
            grad[i] = (fp - fm) / (2 * d)
            slope = abs(fp - fm) / (2 * d)
            noise[i] = (eps * (abs(fp) + abs(fm)) + 2 * shift * slope) / (2 * d)
        else:
            fp2, fm2 = at(2 * d), at(-2 * d)
            grad[i] = (8 * (fp - fm) - (fp2 - fm2)) / (12 * d)
            slope = max(abs(fp2 - fp), abs(fm - fm2), abs(fp - fm) / 2) / d
            noise[i] = (eps * (8 * abs(fp) + 8 * abs(fm) + abs(fp2) + abs(fm2))
                        + 18 * shift * slope) / (12 * d)
        x[i] = old
    return (grad, noise) if return_noise else grad


#: Round-off budget of one evaluation of f, in ulps of |f| (a forward pass is many sums).
F_ULPS = 8

#: The relative accuracy a correct gradient reaches in float64: an error <= 1e-7 means right.
RESOLUTION = 1e-7


def resolvable_floor(noise):
    """Smallest |a| + |n| at which round-off `noise` still allows RESOLUTION relative accuracy."""
    return np.asarray(noise) / RESOLUTION


def default_step(order):
    """h = 1e-6 for the second-order stencil, 1e-4 for the fourth-order one."""
    return 1e-6 if order == 2 else 1e-4


class FrozenRandomness:
    """Snapshot the Generators of an object; restore() puts them back to the snapshot."""

    def __init__(self, obj):
        self.generators = generators(obj)
        self.states = [g.bit_generator.state for g in self.generators]

    def restore(self):
        """Set every snapshotted Generator back to its state at construction."""
        for g, s in zip(self.generators, self.states):
            g.bit_generator.state = s


# ---- reports ----------------------------------------------------------------------------

class GradcheckRow:
    """One report row: a quantity's name and shape, its max relative error, the index where it
    occurs, and the analytic and numeric gradient entries there."""

    __slots__ = ("name", "shape", "max_error", "index", "analytic", "numeric")

    def __init__(self, name, shape, max_error, index, analytic, numeric):
        self.name, self.shape, self.max_error = name, shape, float(max_error)
        self.index, self.analytic, self.numeric = index, float(analytic), float(numeric)


class GradcheckReport:
    """Rows of (quantity, shape, max relative error, where, analytic, numeric there)."""

    def __init__(self, title, rows):
        self.title, self.rows = title, list(rows)

    @property
    def max_error(self):
        """The largest relative error over all rows (0.0 for no rows)."""
        return max((r.max_error for r in self.rows), default=0.0)

    def passed(self, tol=1e-7):
        """True if max_error <= tol."""
        return self.max_error <= tol

    def worst(self):
        """The row with the largest relative error."""
        return max(self.rows, key=lambda r: r.max_error)

    def __getitem__(self, name):
        for r in self.rows:
            if r.name == name:
                return r
        raise KeyError(f"no row {name!r}; rows are {[r.name for r in self.rows]}")

    def _cells(self):
        head = ["quantity", "shape", "max rel err", "at", "analytic", "numeric"]
        body = [[r.name, str(r.shape), f"{r.max_error:.2e}", str(r.index),
                 f"{r.analytic:+.6e}", f"{r.numeric:+.6e}"] for r in self.rows]
        return head, body

    def __str__(self):
        head, body = self._cells()
        widths = [max(len(row[i]) for row in [head] + body) for i in range(len(head))]
        line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()
        out = [self.title, line(head), line(["-" * w for w in widths])]
        out += [line(row) for row in body]
        out.append(f"max relative error {self.max_error:.2e}")
        return "\n".join(out)

    def _repr_html_(self):
        head, body = self._cells()
        th = "".join(f"<th>{html.escape(h)}</th>" for h in head)
        trs = []
        for r, row in zip(self.rows, body):
            color = "#c8f7c5" if r.max_error <= 1e-7 else ("#fff3b0" if r.max_error <= 1e-4 else "#ffc9c9")
            tds = "".join(f"<td>{html.escape(c)}</td>" for c in row)
            trs.append(f'<tr style="background:{color}">{tds}</tr>')
        return (f"<b>{html.escape(self.title)}</b><table><tr>{th}</tr>{''.join(trs)}</table>"
                f"<p>max relative error {self.max_error:.2e}</p>")

    __repr__ = __str__


def _row(name, analytic, numeric, noise=0.0):
    """One report row. Entries too small for finite differences to resolve (|a| + |n| below
    resolvable_floor(noise)) are measured against that floor instead of their own size."""
    err = relative_error(analytic, numeric, np.maximum(TINY, resolvable_floor(noise)))
    k = int(np.argmax(err)) if err.size else 0
    idx = np.unravel_index(k, err.shape) if err.ndim else ()
    idx = tuple(int(i) for i in idx)
    a = np.asarray(analytic)[idx] if err.size else 0.0
    n = np.asarray(numeric)[idx] if err.size else 0.0
    return GradcheckRow(name, tuple(np.shape(analytic)), err.max() if err.size else 0.0, idx, a, n)


def _numeric(f, x, h, order):
    return numerical_gradient(f, x, h, order, return_noise=True)


def float64_copy(obj):
    """A deep copy of a layer or model with every Parameter cast to float64: (copy, params)."""
    other = copy.deepcopy(obj)
    params = other.parameters()
    for p in params:
        p.astype(np.float64)
    return other, params


# ---- checks -----------------------------------------------------------------------------

def check_gradient(f, x, analytic, *, name="x", h=None, order=4):
    """Check any hand-written gradient: `analytic` against finite differences of f() at x.

    f takes no arguments and reads x (which is perturbed in place), e.g.
        x = np.random.default_rng(0).normal(size=(3, 4))
        report = check_gradient(lambda: np.sum(np.tanh(x)), x, 1 - np.tanh(x) ** 2)
    """
    if np.shape(analytic) != np.shape(x):
        raise ValueError(f"analytic must have x's shape {np.shape(x)}, got {np.shape(analytic)}")
    return GradcheckReport(f"gradient check of {name}", [_row(name, analytic, *_numeric(f, x, h, order))])


def check_layer(layer, x, *, h=None, order=4, rng=0, check_input=True):
    """Check a layer's backward against finite differences of L = sum(layer(x) * R).

    R is a fixed random array of the output's shape, so dL/dy = R is what backward receives.
    Checks every parameter and (if check_input) dL/dx.
    """
    layer64, _ = float64_copy(layer)
    x64 = np.array(x, dtype=np.float64)
    frozen = FrozenRandomness(layer64)
    y = layer64.forward(x64, training=True)
    R = as_generator(rng).standard_normal(y.shape)

    def loss():
        frozen.restore()
        return float(np.sum(layer64.forward(x64, training=True) * R))

    frozen.restore()
    for p in layer64.parameters():
        p.zero_grad()
    layer64.forward(x64, training=True)
    dx = layer64.backward(R.copy())
    analytic = {name: p.grad.copy() for name, p in _unique_named(layer64.named_parameters())}
    rows = [_row(name, analytic[name], *_numeric(loss, p.value, h, order))
            for name, p in _unique_named(layer64.named_parameters())]
    if check_input:
        rows.append(_row("input", dx, *_numeric(loss, x64, h, order)))
    return GradcheckReport(f"gradient check of {type(layer).__name__}", rows)


def _unique_named(named):
    seen, out = set(), []
    for name, p in named:
        if id(p) not in seen:
            seen.add(id(p))
            out.append((name, p))
    return out


def _analytic(model64, frozen, X, y):
    frozen.restore()
    model64.loss_and_grad(X, y)
    return {name: p.grad.copy() for name, p in model64.named_parameters_unique()}


def check_model(model, X, y=None, *, h=None, order=4, parameters=None):
    """Check every parameter gradient of model.loss_and_grad against the model's own loss.

    parameters: optional list of parameter names to check (default: all).
    Keep models and batches small: this costs two forward passes per parameter entry.
    """
    model64 = model.astype(np.float64)
    X64 = np.array(X, dtype=np.float64)
    frozen = FrozenRandomness(model64)
    named = model64.named_parameters_unique()
    if parameters is not None:
        unknown = set(parameters) - {n for n, _ in named}
        if unknown:
            raise ValueError(f"parameters names unknown {sorted(unknown)}; "
                             f"the model has {[n for n, _ in named]}")
        named = [(n, p) for n, p in named if n in parameters]
    analytic = _analytic(model64, frozen, X64, y)

    def loss():
        frozen.restore()
        return model64.forward_loss(X64, y, training=True)["loss"]

    rows = [_row(name, analytic[name], *_numeric(loss, p.value, h, order)) for name, p in named]
    return GradcheckReport(f"gradient check of {type(model).__name__}", rows)


def check_directional(model, X, y=None, *, h=None, order=4, rng=0):
    """Fast check for large models: for each parameter, one random unit direction u.

    numeric = d/dt L(θ + t u) at t = 0, by the same central differences (2 or 4 forward passes)
    analytic = <grad, u>                          (from one backward pass)
    """
    model64 = model.astype(np.float64)
    X64 = np.array(X, dtype=np.float64)
    frozen = FrozenRandomness(model64)
    analytic = _analytic(model64, frozen, X64, y)
    rng = as_generator(rng)

    def loss():
        frozen.restore()
        return model64.forward_loss(X64, y, training=True)["loss"]

    h = default_step(order) if h is None else h
    rows = []
    for name, p in model64.named_parameters_unique():
        u = rng.standard_normal(p.value.shape)
        u /= np.linalg.norm(u)
        base = p.value.copy()
        t = np.zeros(1)  # the step along u, as a 1-element array numerical_gradient can perturb

        def loss_along_u():
            p.value[...] = base + t[0] * u
            return loss()

        numeric, noise = numerical_gradient(loss_along_u, t, h, order, return_noise=True)
        p.value[...] = base
        rows.append(_row(name, np.vdot(analytic[name], u), numeric[0], noise[0]))
    return GradcheckReport(f"directional gradient check of {type(model).__name__}", rows)
