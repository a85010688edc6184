"""The n-armed bandit and the contextual bandit (the book's chapter 2), as pure functions.

An episode is one bandit problem: the arms are drawn at reset and kept until the
episode is truncated, when auto-reset draws a fresh problem.

``Bandit`` (``"Bandit-v0"``), a stateless task:

Observation: ``float32[1]``, always 0 (there is nothing to observe).
Actions: ``Discrete(num_arms)``: the arm to pull.
Reward (``reward="binomial"``, the default): ``Binomial(10, p[a])``, the number of
    10 uniforms below ``p[a]``: an integer in 0..10 (as float32), mean ``10 p[a]``,
    variance ``10 p[a] (1 - p[a])``. Arm probabilities ``p ~ U(0, 1)`` are drawn at
    reset.
    ``reward="gaussian"`` is Sutton and Barto's 10-armed testbed instead: arm means
    ``q*(a) ~ N(q_mean, 1)`` at reset, reward ``~ N(q*(a), 1)``.
Non-stationary (``nonstationary=True``): after every pull each arm takes an
    independent Gaussian random-walk step of std ``drift_std``; binomial
    probabilities are clipped back into [0, 1].
Termination: never.
Truncation: ``time >= max_steps_in_episode`` (default 1000).

``ContextualBandit`` (``"ContextualBandit-v0"``):

Observation: ``float32[num_states]``, the one-hot code of the current state ``s``.
Actions: ``Discrete(num_arms)``.
Reward: ``Binomial(10, p[s, a])`` with ``p[s, a] ~ U(0, 1)`` drawn at reset.
Dynamics: the first state and, after every pull, the next one are drawn uniformly
    from ``0 .. num_states - 1``, independently of the action.
Termination: never.
Truncation: ``time >= max_steps_in_episode`` (default 10,000, long enough for the
    book's training run to stay on one problem).

Info, on every step of both: ``expected_reward`` (float32, the mean of the reward
just drawn: ``10 p[a]``, or ``q*(a)``), ``best_expected_reward`` (float32, the
largest mean available at that pull) and ``optimal_action`` (bool, the pulled arm
is an argmax), so agents can report regret and % optimal action.

Params (``BanditParams``, every field vmappable): ``max_steps_in_episode``;
``drift_std`` 0.01 (used only when ``nonstationary=True``); ``q_mean`` 0.0 (used
only by ``reward="gaussian"``; Sutton and Barto's figure 2.5 uses 4).
``ContextualBanditParams``: ``max_steps_in_episode``.

State: ``arms: float32[num_arms]`` (``p``, or ``q*`` for the Gaussian testbed), or
``float32[num_states, num_arms]`` for the contextual bandit (``p[s, a]``);
``time: int32``, pulls so far in the episode; the contextual bandit also holds
``context: int32``, the current state.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from . import spaces
from .core import Environment
from .validation import MAX_COUNT, count

#: Trials in the binomial reward: a pull pays 0..NUM_TRIALS.
NUM_TRIALS = 10

REWARD_MODELS = ("binomial", "gaussian")


def binomial_reward(key: jax.Array, p: jax.Array) -> jax.Array:
    """``Binomial(NUM_TRIALS, p)`` as float32: the count of uniforms below ``p``."""
    return jnp.sum(jax.random.uniform(key, (NUM_TRIALS,)) < p).astype(jnp.float32)


def _check_count(name: str, value: object, minimum: int) -> int:
    return count("bandit", name, value, minimum, MAX_COUNT)


def _bandit_info(means: jax.Array, action: jax.Array) -> dict[str, jax.Array]:
    """The info every bandit step carries; ``means: float32[num_arms]`` at the pull."""
    best = jnp.max(means)
    return {
        "expected_reward": means[action].astype(jnp.float32),
        "best_expected_reward": best.astype(jnp.float32),
        "optimal_action": means[action] >= best,
    }


# ---------------------------------------------------------------------------------
@struct.dataclass
class BanditState:
    arms: jax.Array  # float32[num_arms]: p (binomial) or q* (gaussian)
    time: jax.Array  # int32: pulls so far in this episode


@struct.dataclass
class BanditParams:
    max_steps_in_episode: int = 1000
    drift_std: float = 0.01  # random-walk std per pull; only with nonstationary=True
    q_mean: float = 0.0  # mean of the q* draws; only with reward="gaussian"


class Bandit(Environment[BanditState, BanditParams]):
    """The n-armed bandit (see the module docstring).

    Args:
        num_arms: number of arms, >= 2.
        nonstationary: arms drift by a Gaussian random walk after every pull.
        reward: ``"binomial"`` (the book's, default) or ``"gaussian"`` (Sutton and
            Barto's testbed).

    Raises:
        ValueError: on a bad size or an unknown reward model.
    """

    def __init__(self, num_arms: int = 10, nonstationary: bool = False, reward: str = "binomial"):
        self.num_arms = _check_count("num_arms", num_arms, 2)
        if not isinstance(nonstationary, bool):
            raise ValueError(f"nonstationary must be a bool, got {nonstationary!r}")
        if reward not in REWARD_MODELS:
            raise ValueError(f"reward must be one of {REWARD_MODELS}, got {reward!r}")
        self.nonstationary = nonstationary
        self.reward = reward

    @property
    def name(self) -> str:
        return "Bandit-v0"

    @property
    def default_params(self) -> BanditParams:
        return BanditParams()

    def expected_rewards(self, arms: jax.Array) -> jax.Array:
        """Mean reward of every arm, ``float32[num_arms]``, from ``state.arms``."""
        return NUM_TRIALS * arms if self.reward == "binomial" else arms

    def reset_env(self, key, params):
        if self.reward == "binomial":
            arms = jax.random.uniform(key, (self.num_arms,))
        else:
            arms = params.q_mean + jax.random.normal(key, (self.num_arms,))
        state = BanditState(arms.astype(jnp.float32), jnp.zeros((), jnp.int32))
        return self.observe(state), state

    def step_env(self, key, state, action, params):
        if self.nonstationary:
            key_reward, key_drift = jax.random.split(key)
        else:
            key_reward = key  # the only consumer: skip a split
        if self.reward == "binomial":
            reward = binomial_reward(key_reward, state.arms[action])
        else:
            reward = state.arms[action] + jax.random.normal(key_reward)
        info = _bandit_info(self.expected_rewards(state.arms), action)
        arms = state.arms
        if self.nonstationary:
            arms = arms + params.drift_std * jax.random.normal(key_drift, arms.shape)
            if self.reward == "binomial":
                arms = jnp.clip(arms, 0.0, 1.0)
        time = state.time + 1
        state = BanditState(arms.astype(jnp.float32), time)
        truncated = time >= params.max_steps_in_episode
        terminated = jnp.zeros((), bool)
        return self.observe(state), state, reward.astype(jnp.float32), terminated, truncated, info

    @staticmethod
    def observe(state: BanditState) -> jax.Array:
        return jnp.zeros((1,), jnp.float32)

    def action_space(self, params=None):
        return spaces.Discrete(self.num_arms)

    def observation_space(self, params=None):
        return spaces.Box(0.0, 0.0, (1,), jnp.float32)

    def __repr__(self) -> str:
        return (
            f"<Bandit num_arms={self.num_arms} reward={self.reward}"
            f"{' nonstationary' if self.nonstationary else ''}>"
        )


# ---------------------------------------------------------------------------------
@struct.dataclass
class ContextualBanditState:
    arms: jax.Array  # float32[num_states, num_arms]: p[s, a]
    context: jax.Array  # int32: the current state s
    time: jax.Array  # int32: pulls so far in this episode


@struct.dataclass
class ContextualBanditParams:
    max_steps_in_episode: int = 10_000


class ContextualBandit(Environment[ContextualBanditState, ContextualBanditParams]):
    """The contextual bandit (see the module docstring).

    Args:
        num_states: number of states (contexts), >= 1.
        num_arms: number of arms, >= 2.

    Raises:
        ValueError: on a bad size.
    """

    def __init__(self, num_states: int = 10, num_arms: int = 10):
        self.num_states = _check_count("num_states", num_states, 1)
        self.num_arms = _check_count("num_arms", num_arms, 2)

    @property
    def name(self) -> str:
        return "ContextualBandit-v0"

    @property
    def default_params(self) -> ContextualBanditParams:
        return ContextualBanditParams()

    def reset_env(self, key, params):
        key_arms, key_context = jax.random.split(key)
        arms = jax.random.uniform(key_arms, (self.num_states, self.num_arms))
        context = jax.random.randint(key_context, (), 0, self.num_states, jnp.int32)
        state = ContextualBanditState(arms, context, jnp.zeros((), jnp.int32))
        return self.observe(state), state

    def step_env(self, key, state, action, params):
        key_reward, key_context = jax.random.split(key)
        p = state.arms[state.context]
        reward = binomial_reward(key_reward, p[action])
        info = _bandit_info(NUM_TRIALS * p, action)
        context = jax.random.randint(key_context, (), 0, self.num_states, jnp.int32)
        time = state.time + 1
        state = ContextualBanditState(state.arms, context, time)
        truncated = time >= params.max_steps_in_episode
        terminated = jnp.zeros((), bool)
        return self.observe(state), state, reward, terminated, truncated, info

    def observe(self, state: ContextualBanditState) -> jax.Array:
        return jax.nn.one_hot(state.context, self.num_states, dtype=jnp.float32)

    def action_space(self, params=None):
        return spaces.Discrete(self.num_arms)

    def observation_space(self, params=None):
        return spaces.Box(0.0, 1.0, (self.num_states,), jnp.float32)

    def __repr__(self) -> str:
        return f"<ContextualBandit num_states={self.num_states} num_arms={self.num_arms}>"
