"""check(name, fn): test a student's derivation against finite differences, explain what is wrong.

Phase 1 runs the function on a few fixed random inputs (sizes chosen so that the batch size,
the feature count and 2 are all different numbers, which lets a constant factor be named; an
exercise whose sizes depend on each other, a convolution's, declares its own).
Phase 2, once phase 1 passes, lets Hypothesis draw more inputs (sizes down to 1, values at the
ends of the ranges) and shrinks any failure to a small example.

Verdicts (CheckResult.kind):
    passed, not_implemented, error (the function raised, or returned something that is not a
    real numeric array), none (returned None: a missing return), count (wrong number of
    arrays), shape, transposed, sign, factor (off by a constant such as 2 or the batch size),
    kink (wrong only where the function has a kink), nonfinite, values (wrong otherwise),
    mistake (the answer equals one of the exercise's declared classic mistakes, named in
    CheckResult.mistake and in the message: a flipped kernel, a stride left out, ...),
    term (the answer equals the sum of the output's declared terms with some missing, of the
    wrong sign, counted twice or one of them off by a constant factor, named in
    CheckResult.terms: the contractive gradient without its "direct" term, a tied dW without
    its "decoder use"; see terms.py)

CheckResult.summary says the verdict in a few words without numbers ("dW transposed"), and
CheckResult.as_dict() gives it as JSON data: what `python -m numpyae assignment grade` counts
across a class.

Known mistakes: an exercise may declare mistakes (catalog.Mistake: a name, a function giving
the mistaken answer from the inputs, and an explanation). When an output is wrong, it is
compared with each mistake's output of the same name, shape included, so a mistake that changes
the shape (a padding off by one) is named as well; the first that matches within the tolerance
is the verdict, before the general ones (sign, factor, ...). Next come the declared terms
(catalog.Term), then the general verdicts.

Constant factors are named from the exercise's dimensions: the batch size B, the number of
features D, their product, 2, the exercise's own hints, and (for an exercise with the usual
sizes) 1/n and n for any other symbol and product of two symbols. Any symbol beyond B, D, H, K
(a teacher's N, M, ...) gets a size of its own (EXTRA_SIZES) that differs from the others.

Kinks: an exercise with a piecewise objective (relu, |h|) declares its kink_state; where a
finite difference crosses a kink at every step tried (numpyae.teaching.gradcheck's KinkWatch),
the reference's convention is expected instead, and an answer wrong only there gets "kink". An
exercise without a reference (kink_convention "subgradient") accepts there any value between
the objective's two one-sided slopes (one-sided finite differences): relu'(0) may be 0 or 1.

The verdict is shown once: check() prints it (verbose=True), and in IPython / Jupyter the
returned CheckResult displays nothing more in the same cell (in a later cell, it shows the
verdict again).
"""
from __future__ import annotations

import re
import sys

import numpy as np

from ...core.random import as_generator
from ..gradcheck import KinkWatch, numerical_gradient
from . import terms as term_diagnosis
from .catalog import EXERCISES, Exercise

RTOL = 1e-6      # finite differences (4th-order stencil) are good to ~1e-9 here
ATOL = 1e-10

#: dimension sizes of the fixed cases: all different from each other and from 2
FIXED_DIMS = [dict(B=5, D=4, H=3, K=6), dict(B=3, D=7, H=6, K=4), dict(B=6, D=5, H=4, K=3)]

#: sizes given, in this order, to the dimension symbols an exercise uses beyond B, D, H, K
#: (a teacher's N, M, ...): in each fixed case, the first ones not already taken
EXTRA_SIZES = (7, 8, 9, 10, 11, 12, 13, 14, 15, 16)

#: the step of the one-sided finite differences at a kink (exercises without a reference)
ONE_SIDED_STEP = 1e-5


