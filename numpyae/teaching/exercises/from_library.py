"""Exercises derived from numpyae itself: any layer, loss or penalty becomes "implement this
backward" in one call. Its forward is the objective and its own backward the reference, so the
checker's whole diagnosis applies (shape, transposed, sign, factor, kink, terms, ...).

    from numpyae.teaching.exercises import from_layer, from_loss, from_penalty, check
    from numpyae.nn.layers import Dense
    from numpyae.nn.penalties import Contractive

    from_layer(Dense(8, 4, "tanh"))           # registers "dense_layer_backward":
                                              #   dense_layer_backward(x, W, b, dy) -> dx, dW, db
    from_loss(MSE())                          # mse_loss_backward(output, target) -> doutput
    from_penalty(Contractive(lam=0.5), layer=Dense(5, 3, "sigmoid"))
                                              # contractive_penalty_backward(x, W, b) -> dW, db

The protocols (ARCHITECTURE.md) say what the objective is:
    layer    L = sum(layer.forward(x) * dy); the student returns dx and every parameter's
             gradient: layer.backward(dy) and the Parameters' .grad
    loss     L = loss.forward(output, target); the student returns loss.backward()
    penalty  P = penalty.forward(h, None, []) of a code h (a penalty of the code alone: KL
             sparsity, L1) -> dP/dh; or, with its code layer (a Dense h = f(x W + b)),
             P = penalty.forward(layer.forward(x), layer, [W]) -> (dP/dW, dP/db) through every
             path: the penalty's backward gives (dh, da) and adds the part of dW that bypasses
             both, and the layer's backward(dh, da=da) takes it down to W and b.
Copies of the objects in float64 are used; the originals are untouched.

Paths are found from the protocols too. A parameter used by several layers of a Sequential (a
tied W) gets its gradient declared as the sum of its uses, each measured by running the layers'
backward one at a time ("use in layer 1 (TiedDense)", or the names given in ``uses``); a
penalty whose backward adds a direct term into W.grad gets dW declared as "through h" +
"direct". An answer that leaves one out is then named by it.

The statement is the object's docstring up to its "Backward" / "Gradient" section (the
answer), with any "dL/d..." formula removed, and the shapes. Kinks (a relu, KL's clip) come
from the objects' kink_state(); their backward's value is the convention at a kink. For a
layer with a bias b, the first fixed input has exact kinks planted: every third row of x and
every second entry of the first b set to 0, so a = x W + b is exactly 0 there.
"""
from __future__ import annotations

import copy
import inspect
import re

import numpy as np

from ...nn.layers import Dense, Layer, Sequential, TiedDense, flatten, input_dim
from ...nn.losses import Loss, SoftmaxCrossEntropy
from ...nn.penalties import Contractive, KLSparsity, Penalty
from ..gradcheck import FrozenRandomness, walk
from .catalog import EXERCISES, Exercise, Term, _add
from .checker import FIXED_DIMS
from .define import Input

#: the range of a layer's parameters and of the upstream gradient dy in the drawn inputs
PARAMETER_RANGE, UPSTREAM_RANGE = (-1.0, 1.0), (-2.0, 2.0)

#: the default range of a code h fed to a penalty (inside (0, 1), clear of KL's clip)
CODE_RANGE = (0.05, 0.95)


def _snake(name):
    """"KLSparsity" -> "kl_sparsity", "TiedDense" -> "tied_dense", "L1Activity" ->
    "l1_activity", "Conv2D" -> "conv2d"."""
    return re.sub(r"(?<=[A-Z0-9])(?=[A-Z][a-z])|(?<=[a-z])(?=[A-Z])", "_", name).lower()


def forward_doc(obj):
    """The object's docstring without its answer: the lines before the first one that starts a
    "Backward" or "Gradient" section, each cut before any "dL/d..." or "dP/d..." formula."""
    doc = inspect.getdoc(type(obj)) or ""
    lines = []
    for line in doc.splitlines():
        if re.match(r"\s*(Backward|Gradient)\b", line):
            break
        parts = re.split(r"\s*;?\s*\bd[LP]/d", line, maxsplit=1)
        cut = parts[0].rstrip(" ;,") if len(parts) > 1 else line
        if cut.strip() or not line.strip():
            lines.append(cut)
    while lines and not lines[-1].strip():
        lines.pop()
    return "\n".join(lines)


