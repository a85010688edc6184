"""Bandit agents: the 10-armed testbed over thousands of problems in one program, and
the book's contextual bandit network.

Multi-armed agents (Sutton and Barto, chapter 2; the book's chapter 2). Each is a
frozen config with three pure methods, all on one unbatched ``BanditAgentState``:
``init(num_arms)``, ``select(key, state) -> action`` and
``update(state, action, reward) -> state``.

* ``EpsilonGreedyConfig``: greedy with probability ``1 - epsilon``, else a uniform
  arm; ``epsilon=0`` is the greedy agent (``greedy()``).
* ``SoftmaxConfig``: arm ``a`` with probability ``exp(Q(a)/tau) / sum_b exp(Q(b)/tau)``
  (the book's tau = 1.12).
* ``UCBConfig``: ``argmax_a Q(a) + c sqrt(ln t / N(a))`` (S&B eq. 2.10), untried arms
  first.
* ``GradientBanditConfig``: preferences ``H`` with ``pi = softmax(H)`` and
  ``H(a) += alpha (R - baseline) (1[a = A] - pi(a))`` (S&B eq. 2.12), the baseline being
  the mean of the rewards *before* this one (S&B: "up to but not including time t",
  with ``R_bar_1 = R_1``, so the first pull moves nothing), or 0 without a baseline.

The value methods estimate ``Q`` by the sample average (``estimator="sample_average"``,
step ``1/N(a)``) or a constant step (``estimator="constant"``, ``step_size``) from
``initial_value`` (optimistic starts are a larger ``initial_value``). Greedy choices
break ties uniformly at random, as S&B do (``argmax`` would always pick the lowest
index and bias every early pull).

``run_testbed(agents, key, num_runs, num_pulls)`` runs every agent on the same
``num_runs`` independent problems (common random numbers: the same arms, and the
same uniforms behind each pull's reward) for ``num_pulls`` pulls each, inside one
``jit``; ``jaxrl.output.plotting.bandit_testbed`` draws the classic two-panel figure.

Contextual bandit (the book's chapter 2): ``ContextualBanditConfig`` and ``make`` give
an ``Agent`` (``jaxrl.core.agent``), registered as ``"contextual_bandit"``: an MLP
(book: one-hot state 10 -> 100 ReLU -> 10) predicts the reward of every arm; the arm
is drawn from ``softmax(Q(s, .) / tau)`` (book tau = 2), and one Adam step minimises
the squared error of the pulled arm only, ``(Q(s, a) - r)^2``. The book's loss is the
mean over all 10 outputs with the target equal to the prediction off the pulled
arm: the same gradient up to a factor 1/10, which Adam's scale invariance removes.
The book's network also ends with a ReLU (``output_relu=True``); off by default
since an output stuck below 0 has no gradient and cannot recover. ``Agent.values``
gives the predicted rewards; ``train_contextual`` trains many seeds (one problem
each) in one program and summarises them.

A trap in the book's numbers: rewards span 0..10, so softmax with tau = 2 spreads
its pulls over several arms, and even with perfect estimates that policy earns only
about 7.8 on average (``ContextualResult.softmax_ceiling``). Trained with the book's
settings the agent reaches that cap (~7.75); the book's ~8.5 is what tau = 1.12, the
softmax default of its chapter, reaches (cap 8.50). See benchmarks/bandit_testbed.py.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from typing import Any

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct

from jaxrl.algos import Algorithm
from jaxrl.core.agent import Agent, Metrics, episode_metrics
from jaxrl.core.config import check_leaves as _check_leaves
from jaxrl.core.config import static as _static
from jaxrl.core.networks import MLP
from jaxrl.core.presets import Preset
from jaxrl.envs import spaces
from jaxrl.envs.bandits import Bandit, ContextualBandit
from jaxrl.envs.core import Environment
from jaxrl.envs.wrappers import EpisodeStatistics, VecEnv

Array = jax.Array

__all__ = [
    "CONTEXTUAL_BANDIT",
    "BanditAgentState", "EpsilonGreedyConfig", "SoftmaxConfig", "UCBConfig",
    "GradientBanditConfig", "greedy", "BanditTestbedResult", "run_testbed",
    "greedy_action", "epsilon_greedy_probabilities", "softmax_probabilities", "ucb_scores",
    "incremental_update", "gradient_bandit_update",
    "Config", "ContextualBanditConfig", "ContextualTrainState", "DEFAULT_ENV", "PRESETS", "make",
    "pulled_arm_loss", "ContextualResult", "train_contextual",
]

ESTIMATORS = ("sample_average", "constant")


def _fmt(value: Any) -> str:
    try:
        return f"{float(value):g}"
    except (TypeError, ValueError):  # an array of values (a vmapped sweep)
        return "*"


# ============================================================================ pure maths
def greedy_action(key: Array, q: Array) -> Array:
    """An argmax of ``q``, ties broken uniformly at random.

    Args:
        key: PRNG key.
        q: ``float32[num_arms]``.

    Returns:
        ``int32[]``.
    """
    chex.assert_rank(q, 1)
    return _argmax_random_ties(q, jax.random.uniform(key, q.shape))


def _argmax_random_ties(q: Array, noise: Array) -> Array:
    """The maximiser of ``q`` with the largest ``noise``: uniform among ties for iid noise."""
    return jnp.argmax(jnp.where(q >= jnp.max(q), noise, -1.0)).astype(jnp.int32)


def epsilon_greedy_probabilities(q: Array, epsilon: Array) -> Array:
    """Epsilon-greedy probabilities: ``(1 - eps) / |argmax| + eps / n`` on maximisers.

    Every other arm gets ``eps / n``.

    Args:
        q: ``float32[num_arms]``.
        epsilon: ``float32[]`` in [0, 1].

    Returns:
        ``float32[num_arms]``, summing to 1.
    """
    chex.assert_rank(q, 1)
    best = (q >= jnp.max(q)).astype(jnp.float32)
    n = q.shape[0]
    return (1.0 - epsilon) * best / jnp.sum(best) + epsilon / n


def softmax_probabilities(q: Array, temperature: Array) -> Array:
    """Boltzmann action probabilities ``exp(q / tau) / sum exp(q / tau)``.

    Args:
        q: ``float32[num_arms]``.
        temperature: ``float32[]``, tau > 0.

    Returns:
        ``float32[num_arms]``.
    """
    chex.assert_rank(q, 1)
    return jax.nn.softmax(q / temperature)


def ucb_scores(q: Array, counts: Array, t: Array, c: Array) -> Array:
    """Upper confidence bounds ``Q(a) + c sqrt(ln t / N(a))``; ``+inf`` where ``N(a) = 0``.

    S&B eq. 2.10 (with ``c = sqrt(2)`` it is Auer et al.'s UCB1).

    Args:
        q: ``float32[num_arms]``, value estimates.
        counts: ``float32[num_arms]``, pulls of each arm so far.
        t: the number of the pull being chosen (1 for the first).
        c: ``float32[]``, exploration weight >= 0.

    Returns:
        ``float32[num_arms]``.
    """
    chex.assert_rank([q, counts], 1)
    chex.assert_equal_shape([q, counts])
    tried = counts > 0
    bonus = c * jnp.sqrt(jnp.log(jnp.asarray(t, jnp.float32)) / jnp.where(tried, counts, 1.0))
    return jnp.where(tried, q + bonus, jnp.inf)


def incremental_update(q: Array, action: Array, reward: Array, step_size: Array) -> Array:
    """``Q(A) += step_size (R - Q(A))``, other arms unchanged (S&B eq. 2.3 / 2.5).

    The sample average is ``step_size = 1 / N(A)`` with ``N(A)`` counting this pull.

    Args:
        q: ``float32[num_arms]``.
        action: ``int32[]``, the arm pulled.
        reward: ``float32[]``.
        step_size: ``float32[]``.

    Returns:
        ``float32[num_arms]``.
    """
    chex.assert_rank(q, 1)
    chex.assert_rank([action, reward], 0)
    return q.at[action].add(step_size * (reward - q[action]))


def gradient_bandit_update(
    h: Array, action: Array, reward: Array, baseline: Array, step_size: Array
) -> Array:
    """Preference update ``H(a) += alpha (R - baseline) (1[a = A] - pi(a))``, ``pi = softmax(H)``.

    S&B eq. 2.12: stochastic gradient ascent on the expected reward.

    Args:
        h: ``float32[num_arms]``, preferences.
        action: ``int32[]``, the arm pulled (A).
        reward: ``float32[]``, R.
        baseline: ``float32[]``.
        step_size: ``float32[]``, alpha.

    Returns:
        ``float32[num_arms]``.
    """
    chex.assert_rank(h, 1)
    chex.assert_rank([action, reward], 0)
    pi = jax.nn.softmax(h)
    chosen = jax.nn.one_hot(action, h.shape[0], dtype=h.dtype)
    return h + step_size * (reward - baseline) * (chosen - pi)


# ============================================================================ agents
@struct.dataclass
class BanditAgentState:
    """One agent on one problem (unbatched; ``run_testbed`` vmaps it over runs)."""

    estimates: Array  # float32[num_arms]: Q (value methods) or H (gradient bandit)
    counts: Array  # float32[num_arms]: pulls of each arm so far
    step: Array  # int32[]: pulls so far
    mean_reward: Array  # float32[]: mean of all rewards so far (gradient baseline)


def _init_state(num_arms: int, initial_value: Any = 0.0) -> BanditAgentState:
    return BanditAgentState(
        estimates=jnp.full((num_arms,), initial_value, jnp.float32),
        counts=jnp.zeros((num_arms,), jnp.float32),
        step=jnp.zeros((), jnp.int32),
        mean_reward=jnp.zeros((), jnp.float32),
    )


def _count(state: BanditAgentState, action: Array, reward: Array) -> BanditAgentState:
    """Counters shared by every agent: N(A), t and the running mean reward."""
    step = state.step + 1
    return state.replace(
        counts=state.counts.at[action].add(1.0),
        step=step,
        mean_reward=state.mean_reward + (reward - state.mean_reward) / step,
    )


class _ValueMethod:
    """Shared by the action-value agents: ``Q`` by sample average or constant step."""

    estimator: str
    step_size: Any
    initial_value: Any

    def init(self, num_arms: int) -> BanditAgentState:
        return _init_state(num_arms, self.initial_value)

    def update(self, state: BanditAgentState, action: Array, reward: Array) -> BanditAgentState:
        state = _count(state, action, reward)
        if self.estimator == "sample_average":
            alpha = 1.0 / state.counts[action]
        else:
            alpha = jnp.asarray(self.step_size, jnp.float32)
        return state.replace(estimates=incremental_update(state.estimates, action, reward, alpha))

    def _estimator_label(self) -> str:
        parts = []
        if self.estimator == "constant":
            parts.append(f"alpha={_fmt(self.step_size)}")
        if _fmt(self.initial_value) != "0":
            parts.append(f"Q1={_fmt(self.initial_value)}")
        return (", " + ", ".join(parts)) if parts else ""

    def _validate_estimator(self, owner: str) -> None:
        if self.estimator not in ESTIMATORS:
            raise ValueError(
                f"{owner}.estimator must be one of {ESTIMATORS}, got {self.estimator!r}")
        _check_leaves(owner, {
            "step_size": (self.step_size, lambda v: (v > 0) & (v <= 1), "in (0, 1]"),
            "initial_value": (self.initial_value, lambda v: np.ones_like(v, bool), "a number"),
        })


@struct.dataclass
class EpsilonGreedyConfig(_ValueMethod):
    """Epsilon-greedy; ``epsilon=0`` is greedy."""

    epsilon: float = 0.1  # probability of a uniformly random arm
    step_size: float = 0.1  # alpha, used by estimator="constant"
    initial_value: float = 0.0  # Q_1 for every arm (optimistic if large)
    estimator: str = _static("sample_average")  # "sample_average" or "constant"

    def select(self, key: Array, state: BanditAgentState) -> Array:
        # One draw serves all three choices (explore?, which random arm, tie-break):
        # fewer PRNG calls compile and run faster.
        n = state.estimates.shape[0]
        u = jax.random.uniform(key, (n + 2,))
        random_arm = jnp.minimum(jnp.floor(u[1] * n), n - 1).astype(jnp.int32)
        greedy_arm = _argmax_random_ties(state.estimates, u[2:])
        return jnp.where(u[0] < self.epsilon, random_arm, greedy_arm)

    @property
    def label(self) -> str:
        name = "greedy" if _fmt(self.epsilon) == "0" else f"eps-greedy eps={_fmt(self.epsilon)}"
        return name + self._estimator_label()

    def validate(self) -> "EpsilonGreedyConfig":
        owner = "EpsilonGreedyConfig"
        _check_leaves(owner, {
            "epsilon": (self.epsilon, lambda v: (v >= 0) & (v <= 1), "in [0, 1]"),
        })
        self._validate_estimator(owner)
        return self


def greedy(**kwargs: Any) -> EpsilonGreedyConfig:
    """The greedy agent: ``EpsilonGreedyConfig(epsilon=0, **kwargs)``."""
    return EpsilonGreedyConfig(epsilon=0.0, **kwargs)


@struct.dataclass
class SoftmaxConfig(_ValueMethod):
    """Softmax (Boltzmann) action choice over the value estimates."""

    temperature: float = 1.12  # tau; the book's value
    step_size: float = 0.1  # alpha, used by estimator="constant"
    initial_value: float = 0.0  # Q_1 for every arm
    estimator: str = _static("sample_average")  # "sample_average" or "constant"

    def select(self, key: Array, state: BanditAgentState) -> Array:
        return jax.random.categorical(key, state.estimates / self.temperature).astype(jnp.int32)

    @property
    def label(self) -> str:
        return f"softmax tau={_fmt(self.temperature)}" + self._estimator_label()

    def validate(self) -> "SoftmaxConfig":
        owner = "SoftmaxConfig"
        _check_leaves(owner, {"temperature": (self.temperature, lambda v: v > 0, "> 0")})
        self._validate_estimator(owner)
        return self


@struct.dataclass
class UCBConfig(_ValueMethod):
    """Upper-confidence-bound action choice (S&B section 2.7)."""

    c: float = 2.0  # exploration weight; S&B figure 2.4 uses 2, UCB1 is sqrt(2)
    step_size: float = 0.1  # alpha, used by estimator="constant"
    initial_value: float = 0.0  # Q_1 for every arm
    estimator: str = _static("sample_average")  # "sample_average" or "constant"

    def select(self, key: Array, state: BanditAgentState) -> Array:
        scores = ucb_scores(state.estimates, state.counts, state.step + 1, self.c)
        return greedy_action(key, scores)

    @property
    def label(self) -> str:
        return f"UCB c={_fmt(self.c)}" + self._estimator_label()

    def validate(self) -> "UCBConfig":
        owner = "UCBConfig"
        _check_leaves(owner, {"c": (self.c, lambda v: v >= 0, ">= 0")})
        self._validate_estimator(owner)
        return self


@struct.dataclass
class GradientBanditConfig:
    """The gradient bandit (S&B section 2.8), with or without the mean-reward baseline."""

    step_size: float = 0.1  # alpha
    baseline: bool = _static(True)  # subtract the mean of earlier rewards

    def init(self, num_arms: int) -> BanditAgentState:
        return _init_state(num_arms)

    def select(self, key: Array, state: BanditAgentState) -> Array:
        return jax.random.categorical(key, state.estimates).astype(jnp.int32)

    def update(self, state: BanditAgentState, action: Array, reward: Array) -> BanditAgentState:
        if self.baseline:
            # Mean of the rewards before this one; R_bar_1 = R_1 (S&B section 2.8).
            base = jnp.where(state.step > 0, state.mean_reward, reward)
        else:
            base = jnp.zeros((), jnp.float32)
        h = gradient_bandit_update(state.estimates, action, reward, base, self.step_size)
        return _count(state, action, reward).replace(estimates=h)

    @property
    def label(self) -> str:
        return f"gradient alpha={_fmt(self.step_size)}" + ("" if self.baseline else ", no baseline")

    def validate(self) -> "GradientBanditConfig":
        if not isinstance(self.baseline, bool):
            raise ValueError(f"GradientBanditConfig.baseline must be a bool, got {self.baseline!r}")
        _check_leaves("GradientBanditConfig", {
            "step_size": (self.step_size, lambda v: v > 0, "> 0"),
        })
        return self


BanditAgentConfig = EpsilonGreedyConfig | SoftmaxConfig | UCBConfig | GradientBanditConfig
_AGENT_TYPES = (EpsilonGreedyConfig, SoftmaxConfig, UCBConfig, GradientBanditConfig)


# ============================================================================ testbed
@dataclasses.dataclass(frozen=True)
class BanditTestbedResult:
    """Per-pull curves of a testbed run, averaged over runs (host numpy arrays).

    Attributes:
        labels: one per agent, in the order given.
        average_reward: ``float32[num_agents, num_pulls]``, mean reward received at pull t.
        optimal_action: ``float32[num_agents, num_pulls]``, fraction of runs whose pull t
            was an optimal arm (x100 for %).
        expected_reward: ``float32[num_agents, num_pulls]``, mean of the pulled arm's
            expected reward (the reward curve without the reward noise).
        best_expected_reward: ``float32[num_pulls]``, mean over runs of the best arm's
            expected reward (the ceiling; constant unless the arms drift).
        num_runs, num_pulls: the run's size.
        compile_seconds, run_seconds: wall time to compile the program and to run it.
    """

    labels: tuple[str, ...]
    average_reward: np.ndarray
    optimal_action: np.ndarray
    expected_reward: np.ndarray
    best_expected_reward: np.ndarray
    num_runs: int
    num_pulls: int
    compile_seconds: float
    run_seconds: float

    def final(self, last: int = 100) -> dict[str, dict[str, float]]:
        """Per label, the means over the ``last`` pulls of reward and % optimal action."""
        return {
            label: {
                "average_reward": float(self.average_reward[i, -last:].mean()),
                "optimal_percent": 100.0 * float(self.optimal_action[i, -last:].mean()),
            }
            for i, label in enumerate(self.labels)
        }


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _labelled(agents: Mapping[str, Any] | Sequence[Any]) -> tuple[tuple[str, ...], tuple[Any, ...]]:
    if isinstance(agents, Mapping):
        labels, configs = tuple(str(k) for k in agents), tuple(agents.values())
    else:
        configs = tuple(agents)
        labels = tuple(getattr(c, "label", type(c).__name__) for c in configs)
    if not configs:
        raise ValueError("run_testbed needs at least one agent config")
    for cfg in configs:
        if not isinstance(cfg, _AGENT_TYPES):
            raise ValueError(
                f"run_testbed: {cfg!r} is not a bandit agent config "
                f"({', '.join(t.__name__ for t in _AGENT_TYPES)})"
            )
        cfg.validate()
    if len(set(labels)) != len(labels):
        raise ValueError(f"run_testbed: agent labels must be unique, got {labels}")
    return labels, configs


def _run_agent(config: Any, env: Environment, env_params: Any, keys: Array, num_pulls: int):
    """Per-pull means over runs of one agent; ``keys: key[num_runs]``, one per run.

    Returns ``float32[num_pulls, 4]``: reward, optimal action, expected reward, best
    expected reward.
    """
    num_arms = env.action_space(env_params).n

    def start(key: Array):
        k_reset, k_pulls = jax.random.split(key)
        _, env_state = env.reset_env(k_reset, env_params)
        return k_pulls, env_state, config.init(num_arms)

    def pull(key: Array, env_state: Any, agent_state: BanditAgentState):
        k_act, k_env = jax.random.split(key)
        action = config.select(k_act, agent_state)
        _, env_state, reward, _, _, info = env.step_env(k_env, env_state, action, env_params)
        agent_state = config.update(agent_state, action, reward)
        out = jnp.stack([
            reward, info["optimal_action"].astype(jnp.float32),
            info["expected_reward"], info["best_expected_reward"],
        ])
        return env_state, agent_state, out

    def body(carry, t):
        pull_keys, env_states, agent_states = carry
        # A fresh key per (run, pull): fold the pull number into the run's pull key.
        step_keys = jax.vmap(jax.random.fold_in, in_axes=(0, None))(pull_keys, t)
        env_states, agent_states, out = jax.vmap(pull)(step_keys, env_states, agent_states)
        return (pull_keys, env_states, agent_states), jnp.mean(out, axis=0)

    carry = jax.vmap(start)(keys)
    _, curves = jax.lax.scan(body, carry, jnp.arange(num_pulls, dtype=jnp.int32))
    return curves


def run_testbed(
    agents: Mapping[str, BanditAgentConfig] | Sequence[BanditAgentConfig],
    key: Array,
    num_runs: int = 2000,
    num_pulls: int = 1000,
    env: Environment | None = None,
    env_params: Any = None,
) -> BanditTestbedResult:
    """Run every agent on ``num_runs`` independent bandit problems for ``num_pulls`` pulls.

    Everything is one ``jit``-compiled program: per agent, a ``lax.scan`` over pulls
    of a ``vmap`` over runs. All agents see the same problems and the same random
    numbers behind the environment (common random numbers), so their curves differ
    by their choices only. A run is one episode that is never reset: the env's
    transition (``step_env``) is used directly, so its time limit does not apply.

    Args:
        agents: ``{label: config}``, or a sequence of configs labelled by ``config.label``.
        key: PRNG key.
        num_runs: independent problems (the curves average over them).
        num_pulls: pulls per run.
        env: a bandit whose step info carries ``expected_reward``,
            ``best_expected_reward`` and ``optimal_action`` (default ``Bandit(10)``).
        env_params: its params (default ``env.default_params``).

    Returns:
        ``BanditTestbedResult``.

    Raises:
        ValueError: on a bad config, size or environment, before compiling.
    """
    labels, configs = _labelled(agents)
    num_runs = _positive_int("num_runs", num_runs)
    num_pulls = _positive_int("num_pulls", num_pulls)
    env = Bandit() if env is None else env
    env_params = env.default_params if env_params is None else env_params
    if not isinstance(env.action_space(env_params), spaces.Discrete):
        raise ValueError(
            f"run_testbed needs a Discrete action space, got {env.action_space(env_params)!r}")

    def program(configs, keys, env_params):
        return jnp.stack([_run_agent(c, env, env_params, keys, num_pulls) for c in configs])

    keys = jax.random.split(key, num_runs)
    start = time.perf_counter()
    compiled = jax.jit(program).lower(configs, keys, env_params).compile()
    compiled_at = time.perf_counter()
    curves = np.asarray(jax.block_until_ready(compiled(configs, keys, env_params)))
    done = time.perf_counter()
    return BanditTestbedResult(
        labels=labels,
        average_reward=curves[..., 0],
        optimal_action=curves[..., 1],
        expected_reward=curves[..., 2],
        best_expected_reward=curves[:, :, 3].mean(axis=0),
        num_runs=num_runs,
        num_pulls=num_pulls,
        compile_seconds=compiled_at - start,
        run_seconds=done - compiled_at,
    )


# ============================================================================ contextual
@struct.dataclass
class ContextualBanditConfig:
    """The book's contextual bandit agent; defaults are the book's (chapter 2).

    The errata's setting is ``total_timesteps=10_000, lr=1e-3``.
    """

    # --- static -------------------------------------------------------------------
    total_timesteps: int = _static(5000)  # env steps in a run (all copies together)
    num_envs: int = _static(1)  # problems pulled in parallel per update (must divide)
    hidden: tuple[int, ...] = _static((100,))  # ReLU hidden widths
    output_relu: bool = _static(False)  # the book ends with a ReLU (see module docs)
    # --- pytree leaves ------------------------------------------------------------
    lr: float = 1e-2  # Adam learning rate
    temperature: float = 2.0  # softmax tau over predicted rewards

    @property
    def num_updates(self) -> int:
        """Updates in a run, ``total_timesteps // num_envs``."""
        return self.total_timesteps // self.num_envs

    def validate(self) -> "ContextualBanditConfig":
        """Raise ``ValueError`` on a bad setting; returns ``self``."""
        owner = "ContextualBanditConfig"
        for name in ("total_timesteps", "num_envs"):
            _positive_int(f"{owner}.{name}", getattr(self, name))
        if self.total_timesteps % self.num_envs:
            raise ValueError(
                f"{owner}: num_envs={self.num_envs} must divide "
                f"total_timesteps={self.total_timesteps}"
            )
        if not isinstance(self.hidden, tuple) or not all(
            isinstance(w, (int, np.integer)) and not isinstance(w, bool) and w > 0
            for w in self.hidden
        ):
            raise ValueError(
                f"{owner}.hidden must be a tuple of positive integers, got {self.hidden!r}")
        if not isinstance(self.output_relu, bool):
            raise ValueError(f"{owner}.output_relu must be a bool, got {self.output_relu!r}")
        _check_leaves(owner, {
            "lr": (self.lr, lambda v: v > 0, "> 0"),
            "temperature": (self.temperature, lambda v: v > 0, "> 0"),
        })
        return self


Config = ContextualBanditConfig

#: The environment a run trains on when none is named.
DEFAULT_ENV: str = "ContextualBandit-v0"

#: Named settings (``jaxrl.core.presets.Preset``), for ContextualBandit-v0 (10 states, 10 arms).
PRESETS: dict[str, Preset] = {
    "book": Preset(
        ContextualBanditConfig(), env="ContextualBandit-v0",
        description="book ch. 2: 10-100-10 network, softmax tau 2, Adam 1e-2, 5,000 pulls",
    ),
    "errata": Preset(
        ContextualBanditConfig(total_timesteps=10_000, lr=1e-3),
        env="ContextualBandit-v0",
        # one problem for the whole run: the episode outlasts the 10,000 pulls
        env_options={"max_steps_in_episode": 10_001},
        description="the book's errata: Adam 1e-3, 10,000 pulls",
    ),
}


@struct.dataclass
class ContextualTrainState:
    """Everything a contextual-bandit run carries between updates."""

    params: Any  # network parameters
    opt_state: Any  # Adam state
    env_state: Any  # batched [num_envs] env states (EpisodeStatistics inside)
    obs: Array  # float32[num_envs, *obs_shape], the observation to act on next
    key: Array
    env_steps: Array  # int32[]


def pulled_arm_loss(q: Array, action: Array, reward: Array) -> Array:
    """Squared error of the pulled arm only, ``(Q(s, A) - R)^2``; other arms get no gradient.

    Args:
        q: ``float32[num_arms]``, predicted rewards for one state.
        action: ``int32[]``, the arm pulled.
        reward: ``float32[]``, the reward it paid.

    Returns:
        ``float32[]``.
    """
    chex.assert_rank(q, 1)
    chex.assert_rank([action, reward], 0)
    return (q[action] - reward) ** 2


class _RewardNet:
    """``MLP`` with the book's optional final ReLU."""

    def __init__(self, config: ContextualBanditConfig, num_arms: int, obs_ndim: int):
        self.mlp = MLP(config.hidden, num_arms, act="relu", obs_ndim=obs_ndim)
        self.output_relu = config.output_relu

    def init(self, key: Array, obs: Array) -> Any:
        return self.mlp.init(key, obs)

    def apply(self, params: Any, obs: Array) -> Array:
        q = self.mlp.apply(params, obs)
        return jax.nn.relu(q) if self.output_relu else q


def make(config: ContextualBanditConfig, env: Environment, env_params: Any) -> Agent:
    """Build the contextual bandit training loop (see the module docstring).

    One update: every one of ``num_envs`` copies pulls an arm drawn from
    ``softmax(Q(s, .) / tau)``; one Adam step on the mean of ``pulled_arm_loss``.
    Metrics per update: ``env_steps``, ``episode_return``, ``episodes`` (see
    ``jaxrl.core.agent``; a bandit episode is a whole problem, so few end), ``reward``
    (mean reward of this update's pulls), ``loss``, and on bandit envs
    ``expected_reward``, ``best_expected_reward`` and ``optimal_action`` (means over
    copies; ``best_expected_reward`` is 10 max_a p[s, a] of the state pulled in).

    Raises:
        ValueError: bad config, an environment that is not a bandit (``envs.bandits``),
            or a non-discrete action space.
    """
    config.validate()
    if not isinstance(getattr(env, "unwrapped", env), (Bandit, ContextualBandit)):
        raise ValueError(
            f"contextual_bandit needs a bandit environment (Bandit-v0 or ContextualBandit-v0: "
            f"every step one independent pull in the state observed), got {env.name}"
        )
    action_space = env.action_space(env_params)
    if not isinstance(action_space, spaces.Discrete) or action_space.shape:
        raise ValueError(
            f"contextual_bandit needs a scalar Discrete action space, got {action_space!r}")
    obs_shape = env.observation_space(env_params).shape
    net = _RewardNet(config, action_space.n, max(len(obs_shape), 1))
    tx = optax.adam(config.lr)
    venv = VecEnv(EpisodeStatistics(env), config.num_envs, reset_pool=0)

    def init(key: Array) -> ContextualTrainState:
        key, k_net, k_env = jax.random.split(key, 3)
        params = net.init(k_net, jnp.zeros(obs_shape, jnp.float32))
        obs, env_state = venv.reset(k_env, env_params)
        return ContextualTrainState(
            params=params, opt_state=tx.init(params), env_state=env_state,
            obs=obs.astype(jnp.float32), key=key, env_steps=jnp.zeros((), jnp.int32),
        )

    def loss_fn(params: Any, obs: Array, actions: Array, rewards: Array) -> Array:
        q = net.apply(params, obs)
        return jnp.mean(jax.vmap(pulled_arm_loss)(q, actions, rewards))

    def update(state: ContextualTrainState) -> tuple[ContextualTrainState, Metrics]:
        key, k_act, k_env = jax.random.split(state.key, 3)
        q = net.apply(state.params, state.obs)
        actions = jax.random.categorical(k_act, q / config.temperature).astype(jnp.int32)
        obs, env_state, rewards, _, _, info = venv.step(k_env, state.env_state, actions, env_params)
        rewards = rewards.astype(jnp.float32)
        loss, grads = jax.value_and_grad(loss_fn)(state.params, state.obs, actions, rewards)
        updates, opt_state = tx.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        env_steps = state.env_steps + config.num_envs
        metrics = {
            "env_steps": env_steps,
            **episode_metrics(info),
            "reward": jnp.mean(rewards),
            "loss": loss,
        }
        for name in ("expected_reward", "best_expected_reward", "optimal_action"):
            if name in info:
                metrics[name] = jnp.mean(info[name].astype(jnp.float32))
        new_state = ContextualTrainState(
            params=params, opt_state=opt_state, env_state=env_state,
            obs=obs.astype(jnp.float32), key=key, env_steps=env_steps,
        )
        return new_state, metrics

    def act(state: ContextualTrainState, obs: Array, key: Array, greedy: bool = False) -> Array:
        q = net.apply(state.params, jnp.asarray(obs, jnp.float32))
        if greedy:
            return jnp.argmax(q, axis=-1).astype(jnp.int32)
        return jax.random.categorical(key, q / config.temperature).astype(jnp.int32)

    def values(state: ContextualTrainState, obs: Array) -> Array:
        """Predicted reward of every arm, ``float32[num_arms]`` for one observation."""
        return net.apply(state.params, jnp.asarray(obs, jnp.float32))

    return Agent(init=init, update=update, num_updates=config.num_updates, act=act,
                 config=config, values=values)


@dataclasses.dataclass(frozen=True)
class ContextualResult:
    """Summary of ``train_contextual`` (host numpy; per-seed arrays are ``float64[seeds]``).

    Attributes:
        reward_curve: ``float32[num_updates]``, mean reward per update over seeds.
        final_reward: mean reward over the last ``window`` updates, per seed: the
            book's "running mean reward" at the end of training.
        final_expected_reward: the same for the expected reward of the pulled arms.
        final_optimal: fraction of optimal pulls in the window, per seed.
        best_reward: mean of ``10 max_a p[s, a]`` over the same pulls, per seed: the
            best achievable mean (over problems its expectation is 10 * 10/11 = 9.09).
        softmax_ceiling: per seed, the expected reward of ``softmax(10 p[s, .] / tau)``
            over uniform states: what the softmax policy earns with perfect estimates.
        greedy_reward: per seed, the expected reward of acting greedily on the learned
            network, ``10 p[s, argmax_a Q(s, a)]`` averaged over states.
        window: updates in the final window.
        seconds: wall time (compile included).
    """

    reward_curve: np.ndarray
    final_reward: np.ndarray
    final_expected_reward: np.ndarray
    final_optimal: np.ndarray
    best_reward: np.ndarray
    softmax_ceiling: np.ndarray
    greedy_reward: np.ndarray
    window: int
    seconds: float


def train_contextual(
    config: ContextualBanditConfig,
    key: Array,
    num_seeds: int = 16,
    env: Any = None,
    env_params: Any = None,
    window: int = 500,
) -> ContextualResult:
    """Train ``num_seeds`` independent agents (each on its own problem) in one program.

    Args:
        config: the agent's settings.
        key: PRNG key, split into one per seed.
        num_seeds: independent agents and problems.
        env: a ``ContextualBandit`` (default: 10 states, 10 arms).
        env_params: default ``env.default_params`` with the time limit raised past
            the run if needed; given params must have ``max_steps_in_episode`` above
            ``config.num_updates`` so that each seed keeps one problem.
        window: updates (from the end) in the final means.

    Returns:
        ``ContextualResult``.

    Raises:
        ValueError: a bad config or size, or an episode shorter than the run.
    """
    from jaxrl.envs.bandits import NUM_TRIALS, ContextualBandit

    num_seeds = _positive_int("num_seeds", num_seeds)
    env = ContextualBandit() if env is None else env
    if not isinstance(env, ContextualBandit):
        raise ValueError(f"train_contextual needs a ContextualBandit, got {env!r}")
    if env_params is None:
        # One problem per seed: the episode must outlast the run, or the last pull's
        # auto-reset would swap in a fresh problem before the summary reads it.
        env_params = env.default_params
        cap = max(int(env_params.max_steps_in_episode), config.num_updates + 1)
        env_params = env_params.replace(max_steps_in_episode=cap)
    elif int(env_params.max_steps_in_episode) <= config.num_updates:
        raise ValueError(
            f"train_contextual: max_steps_in_episode={env_params.max_steps_in_episode} must "
            f"exceed the run's {config.num_updates} pulls per copy (one problem per seed)"
        )
    agent = make(config, env, env_params)
    window = min(_positive_int("window", window), agent.num_updates)
    states = jnp.eye(env.num_states, dtype=jnp.float32)

    def run(key: Array):
        k_train, k_act = jax.random.split(key)
        final, metrics = agent.train(k_train)
        p = final.env_state.env_state.arms[0]  # [S, A], copy 0's problem
        q_true = NUM_TRIALS * p
        pi = jax.nn.softmax(q_true / config.temperature, axis=-1)
        ceiling = jnp.mean(jnp.sum(pi * q_true, axis=-1))
        greedy = agent.act(final, states, k_act, True)  # [S]
        greedy_reward = jnp.mean(q_true[jnp.arange(env.num_states), greedy])
        return metrics, ceiling, greedy_reward

    start = time.perf_counter()
    metrics, ceiling, greedy = jax.block_until_ready(
        jax.jit(jax.vmap(run))(jax.random.split(key, num_seeds))
    )
    seconds = time.perf_counter() - start
    m = {k: np.asarray(v, np.float64) for k, v in metrics.items()}
    tail = slice(-window, None)
    return ContextualResult(
        reward_curve=m["reward"].mean(axis=0).astype(np.float32),
        final_reward=m["reward"][:, tail].mean(axis=1),
        final_expected_reward=m["expected_reward"][:, tail].mean(axis=1),
        final_optimal=m["optimal_action"][:, tail].mean(axis=1),
        best_reward=m["best_expected_reward"][:, tail].mean(axis=1),
        softmax_ceiling=np.asarray(ceiling, np.float64),
        greedy_reward=np.asarray(greedy, np.float64),
        window=window,
        seconds=seconds,
    )


def best_mean_reward(num_arms: int = 10) -> float:
    """``10 n / (n + 1)``: expected reward of always pulling the best of ``n`` U(0,1) arms."""
    return 10.0 * num_arms / (num_arms + 1)


#: The registry's record (``jaxrl.algos.get("contextual_bandit")``).
CONTEXTUAL_BANDIT = Algorithm(
    name="contextual_bandit", config=ContextualBanditConfig, make=make, presets=PRESETS, default_env=DEFAULT_ENV,
    summary="the book's contextual bandit network (10-100-10, softmax actions)",
    supports=frozenset({"discrete"}),
)
