"""Bad input to every public entry point of the models, tried systematically.

Each case calls one entry point (a constructor, a builder, encode/decode/reconstruct/sample/
interpolate/generate/log_likelihood/evaluate/predict/score, fit) with one argument spoiled --
a string, None, a complex or object array, the wrong shape or feature count, NaN or inf, an
empty array, a bool where a count is expected, a negative count, data outside the range the loss
needs -- and requires one of two outcomes:

- a correct result: finite, of the right shape and dtype; or
- a clear error: a ValueError or TypeError whose message names the spoiled argument.

Anything else fails the case: another exception type (IndexError, AttributeError, a NumPy
broadcasting error), a message that does not name the argument, a NaN or inf in a result, or
uninitialized memory. NumPy floating-point warnings are raised as errors here, so a silent
overflow fails too.
"""
import numpy as np
import pytest

from numpyae.models import (AAE, CVAE, VAE, Autoencoder, Classifier, ContractiveAutoencoder,
                            DenoisingAutoencoder, KSparseAutoencoder, L1SparseAutoencoder,
                            SparseAutoencoder, linear_autoencoder, mlp_aae, mlp_autoencoder,
                            mlp_classifier, mlp_cvae, mlp_layers, mlp_vae, stack_autoencoders)
from numpyae.nn.layers import Dense, Sequential
from numpyae.nn.optimizers import SGD, Adam
from numpyae.training.fit import fit

D, CODE, N = 6, 3, 5


@pytest.fixture(autouse=True)
def _floating_point_errors_raise():
    with np.errstate(all="raise", under="ignore"):   # (underflow to 0 is harmless)
        yield


def clear_error(fn, names, kinds=(ValueError, TypeError)):
    """fn() must raise ValueError/TypeError naming one of `names`; returns the message."""
    with pytest.raises(Exception) as info:
        fn()
    exc = info.value
    assert isinstance(exc, kinds), f"obscure crash: {type(exc).__name__}: {exc}"
    msg = str(exc)
    assert any(n in msg for n in names), f"the message does not name {names}: {msg}"
    return msg


def finite(out, shape=None, dtype=None):
    """A correct result: a finite ndarray of the given shape and dtype."""
    assert isinstance(out, np.ndarray), type(out)
    assert out.dtype.kind == "f" and np.isfinite(out).all()
    if shape is not None:
        assert out.shape == shape
    if dtype is not None:
        assert out.dtype == dtype
    return out


def data(n=N, d=D, seed=0):
    return np.random.default_rng(seed).uniform(0.05, 0.95, size=(n, d))


# ---- the models under test -------------------------------------------------------------------

BUILDERS = {
    "ae_bce": lambda: mlp_autoencoder([D, 4, CODE], rng=0),
    "ae_mse": lambda: mlp_autoencoder([D, CODE], loss="mse", tied=True, rng=0),
    "linear": lambda: linear_autoencoder(D, CODE, rng=0),
    "denoising": lambda: DenoisingAutoencoder([D, CODE], rng=0),
    "sparse": lambda: SparseAutoencoder([D, CODE], rng=0),
    "l1sparse": lambda: L1SparseAutoencoder([D, CODE], rng=0),
    "ksparse": lambda: KSparseAutoencoder([D, CODE], k=2, rng=0),
    "contractive": lambda: ContractiveAutoencoder([D, CODE], rng=0),
    "vae": lambda: mlp_vae([D, 4, CODE], rng=0),
    "vae_gaussian": lambda: mlp_vae([D, 4, CODE], likelihood="gaussian_learned", rng=0),
    "cvae": lambda: mlp_cvae([D, 4, CODE], 3, rng=0),
    "aae": lambda: mlp_aae([D, 4, CODE], discriminator=(4,), rng=0),
    "classifier": lambda: mlp_classifier([D, 4], 3, rng=0),
}
#: models whose reconstruction loss needs data in [0, 1] (binary cross-entropy, Bernoulli)
UNIT_RANGE = {"ae_bce", "denoising", "contractive", "vae", "cvae", "aae"}
LABELLED = {"cvae", "classifier"}
RECONSTRUCTING = [k for k in BUILDERS if k != "classifier"]


