"""Regularized autoencoders as compositions: corruption + penalties + TopK + ties, presets, save/load."""
import numpy as np
import pytest

import numpyae
from numpyae import Adam, fit
from numpyae.teaching.cases import GRADCHECK_CASES, topk_inputs
from numpyae.nn.corruption import GaussianNoise, MaskingNoise, SaltAndPepper
from numpyae.teaching.gradcheck import check_layer, check_model
from numpyae.nn.layers import Dense, Sequential, TiedDense, TopK
from numpyae.models.autoencoder import (Autoencoder, ContractiveAutoencoder,
                                        DenoisingAutoencoder, SparseAutoencoder)
from numpyae.nn.penalties import Contractive, KLSparsity, L1Activity, WeightDecay

REGULARIZED_CASES = [name for name in GRADCHECK_CASES
                     if name.split(" ")[0] in ("denoising", "sparse", "k-sparse", "contractive")]


def _X(seed=0, n=5, d=6):
    return np.random.default_rng(seed).uniform(0.05, 0.95, size=(n, d))


def test_catalog_covers_every_variant():
    names = " ".join(GRADCHECK_CASES)
    for word in ("gaussian", "masking", "salt and pepper", "KL", "L1", "TopK", "contractive",
                 "tied", "weight decay"):
        assert word in names


@pytest.mark.parametrize("name", REGULARIZED_CASES)
def test_catalog_case_gradcheck(name):
    model, X, y = GRADCHECK_CASES[name](np.random.default_rng(0))
    report = check_model(model, X, y)
    assert report.max_error <= 1e-7, str(report)


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


def test_topk_layer_gradcheck_away_from_ties():
    x = np.array([[0.9, -0.2, 0.5, 0.1, -0.7], [0.0, 0.8, -0.4, 0.6, 0.3]])
    report = check_layer(TopK(2), x)
    assert report.max_error <= 1e-7, str(report)


def test_topk_keeps_exactly_k_largest():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((50, 12)).astype(np.float32)
    layer = TopK(4)
    y = layer.forward(x)
    assert y.dtype == np.float32
    assert np.all(np.count_nonzero(y, axis=1) == 4)
    kth = np.sort(x, axis=1)[:, -4]
    assert np.all((y != 0) == (x >= kth[:, None]))
    dy = rng.standard_normal(x.shape).astype(np.float32)
    assert np.array_equal(layer.backward(dy), np.where(y != 0, dy, 0))
    with pytest.raises(ValueError, match="k must be <="):
        TopK(13).forward(x)


def test_topk_inputs_keep_the_gap():
    model = SparseAutoencoder([6, 5], penalty="topk", k=2, rng=0, dtype=np.float64)
    X = topk_inputs(model, np.random.default_rng(1))
    z = np.sort(model.encoder[0].forward(X), axis=1)[:, ::-1]
    assert np.all(z[:, 1] - z[:, 2] > 0.05)


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


PRESETS = [
    lambda: DenoisingAutoencoder([6, 4], noise="masking", level=0.3, noise_seed=1, rng=0,
                                 dtype=np.float64),
    lambda: DenoisingAutoencoder([6, 5, 3], noise="salt_and_pepper", level=0.2, tied=True,
                                 rng=0, dtype=np.float64),
    lambda: SparseAutoencoder([6, 4], penalty="kl", rho=0.1, rng=0, dtype=np.float64),
    lambda: SparseAutoencoder([6, 5, 4], penalty="l1", tied=True, rng=0, dtype=np.float64),
    lambda: SparseAutoencoder([6, 5], penalty="topk", k=2, rng=0, dtype=np.float64),
    lambda: ContractiveAutoencoder([6, 4], lam=0.3, rng=0, dtype=np.float64),
    lambda: ContractiveAutoencoder([6, 5, 3], activation="tanh", tied=False, rng=0,
                                   dtype=np.float64),
]


