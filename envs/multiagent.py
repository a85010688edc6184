"""Many agents in one world: the multi-agent environment contract, and a JaxMARL view.

The contract is the single-agent one (``envs.core.Environment``) with one more array
axis, the agent axis, in front of what each agent sees, does and earns::

    obs, state = env.reset(key, params)                     # obs: [num_agents, *obs_shape]
    obs, state, reward, terminated, truncated, info = env.step(key, state, action, params)
    # action: int32[num_agents]; reward: float32[num_agents]
    # terminated, truncated: bool[] (scalars shared by every agent)

* **Arrays, not dicts.** Observations, actions and rewards are arrays whose axis 0 is
  the agent (``num_agents`` of them, a static constructor setting), so a network shared
  by hundreds of agents is one batched call, and ``jax.vmap`` adds environment copies
  and seeds in front of the agent axis at no cost. ``to_jaxmarl(env)`` gives the
  dict-keyed view JaxMARL users write their loops against; with jaxmarl installed it is
  a JaxMARL ``MultiAgentEnv`` (its spaces, ``name``, ``step(..., reset_state=None)``,
  ``get_obs``, ``get_avail_actions``), so JaxMARL's own wrappers and rollout managers
  (``LogWrapper``, ``CTRolloutManager``) run it.
* **Shared flags.** ``terminated`` and ``truncated`` are scalars: the episode ends for
  every agent at once. An agent that drops out early (a dead soldier) stays in the
  arrays; the env says so in ``info["alive"]`` (``bool[num_agents]``, after the step)
  and gives it a zero observation and zero reward from then on.
* **Auto-reset exactly as in the single-agent contract** (``envs.core.auto_reset`` is
  reused, scalar flags select the whole world): when ``terminated | truncated`` the
  returned ``obs``/``state`` start the next episode and ``info["final_observation"]``
  holds the observation the transition produced. Bootstrap a truncated episode from
  it.
* **Spaces are one agent's.** ``env.action_space(params)`` and
  ``env.observation_space(params)`` describe what *one* agent does and sees
  (``Discrete(2)``, ``Box(0, 1, (4,))``); ``joint_action_space`` and
  ``joint_observation_space`` add the agent axis (``Discrete(2, shape=(20,))``),
  which is what ``step`` takes and returns. Out-of-range actions are clipped per
  agent, as in the single-agent contract.
* **Neighbourhoods.** Mean-field and neighbourhood learners need to know who is
  whose neighbour. An env describes it with ``neighbour_mean(values, obs)``: the mean
  of ``values[k]`` (one row per agent) over each agent's neighbours ``k``. Lattices
  implement it from a static ``neighbours`` table (``int32[num_agents, K]``, agent
  ``j``'s ``K`` neighbours); a battle averages over the living members of a team.

``agent_names`` names the agents (``"agent_0"``, ...); teams name theirs by team.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from . import spaces
from .core import Environment

__all__ = ["JaxMARLView", "MultiAgentEnvironment", "is_multiagent", "to_jaxmarl"]


class MultiAgentEnvironment(Environment):
    """Base class of environments with an agent axis (see the module docstring).

    Subclasses set ``num_agents`` (an int, static) in ``__init__`` and implement the
    ``Environment`` methods with arrays shaped ``[num_agents, ...]``; ``action_space``
    and ``observation_space`` return one agent's space.
    """

    num_agents: int

    @property
    def agent_names(self) -> tuple[str, ...]:
        """One name per agent, in agent-axis order."""
        return tuple(f"agent_{i}" for i in range(self.num_agents))

    def joint_action_space(self, params: Any = None) -> spaces.Space:
        """What ``step`` takes: one agent's ``Discrete(n)`` with shape ``(num_agents,)``."""
        one = self.action_space(params)
        if not isinstance(one, spaces.Discrete) or one.shape:
            raise TypeError(f"{self.name}: the joint space needs a scalar Discrete per agent")
        return spaces.Discrete(one.n, (self.num_agents,), one.dtype)

    def joint_observation_space(self, params: Any = None) -> spaces.Space:
        """What ``reset`` and ``step`` return: one agent's ``Box`` with the agent axis."""
        one = self.observation_space(params)
        if not isinstance(one, spaces.Box):
            raise TypeError(f"{self.name}: the joint space needs a Box observation per agent")
        shape = (self.num_agents, *one.shape)
        return spaces.Box(np.broadcast_to(one.low, shape), np.broadcast_to(one.high, shape),
                          shape, one.dtype)

    # --- neighbourhoods -----------------------------------------------------------
    #: ``int32[num_agents, K]``: each agent's neighbours (None: see ``neighbour_mean``).
    neighbours: np.ndarray | None = None

    def neighbour_mean(self, values: jax.Array, obs: jax.Array | None = None) -> jax.Array:
        """Mean of ``values[k]`` over each agent's neighbours ``k``.

        Args:
            values: ``float32[num_agents, D]``, one row per agent (e.g. action
                probabilities).
            obs: ``[num_agents, ...]``, the observations the values were computed from
                (an env whose neighbourhoods move with the agents reads them here).

        Returns:
            ``float32[num_agents, D]``.
        """
        if self.neighbours is None:
            raise NotImplementedError(f"{self.name} defines no neighbourhoods")
        return jnp.mean(values[jnp.asarray(self.neighbours)], axis=1)

    def neighbour_values(self, values: jax.Array) -> jax.Array:
        """``values`` of each agent's neighbours in order: ``[num_agents, K, D]``."""
        if self.neighbours is None:
            raise NotImplementedError(f"{self.name} has no fixed neighbour table")
        return values[jnp.asarray(self.neighbours)]

    def get_obs(self, state: Any, params: Any = None) -> jax.Array:
        """Every agent's observation of ``state``, ``[num_agents, *obs_shape]`` (what
        ``reset`` and ``step`` return for it); JaxMARL's ``reset_state`` needs it."""
        raise NotImplementedError(f"{self.name} does not say how it observes a state")


