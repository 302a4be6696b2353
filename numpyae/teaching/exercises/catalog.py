"""The exercises: what to derive, the scalar whose gradient is the answer, and a reference solution.

Every exercise is a plain function a student writes. For a *gradient* exercise the checker
knows a scalar objective L(inputs) and compares the student's arrays with the finite-difference
gradient of L with respect to the listed inputs (numpyae.teaching.gradcheck.numerical_gradient).
When a gradient flows in from above (dy), the objective is L = sum(f(inputs) * dy), whose
gradient is exactly what a backward pass must return.

The reference solutions are written here from the formulas alone (self-contained: no other part of
numpyae is used), so a teacher can read them next to the prompt.
"""
from __future__ import annotations

import math
from typing import Callable, NamedTuple

import numpy as np


class Arg:
    """One input of an exercise.

    kind   "float" array with a shape of dimension symbols ("B", "D", ...) or ints, drawn
           uniformly in [low, high]; "label" integer array of shape ("B",) in [0, K) (K the
           symbol or int ``dim``, "K" by default); "scalar" a float in [low, high]; "int" an int
           in [low, high]; "dim" the int size of the dimension symbol ``dim`` itself (a
           convolution's stride: the shapes depend on it, so it is drawn with them, see
           Exercise's draw_dims).
    kinks  values of a "float" input where the objective has a kink (relu's 0): the checker
           plants exact kinks there and watches finite differences crossing them.
    """

    def __init__(self, name, shape=(), low=-1.0, high=1.0, kind="float", dim=None, kinks=()):
        if dim is not None and kind not in ("dim", "label") or kind == "dim" and dim is None:
            raise ValueError(f"Arg {name!r}: dim= goes with kind='dim' and only with it (or "
                             f"with kind='label': the number of classes), got kind={kind!r}, "
                             f"dim={dim!r}")
        self.name, self.shape, self.low, self.high, self.kind = name, tuple(shape), low, high, kind
        self.dim = dim
        self.kinks = tuple(float(k) for k in kinks)

    @property
    def classes(self):
        """The number of classes of a "label" input: its symbol or int (default "K")."""
        return "K" if self.dim is None else self.dim

    def describe(self):
        """"x (B, D) in [-1, 1]": the input as a statement lists it."""
        if self.kind == "label":
            return f"{self.name} {_shape_text(self.shape)} integer labels in [0, {self.classes})"
        if self.kind == "dim":
            return f"{self.name} an int (the size {self.dim})"
        what = {"scalar": "a float", "int": "an int"}.get(self.kind)
        text = (f"{self.name} {what}" if what else f"{self.name} {_shape_text(self.shape)}")
        text += f" in [{self.low:g}, {self.high:g}]"
        if self.kinks:
            text += f", kinks at {', '.join(f'{k:g}' for k in self.kinks)}"
        return text


def _shape_text(shape):
    """("B", 4) -> "(B, 4)"; a one-element shape keeps its comma: "(B,)"."""
    inner = ", ".join(str(s) for s in shape)
    return f"({inner},)" if len(shape) == 1 else f"({inner})"


class Term(NamedTuple):
    """One named term (or path) of an exercise's gradient: the gradient of an output is declared
    as the sum of its terms (Exercise(terms=...)), and an answer equal to a partial sum, or to
    the sum with a term's sign flipped or a term counted twice, is named by its terms.

    name   what the student would call it: "through h", "direct", "decoder use", "one-hot"
    value  value(**inputs) -> that term's contribution to the output (broadcast to its shape)
    hint   one sentence on where the term comes from, shown when it is missing or wrong
    extra  True for a term that does NOT belong to the answer (a classic addition, like a
           bias gradient through a path that does not reach it): named when it is present
    """

    name: str
    value: Callable
    hint: str = ""
    extra: bool = False


class Mistake(NamedTuple):
    """A classic mistake of an exercise, recognised by the answer it produces.

    name     a short identifier shown in the verdict ("flipped_kernel")
    answer   answer(*inputs) -> the outputs the mistake produces, in the reference's form
             (an output the mistake does not change may equal the right one: it is skipped)
    message  the explanation; "{output}" in it is replaced by the name of the output that matches
    When an answer is wrong, the checker compares each wrong output with every declared
    mistake's output of the same name (shapes included: a mistake that changes a shape is
    recognised by it) and names the first mistake it equals within the checker's tolerance.
    """

    name: str
    answer: Callable
    message: str


