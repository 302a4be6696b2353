"""Bad input to the public API, tried systematically (Hypothesis): model builders, inference
(encode, decode, reconstruct, evaluate, a layer call, a reloaded model), fit's arguments, losses,
optimizers, Dense, and the VAE, CVAE, AAE and Classifier entry points.

Every case calls the public API with at most one argument spoiled (random shapes, dtypes: ints,
bools, float16, complex, object; NaN and inf; empty arrays; wrong Python types) and requires
either a correct result (finite, the right shape and dtype) or a documented exception --
ValueError / TypeError (ModelFileError and DatasetError are ValueErrors), NonFiniteError, or
FileNotFoundError for absent data -- whose message names the spoiled argument. Anything else
fails: IndexError, AttributeError, a NumPy broadcasting error that does not name the argument,
a floating-point warning (NumPy errors are raised, not ignored), a silent NaN, or a call taking
longer than a few seconds (a hang). (robustness_helpers.run holds that contract.)

The number of cases tried per API is printed after the test summary (tests/robustness/conftest.py).
"""
import os
import tempfile

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import numpyae
from numpyae import (SGD, Adam, AdamW, BinaryCrossEntropy, Callback, Dense, MSE, Parameter,
                     SoftmaxCrossEntropy, fit, get_loss, mlp_autoencoder)
from robustness_helpers import (JUNK, RNGS, SETTINGS, arrays, assert_finite_array, is_seed,
                                model_for, run)


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


FIT_ARGS = ["X", "y", "epochs", "batch_size", "validation_data", "validation_split", "rng",
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
              rng=data.draw(RNGS), progress=False,
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
    elif spoil == "rng":
        kw["rng"] = data.draw(JUNK.filter(lambda s: s is not None and not is_seed(s)))
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


# ---- Dense ---------------------------------------------------------------------------------------

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


# ---- the other models: VAE, CVAE, AAE, Classifier -------------------------------------------------

def _other_model(which, seed):
    if which == "vae":
        return numpyae.mlp_vae([6, 5, 2], rng=seed)
    if which == "cvae":
        return numpyae.mlp_cvae([6, 5, 2], 3, rng=seed)
    if which == "aae":
        return numpyae.mlp_aae([6, 5, 2], discriminator=(4,), rng=seed)
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
                                                epochs=1, batch_size=4, progress=False, rng=0),
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
