"""JaxMARL's multi-agent environments under jaxrl's multi-agent contract, as ``jaxmarl/<name>``.

JaxMARL (Rutherford et al., 2024) writes its environments against dictionaries keyed by
agent name; here they are ``envs.MultiAgentEnvironment`` s, arrays with an agent axis,
which jaxrl's multi-agent learners (``iql``, ``mfq``) train unchanged::

    env, params = envs.make("jaxmarl/MPE_simple_spread_v3")   # pip install 'jaxrl[jaxmarl]'
    env, params = envs.make("jaxmarl/HeuristicEnemySMAX", time_limit=50,
                            env_kwargs={"scenario": "3m"})

(``envs.to_jaxmarl`` is the other direction: a jaxrl environment behind JaxMARL's dicts.)

Names (``JAXMARL_NAMES``): the registered JaxMARL environments in which every agent has the
same observation shape and the same ``Discrete`` action space and earns its own reward:
``MPE_simple_v3``, ``MPE_simple_spread_v3``, ``MPE_simple_reference_v3`` (50 actions: 5
moves x 10 words), ``switch_riddle`` (the prisoners' light-bulb riddle), ``SMAX`` (both
teams as agents: ``num_teams == 2``, ``team`` 0 the allies, 1 the enemies; only
scenarios with as many allies as enemies, whose action spaces are then equal),
``HeuristicEnemySMAX`` (the allies as agents, the library's scripted enemy), ``coin_game``
(two players, one reward each) and ``overcooked_v2`` (two cooks, one shared reward; a
``[W, H, C]`` grid observation). Left out of jaxmarl 0.2.0's registry:
``MPE_simple_tag_v3``, ``MPE_simple_world_comm_v3``, ``MPE_simple_crypto_v3``,
``MPE_simple_speaker_listener_v4``, ``MPE_simple_push_v3`` and ``MPE_simple_adversary_v3``
(heterogeneous agents: the roles see observations of different sizes; world_comm and
speaker_listener act in different spaces too); ``MPE_simple_facmac_v1``, ``_3a_v1``,
``_6a_v1``, ``_9a_v1`` (continuous actions only); ``LearnedPolicyEnemySMAX`` (needs a
policy and its parameters as arguments); the MABrax tasks ``ant_4x2``, ``halfcheetah_6x1``,
``hopper_3x1``, ``humanoid_9|8``, ``walker2d_2x3`` (continuous actions); ``jaxnav``
(continuous actions by default); ``storm`` and ``storm_2p`` (dict observations: a grid and
an inventory) and ``storm_np`` (it takes and returns arrays, not JaxMARL's agent-keyed
dicts: its agents are ``0`` and ``1``, its dones' keys ``agent_0`` and ``agent_1``);
``hanabi`` (turn-based: only the player on turn acts, the others must play the no-op, which
needs per-agent legal-action masks that jaxrl's multi-agent learners do not take); ``overcooked`` (deprecated by the library for
``overcooked_v2``, and its observation counts down to ``max_steps``, so its limit cannot be
moved past jaxrl's: see Episode ends); the ``JaxRobotarium_*`` tasks (need the
jaxrobotarium package).

Arrays: observations are the library's, stacked in ``agent_names`` order (the library's
``agents``: ``"agent_0"``, ..., ``"ally_0"``, ..., ``"0"``, ``"1"``) into
``float32[num_agents, *obs_shape]``; the ``Box`` space is one agent's, with the library's
bounds (a ``MultiDiscrete`` observation, switch_riddle's, becomes ``Box(0, n - 1)``).
Actions are ``int32[num_agents]``, split into the library's dict in the same order (in its
action dtype). Rewards are the library's, stacked as ``float32[num_agents]``. SMAX's
``"world_state"`` is not an agent and is not returned.

Episode ends: JaxMARL folds its time limit into ``dones["__all__"]``, so its flag cannot
tell a task that ended from a clock that ran out. Here the library's environment is built
with its own limit moved past jaxrl's (``max_steps = time_limit + 1`` for MPE, SMAX and
overcooked_v2, the attribute ``max_steps`` set likewise on switch_riddle, whose constructor
computes it, and for coin_game enough ``num_outer_steps`` for ``time_limit`` steps), so it
never ends an episode by time itself; in the environments adapted here its limit decides
nothing else (it enters no observation or reward). jaxrl counts the steps
(``JaxMARLState.time``) and the flags are **terminated** = the library's
``dones["__all__"]`` (the task really ended: a SMAX team wiped out, a prisoner who spoke
in switch_riddle) and **truncated** = the step reached ``time_limit`` and the task did not
end (a task that ends on the limit's own step is terminated). ``time_limit`` defaults to the library's own: ``max_steps`` (25 for MPE, 100 for
SMAX, 400 for overcooked_v2), ``4 * num_agents - 6`` for switch_riddle, ``num_inner_steps
* num_outer_steps`` (100) for coin_game. MPE's, overcooked_v2's and coin_game's episodes
end only by time: there **terminated** is never true. switch_riddle's last day is its time
limit too: a riddle nobody answered is truncated (its observation has no clock, so a learner
that bootstraps there treats the days as unlimited). Two library quirks: MPE and SMAX
compare the step count *before* it is incremented, so their own episodes last
``max_steps + 1`` steps (26 for MPE, 101 for SMAX); here ``time_limit = max_steps`` gives
``max_steps`` steps (PettingZoo's 25 for MPE). coin_game's inner games restart inside an
episode every ``num_inner_steps`` steps, as in the library (that step's observation is the
new game's, its reward 0; ``info["inner_episode_done"]`` marks it); that is not an episode
end.

Agents that die: only SMAX's units die (the library's per-agent ``dones[agent]`` is
exactly its dead units; in the other environments it equals ``dones["__all__"]``, and every
agent stays alive). ``info["alive"]`` is ``bool[num_agents]`` after the step. A dead unit's
observation is zeros in the library already (kept zero here); its reward is the library's
team reward (SMAX pays dead units too, "for noble sacrifice"), which the contract replaces
by 0 for an agent dead before the step (the step on which it dies still pays it).
``info["library_reward"]`` holds the library's rewards unchanged (SMAX's return as the
literature reports it is that team reward). ``alive_from_obs(obs)`` reads the living units
back from the observations (their own health feature, the last block, is positive), for
learners that ask; ``neighbour_mean(values, obs)`` is the mean of ``values`` over each
agent's *other* living teammates (all agents form one team, but for SMAX's two), zeros
where there are none: ``mfq`` runs (``nq`` does not: there is no fixed neighbour table).

Auto-reset is jaxrl's (``envs.core.auto_reset``): the library's raw ``reset`` and
``step_env`` are called, never its auto-resetting ``step``, so ``info["final_observation"]``
is the observation the transition reached. Keys: ``step(key, ...)`` splits ``key`` once,
``key_step, key_reset = jax.random.split(key)`` (``stochastic_step`` is true), exactly as
JaxMARL's own ``step`` does; ``key_step`` goes whole to the library's ``step_env`` and
``key_reset`` whole to its ``reset`` when the episode ends. ``reset(key)`` calls the
library's ``reset(key)``. So a transition here is the library's ``step_env(key_step, ...)``
from the same state, and a new episode its ``reset(key_reset)``.

Params: JaxMARL's options are its constructors' arguments, fixed when built, so the params
hold no fields; ``time_limit`` and ``env_kwargs`` (more keyword arguments for
``jaxmarl.make``, not the time limit: ``env_kwargs={"num_agents": 4}`` for
MPE_simple_spread_v3, ``{"layout": "forced_coord"}`` for overcooked_v2; for SMAX a
``"scenario"`` may be a map name, ``"3m"``, ``"2s3z"``, ``"smacv2_5_units"``, ...) are static
options of ``envs.make``; a keyword a constructor does not take is refused in one line, but
MPE's constructors take any keyword and ignore those they do not know. ``get_obs(state)`` is every agent's observation of a state. Pictures:
none (``render_image`` returns None); the library's own viewers (``jaxmarl.viz``: MPE's,
SMAX's, Overcooked's, with matplotlib) take ``env.library`` and ``state.env_state``. The
library prints two lines when it is first imported; this module swallows them (and the
deprecation notices of the library's dependencies, jaxopt's) and puts back ``sys.stdout``
and ``sys.stderr``, which its import resets.
"""

