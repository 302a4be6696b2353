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
