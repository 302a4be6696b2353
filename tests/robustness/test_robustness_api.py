"""Bad input, tried systematically (Hypothesis).

Every case calls the public API with at most one argument spoiled (random shapes, dtypes: ints,
bools, float16, complex, object; NaN and inf; empty arrays; wrong Python types) and requires
either a correct result (finite, the right shape and dtype) or a documented exception --
ValueError / TypeError (ModelFileError and DatasetError are ValueErrors), NonFiniteError, or
FileNotFoundError for absent data -- whose message names the spoiled argument. Anything else
fails: IndexError, AttributeError, a NumPy broadcasting error that does not name the argument,
a floating-point warning (NumPy errors are raised, not ignored), a silent NaN, or a call taking
longer than a few seconds (a hang).

The number of cases tried is printed at the end of the module (pytest -s, or the terminal summary).
"""
import collections
import contextlib
import io
import os
import re
import signal
import tempfile
import urllib.error

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import numpyae
from numpyae import (SGD, Adam, AdamW, BinaryCrossEntropy, Callback, Dense, ModelFileError, MSE,
                     NonFiniteError, Parameter, SoftmaxCrossEntropy, fit, get_loss,
                     mlp_autoencoder, train_validation_split)
from numpyae.data import datasets as ds

CASES = collections.Counter()
OUTCOMES = collections.Counter()
SETTINGS = dict(deadline=None, suppress_health_check=list(HealthCheck), database=None)
TIME_LIMIT = 10.0  # seconds per call: anything slower counts as a hang


@pytest.fixture(scope="module", autouse=True)
def _report(pytestconfig):
    yield
    total = sum(CASES.values())
    lines = [f"robustness: {total} cases tried "
             f"({OUTCOMES['ok']} correct results, {OUTCOMES['refused']} documented refusals)"]
    lines += [f"  {op}: {n}" for op, n in sorted(CASES.items())]
    capture = pytestconfig.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        print("\n" + "\n".join(lines))


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


def model_for(seed, d=6, code=3, dtype=np.float32, tied=False, loss="bce"):
    return mlp_autoencoder([d, 5, code], activation="tanh", loss=loss, rng=seed, dtype=dtype,
                           tied=tied)


# ---- model builders ------------------------------------------------------------------------------

BUILDER_ARGS = ["sizes", "activation", "code_activation", "loss", "output_activation", "init",
                "rng", "dtype"]


@settings(max_examples=500, **SETTINGS)
@given(data=st.data())
def test_model_builders(data):
    kw = dict(sizes=data.draw(st.lists(st.integers(1, 9), min_size=2, max_size=4)),
              activation=data.draw(st.sampled_from(["relu", "tanh", "sigmoid", "elu", "softplus",
                                                    "leaky_relu", "identity"])),
              loss=data.draw(st.sampled_from(["bce", "mse"])),
              tied=data.draw(st.booleans()),
              rng=data.draw(st.one_of(st.none(), st.integers(0, 99))),
              dtype=data.draw(st.sampled_from([np.float32, np.float64, "float32"])))
    spoil = data.draw(st.sampled_from([None] + BUILDER_ARGS))
    if spoil == "sizes":
        kw["sizes"] = data.draw(st.one_of(
            JUNK, st.just([]), st.just([5]), st.just([4, 0, 2]), st.just([4, -2]),
            st.just([4.0, 2]), st.just(["4", 2]), st.just([4, True]), st.just([[4], 2])))
    elif spoil == "dtype":
        kw["dtype"] = data.draw(st.one_of(JUNK, st.sampled_from(
            [np.float16, np.int32, np.complex64, bool, object, "float128x"])))
    elif spoil is not None:
        kw[spoil] = data.draw(st.one_of(JUNK, st.just("no_such_thing"), st.just({"name": "elu", "beta": 2}),
                                        st.just({"name": ["relu"]})))
    ok, model = run("mlp_autoencoder", lambda: mlp_autoencoder(**kw), None if spoil is None
                    else [spoil, f"{spoil}[i]", "activation", "init"])
    if ok:
        d = model.input_dim
        X = np.random.default_rng(0).random((3, d))
        out = model.reconstruct(X)
        assert_finite_array(out, (3, d), model.dtype)
        if model.loss.name == "bce":
            assert ((out >= 0) & (out <= 1)).all()


