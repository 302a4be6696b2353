"""Teachers' own exercises (numpyae.teaching.exercises.define): an objective of named inputs with
symbolic shapes, ranges and kinks; the checker's whole diagnosis works on it with no extra code.
"""
import contextlib
import importlib
import inspect
import io
import re

import numpy as np
import pytest

from numpyae.teaching.exercises import (EXERCISES, Exercise, Input, check, define, describe,
                                        reference, remove)

# the module (the package's attribute `define` is the function)
define_module = importlib.import_module("numpyae.teaching.exercises.define")


@pytest.fixture(autouse=True)
def _forget_teacher_exercises():
    """Every test starts and ends with the catalogue alone."""
    before = dict(EXERCISES)
    yield
    EXERCISES.clear()
    EXERCISES.update(before)


def ridge(**kw):
    """The docstring's exercise: ridge regression, two named terms."""
    return define(
        "ridge_grad", "Gradient of ridge regression\n"
        "L = 1/B ||X w - y||^2 + lam ||w||^2, X (B, D), w (D,), y (B,). Return dL/dw (D,).",
        objective=lambda w, X, y, lam: np.sum((X @ w - y) ** 2) / len(y) + lam * w @ w,
        inputs={"w": Input("D"), "X": Input("B D"), "y": Input("B"),
                "lam": Input.scalar(0.1, 1.0)},
        grad=["w"],
        terms={"data fit": lambda w, X, y, lam: 2 * X.T @ (X @ w - y) / len(y),
               "weight decay": lambda w, X, y, lam: 2 * lam * w}, **kw)


# ---- the teacher's exercise in under 15 lines, and its diagnosis ---------------------------------

def test_a_teacher_defines_an_exercise_in_under_15_lines_and_a_forgotten_term_is_named(capsys):
    source = inspect.getsource(ridge)
    assert len(source.splitlines()) - 2 < 15        # the define(...) call, without def + docstring
    ridge()

    def ridge_grad(w, X, y, lam):          # a student forgets the penalty
        return 2 * X.T @ (X @ w - y) / len(y)

    result = check("ridge_grad", ridge_grad)
    printed = capsys.readouterr().out
    assert (result.kind, result.terms) == ("term", {"missing": ["weight decay"]})
    assert printed.startswith(
        "ridge_grad: not right yet (missing term: weight decay), on random input 1.\n"
        "dw is missing the term 'weight decay': yours = 'data fit', the true dw = 'data fit' + "
        "'weight decay'\n")
    assert result.summary == "dw: missing term 'weight decay'"


def test_the_define_module_docstring_example_runs_and_prints_what_it_says():
    doc = define_module.__doc__
    code = doc.split("\nprints\n")[0].split("\n", 1)[1]
    code = "\n".join(line[4:] for line in code.splitlines())
    claimed = doc.split("prints\n\n")[1].splitlines()[:2]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "<define docstring>", "exec"), {})
    lines = out.getvalue().splitlines()
    assert [line.strip() for line in lines[:2]] == [line.strip() for line in claimed]


# ---- every general verdict, on a teacher's exercise ----------------------------------------------

def tanh_layer(**kw):
    """L = sum(tanh(X W) * G) over N samples: a matrix gradient dW (M, K)."""
    return define(
        "tanh_layer_grad", "Gradient of a tanh layer\nL = sum(tanh(X W) * G); return dL/dW.",
        objective=lambda X, W, G: float(np.sum(np.tanh(X @ W) * G)),
        inputs={"X": Input("N M"), "W": Input("M K"), "G": Input("N K", -2, 2)},
        grad=["W"], dims={"N": "the number of samples"}, **kw)


def _tanh_dW(X, W, G):
    return X.T @ (G * (1 - np.tanh(X @ W) ** 2))


