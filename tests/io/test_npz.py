"""The .npz container (numpyae.io.npz): how saves treat the file system, and the memory budget
of loading.

Saves keep the target's permissions (new files follow the umask), write through symlinks, refuse
folders, devices and FIFOs, name the user's path in every error and remove their own stale
temporaries (also after a SIGKILL mid-save). Loading reads the zip directory and the .npy
headers first and refuses, before allocating, a file whose declared arrays exceed what it can
hold, members that are not .npy arrays or not expected, and architectures larger than the
parameter values the file holds.
"""
import json
import os
import re
import signal
import stat
import subprocess
import sys
import textwrap
import tracemalloc
import zipfile

import numpy as np
import pytest

import numpyae
import numpyae.io.npz as npz
from numpyae import Adam, ModelFileError, fit, mlp_autoencoder
from numpyae.io import check_save_path


def small_model(rng=0):
    return mlp_autoencoder([6, 4, 3], rng=rng)


def arrays_of(path):
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def same_weights(a, b):
    return all(p.value.tobytes() == q.value.tobytes() for p, q in zip(a.parameters(), b.parameters()))


def temporaries(folder):
    return sorted(n for n in os.listdir(folder) if ".numpyae-" in n)


def dead_pid():
    """The pid of a process that has ended (and been reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


# ---- permissions -----------------------------------------------------------------------------

@pytest.mark.parametrize("mode", [0o644, 0o640, 0o664])
def test_save_keeps_the_permissions_of_an_existing_file(tmp_path, mode):
    """Reproducer: an existing 0644 model file became 0600 after a save (shared folders)."""
    path = tmp_path / "m.npz"
    numpyae.save(small_model(), path)
    os.chmod(path, mode)
    numpyae.save(small_model(1), path)
    assert stat.S_IMODE(os.stat(path).st_mode) == mode
    assert same_weights(numpyae.load(path), small_model(1))


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_a_new_file_follows_the_umask(tmp_path, umask, mode):
    """Reproducer: save() wrote every new file with mode 0600 whatever the umask."""
    old = os.umask(umask)
    try:
        numpyae.save(small_model(), tmp_path / "m.npz")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "m.npz").st_mode) == mode


def test_checkpoints_follow_the_same_permission_rules(tmp_path):
    old = os.umask(0o022)
    try:
        model = small_model()
        ck = tmp_path / "ck.npz"
        fit(model, np.random.default_rng(0).random((8, 6)), Adam(model.parameters()), epochs=1,
            checkpoint=ck, progress=False, rng=0)
        assert stat.S_IMODE(os.stat(ck).st_mode) == 0o644
        os.chmod(ck, 0o660)
        fit(model, np.random.default_rng(0).random((8, 6)), Adam(model.parameters()), epochs=1,
            checkpoint=ck, progress=False, rng=0)
        assert stat.S_IMODE(os.stat(ck).st_mode) == 0o660
    finally:
        os.umask(old)


def test_save_keeps_the_owner_and_group_when_root_overwrites_a_users_file(tmp_path):
    path = tmp_path / "m.npz"
    numpyae.save(small_model(), path)
    if os.geteuid() == 0:   # only root can give a file away: then the file stays the student's
        os.chown(path, 1234, 5678)
        numpyae.save(small_model(1), path)
        st = os.stat(path)
        assert (st.st_uid, st.st_gid) == (1234, 5678)
    else:                   # anyone else keeps their own file
        numpyae.save(small_model(1), path)
        assert os.stat(path).st_uid == os.geteuid()
    assert same_weights(numpyae.load(path), small_model(1))


def test_a_read_only_target_is_refused_and_left_alone(tmp_path):
    path = tmp_path / "m.npz"
    numpyae.save(small_model(), path)
    before = path.read_bytes()
    os.chmod(path, 0o444)
    if os.geteuid() == 0:   # root may write anything: the file is replaced, its mode kept
        numpyae.save(small_model(1), path)
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o444
    else:
        with pytest.raises(PermissionError, match="not writable") as info:
            numpyae.save(small_model(1), path)
        assert str(path) in str(info.value)
        assert path.read_bytes() == before


# ---- symlinks and non-regular files ------------------------------------------------------------

def test_save_writes_through_a_symlink(tmp_path):
    """Reproducer: save() replaced a symlink with a regular file instead of writing its target."""
    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "model.npz"
    numpyae.save(small_model(), target)
    os.chmod(target, 0o640)
    link = tmp_path / "link.npz"
    link.symlink_to(target)
    numpyae.save(small_model(1), link)
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert same_weights(numpyae.load(target), small_model(1))
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o640
    assert temporaries(tmp_path) == [] and temporaries(tmp_path / "real") == []


def test_save_through_a_dangling_symlink_creates_its_target(tmp_path):
    link = tmp_path / "link.npz"
    link.symlink_to(tmp_path / "new.npz")
    numpyae.save(small_model(), link)
    assert link.is_symlink() and (tmp_path / "new.npz").is_file()


def test_a_symlink_loop_is_refused(tmp_path):
    a, b = tmp_path / "a.npz", tmp_path / "b.npz"
    a.symlink_to(b)
    b.symlink_to(a)
    with pytest.raises(OSError, match="loop") as info:
        numpyae.save(small_model(), a)
    assert str(a) in str(info.value)


def _fifo(tmp_path):
    path = tmp_path / "pipe.npz"
    os.mkfifo(path)
    return path


def _link_to_dev_null(tmp_path):
    path = tmp_path / "null.npz"
    path.symlink_to("/dev/null")
    return path


def _device_node(tmp_path):
    """A character device node (as /dev/full, 1:7) inside tmp_path when root can make one,
    else a symlink to /dev/null: either way a save must not replace it."""
    path = tmp_path / "full"
    if os.geteuid() == 0:
        os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 7))
        return path
    return _link_to_dev_null(tmp_path)


@pytest.mark.parametrize("make, kind", [(_fifo, r"FIFO \(named pipe\)"), (_link_to_dev_null, "character device"),
                                        (_device_node, "character device")])
def test_save_refuses_non_regular_files(tmp_path, make, kind):
    """Reproducer: as root, save() replaced a device node (/dev/full) with a model file."""
    path = make(tmp_path)
    before = os.lstat(path)
    with pytest.raises(ValueError, match=f"is a {kind}, not a regular file") as info:
        numpyae.save(small_model(), path)
    assert str(path) in str(info.value)
    after = os.lstat(path)
    assert (after.st_mode, after.st_ino) == (before.st_mode, before.st_ino)   # untouched
    assert temporaries(tmp_path) == []
    with pytest.raises(ValueError, match="not a regular file"):
        check_save_path(path, "out")


def test_save_refuses_a_folder(tmp_path):
    with pytest.raises(IsADirectoryError, match="it is a folder") as info:
        numpyae.save(small_model(), tmp_path)
    assert str(tmp_path) in str(info.value)
    with pytest.raises(IsADirectoryError, match="names a folder"):
        numpyae.save(small_model(), str(tmp_path) + "/")


# ---- errors name the user's path ------------------------------------------------------------

def test_errors_name_the_users_path_never_the_temporary(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError) as info:
        numpyae.save(small_model(), "/no/such/m.npz")
    assert "/no/such/m.npz" in str(info.value) and ".numpyae-" not in str(info.value)

    def disk_full(f, **arrays):
        f.write(b"PK")
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(npz.np, "savez", disk_full)
    path = tmp_path / "m.npz"
    with pytest.raises(OSError, match="No space left on device") as info:
        numpyae.save(small_model(), path)
    assert info.value.errno == 28
    assert str(path) in str(info.value) and ".numpyae-" not in str(info.value)
    assert os.listdir(tmp_path) == []


def test_check_save_path(tmp_path):
    assert check_save_path(tmp_path / "m.npz", "out") == str(tmp_path / "m.npz")
    assert os.listdir(tmp_path) == []           # the probe leaves nothing behind
    with pytest.raises(FileNotFoundError, match=r"cannot save out '/no/such/m.npz': the folder "
                                                r"'/no/such' does not exist"):
        check_save_path("/no/such/m.npz", "out")
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError, match="is not a folder"):
        check_save_path(tmp_path / "file" / "m.npz", "out")
    with pytest.raises(OSError, match="/proc/nope"):
        check_save_path("/proc/nope", "out")    # unwritable even for root
    with pytest.raises(TypeError, match="out must be a file path"):
        check_save_path(3, "out")
    with pytest.raises(ValueError, match="without NUL"):
        check_save_path("a\0b", "out")


# ---- stale temporaries ------------------------------------------------------------------------

def test_save_removes_stale_temporaries_of_dead_writers(tmp_path):
    """Reproducer: 15 killed saves left 14 hidden temporaries (104 MB) behind."""
    path = tmp_path / "m.npz"
    numpyae.save(small_model(), path)
    pid = dead_pid()
    stale = [f".m.npz.numpyae-{pid}-{i:08x}.tmp" for i in range(3)]
    stale.append(f".other.npz.numpyae-{pid}-0000abcd.tmp")     # of another target, as dead
    alive = f".m.npz.numpyae-{os.getppid()}-0000abcd.tmp"      # a save in progress elsewhere
    unrelated = [".m.npz.numpyae-notapid-0000abcd.tmp", "m.npz.numpyae-1-0000abcd.tmp",
                 ".m.npz.numpyae-0-0000abcd.tmp", ".m.npz.numpyae-1-0000abcd.tmp.bak",
                 ".numpyae-6x0r8lip.npz"]
    for name in stale + [alive] + unrelated:
        (tmp_path / name).write_bytes(b"half a model")
    numpyae.save(small_model(1), path)
    left = set(os.listdir(tmp_path))
    assert not left & set(stale)
    assert {alive, "m.npz", *unrelated} == left
    assert same_weights(numpyae.load(path), small_model(1))


def test_temporary_names_are_tied_to_the_target(tmp_path):
    pattern = npz.temp_pattern("m.npz")
    assert pattern.match(".m.npz.numpyae-123-0a1b2c3d.tmp").group(1) == "123"
    assert not pattern.match(".m.npz.numpyae-123-0a1b2c3d.tmp.x")
    assert not pattern.match(".mXnpz.numpyae-123-0a1b2c3d.tmp")
    assert npz.temp_pattern().match(".other.npz.numpyae-9-0a1b2c3d.tmp").group(1) == "9"
    assert not npz.temp_pattern().match(".numpyae-9-0a1b2c3d.tmp")
    long = "x" * 250 + ".npz"                      # NAME_MAX is 255: the stem is hashed
    numpyae.save(small_model(), tmp_path / long)
    assert os.listdir(tmp_path) == [long]


KILLED_SAVE = textwrap.dedent("""
    import sys, time
    import numpy as np
    import numpyae
    real = np.savez
    def slow(f, **arrays):
        real(f, **arrays)
        f.flush()
        print("writing", flush=True)
        time.sleep(60)                      # killed here, the temporary half-renamed never
    np.savez = slow
    numpyae.save(numpyae.mlp_autoencoder([6, 4, 3], rng=1), sys.argv[1])
