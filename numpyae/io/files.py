"""Saving and loading models (and training checkpoints) to a single .npz, without pickle.

File layout (format version 2; version 1 files, written before the package was layered, are
refused with a message that names the version):
    "__format__"        0-d int array, the format version
    "__architecture__"  0-d str array: JSON of the model's constructor arguments, nested
    "param:<name>"      one array per unique Parameter, named as in model.named_parameters()

Architecture JSON: every serializable object is {"class": name, "config": {...}}; an object met a
second time (the encoder layer a tied decoder layer reuses) is {"ref": k}, the k-th object serialized,
so ties survive the round trip. Loading rebuilds the model from the JSON (fresh weights), then
copies the saved values in, checking each name, shape and dtype. Nothing is ever unpickled.

Writing and reading the .npz container follow numpyae.io.npz: saves are atomic, keep the
target's permissions, write through symlinks, refuse non-regular files and clean up their own
stale temporaries; loading has one memory budget for the whole file, checked before any array
is allocated. On top of it, the architecture itself is bounded before a model is built: the
weights its JSON declares (every n_in x n_out layer, every preset's `sizes`, a mixture prior's
means, all together) may not exceed the parameter values the file holds by more than
SIZE_SLACK values (module function declared_values).
"""
from __future__ import annotations

import json

import numpy as np

from ..core.registry import REGISTRY
from ..models.base import Model
from ..nn.optimizers import Optimizer
from .npz import ModelFileError, check_path, read_npz, write_npz

FORMAT_VERSION = 2
#: Values an architecture may allocate beyond the parameter values its file holds (for arrays
#: that are not saved, such as a mixture prior's means).
SIZE_SLACK = 1 << 16


class _Serializer:
    """Turns an object into {"class", "config"} JSON; get_config methods call serialize() for
    the objects they hold, and an object met again becomes {"ref": k}."""

    def __init__(self):
        self.seen = {}

    def serialize(self, obj):
        if id(obj) in self.seen:
            return {"ref": self.seen[id(obj)]}
        name = type(obj).__name__
        if REGISTRY.get(name) is not type(obj):
            raise TypeError(f"cannot save {name}: it is not registered with numpyae.core.registry.register")
        self.seen[id(obj)] = len(self.seen)
        return {"class": name, "config": obj.get_config(self)}


class _Builder:
    """Rebuilds objects from _Serializer's JSON, constructing each registered class from its
    config (references resolve to the object already built)."""

    def __init__(self):
        self.built = []

    def build(self, spec):
        if isinstance(spec, dict) and "ref" in spec and len(spec) == 1:
            k = spec["ref"]
            if not isinstance(k, int) or isinstance(k, bool) or not 0 <= k < len(self.built) \
                    or self.built[k] is None:
                raise ModelFileError(f"architecture refers to object {k!r:.40}, which does not "
                                     f"exist (or is not complete yet)")
            return self.built[k]
        if isinstance(spec, dict) and "class" in spec:
            name = spec["class"]
            if not isinstance(name, str) or name not in REGISTRY:
                raise ModelFileError(f"architecture names an unknown class {name!r:.60}; "
                                     f"known: {sorted(REGISTRY)}")
            slot = len(self.built)
            self.built.append(None)  # reserve the index in encoding order
            cls = REGISTRY[name]
            config = spec.get("config", {})
            if not isinstance(config, dict):
                raise ModelFileError(f"config of {name} must be a JSON object")
            kwargs = {k: self.build(v) for k, v in config.items()}
            try:
                obj = cls.from_config(**kwargs) if hasattr(cls, "from_config") else cls(**kwargs)
            except (ModelFileError, MemoryError, RecursionError):
                raise
            except Exception as exc:   # whatever a constructor raises on a crafted config
                raise ModelFileError(f"cannot rebuild {name} from the saved architecture: "
                                     f"{exc}") from None
            self.built[slot] = obj
            return obj
        if isinstance(spec, list):
            return [self.build(v) for v in spec]
        if isinstance(spec, dict):
            return {k: self.build(v) for k, v in spec.items()}
        return spec


