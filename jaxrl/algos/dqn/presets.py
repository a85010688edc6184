"""DQN's named settings: ``PRESETS`` (dqn), ``DISTRIBUTIONAL_PRESETS`` (c51, qrdqn) and
``preset_env`` (the environment a preset trains on, wrapped as its source did).

The sources' agents (the book's chapter 3 and 10 agents, the MountainCar article) and
jaxrl's tuned settings; how the tuned ones were found: ``benchmarks/NOTES.md``.
"""

from __future__ import annotations

from typing import Any

from jaxrl.algos.dqn.config import FREEWAY, C51Config, Config, QRDQNConfig
from jaxrl.core.config import closest
from jaxrl.core.presets import CARTPOLE_SOLVED, Claim, Preset
from jaxrl.envs.core import Environment

__all__ = [
    "DEFAULT_ENV", "DISTRIBUTIONAL_DEFAULT_ENV", "DISTRIBUTIONAL_PRESETS", "PRESETS",
    "preset_env",
]

#: The environment a dqn run trains on when none is named.
DEFAULT_ENV: str = "CartPole-v1"

#: The environment the distributional views train on when none is named: chapter 7's
#: Freeway, as gymnax's pure-JAX MinAtar port (10x10x7 boolean planes, 3 actions, 2500
#: steps an episode, reward 1 per crossing; never terminates, only time-limited).
DISTRIBUTIONAL_DEFAULT_ENV: str = "gymnax/Freeway-MinAtar"


def _book(**overrides: Any) -> Config:
    """The book's chapter 3 network and optimiser: 64-150-100-4 ReLU, Adam 1e-3,
    gamma 0.9, MSE loss, one environment, no clipping, plain (not double) targets."""
    base = {
        "num_envs": 1, "hidden": (150, 100), "lr": 1e-3, "gamma": 0.9, "loss": "mse",
        "double": False, "max_grad_norm": 0.0, "learning_starts": 1, "n_steps": 1,
    }
    return Config(**{**base, **overrides})


