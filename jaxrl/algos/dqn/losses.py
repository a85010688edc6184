"""DQN's losses, chosen by ``Config.distribution``: the TD loss of one value per action
(``"none"``), C51's cross-entropy to the projected target (``"categorical"``) or QR-DQN's
quantile Huber loss (``"quantile"``); the maths is in ``jaxrl.core.value_targets``.

Every head shares the network roles: the online network at the sampled state, the
target network (or the online one with ``target="none"``) at the next state, and with
``double`` the online network's (expected) values pick the next action. A distribution's
actions are greedy by its expected value (``expected_values``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxrl.algos.dqn.config import Config
from jaxrl.core import replay, value_targets

Array = jax.Array

__all__ = ["LossFn", "categorical_support", "expected_values", "loss_function"]

#: ``loss(params, target_params, batch, weight) -> (loss, (td, q_taken, priority))``:
#: ``td`` the (mean) TD errors, ``q_taken`` the (expected) values of the sampled actions,
#: ``priority`` what prioritised replay ranks each transition by.
LossFn = Callable[[Any, Any, replay.NStepBatch, Array], tuple[Array, tuple[Array, Array, Array]]]


def categorical_support(config: Config) -> Array | None:
    """C51's atoms, ``float32[num_atoms]`` evenly on ``[v_min, v_max]`` (None for the
    other heads)."""
    if config.distribution == "categorical":
        return jnp.linspace(config.v_min, config.v_max, config.num_atoms, dtype=jnp.float32)
    return None


def expected_values(config: Config, support: Array | None, out: Array) -> Array:
    """The network's output -> ``float32[..., num_actions]`` (expected) values: C51's
    probabilities' mean on ``support``, QR-DQN's quantiles' mean, or the values as they are."""
    if config.distribution == "categorical":
        return value_targets.categorical_expectation(support, jax.nn.softmax(out))
    if config.distribution == "quantile":
        return jnp.mean(out, axis=-1)
    return out


def loss_function(config: Config, network: nn.Module, support: Array | None) -> LossFn:
    """The loss ``Config.distribution`` asks for, on ``network`` (``support``: C51's atoms,
    ``categorical_support``)."""
    c = config

    def q_values(params: Any, obs: Array) -> Array:
        return expected_values(c, support, network.apply(params, obs))

    def td_loss(params, target_params, batch: replay.NStepBatch, weight: Array):
        """One value per action: ``Config.loss`` (Huber or squared) of the TD error."""
        # Two calls, not one on the concatenated batch: a joint call makes the backward
        # pass run over both halves, although the next-observation half has no gradient.
        q_tm1 = q_values(params, batch.obs)
        if c.double or c.target == "none":
            q_t_online = q_values(jax.lax.stop_gradient(params), batch.next_obs)
        q_t_target = q_t_online if c.target == "none" else q_values(target_params, batch.next_obs)
        if c.double:
            target = jax.vmap(value_targets.double_q_learning_target)(
                batch.reward, batch.discount, q_t_target, q_t_online
            )
        else:
            target = jax.vmap(value_targets.q_learning_target)(
                batch.reward, batch.discount, q_t_target
            )
        q_taken = jnp.take_along_axis(q_tm1, batch.action[:, None], axis=-1)[:, 0]
        td = target - q_taken
        loss = value_targets.td_loss(td, weight, c.loss, c.huber_delta)
        return loss, (td, q_taken, td)

    if c.distribution == "none":
        return td_loss
    if c.distribution == "quantile":
        tau = value_targets.quantile_midpoints(c.num_quantiles)

    def distributional_loss(params, target_params, batch: replay.NStepBatch, weight: Array):
        """C51's cross-entropy or QR-DQN's quantile Huber loss."""
        out_tm1 = network.apply(params, batch.obs)
        if c.double or c.target == "none":
            out_t_online = network.apply(jax.lax.stop_gradient(params), batch.next_obs)
        if c.target == "none":
            out_t_target = out_t_online
        else:
            out_t_target = network.apply(target_params, batch.next_obs)
        selector = expected_values(c, support, out_t_online if c.double else out_t_target)
        out_taken = jnp.take_along_axis(out_tm1, batch.action[:, None, None], axis=1)[:, 0]
        if c.distribution == "categorical":
            target = jax.vmap(value_targets.categorical_q_learning_target,
                              in_axes=(0, 0, None, 0, 0))(
                batch.reward, batch.discount, support, jax.nn.softmax(out_t_target), selector
            )
            per_sample = jax.vmap(value_targets.categorical_cross_entropy)(out_taken, target)
            q_taken = value_targets.categorical_expectation(support, jax.nn.softmax(out_taken))
            target_mean = value_targets.categorical_expectation(support, target)
        else:
            target = jax.vmap(value_targets.quantile_q_learning_target)(
                batch.reward, batch.discount, out_t_target, selector
            )
            per_sample = jax.vmap(value_targets.quantile_huber_loss, in_axes=(0, 0, None, None))(
                out_taken, target, tau, c.kappa
            )
            q_taken = jnp.mean(out_taken, axis=-1)
            target_mean = jnp.mean(target, axis=-1)
        loss = jnp.mean(weight * per_sample)
        td = jax.lax.stop_gradient(target_mean - q_taken)
        # Prioritised replay ranks transitions by their own loss (Hessel et al., 2018 use
        # C51's KL, which differs from the cross-entropy by the target's entropy).
        return loss, (td, q_taken, jax.lax.stop_gradient(per_sample))

    return distributional_loss
