"""Reading and writing jaxrl's files: never through a link, never into a run's own files.

The rules every file jaxrl writes or reads goes through (``jaxrl.runs.rundir`` for the
run directory, ``jaxrl.output.plotting`` and ``jaxrl.output.play`` for pictures,
``jaxrl.runs.policy`` for exported policies):

* **Writes never follow links and never open anything but a regular file.** A path
  that exists as a symbolic link, a FIFO, a device or a directory is refused in one
  line (``RunError``) before anything is written; whole files are written to a
  temporary file beside them and renamed over them (``write_bytes``), files that grow
  are opened with ``O_NOFOLLOW`` and checked with ``fstat`` (``open_write``).
* **Reads open only regular files.** ``open_read`` / ``read_bytes`` check ``stat``
  before opening (a FIFO would block, ``/dev/zero`` never ends) and ``fstat`` after;
  a file that cannot legitimately be large is read with a size limit.
* **Output paths never name a run's own files** (``refuse_run_files``): a file that
  ``export`` or ``play`` writes may not be ``config.json``, ``metrics.csv``, the
  checkpoint, the lock... of a run directory (a directory holding a jaxrl
  ``config.json``), nor anything under its ``tensorboard/`` or staging folder.
* **Pictures jaxrl draws carry a marker**, the PNG text chunk ``Software: jaxrl ...``
  (``PNG_SOFTWARE``), so ``--overwrite`` can tell its own ``learning_curve.png`` from a
  user's picture of the same name (``png_software``).
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import stat
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, BinaryIO

from jaxrl.errors import RunError

__all__ = [
    "PNG_SOFTWARE", "RUN_DIR_NAMES", "is_run_dir", "kind", "open_read", "open_write", "png_software",
    "read_bytes", "refuse_odd", "refuse_run_files", "write_bytes",
]

# What a run directory holds (``jaxrl.runs.rundir`` defines each name; it checks at
# import that they are all here). Its temporary files start with ``TEMP_PREFIX``.
RUN_DIR_NAMES = frozenset({
    "config.json", "metrics.csv", "checkpoint.msgpack", "summary.json", "learning_curve.png",
    ".jaxrl.lock", "tensorboard", ".jaxrl-staging",
})
TEMP_PREFIX = ".jaxrl-tmp."
PNG_SOFTWARE = "jaxrl"  # the PNG "Software" text of every picture jaxrl draws starts with it
SMALL_FILE = 16 * 2**20  # config.json, summary.json, a sweep's JSON: never larger


def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def kind(path: str | os.PathLike) -> str:
    """What ``path`` is, in words (``"a symbolic link"``, ``"a FIFO"``, ``"a regular file"``...)."""
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        return "missing"
    return "a regular file" if stat.S_ISREG(mode) else _kind(mode)


def refuse_odd(path: str | os.PathLike) -> None:
    """Refuse (``RunError``) to write ``path`` if it exists as anything but a regular file.

    A symbolic link is refused too, wherever it points: jaxrl never writes through one.
    """
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as e:
        raise RunError(f"cannot write {path}: {e.strerror or e}") from None
    if not stat.S_ISREG(st.st_mode):
        raise RunError(f"{path} is {_kind(st.st_mode)}, not a regular file; jaxrl never writes "
                       f"through links or into special files: remove it or choose another path")


def write_bytes(path: str | os.PathLike, data: bytes | Sequence[Any],
                durable: bool = False) -> Path:
    """Write ``data`` (bytes, or a sequence of bytes-like pieces written one after
    another) to ``path`` whole, so that a reader sees the old file or the new one:
    a temporary file beside it (``TEMP_PREFIX + name + random``, so a run directory can
    recognise and remove one a killed process left), the usual file mode (``0666 &
    ~umask``, not ``mkstemp``'s 0600), renamed over ``path``. ``durable``: the file and
    then its directory are synced to disk before returning (checkpoints).

    Refused (``RunError``) if ``path`` is a link or not a regular file.
    """
    path = Path(path)
    refuse_odd(path)
    fd, tmp = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as f:
            for piece in ([data] if isinstance(data, (bytes, bytearray, memoryview))
                          else data):
                f.write(piece)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        # Whatever went wrong (disk full, Ctrl-C), the old file is untouched.
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    if durable:
        _sync_directory(path.parent)
    return path


def _sync_directory(directory: Path) -> None:
    try:
        dir_fd = os.open(directory, os.O_RDONLY)
    except OSError:  # some filesystems do not allow opening a directory
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def _umask() -> int:
    """The process's umask, read without changing it where the OS allows.

    (``os.umask(0)`` then back leaves a moment in which a file another thread creates,
    such as a TensorBoard event file, gets mode 0666.)
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    umask = os.umask(0o022)
    os.umask(umask)
    return umask


def _blocking(fd: int) -> None:
    flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    fcntl.fcntl(fd, fcntl.F_SETFL, flags & ~os.O_NONBLOCK)


def _check_fd(fd: int, path: str | os.PathLike) -> None:
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise RunError(f"{path} is {_kind(mode)}, not a regular file; jaxrl reads and writes "
                       f"only regular files: remove it or put the real file there")


def open_write(path: str | os.PathLike, keep: int = 0) -> BinaryIO:
    """``path`` opened for writing at byte ``keep`` (the first ``keep`` bytes stay, the rest
    is cut; a new file is created). Never through a link, never a non-regular file."""
    refuse_odd(path)
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags, 0o666)
    except OSError as e:
        if e.errno in (errno.ELOOP, errno.ENXIO):  # a link appeared; a FIFO with no reader
            raise RunError(f"{path} is not a regular file; jaxrl never writes through links "
                           f"or into special files: remove it") from None
        raise
    _check_fd(fd, path)
    _blocking(fd)
    f = os.fdopen(fd, "r+b")
    f.truncate(keep)
    f.seek(keep)
    return f


