"""Input checks shared by the public API.

Every public entry point turns bad input into a ValueError or TypeError whose message names the
argument, says what was expected and what arrived. Nothing should fail deep inside NumPy.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

FLOAT_DTYPES = (np.float32, np.float64)


def check_dtype(dtype, name="dtype"):
    """Return np.float32 or np.float64; anything else is refused (None too, which NumPy would
    silently read as float64)."""
    if dtype is None:
        raise TypeError(f"{name} must be float32 or float64, got None")
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{name} must be float32 or float64, got {dtype!r}") from None
    if dt.type not in FLOAT_DTYPES:
        raise TypeError(f"{name} must be float32 or float64, got {dt}")
    return dt.type


def check_positive_int(value, name):
    """value as an int > 0 (a bool or a non-integer is refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be a positive int, got {type(value).__name__} {value!r}")
    if value <= 0:
        raise ValueError(f"{name} must be a positive int, got {value}")
    return int(value)


def check_sizes(sizes, name="sizes", *, min_length=2, what="the input size and at least one code size"):
    """A list of positive layer sizes, input first: [64, 32, 16]."""
    if isinstance(sizes, (str, bytes)) or not hasattr(sizes, "__iter__"):
        raise TypeError(f"{name} must be a list of positive ints, got {sizes!r}")
    sizes = [check_positive_int(s, f"{name}[{i}]") for i, s in enumerate(sizes)]
    if len(sizes) < min_length:
        raise ValueError(f"{name} must list {what}, got {sizes}")
    return sizes


def check_bool(value, name):
    """value as a bool: only True or False (Python or NumPy bools) are accepted.

    Anything else is refused, though Python would read it as a truth value: the string "no" is
    truthy and 0/1 or None are easily meant as something else."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise TypeError(f"{name} must be True or False, got {type(value).__name__} {value!r}")


def check_nonnegative_int(value, name):
    """value as an int >= 0 (a bool or a non-integer is refused)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int >= 0, got {type(value).__name__} {value!r}")
    if value < 0:
        raise ValueError(f"{name} must be an int >= 0, got {value}")
    return int(value)


def check_finite_float(value, name):
    """value as a finite float of any sign (a bool or a non-real is refused)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value}")
    return value


def check_choice(value, name, choices):
    """value, one of the strings in `choices` (anything else, e.g. an array, is refused)."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {sorted(choices)}, got {value!r}")
    return value


def check_value_range(arr, name, low, high, *, what, hint=""):
    """Refuse an array with values outside [low, high]: two reductions (min, max), no copy.

    For data whose range a loss requires (binary cross-entropy needs targets in [0, 1]): the
    message names the argument, the range the loss needs (`what`), the range found and `hint`,
    a way out. Call it once per call of the public API, never per training step."""
    if arr.size == 0:
        return arr
    lo, hi = arr.min(), arr.max()
    if lo < low or hi > high:
        raise ValueError(f"{name} must lie in [{low:g}, {high:g}] for {what} (got values in "
                         f"[{float(lo):.4g}, {float(hi):.4g}]){hint}")
    return arr