def labels_for(kind, n):
    return np.arange(n) % 3 if kind in LABELLED else None


def call_x(model, kind, method, X):
    """model.<method>(X) with the labels the model needs (the right count for X's rows if
    X has rows, else N)."""
    try:
        n = len(X)
    except TypeError:
        n = N
    y = labels_for(kind, n) if kind == "cvae" or method == "evaluate" else None
    fn = getattr(model, method)
    return fn(X) if y is None else fn(X, y)


# Spoiled inputs for an argument that takes (rows, D) data. Each must be refused by name.
BAD_X = {
    "str": "data",
    "bytes": b"data",
    "None": None,
    "dict": {"x": 1},
    "list_of_str": [["a"] * D] * N,
    "ragged": [[0.5] * D, [0.5] * (D - 1)],
    "complex": data() + 1j,
    "object": data().astype(object),
    "scalar": 0.5,
    "ndim1": data()[0],
    "ndim3": data()[:, :, None],
    "too_few_features": data(d=D - 1),
    "too_many_features": data(d=D + 2),
    "empty": np.zeros((0, D)),
    "nan": np.where(np.eye(N, D, dtype=bool), np.nan, data()),
    "inf": np.where(np.eye(N, D, dtype=bool), np.inf, data()),
    "-inf": np.where(np.eye(N, D, dtype=bool), -np.inf, data()),
}

# Inputs that are fine: each must give a finite result of the right shape.
GOOD_X = {
    "float64": data(),
    "float32": data().astype(np.float32),
    "float16": data().astype(np.float16),
    "int_0_1": (data() > 0.5).astype(int),
    "uint8_0_1": (data() > 0.5).astype(np.uint8),
    "bool": data() > 0.5,
    "list": data().tolist(),
    "one_row": data(n=1),
    "fortran_order": np.asfortranarray(data()),
    "non_contiguous": data(n=2 * N)[::2],
}

X_METHODS = {"encode": "codes", "reconstruct": "reconstruction", "evaluate": "terms"}


def _x_methods(kind):
    methods = ["encode", "evaluate"]
    if kind in RECONSTRUCTING:
        methods.append("reconstruct")
    if kind.startswith("vae") or kind == "cvae":
        methods += ["encode_distribution", "log_likelihood"]
    if kind == "classifier":
        methods += ["predict", "predict_proba", "logits", "score"]
    return methods


X_CASES = [(k, m) for k in BUILDERS for m in _x_methods(k)]


@pytest.fixture(scope="module")
def models():
    return {k: b() for k, b in BUILDERS.items()}


@pytest.mark.parametrize("bad", sorted(BAD_X))
@pytest.mark.parametrize("kind,method", X_CASES)
def test_data_arguments_refuse_bad_arrays_by_name(models, kind, method, bad):
    model = models[kind]
    if method == "score":
        clear_error(lambda: model.score(BAD_X[bad], np.zeros(N, int)), ["X"])
        return
    clear_error(lambda: call_x(model, kind, method, BAD_X[bad]), ["X"])


@pytest.mark.parametrize("good", sorted(GOOD_X))
@pytest.mark.parametrize("kind,method", X_CASES)
def test_data_arguments_accept_every_real_array(models, kind, method, good):
    model = models[kind]
    X = GOOD_X[good]
    n = len(X)
    if method == "score":
        acc = model.score(X, np.arange(n) % 3)
        assert isinstance(acc, float) and 0 <= acc <= 1
        return
    out = call_x(model, kind, method, X)
    if method == "evaluate":
        assert set(out) == set(model.terms) and all(np.isfinite(v) for v in out.values())
    elif method == "encode_distribution":
        for part in out:
            finite(part, (n, CODE), model.dtype)
    elif method in ("encode", "log_likelihood", "predict"):
        assert len(out) == n and np.isfinite(out).all()
    else:
        finite(out, dtype=model.dtype)
        assert len(out) == n


