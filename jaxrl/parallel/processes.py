"""Many processes, one program: training across processes and hosts with ``jax.distributed``.

JAX's own multi-controller runtime: every process runs the same Python program, a
coordinator (process 0's host and a port) introduces them, and ``jax.devices()`` then
lists the devices of *every* process. ``jaxrl.parallel.devices.over_seeds`` splits the seed
axis over that global device list with ``shard_map`` (each process computes its own
share of the seeds; no communication inside a training step), and the host layer
gathers each chunk's metrics so that process 0 alone writes the run directory.
On CPUs the cross-process collectives go through gloo (TCP).

From the command line::

    jaxrl train ppo --preset cartpole --seeds 8 \\
        --coordinator node0:12345 --num-processes 2 --process-id 0     # and 1 on the other host
    jaxrl train ... --distributed            # SLURM and other clusters JAX detects itself
    jaxrl launch --processes 2 -- train ppo --preset cartpole --seeds 8   # N on this machine

From Python, call :func:`initialize` first (before anything else uses JAX), then train
as usual: ``jaxrl.train`` splits the seeds over every process's devices.

Failure: a process that dies stops sending heartbeats; after ``heartbeat_seconds`` the
coordination service ends every other process with an error naming the dead task
(JAX aborts them from C++: a collective cannot be cancelled from Python). With
``initialize(..., guard=True)`` (the ``jaxrl`` command) that abort prints one line naming
the lost process and exits with status 1; XLA's C++ output (the stack dump among it) goes
to a log file the line names, not to the terminal. ``jaxrl launch`` stops the rest at once
when one exits with an error or is stopped.

Before joining, process 0 checks that the coordinator's port is free (it hosts the
coordinator) and every other process waits for the coordinator to accept connections, so
a busy port or an absent process 0 is one line, not a crash inside JAX.
"""

from __future__ import annotations

import errno
import inspect
import io
import os
import re
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

import numpy as np

from jaxrl.errors import DistributedError

__all__ = [
    "ENV_COORDINATOR", "ENV_LOG_DIR", "abandon", "ENV_NUM_PROCESSES", "ENV_PROCESS_ID", "DistributedError",
    "any_process", "check_port_free", "from_writer", "guard_fatal_errors", "initialize",
    "is_multiprocess", "is_writer", "join_processes", "port_in_use", "process_count",
    "process_index", "settings_from_env", "wait_for_coordinator",
]

ENV_COORDINATOR = "JAX_COORDINATOR_ADDRESS"  # also read by jax.distributed itself
ENV_NUM_PROCESSES = "JAX_NUM_PROCESSES"
ENV_PROCESS_ID = "JAX_PROCESS_ID"
ENV_LOG_DIR = "JAXRL_LAUNCH_LOG_DIR"  # set by jaxrl launch: where each process's XLA log goes
DEFAULT_HEARTBEAT_SECONDS = 30

T = TypeVar("T")


def settings_from_env(environ: Any = None) -> dict[str, Any]:
    """``{coordinator, num_processes, process_id}`` from ``JAX_COORDINATOR_ADDRESS``,
    ``JAX_NUM_PROCESSES`` and ``JAX_PROCESS_ID`` (the ones set; values checked)."""
    environ = os.environ if environ is None else environ
    out: dict[str, Any] = {}
    if environ.get(ENV_COORDINATOR):
        out["coordinator"] = environ[ENV_COORDINATOR]
    for key, name in ((ENV_NUM_PROCESSES, "num_processes"), (ENV_PROCESS_ID, "process_id")):
        text = environ.get(key, "")
        if text:
            try:
                out[name] = int(text)
            except ValueError:
                raise DistributedError(f"{key} must be an integer, got {text!r}") from None
    return out


