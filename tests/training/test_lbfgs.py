"""L-BFGS (numpyae.training.lbfgs): the two-loop recursion against the dense BFGS update, known
minima reached to tight tolerance (quadratics, Rosenbrock), the strong Wolfe conditions at every
accepted step, backtracking (also out of a region where f is inf), the model wrapper minimize()
on numpyae models, and the refusals of bad arguments and of models L-BFGS cannot train."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from numpyae import (AAE, Callback, DenoisingAutoencoder, NonFiniteError, SparseAutoencoder,
                     check_model, mlp_aae, mlp_classifier, mlp_vae)
from numpyae.models.base import Model
from numpyae.training.history import History
from numpyae.training.lbfgs import CurvatureMemory, MinimizeHistory, lbfgs, minimize

EPS = np.finfo(float).eps


# ---- test functions --------------------------------------------------------------------------

def spd_matrix(eigenvalues, rng):
    """Q diag(eigenvalues) Q^T with a random orthogonal Q (exactly symmetric)."""
    n = len(eigenvalues)
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    A = (Q * eigenvalues) @ Q.T
    return (A + A.T) / 2


def quadratic(A, b):
    """f(x) = 1/2 x^T A x - b^T x,  g = A x - b."""
    return lambda x: (0.5 * x @ A @ x - b @ x, A @ x - b)


def rosenbrock(x):
    """The extended Rosenbrock function (More, Garbow & Hillstrom 1981, problem 21): independent
    pairs, f = sum_i 100 (x_{2i} - x_{2i-1}^2)^2 + (1 - x_{2i-1})^2; minimum 0 at all ones."""
    a, b = x[0::2], x[1::2]
    r = b - a * a
    g = np.empty_like(x)
    g[0::2] = -400.0 * a * r - 2.0 * (1.0 - a)
    g[1::2] = 200.0 * r
    return float(np.sum(100.0 * r * r + (1.0 - a) ** 2)), g


def rosenbrock_start(n):
    """The standard starting point (-1.2, 1, -1.2, 1, ...)."""
    return np.tile([-1.2, 1.0], n // 2)


class Recorder:
    """Wraps fun: counts and keeps every point evaluated and its f; as a callback, keeps copies
    of each iteration's info."""

    def __init__(self, fun):
        self.fun, self.calls, self.iterations = fun, [], []

    def __call__(self, x):
        f, g = self.fun(x)
        self.calls.append((x.copy(), f))
        return f, g

    def callback(self, info):
        self.iterations.append({k: (v.copy() if isinstance(v, np.ndarray) else v)
                                for k, v in info.items()})


def assert_strong_wolfe_at_every_step(fun, x0, recorder, c1, c2):
    """Recompute f and g at every iterate with fun itself and check, for each accepted step
    x_{k+1} = x_k + alpha d:  f_{k+1} <= f_k + c1 alpha g_k^T d  and  |g_{k+1}^T d| <= c2 |g_k^T d|,
    with d a descent direction."""
    x_prev = np.array(x0, dtype=float)
    assert recorder.iterations, "no iteration was recorded"
    for info in recorder.iterations:
        f_prev, g_prev = fun(x_prev)
        d, alpha = info["direction"], info["step_length"]
        np.testing.assert_array_equal(info["x"], x_prev + alpha * d)
        f, g = fun(info["x"])
        slope0 = float(g_prev @ d)
        assert slope0 < 0, f"iteration {info['iteration']}: not a descent direction"
        assert f <= f_prev + c1 * alpha * slope0, f"iteration {info['iteration']}: no sufficient decrease"
        assert abs(float(g @ d)) <= c2 * abs(slope0), f"iteration {info['iteration']}: curvature"
        assert f == info["f"]
        x_prev = info["x"]


# ---- the two-loop recursion ----------------------------------------------------------------