# ---- the data range a loss needs ----------------------------------------------------------------

@pytest.mark.parametrize("kind", sorted(UNIT_RANGE))
@pytest.mark.parametrize("scale", [255.0, -1.0, 1.5])
def test_losses_on_unit_data_refuse_data_outside_it_before_any_work(models, kind, scale):
    model = models[kind]
    X = data() * scale
    y = labels_for(kind, N)
    before = [p.value.copy() for p in model.parameters()]
    msg = clear_error(lambda: model.evaluate(X, y), ["X"])
    assert "[0, 1]" in msg and "got values in" in msg
    opt = model.make_optimizers() if kind == "aae" else Adam(model.parameters())
    clear_error(lambda: fit(model, X, opt, y=y, epochs=1, progress=False), ["X"])
    clear_error(lambda: fit(model, data(), opt, y=y, epochs=1, progress=False,
                            validation_data=(X,) if y is None else (X, y)),
                ["validation_data[0]"])
    for b, p in zip(before, model.parameters()):
        np.testing.assert_array_equal(b, p.value)


@pytest.mark.parametrize("kind", sorted(set(BUILDERS) - UNIT_RANGE))
def test_models_without_a_range_accept_any_finite_data(models, kind):
    X = data() * 255 - 100
    out = models[kind].evaluate(X, labels_for(kind, N))
    assert all(np.isfinite(v) for v in out.values())


@pytest.mark.parametrize("kind", sorted(UNIT_RANGE - {"aae"}))
def test_inference_takes_inputs_outside_the_loss_range(models, kind):
    """encode and reconstruct compute no loss: a noisy input outside [0, 1] is fine."""
    model = models[kind]
    X = data() + np.random.default_rng(1).normal(0, 0.5, (N, D))
    y = labels_for(kind, N)
    finite(model.reconstruct(X) if y is None else model.reconstruct(X, y), (N, D))
    finite(model.encode(X) if y is None else model.encode(X, y), (N, CODE))


# ---- counts and sizes ----------------------------------------------------------------------

BAD_COUNTS = [0, -1, 1.5, True, False, "3", None, [2], np.float64(2.0), np.nan]
GOOD_COUNTS = [1, 3, np.int64(2), np.int32(4)]


def _count_calls(kind):
    """(name, fn(value)) for each count argument of the model's entry points."""
    model = BUILDERS[kind]()
    X, y = data(), labels_for(kind, N)
    calls = [("batch_size", lambda v: model.evaluate(X, y, batch_size=v))]
    if kind in ("vae", "vae_gaussian", "cvae"):
        calls += [("K", lambda v: model.log_likelihood(X, y, K=v)),
                  # (batch_size=None is the default there: 16384 // K rows)
                  ("batch_size", lambda v: model.log_likelihood(X, y, K=2, batch_size=v)
                   if v is not None else model.log_likelihood(X, y, K=2, batch_size=0)),
                  ("n", lambda v: model.interpolate(X[0], X[1], v, y=None if y is None else 1))]
    if kind in ("vae", "vae_gaussian", "aae"):
        calls.append(("n", lambda v: model.sample(v)))
    if kind == "cvae":
        calls.append(("n", lambda v: model.generate(1, v)))
    return calls


COUNT_CASES = [(k, i) for k in ("ae_bce", "vae", "vae_gaussian", "cvae", "aae", "classifier")
               for i in range(len(_count_calls(k)))]


@pytest.mark.parametrize("kind,i", COUNT_CASES)
def test_count_arguments(kind, i):
    name, call = _count_calls(kind)[i]
    for bad in BAD_COUNTS:
        clear_error(lambda: call(bad), [name])
    for good in GOOD_COUNTS:
        out = call(good)
        if isinstance(out, dict):
            assert all(np.isfinite(v) for v in out.values())
        else:
            finite(out)
            if name in ("n", "K"):
                assert len(out) == (good if name == "n" else N)


