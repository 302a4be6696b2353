"""Preprocessing (numpyae.data.preprocessing) and the natural-image patches built with it."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from numpyae.data.datasets import load_patches, load_photograph
from numpyae.data.preprocessing import ZCAWhitening, normalize_patches, whiten_image


def test_normalize_patches_follows_ufldl():
    rng = np.random.default_rng(0)
    P = rng.normal(3.0, 2.0, size=(500, 64)) + rng.normal(0, 5, size=(500, 1))
    out = normalize_patches(P)
    assert out.dtype == np.float32 and out.shape == P.shape
    assert out.min() >= 0.1 - 1e-6 and out.max() <= 0.9 + 1e-6
    # recompute by hand: per-patch mean, clip at 3 std, rescale to [0.1, 0.9]
    C = P - P.mean(1, keepdims=True)
    s = 3 * C.std()
    expected = 0.1 + 0.8 * (np.clip(C, -s, s) / s + 1) / 2
    np.testing.assert_allclose(out, expected, atol=1e-6)
    # each unclipped patch is centred on 0.5
    unclipped = np.all(np.abs(C) < s, axis=1)
    np.testing.assert_allclose(out[unclipped].mean(1), 0.5, atol=1e-6)


def test_normalize_patches_errors():
    with pytest.raises(ValueError, match="constant"):
        normalize_patches(np.ones((4, 9)))
    with pytest.raises(ValueError, match="low and high"):
        normalize_patches(np.random.default_rng(0).normal(size=(4, 9)), low=0.9, high=0.1)
    with pytest.raises(ValueError, match="patches must be 2-D"):
        normalize_patches(np.zeros(9))


@given(seed=st.integers(0, 10_000), d=st.integers(2, 12))
@settings(max_examples=30)
def test_zca_whitens_and_inverts(seed, d):
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(d, d))
    X = rng.normal(size=(400, d)) @ A + rng.normal(size=d)
    zca = ZCAWhitening(epsilon=0.0)
    Z = zca.fit_transform(X)
    C = np.cov(Z, rowvar=False, bias=True)
    np.testing.assert_allclose(C, np.eye(d), atol=1e-6)
    np.testing.assert_allclose(zca.W_, zca.W_.T, atol=1e-10)  # ZCA: symmetric
    np.testing.assert_allclose(zca.inverse_transform(Z), X, atol=1e-8)


def test_zca_epsilon_shrinks_small_directions_and_keeps_dtype():
    X = (np.random.default_rng(0).normal(size=(300, 5))
         * [1, 1, 1, 1, 1e-3]).astype(np.float32)
    Z = ZCAWhitening(epsilon=1e-2).fit_transform(X)
    assert Z.dtype == np.float32
    assert Z[:, 4].std() < 0.05 and abs(Z[:, 0].std() - 1) < 0.02
    with pytest.raises(RuntimeError, match="fit"):
        ZCAWhitening().transform(X)
    with pytest.raises(ValueError, match="5 features"):
        ZCAWhitening().fit(X).transform(X[:, :3])


def test_whiten_image_flattens_the_spectrum():
    img = load_photograph()
    white = whiten_image(img)
    assert white.shape == img.shape
    assert abs(white.mean()) < 1e-8 and abs(white.std() - 1) < 1e-8

    def band_power(a, lo, hi):
        F = np.abs(np.fft.fft2(a - a.mean())) ** 2
        r = np.hypot(*np.meshgrid(np.fft.fftfreq(a.shape[0]), np.fft.fftfreq(a.shape[1]),
                                  indexing="ij"))
        return F[(r >= lo) & (r < hi)].mean()
    # raw photograph: power falls steeply with frequency; whitened: far flatter in the passband
    raw_ratio = band_power(img, 0.02, 0.04) / band_power(img, 0.08, 0.16)
    white_ratio = band_power(white, 0.02, 0.04) / band_power(white, 0.08, 0.16)
    assert raw_ratio > 10 * white_ratio
    with pytest.raises(ValueError, match="2-D grayscale"):
        whiten_image(np.zeros((4, 4, 3)))


def test_load_photograph_is_grayscale_unit_range():
    img = load_photograph()
    assert img.ndim == 2 and img.shape == (600, 512)
    assert 0 <= img.min() and img.max() <= 1
    with pytest.raises(ValueError, match="sample data"):
        load_photograph("no_such_picture.png")


def test_load_patches_shape_range_determinism():
    P = load_patches(300, 8, rng=1)
    assert P.shape == (300, 64) and P.dtype == np.float32
    assert P.min() >= 0.1 - 1e-6 and P.max() <= 0.9 + 1e-6
    np.testing.assert_array_equal(P, load_patches(300, 8, rng=1))
    assert not np.array_equal(P, load_patches(300, 8, rng=2))
    Q = load_patches(50, 6, whiten=False, normalize=False, downsample=2, rng=0)
    assert Q.shape == (50, 36) and 0 <= Q.min() and Q.max() <= 1


def test_load_patches_cuts_real_image_windows():
    img = load_photograph()
    P = load_patches(20, 5, whiten=False, normalize=False, rng=3).astype(np.float64)
    # every raw patch occurs in the photograph at some position
    H, W = img.shape
    for p in P[:5].reshape(-1, 5, 5):
        candidates = np.argwhere(np.abs(img - p[0, 0]) < 1e-6)
        found = any(np.allclose(img[r:r + 5, c:c + 5], p, atol=1e-6)
                    for r, c in candidates if r + 5 <= H and c + 5 <= W)
        assert found


def test_load_patches_errors():
    with pytest.raises(ValueError, match="size must be at most"):
        load_patches(10, 700)
    with pytest.raises(TypeError, match="n must be a positive int"):
        load_patches(2.5)


# ---- arguments are checked before any work -------------------------------------------------

@pytest.mark.parametrize("kwargs, error, words", [
    ({"n": 0}, ValueError, "n must be a positive int"),
    ({"n": 10**6, "size": 5}, ValueError, "n * size**2 must be at most 16,777,216 "
                                          "(MAX_PATCH_VALUES), got n=1000000, size=5"),
    ({"size": 0}, ValueError, "size must be a positive int"),
    ({"size": 8.0}, TypeError, "size must be a positive int"),
    ({"downsample": 0}, ValueError, "downsample must be a positive int"),
    ({"downsample": 1.5}, TypeError, "downsample must be a positive int"),
    ({"whiten": "no"}, TypeError, "whiten must be True or False"),
    ({"normalize": 1}, TypeError, "normalize must be True or False"),
    ({"rng": "s"}, TypeError, "rng must be None"),
    ({"rng": -3}, ValueError, "rng must be a non-negative int seed"),
    ({"image": 3}, TypeError, "name must be the file name of an image"),
])
def test_load_patches_checks_every_argument_before_loading(kwargs, error, words, monkeypatch):
    from numpyae.data import datasets as ds
    if "image" not in kwargs:
        monkeypatch.setattr(ds, "load_photograph", lambda *a: pytest.fail("work before checks"))
    with pytest.raises(error) as info:
        load_patches(**{"n": 10, **kwargs})
    assert words in str(info.value)


def test_load_patches_refuses_a_downsample_larger_than_the_photograph():
    with pytest.raises(ValueError, match="downsample must be at most the image's smaller side 512"):
        load_patches(10, 2, downsample=1000)


def test_load_photograph_refuses_sample_data_that_is_not_an_image():
    with pytest.raises(ValueError, match="cannot be read as an image|not a grayscale"):
        load_photograph("data_x_x2_x3.csv")
    with pytest.raises(ValueError, match="sample data"):
        load_photograph("")


@pytest.mark.parametrize("image, error, words", [
    ("photo.png", TypeError, "image must be a 2-D grayscale array (H, W), got str"),
    (None, TypeError, "image must be a 2-D grayscale array"),
    ([[1.0, 2.0], [3.0]], ValueError, "image must be a rectangular 2-D array"),
    (np.zeros(16), ValueError, "got shape (16,)"),
    (np.zeros((4, 4), complex), TypeError, "image must hold real numbers"),
    (np.array([[0.0, np.nan], [1.0, 1.0]]), ValueError, "image contains NaN or inf"),
    (np.zeros((0, 4)), ValueError, "image must not be empty"),
])
def test_whiten_image_checks_the_image(image, error, words):
    with pytest.raises(error) as info:
        whiten_image(image)
    assert words in str(info.value)
    with pytest.raises(ValueError, match="f0 must be > 0, got 0"):
        whiten_image(np.ones((4, 4)), f0=0)
    with pytest.raises(TypeError, match="f0 must be a real number"):
        whiten_image(np.ones((4, 4)), f0="0.2")


@pytest.mark.parametrize("kwargs, error, words", [
    ({"low": "0.1"}, TypeError, "low must be a real number"),
    ({"low": -0.1}, ValueError, "low must be a finite number >= 0"),
    ({"high": float("nan")}, ValueError, "high must be a finite number >= 0"),
    ({"high": 1.5}, ValueError, "0 <= low < high <= 1"),
    ({"n_std": "3"}, TypeError, "n_std must be a real number"),
    ({"n_std": 0}, ValueError, "n_std must be > 0"),
])
def test_normalize_patches_checks_its_arguments(kwargs, error, words):
    with pytest.raises(error) as info:
        normalize_patches(np.random.default_rng(0).normal(size=(4, 9)), **kwargs)
    assert words in str(info.value)


def test_zca_with_epsilon_0_refuses_a_singular_covariance_instead_of_returning_nan():
    X = np.random.default_rng(0).normal(size=(50, 3))
    X[:, 2] = X[:, 0] + X[:, 1]  # rank 2
    zca = ZCAWhitening(epsilon=0)
    with pytest.raises(ValueError, match="covariance is singular .* use epsilon > 0"):
        zca.fit(X)
    assert zca.W_ is None and zca.mean_ is None  # nothing half-fitted
    Z = ZCAWhitening(epsilon=1e-3).fit_transform(X)
    assert np.isfinite(Z).all()
    with pytest.raises(TypeError, match="epsilon must be a real number"):
        ZCAWhitening(epsilon="0.1")
    with pytest.raises(ValueError, match="X contains NaN"):
        ZCAWhitening().fit(np.array([[1.0, np.nan], [2.0, 3.0]]))
