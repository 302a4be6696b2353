"""The battery's "API arguments" area: bad arguments to the public API, tried systematically
(Hypothesis) and with the exact inputs of the robustness issue.

Model builders and presets, inference (encode, decode, reconstruct, evaluate, a layer call, a
reloaded model), fit's arguments, losses and likelihoods, optimizers, Dense, the VAE, CVAE, AAE
and Classifier entry points, callbacks, and the teaching tools (gradient checker, tracer,
exercise checker). Every case has at most one argument spoiled (random shapes; dtypes: ints,
bools, float16, complex, object; NaN and inf; empty arrays; wrong Python types; strings for
bools) and knows whether the spoiled value is invalid (it must be refused with a message naming
the argument), valid (the call must succeed and its result must be right: finite, the right
shape and dtype, equal to a float64 reference where there is one) or either.

Each case lands in one column of the tally (robustness_helpers); a test fails if any of its
cases is an obscure crash, silent garbage or data lost.
"""
import os
import sys
import tempfile
import types
import warnings

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import numpyae
from numpyae import (SGD, Adam, AdamW, Bernoulli, BinaryCrossEntropy, Callback, Dense,
                     EarlyStopping, MSE, Parameter, SoftmaxCrossEntropy, fit, get_loss,
                     mlp_autoencoder)
from robustness_helpers import (BOOL_JUNK, CRASH, JUNK, RNGS, SETTINGS, Battery, arrays, describe,
                                digits, finite_array, first_problem, is_positive_int, is_seed,
                                model_for)

battery = Battery("API arguments")


def _real(value):
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def _real_in(value, lo, hi, *, lo_open=False, hi_open=False):
    if not _real(value) or not np.isfinite(value):
        return False
    return (value > lo if lo_open else value >= lo) and (value < hi if hi_open else value <= hi)


# ---- model builders ------------------------------------------------------------------------------

BUILDER_ARGS = ["sizes", "activation", "code_activation", "loss", "output_activation", "init",
                "rng", "dtype", "tied"]
ACTIVATIONS = ["relu", "tanh", "sigmoid", "elu", "softplus", "leaky_relu", "identity"]


def _builder_validity(spoil, value):
    """True / False / None (either) for a spoiled builder argument."""
    if spoil == "sizes":
        ok = (isinstance(value, list) and len(value) >= 2
              and all(is_positive_int(s) for s in value))
        return True if ok else False
    if spoil == "dtype":
        if value is None:
            return None
        try:
            return np.dtype(value).type in (np.float32, np.float64) and not isinstance(value, bool)
        except TypeError:
            return False
    if spoil == "rng":
        return value is None or is_seed(value) or isinstance(value, np.random.Generator)
    if spoil == "tied":
        return True if isinstance(value, (bool, np.bool_)) else False
    if value is None:  # an activation / init / loss of None: the default, or refused
        return None
    return False


@settings(max_examples=450, **SETTINGS)
@given(data=st.data())
def test_model_builders(data):
    kw = dict(sizes=data.draw(st.lists(st.integers(1, 9), min_size=2, max_size=4)),
              activation=data.draw(st.sampled_from(ACTIVATIONS)),
              loss=data.draw(st.sampled_from(["bce", "mse"])),
              tied=data.draw(st.booleans()),
              rng=data.draw(RNGS),
              dtype=data.draw(st.sampled_from([np.float32, np.float64, "float32"])))
    spoil = data.draw(st.sampled_from([None] + BUILDER_ARGS))
    if spoil == "sizes":
        kw["sizes"] = data.draw(st.one_of(
            JUNK, st.just([]), st.just([5]), st.just([4, 0, 2]), st.just([4, -2]),
            st.just([4.0, 2]), st.just(["4", 2]), st.just([4, True]), st.just([[4], 2])))
    elif spoil == "dtype":
        kw["dtype"] = data.draw(st.one_of(JUNK, st.sampled_from(
            [np.float16, np.int32, np.complex64, bool, object, "float128x"])))
    elif spoil == "tied":
        kw["tied"] = data.draw(st.one_of(BOOL_JUNK, st.just(np.bool_(True))))
    elif spoil is not None:
        kw[spoil] = data.draw(st.one_of(JUNK, st.just("no_such_thing"),
                                        st.just({"name": "elu", "beta": 2}),
                                        st.just({"name": ["relu"]})))
    valid = True if spoil is None else _builder_validity(spoil, kw[spoil])
    if spoil == "output_activation" and kw[spoil] is None:
        valid = True  # None is the documented default

    def check(model):
        d = kw["sizes"][0] if isinstance(kw["sizes"], list) and kw["sizes"] else None
        X = np.random.default_rng(0).random((3, model.input_dim))
        out = model.reconstruct(X)
        lo_hi = (0, 1) if model.loss.name == "bce" else (None, None)
        return first_problem(
            None if d is None or model.input_dim == d else f"input_dim {model.input_dim}, sizes {kw['sizes']}",
            finite_array(out, (3, model.input_dim), model.dtype, "reconstruction", *lo_hi),
            _tied_problem(model, kw.get("tied")) if spoil == "tied" else None)
    battery.attempt("mlp_autoencoder", lambda: mlp_autoencoder(**kw), valid=valid,
                    names=[spoil, f"{spoil}[0]", f"{spoil}[1]", f"{spoil}[2]", "activation", "init"],
                    check=check, inputs=describe(**kw))


def _tied_problem(model, tied):
    """Whether the model's tying matches bool(tied)."""
    from numpyae import TiedDense
    is_tied = any(isinstance(layer, TiedDense) for layer in model.decoder.layers)
    return None if is_tied == bool(tied) else f"tied={tied!r} built a model with tied={is_tied}"


def test_output_activation_sigmoid_with_bce_on_logits():
    """output_activation="sigmoid" with BCE on logits: refused, or the sigmoid applied once."""
    X = np.random.default_rng(0).random((4, 6))

    def check(model):
        raw = model.decoder.forward(model.encoder.forward(model.check_input(X), training=False),
                                    training=False)
        rec = model.reconstruct(X)
        sig = 1 / (1 + np.exp(-raw.astype(np.float64)))
        if (raw > 0).all() and (raw < 1).all() and np.allclose(rec, sig, rtol=1e-5):
            return "the sigmoid is applied twice: reconstructions are sigmoid(sigmoid(a))"
        return finite_array(rec, (4, 6), lo=0, hi=1)
    for loss in ("bce", BinaryCrossEntropy()):
        battery.attempt("mlp_autoencoder", lambda: mlp_autoencoder(
            [6, 3], loss=loss, output_activation="sigmoid", rng=0), valid=None,
            names=["output_activation", "loss"], check=check, defect=11,
            inputs=f"[6, 3], loss={loss!r}, output_activation='sigmoid'")


