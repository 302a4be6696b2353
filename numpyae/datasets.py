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
