"""SAC's and TD3's settings: the replay actor-critic fields they share, then each one's own.

Static fields (shapes, loop lengths, switches; changing one recompiles) come first in
each class; the rest are pytree leaves, so ``jaxrl.runs.sweep`` can vmap over them.
Step counts are environment steps of one seed (all copies together).

The update-to-data ratio is a setting: each update steps ``num_envs`` copies once and,
every ``train_every`` updates, takes ``gradient_steps`` gradient steps, so
``utd = gradient_steps / (num_envs * train_every)`` gradient steps per environment step
(``Config.utd``).
"""

from __future__ import annotations

import numpy as np
from flax import struct

from jaxrl.core.config import check_leaves, is_traced
from jaxrl.core.config import static as _static
from jaxrl.core.networks import ACTIVATIONS

__all__ = ["OffPolicyConfig", "SACConfig", "TD3Config"]


def _positive_int(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value > 0


@struct.dataclass
class OffPolicyConfig:
    """The fields SAC and TD3 share (replay, critics, targets); not an algorithm itself."""

    # --- static -------------------------------------------------------------------
    num_envs: int = _static(1)  # environment copies stepped together
    total_timesteps: int = _static(20_000)  # environment steps in a run (all copies)
    buffer_size: int = _static(20_000)  # transitions the replay buffer keeps
    batch_size: int = _static(256)  # transitions per gradient step
    learning_starts: int = _static(1_000)  # env steps of uniformly random actions before learning
    train_every: int = _static(1)  # updates (env steps of all copies) between learning phases
    gradient_steps: int = _static(1)  # gradient steps per learning phase (the UTD ratio's numerator)
    hidden: tuple[int, ...] = _static((64, 64))  # actor and critic hidden widths
    activation: str = _static("relu")  # hidden activation (jaxrl.core.networks.ACTIVATIONS)
    critics: int = _static(2)  # critics whose minimum is the target (2: clipped double-Q)
    # --- pytree leaves (sweepable) -------------------------------------------------
    actor_lr: float = 1e-3  # the actor's Adam learning rate
    critic_lr: float = 1e-3  # the critics' Adam learning rate
    gamma: float = 0.99  # discount
    tau: float = 0.005  # target networks move this share towards the online ones per step
    max_grad_norm: float = 0.0  # global gradient-norm clip per network (0: none)

    @property
    def num_updates(self) -> int:
        """Updates in a run (one environment step of every copy each)."""
        return self.total_timesteps // self.num_envs

    @property
    def buffer_rows(self) -> int:
        """Rows of the replay buffer (one row holds one step of every copy)."""
        return max(self.buffer_size // self.num_envs, 1)

    @property
    def utd(self) -> float:
        """Gradient steps per environment step (the update-to-data ratio)."""
        return self.gradient_steps / (self.num_envs * self.train_every)

    def check_common(self, owner: str, leaves: dict) -> None:
        """``ValueError`` naming ``owner`` for a bad shared field, then the shared and
        ``leaves`` (``name -> (ok, rule)``) leaf checks."""
        for name in ("num_envs", "total_timesteps", "buffer_size", "batch_size",
                     "train_every", "gradient_steps", "critics"):
            value = getattr(self, name)
            if not _positive_int(value):
                raise ValueError(f"{owner}.{name} must be a positive integer, got {value!r}")
        starts = self.learning_starts
        if isinstance(starts, bool) or not isinstance(starts, (int, np.integer)) or starts < 0:
            raise ValueError(f"{owner}.learning_starts must be an integer >= 0, got {starts!r}")
        if self.num_updates < 1:
            raise ValueError(f"{owner}: total_timesteps={self.total_timesteps} is less than "
                             f"one step of num_envs={self.num_envs} copies")
        if self.buffer_size < self.num_envs:
            raise ValueError(f"{owner}: buffer_size={self.buffer_size} holds less than one "
                             f"step of num_envs={self.num_envs} copies")
        if self.learning_starts >= self.total_timesteps:
            raise ValueError(f"{owner}: learning_starts={self.learning_starts} leaves no "
                             f"learning in total_timesteps={self.total_timesteps}")
        widths = self.hidden
        if not isinstance(widths, tuple) or not widths or not all(map(_positive_int, widths)):
            raise ValueError(f"{owner}.hidden must be a non-empty tuple of positive "
                             f"integers, got {widths!r}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"{owner}.activation {self.activation!r} unknown; choose from "
                             f"{', '.join(ACTIVATIONS)}")
        checks = {
            "actor_lr": (lambda v: v > 0, "> 0"),
            "critic_lr": (lambda v: v > 0, "> 0"),
            "gamma": (lambda v: (v >= 0) & (v <= 1), "in [0, 1]"),
            "tau": (lambda v: (v > 0) & (v <= 1), "in (0, 1]"),
            "max_grad_norm": (lambda v: v >= 0, ">= 0 (0: no clipping)"),
            **leaves,
        }
        check_leaves(owner, {name: (getattr(self, name), ok, rule)
                             for name, (ok, rule) in checks.items()})


@struct.dataclass
class SACConfig(OffPolicyConfig):
    """SAC settings; the defaults are jaxrl's Pendulum-v1 setting (the ``pendulum`` preset)."""

    # --- static -------------------------------------------------------------------
    autotune: bool = _static(True)  # learn the temperature alpha towards the target entropy
    # --- pytree leaves (sweepable) -------------------------------------------------
    alpha_lr: float = 1e-3  # the temperature's Adam learning rate (autotune)
    init_alpha: float = 1.0  # the temperature at step 0 (the fixed one without autotune)
    target_entropy_scale: float = 1.0  # target entropy = -scale * action dimensions
    log_std_min: float = -5.0  # lowest log std of the policy (its log std is tanh-squashed into [min, max])
    log_std_max: float = 2.0  # highest log std of the policy

    def validate(self) -> SACConfig:
        """Raise ``ValueError`` on a bad setting; returns ``self``."""
        if not isinstance(self.autotune, (bool, np.bool_)):
            raise ValueError(f"sac.Config.autotune must be True or False, got {self.autotune!r}")
        self.check_common("sac.Config", {
            "alpha_lr": (lambda v: v > 0, "> 0"),
            "init_alpha": (lambda v: v > 0, "> 0"),
            "target_entropy_scale": (lambda v: np.abs(v) < 1e6, "a number"),
            "log_std_min": (lambda v: v > -20, "> -20"),
            "log_std_max": (lambda v: v < 10, "< 10"),
        })
        lo, hi = self.log_std_min, self.log_std_max
        if not any(map(is_traced, (lo, hi))) and not np.all(np.asarray(lo) < np.asarray(hi)):
            raise ValueError(f"sac.Config: log_std_min={lo!r} must be below log_std_max={hi!r}")
        return self


@struct.dataclass
class TD3Config(OffPolicyConfig):
    """TD3 settings; the defaults are jaxrl's Pendulum-v1 setting (the ``pendulum``
    preset). DDPG is the ``ddpg`` preset: one critic, no delay, no target smoothing."""

    # --- static -------------------------------------------------------------------
    total_timesteps: int = _static(30_000)  # environment steps in a run (all copies)
    buffer_size: int = _static(30_000)  # transitions the replay buffer keeps
    policy_delay: int = _static(2)  # critic steps per actor (and target) step
    # --- pytree leaves (sweepable) -------------------------------------------------
    exploration_noise: float = 0.1  # std of the Gaussian added to actions (on [-1, 1])
    target_noise: float = 0.2  # std of the target policy's smoothing noise (on [-1, 1])
    target_noise_clip: float = 0.5  # the smoothing noise is clipped to +-this

    def validate(self) -> TD3Config:
        """Raise ``ValueError`` on a bad setting; returns ``self``."""
        if not _positive_int(self.policy_delay):
            raise ValueError(f"td3.Config.policy_delay must be a positive integer, "
                             f"got {self.policy_delay!r}")
        self.check_common("td3.Config", {
            "exploration_noise": (lambda v: v >= 0, ">= 0"),
            "target_noise": (lambda v: v >= 0, ">= 0"),
            "target_noise_clip": (lambda v: v >= 0, ">= 0"),
        })
        return self