def open_read(path: str | os.PathLike) -> BinaryIO:
    """``path`` opened for reading, if it is a regular file (a link to one is fine).

    Raises ``FileNotFoundError`` when it does not exist, ``RunError`` when it is a FIFO,
    a device, a directory or a link to one (checked before opening: nothing blocks).
    """
    st = os.stat(path)
    if not stat.S_ISREG(st.st_mode):
        raise RunError(f"{path} is {_kind(st.st_mode)}, not a regular file; jaxrl reads only "
                       f"regular files: remove it or put the real file there")
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    _check_fd(fd, path)
    _blocking(fd)
    return os.fdopen(fd, "rb")


def read_bytes(path: str | os.PathLike, limit: int | None = None) -> bytes:
    """The bytes of the regular file ``path`` (``open_read``); more than ``limit`` is refused."""
    with open_read(path) as f:
        if limit is None:
            return f.read()
        data = f.read(limit + 1)
    if len(data) > limit:
        raise RunError(f"{path} is larger than a file of its kind can be ({limit} bytes at "
                       f"most); it is not jaxrl's")
    return data


def png_software(path: str | os.PathLike) -> str | None:
    """The ``Software`` text chunk of the PNG at ``path`` (before its image data), or None."""
    try:
        head = read_bytes_prefix(path, 1 << 16)
    except (OSError, RunError):
        return None
    if not head.startswith(b"\x89PNG\r\n\x1a\n"):
        return None
    i = 8
    while i + 8 <= len(head):
        length = int.from_bytes(head[i:i + 4], "big")
        kind = head[i + 4:i + 8]
        if kind == b"IDAT" or kind == b"IEND":
            return None
        body = head[i + 8:i + 8 + length]
        if kind == b"tEXt" and body.startswith(b"Software\x00"):
            return body[len(b"Software\x00"):].decode("latin-1")
        i += 12 + length
    return None


def read_bytes_prefix(path: str | os.PathLike, n: int) -> bytes:
    """At most the first ``n`` bytes of the regular file ``path`` (``open_read``)."""
    with open_read(path) as f:
        return f.read(n)


def is_run_dir(directory: str | os.PathLike) -> bool:
    """Whether ``directory`` holds a jaxrl run (a ``config.json`` that jaxrl wrote)."""
    try:
        data = json.loads(read_bytes(Path(directory) / "config.json", SMALL_FILE))
    except (OSError, RunError, ValueError, UnicodeDecodeError, RecursionError):
        return False
    return isinstance(data, dict) and "algorithm" in data and "jaxrl_version" in data


def _run_file(path: Path, runs: list[Path]) -> tuple[Path, str] | None:
    """The run directory and the name of its own file that ``path`` falls on, or None."""
    for top in [*runs, *path.parents]:
        try:
            rel = path.relative_to(top)
        except ValueError:
            continue
        if not rel.parts:
            continue
        first = rel.parts[0]
        named = first in RUN_DIR_NAMES or first.startswith(TEMP_PREFIX)
        if named and (top in runs or is_run_dir(top)):
            return top, first
    return None


def refuse_run_files(paths: Iterable[str | os.PathLike], run_dir: str | os.PathLike | None = None,
                     flag: str = "--out") -> None:
    """Refuse (``RunError``) output ``paths`` that name a file of a run directory.

    A run directory is ``run_dir`` (the run being exported or played) or any directory
    holding a jaxrl ``config.json``; its files are those of ``RUN_DIR_NAMES``, its
    temporary files and anything under its ``tensorboard/`` or staging folder. Each
    path is checked as written and with links resolved.
    """
    runs = []
    if run_dir is not None:
        runs = [Path(run_dir).expanduser().absolute(), Path(run_dir).expanduser().resolve()]
    for p in paths:
        p = Path(p).expanduser()
        for form in (p.absolute(), p.resolve()):
            hit = _run_file(form, runs)
            if hit is not None:
                raise RunError(f"{flag} {p} would overwrite {hit[1]} of the run in {hit[0]}; "
                               f"jaxrl never writes over a run's own files: choose another path")
