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
(JAX aborts them: a collective cannot be cancelled from Python). ``jaxrl launch`` stops
the rest at once when one exits with an error.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

from jaxrl.errors import DistributedError

__all__ = [
    "ENV_COORDINATOR", "ENV_NUM_PROCESSES", "ENV_PROCESS_ID", "DistributedError",
    "any_process", "from_writer", "initialize", "is_multiprocess", "is_writer", "join_processes",
    "process_count", "process_index", "settings_from_env",
]

ENV_COORDINATOR = "JAX_COORDINATOR_ADDRESS"  # also read by jax.distributed itself
ENV_NUM_PROCESSES = "JAX_NUM_PROCESSES"
ENV_PROCESS_ID = "JAX_PROCESS_ID"
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


def initialize(coordinator: str | None = None, num_processes: int | None = None,
               process_id: int | None = None, *, cpu_devices: int | None = None,
               heartbeat_seconds: int = DEFAULT_HEARTBEAT_SECONDS,
               timeout_seconds: int = 300, auto: bool = False) -> int:
    """Join the processes of one run; returns this process's index.

    Call before anything else uses JAX. With no arguments the ``JAX_*`` variables
    above are read; ``auto=True`` lets JAX detect a cluster (SLURM, Open MPI, ...).
    ``cpu_devices``: CPU devices for this process (default: one per core it may run
    on). CPU collectives use gloo. A process silent for ``heartbeat_seconds`` is
    taken as dead and every other process is stopped with an error.
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
    parallel.use_cpu_cores(cpu_devices)
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    try:
        jax.distributed.initialize(
            coordinator, num_processes, process_id,
            initialization_timeout=int(timeout_seconds),
            heartbeat_timeout_seconds=int(heartbeat_seconds),
        )
    except (RuntimeError, ValueError) as e:  # unreachable coordinator, no cluster detected
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise DistributedError(f"could not join the processes of this run: {first}") from None
    return jax.process_index()


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
