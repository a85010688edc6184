"""SAC's and TD3's named settings and default environment.

The claims are measured on 16 unseen seeds by ``benchmarks/preset_claims.py``
(``benchmarks/PRESETS.md``); ``holds`` records the share that reached them.
"""

from __future__ import annotations

from jaxrl.algos.continuous.config import SACConfig, TD3Config
from jaxrl.core.presets import Claim, Preset

__all__ = ["DEFAULT_ENV", "PENDULUM_SOLVED", "REJAX_SAC_PENDULUM", "REJAX_TD3_PENDULUM",
           "SAC_PRESETS", "TD3_PRESETS"]

DEFAULT_ENV = "gymnax/Pendulum-v1"

#: Pendulum-v1 swung up and held: a greedy return of -200 or better, the mean of 10
#: episodes from random starts (the best policies score about -150: a start hanging down
#: costs about -300 to swing up, one near the top almost nothing).
PENDULUM_SOLVED = Claim("greedy_return", -200.0,
                        "greedy return -200 or better over 10 episodes (Pendulum-v1 held "
                        "upright)", episodes=10)

#: rejax's published Pendulum-v1 SAC settings (``configs/gymnax/pendulum.yaml``): one
#: copy, two 64-unit swish layers, Adam 0.01 for all three learners, batch 256, buffer
#: 10k, 256 random steps, tau 0.02 (its polyak 0.98), gamma 0.99, 10k steps. One
#: difference: rejax also normalises observations (jaxrl does not).
REJAX_SAC_PENDULUM = SACConfig(
    num_envs=1, total_timesteps=10_000, buffer_size=10_000, batch_size=256,
    learning_starts=256, hidden=(64, 64), activation="swish", actor_lr=0.01, critic_lr=0.01,
    alpha_lr=0.01, gamma=0.99, tau=0.02,
)

#: rejax's published Pendulum-v1 TD3 settings: two 64-unit swish layers, Adam 1e-3,
#: batch 100, buffer 10k, 1000 random steps, tau 0.05 (polyak 0.95), gradient norm 100,
#: exploration noise 0.3, target noise 0.2 clipped at 0.5, delay 2, 10k steps (and
#: rejax's observation normalisation, which jaxrl does not do).
REJAX_TD3_PENDULUM = TD3Config(
    num_envs=1, total_timesteps=10_000, buffer_size=10_000, batch_size=100,
    learning_starts=1_000, hidden=(64, 64), activation="swish", actor_lr=1e-3,
    critic_lr=1e-3, gamma=0.99, tau=0.05, max_grad_norm=100.0, exploration_noise=0.3,
    target_noise=0.2, target_noise_clip=0.5, policy_delay=2,
)

SAC_PRESETS: dict[str, Preset] = {
    "pendulum": Preset(
        SACConfig(), env=DEFAULT_ENV,
        description="jaxrl tuned (the defaults): 20k steps, two 64-unit layers, Adam 1e-3",
        claim=PENDULUM_SOLVED.measured("16/16"),
    ),
    "mountaincar_continuous": Preset(
        SACConfig(num_envs=32, total_timesteps=50_000, buffer_size=10_000, batch_size=256,
                  learning_starts=256, gradient_steps=32, activation="swish", actor_lr=5e-3,
                  critic_lr=5e-3, alpha_lr=5e-3, gamma=0.99, tau=0.01),
        env="gymnax/MountainCarContinuous-v0",
        description="rejax's MountainCarContinuous-v0 settings: 32 copies, 32 gradient "
                    "steps per update (UTD 1), Adam 5e-3, 50k steps",
    ),
    "rejax": Preset(REJAX_SAC_PENDULUM, env=DEFAULT_ENV,
                    description="rejax's Pendulum-v1 settings (without its observation "
                                "normalisation)"),
}

TD3_PRESETS: dict[str, Preset] = {
    "pendulum": Preset(
        TD3Config(), env=DEFAULT_ENV,
        description="jaxrl tuned (the defaults): 30k steps, two 64-unit layers, Adam 1e-3",
        claim=PENDULUM_SOLVED.measured("16/16"),
    ),
    "ddpg": Preset(
        TD3Config(critics=1, policy_delay=1, target_noise=0.0), env=DEFAULT_ENV,
        description="DDPG (Lillicrap et al., 2016) as TD3 without its three changes: one "
                    "critic, no delay, no target smoothing",
    ),
    "mountaincar_continuous": Preset(
        TD3Config(total_timesteps=10_000, buffer_size=10_000, batch_size=100,
                  learning_starts=1_000, actor_lr=2e-3, critic_lr=2e-3, gamma=0.98, tau=0.005,
                  max_grad_norm=10.0, exploration_noise=0.2),
        env="gymnax/MountainCarContinuous-v0",
        description="rejax's MountainCarContinuous-v0 settings: Adam 2e-3, exploration "
                    "noise 0.2, gamma 0.98, 10k steps",
    ),
    "rejax": Preset(REJAX_TD3_PENDULUM, env=DEFAULT_ENV,
                    description="rejax's Pendulum-v1 settings (without its observation "
                                "normalisation)"),
}
