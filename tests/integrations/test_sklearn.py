"""numpyae.integrations.sklearn: numpyae's autoencoders as scikit-learn transformers.

scikit-learn's own estimator checks (parametrize_with_checks) run on every transformer; the
rest shows that the transformers train numpyae's own models with numpyae.fit (bit for bit),
follow the conventions (constructor arguments untouched, errors from fit naming the argument
before any work, random_state), work in Pipeline / GridSearchCV, and that numpyae itself
imports and works without scikit-learn.
"""
import os
import pathlib
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

import numpyae
from numpyae.integrations import sklearn as nsk
from numpyae.integrations.sklearn import (AutoencoderTransformer,
                                          ContractiveAutoencoderTransformer,
                                          DenoisingAutoencoderTransformer,
                                          SparseAutoencoderTransformer, VAETransformer,
                                          numpyae_rng)

ROOT = pathlib.Path(__file__).resolve().parents[2]

#: small models and few epochs: scikit-learn's checks fit each estimator ~60 times
CHECKED = [
    AutoencoderTransformer(code_dim=2, hidden=(8,), epochs=3),
    DenoisingAutoencoderTransformer(code_dim=3, epochs=3),
    SparseAutoencoderTransformer(code_dim=3, epochs=3),
    ContractiveAutoencoderTransformer(code_dim=3, epochs=3),
    VAETransformer(code_dim=2, hidden=(8,), epochs=3),
]


# Every check passes: none is marked as an expected failure (expected_failed_checks).
@parametrize_with_checks(CHECKED)
def test_scikit_learn_estimator_checks(estimator, check, monkeypatch):
    # check_array_api_input runs only where SciPy's array-API switch is set; with NumPy inputs
    # (all it uses for an estimator without array-API support) it runs here, not skipped
    monkeypatch.setenv("SCIPY_ARRAY_API", "1")
    check(estimator)


@pytest.fixture(scope="module")
def digits():
    X, y = numpyae.load_digits()
    return X[:300], y[:300]


# ---- no second training loop ----------------------------------------------------------------

def test_the_transformer_trains_numpyaes_own_model_bit_for_bit(digits):
    X, _ = digits
    est = AutoencoderTransformer(code_dim=3, hidden=(16,), epochs=4, batch_size=16, lr=1e-2,
                                 random_state=7).fit(X)
    model = numpyae.mlp_autoencoder([64, 16, 3], activation="relu", code_activation="identity",
                                    output_activation="identity", loss="mse", rng=7)
    history = numpyae.fit(model, X, numpyae.Adam(model.parameters(), lr=1e-2), epochs=4,
                          batch_size=16, rng=7, progress=False)
    assert type(est.model_) is numpyae.Autoencoder
    for (name, a), (_, b) in zip(est.model_.named_parameters(), model.named_parameters()):
        np.testing.assert_array_equal(a.value, b.value, err_msg=name)
    assert est.history_["loss"] == history["loss"] and est.loss_ == history["loss"][-1]
    np.testing.assert_array_equal(est.transform(X), model.encode(X))
    np.testing.assert_array_equal(est.inverse_transform(est.transform(X)), model.reconstruct(X))


@pytest.mark.parametrize("est, preset", [
    (DenoisingAutoencoderTransformer(code_dim=5, noise="gaussian", level=0.3, loss="bce",
                                     epochs=2, random_state=3),
     lambda: numpyae.DenoisingAutoencoder([64, 5], noise="gaussian", level=0.3, loss="bce",
                                          rng=3)),
    (SparseAutoencoderTransformer(code_dim=6, rho=0.05, epochs=2, random_state=3),
     lambda: numpyae.SparseAutoencoder([64, 6], rho=0.05, rng=3)),
    (ContractiveAutoencoderTransformer(code_dim=4, lam=0.5, loss="bce", epochs=2,
                                       random_state=3),
     lambda: numpyae.ContractiveAutoencoder([64, 4], lam=0.5, rng=3)),
], ids=["denoising", "sparse", "contractive-bce"])
def test_the_variants_wrap_numpyaes_presets(est, preset, digits):
    X, _ = digits
    est.fit(X)
    model = preset()
    numpyae.fit(model, X, numpyae.Adam(model.parameters(), lr=3e-3), epochs=2, batch_size=32,
                rng=3, progress=False)
    assert type(est.model_) is type(model)
    assert est.model_.get_config(None) == model.get_config(None)
    for (name, a), (_, b) in zip(est.model_.named_parameters(), model.named_parameters()):
        np.testing.assert_array_equal(a.value, b.value, err_msg=name)


def test_contractive_with_squared_error_is_the_presets_network_and_penalty(digits):
    X, _ = digits
    est = ContractiveAutoencoderTransformer(code_dim=4, lam=0.5, epochs=1, random_state=0).fit(X)
    model = est.model_
    assert [p.name for p in model.penalties] == ["contractive"] and model.penalties[0].lam == 0.5
    assert model.loss.name == "mse" and model.loss.reduction == "sum"
    assert model.code_layer.activation.name == "sigmoid"
    assert type(model.decoder.layers[-1]).__name__ == "TiedDense"   # tied, as the preset
    assert est.transform(X).min() > 0 and est.inverse_transform(est.transform(X)).max() < 1