class CheckResult:
    """What check() found. ``passed`` (bool), ``kind`` (see the module docstring), ``message``
    (the verdict as printed), ``inputs`` (the worst input, a dict) and ``phase``
    ("random" or "hypothesis") where the problem showed; ``mistake`` the name of the exercise's
    known mistake the answer equals (kind "mistake"), else None; ``terms`` for kind "term"
    {"missing" | "wrong sign" | "counted twice" | "extra": [term names]}, else None;
    ``summary`` the verdict in a few words without numbers ("dW transposed", "dW: missing term
    'decoder use'"), fit for counting mistakes across a class."""

    def __init__(self, name, kind, message, inputs=None, phase=None, max_error=None, n_inputs=0,
                 mistake=None, terms=None, summary=None):
        self.name, self.kind, self.message = name, kind, message
        self.inputs, self.phase, self.max_error, self.n_inputs = inputs, phase, max_error, n_inputs
        self.mistake, self.terms = mistake, terms
        self.summary = summary or kind
        self._printed_in = None      # the IPython cell that printed the verdict, if any

    def as_dict(self):
        """The verdict as JSON-able data: name, passed, kind, summary, message (without the
        worst input's listing), mistake, terms, phase, n_inputs."""
        return {"name": self.name, "passed": self.passed, "kind": self.kind,
                "summary": self.summary, "message": self.message.split("\n  input:\n")[0],
                "mistake": self.mistake, "terms": self.terms, "phase": self.phase,
                "n_inputs": self.n_inputs}

    def _ipython_display_(self):
        """Jupyter / IPython display: the verdict, unless check() already printed it in this
        same cell (so it shows once; in a later cell, `result` shows it again)."""
        cell = _ipython_cell()
        if cell is None or self._printed_in != cell:
            print(self.message)

    def _repr_pretty_(self, p, cycle):
        """IPython's text form: the verdict."""
        p.text(self.message)

    @property
    def passed(self):
        """True if the verdict is "passed"."""
        return self.kind == "passed"

    def __bool__(self):
        return self.passed

    def __str__(self):
        return self.message

    def __repr__(self):
        return f"CheckResult({self.name!r}, kind={self.kind!r})"


def _ipython_cell():
    """The execution count of the IPython / Jupyter cell running now, or None outside IPython.
    (IPython counts a cell up only after it and its displayed value are done.)"""
    ipython = sys.modules.get("IPython")
    get = getattr(ipython, "get_ipython", None)
    shell = get() if callable(get) else None
    return getattr(shell, "execution_count", None)


class _Problem(Exception):
    def __init__(self, kind, message, inputs, mistake=None, label=None, terms=None):
        super().__init__(message)
        self.kind, self.message, self.inputs, self.mistake = kind, message, inputs, mistake
        self.label, self.terms = label or kind, terms


# ---- inputs ------------------------------------------------------------------------------

def _shape(arg, dims):
    return tuple(dims[s] if isinstance(s, str) else s for s in arg.shape)


def _classes(arg, dims):
    """The number of classes of a label input: its symbol's size, or its int."""
    return dims[arg.classes] if isinstance(arg.classes, str) else int(arg.classes)


def symbols(ex):
    """The dimension symbols the exercise's inputs use, in order of first appearance."""
    found = []
    for arg in ex.args:
        names = [s for s in arg.shape if isinstance(s, str)]
        if arg.kind == "label" and isinstance(arg.classes, str):
            names.append(arg.classes)
        if arg.kind == "dim":
            names.append(arg.dim)
        found += [s for s in names if s not in found]
    return found


def fixed_dims(ex):
    """The dimension sizes of the exercise's fixed random inputs: its own (fixed_dims), else
    FIXED_DIMS, with sizes from EXTRA_SIZES for any further symbol it uses."""
    if ex.fixed_dims:
        return [dict(d) for d in ex.fixed_dims]
    cases = []
    for base in FIXED_DIMS:
        dims = dict(base)
        free = [n for n in EXTRA_SIZES if n not in dims.values()]
        for s in symbols(ex):
            if s not in dims:
                dims[s] = free.pop(0)
        cases.append(dims)
    return cases


def random_inputs(ex, dims, rng, with_kinks=False):
    """A dict of inputs for the exercise with the given dimension sizes."""
    out = {}
    for arg in ex.args:
        if arg.kind == "label":
            out[arg.name] = rng.integers(0, _classes(arg, dims), size=_shape(arg, dims))
        elif arg.kind == "scalar":
            out[arg.name] = float(rng.uniform(arg.low, arg.high))
        elif arg.kind == "int":
            out[arg.name] = int(rng.integers(arg.low, arg.high + 1))
        elif arg.kind == "dim":
            out[arg.name] = int(dims[arg.dim])
        else:
            out[arg.name] = rng.uniform(arg.low, arg.high, size=_shape(arg, dims))
    if with_kinks and ex.kink_state is not None:
        if ex.plant_kinks is not None:
            ex.plant_kinks(out)
        elif any(arg.kinks for arg in ex.args):
            _plant_declared_kinks(ex, out)
        else:
            _zero_every_third(out)
    return out