def architecture_json(model):
    """The model's architecture as JSON: nested {"class", "config"}, shared objects {"ref": k}."""
    return json.dumps(_Serializer().serialize(model))


def model_from_json(text):
    """The object (a model with fresh weights) that architecture_json's text describes, or a
    ModelFileError."""
    try:
        spec = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ModelFileError(f"architecture is not valid JSON: {exc}") from None
    return _Builder().build(spec)


def _model_arrays(model):
    """{key: array} of a model file: format version, architecture JSON, parameters."""
    arrays = {"__format__": np.array(FORMAT_VERSION),
              "__architecture__": np.array(architecture_json(model))}
    for name, p in model.named_parameters_unique():
        arrays[f"param:{name}"] = p.value
    return arrays


def save(model, path):
    """Write model to path (.npz) atomically: a crash mid-save leaves any old file intact.

    Follows numpyae.io.npz's rules: the target keeps its permissions (a new file follows the
    umask), a symlink is written through, a folder, device, FIFO or socket is refused, every
    error names `path`, and stale temporaries of earlier killed saves of `path` are removed.
    """
    if not isinstance(model, Model):
        raise TypeError(f"model must be a numpyae Model, got {type(model).__name__}")
    write_npz(check_path(path), _model_arrays(model), name="path")
    return path


def _known_key(key):
    """Whether key is one a numpyae model file or checkpoint writes."""
    return key in ("__format__", "__architecture__", "__checkpoint__") or \
        key.startswith(("param:", "optim:"))


def _check_format(path, arrays):
    for key in ("__format__", "__architecture__"):
        if key not in arrays:
            raise ModelFileError(f"{path}: missing key {key!r}; not a numpyae model file "
                                 f"(keys: {sorted(arrays)[:8]})")
    if "__checkpoint__" not in arrays and any(k.startswith("optim:") for k in arrays):
        raise ModelFileError(f"{path}: refused: optimizer state (optim:* keys) without a "
                             f"checkpoint record; neither a model file nor a checkpoint")
    version = arrays["__format__"]
    if version.shape != () or version.dtype.kind not in "iu":
        raise ModelFileError(f"{path}: __format__ must be a 0-d integer array, got dtype "
                             f"{version.dtype} shape {version.shape}")
    if int(version) == 1:
        raise ModelFileError(f"{path}: format version 1, written by numpyae 0.1 before its "
                             f"restructuring (constructor arguments were renamed: seed/noise_seed "
                             f"became rng, latent_dim became code_dim); this numpyae reads version "
                             f"{FORMAT_VERSION}: retrain the model, or load it with the older "
                             f"numpyae and copy its weights")
    if int(version) != FORMAT_VERSION:
        raise ModelFileError(f"{path}: unsupported format version {int(version)}, "
                             f"this numpyae reads version {FORMAT_VERSION}")
    arch = arrays["__architecture__"]
    if arch.shape != () or arch.dtype.kind != "U":
        raise ModelFileError(f"{path}: __architecture__ must be a 0-d string array, "
                             f"got dtype {arch.dtype} shape {arch.shape}")
    return str(arch)


