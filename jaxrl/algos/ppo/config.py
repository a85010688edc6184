"""PPO's settings (``Config``).

Static fields (shapes and loop lengths; changing one recompiles) come first; the rest
are pytree leaves, so ``jaxrl.runs.sweep`` can vmap over them.
"""

from __future__ import annotations

import numpy as np
from flax import struct

from jaxrl.algos import curiosity
from jaxrl.algos.curiosity import kind_shorthand, settle_group
from jaxrl.core.config import RolloutBatches, check_leaves
from jaxrl.core.config import static as _static
from jaxrl.core.networks import ACTIVATIONS, TORSOS

__all__ = ["Config", "CuriosityConfig"]


@struct.dataclass
class CuriosityConfig(curiosity.CuriosityConfig):
    """PPO's curiosity settings (``Config.curiosity``): the shared ones
    (``jaxrl.algos.curiosity.CuriosityConfig``) and those of the module trained in PPO's
    minibatches: the joint objective's weight, the bonus's normalisations and its own
    critic."""

    normalize: bool = _static(True)  # bonus over the running std of the errors
    normalize_obs: bool = _static(False)  # whiten the curiosity nets' input (RND)
    # non-episodic bonus: its own critic V_int and GAE (intrinsic_gamma), never cut at
    # an episode's end; advantages add up (Burda et al. 2018, RND). False: r + r_int
    intrinsic_critic: bool = _static(False)  # the bonus's own critic and GAE (non-episodic)
    lam: float = 0.1  # weight of the PPO loss against the curiosity loss (the book's lambda)
    intrinsic_gamma: float = 0.99  # discount of the bonus's returns (with intrinsic_critic)

    def leaf_rules(self) -> dict:
        return {
            **super().leaf_rules(),
            "lam": (lambda v: v > 0, "> 0"),
            "intrinsic_gamma": (lambda v: (v >= 0) & (v <= 1), "in [0, 1]"),
        }


@kind_shorthand
@struct.dataclass
class Config(RolloutBatches):
    """PPO settings. The defaults are CleanRL's and PureJaxRL's CartPole settings (the
    ``cleanrl`` preset)."""

    # --- static -------------------------------------------------------------------
    num_envs: int = _static(4)  # environment copies stepped together
    num_steps: int = _static(128)  # steps per copy per update (rollout length)
    epochs: int = _static(4)  # passes over each rollout
    minibatches: int = _static(4)  # minibatches per pass (must divide the batch)
    total_timesteps: int = _static(500_000)  # environment steps in a run (all copies)
    actor_hidden: tuple[int, ...] = _static((64, 64))  # policy MLP hidden widths
    critic_hidden: tuple[int, ...] = _static((64, 64))  # value MLP hidden widths
    activation: str = _static("tanh")  # hidden activation (jaxrl.core.networks.ACTIVATIONS)
    torso: str = _static("auto")  # "mlp", "conv" or "auto" (jaxrl.core.networks.choose_torso)
    anneal_lr: bool = _static(True)  # decay lr linearly to 0 over the run
    normalize_advantages: bool = _static(True)  # standardise advantages per minibatch
    clip_value: bool = _static(True)  # clip the value loss around the old values
    normalize_obs: bool = _static(False)  # running mean/std observation normalisation
    exploration_metrics: bool = _static(False)  # visits, furthest position (on with curiosity)
    # curiosity (chapter 8, jaxrl.algos.curiosity), its fields static and leaves alike
    curiosity: CuriosityConfig = CuriosityConfig()  # kind None (plain PPO), "icm" or "rnd"
    # --- pytree leaves (sweepable) -------------------------------------------------
    lr: float = 2.5e-4  # Adam learning rate (peak, when annealed)
    clip_eps: float = 0.2  # policy ratio clip range epsilon
    vf_clip_eps: float = 0.2  # value clip range (used when clip_value)
    ent_coef: float = 0.01  # entropy bonus weight
    vf_coef: float = 0.5  # value loss weight
    gamma: float = 0.99  # discount
    gae_lambda: float = 0.95  # GAE lambda
    max_grad_norm: float = 0.5  # global gradient norm clip
    adam_eps: float = 1e-5  # Adam epsilon
    init_log_std: float = 0.0  # initial log std of the Gaussian policy (continuous only)
    reward_scale: float = 1.0  # rewards are multiplied by this for learning (not for metrics)

    def __post_init__(self) -> None:
        settle_group(self)  # curiosity="icm" (a kind) or a dict: the group

    def validate(self) -> Config:
        """Raise ``ValueError`` on a bad setting; returns ``self``.

        Static fields are always checked. Leaves are checked when concrete (a sweep
        validates every setting before it traces the batched config).
        """
        self.check_rollout("ppo.Config")
        for name in ("actor_hidden", "critic_hidden"):
            widths = getattr(self, name)
            if not isinstance(widths, tuple) or not all(
                isinstance(w, (int, np.integer)) and not isinstance(w, bool) and w > 0
                for w in widths
            ):
                raise ValueError(
                    f"ppo.Config.{name} must be a tuple of positive integers, got {widths!r}"
                )
        if self.torso not in TORSOS:
            raise ValueError(
                f"ppo.Config.torso {self.torso!r} unknown; choose from {', '.join(TORSOS)}"
            )
        if self.activation not in ACTIVATIONS:
            raise ValueError(
                f"ppo.Config.activation {self.activation!r} unknown; "
                f"choose from {', '.join(ACTIVATIONS)}"
            )
        checks = {
            "lr": (lambda v: v > 0, "> 0"),
            "clip_eps": (lambda v: v > 0, "> 0"),
            "vf_clip_eps": (lambda v: v > 0, "> 0"),
            "ent_coef": (lambda v: v >= 0, ">= 0"),
            "vf_coef": (lambda v: v >= 0, ">= 0"),
            "gamma": (lambda v: (v >= 0) & (v <= 1), "in [0, 1]"),
            "gae_lambda": (lambda v: (v >= 0) & (v <= 1), "in [0, 1]"),
            "max_grad_norm": (lambda v: v > 0, "> 0"),
            "adam_eps": (lambda v: v > 0, "> 0"),
            "init_log_std": (lambda v: np.ones_like(v, bool), "finite"),
            "reward_scale": (lambda v: v > 0, "> 0"),
        }
        check_leaves(
            "ppo.Config",
            {name: (getattr(self, name), ok, rule) for name, (ok, rule) in checks.items()},
        )
        if not isinstance(self.curiosity, CuriosityConfig):
            raise ValueError("ppo.Config.curiosity must be a jaxrl.algos.ppo.CuriosityConfig or "
                             f"a kind (icm, rnd, none), got {self.curiosity!r}")
        self.curiosity.validate("ppo.Config.curiosity")
        return self