def test_vae_transform_is_the_posterior_mean(digits):
    X, _ = digits
    est = VAETransformer(code_dim=2, hidden=(16,), likelihood="bernoulli", epochs=2,
                         random_state=0).fit(X)
    mu, logvar = est.model_.encode_distribution(X)
    np.testing.assert_array_equal(est.transform(X), mu)
    np.testing.assert_array_equal(est.transform(X), est.transform(X))   # no sampling
    assert np.all(np.exp(logvar) > 0)
    np.testing.assert_array_equal(est.inverse_transform(mu), est.model_.decode(mu))


# ---- scikit-learn's conventions ---------------------------------------------------------

def test_constructor_stores_arguments_unchanged_and_fit_refuses_them_before_any_work(
        digits, monkeypatch):
    X, _ = digits
    odd = AutoencoderTransformer(code_dim=-3, hidden="wide", epochs=0, lr=float("nan"))
    assert odd.get_params()["code_dim"] == -3 and odd.get_params()["hidden"] == "wide"
    calls = []
    monkeypatch.setattr(nsk, "numpyae_fit", lambda *a, **k: calls.append(1))
    for est, name in [(odd, "code_dim"),
                      (AutoencoderTransformer(hidden="wide"), "hidden"),
                      (AutoencoderTransformer(hidden=(8, 0)), "hidden[1]"),
                      (AutoencoderTransformer(epochs=0), "epochs"),
                      (AutoencoderTransformer(batch_size=2.5), "batch_size"),
                      (AutoencoderTransformer(lr=float("nan")), "lr"),
                      (AutoencoderTransformer(verbose="yes"), "verbose"),
                      (AutoencoderTransformer(dtype=np.int32), "dtype"),
                      (AutoencoderTransformer(random_state=-1), "random_state"),
                      (AutoencoderTransformer(random_state="seed"), "random_state"),
                      (AutoencoderTransformer(activation="swishy"), "activation"),
                      (AutoencoderTransformer(loss="hinge"), "loss"),
                      (DenoisingAutoencoderTransformer(level=1.5), "level"),
                      (DenoisingAutoencoderTransformer(noise="pink"), "noise"),
                      (SparseAutoencoderTransformer(rho=0.0), "rho"),
                      (ContractiveAutoencoderTransformer(lam=-1.0), "lam"),
                      (ContractiveAutoencoderTransformer(loss="hinge"), "loss"),
                      (VAETransformer(likelihood="poisson"), "likelihood"),
                      (VAETransformer(beta=-1.0), "beta")]:
        with pytest.raises((TypeError, ValueError), match=name.replace("[", r"\[")):
            est.fit(X)
        assert not hasattr(est, "model_")
    assert calls == []


def test_clone_get_params_and_set_params():
    est = DenoisingAutoencoderTransformer(code_dim=7, level=0.4, random_state=1)
    copy = clone(est)
    assert copy is not est and copy.get_params() == est.get_params()
    copy.set_params(level=0.1, code_dim=3)
    assert (copy.level, copy.code_dim, est.level, est.code_dim) == (0.1, 3, 0.4, 7)
    assert sorted(AutoencoderTransformer().get_params()) == sorted(
        ["code_dim", "hidden", "activation", "code_activation", "output_activation", "loss",
         "tied", "epochs", "batch_size", "lr", "random_state", "verbose", "dtype"])


def test_random_state_maps_to_numpyaes_rng():
    assert numpyae_rng(None) is None and numpyae_rng(5) == 5 and numpyae_rng(np.int64(5)) == 5
    gen = np.random.default_rng(0)
    assert numpyae_rng(gen) is gen
    rs = np.random.RandomState(0)
    first, second = numpyae_rng(rs), numpyae_rng(rs)
    assert isinstance(first, int) and first != second     # the state advances
    assert first == numpyae_rng(np.random.RandomState(0))
    for bad, error in ((True, TypeError), (-1, ValueError), (1.5, TypeError)):
        with pytest.raises(error, match="random_state"):
            numpyae_rng(bad)


def test_same_random_state_same_codes_and_a_randomstate_draws_a_seed(digits):
    X, _ = digits
    a = AutoencoderTransformer(code_dim=2, hidden=(8,), epochs=2, random_state=3).fit_transform(X)
    b = AutoencoderTransformer(code_dim=2, hidden=(8,), epochs=2, random_state=3).fit_transform(X)
    c = AutoencoderTransformer(code_dim=2, hidden=(8,), epochs=2,
                               random_state=np.random.RandomState(0)).fit_transform(X)
    seed = np.random.RandomState(0).randint(np.iinfo(np.int32).max)
    d = AutoencoderTransformer(code_dim=2, hidden=(8,), epochs=2, random_state=int(seed)
                               ).fit_transform(X)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(c, d)


