"""Checkpoints and resume in fit(): bit-identical continuation, same seed -> same run; output
places checked before the first step; a resume refused, naming what differs, unless it matches
what determines the result; loaded optimizer state validated like user input."""
import hashlib
import json
import os

import numpy as np
import pytest

import numpyae
import numpyae.io.files
import numpyae.io.npz
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


# ---- output places are checked before the first step -------------------------------------------

class CountEpochs(Callback):
    def __init__(self):
        self.n = 0

    def on_epoch_end(self, epoch, logs, model, history):
        self.n += 1


def test_fit_refuses_an_unwritable_checkpoint_path_before_training():
    """Reproducer: fit(..., epochs=40, checkpoint="/no/such/ck.npz", checkpoint_every=40) trained
    40 epochs, then failed naming a temporary file .numpyae-6x0r8lip.npz."""
    model, opt = build()
    before, spy = params(model), CountEpochs()
    with pytest.raises(FileNotFoundError) as info:
        fit(model, data(), opt, epochs=40, checkpoint="/no/such/ck.npz", checkpoint_every=40,
            callbacks=[spy], progress=False)
    assert "'/no/such/ck.npz'" in str(info.value) and "does not exist" in str(info.value)
    assert ".numpyae-" not in str(info.value)
    assert spy.n == 0 and opt.t == 0
    assert_bit_identical(params(model), before)


def _fifo(tmp_path):
    os.mkfifo(tmp_path / "pipe")
    return tmp_path / "pipe"


def _link_to_dev_null(tmp_path):
    (tmp_path / "null.npz").symlink_to("/dev/null")
    return tmp_path / "null.npz"


@pytest.mark.parametrize("place, exc, text", [
    (lambda tmp: tmp, IsADirectoryError, "it is a folder"),
    (lambda tmp: tmp / "missing" / "ck.npz", FileNotFoundError, "does not exist"),
    (lambda tmp: "/proc/ck.npz", OSError, "cannot save checkpoint '/proc/ck.npz'"),
    (_fifo, ValueError, "FIFO"),
    (_link_to_dev_null, ValueError, "character device"),
])
def test_fit_refuses_bad_checkpoint_places_before_training(tmp_path, place, exc, text):
    model, opt = build()
    path, spy = place(tmp_path), CountEpochs()
    with pytest.raises(exc, match=text) as info:
        fit(model, data(), opt, checkpoint=path, callbacks=[spy], **KW)
    assert str(path) in str(info.value) and ".numpyae-" not in str(info.value)
    assert spy.n == 0


def test_a_save_failing_during_training_names_the_users_path(tmp_path, monkeypatch):
    def disk_full(f, **arrays):
        f.write(b"PK\x03\x04")
        raise OSError(28, "No space left on device")
    model, opt = build()
    ck = tmp_path / "ck.npz"
    monkeypatch.setattr(numpyae.io.npz.np, "savez", disk_full)
    with pytest.raises(OSError, match="No space left on device") as info:
        fit(model, data(), opt, checkpoint=ck, **KW)
    assert f"cannot save checkpoint '{ck}'" in str(info.value)
    assert ".numpyae-" not in str(info.value) and os.listdir(tmp_path) == []


# ---- a resume must match what determines the result --------------------------------------------

def _interrupted(tmp_path, X=None, **kw):
    """The checkpoint of a run (build(), KW + kw) interrupted after 2 of 7 epochs."""
    X = data() if X is None else X
    model, opt = build()
    ck = tmp_path / "ck.npz"
    with pytest.raises(Interrupt):
        fit(model, X, opt, checkpoint=ck, callbacks=[StopAt(3)], **dict(KW, **kw))
    return ck


def _adam(**kw):
    def make():
        model = mlp_autoencoder([12, 8, 4], activation="tanh", loss="bce", rng=7)
        return model, Adam(model.parameters(), **dict({"lr": 0.01}, **kw))
    return make


