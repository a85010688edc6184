"""Run one jaxrl command as N processes on this machine, joined by ``jax.distributed``.

::

    jaxrl launch --processes 2 -- train ppo --preset cartpole --seeds 8 --out runs/ppo2
    python -m jaxrl.parallel.launch --processes 2 -- train --resume runs/ppo2

Each process runs ``python -m jaxrl COMMAND ... --coordinator 127.0.0.1:PORT
--num-processes N --process-id I --cpu-devices K`` (a free loopback port; by default
the cores are shared out, ``K = cores // N``). Their output is forwarded line by line,
prefixed ``[I]`` (``--output 0`` shows process 0's only). If a process fails (a non-zero
exit, a signal), the launcher says which and stops the others (SIGTERM, then SIGKILL),
so a run never hangs on a dead peer; its exit status is the failed process's. Ctrl-C is
passed on to every process once (they stop after the running chunk and checkpoint).

This is for trying multi-process training on one machine and for tests; on a cluster
start the same command once per process with the scheduler (see the README's SLURM
example): ``jaxrl train ... --distributed`` lets JAX read the cluster's variables.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from typing import IO, Any

__all__ = ["add_arguments", "free_port", "launch", "main", "run_from_args"]

#: Seconds the others get to stop after SIGTERM before SIGKILL.
GRACE_SECONDS = 5.0


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on now (the OS picks it: bind to port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--processes", "-n", type=int, default=2, metavar="N",
                   help="processes to start (default 2)")
    p.add_argument("--cpu-devices-per-process", type=int, default=None, metavar="K",
                   help="CPU devices of each process (default: the cores shared out, at least 1)")
    p.add_argument("--port", type=int, default=None,
                   help="coordinator port on 127.0.0.1 (default: a free one)")
    p.add_argument("--output", choices=("all", "0"), default="all",
                   help="forward every process's output prefixed [I] (default) or process 0's only")
    p.add_argument("--heartbeat-timeout", type=int, default=None, metavar="S",
                   help="passed on: seconds of silence after which a process counts as dead")
    p.add_argument("jaxrl_args", nargs=argparse.REMAINDER, metavar="-- COMMAND ...",
                   help="the jaxrl command each process runs (train ..., sweep ...)")


def _flag_given(args: Sequence[str], flag: str) -> bool:
    return any(a == flag or a.startswith(flag + "=") for a in args)


def commands(jaxrl_args: Sequence[str], processes: int, port: int, *,
             cpu_devices: int | None = None, heartbeat: int | None = None,
             python: str = sys.executable) -> list[list[str]]:
    """The command line of every process (process 0 first)."""
    from jaxrl.parallel.devices import cpu_cores

    args = list(jaxrl_args)
    if args and args[0] == "--":
        args = args[1:]
    if not args:
        raise ValueError("launch needs a jaxrl command after '--', e.g. "
                         "'jaxrl launch --processes 2 -- train ppo --seeds 8'")
    if args[0] not in ("train", "sweep"):
        raise ValueError(f"launch runs 'train' or 'sweep' as several processes, not {args[0]!r}")
    for flag in ("--coordinator", "--num-processes", "--process-id", "--distributed"):
        if _flag_given(args, flag):
            raise ValueError(f"launch sets {flag} itself; leave it out of the command")
    if isinstance(processes, bool) or not isinstance(processes, int) or processes < 1:
        raise ValueError(f"--processes must be >= 1, got {processes!r}")
    extra = ["--coordinator", f"127.0.0.1:{port}", "--num-processes", str(processes)]
    if not _flag_given(args, "--cpu-devices"):
        k = cpu_devices if cpu_devices is not None else max(1, cpu_cores() // processes)
        if k < 1:
            raise ValueError(f"--cpu-devices-per-process must be >= 1, got {k}")
        extra += ["--cpu-devices", str(k)]
    if heartbeat is not None:
        extra += ["--heartbeat-timeout", str(heartbeat)]
    return [[python, "-m", "jaxrl", *args, *extra, "--process-id", str(i)]
            for i in range(processes)]


def _forward(stream: IO[bytes], prefix: str, out: IO[str], lock: threading.Lock,
             show: bool) -> None:
    for raw in iter(stream.readline, b""):
        if not show:
            continue
        line = raw.decode(errors="replace").rstrip("\n")
        with lock:
            out.write(f"{prefix}{line}\n")
            out.flush()
    stream.close()


def _status(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with status {code}"


def launch(jaxrl_args: Sequence[str], processes: int = 2, *, port: int | None = None,
           cpu_devices: int | None = None, output: str = "all", heartbeat: int | None = None,
           out: IO[str] | None = None, env: dict[str, str] | None = None) -> int:
    """Run the command as ``processes`` local processes; returns the exit status
    (0 when all succeed, else the first failed process's; 128 + N for a signal N)."""
    out = out if out is not None else sys.stdout
    port = port if port is not None else free_port()
    lines = commands(jaxrl_args, processes, port, cpu_devices=cpu_devices, heartbeat=heartbeat)
    child_env = dict(os.environ if env is None else env)
    child_env["PYTHONUNBUFFERED"] = "1"
    for name in ("JAX_COORDINATOR_ADDRESS", "JAX_NUM_PROCESSES", "JAX_PROCESS_ID"):
        child_env.pop(name, None)  # the flags decide
    lock = threading.Lock()
    procs: list[subprocess.Popen] = []
    readers: list[threading.Thread] = []

    def say(text: str) -> None:
        with lock:
            out.write(f"jaxrl launch: {text}\n")
            out.flush()

    for i, cmd in enumerate(lines):
        # A session of its own: a terminal's Ctrl-C reaches the launcher only, which
        # passes it on once (a second one would make the processes abort at once).
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, env=child_env, start_new_session=True)
        procs.append(p)
        t = threading.Thread(target=_forward, daemon=True,
                             args=(p.stdout, f"[{i}] ", out, lock, output == "all" or i == 0))
        t.start()
        readers.append(t)
    say(f"{processes} processes on 127.0.0.1:{port} (pids "
        f"{', '.join(str(p.pid) for p in procs)})")

    interrupts = 0

    def on_signal(signum: int, frame: Any) -> None:
        nonlocal interrupts
        if signum == signal.SIGINT:
            interrupts += 1
            for p in procs:
                if p.poll() is None:
                    p.send_signal(signal.SIGINT if interrupts == 1 else signal.SIGKILL)
        else:
            _stop(procs)

    old = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            old[sig] = signal.signal(sig, on_signal)
    failed: tuple[int, int] | None = None
    try:
        while True:
            codes = [p.poll() for p in procs]
            bad = [(i, c) for i, c in enumerate(codes) if c not in (None, 0)]
            if bad and failed is None:
                failed = bad[0]
                running = [i for i, c in enumerate(codes) if c is None]
                if running and not interrupts:
                    say(f"process {failed[0]} {_status(failed[1])}; stopping the other "
                        f"{len(running)} (process(es) {', '.join(map(str, running))})")
                    _stop(procs)
            if all(c is not None for c in codes):
                break
            time.sleep(0.05)
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
        _stop(procs)
        for t in readers:
            t.join(timeout=2.0)
    if failed is None:
        return 0
    i, code = failed
    if code == 130 or code == -signal.SIGINT:
        return 130
    say(f"failed: process {i} {_status(code)}")
    return 128 - code if code < 0 else code


def _stop(procs: Sequence[subprocess.Popen]) -> None:
    """SIGTERM to every running process, SIGKILL to those still running after a grace."""
    for p in procs:
        if p.poll() is None:
            try:
                p.terminate()
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + GRACE_SECONDS
    for p in procs:
        try:
            p.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def run_from_args(args: argparse.Namespace) -> int:
    """``jaxrl launch`` (and ``python -m jaxrl.parallel.launch``) after parsing."""
    from jaxrl.errors import UsageError

    try:
        return launch(args.jaxrl_args, args.processes, port=args.port,
                      cpu_devices=args.cpu_devices_per_process, output=args.output,
                      heartbeat=args.heartbeat_timeout)
    except ValueError as e:
        raise UsageError(str(e)) from None


def main(argv: Sequence[str] | None = None) -> int:
    from jaxrl.errors import UsageError

    p = argparse.ArgumentParser(prog="python -m jaxrl.parallel.launch",
                                description="Run a jaxrl command as N local processes.")
    add_arguments(p)
    args = p.parse_args(argv)
    try:
        return run_from_args(args)
    except UsageError as e:
        print(f"jaxrl launch: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
