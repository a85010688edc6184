"""Many processes: jax.distributed, the local launcher, process 0 writing, resume counts.

Every multi-process check runs in child processes with a timeout, so a hang is a plain
failure. Ports come from the OS (bind to port 0). The learning-run proofs (2 processes
match 1; a killed process stops the others; resume then finishes bit-identical) are
slow-marked; the default suite runs the host collectives on a toy and the placement of
a training state on a host forced to 4 devices.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from jaxrl.cli import main as cli_main
from jaxrl.parallel import launch
from jaxrl.parallel import processes as distributed

pytestmark = pytest.mark.heavy  # forced devices and several processes

ROOT = Path(__file__).resolve().parents[2]


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("XLA_FLAGS", None)
    for name in ("JAX_COORDINATOR_ADDRESS", "JAX_NUM_PROCESSES", "JAX_PROCESS_ID"):
        env.pop(name, None)
    env.update(extra)
    return env


# ----------------------------------------------------------------------------- settings
def test_settings_are_checked_before_connecting():
    with pytest.raises(distributed.DistributedError, match="all three"):
        distributed.check_settings("127.0.0.1:1234", None, None)
    with pytest.raises(distributed.DistributedError, match="HOST:PORT"):
        distributed.check_settings("localhost", 2, 0)
    with pytest.raises(distributed.DistributedError, match=r"0\.\.1"):
        distributed.check_settings("localhost:5", 2, 2)
    distributed.check_settings("node0:12345", 2, 1)
    assert distributed.settings_from_env({"JAX_COORDINATOR_ADDRESS": "h:1", "JAX_NUM_PROCESSES":
                                          "4", "JAX_PROCESS_ID": "3"}) == {
        "coordinator": "h:1", "num_processes": 4, "process_id": 3}
    with pytest.raises(distributed.DistributedError, match="JAX_PROCESS_ID"):
        distributed.settings_from_env({"JAX_PROCESS_ID": "one"})


def test_cli_refuses_half_given_settings_in_one_line(capsys):
    code = cli_main(["train", "ppo", "--coordinator", "127.0.0.1:9", "--seeds", "2"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "--num-processes" in err[0]


def test_launcher_command_lines():
    port = launch.free_port()
    assert 0 < port < 65536
    lines = launch.commands(["--", "train", "ppo", "--seeds", "4"], 2, port, cpu_devices=1,
                            python="py")
    assert lines[1] == ["py", "-m", "jaxrl", "train", "ppo", "--seeds", "4", "--coordinator",
                        f"127.0.0.1:{port}", "--num-processes", "2", "--cpu-devices", "1",
                        "--process-id", "1"]
    assert lines[0][-1] == "0"
    with pytest.raises(ValueError, match="sets --process-id itself"):
        launch.commands(["train", "ppo", "--process-id", "1"], 2, port)
    with pytest.raises(ValueError, match="'train' or 'sweep'"):
        launch.commands(["eval", "runs/x"], 2, port)
    with pytest.raises(ValueError, match="after '--'"):
        launch.commands([], 2, port)


# ------------------------------------------------------------- host collectives, 2 processes
TOY = textwrap.dedent(
    """
    import sys
    import numpy as np
    from jaxrl.parallel import processes as distributed, devices as parallel
    from jaxrl.errors import RunError
    rank = distributed.initialize(sys.argv[1], 2, int(sys.argv[2]), cpu_devices=2,
                                  heartbeat_seconds=10, timeout_seconds=60)
    import jax
    assert distributed.process_count() == 2 and len(jax.devices()) == 4
    assert distributed.is_writer() == (rank == 0)
    # Seeds over every device of every process: 8 seeds, 2 per device.
    program = parallel.over_seeds(lambda k, x: jax.random.uniform(k) + x, in_axes=(0, None))
    assert len(program.devices_for(8)) == 4 and len(program.devices_for(2)) == 2
    keys = jax.random.split(jax.random.key(0), 8)
    out = program(keys, np.float32(1.0))
    assert not out.is_fully_addressable
    host = parallel.to_host(out)
    want = np.asarray(jax.vmap(jax.random.uniform)(keys)) + 1.0
    np.testing.assert_allclose(host, want, rtol=1e-6)
    again = parallel.to_host(program.compile(keys, np.float32(0.0))(keys, np.float32(1.0)))
    np.testing.assert_array_equal(again, host)
    new_keys = parallel.to_host(parallel.over_seeds(lambda k: jax.random.split(k)[0])(keys))
    np.testing.assert_array_equal(jax.random.key_data(new_keys),
                                  jax.random.key_data(jax.vmap(lambda k: jax.random.split(k)[0])(keys)))
    try:
        parallel.global_devices_for(3)
        raise AssertionError("3 seeds over 2 processes must be refused")
    except ValueError as e:
        assert "split evenly over 2 processes" in str(e)
    assert distributed.any_process(rank == 1) is True
    assert distributed.any_process(False) is False
    # A value and an error of process 0 reach every process.
    got = distributed.from_writer(lambda: "spec", str.encode, bytes.decode)
    assert got == "spec", got
    def fail():
        raise RunError("run directory x is locked by pid 1")
    try:
        distributed.from_writer(fail)
        raise AssertionError("no error")
    except RunError as e:
        assert str(e) == "run directory x is locked by pid 1"
    print("ok", rank)
    """
)


def test_host_collectives_over_two_processes(tmp_path):
    script = tmp_path / "toy.py"
    script.write_text(TOY)
    port = launch.free_port()
    procs = [subprocess.Popen([sys.executable, str(script), f"127.0.0.1:{port}", str(i)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=_env(),
                              text=True) for i in range(2)]
    outs = []
    try:
        for p in procs:
            outs.append(p.communicate(timeout=180)[0])
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for i, (p, out) in enumerate(zip(procs, outs)):
        assert p.returncode == 0, out[-3000:]
        assert f"ok {i}" in out


# ------------------------------------------------------ placement on a host of 4 devices
PLACEMENT = textwrap.dedent(
    """
    import jax, numpy as np
    assert len(jax.devices()) == 4, jax.devices()
    from jaxrl import envs
    from jaxrl.runs import driver
    from jaxrl.algos import dqn
    env, params = envs.make("CartPole-v1")
    cfg = dqn.Config(num_envs=2, total_timesteps=2 * 40, learning_starts=8, buffer_size=64,
                     batch_size=8, hidden=(16,))
    agent = dqn.make(cfg, env, params)
    keys = driver.seed_keys(0, 8)
    init = driver.init_function(agent)
    state = init(keys)
    chunk = driver.chunk_function(agent, 2)
    state, metrics, finite = chunk(state, np.int32(2))
    jax.block_until_ready(state)
    for leaf in jax.tree.leaves(state):
        # every leaf of the state: seeds split 2 per device over all 4 devices
        assert len(leaf.sharding.device_set) == 4, leaf.sharding
        shards = leaf.addressable_shards
        assert sorted(s.data.shape[0] for s in shards) == [2, 2, 2, 2]
        if not jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
            assert leaf.dtype != np.float64 and leaf.dtype != np.int64, leaf.dtype
    assert len(metrics["loss"].sharding.device_set) == 4
    assert bool(np.all(np.asarray(finite)))
    print("placed")
    """
)


def test_training_state_is_placed_over_four_forced_devices(tmp_path):
    script = tmp_path / "placement.py"
    script.write_text(PLACEMENT)
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                       timeout=240, check=False,
                       env=_env(XLA_FLAGS="--xla_force_host_platform_device_count=4"))
    assert r.returncode == 0 and "placed" in r.stdout, (r.stdout + r.stderr)[-3000:]


# ------------------------------------------------------------------- learning-run proofs
PPO = ["train", "ppo", "--preset", "cartpole", "--seeds", "4", "--total-steps", "200000",
       "--chunk", "2", "--checkpoint-every", "20", "-q"]


def _jaxrl(args: list[str], cache: Path, timeout: float = 420) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "jaxrl", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT, check=False,
                          env=_env(JAXRL_CACHE_DIR=str(cache)))


def _launch(args: list[str], cache: Path, timeout: float = 420) -> subprocess.CompletedProcess:
    return _jaxrl(["launch", "--processes", "2", "--cpu-devices-per-process", "1", "--",
                   *args], cache, timeout)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """One process, 4 seeds on 2 devices, never interrupted."""
    root = tmp_path_factory.mktemp("dist")
    r = _jaxrl([*PPO, "--cpu-devices", "2", "--out", str(root / "one")], root / "cache")
    assert r.returncode == 0, r.stderr[-3000:]
    return root


@pytest.mark.slow
@pytest.mark.timeout(1500)  # child processes carry their own timeouts
def test_two_processes_match_one(reference):
    root = reference
    r = _launch([*PPO, "--out", str(root / "two")], root / "cache")
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    one = np.genfromtxt(root / "one" / "metrics.csv", delimiter=",", names=True)
    two = np.genfromtxt(root / "two" / "metrics.csv", delimiter=",", names=True)
    assert one.shape == two.shape == (4 * 390,)
    for name in one.dtype.names:
        np.testing.assert_allclose(two[name], one[name], rtol=1e-5, atol=1e-6, err_msg=name)
    # process 0 alone reported
    assert "[0] algorithm" in r.stdout and "[1] algorithm" not in r.stdout


@pytest.mark.slow
@pytest.mark.timeout(1500)  # child processes carry their own timeouts
def test_a_killed_process_stops_the_others_and_resume_finishes(reference):
    root = reference
    out = root / "killed"
    cmd = [sys.executable, "-m", "jaxrl", "launch", "--processes", "2",
           "--cpu-devices-per-process", "1", "--", *PPO, "--out", str(out)]
    with open(root / "killed.log", "w+") as log:
        code, text = _kill_one(cmd, out, log, root)
    assert code == 128 + signal.SIGKILL, text[-3000:]
    _check_killed_then_resume(root, out, text)


def _kill_one(cmd, out, log, root):
    p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
                         env=_env(JAXRL_CACHE_DIR=str(root / "cache")))
    try:
        deadline = time.monotonic() + 300
        while not (out / "checkpoint.msgpack").exists():
            assert p.poll() is None and time.monotonic() < deadline, "no checkpoint came"
            time.sleep(0.2)
        log.seek(0)
        pids = log.read().split("(pids ")[1].split(")")[0].split(", ")
        os.kill(int(pids[1]), signal.SIGKILL)  # process 1 dies mid-run
        code = p.wait(timeout=60)  # the launcher stops process 0 at once: no hang
    finally:
        if p.poll() is None:
            p.kill()
    log.seek(0)
    return code, log.read()


def _check_killed_then_resume(root, out, text):
    assert re.search(r"process 1 \(pid \d+\) died with signal SIGKILL; stopped the others; "
                     r"the run directory is resumable with: ", text), text[-3000:]
    assert "run directory:" not in text  # it did not finish

    # Another process count is refused in one line; the same count resumes and ends
    # where the uninterrupted run ended.
    r = _jaxrl(["train", "--resume", str(out), "-q"], root / "cache")
    assert r.returncode == 2
    hint = f"jaxrl launch --processes 2 -- train --resume {out} --cpu-devices 1"
    assert r.stderr.strip().splitlines()[-1] == (
        f"jaxrl: error: this run was trained by 2 process(es), not 1; continue it with: {hint}")
    r = _jaxrl(hint.split()[1:] + ["-q"], root / "cache")  # the command the refusal names
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    one = np.genfromtxt(root / "one" / "metrics.csv", delimiter=",", names=True)
    resumed = np.genfromtxt(out / "metrics.csv", delimiter=",", names=True)
    assert resumed.shape == one.shape
    for name in one.dtype.names:
        np.testing.assert_allclose(resumed[name], one[name], rtol=1e-5, atol=1e-6, err_msg=name)
