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

import numpy as np


class Arg:
    """One input of an exercise.

    kind   "float" array with a shape of dimension symbols ("B", "D", ...) drawn uniformly in
           [low, high]; "label" integer array of shape ("B",) in [0, K); "scalar" a float in
           [low, high]; "int" an int in [low, high].
    """

    def __init__(self, name, shape=(), low=-1.0, high=1.0, kind="float"):
        self.name, self.shape, self.low, self.high, self.kind = name, tuple(shape), low, high, kind


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
    """

    def __init__(self, name, title, prompt, args, outputs, reference, *, objective=None, wrt=(),
                 mode="gradient", kink_state=None, hints=None, compare=None):
        self.name, self.title, self.prompt = name, title, prompt
        self.args, self.outputs, self.reference = list(args), list(outputs), reference
        self.objective, self.wrt, self.mode = objective, tuple(wrt), mode
        self.kink_state, self.hints, self.compare = kink_state, hints, compare

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


_add(Exercise(
    "tied_autoencoder_grad", "Gradients of a tied-weight autoencoder",
    "Encoder h = sigmoid(x W + b), decoder o = h W^T + c: the decoder reuses W transposed.\n"
    "x (B, D), W (D, H), b (H,), c (D,). Given do = dL/do (B, D), return (dW, db, dc).\n"
    "W is used twice; its gradient is the sum over both uses.",
    [Arg("x", ("B", "D"), 0, 1), Arg("W", ("D", "H")), Arg("b", ("H",)), Arg("c", ("D",)),
     Arg("do", ("B", "D"), -2, 2)], ["dW", "db", "dc"],
    reference=_tied_reference, objective=_tied_objective, wrt=("W", "b", "c")))

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
    objective=lambda z, t: float(np.mean(np.logaddexp(0, z) - t * z)), wrt=("z",)))

_add(Exercise(
    "softmax_cross_entropy_grad", "Gradient of softmax cross-entropy",
    "p_b = softmax(z_b),  L = -1/B * sum_b log p_b[y_b].\n"
    "Given logits z (B, K) and integer labels y (B,) in [0, K), return dL/dz (B, K).",
    [Arg("z", ("B", "K"), -4, 4), Arg("y", ("B",), kind="label")], ["dz"],
    reference=lambda z, y: (np.exp(_log_softmax(z)) - np.eye(z.shape[1])[y]) / len(z),
    objective=lambda z, y: float(-_log_softmax(z)[np.arange(len(z)), y].mean()), wrt=("z",)))

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
    objective=_kl_sparsity, wrt=("h",)))


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
    ["dW", "db"], reference=_contractive_grad, objective=_contractive, wrt=("W", "b")))

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
    wrt=("mu", "logvar")))

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
