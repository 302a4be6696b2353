"""Measurements of trained autoencoders used by the regularized-autoencoder results.

    localization_score(W)        how concentrated each filter's energy is in a small window
    orientation_selectivity(W)   how concentrated each filter's spectral energy is in one
                                 orientation band
    beats_random(scores, random) the share of filters scoring above a percentile of random ones
    encoder_jacobian(layers, X)  per-example Jacobian d code / d input of a stack of Dense layers
    jacobian_frobenius_norm(...) its Frobenius norm per example
    mmd2(X, Y)                   unbiased squared maximum mean discrepancy of two samples
    prior_distance(codes, prior) how close codes are to a prior: MMD^2, mean and covariance gaps
"""
from __future__ import annotations

import math

import numpy as np

from ..nn.layers import Dense, TiedDense
from ..core.checks import check_array, check_positive_int
from ..core.random import as_generator


def _filter_images(W, image_shape):
    """W (D, n) checked, as float64 images (n, h, w) with each filter's mean removed, and (h, w).
    image_shape None means a square image of D pixels."""
    W = check_array(W, "W", ndim=2).astype(np.float64)
    D, n = W.shape
    if image_shape is None:
        side = math.isqrt(D)
        if side * side != D:
            raise ValueError(f"pass image_shape: W's {D} rows (inputs) are not a square image")
        image_shape = (side, side)
    if (isinstance(image_shape, (str, bytes)) or not hasattr(image_shape, "__len__")
            or len(image_shape) != 2):
        raise TypeError(f"image_shape must be a pair (height, width), got {image_shape!r}")
    h, w = (check_positive_int(s, "image_shape[i]") for s in image_shape)
    if h * w != D:
        raise ValueError(f"image_shape {tuple(image_shape)} does not hold W's {D} rows (inputs)")
    return (W - W.mean(axis=0)).T.reshape(n, h, w), (h, w)


def localization_score(W, image_shape=None, *, window=3):
    """Per filter (column of W (D, n)), the largest fraction of its energy inside any
    window x window square of the image:

        w' = w - mean(w)            (the DC part only shifts the response: patches have fixed mean)
        score = max over positions of  sum_{window} w'^2 / sum w'^2         in [window^2/D, 1]

    A localized edge detector puts most of its energy in a few neighbouring pixels (high score);
    a spread-out pattern does not (for 8x8 i.i.d. Gaussian random filters the mean is about 0.3
    with window 3, 0.4 with window 4). A filter of zero energy scores 0.
    Returns float64 (n,).
    """
    F, (h, w) = _filter_images(W, image_shape)
    n = len(F)
    window = check_positive_int(window, "window")
    if window > min(h, w):
        raise ValueError(f"window must be <= the image's smaller side {min(h, w)}, got {window}")
    E = F ** 2
    total = E.sum(axis=(1, 2))
    # window sums by a 2-D cumulative sum (summed-area table)
    S = np.zeros((n, h + 1, w + 1))
    S[:, 1:, 1:] = E.cumsum(axis=1).cumsum(axis=2)
    k = window
    box = S[:, k:, k:] - S[:, :-k, k:] - S[:, k:, :-k] + S[:, :-k, :-k]
    best = box.reshape(n, -1).max(axis=1)
    return np.where(total > 0, best / np.where(total > 0, total, 1), 0.0)


#: orientation_selectivity tries every candidate band centre on this grid (degrees)
ORIENTATION_STEP = 1.0


def orientation_selectivity(W, image_shape=None, *, bandwidth=30.0, pad=2, return_angle=False):
    """Per filter (column of W (D, n)), the largest share of its spectral energy inside one
    orientation band of the 2-D power spectrum, DC excluded:

        w' = w - mean(w), an h x w image, zero-padded to (pad h) x (pad w)
        P(f) = |FFT(w')(f)|^2                     f = (f_x, f_y) in cycles/pixel, f != 0
        theta(f) = atan2(f_y, f_x) mod 180 deg    (P(f) = P(-f) for a real filter: an
                                                   orientation, not a direction)
        E(phi) = sum of P(f) over the f with |theta(f) - phi| <= bandwidth / 2  (mod 180 deg)
        score  = max over phi of E(phi) / sum_{f != 0} P(f)                  in [0, 1]

    phi runs over 0, 1, ..., 179 degrees (ORIENTATION_STEP). An oriented edge or grating puts
    its energy on a line through the origin of the spectrum, across the stripes, so one band
    holds most of it (an 8x8 Gabor filter of wavelength 4 px and envelope sigma 1.5 px scores
    ~0.65: its small envelope widens its spectrum); a pattern without orientation spreads it
    over all bands (i.i.d. Gaussian 8x8 filters: mean ~0.29, 95th percentile ~0.36 with the
    default 30-degree band, against 30/180 = 0.17 for a perfectly even spread). Zero-padding
    (pad > 1) samples the spectrum more finely, so the band's edges cut fewer whole frequency
    bins. A filter of zero energy scores 0.

    Returns float64 (n,), or with return_angle=True also the best phi in degrees (n,): the
    direction of the frequency vector, i.e. ACROSS the stripes or edge, measured from the
    x axis (columns, rightwards) towards the y axis (rows, downwards).
    """
    F, (h, w) = _filter_images(W, image_shape)
    n = len(F)
    if isinstance(bandwidth, bool) or not isinstance(bandwidth, (int, float, np.integer,
                                                                 np.floating)):
        raise TypeError(f"bandwidth must be a number of degrees in (0, 180), got "
                        f"{type(bandwidth).__name__} {bandwidth!r}")
    if not 0 < bandwidth < 180:
        raise ValueError(f"bandwidth must be a number of degrees in (0, 180), got {bandwidth}")
    pad = check_positive_int(pad, "pad")
    if not isinstance(return_angle, (bool, np.bool_)):
        raise TypeError(f"return_angle must be True or False, got {return_angle!r}")
    H, Wd = pad * h, pad * w
    P = (np.abs(np.fft.fft2(F, s=(H, Wd))) ** 2).reshape(n, -1)
    fy = np.fft.fftfreq(H)[:, None]
    fx = np.fft.fftfreq(Wd)[None, :]
    theta = (np.degrees(np.arctan2(np.broadcast_to(fy, (H, Wd)), fx)) % 180.0).reshape(-1)
    nondc = np.ones(H * Wd, dtype=bool)
    nondc[0] = False                                    # f = (0, 0) is the first bin
    phis = np.arange(0.0, 180.0, ORIENTATION_STEP)
    dist = np.abs((theta[None, :] - phis[:, None] + 90.0) % 180.0 - 90.0)   # (n_phi, bins)
    band = ((dist <= bandwidth / 2) & nondc[None, :]).astype(np.float64)
    E = P @ band.T                                                          # (n, n_phi)
    total = P[:, nondc].sum(axis=1)
    best = E.argmax(axis=1)
    score = np.where(total > 0, E[np.arange(n), best] / np.where(total > 0, total, 1), 0.0)
    return (score, phis[best]) if return_angle else score


