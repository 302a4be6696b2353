"""fit()'s checkpoints as one unit: restoring a run from a checkpoint, and writing them.

A checkpoint (numpyae.io) holds the parameters, the optimizer state, the states of the
shuffling Generator and of every Generator the model holds, the epoch and the History, so a
resumed run ends bit-identical to an uninterrupted one.
"""
from __future__ import annotations

import os

from ..core.checks import check_positive_int
from ..core.random import generators
from ..io.files import ModelFileError, restore_checkpoint, save_checkpoint


class Checkpointer:
    """Writes fit()'s checkpoints: what to save is fixed when training starts."""

    def __init__(self, path, every, model, optimizer, generators, history, n):
        self.path, self.every = path, every
        self.model, self.optimizer, self.generators = model, optimizer, generators
        self.history, self.n = history, n

    def write(self, epoch):
        """Write the state after `epoch` completed epochs (atomically)."""
        save_checkpoint(self.path, self.model, self.optimizer, epoch=epoch,
                        history=self.history.state_dict(), generators=self.generators,
                        n_train=self.n)


def run_generators(rng, model):
    """The shuffling Generator first, then every Generator the model holds (fixed order)."""
    return [rng] + [g for g in generators(model) if g is not rng]


def setup(model, optimizer, rng, history, n, checkpoint, checkpoint_every, resume, epochs):
    """Restore from `resume` (in place) and set up checkpoint writing.
    Returns (epochs already done, a Checkpointer or None)."""
    every = check_positive_int(checkpoint_every, "checkpoint_every")
    for name, value in (("checkpoint", checkpoint), ("resume", resume)):
        if value is not None and (isinstance(value, bool)
                                  or not isinstance(value, (str, os.PathLike))):
            raise TypeError(f"{name} must be a file path (str or os.PathLike), "
                            f"got {type(value).__name__}")
    start = 0
    if resume is not None:
        ck = restore_checkpoint(resume, model, optimizer, run_generators(rng, model))
        if ck.n is not None and ck.n != n:
            raise ModelFileError(f"{resume}: the checkpoint was trained on {ck.n} rows, "
                                 f"this run has {n}; resume with the same data and split")
        try:
            history.load_state_dict(ck.history)
        except ValueError as exc:
            raise ModelFileError(f"{resume}: {exc}") from None
        start = ck.epoch
        if start > epochs:
            raise ValueError(f"epochs={epochs} is fewer than the {start} epochs the checkpoint "
                             f"{resume} has already trained (epochs counts them all)")
    if checkpoint is None:
        return start, None
    return start, Checkpointer(checkpoint, every, model, optimizer,
                                run_generators(rng, model), history, n)
