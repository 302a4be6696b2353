"""Datasets: the bundled digits, MNIST / Fashion-MNIST from IDX files, natural-image patches,
load_dataset(name) for the command line, and a seeded split helper.

load_digits(): the UCI "Optical Recognition of Handwritten Digits" test set (Alpaydin & Kaynak,
1998; UCI Machine Learning Repository, CC BY 4.0): 1,797 images of 8x8 pixels, values 0..16.
load_mnist() / load_fashion_mnist(): read from a folder or a cache, downloaded (SHA-256
checked, written atomically) only when missing.
load_patches(): square patches of a photograph that ships with matplotlib (UFLDL's exercise).
"""
from __future__ import annotations

import gzip
import hashlib
import os
import sys
import tempfile
import urllib.error
import urllib.request
from importlib import resources

import numpy as np

from ..core.checks import check_array, check_positive_int, check_probability
from ..core.random import as_generator
from .preprocessing import normalize_patches, whiten_image

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


def _as_rows(a, name):
    """Any array-like with a first (row) axis; a clear error for scalars and ragged lists."""
    if a is None or isinstance(a, (str, bytes, dict, set)):
        raise TypeError(f"{name} must be an array with one row per example, got {type(a).__name__}")
    try:
        arr = np.asarray(a)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{name} must be a rectangular array: {exc}") from None
    if arr.ndim < 1:
        raise ValueError(f"{name} must have a first (row) axis, got a 0-d {arr.dtype} array")
    return arr


def train_validation_split(X, y=None, *, fraction=0.2, rng=0):
    """Shuffle with rng (an int seed or a Generator) and hold out `fraction` of the rows.

    Returns X_train, X_val, y_train, y_val (the y parts are None when y is None).
    """
    X = _as_rows(X, "X")
    if len(X) < 2:
        raise ValueError(f"X must have at least 2 rows to split, got shape {X.shape}")
    if y is not None:
        y = _as_rows(y, "y")
        if len(y) != len(X):
            raise ValueError(f"y must have one entry per row of X ({len(X)}), got {len(y)}")
    frac = check_probability(fraction, "fraction", open_low=True)
    n_val = int(round(frac * len(X)))
    if not 1 <= n_val < len(X):
        raise ValueError(f"fraction={frac} leaves one side empty for {len(X)} rows")
    order = as_generator(rng).permutation(len(X))
    tr, va = order[n_val:], order[:n_val]
    if y is None:
        return X[tr], X[va], None, None
    return X[tr], X[va], y[tr], y[va]


# ---- MNIST and Fashion-MNIST (IDX files) ---------------------------------------------------------
#
# IDX format (LeCun et al.): a big-endian header, then the data in C order.
#     bytes 0-1   zero
#     byte  2     element type: 0x08 = unsigned byte (the only type these datasets use)
#     byte  3     number of dimensions d
#     4 * d       each dimension as a big-endian uint32
#     then        prod(dims) elements
# Images are idx3 (magic 0x00000803: n, rows, cols); labels idx1 (magic 0x00000801: n).
# Files may be gzipped (detected by the gzip magic bytes 1f 8b, not by the name).

IDX_IMAGES_MAGIC = 0x00000803
IDX_LABELS_MAGIC = 0x00000801
IMAGE_SHAPE_28 = (28, 28)


class DatasetError(ValueError):
    """A dataset file is corrupt, truncated, inconsistent or fails its checksum."""


class ChecksumError(DatasetError):
    """A downloaded file's SHA-256 does not match the published one; nothing was written."""


class DatasetUnavailableError(FileNotFoundError):
    """The dataset files are not on disk and could not be downloaded."""


def _split_files(prefix):
    return {"images": f"{prefix}-images-idx3-ubyte.gz", "labels": f"{prefix}-labels-idx1-ubyte.gz"}


#: name -> where to get it. SHA-256 of the gzipped files as published by the dataset hosts'
#: mirrors (cross-checked against several independent public manifests).
IDX_DATASETS = {
    "mnist": {
        "title": "MNIST handwritten digits (LeCun, Cortes & Burges)",
        "mirrors": ("https://ossci-datasets.s3.amazonaws.com/mnist/",
                    "https://storage.googleapis.com/cvdf-datasets/mnist/",
                    "http://yann.lecun.com/exdb/mnist/"),
        "splits": {"train": _split_files("train"), "test": _split_files("t10k")},
        "sha256": {
            "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
            "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
            "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
            "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
        },
    },
    "fashion-mnist": {
        "title": "Fashion-MNIST (Xiao, Rasul & Vollgraf, Zalando Research)",
        "mirrors": ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        "splits": {"train": _split_files("train"), "test": _split_files("t10k")},
        "sha256": {
            "train-images-idx3-ubyte.gz": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
            "train-labels-idx1-ubyte.gz": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
            "t10k-images-idx3-ubyte.gz": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
            "t10k-labels-idx1-ubyte.gz": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
        },
    },
}