""")


def test_a_save_killed_with_sigkill_leaves_a_temporary_the_next_save_removes(tmp_path):
    path = tmp_path / "m.npz"
    old = small_model()
    numpyae.save(old, path)
    before = path.read_bytes()
    proc = subprocess.Popen([sys.executable, "-c", KILLED_SAVE, str(path)],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "writing"
        left = temporaries(tmp_path)
        assert len(left) == 1 and npz.temp_pattern("m.npz").match(left[0])
        assert int(npz.temp_pattern("m.npz").match(left[0]).group(1)) == proc.pid
        numpyae.save(old, path)                                # the writer is alive: kept
        assert temporaries(tmp_path) == left
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
    assert path.read_bytes() == before                         # the old file is intact
    assert temporaries(tmp_path) == left
    numpyae.save(small_model(2), tmp_path / "other.npz")       # any save in the folder cleans up
    assert temporaries(tmp_path) == []
    numpyae.save(small_model(1), path)
    assert same_weights(numpyae.load(path), small_model(1))


# ---- the memory budget of loading ---------------------------------------------------------------

def _peak_bytes(fn):
    """(the exception fn raised, the peak of traced allocations while it ran)."""
    tracemalloc.start()
    try:
        fn()
    except Exception as exc:   # noqa: BLE001 - returned to the test, which checks it
        error = exc
    else:
        error = None
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return error, peak


def _with_architecture(tmp_path, model, change, *, compress=False, extra=None):
    path = tmp_path / "src.npz"
    numpyae.save(model, path)
    arrays = arrays_of(path)
    spec = json.loads(str(arrays["__architecture__"]))
    change(spec)
    arrays["__architecture__"] = np.array(json.dumps(spec))
    arrays.update(extra or {})
    out = tmp_path / "crafted.npz"
    (np.savez_compressed if compress else np.savez)(out, **arrays)
    return out


def test_preset_sizes_count_towards_the_budget(tmp_path):
    """Reproducer: a 778-byte file with SparseAutoencoder sizes [8000, 8000] reached 1.26 GB
    before it was refused."""
    def change(spec):
        spec["config"]["sizes"] = [8000, 8000]
    path = _with_architecture(tmp_path, numpyae.SparseAutoencoder([8, 4]), change)
    assert os.path.getsize(path) < 4000
    error, peak = _peak_bytes(lambda: numpyae.load(path))
    assert isinstance(error, ModelFileError), error
    assert "sizes [8000, 8000]" in str(error) and str(path) in str(error)
    assert peak < 20e6


def test_all_layers_count_together(tmp_path):
    """Reproducer: 100 Dense(1000, 1000) layers in a 5 KB file reached 1.2 GB (each layer alone
    fitted the file's one compressed 1000 x 1000 array)."""
    layer = {"class": "Dense", "config": {"n_in": 1000, "n_out": 1000,
                                          "activation": {"name": "relu"}, "init": "he_normal"}}

    def change(spec):
        spec["config"]["encoder"]["config"]["layers"] = [layer] * 100
    zeros = {"param:encoder.0.W": np.zeros((1000, 1000), np.float32)}
    for compress in (True, False):
        path = _with_architecture(tmp_path, small_model(), change, compress=compress, extra=zeros)
        error, peak = _peak_bytes(lambda: numpyae.load(path))
        assert isinstance(error, ModelFileError), error
        if compress:   # 4 MB of zeros in a few KB: the file cannot plausibly hold them
            assert os.path.getsize(path) < 10_000
            assert "more than a" in str(error) and "plausibly hold" in str(error)
            assert peak < 20e6
        else:          # the 1000 x 1000 array is really there, but 100 layers need 100 of them
            assert re.search(r"declares a 1000 x 1000 layer and at least 1000000\d\d weights in "
                             r"all, but the file holds only 1000065 parameter values", str(error))
            assert peak < 30e6


def _zip_with_member(path, name, shape, dtype, *, fill_bytes=None, others=None):
    """A zip whose member `name` is a .npy header declaring (shape, dtype) followed by
    fill_bytes bytes of zeros (default: all the declared data), deflated, written in chunks."""
    header = np.lib.format.header_data_from_array_1_0(np.empty(0, dtype))
    header["shape"] = shape
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for key, array in (others or {}).items():
            with zf.open(f"{key}.npy", "w") as f:
                np.lib.format.write_array(f, array, allow_pickle=False)
        with zf.open(name, "w", force_zip64=True) as f:
            np.lib.format.write_array_header_1_0(f, header)
            left = int(np.prod(shape)) * np.dtype(dtype).itemsize if fill_bytes is None else fill_bytes
            chunk = bytes(1 << 22)
            while left > 0:
                f.write(chunk[:min(left, len(chunk))])
                left -= len(chunk)


def test_a_huge_unused_member_is_refused_before_reading_it(tmp_path):
    """Reproducer: a 1 MB npz with an unused 1 GiB member loaded (and was read)."""
    base = tmp_path / "m.npz"
    numpyae.save(small_model(), base)
    path = tmp_path / "bomb.npz"
    _zip_with_member(path, "unused.npy", (2 ** 28,), np.float32, others=arrays_of(base))
    assert os.path.getsize(path) < 5e6
    error, peak = _peak_bytes(lambda: numpyae.load(path))
    assert isinstance(error, ModelFileError), error
    assert "unexpected member(s) ['unused']" in str(error)
    assert peak < 20e6
    # the same bomb under an expected name is refused by the budget
    path2 = tmp_path / "bomb2.npz"
    others = {k: v for k, v in arrays_of(base).items() if k != "param:encoder.0.W"}
    _zip_with_member(path2, "param:encoder.0.W.npy", (2 ** 26,), np.float32, others=others)
    error, peak = _peak_bytes(lambda: numpyae.load(path2))
    assert isinstance(error, ModelFileError), error
    assert "plausibly hold" in str(error) and peak < 20e6


def test_a_header_declaring_more_than_the_member_holds_is_refused(tmp_path):
    base = tmp_path / "m.npz"
    numpyae.save(small_model(), base)
    others = {k: v for k, v in arrays_of(base).items() if k != "param:encoder.0.W"}
    path = tmp_path / "short.npz"
    _zip_with_member(path, "param:encoder.0.W.npy", (10 ** 6, 1000), np.float64, fill_bytes=64,
                     others=others)
    error, peak = _peak_bytes(lambda: numpyae.load(path))
    assert isinstance(error, ModelFileError) and "declares 8000000000 bytes" in str(error), error
    assert peak < 20e6


def test_the_fixed_ceiling(tmp_path, monkeypatch):
    path = tmp_path / "m.npz"
    numpyae.save(small_model(), path)
    monkeypatch.setattr(npz, "MAX_TOTAL_BYTES", 100)
    with pytest.raises(ModelFileError, match=r"more than numpyae reads from one file \(100 bytes\)"):
        numpyae.load(path)


def test_a_member_without_the_npy_suffix_is_refused(tmp_path):
    """Reproducer: an npz member without the .npy suffix gave AttributeError: 'bytes' object
    has no attribute 'size'."""
    base = tmp_path / "m.npz"
    numpyae.save(small_model(), base)
    path = tmp_path / "nosuffix.npz"
    with zipfile.ZipFile(base) as src, zipfile.ZipFile(path, "w") as dst:
        for info in src.infolist():
            name = info.filename
            dst.writestr(name[:-4] if name == "param:encoder.0.W.npy" else name, src.read(info))
    with pytest.raises(ModelFileError, match=r"member 'param:encoder.0.W' is not a .npy array"):
        numpyae.load(path)
    path2 = tmp_path / "text.npz"
    with zipfile.ZipFile(base) as src, zipfile.ZipFile(path2, "w") as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info))
        dst.writestr("readme.txt", b"hello")
    with pytest.raises(ModelFileError, match=r"'readme.txt' is not a readable .npy array"):
        numpyae.load(path2)


