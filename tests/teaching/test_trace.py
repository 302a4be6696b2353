"""The backprop tracer (numpyae.teaching.trace): steps, local checks, rendering, the CLI."""
import numpy as np
import pytest

from numpyae import Dense, Sequential, mlp_autoencoder
from numpyae.teaching.cases import GRADCHECK_CASES
from numpyae.apps.cli import main
from numpyae.nn.layers import Layer, backward_through
from numpyae.teaching.trace import build_traceable, discover, formulas, trace_backprop


def _tiny(rng=0, **kw):
    kw.setdefault("activation", "tanh")
    return mlp_autoencoder([6, 4, 3], rng=rng, dtype=np.float64, **kw)


def _inputs(seed=1, n=5, d=6):
    return np.random.default_rng(seed).uniform(0.05, 0.95, size=(n, d))


@pytest.mark.parametrize("name", sorted(GRADCHECK_CASES))
def test_every_catalog_model_traces_and_each_step_agrees_with_finite_differences(name):
    _, model, X, y = build_traceable(name)
    t = trace_backprop(model, X, y, check=True)
    assert len(t.forward_steps) >= len(t.backward_steps) > 0   # some forwards are not backpropagated
    assert all(s.forward_step is not None for s in t.backward_steps)
    assert t.check() <= 1e-7
    # the steps' contributions add up to the full gradient: nothing happens outside them
    assert t.unattributed == {}
    ref = model.astype(np.float64)
    terms = ref.loss_and_grad(np.asarray(X, dtype=np.float64), y)
    assert t.terms["loss"] == pytest.approx(terms["loss"], rel=1e-12)
    for pname, p in ref.named_parameters_unique():
        np.testing.assert_allclose(t.grads[pname], p.grad, rtol=1e-12, atol=1e-15)


def test_steps_follow_the_chain_rule_order_with_shapes():
    model = _tiny()
    X = _inputs()
    t = trace_backprop(model, X)
    names = [(s.phase, s.name) for s in t]
    assert names == [("forward", "encoder.0"), ("forward", "encoder.1"), ("forward", "decoder.0"),
                     ("forward", "decoder.1"), ("forward", "loss"),
                     ("backward", "loss"), ("backward", "decoder.1"), ("backward", "decoder.0"),
                     ("backward", "encoder.1"), ("backward", "encoder.0")]
    first = t[0]
    assert first.inputs[0][0] == "x" and first.inputs[0][1].shape == (5, 6)
    assert first.outputs[0][1].shape == (5, 4)
    assert set(first.cached) >= {"x", "a", "y"}
    np.testing.assert_allclose(first.cached["y"], np.tanh(first.cached["a"]))
    enc0 = t.find("encoder.0")
    assert enc0.forward_step is first
    assert set(enc0.grads) == {"encoder.0.W", "encoder.0.b"}
    assert enc0.grads["encoder.0.W"].shape == (6, 4)
    # the first layer's input is data: it is asked for parameter gradients only, no dx
    assert enc0.input_grad is False and "no dx" in enc0.header()
    assert "(parameters only: its input is data, no dx)" in enc0.title
    assert all(v is None for _, v in enc0.outputs)
    enc1 = t.find("encoder.1")
    assert enc1.input_grad is True and "parameters only" not in enc1.title
    assert enc1.outputs[0][1].shape == (5, 4)      # dx
    loss_fwd = t.find("loss", "forward")
    assert loss_fwd.outputs == [("L", pytest.approx(t.terms["loss"]))]


def test_trace_leaves_the_model_untouched_and_unwrapped():
    model = _tiny()
    before = [p.value.copy() for p in model.parameters()]
    t = trace_backprop(model, _inputs())
    for p, b in zip(model.parameters(), before):
        np.testing.assert_array_equal(p.value, b)
        assert not p.grad.any()
    for _, obj in discover(t.model):
        assert "forward" not in vars(obj) and "backward" not in vars(obj)


