"""Plots for autoencoders. Each function takes ax= (or builds its own figure), returns the
Figure or Axes, imports pyplot lazily and never calls plt.show(). Save with fig.savefig(path)."""
from __future__ import annotations

import math

import numpy as np


def _plt():
    import matplotlib.pyplot as plt
    return plt


def _image_shape(n_features, image_shape):
    if image_shape is not None:
        if int(np.prod(image_shape)) != n_features:
            raise ValueError(f"image_shape {tuple(image_shape)} does not hold {n_features} features")
        return tuple(image_shape)
    side = int(math.isqrt(n_features))
    if side * side != n_features:
        raise ValueError(f"pass image_shape: {n_features} features are not a square image")
    return side, side


def tile_images(images, image_shape=None, n_cols=None, pad=1, normalize="each"):
    """Arrange rows of `images` (N, D) into one 2-D mosaic array with padding.

    normalize: "each" scales every tile to [0, 1] by its own max |value| (filters, as UFLDL's
    display_network), "none" leaves values alone (images already in [0, 1]).
    """
    images = np.asarray(images, dtype=np.float64)
    if images.ndim != 2:
        raise ValueError(f"images must be 2-D (N, features), got shape {images.shape}")
    h, w = _image_shape(images.shape[1], image_shape)
    n = len(images)
    n_cols = n_cols or int(math.ceil(math.sqrt(n)))
    n_rows = int(math.ceil(n / n_cols))
    fill = 0.5 if normalize == "each" else 0.0
    mosaic = np.full((n_rows * (h + pad) + pad, n_cols * (w + pad) + pad), fill)
    for k, img in enumerate(images):
        tile = img.reshape(h, w)
        if normalize == "each":
            m = np.max(np.abs(tile)) or 1.0
            tile = 0.5 + 0.5 * tile / m
        r, c = divmod(k, n_cols)
        mosaic[pad + r * (h + pad):pad + r * (h + pad) + h, pad + c * (w + pad):pad + c * (w + pad) + w] = tile
    return mosaic


def plot_filters(W, image_shape=None, *, n_cols=None, ax=None, title="filters"):
    """Filter grid: each column of W (n_in, n_out) shown as an image tile (first-layer weights)."""
    plt = _plt()
    W = np.asarray(W)
    if W.ndim != 2:
        raise ValueError(f"W must be a 2-D weight matrix (n_in, n_out), got shape {W.shape}")
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 6))
    ax.imshow(tile_images(W.T, image_shape, n_cols), cmap="gray", vmin=0, vmax=1,
              interpolation="nearest")
    ax.set_title(title)
    ax.axis("off")
    return ax


def plot_reconstructions(originals, reconstructions, corrupted=None, *, image_shape=None, n=10,
                         title="reconstructions"):
    """Rows: originals, (corrupted inputs,) reconstructions; n columns. Returns the Figure."""
    plt = _plt()
    rows = [("original", originals)]
    if corrupted is not None:
        rows.append(("corrupted", corrupted))
    rows.append(("reconstructed", reconstructions))
    n = min(n, len(originals))
    shape = _image_shape(np.asarray(originals).shape[1], image_shape)
    fig, axes = plt.subplots(len(rows), n, figsize=(1.1 * n, 1.2 * len(rows) + 0.4), squeeze=False)
    for r, (label, data) in enumerate(rows):
        for c in range(n):
            ax = axes[r, c]
            ax.imshow(np.asarray(data[c]).reshape(shape), cmap="gray", vmin=0, vmax=1,
                      interpolation="nearest")
            ax.set_xticks([]), ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(label, fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_history(history, keys=None, *, ax=None, log=False, title="loss"):
    """Loss curves from a History: every record (or the given keys) against the epoch."""
    plt = _plt()
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    keys = list(keys or history.keys())
    for k in keys:
        values = history[k]
        ax.plot(np.arange(1, len(values) + 1), values, label=k,
                linestyle="--" if k.startswith("val_") else "-")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    if log:
        ax.set_yscale("log")
    ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return ax


def plot_latent(codes, labels=None, *, ax=None, title="latent codes"):
    """Scatter of 2-D codes (first two dimensions), colored by label."""
    plt = _plt()
    codes = np.asarray(codes)
    if codes.ndim != 2 or codes.shape[1] < 2:
        raise ValueError(f"codes must be (N, >=2), got shape {codes.shape}")
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 5))
    sc = ax.scatter(codes[:, 0], codes[:, 1], c=labels, cmap="tab10", s=6, alpha=0.8)
    if labels is not None:
        ax.figure.colorbar(sc, ax=ax, label="label")
    ax.set_xlabel("z1")
    ax.set_ylabel("z2")
    ax.set_title(title)
    return ax


