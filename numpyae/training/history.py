"""What fit() records and how it can be steered: History (per-epoch loss terms), Callback
(hooks at the start, after every epoch and at the end) and EarlyStopping."""
from __future__ import annotations

import numbers

import numpy as np

from ..core.checks import check_nonnegative_float, check_positive_int


class History:
    """Per-epoch records:  history["loss"], history["val_loss"], history["val_reconstruction"], ..."""

    def __init__(self):
        self.records = {}
        self.epochs = 0

    def append(self, logs):
        """Record one epoch: each {name: value} of logs is appended to its list, epochs += 1."""
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
        """The names of the records ("loss", "val_loss", ...)."""
        return self.records.keys()

    def last(self):
        """{name: the last epoch's value} of every record."""
        return {k: v[-1] for k, v in self.records.items()}

    def state_dict(self):
        """JSON-safe copy: {"records": {name: [floats]}, "epochs": int} (for checkpoints)."""
        return {"records": {k: list(v) for k, v in self.records.items()}, "epochs": self.epochs}

    def load_state_dict(self, state):
        """Replace the records with a state_dict(), checked like user input: epochs an int >= 0,
        every record a list of at most `epochs` finite real numbers (fit stops at a NaN or inf;
        a ValueError if malformed; nothing changes then)."""
        records, epochs = (state.get("records"), state.get("epochs")) if isinstance(state, dict) \
            else (None, None)
        if not isinstance(records, dict) or not isinstance(epochs, int) or isinstance(epochs, bool) \
                or epochs < 0 or any(not isinstance(v, list) for v in records.values()):
            raise ValueError(f"history state must be {{'records': {{name: [floats]}}, 'epochs': "
                             f"int >= 0}}, got {state!r:.80}")
        for name, values in records.items():
            if len(values) > epochs or any(isinstance(x, bool) or not isinstance(x, numbers.Real)
                                           or not np.isfinite(x) for x in values):
                raise ValueError(f"history state must be {{'records': {{name: [finite floats]}}, "
                                 f"'epochs': int >= 0}} with at most {epochs} values per record; "
                                 f"record {name!r} is {values!r:.80}")
        self.records = {str(k): [float(x) for x in v] for k, v in records.items()}
        self.epochs = epochs

    def __repr__(self):
        last = ", ".join(f"{k}={v:.4g}" for k, v in self.last().items()) if self.epochs else ""
        return f"History(epochs={self.epochs}{', ' if last else ''}{last})"


class Callback:
    """Hooks called by fit(). Set ``self.stop_training = True`` to end after this epoch."""
    stop_training = False

    def on_train_begin(self, model, history):
        """Called once before the first epoch."""
        pass

    def on_epoch_end(self, epoch, logs, model, history):
        """Called after every epoch with that epoch's {name: value} logs (also in history)."""
        pass

    def on_train_end(self, model, history):
        """Called once after the last epoch."""
        pass


class EarlyStopping(Callback):
    """Stop when `monitor` has not improved by more than min_delta for `patience` epochs;
    with restore_best, put back the parameters of the best epoch at the end."""

    def __init__(self, monitor="val_loss", patience=5, min_delta=0.0, restore_best=True):
        if not isinstance(monitor, str):
            raise TypeError(f"monitor must be the name of a record, a str such as 'val_loss', "
                            f"got {type(monitor).__name__} {monitor!r}")
        if not monitor:
            raise ValueError("monitor must be the name of a record such as 'val_loss', got ''")
        self.monitor = monitor
        self.patience = check_positive_int(patience, "patience")
        self.min_delta = check_nonnegative_float(min_delta, "min_delta")
        if not isinstance(restore_best, (bool, np.bool_)):
            raise TypeError(f"restore_best must be True or False, got "
                            f"{type(restore_best).__name__} {restore_best!r}")
        self.restore_best = bool(restore_best)

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
