"""The battery's "checkpoints" area: fit(checkpoint=..., resume=...).

Resuming: a resume must match what determines the result (the model, the optimizer and its
hyperparameters, the batch size, shuffling, the validation split, the data), or be refused
with a message naming what differs. The oracle of every resume is an uninterrupted run with the
same settings: a resume that is accepted must end bit-identical to it (parameters and History);
a resume whose settings differ from the checkpoint's must be refused (accepting it is silent
garbage). With rng=None and validation_split, the rows held out before the interruption must not
be trained on after it.

Loaded state is validated like user input: a checkpoint whose optimizer state, generator
states, epoch, History or run record is spoiled (NaN, inf, negative counts, fractional steps,
wrong shapes or types) is refused naming the file, or it is harmless (the resumed run is still
bit-identical to the uninterrupted one).

Writing: output places are checked before the first step (a refusal after training loses the
training), a checkpoint asked for is written (also when training stops early or diverges), the
target's permissions and symlinks are kept, and checkpoint writes killed with SIGKILL leave no
temp files once the next one is written.
"""
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import numpyae
from numpyae import SGD, Adam, AdamW, EarlyStopping, fit
from robustness_helpers import (DOCUMENTED_FILES, SETTINGS, Battery, file_state, lost_between,
                                model_for)

battery = Battery("checkpoints")

N, D, BATCH, DONE, TOTAL = 20, 6, 4, 2, 4
DOCUMENTED = DOCUMENTED_FILES


def _X(seed=0):
    return np.random.default_rng(seed).random((N, D)).astype(np.float32)


def _optimizer(kind, model, **kw):
    if kind == "adam":
        return Adam(model.parameters(), **{"lr": 1e-2, **kw})
    if kind == "adamw":
        return AdamW(model.parameters(), **{"lr": 1e-2, **kw})
    return SGD(model.parameters(), **{"lr": 0.1, "momentum": 0.5, **kw})


BASES = {  # name: (optimizer kind, fit keyword arguments)
    "adam": ("adam", {}),
    "sgd": ("sgd", {}),
    "split": ("adam", {"validation_split": 0.25}),
}


def _fit(model, opt, epochs, X=None, **kw):
    args = dict(batch_size=BATCH, rng=0, progress=False)
    args.update(kw)
    return fit(model, _X() if X is None else X, opt, epochs=epochs, **args)


def _params(model):
    return [p.value.copy() for p in model.parameters()]


@pytest.fixture(scope="module")
def bases(tmp_path_factory):
    """For each base run: a checkpoint after DONE epochs, and the parameters and History of the
    uninterrupted run of TOTAL epochs."""
    folder = tmp_path_factory.mktemp("bases")
    out = {}
    for name, (kind, kw) in BASES.items():
        model = model_for(0)
        ck = folder / f"{name}.npz"
        _fit(model, _optimizer(kind, model), DONE, checkpoint=ck, **kw)
        ref_model = model_for(0)
        history = _fit(ref_model, _optimizer(kind, ref_model), TOTAL, **kw)
        out[name] = dict(kind=kind, kw=kw, ck=ck.read_bytes(), params=_params(ref_model),
                         records={k: list(v) for k, v in history.records.items()})
    return out


def _bit_identical(model, history, base):
    """None if the resumed run ended exactly where the uninterrupted one did, else how not."""
    if history is None or getattr(history, "epochs", None) != TOTAL:
        return f"History has {getattr(history, 'epochs', None)} epochs, expected {TOTAL}"
    for p, r in zip(model.parameters(), base["params"]):
        if p.value.dtype != r.dtype or not np.array_equal(p.value, r):
            return "resumed parameters differ from the uninterrupted run's"
    for k, v in base["records"].items():
        if k not in history.records or list(history.records[k]) != v:
            return f"resumed History[{k!r}] differs from the uninterrupted run's"
    return None


def _resume(base, path, *, model=None, opt_kind=None, opt_kw=None, epochs=TOTAL, **changes):
    """fit(...) resuming from path with the base's settings, changed by `changes`."""
    model = model if model is not None else model_for(0)
    opt = _optimizer(opt_kind or base["kind"], model, **(opt_kw or {}))
    kw = dict(base["kw"])
    kw.update(changes)
    kw = {k: v for k, v in kw.items() if v is not _DROP}
    return model, opt, lambda: _fit(model, opt, epochs, resume=path, **kw)