def test_log_likelihood_with_many_samples_stays_bounded_and_agrees_with_one_pass():
    """K above the chunk size runs in chunks (streaming logsumexp): same draws, same numbers as
    one pass over all K samples."""
    model = mlp_vae([D, 4, CODE], rng=0, dtype=np.float64)
    X = data(n=3)
    model.LOG_LIKELIHOOD_CHUNK = 64
    chunked = model.log_likelihood(X, K=500, rng=5, batch_size=1)
    model.LOG_LIKELIHOOD_CHUNK = 10 ** 9
    whole = model.log_likelihood(X, K=500, rng=5, batch_size=1)
    np.testing.assert_allclose(chunked, whole, rtol=1e-12, atol=1e-12)


# ---- labels -----------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["ae_bce", "ae_mse", "denoising", "vae", "aae"])
def test_models_without_labels_refuse_y_instead_of_ignoring_it(models, kind):
    model = models[kind]
    X, y = data(), np.zeros(N, int)
    clear_error(lambda: model.evaluate(X, y), ["y"])
    opt = model.make_optimizers() if kind == "aae" else Adam(model.parameters())
    clear_error(lambda: fit(model, X, opt, y=y, epochs=1, progress=False), ["y"])
    if kind == "vae":
        for call in (lambda: model.reconstruct(X, y), lambda: model.encode(X, y),
                     lambda: model.decode(np.zeros((N, CODE)), y),
                     lambda: model.sample(N, y), lambda: model.log_likelihood(X, y),
                     lambda: model.interpolate(X[0], X[1], 3, y=1)):
            clear_error(call, ["y"])


BAD_LABELS = {"float": np.full(N, 0.5), "too_many": np.zeros(N + 1, int), "negative": np.full(N, -1),
              "too_large": np.full(N, 3), "2d": np.zeros((N, 2), int), "str": "labels",
              "nan": np.full(N, np.nan), "complex": np.zeros(N, complex), "None": None}


@pytest.mark.parametrize("bad", sorted(BAD_LABELS))
@pytest.mark.parametrize("kind", ["cvae", "classifier"])
def test_labelled_models_refuse_bad_labels_by_name(models, kind, bad):
    model = models[kind]
    y = BAD_LABELS[bad]
    clear_error(lambda: model.evaluate(data(), y), ["y"])
    if kind == "cvae":
        clear_error(lambda: model.reconstruct(data(), y), ["y"])
        clear_error(lambda: model.decode(np.zeros((N, CODE)), y), ["y"])
    else:
        clear_error(lambda: model.score(data(), y), ["y"])


@pytest.mark.parametrize("label", [3, -1, 1.0, "1", None, True, [1]])
def test_cvae_generate_and_interpolate_refuse_a_bad_label(models, label):
    clear_error(lambda: models["cvae"].generate(label, 2), ["label"])
    clear_error(lambda: models["cvae"].interpolate(data()[0], data()[1], 3, y=label), ["y"])


@pytest.mark.parametrize("point", ["x", None, np.zeros(D + 1), np.zeros((2, D)), [np.nan] * D,
                                   np.zeros(D) + 1j, np.zeros((1, 1, D))])
def test_interpolate_refuses_bad_end_points_by_name(models, point):
    model = models["vae"]
    clear_error(lambda: model.interpolate(point, data()[0], 3), ["x_a"])
    clear_error(lambda: model.interpolate(data()[0], point, 3), ["x_b"])


def test_interpolate_takes_a_row_or_a_one_row_matrix(models):
    model = models["vae"]
    a = model.interpolate(data()[0], data()[1], 4)
    b = model.interpolate(data()[:1], data()[1:2].tolist(), 4)
    np.testing.assert_array_equal(finite(a, (4, D)), b)


# ---- boolean arguments: only True or False ------------------------------------------------------

BAD_BOOLS = ["no", "yes", "False", 0, 1, None, 1.0, [True], np.array([True, False])]


def _enc():
    return Sequential([Dense(D, CODE, "sigmoid", rng=0)])


def _ae():
    return mlp_autoencoder([D, CODE], rng=0)


