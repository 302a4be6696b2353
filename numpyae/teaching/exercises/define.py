"""Define your own exercise: an objective of named inputs, and the checker's whole diagnosis.

    import numpy as np
    from numpyae.teaching.exercises import Input, check, define

    define("ridge_grad", "Gradient of ridge regression\\n"
           "L = 1/B ||X w - y||^2 + lam ||w||^2, X (B, D), w (D,), y (B,). Return dL/dw (D,).",
           objective=lambda w, X, y, lam: np.sum((X @ w - y) ** 2) / len(y) + lam * w @ w,
           inputs={"w": Input("D"), "X": Input("B D"), "y": Input("B"),
                   "lam": Input.scalar(0.1, 1.0)},
           grad=["w"],
           terms={"data fit": lambda w, X, y, lam: 2 * X.T @ (X @ w - y) / len(y),
                  "weight decay": lambda w, X, y, lam: 2 * lam * w})

    def ridge_grad(w, X, y, lam):          # a student forgets the penalty
        return 2 * X.T @ (X @ w - y) / len(y)

    check("ridge_grad", ridge_grad)

prints

    ridge_grad: not right yet (missing term: weight decay), on random input 1.
    dw is missing the term 'weight decay': yours = 'data fit', the true dw = 'data fit' + 'weight decay'
      worst entry dw[...]: yours ..., expected ...
      input: ...

and the same student without the 1/B gets "dw is off by a constant factor ... Likely cause: the
division by the batch size B = 5 is missing", with a transposed X "dw has shape ...", and so on:
every verdict of the checker (shape, transposed, sign, a constant factor named from the
dimensions, wrong only at a kink, NaN, wrong values, a declared mistake, a missing or flipped
term) works on a defined exercise with no further code.

What a teacher gives:
    name        the function the student writes (a Python identifier)
    statement   the text of the exercise; its first line is the title. The inputs, their
                shapes and ranges, and what to return are listed after it automatically.
    inputs      {name: Input(shape, low, high, kinks=...)} in the order of the function's
                arguments: shapes in symbolic dimensions ("B D", or a tuple of symbols and ints),
                the range values are drawn from, and the values where the objective has a kink
                (a relu's 0); Input.scalar(low, high), Input.integer(low, high) and
                Input.labels("B", classes="K") for the other kinds. B is the batch size and D
                the number of features in the verdicts; any other symbol gets a size of its own,
                different from the others, so a factor like 1/N can be named.
    objective   a scalar function of the inputs (as keywords): the student returns its gradient
                with respect to the inputs named in grad=[...], in that order, as d<name>;
                or returns=[names] with a reference for an exercise that is not a derivative
                (a forward pass, an optimizer step)
    reference   optional: the model solution, a function of the inputs. Without one, the
                answer is the finite-difference gradient of the objective, and at a kink any
                value between the two one-sided slopes is accepted (with one, its value there
                is the convention).
    terms       optional: the gradient as a sum of named terms or paths, {term: value function}
                (or {term: (value function, hint)}); {output: {term: ...}} with several outputs.
                An answer equal to a partial sum, to the sum with a term's sign flipped or with a
                term counted twice is named by its terms.
    mistakes    optional: [(name, answer function, explanation)] classic mistakes named when an
                answer equals one of them ("{output}" in the explanation names the output).
    kinks       optional: kink_state(**inputs) -> {name: array} for kinks of derived quantities
                (hinge loss at margin 1: {"margin at 1": y * (X @ w) < 1}).
    dims        optional: {symbol: "the number of samples"}: how a factor verdict names it.

define() checks all of it before registering: the names and kinds, that every function takes the
inputs, that the objective is a finite scalar on random inputs, and that the reference and the
sum of the terms agree with the finite differences of the objective. It registers the exercise
(replacing one of the same name a teacher defined before, never a catalogue exercise) and
returns it; register=False only returns it (check() also takes an Exercise).
"""
from __future__ import annotations

import inspect
import math
import numbers

import numpy as np

from .catalog import EXERCISES, Arg, Exercise, Mistake, Term
from .checker import agrees, expected_outputs, fixed_dims, random_inputs
from .terms import MAX_TERMS