def _shape_text(shape):
    inner = ", ".join(str(s) for s in shape)
    return f"({inner},)" if len(shape) == 1 else f"({inner})"


def _with_signature(names, body):
    """A function taking `names` positionally or by keyword, calling body({name: value})."""
    sig = inspect.Signature([inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD)
                             for n in names])

    def fn(*args, **kwargs):
        return body(sig.bind(*args, **kwargs).arguments)

    fn.__signature__ = sig
    fn.__doc__ = body.__doc__
    return fn


def _float64(obj):
    """A deep copy of obj with every Parameter of its layers cast to float64."""
    obj = copy.deepcopy(obj)
    for _, part in walk(obj):
        if isinstance(part, Layer):
            for p in part.parameters():
                if p.value.dtype != np.float64:
                    p.astype(np.float64)
    return obj


def _kink_sources(root):
    """[(label, object)] of everything reachable from root with a kink_state() method."""
    return [(path or type(root).__name__, obj) for path, obj in walk(root)
            if callable(getattr(type(obj), "kink_state", None))]


def _kink_state_of(sources):
    """{"<object>'s <kink>": state} of every source after the last forward."""
    state = {}
    for label, obj in sources:
        for key, value in obj.kink_state().items():
            state[f"{label}'s {key}"] = np.array(value, copy=True)
    return state


def _kink_state_function(sources, run):
    """kink_state(**inputs) for the checker: run(inputs) (a forward pass), then the kink states
    of the sources; None when the sources report no kink after the last forward."""
    if not _kink_state_of(sources):
        return None

    def kink_state(**inputs):
        """The kink states at these inputs (after a forward pass)."""
        run(inputs)
        return _kink_state_of(sources)

    return kink_state


def _arg_names(named, names, taken):
    """Python identifiers for the unique Parameters of `named` [(dotted name, Parameter)]: the
    user's names[dotted] or the last part of the dotted name, with _1, _2 ... on a clash."""
    out, seen = [], set()
    for dotted, p in named:
        if id(p) in seen:
            continue
        seen.add(id(p))
        arg = (names or {}).get(dotted) or dotted.rsplit(".", 1)[-1]
        if not arg.isidentifier():
            raise ValueError(f"names[{dotted!r}] must be a Python identifier, got {arg!r}")
        base, k = arg, 0
        while arg in taken:
            k += 1
            arg = f"{base}_{k}"
        taken.add(arg)
        out.append((arg, dotted, p))
    return out


def _register(ex, register):
    if register:
        if ex.name in EXERCISES and EXERCISES[ex.name].builtin:
            raise ValueError(f"name {ex.name!r} is an exercise of numpyae's catalogue; pass "
                             f"name= to choose another")
        EXERCISES[ex.name] = ex
    return ex


def _check_name(name, default):
    name = default if name is None else name
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"name must be a Python identifier, got {name!r}")
    return name


def _input_spec(spec, what, default):
    if spec is None:
        return default
    if isinstance(spec, (str, tuple, list)):
        return Input(spec)
    if not isinstance(spec, Input):
        raise TypeError(f"{what} must be an Input (or a shape), got {type(spec).__name__}")
    return spec


# ---- layers ------------------------------------------------------------------------------------