def _plant_declared_kinks(ex, inputs):
    """Exact kinks at the values the inputs declare (Arg.kinks): every third entry of each such
    input set to one of its kinks in turn (in place)."""
    for arg in ex.args:
        x = inputs[arg.name]
        if arg.kinks and isinstance(x, np.ndarray) and x.size:
            flat = x.reshape(-1)          # a view: x is a fresh contiguous array
            picks = np.arange(0, flat.size, 3)
            flat[picks] = np.resize(np.array(arg.kinks), picks.size)


def _zero_every_third(inputs):
    """Exact kinks of relu and |h| in the first input: every third entry set to 0 (in place)."""
    first = next(iter(inputs.values()))
    first.flat[::3] = 0.0


def _hypothesis_inputs(ex, data):
    from hypothesis import strategies as st
    from hypothesis.extra.numpy import arrays

    if ex.draw_dims is not None:
        dims = ex.draw_dims(lambda s, low, high: data.draw(st.integers(low, high), label=s))
    else:
        names = ["B", "D", "H", "K"] + [s for s in symbols(ex) if s not in ("B", "D", "H", "K")]
        dims = {s: data.draw(st.integers(1, 4), label=s) for s in names}
    out = {}
    for arg in ex.args:
        if arg.kind == "label":
            out[arg.name] = data.draw(arrays(np.int64, _shape(arg, dims),
                                             elements=st.integers(0, _classes(arg, dims) - 1)),
                                      label=arg.name)
        elif arg.kind == "scalar":
            out[arg.name] = data.draw(st.floats(arg.low, arg.high), label=arg.name)
        elif arg.kind == "int":
            out[arg.name] = data.draw(st.integers(int(arg.low), int(arg.high)), label=arg.name)
        elif arg.kind == "dim":
            out[arg.name] = int(dims[arg.dim])
        else:
            out[arg.name] = data.draw(arrays(np.float64, _shape(arg, dims), elements=st.floats(
                arg.low, arg.high, allow_nan=False, allow_infinity=False)), label=arg.name)
    return out, dims


# ---- what the answer should be -----------------------------------------------------------

class _ExerciseKinks:
    """The exercise's kink_state over the inputs its finite differences perturb in place, as an
    object a KinkWatch can watch (numpyae.teaching.gradcheck). Slots only: the watch's walk
    does not wander into the exercise."""
    __slots__ = ("_state", "_work")

    def __init__(self, ex, work):
        self._state, self._work = ex.kink_state, work

    def kink_state(self):
        """ex.kink_state(**inputs) at the current (perturbed) inputs."""
        return self._state(**self._work)


def _expected(ex, inputs):
    """(expected outputs, their finite-difference round-off, kink masks, kink bounds): the masks
    mark the entries whose stencil crossed a kink of the objective (None per output without
    kinks); the bounds, for an exercise whose kink convention is "subgradient", are the
    (lower, upper) one-sided slopes at those entries (None otherwise)."""
    if ex.mode == "reference":
        expected = [np.asarray(o, dtype=np.float64) for o in _as_tuple(ex.reference(**_copies(inputs)))]
        return expected, [np.zeros_like(e) for e in expected], [None] * len(expected), \
            [None] * len(expected)
    work = _copies(inputs)
    f = lambda: ex.objective(**work)
    watch = None if ex.kink_state is None else KinkWatch(_ExerciseKinks(ex, work), ex.name)
    expected, noise, masks = [], [], []
    for name in ex.wrt:
        g, n = numerical_gradient(f, work[name], return_noise=True, watch=watch)
        expected.append(g)
        noise.append(n)
        masks.append(None if watch is None else watch.not_comparable.copy())
    bounds = [None] * len(expected)
    if watch is not None and ex.kink_convention == "reference":
        # where the finite difference is meaningless: the reference's convention
        ref = _as_tuple(ex.reference(**_copies(inputs)))
        for k, mask in enumerate(masks):
            expected[k] = np.where(mask, np.asarray(ref[k], dtype=np.float64), expected[k])
            noise[k] = np.where(mask, 0.0, noise[k])
    elif watch is not None:
        # no convention: any value between the two one-sided slopes (a subgradient) is right
        for k, (name, mask) in enumerate(zip(ex.wrt, masks)):
            if mask.any():
                bounds[k] = _one_sided_slopes(f, work[name], mask)
                noise[k] = np.where(mask, 0.0, noise[k])
    return expected, noise, masks, bounds


