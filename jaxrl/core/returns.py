"""Returns and advantages: pure functions on one unbatched, time-major trajectory.

Every function here takes arrays with a single leading time axis ``[T]`` (one
environment's rollout, in the order it was collected) and returns ``[T]``. Callers
``jax.vmap`` over environments, seeds or anything else. Shapes and dtypes are
checked with ``chex`` before anything else runs, so a transposed batch fails with
a clear message instead of silently computing the wrong thing.

Conventions (rlax's names, jaxrl's episode rules):

* ``r_t = rewards[t]``: the reward of the transition taken at step ``t``.
* ``v_t = values[t]``: the critic's estimate of the observation the action at step
  ``t`` was chosen from.
* ``nv_t = next_values[t]``: the critic's estimate of the observation that
  transition ``t`` *produced*, before any auto-reset. With jaxrl's environments that
  is ``V(info["final_observation"][t])``: equal to ``v_{t+1}`` inside an episode, the
  value of the last real observation at a time limit, and anything at all at a
  termination (it is multiplied by zero there). At the last step of a rollout it is
  the bootstrap value.
* ``terminated[t]``: the transition reached a terminal state. The future is worth
  zero: never bootstrap.
* ``truncated[t]``: the episode was cut (time limit) but the state is not terminal:
  bootstrap from ``nv_t``. When both flags are set, termination wins.
* A step with ``terminated | truncated`` ends an episode: no recursion below crosses
  it (the next step belongs to a new episode that auto-reset started).

Each function states its equation in its docstring. They are written for ``jit``:
``gamma``, ``lam`` may be traced scalars; ``n`` (a loop length) must be static.
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp

Array = jax.Array
Scalar = float | jax.Array

__all__ = [
    "bootstrapped_returns",
    "discounted_returns",
    "gae",
    "n_step_returns",
    "standardize",
]


def _check_time_major(rewards: Array, *others: Array) -> None:
    chex.assert_rank(rewards, 1)
    chex.assert_type(rewards, float)
    for x in others:
        chex.assert_rank(x, 1)
    chex.assert_equal_shape([rewards, *others])


def _as_bool(name: str, x: Array) -> Array:
    x = jnp.asarray(x)
    if not (jnp.issubdtype(x.dtype, jnp.bool_) or jnp.issubdtype(x.dtype, jnp.integer)):
        raise TypeError(f"{name} must be a boolean (or 0/1 integer) array, got dtype {x.dtype}")
    return x.astype(bool)


def _check_scalar(name: str, x: Scalar) -> Array:
    x = jnp.asarray(x)
    if x.ndim != 0:
        raise ValueError(f"{name} must be a scalar, got shape {x.shape}")
    return x


def discounted_returns(rewards: Array, discounts: Array, bootstrap: Scalar = 0.0) -> Array:
    """Discounted returns-to-go with a per-step discount.

    Equation::

        G_t = r_t + discount_t * G_{t+1},      G_T = bootstrap

    so ``G_t = sum_{k=t}^{T-1} (prod_{j=t}^{k-1} discount_j) r_k
    + (prod_{j=t}^{T-1} discount_j) bootstrap``.

    A zero ``discount_t`` stops the sum at step ``t``; setting it at every episode
    end (``discount_t = gamma * (1 - done_t)``) keeps episodes apart but treats a
    time limit like a termination. For a rollout that can end episodes by
    truncation, use ``bootstrapped_returns`` instead. REINFORCE uses this on one
    complete episode with ``discounts = gamma`` and ``bootstrap = 0``.

    Args:
        rewards: ``float[T]``, ``r_t``.
        discounts: ``float[T]``, ``discount_t`` (``gamma``, or 0 where the future is cut).
        bootstrap: scalar, the value of whatever follows the last step.

    Returns:
        ``float[T]``, ``G_t``.
    """
    discounts = jnp.asarray(discounts, rewards.dtype)
    _check_time_major(rewards, discounts)
    bootstrap = _check_scalar("bootstrap", bootstrap).astype(rewards.dtype)

    def step(g_next, inputs):
        r, d = inputs
        g = r + d * g_next
        return g, g

    _, returns = jax.lax.scan(step, bootstrap, (rewards, discounts), reverse=True)
    return returns


def bootstrapped_returns(
    rewards: Array,
    next_values: Array,
    terminated: Array,
    truncated: Array,
    gamma: Scalar,
) -> Array:
    """Returns to the end of the rollout or episode, bootstrapped where the data ends.

    This is the advantage actor-critic's "N-step" target (the book's, and A2C's):
    step ``t`` of an ``N``-step rollout looks ahead ``N - t`` steps, or to the end of
    its episode if that comes first. Equation::

        G_t = r_t + gamma * (1 - term_t) * [ (1 - cut_t) * G_{t+1} + cut_t * nv_t ]

    with ``cut_t = truncated_t or t == T - 1``. At a termination the future is
    zero; at a truncation and at the end of the rollout it is the critic's value of
    the final observation; nothing crosses an episode boundary. Equal to
    ``gae(..., lam=1) + values`` (which needs ``values`` only to subtract them).

    Args:
        rewards: ``float[T]``.
        next_values: ``float[T]``, ``nv_t = V(final_observation_t)``; only the entries
            at truncations and at ``t = T - 1`` are read.
        terminated: ``bool[T]``.
        truncated: ``bool[T]``.
        gamma: scalar discount in ``[0, 1]``.

    Returns:
        ``float[T]``, ``G_t``.
    """
    next_values = jnp.asarray(next_values, rewards.dtype)
    terminated = _as_bool("terminated", terminated)
    truncated = _as_bool("truncated", truncated)
    _check_time_major(rewards, next_values, terminated, truncated)
    gamma = _check_scalar("gamma", gamma).astype(rewards.dtype)

    cut = truncated.at[-1].set(True)
    not_term = 1.0 - terminated.astype(rewards.dtype)

    def step(g_next, inputs):
        r, nv, nt, c = inputs
        future = jnp.where(c, nv, g_next)
        g = r + gamma * nt * future
        return g, g

    init = jnp.zeros((), rewards.dtype)  # never read: cut[T-1] is true
    _, returns = jax.lax.scan(
        step, init, (rewards, next_values, not_term, cut), reverse=True
    )
    return returns


def n_step_returns(
    rewards: Array,
    next_values: Array,
    terminated: Array,
    truncated: Array,
    gamma: Scalar,
    n: int,
) -> Array:
    """Fixed-horizon ``n``-step bootstrapped returns, cut at episode and rollout ends.

    Every step looks exactly ``n`` transitions ahead and bootstraps from the critic,
    unless its episode or the rollout ends first. Equation::

        G_t^(n) = sum_{k=0}^{m-1} gamma^k r_{t+k} + gamma^m * (1 - term_{t+m-1}) * nv_{t+m-1}

    where ``m = min(n, T - t, steps to the end of t's episode)`` (the episode's last
    step counts). At a termination the bootstrap term vanishes; at a truncation it
    uses the value of the final observation. ``n = 1`` gives the one-step TD target
    ``r_t + gamma (1 - term_t) nv_t``; ``n >= T`` gives ``bootstrapped_returns``.

    Cost ``O(n T)`` (``n`` is a static loop length).

    Args:
        rewards: ``float[T]``.
        next_values: ``float[T]``, ``nv_t = V(final_observation_t)``.
        terminated: ``bool[T]``.
        truncated: ``bool[T]``.
        gamma: scalar discount in ``[0, 1]``.
        n: static positive integer horizon.

    Returns:
        ``float[T]``, ``G_t^(n)``.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive (static) integer, got {n!r}")
    next_values = jnp.asarray(next_values, rewards.dtype)
    terminated = _as_bool("terminated", terminated)
    truncated = _as_bool("truncated", truncated)
    _check_time_major(rewards, next_values, terminated, truncated)
    gamma = _check_scalar("gamma", gamma).astype(rewards.dtype)

    cut = truncated.at[-1].set(True)
    discount = gamma * (1.0 - terminated.astype(rewards.dtype))
    # Horizon 1, then widen one step at a time: G^(k)_t = r_t + d_t * [G^(k-1)_{t+1}
    # unless step t ends the episode or the rollout, where it is nv_t].
    returns = rewards + discount * next_values
    for _ in range(n - 1):
        shifted = jnp.concatenate([returns[1:], jnp.zeros((1,), rewards.dtype)])
        returns = rewards + discount * jnp.where(cut, next_values, shifted)
    return returns