class Input:
    """One input of a teacher's exercise (the name is its key in define's inputs).

    Input(shape, low=-1, high=1, kinks=())   a float array: shape "B D", ("B", "D") or
                                             ("B", 4); "" or () for a 0-d array; values drawn
                                             uniformly in [low, high]; kinks the values where
                                             the objective has a kink in this input
    Input.scalar(low, high)                  a Python float (not differentiated)
    Input.integer(low, high)                 a Python int in [low, high]
    Input.labels(shape="B", classes="K")     integer labels in [0, classes); classes a symbol
                                             or an int
    """

    def __init__(self, shape=(), low=-1.0, high=1.0, *, kinks=(), kind="float", classes=None):
        self.shape = _parse_shape(shape)
        if kind not in ("float", "scalar", "int", "label"):
            raise ValueError(f"kind must be 'float', 'scalar', 'int' or 'label', got {kind!r}")
        self.kind, self.classes = kind, classes
        if kind != "label":
            low, high = _number(low, "low"), _number(high, "high")
            if not low < high:
                raise ValueError(f"low must be < high, got low={low:g}, high={high:g}")
        self.low, self.high = low, high
        if isinstance(kinks, (numbers.Real, np.generic)):
            kinks = (kinks,)
        self.kinks = tuple(_number(k, "kinks") for k in kinks)
        if self.kinks and kind != "float":
            raise ValueError(f"kinks= goes with a float array input, not kind {kind!r}")
        outside = [k for k in self.kinks if not low <= k <= high]
        if outside:
            raise ValueError(f"kinks must lie in the range [{low:g}, {high:g}] the values are "
                             f"drawn from, got {outside[0]:g}")

    @classmethod
    def scalar(cls, low=0.0, high=1.0):
        """A float in [low, high], passed as a Python float (a rate, a weight of a penalty)."""
        return cls((), low, high, kind="scalar")

    @classmethod
    def integer(cls, low=1, high=10):
        """An int in [low, high] (a step number)."""
        for value, what in ((low, "low"), (high, "high")):
            if isinstance(value, bool) or not isinstance(value, numbers.Integral):
                raise TypeError(f"{what} must be an int, got {value!r}")
        return cls((), low, high, kind="int")

    @classmethod
    def labels(cls, shape="B", classes="K"):
        """Integer labels in [0, classes), of the given shape; classes a symbol or an int."""
        if isinstance(classes, str):
            if not classes.isidentifier():
                raise ValueError(f"classes must be a dimension symbol or an int, got {classes!r}")
        elif isinstance(classes, bool) or not isinstance(classes, numbers.Integral) or classes < 1:
            raise ValueError(f"classes must be a dimension symbol or an int >= 1, got {classes!r}")
        return cls(shape, None, None, kind="label", classes=classes)

    def to_arg(self, name):
        """The checker's Arg for this input under the given name."""
        if self.kind == "label":
            return Arg(name, self.shape, kind="label", dim=self.classes)
        return Arg(name, self.shape, self.low, self.high, kind=self.kind, kinks=self.kinks)

    def __repr__(self):
        return f"Input({self.shape!r}, {self.low!r}, {self.high!r}, kind={self.kind!r})"


