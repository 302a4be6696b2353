"""Performance invariants of the nn building blocks -- activations, Dense, TiedDense,
Sequential, the layer Workspace, the BCE loss: what the speed work (fused and in-place code,
reused scratch buffers, skipped work) must not break. Correctness only; timings live in
benchmarks/.

* Fused / in-place code gives the same numbers as the textbook formulas (activation.chain,
  with or without an out= buffer, = dy * f'(a); Dense and TiedDense gradients; BCE on logits).
* No aliasing: arrays a layer returns, caches or receives (x, a, y, dx, dy, da) are never
  overwritten by a later call (other batch sizes, several forwards before one backward).
* Scratch buffers live in the layer's Workspace and never reach a caller.
* backward(dy, input_grad=False) (the input is data) fills the same parameter gradients as a
  full backward, computes no dx, and does not visit the parameterless layers below.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from numpyae import Dense, Sequential, TiedDense
from numpyae.nn.activations import ACTIVATIONS, get_activation, stable_sigmoid
from numpyae.nn.layers import Layer

ACTIVATION_NAMES = sorted(set(ACTIVATIONS) - {"linear"})


# ---- activations: the fused chain rule = textbook formula, nothing written in place --------

@pytest.mark.parametrize("use_out", [False, True], ids=["new-array", "out-buffer"])
@pytest.mark.parametrize("name", ACTIVATION_NAMES)
@settings(max_examples=50)
@given(data=st.data())
def test_activation_chain_matches_derivative_and_mutates_nothing(name, use_out, data):
    """act.chain(a, y, dy) = dy * f'(a), writing into nothing it was given; with out= (how a
    Dense layer calls it, into its workspace) the result is that buffer, wholly overwritten
    (the identity returns dy itself and leaves out alone)."""
    shape = data.draw(st.tuples(st.integers(1, 5), st.integers(1, 6)))
    floats = st.floats(-20, 20, allow_nan=False, allow_infinity=False)
    a = data.draw(arrays(np.float64, shape, elements=floats))
    dy = data.draw(arrays(np.float64, shape, elements=floats))
    act = get_activation(name)
    y = act(a)
    a0, y0, dy0 = a.copy(), y.copy(), dy.copy()
    out = np.full(shape, np.nan) if use_out else None
    da = act.chain(a, y, dy, out=out)
    np.testing.assert_allclose(da, dy * act.derivative(a, y), rtol=1e-12, atol=1e-300)
    assert da.dtype == a.dtype and da.shape == a.shape
    if use_out:
        assert da is (dy if name == "identity" else out)
    np.testing.assert_array_equal(a, a0)
    np.testing.assert_array_equal(y, y0)
    np.testing.assert_array_equal(dy, dy0)


def test_sigmoid_forward_is_the_logistic_function_for_both_signs():
    a = np.linspace(-40, 40, 2001)
    with np.errstate(all="raise"):
        y = get_activation("sigmoid")(a)
    np.testing.assert_allclose(y, stable_sigmoid(a), rtol=0, atol=4 * np.finfo(float).eps)
    np.testing.assert_allclose(y[np.abs(a) < 5], 1 / (1 + np.exp(-a[np.abs(a) < 5])), rtol=1e-14)
    y32 = get_activation("sigmoid")(a.astype(np.float32))
    assert y32.dtype == np.float32 and np.all((y32 >= 0) & (y32 <= 1))


# ---- layers: no aliasing of returned or cached arrays ---------------------------------------

def dense(activation="sigmoid", n_in=6, n_out=4, seed=0):
    return Dense(n_in, n_out, activation, rng=seed, dtype=np.float64)


@pytest.mark.parametrize("activation", ["identity", "relu", "sigmoid", "tanh"])
def test_dense_returned_outputs_survive_later_calls(activation):
    rng = np.random.default_rng(0)
    layer = dense(activation)
    x1, x2 = rng.normal(size=(5, 6)), rng.normal(size=(5, 6))
    y1 = layer.forward(x1)
    a1 = layer.a
    kept_y, kept_a, kept_x = y1.copy(), a1.copy(), x1.copy()
    dx1 = layer.backward(np.ones((5, 4)))
    kept_dx = dx1.copy()
    for training in (True, False):          # same shape, then other batch sizes
        layer.forward(x2, training=training)
        layer.backward(rng.normal(size=(5, 4)))
    layer.forward(rng.normal(size=(3, 6)))
    layer.backward(rng.normal(size=(3, 4)))
    np.testing.assert_array_equal(y1, kept_y)
    np.testing.assert_array_equal(a1, kept_a)
    np.testing.assert_array_equal(x1, kept_x)
    np.testing.assert_array_equal(dx1, kept_dx)


@pytest.mark.parametrize("activation", ["identity", "relu", "sigmoid", "tanh"])
def test_dense_backward_does_not_write_into_dy_da_or_its_caches(activation):
    """Every form of Dense.backward: plain, with a pre-activation gradient da (a penalty's;
    backward(0, da=g) is the old backward_preactivation(g)), and parameters-only."""
    rng = np.random.default_rng(1)
    layer = dense(activation)
    x = rng.normal(size=(5, 6))
    layer.forward(x)
    x0, a0, y0 = layer.x.copy(), layer.a.copy(), layer.y.copy()
    dy = rng.normal(size=(5, 4))
    dy0 = dy.copy()
    g = rng.normal(size=(5, 4))
    g0 = g.copy()
    layer.backward(dy)
    layer.backward(np.zeros_like(layer.y), da=dy)
    layer.backward(dy, da=g)
    layer.backward(dy, input_grad=False)
    layer.backward(dy, input_grad=False, da=g)
    for arr, ref in ((dy, dy0), (g, g0), (layer.x, x0), (layer.a, a0), (layer.y, y0)):
        np.testing.assert_array_equal(arr, ref)


def reference_grads(layer_factory, x, dy):
    """dW, db, dx of a fresh layer after one forward/backward, by the textbook formulas."""
    layer = layer_factory()
    a = x @ layer.W.value + layer.b.value
    da = dy * layer.activation.derivative(a, layer.activation(a))
    return x.T @ da, da.sum(axis=0), da @ layer.W.value.T


@pytest.mark.parametrize("activation", ["relu", "sigmoid", "tanh", "elu"])
def test_dense_batch_size_changes_and_repeated_forwards(activation):
    """One layer object used with several batch sizes, and several forwards before a
    backward: backward follows the LAST forward, and gradients add up across backwards."""
    rng = np.random.default_rng(2)
    layer = dense(activation)
    x_big, x_small = rng.normal(size=(7, 6)), rng.normal(size=(2, 6))
    dy_big, dy_small = rng.normal(size=(7, 4)), rng.normal(size=(2, 4))
    layer.forward(x_big)
    layer.forward(rng.normal(size=(3, 6)), training=False)
    layer.forward(x_small)                       # the one backward belongs to
    dx_small = layer.backward(dy_small)
    layer.forward(x_big)
    dx_big = layer.backward(dy_big)
    W1, b1, dx1 = reference_grads(lambda: dense(activation), x_small, dy_small)
    W2, b2, dx2 = reference_grads(lambda: dense(activation), x_big, dy_big)
    np.testing.assert_allclose(layer.W.grad, W1 + W2, rtol=1e-12)
    np.testing.assert_allclose(layer.b.grad, b1 + b2, rtol=1e-12)
    np.testing.assert_allclose(dx_small, dx1, rtol=1e-12)
    np.testing.assert_allclose(dx_big, dx2, rtol=1e-12)


def test_tied_dense_matches_formulas_and_keeps_outputs():
    rng = np.random.default_rng(3)
    enc = dense("tanh")
    dec = TiedDense(enc, "sigmoid")
    h = rng.normal(size=(5, 4))
    o = dec.forward(h)
    kept = o.copy()
    dy = rng.normal(size=(5, 6))
    dh = dec.backward(dy)
    a = h @ enc.W.value.T + dec.b.value
    da = dy * dec.activation.derivative(a, dec.activation(a))
    np.testing.assert_allclose(enc.W.grad, da.T @ h, rtol=1e-12)
    np.testing.assert_allclose(dh, da @ enc.W.value, rtol=1e-12)
    dec.forward(rng.normal(size=(3, 4)))
    np.testing.assert_array_equal(o, kept)


class Shift(Layer):
    """A parameterless layer (like an input corruption) to sit before the first Dense."""

    def forward(self, x, *, training=True):
        return x + 1.0

    def backward(self, dy, *, input_grad=True):
        return dy if input_grad else None


def spy_on_backward(layers, calls):
    """Record (position, input_grad) of every backward call of each layer into calls."""
    for i, layer in enumerate(layers):
        def spy(dy, *, input_grad=True, _i=i, _backward=layer.backward, **kw):
            calls.append((_i, input_grad))
            return _backward(dy, input_grad=input_grad, **kw)
        layer.backward = spy


@pytest.mark.parametrize("first", ["dense", "shift", "tied"])
def test_backward_without_input_grad_gives_the_parameter_gradients_of_backward(first):
    """backward(dy, input_grad=False) (was backward_parameters(dy)): the parameter gradients
    of a full backward, None returned, no dx computed by the lowest layer with parameters,
    and the parameterless layers below it not visited at all."""
    rng = np.random.default_rng(4)

    def build():
        d1, d2 = dense("tanh", 6, 5, seed=1), dense("sigmoid", 5, 3, seed=2)
        layers = [d1, d2]
        if first == "shift":
            layers = [Shift()] + layers
        if first == "tied":
            layers = [d1, d2, TiedDense(d2, "relu")]
        return Sequential(layers)

    x = rng.normal(size=(4, 6))
    full, part = build(), build()
    dy = rng.normal(size=full.forward(x).shape)
    full.backward(dy)
    part.forward(x)
    calls = []
    spy_on_backward(part.layers, calls)
    assert part.backward(dy, input_grad=False) is None
    for (name, p), (_, q) in zip(full.named_parameters(), part.named_parameters()):
        np.testing.assert_allclose(q.grad, p.grad, rtol=1e-12, err_msg=name)
    lowest = 1 if first == "shift" else 0          # the first Dense; its input is data
    n = len(part.layers)
    assert calls == [(i, i != lowest) for i in range(n - 1, lowest - 1, -1)]


# ---- the workspace --------------------------------------------------------------------------

def test_workspace_reuses_only_for_the_same_shape_and_dtype():
    from numpyae.nn.layers import Workspace
    w = Workspace()
    a = w.get("da", (4, 3), np.float32)
    assert w.get("da", (4, 3), np.float32) is a
    b = w.get("da", (2, 3), np.float32)                 # another batch size: a new array
    assert b is not a and b.shape == (2, 3)
    c = w.get("da", (2, 3), np.float64)
    assert c is not b and c.dtype == np.float64
    assert w.get("other", (2, 3), np.float64) is not c
    ones = w.get("ones", (5,), np.float32, fill=1)
    ones_again = w.get("ones", (5,), np.float32, fill=1)
    assert ones_again is ones and np.all(ones == 1)
    assert np.all(w.get("ones", (7,), np.float32, fill=1) == 1)     # refilled when reallocated


@pytest.mark.parametrize("activation", ["relu", "sigmoid", "tanh", "softplus"])
def test_dense_da_buffer_never_reaches_the_caller(activation):
    """da lives in the layer's workspace; nothing the caller receives may share its memory."""
    rng = np.random.default_rng(9)
    layer = Dense(6, 4, activation, rng=0, dtype=np.float32)
    x = rng.normal(size=(5, 6)).astype(np.float32)
    outs = [layer.forward(x), layer.a]
    dxs = [layer.backward(rng.normal(size=(5, 4)).astype(np.float32)) for _ in range(2)]
    dxs.append(layer.backward(rng.normal(size=(5, 4)).astype(np.float32),
                              da=rng.normal(size=(5, 4)).astype(np.float32)))
    da = layer._work.get("da", (5, 4), np.float32)
    for arr in outs + dxs + [layer.W.grad, layer.b.grad, layer.x]:
        assert not np.shares_memory(arr, da)
    assert not any(np.shares_memory(p, q) for i, p in enumerate(dxs) for q in dxs[i + 1:])


