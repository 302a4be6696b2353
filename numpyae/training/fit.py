"""fit(): minibatch training for any numpyae Model.

Each epoch shuffles the training set with the run's Generator, walks it in minibatches and calls
model.train_step(xb, yb, optimizer). The History records, per epoch, the mean of every loss term
over the training set (weighted by batch size) and, when validation data is given, the same terms
on it in inference mode, prefixed "val_".
"""
from __future__ import annotations

import numpy as np

from ..models.base import Model, NonFiniteError
from ..core.checks import check_positive_int, check_probability
from ..core.random import as_generator


class History:
    """Per-epoch records:  history["loss"], history["val_loss"], history["val_reconstruction"], ..."""

    def __init__(self):
        self.records = {}
        self.epochs = 0

    def append(self, logs):
        for k, v in logs.items():
            self.records.setdefault(k, []).append(float(v))
        self.epochs += 1

    def __getitem__(self, key):
        if key not in self.records:
            raise KeyError(f"History has no record {key!r}; it has {sorted(self.records)}")
        return self.records[key]

    def __contains__(self, key):
        return key in self.records

    def keys(self):
        return self.records.keys()

    def last(self):
        return {k: v[-1] for k, v in self.records.items()}

    def state_dict(self):
        """JSON-safe copy: {"records": {name: [floats]}, "epochs": int} (for checkpoints)."""
        return {"records": {k: list(v) for k, v in self.records.items()}, "epochs": self.epochs}

    def load_state_dict(self, state):
        records, epochs = (state.get("records"), state.get("epochs")) if isinstance(state, dict) \
            else (None, None)
        if not isinstance(records, dict) or not isinstance(epochs, int) or any(
                not isinstance(v, list) for v in records.values()):
            raise ValueError(f"history state must be {{'records': {{name: [floats]}}, 'epochs': int}}, "
                             f"got {state!r:.80}")
        self.records = {str(k): [float(x) for x in v] for k, v in records.items()}
        self.epochs = epochs

    def __repr__(self):
        last = ", ".join(f"{k}={v:.4g}" for k, v in self.last().items()) if self.epochs else ""
        return f"History(epochs={self.epochs}{', ' if last else ''}{last})"


class Callback:
    """Hooks called by fit(). Set ``self.stop_training = True`` to end after this epoch."""
    stop_training = False

    def on_train_begin(self, model, history):
        pass

    def on_epoch_end(self, epoch, logs, model, history):
        pass

    def on_train_end(self, model, history):
        pass


class EarlyStopping(Callback):
    """Stop when `monitor` has not improved by more than min_delta for `patience` epochs;
    with restore_best, put back the parameters of the best epoch at the end."""

    def __init__(self, monitor="val_loss", patience=5, min_delta=0.0, restore_best=True):
        self.monitor = monitor
        self.patience = check_positive_int(patience, "patience")
        self.min_delta = float(min_delta)
        self.restore_best = restore_best

    def on_train_begin(self, model, history):
        self.best, self.best_epoch, self.wait = np.inf, -1, 0
        self.best_values = None
        self.stop_training = False

    def on_epoch_end(self, epoch, logs, model, history):
        if self.monitor not in logs:
            raise ValueError(f"EarlyStopping monitors {self.monitor!r}, but the epoch logs have "
                             f"only {sorted(logs)} (pass validation data for val_* records)")
        value = logs[self.monitor]
        if value < self.best - self.min_delta:
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best:
                self.best_values = [p.value.copy() for p in model.parameters()]
        else:
            self.wait += 1
            if self.wait >= self.patience:
                self.stop_training = True

    def on_train_end(self, model, history):
        if self.restore_best and self.best_values is not None:
            for p, v in zip(model.parameters(), self.best_values):
                p.value[...] = v


def _split(X, y, validation_split, rng):
    frac = check_probability(validation_split, "validation_split", open_low=True)
    n_val = int(round(frac * len(X)))
    if n_val < 1 or n_val >= len(X):
        raise ValueError(f"validation_split={frac} leaves no examples on one side of {len(X)}")
    order = rng.permutation(len(X))
    tr, va = order[n_val:], order[:n_val]
    return X[tr], (None if y is None else y[tr]), X[va], (None if y is None else y[va])