def test_dtype_float64_is_kept_and_float32_is_the_default(digits):
    X, _ = digits
    est = AutoencoderTransformer(code_dim=2, hidden=(8,), epochs=1, random_state=0)
    assert est.fit_transform(X.astype(np.float64)).dtype == np.float32
    est.set_params(dtype=np.float64)
    assert est.fit_transform(X).dtype == np.float64
    assert est.__sklearn_tags__().transformer_tags.preserves_dtype == ["float64"]


def test_inverse_transform_wants_codes_of_code_dim_columns(digits):
    X, _ = digits
    est = AutoencoderTransformer(code_dim=3, hidden=(8,), epochs=1, random_state=0).fit(X)
    assert est.inverse_transform(np.zeros((2, 3))).shape == (2, 64)
    with pytest.raises(ValueError, match="codes of 3 columns.*got 64"):
        est.inverse_transform(X)
    assert list(est.get_feature_names_out()) == ["autoencodertransformer0",
                                                 "autoencodertransformer1",
                                                 "autoencodertransformer2"]


def test_bce_refuses_data_outside_0_1_with_numpyaes_message(digits):
    X, _ = digits
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        AutoencoderTransformer(loss="bce", epochs=1).fit(X * 16)


def test_the_fitted_model_is_saveable_with_numpyae(digits, tmp_path):
    X, _ = digits
    est = SparseAutoencoderTransformer(code_dim=5, epochs=1, random_state=0).fit(X)
    numpyae.save(est.model_, tmp_path / "sparse.npz")
    loaded = numpyae.load(tmp_path / "sparse.npz")
    np.testing.assert_array_equal(loaded.encode(X), est.transform(X))


def test_pipeline_and_grid_search_over_code_size_and_noise_level(digits):
    X, y = digits
    pipe = Pipeline([("ae", DenoisingAutoencoderTransformer(hidden=(32,), activation="relu",
                                                            code_activation="identity",
                                                            epochs=5, random_state=0)),
                     ("knn", KNeighborsClassifier(5))])
    grid = GridSearchCV(pipe, {"ae__code_dim": [2, 8], "ae__level": [0.0, 0.3]}, cv=2).fit(X, y)
    assert grid.best_params_["ae__code_dim"] in (2, 8)
    assert len(grid.cv_results_["mean_test_score"]) == 4
    scores = dict(zip([p["ae__code_dim"] for p in grid.cv_results_["params"]],
                      grid.cv_results_["mean_test_score"]))
    assert scores[8] > scores[2]              # 8-d codes keep more of the digits than 2-d
    assert grid.best_estimator_.named_steps["ae"].model_.corruption.p == \
        grid.best_params_["ae__level"]


# ---- numpyae without scikit-learn -------------------------------------------------------

def test_numpyae_imports_and_works_without_scikit_learn(tmp_path):
    """Every numpyae module imports with scikit-learn blocked (but the optional bridge, whose
    ImportError names the extra to install), a model trains, and the command line runs; its
    `study reduction` says in one line what to install."""
    script = textwrap.dedent(f"""
        import importlib, pkgutil, sys
        sys.modules["sklearn"] = None           # `import sklearn` now raises ImportError
        import numpyae
        skipped = []
        for info in pkgutil.walk_packages(numpyae.__path__, "numpyae."):
            if info.name in ("numpyae.integrations.sklearn", "numpyae.__main__"):
                skipped.append(info.name)   # the bridge needs scikit-learn; __main__ runs
                continue
            importlib.import_module(info.name)
        assert sorted(skipped) == ["numpyae.__main__", "numpyae.integrations.sklearn"]
        try:
            import numpyae.integrations.sklearn
        except ImportError as exc:
            print("IMPORT ERROR:", exc)
        X, _ = numpyae.load_digits()
        model = numpyae.mlp_autoencoder([64, 8], loss="mse", rng=0)
        h = numpyae.fit(model, X[:200], numpyae.Adam(model.parameters()), epochs=2,
                        progress=False)
        assert h["loss"][-1] < h["loss"][0]
        from numpyae.apps import cli
        print("TRAIN", cli.main(["train", "--epochs", "1", "--quiet", "--out", {str(tmp_path)!r}]))
        print("REDUCTION", cli.main(["study", "reduction", "--out", {str(tmp_path)!r}]))
        print("SKLEARN LOADED", any(m == "sklearn" or m.startswith("sklearn.")
                                    for m, v in sys.modules.items() if v is not None))
    """)
    env = {**os.environ, "MPLBACKEND": "Agg", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr
    assert 'IMPORT ERROR: numpyae.integrations.sklearn needs scikit-learn >= 1.6' in done.stdout
    assert 'pip install "numpyae[sklearn]"' in done.stdout
    assert "TRAIN 0" in done.stdout and "REDUCTION 2" in done.stdout
    assert "SKLEARN LOADED False" in done.stdout
    errors = [line for line in done.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and "Traceback" not in done.stderr, done.stderr
    assert errors[0].startswith('numpyae study: error: study reduction needs scikit-learn >= '
                                '1.6: pip install "numpyae[sklearn]"'), errors
