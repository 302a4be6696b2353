"""Penalties (numpyae.nn.penalties): values, gradients through the code layer (dh and da)."""
import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st

import numpyae
from numpyae.teaching.gradcheck import check_gradient
from numpyae.nn.layers import Dense, TopK
from numpyae.nn.penalties import Contractive, KLSparsity, L1Activity, WeightDecay

ACTIVATIONS = ["sigmoid", "tanh", "softplus", "relu"]


def _layer(n_in, n_out, activation, seed):
    layer = Dense(n_in, n_out, activation, rng=seed, dtype=np.float64)
    layer.b.value[...] = np.random.default_rng(seed + 1).normal(0, 0.5, n_out)
    return layer


def _penalty_value(penalty, layer, x):
    return penalty.forward(layer.forward(x), layer, [layer.W])


def _analytic(penalty, layer, x):
    """The penalty's gradients through the code layer, composed exactly as Autoencoder does."""
    for p in layer.parameters():
        p.zero_grad()
    _penalty_value(penalty, layer, x)
    dh, da = penalty.backward()
    # dP/dh goes through the activation's chain rule, dP/da joins after it: backward(dh, da=da)
    dx = layer.backward(np.zeros_like(layer.y) if dh is None else dh, da=da)
    return layer.W.grad.copy(), layer.b.grad.copy(), dx


def _check_alone(penalty, layer, x):
    """Max relative error of dP/dW, dP/db, dP/dx (the penalty alone) against finite differences
    (numpyae.check_gradient: entries below what finite differences resolve are measured
    against that floor)."""
    dW, db, dx = _analytic(penalty, layer, x)
    f = lambda: _penalty_value(penalty, layer, x)
    return max(check_gradient(f, layer.W.value, dW).max_error,
               check_gradient(f, layer.b.value, db).max_error,
               check_gradient(f, x, dx).max_error)


def _inputs(seed, n=5, d=6):
    return np.random.default_rng(seed).uniform(-1, 1, size=(n, d))


@pytest.mark.parametrize("penalty, activation", [
    (WeightDecay(0.3), "tanh"), (L1Activity(0.2), "tanh"), (L1Activity(0.2), "sigmoid"),
    (KLSparsity(0.1, 2.0), "sigmoid"),
    (Contractive(0.5), "sigmoid"), (Contractive(0.5), "tanh"), (Contractive(0.5), "softplus"),
    (Contractive(0.5), "elu"),
])
def test_each_penalty_alone_gradcheck(penalty, activation):
    layer = _layer(6, 4, activation, 0)
    x = _inputs(0)
    if activation == "elu":  # keep away from elu's second-derivative jump at 0
        assert np.all(np.abs(layer.forward(x)) > 1e-3)
    assert _check_alone(penalty, layer, x) <= 1e-7


@given(seed=st.integers(0, 10_000))
@settings(max_examples=25)
def test_contractive_gradcheck_property(seed):
    act = ACTIVATIONS[seed % 3]  # smooth ones; relu is covered below
    layer = _layer(5, 3, act, seed)
    x = _inputs(seed, 4, 5)
    assert _check_alone(Contractive(0.7), layer, x) <= 1e-7


def test_contractive_relu_gradcheck_away_from_the_kink():
    layer = _layer(6, 4, "relu", 3)
    x = _inputs(3)
    a = x @ layer.W.value + layer.b.value
    assert np.all(np.abs(a) > 1e-2)  # by construction of seed 3: far from the kink
    assert _check_alone(Contractive(0.5), layer, x) <= 1e-7


def fd_jacobian(f, x, h=1e-4):
    """Per-example Jacobian of a row-wise map f (B, n) -> (B, k), 4th-order central differences,
    all examples at once (they do not interact)."""
    B, n = x.shape
    cols = []
    for i in range(n):
        e = np.zeros_like(x)
        e[:, i] = h
        cols.append((8 * (f(x + e) - f(x - e)) - (f(x + 2 * e) - f(x - 2 * e))) / (12 * h))
    return np.stack(cols, axis=2)  # (B, k, n)