BOOL_ARGS = {
    "mlp_autoencoder.tied": lambda v: mlp_autoencoder([D, CODE], tied=v),
    "mlp_layers.tied": lambda v: mlp_layers([D, CODE], tied=v),
    "DenoisingAutoencoder.tied": lambda v: DenoisingAutoencoder([D, CODE], tied=v),
    "SparseAutoencoder.tied": lambda v: SparseAutoencoder([D, CODE], tied=v),
    "L1SparseAutoencoder.tied": lambda v: L1SparseAutoencoder([D, CODE], tied=v),
    "KSparseAutoencoder.tied": lambda v: KSparseAutoencoder([D, CODE], k=2, tied=v),
    "ContractiveAutoencoder.tied": lambda v: ContractiveAutoencoder([D, CODE], tied=v),
    "Classifier.freeze_encoder": lambda v: Classifier(_enc(), Dense(CODE, 3),
                                                      freeze_encoder=v),
    "Classifier.from_encoder.freeze_encoder":
        lambda v: Classifier.from_encoder(_enc(), 3, freeze_encoder=v),
    "Classifier.from_encoder.copy_weights":
        lambda v: Classifier.from_encoder(_enc(), 3, copy_weights=v),
    "Classifier.from_autoencoder.freeze_encoder":
        lambda v: Classifier.from_autoencoder(_ae(), 3, freeze_encoder=v),
    "stack_autoencoders.copy_weights": lambda v: stack_autoencoders([_ae()], copy_weights=v),
    "SGD.nesterov": lambda v: SGD(_ae().parameters(), momentum=0.9, nesterov=v),
}


@pytest.mark.parametrize("case", sorted(BOOL_ARGS))
def test_boolean_arguments_take_only_true_or_false(case):
    name = case.rsplit(".", 1)[1]
    for bad in BAD_BOOLS:
        clear_error(lambda: BOOL_ARGS[case](bad), [name])
    for good in (True, False, np.bool_(True)):
        BOOL_ARGS[case](good)


def test_tied_no_is_refused_rather_than_building_a_tied_model():
    clear_error(lambda: mlp_autoencoder([64, 16], tied="no"), ["tied"])
    assert mlp_autoencoder([64, 16], tied=np.bool_(False)).n_parameters() == 64 * 16 * 2 + 16 + 64


def test_nesterov_no_is_refused_rather_than_turning_nesterov_on():
    clear_error(lambda: SGD(_ae().parameters(), momentum=0.9, nesterov="no"), ["nesterov"])


# ---- builder and constructor arguments -----------------------------------------------------------

JUNK = ["x", None, -1, 0, 1.5, np.nan, np.inf, True, [1], {"a": 1}, object()]

