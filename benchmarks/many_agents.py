"""Many agents in one program: the chapter-9 results beside the source's, a battle of
mean-field Q against independent Q, and agent-steps per second from 20 to 10,000 agents.

1. Ising (8 seeds in one program per row): each seed trains, then plays 16 fresh
   random worlds for 200 steps with its greedy policy; printed: the aligned share
   (1-D: neighbouring pairs; 2-D: spins with the majority), its worst seed, and the
   share of worlds that align completely. Rows for the default reward (the new
   configuration's local energy) and the book's timing (``reward_after_move=False``).
2. Battle (``Battle-v0``, 20x20, 20 a side, neighbours in view): mean-field Q and
   independent Q are each trained by self-play (preset ``battle-self``: one network
   plays both colours, every soldier's transitions train it), 8 seeds in one program
   per algorithm, with the network kept after each training length
   (``--battle-steps``). Then ``marl.head_to_head``: seed i's mfq against seed i's iql,
   ``--battles`` fresh battles with mfq red and as many with it blue, both sampling
   their Boltzmann policies (tau 0.1), and again greedy; a battle ends when a side is
   wiped out or at the 150-step cap (then more soldiers alive, then more health wins;
   a tie is a draw). Printed: mfq's wins, draws, losses (overall, as red / as blue,
   per seed), the mean length, soldiers killed / lost per battle. A row "all pairings"
   (Boltzmann only) plays every mfq seed against every iql seed (half the battles per
   pairing; a seed's number is its mean over the 8 opponents), since one pair of networks
   tends to settle most of its battles the same way. The control row puts iql against
   the next seed's iql (a fair measurement gives about 50 %, give or take that spread).
   ``--cotrained`` adds the earlier measurement (red mfq and blue iql trained against
   each other in one program), kept for comparison: there each side is fitted to one
   particular opponent that moves under it, so the outcome depends on the state of
   that pair's chase when training stops, not on the algorithms.
3. Throughput on ``Ising2D-v0`` as the torus grows (20, 100, 1,000, 10,000 agents):
   environment alone (random actions) and mean-field Q training, on one device and
   on every device (``jaxrl.parallel.devices.over_seeds``, 2 seeds); compile time apart, clocks
   stopped after ``block_until_ready``.

Usage: ``python benchmarks/many_agents.py [--quick] [--skip-ising] [--skip-battle]
[--skip-throughput] [--battle-steps 30000,60000,150000] [--battles 100] [--no-greedy]
[--cotrained] [--seeds 8] [--json PATH]``. Prints markdown tables; no asserts.
``--quick`` (the pipeline only, about 90 s on an idle 2-core CPU): 2 seeds, the nq 1-D
and mfq 2-D rows at half budget, a 10x10 battle with 5 a side trained 2,048 steps,
20 battles per colour, no throughput sweep. ``--json PATH`` writes one row per
Ising run, battle pairing x length x policy, and throughput size.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time

from jaxrl.parallel import devices as parallel

parallel.use_cpu_cores()

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl import envs
from jaxrl.algos import get, marl

ISING_ROWS = [
    # (algorithm, env, total world steps, env options, the source's result)
    ("nq", "Ising1D-v0", 48_000, {}, "two aligned domains (90 % of pairs)"),
    ("iql", "Ising1D-v0", 48_000, {}, ""),
    ("nq", "Ising1D-v0", 96_000, {"reward_after_move": False}, "two aligned domains"),
    ("iql", "Ising1D-v0", 96_000, {"reward_after_move": False}, ""),
    ("mfq", "Ising2D-v0", 32_000, {}, "all but 3 of 100 spins aligned (97 %)"),
    ("iql", "Ising2D-v0", 32_000, {}, ""),
    ("mfq", "Ising2D-v0", 64_000, {"reward_after_move": False}, "97 %"),
]


def table(headers: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def timed(fn, *args):
    t0 = time.perf_counter()
    compiled = fn.lower(*args).compile()
    t1 = time.perf_counter()
    out = jax.block_until_ready(compiled(*args))
    return out, t1 - t0, time.perf_counter() - t1


def ising(seeds: int, quick: bool) -> tuple[str, list[dict]]:
    rows, out = [], []
    chosen = [ISING_ROWS[0], ISING_ROWS[4]] if quick else ISING_ROWS
    for algo, name, total, options, source in chosen:
        if quick:
            total //= 2
        env, params = envs.make(name, **options)
        agent = marl.make(get(algo).config(total_timesteps=total, hidden=(32,)), env, params)

        def one(key, agent=agent, env=env, params=params):
            k_train, k_eval = jax.random.split(key)
            state, _ = agent.train(k_train)
            _, last = marl.spins_after(agent, state, env, params, k_eval, 200, 16, True)
            return jax.vmap(env.aligned_fraction)(last)

        keys = jax.random.split(jax.random.key(0), seeds)
        aligned, comp, run = timed(parallel.over_seeds(one), keys)
        aligned = np.asarray(aligned)
        per_seed = aligned.mean(axis=1)
        timing = "book's (before the move)" if options.get("reward_after_move") is False \
            else "default (after the move)"
        rows.append([f"{algo} {name}", timing, f"{total:,}", f"{per_seed.mean():.3f}",
                     f"{per_seed.min():.3f}", f"{np.mean(aligned == 1.0):.0%}",
                     f"{comp:.0f} + {run:.0f}", source])
        print(rows[-1], flush=True)
        what = "neighbouring pairs aligned" if name == "Ising1D-v0" else "spins with the majority"
        out.append({
            "name": f"{algo}-{name.split('-')[0].lower()}"
                    + ("-book-timing" if options.get("reward_after_move") is False else ""),
            "what": f"{algo} on {name}: share of {what}",
            "setting": f"{total:,} world steps per seed, reward {timing}; 16 fresh worlds "
                       f"played 200 greedy steps; worlds fully aligned "
                       f"{np.mean(aligned == 1.0):.0%}; source: {source or '-'}",
            "number": f"{spread(per_seed, 100)} %",
            "seeds": seeds, "compile_s": round(comp, 1), "run_s": round(run, 1), "plot": None})
    return table(["run", "reward timing", "world steps/seed", "aligned (mean of seeds)",
                  "worst seed", "worlds fully aligned", "compile + run s", "source"], rows), out


def spread(x: np.ndarray, scale: float = 1.0, digits: int = 1) -> str:
    """``mean ± std (min a, max b)`` over seeds."""
    x = np.asarray(x, np.float64) * scale
    f = f"{{:.{digits}f}}"
    return (f"{f.format(x.mean())} ± {f.format(x.std())} (min {f.format(x.min())}, "
            f"max {f.format(x.max())})")


def self_play(algo: str, env, params, seeds: int, lengths: list[int]):
    """``algo`` trained by self-play (preset ``battle-self``), 8 seeds in one program;
    its network after each of ``lengths`` world steps, stacked ``[len(lengths), seeds]``."""
    cfg = marl.PRESETS_BY_ALGORITHM[algo]["battle-self"].config
    cfg = dataclasses.replace(cfg, total_timesteps=max(lengths))
    agent = marl.make(cfg, env, params)
    marks = [n // cfg.batch_size for n in lengths]

    def one(key):
        state, done, snaps, wins = agent.init(key), 0, [], []
        for mark in marks:
            state, m = agent.run(state, mark - done)
            snaps.append(state.params["team0"])
            wins.append(jnp.nanmean(m["win_rate"][-20:]))
            done = mark
        return jax.tree.map(lambda *x: jnp.stack(x), *snaps), jnp.stack(wins)

    (snaps, wins), comp, run = timed(parallel.over_seeds(one),
                                     jax.random.split(jax.random.key(0), seeds))
    snaps = jax.tree.map(lambda x: jnp.swapaxes(x, 0, 1), snaps)  # [lengths, seeds, ...]
    return cfg, snaps, np.asarray(wins).T, comp, run


def battle(seeds: int, lengths: list[int], battles: int, small: bool,
           greedy_too: bool) -> tuple[str, list[dict]]:
    """Self-play training of ``mfq`` and ``iql``, then head to head (both colours)."""
    options = {"size": 10, "agents_per_team": 5, "max_steps_in_episode": 60} if small else {}
    env, params = envs.make("Battle-v0", neighbourhood="view", **options)
    trained = {a: self_play(a, env, params, seeds, lengths) for a in ("mfq", "iql")}
    for a, (_, _, wins, comp, run) in trained.items():
        print(f"{a} self-play: compile {comp:.0f} s + run {run:.0f} s; red's training win "
              f"rate (last 20 updates) per length {np.round(np.nanmean(wins, 1), 2)}",
              flush=True)

    def match(greedy, a, b, count=battles):
        def play(pa, pb, key):
            return marl.head_to_head((trained[a][0], pa), (trained[b][0], pb), env,
                                     params, key, count, greedy)
        return jax.jit(jax.vmap(play))

    def every_pairing(tree, outer):  # [S, ...] -> [S * S, ...]: i-major (outer) or j-major
        return jax.tree.map(lambda x: jnp.repeat(x, seeds, axis=0) if outer
                            else jnp.tile(x, (seeds,) + (1,) * (x.ndim - 1)), tree)

    def select(tree, li):
        return jax.tree.map(lambda x: x[li], tree)

    rows, out = [], []
    setting = (f"{'10x10, 5 a side, 60 steps' if small else '20x20, 20 a side, 150 steps'}, "
               f"each trained by self-play (preset battle-self), seed i against seed i, "
               f"{battles} battles per colour")
    for greedy in ((False, True) if greedy_too else (False,)):
        fns = {"mfq-vs-iql": match(greedy, "mfq", "iql"),
               "iql-vs-iql-control": match(greedy, "iql", "iql")}
        if not greedy:  # every mfq seed against every iql seed, half the battles each
            fns["mfq-vs-iql-all"] = match(greedy, "mfq", "iql", max(battles // 2, 1))
        policy = "greedy" if greedy else "Boltzmann tau 0.1"
        for li, n in enumerate(lengths):
            mfq_l, iql_l = select(trained["mfq"][1], li), select(trained["iql"][1], li)
            pairs = [("mfq-vs-iql", "mfq vs iql", mfq_l, iql_l),
                     # the control: iql against the next seed's iql (fair: about 50 %)
                     ("iql-vs-iql-control", "iql vs iql (next seed)", iql_l,
                      jax.tree.map(lambda x: jnp.roll(x, 1, axis=0), iql_l))]
            if not greedy:
                pairs.append(("mfq-vs-iql-all", f"mfq vs iql (all {seeds}x{seeds} pairings)",
                              every_pairing(mfq_l, True), every_pairing(iql_l, False)))
            for name, label, pa_l, pb_l in pairs:
                keys = jax.random.split(jax.random.key(10 + li),
                                        jax.tree.leaves(pa_l)[0].shape[0])
                if not isinstance(fns[name], tuple):  # compile once per pairing and policy
                    t0 = time.perf_counter()
                    fns[name] = (fns[name].lower(pa_l, pb_l, keys).compile(),
                                 time.perf_counter() - t0)
                t0 = time.perf_counter()
                r = jax.block_until_ready(fns[name][0](pa_l, pb_l, keys))
                secs = time.perf_counter() - t0
                r = {k: np.asarray(v) for k, v in r.items()}  # [pairings, 2 colours]
                if name == "mfq-vs-iql-all":  # mfq seed i: its mean over the iql seeds
                    r = {k: v.reshape(seeds, seeds, 2).mean(axis=1) for k, v in r.items()}
                win, draw, loss = (r[k].mean(axis=1) for k in ("wins", "draws", "losses"))
                rows.append([label, f"{n:,}", policy, f"{win.mean():.1%}", f"{draw.mean():.1%}",
                             f"{loss.mean():.1%}", (f"{r['wins'][:, 0].mean():.1%} / "
                             f"{r['wins'][:, 1].mean():.1%}"),
                             " ".join(f"{x:.2f}" for x in win),
                             f"{r['length'].mean():.0f}",
                             f"{r['killed'].mean():.1f} / {r['lost'].mean():.1f}",
                             f"{secs:.0f}"])
                print(rows[-1], flush=True)
                out.append({
                    "name": f"{name}-{n // 1000}k" + ("-greedy" if greedy else ""),
                    "what": f"Battle-v0: {label} ({policy}), win share of the first",
                    "setting": f"{n:,} world steps per seed; " + (setting if name !=
                               "mfq-vs-iql-all" else setting.replace(
                                   "seed i against seed i", "every seed against every seed")
                               .replace(f"{battles} battles", f"{max(battles // 2, 1)} battles")),
                    "number": f"{spread(win, 100)} % wins; draws {draw.mean():.1%}, "
                              f"losses {loss.mean():.1%}",
                    "seeds": seeds, "compile_s": round(fns[name][1], 1),
                    "run_s": round(secs, 1), "plot": None})
    header = ["battle", "world steps/seed", "policy", "first wins", "draws", "first loses",
              "first wins as red / as blue", "first's win share per seed",
              "mean length", "killed / lost per battle", "s"]
    return table(header, rows), out


def cotrained(seeds: int, steps: int) -> str:
    """The old measurement (kept for comparison): red and blue trained against each other
    in one program, then their 100 battles. Unsound as a comparison: see the docstring."""
    env, params = envs.make("Battle-v0", neighbourhood="view")
    rows = []
    for algo, opponent in (("mfq", "iql"), ("iql", "iql")):
        base = marl.PRESETS_BY_ALGORITHM[algo]["battle"].config
        cfg = dataclasses.replace(base, opponent=opponent, total_timesteps=steps)
        agent = marl.make(cfg, env, params)

        def one(key, agent=agent):
            k_train, k_eval = jax.random.split(key)
            state, m = agent.train(k_train)
            r = marl.battle_results(agent, state, env, params, k_eval, 100, greedy=False)
            return r, m["win_rate"][-20:]

        (res, train_wins), comp, run = timed(parallel.over_seeds(one),
                                             jax.random.split(jax.random.key(0), seeds))
        red = np.asarray(res["red_wins"])
        rows.append([f"red {algo} vs blue {opponent}", f"{steps:,}",
                     f"{red.mean():.1%}", " ".join(f"{x:.2f}" for x in red),
                     f"{np.asarray(res['blue_wins']).mean():.1%}",
                     f"{np.asarray(res['draws']).mean():.1%}",
                     f"{float(np.nanmean(train_wins)):.1%}",
                     f"{np.asarray(res['length']).mean():.0f}", f"{comp:.0f} + {run:.0f}"])
        print(rows[-1], flush=True)
    return table(["battle (co-trained)", "world steps/seed", "red wins (mean of seeds)",
                  "per seed", "blue wins", "draws", "red wins, last 20 training updates",
                  "mean length", "compile + run s"], rows)


def throughput(quick: bool) -> tuple[str, list[dict]]:
    sizes = [(4, 5), (10, 10)] if quick else [(4, 5), (10, 10), (25, 40), (100, 100)]
    rows, out = [], []
    devices = jax.local_devices()
    for h, w in sizes:
        env, params = envs.make("Ising2D-v0", height=h, width=w)
        n, worlds = h * w, 8
        steps = max(50, 2_000_000 // (worlds * n))  # at least 2M agent-steps per clock

        def roll(key, env=env, params=params, n=n, worlds=worlds, steps=steps):
            k0, k1 = jax.random.split(key)
            _, s = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(k0, worlds), params)

            def body(s, k):
                ka, ks = jax.random.split(k)
                a = jax.random.randint(ka, (worlds, n), 0, 2)
                _, s, r, *_ = jax.vmap(env.step, in_axes=(0, 0, 0, None))(
                    jax.random.split(ks, worlds), s, a, params)
                return s, jnp.mean(r)

            return jax.lax.scan(body, s, jax.random.split(k1, steps))[1]

        _, env_comp, env_run = timed(jax.jit(roll), jax.random.key(0))
        env_sps = worlds * steps * n / env_run

        updates = max(5, 4_000_000 // (2 * worlds * 10 * n))  # >= 4M agent-steps, 2 seeds
        cfg = marl.MFQConfig(num_envs=worlds, num_steps=10,
                             total_timesteps=worlds * 10 * updates, hidden=(32,))
        agent = marl.make(cfg, env, params)
        keys = jax.random.split(jax.random.key(1), 2)
        out_ = []
        for devs in ([devices[0]], devices):
            _, comp, run = timed(parallel.over_seeds(agent.train, devices=devs), keys)
            out_.append((comp, 2 * cfg.total_timesteps * n / run))
        rows.append([f"{n:,} ({h}x{w})", f"{env_sps:,.0f}", f"{env_comp:.1f}",
                     f"{out_[0][1]:,.0f}", f"{out_[1][1]:,.0f} ({len(devices)} devices)",
                     f"{out_[0][0]:.1f} / {out_[1][0]:.1f}"])
        print(rows[-1], flush=True)
        out.append({
            "name": f"mfq-throughput-{n}", "what": f"mfq training on Ising2D-v0, {n:,} agents",
            "setting": f"2 seeds x 8 worlds, {cfg.total_timesteps:,} world steps per seed; "
                       f"env alone {env_sps:,.0f} agent-steps/s; {len(devices)} devices: "
                       f"{out_[1][1]:,.0f}",
            "number": f"{out_[0][1]:,.0f} agent-steps/s on one device",
            "seeds": 2, "compile_s": round(out_[0][0], 1), "run_s": None, "plot": None})
    return table(["agents", "env only: agent-steps/s (8 worlds)", "env compile s",
                  "mfq training: agent-steps/s, 1 device (2 seeds x 8 worlds)",
                  "mfq training, all devices", "training compile s (1 / all)"], rows), out


def write_json(path: str, rows: list[dict]) -> None:
    """``rows`` as a JSON list, written atomically (``PATH.tmp``, then renamed)."""
    from jaxrl.runs.checkpoint import atomic_write

    atomic_write(path, json.dumps(rows, indent=1).encode())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="the pipeline only: 2 seeds, two Ising rows at half budget, a "
                             "small battle, no throughput sweep")
    parser.add_argument("--skip-ising", action="store_true")
    parser.add_argument("--skip-battle", action="store_true")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--battle-steps", default=None,
                        help="comma-separated training lengths, world steps per seed "
                             "(30000,60000,150000; quick 2048)")
    parser.add_argument("--battles", type=int, default=None,
                        help="head-to-head battles per colour per seed (100; quick 20)")
    parser.add_argument("--no-greedy", action="store_true",
                        help="battle: skip the greedy head-to-head (Boltzmann only)")
    parser.add_argument("--cotrained", action="store_true",
                        help="also the old co-trained battle rows (red and blue trained "
                             "against each other)")
    parser.add_argument("--seeds", type=int, default=None, help="seeds (8; quick 2)")
    parser.add_argument("--json", default=None, metavar="PATH", help="write the rows as JSON")
    args = parser.parse_args()
    seeds = args.seeds or (2 if args.quick else 8)
    lengths = [int(x) for x in (args.battle_steps
                                or ("2048" if args.quick else "30000,60000,150000")).split(",")]
    battles = args.battles or (20 if args.quick else 100)
    print(f"devices: {jax.local_devices()}")
    out, rows = [], []
    if not args.skip_ising:
        text, r = ising(seeds, args.quick)
        out.append(text)
        rows += r
    if not args.skip_battle:
        text, r = battle(seeds, lengths, battles, small=args.quick,
                         greedy_too=not (args.quick or args.no_greedy))
        out.append(text)
        rows += r
        if args.cotrained:
            out.append(cotrained(seeds, lengths[0]))
    if not (args.skip_throughput or args.quick):
        text, r = throughput(args.quick)
        out.append(text)
        rows += r
    print("\n\n".join(out))
    if args.json:
        write_json(args.json, rows)
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