def check_settings(coordinator: str | None, num_processes: int | None,
                   process_id: int | None) -> None:
    """One clear line for settings that cannot work (before JAX tries to connect)."""
    given = [x is not None for x in (coordinator, num_processes, process_id)]
    if any(given) and not all(given):
        raise DistributedError("multi-process training needs all three of --coordinator "
                               "HOST:PORT, --num-processes N and --process-id I (or "
                               f"{ENV_COORDINATOR}, {ENV_NUM_PROCESSES}, {ENV_PROCESS_ID}); "
                               "use --distributed on a cluster JAX detects (SLURM)")
    if coordinator is None:
        return
    host, sep, port = coordinator.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise DistributedError(f"--coordinator takes HOST:PORT, got {coordinator!r}")
    if isinstance(num_processes, bool) or not isinstance(num_processes, int) or num_processes < 1:
        raise DistributedError(f"--num-processes must be >= 1, got {num_processes!r}")
    if isinstance(process_id, bool) or not isinstance(process_id, int) \
            or not 0 <= process_id < num_processes:
        raise DistributedError(f"--process-id must be in 0..{num_processes - 1}, got {process_id!r}")


def _split_address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


def port_in_use(port: int) -> str | None:
    """Why the coordinator could not listen on ``port`` of this machine, or None if it can.

    Binds a TCP socket to the port on every address, as the coordinator does (JAX
    listens on ``[::]:PORT``, IPv4 included), with ``SO_REUSEADDR`` as gRPC sets it: a
    socket that listens on the port or holds it bound makes it busy; the closed
    connections of a previous run (TIME_WAIT) do not, since the coordinator can use it.
    """
    for family, address in ((socket.AF_INET6, "::"), (socket.AF_INET, "0.0.0.0")):
        try:
            s = socket.socket(family, socket.SOCK_STREAM)
        except OSError:  # no IPv6 on this machine
            continue
        with s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                try:
                    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
                except OSError:
                    pass
            try:
                s.bind((address, port))
            except OSError as e:
                if e.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT):
                    continue  # that address family is not configured here
                return e.strerror or str(e)
    return None


def check_port_free(port: int, hint: str = "choose another in --coordinator HOST:PORT") -> None:
    """Refuse, in one line, a coordinator port something on this machine already uses."""
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise DistributedError(f"the coordinator port must be in 1..65535, got {port!r}")
    reason = port_in_use(port)
    if reason is not None:
        raise DistributedError(f"the coordinator port {port} cannot be used on this machine "
                               f"({reason.lower()}); {hint}")


def wait_for_coordinator(coordinator: str, timeout_seconds: float, process_id: int = 1) -> None:
    """Wait until ``HOST:PORT`` accepts TCP connections; one line if it does not within
    ``timeout_seconds`` (JAX itself would abort the process with a C++ stack dump)."""
    host, port = _split_address(coordinator)
    deadline = time.monotonic() + max(0.0, float(timeout_seconds))
    while True:
        try:
            with socket.create_connection((host, port), timeout=2.0):
                return
        except socket.gaierror as e:
            raise DistributedError(f"the coordinator host {host!r} of --coordinator "
                                   f"{coordinator} is unknown ({e.strerror or e})") from None
        except OSError:
            if time.monotonic() >= deadline:
                break
            time.sleep(0.25)
    raise DistributedError(
        f"process {process_id} could not reach the coordinator {coordinator} within "
        f"{timeout_seconds:g} s; start process 0 (it hosts the coordinator) with the same "
        f"--coordinator and --num-processes, or check the address")