def _checked_parameters(path, arrays, model):
    """{name: saved array} for each unique Parameter of model, checked for names, shapes, dtypes
    (float32/float64, one dtype for the whole model) and finiteness."""
    expected = dict(model.named_parameters_unique())
    saved = {k[len("param:"):] for k in arrays if k.startswith("param:")}
    if saved != set(expected):
        missing = sorted(set(expected) - saved)
        extra = sorted(saved - set(expected))
        raise ModelFileError(f"{path}: parameters do not match the architecture "
                             f"(missing {missing}, unexpected {extra})")
    out, dtypes = {}, set()
    for name, p in expected.items():
        value = arrays[f"param:{name}"]
        if value.shape != p.value.shape:
            raise ModelFileError(f"{path}: parameter {name} has shape {value.shape}, "
                                 f"the architecture needs {p.value.shape}")
        if value.dtype.type not in (np.float32, np.float64):
            raise ModelFileError(f"{path}: parameter {name} has dtype {value.dtype}, "
                                 f"expected float32 or float64")
        if not np.isfinite(value).all():
            raise ModelFileError(f"{path}: parameter {name} contains NaN or inf")
        dtypes.add(value.dtype.type)
        out[name] = value
    if len(dtypes) > 1:
        raise ModelFileError(f"{path}: parameters mix dtypes {sorted(d.__name__ for d in dtypes)}; "
                             f"a model has one dtype")
    return out


