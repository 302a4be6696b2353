import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from numpyae import Dense, Sequential, TiedDense, check_layer
from numpyae.nn.layers import input_dim, output_dim

from helpers import arrays, away_from_zero

SMOOTH = ["identity", "sigmoid", "tanh", "softplus"]


@settings(max_examples=40)
@given(data=st.data(), n_in=st.integers(1, 5), n_out=st.integers(1, 5), batch=st.integers(1, 4),
       act=st.sampled_from(SMOOTH), seed=st.integers(0, 2**16))
def test_dense_gradients(data, n_in, n_out, batch, act, seed):
    x = data.draw(arrays((batch, n_in), -2, 2))
    layer = Dense(n_in, n_out, act, rng=seed)
    report = check_layer(layer, x, seed=seed)
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
    report = check_layer(layer, x, seed=seed)
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
    report = check_layer(net, x, seed=seed)
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


@pytest.mark.parametrize("init, expected_std", [("he_normal", np.sqrt(2 / 400)),
                                                 ("lecun_normal", np.sqrt(1 / 400)),
                                                 ("glorot_normal", np.sqrt(2 / 600)),
                                                 ("glorot_uniform", np.sqrt(6 / 600) / np.sqrt(3)),
                                                 ("he_uniform", np.sqrt(6 / 400) / np.sqrt(3))])
def test_initializer_scales(init, expected_std):
    W = Dense(400, 200, init=init, rng=0).W.value
    assert W.dtype == np.float32
    assert abs(W.std() / expected_std - 1) < 0.02
    assert abs(W.mean()) < 0.01 * expected_std * 10


def test_initializers_are_reproducible_from_the_seed():
    a = Dense(5, 4, rng=7).W.value
    b = Dense(5, 4, rng=7).W.value
    c = Dense(5, 4, rng=8).W.value
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_default_init_follows_the_activation():
    assert Dense(3, 3, "relu").init == "he_normal"
    assert Dense(3, 3, "tanh").init == "glorot_uniform"
    assert np.all(Dense(3, 3, init="zeros").W.value == 0)