BUILDER_ARGS = {
    # builder, the argument, its bad values (besides JUNK where junk is bad), the valid value
    "mlp_autoencoder": (lambda **kw: mlp_autoencoder(**{"sizes": [D, CODE], **kw}),
                        {"sizes": [[D], [], [D, 0], [D, -2], [D, 2.0], "64,16", [D, True], None],
                         "activation": ["nope", 3], "code_activation": ["nope", 3],
                         "output_activation": ["nope", 3, "sigmoid", "relu"],
                         "loss": ["hinge", None, 3, np.array(["bce"])],
                         "init": ["nope", 3], "rng": [-1, "seed", 1.5],
                         "dtype": [np.int32, "float16", np.complex64, "nope", None]}),
    "linear_autoencoder": (lambda **kw: linear_autoencoder(**{"n_features": D, "n_components": CODE,
                                                              **kw}),
                           {"n_features": JUNK, "n_components": JUNK}),
    "DenoisingAutoencoder": (lambda **kw: DenoisingAutoencoder(**{"sizes": [D, CODE], **kw}),
                             {"sizes": [[D], "x", None], "noise": ["blur", None, 3],
                              "level": [-0.1, 1.0, 1.5, "x", None, np.nan, True],
                              "activation": ["nope", 3], "code_activation": ["nope", 3],
                              "loss": ["hinge", None, np.array(["bce"])], "rng": [-1, "x"],
                              "dtype": [np.int32, "x"]}),
    "SparseAutoencoder": (lambda **kw: SparseAutoencoder(**{"sizes": [D, CODE], **kw}),
                          {"rho": [0, 1, 1.5, -0.1, "x", None, np.nan, True],
                           "beta": [-1, "x", None, np.inf, True],
                           "weight_decay": [-1, "x", None, np.nan, True],
                           "activation": ["nope", 3], "dtype": [np.int32, "x"]}),
    "L1SparseAutoencoder": (lambda **kw: L1SparseAutoencoder(**{"sizes": [D, CODE], **kw}),
                            {"beta": [-1, "x", None, np.inf], "weight_decay": [-1, "x", np.nan],
                             "activation": ["nope", 3]}),
    "KSparseAutoencoder": (lambda **kw: KSparseAutoencoder(**{"sizes": [D, CODE], "k": 2, **kw}),
                           {"k": [0, -1, CODE + 1, 1.5, "2", None, True]}),
    "ContractiveAutoencoder": (lambda **kw: ContractiveAutoencoder(**{"sizes": [D, CODE], **kw}),
                               {"lam": [-1, "x", None, np.nan, True],
                                "weight_decay": [-1, "x", np.inf], "activation": ["nope", 3]}),
    "mlp_vae": (lambda **kw: mlp_vae(**{"sizes": [D, 4, CODE], **kw}),
                {"sizes": [[D], "x", [D, 0]], "activation": ["nope", 3],
                 "likelihood": ["poisson", None, 3, np.array(["bernoulli"])],
                 "beta": [-1, "x", np.nan, None], "kl_warmup": [-1, 1.5, "x", None, True],
                 "rng": [-1, "x"], "dtype": [np.int32, "x"]}),
    "mlp_cvae": (lambda **kw: mlp_cvae(**{"sizes": [D, 4, CODE], "n_classes": 3, **kw}),
                 {"n_classes": JUNK, "beta": [-1, "x"], "kl_warmup": [-1, "x"]}),
    "mlp_aae": (lambda **kw: mlp_aae(**{"sizes": [D, 4, CODE], **kw}),
                {"sizes": [[D], "x"], "discriminator": ["x", [0], [-1], None],
                 "prior": ["uniform", None, 3, np.array(["gaussian"])],
                 "activation": ["nope", 3], "disc_activation": ["nope", 3],
                 "loss": ["hinge", None], "dtype": [np.int32, "x"]}),
    "mlp_classifier": (lambda **kw: mlp_classifier(**{"sizes": [D, 4], "n_classes": 3, **kw}),
                       {"sizes": [[], "x", [0]], "n_classes": JUNK + [1],
                        "activation": ["nope", 3], "code_activation": ["nope", 3]}),
}
BUILDER_CASES = [(b, arg) for b, (_, args) in BUILDER_ARGS.items() for arg in args]


@pytest.mark.parametrize("builder,arg", BUILDER_CASES)
def test_builder_arguments_are_checked_by_name(builder, arg):
    build, args = BUILDER_ARGS[builder]
    for bad in args[arg]:
        clear_error(lambda: build(**{arg: bad}), [arg])
    model = build()
    assert np.isfinite(model.n_parameters())


def test_mixture_prior_needs_two_code_dimensions():
    clear_error(lambda: mlp_aae([D, 1], prior="mixture"), ["sizes[-1]", "prior"])


@pytest.mark.parametrize("kind", ["ae_bce", "vae", "aae"])
def test_astype_takes_only_float_dtypes(models, kind):
    for bad in (np.int32, "float16", "nope", None, np.complex64):
        clear_error(lambda: models[kind].astype(bad), ["dtype"])
    assert models[kind].astype(np.float64).dtype == np.float64


@pytest.mark.parametrize("spec", [
    dict(lr=0), dict(lr=-1), dict(lr="x"), dict(lr=np.nan), dict(adversarial_lr=0),
    dict(adversarial_lr="x"), dict(betas=(0.9,)), dict(betas="ab"), dict(betas=(0.9, 1.0)),
    dict(adversarial_betas=(0.5, 1.5)), dict(adversarial_betas=None)])
