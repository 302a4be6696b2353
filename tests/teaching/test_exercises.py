"""The derivation exercises (numpyae.teaching.exercises): references, checker, mistakes."""
import numpy as np
import pytest

from numpyae import exercises
from numpyae.teaching.exercises import EXERCISES, check, describe, expected_outputs, list_exercises, reference
from numpyae.teaching.exercises.catalog import ADAM_DEFAULTS

REQUIRED = {"sigmoid_backward", "relu_backward", "dense_backward", "mse_grad", "bce_with_logits_grad",
            "softmax_cross_entropy_grad", "kl_sparsity_grad", "contractive_penalty_grad",
            "vae_kl_grad", "reparameterization_backward", "adam_step",
            "conv2d_forward", "conv2d_backward", "maxpool_backward"}


def sig(a):
    return 1 / (1 + np.exp(-a))


def test_catalogue_covers_the_required_derivations():
    names = {n for n, _ in list_exercises()}
    assert REQUIRED <= names
    for n in names:
        text = describe(n)
        assert f"def {n}(" in text and EXERCISES[n].title in text


@pytest.mark.parametrize("name", sorted(EXERCISES))
def test_reference_solutions_pass(name, capsys):
    result = check(name, reference(name), n_hypothesis=15)
    assert result.passed, result.message
    assert result.max_error < 0.5 and result.n_inputs == 3 + 15   # at most half the tolerance
    assert "passed" in capsys.readouterr().out


def test_reference_matches_library_implementations():
    """The self-contained references agree with numpyae's own layers and losses."""
    from numpyae import Dense, MSE, BinaryCrossEntropy, SoftmaxCrossEntropy
    from numpyae.nn.activations import ReLU, Sigmoid
    rng = np.random.default_rng(0)
    a, dy = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    np.testing.assert_allclose(reference("sigmoid_backward")(a, dy),
                               dy * Sigmoid().derivative(a, Sigmoid()(a)), rtol=1e-12)
    np.testing.assert_allclose(reference("relu_backward")(a, dy), dy * ReLU().derivative(a, None))
    # tied weights: the reference's dW is what the library's Dense + TiedDense accumulate
    from numpyae import Sequential, TiedDense
    enc = Dense(5, 3, "sigmoid", rng=2, dtype=np.float64)
    dec = TiedDense(enc)
    xt = rng.uniform(0, 1, (4, 5))
    do = rng.standard_normal((4, 5))
    net = Sequential([enc, dec])
    net.forward(xt)
    net.backward(do)
    ref = reference("tied_autoencoder_grad")(xt, enc.W.value, enc.b.value, dec.b.value, do)
    for mine, lib in zip(ref, (enc.W.grad, enc.b.grad, dec.b.grad)):
        np.testing.assert_allclose(mine, lib, rtol=1e-12)
    layer = Dense(5, 3, rng=1, dtype=np.float64)
    x = rng.standard_normal((4, 5))
    layer.forward(x)
    dx = layer.backward(dy)
    ref = reference("dense_backward")(x, layer.W.value, layer.b.value, dy)
    for mine, lib in zip(ref, (dx, layer.W.grad, layer.b.grad)):
        np.testing.assert_allclose(mine, lib, rtol=1e-12)
    t = rng.uniform(0, 1, (4, 3))
    for loss, name in ((MSE(), "mse_grad"), (BinaryCrossEntropy(), "bce_with_logits_grad")):
        loss.forward(a, t)
        np.testing.assert_allclose(reference(name)(a, t), loss.backward(), rtol=1e-12)
    labels = np.array([0, 2, 1, 2])
    sce = SoftmaxCrossEntropy()
    sce.forward(a, labels)
    np.testing.assert_allclose(reference("softmax_cross_entropy_grad")(a, labels), sce.backward(),
                               rtol=1e-12)


def _adam(w, g, m, v, t, *, bias1=True, bias2=True, sign=1.0):
    lr, b1, b2, eps = (ADAM_DEFAULTS[k] for k in ("lr", "beta1", "beta2", "eps"))
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g * g
    mh = m / (1 - b1 ** t) if bias1 else m
    vh = v / (1 - b2 ** t) if bias2 else v
    return w - sign * lr * mh / (np.sqrt(vh) + eps), m, v