def _supported(fn: Callable[..., Any], **options: Any) -> dict[str, Any]:
    """The keyword ``options`` that ``fn`` accepts (JAX's options differ between versions)."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return {}
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return dict(options)
    return {k: v for k, v in options.items() if k in params}


def initialize(coordinator: str | None = None, num_processes: int | None = None,
               process_id: int | None = None, *, cpu_devices: int | None = None,
               heartbeat_seconds: int = DEFAULT_HEARTBEAT_SECONDS,
               timeout_seconds: int = 300, auto: bool = False, guard: bool = False) -> int:
    """Join the processes of one run; returns this process's index.

    Call before anything else uses JAX. With no arguments the ``JAX_*`` variables
    above are read; ``auto=True`` lets JAX detect a cluster (SLURM, Open MPI, ...).
    ``cpu_devices``: CPU devices for this process (default: one per core it may run
    on). CPU collectives use gloo. A process silent for ``heartbeat_seconds`` is
    taken as dead and every other process is stopped with an error.

    Before JAX connects, process 0 refuses a busy coordinator port and the others wait
    at most ``timeout_seconds`` for the coordinator (each a ``DistributedError``).
    ``guard=True`` (what the ``jaxrl`` command uses) calls :func:`guard_fatal_errors`.
    """
    import jax

    from jaxrl.parallel import devices as parallel

    env = settings_from_env()
    coordinator = coordinator if coordinator is not None else env.get("coordinator")
    num_processes = num_processes if num_processes is not None else env.get("num_processes")
    process_id = process_id if process_id is not None else env.get("process_id")
    if not auto:
        check_settings(coordinator, num_processes, process_id)
        if coordinator is None:
            raise DistributedError("initialize needs a coordinator HOST:PORT, the number of "
                                   "processes and this process's id (or auto=True on a cluster)")
    if jax.distributed.is_initialized():
        return jax.process_index()
    if not auto and coordinator is not None:  # before JAX is touched
        if process_id == 0:  # process 0 hosts the coordinator: its port must be free
            bind = os.environ.get("JAX_COORDINATOR_BIND_ADDRESS", "")
            port = bind.rpartition(":")[2] if bind else coordinator.rpartition(":")[2]
            if port.isdigit():
                check_port_free(int(port))
        else:
            wait_for_coordinator(coordinator, timeout_seconds, process_id or 0)
    parallel.use_cpu_cores(cpu_devices)
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    if guard:
        guard_fatal_errors(process_id, coordinator, heartbeat_seconds)
    options = _supported(jax.distributed.initialize,
                         initialization_timeout=int(timeout_seconds),
                         heartbeat_timeout_seconds=int(heartbeat_seconds))
    try:
        jax.distributed.initialize(coordinator, num_processes, process_id, **options)
    except (RuntimeError, ValueError) as e:  # unreachable coordinator, no cluster detected
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise DistributedError(f"could not join the processes of this run: {first}") from None
    _GUARD["joined"] = True
    return jax.process_index()


# ------------------------------------------------------------ a lost peer: one line, no dump
_GUARD: dict[str, Any] = {}


def guard_fatal_errors(process_id: int | None, coordinator: str | None = None,
                       heartbeat_seconds: int = DEFAULT_HEARTBEAT_SECONDS,
                       log_path: str | None = None) -> str | None:
    """Turn JAX's C++ abort on a lost peer into one line on stderr and exit status 1.

    When another process of the run dies or stops, XLA's coordination service ends this
    one from a C++ thread (``LOG(FATAL)``: a stack dump on file descriptor 2, then
    ``abort()``); Python cannot catch that, and jaxlib's own callback for it cannot be
    used from Python. So, for the rest of the process:

    - file descriptor 2 (what C++ writes) goes to a log file: ``$JAXRL_LAUNCH_LOG_DIR/
      process-I.xla.log`` under ``jaxrl launch``, else a file in the temporary directory
      (``log_path`` names another); ``sys.stderr`` keeps writing to the terminal;
    - ``SIGABRT`` runs a handler that writes one line naming the lost process (read from
      the log: the service's "stopped sending heartbeats" list) and the log file, then
      ends the process with ``os._exit(1)`` (no stack dump, no core file).

    At a normal exit the log's text (XLA's warnings, if any) is copied to the terminal
    and the file is removed. Returns the log's path, or None where this cannot be done
    (not POSIX, no ``ctypes``, already guarded).
    """
    if _GUARD.get("installed") or os.name != "posix":
        return _GUARD.get("path")
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        handler_type = ctypes.CFUNCTYPE(None, ctypes.c_int)
        libc.signal.restype = ctypes.c_void_p
        libc.signal.argtypes = [ctypes.c_int, handler_type]
    except (ImportError, OSError, AttributeError):
        return None
    tag = "" if process_id is None else str(process_id)
    if log_path is None:
        where = os.environ.get(ENV_LOG_DIR)
        if where and os.path.isdir(where):
            log_path = os.path.join(where, f"process-{tag}.xla.log")
        else:
            fd, log_path = tempfile.mkstemp(prefix=f"jaxrl-process{tag}-", suffix=".log")
            os.close(fd)
    try:
        log_fd = os.open(log_path, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
                         | getattr(os, "O_NOFOLLOW", 0), 0o600)
    except OSError:
        return None
    sys.stdout.flush()
    sys.stderr.flush()
    terminal = os.dup(2)  # the original stderr, for Python and for the one line
    os.set_inheritable(terminal, False)
    os.dup2(log_fd, 2)
    sys.stderr = io.TextIOWrapper(io.FileIO(terminal, "w", closefd=False), encoding="utf-8",
                                  errors="backslashreplace", line_buffering=True)
    _GUARD.update(installed=True, path=log_path, log_fd=log_fd, terminal=terminal,
                  process_id=process_id, coordinator=coordinator,
                  heartbeat=heartbeat_seconds, joined=False)

    def on_abort(signum: int) -> None:  # runs on the aborting C++ thread
        try:
            text = _read_log(log_fd)
            if not os.path.exists(log_path):  # removed at exit: write it again
                with open(log_path, "w", encoding="utf-8", errors="replace") as f:
                    f.write(text)
            os.write(terminal, (fatal_line(text, **_guard_facts()) + "\n").encode())
        finally:
            os._exit(1)

    handler = handler_type(on_abort)
    _GUARD["handler"] = handler  # kept alive: the C library holds a pointer to it
    libc.signal(int(signal.SIGABRT), handler)

    import atexit

    atexit.register(_release_log)
    return log_path


def _guard_facts() -> dict[str, Any]:
    return {k: _GUARD.get(k) for k in ("process_id", "coordinator", "heartbeat", "joined",
                                       "path")}


def _read_log(fd: int, limit: int = 1 << 20) -> str:
    size = os.fstat(fd).st_size
    start = max(0, size - limit)
    return os.pread(fd, size - start, start).decode("utf-8", errors="replace")


def fatal_line(text: str, process_id: int | None, coordinator: str | None, heartbeat: Any,
               joined: bool, path: str | None) -> str:
    """The one line for a process that XLA's coordination service is ending (from its log)."""
    me = "this process" if process_id is None else f"process {process_id}"
    if "distributed service" not in text and "oordination" not in text:
        return (f"jaxrl: error: {me} stopped: XLA ended it with a fatal error; the last "
                f"checkpoint is kept (continue with --resume); XLA's log: {path}")
    lost = re.search(r"stopped sending heartbeats\)?:?\s*\n\s*([\d,\s]+?)\s*\n", text)
    if lost:
        ids = ", ".join(re.findall(r"\d+", lost.group(1)))
        what = (f"{me} stopped: process {ids} of this run stopped responding (no heartbeat "
                f"for {heartbeat} s: it died, was stopped or lost the network)")
    elif not joined:
        what = (f"{me} could not join the processes of this run at {coordinator} (not every "
                f"process started in time, or their --coordinator/--num-processes differ)")
    elif process_id != 0:
        what = (f"{me} stopped: it lost the coordinator (process 0 at {coordinator}), which "
                f"died or was stopped")
    else:
        what = f"{me} stopped: it lost contact with another process of this run"
    return (f"jaxrl: error: {what}; the last checkpoint is kept (continue with --resume); "
            f"XLA's log: {path}")