def _one_sided_slopes(f, x, mask):
    """(lower, upper): at each masked entry of x, the smaller and the larger of the left and
    right derivatives of f, by one-sided second-order differences with step ONE_SIDED_STEP
    (x is perturbed in place and restored); 0 elsewhere."""
    lo, hi = np.zeros(x.shape), np.zeros(x.shape)
    for idx in map(tuple, np.argwhere(mask)):
        old = x[idx]
        d = float((old + ONE_SIDED_STEP) - old)
        values = {}
        for k in (-2, -1, 0, 1, 2):
            x[idx] = old + k * d
            values[k] = f()
        x[idx] = old
        right = (-3 * values[0] + 4 * values[1] - values[2]) / (2 * d)
        left = (3 * values[0] - 4 * values[-1] + values[-2]) / (2 * d)
        lo[idx], hi[idx] = min(left, right), max(left, right)
    return lo, hi


def expected_outputs(ex, inputs, *, return_noise=False):
    """The true answer: finite differences of the objective (gradient exercises, with the
    reference's convention where a finite difference crosses a kink of the objective; without a
    reference, the central difference there, halfway between the one-sided slopes) or the
    reference itself (reference exercises).

    return_noise: also the finite differences' round-off per entry (0 where the answer is exact),
    from numerical_gradient(..., return_noise=True)."""
    expected, noise, _, _ = _expected(ex, inputs)
    return (expected, noise) if return_noise else expected


def _copies(inputs):
    return {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in inputs.items()}


def _as_tuple(out):
    return tuple(out) if isinstance(out, (tuple, list)) else (out,)


# ---- diagnosis ---------------------------------------------------------------------------

def _tolerance(s, e):
    """Allowed |s - e| per entry: RTOL relative, plus an absolute floor for entries near 0 that
    finite differences cannot resolve (ATOL, or 1e-8 of the answer's largest entry)."""
    scale = float(np.max(np.abs(e))) if e.size else 0.0
    return RTOL * (np.abs(s) + np.abs(e)) + max(ATOL, 1e-8 * scale)


def _mismatch(s, e):
    with np.errstate(invalid="ignore"):
        close = np.abs(s - e) <= _tolerance(s, e)
    return ~close          # NaN and inf never count as close


def _close(s, e):
    return s.shape == e.shape and not _mismatch(s, e).any()


def agrees(s, e):
    """True if the array s equals e within the checker's tolerance (RTOL relative, with the
    absolute floor of _tolerance), shapes included."""
    s, e = np.asarray(s, dtype=np.float64), np.asarray(e, dtype=np.float64)
    return _close(s, e)


def _factor_hints(ex, inputs, dims):
    B = dims.get("B")
    D = dims.get("D")
    hints = [(2.0, "an extra factor 2"), (0.5, "a missing factor 2 (from the derivative of a square?)")]
    if ex.hints is not None:
        hints = ex.hints(inputs, dims) + hints
    if B:
        hints += [(1.0 / B, f"divided by the batch size B = {B} once too often"),
                  (float(B), f"the division by the batch size B = {B} is missing")]
    if B and D and "D" in {s for a in ex.args for s in a.shape}:
        hints += [(1.0 / D, f"divided by the number of features D = {D} once too often"),
                  (float(D), f"the division by the number of features D = {D} is missing "
                             f"(a mean over the batch only?)"),
                  (float(B * D), f"the division by B*D = {B * D} (the mean over every entry) is missing"),
                  (1.0 / (B * D), f"divided by B*D = {B * D} once too often")]
    if not ex.fixed_dims:      # sizes chosen apart by fixed_dims(): every symbol can be named
        hints += _symbol_hints(ex, dims)
    return hints