@pytest.mark.parametrize("student, kind, words", [
    (lambda X, W, G: _tanh_dW(X, W, G), "passed", "passed"),
    (lambda X, W, G: _tanh_dW(X, W, G).T, "transposed",
     "dW is transposed: shape (6, 8), expected (8, 6), and yours.T is right"),
    (lambda X, W, G: -_tanh_dW(X, W, G), "sign", "dW has the wrong sign everywhere"),
    (lambda X, W, G: _tanh_dW(X, W, G) / len(X), "factor",
     "Likely cause: divided by the number of samples N = 7 once too often"),
    (lambda X, W, G: _tanh_dW(X, W, G) * 2, "factor", "an extra factor 2"),
    (lambda X, W, G: _tanh_dW(X, W, G)[:, :1], "shape", "dW has shape (8, 1), expected (8, 6)"),
    (lambda X, W, G: _tanh_dW(X, W, G) * np.nan, "nonfinite", "dW contains NaN or inf"),
    (lambda X, W, G: X.T @ G, "values", "dW has wrong values"),
    (lambda X, W, G: None, "none", "returned None"),
])
def test_every_general_verdict_works_on_a_defined_exercise(student, kind, words):
    tanh_layer()
    with np.errstate(all="ignore"):
        result = check("tanh_layer_grad", student, verbose=False)
    assert result.kind == kind, result.message
    assert words in result.message


def test_a_symbol_of_the_teachers_gets_a_size_apart_from_the_others():
    ex = tanh_layer()
    from numpyae.teaching.exercises.checker import fixed_dims
    for dims in fixed_dims(ex):
        sizes = [dims[s] for s in ("N", "M", "K")]
        assert len(set(sizes)) == 3 and 2 not in sizes and 1 not in sizes
    result = check("tanh_layer_grad", lambda X, W, G: _tanh_dW(X, W, G) / (7 * 8), verbose=False)
    assert "divided by N*M = 56 once too often" in result.message


def test_a_declared_mistake_and_labels_work_on_a_defined_exercise():
    define("softmax_logit_grad", "Gradient of softmax cross-entropy over C classes",
           objective=lambda z, y: float(-np.mean(
               (z - np.log(np.exp(z).sum(1, keepdims=True)))[np.arange(len(z)), y])),
           inputs={"z": Input("B C", -3, 3), "y": Input.labels("B", classes="C")},
           grad=["z"],
           mistakes=[("probabilities_only",
                      lambda z, y: np.exp(z) / np.exp(z).sum(1, keepdims=True) / len(z),
                      "your {output} is softmax(z) / B: subtract the one-hot of the labels")])
    p = lambda z: np.exp(z) / np.exp(z).sum(1, keepdims=True)
    assert check("softmax_logit_grad", lambda z, y: (p(z) - np.eye(z.shape[1])[y]) / len(z),
                 verbose=False).passed
    result = check("softmax_logit_grad", lambda z, y: p(z) / len(z), verbose=False)
    assert (result.kind, result.mistake) == ("mistake", "probabilities_only")
    assert "your dz is softmax(z) / B" in result.message


# ---- kinks ---------------------------------------------------------------------------------------

def relu_sum(**kw):
    return define("relu_sum_grad", "Gradient of sum(relu(a) * g)",
                  objective=lambda a, g: float(np.sum(np.maximum(a, 0) * g)),
                  inputs={"a": Input("B D", -2, 2, kinks=[0.0]), "g": Input("B D", -2, 2)},
                  grad=["a"], **kw)


def test_without_a_reference_any_value_between_the_one_sided_slopes_is_right_at_a_kink():
    relu_sum()
    assert check("relu_sum_grad", lambda a, g: g * (a > 0), verbose=False).passed
    assert check("relu_sum_grad", lambda a, g: g * (a >= 0), verbose=False).passed
    assert check("relu_sum_grad", lambda a, g: g * np.where(a == 0, 0.5, a > 0),
                 verbose=False).passed
    result = check("relu_sum_grad", lambda a, g: g * np.where(a == 0, 3.0, a > 0), verbose=False)
    assert result.kind == "kink", result.message
    assert "the derivative is not defined: any value between the one-sided slopes" in result.message


