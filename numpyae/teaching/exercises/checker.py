"""check(name, fn): test a student's derivation against finite differences, explain what is wrong.

Phase 1 runs the function on a few fixed random inputs (sizes chosen so that the batch size,
the feature count and 2 are all different numbers, which lets a constant factor be named).
Phase 2, once phase 1 passes, lets Hypothesis draw more inputs (sizes down to 1, values at the
ends of the ranges) and shrinks any failure to a small example.

Verdicts (CheckResult.kind):
    passed, not_implemented, error (the function raised, or returned something that is not a
    real numeric array), none (returned None: a missing return), count (wrong number of
    arrays), shape, transposed, sign, factor (off by a constant such as 2 or the batch size),
    kink (wrong only where the function has a kink), nonfinite, values (wrong otherwise)

Kinks: an exercise with a piecewise objective (relu, |h|) declares its kink_state; where a
finite difference crosses a kink at every step tried (numpyae.teaching.gradcheck's KinkWatch),
the reference's convention is expected instead, and an answer wrong only there gets "kink".

The verdict is shown once: check() prints it (verbose=True), and in IPython / Jupyter the
returned CheckResult displays nothing more in the same cell (in a later cell, it shows the
verdict again).
"""
from __future__ import annotations

import sys

import numpy as np

from ...core.random import as_generator
from ..gradcheck import KinkWatch, numerical_gradient
from .catalog import EXERCISES

RTOL = 1e-6      # finite differences (4th-order stencil) are good to ~1e-9 here
ATOL = 1e-10

#: dimension sizes of the fixed cases: all different from each other and from 2
FIXED_DIMS = [dict(B=5, D=4, H=3, K=6), dict(B=3, D=7, H=6, K=4), dict(B=6, D=5, H=4, K=3)]


class CheckResult:
    """What check() found. ``passed`` (bool), ``kind`` (see the module docstring), ``message``
    (the verdict as printed), ``inputs`` (the worst input, a dict) and ``phase``
    ("random" or "hypothesis") where the problem showed."""

    def __init__(self, name, kind, message, inputs=None, phase=None, max_error=None, n_inputs=0):
        self.name, self.kind, self.message = name, kind, message
        self.inputs, self.phase, self.max_error, self.n_inputs = inputs, phase, max_error, n_inputs
        self._printed_in = None      # the IPython cell that printed the verdict, if any

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
    def __init__(self, kind, message, inputs):
        super().__init__(message)
        self.kind, self.message, self.inputs = kind, message, inputs


# ---- inputs ------------------------------------------------------------------------------

def _shape(arg, dims):
    return tuple(dims[s] if isinstance(s, str) else s for s in arg.shape)


def random_inputs(ex, dims, rng, with_kinks=False):
    """A dict of inputs for the exercise with the given dimension sizes."""
    out = {}
    for arg in ex.args:
        if arg.kind == "label":
            out[arg.name] = rng.integers(0, dims["K"], size=_shape(arg, dims))
        elif arg.kind == "scalar":
            out[arg.name] = float(rng.uniform(arg.low, arg.high))
        elif arg.kind == "int":
            out[arg.name] = int(rng.integers(arg.low, arg.high + 1))
        else:
            out[arg.name] = rng.uniform(arg.low, arg.high, size=_shape(arg, dims))
    if with_kinks and ex.kink_state is not None:
        first = ex.args[0].name           # put exact kinks into the first input
        a = out[first]
        a.flat[::3] = 0.0
    return out


def _hypothesis_inputs(ex, data):
    from hypothesis import strategies as st
    from hypothesis.extra.numpy import arrays

    dims = {s: data.draw(st.integers(1, 4), label=s) for s in ("B", "D", "H", "K")}
    out = {}
    for arg in ex.args:
        if arg.kind == "label":
            out[arg.name] = data.draw(arrays(np.int64, _shape(arg, dims),
                                             elements=st.integers(0, dims["K"] - 1)), label=arg.name)
        elif arg.kind == "scalar":
            out[arg.name] = data.draw(st.floats(arg.low, arg.high), label=arg.name)
        elif arg.kind == "int":
            out[arg.name] = data.draw(st.integers(int(arg.low), int(arg.high)), label=arg.name)
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
    """(expected outputs, their finite-difference round-off, kink masks): the masks mark the
    entries whose stencil crossed a kink of the objective (None per output without kinks)."""
    if ex.mode == "reference":
        expected = [np.asarray(o, dtype=np.float64) for o in _as_tuple(ex.reference(**_copies(inputs)))]
        return expected, [np.zeros_like(e) for e in expected], [None] * len(expected)
    work = _copies(inputs)
    f = lambda: ex.objective(**work)
    watch = None if ex.kink_state is None else KinkWatch(_ExerciseKinks(ex, work), ex.name)
    expected, noise, masks = [], [], []
    for name in ex.wrt:
        g, n = numerical_gradient(f, work[name], return_noise=True, watch=watch)
        expected.append(g)
        noise.append(n)
        masks.append(None if watch is None else watch.not_comparable.copy())
    if watch is not None:     # where the finite difference is meaningless: the convention
        ref = _as_tuple(ex.reference(**_copies(inputs)))
        for k, mask in enumerate(masks):
            expected[k] = np.where(mask, np.asarray(ref[k], dtype=np.float64), expected[k])
            noise[k] = np.where(mask, 0.0, noise[k])
    return expected, noise, masks


