"""Watch backprop happen: record one forward and one backward pass, step by step.

    t = trace_backprop(model, X)          # a float64 copy of the model runs loss_and_grad(X)
    print(t)                              # every step as text (the terminal view)
    t                                     # in Jupyter: an HTML table, one row per step
    for step in t: ...                    # step through it (forward steps, then backward steps)
    t.show(3)                             # one step, with its formula and its gradient check
    t.next()                              # the step after the last one shown

How it works (no per-layer code): every object reachable from the model that keeps the
protocol of ARCHITECTURE.md, a ``forward`` and a ``backward`` (layers, losses, likelihoods,
penalties; also a Layer whose backward nobody calls, such as input corruption), gets thin
instance-level wrappers for the length of one ``loss_and_grad`` call. Each call is recorded with
its inputs, outputs and the arrays the object cached on itself. A call that makes no nested
traced call is a *step*; a container such as Sequential just passes its work on to its layers,
which show up as the steps. A container whose backward adds gradients of its own is a step as
well, credited with what its children did not add. Calls an object makes on itself belong to
the outer call.

The formula shown for a step is the object's ``formula`` attribute if it has one (a string, or
a dict with "forward" and "backward" keys), otherwise it is read from the class docstring: the
text before a line starting with "Backward" is the forward formula and the rest the backward one
(without such a line: first paragraph forward, the remaining paragraphs or the backward
method's docstring backward).

The gradient check of a backward step is local to that step. If the step's forward computed
``y = f(x; θ)`` and backward received ``dy``, then the step owes exactly the gradient of the
scalar ``<f(x; θ), dy>`` with respect to θ (what it added into each Parameter.grad) and to x
(what it returned; nothing with input_grad=False). A keyword gradient ``d<name>=g`` of
backward (Dense's ``da``, a penalty's gradient on the pre-activation a) adds ``<name, g>`` to
that scalar, ``name`` being the quantity the forward cached on the object.
``numpyae.teaching.gradcheck.numerical_gradient`` measures that scalar's gradient by
finite differences, re-running only this step's forward with the recorded input (and the
recorded random-number state, so noise layers draw the same noise). For a loss, whose backward
takes no argument, the scalar is the loss itself.
"""
from __future__ import annotations

import html
import inspect
import re

import numpy as np

from ..core.checks import check_dtype
from ..core.random import as_generator
from ..models.base import Model
from ..nn.layers import Layer, input_dim
from .cases import GRADCHECK_CASES
from .gradcheck import (COLORS, FrozenRandomness, check_data, check_labels_arg, check_layer_arg,
                        check_model_arg, check_order, check_step, float64_copy, kink_watch,
                        make_row, numerical_gradient, verdict, walk)

__all__ = ["Trace", "Step", "trace_backprop", "traceable_models", "build_traceable"]

PREVIEW = 4


# ---- discovering what to wrap -----------------------------------------------------------

def _is_traceable(obj):
    """Layers, losses, likelihoods, penalties: forward and backward methods (or a Layer's
    forward alone: input corruption, whose backward nobody calls)."""
    if isinstance(obj, type):
        return False
    has_forward = callable(getattr(obj, "forward", None))
    return has_forward and (callable(getattr(obj, "backward", None)) or isinstance(obj, Layer))


def discover(root):
    """[(dotted name, object)] for every object reachable from root with forward and backward.

    Names follow the model's own naming (named_children, Sequential indices, attributes), so a
    model's first encoder layer is "encoder.0" and its loss "loss". Each object appears once,
    under the first name it is reached by. root itself is included (named "") if traceable.
    (The walk is numpyae.teaching.gradcheck.walk, which the kink watch uses as well.)
    """
    return [(name, obj) for name, obj in walk(root) if _is_traceable(obj)]


# ---- formulas ---------------------------------------------------------------------------

def _first_line(text):
    return (text or "").strip().splitlines()[0] if (text or "").strip() else ""


