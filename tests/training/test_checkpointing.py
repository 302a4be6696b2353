"""Checkpoints and resume in fit(): bit-identical continuation, same seed -> same run."""
import numpy as np
import pytest

import numpyae
import numpyae.io.files
from numpyae import SGD, Adam, Callback, ModelFileError, fit, mlp_autoencoder
from numpyae.io.files import read_checkpoint


class Interrupt(Exception):
    pass


class StopAt(Callback):
    """Simulates a crash (an exception out of fit) at the end of epoch `at` (1-based)."""

    def __init__(self, at):
        self.at = at

    def on_epoch_end(self, epoch, logs, model, history):
        if epoch + 1 == self.at:
            raise Interrupt


@numpyae.core.registry.register
class NoisyModel(numpyae.Autoencoder):
    """An autoencoder that holds its own Generator and corrupts inputs with it while training,
    so the checkpoint must carry the model's RNG state as well as fit()'s."""

    def __init__(self, *args, rng=0, **kw):
        super().__init__(*args, **kw)
        self.noise_rng = np.random.default_rng(rng)

    def forward_loss(self, x, y=None, *, training=True):
        if training:
            x = x + self.x_dtype(0.1) * self.noise_rng.standard_normal(x.shape, dtype=x.dtype)
        return super().forward_loss(x, y, training=training)

    @property
    def x_dtype(self):
        return self.dtype


def data(n=50, d=12, seed=1):
    return np.random.default_rng(seed).random((n, d), dtype=np.float32)


def build(kind="adam", noisy=False):
    model = mlp_autoencoder([12, 8, 4], activation="tanh", loss="bce", rng=7)
    if noisy:
        model = NoisyModel(model.encoder, model.decoder, model.loss, rng=3)
    opt = (Adam(model.parameters(), lr=0.01) if kind == "adam"
           else SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True))
    return model, opt


def params(model):
    return [p.value.copy() for p in model.parameters()]


def assert_bit_identical(a, b):
    assert len(a) == len(b)
    for u, v in zip(a, b):
        assert u.dtype == v.dtype and u.shape == v.shape
        assert np.array_equal(u, v) and u.tobytes() == v.tobytes()


KW = dict(epochs=7, batch_size=16, rng=5, progress=False)


@pytest.mark.parametrize("kind,noisy", [("adam", False), ("sgd", True), ("adam", True)])
def test_interrupted_and_resumed_run_is_bit_identical(tmp_path, kind, noisy):
    X = data()
    Xv = data(10, seed=2)
    model, opt = build(kind, noisy)
    full = fit(model, X, opt, validation_data=(Xv,), **KW)
    reference = params(model)

    ck = tmp_path / "run.ckpt.npz"
    model, opt = build(kind, noisy)
    with pytest.raises(Interrupt):
        fit(model, X, opt, validation_data=(Xv,), checkpoint=ck, checkpoint_every=2,
            callbacks=[StopAt(5)], **KW)
    assert read_checkpoint(ck).epoch == 4  # the crash at epoch 5 lost one epoch of work

    model, opt = build(kind, noisy)  # a fresh process: rebuild, then resume
    resumed = fit(model, X, opt, validation_data=(Xv,), checkpoint=ck, checkpoint_every=2,
                  resume=ck, **KW)
    assert_bit_identical(params(model), reference)
    assert resumed.epochs == full.epochs == 7
    assert resumed.records == full.records
    assert read_checkpoint(ck).epoch == 7


def test_resume_with_validation_split(tmp_path):
    X = data(60)
    kw = dict(KW, validation_split=0.2)
    model, opt = build()
    fit(model, X, opt, **kw)
    reference = params(model)
    ck = tmp_path / "c.npz"
    model, opt = build()
    with pytest.raises(Interrupt):
        fit(model, X, opt, checkpoint=ck, callbacks=[StopAt(3)], **kw)
    model, opt = build()
    fit(model, X, opt, resume=ck, **kw)
    assert_bit_identical(params(model), reference)


def test_same_seed_same_run():
    X = data()
    runs = []
    for _ in range(2):
        model, opt = build("sgd", noisy=True)
        h = fit(model, X, opt, **KW)
        runs.append((params(model), h.records))
    assert_bit_identical(runs[0][0], runs[1][0])
    assert runs[0][1] == runs[1][1]
    model, opt = build("sgd", noisy=True)
    fit(model, X, opt, **dict(KW, rng=6))
    assert not all(np.array_equal(a, b) for a, b in zip(params(model), runs[0][0]))


