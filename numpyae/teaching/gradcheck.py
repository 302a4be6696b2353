"""Gradient checking: compare hand-derived gradients with central finite differences.

    numerical gradient   dL/dθ_i ≈ (L(θ + h e_i) - L(θ - h e_i)) / (2h)      error O(h²)
                         (by default the fourth-order stencil, see numerical_gradient)
    relative error       |a - n| / max(|a| + |n|, tiny)       (CS231n; both zero counts as 0)
                         In the reports, tiny is the size below which float64 finite differences
                         cannot resolve 1e-7 (round-off noise / 1e-7; see numerical_gradient):
                         an analytic 1e-17 against a numeric 3e-13 is agreement, not an error.

Rules of thumb for float64: <= 1e-7 is right; above 1e-4 the derivation is wrong.

Kinks. A piecewise function (relu, leaky relu, |h| in the L1 penalty, TopK's selection, a clip)
has points where its derivative jumps. A stencil that straddles one measures a mix of both
one-sided slopes, which is neither the analytic gradient nor a sign that it is wrong. Every
object with a piecewise part says on which side of each kink its elements lie after its last
forward, ``obj.kink_state() -> {name: array}``, and how far they are from it,
``obj.kink_margin()`` (ARCHITECTURE.md; a Dense layer's comes from its activation's ``kinks``).
The checker (KinkWatch) records these states at the unperturbed point and compares them after
every evaluation of a stencil. An entry whose stencil changes one is measured again with the
step divided by 10 (KINK_RETRIES times); if it still crosses, it is *not comparable*: reported
apart, with its count and the kink it crosses, and never counted as an error. The verdict
(max_error, passed()) rests on the comparable entries. A wrong derivative is still caught: it
is wrong on the entries that do not cross a kink as well.

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
Each check returns a GradcheckReport that prints as a table (and as HTML in a notebook).
Arguments are checked before any work: a numpyae model or layer, real finite non-empty data of
the model's feature count, h finite > 0, order 2 or 4.
"""
from __future__ import annotations

import copy
import html
import numbers

import numpy as np

from ..core.checks import all_finite, check_array, check_nonnegative_float
from ..core.random import as_generator, generators
from ..models.base import Model
from ..nn.layers import Layer, input_dim
from ..nn.parameter import Parameter

TINY = np.finfo(np.float64).tiny


def relative_error(analytic, numeric, tiny=TINY):
    """Elementwise |a - n| / max(|a| + |n|, tiny)."""
    a = np.asarray(analytic, dtype=np.float64)
    n = np.asarray(numeric, dtype=np.float64)
    return np.abs(a - n) / np.maximum(np.abs(a) + np.abs(n), tiny)