def formulas(obj):
    """(forward formula, backward formula) for obj, from obj.formula or the docstrings."""
    explicit = getattr(obj, "formula", None)
    if isinstance(explicit, dict):
        return explicit.get("forward", ""), explicit.get("backward", "")
    if isinstance(explicit, str):
        return explicit, explicit
    doc = inspect.getdoc(type(obj)) or ""
    lines = doc.splitlines()
    cut = next((i for i, line in enumerate(lines) if re.match(r"\s*(backward|gradient)\b", line, re.I)), None)
    if cut is not None:
        fwd, bwd = "\n".join(lines[:cut]).strip(), "\n".join(lines[cut:]).strip()
    else:
        # no "Backward" section (losses, for instance): the forward formula is the docstring
        # without its derivative statements (text from "dL/d" on), the backward one all of it
        kept = []
        for line in lines:
            k = line.find("dL/d")
            line = line if k < 0 else line[:k].rstrip(" ;,")
            if line.strip() or (kept and kept[-1].strip()):
                kept.append(line)
        fwd = "\n".join(kept).strip()
        # the backward method's own docstring (not one inherited from the protocol's base class)
        method_doc = inspect.cleandoc(getattr(getattr(type(obj), "backward", None), "__doc__", None) or "")
        bwd = method_doc if method_doc and "dL/d" not in doc else doc
    act = getattr(obj, "activation", None)
    if act is not None and inspect.getdoc(type(act)):
        note = f"f = {getattr(act, 'name', type(act).__name__)}:  {_first_line(inspect.getdoc(type(act)))}"
        fwd, bwd = f"{fwd}\n{note}", f"{bwd}\n{note}"
    return fwd, bwd


# ---- small formatting helpers -----------------------------------------------------------

def _norm(a):
    return float(np.linalg.norm(np.ravel(np.asarray(a, dtype=np.float64))))


def _preview(a, n=PREVIEW):
    flat = np.ravel(np.asarray(a))
    if flat.dtype.kind not in "biuf":
        return "…"
    items = " ".join(f"{v:.3g}" for v in flat[:n])
    return f"[{items}{' …' if flat.size > n else ''}]"


def describe(label, value):
    """'label (5, 4)  |.|=1.23  [0.1 0.2 0.3 0.4 …]' for an array, 'label = 0.693' for a scalar."""
    arr = np.asarray(value)
    if arr.ndim == 0 and arr.dtype.kind in "biuf":
        return f"{label} = {float(arr):.6g}"
    if arr.dtype.kind not in "biuf":
        return f"{label} {type(value).__name__}"
    if arr.dtype.kind in "iu":
        return f"{label} {arr.shape} int {_preview(arr)}"
    return f"{label} {arr.shape}  |.|={_norm(arr):.4g}  {_preview(arr)}"


def _arrays_of(obj):
    """Array (and NumPy scalar) attributes an object holds: what its forward cached."""
    if not hasattr(obj, "__dict__"):
        return {}
    return {k: v for k, v in vars(obj).items()
            if isinstance(v, (np.ndarray, np.generic)) and not k.startswith("_")}


def _copy(value):
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, tuple):
        return tuple(_copy(v) for v in value)
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _as_list(value):
    if value is None:
        return []
    return list(value) if isinstance(value, (tuple, list)) else [value]


def _is_float_array(v):
    return isinstance(v, np.ndarray) and v.dtype.kind == "f"