def _number(value, name):
    """value as a finite float, or a clear error naming the argument."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, np.generic)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__} {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    return value


def _parse_shape(shape):
    """"B D" / "B, D" / ("B", 4) -> ("B", 4): dimension symbols (identifiers) and ints >= 1."""
    if isinstance(shape, str):
        parts = shape.replace(",", " ").split()
    elif isinstance(shape, (tuple, list)):
        parts = list(shape)
    else:
        raise TypeError(f"shape must be a string like 'B D' or a tuple of symbols and ints, "
                        f"got {type(shape).__name__} {shape!r}")
    out = []
    for p in parts:
        if isinstance(p, str) and p.isdigit():
            p = int(p)
        if isinstance(p, str):
            if not p.isidentifier():
                raise ValueError(f"shape entries must be dimension symbols (like B, D) or ints, "
                                 f"got {p!r} in {shape!r}")
        elif isinstance(p, bool) or not isinstance(p, numbers.Integral) or p < 1:
            raise ValueError(f"shape entries must be dimension symbols or ints >= 1, got {p!r} "
                             f"in {shape!r}")
        out.append(p if isinstance(p, str) else int(p))
    return tuple(out)


class FiniteDifferenceReference:
    """The reference of an exercise defined without one: the finite-difference gradient of its
    objective (checker.expected_outputs), called like the student's function."""

    def __init__(self, exercise):
        self.exercise = exercise
        self.__signature__ = inspect.Signature(
            [inspect.Parameter(a.name, inspect.Parameter.POSITIONAL_OR_KEYWORD)
             for a in exercise.args])

    def __call__(self, *args, **kwargs):
        """The outputs (a tuple when there are several) at these inputs."""
        inputs = self.__signature__.bind(*args, **kwargs).arguments
        inputs = {k: np.array(v, dtype=np.float64) if isinstance(v, np.ndarray) and
                  v.dtype.kind == "f" else v for k, v in inputs.items()}
        out = expected_outputs(self.exercise, inputs)
        return out[0] if len(out) == 1 else tuple(out)


def _check_function(fn, what, names):
    """fn must be callable and take the inputs `names` as keyword arguments."""
    if not callable(fn):
        raise TypeError(f"{what} must be a function of the inputs {names}, got "
                        f"{type(fn).__name__}")
    try:
        inspect.signature(fn).bind(**{n: None for n in names})
    except TypeError as exc:
        raise TypeError(f"{what} must take the inputs {names} as arguments of those names "
                        f"({exc})") from None
    except ValueError:       # a builtin without a signature: trust it
        pass


def _names(value, what):
    """A name or a list of names as a list of distinct identifiers."""
    names = [value] if isinstance(value, str) else list(value) if isinstance(
        value, (list, tuple)) else None
    if not names or not all(isinstance(n, str) and n.isidentifier() for n in names):
        raise TypeError(f"{what} must be a name or a non-empty list of names, got {value!r}")
    if len(set(names)) != len(names):
        raise ValueError(f"{what} must list distinct names, got {names}")
    return names


def _normalize_terms(terms, outputs, names):
    """terms as {output: [Term]} (see define)."""
    if terms is None:
        return None
    if isinstance(terms, (list, tuple)) and len(outputs) == 1:
        terms = {outputs[0]: list(terms)}
    if not isinstance(terms, dict) or not terms:
        raise TypeError(f"terms must be a non-empty dict (or, with one output, a list of "
                        f"terms), got {type(terms).__name__}")
    per_output = all(k in outputs and isinstance(v, (dict, list, tuple)) for k, v in terms.items())
    if not per_output:
        if len(outputs) > 1:
            raise ValueError(f"terms must be {{output: {{term: function}}}} for an exercise with "
                             f"several outputs {outputs}, got keys {sorted(terms)}")
        terms = {outputs[0]: terms}
    out = {}
    for output, declared in terms.items():
        items = list(declared.items()) if isinstance(declared, dict) else [
            (t.name, t) if isinstance(t, Term) else (None, t) for t in declared]
        parsed = []
        for term_name, spec in items:
            if isinstance(spec, Term):
                term = spec
            elif isinstance(spec, tuple):
                term = Term(term_name, *spec) if term_name is not None else Term(*spec)
            else:
                term = Term(term_name, spec)
            if not isinstance(term.name, str) or not term.name:
                raise TypeError(f"terms of {output}: every term needs a name, got {term.name!r}")
            _check_function(term.value, f"term {term.name!r} of {output}", names)
            parsed.append(term)
        if len(parsed) < 2 and not any(t.extra for t in parsed):
            raise ValueError(f"terms of {output}: declare at least two terms (a sum), got "
                             f"{[t.name for t in parsed]}")
        if len(parsed) > MAX_TERMS:
            raise ValueError(f"terms of {output}: at most {MAX_TERMS} terms, got {len(parsed)}")
        out[output] = parsed
    return out


