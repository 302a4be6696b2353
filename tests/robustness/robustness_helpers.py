"""The robustness battery's machinery (tests/robustness/test_robustness_*.py): the five
columns every case lands in, the tally per area, the oracles, and the Hypothesis strategies of
spoiled input.

Every case the battery tries is classified into exactly one column:

    clear error         a documented exception (ValueError, TypeError, the library's own classes
                        such as ModelFileError, DatasetError, NonFiniteError; an OSError naming
                        the user's path for file-system trouble) whose message names the argument
                        or the file involved; for the command line: exit status 2 (usage) or 1
                        (failure at run time) with a last line on stderr that names the flag or
                        the file, and no traceback
    accepted correctly  the call succeeded and its result passed the case's oracle: finite, the
                        right shape and dtype, equal to a reference where one is known
    obscure crash       any other exception (IndexError, AttributeError, ZeroDivisionError,
                        MemoryError, a raw NumPy FloatingPointError, a hang), a message that does
                        not name the argument, a valid input refused, a command-line traceback,
                        memory allocated far beyond what the input justifies before refusing
    silent garbage      the call succeeded but it should not have (an invalid input accepted, an
                        argument silently ignored or misread) or its result is wrong (NaN/inf,
                        wrong shape, out-of-range values, not equal to the reference)
    data lost           a file the user had was damaged or replaced, its permissions changed, a
                        symlink or a device node replaced, stale temp files left behind, a
                        checkpoint not written although asked, or a refusal that came only after
                        the work it should have preceded (the training is lost)

A case never raises: it is recorded in TALLY (per area and column) and, when it lands in one of
the last three columns, in BAD. tests/robustness/conftest.py fails every test that recorded a
bad case (listing the offending inputs) and prints the tally per area after pytest's summary
(also written to the file named by $NUMPYAE_TALLY, when set).

This is a plain module imported by name (`from robustness_helpers import ...`): the test modules
need it at import time (strategies and settings in decorators), and a conftest.py is not meant
to be imported.
"""
import collections
import contextlib
import errno
import hashlib
import io
import os
import re
import signal
import stat
import sys
import traceback
import warnings

import numpy as np
from hypothesis import HealthCheck
from hypothesis import strategies as st

from numpyae import NonFiniteError, mlp_autoencoder

# ---- the columns and the tally -----------------------------------------------------------------

CLEAR = "clear error"
OK = "accepted correctly"
CRASH = "obscure crash"
GARBAGE = "silent garbage"
LOST = "data lost"
COLUMNS = (CLEAR, OK, CRASH, GARBAGE, LOST)
BAD_COLUMNS = (CRASH, GARBAGE, LOST)

#: the areas in the order the tally prints them
AREAS = ("API arguments", "files", "checkpoints", "datasets", "numerics", "CLI")

#: area -> Counter(column -> cases)
TALLY = {area: collections.Counter() for area in AREAS}
#: (area, op) -> cases tried: the per-API breakdown (printed with pytest -v)
OPS = collections.Counter()
#: every case in the last three columns, in the order they were tried
BAD = []

SETTINGS = dict(deadline=None, suppress_health_check=list(HealthCheck), database=None)
TIME_LIMIT = 10.0  # seconds per call: anything slower counts as a hang

#: exceptions that may be a clear error (if their message names the argument)
DOCUMENTED = (ValueError, TypeError, NonFiniteError)
#: the same, plus OSError (FileNotFoundError, IsADirectoryError, ...) for cases about paths
DOCUMENTED_FILES = DOCUMENTED + (OSError,)


class BadCase:
    """One case in the last three columns: where, what was tried, what went wrong."""

    __slots__ = ("area", "op", "column", "inputs", "detail", "defect")

    def __init__(self, area, op, column, inputs, detail, defect):
        self.area, self.op, self.column = area, op, column
        self.inputs, self.detail, self.defect = inputs, detail, defect

    def line(self):
        """One line: [column] op(inputs): detail  (issue defect N)."""
        tag = f"  (issue defect {self.defect})" if self.defect else ""
        one_line = lambda text: " ".join(str(text).split())
        return f"[{self.column}] {self.op}({one_line(self.inputs)}): {one_line(self.detail)}{tag}"


class Outcome:
    """What a case ended as: .column, .value (the result, or the exception), .detail."""

    __slots__ = ("column", "value", "detail")

    def __init__(self, column, value=None, detail=""):
        self.column, self.value, self.detail = column, value, detail

    @property
    def ok(self):
        """The call succeeded and its result was right."""
        return self.column == OK

    @property
    def refused(self):
        """The call was refused with a clear error."""
        return self.column == CLEAR


