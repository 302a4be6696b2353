"""`python -m numpyae train --model aae`: the recipe of notebook 08, MMD^2 printed, a legend
that says what the colours are (numpyae.apps.cli.train_aae)."""
import json
import os
import pathlib
import re

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.colors import to_hex  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from numpyae.apps import cli  # noqa: E402

NOTEBOOK = pathlib.Path(__file__).resolve().parents[2] / "notebooks" / "08_cvae_and_aae.ipynb"


@pytest.fixture
def figures(monkeypatch):
    """The figures the command line saves, by file name (still written to disk)."""
    saved = {}

    def keep(fig_or_ax, path):
        fig = getattr(fig_or_ax, "figure", fig_or_ax)
        saved[os.path.basename(path)] = fig
        fig.canvas.draw()                  # what is on the PNG: limits, legends, colours
        fig.savefig(path, dpi=40)
        return path

    monkeypatch.setattr(cli, "save_figure", keep)
    yield saved
    for fig in saved.values():
        plt.close(fig)


def _train_aae(tmp_path, capsys, *flags):
    code = cli.main(["train", "--model", "aae", "--epochs", "2", "--quiet", "--out", str(tmp_path),
                     *flags])
    out = capsys.readouterr().out
    return code, out


def _mmd_row(out, label):
    """The MMD^2 column of a row of the printed closeness table."""
    (value,) = re.findall(rf"^  {re.escape(label)}\s+(-?\d+\.\d+) ", out, flags=re.M)
    return float(value)


def test_cli_aae_prints_its_mmd2_to_the_prior_and_the_share_near_a_prior_mean(tmp_path, capsys,
                                                                                figures):
    code, out = _train_aae(tmp_path, capsys, "--prior", "mixture")
    assert code in (0, 1)                                  # 1: after 2 epochs a verdict of NO
    assert "encoder 64-96-64-2, decoder mirror, discriminator 2-64-64-1" in out
    assert "MMD^2" in out and "near a mean" in out
    aae, plain = _mmd_row(out, "AAE"), _mmd_row(out, "unregularized autoencoder")
    reference = _mmd_row(out, "reference: a fresh prior sample")
    assert abs(reference) < 0.05 < max(aae, plain)         # a prior sample matches; 2 epochs do not
    assert ("closer to the prior than the unregularized autoencoder's (MMD^2): "
            + ("yes" if aae < plain else "NO")) in out
    assert code == (0 if aae < plain else 1)
    shares = re.findall(r"(\d+)%\s*$", out, flags=re.M)
    assert len(shares) == 3 and 90 <= int(shares[2]) <= 99   # 95% of a prior sample, give or take
    # the figure carries the same numbers
    fig = figures["codes_over_prior.png"]
    aae_ax, plain_ax = [ax for ax in fig.axes if ax.get_xlabel() == "z1"]
    assert f"MMD² to the prior {aae:.4f}" in aae_ax.get_title()
    assert f"MMD² to the prior {plain:.4f}" in plain_ax.get_title()
    assert aae_ax.get_xlim() == plain_ax.get_xlim() and aae_ax.get_ylim() == plain_ax.get_ylim()
    assert {"adversarial_losses.png", "samples.png", "reconstructions.png"} <= set(figures)


def test_cli_aae_legend_draws_the_codes_in_their_class_colours_not_one_pink_dot(tmp_path, capsys,
                                                                                  figures):
    """Reproducer: the scatter's legend showed "codes" as one pink dot although the codes are
    coloured by digit."""
    _train_aae(tmp_path, capsys)
    fig = figures["codes_over_prior.png"]
    panels = [ax for ax in fig.axes if ax.get_xlabel() == "z1"]
    bars = [ax for ax in fig.axes if ax.get_ylabel() == "digit"]
    assert len(panels) == 2 and len(bars) == 2             # a colour bar of the digits per panel
    for ax in panels:
        legend = ax.get_legend()
        assert [t.get_text() for t in legend.get_texts()] == ["prior samples",
                                                              "codes (coloured by digit)"]
        colours = [to_hex(line.get_color()) for line in legend.findobj(Line2D)]
        assert colours[0] == to_hex("0.78") and len(set(colours[1:])) == 5
    assert [t.get_text() for t in bars[0].get_yticklabels()] == [str(d) for d in range(10)]
    losses = figures["adversarial_losses.png"].axes[0]
    assert [t.get_text() for t in losses.get_legend().get_texts()] == [
        "training discriminator loss", "training generator loss"]
    assert losses.get_ylabel() == "binary cross-entropy per example (nats)"


def test_cli_aae_uses_the_recipe_of_notebook_08(tmp_path):
    """The command line and the notebook train the same AAE: architecture, discriminator,
    learning rates, epochs and batch size (the notebook's codes match the prior, MMD^2 0.011)."""
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    source = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    (sizes, disc, prior), = re.findall(r"aae = numpyae\.mlp_aae\((\[[^]]*\]), "
                                       r"discriminator=(\([^)]*\)), prior=\"(\w+)\"", source)
    (lr, adv_lr, epochs, batch), = re.findall(
        r"aae\.make_optimizers\(lr=([\d.e-]+), adversarial_lr=([\d.e-]+)\), epochs=(\d+),\s*"
        r"batch_size=(\d+)", source)
    assert eval(sizes) == [64, *cli.AAE_HIDDEN, 2] and eval(disc) == cli.AAE_DISCRIMINATOR
    args = cli.build_parser().parse_args(["train", "--model", "aae", "--prior", prior,
                                          "--out", str(tmp_path)])
    cli.check_train_arguments(args)                        # fills in the defaults
    assert (args.lr, args.epochs, args.batch_size) == (float(lr), int(epochs), int(batch))
    assert float(adv_lr) == float(lr)                      # train_aae: one --lr for all phases


def test_cli_aae_with_the_gaussian_prior_reports_the_share_near_its_mean(tmp_path, capsys,
                                                                          figures):
    code, out = _train_aae(tmp_path, capsys, "--code-dim", "3")
    assert code in (0, 1)
    assert "encoder 64-96-64-3" in out and "prior StandardGaussian(dim=3)" in out
    assert re.search(r"holds 95% of the prior", out)
    assert np.isfinite(_mmd_row(out, "AAE"))
