"""What fit() records and how it is steered (numpyae.training.history): History, Callback and
EarlyStopping."""
import json

import numpy as np
import pytest

from numpyae import (SGD, Callback, EarlyStopping, History, fit, load_digits, mlp_autoencoder,
                     train_validation_split)


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits()
    return train_validation_split(X, y, fraction=0.2, rng=0)


def test_history_state_dict_round_trip_and_checks():
    h = History()
    h.append({"loss": np.float32(0.5), "val_loss": 0.75})
    h.append({"loss": 0.25, "val_loss": 0.5})
    state = json.loads(json.dumps(h.state_dict()))       # JSON-safe: a checkpoint stores it so
    other = History()
    other.load_state_dict(state)
    assert other.records == h.records == {"loss": [0.5, 0.25], "val_loss": [0.75, 0.5]}
    assert other.epochs == 2 and other.last() == {"loss": 0.25, "val_loss": 0.5}
    for bad in (None, {"records": {"loss": 1.0}, "epochs": 1}, {"records": {}, "epochs": "2"}):
        with pytest.raises(ValueError, match="history state must be"):
            History().load_state_dict(bad)


def test_history_records_every_term_per_epoch(digits):
    X_tr, X_va, _, _ = digits
    model = mlp_autoencoder([64, 8], rng=0)
    h = fit(model, X_tr[:200], SGD(model.parameters(), lr=0.5, momentum=0.9), epochs=3,
            validation_data=(X_va[:50],), progress=False)
    assert h.epochs == 3
    assert set(h.keys()) == {"loss", "reconstruction", "val_loss", "val_reconstruction"}
    assert all(len(v) == 3 for v in h.records.values())
    assert "History(epochs=3" in repr(h)
    with pytest.raises(KeyError, match="no record"):
        h["accuracy"]


def test_early_stopping_restores_the_best_parameters(digits):
    X_tr, X_va, _, _ = digits

    class Spy(Callback):
        def on_epoch_end(self, epoch, logs, model, history):
            self.seen = epoch

    model = mlp_autoencoder([64, 8], rng=0)
    stop = EarlyStopping(patience=2)
    spy = Spy()
    # a learning rate this large makes validation loss bounce, so patience runs out
    h = fit(model, X_tr[:300], SGD(model.parameters(), lr=20.0), epochs=50, batch_size=300,
            validation_data=(X_va[:100],), callbacks=[stop, spy], progress=False)
    assert h.epochs < 50 and spy.seen == h.epochs - 1
    best = min(h["val_loss"])
    assert model.evaluate(X_va[:100])["loss"] == pytest.approx(best, rel=1e-5)


@pytest.mark.parametrize("kwargs, exc, text", [
    ({"min_delta": "x"}, TypeError, "min_delta must be a real number, got str 'x'"),
    ({"min_delta": -0.1}, ValueError, "min_delta must be a finite number >= 0"),
    ({"min_delta": float("nan")}, ValueError, "min_delta must be a finite number >= 0"),
    ({"min_delta": True}, TypeError, "min_delta must be a real number"),
    ({"patience": 0}, ValueError, "patience must be a positive int"),
    ({"patience": 2.5}, TypeError, "patience must be a positive int"),
    ({"monitor": 3}, TypeError, "monitor must be the name of a record"),
    ({"monitor": ""}, ValueError, "monitor must be the name of a record"),
    ({"restore_best": "no"}, TypeError, "restore_best must be True or False, got str 'no'"),
])
def test_early_stopping_checks_its_arguments(kwargs, exc, text):
    """Reproducer: EarlyStopping(min_delta='x') raised a raw error that did not name the
    argument."""
    with pytest.raises(exc, match=text):
        EarlyStopping(**kwargs)


def test_early_stopping_keeps_good_arguments():
    stop = EarlyStopping(monitor="loss", patience=3, min_delta=1, restore_best=np.bool_(False))
    assert (stop.monitor, stop.patience, stop.min_delta, stop.restore_best) == ("loss", 3, 1.0, False)


@pytest.mark.parametrize("state", [
    {"records": {"loss": [0.5, 0.4, 0.3]}, "epochs": 2},      # more values than epochs
    {"records": {"loss": ["0.5"]}, "epochs": 1},              # a string is not a number
    {"records": {"loss": [True]}, "epochs": 1},
    {"records": {"loss": [float("nan")]}, "epochs": 1},      # fit stops at NaN: never recorded
    {"records": {}, "epochs": -1},
    {"records": {}, "epochs": True},
])
def test_history_state_is_validated_like_user_input(state):
    h = History()
    h.append({"loss": 1.0})
    with pytest.raises(ValueError, match="history state must be"):
        h.load_state_dict(state)
    assert h.records == {"loss": [1.0]} and h.epochs == 1     # unchanged