def dense_lbfgs_matrix(pairs):
    """H from the BFGS inverse update H <- (I - rho s y^T) H (I - rho y s^T) + rho s s^T applied
    to gamma I, oldest pair first; gamma = s^T y / y^T y of the newest pair."""
    n = len(pairs[0][0])
    s, y = pairs[-1]
    H = (s @ y) / (y @ y) * np.eye(n)
    for s, y in pairs:
        rho = 1.0 / (y @ s)
        V = np.eye(n) - rho * np.outer(y, s)
        H = V.T @ H @ V + rho * np.outer(s, s)
    return H


def random_pair(rng, A):
    s = rng.standard_normal(len(A))
    return s, A @ s          # y = A s: positive curvature for SPD A


def test_two_loop_recursion_equals_the_dense_bfgs_update_of_the_last_m_pairs():
    rng = np.random.default_rng(0)
    n, m = 7, 4
    A = spd_matrix(np.logspace(-1, 2, n), rng)
    memory = CurvatureMemory(n, m)
    pairs = [random_pair(rng, A) for _ in range(m + 3)]      # the ring buffer wraps around
    for k, (s, y) in enumerate(pairs, start=1):
        assert memory.push(s, y)
        q = rng.standard_normal(n)
        kept = pairs[max(0, k - m):k]
        expected = dense_lbfgs_matrix(kept) @ q
        np.testing.assert_allclose(memory.apply(q), expected, rtol=1e-11, atol=1e-12 * np.abs(expected).max())
        assert len(memory) == len(kept)


def test_two_loop_recursion_satisfies_the_secant_equation_for_the_newest_pair():
    """H y = s for the newest pair (s, y): the last BFGS update enforces it exactly."""
    rng = np.random.default_rng(1)
    n = 5
    A = spd_matrix(np.logspace(0, 2, n), rng)
    memory = CurvatureMemory(n, n)
    for _ in range(n):
        s, y = random_pair(rng, A)
        memory.push(s, y)
    np.testing.assert_allclose(memory.apply(y), s, rtol=1e-10)


def test_curvature_pairs_without_positive_curvature_are_skipped():
    memory = CurvatureMemory(3, 2)
    s = np.array([1.0, 0.0, 0.0])
    assert not memory.push(s, -s)                                   # s^T y < 0
    assert not memory.push(s, np.array([0.0, 1.0, 0.0]))            # s^T y = 0
    assert not memory.push(s, np.array([1e-12, 1.0, 0.0]))          # s^T y <= eps ||s|| ||y||
    assert len(memory) == 0
    np.testing.assert_array_equal(memory.apply(np.array([1.0, 2.0, 3.0])), [1.0, 2.0, 3.0])
    assert memory.push(s, 2 * s)
    np.testing.assert_allclose(memory.apply(np.array([2.0, 0.0, 0.0])), [1.0, 0.0, 0.0])


def test_a_skipped_pair_leaves_a_full_memory_untouched():
    rng = np.random.default_rng(2)
    A = spd_matrix(np.array([1.0, 2.0, 5.0, 9.0]), rng)
    memory = CurvatureMemory(4, 2)
    pairs = [random_pair(rng, A) for _ in range(2)]
    for s, y in pairs:
        memory.push(s, y)
    q = rng.standard_normal(4)
    before = memory.apply(q)
    assert not memory.push_step(np.ones(4), np.zeros(4), -np.ones(4), np.zeros(4))   # y = -s
    assert len(memory) == 2
    np.testing.assert_array_equal(memory.apply(q), before)
    np.testing.assert_allclose(before, dense_lbfgs_matrix(pairs) @ q, rtol=1e-12)


def test_skipped_pairs_are_counted_and_the_run_still_converges():
    """With eps = 0.999 a pair is kept only if s and y are nearly parallel (cos > 0.999): on an
    anisotropic quadratic most pairs are skipped, and the run still reaches the minimum."""
    c = np.array([1.0, 3.0, 10.0])
    fun = lambda x: (0.5 * float(c @ (x * x)), c * x)
    r = lbfgs(fun, np.ones(3), eps=0.999, gtol=1e-10, ftol=0.0, max_iter=2000)
    assert r.skipped_pairs >= 1
    assert r.converged and np.abs(r.x).max() <= 1e-10