def _kl_grad(h, rho, scale):
    r = h.mean(0)
    return np.broadcast_to((-rho / r + (1 - rho) / (1 - r)) * scale, h.shape).copy()


# (exercise, a typical mistake, the verdict the checker must give, words the message must contain)
MISTAKES = [
    ("sigmoid_backward", lambda a, dy: -dy * sig(a) * (1 - sig(a)), "sign", "wrong sign"),
    ("sigmoid_backward", lambda a, dy: sig(a) * (1 - sig(a)), "values", "wrong values"),
    ("tanh_backward", lambda a, dy: dy * (1 - np.tanh(a)), "values", "wrong values"),
    ("relu_backward", lambda a, dy: dy * (a >= 0), "kink", "kink"),
    ("relu_backward", lambda a, dy: dy * (a > 0).T if a.shape[0] == a.shape[1] else (dy * (a > 0)).T,
     "transposed", "transposed"),
    ("dense_backward", lambda x, W, b, dy: (dy @ W.T, dy.T @ x, dy.sum(0)), "transposed", "dW is transposed"),
    ("dense_backward", lambda x, W, b, dy: (dy @ W.T, x.T @ dy, dy.mean(0)), "factor", "batch size B = 5"),
    ("dense_backward", lambda x, W, b, dy: (dy @ W.T, x.T @ dy, dy.sum(0, keepdims=True)), "shape",
     "keepdims"),
    ("dense_backward", lambda x, W, b, dy: (dy @ W, x.T @ dy, dy.sum(0)), "error", "raised ValueError"),
    ("dense_backward", lambda x, W, b, dy: (x.T @ dy, dy.sum(0)), "count", "expected 3 array"),
    ("tied_autoencoder_grad", lambda x, W, b, c, do: _tied_one_path(x, W, b, c, do), "term",
     "dW is missing the term 'decoder use'"),
    ("l1_activity_grad", lambda h, beta: beta * np.where(h >= 0, 1.0, -1.0) / len(h), "kink", "kink"),
    ("l1_activity_grad", lambda h, beta: beta * np.sign(h), "factor", "batch size B = 5 is missing"),
    ("mse_grad", lambda o, t: (o - t) / o.size, "factor", "missing factor 2"),
    ("mse_grad", lambda o, t: 2 * (o - t) / len(o), "factor", "features D = 4 is missing"),
    ("mse_grad", lambda o, t: 2 * (o - t), "factor", "B*D = 20"),
    ("bce_with_logits_grad", lambda z, t: (t - sig(z)) / z.size, "sign", "wrong sign"),
    ("bce_with_logits_grad", lambda z, t: (sig(z) - t) / len(z), "factor", "features D = 4"),
    ("bce_with_logits_grad", lambda z, t: (sig(z) - t) / z.size * (z / z), "nonfinite", "NaN"),  # 0/0 at z=0
    ("softmax_cross_entropy_grad",
     lambda z, y: np.exp(z) / np.exp(z).sum(1, keepdims=True) - np.eye(z.shape[1])[y], "factor",
     "batch size B = 5 is missing"),
    ("kl_sparsity_grad", lambda h, rho: _kl_grad(h, rho, 1.0), "factor", "batch size B = 5 is missing"),
    ("kl_sparsity_grad", lambda h, rho: _kl_grad(h, rho, -1.0 / len(h)), "sign", "wrong sign"),
    ("contractive_penalty_grad",   # forgets that W also appears in sum_i W_ij^2
     lambda x, W, b: _contractive_first_path_only(x, W, b), "term",
     "dW is missing the term 'direct'"),
    ("vae_kl_grad", lambda mu, lv: (mu / len(mu), (np.exp(lv) - 1) / len(mu)), "factor",
     "extra factor 2"),
    ("vae_kl_grad", lambda mu, lv: (-mu / len(mu), 0.5 * (np.exp(lv) - 1) / len(mu)), "sign",
     "dmu has the wrong sign"),
    ("reparameterization_backward", lambda mu, lv, eps, dz: (dz, dz * eps * np.exp(0.5 * lv)),
     "factor", "extra factor 2"),
    ("reparameterization_backward", lambda mu, lv, eps, dz: (dz, dz * eps * 0.5 * np.exp(lv)),
     "values", "dlogvar has wrong values"),
    ("adam_step", lambda w, g, m, v, t: _adam(w, g, m, v, t, sign=-1.0), "sign", "wrong sign"),
    ("adam_step", lambda w, g, m, v, t: _adam(w, g, m, v, t, bias1=False, bias2=False), "factor",
     "both bias corrections are missing"),
    ("adam_step", lambda w, g, m, v, t: _adam(w, g, m, v, t, bias1=False), "factor",
     "m / (1 - beta1^t) is missing"),
]


