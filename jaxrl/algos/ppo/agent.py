"""The PPO agent: ``make`` builds one from a ``Config`` (Schulman et al., 2017).

One update = ``collect`` (``num_steps`` steps of ``num_envs`` copies) ->
``compute_targets`` (truncation-correct GAE from ``jaxrl.core.returns.gae``) ->
``learn`` (``epochs`` passes over the batch in ``minibatches`` shuffled minibatches,
one Adam step each on the clipped surrogate + clipped value loss - entropy bonus,
``jaxrl.algos.ppo.losses``).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import struct

from jaxrl.algos import curiosity
from jaxrl.algos.ppo.config import Config
from jaxrl.algos.ppo.losses import (
    LossTerms,
    categorical_entropy,
    categorical_log_prob,
    clipped_surrogate_loss,
    clipped_value_loss,
    gaussian_entropy,
    gaussian_log_prob,
    squared_value_loss,
)
from jaxrl.algos.ppo.networks import Params, networks
from jaxrl.core.agent import Agent, Metrics, episode_metrics
from jaxrl.core.returns import gae
from jaxrl.core.rng import permutation
from jaxrl.core.running_stats import RunningStats
from jaxrl.core.schedules import learning_rate
from jaxrl.envs.core import Environment
from jaxrl.envs.wrappers import EpisodeStatistics, VecEnv

Array = jax.Array

__all__ = ["Batch", "Rollout", "TrainState", "make"]


@struct.dataclass
class TrainState:
    """Everything a run carries from one update to the next."""

    params: Params
    opt_state: optax.OptState
    env_state: Any  # VecEnv state, leading axis num_envs
    obs: Array  # float32[num_envs, *obs_shape], raw observations to act on next
    obs_stats: RunningStats
    key: Array
    update_step: Array  # int32[], updates done
    curiosity: Any = None  # jaxrl.algos.curiosity.CuriosityState (with Config.curiosity.kind)
    exploration: Any = None  # jaxrl.algos.curiosity.ExplorationState (visit counts), if any


@struct.dataclass
class Rollout:
    """One rollout, time-major ``[num_steps, num_envs, ...]``; observations as the nets see them."""

    obs: Array
    action: Array
    log_prob: Array
    reward: Array
    terminated: Array
    truncated: Array
    next_obs: Array  # info["final_observation"], normalised like obs
    info: dict[str, Array]
    raw_obs: Array | None = None  # the unnormalised obs, kept only with normalize_obs


@struct.dataclass
class Batch:
    """Flat training samples ``[B, ...]`` for the loss."""

    obs: Array
    action: Array
    log_prob: Array
    value: Array
    advantage: Array
    target: Array
    next_obs: Array | None = None  # s' of each transition, for curiosity only
    int_target: Array | None = None  # intrinsic lambda-returns, with intrinsic_critic only



def make(config: Config, env: Environment, env_params: Any = None) -> Agent:
    """Build PPO for ``env``: ``Agent.train(key) -> (TrainState, metrics)``.

    Args:
        config: a ``Config``; leaves may be traced (sweeps), static fields must be concrete.
        env: a single (unbatched) environment with a ``Discrete`` or 1-D ``Box`` action
            space and a ``Box`` or ``Discrete`` (one-hot encoded) observation space.
        env_params: its params (``env.default_params`` when None).

    Returns:
        ``jaxrl.core.agent.Agent``. Metrics per update: ``env_steps``, ``episode_return``,
        ``episodes``, ``policy_loss``, ``value_loss``, ``entropy``, ``approx_kl``,
        ``clip_fraction``, ``lr`` (the learning rate used by the update's last step).
        With curiosity: ``intrinsic_reward`` (mean bonus), ``forward_loss`` and
        ``inverse_loss`` (ICM) or ``rnd_loss``; with curiosity or ``exploration_metrics``:
        ``best_return`` and, where ``jaxrl.algos.curiosity.coverage`` maps the observations to
        cells, ``visited_cells``, ``rollout_cells`` (and ``furthest_position``).
    """
    if not isinstance(config, Config):
        raise TypeError(f"ppo.make needs a ppo.Config, got {type(config).__name__}")
    config.validate()
    if env_params is None:
        env_params = env.default_params
    cfg = config

    nets = networks(cfg, env, env_params)
    actor, critic, discrete, act_dim = nets.actor, nets.critic, nets.discrete, nets.act_dim
    low, high = nets.low, nets.high
    obs_shape = nets.obs_shape
    # Box observations travel as float32; Discrete ones (state indices) as int32.
    obs_dtype = jnp.int32 if nets.obs_categories else jnp.float32

    vec_env = VecEnv(EpisodeStatistics(env), cfg.num_envs, reset_pool=0)
    # Curiosity (jaxrl.algos.curiosity): a bonus on the rollout's rewards and its loss beside
    # PPO's in every minibatch. None: plain PPO, the same program as without the option.
    curious = curiosity.from_config(cfg, env, env_params, "ppo")
    explore = cfg.exploration_metrics or curious is not None
    cover = curiosity.coverage(env, env_params) if explore else None
    num_updates = cfg.num_updates
    steps_per_update = cfg.epochs * cfg.minibatches

    # One decay per update (epochs * minibatches optimiser steps).
    lr_at = learning_rate(
        cfg.lr, cfg.anneal_lr, num_updates, steps_per_decay=steps_per_update, schedule=True
    )
    optimizer = optax.chain(
        optax.clip_by_global_norm(cfg.max_grad_norm),
        optax.scale_by_adam(eps=cfg.adam_eps),
        optax.scale_by_schedule(lambda count: -lr_at(count)),
    )

    def prep(obs: Array, stats: RunningStats) -> Array:
        obs = jnp.asarray(obs, obs_dtype)
        return stats.normalize(obs) if cfg.normalize_obs else obs

    def policy(params: Params, obs: Array) -> Array:
        """Logits ``[..., n]`` or Gaussian means ``[..., d]``."""
        return actor.apply(params.actor, obs)

    def value(params: Params, obs: Array) -> Array:
        return critic.apply(params.critic, obs)[..., 0]

    def noise(key: Array, batch_shape: tuple[int, ...]) -> Array:
        """The policy's randomness for ``batch_shape`` draws: Gumbel (discrete) or normal."""
        shape = (*batch_shape, act_dim)
        return jax.random.gumbel(key, shape) if discrete else jax.random.normal(key, shape)

    def sample(params: Params, obs: Array, eps: Array) -> tuple[Array, Array]:
        """Action and its log-probability for a batch ``obs [N, ...]`` given ``noise``.

        Discrete: ``argmax(logits + Gumbel)`` (exactly a categorical draw); continuous:
        ``mean + std * N(0, 1)``.
        """
        out = policy(params, obs)
        if discrete:
            action = jnp.argmax(out + eps, axis=-1)
            return action, categorical_log_prob(out, action)
        action = out + jnp.exp(params.log_std) * eps
        return action, gaussian_log_prob(out, params.log_std, action)

    def to_env(action: Array) -> Array:
        return action if discrete else jnp.clip(action, low, high)

    # ------------------------------------------------------------------ init
    def init(key: Array) -> TrainState:
        k_actor, k_critic, k_env, k_next = jax.random.split(key, 4)
        dummy = jnp.zeros((1, *obs_shape), obs_dtype)
        log_std = (
            jnp.zeros((0,), jnp.float32)
            if discrete
            else jnp.full((act_dim,), cfg.init_log_std, jnp.float32)
        )
        params = Params(actor.init(k_actor, dummy), critic.init(k_critic, dummy), log_std)
        obs, env_state = vec_env.reset(k_env, env_params)
        extras = {}
        if curious is not None:  # its own key: plain PPO's draws stay as they were
            k_next, k_cur = jax.random.split(k_next)
            extras["curiosity"] = curious.init(k_cur)
        if cover is not None:
            extras["exploration"] = curiosity.ExplorationState.create(cover.num_cells)
        return TrainState(
            params=params,
            opt_state=optimizer.init(params),
            env_state=env_state,
            obs=jnp.asarray(obs, obs_dtype),
            obs_stats=RunningStats.create(obs_shape),
            key=k_next,
            update_step=jnp.zeros((), jnp.int32),
            **extras,
        )

    # ------------------------------------------------------------------ collect
    def collect(state: TrainState, key: Array) -> tuple[TrainState, Rollout]:
        stats = state.obs_stats

        def step(carry, inputs):
            env_state, obs = carry
            k_env, eps = inputs
            net_obs = prep(obs, stats)
            action, log_prob = sample(state.params, net_obs, eps)
            next_obs, env_state, reward, term, trunc, info = vec_env.step(
                k_env, env_state, to_env(action), env_params
            )
            final = prep(info.pop("final_observation"), stats)
            ep_info = {k_: info[k_] for k_ in ("episode_return", "episode_length", "episode_done")}
            transition = Rollout(
                net_obs, action, log_prob, cfg.reward_scale * jnp.asarray(reward, jnp.float32),
                term, trunc, final, ep_info, obs if cfg.normalize_obs else None,
            )
            return (env_state, jnp.asarray(next_obs, obs_dtype)), transition

        # All of the rollout's policy noise and step keys are drawn up front, in two
        # batched calls: on CPU each random draw inside the loop costs more than the
        # CartPole transition itself.
        k_env, k_noise = jax.random.split(key)
        inputs = (
            jax.random.split(k_env, cfg.num_steps),
            noise(k_noise, (cfg.num_steps, cfg.num_envs)),
        )
        (env_state, obs), rollout = jax.lax.scan(step, (state.env_state, state.obs), inputs)
        return state.replace(env_state=env_state, obs=obs), rollout

    # ------------------------------------------------------------------ targets
    def compute_targets(params: Params, rollout: Rollout) -> Batch:
        values = value(params, rollout.obs)  # [T, N]
        next_values = value(params, rollout.next_obs)  # [T, N]
        advantages = jax.vmap(gae, in_axes=(1, 1, 1, 1, 1, None, None), out_axes=1)(
            rollout.reward, values, next_values, rollout.terminated, rollout.truncated,
            cfg.gamma, cfg.gae_lambda,
        )
        flat = lambda x: x.reshape((cfg.batch_size, *x.shape[2:]))
        return Batch(
            obs=flat(rollout.obs),
            action=flat(rollout.action),
            log_prob=flat(rollout.log_prob),
            value=flat(values),
            advantage=flat(advantages),
            target=flat(advantages + values),
            next_obs=flat(rollout.next_obs) if curious is not None else None,
        )

    # ------------------------------------------------------------------ learn
    def loss_fn(params: Params, mb: Batch) -> tuple[Array, LossTerms]:
        out = policy(params, mb.obs)
        if discrete:
            log_prob = categorical_log_prob(out, mb.action)
            entropy = jnp.mean(categorical_entropy(out))
        else:
            log_prob = gaussian_log_prob(out, params.log_std, mb.action)
            entropy = gaussian_entropy(params.log_std)
        adv = mb.advantage
        if cfg.normalize_advantages:
            adv = (adv - jnp.mean(adv)) / (jnp.std(adv) + 1e-8)
        policy_loss = clipped_surrogate_loss(log_prob, mb.log_prob, adv, cfg.clip_eps)
        v = value(params, mb.obs)
        if cfg.clip_value:
            value_loss = clipped_value_loss(v, mb.value, mb.target, cfg.vf_clip_eps)
        else:
            value_loss = squared_value_loss(v, mb.target)
        total = policy_loss + cfg.vf_coef * value_loss - cfg.ent_coef * entropy
        log_ratio = log_prob - mb.log_prob
        ratio = jnp.exp(log_ratio)
        terms = LossTerms(
            total=total,
            policy_loss=policy_loss,
            value_loss=value_loss,
            entropy=entropy,
            approx_kl=jax.lax.stop_gradient(jnp.mean((ratio - 1.0) - log_ratio)),
            clip_fraction=jax.lax.stop_gradient(
                jnp.mean((jnp.abs(ratio - 1.0) > cfg.clip_eps).astype(jnp.float32))
            ),
        )
        return total, terms

    grad_fn = jax.grad(loss_fn, has_aux=True)

    def learn(state: TrainState, batch: Batch, key: Array) -> tuple[TrainState, LossTerms]:
        def epoch(carry, perm):
            shuffled = jax.tree.map(
                lambda x: x[perm].reshape((cfg.minibatches, cfg.minibatch_size, *x.shape[1:])),
                batch,
            )

            def minibatch(carry, mb):
                params, opt_state, cur = carry
                if cur is None:
                    grads, terms = grad_fn(params, mb)
                else:  # the book's lambda * L_ppo + L_curiosity, each half its own optimiser
                    extra_in = () if mb.int_target is None else (mb.int_target,)
                    grads, cur, terms = curious.joint_step(
                        loss_fn, params, mb, cur, (mb.obs, mb.action, mb.next_obs, *extra_in))
                updates, opt_state = optimizer.update(grads, opt_state, params)
                return (optax.apply_updates(params, updates), opt_state, cur), terms

            return jax.lax.scan(minibatch, carry, shuffled)

        # Every epoch's shuffle in one batched draw (fewer small ops inside the loop);
        # jaxrl.core.rng.permutation is a single-operand sort, several times cheaper on CPU.
        perms = jax.vmap(lambda k: permutation(k, cfg.batch_size))(
            jax.random.split(key, cfg.epochs)
        )
        (params, opt_state, cur), terms = jax.lax.scan(
            epoch, (state.params, state.opt_state, state.curiosity), perms)
        mean_terms = jax.tree.map(jnp.mean, terms)
        return state.replace(params=params, opt_state=opt_state, curiosity=cur), mean_terms

    # ------------------------------------------------------------------ update
    def update(state: TrainState) -> tuple[TrainState, Metrics]:
        key, k_collect, k_learn = jax.random.split(state.key, 3)
        lr_now = lr_at(state.update_step * steps_per_update)
        state, rollout = collect(state.replace(key=key), k_collect)
        extra: Metrics = {}
        if curious is not None:  # the bonus from the module as it was while collecting
            bonus, cur = curious.intrinsic_reward(
                state.curiosity, rollout.obs, rollout.action, rollout.next_obs)
            own = cfg.curiosity.intrinsic_critic  # the bonus gets its own critic and GAE below
            rollout = rollout.replace(
                reward=cfg.curiosity.extrinsic_coef * rollout.reward + (0.0 if own else bonus))
            state = state.replace(curiosity=cur)
            extra["intrinsic_reward"] = jnp.mean(bonus)
        if explore:
            raw = rollout.raw_obs if cfg.normalize_obs else rollout.obs
            visits, found = curiosity.exploration_metrics(cover, state.exploration, raw,
                                                          rollout.info)
            state = state.replace(exploration=visits)
            extra.update(found)
        batch = compute_targets(state.params, rollout)
        if curious is not None and cfg.curiosity.intrinsic_critic:
            # Non-episodic: the bonus's returns run on through episode ends (no cut, no
            # reset), bootstrapping from V_int of the transition's own s'.
            v_int = curious.intrinsic_value(state.curiosity, rollout.obs)  # [T, N]
            nv_int = curious.intrinsic_value(state.curiosity, rollout.next_obs)
            a_int = curiosity.non_episodic_gae(bonus, v_int, nv_int,
                                               cfg.curiosity.intrinsic_gamma, cfg.gae_lambda)
            batch = batch.replace(advantage=batch.advantage + a_int.reshape(-1),
                                  int_target=(a_int + v_int).reshape(-1))
        state, terms = learn(state, batch, k_learn)
        if curious is not None:
            terms, cur_terms = terms
            extra.update(cur_terms)
        if cfg.normalize_obs:
            raw = jnp.reshape(rollout.raw_obs, (-1, *obs_shape))
            state = state.replace(obs_stats=state.obs_stats.update(raw))
        step = state.update_step + 1
        metrics: Metrics = {
            "env_steps": step * cfg.batch_size,
            **episode_metrics(rollout.info),
            "policy_loss": terms.policy_loss,
            "value_loss": terms.value_loss,
            "entropy": terms.entropy,
            "approx_kl": terms.approx_kl,
            "clip_fraction": terms.clip_fraction,
            "lr": jnp.asarray(lr_now, jnp.float32),
            **extra,
        }
        return state.replace(update_step=step), metrics

    # ------------------------------------------------------------------ act
    def act(state: TrainState, obs: Array, key: Array, greedy: bool = False) -> Array:
        """Action for one unbatched observation (greedy: argmax / Gaussian mean)."""
        net_obs = prep(jnp.asarray(obs)[None], state.obs_stats)
        out = policy(state.params, net_obs)
        if greedy:
            action = jnp.argmax(out, axis=-1) if discrete else out
        else:
            action, _ = sample(state.params, net_obs, noise(key, (1,)))
        return to_env(action[0])

    return Agent(init=init, update=update, num_updates=num_updates, act=act, config=config)