#: Named settings (``jaxrl.core.presets.Preset``: config, environment, options, observation
#: noise): the sources' agents and jaxrl's tuned ones.
PRESETS: dict[str, Preset] = {
    # Chapter 3, listing "online": no replay, no target; 1000 games of static mode with
    # epsilon 1.0 -> 0.1 over the games. Static-mode games with a trained agent last 3
    # moves, early random ones ~ 10-50: ~ 10,000 steps; epsilon decays over them.
    "book_online": Preset(
        _book(replay="none", target="none", total_timesteps=10_000,
              epsilon_start=1.0, epsilon_end=0.1, epsilon_decay_steps=10_000.0),
        env="Gridworld-v0", env_options={"mode": "static", "max_steps_in_episode": 50},
        obs_noise=0.01,
        description="book ch. 3, online DQN, static mode",
    ),
    # Experience replay: buffer 500, batch 100, 3000 random-mode games of at most 50
    # moves, epsilon 0.3 -> 0.1 over the games (~ 25,000 steps, 8 a game early on).
    "book_replay": Preset(
        _book(replay="uniform", target="none", buffer_size=500, batch_size=100,
              learning_starts=100, total_timesteps=25_000, epsilon_start=0.3,
              epsilon_end=0.1, epsilon_decay_steps=25_000.0),
        env="Gridworld-v0", env_options={"mode": "random", "max_steps_in_episode": 50},
        obs_noise=0.01,
        description="book ch. 3, DQN + experience replay (the book: 86.5 % wins; this "
                    "setting here: 71 % ± 5 on 16 unseen seeds, best 77 %)",
        claim=Claim("greedy_win_rate", 0.865, "wins 86.5 % or more of 1,000 fresh random "
                    "boards within 15 moves (the book's 86.5 %)", episodes=1000, max_steps=15,
                    holds="0/16"),
    ),
    # Replay + target network: buffer 2000, batch 250, 5000 games of at most 100
    # moves, target synced every 500 steps (one gradient step per move).
    "book_target": Preset(
        _book(replay="uniform", target="hard", buffer_size=2000, batch_size=250,
              learning_starts=250, total_timesteps=40_000, target_update_period=500,
              epsilon_start=0.3, epsilon_end=0.1, epsilon_decay_steps=40_000.0),
        env="Gridworld-v0", env_options={"mode": "random", "max_steps_in_episode": 100},
        obs_noise=0.01,
        description="book ch. 3, DQN + replay + target network (the book: over 90 % "
                    "wins; this setting here: 87 % ± 2 on 16 unseen seeds, best 89.9 %; the "
                    "gridworld preset wins 97 %)",
        claim=Claim("greedy_win_rate", 0.9, "wins 90 % or more of 1,000 fresh random boards "
                    "within 15 moves (the book's 'over 90 %')", episodes=1000, max_steps=15,
                    holds="0/16"),
    ),
    # The MountainCar article: MLP 32-32, Adam 1e-3, gamma 0.99, batch 64, replay
    # 50,000, target update every 1000 steps, training from step 2000, epsilon down
    # to 0.01, one environment, 120,000 steps.
    "mountaincar_article": Preset(
        Config(num_envs=1, total_timesteps=120_000, hidden=(32, 32), lr=1e-3, gamma=0.99,
               batch_size=64, buffer_size=50_000, target="hard", target_update_period=1000,
               learning_starts=2000, double=False, loss="mse", max_grad_norm=0.0, n_steps=1,
               epsilon_start=1.0, epsilon_end=0.01, epsilon_decay_steps=20_000.0),
        env="MountainCar-v0",
        description="MountainCar DQN article (-136.75 after 120,000 steps, one seed; on 16 "
                    "unseen seeds its greedy policy reaches the flag on 2, the others stay at "
                    "-200: the mountaincar preset is the one that solves it)",
        claim=Claim("greedy_return", -136.75, "greedy return -136.75 or better over 100 "
                    "episodes (the article's result)", holds="0/16"),
    ),
    # jaxrl's tuned settings (measured by benchmarks/dqn_*.py; benchmarks/NOTES.md).
    "gridworld": Preset(
        Config(num_envs=32, total_timesteps=160_000, hidden=(64, 64), lr=3e-3, gamma=0.9,
               batch_size=64, buffer_size=32_000, learning_starts=2_000, target="hard",
               target_update_period=250, double=True, n_steps=1, loss="mse",
               epsilon_start=1.0, epsilon_end=0.05, epsilon_decay_steps=80_000.0),
        env="Gridworld-v0", env_options={"mode": "random", "max_steps_in_episode": 50},
        obs_noise=0.01,
        description="jaxrl tuned, random mode",
        claim=Claim("greedy_win_rate", 0.95, "wins 95 % or more of 1,000 fresh random boards "
                    "within 15 moves", episodes=1000, max_steps=15, holds="16/16"),
    ),
    "mountaincar": Preset(
        Config(num_envs=8, total_timesteps=120_000, hidden=(64, 64), lr=3e-3, gamma=0.99,
               batch_size=64, buffer_size=48_000, learning_starts=1_000, target="hard",
               replay="prioritized", priority_alpha=0.6, priority_beta_start=0.4,
               target_update_period=250, train_every=1, gradient_steps=2, double=True,
               n_steps=5, loss="mse", scale_obs=True, epsilon_start=1.0, epsilon_end=0.05,
               epsilon_decay_steps=30_000.0),
        env="MountainCar-v0",
        description="jaxrl tuned",
        claim=Claim("greedy_return", -136.75, "greedy return -136.75 or better over 100 "
                    "episodes (beats the article; one seed of 16 ended at -178)",
                    holds="15/16"),
    ),
    "cartpole": Preset(
        Config(),
        env="CartPole-v1",
        description="jaxrl tuned (the defaults)",
        claim=CARTPOLE_SOLVED.measured("16/16"),
    ),
    # Chapter 10: the relational (attention) DQN on DoorKey-5x5 with the book's five actions.
    # The source: 3 heads, replay 9000, batch 50, Adam 5e-4, gamma 0.99, target synced every
    # 100 steps, double DQN, -0.01 a step, a 400-step cap (benchmarks/doorkey.py).
    "doorkey_book": Preset(
        Config(torso="relational", attention_heads=3, num_envs=8, total_timesteps=200_000,
               hidden=(64,), buffer_size=9000, batch_size=50, lr=5e-4, gamma=0.99,
               target="hard", target_update_period=100, double=True, n_steps=1, loss="mse",
               learning_starts=500, max_grad_norm=0.0, epsilon_start=1.0, epsilon_end=0.1,
               epsilon_decay_steps=100_000.0),
        env="DoorKey-5x5-v0",
        env_options={"action_set": "book", "max_steps_in_episode": 400, "step_reward": -0.01},
        description="book ch. 10, relational DQN (the book: at least 94 % solved; 16 seeds "
                    "of it take over an hour on 2 CPU cores: not yet measured on unseen seeds)",
        claim=Claim("greedy_win_rate", 0.94, "solves 94 % or more of 500 fresh boards, "
                    "greedy (the book's level)", episodes=500),
    ),
    # jaxrl's setting for the same task: MiniGrid's own rewards and 250-step cap, 3-step
    # double targets, a larger buffer, Huber loss, every entity's features kept
    # (attention_pool="flatten"), gamma 0.9 (a wasted step costs 10 % of the value, so a
    # greedy policy does not loop), 150k steps (why these: benchmarks/NOTES.md).
    "doorkey": Preset(
        Config(torso="relational", attention_heads=3, attention_width=16,
               attention_pool="flatten", num_envs=16, total_timesteps=150_000, hidden=(64,),
               buffer_size=50_000, batch_size=64, lr=5e-4, gamma=0.9, target="hard",
               target_update_period=250, double=True, n_steps=3, loss="huber",
               learning_starts=2_000, epsilon_start=1.0, epsilon_end=0.05,
               epsilon_decay_steps=50_000.0),
        env="DoorKey-5x5-v0", env_options={"action_set": "book"},
        description="jaxrl, relational DQN on DoorKey-5x5",
        claim=Claim("greedy_win_rate", 0.94, "solves 94 % or more of 500 fresh boards, "
                    "greedy (the book's level); of 16 unseen seeds 14 solve all, one 85 %, "
                    "one never learned (0 %)", episodes=500, holds="14/16"),
    ),
    # Plain DQN at the FREEWAY settings, the third contestant of
    # benchmarks/distributional.py (which checks that the three heads agree).
    "freeway": Preset(
        Config(**FREEWAY), env=DISTRIBUTIONAL_DEFAULT_ENV,
        description="jaxrl: the FREEWAY settings shared with c51 and qrdqn (plain value head)",
        claim=Claim("greedy_return", 4.0, "4 or more crossings per greedy episode over 10 "
                    "episodes (the book's 'trained'); at these 80,000 steps one seed of 16 "
                    "had not learned yet", episodes=10, holds="15/16"),
    ),
}

