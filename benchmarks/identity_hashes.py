"""Identity hashes: a short fixed-seed run of every algorithm and preset, hashed.

Meant to prove that a refactoring (modules moved, nothing meant to change numerically)
gives bit-identical training: for every algorithm in ``jaxrl.algos.names()`` and every
preset it offers (plus ``default``: no preset, the algorithm's own defaults and
environment), train 2 seeds from a fixed seed for a handful of updates, then hash

* ``params``:  every leaf of ``Result.params`` (the learned parameters),
* ``state``:   every leaf of ``Result.state`` (params, optimiser, env state, buffers, keys),
* ``metrics``: every array of ``Result.metrics`` (sorted by name),

each leaf as ``dtype``, ``shape`` and raw bytes, in tree order (sha256).

The budget is the preset's own config with only its length cut (``budget``): UPDATES
updates (es/ga: GENERATIONS generations; the contextual bandit: BANDIT_PULLS pulls);
the DQN family keeps at most WARMUP updates of ``learning_starts`` warm-up before them.
A preset whose config, environment and options equal an earlier row's (``default`` and
``book``, say) is not run twice: its row is copied and says ``= <that row>`` (``--all``
runs it anyway). A run that fails for want of an optional package is a ``SKIPPED`` row.

Only the public API is used (``jaxrl.train``, ``Result``, ``jaxrl.algos.names/get`` and
the presets table), so the same script runs on the code before and after a move.

Usage::

    python benchmarks/identity_hashes.py --json before.json          # record
    python benchmarks/identity_hashes.py --compare before.json        # check (exit 1 on a change)
    python benchmarks/identity_hashes.py --only dqn --only ppo

To record from another checkout, put it first on the path and check the header line
(``jaxrl from ...``): ``cd /tmp && PYTHONPATH=/path/to/checkout python .../identity_hashes.py``.
Every ``jaxrl`` / ``envs`` module loaded is checked to come from that same place.

Exit status: 0 all fine; 1 a hash differs from ``--compare`` (or a row is missing / new
errors); 2 a run failed with an error (not a skip for a missing optional package).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import math
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

SEED = 20240607
SEEDS = 2
# Updates of real learning per run (on top of any warm-up an algorithm needs, e.g. DQN's
# learning_starts): enough to move every parameter, small enough to take seconds.
UPDATES = 3
GENERATIONS = 2  # es / ga: one update per generation
BANDIT_PULLS = 8  # contextual bandit: one pull per copy per update
# DQN family: at most this many updates of warm-up before learning starts (a preset's
# learning_starts above WARMUP * num_envs env steps is lowered to that).
WARMUP = 2

# Substrings of an error that mean "an optional package is not installed" (a skip).
MISSING_PACKAGE = ("no module named", "not installed", "pip install", "requires the optional",
                   "install jaxrl[", "install the")


# ------------------------------------------------------------------------------ discovery
def algorithm_record(name: str) -> Any:
    import jaxrl.algos as algos

    return algos.get(name)


def presets_of(record: Any) -> dict[str, Any]:
    """``{name: preset}`` from a registry record (``.presets``) or a module (``.PRESETS``)."""
    for attr in ("presets", "PRESETS"):
        table = getattr(record, attr, None)
        if callable(table) and not isinstance(table, dict):
            try:
                table = table()
            except TypeError:
                table = None
        if table is not None:
            return dict(table)
    return {}


def config_class(record: Any) -> Any:
    for attr in ("Config", "config_class", "config_cls", "config_type", "config"):
        c = getattr(record, attr, None)
        if isinstance(c, type) and dataclasses.is_dataclass(c):
            return c
    return None


def default_env_of(record: Any) -> str | None:
    for attr in ("DEFAULT_ENV", "default_env", "env"):
        e = getattr(record, attr, None)
        if isinstance(e, str):
            return e
    return None


def preset_config(p: Any) -> Any:
    """A preset's config (a ``Preset``, or a bare config as the presets table allows)."""
    return getattr(p, "config", p)