def _arg_names(method, n):
    """Names of the first n positional parameters of a (bound) method, e.g. ['x'] or ['output', 'target']."""
    try:
        params = [p.name for p in inspect.signature(method).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        params = []
    return [params[i] if i < len(params) else f"arg{i}" for i in range(n)]


# ---- records ----------------------------------------------------------------------------

class _Call:
    """One recorded call of a wrapped forward or backward (steps are the leaf calls)."""

    def __init__(self, name, obj, phase, parent):
        self.name, self.obj, self.phase, self.parent = name, obj, phase, parent
        self.children = 0
        self.kids = []


class GradientCheck:
    """One quantity of a step: the analytic gradient beside the numeric one.

    max_error is over the comparable entries (None if nothing was compared); n_kink counts the
    entries whose stencil crosses a kink (not comparable, never an error) and kink_note names
    the kink, as in numpyae.teaching.gradcheck's reports."""
    __slots__ = ("name", "analytic", "numeric", "max_error", "note", "n_kink", "kink_note")

    def __init__(self, name, analytic, numeric=None, note="", noise=None, watch=None):
        """noise: the finite differences' round-off per entry (numerical_gradient(...,
        return_noise=True)); entries too small to resolve are measured against that floor,
        as numpyae.teaching.gradcheck does. watch: the KinkWatch of that numerical_gradient."""
        self.name, self.analytic, self.numeric, self.note = name, analytic, numeric, note
        self.max_error, self.n_kink, self.kink_note = None, 0, ""
        if numeric is not None and np.size(analytic):
            row = make_row(name, analytic, numeric, 0.0 if noise is None else noise, watch)
            self.n_kink, self.kink_note = row.n_kink, row.kink_note
            if row.index is not None:          # some entry was comparable
                self.max_error = row.max_error

    def __str__(self):
        if self.numeric is None:
            return f"{self.name}: {self.note or 'not checked'}"
        err = "not comparable" if self.max_error is None else f"{self.max_error:.1e}"
        text = (f"d{self.name}: analytic {_preview(self.analytic)}  numeric "
                f"{_preview(self.numeric)}  max rel err {err}")
        indent = "\n" + " " * 11        # under the text after Step.__str__'s "     check "
        return text + (indent + self.kink_note.replace("\n", indent) if self.kink_note else "")


class Step:
    """One forward or backward call of one layer (or loss, or penalty).

    Attributes
        index, phase ("forward"/"backward"), name (e.g. "encoder.0"), obj (the layer)
        formula            the math this step applies
        inputs, outputs    [(label, array)]   copies taken during the pass
        cached             {name: array}      what the forward stored on the layer (forward steps)
        grads              {parameter name: array}  what this backward step ADDED into .grad
        forward_step       for a backward step, the forward step it differentiates
        input_grad         for a backward step, whether it computed dL/dx (False: x is data)
    """

    def __init__(self, index, phase, name, obj, input_grad=True):
        self.index, self.phase, self.name, self.obj = index, phase, name, obj
        self.layer = type(obj).__name__
        self.title = repr(obj) if len(repr(obj)) <= 80 and "\n" not in repr(obj) else self.layer
        fwd, bwd = formulas(obj)
        self.formula = fwd if phase == "forward" else bwd
        self.input_grad = input_grad
        if not input_grad:
            self.title = f"{self.title}  (parameters only: its input is data, no dx)"
        self.inputs, self.outputs, self.cached, self.grads = [], [], {}, {}
        self.param_names = {}
        self.forward_step = None
        self._args = self._kwargs = self._frozen = None
        self._upstream, self._keyword_grads = [], {}
        self._checks = None

    def grad_label(self, key):
        """'dW' for a parameter this step owns under its own name, 'dW (= encoder.1.W)' if shared."""
        local = self.param_names.get(key, key)
        if local == key:                     # not a parameter of this step's object (a penalty)
            return f"d({key})"
        own = key == (f"{self.name}.{local}" if self.name else local)
        return f"d{local}" if own else f"d{local} (= {key})"

    def gradient_check(self, h=None, order=4):
        """[GradientCheck] for each parameter gradient and each returned input gradient.

        Empty for forward steps. Computed once, then cached (recomputed if h/order differ from
        the defaults, i.e. when given explicitly).
        """
        order = check_order(order)
        h = None if h is None else check_step(h, order)
        if self.phase != "backward":
            return []
        if self._checks is not None and h is None and order == 4:
            return self._checks
        checks = self._compute_checks(h, order)
        if h is None and order == 4:
            self._checks = checks
        return checks

    def _compute_checks(self, h, order):
        fwd = self.forward_step
        if fwd is None:
            return [GradientCheck(k, v, note="no matching forward step") for k, v in self.grads.items()]
        args = [_copy(a) for a in fwd._args]
        kwargs = dict(fwd._kwargs)
        upstream, keyword_grads = self._upstream, self._keyword_grads
        obj = self.obj
        if any(_is_float_array(a) and a.dtype != np.float64 for a in args):
            note = "not checked: trace a float64 model (the default) for a numeric comparison"
            return ([GradientCheck(k, v, note=note) for k, v in self.grads.items()]
                    + [GradientCheck(label, v, note=note) for label, v in self.outputs if v is not None])

        replay = obj.forward

        def local_objective():
            fwd._frozen.restore()
            out = replay(*args, **kwargs)
            if not upstream:       # a loss: backward() takes nothing, the objective is the loss
                return float(np.sum(out))
            total = sum(np.vdot(np.asarray(o, dtype=np.float64), u)
                        for o, u in zip(_as_list(out), upstream))
            for name, g in keyword_grads.items():   # backward(dy, d<name>=g): + <name, g>
                total += np.vdot(np.asarray(getattr(obj, name), dtype=np.float64), g)
            return float(total)

        checks = []
        # the kinks of this step's object (a relu layer's a > 0, TopK's mask, |h| of the L1
        # penalty): entries whose stencil crosses one are not comparable (gradcheck module doc)
        watch = kink_watch(obj, self.name or "(model)")
        try:
            owned = {id(p): p for _, p in getattr(obj, "named_parameters", lambda: [])()}
            for key, analytic in self.grads.items():
                p = self._params[key]
                numeric, noise = numerical_gradient(local_objective, p.value, h, order,
                                                    return_noise=True, watch=watch)
                checks.append(GradientCheck(self.grad_label(key)[1:], analytic, numeric,
                                            "" if id(p) in owned else "parameter not owned by this step",
                                            noise=noise, watch=watch))
            float_args = [i for i, a in enumerate(args) if _is_float_array(a)]
            for (label, analytic), i in zip(self.outputs, float_args):
                if not _is_float_array(analytic):
                    continue
                numeric, noise = numerical_gradient(local_objective, args[i], h, order,
                                                    return_noise=True, watch=watch)
                checks.append(GradientCheck(label[1:] if label.startswith("d") else label,
                                            analytic, numeric, noise=noise, watch=watch))
        except Exception as exc:  # an object whose forward cannot be replayed on its own
            checks.append(GradientCheck("step", np.zeros(0), note=f"not checked: {type(exc).__name__}: {exc}"))
        fwd._frozen.restore()
        return checks

    def max_error(self):
        """The largest relative error of this step's gradient checks, or None (nothing checked)."""
        errs = [c.max_error for c in self.gradient_check() if c.max_error is not None]
        return max(errs) if errs else None

    def header(self):
        """The step's one-line title: "[index] phase name  title"."""
        return f"[{self.index:2d}] {self.phase:8s} {self.name or '(model)'}  {self.title}"

    def __str__(self):
        pad = "     "
        out = [self.header()]
        out += [pad + line for line in self.formula.splitlines() if line.strip()]
        out += [pad + "in   " + describe(label, v) for label, v in self.inputs]
        out += [pad + "out  " + describe(label, v) for label, v in self.outputs if v is not None]
        for k, v in self.cached.items():
            out.append(pad + "kept " + describe(k, v))
        if self.phase == "backward":
            for key, g in self.grads.items():
                out.append(pad + "grad " + describe(self.grad_label(key), g))
            checks = [c for c in self.gradient_check()]
            for c in checks:
                out.append(pad + "check " + str(c))
        return "\n".join(out)

    __repr__ = __str__

    def _html_cells(self, with_check=True):
        esc = html.escape
        ins = "<br>".join(esc(describe(lbl, v)) for lbl, v in self.inputs)
        outs = "<br>".join(esc(describe(lbl, v)) for lbl, v in self.outputs if v is not None)
        cached = "<br>".join(esc(describe(k, v)) for k, v in self.cached.items())
        grads = "<br>".join(esc(describe(self.grad_label(k), g)) for k, g in self.grads.items())
        check = ""
        if with_check and self.phase == "backward":
            rows = []
            for c in self.gradient_check():
                if c.numeric is None:
                    rows.append(esc(str(c)))
                    continue
                # a badge with its own background and text colour: readable on any theme
                kind = "kink" if c.max_error is None else verdict(c.max_error)
                bg, fg = COLORS[kind]
                err = "not comparable" if c.max_error is None else f"{c.max_error:.1e}"
                note = (f'<br><small style="background:{COLORS["kink"][0]};color:'
                        f'{COLORS["kink"][1]}">{esc(c.kink_note).replace(chr(10), "<br>")}</small>'
                        if c.kink_note else "")
                rows.append(f'd{esc(c.name)}: <span style="background:{bg};color:{fg};'
                            f'padding:0 0.3em">{err}</span>'
                            f'<br><small>analytic {esc(_preview(c.analytic))}<br>'
                            f'numeric {esc(_preview(c.numeric))}</small>{note}')
            check = "<br>".join(rows)
        return [str(self.index), self.phase, esc(self.name or "(model)") + "<br><small>" + esc(self.title) + "</small>",
                # long formula lines wrap, so the table fits a notebook's width
                f'<pre style="margin:0;font-size:85%;white-space:pre-wrap;word-break:break-word;'
                f'max-width:36em">{esc(self.formula)}</pre>', ins, outs,
                cached, grads, check]

    def _repr_html_(self):
        head = ["#", "phase", "step", "formula", "in", "out", "kept for backward",
                "gradients added", "analytic vs numeric (max rel err)"]
        return _html_table(head, [self._html_cells()])


def _html_table(head, rows):
    th = "".join(f'<th style="text-align:left">{h}</th>' for h in head)
    trs = "".join("<tr>" + "".join(f'<td style="text-align:left;vertical-align:top">{c}</td>'
                                   for c in row) + "</tr>" for row in rows)
    return f'<table style="font-size:90%"><tr>{th}</tr>{trs}</table>'


class Trace:
    """The recorded pass: ``steps`` in execution order (forward steps, then backward steps).

    Iterate it, index it (trace[i]), ``show(i)`` one step, or call ``next()`` repeatedly to step
    through. ``terms`` are the loss terms of the pass, ``grads`` the full parameter gradients.
    """

    def __init__(self, model, steps, terms, grads, unattributed, title):
        self.model, self.steps, self.terms = model, steps, terms
        self.grads, self.unattributed, self.title = grads, unattributed, title
        self._cursor = -1

    def __len__(self):
        return len(self.steps)

    def __iter__(self):
        return iter(self.steps)

    def __getitem__(self, i):
        return self.steps[i]

    @property
    def forward_steps(self):
        """The forward steps, in execution order."""
        return [s for s in self.steps if s.phase == "forward"]

    @property
    def backward_steps(self):
        """The backward steps, in execution order."""
        return [s for s in self.steps if s.phase == "backward"]

    def find(self, name, phase="backward"):
        """The step of the named layer (e.g. "encoder.0") in the given phase."""
        for s in self.steps:
            if s.name == name and s.phase == phase:
                return s
        raise KeyError(f"no {phase} step named {name!r}; steps are {sorted({s.name for s in self.steps})}")

    def show(self, i):
        """Step i (displays as text or HTML); also moves the cursor used by next()."""
        if not -len(self.steps) <= i < len(self.steps):
            raise IndexError(f"step index must lie in [0, {len(self.steps)}), got {i}")
        self._cursor = i % len(self.steps)
        return self.steps[self._cursor]

    def next(self):
        """The step after the last one shown (starts at step 0, wraps around)."""
        return self.show((self._cursor + 1) % len(self.steps))

    def check(self):
        """Run every backward step's gradient check; returns the largest relative error."""
        errs = [s.max_error() for s in self.backward_steps]
        errs = [e for e in errs if e is not None]
        return max(errs) if errs else None

    def summary(self):
        """Text: the loss terms, each parameter gradient's size, gradients added outside the
        traced steps, and the largest relative error of any step's gradient check."""
        lines = ["loss terms: " + ", ".join(f"{k} = {v:.6g}" for k, v in self.terms.items())]
        lines.append("parameter gradients (sum over all steps):")
        for name, g in self.grads.items():
            lines.append("  " + describe(f"{name}.grad", g))
        for name, g in self.unattributed.items():
            lines.append(f"  {name}.grad: |.|={_norm(g):.3g} was added outside the traced steps "
                         f"(e.g. a penalty written inside the model's loss_and_grad)")
        worst = self.check()
        if worst is not None:
            word = "agrees" if worst <= 1e-7 else "DISAGREES"
            lines.append(f"largest relative error of any step against finite differences: "
                         f"{worst:.1e} ({word})")
        n_kink = self.n_kink()
        if n_kink:
            lines.append(f"{n_kink} gradient entries not comparable: their finite difference "
                         f"crosses a kink (relu at 0, a TopK tie, ...; see the steps). Not an "
                         f"error: the verdict rests on the other entries.")
        return "\n".join(lines)

    def n_kink(self):
        """The number of gradient entries, over all backward steps, whose finite difference
        crosses a kink (not comparable; see GradientCheck)."""
        return sum(c.n_kink for s in self.backward_steps for c in s.gradient_check())

    def __str__(self):
        parts = [self.title, "=" * len(self.title)]
        parts += [str(s) + "\n" for s in self.steps]
        parts.append(self.summary())
        return "\n".join(parts)

    __repr__ = __str__

    def _repr_html_(self):
        head = ["#", "phase", "step", "formula", "in", "out", "kept for backward",
                "gradients added", "analytic vs numeric (max rel err)"]
        table = _html_table(head, [s._html_cells() for s in self.steps])
        summary = html.escape(self.summary()).replace("\n", "<br>")
        return f"<b>{html.escape(self.title)}</b>{table}<p>{summary}</p>"


# ---- recording --------------------------------------------------------------------------

class _Recorder:
    """Wraps forward and backward of every traced object and records each call."""

    def __init__(self, root, params):
        self.calls, self.stack, self.open_forward = [], [], {}
        self.params = params           # [(name, Parameter)] of the whole model
        self.root = root

    def _inside_self(self, obj):
        """A call an object makes on itself is part of the outer call, not a step of its own."""
        return bool(self.stack) and self.stack[-1].obj is obj

    def wrap(self, name, obj):
        """Instance-level wrappers of obj.forward and obj.backward (undone by _unwrap)."""
        methods = [m for m in ("forward", "backward") if callable(getattr(obj, m, None))]
        saved = {m: vars(obj)[m] for m in methods if m in vars(obj)}
        for m in methods:
            wrapper = self._forward_wrapper if m == "forward" else self._backward_wrapper
            setattr(obj, m, wrapper(name, obj, getattr(obj, m)))
        return obj, methods, saved

    def _forward_wrapper(self, name, obj, orig):
        rec = self

        def forward(*args, **kwargs):
            if rec._inside_self(obj):
                return orig(*args, **kwargs)
            call = rec._begin(name, obj, "forward")
            call.frozen = FrozenRandomness(obj)
            call.args = [_copy(a) for a in args]
            call.kwargs = dict(kwargs)
            call.arg_names = _arg_names(orig, len(args))
            try:
                out = orig(*args, **kwargs)
            finally:
                rec._end()
            call.result = _copy(out)
            call.cached = {k: _copy(v) for k, v in _arrays_of(obj).items()}
            rec.open_forward.setdefault(id(obj), []).append(call)
            return out
        return forward

    def _backward_wrapper(self, name, obj, orig):
        rec = self

        def backward(*args, **kwargs):
            if rec._inside_self(obj):
                return orig(*args, **kwargs)
            call = rec._begin(name, obj, "backward")
            call.args = [_copy(a) for a in args]
            call.kwargs = {k: _copy(v) for k, v in kwargs.items()}
            call.arg_names = _arg_names(orig, len(args))
            before = {id(p): p.grad.copy() for _, p in rec.params}
            try:
                out = orig(*args, **kwargs)
            finally:
                rec._end()
            call.result = _copy(out)
            call.deltas = {}
            for pname, p in rec.params:
                d = p.grad - before[id(p)]
                if np.any(d != 0):
                    call.deltas[pname] = d
            opened = rec.open_forward.get(id(obj), [])
            call.forward = opened.pop() if opened else None
            return out
        return backward

    def _begin(self, name, obj, phase):
        parent = self.stack[-1] if self.stack else None
        call = _Call(name, obj, phase, parent)
        if parent is not None:
            parent.children += 1
            parent.kids.append(call)
        self.calls.append(call)
        self.stack.append(call)
        return call

    def _end(self):
        self.stack.pop()


def _unwrap(obj, methods, saved):
    for m in methods:
        if m in vars(obj):
            del obj.__dict__[m]
        if m in saved:
            obj.__dict__[m] = saved[m]


def _model_params(model):
    if hasattr(model, "named_parameters_unique"):
        return model.named_parameters_unique()
    seen, out = set(), []
    for name, p in getattr(model, "named_parameters", lambda: [])():
        if id(p) not in seen:
            seen.add(id(p))
            out.append((name, p))
    return out


def trace_backprop(model, X, y=None, *, copy=True, dtype=np.float64, rng=0, check=False):
    """Record one forward and backward pass of ``model`` on the batch X (labels y if needed).

    model   a numpyae Model (its loss_and_grad is traced) or a Layer (then the pass is
            y = layer(X) followed by backward(R) for a fixed random R, as check_layer does)
    copy    trace a deep copy cast to ``dtype`` (float64 by default, so each step's analytic
            gradient can be compared with finite differences); the given model is untouched
    check   run every step's gradient check now (otherwise it runs when a step is displayed)
    Returns a Trace. The arguments are checked first: X real, finite, non-empty, with the
    model's feature count; y only for a model that trains on labels.
    """
    is_model = isinstance(model, Model)
    if is_model:
        check_model_arg(model)
    elif isinstance(model, Layer):
        check_layer_arg(model, "model")
    else:
        raise TypeError(f"model must be a numpyae Model or Layer, got {type(model).__name__}")
    for flag, value in (("copy", copy), ("check", check)):
        if not isinstance(value, (bool, np.bool_)):
            raise TypeError(f"{flag} must be True or False, got {value!r}")
    dtype = check_dtype(dtype)
    rng = as_generator(rng)
    X = check_data(X, "X", model.input_dim if is_model else input_dim(model),
                   ndim=2 if is_model else None)
    if is_model:
        y = check_labels_arg(model, y, len(X))
    elif y is not None:
        raise ValueError(f"y must be None when tracing a layer, got {type(y).__name__}")
    if copy:
        model = _cast_copy(model, dtype, is_model)
    else:                        # the pass runs in the model's own dtype
        params = model.parameters()
        dtype = params[0].value.dtype.type if params else dtype
    X = X.astype(dtype, copy=False)
    params = _model_params(model)
    rec, targets, terms = _record_pass(model, X, y, params, is_model, rng)
    steps = _build_steps(rec, targets, params)
    grads = {name: p.grad.copy() for name, p in params}
    title = (f"backprop trace of {type(model).__name__} on a batch of {X.shape[0]} "
             f"({len([s for s in steps if s.phase == 'forward'])} forward steps, "
             f"{len([s for s in steps if s.phase == 'backward'])} backward steps)")
    t = Trace(model, steps, {k: float(v) for k, v in terms.items()}, grads,
              _unattributed(grads, steps), title)
    if check:
        t.check()
    return t


def _cast_copy(model, dtype, is_model):
    """A deep copy of the model (or layer) with its parameters cast to dtype."""
    if is_model:
        return model.astype(dtype)
    model, _ = float64_copy(model)
    if dtype != np.float64:
        for p in model.parameters():
            p.astype(dtype)
    return model


def _record_pass(model, X, y, params, is_model, rng):
    """Wrap every traceable object, run one loss_and_grad (or a layer's forward and backward
    against a fixed random R), unwrap. Returns (recorder, wrapped targets, loss terms)."""
    rec = _Recorder(model, params)
    targets = discover(model)
    if is_model:
        targets = [(n, o) for n, o in targets if o is not model]
    wrapped = [rec.wrap(name, obj) for name, obj in targets]
    try:
        if is_model:
            terms = model.loss_and_grad(X, y)
        else:
            for p in model.parameters():
                p.zero_grad()
            out = model.forward(X, training=True)
            R = as_generator(rng).standard_normal(np.shape(out)).astype(out.dtype)
            model.backward(R)
            terms = {"loss": float(np.vdot(out, R))}
    finally:
        for obj, methods, saved in wrapped:
            _unwrap(obj, methods, saved)
    return rec, targets, terms


def _step_calls(rec):
    """The recorded calls that become steps, forward ones first: every leaf call, and a
    container's backward that adds gradients of its own beyond its children's (credited with
    just those), with its forward."""
    for c in rec.calls:
        if c.phase == "backward" and c.children:
            own = {k: d.copy() for k, d in c.deltas.items()}
            for kid in c.kids:
                for k, d in getattr(kid, "deltas", {}).items():
                    if k in own:
                        own[k] -= d
            c.deltas = {k: d for k, d in own.items() if np.any(np.abs(d) > 1e-14 * max(1.0, _norm(d)))}
    keep = {id(c) for c in rec.calls if c.children == 0}
    for c in rec.calls:
        if c.phase == "backward" and c.children and c.deltas:
            keep.add(id(c))
            if c.forward is not None:
                keep.add(id(c.forward))
    ordered = [c for c in rec.calls if id(c) in keep]
    return [c for c in ordered if c.phase == "forward"] + [c for c in ordered if c.phase == "backward"]


def _build_steps(rec, targets, params):
    """Steps from the recorded calls, each backward step paired with its forward step."""
    param_by_name = dict(params)
    local_names = {}
    for _, obj in targets:
        for lname, p in getattr(obj, "named_parameters", lambda: [])():
            local_names.setdefault((id(obj), id(p)), lname)
    steps, by_call = [], {}
    calls = _step_calls(rec)
    for i, c in enumerate(calls):
        if c.phase == "forward":
            s = Step(i, c.phase, c.name, c.obj)
            s.inputs = [(n, a) for n, a in zip(c.arg_names, c.args)]
            res = c.result
            if isinstance(res, (tuple, list)):
                s.outputs = [(f"out{k}", r) for k, r in enumerate(res)]
            else:
                s.outputs = [("L" if np.ndim(res) == 0 else "y", res)]
            s.cached = dict(c.cached)
            s._args, s._kwargs, s._frozen = c.args, c.kwargs, c.frozen
        else:
            s = Step(i, c.phase, c.name, c.obj, input_grad=c.kwargs.get("input_grad", True))
            s._upstream = list(c.args)
            s._keyword_grads = {k[1:]: v for k, v in c.kwargs.items()
                                if k.startswith("d") and _is_float_array(v)}
            s.inputs = [(n, a) for n, a in zip(c.arg_names, c.args)]
            s.inputs += [(k, v) for k, v in c.kwargs.items() if _is_float_array(v)]
            fwd = c.forward
            float_names = ([n for n, a in zip(fwd.arg_names, fwd.args) if _is_float_array(a)]
                           if fwd is not None else [])
            res = _as_list(c.result)
            s.outputs = [(f"d{float_names[k]}" if k < len(float_names) else f"grad{k}", r)
                         for k, r in enumerate(res)]
            s.grads = dict(c.deltas)
            s._params = {k: param_by_name[k] for k in c.deltas}
            s.param_names = {k: local_names.get((id(c.obj), id(param_by_name[k])), k) for k in c.deltas}
        by_call[id(c)] = s
        steps.append(s)
    for c in calls:
        if c.phase == "backward" and c.forward is not None:
            by_call[id(c)].forward_step = by_call.get(id(c.forward))
    return steps


def _unattributed(grads, steps):
    """{parameter name: gradient} added outside every traced step (e.g. inside a model's own
    backward), which the steps therefore do not explain."""
    attributed = {name: np.zeros_like(g) for name, g in grads.items()}
    for s in steps:
        for k, d in s.grads.items():
            attributed[k] += d
    out = {}
    for name, g in grads.items():
        rest = g - attributed[name]
        if _norm(rest) > 1e-12 * max(1.0, _norm(g)):
            out[name] = rest
    return out


# ---- models by name (for the CLI and notebooks) ------------------------------------------

def traceable_models():
    """Names usable with build_traceable: every gradcheck case in numpyae.teaching.cases."""
    return list(GRADCHECK_CASES)


def build_traceable(name, rng=0):
    """(case name, model, X, y) for a model name: an exact case name ("autoencoder (tanh, bce)")
    or its first word ("autoencoder", "sparse", "vae", ...), which picks the first such case."""
    if name in GRADCHECK_CASES:
        key = name
    else:
        matches = [k for k in GRADCHECK_CASES if k.split(" (")[0] == name or k.split()[0] == name]
        if not matches:
            words = sorted({k.split(" (")[0] for k in GRADCHECK_CASES})
            raise ValueError(f"model must be one of {words} or a full case name "
                             f"{sorted(GRADCHECK_CASES)}, got {name!r}")
        key = matches[0]
    model, X, y = GRADCHECK_CASES[key](as_generator(rng))
    return key, model, X, y