def _symbol_hints(ex, dims):
    """Factors 1/n and n for each dimension symbol other than B and D (sizes above 2), and for
    each product of two symbols other than B*D: a mean over N, or over N and M, taken or missed."""
    used = [s for s in symbols(ex) if isinstance(dims.get(s), int) and dims[s] > 2]
    named = {s: f"{ex.dim_names[s]} {s}" if s in ex.dim_names else s for s in used}
    hints = []
    for s in used:
        if s in ("B", "D"):
            continue
        n = dims[s]
        hints += [(1.0 / n, f"divided by {named[s]} = {n} once too often"),
                  (float(n), f"the division by {named[s]} = {n} is missing")]
    for i, s in enumerate(used):
        for t in used[i + 1:]:
            if {s, t} == {"B", "D"}:
                continue
            n = dims[s] * dims[t]
            hints += [(1.0 / n, f"divided by {s}*{t} = {n} once too often"),
                      (float(n), f"the division by {s}*{t} = {n} (a mean over both) is missing")]
    return hints


def _without_numbers(text):
    """"the division by the batch size B = 5 is missing" -> "... B is missing": a verdict that
    reads the same whatever the input's sizes (for counting mistakes across a class)."""
    return re.sub(r" = [-+]?[0-9][0-9.e+-]*", "", text)


def _fmt(a):
    return np.array2string(np.asarray(a), precision=4, suppress_small=False, max_line_width=100,
                           threshold=60)


def _describe_inputs(inputs):
    lines = []
    for k, v in inputs.items():
        if isinstance(v, np.ndarray) and v.ndim > 2 and v.size > 16:   # a batch of images
            lines.append(f"    {k} = an array of shape {v.shape}, entries in [{v.min():.4g}, "
                         f"{v.max():.4g}] (all of it: result.inputs[{k!r}])")
            continue
        text = _fmt(v) if isinstance(v, np.ndarray) else repr(v)
        text = text.replace("\n", "\n" + " " * (len(k) + 7))
        lines.append(f"    {k} = {text}")
    return "\n".join(lines)


def _diagnose(ex, out_name, s, e, inputs, dims, kink_mask, bounds=None):
    """(kind, explanation, short label) for one output whose values disagree (same shape).
    bounds: the (lower, upper) one-sided slopes at the kinks of an exercise without a
    convention there (see _expected), else None."""
    if not np.all(np.isfinite(s)):
        return "nonfinite", (f"{out_name} contains NaN or inf: a numerically unstable form "
                             f"(exp overflow, log of 0, a division by 0?)"), f"{out_name} NaN or inf"
    bad = _mismatch(s, e)
    if kink_mask is not None and bad.any() and np.all(kink_mask[bad]):
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        where = (f"{out_name} is right everywhere except at the kink (input "
                 f"{_kink_value(ex, inputs, idx)} at index {idx}): there you return "
                 f"{s[idx] + 0.0:.6g}, ")
        if bounds is None:
            why = f"the convention is {e[idx] + 0.0:.6g}"
        else:
            why = (f"and the derivative is not defined: any value between the one-sided slopes "
                   f"{bounds[0][idx] + 0.0:.6g} and {bounds[1][idx] + 0.0:.6g} is accepted")
        return "kink", where + why, f"{out_name} wrong at the kink"
    if _close(s, -e):
        return ("sign", f"{out_name} has the wrong sign everywhere: yours = -(the true one)",
                f"{out_name} wrong sign")
    if s.ndim == 2 and s.shape[0] == s.shape[1] and _close(s, e.T):
        return ("transposed", f"{out_name} is transposed: yours = (the true one).T",
                f"{out_name} transposed")
    ee = float(np.vdot(e, e))
    if ee > 0:
        c = float(np.vdot(s, e)) / ee
        if c != 0 and _close(s, c * e):
            names = [why for f, why in _factor_hints(ex, inputs, dims) if abs(c - f) <= 1e-6 * abs(f)]
            why = ("; ".join(names)) if names else "no common cause; recheck the constants"
            what = "gradient" if ex.mode == "gradient" else "value"
            label = f"{out_name} off by a constant factor"
            if names:
                label += ": " + _without_numbers(names[0])
            return "factor", (f"{out_name} is off by a constant factor: yours = {c:.6g} x the true "
                              f"{what}. Likely cause: {why}"), label
    return "values", f"{out_name} has wrong values", f"{out_name} wrong values"


