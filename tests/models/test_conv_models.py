"""Convolutional models (numpyae.models.conv): conv_autoencoder, ConvDenoisingAutoencoder and
conv_vae. Their architecture on 28x28 and 8x8 images, float64 gradient checks of tiny instances
at 1e-7 (these are the gradcheck cases), save/load round trips, the tracer's step-by-step
checks, build-time errors, and training on the digits."""
import json

import numpy as np
import pytest

import numpyae
from numpyae import Adam, check_model, fit
from numpyae.io.files import architecture_json
from numpyae.models.autoencoder import Autoencoder
from numpyae.models.conv import ConvDenoisingAutoencoder, conv_autoencoder, conv_vae
from numpyae.models.vae import VAE
from numpyae.nn.conv import (Conv2D, ConvTranspose2D, Flatten, MaxPool2D, Reshape, Upsample2D,
                             im2col)
from numpyae.nn.corruption import GaussianNoise, MaskingNoise
from numpyae.nn.layers import Dense
from numpyae.nn.penalties import KLSparsity
from numpyae.teaching.trace import trace_backprop


def unit_inputs(seed, n, d):
    """Inputs in (0.05, 0.95): valid targets for BCE and MSE alike."""
    return np.random.default_rng(seed + 100).uniform(0.05, 0.95, size=(n, d))


def _feature_maps(model, X):
    """The shape after each encoder layer on a batch X."""
    shapes, x = [], X
    for layer in model.encoder:
        x = layer.forward(x, training=False)
        shapes.append(x.shape[1:])
    return shapes


# ---- architecture -------------------------------------------------------------------------

def test_the_default_conv_autoencoder_halves_28x28_twice_and_mirrors_back():
    model = conv_autoencoder(rng=0)
    assert isinstance(model, Autoencoder)
    assert (model.input_dim, model.code_dim) == (784, 32)
    assert [type(l) for l in model.encoder] == [Reshape, Conv2D, Conv2D, Flatten, Dense]
    assert [type(l) for l in model.decoder] == [Dense, Reshape, ConvTranspose2D, ConvTranspose2D,
                                               Flatten]
    X = np.random.default_rng(0).random((3, 784), dtype=np.float32)
    assert _feature_maps(model, X) == [(28, 28, 1), (14, 14, 16), (7, 7, 32), (1568,), (32,)]
    assert [l.output_padding for l in model.decoder.layers[2:4]] == [(1, 1), (1, 1)]
    assert model.code_layer is model.encoder[4]
    out = model.reconstruct(X)
    assert out.shape == (3, 784) and out.dtype == np.float32 and 0 < out.min() <= out.max() < 1


def test_the_conv_autoencoder_fits_the_8x8_digits():
    model = conv_autoencoder((8, 8), (8, 16), 10, rng=0)
    X = np.random.default_rng(0).random((4, 64), dtype=np.float32)
    assert _feature_maps(model, X)[:3] == [(8, 8, 1), (4, 4, 8), (2, 2, 16)]
    assert model.reconstruct(X).shape == (4, 64) and model.encode(X).shape == (4, 10)
    assert model.decode(np.zeros((2, 10), np.float32)).shape == (2, 64)


def test_maxpool_downsampling_uses_same_convolutions_pools_and_upsampling():
    model = conv_autoencoder((28, 28), (4, 8), 6, downsample="maxpool", rng=0)
    assert [type(l) for l in model.encoder] == [Reshape, Conv2D, MaxPool2D, Conv2D, MaxPool2D,
                                               Flatten, Dense]
    assert [type(l) for l in model.decoder] == [Dense, Reshape, Upsample2D, Conv2D, Upsample2D,
                                               Conv2D, Flatten]
    X = np.random.default_rng(0).random((2, 784), dtype=np.float32)
    assert _feature_maps(model, X)[:5] == [(28, 28, 1), (28, 28, 4), (14, 14, 4), (14, 14, 8),
                                           (7, 7, 8)]
    assert model.reconstruct(X).shape == (2, 784)