def numerical_gradient(f, x, h=None, order=4, *, return_noise=False, watch=None):
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

    watch: an optional KinkWatch. f is then evaluated once at x first (the reference kink
    states), and after every evaluation the watch looks whether a kink was crossed. An entry
    whose stencil crosses one is measured again with the step divided by 10, up to KINK_RETRIES
    times; an entry that still crosses is marked in watch.not_comparable (module doc).
    """
    if not isinstance(x, np.ndarray):
        raise TypeError(f"x must be a NumPy float array, got {type(x).__name__}")
    if x.dtype.kind != "f":
        raise TypeError(f"x must be a float array (float64 for checks), got dtype {x.dtype}; "
                        f"an integer array would truncate x[i] + h")
    order = check_order(order)
    h = check_step(h, order)
    with np.errstate(over="ignore", invalid="ignore"):
        lost = (x + h) - x == 0          # x[i] + h rounds back to x[i]: no step at all
    if np.any(lost):
        i = tuple(int(k) for k in np.argwhere(lost)[0])
        raise ValueError(f"h = {h:g} is too small for x[{', '.join(map(str, i))}] = "
                         f"{float(x[i]):g}: x + h rounds back to x in {x.dtype}")
    # A loss computed through layers of sums carries a few ulps, not one: budget F_ULPS of them.
    eps = F_ULPS * np.finfo(np.float64).eps
    grad = np.zeros(x.shape, dtype=np.float64)
    noise = np.zeros(x.shape, dtype=np.float64)
    if watch is not None:
        watch.start(x.shape, f)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        old = x[i]
        step, tries = h, 0
        while True:
            if watch is not None:
                watch.begin_entry()
            grad[i], noise[i] = _stencil(f, x, i, old, step, order, eps, watch)
            if watch is None or not watch.entry_crossed() or tries == KINK_RETRIES:
                break
            step, tries = step / 10, tries + 1
            if float((old + step) - old) == 0:   # no smaller step is representable at x[i]
                break
        x[i] = old
        if watch is not None:
            watch.end_entry(i, smaller_step=tries > 0)
    return (grad, noise) if return_noise else grad


def _stencil(f, x, i, old, h, order, eps, watch):
    """(gradient, round-off) of one entry i by the stencil of numerical_gradient with step h."""
    # The step actually taken: x[i] + h rounds to the float grid, so use the representable
    # step d = (x[i] + h) - x[i] (exact, Sterbenz); x[i] +- d and +- 2d then land on the grid
    # and the stencil stays symmetric, instead of carrying an eps*|x|/h error from rounding.
    d = float((old + h) - old)

    def at(offset):
        x[i] = old + offset
        value = f()
        if watch is not None:
            watch.observe()
        return value

    fp, fm = at(d), at(-d)
    # Round-off: each f value carries eps*|f|, and a point that lands in a coarser binade
    # is off by up to eps*|x|, which moves f by that times the local slope.
    shift = eps * (abs(old) + 2 * d)
    if order == 2:
        slope = abs(fp - fm) / (2 * d)
        return (fp - fm) / (2 * d), (eps * (abs(fp) + abs(fm)) + 2 * shift * slope) / (2 * d)
    fp2, fm2 = at(2 * d), at(-2 * d)
    slope = max(abs(fp2 - fp), abs(fm - fm2), abs(fp - fm) / 2) / d
    return ((8 * (fp - fm) - (fp2 - fm2)) / (12 * d),
            (eps * (8 * abs(fp) + 8 * abs(fm) + abs(fp2) + abs(fm2)) + 18 * shift * slope) / (12 * d))


#: How often an entry whose stencil crosses a kink is measured again with the step / 10.
KINK_RETRIES = 2


def check_order(order):
    """order as 2 or 4 (the stencils numerical_gradient knows), or a clear error."""
    if isinstance(order, bool) or not isinstance(order, numbers.Integral):
        raise TypeError(f"order must be the int 2 or 4, got {type(order).__name__} {order!r}")
    if order not in (2, 4):
        raise ValueError(f"order must be 2 or 4, got {order!r}")
    return int(order)


#: The steps accepted. Above MAX_STEP a difference quotient measures a secant, not a slope;
#: below MIN_STEP float64 round-off (eps |f| / h > 1e-4 |f|) swamps any difference.
MIN_STEP, MAX_STEP = 1e-12, 0.1


def check_step(h, order):
    """h as a float in [MIN_STEP, MAX_STEP] (default_step(order) for None), or a clear error."""
    if h is None:
        return default_step(order)
    h = check_nonnegative_float(h, "h")
    if not MIN_STEP <= h <= MAX_STEP:
        raise ValueError(f"h must be a finite number in [{MIN_STEP:g}, {MAX_STEP:g}] (a small "
                         f"step; the default is {default_step(order):g} for order {order}), "
                         f"got {h:g}")
    return h


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


# ---- kinks ------------------------------------------------------------------------------

#: What walk() does not look inside: data, numbers, parameters, random generators.
LEAVES = (np.ndarray, np.generic, str, bytes, int, float, complex, bool, type(None), Parameter,
          np.random.Generator, np.random.BitGenerator)


def members(obj):
    """(name, value) pairs of obj, children first in the order the object declares them."""
    items = []
    if hasattr(obj, "named_children") and callable(obj.named_children):
        try:
            items.extend(obj.named_children())
        except NotImplementedError:
            pass
    layers = getattr(obj, "layers", None)
    if isinstance(layers, (list, tuple)):
        items.extend((str(i), layer) for i, layer in enumerate(layers))
    if isinstance(obj, dict):
        items.extend((str(k), v) for k, v in obj.items())
    elif isinstance(obj, (list, tuple)):
        items.extend((str(i), v) for i, v in enumerate(obj))
    elif hasattr(obj, "__dict__"):
        items.extend((k, v) for k, v in vars(obj).items() if k != "layers")
    return items


def walk(root):
    """[(dotted name, object)] for every object reachable from root, root first (named "").

    Names follow the model's own naming (named_children, Sequential indices, attributes), so a
    model's first encoder layer is "encoder.0". Each object appears once, under the first name
    it is reached by; arrays, numbers, Parameters and Generators are not entered.
    """
    found, seen = [], set()

    def visit(obj, name):
        if isinstance(obj, LEAVES) or id(obj) in seen or isinstance(obj, type):
            return
        if callable(obj) and not hasattr(obj, "__dict__"):
            return  # builtins, bound methods
        seen.add(id(obj))
        found.append((name, obj))
        for key, value in members(obj):
            visit(value, f"{name}.{key}" if name else key)

    visit(root, "")
    return found


class KinkWatch:
    """Watches the kinks of every object reachable from root that has kink_state() (module doc).

    name: what to call root in the notes ("encoder.0"); its parts are then "encoder.0.<attr>".
    Without a name, root's parts go by their own names ("encoder.0") and root by its class.

    numerical_gradient(..., watch=w) drives it: start(shape, f) evaluates f at the unperturbed
    point and keeps every kink_state() and kink_margin() there; begin_entry() before an entry's
    stencil, observe() after each evaluation, end_entry(i) after the entry. Afterwards:
        not_comparable   bool array of x's shape: the entries whose stencil crossed a kink at
                         every step tried
        crossings        {kink label: [number of those entries, closest margin or None]}, the
                         label "encoder.0's relu at a = 0", the margin the smallest kink_margin()
                         at the reference point of an element whose side changed
        n_smaller_step   entries measured with a smaller step to stay off a kink
    """

    def __init__(self, root, name=None):
        self.sources = []
        for path, obj in walk(root):
            if callable(getattr(type(obj), "kink_state", None)):   # a method, not data
                if path == "":
                    owner = name or type(root).__name__
                else:
                    owner = f"{name}.{path}" if name else path
                self.sources.append((owner, obj))
        self._watched = []   # [(owner, obj, [(key, reference, dtype, bytes)], margins)]
        self.not_comparable, self.crossings, self.n_smaller_step = None, {}, 0
        self._entry = {}

    def start(self, shape, f):
        """Reset the records for an array of `shape`; evaluate f() at the unperturbed point and
        keep the kink states and margins there as the reference."""
        self.not_comparable = np.zeros(shape, dtype=bool)
        self.crossings, self.n_smaller_step, self._entry = {}, 0, {}
        if not self.sources:
            return
        f()
        self._watched = []
        for owner, obj in self.sources:
            refs = [(key, np.array(v, copy=True)) for key, v in obj.kink_state().items()]
            if not refs:
                continue
            margins = dict(obj.kink_margin()) if callable(getattr(obj, "kink_margin", None)) else {}
            self._watched.append((owner, obj, [(k, r, r.dtype, r.tobytes()) for k, r in refs],
                                  margins))

    def begin_entry(self):
        """Forget the crossings seen so far for the current entry (a new stencil begins)."""
        self._entry = {}

    def observe(self):
        """Compare every kink state now with the reference; remember the kinks crossed."""
        for owner, obj, refs, margins in self._watched:
            state = obj.kink_state()
            for key, r, dtype, r_bytes in refs:
                now = state.get(key)
                same_shape = isinstance(now, np.ndarray) and now.shape == r.shape
                # the bytes of a small array compare faster than np.array_equal's several passes
                if same_shape and (now.tobytes() == r_bytes if now.dtype == dtype
                                   else np.array_equal(now, r)):
                    continue
                closest = None
                m = margins.get(key)
                if same_shape and m is not None and np.shape(m) == r.shape:
                    closest = float(np.min(np.asarray(m)[now != r]))
                label = f"{owner}'s {key}"
                before = self._entry.get(label)
                self._entry[label] = closest if before is None else \
                    (before if closest is None else min(before, closest))

    def entry_crossed(self):
        """True if the current entry's stencil has crossed a kink."""
        return bool(self._entry)

    def end_entry(self, index, smaller_step=False):
        """Record the current entry: not comparable if its stencil crossed a kink."""
        if self._entry:
            self.not_comparable[index] = True
            for label, closest in self._entry.items():
                rec = self.crossings.setdefault(label, [0, None])
                rec[0] += 1
                if closest is not None:
                    rec[1] = closest if rec[1] is None else min(rec[1], closest)
        elif smaller_step:
            self.n_smaller_step += 1