# CartPole-v1 for the distributional agents: dqn's defaults (the ``cartpole`` preset);
# C51's support covers CartPole's discounted returns (at most 1 / (1 - 0.99) = 100).
_CARTPOLE = {
    "num_envs": 8, "total_timesteps": 200_000, "hidden": (64, 64), "batch_size": 128,
    "buffer_size": 50_000, "learning_starts": 1_000, "train_every": 1,
    "epsilon_decay_steps": 20_000.0, "tau": 0.005, "lr": 1e-3,
}

#: Presets of the distributional agents (``C51.presets``, ``QRDQN.presets``).
DISTRIBUTIONAL_PRESETS: dict[str, dict[str, Preset]] = {
    "c51": {
        "freeway": Preset(
            C51Config(), env=DISTRIBUTIONAL_DEFAULT_ENV,
            description="jaxrl tuned: 51 atoms on [0, 5] (Freeway's returns), the shared "
                        "FREEWAY settings (the defaults)",
            claim=Claim("greedy_return", 4.0, "4 or more crossings per greedy episode over "
                        "10 episodes (the book's 'trained'); at these 80,000 steps one seed "
                        "of 16 had not learned yet", episodes=10, holds="15/16"),
        ),
        "freeway_book": Preset(
            C51Config(v_min=-10.0, v_max=10.0), env=DISTRIBUTIONAL_DEFAULT_ENV,
            description="book ch. 7: 51 atoms on [-10, 10] (too wide for Freeway: slower)",
        ),
        "cartpole": Preset(
            C51Config(v_min=0.0, v_max=100.0, **_CARTPOLE), env="CartPole-v1",
            description="dqn's cartpole settings, 51 atoms on [0, 100]",
            claim=CARTPOLE_SOLVED.measured("15/16"),
        ),
    },
    "qrdqn": {
        "freeway": Preset(
            QRDQNConfig(), env=DISTRIBUTIONAL_DEFAULT_ENV,
            description="QR-DQN, 51 quantiles, kappa 0.1 (Freeway's return scale; the "
                        "defaults)",
            claim=Claim("greedy_return", 4.0, "4 or more crossings per greedy episode over "
                        "10 episodes (the book's 'trained'); at these 80,000 steps one seed "
                        "of 16 had not learned yet", episodes=10, holds="15/16"),
        ),
        "cartpole": Preset(
            QRDQNConfig(kappa=1.0, **_CARTPOLE), env="CartPole-v1",
            description="dqn's cartpole settings, 51 quantiles, kappa 1 (returns up to 100)",
            claim=CARTPOLE_SOLVED.measured("16/16"),
        ),
    },
}


def preset_env(name: str, presets: dict[str, Preset] | None = None) -> tuple[Environment, Any]:
    """The environment a preset trains on, wrapped as its source did: ``(env, params)``.

    ``presets``: the table to look ``name`` up in (default ``PRESETS``; the ``c51`` and
    ``qrdqn`` views pass theirs).
    """
    from jaxrl import envs
    from jaxrl.envs.wrappers import ObservationNoise

    presets = PRESETS if presets is None else presets
    if name not in presets:
        raise ValueError(
            f"unknown DQN preset {name!r}.{closest(name, presets)} Presets: {', '.join(presets)}."
        )
    preset = presets[name]
    env, params = envs.make(preset.env, **preset.env_options)
    if preset.obs_noise > 0:
        env = ObservationNoise(env, preset.obs_noise)
    return env, params
