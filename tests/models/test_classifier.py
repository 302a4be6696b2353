"""Classifier (numpyae.models.classifier): gradients, heads on (frozen) encoders, training."""
import numpy as np
import pytest

import numpyae
from numpyae import Adam, Dense, Sequential, check_model, fit, load_digits, mlp_autoencoder
from numpyae.models import Classifier, mlp_classifier


def _data(rng, n=6, d=5, k=3):
    X = rng.uniform(0.05, 0.95, size=(n, d))
    y = np.arange(n) % k
    return X, y


def test_gradcheck_classifier_deep_encoder():
    rng = np.random.default_rng(0)
    clf = mlp_classifier([5, 4, 3], 3, activation="tanh", code_activation="softplus", rng=rng,
                         dtype=np.float64)
    X, y = _data(rng)
    report = check_model(clf, X, y)
    assert {r.name for r in report.rows} == {"encoder.0.W", "encoder.0.b", "encoder.1.W",
                                             "encoder.1.b", "head.W", "head.b"}
    assert report.max_error <= 1e-7, report


def test_gradcheck_classifier_from_tied_autoencoder_encoder():
    rng = np.random.default_rng(1)
    ae = mlp_autoencoder([5, 4, 3], activation="elu", code_activation="sigmoid", tied=True,
                         rng=rng, dtype=np.float64)
    clf = Classifier.from_autoencoder(ae, 4, rng=rng)
    X = rng.uniform(0.05, 0.95, size=(8, 5))
    y = np.array([0, 1, 2, 3, 3, 2, 1, 0])
    # elu's kink is at 0: keep every first-layer pre-activation away from it
    a = X @ clf.encoder[0].W.value + clf.encoder[0].b.value
    assert np.abs(a).min() > 1e-3
    assert check_model(clf, X, y).max_error <= 1e-7


def test_gradcheck_logistic_regression_and_frozen_encoder():
    rng = np.random.default_rng(2)
    X, y = _data(rng, n=7, d=4, k=3)
    logreg = Classifier(Sequential([]), Dense(4, 3, rng=rng, dtype=np.float64))
    assert logreg.input_dim == 4
    assert check_model(logreg, X, y).max_error <= 1e-7

    clf = mlp_classifier([4, 3], 3, activation="tanh", code_activation="tanh", rng=rng,
                         dtype=np.float64)
    clf.freeze_encoder = True
    clf.loss_and_grad(X, y)
    assert np.all(clf.encoder[0].W.grad == 0) and np.any(clf.head.W.grad != 0)
    report = check_model(clf, X, y, parameters=["head.W", "head.b"])
    assert report.max_error <= 1e-7


def test_softmax_head_matches_definition():
    rng = np.random.default_rng(3)
    clf = mlp_classifier([5, 4], 3, activation="tanh", code_activation="tanh", rng=rng,
                         dtype=np.float64)
    X, y = _data(rng)
    z = clf.logits(X)
    h = np.tanh(X @ clf.encoder[0].W.value + clf.encoder[0].b.value)
    np.testing.assert_allclose(z, h @ clf.head.W.value + clf.head.b.value, rtol=1e-12)
    p = clf.predict_proba(X)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_array_equal(clf.predict(X), np.argmax(z, axis=1))
    terms = clf.forward_loss(X, y, training=False)
    expected = -np.mean(np.log(p[np.arange(len(y)), y]))
    assert terms["loss"] == pytest.approx(expected, rel=1e-12)
    assert terms["accuracy"] == pytest.approx(np.mean(np.argmax(z, 1) == y))
    assert clf.score(X, y) == pytest.approx(terms["accuracy"])


def test_from_autoencoder_copies_the_encoder():
    ae = mlp_autoencoder([64, 32, 16], rng=0)
    clf = Classifier.from_autoencoder(ae, 10, rng=1)
    X, _ = load_digits()
    np.testing.assert_array_equal(clf.encode(X[:20]), ae.encode(X[:20]))
    assert clf.n_classes == 10 and clf.code_dim == 16 and clf.input_dim == 64
    clf.encoder[0].W.value += 1
    assert not np.allclose(clf.encode(X[:20]), ae.encode(X[:20]))  # the AE is untouched
    shared = Classifier.from_autoencoder(ae, 10, copy_weights=False)
    assert shared.encoder is ae.encoder
    # the random-init twin has the same architecture
    twin = mlp_classifier([64, 32, 16], 10, activation="relu", code_activation="identity", rng=0)
    assert [p.shape for p in twin.parameters()] == [p.shape for p in clf.parameters()]


def test_trains_on_digits_and_round_trips(tmp_path):
    X, y = load_digits()
    X, y = X[:400], y[:400]
    clf = mlp_classifier([64, 32], 10, activation="relu", code_activation="relu", rng=0)
    before = clf.evaluate(X, y)
    history = fit(clf, X, Adam(clf.parameters(), lr=1e-2), y=y, epochs=15, batch_size=32,
                  rng=0, progress=False, validation_split=0.25)
    assert "val_accuracy" in history and "accuracy" in history
    after = clf.evaluate(X, y)
    assert after["loss"] < before["loss"] / 3
    assert clf.score(X, y) > 0.9
    path = numpyae.save(clf, tmp_path / "clf.npz")
    loaded = numpyae.load(path)
    assert isinstance(loaded, Classifier)
    np.testing.assert_array_equal(loaded.logits(X), clf.logits(X))
    logreg = Classifier(Sequential([]), Dense(64, 10, rng=0), freeze_encoder=True)
    loaded = numpyae.load(numpyae.save(logreg, tmp_path / "logreg.npz"))
    assert loaded.freeze_encoder and loaded.input_dim == 64
    np.testing.assert_array_equal(loaded.predict_proba(X), logreg.predict_proba(X))


def test_bad_input():
    clf = mlp_classifier([6, 4], 3, rng=0)
    X = np.zeros((5, 6), np.float32)
    with pytest.raises(ValueError, match="y is required"):
        fit(clf, X, Adam(clf.parameters()), epochs=1, progress=False)
    with pytest.raises(ValueError, match="< 3"):
        clf.evaluate(X, np.array([0, 1, 2, 3, 0]))
    with pytest.raises(ValueError, match="6 features"):
        clf.predict(np.zeros((2, 5)))
    with pytest.raises(TypeError, match="head must be a Dense"):
        Classifier(Sequential([Dense(6, 4)]), Sequential([Dense(4, 3)]))
    with pytest.raises(ValueError, match="encoder's 4 features"):
        Classifier(Sequential([Dense(6, 4)]), Dense(5, 3))
    with pytest.raises(ValueError, match="at least 2 class"):
        Classifier(Sequential([Dense(6, 4)]), Dense(4, 1))
    with pytest.raises(TypeError, match="Autoencoder"):
        Classifier.from_autoencoder(object(), 3)
