"""Evaluating a trained agent: rollouts over fresh episodes, and a text replay.

``evaluate`` runs ``num_episodes`` fresh episodes side by side inside one compiled
program, acting through ``agent.act`` (greedy by default), and stops each episode at
its first termination, truncation or after ``max_steps`` steps. It is pure, so it
vmaps over seeds: ``jax.vmap(lambda s: evaluate(agent, s, env, params, key, 1000))``
scores eight trained seeds on the same 1000 boards.

``replay_text`` plays one episode on the host and writes it down move by move, with
the board drawn by the environment's ``render(state)`` where it has one (Gridworld
draws ``P + - W``), the way the book shows a game.
"""

from __future__ import annotations

import resource
import time
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from envs.core import Environment
from jaxrl.agent import Agent
from jaxrl.parallel import over_seeds

Array = jax.Array

__all__ = [
    "EvalResult", "Timing", "evaluate", "process_cpu_seconds", "replay_text",
    "train_and_evaluate",
]


@struct.dataclass
class EvalResult:
    """Per-episode outcomes of ``evaluate`` (leading axis: episodes; more in front if vmapped).

    Attributes:
        returns: float32[N] undiscounted episode returns.
        lengths: int32[N] steps taken.
        terminated: bool[N] the episode ended by termination (not by a time limit
            or the step cap).
        wins: bool[N] the win predicate held at the episode's end.
        initial_state: the environment states the episodes started from (leaves
            ``[N, ...]``), e.g. for ``Gridworld.solvable``.
    """

    returns: Array
    lengths: Array
    terminated: Array
    wins: Array
    initial_state: Any

    @property
    def mean_return(self) -> Array:
        """float32[...] mean return over the episodes axis."""
        return jnp.mean(self.returns, axis=-1)

    @property
    def win_rate(self) -> Array:
        """float32[...] fraction of episodes won."""
        return jnp.mean(self.wins.astype(jnp.float32), axis=-1)

    @property
    def mean_length(self) -> Array:
        """float32[...] mean episode length."""
        return jnp.mean(self.lengths.astype(jnp.float32), axis=-1)


def positive_termination(state: Any, reward: Array, terminated: Array) -> Array:
    """The default win predicate: the episode ended by termination with reward > 0."""
    return terminated & (reward > 0)


@struct.dataclass
class _Rollout:
    obs: Any
    state: Any
    key: Array
    step: Array  # int32[] loop counter
    active: Array  # bool[N] episode still running
    returns: Array
    lengths: Array
    terminated: Array
    wins: Array


