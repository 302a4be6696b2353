"""Datasets bundled with numpyae, and a seeded split helper.

load_digits(): the UCI "Optical Recognition of Handwritten Digits" test set (Alpaydin & Kaynak,
1998; UCI Machine Learning Repository, CC BY 4.0): 1,797 images of 8x8 pixels, values 0..16.
"""
from __future__ import annotations

import gzip
from importlib import resources

import numpy as np

from ._validation import as_generator, check_array, check_probability

DIGITS_SHAPE = (8, 8)


def load_digits(*, as_images=False):
    """Pixels as float32 in [0, 1], shape (1797, 64) (or (1797, 8, 8)), and int64 labels 0..9."""
    with resources.files("numpyae").joinpath("data/digits.csv.gz").open("rb") as f:
        raw = np.loadtxt(gzip.open(f, "rt"), delimiter=",", dtype=np.int64)
    X = (raw[:, :64] / 16.0).astype(np.float32)
    y = raw[:, 64]
    if as_images:
        X = X.reshape(-1, *DIGITS_SHAPE)
    return X, y


def train_validation_split(X, y=None, *, fraction=0.2, seed=0):
    """Shuffle with the seed and hold out `fraction` of the rows.

    Returns X_train, X_val, y_train, y_val (the y parts are None when y is None).
    """
    X = np.asarray(X)
    if X.ndim < 1 or len(X) < 2:
        raise ValueError(f"X must have at least 2 rows to split, got shape {X.shape}")
    frac = check_probability(fraction, "fraction", open_low=True)
    n_val = int(round(frac * len(X)))
    if not 1 <= n_val < len(X):
        raise ValueError(f"fraction={frac} leaves one side empty for {len(X)} rows")
    if y is not None:
        y = np.asarray(y)
        if len(y) != len(X):
            raise ValueError(f"y must have one entry per row of X ({len(X)}), got {len(y)}")
    order = as_generator(seed, "seed").permutation(len(X))
    tr, va = order[n_val:], order[:n_val]
    if y is None:
        return X[tr], X[va], None, None
    return X[tr], X[va], y[tr], y[va]


# ---- natural image patches (issue 3) ------------------------------------------------------

PATCH_IMAGE = "grace_hopper.jpg"


def load_photograph(name=PATCH_IMAGE):
    """A grayscale photograph from matplotlib's sample data, float64 in [0, 1], shape (H, W).

    The default is the portrait of Grace Hopper (600 x 512) that ships with matplotlib; colour is
    converted to luminance with the ITU-R BT.601 weights 0.299 R + 0.587 G + 0.114 B.
    """
    import os

    import matplotlib.cbook as cbook
    import matplotlib.image as mimage
    path = cbook.get_sample_data(name, asfileobj=False) if isinstance(name, str) else None
    if path is None or not os.path.isfile(path):
        raise ValueError(f"name must be an image in matplotlib's sample data (e.g. "
                         f"{PATCH_IMAGE!r}), got {name!r}")
    img = np.asarray(mimage.imread(path), dtype=np.float64)
    if img.dtype.kind == "f" and img.max() > 1:
        img = img / 255.0
    if img.ndim == 3:
        img = img[..., :3] @ np.array([0.299, 0.587, 0.114])
    return img


def load_patches(n=10000, size=8, *, whiten=True, downsample=1, normalize=True, image=PATCH_IMAGE,
                 seed=0):
    """Square patches sampled at random positions of a photograph: float32 (n, size*size).

    whiten     first flatten the photograph's 1/f spectrum (preprocessing.whiten_image), as the
               whitened natural images of the UFLDL sparse-autoencoder exercise were; on raw
               pixels an autoencoder spends its units on smooth low-frequency blobs
    downsample average blocks of downsample x downsample pixels first (less JPEG noise, finer
               structure per patch)
    normalize  UFLDL's patch normalization (preprocessing.normalize_patches): subtract each patch's
               mean, clip to +/- 3 standard deviations, rescale to [0.1, 0.9]
    seed       int or np.random.Generator for the patch positions
    """
    from ._validation import check_positive_int
    from .preprocessing import normalize_patches, whiten_image
    n = check_positive_int(n, "n")
    size = check_positive_int(size, "size")
    img = load_photograph(image)
    downsample = check_positive_int(downsample, "downsample")
    if downsample > 1:
        H, W = (s - s % downsample for s in img.shape)
        img = img[:H, :W].reshape(H // downsample, downsample, W // downsample, downsample)
        img = img.mean(axis=(1, 3))
    if size > min(img.shape):
        raise ValueError(f"size must be at most the image's smaller side {min(img.shape)}, got {size}")
    if whiten:
        img = whiten_image(img)
    rng = as_generator(seed, "seed")
    rows = rng.integers(0, img.shape[0] - size + 1, size=n)
    cols = rng.integers(0, img.shape[1] - size + 1, size=n)
    offsets = np.arange(size)
    patches = img[rows[:, None, None] + offsets[None, :, None],
                  cols[:, None, None] + offsets[None, None, :]].reshape(n, size * size)
    if normalize:
        return normalize_patches(patches)
    return patches.astype(np.float32)