# ---- known minima --------------------------------------------------------------------------

def test_convex_quadratic_in_50_dimensions_reaches_the_solution_of_A_x_equals_b_to_1e_8():
    """f = 1/2 x^T A x - b^T x, A SPD with condition number 100 (eigenvalues 10 .. 1000): the
    minimizer x* = A^{-1} b is reached to 1e-8 in every entry. The run ends at gtol or at the
    precision floor of f (module doc), which is then checked to be the reason."""
    rng = np.random.default_rng(0)
    A = spd_matrix(np.logspace(1, 3, 50), rng)
    b = rng.standard_normal(50)
    x_star = np.linalg.solve(A, b)
    fun = quadratic(A, b)
    r = lbfgs(fun, np.zeros(50), gtol=1e-8, ftol=0.0, max_iter=1000)
    assert np.abs(r.x - x_star).max() <= 1e-8, r
    f_star = fun(x_star)[0]
    assert r.status in ("converged", "line_search_failed"), r.stop_reason
    if not r.grad_norm <= 1e-8:              # stopped by the precision floor of f
        assert r.f - f_star <= 64 * EPS * abs(f_star), (r.f - f_star, r.stop_reason)


def test_convex_quadratic_computed_without_cancellation_converges_to_1e_10():
    """The same quadratic written as 1/2 (x - x*)^T A (x - x*) (no cancellation in f): the
    optimizer itself goes far past 1e-8 and stops at gtol."""
    rng = np.random.default_rng(0)
    A = spd_matrix(np.logspace(0, 3, 50), rng)               # condition number 1000
    x_star = rng.standard_normal(50)
    fun = lambda x: (0.5 * (x - x_star) @ A @ (x - x_star), A @ (x - x_star))
    r = lbfgs(fun, np.zeros(50), gtol=1e-11, ftol=0.0, max_iter=2000)
    assert r.converged and r.grad_norm <= 1e-11, r.stop_reason
    assert np.abs(r.x - x_star).max() <= 1e-10


@pytest.mark.parametrize("n", [2, 10])
def test_rosenbrock_from_the_standard_start_reaches_all_ones_to_1e_6(n):
    r = lbfgs(rosenbrock, rosenbrock_start(n), gtol=1e-9, ftol=0.0)
    assert r.converged, r.stop_reason
    assert np.abs(r.x - 1.0).max() <= 1e-6
    assert r.f <= 1e-12
    assert r.iterations < 100


def test_rosenbrock_stops_on_ftol_by_default_near_the_minimum():
    r = lbfgs(rosenbrock, rosenbrock_start(2))
    assert r.converged and np.abs(r.x - 1.0).max() <= 1e-4, r.stop_reason


@pytest.mark.parametrize("c2", [0.9, 0.1])
def test_every_accepted_step_satisfies_the_strong_wolfe_conditions(c2):
    x0 = rosenbrock_start(10)
    rec = Recorder(rosenbrock)
    r = lbfgs(rec, x0, c2=c2, gtol=1e-9, ftol=0.0, callback=rec.callback)
    assert r.converged
    assert_strong_wolfe_at_every_step(rosenbrock, x0, rec, 1e-4, c2)
    assert r.evaluations == len(rec.calls)
    assert [i["evaluations"] for i in rec.iterations][-1] == r.evaluations
    f = [i["f"] for i in rec.iterations]
    assert all(b < a for a, b in zip(f, f[1:]))


def test_a_first_step_that_is_too_long_is_backtracked():
    """A stiff quadratic (curvatures 1000 and 1): the first trial step overshoots (f rises
    by a factor ~500), sufficient decrease fails, zoom backtracks, and the run still converges."""
    c = np.array([1000.0, 1.0])
    fun = lambda x: (0.5 * float(c @ (x * x)), c * x)
    x0 = np.array([1e-3, 1.0])
    rec = Recorder(fun)
    r = lbfgs(rec, x0, gtol=1e-12, ftol=0.0, callback=rec.callback)
    f0 = fun(x0)[0]
    first_trial = rec.calls[1][1]
    assert first_trial > 100 * f0                       # the first step was far too long
    assert rec.iterations[0]["line_search_evaluations"] >= 2
    assert rec.iterations[0]["step_length"] < 0.5 * min(1.0, 1.0 / np.linalg.norm(fun(x0)[1]))
    assert_strong_wolfe_at_every_step(fun, x0, rec, 1e-4, 0.9)
    assert r.converged and np.abs(r.x).max() <= 1e-12