class Exercise:
    """name, the prompt, inputs (Arg list), outputs (names), and how the answer is known.

    mode "gradient": outputs are the gradients of objective(*inputs) with respect to the inputs
                     named in ``wrt`` (in order), measured by finite differences.
    mode "reference": outputs are compared with reference(*inputs) (a computation that is not a
                     derivative, e.g. one Adam step).
    kink_state(inputs) -> {kink name: array}: on which side of each kink of the objective the
                     inputs lie (relu: a > 0), as a layer's kink_state() does. The checker's
                     finite differences watch it (numpyae.teaching.gradcheck.KinkWatch): where a
                     stencil crosses a kink even at the smallest step tried, the finite
                     difference is meaningless and the reference's convention is expected.
    hints(inputs, dims) -> [(factor, explanation)] for the "off by a constant factor" verdict.
    mistakes         [Mistake(name, answer, message)] (or plain 3-tuples): the classic mistakes
                     the checker names when an answer equals one of them (see Mistake).
    fixed_dims       [{symbol: size}] the sizes of the fixed random inputs (the checker's
                     FIXED_DIMS if None); draw_dims(draw) -> {symbol: size} the sizes of the inputs
                     Hypothesis draws, draw(symbol, low, high) drawing one int (B, D, H, K in
                     [1, 4] if None). Exercises whose sizes depend on each other (a convolution's
                     input size on its kernel, stride and padding) declare both.
    plant_kinks(inputs) puts exact kinks into the first fixed input (in place; default: every
                     third entry of the first argument set to 0, the kink of relu and |h|).
    reference        None for a gradient exercise known only by its objective: the answer is
                     then the finite-difference gradient everywhere (numpyae's define() gives
                     such an exercise a reference that computes it).
    kink_convention  what is expected where a finite difference crosses a kink: "reference"
                     (the reference's value: relu'(0) = 0) or "subgradient" (any value between
                     the two one-sided slopes; the default without a reference).
    terms            {output: [Term(name, value, hint)] (or plain tuples)}: the output's gradient
                     as a sum of named terms or paths; an answer equal to a partial sum, or to
                     the sum with a term's sign flipped, is named by its terms (terms.py).
    dim_names        {symbol: "the number of samples"}: how a constant-factor verdict calls a
                     dimension ("the batch size B" and "the number of features D" are known).
    builtin          True for the catalogue's own exercises (define() may not replace them).
    """

    def __init__(self, name, title, prompt, args, outputs, reference, *, objective=None, wrt=(),
                 mode="gradient", kink_state=None, hints=None, compare=None, mistakes=(),
                 fixed_dims=None, draw_dims=None, plant_kinks=None, kink_convention=None,
                 terms=None, dim_names=None, builtin=False):
        self.name, self.title, self.prompt = name, title, prompt
        self.args, self.outputs, self.reference = list(args), list(outputs), reference
        self.objective, self.wrt, self.mode = objective, tuple(wrt), mode
        self.kink_state, self.hints, self.compare = kink_state, hints, compare
        self.mistakes = [Mistake(*m) for m in mistakes]
        self.fixed_dims, self.draw_dims, self.plant_kinks = fixed_dims, draw_dims, plant_kinks
        if kink_convention is None:
            kink_convention = "reference" if reference is not None else "subgradient"
        if kink_convention not in ("reference", "subgradient"):
            raise ValueError(f"kink_convention must be 'reference' or 'subgradient', got "
                             f"{kink_convention!r}")
        if kink_convention == "reference" and reference is None:
            raise ValueError(f"exercise {name}: kink_convention='reference' needs a reference")
        if mode == "reference" and reference is None:
            raise ValueError(f"exercise {name}: mode 'reference' compares with the reference, "
                             f"so it needs one")
        self.kink_convention = kink_convention
        self.terms = {out: [Term(*t) for t in ts] for out, ts in (terms or {}).items()}
        unknown = sorted(set(self.terms) - set(self.outputs))
        if unknown:
            raise ValueError(f"exercise {name}: terms name outputs {unknown} it does not have "
                             f"(outputs {self.outputs})")
        self.dim_names = dict(dim_names or {})
        self.builtin = builtin

    @property
    def signature(self):
        """The function to write, "name(arg, ...) -> out, ..."."""
        return f"{self.name}({', '.join(a.name for a in self.args)}) -> {', '.join(self.outputs)}"

    def describe(self):
        """The exercise as text: title, prompt and the signature to write."""
        return f"{self.title}\n\n{self.prompt}\n\nwrite:  def {self.signature}"

    def __repr__(self):
        return f"Exercise({self.signature})"


EXERCISES = {}


def _add(ex):
    """Register a catalogue exercise (builtin: define() may not replace it)."""
    ex.builtin = True
    EXERCISES[ex.name] = ex
    return ex


# ---- numerically safe helpers used by the references and objectives ---------------------

def _sigmoid(a):
    e = np.exp(-np.abs(a))
    return np.where(a >= 0, 1.0, e) / (1.0 + e)


def _log_softmax(z):
    s = z - z.max(axis=1, keepdims=True)
    return s - np.log(np.exp(s).sum(axis=1, keepdims=True))


# ---- activations -------------------------------------------------------------------------

_add(Exercise(
    "sigmoid_backward", "Backward pass of the sigmoid",
    "y = sigmoid(a) = 1 / (1 + exp(-a)), elementwise.\n"
    "Given the pre-activation a (B, D) and the upstream gradient dy = dL/dy (B, D),\n"
    "return da = dL/da (B, D).  (Hint: write sigmoid'(a) in terms of y.)",
    [Arg("a", ("B", "D"), -6, 6), Arg("dy", ("B", "D"), -2, 2)], ["da"],
    reference=lambda a, dy: dy * _sigmoid(a) * (1 - _sigmoid(a)),
    objective=lambda a, dy: float(np.sum(_sigmoid(a) * dy)), wrt=("a",)))

_add(Exercise(
    "tanh_backward", "Backward pass of tanh",
    "y = tanh(a), elementwise. Given a (B, D) and dy = dL/dy (B, D), return da = dL/da (B, D).",
    [Arg("a", ("B", "D"), -4, 4), Arg("dy", ("B", "D"), -2, 2)], ["da"],
    reference=lambda a, dy: dy * (1 - np.tanh(a) ** 2),
    objective=lambda a, dy: float(np.sum(np.tanh(a) * dy)), wrt=("a",)))

_add(Exercise(
    "relu_backward", "Backward pass of the ReLU",
    "y = max(a, 0), elementwise. Given a (B, D) and dy = dL/dy (B, D), return da = dL/da (B, D).\n"
    "At the kink a = 0 the derivative does not exist; use 0 there (the usual convention:\n"
    "relu'(a) = 1 where a > 0, else 0).",
    [Arg("a", ("B", "D"), -2, 2), Arg("dy", ("B", "D"), -2, 2)], ["da"],
    reference=lambda a, dy: dy * (a > 0),
    objective=lambda a, dy: float(np.sum(np.maximum(a, 0) * dy)), wrt=("a",),
    kink_state=lambda a, dy: {"relu at a = 0": a > 0}))

# ---- dense layer -------------------------------------------------------------------------

_add(Exercise(
    "dense_backward", "Backward pass of a dense (affine) layer",
    "y = x W + b   with x (B, n_in), W (n_in, n_out), b (n_out,), y (B, n_out).\n"
    "Given dy = dL/dy (B, n_out), return (dx, dW, db): the gradients of L with respect to\n"
    "x (B, n_in), W (n_in, n_out) and b (n_out,). Each has the shape of the thing it is the\n"
    "gradient of.",
    [Arg("x", ("B", "D")), Arg("W", ("D", "H")), Arg("b", ("H",)), Arg("dy", ("B", "H"), -2, 2)],
    ["dx", "dW", "db"],
    reference=lambda x, W, b, dy: (dy @ W.T, x.T @ dy, dy.sum(axis=0)),
    objective=lambda x, W, b, dy: float(np.sum((x @ W + b) * dy)), wrt=("x", "W", "b")))