# ---- inference: encode, decode, reconstruct, evaluate, layer calls ----------------------------------

@settings(max_examples=900, **SETTINGS)
@given(data=st.data(), seed=st.integers(0, 50), dtype=st.sampled_from([np.float32, np.float64]),
       tied=st.booleans(), method=st.sampled_from(["encode", "decode", "reconstruct", "evaluate",
                                                   "layer", "save_load"]))
def test_inference(data, seed, dtype, tied, method):
    model = model_for(seed, dtype=dtype, tied=tied)
    if method == "decode":
        kind, H, valid = data.draw(arrays(3, lo=-2, hi=2))
        ok, out = run("decode", lambda: model.decode(H), None if valid else ["H"])
        if ok:
            assert_finite_array(out, (len(np.asarray(H)), 6), dtype)
        return
    kind, X, valid = data.draw(arrays(6))
    if method == "encode":
        ok, out = run("encode", lambda: model.encode(X), None if valid else ["X"])
        if ok:
            assert_finite_array(out, (len(np.asarray(X)), 3), dtype)
    elif method == "reconstruct":
        ok, out = run("reconstruct", lambda: model.reconstruct(X), None if valid else ["X"])
        if ok:
            assert_finite_array(out, (len(np.asarray(X)), 6), dtype)
            assert ((out >= 0) & (out <= 1)).all()
    elif method == "evaluate":
        bs = data.draw(st.one_of(st.integers(1, 20), JUNK)) if valid else 16
        bs_ok = isinstance(bs, (int, np.integer)) and not isinstance(bs, bool) and bs > 0
        spoiled = None if valid and bs_ok else (["X"] if not valid else ["batch_size"])
        ok, out = run("evaluate", lambda: model.evaluate(X, batch_size=bs), spoiled)
        if ok:
            assert set(out) == {"loss", "reconstruction"}
            assert all(np.isfinite(v) and isinstance(v, float) for v in out.values())
    elif method == "layer":
        layer = model.encoder[0]
        ok, out = run("Dense.__call__", lambda: layer(X), None if valid else ["x", "X"])
        if ok:
            assert_finite_array(out, (len(np.asarray(X)), 5), dtype)
    elif method == "save_load":
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "m.npz")
            numpyae.save(model, path)
            loaded = numpyae.load(path)
            ok, out = run("load+reconstruct", lambda: loaded.reconstruct(X),
                          None if valid else ["X"])
            if ok:
                np.testing.assert_array_equal(out, model.reconstruct(X))


# ---- fit ------------------------------------------------------------------------------------

class _Nothing(Callback):
    pass


FIT_ARGS = ["X", "y", "epochs", "batch_size", "validation_data", "validation_split", "seed",
            "callbacks", "optimizer", "model", "checkpoint_every", "checkpoint", "resume"]


@settings(max_examples=500, **SETTINGS)
@given(data=st.data(), seed=st.integers(0, 50), dtype=st.sampled_from([np.float32, np.float64]),
       spoil=st.sampled_from([None, None] + FIT_ARGS))