def test_a_trial_step_where_f_is_infinite_is_backtracked():
    """f = 10 x - log x, defined for x > 0 (inf beyond): from x0 = 0.5 the first trial lands at
    x = -0.5; the line search treats it as too long and the run reaches x* = 0.1."""
    def fun(x):
        if x[0] <= 0:
            return np.inf, np.array([np.nan])
        return 10 * x[0] - np.log(x[0]), np.array([10 - 1 / x[0]])
    rec = Recorder(fun)
    r = lbfgs(rec, np.array([0.5]), gtol=1e-6, ftol=0.0, callback=rec.callback)
    assert any(x[0] <= 0 for x, _ in rec.calls)
    assert r.converged and abs(r.x[0] - 0.1) <= 1e-8, r.stop_reason
    assert_strong_wolfe_at_every_step(fun, np.array([0.5]), rec, 1e-4, 0.9)


def test_a_gradient_of_the_wrong_sign_fails_the_line_search_and_leaves_x0():
    fun = lambda x: (float(x @ x), -2 * x)              # g points uphill
    rec = Recorder(fun)
    x0 = np.array([1.0, -2.0])
    r = lbfgs(rec, x0, max_ls=12)
    assert r.status == "line_search_failed" and not r.converged
    assert "line search failed" in r.stop_reason
    assert r.iterations == 0 and r.evaluations == 1 + 12 == len(rec.calls)
    np.testing.assert_array_equal(r.x, x0)
    assert r.f == 5.0


def test_unbounded_below_ends_with_a_failed_line_search_saying_so():
    r = lbfgs(lambda x: (float(-x.sum()), -np.ones_like(x)), np.zeros(3), max_ls=15)
    assert r.status == "line_search_failed" and "unbounded below" in r.stop_reason


def test_max_iter_gtol_at_the_start_and_a_stopping_callback():
    r = lbfgs(rosenbrock, rosenbrock_start(2), max_iter=5)
    assert r.status == "max_iter" and r.iterations == 5 and "max_iter" in r.stop_reason
    r = lbfgs(rosenbrock, np.ones(2))
    assert r.converged and r.iterations == 0 and r.evaluations == 1
    r = lbfgs(rosenbrock, rosenbrock_start(2), callback=lambda info: info["iteration"] == 3)
    assert r.status == "callback" and r.iterations == 3


@settings(max_examples=40)
@given(n=st.integers(1, 12), seed=st.integers(0, 2**32 - 1),
       log_cond=st.floats(0.0, 3.0), m=st.integers(1, 12))
def test_random_spd_quadratics_are_minimized_to_the_tolerance_gtol_guarantees(n, seed, log_cond, m):
    """A x = b for random SPD A (eigenvalues log-uniform in [10^-log_cond, 1] x 10): the run
    converges with max|A x - b| <= gtol (recomputed here), so |x - x*| <= sqrt(n) gtol / lambda_min;
    f decreases at every iteration and every step satisfies the strong Wolfe conditions."""
    rng = np.random.default_rng(seed)
    lam = 10 * 10 ** rng.uniform(-log_cond, 0, n)
    A = spd_matrix(lam, rng)
    b = rng.uniform(-1, 1, n)
    x0 = rng.uniform(-1, 1, n)
    fun = quadratic(A, b)
    rec = Recorder(fun)
    gtol = 1e-6
    r = lbfgs(rec, x0, m=m, gtol=gtol, ftol=0.0, max_iter=3000, callback=rec.callback)
    assert r.converged and r.grad_norm <= gtol, r.stop_reason
    assert np.abs(A @ r.x - b).max() <= gtol * (1 + 1e-6)
    x_star = np.linalg.solve(A, b)
    assert np.linalg.norm(r.x - x_star) <= np.sqrt(n) * gtol / lam.min() * (1 + 1e-6)
    if rec.iterations:
        assert_strong_wolfe_at_every_step(fun, x0, rec, 1e-4, 0.9)


