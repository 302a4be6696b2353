"""Plots for autoencoders. Each function takes ax= (or builds its own figure), returns the
Figure or Axes, imports pyplot lazily and never calls plt.show(). Save with fig.savefig(path)."""
from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np

from ..core.checks import check_positive_int
from ..core.random import as_generator


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


#: record names in words, for legends and axis labels; a record "val_<name>" is
#: "validation <words>" and any other record "training <words>" (record_label)
RECORD_WORDS = {
    "loss": "loss", "neg_elbo": "negative ELBO", "reconstruction": "reconstruction loss",
    "kl": "KL divergence", "kl_sparsity": "KL sparsity penalty", "weight_decay": "weight decay",
    "l1_activity": "L1 activity penalty", "contractive": "contractive penalty",
    "discriminator": "discriminator loss", "generator": "generator loss",
    "cross_entropy": "cross-entropy", "accuracy": "accuracy", "grad_norm": "largest |gradient|",
    "step_length": "step length", "evaluations": "loss evaluations"}


def _record_words(name):
    """The words of a record name without its "val_" prefix: RECORD_WORDS, a repeated penalty
    "kl_sparsity_2" as "KL sparsity penalty 2", anything else with spaces for underscores."""
    if name in RECORD_WORDS:
        return RECORD_WORDS[name]
    stem, _, number = name.rpartition("_")
    if number.isdigit() and stem in RECORD_WORDS:
        return f"{RECORD_WORDS[stem]} {number}"
    return name.replace("_", " ")


def record_label(key):
    """A History record's name in words: "loss" -> "training loss", "val_loss" -> "validation
    loss", "val_neg_elbo" -> "validation negative ELBO", "kl" -> "training KL divergence"."""
    if not isinstance(key, str):
        raise TypeError(f"key must be a record name (str), got {type(key).__name__}")
    if key.startswith("val_"):
        return f"validation {_record_words(key[4:])}"
    return f"training {_record_words(key)}"


def _history_keys(history, keys):
    """The records to plot, checked: every one of `keys` (default: all) is in the history."""
    if not (hasattr(history, "keys") and hasattr(history, "__getitem__")):
        raise TypeError(f"history must be a History (or a dict of lists), got "
                        f"{type(history).__name__}")
    available = list(history.keys())
    if isinstance(keys, str):
        raise TypeError(f"keys must be a list of record names, got the string {keys!r} "
                        f"(write [{keys!r}])")
    keys = available if keys is None else list(keys)
    if not keys:
        raise ValueError(f"keys must name at least one record; the history has {available}")
    missing = [k for k in keys if k not in available]
    if missing:
        raise ValueError(f"keys: the history has no record {missing[0]!r}; it has {available}")
    return keys


def _history_labels(keys, labels):
    """One legend label per key: labels is None (record_label), a dict {key: label} (the keys
    it leaves out get record_label) or a sequence with one label per key."""
    if labels is None:
        return [record_label(k) for k in keys]
    if isinstance(labels, dict):
        extra = [k for k in labels if k not in keys]
        if extra:
            raise ValueError(f"labels names {extra[0]!r}, which is not among the plotted keys "
                             f"{keys}")
        out = [labels.get(k, record_label(k)) for k in keys]
    elif isinstance(labels, (list, tuple)):
        if len(labels) != len(keys):
            raise ValueError(f"labels must have one entry per key ({len(keys)}: {keys}), "
                             f"got {len(labels)}")
        out = list(labels)
    else:
        raise TypeError(f"labels must be None, a dict {{key: label}} or a list of labels, got "
                        f"{type(labels).__name__}")
    bad = [v for v in out if not isinstance(v, str)]
    if bad:
        raise TypeError(f"labels must be strings, got {bad[0]!r}")
    return out