def _tied_objective(x, W, b, c, do):
    h = _sigmoid(x @ W + b)
    return float(np.sum((h @ W.T + c) * do))


def _tied_reference(x, W, b, c, do):
    h = _sigmoid(x @ W + b)              # (B, H)
    dW_decoder = do.T @ h                # (D, H): the decoder's use of W (as W^T)
    da = (do @ W) * h * (1 - h)          # (B, H)
    dW_encoder = x.T @ da                # (D, H)
    return dW_encoder + dW_decoder, da.sum(axis=0), do.sum(axis=0)


def _tied_encoder_use(x, W, b, c, do):
    """dW through the encoder's use of W (a = x W + b): x^T da."""
    h = _sigmoid(x @ W + b)
    return x.T @ ((do @ W) * h * (1 - h))


def _tied_decoder_use(x, W, b, c, do):
    """dW through the decoder's use of W (o = h W^T + c): do^T h."""
    return do.T @ _sigmoid(x @ W + b)


_add(Exercise(
    "tied_autoencoder_grad", "Gradients of a tied-weight autoencoder",
    "Encoder h = sigmoid(x W + b), decoder o = h W^T + c: the decoder reuses W transposed.\n"
    "x (B, D), W (D, H), b (H,), c (D,). Given do = dL/do (B, D), return (dW, db, dc).\n"
    "W is used twice; its gradient is the sum over both uses.",
    [Arg("x", ("B", "D"), 0, 1), Arg("W", ("D", "H")), Arg("b", ("H",)), Arg("c", ("D",)),
     Arg("do", ("B", "D"), -2, 2)], ["dW", "db", "dc"],
    reference=_tied_reference, objective=_tied_objective, wrt=("W", "b", "c"),
    terms={"dW": [
        ("encoder use", _tied_encoder_use,
         "W maps x to the code, a = x W + b: this use sends x^T da into dW."),
        ("decoder use", _tied_decoder_use,
         "the decoder uses W too, o = h W^T + c: this use sends do^T h into dW (W is one "
         "parameter: its gradient is the sum over both uses).")]}))

# ---- losses ------------------------------------------------------------------------------

_add(Exercise(
    "mse_grad", "Gradient of the mean squared error",
    "L = 1/(B D) * sum_bd (o_bd - t_bd)^2     (the mean over batch AND features)\n"
    "Given the output o (B, D) and the target t (B, D), return dL/do (B, D).",
    [Arg("o", ("B", "D")), Arg("t", ("B", "D"), 0, 1)], ["do"],
    reference=lambda o, t: 2 * (o - t) / o.size,
    objective=lambda o, t: float(np.mean((o - t) ** 2)), wrt=("o",)))

_add(Exercise(
    "bce_with_logits_grad", "Gradient of binary cross-entropy on logits",
    "With s = sigmoid(z):  l_bd = -t log s - (1 - t) log(1 - s) = log(1 + exp(z)) - t z,\n"
    "L = 1/(B D) * sum_bd l_bd.  Given logits z (B, D) and targets t in [0, 1] (B, D),\n"
    "return dL/dz (B, D).",
    [Arg("z", ("B", "D"), -5, 5), Arg("t", ("B", "D"), 0, 1)], ["dz"],
    reference=lambda z, t: (_sigmoid(z) - t) / z.size,
    objective=lambda z, t: float(np.mean(np.logaddexp(0, z) - t * z)), wrt=("z",),
    terms={"dz": [
        ("log(1 + exp(z))", lambda z, t: _sigmoid(z) / z.size,
         "the derivative of log(1 + exp(z)) is sigmoid(z), over B D."),
        ("-t z", lambda z, t: -t / z.size, "the derivative of -t z is -t, over B D.")]}))

_add(Exercise(
    "softmax_cross_entropy_grad", "Gradient of softmax cross-entropy",
    "p_b = softmax(z_b),  L = -1/B * sum_b log p_b[y_b].\n"
    "Given logits z (B, K) and integer labels y (B,) in [0, K), return dL/dz (B, K).",
    [Arg("z", ("B", "K"), -4, 4), Arg("y", ("B",), kind="label")], ["dz"],
    reference=lambda z, y: (np.exp(_log_softmax(z)) - np.eye(z.shape[1])[y]) / len(z),
    objective=lambda z, y: float(-_log_softmax(z)[np.arange(len(z)), y].mean()), wrt=("z",),
    terms={"dz": [
        ("softmax", lambda z, y: np.exp(_log_softmax(z)) / len(z),
         "-log p[y] = log sum_k exp(z_k) - z_y: its first part gives softmax(z) / B."),
        ("one-hot", lambda z, y: -np.eye(z.shape[1])[y] / len(z),
         "-log p[y] = log sum_k exp(z_k) - z_y: the -z_y part gives -onehot(y) / B, so "
         "subtract 1/B at each example's label.")]}))

# ---- penalties ---------------------------------------------------------------------------


def _kl_sparsity(h, rho):
    # KL(rho || r) with d = r - rho, as -rho log1p(d/rho) - (1-rho) log1p(-d/(1-rho)): the two
    # terms still cancel to O(d^2), but their rounding is now relative to d, not to 1, so finite
    # differences resolve the small gradients where rho_hat is close to rho
    d = (h - rho).mean(axis=0)
    return float(np.sum(-rho * np.log1p(d / rho) - (1 - rho) * np.log1p(-d / (1 - rho))))