def _named_terms(ex, inputs, dims, k, s, e):
    """(kind "term", explanation, label, {verdict: [term names]}) when the student's output
    number k equals a variant of the sum of the output's declared terms, or the sum with one
    term off by a constant factor (terms.py), else None."""
    declared = ex.terms.get(ex.outputs[k])
    if not declared:
        return None
    values = term_diagnosis.term_values(declared, inputs, e.shape)
    coeffs = term_diagnosis.match(declared, values, s, e, _close)
    if coeffs is not None:
        message, label, found = term_diagnosis.describe(ex.outputs[k], declared, coeffs)
        return "term", message, label, found
    one = term_diagnosis.scaled(declared, values, s, e, _close)
    if one is None:
        return None
    i, c = one
    causes = [why for f, why in _factor_hints(ex, inputs, dims) if abs(c - f) <= 1e-6 * abs(f)]
    message, label, found = term_diagnosis.describe_scaled(ex.outputs[k], declared, i, c, causes)
    if causes:
        label += ": " + _without_numbers(causes[0])
    return "term", message, label, found


def _known_mistake(ex, inputs, k, s, e):
    """The first of the exercise's declared mistakes (catalog.Mistake) whose output number k
    equals the student's s within the tolerance, shape included, while differing from the true
    e; or None. A mistake that does not apply to these inputs (its answer raises ValueError, say
    a padding of -1 that leaves no window) is skipped."""
    for mistake in ex.mistakes:
        try:
            with np.errstate(all="ignore"):
                outs = [np.asarray(o, dtype=np.float64)
                        for o in _as_tuple(mistake.answer(**_copies(inputs)))]
        except ValueError:
            continue
        if ex.compare is not None:
            outs = ex.compare(inputs, outs)
        if len(outs) != len(ex.outputs):
            raise ValueError(f"exercise {ex.name}: mistake {mistake.name!r} returned {len(outs)} "
                             f"outputs, the exercise has {len(ex.outputs)}")
        m = outs[k]
        if _close(s, m) and not _close(m, e):
            return mistake
    return None


def _kink_value(ex, inputs, idx):
    first = ex.args[0].name
    return f"{first}{list(idx)} = {float(np.asarray(inputs[first])[idx]):g}"


def _returned_arrays(ex, got, inputs):
    """What the student's function returned, as one float64 array per output, or a _Problem
    that says what is wrong with it (None, the number of arrays, not numbers, complex)."""
    n, names = len(ex.outputs), ", ".join(ex.outputs)
    wanted = f"{n} array{'s' if n > 1 else ''} ({names})"
    if got is None:
        raise _Problem("none", f"your function returned None (a missing return?); expected "
                               f"{wanted}", inputs, label="returned None")
    if n == 1:        # one output: a tuple is a count of outputs, anything else is the array
        got = got if isinstance(got, tuple) else (got,)
    else:
        got = tuple(got) if isinstance(got, (tuple, list)) else (got,)
    if len(got) != n:
        raise _Problem("count", f"expected {wanted}, your function returned {len(got)} "
                                f"value{'s' if len(got) != 1 else ''}", inputs,
                       label=f"returned {len(got)} value{'s' if len(got) != 1 else ''}, not {n}")
    arrays = []
    for name, g in zip(ex.outputs, got):
        if g is None:
            raise _Problem("none", f"your function returned None for {name} (a missing "
                                   f"value?); expected {wanted}", inputs,
                           label=f"returned None for {name}")
        try:
            a = np.asarray(g)
        except (TypeError, ValueError) as exc:   # a ragged list
            raise _Problem("error", f"{name} must be a numeric array: {exc}", inputs,
                           label=f"{name} not a numeric array")
        if a.dtype.kind == "c":
            raise _Problem("error", f"{name} is complex ({a.dtype}): the gradient of a real "
                                    f"function is real (np.real would hide a mistake)", inputs,
                           label=f"{name} complex")
        if a.dtype.kind not in "biuf":
            raise _Problem("error", f"{name} must be a numeric array, got "
                                    f"{type(g).__name__} of dtype {a.dtype}", inputs,
                           label=f"{name} not a numeric array")
        arrays.append(a.astype(np.float64))
    return arrays


def _at_kinks(s, e, mask, bounds):
    """The expected output with, at the kink entries of an exercise without a convention there
    (bounds = the one-sided slopes), the student's own value clipped to [lower, upper]: any
    subgradient is right."""
    if bounds is None or s.shape != e.shape:
        return e
    with np.errstate(invalid="ignore"):
        return np.where(mask & np.isfinite(s), np.clip(s, bounds[0], bounds[1]), e)


