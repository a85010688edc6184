"""SAC and TD3 agents: one replay loop, two learners.

One update = ``collect`` (one step of ``num_envs`` environment copies: uniformly random
actions for the first ``learning_starts`` environment steps, then the learner's
exploring policy; the transitions go into the replay buffer) -> ``learn`` (every
``train_every`` updates, ``gradient_steps`` gradient steps on uniformly sampled
batches). The loop is the same for both; what a gradient step does is each learner's:

* SAC (Haarnoja et al., 2018): the critics regress on ``r + gamma (1 - terminated)
  (min_i Q'_i(s', a') - alpha log pi(a' | s'))`` with ``a' ~ pi(s')``; the policy
  minimises ``alpha log pi(a | s) - min_i Q_i(s, a)`` through a reparameterised
  ``tanh``-Gaussian draw; ``log alpha`` follows the entropy target; the target critics
  move ``tau`` of the way every step.
* TD3 (Fujimoto et al., 2018): the critics regress on ``r + gamma (1 - terminated)
  min_i Q'_i(s', clip(mu'(s') + clip(noise)))``; every ``policy_delay``-th step the
  actor climbs ``Q_1(s, mu(s))`` and the target actor and critics move ``tau``.
  DDPG is TD3 with one critic, no delay and no smoothing noise.

Termination vs truncation: the buffer keeps the observation a step produced before
auto-reset (``info["final_observation"]``) and both flags, so a time limit (Pendulum's
200 steps) bootstraps from the true last state and only termination stops it.

Keys: the state's key is split once per update into the next key and one key for each
use (exploration, environment, each gradient step, and within a step one per sample);
none is used twice. Many seeds: ``jax.jit(jax.vmap(agent.train))(keys)``; the step
counters do not depend on the key, so the warm-up, ``train_every`` and delay branches
stay real branches under ``vmap``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import struct

from jaxrl.algos.continuous import losses
from jaxrl.algos.continuous.config import OffPolicyConfig, SACConfig, TD3Config
from jaxrl.algos.continuous.networks import (
    Critic,
    DeterministicActor,
    GaussianActor,
    Spec,
    apply_critics,
    init_critics,
    spec,
)
from jaxrl.core import replay
from jaxrl.core.agent import Agent, Metrics, episode_metrics
from jaxrl.core.distributions import tanh_gaussian_sample
from jaxrl.core.networks import concrete_spaces
from jaxrl.core.schedules import clip_by_global_norm
from jaxrl.core.value_targets import clipped_double_q_target
from jaxrl.envs.core import Environment
from jaxrl.envs.wrappers import EpisodeStatistics, VecEnv

Array = jax.Array

__all__ = ["TrainState", "make_sac", "make_td3"]


@struct.dataclass
class TrainState:
    """Everything a run carries from one update to the next.

    Attributes:
        actor: the policy's parameters.
        critic: the critics' parameters, stacked on a leading ``critics`` axis.
        critic_target: the target critics (moved ``tau`` towards ``critic`` per step).
        actor_target: TD3's target actor (``None`` for SAC).
        actor_opt, critic_opt: Adam states.
        log_alpha: float32[] SAC's log temperature (0 for TD3).
        alpha_opt: the temperature's Adam state (SAC with ``autotune``; else ``None``).
        env_state: ``num_envs`` environment states (``EpisodeStatistics``-wrapped).
        obs: [num_envs, *obs_shape] current observations.
        buffer: ``replay.ReplayBuffer`` of transitions, actions on the actor's ``[-1, 1]``.
        key: PRNG key, split on every use.
        env_steps: int32[] environment steps taken by all copies.
        grad_steps: int32[] gradient steps taken.
        updates: int32[] updates taken.
    """

    actor: Any
    critic: Any
    critic_target: Any
    actor_target: Any
    actor_opt: Any
    critic_opt: Any
    log_alpha: Array
    alpha_opt: Any
    env_state: Any
    obs: Any
    buffer: replay.ReplayBuffer
    key: Array
    env_steps: Array
    grad_steps: Array
    updates: Array


def _descend(optimizer: optax.GradientTransformation, params: Any, opt_state: Any,
             grads: Any, max_norm: Array | float) -> tuple[Any, Any]:
    updates, opt_state = optimizer.update(clip_by_global_norm(grads, max_norm), opt_state, params)
    return optax.apply_updates(params, updates), opt_state


# ------------------------------------------------------------------------------ the loop
def _loop(
    c: OffPolicyConfig, env: Environment, env_params: Any, s: Spec,
    init_learner: Callable[[Array], dict[str, Any]],
    gradient_step: Callable[[TrainState, replay.NStepBatch, Array], tuple[TrainState, Metrics]],
    stat_names: tuple[str, ...],
    policy: Callable[[TrainState, Array, Array, bool], Array],
) -> Agent:
    """The replay loop around a learner; ``policy(state, obs, key, greedy)`` gives actions
    on ``[-1, 1]`` for a batch of observations (``greedy=False``: the exploring policy)."""
    venv = VecEnv(EpisodeStatistics(env), c.num_envs, reset_pool=0)
    obs_storage = replay.storage_dtype(concrete_spaces(env, env_params)[1])  # a sweep traces

    def init(key: Array) -> TrainState:
        k_learner, k_env, k_state = jax.random.split(key, 3)
        obs, env_state = venv.reset(k_env, env_params)
        example = replay.Transition(
            obs=obs[0], action=jnp.zeros((s.action_dim,), jnp.float32),
            reward=jnp.zeros((), jnp.float32), next_obs=obs[0],
            terminated=jnp.zeros((), bool), truncated=jnp.zeros((), bool),
        )
        return TrainState(
            **init_learner(k_learner), env_state=env_state, obs=obs,
            buffer=replay.init(example, c.buffer_rows, c.num_envs, obs_storage,
                               prioritized=False),
            key=k_state, env_steps=jnp.zeros((), jnp.int32),
            grad_steps=jnp.zeros((), jnp.int32), updates=jnp.zeros((), jnp.int32),
        )

    def collect(state: TrainState, key: Array) -> tuple[TrainState, Metrics]:
        k_random, k_explore, k_env = jax.random.split(key, 3)
        uniform = jax.random.uniform(k_random, (c.num_envs, s.action_dim), jnp.float32, -1.0, 1.0)
        action = jnp.where(state.env_steps < c.learning_starts, uniform,
                           policy(state, state.obs, k_explore, False))
        obs, env_state, reward, terminated, truncated, info = venv.step(
            k_env, state.env_state, s.scale.to_env(action), env_params)
        transition = replay.Transition(
            obs=state.obs, action=action, reward=reward.astype(jnp.float32),
            next_obs=info["final_observation"], terminated=terminated, truncated=truncated,
        )
        state = state.replace(env_state=env_state, obs=obs,
                              env_steps=state.env_steps + c.num_envs,
                              buffer=replay.add(state.buffer, transition))
        return state, episode_metrics(info)

    def one_step(state: TrainState, key: Array) -> tuple[TrainState, Metrics]:
        k_sample, k_step = jax.random.split(key)
        index = replay.sample_uniform(state.buffer, k_sample, c.batch_size)
        batch = replay.n_step_batch(state.buffer, index, 1, c.gamma)
        state, stats = gradient_step(state, batch, k_step)
        return state.replace(grad_steps=state.grad_steps + 1), stats

    def learn(state: TrainState, key: Array) -> tuple[TrainState, Metrics]:
        if c.gradient_steps == 1:
            return one_step(state, key)
        state, stats = jax.lax.scan(one_step, state, jax.random.split(key, c.gradient_steps))
        return state, jax.tree.map(jnp.nanmean, stats)

    def skip(state: TrainState, key: Array) -> tuple[TrainState, Metrics]:
        return state, {name: jnp.full((), jnp.nan, jnp.float32) for name in stat_names}

    def update(state: TrainState) -> tuple[TrainState, Metrics]:
        key, k_collect, k_learn = jax.random.split(state.key, 3)
        state, metrics = collect(state.replace(key=key), k_collect)
        ready = (state.env_steps >= max(c.learning_starts, 1)) & (
            state.updates % c.train_every == 0)
        state, stats = jax.lax.cond(ready, learn, skip, state, k_learn)
        state = state.replace(updates=state.updates + 1)
        return state, {"env_steps": state.env_steps, **metrics, **stats}

    def act(state: TrainState, obs: Array, key: Array, greedy: bool = True) -> Array:
        return s.scale.to_env(policy(state, jnp.asarray(obs)[None], key, greedy)[0])

    return Agent(init=init, update=update, num_updates=c.num_updates, act=act, config=c)


def _networks(config: Any, env: Environment, env_params: Any, algorithm: str,
              actor_class: type) -> tuple[Any, Spec, Any, Critic]:
    """The validated config, the env's ``Spec`` and the actor and critic for it."""
    c = config.validate()
    s = spec(env, env_params, algorithm)
    net = dict(hidden=tuple(c.hidden), act=c.activation, obs_ndim=len(s.obs_shape),
               obs_categories=s.obs_categories)
    return c, s, actor_class(action_dim=s.action_dim, **net), Critic(**net)


