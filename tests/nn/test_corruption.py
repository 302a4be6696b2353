"""Input corruption (numpyae.nn.corruption): masks and noise kept for backward, seeds, save/load."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import numpyae
from numpyae.nn.corruption import (GaussianNoise, MaskingNoise, SaltAndPepper, get_corruption)
from numpyae.teaching.gradcheck import check_layer


def _x(seed=0, shape=(200, 30)):
    return np.random.default_rng(seed).uniform(0.05, 0.95, size=shape)


@pytest.mark.parametrize("layer", [GaussianNoise(0.3, rng=0), MaskingNoise(0.4, rng=0),
                                   SaltAndPepper(0.4, rng=0)])
def test_identity_at_inference(layer):
    x = _x()
    out = layer.forward(x, training=False)
    assert out is x
    dy = np.ones_like(x)
    assert np.array_equal(layer.backward(dy), dy)
    assert layer.backward(dy, input_grad=False) is None   # no parameters: nothing to do


@pytest.mark.parametrize("layer", [GaussianNoise(0.3, rng=1), MaskingNoise(0.4, rng=1),
                                   SaltAndPepper(0.4, rng=1)])
def test_gradcheck_with_noise_fixed(layer):
    report = check_layer(layer, _x(shape=(4, 6)))
    assert report.max_error <= 1e-7, str(report)


def test_gaussian_noise_statistics_and_kept_sample():
    layer = GaussianNoise(0.5, rng=3)
    x = np.zeros((400, 50), dtype=np.float32)
    y = layer.forward(x)
    assert y.dtype == np.float32
    assert np.array_equal(y - x, layer.noise)
    assert abs(y.std() - 0.5) < 0.02 and abs(y.mean()) < 0.02


@given(p=st.floats(0.05, 0.9), seed=st.integers(0, 2**31))
@settings(max_examples=30)
def test_masking_zeroes_a_fraction_p(p, seed):
    layer = MaskingNoise(p, rng=seed)
    x = _x(seed % 1000, (300, 40)) + 0.1
    y = layer.forward(x)
    zero = y == 0
    assert np.array_equal(zero, layer.mask == 0)
    assert np.array_equal(y[~zero], x[~zero])            # kept entries are untouched (no rescale)
    assert abs(zero.mean() - p) < 0.03
    dy = np.random.default_rng(seed).standard_normal(x.shape)
    assert np.array_equal(layer.backward(dy), dy * layer.mask)


def test_salt_and_pepper_values_and_fraction():
    layer = SaltAndPepper(0.3, low=0.0, high=1.0, rng=5)
    x = _x(5, (500, 40))
    y = layer.forward(x)
    replaced = layer.keep == 0
    assert abs(replaced.mean() - 0.3) < 0.02
    assert set(np.unique(y[replaced])) <= {0.0, 1.0}
    assert abs((y[replaced] == 1.0).mean() - 0.5) < 0.05
    assert np.array_equal(y[~replaced], x[~replaced])


def test_same_seed_same_noise_and_fresh_noise_each_call():
    a, b = MaskingNoise(0.5, rng=7), MaskingNoise(0.5, rng=7)
    x = _x()
    y1, y2 = a.forward(x), b.forward(x)
    assert np.array_equal(y1, y2)
    assert not np.array_equal(a.forward(x), y1)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="p must lie in"):
        MaskingNoise(1.5)
    with pytest.raises(ValueError, match="std"):
        GaussianNoise(-1)
    with pytest.raises(ValueError, match="low and high"):
        SaltAndPepper(0.1, low=1, high=0)
    with pytest.raises(TypeError, match="rng"):
        MaskingNoise(0.1, rng="seed")
    with pytest.raises(ValueError, match="corruption must be one of"):
        get_corruption("blur", 0.1)
    with pytest.raises(ValueError, match="batch, features"):
        MaskingNoise(0.1).forward(np.zeros(5))


def test_model_loss_is_against_the_clean_input():
    model = numpyae.mlp_autoencoder([6, 4], activation="tanh", loss="mse", rng=0,
                                    dtype=np.float64, corruption=MaskingNoise(0.5, rng=1))
    x = _x(0, (8, 6))
    terms = model.forward_loss(x, training=True)
    x_tilde = model.corruption.forward(x, training=False) * model.corruption.mask
    o = model.decoder.forward(model.encoder.forward(x_tilde))
    assert terms["reconstruction"] == pytest.approx(np.mean((o - x) ** 2), rel=1e-12)
    # inference: no corruption at all
    clean = model.forward_loss(x, training=False)["reconstruction"]
    assert clean == pytest.approx(np.mean((model.reconstruct(x) - x) ** 2), rel=1e-12)


def test_corruption_round_trips_through_save_load(tmp_path):
    for c in (GaussianNoise(0.2, rng=4), MaskingNoise(0.3), SaltAndPepper(0.2, low=-1, high=2)):
        model = numpyae.mlp_autoencoder([6, 3], rng=0, corruption=c)
        numpyae.save(model, tmp_path / "m.npz")
        back = numpyae.load(tmp_path / "m.npz")
        assert type(back.corruption) is type(c)
        assert repr(back.corruption) == repr(c)
        assert back.corruption.rng_seed == c.rng_seed   # the int seed (or None) is saved
