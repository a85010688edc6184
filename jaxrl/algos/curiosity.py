"""Curiosity (chapter 8): intrinsic rewards that wrap a learner, and exploration metrics.

A curiosity module pays the agent for surprise. It does not learn a policy itself: it
wraps a learner (PPO: ``ppo.Config(curiosity="icm")``) at two points,

1. **reward**: after a rollout, ``Curiosity.intrinsic_reward`` turns every transition
   ``(s, a, s')`` into a bonus ``r_int`` from the module's parameters at collection
   time; the learner trains on ``extrinsic_coef * r_ext + r_int`` (``extrinsic_coef=0``
   is pure curiosity). The bonus is data: no gradient ever flows through it.
2. **loss**: in every minibatch step, ``Curiosity.joint_step`` differentiates the
   book's single objective ``lambda * L_policy + L_curiosity`` with respect to the
   learner's parameters and the module's parameters together. The two sets share no
   parameter and the bonus is data, so the learner's gradient is exactly
   ``lambda * dL_policy`` and the module's exactly ``dL_curiosity`` (tested); the
   module's half goes through its own Adam (``lr``), the learner's through its own
   optimiser. (With Adam, scaling a loss barely changes a step: lambda acts mostly
   through the learner's gradient-norm clip.)

DQN (``dqn.Config(curiosity="icm")``, the book's own pairing: ICM around a Q-network)
keeps its update untouched: ``online_step`` pays each collected step its bonus before the
transition is stored and gives the module one Adam step on that step's transitions
(``Curiosity.step``: ``joint_step`` with an empty learner, the same module gradient).

Two kinds behind one interface:

* **ICM** (intrinsic curiosity module, Pathak et al. 2017; the book's chapter 8): an
  encoder ``phi(s)``; a forward model predicting ``phi(s')`` from
  ``(phi(s), one_hot(a))``; an inverse model predicting ``a`` from ``(phi(s), phi(s'))``.
  Forward error ``F = sum_j (fwd(phi(s), a)_j - phi(s')_j)^2`` (the book's per-sample
  squared error summed over features), both encodings held fixed (stop-gradient: the
  encoder learns only from the inverse model, as in the book). Inverse error
  ``I = -log softmax(inv(phi(s), phi(s')))_a``: cross-entropy on the inverse model's
  logits, softmax applied once (the book's inverse model ends in a softmax and then
  calls a cross-entropy that applies another: that defect is not copied). Loss
  ``L = mean(beta F + (1 - beta) I)``, beta 0.2; the bonus is ``eta * F`` (eta 1.0).
  Discrete actions only.
* **RND** (random network distillation, Burda et al. 2018): a randomly initialised
  target network ``g(s')`` that is never trained (it is not in the trainable
  parameters and its output is under stop-gradient) and a predictor ``f(s')``.
  Error ``E = sum_j (f(s')_j - g(s')_j)^2``, loss ``mean E``, bonus ``eta * E``.

Normalisation (``normalize=True``, the default): the bonus is divided by the running
standard deviation of the raw errors (``jaxrl.core.running_stats.RunningStats``, merged with each batch
before use), ``r_int = eta * err / sqrt(var + 1e-8)``, so eta keeps its meaning and
the bonus keeps a steady scale while the module learns.

Non-episodic bonus (``intrinsic_value=True``; PPO's ``curiosity.intrinsic_critic``): the module
carries an intrinsic critic ``V_int`` trained by its own loss; the learner estimates the
bonus's advantages with their own GAE (``intrinsic_gamma``) that runs on through episode
ends, and adds them to the env reward's (Burda et al. 2018). Input normalisation
(``normalize_obs=True``): the module's networks read observations whitened by running
statistics and clipped to [-5, 5]; on the maze, whose walls and goal never change, this
is what makes an unseen cell stand out to RND's target network.

Settings: a learner's config holds them as one group, ``Config.curiosity`` (a
``CuriosityConfig``; PPO's adds the joint objective's and the intrinsic critic's fields,
``jaxrl.algos.ppo.CuriosityConfig``). Its ``kind`` is None (no curiosity: the learner's
own program, unchanged), ``"icm"`` or ``"rnd"``; a kind alone stands for the group with
that kind (``Config(curiosity="icm")``, ``config.replace(curiosity="rnd")``, ``--set
curiosity=icm``), and a dict for the group with those fields changed
(``config.replace(curiosity={"eta": 0.3})``).

Exploration metrics (``Coverage``, ``ExplorationState``, ``exploration_metrics``):
visit counts per cell for environments with a cell map (``coverage(env)``): Maze's
player cell, a 16-bin-per-dimension grid over a bounded vector observation (MountainCar:
position x velocity), the hot cell of a 2-D one-hot observation (DeepSea); the
furthest first observation component (MountainCar's position); the best episode return.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct

from jaxrl.core.config import check_leaves
from jaxrl.core.config import static as _static
from jaxrl.core.networks import MLP, ObservationInput
from jaxrl.core.returns import gae
from jaxrl.core.running_stats import RunningStats
from jaxrl.envs import spaces

Array = jax.Array

__all__ = [
    "KINDS",
    "Coverage",
    "Curiosity",
    "CuriosityConfig",
    "CuriosityState",
    "ExplorationState",
    "coverage",
    "exploration_metrics",
    "forward_error",
    "from_config",
    "inverse_error",
    "kind_shorthand",
    "make",
    "non_episodic_gae",
    "online_step",
    "settle_group",
]

KINDS = ("none", "icm", "rnd")  # "none": the kind None (no curiosity)
COVERAGE_BINS = 16  # bins per dimension of a bounded vector observation


# --------------------------------------------------------------------------- the settings
@struct.dataclass
class CuriosityConfig:
    """A curiosity module's settings, held by a learner's config as one group of fields
    (``Config.curiosity``); set one with ``--set curiosity.beta=0.3``.

    Static fields (shapes; changing one recompiles) and pytree leaves (sweepable:
    ``jaxrl sweep --grid curiosity.eta=0.1,0.3``) as in any config.
    """

    kind: str | None = _static(None)  # None (no curiosity), "icm" or "rnd"
    hidden: tuple[int, ...] = _static((64,))  # hidden widths of its networks
    features: int = _static(32)  # ICM encoding / RND target output width
    beta: float = 0.2  # ICM: forward weight, inverse weight 1 - beta (the book's)
    eta: float = 1.0  # intrinsic reward scale (the book's)
    lr: float = 1e-3  # the curiosity networks' Adam learning rate
    extrinsic_coef: float = 1.0  # weight of the env's reward with curiosity (0: pure curiosity)

    def __post_init__(self) -> None:
        if isinstance(self.kind, str) and self.kind.strip().lower() == "none":
            object.__setattr__(self, "kind", None)  # "none" (text) is the kind None

    def leaf_rules(self) -> dict[str, tuple[Callable[[np.ndarray], Any], str]]:
        """``{field: (ok, rule)}`` of the leaves (``jaxrl.core.config.check_leaves``)."""
        return {
            "beta": (lambda v: (v >= 0) & (v <= 1), "in [0, 1]"),
            "eta": (lambda v: v >= 0, ">= 0"),
            "lr": (lambda v: v > 0, "> 0"),
            "extrinsic_coef": (lambda v: v >= 0, ">= 0"),
        }

    def validate(self, owner: str = "CuriosityConfig") -> CuriosityConfig:
        """Raise ``ValueError`` on a bad setting (``owner``: how messages name the group,
        ``"ppo.Config.curiosity"``); leaves are checked when concrete."""
        if self.kind not in (None, *KINDS[1:]):
            raise ValueError(f"{owner} {self.kind!r} unknown; choose from {', '.join(KINDS)}")
        if not isinstance(self.hidden, tuple) or not all(
            isinstance(w, (int, np.integer)) and not isinstance(w, bool) and w > 0
            for w in self.hidden
        ):
            raise ValueError(f"{owner}.hidden must be a tuple of positive integers, "
                             f"got {self.hidden!r}")
        f = self.features
        if isinstance(f, bool) or not isinstance(f, (int, np.integer)) or f < 1:
            raise ValueError(f"{owner}.features must be a positive integer, got {f!r}")
        check_leaves(owner, {name: (getattr(self, name), ok, rule)
                             for name, (ok, rule) in self.leaf_rules().items()})
        return self


def _as_group(value: Any, base: CuriosityConfig) -> Any:
    """``value`` given for a learner's curiosity group, as the group: a group of the
    learner's class as it is; a kind (``"icm"``, ``None``) or a dict: ``base`` with those
    fields changed; the shared ``CuriosityConfig`` for a learner whose group has more
    fields: ``base`` with its fields. Anything else is returned for ``validate`` to refuse."""
    if isinstance(value, type(base)):
        return value
    if isinstance(value, CuriosityConfig) and isinstance(base, type(value)):
        return base.replace(**{f.name: getattr(value, f.name) for f in dataclasses.fields(value)})
    if isinstance(value, Mapping):
        return base.replace(**value)
    if value is None or isinstance(value, str):
        return base.replace(kind=value)
    return value


def settle_group(config: Any) -> None:
    """A learner config's ``__post_init__``: its ``curiosity`` as the group (a kind or a
    dict given for it: the group's defaults with those fields)."""
    default = type(config).__dataclass_fields__["curiosity"].default
    if not isinstance(config.curiosity, type(default)):
        object.__setattr__(config, "curiosity", _as_group(config.curiosity, default))