# ---- presets and parts --------------------------------------------------------------------------

def _presets():
    from numpyae import (ContractiveAutoencoder, DenoisingAutoencoder, KSparseAutoencoder,
                         L1SparseAutoencoder, SparseAutoencoder)
    real = lambda lo, hi, **o: (lambda v: _real_in(v, lo, hi, **o))
    pos = lambda v: _real_in(v, 0, np.inf)
    return {
        DenoisingAutoencoder: {"level": (0.2, real(0, 1, hi_open=True)),
                               "noise": ("masking", lambda v: v in ("masking", "gaussian",
                                                                     "salt_and_pepper")),
                               "loss": ("bce", lambda v: v in ("bce", "mse")),
                               "activation": ("sigmoid", lambda v: v in ACTIVATIONS)},
        SparseAutoencoder: {"rho": (0.05, real(0, 1, lo_open=True, hi_open=True)),
                            "beta": (3.0, pos), "weight_decay": (1e-4, pos)},
        L1SparseAutoencoder: {"beta": (0.02, pos), "weight_decay": (1e-4, pos)},
        KSparseAutoencoder: {"k": (2, lambda v: is_positive_int(v) and v <= 4)},
        ContractiveAutoencoder: {"lam": (0.1, pos)},
    }


@settings(max_examples=250, **SETTINGS)
@given(data=st.data())
def test_presets(data):
    presets = _presets()
    cls = data.draw(st.sampled_from(sorted(presets, key=lambda c: c.__name__)))
    args = presets[cls]
    kw = {k: v for k, (v, _) in args.items()}
    kw.update(rng=data.draw(st.integers(0, 9)))
    spoil = data.draw(st.sampled_from([None, "sizes", "tied", "rng", "dtype"] + sorted(args)))
    valid = True
    if spoil == "sizes":
        kw["sizes"] = data.draw(st.sampled_from([[6], [6, 0], [6, -4], "64", [6.0, 4], None,
                                                 [6, True], [[6], 4]]))
        valid = False
    elif spoil == "tied":
        kw["tied"] = data.draw(BOOL_JUNK)
        valid = False
    elif spoil == "rng":
        kw["rng"] = data.draw(st.sampled_from([-1, 1.5, "seed", [0], True]))
        valid = False
    elif spoil == "dtype":
        kw["dtype"] = data.draw(st.sampled_from([np.int32, "float16", complex, "x"]))
        valid = False
    elif spoil is not None:
        kw[spoil] = data.draw(st.one_of(JUNK, st.sampled_from([0, 0.0, 1.0, -0.1, 2, 5, np.nan,
                                                               "x", "bogus", 1e300])))
        valid = bool(args[spoil][1](kw[spoil]))
    kw.setdefault("sizes", [6, 4])

    def check(model):
        X = np.random.default_rng(1).random((3, 6))
        out = model.reconstruct(X)
        problem = finite_array(out, (3, 6), model.dtype, "reconstruction")
        if problem is None and spoil is None:
            terms = model.evaluate(X)
            if not all(np.isfinite(v) for v in terms.values()):
                problem = f"evaluate gave {terms}"
        return problem
    battery.attempt(f"{cls.__name__}", lambda: cls(**kw), valid=valid,
                    names=[spoil, f"{spoil}[0]", f"{spoil}[1]", "noise", "level"],
                    check=check, inputs=describe(**kw))


PART_CASES = {
    # constructor: {argument: (valid value, validity of a value)}
    "GaussianNoise": ({"std": (0.1, lambda v: _real_in(v, 0, np.inf))}),
    "MaskingNoise": ({"p": (0.2, lambda v: _real_in(v, 0, 1, hi_open=True))}),
    "SaltAndPepper": ({"p": (0.2, lambda v: _real_in(v, 0, 1, hi_open=True))}),
    "KLSparsity": ({"rho": (0.05, lambda v: _real_in(v, 0, 1, lo_open=True, hi_open=True)),
                    "beta": (3.0, lambda v: _real_in(v, 0, np.inf))}),
    "L1Activity": ({"beta": (1e-3, lambda v: _real_in(v, 0, np.inf))}),
    "WeightDecay": ({"lam": (1e-4, lambda v: _real_in(v, 0, np.inf))}),
    "Contractive": ({"lam": (0.1, lambda v: _real_in(v, 0, np.inf))}),
    "TopK": ({"k": (2, is_positive_int)}),
    "EarlyStopping": ({"patience": (3, is_positive_int),
                       "min_delta": (0.0, lambda v: _real_in(v, 0, np.inf)),
                       "monitor": ("val_loss", lambda v: isinstance(v, str) and v != ""),
                       "restore_best": (True, lambda v: isinstance(v, (bool, np.bool_)))}),
    "PCA": ({"n_components": (2, is_positive_int)}),
    "ZCAWhitening": ({"epsilon": (1e-2, lambda v: None if _real(v) and v == 0
                                  else _real_in(v, 0, np.inf, lo_open=True))}),
    "StandardGaussian": ({"dim": (2, is_positive_int)}),
    "GaussianMixture": ({"dim": (2, is_positive_int), "n_components": (3, is_positive_int),
                         "radius": (4.0, lambda v: _real_in(v, 0, np.inf)),
                         "std": (0.5, lambda v: _real_in(v, 0, np.inf, lo_open=True))}),
}


@settings(max_examples=300, **SETTINGS)
@given(data=st.data())
def test_parts(data):
    """Corruptions, penalties, TopK, EarlyStopping, PCA, ZCA, priors: one argument spoiled."""
    name = data.draw(st.sampled_from(sorted(PART_CASES)))
    args = PART_CASES[name]
    cls = getattr(numpyae, name)
    kw = {k: v for k, (v, _) in args.items()}
    spoil = data.draw(st.sampled_from([None] + sorted(args)))
    if spoil is not None:
        kw[spoil] = data.draw(st.one_of(JUNK, BOOL_JUNK, st.sampled_from(
            [0, 0.0, 1.0, -0.5, 2, 10 ** 6, np.nan, -np.inf, "x"])))
    valid = True if spoil is None else args[spoil][1](kw[spoil])
    valid = valid if valid is None else bool(valid)
    if name == "GaussianMixture" and spoil in ("dim", "n_components") and valid \
            and kw[spoil] > 1000:
        valid = None  # a huge mixture: refused, or built
    battery.attempt(name, lambda: cls(**kw), valid=valid, names=[spoil], inputs=describe(**kw),
                    defect=17 if name == "EarlyStopping" and spoil == "min_delta" else None)


