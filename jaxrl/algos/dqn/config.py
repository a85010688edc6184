"""DQN's settings: ``Config``, and the distributional views' ``C51Config`` and ``QRDQNConfig``.

``C51Config`` and ``QRDQNConfig`` are ``Config`` with other defaults (the return
distribution, and the ``FREEWAY`` settings they share with plain DQN's ``freeway``
preset); the agent is the same (``jaxrl.algos.dqn.agent.make``).
"""

from __future__ import annotations

import numpy as np
from flax import struct

from jaxrl.algos.curiosity import CuriosityConfig, kind_shorthand, settle_group
from jaxrl.core.config import check_leaves, is_traced
from jaxrl.core.config import static as _static
from jaxrl.core.exploration import EPSILON_SCHEDULES
from jaxrl.core.networks import ACTIVATIONS, RELATIONAL_TORSOS

__all__ = [
    "ATTENTION_POOLS", "DISTRIBUTIONS", "EPSILON_SCHEDULES", "FREEWAY", "LOSS_KINDS",
    "REPLAY_KINDS", "TARGET_KINDS", "C51Config", "Config", "QRDQNConfig",
]

REPLAY_KINDS = ("uniform", "prioritized", "none")
TARGET_KINDS = ("hard", "polyak", "none")
LOSS_KINDS = ("huber", "mse")
DISTRIBUTIONS = ("none", "categorical", "quantile")
ATTENTION_POOLS = ("max", "flatten")