def test_tied_weights_show_both_contributions():
    model = _tiny(tied=True)
    t = trace_backprop(model, _inputs(), check=True)
    dec = t.find("decoder.1")
    enc = t.find("encoder.0")
    assert "encoder.0.W" in dec.grads and dec.grad_label("encoder.0.W") == "dW (= encoder.0.W)"
    np.testing.assert_allclose(dec.grads["encoder.0.W"] + enc.grads["encoder.0.W"],
                               t.grads["encoder.0.W"], rtol=1e-12)
    assert t.check() <= 1e-7


class WrongDense(Dense):
    """Dense whose backward forgets f'(a): the bug the per-step check must point at."""

    def backward(self, dy, *, input_grad=True, da=None):
        return super().backward(np.zeros_like(self.y), input_grad=input_grad, da=dy)


def test_a_wrong_backward_is_flagged_at_its_own_step():
    rng = np.random.default_rng(0)
    enc = Sequential([Dense(6, 4, "tanh", rng=rng, dtype=np.float64),
                      WrongDense(4, 3, "tanh", rng=rng, dtype=np.float64)])
    dec = Sequential([Dense(3, 6, rng=rng, dtype=np.float64)])
    from numpyae import Autoencoder
    t = trace_backprop(Autoencoder(enc, dec, "bce"), _inputs())
    errors = {s.name: s.max_error() for s in t.backward_steps}
    assert errors["encoder.1"] > 1e-3
    assert all(e <= 1e-7 for name, e in errors.items() if name != "encoder.1")
    assert "encoder.1" in str(t) and "DISAGREES" in t.summary()


class GaussianNoise(Layer):
    """Additive noise  y = x + sigma * eps,  eps ~ N(0, I) drawn in forward.

    Backward:  dx = dy.
    """

    def __init__(self, sigma, rng):
        self.sigma, self.rng = sigma, rng

    def forward(self, x, *, training=True):
        self.eps = self.rng.standard_normal(x.shape)
        return x + self.sigma * self.eps

    def backward(self, dy, *, input_grad=True):
        return dy if input_grad else None


class MultiplicativeNoise(Layer):
    """y = x * (1 + sigma * eps),  eps ~ N(0, I) drawn in forward.

    Backward:  dx = dy * (1 + sigma * eps)   (needs the eps of the forward pass)
    """

    def __init__(self, sigma, rng):
        self.sigma, self.rng = sigma, rng

    def forward(self, x, *, training=True):
        self.eps = self.rng.standard_normal(x.shape)
        return x * (1 + self.sigma * self.eps)

    def backward(self, dy, *, input_grad=True):
        return dy * (1 + self.sigma * self.eps) if input_grad else None


def test_a_noise_layer_inside_the_network_is_replayed_with_its_own_noise():
    rng = np.random.default_rng(3)
    enc = Sequential([Dense(6, 5, "tanh", rng=rng, dtype=np.float64),
                      MultiplicativeNoise(0.5, np.random.default_rng(5)),
                      Dense(5, 3, "sigmoid", rng=rng, dtype=np.float64)])
    dec = Sequential([Dense(3, 6, rng=rng, dtype=np.float64)])
    from numpyae import Autoencoder
    t = trace_backprop(Autoencoder(enc, dec, "mse"), _inputs(), check=True)
    step = t.find("encoder.1")
    assert step.formula.startswith("Backward") and "eps" in step.forward_step.cached
    assert step.max_error() <= 1e-7          # would be O(1) if the replay drew fresh noise
    assert t.check() <= 1e-7