_DROP = object()


def _case(base_name, bases, tmp_path, label, *, valid, names, check="identical", defect=7,
          **resume_kw):
    base = bases[base_name]
    path = tmp_path / f"ck-{abs(hash(label))}.npz"
    path.write_bytes(base["ck"])
    model, opt, run = _resume(base, path, **resume_kw)
    if check == "identical":
        checker = lambda h: _bit_identical(model, h, base)
    else:
        checker = lambda h: check(model, opt, h)
    return battery.attempt("fit(resume=...)", run, valid=valid, names=names, check=checker,
                           defect=defect, inputs=f"{base_name} checkpoint, {label}",
                           documented=DOCUMENTED, before_work=valid is False)


# ---- resume: what determines the result must match -----------------------------------------------

def test_resume_with_the_same_settings_is_bit_identical(bases, tmp_path):
    for name in BASES:
        _case(name, bases, tmp_path, "the same settings", valid=True, names=())
    base = bases["adam"]
    path = tmp_path / "same.npz"
    path.write_bytes(base["ck"])
    model, opt, _ = _resume(base, path)
    battery.attempt("fit(resume=...)", lambda: _fit(model, opt, TOTAL, resume=path,
                                                    checkpoint=path),
                    valid=True, check=lambda h: _bit_identical(model, h, base),
                    inputs="adam checkpoint, resume and checkpoint the same file")


def _lr_check(new_lr):
    def check(model, opt, history):
        if not np.isclose(opt.lr, new_lr):
            return f"the new lr={new_lr} was replaced by the checkpoint's ({opt.lr})"
        return None
    return check


def test_resume_with_other_settings_is_refused(bases, tmp_path):
    """Each setting that determines the result, changed at resume (issue defect 7)."""
    X = _X()
    other = _X(seed=7)
    nudged = X.copy()
    nudged[3, 2] += 1e-3
    cases = [
        ("adam", "batch_size 4 -> 5", dict(batch_size=5), ["batch_size"]),
        ("adam", "other data, same row count", dict(X=other), ["X", "data"]),
        ("adam", "one value of X changed by 1e-3", dict(X=nudged), ["X", "data"]),
        ("adam", "the rows of X permuted", dict(X=X[::-1].copy()), ["X", "data"]),
        ("adam", "shuffle=False", dict(shuffle=False), ["shuffle"]),
        ("adam", "Adam betas (0.8, 0.999)", dict(opt_kw={"betas": (0.8, 0.999)}), ["betas"]),
        ("adam", "Adam weight_decay 1e-3", dict(opt_kw={"weight_decay": 1e-3}), ["weight_decay"]),
        ("adam", "Adam eps 1e-4", dict(opt_kw={"eps": 1e-4}), ["eps"]),
        ("adam", "AdamW instead of Adam", dict(opt_kind="adamw"), ["optimizer", "AdamW", "Adam"]),
        ("adam", "SGD instead of Adam", dict(opt_kind="sgd"), ["optimizer", "SGD", "Adam"]),
        ("sgd", "SGD momentum 0.5 -> 0.9", dict(opt_kw={"momentum": 0.9}), ["momentum"]),
        ("sgd", "SGD nesterov=True", dict(opt_kw={"nesterov": True}), ["nesterov"]),
        ("sgd", "SGD weight_decay 1e-3", dict(opt_kw={"weight_decay": 1e-3}), ["weight_decay"]),
        ("adam", "validation_split=0.25 added", dict(validation_split=0.25),
         ["validation_split", "validation"]),
        ("split", "validation_split 0.25 -> 0.5", dict(validation_split=0.5),
         ["validation_split", "validation"]),
        ("split", "validation_split dropped", dict(validation_split=_DROP),
         ["validation_split", "validation"]),
        ("adam", "epochs=1, fewer than the 2 done", dict(epochs=1), ["epochs"]),
        ("adam", "another architecture", dict(model=numpyae.mlp_autoencoder(
            [D, 4, 3], activation="tanh", rng=0)), ["architecture", "model"]),
        ("adam", "another loss", dict(model=model_for(0, loss="mse")),
         ["architecture", "model", "loss"]),
        ("adam", "float64 model", dict(model=model_for(0, dtype=np.float64)),
         ["dtype", "float64", "float32", "architecture"]),
        ("adam", "a VAE resumed from an autoencoder's checkpoint",
         dict(model=numpyae.mlp_vae([D, 5, 3], rng=0)), ["architecture", "model", "VAE"]),
        ("adam", "labels y for a model without labels", dict(y=np.arange(N) % 3), ["y"]),
    ]
    for base, label, kw, names in cases:
        _case(base, bases, tmp_path, label, valid=False, names=names, **kw)
    # a new learning rate: refused, or honoured (never silently replaced by the checkpoint's)
    _case("adam", bases, tmp_path, "Adam lr 1e-2 -> 3e-3", valid=None, names=["lr"],
          check=_lr_check(3e-3), opt_kw={"lr": 3e-3})
    _case("sgd", bases, tmp_path, "SGD lr 0.1 -> 0.05", valid=None, names=["lr"],
          check=_lr_check(0.05), opt_kw={"lr": 0.05})
    # settings the checkpoint overrides or that do not change the numbers: either way, but an
    # accepted resume must end bit-identical to the uninterrupted run
    for base, label, kw in (("adam", "rng=5 instead of 0 (no split)", dict(rng=5)),
                            ("adam", "rng=None (no split)", dict(rng=None)),
                            ("adam", "the model built with another seed", dict(model=model_for(5))),
                            ("adam", "X as float64 (the same values)", dict(X=X.astype(np.float64))),
                            ("adam", "validation_data added", dict(validation_data=(X[:3],))),
                            ("split", "rng=3 with validation_split", dict(rng=3))):
        _case(base, bases, tmp_path, label, valid=None, names=list(kw) + ["rng", "validation"],
              **kw)


