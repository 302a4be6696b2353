"""Bad input to the losses, likelihoods, corruptions and priors, tried systematically.

Each case calls one public entry point (a constructor, a loss's __call__ or predict, a
likelihood's __call__, log_prob or predict, a corruption's call, a prior's sample or log_prob,
the get_* factories) with one argument spoiled, and requires either a correct result (finite, the
right shape and dtype) or a ValueError/TypeError whose message names the spoiled argument.
Anything else fails: another exception type, a message that does not name the argument, a NaN
or inf result, a loss that is unbounded below because its target is outside the range it needs.
NumPy floating-point errors are raised here (underflow to 0 aside).
"""
import numpy as np
import pytest

from numpyae.nn.corruption import GaussianNoise, MaskingNoise, SaltAndPepper, get_corruption
from numpyae.nn.likelihoods import Bernoulli, Gaussian, get_likelihood
from numpyae.nn.losses import (MSE, BinaryCrossEntropy, GaussianNLL, SoftmaxCrossEntropy,
                               get_loss)
from numpyae.nn.priors import GaussianMixture, StandardGaussian, get_prior

B, D = 4, 3


@pytest.fixture(autouse=True)
def _floating_point_errors_raise():
    with np.errstate(all="raise", under="ignore"):
        yield


def clear_error(fn, names, kinds=(ValueError, TypeError)):
    """fn() must raise ValueError/TypeError naming one of `names`; returns the message."""
    with pytest.raises(Exception) as info:
        fn()
    exc = info.value
    assert isinstance(exc, kinds), f"obscure crash: {type(exc).__name__}: {exc}"
    msg = str(exc)
    assert any(n in msg for n in names), f"the message does not name {names}: {msg}"
    return msg


def unit(shape=(B, D), seed=0):
    return np.random.default_rng(seed).uniform(0.05, 0.95, size=shape)


def logits(shape=(B, D), seed=1):
    return np.random.default_rng(seed).normal(0, 2, size=shape)


# Spoiled (B, D) arrays: each must be refused by the argument's name.
BAD = {
    "str": "x", "None": None, "dict": {"a": 1}, "scalar": 0.5,
    "list_of_str": [["a"] * D] * B, "ragged": [[0.5] * D, [0.5] * (D - 1)],
    "complex": unit() + 1j, "object": unit().astype(object),
    "ndim1": unit()[0], "ndim3": unit()[:, :, None], "empty": np.zeros((0, D)),
    "nan": np.where(np.eye(B, D, dtype=bool), np.nan, unit()),
    "inf": np.where(np.eye(B, D, dtype=bool), np.inf, unit()),
}
# targets that are real arrays of the right shape but outside [0, 1]
OUT_OF_UNIT = {"255": unit() * 255, "negative": -unit(), "above_one": unit() + 1,
               "minus_three": np.full((B, D), -3.0), "fifty": np.full((B, D), 50.0)}
GOOD = {"float64": unit(), "float32": unit().astype(np.float32),
        "float16": unit().astype(np.float16), "int": (unit() > 0.5).astype(int),
        "bool": unit() > 0.5, "list": unit().tolist()}

LOSSES = {"mse": MSE, "mse_sum": lambda: MSE("sum"), "bce": BinaryCrossEntropy,
          "bce_sum": lambda: BinaryCrossEntropy("sum"), "gaussian_nll": lambda: GaussianNLL(logvar=-1)}
UNIT_TARGET_LOSSES = {"bce", "bce_sum"}


# ---- losses -------------------------------------------------------------------------------------

@pytest.mark.parametrize("bad", sorted(BAD))
@pytest.mark.parametrize("which", sorted(LOSSES))
def test_loss_call_refuses_a_bad_output_or_target_by_name(which, bad):
    loss = LOSSES[which]()
    clear_error(lambda: loss(BAD[bad], unit()), ["output"])
    clear_error(lambda: loss(logits(), BAD[bad]), ["target"])


