"""Layers (numpyae.nn.layers): Dense, TiedDense, Sequential, TopK; their gradients, the
backward protocol (input_grad, da), shapes and argument checks."""
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from numpyae import Dense, MaskingNoise, Sequential, TiedDense, TopK, check_gradient, check_layer
from numpyae.nn.layers import Layer, backward_through, flatten, input_dim, output_dim

from helpers import arrays

SMOOTH = ["identity", "sigmoid", "tanh", "softplus"]


@settings(max_examples=40)
@given(data=st.data(), n_in=st.integers(1, 5), n_out=st.integers(1, 5), batch=st.integers(1, 4),
       act=st.sampled_from(SMOOTH), seed=st.integers(0, 2**16))
def test_dense_gradients(data, n_in, n_out, batch, act, seed):
    x = data.draw(arrays((batch, n_in), -2, 2))
    layer = Dense(n_in, n_out, act, rng=seed)
    report = check_layer(layer, x, rng=seed)
    assert report.max_error <= 1e-7, str(report)


@settings(max_examples=30)
@given(data=st.data(), batch=st.integers(1, 4), seed=st.integers(0, 2**16),
       act=st.sampled_from(["relu", "leaky_relu", "elu"]))
def test_dense_relu_gradients_away_from_the_kink(data, batch, seed, act):
    """elu's f'' jumps at 0, which spoils the stencil's error bound there, so it is here too.
    Draws whose pre-activations come within 0.05 of the kink are discarded (the checker's
    fourth-order stencil reaches 2h = 2e-4 either side), so finite differences never cross it."""
    layer = Dense(3, 4, act, rng=seed, dtype=np.float64)
    x = data.draw(arrays((batch, 3), -2, 2))
    assume(np.all(np.abs(x @ layer.W.value + layer.b.value) > 0.05))
    report = check_layer(layer, x, rng=seed)
    assert report.max_error <= 1e-7, str(report)


def test_dense_backward_shapes_and_accumulation():
    rng = np.random.default_rng(0)
    layer = Dense(5, 3, "tanh", rng=0, dtype=np.float64)
    x = rng.normal(size=(4, 5))
    dy = rng.normal(size=(4, 3))
    layer.forward(x)
    dx = layer.backward(dy)
    assert dx.shape == x.shape
    g1 = layer.W.grad.copy()
    layer.forward(x)
    layer.backward(dy)
    np.testing.assert_allclose(layer.W.grad, 2 * g1)  # backward adds, it does not overwrite


def test_backward_twice_on_same_input_is_identical():
    rng = np.random.default_rng(1)
    layer = Dense(5, 3, "sigmoid", rng=0, dtype=np.float64)
    x, dy = rng.normal(size=(4, 5)), rng.normal(size=(4, 3))
    outs = []
    for _ in range(2):
        layer.W.zero_grad(), layer.b.zero_grad()
        layer.forward(x)
        dx = layer.backward(dy)
        outs.append((dx.copy(), layer.W.grad.copy(), layer.b.grad.copy()))
    for a, b in zip(*outs):
        assert np.array_equal(a, b)


@settings(max_examples=25)
@given(seed=st.integers(0, 2**16), batch=st.integers(1, 4))
def test_sequential_and_tied_gradients(seed, batch):
    rng = np.random.default_rng(seed)
    enc = Dense(5, 3, "tanh", rng=rng)
    net = Sequential([enc, TiedDense(enc, "softplus")])
    x = rng.normal(size=(batch, 5))
    report = check_layer(net, x, rng=seed)
    assert [r.name for r in report.rows] == ["0.W", "0.b", "1.b", "input"]
    assert report.max_error <= 1e-7, str(report)


def test_tied_layer_shares_the_parameter_and_sums_both_gradients():
    rng = np.random.default_rng(0)
    enc = Dense(4, 2, "identity", rng=0, dtype=np.float64)
    dec = TiedDense(enc)
    assert dec.W is enc.W
    x = rng.normal(size=(3, 4))
    dy = rng.normal(size=(3, 4))
    h = enc.forward(x)
    dec.forward(h)
    dh = dec.backward(dy)
    decoder_part = enc.W.grad.copy()
    enc.backward(dh)
    encoder_part = enc.W.grad - decoder_part
    np.testing.assert_allclose(decoder_part, (dy.T @ h))
    np.testing.assert_allclose(encoder_part, x.T @ dh)


def test_dense_rejects_wrong_feature_count():
    layer = Dense(4, 2)
    with pytest.raises(ValueError, match=r"\(batch, 4\).*\(3, 5\)"):
        layer.forward(np.zeros((3, 5), np.float32))


