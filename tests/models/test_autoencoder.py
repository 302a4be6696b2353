"""The autoencoder as a composition (numpyae.models.autoencoder): gradients of every MLP shape,
deep and tied stacks, penalties and corruption inside the model, builders, save/load, input
checks."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import numpyae
import numpyae as ae
from numpyae import (Adam, Autoencoder, Dense, Sequential, TiedDense, check_model, fit,
                     mlp_autoencoder)
from numpyae.nn.corruption import GaussianNoise, MaskingNoise
from numpyae.nn.penalties import Contractive, KLSparsity, L1Activity, WeightDecay


def _X(seed=0, n=5, d=6):
    return np.random.default_rng(seed).uniform(0.05, 0.95, size=(n, d))


def _unit(rng, n=5, d=6):
    return rng.uniform(0.05, 0.95, size=(n, d))


@settings(max_examples=25)
@given(sizes=st.lists(st.integers(1, 5), min_size=2, max_size=4),
       act=st.sampled_from(["tanh", "sigmoid", "softplus"]), loss=st.sampled_from(["mse", "bce"]),
       tied=st.booleans(), seed=st.integers(0, 2**16), batch=st.integers(1, 4))
def test_mlp_autoencoder_gradients(sizes, act, loss, tied, seed, batch):
    """Undercomplete, overcomplete, deep, tied: every symmetric MLP autoencoder checks out."""
    model = mlp_autoencoder(sizes, activation=act, code_activation=act, loss=loss, tied=tied, rng=seed)
    X = np.random.default_rng(seed).uniform(0.05, 0.95, size=(batch, sizes[0]))
    report = check_model(model, X)
    assert report.max_error <= 1e-7, str(report)


def test_shapes_of_encode_decode_reconstruct():
    model = mlp_autoencoder([64, 32, 8], rng=0)
    X = np.random.default_rng(0).uniform(size=(5, 64))
    H = model.encode(X)
    assert H.shape == (5, 8) and H.dtype == np.float32
    R = model.decode(H)
    assert R.shape == (5, 64) and np.all((R >= 0) & (R <= 1))
    np.testing.assert_allclose(model.reconstruct(X), R, rtol=1e-6)


def test_overcomplete_and_undercomplete_builders():
    over = mlp_autoencoder([4, 16], rng=0)
    under = mlp_autoencoder([16, 4], rng=0)
    assert over.code_dim == 16 and under.code_dim == 4
    assert over.encoder[0].W.shape == (4, 16)


def test_tied_builder_halves_the_weights():
    free = mlp_autoencoder([10, 6, 3], rng=0)
    tied = mlp_autoencoder([10, 6, 3], tied=True, rng=0)
    assert tied.n_parameters() == free.n_parameters() - (10 * 6 + 6 * 3)
    assert tied.decoder[1].W is tied.encoder[0].W


def test_save_load_round_trip_is_bit_exact(tmp_path):
    for tied in (False, True):
        model = mlp_autoencoder([6, 4, 2], activation="elu", loss="mse", tied=tied, rng=3)
        path = tmp_path / f"m{tied}.npz"
        ae.save(model, path)
        loaded = ae.load(path)
        X = np.random.default_rng(0).uniform(size=(3, 6)).astype(np.float32)
        assert np.array_equal(loaded.reconstruct(X), model.reconstruct(X))
        for (n1, p1), (n2, p2) in zip(model.named_parameters_unique(), loaded.named_parameters_unique()):
            assert n1 == n2 and p1.value.dtype == p2.value.dtype and np.array_equal(p1.value, p2.value)
        if tied:
            assert loaded.decoder[1].W is loaded.encoder[0].W
        assert type(loaded.loss) is type(model.loss)


def test_saved_file_holds_no_pickles(tmp_path):
    path = tmp_path / "m.npz"
    ae.save(mlp_autoencoder([4, 2], rng=0), path)
    with np.load(path, allow_pickle=False) as f:
        for k in f.files:
            assert f[k].dtype != object


def test_float32_forward_and_backward_stay_float32():
    model = mlp_autoencoder([8, 4], activation="sigmoid", rng=0)
    X = np.random.default_rng(0).uniform(size=(3, 8)).astype(np.float32)
    model.loss_and_grad(X)
    for name, p in model.named_parameters():
        assert p.value.dtype == np.float32 and p.grad.dtype == np.float32, name
    for layer in list(model.encoder) + list(model.decoder):
        assert layer.a.dtype == np.float32 and layer.y.dtype == np.float32


@pytest.mark.parametrize("X, exc, text", [
    (np.zeros((3, 5)), ValueError, r"X must have 4 features.*\(3, 5\)"),
    (np.zeros(4), ValueError, r"X must be 2-D.*\(4,\)"),
    (np.array([["a", "b", "c", "d"]]), TypeError, "X must hold real numbers"),
    (np.array([[1.0, np.nan, 0, 0]]), ValueError, "NaN or inf"),
    (np.array([[1.0, np.inf, 0, 0]]), ValueError, "NaN or inf"),
    (np.zeros((0, 4)), ValueError, "must not be empty"),
    (np.zeros((2, 4), complex), TypeError, "complex"),
    ("abc", TypeError, "numeric array"),
])
def test_bad_inputs_get_clear_errors(X, exc, text):
    model = mlp_autoencoder([4, 2], rng=0)
    with pytest.raises(exc, match=text):
        model.reconstruct(X)


def test_builder_errors():
    with pytest.raises(ValueError, match="sizes"):
        mlp_autoencoder([4])
    with pytest.raises(ValueError, match="sizes"):
        mlp_autoencoder([4, 0])
    with pytest.raises(ValueError, match="activation"):
        mlp_autoencoder([4, 2], activation="swish")
    with pytest.raises(ValueError, match="decoder must output 4"):
        Autoencoder(Sequential([Dense(4, 2)]), Sequential([Dense(2, 3)]))
    with pytest.raises(TypeError, match="encoder"):
        Autoencoder("enc", Sequential([Dense(2, 4)]))


def test_int_and_bool_inputs_are_converted_to_the_model_dtype():
    model = mlp_autoencoder([4, 2], rng=0)
    assert model.encode(np.ones((2, 4), dtype=np.int64)).dtype == np.float32
    assert model.encode(np.ones((2, 4), dtype=bool)).dtype == np.float32


# ---- penalties and corruption inside the model ----------------------------------------------

@pytest.mark.parametrize("penalty", [L1Activity(0.3), KLSparsity(0.2, 1.0), Contractive(0.5),
                                     WeightDecay(0.2)])
def test_each_penalty_inside_a_full_model(penalty):
    model = numpyae.mlp_autoencoder([6, 5, 4], activation="tanh", code_activation="sigmoid",
                                    loss="bce", rng=2, dtype=np.float64, penalties=[penalty])
    report = check_model(model, _X(2))
    assert report.max_error <= 1e-7, str(report)


def test_tied_model_with_penalty_and_corruption_gradcheck():
    model = numpyae.mlp_autoencoder([6, 5, 3], activation="tanh", code_activation="softplus",
                                    loss="mse", tied=True, rng=4, dtype=np.float64,
                                    corruption=GaussianNoise(0.1, rng=5),
                                    penalties=[Contractive(0.4), WeightDecay(0.1)])
    assert model.decoder[1].W is model.encoder[0].W
    report = check_model(model, _X(4))
    assert report.max_error <= 1e-7, str(report)


def test_tied_gradient_is_the_sum_of_both_paths():
    model = numpyae.mlp_autoencoder([6, 4], activation="tanh", loss="mse", tied=True, rng=0,
                                    dtype=np.float64)
    X = _X(0)
    model.loss_and_grad(X)
    total = model.encoder[0].W.grad.copy()
    # the decoder path alone: grad of the loss through TiedDense only, with the encoder fixed
    enc, dec = model.encoder[0], model.decoder[0]
    h = enc.forward(X)
    model.loss.forward(dec.forward(h), X)
    enc.W.grad[...] = 0
    dh = dec.backward(model.loss.backward())
    decoder_part = enc.W.grad.copy()
    enc.W.grad[...] = 0
    enc.backward(dh)
    encoder_part = enc.W.grad.copy()
    np.testing.assert_allclose(total, decoder_part + encoder_part, rtol=1e-12)
    assert np.abs(decoder_part).max() > 0 and np.abs(encoder_part).max() > 0


def test_history_records_every_penalty_term():
    X = np.random.default_rng(0).uniform(0, 1, (64, 8)).astype(np.float32)
    model = numpyae.mlp_autoencoder([8, 4], activation="sigmoid", code_activation="sigmoid",
                                    loss="bce", rng=0, corruption=MaskingNoise(0.2, rng=1),
                                    penalties=[KLSparsity(0.1, 1.0), Contractive(0.1),
                                               WeightDecay(1e-3)])
    hist = fit(model, X, Adam(model.parameters(), 1e-2), epochs=2, batch_size=16,
               validation_data=(X,), progress=False)
    for k in ("loss", "reconstruction", "kl_sparsity", "contractive", "weight_decay"):
        assert len(hist[k]) == 2 and len(hist["val_" + k]) == 2
    last = hist.last()
    assert last["val_loss"] == pytest.approx(last["val_reconstruction"] + last["val_kl_sparsity"]
                                             + last["val_contractive"] + last["val_weight_decay"])
    for p in model.parameters():
        assert p.value.dtype == np.float32


def test_penalty_names_are_unique():
    model = numpyae.mlp_autoencoder([6, 3], rng=0, penalties=[WeightDecay(0.1), WeightDecay(0.2)])
    assert model.terms == ("loss", "reconstruction", "weight_decay", "weight_decay_2")


def test_penalties_attach_to_the_encoders_last_layer():
    enc = Sequential([Sequential([Dense(6, 5, "tanh")]), Dense(5, 3, "sigmoid")])
    model = Autoencoder(enc, Sequential([Dense(3, 6)]), "mse", penalties=[Contractive(0.1)])
    assert model.code_layer is enc[1]


def test_tied_mlp_autoencoder_save_load_keeps_the_tie(tmp_path):
    model = numpyae.mlp_autoencoder([6, 5, 3], tied=True, rng=0, penalties=[Contractive(0.1)])
    numpyae.save(model, tmp_path / "m.npz")
    back = numpyae.load(tmp_path / "m.npz")
    assert back.decoder[0].W is back.encoder[1].W and back.decoder[1].W is back.encoder[0].W
    X = _X(0).astype(np.float32)
    back.loss_and_grad(X)
    model.loss_and_grad(X)
    np.testing.assert_allclose(back.encoder[0].W.grad, model.encoder[0].W.grad, rtol=1e-6)


# ---- deep and tied stacks: gradient checks ------------------------------------------------

def test_gradcheck_deep_stack():
    rng = np.random.default_rng(0)
    model = mlp_autoencoder([6, 5, 4, 3, 2], activation="tanh", code_activation="softplus",
                            loss="mse", rng=rng, dtype=np.float64)
    assert len(model.encoder) == 4 and len(model.decoder) == 4
    report = check_model(model, _unit(rng), None)
    assert len(report.rows) == 16
    assert report.max_error <= 1e-7, report


def test_gradcheck_deep_tied_stack():
    rng = np.random.default_rng(1)
    model = mlp_autoencoder([6, 5, 4, 3], activation="sigmoid", code_activation="tanh",
                            loss="bce", tied=True, rng=rng, dtype=np.float64)
    assert all(isinstance(layer, TiedDense) for layer in model.decoder)
    # three shared weight matrices plus six biases
    assert len(model.named_parameters_unique()) == 9
    assert check_model(model, _unit(rng), None).max_error <= 1e-7


def test_gradcheck_deep_relu_stack_away_from_kinks():
    """relu (He init) stacks: draw (by seed) a batch whose every pre-activation is at least
    1e-2 from relu's kink, so the finite differences (h = 1e-4) never cross it."""
    for seed in range(200):
        rng = np.random.default_rng(seed)
        model = mlp_autoencoder([6, 5, 4, 3], activation="relu", code_activation="relu",
                                loss="mse", output_activation="sigmoid", rng=rng,
                                dtype=np.float64)
        X = _unit(rng, n=3)
        model.forward_loss(X)
        layers = list(model.encoder) + list(model.decoder)
        if min(np.abs(layer.a).min() for layer in layers) > 1e-2:
            break
    else:
        pytest.fail("no seed gave a batch away from the kinks")
    assert check_model(model, X, None).max_error <= 1e-7