def test_with_a_reference_its_value_is_the_convention_at_a_kink():
    relu_sum(reference=lambda a, g: g * (a > 0))
    assert check("relu_sum_grad", lambda a, g: g * (a > 0), verbose=False).passed
    result = check("relu_sum_grad", lambda a, g: g * (a >= 0), verbose=False)
    assert result.kind == "kink" and "the convention is 0" in result.message


def test_the_first_fixed_input_has_exact_kinks_at_the_declared_values():
    ex = define("shifted_abs_grad", "Gradient of sum |x - 0.25|",
                objective=lambda x: float(np.abs(x - 0.25).sum()),
                inputs={"x": Input("B D", -1, 1, kinks=[0.25])}, grad=["x"])
    from numpyae.teaching.exercises.checker import fixed_dims, random_inputs
    x = random_inputs(ex, fixed_dims(ex)[0], np.random.default_rng(0), with_kinks=True)["x"]
    assert np.count_nonzero(x == 0.25) == len(range(0, x.size, 3))
    assert check("shifted_abs_grad", lambda x: np.sign(x - 0.25), verbose=False).passed


def test_kinks_of_a_derived_quantity_are_declared_by_a_function():
    define("hinge_grad", "Gradient of the hinge loss\nL = 1/B sum_b max(0, 1 - y_b x_b.w)",
           objective=lambda w, X, y: float(np.mean(np.maximum(0, 1 - y * (X @ w)))),
           inputs={"w": Input("D"), "X": Input("B D"), "y": Input("B")}, grad=["w"],
           kinks=lambda w, X, y: {"margin at 1": y * (X @ w) < 1})
    right = lambda w, X, y: -(X * (y * ((y * (X @ w)) < 1))[:, None]).sum(0) / len(y)
    assert check("hinge_grad", right, verbose=False).passed


# ---- terms on a teacher's exercise ---------------------------------------------------------------

def data_fit(w, X, y, lam):
    return 2 * X.T @ (X @ w - y) / len(y)


@pytest.mark.parametrize("student, headline, terms", [
    (lambda w, X, y, lam: data_fit(w, X, y, lam) - 2 * lam * w,
     "term with the wrong sign: weight decay", {"wrong sign": ["weight decay"]}),
    (lambda w, X, y, lam: data_fit(w, X, y, lam) + 4 * lam * w,
     "term counted twice: weight decay", {"counted twice": ["weight decay"]}),
    (lambda w, X, y, lam: 2 * lam * w, "missing term: data fit", {"missing": ["data fit"]}),
    (lambda w, X, y, lam: data_fit(w, X, y, lam) * len(y) + 2 * lam * w,
     "term off by a constant factor: data fit", {"off by a factor": ["data fit"]}),
])
def test_terms_missing_flipped_doubled_or_scaled_are_named(student, headline, terms):
    ridge()
    result = check("ridge_grad", student, verbose=False)
    assert result.kind == "term" and result.terms == terms, result.message
    assert f"not right yet ({headline})" in result.message


def test_a_term_scaled_by_the_batch_size_names_the_cause():
    ridge()
    result = check("ridge_grad", lambda w, X, y, lam: data_fit(w, X, y, lam) * len(y) + 2 * lam * w,
                   verbose=False)
    assert "dw has the term 'data fit' off by a constant factor: yours = 5 x 'data fit'" \
        in result.message
    assert "Likely cause: the division by the batch size B = 5 is missing" in result.message
    assert result.summary == ("dw: term 'data fit' off by a factor: the division by the batch "
                              "size B is missing")