@pytest.mark.parametrize("kwargs, exc, text", [
    ({"n_in": 0, "n_out": 2}, ValueError, "n_in"),
    ({"n_in": 2.5, "n_out": 2}, TypeError, "n_in"),
    ({"n_in": 2, "n_out": -1}, ValueError, "n_out"),
    ({"n_in": 2, "n_out": 2, "activation": "nope"}, ValueError, "activation"),
    ({"n_in": 2, "n_out": 2, "init": "nope"}, ValueError, "init"),
    ({"n_in": 2, "n_out": 2, "dtype": np.int32}, TypeError, "dtype"),
    ({"n_in": 2, "n_out": 2, "rng": "seed"}, TypeError, "rng"),
])
def test_dense_constructor_errors(kwargs, exc, text):
    with pytest.raises(exc, match=text):
        Dense(**kwargs)


def test_sequential_rejects_non_layers():
    with pytest.raises(TypeError, match=r"layers\[1\]"):
        Sequential([Dense(2, 2), "relu"])


def test_tied_dense_needs_a_dense_source():
    with pytest.raises(TypeError, match="source"):
        TiedDense(Sequential([]))


def test_input_and_output_dims_of_nested_stacks():
    net = Sequential([Sequential([Dense(6, 4), Dense(4, 3)]), Dense(3, 2)])
    assert input_dim(net) == 6 and output_dim(net) == 2


# ---- backward(dy, input_grad=False): a stack whose input is data ------------------------------

def _grads(net):
    return [p.grad.copy() for p in net.parameters()]


@pytest.mark.parametrize("tied", [False, True])
def test_sequential_backward_without_input_grad_fills_the_same_gradients(tied):
    rng = np.random.default_rng(0)
    enc = Dense(5, 4, "tanh", rng=0, dtype=np.float64)
    mid = Dense(4, 3, "sigmoid", rng=1, dtype=np.float64)
    top = TiedDense(mid, "softplus") if tied else Dense(3, 4, "softplus", rng=2, dtype=np.float64)
    net = Sequential([enc, mid, top])
    x, dy = rng.normal(size=(6, 5)), rng.normal(size=(6, 4))
    results = {}
    for input_grad in (True, False):
        for p in net.parameters():
            p.zero_grad()
        net.forward(x)
        results[input_grad] = (net.backward(dy.copy(), input_grad=input_grad), _grads(net))
    dx, with_dx = results[True]
    none, without_dx = results[False]
    assert dx.shape == x.shape and none is None
    assert len(with_dx) == len(without_dx) == (5 if tied else 6)
    for a, b in zip(with_dx, without_dx):
        assert np.array_equal(a, b)        # bit-identical: the same arithmetic, minus dx
    # a single layer, too
    for layer in (Dense(3, 2, "tanh", rng=0), TopK(2), MaskingNoise(0.3, rng=0)):
        layer.forward(rng.normal(size=(4, 3)).astype(np.float32))
        out = layer.backward(np.ones((4, 2 if isinstance(layer, Dense) else 3), np.float32),
                             input_grad=False)
        assert out is None


class _Spy(Layer):
    """A parameter-free layer that records whether its backward was called."""

    def __init__(self):
        self.calls = []

    def forward(self, x, *, training=True):
        return x

    def backward(self, dy, *, input_grad=True):
        self.calls.append(input_grad)
        return dy if input_grad else None


def test_backward_through_stops_at_the_lowest_layer_with_parameters():
    rng = np.random.default_rng(0)
    below, between = _Spy(), _Spy()
    layers = [below, Dense(4, 3, "tanh", rng=0, dtype=np.float64), between,
              Dense(3, 2, rng=1, dtype=np.float64)]
    x = rng.normal(size=(5, 4))
    for layer in layers:
        x = layer.forward(x)
    assert backward_through(layers, rng.normal(size=(5, 2)), input_grad=False) is None
    assert below.calls == []            # below the first Dense: the input is data, never visited
    assert between.calls == [True]      # between two Dense layers the gradient must flow
    assert backward_through([_Spy()], np.ones((2, 2)), input_grad=False) is None  # no parameters
    dx = backward_through(layers, np.ones((5, 2)))
    assert dx.shape == (5, 4) and below.calls == [True]


def test_flatten_gives_the_leaf_layers_in_forward_order():
    a, b, c = Dense(6, 4), Dense(4, 3), Dense(3, 2)
    assert flatten(Sequential([Sequential([a, b]), c])) == [a, b, c]
    assert flatten(a) == [a]


# ---- Dense.backward(dy, da=...): an extra gradient on the pre-activation -----------------------