def test_odd_sizes_and_several_channels_mirror_exactly():
    """7x9 RGB images: 7 -> 4 -> 2 rows and 9 -> 5 -> 3 columns, and exactly back."""
    model = conv_autoencoder((7, 9), (4, 6), 5, in_channels=3, kernel_size=3, stride=2, rng=0)
    assert model.input_dim == 7 * 9 * 3
    X = np.random.default_rng(0).random((2, 189), dtype=np.float32)
    assert _feature_maps(model, X)[:3] == [(7, 9, 3), (4, 5, 4), (2, 3, 6)]
    assert [l.output_padding for l in model.decoder.layers[2:4]] == [(1, 0), (0, 0)]
    assert model.reconstruct(X).shape == (2, 189)


def test_the_conv_vae_has_a_conv_body_dense_heads_and_a_conv_decoder():
    model = conv_vae((8, 8), (4, 8), 3, rng=0)
    assert isinstance(model, VAE)
    assert (model.input_dim, model.code_dim) == (64, 3)
    assert [type(l) for l in model.encoder] == [Reshape, Conv2D, Conv2D, Flatten]
    assert model.mean_head.n_in == 2 * 2 * 8 == model.logvar_head.n_in
    assert [type(l) for l in model.decoder] == [Dense, Reshape, ConvTranspose2D, ConvTranspose2D,
                                               Flatten]
    assert model.decoder[3].activation.name == "identity"     # logits for the Bernoulli
    X = np.random.default_rng(0).random((3, 64), dtype=np.float32)
    assert model.reconstruct(X).shape == (3, 64) and model.sample(4).shape == (4, 64)
    assert set(model.evaluate(X)) == {"loss", "reconstruction", "kl", "neg_elbo"}


def test_the_denoising_preset_corrupts_only_in_training_from_rng_plus_one():
    model = ConvDenoisingAutoencoder((8, 8), (4, 8), 6, rng=7)
    assert isinstance(model.corruption, MaskingNoise) and model.corruption.p == 0.25
    assert model.corruption.rng_seed == 8
    gauss = ConvDenoisingAutoencoder((8, 8), (4, 8), 6, noise="gaussian", level=0.3, rng=0)
    assert isinstance(gauss.corruption, GaussianNoise) and gauss.corruption.std == 0.3
    X = np.random.default_rng(0).random((3, 64), dtype=np.float32)
    clean = conv_autoencoder((8, 8), (4, 8), 6, rng=np.random.default_rng(7))
    np.testing.assert_array_equal(model.reconstruct(X), clean.reconstruct(X))
    model.forward_loss(X, training=True)
    assert model.corruption.mask is not None and model.corruption.mask.min() == 0


# ---- gradient checks (float64, 1e-7): the gradcheck cases ---------------------------------------

def _min_window_gap(model, X):
    """The smallest gap between the largest and second-largest entry of any max-pool window on
    X: finite differences (steps up to 2e-4) must not swap a window's maximum."""
    gaps, x = [np.inf], X
    for layer in model.encoder:
        if isinstance(layer, MaxPool2D):
            cols = im2col(x, layer.pool_size, layer.stride)
            w = np.sort(cols.reshape(cols.shape[:3] + (-1, cols.shape[-1])), axis=3)
            gaps.append((w[:, :, :, -1] - w[:, :, :, -2]).min())
        x = layer.forward(x, training=False)
    return min(gaps)


def _ae_tanh(seed):
    model = conv_autoencoder((6, 6), (2, 3), 2, activation="tanh", rng=seed, dtype=np.float64)
    return model, unit_inputs(seed, 3, 36)


def _ae_maxpool(seed):
    model = conv_autoencoder((4, 4), (2, 2), 2, downsample="maxpool", activation="tanh",
                             loss="mse", rng=seed, dtype=np.float64)
    return model, unit_inputs(seed, 3, 16)


