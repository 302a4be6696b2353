import numpy as np
import pytest

from numpyae import Dense, Sequential, mlp_autoencoder
from numpyae.teaching.cases import GRADCHECK_CASES
from numpyae.apps.cli import main
from numpyae.nn.layers import Layer
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
    # the first layer's input is data: Sequential asks it for parameter gradients only, no dx
    assert enc0.method == "backward_parameters" and "no dx" in enc0.header()
    assert all(v is None for _, v in enc0.outputs)
    enc1 = t.find("encoder.1")
    assert enc1.method == "backward" and enc1.outputs[0][1].shape == (5, 4)      # dx
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

    def backward(self, dy):
        return self.backward_preactivation(dy)


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

    def backward(self, dy):
        return dy


class MultiplicativeNoise(Layer):
    """y = x * (1 + sigma * eps),  eps ~ N(0, I) drawn in forward.

    Backward:  dx = dy * (1 + sigma * eps)   (needs the eps of the forward pass)
    """

    def __init__(self, sigma, rng):
        self.sigma, self.rng = sigma, rng

    def forward(self, x, *, training=True):
        self.eps = self.rng.standard_normal(x.shape)
        return x * (1 + self.sigma * self.eps)

    def backward(self, dy):
        return dy * (1 + self.sigma * self.eps)


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
    assert "dW += x^T da" in text and "max rel err" in text and "loss terms" in text
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

        def backward(self, dy):
            return 2 * dy

    assert formulas(Scale()) == ("y = 2 x", "dx = 2 dy")
    fwd, bwd = formulas(Dense(2, 2))
    assert "y = f(x W + b)" in fwd and "dW += x^T da" in bwd and "dW" not in fwd


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
    rule through the code layer's backward_preactivation, as the library's penalties do."""
    lam = 0.3

    def forward_loss(self, x, y=None, *, training=True):
        terms = super().forward_loss(x, y, training=training)
        a = self.encoder[-1].a
        terms["penalty"] = self.lam * float(np.sum(a * a)) / len(a)
        terms["loss"] += terms["penalty"]
        return terms

    def loss_and_grad(self, x, y=None):
        self.zero_grad()
        terms = self.forward_loss(x, y)
        dh = self.decoder.backward(self.loss.backward())
        code = self.encoder[-1]
        da = dh * code.activation.derivative(code.a, code.y) + 2 * self.lam * code.a / len(code.a)
        dx = code.backward_preactivation(da)
        for layer in reversed(self.encoder.layers[:-1]):
            dx = layer.backward(dx)
        return terms


def test_a_gradient_entering_through_backward_preactivation_is_its_own_checked_step():
    rng = np.random.default_rng(0)
    enc = Sequential([Dense(6, 4, "tanh", rng=rng, dtype=np.float64),
                      Dense(4, 3, "sigmoid", rng=rng, dtype=np.float64)])
    dec = Sequential([Dense(3, 6, rng=rng, dtype=np.float64)])
    model = CodePenaltyAutoencoder(enc, dec, "bce")
    t = trace_backprop(model, _inputs(), check=True)
    step = t.find("encoder.1")
    assert step.method == "backward_preactivation" and "backward_preactivation" in step.header()
    assert set(step.grads) == {"encoder.1.W", "encoder.1.b"}
    assert t.unattributed == {}
    assert t.check() <= 1e-7
    # Dense.backward's own call to backward_preactivation is not a separate step
    assert [s.method for s in t.backward_steps if s.name == "encoder.0"] == ["backward"]


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