_add(Exercise(
    "kl_sparsity_grad", "Gradient of the KL sparsity penalty",
    "The mean activation of code unit j over the batch is  rho_hat_j = 1/B sum_b h_bj.\n"
    "L = sum_j KL(rho || rho_hat_j)\n"
    "  = sum_j [ rho log(rho / rho_hat_j) + (1 - rho) log((1 - rho) / (1 - rho_hat_j)) ].\n"
    "Given codes h (B, H) in (0, 1) and the target rho (a float), return dL/dh (B, H).",
    [Arg("h", ("B", "H"), 0.05, 0.95), Arg("rho", (), 0.02, 0.3, kind="scalar")], ["dh"],
    reference=lambda h, rho: np.broadcast_to(
        (-rho / h.mean(0) + (1 - rho) / (1 - h.mean(0))) / len(h), h.shape).copy(),
    objective=_kl_sparsity, wrt=("h",),
    terms={"dh": [
        ("rho log(rho / rho_hat)",
         lambda h, rho: np.broadcast_to(-rho / h.mean(0) / len(h), h.shape).copy(),
         "d/dq of rho log(rho / q) is -rho / q, times 1/B from rho_hat = mean_b h_b."),
        ("(1 - rho) log((1 - rho) / (1 - rho_hat))",
         lambda h, rho: np.broadcast_to((1 - rho) / (1 - h.mean(0)) / len(h), h.shape).copy(),
         "d/dq of (1 - rho) log((1 - rho) / (1 - q)) is +(1 - rho) / (1 - q), times 1/B.")]}))


_add(Exercise(
    "l1_activity_grad", "Gradient of the L1 activity penalty",
    "L = beta / B * sum_bj |h_bj|   (the mean over the batch of ||h_b||_1, times beta).\n"
    "Given codes h (B, H) and beta (a float), return dL/dh (B, H). At h = 0, where |h| has a kink,\n"
    "use 0 (numpy's sign(0)).",
    [Arg("h", ("B", "H"), -1, 1), Arg("beta", (), 0.01, 1.0, kind="scalar")], ["dh"],
    reference=lambda h, beta: beta * np.sign(h) / len(h),
    objective=lambda h, beta: float(beta * np.abs(h).sum() / len(h)), wrt=("h",),
    kink_state=lambda h, beta: {"|h| at h = 0": np.sign(h)}))


def _contractive(x, W, b):
    h = _sigmoid(x @ W + b)
    s = h * (1 - h)
    return float(np.sum(s ** 2 * np.sum(W ** 2, axis=0)) / len(x))


def _contractive_through_h(x, W, b):
    """dW through h = sigmoid(x W + b): x^T da / B, da = 2 s^2 (1 - 2h) sum_i W_ij^2."""
    h = _sigmoid(x @ W + b)
    s = h * (1 - h)
    return x.T @ (2 * s ** 2 * (1 - 2 * h) * np.sum(W ** 2, axis=0)) / len(x)


def _contractive_direct(x, W, b):
    """dW through the factor sum_i W_ij^2 itself: 2 W_ij mean_b s_bj^2."""
    h = _sigmoid(x @ W + b)
    return 2 * W * np.sum((h * (1 - h)) ** 2, axis=0) / len(x)


def _contractive_grad(x, W, b):
    h = _sigmoid(x @ W + b)
    s = h * (1 - h)                      # sigmoid'(a)
    w2 = np.sum(W ** 2, axis=0)          # (H,)  sum_i W_ij^2
    da = 2 * s ** 2 * (1 - 2 * h) * w2   # d/da of s^2 * w2:  2 s * s (1 - 2h) * w2
    B = len(x)
    dW = (x.T @ da + 2 * W * np.sum(s ** 2, axis=0)) / B
    db = da.sum(axis=0) / B
    return dW, db


_add(Exercise(
    "contractive_penalty_grad", "Gradient of the contractive penalty",
    "Encoder h = sigmoid(x W + b), x (B, D), W (D, H), b (H,). Its Jacobian for one example is\n"
    "J_ji = dh_j/dx_i = h_j (1 - h_j) W_ij, so its squared Frobenius norm is\n"
    "  ||J||_F^2 = sum_j (h_j (1 - h_j))^2 * sum_i W_ij^2.\n"
    "L = 1/B * sum_b ||J(x_b)||_F^2.  Return (dW, db): dL/dW (D, H) and dL/db (H,).\n"
    "(W appears twice: inside h and in sum_i W_ij^2. Both paths count.)",
    [Arg("x", ("B", "D"), 0, 1), Arg("W", ("D", "H"), -1.5, 1.5), Arg("b", ("H",), -1, 1)],
    ["dW", "db"], reference=_contractive_grad, objective=_contractive, wrt=("W", "b"),
    terms={"dW": [
        ("through h", _contractive_through_h,
         "W sits inside h = sigmoid(x W + b), so it moves s = h (1 - h): x^T da / B."),
        ("direct", _contractive_direct,
         "W also appears in the factor sum_i W_ij^2 itself: 2 W_ij mean_b s_bj^2.")]}))

# ---- VAE ---------------------------------------------------------------------------------

_add(Exercise(
    "vae_kl_grad", "Gradient of the VAE's KL term",
    "q(z|x) = N(mu, diag(exp(logvar))), prior N(0, I). Summed over latent dims, averaged over\n"
    "the batch:  L = 1/B * sum_bk -1/2 (1 + logvar_bk - mu_bk^2 - exp(logvar_bk)).\n"
    "Given mu (B, K) and logvar (B, K), return (dmu, dlogvar), both (B, K).",
    [Arg("mu", ("B", "K"), -2, 2), Arg("logvar", ("B", "K"), -3, 2)], ["dmu", "dlogvar"],
    reference=lambda mu, logvar: (mu / len(mu), 0.5 * (np.exp(logvar) - 1) / len(mu)),
    # -1/2 (1 + lv - mu^2 - e^lv) written as 1/2 (mu^2 + expm1(lv) - lv): no cancellation of
    # O(1) terms, so finite differences stay accurate where the KL is tiny (mu, lv near 0)
    objective=lambda mu, logvar: float(
        np.sum(0.5 * (mu ** 2 + np.expm1(logvar) - logvar)) / len(mu)),
    wrt=("mu", "logvar"),
    terms={"dlogvar": [
        ("exp(logvar)", lambda mu, logvar: 0.5 * np.exp(logvar) / len(mu),
         "the -1/2 (-exp(logvar)) part gives exp(logvar) / (2B)."),
        ("-logvar", lambda mu, logvar: np.full(logvar.shape, -0.5 / len(mu)),
         "the -1/2 logvar part gives -1 / (2B).")]}))

