"""VAE and CVAE: gradients (the noise fixed), the KL term, warm-up, inference helpers,
importance-sampled log p(x), save/load, validation, and a short training run. (The
likelihoods are tested in tests/nn/test_likelihoods.py.)"""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import numpyae as nae
from numpyae.models import CVAE, VAE, KLTerm, mlp_cvae, mlp_vae
from numpyae.models.vae import LOGVAR_MAX, LOGVAR_MIN
from numpyae.nn.layers import Dense, Sequential
from numpyae.nn.likelihoods import Gaussian
from numpyae.teaching.gradcheck import check_model

TOL = 1e-7


def unit_inputs(seed, n=5, d=6):
    return np.random.default_rng(seed).uniform(0.05, 0.95, size=(n, d))


def small_vae(seed, likelihood="bernoulli", **kw):
    return mlp_vae([6, 5, 3], activation="tanh", likelihood=likelihood, rng=seed,
                   dtype=np.float64, **kw)


def small_cvae(seed, **kw):
    return mlp_cvae([6, 5, 2], 3, activation="tanh", rng=seed, dtype=np.float64, **kw)


# ---- gradient checks (float64, eps held fixed by the checker) ----------------------------

@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian", "gaussian_learned"])
def test_vae_loss_gradients(seed, likelihood):
    model = small_vae(seed, likelihood, beta=0.6)
    if likelihood == "gaussian_learned":  # spread the per-feature variances
        model.likelihood.u.value[:] = np.random.default_rng(seed).normal(0, 1, 6)
    report = check_model(model, unit_inputs(seed))
    assert report.max_error <= TOL, str(report)
    names = {r.name for r in report.rows}
    assert {"mean_head.W", "logvar_head.W", "decoder.1.W"} <= names
    assert ("likelihood.u" in names) == (likelihood == "gaussian_learned")


@pytest.mark.parametrize("seed", range(4))
def test_vae_kl_term_alone_gradients(seed):
    model = small_vae(seed)
    # spread mu and log-variance so the KL gradient is not near zero
    model.logvar_head.b.value[:] = np.random.default_rng(seed).normal(0, 1, 3)
    report = check_model(KLTerm(model), unit_inputs(seed))
    assert report.max_error <= TOL, str(report)
    assert report["encoder.0.W"].max_error <= TOL
    assert np.all(report["decoder.0.W"].analytic == 0)  # the KL does not depend on the decoder


@pytest.mark.parametrize("seed", range(4))
def test_cvae_loss_and_kl_gradients(seed):
    model = small_cvae(seed, beta=1.3)
    X, y = unit_inputs(seed), np.random.default_rng(seed).integers(3, size=5)
    assert check_model(model, X, y).max_error <= TOL
    assert check_model(KLTerm(model), X, y).max_error <= TOL


def test_eps_is_kept_and_backward_is_repeatable():
    model = small_vae(0)
    X = unit_inputs(0)
    state = model.rng.bit_generator.state
    model.loss_and_grad(X)
    eps1, g1 = model.noise.copy(), [p.grad.copy() for p in model.parameters()]
    model.rng.bit_generator.state = state
    model.loss_and_grad(X)
    assert np.array_equal(eps1, model.noise)
    assert all(np.array_equal(a, p.grad) for a, p in zip(g1, model.parameters()))
    # z was built from the kept eps
    mu, lv = model.encode_distribution(X)
    assert eps1.shape == mu.shape


def test_backward_weights_split_the_gradient_into_its_two_terms():
    """backward(rec_weight=a, kl_weight=b) is the gradient of a R + b KL: linear in (a, b), and
    the default is the gradient of "loss" = R + w KL."""
    model = small_vae(2, beta=0.7)
    X = unit_inputs(2)
    state = model.rng.bit_generator.state

    def grads(**kw):
        model.zero_grad()
        model.rng.bit_generator.state = state
        model.forward_loss(X)
        model.backward(**kw)
        return [p.grad.copy() for p in model.parameters()]

    default = grads()
    rec, kl = grads(kl_weight=0.0), grads(rec_weight=0.0, kl_weight=1.0)
    mixed = grads(rec_weight=2.0, kl_weight=0.25)
    for d, r, k, m in zip(default, rec, kl, mixed):
        np.testing.assert_allclose(d, r + 0.7 * k, rtol=1e-9, atol=1e-13)
        np.testing.assert_allclose(m, 2.0 * r + 0.25 * k, rtol=1e-9, atol=1e-13)


