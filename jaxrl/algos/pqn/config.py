"""PQN's settings (``Config``).

Static fields (shapes, loop lengths, switches; changing one recompiles) come first; the
rest are pytree leaves, so ``jaxrl.runs.sweep`` can vmap over them.
"""

from __future__ import annotations

import numpy as np
from flax import struct

from jaxrl.core.config import RolloutBatches, check_leaves
from jaxrl.core.config import static as _static
from jaxrl.core.exploration import EPSILON_SCHEDULES
from jaxrl.core.networks import ACTIVATIONS, TORSOS

__all__ = ["NORMS", "OPTIMIZERS", "Config"]

NORMS = ("layer_norm", "none")
OPTIMIZERS = ("radam", "adam")


@struct.dataclass
class Config(RolloutBatches):
    """PQN settings; the defaults are jaxrl's CartPole-v1 setting (the ``cartpole``
    preset). Step counts are environment steps of one seed (all copies together)."""

    # --- static -------------------------------------------------------------------
    num_envs: int = _static(32)  # environment copies stepped together
    num_steps: int = _static(32)  # steps per copy per update (rollout length)
    epochs: int = _static(2)  # passes over each rollout
    minibatches: int = _static(8)  # minibatches per pass (must divide the batch)
    total_timesteps: int = _static(200_000)  # environment steps in a run (all copies)
    hidden: tuple[int, ...] = _static((128, 128))  # Q-network hidden widths
    activation: str = _static("relu")  # hidden activation (jaxrl.core.networks.ACTIVATIONS)
    norm: str = _static("layer_norm")  # "layer_norm" after every hidden layer, or "none"
    torso: str = _static("auto")  # "mlp", "conv" or "auto" (conv for image observations)
    one_hot_cells: bool = _static(False)  # mlp: one-hot each cell's channels (MiniGrid images)
    optimizer: str = _static("radam")  # "radam" (the source's) or "adam"
    anneal_lr: bool = _static(True)  # decay lr linearly to 0 over the run
    epsilon_schedule: str = _static("linear")  # "linear", "exponential" or "constant"
    # --- pytree leaves (sweepable) -------------------------------------------------
    lr: float = 1e-3  # learning rate (peak, when annealed)
    adam_eps: float = 1e-8  # the optimiser's epsilon
    max_grad_norm: float = 10.0  # global gradient-norm clip
    gamma: float = 0.995  # discount
    q_lambda: float = 0.95  # lambda of the Q(lambda) targets (0: one-step Q-learning)
    epsilon_start: float = 1.0  # exploration rate at step 0 (the constant schedule's value)
    epsilon_end: float = 0.3  # exploration rate reached at the end of the decay
    epsilon_decay_steps: float = 40_000.0  # linear: env steps to reach end; exponential: time constant
    reward_scale: float = 0.1  # rewards are multiplied by this for learning (not for metrics)

    def validate(self) -> Config:
        """Raise ``ValueError`` on a bad setting; returns ``self``.

        Static fields are always checked; leaves when concrete (a sweep validates every
        setting before it traces the batched config).
        """
        self.check_rollout("pqn.Config")
        widths = self.hidden
        if not isinstance(widths, tuple) or not all(
            isinstance(w, (int, np.integer)) and not isinstance(w, bool) and w > 0 for w in widths
        ):
            raise ValueError(f"pqn.Config.hidden must be a tuple of positive integers, got {widths!r}")
        for name, value, kinds in (
            ("activation", self.activation, tuple(ACTIVATIONS)),
            ("norm", self.norm, NORMS),
            ("torso", self.torso, TORSOS),
            ("optimizer", self.optimizer, OPTIMIZERS),
            ("epsilon_schedule", self.epsilon_schedule, EPSILON_SCHEDULES),
        ):
            if value not in kinds:
                raise ValueError(
                    f"pqn.Config.{name} {value!r} unknown; choose from {', '.join(kinds)}"
                )
        checks = {
            "lr": (lambda v: v > 0, "> 0"),
            "adam_eps": (lambda v: v > 0, "> 0"),
            "max_grad_norm": (lambda v: v > 0, "> 0"),
            "gamma": (lambda v: (v >= 0) & (v <= 1), "in [0, 1]"),
            "q_lambda": (lambda v: (v >= 0) & (v <= 1), "in [0, 1]"),
            "epsilon_start": (lambda v: (v >= 0) & (v <= 1), "in [0, 1]"),
            "epsilon_end": (lambda v: (v >= 0) & (v <= 1), "in [0, 1]"),
            "epsilon_decay_steps": (lambda v: v > 0, "> 0"),
            "reward_scale": (lambda v: v > 0, "> 0"),
        }
        check_leaves(
            "pqn.Config",
            {name: (getattr(self, name), ok, rule) for name, (ok, rule) in checks.items()},
        )
        return self
