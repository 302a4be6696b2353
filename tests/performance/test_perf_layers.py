"""What the speed work must not break (correctness only; timings live in benchmarks/).

* A float32 training step creates no float64 array (an ndarray subclass records the dtype of
  every array derived from the data and the parameters).
* No aliasing: arrays a layer or model returns, caches or receives are never overwritten by a
  later call (different batch sizes, several forwards before one backward, inference after
  training), and fused/in-place code gives the same numbers as the textbook formulas.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import numpyae
from numpyae import SGD, Adam, AdamW, Dense, Sequential, TiedDense, fit, mlp_autoencoder
from numpyae.nn.activations import ACTIVATIONS, get_activation, stable_sigmoid
from numpyae.nn.layers import Layer
from numpyae.core.checks import all_finite

ACTIVATION_NAMES = sorted(set(ACTIVATIONS) - {"linear"})


# ---- float32 stays float32 ----------------------------------------------------------------

class DtypeRecorder(np.ndarray):
    """Every array created from a DtypeRecorder (ufunc results, matmuls, views, reductions,
    zeros_like copies) is one too, and NumPy calls __array_finalize__ for each: log its dtype."""
    seen = []

    def __array_finalize__(self, obj):
        DtypeRecorder.seen.append(self.dtype)


def instrument(model):
    for p in model.parameters():
        p.value = p.value.view(DtypeRecorder)
        p.grad = p.grad.view(DtypeRecorder)


def float_dtypes_seen():
    return {dt for dt in DtypeRecorder.seen if dt.kind == "f"}


def test_recorder_sees_an_upcast():
    """The instrument itself works: a float64 scalar times a float32 array is caught."""
    DtypeRecorder.seen = []
    x = np.ones(3, dtype=np.float32).view(DtypeRecorder)
    _ = x * np.float64(2.0)
    assert np.dtype(np.float64) in float_dtypes_seen()
    DtypeRecorder.seen = []
    _ = (x * 2.0 + 1) @ x
    assert float_dtypes_seen() == {np.dtype(np.float32)}


@pytest.mark.parametrize("activation", ACTIVATION_NAMES)
@pytest.mark.parametrize("loss", ["mse", "bce"])
def test_float32_training_step_creates_no_float64(activation, loss):
    rng = np.random.default_rng(0)
    model = mlp_autoencoder([12, 8, 4], activation=activation, code_activation=activation,
                            loss=loss, rng=0)
    instrument(model)
    X = rng.random((40, 12), dtype=np.float32).view(DtypeRecorder)
    DtypeRecorder.seen = []
    fit(model, X, Adam(model.parameters(), lr=1e-3), epochs=2, batch_size=16, seed=0,
        progress=False)
    assert float_dtypes_seen() == {np.dtype(np.float32)}
    assert all(p.value.dtype == np.float32 for p in model.parameters())


def _regularized_and_generative_models():
    from numpyae.models import (ContractiveAutoencoder, DenoisingAutoencoder, SparseAutoencoder,
                                mlp_cvae, mlp_vae)
    return {
        "contractive": lambda: ContractiveAutoencoder((12, 5), lam=0.1, rng=0),
        "denoising": lambda: DenoisingAutoencoder((12, 5), rng=0),
        "sparse-kl": lambda: SparseAutoencoder((12, 5), rng=0),
        "sparse-topk": lambda: SparseAutoencoder((12, 5), penalty="topk", rng=0),
        "vae": lambda: mlp_vae([12, 8, 3], seed=0),
        "cvae": lambda: mlp_cvae([12, 8, 3], 4, seed=0),
    }


@pytest.mark.parametrize("name", ["contractive", "denoising", "sparse-kl", "sparse-topk", "vae",
                                  "cvae"])
def test_float32_steps_of_the_other_models_create_no_float64(name):
    model = _regularized_and_generative_models()[name]()
    instrument(model)
    rng = np.random.default_rng(2)
    X = rng.random((24, 12), dtype=np.float32).view(DtypeRecorder)
    y = rng.integers(0, 4, size=24) if model.needs_labels else None
    DtypeRecorder.seen = []
    fit(model, X, Adam(model.parameters(), lr=1e-3), y=y, epochs=2, batch_size=8, seed=2,
        progress=False)
    assert float_dtypes_seen() == {np.dtype(np.float32)}


@pytest.mark.parametrize("make_opt", [
    lambda ps: Adam(ps, lr=1e-3, weight_decay=1e-4),
    lambda ps: AdamW(ps, lr=1e-3),
    lambda ps: SGD(ps, lr=0.01, momentum=0.9, nesterov=True, weight_decay=1e-4),
], ids=["adam-l2", "adamw", "sgd-nesterov"])
def test_float32_optimizers_create_no_float64(make_opt):
    model = mlp_autoencoder([10, 6], activation="tanh", loss="mse", tied=True, rng=1)
    instrument(model)
    X = np.random.default_rng(1).random((20, 10), dtype=np.float32).view(DtypeRecorder)
    DtypeRecorder.seen = []
    fit(model, X, make_opt(model.parameters()), epochs=2, batch_size=8, seed=1, progress=False)
    assert float_dtypes_seen() == {np.dtype(np.float32)}


# ---- activations: fused backward = textbook formula, nothing written in place --------------

@pytest.mark.parametrize("name", ACTIVATION_NAMES)
@settings(max_examples=50)
@given(data=st.data())
def test_activation_backward_matches_derivative_and_mutates_nothing(name, data):
    shape = data.draw(st.tuples(st.integers(1, 5), st.integers(1, 6)))
    floats = st.floats(-20, 20, allow_nan=False, allow_infinity=False)
    a = data.draw(arrays(np.float64, shape, elements=floats))
    dy = data.draw(arrays(np.float64, shape, elements=floats))
    act = get_activation(name)
    y = act.forward(a)
    a0, y0, dy0 = a.copy(), y.copy(), dy.copy()
    da = act.backward(a, y, dy)
    np.testing.assert_allclose(da, dy * act.derivative(a, y), rtol=1e-12, atol=1e-300)
    assert da.dtype == a.dtype and da.shape == a.shape
    np.testing.assert_array_equal(a, a0)
    np.testing.assert_array_equal(y, y0)
    np.testing.assert_array_equal(dy, dy0)


def test_sigmoid_forward_is_the_logistic_function_for_both_signs():
    a = np.linspace(-40, 40, 2001)
    with np.errstate(all="raise"):
        y = get_activation("sigmoid").forward(a)
    np.testing.assert_allclose(y, stable_sigmoid(a), rtol=0, atol=4 * np.finfo(float).eps)
    np.testing.assert_allclose(y[np.abs(a) < 5], 1 / (1 + np.exp(-a[np.abs(a) < 5])), rtol=1e-14)
    y32 = get_activation("sigmoid").forward(a.astype(np.float32))
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
def test_dense_backward_does_not_write_into_dy_or_its_caches(activation):
    rng = np.random.default_rng(1)
    layer = dense(activation)
    x = rng.normal(size=(5, 6))
    layer.forward(x)
    x0, a0, y0 = layer.x.copy(), layer.a.copy(), layer.y.copy()
    dy = rng.normal(size=(5, 4))
    dy0 = dy.copy()
    layer.backward(dy)
    layer.backward_preactivation(dy)
    layer.backward_parameters(dy)
    for arr, ref in ((dy, dy0), (layer.x, x0), (layer.a, a0), (layer.y, y0)):
        np.testing.assert_array_equal(arr, ref)


def reference_grads(layer_factory, x, dy):
    """dW, db, dx of a fresh layer after one forward/backward, by the textbook formulas."""
    layer = layer_factory()
    a = x @ layer.W.value + layer.b.value
    da = dy * layer.activation.derivative(a, layer.activation.forward(a))
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
    da = dy * dec.activation.derivative(a, dec.activation.forward(a))
    np.testing.assert_allclose(enc.W.grad, da.T @ h, rtol=1e-12)
    np.testing.assert_allclose(dh, da @ enc.W.value, rtol=1e-12)
    dec.forward(rng.normal(size=(3, 4)))
    np.testing.assert_array_equal(o, kept)


class Shift(Layer):
    """A parameterless layer (like an input corruption) to sit before the first Dense."""

    def forward(self, x, *, training=True):
        return x + 1.0

    def backward(self, dy):
        return dy


@pytest.mark.parametrize("first", ["dense", "shift", "tied"])
def test_backward_parameters_gives_the_parameter_gradients_of_backward(first):
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
    assert part.backward_parameters(dy) is None
    for (name, p), (_, q) in zip(full.named_parameters(), part.named_parameters()):
        np.testing.assert_allclose(q.grad, p.grad, rtol=1e-12, err_msg=name)


def test_model_reconstructions_are_not_overwritten_by_later_calls():
    rng = np.random.default_rng(5)
    model = mlp_autoencoder([8, 5, 3], activation="relu", loss="mse", rng=0)
    X1, X2 = rng.random((6, 8), dtype=np.float32), rng.random((4, 8), dtype=np.float32)
    r1, h1 = model.reconstruct(X1), model.encode(X1)
    kept_r, kept_h = r1.copy(), h1.copy()
    model.reconstruct(X2)
    model.encode(X1[:2])
    model.train_step(X1, None, Adam(model.parameters(), lr=1e-3))
    np.testing.assert_array_equal(r1, kept_r)
    np.testing.assert_array_equal(h1, kept_h)
    np.testing.assert_array_equal(X1, np.asarray(X1))  # inputs untouched
    assert not np.shares_memory(model.reconstruct(X1), r1)


# ---- the in-place optimizers = the textbook updates ----------------------------------------

def textbook_adam(w, grads, lr, b1, b2, eps, wd, decoupled):
    m, v = np.zeros_like(w), np.zeros_like(w)
    for t, g in enumerate(grads, start=1):
        if decoupled:
            w = w - lr * wd * w
        else:
            g = g + wd * w
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        w = w - lr * (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps)
    return w


@pytest.mark.parametrize("cls,wd", [(Adam, 0.0), (Adam, 0.1), (AdamW, 0.1)])
def test_in_place_adam_matches_the_textbook_update(cls, wd):
    rng = np.random.default_rng(6)
    shapes = [(5, 3), (3,), (7, 5)]            # the scratch buffer is shared across shapes
    params = [numpyae.Parameter(rng.normal(size=s)) for s in shapes]
    starts = [p.value.copy() for p in params]
    grads = [[rng.normal(size=s) for _ in range(4)] for s in shapes]
    opt = cls(params, lr=0.01, betas=(0.8, 0.95), eps=1e-6, weight_decay=wd)
    for step in range(4):
        for p, g in zip(params, grads):
            p.grad[...] = g[step]
        kept = [p.grad.copy() for p in params]
        opt.step()
        for p, k in zip(params, kept):        # the step reads grads, never writes them
            np.testing.assert_array_equal(p.grad, k)
    for p, w0, g in zip(params, starts, grads):
        ref = textbook_adam(w0, g, 0.01, 0.8, 0.95, 1e-6, wd, cls is AdamW)
        np.testing.assert_allclose(p.value, ref, rtol=1e-12, atol=1e-14)
    for m, v in zip(opt.m, opt.v):              # moments are their own arrays, not scratch views
        assert m.base is None and v.base is None


# ---- the memory-light finiteness check ------------------------------------------------------

@pytest.mark.parametrize("values,expected", [
    ([0.0, 1.0, -2.0], True),
    ([1.0, np.nan], False),
    ([np.inf, 1.0], False),
    ([np.inf, -np.inf], False),
    ([3e38, 3e38, -1.0], True),      # finite, but the float32 sum overflows: exact fallback
])
def test_all_finite_agrees_with_isfinite(values, expected):
    for dtype in (np.float32, np.float64):
        arr = np.array(values, dtype=dtype).reshape(1, -1)
        assert all_finite(arr) is expected or all_finite(arr) == expected
        assert all_finite(arr) == bool(np.isfinite(arr).all())


@settings(max_examples=40)
@given(n=st.integers(1, 3000), seed=st.integers(0, 2**16),
       bad=st.sampled_from([None, np.nan, np.inf, -np.inf, 1e20, -3e38]),
       dtype=st.sampled_from([np.float32, np.float64]), order=st.sampled_from(["C", "strided"]))
def test_all_finite_matches_isfinite_on_any_layout(n, seed, bad, dtype, order):
    """Contiguous float arrays take the dot-product path (x.x), others the sum: both must
    agree with np.isfinite everywhere, including finite values whose squares overflow."""
    rng = np.random.default_rng(seed)
    arr = rng.standard_normal(2 * n).astype(dtype)
    pos = int(rng.integers(0, 2 * n))
    if bad is not None:
        arr[pos] = bad
    if order == "strided":
        arr = arr[pos % 2::2]                 # every other entry, the bad one among them
    else:
        arr = arr.reshape(2, n)
    assert all_finite(arr) == bool(np.isfinite(arr).all())


def test_all_finite_on_integers_and_empty_arrays():
    assert all_finite(np.arange(10))
    assert all_finite(np.zeros((0, 3), dtype=np.float32))


def test_fit_without_shuffle_trains_on_views_of_the_data():
    rng = np.random.default_rng(7)
    X = rng.random((10, 6), dtype=np.float32)
    X0 = X.copy()
    a = mlp_autoencoder([6, 3], loss="mse", rng=0)
    b = mlp_autoencoder([6, 3], loss="mse", rng=0)
    h = fit(a, X, Adam(a.parameters()), epochs=1, batch_size=4, shuffle=False, progress=False)
    opt = Adam(b.parameters())
    losses = [b.train_step(X[s:s + 4].copy(), None, opt)["loss"] * len(X[s:s + 4])
              for s in range(0, 10, 4)]
    assert h["loss"][0] == pytest.approx(sum(losses) / 10, rel=1e-6)
    for p, q in zip(a.parameters(), b.parameters()):
        np.testing.assert_array_equal(p.value, q.value)
    np.testing.assert_array_equal(X, X0)


# ---- no subnormal optimizer state -------------------------------------------------------------

def subnormal_count(arrays):
    tiny = np.finfo(np.float32).tiny
    return sum(int(((a != 0) & (np.abs(a) < tiny)).sum()) for a in arrays)


@pytest.mark.parametrize("make_opt", [
    lambda ps: Adam(ps, lr=1e-3),
    lambda ps: Adam(ps, lr=1e-3, betas=(0.5, 0.9)),
    lambda ps: SGD(ps, lr=1e-3, momentum=0.9),
], ids=["adam", "adam-fast-decay", "sgd-momentum"])
def test_state_of_parameters_whose_gradient_stops_never_goes_subnormal(make_opt):
    """A dead unit's moments decay geometrically; left alone they would become subnormal
    floats (a slow path on x86). The optimizer flushes them to 0 first, and the weights end
    where the textbook update puts them (the flushed values move a weight by < 1e-20)."""
    rng = np.random.default_rng(8)
    p = numpyae.Parameter(rng.normal(size=(20, 10)).astype(np.float32))
    opt = make_opt([p])
    state = opt.m + opt.v if isinstance(opt, Adam) else opt.velocity
    w0 = p.value.astype(np.float64)
    g = (rng.normal(size=p.shape) * 1e-3).astype(np.float32)
    grads = [g.astype(np.float64)] + [np.zeros(p.shape)] * 3000   # then the unit dies
    for step, gt in enumerate(grads):
        p.grad[...] = gt
        opt.step()
        assert subnormal_count(state) == 0, f"subnormal state after step {step + 1}"
    if isinstance(opt, Adam):
        ref = textbook_adam(w0, grads, opt.lr, opt.b1, opt.b2, opt.eps, 0.0, False)
    else:
        ref, vel = w0.copy(), np.zeros(p.shape)
        for gt in grads:
            vel = opt.momentum * vel + gt
            ref = ref - opt.lr * vel
    np.testing.assert_allclose(p.value, ref, rtol=1e-5, atol=1e-7)
    assert not np.allclose(p.value, w0, rtol=0, atol=1e-6)     # it did move


def test_flush_period_leaves_room_before_the_subnormal_range():
    from numpyae.nn.optimizers import FLUSH_BELOW_TINY, flush_period
    assert flush_period(0.0) is None
    for decay in (0.5, 0.9, 0.99, 0.999):
        n = flush_period(decay)
        assert n >= 1 and decay ** (2 * n) >= 1 / FLUSH_BELOW_TINY * 0.99


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
    da = layer._work.get("da", (5, 4), np.float32)
    for arr in outs + dxs + [layer.W.grad, layer.b.grad, layer.x]:
        assert not np.shares_memory(arr, da)
    assert not np.shares_memory(dxs[0], dxs[1])


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


@pytest.mark.parametrize("cls", [SGD, Adam])
def test_flush_schedule_survives_a_state_dict_round_trip(cls):
    """A resumed optimizer flushes on the same steps as an uninterrupted one: bit-identical."""
    rng = np.random.default_rng(10)
    w0 = rng.normal(size=(6, 4)).astype(np.float32)
    # gradients of very different sizes, then none: the moments cross the flush threshold
    # over a spread of steps, so a flush at a different step leaves different numbers
    g0 = (1e-3 * np.exp(3 * rng.normal(size=(6, 4))) * rng.choice([-1, 1], size=(6, 4)))
    grads = [g0.astype(np.float32)] * 3 + [np.zeros((6, 4), np.float32)] * 697
    kwargs = {"lr": 1e-3, "momentum": 0.9} if cls is SGD else {"lr": 1e-3}

    def run(steps, opt, p):
        for g in steps:
            p.grad[...] = g
            opt.step()

    p1 = numpyae.Parameter(w0.copy())
    o1 = cls([p1], **kwargs)
    run(grads, o1, p1)
    p2 = numpyae.Parameter(w0.copy())
    o2 = cls([p2], **kwargs)
    run(grads[:620], o2, p2)
    state = {k: np.array(v, copy=True) for k, v in o2.state_dict().items()}
    p3 = numpyae.Parameter(p2.value.copy())
    o3 = cls([p3], **kwargs)
    o3.load_state_dict(state)
    run(grads[620:], o3, p3)
    np.testing.assert_array_equal(p3.value, p1.value)
    for a, b in zip(o3.state_dict().values(), o1.state_dict().values()):
        np.testing.assert_array_equal(a, b)
