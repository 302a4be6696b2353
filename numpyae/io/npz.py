"""The .npz container numpyae saves to, written and read with no way to lose data or memory.

Writing (write_npz, check_save_path): the rules every save follows
    atomic         the arrays go to a temporary file in the target's own folder, which is flushed,
                   fsynced and then renamed onto the target (os.replace): a crash or a kill at any
                   moment leaves either the old file or the new one, never a mix.
    permissions    an existing target keeps its mode bits (and, where the system allows it, its
                   owner and group); a new file gets 0o666 minus the umask, like any file the
                   user creates. A target the user may not write (e.g. mode 0444) is refused.
    symlinks       are written through: a path that is a symlink (or runs through one) is
                   resolved, and the file it points to is replaced atomically from a temporary
                   in that file's folder; the link stays a link. A symlink loop is refused.
    regular files  only: a target that is a folder, a device, a FIFO or a socket is refused
                   before anything is written.
    errors         name the user's path, never the temporary.
    temporaries    are named ".<target name>.numpyae-<pid>-<random>.tmp" (<pid> the writing
                   process, <random> 8 hex digits), in the target's folder. Each save first removes
                   the stale numpyae temporaries of that folder (of any target): those whose writer
                   process no longer runs on this machine (a save killed with SIGKILL, a power
                   cut). A temporary whose process is alive is left alone, since it may be a save
                   in progress; so is anything that does not match the pattern exactly.
                   (A pid reused by an unrelated process keeps its temporary until that process
                   ends; in a folder shared by several machines, only the writing machine's
                   processes are known, so a temporary of another machine that looks dead here may
                   be removed, and that machine's save then fails with a message, its old file
                   intact.)

Reading (read_npz): one memory budget for the whole file, checked before any array is allocated.
The zip directory and every member's .npy header (shape, dtype) are read first, without the
data. A member that is not a .npy array, holds Python objects (pickle), or is not one of the
keys the caller expects is refused by name. The declared sizes of all members together must fit
    - what the file can hold: a stored (uncompressed) member holds at most its own bytes; the
      deflate-compressed members of a file (np.savez_compressed) may together expand to at most
      MAX_EXPANSION times their compressed size (weights compress far less than 2:1; only
      crafted or degenerate all-zero arrays compress more), and
    - a fixed ceiling, MAX_TOTAL_BYTES.
Arrays are read with allow_pickle=False. Every failure is a ModelFileError naming the path.
"""
from __future__ import annotations

import errno
import hashlib
import math
import os
import re
import secrets
import stat
import zipfile

import numpy as np

#: Declared array bytes a file may hold in total (all members together).
MAX_TOTAL_BYTES = 2 * 1024 ** 3
#: How many times their compressed size the compressed members of a file may declare in total.
MAX_EXPANSION = 100
#: The largest .npy header read (numpy's own default).
MAX_HEADER_BYTES = 10000
#: Target names longer than this (in bytes) are hashed in the temporary's name (NAME_MAX is 255).
_LONG_NAME = 200
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
_NPY_MAGIC = b"\x93NUMPY"


class ModelFileError(ValueError):
    """A saved model file is unreadable, incomplete or inconsistent."""


def check_path(path, name="path"):
    """path as a str: a str, bytes or os.PathLike, non-empty and without NUL characters."""
    if isinstance(path, bool) or not isinstance(path, (str, bytes, os.PathLike)):
        raise TypeError(f"{name} must be a file path (str or os.PathLike), got {type(path).__name__}")
    path = os.fspath(path)
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    if not path or "\0" in path:
        raise ValueError(f"{name} must be a non-empty file path without NUL characters, got {path!r}")
    return path


# ---- writing ---------------------------------------------------------------------------------

def _file_kind(mode):
    """A readable name for the kind of a non-regular file."""
    for test, kind in ((stat.S_ISDIR, "folder"), (stat.S_ISCHR, "character device"),
                       (stat.S_ISBLK, "block device"), (stat.S_ISFIFO, "FIFO (named pipe)"),
                       (stat.S_ISSOCK, "socket")):
        if test(mode):
            return kind
    return "special file"