_add(Exercise(
    "reparameterization_backward", "Backward pass of the reparameterization trick",
    "z = mu + exp(logvar / 2) * eps, with the noise eps ~ N(0, I) drawn in forward and held fixed.\n"
    "Given mu, logvar, eps and the upstream gradient dz = dL/dz (all (B, K)),\n"
    "return (dmu, dlogvar), both (B, K).",
    [Arg("mu", ("B", "K"), -2, 2), Arg("logvar", ("B", "K"), -3, 2), Arg("eps", ("B", "K"), -2, 2),
     Arg("dz", ("B", "K"), -2, 2)], ["dmu", "dlogvar"],
    reference=lambda mu, logvar, eps, dz: (dz.copy(), dz * eps * 0.5 * np.exp(0.5 * logvar)),
    objective=lambda mu, logvar, eps, dz: float(np.sum((mu + np.exp(0.5 * logvar) * eps) * dz)),
    wrt=("mu", "logvar")))

# ---- optimizer ---------------------------------------------------------------------------

ADAM_DEFAULTS = {"lr": 1e-2, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8}


def _adam_reference(w, g, m, v, t):
    lr, b1, b2, eps = (ADAM_DEFAULTS[k] for k in ("lr", "beta1", "beta2", "eps"))
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g * g
    m_hat = m / (1 - b1 ** t)
    v_hat = v / (1 - b2 ** t)
    return w - lr * m_hat / (np.sqrt(v_hat) + eps), m, v


def _adam_hints(inputs, dims):
    t = inputs["t"]
    b1, b2 = ADAM_DEFAULTS["beta1"], ADAM_DEFAULTS["beta2"]
    c1, c2 = 1 - b1 ** t, math.sqrt(1 - b2 ** t)
    return [(c1, "the bias correction m_hat = m / (1 - beta1^t) is missing"),
            (1 / c2, "the bias correction v_hat = v / (1 - beta2^t) is missing"),
            (c1 / c2, "both bias corrections are missing (m_hat and v_hat)"),
            (1 / ADAM_DEFAULTS["lr"], "the step is not multiplied by the learning rate lr")]


_add(Exercise(
    "adam_step", "One step of Adam",
    "Adam with lr = 0.01, beta1 = 0.9, beta2 = 0.999, eps = 1e-8 at step t = 1, 2, ...:\n"
    "  m = beta1 m + (1 - beta1) g\n"
    "  v = beta2 v + (1 - beta2) g^2\n"
    "  m_hat = m / (1 - beta1^t),   v_hat = v / (1 - beta2^t)\n"
    "  w = w - lr * m_hat / (sqrt(v_hat) + eps)\n"
    "Given w, g, m, v (all (D,)) and the step number t (an int >= 1), return the new\n"
    "(w, m, v). Do not change the arrays you are given. (Not a derivative: the checker compares\n"
    "your step w_new - w, m and v with the reference.)",
    [Arg("w", ("D",)), Arg("g", ("D",)), Arg("m", ("D",), -0.5, 0.5), Arg("v", ("D",), 0.0, 0.5),
     Arg("t", (), 1, 20, kind="int")], ["w", "m", "v"],
    reference=_adam_reference, mode="reference", hints=_adam_hints,
    # compare the step w_new - w (its sign and scale are what can go wrong), and m, v as they are
    compare=lambda inputs, outs: [outs[0] - inputs["w"], outs[1], outs[2]]))

# ---- convolution -------------------------------------------------------------------------
#
# Layout NHWC, as numpyae.nn.conv: x (B, H, W, C) is B images of H rows, W columns and C
# channels (channels last); a kernel W (kh, kw, C, O) maps C input channels to O output channels.
# One stride s and one padding p (ints) serve both axes. The inputs are drawn so that the windows
# fit exactly: H = (Ho - 1) s + kh - 2p, so Ho = (H + 2p - kh) / s + 1 is a whole number.
# The mistakes' answers reuse the references with another stride, padding or kernel, so these
# take any padding (a negative one crops) and read the output size from dy where there is one.


def _pad(x, q, rows, cols):
    """x (B, H, W, C) zero-padded to xpad (B, rows, cols, C): xpad[:, r, c] = x[:, r - q, c - q]
    where that lies inside x, else 0 (q rows and columns of zeros on the top and left, as many
    on the bottom and right as rows, cols ask for; a negative q crops instead)."""
    B, H, W, C = x.shape
    out = np.zeros((B, rows, cols, C))
    r0, r1, c0, c1 = max(0, q), min(rows, H + q), max(0, q), min(cols, W + q)
    if r1 > r0 and c1 > c0:
        out[:, r0:r1, c0:c1] = x[:, r0 - q:r1 - q, c0 - q:c1 - q]
    return out


def _unpad(gpad, q, H, W):
    """The adjoint of _pad: gpad (B, rows, cols, C) back to (B, H, W, C) without the padding,
    out[:, h, w] = gpad[:, h + q, w + q] (0 where that lies outside gpad)."""
    B, rows, cols, C = gpad.shape
    out = np.zeros((B, H, W, C))
    r0, r1, c0, c1 = max(0, q), min(rows, H + q), max(0, q), min(cols, W + q)
    if r1 > r0 and c1 > c0:
        out[:, r0 - q:r1 - q, c0 - q:c1 - q] = gpad[:, r0:r1, c0:c1]
    return out


def _out_size(n, k, s, p):
    """floor((n + 2p - k) / s) + 1, the number of k-wide windows; a ValueError if none fits."""
    size = (n + 2 * p - k) // s + 1
    if size < 1:
        raise ValueError(f"no window fits: size {n}, kernel {k}, stride {s}, padding {p}")
    return size


def _conv2d_forward(x, W, b, stride, padding):
    """The definition, one output pixel at a time (each vectorized over the batch): the window
    of xpad that output pixel (ho, wo) reads, contracted with the kernel over i, j and c."""
    s, p = stride, padding
    B, H, Wd, C = x.shape
    kh, kw, _, O = W.shape
    Ho, Wo = _out_size(H, kh, s, p), _out_size(Wd, kw, s, p)
    xpad = _pad(x, p, s * (Ho - 1) + kh, s * (Wo - 1) + kw)
    y = np.empty((B, Ho, Wo, O))
    for ho in range(Ho):
        for wo in range(Wo):
            window = xpad[:, s * ho:s * ho + kh, s * wo:s * wo + kw, :]    # (B, kh, kw, C)
            y[:, ho, wo, :] = np.tensordot(window, W, axes=3) + b         # sum over i, j, c
    return y