class BatteryFailure(AssertionError):
    """Raised by tests/robustness/conftest.py for a test whose cases landed in a bad column."""


class Hang(Exception):
    """A call took longer than its time limit."""


# ---- describing inputs -------------------------------------------------------------------------

def brief(value, limit=90):
    """A short description of an input, for the list of bad cases."""
    if isinstance(value, np.ndarray):
        extra = ""
        if value.dtype.kind in "fc" and value.size:
            with np.errstate(all="ignore"):
                finite = np.isfinite(value)
            if not finite.all():
                extra = " with NaN/inf"
            elif value.size:
                extra = f" in [{np.real(value).min():.3g}, {np.real(value).max():.3g}]"
        return f"ndarray{value.shape} {value.dtype}{extra}"
    if isinstance(value, (list, tuple)) and len(value) > 6:
        return f"{type(value).__name__} of {len(value)}"
    if isinstance(value, (list, tuple)) and any(isinstance(v, (np.ndarray, list, tuple))
                                                for v in value):
        inner = ", ".join(brief(v, 40) for v in value)
        return f"[{inner}]" if isinstance(value, list) else f"({inner}{',' if len(value) == 1 else ''})"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={brief(v, 40)}" for k, v in value.items()) + "}"
    text = " ".join(repr(value).split())
    if type(value).__repr__ is object.__repr__:
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[:limit - 3] + "..."


def describe(**kw):
    """k=v, ... with every value described briefly."""
    return ", ".join(f"{k}={brief(v)}" for k, v in kw.items())


def _exc_text(exc):
    return f"{type(exc).__name__}: {str(exc)[:300]}"


def names_any(message, names):
    """Whether message names any of the words (as a whole word/path, case-sensitive), or
    matches any of the compiled patterns among them."""
    return any(w.search(message) if isinstance(w, re.Pattern)
               else re.search(rf"(?<![\w]){re.escape(str(w))}(?![\w])", message)
               for w in names if w is not None)


# ---- limits: time, floating point, memory --------------------------------------------------------

@contextlib.contextmanager
def time_limit(seconds=TIME_LIMIT):
    """Raise Hang inside the block after `seconds` (no limit where there are no interval timers)."""
    if not seconds or not hasattr(signal, "setitimer"):
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


class MemoryWatch:
    """Within the block: tracemalloc measures the peak of Python and NumPy allocations (.peak, in
    bytes), and the address space is capped `cap_mb` above its current size (when the platform
    allows), so a runaway allocation ends in MemoryError instead of exhausting the machine."""

    def __init__(self, cap_mb=1500):
        self.cap_mb, self.peak = cap_mb, 0

    def __enter__(self):
        import tracemalloc
        self._old_limit = None
        try:
            import resource
            with open("/proc/self/status") as f:
                vm = next(int(line.split()[1]) for line in f if line.startswith("VmSize:")) * 1024
            soft, hard = resource.getrlimit(resource.RLIMIT_AS)
            cap = vm + self.cap_mb * 2 ** 20
            if hard == resource.RLIM_INFINITY or cap < hard:
                resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
                self._old_limit = (soft, hard)
        except (ImportError, OSError, StopIteration, ValueError):
            pass
        self._was_tracing = tracemalloc.is_tracing()
        if not self._was_tracing:
            tracemalloc.start()
        tracemalloc.reset_peak()
        self._base = tracemalloc.get_traced_memory()[0]
        return self

    def __exit__(self, *exc):
        import tracemalloc
        self.peak = max(0, tracemalloc.get_traced_memory()[1] - self._base)
        if not self._was_tracing:
            tracemalloc.stop()
        if self._old_limit is not None:
            import resource
            resource.setrlimit(resource.RLIMIT_AS, self._old_limit)
        return False


class StepCounter:
    """Counts optimizer steps inside the block (every step() of every Optimizer subclass in
    numpyae.nn.optimizers): whether training started before a refusal."""

    def __enter__(self):
        from numpyae.nn import optimizers
        self.count, self._saved = 0, []
        for obj in vars(optimizers).values():
            if (isinstance(obj, type) and issubclass(obj, optimizers.Optimizer)
                    and "step" in vars(obj)):
                orig = vars(obj)["step"]

                def counted(opt, *a, _orig=orig, **k):
                    self.count += 1
                    return _orig(opt, *a, **k)
                self._saved.append((obj, orig))
                obj.step = counted
        return self

    def __exit__(self, *exc):
        for cls, orig in self._saved:
            cls.step = orig
        return False


