"""fit()'s checkpoints as one unit: checking a resume, restoring a run, writing checkpoints.

A checkpoint (numpyae.io) holds the parameters, the optimizer state, the states of the
shuffling Generator and of every Generator the model holds, the epoch and the History, so a
resumed run ends bit-identical to an uninterrupted one. It also holds the run's record
(run_record), what determines the result besides the model and the optimizer:

    batch_size, shuffle
    data, labels  fingerprints of the training inputs and labels (fingerprint: SHA-256 of the
                  array's bytes, with its dtype and shape). They are computed once per fit() call
                  that writes or resumes a checkpoint (about 0.1 s for MNIST's 188 MB at 2 GB/s)
                  and never per step; a fit() without checkpoints computes none.
    validation    None; {"split": fraction, "rng": the Generator state the split was drawn from,
                  "held_out": SHA-256 of the held-out row indices}; or {"data", "labels"}:
                  fingerprints of validation_data.

The rule: a resume must match what determines the result, or it is refused, before anything
changes, with a ModelFileError naming everything that differs: this record, the model's
architecture and dtype, the optimizers' classes, hyperparameters (lr, betas, eps, momentum,
nesterov, weight decay) and parameters, and the random generators
(numpyae.io.files.checkpoint_differences). `epochs` may grow (it counts all epochs); `rng`
need not be passed again, since the Generators' states come from the checkpoint: with
validation_split, the resumed run draws its split from the recorded state (split_generator),
so it holds out exactly the rows of the interrupted run, even with rng=None.
"""
from __future__ import annotations

import hashlib
import os

import numpy as np

from ..core.checks import check_positive_int
from ..core.random import generators
from ..io.files import (ModelFileError, apply_checkpoint, check_generator_state,
                        checkpoint_differences, read_checkpoint, refuse_resume, save_checkpoint)
from ..io.npz import check_save_path
from .history import History

#: Bit generators a recorded split state may name.
_BIT_GENERATORS = {cls.__name__: cls for cls in (np.random.PCG64, np.random.PCG64DXSM,
                                                 np.random.MT19937, np.random.Philox,
                                                 np.random.SFC64)}


class Checkpointer:
    """Writes fit()'s checkpoints: what to save is fixed when training starts."""

    def __init__(self, path, every, model, optimizer, generators, history, n, run=None):
        self.path, self.every = path, every
        self.model, self.optimizer, self.generators = model, optimizer, generators
        self.history, self.n, self.run = history, n, run

    def write(self, epoch):
        """Write the state after `epoch` completed epochs (atomically)."""
        save_checkpoint(self.path, self.model, self.optimizer, epoch=epoch,
                        history=self.history.state_dict(), generators=self.generators,
                        n_train=self.n, run=self.run)


def run_generators(rng, model):
    """The shuffling Generator first, then every Generator the model holds (fixed order)."""
    return [rng] + [g for g in generators(model) if g is not rng]


def check_paths(checkpoint, checkpoint_every, resume):
    """checkpoint_every as an int > 0; checkpoint (if given) a path a file can be saved to, checked
    now (numpyae.io.npz.check_save_path: its folder exists and is writable, it is no folder or
    device); resume (if given) a path. Returns (checkpoint, every, resume) with paths as str."""
    every = check_positive_int(checkpoint_every, "checkpoint_every")
    for name, value in (("checkpoint", checkpoint), ("resume", resume)):
        if value is not None and (isinstance(value, bool)
                                  or not isinstance(value, (str, os.PathLike))):
            raise TypeError(f"{name} must be a file path (str or os.PathLike), "
                            f"got {type(value).__name__}")
    if checkpoint is not None:
        checkpoint = check_save_path(checkpoint, "checkpoint")
    return checkpoint, every, (None if resume is None else os.fspath(resume))


def read_resume(resume):
    """The Checkpoint at `resume` (read and checked, numpyae.io.files.read_checkpoint), or None."""
    return None if resume is None else read_checkpoint(resume)


def fingerprint(array):
    """{"sha256", "shape", "dtype"} of an array (None for None): SHA-256 of its C-ordered bytes,
    with the dtype and shape, read once without a copy when the array is C-contiguous."""
    if array is None:
        return None
    array = np.ascontiguousarray(array)
    digest = hashlib.sha256(f"{array.dtype.str}{array.shape}".encode())
    digest.update(memoryview(array.reshape(-1)).cast("B"))
    return {"sha256": digest.hexdigest(), "shape": list(array.shape), "dtype": array.dtype.str}


def split_generator(rng, ck):
    """(the Generator to draw the validation split from, its state before the draw).

    A fresh run draws from rng itself (its state recorded first); a resumed run draws from a
    spare Generator set to the state the checkpoint recorded, so it holds out the same rows."""
    saved = ((ck.run or {}).get("validation") or {}).get("rng") if ck is not None else None
    if isinstance(saved, dict) and saved.get("bit_generator") in _BIT_GENERATORS:
        cls = _BIT_GENERATORS[saved["bit_generator"]]
        check_generator_state(saved, cls, f"{ck.path}: the recorded state of the validation "
                                          f"split's random generator")
        bit = cls()
        bit.state = saved
        return np.random.Generator(bit), saved
    return rng, rng.bit_generator.state


