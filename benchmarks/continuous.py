"""Continuous control: jaxrl's SAC, TD3 and PPO beside rejax's SAC and TD3, from one run.

For each task (Pendulum-v1; MountainCarContinuous-v0 with ``--tasks pendulum mcc``; two
Brax tasks with ``--tasks inverted_pendulum reacher``, see ``BRAX_TASKS``) every
contestant trains ``--seeds`` (8) seeds in one program on one CPU device, evaluated
greedily on a fixed schedule by ``benchmarks/time_to_solve.py``'s machinery (the same
evaluation keys, episodes and step cap for everyone, jaxrl's evaluation loop on gymnax's
environment through jaxrl's adapter). Each row reports:

* **final greedy return per seed**: the mean of ``EPISODES`` (10) greedy episodes at the
  end of the contestant's budget (its published total steps);
* **env steps/s**: environment steps of all seeds over the seconds spent updating
  (compilation and the evaluations excluded);
* **time to threshold**: seconds (compile included / excluded) until the first
  evaluation at which every seed reaches the task's threshold (Pendulum -200, the level
  of a pendulum swung up and held; Mountain Car 90, Gymnasium's reward threshold), and
  the env steps per seed by then; "-" when some seed never does.

Contestants, for each task: jaxrl ``sac``, ``td3`` and ``ppo`` at their preset for the
task (``pendulum``, ``mountaincar_continuous``), and rejax's ``SAC`` and ``TD3`` at its own
published settings (``configs/gymnax/pendulum.yaml``, ``continuous_mountaincar.yaml``).
On Pendulum also the **identical-settings** pair: jaxrl's ``rejax`` presets (rejax's
settings restated: networks, learning rates, batch, buffer, warm-up, tau, noises, delay)
against rejax run with ``normalize_observations`` off (jaxrl does not normalise; the one
setting that differs otherwise), so the steps/s ratio compares the same work.
Ratios are over rejax's row of the same algorithm in the same run.

On the Brax tasks (brax 0.14.2 in both environments, its ``generalized`` pipeline) rejax has
no CPU-sized published setting (its ``configs/brax`` train 128 copies for 5M steps), so
both libraries run jaxrl's settings (``brax_configs``: SAC's and TD3's defaults, PPO's
``pendulum`` preset) and rejax gets them restated (``rejax_same``; observations not
normalised): every rejax row there is an identical-settings row. rejax wraps Brax in its
own episode and auto-reset wrappers (a time limit ends its episodes as a termination);
jaxrl's adapter truncates at the same step. The greedy evaluation is the same for all:
jaxrl's loop on jaxrl's Brax adapter.

rejax runs from its own environment with this repository on ``sys.path`` (see
``benchmarks/time_to_solve.py``)::

    /work/peers/venv/bin/python benchmarks/continuous.py --json benchmarks/out/continuous.json

Without rejax importable its rows say "skipped". ``--quick``: 2 seeds, 4,000 steps.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(1, str(Path(__file__).resolve().parent))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import time_to_solve as tts  # noqa: E402

EPISODES = 10
TASKS = {
    "pendulum": (tts.Task("gymnax/Pendulum-v1", -200.0, EPISODES, 200), "pendulum",
                 "pendulum.yaml"),
    "mcc": (tts.Task("gymnax/MountainCarContinuous-v0", 90.0, EPISODES, 999),
            "mountaincar_continuous", "continuous_mountaincar.yaml"),
}

#: rejax (keraJLi/rejax at d751095) configs/gymnax/pendulum.yaml and
#: continuous_mountaincar.yaml (not shipped in its wheel), SAC and TD3.
REJAX = {
    ("pendulum", "sac"): {
        "env": "Pendulum-v1", "agent_kwargs": {"activation": "swish"}, "num_envs": 1,
        "buffer_size": 10_000, "fill_buffer": 256, "batch_size": 256, "learning_rate": 0.01,
        "num_epochs": 1, "total_timesteps": 10_000, "eval_freq": 100, "gamma": 0.99,
        "polyak": 0.98, "target_entropy_ratio": None, "normalize_observations": True},
    ("pendulum", "td3"): {
        "env": "Pendulum-v1", "actor_kwargs": {"activation": "swish"},
        "critic_kwargs": {"activation": "swish"}, "num_envs": 1, "buffer_size": 10_000,
        "fill_buffer": 1000, "batch_size": 100, "learning_rate": 0.001, "num_epochs": 1,
        "total_timesteps": 10_000, "eval_freq": 100, "gamma": 0.99, "polyak": 0.95,
        "max_grad_norm": 100, "exploration_noise": 0.3, "target_noise": 0.2,
        "target_noise_clip": 0.5, "policy_delay": 2, "normalize_observations": True},
    ("mcc", "sac"): {
        "env": "MountainCarContinuous-v0", "agent_kwargs": {"activation": "swish"},
        "num_envs": 32, "buffer_size": 10_000, "fill_buffer": 256, "batch_size": 256,
        "learning_rate": 0.005, "num_epochs": 32, "total_timesteps": 50_000,
        "eval_freq": 5_000, "gamma": 0.99, "polyak": 0.99, "target_entropy_ratio": None},
    ("mcc", "td3"): {
        "env": "MountainCarContinuous-v0", "actor_kwargs": {"activation": "relu"},
        "critic_kwargs": {"activation": "relu"}, "buffer_size": 10_000, "fill_buffer": 1000,
        "batch_size": 100, "learning_rate": 0.002, "total_timesteps": 10_000,
        "eval_freq": 100, "gamma": 0.98, "polyak": 0.995, "max_grad_norm": 10,
        "exploration_noise": 0.2, "target_noise": 0.2, "target_noise_clip": 0.5,
        "policy_delay": 2},
}


#: Two Brax tasks (brax 0.14.2, its default ``generalized`` pipeline in both libraries)
#: cheap enough for this CPU: ``(task, episode length, SAC/TD3 steps, PPO steps)``.
#: InvertedPendulum: the pole held for the whole 1,000-step episode scores 1,000; 950 is
#: Gymnasium's reward threshold for InvertedPendulum. Reacher: 50-step episodes (rejax's
#: ``configs/brax/reacher.yaml`` and Gymnasium's limit); the reward is minus the distance
#: to the target minus the control cost per step: a random policy scores about -43, one
#: that reaches the target and stays about -4 (Gymnasium's threshold -3.75 is a
#: multi-million-step result); -10 here: the arm goes to the target.
BRAX_TASKS = {
    "inverted_pendulum": (tts.Task("brax/inverted_pendulum", 950.0, EPISODES, 1000), 1000,
                          10_000, 100_000),
    "reacher": (tts.Task("brax/reacher", -10.0, EPISODES, 50), 50, 20_000, 200_000),
}


def brax_configs(task: str) -> dict[str, Any]:
    """jaxrl's settings on a Brax task: SAC's and TD3's defaults (the ``pendulum`` presets:
    two 64-unit relu layers, Adam 1e-3, batch 256, tau 0.005, 1,000 random steps, one
    copy, one gradient step per env step) and PPO's ``pendulum`` preset, each with the
    task's budget."""
    from jaxrl.algos import continuous, ppo

    _, _, off_policy, on_policy = BRAX_TASKS[task]
    return {
        "sac": continuous.SACConfig(total_timesteps=off_policy, buffer_size=off_policy),
        "td3": continuous.TD3Config(total_timesteps=off_policy, buffer_size=off_policy),
        "ppo": ppo.PRESETS["pendulum"].config.replace(total_timesteps=on_policy),
    }