@pytest.mark.parametrize("activation", ACTIVATIONS)
@given(seed=st.integers(0, 10_000))
@settings(max_examples=25)
def test_contractive_value_is_squared_frobenius_norm_of_fd_jacobian(activation, seed):
    layer = _layer(5, 4, activation, seed)
    x = _inputs(seed, 3, 5)
    a = x @ layer.W.value + layer.b.value
    if activation == "relu":
        assume(np.all(np.abs(a) > 1e-3))  # FD across the kink would mix both slopes
    lam = 0.37
    model = numpyae.Autoencoder(numpyae.Sequential([layer]), numpyae.Sequential([Dense(4, 5)]),
                                "mse", penalties=[Contractive(lam)])
    value = model.forward_loss(x, training=False)["contractive"]
    J = fd_jacobian(lambda z: model.encoder.forward(z, training=False), x)  # (B, k, n)
    expected = lam * np.mean(np.sum(J ** 2, axis=(1, 2)))
    assert value == pytest.approx(expected, rel=1e-7, abs=1e-14)


def test_contractive_deep_encoder_uses_the_code_layers_own_jacobian():
    model = numpyae.mlp_autoencoder([6, 5, 3], activation="tanh", code_activation="sigmoid",
                                    loss="mse", rng=1, dtype=np.float64,
                                    penalties=[Contractive(1.0)])
    x = np.random.default_rng(1).uniform(0, 1, (4, 6))
    terms = model.forward_loss(x, training=False)
    code = model.code_layer
    J = fd_jacobian(lambda z: code.forward(z), model.encoder[0].forward(x))
    assert terms["contractive"] == pytest.approx(np.mean(np.sum(J ** 2, axis=(1, 2))), rel=1e-7)


def test_values_match_their_formulas():
    layer = _layer(6, 4, "sigmoid", 2)
    x = _inputs(2, 7)
    h = layer.forward(x)
    assert L1Activity(0.3).forward(h, layer, []) == pytest.approx(0.3 * np.abs(h).sum() / 7)
    q = h.mean(0)
    kl = 0.1 * np.log(0.1 / q) + 0.9 * np.log(0.9 / (1 - q))
    assert KLSparsity(0.1, 2.5).forward(h, layer, []) == pytest.approx(2.5 * kl.sum())
    W2 = Dense(4, 6, rng=0, dtype=np.float64)
    assert WeightDecay(0.2).forward(h, layer, [layer.W, W2.W]) == pytest.approx(
        0.1 * ((layer.W.value ** 2).sum() + (W2.W.value ** 2).sum()))


def test_kl_is_zero_at_target_and_positive_elsewhere():
    h = np.full((5, 3), 0.2)
    assert KLSparsity(0.2, 3.0).forward(h, None, []) == pytest.approx(0.0, abs=1e-15)
    assert KLSparsity(0.05, 3.0).forward(h, None, []) > 0


def test_kl_clips_rho_hat_and_stays_finite():
    pen = KLSparsity(0.05, 3.0)
    h = np.zeros((4, 3))
    h[:, 0] = 1.0
    value = pen.forward(h, None, [])
    assert np.isfinite(value)
    dh, _ = pen.backward()
    assert np.all(np.isfinite(dh)) and np.all(dh == 0)  # clipped units get no gradient


def test_kl_refuses_codes_outside_unit_interval():
    with pytest.raises(ValueError, match="sigmoid"):
        KLSparsity().bind(Dense(3, 2, "relu"))
    with pytest.raises(ValueError, match=r"\(0, 1\)"):
        KLSparsity().forward(np.array([[-0.5, 0.2]]), None, [])
    with pytest.raises(ValueError, match="KLSparsity"):
        numpyae.mlp_autoencoder([6, 3], code_activation="tanh", penalties=[KLSparsity()])


def test_contractive_refuses_a_non_dense_code_layer():
    enc = numpyae.Sequential([Dense(6, 4), TopK(2)])
    dec = numpyae.Sequential([Dense(4, 6)])
    with pytest.raises(TypeError, match="Contractive needs a Dense code layer"):
        numpyae.Autoencoder(enc, dec, "mse", penalties=[Contractive(0.1)])


