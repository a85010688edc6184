"""The run directory: the only module that knows its file names, formats, lock and checks.

A run directory holds

* ``config.json``: the ``RunSpec`` (algorithm, environment and options, seeds, the
  resolved config, chunking and checkpoint settings);
* ``metrics.csv``: columns ``update, seed, <metric>...``, one row per update and seed;
* ``checkpoint.msgpack``: the latest training state (``jaxrl.runs.checkpoint``), whose
  header also carries the run's spec, the byte length and SHA-256 of ``metrics.csv``
  at that point, and the env steps reached;
* ``tensorboard/``: event files (jaxrl's end in ``.jaxrl``);
* ``learning_curve.png`` and ``summary.json`` once the run ends;
* ``.jaxrl.lock`` while a process writes it.

Rules this module keeps, so that a run directory holds hours of compute safely:

* **One writer.** ``RunDir.create`` / ``RunDir.open`` take an advisory lock
  (``flock`` on ``.jaxrl.lock``, which names the owner's pid and host). A second
  writer is refused in one line; a lock left by a dead process is released by the
  kernel and taken over with a message.
* **Verify, then touch.** Resuming checks the checkpoint's checksums, that it was
  written by this run's spec, and that ``metrics.csv`` still starts with exactly the
  bytes the checkpoint recorded (length and SHA-256) before a byte is cut or
  appended. File names are fixed here, never read from a file.
* **Overwrite replaces only when the new run has proved itself.** ``--overwrite``
  builds the new run in ``.jaxrl-staging/`` inside the directory; at its first
  checkpoint it replaces the old run's files (only files jaxrl wrote: a user's own
  files stay), so a new run that fails early leaves the old one untouched.
* Temporary files of a killed save are recognised by name and removed.
"""

from __future__ import annotations

import csv
import dataclasses
import fcntl
import hashlib
import io
import json
import os
import shutil
import socket
import stat
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from jaxrl.errors import RunError
from jaxrl.output import files
from jaxrl.runs import checkpoint as ckpt

__all__ = [
    "CHECKPOINT_FILE", "CONFIG_FILE", "CURVE_FILE", "METRICS_FILE", "SUMMARY_FILE", "TB_DIR",
    "MetricsWriter", "RunDir", "RunSpec", "read_metrics", "read_spec", "write_json",
]

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.csv"
CURVE_FILE = "learning_curve.png"
SUMMARY_FILE = "summary.json"
CHECKPOINT_FILE = ckpt.FILENAME
TB_DIR = "tensorboard"
LOCK_FILE = ".jaxrl.lock"
STAGING_DIR = ".jaxrl-staging"
COMMIT_FILE = "COMMIT"  # in the staging dir: the list of files that replace the old run's
from jaxrl.output.logging import EVENT_FILE_SUFFIX as TB_SUFFIX  # noqa: E402 - jaxrl's event files end in it

# Files with these names that jaxrl wrote (recognised by content) belong to a run.
RUN_FILES = (CONFIG_FILE, METRICS_FILE, CHECKPOINT_FILE, SUMMARY_FILE, CURVE_FILE)
# A sweep's files (``jaxrl sweep``), replaced by ``--overwrite`` only when jaxrl wrote them.
SWEEP_FILES = ("sweep.png", "sweep.csv", "sweep.json")
# The rule that output paths never name a run's own files (``jaxrl.output.files``) knows them all.
assert {*RUN_FILES, LOCK_FILE, TB_DIR, STAGING_DIR} <= files.RUN_DIR_NAMES
assert ckpt.TEMP_PREFIX == files.TEMP_PREFIX
MAX_COUNT = 2**31 - 1  # seeds, seed and update counts (as jaxrl.runs.run.make_spec checks them)


