"""What the robustness tests (tests/robustness/test_robustness_*.py) share: the tally of cases,
run() with its contract, the time limit, and the Hypothesis strategies for spoiled input.

This is a plain module, imported by name (`from robustness_helpers import ...`), because the
test modules need it at import time (strategies and settings in decorators); a conftest.py is
not importable reliably (in a folder without __init__.py every conftest.py is a module named
"conftest"). tests/robustness/conftest.py prints the tally kept here after the test summary.
"""
import collections
import contextlib
import re
import signal

import numpy as np
from hypothesis import HealthCheck
from hypothesis import strategies as st

from numpyae import NonFiniteError, mlp_autoencoder

#: cases tried per API, and how they ended ("ok": a correct result, "refused": a documented
#: exception); tests/robustness/conftest.py prints both at the end of the run
CASES = collections.Counter()
OUTCOMES = collections.Counter()
SETTINGS = dict(deadline=None, suppress_health_check=list(HealthCheck), database=None)
TIME_LIMIT = 10.0  # seconds per call: anything slower counts as a hang


class Hang(Exception):
    pass


@contextlib.contextmanager
def time_limit(seconds=TIME_LIMIT):
    if not hasattr(signal, "setitimer"):  # Windows: no interval timers; run without the limit
        yield
        return

    def alarm(signum, frame):
        raise Hang(f"call took longer than {seconds} s")
    old = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def run(op, fn, spoiled, documented=(ValueError, TypeError, NonFiniteError)):
    """Call fn(). Returns (True, result) or (False, exc) for a documented exception whose message
    names the spoiled argument. spoiled: None (all arguments valid: must succeed) or a list of
    words any of which may be named."""
    CASES[op] += 1
    try:
        with time_limit(), np.errstate(over="raise", invalid="raise", divide="raise"):
            result = fn()
    except documented as exc:
        if type(exc) is FloatingPointError:  # a raw NumPy float error, not NonFiniteError
            raise AssertionError(f"{op}: NumPy float error leaked: {exc}") from exc
        assert spoiled is not None, f"{op}: valid input was refused: {type(exc).__name__}: {exc}"
        msg = str(exc)
        assert any(re.search(rf"(?<![\w]){re.escape(w)}(?![\w])", msg) for w in spoiled), \
            f"{op}: {type(exc).__name__} does not name {spoiled}: {msg}"
        OUTCOMES["refused"] += 1
        return False, exc
    OUTCOMES["ok"] += 1
    return True, result


def assert_finite_array(a, shape=None, dtype=None, what="result"):
    assert isinstance(a, np.ndarray), f"{what} is a {type(a).__name__}, not an array"
    if shape is not None:
        assert a.shape == shape, f"{what} has shape {a.shape}, expected {shape}"
    if dtype is not None:
        assert a.dtype == dtype, f"{what} has dtype {a.dtype}, expected {np.dtype(dtype)}"
    assert np.isfinite(a).all(), f"{what} contains NaN or inf (silently)"


# ---- strategies --------------------------------------------------------------------------------

FLOAT_KINDS = ["float32", "float64"]
SPOILED_ARRAYS = ["complex", "object", "nan", "inf", "-inf", "empty", "ndim1", "ndim3",
                  "features", "str", "none", "ragged", "scalar", "dict", "datetime"]
CONVERTIBLE = ["int", "bool", "float16", "uint8", "list"]


@st.composite
def arrays(draw, d, *, lo=0.0, hi=1.0, allow_spoiled=True, min_rows=1, max_rows=12):
    """(kind, value, valid): a (n, d) input of some kind. valid=False when it must be refused."""
    kinds = FLOAT_KINDS + CONVERTIBLE + (SPOILED_ARRAYS if allow_spoiled else [])
    kind = draw(st.sampled_from(kinds))
    n = draw(st.integers(min_rows, max_rows))
    seed = draw(st.integers(0, 2 ** 16))
    rng = np.random.default_rng(seed)
    base = rng.uniform(lo, hi, size=(n, d))
    valid = True
    if kind in FLOAT_KINDS:
        x = base.astype(kind)
    elif kind == "int":
        x = rng.integers(int(np.ceil(lo)), int(np.floor(hi)) + 1, size=(n, d))
    elif kind == "uint8":
        x = rng.integers(max(0, int(np.ceil(lo))), max(1, int(np.floor(hi))) + 1,
                         size=(n, d)).astype(np.uint8)
    elif kind == "bool":
        x = rng.random((n, d)) < 0.5
    elif kind == "float16":
        x = base.astype(np.float16)
    elif kind == "list":
        x = base.tolist()
    else:
        valid = False
        if kind == "complex":
            x = base + 1j
        elif kind == "object":
            x = base.astype(object)
        elif kind in ("nan", "inf", "-inf"):
            x = base.astype(draw(st.sampled_from(FLOAT_KINDS)))
            x[rng.integers(n), rng.integers(d)] = float(kind)
        elif kind == "empty":
            x = np.zeros((0, d), dtype=np.float32)
        elif kind == "ndim1":
            x = base[0]
        elif kind == "ndim3":
            x = base[:, :, None]
        elif kind == "features":
            x = rng.uniform(lo, hi, size=(n, d + draw(st.sampled_from([-1, 1, 3]))))
            if x.shape[1] == 0:
                x = rng.uniform(lo, hi, size=(n, d + 2))
        elif kind == "str":
            x = "not an array"
        elif kind == "none":
            x = None
        elif kind == "ragged":
            x = [list(range(d)), list(range(d + 1))]
        elif kind == "scalar":
            x = 0.5
        elif kind == "dict":
            x = {"X": base}
        elif kind == "datetime":
            x = np.zeros((n, d), dtype="datetime64[s]")
    return kind, x, valid


JUNK = st.sampled_from([None, "junk", -1, 0, 1.5, float("nan"), float("inf"), True, 2 + 1j,
                        [1, 2], {"a": 1}, b"bytes", np.float32(0.5), np.int64(-3), object()])


def is_seed(value):
    """Whether value is a valid int seed (a non-negative int, not a bool)."""
    return (isinstance(value, (int, np.integer)) and not isinstance(value, bool)
            and value >= 0)


#: valid values of an rng argument: None, an int seed, or an np.random.Generator
RNGS = st.one_of(st.none(), st.integers(0, 99),
                 st.integers(0, 99).map(np.random.default_rng))


def model_for(rng, d=6, code=3, dtype=np.float32, tied=False, loss="bce"):
    return mlp_autoencoder([d, 5, code], activation="tanh", loss=loss, rng=rng, dtype=dtype,
                           tied=tied)