def rejax_same(config: Any, algo: str, env: str, episode_length: int) -> dict[str, Any]:
    """jaxrl's SAC or TD3 ``config`` restated in rejax's terms (one learning rate for
    every learner, polyak = 1 - tau, ``fill_buffer`` = ``learning_starts``, ``num_epochs`` =
    gradient steps per env step of every copy, the target entropy -action dims), without
    observation normalisation, on ``env`` with Brax's episode wrapper at ``episode_length``."""
    lrs = {config.actor_lr, config.critic_lr, getattr(config, "alpha_lr", config.actor_lr)}
    if len(lrs) != 1 or config.train_every != 1 or config.max_grad_norm and algo == "sac":
        raise ValueError("rejax has one learning rate, learns every step and does not clip "
                         "SAC's gradients: this setting has no rejax twin")
    if algo == "td3" and tuple(config.hidden) != (64, 64):  # rejax's TD3 fixes its widths
        raise ValueError("rejax's TD3 networks are 64-64: this setting has no rejax twin")
    net = {"activation": config.activation}
    out: dict[str, Any] = {
        "env": env, "env_params": {"episode_length": episode_length},
        "num_envs": config.num_envs, "buffer_size": config.buffer_size,
        "fill_buffer": config.learning_starts, "batch_size": config.batch_size,
        "learning_rate": config.actor_lr, "num_epochs": config.gradient_steps,
        "total_timesteps": config.total_timesteps, "eval_freq": config.total_timesteps,
        "gamma": config.gamma, "polyak": 1.0 - config.tau, "normalize_observations": False,
    }
    if algo == "sac":
        if config.target_entropy_scale != 1.0 or not config.autotune:
            raise ValueError("rejax's SAC tunes alpha towards -action dims: no rejax twin")
        out.update(agent_kwargs=net, hidden_layer_sizes=tuple(config.hidden),
                   target_entropy_ratio=None)
    else:
        out.update(actor_kwargs=net, critic_kwargs=dict(net),
                   max_grad_norm=config.max_grad_norm or 1e9,  # rejax clips each value
                   exploration_noise=config.exploration_noise, target_noise=config.target_noise,
                   target_noise_clip=config.target_noise_clip, policy_delay=config.policy_delay)
    return out