# ---- the KL term ------------------------------------------------------------------------

@settings(max_examples=30)
@given(mu=arrays(np.float64, (3,), elements=st.floats(-3, 3)),
       lv=arrays(np.float64, (3,), elements=st.floats(-3, 2)),
       seed=st.integers(0, 2**31 - 1))
def test_analytic_kl_matches_monte_carlo(mu, lv, seed):
    """KL(N(mu, e^lv) || N(0, I)) = 0.5 sum (mu^2 + e^lv - 1 - lv) equals the Monte-Carlo mean of
    log q(z) - log p(z), z ~ q, within 4 standard errors."""
    analytic = 0.5 * np.sum(mu ** 2 + np.exp(lv) - 1 - lv)
    n = 20000
    eps = np.random.default_rng(seed).standard_normal((n, 3))
    z = mu + np.exp(0.5 * lv) * eps
    log_q = -0.5 * np.sum(eps ** 2 + lv, axis=1)
    log_p = -0.5 * np.sum(z ** 2, axis=1)          # the 2 pi terms cancel
    samples = log_q - log_p
    se = samples.std(ddof=1) / math.sqrt(n)
    assert abs(samples.mean() - analytic) <= 4 * se + 1e-12


def test_model_kl_term_is_the_analytic_kl():
    model = small_vae(3)
    X = unit_inputs(3)
    state = model.rng.bit_generator.state
    kl = model.forward_loss(X)["kl"]
    model.rng.bit_generator.state = state
    mu, lv = model.encode_distribution(X)
    assert kl == pytest.approx(np.mean(0.5 * np.sum(mu ** 2 + np.exp(lv) - 1 - lv, axis=1)), rel=1e-12)


# ---- stability ---------------------------------------------------------------------------

@pytest.mark.parametrize("bias", [-200.0, 200.0])
def test_logvar_clamp_keeps_loss_and_gradients_finite(bias):
    model = mlp_vae([6, 5, 3], rng=0)
    model.logvar_head.b.value[:] = bias       # raw log-variance far outside [-30, 20]
    model.mean_head.b.value[:] = 1e3          # large |mu|
    terms = model.loss_and_grad(unit_inputs(0).astype(np.float32))
    assert all(np.isfinite(v) for v in terms.values())
    assert all(np.isfinite(p.grad).all() for p in model.parameters())
    # outside the clamp the gradient with respect to the raw log-variance is exactly zero
    assert np.all(model.logvar_head.b.grad == 0)
    _, lv = model.encode_distribution(unit_inputs(0))
    assert np.all((lv == LOGVAR_MIN) | (lv == LOGVAR_MAX))


def test_float32_training_path_stays_float32():
    model = mlp_vae([6, 5, 3], rng=0, likelihood="gaussian_learned")
    X = unit_inputs(0).astype(np.float32)
    model.loss_and_grad(X)
    assert model.noise.dtype == np.float32
    assert all(p.grad.dtype == np.float32 for p in model.parameters())
    assert model.sample(3).dtype == np.float32
    assert model.log_likelihood(X, K=4).dtype == np.float32


# ---- beta and KL warm-up; History -----------------------------------------------------------

def test_beta_and_warmup_schedule():
    model = small_vae(0, beta=2.0, kl_warmup=4)
    X = unit_inputs(0)
    weights = []
    opt = nae.SGD(model.parameters(), lr=1e-3)
    for _ in range(6):
        weights.append(model.kl_weight)
        terms = model.train_step(X, None, opt)
        assert terms["loss"] == pytest.approx(terms["reconstruction"] + weights[-1] * terms["kl"])
        assert terms["neg_elbo"] == pytest.approx(terms["reconstruction"] + terms["kl"])
    assert weights == pytest.approx([0.5, 1.0, 1.5, 2.0, 2.0, 2.0])
    assert model.step == 6