@pytest.mark.parametrize("which", sorted(LOSSES))
def test_loss_call_refuses_a_target_of_another_shape(which):
    loss = LOSSES[which]()
    clear_error(lambda: loss(logits(), unit((B + 1, D))), ["target"])
    clear_error(lambda: loss(logits(), unit((B, D + 1))), ["target"])


@pytest.mark.parametrize("bad", sorted(OUT_OF_UNIT))
@pytest.mark.parametrize("which", sorted(LOSSES))
def test_targets_outside_unit_interval(which, bad):
    """BCE needs targets in [0, 1] (else it is unbounded below): refused by name, with the
    range found. The other losses take any real target."""
    loss = LOSSES[which]()
    if which in UNIT_TARGET_LOSSES:
        msg = clear_error(lambda: loss(logits(), OUT_OF_UNIT[bad]), ["target"])
        assert "[0, 1]" in msg and "got values in" in msg
    else:
        assert np.isfinite(loss(logits(), OUT_OF_UNIT[bad]))


@pytest.mark.parametrize("good", sorted(GOOD))
@pytest.mark.parametrize("which", sorted(LOSSES))
def test_loss_call_accepts_every_real_array(which, good):
    loss = LOSSES[which]()
    value = loss(logits() * 10, GOOD[good])
    assert isinstance(value, float) and np.isfinite(value)
    grad = loss.backward()
    assert grad.shape == (B, D) and np.isfinite(grad).all()


def test_bce_output_is_unrestricted_logits():
    """The output of BCE is logits: any finite real, however large, gives a finite loss."""
    value = BinaryCrossEntropy()(np.array([[1e30, -1e30, 0.0]]), np.array([[1.0, 0.0, 0.5]]))
    assert np.isfinite(value)


@pytest.mark.parametrize("which", ["mse", "bce", "sce"])
@pytest.mark.parametrize("bad", ["str", "None", "dict", "list_of_str", "complex", "object",
                                 "ragged"])
def test_predict_refuses_what_is_not_a_real_array(which, bad):
    loss = {"mse": MSE(), "bce": BinaryCrossEntropy(), "sce": SoftmaxCrossEntropy()}[which]
    clear_error(lambda: loss.predict(BAD[bad]), ["output"])
    out = loss.predict(logits().tolist())
    assert out.shape == (B, D) and np.isfinite(out).all()


@pytest.mark.parametrize("bad", ["x", None, 3, ["mean"], np.array(["mean"]), "average"])
def test_loss_reduction_is_one_of_mean_or_sum(bad):
    for cls in (MSE, BinaryCrossEntropy, GaussianNLL):
        clear_error(lambda: cls(bad), ["reduction"])


@pytest.mark.parametrize("bad", ["x", None, np.nan, np.inf, True, [0.0]])
def test_gaussian_nll_logvar_is_a_finite_number(bad):
    clear_error(lambda: GaussianNLL(logvar=bad), ["logvar"])


@pytest.mark.parametrize("bad", ["hinge", None, 3, ["mse"], np.array(["mse"]), {"mse": 1}])
def test_get_loss_names_its_argument(bad):
    clear_error(lambda: get_loss(bad), ["loss"])


@pytest.mark.parametrize("target", [np.full(B, 0.5), np.full(B, D), np.full(B, -1), np.zeros(B + 1),
                                    np.zeros((B, 2), int), "labels", None, np.full(B, np.nan),
                                    np.zeros(B, complex)])
def test_softmax_cross_entropy_refuses_bad_labels(target):
    clear_error(lambda: SoftmaxCrossEntropy()(logits(), target), ["target"])


# ---- likelihoods ----------------------------------------------------------------------------------

LIKELIHOODS = {"bernoulli": Bernoulli, "gaussian": lambda: Gaussian(D),
               "gaussian_learned": lambda: Gaussian(D, learn_variance=True, dtype=np.float64)}