def _count(value):
    """value if it is a positive int (not a bool), else None."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def declared_values(spec):
    """(total, largest): a lower bound of the array values that building the architecture JSON
    `spec` allocates, all its pieces together, and a description of its largest piece.

    Walks every dict of the JSON: {"n_in", "n_out"} (a Dense layer) counts n_in * n_out weights;
    "sizes" (a preset's [D, h1, ..., k]) counts its encoder's weights, sum of s_i * s_(i+1) (the
    derived decoder adds as many again unless tied); {"dim", "n_components"} counts a mixture
    prior's means; {"n_features", "learn_variance": true} a learned variance. Biases are left out,
    so a genuine file always holds at least this many parameter values."""
    total, largest, stack = 0, (0, "nothing"), [spec]
    while stack:
        o = stack.pop()
        if isinstance(o, list):
            stack.extend(o)
            continue
        if not isinstance(o, dict):
            continue
        stack.extend(o.values())
        pieces = []
        n_in, n_out = _count(o.get("n_in")), _count(o.get("n_out"))
        if n_in and n_out:
            pieces.append((n_in * n_out, f"a {n_in} x {n_out} layer"))
        sizes = o.get("sizes")
        if isinstance(sizes, list) and len(sizes) >= 2 and all(_count(s) for s in sizes):
            pieces.append((sum(a * b for a, b in zip(sizes, sizes[1:])), f"sizes {sizes}"))
        dim, comps = _count(o.get("dim")), _count(o.get("n_components"))
        if dim and comps:
            pieces.append((dim * comps, f"a prior of {comps} x {dim} means"))
        if _count(o.get("n_features")) and o.get("learn_variance") is True:
            pieces.append((o["n_features"], f"a variance of {o['n_features']} features"))
        for n, what in pieces:
            total += n
            largest = max(largest, (n, what))
    return total, largest[1]


def _guard_sizes(path, arch, arrays):
    """Refuse, before building anything, an architecture that would allocate more values than
    the file holds parameter values (plus SIZE_SLACK): crafted sizes would otherwise eat the
    memory (module doc)."""
    held = sum(int(a.size) for k, a in arrays.items() if k.startswith("param:"))
    try:
        spec = json.loads(arch)
    except (json.JSONDecodeError, RecursionError):
        return  # model_from_json reports it
    total, largest = declared_values(spec)
    if total > held + SIZE_SLACK:
        raise ModelFileError(f"{path}: refused: the architecture declares {largest} and at "
                             f"least {total} weights in all, but the file holds only {held} "
                             f"parameter values")


def _model_from_arrays(path, arrays):
    arch = _check_format(path, arrays)
    _guard_sizes(path, arch, arrays)
    try:
        model = model_from_json(arch)
    except ModelFileError as exc:
        raise ModelFileError(f"{path}: {exc}") from None
    except RecursionError:
        raise ModelFileError(f"{path}: architecture is nested too deeply") from None
    except MemoryError:
        raise ModelFileError(f"{path}: architecture asks for more memory than is available") from None
    if not isinstance(model, Model):
        raise ModelFileError(f"{path}: architecture describes a {type(model).__name__}, "
                             f"not a numpyae Model")
    named = dict(model.named_parameters_unique())
    for name, value in _checked_parameters(path, arrays, model).items():
        p = named[name]
        p.value = value.copy()
        p.grad = np.zeros_like(p.value)
    return model


def load(path):
    """Load a model saved by numpyae.save(model, path) (or a checkpoint written by fit()).

    Never unpickles: an archive holding an object array is refused. Missing keys, an unknown
    format version, parameters of the wrong name, shape or dtype, NaN/inf parameters and
    truncated files each raise ModelFileError naming the problem. Memory is bounded before
    anything is allocated: the whole file's declared array sizes (numpyae.io.npz) and the
    architecture's declared weights (declared_values) must fit what the file holds.
    """
    path = check_path(path)
    return _model_from_arrays(path, read_npz(path, _known_key))


# ---- training checkpoints -------------------------------------------------------------------
#
# A checkpoint is a model file (so numpyae.load() reads it) plus
#     "__checkpoint__"   0-d str array: JSON {"version", "epoch", "history", "rng", "optimizer",
#                        "optimizers", "n", "run"}
#     "optim:<key>"      one array per entry of optimizer.state_dict()
# "rng" holds the Generators' bit_generator.state dicts, made JSON-safe (arrays become tagged
# lists). "optimizers" describes every optimizer (one, or each one of a composite such as the
# AAE's PhaseOptimizers): its key prefix, class, hyperparameters() and the names of the model's
# parameters it updates, in its own order. "run" is what the trainer records about the run (batch
# size, shuffling, data fingerprints, the validation split): stored as given, compared by
# numpyae.training.checkpointing when a run resumes.

CHECKPOINT_VERSION = 2
#: dtypes a tagged array of a Generator state may have (bit generator keys are unsigned ints)
_STATE_DTYPE_KINDS = "iu"


def _to_json(obj):
    if isinstance(obj, dict):
        return {str(k): _to_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_to_json(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return {"__ndarray__": obj.tolist(), "dtype": obj.dtype.str}
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    return obj


def _from_json(obj):
    if isinstance(obj, dict):
        if set(obj) == {"__ndarray__", "dtype"}:
            try:
                dtype = np.dtype(obj["dtype"])
            except TypeError:
                dtype = None
            if dtype is None or dtype.kind not in _STATE_DTYPE_KINDS:
                raise ValueError(f"a saved generator state array has dtype {obj['dtype']!r}, "
                                 f"expected an integer dtype")
            return np.array(obj["__ndarray__"], dtype=dtype)
        return {k: _from_json(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_from_json(v) for v in obj]
    return obj


def _optimizers(optimizer):
    """[(prefix, optimizer)] for one optimizer, a list/tuple of them or a dict name -> optimizer
    (models that override train_step, e.g. adversarial ones, may use several); each has
    state_dict() and load_state_dict()."""
    if isinstance(optimizer, (list, tuple)):
        pairs = [(f"{i}.", o) for i, o in enumerate(optimizer)]
    elif isinstance(optimizer, dict):
        pairs = [(f"{k}.", o) for k, o in optimizer.items()]
    else:
        pairs = [("", optimizer)]
    for prefix, o in pairs:
        if not (callable(getattr(o, "state_dict", None)) and callable(getattr(o, "load_state_dict", None))):
            raise TypeError(f"optimizer{'[' + prefix[:-1] + ']' if prefix else ''} must have "
                            f"state_dict() and load_state_dict() to be checkpointed, "
                            f"got {type(o).__name__}")
    return pairs


def optimizer_leaves(optimizer):
    """[(key prefix, Optimizer)]: every numpyae Optimizer in `optimizer`, which is one, a
    list/tuple/dict of them, or a composite object holding them as attributes (the AAE's
    PhaseOptimizers, whose state_dict keys are "<attribute>.<key>")."""
    leaves = []
    for prefix, o in _optimizers(optimizer):
        if isinstance(o, Optimizer):
            leaves.append((prefix, o))
        elif hasattr(o, "__dict__"):
            leaves.extend((f"{prefix}{k}.", v) for k, v in vars(o).items()
                          if isinstance(v, Optimizer))
    return leaves


def _optimizer_names(optimizer):
    return ",".join(prefix + type(o).__name__ for prefix, o in _optimizers(optimizer))


def describe_optimizers(optimizer, model):
    """[{"prefix", "class", "hyperparameters", "parameters"}] per optimizer (optimizer_leaves):
    what a checkpoint records and a resume compares; parameters are the model's names of the
    Parameters it updates, in its own order ("?" for one that is not the model's)."""
    names = {id(p): name for name, p in model.named_parameters()[::-1]}
    return [{"prefix": prefix, "class": type(o).__name__,
             "hyperparameters": _to_json(o.hyperparameters()),
             "parameters": [names.get(id(p), "?") for p in o.parameters]}
            for prefix, o in optimizer_leaves(optimizer)]


def save_checkpoint(path, model, optimizer, *, epoch, history, generators, n_train=None,
                    run=None):
    """Write a resumable training state to path atomically (old checkpoint intact on a crash),
    following numpyae.io.npz's rules for saving (permissions, symlinks, stale temporaries).

    epoch        number of completed epochs
    history      History.state_dict()
    generators   the np.random.Generators to restore, in a fixed order
    n_train      the number of training rows (informative)
    run          a JSON-safe dict the trainer compares when the run resumes (batch size, data
                 fingerprints, ...)
    """
    path = check_path(path, "checkpoint")
    arrays = _model_arrays(model)
    for prefix, opt in _optimizers(optimizer):
        for key, value in opt.state_dict().items():
            arrays[f"optim:{prefix}{key}"] = np.asarray(value)
    meta = {"version": CHECKPOINT_VERSION, "epoch": int(epoch), "history": history,
            "optimizer": _optimizer_names(optimizer), "n": n_train,
            "optimizers": describe_optimizers(optimizer, model), "run": _to_json(run),
            "rng": [_to_json(g.bit_generator.state) for g in generators]}
    arrays["__checkpoint__"] = np.array(json.dumps(meta))
    write_npz(path, arrays, name="checkpoint")
    return path


class Checkpoint:
    """What read_checkpoint() found: .model (rebuilt), .parameters, .optimizer_state, .epoch,
    .history, .rng_states, .optimizer (class names), .optimizers (describe_optimizers), .n
    (training rows), .run (the trainer's record), .path, .architecture (JSON)."""

    def __init__(self, **kw):
        self.__dict__.update(kw)


def _check_meta(path, meta):
    """The checkpoint's JSON record, each field checked for its type (ModelFileError)."""
    if not isinstance(meta, dict) or meta.get("version") != CHECKPOINT_VERSION:
        got = meta.get("version") if isinstance(meta, dict) else meta
        if got == 1:
            raise ModelFileError(f"{path}: checkpoint version 1, written by an earlier numpyae "
                                 f"that did not record the settings and the data a resume is "
                                 f"checked against; numpyae.load() still reads its model, but "
                                 f"training cannot resume from it")
        raise ModelFileError(f"{path}: unsupported checkpoint version {got!r:.40}, "
                             f"this numpyae reads version {CHECKPOINT_VERSION}")
    for key, kind in (("epoch", int), ("history", dict), ("rng", list), ("optimizer", str),
                      ("optimizers", list)):
        if not isinstance(meta.get(key), kind) or isinstance(meta.get(key), bool):
            raise ModelFileError(f"{path}: checkpoint field {key!r} must be {kind.__name__}, "
                                 f"got {meta.get(key)!r:.80}")
    for key, kind in (("n", int), ("run", dict)):
        if meta.get(key) is not None and (not isinstance(meta[key], kind)
                                          or isinstance(meta[key], bool)):
            raise ModelFileError(f"{path}: checkpoint field {key!r} must be {kind.__name__} or "
                                 f"null, got {meta[key]!r:.80}")
    if meta["epoch"] < 0:
        raise ModelFileError(f"{path}: checkpoint epoch must be >= 0, got {meta['epoch']}")
    if meta["history"].get("epochs") != meta["epoch"]:
        raise ModelFileError(f"{path}: checkpoint is inconsistent: epoch {meta['epoch']}, but its "
                             f"history records {meta['history'].get('epochs')!r:.40} epochs")
    for i, o in enumerate(meta["optimizers"]):
        if not (isinstance(o, dict) and isinstance(o.get("prefix"), str)
                and isinstance(o.get("class"), str) and isinstance(o.get("hyperparameters"), dict)
                and isinstance(o.get("parameters"), list)
                and all(isinstance(n, str) for n in o["parameters"])):
            raise ModelFileError(f"{path}: checkpoint field 'optimizers'[{i}] must be "
                                 f"{{'prefix', 'class', 'hyperparameters', 'parameters'}}, "
                                 f"got {o!r:.80}")
    for i, state in enumerate(meta["rng"]):
        if not isinstance(state, dict) or not isinstance(state.get("bit_generator"), str):
            raise ModelFileError(f"{path}: checkpoint field 'rng'[{i}] must be a random "
                                 f"generator state, got {state!r:.80}")
    return meta


def read_checkpoint(path):
    """Read and check a checkpoint written by fit(checkpoint=...). Never unpickles; memory is
    bounded as in load(). Returns a Checkpoint."""
    path = check_path(path)
    arrays = read_npz(path, _known_key)
    model = _model_from_arrays(path, arrays)
    if "__checkpoint__" not in arrays:
        raise ModelFileError(f"{path}: missing key '__checkpoint__': a saved model, not a training "
                             f"checkpoint")
    raw = arrays["__checkpoint__"]
    if raw.shape != () or raw.dtype.kind != "U":
        raise ModelFileError(f"{path}: __checkpoint__ must be a 0-d string array")
    try:
        meta = _check_meta(path, json.loads(str(raw)))
    except (json.JSONDecodeError, RecursionError) as exc:
        raise ModelFileError(f"{path}: __checkpoint__ is not valid JSON: {exc}") from None
    try:
        rng_states = [_from_json(s) for s in meta["rng"]]
        run = _from_json(meta.get("run"))
    except (ValueError, TypeError, RecursionError) as exc:
        raise ModelFileError(f"{path}: checkpoint field 'rng' or 'run' is invalid: {exc}") from None
    optim = {k[len("optim:"):]: v for k, v in arrays.items() if k.startswith("optim:")}
    return Checkpoint(path=path, model=model, architecture=str(arrays["__architecture__"]),
                      parameters=_checked_parameters(path, arrays, model),
                      optimizer_state=optim, optimizer=meta["optimizer"],
                      optimizers=meta["optimizers"], epoch=meta["epoch"],
                      history=meta["history"], rng_states=rng_states, n=meta.get("n"),
                      run=run)


def _short(value, limit=60):
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def first_difference(saved, now, where="architecture"):
    """Where two JSON values first differ, as "<path>: <saved> in the checkpoint, <now> in this
    run", or None when they are equal."""
    if type(saved) is not type(now):
        return f"{where}: {_short(saved)} in the checkpoint, {_short(now)} in this run"
    if isinstance(saved, dict):
        for key in list(saved) + [k for k in now if k not in saved]:
            if key not in now or key not in saved:
                side = "the checkpoint" if key in saved else "this run"
                return f"{where}.{key}: only in {side}"
            found = first_difference(saved[key], now[key], f"{where}.{key}")
            if found:
                return found
        return None
    if isinstance(saved, list):
        if len(saved) != len(now):
            return f"{where}: {len(saved)} entries in the checkpoint, {len(now)} in this run"
        for i, (a, b) in enumerate(zip(saved, now)):
            found = first_difference(a, b, f"{where}[{i}]")
            if found:
                return found
        return None
    if saved != now:
        return f"{where}: {_short(saved)} in the checkpoint, {_short(now)} in this run"
    return None


def checkpoint_differences(ck, model, optimizer, generators):
    """What differs between the checkpoint ck and the model, optimizer and generators of the run
    about to resume from it: a list of messages (empty when they match). Compared: the model's
    architecture and dtype, the optimizers' classes, hyperparameters and parameters (which ones,
    in which order), and the number and kinds of the random generators."""
    diffs = []
    state_keys = tuple(getattr(model, "training_state", ()))
    saved = _without(json.loads(ck.architecture), state_keys)
    now = _without(json.loads(architecture_json(model)), state_keys)
    where = first_difference(saved, now)
    if where:
        diffs.append(f"model: the checkpoint was written for a different architecture than the "
                     f"model being trained ({where})")
    else:
        named = dict(model.named_parameters_unique())
        for name, value in ck.parameters.items():
            if value.dtype != named[name].value.dtype:
                diffs.append(f"model dtype: {value.dtype} in the checkpoint, "
                             f"{named[name].value.dtype} in this run")
                break
    if _optimizer_names(optimizer) != ck.optimizer:
        diffs.append(f"optimizer: the checkpoint holds {ck.optimizer} state, the optimizer is "
                     f"{_optimizer_names(optimizer)}")
    else:
        now_opts = describe_optimizers(optimizer, model)
        if [o["prefix"] for o in now_opts] != [o["prefix"] for o in ck.optimizers]:
            diffs.append(f"optimizers: {[o['prefix'] + o['class'] for o in ck.optimizers]} in the "
                         f"checkpoint, {[o['prefix'] + o['class'] for o in now_opts]} in this run")
        for old, new in zip(ck.optimizers, now_opts):
            label = f"optimizer {old['prefix'][:-1]!r}" if old["prefix"] else "optimizer"
            saved_h, now_h = old["hyperparameters"], new["hyperparameters"]
            for key in list(saved_h) + [k for k in now_h if k not in saved_h]:
                where = f"{label} ({old['class']}).{key}"
                hyper = (first_difference(saved_h[key], now_h[key], where)
                         if key in saved_h and key in now_h
                         else f"{where}: only in {'the checkpoint' if key in saved_h else 'this run'}")
                if hyper:
                    diffs.append(hyper)
            if old["parameters"] != new["parameters"]:
                diffs.append(first_difference(old["parameters"], new["parameters"],
                                              f"{label} parameters")
                             + " (build it over the same parameters in the same order, e.g. "
                               "Adam(model.parameters()))")
    if len(generators) != len(ck.rng_states):
        diffs.append(f"random generators: the checkpoint holds {len(ck.rng_states)} random "
                     f"generator states, the run has {len(generators)}")
    else:
        for i, (g, state) in enumerate(zip(generators, ck.rng_states)):
            if state["bit_generator"] != type(g.bit_generator).__name__:
                diffs.append(f"random generator {i}: {state['bit_generator']!r} in the checkpoint, "
                             f"{type(g.bit_generator).__name__} in the run")
    return diffs


def refuse_resume(path, diffs):
    """The ModelFileError for a resume refused because of diffs (a list of messages)."""
    return ModelFileError(f"{path}: cannot resume from this checkpoint: it differs from this run "
                          f"in {'; '.join(diffs)}. A resumed run must repeat the interrupted "
                          f"one: same model, optimizer, settings and data")


def _check_optimizer_state(ck, optimizer):
    """Every optimizer's saved state, validated like user input before anything is loaded."""
    leaves = optimizer_leaves(optimizer)
    covered = set()
    for prefix, opt in leaves:
        keys = {k for k in ck.optimizer_state if k.startswith(prefix)}
        covered |= keys
        opt.check_state_dict({k[len(prefix):]: ck.optimizer_state[k] for k in keys})
    if leaves and covered != set(ck.optimizer_state):
        extra = sorted(set(ck.optimizer_state) - covered)
        raise ValueError(f"unexpected optimizer state keys {extra[:8]}")


def _same_state(a, b):
    """Whether two bit generator states are equal, exactly (types included: 1.5 is not 1)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same_state(a[k], b[k]) for k in a)
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.dtype == b.dtype \
            and a.shape == b.shape and np.array_equal(a, b)
    return type(a) is type(b) and a == b


def check_generator_state(state, bit_generator_class, what):
    """A saved Generator state validated like user input: a bit generator of the class takes it
    and gives it back unchanged (a setter that rounds 1.5 to 1, or wraps a negative number,
    would otherwise accept it silently). ModelFileError naming `what` if not."""
    spare = bit_generator_class()
    try:
        spare.state = state
        back = spare.state
    except Exception as exc:   # TypeError, ValueError, KeyError, OverflowError, ...
        raise ModelFileError(f"{what} is invalid: {type(exc).__name__}: {exc}") from None
    if not _same_state(_from_json(_to_json(back)), state):
        raise ModelFileError(f"{what} is invalid: a {bit_generator_class.__name__} does not "
                             f"take it as it is ({_short(_to_json(state), 80)})")


def apply_checkpoint(ck, model, optimizer, generators):
    """Put the checkpoint's parameters, optimizer state and Generator states into the run's
    model, optimizer and generators, in place, once checkpoint_differences found nothing. The
    optimizer state and the generator states are validated before anything is changed."""
    path = ck.path
    try:
        _check_optimizer_state(ck, optimizer)
    except (KeyError, ValueError, TypeError) as exc:
        raise ModelFileError(f"{path}: optimizer state does not fit the optimizer: {exc}") from None
    for i, (g, state) in enumerate(zip(generators, ck.rng_states)):
        check_generator_state(state, type(g.bit_generator), f"{path}: random generator state {i}")
    try:
        for prefix, opt in _optimizers(optimizer):
            opt.load_state_dict({k[len(prefix):]: v for k, v in ck.optimizer_state.items()
                                 if k.startswith(prefix)})
    except (KeyError, ValueError, TypeError) as exc:
        raise ModelFileError(f"{path}: optimizer state does not fit the optimizer: {exc}") from None
    named = dict(model.named_parameters_unique())
    for name, value in ck.parameters.items():
        named[name].value[...] = value
        named[name].grad[...] = 0
    for g, state in zip(generators, ck.rng_states):
        g.bit_generator.state = state
    for key in getattr(model, "training_state", ()):  # e.g. the VAE's warm-up step
        setattr(model, key, getattr(ck.model, key))


def restore_checkpoint(path, model, optimizer, generators):
    """Put a checkpoint's parameters, optimizer state and Generator states into the given
    (freshly built) model, optimizer and generators, in place. Returns the Checkpoint.

    `path` is a checkpoint's path or a Checkpoint from read_checkpoint. Refused (ModelFileError
    naming every difference, nothing changed) unless the model has the checkpoint's architecture
    and dtype and the optimizer its class, hyperparameters and parameters
    (checkpoint_differences); the saved optimizer state is validated like user input.
    """
    ck = path if isinstance(path, Checkpoint) else read_checkpoint(path)
    diffs = checkpoint_differences(ck, model, optimizer, generators)
    if diffs:
        raise refuse_resume(ck.path, diffs)
    apply_checkpoint(ck, model, optimizer, generators)
    return ck


def _without(spec, keys):
    """The top-level architecture spec with the model's training-state config entries removed."""
    if keys and isinstance(spec, dict) and isinstance(spec.get("config"), dict):
        spec = dict(spec, config={k: v for k, v in spec["config"].items() if k not in keys})
    return spec