def _reversed_parameters():
    model = mlp_autoencoder([12, 8, 4], activation="tanh", loss="bce", rng=7)
    return model, Adam(model.parameters()[::-1], lr=0.01)


@pytest.mark.parametrize("make, change, text", [
    (build, {"batch_size": 32}, r"batch_size: 16 in the checkpoint, 32 in this run"),
    (build, {"shuffle": False}, r"shuffle: True in the checkpoint, False in this run"),
    (build, {"X": data(seed=9)},
     r"training data: same shape \(50, 12\) but other values \(SHA-256 [0-9a-f]{12}\.\.\. in the "
     r"checkpoint, [0-9a-f]{12}\.\.\. in this run\)"),
    (build, {"X": data(50, seed=1).astype(np.float64)[:, :12]}, None),   # the same data: resumes
    (_adam(betas=(0.8, 0.999)),
     {}, r"optimizer \(Adam\)\.betas\[0\]: 0\.9 in the checkpoint, 0\.8 in this run"),
    (_adam(weight_decay=1e-3), {},
     r"optimizer \(Adam\)\.weight_decay: 0\.0 in the checkpoint, 0\.001 in this run"),
    (_adam(lr=0.001), {}, r"optimizer \(Adam\)\.lr: 0\.01 in the checkpoint, 0\.001 in this run"),
    (_adam(eps=1e-6), {}, r"optimizer \(Adam\)\.eps: 1e-08 in the checkpoint, 1e-06 in this run"),
    (_reversed_parameters, {}, r"optimizer parameters\[0\]: 'encoder\.0\.W' in the checkpoint, "
                               r"'decoder\.1\.b' in this run"),
    (build, {"validation_split": 0.2},
     r"validation: no validation in the checkpoint, validation_split=0\.2 in this run"),
    (build, {"validation_data": (data(10, seed=3),)},
     r"validation: no validation in the checkpoint, validation_data in this run"),
])
def test_resume_refuses_what_would_change_the_result(tmp_path, make, change, text):
    """Reproducer: resume checked only the row count, the architecture and the optimizer class;
    it accepted another batch size, other data with the same row count, shuffle=False, other
    Adam betas or weight decay, and replaced a new lr with the checkpoint's."""
    ck = _interrupted(tmp_path)
    model, opt = make()
    before = params(model)
    kw = dict(KW, **change)
    X = kw.pop("X", data())
    if text is None:
        fit(model, X, opt, resume=ck, **kw)
        return
    with pytest.raises(ModelFileError, match=text) as info:
        fit(model, X, opt, resume=ck, **kw)
    assert str(ck) in str(info.value) and "cannot resume" in str(info.value)
    assert_bit_identical(params(model), before)          # nothing was restored
    assert opt.t == 0


def test_a_refused_resume_keeps_the_new_learning_rate(tmp_path):
    ck = _interrupted(tmp_path)
    model, opt = _adam(lr=0.001)()
    with pytest.raises(ModelFileError, match="lr: 0.01 in the checkpoint, 0.001 in this run"):
        fit(model, data(), opt, resume=ck, **KW)
    assert opt.lr == 0.001


def test_resume_names_every_difference_at_once(tmp_path):
    ck = _interrupted(tmp_path)
    model, opt = _adam(lr=0.02, betas=(0.5, 0.9))()
    with pytest.raises(ModelFileError) as info:
        fit(model, data(seed=4), opt, resume=ck, **dict(KW, batch_size=8, shuffle=False))
    message = str(info.value)
    for what in ("batch_size: 16", "shuffle: True", "training data: same shape", "lr: 0.01",
                 "betas[0]: 0.9"):
        assert what in message, (what, message)
    assert "\n" not in message