def plot_history(history, keys=None, *, labels=None, ylabel=None, xlabel=None, ax=None,
                 log=False, title=None):
    """Loss curves from a History: every record (or the given keys) against the epoch.

    keys     the records to draw (default: all of them); a ValueError names one it lacks
    labels   legend entries: None turns each key into words (record_label: "loss" ->
             "training loss", "val_loss" -> "validation loss", "val_kl" -> "validation KL
             divergence"), or a dict {key: label} (other keys keep their words), or a list with
             one label per key
    ylabel   the y axis, best with the loss's name and unit, e.g. "binary cross-entropy per
             pixel (nats)"; default: the records' common words ("loss"), or "loss terms"
    xlabel   default "epoch" ("iteration" for a minimize() History: one record per iteration)
    title    default: the words of the records' quantities, e.g. "loss" or "reconstruction
             loss and KL divergence"
    A training record is a solid line, its validation record ("val_" + the same name) a dashed
    line of the same colour.
    """
    plt = _plt()
    keys = _history_keys(history, keys)
    legend = _history_labels(keys, labels)
    for name, value in (("ylabel", ylabel), ("xlabel", xlabel), ("title", title)):
        if value is not None and not isinstance(value, str):
            raise TypeError(f"{name} must be a string or None, got {type(value).__name__}")
    bases = list(dict.fromkeys(k[4:] if k.startswith("val_") else k for k in keys))
    words = [_record_words(b) for b in bases]
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    for k, label in zip(keys, legend):
        values = history[k]
        validation = k.startswith("val_")
        colour = f"C{bases.index(k[4:] if validation else k) % 10}"
        ax.plot(np.arange(1, len(values) + 1), values, label=label, color=colour,
                linestyle="--" if validation else "-")
    ax.set_xlabel(xlabel or ("iteration" if getattr(history, "method", None) else "epoch"))
    ax.set_ylabel(ylabel or (words[0] if len(words) == 1 else "loss terms"))
    if log:
        ax.set_yscale("log")
    ax.set_title(title if title is not None else
                 words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1])
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return ax


def _check_labels_for(codes, labels, name="labels"):
    """labels: None or one finite number per code (N,) (booleans count as 0 and 1)."""
    if labels is None:
        return None
    labels = np.asarray(labels)
    if labels.dtype == bool:
        labels = labels.astype(np.int64)
    if labels.shape != (len(codes),) or not np.issubdtype(labels.dtype, np.number) \
            or not np.all(np.isfinite(labels)):
        raise ValueError(f"{name} must be {len(codes)} finite numbers (one per code), got "
                         f"{labels.dtype} array of shape {labels.shape}")
    return labels


def _scatter_by_label(ax, codes, labels, label_name, **kw):
    """Scatter codes (first two dims) coloured by labels with a colour bar titled label_name.

    Up to 10 distinct integer labels (classes) get one tab10 colour each and a colour bar with
    one block per class, its tick at the block's centre; other labels a continuous viridis
    bar. Returns (the PathCollection, a few of the colours used, for a legend entry)."""
    values = np.unique(labels)
    if len(values) <= 10 and np.all(values == np.round(values)):
        from matplotlib.colors import BoundaryNorm, ListedColormap
        cmap = ListedColormap([f"C{i}" for i in range(len(values))])
        index = np.searchsorted(values, labels)
        norm = BoundaryNorm(np.arange(len(values) + 1) - 0.5, len(values))
        sc = ax.scatter(codes[:, 0], codes[:, 1], c=index, cmap=cmap, norm=norm, **kw)
        bar = ax.figure.colorbar(sc, ax=ax, ticks=np.arange(len(values)))
        bar.ax.set_yticklabels([f"{v:g}" for v in values])
        bar.set_label(label_name)
        return sc, [cmap(i) for i in range(min(len(values), 5))]
    sc = ax.scatter(codes[:, 0], codes[:, 1], c=labels, cmap="viridis", **kw)
    ax.figure.colorbar(sc, ax=ax, label=label_name)
    return sc, [sc.cmap(t) for t in (0.1, 0.5, 0.9)]


