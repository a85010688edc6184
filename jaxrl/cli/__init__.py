"""The ``jaxrl`` command: train, resume, evaluate, play, sweep and list.

::

    jaxrl train ppo --env CartPole-v1 --seeds 8 [--set lr=3e-4] [--config run.toml] [--out DIR]
    jaxrl train --resume DIR
    jaxrl eval DIR [--episodes 20]
    jaxrl play DIR
    jaxrl export DIR [--out FILE]
    jaxrl sweep ppo --env CartPole-v1 --grid lr=1e-4,3e-4,1e-3 --seeds 8
    jaxrl compare ppo=runs/ppo dqn=runs/dqn [--reference ENV=LOW:HIGH] [--out DIR]
    jaxrl list [envs | algos | ALGO]
    jaxrl train ... --coordinator HOST:PORT --num-processes N --process-id I   (or --distributed)
    jaxrl launch --processes 2 -- train ppo --preset cartpole --seeds 8       (N local processes)

A mistake in the command (unknown name, bad value, unwritable directory) exits
with status 2 and one line on stderr, before anything compiles. Ctrl-C during
training stops after the running chunk, saves a checkpoint and exits with 130.
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def _quiet_cached_program_notes() -> None:
    """Hide XLA's C++ log lines in this command's process while the compile cache is on.

    jaxlib 0.9 logs a harmless but alarming line at ERROR level ("Target machine feature
    +prefer-no-scatter is not supported ... could lead to execution errors such as
    SIGILL") each time it loads a cached CPU program: the feature is a tuning hint, not an
    instruction set. ``TF_CPP_MIN_LOG_LEVEL`` is read once, when jaxlib loads, so it is set
    here, before the import below starts JAX; a value the user set is kept, and FATAL lines
    always show.
    """
    import os

    if "jaxlib" in sys.modules or "TF_CPP_MIN_LOG_LEVEL" in os.environ:
        return
    if compile_cache_dir() is None or "--no-compile-cache" in sys.argv:
        return
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"


# The compile cache lives below the command line (jaxrl.runs.compile_cache), so that
# library users can switch it on too; its helpers stay importable from here. (No JAX yet.)
from jaxrl.runs.compile_cache import (  # noqa: E402, F401
    CACHE_MAX_BYTES,
    ENTRY_MAGIC,
    _entry_digest,
    _seal,
    _unseal,
    _verified_entries,
    _verify_entries,
    compile_cache_dir,
    enable_compile_cache,
)

_quiet_cached_program_notes()

# (imported after the log level is chosen, above)
from jaxrl.core.config import closest
from jaxrl.errors import UsageError

COMMANDS = ("train", "eval", "play", "export", "sweep", "compare", "list", "launch")


class _Parser(argparse.ArgumentParser):
    """argparse that reports errors as one line (no usage block) and suggests close words."""

    def error(self, message: str) -> None:  # type: ignore[override]
        if "invalid choice" in message:
            bad = message.split("'")[1] if "'" in message else ""
            hint = closest(bad, COMMANDS, n=1)
            if hint:
                message += f"; did you mean {hint.split(': ')[1].rstrip('?')!r}?"
        raise UsageError(f"{message} (see '{self.prog} --help')")


def _key_values(items: Sequence[str], what: str) -> dict[str, str]:
    out = {}
    for item in items:
        if "=" not in item:
            raise UsageError(f"{what} takes FIELD=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        key = key.strip()
        if not key:
            raise UsageError(f"{what} takes FIELD=VALUE, got {item!r}")
        out[key] = value.strip()
    return out


def _literal(text: str) -> Any:
    """An env option value: a Python literal if it is one (10, 0.5, True), else the string."""
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _positive(name: str):
    def parse(text: str) -> int:
        try:
            value = int(text.replace("_", ""))
        except ValueError:
            try:
                f = float(text)
            except ValueError:
                raise argparse.ArgumentTypeError(f"{name} takes an integer, got {text!r}") from None
            if not f.is_integer():
                raise argparse.ArgumentTypeError(f"{name} takes an integer, got {text!r}") from None
            value = int(f)
        if value < 1:
            raise argparse.ArgumentTypeError(f"{name} must be >= 1, got {text}")
        return value

    return parse


def _keep(text: str) -> str:
    """``--keep``: all, none or best:K (checked as ``jaxrl.runs.sweep.parse_keep`` does)."""
    value = text.strip().lower()
    m = re.fullmatch(r"best:(\d{1,9})", value)
    if value in ("all", "none") or (m and int(m.group(1)) >= 1):
        return value
    raise argparse.ArgumentTypeError(f"--keep takes all, none or best:K (K >= 1: the K best "
                                     f"settings by the table), got {text!r}")


def _nonnegative(name: str):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} takes an integer, got {text!r}") from None
        if value < 0:
            raise argparse.ArgumentTypeError(f"{name} must be >= 0, got {text}")
        return value

    return parse


def _add_trust_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--trust-code", action="store_true",
                   help="import the environment or algorithm module (package.module:Name) that "
                        "the run's config.json names; without it a name read from a file "
                        "imports nothing (only for runs you trust)")


def _add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--env", default=None,
                   help="environment name (see 'jaxrl list envs') or package.module:ClassName "
                        "(default: the preset's, else the algorithm's own default)")
    p.add_argument("--seeds", type=_positive("--seeds"), default=None,
                   help="independent runs trained together in one program (default 1; sweep 8)")
    p.add_argument("--seed", type=_nonnegative("--seed"), default=0, help="base random seed")
    p.add_argument("--num-envs", type=_positive("--num-envs"), default=None,
                   help="environment copies per seed (the config's num_envs)")
    p.add_argument("--total-steps", type=_positive("--total-steps"), default=None,
                   help="environment steps per seed (the config's total_timesteps)")
    p.add_argument("--preset", default=None, metavar="NAME",
                   help="start from a named config of the algorithm (see 'jaxrl list ALGO')")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="FIELD=VALUE",
                   help="set a config field (repeatable), e.g. --set lr=3e-4")
    p.add_argument("--config", dest="toml", default=None, metavar="FILE.toml",
                   help="config fields from a TOML file (--set wins over it)")
    p.add_argument("--env-option", dest="env_options", action="append", default=[],
                   metavar="NAME=VALUE", help="environment option, e.g. --env-option mode=random")
    p.add_argument("--out", default=None, metavar="DIR", help="output directory")
    p.add_argument("--overwrite", action="store_true", help="replace a run already in --out")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    p.add_argument("--cpu-devices", type=_positive("--cpu-devices"), default=None, metavar="N",
                   help="CPU devices to split the seeds over (default: one per core)")
    p.add_argument("--no-compile-cache", action="store_true",
                   help="compile afresh, without the on-disk cache of compiled programs "
                        "(default: on, in $JAXRL_CACHE_DIR or ~/.cache/jaxrl/xla; "
                        "JAXRL_CACHE_DIR=off turns it off for every command)")
    g = p.add_argument_group("many processes (jax.distributed; seeds split over every process)")
    g.add_argument("--coordinator", default=None, metavar="HOST:PORT",
                   help="process 0's address (default: $JAX_COORDINATOR_ADDRESS)")
    g.add_argument("--num-processes", type=_positive("--num-processes"), default=None,
                   metavar="N", help="processes in the run (default: $JAX_NUM_PROCESSES)")
    g.add_argument("--process-id", type=_nonnegative("--process-id"), default=None, metavar="I",
                   help="this process, 0..N-1; process 0 writes the run directory "
                        "(default: $JAX_PROCESS_ID)")
    g.add_argument("--split", choices=("seeds", "population"), default=None,
                   help="what is split over the devices of every process: the seeds "
                        "(default; --resume: the run's own), or each generation's population "
                        "(es, ga; then one seed uses every device); the numbers are the same "
                        "either way")
    g.add_argument("--distributed", action="store_true",
                   help="join the processes of a cluster job JAX detects (SLURM, Open MPI)")
    g.add_argument("--heartbeat-timeout", type=_positive("--heartbeat-timeout"), default=None,
                   metavar="S", help="seconds of silence after which a process counts as dead "
                                     "and the others stop with an error (default 30)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="jaxrl",
        description="Reinforcement learning in pure JAX: whole training runs compiled into one "
                    "XLA program, many seeds at once.",
    )
    from jaxrl._version import __version__

    parser.add_argument("--version", action="version", version=f"jaxrl {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    p = sub.add_parser("train", help="train an algorithm on an environment",
                       description="Train ALGO on --env for --seeds seeds in one compiled program, "
                                   "writing a run directory (config, metrics CSV, learning curve, "
                                   "checkpoint, TensorBoard events).")
    p.add_argument("algo", nargs="?", help="algorithm name (see 'jaxrl list algos')")
    p.add_argument("--resume", metavar="DIR", default=None,
                   help="continue the stopped run in DIR from its checkpoint")
    _add_trust_option(p)
    _add_run_options(p)
    p.add_argument("--checkpoint-every", type=_nonnegative("--checkpoint-every"), default=None,
                   metavar="N", help="updates between checkpoints (0: only at the end; "
                                     "default: about 5 per run)")
    p.add_argument("--chunk", type=_positive("--chunk"), default=None, metavar="N",
                   help="updates per compiled call (default: about 50 calls per run)")
    p.add_argument("--stop-after", type=_positive("--stop-after"), default=None, metavar="N",
                   help="stop after N updates (as if interrupted); continue with --resume")
    p.add_argument("--stop-at-return", type=float, default=None, metavar="X",
                   help="stop once the mean return over seeds (episodes of the last 10 "
                        "updates) reaches X; checkpointed, continue with --resume")
    p.add_argument("--wandb", default=None, metavar="PROJECT",
                   help="also log to Weights & Biases (pip install 'jaxrl[wandb]')")
    p.add_argument("--mlflow", default=None, metavar="EXPERIMENT",
                   help="also log to MLflow (pip install 'jaxrl[mlflow]'; "
                        "MLFLOW_TRACKING_URI picks the server)")
    p.add_argument("--on-nonfinite", choices=("stop", "mask"), default=None,
                   help="when a seed's loss or parameters become NaN/inf: stop the run "
                        "(default; the last good checkpoint is kept) or mask that seed and "
                        "train the others on")

    p = sub.add_parser("eval", help="evaluate a trained run",
                       description="Play N episodes with every seed's learned policy, greedy and "
                                   "stochastic, and print a table.")
    p.add_argument("run_dir", metavar="DIR", help="a run directory written by 'jaxrl train'")
    _add_trust_option(p)
    p.add_argument("--episodes", type=_positive("--episodes"), default=10, metavar="N",
                   help="episodes per seed and per policy, greedy and stochastic (default 10)")
    p.add_argument("--seed", type=_nonnegative("--seed"), default=0,
                   help="random seed of the evaluation episodes (their resets and sampled "
                        "actions), not of training; every seed's policy meets the same "
                        "episodes (default 0)")
    p.add_argument("--max-steps", type=_positive("--max-steps"), default=None,
                   help="cap on episode length (default: the environment's time limit)")

    p = sub.add_parser("play", help="show one episode of a trained run",
                       description="One episode of a learned policy as a person wants to see it. "
                                   "Every environment that draws itself gets an animated GIF "
                                   "(DIR/play.gif) and a PNG strip of its pictures (DIR/play.png): "
                                   "every built-in one but the bandits (CartPole, MountainCar, "
                                   "Ising1D, Ising2D, Battle, and the boards of Gridworld, Taxi, "
                                   "Maze and DoorKey, also printed as text) and gymnax's classic "
                                   "control, MinAtar, Catch, DeepSea and Pong. Bandits get a bar "
                                   "chart of learned values against the true means; an "
                                   "environment that cannot draw itself, a plot of observations "
                                   "and rewards. C51 and QR-DQN add the learned return "
                                   "distribution, relational DQN its attention. --video adds an "
                                   "MP4.")
    p.add_argument("run_dir", metavar="DIR", help="a run directory written by 'jaxrl train'")
    _add_trust_option(p)
    p.add_argument("--seed-index", type=_nonnegative("--seed-index"), default=0,
                   help="which of the run's seeds to play")
    p.add_argument("--seed", type=_nonnegative("--seed"), default=0, help="episode seed")
    p.add_argument("--stochastic", action="store_true", help="sample actions instead of greedy")
    p.add_argument("--out", default=None, metavar="PATH",
                   help="file stem for pictures (default: DIR/play)")
    p.add_argument("--max-steps", type=_positive("--max-steps"), default=None, metavar="N",
                   help="stop the episode after N steps (default: the environment's time "
                        "limit)")
    p.add_argument("--delay", type=float, default=0.0,
                   help="seconds between boards for text environments")
    p.add_argument("--video", action="store_true",
                   help="also write an MP4 beside the GIF and PNG strip (pip install "
                        "'jaxrl[video]')")

    p = sub.add_parser("export", help="write a small policy file of a trained run",
                       description="Write the parameters the run's policy acts with (no optimiser "
                                   "state, no replay buffer) to DIR/policy.msgpack; load it with "
                                   "jaxrl.load_policy(path) -> policy(obs) -> action.")
    p.add_argument("run_dir", metavar="DIR", help="a run directory written by 'jaxrl train'")
    _add_trust_option(p)
    p.add_argument("--out", default=None, metavar="FILE",
                   help="the file to write (default: DIR/policy.msgpack)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing FILE")

    p = sub.add_parser("sweep", help="train a grid of settings as one vmapped program",
                       description="Train every combination of --grid values for --seeds seeds "
                                   "in one program; print a table and plot final returns.")
    p.add_argument("algo", help="algorithm name")
    p.add_argument("--grid", action="append", default=[], metavar="FIELD=V1,V2,...",
                   help="values of a config field (repeatable; the grid is their product)")
    p.add_argument("--max-settings", type=_positive("--max-settings"), default=None,
                   metavar="N", help="refuse a grid of more than N settings (default 1024), "
                                     "before anything compiles")
    p.add_argument("--keep", type=_keep, default=None, metavar="all|best:K|none",
                   help="settings kept as runs in DIR/runs/<setting>/ (each one a run that "
                        "eval, play, export, compare and train --resume take): all, the K "
                        "best by the table, or none (default: all, or the best that fit "
                        "in 2 GB of checkpoints)")
    _add_run_options(p)

    p = sub.add_parser("compare", help="compare runs with interval estimates (rliable)",
                       description="Per agent, the IQM, median and mean of one score per seed "
                                   "with stratified bootstrap confidence intervals, and the "
                                   "probability of improvement of each pair (rliable; pip "
                                   "install 'jaxrl[compare]'). Runs on several environments "
                                   "need --reference for each.")
    p.add_argument("runs", nargs="+", metavar="[NAME=]DIR",
                   help="run or sweep directories; NAME= labels the agent (default: the "
                        "algorithm, and the config fields that tell runs apart)")
    p.add_argument("--evaluate", type=_positive("--evaluate"), default=None, metavar="N",
                   help="score each seed by N greedy episodes (default: its final return)")
    p.add_argument("--reference", action="append", default=[], metavar="ENV=LOW:HIGH",
                   help="normalise ENV's scores to (x - LOW) / (HIGH - LOW) (repeatable; "
                        "needed for each environment when the runs span several)")
    p.add_argument("--reps", type=_positive("--reps"), default=2000,
                   help="bootstrap replications (default 2000)")
    p.add_argument("--seed", type=_nonnegative("--seed"), default=0,
                   help="NumPy seed of the bootstrap: numpy.random.seed(SEED) before each "
                        "rliable estimate (default 0)")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="write the figures (performance_profile.png, aggregate_intervals.png) "
                        "and compare.json there (default: print only, write nothing)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace those files when jaxrl wrote them before")
    p.add_argument("--json", action="store_true", help="print JSON instead of the table")
    p.add_argument("--include-incomplete", action="store_true",
                   help="score runs that stopped early as they are (default: left out)")
    _add_trust_option(p)

    p = sub.add_parser("list", help="environments and algorithms",
                       description="List environments (with spaces) and algorithms (with their "
                                   "config fields and defaults).")
    p.add_argument("what", nargs="?", default="all", metavar="WHAT",
                   help="'envs', 'algos', 'all' (default) or an algorithm name")
    p.add_argument("--gymnax", action="store_true", help="also list gymnax's environments")

    p = sub.add_parser("launch", help="run a jaxrl command as N processes on this machine",
                       description="Start N local processes (loopback) joined by jax.distributed, "
                                   "each running 'jaxrl COMMAND ...' with the right "
                                   "--coordinator/--num-processes/--process-id; output is "
                                   "prefixed by the process id; if one fails the others are "
                                   "stopped.")
    from jaxrl.parallel.launch import add_arguments

    add_arguments(p)
    return parser


# ------------------------------------------------------------------------------ commands
def _default_out(algo: str, env: str, kind: str = "") -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    safe_env = re.sub(r"[^\w.-]+", "_", env)
    safe_algo = re.sub(r"[^\w.-]+", "_", algo.rsplit(":", 1)[-1])  # pkg.mod:NAME -> NAME
    base = Path("runs") / f"{kind}{safe_algo}-{safe_env}-{stamp}"
    path, i = base, 1
    while path.exists():
        i += 1
        path = base.with_name(f"{base.name}-{i}")
    return path


def cmd_train(args: argparse.Namespace) -> int:
    from jaxrl.runs import overrides, run

    callbacks = _trackers(args)
    if args.stop_at_return is not None:
        from jaxrl.output.logging import StopOnReturn

        callbacks.append(StopOnReturn(args.stop_at_return))  # RunError: not a finite number
    if args.resume:
        if args.algo or args.overrides or args.toml or args.num_envs or args.total_steps \
                or args.seeds or args.env_options or args.out or args.preset or args.env \
                or args.overwrite or args.chunk or args.checkpoint_every is not None \
                or args.on_nonfinite:
            raise UsageError("--resume DIR continues a run with its saved settings; "
                             "give no algorithm or run options with it (only --stop-after, --quiet)")
        run_dir = Path(args.resume)
        from jaxrl.runs.rundir import is_complete

        # A complete run is verified and left as it is (run.resume loads it): one line, exit 0.
        already_complete = is_complete(run_dir)
        call = lambda: run.resume(run_dir, progress=not args.quiet,  # noqa: E731
                                  stop_after=args.stop_after, callbacks=callbacks,
                                  split=args.split, trust_code=args.trust_code)
    else:
        if not args.algo:
            raise UsageError("train needs an algorithm (see 'jaxrl list algos') or --resume DIR")
        env = args.env
        run.get_algorithm(args.algo)
        run_dir = Path(args.out) if args.out else _default_out(
            args.algo, env or (overrides.preset(args.algo, args.preset).env if args.preset else None)
            or run.default_env(args.algo))
        kwargs = dict(
            seeds=args.seeds or 1, seed=args.seed, toml=args.toml, num_envs=args.num_envs,
            total_steps=args.total_steps, env_options=_env_options(args.env_options),
            chunk_updates=args.chunk, checkpoint_every=args.checkpoint_every,
            preset=args.preset, on_nonfinite=args.on_nonfinite or "stop",
            split=args.split or "seeds",
        )
        # --set values travel as a table, never as keywords: --set num_envs=8 must not
        # collide with train's own num_envs= (the --num-envs shortcut).
        settings = _key_values(args.overrides, "--set") or None
        call = lambda: run.train(args.algo, env, out_dir=run_dir,  # noqa: E731
                                 overwrite=args.overwrite, progress=not args.quiet,
                                 stop_after=args.stop_after, callbacks=callbacks, **kwargs,
                                 config=settings)
    from jaxrl.parallel import processes as distributed

    try:
        result = call()
    except run.Interrupted as stop:
        result = stop.result
        if not distributed.is_writer():
            raise SystemExit(130) from None
        if not result.updates_done and not args.resume:
            print(f"interrupted before the first update; no checkpoint was written in {run_dir}",
                  file=sys.stderr)
            raise SystemExit(130) from None
        print(result.summary())
        print(f"interrupted at update {result.updates_done}/{result.spec.num_updates}; "
              f"checkpoint saved; continue with: {run.resume_command(run_dir, result.spec)}",
              file=sys.stderr)
        raise SystemExit(130) from None
    if not distributed.is_writer():
        return 0  # process 0 reports and writes
    if args.resume and already_complete and result.complete:
        print(f"{run_dir} is already complete ({result.updates_done}/{result.spec.num_updates} "
              f"updates); nothing to resume, no file changed (see: jaxrl eval {run_dir})")
        return 0
    print(result.summary())
    if result.complete:
        print(f"run directory: {run_dir}")
    else:
        print(f"stopped at update {result.updates_done}/{result.spec.num_updates}; "
              f"continue with: {run.resume_command(run_dir, result.spec)}")
    return 0


def _trackers(args: argparse.Namespace) -> list[Any]:
    """W&B / MLflow callbacks asked for on the command line (checked before compiling)."""
    from jaxrl.output import tracking

    out = []
    try:
        if args.wandb:
            out.append(tracking.WandbCallback(project=args.wandb))
        if args.mlflow:
            out.append(tracking.MLflowCallback(experiment=args.mlflow))
    except ImportError as e:
        raise UsageError(str(e).splitlines()[0]) from None
    return out


def _env_options(items: Sequence[str]) -> dict[str, Any]:
    return {k: _literal(v) for k, v in _key_values(items, "--env-option").items()}


def _note(args: argparse.Namespace, text: str) -> None:
    from jaxrl.parallel import processes as distributed

    if not getattr(args, "quiet", False) and distributed.is_writer():
        print(text, file=sys.stderr, flush=True)


def cmd_eval(args: argparse.Namespace) -> int:
    import numpy as np

    from jaxrl.core.episodes import resolve_start
    from jaxrl.core.metrics import continuing
    from jaxrl.output.logging import table
    from jaxrl.runs import run
    from jaxrl.runs.evaluation import EVAL_HEADERS, eval_row

    result = run.load(args.run_dir, trust_code=args.trust_code)
    acting = result.require_acting("evaluate")  # none: refused in one line
    rows, per_step = [], []
    for greedy in (True, False):
        ev = result.evaluate(episodes=args.episodes, greedy=greedy, seed=args.seed,
                             max_steps=args.max_steps)
        rows.append(eval_row(ev, greedy))
        per_step.append(float(np.sum(ev.returns) / max(np.sum(ev.lengths), 1)))
    print(f"{result.algorithm} on {result.env_name}: {len(acting)} seed(s) x {args.episodes} "
          f"episodes, checkpoint at update {result.updates_done}/{result.spec.num_updates}")
    if len(acting) < result.seeds:
        left = sorted(set(range(result.seeds)) - set(acting))
        print(f"left out: seed(s) {', '.join(map(str, left))}, whose parameters are non-finite "
              f"(masked by --on-nonfinite mask)")
    print(table(EVAL_HEADERS, rows))
    if resolve_start(result.env, result.env_params, result.state) == "trained":
        print("(episodes start from the bandit each seed trained on)")
    if continuing(result.metrics):  # a bandit: no episode ends, each one is the step cap
        print(f"no episode ends on {result.env_name}: reward per step greedy {per_step[0]:.2f}, "
              f"stochastic {per_step[1]:.2f}")
    return 0


def cmd_play(args: argparse.Namespace) -> int:
    from jaxrl.output import play
    from jaxrl.runs import run

    if args.video:
        play.require_video()  # before loading anything: one line naming the extra
    out = Path(args.out) if args.out else Path(args.run_dir) / "play"
    play.check_outputs(out, args.run_dir)  # before loading: never over a run's own files
    result = run.load(args.run_dir, trust_code=args.trust_code)
    if args.seed_index >= result.seeds:
        raise run.RunError(f"--seed-index {args.seed_index} is out of range: the run has "
                           f"{result.seeds} seed(s)")
    result.require_acting("play", args.seed_index)  # never a policy of NaN parameters
    play.play(result, seed_index=args.seed_index, greedy=not args.stochastic, seed=args.seed,
              out=out, max_steps=args.max_steps, delay=args.delay, video=args.video)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from jaxrl.output.files import refuse_run_files
    from jaxrl.runs import policy, run
    from jaxrl.runs.rundir import nice_bytes

    target = Path(args.out) if args.out else Path(args.run_dir) / policy.POLICY_FILE
    refuse_run_files([target], args.run_dir)  # never a run's own file, even with --overwrite
    if target.exists() and not args.overwrite:
        raise run.RunError(f"{target} exists; pass --overwrite to replace it")
    result = run.load(args.run_dir, trust_code=args.trust_code)
    path = policy.export(result, target)
    ckpt_size = (Path(args.run_dir) / "checkpoint.msgpack").stat().st_size
    acting = result.acting_seeds  # export writes these (the masked ones left out)
    left = f" (left out: seed(s) {', '.join(str(s) for s in range(result.seeds) if s not in acting)}, " \
        f"non-finite)" if len(acting) < result.seeds else ""
    print(f"{path}: {nice_bytes(path.stat().st_size)} (the checkpoint: {nice_bytes(ckpt_size)}); "
          f"{len(acting)} seed(s){left}, acting with the best one by default")
    print(f"use it: from jaxrl import load_policy; policy = load_policy({str(path)!r}); "
          f"action = policy(obs)")
    return 0


def _grid(items: Sequence[str], base: Any, algo: str, *, seeds: int = 1,
          max_settings: int | None = None) -> dict[str, list[Any]]:
    """``--grid FIELD=V1,V2`` items as ``{path: [values]}``: old names (``ALIASES``) and
    a group's fields (``curiosity.beta``) by today's path, each value read by the type
    of ``base``'s value. A field given twice is refused, and so is a grid of more than
    ``max_settings`` settings, counted before any value is read."""
    from jaxrl.core.config import field_paths, is_group
    from jaxrl.runs import overrides, run
    from jaxrl.runs import sweep as sweep_mod

    paths = field_paths(base)
    grid: dict[str, list[Any]] = {}
    given: dict[str, str] = {}
    settings = 1
    for item in items:
        if "=" not in item:
            raise UsageError(f"--grid takes FIELD=V1,V2,..., got {item!r}")
        name, values = item.split("=", 1)
        name = name.strip()
        path = overrides.field_path(base, name)
        if path is None and is_group(getattr(base, name, None)):
            raise run.RunError(f"--grid {name}: a group of fields; sweep one of them "
                               f"({name}.FIELD=V1,V2,...)")
        if path is None:
            known = [*paths, *(old for old, new in overrides.ALIASES.items() if new in paths)]
            raise run.RunError(f"--grid: {algo} has no config field {name!r}."
                               f"{closest(name, known)}")
        texts = [v for v in values.split(",") if v.strip()]
        if not texts:
            raise UsageError(f"--grid {name}= needs at least one value")
        settings *= len(texts)
        try:
            sweep_mod.check_size(settings, seeds, max_settings)
        except ValueError as e:
            raise run.RunError(f"--grid: {e}") from None
        if path in grid:  # a second --grid for one field (or an old name of it, ALIASES)
            same = f"--grid {given[path]}= and --grid {name}=" if given[path] != name \
                else f"--grid {name}= twice"
            raise UsageError(f"{same} both set {path}; give its values once, "
                             f"comma-separated: --grid {path}=V1,V2,...")
        given[path] = name
        grid[path] = [run.coerce(path, v, paths[path][0]) for v in texts]
    if not grid:
        raise UsageError("sweep needs at least one --grid FIELD=V1,V2,...")
    return grid


def cmd_sweep(args: argparse.Namespace) -> int:
    import numpy as np

    from jaxrl.core.config import replace_paths
    from jaxrl.runs import overrides, run
    from jaxrl.runs import sweep as sweep_mod
    from jaxrl.runs.rundir import prepare_output

    seeds = args.seeds or 8
    if args.split not in (None, "seeds"):
        raise UsageError("sweep splits its settings and seeds over the devices; "
                         "--split population is for train")
    run.get_algorithm(args.algo)  # an unknown name is refused before anything else
    start = overrides.preset(args.algo, args.preset) if args.preset else None
    env_name = args.env
    env_options = _env_options(args.env_options)
    if start is not None and start.env is not None:
        if env_name is not None and env_name != start.env:
            raise run.RunError(f"preset {args.preset!r} of {args.algo} is made for {start.env}, "
                               f"not {env_name}; drop --env, or sweep from the defaults")
        env_name, env_options = start.env, {**start.env_options, **env_options}
    env_name = env_name or run.default_env(args.algo)
    base = run.resolve_config(args.algo, _key_values(args.overrides, "--set"), toml=args.toml,
                              num_envs=args.num_envs, total_steps=args.total_steps,
                              base=start.config if start else None)
    limit = args.max_settings or sweep_mod.MAX_SETTINGS
    grid = _grid(args.grid, base, args.algo, seeds=seeds, max_settings=limit)
    size = sweep_mod.check_size(sweep_mod.grid_size(grid), seeds, limit)  # the line to show
    _, static = sweep_mod.sweepable_fields(base)
    for name in grid:
        if name in static:
            raise run.RunError(f"--grid {name}: a static field (it fixes array shapes or loop "
                               f"lengths) cannot be vmapped in one program; run one sweep per value")
    env, env_params = run.make_env(env_name, env_options, start.obs_noise if start else 0.0)
    for name, values in grid.items():  # every setting is valid before compiling
        for v in values:
            try:
                replace_paths(base, {name: v}).validate()
            except ValueError as e:
                raise run.RunError(f"--grid {name}={v}: {e}") from None
    from jaxrl.parallel import processes as distributed

    out = distributed.from_writer(lambda: prepare_output(  # only process 0 writes
        args.out or _default_out(args.algo, env_name, "sweep-"),
        ("sweep.png", "sweep.csv", "sweep.json"), args.overwrite))
    _note(args, f"sweep: {size} of {args.algo} on {env_name} "
                f"in one program; compiling and training (no progress bar: one compiled call)...")
    try:
        # The environment by name (with the preset's options and noise), so that every
        # kept setting is a run whose config.json names it as train's does.
        result = sweep_mod.sweep(args.algo, env_name, base_config=base, grid=grid,
                                 max_settings=limit, seeds=seeds, key=args.seed,
                                 keep=args.keep, env_options=env_options, preset=args.preset,
                                 out_dir=out, overwrite=args.overwrite)
    except ValueError as e:
        raise run.RunError(str(e)) from None
    except KeyboardInterrupt:
        # The compiled call cannot be cut short; nothing of it is kept, so stop the
        # process now rather than wait for it (its thread would hold the exit).
        import os

        print("jaxrl: interrupted; the sweep is one compiled program, nothing was saved",
              file=sys.stderr, flush=True)
        sys.stdout.flush()
        os._exit(130)
    if not distributed.is_writer():
        return 0
    print(result.table())
    steps = float(np.sum(result.metrics["env_steps"][..., -1]))
    print(f"compile {result.compile_seconds:.1f} s, run {result.run_seconds:.1f} s, "
          f"{steps / max(result.run_seconds, 1e-9):,.0f} steps/s (all settings and seeds)")
    if result.keep_note:
        _note(args, f"jaxrl: {result.keep_note}")
    dirs = result.save(out, {"env_options": env_options, "seeds": seeds, "seed": args.seed,
                             "config": run.config_to_dict(base)}, overwrite=args.overwrite)
    _print_sweep_runs(result, out, dirs)
    return 0


def _print_sweep_runs(result: Any, out: Path, dirs: Sequence[Path]) -> None:
    """The last lines of ``jaxrl sweep``: where its files and runs are, how to use the best."""
    import shlex

    print(f"sweep directory: {out} (sweep.png, sweep.csv, sweep.json"
          f"{', runs/' if dirs else ''})")
    if not dirs:
        print("no setting was kept as a run (--keep none); --keep best:K or all keeps them")
        return
    masked = list(result.masked)
    if masked:
        print(f"non-finite seeds in {len(masked)} kept run(s), masked (on_nonfinite=mask): "
              + ", ".join(result.run_names[i] for i in masked))
    kept = "every setting" if len(dirs) == len(result.settings) else \
        f"the best {len(dirs)} of {len(result.settings)} settings"
    print(f"runs: {kept} in {out / 'runs'}/ (each one a run directory, as jaxrl train writes)")
    from jaxrl.output.files import is_run_dir

    others = sorted(p.name for p in (out / "runs").iterdir()
                    if p not in dirs and p.is_dir() and is_run_dir(p))
    if others:
        print(f"runs/ also holds {len(others)} run(s) this sweep did not write (an earlier "
              f"sweep's?), left as they are and not in sweep.json: {', '.join(others[:4])}"
              f"{', ...' if len(others) > 4 else ''}")
    if result.best in result.kept:
        best = shlex.quote(str(dirs[result.kept.index(result.best)]))
        print(f"best run: {best}; use it: jaxrl eval {best} (also play, export, "
              f"train --resume)")


def _config_comments(config_class: type) -> dict[str, str]:
    """Trailing ``# comment`` of each field in the Config source (best effort)."""
    import inspect
    import re

    comments: dict[str, str] = {}
    try:
        classes = [c for c in config_class.__mro__ if c.__module__ not in ("builtins",)]
        for cls in reversed(classes):
            for line in inspect.getsource(cls).splitlines():
                m = re.match(r"\s+(\w+)\s*:[^#]*=[^#]*#\s*(.*)$", line)
                if m:
                    comments[m.group(1)] = m.group(2).strip()
    except (OSError, TypeError):
        pass
    return comments


def _words_to_width(line: str) -> str:
    """``line`` wrapped between words at the terminal's width when stdout is a terminal
    (continuation lines indented); as it is in a pipe or a file (one line to grep)."""
    import shutil
    import textwrap

    if not sys.stdout.isatty():
        return line
    width = shutil.get_terminal_size().columns
    return "\n".join(textwrap.wrap(line, width=max(width, 20), subsequent_indent="    ",
                                    break_long_words=False, break_on_hyphens=False)) or line


def _list_algos(names: Sequence[str]) -> list[str]:
    import dataclasses

    from jaxrl.core.config import field_paths, is_group
    from jaxrl.output.logging import table
    from jaxrl.runs import run
    from jaxrl.runs.overrides import preset_changes

    lines = []
    for name in names:
        try:
            record = run.get_algorithm(name)
        except (run.RunError, ImportError) as e:
            lines.append(f"{name}: not available ({str(e).splitlines()[0]})")
            lines.append("")
            continue
        lines.append(_words_to_width(f"{name}: {record.one_line()}".rstrip(": ")))
        if record.supports:
            lines.append(f"supports: {', '.join(sorted(record.supports))}")
        comments = _config_comments(record.config)
        fields = {f.name: f for f in dataclasses.fields(record.config)}
        rows = []
        for field, default in run.config_defaults(record).items():
            if is_group(default):  # a group of fields: one row each, "group.field"
                inner = _config_comments(type(default))
                for path, (value, static) in field_paths(default).items():
                    rows.append([f"{field}.{path}", repr(value),
                                 "static" if static else "sweepable", inner.get(path, "")])
                continue
            static = not fields[field].metadata.get("pytree_node", True)
            rows.append([field, repr(default), "static" if static else "sweepable",
                         comments.get(field, "")])
        lines.append(table(["field", "default", "kind", "meaning"], rows))
        named = run.presets(name)
        if named:
            lines.append(f"presets (--preset NAME): {', '.join(named)}")
            for pname, p in named.items():
                changes = preset_changes(name, p)
                where = p.env or "any env"
                if p.env_options:
                    where += " " + " ".join(f"{k}={v}" for k, v in p.env_options.items())
                if p.obs_noise:
                    where += f" + obs noise {p.obs_noise:g}"
                sets = ", ".join(f"{k}={v}" for k, v in changes.items()) or "the defaults"
                lines.append(f"  {pname}: {where}; {sets}"
                             + (f"  ({p.description})" if p.description else ""))
                if p.claim is not None:
                    measured = (f"reached by {p.claim.holds} unseen seeds" if p.claim.holds
                                else "not yet measured on unseen seeds")
                    lines.append(f"    claim: {p.claim.text}; {measured} "
                                 f"(benchmarks/PRESETS.md)")
        lines.append(f"default environment: {run.default_env(name)}")
        lines.append("")
    return lines


def _list_envs(gymnax: bool) -> list[str]:
    from jaxrl import envs
    from jaxrl.output.logging import table

    rows = []
    for name in envs.registered(include_gymnax=False):
        try:
            env, params = envs.make(name)
            rows.append([name, repr(env.action_space(params)), repr(env.observation_space(params))])
        except Exception as e:  # noqa: BLE001 - an env module not yet available
            rows.append([name, "unavailable", f"({type(e).__name__}: {str(e).splitlines()[0]})"])
    lines = [table(["environment", "actions", "observations"], rows)]
    extra = [n for n in envs.registered(include_gymnax=True) if n.startswith("gymnax/")]
    if gymnax:
        lines.append("")
        lines.append("gymnax environments (adapted): " + ", ".join(extra))
    else:
        lines.append(f"(+ {len(extra)} gymnax environments as gymnax/NAME: 'jaxrl list envs --gymnax')")
    from jaxrl.envs.registry import ADAPTERS

    every = envs.registered(include_gymnax=True)
    for prefix, (_, _, extra_name) in ADAPTERS.items():
        names = [n for n in every if n.startswith(prefix)]
        lines.append(f"{prefix[:-1]}: " + (", ".join(names) if names else
                     f"not installed (pip install 'jaxrl[{extra_name}]' adds {prefix}NAME)"))
    return lines


def cmd_list(args: argparse.Namespace) -> int:
    from jaxrl import algos

    what = args.what
    lines: list[str] = []
    if what in ("all", "envs"):
        lines += ["Environments", ""] + _list_envs(args.gymnax) + [""]
    if what in ("all", "algos"):
        lines += ["Algorithms (config fields and defaults; set with --set FIELD=VALUE)", ""]
        lines += _list_algos(algos.names())
    elif what not in ("all", "envs"):
        if what not in algos.names() and not algos.is_reference(what):
            hint = closest(what, ["envs", "algos", *algos.names()])
            raise UsageError(f"list takes 'envs', 'algos', 'all' or an algorithm name, "
                             f"got {what!r}.{hint}")
        lines += _list_algos([what])
    print("\n".join(lines).rstrip())
    return 0


# ------------------------------------------------------------------------------ main
def _configure_devices(requested: int | None) -> None:
    """One CPU device per core (or ``--cpu-devices N``), so seeds run on every core.

    Inside a process where JAX already runs (the command called from Python), the
    devices it has are kept; asking for a different count is then an error.
    """
    from jaxrl.parallel import devices as parallel

    try:
        parallel.use_cpu_cores(requested)
    except RuntimeError as e:
        raise UsageError(str(e)) from None


def _restore_layout(args: argparse.Namespace) -> None:
    """``train --resume DIR`` without ``--cpu-devices``: the CPU device count the run
    ran on (its ``config.json``), asked for before JAX starts, so that the resumed run is
    the run that would have happened. (Inside a process where JAX already runs, the
    devices it has are kept; resuming then refuses another layout in one line.)"""
    if args.command != "train" or not args.resume or args.cpu_devices is not None:
        return
    from jaxrl.parallel import devices as parallel
    from jaxrl.runs.run import stored_cpu_devices

    stored = stored_cpu_devices(args.resume)
    if stored is not None and not parallel._backends_initialised():
        args.cpu_devices = stored


def _join_processes(args: argparse.Namespace) -> bool:
    """Start ``jax.distributed`` when the command (or the environment) asks for several
    processes; False when it does not."""
    from jaxrl.parallel import processes as distributed

    try:
        env = distributed.settings_from_env()
        coordinator = args.coordinator or env.get("coordinator")
        count = args.num_processes if args.num_processes is not None else env.get("num_processes")
        index = args.process_id if args.process_id is not None else env.get("process_id")
        if not args.distributed and coordinator is None and count is None and index is None:
            if args.heartbeat_timeout is not None:
                raise UsageError("--heartbeat-timeout applies to several processes only")
            return False
        if not args.distributed:
            distributed.check_settings(coordinator, count, index)
        # guard: a lost peer ends this process with one line, not XLA's C++ stack dump
        distributed.initialize(
            coordinator, count, index, cpu_devices=args.cpu_devices, auto=args.distributed,
            heartbeat_seconds=args.heartbeat_timeout or distributed.DEFAULT_HEARTBEAT_SECONDS,
            guard=True)
    except distributed.DistributedError as e:
        raise UsageError(str(e)) from None
    except RuntimeError as e:  # use_cpu_cores: JAX already running with another count
        raise UsageError(str(e)) from None
    return True


def cmd_compare(args: argparse.Namespace) -> int:
    from jaxrl.runs import compare as compare_mod

    compare_mod.require_rliable()  # without it: one line naming the extra
    reference = compare_mod.parse_reference(args.reference)
    if args.out:  # a bad --out is refused before any run is read (created when saving)
        compare_mod.prepare_output(args.out, args.overwrite, create=False)
    result = compare_mod.compare(args.runs, evaluate=args.evaluate, reference=reference,
                                 reps=args.reps, seed=args.seed,
                                 include_incomplete=args.include_incomplete,
                                 trust_code=args.trust_code)
    print(result.to_json() if args.json else result.table(), end="\n" if not args.json else "")
    if args.out:
        paths = result.save(args.out, overwrite=args.overwrite)
        print(f"wrote {', '.join(str(p) for p in paths)}",
              file=sys.stderr if args.json else sys.stdout)
    return 0


def cmd_launch(args: argparse.Namespace) -> int:
    from jaxrl.parallel import launch

    return launch.run_from_args(args)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 ok, 2 user error, 130 interrupted)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        handler = {"train": cmd_train, "eval": cmd_eval, "play": cmd_play, "export": cmd_export,
                   "sweep": cmd_sweep, "compare": cmd_compare, "list": cmd_list,
                   "launch": cmd_launch}[args.command]
        # launch's children decide for themselves; --no-compile-cache: not switched on
        if args.command not in ("list", "launch") and not getattr(args, "no_compile_cache",
                                                                   False):
            enable_compile_cache()
        if args.command in ("train", "sweep"):
            _restore_layout(args)
            if not _join_processes(args):
                _configure_devices(getattr(args, "cpu_devices", None))
        return handler(args)
    except UsageError as e:
        print(f"jaxrl: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("jaxrl: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - user errors only; anything else is a bug
        from jaxrl.errors import CheckpointError, RunError, TrainingError

        if isinstance(e, (RunError, CheckpointError)):
            print(f"jaxrl: error: {_one_line(e)}", file=sys.stderr)
            return 2
        if isinstance(e, TrainingError):
            print(f"jaxrl: training stopped: {_one_line(e)}", file=sys.stderr)
            return 1
        from jaxrl.parallel import processes as distributed

        if distributed.is_multiprocess() and (
                type(e).__name__ in ("JaxRuntimeError", "XlaRuntimeError")
                or (isinstance(e, ValueError) and "Gloo" in str(e))):  # a CPU collective
            # A collective failed: another process of the run died or cannot be reached.
            print(f"jaxrl: error: process {distributed.process_index()} lost contact with "
                  f"another process of this run ({_one_line(e)[:200]}); the last checkpoint "
                  f"is kept, continue with --resume", file=sys.stderr)
            distributed.abandon(1)  # JAX's exit-time barrier would wait for the lost one
        if isinstance(e, OSError):  # a full disk, a permission taken away mid-run
            print(f"jaxrl: error: {e.strerror or e}"
                  f"{': ' + str(e.filename) if getattr(e, 'filename', None) else ''}",
                  file=sys.stderr)
            return 1
        raise


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return text or type(e).__name__


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
