"""Saving and loading models to a single .npz, without pickle.

File layout (format version 1):
    "__format__"        0-d int array, the format version
    "__architecture__"  0-d str array: JSON of the model's constructor arguments, nested
    "param:<name>"      one array per unique Parameter, named as in model.named_parameters()

Architecture JSON: every serializable object is {"class": name, "config": {...}}; an object met a
second time (the encoder layer a tied decoder layer reuses) is {"ref": k}, the k-th object encoded,
so ties survive the round trip. Loading rebuilds the model from the JSON (fresh weights), then
copies the saved values in, checking each name, shape and dtype. Nothing is ever unpickled.
"""
from __future__ import annotations

import json
import os
import tempfile
import zipfile

import numpy as np

FORMAT_VERSION = 1
_REGISTRY = {}


def register(cls):
    """Class decorator: make cls loadable by name from an architecture JSON."""
    _REGISTRY[cls.__name__] = cls
    return cls


class ModelFileError(ValueError):
    """A saved model file is unreadable, incomplete or inconsistent."""


class _Encoder:
    def __init__(self):
        self.seen = {}

    def encode(self, obj):
        if id(obj) in self.seen:
            return {"ref": self.seen[id(obj)]}
        name = type(obj).__name__
        if _REGISTRY.get(name) is not type(obj):
            raise TypeError(f"cannot save {name}: it is not registered with numpyae.io.register")
        self.seen[id(obj)] = len(self.seen)
        return {"class": name, "config": obj.get_config(self)}


class _Decoder:
    def __init__(self):
        self.built = []

    def decode(self, spec):
        if isinstance(spec, dict) and "ref" in spec and len(spec) == 1:
            k = spec["ref"]
            if not isinstance(k, int) or not 0 <= k < len(self.built):
                raise ModelFileError(f"architecture refers to object {k!r}, which does not exist")
            return self.built[k]
        if isinstance(spec, dict) and "class" in spec:
            name = spec["class"]
            if name not in _REGISTRY:
                raise ModelFileError(f"architecture names an unknown class {name!r}; "
                                     f"known: {sorted(_REGISTRY)}")
            slot = len(self.built)
            self.built.append(None)  # reserve the index in encoding order
            cls = _REGISTRY[name]
            config = spec.get("config", {})
            if not isinstance(config, dict):
                raise ModelFileError(f"config of {name} must be a JSON object")
            kwargs = {k: self.decode(v) for k, v in config.items()}
            try:
                obj = cls.from_config(**kwargs) if hasattr(cls, "from_config") else cls(**kwargs)
            except (TypeError, ValueError) as exc:
                raise ModelFileError(f"cannot rebuild {name} from the saved architecture: {exc}") from None
            self.built[slot] = obj
            return obj
        if isinstance(spec, list):
            return [self.decode(v) for v in spec]
        if isinstance(spec, dict):
            return {k: self.decode(v) for k, v in spec.items()}
        return spec


def architecture_json(model):
    return json.dumps(_Encoder().encode(model))


def model_from_json(text):
    try:
        spec = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ModelFileError(f"architecture is not valid JSON: {exc}") from None
    return _Decoder().decode(spec)


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


def save_model(model, path):
    """Write model to path (.npz) atomically: a crash mid-save leaves any old file intact."""
    arrays = {"__format__": np.array(FORMAT_VERSION),
              "__architecture__": np.array(architecture_json(model))}
    for name, p in model.named_parameters_unique():
        arrays[f"param:{name}"] = p.value
    _atomic_savez(path, arrays)
    return path


def load(path):
    """Load a model saved by model.save(path). Refuses pickled content."""
    try:
        npz = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise ModelFileError(f"{path}: not a readable numpyae .npz file ({exc})") from None
    with npz:
        try:
            keys = set(npz.files)
            for key in ("__format__", "__architecture__"):
                if key not in keys:
                    raise ModelFileError(f"{path}: missing key {key!r}; not a numpyae model file")
            version = npz["__format__"]
            if version.shape != () or version.dtype.kind not in "iu" or int(version) != FORMAT_VERSION:
                raise ModelFileError(f"{path}: unsupported format version {version!r}, "
                                     f"this numpyae reads version {FORMAT_VERSION}")
            arch = npz["__architecture__"]
            if arch.shape != () or arch.dtype.kind != "U":
                raise ModelFileError(f"{path}: __architecture__ must be a 0-d string array")
            model = model_from_json(str(arch))
            expected = dict(model.named_parameters_unique())
            saved = {k[len("param:"):] for k in keys if k.startswith("param:")}
            if saved != set(expected):
                missing = sorted(set(expected) - saved)
                extra = sorted(saved - set(expected))
                raise ModelFileError(f"{path}: parameters do not match the architecture "
                                     f"(missing {missing}, unexpected {extra})")
            for name, p in expected.items():
                value = npz[f"param:{name}"]
                if value.shape != p.value.shape:
                    raise ModelFileError(f"{path}: parameter {name} has shape {value.shape}, "
                                         f"the architecture needs {p.value.shape}")
                if value.dtype.type not in (np.float32, np.float64):
                    raise ModelFileError(f"{path}: parameter {name} has dtype {value.dtype}, "
                                         f"expected float32 or float64")
                p.value = value.copy()
                p.grad = np.zeros_like(p.value)
        except ValueError as exc:
            if isinstance(exc, ModelFileError):
                raise
            # np.load raises ValueError for object arrays when allow_pickle=False
            raise ModelFileError(f"{path}: refused ({exc})") from None
        except (OSError, zipfile.BadZipFile, EOFError) as exc:
            raise ModelFileError(f"{path}: file is truncated or corrupt ({exc})") from None
    return model