# ---- files: what "data lost" is measured against -------------------------------------------------

def file_state(path):
    """What the user sees of path: kind, mode, symlink target, device, content hash."""
    path = os.fspath(path)
    try:
        st = os.lstat(path)
    except OSError:  # missing, or a path through a regular file
        return {"exists": False}
    state = {"exists": True, "kind": stat.S_IFMT(st.st_mode), "mode": stat.S_IMODE(st.st_mode)}
    if stat.S_ISLNK(st.st_mode):
        state["link"] = os.readlink(path)
    elif stat.S_ISREG(st.st_mode):
        with open(path, "rb") as f:
            state["sha"] = hashlib.sha256(f.read()).hexdigest()
    else:
        state["rdev"] = st.st_rdev
    return state


def kind_name(state):
    """A file kind in words."""
    if not state.get("exists"):
        return "nothing"
    return {stat.S_IFREG: "a regular file", stat.S_IFLNK: "a symlink", stat.S_IFDIR: "a folder",
            stat.S_IFIFO: "a FIFO", stat.S_IFCHR: "a character device",
            stat.S_IFBLK: "a block device", stat.S_IFSOCK: "a socket"}.get(state["kind"], "?")


def lost_between(before, after, *, content_may_change=False, path=""):
    """How the user's file changed between two file_state()s, or None if it was kept.

    content_may_change: the call wrote the file (a successful save): only kind, mode and the
    symlink may not change."""
    if before.get("exists") and not after.get("exists"):
        return f"{path} was removed"
    if not before.get("exists"):
        return None
    if after["kind"] != before["kind"]:
        return f"{path} was {kind_name(before)}, is now {kind_name(after)}"
    if "link" in before and after.get("link") != before["link"]:
        return f"symlink {path} now points to {after.get('link')!r}, not {before['link']!r}"
    if after["mode"] != before["mode"]:
        return f"{path} changed mode {before['mode']:04o} -> {after['mode']:04o}"
    if not content_may_change and before.get("sha") != after.get("sha"):
        return f"{path} was overwritten"
    if before.get("rdev") != after.get("rdev"):
        return f"{path}: device changed"
    return None


# ---- the battery ---------------------------------------------------------------------------------