def _regress_critics(critic: Critic, optimizer: optax.GradientTransformation,
                     max_norm: Array | float, state: TrainState, batch: replay.NStepBatch,
                     target: Array) -> tuple[TrainState, Array, Array]:
    """One gradient step of every critic towards ``target``: the new state, the loss and
    the critics' values of the batch's actions (before the step)."""

    def q_loss(params: Any) -> tuple[Array, Array]:
        q = apply_critics(critic, params, batch.obs, batch.action)
        return losses.critic_loss(q, target), q

    (loss, q), grads = jax.value_and_grad(q_loss, has_aux=True)(state.critic)
    params, opt_state = _descend(optimizer, state.critic, state.critic_opt, grads, max_norm)
    return state.replace(critic=params, critic_opt=opt_state), loss, q


def _nothing_else(**fields: Any) -> dict[str, Any]:
    """A learner's ``TrainState`` fields with the ones it does not use set empty."""
    return {"actor_target": None, "log_alpha": jnp.zeros((), jnp.float32),
            "alpha_opt": None, **fields}


# ------------------------------------------------------------------------------- SAC
def make_sac(config: SACConfig, env: Environment, env_params: Any = None) -> Agent:
    """Build the SAC agent for ``env`` (a bounded 1-D ``Box`` action space).

    Args:
        config: a ``sac.Config``; validated here, before anything is compiled.
        env: a single environment; the agent adds ``EpisodeStatistics`` and steps
            ``config.num_envs`` copies with ``VecEnv``.
        env_params: the env's params (default: ``env.default_params``).

    Returns:
        ``jaxrl.core.agent.Agent``; ``act(state, obs, key, greedy)`` takes one unbatched
        observation and returns float32[d] on the environment's bounds (greedy: ``tanh``
        of the mean; else a draw of the policy).

    Raises:
        ValueError: a bad config, or actions that are not a bounded 1-D ``Box``.
    """
    env_params = env.default_params if env_params is None else env_params
    c, s, actor, critic = _networks(config, env, env_params, "sac", GaussianActor)
    actor_opt, critic_opt = optax.adam(c.actor_lr), optax.adam(c.critic_lr)
    alpha_opt = optax.adam(c.alpha_lr)
    target_entropy = -c.target_entropy_scale * s.action_dim

    def init_learner(key: Array) -> dict[str, Any]:
        k_actor, k_critic = jax.random.split(key)
        obs, act0 = s.dummy_obs(), jnp.zeros((1, s.action_dim), jnp.float32)
        actor_params = actor.init(k_actor, obs)
        critic_params = init_critics(critic, k_critic, c.critics, obs, act0)
        log_alpha = jnp.log(jnp.asarray(c.init_alpha, jnp.float32))
        return _nothing_else(
            actor=actor_params, critic=critic_params, critic_target=critic_params,
            actor_opt=actor_opt.init(actor_params), critic_opt=critic_opt.init(critic_params),
            log_alpha=log_alpha, alpha_opt=alpha_opt.init(log_alpha) if c.autotune else None)

    def draw(params: Any, obs: Array, key: Array) -> tuple[Array, Array]:
        mean, log_std = actor.apply(params, obs, c.log_std_min, c.log_std_max)
        return tanh_gaussian_sample(key, mean, log_std)

    def policy(state: TrainState, obs: Array, key: Array, greedy: bool) -> Array:
        if greedy:
            return jnp.tanh(actor.apply(state.actor, obs, c.log_std_min, c.log_std_max)[0])
        return draw(state.actor, obs, key)[0]

    def gradient_step(state: TrainState, batch: replay.NStepBatch,
                      key: Array) -> tuple[TrainState, Metrics]:
        k_next, k_now = jax.random.split(key)
        alpha = jnp.exp(state.log_alpha)
        next_action, next_log_prob = draw(state.actor, batch.next_obs, k_next)
        next_q = apply_critics(critic, state.critic_target, batch.next_obs, next_action)
        target = jax.vmap(clipped_double_q_target, in_axes=(0, 0, 1, 0, None))(
            batch.reward, batch.discount, next_q, next_log_prob, alpha)

        state, loss_q, q = _regress_critics(critic, critic_opt, c.max_grad_norm, state,
                                            batch, target)

        def pi_loss(params: Any) -> tuple[Array, Array]:
            action, log_prob = draw(params, batch.obs, k_now)
            q_pi = apply_critics(critic, state.critic, batch.obs, action)
            return losses.soft_actor_loss(q_pi, log_prob, alpha), log_prob

        (loss_pi, log_prob), grads = jax.value_and_grad(pi_loss, has_aux=True)(state.actor)
        actor_params, actor_state = _descend(actor_opt, state.actor, state.actor_opt, grads,
                                             c.max_grad_norm)
        log_alpha, alpha_state = state.log_alpha, state.alpha_opt
        if c.autotune:
            grad = jax.grad(losses.temperature_loss)(log_alpha, log_prob, target_entropy)
            step, alpha_state = alpha_opt.update(grad, alpha_state, log_alpha)
            log_alpha = optax.apply_updates(log_alpha, step)
        state = state.replace(
            actor=actor_params, actor_opt=actor_state, log_alpha=log_alpha,
            alpha_opt=alpha_state,
            critic_target=optax.incremental_update(state.critic, state.critic_target, c.tau),
        )
        return state, {"critic_loss": loss_q, "actor_loss": loss_pi, "q_mean": jnp.mean(q),
                       "alpha": alpha, "entropy": -jnp.mean(log_prob)}

    return _loop(c, env, env_params, s, init_learner, gradient_step,
                 ("critic_loss", "actor_loss", "q_mean", "alpha", "entropy"), policy)


