"""Run one jaxrl command as N processes on this machine, joined by ``jax.distributed``.

::

    jaxrl launch --processes 2 -- train ppo --preset cartpole --seeds 8 --out runs/ppo2
    python -m jaxrl.parallel.launch --processes 2 -- train --resume runs/ppo2

Each process runs ``python -m jaxrl COMMAND ... --coordinator 127.0.0.1:PORT
--num-processes N --process-id I --cpu-devices K`` (a free loopback port; by default
the cores are shared out, ``K = cores // N``). Their output is forwarded line by line,
prefixed ``[I]`` (``--output 0`` shows process 0's only), and kept whole in
``process-I.log`` of a log directory (``$TMPDIR/jaxrl-launch-*``, removed when every
process succeeds). A busy ``--port`` is refused in one line before any process starts.

Every process is watched: the first that exits with an error, dies by a signal or stays
stopped (SIGSTOP) for ``STOP_SECONDS`` is the one blamed (a stopped process is blamed
before the others that fail because of it); the others are stopped (SIGTERM, then SIGKILL
after ``GRACE_SECONDS``), their output from then on reaches the log only (not XLA's abort
dumps on the terminal), and one line names the process, its pid, what happened, the log
directory and the command that resumes the run. The exit status is the blamed process's
(128 + N for a signal N). Ctrl-C is passed on to every process once (they stop after the
running chunk and checkpoint).

This is for trying multi-process training on one machine and for tests; on a cluster
start the same command once per process with the scheduler (see the README's SLURM
example): ``jaxrl train ... --distributed`` lets JAX read the cluster's variables.
"""

from __future__ import annotations

import argparse
import os
import queue
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

from jaxrl.parallel import processes as distributed

__all__ = ["add_arguments", "free_port", "launch", "main", "resume_hint", "run_from_args"]

