"""Adversarial autoencoder (numpyae.models.aae): each phase's gradients, the three-optimizer
step, optimizer state, save/load, validation, a short training whose codes approach the prior.
(The priors are tested in tests/nn/test_priors.py, mmd2 and prior_distance in
tests/analysis/test_metrics.py.)"""
import numpy as np
import pytest

import numpyae as nae
from numpyae.analysis.metrics import prior_distance
from numpyae.models import AAE, AAEPhase, PhaseOptimizers, mlp_aae
from numpyae.nn.layers import Dense, Sequential
from numpyae.nn.priors import GaussianMixture, get_prior
from numpyae.teaching.gradcheck import check_model

TOL = 1e-7
PHASES = ("reconstruction", "discriminator", "generator")


def unit_inputs(seed, n=5, d=6):
    return np.random.default_rng(seed).uniform(0.05, 0.95, size=(n, d))


def small_aae(seed, prior="mixture", loss="bce"):
    return mlp_aae([6, 5, 2], discriminator=(4,), prior=prior, activation="tanh",
                   disc_activation="tanh", loss=loss, rng=seed, dtype=np.float64)


# ---- gradient checks of each phase ----------------------------------------------------------

@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("prior", ["gaussian", "mixture"])
@pytest.mark.parametrize("phase", PHASES)
def test_each_phase_gradients(seed, prior, phase):
    model = small_aae(seed, prior)
    report = check_model(AAEPhase(model, phase), unit_inputs(seed))
    assert report.max_error <= TOL, str(report)
    checked = {r.name.split(".")[0] for r in report.rows}
    assert checked == set(AAEPhase._CHILDREN[phase])


def test_mse_reconstruction_phase_gradients():
    model = small_aae(0, "gaussian", loss="mse")
    assert check_model(AAEPhase(model, "reconstruction"), unit_inputs(0)).max_error <= TOL


def test_discriminator_phase_sees_fixed_prior_samples():
    model = small_aae(0)
    X = unit_inputs(0)
    state = model.rng.bit_generator.state
    a = model.phase_loss("discriminator", X)
    model.rng.bit_generator.state = state
    assert model.phase_loss("discriminator", X) == a
    assert model.phase_loss("discriminator", X) != a  # fresh prior samples otherwise


# ---- the three-phase step -----------------------------------------------------------------

def test_train_step_runs_three_phases_with_their_own_optimizers():
    model = mlp_aae([6, 5, 2], discriminator=(4,), rng=0)
    opts = model.make_optimizers(lr=1e-2)
    before = {n: p.value.copy() for n, p in model.named_parameters_unique()}
    terms = model.train_step(unit_inputs(0).astype(np.float32), None, opts)
    assert set(terms) == {"loss", "reconstruction", "discriminator", "generator"}
    assert terms["loss"] == terms["reconstruction"]
    assert (opts.reconstruction.t, opts.discriminator.t, opts.generator.t) == (1, 1, 1)
    changed = {n.split(".")[0] for n, p in model.named_parameters_unique()
               if not np.array_equal(before[n], p.value)}
    assert changed == {"encoder", "decoder", "discriminator"}
    # the generator optimizer moves the encoder only; the discriminator's optimizer D only
    assert {id(p) for p in opts.generator.parameters} == {id(p) for p in model.encoder.parameters()}
    assert {id(p) for p in opts.discriminator.parameters} == \
        {id(p) for p in model.discriminator.parameters()}
    with pytest.raises(TypeError, match="PhaseOptimizers"):
        model.train_step(unit_inputs(0).astype(np.float32), None, nae.Adam(model.parameters()))
    with pytest.raises(TypeError, match="train_step"):
        opts.step()


def test_phase_optimizers_state_dict_roundtrip():
    model = mlp_aae([6, 5, 2], discriminator=(4,), rng=0)
    opts = model.make_optimizers()
    X = unit_inputs(0).astype(np.float32)
    for _ in range(3):
        model.train_step(X, None, opts)
    state = opts.state_dict()
    assert all(k.split(".")[0] in PHASES for k in state)
    fresh = model.make_optimizers()
    fresh.load_state_dict(state)
    assert fresh.generator.t == 3
    np.testing.assert_array_equal(fresh.discriminator.m[0], opts.discriminator.m[0])


