"""Hostile cases of multi-process training: a busy coordinator port, a process stopped or
killed under ``jaxrl launch``, the peer of hand-started processes dying.

Each must end in one line that names the right process (never XLA's C++ stack dump,
never a segfault, never a blamed bystander) and, where a run was going, a command that
resumes it. The default suite checks the busy port only (refused before any process
starts, no JAX needed); everything that starts processes is slow-marked.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from jaxrl import cli
from jaxrl.parallel import launch
from jaxrl.parallel import processes as distributed

ROOT = Path(__file__).resolve().parents[2]
DUMP = re.compile(r"Check failure|\*\*\* |^\s+@\s+0x|Traceback|Fatal Python|terminate called",
                  re.M)


@pytest.fixture
def busy_port():
    """A port something else listens on (as another program would hold it)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    s.listen()
    try:
        yield s.getsockname()[1]
    finally:
        s.close()


def test_busy_coordinator_port_is_refused_in_one_line_before_any_process_starts(
        busy_port, tmp_path, monkeypatch, capsys):
    # Nothing may start: no process, no log directory, no run directory.
    def no_process(*args, **kwargs):
        raise AssertionError(f"a process was started: {args[0] if args else kwargs}")

    monkeypatch.setattr(subprocess, "Popen", no_process)
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    monkeypatch.setenv("JAXRL_CACHE_DIR", "off")
    out = tmp_path / "run"
    code = cli.main(["launch", "--processes", "2", "--port", str(busy_port), "--", "train",
                     "ppo", "--seeds", "2", "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert f"port {busy_port}" in err[0] and "--port" in err[0] and "in use" in err[0], err
    assert not out.exists() and not any((tmp_path / "tmp").iterdir())

    # A hand-started process 0 hosts the coordinator: the same check, before JAX connects.
    code = cli.main(["train", "ppo", "--seeds", "2", "--out", str(out), "--coordinator",
                     f"127.0.0.1:{busy_port}", "--num-processes", "2", "--process-id", "0"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert err[0].startswith("jaxrl: error: the coordinator port") and str(busy_port) in err[0]
    assert not out.exists()


# ------------------------------------------------------------------------------ slow ones
PPO = ["train", "ppo", "--preset", "cartpole", "--seeds", "2", "--total-steps", "60000",
       "--chunk", "2", "--checkpoint-every", "4", "-q"]


def _env(tmp: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["JAXRL_CACHE_DIR"] = str(tmp / "cache")
    env["TMPDIR"] = str(tmp / "tmp")  # the launcher's and the processes' logs go there
    (tmp / "tmp").mkdir(exist_ok=True)
    env.pop("XLA_FLAGS", None)
    for name in ("JAX_COORDINATOR_ADDRESS", "JAX_NUM_PROCESSES", "JAX_PROCESS_ID"):
        env.pop(name, None)
    return env


def _wait_for_checkpoint(run: Path, procs: list[subprocess.Popen], limit: float = 400) -> None:
    deadline = time.monotonic() + limit
    while not (run / launch.CHECKPOINT_FILE).exists():
        assert all(p.poll() is None for p in procs), "a process ended before a checkpoint"
        assert time.monotonic() < deadline, "no checkpoint came"
        time.sleep(0.2)


def _kill_all(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait()


@pytest.mark.slow
@pytest.mark.timeout(1500)  # the processes carry their own timeouts
@pytest.mark.parametrize("how", [signal.SIGSTOP, signal.SIGKILL], ids=["stop", "kill"])
def test_launch_blames_the_process_that_was_stopped_or_killed(tmp_path, how):
    from jaxrl.runs.rundir import CHECKPOINT_FILE

    assert launch.CHECKPOINT_FILE == CHECKPOINT_FILE
    run = tmp_path / "run"
    log = open(tmp_path / "launch.log", "w+")  # noqa: SIM115
    cmd = [sys.executable, "-m", "jaxrl", "launch", "--processes", "2",
           "--cpu-devices-per-process", "1", "--", *PPO, "--out", str(run)]
    p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path,
                         env=_env(tmp_path))
    try:
        _wait_for_checkpoint(run, [p])
        log.seek(0)
        pids = [int(x) for x in log.read().split("(pids ")[1].split(")")[0].split(", ")]
        os.kill(pids[1], how)  # process 1 stops (or dies) mid-run
        code = p.wait(timeout=120)  # blamed within STOP_SECONDS, the others stopped
    finally:
        _kill_all([p])
        for pid in pids if "pids" in locals() else []:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    log.seek(0)
    text = log.read()
    last = text.strip().splitlines()[-1]
    what = ("was stopped (SIGSTOP) and did not continue" if how == signal.SIGSTOP
            else "died with signal SIGKILL")
    assert code == 128 + how, text[-3000:]
    assert last.startswith(f"jaxrl launch: process 1 (pid {pids[1]}) {what}; stopped the "
                           f"others; the run directory is resumable with: jaxrl launch "), last
    assert not DUMP.search(text), text[-3000:]  # no C++ dump, no traceback reached the user
    logs = Path(last.rsplit("(the processes' output: ", 1)[1].rstrip(")"))
    assert (logs / "process-0.log").is_file() and (logs / "process-1.log").is_file()

    # The command the line names resumes the run to its end.
    resume = shlex.split(last.split("resumable with: ", 1)[1].rsplit(" (the processes'", 1)[0])
    assert resume[:2] == ["jaxrl", "launch"]
    r = subprocess.run([sys.executable, "-m", "jaxrl", *resume[1:]], capture_output=True,
                       text=True, timeout=900, cwd=tmp_path, env=_env(tmp_path), check=False)
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    assert "run directory:" in r.stdout


def _hand_started(tmp_path: Path, extra: list[str]) -> list[subprocess.Popen]:
    port = launch.free_port()
    args = [*PPO, "--out", str(tmp_path / "run"), "--cpu-devices", "1", "--coordinator",
            f"127.0.0.1:{port}", "--num-processes", "2", "--heartbeat-timeout", "5", *extra]
    return [subprocess.Popen([sys.executable, "-m", "jaxrl", *args, "--process-id", str(i)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             cwd=tmp_path, env=_env(tmp_path)) for i in range(2)]


@pytest.mark.slow
@pytest.mark.timeout(1500)
@pytest.mark.parametrize(("victim", "how"), [(1, signal.SIGKILL), (0, signal.SIGKILL),
                                             (1, signal.SIGSTOP)])
def test_hand_started_survivor_ends_in_one_line_when_its_peer_is_lost(tmp_path, victim, how):
    procs = _hand_started(tmp_path, [])
    survivor = procs[1 - victim]
    try:
        _wait_for_checkpoint(tmp_path / "run", procs)
        procs[victim].send_signal(how)
        _, err = survivor.communicate(timeout=120)  # the heartbeat is 5 s
    finally:
        _kill_all(procs)
    lines = err.strip().splitlines()
    assert survivor.returncode == 1, err[-3000:]
    assert len(lines) == 1 and not DUMP.search(err), err[-3000:]
    assert lines[0].startswith(f"jaxrl: error: process {1 - victim} "), lines
    if how == signal.SIGSTOP:  # only the heartbeat can tell: the line names the lost one
        assert f"process {victim} of this run stopped responding" in lines[0], lines


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_process_without_its_coordinator_gives_up_in_one_line(tmp_path):
    port = launch.free_port()  # nothing listens there
    code = ("from jaxrl.parallel import processes as d\n"
            "try:\n"
            f"    d.initialize('127.0.0.1:{port}', 2, 1, cpu_devices=1, timeout_seconds=2,"
            " guard=True)\n"
            "except d.DistributedError as e:\n"
            "    print(e)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=200, env=_env(tmp_path), check=False)
    assert r.returncode == 0 and not r.stderr.strip(), r.stderr[-3000:]
    assert r.stdout.strip() == (
        f"process 1 could not reach the coordinator 127.0.0.1:{port} within 2 s; start "
        "process 0 (it hosts the coordinator) with the same --coordinator and "
        "--num-processes, or check the address")
    assert distributed.port_in_use(port) is None