def expected_outputs(ex, inputs, *, return_noise=False):
    """The true answer: finite differences of the objective (gradient exercises, with the
    reference's convention where a finite difference crosses a kink of the objective) or the
    reference itself (reference exercises).

    return_noise: also the finite differences' round-off per entry (0 where the answer is exact),
    from numerical_gradient(..., return_noise=True)."""
    expected, noise, _ = _expected(ex, inputs)
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
    return hints


def _fmt(a):
    return np.array2string(np.asarray(a), precision=4, suppress_small=False, max_line_width=100,
                           threshold=60)


def _describe_inputs(inputs):
    lines = []
    for k, v in inputs.items():
        text = _fmt(v) if isinstance(v, np.ndarray) else repr(v)
        text = text.replace("\n", "\n" + " " * (len(k) + 7))
        lines.append(f"    {k} = {text}")
    return "\n".join(lines)


def _diagnose(ex, out_name, s, e, inputs, dims, kink_mask):
    """(kind, explanation) for one output whose values disagree (same shape)."""
    if not np.all(np.isfinite(s)):
        return "nonfinite", (f"{out_name} contains NaN or inf: a numerically unstable form "
                             f"(exp overflow, log of 0, a division by 0?)")
    bad = _mismatch(s, e)
    if kink_mask is not None and bad.any() and np.all(kink_mask[bad]):
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        return "kink", (f"{out_name} is right everywhere except at the kink (input "
                        f"{_kink_value(ex, inputs, idx)} at index {idx}): there you return "
                        f"{s[idx] + 0.0:.6g}, the convention is {e[idx] + 0.0:.6g}")
    if _close(s, -e):
        return "sign", f"{out_name} has the wrong sign everywhere: yours = -(the true one)"
    if s.ndim == 2 and s.shape[0] == s.shape[1] and _close(s, e.T):
        return "transposed", f"{out_name} is transposed: yours = (the true one).T"
    ee = float(np.vdot(e, e))
    if ee > 0:
        c = float(np.vdot(s, e)) / ee
        if c != 0 and _close(s, c * e):
            names = [why for f, why in _factor_hints(ex, inputs, dims) if abs(c - f) <= 1e-6 * abs(f)]
            why = ("; ".join(names)) if names else "no common cause; recheck the constants"
            what = "gradient" if ex.mode == "gradient" else "value"
            return "factor", (f"{out_name} is off by a constant factor: yours = {c:.6g} x the true "
                              f"{what}. Likely cause: {why}")
    return "values", f"{out_name} has wrong values"


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
                               f"{wanted}", inputs)
    if n == 1:        # one output: a tuple is a count of outputs, anything else is the array
        got = got if isinstance(got, tuple) else (got,)
    else:
        got = tuple(got) if isinstance(got, (tuple, list)) else (got,)
    if len(got) != n:
        raise _Problem("count", f"expected {wanted}, your function returned {len(got)} "
                                f"value{'s' if len(got) != 1 else ''}", inputs)
    arrays = []
    for name, g in zip(ex.outputs, got):
        if g is None:
            raise _Problem("none", f"your function returned None for {name} (a missing "
                                   f"value?); expected {wanted}", inputs)
        try:
            a = np.asarray(g)
        except (TypeError, ValueError) as exc:   # a ragged list
            raise _Problem("error", f"{name} must be a numeric array: {exc}", inputs)
        if a.dtype.kind == "c":
            raise _Problem("error", f"{name} is complex ({a.dtype}): the gradient of a real "
                                    f"function is real (np.real would hide a mistake)", inputs)
        if a.dtype.kind not in "biuf":
            raise _Problem("error", f"{name} must be a numeric array, got "
                                    f"{type(g).__name__} of dtype {a.dtype}", inputs)
        arrays.append(a.astype(np.float64))
    return arrays