from __future__ import annotations

import contextlib
import io
import sys
import warnings
from collections.abc import Iterator, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from . import spaces
from .multiagent import MultiAgentEnvironment
from .registry import _closest, _strongly_typed

__all__ = ["JAXMARL_NAMES", "JAXMARL_PREFIX", "JaxMARLEnv", "JaxMARLParams", "JaxMARLState"]

JAXMARL_PREFIX = "jaxmarl/"
JAXMARL_NAMES = (
    "MPE_simple_v3", "MPE_simple_spread_v3", "MPE_simple_reference_v3", "switch_riddle",
    "SMAX", "HeuristicEnemySMAX", "coin_game", "overcooked_v2",
)
#: Built with their time limit as the constructor's ``max_steps``.
_MAX_STEPS_ARG = ("MPE_simple_v3", "MPE_simple_spread_v3", "MPE_simple_reference_v3", "SMAX",
                  "HeuristicEnemySMAX", "overcooked_v2")
_SMAX = ("SMAX", "HeuristicEnemySMAX")


@contextlib.contextmanager
def _quiet_import() -> Iterator[None]:
    """Import jaxmarl without its two printed lines and its dependencies' deprecation
    notices (jaxopt's), keeping ``sys.stdout`` and ``sys.stderr``: its MABrax module sets
    both to ``sys.__stdout__``/``sys.__stderr__`` after importing brax (a redirect, pytest's
    capture included, would be lost)."""
    saved = sys.stdout, sys.stderr, sys.__stdout__
    sink = io.StringIO()
    sys.stdout = sink
    sys.__stdout__ = sink  # type: ignore[assignment, misc]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            yield
    finally:
        sys.stdout, sys.stderr, sys.__stdout__ = saved  # type: ignore[misc]