@kind_shorthand
@struct.dataclass
class Config:
    """DQN settings; the defaults are jaxrl's CartPole-v1 setting (the ``cartpole``
    preset).

    Static fields (shapes, loop lengths, switches; changing one recompiles) come
    first; the rest are pytree leaves, so a sweep can vmap over them. Step counts
    are environment steps of one seed (all ``num_envs`` copies together).
    """

    # --- static -------------------------------------------------------------------
    num_envs: int = _static(8)  # environment copies stepped per update
    total_timesteps: int = _static(200_000)  # environment steps in a run (all copies)
    hidden: tuple[int, ...] = _static((64, 64))  # Q-network hidden widths
    activation: str = _static("relu")  # hidden activation (jaxrl.core.networks.ACTIVATIONS)
    dueling: bool = _static(False)  # value + advantage heads
    double: bool = _static(True)  # double DQN targets
    replay: str = _static("uniform")  # "uniform", "prioritized" or "none" (online)
    buffer_size: int = _static(50_000)  # transitions kept (a multiple of num_envs)
    batch_size: int = _static(128)  # transitions per gradient step (replay only)
    learning_starts: int = _static(1_000)  # environment steps before the first gradient step
    train_every: int = _static(1)  # updates (env steps of all copies) between learning phases
    gradient_steps: int = _static(1)  # gradient steps per learning phase
    target: str = _static("polyak")  # "hard", "polyak" or "none"
    target_update_period: int = _static(500)  # gradient steps between hard copies
    n_steps: int = _static(3)  # n-step return horizon
    loss: str = _static("mse")  # "huber" or "mse"
    epsilon_schedule: str = _static("linear")  # "linear", "exponential" or "constant"
    anneal_lr: bool = _static(False)  # decay the learning rate linearly to 0 over the run
    scale_obs: bool = _static(False)  # rescale observations to [-1, 1] by the space's bounds
    torso: str = _static("auto")  # "mlp", "conv", "relational" or "auto" (conv for images)
    attention_heads: int = _static(3)  # relational torso: self-attention heads (the book's 3)
    attention_width: int = _static(64)  # relational torso: entity and per-head width
    attention_pool: str = _static("max")  # relational: "max" over entities (the source) or "flatten"
    distribution: str = _static("none")  # "none", "categorical" (C51) or "quantile" (QR-DQN)
    num_atoms: int = _static(51)  # categorical: atoms of the support
    num_quantiles: int = _static(51)  # quantile: quantiles per action
    # --- pytree leaves (sweepable) -------------------------------------------------
    lr: float = 1e-3  # Adam learning rate
    adam_eps: float = 1e-8  # Adam epsilon
    gamma: float = 0.99  # discount
    epsilon_start: float = 1.0  # exploration rate at step 0 (the constant schedule's value)
    epsilon_end: float = 0.05  # exploration rate reached at the end of the decay
    epsilon_decay_steps: float = 20_000.0  # linear: steps to reach end; exponential: time constant
    tau: float = 0.005  # Polyak rate (target "polyak")
    max_grad_norm: float = 10.0  # global gradient-norm clip; 0 turns clipping off
    huber_delta: float = 1.0  # Huber threshold
    priority_alpha: float = 0.6  # prioritisation exponent
    priority_beta_start: float = 0.4  # importance-weight exponent at step 0
    priority_beta_end: float = 1.0  # ... annealed linearly to this at the end of the run
    priority_eps: float = 0.01  # added to |td| so no transition gets priority 0
    v_min: float = -10.0  # categorical: lowest atom of the support (the book's -10)
    v_max: float = 10.0  # categorical: highest atom (the book's 10)
    kappa: float = 1.0  # quantile: Huber threshold of the quantile Huber loss
    # --- curiosity (chapter 8, jaxrl.algos.curiosity; the book's ICM around a Q-learner) -----
    # The stored reward is curiosity.extrinsic_coef * r + r_int; the module trains on each
    # step's transitions with its own Adam (jaxrl.algos.curiosity.online_step).
    curiosity: CuriosityConfig = CuriosityConfig()  # kind None (plain DQN), "icm" or "rnd"

    def __post_init__(self) -> None:
        settle_group(self)  # curiosity="icm" (a kind) or a dict: the group

    @property
    def num_updates(self) -> int:
        """Updates in a run, ``total_timesteps // num_envs``."""
        return self.total_timesteps // self.num_envs

    @property
    def buffer_rows(self) -> int:
        """Steps kept per environment copy, ``buffer_size // num_envs``."""
        return self.buffer_size // self.num_envs

    def validate(self) -> Config:
        """Raise ``ValueError`` on a bad setting; returns ``self``.

        Static fields are always checked; leaves when concrete (not traced).
        """
        positive = (
            "num_envs", "total_timesteps", "buffer_size", "batch_size", "train_every",
            "gradient_steps", "target_update_period", "n_steps", "attention_heads",
            "attention_width",
        )
        for name in positive:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"dqn.Config.{name} must be a positive integer, got {value!r}")
        if isinstance(self.learning_starts, bool) or not isinstance(
            self.learning_starts, (int, np.integer)
        ) or self.learning_starts < 0:
            raise ValueError(
                f"dqn.Config.learning_starts must be an integer >= 0, got {self.learning_starts!r}"
            )
        if self.num_updates < 1:
            raise ValueError(
                f"dqn.Config: total_timesteps={self.total_timesteps} is less than one step of "
                f"num_envs={self.num_envs} copies"
            )
        for name, value, kinds in (
            ("replay", self.replay, REPLAY_KINDS),
            ("target", self.target, TARGET_KINDS),
            ("loss", self.loss, LOSS_KINDS),
            ("epsilon_schedule", self.epsilon_schedule, EPSILON_SCHEDULES),
            ("activation", self.activation, tuple(ACTIVATIONS)),
            ("distribution", self.distribution, DISTRIBUTIONS),
            ("torso", self.torso, RELATIONAL_TORSOS),
            ("attention_pool", self.attention_pool, ATTENTION_POOLS),
        ):
            if value not in kinds:
                raise ValueError(
                    f"dqn.Config.{name} {value!r} unknown; choose from {', '.join(kinds)}"
                )
        if not isinstance(self.hidden, tuple) or not all(
            isinstance(w, (int, np.integer)) and not isinstance(w, bool) and w > 0
            for w in self.hidden
        ):
            raise ValueError(
                f"dqn.Config.hidden must be a tuple of positive integers, got {self.hidden!r}"
            )
        if self.dueling and not self.hidden:
            raise ValueError("dqn.Config: dueling heads need at least one hidden layer")
        for name in ("num_atoms", "num_quantiles"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 2:
                raise ValueError(f"dqn.Config.{name} must be an integer >= 2, got {value!r}")
        if not (is_traced(self.v_min) or is_traced(self.v_max)) and not np.all(
            np.asarray(self.v_min, np.float64) < np.asarray(self.v_max, np.float64)
        ):
            raise ValueError(
                f"dqn.Config: v_min={self.v_min!r} must be below v_max={self.v_max!r}"
            )
        if self.replay == "none":
            if self.n_steps != 1:
                raise ValueError(
                    "dqn.Config: n_steps > 1 needs a replay buffer (online learning sees one "
                    "step at a time); set replay='uniform' or n_steps=1"
                )
        else:
            if self.buffer_size % self.num_envs:
                raise ValueError(
                    f"dqn.Config: buffer_size={self.buffer_size} must be a multiple of "
                    f"num_envs={self.num_envs} (the buffer keeps whole steps of all copies)"
                )
            if self.buffer_rows < self.n_steps:
                raise ValueError(
                    f"dqn.Config: the buffer keeps {self.buffer_rows} steps per copy, fewer than "
                    f"n_steps={self.n_steps}"
                )
        checks = {
            "lr": (lambda v: v > 0, "> 0"),
            "adam_eps": (lambda v: v > 0, "> 0"),
            "gamma": (lambda v: (v >= 0) & (v <= 1), "in [0, 1]"),
            "epsilon_start": (lambda v: (v >= 0) & (v <= 1), "in [0, 1]"),
            "epsilon_end": (lambda v: (v >= 0) & (v <= 1), "in [0, 1]"),
            "epsilon_decay_steps": (lambda v: v > 0, "> 0"),
            "tau": (lambda v: (v > 0) & (v <= 1), "in (0, 1]"),
            "max_grad_norm": (lambda v: v >= 0, ">= 0"),
            "huber_delta": (lambda v: v > 0, "> 0"),
            "priority_alpha": (lambda v: v >= 0, ">= 0"),
            "priority_beta_start": (lambda v: (v >= 0) & (v <= 1), "in [0, 1]"),
            "priority_beta_end": (lambda v: (v >= 0) & (v <= 1), "in [0, 1]"),
            "priority_eps": (lambda v: v > 0, "> 0"),
            "v_min": (lambda v: np.ones_like(v, bool), "finite"),
            "v_max": (lambda v: np.ones_like(v, bool), "finite"),
            "kappa": (lambda v: v > 0, "> 0"),
        }
        check_leaves(
            "dqn.Config",
            {name: (getattr(self, name), ok, rule) for name, (ok, rule) in checks.items()},
        )
        if type(self.curiosity) is not CuriosityConfig:  # (not another learner's, with more)
            raise ValueError("dqn.Config.curiosity must be a jaxrl.algos.curiosity."
                             f"CuriosityConfig or a kind (icm, rnd, none), got {self.curiosity!r}")
        self.curiosity.validate("dqn.Config.curiosity")
        return self


#: Freeway-MinAtar settings shared by the distributional views' defaults and plain DQN's
#: ``freeway`` preset (``benchmarks/distributional.py`` runs the three heads at exactly
#: these settings): the conv torso (chosen automatically for the 10x10 planes) and one
#: 128-unit layer, 16 copies, a batch of 64 every second update (every 32 env steps),
#: 3-step double targets, a fast Polyak target network (tau 0.05), Adam 2e-3, epsilon
#: 1 -> 0.05 over 20,000 steps, 80,000 steps (32 episodes of 2,500 steps across the
#: copies). How they were chosen: ``benchmarks/NOTES.md``.
FREEWAY = {
    "num_envs": 16, "total_timesteps": 80_000, "hidden": (128,), "batch_size": 64,
    "buffer_size": 32_000, "learning_starts": 2_000, "train_every": 2, "n_steps": 3,
    "target": "polyak", "tau": 0.05, "double": True, "lr": 2e-3,
    "epsilon_decay_steps": 20_000.0,
}


@kind_shorthand
@struct.dataclass
class _FreewayConfig(Config):
    """``Config`` with the ``FREEWAY`` settings as defaults (shared by c51 and qrdqn)."""

    num_envs: int = _static(FREEWAY["num_envs"])
    total_timesteps: int = _static(FREEWAY["total_timesteps"])
    hidden: tuple[int, ...] = _static(FREEWAY["hidden"])
    batch_size: int = _static(FREEWAY["batch_size"])
    buffer_size: int = _static(FREEWAY["buffer_size"])
    learning_starts: int = _static(FREEWAY["learning_starts"])
    train_every: int = _static(FREEWAY["train_every"])
    epsilon_decay_steps: float = FREEWAY["epsilon_decay_steps"]
    tau: float = FREEWAY["tau"]
    lr: float = FREEWAY["lr"]


@kind_shorthand
@struct.dataclass
class C51Config(_FreewayConfig):
    """``Config`` for ``c51``: ``distribution="categorical"``, 51 atoms on [0, 5], and the
    ``FREEWAY`` settings as defaults (the ``freeway`` preset).

    The support [0, 5] covers Freeway's discounted returns (+1 per crossing and never
    less: with gamma 0.99 at most ``1 / (1 - 0.99**27) = 4.2``, the fastest crossing
    taking about 27 steps). The book's [-10, 10] is the ``freeway_book`` preset.
    """

    distribution: str = _static("categorical")
    v_min: float = 0.0
    v_max: float = 5.0


@kind_shorthand
@struct.dataclass
class QRDQNConfig(_FreewayConfig):
    """``Config`` for ``qrdqn``: ``distribution="quantile"`` (51 quantiles, kappa 0.1) with
    the ``FREEWAY`` settings as defaults (the ``freeway`` preset).

    kappa is the quantile Huber loss's threshold: errors below it are penalised
    quadratically. 0.1 (QR-DQN's paper uses 1) is below the spread of Freeway's returns
    (a few tenths), so the loss fits quantiles rather than expectiles.
    """

    distribution: str = _static("quantile")
    kappa: float = 0.1