def rejax_contestant(task: str, algo: str, identical: bool = False) -> tts.Contestant:
    """rejax's ``algo`` at its published settings for ``task`` (on a Brax task: jaxrl's
    settings restated, ``rejax_same``); ``identical``: with observation normalisation off,
    as jaxrl's ``rejax`` preset runs."""
    import rejax

    if task in BRAX_TASKS:
        t, length, _, _ = BRAX_TASKS[task]
        settings = rejax_same(brax_configs(task)[algo], algo, t.env, length)
    else:
        settings = json.loads(json.dumps(REJAX[(task, algo)]))  # a deep copy: create pops
    if identical:
        settings["normalize_observations"] = False
    a = {"sac": rejax.SAC, "td3": rejax.TD3}[algo].create(**settings)
    # One train_iteration: num_envs steps (SAC); policy_delay rounds of them (TD3).
    per_update = a.num_envs * (a.policy_delay if algo == "td3" else 1)
    budget = math.ceil(a.total_timesteps / a.eval_freq) * math.ceil(a.eval_freq / per_update)

    def observe(ts: Any, obs: Any) -> Any:
        if getattr(a, "normalize_observations", False):
            obs = a.normalize_obs(ts.obs_rms_state, obs)
        return obs[None]

    if algo == "sac":
        def act(ts: Any, obs: Any) -> Any:  # the greedy action: tanh of the mean, scaled
            def mean_action(m: Any, x: Any) -> Any:
                return m.action_loc + jnp.tanh(m._action_dist(x).loc) * m.action_scale

            return a.actor.apply(ts.actor_ts.params, observe(ts, obs), method=mean_action)[0]
    else:
        def act(ts: Any, obs: Any) -> Any:
            return a.actor.apply(ts.actor_ts.params, observe(ts, obs))[0]

    def update(ts: Any) -> tuple[Any, Any]:
        ts = a.train_iteration(ts)
        return ts, jnp.asarray(ts.global_step, jnp.int32)

    if task in BRAX_TASKS:
        where = f"jaxrl's settings restated ({algo}, observations not normalised)"
    elif identical:
        where = "same settings as jaxrl's rejax preset (observations not normalised)"
    else:
        where = f"rejax configs/gymnax/{TASKS[task][2]} ({algo})"
    return tts.Contestant(
        name=f"rejax-{algo}{'@same' if identical else ''}", init=a.init_state,
        update=update, act=act, steps_per_update=per_update, budget_updates=budget,
        keys=tts._raw_keys, settings=where)