def from_layer(layer, *, name=None, x=None, names=None, uses=None, title=None, register=True):
    """The exercise "implement this layer's backward" (see the module docstring).

    layer     a numpyae Layer (a Sequential too); copied in float64, its sizes fixed
    name      the function to write (default "<layer class>_layer_backward")
    x         the input's Input (default ("B", n_in) in [-1, 1]; needed for a layer without
              n_in, e.g. a convolution: Input(("B", 8, 8, 1)))
    names     {dotted parameter name: argument name} ({"1.b": "c"}); default the last part
    uses      {leaf layer index: name of that use} for a parameter several layers share
              ({0: "encoder use", 1: "decoder use"})
    The student writes name(x, <parameters>, dy) -> (dx, d<parameter>, ...).
    """
    if not isinstance(layer, Layer):
        raise TypeError(f"layer must be a numpyae Layer, got {type(layer).__name__}")
    name = _check_name(name, f"{_snake(type(layer).__name__)}_layer_backward")
    layer = _float64(layer)
    if x is None:
        n_in = input_dim(layer)
        if n_in is None:
            raise ValueError(f"x= is needed: {type(layer).__name__} does not say its input size "
                             f"(give Input(('B', ...)) with the sizes after the batch)")
        x = Input(("B", n_in))
    x = _input_spec(x, "x", None)
    if not x.shape or x.shape[0] != "B" or not all(isinstance(s, int) for s in x.shape[1:]):
        raise ValueError(f"x must have the shape ('B', sizes...) with int sizes after the batch "
                         f"symbol B (the layer's sizes are fixed), got {x.shape}")
    params = _arg_names(layer.named_parameters(), names, {"x", "dy"})
    frozen = FrozenRandomness(layer)
    trial = np.random.default_rng(0).uniform(x.low, x.high, (2,) + x.shape[1:])
    frozen.restore()
    y_shape = layer.forward(trial, training=True).shape[1:]

    def load(inputs):
        for arg, _, p in params:
            p.value[...] = inputs[arg]
        frozen.restore()

    def forward(inputs):
        load(inputs)
        return layer.forward(np.asarray(inputs["x"], dtype=np.float64), training=True)

    def objective(inputs):
        """L = sum(layer.forward(x) * dy)."""
        return float(np.vdot(forward(inputs), inputs["dy"]))

    def backward(inputs):
        """(dx, parameter gradients...) of the layer's own backward."""
        for _, _, p in params:
            p.zero_grad()
        forward(inputs)
        dx = layer.backward(np.asarray(inputs["dy"], dtype=np.float64), input_grad=True)
        return (np.array(dx, copy=True),) + tuple(p.grad.copy() for _, _, p in params)

    arg_names = ["x"] + [a for a, _, _ in params] + ["dy"]
    args = [x.to_arg("x")] + [Input(p.shape, *PARAMETER_RANGE).to_arg(a) for a, _, p in params]
    args.append(Input(("B",) + tuple(y_shape), *UPSTREAM_RANGE).to_arg("dy"))
    outputs = ["dx"] + [f"d{a}" for a, _, _ in params]
    forward({a.name: np.zeros(_concrete(a.shape)) for a in args})
    kink_state = _kink_state_function(_kink_sources(layer), forward)
    terms = _use_terms(layer, params, load, uses)
    shapes = "; ".join(f"{a.name} {_shape_text(a.shape)}" for a in args)
    shared = [a for a, _, p in params if _users(layer, p) > 1]
    docs = []
    for leaf in flatten(layer):
        if type(leaf) not in [type(d) for d in docs]:
            docs.append(leaf)
    doc = "\n\n".join(f"{type(d).__name__}: {forward_doc(d)}" if len(docs) > 1 else forward_doc(d)
                       for d in docs)
    prompt = (f"From numpyae: {layer!r}\n\n{doc}\n\n"
              f"y = layer.forward(x) has the shape {_shape_text(args[-1].shape)}. Inputs: "
              f"{shapes}. Given dy = dL/dy, return ({', '.join(outputs)}): the gradients of "
              f"L = sum(y * dy) with respect to x and each parameter, each of the shape of what "
              f"it is the gradient of.")
    if shared:
        prompt += (f" {', '.join(shared)} {'is' if len(shared) == 1 else 'are'} used by several "
                   f"layers: the gradient is the sum over the uses.")
    ex = Exercise(name, title or f"Backward pass of numpyae's {type(layer).__name__} "
                                 f"({_describe_layer(layer)})", prompt,
                  args, outputs, _with_signature(arg_names, backward),
                  objective=_with_signature(arg_names, objective),
                  wrt=["x"] + [a for a, _, _ in params], kink_state=kink_state,
                  plant_kinks=_plant_layer_kinks(params) if kink_state else None,
                  terms=terms, kink_convention="reference")
    return _register(ex, register)


def _concrete(shape, batch=2):
    """A shape with B = batch and any other symbol at its size in the checker's first case."""
    return tuple(batch if s == "B" else FIXED_DIMS[0].get(s, 3) if isinstance(s, str) else s
                 for s in shape)