# ---- lbfgs: refusals -----------------------------------------------------------------------

def never_called(*args):
    raise AssertionError("fun must not be called when the arguments are bad")


@pytest.mark.parametrize("kwargs, error, words", [
    ({"max_iter": 0}, ValueError, "max_iter"), ({"max_iter": 1.5}, TypeError, "max_iter"),
    ({"max_iter": True}, TypeError, "max_iter"), ({"m": 0}, ValueError, "m must"),
    ({"max_ls": -1}, ValueError, "max_ls"), ({"c1": 0.0}, ValueError, "c1"),
    ({"c1": 1.0}, ValueError, "c1"), ({"c2": 1.0}, ValueError, "c2"),
    ({"c1": 0.5, "c2": 0.5}, ValueError, "c1 < c2"), ({"c2": 1e-5}, ValueError, "c1 < c2"),
    ({"gtol": -1.0}, ValueError, "gtol"), ({"gtol": float("nan")}, ValueError, "gtol"),
    ({"gtol": "small"}, TypeError, "gtol"), ({"ftol": float("inf")}, ValueError, "ftol"),
    ({"eps": -1e-3}, ValueError, "eps"), ({"callback": 3}, TypeError, "callback"),
])
def test_lbfgs_refuses_bad_options_before_calling_fun(kwargs, error, words):
    with pytest.raises(error, match=words):
        lbfgs(never_called, np.zeros(2), **kwargs)


@pytest.mark.parametrize("x0, error, words", [
    (np.zeros((2, 2)), ValueError, "1-D"), (np.zeros(0), ValueError, "non-empty"),
    (np.array([1.0, np.nan]), ValueError, "NaN"), ("abc", TypeError, "x0"),
    (None, TypeError, "x0"), (np.array(["a"]), TypeError, "real"), ([[1.0], [2.0, 3.0]], ValueError, "x0"),
])
def test_lbfgs_refuses_a_bad_starting_point(x0, error, words):
    with pytest.raises(error, match=words):
        lbfgs(never_called, x0)


def test_lbfgs_refuses_a_fun_that_is_not_callable_or_returns_the_wrong_things():
    with pytest.raises(TypeError, match="fun must be callable"):
        lbfgs("rosenbrock", np.zeros(2))
    with pytest.raises(TypeError, match=r"tuple \(f, g\)"):
        lbfgs(lambda x: float(x @ x), np.zeros(2))
    with pytest.raises(TypeError, match="real number f"):
        lbfgs(lambda x: ("f", 2 * x), np.zeros(2))
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        lbfgs(lambda x: (float(x @ x), np.zeros(3)), np.zeros(2))


def test_lbfgs_a_non_finite_start_raises_nonfiniteerror():
    with pytest.raises(NonFiniteError, match="starting point"):
        lbfgs(lambda x: (np.nan, x), np.ones(2))
    with pytest.raises(NonFiniteError, match="gradient"):
        lbfgs(lambda x: (1.0, np.array([np.inf, 0.0])), np.ones(2))


# ---- minimize(model, X) --------------------------------------------------------------------

@pytest.fixture(scope="module")
def patches16():
    return np.random.default_rng(0).random((40, 16))