def test_an_extra_term_that_does_not_belong_is_named():
    define("square_grad", "Gradient of sum(x^2 * g) / 2",
           objective=lambda x, g: float(np.sum(x ** 2 * g) / 2),
           inputs={"x": Input("B D"), "g": Input("B D", 0.5, 2)}, grad=["x"],
           terms=[("x g", lambda x, g: x * g, "d/dx of x^2 g / 2"),
                  ("g alone", lambda x, g: g, "g does not depend on x: no term", True)])
    assert check("square_grad", lambda x, g: x * g, verbose=False).passed
    result = check("square_grad", lambda x, g: x * g + g, verbose=False)
    assert result.terms == {"extra": ["g alone"]}
    assert "dx has the extra term 'g alone', which does not belong in it" in result.message


def test_an_answer_equal_to_no_variant_of_the_terms_gets_the_general_verdict():
    ridge()
    result = check("ridge_grad", lambda w, X, y, lam: -(data_fit(w, X, y, lam) + 2 * lam * w),
                   verbose=False)
    assert (result.kind, result.terms) == ("sign", None)
    result = check("ridge_grad", lambda w, X, y, lam: np.zeros_like(w), verbose=False)
    assert result.kind == "values"


# ---- a value exercise, the reference, registration ------------------------------------------------

def test_an_exercise_that_returns_values_is_judged_by_its_reference():
    define("clip_step", "One clipped gradient step\nw - lr * clip(g, -1, 1), lr = 0.1",
           inputs={"w": Input("D"), "g": Input("D", -3, 3)}, returns=["w_new"],
           reference=lambda w, g: w - 0.1 * np.clip(g, -1, 1))
    assert check("clip_step", lambda w, g: w - 0.1 * np.clip(g, -1, 1), verbose=False).passed
    result = check("clip_step", lambda w, g: w - 0.1 * g, verbose=False)
    assert result.kind == "values"


def test_without_a_reference_reference_gives_the_finite_difference_gradient():
    ex = ridge()
    rng = np.random.default_rng(3)
    w, X, y = rng.standard_normal(4), rng.standard_normal((5, 4)), rng.standard_normal(5)
    np.testing.assert_allclose(reference("ridge_grad")(w, X, y, 0.5),
                               data_fit(w, X, y, 0.5) + 2 * 0.5 * w, rtol=1e-8)
    assert ex.kink_convention == "subgradient"


def test_describe_lists_the_inputs_and_what_to_return():
    ridge()
    text = describe("ridge_grad")
    assert text.startswith("Gradient of ridge regression\n\nL = 1/B ||X w - y||^2")
    assert "inputs:  w (D,) in [-1, 1];  X (B, D) in [-1, 1];  y (B,) in [-1, 1];  lam a float " \
           "in [0.1, 1]" in text
    assert "return:  dw = dL/dw (D,)" in text and "def ridge_grad(w, X, y, lam) -> dw" in text


def test_an_unregistered_exercise_is_checked_as_an_object_and_remove_forgets_one():
    ex = ridge(register=False)
    assert isinstance(ex, Exercise) and "ridge_grad" not in EXERCISES
    assert check(ex, lambda w, X, y, lam: data_fit(w, X, y, lam) + 2 * lam * w, verbose=False)
    ridge()
    ridge()                                  # running the cell again replaces it
    assert remove("ridge_grad") is not None and "ridge_grad" not in EXERCISES
    with pytest.raises(ValueError, match="an exercise defined with define"):
        remove("mse_grad")


def test_as_dict_is_json_data_without_the_input_listing():
    import json
    ridge()
    d = check("ridge_grad", lambda w, X, y, lam: data_fit(w, X, y, lam), verbose=False).as_dict()
    assert json.loads(json.dumps(d)) == d
    assert d["passed"] is False and d["terms"] == {"missing": ["weight decay"]}
    assert "input:" not in d["message"] and "worst entry" in d["message"]


# ---- a teacher's mistakes are refused before any check --------------------------------------------

GOOD = dict(objective=lambda x: float(np.sum(x ** 2)), inputs={"x": Input("B D")}, grad=["x"])