def plot_latent(codes, labels=None, *, ax=None, title="latent codes", label_name="label"):
    """Scatter of 2-D codes (first two dimensions), coloured by label.

    labels       None or (N,) numbers; up to 10 classes get one colour each and a colour bar
                 with one block per class (its tick at the block's centre)
    label_name   the colour bar's title, e.g. "digit"
    """
    plt = _plt()
    codes = np.asarray(codes)
    if codes.ndim != 2 or codes.shape[1] < 2:
        raise ValueError(f"codes must be (N, >=2), got shape {codes.shape}")
    labels = _check_labels_for(codes, labels)
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 5))
    if labels is None:
        ax.scatter(codes[:, 0], codes[:, 1], s=6, alpha=0.8, color="C0")
    else:
        _scatter_by_label(ax, codes, labels, label_name, s=6, alpha=0.8)
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
                          title="codes over prior samples", label_name="label"):
    """Prior samples (light grey) under the codes (first two dimensions, coloured by label).

    labels       None (codes in one colour) or (N,) numbers, shown by a colour bar titled
                 label_name (e.g. "digit"; up to 10 classes: one colour block per class)
    The legend has two entries: "prior samples" (a grey dot) and the codes, drawn as a row of
    the class colours and labelled "codes (coloured by <label_name>)" when labels are given.
    """
    plt = _plt()
    from matplotlib.legend_handler import HandlerTuple
    from matplotlib.lines import Line2D
    codes, prior_samples = np.asarray(codes), np.asarray(prior_samples)
    for name, a in (("codes", codes), ("prior_samples", prior_samples)):
        if a.ndim != 2 or a.shape[1] < 2:
            raise ValueError(f"{name} must be (N, >=2), got shape {a.shape}")
    labels = _check_labels_for(codes, labels)
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 5))
    ax.scatter(prior_samples[:, 0], prior_samples[:, 1], s=4, c="0.78")
    dot = dict(marker="o", linestyle="", markersize=4)
    prior_handle = Line2D([], [], color="0.78", **dot)
    if labels is None:
        ax.scatter(codes[:, 0], codes[:, 1], s=6, alpha=0.8, color="C0")
        handles = [prior_handle, Line2D([], [], color="C0", **dot)]
        texts = ["prior samples", "codes"]
    else:
        _, colours = _scatter_by_label(ax, codes, labels, label_name, s=6, alpha=0.8)
        handles = [prior_handle, tuple(Line2D([], [], color=c, **dot) for c in colours)]
        texts = ["prior samples", f"codes (coloured by {label_name})"]
    ax.set_xlabel("z1")
    ax.set_ylabel("z2")
    ax.set_aspect("equal", adjustable="datalim")
    ax.legend(handles, texts, handler_map={tuple: HandlerTuple(ndivide=None, pad=0.2)},
              handlelength=3.5, fontsize=8, loc="best", framealpha=0.9)
    ax.set_title(title)
    return ax


# ---- code activations, decoders ------------------------------------------------------------

def plot_activation_histogram(codes, *, ax=None, bins=40, per_unit=False, rho=None, log=True,
                              title=None):
    """Histogram of code activations: how sparse a code is.

    codes     (N, k) activations of the code layer
    per_unit  histogram of each unit's mean activation over the N examples (the rho_hat of the
              KL sparsity penalty) instead of every single activation
    rho       draw the target activation as a vertical line
    The legend reports the fraction of activations within 1e-2 of zero (exactly 0 for top-k
    and relu codes) and the mean activation.
    """
    plt = _plt()
    codes = np.asarray(codes, dtype=np.float64)
    if codes.ndim != 2:
        raise ValueError(f"codes must be 2-D (N, code units), got shape {codes.shape}")
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    values = codes.mean(axis=0) if per_unit else codes.ravel()
    near_zero = float(np.mean(np.abs(codes) < 1e-2))
    ax.hist(values, bins=bins, color="#4c72b0", alpha=0.85,
            label=f"{'mean per unit' if per_unit else 'all activations'}\n"
                  f"near zero: {near_zero:.0%}, mean {codes.mean():.3g}")
    if rho is not None:
        ax.axvline(float(rho), color="#c44e52", linestyle="--", label=f"target rho = {float(rho):g}")
    if log and not per_unit:
        ax.set_yscale("log")
    ax.set_xlabel("mean activation of a unit" if per_unit else "activation")
    ax.set_ylabel("units" if per_unit else "count")
    ax.set_title(title or ("code units' mean activation" if per_unit else "code activations"))
    ax.legend(fontsize=8)
    return ax