# ------------------------------------------------------------------------------ spec
@dataclasses.dataclass(frozen=True)
class RunSpec:
    """Everything that determines a run, as saved in ``config.json``.

    Attributes:
        algorithm: registry name (``"ppo"``).
        env: environment name (``"CartPole-v1"``, or ``"package.module:Class"``).
        env_options: keyword options for ``envs.make``.
        seeds: independent runs trained together (vmapped).
        seed: base seed; seed ``i`` uses ``fold_in(key(seed), i)``, so the first
            seeds of a run do not depend on how many seeds it has.
        config: the resolved algorithm config, JSON-ready.
        num_updates: updates per seed in the whole run.
        chunk_updates: updates per compiled call (the chunk length).
        checkpoint_every: updates between checkpoints (0: only at the end).
        on_nonfinite: ``"stop"`` (the run stops at the first non-finite loss or
            parameter) or ``"mask"`` (training goes on; the bad seeds are left out of
            the summary).
        obs_noise: scale of the book's ``U(0, 1) * scale`` observation noise a preset
            adds (0: none).
        env_fingerprint: a user's own environment's outputs on fixed keys and actions
            at training time (``jaxrl.runs.build.env_fingerprint``): resuming with an
            environment that now behaves otherwise is refused. None for jaxrl's own
            environments (and runs written before it was recorded).
        layout: the devices the run ran on (``jaxrl.parallel.devices.layout``: platform,
            device count, processes, split); resume restores it or refuses. None in runs
            written before it was recorded.
    """

    algorithm: str
    env: str
    env_options: dict[str, Any]
    seeds: int
    seed: int
    config: dict[str, Any]
    num_updates: int
    chunk_updates: int
    checkpoint_every: int
    on_nonfinite: str = "stop"
    obs_noise: float = 0.0
    env_fingerprint: dict[str, Any] | None = None
    layout: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        from jaxrl._version import __version__

        return {"jaxrl_version": __version__, **dataclasses.asdict(self)}

    @classmethod
    def from_json(cls, data: Any, where: str = CONFIG_FILE) -> "RunSpec":
        """The spec in ``data``; every field is type-checked (``RunError`` names the first bad one)."""
        if not isinstance(data, dict):
            raise RunError(f"{where} does not hold a run config (not a JSON object)")
        kinds = {"algorithm": str, "env": str, "env_options": dict, "seeds": int, "seed": int,
                 "config": dict, "num_updates": int, "chunk_updates": int,
                 "checkpoint_every": int, "on_nonfinite": str, "obs_noise": (int, float),
                 "env_fingerprint": dict, "layout": dict}
        optional = ("on_nonfinite", "obs_noise", "env_fingerprint", "layout")
        values = {}
        for name, kind in kinds.items():
            if name not in data or (data[name] is None and name in optional[2:]):
                if name in optional:
                    continue
                raise RunError(f"{where} is missing {name!r}; it is not a complete jaxrl run config")
            v = data[name]
            if not isinstance(v, kind) or isinstance(v, bool):
                what = "number" if isinstance(kind, tuple) else kind.__name__
                raise RunError(f"{where}: {name!r} must be a {what}, got {v!r}")
            values[name] = v
        for name, low in (("seeds", 1), ("seed", 0), ("num_updates", 1), ("chunk_updates", 1),
                          ("checkpoint_every", 0)):
            if values[name] < low:
                raise RunError(f"{where}: {name!r} must be >= {low}, got {values[name]}")
            if values[name] > MAX_COUNT:  # what jaxrl.runs.run.make_spec accepts (int32 counters)
                raise RunError(f"{where}: {name!r} is too large ({values[name]}); "
                               f"at most {MAX_COUNT}")
        if values.get("on_nonfinite", "stop") not in ("stop", "mask"):
            raise RunError(f"{where}: 'on_nonfinite' must be 'stop' or 'mask'")
        noise = values.get("obs_noise", 0.0)
        if not (0.0 <= noise < float("inf")):
            raise RunError(f"{where}: 'obs_noise' must be a finite number >= 0")
        _check_layout_field(values.get("layout"), where)
        _check_fingerprint_field(values.get("env_fingerprint"), where)
        return cls(**values)

    def differences(self, other: "RunSpec") -> list[str]:
        """``"field: a vs b"`` for every field that differs.

        The configs are compared in today's field names (``overrides.comparable_config``):
        a spec written before a field was renamed (or grouped) and the same spec in the
        new names do not differ.
        """
        a, b = dataclasses.asdict(self), dataclasses.asdict(other)
        if a["algorithm"] == b["algorithm"]:
            from jaxrl.runs.overrides import comparable_config

            a["config"] = comparable_config(a["algorithm"], a["config"])
            b["config"] = comparable_config(b["algorithm"], b["config"])
        out = []
        for k in a:
            if a[k] != b[k]:
                if isinstance(a[k], dict) and isinstance(b[k], dict):
                    for sub in sorted(set(a[k]) | set(b[k])):
                        if a[k].get(sub, "<absent>") != b[k].get(sub, "<absent>"):
                            out.append(f"{k}.{sub}: {a[k].get(sub, '<absent>')!r} vs "
                                       f"{b[k].get(sub, '<absent>')!r}")
                else:
                    out.append(f"{k}: {a[k]!r} vs {b[k]!r}")
        return out


def _check_layout_field(layout: dict[str, Any] | None, where: str) -> None:
    if layout is None:
        return
    count = lambda v: isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= MAX_COUNT  # noqa: E731
    if not (isinstance(layout.get("platform"), str) and count(layout.get("devices"))
            and count(layout.get("processes")) and layout.get("split") in ("seeds", "population")):
        raise RunError(f"{where}: 'layout' must name platform, devices, processes and split; "
                       f"got {layout!r}")


def _check_fingerprint_field(fingerprint: dict[str, Any] | None, where: str) -> None:
    if fingerprint is None:
        return
    values = fingerprint.get("values")
    number = lambda v: (isinstance(v, (int, float)) and not isinstance(v, bool)) \
        or v in ("nan", "inf", "-inf")  # noqa: E731
    if not (isinstance(fingerprint.get("version"), int) and isinstance(fingerprint.get("shapes"), str)
            and isinstance(values, list) and all(map(number, values))):
        raise RunError(f"{where}: 'env_fingerprint' is damaged (version, shapes, values)")