@pytest.mark.parametrize("build", PRESETS)
def test_presets_save_load_round_trip_keeps_ties_and_terms(build, tmp_path):
    model = build()
    X = _X(3)
    for p in model.parameters():  # make the weights differ from a fresh build
        p.value += 0.01 * np.random.default_rng(9).standard_normal(p.value.shape)
    numpyae.save(model, tmp_path / "m.npz")
    back = numpyae.load(tmp_path / "m.npz")
    assert type(back) is type(model) and back.terms == model.terms
    np.testing.assert_array_equal(back.reconstruct(X), model.reconstruct(X))
    assert back.evaluate(X) == model.evaluate(X)
    assert repr(back.penalties) == repr(model.penalties)
    for layer in back.decoder:
        if isinstance(layer, TiedDense):
            assert any(layer.W is enc.W for enc in back.encoder if isinstance(enc, Dense))
    assert len(back.parameters()) == len(model.parameters())


def test_tied_mlp_autoencoder_save_load_keeps_the_tie(tmp_path):
    model = numpyae.mlp_autoencoder([6, 5, 3], tied=True, rng=0, penalties=[Contractive(0.1)])
    numpyae.save(model, tmp_path / "m.npz")
    back = numpyae.load(tmp_path / "m.npz")
    assert back.decoder[0].W is back.encoder[1].W and back.decoder[1].W is back.encoder[0].W
    X = _X(0).astype(np.float32)
    back.loss_and_grad(X)
    model.loss_and_grad(X)
    np.testing.assert_allclose(back.encoder[0].W.grad, model.encoder[0].W.grad, rtol=1e-6)


def test_sparse_kl_preset_is_twice_the_ufldl_objective():
    model = SparseAutoencoder([6, 4], penalty="kl", rho=0.1, beta=3.0, weight_decay=1e-3,
                              rng=0, dtype=np.float64)
    X = _X(1, n=7)
    terms = model.forward_loss(X, training=False)
    W1, W2 = model.encoder[0].W.value, model.decoder[0].W.value
    h = 1 / (1 + np.exp(-(X @ W1 + model.encoder[0].b.value)))
    xh = 1 / (1 + np.exp(-(h @ W2 + model.decoder[0].b.value)))
    q = h.mean(0)
    J = (0.5 * np.sum((xh - X) ** 2) / 7 + 1e-3 / 2 * (np.sum(W1 ** 2) + np.sum(W2 ** 2))
         + 3.0 * np.sum(0.1 * np.log(0.1 / q) + 0.9 * np.log(0.9 / (1 - q))))
    assert SparseAutoencoder.ufldl_objective(terms) == pytest.approx(J, rel=1e-12)


def test_ksparse_preset_has_exactly_k_nonzero_codes():
    model = SparseAutoencoder([16, 10], penalty="topk", k=3, rng=0)
    H = model.encode(np.random.default_rng(0).uniform(0, 1, (40, 16)))
    assert np.all(np.count_nonzero(H, axis=1) == 3)


def test_denoising_preset_corrupts_only_in_training():
    model = DenoisingAutoencoder([6, 4], noise="masking", level=0.5, rng=0, dtype=np.float64)
    X = _X(0)
    a = model.evaluate(X)["loss"]
    assert a == model.evaluate(X)["loss"]
    assert a == pytest.approx(model.forward_loss(X, training=False)["loss"])
    assert model.forward_loss(X, training=True)["loss"] != a


def test_preset_bad_arguments():
    with pytest.raises(ValueError, match="penalty must be"):
        SparseAutoencoder([6, 4], penalty="l2")
    with pytest.raises(ValueError, match="k must be <="):
        SparseAutoencoder([6, 4], penalty="topk", k=5)
    with pytest.raises(ValueError, match="loss must be"):
        DenoisingAutoencoder([6, 4], loss="hinge")
    with pytest.raises(TypeError, match="corruption must be"):
        numpyae.mlp_autoencoder([6, 3], corruption="masking")


def test_denoising_beats_vanilla_on_corrupted_inputs_small():
    """A small, fast version of `python -m numpyae train --model denoising`."""
    X, _ = numpyae.load_digits()
    X_tr, X_te = X[:1400], X[1500:1700]
    errs = {}
    for name, level in (("dae", 0.3), ("vanilla", 0.0)):
        model = DenoisingAutoencoder([64, 48], noise="masking", level=level, noise_seed=1, rng=0)
        fit(model, X_tr, Adam(model.parameters(), 3e-3), epochs=40, batch_size=32, seed=0,
            progress=False)
        noisy = MaskingNoise(0.3, rng=7).forward(X_te)
        errs[name] = np.mean((model.reconstruct(noisy) - X_te) ** 2)
    assert errs["dae"] < errs["vanilla"]