def _decode_images(decode, Z, name="decode"):
    if not callable(decode):
        raise TypeError(f"{name} must be a function mapping codes (N, k) to images (N, D), "
                        f"got {type(decode).__name__}")
    images = np.asarray(decode(Z), dtype=np.float64)
    if images.ndim != 2 or len(images) != len(Z):
        raise ValueError(f"{name} must return (N, D) images for N = {len(Z)} codes, "
                         f"got shape {images.shape}")
    return images


def plot_manifold(decode, *, n=15, extent=2.5, dims=(0, 1), code_dim=2, image_shape=None,
                  ax=None, title="decoded latent grid"):
    """The learned manifold: decode an n x n grid of codes and tile the images (Kingma & Welling).

    decode      function (N, code_dim) codes -> (N, D) images in [0, 1], e.g. vae.decode
    extent      the grid spans [-extent, extent] in the two plotted latent dimensions (dims);
                the other dimensions stay at 0 (the prior's mean)
    Rows run from high z[dims[1]] (top) to low, columns from low z[dims[0]] to high.
    """
    plt = _plt()
    if code_dim < 2 or not all(0 <= d < code_dim for d in dims) or dims[0] == dims[1]:
        raise ValueError(f"dims must be two different latent dimensions < code_dim={code_dim}, "
                         f"got {dims}")
    grid = np.linspace(-float(extent), float(extent), int(n))
    Z = np.zeros((n * n, code_dim))
    rows, cols = np.meshgrid(grid[::-1], grid, indexing="ij")
    Z[:, dims[0]] = cols.ravel()
    Z[:, dims[1]] = rows.ravel()
    images = _decode_images(decode, Z)
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 7))
    ax.imshow(tile_images(images, image_shape, n_cols=n, normalize="none"), cmap="gray",
              vmin=0, vmax=1, interpolation="nearest")
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel(f"z{dims[0] + 1}: {-extent:g} .. {extent:g}")
    ax.set_ylabel(f"z{dims[1] + 1}: {extent:g} .. {-extent:g}")
    return ax


def plot_samples(decode, code_dim, *, n=64, rng=None, image_shape=None, n_cols=None, ax=None,
                 title="samples from the prior"):
    """A grid of decode(z) for z ~ N(0, I) (code_dim dimensions): a generative model's samples."""
    code_dim = check_positive_int(code_dim, "code_dim")
    n = check_positive_int(n, "n")
    Z = as_generator(rng).standard_normal((n, code_dim))
    return plot_images(_decode_images(decode, Z), image_shape=image_shape, n_cols=n_cols, ax=ax,
                       title=title)


def interpolate(z_start, z_end, n_steps=10, method="linear"):
    """Codes on the path from z_start to z_end, (n_steps, k) per pair.

    linear  z(s) = (1 - s) z0 + s z1
    slerp   along the great circle (keeps the norm of Gaussian codes typical: the midpoint of a
            straight line between two N(0, I) draws is unusually close to the origin)
    z_start, z_end: (k,) or (R, k) for R rows; returns (n_steps, k) or (R, n_steps, k).
    """
    z0, z1 = np.asarray(z_start, dtype=np.float64), np.asarray(z_end, dtype=np.float64)
    if z0.shape != z1.shape or z0.ndim not in (1, 2):
        raise ValueError(f"z_start and z_end must both be (k,) or (R, k), got {z0.shape} and {z1.shape}")
    if method not in ("linear", "slerp"):
        raise ValueError(f"method must be 'linear' or 'slerp', got {method!r}")
    single = z0.ndim == 1
    z0, z1 = np.atleast_2d(z0), np.atleast_2d(z1)
    s = np.linspace(0.0, 1.0, int(n_steps))[None, :, None]          # (1, S, 1)
    if method == "linear":
        path = (1 - s) * z0[:, None, :] + s * z1[:, None, :]
    else:
        n0 = np.linalg.norm(z0, axis=1, keepdims=True)
        n1 = np.linalg.norm(z1, axis=1, keepdims=True)
        cos = np.sum(z0 * z1, axis=1, keepdims=True) / np.maximum(n0 * n1, 1e-12)
        omega = np.arccos(np.clip(cos, -1.0, 1.0))[:, None, :]       # (R, 1, 1)
        so = np.sin(omega)
        small = so < 1e-6                                             # parallel: fall back to linear
        w0 = np.where(small, 1 - s, np.sin((1 - s) * omega) / np.where(small, 1, so))
        w1 = np.where(small, s, np.sin(s * omega) / np.where(small, 1, so))
        path = w0 * z0[:, None, :] + w1 * z1[:, None, :]
    return path[0] if single else path


