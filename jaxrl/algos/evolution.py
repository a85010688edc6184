"""Shared pieces of the gradient-free algorithms (``jaxrl.algos.ga``, ``jaxrl.algos.es``).

A population is one array: member ``i``'s parameters are row ``i`` of ``float32[P, D]``,
the flat vector of a policy network's parameter pytree (``jax.flatten_util.ravel_pytree``
order). Everything a generation does to it is a ``vmap`` over that axis, so a whole
generation (every member playing every episode, then selection or the ES step) is one
compiled program.

* ``Policy`` / ``policy_for``: the policy network (``jaxrl.core.networks.MLP``, logits over
  a ``Discrete`` action space) as a function of a flat parameter vector.
* ``centred_ranks``: fitness shaping to ``[-0.5, 0.5]`` (ties share their mean rank).
* ``make_evaluator``: ``evaluator(params_batch, key) -> Scores`` (fitness = mean return
  over ``num_episodes`` episodes per member, and the env steps each member took), built
  on ``jaxrl.core.episodes.evaluate``, the project's one episode loop, vmapped over members.
  Every member of a generation plays the same episode starts (common random numbers:
  members are compared on the same task draws, and an ES antithetic pair differs only
  by its perturbation).
* ``over_population``: a population-batched function with its member axis split over
  devices (``shard_map``); only what the function returns per member (fitness scalars)
  leaves a device.
* ``check_positive_int``, ``check_network``, ``check_step_count``: the config checks
  both algorithms share (one-line ``ValueError``s).
* ``evosax_step``: one ask / evaluate / tell generation of an evosax (>= 0.2) strategy
  (OpenES, CMA-ES, SNES...) on the same evaluator.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from jax.flatten_util import ravel_pytree

from jaxrl.core.episodes import evaluate
from jaxrl.core.networks import ACTIVATIONS, MLP, concrete_spaces, observation_input
from jaxrl.envs import spaces
from jaxrl.envs.core import Environment

Array = jax.Array

__all__ = [
    "AXIS", "Policy", "Scores", "centred_ranks", "check_network", "check_positive_int",
    "check_step_count", "evosax_step", "layer_index", "make_evaluator",
    "over_population", "policy_for", "split_devices",
]

#: Mesh axis name of the population split over devices.
AXIS = "population"


# --------------------------------------------------------------------------------- policy
@dataclasses.dataclass(frozen=True)
class Policy:
    """A policy network over a flat parameter vector.

    Attributes:
        net: the flax module (logits ``[..., num_actions]``).
        num_actions: actions of the ``Discrete`` action space.
        size: ``D``, parameters in the flat vector.
        template: the parameter pytree the flat vector unravels to (shapes only matter).
        layers: ``int32[D]``, the layer (flax module) each flat parameter belongs to.
    """

    net: MLP
    num_actions: int
    obs_shape: tuple[int, ...]
    obs_dtype: Any
    size: int
    template: Any
    layers: Array

    def unravel(self, flat: Array) -> Any:
        """``float32[D]`` -> the network's parameter pytree."""
        return _unravel(self.template)(flat)

    def ravel(self, params: Any) -> Array:
        """The network's parameter pytree -> ``float32[D]``."""
        return ravel_pytree(params)[0]

    def init(self, key: Array) -> Array:
        """Flax's default initialisation (lecun normal kernels, zero biases), flat."""
        return self.ravel(self.net.init(key, jnp.zeros((1, *self.obs_shape), self.obs_dtype)))

    def logits(self, flat: Array, obs: Array) -> Array:
        """Logits ``float32[..., num_actions]`` for observations ``[..., *obs_shape]``."""
        return self.net.apply(self.unravel(flat), obs)

    def act(self, flat: Array, obs: Array, key: Array, greedy: bool) -> Array:
        """Action for one unbatched observation: argmax of the logits (greedy) or a
        draw from their softmax."""
        return self.act_tree(self.unravel(flat), obs, key, greedy)

    def act_tree(self, params: Any, obs: Array, key: Array, greedy: bool) -> Array:
        """``act`` with the parameters as the network's pytree."""
        logits = self.net.apply(params, jnp.asarray(obs, self.obs_dtype)[None])[0]
        if greedy:
            return jnp.argmax(logits)
        return jax.random.categorical(key, logits)


def _unravel(template: Any) -> Callable[[Array], Any]:
    return ravel_pytree(template)[1]