@pytest.mark.parametrize("change, exc, words", [
    (dict(name="mse_grad"), ValueError, "is an exercise of numpyae's catalogue"),
    (dict(name="not an identifier"), ValueError, "name must be a Python identifier"),
    (dict(statement="  "), ValueError, "statement must be a non-empty string"),
    (dict(inputs={}), TypeError, "inputs must be a non-empty dict"),
    (dict(inputs={"x": 3}), TypeError, r"inputs\['x'\] must be an Input"),
    (dict(grad=["z"]), ValueError, "grad names 'z', which is not an input"),
    (dict(grad=None), ValueError, "give exactly one of grad="),
    (dict(returns=["y"]), ValueError, "give exactly one of grad="),
    (dict(objective=lambda y: 0.0), TypeError, r"objective must take the inputs \['x'\]"),
    (dict(objective=lambda x: x), ValueError, "the objective must return a finite real scalar"),
    (dict(objective=lambda x: float(np.sum(x ** 2)) / 0.0 if x.size else 0), ValueError,
     "the objective raised ZeroDivisionError"),
    (dict(reference=lambda x: x), ValueError,
     "the reference's dx disagrees with the finite differences of the objective"),
    (dict(reference=lambda x: 2 * x.T), ValueError, "the reference's dx has shape"),
    (dict(terms={"half": lambda x: x, "other half": lambda x: 0.5 * x}), ValueError,
     r"the terms \['half', 'other half'\] do not add up to dx"),
    (dict(terms={"all": lambda x: 2 * x}), ValueError, "declare at least two terms"),
    (dict(terms={"a": lambda y: y, "b": lambda x: x}), TypeError, "term 'a' of dx must take"),
    (dict(mistakes=[("m", lambda x: (x, x), "two")]), ValueError, "returned 2 values"),
    (dict(dims=["N"]), TypeError, "dims must be"),
])
def test_define_refuses_what_it_cannot_check(change, exc, words):
    kwargs = dict(GOOD, name="square_sum_grad", statement="Gradient of sum(x^2)")
    kwargs.update(change)
    with pytest.raises(exc, match=words):
        define(**kwargs)
    assert "square_sum_grad" not in EXERCISES


def test_grad_of_a_scalar_input_is_refused():
    with pytest.raises(ValueError, match="grad names 'lam', a scalar input"):
        define("s", "x", objective=lambda lam: lam ** 2, inputs={"lam": Input.scalar()},
               grad=["lam"])


@pytest.mark.parametrize("make, exc, words", [
    (lambda: Input("B D", 1, -1), ValueError, "low must be < high"),
    (lambda: Input("B D", kinks=[3.0]), ValueError, "kinks must lie in the range"),
    (lambda: Input("B 0"), ValueError, "shape entries must be dimension symbols or ints >= 1"),
    (lambda: Input("B D-1"), ValueError, "shape entries must be dimension symbols"),
    (lambda: Input(3), TypeError, "shape must be a string"),
    (lambda: Input("B", "a"), TypeError, "low must be a number"),
    (lambda: Input("B", 0, float("inf")), ValueError, "high must be finite"),
    (lambda: Input.labels("B", classes=0), ValueError, "classes must be a dimension symbol"),
    (lambda: Input.integer(1.5, 3), TypeError, "low must be an int"),
    (lambda: Input.scalar(0, 1).__class__((), 0, 1, kind="scalar", kinks=[0.5]), ValueError,
     "kinks= goes with a float array input"),
])
def test_input_refuses_bad_specifications(make, exc, words):
    with pytest.raises(exc, match=words):
        make()


def test_input_shapes_may_be_written_several_ways():
    assert Input("B D").shape == Input("B, D").shape == Input(("B", "D")).shape == ("B", "D")
    assert Input("B 4").shape == ("B", 4) and Input("").shape == ()
    assert re.search(r"x \(B, 4\) in \[-1, 1\]", Input("B 4").to_arg("x").describe())