@pytest.mark.parametrize("dtype", ["V8", [("a", "<f4")], "M8[s]"])
def test_members_of_odd_dtypes_are_refused(tmp_path, dtype):
    base = tmp_path / "m.npz"
    numpyae.save(small_model(), base)
    arrays = arrays_of(base)
    arrays["param:encoder.0.b"] = np.zeros(4, dtype=dtype)
    path = tmp_path / "odd.npz"
    np.savez(path, **arrays)
    with pytest.raises(ModelFileError, match="not a plain numeric or string array"):
        numpyae.load(path)


def test_reading_is_refused_for_non_regular_files(tmp_path):
    fifo = _fifo(tmp_path)           # opening a FIFO would block forever
    with pytest.raises(ModelFileError, match="FIFO"):
        numpyae.load(fifo)
    with pytest.raises(ModelFileError, match="character device"):
        numpyae.load("/dev/zero")


def test_checkpoints_are_read_with_the_same_budget(tmp_path):
    model = small_model()
    ck = tmp_path / "ck.npz"
    fit(model, np.random.default_rng(0).random((8, 6)), Adam(model.parameters()), epochs=1,
        checkpoint=ck, progress=False, rng=0)
    arrays = arrays_of(ck)
    arrays["junk"] = np.zeros(3)
    np.savez(tmp_path / "junk.npz", **arrays)
    with pytest.raises(ModelFileError, match=r"unexpected member\(s\) \['junk'\]"):
        numpyae.io.read_checkpoint(tmp_path / "junk.npz")


def test_optimizer_state_without_a_checkpoint_record_is_refused(tmp_path):
    base = tmp_path / "m.npz"
    numpyae.save(small_model(), base)
    arrays = arrays_of(base)
    arrays["optim:lr"] = np.array(0.1)
    np.savez(tmp_path / "odd.npz", **arrays)
    with pytest.raises(ModelFileError, match=r"optimizer state \(optim:\* keys\) without a "
                                             r"checkpoint record"):
        numpyae.load(tmp_path / "odd.npz")
