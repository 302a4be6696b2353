"""Plots (numpyae.analysis.plotting): layouts, manifolds, samples, interpolation."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from numpyae import History, mlp_autoencoder, mlp_vae  # noqa: E402
from numpyae.analysis.plotting import (interpolate, plot_activation_histogram, plot_filters,  # noqa: E402
                                       plot_history, plot_images, plot_interpolation, plot_latent,
                                       plot_manifold, plot_reconstructions, plot_samples)


def fake_decode(Z):
    """A 'decoder' whose 8x8 images show where the code is: pixel brightness = sigmoid(z)."""
    Z = np.asarray(Z)
    base = 1 / (1 + np.exp(-Z[:, :1]))
    return np.repeat(base, 64, axis=1) * np.linspace(0.2, 1, 64)


def _image(ax):
    return ax.get_images()[0].get_array()


def test_activation_histogram_counts_every_activation_and_marks_rho():
    codes = np.random.default_rng(0).uniform(0.1, 1, (50, 8))
    codes[:, :4] = 0
    ax = plot_activation_histogram(codes, rho=0.05)
    heights = [p.get_height() for p in ax.patches]
    assert sum(heights) == codes.size
    assert ax.get_lines()[0].get_xdata()[0] == 0.05
    assert "near zero: 50%" in ax.get_legend().get_texts()[0].get_text()
    _, ax2 = plt.subplots()
    assert plot_activation_histogram(codes, per_unit=True, ax=ax2) is ax2
    assert sum(p.get_height() for p in ax2.patches) == 8
    with pytest.raises(ValueError, match="codes must be 2-D"):
        plot_activation_histogram(codes.ravel())


def test_manifold_grid_layout():
    calls = []

    def decode(Z):
        calls.append(Z.copy())
        return fake_decode(Z)

    ax = plot_manifold(decode, n=5, extent=2.0, image_shape=(8, 8))
    Z = calls[0]
    assert Z.shape == (25, 2)
    assert Z[0, 0] == -2.0 and Z[0, 1] == 2.0       # top-left: low z1, high z2
    assert Z[4, 0] == 2.0 and Z[-1, 1] == -2.0
    mosaic = _image(ax)
    assert mosaic.shape == (5 * 9 + 1, 5 * 9 + 1)
    # brightness grows with z1 from left to right
    assert mosaic[5, 1 + 9 * 4 + 7] > mosaic[5, 1 + 7]
    with pytest.raises(ValueError, match="dims must be"):
        plot_manifold(decode, dims=(0, 0))
    with pytest.raises(TypeError, match="decode must be a function"):
        plot_manifold("decoder")


def test_samples_come_from_the_prior():
    seen = []

    def decode(Z):
        seen.append(Z)
        return fake_decode(Z)

    ax = plot_samples(decode, 3, n=16, rng=0)
    assert seen[0].shape == (16, 3)
    assert _image(ax).shape == (4 * 9 + 1, 4 * 9 + 1)
    with pytest.raises(ValueError, match="must return"):
        plot_samples(lambda Z: Z[:1], 2, n=4)


def test_interpolation_paths():
    z0, z1 = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    lin = interpolate(z0, z1, 5)
    np.testing.assert_allclose(lin[0], z0)
    np.testing.assert_allclose(lin[-1], z1)
    np.testing.assert_allclose(lin[2], [0.5, 0.5])
    sl = interpolate(z0, z1, 5, method="slerp")
    np.testing.assert_allclose(np.linalg.norm(sl, axis=1), 1.0)   # stays on the unit circle
    np.testing.assert_allclose(sl[-1], z1, atol=1e-12)
    same = interpolate(z0, 2 * z0, 3, method="slerp")               # parallel: no division by 0
    assert np.all(np.isfinite(same))
    rows = interpolate(np.zeros((3, 2)), np.ones((3, 2)), 4)
    assert rows.shape == (3, 4, 2)
    ax = plot_interpolation(fake_decode, np.zeros((3, 2)), np.ones((3, 2)), n_steps=4)
    assert _image(ax).shape == (3 * 9 + 1, 4 * 9 + 1)
    with pytest.raises(ValueError, match="z_start and z_end"):
        interpolate(np.zeros(2), np.zeros(3))
    with pytest.raises(ValueError, match="method must be"):
        interpolate(z0, z1, method="cubic")


def test_foundation_plots_still_draw():
    model = mlp_autoencoder([64, 9], rng=0)
    X = np.random.default_rng(0).uniform(0, 1, (12, 64)).astype(np.float32)
    assert plot_filters(model.encoder[0].W.value).get_images()
    fig = plot_reconstructions(X, model.reconstruct(X), corrupted=X, n=6)
    assert len(fig.axes) == 18
    h = History()
    h.append({"loss": 1.0, "val_loss": 1.2})
    h.append({"loss": 0.5, "val_loss": 0.7})
    assert len(plot_history(h).get_lines()) == 2
    assert plot_latent(np.random.default_rng(0).standard_normal((10, 2)), np.arange(10) % 3)
    assert plot_images(X[:4], title="x").get_title() == "x"


def test_interpolation_also_takes_decoded_images():
    strip = np.random.default_rng(0).uniform(size=(5, 64))
    ax = plot_interpolation(strip)
    assert ax.get_title() == "latent interpolation"
    assert _image(ax).shape == (10, 5 * 9 + 1)
    rows = np.random.default_rng(0).uniform(size=(2, 5, 64))
    assert _image(plot_interpolation(rows)).shape == (2 * 9 + 1, 5 * 9 + 1)
    with pytest.raises(TypeError, match="both end points"):
        plot_interpolation(fake_decode, np.zeros(2))
    with pytest.raises(ValueError, match="images must be"):
        plot_interpolation(np.zeros(3))


def test_generative_plots():
    from numpyae.analysis.plotting import plot_codes_over_prior, plot_image_rows, plot_latent_manifold
    model = mlp_vae([64, 8, 2], rng=0)
    ax = plot_latent_manifold(model.decode, n=4)
    assert ax.images[0].get_array().shape == (4 * 9 + 1, 4 * 9 + 1)
    ax = plot_latent_manifold(model.decode, n=3, extent=(-2, 2))
    assert "-2.00" in ax.get_xlabel()
    with pytest.raises(ValueError, match="decode"):
        plot_latent_manifold(lambda Z: np.zeros((1, 64)), n=3)
    rows = np.random.default_rng(0).uniform(size=(3, 5, 64))
    ax = plot_image_rows(rows, row_labels=["a", "b", "c"])
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b", "c"]
    with pytest.raises(ValueError, match="row_labels"):
        plot_image_rows(rows, row_labels=[1])
    assert plot_image_rows(rows[:1], title="strip").get_title() == "strip"
    ax = plot_codes_over_prior(rows[0, :, :2], rows[1, :, :2], labels=np.arange(5))
    assert len(ax.collections) == 2


# ---- legends and titles in words, with units -------------------------------------------------

def _history(**records):
    h = History()
    n = len(next(iter(records.values())))
    for i in range(n):
        h.append({k: v[i] for k, v in records.items()})
    return h


def _legend(ax):
    return [t.get_text() for t in ax.get_legend().get_texts()]


def test_loss_curve_legend_is_in_words_not_raw_keys():
    """Reproducer: plot_history(h, ["loss", "val_loss"]) labelled its curves "loss" and "val_loss"
    and its axis "loss" with no unit."""
    h = _history(loss=[1.0, 0.5], val_loss=[1.2, 0.7])
    ax = plot_history(h, ["loss", "val_loss"])
    assert _legend(ax) == ["training loss", "validation loss"]
    assert ax.get_xlabel() == "epoch" and ax.get_ylabel() == "loss" and ax.get_title() == "loss"
    train, val = ax.get_lines()
    assert train.get_linestyle() == "-" and val.get_linestyle() == "--"
    assert train.get_color() == val.get_color()           # one quantity, one colour


def test_loss_curves_take_labels_a_ylabel_with_units_and_a_title():
    h = _history(neg_elbo=[30.0, 25.0], val_neg_elbo=[29.0, 26.0], kl=[1.0, 2.0])
    ax = plot_history(h, ["neg_elbo", "val_neg_elbo", "kl"], ylabel="nats per digit")
    assert _legend(ax) == ["training negative ELBO", "validation negative ELBO",
                           "training KL divergence"]
    assert ax.get_ylabel() == "nats per digit"
    assert ax.get_title() == "negative ELBO and KL divergence"
    ax = plot_history(h, ["neg_elbo", "kl"], labels={"kl": "KL term"}, title="terms",
                      ylabel="binary cross-entropy per pixel (nats)")
    assert _legend(ax) == ["training negative ELBO", "KL term"] and ax.get_title() == "terms"
    assert ax.get_ylabel() == "binary cross-entropy per pixel (nats)"
    ax = plot_history(h, ["neg_elbo", "val_neg_elbo"], labels=["train", "held out"])
    assert _legend(ax) == ["train", "held out"]
    # a record without a word of its own, and a second penalty of one kind
    h2 = _history(loss=[1.0], kl_sparsity_2=[0.1], my_term=[0.2])
    assert _legend(plot_history(h2)) == ["training loss", "training KL sparsity penalty 2",
                                         "training my term"]
    assert plot_history(h2).get_ylabel() == "loss terms"  # several quantities: no one name


def test_record_label_turns_history_keys_into_words():
    from numpyae.analysis.plotting import record_label
    assert record_label("loss") == "training loss"
    assert record_label("val_loss") == "validation loss"
    assert record_label("val_reconstruction") == "validation reconstruction loss"
    assert record_label("discriminator") == "training discriminator loss"
    assert record_label("weight_decay") == "training weight decay"
    with pytest.raises(TypeError, match="key must be a record name"):
        record_label(3)


def test_loss_curves_of_a_minimize_run_count_iterations():
    from numpyae.training.lbfgs import MinimizeHistory
    h = MinimizeHistory()
    h.append({"loss": 1.0})
    h.append({"loss": 0.5})
    assert plot_history(h).get_xlabel() == "iteration"
    assert plot_history(h, xlabel="L-BFGS iteration").get_xlabel() == "L-BFGS iteration"


def test_plot_history_refuses_bad_arguments_before_drawing():
    h = _history(loss=[1.0, 0.5], val_loss=[1.2, 0.7])
    before = plt.get_fignums()
    cases = [
        (dict(keys=["loss", "val_los"]), ValueError, "no record 'val_los'; it has"),
        (dict(keys=[]), ValueError, "at least one record"),
        (dict(keys="loss"), TypeError, r"write \['loss'\]"),
        (dict(labels={"kl": "x"}), ValueError, "labels names 'kl'"),
        (dict(labels=["one"]), ValueError, "one entry per key"),
        (dict(labels="training"), TypeError, "labels must be None, a dict"),
        (dict(labels=[1, 2]), TypeError, "labels must be strings"),
        (dict(ylabel=3), TypeError, "ylabel must be a string"),
    ]
    for kwargs, error, message in cases:
        with pytest.raises(error, match=message):
            plot_history(h, **kwargs)
    with pytest.raises(TypeError, match="history must be a History"):
        plot_history([1.0, 0.5])
    assert plt.get_fignums() == before                    # refused before any figure


def test_stage_histories_name_each_stage_loss_and_unit():
    from numpyae.analysis.plotting import plot_stage_histories
    h = _history(loss=[1.0, 0.5])
    fig = plot_stage_histories({"stage 1": h, "stage 2": h, "fine-tune": h},
                               ylabels={"stage 1": "binary cross-entropy per pixel (nats)",
                                        "stage 2": "squared error per code unit"})
    assert [ax.get_ylabel() for ax in fig.axes] == [
        "binary cross-entropy per pixel (nats)", "squared error per code unit", "loss"]
    assert [ax.get_title() for ax in fig.axes] == ["stage 1", "stage 2", "fine-tune"]
    with pytest.raises(ValueError, match="ylabels names the stage 'stage 3'"):
        plot_stage_histories({"stage 1": h}, ylabels={"stage 3": "x"})
    with pytest.raises(TypeError, match="ylabels must be a dict"):
        plot_stage_histories({"stage 1": h}, ylabels=["x"])


# ---- scatters coloured by label: a colour per class, a legend that says so ---------------------

def _colour_bar(ax):
    (bar_ax,) = [a for a in ax.figure.axes if a is not ax]
    return bar_ax


def test_latent_scatter_colour_bar_has_one_centred_tick_per_class():
    from matplotlib.colors import to_hex
    codes = np.random.default_rng(0).standard_normal((40, 2))
    labels = np.arange(40) % 10
    ax = plot_latent(codes, labels, label_name="digit")
    bar = _colour_bar(ax)
    assert bar.get_ylabel() == "digit"
    assert list(bar.get_yticks()) == list(range(10))     # centres of the ten colour blocks
    assert [t.get_text() for t in bar.get_yticklabels()] == [str(c) for c in range(10)]
    ax.figure.canvas.draw()                               # colours are mapped when drawn
    colours = ax.collections[0].get_facecolors()
    assert to_hex(colours[3]) == to_hex("C3") and to_hex(colours[13]) == to_hex("C3")
    with pytest.raises(ValueError, match="labels must be 40 finite numbers"):
        plot_latent(codes, labels[:5])


def test_codes_over_prior_legend_says_the_codes_are_coloured_by_label():
    """Reproducer: the legend drew "codes" as one pink dot although the codes are coloured by
    their label."""
    from matplotlib.colors import to_hex
    from matplotlib.lines import Line2D
    from numpyae.analysis.plotting import plot_codes_over_prior
    rng = np.random.default_rng(0)
    codes, prior = rng.standard_normal((50, 2)), rng.standard_normal((80, 2))
    ax = plot_codes_over_prior(codes, prior, np.arange(50) % 10, label_name="digit")
    legend = ax.get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["prior samples",
                                                          "codes (coloured by digit)"]
    drawn = [to_hex(line.get_color()) for line in legend.findobj(Line2D)]
    assert drawn[0] == to_hex("0.78")                    # the prior: grey, as in the plot
    assert drawn[1:] == [to_hex(f"C{i}") for i in range(5)]   # the codes: the class colours
    assert _colour_bar(ax).get_ylabel() == "digit"
    ax = plot_codes_over_prior(codes, prior)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["prior samples", "codes"]
    assert len(ax.figure.axes) == 1                       # no colour bar without labels
