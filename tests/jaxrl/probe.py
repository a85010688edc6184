"""``_DriverProbe``: a tiny test-only algorithm (not a learner) that trains in milliseconds.

Registered as ``"_probe"`` (``jaxrl.algos.register``, the public call) by the ``probe`` fixture (``from probe import probe`` in a
test module of this folder, which pytest puts on ``sys.path``), it exercises the
driver, the run directory and resume without compiling a real agent. Its update is
nonlinear and random, so any change of order or key use shows in the bits.

``nan_at=K`` (with ``nan_share``) makes the parameters of the seeds whose init drew
``bad`` non-finite from update ``K`` on (the NaN guard's tests); by default no seed
ever goes bad.

``python tests/jaxrl/probe.py ARGS`` is the ``jaxrl`` command with the probe
registered (for tests that need a separate process: kills, a second writer).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import pytest
from flax import struct

from jaxrl import algos
from jaxrl.core.agent import Agent

__all__ = ["PROBE", "ProbeConfig", "ProbeState", "_DriverProbe", "cached", "no_plot", "probe",
           "register", "registered"]

PROBE = "_probe"


@struct.dataclass
class ProbeConfig:
    """Config of ``_DriverProbe`` (test-only)."""

    num_envs: int = struct.field(pytree_node=False, default=2)
    total_timesteps: int = struct.field(pytree_node=False, default=26)  # 13 updates
    width: int = struct.field(pytree_node=False, default=3)
    nan_at: int = struct.field(pytree_node=False, default=0)  # 0: never
    nan_share: float = struct.field(pytree_node=False, default=1.0)  # P(a seed is bad)
    lr: float = 0.1

    def validate(self):
        if not self.lr > 0:
            raise ValueError(f"probe lr must be > 0, got {self.lr}")
        if self.nan_at < 0:
            raise ValueError(f"probe nan_at must be >= 0, got {self.nan_at}")
        return self


@struct.dataclass
class ProbeState:
    w: jax.Array  # float32[width]
    key: jax.Array
    t: jax.Array  # int32[]
    bad: jax.Array  # bool[]: this seed goes non-finite at nan_at (when nan_at > 0)


def _probe_make(config: ProbeConfig, env, env_params) -> Agent:
    def init(key):
        k1, k2 = jax.random.split(key)
        bad = jax.random.uniform(jax.random.fold_in(key, 7)) < config.nan_share
        return ProbeState(jax.random.normal(k1, (config.width,)), k2,
                          jnp.zeros((), jnp.int32), bad)

    def update(s):
        key, k = jax.random.split(s.key)
        # Nonlinear and random, so any change of order or key use shows in the bits.
        w = jnp.tanh(s.w + config.lr * jax.random.normal(k, s.w.shape)) * 1.01
        t = s.t + 1
        if config.nan_at:
            w = jnp.where(s.bad & (t >= config.nan_at), jnp.nan, w)
        ended = t % 2 == 0
        metrics = {
            "env_steps": t * config.num_envs,
            "episode_return": jnp.where(ended, jnp.sum(w), jnp.nan),
            "episodes": jnp.where(ended, 2, 0).astype(jnp.int32),
            "w0": w[0],
        }
        return ProbeState(w, key, t, s.bad), metrics

    def act(s, obs, key, greedy):
        return jnp.int32(0)

    return Agent(init=init, update=update, act=act, config=config,
                 num_updates=config.total_timesteps // config.num_envs)


_DriverProbe = algos.Algorithm(name=PROBE, config=ProbeConfig, make=_probe_make,
                               summary="test-only probe (not a learner)")


@pytest.fixture
def probe():
    """Registers ``_DriverProbe`` as the algorithm ``"_probe"`` for one test."""
    with registered():
        yield PROBE


@pytest.fixture
def no_plot(monkeypatch):
    """Skip drawing learning curves (0.3 s each) where only bytes of other files matter."""
    from jaxrl.runs.result import Result

    monkeypatch.setattr(Result, "plot", lambda self, path=None, **kw: None)


class registered:
    """``with registered():``: ``"_probe"`` is an algorithm inside the block."""

    def __enter__(self):
        register()
        return PROBE

    def __exit__(self, *exc):
        algos.unregister(PROBE)


class cached:
    """``with cached():``: ``"_probe"`` is an algorithm, and every program compiled inside
    the block goes to the test run's compile cache (tests/conftest.py), however quickly it
    compiled: the probe's programs compile in well under the run's 0.2 s threshold, and the
    files of a module train it again and again."""

    NAME = "jax_persistent_cache_min_compile_time_secs"

    def __enter__(self):
        self.saved = getattr(jax.config, self.NAME)
        jax.config.update(self.NAME, 0.0)
        return registered().__enter__()

    def __exit__(self, *exc):
        jax.config.update(self.NAME, self.saved)
        algos.unregister(PROBE)


def register() -> None:
    """Make ``"_probe"`` an algorithm of this process (for a subprocess running the CLI)."""
    algos.register(_DriverProbe, replace=True)


if __name__ == "__main__":  # python tests/jaxrl/probe.py train _probe ...: the real CLI
    import sys

    register()
    from jaxrl.cli import main

    sys.exit(main())


def state_bits(tree) -> list[bytes]:
    """Every leaf of a training state as bytes (PRNG keys as their key data): two states
    are bit-identical when their lists are equal (the resume tests)."""
    import numpy as np

    out = []
    for x in jax.tree.leaves(tree):
        if jnp.issubdtype(x.dtype, jax.dtypes.prng_key):
            x = jax.random.key_data(x)
        out.append(np.asarray(x).tobytes())
    return out