def _conv2d_objective_forward(x, W, b, stride, padding):
    """The same y, one term per kernel offset (i, j): a strided slice of xpad times W[i, j]
    (kh*kw matrix products over the channels; the finite differences evaluate this often)."""
    s, p = stride, padding
    B, H, Wd, C = x.shape
    kh, kw, _, O = W.shape
    Ho, Wo = _out_size(H, kh, s, p), _out_size(Wd, kw, s, p)
    xpad = _pad(x, p, s * (Ho - 1) + kh, s * (Wo - 1) + kw)
    y = np.zeros((B, Ho, Wo, O)) + b
    for i in range(kh):
        for j in range(kw):
            y += xpad[:, i:i + s * (Ho - 1) + 1:s, j:j + s * (Wo - 1) + 1:s, :] @ W[i, j]
    return y


def _conv2d_backward(x, W, b, dy, stride, padding):
    """Output pixel (ho, wo) read the window xpad[:, s*ho : s*ho+kh, s*wo : s*wo+kw, :] through
    W: its gradient dy[:, ho, wo, :] (B, O) flows back along the same products, into dW (times
    the window) and into the window of dxpad (times W). Then the padding is dropped."""
    s, p = stride, padding
    B, H, Wd, C = x.shape
    kh, kw = W.shape[:2]
    Ho, Wo = dy.shape[1:3]
    xpad = _pad(x, p, s * (Ho - 1) + kh, s * (Wo - 1) + kw)
    dxpad, dW = np.zeros_like(xpad), np.zeros(W.shape)
    for ho in range(Ho):
        for wo in range(Wo):
            g = dy[:, ho, wo, :]                                              # (B, O)
            window = (slice(None), slice(s * ho, s * ho + kh), slice(s * wo, s * wo + kw))
            dW += np.tensordot(xpad[window], g, axes=([0], [0]))            # (kh, kw, C, O)
            dxpad[window] += np.tensordot(g, W, axes=([1], [3]))            # (B, kh, kw, C)
    return _unpad(dxpad, p, H, Wd), dW, dy.sum(axis=(0, 1, 2))