# ---- inference: encode, decode, reconstruct, evaluate, layer calls ----------------------------------

@settings(max_examples=800, **SETTINGS)
@given(data=st.data(), seed=st.integers(0, 50), dtype=st.sampled_from([np.float32, np.float64]),
       tied=st.booleans(), method=st.sampled_from(["encode", "decode", "reconstruct", "evaluate",
                                                   "layer", "save_load"]))
def test_inference(data, seed, dtype, tied, method):
    model = model_for(seed, dtype=dtype, tied=tied)
    if method == "decode":
        kind, H, valid = data.draw(arrays(3, lo=-2, hi=2))
        battery.attempt("decode", lambda: model.decode(H), valid=valid, names=["H"],
                        check=lambda out: finite_array(out, (len(np.asarray(H)), 6), dtype,
                                                       lo=0, hi=1),
                        inputs=describe(H=H))
        return
    kind, X, valid = data.draw(arrays(6))
    n = len(X) if valid else None
    if method == "encode":
        battery.attempt("encode", lambda: model.encode(X), valid=valid, names=["X"],
                        check=lambda out: finite_array(out, (n, 3), dtype), inputs=describe(X=X))
    elif method == "reconstruct":
        battery.attempt("reconstruct", lambda: model.reconstruct(X), valid=valid, names=["X"],
                        check=lambda out: finite_array(out, (n, 6), dtype, lo=0, hi=1),
                        inputs=describe(X=X))
    elif method == "evaluate":
        bs = data.draw(st.one_of(st.integers(1, 20), JUNK)) if valid else 16
        bs_ok = is_positive_int(bs)

        def check(out):
            if set(out) != {"loss", "reconstruction"}:
                return f"terms {sorted(out)}"
            if not all(isinstance(v, float) and np.isfinite(v) for v in out.values()):
                return f"terms {out}"
            ref = model.evaluate(np.asarray(X, dtype=dtype), batch_size=len(X))["loss"]
            if not np.isclose(out["loss"], ref, rtol=1e-5):
                return f"loss {out['loss']} depends on batch_size (whole batch: {ref})"
            return None
        battery.attempt("evaluate", lambda: model.evaluate(X, batch_size=bs),
                        valid=valid and bs_ok, names=["X"] if not valid else ["batch_size"],
                        check=check, inputs=describe(X=X, batch_size=bs))
    elif method == "layer":
        layer = model.encoder[0]
        battery.attempt("Dense.__call__", lambda: layer(X), valid=valid, names=["x", "X"],
                        check=lambda out: finite_array(out, (n, 5), dtype), inputs=describe(X=X))
    elif method == "save_load":
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "m.npz")
            numpyae.save(model, path)
            loaded = numpyae.load(path)

            def check(out):
                if not np.array_equal(out, model.reconstruct(X)):
                    return "a reloaded model reconstructs differently"
                return None
            battery.attempt("load+reconstruct", lambda: loaded.reconstruct(X), valid=valid,
                            names=["X"], check=check, inputs=describe(X=X))


# ---- fit ------------------------------------------------------------------------------------

class _Nothing(Callback):
    pass


FIT_ARGS = ["X", "y", "epochs", "batch_size", "validation_data", "validation_split", "rng",
            "callbacks", "optimizer", "model", "checkpoint_every", "checkpoint", "resume",
            "shuffle", "range"]


@settings(max_examples=450, **SETTINGS)
@given(data=st.data(), seed=st.integers(0, 50), dtype=st.sampled_from([np.float32, np.float64]),
       spoil=st.sampled_from([None, None] + FIT_ARGS))
def test_fit(data, seed, dtype, spoil):
    loss = data.draw(st.sampled_from(["bce", "mse"]))
    model = model_for(seed, dtype=dtype, tied=data.draw(st.booleans()), loss=loss)
    opt = data.draw(st.sampled_from(["adam", "sgd"]))
    opt = Adam(model.parameters(), lr=1e-2) if opt == "adam" else SGD(model.parameters(), lr=0.1,
                                                                      momentum=0.5)
    _, X, _ = data.draw(arrays(6, allow_spoiled=False, min_rows=2))
    kw = dict(epochs=data.draw(st.integers(1, 2)), batch_size=data.draw(st.integers(1, 16)),
              rng=data.draw(RNGS), progress=False, callbacks=[_Nothing()])
    args = [model, X, opt]
    if data.draw(st.booleans()):
        kw["validation_data"] = (np.random.default_rng(seed).random((3, 6)),)
    valid, defect = False, None
    if spoil is None:
        valid = True
    elif spoil == "X":
        _, args[1], _ = data.draw(arrays(6).filter(lambda a: not a[2]))
    elif spoil == "y":  # a plain Autoencoder takes no labels: any y is an ignored argument
        kw["y"] = data.draw(st.one_of(JUNK, st.just(np.zeros(len(X) + 1, int)),
                                      st.just(np.full(len(X), -1)), st.just(np.full(len(X), 0.5)),
                                      st.just(np.zeros((len(X), 2), int)),
                                      st.just(np.arange(len(X)) % 3)))
        valid, defect = kw["y"] is None, 11
    elif spoil in ("epochs", "batch_size", "checkpoint_every"):
        kw[spoil] = data.draw(JUNK)
        valid = is_positive_int(kw[spoil])
    elif spoil == "validation_data":
        kind, Xv, _ = data.draw(arrays(6).filter(lambda a: not a[2]))
        kw["validation_data"] = data.draw(st.sampled_from([(Xv,), Xv, [], (Xv, None, None)]))
        if kw["validation_data"] is Xv and Xv is None:
            kw["validation_data"] = (None,)
    elif spoil == "validation_split":
        kw["validation_split"] = data.draw(st.one_of(JUNK, st.sampled_from([1.0, 1.5, 1e-9])))
        v = kw["validation_split"]
        valid = v is None or (_real_in(v, 0, 1, lo_open=True, hi_open=True)
                              and 1 <= round(float(v) * len(X)) < len(X))
        if valid:
            kw.pop("validation_data", None)
    elif spoil == "rng":
        kw["rng"] = data.draw(JUNK.filter(lambda s: s is not None and not is_seed(s)))
    elif spoil == "callbacks":
        kw["callbacks"] = data.draw(st.sampled_from([None, 3, [None], ["cb"], [_Nothing, 1]]))
        valid = None if kw["callbacks"] is None else False
    elif spoil == "optimizer":
        other = model_for(seed + 1, dtype=dtype)
        args[2] = data.draw(st.sampled_from([None, "adam", Adam, model.parameters(),
                                             Adam(other.parameters(), lr=1e-2)]))
        defect = 10 if isinstance(args[2], Adam) else None
    elif spoil == "model":
        args[0] = data.draw(st.sampled_from([None, "model", model.encoder, Dense(6, 6)]))
    elif spoil in ("checkpoint", "resume"):
        kw[spoil] = data.draw(st.sampled_from([3, 2.5, True, ["a"], 7, b"\0bad"]))
    elif spoil == "shuffle":
        kw["shuffle"] = data.draw(BOOL_JUNK)
    elif spoil == "range":  # targets a BCE model cannot reconstruct: pixel values 0..255
        args[1] = np.asarray(X, dtype=np.float64) * 255 + 1
        valid, defect = (False, 4) if loss == "bce" else (None, None)
    if "validation_split" in kw and "validation_data" in kw and spoil != "validation_split":
        kw.pop("validation_split")
    before = [p.value.copy() for p in model.parameters()]

    def check(history):
        if history.epochs != kw["epochs"]:
            return f"History has {history.epochs} epochs, asked for {kw['epochs']}"
        if not all(np.isfinite(v).all() for v in history.records.values()):
            return "History holds NaN or inf"
        for p, b in zip(model.parameters(), before):
            problem = finite_array(p.value, dtype=dtype, what="parameter")
            if problem:
                return problem
        if all(np.array_equal(p.value, b) for p, b in zip(model.parameters(), before)):
            return "training changed no parameter"
        if loss == "bce" and min(history["loss"]) < 0:
            return f"BCE loss {min(history['loss'])} < 0"
        return None
    battery.attempt("fit", lambda: fit(*args, **kw), valid=valid, check=check, defect=defect,
                    names=[spoil, "validation_data[0]", "validation_data[1]", "callbacks[0]",
                           "callbacks[1]", "X" if spoil == "range" else spoil],
                    documented=(ValueError, TypeError, numpyae.NonFiniteError, OSError),
                    inputs=describe(spoil=spoil, **{k: v for k, v in kw.items()
                                                    if k not in ("progress", "callbacks")}),
                    before_work=True)


