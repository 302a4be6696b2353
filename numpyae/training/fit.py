"""fit(): minibatch training for any numpyae Model.

Each epoch shuffles the training set with the run's Generator, walks it in minibatches and calls
model.train_step(xb, yb, optimizer). The History records, per epoch, the mean of every loss term
over the training set (weighted by batch size) and, when validation data is given, the same terms
on it in inference mode, prefixed "val_".
"""
from __future__ import annotations

import importlib.util

import numpy as np

from ..core.checks import check_positive_int, check_probability
from ..core.random import as_generator
from ..models.base import Model, NonFiniteError
from ..nn.optimizers import Optimizer
from . import checkpointing
from .history import Callback, EarlyStopping, History

__all__ = ["fit", "History", "Callback", "EarlyStopping"]


def fit(model, X, optimizer, *, y=None, epochs=10, batch_size=64, validation_data=None,
        validation_split=None, rng=None, callbacks=(), progress=True, shuffle=True,
        checkpoint=None, checkpoint_every=1, resume=None):
    """Train model on X (and labels y, for models that need them). Returns a History.

    validation_data   (X_val,) or (X_val, y_val): evaluated after every epoch
    validation_split  fraction of X held out instead (drawn with rng)
    rng               int seed or np.random.Generator for the split and the shuffling
    callbacks         Callback objects, e.g. EarlyStopping(patience=5)
    progress          True/False: a tqdm progress bar over epochs (a widget in notebooks with
                      ipywidgets, text otherwise; never a warning)
    shuffle           True/False: reshuffle the training rows every epoch
    checkpoint        path: every `checkpoint_every` epochs (and at the end) write, atomically,
                      the parameters, optimizer state, the states of the shuffling Generator and
                      of every Generator the model holds, the epoch, the History and the run's
                      record (batch size, shuffle, validation split, SHA-256 fingerprints of the
                      data: training.checkpointing) (.npz, no pickle; numpyae.load(path) reads the
                      model from it). Its folder must exist and be writable: checked before the
                      first step.
    resume            path of such a checkpoint: continue from it. Build the model and optimizer
                      as before and pass the same data and settings: the resumed run then ends
                      bit-identical to an uninterrupted one. A resume that differs in anything
                      that determines the result (model, optimizer class and hyperparameters,
                      batch size, shuffle, validation split, data) is refused before anything
                      changes, with a message naming each difference. `epochs` is the total,
                      including the epochs already done; the returned History holds them all.
                      The Generators' states come from the checkpoint (the validation split
                      too, so even rng=None holds out the same rows). Callbacks start afresh
                      (e.g. EarlyStopping's patience counter).

    Everything the run needs is checked before its first step: the arguments, the data (its
    range for the loss: model.check_input), the optimizer (an Optimizer over exactly the model's
    Parameters), the checkpoint's folder, and the resume's compatibility.
    Training happens in the model's dtype (float32 by default): X is converted once, up front.
    A NaN or inf loss or gradient raises NonFiniteError naming the epoch, the step and the
    quantity, before the optimizer touches the parameters: they stay at their last good values.
    An update that itself overflows a parameter (finite gradient, huge learning rate) is undone
    before the error is raised (models.base.guarded_update).
    """
    # everything the run needs is checked before its first step
    if not isinstance(model, Model):
        raise TypeError(f"model must be a numpyae Model, got {type(model).__name__}")
    epochs = check_positive_int(epochs, "epochs")
    batch_size = check_positive_int(batch_size, "batch_size")
    shuffle, progress = _check_flag(shuffle, "shuffle"), _check_flag(progress, "progress")
    rng = as_generator(rng)
    callbacks = check_callbacks(callbacks)
    _check_optimizer(model, optimizer)
    checkpoint, every, resume = checkpointing.check_paths(checkpoint, checkpoint_every, resume)
    X, y, X_val, y_val, split = _training_data(model, X, y, validation_data, validation_split)
    ck = checkpointing.read_resume(resume)
    X, y, X_val, y_val, run = _split_and_record(X, y, X_val, y_val, split, rng, ck, batch_size,
                                                shuffle, recording=ck is not None or checkpoint is not None)
    history = History()
    start_epoch = 0
    if ck is not None:
        start_epoch = checkpointing.resume_run(ck, model, optimizer, rng, history, run, epochs)
    ckpt = None if checkpoint is None else checkpointing.Checkpointer(
        checkpoint, every, model, optimizer, checkpointing.run_generators(rng, model), history,
        len(X), run)
    for cb in callbacks:
        cb.on_train_begin(model, history)
    bar = progress_bar(epochs, "epochs", "epoch", done=start_epoch) if progress else None
    try:
        for epoch in range(start_epoch, epochs):
            logs = _train_epoch(model, optimizer, X, y, batch_size, rng if shuffle else None, epoch)
            if X_val is not None:
                logs.update({f"val_{k}": v for k, v in model.evaluate(X_val, y_val).items()})
            history.append(logs)
            if bar is not None:
                bar.update(1)
                bar.set_postfix({k: f"{v:.4g}" for k, v in logs.items() if k in ("loss", "val_loss")})
            stop = _end_of_epoch(callbacks, epoch, logs, model, history)
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