def _target(path, name):
    """(the file a save of `path` replaces, its os.stat or None if it does not exist yet),
    refusing folders, devices and other non-regular files, unresolvable symlinks, a missing
    folder and an existing target the user may not write."""
    if os.path.basename(path) in ("", ".", ".."):
        raise IsADirectoryError(errno.EISDIR, f"cannot save {name} {path!r}: it names a folder, "
                                              f"not a file")
    target = os.path.realpath(path)
    if os.path.islink(target):
        raise OSError(errno.ELOOP, f"cannot save {name} {path!r}: it is a symlink that does "
                                   f"not resolve (a loop)")
    folder = os.path.dirname(target)
    if not os.path.isdir(folder):
        missing = not os.path.exists(folder)
        cls = FileNotFoundError if missing else NotADirectoryError
        raise cls(errno.ENOENT if missing else errno.ENOTDIR,
                  f"cannot save {name} {path!r}: the folder {folder!r} "
                  f"{'does not exist' if missing else 'is not a folder'}")
    try:
        st = os.stat(target)
    except FileNotFoundError:
        return target, None
    except OSError as exc:
        raise _named(exc, name, path) from None
    if stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(errno.EISDIR, f"cannot save {name} {path!r}: it is a folder")
    if not stat.S_ISREG(st.st_mode):
        link = f" (a symlink to {target!r})" if os.path.islink(path) else ""
        raise ValueError(f"{name} {path!r}{link} is a {_file_kind(st.st_mode)}, not a regular "
                         f"file: numpyae saves only to regular files")
    if not os.access(target, os.W_OK):
        raise PermissionError(errno.EACCES, f"cannot save {name} {path!r}: the existing file is "
                                            f"not writable (mode {stat.S_IMODE(st.st_mode):04o})")
    return target, st


def _named(exc, name, path):
    """The OSError exc again (same class and errno), its message naming the user's path."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    message = f"cannot save {name} {path!r}: {reason}"
    try:
        return type(exc)(message) if exc.errno is None else type(exc)(exc.errno, message)
    except TypeError:   # an OSError subclass with its own constructor
        return OSError(exc.errno, message)


def _temp_stem(base):
    """The part of a temporary's name that ties it to the target named `base`."""
    if len(os.fsencode(base)) <= _LONG_NAME:
        return base
    return "~" + hashlib.sha256(os.fsencode(base)).hexdigest()[:32]


def temp_pattern(base=None):
    """The regular expression a temporary of target `base` (of any target: None) matches;
    group 1 is the writer's pid."""
    stem = r"\..+" if base is None else re.escape(f".{_temp_stem(base)}")
    return re.compile(stem + r"\.numpyae-([0-9]+)-[0-9a-f]{8}\.tmp\Z")


def _process_exists(pid):
    """Whether process pid runs on this machine (a zombie, killed but not yet reaped, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:   # it exists, under another user
        return True
    except OSError:
        return True           # cannot tell: keep its files
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            state = f.read().rsplit(b")", 1)[1].split()[0]
        return state not in (b"Z", b"X")
    except (OSError, IndexError):
        return True


def remove_stale_temporaries(folder):
    """Remove the numpyae temporaries in `folder` whose writer process no longer exists (module
    doc). Returns the names removed. Never raises for a file it cannot remove."""
    pattern, removed = temp_pattern(), []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    for entry in names:
        match = pattern.match(entry)
        if match is None:
            continue
        pid = int(match.group(1))
        if pid <= 0 or pid == os.getpid() or _process_exists(pid):
            continue
        try:
            os.unlink(os.path.join(folder, entry))
            removed.append(entry)
        except OSError:
            pass
    return removed


def _create_temporary(folder, base, st):
    """(fd, path) of a new, empty temporary for target `base` in folder: mode 0o666 minus the
    umask, or, when the target exists (st), the target's mode, owner and group."""
    stem = _temp_stem(base)
    for _ in range(100):
        tmp = os.path.join(folder, f".{stem}.numpyae-{os.getpid()}-{secrets.token_hex(4)}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0),
                         0o666)
            break
        except FileExistsError:
            continue
    else:
        raise FileExistsError(errno.EEXIST, "no free temporary name")
    if st is not None:
        try:
            if st.st_uid != os.geteuid() or st.st_gid != os.getegid():
                os.fchown(fd, st.st_uid, st.st_gid)
        except (OSError, AttributeError):
            pass   # not allowed (only root may give a file away): the file is the saver's
        try:
            os.fchmod(fd, stat.S_IMODE(st.st_mode))
        except OSError:
            os.close(fd)
            os.unlink(tmp)
            raise
    return fd, tmp