def is_multiagent(env: Any) -> bool:
    """Is ``env`` (or what it wraps) a ``MultiAgentEnvironment``?"""
    return isinstance(getattr(env, "unwrapped", env), MultiAgentEnvironment)


class JaxMARLView:
    """A multi-agent env behind JaxMARL's ``MultiAgentEnv`` call shape (dicts by agent name).

    ::

        view = to_jaxmarl(env, params)
        obs, state = view.reset(key)                       # {"agent_0": obs_0, ...}
        obs, state, rewards, dones, infos = view.step(key, state, actions)
        dones["__all__"]                                    # the episode ended

    Auto-reset is the wrapped env's (JaxMARL's environments reset in ``step`` too).
    ``dones[name]`` is true when the episode ended or that agent has dropped out
    (``info["alive"]`` false). ``infos`` is the wrapped env's info (arrays with the
    agent axis where per agent). Spaces: ``observation_space(name)`` and
    ``action_space(name)``, one agent's.
    """

    def __init__(self, env: MultiAgentEnvironment, params: Any = None):
        if not is_multiagent(env):
            raise TypeError(f"to_jaxmarl needs a MultiAgentEnvironment, got {env!r}")
        self.env = env
        self.params = params if params is not None else env.default_params
        self.agents = list(env.unwrapped.agent_names)
        self.num_agents = len(self.agents)

    def _split(self, x: jax.Array) -> dict[str, jax.Array]:
        return {name: x[i] for i, name in enumerate(self.agents)}

    def reset(self, key: jax.Array) -> tuple[dict[str, jax.Array], Any]:
        obs, state = self.env.reset(key, self.params)
        return self._split(obs), state

    def _stack(self, actions: dict[str, jax.Array]) -> jax.Array:
        missing = [a for a in self.agents if a not in actions]
        if missing:
            raise KeyError(f"no action for {', '.join(missing[:3])}")
        return jnp.stack([jnp.asarray(actions[a]) for a in self.agents])

    def _dones(self, done: jax.Array, info: dict[str, Any]) -> dict[str, jax.Array]:
        alive = info.get("alive", jnp.ones((self.num_agents,), bool))
        dones = self._split(done | ~alive)
        dones["__all__"] = done
        return dones

    def step(self, key: jax.Array, state: Any, actions: dict[str, jax.Array]):
        obs, state, reward, terminated, truncated, info = self.env.step(
            key, state, self._stack(actions), self.params)
        done = jnp.logical_or(terminated, truncated)
        return self._split(obs), state, self._split(reward), self._dones(done, info), info

    def observation_space(self, agent: str) -> spaces.Space:
        self._check(agent)
        return self.env.observation_space(self.params)

    def action_space(self, agent: str) -> spaces.Space:
        self._check(agent)
        return self.env.action_space(self.params)

    def _check(self, agent: str) -> None:
        if agent not in self.agents:
            raise KeyError(f"unknown agent {agent!r}")


