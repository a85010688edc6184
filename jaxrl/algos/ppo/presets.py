"""PPO's named settings (``PRESETS``) and default environment (``DEFAULT_ENV``)."""

from __future__ import annotations

import dataclasses

from jaxrl.algos.ppo.config import Config
from jaxrl.core.presets import CARTPOLE_SOLVED, Claim, Preset

__all__ = ["DEFAULT_ENV", "PRESETS"]

#: The curiosity presets' common settings: small networks, short rollouts, 2 epochs of 2
#: minibatches, a constant learning rate (a goal found late still gets learned).
_CURIOUS = Config(
    num_envs=16, num_steps=64, epochs=2, minibatches=2, total_timesteps=102_400,
    actor_hidden=(32,), critic_hidden=(32,), lr=1e-3, anneal_lr=False,
    curiosity={"hidden": (32,), "features": 16},
)

#: Named settings (``jaxrl.core.presets.Preset``). ``cleanrl``: the defaults (CleanRL's and
#: PureJaxRL's CartPole settings: two 64-unit tanh layers per network, Adam 2.5e-4).
#: ``cartpole``: jaxrl's CartPole-v1 setting for throughput: one 32-unit tanh layer per
#: network and Adam 1e-3, otherwise the defaults. The curiosity presets (chapter 8) wrap
#: PPO in ICM or RND on the maze and sparse MountainCar. How the tuned ones were found and
#: measured: ``benchmarks/NOTES.md``.
PRESETS: dict[str, Preset] = {
    "cleanrl": Preset(
        Config(), env="CartPole-v1",
        description="CleanRL's and PureJaxRL's CartPole settings (the defaults)",
        claim=CARTPOLE_SOLVED.measured("16/16"),
    ),
    "cartpole": Preset(
        Config(actor_hidden=(32,), critic_hidden=(32,), lr=1e-3), env="CartPole-v1",
        description="jaxrl tuned for CartPole-v1 throughput: 32-unit networks, Adam 1e-3",
        claim=CARTPOLE_SOLVED.measured("16/16"),
    ),
    # Gaussian actions on gymnax's classic control (benchmarks/ppo_continuous.py): found
    # with jaxrl.runs.sweep (lr x gamma on Pendulum, the initial spread on Mountain Car).
    "pendulum": Preset(
        Config(num_envs=8, num_steps=128, epochs=10, minibatches=8, total_timesteps=300_000,
               normalize_obs=True, clip_value=False, reward_scale=0.1, lr=1e-3, gamma=0.95,
               gae_lambda=0.95, ent_coef=0.0),
        env="gymnax/Pendulum-v1",
        description="jaxrl tuned for Pendulum-v1: 8 x 128 steps, 10 epochs, observations "
                    "normalised, rewards x 0.1, gamma 0.95",
    ),
    "mountaincar_continuous": Preset(
        Config(num_envs=16, num_steps=128, epochs=10, minibatches=8, total_timesteps=300_000,
               normalize_obs=True, clip_value=False, reward_scale=0.1, lr=1e-3, gamma=0.99,
               gae_lambda=0.95, ent_coef=0.0, init_log_std=0.5),
        env="gymnax/MountainCarContinuous-v0",
        description="jaxrl tuned for MountainCarContinuous-v0: 16 x 128 steps, a wide "
                    "initial spread (log std 0.5), observations normalised",
    ),
    # Curiosity (chapter 8). The book's beta 0.2 and lambda 0.1; with the sparse reward
    # on, a small eta and the goal weighted up, so the bonus steers the search and the
    # goal outweighs it once found. --set curiosity.extrinsic_coef=0 --set
    # curiosity.eta=1 is pure curiosity (the book's eta).
    **{
        f"{task}_{kind}": Preset(
            (c := _CURIOUS.replace(curiosity={"kind": kind, **group}, **extra)), env=env,
            env_options=options,
            description=f"{kind.upper()} curiosity on {what}: bonus eta {c.curiosity.eta}, "
                        f"goal weighted {c.curiosity.extrinsic_coef:g}x",
            claim=Claim("final_return", 0.5, f"the {goal} reached in half or more of the "
                        "training episodes that end in the last 5 % of updates (solved)",
                        holds=holds[kind]),
        )
        for task, env, options, extra, group, what, goal, holds in (
            # The maze: a tree of 16 rooms (one route, 48 steps to the goal; uniform random
            # actions never reach it in 200 steps), the bonus non-episodic with its own
            # critic and whitened input (RND's recipe), 4 epochs of 4 minibatches.
            ("maze", "Maze-v0", {"size": 15, "layout_seed": 1, "extra_doors": 0.0},
             {"torso": "mlp", "num_steps": 32, "epochs": 4, "minibatches": 4,
              "total_timesteps": 204_800},
             {"eta": 0.3, "extrinsic_coef": 100.0, "intrinsic_critic": True,
              "normalize_obs": True},
             "the 15x15 tree maze (one route to the goal)", "goal",
             {"icm": "16/16", "rnd": "16/16"}),
            ("mountaincar_sparse", "MountainCar-v0", {"sparse": True},
             {"normalize_obs": True, "total_timesteps": 1_024_000},
             {"eta": 0.2, "extrinsic_coef": 30.0},
             "MountainCar, reward only at the flag", "flag",
             # RND's bonus fades on MountainCar before the flag is found reliably
             {"icm": "16/16", "rnd": "5/16"}),
        )
        for kind in ("icm", "rnd")
    },
}
# maze_icm: ICM learns its encoding phi(s) (by the inverse model), unlike RND's fixed
# target; 64 features from 64 units tell the maze's 159 cells apart (16 from 32 do not).
PRESETS["maze_icm"] = dataclasses.replace(
    PRESETS["maze_icm"],
    config=PRESETS["maze_icm"].config.replace(curiosity={"features": 64, "hidden": (64,)}))

# maze_rnd: 16 of 16 from the claims' base seed, but not every seed anywhere: from base
# seed 4444 one of 4 ended at 0.00 here (2 of 4 on another machine).
PRESETS["maze_rnd"] = dataclasses.replace(
    PRESETS["maze_rnd"], claim=dataclasses.replace(
        PRESETS["maze_rnd"].claim,
        text=PRESETS["maze_rnd"].claim.text + "; from base seed 4444, 3 of 4 seeds here"))

#: The environment a run trains on when none is named.
DEFAULT_ENV: str = "CartPole-v1"