def test_resume_refuses_another_validation_split_or_validation_data(tmp_path):
    ck = _interrupted(tmp_path, validation_split=0.2)
    model, opt = build()
    with pytest.raises(ModelFileError, match=r"validation: validation_split=0\.2 in the checkpoint, "
                                             r"validation_split=0\.3 in this run"):
        fit(model, data(), opt, resume=ck, **dict(KW, validation_split=0.3))
    (tmp_path / "a").mkdir()
    ck = _interrupted(tmp_path / "a", validation_data=(data(10, seed=2),))
    with pytest.raises(ModelFileError, match=r"validation data: same shape \(10, 12\) but other"):
        fit(model, data(), opt, resume=ck, **dict(KW, validation_data=(data(10, seed=3),)))


def test_resume_with_rng_none_and_validation_split_holds_out_the_interrupted_runs_rows(tmp_path):
    """Reproducer: with rng=None and validation_split, the split was drawn again before the
    Generator was restored, so validation rows leaked into training."""
    X = data(60)
    kw = dict(KW, rng=None, validation_split=0.2)
    ck = tmp_path / "ck.npz"
    model, opt = build()
    with pytest.raises(Interrupt):
        fit(model, X, opt, checkpoint=ck, callbacks=[StopAt(3)], **kw)
    # the same run, uninterrupted: a Generator in the state the interrupted run started from
    start = np.random.Generator(np.random.PCG64())
    start.bit_generator.state = read_checkpoint(ck).run["validation"]["rng"]
    model, opt = build()
    full = fit(model, X, opt, **dict(kw, rng=start))
    reference = params(model)
    model, opt = build()
    resumed = fit(model, X, opt, resume=ck, **kw)     # rng=None again: a fresh Generator
    assert_bit_identical(params(model), reference)
    assert resumed.records == full.records


def test_the_run_record_and_the_data_fingerprint(tmp_path):
    X = data()
    ck = tmp_path / "ck.npz"
    model, opt = build()
    fit(model, X, opt, checkpoint=ck, validation_split=0.2, **dict(KW, epochs=1))
    run = read_checkpoint(ck).run
    assert run["batch_size"] == 16 and run["shuffle"] is True and run["labels"] is None
    digest = hashlib.sha256(f"{X.dtype.str}{X.shape}".encode() + X.tobytes()).hexdigest()
    assert run["data"] == {"sha256": digest, "shape": [50, 12], "dtype": "<f4"}
    assert run["validation"]["split"] == 0.2 and len(run["validation"]["held_out"]) == 64
    info = read_checkpoint(ck).optimizers
    assert info == [{"prefix": "", "class": "Adam",
                     "hyperparameters": {"lr": 0.01, "betas": [0.9, 0.999], "eps": 1e-08,
                                         "weight_decay": 0.0},
                     "parameters": [n for n, _ in model.named_parameters_unique()]}]


def test_the_fingerprint_is_computed_once_per_fit_and_only_with_checkpoints(tmp_path, monkeypatch):
    from numpyae.training import checkpointing
    calls = []
    real = checkpointing.fingerprint
    monkeypatch.setattr(checkpointing, "fingerprint", lambda a: calls.append(a) or real(a))
    model, opt = build()
    fit(model, data(), opt, **KW)
    assert calls == []
    fit(model, data(), opt, checkpoint=tmp_path / "ck.npz", **KW)
    assert len(calls) == 2          # the inputs and the (absent) labels, once for 7 epochs


def test_a_version_1_checkpoint_is_refused_by_name(tmp_path):
    ck = _interrupted(tmp_path)
    with np.load(ck) as f:
        arrays = {k: f[k] for k in f.files}
    meta = json.loads(str(arrays["__checkpoint__"]))
    meta["version"] = 1
    arrays["__checkpoint__"] = np.array(json.dumps(meta))
    np.savez(tmp_path / "v1.npz", **arrays)
    model, opt = build()
    with pytest.raises(ModelFileError, match="checkpoint version 1, written by an earlier numpyae"):
        fit(model, data(), opt, resume=tmp_path / "v1.npz", **KW)
    numpyae.load(tmp_path / "v1.npz")     # still a model file