def read_spec(run_dir: str | os.PathLike) -> RunSpec:
    """The ``RunSpec`` saved in ``run_dir/config.json``."""
    run_dir = Path(run_dir)
    path = run_dir / CONFIG_FILE
    if not run_dir.is_dir():
        raise RunError(f"run directory {run_dir} does not exist")
    if not path.exists() and not path.is_symlink():
        raise RunError(f"{run_dir} is not a jaxrl run directory (no {CONFIG_FILE})")
    try:
        # Never a FIFO or a device (they would block or never end), never a huge file.
        data = json.loads(files.read_bytes(path, files.SMALL_FILE))
    except FileNotFoundError:
        raise RunError(f"{path} is a link to nothing; restore the run's {CONFIG_FILE}") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise RunError(f"{path} is not valid JSON ({str(e).splitlines()[0]})") from None
    except RecursionError:
        raise RunError(f"{path} is not a jaxrl run config (nested too deeply)") from None
    except OSError as e:
        raise RunError(f"cannot read {path}: {e.strerror or e}") from None
    return RunSpec.from_json(data, str(path))


def write_json(path: Path, data: Any) -> None:
    """``data`` as indented JSON, written atomically (never through a link: ``files.refuse_odd``)."""
    from jaxrl.runs.overrides import jsonable

    files.refuse_odd(path)
    ckpt.atomic_write(path, (json.dumps(data, indent=2, default=jsonable) + "\n").encode())


def _is_jaxrl_file(path: Path) -> bool:
    """Whether a file with one of the run's (or a sweep's) names was written by jaxrl.

    Decided by content, never by name alone: a link or a non-regular file is never
    jaxrl's; a picture is jaxrl's when its PNG ``Software`` text says so
    (``jaxrl.output.files.png_software``), or, for a run written before pictures were
    marked, when it is matplotlib's and the directory holds a jaxrl ``config.json`` (a
    sweep's: jaxrl's ``sweep.json``).
    """
    name = path.name
    if path.is_symlink() or not path.is_file():
        return False
    try:
        if name in (CONFIG_FILE, SUMMARY_FILE, "sweep.json"):
            data = json.loads(files.read_bytes(path, files.SMALL_FILE))
            if not isinstance(data, dict) or "algorithm" not in data:
                return False
            if name == CONFIG_FILE:
                return "jaxrl_version" in data
            if name == SUMMARY_FILE:
                return "updates_done" in data and "final_return" in data
            return "grid" in data and "final_window" in data
        if name == METRICS_FILE:
            return files.read_bytes_prefix(path, 64).startswith(b"update,seed")
        if name == "sweep.csv":
            first = files.read_bytes_prefix(path, 1 << 16).split(b"\n", 1)[0]
            return first.endswith(b"seed,final_return")
        if name == CHECKPOINT_FILE:
            if b"jaxrl" in files.read_bytes_prefix(path, 4096):  # this version's marker, or version 1's
                return True
            return ckpt.has_format_marker(path)
        if name in (CURVE_FILE, "sweep.png"):
            software = files.png_software(path) or ""
            if software.startswith(files.PNG_SOFTWARE):
                return True
            if not software.startswith("Matplotlib"):
                return False
            if name == CURVE_FILE:
                return files.is_run_dir(path.parent)
            return _is_jaxrl_file(path.with_name("sweep.json"))
    except (OSError, RunError, ValueError, UnicodeDecodeError, RecursionError):
        return False
    return False


def _odd(path: Path) -> bool:
    """Whether ``path`` exists as a link or as anything but a regular file."""
    try:
        return path.is_symlink() or (path.exists() and not path.is_file())
    except OSError:
        return True


def _odd_dir(path: Path) -> bool:
    """Whether ``path`` exists as a link or as anything but a directory (``tensorboard/``)."""
    try:
        return path.is_symlink() or (path.exists() and not path.is_dir())
    except OSError:
        return True


def read_summary(run_dir: str | os.PathLike) -> dict[str, Any]:
    """``summary.json`` of ``run_dir`` as a dict; ``{}`` when it is missing, damaged, too
    large or not a regular file (a damaged summary only loses the timings)."""
    try:
        data = json.loads(files.read_bytes(Path(run_dir) / SUMMARY_FILE, files.SMALL_FILE))
    except (OSError, RunError, ValueError, UnicodeDecodeError, RecursionError):
        return {}
    return data if isinstance(data, dict) else {}


def is_complete(run_dir: str | os.PathLike) -> bool:
    """Whether the run in ``run_dir`` has checkpointed all its updates (read-only; False
    when anything cannot be read: then resuming names what is wrong)."""
    path = Path(run_dir) / CHECKPOINT_FILE
    if _odd(path):
        return False
    try:
        spec = read_spec(run_dir)
        return ckpt.read_header(path)["updates_done"] >= spec.num_updates
    except (RunError, ckpt.CheckpointError, OSError):
        return False