def _compare(ex, fn, inputs, dims):
    """Raise _Problem if fn's answer on inputs is wrong; return the max relative error otherwise."""
    try:
        got = fn(*_copies(inputs).values())         # positionally, in the documented order
    except NotImplementedError:
        raise _Problem("not_implemented", "not implemented yet: replace `raise NotImplementedError` "
                                          "with your formula", None)
    except Exception as exc:  # the student's code failed: report it, do not crash the notebook
        raise _Problem("error", f"your function raised {type(exc).__name__}: {exc}", inputs)
    got = _returned_arrays(ex, got, inputs)
    expected, noise, masks = _expected(ex, inputs)
    if ex.compare is not None:
        got, expected = ex.compare(inputs, got), ex.compare(inputs, expected)
    worst = 0.0
    for name, s, e, mask, fd_noise in zip(ex.outputs, got, expected, masks, noise):
        label = f"the step {name}_new - {name}" if ex.compare is not None and name == ex.outputs[0] \
            else name
        if s.shape != e.shape:
            if s.ndim == 2 and s.shape == e.T.shape and _close(s.T, e):
                raise _Problem("transposed", f"{label} is transposed: shape {s.shape}, expected "
                                             f"{e.shape}, and yours.T is right", inputs)
            hint = ""
            if s.size == e.size and _close(s.reshape(e.shape), e):
                hint = " (the values are right: drop keepdims / reshape to the expected shape)"
            raise _Problem("shape", f"{label} has shape {s.shape}, expected {e.shape}{hint}", inputs)
        bad = _mismatch(s, e)
        if bad.any():
            kind, why = _diagnose(ex, label, s, e, inputs, dims, mask)
            err = np.abs(s - e) / np.maximum(np.abs(s) + np.abs(e), 1e-300)
            err = np.where(np.isfinite(err), err, np.inf)
            idx = tuple(int(i) for i in np.unravel_index(int(np.argmax(np.where(bad, err, -1))), s.shape))
            where = f"  worst entry {name}{list(idx)}: yours {s[idx] + 0.0:.6g}, expected {e[idx] + 0.0:.6g}"
            raise _Problem(kind, f"{why}\n{where}", inputs)
        if s.size:
            # how much of the tolerance the worst entry uses (<= 1 passes; see _tolerance)
            worst = max(worst, float(np.max(np.abs(s - e) / _tolerance(s, e))))
    return worst


# ---- the public entry point --------------------------------------------------------------

def check(name, fn, *, n_random=3, n_hypothesis=25, rng=0, verbose=True):
    """Check the student's function ``fn`` for the exercise ``name``; print and return a verdict.

    fn is called with the exercise's inputs as positional arguments in the documented order
    (see describe(name)) and must
    return the listed arrays (a tuple when there are several). The inputs it receives are copies.
    n_random (>= 1) fixed random inputs come first, then n_hypothesis (>= 0) drawn by Hypothesis.
    verbose: print the verdict (shown once in a notebook; see the module doc).
    Returns a CheckResult (truthy when passed).
    """
    if not isinstance(name, str) or name not in EXERCISES:
        raise ValueError(f"name must be one of {sorted(EXERCISES)}, got {name!r}")
    if not callable(fn):
        raise TypeError(f"fn must be a function, got {type(fn).__name__}")
    n_random = _count(n_random, "n_random", 1)
    n_hypothesis = _count(n_hypothesis, "n_hypothesis", 0)
    if not isinstance(verbose, (bool, np.bool_)):
        raise TypeError(f"verbose must be True or False, got {verbose!r}")
    ex = EXERCISES[name]
    seed = rng
    rng = as_generator(rng)
    worst, n_done = 0.0, 0
    result = None
    for k in range(n_random):
        dims = FIXED_DIMS[k % len(FIXED_DIMS)]
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
                             f"the tolerance (relative {RTOL:g}){hyp_note}", max_error=worst, n_inputs=n_done)
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
        return CheckResult(ex.name, problem.kind, f"{ex.name}: {problem.message}")
    source = (f"random input {n_done + 1}" if phase == "random"
              else f"an input Hypothesis found and shrank, after {n_done} inputs passed")
    msg = f"{ex.name}: not right yet ({problem.kind}), on {source}.\n{problem.message}"
    if problem.inputs is not None:
        msg += "\n  input:\n" + _describe_inputs(problem.inputs)
    return CheckResult(ex.name, problem.kind, msg, inputs=problem.inputs, phase=phase,
                       n_inputs=n_done)


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