def evaluate(
    agent: Agent,
    agent_state: Any,
    env: Environment,
    env_params: Any,
    key: Array,
    num_episodes: int,
    max_steps: int = 1000,
    greedy: bool = True,
    win_fn: Callable[[Any, Array, Array], Array] | None = None,
) -> EvalResult:
    """Roll out ``num_episodes`` fresh episodes with ``agent.act``.

    Each episode runs until the env terminates or truncates it, or until it has
    taken ``max_steps`` steps (the evaluation's own cap, e.g. the book's 15 moves on
    Gridworld). Episodes run side by side; finished ones stay frozen until all are
    done. Keys: ``key`` is split once for the resets and once per step into action
    and transition keys, one per episode.

    Args:
        agent: the ``Agent`` (only ``act`` is used).
        agent_state: its training state (unbatched; vmap this function for seeds).
        env: a single (not vectorised) environment whose observations the agent takes.
        env_params: its params.
        key: PRNG key.
        num_episodes: ``N`` (static).
        max_steps: step cap per episode (static), >= 1.
        greedy: act greedily (static); else the agent's exploration policy.
        win_fn: ``(final_state, final_reward, terminated) -> bool[]`` on one episode;
            default: ended by termination with a positive final reward.

    Returns:
        ``EvalResult``.
    """
    if int(num_episodes) != num_episodes or num_episodes < 1:
        raise ValueError(f"evaluate needs num_episodes >= 1, got {num_episodes!r}")
    if int(max_steps) != max_steps or max_steps < 1:
        raise ValueError(f"evaluate needs max_steps >= 1, got {max_steps!r}")
    win_fn = positive_termination if win_fn is None else win_fn
    n = int(num_episodes)
    k_reset, k_loop = jax.random.split(key)
    obs, state = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(k_reset, n), env_params)
    act = jax.vmap(agent.act, in_axes=(None, 0, 0, None))

    def step_one(k, s, a):
        return env.step_env(k, s, env.clip_action(a, env_params), env_params)

    def body(r: _Rollout) -> _Rollout:
        key, k_act, k_step = jax.random.split(r.key, 3)
        action = act(agent_state, r.obs, jax.random.split(k_act, n), greedy)
        obs, state, reward, term, trunc, _ = jax.vmap(step_one)(
            jax.random.split(k_step, n), r.state, action
        )
        # Multi-agent envs return one reward (and flag) per agent: the episode's reward
        # is their sum, and it ends when any agent's flag says so.
        reward = jnp.sum(jnp.reshape(reward, (n, -1)), axis=-1).astype(jnp.float32)
        term = jnp.any(jnp.reshape(jnp.asarray(term, bool), (n, -1)), axis=-1)
        trunc = jnp.any(jnp.reshape(jnp.asarray(trunc, bool), (n, -1)), axis=-1)
        length = r.lengths + r.active.astype(jnp.int32)
        done_now = r.active & (term | trunc | (length >= max_steps))
        return _Rollout(
            obs=jax.tree.map(lambda new, old: _select(r.active, new, old), obs, r.obs),
            state=jax.tree.map(lambda new, old: _select(r.active, new, old), state, r.state),
            key=key,
            step=r.step + 1,
            active=r.active & ~done_now,
            returns=r.returns + jnp.where(r.active, reward, 0.0),
            lengths=length,
            terminated=r.terminated | (done_now & term),
            wins=r.wins | (done_now & jax.vmap(win_fn)(state, reward, term)),
        )

    init = _Rollout(
        obs=obs, state=state, key=k_loop, step=jnp.zeros((), jnp.int32),
        active=jnp.ones((n,), bool), returns=jnp.zeros((n,), jnp.float32),
        lengths=jnp.zeros((n,), jnp.int32), terminated=jnp.zeros((n,), bool),
        wins=jnp.zeros((n,), bool),
    )
    final = jax.lax.while_loop(
        lambda r: jnp.any(r.active) & (r.step < max_steps), body, init
    )
    return EvalResult(
        returns=final.returns, lengths=final.lengths, terminated=final.terminated,
        wins=final.wins, initial_state=state,
    )


def _select(mask: Array, new: Array, old: Array) -> Array:
    """``where(mask, new, old)`` with ``mask: bool[N]`` broadcast over trailing axes."""
    return jnp.where(mask.reshape(mask.shape + (1,) * (new.ndim - 1)), new, old)


def _render(env: Environment, state: Any, obs: Any) -> str:
    """The env's ``render(state)``, looking through wrappers that wrap the state."""
    e, s = env, state
    while True:
        render = getattr(e, "render", None)
        if render is not None:
            try:
                return str(render(s))
            except (AttributeError, TypeError, ValueError):
                pass
        inner = getattr(e, "env", None)
        if inner is None:
            break
        if hasattr(s, "env_state") and not hasattr(inner, "env_state"):
            s = s.env_state
        e = inner
    return np.array2string(np.asarray(obs), precision=3, suppress_small=True)