def _kink_state(args, kinks):
    """kink_state(**inputs) from the inputs' declared kink values and a function of derived
    kinks (either may be empty), or None when there are none."""
    declared = [(a.name, k) for a in args for k in a.kinks]
    if not declared and kinks is None:
        return None

    def kink_state(**inputs):
        """On which side of each declared kink every entry lies (sign of x - kink)."""
        state = {f"{name} at {k:g}": np.sign(np.asarray(inputs[name]) - k) for name, k in declared}
        if kinks is not None:
            state.update(kinks(**inputs))
        return state

    return kink_state


def define(name, statement, *, inputs, objective=None, grad=None, returns=None, reference=None,
           terms=None, mistakes=(), kinks=None, dims=None, title=None, register=True,
           validate=True):
    """Define an exercise from an objective (see the module docstring); returns the Exercise.

    grad=[input names]: the student returns the objective's gradient with respect to them, in
    that order, named d<input>. returns=[output names] with reference=...: the student returns
    what the reference returns (no derivative). register: add it to the catalogue so that
    check(name, fn) and describe(name) find it. validate: check the objective, the reference
    and the terms on one random input first (ValueError / TypeError naming what is wrong)."""
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"name must be a Python identifier (the function the student writes), "
                         f"got {name!r}")
    if register and name in EXERCISES and EXERCISES[name].builtin:
        raise ValueError(f"name {name!r} is an exercise of numpyae's catalogue; choose another "
                         f"name")
    if not isinstance(statement, str) or not statement.strip():
        raise ValueError(f"statement must be a non-empty string, got {statement!r}")
    if not isinstance(inputs, dict) or not inputs:
        raise TypeError(f"inputs must be a non-empty dict {{name: Input(...)}}, got "
                        f"{type(inputs).__name__}")
    args = []
    for arg_name, spec in inputs.items():
        if not isinstance(arg_name, str) or not arg_name.isidentifier():
            raise ValueError(f"inputs: every name must be a Python identifier, got {arg_name!r}")
        if isinstance(spec, (str, tuple, list)):
            spec = Input(spec)
        if not isinstance(spec, Input):
            raise TypeError(f"inputs[{arg_name!r}] must be an Input (or a shape), got "
                            f"{type(spec).__name__}")
        args.append(spec.to_arg(arg_name))
    names = [a.name for a in args]
    if (grad is None) == (returns is None):
        raise ValueError("give exactly one of grad=[inputs] (the student returns the gradient "
                         "of the objective) and returns=[outputs] (with a reference)")
    if grad is not None:
        wrt = _names(grad, "grad")
        for w in wrt:
            if w not in inputs:
                raise ValueError(f"grad names {w!r}, which is not an input (inputs: {names})")
            kind = args[names.index(w)].kind
            if kind != "float":
                raise ValueError(f"grad names {w!r}, a {kind} input: only float array inputs "
                                 f"have a gradient")
        _check_function(objective, "objective", names)
        outputs, mode = [f"d{w}" for w in wrt], "gradient"
    else:
        outputs, mode, wrt = _names(returns, "returns"), "reference", ()
        if reference is None:
            raise ValueError("returns= needs a reference= (what the student must return)")
        if objective is not None:
            raise ValueError("objective= goes with grad=; an exercise with returns= is judged "
                             "by its reference")
    if reference is not None:
        _check_function(reference, "reference", names)
    if kinks is not None:
        _check_function(kinks, "kinks", names)
    mistakes = [Mistake(*m) for m in mistakes]
    for m in mistakes:
        _check_function(m.answer, f"mistake {m.name!r}", names)
    if dims is not None and not (isinstance(dims, dict) and all(
            isinstance(k, str) and isinstance(v, str) for k, v in dims.items())):
        raise TypeError(f"dims must be {{symbol: description}}, got {dims!r}")
    head, _, rest = statement.strip().partition("\n")
    ex = Exercise(name, title or head.strip(), _prompt(rest.strip() if title is None else
                                                       statement.strip(), args, outputs, wrt),
                  args, outputs, reference, objective=objective, wrt=wrt, mode=mode,
                  kink_state=_kink_state(args, kinks), mistakes=mistakes,
                  terms=_normalize_terms(terms, outputs, names), dim_names=dims)
    if reference is None:
        ex.reference = FiniteDifferenceReference(ex)
    if validate:
        _validate(ex, reference is not None)
    if register:
        EXERCISES[name] = ex
    return ex