def test_history_records_reconstruction_and_kl_separately():
    X, _ = nae.load_digits()
    model = mlp_vae([64, 16, 2], rng=0)
    h = nae.fit(model, X[:200], nae.Adam(model.parameters(), lr=3e-3), epochs=2, batch_size=50,
                validation_data=(X[200:300],), rng=0, progress=False)
    for key in ("reconstruction", "kl", "neg_elbo", "val_reconstruction", "val_kl"):
        assert key in h and len(h[key]) == 2
    assert h["loss"][-1] == pytest.approx(h["reconstruction"][-1] + h["kl"][-1], rel=1e-5)


def test_negative_elbo_falls_on_digits():
    X, _ = nae.load_digits()
    X_tr, X_te = X[:1400], X[1400:]
    model = mlp_vae([64, 64, 2], rng=0)
    before = model.evaluate(X_te)["neg_elbo"]
    h = nae.fit(model, X_tr, nae.Adam(model.parameters(), lr=3e-3), epochs=8, batch_size=32,
                validation_data=(X_te,), rng=0, progress=False)
    assert h["val_neg_elbo"][-1] < h["val_neg_elbo"][0] < before
    assert h["val_neg_elbo"][-1] < 30  # the CLI's 60 epochs reach ~24.5


# ---- inference helpers --------------------------------------------------------------------

def test_sample_reconstruct_encode_interpolate():
    model = small_vae(0)
    X = unit_inputs(0)
    S = model.sample(7, rng=1)
    assert S.shape == (7, 6) and np.all((S >= 0) & (S <= 1))
    np.testing.assert_array_equal(S, model.sample(7, rng=1))
    mu = model.encode(X)
    assert mu.shape == (5, 3)
    np.testing.assert_allclose(model.reconstruct(X), model.decode(mu))
    path = model.interpolate(X[0], X[1], n=5)
    assert path.shape == (5, 6)
    np.testing.assert_allclose(path[0], model.decode(mu[:1])[0], rtol=1e-10)
    np.testing.assert_allclose(path[-1], model.decode(mu[1:2])[0], rtol=1e-10)


def test_importance_sampled_log_likelihood_matches_exact_linear_gaussian():
    """Linear decoder o = z W + b with Gaussian noise sigma^2: p(x) = N(b, W^T W + sigma^2 I)
    exactly. With q(z|x) the diagonal of the true posterior, K=4000 importance samples recover it."""
    rng = np.random.default_rng(0)
    D, k, s2 = 3, 2, 0.3
    W, b = rng.normal(size=(k, D)), rng.normal(size=D)
    Sigma = np.linalg.inv(np.eye(k) + W @ W.T / s2)      # posterior covariance
    mean_head, logvar_head = Dense(D, k, dtype=np.float64), Dense(D, k, dtype=np.float64)
    mean_head.W.value[:] = W.T @ Sigma / s2               # posterior mean  Sigma W (x - b) / s2
    mean_head.b.value[:] = -b @ W.T @ Sigma / s2
    logvar_head.W.value[:] = 0
    logvar_head.b.value[:] = np.log(np.diag(Sigma))
    dec = Dense(k, D, dtype=np.float64)
    dec.W.value[:], dec.b.value[:] = W, b
    model = VAE(Sequential([]), mean_head, logvar_head, Sequential([dec]),
                Gaussian(D, logvar=math.log(s2), dtype=np.float64), rng=0)
    X = rng.normal(size=(6, D)) + b
    C = W.T @ W + s2 * np.eye(D)
    diff = X - b
    exact = -0.5 * (np.einsum("nd,de,ne->n", diff, np.linalg.inv(C), diff)
                    + np.linalg.slogdet(C)[1] + D * math.log(2 * math.pi))
    est = model.log_likelihood(X, K=4000, rng=1)
    np.testing.assert_allclose(est, exact, atol=0.02)
    elbo = -model.forward_loss(X)["neg_elbo"]
    assert elbo <= exact.mean() + 0.05  # the ELBO lies below log p(x) (up to its sampling noise)


# ---- CVAE ---------------------------------------------------------------------------------