def _event_files(root: Path) -> list[Path]:
    """jaxrl's TensorBoard event files under ``root/tensorboard`` (recognised by suffix)."""
    tb = root / TB_DIR
    if not tb.is_dir():
        return []
    return sorted(p for p in tb.rglob(f"events.out.tfevents.*{TB_SUFFIX}") if p.is_file())


def _remove_empty_dirs(top: Path) -> None:
    if not top.is_dir():
        return
    for d in sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
        try:
            d.rmdir()
        except OSError:
            pass
    try:
        top.rmdir()
    except OSError:
        pass


# ------------------------------------------------------------------------------ lock
class _Lock:
    """An exclusive advisory lock on ``dir/.jaxrl.lock`` held while this process writes."""

    def __init__(self, directory: Path):
        self.path = directory / LOCK_FILE
        self.fd: int | None = None
        self.took_over: str = ""

    def acquire(self) -> None:
        while True:
            if self.path.is_symlink():  # never write through a link to a file elsewhere
                raise RunError(f"{self.path} is a symbolic link, not jaxrl's lock file; "
                               f"remove it first")
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK,
                             0o644)
            except OSError as e:
                raise RunError(f"cannot lock {self.path.parent}: {e.strerror or e}") from None
            if not stat.S_ISREG(os.fstat(fd).st_mode):  # a FIFO or a device in its place
                os.close(fd)
                raise RunError(f"{self.path} is not a regular file, not jaxrl's lock file; "
                               f"remove it first")
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                owner = _read_owner(fd)
                os.close(fd)
                raise RunError(f"run directory {self.path.parent} is in use by {owner}; "
                               f"wait for it to finish or stop it first") from None
            except OSError as e:
                os.close(fd)
                raise RunError(f"cannot lock {self.path.parent}: {e.strerror or e}") from None
            # The file may have been removed by its previous owner between our open and
            # our flock; then we hold a lock nobody else can see: try again.
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        previous = _read_owner(fd)
        if previous != "another process":
            self.took_over = previous
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()} since "
                      f"{time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode(), 0)
        self.fd = fd

    def release(self) -> None:
        if self.fd is None:
            return
        try:
            os.unlink(self.path)
        except OSError:
            pass
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)
        self.fd = None


def _read_owner(fd: int) -> str:
    try:
        text = os.pread(fd, 200, 0).decode(errors="replace").strip()
    except OSError:
        text = ""
    return text or "another process"


# ------------------------------------------------------------------------------ metrics
class MetricsWriter:
    """Appends rows ``update, seed, <metric>...`` to ``metrics.csv``, keeping its SHA-256.

    ``update`` counts from 1; ``seed`` is the index within the run. ``flush`` returns
    ``(bytes, sha256)`` of the file so far, which the checkpoint records.
    """

    def __init__(self, path: Path, columns: Sequence[str], prefix: bytes | None = None):
        self.path = path
        self.columns = list(columns)
        header = (",".join(["update", "seed", *self.columns]) + "\n").encode()
        self._hash = hashlib.sha256()
        # (Opened never through a link, never a FIFO or device: ``files.open_write``.)
        if prefix:  # resuming: the verified bytes the file keeps
            if not prefix.startswith(header):
                raise RunError(f"{path} has other columns than this run's metrics")
            self._file = files.open_write(path, keep=len(prefix))
            self._hash.update(prefix)
        else:
            self._file = files.open_write(path)
            self._write(header)

    def _write(self, data: bytes) -> None:
        self._file.write(data)
        self._hash.update(data)

    def append(self, first_update: int, metrics: Mapping[str, np.ndarray]) -> None:
        """Write ``metrics[name]: [seeds, n]`` as rows for updates ``first_update ..``."""
        arrays = [np.asarray(metrics[c]) for c in self.columns]
        seeds, n = arrays[0].shape[:2]
        fmt = ",".join(["%d", "%d"] + [_fmt_code(a.dtype) for a in arrays]) + "\n"
        rows = []
        for u in range(n):
            for s in range(seeds):
                rows.append(fmt % (first_update + u, s, *[a[s, u] for a in arrays]))
        self._write("".join(rows).encode())

    def flush(self) -> tuple[int, str]:
        self._file.flush()
        os.fsync(self._file.fileno())
        return self._file.tell(), self._hash.hexdigest()

    def close(self) -> None:
        self._file.close()


def _fmt_code(dtype: np.dtype) -> str:
    """printf code per column: integers exact, floats with enough digits to round-trip."""
    if np.issubdtype(dtype, np.integer) or np.issubdtype(dtype, np.bool_):
        return "%d"
    if dtype == np.float32 or np.dtype(dtype).itemsize <= 4:
        return "%.9g"
    return "%.17g"


