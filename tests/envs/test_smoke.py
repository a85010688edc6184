"""Smoke harness over the gymnax environment names (jaxrl's own environments get the same
check in tests/envs/test_checker.py).

For each name, ``envs.check_env`` with a vmapped batch of 1,024 copies: jitted reset and
step, no retrace on the second call, spaces contain what the env returns (dtypes and
shapes included), every output finite, flags boolean scalars, auto-reset and
``final_observation`` as documented, determinism, params vmappable
(``tests/envs/test_checker.py`` has the checker's own tests).
"""

import pytest

from jaxrl import envs

BATCH = 1024
OWN = envs.registered(include_gymnax=False)
GYMNAX = [n for n in envs.registered() if n.startswith("gymnax/")]
# One of each light gymnax family in the default run (Acrobot: tests/envs/test_checker.py);
# the rest (MinAtar: slow to compile) with -m slow.
GYMNAX_FAST = ["gymnax/Pendulum-v1", "gymnax/Catch-bsuite"]
# Broken in gymnax itself (see tests/envs/test_checker.py).
GYMNAX_BROKEN = {"gymnax/MNISTBandit-bsuite", "gymnax/PointRobot-misc", "gymnax/Reacher-misc",
                 "gymnax/Swimmer-misc"}


def _check(name):
    env, params = envs.make(name)
    # Four steps of 1,024 copies; episodes are cut to two steps inside the check, so
    # copies end episodes and auto-reset.
    report = envs.check_env(env, params, num_steps=4, batch=BATCH)
    assert report.traces == {"reset": 1, "step": 1}
    assert report.batch == BATCH and report.episodes_ended > 0


# jaxrl's own environments: the same check at the same batch, once, in
# tests/envs/test_checker.py::test_every_built_in_environment_passes.


@pytest.mark.heavy
@pytest.mark.parametrize("name", [
    n if n in GYMNAX_FAST else pytest.param(n, marks=pytest.mark.slow)
    for n in GYMNAX if n not in GYMNAX_BROKEN])
def test_gymnax_env_through_bridge(name):
    _check(name)


def test_every_own_env_has_a_documented_module():
    for name in OWN:
        env, _ = envs.make(name)
        doc = type(env.unwrapped).__module__
        module = __import__(doc, fromlist=["_"])
        text = (module.__doc__ or "").lower()
        for word in ("observation", "action", "reward", "params"):
            assert word in text, f"{name}: module docstring does not describe {word}"


def test_the_bridge_reads_gymnax_0_0_x_flags_whose_done_includes_the_time_limit():
    """Older gymnax (0.0.x, which some peers pin) has no ``is_truncated`` and folds the time
    limit into ``step_env``'s flag: the bridge splits it again, on MountainCarContinuous
    both at its time limit and at a natural end."""
    import jax
    import jax.numpy as jnp

    env, params = envs.make("gymnax/MountainCarContinuous-v0")
    new = env._env

    class Old:  # gymnax 0.0.x's contract, made from the new one
        def step_env(self, key, state, action, params):
            obs, s, r, term, info = new.step_env(key, state, action, params)
            return obs, s, r, jnp.logical_or(term, s.time >= params.max_steps_in_episode), info

    old = Old()
    state = new.reset_env(jax.random.key(0), params)[1]
    for where, expect in (({"time": params.max_steps_in_episode - 1}, (False, True)),
                          ({"position": jnp.float32(0.46), "velocity": jnp.float32(0.05)},
                           (True, False)),
                          ({}, (False, False))):
        s = state.replace(**where)
        got = []
        for inner in (new, old):
            env._env = inner
            try:
                _, _, _, term, trunc, _ = env.step_env(jax.random.key(1), s, jnp.ones(1), params)
            finally:
                env._env = new
            got.append((bool(term), bool(trunc)))
        assert got == [expect, expect], where