def kink_watch(root, name=None):
    """A KinkWatch over root, or None if nothing reachable from root has a kink_state()."""
    watch = KinkWatch(root, name)
    return watch if watch.sources else None


# ---- reports ----------------------------------------------------------------------------

def kink_note(name, n_kink, n_entries, crossings, n_smaller_step=0):
    """The sentence a report gives for a quantity with entries near a kink, e.g.
    "encoder.0.W: 3 of 2048 entries cross the kink of encoder.0's relu at a = 0 (closest
    3.1e-05 away): not comparable"; "" if there is nothing to say."""
    parts = []
    if n_kink:
        several = len(crossings) > 1

        def detail(count, closest):
            bits = [f"{count} {'entry' if count == 1 else 'entries'}"] if several else []
            bits += [f"closest {closest:.1e} away"] if closest is not None else []
            return f" ({', '.join(bits)})" if bits else ""

        kinks = "; ".join(f"{label}{detail(c, m)}" for label, (c, m) in crossings.items())
        what = f"a kink: {kinks}" if several else f"the kink of {kinks}" if kinks else "a kink"
        verb = "entry crosses" if n_kink == 1 else "entries cross"
        parts.append(f"{name}: {n_kink} of {n_entries} {verb} {what}: not comparable")
    if n_smaller_step:
        parts.append(f"{name}: {n_smaller_step} "
                     f"{'entry' if n_smaller_step == 1 else 'entries'} near a kink measured "
                     f"with a smaller step, which stays on one side of it")
    return "\n".join(parts)