class Battery:
    """The cases of one area. attempt() runs and classifies one call; cli() one command line."""

    def __init__(self, area):
        if area not in AREAS:
            raise ValueError(f"area must be one of {AREAS}, got {area!r}")
        self.area = area

    # -- bookkeeping
    def record(self, op, column, *, inputs="", detail="", defect=None, value=None):
        """Count one case in `column` (and list it when it is a bad one). Returns its Outcome."""
        assert column in COLUMNS, column
        TALLY[self.area][column] += 1
        OPS[(self.area, op)] += 1
        if column in BAD_COLUMNS:
            BAD.append(BadCase(self.area, op, column, inputs, detail, defect))
        return Outcome(column, value, detail)

    # -- one call
    def attempt(self, op, fn, *, valid, names=(), check=None, inputs="", defect=None,
                documented=DOCUMENTED, lost=None, limit=TIME_LIMIT, float_errors=True,
                memory_mb=None, before_work=False):
        """Call fn() and classify the case.

        valid       True: fn must succeed (a refusal is an obscure crash); False: fn must be
                    refused (success is silent garbage); None: either a clear refusal, or
                    success with a result `check` accepts
        names       words any of which the refusal's message must contain (argument, file),
                    or compiled patterns it must match
        check       check(result) -> None if the result is right, else what is wrong (silent
                    garbage), or a (column, what) pair for another column
        lost        lost() -> None, or what the user lost (runs whatever fn did; overrides)
        float_errors  run under np.errstate(raise) (a leaked FloatingPointError is a crash)
        memory_mb   watch allocations: more than this many MB before finishing is a crash
        before_work the refusal must come before the first optimizer step: a refusal after
                    training steps is data lost (the training is thrown away)
        """
        inputs = inputs if isinstance(inputs, str) else brief(inputs)
        watch = MemoryWatch() if memory_mb else contextlib.nullcontext()
        steps = StepCounter()
        errs = (dict(over="raise", invalid="raise", divide="raise") if float_errors
                else dict(all="ignore"))
        result, exc = None, None
        try:
            with watch, steps, time_limit(limit), np.errstate(**errs):
                result = fn()
        except Exception as e:  # noqa: BLE001 -- every exception is classified below
            exc = e
        column, detail = self._classify(result, exc, valid, names, check, documented)
        if memory_mb and watch.peak > memory_mb * 2 ** 20 and column in (CLEAR, OK):
            column, detail = CRASH, (f"allocated {watch.peak / 2 ** 20:.0f} MB before "
                                     f"{'refusing' if column == CLEAR else 'finishing'} "
                                     f"(more than {memory_mb} MB)")
        if column == CLEAR and before_work and steps.count:
            column, detail = LOST, (f"refused only after {steps.count} training steps: "
                                    f"{_exc_text(exc)}")
        if lost is not None:
            try:
                gone = lost()
            except Exception as e:  # noqa: BLE001
                gone = f"(the data-lost check failed: {_exc_text(e)})"
            if gone:
                column, detail = LOST, gone + (f"; {detail}" if detail else "")
        return self.record(op, column, inputs=inputs, detail=detail, defect=defect,
                           value=exc if exc is not None else result)

    @staticmethod
    def _classify(result, exc, valid, names, check, documented):
        if exc is not None:
            if isinstance(exc, FloatingPointError) and not isinstance(exc, NonFiniteError):
                return CRASH, f"raw NumPy floating-point error leaked: {_exc_text(exc)}"
            if isinstance(exc, Hang) or not isinstance(exc, documented):
                tb = traceback.extract_tb(exc.__traceback__)
                where = f" (at {os.path.basename(tb[-1].filename)}:{tb[-1].lineno})" if tb else ""
                return CRASH, _exc_text(exc) + where
            if valid is True:
                return CRASH, f"valid input refused: {_exc_text(exc)}"
            if names and not names_any(str(exc), names):
                shown = [w.pattern if isinstance(w, re.Pattern) else w for w in names][:3]
                return CRASH, f"message does not name {shown}: {_exc_text(exc)}"
            return CLEAR, ""
        if valid is False:
            return GARBAGE, f"accepted (returned {brief(result, 60)})"
        if check is not None:
            try:
                problem = check(result)
            except Exception as e:  # noqa: BLE001 -- a result the check cannot even read
                problem = f"result unusable: {_exc_text(e)}"
            if isinstance(problem, tuple):  # (column, what): e.g. an obscure warning printed
                return problem
            if problem:
                return GARBAGE, problem
        return OK, ""

    # -- one command line
    def cli(self, argv, *, cwd, valid, names=(), codes=(2,), check=None, defect=None,
            lost=None, before_work=True, limit=30.0):
        """Run numpyae.apps.cli.main(argv) in-process in the folder cwd and classify it.

        A refusal must exit with one of `codes`, without a traceback, with a last stderr line
        naming one of `names`; with before_work it must also come before any training step
        (else the run's work is lost). A success (exit 0) is checked by check(out, err)."""
        from numpyae.apps.cli import main
        out, err = io.StringIO(), io.StringIO()
        old = os.getcwd()
        code, exc = None, None
        os.chdir(cwd)
        try:
            with StepCounter() as steps, warnings.catch_warnings(record=True) as caught, \
                    contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), \
                    time_limit(limit):
                warnings.resetwarnings()  # Python's defaults, as `python -m numpyae` has them
                for category in (DeprecationWarning, PendingDeprecationWarning, ImportWarning,
                                 ResourceWarning):
                    warnings.simplefilter("ignore", category)
                try:
                    code = main(list(argv))
                except SystemExit as e:
                    code = e.code
                    if isinstance(code, str):
                        print(code, file=sys.stderr)
                        code = 1
                    code = 0 if code is None else code
        except Exception as e:  # noqa: BLE001 -- the command line let an exception through
            exc = e
        finally:
            os.chdir(old)
        # warnings go to stderr as they happen: before the error line that ends a failed run
        stderr = "".join(warnings.formatwarning(w.message, w.category, w.filename, w.lineno)
                         for w in caught) + err.getvalue()
        stdout = out.getvalue()
        inputs = " ".join(str(a) for a in argv)
        lines = [line for line in stderr.splitlines() if line.strip()]
        last = lines[-1] if lines else ""
        if exc is not None:
            column, detail = CRASH, f"traceback: {_exc_text(exc)}"
        elif code == 0:
            if valid is False:
                column, detail = GARBAGE, "exit 0: accepted" + (
                    f" after {steps.count} training steps" if steps.count else "")
            else:
                problem = check(stdout, stderr) if check is not None else None
                column, detail = (GARBAGE, problem) if problem else (OK, "")
        elif "Traceback (most recent call last)" in stderr:
            column, detail = CRASH, f"exit {code} with a traceback: {last[:200]}"
        elif valid is True:
            column, detail = CRASH, f"valid command failed (exit {code}): {last[:200]}"
        elif code not in codes:
            column, detail = CRASH, f"exit status {code}, expected {sorted(codes)}: {last[:200]}"
        elif names and not names_any(last, names):
            column, detail = CRASH, f"last stderr line does not name {list(names)[:3]}: {last[:200]!r}"
        elif before_work and steps.count:
            column, detail = LOST, f"refused only after {steps.count} training steps: {last[:200]}"
        else:
            column, detail = CLEAR, ""
        if lost is not None:
            gone = lost()
            if gone:
                column, detail = LOST, gone + (f"; {detail}" if detail else "")
        return self.record("cli " + (argv[0] if argv else ""), column, inputs=inputs, detail=detail,
                           defect=defect, value=(code, stdout, stderr))