def test_random_layers_are_replayed_with_the_noise_of_the_pass():
    rng = np.random.default_rng(3)
    enc = Sequential([GaussianNoise(0.3, np.random.default_rng(5)),
                      Dense(6, 3, "sigmoid", rng=rng, dtype=np.float64)])
    dec = Sequential([Dense(3, 6, rng=rng, dtype=np.float64)])
    from numpyae import Autoencoder
    t = trace_backprop(Autoencoder(enc, dec, "mse"), _inputs(), check=True)
    noise = t.find("encoder.0", "forward")
    assert noise.formula.startswith("Additive noise") and "eps" in noise.cached
    # its input is data, so nobody backpropagates through it: no backward step of its own
    assert "encoder.0" not in {s.name for s in t.backward_steps}
    # the Dense after it is checked on the noisy input it actually saw (noise replayed)
    dense = t.find("encoder.1")
    np.testing.assert_allclose(dense.forward_step.inputs[0][1], noise.outputs[0][1])
    assert t.check() <= 1e-7


def test_a_bare_layer_can_be_traced():
    layer = Dense(5, 3, "sigmoid", rng=0)
    t = trace_backprop(layer, np.random.default_rng(0).standard_normal((4, 5)))
    assert [s.phase for s in t] == ["forward", "backward"]
    assert t.check() <= 1e-7
    seq = Sequential([Dense(5, 3, "tanh", rng=0), Dense(3, 2, rng=1)])
    t = trace_backprop(seq, np.random.default_rng(0).standard_normal((4, 5)))
    assert [s.name for s in t] == ["0", "1", "1", "0"]      # the container itself is not a step
    assert t.check() <= 1e-7


def test_float32_trace_without_copy_reports_unchecked():
    model = mlp_autoencoder([6, 3], activation="tanh", rng=0)
    t = trace_backprop(model, _inputs().astype(np.float32), copy=False)
    assert t.check() is None
    assert "not checked" in str(t.find("encoder.0"))


def test_rendering_and_stepping():
    t = trace_backprop(_tiny(), _inputs())
    text = str(t)
    assert "dW += x^T g" in text and "max rel err" in text and "loss terms" in text
    page = t._repr_html_()
    assert page.count("<tr>") == len(t) + 1 and "encoder.0" in page
    assert "<table" in t[3]._repr_html_()
    assert t.next() is t[0] and t.next() is t[1]
    assert t.show(-1) is t[len(t) - 1] and t.next() is t[0]
    with pytest.raises(IndexError, match="step index"):
        t.show(len(t))
    with pytest.raises(KeyError, match="no backward step"):
        t.find("nope")


def test_formula_attribute_overrides_the_docstring():
    class Scale(Layer):
        formula = {"forward": "y = 2 x", "backward": "dx = 2 dy"}

        def forward(self, x, *, training=True):
            return 2 * x

        def backward(self, dy, *, input_grad=True):
            return 2 * dy if input_grad else None

    assert formulas(Scale()) == ("y = 2 x", "dx = 2 dy")
    fwd, bwd = formulas(Dense(2, 2))
    assert "y = f(x W + b)" in fwd and "dW += x^T g" in bwd and "dW" not in fwd
    assert "g  = dy * f'(a) + da" in bwd


def test_bad_arguments():
    with pytest.raises(TypeError, match="model must be"):
        trace_backprop(object(), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="model must be one of"):
        build_traceable("no-such-model")


def test_cli_prints_a_trace(capsys):
    assert main(["trace", "--model", "autoencoder"]) == 0
    out = capsys.readouterr().out
    assert "backward encoder.0" in out and "agrees" in out
    assert main(["trace", "--model", "autoencoder", "--step", "5"]) == 0
    out = capsys.readouterr().out
    assert out.count("backward") == 1
    assert main(["trace", "--model", "nope"]) == 2
    assert main(["trace", "--list"]) == 0
    assert "autoencoder (tanh, bce)" in capsys.readouterr().out


