"""One seed over every device: an evolution population split over devices and processes.

``--split population`` (``run.train(split="population")``) gives es and ga the devices of
every process for each generation's members, and runs each seed whole (replicated) on
all of them. The checks: the learned parameters are bit-identical to the seeds split
(only a mean over the gathered fitness may differ in its last bits), the state lives on
every device, wrong uses are refused in one line, and (slow) two processes give what one
process gives.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from test_distributed import _env  # child processes' environment (this folder is on sys.path)

from jaxrl.cli import main as cli_main

pytestmark = pytest.mark.heavy  # several CPU devices in child processes

ROOT = Path(__file__).resolve().parents[2]


SPLIT = textwrap.dedent(
    """
    import jax
    import numpy as np
    from jaxrl.runs import run
    from jaxrl.errors import RunError

    import sys

    assert jax.device_count() == 2
    algo, leaf = sys.argv[1], sys.argv[2]
    if True:
        a = run.train(algo, "CartPole-v1", preset="cartpole", seeds=1, generations=3)
        b = run.train(algo, "CartPole-v1", preset="cartpole", seeds=1, generations=3,
                      split="population")
        pa, pb = getattr(a.state, leaf), getattr(b.state, leaf)
        assert len(pb.sharding.device_set) == 2, pb.sharding  # on every device
        assert len(pa.sharding.device_set) == 1, pa.sharding  # one seed: one device
        np.testing.assert_array_equal(np.asarray(pa), np.asarray(pb))
        for name in a.metrics:
            np.testing.assert_allclose(np.asarray(b.metrics[name]),
                                       np.asarray(a.metrics[name]), rtol=1e-5, err_msg=name)
    # antithetic pairs may not straddle two devices: refused before compiling
    try:
        if algo != "es":
            raise RunError("antithetic pair (es only)")
        run.train("es", "CartPole-v1", preset="cartpole", seeds=1, population_size=6,
                  split="population")
    except RunError as e:
        assert "antithetic pair" in str(e) and "\\n" not in str(e), e
    else:
        raise AssertionError("an odd share per device was accepted")
    print("split ok")
    """
)


@pytest.mark.parametrize("algo, leaf", [
    ("es", "mean"), pytest.param("ga", "best", marks=pytest.mark.slow)])
def test_population_split_over_two_devices_matches_the_seed_split(algo, leaf, tmp_path):
    script = tmp_path / "split.py"
    script.write_text(SPLIT)
    r = subprocess.run([sys.executable, str(script), algo, leaf], capture_output=True,
                       text=True,
                       timeout=400, check=False,
                       env=_env(XLA_FLAGS="--xla_force_host_platform_device_count=2"))
    assert r.returncode == 0 and "split ok" in r.stdout, (r.stdout + r.stderr)[-3000:]


@pytest.mark.parametrize("argv, message", [
    (["train", "ppo", "--split", "population"],
     "--split population splits an evolution population over the devices (es, ga); ppo "
     "has none: split its seeds"),
    (["sweep", "es", "--grid", "lr=0.01,0.02", "--split", "population"],
     "sweep splits its settings and seeds over the devices; --split population is for "
     "train"),
])
def test_population_split_is_refused_in_one_line(argv, message, capsys, tmp_path):
    code = cli_main([*argv, "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err == [f"jaxrl: error: {message}"]
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
@pytest.mark.timeout(1200)  # child processes carry their own timeouts
def test_one_seed_over_two_processes_matches_one_process(tmp_path):
    """A population of 128 split over 2 processes: the metrics of 1 process."""
    args = ["train", "es", "--preset", "cartpole", "--seeds", "1", "--set", "generations=6",
            "-q"]

    def jaxrl(extra: list[str]) -> None:
        r = subprocess.run([sys.executable, "-m", "jaxrl", *extra], capture_output=True,
                           text=True, timeout=500, cwd=ROOT, check=False,
                           env=_env(JAXRL_CACHE_DIR=str(tmp_path / "cache")))
        assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]

    jaxrl([*args, "--cpu-devices", "1", "--out", str(tmp_path / "one")])
    jaxrl(["launch", "--processes", "2", "--cpu-devices-per-process", "1", "--", *args,
           "--split", "population", "--out", str(tmp_path / "two")])
    one = np.genfromtxt(tmp_path / "one" / "metrics.csv", delimiter=",", names=True)
    two = np.genfromtxt(tmp_path / "two" / "metrics.csv", delimiter=",", names=True)
    assert one.shape == two.shape == (6,)
    for name in one.dtype.names:
        np.testing.assert_allclose(two[name], one[name], rtol=1e-5, atol=1e-6, err_msg=name)