def finite_array(a, shape=None, dtype=None, what="result", lo=None, hi=None):
    """None if a is a finite ndarray of the given shape/dtype within [lo, hi], else what is wrong."""
    if not isinstance(a, np.ndarray):
        return f"{what} is a {type(a).__name__}, not an array"
    if shape is not None and a.shape != tuple(shape):
        return f"{what} has shape {a.shape}, expected {tuple(shape)}"
    if dtype is not None and a.dtype != np.dtype(dtype):
        return f"{what} has dtype {a.dtype}, expected {np.dtype(dtype)}"
    if a.dtype.kind not in "biuf":
        return f"{what} has dtype {a.dtype}"
    if not np.isfinite(a).all():
        return f"{what} contains NaN or inf"
    if lo is not None and a.size and a.min() < lo:
        return f"{what} has values below {lo} (min {a.min():.4g})"
    if hi is not None and a.size and a.max() > hi:
        return f"{what} has values above {hi} (max {a.max():.4g})"
    return None


def first_problem(*problems):
    """The first of several check results that is not None."""
    return next((p for p in problems if p), None)


# ---- the network is never reached ----------------------------------------------------------------

@contextlib.contextmanager
def offline():
    """Refuse every connection except to this machine (the dataset tests' local HTTP server)."""
    import socket
    real_connect = socket.socket.connect

    def connect(sock, address, *a, **k):
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, str) and (host.startswith("127.") or host in ("localhost", "::1")):
            return real_connect(sock, address, *a, **k)
        raise OSError(errno.ENETUNREACH, f"offline (robustness battery): {address!r}")
    real_create = socket.create_connection

    def create_connection(address, *a, **k):
        host = address[0]
        if isinstance(host, str) and (host.startswith("127.") or host in ("localhost", "::1")):
            return real_create(address, *a, **k)
        raise OSError(errno.ENETUNREACH, f"offline (robustness battery): {address!r}")
    socket.socket.connect = connect
    socket.create_connection = create_connection
    try:
        yield
    finally:
        socket.socket.connect = real_connect
        socket.create_connection = real_create


# ---- strategies ------------------------------------------------------------------------------------

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
#: junk for an argument that must be a bool (strings such as "no" are the classic trap)
BOOL_JUNK = st.sampled_from(["no", "yes", "False", "", 0.5, 2, -1, None, [True], "true",
                             np.float64(1.0), 2 + 0j])


def is_seed(value):
    """Whether value is a valid int seed (a non-negative int, not a bool)."""
    return (isinstance(value, (int, np.integer)) and not isinstance(value, bool)
            and value >= 0)


def is_positive_int(value):
    """Whether value is an int > 0 (not a bool)."""
    return (isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value > 0)


#: valid values of an rng argument: None, an int seed, or an np.random.Generator
RNGS = st.one_of(st.none(), st.integers(0, 99),
                 st.integers(0, 99).map(np.random.default_rng))


def model_for(rng, d=6, code=3, dtype=np.float32, tied=False, loss="bce"):
    """A small tanh autoencoder d-5-code-5-d."""
    return mlp_autoencoder([d, 5, code], activation="tanh", loss=loss, rng=rng, dtype=dtype,
                           tied=tied)


def digits(n=None):
    """The bundled digits X (float32 in [0, 1]), the first n rows."""
    from numpyae import load_digits
    X, _ = load_digits()
    return X if n is None else X[:n]