# ---- losses and likelihoods ---------------------------------------------------------------------

def _reference_loss(which, o, t):
    """Float64 reference value and gradient of the library's losses."""
    o, n = o.astype(np.float64), len(o)
    if which in ("mse", "mse_sum"):
        t = t.astype(np.float64)
        c = 1 / o.size if which == "mse" else 1 / n
        return c * np.sum((o - t) ** 2), 2 * c * (o - t)
    if which == "bce":
        t = t.astype(np.float64)
        c = 1 / o.size
        return c * np.sum(np.logaddexp(0, o) - t * o), c * (1 / (1 + np.exp(-o)) - t)
    if which == "sce":
        m = o.max(1, keepdims=True)
        logp = o - m - np.log(np.exp(o - m).sum(1, keepdims=True))
        g = np.exp(logp)
        g[np.arange(n), t] -= 1
        return -logp[np.arange(n), t].sum() / n, g / n
    if which == "bernoulli":
        t = t.astype(np.float64)
        return np.sum(np.logaddexp(0, o) - t * o) / n, (1 / (1 + np.exp(-o)) - t) / n
    return None, None


@settings(max_examples=600, **SETTINGS)
@given(data=st.data(),
       which=st.sampled_from(["mse", "mse_sum", "bce", "sce", "gaussian_nll", "bernoulli"]),
       side=st.sampled_from([None, None, "output", "target", "range"]))
def test_losses(data, which, side):
    d = 4
    loss = {"mse": MSE(), "mse_sum": MSE("sum"), "bce": BinaryCrossEntropy(),
            "sce": SoftmaxCrossEntropy(), "gaussian_nll": numpyae.GaussianNLL(logvar=-1.0),
            "bernoulli": Bernoulli()}[which]
    n = data.draw(st.integers(1, 8))
    rng = np.random.default_rng(data.draw(st.integers(0, 999)))
    dtype = data.draw(st.sampled_from([np.float32, np.float64]))
    scale = data.draw(st.sampled_from([1.0, 1.0, 30.0, 1e3]))
    output = (rng.normal(size=(n, d)) * scale).astype(dtype)
    target = rng.integers(0, d, size=n) if which == "sce" else rng.random((n, d)).astype(dtype)
    valid, defect = True, None
    if side == "output":
        # (for softmax cross-entropy another number of columns is just another number of classes)
        _, output, _ = data.draw(arrays(d, lo=-3, hi=3, min_rows=n, max_rows=n).filter(
            lambda a: not a[2] and not (which == "sce" and a[0] == "features")))
        valid = False
    elif side == "target":
        if which == "sce":
            target = data.draw(st.sampled_from([
                target.astype(float) + 0.5, np.full(n, d), np.full(n, -1), target[:-1],
                target[:, None], target.astype(complex), target.astype(object), None, "labels",
                np.append(target, 0), np.full(n, np.nan)]))
        else:
            _, target, _ = data.draw(arrays(d, min_rows=n, max_rows=n).filter(lambda a: not a[2]))
        valid = False
    elif side == "range":  # targets outside [0, 1]: BCE and Bernoulli are unbounded below
        if which in ("bce", "bernoulli"):
            target = data.draw(st.sampled_from([target * 255, target - 1.5, np.full((n, d), -3.0),
                                                target + 1e-3 + 1.0])).astype(dtype)
            valid, defect = False, 4
        elif which == "sce":
            return
    with np.errstate(all="ignore"):
        ref, ref_grad = (_reference_loss(which, np.asarray(output), np.asarray(target))
                         if valid else (None, None))

    def check(value):
        if not (isinstance(value, float) and np.isfinite(value)):
            return f"loss {value!r}"
        if which in ("bce", "mse", "mse_sum", "sce", "bernoulli") and value < 0:
            return f"loss {value} < 0"
        if ref is not None and not np.isclose(value, ref, rtol=1e-4, atol=1e-6):
            return f"loss {value}, float64 reference {ref}"
        if isinstance(loss, Bernoulli):
            return None
        grad = loss.backward()
        problem = finite_array(grad, (n, d), dtype, what="loss gradient")
        if problem is None and ref_grad is not None and not np.allclose(
                grad, ref_grad, rtol=1e-3, atol=1e-6 * max(1.0, np.abs(ref_grad).max())):
            problem = f"gradient differs from the float64 reference by {np.abs(grad - ref_grad).max():.3g}"
        return problem
    battery.attempt(f"loss:{which}", lambda: loss(output, target), valid=valid,
                    names=[side if side != "range" else "target", "output", "target"],
                    check=check, defect=defect, inputs=describe(output=output, target=target))
    spec = data.draw(st.one_of(JUNK, st.just("hinge")))
    battery.attempt("get_loss", lambda: get_loss(spec), valid=False, names=["loss"],
                    inputs=describe(spec=spec))