def test_cvae_requires_valid_labels_and_generates_per_class():
    model = small_cvae(0)
    X = unit_inputs(0)
    with pytest.raises(ValueError, match="y is required"):
        model.forward_loss(X)
    with pytest.raises(ValueError, match="< 3"):
        model.loss_and_grad(X, np.array([0, 1, 2, 3, 0]))
    with pytest.raises(ValueError, match="shape"):
        nae.fit(model, X, nae.Adam(model.parameters()), y=np.zeros(4, int), epochs=1,
                progress=False)
    g0 = model.generate(0, 4, rng=5)
    g2 = model.generate(2, 4, rng=5)
    assert g0.shape == (4, 6) and not np.allclose(g0, g2)  # same z, different label
    with pytest.raises(ValueError):
        model.generate(3, 2)
    assert model.needs_labels and model.n_classes == 3 and model.input_dim == 6


# ---- save/load and validation -------------------------------------------------------------

@pytest.mark.parametrize("build", [
    lambda: mlp_vae([6, 5, 3], likelihood="gaussian_learned", beta=0.5, kl_warmup=10, rng=3),
    lambda: mlp_cvae([6, 5, 2], 3, rng=4)])
def test_save_load_roundtrip(tmp_path, build):
    model = build()
    model.step = 7
    if isinstance(model.likelihood, Gaussian):
        model.likelihood.u.value[:] = np.arange(6, dtype=np.float32) / 10
    path = nae.save(model, tmp_path / "m.npz")
    other = nae.load(path)
    assert type(other) is type(model)
    assert (other.beta, other.kl_warmup, other.step, other.code_dim) == \
        (model.beta, model.kl_warmup, 7, model.code_dim)
    Z = np.random.default_rng(0).normal(size=(4, model.code_dim)).astype(np.float32)
    y = None if model.n_classes is None else np.array([0, 1, 2, 0])
    np.testing.assert_array_equal(model.decode(Z, y), other.decode(Z, y))


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="likelihood"):
        mlp_vae([6, 3], likelihood="poisson")
    with pytest.raises(ValueError, match="kl_warmup"):
        mlp_vae([6, 3], kl_warmup=-1)
    with pytest.raises(ValueError, match="beta"):
        mlp_vae([6, 3], beta=-1.0)
    with pytest.raises(ValueError, match="logvar_head"):
        VAE(Sequential([]), Dense(6, 3), Dense(6, 2), Sequential([Dense(3, 6)]))
    with pytest.raises(ValueError, match="decoder"):
        VAE(Sequential([]), Dense(6, 3), Dense(6, 3), Sequential([Dense(3, 5)]))
    model = mlp_vae([6, 3], rng=0)
    with pytest.raises(ValueError, match="X must have 6 features"):
        model.encode(np.zeros((2, 5)))
    with pytest.raises(ValueError, match="Z must have 3 features"):
        model.decode(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="K"):
        model.log_likelihood(np.zeros((2, 6)), K=0)
    with pytest.raises(TypeError, match="vae"):
        KLTerm(object())
    assert isinstance(mlp_cvae([6, 3], 2), CVAE)