def plot_images(images, *, image_shape=None, n_cols=None, ax=None, title=None):
    """A grid of images in [0, 1] (samples from a generative model, for example)."""
    plt = _plt()
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 6))
    ax.imshow(tile_images(images, image_shape, n_cols, normalize="none"), cmap="gray",
              vmin=0, vmax=1, interpolation="nearest")
    ax.axis("off")
    if title:
        ax.set_title(title)
    return ax


# ---- generative models (VAE, CVAE, AAE) ---------------------------------------------------

def plot_latent_manifold(decode, *, n=15, extent=None, image_shape=None, ax=None,
                         title="decoded latent grid"):
    """Decode an n x n grid of 2-D latent points and show the images where they lie.

    decode   callable (N, 2) -> (N, D) with values in [0, 1], e.g. vae.decode
    extent   None: the grid sits at the quantiles 1/(n+1) ... n/(n+1) of N(0, 1) in each
             dimension (so equal areas of prior mass, as in Kingma & Welling's figure);
             or (lo, hi): an evenly spaced grid on [lo, hi]^2
    Rows go from high z2 (top) to low z2 (bottom), columns from low z1 to high z1.
    """
    from statistics import NormalDist
    plt = _plt()
    if extent is None:
        q = np.array([NormalDist().inv_cdf((i + 1) / (n + 1)) for i in range(n)])
    else:
        q = np.linspace(float(extent[0]), float(extent[1]), n)
    z1, z2 = np.meshgrid(q, q[::-1])
    Z = np.stack([z1.ravel(), z2.ravel()], axis=1).astype(np.float32)
    images = np.asarray(decode(Z))
    if images.ndim != 2 or len(images) != n * n:
        raise ValueError(f"decode must map ({n * n}, 2) to ({n * n}, features), got {images.shape}")
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 7))
    ax.imshow(tile_images(images, image_shape, n_cols=n, normalize="none"), cmap="gray",
              vmin=0, vmax=1, interpolation="nearest")
    ax.set_xticks([]), ax.set_yticks([])
    ax.set_xlabel(f"z1 from {q[0]:.2f} to {q[-1]:.2f}")
    ax.set_ylabel(f"z2 from {q[-1]:.2f} (top) to {q[0]:.2f}")
    ax.set_title(title)
    return ax


def plot_image_rows(rows, *, row_labels=None, image_shape=None, ax=None, title=None):
    """One row of images per entry of rows (R, C, D) (e.g. CVAE samples, one row per class;
    an interpolation strip is rows=images[None]).
    row_labels (R,) are written at the left of each row."""
    plt = _plt()
    rows = np.asarray(rows)
    if rows.ndim != 3:
        raise ValueError(f"rows must be (n_rows, n_cols, features), got shape {rows.shape}")
    R, C, D = rows.shape
    h, _ = _image_shape(D, image_shape)
    if ax is None:
        _, ax = plt.subplots(figsize=(0.6 * C + 0.8, 0.6 * R + 0.6))
    ax.imshow(tile_images(rows.reshape(R * C, D), image_shape, n_cols=C, normalize="none"),
              cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_xticks([])
    if row_labels is not None:
        if len(row_labels) != R:
            raise ValueError(f"row_labels must have {R} entries, got {len(row_labels)}")
        ax.set_yticks([1 + r * (h + 1) + (h - 1) / 2 for r in range(R)])
        ax.set_yticklabels([str(v) for v in row_labels])
    else:
        ax.set_yticks([])
    if title:
        ax.set_title(title)
    return ax


def plot_codes_over_prior(codes, prior_samples, labels=None, *, ax=None,
                          title="codes over prior samples"):
    """Prior samples (grey) under the codes (first two dimensions, colored by label)."""
    plt = _plt()
    codes, prior_samples = np.asarray(codes), np.asarray(prior_samples)
    for name, a in (("codes", codes), ("prior_samples", prior_samples)):
        if a.ndim != 2 or a.shape[1] < 2:
            raise ValueError(f"{name} must be (N, >=2), got shape {a.shape}")
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 5))
    ax.scatter(prior_samples[:, 0], prior_samples[:, 1], s=4, c="0.75", label="prior samples")
    sc = ax.scatter(codes[:, 0], codes[:, 1], c=labels, cmap="tab10" if labels is not None else None,
                    s=6, alpha=0.8, label="codes")
    if labels is not None:
        ax.figure.colorbar(sc, ax=ax, label="label")
    ax.set_xlabel("z1")
    ax.set_ylabel("z2")
    ax.set_aspect("equal", adjustable="datalim")
    ax.legend(fontsize=8, loc="upper right")
    ax.set_title(title)
    return ax