# ---- optimizers ------------------------------------------------------------------------------

OPT_ARGS = {SGD: ["parameters", "lr", "momentum", "nesterov", "weight_decay"],
            Adam: ["parameters", "lr", "betas", "eps", "weight_decay"],
            AdamW: ["parameters", "lr", "betas", "eps", "weight_decay"]}


def _reference_steps(cls, kw, values, grads, steps):
    """The documented update rules (nn/optimizers.py), in float64."""
    lr, wd = float(kw["lr"]), float(kw["weight_decay"])
    out = []
    for w, g0 in zip(values, grads):
        w, g0 = w.astype(np.float64), g0.astype(np.float64)
        if cls is SGD:
            mu, v = float(kw["momentum"]), np.zeros_like(w)
            for _ in range(steps):
                g = g0 + wd * w
                v = mu * v + g
                w = w - lr * (g + mu * v if kw["nesterov"] else v)
        else:
            b1, b2 = (float(b) for b in kw["betas"])
            eps, m, v = float(kw["eps"]), np.zeros_like(w), np.zeros_like(w)
            for t in range(1, steps + 1):
                if cls is AdamW:
                    w = w * (1 - lr * wd)
                    g = g0
                else:
                    g = g0 + wd * w
                m = b1 * m + (1 - b1) * g
                v = b2 * v + (1 - b2) * g * g
                w = w - lr * (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps)
        out.append(w)
    return out


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
    valid, defect = False, None
    if spoil is None:
        valid = True
    elif spoil == "parameters":
        kw[spoil] = data.draw(st.sampled_from([[], None, 3, [1, 2], params + ["W"],
                                               np.zeros(3), "params", {"W": params[0]}]))
    elif spoil == "betas":
        kw[spoil] = data.draw(st.sampled_from([(0.9,), (0.9, 1.0), (-0.1, 0.9), (0.9, np.nan),
                                               "ab", 0.9, None, (0.9, 0.99, 0.9)]))
    elif spoil == "eps":
        kw[spoil] = data.draw(st.sampled_from([0, 0.0, -1e-8, np.nan, np.inf, "tiny", None]))
    elif spoil == "nesterov":
        if data.draw(st.booleans()):  # Nesterov without momentum
            kw["momentum"], kw["nesterov"] = 0.0, True
        else:  # a string for a bool: "no" must not switch Nesterov on
            kw["momentum"], kw["nesterov"] = 0.9, data.draw(BOOL_JUNK)
            defect = 11
    else:
        kw[spoil] = data.draw(st.one_of(JUNK, st.sampled_from([-0.5, 1.0, 2.0, np.inf])))
        if spoil == "lr" and isinstance(kw[spoil], float) and 0 < kw[spoil] < np.inf:
            kw[spoil] = -kw[spoil]
        if spoil == "weight_decay" and isinstance(kw[spoil], float) and 0 <= kw[spoil] < np.inf:
            kw[spoil] = -1.0
        v = kw[spoil]
        if spoil == "lr":
            valid = _real_in(v, 0, np.inf, lo_open=True)
        elif spoil == "weight_decay":
            valid = _real_in(v, 0, np.inf)
        elif spoil == "momentum":
            valid = _real_in(v, 0, 1, hi_open=True) and not (kw["nesterov"] and v == 0)
    grads = [rng.normal(size=p.value.shape) * data.draw(st.sampled_from([0.0, 1.0]))
             for p in params]
    start = [p.value.copy() for p in params]

    def check(opt):
        for p, g in zip(params, grads):
            p.grad[...] = g
        for _ in range(3):
            opt.step()
        for p in params:
            problem = finite_array(p.value, dtype=np.float32, what="parameter after step")
            if problem:
                return problem
        ref = _reference_steps(cls, kw, start, grads, 3)
        for p, r in zip(params, ref):
            if not np.allclose(p.value, r, rtol=1e-4, atol=1e-5):
                return (f"3 steps differ from the documented update rule by "
                        f"{np.abs(p.value - r).max():.3g}")
        return None
    battery.attempt(f"optimizer:{cls.__name__}", lambda: cls(**kw), valid=valid, check=check,
                    names=[spoil, f"{spoil}[0]", f"{spoil}[1]", "momentum"], defect=defect,
                    inputs=describe(**{k: v for k, v in kw.items() if k != "parameters"},
                                    parameters=kw["parameters"] if spoil == "parameters"
                                    else "ok"))


# ---- Dense ---------------------------------------------------------------------------------------

def _reference_dense(layer, x):
    a = np.asarray(x, np.float64) @ layer.W.value.astype(np.float64) + layer.b.value
    f = {"relu": lambda a: np.maximum(a, 0), "tanh": np.tanh, "identity": lambda a: a,
         "sigmoid": lambda a: 1 / (1 + np.exp(-a))}
    name = getattr(layer.activation, "name", None)
    return f[name](a) if name in f else None


@settings(max_examples=450, **SETTINGS)
@given(data=st.data(), spoil=st.sampled_from([None, "n_in", "n_out", "activation", "init", "rng",
                                              "dtype", "x"]))