#: what urlopen is called through; tests replace it (never the network in tests)
_urlopen = urllib.request.urlopen


def data_home(data_dir=None):
    """The folder datasets live in: data_dir if given, else $NUMPYAE_DATA, else a per-user cache
    ($XDG_CACHE_HOME/numpyae, ~/.cache/numpyae; %LOCALAPPDATA%\\numpyae on Windows)."""
    if data_dir is not None:
        if not isinstance(data_dir, (str, os.PathLike)):
            raise TypeError(f"data_dir must be a path (str or os.PathLike), got {type(data_dir).__name__}")
        return os.path.abspath(os.path.expanduser(os.fspath(data_dir)))
    env = os.environ.get("NUMPYAE_DATA")
    if env:
        return os.path.abspath(os.path.expanduser(env))
    if sys.platform.startswith("win") and os.environ.get("LOCALAPPDATA"):
        return os.path.join(os.environ["LOCALAPPDATA"], "numpyae")
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "numpyae")


def _read_bytes(path):
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == b"\x1f\x8b":
        import gzip as _gzip
        import zlib
        try:
            raw = _gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise DatasetError(f"{path}: gzip stream is truncated or corrupt ({exc})") from None
    return raw


def read_idx(path, *, magic=None):
    """Parse one IDX file (gzipped or raw) into a uint8 array of the shape its header declares.

    magic   the expected 4-byte magic number (IDX_IMAGES_MAGIC or IDX_LABELS_MAGIC), if any
    Raises DatasetError naming the file for a wrong magic number, an unsupported element type,
    or a file shorter or longer than its header says.
    """
    path = os.fspath(path)
    raw = _read_bytes(path)
    if len(raw) < 4:
        raise DatasetError(f"{path}: truncated IDX file ({len(raw)} bytes, no header)")
    found = int.from_bytes(raw[:4], "big")
    if magic is not None and found != magic:
        raise DatasetError(f"{path}: wrong magic number 0x{found:08x}, expected 0x{magic:08x} "
                           f"({'images' if magic == IDX_IMAGES_MAGIC else 'labels'} IDX file)")
    if raw[0] != 0 or raw[1] != 0:
        raise DatasetError(f"{path}: not an IDX file (magic 0x{found:08x})")
    if raw[2] != 0x08:
        raise DatasetError(f"{path}: IDX element type 0x{raw[2]:02x} is not supported "
                           f"(only unsigned bytes, 0x08)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header:
        raise DatasetError(f"{path}: truncated IDX header ({len(raw)} bytes for {ndim} dimensions)")
    dims = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(dims, dtype=np.int64))
    if len(raw) < expected:
        raise DatasetError(f"{path}: truncated: the header declares shape {dims} "
                           f"({expected} bytes), the file has {len(raw)}")
    if len(raw) > expected:
        raise DatasetError(f"{path}: {len(raw) - expected} bytes after the data the header "
                           f"declares (shape {dims})")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def _sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def download_file(url, dest, sha256, *, timeout=30):
    """Download url to dest atomically (temporary file in the same folder, then rename), after
    checking its SHA-256. On a mismatch nothing is written and ChecksumError is raised."""
    folder = os.path.dirname(os.path.abspath(dest))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".numpyae-download-", dir=folder)
    try:
        h = hashlib.sha256()
        with os.fdopen(fd, "wb") as out, _urlopen(url, timeout=timeout) as response:
            for chunk in iter(lambda: response.read(1 << 20), b""):
                h.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        digest = h.hexdigest()
        if digest != sha256:
            raise ChecksumError(f"{url}: SHA-256 {digest} does not match the published "
                                f"{sha256}; the download was discarded")
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return dest


def _find_local(folder, gz_name):
    """The gzipped or the raw file, whichever exists (gz first), or None."""
    for name in (gz_name, gz_name[:-3]):
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            return path
    return None


