"""Numerical trouble in training, tried systematically: learning rates so large that training
diverges (Hypothesis), and a single update that overflows the parameters.

Training that diverges must stop with a NonFiniteError naming the epoch and step, or finish;
either way no parameter is ever NaN or inf. An update that overflows a parameter is undone
(models.base.guarded_update), for the base Model's train_step and the VAE's alike. Both count
in the robustness tally (tests/robustness/conftest.py) as "fit (diverging)".
"""
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import numpyae
from numpyae import SGD, NonFiniteError, fit, mlp_autoencoder
from robustness_helpers import CASES, OUTCOMES, SETTINGS, time_limit


# ---- training that diverges stops with a NonFiniteError, last good parameters kept ----------------

@settings(max_examples=40, **SETTINGS)
@given(seed=st.integers(0, 99), lr=st.floats(1e4, 1e12), loss=st.sampled_from(["bce", "mse"]))
def test_divergence_is_caught(seed, lr, loss):
    CASES["fit (diverging)"] += 1
    model = mlp_autoencoder([6, 5, 3], activation="relu", code_activation="identity", loss=loss,
                            output_activation="identity", rng=seed)
    X = np.random.default_rng(seed).random((16, 6), dtype=np.float32)
    opt = SGD(model.parameters(), lr=lr)
    with np.errstate(all="ignore"), time_limit():
        try:
            fit(model, X, opt, epochs=30, batch_size=4, rng=seed, progress=False)
            OUTCOMES["ok"] += 1
        except NonFiniteError as exc:
            assert re.search(r"epoch \d+, step \d+ of 4", str(exc)), str(exc)
            OUTCOMES["refused"] += 1
    for p in model.parameters():  # either way, never NaN parameters
        assert np.isfinite(p.value).all()


@pytest.mark.parametrize("kind", ["autoencoder", "vae"])
def test_overflowing_last_update_is_caught_and_undone(kind):
    """An update that overflows is undone (models.base.guarded_update): the VAE's train_step
    goes through the same guard as the base Model's."""
    CASES["fit (diverging)"] += 1
    model = (mlp_autoencoder([6, 5, 3], rng=0) if kind == "autoencoder"
             else numpyae.mlp_vae([6, 5, 2], rng=0))
    before = [p.value.copy() for p in model.parameters()]
    X = np.random.default_rng(0).random((8, 6), dtype=np.float32)
    with np.errstate(all="ignore"), pytest.raises(NonFiniteError,
                                                   match=r"epoch 1, step 1 of 1: .*(overflow|NaN)"):
        fit(model, X, SGD(model.parameters(), lr=1e300), epochs=1, batch_size=8, progress=False)
    for p, b in zip(model.parameters(), before):
        np.testing.assert_array_equal(p.value, b)
    OUTCOMES["refused"] += 1