def abandon(code: int = 1) -> NoReturn:
    """End this process now, after a collective failed because another process is gone.

    JAX's exit-time shutdown waits at a barrier for every process of the run, which a
    lost one never reaches: the coordination service would then abort this process (a
    second error, or a stack dump). So: flush, tidy the guard's log, ``os._exit(code)``.
    """
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    _release_log()
    os._exit(code)


def _release_log() -> None:
    """At a normal exit: XLA's log text to the terminal, the file removed."""
    fd, terminal, path = _GUARD.get("log_fd"), _GUARD.get("terminal"), _GUARD.get("path")
    if fd is None or terminal is None:
        return
    try:
        text = _read_log(fd)
        if text.strip():
            os.write(terminal, text.encode())
        os.unlink(path)
    except OSError:
        pass


def is_multiprocess() -> bool:
    """More than one process takes part in this run."""
    import jax

    return jax.distributed.is_initialized() and jax.process_count() > 1


def process_index() -> int:
    import jax

    return jax.process_index() if jax.distributed.is_initialized() else 0


def process_count() -> int:
    import jax

    return jax.process_count() if jax.distributed.is_initialized() else 1


def is_writer() -> bool:
    """This process writes the run directory (process 0; the only one without distribution)."""
    return process_index() == 0


# ------------------------------------------------------------------- collectives on the host
def any_process(flag: bool) -> bool:
    """True on every process when ``flag`` is true on any (a collective: all must call)."""
    if not is_multiprocess():
        return bool(flag)
    from jax.experimental import multihost_utils

    gathered = multihost_utils.process_allgather(np.asarray([int(bool(flag))], np.int32))
    return bool(np.any(np.asarray(gathered)))


