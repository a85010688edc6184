"""PQN's named settings (``PRESETS``) and default environment (``DEFAULT_ENV``)."""

from __future__ import annotations

from jaxrl.algos.pqn.config import Config
from jaxrl.core.presets import CARTPOLE_SOLVED, Claim, Preset

__all__ = ["DEFAULT_ENV", "PRESETS", "PUREJAXQL_CARTPOLE", "PUREJAXQL_MINATAR"]

#: purejaxql's published CartPole-v1 settings (``config/alg/pqn_cartpole.yaml``): 32 copies
#: x 64 steps, 4 epochs of 16 minibatches, two 256-unit LayerNorm layers, RAdam 1e-4
#: annealed, rewards x 0.1, lambda 0.95, epsilon 1 -> 0.2 over the first 20 % of 500k steps.
PUREJAXQL_CARTPOLE = Config(
    num_envs=32, num_steps=64, epochs=4, minibatches=16, total_timesteps=500_000,
    hidden=(256, 256), lr=1e-4, gamma=0.99, q_lambda=0.95, epsilon_end=0.2,
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
    hidden=(128,), torso="conv", lr=5e-4, gamma=0.99, q_lambda=0.65, epsilon_end=0.05,
    epsilon_decay_steps=1_000_000.0, reward_scale=1.0,
)

_MINATAR = {
    "breakout": "Breakout", "freeway": "Freeway", "space_invaders": "SpaceInvaders",
    "asterix": "Asterix",
}

PRESETS: dict[str, Preset] = {
    # CartPole-v1 (the defaults): 32 copies x 32 steps, 2 epochs of 8 minibatches, two
    # 128-unit LayerNorm layers, RAdam 1e-3 annealed, rewards x 0.1, lambda 0.95, gamma
    # 0.995, epsilon 1 -> 0.3 over 40k of 200k steps (why: benchmarks/NOTES.md).
    "cartpole": Preset(
        Config(), env="CartPole-v1",
        description="jaxrl tuned for CartPole-v1 (the defaults)",
        claim=CARTPOLE_SOLVED.measured("16/16"),
    ),
    # DoorKey-5x5 at dqn's doorkey preset's 150k steps and action set: 64 copies x 16
    # steps, a plain LayerNorm MLP on the raw 7x7x3 view, gamma 0.9 (a wasted step costs
    # 10 % of the value), lambda 0.95, epsilon 1 -> 0.05 over 100k steps.
    "doorkey": Preset(
        Config(num_envs=64, num_steps=16, epochs=2, minibatches=8, total_timesteps=150_000,
               lr=5e-4, gamma=0.9, epsilon_end=0.05, epsilon_decay_steps=100_000.0,
               reward_scale=1.0),
        env="DoorKey-5x5-v0", env_options={"action_set": "book"},
        description="jaxrl, PQN on DoorKey-5x5 (dqn doorkey's steps and actions)",
        claim=Claim("greedy_win_rate", 0.94, "solves 94 % or more of 500 fresh boards, "
                    "greedy (the book's level)", episodes=500, holds="16/16"),
    ),
    "purejaxql": Preset(
        PUREJAXQL_CARTPOLE, env="CartPole-v1",
        description="purejaxql's published CartPole-v1 settings",
    ),
    **{
        name: Preset(
            PUREJAXQL_MINATAR, env=f"gymnax/{game}-MinAtar",
            description=f"purejaxql's published MinAtar settings on {game} (10M steps; "
                        "no claim: not yet measured on this project's CPU machines)",
        )
        for name, game in _MINATAR.items()
    },
}

DEFAULT_ENV: str = "CartPole-v1"
