"""Host-side evaluation: every seed of a trained run on the same episodes, its table,
and the train-then-evaluate harness the benchmarks time.

Built on the one episode loop, ``jaxrl.core.episodes.evaluate``; the seeds split over
devices by ``jaxrl.parallel.devices.over_seeds``.
"""

from __future__ import annotations

import resource
import time
import warnings
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxrl.core.agent import Agent
from jaxrl.core.episodes import (
    EvalResult,
    _count,
    evaluate,
    observe,
    resolve_start,
    training_env_state,
)
from jaxrl.envs.core import Environment
from jaxrl.parallel.devices import over_seeds
from jaxrl.runs import memory

Array = jax.Array

__all__ = [
    "EVAL_HEADERS", "Timing", "eval_row", "evaluate_seeds", "process_cpu_seconds",
    "train_and_evaluate",
]


def evaluate_seeds(
    agent: Agent,
    states: Any,
    env: Environment,
    env_params: Any,
    *,
    episodes: int = 10,
    greedy: bool = True,
    seed: int = 0,
    max_steps: int | None = None,
    start: str = "auto",
    win_fn: Callable[[Any, Array, Array], Array] | None = None,
) -> EvalResult:
    """Every seed's policy for ``episodes`` episodes, in one compiled program.

    All seeds play the same episodes (the same reset keys: common random numbers),
    the seeds split over devices by ``jaxrl.parallel.devices.over_seeds``. Bandit runs play
    the bandit each seed trained on (see ``resolve_start``).

    Args:
        agent: the ``Agent``.
        states: training states with a leading seeds axis (device or NumPy arrays).
        env, env_params: the environment the agent trained on.
        episodes: episodes per seed.
        greedy: greedy actions, else the agent's exploration policy.
        seed: seed of the episodes' keys.
        max_steps: step cap per episode (default: ``episode_cap``).
        start: ``"auto"``, ``"fresh"`` or ``"trained"`` (``resolve_start``).
        win_fn: as for ``evaluate``.

    Returns:
        ``EvalResult`` on the host, every field ``[seeds, episodes]``.

    Raises:
        ValueError: a bad ``episodes``, ``max_steps`` or ``start``.
        RunError: the evaluation needs more memory than is available (estimated from
            the compiled program, before anything is allocated).
    """
    episodes = _count("episodes", episodes)
    if max_steps is not None:
        max_steps = _count("max_steps", max_steps)
    one_seed = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape[1:], x.dtype), states)
    mode = resolve_start(env, env_params, one_seed, start)
    if mode == "trained":
        _warn_if_just_reset(states, env, env_params)
    key = jax.random.key(seed)

    def one(agent_state: Any) -> EvalResult:
        begin = None
        if mode == "trained":
            env_state = training_env_state(agent_state, env, env_params)
            begin = (observe(env, env_state, env_params), env_state)
        return evaluate(agent, agent_state, env, env_params, key, episodes, max_steps, greedy,
                        win_fn, start=begin)

    program = over_seeds(one)
    seeds = int(jax.tree.leaves(states)[0].shape[0])
    what = f"evaluating {episodes:,} episode(s) x {seeds} seed(s)"
    hint = "play fewer episodes (--episodes) and average several evaluations (--seed)"
    # Before compiling (XLA's compile itself grows with the episode count): from shapes,
    # the per-episode outputs, and as much again for the loop's running episodes.
    memory.check_fits(2 * memory.tree_bytes(jax.eval_shape(program, states)), what, hint)
    compiled = program.lower(states).compile()
    # Then XLA's own count of the program (temporaries included), before it runs.
    memory.check_fits(memory.program_bytes(compiled, program.devices_for(seeds)), what, hint)
    return jax.device_get(compiled(*program._global_args((states,))))

def _warn_if_just_reset(states: Any, env: Environment, env_params: Any) -> None:
    """Warn when every seed's task in the training state has not been acted on yet
    (its clock is 0): the run ended exactly as an episode did, and auto-reset drew a
    task the agent never saw."""
    def clock(s: Any) -> Any:
        found = training_env_state(s, env, env_params, reset_clock=False)
        return getattr(found, "time", jnp.ones((), jnp.int32))

    if np.all(np.asarray(jax.vmap(clock)(states)) == 0):
        warnings.warn(
            f"the {getattr(env, 'name', 'env')} task in the training state was drawn by an "
            "auto-reset on the run's last step: the agent never acted on it, so this "
            "evaluation cannot show what it learned (train with a max_steps_in_episode "
            "above the steps each env copy takes in the run)", RuntimeWarning, stacklevel=3)


EVAL_HEADERS = ["policy", "episodes", "return (mean ± std over seeds)", "min", "max", "length"]


def eval_row(result: EvalResult, greedy: bool) -> list[str]:
    """One row of the ``jaxrl eval`` table (``EVAL_HEADERS``) for ``evaluate_seeds``' result.

    The ± is the spread over seeds of each seed's mean return.
    """
    returns = np.asarray(result.returns, np.float64)
    returns = returns.reshape(-1, returns.shape[-1])
    lengths = np.asarray(result.lengths, np.float64)
    return [
        "greedy" if greedy else "stochastic",
        str(returns.shape[-1]),
        f"{returns.mean():.2f} ± {returns.mean(axis=1).std():.2f}",
        f"{returns.min():.2f}", f"{returns.max():.2f}",
        f"{lengths.mean():.1f}",
    ]


# --------------------------------------------------------------------------------- one episode

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
    max_steps: int | None = None,
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
