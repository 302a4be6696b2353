"""What the command-line trainers and studies share: the argument checks (argparse types and
UsageError), run folders, figures, tables (markdown and CSV), the --dataset the trainers read,
the checkpoint flags, and a printed loss curve.

cli and train_regularized both import from here; this module imports neither.

Errors on the command line end in one line on stderr: a bad flag value is a usage error (exit
status 2; an argparse type below or a UsageError raised before the first training step), a
failure while running is exit status 1 (cli.main turns the library's documented errors into
one line), never a traceback.
"""
from __future__ import annotations

import argparse
import csv
import math
import os
import sys
import tempfile
import time
import warnings

from ..data.datasets import load_dataset


# ---- argument checks ----------------------------------------------------------------------

class UsageError(Exception):
    """A flag value or a combination of flags the command cannot run with, found before the
    first training step. cli.main prints "numpyae <command>: error: <message>", exit status 2."""


def one_line(text):
    """text with its lines stripped and joined into one line: by a space after a line that
    ends in punctuation, else by "; ". An error message fit for one line of stderr."""
    out = ""
    for line in (line.strip() for line in str(text).splitlines()):
        if line:
            out += ("" if not out else " " if out[-1] in ".;:," else "; ") + line
    return out


def _parse_int(text, what, low, high=None):
    """text as an int in [low, high]; else argparse.ArgumentTypeError "must be <what>, got ..."."""
    try:
        value = int(str(text).strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}") from None
    if value < low or (high is not None and value > high):
        raise argparse.ArgumentTypeError(f"must be {what}, got {value}")
    return value


def positive_int(text):
    """argparse type: an int >= 1 (--epochs, --batch-size, --seeds, ...)."""
    return _parse_int(text, "a positive int", 1)


#: the most units a layer or a code may have on the command line (--code-dim, --hidden,
#: --sizes): a 4096 x 4096 layer with Adam's state is ~270 MB; larger is refused, not attempted
MAX_UNITS = 4096


def layer_size(text):
    """argparse type: a layer or code size, an int in [1, MAX_UNITS]."""
    return _parse_int(text, f"an int in [1, {MAX_UNITS}]", 1, MAX_UNITS)


def nonnegative_int(text):
    """argparse type: an int >= 0 (--seed, --kl-warmup)."""
    return _parse_int(text, "a non-negative int", 0)


def int_between(low, high):
    """argparse type factory: an int in [low, high], e.g. int_between(1, 100_000)."""
    what = f"an int in [{low}, {high}]"

    def parse(text):
        """text as an int in [low, high]."""
        return _parse_int(text, what, low, high)

    parse.__name__ = f"int in [{low}, {high}]"
    return parse


def _parse_float(text, what, ok):
    """text as a float with ok(value) true; else argparse.ArgumentTypeError naming `what`."""
    try:
        value = float(str(text).strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}") from None
    if not (math.isfinite(value) and ok(value)):
        raise argparse.ArgumentTypeError(f"must be {what}, got {value}")
    return value


def positive_float(text):
    """argparse type: a finite float > 0 (--lr, --tol)."""
    return _parse_float(text, "a finite number > 0", lambda v: v > 0)


def nonnegative_float(text):
    """argparse type: a finite float >= 0 (--beta, --lam)."""
    return _parse_float(text, "a finite number >= 0", lambda v: v >= 0)


def fraction(text):
    """argparse type: a float in the open interval (0, 1) (--fractions)."""
    return _parse_float(text, "a fraction in (0, 1)", lambda v: 0 < v < 1)


def positive_int_list(text, high=None):
    """argparse type: comma-separated ints in [1, high], distinct: "5,10,20" -> [5, 10, 20]."""
    what = "comma-separated positive ints" + (f" of at most {high}" if high else "")
    parts = [p.strip() for p in str(text).split(",")]
    values = []
    for p in parts:
        try:
            values.append(int(p))
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {what}, got {text!r} ({p!r} is not an "
                                             f"int)") from None
    bad = [v for v in values if v < 1 or (high is not None and v > high)]
    if bad:
        raise argparse.ArgumentTypeError(f"must be {what}, got {text!r} ({bad[0]} is out of "
                                         f"range)")
    if len(set(values)) != len(values):
        raise argparse.ArgumentTypeError(f"must list distinct values, got {text!r}")
    return values


def path_text(text):
    """argparse type: a non-empty path without NUL characters (--out, --checkpoint, --data-dir)."""
    text = str(text)
    if not text or "\0" in text:
        raise argparse.ArgumentTypeError(f"must be a non-empty path, got {text!r}")
    return text


def existing_file(text):
    """argparse type: the path of an existing regular file (--resume)."""
    text = path_text(text)
    if not os.path.exists(text):
        raise argparse.ArgumentTypeError(f"must be an existing file, got {text!r}: no such file")
    if not os.path.isfile(text):
        raise argparse.ArgumentTypeError(f"must be an existing file, got {text!r}: not a "
                                         f"regular file")
    return text


def flag_name(dest):
    """The command-line spelling of an argparse dest: "code_dim" -> "--code-dim"."""
    return "--" + dest.replace("_", "-")