class GradcheckRow:
    """One report row: a quantity's name and shape, its max relative error over the comparable
    entries, the index where it occurs (None if no entry is comparable), the analytic and
    numeric gradient entries there, and the entries whose stencil crosses a kink:
        n_entries        the number of entries checked
        n_kink           how many of them are not comparable (their stencil crosses a kink)
        crossings        {kink label: [entries, closest margin]} (KinkWatch.crossings)
        n_smaller_step   entries measured with a smaller step to stay off a kink
    """

    __slots__ = ("name", "shape", "max_error", "index", "analytic", "numeric", "n_entries",
                 "n_kink", "crossings", "n_smaller_step")

    def __init__(self, name, shape, max_error, index, analytic, numeric, n_entries=1, n_kink=0,
                 crossings=None, n_smaller_step=0):
        self.name, self.shape, self.max_error = name, shape, float(max_error)
        self.index, self.analytic, self.numeric = index, float(analytic), float(numeric)
        self.n_entries, self.n_kink = int(n_entries), int(n_kink)
        self.crossings = dict(crossings or {})
        self.n_smaller_step = int(n_smaller_step)

    @property
    def kink_note(self):
        """The row's kink sentence (see kink_note()), "" if no entry is near a kink."""
        return kink_note(self.name, self.n_kink, self.n_entries, self.crossings,
                         self.n_smaller_step)


#: The colours of the verdicts: (background, text) for table rows, text for a coloured word.
COLORS = {"right": ("#c8f7c5", "#0b3d0b"), "look": ("#fff3b0", "#4d3800"),
          "wrong": ("#ffc9c9", "#5c0000"), "kink": ("#e4e2f7", "#2a2060")}


def verdict(error):
    """"right" (<= 1e-7), "look" (<= 1e-4) or "wrong": the rules of thumb of the module doc."""
    return "right" if error <= 1e-7 else ("look" if error <= 1e-4 else "wrong")