class CodePenaltyAutoencoder(__import__("numpyae").Autoencoder):
    """Adds lam * mean_b ||a_b||^2 on the code layer's pre-activation; its gradient joins the chain
    rule as the code layer's backward(dy, da=...) keyword input, as the library's penalties do."""
    lam = 0.3
    drop_da = False     # a buggy code layer that ignores da: the step's own check must notice

    def forward_loss(self, x, y=None, *, training=True):
        terms = super().forward_loss(x, y, training=training)
        a = self.encoder[-1].a
        terms["penalty"] = self.lam * float(np.sum(a * a)) / len(a)
        terms["loss"] += terms["penalty"]
        return terms

    def backward(self):
        dh = self.decoder.backward(self.loss.backward())
        code = self.encoder[-1]
        dx = code.backward(dh, da=2 * self.lam * code.a / len(code.a))
        backward_through(self.encoder.layers[:-1], dx, input_grad=False)


class ForgetsDa(Dense):
    """A code layer whose backward ignores the penalty's da."""

    def backward(self, dy, *, input_grad=True, da=None):
        return super().backward(dy, input_grad=input_grad)


def _code_penalty_model(code_cls=Dense):
    rng = np.random.default_rng(0)
    enc = Sequential([Dense(6, 4, "tanh", rng=rng, dtype=np.float64),
                      code_cls(4, 3, "sigmoid", rng=rng, dtype=np.float64)])
    dec = Sequential([Dense(3, 6, rng=rng, dtype=np.float64)])
    return CodePenaltyAutoencoder(enc, dec, "bce")


def test_a_gradient_on_the_pre_activation_enters_the_code_layers_backward_step_as_da():
    """There is no separate backward_preactivation step: the penalty's da is the keyword input
    "da" of the code layer's one backward step, whose local check covers <y, dy> + <a, da>."""
    t = trace_backprop(_code_penalty_model(), _inputs(), check=True)
    step = t.find("encoder.1")
    assert [s.name for s in t.backward_steps].count("encoder.1") == 1
    inputs = dict(step.inputs)
    assert set(inputs) == {"dy", "da"} and inputs["da"].shape == (5, 3)
    assert step.input_grad is True
    assert set(step.grads) == {"encoder.1.W", "encoder.1.b"}
    # da really contributes to what the step added (so the check below is not vacuous) ...
    fwd = step.forward_step.cached
    without_da = fwd["x"].T @ (inputs["dy"] * fwd["y"] * (1 - fwd["y"]))
    np.testing.assert_allclose(step.grads["encoder.1.W"] - without_da, fwd["x"].T @ inputs["da"],
                               rtol=1e-10, atol=1e-14)
    assert np.abs(fwd["x"].T @ inputs["da"]).max() > 1e-3
    # ... and the step's local gradient check, which includes <a, da>, agrees
    assert step.max_error() <= 1e-7
    assert {c.name for c in step.gradient_check()} >= {"W", "b", "x"}
    assert t.unattributed == {}
    assert t.check() <= 1e-7
    # the layer below gets the gradient through x (its input is data: parameters only)
    assert t.find("encoder.0").input_grad is False


def test_a_code_layer_that_drops_da_is_flagged_at_its_own_step():
    t = trace_backprop(_code_penalty_model(ForgetsDa), _inputs(), check=True)
    errors = {s.name: s.max_error() for s in t.backward_steps}
    assert errors["encoder.1"] > 1e-3          # <a, da> is in the step's objective, not its grads
    assert all(e <= 1e-7 for name, e in errors.items() if name != "encoder.1")


def test_library_penalties_reach_the_code_layer_as_da():
    from numpyae import ContractiveAutoencoder
    model = ContractiveAutoencoder([6, 5, 4], lam=0.5, activation="tanh", tied=False, rng=0,
                                   dtype=np.float64)
    t = trace_backprop(model, _inputs(), check=True)
    code = t.find("encoder.1")
    assert "da" in dict(code.inputs)
    assert code.max_error() <= 1e-7 and t.check() <= 1e-7
    assert "da" not in dict(t.find("encoder.0").inputs)


