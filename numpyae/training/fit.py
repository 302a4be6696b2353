"""fit(): minibatch training for any numpyae Model.

Each epoch shuffles the training set with the run's Generator, walks it in minibatches and calls
model.train_step(xb, yb, optimizer). The History records, per epoch, the mean of every loss term
over the training set (weighted by batch size) and, when validation data is given, the same terms
on it in inference mode, prefixed "val_".
"""
from __future__ import annotations

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
    progress          a tqdm progress bar over epochs (tqdm.auto renders in notebooks)
    checkpoint        path: every `checkpoint_every` epochs (and at the end) write, atomically,
                      the parameters, optimizer state, the states of the shuffling Generator and
                      of every Generator the model holds, the epoch and the History (.npz, no pickle;
                      numpyae.load(path) reads the model from it)
    resume            path of such a checkpoint: continue from it. Build the model and optimizer
                      as before and pass the same data, rng and settings: the resumed run then
                      ends bit-identical to an uninterrupted one. `epochs` is the total, including
                      the epochs already done; the returned History holds them all. Callbacks
                      start afresh (e.g. EarlyStopping's patience counter).

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
    rng = as_generator(rng)
    X, y, X_val, y_val = _training_data(model, X, y, validation_data, validation_split, rng)
    callbacks = _check_callbacks_and_optimizer(model, optimizer, callbacks)

    history = History()
    start_epoch, ckpt = checkpointing.setup(model, optimizer, rng, history, len(X), checkpoint,
                                            checkpoint_every, resume, epochs)
    for cb in callbacks:
        cb.on_train_begin(model, history)
    bar = _progress(epochs, progress, start_epoch)
    try:
        for epoch in range(start_epoch, epochs):
            logs = _train_epoch(model, optimizer, X, y, batch_size, rng if shuffle else None, epoch)
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


def _training_data(model, X, y, validation_data, validation_split, rng):
    """(X, y, X_val, y_val), checked and in the model's dtype; the split drawn with rng."""
    X = model.check_input(X, "X")
    y = model.check_labels(y, len(X), "y")
    if validation_data is not None and validation_split is not None:
        raise ValueError("pass validation_data or validation_split, not both")
    if validation_split is not None:
        return _split(X, y, validation_split, rng)
    if validation_data is None:
        return X, y, None, None
    if not isinstance(validation_data, (tuple, list)) or not 1 <= len(validation_data) <= 2:
        raise TypeError("validation_data must be a tuple (X_val,) or (X_val, y_val)")
    X_val = model.check_input(validation_data[0], "validation_data[0]")
    y_val = model.check_labels(validation_data[1] if len(validation_data) == 2 else None,
                               len(X_val), "validation_data[1]")
    return X, y, X_val, y_val


def _split(X, y, validation_split, rng):
    """A random held-out fraction of the rows: (X, y, X_val, y_val)."""
    frac = check_probability(validation_split, "validation_split", open_low=True)
    n_val = int(round(frac * len(X)))
    if n_val < 1 or n_val >= len(X):
        raise ValueError(f"validation_split={frac} leaves no examples on one side of {len(X)}")
    order = rng.permutation(len(X))
    tr, va = order[n_val:], order[:n_val]
    return X[tr], (None if y is None else y[tr]), X[va], (None if y is None else y[va])


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


def _check_callbacks_and_optimizer(model, optimizer, callbacks):
    """The callbacks as a list, each a Callback; the optimizer an Optimizer (unless the model
    brings its own train_step, which decides what it takes)."""
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


def _progress(epochs, progress, done):
    """A tqdm bar over the epochs (None without progress), advanced past those already done."""
    if not progress:
        return None
    from tqdm.auto import tqdm   # only when a bar is drawn: importing it warns in some notebooks
    bar = tqdm(total=epochs, desc="epochs", unit="epoch", leave=True)
    if done:
        bar.update(min(done, epochs))
    return bar