def test_resume_with_rng_none_and_a_split_holds_out_the_same_rows(tmp_path):
    """rng=None and validation_split: the rows held out before the interruption are never trained
    on after it (issue defect 7: the split was drawn again, so validation rows leaked)."""
    X = _X(seed=11)
    key = lambda row: row.tobytes()
    for attempt in range(3):
        seen_a, seen_b = set(), set()
        model = model_for(attempt)
        model.train_step = _spy(model, seen_a)
        ck = tmp_path / f"none-{attempt}.npz"
        fit(model, X, Adam(model.parameters(), lr=1e-2), epochs=DONE, batch_size=BATCH,
            rng=None, validation_split=0.25, checkpoint=ck, progress=False)
        held_out = {key(r) for r in X} - seen_a
        fresh = model_for(attempt)
        fresh.train_step = _spy(fresh, seen_b)

        def check(history):
            leaked = held_out & seen_b
            if leaked:
                return (f"{len(leaked)} of the {len(held_out)} rows held out before the "
                        f"interruption were trained on after it")
            if len(seen_b) != len(seen_a):
                return f"trained on {len(seen_b)} rows after resuming, {len(seen_a)} before"
            return None
        battery.attempt("fit(resume=...)", lambda: fit(
            fresh, X, Adam(fresh.parameters(), lr=1e-2), epochs=TOTAL, batch_size=BATCH, rng=None,
            validation_split=0.25, resume=ck, progress=False),
            valid=None, names=["rng", "validation_split", str(ck)], check=check, defect=7,
            documented=DOCUMENTED, inputs=f"rng=None, validation_split=0.25 (run {attempt})")


def _spy(model, seen):
    """model.train_step, recording the rows of every batch it trains on."""
    real = model.train_step

    def train_step(x, y, optimizer):
        seen.update(np.asarray(r, dtype=np.float32).tobytes() for r in x)
        return real(x, y, optimizer)
    return train_step


# ---- resume: loaded state is validated like user input -------------------------------------------

