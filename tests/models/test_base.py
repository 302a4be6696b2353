"""Model's shared machinery (numpyae/models/base.py): the guarded optimizer step, the input and
label checks every model inherits, and inference-mode randomness."""
import numpy as np
import pytest

import numpyae as nae
from numpyae.core.checks import check_bool, check_value_range, first_nonfinite
from numpyae.models import NonFiniteError, linear_autoencoder, mlp_autoencoder, mlp_vae
from numpyae.models.base import EVAL_SEED, SILENT_STATE, _state_to_check, guarded_update
from numpyae.nn.optimizers import SGD, Adam, AdamW


def digits():
    X, _ = nae.load_digits()
    return X


# ---- the guarded step: parameters and optimizer state -------------------------------------------

def test_adam_second_moment_overflow_raises_nonfinite_error_naming_state_and_parameter():
    """Inputs of 1e11 with MSE: Adam's v = b2 v + (1 - b2) g^2 overflowed to inf in 186 entries,
    those weights froze for good (m / inf = 0) and no NonFiniteError was raised. Now the step
    that overflows it is undone and named."""
    X = digits()[:200] * 1e11
    model = linear_autoencoder(64, 16, rng=0)
    opt = Adam(model.parameters())
    with pytest.raises(NonFiniteError, match=r"Adam's second moment v of encoder\.0\.W "
                                             r"overflowed to inf: the gradients are ~\de\+\d\d; "
                                             r"scale the inputs") as info:
        nae.fit(model, X, opt, epochs=3, batch_size=64, rng=0, progress=False)
    assert "epoch 1, step" in str(info.value)


def test_the_step_that_overflows_the_state_is_undone():
    X = digits()[:64].astype(np.float32) * 1e11
    model = linear_autoencoder(64, 16, rng=0)
    opt = Adam(model.parameters())
    for _ in range(10):
        before = [p.value.copy() for p in model.parameters()]
        try:
            model.train_step(X, None, opt)
        except NonFiniteError:
            break
    else:
        pytest.fail("the optimizer state never overflowed")
    for b, p in zip(before, model.parameters()):
        np.testing.assert_array_equal(b, p.value)


def spoiling(cls, key, value):
    """An optimizer of class cls whose step() leaves `value` in its state entry `key` (and
    nowhere else): what an overflow inside the state alone looks like."""
    class Spoiling(cls):
        def step(self):
            super().step()
            self.state_dict()[key].flat[0] = value   # state_dict() returns references
    Spoiling.__name__ = cls.__name__
    return Spoiling


@pytest.mark.parametrize("cls,key,value,what", [
    (Adam, "m.1", np.nan, "Adam's first moment m of encoder.0.b overflowed to NaN"),
    (Adam, "v.2", np.inf, "Adam's second moment v of decoder.0.W overflowed to inf"),
    (SGD, "velocity.0", -np.inf, "SGD's velocity of encoder.0.W overflowed to inf")])
def test_every_float_array_of_the_optimizer_state_is_checked(cls, key, value, what):
    model = mlp_autoencoder([6, 3], rng=0)
    named = model.named_parameters_unique()
    kw = {"momentum": 0.9} if cls is SGD else {}
    opt = spoiling(cls, key, value)(model.parameters(), lr=1e-3, **kw)
    model.loss_and_grad(np.random.default_rng(0).random((4, 6)))
    before = [p.value.copy() for p in model.parameters()]
    with pytest.raises(NonFiniteError, match=what):
        guarded_update(opt, named)
    for b, p in zip(before, model.parameters()):
        np.testing.assert_array_equal(b, p.value)


@pytest.mark.parametrize("cls", [Adam, AdamW, SGD])
@pytest.mark.parametrize("which", [0, -1])
@pytest.mark.parametrize("value", [np.inf, -np.inf, np.nan])
def test_a_non_finite_state_of_the_library_optimizers_never_passes_silently(cls, which, value):
    """The guard checks only Adam's v for the library's own optimizers (SILENT_STATE): a
    non-finite m or velocity always reaches the parameters, which it checks. Any non-finite
    entry of any state array, however it got there, stops the next step, parameters restored."""
    model = mlp_autoencoder([6, 3], rng=0)
    kw = {"momentum": 0.9} if cls is SGD else {}
    opt = cls(model.parameters(), lr=1e-3, **kw)
    X = np.random.default_rng(0).random((4, 6))
    model.train_step(X, None, opt)
    keys = [k for k, a in opt.state_arrays()]
    key = keys[which]
    if key.startswith("v.") and value < 0:
        value = np.inf               # (v is a mean of squares: never negative)
    opt.state_dict()[key].flat[0] = value
    before = [p.value.copy() for p in model.parameters()]
    with pytest.raises(NonFiniteError, match="overflowed"):
        model.train_step(X, None, opt)
    for b, p in zip(before, model.parameters()):
        np.testing.assert_array_equal(b, p.value)


