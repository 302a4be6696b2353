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
"""
from __future__ import annotations

import json
import os
import tempfile

import numpy as np

from ..core.registry import REGISTRY
from ..models.base import Model

FORMAT_VERSION = 2


class ModelFileError(ValueError):
    """A saved model file is unreadable, incomplete or inconsistent."""


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
            if not isinstance(k, int) or not 0 <= k < len(self.built):
                raise ModelFileError(f"architecture refers to object {k!r}, which does not exist")
            return self.built[k]
        if isinstance(spec, dict) and "class" in spec:
            name = spec["class"]
            if name not in REGISTRY:
                raise ModelFileError(f"architecture names an unknown class {name!r}; "
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
            except (TypeError, ValueError) as exc:
                raise ModelFileError(f"cannot rebuild {name} from the saved architecture: {exc}") from None
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


def _atomic_savez(path, arrays):
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".numpyae-", suffix=".npz", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def save(model, path):
    """Write model to path (.npz) atomically: a crash mid-save leaves any old file intact."""
    arrays = {"__format__": np.array(FORMAT_VERSION),
              "__architecture__": np.array(architecture_json(model))}
    for name, p in model.named_parameters_unique():
        arrays[f"param:{name}"] = p.value
    _atomic_savez(path, arrays)
    return path


def _check_path(path, name="path"):
    if isinstance(path, bool) or not isinstance(path, (str, bytes, os.PathLike)):
        raise TypeError(f"{name} must be a file path (str or os.PathLike), got {type(path).__name__}")
    return os.fspath(path)


def _read_npz(path):
    """Every array of an .npz archive, read with allow_pickle=False, or a ModelFileError.

    Each member is read up front, so a pickled (object) array is refused by name before
    anything else looks at the file, and truncation anywhere in the archive surfaces here.
    """
    try:
        npz = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise
    except ValueError as exc:
        if "pickle" in str(exc):
            raise ModelFileError(f"{path}: refused: the file holds pickled data, and numpyae never "
                                 f"unpickles ({exc})") from None
        raise ModelFileError(f"{path}: not a readable numpyae .npz file ({exc})") from None
    except Exception as exc:  # zipfile/struct/zlib/unicode errors of a damaged archive
        raise ModelFileError(f"{path}: not a readable numpyae .npz file, truncated or corrupt "
                             f"({type(exc).__name__}: {exc})") from None
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise ModelFileError(f"{path}: holds a single array, not a numpyae .npz archive")
    arrays = {}
    with npz:
        for key in npz.files:
            try:
                arrays[key] = npz[key]
            except ValueError as exc:
                if "allow_pickle" in str(exc) or "Object arrays" in str(exc):
                    raise ModelFileError(f"{path}: refused: key {key!r} holds an object array, which "
                                         f"only pickle can read; numpyae never unpickles") from None
                raise ModelFileError(f"{path}: key {key!r} is unreadable, truncated or "
                                     f"corrupt ({exc})") from None
            except Exception as exc:  # BadZipFile (bad CRC), zlib, EOF, struct, ...
                raise ModelFileError(f"{path}: file is truncated or corrupt at key {key!r} "
                                     f"({type(exc).__name__}: {exc})") from None
    return arrays


def _check_format(path, arrays):
    for key in ("__format__", "__architecture__"):
        if key not in arrays:
            raise ModelFileError(f"{path}: missing key {key!r}; not a numpyae model file "
                                 f"(keys: {sorted(arrays)[:8]})")
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


def _guard_sizes(path, arch, arrays):
    """Refuse, before building anything, an architecture whose layers would allocate more weights
    than the file holds (a crafted n_in x n_out of 10^6 x 10^6 would otherwise eat the memory)."""
    budget = sum(int(a.size) for k, a in arrays.items() if k.startswith("param:"))
    try:
        stack = [json.loads(arch)]
    except (json.JSONDecodeError, RecursionError):
        return  # model_from_json reports it
    while stack:
        o = stack.pop()
        if isinstance(o, dict):
            n_in, n_out = o.get("n_in"), o.get("n_out")
            if isinstance(n_in, int) and isinstance(n_out, int) and n_in * n_out > budget:
                raise ModelFileError(f"{path}: architecture declares a {n_in} x {n_out} layer, more "
                                     f"weights than the file's {budget} saved parameter values")
            stack.extend(o.values())
        elif isinstance(o, list):
            stack.extend(o)


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
    for name, value in _checked_parameters(path, arrays, model).items():
        p = dict(model.named_parameters_unique())[name]
        p.value = value.copy()
        p.grad = np.zeros_like(p.value)
    return model


def load(path):
    """Load a model saved by numpyae.save(model, path) (or a checkpoint written by fit()).

    Never unpickles: an archive holding an object array is refused. Missing keys, an unknown
    format version, parameters of the wrong name, shape or dtype, NaN/inf parameters and
    truncated files each raise ModelFileError naming the problem.
    """
    path = _check_path(path)
    return _model_from_arrays(path, _read_npz(path))


# ---- training checkpoints -------------------------------------------------------------------
#
# A checkpoint is a model file (so numpyae.load() reads it) plus
#     "__checkpoint__"   0-d str array: JSON {"version", "epoch", "history", "rng", "optimizer", "n"}
#     "optim:<key>"      one array per entry of optimizer.state_dict()
# Generator states are bit_generator.state dicts, made JSON-safe (arrays become tagged lists).

CHECKPOINT_VERSION = 1


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
    return obj


def _from_json(obj):
    if isinstance(obj, dict):
        if set(obj) == {"__ndarray__", "dtype"}:
            return np.array(obj["__ndarray__"], dtype=np.dtype(obj["dtype"]))
        return {k: _from_json(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_from_json(v) for v in obj]
    return obj


def _optimizers(optimizer):
    """[(prefix, Optimizer)] for one optimizer, a list/tuple of them or a dict name -> optimizer
    (models that override train_step, e.g. adversarial ones, may use several)."""
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


def _optimizer_names(optimizer):
    return ",".join(prefix + type(o).__name__ for prefix, o in _optimizers(optimizer))


def save_checkpoint(path, model, optimizer, *, epoch, history, generators, n_train=None):
    """Write a resumable training state to path atomically (old checkpoint intact on a crash).

    epoch        number of completed epochs
    history      History.state_dict()
    generators   the np.random.Generators to restore, in a fixed order
    """
    path = _check_path(path)
    arrays = {"__format__": np.array(FORMAT_VERSION),
              "__architecture__": np.array(architecture_json(model))}
    for name, p in model.named_parameters_unique():
        arrays[f"param:{name}"] = p.value
    for prefix, opt in _optimizers(optimizer):
        for key, value in opt.state_dict().items():
            arrays[f"optim:{prefix}{key}"] = np.asarray(value)
    meta = {"version": CHECKPOINT_VERSION, "epoch": int(epoch), "history": history,
            "optimizer": _optimizer_names(optimizer), "n": n_train,
            "rng": [_to_json(g.bit_generator.state) for g in generators]}
    arrays["__checkpoint__"] = np.array(json.dumps(meta))
    _atomic_savez(path, arrays)
    return path


class Checkpoint:
    """What read_checkpoint() found: .model (rebuilt), .optimizer_state, .epoch, .history,
    .rng_states, .optimizer (class name), .n (training rows), .path, .architecture (JSON)."""

    def __init__(self, **kw):
        self.__dict__.update(kw)


def read_checkpoint(path):
    """Read and check a checkpoint written by fit(checkpoint=...). Never unpickles."""
    path = _check_path(path)
    arrays = _read_npz(path)
    model = _model_from_arrays(path, arrays)
    if "__checkpoint__" not in arrays:
        raise ModelFileError(f"{path}: missing key '__checkpoint__': a saved model, not a training "
                             f"checkpoint")
    raw = arrays["__checkpoint__"]
    if raw.shape != () or raw.dtype.kind != "U":
        raise ModelFileError(f"{path}: __checkpoint__ must be a 0-d string array")
    try:
        meta = json.loads(str(raw))
    except (json.JSONDecodeError, RecursionError) as exc:
        raise ModelFileError(f"{path}: __checkpoint__ is not valid JSON: {exc}") from None
    if not isinstance(meta, dict) or meta.get("version") != CHECKPOINT_VERSION:
        got = meta.get("version") if isinstance(meta, dict) else meta
        raise ModelFileError(f"{path}: unsupported checkpoint version {got!r}, "
                             f"this numpyae reads version {CHECKPOINT_VERSION}")
    for key, kind in (("epoch", int), ("history", dict), ("rng", list), ("optimizer", str)):
        if not isinstance(meta.get(key), kind) or isinstance(meta.get(key), bool):
            raise ModelFileError(f"{path}: checkpoint field {key!r} must be {kind.__name__}, "
                                 f"got {meta.get(key)!r:.80}")
    if meta["epoch"] < 0:
        raise ModelFileError(f"{path}: checkpoint epoch must be >= 0, got {meta['epoch']}")
    if meta["history"].get("epochs") != meta["epoch"]:
        raise ModelFileError(f"{path}: checkpoint is inconsistent: epoch {meta['epoch']}, but its "
                             f"history records {meta['history'].get('epochs')!r} epochs")
    optim = {k[len("optim:"):]: v for k, v in arrays.items() if k.startswith("optim:")}
    return Checkpoint(path=path, model=model, architecture=str(arrays["__architecture__"]),
                      parameters=_checked_parameters(path, arrays, model),
                      optimizer_state=optim, optimizer=meta["optimizer"], epoch=meta["epoch"],
                      history=meta["history"], rng_states=[_from_json(s) for s in meta["rng"]],
                      n=meta.get("n"))


def restore_checkpoint(path, model, optimizer, generators):
    """Put a checkpoint's parameters, optimizer state and Generator states into the given
    (freshly built) model, optimizer and generators, in place. Returns the Checkpoint.

    The model must have the checkpoint's architecture and dtype, the optimizer its class.
    """
    ck = read_checkpoint(path)
    state_keys = tuple(getattr(model, "training_state", ()))
    if _without(json.loads(architecture_json(model)), state_keys) != \
            _without(json.loads(ck.architecture), state_keys):
        raise ModelFileError(f"{path}: the checkpoint was written for a different architecture "
                             f"than the model being trained")
    named = dict(model.named_parameters_unique())
    for name, value in ck.parameters.items():
        if value.dtype != named[name].value.dtype:
            raise ModelFileError(f"{path}: parameter {name} is {value.dtype} in the checkpoint, "
                                 f"{named[name].value.dtype} in the model")
    if _optimizer_names(optimizer) != ck.optimizer:
        raise ModelFileError(f"{path}: the checkpoint holds {ck.optimizer} state, the optimizer "
                             f"is {_optimizer_names(optimizer)}")
    if len(generators) != len(ck.rng_states):
        raise ModelFileError(f"{path}: the checkpoint holds {len(ck.rng_states)} random generator "
                             f"states, the run has {len(generators)}")
    for i, (g, state) in enumerate(zip(generators, ck.rng_states)):
        name = state.get("bit_generator") if isinstance(state, dict) else None
        if name != type(g.bit_generator).__name__:
            raise ModelFileError(f"{path}: random generator {i} is {name!r} in the checkpoint, "
                                 f"{type(g.bit_generator).__name__} in the run")
    try:
        for prefix, opt in _optimizers(optimizer):
            opt.load_state_dict({k[len(prefix):]: v for k, v in ck.optimizer_state.items()
                                 if k.startswith(prefix)})
    except (KeyError, ValueError, TypeError) as exc:
        raise ModelFileError(f"{path}: optimizer state does not fit the optimizer: {exc}") from None
    for name, value in ck.parameters.items():
        named[name].value[...] = value
        named[name].grad[...] = 0
    for g, state in zip(generators, ck.rng_states):
        try:
            g.bit_generator.state = state
        except (TypeError, ValueError, KeyError) as exc:
            raise ModelFileError(f"{path}: random generator state is invalid: {exc}") from None
    for key in state_keys:  # e.g. the VAE's warm-up step, as the rebuilt checkpoint model has it
        setattr(model, key, getattr(ck.model, key))
    return ck


def _without(spec, keys):
    """The top-level architecture spec with the model's training-state config entries removed."""
    if keys and isinstance(spec, dict) and isinstance(spec.get("config"), dict):
        spec = dict(spec, config={k: v for k, v in spec["config"].items() if k not in keys})
    return spec
