"""Exercises derived from numpyae's own layers, losses and penalties (from_library.py): the
forward is the objective, the object's backward the reference. Students here are written from
the formulas, independently of the library."""
import numpy as np
import pytest

from numpyae.nn.conv import Conv2D
from numpyae.nn.layers import Dense, Sequential, TiedDense
from numpyae.nn.losses import MSE, BinaryCrossEntropy, SoftmaxCrossEntropy
from numpyae.nn.penalties import Contractive, KLSparsity, L1Activity
from numpyae.teaching.exercises import (EXERCISES, check, describe, from_layer, from_loss,
                                        from_penalty)

LIBRARY = ["library_dense_backward", "library_tied_dense_backward",
           "library_tied_autoencoder_backward", "library_kl_sparsity_backward",
           "library_contractive_backward"]


@pytest.fixture(autouse=True)
def _forget_teacher_exercises():
    before = dict(EXERCISES)
    yield
    EXERCISES.clear()
    EXERCISES.update(before)


def sig(a):
    return 1 / (1 + np.exp(-a))


@pytest.mark.parametrize("name", LIBRARY)
def test_the_catalogue_shows_the_library_exercises_without_their_answer(name):
    ex = EXERCISES[name]
    assert ex.builtin and ex.kink_convention == "reference"
    text = describe(name)
    assert "From numpyae:" in text and f"def {name}(" in text
    prompt = ex.prompt
    assert "Backward," not in prompt and "Gradient." not in prompt and "dL/dz" not in prompt
    assert "x^T" not in prompt and "dP/dh_bj" not in prompt and "da^T" not in prompt


# ---- right answers written from the formulas pass; the classic mistakes are named ----------------

def dense_relu(x, W, b, dy):
    g = dy * (x @ W + b > 0)
    return g @ W.T, x.T @ g, g.sum(0)


def tied_dense(x, W, b, dy):
    y = sig(x @ W.T + b)
    da = dy * y * (1 - y)
    return da @ W, da.T @ x, da.sum(0)


def kl(h):
    q = h.mean(0)
    return np.tile((-0.1 / q + 0.9 / (1 - q)) / len(h), (len(h), 1))


def contractive(x, W, b, direct=True):
    h = sig(x @ W + b)
    s = h * (1 - h)
    da = 2 * s * s * (1 - 2 * h) * (W ** 2).sum(0) / len(x)
    return x.T @ da + (2 * W * (s * s).sum(0) / len(x) if direct else 0), da.sum(0)


@pytest.mark.parametrize("name, student", [
    ("library_dense_backward", dense_relu),
    ("library_tied_dense_backward", tied_dense),
    ("library_kl_sparsity_backward", kl),
    ("library_contractive_backward", contractive),
])
def test_right_answers_from_the_formulas_pass(name, student):
    result = check(name, student, verbose=False)
    assert result.passed, result.message


@pytest.mark.parametrize("name, student, kind, words", [
    ("library_dense_backward",
     lambda x, W, b, dy: (lambda g: (g @ W.T, x.T @ g, g.sum(0)))(dy * (x @ W + b >= 0)),
     "kink", "right everywhere except at the kink"),
    ("library_dense_backward",
     lambda x, W, b, dy: (lambda g: (g @ W.T, g.T @ x, g.sum(0)))(dy * (x @ W + b > 0)),
     "transposed", "dW is transposed"),
    ("library_tied_dense_backward",
     lambda x, W, b, dy: (lambda out: (out[0], out[1].T, out[2]))(tied_dense(x, W, b, dy)),
     "transposed", "dW is transposed: shape (4, 3), expected (3, 4)"),
    ("library_kl_sparsity_backward", lambda h: kl(h) * len(h), "factor",
     "the division by the batch size B = 5 is missing"),
    ("library_contractive_backward", lambda x, W, b: contractive(x, W, b, direct=False), "term",
     "dW is missing the term 'direct'"),
])
def test_classic_mistakes_on_library_exercises_are_named(name, student, kind, words):
    result = check(name, student, verbose=False)
    assert result.kind == kind, result.message
    assert words in result.message


# ---- one call makes an exercise of any layer, loss or penalty -------------------------------------