def test_only_the_silent_state_is_checked_for_the_library_optimizers():
    assert set(SILENT_STATE) == {SGD, Adam, AdamW}
    model = mlp_autoencoder([6, 3], rng=0)
    adam = Adam(model.parameters())
    assert [k for k, _ in _state_to_check(adam)] == [f"v.{i}" for i in range(4)]
    assert _state_to_check(SGD(model.parameters(), momentum=0.5)) == []
    sub = spoiling(Adam, "m.0", 0.0)(model.parameters())      # a subclass: everything
    assert {k for k, _ in _state_to_check(sub)} == {"lr", *(f"{p}.{i}" for p in "mv"
                                                            for i in range(4))}


def test_an_optimizer_that_raises_midway_is_undone_and_named():
    """An optimizer that stops midway with a FloatingPointError, having moved some parameters:
    they are restored and a NonFiniteError says what happened."""
    class Failing(Adam):
        def step(self):
            self.parameters[0].value += 1.0
            raise FloatingPointError("overflow encountered in multiply")

    model = mlp_autoencoder([6, 3], rng=0)
    model.loss_and_grad(np.random.default_rng(0).random((4, 6)))
    before = [p.value.copy() for p in model.parameters()]
    with pytest.raises(NonFiniteError, match=r"the optimizer step failed \(overflow encountered"):
        guarded_update(Failing(model.parameters()), model.named_parameters_unique())
    for b, p in zip(before, model.parameters()):
        np.testing.assert_array_equal(b, p.value)


def test_an_overflow_under_numpy_raise_mode_is_a_nonfinite_error():
    """Under np.seterr(over="raise") an overflowing step still ends in NonFiniteError (not a
    FloatingPointError from inside the optimizer), with the parameters restored."""
    X = digits()[:64].astype(np.float32) * 1e11
    model = linear_autoencoder(64, 16, rng=0)
    opt = Adam(model.parameters())
    with np.errstate(over="raise"):
        for _ in range(10):
            before = [p.value.copy() for p in model.parameters()]
            try:
                model.train_step(X, None, opt)
            except NonFiniteError:
                break
        else:
            pytest.fail("no overflow")
    for b, p in zip(before, model.parameters()):
        np.testing.assert_array_equal(b, p.value)


def test_a_finite_step_is_not_touched():
    X = digits()[:64]
    model = mlp_autoencoder([64, 16], rng=0)
    opt = Adam(model.parameters())
    for _ in range(3):
        terms = model.train_step(X, None, opt)
    assert np.isfinite(terms["loss"]) and opt.t == 3


# ---- the checks the models build on --------------------------------------------------------------

def test_first_nonfinite_finds_the_first_bad_array_whatever_its_layout():
    a = np.ones((3, 4), np.float32)
    big = np.full(5, 1e30, np.float32)         # finite, but its squares overflow float32
    assert first_nonfinite([a, big, a.T, a[:, ::2]]) is None
    for bad in (np.nan, np.inf, -np.inf):
        b = a.copy()
        b[1, 2] = bad
        assert first_nonfinite([a, big, b, b]) == 2
        assert first_nonfinite([a, b.T]) == 1              # not C-contiguous
    assert first_nonfinite([]) is None


@pytest.mark.parametrize("value", ["no", "yes", 0, 1, None, 1.0, [True], np.array([True])])
def test_check_bool_takes_only_true_or_false(value):
    with pytest.raises(TypeError, match=r"flag must be True or False"):
        check_bool(value, "flag")


def test_check_bool_returns_a_python_bool():
    assert check_bool(np.bool_(True), "flag") is True and check_bool(False, "flag") is False


def test_check_value_range_names_the_argument_and_the_range_found():
    with pytest.raises(ValueError, match=r"X must lie in \[0, 1\] for the loss \(got values in "
                                         r"\[-2, 255\]\); scale it"):
        check_value_range(np.array([[-2.0, 255.0]]), "X", 0.0, 1.0, what="the loss",
                          hint="; scale it")
    assert check_value_range(np.zeros((0, 2)), "X", 0, 1, what="the loss").shape == (0, 2)


# ---- inference-mode randomness --------------------------------------------------------------------

def test_inference_draws_never_come_from_the_model_generator():
    model = mlp_vae([6, 4, 2], rng=0)
    X = np.random.default_rng(0).random((8, 6))
    state = model.rng.bit_generator.state
    model.forward_loss(X, training=False)
    model.evaluate(X)
    assert model.rng.bit_generator.state == state
    model.forward_loss(X, training=True)
    assert model.rng.bit_generator.state != state
    assert model.inference_rng().bit_generator.state == \
        np.random.default_rng(EVAL_SEED).bit_generator.state


def test_a_non_finite_result_names_its_cause():
    model = mlp_autoencoder([6, 3], loss="mse", rng=0)
    X = np.random.default_rng(0).random((4, 6)).astype(np.float32)
    with pytest.raises(ValueError, match=r"X is too large for this model: the result is not "
                                         r"finite in float32 arithmetic \(\|X\| reaches \d\.\d+e\+38"):
        model.evaluate(X * np.float32(3e38))
    model.encoder[0].W.value[0, 0] = np.nan
    with pytest.raises(NonFiniteError, match="parameter encoder.0.W holds NaN or inf"):
        model.reconstruct(X)