def _split_and_record(X, y, X_val, y_val, split, rng, ck, batch_size, shuffle, *, recording):
    """Draw the validation split (from the checkpoint's Generator state on a resume, so the
    interrupted run's rows are held out) and, when checkpointing or resuming, the run record
    that a resume must match. Returns (X, y, X_val, y_val, run or None)."""
    X_all, y_all, validation = X, y, None
    if split is not None:
        generator, before = checkpointing.split_generator(rng, ck)
        X, y, X_val, y_val, held_out = _split(X, y, split, generator)
        if recording:
            validation = {"split": split, "rng": before,
                          "held_out": checkpointing.held_out_fingerprint(held_out)}
    elif X_val is not None:
        validation = {"data": X_val, "labels": y_val}
    run = checkpointing.run_record(X=X_all, y=y_all, batch_size=batch_size, shuffle=shuffle,
                                   validation=validation) if recording else None
    return X, y, X_val, y_val, run


def _end_of_epoch(callbacks, epoch, logs, model, history):
    """Call every callback's on_epoch_end; whether any asked to stop."""
    stop = False
    for cb in callbacks:
        cb.on_epoch_end(epoch, logs, model, history)
        stop = stop or cb.stop_training
    return stop


def _training_data(model, X, y, validation_data, validation_split):
    """(X, y, X_val, y_val, split): checked and in the model's dtype; split is the checked
    validation_split fraction (drawn later, by _split) or None."""
    X = model.check_input(X, "X")
    y = model.check_labels(y, len(X), "y")
    if validation_data is not None and validation_split is not None:
        raise ValueError("pass validation_data or validation_split, not both")
    if validation_split is not None:
        frac = check_probability(validation_split, "validation_split", open_low=True)
        n_val = int(round(frac * len(X)))
        if n_val < 1 or n_val >= len(X):
            raise ValueError(f"validation_split={frac} leaves no examples on one side of {len(X)}")
        return X, y, None, None, frac
    if validation_data is None:
        return X, y, None, None, None
    if not isinstance(validation_data, (tuple, list)) or not 1 <= len(validation_data) <= 2:
        raise TypeError("validation_data must be a tuple (X_val,) or (X_val, y_val)")
    X_val = model.check_input(validation_data[0], "validation_data[0]")
    y_val = model.check_labels(validation_data[1] if len(validation_data) == 2 else None,
                               len(X_val), "validation_data[1]")
    return X, y, X_val, y_val, None


def _split(X, y, frac, rng):
    """A random held-out fraction of the rows, drawn with rng: (X, y, X_val, y_val, the held-out
    row indices)."""
    n_val = int(round(frac * len(X)))
    order = rng.permutation(len(X))
    tr, va = order[n_val:], order[:n_val]
    return X[tr], (None if y is None else y[tr]), X[va], (None if y is None else y[va]), va