def test_dense(data, spoil):
    kw = dict(n_in=data.draw(st.integers(1, 6)), n_out=data.draw(st.integers(1, 6)),
              activation=data.draw(st.sampled_from(["relu", "tanh", "sigmoid", "identity"])),
              init=data.draw(st.sampled_from([None, "glorot_uniform", "he_normal", "zeros"])),
              rng=data.draw(st.integers(0, 9)),
              dtype=data.draw(st.sampled_from([np.float32, np.float64])))
    valid = True
    if spoil in kw:
        kw[spoil] = data.draw(st.one_of(JUNK, st.just("bogus"), st.just(10 ** 20)))
        if spoil in ("activation", "init") and kw[spoil] is None:
            kw[spoil] = "bogus"
        v = kw[spoil]
        if spoil in ("n_in", "n_out"):
            valid = None if is_positive_int(v) else False  # 10**20: refused, or (never) built
        elif spoil == "rng":
            valid = v is None or is_seed(v)
        elif spoil == "dtype":
            valid = None if v is None else False
        else:
            valid = False
    ok = battery.attempt("Dense", lambda: Dense(**kw), valid=valid, names=[spoil],
                         inputs=describe(**kw), memory_mb=200)
    if not ok.ok:
        return
    layer = ok.value
    kind, x, valid = data.draw(arrays(layer.n_in, lo=-2, hi=2))

    def check(y):
        problem = finite_array(y, (len(x), layer.n_out), kw["dtype"])
        ref = _reference_dense(layer, x) if problem is None else None
        if ref is not None and not np.allclose(y, ref, rtol=1e-4, atol=1e-5):
            problem = f"layer(x) differs from f(x W + b) by {np.abs(y - ref).max():.3g}"
        return problem
    battery.attempt("Dense.__call__", lambda: layer(x), valid=valid, names=["x"], check=check,
                    inputs=describe(x=x))


# ---- the other models: VAE, CVAE, AAE, Classifier -------------------------------------------------

def _other_model(which, seed):
    if which == "vae":
        return numpyae.mlp_vae([6, 5, 2], rng=seed)
    if which == "cvae":
        return numpyae.mlp_cvae([6, 5, 2], 3, rng=seed)
    if which == "aae":
        return numpyae.mlp_aae([6, 5, 2], discriminator=(4,), rng=seed)
    return numpyae.mlp_classifier([6, 5], 3, rng=seed)


@settings(max_examples=450, **SETTINGS)
@given(data=st.data(), which=st.sampled_from(["vae", "cvae", "aae", "classifier"]),
       seed=st.integers(0, 20),
       method=st.sampled_from(["encode", "decode", "reconstruct", "sample", "predict", "fit", "y",
                               "evaluate"]))
def test_other_models(data, which, seed, method):
    model = _other_model(which, seed)
    labelled = which in ("cvae", "classifier")
    n = data.draw(st.integers(1, 6))
    y_ok = np.arange(n) % 3 if labelled else None
    X_ok = np.random.default_rng(seed).random((n, 6))
    if method == "y":  # spoiled labels; for a model without labels any y is ignored input
        if labelled:
            y = data.draw(st.sampled_from([np.full(n, 3), np.full(n, -1), np.arange(n + 1) % 3,
                                           np.full(n, 0.5), None, "y", np.zeros((n, 2), int),
                                           np.full(n, np.nan)]))
            fn = {"cvae": lambda: model.reconstruct(X_ok, y),
                  "classifier": lambda: model.score(X_ok, y)}[which]
            battery.attempt(f"{which}:labels", fn, valid=False, names=["y"], inputs=describe(y=y))
        else:
            y = np.arange(n) % 3
            op = data.draw(st.sampled_from(["evaluate", "encode", "reconstruct", "fit"]))
            fns = {"evaluate": lambda: model.evaluate(X_ok, y=y),
                   "encode": lambda: model.encode(X_ok, y=y),
                   "reconstruct": lambda: model.reconstruct(X_ok, y=y),
                   "fit": lambda: fit(model, X_ok, model.make_optimizers() if which == "aae"
                                      else Adam(model.parameters()), y=y, epochs=1,
                                      progress=False)}
            battery.attempt(f"{which}:{op}(y=labels)", fns[op], valid=False, names=["y"],
                            defect=11, inputs=describe(y=y), before_work=True)
        return
    if method == "fit":
        kind, X, valid = data.draw(arrays(6, min_rows=2))
        opt = model.make_optimizers() if which == "aae" else Adam(model.parameters(), lr=1e-2)
        yy = None if not labelled else (np.arange(len(np.asarray(X))) % 3 if valid else y_ok)
        battery.attempt(f"{which}:fit", lambda: fit(model, X, opt, y=yy, epochs=1, batch_size=4,
                                                    progress=False, rng=0),
                        valid=valid, names=["X", "y"], inputs=describe(X=X),
                        check=lambda h: None if all(np.isfinite(v).all()
                                                    for v in h.records.values())
                        else f"History {h.records}", before_work=True)
        return
    if method == "sample":
        if which == "classifier":
            return
        k = data.draw(st.one_of(st.integers(1, 5), JUNK))
        k_ok = is_positive_int(k)
        args = (k, y_ok[:1].repeat(k) if labelled and k_ok else None) if which == "cvae" else (k,)
        battery.attempt(f"{which}:sample", lambda: model.sample(*args), valid=k_ok, names=["n"],
                        check=lambda out: finite_array(out, (k, 6), np.float32, lo=0, hi=1),
                        inputs=describe(n=k))
        return
    if method == "decode":
        if which == "classifier":
            return
        kind, Z, valid = data.draw(arrays(2, lo=-2, hi=2))
        yy = (np.arange(len(np.asarray(Z))) % 3 if valid else y_ok) if labelled else None
        battery.attempt(f"{which}:decode",
                        lambda: model.decode(Z, yy) if labelled else model.decode(Z),
                        valid=valid, names=["Z", "H", "y"],
                        check=lambda out: finite_array(out, (len(Z), 6), np.float32, lo=0, hi=1),
                        inputs=describe(Z=Z))
        return
    kind, X, valid = data.draw(arrays(6))
    yy = (np.arange(len(np.asarray(X))) % 3 if valid else y_ok) if labelled else None
    if method == "predict":
        if which != "classifier":
            return

        def check(out):
            problem = finite_array(out, (len(X), 3), np.float32, lo=0, hi=1)
            if problem is None and not np.allclose(out.sum(1), 1, rtol=1e-5):
                problem = "class probabilities do not sum to 1"
            return problem
        battery.attempt("classifier:predict_proba", lambda: model.predict_proba(X), valid=valid,
                        names=["X"], check=check, inputs=describe(X=X))
        return
    if method == "evaluate":
        def check(out):
            if not all(isinstance(v, float) and np.isfinite(v) for v in out.values()):
                return f"terms {out}"
            again = model.evaluate(X, yy) if labelled else model.evaluate(X)
            if again != out:
                return f"evaluate is not deterministic: {out} then {again}"
            return None
        battery.attempt(f"{which}:evaluate",
                        lambda: model.evaluate(X, yy) if labelled else model.evaluate(X),
                        valid=valid, names=["X", "y"], check=check, inputs=describe(X=X),
                        defect=6 if which in ("vae", "cvae") else None)
        return
    if method == "reconstruct" and which == "classifier":
        return
    fn = getattr(model, method)
    width = {"encode": 2 if which != "classifier" else 5, "reconstruct": 6}[method]
    battery.attempt(f"{which}:{method}", lambda: fn(X, yy) if which == "cvae" else fn(X),
                    valid=valid, names=["X", "y"], inputs=describe(X=X),
                    check=lambda out: finite_array(out, (len(X), width), np.float32))