def _jaxmarl() -> Any:
    """The jaxmarl package (imported quietly the first time)."""
    if "jaxmarl" not in sys.modules:
        try:
            with _quiet_import():
                import jaxmarl  # noqa: F401
        except ImportError:
            raise ValueError("jaxmarl/ environments need the jaxmarl package: "
                             "pip install 'jaxrl[jaxmarl]'") from None
    return sys.modules["jaxmarl"]


@struct.dataclass
class JaxMARLParams:
    """No fields: JaxMARL's options are fixed when its environment is built."""


@struct.dataclass
class JaxMARLState:
    """The library's state, the steps taken so far (jaxrl's time limit counts them) and
    which agents are alive (``bool[num_agents]``)."""

    env_state: Any
    time: jax.Array
    alive: jax.Array


def _one_line(e: BaseException) -> str:
    text = str(e).strip()
    return f"{type(e).__name__}: {text.splitlines()[0]}" if text else type(e).__name__


class JaxMARLEnv(MultiAgentEnvironment):
    """One JaxMARL environment (see the module docstring); ``jaxmarl_name`` is one of
    ``JAXMARL_NAMES``.

    Args:
        jaxmarl_name: the library's name, e.g. ``"MPE_simple_spread_v3"``.
        time_limit: steps before truncation; None: the library's own limit.
        env_kwargs: more keyword arguments for ``jaxmarl.make`` (not the time limit).
    """

    def __init__(self, jaxmarl_name: str = "MPE_simple_spread_v3", time_limit: int | None = None,
                 env_kwargs: Mapping[str, Any] | None = None):
        if jaxmarl_name not in JAXMARL_NAMES:
            raise ValueError(f"unknown JaxMARL environment {jaxmarl_name!r}."
                             + _closest(jaxmarl_name, JAXMARL_NAMES))
        jaxmarl = _jaxmarl()
        label = JAXMARL_PREFIX + jaxmarl_name
        if env_kwargs is not None and not isinstance(env_kwargs, Mapping):
            raise ValueError(f"{label}: env_kwargs must be a dict, got {env_kwargs!r}")
        kwargs = dict(env_kwargs or {})
        for limit_arg in ("max_steps", "time_limit"):
            if limit_arg in kwargs:
                raise ValueError(f"{label}: give the time limit as time_limit=..., not "
                                 f"{limit_arg} in env_kwargs")
        if time_limit is not None and (isinstance(time_limit, bool) or not isinstance(
                time_limit, (int, np.integer)) or time_limit < 1):
            raise ValueError(f"{label}: time_limit must be a positive integer, got {time_limit!r}")
        if jaxmarl_name in _SMAX and isinstance(kwargs.get("scenario"), str):
            from jaxmarl.environments.smax.smax_env import MAP_NAME_TO_SCENARIO

            map_name = kwargs["scenario"]
            if map_name not in MAP_NAME_TO_SCENARIO:
                raise ValueError(f"{label}: unknown SMAX scenario {map_name!r}."
                                 + _closest(map_name, MAP_NAME_TO_SCENARIO))
            kwargs["scenario"] = MAP_NAME_TO_SCENARIO[map_name]
        self._name = jaxmarl_name

        def build(**extra: Any) -> Any:
            try:
                return jaxmarl.make(jaxmarl_name, **kwargs, **extra)
            except (TypeError, ValueError, AssertionError, KeyError) as e:
                raise ValueError(f"{label}: {_one_line(e)}") from None

        # The library's environment as configured (its own time limit; time_limit's where it
        # takes one, MPE, SMAX, overcooked_v2 and switch_riddle): for a state's env_state in
        # the library's viewers.
        if jaxmarl_name in _MAX_STEPS_ARG and time_limit is not None:
            self.library = build(max_steps=int(time_limit))
        else:
            self.library = build()
            if jaxmarl_name == "switch_riddle" and time_limit is not None:
                self.library.max_steps = int(time_limit)
        if time_limit is not None:
            limit = int(time_limit)
        elif jaxmarl_name == "coin_game":
            limit = int(self.library.num_inner_steps) * int(self.library.num_outer_steps)
        else:
            limit = int(self.library.max_steps)
        #: jaxrl's time limit: an episode is truncated after this many steps.
        self.time_limit = limit
        # The environment stepped: its own limit moved past jaxrl's (module docstring).
        if jaxmarl_name in _MAX_STEPS_ARG:
            self._env = build(max_steps=limit + 1)
        elif jaxmarl_name == "coin_game":
            self._env = build(num_outer_steps=limit // int(self.library.num_inner_steps) + 1)
        else:  # switch_riddle: its constructor sets max_steps = 4 * num_agents - 6
            self._env = build()
            self._env.max_steps = limit + 1

        self._agents = tuple(str(a) for a in self._env.agents)
        self._library_agents = tuple(self._env.agents)
        self.num_agents = len(self._agents)
        self._action_space, self._action_dtype = self._check_actions(label)
        self._obs_space = self._check_observations(label)
        self._deaths = jaxmarl_name in _SMAX
        self._own_features = len(self._env.own_features) if self._deaths else 0
        if jaxmarl_name == "SMAX":
            #: two sides (``iql``/``mfq`` drive team 0, their ``opponent`` team 1)
            self.num_teams = 2
            self.team = np.asarray([0] * int(self._env.num_allies)
                                   + [1] * int(self._env.num_enemies), np.int32)
        else:
            self.num_teams = 1
            self.team = np.zeros(self.num_agents, np.int32)

    def _check_actions(self, label: str) -> tuple[spaces.Discrete, Any]:
        from jaxmarl.environments import spaces as jm

        found = [self._env.action_space(a) for a in self._library_agents]
        if not all(isinstance(s, jm.Discrete) for s in found):
            kinds = sorted({type(s).__name__ for s in found})
            raise ValueError(f"{label}: jaxrl needs one Discrete action per agent, the "
                             f"library's agents act in {', '.join(kinds)} spaces")
        sizes = sorted({int(s.n) for s in found})
        if len(sizes) > 1:
            raise ValueError(f"{label}: the agents' action spaces differ (Discrete "
                             f"{', '.join(map(str, sizes))}); jaxrl needs one for all "
                             f"(SMAX: as many allies as enemies)")
        return spaces.Discrete(sizes[0]), jnp.dtype(found[0].dtype)

    def _check_observations(self, label: str) -> spaces.Box:
        from jaxmarl.environments import spaces as jm

        boxes = []
        for a in self._library_agents:
            s = self._env.observation_space(a)
            if isinstance(s, jm.Box):
                shape = tuple(int(d) for d in np.atleast_1d(s.shape))
                boxes.append((shape, np.broadcast_to(np.asarray(s.low, np.float32), shape),
                              np.broadcast_to(np.asarray(s.high, np.float32), shape)))
            elif isinstance(s, jm.MultiDiscrete):
                n = np.asarray(s.num_categories)
                boxes.append((tuple(s.shape), np.zeros(n.shape, np.float32),
                              (n - 1).astype(np.float32)))
            else:
                raise ValueError(f"{label}: jaxrl needs a Box observation per agent, the "
                                 f"library's {a!r} sees a {type(s).__name__}")
        shape, low, high = boxes[0]
        if any(b[0] != shape for b in boxes):
            raise ValueError(f"{label}: the agents' observations differ in shape "
                             f"({', '.join(sorted({str(b[0]) for b in boxes}))})")
        low = np.min(np.stack([b[1] for b in boxes]), axis=0)
        high = np.max(np.stack([b[2] for b in boxes]), axis=0)
        return spaces.Box(low, high, shape, jnp.float32)

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The environments this adapter runs (``envs.make("jaxmarl/" + name)``): those of
        ``JAXMARL_NAMES`` that the installed jaxmarl registers."""
        known = set(_jaxmarl().registered_envs)
        return tuple(n for n in JAXMARL_NAMES if n in known)

    @property
    def name(self) -> str:
        return JAXMARL_PREFIX + self._name

    @property
    def agent_names(self) -> tuple[str, ...]:
        """The library's agents, in its order (the agent axis)."""
        return self._agents

    @property
    def default_params(self) -> JaxMARLParams:
        return JaxMARLParams()

    # --- arrays <-> the library's dicts ----------------------------------------------
    def _stack(self, values: Mapping[Any, Any], dtype: Any = jnp.float32) -> jax.Array:
        return jnp.stack([jnp.asarray(values[a], dtype) for a in self._library_agents])

    def _observe(self, obs: Mapping[Any, Any], alive: jax.Array) -> jax.Array:
        stacked = self._stack(obs)
        dead = (~alive).reshape((self.num_agents,) + (1,) * (stacked.ndim - 1))
        return jnp.where(dead, 0.0, stacked)

    def _info(self, infos: Mapping[str, Any]) -> dict[str, Any]:
        """The library's info, an agent-keyed dict stacked (overcooked_v2's shaped reward)."""
        out: dict[str, Any] = {}
        for key, value in dict(infos or {}).items():
            if isinstance(value, Mapping) and all(a in value for a in self._library_agents):
                value = self._stack(value, jnp.result_type(value[self._library_agents[0]]))
            out[key] = value
        return out

    # --- the contract ------------------------------------------------------------------
    def reset_env(self, key: jax.Array, params: Any) -> tuple[jax.Array, JaxMARLState]:
        obs, env_state = self._env.reset(key)
        alive = jnp.ones((self.num_agents,), bool)
        state = JaxMARLState(_strongly_typed(env_state), jnp.zeros((), jnp.int32), alive)
        return self._observe(obs, alive), state

    def step_env(self, key: jax.Array, state: JaxMARLState, action: jax.Array, params: Any):
        action = jnp.asarray(action).reshape(self.num_agents)
        actions = {a: action[i].astype(self._action_dtype)
                   for i, a in enumerate(self._library_agents)}
        obs, env_state, rewards, dones, infos = self._env.step_env(key, state.env_state, actions)
        time = state.time + 1
        if self._deaths:  # SMAX: an agent's own done is exactly its unit's death
            alive = ~self._stack(dones, bool)
        else:
            alive = jnp.ones((self.num_agents,), bool)
        terminated = jnp.asarray(dones["__all__"], bool).reshape(())
        truncated = (time >= self.time_limit) & ~terminated
        library_reward = self._stack(rewards)
        reward = jnp.where(state.alive, library_reward, 0.0)  # nothing for the dead
        info = {**self._info(infos), "alive": alive, "library_reward": library_reward}
        new_state = JaxMARLState(_strongly_typed(env_state), time, alive)
        return self._observe(obs, alive), new_state, reward, terminated, truncated, info

    def get_obs(self, state: JaxMARLState, params: Any = None) -> jax.Array:
        """Every agent's observation of ``state`` (zeros for the dead), as ``step`` returns it."""
        return self._observe(self._env.get_obs(state.env_state), state.alive)

    def alive_from_obs(self, obs: jax.Array) -> jax.Array:
        """``bool[num_agents]``: the living agents, read from their observations (SMAX:
        their own health, the first of the last block's features, is positive; elsewhere
        every agent lives)."""
        if not self._deaths:
            return jnp.ones(obs.shape[:1], bool)
        return obs.reshape(obs.shape[0], -1)[:, -self._own_features] > 0

    def neighbour_mean(self, values: jax.Array, obs: jax.Array | None = None) -> jax.Array:
        """The mean of ``values`` over each agent's other living teammates (living: from
        ``obs`` when given), zeros for an agent with none."""
        alive = (jnp.ones((self.num_agents,), bool) if obs is None
                 else self.alive_from_obs(obs))
        team = np.asarray(self.team)
        mates = (team[:, None] == team[None, :]) & ~np.eye(self.num_agents, dtype=bool)
        w = (jnp.asarray(mates) & alive[None, :]).astype(values.dtype)
        return (w @ values) / jnp.maximum(jnp.sum(w, axis=1, keepdims=True), 1.0)

    def action_space(self, params: Any = None) -> spaces.Space:
        return self._action_space

    def observation_space(self, params: Any = None) -> spaces.Space:
        return self._obs_space
