"""The k-sparse autoencoder's k schedule and alpha*k encoding (Makhzani & Frey 2013), and the
TopK layer's two modes: the k per step and per epoch, alpha*k at inference, dead units with and
without the schedule on the digits, save/load and resume of the schedule's state, and gradient
checks at the training k and at the inference k."""
import numpy as np
import pytest

import numpyae
from numpyae import Adam, Callback, TopK, check_gradient, check_layer, check_model, fit
from numpyae.io.files import read_checkpoint
from numpyae.models.presets import KSparseAutoencoder


class Interrupt(Exception):
    pass


class StopAt(Callback):
    """A crash (an exception out of fit) at the end of epoch `at` (1-based)."""

    def __init__(self, at):
        self.at = at

    def on_epoch_end(self, epoch, logs, model, history):
        if epoch + 1 == self.at:
            raise Interrupt


class RecordK(Callback):
    """(epoch, step, the code layer's k) after every epoch: the k of the next epoch's first
    step."""

    def __init__(self):
        self.rows = []

    def on_epoch_end(self, epoch, logs, model, history):
        self.rows.append((epoch, model.step, model.code_layer.k))


class StepLog(KSparseAutoencoder):
    """A KSparseAutoencoder that logs (step, TopK's k) at every train_step, before the update."""
    log = None

    def train_step(self, x, y, optimizer):
        if self.log is None:
            self.log = []
        self.log.append((self.step, self.code_layer.k))
        return super().train_step(x, y, optimizer)


def digits():
    X, _ = numpyae.load_digits()
    return X


def dead_units(model, X):
    return int(np.count_nonzero(model.firing_counts(X) == 0))


def gapped_inputs(model, K, rng, n=5, gap=0.05):
    """Rows whose K-th and (K+1)-th largest pre-TopK activations differ by more than gap (so no
    finite difference swaps the kept set of a top-K selection)."""
    rows = []
    while len(rows) < n:
        x = rng.uniform(0.05, 0.95, (1, model.input_dim))
        z = np.sort(model.encoder.layers[0].forward(x, training=False)[0])[::-1]
        if K == len(z) or z[K - 1] - z[K] > gap:
            rows.append(x[0])
    return np.array(rows)


# ---- the schedule ----------------------------------------------------------------------------

def test_schedule_lowers_k_linearly_from_k_start_to_k_then_holds_it():
    model = KSparseAutoencoder([64, 100], k=5, schedule_steps=10, rng=0)
    assert model.k_start == 100 and model.code_layer.k == 100          # default: the code size
    # k_t = k + ceil((k_start - k) (S - t) / S)
    assert [model.training_k(t) for t in range(13)] == \
        [100, 91, 81, 72, 62, 53, 43, 34, 24, 15, 5, 5, 5]
    other = KSparseAutoencoder([64, 100], k=10, k_start=40, schedule_steps=3, rng=0)
    assert [other.training_k(t) for t in range(5)] == [40, 30, 20, 10, 10]


def test_no_schedule_is_the_plain_k_sparse_autoencoder():
    model = KSparseAutoencoder([64, 100], k=5, rng=0)
    assert model.schedule_steps == 0 and model.alpha == 1.0
    assert [model.training_k(t) for t in (0, 1, 1000)] == [5, 5, 5]
    assert model.code_layer.k == 5 and model.inference_k == 5