def test_one_call_makes_an_exercise_of_a_layer_and_leaves_the_layer_alone():
    layer = Dense(5, 2, "tanh", rng=1)
    W0 = layer.W.value.copy()
    ex = from_layer(layer)
    assert ex.name == "dense_layer_backward" and EXERCISES["dense_layer_backward"] is ex
    assert ex.signature == "dense_layer_backward(x, W, b, dy) -> dx, dW, db"
    assert layer.W.value.dtype == np.float32 and np.array_equal(layer.W.value, W0)

    def dense_layer_backward(x, W, b, dy):
        da = dy * (1 - np.tanh(x @ W + b) ** 2)
        return da @ W.T, x.T @ da, da.sum(0)

    assert check("dense_layer_backward", dense_layer_backward, verbose=False).passed


def test_a_parameter_shared_by_two_layers_gets_one_term_per_use():
    enc = Dense(3, 2, "sigmoid", rng=0)
    ex = from_layer(Sequential([enc, TiedDense(enc)]), name="pair_backward")
    assert [t.name for t in ex.terms["dW"]] == ["use in layer 0 (Dense)", "use in layer 1 (TiedDense)"]
    assert ex.signature == "pair_backward(x, W, b, b_1, dy) -> dx, dW, db, db_1"


def test_a_convolution_needs_its_input_shape_and_then_checks():
    from numpyae.teaching.exercises import Input
    with pytest.raises(ValueError, match="x= is needed"):
        from_layer(Conv2D(1, 2, 2))
    ex = from_layer(Conv2D(1, 2, 2), x=Input(("B", 3, 3, 1)), name="conv_backward")
    assert ex.signature == "conv_backward(x, W, b, dy) -> dx, dW, db"
    result = check("conv_backward", ex.reference, n_hypothesis=3, verbose=False)
    assert result.passed, result.message


@pytest.mark.parametrize("loss, student", [
    (MSE(), lambda o, t: 2 * (o - t) / o.size),
    (BinaryCrossEntropy(), lambda z, t: (sig(z) - t) / z.size),
    (SoftmaxCrossEntropy(), lambda z, y: (np.exp(z) / np.exp(z).sum(1, keepdims=True)
                                          - np.eye(z.shape[1])[y]) / len(z)),
])
def test_one_call_makes_an_exercise_of_a_loss(loss, student):
    ex = from_loss(loss)
    assert ex.signature.endswith("(output, target) -> doutput")
    assert check(ex.name, student, verbose=False).passed
    result = check(ex.name, lambda o, t: 2 * student(o, t), verbose=False)
    assert result.kind == "factor" and "an extra factor 2" in result.message


def test_a_penalty_of_the_code_alone_is_checked_at_its_kink():
    from numpyae.teaching.exercises import Input
    from_penalty(L1Activity(beta=0.5), code=Input("B H", -1, 1))
    assert check("l1_activity_penalty_backward", lambda h: 0.5 * np.sign(h) / len(h),
                 verbose=False).passed
    result = check("l1_activity_penalty_backward",
                   lambda h: 0.5 * np.where(h >= 0, 1.0, -1.0) / len(h), verbose=False)
    assert result.kind == "kink", result.message


@pytest.mark.parametrize("call, exc, words", [
    (lambda: from_layer("Dense"), TypeError, "layer must be a numpyae Layer"),
    (lambda: from_layer(Dense(2, 2), name="mse_grad"), ValueError, "catalogue"),
    (lambda: from_layer(Dense(2, 2), name="2x"), ValueError, "name must be a Python identifier"),
    (lambda: from_loss(Dense(2, 2)), TypeError, "loss must be a numpyae Loss"),
    (lambda: from_penalty(MSE()), TypeError, "penalty must be a numpyae Penalty"),
    (lambda: from_penalty(Contractive()), TypeError, "Contractive needs its code layer"),
    (lambda: from_penalty(KLSparsity(), layer=Dense(3, 2, "relu")), ValueError,
     "KLSparsity needs code activations in"),
    (lambda: from_penalty(KLSparsity(), layer=TiedDense(Dense(2, 3))), TypeError,
     "layer must be a Dense code layer"),
])
def test_bad_objects_are_refused_with_a_clear_error(call, exc, words):
    with pytest.raises(exc, match=words):
        call()