def kind_shorthand(cls: type) -> type:
    """Class decorator, over ``flax.struct.dataclass``, of a learner's config with a
    ``curiosity`` group: ``config.replace(curiosity="icm")`` (a kind) or
    ``replace(curiosity={"eta": 0.3})`` changes only those fields of the group, the rest
    as they were. (Every subclass is decorated too: ``struct.dataclass`` gives each class
    its own ``replace``.)"""

    def replace(self: Any, **updates: Any) -> Any:
        if "curiosity" in updates:
            updates["curiosity"] = _as_group(updates["curiosity"], self.curiosity)
        return dataclasses.replace(self, **updates)

    cls.replace = replace
    return cls


# --------------------------------------------------------------------------- the maths
def forward_error(predicted: Array, target: Array) -> Array:
    """ICM's forward error (and RND's prediction error) per sample:
    ``sum_j (predicted_j - target_j)^2`` over the last axis; ``float32[...]``."""
    chex.assert_equal_shape([predicted, target])
    return jnp.sum((predicted - target) ** 2, axis=-1)


def inverse_error(logits: Array, action: Array) -> Array:
    """ICM's inverse error per sample: ``-log softmax(logits)[action]``, the softmax
    applied once (``logits float32[..., n]``, ``action int[...]``); ``float32[...]``."""
    chex.assert_equal_shape_prefix([logits, action], action.ndim)
    log_p = jax.nn.log_softmax(logits, axis=-1)
    return -jnp.take_along_axis(log_p, action[..., None].astype(jnp.int32), axis=-1)[..., 0]


