"""Probe environments: the smallest tasks with known answers, one per piece of a learner.

Osband et al.'s bsuite idea, in the form Andy Jones's "debugging RL" notes made popular:
before blaming hyperparameters, check that an agent solves a ladder of one- and
two-step tasks whose value functions and optimal policies are known exactly. Each rung
isolates one thing (the value head, reading the observation, discounting, the policy
head, both together, bootstrapping through a time limit), so the first rung a learner
fails names the broken part::

    from jaxrl.envs import probes
    env = probes.Probe()                                    # obs float32[1], 2 actions
    params = probes.ProbeParams(kind=probes.DISCOUNT)
    every = probes.ladder()                                 # all six rungs, to vmap over

``Probe``: the ladder, one class whose rung is the params field ``kind`` (so
``jax.vmap`` over params trains an agent on every rung in one compiled program).
Observation: one value ``o`` in {-1, 0, +1}: ``float32[1]`` holding ``o``
    (``observation="scalar"``, the default), or ``float32[3]``, the one-hot of
    ``o mod 3`` (``observation="one_hot"``: ``o = 0`` is ``(1, 0, 0)``, ``+1`` is
    ``(0, 1, 0)``, ``-1`` is ``(0, 0, 1)``), for learners that want a table-like input.
Actions: ``Discrete(2)``. Discount ``gamma`` is the learner's.
Rungs (``kind``):

* ``CONSTANT``: obs 0; reward 1; terminates. V = 1 (Q = [1, 1]): the value head fits a
  constant.
* ``OBS_REWARD``: obs -1 or +1 at random; reward = obs; terminates. V(o) = o: the value
  reads the observation.
* ``DISCOUNT``: obs 0, reward 0, then obs +1, reward 1, terminates (the final
  observation is -1, a terminal marker distinct from both). V(0) = gamma, V(1) = 1:
  the discount is applied once per step and bootstrapping crosses steps.
* ``ACTION``: obs 0; reward 1 for action 1, ``wrong_reward`` for action 0; terminates.
  Q = [wrong_reward, 1], the policy picks 1: the policy head learns from reward.
* ``OBS_ACTION``: obs -1 or +1 at random; reward 1 when the action is ``obs > 0``
  (1 on +1, 0 on -1), else ``wrong_reward``; terminates. Policy and values must read
  the observation together.
* ``TRUNCATION``: obs 0; reward 1; every step is cut by a time limit (``truncated``,
  never ``terminated``), and the state does not change. V = 1 / (1 - gamma): a learner
  that treats the time limit as a termination learns 1.

Params (``ProbeParams``, every field vmappable): ``kind`` (``CONSTANT``), ``wrong_reward``
(-1.0; 0.0 gives the 1/0 rewards some textbooks use), ``max_steps_in_episode`` (2, the
longest rung: learners that size rollouts from it get whole episodes).

``ContinuousProbe``: a Box(-1, 1, (1,)) action: obs -1 or +1 at random; reward
``-sum((a - gain * obs)**2)``; terminates. The optimal (greedy) action is
``gain * obs`` (``gain`` 0.5, a params field): the Gaussian mean must read the observation.

``Coin``: one step, two actions, obs ``float32[1]`` (always 1): reward +1 with
probability ``p_win[a]`` (params, default ``[0.5, 0.8]``), else -1; terminates. The return
of each action is a two-point distribution of known shape (distributional learners).

Every probe passes ``envs.check_env`` (``tests/envs/test_checker.py``). They are not
registered names (``envs.make``): build them directly.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from . import spaces
from .core import Environment

__all__ = [
    "ACTION", "CONSTANT", "DISCOUNT", "KINDS", "OBS_ACTION", "OBS_REWARD", "TRUNCATION",
    "Coin", "CoinParams", "ContinuousProbe", "ContinuousProbeParams", "Probe", "ProbeParams",
    "ProbeState", "ladder",
]

CONSTANT, OBS_REWARD, DISCOUNT, ACTION, OBS_ACTION, TRUNCATION = range(6)
#: The rungs' names, in ``kind`` order.
KINDS = ("constant", "obs_reward", "discount", "action", "obs_action", "truncation")
OBSERVATIONS = ("scalar", "one_hot")


@struct.dataclass
class ProbeState:
    obs: jax.Array  # float32[]: the observation's value, -1, 0 or +1
    t: jax.Array  # int32[]: steps into the episode


@struct.dataclass
class ProbeParams:
    kind: int = CONSTANT
    wrong_reward: float = -1.0
    max_steps_in_episode: int = 2


def ladder(kinds=None, **fields) -> ProbeParams:
    """``ProbeParams`` of several rungs along a leading axis (every field batched), for
    ``jax.vmap``: ``ladder()`` is all six in ``kind`` order; ``ladder([CONSTANT, DISCOUNT],
    wrong_reward=0.0)`` two of them with 1/0 rewards."""
    kinds = jnp.arange(len(KINDS)) if kinds is None else jnp.asarray(kinds)
    kinds = kinds.astype(jnp.int32)
    one = ProbeParams(**fields)
    return jax.tree.map(lambda x: jnp.broadcast_to(jnp.asarray(x), kinds.shape),
                        one.replace(kind=kinds))


def _coin(key: jax.Array) -> jax.Array:
    """-1 or +1 with probability 1/2 each (+1 when ``bernoulli(key)``), ``float32[]``."""
    return jnp.where(jax.random.bernoulli(key), 1.0, -1.0).astype(jnp.float32)


class Probe(Environment[ProbeState, ProbeParams]):
    """The probe ladder (see the module docstring); ``params.kind`` picks the rung.

    Args:
        observation: ``"scalar"`` (``float32[1]``) or ``"one_hot"`` (``float32[3]``).
    """

    stochastic_step = False  # only the reset draws (the random sign)

    def __init__(self, observation: str = "scalar"):
        if observation not in OBSERVATIONS:
            raise ValueError(f"Probe observation must be one of {OBSERVATIONS}, "
                             f"got {observation!r}")
        self.observation = observation

    @property
    def name(self) -> str:
        return "Probe" if self.observation == "scalar" else "Probe(one_hot)"

    @property
    def default_params(self) -> ProbeParams:
        return ProbeParams()

    def observe(self, value: jax.Array) -> jax.Array:
        """The observation of a value in {-1, 0, +1}."""
        value = jnp.asarray(value, jnp.float32)
        if self.observation == "one_hot":
            return jax.nn.one_hot(jnp.mod(value.astype(jnp.int32), 3), 3, dtype=jnp.float32)
        return jnp.reshape(value, (1,))

    def reset_env(self, key, params):
        kind = jnp.asarray(params.kind)
        random = (kind == OBS_REWARD) | (kind == OBS_ACTION)
        value = jnp.where(random, _coin(key), 0.0).astype(jnp.float32)
        state = ProbeState(value, jnp.zeros((), jnp.int32))
        return self.observe(value), state

    def step_env(self, key, state, action, params):
        kind, o = jnp.asarray(params.kind), state.obs
        wrong = jnp.asarray(params.wrong_reward, jnp.float32)
        right_action = (o > 0).astype(jnp.int32)
        reward = jnp.select(
            [kind == OBS_REWARD, kind == DISCOUNT, kind == ACTION, kind == OBS_ACTION],
            [o, jnp.where(state.t == 0, 0.0, 1.0), jnp.where(action == 1, 1.0, wrong),
             jnp.where(action == right_action, 1.0, wrong)],
            1.0,
        ).astype(jnp.float32)
        t = state.t + 1
        discount = kind == DISCOUNT
        truncated = kind == TRUNCATION
        terminated = jnp.where(discount, t >= 2, jnp.logical_not(truncated))
        # DISCOUNT moves 0 -> +1, then to the terminal marker -1; the others stay put.
        value = jnp.where(discount, jnp.where(state.t == 0, 1.0, -1.0), o).astype(jnp.float32)
        new_state = ProbeState(value, t)
        return self.observe(value), new_state, reward, terminated, truncated, {}

    def action_space(self, params=None) -> spaces.Discrete:
        return spaces.Discrete(2)

    def observation_space(self, params=None) -> spaces.Box:
        if self.observation == "one_hot":
            return spaces.Box(0.0, 1.0, (3,), jnp.float32)
        return spaces.Box(-1.0, 1.0, (1,), jnp.float32)


# ---------------------------------------------------------------------------------
@struct.dataclass
class ContinuousProbeState:
    obs: jax.Array  # float32[1]


@struct.dataclass
class ContinuousProbeParams:
    gain: float = 0.5  # the optimal action is gain * obs
    max_steps_in_episode: int = 1


class ContinuousProbe(Environment[ContinuousProbeState, ContinuousProbeParams]):
    """Continuous actions: reward ``-sum((a - gain * obs)**2)``, one step (module docstring)."""

    stochastic_step = False

    @property
    def name(self) -> str:
        return "ContinuousProbe"

    @property
    def default_params(self) -> ContinuousProbeParams:
        return ContinuousProbeParams()

    def reset_env(self, key, params):
        obs = jnp.reshape(_coin(key), (1,))
        return obs, ContinuousProbeState(obs)

    def step_env(self, key, state, action, params):
        target = jnp.asarray(params.gain, jnp.float32) * state.obs
        reward = -jnp.sum((jnp.asarray(action, jnp.float32) - target) ** 2)
        return (state.obs, state, reward.astype(jnp.float32), jnp.asarray(True),
                jnp.asarray(False), {})

    def action_space(self, params=None) -> spaces.Box:
        return spaces.Box(-1.0, 1.0, (1,), jnp.float32)

    def observation_space(self, params=None) -> spaces.Box:
        return spaces.Box(-1.0, 1.0, (1,), jnp.float32)


# ---------------------------------------------------------------------------------
@struct.dataclass
class CoinParams:
    p_win: jax.Array = struct.field(default_factory=lambda: jnp.array([0.5, 0.8], jnp.float32))
    max_steps_in_episode: int = 1


class Coin(Environment[jax.Array, CoinParams]):
    """One step: reward +1 with probability ``p_win[action]``, else -1 (module docstring).

    The state is the step count, ``int32[]``.
    """

    @property
    def name(self) -> str:
        return "Coin"

    @property
    def default_params(self) -> CoinParams:
        return CoinParams()

    def reset_env(self, key, params):
        return jnp.ones((1,), jnp.float32), jnp.zeros((), jnp.int32)

    def step_env(self, key, state, action, params):
        win = jax.random.uniform(key) < jnp.asarray(params.p_win)[action]
        reward = jnp.where(win, 1.0, -1.0).astype(jnp.float32)
        return jnp.ones((1,), jnp.float32), state + 1, reward, jnp.asarray(True), \
            jnp.asarray(False), {}

    def action_space(self, params=None) -> spaces.Discrete:
        return spaces.Discrete(2)

    def observation_space(self, params=None) -> spaces.Box:
        return spaces.Box(0.0, 1.0, (1,), jnp.float32)