def broadcast_bytes(data: bytes | None) -> bytes:
    """Process 0's ``data`` on every process (the others pass None)."""
    if not is_multiprocess():
        return data or b""
    from jax.experimental import multihost_utils

    writer = is_writer()
    size = np.asarray([len(data) if writer and data else 0], np.int64)
    size = int(np.asarray(multihost_utils.broadcast_one_to_all(size))[0])
    if size == 0:
        return b""
    buf = np.frombuffer(data, np.uint8) if writer else np.zeros(size, np.uint8)
    out = np.asarray(multihost_utils.broadcast_one_to_all(buf), np.uint8)
    return out.tobytes()


def from_writer(fn: Callable[[], T], encode: Callable[[T], bytes] | None = None,
                decode: Callable[[bytes], Any] | None = None) -> T | Any:
    """``fn()`` on process 0; its error (``RunError`` / ``CheckpointError``: one line)
    is raised on every process, so none waits on a collective for a process that quit.

    With ``encode``/``decode`` the value travels to the others (they get
    ``decode(encode(value))``); without, they get None.
    """
    from jaxrl.errors import CheckpointError, RunError

    if not is_multiprocess():
        return fn()
    value, status, message = None, b"o", b""
    if is_writer():
        try:
            value = fn()
            message = encode(value) if encode is not None else b""
        except (RunError, CheckpointError, OSError) as e:
            status = b"c" if isinstance(e, CheckpointError) else b"r"
            message = (str(e) or type(e).__name__).encode()
    reply = broadcast_bytes(status + message if is_writer() else None)
    kind, payload = reply[:1], reply[1:]
    if kind == b"r":
        raise RunError(payload.decode())
    if kind == b"c":
        raise CheckpointError(payload.decode())
    if is_writer():
        return value
    return decode(payload) if decode is not None else None


def pack_arrays(arrays: dict[str, np.ndarray]) -> bytes:
    """A dict of arrays as ``.npz`` bytes (no pickle)."""
    buf = io.BytesIO()
    np.savez(buf, **{k: np.asarray(v) for k, v in arrays.items()})
    return buf.getvalue()


def unpack_arrays(data: bytes) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def join_processes(coordinator: str | None = None, num_processes: int | None = None,
                   process_id: int | None = None, **options: Any) -> int:
    """Join the processes of a multi-process run: ``initialize`` under the name the
    seeds-over-devices helpers used before; returns this process's index."""
    return initialize(coordinator, num_processes, process_id, **options)