def replay_text(
    env: Environment,
    params: Any,
    agent: Agent,
    agent_state: Any,
    key: Array,
    max_steps: int = 15,
    greedy: bool = True,
    action_names: Sequence[str] | None = None,
) -> str:
    """One episode written down move by move, like the book's test games.

    The start board, then for each move the action, the reward and the board after
    it, then the outcome: "won" (ended by termination with a positive reward),
    "lost" (any other termination), "time limit" (the env truncated it) or
    "stopped" (``max_steps`` moves played). Boards come from
    ``env.render(state)`` when the environment (or one it wraps) has it, else the
    observation is printed.

    Args:
        env: a single environment (e.g. ``ObservationNoise(Gridworld)``).
        params: its params.
        agent: the ``Agent`` (``act`` is used).
        agent_state: its trained state (one seed).
        key: PRNG key.
        max_steps: moves before the replay stops the game (the book's 15).
        greedy: greedy actions (default) or the agent's exploration policy.
        action_names: names for action indices (default ``env.action_names`` if the
            env has them, else the numbers).

    Returns:
        The replay as one string.
    """
    if action_names is None:
        action_names = getattr(env, "action_names", None)
    k_reset, key = jax.random.split(key)
    reset = jax.jit(env.reset)
    act = jax.jit(agent.act, static_argnums=3)
    step = jax.jit(lambda k, s, a: env.step_env(k, s, env.clip_action(a, params), params))
    obs, state = reset(k_reset, params)
    lines = ["start:", _render(env, state, obs)]
    total = 0.0
    outcome = "stopped"
    for move in range(1, max_steps + 1):
        key, k_act, k_step = jax.random.split(key, 3)
        action = int(act(agent_state, obs, k_act, greedy))
        obs, state, reward, term, trunc, _ = step(k_step, state, action)
        reward = float(np.sum(reward))
        total += reward
        name = action_names[action] if action_names is not None else str(action)
        lines.append(f"move {move}: {name}, reward {reward:+g}")
        lines.append(_render(env, state, obs))
        if bool(term):
            outcome = "won" if reward > 0 else "lost"
            break
        if bool(trunc):
            outcome = "time limit"
            break
    lines.append(f"{outcome} after {move} moves, return {total:+g}")
    return "\n".join(lines)


# --------------------------------------------------------------------------------- harness
@struct.dataclass
class Timing:
    """Wall and process-CPU seconds of a compiled program (CPU time is less distorted
    than wall time when other processes share the machine).

    Attributes:
        compile_wall, compile_cpu: tracing plus XLA compilation.
        run_wall, run_cpu: one call of the compiled program, until its results are ready.
    """

    compile_wall: float = struct.field(pytree_node=False)
    compile_cpu: float = struct.field(pytree_node=False)
    run_wall: float = struct.field(pytree_node=False)
    run_cpu: float = struct.field(pytree_node=False)

    def summary(self, env_steps: int) -> str:
        """One line: compile and run times (wall and CPU), total wall, env steps/s."""
        return (
            f"compile {self.compile_wall:.1f} s wall ({self.compile_cpu:.1f} s CPU); "
            f"train + evaluate {self.run_wall:.1f} s wall ({self.run_cpu:.1f} s CPU); "
            f"total {self.compile_wall + self.run_wall:.1f} s wall; "
            f"{env_steps / self.run_wall:,.0f} env steps/s"
        )


def process_cpu_seconds() -> float:
    """CPU seconds used by this process so far (all threads)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def train_and_evaluate(
    agent: Agent,
    env: Environment,
    env_params: Any,
    seed_keys: Array,
    eval_key: Array,
    num_episodes: int,
    max_steps: int = 1000,
    win_fn: Callable[[Any, Array, Array], Array] | None = None,
) -> tuple[Any, dict[str, Array], EvalResult, Timing]:
    """Train one agent per key and evaluate each, all in ONE compiled program.

    ``jit(vmap(train then evaluate))`` over ``seed_keys``; every seed is evaluated
    greedily on the same ``num_episodes`` episodes (drawn from ``eval_key``).
    Compilation and the run are timed apart, with ``block_until_ready`` before each
    clock stops.

    Returns:
        ``(states, metrics, result, timing)``, each with a leading seeds axis
        (metrics: ``[seeds, num_updates]``).
    """

    def one(key):
        state, metrics = agent.train(key)
        result = evaluate(agent, state, env, env_params, eval_key, num_episodes, max_steps,
                          win_fn=win_fn)
        return state, metrics, result

    wall0, cpu0 = time.perf_counter(), process_cpu_seconds()
    compiled = over_seeds(one).lower(seed_keys).compile()  # seeds split over devices
    wall1, cpu1 = time.perf_counter(), process_cpu_seconds()
    out = jax.block_until_ready(compiled(seed_keys))
    wall2, cpu2 = time.perf_counter(), process_cpu_seconds()
    return (*out, Timing(wall1 - wall0, cpu1 - cpu0, wall2 - wall1, cpu2 - cpu1))