def _fetch(name, split, folder, download):
    spec = IDX_DATASETS[name]
    files = spec["splits"][split]
    paths, missing = {}, []
    for role, gz_name in files.items():
        path = _find_local(folder, gz_name)
        if path is None:
            missing.append((role, gz_name))
        paths[role] = path
    errors, bad_checksums = [], []
    if missing and download:
        for role, gz_name in missing:
            dest = os.path.join(folder, gz_name)
            for base in spec["mirrors"]:
                try:
                    download_file(base + gz_name, dest, spec["sha256"][gz_name])
                    paths[role] = dest
                    break
                except ChecksumError as exc:  # try the next mirror; never keep the file
                    bad_checksums.append(str(exc))
                except (urllib.error.URLError, OSError, ValueError) as exc:
                    errors.append(f"{base + gz_name}: {exc}")
        missing = [(r, g) for r, g in missing if paths[r] is None]
        if missing and bad_checksums:
            raise ChecksumError("; ".join(bad_checksums))
    if missing:
        listing = "\n".join(f"  {g}  (or the uncompressed {g[:-3]})" for _, g in missing)
        if not download:
            why = "downloading is switched off (download=False)\n"
        else:
            why = "downloading failed:\n" + "".join(f"  {e}\n" for e in errors[:8])
        raise DatasetUnavailableError(
            f"{spec['title']}, {split} split: missing\n{listing}\nin the folder {folder}\n{why}"
            f"Put the files there, or set NUMPYAE_DATA / pass data_dir= to the folder that holds "
            f"them, or connect to the internet (hosts: {', '.join(spec['mirrors'])}).")
    return paths


def load_idx_dataset(name, split="train", *, data_dir=None, download=True, as_images=False):
    """Images as float32 in [0, 1] (n, 784), or (n, 28, 28) with as_images=True, and int64 labels.

    name       "mnist" or "fashion-mnist"
    split      "train" (60,000) or "test" (10,000)
    data_dir   folder holding the IDX files (gzipped or raw). Default: $NUMPYAE_DATA/<name>,
               else a per-user cache folder (see data_home()).
    download   when files are missing, fetch them from the official hosts, check each file's
               SHA-256 and write it atomically; otherwise (or offline) raise
               DatasetUnavailableError naming each missing file and the folder.
    """
    if not isinstance(name, str) or name not in IDX_DATASETS:
        raise ValueError(f"name must be one of {sorted(IDX_DATASETS)}, got {name!r}")
    if not isinstance(split, str) or split not in IDX_DATASETS[name]["splits"]:
        raise ValueError(f"split must be one of {sorted(IDX_DATASETS[name]['splits'])}, got {split!r}")
    folder = data_home(data_dir) if data_dir is not None else os.path.join(data_home(), name)
    paths = _fetch(name, split, folder, bool(download))
    images = read_idx(paths["images"], magic=IDX_IMAGES_MAGIC)
    labels = read_idx(paths["labels"], magic=IDX_LABELS_MAGIC)
    if images.ndim != 3:
        raise DatasetError(f"{paths['images']}: images must be 3-D (n, rows, cols), got {images.shape}")
    if labels.ndim != 1:
        raise DatasetError(f"{paths['labels']}: labels must be 1-D (n,), got {labels.shape}")
    if len(images) != len(labels):
        raise DatasetError(f"{paths['images']} holds {len(images)} images but {paths['labels']} "
                           f"holds {len(labels)} labels")
    X = images.astype(np.float32)
    X /= np.float32(255)  # division, not * (1/255): 255 maps to exactly 1.0
    if not as_images:
        X = X.reshape(len(X), images.shape[1] * images.shape[2])  # -1 fails for 0 images
    return X, labels.astype(np.int64)


def load_mnist(split="train", *, data_dir=None, download=True, as_images=False):
    """MNIST digits: float32 images in [0, 1], (n, 784) or (n, 28, 28), and int64 labels 0..9."""
    return load_idx_dataset("mnist", split, data_dir=data_dir, download=download,
                            as_images=as_images)


def load_fashion_mnist(split="train", *, data_dir=None, download=True, as_images=False):
    """Fashion-MNIST: float32 images in [0, 1], (n, 784) or (n, 28, 28), and int64 labels 0..9."""
    return load_idx_dataset("fashion-mnist", split, data_dir=data_dir, download=download,
                            as_images=as_images)


DATASET_NAMES = ("digits", "mnist", "fashion-mnist")