def _sync_folder(folder):
    """fsync the folder so the rename itself survives a power cut (best effort)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def check_save_path(path, name="path"):
    """Check, before any work, that a save to `path` can succeed: the path names a regular file
    or a new one (not a folder, device, FIFO or socket; symlinks resolved), its folder exists and
    a file can be created there (tried: a temporary is created and removed). Returns the path as
    a str; raises an OSError (FileNotFoundError, PermissionError, IsADirectoryError, ...) or a
    ValueError whose message names `name` and the user's path."""
    path = check_path(path, name)
    target, _ = _target(path, name)
    folder, base = os.path.split(target)
    try:
        fd, tmp = _create_temporary(folder, base, None)
    except OSError as exc:
        raise _named(exc, name, path) from None
    os.close(fd)
    try:
        os.unlink(tmp)
    except OSError:
        pass
    return path


def write_npz(path, arrays, *, name="path"):
    """Write {key: array} to path as an uncompressed .npz, atomically, keeping the target's
    permissions, writing through symlinks, refusing non-regular files and first removing the
    stale temporaries of killed saves in the target's folder (module doc). Returns the user's
    path."""
    path = check_path(path, name)
    target, st = _target(path, name)
    folder, base = os.path.split(target)
    remove_stale_temporaries(folder)
    tmp = None
    try:
        fd, tmp = _create_temporary(folder, base, st)
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
        tmp = None
    except OSError as exc:
        raise _named(exc, name, path) from None
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
    _sync_folder(folder)
    return path


# ---- reading ---------------------------------------------------------------------------------

class Member:
    """One .npy member of an archive, from its header: key, shape, dtype, declared bytes."""

    def __init__(self, info, key, shape, dtype):
        self.info, self.key, self.shape, self.dtype = info, key, shape, dtype
        self.size = math.prod(shape)
        self.nbytes = self.size * max(dtype.itemsize, 1)


def _read_header(zf, info, path, key):
    """(shape, dtype, bytes before the data) from a member's .npy header, no data read."""
    try:
        with zf.open(info) as f:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(
                    f, max_header_size=MAX_HEADER_BYTES)
            elif version == (2, 0):
                shape, _, dtype = np.lib.format.read_array_header_2_0(
                    f, max_header_size=MAX_HEADER_BYTES)
            else:
                raise ValueError(f".npy format version {version} is not supported")
            offset = f.tell()
    except Exception as exc:   # BadZipFile, ValueError, EOF, struct, zlib, ...
        raise ModelFileError(f"{path}: member {key!r} is not a readable .npy array, truncated or "
                             f"corrupt ({type(exc).__name__}: {exc})") from None
    return shape, dtype, offset


def read_members(zf, path, allowed):
    """{key: Member} of an open archive, every check of the module doc done but the budget."""
    members = {}
    for info in zf.infolist():
        name = info.filename
        if info.flag_bits & 0x1:
            raise ModelFileError(f"{path}: refused: member {name!r} is encrypted")
        # the header first: a damaged directory entry shows up here as corruption
        shape, dtype, offset = _read_header(zf, info, path, name)
        if not name.endswith(".npy") or info.is_dir():
            raise ModelFileError(f"{path}: refused: member {name!r} is not a .npy array "
                                 f"(a numpyae file holds only arrays named <key>.npy)")
        key = name[:-len(".npy")]
        if key in members:
            raise ModelFileError(f"{path}: refused: member {name!r} appears twice")
        if dtype.hasobject:
            raise ModelFileError(f"{path}: refused: key {key!r} holds an object array, which only "
                                 f"pickle can read; numpyae never unpickles")
        if dtype.kind not in "biufcU" or dtype.fields is not None or dtype.subdtype is not None:
            raise ModelFileError(f"{path}: refused: key {key!r} has dtype {dtype}, not a plain "
                                 f"numeric or string array")
        member = Member(info, key, shape, dtype)
        if member.nbytes > info.file_size - offset:
            raise ModelFileError(f"{path}: member {key!r} declares {member.nbytes} bytes of data "
                                 f"but holds {max(info.file_size - offset, 0)}: corrupt")
        members[key] = member
    unexpected = sorted(k for k in members if not allowed(k))
    if unexpected:
        raise ModelFileError(f"{path}: refused: unexpected member(s) {unexpected[:8]}; a numpyae "
                             f"file holds only the keys it writes")
    return members


