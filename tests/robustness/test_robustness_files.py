"""Damaged model files, tried systematically (Hypothesis): a saved model's .npz truncated, with
bytes flipped, replaced by junk, or with an array dropped, replaced (wrong shape, dtype, NaN,
a string), turned into an object array, added, or its format version changed (version 1, the
format before the package was layered, and every other version but the current one, are
refused). numpyae.load must refuse each with a ModelFileError (a ValueError) naming the file,
or, for a harmless change, load a sound model.

(A saved model reloaded and used on spoiled input is one of test_robustness_api.py's
inference cases.)
"""
import io

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import numpyae
from numpyae import ModelFileError
from robustness_helpers import SETTINGS, assert_finite_array, model_for, run


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
        elif how == "version":  # 1: the format before the package was layered; 3: a future one
            version = data.draw(st.sampled_from([0, 1, 3, -1, 10 ** 12]))
            arrays["__format__"] = np.array(version)
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        raw = buf.getvalue()
    path.write_bytes(raw)
    ok, loaded = run("load", lambda: numpyae.load(path), [str(path)])
    if how == "version":  # every version but the current one is refused, and says which it is
        assert not ok and isinstance(loaded, ModelFileError), loaded
        assert f"format version {version}," in str(loaded), str(loaded)
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