def fit(model, X, optimizer, *, y=None, epochs=10, batch_size=64, validation_data=None,
        validation_split=None, seed=None, callbacks=(), progress=True, shuffle=True,
        checkpoint=None, checkpoint_every=1, resume=None):
    """Train model on X (and labels y, for models that need them). Returns a History.

    validation_data   (X_val,) or (X_val, y_val): evaluated after every epoch
    validation_split  fraction of X held out instead (drawn with the seed)
    seed              int or np.random.Generator for shuffling
    callbacks         Callback objects, e.g. EarlyStopping(patience=5)
    progress          a tqdm progress bar over epochs (tqdm.auto renders in notebooks)
    checkpoint        path: every `checkpoint_every` epochs (and at the end) write, atomically,
                      the parameters, optimizer state, the states of the shuffling Generator and
                      of every Generator the model holds, the epoch and the History (.npz, no pickle;
                      numpyae.load(path) reads the model from it)
    resume            path of such a checkpoint: continue from it. Build the model and optimizer
                      as before and pass the same data, seed and settings: the resumed run then ends
                      bit-identical to an uninterrupted one. `epochs` is the total, including the
                      epochs already done; the returned History holds them all. Callbacks start
                      afresh (e.g. EarlyStopping's patience counter).

    Training happens in the model's dtype (float32 by default): X is converted once, up front.
    A NaN or inf loss or gradient raises NonFiniteError naming the epoch, the step and the
    quantity, before the optimizer touches the parameters: they stay at their last good values.
    An update that itself overflows a parameter (finite gradient, huge learning rate) is undone
    before the error is raised (models.base.guarded_update).
    """
    if not isinstance(model, Model):
        raise TypeError(f"model must be a numpyae Model, got {type(model).__name__}")
    epochs = check_positive_int(epochs, "epochs")
    batch_size = check_positive_int(batch_size, "batch_size")
    rng = as_generator(seed, "seed")
    X = model.check_input(X, "X")
    y = model.check_labels(y, len(X), "y")
    if validation_data is not None and validation_split is not None:
        raise ValueError("pass validation_data or validation_split, not both")
    X_val = y_val = None
    if validation_split is not None:
        X, y, X_val, y_val = _split(X, y, validation_split, rng)
    elif validation_data is not None:
        if not isinstance(validation_data, (tuple, list)) or not 1 <= len(validation_data) <= 2:
            raise TypeError("validation_data must be a tuple (X_val,) or (X_val, y_val)")
        X_val = model.check_input(validation_data[0], "validation_data[0]")
        y_val = model.check_labels(validation_data[1] if len(validation_data) == 2 else None,
                                   len(X_val), "validation_data[1]")
    callbacks = _check_callbacks_and_optimizer(model, optimizer, callbacks)

    history = History()
    n = len(X)
    steps = -(-n // batch_size)
    start_epoch, ckpt = _checkpointing(model, optimizer, rng, history, n, checkpoint,
                                       checkpoint_every, resume, epochs)
    for cb in callbacks:
        cb.on_train_begin(model, history)
    bar = _progress(epochs, progress)
    if bar is not None and start_epoch:
        bar.update(min(start_epoch, epochs))
    try:
        for epoch in range(start_epoch, epochs):
            order = rng.permutation(n) if shuffle else None
            sums = {}
            for step in range(steps):
                xb, yb = _batch(X, y, order, step * batch_size, batch_size)
                try:
                    terms = model.train_step(xb, yb, optimizer)
                except NonFiniteError as exc:
                    raise NonFiniteError(f"training stopped at epoch {epoch + 1}, step {step + 1} "
                                         f"of {steps}: {exc}; the parameters are left at their "
                                         f"last finite values") from None
                for k, v in terms.items():
                    sums[k] = sums.get(k, 0.0) + v * len(xb)
            logs = {k: v / n for k, v in sums.items()}
            if X_val is not None:
                logs.update({f"val_{k}": v for k, v in model.evaluate(X_val, y_val).items()})
            history.append(logs)
            if bar is not None:
                bar.update(1)
                bar.set_postfix({k: f"{v:.4g}" for k, v in logs.items() if k in ("loss", "val_loss")})
            stop = False
            for cb in callbacks:
                cb.on_epoch_end(epoch, logs, model, history)
                stop = stop or cb.stop_training
            if ckpt is not None and ((epoch + 1) % ckpt.every == 0 or stop or epoch + 1 == epochs):
                ckpt.write(epoch + 1)
            if stop:
                break
    finally:
        if bar is not None:
            bar.close()
    for cb in callbacks:
        cb.on_train_end(model, history)
    return history


def _batch(X, y, order, start, batch_size):
    """Rows start:start+batch_size of the epoch's order: one gather (X[idx], a single copy into
    a new contiguous array that BLAS reads at full speed), or a view with no copy at all when
    the data is not shuffled."""
    if order is None:
        sl = slice(start, start + batch_size)
        return X[sl], (None if y is None else y[sl])
    idx = order[start:start + batch_size]
    return X[idx], (None if y is None else y[idx])


def _check_callbacks_and_optimizer(model, optimizer, callbacks):
    from ..nn.optimizers import Optimizer
    if not isinstance(optimizer, Optimizer) and type(model).train_step is Model.train_step:
        raise TypeError(f"optimizer must be a numpyae Optimizer (e.g. Adam(model.parameters())), "
                        f"got {type(optimizer).__name__}")
    if isinstance(callbacks, Callback):
        callbacks = [callbacks]
    try:
        callbacks = list(callbacks)
    except TypeError:
        raise TypeError(f"callbacks must be a list of Callback objects, "
                        f"got {type(callbacks).__name__}") from None
    for i, cb in enumerate(callbacks):
        if not isinstance(cb, Callback):
            raise TypeError(f"callbacks[{i}] must be a Callback, got {type(cb).__name__}")
    return callbacks


class _Checkpointer:
    """Writes fit()'s checkpoints: what to save is fixed when training starts."""

    def __init__(self, path, every, model, optimizer, generators, history, n):
        self.path, self.every = path, every
        self.model, self.optimizer, self.generators = model, optimizer, generators
        self.history, self.n = history, n

    def write(self, epoch):
        from ..io.files import save_checkpoint
        save_checkpoint(self.path, self.model, self.optimizer, epoch=epoch,
                        history=self.history.state_dict(), generators=self.generators,
                        n_train=self.n)


def _run_generators(rng, model):
    """The shuffling Generator first, then every Generator the model holds (fixed order)."""
    from ..core.random import generators
    return [rng] + [g for g in generators(model) if g is not rng]


def _checkpointing(model, optimizer, rng, history, n, checkpoint, checkpoint_every, resume,
                   epochs):
    """Restore from `resume` (in place) and set up checkpoint writing.
    Returns (epochs already done, a _Checkpointer or None)."""
    import os
    from ..io.files import ModelFileError, restore_checkpoint
    every = check_positive_int(checkpoint_every, "checkpoint_every")
    for name, value in (("checkpoint", checkpoint), ("resume", resume)):
        if value is not None and (isinstance(value, bool)
                                  or not isinstance(value, (str, os.PathLike))):
            raise TypeError(f"{name} must be a file path (str or os.PathLike), "
                            f"got {type(value).__name__}")
    start = 0
    if resume is not None:
        ck = restore_checkpoint(resume, model, optimizer, _run_generators(rng, model))
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
    return start, _Checkpointer(checkpoint, every, model, optimizer,
                                _run_generators(rng, model), history, n)


def _progress(epochs, progress):
    if not progress:
        return None
    from tqdm.auto import tqdm
    return tqdm(total=epochs, desc="epochs", unit="epoch", leave=True)
