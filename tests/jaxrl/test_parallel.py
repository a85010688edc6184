"""jaxrl.parallel.devices: seeds split over several CPU devices give the single-device results.

Several CPU devices can only be asked for before JAX starts, so the multi-device
checks run in a child process (with a timeout, so a hang is a failure).
"""

import subprocess
import sys
import textwrap

import jax
import pytest

from jaxrl.parallel import devices as par

pytestmark = pytest.mark.heavy  # several CPU devices in child processes

CHILD = textwrap.dedent(
    """
    import os, tempfile
    import jax, numpy as np
    from jaxrl.parallel import devices as par
    assert par.use_cpu_cores(2) == 2
    # The three driver runs below compile the same programs: compile them once.
    jax.config.update("jax_compilation_cache_dir", os.path.join(os.environ["JAXRL_TEST_CACHE"], "xla"))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    assert len(jax.devices()) == 2
    import jaxrl
    from jaxrl import envs
    from jaxrl.algos import ppo

    env, params = envs.make("CartPole-v1")
    cfg = ppo.Config(num_envs=4, num_steps=16, total_timesteps=4 * 16 * 3)
    agent = ppo.make(cfg, env, params)
    keys = jax.random.split(jax.random.key(0), 4)
    two = par.over_seeds(agent.train)
    one = par.over_seeds(agent.train, devices=jax.devices()[:1])
    assert [d.id for d in two.devices_for(4)] == [0, 1]
    assert [d.id for d in two.devices_for(3)] == [0]  # 3 seeds do not split over 2
    s2, m2 = two(keys)
    s1, m1 = one(keys)
    assert len(m2["episode_return"].sharding.device_set) == 2
    assert len(m1["episode_return"].sharding.device_set) == 1
    np.testing.assert_array_equal(np.asarray(m2["env_steps"]), np.asarray(m1["env_steps"]))
    for a, b in zip(jax.tree.leaves(s2.params), jax.tree.leaves(s1.params)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-5)
    # A shared (unbatched) argument is replicated to every device.
    f = par.over_seeds(lambda k, x: jax.random.normal(k) * 0 + x, in_axes=(0, None))
    np.testing.assert_array_equal(np.asarray(f(keys, 3.0)), [3.0] * 4)

    # The training driver on two devices, stopped and resumed from its checkpoint,
    # ends where one uninterrupted run ends.
    with tempfile.TemporaryDirectory() as d:
        kw = dict(env="CartPole-v1", seeds=2, total_steps=4 * 16 * 6,
                  num_envs=4, num_steps=16, chunk_updates=2)
        full = jaxrl.train("ppo", out_dir=d + "/full", **kw)
        part = jaxrl.train("ppo", out_dir=d + "/part", stop_after=2, **kw)
        assert part.updates_done == 2
        resumed = jaxrl.resume(d + "/part")
        np.testing.assert_array_equal(resumed.metrics["episode_return"],
                                      full.metrics["episode_return"])
    print("ok")
    """
)


def test_seeds_split_over_two_cpu_devices_match_one_device():
    proc = subprocess.run(
        [sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=240
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert proc.stdout.strip().endswith("ok")


def test_device_count_for_divides_the_seeds():
    devices = ["a", "b", "c", "d"]
    assert par.device_count_for(16, devices) == 4
    assert par.device_count_for(6, devices) == 3
    assert par.device_count_for(7, devices) == 1
    assert par.device_count_for(2, devices) == 2
    assert par.device_count_for(1, devices) == 1
    with pytest.raises(ValueError, match="positive integer"):
        par.device_count_for(0, devices)


def test_use_cpu_cores_after_jax_started():
    jax.devices()  # make sure JAX has started in this process
    have = len(jax.devices("cpu"))
    assert par.use_cpu_cores(have) == have
    assert par.use_cpu_cores() == have  # no count asked for: the running one is kept
    with pytest.raises(RuntimeError, match="already started"):
        par.use_cpu_cores(have + 1)
    with pytest.raises(ValueError, match="positive integer"):
        par.use_cpu_cores(0)


def test_over_seeds_rejects_other_axes():
    f = par.over_seeds(lambda x: x, in_axes=1)
    with pytest.raises(ValueError, match="in_axes of 0 or None"):
        f(jax.numpy.zeros((2, 3)))
    g = par.over_seeds(lambda x: x, in_axes=(None,))
    with pytest.raises(ValueError, match="at least one argument"):
        g(jax.numpy.zeros(2))
