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