# --------------------------------------------------------------------------- the module
@struct.dataclass
class CuriosityState:
    """A curiosity module's state, carried by the learner's state.

    ``params``: trainable networks (ICM: encoder, forward, inverse; RND: predictor).
    ``target``: RND's fixed random network (``None`` for ICM); never updated.
    ``opt_state``: the module's Adam. ``stats``: running statistics of the raw errors.
    ``obs_stats``: running mean and variance of the observations its networks read
    (``normalize_obs``; None without).
    """

    params: Any
    target: Any
    opt_state: Any
    stats: Any
    obs_stats: Any = None


@dataclasses.dataclass(frozen=True)
class Curiosity:
    """An intrinsic-reward module for one environment (build it with ``make``).

    Attributes:
        kind: ``"icm"`` or ``"rnd"``.
        num_actions: discrete actions (ICM's forward input and inverse output).
        init: ``key -> CuriosityState``.
        errors: ``(params, target, obs, action, next_obs) -> float32[...]`` raw per-sample
            errors (ICM: forward error; RND: prediction error) over any leading axes.
        loss: ``(params, target, obs, action, next_obs[, int_return]) -> (loss, terms)``,
            flat ``[B]`` batches; ``terms`` a dict of scalars for the learner's metrics.
            With an intrinsic critic, ``int_return`` (the intrinsic lambda-returns) adds
            its squared error ``0.5 mean (V_int(s) - G_int)^2`` to the loss.
        value: ``(params, obs) -> float32[...]``, the intrinsic critic ``V_int(s)`` (its
            own network in ``params["value"]``), or None without one (``intrinsic_value``).
    """

    kind: str
    num_actions: int
    beta: Any
    lam: Any
    eta: Any
    normalize: bool
    optimizer: Any
    init: Callable[[Array], CuriosityState]
    errors: Callable[..., Array]
    loss: Callable[..., tuple[Array, dict[str, Array]]]
    value: Callable[[Any, Array], Array] | None = None
    normalize_obs: bool = False

    def prep(self, state: CuriosityState, obs: Array) -> Array:
        """An observation as the module's networks read it: whitened by the running
        statistics and clipped to [-5, 5] with ``normalize_obs`` (RND's input
        normalisation: on a board of constant walls the one cell that changes stands
        out), else unchanged."""
        if not self.normalize_obs:
            return obs
        return jnp.clip((obs - state.obs_stats.mean) / jnp.sqrt(state.obs_stats.var + 1e-8),
                        -5.0, 5.0)

    def intrinsic_value(self, state: CuriosityState, obs: Array) -> Array:
        """The intrinsic critic's ``V_int(s)`` (``intrinsic_value`` modules only)."""
        return self.value(state.params, self.prep(state, obs))

    def intrinsic_reward(
        self, state: CuriosityState, obs: Array, action: Array, next_obs: Array
    ) -> tuple[Array, CuriosityState]:
        """``r_int`` for a batch of transitions (any leading axes) and the state with its
        error statistics updated. ``eta * err``, over the running std when ``normalize``;
        under stop-gradient (a reward is data). With ``normalize_obs`` the observation
        statistics first merge this batch's ``next_obs``."""
        if self.normalize_obs:
            flat = jnp.reshape(next_obs, (-1, *state.obs_stats.mean.shape))
            state = state.replace(obs_stats=state.obs_stats.update(flat.astype(jnp.float32)))
            obs, next_obs = self.prep(state, obs), self.prep(state, next_obs)
        err = jax.lax.stop_gradient(self.errors(state.params, state.target, obs, action, next_obs))
        if not self.normalize:
            return self.eta * err, state
        stats = state.stats.update(jnp.reshape(err, (-1,)))
        return self.eta * err / jnp.sqrt(stats.var + 1e-8), state.replace(stats=stats)

    def joint_step(
        self,
        learner_loss: Callable[[Any, Any], tuple[Array, Any]],
        learner_params: Any,
        learner_batch: Any,
        state: CuriosityState,
        transitions: tuple[Array, Array, Array],
    ) -> tuple[Any, CuriosityState, tuple[Any, dict[str, Array]]]:
        """One minibatch of the book's objective ``lam * L_learner + L_curiosity``.

        Args:
            learner_loss: ``(params, batch) -> (loss, aux)``, the learner's own loss.
            learner_params, learner_batch: its arguments.
            state: this module's state.
            transitions: ``(obs, action, next_obs)``, flat ``[B, ...]``, for the module
                (and ``int_return`` last, with an intrinsic critic).

        Returns:
            ``(learner_grads, state, (aux, curiosity_terms))``: the learner's gradient
            (for its own optimiser), this module's state after one Adam step.
        """

        def total(both):
            params, cur_params = both
            l_val, aux = learner_loss(params, learner_batch)
            obs, action, next_obs, *rest = transitions
            c_val, terms = self.loss(cur_params, state.target, self.prep(state, obs), action,
                                     self.prep(state, next_obs), *rest)
            return self.lam * l_val + c_val, (aux, terms)

        (g_learner, g_cur), (aux, terms) = jax.grad(total, has_aux=True)(
            (learner_params, state.params)
        )
        updates, opt_state = self.optimizer.update(g_cur, state.opt_state, state.params)
        state = state.replace(params=optax.apply_updates(state.params, updates),
                              opt_state=opt_state)
        return g_learner, state, (aux, terms)

    def step(
        self, state: CuriosityState, transitions: tuple[Array, Array, Array]
    ) -> tuple[CuriosityState, dict[str, Array]]:
        """One Adam step of the module alone on ``(obs, action, next_obs)`` (flat
        ``[B, ...]``): ``joint_step`` with an empty learner. For a learner that keeps its
        own update (DQN): the two parameter sets share nothing, so the joint objective's
        gradient for the module is this one, and the learner's is its own scaled by
        ``lam`` (which Adam all but cancels)."""
        _, state, (_, terms) = self.joint_step(
            lambda params, batch: (jnp.zeros((), jnp.float32), None), (), None, state,
            transitions)
        return state, terms