def _tied_one_path(x, W, b, c, do):
    """Forgets the decoder's use of W: only the encoder path reaches dW."""
    h = sig(x @ W + b)
    da = (do @ W) * h * (1 - h)
    return x.T @ da, da.sum(0), do.sum(0)


def _contractive_first_path_only(x, W, b):
    h = sig(x @ W + b)
    s = h * (1 - h)
    da = 2 * s ** 2 * (1 - 2 * h) * np.sum(W ** 2, axis=0)
    return x.T @ da / len(x), da.sum(0) / len(x)


@pytest.mark.parametrize("name, fn, kind, words", MISTAKES,
                         ids=[f"{m[0]}-{m[2]}-{i}" for i, m in enumerate(MISTAKES)])
def test_checker_names_each_typical_mistake(name, fn, kind, words, capsys):
    with np.errstate(all="ignore"):
        result = check(name, fn, n_hypothesis=10)
    printed = capsys.readouterr().out
    assert not result.passed
    assert result.kind == kind, result.message
    assert words in result.message, result.message
    assert printed.strip() == result.message.strip()
    if kind != "error":
        assert result.inputs is not None and "input:" in result.message   # the worst input is shown


def test_not_implemented_is_reported_gracefully(capsys):
    def sigmoid_backward(a, dy):
        raise NotImplementedError

    result = check("sigmoid_backward", sigmoid_backward)
    assert result.kind == "not_implemented" and not result
    assert "not implemented yet" in capsys.readouterr().out


def test_hypothesis_finds_mistakes_the_fixed_inputs_miss():
    # right for every batch size but 1, where squeeze() drops the batch axis
    def dense_backward(x, W, b, dy):
        return (dy @ W.T).squeeze(), x.T @ dy, dy.sum(0)

    result = check("dense_backward", dense_backward, verbose=False)
    assert result.phase == "hypothesis" and result.kind == "shape"
    assert result.inputs["x"].shape[0] == 1 or result.inputs["x"].shape[1] == 1


def test_kink_inputs_expect_the_reference_convention():
    ex = EXERCISES["relu_backward"]
    a = np.array([[0.0, 1.0, -1.0, 5e-4]])
    dy = np.ones_like(a)
    (expected,) = expected_outputs(ex, {"a": a, "dy": dy})
    np.testing.assert_allclose(expected, [[0.0, 1.0, 0.0, 1.0]], atol=1e-9)


def test_student_cannot_corrupt_the_inputs():
    def sloppy(o, t):
        o -= t              # in place on the checker's copy
        return 2 * o / o.size

    assert check("mse_grad", sloppy, verbose=False).passed


def test_bad_arguments():
    with pytest.raises(ValueError, match="name must be one of"):
        check("no_such", lambda: 0)
    with pytest.raises(TypeError, match="fn must be a function"):
        check("mse_grad", 3)
    with pytest.raises(ValueError, match="name must be one of"):
        exercises.describe("nope")


# ---- what the student's function returned; bad arguments ---------------------------------------

def test_a_forgotten_return_is_reported_as_returned_none():
    """A forgotten `return` was reported as "shape ()"."""
    def mse_grad(o, t):
        2 * (o - t) / o.size   # noqa: B018 -- the mistake

    result = check("mse_grad", mse_grad, verbose=False)
    assert result.kind == "none" and not result
    assert "your function returned None (a missing return?)" in result.message
    assert "shape ()" not in result.message


