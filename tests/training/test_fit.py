"""fit() (numpyae.training.fit): minibatch training of any Model, validation, reproducibility
from rng, non-finite values, argument checks. (History and EarlyStopping:
tests/training/test_history.py; checkpoints: tests/training/test_checkpointing.py.)"""
import time

import numpy as np
import pytest

from numpyae import (SGD, Adam, NonFiniteError, fit, load_digits, mlp_autoencoder,
                     train_validation_split)


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits()
    return train_validation_split(X, y, fraction=0.2, rng=0)


def test_default_model_learns_digits_quickly(digits):
    """The promise of the README: the default autoencoder cuts validation reconstruction error
    at least 5x below the mean-digit baseline in a few seconds."""
    X_tr, X_va, _, _ = digits
    model = mlp_autoencoder([64, 32, 16], activation="relu", loss="bce", rng=0)
    baseline = float(np.mean((X_va - X_tr.mean(0)) ** 2))
    start = time.perf_counter()
    history = fit(model, X_tr, Adam(model.parameters(), lr=3e-3), epochs=40, batch_size=32,
                  validation_data=(X_va,), rng=0, progress=False)
    elapsed = time.perf_counter() - start
    mse = float(np.mean((model.reconstruct(X_va) - X_va) ** 2))
    assert mse < baseline / 5, (mse, baseline)
    assert history["val_loss"][-1] < history["val_loss"][0]
    assert elapsed < 30


def test_validation_split_and_progress_bar(digits, capsys):
    X_tr, _, _, _ = digits
    model = mlp_autoencoder([64, 8], rng=0)
    h = fit(model, X_tr[:100], Adam(model.parameters()), epochs=2, validation_split=0.25,
            progress=True)
    assert "val_loss" in h
    assert "epochs" in capsys.readouterr().err  # tqdm writes to stderr


def test_same_seed_same_result(digits):
    X_tr = digits[0][:100]
    finals = []
    for _ in range(2):
        model = mlp_autoencoder([64, 8], rng=1)
        fit(model, X_tr, Adam(model.parameters()), epochs=2, rng=5, progress=False)
        finals.append(model.encoder[0].W.value.copy())
    assert np.array_equal(*finals)


def test_nan_stops_training_and_keeps_the_last_good_parameters(digits):
    X_tr = digits[0][:64]
    model = mlp_autoencoder([64, 8], rng=0)
    opt = SGD(model.parameters(), lr=0.1)

    fit(model, X_tr, opt, epochs=1, batch_size=32, progress=False)
    good = [p.value.copy() for p in model.parameters()]
    X_bad = X_tr.copy()
    model.encoder[0].W.value[0, 0] = np.inf  # poison a parameter: the next loss is NaN
    good[0][0, 0] = np.inf
    with pytest.raises(NonFiniteError, match=r"epoch 1, step 1 of 2.*(loss|gradient)"), \
            np.errstate(invalid="ignore", over="ignore"):
        fit(model, X_bad, opt, epochs=3, batch_size=32, progress=False)
    for p, g in zip(model.parameters(), good):
        assert np.array_equal(p.value, g)  # the optimizer never stepped


def test_exploding_learning_rate_is_reported_with_epoch_and_step(digits):
    X_tr = digits[0][:256]
    # a linear autoencoder with a far too large step size diverges geometrically
    model = mlp_autoencoder([64, 32, 16], activation="identity", loss="mse",
                            output_activation="identity", rng=0)
    with pytest.raises(NonFiniteError, match=r"training stopped at epoch \d+, step \d+"):
        with np.errstate(all="ignore"):
            fit(model, X_tr, SGD(model.parameters(), lr=50.0), epochs=50, batch_size=32, progress=False)
    assert all(np.isfinite(p.value).all() for p in model.parameters())


@pytest.mark.parametrize("kwargs, exc, text", [
    ({"epochs": 0}, ValueError, "epochs"),
    ({"epochs": 2.5}, TypeError, "epochs"),
    ({"batch_size": 0}, ValueError, "batch_size"),
    ({"batch_size": -3}, ValueError, "batch_size"),
    ({"validation_split": 1.5}, ValueError, "validation_split"),
    ({"validation_split": 0.2, "validation_data": (np.zeros((2, 64)),)}, ValueError, "not both"),
    ({"validation_data": np.zeros((2, 64))}, TypeError, "validation_data"),
    ({"validation_data": (np.zeros((2, 5)),)}, ValueError, r"validation_data\[0\] must have 64"),
    ({"rng": "x"}, TypeError, "rng must be None, an int seed or an np.random.Generator"),
    ({"rng": -1}, ValueError, "rng must be a non-negative int seed"),
    ({"seed": 0}, TypeError, "unexpected keyword argument 'seed'"),   # renamed to rng
    ({"callbacks": [print]}, TypeError, r"callbacks\[0\]"),
])
def test_fit_argument_errors(digits, kwargs, exc, text):
    model = mlp_autoencoder([64, 8], rng=0)
    with pytest.raises(exc, match=text):
        fit(model, digits[0][:10], Adam(model.parameters()), progress=False, **kwargs)


def test_fit_rejects_bad_data_and_models(digits):
    model = mlp_autoencoder([64, 8], rng=0)
    with pytest.raises(ValueError, match="X must have 64 features"):
        fit(model, np.zeros((5, 63)), Adam(model.parameters()), progress=False)
    with pytest.raises(ValueError, match="NaN"):
        fit(model, np.full((5, 64), np.nan), Adam(model.parameters()), progress=False)
    with pytest.raises(TypeError, match="model must be a numpyae Model"):
        fit("model", digits[0], Adam(model.parameters()), progress=False)


def test_float64_data_trains_a_float32_model_in_float32(digits):
    model = mlp_autoencoder([64, 8], rng=0)
    fit(model, digits[0][:64].astype(np.float64), Adam(model.parameters()), epochs=1, progress=False)
    assert all(p.value.dtype == np.float32 for p in model.parameters())