def check_budget(path, members, file_size):
    """The memory budget of the module doc, for the declared sizes of all members together."""
    stored = sum(m.info.compress_size for m in members.values())
    if stored > file_size:
        raise ModelFileError(f"{path}: the zip directory claims {stored} bytes of members, more "
                             f"than the file's {file_size}: corrupt")
    declared = sum(m.nbytes for m in members.values())
    holds = sum(m.info.compress_size if m.info.compress_type == zipfile.ZIP_STORED
                else MAX_EXPANSION * m.info.compress_size for m in members.values())
    if declared > holds:
        raise ModelFileError(f"{path}: refused: its arrays declare {declared} bytes, more than a "
                             f"{file_size}-byte file can plausibly hold ({holds} bytes: stored "
                             f"members at their size, compressed ones at most {MAX_EXPANSION} "
                             f"times theirs)")
    if declared > MAX_TOTAL_BYTES:
        raise ModelFileError(f"{path}: refused: its arrays declare {declared} bytes, more than "
                             f"numpyae reads from one file ({MAX_TOTAL_BYTES} bytes)")


def _sniff(path, head):
    """A ModelFileError for a file that is not a zip archive, saying what it is instead."""
    if head.startswith(_NPY_MAGIC):
        return ModelFileError(f"{path}: holds a single array, not a numpyae .npz archive")
    if head[:1] == b"\x80" or head[:1] in (b"(", b"]", b"}"):
        return ModelFileError(f"{path}: refused: the file holds pickled data, and numpyae never "
                              f"unpickles")
    return ModelFileError(f"{path}: not a readable numpyae .npz file (not a zip archive)")


def read_npz(path, allowed=lambda key: True, *, name="path"):
    """{key: array} of the .npz at path, after the checks and the memory budget of the module
    doc; `allowed(key)` says which keys the caller expects (others are refused). Never unpickles.
    A missing file raises FileNotFoundError; everything else wrong is a ModelFileError."""
    path = check_path(path, name)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise ModelFileError(f"{path}: not a readable numpyae .npz file ({exc.strerror})") from None
    if not stat.S_ISREG(st.st_mode):
        raise ModelFileError(f"{path}: not a readable numpyae .npz file (it is a "
                             f"{_file_kind(st.st_mode)}, not a regular file)")
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
            if not head.startswith(_ZIP_MAGIC):
                raise _sniff(path, head)
            fh.seek(0)
            with zipfile.ZipFile(fh) as zf:
                members = read_members(zf, path, allowed)
                check_budget(path, members, st.st_size)
                return {key: _read_array(zf, m, path) for key, m in members.items()}
    except ModelFileError:
        raise
    except PermissionError:
        raise
    except Exception as exc:   # BadZipFile, zlib, EOF, struct, unicode, OSError of a bad disk
        raise ModelFileError(f"{path}: not a readable numpyae .npz file, truncated or corrupt "
                             f"({type(exc).__name__}: {exc})") from None


def _read_array(zf, member, path):
    """The member's array (its size already within the budget)."""
    try:
        with zf.open(member.info) as f:
            array = np.lib.format.read_array(f, allow_pickle=False,
                                             max_header_size=MAX_HEADER_BYTES)
    except Exception as exc:   # BadZipFile (bad CRC), zlib, EOF, struct, ...
        raise ModelFileError(f"{path}: file is truncated or corrupt at key {member.key!r} "
                             f"({type(exc).__name__}: {exc})") from None
    if array.shape != tuple(member.shape) or array.dtype != member.dtype:
        raise ModelFileError(f"{path}: member {member.key!r} changed between its header and its "
                             f"data: corrupt")
    return array
