"""Activations (numpyae.nn.activations): f(a), f', f'' and the fused chain-rule step."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from numpyae.nn.activations import ACTIVATIONS, get_activation, stable_sigmoid
from numpyae.teaching.gradcheck import check_gradient

from helpers import arrays, away_from_zero

SMOOTH = ["identity", "sigmoid", "tanh", "softplus"]
PIECEWISE = ["relu", "leaky_relu", "elu"]  # kink at 0
H = 1e-4  # the checker's default step (fourth-order stencil spans 2h)


def derivative_error(fn, a, analytic):
    """Max relative error of `analytic` against finite differences of sum(fn(a)), entry by entry."""
    a = a.copy()
    return check_gradient(lambda: float(np.sum(fn(a))), a, analytic).max_error


@settings(max_examples=60)
@given(name=st.sampled_from(SMOOTH), a=arrays((3, 4), -6, 6))
def test_first_derivative_of_smooth_activations(name, a):
    act = get_activation(name)
    assert derivative_error(act, a, act.derivative(a, act(a))) <= 1e-7


@settings(max_examples=60)
@given(name=st.sampled_from(PIECEWISE), a=away_from_zero((3, 4), margin=10 * H))
def test_first_derivative_of_piecewise_activations_away_from_the_kink(name, a):
    act = get_activation(name)
    assert derivative_error(act, a, act.derivative(a, act(a))) <= 1e-7


@settings(max_examples=60)
@given(name=st.sampled_from(SMOOTH + PIECEWISE), a=away_from_zero((3, 4), margin=0.05))
def test_second_derivative_matches_finite_differences_of_first(name, a):
    # Away from 0 by construction: the kink of the piecewise ones, and the zero crossing of f''
    # for tanh and sigmoid, where a *relative* error would compare finite-difference noise with 0.
    act = get_activation(name)
    analytic = act.second_derivative(a, act(a))
    assert derivative_error(lambda v: act.derivative(v, act(v)), a, analytic) <= 1e-7


@pytest.mark.parametrize("name", sorted(set(ACTIVATIONS) - {"linear"}))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_and_shape_preserved(name, dtype):
    act = get_activation(name)
    a = np.linspace(-3, 3, 12, dtype=dtype).reshape(3, 4)
    y = act(a)
    for out in (y, act.derivative(a, y), act.second_derivative(a, y)):
        assert out.dtype == dtype and out.shape == a.shape


def test_sigmoid_is_stable_for_huge_inputs_of_both_signs():
    a = np.array([-1e4, -800.0, -40.0, 0.0, 40.0, 800.0, 1e4])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        y = stable_sigmoid(a)
    assert np.all(np.isfinite(y))
    assert y[0] == 0.0 and y[-1] == 1.0 and y[3] == 0.5
    np.testing.assert_allclose(y[2], np.exp(-40.0), rtol=1e-12)


def test_softplus_is_stable_and_exact():
    a = np.array([-1e4, -30.0, 0.0, 30.0, 1e4])
    with np.errstate(over="raise"):
        y = get_activation("softplus")(a)
    np.testing.assert_allclose(y, [0.0, np.log1p(np.exp(-30.0)), np.log(2), 30 + np.log1p(np.exp(-30.0)), 1e4])


def test_elu_does_not_overflow_on_large_positive_inputs():
    with np.errstate(over="raise"):
        y = get_activation("elu")(np.array([1e4, -1e4]))
    np.testing.assert_allclose(y, [1e4, -1.0])


def test_known_values():
    a = np.array([-2.0, 0.5])
    np.testing.assert_allclose(get_activation("relu")(a), [0, 0.5])
    np.testing.assert_allclose(get_activation({"name": "leaky_relu", "alpha": 0.1})(a), [-0.2, 0.5])
    np.testing.assert_allclose(get_activation("tanh").derivative(a, np.tanh(a)), 1 - np.tanh(a) ** 2)


@pytest.mark.parametrize("bad", ["swish", "", "RELU"])
def test_unknown_activation_name_is_a_clear_error(bad):
    with pytest.raises(ValueError, match="activation must be one of") as exc:
        get_activation(bad)
    assert repr(bad) in str(exc.value)


def test_activation_of_wrong_type():
    with pytest.raises(TypeError, match="activation"):
        get_activation(3)


@pytest.mark.parametrize("spec", [{"name": "leaky_relu", "alpha": 1.5}, {"name": "elu", "alpha": -1}])
def test_bad_activation_parameters(spec):
    with pytest.raises(ValueError, match="alpha"):
        get_activation(spec)


@pytest.mark.parametrize("name", sorted(set(ACTIVATIONS) - {"linear"}))
@pytest.mark.parametrize("use_out", [False, True])
def test_chain_is_dy_times_the_derivative_and_leaves_its_inputs_alone(name, use_out):
    act = get_activation(name)
    rng = np.random.default_rng(0)
    a = rng.normal(size=(3, 4))
    y = act(a)
    dy = rng.normal(size=(3, 4))
    copies = [a.copy(), y.copy(), dy.copy()]
    out = np.empty_like(a) if use_out else None
    da = act.chain(a, y, dy, out=out)
    np.testing.assert_allclose(da, dy * act.derivative(a, y), rtol=1e-12, atol=1e-15)
    for before, after in zip(copies, (a, y, dy)):
        np.testing.assert_array_equal(before, after)
    if use_out and name != "identity":   # identity returns dy itself (module doc)
        assert da is out


# ---- kinks: where finite differences are not comparable ----------------------------------------

def test_piecewise_activations_declare_their_kink_and_smooth_ones_none():
    for name in PIECEWISE:
        assert get_activation(name).kinks == (0.0,), name
    for name in SMOOTH:
        assert get_activation(name).kinks == (), name


@pytest.mark.parametrize("name", PIECEWISE)
def test_a_stencil_across_the_declared_kink_really_is_off(name):
    """Why each declared kink matters: at a = 0 the fourth-order stencil of sum(f(a)) misses
    the one-sided derivatives by far more than 1e-7 (ELU, C1 at alpha = 1: by h/6 = 1.7e-5)."""
    from numpyae.teaching.gradcheck import numerical_gradient
    f = get_activation(name)
    a = np.zeros(1)
    g = numerical_gradient(lambda: float(np.sum(f(a))), a)
    right = float(f.derivative(np.array([1e-9]), f(np.array([1e-9])))[0])
    left = float(f.derivative(np.array([-1e-9]), f(np.array([-1e-9])))[0])
    assert min(abs(g[0] - right), abs(g[0] - left)) > 1e-6