def test_sparse_autoencoder_loss_decreases_every_iteration_to_a_small_gradient(patches16):
    """SparseAutoencoder([16, 9]) in float64 on random data in [0, 1]: the loss drops at every
    iteration, the gradient's max-norm reaches 1e-5, and the result passes check_model."""
    X = patches16
    model = SparseAutoencoder([16, 9], rng=0, dtype=np.float64)
    values = [p.value for p in model.parameters()]
    h = minimize(model, X, gtol=1e-5, ftol=0.0, max_iter=3000)
    assert isinstance(h, MinimizeHistory) and isinstance(h, History)
    assert h.converged and h.status == "converged", h.stop_reason
    assert h["grad_norm"][-1] <= 1e-5
    loss = h["loss"]
    assert h.initial["loss"] > loss[0] and all(b < a for a, b in zip(loss, loss[1:]))
    assert loss[-1] < 0.1 * h.initial["loss"]
    assert len(loss) == h.iterations == h.epochs
    assert {"loss", "reconstruction", "kl_sparsity", "weight_decay", "grad_norm", "step_length",
            "evaluations"} <= set(h.keys())
    ev = h["evaluations"]
    assert all(b > a for a, b in zip(ev, ev[1:])) and ev[0] >= 2
    # the result is in the model (same arrays, same dtype), with its gradient in p.grad
    assert all(p.value is v for p, v in zip(model.parameters(), values))
    assert all(p.value.dtype == np.float64 for p in model.parameters())
    terms = model.loss_and_grad(X)
    assert terms["loss"] == loss[-1]
    assert max(np.abs(p.grad).max() for p in model.parameters()) == h["grad_norm"][-1]
    assert check_model(model, X).passed(1e-7)
    assert not h.frozen_noise
    assert "MinimizeHistory" in repr(h) and "converged" in repr(h)


def test_the_ufldl_objective_is_half_the_minimized_loss(patches16):
    model = SparseAutoencoder([16, 9], rng=1, dtype=np.float64)
    h = minimize(model, patches16, max_iter=20)
    assert SparseAutoencoder.ufldl_objective(h.last()) == h["loss"][-1] / 2
    assert h.status == "max_iter" and h.iterations == 20


def test_tied_weights_are_one_parameter_of_the_flat_vector(patches16):
    model = SparseAutoencoder([16, 9], tied=True, rng=0, dtype=np.float64)
    h = minimize(model, patches16, max_iter=100)
    assert h["loss"][-1] < 0.5 * h.initial["loss"]
    assert check_model(model, patches16).passed(1e-7)


def test_a_float32_model_stays_float32_and_its_loss_still_decreases(patches16):
    model = SparseAutoencoder([16, 9], rng=0)                         # float32
    h = minimize(model, patches16, max_iter=60)
    assert all(p.value.dtype == np.float32 for p in model.parameters())
    loss = h["loss"]
    assert all(b < a for a, b in zip(loss, loss[1:])) and loss[-1] < 0.2 * h.initial["loss"]
    assert model.loss_and_grad(patches16.astype(np.float32))["loss"] == loss[-1]


def test_a_classifier_is_minimized_on_its_labels():
    rng = np.random.default_rng(0)
    X = rng.random((30, 6))
    y = X[:, :3].argmax(axis=1)                  # separable: the label is the largest of 3 inputs
    model = mlp_classifier([6, 5], 3, rng=0, dtype=np.float64)
    h = minimize(model, X, y, max_iter=200)
    assert h.converged and h["accuracy"][-1] == 1.0 and h["loss"][-1] < 1e-3 * h.initial["loss"]
    with pytest.raises(ValueError, match="y is required"):
        minimize(model, X)


def test_random_draws_are_frozen_so_a_denoising_model_has_one_objective(patches16):
    model = DenoisingAutoencoder([16, 6], rng=0, dtype=np.float64)
    h = minimize(model, patches16, max_iter=40)
    assert h.frozen_noise
    loss = h["loss"]
    assert all(b < a for a, b in zip(loss, loss[1:]))


def test_a_vae_without_warm_up_is_minimized_with_its_noise_frozen(patches16):
    model = mlp_vae([16, 8, 2], rng=0, dtype=np.float64)
    h = minimize(model, patches16, max_iter=30)
    assert h.frozen_noise and h["loss"][-1] < h.initial["loss"]