def held_out_fingerprint(indices):
    """SHA-256 of the held-out row indices, in their order (as int64)."""
    return hashlib.sha256(np.asarray(indices, dtype=np.int64).tobytes()).hexdigest()


def run_record(*, X, y, batch_size, shuffle, validation):
    """What a checkpoint records about the run (module doc); `validation` is None, {"split",
    "rng", "held_out"} or {"data": X_val, "labels": y_val} (arrays, fingerprinted here)."""
    if validation is not None and "data" in validation:
        validation = {"data": fingerprint(validation["data"]),
                      "labels": fingerprint(validation["labels"])}
    return {"batch_size": int(batch_size), "shuffle": bool(shuffle), "data": fingerprint(X),
            "labels": fingerprint(y), "validation": validation}


def _data_difference(what, saved, now):
    """How two fingerprints differ, as a message, or None."""
    if saved == now:
        return None
    if saved is None or now is None:
        none, some = ("the checkpoint", "this run") if saved is None else ("this run", "the checkpoint")
        return f"{what}: none in {none}, some in {some}"
    if not isinstance(saved, dict) or not {"sha256", "shape", "dtype"} <= set(saved):
        return f"{what}: not recorded in the checkpoint"
    if saved["shape"][:1] != now["shape"][:1]:
        rows = saved["shape"][0] if saved["shape"] else saved["shape"]
        return f"{what}: trained on {rows} rows, this run has {now['shape'][0]}"
    if saved["shape"] != now["shape"] or saved["dtype"] != now["dtype"]:
        return (f"{what}: shape {tuple(saved['shape'])} {saved['dtype']} in the checkpoint, "
                f"{tuple(now['shape'])} {now['dtype']} in this run")
    return (f"{what}: same shape {tuple(now['shape'])} but other values (SHA-256 "
            f"{str(saved['sha256'])[:12]}... in the checkpoint, {now['sha256'][:12]}... in this run)")


def _validation_kind(v):
    if v is None:
        return "no validation"
    if "split" in v:
        return f"validation_split={v.get('split')}"
    return "validation_data"


def run_differences(saved, now):
    """What differs between the run record of a checkpoint (saved) and of this run (now): a
    list of messages naming each difference."""
    if not isinstance(saved, dict):
        return ["run: the checkpoint records no run settings"]
    diffs = []
    for key in ("batch_size", "shuffle"):
        if saved.get(key) != now[key]:
            diffs.append(f"{key}: {saved.get(key)!r} in the checkpoint, {now[key]!r} in this run")
    for key, what in (("data", "training data"), ("labels", "training labels")):
        found = _data_difference(what, saved.get(key), now[key])
        if found:
            diffs.append(found)
    old, new = saved.get("validation"), now["validation"]
    if not (old is None or isinstance(old, dict)):
        diffs.append("validation: not readable in the checkpoint")
    elif _validation_kind(old) != _validation_kind(new):
        diffs.append(f"validation: {_validation_kind(old)} in the checkpoint, "
                     f"{_validation_kind(new)} in this run")
    elif new is not None and "split" in new:
        if old.get("held_out") != new["held_out"]:
            diffs.append("validation split: the held-out rows differ from the interrupted run's")
    elif new is not None:
        for key, what in (("data", "validation data"), ("labels", "validation labels")):
            found = _data_difference(what, old.get(key), new[key])
            if found:
                diffs.append(found)
    return diffs


def resume_run(ck, model, optimizer, rng, history, run, epochs):
    """Check that the run may resume from the Checkpoint ck and, if so, restore it in place:
    parameters, optimizer state, Generators, History. Refused (ModelFileError naming every
    difference, nothing changed) unless everything that determines the result matches (module
    doc). Returns the number of epochs already done."""
    gens = run_generators(rng, model)
    try:
        recorded = run_differences(ck.run, run)
    except (TypeError, KeyError, AttributeError, IndexError):
        recorded = ["run: the checkpoint's record of the run is malformed"]
    diffs = checkpoint_differences(ck, model, optimizer, gens) + recorded
    if diffs:
        raise refuse_resume(ck.path, diffs)
    if ck.epoch > epochs:
        raise ValueError(f"epochs={epochs} is fewer than the {ck.epoch} epochs the checkpoint "
                         f"{ck.path} has already trained (epochs counts them all)")
    try:
        History().load_state_dict(ck.history)
    except ValueError as exc:
        raise ModelFileError(f"{ck.path}: {exc}") from None
    apply_checkpoint(ck, model, optimizer, gens)
    history.load_state_dict(ck.history)
    return ck.epoch
