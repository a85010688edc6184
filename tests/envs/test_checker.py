"""envs.check_env: every built-in environment and probe passes it, and deliberately broken
environments fail it, each with the check that names what is wrong."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import struct

from jaxrl import envs
from jaxrl.envs import probes, spaces
from jaxrl.envs.core import Environment

OWN = envs.registered(include_gymnax=False)
GYMNAX = ["gymnax/Acrobot-v1", "gymnax/Freeway-MinAtar"]
# DoorKey's larger boards compile the same code as 5x5 (as in test_smoke): slow. So is
# Freeway (half a minute of compiling); what the checker once found there, a reset state
# of other types than the step's (a retrace), every gymnax environment is checked for
# below by tracing alone.
SLOW = {"DoorKey-6x6-v0", "DoorKey-8x8-v0", "DoorKey-16x16-v0", "gymnax/Freeway-MinAtar"}


BATCH = 1024  # the smoke test of every environment (tests/envs/test_smoke.py): big batches
SMALLER_BATCH = {"Battle-v0": 64}  # 40 agents on a 20x20 board per copy: a smaller batch runs it


# The default run checks a few; CI's heavy stage (-m heavy) checks every one.
QUICK = {"CartPole-v1", "Gridworld-v0", "Maze-v0"}


def _tiered(names, quick):
    return [n if n in quick else pytest.param(
        n, marks=pytest.mark.slow if n in SLOW else pytest.mark.heavy) for n in names]


@pytest.mark.parametrize("name", _tiered(OWN + GYMNAX, QUICK))
def test_every_built_in_environment_passes(name):
    env, params = envs.make(name)
    batch = SMALLER_BATCH.get(name, BATCH)
    report = envs.check_env(env, params, num_steps=32, batch=batch)
    assert report.batch == batch
    assert {"spaces", "jit", "reset", "step", "final_observation", "retrace", "deterministic",
            "vmap", "auto_reset", "finite", "params_vmap"} == set(report.checks)
    assert report.traces == {"reset": 1, "step": 1}
    assert report.episodes_ended > 0, "the rollout never exercised an auto-reset"
    assert report.multi_agent == name.startswith(("Ising", "Battle"))
    assert name in str(report) or env.name in str(report)


# gymnax environments that do not run under jit in gymnax itself (not jaxrl's adapter):
# MNISTBandit downloads MNIST while it is built; the three misc robots turn a traced
# array into numpy inside their step.
GYMNAX_BROKEN = {"gymnax/MNISTBandit-bsuite": "downloads MNIST when built",
                 "gymnax/PointRobot-misc": "gymnax's step calls numpy on a traced array",
                 "gymnax/Reacher-misc": "gymnax's step calls numpy on a traced array",
                 "gymnax/Swimmer-misc": "gymnax's step calls numpy on a traced array"}


@pytest.mark.parametrize("name", [
    pytest.param(n, marks=pytest.mark.skip(reason=GYMNAX_BROKEN[n])) if n in GYMNAX_BROKEN else n
    for n in envs.registered() if n.startswith("gymnax/")])
def test_step_keeps_the_types_of_the_state_reset_makes(name):
    """Shapes, dtypes and weak types of the state: reset's are step's (else the second
    step of a jitted loop compiles again). Traced only, nothing compiled."""
    env, params = envs.make(name)
    key = jax.random.key(0)
    obs, state = jax.eval_shape(env.reset, key, params)
    action = jax.eval_shape(env.action_space(params).sample, key)
    out = jax.eval_shape(env.step, key, state, action, params)

    def avals(tree):
        return [(x.shape, x.dtype, x.weak_type) for x in jax.tree.leaves(tree)]

    assert jax.tree.structure(out[1]) == jax.tree.structure(state)
    assert avals(out[1]) == avals(state)
    assert avals(out[0]) == avals(obs)


PROBES = {
    **{f"probe/{kind}": (probes.Probe(), probes.ProbeParams(kind=k))
       for k, kind in enumerate(probes.KINDS)},
    "probe/one_hot/discount": (probes.Probe("one_hot"), probes.ProbeParams(kind=probes.DISCOUNT)),
    "probe/continuous": (probes.ContinuousProbe(), None),
    "probe/coin": (probes.Coin(), None),
}


@pytest.mark.parametrize("name", _tiered(list(PROBES), {"probe/constant"}))
def test_every_probe_passes(name):
    env, params = PROBES[name]
    report = envs.check_env(env, params, num_steps=8, batch=4)
    assert report.episodes_ended > 0
    if name.endswith("truncation"):
        assert report.truncated_seen and not report.terminated_seen
    else:
        assert report.terminated_seen and not report.truncated_seen


@pytest.mark.heavy
def test_wrapped_environments_pass():
    env, params = envs.make("CartPole-v1")
    wrapped = envs.wrappers.TimeLimit(envs.wrappers.EpisodeStatistics(
        envs.wrappers.ObservationNoise(env, 0.01)), 7)
    report = envs.check_env(wrapped, params, num_steps=16, batch=2)
    assert report.truncated_seen


def test_arguments_are_checked():
    env = probes.Probe()
    with pytest.raises(ValueError, match="num_steps"):
        envs.check_env(env, num_steps=1)
    with pytest.raises(ValueError, match="batch"):
        envs.check_env(env, batch=0)


# ------------------------------------------------------------------------ broken on purpose
@struct.dataclass
class CountState:
    t: jax.Array


@struct.dataclass
class CountParams:
    max_steps_in_episode: int = 3


class Count(Environment):
    """A correct little env the broken ones below change one thing of: obs ``float32[1]``
    in [0, 1], the time fraction; reward 1; truncated after ``max_steps_in_episode``."""

    stochastic_step = False

    @property
    def default_params(self):
        return CountParams()

    def observe(self, t, params):
        return jnp.reshape(t / params.max_steps_in_episode, (1,)).astype(jnp.float32)

    def reset_env(self, key, params):
        state = CountState(jnp.zeros((), jnp.int32))
        return self.observe(state.t, params), state

    def step_env(self, key, state, action, params):
        t = state.t + 1
        truncated = t >= params.max_steps_in_episode
        return (self.observe(t, params), CountState(t), jnp.ones((), jnp.float32),
                jnp.asarray(False), truncated, {})

    def action_space(self, params=None):
        return spaces.Discrete(2)

    def observation_space(self, params=None):
        return spaces.Box(0.0, 1.0, (1,), jnp.float32)


class WrongDtype(Count):
    def observe(self, t, params):
        return jnp.reshape(t, (1,))  # int32 under a float32 Box


class OutsideSpace(Count):
    def observe(self, t, params):
        return jnp.reshape(2.0 + t, (1,)).astype(jnp.float32)  # Box(0, 1) says at most 1


class NoAutoReset(Count):
    def step(self, key, state, action, params=None):
        params = self.default_params if params is None else params
        obs, state, reward, terminated, truncated, _ = self.step_env(key, state, action, params)
        return obs, state, reward, terminated, truncated, {"final_observation": obs}


class NoFinalObservation(Count):
    def step(self, key, state, action, params=None):
        obs, state, reward, terminated, truncated, _ = super().step(key, state, action, params)
        return obs, state, reward, terminated, truncated, {}


class HostRandomness(Count):
    def step_env(self, key, state, action, params):
        obs, state, reward, terminated, truncated, info = super().step_env(key, state, action,
                                                                           params)
        return obs, state, reward * np.random.uniform(), terminated, truncated, info


class Retraces(Count):
    def step_env(self, key, state, action, params):
        obs, state, reward, terminated, truncated, info = super().step_env(key, state, action,
                                                                           params)
        return obs, CountState(state.t.astype(jnp.float32)), reward, terminated, truncated, info


class WeakReset(Count):
    """Same dtype and shape, but weakly typed on reset and strongly typed after a step."""

    def reset_env(self, key, params):
        obs, _ = super().reset_env(key, params)
        return obs, CountState(jnp.asarray(0))  # a weakly typed int32

    def step_env(self, key, state, action, params):
        obs, state, reward, terminated, truncated, info = super().step_env(key, state, action,
                                                                           params)
        return obs, CountState(state.t.astype(jnp.int32)), reward, terminated, truncated, info


class IntReward(Count):
    def step_env(self, key, state, action, params):
        obs, state, reward, terminated, truncated, info = super().step_env(key, state, action,
                                                                           params)
        return obs, state, reward.astype(jnp.int32), terminated, truncated, info


class FlagShape(Count):
    def step_env(self, key, state, action, params):
        obs, state, reward, _, truncated, info = super().step_env(key, state, action, params)
        return obs, state, reward, jnp.zeros((1,), bool), truncated, info


class NotASpace(Count):
    def action_space(self, params=None):
        return 2


class NonFinite(Count):
    def step_env(self, key, state, action, params):
        obs, state, reward, terminated, truncated, info = super().step_env(key, state, action,
                                                                           params)
        return obs, state, reward / 0.0 * 0.0, terminated, truncated, info


class ParamsAsPython(Count):
    def step_env(self, key, state, action, params):
        if params.max_steps_in_episode > 2:  # Python control flow on a params value
            pass
        return super().step_env(key, state, action, params)


@pytest.mark.parametrize("env, check, words", [
    (WrongDtype(), "reset", "dtype int32"),
    (OutsideSpace(), "reset", "outside Box"),
    (NoAutoReset(), "auto_reset", "not a fresh episode"),
    (NoFinalObservation(), "final_observation", "no 'final_observation'"),
    (HostRandomness(), "deterministic", "same key differ"),
    (Retraces(), "retrace", "leaf .t: int32[] vs float32[]"),
    (WeakReset(), "retrace", "leaf .t: int32[] (weak type) vs int32[]"),
    (IntReward(), "step", "reward must be a floating"),
    (FlagShape(), "step", "terminated must be bool[]"),
    (NotASpace(), "spaces", "not an envs.spaces.Space"),
    (NonFinite(), "finite", "non-finite"),
    (ParamsAsPython(), "jit", "raised"),
], ids=lambda x: type(x).__name__ if isinstance(x, Environment) else None)
def test_broken_environments_fail_with_the_check_that_names_it(env, check, words):
    with pytest.raises(envs.EnvCheckError, match=f"check '{check}' failed") as caught:
        envs.check_env(env, num_steps=8, batch=2)
    assert caught.value.check == check
    assert words in str(caught.value), str(caught.value)
    assert str(caught.value).startswith(f"{env.name}: ")