def test_weight_decay_skips_biases_and_counts_a_tie_once():
    model = numpyae.mlp_autoencoder([6, 4], tied=True, rng=0, dtype=np.float64,
                                    penalties=[WeightDecay(0.5)])
    weights = model.weight_parameters()
    assert len(weights) == 1 and weights[0] is model.encoder[0].W
    terms = model.forward_loss(np.full((2, 6), 0.5), training=False)
    assert terms["weight_decay"] == pytest.approx(0.25 * np.sum(weights[0].value ** 2))


def test_bad_penalty_arguments_are_named():
    with pytest.raises(ValueError, match="rho"):
        KLSparsity(rho=0)
    with pytest.raises(ValueError, match="lam"):
        WeightDecay(-1)
    with pytest.raises(ValueError, match="beta"):
        L1Activity(float("nan"))
    with pytest.raises(TypeError, match="penalties\\[0\\]"):
        numpyae.mlp_autoencoder([6, 3], penalties=["kl"])


def test_penalty_gradients_are_float32_in_float32():
    layer = Dense(6, 4, "sigmoid", rng=0)
    x = np.random.default_rng(0).uniform(0, 1, (5, 6)).astype(np.float32)
    for pen in (L1Activity(0.1), KLSparsity(0.1, 3.0), Contractive(0.1)):
        pen.forward(layer.forward(x), layer, [layer.W])
        dh, da = pen.backward()
        for g in (dh, da):
            assert g is None or g.dtype == np.float32
    assert layer.W.grad.dtype == np.float32


def test_l1_and_kl_penalties_report_the_side_of_their_kinks():
    l1 = L1Activity(0.1)
    assert l1.kink_state() == {} and l1.kink_margin() == {}
    h = np.array([[0.5, 0.0, -0.2]])
    l1.forward(h, None, [])
    np.testing.assert_array_equal(l1.kink_state()["|h| at h = 0"], np.sign(h))
    np.testing.assert_array_equal(l1.kink_margin()["|h| at h = 0"], np.abs(h))
    kl = KLSparsity(0.1, 1.0, eps=0.01)
    assert kl.kink_state() == {}
    kl.forward(np.array([[0.001, 0.5], [0.003, 0.7]]), None, [])
    below, above = kl.kink_state()["clip of rho_hat to [eps, 1 - eps]"]
    assert below.tolist() == [True, False] and above.tolist() == [False, False]
    np.testing.assert_allclose(kl.kink_margin()["clip of rho_hat to [eps, 1 - eps]"][0],
                               [0.008, 0.39])


def test_l1_penalty_gradcheck_across_its_kink_is_not_a_failure():
    """A tanh code with an entry at exactly 0 (x = 0, b = 0): |h| has its kink there."""
    layer = Dense(4, 3, "tanh", rng=0, dtype=np.float64)
    penalty = L1Activity(0.4)
    x = np.random.default_rng(0).uniform(-1, 1, (3, 4))
    x[0] = 0.0
    dW, db, _ = _analytic(penalty, layer, x)
    f = lambda: _penalty_value(penalty, layer, x)
    report = check_gradient(f, layer.b.value, db, kinks=penalty)
    assert report.passed() and report.n_kink == 3
    assert "L1Activity's |h| at h = 0" in report.kink_notes[0]
    assert check_gradient(f, layer.W.value, dW, kinks=penalty).passed()


def test_kl_clip_bound_is_a_kink_for_the_gradient_checker():
    """rho_hat of unit 0 sits exactly on eps: a finite difference moves it into the clip."""
    kl = KLSparsity(0.2, 1.0, eps=0.1)
    h = np.array([[0.1, 0.4], [0.1, 0.6]])
    kl.forward(h, None, [])
    dh, _ = kl.backward()
    f = lambda: kl.forward(h, None, [])
    report = check_gradient(f, h, np.array(dh), kinks=kl)
    assert report.passed() and report.n_kink == 2
    assert "KLSparsity's clip of rho_hat to [eps, 1 - eps]" in report.kink_notes[0]