def contestants(task: str) -> list[tuple[str, Any]]:
    """``(name, builder)`` for every contestant of ``task``, in table order."""
    if task in BRAX_TASKS:
        t, length, _, _ = BRAX_TASKS[task]
        configs = brax_configs(task)
        where = {"sac": "SAC's defaults", "td3": "TD3's defaults", "ppo": "PPO's pendulum preset"}
        out = [(f"jaxrl-{a}", lambda a=a: tts.jaxrl_contestant(
            a, configs[a], preset_name="pendulum", env=(t.env, {"max_steps_in_episode": length}),
            settings=f"jaxrl {where[a]}, {configs[a].total_timesteps:,} steps"))
            for a in ("sac", "td3", "ppo")]
        return out + [(f"rejax-{a}", lambda a=a: rejax_contestant(task, a)) for a in ("sac", "td3")]
    preset = TASKS[task][1]
    out: list[tuple[str, Any]] = [
        (f"jaxrl-{a}", lambda a=a: tts.jaxrl_contestant(a, preset_name=preset))
        for a in ("sac", "td3", "ppo")]
    out += [(f"rejax-{a}", lambda a=a: rejax_contestant(task, a)) for a in ("sac", "td3")]
    if task == "pendulum":
        for a in ("sac", "td3"):
            out.append((f"jaxrl-{a}@rejax", lambda a=a: tts.jaxrl_contestant(
                a, preset_name="rejax", label="@rejax")))
            out.append((f"rejax-{a}@same", lambda a=a: rejax_contestant(task, a, True)))
    return out


def row_of(c: tts.Contestant, task: tts.Task, seeds: int, eval_every: int,
           budget_cap: int | None) -> dict[str, Any]:
    row = tts.race(c, seeds, eval_every, jax.devices()[:1], budget_cap, task=task,
                   stop_when_solved=False)
    updating = row["run_s"] - row["eval_s"]
    row["steps_per_s"] = round(row["end_env_steps"] * seeds / updating, 1) if updating > 0 \
        else None
    row["final_returns"] = row["history"][-1]["returns"]
    return row


def add_ratios(rows: list[dict[str, Any]]) -> None:
    """Each jaxrl row's steps/s over rejax's of the same algorithm and settings kind."""
    by_name = {r["contestant"]: r for r in rows if "error" not in r}
    for r in rows:
        name = r["contestant"]
        if not name.startswith("jaxrl-") or "error" in r:
            continue
        algo = name.split("-")[1].split("@")[0]
        peer = by_name.get(f"rejax-{algo}{'@same' if '@rejax' in name else ''}")
        r["speed_vs_rejax"] = round(r["steps_per_s"] / peer["steps_per_s"], 2) \
            if peer and r.get("steps_per_s") and peer.get("steps_per_s") else None