def non_episodic_gae(
    bonus: Array, values: Array, next_values: Array, gamma: float | Array, lam: float | Array
) -> Array:
    """GAE of the intrinsic reward over a rollout ``[T, N]``, never cut at episode ends.

    ``delta_t = b_t + gamma * nv_t - v_t``; ``A_t = delta_t + gamma * lam * A_{t+1}``,
    ``A_T = 0``, whatever ended or reset in between (Burda et al. 2018: novelty is not a
    property of an episode, so its return runs on into the next). ``nv_t`` is the
    intrinsic critic at the transition's own ``s'`` (the final observation at an episode
    end): this is ``jaxrl.core.returns.gae`` with no termination and no truncation.

    Args:
        bonus, values, next_values: ``float32[T, N]`` (time first, as PPO's rollout).
        gamma, lam: the intrinsic discount and GAE lambda.

    Returns:
        ``float32[T, N]``, the intrinsic advantages.
    """
    chex.assert_equal_shape([bonus, values, next_values])
    never = jnp.zeros(bonus.shape, bool)
    return jax.vmap(gae, in_axes=(1, 1, 1, 1, 1, None, None), out_axes=1)(
        bonus, values, next_values, never, never, gamma, lam)


def make(
    kind: str,
    obs_input: ObservationInput,
    action_space: Any,
    *,
    hidden: tuple[int, ...] = (64,),
    features: int = 32,
    beta: float | Array = 0.2,
    lam: float | Array = 0.1,
    eta: float | Array = 1.0,
    lr: float | Array = 1e-3,
    normalize: bool = True,
    intrinsic_value: bool = False,
    normalize_obs: bool = False,
) -> Curiosity:
    """Build an ICM or RND module for observations read as ``obs_input``.

    Args:
        kind: ``"icm"`` or ``"rnd"``.
        obs_input: how the networks read an observation (``jaxrl.core.networks.observation_input``).
        action_space: the environment's action space (ICM needs a ``Discrete`` one).
        hidden: hidden widths of every network (encoder, heads, predictor, target).
        features: width of the encoding ``phi(s)`` (ICM) or of the target's output (RND).
        beta: ICM's forward weight (inverse weight ``1 - beta``); the book's 0.2.
        lam: the learner loss's weight in the joint objective; the book's 0.1.
        eta: bonus scale; the book's 1.0.
        lr: the module's Adam learning rate.
        normalize: divide the bonus by the running std of the raw errors.
        intrinsic_value: add an intrinsic critic ``V_int`` (an MLP of ``hidden`` in
            ``params["value"]``, trained by this module's loss and Adam) for a learner
            that estimates the bonus's returns apart from the env's (non-episodic
            intrinsic returns, Burda et al. 2018).
        normalize_obs: whiten the networks' input by running observation statistics
            (RND's input normalisation; ``Curiosity.prep``); float observations only.

    Raises:
        ValueError: an unknown kind, or ICM on a non-discrete action space.
    """

    if kind not in KINDS[1:]:
        raise ValueError(f"unknown curiosity {kind!r}; choose from {', '.join(KINDS)}")
    discrete = isinstance(action_space, spaces.Discrete) and action_space.shape == ()
    if kind == "icm" and not discrete:
        raise ValueError(f"curiosity 'icm' needs a single Discrete action space (its inverse "
                         f"model classifies actions), got {action_space!r}; use 'rnd'")
    num_actions = int(action_space.n) if discrete else 0
    if normalize_obs and obs_input.num_categories:
        raise ValueError("curiosity normalize_obs needs float observations, not a Discrete one")
    optimizer = optax.adam(lr)
    obs_kw = {"obs_ndim": obs_input.ndim, "obs_categories": obs_input.num_categories}
    dummy = obs_input.dummy((1,))
    stats0 = RunningStats.create(())

    if kind == "icm":
        encoder = MLP(hidden, features, "relu", **obs_kw)
        forward = MLP(hidden, features, "relu")
        inverse = MLP(hidden, num_actions, "relu")

        def init(key: Array) -> CuriosityState:
            k_enc, k_fwd, k_inv = jax.random.split(key, 3)
            params = {
                "encoder": encoder.init(k_enc, dummy),
                "forward": forward.init(k_fwd, jnp.zeros((1, features + num_actions))),
                "inverse": inverse.init(k_inv, jnp.zeros((1, 2 * features))),
            }
            return CuriosityState(params, None, optimizer.init(params), stats0)

        def parts(params, obs, action, next_obs):
            phi = encoder.apply(params["encoder"], obs)
            phi_next = encoder.apply(params["encoder"], next_obs)
            a = jax.nn.one_hot(action, num_actions, dtype=jnp.float32)
            # Forward model: both encodings held fixed (the encoder learns from the inverse model).
            pred = forward.apply(
                params["forward"], jnp.concatenate([jax.lax.stop_gradient(phi), a], axis=-1))
            fwd = forward_error(pred, jax.lax.stop_gradient(phi_next))
            logits = inverse.apply(params["inverse"], jnp.concatenate([phi, phi_next], axis=-1))
            return fwd, inverse_error(logits, action)

        def errors(params, target, obs, action, next_obs):
            return parts(params, obs, action, next_obs)[0]

        def loss(params, target, obs, action, next_obs):
            fwd, inv = parts(params, obs, action, next_obs)
            total = jnp.mean(beta * fwd + (1.0 - beta) * inv)
            return total, {"forward_loss": jnp.mean(fwd), "inverse_loss": jnp.mean(inv)}

    else:
        predictor = MLP((*hidden, *hidden), features, "relu", **obs_kw)
        target_net = MLP(hidden, features, "relu", **obs_kw)

        def init(key: Array) -> CuriosityState:
            k_pred, k_target = jax.random.split(key)
            params = {"predictor": predictor.init(k_pred, dummy)}
            target = target_net.init(k_target, dummy)
            return CuriosityState(params, target, optimizer.init(params), stats0)

        def errors(params, target, obs, action, next_obs):
            goal = jax.lax.stop_gradient(target_net.apply(target, next_obs))
            return forward_error(predictor.apply(params["predictor"], next_obs), goal)

        def loss(params, target, obs, action, next_obs):
            err = errors(params, target, obs, action, next_obs)
            return jnp.mean(err), {"rnd_loss": jnp.mean(err)}

    value_fn = None
    if intrinsic_value:
        critic = MLP(hidden, 1, "relu", **obs_kw)
        base_init, base_loss = init, loss

        def init(key: Array) -> CuriosityState:  # the base init, plus V_int
            k_base, k_value = jax.random.split(key)
            state = base_init(k_base)
            params = {**state.params, "value": critic.init(k_value, dummy)}
            return state.replace(params=params, opt_state=optimizer.init(params))

        def value_fn(params, obs):
            return critic.apply(params["value"], obs)[..., 0]

        def loss(params, target, obs, action, next_obs, int_return=None):
            total, terms = base_loss(params, target, obs, action, next_obs)
            if int_return is None:
                return total, terms
            v_loss = 0.5 * jnp.mean((value_fn(params, obs) - int_return) ** 2)
            return total + v_loss, {**terms, "intrinsic_value_loss": v_loss}

    if normalize_obs:
        obs_shape = tuple(dummy.shape[1:])
        plain_init = init

        def init(key: Array) -> CuriosityState:  # plus the observation statistics
            return plain_init(key).replace(obs_stats=RunningStats.create(obs_shape))

    return Curiosity(kind, num_actions, beta, lam, eta, bool(normalize), optimizer, init,
                     errors, loss, value_fn, bool(normalize_obs))