def _train_epoch(model, optimizer, X, y, batch_size, rng, epoch):
    """One pass over X in minibatches (shuffled with rng, in order if None): the mean of every
    loss term over the epoch's examples."""
    n = len(X)
    steps = -(-n // batch_size)
    order = rng.permutation(n) if rng is not None else None
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
    return {k: v / n for k, v in sums.items()}


def _batch(X, y, order, start, batch_size):
    """Rows start:start+batch_size of the epoch's order: one gather (X[idx], a single copy into
    a new contiguous array that BLAS reads at full speed), or a view with no copy at all when
    the data is not shuffled."""
    if order is None:
        sl = slice(start, start + batch_size)
        return X[sl], (None if y is None else y[sl])
    idx = order[start:start + batch_size]
    return X[idx], (None if y is None else y[idx])


def _check_flag(value, name):
    """value as a bool; anything but True/False (e.g. the string "no") is refused."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {type(value).__name__} {value!r}")
    return bool(value)


def check_callbacks(callbacks):
    """The callbacks as a list of Callback objects, or a TypeError naming the bad one."""
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


def _check_optimizer(model, optimizer):
    """The optimizer must be an Optimizer (unless the model brings its own train_step, which
    decides what it takes: the AAE's PhaseOptimizers) and must update exactly the model's
    Parameters: all of them (in a composite such as PhaseOptimizers, all its optimizers
    together), and no other model's."""
    custom = type(model).train_step is not Model.train_step
    if not isinstance(optimizer, Optimizer) and not custom:
        raise TypeError(f"optimizer must be a numpyae Optimizer (e.g. Adam(model.parameters())), "
                        f"got {type(optimizer).__name__}")
    params = getattr(optimizer, "parameters", None)
    if not isinstance(params, (list, tuple)):
        if custom:
            return   # the model's own train_step checks what it is given
        raise TypeError(f"optimizer must list the Parameters it updates in .parameters, got "
                        f"{type(params).__name__}")
    named = model.named_parameters_unique()
    theirs = {id(p) for p in params}
    mine = {id(p) for _, p in named}
    missing = [name for name, p in named if id(p) not in theirs]
    foreign = len(theirs - mine)
    if missing or foreign:
        hint = ("model.make_optimizers()" if not isinstance(optimizer, Optimizer)
                else "Adam(model.parameters())")
        raise ValueError(
            f"optimizer must update exactly the model's parameters: the model has {len(mine)} "
            f"Parameters, the optimizer updates {len(theirs)}, of which {len(theirs & mine)} "
            f"are the model's"
            + (f" (missing: {missing[:6]}{' ...' if len(missing) > 6 else ''})" if missing else "")
            + (f" and {foreign} belong to something else" if foreign else "")
            + f"; build it from this model, e.g. {hint}")


def widgets_available():
    """Whether ipywidgets can be imported (tqdm's notebook bar needs it), without importing it."""
    try:
        return importlib.util.find_spec("ipywidgets") is not None
    except (ImportError, ValueError):
        return False


def progress_bar(total, desc, unit, *, done=0):
    """A tqdm bar over `total` units, advanced past the `done` ones already finished.

    tqdm.auto (a widget in a notebook, text elsewhere) only when ipywidgets is importable;
    otherwise tqdm.std's text bar, since tqdm.auto in a notebook without ipywidgets warns
    "IProgress not found". No warning either way (an outdated ipywidgets gives the text bar).
    """
    if widgets_available():
        import warnings
        from tqdm.std import TqdmWarning
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", TqdmWarning)
            from tqdm.auto import tqdm
    else:
        from tqdm.std import tqdm
    bar = tqdm(total=total, desc=desc, unit=unit, leave=True)
    if done:
        bar.update(min(done, total))
    return bar
