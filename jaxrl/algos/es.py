"""OpenAI-style evolution strategies (Salimans et al., 2017), one generation per update.

The policy is a mean parameter vector ``theta`` (``float32[D]``). A generation:

1. ``perturb``: member ``i`` plays with ``theta + sigma * eps_i``, antithetic pairs
   ``eps_{2j} = z_j``, ``eps_{2j+1} = -z_j`` with ``z_j ~ N(0, I)``. The noise is never
   stored: ``z_j`` is regenerated from ``(generation key, j)`` wherever it is needed
   (``perturbation``), so with the population split over devices only the members'
   fitness scalars cross between them.
2. ``evaluate``: fitness = mean return over ``episodes`` episodes, all members on the
   same episode starts (``jaxrl.algos.evolution.make_evaluator``).
3. ``shape``: centred ranks in ``[-0.5, 0.5]`` (``fitness_shaping="centred_rank"``),
   or standardised, or raw fitness.
4. ``step``: the search gradient
   ``g = 1 / (P sigma) * sum_i F_i eps_i`` (an estimate of the gradient of the
   Gaussian-smoothed expected fitness), L2 weight decay ``g - weight_decay * theta``,
   and an Adam step of size ``lr`` up that direction (``optax``).

``act`` plays the mean parameters (greedy: argmax of the logits). Metrics per
generation: ``best_fitness``, ``mean_fitness``, ``worst_fitness`` (of the perturbed
members), ``grad_norm``, ``env_steps`` (all members, cumulative), ``episode_return``
(= mean fitness) and ``episodes``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import struct

from jaxrl.algos import Algorithm, evolution
from jaxrl.core.agent import Agent, Metrics
from jaxrl.core.config import check_leaves
from jaxrl.core.config import static as _static
from jaxrl.core.episodes import episode_cap
from jaxrl.core.presets import CARTPOLE_SOLVED, Claim, Preset
from jaxrl.envs.core import Environment

Array = jax.Array

__all__ = [
    "ES",
    "DEFAULT_ENV",
    "PRESETS",
    "SHAPINGS",
    "Config",
    "State",
    "gradient_estimate",
    "make",
    "member_params",
    "perturbation",
    "population",
    "shape_fitness",
]

SHAPINGS = ("centred_rank", "standardise", "raw")


@struct.dataclass
class Config:
    """OpenAI-ES settings. Defaults reach return 500 on CartPole-v1.

    Static fields (shapes and loop lengths) first; the rest are sweepable leaves.
    """

    # --- static -------------------------------------------------------------------
    population_size: int = _static(128)  # members per generation (even: antithetic pairs)
    generations: int = _static(50)  # generations in a run (one update each)
    episodes: int = _static(3)  # episodes per fitness evaluation (mean return)
    hidden: tuple[int, ...] = _static((10, 10))  # policy MLP hidden widths
    activation: str = _static("relu")  # hidden activation (jaxrl.core.networks.ACTIVATIONS)
    fitness_shaping: str = _static("centred_rank")  # "centred_rank", "standardise" or "raw"
    sample_actions: bool = _static(False)  # fitness episodes sample the softmax; else argmax
    max_steps: int = _static(0)  # step cap per fitness episode (0: the env's own limit)
    # --- pytree leaves (sweepable) -------------------------------------------------
    sigma: float = 0.1  # standard deviation of the parameter perturbations
    lr: float = 0.1  # Adam step size on the mean
    weight_decay: float = 0.005  # L2 coefficient pulling the mean towards 0
    adam_eps: float = 1e-8  # Adam epsilon

    @property
    def num_updates(self) -> int:
        """Updates in a run: one per generation."""
        return self.generations

    def validate(self) -> Config:
        """Raise ``ValueError`` on a bad setting (one line); returns ``self``."""
        for name in ("population_size", "generations", "episodes"):
            evolution.check_positive_int("es", name, getattr(self, name))
        if self.population_size % 2:
            raise ValueError(f"es.Config.population_size must be even (antithetic pairs), "
                             f"got {self.population_size}")
        if isinstance(self.max_steps, bool) or not isinstance(self.max_steps, int) \
                or self.max_steps < 0:
            raise ValueError(f"es.Config.max_steps must be an integer >= 0, got {self.max_steps!r}")
        if self.fitness_shaping not in SHAPINGS:
            raise ValueError(f"es.Config.fitness_shaping {self.fitness_shaping!r} unknown; "
                             f"choose from {', '.join(SHAPINGS)}")
        evolution.check_network("es", self.hidden, self.activation)
        check_leaves("es.Config", {
            "sigma": (self.sigma, lambda v: v > 0, "> 0"),
            "lr": (self.lr, lambda v: v > 0, "> 0"),
            "weight_decay": (self.weight_decay, lambda v: v >= 0, ">= 0"),
            "adam_eps": (self.adam_eps, lambda v: v > 0, "> 0"),
        })
        return self


#: Named settings, both for CartPole-v1. ``cartpole``: the defaults (population 128 in
#: 64 antithetic pairs, 50 generations, 3 greedy episodes per fitness, sigma 0.1,
#: Adam 0.1, L2 0.005).
#: ``openai``: Salimans et al.'s published hyperparameters (sigma 0.02, Adam 0.01,
#: L2 0.005) on a larger population, for comparison: too small a sigma for this
#: network, 3 of 8 seeds reach 500 in 60 generations (``benchmarks/evolution.py``).
PRESETS: dict[str, Preset] = {
    "cartpole": Preset(
        Config(), env="CartPole-v1",
        description="jaxrl tuned for CartPole-v1: 64 antithetic pairs, sigma 0.1, Adam 0.1",
        claim=CARTPOLE_SOLVED.measured("15/16"),
    ),
    "openai": Preset(
        Config(population_size=256, generations=60, sigma=0.02, lr=0.01, weight_decay=0.005),
        env="CartPole-v1",
        description="Salimans et al.'s sigma 0.02, Adam 0.01, L2 0.005; population 256 "
                    "(for comparison: 6 of 16 unseen seeds reach 500)",
        claim=Claim("greedy_return", 500.0, "greedy return 500 over 20 episodes (measured "
                    "for comparison: a minority of seeds)", episodes=20, holds="6/16"),
    ),
}

#: The environment a run trains on when none is named.
DEFAULT_ENV: str = "CartPole-v1"


# --------------------------------------------------------------------------------- maths
def perturbation(key: Array, i: Array, size: int) -> Array:
    """``eps_i``, member ``i``'s noise ``float32[size]``: ``+z_j`` for ``i = 2j``, ``-z_j``
    for ``i = 2j + 1``, with ``z_j = normal(fold_in(key, j))``. Pure in ``(key, i)``:
    the noise is regenerated, never stored or sent."""
    z = pair_noise(key, i // 2, size)
    return jnp.where(i % 2 == 0, z, -z)


def pair_noise(key: Array, j: Array, size: int) -> Array:
    """``z_j = normal(fold_in(key, j))``, ``float32[size]``: the noise of pair ``j``."""
    return jax.random.normal(jax.random.fold_in(key, j), (size,), jnp.float32)


def member_params(mean: Array, key: Array, i: Array, sigma: Any) -> Array:
    """Member ``i``'s parameters ``mean + sigma * eps_i`` (``float32[D]``)."""
    return mean + sigma * perturbation(key, i, mean.shape[0])


