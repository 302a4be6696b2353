"""What the command-line trainers and studies share: run folders, figures, tables (markdown and
CSV), the --dataset the trainers read, the checkpoint flags, and a printed loss curve.

cli and train_regularized both import from here; this module imports neither.
"""
from __future__ import annotations

import csv
import os
import sys
import time
import warnings

from ..data.datasets import load_dataset, load_digits


# ---- run folders and figures ----------------------------------------------------------------

def run_dir(base, name):
    """Create and return a fresh folder <base>/<name>-<timestamp>[-k] for one run."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = os.path.join(base, f"{name}-{stamp}")
    k = 1
    while os.path.exists(path):
        k += 1
        path = os.path.join(base, f"{name}-{stamp}-{k}")
    os.makedirs(path)
    return path


def save_figure(fig_or_ax, path):
    """Write a matplotlib Figure (or an Axes' figure) to path as a PNG, close it, return path."""
    import matplotlib.pyplot as plt
    fig = getattr(fig_or_ax, "figure", fig_or_ax)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


# ---- tables -------------------------------------------------------------------------------

def format_markdown(rows, columns, formats=None):
    """rows: list of dicts; columns: keys in order. A GitHub markdown table as a string."""
    formats = formats or {}

    def cell(row, c):
        v = row.get(c, "")
        if isinstance(v, str):
            return v
        f = formats.get(c)
        return format(v, f) if f else str(v)

    body = [[cell(r, c) for c in columns] for r in rows]
    widths = [max(len(c), *(len(b[i]) for b in body)) if body else len(c)
              for i, c in enumerate(columns)]
    line = lambda cells: "| " + " | ".join(x.ljust(w) for x, w in zip(cells, widths)) + " |"
    out = [line(columns), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [line(b) for b in body]
    return "\n".join(out)


def write_csv(rows, columns, path):
    """Write rows (dicts) to a CSV file at path with the given columns in order; returns path."""
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({c: r.get(c, "") for c in columns})
    return path


def write_markdown(table, path):
    """Write a markdown table (a string) to path, with a final newline; returns path."""
    with open(path, "w") as f:
        f.write(table + "\n")
    return path


def write_table(run, stem, rows, columns, formats=None):
    """Write rows as <run>/<stem>.md and <run>/<stem>.csv; returns the markdown table."""
    table = format_markdown(rows, columns, formats)
    write_markdown(table, os.path.join(run, f"{stem}.md"))
    write_csv(rows, columns, os.path.join(run, f"{stem}.csv"))
    return table


# ---- data and training flags --------------------------------------------------------------

def load_training_data(args):
    """The --dataset the trainers use: digits, mnist or fashion-mnist. When MNIST /
    Fashion-MNIST is not available, says so on stderr and returns the bundled digits.
    Returns a numpyae.data.datasets.LoadedDataset (unpacks as X, y; .name, .image_shape)."""
    name = getattr(args, "dataset", "digits")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # printed below instead
        data = load_dataset(name, data_dir=getattr(args, "data_dir", None),
                            download=not getattr(args, "offline", False))
    if data.message:
        print(f"note: {data.message}", file=sys.stderr)
    return data


def load_study_dataset(name):
    """The studies' --dataset as (X, y); only the bundled digits for now."""
    if name == "digits":
        return load_digits()
    raise ValueError(f"--dataset must be one of ['digits'], got {name!r}")


def fit_checkpoint_kwargs(args):
    """--checkpoint / --checkpoint-every / --resume as fit() keyword arguments."""
    kw = {}
    if getattr(args, "checkpoint", None):
        kw["checkpoint"] = args.checkpoint
        kw["checkpoint_every"] = args.checkpoint_every
    if getattr(args, "resume", None):
        kw["resume"] = args.resume
    return kw


def print_curve(history, key, every=10):
    """Print one History record every `every` epochs (and the last) on one line."""
    values = history[key]
    picks = sorted(set(list(range(0, len(values), every)) + [len(values) - 1]))
    print(f"{key} by epoch: " + "  ".join(f"{i + 1}:{values[i]:.2f}" for i in picks))