def from_config(cfg: Any, env: Any, env_params: Any, algorithm: str) -> Curiosity | None:
    """The module a learner's config asks for (its group ``cfg.curiosity``; ``lam``,
    ``normalize``, ``intrinsic_critic`` and ``normalize_obs`` where the group has them),
    or None when its kind is None."""
    from jaxrl.core.networks import concrete_spaces, observation_input

    group = cfg.curiosity
    if group.kind is None:
        return None
    action_space, obs_space = concrete_spaces(env, env_params)
    return make(
        group.kind, observation_input(obs_space, algorithm, env.name), action_space,
        hidden=group.hidden, features=group.features, beta=group.beta,
        lam=getattr(group, "lam", 0.1), eta=group.eta, lr=group.lr,
        normalize=getattr(group, "normalize", True),
        intrinsic_value=getattr(group, "intrinsic_critic", False),
        normalize_obs=getattr(group, "normalize_obs", False),
    )


def online_step(
    curious: Curiosity,
    cover: Coverage | None,
    state: CuriosityState,
    visits: ExplorationState | None,
    transition: tuple[Array, Array, Array],
    reward: Array,
    info: dict[str, Array],
    extrinsic_coef: float | Array,
) -> tuple[Array, CuriosityState, ExplorationState | None, dict[str, Array]]:
    """Curiosity for a learner that collects one step of ``N`` copies per update and keeps
    its own update (DQN; the book's chapter 8 agent is a Q-learner).

    The bonus comes from the module as it was while collecting; then the module takes one
    Adam step (``Curiosity.step``) on these ``N`` transitions, and the visits are recorded.

    Args:
        transition: ``(obs, action, next_obs)``, ``[N, ...]`` (``next_obs`` the final
            observation at an episode end).
        reward: the env's reward ``[N]``; info: the step's ``EpisodeStatistics`` info.

    Returns:
        ``(extrinsic_coef * reward + r_int, state, visits, metrics)``; metrics
        ``intrinsic_reward``, the module's loss terms and ``exploration_metrics``'.
    """
    obs, action, next_obs = transition
    bonus, state = curious.intrinsic_reward(state, obs, action, next_obs)
    state, terms = curious.step(state, transition)
    metrics = {"intrinsic_reward": jnp.mean(bonus), **terms}
    if cover is not None:
        one_step = {k: info[k][None] for k in ("episode_return", "episode_done")}
        visits, found = exploration_metrics(cover, visits, obs[None], one_step)
        metrics.update(found)
    return extrinsic_coef * reward + bonus, state, visits, metrics


