"""PQN's named settings (``PRESETS``) and default environment (``DEFAULT_ENV``)."""

from __future__ import annotations

from jaxrl.algos.pqn.config import Config
from jaxrl.core.presets import Preset

__all__ = ["DEFAULT_ENV", "PRESETS", "PUREJAXQL_CARTPOLE", "PUREJAXQL_MINATAR"]

#: purejaxql's published CartPole-v1 settings (``config/alg/pqn_cartpole.yaml``): 32 copies
#: x 64 steps, 4 epochs of 16 minibatches, two 256-unit LayerNorm layers, RAdam 1e-4
#: annealed, rewards x 0.1, lambda 0.95, epsilon 1 -> 0.2 over the first 20 % of 500k steps.
PUREJAXQL_CARTPOLE = Config(
    num_envs=32, num_steps=64, epochs=4, minibatches=16, total_timesteps=500_000,
    hidden=(256, 256), lr=1e-4, q_lambda=0.95, epsilon_end=0.2,
    epsilon_decay_steps=100_000.0, reward_scale=0.1,
)

#: purejaxql's published MinAtar settings (``config/alg/pqn_minatar.yaml``, the same for
#: every game): 128 copies x 32 steps, 2 epochs of 32 minibatches, the conv torso (16
#: 3x3 channels) and one 128-unit layer, LayerNorm after both, RAdam 5e-4 annealed,
#: lambda 0.65, epsilon 1 -> 0.05 over the first 10 % of 10M steps, rewards unscaled.
#: One difference: the source divides MinAtar's 0/1 planes by 255 before the network
#: (its pixel-input habit); jaxrl feeds them as they are.
PUREJAXQL_MINATAR = Config(
    num_envs=128, num_steps=32, epochs=2, minibatches=32, total_timesteps=10_000_000,
    hidden=(128,), torso="conv", lr=5e-4, q_lambda=0.65, epsilon_end=0.05,
    epsilon_decay_steps=1_000_000.0, reward_scale=1.0,
)

_MINATAR = {
    "breakout": "Breakout", "freeway": "Freeway", "space_invaders": "SpaceInvaders",
    "asterix": "Asterix",
}

PRESETS: dict[str, Preset] = {
    "cartpole": Preset(
        Config(), env="CartPole-v1",
        description="jaxrl tuned for CartPole-v1 (the defaults)",
    ),
    "purejaxql": Preset(
        PUREJAXQL_CARTPOLE, env="CartPole-v1",
        description="purejaxql's published CartPole-v1 settings",
    ),
    **{
        name: Preset(
            PUREJAXQL_MINATAR, env=f"gymnax/{game}-MinAtar",
            description=f"purejaxql's published MinAtar settings on {game} (10M steps; "
                        "not measured here: about an hour per seed on a 2-core CPU)",
        )
        for name, game in _MINATAR.items()
    },
}

DEFAULT_ENV: str = "CartPole-v1"