def test_aae_make_optimizers_names_its_arguments(models, spec):
    clear_error(lambda: models["aae"].make_optimizers(**spec), list(spec))


def _bce_sigmoid_decoder():
    return Sequential([Dense(CODE, D, "sigmoid", rng=0)])


def test_constructors_refuse_a_sigmoid_before_a_loss_on_logits():
    enc = Sequential([Dense(D, CODE, rng=0)])
    clear_error(lambda: Autoencoder(enc, _bce_sigmoid_decoder(), "bce"), ["decoder"])
    Autoencoder(enc, _bce_sigmoid_decoder(), "mse")
    heads = (Dense(D, CODE, rng=0), Dense(D, CODE, rng=1))
    clear_error(lambda: VAE(Sequential([]), *heads, _bce_sigmoid_decoder(), "bernoulli"),
                ["decoder"])
    VAE(Sequential([]), *heads, _bce_sigmoid_decoder(), "gaussian")
    disc = Sequential([Dense(CODE, 1, rng=0)])
    clear_error(lambda: AAE(enc, _bce_sigmoid_decoder(), disc, loss="bce"), ["decoder"])


@pytest.mark.parametrize("field,value", [("beta", -1), ("beta", "x"), ("kl_warmup", -1),
                                         ("kl_warmup", 2.5), ("step", -1), ("step", "3"),
                                         ("step", 1.5), ("rng", "x"), ("likelihood", "poisson")])
def test_vae_constructor_names_its_arguments(field, value):
    heads = (Dense(D, CODE, rng=0), Dense(D, CODE, rng=1))
    dec = Sequential([Dense(CODE, D, rng=0)])
    kw = {"likelihood": value} if field == "likelihood" else {field: value}
    clear_error(lambda: VAE(Sequential([]), *heads, dec, **kw), [field])


@pytest.mark.parametrize("penalties", [None, (), []])
def test_autoencoder_takes_none_or_an_empty_list_of_penalties(penalties):
    enc, dec = mlp_layers([D, CODE], rng=0)
    assert Autoencoder(enc, dec, penalties=penalties).penalties == []


@pytest.mark.parametrize("penalties", ["kl", 3, {"a": 1}, [None]])
def test_autoencoder_refuses_penalties_that_are_not_penalties(penalties):
    enc, dec = mlp_layers([D, CODE], rng=0)
    clear_error(lambda: Autoencoder(enc, dec, penalties=penalties), ["penalties"])


@pytest.mark.parametrize("stages", [None, 3, "ae", [], [None], [_ae(), "x"]])
def test_stack_autoencoders_refuses_what_is_not_a_list_of_autoencoders(stages):
    clear_error(lambda: stack_autoencoders(stages), ["stages"])


def test_evaluate_rng_argument_is_checked(models):
    clear_error(lambda: models["vae"].evaluate(data(), rng="x"), ["rng"])
    clear_error(lambda: models["vae"].evaluate(data(), rng=-1), ["rng"])
    clear_error(lambda: models["vae"].log_likelihood(data(), rng=1.5), ["rng"])


# ---- finite but extreme inputs ------------------------------------------------------------------

@pytest.mark.parametrize("scale", [1e6, 1e15, 1e30, 3e38, -3e38])
@pytest.mark.parametrize("kind,method", [(k, m) for k, m in X_CASES if m != "score"])
def test_extreme_finite_inputs_give_a_finite_result_or_a_clear_error(models, kind, method, scale):
    """Values the model's float arithmetic cannot carry (their squares overflow, a matmul
    overflows) are refused by name, never returned as NaN or inf."""
    model = models[kind]
    X = data().astype(np.float32) * np.float32(scale)
    with np.errstate(all="ignore"):
        try:
            out = call_x(model, kind, method, X)
        except (ValueError, TypeError) as exc:
            assert "X" in str(exc), str(exc)
            return
    parts = out.values() if isinstance(out, dict) else out if isinstance(out, tuple) else [out]
    for part in parts:
        assert np.isfinite(part).all()