def apply_flag_table(args, table, key, key_flag):
    """Flags that only some values of `key` (the --model, the study) read: for every
    dest -> (the values of args.<key> that read it, its default) in `table`, refuse it when given
    (not None) to another value (UsageError naming both), else fill in the default."""
    chosen = getattr(args, key)
    for dest, (users, default) in table.items():
        value = getattr(args, dest, None)
        if chosen not in users:
            if value is not None:
                raise UsageError(f"{flag_name(dest)} applies to {key_flag} "
                                 f"{' / '.join(users)}, not {chosen}")
        elif value is None:
            setattr(args, dest, list(default) if isinstance(default, (list, tuple)) else default)


def _probe_writable(folder, flag, path):
    """Create and delete an unnamed file in `folder`: proof it is writable (also as root on a
    read-only file system, where os.access would say yes)."""
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise UsageError(f"{flag} {path}: cannot write into {folder} "
                         f"({exc.strerror or exc})") from None


def check_output_folder(path, flag="--out"):
    """Create the folder `path` (and its parents) if missing and check it is writable, before
    any work; UsageError naming the flag otherwise. Returns path."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise UsageError(f"{flag} {path}: exists and is not a folder")
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"{flag} {path}: cannot create the folder "
                         f"({exc.strerror or exc})") from None
    _probe_writable(path, flag, path)
    return path


def check_output_file(path, flag):
    """A file the run will write (--checkpoint): its folder must exist and be writable, and the
    path must not be a folder; UsageError naming the flag otherwise. Returns path."""
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise UsageError(f"{flag} {path}: is a folder, not a file")
    if os.path.exists(path) and not os.path.isfile(path):
        raise UsageError(f"{flag} {path}: is not a regular file (a device, pipe or socket)")
    if not os.path.isdir(folder):
        raise UsageError(f"{flag} {path}: the folder {folder} does not exist")
    _probe_writable(folder, flag, path)
    return path


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

#: the datasets read from IDX files (--data-dir, --offline); the rest ship with the package
IDX_DATASET_NAMES = ("mnist", "fashion-mnist")


def check_data_dir(args):
    """--data-dir is read only for --dataset mnist / fashion-mnist: refused (UsageError) with
    another dataset rather than ignored."""
    if getattr(args, "data_dir", None) is not None and args.dataset not in IDX_DATASET_NAMES:
        raise UsageError(f"--data-dir applies to --dataset {' / '.join(IDX_DATASET_NAMES)}, "
                         f"not {args.dataset}")


def load_training_data(args):
    """The --dataset the trainers use: digits, mnist or fashion-mnist. When MNIST /
    Fashion-MNIST is not available, says so in one line on stderr ("note: ...") and returns
    the bundled digits. A corrupt file raises the library's DatasetError.
    Returns a numpyae.data.datasets.LoadedDataset (unpacks as X, y; .name, .image_shape)."""
    name = getattr(args, "dataset", "digits")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # printed below instead
        data = load_dataset(name, data_dir=getattr(args, "data_dir", None),
                            download=not getattr(args, "offline", False))
    if data.message:
        print(f"note: {one_line(data.message)}", file=sys.stderr)
    return data


def load_study_dataset(name, *, data_dir=None, download=True):
    """The studies' --dataset as (X, y): the bundled digits, or MNIST / Fashion-MNIST (training
    split). A study asked explicitly for a dataset never falls back to another: an unavailable
    one raises the library's DatasetUnavailableError (an OSError)."""
    data = load_dataset(name, data_dir=data_dir, download=download, fallback=False)
    return data.X, data.y


def fit_checkpoint_kwargs(args):
    """--checkpoint / --checkpoint-every / --resume as fit() keyword arguments."""
    kw = {}
    if getattr(args, "checkpoint", None):
        kw["checkpoint"] = args.checkpoint
        kw["checkpoint_every"] = args.checkpoint_every or 1
    if getattr(args, "resume", None):
        kw["resume"] = args.resume
    return kw


def check_checkpoint_flags(args):
    """--checkpoint-every needs --checkpoint (refused, not ignored, without it); the checkpoint's
    folder must exist and be writable. UsageError otherwise; call before any work."""
    if getattr(args, "checkpoint_every", None) is not None and not getattr(args, "checkpoint",
                                                                           None):
        raise UsageError("--checkpoint-every needs --checkpoint (the file to write)")
    if getattr(args, "checkpoint", None):
        check_output_file(args.checkpoint, "--checkpoint")


def print_curve(history, key, every=10):
    """Print one History record every `every` epochs (and the last) on one line."""
    values = history[key]
    picks = sorted(set(list(range(0, len(values), every)) + [len(values) - 1]))
    print(f"{key} by epoch: " + "  ".join(f"{i + 1}:{values[i]:.2f}" for i in picks))


def code_size_axes(axes, sizes):
    """Style plots against the code size k: a log2 x axis ticked at exactly `sizes`, a light
    grid and a small legend on each of `axes`."""
    for ax in axes:
        ax.set_xscale("log", base=2)
        ax.set_xticks(sizes)
        ax.set_xticklabels([str(k) for k in sizes])
        ax.minorticks_off()
        ax.set_xlabel("code size k")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