def _prompt(text, args, outputs, wrt):
    """The statement followed by the inputs and what to return."""
    lines = [text] if text else []
    lines.append("inputs:  " + ";  ".join(a.describe() for a in args))
    if wrt:
        shapes = {a.name: a.shape for a in args}
        lines.append("return:  " + ", ".join(
            f"{o} = dL/d{w} {_shape(shapes[w])}" for o, w in zip(outputs, wrt)))
    else:
        lines.append("return:  " + ", ".join(outputs))
    return "\n".join(lines)


def _shape(shape):
    inner = ", ".join(str(s) for s in shape)
    return f"({inner},)" if len(shape) == 1 else f"({inner})"


def _validate(ex, has_reference):
    """On one random input: the objective is a finite scalar, the reference returns one array
    per output that agrees with the finite differences, the terms add up to them, and every
    mistake returns one array per output. ValueError naming the part otherwise."""
    dims = fixed_dims(ex)[0]
    inputs = random_inputs(ex, dims, np.random.default_rng(0))
    where = f"define({ex.name!r}) on random inputs of sizes {dims}"

    def call(fn, what):
        copies = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in inputs.items()}
        try:
            with np.errstate(all="ignore"):
                return fn(**copies)
        except Exception as exc:
            raise ValueError(f"{where}: the {what} raised {type(exc).__name__}: {exc}") from exc

    def arrays(out, what):
        out = tuple(out) if isinstance(out, (tuple, list)) else (out,)     # as the checker does
        if len(out) != len(ex.outputs):
            raise ValueError(f"{where}: the {what} returned {len(out)} values, the exercise has "
                             f"{len(ex.outputs)} outputs {ex.outputs}")
        return [np.asarray(o, dtype=np.float64) for o in out]

    if ex.mode == "gradient":
        value = call(ex.objective, "objective")
        if np.ndim(value) != 0 or not np.isfinite(float(np.real(value))) or np.iscomplexobj(value):
            raise ValueError(f"{where}: the objective must return a finite real scalar, got "
                             f"{value!r}")
    expected = call(lambda **kw: expected_outputs(ex, kw), "objective") \
        if ex.mode == "gradient" else None
    if has_reference:
        ref = arrays(call(ex.reference, "reference"), "reference")
        if expected is not None:
            for name, r, e in zip(ex.outputs, ref, expected):
                if r.shape != e.shape:
                    raise ValueError(f"{where}: the reference's {name} has shape {r.shape}, "
                                     f"the gradient has shape {e.shape}")
                if not agrees(r, e):
                    raise ValueError(f"{where}: the reference's {name} disagrees with the finite "
                                     f"differences of the objective (largest difference "
                                     f"{float(np.max(np.abs(r - e))):.3g}); check both")
        expected = ref
    for output, declared in ex.terms.items():
        k = ex.outputs.index(output)
        total = np.zeros(expected[k].shape)
        for t in declared:
            v = np.asarray(call(t.value, f"term {t.name!r}"), dtype=np.float64)
            try:
                v = np.broadcast_to(v, total.shape)
            except ValueError:
                raise ValueError(f"{where}: term {t.name!r} has shape {v.shape}, {output} has "
                                 f"{total.shape}") from None
            if not t.extra:
                total = total + v
        if not agrees(total, expected[k]):
            raise ValueError(f"{where}: the terms {[t.name for t in declared if not t.extra]} "
                             f"do not add up to {output} (largest difference "
                             f"{float(np.max(np.abs(total - expected[k]))):.3g})")
    for m in ex.mistakes:
        arrays(call(m.answer, f"mistake {m.name!r}"), f"mistake {m.name!r}")


def remove(name):
    """Remove an exercise a teacher defined (never a catalogue one); returns it."""
    if name not in EXERCISES or EXERCISES[name].builtin:
        defined = sorted(n for n, ex in EXERCISES.items() if not ex.builtin)
        raise ValueError(f"name must be an exercise defined with define(), one of {defined}, "
                         f"got {name!r}")
    return EXERCISES.pop(name)