def test_fit_follows_the_schedule_step_by_step_and_epoch_by_epoch():
    X = digits()[:200]
    batch, epochs = 32, 6
    steps = -(-len(X) // batch)                                      # 7 steps per epoch
    S = (epochs * steps) // 2                                        # the first half: 21 steps
    model = StepLog([64, 30], k=3, schedule_steps=S, rng=0, dtype=np.float64)
    record = RecordK()
    fit(model, X, Adam(model.parameters(), lr=1e-2), epochs=epochs, batch_size=batch, rng=0,
        progress=False, callbacks=[record])
    assert model.log == [(t, model.training_k(t)) for t in range(epochs * steps)]
    assert [k for _, k in model.log[:1]] == [30] and model.log[S][1] == 3
    # the k each epoch starts with (recorded after the epoch before it)
    assert record.rows == [(e, (e + 1) * steps, model.training_k((e + 1) * steps))
                           for e in range(epochs)]
    starts = [model.training_k(e * steps) for e in range(epochs)]
    assert starts == [30, 21, 12, 3, 3, 3]
    assert model.step == epochs * steps and model.code_layer.k == 3


def test_evaluation_and_gradient_checks_do_not_advance_the_schedule():
    X = digits()[:20].astype(np.float64)
    model = KSparseAutoencoder([64, 30], k=3, schedule_steps=10, rng=0, dtype=np.float64)
    model.evaluate(X)
    model.loss_and_grad(X)
    check_model(model, X[:2], parameters=["encoder.0.b"])
    assert model.step == 0 and model.code_layer.k == 30


# ---- alpha * k at inference -----------------------------------------------------------------

def test_inference_keeps_alpha_k_units_and_training_keeps_k():
    X = digits()[:50]
    model = KSparseAutoencoder([64, 100], k=3, alpha=2.5, rng=0)
    assert model.inference_k == 7                                       # floor(2.5 * 3)
    H = model.encode(X)
    assert np.all(np.count_nonzero(H, axis=1) == 7)
    Xc = model.check_input(X)
    assert np.all(np.count_nonzero(model.encoder.forward(Xc, training=True), axis=1) == 3)
    # reconstruct and evaluate use the same alpha*k code
    assert np.array_equal(model.reconstruct(X), model.decode(H))
    terms = model.evaluate(X)
    assert terms["loss"] == pytest.approx(
        float(np.mean(np.sum((model.decode(H).astype(np.float64) - X) ** 2, axis=1))), rel=1e-5)


def test_alpha_k_is_capped_at_the_code_size_and_follows_the_current_step():
    model = KSparseAutoencoder([64, 100], k=40, alpha=3, rng=0)
    assert model.inference_k == 100
    X = digits()[:10]
    assert np.all(np.count_nonzero(model.encode(X), axis=1) == 100)
    scheduled = KSparseAutoencoder([64, 100], k=5, schedule_steps=10, alpha=3, rng=0)
    assert scheduled.inference_k == 100                                # k_0 = 100
    scheduled.step = 8                                                  # k_8 = 24
    assert scheduled.code_layer.k == 24 and scheduled.inference_k == 72
    scheduled.step = 10
    assert scheduled.code_layer.k == 5 and scheduled.inference_k == 15


def test_topk_layer_keeps_k_in_training_and_floor_alpha_k_at_inference():
    layer = TopK(2, alpha=1.5)
    x = np.array([[0.9, 0.5, 0.3, 0.1, -0.2]])
    assert np.count_nonzero(layer.forward(x, training=True)) == 2
    assert list(layer.kink_state()) == ["top-2 selection"]
    np.testing.assert_allclose(layer.kink_margin()["top-2 selection"],
                               [[0.6, 0.2, 0.2, 0.4, 0.7]])
    y = layer.forward(x, training=False)
    np.testing.assert_array_equal(y, [[0.9, 0.5, 0.3, 0.0, 0.0]])      # floor(1.5 * 2) = 3
    assert list(layer.kink_state()) == ["top-3 selection"]
    np.testing.assert_allclose(layer.kink_margin()["top-3 selection"],
                               [[0.8, 0.4, 0.2, 0.2, 0.5]])
    np.testing.assert_array_equal(layer.backward(np.ones((1, 5))), [[1, 1, 1, 0, 0]])
    assert TopK(10, alpha=2.3).kept(100, training=False) == 23         # 22.999... counts as 23
    assert TopK(10, alpha=2.3).kept(15, training=False) == 15
    assert repr(TopK(4)) == "TopK(k=4)" and repr(TopK(4, alpha=3)) == "TopK(k=4, alpha=3)"


@pytest.mark.parametrize("alpha, error", [(0.5, ValueError), (float("nan"), ValueError),
                                          (float("inf"), ValueError), (True, TypeError),
                                          ("3", TypeError), (None, TypeError)])
def test_topk_refuses_a_bad_alpha(alpha, error):
    with pytest.raises(error, match="alpha"):
        TopK(2, alpha=alpha)


# ---- gradient checks at both ks -------------------------------------------------------------

def _model_mid_schedule():
    """A float64 [8, 7] model: k_t = 4 at step 2, k = 2 from step 4; alpha = 1.5."""
    return KSparseAutoencoder([8, 7], k=2, k_start=6, schedule_steps=4, alpha=1.5, rng=3,
                              dtype=np.float64)


@pytest.mark.parametrize("step, k_train", [(2, 4), (4, 2)])
def test_model_gradient_check_at_the_training_k(step, k_train):
    model = _model_mid_schedule()
    model.step = step
    assert model.code_layer.k == k_train
    X = gapped_inputs(model, k_train, np.random.default_rng(step))
    report = check_model(model, X)
    assert report.passed(), str(report)
    assert report.n_kink == 0 and report.max_error < 1e-7


@pytest.mark.parametrize("step, k_infer", [(2, 6), (4, 3)])
def test_model_gradient_check_at_the_inference_k(step, k_infer):
    """forward_loss(training=False) keeps alpha*k units; its backward follows that forward."""
    model = _model_mid_schedule()
    model.step = step
    assert model.inference_k == k_infer
    X = gapped_inputs(model, k_infer, np.random.default_rng(10 + step))

    def loss():
        return model.forward_loss(X, training=False)["loss"]

    for name, p in model.named_parameters_unique():
        model.zero_grad()
        model.forward_loss(X, training=False)
        model.backward()
        report = check_gradient(loss, p.value, p.grad.copy(), name=name, kinks=model)
        assert report.passed(), str(report)
        assert report.n_kink == 0 and report.max_error < 1e-7
    assert np.all(np.count_nonzero(model.code_layer.mask, axis=1) == k_infer)


@pytest.mark.parametrize("training", [True, False])
def test_topk_layer_gradient_check_in_both_modes(training):
    layer = TopK(2, alpha=2)
    x = np.array([[0.9, 0.45, 0.2, -0.3, 0.6, 0.05], [0.1, -0.5, 0.7, 0.33, 0.0, 0.55]])
    if training:
        report = check_layer(layer, x)
    else:
        R = np.random.default_rng(0).standard_normal(x.shape)
        layer.forward(x, training=False)
        dx = layer.backward(R)
        report = check_gradient(lambda: float(np.sum(layer.forward(x, training=False) * R)), x,
                                dx, name="input", kinks=layer)
        assert list(layer.kink_state()) == ["top-4 selection"]
    assert report.passed(), str(report)
    assert report.n_kink == 0 and report.max_error < 1e-7


def test_topk_ties_at_the_inference_k_are_not_comparable_rather_than_wrong():
    layer = TopK(1, alpha=2)
    x = np.array([[0.9, 0.5, 0.5, 0.1]])                       # a tie for the 2nd place
    layer.forward(x, training=False)
    dx = layer.backward(np.ones_like(x))
    report = check_gradient(lambda: float(np.sum(layer.forward(x, training=False))), x, dx,
                            kinks=layer)
    assert report.passed(), str(report)
    assert report.n_kink > 0


# ---- dead units -----------------------------------------------------------------------------

def _train_on_digits(schedule):
    """[64, 50], k = 5, 40 epochs of batch 128 at lr 0.01, N(0, 0.01^2) weights, seed 0; with
    the schedule over the first half of the steps or without it."""
    X = digits()
    epochs, batch = 40, 128
    steps = epochs * -(-len(X) // batch)
    model = KSparseAutoencoder([64, 50], k=5, schedule_steps=steps // 2 if schedule else 0,
                               init_std=0.01, rng=0)
    start = model.encoder.layers[0].W.value.copy()
    fit(model, X, Adam(model.parameters(), lr=1e-2), epochs=epochs, batch_size=batch, rng=0,
        progress=False)
    return model, start, X


def test_ksparse_schedule_leaves_no_unit_at_its_random_initial_weights():
    """The issue: at k = 5, many units never fire and keep their random weights. Without the
    schedule some units are never selected in any step, so their weight columns are exactly
    the initial ones; with it every unit trains while k is large."""
    for schedule in (False, True):
        model, start, X = _train_on_digits(schedule)
        untouched = int(np.sum(np.all(model.encoder.layers[0].W.value == start, axis=0)))
        if schedule:
            assert untouched == 0
        else:
            assert untouched >= 5


def test_few_dead_units_with_the_schedule_many_without():
    """Measured (seed 0): 6 of 50 units dead with the schedule, 22 without it."""
    scheduled, _, X = _train_on_digits(True)
    unscheduled, _, _ = _train_on_digits(False)
    dead, dead_without = dead_units(scheduled, X), dead_units(unscheduled, X)
    assert dead <= 10 and dead_without >= 15 and 2 * dead < dead_without, (dead, dead_without)


def test_firing_counts_count_every_kept_unit_once_per_example():
    X = digits()[:64]
    model = KSparseAutoencoder([64, 20], k=4, schedule_steps=10, alpha=2, rng=1)
    model.step = 10
    counts = model.firing_counts(X, batch_size=7)            # several chunks
    assert counts.shape == (20,) and counts.sum() == 4 * len(X)
    Xc = model.check_input(X)
    kept = model.encoder.forward(Xc, training=True) != 0
    np.testing.assert_array_equal(counts, kept.sum(axis=0))


# ---- save, load and resume ------------------------------------------------------------------

def test_save_and_load_keep_k_alpha_and_the_schedule_step(tmp_path):
    X = digits()[:100]
    model = KSparseAutoencoder([64, 40], k=4, k_start=30, schedule_steps=20, alpha=2,
                               init_std=0.01, rng=2)
    fit(model, X, Adam(model.parameters(), lr=1e-2), epochs=2, batch_size=16, rng=0,
        progress=False)                                      # 14 steps: mid-schedule
    assert model.step == 14 and model.code_layer.k == model.training_k(14) == 12
    back = numpyae.load(numpyae.save(model, tmp_path / "ks.npz"))
    assert type(back) is KSparseAutoencoder
    assert (back.k, back.k_start, back.schedule_steps, back.alpha, back.step) == (4, 30, 20, 2.0, 14)
    assert back.code_layer.k == 12 and back.inference_k == 24
    assert back.get_config(None) == model.get_config(None)
    assert np.array_equal(back.encode(X), model.encode(X))


def test_interrupted_and_resumed_schedule_is_bit_identical(tmp_path):
    X = digits()[:120]
    kw = dict(epochs=6, batch_size=20, rng=4, progress=False)            # 6 steps per epoch

    def build():
        model = KSparseAutoencoder([64, 30], k=3, schedule_steps=18, alpha=2, init_std=0.01,
                                   rng=1)
        return model, Adam(model.parameters(), lr=1e-2)

    model, opt = build()
    full_k = RecordK()
    fit(model, X, opt, callbacks=[full_k], **kw)
    reference = [p.value.copy() for p in model.parameters()]

    ck = tmp_path / "ks.ckpt.npz"
    model, opt = build()
    with pytest.raises(Interrupt):
        fit(model, X, opt, checkpoint=ck, callbacks=[StopAt(3)], **kw)
    assert read_checkpoint(ck).epoch == 2 and read_checkpoint(ck).model.step == 12

    model, opt = build()                                 # a fresh process: step 0, k = 30
    assert model.step == 0 and model.code_layer.k == 30
    resumed_k = RecordK()
    fit(model, X, opt, resume=ck, callbacks=[resumed_k], **kw)
    assert resumed_k.rows == full_k.rows[2:]            # epochs 3..6 ran with the same k
    assert model.step == 36 and model.code_layer.k == 3
    for a, b in zip(reference, (p.value for p in model.parameters())):
        assert a.tobytes() == b.tobytes()


def test_resume_with_another_schedule_is_refused_naming_it(tmp_path):
    X = digits()[:60]
    ck = tmp_path / "ks.npz"
    model = KSparseAutoencoder([64, 30], k=3, schedule_steps=10, rng=1)
    fit(model, X, Adam(model.parameters(), lr=1e-2), epochs=1, batch_size=20, rng=0,
        progress=False, checkpoint=ck)
    other = KSparseAutoencoder([64, 30], k=3, schedule_steps=20, rng=1)
    with pytest.raises(numpyae.ModelFileError, match="schedule_steps"):
        fit(other, X, Adam(other.parameters(), lr=1e-2), epochs=2, batch_size=20, rng=0,
            progress=False, resume=ck)


# ---- arguments ------------------------------------------------------------------------------

@pytest.mark.parametrize("kw, error, name", [
    ({"k_start": 3}, ValueError, "k_start"),              # below k = 5
    ({"k_start": 101}, ValueError, "k_start"),            # above the code size
    ({"k_start": 2.5}, TypeError, "k_start"),
    ({"schedule_steps": -1}, ValueError, "schedule_steps"),
    ({"schedule_steps": True}, TypeError, "schedule_steps"),
    ({"schedule_steps": 1.5}, TypeError, "schedule_steps"),
    ({"alpha": 0.9}, ValueError, "alpha"),
    ({"alpha": "3"}, TypeError, "alpha"),
    ({"init_std": 0}, ValueError, "init_std"),
    ({"init_std": -0.1}, ValueError, "init_std"),
    ({"init_std": float("nan")}, ValueError, "init_std"),
    ({"init_std": "small"}, TypeError, "init_std"),
    ({"step": -1}, ValueError, "step"),
    ({"step": None}, TypeError, "step"),
])
def test_bad_schedule_arguments_are_refused_naming_them(kw, error, name):
    with pytest.raises(error, match=name):
        KSparseAutoencoder([64, 100], k=5, rng=0, **kw)


def test_setting_a_bad_step_is_refused_and_changes_nothing():
    model = KSparseAutoencoder([64, 100], k=5, schedule_steps=10, rng=0)
    model.step = 3
    for bad, error in ((-1, ValueError), (2.0, TypeError), ("4", TypeError)):
        with pytest.raises(error, match="step"):
            model.step = bad
    assert model.step == 3 and model.code_layer.k == model.training_k(3)


def test_init_std_draws_small_gaussian_weights_once_for_tied_weights():
    model = KSparseAutoencoder([64, 100], k=5, init_std=0.01, rng=0)
    W = model.encoder.layers[0].W.value
    assert model.decoder.layers[0].W is model.encoder.layers[0].W
    assert 0.009 < W.std() < 0.011 and abs(W.mean()) < 0.001
    assert np.array_equal(W, KSparseAutoencoder([64, 100], k=5, init_std=0.01, rng=0)
                          .encoder.layers[0].W.value)
    untied = KSparseAutoencoder([64, 100], k=5, init_std=0.01, tied=False, rng=0)
    assert 0.009 < untied.decoder.layers[0].W.value.std() < 0.011