#: Seconds the others get to stop after SIGTERM before SIGKILL.
GRACE_SECONDS = 5.0
#: Seconds a process may stay stopped (SIGSTOP, a debugger) before it is blamed; well
#: under the heartbeat timeout, after which XLA would abort the others.
STOP_SECONDS = 2.0
#: The checkpoint's file name (``jaxrl.runs.rundir.CHECKPOINT_FILE``; this layer cannot
#: import it, a test keeps the two equal).
CHECKPOINT_FILE = "checkpoint.msgpack"
PORT_HINT = "pass another with --port, or leave --port out to take a free one"


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing uses now: the OS picks it (bind to port 0), and it is checked
    free on every address, as the coordinator will listen on it."""
    for _ in range(20):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((host, 0))
            port = int(s.getsockname()[1])
        if distributed.port_in_use(port) is None:
            break
    return port


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--processes", "-n", type=int, default=2, metavar="N",
                   help="processes to start (default 2)")
    p.add_argument("--cpu-devices-per-process", type=int, default=None, metavar="K",
                   help="CPU devices of each process (default: the cores shared out, at least 1)")
    p.add_argument("--port", type=int, default=None,
                   help="coordinator port on 127.0.0.1 (default: a free one; a busy one is "
                        "refused before any process starts)")
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


def _flag_value(args: Sequence[str], flag: str) -> str | None:
    """The value of ``flag`` in ``args`` (``--out DIR`` or ``--out=DIR``; the last wins)."""
    value = None
    for k, a in enumerate(args):
        if a == flag and k + 1 < len(args):
            value = args[k + 1]
        elif a.startswith(flag + "="):
            value = a[len(flag) + 1:]
    return value


def resume_hint(jaxrl_args: Sequence[str], processes: int, *, cpu_devices: int | None = None,
                heartbeat: int | None = None) -> str:
    """What to run after a failed launch: the ``--resume`` command when the run directory
    holds a checkpoint, else the command that starts the run again."""
    args = list(jaxrl_args)
    if args and args[0] == "--":
        args = args[1:]
    head = ["jaxrl", "launch", "--processes", str(processes)]
    if heartbeat is not None:
        head += ["--heartbeat-timeout", str(heartbeat)]
    given = _flag_value(args, "--cpu-devices")
    devices = given if given is not None else (str(cpu_devices) if cpu_devices else None)
    same_layout = ["--cpu-devices", devices] if devices is not None else []
    command = args[0] if args else ""
    run_dir = _flag_value(args, "--resume") or _flag_value(args, "--out")
    if command == "train" and run_dir is not None \
            and os.path.isfile(os.path.join(run_dir, CHECKPOINT_FILE)):
        tail = ["train", "--resume", run_dir, *same_layout]
        tail += ["-q"] if "-q" in args or "--quiet" in args else []
        return f"the run directory is resumable with: {shlex.join([*head, '--', *tail])}"
    if command == "train" and run_dir is None:
        return ("if it wrote a checkpoint, resume the run directory it made under runs/ with: "
                f"{shlex.join([*head, '--', 'train', '--resume'])} DIR {shlex.join(same_layout)}"
                ).rstrip()
    again = list(args)
    if run_dir is not None and os.path.exists(run_dir) and "--overwrite" not in again \
            and _flag_value(args, "--resume") is None:
        again.append("--overwrite")
    if given is None:
        again += same_layout
    where = f" in {run_dir}" if run_dir is not None else ""
    lost = f"no checkpoint was written{where}; " if command == "train" else ""
    return (f"{lost}start it again with: "
            f"{shlex.join([*head, '--', *again])}")


def _forward(stream: IO[bytes], prefix: str, out: IO[str], lock: threading.Lock,
             log: IO[bytes], visible: Callable[[bytes], bool]) -> None:
    """Every line to ``log``; to ``out`` (prefixed) those that are ``visible(line)``."""
    for raw in iter(stream.readline, b""):
        try:
            log.write(raw)
            log.flush()
        except OSError:
            pass
        if not visible(raw):
            continue
        line = raw.decode(errors="replace").rstrip("\n")
        with lock:
            out.write(f"{prefix}{line}\n")
            out.flush()
    stream.close()
    log.close()


def _status(code: int | None) -> str:
    if code is None:
        return "was stopped (SIGSTOP) and did not continue"
    if code < 0:
        try:
            return f"died with signal {signal.Signals(-code).name}"
        except ValueError:
            return f"died with signal {-code}"
    return f"exited with status {code}"


def _is_stopped(pid: int) -> bool:
    """The process is stopped by a signal (state ``T`` in ``/proc/PID/stat``; on systems
    without ``/proc``, ``waitpid(WUNTRACED)`` says so without reaping a running one)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
        return stat[stat.rindex(b")") + 2:][:1] == b"T"
    except (OSError, ValueError):
        pass
    if os.path.isdir("/proc"):
        return False  # gone (its exit is reported by its waiter)
    try:  # pragma: no cover - macOS and other systems without /proc
        got, status = os.waitpid(pid, os.WNOHANG | os.WUNTRACED)
    except ChildProcessError:
        return False
    return got == pid and os.WIFSTOPPED(status)


