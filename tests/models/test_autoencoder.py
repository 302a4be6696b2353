import numpyae
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import numpyae as ae
from numpyae import Autoencoder, Dense, Sequential, check_model, mlp_autoencoder
from numpyae.teaching.cases import GRADCHECK_CASES


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


@pytest.mark.parametrize("name", sorted(GRADCHECK_CASES))
def test_every_catalogued_model_passes_the_gradient_check(name):
    model, X, y = GRADCHECK_CASES[name](np.random.default_rng(0))
    assert check_model(model, X, y).max_error <= 1e-7


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
        numpyae.save(model, path)
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
    numpyae.save(mlp_autoencoder([4, 2], rng=0), path)
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