def layer_index(params: Any) -> Array:
    """``int32[D]``: for each entry of ``ravel_pytree(params)[0]``, the index of the layer
    (the innermost dict holding the leaf: a flax ``Dense``'s kernel and bias) it is in."""
    flat_with_path = jax.tree_util.tree_flatten_with_path(params)[0]
    names: dict[Any, int] = {}
    parts = []
    for path, leaf in flat_with_path:
        layer = names.setdefault(tuple(path[:-1]), len(names))
        parts.append(jnp.full((int(jnp.size(leaf)),), layer, jnp.int32))
    return jnp.concatenate(parts)


def policy_for(env: Environment, env_params: Any, hidden: Sequence[int], activation: str,
               algorithm: str) -> Policy:
    """The policy network for ``env`` (a ``Discrete`` action space; ``Box`` or
    ``Discrete`` observations), or a one-line ``ValueError`` naming ``algorithm``."""
    action_space, obs_space = concrete_spaces(env, env_params)
    if not isinstance(action_space, spaces.Discrete) or action_space.shape:
        raise ValueError(f"{algorithm} needs a single Discrete action space, got "
                         f"{action_space!r} for {env.name}")
    inp = observation_input(obs_space, algorithm, env.name)
    net = MLP(tuple(hidden), int(action_space.n), activation, obs_ndim=inp.ndim,
              obs_categories=inp.num_categories)
    template = jax.eval_shape(net.init, jax.random.key(0), inp.dummy((1,)))
    template = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), template)
    size = int(ravel_pytree(template)[0].size)
    return Policy(net, int(action_space.n), inp.shape,
                  jnp.int32 if inp.num_categories else jnp.float32, size, template,
                  layer_index(template))


# --------------------------------------------------------------------------------- shaping
def centred_ranks(fitness: Array) -> Array:
    """Fitness ``float32[P]`` -> centred ranks ``float32[P]`` in ``[-0.5, 0.5]``.

    ``rank_i / (P - 1) - 0.5`` with ranks ``0..P-1`` by increasing fitness (the worst
    gets -0.5, the best +0.5); tied members share their mean rank, so equal fitness gets
    equal weight (CartPole populations tie at 500 often). Salimans et al. (2017) use this
    shaping to make ES invariant to monotone transformations of the return. ``P == 1``
    gives 0.
    """
    fitness = jnp.asarray(fitness, jnp.float32)
    n = fitness.shape[0]
    if n == 1:
        return jnp.zeros_like(fitness)
    ranks = jax.scipy.stats.rankdata(fitness, method="average") - 1.0
    return (ranks / (n - 1) - 0.5).astype(jnp.float32)


# --------------------------------------------------------------------------------- fitness
@struct.dataclass
class Scores:
    """One generation's evaluation (leading axis: members).

    Attributes:
        fitness: ``float32[P]``, each member's mean return over its episodes.
        steps: ``int32[P]``, environment steps each member took (all its episodes).
    """

    fitness: Array
    steps: Array


@dataclasses.dataclass(frozen=True)
class _Actor:
    """What ``jaxrl.core.episodes.evaluate`` needs of an agent: ``act`` (state = the params)."""

    act: Callable[[Array, Array, Array, bool], Array]


def make_evaluator(policy: Policy, env: Environment, env_params: Any, num_episodes: int, *,
                   max_steps: int | None = None, greedy: bool = True
                   ) -> Callable[[Any, Array], Scores]:
    """``evaluator(params_batch, key) -> Scores``: every member plays ``num_episodes``.

    ``params_batch`` is ``float32[P, D]`` flat vectors, or a parameter pytree with a
    leading member axis (what evosax's ``ask`` returns). Members play the same episodes
    (the same ``key``); each episode runs to termination, truncation or ``max_steps``
    (default: the params' ``max_steps_in_episode``). ``greedy`` acts by argmax; else
    actions are drawn from the softmax (the book's choice).
    """
    # The episode loop reads the parameters as the network's pytree: flat vectors are
    # unravelled once, before the loop (unravelling inside it, every step, measured
    # about 20 % slower for 1,024 members on CartPole).
    actor = _Actor(policy.act_tree)

    def one(params: Any, key: Array) -> Scores:
        result = evaluate(actor, params, env, env_params, key, num_episodes, max_steps,
                          greedy=greedy)
        return Scores(jnp.mean(result.returns), jnp.sum(result.lengths).astype(jnp.int32))

    def evaluator(params_batch: Any, key: Array) -> Scores:
        if isinstance(params_batch, jax.Array) and params_batch.ndim == 2:
            params_batch = jax.vmap(policy.unravel)(params_batch)
        return jax.vmap(one, in_axes=(0, None))(params_batch, key)

    return evaluator


