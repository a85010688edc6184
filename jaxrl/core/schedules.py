"""The learning-rate schedule and the gradient clip every gradient-based algorithm shares.

A run either keeps its learning rate constant or decays it linearly to zero over the
run (``anneal_lr``). ``learning_rate`` returns what ``optax`` takes: the rate itself, or
a schedule ``count -> rate`` of the optimiser's step count. The rate may be a traced
config leaf (a sweep vmaps over learning rates): the schedule only multiplies it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

__all__ = ["clip_by_global_norm", "learning_rate"]

Schedule = Callable[[jax.Array], jax.Array]


def learning_rate(
    lr: Any,
    anneal: bool,
    total_steps: int | None = None,
    *,
    steps_per_decay: int = 1,
    schedule: bool = False,
) -> Any:
    """``lr``, constant or decayed linearly to zero, for ``optax``.

    Annealed, the rate after ``count`` optimiser steps is::

        lr * max(1 - floor(count / steps_per_decay) / total_steps, 0)

    so it falls once per ``steps_per_decay`` optimiser steps (PPO: once per update of
    ``epochs * minibatches`` steps), reaches 0 after ``total_steps`` decays and stays
    there.

    Args:
        lr: the (peak) learning rate, a float or a scalar array (possibly traced).
        anneal: decay linearly to zero; otherwise constant.
        total_steps: decays in a run (needed only when ``anneal``), >= 1.
        steps_per_decay: optimiser steps per decay, >= 1.
        schedule: return a schedule even when constant (``count -> float32 lr``), for
            optimisers whose state must not depend on ``anneal``.

    Returns:
        ``lr`` itself (constant, ``schedule=False``) or a schedule
        ``count: int32[] -> float32[]``.

    Raises:
        ValueError: ``anneal`` without a positive ``total_steps``, or a bad
            ``steps_per_decay``.
    """
    if isinstance(steps_per_decay, bool) or int(steps_per_decay) != steps_per_decay \
            or steps_per_decay < 1:
        raise ValueError(f"steps_per_decay must be a positive integer, got {steps_per_decay!r}")
    if not anneal:
        if not schedule:
            return lr
        return lambda count: jnp.asarray(lr, jnp.float32)
    if total_steps is None or isinstance(total_steps, bool) or int(total_steps) != total_steps \
            or total_steps < 1:
        raise ValueError(
            f"an annealed learning rate needs the run's length in steps (>= 1), got {total_steps!r}"
        )
    total = int(total_steps)
    every = int(steps_per_decay)

    def annealed(count: jax.Array) -> jax.Array:
        done = (count // every).astype(jnp.float32)
        return lr * jnp.maximum(1.0 - done / total, 0.0)

    return annealed


def clip_by_global_norm(grads: Any, max_norm: Any) -> Any:
    """``grads`` scaled so their global norm is at most ``max_norm``; ``max_norm <= 0``
    leaves them unchanged. ``max_norm`` may be a traced config leaf (a sweep vmaps over
    it), so "no clipping" is a value, not a branch."""
    import optax

    norm = optax.tree.norm(grads)
    scale = jnp.where(max_norm > 0, jnp.minimum(1.0, max_norm / jnp.maximum(norm, 1e-12)), 1.0)
    return jax.tree.map(lambda g: g * scale, grads)