def test_validation_data_is_recorded_every_iteration(patches16):
    model = SparseAutoencoder([16, 9], rng=0, dtype=np.float64)
    X_val = np.random.default_rng(5).random((10, 16))
    h = minimize(model, patches16, max_iter=5, validation_data=(X_val,))
    assert len(h["val_loss"]) == 5
    assert h["val_loss"][-1] == model.forward_loss(X_val, training=False)["loss"]


class StopAfter(Callback):
    """Stops after n iterations; checks that the model holds each iteration's parameters."""

    def __init__(self, n, X):
        self.n, self.X, self.seen, self.began, self.ended = n, X, [], False, False

    def on_train_begin(self, model, history):
        self.began = True

    def on_epoch_end(self, epoch, logs, model, history):
        self.seen.append(epoch)
        assert model.forward_loss(self.X)["loss"] == logs["loss"]
        self.stop_training = len(self.seen) >= self.n

    def on_train_end(self, model, history):
        self.ended = True


def test_callbacks_see_each_iteration_and_can_stop_the_run(patches16):
    model = SparseAutoencoder([16, 9], rng=0, dtype=np.float64)
    cb = StopAfter(4, patches16)
    h = minimize(model, patches16, callbacks=[cb])
    assert cb.began and cb.ended and cb.seen == [0, 1, 2, 3]
    assert h.status == "callback" and h.iterations == 4 and "callback" in h.stop_reason


def test_a_progress_bar_can_be_drawn(patches16, capsys):
    model = SparseAutoencoder([16, 9], rng=0, dtype=np.float64)
    minimize(model, patches16, max_iter=3, progress=True)
    assert "L-BFGS" in capsys.readouterr().err


def test_a_failed_line_search_leaves_the_model_at_the_last_accepted_point_with_its_gradient(patches16):
    """A model whose gradient is wrong (here: negated) cannot be minimized: the run ends with
    line_search_failed, the parameters are those from the start and p.grad their gradient."""
    class Uphill(SparseAutoencoder):
        """SparseAutoencoder with its gradient negated."""
        def backward(self):
            super().backward()
            for p in self.parameters():
                p.grad *= -1
    model = Uphill([16, 9], rng=0, dtype=np.float64)
    before = [p.value.copy() for p in model.parameters()]
    h = minimize(model, patches16, max_iter=10)
    assert h.status == "line_search_failed" and h.iterations == 0
    assert all(np.array_equal(p.value, b) for p, b in zip(model.parameters(), before))
    grads = [p.grad.copy() for p in model.parameters()]
    model.loss_and_grad(patches16)
    assert all(np.array_equal(p.grad, g) for p, g in zip(model.parameters(), grads))


def test_an_interrupt_during_a_line_search_leaves_the_model_at_the_last_accepted_iterate(patches16):
    """KeyboardInterrupt in the 9th evaluation (a trial point of some line search): the model
    is put back to the last iteration recorded before the exception propagates."""
    class Interrupted(SparseAutoencoder):
        """Raises KeyboardInterrupt in its 9th loss_and_grad."""
        calls = 0

        def loss_and_grad(self, x, y=None):
            type(self).calls += 1
            if type(self).calls == 9:
                raise KeyboardInterrupt
            return super().loss_and_grad(x, y)

    class Keep(Callback):
        """Keeps a copy of the parameters after every iteration."""
        def on_epoch_end(self, epoch, logs, model, history):
            self.values = [p.value.copy() for p in model.parameters()]

    model, keep = Interrupted([16, 9], rng=0, dtype=np.float64), Keep()
    with pytest.raises(KeyboardInterrupt):
        minimize(model, patches16, callbacks=[keep])
    assert all(np.array_equal(p.value, v) for p, v in zip(model.parameters(), keep.values))


# ---- minimize: refusals --------------------------------------------------------------------

@pytest.fixture
def spied():
    """A SparseAutoencoder whose loss_and_grad must not run."""
    model = SparseAutoencoder([16, 9], rng=0)
    model.loss_and_grad = never_called
    return model