# --------------------------------------------------------------------------------- devices
def over_population(fn: Callable[..., Any], in_axes: Sequence[int | None],
                    devices: Sequence[Any] | None = None, population: int | None = None
                    ) -> Callable[..., Any]:
    """``fn`` with its member axis split over ``devices`` (``shard_map``).

    ``fn`` maps arguments whose axis 0 is the member axis (``in_axes`` entry 0) and
    shared arguments (``None``, replicated) to outputs whose axis 0 is the member axis.
    Each device runs ``fn`` on its share of the members; outputs come back sharded over
    the members and are gathered where the surrounding program reads them whole (for a
    fitness vector: ``P`` scalars). ``devices`` None or of length 1: ``fn`` itself.
    ``population`` (the member count) must divide evenly; ``ValueError`` otherwise.
    """
    devices = list(devices) if devices is not None else []
    if len(devices) <= 1:
        return fn
    if population is not None and population % len(devices):
        raise ValueError(f"a population of {population} does not split evenly over "
                         f"{len(devices)} devices")
    from jax.sharding import Mesh, PartitionSpec

    specs = tuple(PartitionSpec(AXIS) if a == 0 else PartitionSpec() for a in in_axes)
    return jax.shard_map(fn, mesh=Mesh(devices, (AXIS,)), in_specs=specs,
                         out_specs=PartitionSpec(AXIS), check_vma=False)


def split_devices(devices: Sequence[Any] | None) -> tuple[Any, ...] | None:
    """``Agent.devices`` for a population split over ``devices`` (None: not split)."""
    devices = tuple(devices) if devices is not None else ()
    return devices if len(devices) > 1 else None


# --------------------------------------------------------------------------------- checks
def check_positive_int(owner: str, name: str, value: Any) -> None:
    """``ValueError`` unless ``value`` is an integer >= 1 (``owner.Config.name``)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{owner}.Config.{name} must be a positive integer, got {value!r}")


def check_network(owner: str, hidden: Any, activation: str) -> None:
    """``ValueError`` unless ``hidden`` is a tuple of positive widths and ``activation``
    is known."""
    if not isinstance(hidden, tuple) or not all(
            isinstance(w, (int, np.integer)) and not isinstance(w, bool) and w > 0 for w in hidden):
        raise ValueError(f"{owner}.Config.hidden must be a tuple of positive integers, "
                         f"got {hidden!r}")
    if activation not in ACTIVATIONS:
        raise ValueError(f"{owner}.Config.activation {activation!r} unknown; choose from "
                         f"{', '.join(ACTIVATIONS)}")


def check_step_count(owner: str, episodes_per_generation: int, generations: int,
                     cap: Any) -> None:
    """Refuse a run whose cumulative ``env_steps`` (int32) could overflow."""
    if isinstance(cap, int) and episodes_per_generation * cap * generations >= 2**31:
        raise ValueError(
            f"{owner}: up to {episodes_per_generation * cap * generations:,} environment steps "
            "would overflow the int32 env_steps count; use fewer generations, members or "
            "episodes")


# --------------------------------------------------------------------------------- evosax
def evosax_step(strategy: Any, es_params: Any, evaluator: Callable[[Any, Array], Scores]
                ) -> Callable[[Any, Array], tuple[Any, Scores]]:
    """One generation of an evosax strategy driving ``evaluator``:
    ``step(es_state, key) -> (es_state, Scores)`` (pure; ``jit`` or ``scan`` it).

    Needs evosax >= 0.2 (``ask(key, state, params)`` returning a population pytree,
    ``tell(key, population, fitness, state, params)``); 0.1's interface is refused.
    evosax minimises, so it is told the negated fitness. Set the strategy up with a
    ``Policy``'s parameter pytree as its ``solution`` (``policy.template``) or a flat
    vector (``jnp.zeros(policy.size)``) and ``init(key, mean, es_params)``.
    """
    tell_args = list(inspect.signature(strategy.tell).parameters)
    if not tell_args or tell_args[0] != "key":
        raise ValueError("evosax_step needs evosax >= 0.2 (tell(key, population, fitness, "
                         "state, params)); this strategy's tell takes "
                         f"({', '.join(tell_args)})")

    def step(state: Any, key: Array) -> tuple[Any, Scores]:
        k_ask, k_eval, k_tell = jax.random.split(key, 3)
        population, state = strategy.ask(k_ask, state, es_params)
        scores = evaluator(population, k_eval)
        state, _ = strategy.tell(k_tell, population, -scores.fitness, state, es_params)
        return state, scores

    return step