def _describe_layer(layer):
    """"4 -> 3, relu": a layer's sizes and activation, or its class names for a stack."""
    leaves = flatten(layer)
    if len(leaves) > 1:
        return " + ".join(type(leaf).__name__ for leaf in leaves)
    n_in, n_out = getattr(layer, "n_in", None), getattr(layer, "n_out", None)
    act = getattr(getattr(layer, "activation", None), "name", None)
    parts = [f"{n_in} -> {n_out}"] if n_in and n_out else []
    return ", ".join(parts + ([act] if act else [])) or type(layer).__name__


def _users(layer, p):
    """How many leaf layers of `layer` hold the Parameter p."""
    return sum(any(q is p for _, q in leaf.named_parameters()) for leaf in flatten(layer))


def _use_terms(layer, params, load, uses):
    """{"d<arg>": [Term per use]} for every Parameter used by more than one leaf layer: the
    contribution of each use, measured by running the leaves' backward one at a time."""
    leaves = flatten(layer)
    uses = {str(k): v for k, v in (uses or {}).items()}
    terms = {}

    def contributions(inputs, i, p):
        for _, _, q in params:
            q.zero_grad()
        load(inputs)
        layer.forward(np.asarray(inputs["x"], dtype=np.float64), training=True)
        g = np.asarray(inputs["dy"], dtype=np.float64)
        for j in range(len(leaves) - 1, -1, -1):
            before = p.grad.copy()
            g = leaves[j].backward(g, input_grad=True)
            if j == i:
                return p.grad - before
        raise AssertionError("unreachable: i is a leaf index")

    for arg, _, p in params:
        users = [i for i, leaf in enumerate(leaves) if any(q is p for _, q in leaf.named_parameters())]
        if len(users) < 2:
            continue
        terms[f"d{arg}"] = [
            Term(uses.get(str(i), f"use in layer {i} ({type(leaves[i]).__name__})"),
                 _with_signature(["x"] + [a for a, _, _ in params] + ["dy"],
                                 lambda inputs, i=i, p=p: contributions(inputs, i, p)),
                 f"{arg} is used by layer {i} ({type(leaves[i]).__name__}) too: that use adds "
                 f"its own gradient into d{arg}.")
            for i in users]
    return terms


def _plant_layer_kinks(params):
    """Exact kinks for an affine layer: every third row of x and every second entry of the first
    bias set to 0, so the pre-activation is exactly 0 there (in place)."""
    bias = next((arg for arg, dotted, _ in params if dotted.rsplit(".", 1)[-1] == "b"), None)

    def plant(inputs):
        if bias is None:
            return
        inputs["x"][::3] = 0.0
        inputs[bias][::2] = 0.0

    return plant


# ---- losses ------------------------------------------------------------------------------------

def from_loss(loss, *, name=None, output=None, target=None, title=None, register=True):
    """The exercise "implement this loss's backward": name(output, target) -> doutput.

    output  the output's Input (default ("B", "D") in [-2, 2])
    target  the target's Input (default: labels in [0, D) for SoftmaxCrossEntropy, else floats
            in [0, 1] of the output's shape)
    """
    if not isinstance(loss, Loss):
        raise TypeError(f"loss must be a numpyae Loss, got {type(loss).__name__}")
    name = _check_name(name, f"{_snake(type(loss).__name__)}_loss_backward")
    loss = copy.deepcopy(loss)
    output = _input_spec(output, "output", Input(("B", "D"), -2.0, 2.0))
    if target is None:
        target = (Input.labels(output.shape[:1], classes=output.shape[-1])
                  if isinstance(loss, SoftmaxCrossEntropy) else Input(output.shape, 0.0, 1.0))
    target = _input_spec(target, "target", None)

    def objective(inputs):
        """L = loss.forward(output, target)."""
        return float(loss.forward(np.asarray(inputs["output"], dtype=np.float64), inputs["target"]))

    def backward(inputs):
        """loss.backward() after the forward."""
        objective(inputs)
        return np.array(loss.backward(), copy=True)

    args = [output.to_arg("output"), target.to_arg("target")]
    prompt = (f"From numpyae: {loss!r}\n\n{forward_doc(loss)}\n\n"
              f"Given output {_shape_text(output.shape)} and target "
              f"{_shape_text(target.shape)}, return doutput = dL/d output "
              f"{_shape_text(output.shape)}, what loss.backward() returns after "
              f"L = loss.forward(output, target).")
    names = ["output", "target"]
    ex = Exercise(name, title or f"Gradient of numpyae's {type(loss).__name__}", prompt, args,
                  ["doutput"], _with_signature(names, backward),
                  objective=_with_signature(names, objective), wrt=["output"],
                  kink_convention="reference")
    return _register(ex, register)