def launch(jaxrl_args: Sequence[str], processes: int = 2, *, port: int | None = None,
           cpu_devices: int | None = None, output: str = "all", heartbeat: int | None = None,
           out: IO[str] | None = None, env: dict[str, str] | None = None,
           log_dir: str | os.PathLike | None = None) -> int:
    """Run the command as ``processes`` local processes; returns the exit status
    (0 when all succeed, else the blamed process's; 128 + N for a signal N).

    Refused (``ValueError``, one line) before any process starts: a command launch cannot
    run, a busy ``port``. ``log_dir``: where ``process-I.log`` go (default: a new
    temporary directory, removed when every process succeeds).
    """
    out = out if out is not None else sys.stdout
    lines = commands(jaxrl_args, processes, port or 1, cpu_devices=cpu_devices,
                     heartbeat=heartbeat)  # the command is checked before the port
    if port is not None:
        try:
            distributed.check_port_free(port, PORT_HINT)
        except distributed.DistributedError as e:
            raise ValueError(str(e)) from None
    else:
        port = free_port()
    lines = commands(jaxrl_args, processes, port, cpu_devices=cpu_devices, heartbeat=heartbeat)
    per_process = _flag_value(lines[0], "--cpu-devices")
    own_logs = log_dir is None
    logs = Path(tempfile.mkdtemp(prefix="jaxrl-launch-")) if own_logs else Path(log_dir)
    logs.mkdir(parents=True, exist_ok=True)
    child_env = dict(os.environ if env is None else env)
    child_env["PYTHONUNBUFFERED"] = "1"
    child_env[distributed.ENV_LOG_DIR] = str(logs)  # each process's XLA log goes there too
    for name in ("JAX_COORDINATOR_ADDRESS", "JAX_NUM_PROCESSES", "JAX_PROCESS_ID"):
        child_env.pop(name, None)  # the flags decide
    lock = threading.Lock()
    procs: list[subprocess.Popen] = []
    threads: list[threading.Thread] = []
    events: queue.Queue[tuple[int, int]] = queue.Queue()
    blamed: list[tuple[int, int | None]] = []  # (process, exit code; None: stopped)

    def say(text: str) -> None:
        with lock:
            out.write(f"jaxrl launch: {text}\n")
            out.flush()

    def wait_for(i: int, p: subprocess.Popen) -> None:
        events.put((i, p.wait()))

    def visible(raw: bytes, i: int) -> bool:
        """Until one is blamed, every line (or process 0's only); then only the blamed
        one's own error line: the others' aborts and stack dumps go to the logs only."""
        if not blamed:
            return output == "all" or i == 0
        return blamed[0][0] == i and raw.startswith(b"jaxrl")

    try:
        for i, cmd in enumerate(lines):
            log = open(logs / f"process-{i}.log", "wb")  # noqa: SIM115 - its reader closes it
            # A session of its own: a terminal's Ctrl-C reaches the launcher only, which
            # passes it on once (a second one would make the processes abort at once).
            p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL, env=child_env,
                                 start_new_session=True)
            procs.append(p)
            for target, args in ((_forward, (p.stdout, f"[{i}] ", out, lock, log,
                                              lambda raw, i=i: visible(raw, i))),
                                 (wait_for, (i, p))):
                t = threading.Thread(target=target, args=args, daemon=True)
                t.start()
                threads.append(t)
    except BaseException:
        _stop(procs)
        raise
    say(f"{processes} processes on 127.0.0.1:{port} (pids "
        f"{', '.join(str(p.pid) for p in procs)}); logs in {logs}")

    interrupts = 0

    def on_signal(signum: int, frame: Any) -> None:
        nonlocal interrupts
        if signum == signal.SIGINT:
            interrupts += 1
            for p in procs:
                if p.returncode is None:
                    p.send_signal(signal.SIGINT if interrupts == 1 else signal.SIGKILL)
        else:
            _stop(procs)

    old = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            old[sig] = signal.signal(sig, on_signal)
    stop_after = min(STOP_SECONDS, heartbeat / 2) if heartbeat else STOP_SECONDS
    codes: dict[int, int] = {}
    stopped_since: dict[int, float] = {}
    try:
        while len(codes) < len(procs):
            try:
                i, code = events.get(timeout=0.1)
                codes[i] = code
            except queue.Empty:
                i, code = -1, 0
            now = time.monotonic()
            for j, p in enumerate(procs):
                if j not in codes and _is_stopped(p.pid):
                    stopped_since.setdefault(j, now)
                else:
                    stopped_since.pop(j, None)
            if blamed or interrupts:
                continue
            if code != 0:  # a stopped process explains the failure of the others
                culprit = next(iter(stopped_since), None)
                blamed.append((culprit, None) if culprit is not None else (i, code))
            else:
                late = [j for j, t in stopped_since.items() if now - t >= stop_after]
                if late:
                    blamed.append((late[0], None))
            if blamed:
                if blamed[0][1] is None:  # stopped: it cannot act on SIGTERM
                    procs[blamed[0][0]].kill()
                _stop(procs)
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
        _stop(procs)
        for t in threads:
            t.join(timeout=2.0)
    if interrupts:
        return 130
    if not blamed:
        if own_logs:
            shutil.rmtree(logs, ignore_errors=True)
        return 0
    i, code = blamed[0]
    if code == 2:  # a refusal (its one line is above): nothing to resume
        hint = "its error is above"
    else:
        hint = resume_hint(jaxrl_args, processes, heartbeat=heartbeat,
                           cpu_devices=int(per_process) if per_process else None)
    say(f"process {i} (pid {procs[i].pid}) {_status(code)}; stopped the others; {hint} "
        f"(the processes' output: {logs})")
    if code is None:
        return 128 + signal.SIGSTOP
    return 128 - code if code < 0 else code


def _stop(procs: Sequence[subprocess.Popen]) -> None:
    """SIGTERM (and SIGCONT, for a stopped one) to every running process, SIGKILL to
    those still running after a grace."""
    for p in procs:
        if p.returncode is None:
            try:
                p.send_signal(signal.SIGTERM)
                p.send_signal(signal.SIGCONT)
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