# ------------------------------------------------------------------------------ budgets
def _field(cfg: Any, name: str) -> Any:
    return getattr(cfg, name) if cfg is not None and hasattr(cfg, name) else None


def _env_limit(env: str | None, options: dict[str, Any]) -> int | None:
    """The episode cap of ``env`` (for a Monte Carlo rollout length), if it has one."""
    if env is None:
        return None
    try:
        _, params = envs_package().make(env, **dict(options or {}))
        return int(params.max_steps_in_episode)
    except Exception:  # noqa: BLE001 - only a hint for the budget
        return None


def budget(cfg: Any, env: str | None, options: dict[str, Any]) -> dict[str, Any]:
    """Config overrides that make a run of ``cfg`` a few updates long (its budget field only).

    The step budget is ``total_timesteps`` today; before the renames the DQN family called
    it ``total_env_steps`` and the contextual bandit ``total_steps``: whichever the config
    has is set (the families are told apart by fields only they have).
    """
    if cfg is None:
        return {}
    if _field(cfg, "generations") is not None:  # es, ga
        return {"generations": GENERATIONS}
    num_envs = int(_field(cfg, "num_envs") or 1)
    if _field(cfg, "num_episodes") is not None:  # reinforce: episodes per update = num_envs
        return {"num_episodes": UPDATES * num_envs}
    steps = next((n for n in ("total_timesteps", "total_env_steps", "total_steps")
                  if _field(cfg, n) is not None), None)
    if steps is None:
        return {}
    if _field(cfg, "learning_starts") is not None:  # dqn family: warm up, then learn
        out: dict[str, Any] = {}
        starts = int(_field(cfg, "learning_starts") or 0)
        if starts > WARMUP * num_envs:  # thousands of steps of warm-up: cut to WARMUP updates
            starts = out["learning_starts"] = WARMUP * num_envs
        every = int(_field(cfg, "train_every") or 1)
        warm = math.ceil(max(starts, 1) / num_envs)
        out[steps] = num_envs * (warm + UPDATES * every)
        return out
    if _field(cfg, "num_steps") is None:  # contextual bandit: one pull per copy per update
        return {steps: BANDIT_PULLS * num_envs}
    # tabular, a2c, ppo, marl
    rollout = _field(cfg, "num_steps") or 1
    if _field(cfg, "mode") == "monte_carlo":  # a2c: one episode cap per update
        rollout = _field(cfg, "mc_rollout_steps") or _env_limit(env, options) or rollout
    return {steps: UPDATES * num_envs * int(rollout)}


# ------------------------------------------------------------------------------ hashing
def _leaf_bytes(leaf: Any) -> tuple[str, tuple[int, ...], bytes]:
    import jax

    dtype = getattr(leaf, "dtype", None)
    if dtype is not None and jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key):
        impl = str(jax.random.key_impl(leaf))
        arr = np.asarray(jax.random.key_data(leaf))
        return f"key<{impl}>:{arr.dtype.str}", arr.shape, np.ascontiguousarray(arr).tobytes()
    arr = np.asarray(leaf)
    if arr.dtype == object:
        return "object", arr.shape, repr(arr.tolist()).encode()
    return arr.dtype.str, arr.shape, np.ascontiguousarray(arr).tobytes()


def tree_hash(tree: Any) -> tuple[str, int]:
    """sha256 over every leaf (dtype, shape, bytes) in tree order; and the leaf count."""
    import jax

    h = hashlib.sha256()
    leaves = jax.tree_util.tree_leaves(tree)
    for leaf in leaves:
        dtype, shape, data = _leaf_bytes(leaf)
        h.update(f"{dtype}|{shape}|{len(data)}|".encode())
        h.update(data)
    return h.hexdigest(), len(leaves)


def metrics_hash(metrics: dict[str, Any]) -> str:
    h = hashlib.sha256()
    for name in sorted(metrics):
        dtype, shape, data = _leaf_bytes(metrics[name])
        h.update(f"{name}|{dtype}|{shape}|{len(data)}|".encode())
        h.update(data)
    return h.hexdigest()