def population(mean: Array, key: Array, size: int, sigma: Any) -> Array:
    """The whole generation ``float32[size, D]`` (``member_params`` for ``i < size``)."""
    return jax.vmap(member_params, in_axes=(None, None, 0, None))(
        mean, key, jnp.arange(size), sigma)


def shape_fitness(fitness: Array, how: str) -> Array:
    """``F``: centred ranks, standardised (zero mean, unit std) or raw fitness."""
    if how == "centred_rank":
        return evolution.centred_ranks(fitness)
    if how == "standardise":
        return (fitness - jnp.mean(fitness)) / (jnp.std(fitness) + 1e-8)
    return fitness


def gradient_estimate(key: Array, shaped: Array, sigma: Any, size: int) -> Array:
    """``g = 1 / (P sigma) * sum_i F_i eps_i`` with the noise regenerated from ``key``.

    With antithetic pairs this is ``1 / (P sigma) * sum_j (F_{2j} - F_{2j+1}) z_j``: a
    fitness term shared by a pair (anything even in ``eps``: constants, quadratic
    terms) cancels exactly. For raw fitness ``f`` it estimates the gradient of
    ``E[f(theta + sigma eps)]``; for a quadratic ``f`` that is ``grad f(theta)``.

    Args:
        key: the generation's noise key.
        shaped: ``float32[P]``, shaped fitness, ``P`` even.
        sigma: the perturbation scale.
        size: ``D``.

    Returns:
        ``float32[D]``.
    """
    pairs = shaped.shape[0] // 2
    diff = shaped[0::2] - shaped[1::2]
    z = jax.vmap(lambda j: pair_noise(key, j, size))(jnp.arange(pairs))
    return diff @ z / (shaped.shape[0] * sigma)


# --------------------------------------------------------------------------------- agent
@struct.dataclass
class State:
    """An ES run between generations."""

    mean: Array  # float32[D], the mean parameters (the policy act plays)
    opt_state: optax.OptState
    key: Array
    generation: Array  # int32[], generations done
    env_steps: Array  # int32[], environment steps taken by all members so far


