"""``Result``: a finished (or stopped) run in memory: metrics, state, summaries, pictures."""

from __future__ import annotations

import dataclasses
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from jaxrl.core import metrics as M
from jaxrl.output.logging import human, table
from jaxrl.runs.rundir import RunSpec

__all__ = ["Result"]


@dataclasses.dataclass
class Result:
    """A finished (or stopped) run.

    Attributes:
        spec: what was run (``RunSpec``).
        config: the algorithm's resolved ``Config``.
        agent: the ``Agent`` (its ``act`` runs the learned policy).
        state: the final training state, every leaf with a leading ``seeds`` axis.
        metrics: ``{name: array[seeds, updates]}`` for every metric the algorithm reports.
        compile_seconds: time spent compiling.
        run_seconds: time spent training (after compilation).
        run_dir: where the run's files are, if anywhere.
        env, env_params: the environment trained on.
        bad_seeds: seeds whose loss or parameters became non-finite (left out of the
            summary; only with ``on_nonfinite="mask"``).
        stopped_by: why a callback stopped the run before its last update (its
            ``on_chunk`` returned ``False``, e.g. ``StopOnReturn``), else None. The run
            directory holds a checkpoint there: ``jaxrl.resume`` continues it.
    """

    spec: RunSpec
    config: Any
    agent: Any
    state: Any
    metrics: dict[str, np.ndarray]
    compile_seconds: float = float("nan")
    run_seconds: float = float("nan")
    run_dir: Path | None = None
    env: Any = None
    env_params: Any = None
    bad_seeds: tuple[int, ...] = ()
    stopped_by: str | None = None

    @property
    def algorithm(self) -> str:
        return self.spec.algorithm

    @property
    def env_name(self) -> str:
        return self.spec.env

    @property
    def seeds(self) -> int:
        return self.spec.seeds

    @property
    def updates_done(self) -> int:
        return int(self.metrics["env_steps"].shape[1]) if "env_steps" in self.metrics else 0

    @property
    def complete(self) -> bool:
        return self.updates_done >= self.spec.num_updates

    @property
    def params(self) -> Any:
        """The learned parameters (``state.params`` when the state has them), seeds-batched."""
        return getattr(self.state, "params", self.state)

    @property
    def env_steps(self) -> np.ndarray:
        """Env steps of each seed after each update, ``int64[seeds, updates]``.

        Seeds can differ (episodes of different lengths per update, as in REINFORCE).
        """
        if not self.updates_done:
            return np.zeros((self.seeds, 0), np.int64)
        return np.asarray(self.metrics["env_steps"]).astype(np.int64)

    @property
    def steps_per_seed(self) -> np.ndarray:
        """Env steps each seed has taken in all, ``int64[seeds]``."""
        return M.env_steps(self.metrics) if self.updates_done else np.zeros(self.seeds, np.int64)

    @property
    def _good(self) -> np.ndarray:
        good = np.ones(self.seeds, bool)
        good[list(self.bad_seeds)] = False
        return good

    @property
    def acting_seeds(self) -> tuple[int, ...]:
        """The seeds whose policy can act: not masked in training (``bad_seeds``), and
        every float leaf of their learned parameters (``params``) finite."""
        import jax

        ok = self._good.copy()
        for leaf in jax.tree.leaves(self.params):
            if hasattr(leaf, "dtype") and jax.dtypes.issubdtype(leaf.dtype, np.floating):
                x = np.asarray(leaf).reshape(self.seeds, -1)
                ok &= np.isfinite(x).all(axis=1)
        return tuple(int(s) for s in np.nonzero(ok)[0])

    def require_acting(self, what: str, seed: int | None = None) -> tuple[int, ...]:
        """``acting_seeds``, or ``RunError`` (one line naming ``what``) when no seed can
        act, or when ``seed`` is given and is not one of them."""
        from jaxrl.errors import RunError

        acting = self.acting_seeds
        if not acting:
            raise RunError(f"cannot {what}: every seed of this run has non-finite parameters "
                           f"(masked by --on-nonfinite mask, or damaged); there is no policy")
        if seed is not None and seed not in acting:
            raise RunError(f"cannot {what} seed {seed}: its parameters are non-finite "
                           f"(masked by --on-nonfinite mask); seeds that can act: "
                           f"{', '.join(map(str, acting))}")
        return acting

    @property
    def final_return(self) -> np.ndarray:
        """Per seed, the mean return of the episodes that ended in the last 5 % of updates.

        Episodes are weighted equally (``jaxrl.core.metrics.final_returns``). NaN for a seed
        with no episode in that window, and for a seed masked as non-finite.
        """
        if not self.updates_done:
            return np.full(self.seeds, np.nan)
        out = M.final_returns(self.metrics["episode_return"], self.metrics["episodes"],
                              M.final_window(self.updates_done))
        return np.where(self._good, out, np.nan)

    @property
    def steps_per_second(self) -> float:
        """Environment steps per second of training, all seeds together."""
        if not self.updates_done or not self.run_seconds > 0:
            return float("nan")
        return float(np.sum(self.steps_per_seed)) / self.run_seconds

    def _final(self) -> tuple[np.ndarray, bool]:
        per_step = M.continuing(self.metrics)
        if per_step:
            return np.where(self._good, M.final_rewards(self.metrics), np.nan), True
        return self.final_return, False

    def summary(self) -> str:
        """The end-of-run table: final return over seeds, wall times, throughput.

        For an environment whose episodes never end (a bandit: every step is one
        pull), the table shows the mean reward per step over the same window instead.
        """
        fr, per_step = self._final()
        ok = fr[np.isfinite(fr)]
        if ok.size:
            mean_std = f"{ok.mean():.2f} ± {ok.std():.2f}"
            lo, hi = f"{ok.min():.2f}", f"{ok.max():.2f}"
        else:
            mean_std = lo = hi = "n/a"
        steps = self.steps_per_seed
        steps_text = "0"
        if steps.size:
            steps_text = f"{int(steps.min()):,}" if steps.min() == steps.max() else \
                f"{int(steps.min()):,}-{int(steps.max()):,}"  # exact: the count matters
        row = [
            self.algorithm, self.env_name, self.seeds, steps_text, mean_std, lo, hi,
            f"{self.compile_seconds:.1f} s", f"{self.run_seconds:.1f} s",
            human(self.steps_per_second) if math.isfinite(self.steps_per_second) else "n/a",
        ]
        text = table(
            ["algorithm", "env", "seeds", "env steps/seed",
             "final reward/step" if per_step else "final return", "min", "max",
             "compile", "run", "steps/s"],
            [row],
        )
        what = ("final reward/step: mean reward per step (no episode ever ended) in the last"
                if per_step else "final return: mean return of episodes ending in the last")
        note = (f"{what} {M.FINAL_WINDOW:.0%} of updates, mean ± std over seeds; "
                f"compile: initialising and compiling, before the first update; steps/s counts all "
                f"seeds, compile time excluded")
        if self.bad_seeds:
            note += (f"\nleft out: seed(s) {', '.join(map(str, self.bad_seeds))}, whose loss or "
                     f"parameters became non-finite")
        if not self.complete:
            why = f": {self.stopped_by}" if self.stopped_by else ""
            note += (f"\n(stopped after {self.updates_done} of {self.spec.num_updates} "
                     f"updates{why})")
        return text + "\n" + note

    def __repr__(self) -> str:
        fr = self.final_return
        why = f", stopped early: {self.stopped_by}" if self.stopped_by else ""
        return (f"Result({self.algorithm} on {self.env_name}, {self.seeds} seeds, "
                f"{self.updates_done}/{self.spec.num_updates} updates, "
                f"final return {np.nanmean(fr) if np.isfinite(fr).any() else float('nan'):.2f}"
                f"{why})")

    def plot(self, path: str | os.PathLike | None = None, **kwargs: Any) -> Any:
        """The learning curve (mean and spread over seeds vs env steps); saved if ``path``.

        Returns the matplotlib ``Figure``.
        """
        from jaxrl.output.plotting import learning_curve

        return learning_curve(
            self.metrics, title=f"{self.algorithm} on {self.env_name} ({self.seeds} seeds)",
            path=path, **kwargs,
        )

    def evaluate(self, episodes: int = 10, greedy: bool = True, seed: int = 0,
                 max_steps: int | None = None, start: str = "auto") -> Any:
        """Play ``episodes`` episodes with every seed's policy (``jaxrl.runs.evaluation.evaluate_seeds``).

        Returns an ``EvalResult`` with ``[seeds, episodes]`` arrays, one row per seed of
        ``acting_seeds``: a seed whose parameters are non-finite (masked by
        ``on_nonfinite="mask"``) is left out. ``start="auto"`` plays a bandit run on the
        bandit each seed trained on.

        Raises:
            RunError: no seed can act, a bad argument, or an evaluation too large for
                the memory available (estimated before anything is allocated).
        """
        import jax

        from jaxrl.errors import RunError
        from jaxrl.runs.evaluation import evaluate_seeds

        acting = self.require_acting("evaluate")
        state = self.state if len(acting) == self.seeds else \
            jax.tree.map(lambda x: x[np.asarray(acting)], self.state)

        env, env_params = self.env, self.env_params
        if env is None:
            from jaxrl.runs.build import make_env

            env, env_params = make_env(self.spec.env, self.spec.env_options, self.spec.obs_noise)
        try:
            return evaluate_seeds(self.agent, state, env, env_params, episodes=episodes,
                                  greedy=greedy, seed=seed, max_steps=max_steps, start=start)
        except ValueError as e:
            raise RunError(str(e).splitlines()[0]) from None

    def save(self, run_dir: str | os.PathLike, overwrite: bool = False) -> Path:
        """Write the run directory (config, metrics CSV, curve, checkpoint, events, summary)."""
        from jaxrl.runs.rundir import CURVE_FILE, RunDir

        with RunDir.create(run_dir, overwrite=overwrite) as rd:
            rd.write_config(self.spec)
            rd.open_logs(M.metric_columns(self.metrics), self.spec, None)
            if self.updates_done:
                rd.append(1, {k: self.metrics[k] for k in M.metric_columns(self.metrics)})
            rd.save_checkpoint(self.spec, self.state, self.updates_done,
                               [int(s) for s in self.steps_per_seed])
            self.plot(rd.path / CURVE_FILE)
            rd.write_summary(self.summary_json(), self.complete)
            self.run_dir = rd.path
        return self.run_dir

    def summary_json(self) -> dict[str, Any]:
        fr, per_step = self._final()
        finite = np.isfinite(fr)
        return {
            "algorithm": self.algorithm,
            "env": self.env_name,
            "seeds": self.seeds,
            "updates_done": self.updates_done,
            "num_updates": self.spec.num_updates,
            "env_steps_per_seed": [int(x) for x in self.steps_per_seed],
            "final_window": M.FINAL_WINDOW,
            "final_is_reward_per_step": per_step,
            "final_return": [None if not math.isfinite(x) else float(x) for x in fr],
            "final_return_mean": float(np.mean(fr[finite])) if finite.any() else None,
            "final_return_std": float(np.std(fr[finite])) if finite.any() else None,
            "bad_seeds": list(self.bad_seeds),
            "stopped_by": self.stopped_by,
            "compile_seconds": self.compile_seconds,
            "run_seconds": self.run_seconds,
            "steps_per_second": self.steps_per_second,
        }