# --------------------------------------------------------------------- exploration metrics
@dataclasses.dataclass(frozen=True)
class Coverage:
    """A map from one raw observation to a cell, for visit counts.

    ``num_cells``: cells in the map; ``cell``: ``obs -> int32[]`` (one observation);
    ``how``: a few words for tables; ``position``: the first observation component is a
    position worth a "furthest" metric (a bounded vector observation, MountainCar's).
    """

    num_cells: int
    cell: Callable[[Array], Array]
    how: str
    position: bool = False


def coverage(env: Any, env_params: Any = None) -> Coverage | None:
    """The ``Coverage`` of an environment, or None when it has no natural cell map.

    * an env with ``num_cells`` and ``cell_index(obs)`` (``Maze``): its cells;
    * a bounded ``Box`` vector of at most 3 components (MountainCar): ``COVERAGE_BINS``
      equal bins per component over the space's bounds;
    * a bounded ``Box`` ``[H, W]`` (DeepSea's one-hot position): the hottest entry.
    """
    base = getattr(env, "unwrapped", env)
    if hasattr(base, "num_cells") and callable(getattr(base, "cell_index", None)):
        return Coverage(int(base.num_cells), base.cell_index, "cells")
    params = env_params if env_params is not None else env.default_params
    space = env.observation_space(params)
    if not isinstance(space, spaces.Box):
        return None
    low = np.broadcast_to(np.asarray(space.low, np.float64), space.shape)
    high = np.broadcast_to(np.asarray(space.high, np.float64), space.shape)
    if not (np.all(np.isfinite(low)) and np.all(np.isfinite(high))):
        return None
    if len(space.shape) == 1 and space.shape[0] <= 3:
        d = space.shape[0]
        lo, width = jnp.asarray(low, jnp.float32), jnp.asarray(high - low, jnp.float32)

        def binned(obs: Array) -> Array:
            b = jnp.clip(((obs - lo) / width * COVERAGE_BINS).astype(jnp.int32), 0,
                         COVERAGE_BINS - 1)
            return jnp.sum(b * COVERAGE_BINS ** jnp.arange(d - 1, -1, -1)).astype(jnp.int32)

        return Coverage(COVERAGE_BINS**d, binned, f"{COVERAGE_BINS}^{d} bins", position=True)
    if len(space.shape) == 2:
        def hot(obs: Array) -> Array:
            return jnp.argmax(jnp.reshape(obs, (-1,))).astype(jnp.int32)

        return Coverage(int(np.prod(space.shape)), hot, "cells")
    return None