@pytest.mark.parametrize("bad", sorted(BAD))
@pytest.mark.parametrize("which", sorted(LIKELIHOODS))
def test_likelihood_entry_points_refuse_bad_arrays_by_name(which, bad):
    lik = LIKELIHOODS[which]()
    clear_error(lambda: lik(BAD[bad], unit()), ["output"])
    clear_error(lambda: lik(logits(), BAD[bad]), ["target"])
    clear_error(lambda: lik.log_prob(BAD[bad], unit()), ["output"])
    clear_error(lambda: lik.log_prob(logits(), BAD[bad]), ["target"])


@pytest.mark.parametrize("which", sorted(LIKELIHOODS))
def test_likelihood_refuses_mismatched_shapes(which):
    lik = LIKELIHOODS[which]()
    clear_error(lambda: lik(logits(), unit((B + 1, D))), ["target"])
    clear_error(lambda: lik.log_prob(logits((2, B, D)), unit((B + 1, D))), ["target"])
    if which != "bernoulli":   # a Gaussian is built for D features (Bernoulli takes any D)
        clear_error(lambda: lik.log_prob(logits((B, D + 1)), unit((B, D + 1))), ["output"])


@pytest.mark.parametrize("bad", sorted(OUT_OF_UNIT))
@pytest.mark.parametrize("which", sorted(LIKELIHOODS))
def test_bernoulli_needs_targets_in_unit_interval(which, bad):
    lik = LIKELIHOODS[which]()
    if which == "bernoulli":
        for call in (lambda: lik(logits(), OUT_OF_UNIT[bad]),
                     lambda: lik.log_prob(logits(), OUT_OF_UNIT[bad])):
            msg = clear_error(call, ["target"])
            assert "[0, 1]" in msg and "Bernoulli" in msg
    else:
        assert np.isfinite(lik(logits(), OUT_OF_UNIT[bad]))


@pytest.mark.parametrize("good", sorted(GOOD))
@pytest.mark.parametrize("which", sorted(LIKELIHOODS))
def test_likelihood_accepts_every_real_array(which, good):
    lik = LIKELIHOODS[which]()
    assert np.isfinite(lik(logits(), GOOD[good]))
    lp = lik.log_prob(logits(), GOOD[good])
    assert lp.shape == (B,) and np.isfinite(lp).all()
    stacked = lik.log_prob(logits((5, B, D)), GOOD[good])
    assert stacked.shape == (5, B) and np.isfinite(stacked).all()
    assert np.isfinite(lik.predict(logits().tolist())).all()


@pytest.mark.parametrize("field,value", [
    ("n_features", 0), ("n_features", 2.5), ("n_features", "3"), ("n_features", True),
    ("logvar", "x"), ("logvar", np.nan), ("logvar", None), ("learn_variance", "no"),
    ("learn_variance", 1), ("learn_variance", None), ("min_logvar", np.inf), ("min_logvar", "x"),
    ("dtype", np.int32), ("dtype", None), ("dtype", "nope")])
def test_gaussian_constructor_names_its_arguments(field, value):
    kw = {"n_features": D, field: value}
    clear_error(lambda: Gaussian(**kw), [field])


@pytest.mark.parametrize("bad", ["poisson", None, 3, ["bernoulli"], np.array(["bernoulli"])])
def test_get_likelihood_names_its_argument(bad):
    clear_error(lambda: get_likelihood(bad, D, np.float32), ["likelihood"])


def test_get_likelihood_refuses_an_instance_built_for_other_data():
    clear_error(lambda: get_likelihood(Gaussian(D + 1), D, np.float32), ["likelihood"])
    assert isinstance(get_likelihood(Gaussian(D), D, np.float32), Gaussian)


# ---- corruption -----------------------------------------------------------------------------------

@pytest.mark.parametrize("make,field,values", [
    (GaussianNoise, "std", [-0.1, "x", None, np.nan, np.inf, True]),
    (MaskingNoise, "p", [-0.1, 1.0, 1.5, "x", None, np.nan, True]),
    (SaltAndPepper, "p", [-0.1, 1.0, "x", None, True]),
    (lambda **kw: SaltAndPepper(0.1, **kw), "low", ["x", None, np.nan, np.inf, 2.0]),
    (lambda **kw: SaltAndPepper(0.1, **kw), "high", ["x", None, -np.inf, -1.0]),
    (MaskingNoise, "rng", ["seed", -1, 1.5, True])])