def _read(raw):
    with np.load(io.BytesIO(raw), allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def _write(path, arrays):
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    path.write_bytes(buf.getvalue())


def _optim_key(arrays, last):
    """The checkpoint's optimizer-state key ending in `last` (e.g. "lr", "t", "v.0")."""
    keys = [k for k in arrays if k.startswith("optim:")
            and (k.endswith("." + last) or k.endswith(":" + last))]
    return keys[0] if keys else None


def test_resume_refuses_a_spoiled_optimizer_state(bases, tmp_path):
    """The exact optimizer states of issue defect 8: lr=-0.01, v=inf, t=0, t=1.5, t=-1."""
    base = bases["adam"]
    for label, last, value in (("lr=-0.01", "lr", -0.01), ("v=inf", "v.0", np.inf),
                               ("t=0", "t", 0), ("t=1.5", "t", 1.5), ("t=-1", "t", -1),
                               ("m=nan", "m.0", np.nan), ("lr=nan", "lr", np.nan),
                               ("lr=0", "lr", 0.0), ("v=-1", "v.1", -1.0)):
        arrays = _read(base["ck"])
        key = _optim_key(arrays, last)
        assert key is not None, f"no optimizer state entry {last!r} in {sorted(arrays)}"
        old = arrays[key]
        arrays[key] = np.full(old.shape, value, dtype=np.result_type(old.dtype, type(value)))
        path = tmp_path / f"spoiled-{label}.npz"
        _write(path, arrays)
        model, opt, run = _resume(base, path)
        battery.attempt("fit(resume=...)", run, valid=False, names=[str(path)], defect=8,
                        documented=DOCUMENTED, inputs=f"optimizer state {label}",
                        before_work=True)


JUNK_FOR = {
    int: [1.5, "x", None, [], float("nan"), -(2 ** 70)],
    float: ["x", None, [], float("nan"), float("inf")],
    str: [3, None, [], ""],
    bool: ["x", None, 3],
}


def _leaves(obj, path=()):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _leaves(v, path + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _leaves(v, path + (i,))
    else:
        yield path, obj


@settings(max_examples=250, **SETTINGS)
@given(data=st.data(), base_name=st.sampled_from(["adam", "sgd"]),
       what=st.sampled_from(["optim", "optim", "meta", "meta", "meta", "param"]))
def test_resume_from_a_spoiled_checkpoint(bases, tmp_path_factory, data, base_name, what):
    """Spoiled loaded state: refused naming the file, or harmless (still bit-identical)."""
    base = bases[base_name]
    arrays = _read(base["ck"])
    if what == "optim":
        key = data.draw(st.sampled_from(sorted(k for k in arrays if k.startswith("optim:"))))
        old = arrays[key]
        stem = [part for part in key.split(":", 1)[1].split(".") if not part.isdigit()][-1]
        hows = ["nan", "inf", "shape", "string", "complex"]
        if stem in ("lr", "t", "steps", "v"):
            hows.append("negative")  # counts, rates and second moments are never negative
        if stem in ("t", "steps"):
            hows += ["fraction", "huge"]  # step counts are integers (that fit a float)
        how = data.draw(st.sampled_from(hows))
        value = {"nan": lambda: np.full(old.shape, np.nan),
                 "inf": lambda: np.full(old.shape, np.inf),
                 "shape": lambda: np.zeros(old.shape + (2,)),
                 "string": lambda: np.array("x"),
                 "negative": lambda: np.full(old.shape, -1.0),
                 "fraction": lambda: np.full(old.shape, 1.5),
                 "huge": lambda: np.full(old.shape, 2 ** 62, dtype=np.int64),
                 "complex": lambda: np.full(old.shape, 1 + 1j)}[how]()
        arrays[key] = value
        label = f"{key} {how}"
    elif what == "param":
        key = data.draw(st.sampled_from(sorted(k for k in arrays if k.startswith("param:"))))
        arrays[key] = np.full(arrays[key].shape, data.draw(st.sampled_from([np.nan, np.inf])),
                              dtype=arrays[key].dtype)
        label = f"{key} NaN/inf"
    else:
        meta = json.loads(str(arrays["__checkpoint__"]))
        leaves = [(p, v) for p, v in _leaves(meta) if type(v) in JUNK_FOR]
        leaf, old = data.draw(st.sampled_from(leaves))
        new = data.draw(st.sampled_from(JUNK_FOR[type(old)]))
        node = meta
        for k in leaf[:-1]:
            node = node[k]
        node[leaf[-1]] = new
        arrays["__checkpoint__"] = np.array(json.dumps(meta))
        label = f"__checkpoint__{''.join(f'[{k!r}]' for k in leaf)} = {new!r} (was {old!r:.30})"
    folder = tmp_path_factory.getbasetemp() / "spoiled"
    folder.mkdir(exist_ok=True)
    path = folder / "ck.npz"
    _write(path, arrays)
    model, opt, run = _resume(base, path)
    battery.attempt("fit(resume=...)", run, valid=None, names=[str(path)],
                    check=lambda h: _bit_identical(model, h, base), documented=DOCUMENTED,
                    inputs=label, defect=8 if what == "optim" else None, before_work=True,
                    memory_mb=100)


def test_resume_from_files_that_are_not_checkpoints(bases, tmp_path):
    base = bases["adam"]
    plain = tmp_path / "model.npz"
    numpyae.save(model_for(0), plain)
    for label, path in (("a missing file", tmp_path / "missing.npz"),
                        ("a saved model, not a checkpoint", plain),
                        ("a folder", tmp_path),
                        ("an empty file", tmp_path / "empty.npz")):
        if label == "an empty file":
            path.write_bytes(b"")
        model, opt, run = _resume(base, path)
        battery.attempt("fit(resume=...)", run, valid=False, names=[str(path)],
                        documented=DOCUMENTED, inputs=label, before_work=True)


# ---- writing checkpoints -------------------------------------------------------------------------

def _checkpoint_case(label, path, *, valid, epochs=3, every=1, names=None, defect=None,
                     expect_epoch=None, callbacks=(), lr=1e-2, mode=None, folder=None):
    """fit(checkpoint=path); the written file must exist and hold the final model; a refusal must
    come before training; the target's kind, mode and symlink and its folder are kept."""
    model = model_for(0)
    opt = Adam(model.parameters(), lr=lr)
    path = os.fspath(path)
    before = file_state(path)
    folder = os.fspath(folder) if folder is not None else os.path.dirname(path)
    listing = set(os.listdir(folder)) if os.path.isdir(folder) else None
    state = {}

    def run():
        h = _fit(model, opt, epochs, checkpoint=path, checkpoint_every=every,
                 callbacks=list(callbacks))
        state["ok"] = True
        return h

    def check(history):
        try:
            saved = numpyae.load(path)
        except Exception as exc:  # noqa: BLE001
            return f"the checkpoint does not load: {type(exc).__name__}: {exc}"
        for (n, p), (_, q) in zip(saved.named_parameters_unique(),
                                  model.named_parameters_unique()):
            if not np.array_equal(p.value, q.value):
                return f"the checkpoint's {n} is not the final model's"
        return None

    def lost():
        after = file_state(path)
        if state.get("ok") and not after.get("exists"):
            return f"checkpoint {path} asked for but not written"
        gone = lost_between(before, after, path=path, content_may_change=state.get("ok", False))
        if gone:
            return gone
        if mode is not None and after.get("mode") is not None and "link" not in after \
                and after["mode"] != mode:
            return f"{path} written with mode {after['mode']:04o}, expected {mode:04o}"
        if listing is not None:
            extra = sorted(set(os.listdir(folder)) - listing - {os.path.basename(path)})
            if extra:
                return f"left behind in {folder}: {extra}"
        return None
    return battery.attempt("fit(checkpoint=...)", run, valid=valid, names=names or [path],
                           check=check, lost=lost, documented=DOCUMENTED, defect=defect,
                           inputs=label, before_work=True, limit=20)


def test_checkpoint_places_are_checked_before_training(tmp_path):
    """Output places are checked before the first step (issue defect 2)."""
    _checkpoint_case('epochs=40, checkpoint="/no/such/ck.npz", checkpoint_every=40',
                     "/no/such/ck.npz", valid=False, epochs=40, every=40, defect=2,
                     folder=tmp_path)
    _checkpoint_case("/proc/nope.npz", "/proc/nope.npz", valid=False, defect=2, folder=tmp_path)
    (tmp_path / "a_folder").mkdir()
    _checkpoint_case("a folder", tmp_path / "a_folder", valid=False, defect=2)
    (tmp_path / "file.txt").write_text("x")
    _checkpoint_case("a path under a regular file", tmp_path / "file.txt" / "ck.npz",
                     valid=False, defect=2, folder=tmp_path)
    fifo = tmp_path / "fifo.npz"
    os.mkfifo(fifo)
    _checkpoint_case("a FIFO", fifo, valid=False, defect=12)


def test_checkpoints_are_written_when_asked(tmp_path):
    """A checkpoint asked for is written: at the end, when stopping early, through a symlink,
    over an existing file (keeping its mode)."""
    _checkpoint_case("checkpoint_every=5 > epochs=3", tmp_path / "a.npz", valid=True, every=5)
    _checkpoint_case("EarlyStopping after the first epoch", tmp_path / "b.npz", valid=True,
                     epochs=6, every=4, callbacks=[EarlyStopping(monitor="loss", patience=1,
                                                                 min_delta=10.0,
                                                                 restore_best=False)])
    existing = tmp_path / "existing.npz"
    numpyae.save(model_for(3), existing)
    os.chmod(existing, 0o644)
    old = os.umask(0o077)
    try:
        _checkpoint_case("over an existing 0644 file, umask 077", existing, valid=True,
                         mode=0o644, defect=12)
    finally:
        os.umask(old)
    target = tmp_path / "target.npz"
    numpyae.save(model_for(3), target)
    link = tmp_path / "link.npz"
    link.symlink_to(target)
    _checkpoint_case("a symlink to an existing file", link, valid=None, defect=12,
                     names=[str(link)])


class _EpochCounter(numpyae.Callback):
    """Counts the epochs fit() completed."""

    def __init__(self):
        self.done = 0

    def on_epoch_end(self, epoch, logs, model, history):
        """Count one epoch."""
        self.done += 1


def test_checkpoint_is_kept_when_training_diverges(tmp_path):
    """Training that stops with NonFiniteError after some epochs leaves the last checkpoint."""
    path = tmp_path / "diverge.npz"
    model = numpyae.mlp_autoencoder([D, 5, 3], activation="relu", loss="mse",
                                    output_activation="identity", rng=0)
    X = _X() * 50
    epochs = _EpochCounter()

    def run():
        return fit(model, X, SGD(model.parameters(), lr=7e-4, momentum=0.99), epochs=60,
                   batch_size=4, rng=0, checkpoint=path, checkpoint_every=1, progress=False,
                   callbacks=[epochs])

    def lost():
        if epochs.done and not path.exists():
            return (f"training stopped after {epochs.done} complete epochs, and no checkpoint "
                    f"of them was written")
        return None
    battery.attempt("fit(checkpoint=...)", run, valid=None,
                    names=["epoch", "NaN", "inf", "non-finite", "overflow"],
                    float_errors=False, lost=lost, documented=DOCUMENTED,
                    inputs="SGD lr=7e-4 momentum=0.99 on X*50 (diverges at epoch 12)")


KILL_CHECKPOINT = """
import sys
import numpy as np
import numpyae
model = numpyae.linear_autoencoder(300, 200, rng=0)
X = np.random.default_rng(0).random((64, 300)).astype(np.float32)
print("ready", flush=True)
numpyae.fit(model, X, numpyae.Adam(model.parameters()), epochs=100000, batch_size=64, rng=0,
            checkpoint=sys.argv[1], checkpoint_every=1, progress=False)
"""


def test_killed_checkpoint_writes_leave_no_temp_files(tmp_path):
    """fit's checkpoint writes killed with SIGKILL: the checkpoint stays readable, and the next
    run's checkpoint removes the temp files the killed writes left (issue defect 3)."""
    path = tmp_path / "ck.npz"
    before_names = set(os.listdir(tmp_path))
    for delay in (0.3, 0.45, 0.6):
        proc = subprocess.Popen([sys.executable, "-c", KILL_CHECKPOINT, str(path)],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        try:
            proc.stdout.readline()
            time.sleep(delay)
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdout.close()
    orphans = sorted(set(os.listdir(tmp_path)) - before_names - {path.name})
    old = time.time() - 24 * 3600
    for name in orphans:
        os.utime(tmp_path / name, (old, old))
    if path.exists():
        battery.attempt("load", lambda: numpyae.load(path), valid=True, defect=3,
                        check=lambda m: None if m.input_dim == 300 else "wrong model",
                        inputs="a checkpoint whose writes were killed with SIGKILL")

    def lost():
        left = sorted(set(os.listdir(tmp_path)) - before_names - {path.name, "fresh.npz"})
        return (f"{len(orphans)} temp file(s) from killed checkpoint writes; after the next "
                f"checkpoint {len(left)} remain: {left[:3]}") if left else None
    model = model_for(0)
    battery.attempt("fit(checkpoint=...)", lambda: _fit(model, Adam(model.parameters()), 1,
                                                        checkpoint=tmp_path / "fresh.npz"),
                    valid=True, lost=lost, defect=3,
                    inputs=f"into a folder holding {len(orphans)} temp files of killed writes")
    shutil.rmtree(tmp_path, ignore_errors=True)
