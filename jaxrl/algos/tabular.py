"""Tabular Q-learning and SARSA: the Q-table is a JAX array, a run is one program.

``Q`` is ``float32[num_states, num_actions]``. ``num_envs`` copies of the
environment share one table; ``jax.vmap(agent.train)`` over keys trains many seeds
(many tables) in one compiled program.

One update = ``num_steps`` iterations of: pick actions (epsilon-greedy), step every
copy once, apply one TD update to the table. The updates (Sutton and Barto, 2018,
sections 6.4 and 6.5)::

    Q-learning:  Q[s, a] += lr * (r + discount * max_b Q[s', b] - Q[s, a])
    SARSA:       Q[s, a] += lr * (r + discount * Q[s', a'] - Q[s, a])

with ``discount = gamma * (1 - terminated)``. Details that matter:

* Truncation is not termination: ``s'`` is the index of ``info["final_observation"]``
  (the state the transition reached, before any auto-reset), and a truncated step
  keeps ``discount = gamma``. A terminated step bootstraps nothing.
* SARSA's ``a'`` is drawn from the behaviour policy at ``s'`` *before* ``Q[s, a]``
  changes, and is the action the copy takes next. After a truncation ``s'`` is not
  where the copy continues (it has been reset), so ``a'`` is still drawn at ``s'``
  for the target and a fresh action is drawn at the new episode's start.
  Q-learning picks its action at the start of each iteration from the current table.
* Many copies, one table: TD errors of copies that hit the same ``(s, a)`` in the same
  iteration are averaged, not summed (``apply_td``), so ``lr`` means the same thing
  whatever ``num_envs`` is; with one copy it is the textbook update exactly.
* Epsilon decays linearly from ``eps_start`` to ``eps_end`` over the first
  ``eps_decay_fraction`` of the run, then stays. Greedy ties go to a uniformly random
  best action in the behaviour policy and to the lowest index in ``act(greedy=True)``.

States: an env with a ``Discrete`` observation (Taxi-v3) uses the observation as
the index. An env may instead provide ``num_states`` and ``state_index(obs)``
(Gridworld: the player's cell ``row * size + col`` on a fixed board), or the caller
passes ``state_index=`` and ``num_states=`` to ``make``.

Text output: ``policy_text(q, env)`` prints the greedy policy, an arrow board for
Gridworld and a table for Taxi.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxrl.algos import Algorithm
from jaxrl.core.agent import Agent, Metrics, episode_metrics
from jaxrl.core.config import check_leaves
from jaxrl.core.config import static as _static
from jaxrl.core.episodes import evaluate as run_episodes
from jaxrl.core.presets import Claim, Preset
from jaxrl.envs import spaces
from jaxrl.envs.core import Environment
from jaxrl.envs.wrappers import EpisodeStatistics, VecEnv

Array = jax.Array

__all__ = [
    "ALGORITHMS",
    "Config",
    "DEFAULT_ENV",
    "PRESETS",
    "PRESETS_BY_ALGORITHM",
    "QLearningConfig",
    "SarsaConfig",
    "EvalResult",
    "TabularState",
    "apply_td",
    "epsilon_greedy",
    "evaluate",
    "Q_LEARNING",
    "SARSA",
    "greedy_rollout",
    "gridworld_policy_text",
    "linear_epsilon",
    "make",
    "policy_text",
    "q_learning_td",
    "sarsa_td",
    "tabular_spec",
    "taxi_policy_text",
]

ALGORITHMS = ("q_learning", "sarsa")
#: A table larger than this (entries) is refused: it would not fit a laptop's memory.
MAX_TABLE_ENTRIES = 1 << 28


# --------------------------------------------------------------------------------- config
@struct.dataclass
class Config:
    """Tabular Q-learning / SARSA settings (defaults train Gridworld and Taxi).

    Static fields (loop lengths, the algorithm) come first; the rest are pytree
    leaves, so a sweep can vmap over them.
    """

    # --- static -------------------------------------------------------------------
    algorithm: str = _static("q_learning")  # "q_learning" or "sarsa"
    num_envs: int = _static(16)  # environment copies sharing the table
    num_steps: int = _static(16)  # steps per copy per update (one TD update each)
    total_timesteps: int = _static(200_000)  # environment steps in a run (all copies)
    # --- pytree leaves (sweepable) -------------------------------------------------
    lr: float = 0.2  # step size alpha (0.5 is faster but too noisy for SARSA)
    gamma: float = 0.99  # discount
    eps_start: float = 1.0  # exploration rate at the start
    eps_end: float = 0.05  # exploration rate after the decay
    eps_decay_fraction: float = 0.5  # fraction of the run over which epsilon decays
    q_init: float = 0.0  # initial value of every table entry

    @property
    def batch_size(self) -> int:
        """Environment steps per update, ``num_envs * num_steps``."""
        return self.num_envs * self.num_steps

    @property
    def num_updates(self) -> int:
        """Updates in a run, ``total_timesteps // batch_size``."""
        return self.total_timesteps // self.batch_size

    def validate(self) -> "Config":
        """Raise ``ValueError`` on a bad setting; returns ``self``.

        Static fields are always checked; leaves are checked when concrete.
        """
        if self.algorithm not in ALGORITHMS:
            raise ValueError(
                f"tabular.Config.algorithm must be one of {', '.join(ALGORITHMS)}, "
                f"got {self.algorithm!r}"
            )
        for name in ("num_envs", "num_steps", "total_timesteps"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(
                    f"tabular.Config.{name} must be a positive integer, got {value!r}"
                )
        if self.num_updates < 1:
            raise ValueError(
                f"tabular.Config: total_timesteps={self.total_timesteps} is less than one "
                f"update (num_envs * num_steps = {self.batch_size})"
            )
        checks = {
            "lr": (lambda v: (v > 0) & (v <= 1), "in (0, 1]"),
            "gamma": (lambda v: (v >= 0) & (v <= 1), "in [0, 1]"),
            "eps_start": (lambda v: (v >= 0) & (v <= 1), "in [0, 1]"),
            "eps_end": (lambda v: (v >= 0) & (v <= 1), "in [0, 1]"),
            "eps_decay_fraction": (lambda v: (v > 0) & (v <= 1), "in (0, 1]"),
            "q_init": (lambda v: np.ones_like(v, bool), "finite"),
        }
        check_leaves(
            "tabular.Config",
            {name: (getattr(self, name), ok, rule) for name, (ok, rule) in checks.items()},
        )
        return self


# --------------------------------------------------------------------------------- maths
def q_learning_td(q_tm1: Array, a_tm1: Array, r_t: Array, discount_t: Array, q_t: Array) -> Array:
    """Q-learning TD error ``r_t + discount_t * max_b q_t[b] - q_tm1[a_tm1]`` (Watkins, 1989).

    Args:
        q_tm1: float32[num_actions], the table row of ``s_tm1``.
        a_tm1: int32[], the action taken in ``s_tm1``.
        r_t: float32[], the reward that followed.
        discount_t: float32[], ``gamma * (1 - terminated)``.
        q_t: float32[num_actions], the table row of ``s_t`` (the final observation).

    Returns:
        float32[] TD error.
    """
    chex.assert_rank([q_tm1, a_tm1, r_t, discount_t, q_t], [1, 0, 0, 0, 1])
    return r_t + discount_t * jnp.max(q_t) - q_tm1[a_tm1]


def sarsa_td(
    q_tm1: Array, a_tm1: Array, r_t: Array, discount_t: Array, q_t: Array, a_t: Array
) -> Array:
    """SARSA TD error ``r_t + discount_t * q_t[a_t] - q_tm1[a_tm1]`` (Rummery and Niranjan, 1994).

    Args as ``q_learning_td``, plus ``a_t``: int32[], the behaviour policy's action at ``s_t``.

    Returns:
        float32[] TD error.
    """
    chex.assert_rank([q_tm1, a_tm1, r_t, discount_t, q_t, a_t], [1, 0, 0, 0, 1, 0])
    return r_t + discount_t * q_t[a_t] - q_tm1[a_tm1]


def apply_td(q: Array, s: Array, a: Array, td: Array, lr: Array | float) -> Array:
    """``Q[s, a] += lr * mean(td)`` over the copies that visited each ``(s, a)``.

    Args:
        q: float32[num_states, num_actions].
        s, a: int32[B] indices; td: float32[B] TD errors; lr: scalar step size.

    Returns:
        The new table, float32[num_states, num_actions]. Entries no copy visited are
        unchanged; with ``B = 1`` this is ``Q[s, a] += lr * td``.
    """
    chex.assert_rank([q, s, a, td], [2, 1, 1, 1])
    chex.assert_equal_shape([s, a, td])
    total = jnp.zeros_like(q).at[s, a].add(td)
    count = jnp.zeros_like(q).at[s, a].add(1.0)
    return q + lr * total / jnp.maximum(count, 1.0)


def linear_epsilon(
    step: Array, total_steps: int, eps_start: Array, eps_end: Array, decay_fraction: Array
) -> Array:
    """``eps_start -> eps_end`` linearly over ``decay_fraction * total_steps`` steps, then flat."""
    horizon = jnp.maximum(decay_fraction * total_steps, 1.0)
    frac = jnp.clip(step / horizon, 0.0, 1.0)
    return (eps_start + frac * (eps_end - eps_start)).astype(jnp.float32)


def epsilon_greedy(u: Array, q_s: Array, epsilon: Array) -> Array:
    """Epsilon-greedy from three uniform draws (pure, so a test can fix the draws).

    ``u[0] < epsilon`` explores: action ``floor(u[1] * num_actions)``. Otherwise the
    ``floor(u[2] * num_best)``-th of the ``num_best`` actions tied at the maximum (a
    uniformly chosen best action). Drawing ``u`` for a whole batch in one call keeps
    the compiled program small: each separate random draw costs compile time.

    Args:
        u: float32[3], independent U[0, 1) draws.
        q_s: float32[num_actions], one table row.
        epsilon: float32[].

    Returns:
        int32[] action.
    """
    chex.assert_rank([u, q_s, epsilon], [1, 1, 0])
    chex.assert_shape(u, (3,))
    n = q_s.shape[0]
    random_action = jnp.minimum(jnp.floor(u[1] * n), n - 1).astype(jnp.int32)
    best = q_s == jnp.max(q_s)
    num_best = jnp.sum(best)
    rank = jnp.minimum(jnp.floor(u[2] * num_best).astype(jnp.int32), num_best - 1)
    greedy = jnp.argmax(jnp.cumsum(best) > rank).astype(jnp.int32)
    return jnp.where(u[0] < epsilon, random_action, greedy)


# --------------------------------------------------------------------------------- states
def tabular_spec(
    env: Environment,
    env_params: Any = None,
    state_index: Callable[[Any], Array] | None = None,
    num_states: int | None = None,
    algorithm: str = "tabular learning",
) -> tuple[int, Callable[[Any], Array]]:
    """``(num_states, state_index)`` for ``env``: the caller's, the env's hook, or a Discrete obs.

    ``algorithm`` names the learner in the error message.

    Raises:
        ValueError: no way to index the observations, or a table too large.
    """
    if (state_index is None) != (num_states is None):
        raise ValueError("pass both state_index= and num_states=, or neither")
    if state_index is None:
        hook = getattr(env, "state_index", None)
        count = getattr(env, "num_states", None)
        obs_space = env.observation_space(env_params)
        if callable(hook) and count is not None:
            state_index, num_states = hook, count
        elif isinstance(obs_space, spaces.Discrete) and obs_space.shape == ():
            num_states = obs_space.n
            state_index = lambda obs: jnp.asarray(obs, jnp.int32)  # noqa: E731
        else:
            raise ValueError(
                f"{algorithm} needs a state index for {env.name}: its observations "
                f"({obs_space!r}) are not Discrete and it has no num_states/state_index "
                "(a table needs finitely many states; pass state_index= and num_states= "
                "to make, or use dqn or ppo)"
            )
    if isinstance(num_states, bool) or int(num_states) != num_states or num_states < 1:
        raise ValueError(f"num_states must be a positive integer, got {num_states!r}")
    return int(num_states), state_index


def _num_actions(env: Environment, env_params: Any) -> int:
    space = env.action_space(env_params)
    if not isinstance(space, spaces.Discrete) or space.shape != ():
        raise ValueError(
            f"tabular learning needs a single Discrete action, got {space!r} for {env.name}"
        )
    return space.n


# --------------------------------------------------------------------------------- agent
@struct.dataclass
class TabularState:
    """The whole training state of one seed."""

    q: Array  # float32[num_states, num_actions]
    env_state: Any  # batched EpisodeStatistics state, leading axis num_envs
    obs: Any  # batched current observations
    action: Array  # int32[num_envs]: SARSA's next action (Q-learning: the last one)
    key: Array  # PRNG key
    step: Array  # int32[], iterations done (steps per copy)


def make(
    config: Config,
    env: Environment,
    env_params: Any = None,
    state_index: Callable[[Any], Array] | None = None,
    num_states: int | None = None,
) -> Agent:
    """Build tabular Q-learning or SARSA (``config.algorithm``) for ``env``.

    Args:
        config: a ``Config``.
        env: a single (unbatched) environment with a ``Discrete`` action space.
        env_params: its params (``env.default_params`` when None).
        state_index: ``obs -> int32[]`` table index (see the module docstring).
        num_states: the index range; given together with ``state_index``.

    Returns:
        ``jaxrl.core.agent.Agent``; ``train(key) -> (TabularState, metrics)``. Metrics per
        update: ``env_steps``, ``episode_return``, ``episodes``, ``epsilon`` (the
        update's last), ``abs_td`` (mean absolute TD error).
    """
    if not isinstance(config, Config):
        raise TypeError(f"tabular.make needs a tabular.Config, got {type(config).__name__}")
    config.validate()
    if env_params is None:
        env_params = env.default_params
    cfg = config
    num_states, index = tabular_spec(env, env_params, state_index, num_states, cfg.algorithm)
    num_actions = _num_actions(env, env_params)
    if num_states * num_actions > MAX_TABLE_ENTRIES:
        raise ValueError(
            f"a {num_states} x {num_actions} table is too large for tabular learning "
            f"(limit {MAX_TABLE_ENTRIES} entries); use a fixed-board mode or a "
            "function approximator"
        )
    vec_env = VecEnv(EpisodeStatistics(env), cfg.num_envs, reset_pool=0)
    num_updates = cfg.num_updates
    total_iterations = num_updates * cfg.num_steps
    sarsa = cfg.algorithm == "sarsa"
    index_batch = jax.vmap(index)
    policy_batch = jax.vmap(epsilon_greedy, in_axes=(0, 0, None))
    num_draws = 2 if sarsa else 1  # epsilon-greedy choices per iteration

    def epsilon_at(step: Array) -> Array:
        return linear_epsilon(
            step, total_iterations, cfg.eps_start, cfg.eps_end, cfg.eps_decay_fraction
        )

    def choose(u: Array, q: Array, s: Array, eps: Array) -> Array:
        return policy_batch(u, q[s], eps)  # u: float32[num_envs, 3]

    def init(key: Array) -> TabularState:
        k_reset, k_act, k_next = jax.random.split(key, 3)
        obs, env_state = vec_env.reset(k_reset, env_params)
        q = jnp.full((num_states, num_actions), cfg.q_init, jnp.float32)
        u = jax.random.uniform(k_act, (cfg.num_envs, 3))
        action = choose(u, q, index_batch(obs), epsilon_at(jnp.zeros((), jnp.int32)))
        return TabularState(q, env_state, obs, action, k_next, jnp.zeros((), jnp.int32))

    def iteration(ts: TabularState, _: Any) -> tuple[TabularState, tuple[dict, Array]]:
        key, k_draw, k_env = jax.random.split(ts.key, 3)
        u = jax.random.uniform(k_draw, (num_draws, cfg.num_envs, 3))
        eps = epsilon_at(ts.step)
        s = index_batch(ts.obs)
        a = ts.action if sarsa else choose(u[0], ts.q, s, eps)
        obs, env_state, r, terminated, truncated, info = vec_env.step(
            k_env, ts.env_state, a, env_params
        )
        s_final = index_batch(info["final_observation"])  # s' before any auto-reset
        r = jnp.asarray(r, jnp.float32)
        discount = cfg.gamma * (1.0 - terminated.astype(jnp.float32))
        q_tm1, q_t = ts.q[s], ts.q[s_final]
        if sarsa:
            a_final = choose(u[0], ts.q, s_final, eps)
            a_restart = choose(u[1], ts.q, index_batch(obs), eps)
            td = jax.vmap(sarsa_td)(q_tm1, a, r, discount, q_t, a_final)
            done = jnp.logical_or(terminated, truncated)
            next_action = jnp.where(done, a_restart, a_final)
        else:
            td = jax.vmap(q_learning_td)(q_tm1, a, r, discount, q_t)
            next_action = a
        q = apply_td(ts.q, s, a, td, cfg.lr)
        new = TabularState(q, env_state, obs, next_action, key, ts.step + 1)
        stats = {k: info[k] for k in ("episode_return", "episode_done")}
        return new, (stats, jnp.mean(jnp.abs(td)))

    def update(ts: TabularState) -> tuple[TabularState, Metrics]:
        ts, (stats, abs_td) = jax.lax.scan(iteration, ts, None, length=cfg.num_steps)
        metrics = episode_metrics(stats)
        metrics["env_steps"] = ts.step * cfg.num_envs
        metrics["epsilon"] = epsilon_at(ts.step - 1)
        metrics["abs_td"] = jnp.mean(abs_td)
        return ts, metrics

    def act(ts: TabularState, obs: Any, key: Array, greedy: bool = True) -> Array:
        # A state loaded from disk holds NumPy arrays: index a JAX array, since the
        # index is traced whenever act runs inside a compiled program.
        q_s = jnp.asarray(ts.q)[index(obs)]
        if isinstance(greedy, bool) and greedy:
            return jnp.argmax(q_s).astype(jnp.int32)
        explore = epsilon_greedy(jax.random.uniform(key, (3,)), q_s, epsilon_at(ts.step))
        return jnp.where(greedy, jnp.argmax(q_s).astype(jnp.int32), explore)

    return Agent(init=init, update=update, num_updates=num_updates, act=act, config=cfg)


# --------------------------------------------------------------------------------- evaluation
class EvalResult(NamedTuple):
    """Greedy episodes; each field has a leading episode axis."""

    episode_return: Array  # float32, undiscounted return
    length: Array  # int32, steps taken
    terminated: Array  # bool, the episode ended by termination (not the step cap)
    won: Array  # bool, ended by termination on a positive reward (goal, drop-off)


def _table_agent(state_index: Callable[[Any], Array]) -> Agent:
    """An ``Agent`` whose state is a Q-table and whose ``act`` is its greedy policy
    (ties to the lowest index), for ``jaxrl.core.episodes``."""

    def act(q: Array, obs: Any, key: Array, greedy: bool = True) -> Array:
        return jnp.argmax(jnp.asarray(q)[state_index(obs)]).astype(jnp.int32)

    return Agent(init=None, update=None, num_updates=0, act=act, config=None)


def _as_eval_result(res: Any) -> EvalResult:
    return EvalResult(res.returns, res.lengths, res.terminated, res.wins)


def greedy_rollout(
    q: Array,
    env: Environment,
    env_params: Any,
    obs: Any,
    state: Any,
    state_index: Callable[[Any], Array],
    max_steps: int,
    key: Array | None = None,
) -> EvalResult:
    """Play the greedy policy of ``q`` from ``(obs, state)`` for one episode (unbatched).

    One episode of ``jaxrl.core.episodes.evaluate`` started at ``(obs, state)``: at most
    ``max_steps`` steps (static), ending at the first ``terminated | truncated`` (the
    env's own cap still truncates). ``key`` is needed only when the transition is
    random (``env.stochastic_step``); a deterministic env may omit it.
    """
    if key is None:
        if env.stochastic_step:
            raise ValueError(f"{env.name} has random transitions: pass key= to greedy_rollout")
        key = jax.random.key(0)  # never read by a deterministic transition
    res = run_episodes(_table_agent(state_index), q, env, env_params, key, 1, max_steps,
                       start=(obs, state))
    return _as_eval_result(jax.tree.map(lambda x: x[0], res))


def evaluate(
    key: Array,
    q: Array,
    env: Environment,
    env_params: Any = None,
    num_episodes: int = 1000,
    state_index: Callable[[Any], Array] | None = None,
    num_states: int | None = None,
    max_steps: int | None = None,
) -> EvalResult:
    """Greedy episodes from ``num_episodes`` fresh resets (jittable; vmappable over ``q``).

    ``jaxrl.core.episodes.evaluate`` with the table's greedy policy; ``max_steps`` defaults
    to the params' ``max_steps_in_episode``.
    """
    if env_params is None:
        env_params = env.default_params
    _, index = tabular_spec(env, env_params, state_index, num_states)
    res = run_episodes(_table_agent(index), q, env, env_params, key, num_episodes, max_steps)
    return _as_eval_result(res)


# --------------------------------------------------------------------------------- printing
_ARROWS = {"unicode": "↑↓←→", "ascii": "^v<>"}


def gridworld_policy_text(q: Any, env: Any, arrows: str = "unicode") -> str:
    """The greedy action per cell of a fixed Gridworld board (static or player mode).

    One line per row, cells separated by a space: an arrow (``↑↓←→``, or ``^v<>`` with
    ``arrows="ascii"``) for the greedy action of ``q[row * size + col]``, and ``+``
    goal, ``-`` pit, ``W`` wall on their cells.
    """
    from jaxrl.envs import gridworld

    base = getattr(env, "unwrapped", env)
    if not isinstance(base, gridworld.Gridworld) or base.mode == "random":
        raise ValueError("gridworld_policy_text needs a static- or player-mode Gridworld")
    marks = _ARROWS[arrows]
    size = base.size
    q = np.asarray(q)
    fixed = {
        gridworld.STATIC_GOAL: gridworld.GOAL_CHAR,
        gridworld.STATIC_PIT: gridworld.PIT_CHAR,
        gridworld.STATIC_WALL: gridworld.WALL_CHAR,
    }
    lines = []
    for r in range(size):
        row = [fixed.get((r, c), marks[int(np.argmax(q[r * size + c]))]) for c in range(size)]
        lines.append(" ".join(row))
    return "\n".join(lines)


def taxi_policy_text(
    q: Any, passenger: str | None = None, destination: str | None = None
) -> str:
    """A table of Taxi's greedy actions: taxi (row, col), passenger, destination -> action.

    Lists the 400 states an episode can act from (passenger waiting at a stand other
    than the destination, or in the taxi), optionally only those with the given
    ``passenger`` (``"R" "G" "Y" "B"`` or ``"taxi"``) and ``destination`` (a stand).
    """
    from jaxrl.envs import taxi

    stands = "RGYB"
    where = {**{c: i for i, c in enumerate(stands)}, "taxi": 4}
    if passenger is not None and passenger not in where:
        raise ValueError(f"passenger must be one of R, G, Y, B, taxi; got {passenger!r}")
    if destination is not None and destination not in stands:
        raise ValueError(f"destination must be one of R, G, Y, B; got {destination!r}")
    q = np.asarray(q)
    lines = ["taxi (row, col)  passenger  destination  action", "-" * 46]
    for p in range(5):
        for d in range(4):
            if p == d:
                continue
            if passenger is not None and where[passenger] != p:
                continue
            if destination is not None and stands.index(destination) != d:
                continue
            for r in range(5):
                for c in range(5):
                    s = taxi.encode(r, c, p, d)
                    name = taxi.ACTION_NAMES[int(np.argmax(q[s]))]
                    pas = "taxi" if p == 4 else stands[p]
                    lines.append(f"({r}, {c})           {pas:<9}  {stands[d]:<11}  {name}")
    return "\n".join(lines)


def policy_text(q: Any, env: Any, **kwargs: Any) -> str:
    """Greedy policy as text: Gridworld arrow board, Taxi table, else ``state: action`` lines."""
    from jaxrl.envs import gridworld, taxi

    base = getattr(env, "unwrapped", env)
    if isinstance(base, gridworld.Gridworld):
        return gridworld_policy_text(q, base, **kwargs)
    if isinstance(base, taxi.Taxi):
        return taxi_policy_text(q, **kwargs)
    q = np.asarray(q)
    return "\n".join(f"{s}: {int(np.argmax(q[s]))}" for s in range(q.shape[0]))


# --------------------------------------------------------------------------------- registry
@struct.dataclass
class QLearningConfig(Config):
    """``Config`` with ``algorithm="q_learning"`` (the default anyway)."""

    algorithm: str = _static("q_learning")


@struct.dataclass
class SarsaConfig(Config):
    """``Config`` with ``algorithm="sarsa"`` by default."""

    algorithm: str = _static("sarsa")


_PRESET_CONFIGS = {"q_learning": QLearningConfig, "sarsa": SarsaConfig}

#: The environment a run trains on when none is named (500 states, Discrete observations).
DEFAULT_ENV: str = "Taxi-v3"

#: Named settings per algorithm (``jaxrl.core.presets.Preset``): the three tasks of
#: ``benchmarks/tabular.py`` (16 copies x 16 steps per update unless noted). Greedy
#: policies come out optimal from every start on Gridworld's static and player boards;
#: on Taxi-v3 the greedy mean return is 7.92 against the optimum 7.93 (Q-learning,
#: 200k steps; SARSA needs 1M steps and a final epsilon of 0).
_WINS = Claim("greedy_win_rate", 1.0, "wins every one of 100 greedy games within 15 moves",
               max_steps=15)
# Taxi's optimum is 7.93 over uniform starts; 1,000 episodes put a seed's mean within
# about 0.08 of its policy's value, so an optimal policy clears 7.7 and a policy wrong on
# a few percent of the starts does not.
_TAXI = Claim("greedy_return", 7.7, "greedy mean return 7.7 or more over 1,000 episodes "
              "(the optimum is 7.93)", episodes=1000)

PRESETS_BY_ALGORITHM: dict[str, dict[str, Preset]] = {
    "q_learning": {
        "gridworld_static": Preset(
            QLearningConfig(total_timesteps=16_384), env="Gridworld-v0",
            env_options={"mode": "static"}, description="benchmarks/tabular.py, static board",
            claim=_WINS.measured("16/16"),
        ),
        "gridworld_player": Preset(
            QLearningConfig(total_timesteps=65_536), env="Gridworld-v0",
            env_options={"mode": "player"}, description="benchmarks/tabular.py, player mode",
            claim=_WINS.measured("16/16"),
        ),
        "taxi": Preset(
            QLearningConfig(total_timesteps=200_000, num_steps=50), env="Taxi-v3",
            description="benchmarks/tabular.py: greedy mean return 7.92 (optimum 7.93)",
            claim=_TAXI.measured("16/16"),
        ),
    },
    "sarsa": {
        "gridworld_static": Preset(
            SarsaConfig(total_timesteps=16_384), env="Gridworld-v0",
            env_options={"mode": "static"}, description="benchmarks/tabular.py, static board",
            claim=_WINS.measured("16/16"),
        ),
        "gridworld_player": Preset(
            SarsaConfig(total_timesteps=65_536), env="Gridworld-v0",
            env_options={"mode": "player"}, description="benchmarks/tabular.py, player mode",
            claim=_WINS.measured("16/16"),
        ),
        "taxi": Preset(
            SarsaConfig(total_timesteps=1_000_000, num_steps=50, eps_end=0.0), env="Taxi-v3",
            description="benchmarks/tabular.py: greedy mean return 7.92 (optimum 7.93)",
            claim=_TAXI.measured("16/16"),
        ),
    },
}

#: This module's own presets are Q-learning's (``Config`` defaults to Q-learning);
#: ``SARSA.presets`` holds SARSA's.
PRESETS: dict[str, Preset] = PRESETS_BY_ALGORITHM["q_learning"]


#: The registry's records (``jaxrl.algos.get("q_learning")``, ``get("sarsa")``): one
#: ``make``; the ``algorithm`` field of the config picks the update.
Q_LEARNING = Algorithm(
    name="q_learning", config=QLearningConfig, make=make,
    presets=PRESETS_BY_ALGORITHM["q_learning"], default_env=DEFAULT_ENV,
    summary="tabular Q-learning: the Q-table is a JAX array, a run is one program",
    supports=frozenset({"discrete"}),
)
SARSA = Algorithm(
    name="sarsa", config=SarsaConfig, make=make, presets=PRESETS_BY_ALGORITHM["sarsa"],
    default_env=DEFAULT_ENV,
    summary="tabular SARSA (on-policy TD control), the same table machinery as q_learning",
    supports=frozenset({"discrete"}),
)