def plot_interpolation(decode, z_start=None, z_end=None, *, n_steps=10, method="linear",
                       image_shape=None, ax=None, title=None):
    """Interpolation strips, one row per pair of end points.

    Either  plot_interpolation(decode, z_start, z_end)   decode the codes between the ends:
                decode          function (N, k) -> (N, D) images in [0, 1]
                z_start, z_end  (k,) for one strip or (R, k) for R strips (e.g. encoder means)
                method          "linear" or "slerp" (see interpolate)
    or      plot_interpolation(images)   images already decoded: (n, D) one strip, (R, n, D) R strips
            (e.g. vae.interpolate(x_a, x_b, n)).
    """
    plt = _plt()
    if callable(decode):
        if z_start is None or z_end is None:
            raise TypeError("plot_interpolation(decode, z_start, z_end) needs both end points")
        path = interpolate(z_start, z_end, n_steps, method)
        path = path[None] if path.ndim == 2 else path
        R, S, k = path.shape
        images = _decode_images(decode, path.reshape(R * S, k))
        default_title = f"latent interpolation ({method})"
    else:
        images = np.asarray(decode, dtype=np.float64)
        if images.ndim == 2:
            images = images[None]
        if images.ndim != 3:
            raise ValueError(f"images must be (n, features) or (rows, n, features), "
                             f"got shape {images.shape}")
        R, S, _ = images.shape
        images = images.reshape(R * S, -1)
        default_title = "latent interpolation"
    if ax is None:
        _, ax = plt.subplots(figsize=(1.0 * S, 1.0 * R + 0.5))
    ax.imshow(tile_images(images, image_shape, n_cols=S, normalize="none"), cmap="gray",
              vmin=0, vmax=1, interpolation="nearest")
    ax.axis("off")
    ax.set_title(default_title if title is None else title)
    return ax


def plot_stage_histories(histories, *, keys=("loss", "val_loss"), ylabels=None, fig=None):
    """One panel per stage ("stage 1", ..., "fine-tune"): its loss curves. Returns the Figure.

    histories: the dict pretrain_and_finetune returns (or a list of History objects). Stages
    have different losses (BCE on pixels, MSE on codes), hence separate panels.
    ylabels: None ("loss"), or a dict {stage name: y-axis label} naming each stage's loss and
    unit, e.g. {"stage 1": "binary cross-entropy per pixel (nats)", "stage 2": "squared
    error per code unit"}.
    """
    plt = _plt()
    items = list(histories.items()) if isinstance(histories, dict) else \
        [(f"stage {i + 1}", h) for i, h in enumerate(histories)]
    if not items:
        raise ValueError("histories must hold at least one History, got none")
    ylabels = {} if ylabels is None else ylabels
    if not isinstance(ylabels, dict):
        raise TypeError(f"ylabels must be a dict {{stage name: label}} or None, got "
                        f"{type(ylabels).__name__}")
    unknown = [k for k in ylabels if k not in dict(items)]
    if unknown:
        raise ValueError(f"ylabels names the stage {unknown[0]!r}; the stages are "
                         f"{[name for name, _ in items]}")
    if fig is None:
        fig = plt.figure(figsize=(3.6 * len(items), 3.2))
    axes = np.atleast_1d(fig.subplots(1, len(items)))
    for ax, (name, history) in zip(axes, items):
        plot_history(history, [k for k in keys if k in history] or None, ax=ax, title=name,
                     ylabel=ylabels.get(name))
    fig.tight_layout()
    return fig
