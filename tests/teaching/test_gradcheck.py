"""The gradient checker (numpyae.teaching.gradcheck): stencils, reports, buggy layers caught."""
import numpy as np
import pytest

from numpyae import Dense, check_directional, check_gradient, check_layer, check_model, mlp_autoencoder
from numpyae.teaching.gradcheck import FrozenRandomness, GradcheckReport, numerical_gradient, relative_error
from numpyae.core.registry import register
from numpyae.nn.layers import Layer


def test_numerical_gradient_of_a_cubic_is_exact_to_round_off():
    x = np.array([0.3, -1.2, 2.0])
    g = numerical_gradient(lambda: float(np.sum(x ** 3)), x)
    np.testing.assert_allclose(g, 3 * x ** 2, rtol=1e-10)
    assert np.array_equal(x, [0.3, -1.2, 2.0])  # restored


@pytest.mark.parametrize("order", [2, 4])
def test_both_stencils(order):
    x = np.array([0.7, -0.4])
    g = numerical_gradient(lambda: float(np.sum(np.sin(x))), x, order=order)
    np.testing.assert_allclose(g, np.cos(x), rtol=1e-8)


def test_fourth_order_beats_second_order_on_small_entries():
    """A gradient entry of 1e-6 next to a function value of 1 (the case that motivated order=4)."""
    x = np.array([0.3, 0.5])
    f = lambda: float(1e-6 * np.sin(x[0]) + np.exp(x[1]))
    exact = np.array([1e-6 * np.cos(0.3), np.exp(0.5)])
    e2 = relative_error(exact, numerical_gradient(f, x, order=2))[0]
    e4 = relative_error(exact, numerical_gradient(f, x, order=4))[0]
    assert e4 < e2


def test_integer_arrays_are_refused():
    with pytest.raises(TypeError, match="float array"):
        numerical_gradient(lambda: 0.0, np.array([1, 2]))
    with pytest.raises(TypeError, match="NumPy float array"):
        numerical_gradient(lambda: 0.0, [1.0, 2.0])
    with pytest.raises(ValueError, match="order"):
        numerical_gradient(lambda: 0.0, np.zeros(2), order=3)


def test_relative_error_definition():
    assert relative_error(1.0, 1.0) == 0
    assert relative_error(0.0, 0.0) == 0
    assert relative_error(1.0, -1.0) == 1
    assert relative_error(2.0, 1.0) == pytest.approx(1 / 3)


def test_check_gradient_accepts_right_and_rejects_wrong():
    x = np.random.default_rng(0).normal(size=(3, 4))
    f = lambda: float(np.sum(np.tanh(x)))
    assert check_gradient(f, x, 1 - np.tanh(x) ** 2).max_error <= 1e-7
    assert check_gradient(f, x, 1 - np.tanh(x)).max_error > 1e-3
    assert check_gradient(f, x, 1.01 * (1 - np.tanh(x) ** 2)).max_error > 1e-3  # 1% off is caught
    with pytest.raises(ValueError, match="analytic must have"):
        check_gradient(f, x, np.zeros(3))


class ForgetsActivation(Dense):
    """A classic bug: backward ignores f'(a) (dy is treated as the gradient w.r.t. a)."""

    def backward(self, dy, *, input_grad=True, da=None):
        return super().backward(np.zeros_like(self.y), input_grad=input_grad, da=dy)


class TransposedInputGradient(Dense):
    def backward(self, dy, *, input_grad=True, da=None):
        da = dy * self.activation.derivative(self.a, self.y)
        self.W.grad += self.x.T @ da
        self.b.grad += da.sum(0)
        if not input_grad:
            return None
        return (self.W.value @ da.T).T[:, ::-1]  # wrong: columns reversed


def test_check_layer_flags_buggy_backward_passes():
    x = np.random.default_rng(0).normal(size=(4, 3))
    assert check_layer(Dense(3, 3, "tanh", rng=0), x).max_error <= 1e-7
    bad = check_layer(ForgetsActivation(3, 3, "tanh", rng=0), x)
    assert bad["W"].max_error > 1e-2 and bad["input"].max_error > 1e-2
    bad = check_layer(TransposedInputGradient(3, 3, "tanh", rng=0), x)
    assert bad["W"].max_error <= 1e-7 and bad["input"].max_error > 1e-2


