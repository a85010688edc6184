"""Time to solve CartPole-v1: the wall-clock until every seed is solved, jaxrl beside its peers.

What a researcher waits for is not steps per second but the time until the task is solved.
For each contestant, from one run of this script:

* **Solved**: a seed is solved when the mean return of ``EVAL_EPISODES`` (10) greedy
  episodes (argmax of the Q-values or of the policy's logits), each capped at
  ``EPISODE_CAP`` (500) steps, is at least ``THRESHOLD`` (475). Every contestant is
  evaluated the same way: ``jaxrl.core.episodes.evaluate`` on jaxrl's CartPole-v1 (tested
  step for step against Gymnasium's; gymnax's CartPole, which the peers train on, has the
  same physics), with the same evaluation keys at the same evaluation point, inside one
  compiled program for all seeds.
* **Schedule**: every contestant is evaluated at the first update boundary at or past each
  multiple of ``--eval-every`` (10,000) environment steps per seed, and at the end of its
  budget. Steps are counted per seed (all of its environment copies together).
* **Time to solve**: wall-clock (``time.perf_counter``) from the contestant's start until
  the first evaluation point at which all ``--seeds`` (16) seeds are solved, reported with
  compilation included (tracing and compiling its programs, then running them) and
  excluded (running only). Both include the evaluations themselves (a few percent; the
  JSON has their share). Also reported: the env steps per seed at that point, and, for a
  contestant that never solves every seed, how many are solved at the end of its budget;
  and each time over the fastest peer's (peers: the non-jaxrl contestants) on the same
  device setting.
* **Stop rule**: a contestant stops when solved or at its own budget (its published total
  steps), whichever comes first; ``--budget-cap`` caps every budget (its schedules, e.g.
  learning-rate decay, stay those of the full budget).
* **Devices**: ``one`` runs every seed ``vmap``-ped in one program on one CPU device;
  ``all`` splits the seeds over every device (``jaxrl.parallel.devices.over_seeds``, one
  CPU device per core, as ``jaxrl train`` does). Every contestant runs on both by default.

How the time is measured, the same for every contestant: each runs in chunks, one compiled
"K updates" program (a ``lax.fori_loop`` over the contestant's own update function, K a
runtime argument) called from one evaluation point to the next, and one compiled
evaluation program; ``jax.block_until_ready`` after each call. Nothing but the update loop
is the contestant's; the chunking is exact (the same updates in the same order as one
closed loop).

* jaxrl PPO, DQN, PQN (preset ``cartpole``): ``agent.init``, ``agent.update``, ``agent.act``.
* rejax PPO, DQN, PQN (its ``configs/gymnax/cartpole.yaml``): ``algo.init_state`` and
  ``algo.train_iteration``, the two pieces its own ``train`` loops over between its own
  evaluations.
* PureJaxRL PPO and DQN (the settings in ``ppo.py``'s and ``dqn.py``'s ``__main__``) and
  purejaxql PQN (``config/alg/pqn_cartpole.yaml``): their ``make_train(config)(rng)`` is
  one closed ``lax.scan`` over ``_update_step``. Their code is not changed: while the
  initial state is traced, ``jax.lax.scan`` is replaced by a function that, for a body
  named ``_update_step`` only, returns the initial carry and keeps the body; the chunks then
  call that body, their update step, unchanged. purejaxql's own evaluation during training
  (``TEST_DURING_TRAINING``, 128 greedy episodes every 5 % of the run) is switched off:
  the shared evaluation above replaces it for everyone.

The peers run in their own environment with this repository on ``sys.path`` (see
``benchmarks/peers.py``, whose loader this script uses), e.g.::

    python3 -m venv /work/peers/venv
    /work/peers/venv/bin/pip install jax==0.9.2 jaxlib==0.9.2 flax==0.12.6 optax==0.2.8 \\
        chex==0.1.92 "gymnax<1" rejax flashbax distrax six hydra-core omegaconf safetensors
    # PureJaxRL and purejaxql checkouts in /work/peers/purejaxrl and /work/peers/purejaxql
    /work/peers/venv/bin/python benchmarks/time_to_solve.py \\
        --purejaxrl /work/peers/purejaxrl --purejaxql /work/peers/purejaxql --json out.json

A peer that does not import is skipped with a note. Usage: ``python
benchmarks/time_to_solve.py [--only NAME...] [--seeds 16] [--devices one|all|both]
[--eval-every 10000] [--budget-cap STEPS] [--quick] [--json PATH] [--purejaxrl DIR]
[--purejaxql DIR]``; ``--only`` takes contestant names (``jaxrl-pqn``), libraries
(``rejax``) or algorithms (``dqn``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(1, str(Path(__file__).resolve().parent))  # peers.py, its loaders

import jax
import jax.numpy as jnp
import numpy as np

ENV = "CartPole-v1"
THRESHOLD = 475.0  # a seed is solved at this mean greedy return
EVAL_EPISODES = 10  # greedy episodes per seed per evaluation point
EPISODE_CAP = 500  # steps per evaluation episode
EVAL_SEED = 12345  # the evaluation keys: the same for every contestant at the same point


@dataclasses.dataclass(frozen=True)
class Task:
    """What solved means: a seed is solved when the mean return of ``episodes`` greedy
    episodes on ``env``, each capped at ``cap`` steps, is at least ``threshold``."""

    env: str
    threshold: float
    episodes: int
    cap: int


def cartpole() -> Task:
    """This script's task (read at call time, so tests may lower the module's constants)."""
    return Task(ENV, THRESHOLD, EVAL_EPISODES, EPISODE_CAP)


CONTESTANTS = ("jaxrl-ppo", "jaxrl-dqn", "jaxrl-pqn", "purejaxrl-ppo", "purejaxrl-dqn",
               "purejaxql-pqn", "rejax-ppo", "rejax-dqn", "rejax-pqn")

# ------------------------------------------------------------------------ peers' settings
#: PureJaxRL (luchris429/purejaxrl at 31756b1), purejaxrl/ppo.py's ``__main__`` config.
PUREJAXRL_PPO = {
    "LR": 2.5e-4, "NUM_ENVS": 4, "NUM_STEPS": 128, "TOTAL_TIMESTEPS": 5e5, "UPDATE_EPOCHS": 4,
    "NUM_MINIBATCHES": 4, "GAMMA": 0.99, "GAE_LAMBDA": 0.95, "CLIP_EPS": 0.2, "ENT_COEF": 0.01,
    "VF_COEF": 0.5, "MAX_GRAD_NORM": 0.5, "ACTIVATION": "tanh", "ENV_NAME": "CartPole-v1",
    "ANNEAL_LR": True, "DEBUG": False,  # DEBUG True only prints returns from the host
}
#: PureJaxRL, purejaxrl/dqn.py's ``main()`` config.
PUREJAXRL_DQN = {
    "NUM_ENVS": 10, "BUFFER_SIZE": 10000, "BUFFER_BATCH_SIZE": 128, "TOTAL_TIMESTEPS": 5e5,
    "EPSILON_START": 1.0, "EPSILON_FINISH": 0.05, "EPSILON_ANNEAL_TIME": 25e4,
    "TARGET_UPDATE_INTERVAL": 500, "LR": 2.5e-4, "LEARNING_STARTS": 10000,
    "TRAINING_INTERVAL": 10, "LR_LINEAR_DECAY": False, "GAMMA": 0.99, "TAU": 1.0,
    "ENV_NAME": "CartPole-v1", "SEED": 0, "NUM_SEEDS": 1, "WANDB_MODE": "disabled",
}
#: rejax (keraJLi/rejax at d751095), configs/gymnax/cartpole.yaml (not shipped in its wheel).
REJAX_CARTPOLE: dict[str, dict[str, Any]] = {
    "ppo": {"env": "CartPole-v1", "agent_kwargs": {"activation": "tanh"}, "num_envs": 5,
            "num_steps": 100, "num_epochs": 5, "num_minibatches": 5, "learning_rate": 0.00075,
            "max_grad_norm": 0.5, "total_timesteps": 100_000, "eval_freq": 1000,
            "gamma": 0.99, "gae_lambda": 0.95, "clip_eps": 0.2, "ent_coef": 0.01,
            "vf_coef": 0.5},
    "dqn": {"env": "CartPole-v1", "agent": "DuelingQNetwork",
            "agent_kwargs": {"activation": "swish"}, "num_envs": 10, "buffer_size": 50_000,
            "fill_buffer": 5_000, "batch_size": 100, "max_grad_norm": 10,
            "learning_rate": 0.001, "num_epochs": 5, "total_timesteps": 100_000,
            "eval_freq": 2_500, "polyak": 0.98, "eps_start": 1, "eps_end": 0.05,
            "exploration_fraction": 0.5, "gamma": 0.99, "ddqn": True,
            "normalize_observations": False},
    "pqn": {"env": "CartPole-v1", "num_envs": 16, "num_steps": 128, "num_minibatches": 16,
            "max_grad_norm": 10, "learning_rate": 0.0003, "num_epochs": 5,
            "total_timesteps": 524288, "eval_freq": 16384, "eps_start": 1, "eps_end": 0.05,
            "exploration_fraction": 0.5, "gamma": 0.99, "td_lambda": 0.9,
            "normalize_observations": False},
}
#: purejaxql's top-level config (config/config.yaml) that pqn_gymnax.py reads beside the
#: algorithm's file; the algorithm's settings are read from the checkout itself.
PUREJAXQL_TOP = {"SEED": 0, "NUM_SEEDS": 1, "WANDB_MODE": "disabled", "ENTITY": "",
                 "PROJECT": "", "WANDB_LOG_ALL_SEEDS": False, "SAVE_PATH": None}


# ------------------------------------------------------------------------------ contestants
@dataclasses.dataclass
class Contestant:
    """One algorithm of one library, as the timing loop drives it (all for one seed).

    Attributes:
        name: ``library-algo``, e.g. ``jaxrl-pqn``.
        init: ``key -> state``.
        update: ``state -> (state, env_steps)``: one update, and the contestant's own count
            of environment steps after it (int32[]; -1 when it keeps none), checked
            against the schedule.
        act: ``(state, obs) -> action``: the greedy action for one observation.
        steps_per_update: environment steps (per seed) one update takes.
        budget_updates: updates in the contestant's published run.
        keys: ``seeds -> keys``: the keys its ``init`` takes (PureJaxRL style raw keys
            for the peers, typed keys for jaxrl).
        settings: where its settings come from.
    """

    name: str
    init: Callable[[Any], Any]
    update: Callable[[Any], tuple[Any, Any]]
    act: Callable[[Any, Any], Any]
    steps_per_update: int
    budget_updates: int
    keys: Callable[[int], Any]
    settings: str

    @property
    def library(self) -> str:
        return self.name.split("-")[0]

    @property
    def peer(self) -> bool:
        return self.library != "jaxrl"


def jaxrl_contestant(algo: str, config: Any = None, preset_name: str = "cartpole",
                     label: str = "", env: tuple[str, dict[str, Any]] | None = None,
                     settings: str | None = None) -> Contestant:
    """jaxrl's ``algo`` at its preset ``preset_name`` (or ``config`` on that preset's
    environment, or on ``env``: ``(name, options)``); ``label`` is appended to the name
    (``jaxrl-sac@rejax``); ``settings`` says where the settings come from."""
    from jaxrl import algos, envs

    record = algos.get(algo)
    preset = record.presets[preset_name]
    config = preset.config if config is None else config
    env_name, options = env if env is not None else (preset.env or ENV, preset.env_options)
    environment, params = envs.make(env_name, **options)
    agent = record.make(config, environment, params)
    # One update steps every copy num_steps times (PPO, PQN) or once (DQN, SAC, TD3).
    per_update = config.num_envs * getattr(config, "num_steps", 1)

    def update(state: Any) -> tuple[Any, Any]:
        state, metrics = agent.update(state)
        return state, jnp.asarray(metrics["env_steps"], jnp.int32)

    return Contestant(
        name=f"jaxrl-{algo}{label}", init=agent.init, update=update,
        act=lambda s, o: agent.act(s, o, jax.random.key(0), True),
        steps_per_update=per_update, budget_updates=agent.num_updates,
        keys=lambda n: jax.random.split(jax.random.key(0), n),
        settings=settings or f"jaxrl preset {preset_name} ({algo})",
    )


def split_closed_scan(train: Callable[[Any], Any],
                      body_name: str = "_update_step") -> tuple[Callable, Callable]:
    """A closed ``train(rng)`` (setup, then one ``lax.scan(body_name, ...)``, returning
    ``{"runner_state": ...}``) as ``init(rng) -> runner_state`` and ``update(runner_state)
    -> runner_state``, without changing its code: while ``init`` traces ``train``,
    ``jax.lax.scan`` of a function named ``body_name`` returns its initial carry and keeps
    the function, which ``update`` then calls (its outputs other than the carry dropped)."""
    kept: dict[str, Callable] = {}
    real_scan = jax.lax.scan

    def intercept(f: Callable, init: Any, *args: Any, **kwargs: Any) -> Any:
        if getattr(f, "__name__", "") == body_name:
            kept["body"] = f
            return init, None
        return real_scan(f, init, *args, **kwargs)

    def init(rng: Any) -> Any:
        jax.lax.scan = intercept
        try:
            return train(rng)["runner_state"]
        finally:
            jax.lax.scan = real_scan

    def update(runner_state: Any) -> Any:
        if "body" not in kept:
            raise RuntimeError(f"no lax.scan over {body_name} seen while tracing init")
        return kept["body"](runner_state, None)[0]

    return init, update


def _raw_keys(n: int) -> Any:
    return jax.random.split(jax.random.PRNGKey(0), n)


def purejaxrl_contestant(algo: str, root: str | None) -> Contestant:
    from peers import _load_purejaxrl

    module = _load_purejaxrl(root, algo)
    config: dict[str, Any] = dict(PUREJAXRL_PPO if algo == "ppo" else PUREJAXRL_DQN)
    init, step = split_closed_scan(module.make_train(config))
    if algo == "ppo":
        def act(rs: Any, obs: Any) -> Any:
            pi, _ = rs[0].apply_fn(rs[0].params, obs)
            return jnp.argmax(pi.logits, axis=-1)

        def update(rs: Any) -> tuple[Any, Any]:
            rs = step(rs)  # LogWrapper's per-copy step counter, times the copies
            return rs, jnp.asarray(rs[1].timestep[0] * config["NUM_ENVS"], jnp.int32)

        per_update = config["NUM_ENVS"] * config["NUM_STEPS"]
    else:
        def act(rs: Any, obs: Any) -> Any:
            return jnp.argmax(rs[0].apply_fn(rs[0].params, obs), axis=-1)

        def update(rs: Any) -> tuple[Any, Any]:
            rs = step(rs)
            return rs, jnp.asarray(rs[0].timesteps, jnp.int32)

        per_update = config["NUM_ENVS"]
    return Contestant(
        name=f"purejaxrl-{algo}", init=init, update=update, act=act,
        steps_per_update=per_update, budget_updates=int(config["NUM_UPDATES"]), keys=_raw_keys,
        settings=f"PureJaxRL purejaxrl/{algo}.py __main__ config",
    )


def purejaxql_contestant(root: str | None) -> Contestant:
    import yaml  # purejaxql's settings file (PyYAML comes with hydra and rejax)
    from peers import _load_purejaxrl

    module = _load_purejaxrl(root, "pqn_gymnax", package="purejaxql")
    path = Path(module.__file__).parent / "config" / "alg" / "pqn_cartpole.yaml"
    alg = yaml.safe_load(path.read_text())
    config = {**PUREJAXQL_TOP, **alg}
    for name in ("TOTAL_TIMESTEPS", "TOTAL_TIMESTEPS_DECAY"):
        config[name] = float(config[name])
    config["TEST_DURING_TRAINING"] = False  # the shared greedy evaluation replaces it
    init, step = split_closed_scan(module.make_train(config))

    def act(rs: Any, obs: Any) -> Any:
        ts = rs[0]
        q = ts.apply_fn({"params": ts.params, "batch_stats": ts.batch_stats}, obs[None],
                        train=False)
        return jnp.argmax(q[0], axis=-1)

    def update(rs: Any) -> tuple[Any, Any]:
        rs = step(rs)
        return rs, jnp.asarray(rs[0].timesteps, jnp.int32)

    return Contestant(
        name="purejaxql-pqn", init=init, update=update, act=act,
        steps_per_update=config["NUM_ENVS"] * config["NUM_STEPS"],
        budget_updates=int(config["NUM_UPDATES"]), keys=_raw_keys,
        settings="purejaxql config/alg/pqn_cartpole.yaml (TEST_DURING_TRAINING off)",
    )


def rejax_contestant(algo: str) -> Contestant:
    import rejax

    settings = REJAX_CARTPOLE[algo]
    cls = {"ppo": rejax.PPO, "dqn": rejax.DQN, "pqn": rejax.PQN}[algo]
    a = cls.create(**settings)
    per_update = a.num_envs * (a.num_steps if algo in ("ppo", "pqn") else 1)
    # its own train(): ceil(total / eval_freq) rounds of ceil(eval_freq / per_update) updates
    budget = math.ceil(a.total_timesteps / a.eval_freq) * math.ceil(a.eval_freq / per_update)

    def observe(ts: Any, obs: Any) -> Any:
        if getattr(a, "normalize_observations", False):
            obs = a.normalize_obs(ts.obs_rms_state, obs)
        return obs[None]

    if algo == "ppo":
        def act(ts: Any, obs: Any) -> Any:
            dist = a.actor.apply(ts.actor_ts.params, observe(ts, obs),
                                 method=lambda m, x: m._action_dist(x))
            return jnp.argmax(dist.logits[0], axis=-1)
    else:
        def act(ts: Any, obs: Any) -> Any:
            return jnp.argmax(a.agent.apply(ts.q_ts.params, observe(ts, obs))[0], axis=-1)

    def update(ts: Any) -> tuple[Any, Any]:
        ts = a.train_iteration(ts)
        return ts, jnp.asarray(ts.global_step, jnp.int32)

    return Contestant(
        name=f"rejax-{algo}", init=a.init_state, update=update, act=act,
        steps_per_update=per_update, budget_updates=budget, keys=_raw_keys,
        settings=f"rejax configs/gymnax/cartpole.yaml ({algo})",
    )


def build(name: str, args: argparse.Namespace) -> Contestant:
    library, algo = name.split("-")
    if library == "jaxrl":
        return jaxrl_contestant(algo)
    if library == "purejaxrl":
        return purejaxrl_contestant(algo, args.purejaxrl)
    if library == "purejaxql":
        return purejaxql_contestant(args.purejaxql)
    return rejax_contestant(algo)


# ------------------------------------------------------------------------------ timing
def schedule(steps_per_update: int, budget_updates: int, eval_every: int) -> list[int]:
    """Update counts to evaluate after: the first update boundary at or past each multiple
    of ``eval_every`` env steps, and the budget's last update."""
    points: list[int] = []
    k = 1
    while True:
        u = -(-k * eval_every // steps_per_update)
        if u >= budget_updates:
            break
        if not points or u > points[-1]:
            points.append(u)
        k += 1
    return [*points, budget_updates]


def strong(tree: Any, like: Any = None) -> Any:
    """``tree`` with every leaf strongly typed, of the dtype of ``like``'s leaf (default its
    own), so that the state a chunk takes back is exactly the state it returns. A peer's
    initial state holds weakly typed leaves (PureJaxRL's ``episode_returns=0``) that
    ``lax.scan`` would promote to the type its update step returns: this does the same."""

    def one(x: Any, dtype: Any) -> Any:
        x = jnp.asarray(x)
        if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
            return x
        return jax.lax.convert_element_type(x, dtype)

    if like is None:
        return jax.tree.map(lambda x: one(x, jnp.asarray(x).dtype), tree)
    return jax.tree.map(lambda x, y: one(x, y.dtype), tree, like)


def programs(c: Contestant, devices: Sequence[Any],
             task: Task | None = None) -> tuple[Any, Any, Any]:
    """The contestant's three programs over seeds on ``devices``: init, K updates (K a
    runtime argument; the state is donated) and the greedy evaluation (mean return per seed)."""
    from jaxrl import envs
    from jaxrl.core.agent import Agent
    from jaxrl.core.episodes import evaluate
    from jaxrl.parallel.devices import over_seeds

    task = task or cartpole()
    env, params = envs.make(task.env)
    def act(state: Any, obs: Any, key: Any, greedy: bool = True) -> Any:
        return c.act(state, obs)  # always greedy: argmax

    greedy = Agent(init=c.init, update=lambda s: (s, {}), num_updates=c.budget_updates,
                   act=act, config=None)

    def chunk(state: Any, n: Any) -> tuple[Any, Any]:
        state, counted = jax.lax.fori_loop(0, n, lambda _, carry: c.update(carry[0]),
                                           (state, jnp.int32(-1)))
        return strong(state), counted

    def score(state: Any, key: Any) -> Any:
        return evaluate(greedy, state, env, params, key, task.episodes,
                        max_steps=task.cap).mean_return

    def init(key: Any) -> Any:
        state = c.init(key)
        return strong(state, jax.eval_shape(lambda s: c.update(s)[0], state))

    return (over_seeds(init, devices=devices),
            over_seeds(chunk, in_axes=(0, None), devices=devices, donate_argnums=0),
            over_seeds(score, in_axes=(0, 0), devices=devices))


def race(c: Contestant, seeds: int, eval_every: int, devices: Sequence[Any],
         budget_cap: int | None = None, task: Task | None = None,
         stop_when_solved: bool = True) -> dict[str, Any]:
    """Run ``c`` on ``seeds`` seeds until all are solved (``stop_when_solved``) or its
    budget ends; the row."""
    task = task or cartpole()
    budget = c.budget_updates
    if budget_cap is not None:
        budget = max(1, min(budget, budget_cap // c.steps_per_update))
    points = schedule(c.steps_per_update, budget, eval_every)
    base = jax.random.key(EVAL_SEED)
    eval_keys = [jax.random.split(jax.random.fold_in(base, i), seeds) for i in range(len(points))]
    keys = c.keys(seeds)
    init_p, chunk_p, eval_p = programs(c, devices, task)

    t = time.perf_counter()
    init_c = init_p.compile(keys)
    compile_s = time.perf_counter() - t
    t = time.perf_counter()
    state = jax.block_until_ready(init_c(keys))
    run_s = time.perf_counter() - t
    t = time.perf_counter()
    chunk_c = chunk_p.compile(state, np.int32(1))
    eval_c = eval_p.compile(state, eval_keys[0])
    compile_s += time.perf_counter() - t

    history: list[dict[str, Any]] = []
    done, eval_s = 0, 0.0
    solved_at: dict[str, Any] | None = None
    for i, u in enumerate(points):
        t = time.perf_counter()
        state, counted = jax.block_until_ready(chunk_c(state, np.int32(u - done)))
        run_s += time.perf_counter() - t
        t = time.perf_counter()
        returns = np.asarray(eval_c(state, eval_keys[i]))
        took = time.perf_counter() - t
        run_s, eval_s, done = run_s + took, eval_s + took, u
        steps = u * c.steps_per_update
        counted = np.asarray(counted)
        if (counted >= 0).any() and not (counted == steps).all():
            raise RuntimeError(f"{c.name}: the schedule says {steps} env steps per seed, "
                               f"the contestant counted {sorted(set(counted.tolist()))}")
        solved = int((returns >= task.threshold).sum())
        history.append({"env_steps": steps, "run_s": round(run_s, 3), "solved": solved,
                        "returns": [round(float(r), 1) for r in returns]})
        if solved == seeds and solved_at is None:
            solved_at = history[-1]
            if stop_when_solved:
                break
    final = history[-1]
    return {
        "contestant": c.name, "peer": c.peer, "settings": c.settings,
        "devices": len(chunk_p.devices_for(seeds)), "seeds": seeds,
        "steps_per_update": c.steps_per_update, "budget_steps": budget * c.steps_per_update,
        "published_budget_steps": c.budget_updates * c.steps_per_update,
        "solved": final["solved"], "solved_all": solved_at is not None,
        "solve_env_steps": solved_at["env_steps"] if solved_at else None,
        "end_env_steps": final["env_steps"],
        "compile_s": round(compile_s, 3),
        "seconds_excl_compile": round(solved_at["run_s"], 3) if solved_at else None,
        "seconds_incl_compile": round(solved_at["run_s"] + compile_s, 3) if solved_at else None,
        "eval_s": round(eval_s, 3), "run_s": round(run_s, 3), "history": history,
    }


def add_ratios(rows: list[dict[str, Any]]) -> None:
    """Each row's times over the fastest solved peer's on the same device count."""
    for row in rows:
        for kind in ("incl", "excl"):
            field = f"seconds_{kind}_compile"
            peers = [r[field] for r in rows if r.get("peer") and r.get(field) is not None
                     and r["devices"] == row.get("devices")]
            ok = row.get(field) is not None and peers
            row[f"ratio_{kind}"] = round(row[field] / min(peers), 2) if ok else None


def table(rows: list[dict[str, Any]], seeds: int, eval_every: int) -> list[str]:
    lines = [
        f"Time to solve {ENV}: all {seeds} seeds at mean greedy return >= {THRESHOLD:g} "
        f"({EVAL_EPISODES} episodes of <= {EPISODE_CAP} steps per seed), evaluated every "
        f"{eval_every:,} env steps per seed; seconds from the start to that evaluation, "
        "compile included / excluded (evaluations included); ratio: over the fastest "
        "peer's on the same devices; compile: of s incl",
        f"  {'contestant':<15} {'devices':>7} {'solved':>8} {'env steps':>10} "
        f"{'s incl':>8} {'s excl':>8} {'x peer incl':>11} {'x peer excl':>11} "
        f"{'compile':>8}  note",
    ]

    def num(x: Any, fmt: str) -> str:
        return "-" if x is None else format(x, fmt)

    for r in rows:
        if "error" in r:
            lines.append(f"  {r['contestant']:<15} {num(r.get('devices'), 'd'):>7}  {r['error']}")
            continue
        note = "" if r["solved_all"] else (
            f"not all solved by {r['end_env_steps']:,} steps (budget "
            f"{r['budget_steps']:,}), after {r['run_s']:.2f} s running")
        lines.append(
            f"  {r['contestant']:<15} {r['devices']:>7d} {r['solved']:>3d}/{r['seeds']:<4d} "
            f"{num(r['solve_env_steps'], ','):>10} {num(r['seconds_incl_compile'], '.2f'):>8} "
            f"{num(r['seconds_excl_compile'], '.2f'):>8} {num(r['ratio_incl'], '.2f'):>11} "
            f"{num(r['ratio_excl'], '.2f'):>11} {r['compile_s']:>8.2f}  {note}".rstrip())
    return lines


def select(only: Sequence[str] | None) -> list[str]:
    """Contestant names matching any of ``only`` (a name, a library or an algorithm)."""
    if not only:
        return list(CONTESTANTS)
    picked = [n for n in CONTESTANTS if any(t in (n, *n.split("-")) for t in only)]
    unknown = [t for t in only if not any(t in (n, *n.split("-")) for n in CONTESTANTS)]
    if unknown:
        from jaxrl.errors import RunError

        raise RunError(f"--only: unknown {', '.join(unknown)}; choose from "
                       f"{', '.join(CONTESTANTS)}, a library or an algorithm")
    return picked


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Every selected contestant on every device setting asked for; the rows, printed."""
    device_sets = {"one": [jax.devices()[:1]], "all": [jax.devices()],
                   "both": [jax.devices()[:1], jax.devices()]}[args.devices]
    if len(jax.devices()) == 1 and args.devices == "both":
        device_sets = device_sets[:1]
    rows: list[dict[str, Any]] = []
    for name in select(args.only):
        try:
            contestant = build(name, args)
        except Exception as e:  # noqa: BLE001 - a peer that does not import is skipped
            rows.append({"contestant": name, "peer": not name.startswith("jaxrl"),
                         "error": f"skipped ({type(e).__name__}: {str(e).splitlines()[0][:100]})"})
            continue
        for devices in device_sets:
            try:
                row = race(contestant, args.seeds, args.eval_every, devices, args.budget_cap)
            except Exception as e:  # noqa: BLE001 - a peer program that does not build
                if not contestant.peer:
                    raise
                row = {"contestant": name, "peer": True, "devices": len(devices),
                       "error": f"failed ({type(e).__name__}: {str(e).splitlines()[0][:100]})"}
            rows.append(row)
            print(f"  ... {name} on {row.get('devices')} device(s): "
                  f"{row.get('solved', '-')} solved, {row.get('run_s', '-')} s run, "
                  f"{row.get('compile_s', '-')} s compile", flush=True)
    add_ratios(rows)
    return rows


def main(argv: Sequence[str] | None = None) -> list[dict[str, Any]]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="+", default=None, metavar="NAME",
                    help=f"contestants ({', '.join(CONTESTANTS)}), libraries or algorithms")
    ap.add_argument("--seeds", type=int, default=16)
    ap.add_argument("--devices", choices=("one", "all", "both"), default="both")
    ap.add_argument("--eval-every", type=int, default=10_000, metavar="STEPS",
                    help="env steps per seed between evaluations")
    ap.add_argument("--budget-cap", type=int, default=None, metavar="STEPS",
                    help="stop every contestant after at most this many env steps per seed")
    ap.add_argument("--quick", action="store_true",
                    help="plumbing check: 2 seeds, evaluations every 5,000 steps, budgets "
                         "capped at 10,000 steps (unless --budget-cap says otherwise)")
    ap.add_argument("--json", default=None, metavar="PATH")
    ap.add_argument("--purejaxrl", default=None, metavar="DIR",
                    help="a checkout of luchris429/purejaxrl")
    ap.add_argument("--purejaxql", default=None, metavar="DIR",
                    help="a checkout of mttga/purejaxql")
    args = ap.parse_args(argv)
    if args.quick:
        args.seeds, args.eval_every = 2, 5_000
        args.budget_cap = args.budget_cap or 10_000
    for name in ("seeds", "eval_every", "budget_cap"):
        value = getattr(args, name)
        if value is not None and value < 1:
            from jaxrl.errors import RunError

            raise RunError(f"--{name.replace('_', '-')} must be at least 1, got {value}")
    select(args.only)  # unknown names fail before anything is compiled
    from jaxrl.parallel.devices import use_cpu_cores

    use_cpu_cores()  # one CPU device per core, before JAX starts (kept if it has)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"jax {jax.__version__}, {len(jax.devices())} device(s), {os.cpu_count()} cores, "
          f"load average {load:.1f}; {args.seeds} seeds", flush=True)
    rows = run(args)
    print("\n".join(table(rows, args.seeds, args.eval_every)))
    if args.json:
        from jaxrl.output.files import write_bytes

        doc = {"env": ENV, "threshold": THRESHOLD, "eval_episodes": EVAL_EPISODES,
               "episode_cap": EPISODE_CAP, "eval_every": args.eval_every,
               "seeds": args.seeds, "budget_cap": args.budget_cap,
               "jax": jax.__version__, "rows": rows}
        write_bytes(args.json, json.dumps(doc, indent=1).encode())
    return rows


if __name__ == "__main__":
    try:
        main()
    except Exception as e:
        from jaxrl.errors import RunError

        if not isinstance(e, RunError):
            raise
        sys.exit(f"time_to_solve: {e}")