def test_checkpoint_contents_and_plain_load(tmp_path):
    X = data()
    model, opt = build()
    ck = tmp_path / "c.npz"
    fit(model, X, opt, checkpoint=ck, checkpoint_every=3, **dict(KW, epochs=4))
    # a checkpoint is also a model file: numpyae.load reads it, without pickle
    loaded = numpyae.load(ck)
    assert_bit_identical(params(loaded), params(model))
    info = read_checkpoint(ck)
    assert info.epoch == 4 and info.optimizer == "Adam" and info.n == len(X)
    assert int(info.optimizer_state["t"]) == opt.t == 4 * 4
    assert info.history["epochs"] == 4 and len(info.history["records"]["loss"]) == 4
    with np.load(ck, allow_pickle=False) as npz:
        assert all(npz[k].dtype != object for k in npz.files)


def test_resume_refuses_a_mismatch(tmp_path):
    X = data()
    model, opt = build("adam")
    ck = tmp_path / "c.npz"
    fit(model, X, opt, checkpoint=ck, **dict(KW, epochs=2))
    model, opt = build("sgd")
    with pytest.raises(ModelFileError, match="holds Adam state, the optimizer is SGD"):
        fit(model, X, opt, resume=ck, **KW)
    other = mlp_autoencoder([12, 6, 4], rng=0)
    with pytest.raises(ModelFileError, match="different architecture"):
        fit(other, X, Adam(other.parameters()), resume=ck, **KW)
    model, opt = build("adam")
    with pytest.raises(ModelFileError, match="trained on 50 rows, this run has 40"):
        fit(model, X[:40], opt, resume=ck, **KW)
    model, opt = build("adam", noisy=True)  # holds one more Generator
    with pytest.raises(ModelFileError, match="different architecture|random generator"):
        fit(model, X, opt, resume=ck, **KW)
    plain = tmp_path / "plain.npz"
    numpyae.save(model, plain)
    with pytest.raises(ModelFileError, match="not a training checkpoint"):
        read_checkpoint(plain)


def test_checkpoint_arguments_are_checked(tmp_path):
    model, opt = build()
    with pytest.raises(ValueError, match="checkpoint_every"):
        fit(model, data(), opt, checkpoint=tmp_path / "c.npz", checkpoint_every=0, **KW)
    with pytest.raises(TypeError, match="checkpoint must be a file path"):
        fit(model, data(), opt, checkpoint=3, **KW)
    with pytest.raises(FileNotFoundError):
        fit(model, data(), opt, resume=tmp_path / "missing.npz", **KW)


def test_optimizer_state_dict_round_trip_and_checks():
    model, opt = build("adam")
    fit(model, data(), opt, **dict(KW, epochs=1))
    state = {k: np.array(v, copy=True) for k, v in opt.state_dict().items()}
    model2, opt2 = build("adam")
    opt2.load_state_dict(state)
    assert opt2.t == opt.t and opt2.lr == opt.lr
    assert_bit_identical(opt2.m + opt2.v, opt.m + opt.v)
    bad = dict(state)
    del bad["m.0"]
    with pytest.raises(ValueError, match=r"missing keys \['m.0'\]"):
        opt2.load_state_dict(bad)
    bad = dict(state, **{"v.1": np.zeros(3)})
    with pytest.raises(ValueError, match=r"state\['v.1'\] must have shape"):
        opt2.load_state_dict(bad)


def test_resume_needs_epochs_to_count_the_done_ones(tmp_path):
    X = data()
    model, opt = build()
    ck = tmp_path / "c.npz"
    fit(model, X, opt, checkpoint=ck, **dict(KW, epochs=3))
    model, opt = build()
    with pytest.raises(ValueError, match="epochs=2 is fewer than the 3 epochs"):
        fit(model, X, opt, resume=ck, **dict(KW, epochs=2))
    model, opt = build()
    h = fit(model, X, opt, resume=ck, **dict(KW, epochs=3))  # nothing left to do
    assert h.epochs == 3


# ---- the other models: VAE (eps Generator, KL warm-up counter), AAE (three optimizers) ----------

def _vae():
    model = numpyae.mlp_vae([12, 8, 2], kl_warmup=20, rng=4)
    return model, Adam(model.parameters(), lr=0.01)


def _aae():
    model = numpyae.mlp_aae([12, 8, 2], discriminator=(6,), rng=4)
    return model, model.make_optimizers(lr=0.01)


@pytest.mark.parametrize("build_model", [_vae, _aae], ids=["vae", "aae"])
def test_resume_other_models_bit_identical(tmp_path, build_model):
    X = data()
    model, opt = build_model()
    full = fit(model, X, opt, **KW)
    reference = params(model)
    ck = tmp_path / "ck.npz"
    model, opt = build_model()
    with pytest.raises(Interrupt):
        fit(model, X, opt, checkpoint=ck, checkpoint_every=3, callbacks=[StopAt(5)], **KW)
    model, opt = build_model()
    resumed = fit(model, X, opt, resume=ck, **KW)
    assert_bit_identical(params(model), reference)
    assert resumed.records == full.records
    if hasattr(model, "step"):
        assert model.step == 7 * 4  # the warm-up counter carried over
