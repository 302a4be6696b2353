"""The classic autoencoders as presets (numpyae.models.presets): denoising, sparse (KL, L1,
k-sparse) and contractive; their defaults, save/load by their own arguments, the denoising
preset's noise stream, argument checks, and a short training run. (Penalties and corruption
as parts of any Autoencoder are tested in tests/models/test_autoencoder.py, the catalogue of
gradient-checked cases in tests/teaching/test_cases.py.)"""
import numpy as np
import pytest

import numpyae
from numpyae import Adam, fit
from numpyae.models.presets import (ContractiveAutoencoder, DenoisingAutoencoder,
                                    KSparseAutoencoder, L1SparseAutoencoder, SparseAutoencoder)
from numpyae.nn.corruption import GaussianNoise, MaskingNoise, SaltAndPepper
from numpyae.nn.layers import Dense, TiedDense, TopK
from numpyae.nn.penalties import KLSparsity, L1Activity


def _X(seed=0, n=5, d=6):
    return np.random.default_rng(seed).uniform(0.05, 0.95, size=(n, d))


PRESETS = [
    lambda: DenoisingAutoencoder([6, 4], noise="masking", level=0.3, rng=0, dtype=np.float64),
    lambda: DenoisingAutoencoder([6, 5, 3], noise="salt_and_pepper", level=0.2, tied=True,
                                 rng=0, dtype=np.float64),
    lambda: SparseAutoencoder([6, 4], rho=0.1, rng=0, dtype=np.float64),
    lambda: SparseAutoencoder([6, 5, 4], rho=0.05, beta=1.0, weight_decay=0.0, tied=True, rng=3,
                              dtype=np.float64),
    lambda: L1SparseAutoencoder([6, 5, 4], tied=True, rng=0, dtype=np.float64),
    lambda: L1SparseAutoencoder([6, 4], beta=0.1, weight_decay=1e-3, rng=None, dtype=np.float64),
    lambda: KSparseAutoencoder([6, 5], k=2, rng=0, dtype=np.float64),
    lambda: KSparseAutoencoder([6, 5, 4], k=3, tied=False, rng=2, dtype=np.float64),
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


@pytest.mark.parametrize("build, kind, expected", [
    (lambda: SparseAutoencoder([6, 4], rho=0.05, beta=2.0, weight_decay=1e-3, rng=4),
     KLSparsity, {"sizes": [6, 4], "rho": 0.05, "beta": 2.0, "weight_decay": 1e-3,
                  "activation": "sigmoid", "tied": False, "rng": 4}),
    (lambda: L1SparseAutoencoder([6, 5, 4], beta=0.1, tied=True, rng=5),
     L1Activity, {"sizes": [6, 5, 4], "beta": 0.1, "weight_decay": 1e-4,
                  "activation": "sigmoid", "tied": True, "rng": 5}),
    (lambda: KSparseAutoencoder([6, 5], k=2, rng=6),
     None, {"sizes": [6, 5], "k": 2, "k_start": 5, "schedule_steps": 0, "alpha": 1.0,
            "init_std": None, "tied": True, "rng": 6, "step": 0}),
], ids=["kl", "l1", "k-sparse"])
def test_sparse_presets_round_trip_by_their_own_arguments(tmp_path, build, kind, expected):
    """Each sparse preset (one class per penalty now) is saved by its preset arguments and
    rebuilt by them: same class, same config, same penalties, same weights, same ties."""
    model = build()
    assert model.get_config(None) == expected
    path = numpyae.save(model, tmp_path / "preset.npz")
    back = numpyae.load(path)
    assert type(back) is type(model) and back.get_config(None) == expected
    assert [type(p) for p in back.penalties] == [type(p) for p in model.penalties]
    if kind is not None:
        assert isinstance(back.penalties[0], kind) and repr(back.penalties) == repr(model.penalties)
    else:
        assert back.penalties == [] and isinstance(back.code_layer, TopK) and back.code_layer.k == 2
        assert back.decoder[0].W is back.encoder[0].W          # tied by default
    for (n1, p1), (n2, p2) in zip(model.named_parameters_unique(), back.named_parameters_unique()):
        assert n1 == n2 and p1.value.tobytes() == p2.value.tobytes()
    X = _X(4).astype(np.float32)
    assert back.evaluate(X) == model.evaluate(X)


def test_sparse_preset_defaults_match_the_ufldl_exercise():
    model = SparseAutoencoder()
    kl, wd = model.penalties
    assert (model.input_dim, model.code_dim) == (64, 25)
    assert kl.rho == KLSparsity().rho == 0.01 and kl.beta == 2 * 3.0 and wd.lam == 2 * 1e-4
    assert KSparseAutoencoder().code_layer.k == 5
    assert L1SparseAutoencoder().penalties[0].beta == 2 * 0.02


@pytest.mark.parametrize("noise, level, corruption", [
    ("masking", 0.3, lambda: MaskingNoise(0.3, rng=1)),
    ("gaussian", 0.2, lambda: GaussianNoise(0.2, rng=1)),
    ("salt_and_pepper", 0.25, lambda: SaltAndPepper(0.25, rng=1)),
])
def test_denoising_preset_draws_its_corruption_from_rng_plus_one(noise, level, corruption):
    """DenoisingAutoencoder(rng=0): the weights come from rng 0 (as mlp_autoencoder(rng=0)'s), the
    corruption from a Generator seeded child_seed(0) = 1, the same stream as an explicitly seeded
    corruption(rng=1) (what noise_seed=1, seed=0 gave before)."""
    model = DenoisingAutoencoder([6, 4], noise=noise, level=level, rng=0, dtype=np.float64)
    ref = corruption()
    assert model.corruption.rng_seed == 1 and model.get_config(None)["rng"] == 0
    X = _X(5)
    for _ in range(3):   # the streams stay in step from call to call
        model.forward_loss(X, training=True)
        x_model = model.encoder[0].x
        np.testing.assert_array_equal(x_model, ref.forward(X, training=True))
    plain = numpyae.mlp_autoencoder([6, 4], activation="sigmoid", code_activation="sigmoid",
                                    loss="bce", rng=0, dtype=np.float64)
    for p, q in zip(model.parameters(), plain.parameters()):
        np.testing.assert_array_equal(p.value, q.value)
    # a Generator is used as given and saves no seed
    free = DenoisingAutoencoder([6, 4], rng=np.random.default_rng(0))
    assert free.get_config(None)["rng"] is None


def test_sparse_kl_preset_is_twice_the_ufldl_objective():
    model = SparseAutoencoder([6, 4], rho=0.1, beta=3.0, weight_decay=1e-3, rng=0,
                              dtype=np.float64)
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
    model = KSparseAutoencoder([16, 10], k=3, rng=0)
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
    # one preset per penalty now: there is no penalty= switch to get wrong
    with pytest.raises(TypeError, match="penalty"):
        SparseAutoencoder([6, 4], penalty="l2")
    with pytest.raises(ValueError, match="rho"):
        SparseAutoencoder([6, 4], rho=0)
    with pytest.raises(ValueError, match="beta"):
        L1SparseAutoencoder([6, 4], beta=-1.0)
    with pytest.raises(ValueError, match="weight_decay"):
        SparseAutoencoder([6, 4], weight_decay=float("nan"))
    with pytest.raises(ValueError, match="k must be <="):
        KSparseAutoencoder([6, 4], k=5)
    with pytest.raises(ValueError, match="k must be a positive int"):
        KSparseAutoencoder([6, 4], k=0)
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
        model = DenoisingAutoencoder([64, 48], noise="masking", level=level, rng=0)
        fit(model, X_tr, Adam(model.parameters(), 3e-3), epochs=40, batch_size=32, rng=0,
            progress=False)
        noisy = MaskingNoise(0.3, rng=7).forward(X_te)
        errs[name] = np.mean((model.reconstruct(noisy) - X_te) ** 2)
    assert errs["dae"] < errs["vanilla"]


# ---- every preset argument names itself in an error --------------------------------------------

def test_sparse_autoencoder_weight_decay_string_names_the_argument():
    """SparseAutoencoder(weight_decay='x') raised a raw error that did not name the argument."""
    with pytest.raises(TypeError, match=r"weight_decay must be a real number, got str 'x'"):
        SparseAutoencoder(weight_decay="x")


@pytest.mark.parametrize("build,arg,bad", [
    (SparseAutoencoder, "rho", 1.0), (SparseAutoencoder, "rho", 0), (SparseAutoencoder, "rho", "x"),
    (SparseAutoencoder, "beta", -1), (SparseAutoencoder, "activation", "nope"),
    (SparseAutoencoder, "tied", "no"), (SparseAutoencoder, "dtype", np.int32),
    (SparseAutoencoder, "sizes", [64]), (L1SparseAutoencoder, "weight_decay", np.nan),
    (KSparseAutoencoder, "k", 26), (KSparseAutoencoder, "k", True),
    (ContractiveAutoencoder, "lam", "x"), (ContractiveAutoencoder, "activation", 3),
    (DenoisingAutoencoder, "noise", "blur"), (DenoisingAutoencoder, "level", 1.0),
    (DenoisingAutoencoder, "level", "x"), (DenoisingAutoencoder, "loss", "hinge"),
    (DenoisingAutoencoder, "code_activation", "nope"), (DenoisingAutoencoder, "rng", -1)])
def test_preset_arguments_are_checked_by_name(build, arg, bad):
    with pytest.raises((TypeError, ValueError), match=arg):
        build(**{arg: bad})


def test_denoising_level_is_checked_for_its_noise():
    """A Gaussian level is a standard deviation (any value >= 0), the others a probability."""
    assert DenoisingAutoencoder(noise="gaussian", level=2.0, rng=0).corruption.std == 2.0
    with pytest.raises(ValueError, match=r"level must lie in \[0, 1\)"):
        DenoisingAutoencoder(noise="salt_and_pepper", level=2.0)