def _compare(ex, fn, inputs, dims):
    """Raise _Problem if fn's answer on inputs is wrong; return the max relative error otherwise."""
    try:
        got = fn(*_copies(inputs).values())         # positionally, in the documented order
    except NotImplementedError:
        raise _Problem("not_implemented", "not implemented yet: replace `raise NotImplementedError` "
                                          "with your formula", None, label="not implemented")
    except Exception as exc:  # the student's code failed: report it, do not crash the notebook
        raise _Problem("error", f"your function raised {type(exc).__name__}: {exc}", inputs,
                       label=f"raised {type(exc).__name__}")
    got = _returned_arrays(ex, got, inputs)
    expected, _, masks, bounds = _expected(ex, inputs)
    if ex.compare is not None:
        got, expected = ex.compare(inputs, got), ex.compare(inputs, expected)
    worst = 0.0
    for k, (name, s, e, mask, bound) in enumerate(zip(ex.outputs, got, expected, masks, bounds)):
        label = f"the step {name}_new - {name}" if ex.compare is not None and name == ex.outputs[0] \
            else name
        if s.shape != e.shape:
            if s.ndim == 2 and s.shape == e.T.shape and _close(s.T, _at_kinks(s.T, e, mask, bound)):
                raise _Problem("transposed", f"{label} is transposed: shape {s.shape}, expected "
                                             f"{e.shape}, and yours.T is right", inputs,
                               label=f"{name} transposed")
            mistake = _known_mistake(ex, inputs, k, s, e)
            if mistake is not None:
                raise _Problem("mistake", f"{label} has shape {s.shape}, expected {e.shape}: "
                                          f"{mistake.message.replace('{output}', name)}",
                               inputs, mistake.name, label=f"{name}: {mistake.name}")
            hint = ""
            if s.size == e.size and _close(s.reshape(e.shape), e):
                hint = " (the values are right: drop keepdims / reshape to the expected shape)"
            raise _Problem("shape", f"{label} has shape {s.shape}, expected {e.shape}{hint}", inputs,
                           label=f"{name} wrong shape")
        e = _at_kinks(s, e, mask, bound)
        bad = _mismatch(s, e)
        if bad.any():
            finite = bool(np.all(np.isfinite(s)))
            mistake = _known_mistake(ex, inputs, k, s, e) if finite else None
            named = (_named_terms(ex, inputs, dims, k, s, e)
                     if finite and mistake is None and ex.compare is None else None)
            found = None
            if mistake is not None:
                kind, why = "mistake", mistake.message.replace("{output}", name)
                short = f"{name}: {mistake.name}"
            elif named is not None:
                kind, why, short, found = named
            else:
                kind, why, short = _diagnose(ex, label, s, e, inputs, dims, mask, bound)
            err = np.abs(s - e) / np.maximum(np.abs(s) + np.abs(e), 1e-300)
            err = np.where(np.isfinite(err), err, np.inf)
            idx = tuple(int(i) for i in np.unravel_index(int(np.argmax(np.where(bad, err, -1))), s.shape))
            where = f"  worst entry {name}{list(idx)}: yours {s[idx] + 0.0:.6g}, expected {e[idx] + 0.0:.6g}"
            raise _Problem(kind, f"{why}\n{where}", inputs, None if mistake is None else mistake.name,
                           label=short, terms=found)
        if s.size:
            # how much of the tolerance the worst entry uses (<= 1 passes; see _tolerance)
            worst = max(worst, float(np.max(np.abs(s - e) / _tolerance(s, e))))
    return worst


# ---- the public entry point --------------------------------------------------------------