def config_hash(result: Any) -> str:
    cfg = getattr(getattr(result, "spec", None), "config", None)
    text = json.dumps(cfg, sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()


# ------------------------------------------------------------------------------ one run
def is_missing_package(e: BaseException) -> bool:
    if isinstance(e, ImportError):
        return True
    text = str(e).lower()
    return any(s in text for s in MISSING_PACKAGE)


def run_one(algorithm: str, preset: str | None, cfg: Any, env: str | None,
            options: dict[str, Any]) -> dict[str, Any]:
    import jaxrl

    row: dict[str, Any] = {"algorithm": algorithm, "preset": preset or "default"}
    overrides = budget(cfg, env, options)
    row["overrides"] = overrides
    if not overrides:  # never a full-length run by accident
        row.update(status="error", seconds=0.0,
                   reason="no budget field found in the config (cannot keep the run short)")
        return row
    t0 = time.perf_counter()
    try:
        result = jaxrl.train(algorithm, preset=preset, seeds=SEEDS, seed=SEED,
                             progress=False, **overrides)
    except Exception as e:  # noqa: BLE001 - a row says what went wrong
        row["seconds"] = time.perf_counter() - t0
        first = (str(e).splitlines() or [repr(e)])[0][:160]
        if is_missing_package(e):
            row["status"] = "skipped"
            row["reason"] = f"optional package missing: {first}"
        else:
            row["status"] = "error"
            row["reason"] = f"{type(e).__name__}: {first}"
        return row
    row["seconds"] = time.perf_counter() - t0
    row["compile_seconds"] = float(getattr(result, "compile_seconds", float("nan")))
    row["run_seconds"] = float(getattr(result, "run_seconds", float("nan")))
    row["status"] = "ok"
    row["env"] = getattr(result, "env_name", None) or getattr(result.spec, "env", None)
    row["updates"] = int(getattr(result, "updates_done", -1))
    row["params_sha256"], row["params_leaves"] = tree_hash(result.params)
    row["state_sha256"], row["state_leaves"] = tree_hash(result.state)
    row["metrics_sha256"] = metrics_hash(result.metrics)
    row["metric_names"] = sorted(result.metrics)
    row["config_sha256"] = config_hash(result)
    return row


def run_key(algorithm: str, cfg: Any, env: str | None, options: dict[str, Any],
            noise: float) -> str | None:
    """What a run depends on (config, environment, options, noise); None: unknown."""
    if cfg is None or env is None:
        return None
    return repr((algorithm, repr(cfg), env, sorted(options.items()), float(noise)))


def jobs(only: list[str] | None) -> list[tuple[str, str | None, Any, str | None, dict, Any]]:
    """(algorithm, preset, config, env, env options, run key) for every run."""
    import jaxrl.algos as algos

    names = list(algos.names())
    if only:
        unknown = [n for n in only if n not in names]
        if unknown:
            sys.exit(f"unknown algorithm(s) {', '.join(unknown)}; known: {', '.join(names)}")
        names = [n for n in names if n in only]
    out = []
    for name in names:
        record = algorithm_record(name)
        table = presets_of(record)
        cls = config_class(record)
        if cls is None and table:  # the presets' configs are of the algorithm's Config
            cls = type(preset_config(next(iter(table.values()))))
        cfg, env = (cls() if cls is not None else None), default_env_of(record)
        out.append((name, None, cfg, env, {}, run_key(name, cfg, env, {}, 0.0)))
        for pname, p in table.items():
            cfg = preset_config(p)
            env = getattr(p, "env", None) or default_env_of(record)
            options = dict(getattr(p, "env_options", None) or {})
            noise = getattr(p, "obs_noise", 0.0)
            out.append((name, pname, cfg, env, options,
                        run_key(name, cfg, env, options, noise)))
    return out


# ------------------------------------------------------------------------------ sources
def envs_package() -> Any:
    """The environments' package: top-level ``envs`` (before the layers), else
    ``jaxrl.envs`` (since: the top-level ``envs/`` folder, linked into the package)."""
    try:
        import envs
    except ImportError:
        from jaxrl import envs
    return envs


def check_sources() -> dict[str, str]:
    """Where ``jaxrl`` and ``envs`` come from; every loaded submodule must come from there."""
    import jaxrl

    envs = envs_package()
    roots = {"jaxrl": str(Path(jaxrl.__file__).resolve().parent),
             "envs": str(Path(envs.__file__).resolve().parent)}
    strays = []
    for mod_name, mod in list(sys.modules.items()):
        top = mod_name.split(".")[0]
        if mod_name == "jaxrl.envs" or mod_name.startswith("jaxrl.envs."):
            top = "envs"  # a link to the environments' own folder
        f = getattr(mod, "__file__", None)
        if top in roots and f and not str(Path(f).resolve()).startswith(roots[top] + os.sep):
            strays.append(f"{mod_name} from {f}")
    if strays:
        sys.exit("modules loaded from another checkout than the package's own:\n  "
                 + "\n  ".join(strays))
    return roots


# ------------------------------------------------------------------------------ output
def short(h: str | None) -> str:
    return h[:16] if h else "-"


def print_table(rows: list[dict[str, Any]], compare: dict[tuple[str, str], str] | None) -> None:
    head = ["algorithm", "preset", "updates", "params", "state", "metrics", "sec"]
    if compare is not None:
        head.append("vs --compare")
    lines = []
    for r in rows:
        if r["status"] == "ok":
            sec = f"= {r['same_run_as']}" if r.get("same_run_as") else f"{r['seconds']:.1f}"
            line = [r["algorithm"], r["preset"], str(r["updates"]), short(r["params_sha256"]),
                    short(r["state_sha256"]), short(r["metrics_sha256"]), sec]
        else:
            line = [r["algorithm"], r["preset"], "-", f"{r['status'].upper()}: {r['reason']}",
                    "", "", f"{r['seconds']:.1f}"]
        if compare is not None:
            line.append(compare.get((r["algorithm"], r["preset"]), "-"))
        lines.append(line)
    # The reason of a skipped/error row may be long: it is not used to size its column.
    widths = [max([len(h)] + [len(row[i]) for row in lines
                              if not (i == 3 and not row[4] and row[2] == "-")])
              for i, h in enumerate(head)]
    fmt = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    print(fmt(head))
    print(fmt(["-" * w for w in widths]))
    for row in lines:
        print(fmt(row))


KEYS = ("params_sha256", "state_sha256", "metrics_sha256")


def compare_rows(rows: list[dict[str, Any]], old_rows: list[dict[str, Any]],
                 only: list[str] | None) -> tuple[dict[tuple[str, str], str], list[str]]:
    old = {(r["algorithm"], r["preset"]): r for r in old_rows}
    verdict: dict[tuple[str, str], str] = {}
    problems: list[str] = []
    for r in rows:
        k = (r["algorithm"], r["preset"])
        o = old.get(k)
        if o is None:
            verdict[k] = "NEW (not in --compare)"
            problems.append(f"{k}: not in the earlier file")
        elif r["status"] != "ok" or o["status"] != "ok":
            if r["status"] == o["status"] == "skipped":
                verdict[k] = "skipped (both)"
            else:
                verdict[k] = f"DIFFERENT (was {o['status']}, now {r['status']})"
                problems.append(f"{k}: was {o['status']}, now {r['status']}")
        else:
            diff = [key.split("_")[0] for key in KEYS if r.get(key) != o.get(key)]
            # Not failures by themselves, but the likely why of a difference:
            notes = [what for what, key in (("budget", "overrides"), ("config", "config_sha256"))
                     if r.get(key) != o.get(key)]
            note = f" ({' and '.join(notes)} differ{'s' if len(notes) == 1 else ''})" \
                if notes else ""
            if diff:
                verdict[k] = "DIFFERENT: " + ",".join(diff) + note
                problems.append(f"{k}: {', '.join(diff)} differ{note}")
            else:
                verdict[k] = "same" + note
    seen = {(r["algorithm"], r["preset"]) for r in rows}
    for k in old:
        if k not in seen and (not only or k[0] in only):
            problems.append(f"{k}: in the earlier file, not run now")
    return verdict, problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", metavar="PATH", help="write the rows (and where from) here")
    parser.add_argument("--compare", metavar="PATH",
                        help="an earlier --json file: say same/DIFFERENT; exit 1 on a change")
    parser.add_argument("--only", metavar="ALGO", action="append",
                        help="only this algorithm (repeatable)")
    parser.add_argument("--all", action="store_true",
                        help="also run a preset whose config, env and options are the same as "
                             "an earlier row's (default: copy that row, 'same run as')")
    args = parser.parse_args()

    old_rows = None
    if args.compare:
        old_rows = json.loads(Path(args.compare).read_text())["rows"]

    import jax

    t_start = time.perf_counter()
    roots = check_sources()
    print(f"jaxrl from {roots['jaxrl']}, envs from {roots['envs']}; jax {jax.__version__}, "
          f"{jax.device_count()} {jax.devices()[0].platform} device(s); seed {SEED}, "
          f"{SEEDS} seeds", flush=True)

    rows = []
    done: dict[str, dict[str, Any]] = {}
    for algorithm, preset, cfg, env, options, key in jobs(args.only):
        if key is not None and key in done and not args.all:
            # The same config, environment and options as a row already run: the same
            # numbers by construction; copied, not run again (--all runs it).
            first = done[key]
            row = {**first, "preset": preset or "default", "seconds": 0.0,
                   "same_run_as": first["preset"]}
        else:
            row = run_one(algorithm, preset, cfg, env, options)
            if key is not None and row["status"] == "ok":
                done[key] = row
        rows.append(row)
        status = (f"{short(row.get('params_sha256'))} {short(row.get('state_sha256'))} "
                  f"{short(row.get('metrics_sha256'))}" if row["status"] == "ok"
                  else f"{row['status']}: {row['reason']}")
        if row.get("same_run_as"):
            status += f"  (same run as {row['same_run_as']}: copied)"
        print(f"  {algorithm:<18} {row['preset']:<24} {row['seconds']:5.1f} s  {status}",
              file=sys.stderr, flush=True)
    roots = check_sources()  # again: the algorithms' modules are loaded now
    total = time.perf_counter() - t_start

    verdict, problems = (None, [])
    if old_rows is not None:
        verdict, problems = compare_rows(rows, old_rows, args.only)
    print()
    print_table(rows, verdict)
    errors = [r for r in rows if r["status"] == "error"]
    skipped = [r for r in rows if r["status"] == "skipped"]
    print(f"\n{len(rows)} runs: {len(rows) - len(errors) - len(skipped)} ok, "
          f"{len(skipped)} skipped, {len(errors)} errors; {total:.1f} s in all")

    if args.json:
        meta = {
            "roots": roots, "python": sys.version.split()[0], "platform": platform.platform(),
            "jax": jax.__version__, "devices": [str(d) for d in jax.devices()],
            "seed": SEED, "seeds": SEEDS, "updates": UPDATES, "generations": GENERATIONS,
            "bandit_pulls": BANDIT_PULLS, "warmup": WARMUP, "seconds": total,
            "created": time.strftime("%Y-%m-%d %H:%M:%S"),
        }
        Path(args.json).write_text(json.dumps({"meta": meta, "rows": rows}, indent=1) + "\n")
        print(f"wrote {args.json}")

    if problems:
        print("\nDIFFERENT from " + str(args.compare) + ":\n  " + "\n  ".join(problems))
        return 1
    if old_rows is not None:
        print(f"\nall {len(rows)} rows the same as {args.compare}")
    return 2 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