def test_dense_refuses_a_dy_of_the_wrong_shape():
    layer = dense("sigmoid")
    layer.forward(np.zeros((5, 6)))
    with pytest.raises(ValueError, match=r"dy must have the layer output's shape \(5, 4\)"):
        layer.backward(np.zeros((5, 1)))


def test_float64_dy_into_a_float32_layer_is_not_silently_rounded_in_da():
    layer = Dense(3, 2, "sigmoid", rng=0, dtype=np.float32)
    x = np.ones((2, 3), np.float32)
    layer.forward(x)
    dy = np.full((2, 2), 1 + 1e-12)
    dx = layer.backward(dy)
    assert dx.dtype == np.float64


# ---- fast losses = textbook losses ------------------------------------------------------------

@pytest.mark.parametrize("reduction", ["mean", "sum"])
@settings(max_examples=50)
@given(data=st.data())
def test_bce_fast_form_equals_logaddexp_form(reduction, data):
    from numpyae.nn.losses import BinaryCrossEntropy
    shape = data.draw(st.tuples(st.integers(1, 6), st.integers(1, 7)))
    z = data.draw(arrays(np.float64, shape, elements=st.floats(-500, 500, allow_nan=False)))
    t = data.draw(arrays(np.float64, shape, elements=st.floats(0, 1)))
    loss = BinaryCrossEntropy(reduction)
    value, grad = loss.forward(z, t), loss.backward()
    c = 1 / (shape[0] * (shape[1] if reduction == "mean" else 1))
    ref = c * (np.logaddexp(0, z) - t * z).sum()
    scale = c * (np.abs(np.logaddexp(0, z)) + np.abs(t * z)).sum()   # cancellation allowance
    assert abs(value - ref) <= 1e-12 * scale + 1e-300
    np.testing.assert_allclose(grad, c * (stable_sigmoid(z) - t), rtol=1e-12, atol=1e-300)