# ---- loaded optimizer state is validated like user input ----------------------------------------

def _crafted_checkpoint(tmp_path, change, kind="adam"):
    ck = _interrupted(tmp_path) if kind == "adam" else None
    if ck is None:
        model, opt = build(kind)
        ck = tmp_path / "ck.npz"
        fit(model, data(), opt, checkpoint=ck, **dict(KW, epochs=2))
    with np.load(ck) as f:
        arrays = {k: f[k] for k in f.files}
    change(arrays)
    out = tmp_path / "crafted.npz"
    np.savez(out, **arrays)
    return out


def _poke(key, value):
    def change(arrays):
        if isinstance(value, str):
            a = arrays[key].copy()
            a.flat[0] = float(value)
            arrays[key] = a
        else:
            arrays[key] = value
    return change


def _zero_t_with_moments(arrays):
    arrays["optim:t"] = np.array(0)


@pytest.mark.parametrize("kind, change, text", [
    ("adam", _poke("optim:lr", np.array(-0.01)), r"state\['lr'\] must be a finite number > 0, got -0\.01"),
    ("adam", _poke("optim:lr", np.array(np.nan)), r"state\['lr'\] must be a finite number > 0"),
    ("adam", _poke("optim:v.0", "inf"), r"state\['v\.0'\] contains NaN or inf"),
    ("adam", _poke("optim:m.1", "nan"), r"state\['m\.1'\] contains NaN or inf"),
    ("adam", _poke("optim:v.0", "-1"), r"state\['v\.0'\] \(a mean of squared gradients\) must be >= 0"),
    ("adam", _zero_t_with_moments, r"state\['t'\] is 0 but the moments m, v are not all zero"),
    ("adam", _poke("optim:t", np.array(1.5)), r"state\['t'\] \(a step counter\) must be an integer >= 0"),
    ("adam", _poke("optim:t", np.array(-1)), r"state\['t'\] \(a step counter\) must be an integer >= 0"),
    ("adam", _poke("optim:t", np.array(True)), r"state\['t'\] must be numeric"),
    ("adam", _poke("optim:m.0", np.zeros((12, 8), np.float64)), r"state\['m\.0'\] must have dtype float32"),
    ("sgd", _poke("optim:steps", np.array(-3)), r"state\['steps'\] \(a step counter\)"),
    ("sgd", _poke("optim:velocity.2", "inf"), r"state\['velocity\.2'\] contains NaN or inf"),
    ("sgd", _poke("optim:steps", np.array(0)), r"state\['steps'\] is 0 but the velocities"),
])
def test_resume_validates_the_saved_optimizer_state(tmp_path, kind, change, text):
    """Reproducer: lr=-0.01, v=inf, t=0 and t=1.5 were accepted from a checkpoint; t=-1 raised
    ZeroDivisionError inside Adam.step later."""
    crafted = _crafted_checkpoint(tmp_path, change, kind)
    model, opt = build(kind)
    before = params(model)
    with pytest.raises(ModelFileError, match=text) as info:
        fit(model, data(), opt, resume=crafted, **KW)
    assert str(crafted) in str(info.value)
    assert_bit_identical(params(model), before)
    assert opt.lr == (0.01 if kind == "adam" else 0.1)
    assert getattr(opt, "t", 0) == 0 and getattr(opt, "_steps", 0) == 0


@pytest.mark.parametrize("state", [{"state": "x", "inc": 1}, {"state": 1, "inc": 1.5},
                                   {"state": -5, "inc": 3}])