# ---- the VAE's log-likelihood ---------------------------------------------------------------------

@settings(max_examples=150, **SETTINGS)
@given(data=st.data(), spoil=st.sampled_from([None, "K", "batch_size", "rng", "y"]))
def test_vae_log_likelihood(data, spoil):
    model = numpyae.mlp_vae([6, 5, 2], rng=0)
    n = data.draw(st.integers(1, 7))
    X = np.random.default_rng(n).random((n, 6))
    kw = dict(K=data.draw(st.integers(1, 6)), batch_size=data.draw(st.sampled_from(
        [None, 1, 2, 3, 100])), rng=data.draw(st.integers(0, 5)))
    valid, defect = True, None
    if spoil in ("K", "batch_size"):
        kw[spoil] = data.draw(st.one_of(JUNK, st.sampled_from([0, -1, 0.5, 2.0, 10 ** 30])))
        valid = is_positive_int(kw[spoil]) or (spoil == "batch_size" and kw[spoil] is None)
        if is_positive_int(kw[spoil]) and kw[spoil] > 10 ** 6:
            valid = None if spoil == "K" else True  # a huge K: refused, or (never) computed
        defect = 5 if spoil == "batch_size" else None
    elif spoil == "rng":
        kw["rng"] = data.draw(st.sampled_from([-1, 1.5, "seed", [1], True]))
        valid = False
    elif spoil == "y":
        kw["y"] = np.arange(n) % 2
        valid, defect = False, 11

    def check(out):
        problem = finite_array(out, (n,), np.float32, "log p(x)")
        if problem is None:
            ref = model.log_likelihood(X, K=kw["K"], rng=kw["rng"], batch_size=n)
            if kw.get("batch_size") in (None, n) and not np.allclose(out, ref, rtol=1e-5):
                problem = "log p(x) changes with batch_size"
            if (out > 0).any():
                problem = f"log p(x) of binary-range data > 0: {out.max()}"
        return problem
    battery.attempt("vae:log_likelihood", lambda: model.log_likelihood(X, **kw), valid=valid,
                    names=[spoil], check=check, defect=defect, inputs=describe(**kw),
                    memory_mb=300)


# ---- the teaching tools: gradient checker, tracer, exercise checker ---------------------------------

def _small_model():
    return mlp_autoencoder([4, 3, 2], activation="tanh", dtype=np.float64, rng=0)


@settings(max_examples=150, **SETTINGS)
@given(data=st.data(), tool=st.sampled_from(["check_model", "check_directional",
                                             "trace_backprop", "check_layer"]),
       spoil=st.sampled_from([None, "X", "X", "model", "h", "order", "y"]))
def test_teaching_tools(data, tool, spoil):
    model = _small_model()
    kind, X, valid = data.draw(arrays(4, lo=-1, hi=1, max_rows=4))
    if spoil != "X":
        X, valid = np.random.default_rng(0).random((3, 4)), True
    kw = {}
    target = model.encoder[0] if tool == "check_layer" else model
    defect = 16 if spoil in ("X", "model") else None
    if spoil == "model":
        target = data.draw(st.sampled_from([None, "model", 3, np.zeros(3)]))
        valid = False
    elif spoil == "h" and tool != "trace_backprop":
        kw["h"] = data.draw(st.sampled_from([0, 0.0, -1e-4, np.nan, np.inf, "x", 1e6]))
        valid = False
    elif spoil == "order" and tool != "trace_backprop":
        kw["order"] = data.draw(st.sampled_from([3, 0, 1, "4", None, 4.5]))
        valid = False
    elif spoil == "y" and tool in ("check_model", "check_directional"):
        kw["y"] = np.arange(3) % 2  # a plain Autoencoder takes no labels
        valid, defect = False, 11
    elif spoil not in (None, "X"):
        return
    fn = {"check_model": numpyae.check_model, "check_directional": numpyae.check_directional,
          "trace_backprop": numpyae.trace_backprop, "check_layer": numpyae.check_layer}[tool]

    def check(report):
        if tool == "trace_backprop":
            worst = report.check()
            if worst is None or not np.isfinite(worst) or worst > 1e-6:
                return f"trace of a correct model: worst check {worst}"
            return None
        if not np.isfinite(report.max_error) or not report.passed():
            return f"a correct model's gradients reported wrong: max error {report.max_error}"
        return None
    battery.attempt(tool, lambda: fn(target, X, **kw), valid=valid,
                    names=["X", "x", "model", "layer", "h", "order", "y"], check=check,
                    defect=defect, inputs=describe(X=X, model=target if spoil == "model" else "ok",
                                                   **kw))


def test_exercise_checker_arguments():
    """exercises.check: bad arguments refused; a forgotten `return` is reported as such."""
    ex = numpyae.exercises

    def mse_grad(o, t):
        return 2 * (o - t) / o.size

    def forgot_return(o, t):
        2 * (o - t) / o.size  # noqa: B018 -- the student's mistake

    battery.attempt("exercises.check", lambda: ex.check("mse_grad", mse_grad, n_hypothesis=0,
                                                        verbose=False),
                    valid=True, check=lambda r: None if r.passed else f"the reference failed: {r}",
                    inputs="'mse_grad', a correct function")

    def says_none(r):
        if r.passed:
            return "a function without return passed"
        if "None" not in r.message:
            return f"a forgotten return is reported as: {r.message.splitlines()[0][:120]!r}"
        return None
    battery.attempt("exercises.check", lambda: ex.check("mse_grad", forgot_return,
                                                        n_hypothesis=0, verbose=False),
                    valid=True, check=says_none, defect=16,
                    inputs="'mse_grad', a function that forgets to return")
    for kw in (dict(name=None), dict(name="no_such_exercise"), dict(name=3), dict(fn=None),
               dict(fn="mse_grad"), dict(n_random=-1), dict(n_random="3"), dict(n_random=1.5),
               dict(n_hypothesis=-5), dict(rng="seed"), dict(rng=-1)):
        args = {"name": "mse_grad", "fn": mse_grad, "n_hypothesis": 0, "verbose": False, **kw}
        battery.attempt("exercises.check", lambda: ex.check(**args), valid=False,
                        names=list(kw), inputs=describe(**kw))