class GradcheckReport:
    """Rows of (quantity, shape, max relative error, where, analytic, numeric there, entries
    not comparable). max_error and passed() rest on the comparable entries; n_kink counts the
    entries whose stencil crosses a kink, and kink_notes says which kink (module doc)."""

    def __init__(self, title, rows):
        self.title, self.rows = title, list(rows)

    @property
    def max_error(self):
        """The largest relative error over all rows' comparable entries (0.0 for no rows)."""
        return max((r.max_error for r in self.rows), default=0.0)

    @property
    def n_kink(self):
        """The number of entries not comparable because their stencil crosses a kink."""
        return sum(r.n_kink for r in self.rows)

    @property
    def kink_notes(self):
        """One sentence per row with entries near a kink (GradcheckRow.kink_note)."""
        return [r.kink_note for r in self.rows if r.kink_note]

    def passed(self, tol=1e-7):
        """True if max_error <= tol (entries not comparable are not errors)."""
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
        head = ["quantity", "shape", "max rel err", "at", "analytic", "numeric", "kinks"]
        body = []
        for r in self.rows:
            none = r.index is None
            body.append([r.name, str(r.shape), "-" if none else f"{r.max_error:.2e}",
                         "-" if none else str(r.index),
                         "-" if none else f"{r.analytic:+.6e}",
                         "-" if none else f"{r.numeric:+.6e}",
                         f"{r.n_kink} of {r.n_entries}" if r.n_kink else "0"])
        return head, body

    def _footer(self):
        text = f"max relative error {self.max_error:.2e}"
        if self.n_kink:
            text += (f" over the comparable entries; {self.n_kink} not comparable (their "
                     f"stencil crosses a kink; not an error)")
        return text

    def __str__(self):
        head, body = self._cells()
        widths = [max(len(row[i]) for row in [head] + body) for i in range(len(head))]
        line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()
        out = [self.title, line(head), line(["-" * w for w in widths])]
        out += [line(row) for row in body]
        out += [note for note in self.kink_notes]
        out.append(self._footer())
        return "\n".join(out)

    def _repr_html_(self):
        head, body = self._cells()
        th = "".join(f'<th style="text-align:left">{html.escape(h)}</th>' for h in head)
        trs = []
        for r, row in zip(self.rows, body):
            bg, fg = COLORS[verdict(r.max_error)]
            tds = "".join(f"<td>{html.escape(c)}</td>" for c in row)
            trs.append(f'<tr style="background:{bg};color:{fg}">{tds}</tr>')
        notes = ""
        if self.kink_notes:
            bg, fg = COLORS["kink"]
            items = "".join(f"<li>{html.escape(n)}</li>" for note in self.kink_notes
                            for n in note.splitlines())
            notes = f'<ul style="background:{bg};color:{fg};padding:0.3em 1.5em">{items}</ul>'
        return (f"<b>{html.escape(self.title)}</b><table><tr>{th}</tr>{''.join(trs)}</table>"
                f"{notes}<p>{html.escape(self._footer())}</p>")

    __repr__ = __str__