def read_metrics(source: str | os.PathLike | bytes) -> dict[str, np.ndarray]:
    """A ``metrics.csv`` (a path or its bytes) as ``{name: float64[seeds, updates]}``.

    ``update`` and ``seed`` come back too, as int64 arrays of the same shape.

    Raises:
        RunError: the file is not a whole metrics table (a cut row, a wrong seed order).
    """
    where = "metrics" if isinstance(source, bytes) else str(source)
    try:
        text = (source if isinstance(source, bytes) else files.read_bytes(source)).decode()
    except (OSError, UnicodeDecodeError) as e:
        raise RunError(f"cannot read {where}: {e}") from None
    try:
        rows = [r for r in csv.reader(io.StringIO(text, newline="")) if r]
    except csv.Error as e:  # e.g. a field over the csv module's size limit
        raise RunError(f"{where} is not a jaxrl metrics table ({e})") from None
    if not rows or rows[0][:2] != ["update", "seed"]:
        raise RunError(f"{where} is not a jaxrl metrics table")
    header, body = rows[0], rows[1:]
    if not body:
        return {name: np.zeros((0, 0)) for name in header}
    try:
        data = np.array(body, dtype=np.float64)
    except ValueError:  # rows of different lengths (one cut short), or not numbers
        raise RunError(f"{where} has a damaged or missing row") from None
    if data.ndim != 2 or data.shape[1] < 2 or not np.all(np.isfinite(data[:, :2])) \
            or data[:, 1].min() < 0 or data[:, 1].max() >= len(body):
        raise RunError(f"{where} has a damaged row (its update and seed columns)")
    seeds = int(data[:, 1].max()) + 1
    if len(body) % seeds or data.shape[1] != len(header):
        raise RunError(f"{where} has a damaged or missing row")
    data = data.reshape(len(body) // seeds, seeds, len(header))
    out = {name: data[:, :, i].T.copy() for i, name in enumerate(header)}
    out["update"] = out["update"].astype(np.int64)
    out["seed"] = out["seed"].astype(np.int64)
    expected_seed = np.broadcast_to(np.arange(seeds)[:, None], out["seed"].shape)
    expected_update = np.broadcast_to(np.arange(1, out["update"].shape[1] + 1), out["update"].shape)
    if not (np.array_equal(out["seed"], expected_seed)
            and np.array_equal(out["update"], expected_update)):
        raise RunError(f"{where} has rows out of order")
    return out


# ------------------------------------------------------------------------------ the directory
@dataclasses.dataclass
class Restored:
    """What resuming reads back: the state, updates done, the metrics so far."""

    state: Any
    updates_done: int
    metrics: dict[str, np.ndarray]
    csv_prefix: bytes
    env_steps: list[int]  # per seed, at the checkpoint


class RunDir:
    """A run directory this process writes (it holds the lock until ``close``).

    Use ``RunDir.create(path, overwrite)`` for a new run, ``RunDir.open(path)`` to
    resume one. Files go to ``self.write_path``: the directory itself, or its staging
    folder while an ``--overwrite`` run has not yet written its first checkpoint.
    """

    def __init__(self, path: Path, lock: _Lock, staging: bool):
        self.path = path
        self._lock = lock
        self.staging = staging
        self.messages: list[str] = []
        self.csv: MetricsWriter | None = None
        self.events: Any = None
        if lock.took_over:
            self.messages.append(f"took over the lock of {path} left by {lock.took_over} "
                                 f"(that process is gone)")

    @property
    def write_path(self) -> Path:
        return self.path / STAGING_DIR if self.staging else self.path

    # ----------------------------------------------------------------- opening
    @staticmethod
    def _usable(path: Path) -> Path:
        path = Path(path).expanduser()
        if path.exists() and not path.is_dir():
            raise RunError(f"output directory {path} exists and is not a directory")
        return path

    @classmethod
    def create(cls, path: str | os.PathLike, overwrite: bool = False) -> "RunDir":
        """Take ``path`` for a new run.

        Raises:
            RunError: it cannot be created or written; it holds a run (unless
                ``overwrite``); it holds files named like a run's that jaxrl did not
                write; another process writes it.
        """
        path = cls._usable(path)
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise RunError(f"cannot create output directory {path}: {e.strerror or e}") from None
        try:
            with tempfile.TemporaryFile(dir=path):
                pass
        except OSError as e:
            raise RunError(f"output directory {path} is not writable: {e.strerror or e}") from None
        lock = _Lock(path)
        lock.acquire()
        try:
            rd = cls(path, lock, staging=False)
            rd._recover()
            foreign = [n for n in RUN_FILES if (_odd(path / n) or (path / n).is_file())
                       and not _is_jaxrl_file(path / n)]
            if _odd_dir(path / TB_DIR):
                foreign.append(TB_DIR)
            if foreign:
                raise RunError(f"{path} holds {', '.join(foreign)} that jaxrl did not write; "
                               f"choose another --out (jaxrl never deletes a file it did not write)")
            existing = [n for n in RUN_FILES if (path / n).exists()]
            if _event_files(path):
                existing.append(TB_DIR)
            if existing and not overwrite:
                raise RunError(f"output directory {path} already holds a run "
                               f"({', '.join(existing)}); {_advice(path)}")
            if existing:
                staging = path / STAGING_DIR
                staging.mkdir()
                rd.staging = True
            return rd
        except BaseException:
            lock.release()
            raise

    @classmethod
    def open(cls, path: str | os.PathLike) -> "RunDir":
        """Take the run directory ``path`` to continue its run."""
        path = cls._usable(path)
        if not path.is_dir():
            raise RunError(f"run directory {path} does not exist")
        lock = _Lock(path)
        lock.acquire()
        try:
            rd = cls(path, lock, staging=False)
            rd._recover()
            rd._refuse_odd_files()
            return rd
        except BaseException:
            lock.release()
            raise

    def _refuse_odd_files(self) -> None:
        """Refuse a run whose files are links or not regular files (before any is read:
        a FIFO would block, a link would make the run write outside its directory)."""
        odd = [n for n in RUN_FILES if _odd(self.path / n)]
        if _odd_dir(self.path / TB_DIR):
            odd.append(TB_DIR)
        if odd:
            first = self.path / odd[0]
            raise RunError(f"{first} is {files.kind(first)}, not the run's own "
                           f"{'folder' if odd[0] == TB_DIR else 'file'}; jaxrl never writes "
                           f"through links or into special files: put the real one there first")

    def _recover(self) -> None:
        """Finish or drop what a killed process left: temp files, a staged overwrite."""
        for p in self.path.glob(f"{ckpt.TEMP_PREFIX}*"):
            if p.is_file():
                p.unlink()
                self.messages.append(f"removed {p.name}, left by a save that was killed")
        staging = self.path / STAGING_DIR
        if staging.is_symlink() or (staging.exists() and not staging.is_dir()):
            raise RunError(f"{self.path} holds a file named {STAGING_DIR} that jaxrl did not "
                           f"write; move it away first")
        if staging.is_dir():
            if (staging / COMMIT_FILE).is_file():
                self._commit(resumed=True)
                self.messages.append(f"finished replacing the old run in {self.path} "
                                     f"(an --overwrite was killed while swapping)")
            else:
                shutil.rmtree(staging)
                self.messages.append(f"removed an --overwrite attempt in {self.path} that "
                                     f"stopped before its first checkpoint; the old run is kept")

    # ----------------------------------------------------------------- writing
    def write_config(self, spec: RunSpec) -> None:
        write_json(self.write_path / CONFIG_FILE, spec.to_json())

    def open_logs(self, names: list[str], spec: RunSpec, restored: Restored | None,
                  hparams: Mapping[str, Any] | None = None) -> None:
        """Open ``metrics.csv`` (continuing the verified prefix) and the TensorBoard writer.

        On resume the event files are never cut: new ones start with a purge step just
        past the checkpoint, so TensorBoard hides what the stopped process logged after it.
        """
        from jaxrl.output.logging import TensorBoardLogger

        prefix = restored.csv_prefix if restored is not None else None
        self.csv = MetricsWriter(self.write_path / METRICS_FILE, names, prefix)
        purge = TensorBoardLogger.purge_after(restored.env_steps) if restored is not None else None
        self.events = TensorBoardLogger(self.write_path / TB_DIR, spec.seeds, purge_step=purge)
        if restored is None:
            from jaxrl.output.tracking import RunInfo

            self.events.hparams(RunInfo.from_spec(spec, self.path).params())

    def append(self, first_update: int, metrics: Mapping[str, np.ndarray]) -> None:
        """Rows for updates ``first_update..`` and their TensorBoard scalars."""
        self.csv.append(first_update, metrics)
        self.events.log(metrics)

    def save_checkpoint(self, spec: RunSpec, state: Any, updates_done: int,
                        env_steps: Sequence[int], processes: int = 1) -> None:
        """Flush the logs and write the checkpoint; the first one of an overwrite commits it.

        ``processes``: how many processes trained the run (kept when more than one, so a
        resume with another count is refused)."""
        self.write_checkpoint(spec, state, updates_done,
                              self.checkpoint_extra(spec, env_steps, processes))

    def checkpoint_extra(self, spec: RunSpec, env_steps: Sequence[int],
                         processes: int = 1) -> dict[str, Any]:
        """The first half of ``save_checkpoint``, on the thread that writes the logs:
        flush them and describe them as they stand (the checkpoint records how much of
        ``metrics.csv`` belongs to it)."""
        csv_bytes, csv_sha = self.csv.flush() if self.csv is not None else (0, "")
        if self.events is not None:
            self.events.flush()
        return {"spec": spec.to_json(), "csv_bytes": csv_bytes, "csv_sha256": csv_sha,
                "env_steps": [int(x) for x in env_steps],
                **({"processes": int(processes)} if processes != 1 else {})}

    def write_checkpoint(self, spec: RunSpec, state: Any, updates_done: int,
                         extra: dict[str, Any]) -> None:
        """The second half: the checkpoint file (atomic: the old one or the new one,
        whole); an overwrite's first one also commits the staged run. It touches no log,
        so it may run on another thread once the run is committed (``staging`` False)."""
        files.refuse_odd(self.write_path / CHECKPOINT_FILE)
        ckpt.save(
            self.write_path / CHECKPOINT_FILE, state, algorithm=spec.algorithm, env=spec.env,
            config=spec.config, updates_done=updates_done, extra=extra,
        )
        if self.staging:
            self._commit()

    def _commit(self, resumed: bool = False) -> None:
        """Replace the old run's files by the staged new run's (idempotent; see module doc)."""
        staging = self.path / STAGING_DIR
        marker = staging / COMMIT_FILE
        if not resumed:
            staged = sorted(str(p.relative_to(staging)) for p in staging.rglob("*")
                            if p.is_file() and p.name != COMMIT_FILE)
            ckpt.atomic_write(marker, json.dumps(staged).encode())
        try:
            staged = [s for s in json.loads(marker.read_text()) if isinstance(s, str)]
        except (OSError, ValueError):
            staged = []
        keep = set(staged)
        for p in _event_files(self.path):
            rel = str(p.relative_to(self.path))
            if rel not in keep and not rel.startswith(STAGING_DIR):
                p.unlink()
        for name in (SUMMARY_FILE, CURVE_FILE):
            if name not in keep and (self.path / name).is_file() and _is_jaxrl_file(self.path / name):
                (self.path / name).unlink()
        inside = staging.resolve()
        for rel in staged:
            src, dst = staging / rel, self.path / rel
            if ".." in Path(rel).parts or Path(rel).is_absolute():
                continue
            # Only files really in the staging folder (no link out of it) are moved in.
            if src.is_file() and not src.is_symlink() and inside in src.resolve().parents:
                dst.parent.mkdir(parents=True, exist_ok=True)
                os.replace(src, dst)  # open writers keep writing: the file is the same inode
        _remove_empty_dirs(self.path / TB_DIR)
        shutil.rmtree(staging, ignore_errors=True)
        self.staging = False
        if self.csv is not None:
            self.csv.path = self.path / METRICS_FILE

    def write_summary(self, data: Mapping[str, Any], complete: bool) -> None:
        """``summary.json``; a complete run also closes its TensorBoard session with the final return."""
        write_json(self.write_path / SUMMARY_FILE, data)
        if complete and self.events is not None:
            final = data.get("final_return_mean")
            self.events.end({"final/return": final if final is not None else float("nan")})

    def close(self) -> None:
        """Close the logs, drop an uncommitted staging folder, release the lock."""
        for w in (self.csv, self.events):
            if w is not None:
                try:
                    w.close()
                except OSError:
                    pass
        self.csv = self.events = None
        if self.staging:
            staging = self.path / STAGING_DIR
            # A swap that failed half-way (its COMMIT list is written) is finished by the
            # next command; dropping the staged files now would leave half a run.
            if not (staging / COMMIT_FILE).is_file():
                shutil.rmtree(staging, ignore_errors=True)
            self.staging = False
        self._lock.release()

    def __enter__(self) -> "RunDir":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ----------------------------------------------------------------- reading back
    def restore(self, spec: RunSpec, template: Any, dtypes: Mapping[str, np.dtype]) -> Restored:
        """Everything needed to continue, verified before any file is changed."""
        return restore(self.path, spec, template, dtypes)


def prepare_output(path: str | os.PathLike, names: Sequence[str], overwrite: bool) -> Path:
    """A directory for other outputs (a sweep's files ``names``): created, writable, and
    holding none of ``names`` unless ``overwrite`` (then they are replaced when written).

    Only files jaxrl wrote (``_is_jaxrl_file``, by content) are ever replaced: a user's
    own file of one of these names, a link or a special file is refused even with
    ``overwrite``."""
    path = RunDir._usable(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as e:
        raise RunError(f"cannot write output directory {path}: {e.strerror or e}") from None
    existing = [n for n in names if (path / n).exists() or (path / n).is_symlink()]
    foreign = [n for n in existing if not _is_jaxrl_file(path / n)]
    if foreign:
        raise RunError(f"{path} holds {', '.join(foreign)} that jaxrl did not write; choose "
                       f"another --out (jaxrl never replaces a file it did not write)")
    if existing and not overwrite:
        raise RunError(f"output directory {path} already holds {', '.join(existing)}; "
                       f"pass --overwrite to replace them, or choose another --out")
    return path


def _advice(path: Path) -> str:
    """What to do with a directory that holds a run."""
    if not (path / CHECKPOINT_FILE).exists():
        return ("it stopped before its first checkpoint, so it cannot be resumed; "
                "pass --overwrite to start it again, or choose another --out")
    try:
        header = ckpt.read_header(path / CHECKPOINT_FILE)
        spec = read_spec(path)
        if header["updates_done"] >= spec.num_updates:
            return "it is complete; pass --overwrite to replace it, or choose another --out"
    except (ckpt.CheckpointError, RunError):
        return "pass --overwrite to replace it, or choose another --out"
    return f"continue it with --resume {path}, or pass --overwrite to replace it"


def load_checkpoint(run_dir: Path, spec: RunSpec, template: Any) -> tuple[Any, dict[str, Any]]:
    """The verified state and header of ``run_dir``'s checkpoint, written by this ``spec``."""
    path = run_dir / CHECKPOINT_FILE
    if path.exists() and not path.is_file():  # a FIFO or a device: never opened
        raise RunError(f"{path} is not a regular file; put the run's checkpoint there")
    if not path.exists():
        raise RunError(f"{run_dir} has no checkpoint yet (the run stopped before its first); "
                       f"start it again with: jaxrl train ... --out {run_dir} --overwrite")
    from jaxrl.runs.overrides import comparable_config

    try:
        state, header = ckpt.load(
            path, template, algorithm=spec.algorithm, env=spec.env, config=spec.config,
            normalize_config=lambda c: comparable_config(spec.algorithm, c))
    except ckpt.CheckpointError as e:
        raise RunError(str(e)) from None
    extra = header["extra"]
    try:
        saved = RunSpec.from_json(extra.get("spec"), f"{path.name}'s header")
    except RunError as e:
        raise RunError(f"{path} is damaged: {e}") from None
    diffs = saved.differences(spec)
    if diffs:
        raise RunError(f"{CONFIG_FILE} was changed after the checkpoint was written "
                       f"(checkpoint vs {CONFIG_FILE}: {'; '.join(diffs[:4])}); restore it, "
                       f"or start a new run")
    done = header["updates_done"]
    if done > spec.num_updates:
        raise RunError(f"{path} is damaged: it has {done} updates of {spec.num_updates}")
    def count(v: Any) -> bool:
        return isinstance(v, int) and not isinstance(v, bool) and v >= 0

    steps = extra.get("env_steps")
    if not count(extra.get("csv_bytes")) or not (
            isinstance(steps, list) and len(steps) == spec.seeds and all(map(count, steps))):
        raise RunError(f"{path} is damaged: its header's metrics offsets are not counts")
    if not isinstance(extra.get("csv_sha256"), str):
        raise RunError(f"{path} is damaged: its header has no metrics checksum")
    return state, header


def restore(run_dir: Path, spec: RunSpec, template: Any,
            dtypes: Mapping[str, np.dtype]) -> Restored:
    """State, updates done and metrics of the run in ``run_dir``; nothing is modified.

    ``metrics.csv`` must begin with exactly the bytes the checkpoint recorded (rows
    written after it are dropped when the run continues).
    """
    from jaxrl.core.metrics import cast

    state, header = load_checkpoint(run_dir, spec, template)
    extra = header["extra"]
    done, want, digest = header["updates_done"], extra["csv_bytes"], extra["csv_sha256"]
    path = run_dir / METRICS_FILE
    try:
        with files.open_read(path) as f:  # never a FIFO or a device
            size = os.fstat(f.fileno()).st_size
            # (A forged header can claim any length: never ask read() for more than is there.)
            prefix = f.read(want) if want <= size else f.read()
    except FileNotFoundError:
        raise RunError(f"{path} is missing; the checkpoint needs its first {want} bytes") from None
    except OSError as e:
        raise RunError(f"cannot read {path}: {e.strerror or e}") from None
    if len(prefix) < want:
        raise RunError(f"{path} is shorter ({len(prefix)} bytes) than at the checkpoint "
                       f"({want} bytes): it was cut or replaced; the run cannot continue from it")
    if hashlib.sha256(prefix).hexdigest() != digest:
        raise RunError(f"{path} was changed after the checkpoint (its first {want} bytes differ "
                       f"from what was written); the run cannot continue from it")
    old = read_metrics(prefix)
    have = old["update"].shape[1] if old["update"].ndim == 2 else 0
    if have != done:
        raise RunError(f"{path} holds {have} updates but the checkpoint {done}")
    if have and old["update"].shape[0] != spec.seeds:
        raise RunError(f"{path} holds {old['update'].shape[0]} seeds but the run {spec.seeds}")
    if have and "env_steps" in old and \
            [int(x) for x in old["env_steps"][:, -1]] != list(extra["env_steps"]):
        raise RunError(f"{run_dir / CHECKPOINT_FILE} is damaged: its env steps "
                       f"{extra['env_steps']} are not those of {METRICS_FILE}")
    metrics = cast({k: v for k, v in old.items() if k not in ("update", "seed")}, dtypes)
    return Restored(state=state, updates_done=done, metrics=metrics if have else {},
                    csv_prefix=prefix, env_steps=extra["env_steps"])


def checkpoint_size(run_dir: Path) -> int:
    """Bytes of the run's checkpoint (0 when it has none)."""
    try:
        return (Path(run_dir) / CHECKPOINT_FILE).stat().st_size
    except OSError:
        return 0


def nice_bytes(n: float) -> str:
    """``1536 -> '1.5 kB'``."""
    for unit in ("B", "kB", "MB", "GB"):
        if abs(n) < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"  # pragma: no cover


def stderr_line(text: str) -> None:
    print(text, file=sys.stderr, flush=True)