# ---- the issue's exact inputs ------------------------------------------------------------------

def test_issue_exact_inputs():
    """Each defect of the robustness issue that is about an argument, with its exact input."""
    X = digits(64)
    # 4: BCE / Bernoulli targets outside [0, 1]
    battery.attempt("BinaryCrossEntropy()", lambda: BinaryCrossEntropy()(
        np.full((2, 3), 50.0), np.full((2, 3), -3.0)), valid=False, names=["target"], defect=4,
        inputs="full 50, full -3")
    battery.attempt("Bernoulli()", lambda: Bernoulli()(np.zeros((2, 3)), np.full((2, 3), 255.0)),
                    valid=False, names=["target"], defect=4, inputs="zeros, full 255")
    model = mlp_autoencoder([64, 16], loss="bce", rng=0)
    battery.attempt("fit", lambda: fit(model, X * 255, Adam(model.parameters()), epochs=2,
                                       progress=False),
                    valid=False, names=["X"], defect=4, before_work=True,
                    inputs='mlp_autoencoder([64,16], loss="bce"), X*255')
    vae = numpyae.mlp_vae([64, 16, 2], rng=0)
    battery.attempt("fit", lambda: fit(vae, X * 255, Adam(vae.parameters()), epochs=2,
                                       progress=False),
                    valid=False, names=["X"], defect=4, before_work=True,
                    inputs="mlp_vae([64,16,2]) (Bernoulli), X*255")
    battery.attempt("vae:evaluate", lambda: vae.evaluate(X * 255), valid=False, names=["X"],
                    defect=4, inputs="X*255")
    # 5, 17: log_likelihood's batch_size
    for bs in (-1, 0.5):
        battery.attempt("vae:log_likelihood", lambda: vae.log_likelihood(X[:8], K=3, batch_size=bs),
                        valid=False, names=["batch_size"], defect=5 if bs == -1 else 17,
                        inputs=f"X, K=3, batch_size={bs}")
    # 10: an optimizer over another model's parameters
    other = mlp_autoencoder([64, 16], rng=1)
    battery.attempt("fit", lambda: fit(model, X, Adam(other.parameters()), epochs=1,
                                       progress=False),
                    valid=False, names=["optimizer"], defect=10, before_work=True,
                    inputs="model, X, Adam(other_model.parameters())")
    # 11: strings for bools, ignored labels
    battery.attempt("mlp_autoencoder", lambda: mlp_autoencoder([6, 3], tied="no"), valid=False,
                    names=["tied"], defect=11, inputs="[6, 3], tied='no'")
    p = [Parameter(np.zeros((2, 2), np.float32))]
    battery.attempt("optimizer:SGD", lambda: SGD(p, lr=0.1, momentum=0.9, nesterov="no"),
                    valid=False, names=["nesterov"], defect=11, inputs="momentum=0.9, nesterov='no'")
    labels = np.arange(64) % 10
    for name, m in (("Autoencoder", mlp_autoencoder([64, 16], rng=0)),
                    ("VAE", numpyae.mlp_vae([64, 16, 2], rng=0))):
        battery.attempt(f"fit({name}, y=labels)", lambda: fit(m, X, Adam(m.parameters()), y=labels,
                                                              epochs=1, progress=False),
                        valid=False, names=["y"], defect=11, before_work=True,
                        inputs=f"{name}, X, y=labels")
        battery.attempt(f"{name}.evaluate(X, y)", lambda: m.evaluate(X, labels), valid=False,
                        names=["y"], defect=11, inputs="X, labels")
    # 16: the gradient checker's and the tracer's inputs
    small = _small_model()
    Xs = np.random.default_rng(0).random((3, 4))
    for tool in (numpyae.check_model, numpyae.check_directional, numpyae.trace_backprop):
        for label, args in (("X='abc'", (small, "abc")), ("X empty", (small, np.zeros((0, 4)))),
                            ("model=None", (None, Xs)),
                            ("X with NaN", (small, np.where(Xs > 0.5, np.nan, Xs))),
                            ("X complex", (small, Xs + 1j))):
            battery.attempt(tool.__name__, lambda: tool(*args), valid=False, names=["X", "model"],
                            defect=16, inputs=label)
    # 17: messages that name the argument
    battery.attempt("EarlyStopping", lambda: EarlyStopping(min_delta="x"), valid=False,
                    names=["min_delta"], defect=17, inputs="min_delta='x'")
    battery.attempt("SparseAutoencoder", lambda: numpyae.SparseAutoencoder(weight_decay="x"),
                    valid=False, names=["weight_decay"], defect=17, inputs="weight_decay='x'")


def test_progress_bar_in_a_notebook_without_ipywidgets():
    """The README example in a Jupyter kernel without ipywidgets: no TqdmWarning (defect 18)."""
    fake = types.ModuleType("IPython")

    class ZMQInteractiveShell:  # what get_ipython() returns in a Jupyter kernel
        config = {"IPKernelApp": {}}
    fake.get_ipython = lambda: ZMQInteractiveShell()
    kernel, zmqshell = types.ModuleType("ipykernel"), types.ModuleType("ipykernel.zmqshell")
    names = ("IPython", "ipykernel", "ipykernel.zmqshell", "ipywidgets", "tqdm.auto",
             "tqdm.autonotebook", "tqdm.notebook")
    saved = {k: sys.modules.get(k) for k in names}
    model = mlp_autoencoder([64, 16], rng=0)
    X = digits(32)

    def run():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            history = fit(model, X, Adam(model.parameters()), epochs=2, progress=True)
        return history, caught

    def check(result):
        history, caught = result
        noise = [f"{w.category.__name__}: {str(w.message)[:100]}" for w in caught
                 if "IProgress" in str(w.message) or w.category.__name__ == "TqdmWarning"]
        if noise:  # an obscure message the user cannot act on
            return CRASH, f"prints {noise[0]}"
        return None if history.epochs == 2 else f"History has {history.epochs} epochs"
    try:
        for k in names[4:]:
            sys.modules.pop(k, None)
        sys.modules["IPython"] = fake
        sys.modules["ipykernel"], sys.modules["ipykernel.zmqshell"] = kernel, zmqshell
        sys.modules["ipywidgets"] = None  # absent: importing it raises ImportError
        battery.attempt("fit(progress=True) in a notebook", run, valid=True, check=check,
                        float_errors=False, inputs="Jupyter kernel without ipywidgets", defect=18)
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v
