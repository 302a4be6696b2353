"""Preprocessing (numpyae.data.preprocessing) and the natural-image patches built with it."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from numpyae.data.datasets import PATCH_IMAGES, PHOTOGRAPHS, load_patches, load_photograph
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
    img = load_photograph("raccoon")
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


def test_bundled_photographs_are_grayscale_in_unit_range_of_their_documented_size():
    assert set(PATCH_IMAGES) <= set(PHOTOGRAPHS) and len(PATCH_IMAGES) >= 3
    for name, (h, w, what, source, licence) in PHOTOGRAPHS.items():
        img = load_photograph(name)
        assert img.shape == (h, w) and img.dtype == np.float64
        assert 0 <= img.min() and img.max() <= 1 and img.std() > 0.05
        assert licence in ("CC0", "public domain") and source and what
    # several different photographs, not one
    assert len({load_photograph(n).tobytes() for n in PHOTOGRAPHS}) == len(PHOTOGRAPHS)


def test_load_photograph_refuses_unknown_names():
    with pytest.raises(ValueError, match=r"name must be the name of a bundled photograph, one of "
                                         r"\['camera', 'chelsea', 'grass', 'gravel', 'raccoon'\], "
                                         r"got 'grace_hopper.jpg'"):
        load_photograph("grace_hopper.jpg")
    for bad in ("", "../../etc/passwd", "grass.png"):
        with pytest.raises(ValueError, match="bundled photograph"):
            load_photograph(bad)
    with pytest.raises(TypeError, match="got int 3"):
        load_photograph(3)


def test_load_patches_default_is_ufldl_10000_patches_of_8x8_in_0_1_to_0_9():
    P = load_patches()
    assert P.shape == (10000, 64) and P.dtype == np.float32
    assert P.min() == pytest.approx(0.1, abs=1e-6) and P.max() == pytest.approx(0.9, abs=1e-6)
    # UFLDL's normalization: each unclipped patch is centred on 0.5
    assert abs(float(np.median(P.mean(axis=1))) - 0.5) < 0.01


def test_load_patches_is_deterministic_in_rng():
    P = load_patches(300, 8, rng=1)
    np.testing.assert_array_equal(P, load_patches(300, 8, rng=1))
    np.testing.assert_array_equal(P, load_patches(300, 8, rng=np.random.default_rng(1)))
    assert not np.array_equal(P, load_patches(300, 8, rng=2))
    g = np.random.default_rng(5)
    assert not np.array_equal(load_patches(50, rng=g), load_patches(50, rng=g))  # g advances


def _find(img, p):
    """Whether the square p occurs in img at some position."""
    k = p.shape[0]
    rows, cols = np.nonzero(np.abs(img[:img.shape[0] - k + 1, :img.shape[1] - k + 1] - p[0, 0])
                            < 1e-6)
    return any(np.allclose(img[r:r + k, c:c + k], p, atol=1e-6) for r, c in zip(rows, cols))


def test_load_patches_cuts_real_windows_of_every_default_photograph():
    images = {name: load_photograph(name) for name in PATCH_IMAGES}
    P = load_patches(60, 5, whiten=False, normalize=False, rng=3).astype(np.float64)
    sources = []
    for p in P.reshape(-1, 5, 5):
        found = [name for name, img in images.items() if _find(img, p)]
        assert found, "a raw patch that occurs in no photograph"
        sources.append(found[0])
    assert set(sources) == set(PATCH_IMAGES)       # several photographs, each drawn
    Q = load_patches(50, 6, whiten=False, normalize=False, downsample=2, rng=0)
    assert Q.shape == (50, 36) and 0 <= Q.min() and Q.max() <= 1


@pytest.mark.parametrize("n, size", [(1, 2), (1, 3), (2, 4), (2, 2)])
def test_load_patches_with_fewer_patches_than_images(n, size):
    """An image that no patch was drawn from made the reshape fail (a ValueError from NumPy)."""
    P = load_patches(n, size, rng=0)
    assert P.shape == (n, size * size) and P.dtype == np.float32


def test_load_patches_takes_names_and_arrays_of_its_own():
    own = np.random.default_rng(0).random((30, 40))
    P = load_patches(40, 6, images=own, whiten=False, normalize=False, rng=0).astype(np.float64)
    assert all(_find(own, p) for p in P.reshape(-1, 6, 6))
    Q = load_patches(40, 6, images=["camera", own], rng=0)
    assert Q.shape == (40, 36) and 0.1 - 1e-6 <= Q.min() and Q.max() <= 0.9 + 1e-6
    R = load_patches(40, 6, images="chelsea", whiten=False, normalize=False, rng=0)
    chelsea = load_photograph("chelsea")
    assert all(_find(chelsea, p) for p in R.astype(np.float64).reshape(-1, 6, 6))


def test_load_patches_never_touches_the_network(monkeypatch):
    import socket
    import urllib.request

    def refuse(*args, **kwargs):
        raise AssertionError("load_patches tried to open a network connection")
    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    P = load_patches(200, rng=0)
    assert P.shape == (200, 64)
    for name in PHOTOGRAPHS:
        assert load_photograph(name).ndim == 2


def test_load_patches_zca_option_whitens_the_patches():
    Z = load_patches(4000, 4, whiten=False, normalize=False, zca=1e-4, rng=0).astype(np.float64)
    C = np.cov(Z, rowvar=False, bias=True)
    # ZCA of the mean-removed patches: unit variance along every direction but the constant one
    eig = np.linalg.eigvalsh(C)
    assert eig[0] < 1e-3 and np.all(np.abs(eig[1:] - 1) < 0.05)
    # and UFLDL's normalization after it maps the result into [0.1, 0.9]
    N = load_patches(500, 8, whiten=False, zca=0.1, rng=0)
    assert 0.1 - 1e-6 <= N.min() and N.max() <= 0.9 + 1e-6


def test_load_patches_errors():
    with pytest.raises(ValueError, match=r"size must be at most the smaller side of chelsea "
                                         r"\(150 pixels after downsample=1\), got 200"):
        load_patches(10, 200, images="chelsea")
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
    ({"zca": True}, TypeError, "zca must be None or a regularizer eps > 0"),
    ({"zca": "0.1"}, TypeError, "zca must be None or a regularizer eps > 0"),
    ({"zca": 0}, ValueError, "zca must be None or a finite regularizer eps > 0, got 0"),
    ({"zca": float("inf")}, ValueError, "zca must be None or a finite regularizer eps > 0"),
    ({"rng": "s"}, TypeError, "rng must be None"),
    ({"rng": -3}, ValueError, "rng must be a non-negative int seed"),
    ({"images": 3}, TypeError, "images must be a photograph's name"),
    ({"images": None}, TypeError, "images must be a photograph's name"),
    ({"images": []}, ValueError, "images must name at least one photograph"),
    ({"images": "grace_hopper.jpg"}, ValueError, "images must be the name of a bundled "
                                                 "photograph"),
    ({"images": ["grass", "nope"]}, ValueError, "images[1] must be the name of a bundled "
                                                "photograph"),
    ({"images": ["grass", 3]}, TypeError, "images[1] must be a photograph's name"),
    ({"images": [np.zeros((4, 4, 3))]}, ValueError, "images[0] must be 2-D"),
    ({"images": [np.full((9, 9), np.nan)]}, ValueError, "images[0] contains NaN"),
])
def test_load_patches_checks_every_argument_before_loading(kwargs, error, words, monkeypatch):
    from numpyae.data import datasets as ds
    monkeypatch.setattr(ds, "load_photograph", lambda *a: pytest.fail("work before checks"))
    with pytest.raises(error) as info:
        load_patches(**{"n": 10, **kwargs})
    assert words in str(info.value)


def test_load_patches_refuses_a_downsample_larger_than_the_photograph():
    with pytest.raises(ValueError, match=r"downsample must be at most the smaller side of grass "
                                         r"\(256 pixels\), got 1000"):
        load_patches(10, 2, downsample=1000)
    with pytest.raises(ValueError, match=r"size must be at most the smaller side of images\[1\]"):
        load_patches(10, 8, images=["grass", np.ones((5, 20))])


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