@struct.dataclass
class ExplorationState:
    """Visit counts per cell: ``total`` over the run so far, ``first`` in the first
    rollout (the untrained policy), ``last`` in the latest rollout (the policy of the
    moment); ``int32[num_cells]`` each."""

    total: Array
    first: Array
    last: Array

    @classmethod
    def create(cls, num_cells: int) -> ExplorationState:
        zeros = jnp.zeros((num_cells,), jnp.int32)
        return cls(zeros, zeros, zeros)


def exploration_metrics(
    cover: Coverage | None,
    state: ExplorationState | None,
    raw_obs: Array,
    info: dict[str, Array],
) -> tuple[ExplorationState | None, dict[str, Array]]:
    """Record one rollout's visits and return the per-update exploration metrics.

    Args:
        cover: the env's ``Coverage`` (None: only ``best_return``).
        state: visit counts so far (None when ``cover`` is None).
        raw_obs: the observations the agent acted on, unnormalised, ``[T, N, *obs_shape]``.
        info: the rollout's ``EpisodeStatistics`` info (``episode_return``, ``episode_done``).

    Returns:
        ``(state, metrics)``: ``visited_cells`` (distinct cells visited so far in the run),
        ``rollout_cells`` (in this rollout), ``furthest_position`` (largest first
        observation component in the rollout, for a position-like observation) and
        ``best_return`` (best return of an episode that ended, NaN when none did).
    """
    done = info["episode_done"]
    metrics = {"best_return": jnp.where(
        jnp.any(done), jnp.max(jnp.where(done, info["episode_return"], -jnp.inf)), jnp.nan)}
    if cover is None:
        return state, metrics
    obs_shape = raw_obs.shape[2:]
    flat = jnp.reshape(raw_obs, (-1, *obs_shape))
    cells = jax.vmap(cover.cell)(flat)
    last = jnp.zeros((cover.num_cells,), jnp.int32).at[cells].add(1)
    first = jnp.where(jnp.sum(state.total) == 0, last, state.first)
    total = state.total + last
    metrics["visited_cells"] = jnp.sum(total > 0).astype(jnp.int32)
    metrics["rollout_cells"] = jnp.sum(last > 0).astype(jnp.int32)
    if cover.position:
        metrics["furthest_position"] = jnp.max(flat[:, 0])
    return ExplorationState(total, first, last), metrics