def check_nonnegative_float(value, name):
    """value as a finite float >= 0 (a bool or a non-real is refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}")
    value = float(value)
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value}")
    return value


def check_probability(value, name, *, open_low=False, open_high=True):
    """A float in [0, 1) by default (bounds open or closed as asked)."""
    value = check_nonnegative_float(value, name)
    lo_ok = value > 0 if open_low else value >= 0
    hi_ok = value < 1 if open_high else value <= 1
    if not (lo_ok and hi_ok):
        lo = "(0" if open_low else "[0"
        hi = "1)" if open_high else "1]"
        raise ValueError(f"{name} must lie in {lo}, {hi}, got {value}")
    return value


def check_array(x, name, *, ndim=2, n_features=None, dtype=None, allow_empty=False):
    """Validate a numeric array and return it as ``dtype`` (no copy when it already is).

    ndim        required number of dimensions (batch first)
    n_features  required size of the last axis, if given
    dtype       float dtype to convert to; None keeps float32/float64 and turns ints/bools to float32
    """
    if isinstance(x, (str, bytes)) or x is None:
        raise TypeError(f"{name} must be a numeric array, got {type(x).__name__}")
    try:
        arr = np.asarray(x)
    except (ValueError, TypeError) as exc:  # ragged nested lists
        raise ValueError(f"{name} must be a rectangular numeric array: {exc}") from None
    kind = arr.dtype.kind
    if kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers (bool, int or float), got dtype {arr.dtype}")
    if arr.ndim != ndim:
        expected = "(batch, features)" if ndim == 2 else f"{ndim}-D"
        raise ValueError(f"{name} must be {ndim}-D {expected}, got shape {arr.shape}")
    if n_features is not None and arr.shape[-1] != n_features:
        raise ValueError(f"{name} must have {n_features} features (last axis), "
                         f"got shape {arr.shape}")
    if not allow_empty and arr.size == 0:
        raise ValueError(f"{name} must not be empty, got shape {arr.shape}")
    if dtype is None:
        dtype = arr.dtype.type if kind == "f" and arr.dtype.type in FLOAT_DTYPES else np.float32
    arr = arr.astype(dtype, copy=False)
    if kind == "f" and not all_finite(arr):
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise ValueError(f"{name} contains NaN or inf (first at index {tuple(int(i) for i in bad)})")
    return arr


def all_finite(arr):
    """np.isfinite(arr).all() without its full-size boolean temporary (47 MB for MNIST).

    A sum of finite numbers is finite unless it overflows, and any NaN or inf makes the sum
    NaN or inf; so one read-only pass decides, and the exact elementwise test runs only when the
    sum is not finite (bad data, or finite values so large that their sum overflows).
    For a contiguous float32/float64 array the sum is the sum of squares x.x, one BLAS dot
    product (about 3x faster than arr.sum(); it is checked on every parameter and gradient of
    every training step): its terms are >= 0, so inf never meets -inf, and a NaN or inf entry
    makes it NaN or inf, as does a finite |x| > sqrt(largest float) (then the exact test runs)."""
    with np.errstate(over="ignore", invalid="ignore"):
        if arr.dtype.type in (np.float32, np.float64) and arr.flags.c_contiguous:
            flat = arr.reshape(-1)
            total = np.dot(flat, flat)
        else:
            total = arr.sum()
        if np.isfinite(total):
            return True
    return bool(np.isfinite(arr).all())


def first_nonfinite(arrays):
    """The index of the first array in `arrays` that holds a NaN or inf, or None if none does.

    all_finite over many arrays at once (a training step checks every parameter, gradient and
    optimizer-state array): one dot product x.x per array (np.vdot: BLAS for float32/float64,
    no reshape), their sum as a Python float (float64: finite dots never overflow it); only when
    that sum is not finite are the arrays tested one by one with all_finite. About 0.7 us per
    small array, so a step's checks cost little even for a model of many small parameters."""
    total = 0.0
    try:
        for arr in arrays:
            total += float(np.vdot(arr, arr))
    except FloatingPointError:     # (np.seterr(all="raise") on a non-BLAS dtype)
        total = math.inf
    if math.isfinite(total):
        return None
    for i, arr in enumerate(arrays):
        if not all_finite(arr):
            return i
    return None


def check_labels(y, name, *, n, n_classes=None):
    """Integer class labels, shape (n,), values in [0, n_classes)."""
    if isinstance(y, (str, bytes)) or y is None:
        raise TypeError(f"{name} must be an array of integer labels, got {type(y).__name__}")
    arr = np.asarray(y)
    if arr.dtype.kind == "f" and arr.size and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
        arr = arr.astype(np.int64)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integer class labels, got dtype {arr.dtype}")
    if arr.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},) to match the inputs, got {arr.shape}")
    if arr.size and arr.min() < 0:
        raise ValueError(f"{name} must be >= 0, got a label {arr.min()}")
    if n_classes is not None and arr.size and arr.max() >= n_classes:
        raise ValueError(f"{name} must be < {n_classes} (the number of classes), got {arr.max()}")
    return arr.astype(np.intp, copy=False)