def test_fit(data, seed, dtype, spoil):
    model = model_for(seed, dtype=dtype, tied=data.draw(st.booleans()),
                      loss=data.draw(st.sampled_from(["bce", "mse"])))
    opt = data.draw(st.sampled_from(["adam", "sgd"]))
    opt = Adam(model.parameters(), lr=1e-2) if opt == "adam" else SGD(model.parameters(), lr=0.1,
                                                                      momentum=0.5)
    _, X, _ = data.draw(arrays(6, allow_spoiled=False, min_rows=2))
    kw = dict(epochs=data.draw(st.integers(1, 2)), batch_size=data.draw(st.integers(1, 16)),
              seed=data.draw(st.one_of(st.none(), st.integers(0, 9))), progress=False,
              callbacks=[_Nothing()])
    args = [model, X, opt]
    if data.draw(st.booleans()):
        kw["validation_data"] = (np.random.default_rng(seed).random((3, 6)),)
    if spoil == "X":
        _, args[1], _ = data.draw(arrays(6).filter(lambda a: not a[2]))
    elif spoil == "y":
        kw["y"] = data.draw(st.one_of(JUNK, st.just(np.zeros(len(X) + 1, int)),
                                      st.just(np.full(len(X), -1)), st.just(np.full(len(X), 0.5)),
                                      st.just(np.zeros((len(X), 2), int))))
    elif spoil in ("epochs", "batch_size", "checkpoint_every"):
        kw[spoil] = data.draw(JUNK)
    elif spoil == "validation_data":
        kind, Xv, valid = data.draw(arrays(6).filter(lambda a: not a[2]))
        kw["validation_data"] = data.draw(st.sampled_from([(Xv,), Xv, [], (Xv, None, None)]))
        if kw["validation_data"] is Xv and Xv is None:
            kw["validation_data"] = (None,)
    elif spoil == "validation_split":
        kw["validation_split"] = data.draw(st.one_of(JUNK, st.sampled_from([1.0, 1.5, 1e-9])))
    elif spoil == "seed":
        kw["seed"] = data.draw(st.one_of(JUNK.filter(lambda s: s is not None and not (
            isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s >= 0))))
    elif spoil == "callbacks":
        kw["callbacks"] = data.draw(st.sampled_from([None, 3, [None], ["cb"], [_Nothing, 1]]))
    elif spoil == "optimizer":
        args[2] = data.draw(st.sampled_from([None, "adam", Adam, model.parameters()]))
    elif spoil == "model":
        args[0] = data.draw(st.sampled_from([None, "model", model.encoder, Dense(6, 6)]))
    elif spoil in ("checkpoint", "resume"):
        kw[spoil] = data.draw(st.sampled_from([3, 2.5, True, ["a"], b"x" if spoil == "x" else 7]))
    ok, history = run("fit", lambda: fit(*args, **kw), None if spoil is None else [
        spoil, "validation_data[0]", "validation_data[1]", "callbacks[0]", "callbacks[1]"])
    if ok:
        assert history.epochs == kw["epochs"]
        assert all(np.isfinite(v).all() for v in history.records.values())
        for p in model.parameters():
            assert_finite_array(p.value, dtype=dtype, what="parameter")


# ---- losses ---------------------------------------------------------------------------------

@settings(max_examples=600, **SETTINGS)
@given(data=st.data(), which=st.sampled_from(["mse", "mse_sum", "bce", "sce", "gaussian_nll"]),
       side=st.sampled_from([None, "output", "target"]))
def test_losses(data, which, side):
    loss = {"mse": MSE(), "mse_sum": MSE("sum"), "bce": BinaryCrossEntropy(),
            "sce": SoftmaxCrossEntropy(), "gaussian_nll": numpyae.GaussianNLL(logvar=-1.0)}[which]
    d = 4
    n = data.draw(st.integers(1, 8))
    rng = np.random.default_rng(data.draw(st.integers(0, 999)))
    dtype = data.draw(st.sampled_from([np.float32, np.float64]))
    output = rng.normal(size=(n, d)).astype(dtype)
    target = rng.integers(0, d, size=n) if which == "sce" else rng.random((n, d)).astype(dtype)
    if side == "output":
        # (for softmax cross-entropy another number of columns is just another number of classes)
        _, output, _ = data.draw(arrays(d, lo=-3, hi=3, min_rows=n, max_rows=n).filter(
            lambda a: not a[2] and not (which == "sce" and a[0] == "features")))
    elif side == "target":
        if which == "sce":
            target = data.draw(st.sampled_from([
                target.astype(float) + 0.5, np.full(n, d), np.full(n, -1), target[:-1],
                target[:, None], target.astype(complex), target.astype(object), None, "labels",
                np.append(target, 0), np.full(n, np.nan)]))
        else:
            _, target, _ = data.draw(arrays(d, min_rows=n, max_rows=n).filter(lambda a: not a[2]))
    ok, value = run(f"loss:{which}", lambda: loss(output, target),
                    None if side is None else [side])
    if ok:
        assert isinstance(value, float) and np.isfinite(value)
        grad = loss.backward()
        assert_finite_array(grad, (n, d), dtype, what="loss gradient")
    ok, _ = run("get_loss", lambda: get_loss(data.draw(st.one_of(JUNK, st.just("hinge")))),
                ["loss"])
    assert not ok