def to_jaxmarl(env: MultiAgentEnvironment, params: Any = None) -> JaxMARLView:
    """JaxMARL's dict-keyed call shape over our arrays: with jaxmarl installed, an
    instance of a subclass of both ``JaxMARLView`` and JaxMARL's ``MultiAgentEnv``
    (``jaxmarl_class``); without it, a plain ``JaxMARLView``."""
    try:
        from jaxmarl.environments.multi_agent_env import MultiAgentEnv
    except ImportError:
        return JaxMARLView(env, params)
    return jaxmarl_class(MultiAgentEnv)(env, params)


def _jaxmarl_space(space: spaces.Space) -> Any:
    """One of our spaces as JaxMARL's (``jaxmarl.environments.spaces``)."""
    from jaxmarl.environments import spaces as jm

    if isinstance(space, spaces.Discrete) and not space.shape:
        return jm.Discrete(int(space.n), dtype=space.dtype)
    if isinstance(space, spaces.Box):
        return jm.Box(space.low, space.high, tuple(space.shape), space.dtype)
    raise TypeError(f"no JaxMARL space for {space!r}")


@functools.cache
def jaxmarl_class(base: type) -> type:
    """The class ``to_jaxmarl`` instantiates with jaxmarl installed: ``JaxMARLView`` and
    JaxMARL's ``MultiAgentEnv`` (``base``) in one, named ``JaxMARLEnv``.

    What JaxMARL's code reads: ``agents``, ``num_agents``, ``observation_spaces`` and
    ``action_spaces`` (dicts of JaxMARL spaces, one per agent), ``name``
    (``"jaxrl/<env name>"``), ``reset(key)``, ``step(key, state, actions,
    reset_state=None)`` (auto-reset to ``reset_state`` when given, else to a fresh
    episode, our env's own auto-reset), ``step_env`` (no reset), ``get_obs(state)`` and
    ``get_avail_actions(state)`` (every action, always).
    """

    class JaxMARLEnv(JaxMARLView, base):  # type: ignore[misc, valid-type]
        def __init__(self, env: MultiAgentEnvironment, params: Any = None):
            JaxMARLView.__init__(self, env, params)  # refuses a single-agent env
            base.__init__(self, num_agents=self.num_agents)
            self.agents = list(env.unwrapped.agent_names)  # ours over base's agent_i
            obs = _jaxmarl_space(env.observation_space(self.params))
            act = _jaxmarl_space(env.action_space(self.params))
            self.observation_spaces = {a: obs for a in self.agents}
            self.action_spaces = {a: act for a in self.agents}

        @property
        def name(self) -> str:
            return f"jaxrl/{self.env.name}"

        def step(self, key: jax.Array, state: Any, actions: dict[str, jax.Array],
                 reset_state: Any = None):
            obs, new, reward, dones, info = JaxMARLView.step(self, key, state, actions)
            if reset_state is None:
                return obs, new, reward, dones, info
            done = dones["__all__"]
            again = self.get_obs(reset_state)
            new = jax.tree.map(lambda r, s: jnp.where(done, r, s), reset_state, new)
            obs = {a: jnp.where(done, again[a], obs[a]) for a in self.agents}
            return obs, new, reward, dones, info

        def step_env(self, key: jax.Array, state: Any, actions: dict[str, jax.Array]):
            action = self._stack(actions)
            n = self.env.action_space(self.params).n
            obs, new, reward, terminated, truncated, info = self.env.unwrapped.step_env(
                key, state, jnp.clip(action, 0, n - 1), self.params)
            return (self._split(obs), new, self._split(reward),
                    self._dones(terminated | truncated, info), info)

        def get_obs(self, state: Any) -> dict[str, jax.Array]:
            return self._split(self.env.unwrapped.get_obs(state, self.params))

        def get_avail_actions(self, state: Any) -> dict[str, jax.Array]:
            n = self.env.action_space(self.params).n
            return {a: jnp.ones((n,), bool) for a in self.agents}

        def observation_space(self, agent: str) -> Any:
            self._check(agent)
            return self.observation_spaces[agent]

        def action_space(self, agent: str) -> Any:
            self._check(agent)
            return self.action_spaces[agent]

        @property
        def agent_classes(self) -> dict[str, list[str]]:
            return {"agents": list(self.agents)}

    JaxMARLEnv.__qualname__ = "jaxmarl_class.<locals>.JaxMARLEnv"
    return JaxMARLEnv