def test_fit_drives_the_aae_and_codes_approach_the_prior():
    X, _ = nae.load_digits()
    X_tr, X_te = X[:1400], X[1400:]
    model = mlp_aae([64, 64, 2], discriminator=(32, 32), prior="mixture", rng=0)
    h = nae.fit(model, X_tr, model.make_optimizers(lr=3e-3, adversarial_lr=3e-3), epochs=8,
                batch_size=32, validation_data=(X_te,), rng=0, progress=False)
    for key in ("reconstruction", "discriminator", "generator", "val_reconstruction"):
        assert key in h and len(h[key]) == 8
    assert h["val_reconstruction"][-1] < h["val_reconstruction"][0]
    plain = nae.mlp_autoencoder([64, 64, 2], activation="relu", loss="bce", rng=0)
    nae.fit(plain, X_tr, nae.Adam(plain.parameters(), lr=3e-3), epochs=8, batch_size=32,
            rng=0, progress=False)
    aae_mmd = prior_distance(model.encode(X_te), model.prior, rng=1)["mmd"]
    plain_mmd = prior_distance(plain.encode(X_te), model.prior, rng=1)["mmd"]
    assert aae_mmd < plain_mmd


# ---- save/load and validation -------------------------------------------------------------

def test_save_load_roundtrip(tmp_path):
    model = mlp_aae([6, 5, 2], discriminator=(4,), prior="mixture", rng=0)
    other = nae.load(nae.save(model, tmp_path / "aae.npz"))
    assert isinstance(other, AAE) and isinstance(other.prior, GaussianMixture)
    X = unit_inputs(0).astype(np.float32)
    np.testing.assert_array_equal(model.reconstruct(X), other.reconstruct(X))
    np.testing.assert_array_equal(model.encode(X), other.encode(X))
    assert other.sample(3, rng=0).shape == (3, 6)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="prior"):
        mlp_aae([6, 2], prior="laplace")
    with pytest.raises(ValueError, match="dim must be >= 2"):
        get_prior("mixture", 1)
    with pytest.raises(ValueError, match="discriminator must map 2 -> 1"):
        AAE(Sequential([Dense(6, 2)]), Sequential([Dense(2, 6)]), Sequential([Dense(2, 3)]))
    with pytest.raises(ValueError, match="decoder"):
        AAE(Sequential([Dense(6, 2)]), Sequential([Dense(2, 5)]), Sequential([Dense(2, 1)]))
    with pytest.raises(ValueError, match="phase"):
        AAEPhase(small_aae(0), "encoder")
    with pytest.raises(TypeError, match="Optimizer"):
        PhaseOptimizers(None, None, None)
    with pytest.raises(ValueError, match="X must have 6 features"):
        mlp_aae([6, 2]).encode(np.zeros((2, 4)))


def test_cli_aae_mixture(tmp_path, capsys):
    from numpyae.apps.cli import main
    code = main(["train", "--model", "aae", "--prior", "mixture", "--epochs", "3", "--quiet",
                 "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert "MMD^2" in out and "unregularized autoencoder" in out
    assert code in (0, 1)  # 3 epochs is a smoke test; the full command's verdict is in the report
    run = next(tmp_path.iterdir())
    assert (run / "codes_over_prior.png").stat().st_size > 0


def test_aae_evaluate_is_deterministic_and_leaves_the_training_generator_alone():
    """evaluate's discriminator term needs prior samples: they come from a Generator seeded with
    evaluate's rng (default 0), not from the model's own, which training draws from."""
    model = small_aae(0)
    X = unit_inputs(1, n=30)
    state = model.rng.bit_generator.state
    assert model.evaluate(X) == model.evaluate(X)
    assert model.rng.bit_generator.state == state
    assert model.evaluate(X, rng=3)["discriminator"] != model.evaluate(X)["discriminator"]


def test_aae_refuses_y_and_data_outside_the_bce_range():
    model = small_aae(0)
    X = unit_inputs(0)
    with pytest.raises(ValueError, match="y must be None: AAE takes no labels"):
        model.evaluate(X, np.zeros(len(X), int))
    with pytest.raises(ValueError, match=r"X must lie in \[0, 1\] for the binary cross-entropy"):
        nae.fit(model, X * 255, model.make_optimizers(), epochs=1, progress=False)