def beats_random(scores, random_scores, *, percentile=95.0):
    """The share of `scores` strictly above the given percentile of `random_scores`:

        share = mean_i [ scores_i > percentile_q(random_scores) ]       in [0, 1]

    For example the share of learned filters more localized than 95% of random filters.
    Returns (share, threshold) as floats.
    """
    scores = check_array(scores, "scores", ndim=1, dtype=np.float64)
    random_scores = check_array(random_scores, "random_scores", ndim=1, dtype=np.float64)
    if isinstance(percentile, bool) or not isinstance(percentile, (int, float, np.integer,
                                                                   np.floating)):
        raise TypeError(f"percentile must be a number in [0, 100], got "
                        f"{type(percentile).__name__} {percentile!r}")
    if not 0 <= percentile <= 100:
        raise ValueError(f"percentile must be a number in [0, 100], got {percentile}")
    threshold = float(np.percentile(random_scores, percentile))
    return float(np.mean(scores > threshold)), threshold


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
        y = layer.activation(a)
        d = layer.activation.derivative(a, y)                       # (B, n_l)
        J = d[:, :, None] * np.einsum("ij,bik->bjk", W, J)          # (B, n_l, D)
        h = y
    return J


def jacobian_frobenius_norm(encoder, X):
    """||d code / d x||_F per example, float64 (B,)."""
    J = encoder_jacobian(encoder, X)
    return np.sqrt(np.einsum("bjk,bjk->b", J, J))


def mmd2(X, Y, scales=(0.5, 1.0, 2.0, 4.0)):
    """Unbiased squared MMD between samples X (n, d) and Y (m, d) with the kernel
    k(a, b) = sum_s exp(-|a - b|^2 / (2 s^2)):
        MMD^2 = mean_{i!=j} k(x_i, x_j) + mean_{i!=j} k(y_i, y_j) - 2 mean_{i,j} k(x_i, y_j)
    Computed in float64 (an evaluation statistic, not a training path)."""
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    if X.ndim != 2 or Y.ndim != 2 or X.shape[1] != Y.shape[1] or len(X) < 2 or len(Y) < 2:
        raise ValueError(f"X and Y must be 2-D samples (>= 2 rows) with the same number of "
                         f"columns, got {X.shape} and {Y.shape}")

    def gram(A, B):
        d2 = (A * A).sum(1)[:, None] + (B * B).sum(1)[None] - 2 * A @ B.T
        np.maximum(d2, 0, out=d2)
        return sum(np.exp(-d2 / (2 * s * s)) for s in scales)

    n, m = len(X), len(Y)
    kxx, kyy, kxy = gram(X, X), gram(Y, Y), gram(X, Y)
    return float((kxx.sum() - np.trace(kxx)) / (n * (n - 1))
                 + (kyy.sum() - np.trace(kyy)) / (m * (m - 1)) - 2 * kxy.mean())


def prior_distance(codes, prior, *, n_prior=None, rng=0, scales=None):
    """How close codes (N, d) are to prior: {"mmd": ..., "mean": ..., "cov": ...} (see module doc).
    The MMD bandwidths default to multiples of the prior's overall scale sqrt(trace(cov) / d)."""
    codes = check_array(codes, "codes", ndim=2, n_features=prior.dim, dtype=np.float64)
    rng = as_generator(rng)
    ref = prior.sample(n_prior or len(codes), rng, dtype=np.float64)
    cov = prior.covariance()
    if scales is None:
        base = math.sqrt(np.trace(cov) / prior.dim)
        scales = tuple(base * f for f in (0.25, 0.5, 1.0, 2.0))
    return {"mmd": mmd2(codes, ref, scales),
            "mean": float(np.linalg.norm(codes.mean(0) - prior.mean())),
            "cov": float(np.linalg.norm(np.cov(codes.T).reshape(prior.dim, prior.dim) - cov))}
