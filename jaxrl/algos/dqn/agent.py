"""The DQN agent: ``make`` builds one from a ``Config`` (plain, C51 or QR-DQN heads).

One update = ``collect`` (one epsilon-greedy step of ``num_envs`` environment copies,
whose ``num_envs`` transitions go into one replay buffer) -> ``learn`` (after
``learning_starts`` environment steps, every ``train_every`` updates,
``gradient_steps`` gradient steps on sampled batches, each followed by the target
network update). The network is ``jaxrl.algos.dqn.networks``'s, the loss
``jaxrl.algos.dqn.losses``'s.

Termination vs truncation: every stored transition keeps the observation the step
produced before auto-reset (``info["final_observation"]``) and the two flags, so a
time-limit cut bootstraps from the true last state and only termination zeroes the
bootstrap (``jaxrl.core.value_targets``).

Training many seeds: ``jax.jit(jax.vmap(agent.train))(keys)``. The step counters in
the training state do not depend on the key, so under ``vmap`` they stay unbatched
and the warm-up / ``train_every`` / hard-copy branches remain real branches.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import struct

from jaxrl.algos import curiosity
from jaxrl.algos.dqn import losses
from jaxrl.algos.dqn.config import Config
from jaxrl.algos.dqn.networks import init_params, q_network
from jaxrl.core import replay
from jaxrl.core.agent import Agent, Metrics, episode_metrics
from jaxrl.core.exploration import epsilon_by_step, epsilon_greedy
from jaxrl.core.schedules import clip_by_global_norm, learning_rate
from jaxrl.envs.core import Environment
from jaxrl.envs.wrappers import EpisodeStatistics, VecEnv

Array = jax.Array

__all__ = [
    "DistributionalAgent", "LearnStats", "ReturnDistribution", "TrainState",
    "epsilon_by_step", "epsilon_greedy", "make",
]


# --------------------------------------------------------------------------------- state
@struct.dataclass
class TrainState:
    """Everything a run carries from one update to the next.

    Attributes:
        params: online Q-network parameters.
        target_params: target-network parameters (a copy of ``params`` when unused).
        opt_state: Adam state.
        env_state: ``num_envs`` environment states (``EpisodeStatistics``-wrapped).
        obs: [num_envs, *obs_shape] current observations, as the env returns them.
        buffer: ``replay.ReplayBuffer`` (one row when ``replay="none"``); observations
            stored in ``replay.storage_dtype`` of the observation space.
        key: PRNG key, split on every use.
        env_steps: int32[] environment steps taken by all copies.
        grad_steps: int32[] gradient steps taken.
        updates: int32[] updates taken.
    """

    params: Any
    target_params: Any
    opt_state: Any
    env_state: Any
    obs: Any
    buffer: replay.ReplayBuffer
    key: Array
    env_steps: Array
    grad_steps: Array
    updates: Array
    curiosity: Any = None  # jaxrl.algos.curiosity.CuriosityState (with Config.curiosity.kind)
    exploration: Any = None  # jaxrl.algos.curiosity.ExplorationState (visit counts), with curiosity


@struct.dataclass
class ReturnDistribution:
    """The learned return distribution of every action at one state, for pictures.

    Attributes:
        atoms: float32[num_actions, n] returns: C51's support (the same row for every
            action), QR-DQN's quantiles (ascending once trained, not forced).
        probs: float32[num_actions, n] the probability of each atom (QR-DQN: ``1 / n``).
        kind: ``"categorical"`` or ``"quantile"`` (static).
    """

    atoms: Array
    probs: Array
    kind: str = struct.field(pytree_node=False, default="categorical")

    @property
    def mean(self) -> Array:
        """float32[num_actions] expected returns (the values actions are greedy by)."""
        return jnp.sum(self.atoms * self.probs, axis=-1)


@dataclasses.dataclass(frozen=True)
class DistributionalAgent(Agent):
    """A DQN ``Agent`` that learns return distributions (``distribution != "none"``).

    Attributes:
        distribution: ``(state, obs) -> ReturnDistribution`` for one unbatched
            observation; ``values(state, obs)`` is its ``mean``.
    """

    distribution: Callable[[Any, Any], ReturnDistribution] | None = None


@struct.dataclass
class LearnStats:
    loss: Array  # float32[] mean loss of the phase
    q_mean: Array  # float32[] mean Q(s, a) of the sampled actions
    td_abs: Array  # float32[] mean |td error|



# --------------------------------------------------------------------------------- make
def make(config: Config, env: Environment, env_params: Any = None) -> Agent:
    """Build the DQN agent for ``env`` (a discrete-action ``Environment``).

    Args:
        config: a ``Config``; validated here.
        env: an unwrapped or wrapped single environment; the agent adds
            ``EpisodeStatistics`` and steps ``config.num_envs`` copies with ``VecEnv``.
        env_params: the env's params (default: ``env.default_params``).

    Returns:
        ``jaxrl.core.agent.Agent``; its ``act(state, obs, key, greedy)`` takes one
        unbatched observation and returns an int32[] action (epsilon-greedy at the
        state's current epsilon unless ``greedy``).

    Raises:
        ValueError: a bad config or a non-discrete action space.
    """
    config.validate()
    if env_params is None:
        env_params = env.default_params
    network = q_network(config, env, env_params)
    venv = VecEnv(EpisodeStatistics(env), config.num_envs, reset_pool=0)
    # Observations sit in the buffer in the narrowest exact dtype (bool for MinAtar's
    # 0/1 planes; float observations stay float32) and are sampled back as they came.
    obs_storage = replay.storage_dtype(env.observation_space(env_params))
    c = config
    num_updates = c.num_updates
    online = c.replay == "none"
    batch_size = c.num_envs if online else c.batch_size
    rows = 1 if online else c.buffer_rows

    # The schedule counts gradient steps: about num_updates * gradient_steps / train_every.
    lr_schedule = learning_rate(
        c.lr, c.anneal_lr, max(num_updates * c.gradient_steps // c.train_every, 1), schedule=True
    )
    optimizer = optax.adam(lr_schedule, eps=c.adam_eps)

    def epsilon(env_steps: Array) -> Array:
        return epsilon_by_step(
            c.epsilon_schedule, env_steps, c.epsilon_start, c.epsilon_end, c.epsilon_decay_steps
        )

    distributional = c.distribution != "none"
    support = losses.categorical_support(c)  # C51's atoms (None for the other heads)
    loss_fn = losses.loss_function(c, network, support)

    def q_values(params: Any, obs: Array) -> Array:
        """float32[..., num_actions] (expected) values."""
        return losses.expected_values(c, support, network.apply(params, obs))

    # Curiosity (jaxrl.algos.curiosity): None is plain DQN, the same program as without it.
    curious = curiosity.from_config(c, env, env_params, "dqn")
    cover = curiosity.coverage(env, env_params) if curious is not None else None

    # ----------------------------------------------------------------------------- init
    def init(key: Array) -> TrainState:
        k_net, k_env, k_state = jax.random.split(key, 3)
        obs, env_state = venv.reset(k_env, env_params)
        params = init_params(network, k_net, obs[:1])
        example = replay.Transition(
            obs=obs[0], action=jnp.zeros((), jnp.int32), reward=jnp.zeros((), jnp.float32),
            next_obs=obs[0], terminated=jnp.zeros((), bool), truncated=jnp.zeros((), bool),
        )
        k_state, extras = curious_init(k_state)
        return TrainState(
            params=params,
            target_params=params,
            opt_state=optimizer.init(params),
            env_state=env_state,
            obs=obs,
            buffer=replay.init(example, rows, c.num_envs, obs_storage,
                               prioritized=c.replay == "prioritized"),
            key=k_state,
            env_steps=jnp.zeros((), jnp.int32),
            grad_steps=jnp.zeros((), jnp.int32),
            updates=jnp.zeros((), jnp.int32),
            **extras,
        )

    # ----------------------------------------------------------------------------- collect
    def collect(state: TrainState, key: Array) -> tuple[TrainState, Metrics]:
        k_explore, k_env = jax.random.split(key)
        eps = epsilon(state.env_steps)
        q = q_values(state.params, state.obs)
        action = epsilon_greedy(k_explore, q, eps)
        obs, env_state, reward, terminated, truncated, info = venv.step(
            k_env, state.env_state, action, env_params
        )
        transition = replay.Transition(
            obs=state.obs, action=action, reward=reward.astype(jnp.float32),
            next_obs=info["final_observation"], terminated=terminated, truncated=truncated,
        )
        state, transition, found = curious_collect(state, transition, info)  # r + r_int
        state = state.replace(
            env_state=env_state, obs=obs, env_steps=state.env_steps + c.num_envs,
            buffer=replay.add(state.buffer, transition),
        )
        return state, {**episode_metrics(info), "epsilon": eps, **found}

    # ----------------------------------------------------------------------------- curiosity
    def curious_init(key: Array) -> tuple[Array, dict[str, Any]]:
        """The state's key and its curiosity fields (unchanged and none without curiosity:
        plain DQN's draws stay as they were)."""
        if curious is None:
            return key, {}
        key, k_cur = jax.random.split(key)
        extras = {"curiosity": curious.init(k_cur)}
        if cover is not None:
            extras["exploration"] = curiosity.ExplorationState.create(cover.num_cells)
        return key, extras

    def curious_collect(
        state: TrainState, transition: replay.Transition, info: Metrics
    ) -> tuple[TrainState, replay.Transition, Metrics]:
        """With curiosity: the step's reward becomes ``extrinsic_coef * r + r_int`` before
        it is stored, and the module learns from the step (``curiosity.online_step``)."""
        if curious is None:
            return state, transition, {}
        reward, cur, visits, found = curiosity.online_step(
            curious, cover, state.curiosity, state.exploration,
            (transition.obs, transition.action, transition.next_obs), transition.reward, info,
            c.curiosity.extrinsic_coef)
        return (state.replace(curiosity=cur, exploration=visits),
                transition.replace(reward=reward), found)

    # ----------------------------------------------------------------------------- learn
    def sample(state: TrainState, key: Array) -> tuple[replay.SampleIndex, replay.NStepBatch]:
        buffer = state.buffer
        if c.replay == "prioritized":
            progress = jnp.minimum(state.env_steps / c.total_timesteps, 1.0)
            beta = c.priority_beta_start + (c.priority_beta_end - c.priority_beta_start) * progress
            index = replay.sample_proportional(buffer, key, batch_size, beta)
        elif c.replay == "uniform":
            index = replay.sample_uniform(buffer, key, batch_size)
        else:  # online: exactly the transitions just written (the buffer's one row)
            index = replay.SampleIndex(
                row=jnp.zeros((batch_size,), jnp.int32),
                env=jnp.arange(batch_size, dtype=jnp.int32),
                prob=jnp.full((batch_size,), 1.0 / batch_size),
                weight=jnp.ones((batch_size,), jnp.float32),
            )
        return index, replay.n_step_batch(buffer, index, c.n_steps, c.gamma)

    def gradient_step(state: TrainState, key: Array) -> tuple[TrainState, LearnStats]:
        index, batch = sample(state, key)
        (loss, (td, q_taken, priority)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
            state.params, state.target_params, batch, index.weight)
        grads = clip_by_global_norm(grads, c.max_grad_norm)
        updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        grad_steps = state.grad_steps + 1
        if c.target == "hard":
            copy = grad_steps % c.target_update_period == 0
            target_params = jax.tree.map(
                lambda p, t: jnp.where(copy, p, t), params, state.target_params
            )
        elif c.target == "polyak":
            target_params = optax.incremental_update(params, state.target_params, c.tau)
        else:
            target_params = state.target_params  # unused: targets use the online network
        buffer = state.buffer
        if c.replay == "prioritized":
            buffer = replay.update_priorities(
                buffer, index, priority, c.priority_eps, c.priority_alpha
            )
        state = state.replace(
            params=params, target_params=target_params, opt_state=opt_state,
            buffer=buffer, grad_steps=grad_steps,
        )
        return state, LearnStats(loss, jnp.mean(q_taken), jnp.mean(jnp.abs(td)))

    def learn(state: TrainState, key: Array) -> tuple[TrainState, LearnStats]:
        if c.gradient_steps == 1:
            return gradient_step(state, key)
        state, stats = jax.lax.scan(
            gradient_step, state, jax.random.split(key, c.gradient_steps)
        )
        return state, jax.tree.map(jnp.mean, stats)

    def skip(state: TrainState, key: Array) -> tuple[TrainState, LearnStats]:
        nan = jnp.full((), jnp.nan, jnp.float32)
        return state, LearnStats(nan, nan, nan)

    # ----------------------------------------------------------------------------- update
    def update(state: TrainState) -> tuple[TrainState, Metrics]:
        key, k_collect, k_learn = jax.random.split(state.key, 3)
        state, metrics = collect(state.replace(key=key), k_collect)
        ready = (state.env_steps >= max(c.learning_starts, 1)) & (
            state.updates % c.train_every == 0
        )
        if not online:
            ready = ready & (state.buffer.num_transitions >= c.n_steps)
        state, stats = jax.lax.cond(ready, learn, skip, state, k_learn)
        state = state.replace(updates=state.updates + 1)
        metrics = {
            "env_steps": state.env_steps,
            **metrics,
            "loss": stats.loss,
            "q_mean": stats.q_mean,
            "td_abs": stats.td_abs,
        }
        return state, metrics

    # ----------------------------------------------------------------------------- act
    def act(state: TrainState, obs: Array, key: Array, greedy: bool = True) -> Array:
        q = q_values(state.params, obs[None])[0]  # distributional: expected values
        if greedy:
            return jnp.argmax(q).astype(jnp.int32)
        return epsilon_greedy(key, q, epsilon(state.env_steps))

    def values(state: TrainState, obs: Array) -> Array:
        return q_values(state.params, jnp.asarray(obs)[None])[0]

    if not distributional:
        return Agent(init=init, update=update, num_updates=num_updates, act=act,
                     config=config, values=values)

    def distribution(state: TrainState, obs: Array) -> ReturnDistribution:
        out = network.apply(state.params, jnp.asarray(obs)[None])[0]
        if c.distribution == "categorical":
            return ReturnDistribution(
                jnp.broadcast_to(support, out.shape), jax.nn.softmax(out), "categorical"
            )
        return ReturnDistribution(out, jnp.full(out.shape, 1.0 / out.shape[-1]), "quantile")

    return DistributionalAgent(init=init, update=update, num_updates=num_updates, act=act,
                               config=config, values=values, distribution=distribution)