def test_builder_default_init_follows_the_activation():
    relu = mlp_autoencoder([64, 32, 16], activation="relu", rng=0)
    sig = mlp_autoencoder([64, 32, 16], activation="sigmoid", rng=0)
    assert relu.encoder[0].init == "he_normal" and sig.encoder[0].init == "glorot_uniform"


# ---- data and arguments checked before the first step ---------------------------------------

def test_fit_refuses_bce_data_scaled_to_255_before_training():
    """fit(mlp_autoencoder([64, 16], loss="bce"), X * 255, ...) trained to a loss of -1.05e8
    without a word. Now the data range the loss needs is checked once, before the first step."""
    X, _ = ae.load_digits()
    model = ae.mlp_autoencoder([64, 16], loss="bce", rng=0)
    before = [p.value.copy() for p in model.parameters()]
    with pytest.raises(ValueError, match=r"X must lie in \[0, 1\] for the binary cross-entropy "
                                         r"loss \(got values in \[0, 255\]\); scale it, e\.g\. "
                                         r"X / 255.*loss='mse'"):
        fit(model, X * 255, Adam(model.parameters()), epochs=2, progress=False)
    for b, p in zip(before, model.parameters()):
        np.testing.assert_array_equal(b, p.value)
    with pytest.raises(ValueError, match=r"X must lie in \[0, 1\]"):
        model.evaluate(X * 255)
    mse = ae.mlp_autoencoder([64, 16], loss="mse", rng=0)
    fit(mse, X * 255, Adam(mse.parameters()), epochs=1, progress=False)   # MSE takes any range


