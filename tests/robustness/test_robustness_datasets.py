"""Bad input to the data functions, tried systematically (Hypothesis): the IDX readers and
loaders (random bytes, mutated headers and bodies, gzipped or not, wrong names, splits and
folders, well-formed files of random size) and train_validation_split's arguments.

The contract is robustness_helpers.run's (see test_robustness_api.py): a correct result, or a
ValueError / TypeError / FileNotFoundError (DatasetError is a ValueError,
DatasetUnavailableError a FileNotFoundError) naming the spoiled argument or file. The network
is never reached (tests/robustness/conftest.py makes every download fail).
"""
import gzip

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from numpyae import train_validation_split
from numpyae.data import datasets as ds
from robustness_helpers import JUNK, SETTINGS, run


# ---- dataset loaders -----------------------------------------------------------------------------

@settings(max_examples=400, **SETTINGS)
@given(data=st.data(), how=st.sampled_from(["bytes", "mutate", "args", "valid"]))
def test_loaders(data, how, tmp_path_factory):
    folder = tmp_path_factory.getbasetemp() / "idx"
    folder.mkdir(exist_ok=True)
    path = folder / "f-idx"
    if how == "valid":  # a well-formed split of random size, gzipped or raw, must load exactly
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


# ---- train_validation_split ------------------------------------------------------------------

@settings(max_examples=300, **SETTINGS)
@given(data=st.data(), spoil=st.sampled_from([None, "X", "y", "fraction", "rng"]))
def test_split(data, spoil):
    n = data.draw(st.integers(10, 14))  # every fraction drawn below leaves both sides non-empty
    X = np.random.default_rng(n).random((n, 3))
    kw = dict(y=np.arange(n), fraction=data.draw(st.sampled_from([0.2, 0.5, 0.9])),
              rng=data.draw(st.one_of(st.integers(0, 9),
                                      st.integers(0, 9).map(np.random.default_rng))))
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
    elif spoil == "rng":
        kw["rng"] = data.draw(st.sampled_from([-1, 1.5, "s", [1]]))
    ok, out = run("train_validation_split", lambda: train_validation_split(X, **kw),
                  None if spoil is None else [spoil])
    if ok:
        X_tr, X_va, y_tr, y_va = out
        assert len(X_tr) + len(X_va) == len(X) and len(X_tr) == len(y_tr) and len(X_va) == len(y_va)