def table(task: tts.Task, rows: list[dict[str, Any]], seeds: int) -> list[str]:
    lines = [
        f"{task.env}: {seeds} seeds on one CPU device; final greedy return per seed "
        f"({task.episodes} episodes of <= {task.cap} steps); time to threshold "
        f"{task.threshold:g} on every seed (compile incl / excl); steps/s excludes compile "
        "and evaluations; x rejax: steps/s over rejax's same algorithm (@rejax: over "
        "rejax@same, identical settings)",
        f"  {'contestant':<16} {'budget':>8} {'solved':>7} {'at steps':>9} {'s incl':>7} "
        f"{'s excl':>7} {'steps/s':>9} {'x rejax':>7}  final greedy return per seed",
    ]

    def num(x: Any, fmt: str) -> str:
        return "-" if x is None else format(x, fmt)

    for r in rows:
        if "error" in r:
            lines.append(f"  {r['contestant']:<16} {r['error']}")
            continue
        finals = " ".join(f"{x:.0f}" for x in r["final_returns"])
        lines.append(
            f"  {r['contestant']:<16} {r['budget_steps']:>8,} "
            f"{r['solved']:>3d}/{r['seeds']:<3d} {num(r['solve_env_steps'], ','):>9} "
            f"{num(r['seconds_incl_compile'], '.1f'):>7} "
            f"{num(r['seconds_excl_compile'], '.1f'):>7} {num(r['steps_per_s'], ',.0f'):>9} "
            f"{num(r.get('speed_vs_rejax'), '.2f'):>7}  {finals}")
    return lines


def main(argv: Sequence[str] | None = None) -> dict[str, list[dict[str, Any]]]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", nargs="+", choices=sorted(TASKS) + sorted(BRAX_TASKS),
                    default=["pendulum"])
    ap.add_argument("--only", nargs="+", default=None, metavar="NAME",
                    help="contestants (jaxrl-sac, rejax-td3@same, ...), libraries or algorithms")
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--eval-every", type=int, default=1_000, metavar="STEPS")
    ap.add_argument("--budget-cap", type=int, default=None, metavar="STEPS")
    ap.add_argument("--quick", action="store_true",
                    help="plumbing check: 2 seeds, budgets capped at 4,000 steps")
    ap.add_argument("--json", default=None, metavar="PATH")
    args = ap.parse_args(argv)
    if args.quick:
        args.seeds, args.budget_cap = 2, args.budget_cap or 4_000
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"jax {jax.__version__}, {os.cpu_count()} cores, load average {load:.1f}; "
          f"{args.seeds} seeds", flush=True)
    out: dict[str, list[dict[str, Any]]] = {}
    for name in args.tasks:
        task = (TASKS if name in TASKS else BRAX_TASKS)[name][0]
        rows: list[dict[str, Any]] = []
        for label, build in contestants(name):
            if args.only and not any(t in (label, *label.replace("@", "-").split("-"))
                                     for t in args.only):
                continue
            try:
                c = build()
            except Exception as e:  # noqa: BLE001 - a peer that does not import is skipped
                if label.startswith("jaxrl"):
                    raise
                rows.append({"contestant": label, "error": f"skipped ({type(e).__name__}: "
                                                           f"{str(e).splitlines()[0][:90]})"})
                continue
            row = row_of(c, task, args.seeds, args.eval_every, args.budget_cap)
            rows.append(row)
            print(f"  ... {name} {label}: {row['solved']}/{args.seeds} at the end, "
                  f"{row['run_s']:.1f} s run, {row['compile_s']:.1f} s compile", flush=True)
        add_ratios(rows)
        print("\n".join(table(task, rows, args.seeds)), flush=True)
        out[name] = rows
    if args.json:
        from jaxrl.output.files import write_bytes

        doc = {"seeds": args.seeds, "eval_every": args.eval_every,
               "budget_cap": args.budget_cap, "jax": jax.__version__,
               "tasks": {n: dict(vars((TASKS if n in TASKS else BRAX_TASKS)[n][0]),
                                 rows=out[n]) for n in out}}
        write_bytes(args.json, json.dumps(doc, indent=1).encode())
    return out


if __name__ == "__main__":
    main()