# ---- optimizers ------------------------------------------------------------------------------

OPT_ARGS = {SGD: ["parameters", "lr", "momentum", "nesterov", "weight_decay"],
            Adam: ["parameters", "lr", "betas", "eps", "weight_decay"],
            AdamW: ["parameters", "lr", "betas", "eps", "weight_decay"]}


@settings(max_examples=600, **SETTINGS)
@given(data=st.data(), cls=st.sampled_from([SGD, Adam, AdamW]))
def test_optimizers(data, cls):
    rng = np.random.default_rng(data.draw(st.integers(0, 999)))
    params = [Parameter(rng.normal(size=(3, 2)).astype(np.float32)),
              Parameter(np.zeros(2, np.float32))]
    kw = {"parameters": params, "lr": data.draw(st.floats(1e-4, 1.0))}
    if cls is SGD:
        kw["momentum"] = data.draw(st.sampled_from([0.0, 0.5, 0.9]))
        kw["nesterov"] = kw["momentum"] > 0 and data.draw(st.booleans())
    else:
        kw["betas"] = (data.draw(st.floats(0, 0.99)), data.draw(st.floats(0, 0.999)))
        kw["eps"] = data.draw(st.sampled_from([1e-8, 1e-3]))
    kw["weight_decay"] = data.draw(st.sampled_from([0.0, 1e-3]))
    spoil = data.draw(st.sampled_from([None] + OPT_ARGS[cls]))
    if spoil == "parameters":
        kw[spoil] = data.draw(st.sampled_from([[], None, 3, [1, 2], params + ["W"],
                                               np.zeros(3), "params", {"W": params[0]}]))
    elif spoil == "betas":
        kw[spoil] = data.draw(st.sampled_from([(0.9,), (0.9, 1.0), (-0.1, 0.9), (0.9, np.nan),
                                               "ab", 0.9, None, (0.9, 0.99, 0.9)]))
    elif spoil == "eps":
        kw[spoil] = data.draw(st.sampled_from([0, 0.0, -1e-8, np.nan, np.inf, "tiny", None]))
    elif spoil == "nesterov":
        kw["momentum"], kw["nesterov"] = 0.0, True
    elif spoil is not None:
        kw[spoil] = data.draw(st.one_of(JUNK, st.sampled_from([-0.5, 1.0, 2.0, np.inf])))
        if spoil == "lr" and isinstance(kw[spoil], float) and 0 < kw[spoil] < np.inf:
            kw[spoil] = -kw[spoil]
        if spoil == "weight_decay" and isinstance(kw[spoil], float) and 0 <= kw[spoil] < np.inf:
            kw[spoil] = -1.0
    momentum_bad = spoil == "momentum" and not (isinstance(kw["momentum"], (float, int, np.floating))
                                                 and not isinstance(kw["momentum"], bool)
                                                 and 0 <= kw["momentum"] < 1)
    if spoil == "momentum" and not momentum_bad and not (kw["nesterov"] and kw["momentum"] == 0):
        spoil = None  # a junk value that happens to be valid (e.g. 0, np.float32(0.5))
        # (but momentum 0 with nesterov=True stays a refusal: Nesterov needs momentum)
    ok, opt = run(f"optimizer:{cls.__name__}", lambda: cls(**kw),
                  None if spoil is None else [spoil, f"{spoil}[0]", f"{spoil}[1]", "momentum"])
    if ok:
        for p in params:
            p.grad[...] = rng.normal(size=p.value.shape) * data.draw(st.sampled_from([0.0, 1.0]))
        for _ in range(3):
            opt.step()
        for p in params:
            assert_finite_array(p.value, dtype=np.float32, what="parameter after step")