# ------------------------------------------------------------------------------- TD3
def make_td3(config: TD3Config, env: Environment, env_params: Any = None) -> Agent:
    """Build the TD3 agent for ``env`` (a bounded 1-D ``Box`` action space).

    Args and raises as ``make_sac``; ``act(state, obs, key, greedy)`` returns the
    deterministic action (greedy) or it plus the exploration noise, clipped to the
    bounds.
    """
    env_params = env.default_params if env_params is None else env_params
    c, s, actor, critic = _networks(config, env, env_params, "td3", DeterministicActor)
    actor_opt, critic_opt = optax.adam(c.actor_lr), optax.adam(c.critic_lr)

    def init_learner(key: Array) -> dict[str, Any]:
        k_actor, k_critic = jax.random.split(key)
        obs, act0 = s.dummy_obs(), jnp.zeros((1, s.action_dim), jnp.float32)
        actor_params = actor.init(k_actor, obs)
        critic_params = init_critics(critic, k_critic, c.critics, obs, act0)
        return _nothing_else(
            actor=actor_params, actor_target=actor_params, critic=critic_params,
            critic_target=critic_params, actor_opt=actor_opt.init(actor_params),
            critic_opt=critic_opt.init(critic_params))

    def noisy(mu: Array, key: Array) -> Array:
        return jnp.clip(mu + c.exploration_noise * jax.random.normal(key, mu.shape), -1.0, 1.0)

    def policy(state: TrainState, obs: Array, key: Array, greedy: bool) -> Array:
        mu = actor.apply(state.actor, obs)
        return mu if greedy else noisy(mu, key)

    def gradient_step(state: TrainState, batch: replay.NStepBatch,
                      key: Array) -> tuple[TrainState, Metrics]:
        next_mu = actor.apply(state.actor_target, batch.next_obs)
        next_action = losses.smoothed_target_action(
            next_mu, jax.random.normal(key, next_mu.shape), c.target_noise, c.target_noise_clip)
        next_q = apply_critics(critic, state.critic_target, batch.next_obs, next_action)
        target = jax.vmap(clipped_double_q_target, in_axes=(0, 0, 1))(
            batch.reward, batch.discount, next_q)

        state, loss_q, q = _regress_critics(critic, critic_opt, c.max_grad_norm, state,
                                            batch, target)

        def actor_step(state: TrainState) -> tuple[TrainState, Array]:
            def pi_loss(params: Any) -> Array:
                first = jax.tree.map(lambda p: p[0], state.critic)
                return losses.deterministic_actor_loss(
                    critic.apply(first, batch.obs, actor.apply(params, batch.obs)))

            loss_pi, grads = jax.value_and_grad(pi_loss)(state.actor)
            actor_params, actor_state = _descend(actor_opt, state.actor, state.actor_opt,
                                                 grads, c.max_grad_norm)
            return state.replace(
                actor=actor_params, actor_opt=actor_state,
                actor_target=optax.incremental_update(actor_params, state.actor_target, c.tau),
                critic_target=optax.incremental_update(state.critic, state.critic_target, c.tau),
            ), loss_pi

        def wait(state: TrainState) -> tuple[TrainState, Array]:
            return state, jnp.full((), jnp.nan, jnp.float32)

        # grad_steps counts the steps before this one: step k (from 0) updates the actor
        # when (k + 1) is a multiple of the delay, after policy_delay critic steps.
        state, loss_pi = jax.lax.cond((state.grad_steps + 1) % c.policy_delay == 0,
                                      actor_step, wait, state)
        return state, {"critic_loss": loss_q, "actor_loss": loss_pi, "q_mean": jnp.mean(q)}

    return _loop(c, env, env_params, s, init_learner, gradient_step,
                 ("critic_loss", "actor_loss", "q_mean"), policy)