def _conv_dims(B, C, O, kh, kw, s, p, Ho, Wo):
    """The sizes of one convolution whose windows fit exactly; the padding is lowered where the
    input would be empty (H = (Ho - 1) s + kh - 2p >= 1)."""
    p = min(p, ((Ho - 1) * s + kh - 1) // 2, ((Wo - 1) * s + kw - 1) // 2)
    return dict(B=B, C=C, O=O, kh=kh, kw=kw, s=s, p=p, Ho=Ho, Wo=Wo,
                H=(Ho - 1) * s + kh - 2 * p, W=(Wo - 1) * s + kw - 2 * p)


#: the fixed inputs: stride 2 with padding 1 and a non-square kernel first (every classic mistake
#: shows there), then stride 1 without padding, then a stride 3 with padding 1
CONV_FIXED_DIMS = [_conv_dims(B=2, C=2, O=3, kh=3, kw=2, s=2, p=1, Ho=3, Wo=3),
                   _conv_dims(B=3, C=1, O=2, kh=2, kw=3, s=1, p=0, Ho=4, Wo=2),
                   _conv_dims(B=1, C=3, O=2, kh=3, kw=3, s=3, p=1, Ho=2, Wo=2)]


def _draw_conv_dims(draw):
    kh, kw = draw("kh", 1, 3), draw("kw", 1, 3)
    return _conv_dims(B=draw("B", 1, 2), C=draw("C", 1, 2), O=draw("O", 1, 3), kh=kh, kw=kw,
                      s=draw("s", 1, 3), p=draw("p", 0, min(kh, kw) - 1), Ho=draw("Ho", 1, 3),
                      Wo=draw("Wo", 1, 3))


_CONV_ARGS = [Arg("x", ("B", "H", "W", "C")), Arg("W", ("kh", "kw", "C", "O")), Arg("b", ("O",)),
              Arg("stride", kind="dim", dim="s"), Arg("padding", kind="dim", dim="p")]

_CONV_LAYOUT = (
    "Layout NHWC (channels last), as numpyae.nn.conv: x (B, H, W, C) holds B images of H rows,\n"
    "W columns and C channels. The kernel W (kh, kw, C, O) maps C input channels to O output\n"
    "channels; b (O,) is one bias per output channel. stride s and padding p are ints, the same\n"
    "along both axes; xpad is x with p rows and columns of zeros added on every side.\n")

_add(Exercise(
    "conv2d_forward", "Forward pass of a 2-D convolution",
    _CONV_LAYOUT +
    "  y[n, ho, wo, o] = sum_{i < kh, j < kw, c < C} xpad[n, s*ho + i, s*wo + j, c] W[i, j, c, o] + b[o]\n"
    "A cross-correlation: the kernel is NOT flipped (as in Conv2D and every deep-learning library).\n"
    "The sizes fit exactly: Ho = (H + 2p - kh) / s + 1 and Wo = (W + 2p - kw) / s + 1 are whole.\n"
    "Given x, W, b, stride and padding, return y (B, Ho, Wo, O). (Not a derivative: the checker\n"
    "compares y with the definition.)",
    _CONV_ARGS, ["y"], reference=_conv2d_forward, mode="reference",
    fixed_dims=CONV_FIXED_DIMS, draw_dims=_draw_conv_dims,
    mistakes=[
        ("flipped_kernel",
         lambda x, W, b, stride, padding: _conv2d_forward(x, W[::-1, ::-1], b, stride, padding),
         "your output equals the correlation with the kernel flipped (rotated 180°), "
         "W[kh-1-i, kw-1-j]: the convolution of signal processing. Conv2D, like every "
         "deep-learning library, computes the cross-correlation: xpad[s*ho + i, s*wo + j] meets "
         "W[i, j], no flip."),
        ("stride_ignored",
         lambda x, W, b, stride, padding: _conv2d_forward(x, W, b, 1, padding),
         "your output equals the stride-1 correlation: the window of output pixel (ho, wo) "
         "starts at row s*ho and column s*wo of xpad, not at (ho, wo), and there are only "
         "Ho = (H + 2p - kh) / s + 1 rows of windows."),
        ("padding_plus_one",
         lambda x, W, b, stride, padding: _conv2d_forward(x, W, b, stride, padding + 1),
         "your output equals the correlation with padding p + 1: a padding off by one (one "
         "ring of zeros too many; input row s*ho + i - p - 1 in place of s*ho + i - p)."),
        ("padding_minus_one",
         lambda x, W, b, stride, padding: _conv2d_forward(x, W, b, stride, padding - 1),
         "your output equals the correlation with padding p - 1: a padding off by one (one "
         "ring of zeros too few; input row s*ho + i - p + 1 in place of s*ho + i - p)."),
        ("bias_missing",
         lambda x, W, b, stride, padding: _conv2d_forward(x, W, 0.0 * b, stride, padding),
         "your output equals the correlation without the bias: add b[o] to every output pixel "
         "of channel o."),
    ]))


def _conv_backward_hints(inputs, dims):
    Ho, Wo, B = dims["Ho"], dims["Wo"], dims["B"]
    why = ("the bias meets every output pixel, so its gradient is the SUM of dy over n, ho and "
           "wo, not a mean")
    return [(1.0 / (Ho * Wo), f"divided by Ho*Wo = {Ho * Wo}: {why}"),
            (1.0 / (B * Ho * Wo), f"divided by B*Ho*Wo = {B * Ho * Wo}: {why}")]


def _conv_flipped_gradients(x, W, b, dy, stride, padding):
    """The gradients of the convolution of signal processing (the kernel flipped): dx of the
    correlation with W[::-1, ::-1], and dW flipped back."""
    dx, dW, db = _conv2d_backward(x, W[::-1, ::-1], b, dy, stride, padding)
    return dx, dW[::-1, ::-1], db


def _conv_gradients_with_padding_kept(x, W, b, dy, stride, padding):
    """dL/dxpad (B, H + 2p, W + 2p, C): the gradient before the padding is dropped."""
    dx, dW, db = _conv2d_backward(_pad(x, padding, x.shape[1] + 2 * padding,
                                       x.shape[2] + 2 * padding), W, b, dy, stride, 0)
    return dx, dW, db


_add(Exercise(
    "conv2d_backward", "Backward pass of a 2-D convolution",
    _CONV_LAYOUT +
    "  y[n, ho, wo, o] = sum_{i < kh, j < kw, c < C} xpad[n, s*ho + i, s*wo + j, c] W[i, j, c, o] + b[o]\n"
    "(the cross-correlation of conv2d_forward, no flip), y (B, Ho, Wo, O), Ho = (H + 2p - kh) / s + 1.\n"
    "Given x, W, b, dy = dL/dy (B, Ho, Wo, O), stride and padding, return (dx, dW, db):\n"
    "dx (B, H, W, C), dW (kh, kw, C, O) and db (O,). (Output pixel (ho, wo) read one window of\n"
    "xpad; its dy flows back into that window. The padding receives gradient too: drop it.)",
    [Arg("x", ("B", "H", "W", "C")), Arg("W", ("kh", "kw", "C", "O")), Arg("b", ("O",)),
     Arg("dy", ("B", "Ho", "Wo", "O"), -2, 2), Arg("stride", kind="dim", dim="s"),
     Arg("padding", kind="dim", dim="p")],
    ["dx", "dW", "db"], reference=_conv2d_backward,
    objective=lambda x, W, b, dy, stride, padding: float(
        np.vdot(_conv2d_objective_forward(x, W, b, stride, padding), dy)),
    wrt=("x", "W", "b"), hints=_conv_backward_hints,
    fixed_dims=CONV_FIXED_DIMS, draw_dims=_draw_conv_dims,
    mistakes=[
        ("flipped_kernel", _conv_flipped_gradients,
         "your {output} equals the gradient of the correlation with the kernel flipped (rotated "
         "180°), W[kh-1-i, kw-1-j]: a flip too many or too few. The forward pass uses W as it "
         "is: input row s*ho + i - p reached output row ho through W[i] (written as a "
         "correlation of dy, dx needs the kernel rotated 180°)."),
        ("stride_missing",
         lambda x, W, b, dy, stride, padding: _conv2d_backward(x, W, b, dy, 1, padding),
         "your {output} equals the stride-1 formula: output pixel (ho, wo) read the window "
         "starting at row s*ho and column s*wo of xpad, so dy[n, ho, wo] goes back there, not "
         "to (ho, wo). (As a correlation: spread dy out with s - 1 zeros between its entries "
         "first.)"),
        ("padding_plus_one",
         lambda x, W, b, dy, stride, padding: _conv2d_backward(x, W, b, dy, stride, padding + 1),
         "your {output} equals the gradient for padding p + 1: a padding off by one (input row "
         "s*ho + i - p - 1 in place of s*ho + i - p)."),
        ("padding_minus_one",
         lambda x, W, b, dy, stride, padding: _conv2d_backward(x, W, b, dy, stride, padding - 1),
         "your {output} equals the gradient for padding p - 1: a padding off by one (input row "
         "s*ho + i - p + 1 in place of s*ho + i - p)."),
        ("padding_kept", _conv_gradients_with_padding_kept,
         "your {output} still has the padding: it is dL/dxpad, (B, H + 2p, W + 2p, C); drop the "
         "p rows and columns on every side to get dL/dx."),
    ]))


# ---- max pooling -------------------------------------------------------------------------

def _pool_windows(x, k, s):
    """Every k x k window of x (B, H, W, C) flattened in row-major order onto a last axis:
    (B, Ho, Wo, C, k*k), entry i*k + j = x[:, s*ho + i, s*wo + j, :]. Its max is y and its
    argmax (the FIRST maximum at a tie) the kink state: the finite differences' objective and
    kink state, evaluated thousands of times, in one pass each."""
    B, H, W, C = x.shape
    Ho, Wo = _out_size(H, k, s, 0), _out_size(W, k, s, 0)
    sb, sh, sw, sc = x.strides
    w = np.lib.stride_tricks.as_strided(x, (B, Ho, Wo, C, k, k),
                                        (sb, s * sh, s * sw, sc, sh, sw), writeable=False)
    return w.reshape(B, Ho, Wo, C, k * k)


def _maxpool_backward(x, dy, pool_size, stride):
    """Each window's dy goes to the position of its maximum (np.argmax: the first one at a
    tie); += because overlapping windows (stride < pool_size) may share a maximum."""
    k, s = pool_size, stride
    dx = np.zeros(x.shape)
    for n, ho, wo, c in np.ndindex(dy.shape):
        window = x[n, s * ho:s * ho + k, s * wo:s * wo + k, c]             # (k, k)
        i, j = np.unravel_index(np.argmax(window), window.shape)
        dx[n, s * ho + i, s * wo + j, c] += dy[n, ho, wo, c]
    return dx


def _maxpool_to_whole_window(x, dy, pool_size, stride, share=1.0):
    """share * dy of each window added to every position of the window."""
    k, s = pool_size, stride
    dx = np.zeros(x.shape)
    for ho in range(dy.shape[1]):
        for wo in range(dy.shape[2]):
            dx[:, s * ho:s * ho + k, s * wo:s * wo + k, :] += share * dy[:, ho:ho + 1, wo:wo + 1, :]
    return dx


def _maxpool_overwriting(x, dy, pool_size, stride):
    """The maximum's position of each window SET to its dy, windows in row-major order: where
    windows share a maximum, the last one's dy stays (what dx[idx] += dy does with repeated
    indices)."""
    k, s = pool_size, stride
    dx = np.zeros(x.shape)
    for n, ho, wo, c in np.ndindex(dy.shape):
        window = x[n, s * ho:s * ho + k, s * wo:s * wo + k, c]
        i, j = np.unravel_index(np.argmax(window), window.shape)
        dx[n, s * ho + i, s * wo + j, c] = dy[n, ho, wo, c]
    return dx


def _plant_pool_ties(inputs):
    """Exact ties: in every other window the largest entry is copied onto the window's first and
    last positions, so its maximum is attained twice (overlapping windows may undo a few)."""
    x, k, s = inputs["x"], inputs["pool_size"], inputs["stride"]
    if k == 1:
        return
    for ho in range(inputs["dy"].shape[1]):
        for wo in range(inputs["dy"].shape[2]):
            if (ho + wo) % 2 == 0:
                window = x[:, s * ho:s * ho + k, s * wo:s * wo + k, :]      # a view
                top = window.max(axis=(1, 2))
                window[:, 0, 0] = top
                window[:, -1, -1] = top


def _pool_dims(B, C, k, s, Ho, Wo):
    return dict(B=B, C=C, k=k, s=s, Ho=Ho, Wo=Wo, H=(Ho - 1) * s + k, W=(Wo - 1) * s + k)


_add(Exercise(
    "maxpool_backward", "Backward pass of max pooling",
    "Layout NHWC (channels last), as numpyae.nn.conv: x (B, H, W, C). Max pooling over k x k\n"
    "windows (k = pool_size) moved by the stride s (ints, the same along both axes), no padding;\n"
    "windows overlap when s < k:\n"
    "  y[n, ho, wo, c] = max over i < k, j < k of x[n, s*ho + i, s*wo + j, c]     y (B, Ho, Wo, C)\n"
    "with H = (Ho - 1) s + k and W = (Wo - 1) s + k.\n"
    "Given x, dy = dL/dy (B, Ho, Wo, C), pool_size and stride, return dx = dL/dx (B, H, W, C).\n"
    "Where a window's maximum is attained twice (a tie: a kink of max), send that window's\n"
    "gradient to the FIRST maximal entry in row-major window order (np.argmax of the window),\n"
    "as MaxPool2D does.",
    [Arg("x", ("B", "H", "W", "C")), Arg("dy", ("B", "Ho", "Wo", "C"), -2, 2),
     Arg("pool_size", kind="dim", dim="k"), Arg("stride", kind="dim", dim="s")],
    ["dx"], reference=_maxpool_backward,
    objective=lambda x, dy, pool_size, stride: float(
        np.vdot(_pool_windows(x, pool_size, stride).max(axis=-1), dy)),
    wrt=("x",),
    kink_state=lambda x, dy, pool_size, stride: {
        "max at a tie in a window": _pool_windows(x, pool_size, stride).argmax(axis=-1)},
    plant_kinks=_plant_pool_ties,
    # disjoint windows first, then overlapping ones (3 over 2, 2 over 1)
    fixed_dims=[_pool_dims(B=2, C=3, k=2, s=2, Ho=3, Wo=2), _pool_dims(B=3, C=2, k=3, s=2, Ho=2, Wo=3),
                _pool_dims(B=1, C=2, k=2, s=1, Ho=3, Wo=4)],
    draw_dims=lambda draw: _pool_dims(B=draw("B", 1, 2), C=draw("C", 1, 2), k=draw("k", 1, 3),
                                      s=draw("s", 1, 3), Ho=draw("Ho", 1, 3), Wo=draw("Wo", 1, 3)),
    mistakes=[
        ("broadcast_to_window", _maxpool_to_whole_window,
         "your dx sends each window's gradient to every position in the window (broadcast to "
         "the whole window). Only the window's maximum reached y: the other entries can move a "
         "little without changing y, so their gradient is 0 and the maximum's position gets "
         "the whole dy."),
        ("average_pooling",
         lambda x, dy, pool_size, stride: _maxpool_to_whole_window(x, dy, pool_size, stride,
                                                                   1.0 / pool_size ** 2),
         "your dx is average pooling's backward (dy / k^2 to every position in the window); "
         "max pooling sends the whole dy to the window's maximum only."),
        ("overlap_overwritten", _maxpool_overwriting,
         "where overlapping windows share their maximum, your dx holds one window's dy instead "
         "of the sum over those windows: an assignment (=), or dx[idx] += dy with repeated "
         "indices (NumPy does not accumulate those). Add them up: a loop with +=, or "
         "np.add.at(dx, idx, dy)."),
    ]))