def test_the_data_range_is_checked_once_per_fit_not_per_step(monkeypatch):
    """The range check is one min and one max over X per call of fit: the training steps never
    repeat it (28 steps here, one check)."""
    from numpyae.nn.losses import BinaryCrossEntropy
    calls = []
    original = BinaryCrossEntropy.check_target_range

    def counting(self, target, *a, **k):
        calls.append(target.shape)
        return original(self, target, *a, **k)

    monkeypatch.setattr(BinaryCrossEntropy, "check_target_range", counting)
    model = ae.mlp_autoencoder([6, 3], rng=0)
    X = np.random.default_rng(0).random((70, 6))
    fit(model, X, Adam(model.parameters()), epochs=4, batch_size=10, progress=False)
    assert calls == [(70, 6)]


def test_output_activation_sigmoid_with_bce_is_refused():
    """BCE works on logits and applies the sigmoid itself; a sigmoid output layer applied it
    twice (reconstructions squeezed into [0.5, 0.73])."""
    with pytest.raises(ValueError, match=r"output_activation must be 'identity' \(or None\) with "
                                         r"loss='bce'.*'sigmoid' would be applied twice"):
        ae.mlp_autoencoder([64, 16], loss="bce", output_activation="sigmoid")
    with pytest.raises(ValueError, match="decoder must end in logits"):
        Autoencoder(Sequential([Dense(6, 3)]), Sequential([Dense(3, 6, "sigmoid")]), "bce")
    out = ae.mlp_autoencoder([6, 3], loss="bce", output_activation="identity", rng=0).reconstruct(
        np.random.default_rng(0).random((4, 6)))
    assert out.min() < 0.5    # one sigmoid: the full range (0, 1) is reachable


def test_y_passed_to_a_plain_autoencoder_is_refused_not_ignored():
    model = ae.mlp_autoencoder([6, 3], rng=0)
    X, y = np.random.default_rng(0).random((8, 6)), np.arange(8) % 2
    with pytest.raises(ValueError, match=r"y must be None: Autoencoder takes no labels"):
        fit(model, X, Adam(model.parameters()), y=y, epochs=1, progress=False)
    with pytest.raises(ValueError, match=r"y must be None"):
        model.evaluate(X, y)
    with pytest.raises(ValueError, match=r"validation_data\[1\] must be None"):
        fit(model, X, Adam(model.parameters()), validation_data=(X, y), epochs=1, progress=False)


def test_tied_must_be_a_bool():
    """tied="no" is truthy: it built a tied model."""
    with pytest.raises(TypeError, match=r"tied must be True or False, got str 'no'"):
        ae.mlp_autoencoder([64, 16], tied="no")
    assert isinstance(ae.mlp_autoencoder([64, 16], tied=np.bool_(True)).decoder.layers[0],
                      TiedDense)
