"""The PQN agent: ``make`` builds one from a ``Config`` (Gallici et al., 2024).

One update = ``collect`` (``num_steps`` epsilon-greedy steps of ``num_envs`` copies, with
the network as it is) -> ``targets`` (Peng's Q(lambda) returns computed backwards over
each copy's rollout, ``jaxrl.core.value_targets.q_lambda_returns``, bootstrapping from
``max_a Q(info["final_observation"], a)``) -> ``learn`` (``epochs`` passes over the batch
in ``minibatches`` shuffled minibatches, one optimiser step each on
``0.5 * mean((Q(s, a) - G)^2)``). No replay buffer and no target network: the many
copies decorrelate the data and LayerNorm keeps the bootstrap stable.

Termination vs truncation: a terminated step bootstraps nothing; a step cut by a time
limit bootstraps from the real last observation, never from the next episode's start;
the recursion never crosses an episode's end.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import struct

from jaxrl.algos.pqn.config import Config
from jaxrl.algos.pqn.networks import q_network
from jaxrl.core.agent import Agent, Metrics, episode_metrics
from jaxrl.core.exploration import epsilon_by_step, epsilon_greedy
from jaxrl.core.rng import permutation
from jaxrl.core.schedules import learning_rate
from jaxrl.core.value_targets import q_lambda_returns
from jaxrl.envs.core import Environment
from jaxrl.envs.wrappers import EpisodeStatistics, VecEnv

Array = jax.Array

__all__ = ["Rollout", "TrainState", "make"]


@struct.dataclass
class TrainState:
    """Everything a run carries from one update to the next.

    Attributes:
        params: Q-network parameters.
        opt_state: the optimiser's state.
        env_state: ``num_envs`` environment states (``EpisodeStatistics``-wrapped).
        obs: ``[num_envs, *obs_shape]`` observations to act on next.
        key: PRNG key, split on every use.
        update_step: int32[] updates done (``update_step * batch_size`` env steps).
    """

    params: Any
    opt_state: Any
    env_state: Any
    obs: Array
    key: Array
    update_step: Array


@struct.dataclass
class Rollout:
    """One rollout, time-major ``[num_steps, num_envs, ...]``."""

    obs: Array
    action: Array
    reward: Array  # scaled by Config.reward_scale
    terminated: Array
    truncated: Array
    next_obs: Array  # info["final_observation"]: the observation each step produced
    info: dict[str, Array]


def make(config: Config, env: Environment, env_params: Any = None) -> Agent:
    """Build PQN for ``env`` (a discrete-action ``Environment``).

    Args:
        config: a ``Config``; validated here. Leaves may be traced (sweeps).
        env: a single (unbatched) environment; the agent adds ``EpisodeStatistics`` and
            steps ``config.num_envs`` copies with ``VecEnv``.
        env_params: its params (``env.default_params`` when None).

    Returns:
        ``jaxrl.core.agent.Agent``; ``act(state, obs, key, greedy)`` takes one unbatched
        observation (epsilon-greedy at the state's current rate unless ``greedy``).
        Metrics per update: ``env_steps``, ``episode_return``, ``episodes``, ``loss``
        (the mean squared-error loss of the update's minibatches), ``q_mean`` (mean
        ``Q(s, a)`` of the actions taken), ``epsilon``, ``lr``.

    Raises:
        ValueError: a bad config or a non-discrete action space.
    """
    if not isinstance(config, Config):
        raise TypeError(f"pqn.make needs a pqn.Config, got {type(config).__name__}")
    config.validate()
    if env_params is None:
        env_params = env.default_params
    c = config
    network = q_network(c, env, env_params)
    venv = VecEnv(EpisodeStatistics(env), c.num_envs, reset_pool=0)
    num_updates = c.num_updates
    steps_per_update = c.epochs * c.minibatches

    lr_at = learning_rate(c.lr, c.anneal_lr, num_updates, steps_per_decay=steps_per_update,
                          schedule=True)
    scale = optax.scale_by_radam if c.optimizer == "radam" else optax.scale_by_adam
    optimizer = optax.chain(
        optax.clip_by_global_norm(c.max_grad_norm),
        scale(eps=c.adam_eps),
        optax.scale_by_schedule(lambda count: -lr_at(count)),
    )

    def epsilon(env_steps: Array) -> Array:
        return epsilon_by_step(c.epsilon_schedule, env_steps, c.epsilon_start, c.epsilon_end,
                               c.epsilon_decay_steps)

    def q_values(params: Any, obs: Array) -> Array:
        return network.apply(params, obs)

    # ----------------------------------------------------------------------------- init
    def init(key: Array) -> TrainState:
        k_net, k_env, k_next = jax.random.split(key, 3)
        obs, env_state = venv.reset(k_env, env_params)
        params = network.init(k_net, obs[:1])
        return TrainState(
            params=params, opt_state=optimizer.init(params), env_state=env_state, obs=obs,
            key=k_next, update_step=jnp.zeros((), jnp.int32),
        )

    # ----------------------------------------------------------------------------- collect
    def collect(state: TrainState, key: Array, eps: Array) -> tuple[TrainState, Rollout]:
        def step(carry, keys):
            env_state, obs = carry
            k_explore, k_env = keys
            action = epsilon_greedy(k_explore, q_values(state.params, obs), eps)
            next_obs, env_state, reward, term, trunc, info = venv.step(
                k_env, env_state, action, env_params)
            transition = Rollout(
                obs, action, c.reward_scale * jnp.asarray(reward, jnp.float32), term, trunc,
                info["final_observation"],
                {k: info[k] for k in ("episode_return", "episode_length", "episode_done")},
            )
            return (env_state, next_obs), transition

        # The rollout's keys in two batched draws, not one split per step.
        k_explore, k_env = jax.random.split(key)
        keys = (jax.random.split(k_explore, c.num_steps), jax.random.split(k_env, c.num_steps))
        (env_state, obs), rollout = jax.lax.scan(step, (state.env_state, state.obs), keys)
        return state.replace(env_state=env_state, obs=obs), rollout

    # ----------------------------------------------------------------------------- targets
    def targets(params: Any, rollout: Rollout) -> Array:
        """float32[T, N] Q(lambda) targets, bootstrapping from the network as it collected."""
        next_q = jnp.max(q_values(params, rollout.next_obs), axis=-1)  # [T, N]
        return jax.vmap(q_lambda_returns, in_axes=(1, 1, 1, 1, None, None), out_axes=1)(
            rollout.reward, next_q, rollout.terminated, rollout.truncated, c.gamma, c.q_lambda)

    # ----------------------------------------------------------------------------- learn
    def loss_fn(params: Any, obs: Array, action: Array, target: Array) -> tuple[Array, Array]:
        q = q_values(params, obs)
        q_taken = jnp.take_along_axis(q, action[:, None], axis=-1)[:, 0]
        return 0.5 * jnp.mean(jnp.square(q_taken - target)), jnp.mean(q_taken)

    grad_fn = jax.value_and_grad(loss_fn, has_aux=True)

    def learn(state: TrainState, batch: tuple[Array, Array, Array],
              key: Array) -> tuple[TrainState, tuple[Array, Array]]:
        def epoch(carry, perm):
            shuffled = jax.tree.map(
                lambda x: x[perm].reshape((c.minibatches, c.minibatch_size, *x.shape[1:])), batch)

            def minibatch(carry, mb):
                params, opt_state = carry
                (loss, q_mean), grads = grad_fn(params, *mb)
                updates, opt_state = optimizer.update(grads, opt_state, params)
                return (optax.apply_updates(params, updates), opt_state), (loss, q_mean)

            return jax.lax.scan(minibatch, carry, shuffled)

        perms = jax.vmap(lambda k: permutation(k, c.batch_size))(jax.random.split(key, c.epochs))
        (params, opt_state), (loss, q_mean) = jax.lax.scan(
            epoch, (state.params, state.opt_state), perms)
        return state.replace(params=params, opt_state=opt_state), (jnp.mean(loss), jnp.mean(q_mean))

    # ----------------------------------------------------------------------------- update
    def update(state: TrainState) -> tuple[TrainState, Metrics]:
        key, k_collect, k_learn = jax.random.split(state.key, 3)
        eps = epsilon(state.update_step * c.batch_size)
        lr_now = lr_at(state.update_step * steps_per_update)
        state, rollout = collect(state.replace(key=key), k_collect, eps)
        g = targets(state.params, rollout)
        flat = lambda x: x.reshape((c.batch_size, *x.shape[2:]))  # noqa: E731
        state, (loss, q_mean) = learn(
            state, (flat(rollout.obs), flat(rollout.action), flat(g)), k_learn)
        step = state.update_step + 1
        metrics: Metrics = {
            "env_steps": step * c.batch_size,
            **episode_metrics(rollout.info),
            "loss": loss,
            "q_mean": q_mean,
            "epsilon": eps,
            "lr": jnp.asarray(lr_now, jnp.float32),
        }
        return state.replace(update_step=step), metrics

    # ----------------------------------------------------------------------------- act
    def act(state: TrainState, obs: Array, key: Array, greedy: bool = True) -> Array:
        q = q_values(state.params, jnp.asarray(obs)[None])[0]
        if greedy:
            return jnp.argmax(q).astype(jnp.int32)
        return epsilon_greedy(key, q, epsilon(state.update_step * c.batch_size))

    def values(state: TrainState, obs: Array) -> Array:
        return q_values(state.params, jnp.asarray(obs)[None])[0]

    return Agent(init=init, update=update, num_updates=num_updates, act=act, config=config,
                 values=values)