def gae(
    rewards: Array,
    values: Array,
    next_values: Array,
    terminated: Array,
    truncated: Array,
    gamma: Scalar,
    lam: Scalar,
) -> Array:
    """Generalised advantage estimation (Schulman et al. 2016), truncation-correct.

    Equations::

        delta_t = r_t + gamma * (1 - term_t) * nv_t - v_t
        A_t     = delta_t + gamma * lam * (1 - done_t) * A_{t+1},   A_T = 0
        done_t  = term_t or trunc_t

    ``nv_t`` is the value of the observation transition ``t`` produced, before
    auto-reset (``V(info["final_observation"][t])``), so

    * inside an episode ``nv_t = v_{t+1}`` and this is the usual GAE;
    * at a truncation (time limit) ``delta_t`` bootstraps from the final observation,
      not from the first observation of the next episode, and the recursion stops;
    * at a termination the bootstrap is zero and the recursion stops;
    * at the end of the rollout (``t = T - 1``, not done) ``nv_{T-1}`` is the usual
      bootstrap value and ``A_T = 0``.

    Value targets are ``gae(...) + values`` (the lambda-returns). ``lam = 1`` gives
    ``bootstrapped_returns - values``; ``lam = 0`` gives the one-step TD error.

    Args:
        rewards: ``float[T]``, ``r_t``.
        values: ``float[T]``, ``v_t``, the critic at the observation step ``t`` acted on.
        next_values: ``float[T]``, ``nv_t``, the critic at ``info["final_observation"][t]``.
        terminated: ``bool[T]`` (0/1 integers accepted).
        truncated: ``bool[T]`` (0/1 integers accepted).
        gamma: scalar discount in ``[0, 1]`` (may be traced).
        lam: scalar GAE lambda in ``[0, 1]`` (may be traced).

    Returns:
        ``float[T]``, the advantages ``A_t``. No gradient is stopped: callers that
        differentiate through ``values`` should pass ``jax.lax.stop_gradient`` inputs.
    """
    values = jnp.asarray(values, rewards.dtype)
    next_values = jnp.asarray(next_values, rewards.dtype)
    terminated = _as_bool("terminated", terminated)
    truncated = _as_bool("truncated", truncated)
    _check_time_major(rewards, values, next_values, terminated, truncated)
    gamma = _check_scalar("gamma", gamma).astype(rewards.dtype)
    lam = _check_scalar("lam", lam).astype(rewards.dtype)

    not_term = 1.0 - terminated.astype(rewards.dtype)
    not_done = 1.0 - jnp.logical_or(terminated, truncated).astype(rewards.dtype)
    deltas = rewards + gamma * not_term * next_values - values

    def step(a_next, inputs):
        delta, nd = inputs
        a = delta + gamma * lam * nd * a_next
        return a, a

    _, advantages = jax.lax.scan(
        step, jnp.zeros((), rewards.dtype), (deltas, not_done), reverse=True
    )
    return advantages


def standardize(x: Array, mask: Array | None = None, eps: float = 1e-8) -> Array:
    """``(x - mean) / (std + eps)`` over all entries of ``x``, or only where ``mask``.

    With a mask, the mean and (population) standard deviation are those of the
    selected entries, and unselected entries come back as 0. Any shape is
    accepted (statistics are over all axes). A constant input maps to zeros.

    Args:
        x: ``float[...]``.
        mask: optional ``bool[...]`` of ``x``'s shape.
        eps: added to the standard deviation.

    Returns:
        ``float[...]``, same shape as ``x``.
    """
    chex.assert_type(x, float)
    if mask is None:
        mean = jnp.mean(x)
        std = jnp.std(x)
        return (x - mean) / (std + eps)
    mask = _as_bool("mask", mask)
    chex.assert_equal_shape([x, mask])
    w = mask.astype(x.dtype)
    count = jnp.maximum(jnp.sum(w), 1.0)
    mean = jnp.sum(w * x) / count
    var = jnp.sum(w * (x - mean) ** 2) / count
    return jnp.where(mask, (x - mean) / (jnp.sqrt(var) + eps), 0.0)
