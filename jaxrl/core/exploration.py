"""Epsilon-greedy exploration, shared by the value-based learners (DQN, PQN).

``epsilon_by_step`` is the exploration rate after a number of environment steps,
``epsilon_greedy`` draws the actions. Pure functions, traced-config friendly: the rates
may be traced (a sweep vmaps over them); the schedule's name is static.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

Array = jax.Array

__all__ = ["EPSILON_SCHEDULES", "epsilon_by_step", "epsilon_greedy"]

EPSILON_SCHEDULES = ("linear", "exponential", "constant")


def epsilon_by_step(
    schedule: str, step: Array, start: Array | float, end: Array | float, decay_steps: Array | float
) -> Array:
    """Exploration rate after ``step`` environment steps.

    * ``"linear"``: ``start + (end - start) * min(1, step / decay_steps)``;
    * ``"exponential"``: ``end + (start - end) * exp(-step / decay_steps)``
      (``decay_steps`` is the time constant);
    * ``"constant"``: ``start``.

    Returns:
        float32[].
    """
    step = jnp.asarray(step, jnp.float32)
    if schedule == "linear":
        frac = jnp.minimum(step / decay_steps, 1.0)
        eps = start + (end - start) * frac
    elif schedule == "exponential":
        eps = end + (start - end) * jnp.exp(-step / decay_steps)
    elif schedule == "constant":
        eps = start + 0.0 * step
    else:
        raise ValueError(f"unknown epsilon schedule {schedule!r}; choose from {EPSILON_SCHEDULES}")
    return jnp.asarray(eps, jnp.float32)


def epsilon_greedy(key: Array, q: Array, epsilon: Array | float) -> Array:
    """Epsilon-greedy actions: ``float32[..., num_actions]`` values -> ``int32[...]``.

    With probability ``epsilon`` a uniformly random action (which may be the greedy
    one), else ``argmax q`` (lowest index on ties). One uniform draw per action
    serves both choices (it keeps the compiled program small: every random call
    adds a counter-hash circuit to it).
    """
    num_actions = q.shape[-1]
    u = jax.random.uniform(key, (2, *q.shape[:-1]))
    greedy = jnp.argmax(q, axis=-1).astype(jnp.int32)
    random = jnp.minimum((u[1] * num_actions).astype(jnp.int32), num_actions - 1)
    return jnp.where(u[0] < epsilon, random, greedy)