class LoadedDataset(tuple):
    """(X, y) plus .name (what was actually loaded), .image_shape and .message (why a fallback)."""

    def __new__(cls, X, y, name, image_shape, message=None):
        self = super().__new__(cls, (X, y))
        self.X, self.y, self.name, self.image_shape, self.message = X, y, name, image_shape, message
        return self


def load_dataset(name="digits", *, split="train", data_dir=None, download=True, fallback=True):
    """One entry point for the CLI and notebooks: "digits", "mnist" or "fashion-mnist".

    Returns a LoadedDataset (unpacks as X, y). When MNIST / Fashion-MNIST cannot be found or
    fetched and fallback=True, returns the bundled digits instead with .message saying why
    (and a RuntimeWarning); with fallback=False the DatasetUnavailableError propagates.
    Corrupt files are never papered over: DatasetError always propagates.
    """
    if not isinstance(name, str) or name not in DATASET_NAMES:
        raise ValueError(f"name must be one of {list(DATASET_NAMES)}, got {name!r}")
    if name != "digits":
        try:
            X, y = load_idx_dataset(name, split, data_dir=data_dir, download=download)
            return LoadedDataset(X, y, name, IMAGE_SHAPE_28)
        except DatasetUnavailableError as exc:
            if not fallback:
                raise
            message = (f"{name} is not available, falling back to the bundled 8x8 digits.\n{exc}")
            import warnings
            warnings.warn(message, RuntimeWarning, stacklevel=2)
            X, y = load_digits()
            return LoadedDataset(X, y, "digits", DIGITS_SHAPE, message)
    X, y = load_digits()
    return LoadedDataset(X, y, "digits", DIGITS_SHAPE)


# ---- natural image patches ---------------------------------------------------------------

PATCH_IMAGE = "grace_hopper.jpg"


def load_photograph(name=PATCH_IMAGE):
    """A grayscale photograph from matplotlib's sample data, float64 in [0, 1], shape (H, W).

    The default is the portrait of Grace Hopper (600 x 512) that ships with matplotlib; colour is
    converted to luminance with the ITU-R BT.601 weights 0.299 R + 0.587 G + 0.114 B.
    """
    import matplotlib.cbook as cbook
    import matplotlib.image as mimage
    path = cbook.get_sample_data(name, asfileobj=False) if isinstance(name, str) else None
    if path is None or not os.path.isfile(path):
        raise ValueError(f"name must be an image in matplotlib's sample data (e.g. "
                         f"{PATCH_IMAGE!r}), got {name!r}")
    img = np.asarray(mimage.imread(path), dtype=np.float64)
    if img.dtype.kind == "f" and img.max() > 1:
        img = img / 255.0
    if img.ndim == 3:
        img = img[..., :3] @ np.array([0.299, 0.587, 0.114])
    return img


def load_patches(n=10000, size=8, *, whiten=True, downsample=1, normalize=True, image=PATCH_IMAGE,
                 rng=0):
    """Square patches sampled at random positions of a photograph: float32 (n, size*size).

    whiten     first flatten the photograph's 1/f spectrum (preprocessing.whiten_image), as the
               whitened natural images of the UFLDL sparse-autoencoder exercise were; on raw
               pixels an autoencoder spends its units on smooth low-frequency blobs
    downsample average blocks of downsample x downsample pixels first (less JPEG noise, finer
               structure per patch)
    normalize  UFLDL's patch normalization (preprocessing.normalize_patches): subtract each patch's
               mean, clip to +/- 3 standard deviations, rescale to [0.1, 0.9]
    rng        int seed or np.random.Generator for the patch positions
    """
    n = check_positive_int(n, "n")
    size = check_positive_int(size, "size")
    img = load_photograph(image)
    downsample = check_positive_int(downsample, "downsample")
    if downsample > 1:
        H, W = (s - s % downsample for s in img.shape)
        img = img[:H, :W].reshape(H // downsample, downsample, W // downsample, downsample)
        img = img.mean(axis=(1, 3))
    if size > min(img.shape):
        raise ValueError(f"size must be at most the image's smaller side {min(img.shape)}, got {size}")
    if whiten:
        img = whiten_image(img)
    rng = as_generator(rng)
    rows = rng.integers(0, img.shape[0] - size + 1, size=n)
    cols = rng.integers(0, img.shape[1] - size + 1, size=n)
    offsets = np.arange(size)
    patches = img[rows[:, None, None] + offsets[None, :, None],
                  cols[:, None, None] + offsets[None, None, :]].reshape(n, size * size)
    if normalize:
        return normalize_patches(patches)
    return patches.astype(np.float32)
