"""The shape every jaxrl algorithm takes, so the CLI, sweeps and checkpoints fit all of them.

An algorithm is registered as one ``jaxrl.algos.Algorithm`` record, which names

* ``config``: its ``Config``, a frozen ``flax.struct.dataclass``. Fields that change array shapes or
  loop lengths are static (``struct.field(pytree_node=False)``); learning rates,
  discounts, clip ranges and the like are pytree leaves, so a sweep is a ``vmap``
  over configs. ``Config.validate()`` raises ``ValueError`` on bad values (negative
  learning rate, envs not dividing the batch) and is called by ``make`` before
  anything is compiled.
* ``make(config, env, env_params) -> Agent``;
* its presets, default environment and what it supports (``jaxrl.algos``).

``Agent.train(key) -> (state, metrics)`` is pure, so
``jax.jit(jax.vmap(agent.train))(jax.random.split(key, 64))`` trains 64 seeds in one
program. ``init`` and ``update`` expose the same loop in pieces, which lets the
command line run it in chunks (live progress, checkpoints, bit-identical resume):
``train(key) == lax.scan(lambda s, _: update(s), init(key), None, num_updates)``.

Metrics: ``update`` returns a dict of scalars; ``train`` stacks them over updates.
Every algorithm reports at least

* ``env_steps``: environment steps taken (all copies) by the end of the update;
* ``episode_return``: mean return of the episodes that ended during the update
  (NaN when none ended);
* ``episodes``: how many episodes ended during the update.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

Metrics = dict[str, jax.Array]


@dataclasses.dataclass(frozen=True)
class Agent:
    """A compiled-program-ready training loop and the policy it learns.

    Attributes:
        init: ``key -> state``; the whole training state (network params, optimiser
            state, env states, replay buffer, RNG key, counters) as one pytree.
        update: ``state -> (state, metrics)``; one iteration (collect + learn).
        num_updates: iterations in a full run (``config`` fixes it).
        act: ``(state, obs, key, greedy) -> action`` for one unbatched observation;
            greedy picks the most likely / highest-valued action.
        config: the config the agent was made from.
        values: optional ``(state, obs) -> float32[num_actions]``, the learned value of
            each action for one unbatched observation (Q-values, predicted rewards);
            ``jaxrl play`` draws them against a bandit's true means. ``None`` when the
            algorithm has no per-action values (``play`` then samples the policy).
        devices: ``None``, or the devices ``update`` splits its own work over (an
            evolution population, ``es``/``ga`` made with ``devices=``); the host then
            runs every seed whole on all of them (replicated) instead of splitting the
            seeds over them (``jaxrl.parallel.devices.over_seeds(..., replicate=True)``).
    """

    init: Callable[[jax.Array], Any]
    update: Callable[[Any], tuple[Any, Metrics]]
    num_updates: int
    act: Callable[[Any, Any, jax.Array, bool], jax.Array]
    config: Any
    values: Callable[[Any, Any], jax.Array] | None = None
    devices: tuple[Any, ...] | None = None

    def train(self, key: jax.Array) -> tuple[Any, Metrics]:
        """The whole run: ``init`` then ``num_updates`` calls of ``update``."""
        return self.run(self.init(key), self.num_updates)

    def run(self, state: Any, num_updates: int) -> tuple[Any, Metrics]:
        """``num_updates`` iterations from ``state``; metrics stacked on axis 0."""

        def body(s, _):
            return self.update(s)

        return jax.lax.scan(body, state, None, length=num_updates)


def episode_metrics(info: dict[str, jax.Array]) -> Metrics:
    """``episode_return`` and ``episodes`` from ``EpisodeStatistics`` info of a rollout.

    ``info`` leaves may have any leading shape (time, envs); the mean is over the
    episodes that ended anywhere in it, NaN when none did.
    """
    done = info["episode_done"]
    count = jnp.sum(done)
    total = jnp.sum(jnp.where(done, info["episode_return"], 0.0))
    mean = jnp.where(count > 0, total / jnp.maximum(count, 1), jnp.nan)
    return {"episode_return": mean, "episodes": count}