# ---- penalties ---------------------------------------------------------------------------------

def from_penalty(penalty, *, name=None, layer=None, code=None, x=None, title=None, register=True):
    """The exercise "implement this penalty's backward".

    Without layer: name(h) -> dh, the gradient of P = penalty.forward(h, None, []) of a code h
    (code: its Input, default ("B", "H") in (0.05, 0.95)); for a penalty of the code alone.
    With layer (a Dense code layer h = f(x W + b)): name(x, W, b) -> (dW, db), the gradient of
    P = penalty.forward(layer.forward(x), layer, [W]) through every path (x: its Input,
    default ("B", n_in) in [-1, 1]).
    """
    if not isinstance(penalty, Penalty):
        raise TypeError(f"penalty must be a numpyae Penalty, got {type(penalty).__name__}")
    name = _check_name(name, f"{_snake(type(penalty).__name__)}_penalty_backward")
    penalty = copy.deepcopy(penalty)
    if layer is None:
        return _register(_code_penalty(penalty, name, code, title), register)
    if code is not None:
        raise ValueError("code= goes without layer=: with a code layer, the code is "
                         "layer.forward(x)")
    if not isinstance(layer, Dense):
        raise TypeError(f"layer must be a Dense code layer, got {type(layer).__name__}")
    return _register(_layer_penalty(penalty, name, _float64(layer), x, title), register)


def _code_penalty(penalty, name, code, title):
    code = _input_spec(code, "code", Input(("B", "H"), *CODE_RANGE))
    try:
        penalty.bind(None)
        trial = np.random.default_rng(0).uniform(code.low, code.high, _concrete(code.shape, 3))
        penalty.forward(trial, None, [])
        dh, da = penalty.backward()
    except (TypeError, AttributeError) as exc:
        raise TypeError(f"{type(penalty).__name__} needs its code layer: pass layer=Dense(...) "
                        f"({exc})") from None
    if da is not None or dh is None:
        raise TypeError(f"{type(penalty).__name__} acts on the code layer's pre-activation or "
                        f"weights, not on the code alone: pass layer=Dense(...)")

    def objective(inputs):
        """P = penalty.forward(h, None, [])."""
        return float(penalty.forward(np.asarray(inputs["h"], dtype=np.float64), None, []))

    def backward(inputs):
        """dP/dh from penalty.backward()."""
        objective(inputs)
        return np.array(penalty.backward()[0], dtype=np.float64)

    kink_state = _kink_state_function(_kink_sources(penalty), objective)

    prompt = (f"From numpyae: {penalty!r}\n\n{forward_doc(penalty)}\n\n"
              f"Given the code h {_shape_text(code.shape)}, return dh = dP/dh "
              f"{_shape_text(code.shape)}, the first of what penalty.backward() returns after "
              f"P = penalty.forward(h, layer, weights).")
    def plant(inputs):
        """Exact zeros (the kink of |h|) in every third entry of h, if 0 is in its range."""
        if code.low < 0 < code.high:
            inputs["h"].reshape(-1)[::3] = 0.0

    return Exercise(name, title or f"Gradient of numpyae's {type(penalty).__name__} penalty",
                    prompt, [code.to_arg("h")], ["dh"], _with_signature(["h"], backward),
                    objective=_with_signature(["h"], objective), wrt=["h"],
                    kink_state=kink_state, plant_kinks=plant, kink_convention="reference")