@register
class NoisyScale(Layer):
    """y = x * (1 + 0.5 eps), eps ~ N(0, 1) drawn each forward from the layer's own Generator."""

    def __init__(self, rng=0):
        self.rng = np.random.default_rng(rng)

    def forward(self, x, *, training=True):
        self.eps = self.rng.standard_normal(x.shape)
        return x * (1 + 0.5 * self.eps)

    def backward(self, dy, *, input_grad=True):
        return dy * (1 + 0.5 * self.eps) if input_grad else None


def test_randomness_is_held_fixed_during_checks():
    x = np.random.default_rng(1).normal(size=(3, 4))
    report = check_layer(NoisyScale(), x)
    assert report.max_error <= 1e-7
    layer = NoisyScale()
    frozen = FrozenRandomness(layer)
    a = layer.forward(x)
    frozen.restore()
    assert np.array_equal(layer.forward(x), a)


def test_check_model_and_directional_on_a_correct_model():
    rng = np.random.default_rng(0)
    model = mlp_autoencoder([5, 3, 2], activation="tanh", loss="bce", rng=0)
    X = rng.uniform(0.1, 0.9, size=(4, 5))
    report = check_model(model, X)
    assert report.max_error <= 1e-7, str(report)
    assert [r.name for r in report.rows][:2] == ["encoder.0.W", "encoder.0.b"]
    assert check_directional(model, X).max_error <= 1e-7
    # the original float32 model is untouched
    assert model.dtype == np.float32
    only = check_model(model, X, parameters=["decoder.1.b"])
    assert [r.name for r in only.rows] == ["decoder.1.b"]
    with pytest.raises(ValueError, match="unknown"):
        check_model(model, X, parameters=["nope"])


def test_directional_check_catches_a_wrong_gradient():
    model = mlp_autoencoder([4, 3], activation="tanh", loss="mse", rng=0)
    model.decoder.layers[0].__class__ = ForgetsActivation  # sigmoid output, derivative dropped
    X = np.random.default_rng(0).uniform(0.1, 0.9, size=(3, 4))
    assert check_directional(model, X).max_error > 1e-3
    assert check_model(model, X).max_error > 1e-3


def test_report_prints_a_readable_table():
    model = mlp_autoencoder([3, 2], activation="tanh", rng=0)
    report = check_model(model, np.full((2, 3), 0.5))
    text = str(report)
    assert "quantity" in text and "max rel err" in text and "encoder.0.W" in text
    assert text.splitlines()[-1].startswith("max relative error")
    assert "<table>" in report._repr_html_()
    assert isinstance(report, GradcheckReport) and report.passed()


# ---- bad input is refused before any work ------------------------------------------------------

def _small():
    return mlp_autoencoder([4, 3, 2], activation="tanh", dtype=np.float64, rng=0)


_X = np.random.default_rng(0).random((3, 4))
BAD_X = [("abc", TypeError, "X must be a numeric array"),
         (np.zeros((0, 4)), ValueError, "X must not be empty"),
         (np.where(_X > 0.5, np.nan, _X), ValueError, "X contains NaN or inf"),
         (_X + 1j, TypeError, "X must hold real numbers"),
         (_X[:, :3], ValueError, "X must have 4 features"),
         (_X[0], ValueError, "X must be 2-D"),
         ([[1, 2], [3]], ValueError, "X must be a rectangular"),
         (None, TypeError, "X must be a numeric array")]


@pytest.mark.parametrize("tool", [check_model, check_directional], ids=lambda f: f.__name__)
@pytest.mark.parametrize("X, exc, words", BAD_X, ids=["string", "empty", "nan", "complex",
                                                      "features", "1d", "ragged", "none"])
def test_check_model_and_check_directional_refuse_bad_X_with_a_clear_error(tool, X, exc, words):
    """String or empty X crashed inside NumPy, NaN X gave max_error=nan, complex X lost its
    imaginary part silently."""
    with pytest.raises(exc, match=words):
        tool(_small(), X)