def check(name, fn, *, n_random=3, n_hypothesis=25, rng=0, verbose=True):
    """Check the student's function ``fn`` for the exercise ``name`` (or an Exercise object,
    e.g. one from define(..., register=False)); print and return a verdict.

    fn is called with the exercise's inputs as positional arguments in the documented order
    (see describe(name)) and must
    return the listed arrays (a tuple when there are several). The inputs it receives are copies.
    n_random (>= 1) fixed random inputs come first, then n_hypothesis (>= 0) drawn by Hypothesis.
    verbose: print the verdict (shown once in a notebook; see the module doc).
    Returns a CheckResult (truthy when passed).
    """
    if isinstance(name, Exercise):
        ex = name
    elif not isinstance(name, str) or name not in EXERCISES:
        raise ValueError(f"name must be one of {sorted(EXERCISES)}, got {name!r}")
    else:
        ex = EXERCISES[name]
    if not callable(fn):
        raise TypeError(f"fn must be a function, got {type(fn).__name__}")
    n_random = _count(n_random, "n_random", 1)
    n_hypothesis = _count(n_hypothesis, "n_hypothesis", 0)
    if not isinstance(verbose, (bool, np.bool_)):
        raise TypeError(f"verbose must be True or False, got {verbose!r}")
    seed = rng
    rng = as_generator(rng)
    worst, n_done = 0.0, 0
    result = None
    cases = fixed_dims(ex)
    for k in range(n_random):
        dims = cases[k % len(cases)]
        inputs = random_inputs(ex, dims, rng, with_kinks=(k == 0))
        try:
            worst = max(worst, _compare(ex, fn, inputs, dims))
            n_done += 1
        except _Problem as p:
            result = _result(ex, p, "random", n_done)
            break
    hyp_note = ""
    if result is None and n_hypothesis:
        try:
            import hypothesis  # noqa: F401
        except ImportError:
            hyp_note = " (install hypothesis for more inputs)"
        else:
            found, n_hyp, worst_h = _run_hypothesis(ex, fn, n_hypothesis, seed)
            if found is not None:
                result = _result(ex, found, "hypothesis", n_done + n_hyp)
            else:
                n_done += n_hyp
                worst = max(worst, worst_h)
    if result is None:
        result = CheckResult(ex.name, "passed",
                             f"{ex.name}: passed. {n_done} inputs; the worst entry used {worst:.1%} of "
                             f"the tolerance (relative {RTOL:g}){hyp_note}", max_error=worst,
                             n_inputs=n_done, summary="passed")
    if verbose:
        print(result.message)
        result._printed_in = _ipython_cell()
    return result


def _count(value, name, low):
    """value as an int >= low, or a clear error naming the argument."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int >= {low}, got {type(value).__name__} {value!r}")
    if value < low:
        raise ValueError(f"{name} must be an int >= {low}, got {value}")
    return int(value)


def _result(ex, problem, phase, n_done):
    if problem.kind == "not_implemented":
        return CheckResult(ex.name, problem.kind, f"{ex.name}: {problem.message}",
                           summary=problem.label)
    source = (f"random input {n_done + 1}" if phase == "random"
              else f"an input Hypothesis found and shrank, after {n_done} inputs passed")
    kind = (f"known mistake: {problem.mistake}" if problem.mistake is not None else
            term_diagnosis.headline(problem.terms) if problem.terms else problem.kind)
    msg = f"{ex.name}: not right yet ({kind}), on {source}.\n{problem.message}"
    if problem.inputs is not None:
        msg += "\n  input:\n" + _describe_inputs(problem.inputs)
    return CheckResult(ex.name, problem.kind, msg, inputs=problem.inputs, phase=phase,
                       n_inputs=n_done, mistake=problem.mistake, terms=problem.terms,
                       summary=problem.label)


def _run_hypothesis(ex, fn, n_examples, seed):
    """(problem or None, number of inputs tried, worst relative error)."""
    from hypothesis import HealthCheck, Phase, Verbosity, given, settings, strategies as st

    state = {"problem": None, "n": 0, "worst": 0.0}

    @settings(max_examples=n_examples, deadline=None, database=None, derandomize=True,
              verbosity=Verbosity.quiet, suppress_health_check=list(HealthCheck),
              phases=(Phase.explicit, Phase.generate, Phase.shrink), report_multiple_bugs=False)
    @given(st.data())
    def run(data):
        inputs, dims = _hypothesis_inputs(ex, data)
        try:
            err = _compare(ex, fn, inputs, dims)
        except _Problem as p:
            state["problem"] = p        # the last one recorded is the shrunk example
            raise AssertionError(p.message)
        state["n"] += 1
        state["worst"] = max(state["worst"], err)

    try:
        run()
    except AssertionError:
        pass
    if state["problem"] is not None and state["problem"].kind == "not_implemented":
        return state["problem"], 0, 0.0
    return state["problem"], state["n"], state["worst"]