def _layer_penalty(penalty, name, layer, x, title):
    penalty.bind(layer)
    x = _input_spec(x, "x", Input(("B", layer.n_in)))
    W, b = layer.W, layer.b
    names = ["x", "W", "b"]

    def objective(inputs):
        """P = penalty.forward(layer.forward(x), layer, [W])."""
        W.value[...], b.value[...] = inputs["W"], inputs["b"]
        h = layer.forward(np.asarray(inputs["x"], dtype=np.float64), training=True)
        return float(penalty.forward(h, layer, [W]))

    def paths(inputs):
        """(dW through h, dW direct, db): penalty.backward() and the layer's backward."""
        W.zero_grad()
        b.zero_grad()
        objective(inputs)
        dh, da = penalty.backward()
        direct = W.grad.copy()
        if dh is None:
            dh = np.zeros_like(layer.y)
        layer.backward(dh, input_grad=False, da=da)
        return W.grad - direct, direct, b.grad.copy()

    def backward(inputs):
        """(dW, db) through every path."""
        through, direct, db = paths(inputs)
        return through + direct, db

    args = [x.to_arg("x"), Input(W.shape, *PARAMETER_RANGE).to_arg("W"),
            Input(b.shape, *PARAMETER_RANGE).to_arg("b")]
    trial = {a.name: np.random.default_rng(0).uniform(-1, 1, _concrete(a.shape, 3)) for a in args}
    through, direct, _ = paths(trial)
    terms = None
    if np.any(direct) and np.any(through):
        terms = {"dW": [
            Term("through h", _with_signature(names, lambda inputs: paths(inputs)[0]),
                 "W sits inside the code h = f(x W + b): the penalty's dh and da reach W "
                 "through the layer, x^T (dh f'(a) + da)."),
            Term("direct", _with_signature(names, lambda inputs: paths(inputs)[1]),
                 "the penalty also uses W itself (not only through h and a): its direct "
                 "term, added into W.grad by the penalty's backward.")]}
    sources = _kink_sources(penalty)
    if not any(obj is layer for _, obj in sources):
        sources.append(("code layer", layer))
    kink_state = _kink_state_function(sources, objective)

    prompt = (f"From numpyae: {penalty!r} on the code layer {layer!r}\n\n"
              f"{forward_doc(penalty)}\n\n"
              f"The code layer h = f(x W + b) has x {_shape_text(x.shape)}, W "
              f"{_shape_text(W.shape)}, b {_shape_text(b.shape)}. Given x, W and b, return "
              f"(dW, db): the gradient of P = penalty.forward(h, layer, [W]) with respect to W "
              f"and b through every path by which they reach P.")
    return Exercise(name, title or f"Gradient of numpyae's {type(penalty).__name__} penalty "
                                   f"through its code layer", prompt, args, ["dW", "db"],
                    _with_signature(names, backward), objective=_with_signature(names, objective),
                    wrt=["W", "b"], kink_state=kink_state, terms=terms,
                    kink_convention="reference")


# ---- the catalogue's exercises derived from the library ---------------------------------------

_add(from_layer(Dense(4, 3, "relu", rng=0), name="library_dense_backward",
                title="Backward pass of numpyae's Dense layer (4 -> 3, relu)", register=False))

_add(from_layer(TiedDense(Dense(3, 4, rng=0), "sigmoid"), name="library_tied_dense_backward",
                title="Backward pass of numpyae's TiedDense layer (4 -> 3, sigmoid, W tied)",
                register=False))


def _tied_pair():
    encoder = Dense(4, 3, "sigmoid", rng=0)
    return Sequential([encoder, TiedDense(encoder)])


_add(from_layer(_tied_pair(), name="library_tied_autoencoder_backward", names={"1.b": "c"},
                uses={0: "encoder use", 1: "decoder use"},
                title="Backward pass of numpyae's tied pair Dense + TiedDense (one W, two uses)",
                register=False))

_add(from_penalty(KLSparsity(rho=0.1, beta=1.0), name="library_kl_sparsity_backward",
                  title="Backward pass of numpyae's KLSparsity penalty", register=False))

_add(from_penalty(Contractive(lam=1.0), layer=Dense(4, 3, "sigmoid", rng=0),
                  name="library_contractive_backward",
                  title="Backward pass of numpyae's Contractive penalty through its code layer",
                  register=False))
