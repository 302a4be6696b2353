"""fit() (numpyae.training.fit): minibatch training of any Model, validation, reproducibility
from rng, non-finite values, argument checks. (History and EarlyStopping:
tests/training/test_history.py; checkpoints: tests/training/test_checkpointing.py.)"""
import os
import sys
import time
import types
import warnings

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


# ---- the optimizer must update exactly the model's parameters ------------------------------------

def test_fit_refuses_an_optimizer_over_another_models_parameters(digits):
    """Reproducer: fit() given an optimizer over another model's parameters trained nothing and
    said nothing."""
    model, other = mlp_autoencoder([64, 8], rng=0), mlp_autoencoder([64, 8], rng=1)
    before = [p.value.copy() for p in model.parameters()]
    with pytest.raises(ValueError, match=r"optimizer must update exactly the model's parameters: "
                                         r"the model has 4 Parameters, the optimizer updates 4, of "
                                         r"which 0 are the model's \(missing: \['encoder\.0\.W'"):
        fit(model, digits[0][:32], Adam(other.parameters()), epochs=1, progress=False)
    assert all(np.array_equal(p.value, b) for p, b in zip(model.parameters(), before))


def test_fit_refuses_an_optimizer_over_part_of_the_model_or_more(digits):
    model, other = mlp_autoencoder([64, 8], rng=0), mlp_autoencoder([64, 8], rng=1)
    with pytest.raises(ValueError, match=r"updates 2, of which 2 are the model's \(missing: "
                                         r"\['decoder\.0\.W', 'decoder\.0\.b'\]\)"):
        fit(model, digits[0][:32], Adam(model.encoder.parameters()), epochs=1, progress=False)
    with pytest.raises(ValueError, match=r"updates 8, of which 4 are the model's and 4 belong to "
                                         r"something else"):
        fit(model, digits[0][:32], Adam(model.parameters() + other.parameters()), epochs=1,
            progress=False)


def test_fit_checks_the_union_of_the_aaes_phase_optimizers(digits):
    from numpyae import mlp_aae
    aae, other = mlp_aae([64, 8, 2], rng=0), mlp_aae([64, 8, 2], rng=1)
    fit(aae, digits[0][:32], aae.make_optimizers(), epochs=1, progress=False)   # its own: fine
    with pytest.raises(ValueError, match=r"the model has \d+ Parameters, the optimizer updates "
                                         r"\d+, of which 0 are the model's.*make_optimizers"):
        fit(aae, digits[0][:32], other.make_optimizers(), epochs=1, progress=False)


def test_adam_overflowing_its_second_moment_is_reported(digits):
    """Reproducer: with inputs of 1e11 and MSE, Adam's v overflowed to inf in 186 entries; those
    weights froze for good and no NonFiniteError was raised (the update guard reads the
    optimizer's state through state_dict(), which returns the optimizer's own arrays)."""
    model = mlp_autoencoder([64, 16], loss="mse", output_activation="identity", rng=0)
    X = digits[0][:64] * 1e11
    with pytest.raises(NonFiniteError, match="second moment v"), np.errstate(all="ignore"):
        fit(model, X, Adam(model.parameters()), epochs=3, progress=False)


# ---- flags and the progress bar ----------------------------------------------------------------

@pytest.mark.parametrize("kwargs, text", [
    ({"shuffle": "no"}, "shuffle must be True or False, got str 'no'"),
    ({"shuffle": 0}, "shuffle must be True or False"),
    ({"progress": "yes"}, "progress must be True or False"),
])
def test_fit_flags_must_be_bools(digits, kwargs, text):
    model = mlp_autoencoder([64, 8], rng=0)
    with pytest.raises(TypeError, match=text):
        fit(model, digits[0][:10], Adam(model.parameters()), **dict({"progress": False}, **kwargs))


def _pretend_a_notebook_without_ipywidgets(monkeypatch):
    """What a plain Jupyter kernel looks like to tqdm.autonotebook, with ipywidgets missing."""
    shell = types.ModuleType("ipykernel.zmqshell")
    ipython = types.ModuleType("IPython")

    class ZMQInteractiveShell:
        pass
    ipython.get_ipython = ZMQInteractiveShell
    monkeypatch.setitem(sys.modules, "ipykernel.zmqshell", shell)
    monkeypatch.setitem(sys.modules, "IPython", ipython)
    monkeypatch.setitem(sys.modules, "ipywidgets", None)           # import ipywidgets fails
    for name in ("tqdm.auto", "tqdm.autonotebook", "tqdm.notebook"):
        monkeypatch.delitem(sys.modules, name, raising=False)      # imported afresh
    for env in [k for k in os.environ if k == "QT_API" or k.startswith("SPYDER")]:
        monkeypatch.delenv(env)


def test_progress_bar_without_ipywidgets_emits_no_warning(digits, monkeypatch, capsys):
    """Reproducer: the README example in a plain Jupyter kernel printed
    "TqdmWarning: IProgress not found" (ipywidgets absent)."""
    _pretend_a_notebook_without_ipywidgets(monkeypatch)
    from numpyae.training.fit import widgets_available
    assert not widgets_available()
    model = mlp_autoencoder([64, 8], rng=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit(model, digits[0][:64], Adam(model.parameters()), epochs=2, progress=True)
    assert [str(w.message) for w in caught] == []
    assert "epochs" in capsys.readouterr().err            # the text bar was drawn


def test_progress_bar_with_an_outdated_ipywidgets_emits_no_warning(digits, monkeypatch, capsys):
    """ipywidgets importable by name but without the widget tqdm needs: tqdm.auto falls back to
    text, and its warning is not shown."""
    _pretend_a_notebook_without_ipywidgets(monkeypatch)
    from numpyae.training import fit as fit_module
    monkeypatch.setattr(fit_module, "widgets_available", lambda: True)
    model = mlp_autoencoder([64, 8], rng=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit(model, digits[0][:64], Adam(model.parameters()), epochs=1, progress=True)
    assert [str(w.message) for w in caught] == []
    assert "epochs" in capsys.readouterr().err