@pytest.mark.parametrize("fn, kind, words", [
    (lambda x, W, b, dy: (dy @ W.T, x.T @ dy, None), "none", "returned None for db"),
    (lambda x, W, b, dy: (dy @ W.T, x.T @ dy), "count", "expected 3 arrays (dx, dW, db), your function returned 2 values"),
    (lambda x, W, b, dy: dy @ W.T, "count", "your function returned 1 value"),
    (lambda x, W, b, dy: (dy @ W.T, x.T @ dy, dy.sum(0), 0), "count", "returned 4 values"),
    (lambda x, W, b, dy: (dy @ W.T + 0j, x.T @ dy, dy.sum(0)), "error", "dx is complex"),
    (lambda x, W, b, dy: ("dx", x.T @ dy, dy.sum(0)), "error", "dx must be a numeric array"),
])
def test_wrong_numbers_of_arrays_and_non_arrays_are_named(fn, kind, words):
    result = check("dense_backward", fn, verbose=False)
    assert result.kind == kind and words in result.message, result.message


def test_one_output_may_come_as_a_list_or_a_one_tuple():
    assert check("mse_grad", lambda o, t: (2 * (o - t) / o.size,), n_hypothesis=0, verbose=False)
    assert check("mse_grad", lambda o, t: (2 * (o - t) / o.size).tolist(), n_hypothesis=0,
                 verbose=False)
    result = check("mse_grad", lambda o, t: (o, t), verbose=False)
    assert result.kind == "count" and "expected 1 array (do)" in result.message


@pytest.mark.parametrize("kw, exc, words", [
    (dict(name=None), ValueError, "name must be one of"),
    (dict(name=["mse_grad"]), ValueError, "name must be one of"),
    (dict(fn=None), TypeError, "fn must be a function"),
    (dict(n_random=0), ValueError, "n_random must be an int >= 1"),
    (dict(n_random=-1), ValueError, "n_random must be an int >= 1"),
    (dict(n_random="3"), TypeError, "n_random must be an int >= 1"),
    (dict(n_random=1.5), TypeError, "n_random must be an int"),
    (dict(n_hypothesis=-5), ValueError, "n_hypothesis must be an int >= 0"),
    (dict(rng="seed"), TypeError, "rng must be None, an int seed"),
    (dict(rng=-1), ValueError, "rng must be a non-negative int seed"),
    (dict(verbose="yes"), TypeError, "verbose must be True or False"),
])
def test_check_refuses_bad_arguments_before_running_anything(kw, exc, words):
    calls = []

    def mse_grad(o, t):
        calls.append(1)
        return 2 * (o - t) / o.size

    args = {"name": "mse_grad", "fn": mse_grad, "n_hypothesis": 0, "verbose": False, **kw}
    with pytest.raises(exc, match=words):
        check(**args)
    assert calls == []


def test_the_verdict_shows_once_in_a_notebook_cell(monkeypatch, capsys):
    """In Jupyter, check() printed the verdict and the cell's value (the CheckResult) showed it
    again. Now the result displays nothing more in the cell that printed it, and the verdict in
    a later cell."""
    import sys
    import types

    shell = types.SimpleNamespace(execution_count=7)
    fake = types.ModuleType("IPython")
    fake.get_ipython = lambda: shell
    monkeypatch.setitem(sys.modules, "IPython", fake)
    result = check("mse_grad", reference("mse_grad"), n_hypothesis=0)
    result._ipython_display_()                  # the displayhook, same cell
    assert capsys.readouterr().out.count("mse_grad: passed") == 1
    shell.execution_count = 8                   # `result` alone in a later cell
    result._ipython_display_()
    assert capsys.readouterr().out.count("mse_grad: passed") == 1
    quiet = check("mse_grad", reference("mse_grad"), n_hypothesis=0, verbose=False)
    quiet._ipython_display_()                   # not printed: the display shows it
    assert capsys.readouterr().out.count("mse_grad: passed") == 1