def _ae_rgb_odd(seed):
    model = conv_autoencoder((5, 3), (2,), 2, in_channels=2, kernel_size=(3, 2), stride=(2, 1),
                             padding=(1, 0), activation="softplus", rng=seed, dtype=np.float64)
    return model, unit_inputs(seed, 2, 30)


def _ae_sparse(seed):
    model = conv_autoencoder((4, 4), (2,), 3, activation="tanh", code_activation="sigmoid",
                             penalties=[KLSparsity(0.2, 0.5)], rng=seed, dtype=np.float64)
    return model, unit_inputs(seed, 3, 16)


def _dae_masking(seed):
    model = ConvDenoisingAutoencoder((6, 6), (2, 3), 2, noise="masking", level=0.3,
                                     activation="tanh", rng=seed, dtype=np.float64)
    return model, unit_inputs(seed, 3, 36)


def _dae_gaussian(seed):
    model = ConvDenoisingAutoencoder((6, 6), (2, 3), 2, noise="gaussian", level=0.2,
                                     activation="tanh", loss="mse", rng=seed, dtype=np.float64)
    return model, unit_inputs(seed, 3, 36)


def _vae(seed):
    model = conv_vae((6, 6), (2, 3), 2, activation="tanh", rng=seed, dtype=np.float64)
    return model, unit_inputs(seed, 3, 36)


def _vae_gaussian_maxpool(seed):
    model = conv_vae((4, 4), (2,), 2, downsample="maxpool", activation="tanh",
                     likelihood="gaussian", rng=seed, dtype=np.float64)
    return model, unit_inputs(seed, 3, 16)


CASES = {"conv autoencoder (tanh, bce)": _ae_tanh,
         "conv autoencoder (maxpool, mse)": _ae_maxpool,
         "conv autoencoder (2 channels, odd sizes, pair arguments)": _ae_rgb_odd,
         "conv autoencoder + KL sparsity": _ae_sparse,
         "conv denoising (masking)": _dae_masking,
         "conv denoising (gaussian, mse)": _dae_gaussian,
         "conv VAE (bernoulli)": _vae,
         "conv VAE (gaussian, maxpool)": _vae_gaussian_maxpool}


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("name", sorted(CASES))
def test_conv_models_pass_the_gradient_check(name, seed):
    model, X = CASES[name](seed)
    if "maxpool" in name:   # a step of 2e-4 moves a pooled value by at most 2e-4
        assert _min_window_gap(model, X) > 1e-3
    report = check_model(model, X)
    assert report.max_error <= 1e-7, str(report)
    assert {r.name for r in report.rows} == {n for n, _ in model.named_parameters_unique()}


def test_the_tracer_checks_every_step_of_a_conv_autoencoder():
    model, X = _ae_tanh(0)
    trace = trace_backprop(model, X, check=True)
    names = [s.name for s in trace.backward_steps]
    assert any("encoder.1" in n for n in names) and any("decoder.2" in n for n in names)
    assert trace.check() <= 1e-7


# ---- save and load --------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(CASES))
def test_conv_models_save_and_load(name, tmp_path):
    model, X = CASES[name](3)
    path = numpyae.save(model, tmp_path / "m.npz")
    back = numpyae.load(path)
    assert type(back) is type(model) and back.dtype == np.float64
    assert architecture_json(back) == architecture_json(model)
    for (n1, p), (n2, q) in zip(model.named_parameters_unique(), back.named_parameters_unique()):
        assert n1 == n2
        np.testing.assert_array_equal(p.value, q.value)
    np.testing.assert_array_equal(back.reconstruct(X), model.reconstruct(X))
    # the same noise in training, too: the Generators' seeds are saved
    a, b = model.forward_loss(X, training=True), back.forward_loss(X, training=True)
    assert a == b