class LearnedScale(Layer):
    """A loss wrapper with a parameter of its own:  L = exp(s) * inner(o, t).

    Backward:  ds += exp(s) * inner(o, t);   dL/do = exp(s) * d inner/do
    """

    def __init__(self, inner):
        from numpyae import Parameter
        self.inner, self.s = inner, Parameter(np.array([0.3]))

    def named_parameters(self):
        return [("s", self.s)]

    def forward(self, o, t):
        self.value = self.inner.forward(o, t)
        return float(np.exp(self.s.value[0]) * self.value)

    def backward(self):
        e = np.exp(self.s.value[0])
        self.s.grad += e * self.value
        return e * self.inner.backward()


def test_a_container_with_gradients_of_its_own_is_a_step():
    from numpyae import MSE, Autoencoder

    class ScaledAE(Autoencoder):
        def named_children(self):
            return super().named_children() + [("loss", self.loss)]

    rng = np.random.default_rng(0)
    model = ScaledAE(Sequential([Dense(6, 3, "tanh", rng=rng, dtype=np.float64)]),
                     Sequential([Dense(3, 6, rng=rng, dtype=np.float64)]), "mse")
    model.loss = LearnedScale(MSE())
    t = trace_backprop(model, _inputs(), check=True)
    outer = [s for s in t.backward_steps if s.name == "loss"]
    inner = [s for s in t.backward_steps if s.name == "loss.inner"]
    assert len(outer) == 1 and len(inner) == 1
    assert set(outer[0].grads) == {"loss.s"}
    assert t.unattributed == {}
    assert t.check() <= 1e-7


# ---- bad input is refused before any work ------------------------------------------------------

_X = np.random.default_rng(0).random((3, 6))


@pytest.mark.parametrize("X, exc, words", [
    ("abc", TypeError, "X must be a numeric array"),
    (np.zeros((0, 6)), ValueError, "X must not be empty"),
    (np.where(_X > 0.5, np.nan, _X), ValueError, "X contains NaN or inf"),
    (_X + 1j, TypeError, "X must hold real numbers"),
    (_X[:, :4], ValueError, "X must have 6 features"),
], ids=["string", "empty", "nan", "complex", "features"])
def test_trace_backprop_refuses_bad_X_with_a_clear_error(X, exc, words):
    """String or empty X crashed inside NumPy; NaN X traced NaNs; complex X lost its imaginary
    part silently."""
    with pytest.raises(exc, match=words):
        trace_backprop(_tiny(), X)


@pytest.mark.parametrize("model", [None, "model", 3, np.zeros(3)], ids=lambda v: type(v).__name__)
def test_trace_backprop_refuses_what_is_not_a_model_or_layer(model):
    with pytest.raises(TypeError, match="model must be a numpyae Model or Layer"):
        trace_backprop(model, _X)


def test_trace_backprop_refuses_bad_options():
    with pytest.raises(ValueError, match="y must be None: Autoencoder does not train on labels"):
        trace_backprop(_tiny(), _X, np.arange(3) % 2)
    with pytest.raises(TypeError, match="copy must be True or False"):
        trace_backprop(_tiny(), _X, copy="no")
    with pytest.raises(TypeError, match="check must be True or False"):
        trace_backprop(_tiny(), _X, check=1)
    with pytest.raises(TypeError, match="dtype must be float32 or float64"):
        trace_backprop(_tiny(), _X, dtype=np.int32)
    with pytest.raises(ValueError, match="x must have 6 features|X must have 6 features"):
        trace_backprop(Dense(6, 3), _X[:, :2])
    step = trace_backprop(_tiny(), _X).backward_steps[0]
    with pytest.raises(ValueError, match="h must be a finite number"):
        step.gradient_check(h=-1.0)
    with pytest.raises(ValueError, match="order must be 2 or 4"):
        step.gradient_check(order=3)


def test_trace_html_colours_its_verdicts_and_wraps_long_formulas():
    html = trace_backprop(_tiny(), _X, check=True)._repr_html_()
    assert "white-space:pre-wrap" in html and "max-width" in html
    badges = html.split('<span style="background:')[1:]
    assert badges and all(";color:#" in b.split(">")[0] for b in badges)