def make(config: Config, env: Environment, env_params: Any = None, *,
         devices: Sequence[Any] | None = None) -> Agent:
    """Build OpenAI-ES for ``env`` (a ``Discrete`` action space).

    Args:
        config: a ``Config``.
        env: a single environment.
        env_params: its params (``env.default_params`` when None).
        devices: split each generation's members over these devices (``shard_map``;
            ``population_size`` must divide evenly): each device regenerates its own
            members' noise and only the fitness scalars are gathered. For one seed at
            a time (``jax.jit(agent.train)``); the CLI splits seeds over devices instead.

    Returns:
        ``jaxrl.core.agent.Agent``; ``act`` plays the mean parameters.
    """
    if not isinstance(config, Config):
        raise TypeError(f"es.make needs an es.Config, got {type(config).__name__}")
    config.validate()
    cfg = config
    if env_params is None:
        env_params = env.default_params
    policy = evolution.policy_for(env, env_params, cfg.hidden, cfg.activation, "es")
    max_steps = cfg.max_steps or None
    evolution.check_step_count("es", cfg.population_size * cfg.episodes, cfg.generations,
                      episode_cap(env_params, max_steps))
    evaluator = evolution.make_evaluator(policy, env, env_params, cfg.episodes,
                                         max_steps=max_steps, greedy=not cfg.sample_actions)

    if devices is not None and len(devices) > 1 and not cfg.population_size % len(devices) \
            and (cfg.population_size // len(devices)) % 2:
        raise ValueError(f"es: a population of {cfg.population_size} over {len(devices)} "
                         "devices leaves an antithetic pair split between two devices; "
                         "use a population divisible by twice the device count")

    def fitness_of(index, mean, noise_key, eval_key, sigma):
        # ``index``: this device's members, whole antithetic pairs in order. Each pair's
        # noise is drawn once and used with both signs (== member_params(mean, key, i)).
        z = jax.vmap(lambda j: pair_noise(noise_key, j, mean.shape[0]))(index[0::2] // 2)
        eps = jnp.stack([z, -z], axis=1).reshape(index.shape[0], mean.shape[0])
        return evaluator(mean + sigma * eps, eval_key)

    members = evolution.over_population(fitness_of, (0, None, None, None, None), devices,
                                        cfg.population_size)
    return _agent(cfg, policy, lambda mean, k_noise, k_eval: members(
        jnp.arange(cfg.population_size), mean, k_noise, k_eval, cfg.sigma),
        evolution.split_devices(devices))


def _agent(cfg: Config, policy: evolution.Policy,
           scores_of: Callable[[Array, Array, Array], evolution.Scores],
           devices: tuple[Any, ...] | None = None) -> Agent:
    """The ES agent around ``scores_of(mean, noise_key, eval_key) -> Scores``."""
    optimizer = optax.chain(optax.scale_by_adam(eps=cfg.adam_eps), optax.scale(-cfg.lr))

    def init(key: Array) -> State:
        k_net, k_next = jax.random.split(key)
        mean = policy.init(k_net)
        return State(mean=mean, opt_state=optimizer.init(mean), key=k_next,
                     generation=jnp.zeros((), jnp.int32), env_steps=jnp.zeros((), jnp.int32))

    def update(state: State) -> tuple[State, Metrics]:
        key, k_noise, k_eval = jax.random.split(state.key, 3)
        scores = scores_of(state.mean, k_noise, k_eval)
        fitness = scores.fitness
        shaped = shape_fitness(fitness, cfg.fitness_shaping)
        grad = gradient_estimate(k_noise, shaped, cfg.sigma, state.mean.shape[0])
        # Adam minimises: hand it the negated ascent direction plus the L2 term.
        updates, opt_state = optimizer.update(-grad + cfg.weight_decay * state.mean,
                                              state.opt_state, state.mean)
        env_steps = state.env_steps + jnp.sum(scores.steps)
        metrics: Metrics = {
            "env_steps": env_steps,
            "episode_return": jnp.mean(fitness),
            "episodes": jnp.asarray(cfg.population_size * cfg.episodes, jnp.int32),
            "best_fitness": jnp.max(fitness),
            "mean_fitness": jnp.mean(fitness),
            "worst_fitness": jnp.min(fitness),
            "grad_norm": jnp.linalg.norm(grad),
        }
        new = State(mean=optax.apply_updates(state.mean, updates), opt_state=opt_state,
                    key=key, generation=state.generation + 1, env_steps=env_steps)
        return new, metrics

    def act(state: State, obs: Array, key: Array, greedy: bool = True) -> Array:
        return policy.act(state.mean, obs, key, greedy)

    return Agent(init=init, update=update, num_updates=cfg.num_updates, act=act, config=cfg,
                 devices=devices)


#: The registry's record (``jaxrl.algos.get("es")``).
ES = Algorithm(
    name="es", config=Config, make=make, presets=PRESETS, default_env=DEFAULT_ENV,
    summary="OpenAI evolution strategies: antithetic Gaussian perturbations, centred ranks, Adam",
    supports=frozenset({"discrete", "population_split"}),
)