@pytest.mark.parametrize("kwargs, error, words", [
    ({"method": "adam"}, ValueError, r"method must be one of \['lbfgs'\]"),
    ({"method": None}, TypeError, "method must be a string"),
    ({"max_iter": 0}, ValueError, "max_iter"), ({"max_iter": 2.0}, TypeError, "max_iter"),
    ({"m": -3}, ValueError, "m must"), ({"c1": 2.0}, ValueError, "c1"),
    ({"c2": 0.0}, ValueError, "c2"), ({"gtol": float("nan")}, ValueError, "gtol"),
    ({"ftol": -1.0}, ValueError, "ftol"), ({"max_ls": 0}, ValueError, "max_ls"),
    ({"callbacks": [object()]}, TypeError, r"callbacks\[0\]"), ({"callbacks": 3}, TypeError, "callbacks"),
    ({"validation_data": np.zeros((3, 16))}, TypeError, "validation_data"),
    ({"validation_data": (np.zeros((3, 5)),)}, ValueError, r"validation_data\[0\]"),
    ({"progress": "yes"}, TypeError, "progress"),
])
def test_minimize_refuses_bad_arguments_before_any_work(spied, kwargs, error, words):
    X = np.random.default_rng(0).random((5, 16))
    with pytest.raises(error, match=words):
        minimize(spied, X, **kwargs)


@pytest.mark.parametrize("X, error, words", [
    (np.zeros((5, 15)), ValueError, "16 features"), (np.zeros(16), ValueError, "2-D"),
    (np.full((2, 16), np.nan), ValueError, "NaN"), ("X", TypeError, "X"),
])
def test_minimize_refuses_bad_data(spied, X, error, words):
    with pytest.raises(error, match=words):
        minimize(spied, X)


def test_minimize_refuses_what_is_not_a_model():
    with pytest.raises(TypeError, match="numpyae Model"):
        minimize(lambda x: x, np.zeros((2, 2)))


def test_minimize_refuses_the_aae_whose_training_has_three_losses():
    model = mlp_aae([16, 8, 2], discriminator=(8,), rng=0)
    assert isinstance(model, AAE)
    before = [p.value.copy() for p in model.parameters()]
    with pytest.raises(TypeError, match="AAE trains three"):
        minimize(model, np.random.default_rng(0).random((5, 16)))
    assert all(np.array_equal(p.value, b) for p, b in zip(model.parameters(), before))


def test_minimize_refuses_a_vae_during_its_kl_warm_up():
    model = mlp_vae([16, 8, 2], kl_warmup=100, rng=0)
    with pytest.raises(ValueError, match="KL warm-up"):
        minimize(model, np.random.default_rng(0).random((5, 16)))
    model.step = 99                                          # warm-up over: one fixed loss
    h = minimize(model, np.random.default_rng(0).random((5, 16)), max_iter=2)
    assert h.iterations == 2


def test_minimize_refuses_any_model_with_its_own_train_step():
    class Scheduled(SparseAutoencoder):
        """A model whose train_step changes something between steps."""
        def train_step(self, x, y, optimizer):
            return Model.train_step(self, x, y, optimizer)
    with pytest.raises(TypeError, match="overrides train_step"):
        minimize(Scheduled([16, 9], rng=0), np.zeros((3, 16)))


def test_minimize_a_non_finite_loss_at_the_start_raises_and_changes_nothing(patches16):
    model = SparseAutoencoder([16, 9], rng=0, dtype=np.float64)
    before = [p.value.copy() for p in model.parameters()]
    model.parameters()[2].value[0, 0] = 1e200        # finite, but its weight decay overflows
    with np.errstate(over="ignore", invalid="ignore"):
        with pytest.raises(NonFiniteError, match="loss at its current parameters"):
            minimize(model, patches16)
    model.parameters()[0].value[0, 0] = np.inf
    with pytest.raises(NonFiniteError, match=r"parameter encoder\.\S+ contains NaN or inf"):
        minimize(model, patches16)
    model.parameters()[0].value[0, 0] = before[0][0, 0]
    model.parameters()[2].value[0, 0] = before[2][0, 0]
    assert all(np.array_equal(p.value, b) for p, b in zip(model.parameters(), before))