@pytest.mark.parametrize("tool", [check_model, check_directional], ids=lambda f: f.__name__)
@pytest.mark.parametrize("model", [None, "model", 3, np.zeros(3), Dense(4, 3)],
                         ids=lambda v: type(v).__name__)
def test_check_model_and_check_directional_refuse_what_is_not_a_model(tool, model):
    with pytest.raises(TypeError, match="model must be a numpyae Model"):
        tool(model, _X)


@pytest.mark.parametrize("kw, exc, words", [
    (dict(h=0), ValueError, "h must be a finite number in"),
    (dict(h=-1e-4), ValueError, "h must be a finite number"),
    (dict(h=np.nan), ValueError, "h must be a finite number"),
    (dict(h=np.inf), ValueError, "h must be a finite number"),
    (dict(h=1e6), ValueError, r"h must be a finite number in \[1e-12, 0.1\]"),
    (dict(h="x"), TypeError, "h must be a real number"),
    (dict(h=1e-300), ValueError, "h must be a finite number in"),
    (dict(order=3), ValueError, "order must be 2 or 4"),
    (dict(order="4"), TypeError, "order must be the int 2 or 4"),
    (dict(order=4.0), TypeError, "order must be the int 2 or 4"),
    (dict(order=None), TypeError, "order must be the int 2 or 4"),
    (dict(y=np.arange(3) % 2), ValueError, "y must be None: Autoencoder does not train on labels"),
], ids=lambda v: ",".join(f"{k}={w!r}" for k, w in v.items()) if isinstance(v, dict) else "")
@pytest.mark.parametrize("tool", [check_model, check_directional], ids=lambda f: f.__name__)
def test_gradient_checks_refuse_bad_h_order_and_y(tool, kw, exc, words):
    with pytest.raises(exc, match=words):
        tool(_small(), _X, **kw)


def test_check_model_refuses_bad_parameter_lists_and_diverged_models():
    with pytest.raises(ValueError, match="at least one parameter"):
        check_model(_small(), _X, parameters=[])
    with pytest.raises(TypeError, match="list of parameter names"):
        check_model(_small(), _X, parameters=[3])
    assert [r.name for r in check_model(_small(), _X, parameters="decoder.1.b").rows] == ["decoder.1.b"]
    broken = _small()
    broken.encoder[0].W.value[0, 0] = np.nan
    with pytest.raises(ValueError, match="model's parameter encoder.0.W contains NaN"):
        check_model(broken, _X)


def test_check_layer_and_check_gradient_refuse_bad_input():
    with pytest.raises(TypeError, match="layer must be a numpyae Layer"):
        check_layer(None, _X)
    with pytest.raises(ValueError, match="x must have 4 features"):
        check_layer(Dense(4, 3), _X[:, :2])
    with pytest.raises(TypeError, match="x must hold real numbers"):
        check_layer(Dense(4, 3), _X + 1j)
    with pytest.raises(ValueError, match="x contains NaN"):
        check_layer(Dense(4, 3), _X * np.nan)
    with pytest.raises(TypeError, match="check_input must be True or False"):
        check_layer(Dense(4, 3), _X, check_input="no")
    x = np.ones(3)
    with pytest.raises(TypeError, match="f must be a function"):
        check_gradient(3, x, x)
    with pytest.raises(TypeError, match="analytic must be a real numeric array"):
        check_gradient(lambda: 0.0, x, "abc")
    big = np.array([1.0, 1e6])
    with pytest.raises(ValueError, match=r"h = 1e-12 is too small for x\[1\] = 1e\+06"):
        check_gradient(lambda: float(big.sum()), big, np.ones(2), h=1e-12)


def test_a_nan_gradient_is_an_infinite_error_not_nan():
    x = np.array([1.0, 2.0])
    report = check_gradient(lambda: float(np.sum(x ** 2)), x, np.array([2.0, np.nan]))
    assert report.max_error == np.inf and not report.passed()


def test_report_html_sets_text_colours_with_its_backgrounds():
    html = check_model(_small(), _X)._repr_html_()
    for row in html.split("<tr")[2:]:
        assert "background:" in row and ";color:" in row