def test_cli_vae_writes_its_figures(tmp_path, capsys):
    from numpyae.apps.cli import main
    code = main(["train", "--model", "vae", "--code-dim", "2", "--epochs", "3", "--quiet",
                 "--iw-samples", "20", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0 and "falls: yes" in out
    run = next(tmp_path.iterdir())
    for name in ("samples.png", "manifold.png", "latent_scatter.png", "interpolation.png",
                 "model.npz"):
        assert (run / name).stat().st_size > 0


def test_cli_cvae_writes_class_rows(tmp_path, capsys):
    from numpyae.apps.cli import main
    code = main(["train", "--model", "cvae", "--epochs", "3", "--quiet", "--iw-samples", "20",
                 "--out", str(tmp_path)])
    assert code == 0 and "requested class" in capsys.readouterr().out
    assert (next(tmp_path.iterdir()) / "samples_by_class.png").stat().st_size > 0


def test_numpy_integer_seed_saves(tmp_path):
    model = mlp_vae([6, 3], rng=np.int64(5))
    assert nae.load(nae.save(model, tmp_path / "m.npz")).rng_seed == model.rng_seed == 6


# ---- bad input, and evaluation that is deterministic and free of side effects ------------------

def test_log_likelihood_refuses_a_negative_batch_size():
    """log_likelihood(X, K=3, batch_size=-1) returned uninitialized memory ([8.6e+27 4.6e-41 ...]):
    range(0, N, -1) is empty, so np.empty was never filled."""
    model = small_vae(0)
    X = unit_inputs(0)
    for bad in (-1, 0):
        with pytest.raises(ValueError, match="batch_size must be a positive int"):
            model.log_likelihood(X, K=3, batch_size=bad)
    for bad in (True, "4", 2.0):
        with pytest.raises(TypeError, match="batch_size must be a positive int"):
            model.log_likelihood(X, K=3, batch_size=bad)
    for bad in (0, -3, 1.5, True):
        with pytest.raises((TypeError, ValueError), match="K must be a positive int"):
            model.log_likelihood(X, K=bad)
    out = model.log_likelihood(X, K=3, batch_size=2)
    assert out.shape == (5,) and np.isfinite(out).all()


def test_log_likelihood_batch_size_half_names_the_argument():
    with pytest.raises(TypeError, match=r"batch_size must be a positive int, got float 0\.5"):
        small_vae(0).log_likelihood(unit_inputs(0), batch_size=0.5)


def test_vae_evaluate_is_deterministic_and_leaves_the_training_generator_alone():
    """Two evaluate() calls on the same model gave 6.05 and 6.29, and each advanced the
    Generator training draws eps from. Now eps comes from a Generator seeded with rng
    (default 0): the same numbers every call, and self.rng untouched."""
    model = small_vae(0)
    X = unit_inputs(1, n=40)
    state = model.rng.bit_generator.state
    first, second = model.evaluate(X), model.evaluate(X)
    assert first == second
    # batches draw the same stream of eps: another batch size changes only the summation order
    assert model.evaluate(X, batch_size=7) == pytest.approx(first, rel=1e-12)
    assert model.rng.bit_generator.state == state
    assert model.evaluate(X, rng=1)["neg_elbo"] != first["neg_elbo"]
    assert model.evaluate(X, rng=np.random.default_rng(0)) == first
    assert model.forward_loss(X, training=False) == model.forward_loss(X, training=False)
    assert model.rng.bit_generator.state == state
    a, b = model.log_likelihood(X, K=5), model.log_likelihood(X, K=5)
    np.testing.assert_array_equal(a, b)
    assert model.rng.bit_generator.state == state


@pytest.mark.parametrize("conditional", [False, True])
def test_fit_with_validation_trains_exactly_as_without(conditional):
    """Validation no longer draws from the training Generator, so the training numbers (and the
    trained parameters) are the same with and without validation data."""
    X = unit_inputs(2, n=60)
    y = np.arange(60) % 3
    runs = []
    for val in (False, True):
        model = small_cvae(3) if conditional else small_vae(3)
        kw = {"y": y} if conditional else {}
        if val:
            kw["validation_data"] = (X[:20], y[:20]) if conditional else (X[:20],)
        h = nae.fit(model, X, nae.Adam(model.parameters(), lr=1e-2), epochs=3, batch_size=16,
                    rng=0, progress=False, **kw)
        runs.append((h, [p.value.copy() for p in model.parameters()]))
    (h0, p0), (h1, p1) = runs
    for key in h0.keys():
        assert h0[key] == h1[key]
    for a, b in zip(p0, p1):
        np.testing.assert_array_equal(a, b)
    assert "val_neg_elbo" in h1.keys()


def test_fit_refuses_data_outside_unit_interval_for_the_bernoulli_likelihood():
    X = unit_inputs(0, n=20) * 255
    model = small_vae(0)
    with pytest.raises(ValueError, match=r"X must lie in \[0, 1\] for the Bernoulli likelihood.*"
                                         r"likelihood='gaussian'"):
        nae.fit(model, X, nae.Adam(model.parameters()), epochs=1, progress=False)
    with pytest.raises(ValueError, match=r"X must lie in \[0, 1\]"):
        model.log_likelihood(X)
    gauss = small_vae(0, "gaussian")
    assert np.isfinite(gauss.evaluate(X)["loss"])
    assert np.isfinite(model.encode(X)).all()   # inference takes any finite input


def test_y_passed_to_a_plain_vae_is_refused_not_ignored():
    model = small_vae(0)
    X, y = unit_inputs(0), np.zeros(5, int)
    for call in (lambda: model.evaluate(X, y), lambda: model.reconstruct(X, y),
                 lambda: model.sample(5, y), lambda: model.log_likelihood(X, y)):
        with pytest.raises(ValueError, match="y must be None: VAE takes no labels"):
            call()
