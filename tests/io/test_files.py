"""Saving and loading: round trips, and no way in through a file.

Crafted files (an object array whose unpickling would have a side effect, missing keys, wrong
shapes and dtypes, unknown versions, truncation) are refused with a ModelFileError naming the
problem; an interrupted save leaves the old file intact.
"""
import json
import os
import pickle

import numpy as np
import pytest

import numpyae
import numpyae.io.files as nio
from numpyae import ModelFileError, mlp_autoencoder


def model_file(tmp_path, name="m.npz", **kw):
    model = mlp_autoencoder([6, 4, 3], rng=0, **kw)
    path = tmp_path / name
    numpyae.save(model, path)
    return model, path


def arrays_of(path):
    with np.load(path, allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


# ---- round trips ---------------------------------------------------------------------------------

@pytest.mark.parametrize("kw", [{}, {"tied": True}, {"dtype": np.float64, "loss": "mse"}])
def test_round_trip(tmp_path, kw):
    model, path = model_file(tmp_path, **kw)
    loaded = numpyae.load(path)
    X = np.random.default_rng(0).random((5, 6))
    np.testing.assert_array_equal(loaded.reconstruct(X), model.reconstruct(X))
    assert loaded.dtype == model.dtype
    assert len(loaded.parameters()) == len(model.parameters())  # ties survive


def test_saved_file_has_no_object_arrays(tmp_path):
    _, path = model_file(tmp_path, tied=True)
    assert all(a.dtype != object for a in arrays_of(path).values())


# ---- pickled content is refused, never executed ---------------------------------------------------------

class _SideEffect:
    """Unpickling this creates a marker file: the proof that pickle ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("key", ["__format__", "__architecture__", "param:encoder.0.W", "extra"])
def test_object_array_is_refused_not_executed(tmp_path, key):
    _, path = model_file(tmp_path)
    arrays = arrays_of(path)
    marker = tmp_path / "pwned"
    evil = np.empty(1, dtype=object)
    evil[0] = _SideEffect(marker)
    arrays[key] = evil
    crafted = tmp_path / "evil.npz"
    np.savez(crafted, **arrays)  # np.savez pickles object arrays
    with pytest.raises(ModelFileError, match=rf"refused: key '{key}' holds an object array"):
        numpyae.load(crafted)
    assert not marker.exists()
    # the same file opened with pickle allowed would have run the payload (the test is real)
    with np.load(crafted, allow_pickle=True) as npz:
        npz[key]
    assert marker.exists()


def test_pickle_file_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "model.npz"
    path.write_bytes(pickle.dumps(_SideEffect(marker)))
    with pytest.raises(ModelFileError, match="pickled data"):
        numpyae.load(path)
    assert not marker.exists()


def test_single_npy_is_refused(tmp_path):
    path = tmp_path / "a.npy"
    np.save(path, np.zeros(3))
    with pytest.raises(ModelFileError, match="single array, not a numpyae .npz archive"):
        numpyae.load(path)


# ---- malformed content ----------------------------------------------------------------------------

def _crafted(tmp_path, change):
    _, path = model_file(tmp_path)
    arrays = arrays_of(path)
    change(arrays)
    out = tmp_path / "crafted.npz"
    np.savez(out, **arrays)
    return out


@pytest.mark.parametrize("change,message", [
    (lambda a: a.pop("__format__"), r"missing key '__format__'"),
    (lambda a: a.pop("__architecture__"), r"missing key '__architecture__'"),
    (lambda a: a.pop("param:encoder.0.W"), r"missing \['encoder.0.W'\]"),
    (lambda a: a.update({"param:encoder.9.W": np.zeros(2, np.float32)}), r"unexpected \['encoder.9.W'\]"),
    (lambda a: a.update({"__format__": np.array(99)}), r"unsupported format version .*99"),
    (lambda a: a.update({"__format__": np.array("1")}),
     r"__format__ must be a 0-d integer array, got dtype <U1"),
    (lambda a: a.update({"__format__": np.array([2])}), r"__format__ must be a 0-d integer array"),
    (lambda a: a.update({"__architecture__": np.array(["x", "y"])}), r"must be a 0-d string array"),
    (lambda a: a.update({"__architecture__": np.array("{nope")}), r"not valid JSON"),
    (lambda a: a.update({"__architecture__": np.array('{"class": "Evil", "config": {}}')}),
     r"unknown class 'Evil'"),
    (lambda a: a.update({"__architecture__": np.array(
        '{"class": "Dense", "config": {"n_in": 2, "n_out": 2}}')}), r"describes a Dense, not a numpyae Model"),
    (lambda a: a.update({"__architecture__": np.array("[" * 100000 + "]" * 100000)}),
     r"nested too deeply|not valid JSON"),
    (lambda a: a.update({"param:encoder.0.W": np.zeros((4, 6), np.float32)}),
     r"encoder.0.W has shape \(4, 6\), the architecture needs \(6, 4\)"),
    (lambda a: a.update({"param:encoder.0.W": np.zeros((6, 4), np.int64)}),
     r"encoder.0.W has dtype int64, expected float32 or float64"),
    (lambda a: a.update({"param:encoder.0.W": np.zeros((6, 4), np.complex64)}),
     r"encoder.0.W has dtype complex64"),
    (lambda a: a.update({"param:encoder.0.W": np.zeros((6, 4), np.float64)}), r"mix dtypes"),
    (lambda a: a["param:encoder.0.b"].__setitem__(1, np.nan), r"encoder.0.b contains NaN or inf"),
])
def test_malformed_files_name_the_problem(tmp_path, change, message):
    with pytest.raises(ModelFileError, match=message):
        numpyae.load(_crafted(tmp_path, change))


def test_format_version_1_is_refused_by_name(tmp_path):
    """Files written before the restructuring (format version 1: seed=, noise_seed=, latent_dim=)
    are refused with a message naming the version, not rebuilt with misread arguments."""
    _, path = model_file(tmp_path)
    arrays = arrays_of(path)
    arrays["__format__"] = np.array(1)
    old = tmp_path / "v1.npz"
    np.savez(old, **arrays)
    with pytest.raises(ModelFileError, match="format version 1") as info:
        numpyae.load(old)
    assert str(old) in str(info.value)
    assert nio.FORMAT_VERSION == 2 and int(arrays_of(path)["__format__"]) == 2


def test_bad_config_values_are_model_file_errors(tmp_path):
    def change(a):
        spec = json.loads(str(a["__architecture__"]))
        spec["config"]["encoder"]["config"]["layers"][0]["config"]["n_in"] = "six"
        a["__architecture__"] = np.array(json.dumps(spec))
    with pytest.raises(ModelFileError, match="cannot rebuild Dense .* n_in must be a positive int"):
        numpyae.load(_crafted(tmp_path, change))


def test_huge_declared_layer_is_refused_before_allocating(tmp_path):
    def change(a):
        spec = json.loads(str(a["__architecture__"]))
        spec["config"]["encoder"]["config"]["layers"][0]["config"]["n_out"] = 10 ** 7
        spec["config"]["encoder"]["config"]["layers"][0]["config"]["n_in"] = 10 ** 7
        a["__architecture__"] = np.array(json.dumps(spec))
    with pytest.raises(ModelFileError, match="declares a 10000000 x 10000000 layer"):
        numpyae.load(_crafted(tmp_path, change))


def test_truncated_files(tmp_path):
    _, path = model_file(tmp_path)
    data = path.read_bytes()
    cut = tmp_path / "cut.npz"
    for n in sorted(set(np.linspace(0, len(data) - 1, 60).astype(int))):
        cut.write_bytes(data[:n])
        with pytest.raises(ModelFileError, match="truncated|corrupt|not a readable"):
            numpyae.load(cut)


def test_corrupted_bytes_inside_the_archive(tmp_path):
    model, path = model_file(tmp_path)
    data = bytearray(path.read_bytes())
    refused = 0
    # overwrite 8 bytes at 40 places: member headers, array headers, data, central directory
    for start in np.linspace(0, len(data) - 8, 40).astype(int):
        bad = bytearray(data)
        bad[start:start + 8] = b"\xff" * 8
        (tmp_path / "bad.npz").write_bytes(bytes(bad))
        try:
            loaded = numpyae.load(tmp_path / "bad.npz")
        except ModelFileError as exc:
            assert "corrupt" in str(exc) or "not a readable" in str(exc) or "format" in str(exc) \
                or "architecture" in str(exc) or "JSON" in str(exc), str(exc)
            refused += 1
            continue
        # only bytes zip ignores (e.g. a local header's timestamp) may load, and then unharmed
        for p, q in zip(loaded.parameters(), model.parameters()):
            assert p.value.tobytes() == q.value.tobytes()
    assert refused >= 35


def test_path_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        numpyae.load(tmp_path / "absent.npz")
    with pytest.raises(TypeError, match="path must be a file path"):
        numpyae.load(3)
    with pytest.raises(ModelFileError, match="not a readable"):
        numpyae.load(tmp_path)  # a directory


# ---- atomic saves ------------------------------------------------------------------------------

def test_interrupted_save_leaves_old_file_intact(tmp_path, monkeypatch):
    old, path = model_file(tmp_path)
    before = path.read_bytes()
    new = mlp_autoencoder([6, 4, 3], rng=1)

    real_savez = np.savez

    def dies_midway(f, **arrays):
        real_savez(f, **arrays)
        f.seek(0)
        f.truncate(len(before) // 3)  # half-written...
        raise KeyboardInterrupt("power cut")  # ...then the process dies

    monkeypatch.setattr(nio.np, "savez", dies_midway)
    with pytest.raises(KeyboardInterrupt):
        numpyae.save(new, path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["m.npz"]  # no temporary left behind
    X = np.random.default_rng(0).random((3, 6))
    np.testing.assert_array_equal(numpyae.load(path).reconstruct(X), old.reconstruct(X))
    numpyae.save(new, path)  # and a save that completes replaces it
    np.testing.assert_array_equal(numpyae.load(path).reconstruct(X), new.reconstruct(X))


def test_interrupted_checkpoint_keeps_previous_checkpoint(tmp_path, monkeypatch):
    from numpyae import Adam, fit
    from numpyae.io.files import read_checkpoint
    X = np.random.default_rng(0).random((20, 6), dtype=np.float32)
    model = mlp_autoencoder([6, 4, 3], rng=0)
    ck = tmp_path / "c.npz"
    fit(model, X, Adam(model.parameters()), epochs=2, checkpoint=ck, progress=False, rng=0)

    def fails(*a, **k):
        raise OSError("disk full")
    monkeypatch.setattr(nio.np, "savez", fails)
    with pytest.raises(OSError, match="disk full"):
        fit(model, X, Adam(model.parameters()), epochs=1, checkpoint=ck, progress=False)
    monkeypatch.undo()
    assert read_checkpoint(ck).epoch == 2
