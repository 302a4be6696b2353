"""Weight initializers (numpyae.nn.initializers): scales, reproducibility from the seed, and the
default that follows the activation."""
import numpy as np
import pytest

from numpyae import Dense


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
