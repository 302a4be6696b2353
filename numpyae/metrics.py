"""Measurements of trained autoencoders used by the regularized-autoencoder results.

    localization_score(W)        how concentrated each filter's energy is in a small window
    encoder_jacobian(layers, X)  per-example Jacobian d code / d input of a stack of Dense layers
    jacobian_frobenius_norm(...) its Frobenius norm per example
"""
from __future__ import annotations

import math

import numpy as np

from .layers import Dense, TiedDense
from ._validation import check_array, check_positive_int


def localization_score(W, image_shape=None, *, window=3):
    """Per filter (column of W (D, n)), the largest fraction of its energy inside any
    window x window square of the image:

        w' = w - mean(w)            (the DC part only shifts the response: patches have fixed mean)
        score = max over positions of  sum_{window} w'^2 / sum w'^2         in [window^2/D, 1]

    A localized edge detector puts most of its energy in a few neighbouring pixels (high score);
    a spread-out pattern does not (for 8x8 i.i.d. Gaussian random filters the mean is about 0.3).
    Returns float64 (n,).
    """
    W = check_array(W, "W", ndim=2).astype(np.float64)
    D, n = W.shape
    if image_shape is None:
        side = math.isqrt(D)
        if side * side != D:
            raise ValueError(f"pass image_shape: {D} inputs are not a square image")
        image_shape = (side, side)
    h, w = (int(s) for s in image_shape)
    if h * w != D:
        raise ValueError(f"image_shape {image_shape} does not hold {D} inputs")
    window = check_positive_int(window, "window")
    if window > min(h, w):
        raise ValueError(f"window must be <= the image's smaller side {min(h, w)}, got {window}")
    E = ((W - W.mean(axis=0)) ** 2).T.reshape(n, h, w)
    total = E.sum(axis=(1, 2))
    # window sums by a 2-D cumulative sum (summed-area table)
    S = np.zeros((n, h + 1, w + 1))
    S[:, 1:, 1:] = E.cumsum(axis=1).cumsum(axis=2)
    k = window
    box = S[:, k:, k:] - S[:, :-k, k:] - S[:, k:, :-k] + S[:, :-k, :-k]
    best = box.reshape(n, -1).max(axis=1)
    return np.where(total > 0, best / np.where(total > 0, total, 1), 0.0)


def _dense_stack(layers):
    leaves = []
    for layer in layers:
        subs = getattr(layer, "layers", None)
        leaves.extend(_dense_stack(subs) if subs is not None else [layer])
    return leaves


def encoder_jacobian(encoder, X):
    """Per-example Jacobians J_b = d code_b / d x_b of a stack of Dense / TiedDense layers.

    Chain rule, layer by layer (forward mode), with h_l = f_l(a_l), a_l = h_{l-1} W_l + b_l:
        J_0 = I;   J_l = diag(f_l'(a_l)) W_l^T J_{l-1}      (B, n_l, D)
    Returns float64 (B, k, D). Inference mode; no gradients are touched.
    """
    layers = _dense_stack([encoder])
    X = check_array(X, "X", ndim=2).astype(np.float64)
    h = X
    J = np.broadcast_to(np.eye(X.shape[1]), (len(X), X.shape[1], X.shape[1]))
    for layer in layers:
        if isinstance(layer, Dense):
            W = layer.W.value.astype(np.float64)
        elif isinstance(layer, TiedDense):
            W = layer.W.value.astype(np.float64).T
        else:
            raise TypeError(f"encoder_jacobian handles Dense and TiedDense layers, "
                            f"got {type(layer).__name__}")
        a = h @ W + layer.b.value.astype(np.float64)
        y = layer.activation.forward(a)
        d = layer.activation.derivative(a, y)                       # (B, n_l)
        J = d[:, :, None] * np.einsum("ij,bik->bjk", W, J)          # (B, n_l, D)
        h = y
    return J


def jacobian_frobenius_norm(encoder, X):
    """||d code / d x||_F per example, float64 (B,)."""
    J = encoder_jacobian(encoder, X)
    return np.sqrt(np.einsum("bjk,bjk->b", J, J))