def test_corruption_constructors_name_their_arguments(make, field, values):
    for value in values:
        clear_error(lambda: make(**{field: value}), [field])


@pytest.mark.parametrize("bad", sorted(BAD))
@pytest.mark.parametrize("make", [lambda: GaussianNoise(0.1, rng=0), lambda: MaskingNoise(0.2, rng=0),
                                  lambda: SaltAndPepper(0.2, rng=0)])
def test_corruption_call_refuses_bad_arrays(make, bad):
    layer = make()
    clear_error(lambda: layer(BAD[bad], training=True), ["x"])


@pytest.mark.parametrize("make", [lambda: GaussianNoise(0.1, rng=0), lambda: MaskingNoise(0.2, rng=0),
                                  lambda: SaltAndPepper(0.2, rng=0)])
def test_corruption_call_accepts_real_arrays(make):
    layer = make()
    for good in GOOD.values():
        out = layer(good, training=True)
        assert out.shape == (B, D) and np.isfinite(out).all()


@pytest.mark.parametrize("spec,level,name", [
    ("blur", 0.1, "corruption"), (None, 0.1, "level"), (3, None, "corruption"),
    (["masking"], None, "corruption"), ("masking", 1.5, "level"), ("masking", "x", "level"),
    ("gaussian", -1, "level"), (MaskingNoise(0.1), 0.2, "level")])
def test_get_corruption_names_its_arguments(spec, level, name):
    clear_error(lambda: get_corruption(spec, level), [name])


# ---- priors ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("make,field,values", [
    (StandardGaussian, "dim", [0, -1, 1.5, "2", None, True]),
    (GaussianMixture, "dim", [0, 1, 1.5, "2", True]),
    (GaussianMixture, "n_components", [0, -1, 2.5, "3", True]),
    (GaussianMixture, "radius", [-1, "x", np.nan, np.inf]),
    (GaussianMixture, "std", [0, -1, "x", np.nan])])
def test_prior_constructors_name_their_arguments(make, field, values):
    for value in values:
        kw = {} if make is GaussianMixture else {"dim": 2}
        kw[field] = value
        clear_error(lambda: make(**kw), [field])


@pytest.mark.parametrize("prior", [StandardGaussian(2), GaussianMixture(2)])
def test_prior_sample_and_log_prob_check_their_arguments(prior):
    for n in (0, -1, 1.5, True, "3", None):
        clear_error(lambda: prior.sample(n, 0), ["n"])
    for dtype in (np.int32, "float16", None, "nope"):
        clear_error(lambda: prior.sample(3, 0, dtype=dtype), ["dtype"])
    clear_error(lambda: prior.sample(3, "seed"), ["rng"])
    for bad in ("z", None, np.zeros((3, 3)), np.zeros(2), np.zeros((0, 2)), np.full((2, 2), np.nan),
                np.zeros((2, 2)) + 1j):
        clear_error(lambda: prior.log_prob(bad), ["z"])
    z = prior.sample(4, 0, dtype=np.float64)
    assert z.shape == (4, 2) and z.dtype == np.float64
    assert np.isfinite(prior.log_prob(z)).all()


def test_mixture_return_components_is_a_bool():
    for bad in ("yes", 1, None):
        clear_error(lambda: GaussianMixture(2).sample(3, 0, return_components=bad),
                    ["return_components"])
    z, comp = GaussianMixture(2).sample(3, 0, return_components=True)
    assert z.shape == (3, 2) and comp.shape == (3,)


@pytest.mark.parametrize("bad", ["uniform", None, 3, ["gaussian"], np.array(["gaussian"])])
def test_get_prior_names_its_argument(bad):
    clear_error(lambda: get_prior(bad, 2), ["prior"])