def test_the_denoising_preset_is_saved_by_its_arguments(tmp_path):
    model = ConvDenoisingAutoencoder((8, 8), (4, 8), 6, noise="salt_and_pepper", level=0.1,
                                     kernel_size=(3, 3), stride=2, rng=5)
    spec = json.loads(architecture_json(model))
    assert spec["class"] == "ConvDenoisingAutoencoder"
    assert spec["config"] == {"image_size": [8, 8], "channels": [4, 8], "code_dim": 6,
                              "in_channels": 1, "noise": "salt_and_pepper", "level": 0.1,
                              "kernel_size": [3, 3], "stride": 2, "padding": None,
                              "downsample": "stride", "activation": "relu",
                              "code_activation": "identity", "loss": "bce", "rng": 5}
    back = numpyae.load(numpyae.save(model, tmp_path / "dae.npz"))
    assert back.corruption.rng_seed == 6 and back.corruption.p == 0.1


# ---- errors at build time -------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, exc, text", [
    ({"image_size": (8, 8), "padding": 0}, ValueError,
     r"image_size \(8, 8\) does not fit the layers: Conv2D\(1, 16, kernel_size=3, stride=2, "
     r"padding=0\): stride 2 does not divide the input height: 8 - kernel_size 3 = 5"),
    ({"image_size": (4, 4), "channels": (2, 2, 2), "kernel_size": 4, "padding": 0}, ValueError,
     r"kernel_size 4 is larger than the padded input height: 1"),
    ({"image_size": (6, 6), "downsample": "maxpool"}, ValueError,
     r"MaxPool2D\(pool_size=2, stride=2\): stride 2 does not divide the input height: 3 - pool_size 2 = 1"),
    ({"downsample": "avgpool"}, ValueError, r"downsample must be one of \('stride', 'maxpool'\), got 'avgpool'"),
    ({"downsample": "maxpool", "kernel_size": 4}, ValueError, "odd kernel_size and padding=None"),
    ({"image_size": (1, 28, 28)}, ValueError, r"image_size must be an int or a \(height, width\) pair"),
    ({"channels": ()}, ValueError, "channels must list at least one level's channels"),
    ({"channels": (16, 0)}, ValueError, r"channels\[1\]"),
    ({"code_dim": 0}, ValueError, "code_dim"),
    ({"padding": 3}, ValueError, r"^padding must be < kernel_size along the height"),
    ({"in_channels": 0}, ValueError, "in_channels"),
    ({"activation": "nope"}, ValueError, "activation"),
    ({"loss": "nope"}, ValueError, "loss"),
])
def test_conv_autoencoder_refuses_what_does_not_fit_when_built(kwargs, exc, text):
    with pytest.raises(exc, match=text):
        conv_autoencoder(**kwargs)


def test_the_conv_vae_and_the_preset_check_their_arguments_too():
    with pytest.raises(ValueError, match=r"image_size \(8, 8\) does not fit"):
        conv_vae((8, 8), padding=0)
    with pytest.raises(ValueError, match="likelihood"):
        conv_vae((8, 8), likelihood="poisson")
    with pytest.raises(ValueError, match="loss must be one of \\['bce', 'mse'\\]"):
        ConvDenoisingAutoencoder((8, 8), loss="hinge")
    with pytest.raises(ValueError, match="corruption"):
        ConvDenoisingAutoencoder((8, 8), noise="speckle")


def test_conv_models_refuse_rows_of_the_wrong_width():
    model = conv_autoencoder((8, 8), (4,), 3, rng=0)
    with pytest.raises(ValueError, match="64 features"):
        model.reconstruct(np.zeros((2, 63)))


# ---- training ---------------------------------------------------------------------------------------

def test_the_conv_autoencoder_learns_the_digits():
    X, _ = numpyae.load_digits()
    X = X[:600]
    model = conv_autoencoder((8, 8), (8, 16), 16, rng=0)
    before = model.evaluate(X)["loss"]
    history = fit(model, X, Adam(model.parameters(), lr=3e-3), epochs=8, batch_size=32,
                  progress=False, rng=0)
    assert history["loss"][-1] < history["loss"][0]
    assert model.evaluate(X)["loss"] < 0.85 * before
