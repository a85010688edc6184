"""Every preset that claims a result, trained on 16 seeds nobody tuned it on.

A preset is tuned in the neighbourhood of seed 0; its claim (``Preset.claim``: a metric, a
level, in words) is only a claim if it holds on seeds from elsewhere. This script trains
each claiming preset on ``--seeds`` seeds (default 16) from the base seed 20261207, which
no test, benchmark, preset or document of the project uses for anything else, measures
the claim's metric per seed (greedy episodes on their own evaluation seed, or the training
return at the end) and reports how many seeds reach it, with the interquartile mean and
its 95 % stratified-bootstrap interval (rliable, when installed) beside mean and std.

    python benchmarks/preset_claims.py                       # every claim (about an hour on 2 cores)
    python benchmarks/preset_claims.py --only ppo:cartpole,c51:cartpole
    python benchmarks/preset_claims.py --list                # the claims, nothing trained

Each preset trains in a child process (its memory returned when it ends; a hung or failed
one is a row that says so). Rows are kept in ``benchmarks/preset_claims.json`` (merged by
preset: a rerun of ``--only`` replaces those rows) and the table is written to
``benchmarks/PRESETS.md``. ``tests/jaxrl/test_presets.py`` checks that every claiming
preset has a row measured at this base seed and that its ``Claim.holds`` states the share
the row measured.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for _path in (ROOT, HERE):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import stats  # noqa: E402 - benchmarks/stats.py, beside this script

#: The base seed of this check, used nowhere else in the project.
BASE_SEED = 20261207
#: The seeds per preset.
SEEDS = 16
ROWS = HERE / "preset_claims.json"
TABLE = HERE / "PRESETS.md"
LOG = HERE / "out" / "preset_claims.log.jsonl"


def claims() -> list[tuple[str, str, Any]]:
    """``(algorithm, preset, Preset)`` for every preset with a claim, in registry order."""
    from jaxrl import algos

    out = []
    for name in algos.names():
        for pname, preset in algos.get(name).presets.items():
            if preset.claim is not None:
                out.append((name, pname, preset))
    return out


def run_child(algo: str, preset_name: str, seeds: int, base_seed: int) -> dict[str, Any]:
    """Train one preset and measure its claim (runs in the child process)."""
    from jaxrl.parallel import devices as par

    par.use_cpu_cores()  # before JAX starts: the seeds split over one CPU device per core
    import jax
    import numpy as np

    import jaxrl
    from jaxrl import algos

    preset = algos.get(algo).presets[preset_name]
    claim = preset.claim
    t0 = time.perf_counter()
    result = jaxrl.train(algo, preset=preset_name, seeds=seeds, seed=base_seed)
    t_train = time.perf_counter() - t0
    t1 = time.perf_counter()
    if claim.metric == "final_return":
        values = np.asarray(result.final_return, dtype=float)
    else:
        ev = result.evaluate(episodes=claim.episodes, seed=base_seed, max_steps=claim.max_steps)
        per_seed = np.asarray(ev.win_rate if claim.metric == "greedy_win_rate"
                              else ev.mean_return, dtype=float)
        values = np.full(seeds, np.nan)  # seeds that cannot act (non-finite) reach nothing
        values[np.asarray(result.acting_seeds)] = per_seed
    t_eval = time.perf_counter() - t1
    reached = [bool(claim.reached(v)) for v in values]
    return {
        "algorithm": algo, "preset": preset_name, "env": preset.env,
        "metric": claim.metric, "threshold": claim.threshold, "claim": claim.text,
        "seeds": seeds, "base_seed": base_seed, "values": [float(v) for v in values],
        "reached": int(sum(reached)), "env_steps_per_seed": int(np.max(result.steps_per_seed)),
        "compile_s": round(float(result.compile_seconds), 1),
        "train_s": round(t_train, 1), "eval_s": round(t_eval, 1),
        "jax": jax.__version__, "devices": jax.device_count(),
        "measured": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def load_rows(path: Path = ROWS) -> dict[str, dict[str, Any]]:
    """The recorded rows, keyed ``"algorithm:preset"`` (empty when none are recorded)."""
    if not path.exists():
        return {}
    return {f"{r['algorithm']}:{r['preset']}": r for r in json.loads(path.read_text())}


def share(row: dict[str, Any]) -> str:
    """``"k/n"``: the seeds of a row that reached its claim."""
    return f"{row['reached']}/{row['seeds']}"


def _fmt(v: float) -> str:
    return f"{v:.3g}" if abs(v) < 10 else f"{v:.1f}"


def table(rows: dict[str, dict[str, Any]]) -> str:
    """The markdown table of the recorded rows, in registry order."""
    import numpy as np

    lines = [
        "| preset | environment | claim | seeds reaching it | per seed: mean ± std (min, max) "
        "| IQM [95 % CI] | env steps per seed | s (compile / train / eval) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    now = {f"{a}:{p}": preset for a, p, preset in claims()}
    for key in list(now) + sorted(set(rows) - set(now)):
        r = rows.get(key)
        if r is None:
            continue
        env = now[key].env if key in now else r.get("env", "")
        text = now[key].claim.text if key in now else r.get("claim", "")  # as it reads now
        if "error" in r:
            lines.append(f"| `{key}` | {env} | {text} | not measured: {r['error']} "
                         f"| | | | |")
            continue
        x = np.asarray(r["values"], dtype=float)
        ok = np.isfinite(x)
        spread = (f"{_fmt(x[ok].mean())} ± {_fmt(x[ok].std())} ({_fmt(x[ok].min())}, "
                  f"{_fmt(x[ok].max())})") if ok.any() else "no finite value"
        if (~ok).any():
            spread += f"; {int((~ok).sum())} non-finite"
        iqm = stats.iqm(r["values"])
        iqm_s = f"{_fmt(iqm[0])} [{_fmt(iqm[1])}, {_fmt(iqm[2])}]" if iqm else "-"
        mark = "" if r["reached"] == r["seeds"] else " **(not all)**"
        lines.append(
            f"| `{key}` | {env} | {text} | {share(r)}{mark} | {spread} | {iqm_s} | "
            f"{r['env_steps_per_seed']:,} | {r['compile_s']} / {r['train_s']} / {r['eval_s']} |")
    return "\n".join(lines)


def write_report(rows: dict[str, dict[str, Any]], wall: float | None = None) -> None:
    import platform

    head = [
        "# Preset claims on unseen seeds",
        "",
        f"Generated by `python benchmarks/preset_claims.py`; do not edit by hand. Every preset "
        f"with a claim (`Preset.claim`) trained on {SEEDS} seeds from base seed {BASE_SEED} "
        "(used nowhere else in the project), its claim measured per seed. A claim that does "
        "not hold on every seed states the measured share in its `Claim.holds` "
        "(`jaxrl list ALGO` shows it). IQM: interquartile mean over seeds with its 95 % "
        "stratified-bootstrap interval (rliable, 2,000 resamples).",
        "",
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
        "seeds split over one CPU device per core; other jobs were running, so the seconds "
        "are only indicative." + (f" Wall time of the last invocation: {wall / 60:.1f} min."
                                  if wall else ""),
        "",
    ]
    TABLE.write_text("\n".join(head) + "\n" + table(rows) + "\n")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=SEEDS)
    p.add_argument("--base-seed", type=int, default=BASE_SEED)
    p.add_argument("--only", default="", help="comma-separated ALGO:PRESET (default: every claim)")
    p.add_argument("--skip-done", action="store_true",
                   help="skip presets that already have a row at these seeds")
    p.add_argument("--list", action="store_true", help="list the claims and exit")
    p.add_argument("--timeout", type=float, default=3600, help="seconds per preset")
    p.add_argument("--child", default="", help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if args.child:
        algo, name = args.child.split(":")
        print("ROW " + json.dumps(run_child(algo, name, args.seeds, args.base_seed)), flush=True)
        return 0

    todo = claims()
    if args.list:
        for algo, name, preset in todo:
            print(f"{algo}:{name:24s} {preset.env:24s} {preset.claim.text}")
        return 0
    if args.only:
        wanted = set(args.only.split(","))
        unknown = wanted - {f"{a}:{n}" for a, n, _ in todo}
        if unknown:
            print(f"preset_claims: no claim named {', '.join(sorted(unknown))} (--list)",
                  file=sys.stderr)
            return 2
        order = args.only.split(",")  # in the order given
        todo = sorted((t for t in todo if f"{t[0]}:{t[1]}" in wanted),
                      key=lambda t: order.index(f"{t[0]}:{t[1]}"))
    rows = load_rows()
    start = time.perf_counter()
    for algo, name, _ in todo:
        key = f"{algo}:{name}"
        old = load_rows().get(key)
        if (args.skip_done and old and "error" not in old and old["seeds"] == args.seeds
                and old["base_seed"] == args.base_seed):
            continue
        print(f"== {key}: training {args.seeds} seeds ...", flush=True)
        t0 = time.perf_counter()
        try:
            proc = subprocess.run(
                [sys.executable, __file__, "--child", key, "--seeds", str(args.seeds),
                 "--base-seed", str(args.base_seed)],
                capture_output=True, text=True, timeout=args.timeout, cwd=ROOT)
            found = [ln for ln in proc.stdout.splitlines() if ln.startswith("ROW ")]
            if proc.returncode or not found:
                tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
                row = {"algorithm": algo, "preset": name, "error": tail[:200]}
            else:
                row = json.loads(found[-1][4:])
        except subprocess.TimeoutExpired:
            row = {"algorithm": algo, "preset": name, "error": f"timed out after {args.timeout:.0f} s"}
        rows = load_rows()  # another invocation may have added rows meanwhile
        rows[key] = row
        ROWS.write_text(json.dumps(list(rows.values()), indent=1) + "\n")
        LOG.parent.mkdir(exist_ok=True)
        with LOG.open("a") as f:  # every measurement, also the replaced ones
            f.write(json.dumps(row) + "\n")
        if "error" in row:
            print(f"   failed: {row['error']}", flush=True)
        else:
            print(f"   {share(row)} reach it: {[round(v, 3) for v in row['values']]} "
                  f"({time.perf_counter() - t0:.0f} s)", flush=True)
    rows = load_rows()
    write_report(rows, time.perf_counter() - start)
    print(table(rows))
    print(f"wrote {ROWS.relative_to(ROOT)} and {TABLE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