# ---- loading saved files ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("saved")
    model = model_for(0, tied=True)
    path = folder / "m.npz"
    numpyae.save(model, path)
    return model, path.read_bytes(), folder


@settings(max_examples=500, **SETTINGS)
@given(data=st.data(), how=st.sampled_from(["truncate", "flip", "junk", "drop", "replace",
                                            "object", "extra", "version"]))
def test_load_mutated_files(saved, data, how):
    model, good, folder = saved
    path = folder / "mutated.npz"
    if how == "truncate":
        raw = good[:data.draw(st.integers(0, len(good) - 1))]
    elif how == "flip":
        raw = bytearray(good)
        for _ in range(data.draw(st.integers(1, 4))):
            raw[data.draw(st.integers(0, len(good) - 1))] ^= data.draw(st.integers(1, 255))
        raw = bytes(raw)
    elif how == "junk":
        raw = data.draw(st.binary(max_size=300))
    else:
        with np.load(io.BytesIO(good), allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
        key = data.draw(st.sampled_from(sorted(arrays)))
        if how == "drop":
            del arrays[key]
        elif how == "replace":
            _, value, _ = data.draw(arrays_strategy_for_file(arrays[key]))
            arrays[key] = value
        elif how == "object":
            arrays[key] = np.array([{"x": 1}], dtype=object)
        elif how == "extra":
            arrays["param:" + data.draw(st.sampled_from(["zzz", "encoder.0.W.x"]))] = np.zeros(2)
        elif how == "version":
            arrays["__format__"] = np.array(data.draw(st.sampled_from([0, 2, -1, 10 ** 12])))
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        raw = buf.getvalue()
    path.write_bytes(raw)
    ok, loaded = run("load", lambda: numpyae.load(path), [str(path)])
    if ok:  # only a harmless change may load, and the model must then be sound
        X = np.random.default_rng(0).random((2, 6))
        assert_finite_array(loaded.reconstruct(X), (2, 6))


def arrays_strategy_for_file(original):
    @st.composite
    def strat(draw):
        choice = draw(st.sampled_from(["shape", "int", "complex", "f16", "nan", "str", "same"]))
        if choice == "shape":
            v = np.zeros(tuple(s + 1 for s in original.shape) or (2,), np.float32)
        elif choice == "int":
            v = np.zeros(original.shape, np.int64)
        elif choice == "complex":
            v = np.zeros(original.shape, np.complex64)
        elif choice == "f16":
            v = np.zeros(original.shape, np.float16)
        elif choice == "nan":
            v = np.full(original.shape, np.nan, np.float32)
        elif choice == "str":
            v = np.array("x")
        else:
            v = original.copy()
        return choice, v, choice == "same"
    return strat()


# ---- dataset loaders -----------------------------------------------------------------------------

def _offline(url, *a, **k):
    raise urllib.error.URLError("offline (robustness test)")


@settings(max_examples=400, **SETTINGS)
@given(data=st.data(), how=st.sampled_from(["bytes", "mutate", "args", "valid"]))
def test_loaders(data, how, tmp_path_factory, monkeypatch_module):
    folder = tmp_path_factory.getbasetemp() / "idx"
    folder.mkdir(exist_ok=True)
    path = folder / "f-idx"
    if how == "valid":  # a well-formed split of random size, gzipped or raw, must load exactly
        import gzip
        n, r, c = data.draw(st.integers(0, 5)), data.draw(st.integers(1, 6)), data.draw(st.integers(1, 6))
        rng = np.random.default_rng(n * 100 + r * 10 + c)
        images = rng.integers(0, 256, (n, r, c), dtype=np.uint8)
        labels = rng.integers(0, 10, n, dtype=np.uint8)
        gz = data.draw(st.booleans())
        sub = folder / f"valid-{n}-{r}-{c}-{int(gz)}"
        sub.mkdir(exist_ok=True)
        for name, arr, magic in (("t10k-images-idx3-ubyte", images, b"\0\0\x08\x03"),
                                 ("t10k-labels-idx1-ubyte", labels, b"\0\0\x08\x01")):
            raw = magic + b"".join(int(s).to_bytes(4, "big") for s in arr.shape) + arr.tobytes()
            (sub / (name + ".gz" if gz else name)).write_bytes(gzip.compress(raw) if gz else raw)
        as_images = data.draw(st.booleans())
        ok, (X, y) = run("load_idx_dataset", lambda: ds.load_mnist(
            "test", data_dir=sub, download=False, as_images=as_images), None)
        assert X.dtype == np.float32 and X.shape == ((n, r, c) if as_images else (n, r * c))
        assert ((X >= 0) & (X <= 1)).all() and np.array_equal(y, labels)
        np.testing.assert_array_equal(np.round(X * 255).astype(np.uint8).reshape(images.shape), images)
        return
    if how in ("bytes", "mutate"):
        if how == "bytes":
            raw = data.draw(st.binary(max_size=64))
        else:
            arr = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
            raw = bytearray(b"\0\0\x08\x03" + b"".join(int(s).to_bytes(4, "big") for s in arr.shape)
                            + arr.tobytes())
            for _ in range(data.draw(st.integers(1, 3))):
                raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
            raw = bytes(raw[:data.draw(st.integers(0, len(raw) + 2))])
            if data.draw(st.booleans()):
                import gzip
                raw = gzip.compress(raw)[:data.draw(st.integers(0, 80))]
        path.write_bytes(raw)
        ok, out = run("read_idx", lambda: ds.read_idx(path, magic=data.draw(
            st.sampled_from([None, ds.IDX_IMAGES_MAGIC, ds.IDX_LABELS_MAGIC]))), [str(path)])
        if ok:
            assert out.dtype == np.uint8 and out.size == int(np.prod(out.shape))
        return
    kw = dict(name=data.draw(st.sampled_from(["mnist", "fashion-mnist"])),
              split=data.draw(st.sampled_from(["train", "test"])),
              data_dir=str(folder / "empty"), download=data.draw(st.booleans()))
    spoil = data.draw(st.sampled_from(["name", "split", "data_dir"]))
    kw[spoil] = data.draw(st.one_of(JUNK, st.just("cifar")))
    if spoil == "data_dir" and isinstance(kw[spoil], str):
        kw[spoil] = str(folder / kw[spoil])
    run("load_idx_dataset", lambda: ds.load_idx_dataset(kw.pop("name"), **kw),
        [spoil, kw["data_dir"] if isinstance(kw["data_dir"], str) else spoil,
         str(kw["data_dir"])],
        documented=(ValueError, TypeError, FileNotFoundError))


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    mp.setattr(ds, "_urlopen", _offline)
    yield mp
    mp.undo()


# ---- train_validation_split and Dense --------------------------------------------------------------

@settings(max_examples=300, **SETTINGS)
@given(data=st.data(), spoil=st.sampled_from([None, "X", "y", "fraction", "seed"]))
def test_split(data, spoil):
    n = data.draw(st.integers(10, 14))  # every fraction drawn below leaves both sides non-empty
    X = np.random.default_rng(n).random((n, 3))
    kw = dict(y=np.arange(n), fraction=data.draw(st.sampled_from([0.2, 0.5, 0.9])),
              seed=data.draw(st.integers(0, 9)))
    if spoil == "X":
        X = data.draw(st.sampled_from([None, "X", 3.0, np.zeros((1, 3)), np.zeros((0, 3)),
                                       [[1, 2], [3]], np.zeros(n, complex), np.zeros(n, object)]))
        if isinstance(X, np.ndarray) and X.dtype.kind in "cO":  # any dtype splits; y must fit
            spoil = None
    elif spoil == "y":
        kw["y"] = data.draw(st.sampled_from([3, "y", np.arange(n + 1), [[1, 2], [3]], {"a": 1}]))
    elif spoil == "fraction":
        kw["fraction"] = data.draw(st.one_of(JUNK, st.sampled_from([1.0, 0.0, 1e-9, 0.9999])))
        if kw["fraction"] == 0.9999 and n > 2:
            kw["fraction"] = 1.0
    elif spoil == "seed":
        kw["seed"] = data.draw(st.sampled_from([-1, 1.5, "s", [1]]))
    ok, out = run("train_validation_split", lambda: train_validation_split(X, **kw),
                  None if spoil is None else [spoil])
    if ok:
        X_tr, X_va, y_tr, y_va = out
        assert len(X_tr) + len(X_va) == len(X) and len(X_tr) == len(y_tr) and len(X_va) == len(y_va)


@settings(max_examples=500, **SETTINGS)
@given(data=st.data(), spoil=st.sampled_from([None, "n_in", "n_out", "activation", "init", "rng",
                                              "dtype", "x"]))
def test_dense(data, spoil):
    kw = dict(n_in=data.draw(st.integers(1, 6)), n_out=data.draw(st.integers(1, 6)),
              activation=data.draw(st.sampled_from(["relu", "tanh", "sigmoid", None])),
              init=data.draw(st.sampled_from([None, "glorot_uniform", "he_normal", "zeros"])),
              rng=data.draw(st.integers(0, 9)),
              dtype=data.draw(st.sampled_from([np.float32, np.float64])))
    if spoil in kw:
        kw[spoil] = data.draw(st.one_of(JUNK, st.just("bogus"), st.just(10 ** 20)))
        if spoil in ("activation", "init") and kw[spoil] is None:
            kw[spoil] = "bogus"
        if spoil == "rng" and (kw[spoil] is None or (isinstance(kw[spoil], (int, np.integer))
                                                     and not isinstance(kw[spoil], bool)
                                                     and kw[spoil] >= 0)):
            kw[spoil] = -1
    ok, layer = run("Dense", lambda: Dense(**kw), None if spoil is None else [spoil])
    if not ok:
        return
    kind, x, valid = data.draw(arrays(layer.n_in, lo=-2, hi=2))
    ok, y = run("Dense.__call__", lambda: layer(x), None if valid else ["x"])
    if ok:
        assert_finite_array(y, (len(np.asarray(x)), layer.n_out), kw["dtype"])


# ---- training that diverges stops with a NonFiniteError, last good parameters kept ----------------

@settings(max_examples=40, **SETTINGS)
@given(seed=st.integers(0, 99), lr=st.floats(1e4, 1e12), loss=st.sampled_from(["bce", "mse"]))
def test_divergence_is_caught(seed, lr, loss):
    CASES["fit (diverging)"] += 1
    model = mlp_autoencoder([6, 5, 3], activation="relu", code_activation="identity", loss=loss,
                            output_activation="identity", rng=seed)
    X = np.random.default_rng(seed).random((16, 6), dtype=np.float32)
    opt = SGD(model.parameters(), lr=lr)
    with np.errstate(all="ignore"), time_limit():
        try:
            fit(model, X, opt, epochs=30, batch_size=4, seed=seed, progress=False)
            OUTCOMES["ok"] += 1
        except NonFiniteError as exc:
            assert re.search(r"epoch \d+, step \d+ of 4", str(exc)), str(exc)
            OUTCOMES["refused"] += 1
    for p in model.parameters():  # either way, never NaN parameters
        assert np.isfinite(p.value).all()


@pytest.mark.parametrize("kind", ["autoencoder", "vae"])
def test_overflowing_last_update_is_caught_and_undone(kind):
    """An update that overflows is undone (models.base.guarded_update): the VAE's train_step
    goes through the same guard as the base Model's."""
    CASES["fit (diverging)"] += 1
    model = (mlp_autoencoder([6, 5, 3], rng=0) if kind == "autoencoder"
             else numpyae.mlp_vae([6, 5, 2], seed=0))
    before = [p.value.copy() for p in model.parameters()]
    X = np.random.default_rng(0).random((8, 6), dtype=np.float32)
    with np.errstate(all="ignore"), pytest.raises(NonFiniteError,
                                                   match=r"epoch 1, step 1 of 1: .*(overflow|NaN)"):
        fit(model, X, SGD(model.parameters(), lr=1e300), epochs=1, batch_size=8, progress=False)
    for p, b in zip(model.parameters(), before):
        np.testing.assert_array_equal(p.value, b)
    OUTCOMES["refused"] += 1


# ---- the other models: VAE, CVAE, AAE, Classifier -------------------------------------------------

def _other_model(which, seed):
    if which == "vae":
        return numpyae.mlp_vae([6, 5, 2], seed=seed)
    if which == "cvae":
        return numpyae.mlp_cvae([6, 5, 2], 3, seed=seed)
    if which == "aae":
        return numpyae.mlp_aae([6, 5, 2], discriminator=(4,), seed=seed)
    return numpyae.mlp_classifier([6, 5], 3, rng=seed)


@settings(max_examples=400, **SETTINGS)
@given(data=st.data(), which=st.sampled_from(["vae", "cvae", "aae", "classifier"]),
       seed=st.integers(0, 20),
       method=st.sampled_from(["encode", "decode", "reconstruct", "sample", "predict", "fit", "y"]))
def test_other_models(data, which, seed, method):
    model = _other_model(which, seed)
    labelled = which in ("cvae", "classifier")
    n = data.draw(st.integers(1, 6))
    y_ok = np.arange(n) % 3 if labelled else None
    X_ok = np.random.default_rng(seed).random((n, 6))
    if method == "y":  # spoiled labels
        if not labelled:
            return
        y = data.draw(st.sampled_from([np.full(n, 3), np.full(n, -1), np.arange(n + 1) % 3,
                                       np.full(n, 0.5), None, "y", np.zeros((n, 2), int),
                                       np.full(n, np.nan)]))
        fn = {"cvae": lambda: model.reconstruct(X_ok, y), "classifier": lambda: model.score(X_ok, y)}
        run(f"{which}:labels", fn[which], ["y"])
        return
    if method == "fit":
        kind, X, valid = data.draw(arrays(6, min_rows=2))
        opt = model.make_optimizers() if which == "aae" else Adam(model.parameters(), lr=1e-2)
        ok, h = run(f"{which}:fit", lambda: fit(model, X, opt, y=None if not labelled else
                                                np.arange(len(np.asarray(X))) % 3 if valid else y_ok,
                                                epochs=1, batch_size=4, progress=False, seed=0),
                    None if valid else ["X", "y"])
        if ok:
            assert all(np.isfinite(v).all() for v in h.records.values())
        return
    if method == "sample":
        if which == "classifier":
            return
        k = data.draw(st.one_of(st.integers(1, 5), JUNK))
        k_ok = isinstance(k, (int, np.integer)) and not isinstance(k, bool) and k > 0
        args = (k, y_ok[:1].repeat(k) if labelled and k_ok else None) if which == "cvae" else (k,)
        ok, out = run(f"{which}:sample", lambda: model.sample(*args), None if k_ok else ["n"])
        if ok:
            assert_finite_array(out, (k, 6), np.float32)
        return
    if method == "decode":
        if which == "classifier":
            return
        kind, Z, valid = data.draw(arrays(2, lo=-2, hi=2))
        yy = (np.arange(len(np.asarray(Z))) % 3 if valid else y_ok) if labelled else None
        ok, out = run(f"{which}:decode", lambda: model.decode(Z, yy) if labelled else model.decode(Z),
                      None if valid else ["Z", "H", "y"])
        if ok:
            assert_finite_array(out, (len(np.asarray(Z)), 6), np.float32)
        return
    kind, X, valid = data.draw(arrays(6))
    yy = (np.arange(len(np.asarray(X))) % 3 if valid else y_ok) if labelled else None
    if method == "predict":
        if which != "classifier":
            return
        ok, out = run("classifier:predict_proba", lambda: model.predict_proba(X),
                      None if valid else ["X"])
        if ok:
            assert_finite_array(out, (len(np.asarray(X)), 3), np.float32)
            np.testing.assert_allclose(out.sum(1), 1, rtol=1e-5)
        return
    if method == "reconstruct" and which == "classifier":
        return
    fn = getattr(model, method)
    ok, out = run(f"{which}:{method}", lambda: fn(X, yy) if which == "cvae" else fn(X),
                  None if valid else ["X", "y"])
    if ok:
        assert_finite_array(out, dtype=np.float32)
        assert len(out) == len(np.asarray(X))