def make_row(name, analytic, numeric, noise=0.0, watch=None):
    """One report row. Entries too small for finite differences to resolve (|a| + |n| below
    resolvable_floor(noise)) are measured against that floor instead of their own size.
    Entries the watch marked as crossing a kink are left out of the error (counted apart);
    a NaN or inf on either side counts as an infinite error."""
    analytic = np.asarray(analytic, dtype=np.float64)
    numeric = np.asarray(numeric, dtype=np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        err = relative_error(analytic, numeric, np.maximum(TINY, resolvable_floor(noise)))
    err = np.where(np.isfinite(analytic) & np.isfinite(numeric) & ~np.isnan(err), err, np.inf)
    excluded = np.zeros(err.shape, dtype=bool)
    crossings, n_smaller = {}, 0
    if watch is not None and watch.not_comparable is not None:
        excluded = np.reshape(watch.not_comparable, err.shape)
        crossings, n_smaller = watch.crossings, watch.n_smaller_step
    comparable = np.where(excluded, -1.0, err)
    shape = tuple(np.shape(analytic))
    n_kink = int(excluded.sum())
    if err.size == 0 or n_kink == err.size:
        return GradcheckRow(name, shape, 0.0, None, np.nan, np.nan, err.size, n_kink,
                            crossings, n_smaller)
    k = int(np.argmax(comparable))
    idx = tuple(int(i) for i in np.unravel_index(k, err.shape)) if err.ndim else ()
    return GradcheckRow(name, shape, comparable[idx], idx, analytic[idx], numeric[idx], err.size,
                        n_kink, crossings, n_smaller)


def _checked_row(name, analytic, f, x, h, order, watch):
    """The report row of one array x: finite differences of f at x (kinks watched) against
    the analytic gradient."""
    numeric, noise = numerical_gradient(f, x, h, order, return_noise=True, watch=watch)
    return make_row(name, analytic, numeric, noise, watch)


# ---- argument checks --------------------------------------------------------------------

def check_model_arg(model, name="model"):
    """model as a numpyae Model with finite parameters, or a clear TypeError / ValueError."""
    if not isinstance(model, Model):
        raise TypeError(f"{name} must be a numpyae Model (e.g. mlp_autoencoder([64, 32])), "
                        f"got {type(model).__name__}")
    _check_parameters(model.named_parameters_unique(), name)
    return model


def check_layer_arg(layer, name="layer"):
    """layer as a numpyae Layer with finite parameters, or a clear TypeError / ValueError."""
    if not isinstance(layer, Layer):
        raise TypeError(f"{name} must be a numpyae Layer (e.g. Dense(4, 3)), "
                        f"got {type(layer).__name__}")
    _check_parameters(_unique_named(layer.named_parameters()), name)
    return layer


def _check_parameters(named, name):
    for pname, p in named:
        if not all_finite(p.value):
            raise ValueError(f"{name}'s parameter {pname} contains NaN or inf: a gradient check "
                             f"needs a finite point (did training diverge?)")


def check_data(X, name, n_features=None, ndim=2):
    """X as a fresh float64 array: real, finite, non-empty, `ndim`-D (None: any ndim >= 1),
    with n_features on the last axis if given; a clear error naming `name` otherwise."""
    if ndim is None:
        try:
            ndim = max(np.ndim(X), 1) if not isinstance(X, (str, bytes)) else 2
        except (ValueError, TypeError):   # a ragged nested list: check_array names it
            ndim = 2
    arr = check_array(X, name, ndim=ndim, n_features=n_features, dtype=np.float64)
    return np.array(arr, dtype=np.float64)   # a copy: the checker never touches the caller's


def check_labels_arg(model, y, n, name="y"):
    """y as n labels for a model that trains on labels, None for one that does not."""
    if y is not None and not model.needs_labels:
        raise ValueError(f"{name} must be None: {type(model).__name__} does not train on labels, "
                         f"got {type(y).__name__}")
    return model.check_labels(y, n, name)


def check_parameter_names(parameters, named):
    """The requested parameter names (a list of str, or one str) among `named`; None: all."""
    if parameters is None:
        return named
    if isinstance(parameters, str):
        parameters = [parameters]
    try:
        parameters = list(parameters)
    except TypeError:
        raise TypeError(f"parameters must be a list of parameter names, "
                        f"got {type(parameters).__name__}") from None
    bad = [p for p in parameters if not isinstance(p, str)]
    if bad:
        raise TypeError(f"parameters must be a list of parameter names (str), got {bad[0]!r}")
    if not parameters:
        raise ValueError(f"parameters must name at least one parameter (None checks all of "
                         f"{[n for n, _ in named]}), got an empty list")
    unknown = set(parameters) - {n for n, _ in named}
    if unknown:
        raise ValueError(f"parameters names unknown {sorted(unknown)}; "
                         f"the model has {[n for n, _ in named]}")
    return [(n, p) for n, p in named if n in parameters]


def float64_copy(obj):
    """A deep copy of a layer or model with every Parameter cast to float64: (copy, params)."""
    other = copy.deepcopy(obj)
    params = other.parameters()
    for p in params:
        p.astype(np.float64)
    return other, params


# ---- checks -----------------------------------------------------------------------------

def check_gradient(f, x, analytic, *, name="x", h=None, order=4, kinks=None):
    """Check any hand-written gradient: `analytic` against finite differences of f() at x.

    f takes no arguments and reads x (which is perturbed in place), e.g.
        x = np.random.default_rng(0).normal(size=(3, 4))
        report = check_gradient(lambda: np.sum(np.tanh(x)), x, 1 - np.tanh(x) ** 2)
    kinks: an object f runs (a layer, a penalty, a model) whose kink_state() is watched, so
    entries whose stencil crosses one of its kinks are reported apart (module doc).
    """
    if not callable(f):
        raise TypeError(f"f must be a function of no arguments, got {type(f).__name__}")
    try:
        a = None if isinstance(analytic, (str, bytes)) else np.asarray(analytic)
    except (ValueError, TypeError):   # a ragged nested list
        a = None
    if a is None or a.dtype.kind not in "biuf":
        raise TypeError(f"analytic must be a real numeric array, got {type(analytic).__name__}"
                        + (f" of dtype {a.dtype}" if a is not None else ""))
    if a.shape != np.shape(x):
        raise ValueError(f"analytic must have x's shape {np.shape(x)}, got {a.shape}")
    watch = None if kinks is None else kink_watch(kinks)
    return GradcheckReport(f"gradient check of {name}",
                           [_checked_row(name, a, f, x, h, order, watch)])


def check_layer(layer, x, *, h=None, order=4, rng=0, check_input=True):
    """Check a layer's backward against finite differences of L = sum(layer(x) * R).

    R is a fixed random array of the output's shape, so dL/dy = R is what backward receives.
    Checks every parameter and (if check_input) dL/dx. Entries whose stencil crosses a kink of
    the layer (its kink_state()) are reported apart as not comparable (module doc).
    """
    check_layer_arg(layer)
    x64 = check_data(x, "x", input_dim(layer), ndim=None)
    order, h = check_order(order), check_step(h, check_order(order))
    rng = as_generator(rng)
    if not isinstance(check_input, (bool, np.bool_)):
        raise TypeError(f"check_input must be True or False, got {check_input!r}")
    if not check_input and not layer.named_parameters():
        raise ValueError(f"nothing to check: {type(layer).__name__} has no parameters and "
                         f"check_input=False")
    layer64, _ = float64_copy(layer)
    frozen = FrozenRandomness(layer64)
    y = layer64.forward(x64, training=True)
    R = rng.standard_normal(np.shape(y))

    def loss():
        frozen.restore()
        return float(np.sum(layer64.forward(x64, training=True) * R))

    frozen.restore()
    for p in layer64.parameters():
        p.zero_grad()
    layer64.forward(x64, training=True)
    dx = layer64.backward(R.copy())
    named = _unique_named(layer64.named_parameters())
    analytic = {name: p.grad.copy() for name, p in named}
    watch = kink_watch(layer64)
    rows = [_checked_row(name, analytic[name], loss, p.value, h, order, watch) for name, p in named]
    if check_input:
        rows.append(_checked_row("input", dx, loss, x64, h, order, watch))
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


def _model_check_setup(model, X, y, h, order):
    """Validate the arguments of check_model / check_directional before any work; returns
    (float64 copy of the model, X as float64, y, h, order)."""
    check_model_arg(model)
    X64 = check_data(X, "X", model.input_dim)
    y = check_labels_arg(model, y, len(X64))
    order = check_order(order)
    h = check_step(h, order)
    return model.astype(np.float64), X64, y, h, order


def check_model(model, X, y=None, *, h=None, order=4, parameters=None):
    """Check every parameter gradient of model.loss_and_grad against the model's own loss.

    parameters: optional list of parameter names to check (default: all).
    Keep models and batches small: this costs four forward passes per parameter entry.
    Entries whose stencil crosses a kink (a relu pre-activation changing sign, TopK's kept set
    changing, ...) are measured with a smaller step or, failing that, reported apart as not
    comparable, with their count and the kink (module doc); the verdict rests on the others.
    """
    model64, X64, y, h, order = _model_check_setup(model, X, y, h, order)
    named = check_parameter_names(parameters, model64.named_parameters_unique())
    frozen = FrozenRandomness(model64)
    analytic = _analytic(model64, frozen, X64, y)

    def loss():
        frozen.restore()
        return model64.forward_loss(X64, y, training=True)["loss"]

    watch = kink_watch(model64)
    rows = [_checked_row(name, analytic[name], loss, p.value, h, order, watch)
            for name, p in named]
    return GradcheckReport(f"gradient check of {type(model).__name__}", rows)


def check_directional(model, X, y=None, *, h=None, order=4, rng=0):
    """Fast check for large models: for each parameter, one random unit direction u.

    numeric = d/dt L(θ + t u) at t = 0, by the same central differences (2 or 4 forward passes)
    analytic = <grad, u>                          (from one backward pass)
    A direction along which the stencil crosses a kink is measured again with the step / 10
    (KINK_RETRIES times); if it still crosses, that row is reported as not comparable.
    """
    model64, X64, y, h, order = _model_check_setup(model, X, y, h, order)
    rng = as_generator(rng)
    frozen = FrozenRandomness(model64)
    analytic = _analytic(model64, frozen, X64, y)

    def loss():
        frozen.restore()
        return model64.forward_loss(X64, y, training=True)["loss"]

    watch = kink_watch(model64)
    rows = []
    for name, p in model64.named_parameters_unique():
        u = rng.standard_normal(p.value.shape)
        u /= np.linalg.norm(u)
        base = p.value.copy()
        t = np.zeros(1)  # the step along u, as a 1-element array numerical_gradient can perturb

        def loss_along_u():
            p.value[...] = base + t[0] * u
            return loss()

        numeric, noise = numerical_gradient(loss_along_u, t, h, order, return_noise=True,
                                            watch=watch)
        p.value[...] = base
        rows.append(make_row(name, np.vdot(analytic[name], u), numeric[0], noise[0], watch))
    return GradcheckReport(f"directional gradient check of {type(model).__name__}", rows)