def test_a_crafted_generator_state_is_refused_before_anything_changes(tmp_path, state):
    """A state the bit generator would round (inc = 1.5) or wrap (-5) is refused like one it
    cannot take at all."""
    def change(arrays):
        meta = json.loads(str(arrays["__checkpoint__"]))
        meta["rng"][0]["state"] = state
        arrays["__checkpoint__"] = np.array(json.dumps(meta))
    crafted = _crafted_checkpoint(tmp_path, change)
    model, opt = build()
    before = params(model)
    with pytest.raises(ModelFileError, match="random generator state 0 is invalid"):
        fit(model, data(), opt, resume=crafted, **KW)
    assert_bit_identical(params(model), before)
    assert opt.t == 0


def test_a_crafted_split_state_is_refused(tmp_path):
    ck = _interrupted(tmp_path, validation_split=0.2)
    with np.load(ck) as f:
        arrays = {k: f[k] for k in f.files}
    meta = json.loads(str(arrays["__checkpoint__"]))
    meta["run"]["validation"]["rng"]["state"]["inc"] = 2.5
    arrays["__checkpoint__"] = np.array(json.dumps(meta))
    np.savez(tmp_path / "bad.npz", **arrays)
    model, opt = build()
    with pytest.raises(ModelFileError, match="validation split's random generator is invalid"):
        fit(model, data(), opt, resume=tmp_path / "bad.npz", **dict(KW, validation_split=0.2))


def test_a_crafted_history_is_refused(tmp_path):
    def change(arrays):
        meta = json.loads(str(arrays["__checkpoint__"]))
        meta["history"]["records"]["loss"] = ["0.5", "x"]
        arrays["__checkpoint__"] = np.array(json.dumps(meta))
    crafted = _crafted_checkpoint(tmp_path, change)
    model, opt = build()
    with pytest.raises(ModelFileError, match="history state must be"):
        fit(model, data(), opt, resume=crafted, **KW)
    assert opt.t == 0


def test_the_aae_resume_checks_every_phase_optimizer(tmp_path):
    X = data()
    model, opt = _aae()
    ck = tmp_path / "ck.npz"
    with pytest.raises(Interrupt):
        fit(model, X, opt, checkpoint=ck, callbacks=[StopAt(2)], **KW)
    model = numpyae.mlp_aae([12, 8, 2], discriminator=(6,), rng=4)
    opt = model.make_optimizers(lr=0.01, adversarial_lr=0.02)
    with pytest.raises(ModelFileError, match=r"optimizer 'discriminator' \(Adam\)\.lr: 0\.01 in the "
                                             r"checkpoint, 0\.02 in this run"):
        fit(model, X, opt, resume=ck, **KW)

    def change(arrays):
        arrays["optim:generator.t"] = np.array(-1)
    with np.load(ck) as f:
        arrays = {k: f[k] for k in f.files}
    change(arrays)
    np.savez(tmp_path / "bad.npz", **arrays)
    model, opt = _aae()
    with pytest.raises(ModelFileError, match=r"state\['t'\] \(a step counter\)"):
        fit(model, X, opt, resume=tmp_path / "bad.npz", **KW)
    assert opt.reconstruction.t == 0     # no phase was loaded before the bad one was found


def test_resume_with_an_mt19937_generator_and_a_split_is_bit_identical(tmp_path):
    """Generator states holding arrays (MT19937's key) survive the JSON round trip and its
    validation."""
    def rng():
        return np.random.Generator(np.random.MT19937(3))
    X = data(60)
    kw = dict(KW, validation_split=0.25)
    model, opt = build()
    full = fit(model, X, opt, **dict(kw, rng=rng()))
    reference = params(model)
    ck = tmp_path / "ck.npz"
    model, opt = build()
    with pytest.raises(Interrupt):
        fit(model, X, opt, checkpoint=ck, callbacks=[StopAt(4)], **dict(kw, rng=rng()))
    model, opt = build()
    resumed = fit(model, X, opt, resume=ck, **dict(kw, rng=np.random.Generator(np.random.MT19937())))
    assert_bit_identical(params(model), reference)
    assert resumed.records == full.records