@pytest.mark.parametrize("act", ["identity", "tanh", "sigmoid"])
def test_dense_backward_adds_da_after_the_activation_chain_rule(act):
    """backward(dy, da=g) owes the gradient of <y, dy> + <a, g>: g joins dL/da = dy f'(a) + g."""
    rng = np.random.default_rng(3)
    layer = Dense(4, 3, act, rng=0, dtype=np.float64)
    x, dy, g = rng.normal(size=(5, 4)), rng.normal(size=(5, 3)), rng.normal(size=(5, 3))
    layer.forward(x)
    dx = layer.backward(dy, da=g)

    def objective():
        y = layer.forward(x)
        return float(np.vdot(y, dy) + np.vdot(layer.a, g))

    assert check_gradient(objective, layer.W.value, layer.W.grad.copy(), name="W").max_error <= 1e-7
    assert check_gradient(objective, layer.b.value, layer.b.grad.copy(), name="b").max_error <= 1e-7
    assert check_gradient(objective, x, dx, name="x").max_error <= 1e-7
    # the old backward_preactivation(g): a gradient that enters at a alone
    only = Dense(4, 3, act, rng=0, dtype=np.float64)
    only.forward(x)
    dx_only = only.backward(np.zeros_like(only.y), da=g)
    np.testing.assert_allclose(only.W.grad, x.T @ g, rtol=1e-12)
    np.testing.assert_allclose(only.b.grad, g.sum(axis=0), rtol=1e-12)
    np.testing.assert_allclose(dx_only, g @ only.W.value.T, rtol=1e-12)
    only.forward(x)
    assert only.backward(np.zeros_like(only.y), input_grad=False, da=g) is None


# ---- TopK: the k-sparse code layer ------------------------------------------------------------

def test_topk_layer_gradcheck_away_from_ties():
    x = np.array([[0.9, -0.2, 0.5, 0.1, -0.7], [0.0, 0.8, -0.4, 0.6, 0.3]])
    report = check_layer(TopK(2), x)
    assert report.max_error <= 1e-7, str(report)


def test_topk_keeps_exactly_k_largest():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((50, 12)).astype(np.float32)
    layer = TopK(4)
    y = layer.forward(x)
    assert y.dtype == np.float32
    assert np.all(np.count_nonzero(y, axis=1) == 4)
    kth = np.sort(x, axis=1)[:, -4]
    assert np.all((y != 0) == (x >= kth[:, None]))
    dy = rng.standard_normal(x.shape).astype(np.float32)
    assert np.array_equal(layer.backward(dy), np.where(y != 0, dy, 0))
    with pytest.raises(ValueError, match="k must be <="):
        TopK(13).forward(x)


# ---- kink_state / kink_margin: for the gradient checker only -----------------------------------

def test_dense_and_tied_dense_kink_state_is_the_side_of_the_activations_kink():
    layer = Dense(3, 2, "relu", rng=0, dtype=np.float64)
    assert layer.kink_state() == {} and layer.kink_margin() == {}          # before any forward
    x = np.array([[1.0, -2.0, 0.5], [0.0, 0.0, 0.0]])
    layer.forward(x)
    state, margin = layer.kink_state(), layer.kink_margin()
    assert list(state) == ["relu at a = 0"] == list(margin)
    np.testing.assert_array_equal(state["relu at a = 0"], layer.a > 0)
    np.testing.assert_array_equal(margin["relu at a = 0"], np.abs(layer.a))
    tied = TiedDense(layer, "leaky_relu")
    tied.forward(layer.y)
    assert list(tied.kink_state()) == ["leaky_relu at a = 0"]
    smooth = Dense(3, 2, "sigmoid", rng=0)
    smooth.forward(x.astype(np.float32))
    assert smooth.kink_state() == {} and smooth.kink_margin() == {}


def test_topk_kink_state_is_its_mask_and_the_margin_its_distance_to_a_switch():
    layer = TopK(2)
    assert layer.kink_state() == {} and layer.kink_margin() == {}
    x = np.array([[0.9, -0.2, 0.5, 0.1], [0.3, 0.3, 0.8, -1.0]])
    layer.forward(x)
    np.testing.assert_array_equal(layer.kink_state()["top-2 selection"], layer.mask)
    margin = layer.kink_margin()["top-2 selection"]
    # row 0 keeps 0.9, 0.5; the largest dropped is 0.1, the smallest kept 0.5
    np.testing.assert_allclose(margin[0], [0.8, 0.7, 0.4, 0.4])
    assert margin[1].min() == 0.0                            # a tie for the 2nd place
    keep_all = TopK(4)                                       # nothing dropped: no switch
    keep_all.forward(x)
    assert np.all(np.isinf(keep_all.kink_margin()["top-4 selection"]))


@settings(max_examples=30)
@given(data=st.data(), batch=st.integers(1, 4), seed=st.integers(0, 2**16),
       act=st.sampled_from(["relu", "leaky_relu", "elu"]))
def test_dense_piecewise_gradients_never_fail_even_at_the_kink(data, batch, seed, act):
    """Any input, exact zeros included (a = b = 0 on the kink): entries whose stencil crosses
    the kink are not comparable, every other one agrees to 1e-7."""
    layer = Dense(3, 4, act, rng=seed, dtype=np.float64)
    x = data.draw(arrays((batch, 3), -2, 2))
    report = check_layer(layer, x, rng=seed)
    assert report.passed(), str(report)


@pytest.mark.parametrize("init", [0, "", False])
def test_dense_refuses_a_falsy_init_instead_of_taking_the_default(init):
    with pytest.raises(ValueError, match="init must be one of"):
        Dense(5, 5, "relu", init=init, rng=0)
    assert Dense(5, 5, "relu", init=None, rng=0).init == "he_normal"
