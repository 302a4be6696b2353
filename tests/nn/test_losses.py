"""Losses (numpyae.nn.losses): forward/backward against finite differences and definitions."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from numpyae.teaching.gradcheck import check_gradient
from numpyae.nn.losses import MSE, BinaryCrossEntropy, SoftmaxCrossEntropy, get_loss

from helpers import arrays


def check_loss_gradient(loss, output, target):
    output = output.copy()
    loss.forward(output, target)
    analytic = loss.backward()
    return check_gradient(lambda: loss.forward(output, target), output, analytic).max_error


@settings(max_examples=50)
@given(data=st.data(), shape=st.tuples(st.integers(1, 4), st.integers(1, 5)),
       reduction=st.sampled_from(["mean", "sum"]))
def test_mse_gradient(data, shape, reduction):
    out, tgt = data.draw(arrays(shape)), data.draw(arrays(shape))
    assert check_loss_gradient(MSE(reduction), out, tgt) <= 1e-7


@settings(max_examples=50)
@given(data=st.data(), shape=st.tuples(st.integers(1, 4), st.integers(1, 5)),
       reduction=st.sampled_from(["mean", "sum"]))
def test_bce_gradient(data, shape, reduction):
    logits = data.draw(arrays(shape, -8, 8))
    target = data.draw(arrays(shape, 0, 1))
    assert check_loss_gradient(BinaryCrossEntropy(reduction), logits, target) <= 1e-7


@settings(max_examples=50)
@given(data=st.data(), batch=st.integers(1, 4), k=st.integers(2, 5))
def test_softmax_cross_entropy_gradient(data, batch, k):
    logits = data.draw(arrays((batch, k), -5, 5))
    labels = np.array(data.draw(st.lists(st.integers(0, k - 1), min_size=batch, max_size=batch)))
    assert check_loss_gradient(SoftmaxCrossEntropy(), logits, labels) <= 1e-7


def test_values_against_definitions():
    o = np.array([[0.5, -1.0], [2.0, 0.0]])
    t = np.array([[1.0, 0.0], [1.0, 1.0]])
    assert MSE().forward(o, t) == pytest.approx(np.mean((o - t) ** 2))
    assert MSE("sum").forward(o, t) == pytest.approx(np.sum((o - t) ** 2) / 2)
    s = 1 / (1 + np.exp(-o))
    bce = -(t * np.log(s) + (1 - t) * np.log(1 - s))
    assert BinaryCrossEntropy().forward(o, t) == pytest.approx(bce.mean())
    assert BinaryCrossEntropy("sum").forward(o, t) == pytest.approx(bce.sum() / 2)
    p = np.exp(o) / np.exp(o).sum(1, keepdims=True)
    labels = np.array([1, 0])
    assert SoftmaxCrossEntropy().forward(o, labels) == pytest.approx(-np.log(p[[0, 1], labels]).mean())


def test_bce_is_finite_for_extreme_logits():
    z = np.array([[-1e4, 1e4, -50.0, 50.0]])
    t = np.array([[1.0, 0.0, 0.0, 1.0]])
    loss = BinaryCrossEntropy()
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        value = loss.forward(z, t)
        grad = loss.backward()
    assert np.isfinite(value) and value == pytest.approx((1e4 + 1e4 + 2 * np.log1p(np.exp(-50))) / 4)
    assert np.all(np.isfinite(grad))


def test_softmax_cross_entropy_is_finite_for_extreme_logits():
    z = np.array([[1e4, -1e4, 0.0]])
    loss = SoftmaxCrossEntropy()
    with np.errstate(over="raise", invalid="raise"):
        assert loss.forward(z, np.array([1])) == pytest.approx(2e4)
        assert np.all(np.isfinite(loss.backward()))


def test_predict_links():
    z = np.array([[0.0, 2.0]])
    np.testing.assert_allclose(BinaryCrossEntropy().predict(z), 1 / (1 + np.exp(-z)))
    np.testing.assert_allclose(SoftmaxCrossEntropy().predict(z).sum(), 1.0)
    assert MSE().predict(z) is z


def test_float32_stays_float32():
    o = np.zeros((2, 3), np.float32)
    for loss in (MSE(), BinaryCrossEntropy()):
        loss.forward(o, o)
        assert loss.backward().dtype == np.float32


def test_loss_errors():
    with pytest.raises(ValueError, match="target must have the output's shape"):
        MSE().forward(np.zeros((2, 3)), np.zeros((2, 4)))
    with pytest.raises(ValueError, match="reduction"):
        MSE("median")
    with pytest.raises(ValueError, match="labels"):
        SoftmaxCrossEntropy().forward(np.zeros((2, 3)), np.array([0, 3]))
    with pytest.raises(ValueError, match="integer labels"):
        SoftmaxCrossEntropy().forward(np.zeros((2, 3)), np.array([0.5, 1.0]))
    with pytest.raises(ValueError, match="loss must be one of"):
        get_loss("l7")


@settings(max_examples=50)
@given(data=st.data(), shape=st.tuples(st.integers(1, 4), st.integers(1, 5)),
       reduction=st.sampled_from(["mean", "sum"]), logvar=st.floats(-2, 2))
def test_gaussian_nll_gradient_and_value_with_a_fixed_log_variance(data, shape, reduction, logvar):
    """dL/do against finite differences, and L against its definition, for a fixed s = logvar.
    (A learned per-feature log-variance is a parameter of the VAE's Gaussian likelihood now; its
    gradient is checked with the likelihoods.)"""
    from numpyae.nn.losses import GaussianNLL
    out, tgt = data.draw(arrays(shape)), data.draw(arrays(shape))
    loss = GaussianNLL(reduction, logvar=logvar)
    assert check_loss_gradient(loss, out, tgt) <= 1e-7
    B, D = shape
    c = 1 / (B * D) if reduction == "mean" else 1 / B
    expected = c * 0.5 * np.sum((out - tgt) ** 2 * np.exp(-logvar) + logvar + np.log(2 * np.pi))
    assert loss.forward(out, tgt) == pytest.approx(expected, rel=1e-12, abs=1e-12)


# ---- targets outside the range a loss needs ---------------------------------------------------

def test_bce_refuses_targets_outside_unit_interval_instead_of_returning_200():
    """BinaryCrossEntropy()(full 50, full -3) returned 200: with t = -3 the loss
    log(1 + e^z) - t z is unbounded (no loss at all). Now the target's range is refused."""
    with pytest.raises(ValueError, match=r"target must lie in \[0, 1\] for the binary "
                                         r"cross-entropy loss \(got values in \[-3, -3\]\)"):
        BinaryCrossEntropy()(np.full((4, 5), 50.0), np.full((4, 5), -3.0))
    with pytest.raises(ValueError, match=r"target must lie in \[0, 1\].*\[0, 255\]"):
        BinaryCrossEntropy()(np.zeros((2, 3)), np.array([[0, 128, 255]] * 2))
    # the output is logits: unrestricted; the edges of [0, 1] are fine
    assert np.isfinite(BinaryCrossEntropy()(np.full((4, 5), 50.0), np.ones((4, 5))))
    assert np.isfinite(BinaryCrossEntropy()(np.full((4, 5), -50.0), np.zeros((4, 5))))


def test_the_losses_without_a_range_take_any_real_target():
    out, tgt = np.zeros((3, 2)), np.full((3, 2), 255.0)
    assert MSE()(out, tgt) == pytest.approx(255.0 ** 2)
    assert MSE.target_range is None and BinaryCrossEntropy.target_range == (0.0, 1.0)
