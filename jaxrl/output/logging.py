"""Run logging outside the compiled program: TensorBoard, progress display, formatting.

(``metrics.csv`` belongs to the run directory: ``jaxrl.runs.rundir.MetricsWriter``.)

Nothing here runs inside ``jit``: the training driver hands over numpy arrays after
each compiled chunk.

* ``TensorBoardLogger``: seed-mean scalars (x = env steps), the spread over seeds,
  one run per seed and the hyperparameters, written by ``tensorboardX``.
* ``Progress``: a live line drawn with ``rich`` on a terminal (compile timer, bar,
  steps/s, return ± spread, ETA); sparse plain lines in a pipe or CI log.
* ``StopOnReturn``: a callback that stops training once a target return is reached.
* ``human``, ``duration``, ``table``: number, time and table formatting.
"""

from __future__ import annotations

import itertools
import math
import os
import re
import socket
import struct
import sys
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any, cast

import numpy as np

# ---------------------------------------------------------------------------------
# Seed means (shared by TensorBoard and the experiment trackers)

STD_SUFFIX = "_std_over_seeds"


def metric_tag(name: str) -> str:
    """Where a metric goes in TensorBoard / W&B / MLflow.

    ``train/``: returns, rewards and episode statistics; ``loss/``: losses;
    ``stats/``: everything else (entropy, KL, learning rate, gradient norm...).
    """
    if name.startswith("episode") or "return" in name or "reward" in name:
        return f"train/{name}"
    if "loss" in name:
        return f"loss/{name}"
    return f"stats/{name}"


def mean_steps(env_steps: np.ndarray) -> np.ndarray:
    """The x value of seed-mean curves: mean env steps over seeds, rounded half up.

    ``env_steps`` is ``[seeds, n]`` (or ``[seeds]``); returns ``int64[n]`` (or a
    0-d array). Strictly increasing when every seed's steps are, so a resumed
    run's points never land on its earlier ones.
    """
    mean = np.mean(np.asarray(env_steps, np.float64), axis=0)
    return np.floor(mean + 0.5).astype(np.int64)


def seed_means(metrics: Mapping[str, np.ndarray]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Per update: the x step and ``{tag: mean over seeds}`` of ``metrics[name]: [seeds, n]``.

    Returns ``(steps, values)``: ``steps`` is ``mean_steps(metrics["env_steps"])``,
    ``values`` maps ``metric_tag(name)`` to ``float64[n]`` (NaN where no seed has a
    value, e.g. no episode ended) for every metric but ``env_steps``. With more
    than one seed, ``train/episode_return_std_over_seeds`` is the spread of the
    seeds' returns.
    """
    if "env_steps" not in metrics:
        raise KeyError("metrics need 'env_steps': [seeds, n] env steps of each seed")
    steps = mean_steps(metrics["env_steps"])
    values: dict[str, np.ndarray] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: no episode ended
        for name in metrics:
            if name == "env_steps":
                continue
            arr = np.asarray(metrics[name], np.float64)
            values[metric_tag(name)] = np.nanmean(arr, axis=0)
            if name == "episode_return" and arr.shape[0] > 1:
                values[metric_tag(name) + STD_SUFFIX] = np.nanstd(arr, axis=0)
    return steps, values


# ---------------------------------------------------------------------------------
# TensorBoard

MAX_SEED_RUNS = 16  # per-seed runs are on by default up to this many seeds
EVENT_FILE_SUFFIX = ".jaxrl"  # every event file written here ends in it
_file_ids = itertools.count()


def _purge_steps(purge_step: int | Sequence[int] | np.ndarray | None,
                 seeds: int) -> tuple[int | None, list[int | None]]:
    """``purge_step`` for the seed-mean writer and for each seed's writer."""
    if purge_step is None:
        return None, [None] * seeds
    arr = np.asarray(purge_step, np.int64)
    if arr.ndim == 0:
        return int(arr), [int(arr)] * seeds
    if arr.shape != (seeds,):
        raise ValueError(f"purge_step needs one step per seed ({seeds}), got shape {arr.shape}")
    return int(mean_steps(arr)), [int(s) for s in arr]


class TensorBoardLogger:
    """Scalars of a multi-seed run as TensorBoard event files (via ``tensorboardX``).

    Layout under ``logdir``: the seed-mean of every metric per update (tags from
    ``metric_tag``: ``train/episode_return``, ``loss/...``, ``stats/...``) plus
    ``train/episode_return_std_over_seeds``, at step = mean env steps over seeds;
    and with ``per_seed``, one run per seed in ``seed_<i>/`` with that seed's
    values at that seed's own env steps, so TensorBoard draws one curve per seed.
    Non-finite values (no episode ended in the update) are left out.

    Args:
        logdir: directory of the event files (created if needed).
        seeds: number of seeds in the metrics.
        per_seed: write the per-seed runs; default: when ``1 < seeds <= 16``.
        purge_step: when resuming, the first step that may be written again:
            TensorBoard then hides the events at or after it that earlier files
            hold (written after the checkpoint, before a crash). An int applies
            to every writer; a sequence gives each seed's (the seed-mean writer
            uses their ``mean_steps``). For a checkpoint taken at env steps ``s``
            (per seed) pass ``s + 1``: ``purge_after(s)``.
        flush_secs: the writer flushes at least this often (``flush`` forces it).

    Each writer opens a new file: tensorboardX names it ``events.out.tfevents.<time>.<host>``
    followed by the suffix given here, ``.<nanoseconds>.<pid>.<counter>.jaxrl``: it keeps
    two files opened in the same second apart (tensorboardX would truncate the first)
    and sorted in the order they were opened (TensorBoard reads them in name order),
    and marks them as jaxrl's (``EVENT_FILE_SUFFIX``).
    """

    def __init__(self, logdir: str | os.PathLike, seeds: int = 1, *, per_seed: bool | None = None,
                 purge_step: int | Sequence[int] | np.ndarray | None = None,
                 flush_secs: int = 30):
        self.logdir = Path(logdir)
        self.seeds = int(seeds)
        self.per_seed = (1 < self.seeds <= MAX_SEED_RUNS) if per_seed is None else bool(per_seed)
        mean_purge, seed_purge = _purge_steps(purge_step, self.seeds)

        def writer(path: Path, purge: int | None) -> _EventFile:
            suffix = f".{time.time_ns():020d}.{os.getpid()}.{next(_file_ids)}{EVENT_FILE_SUFFIX}"
            return _EventFile(path, suffix, purge, flush_secs)

        self.logdir.mkdir(parents=True, exist_ok=True)
        # Event files are written only into real folders, never through a link elsewhere.
        for d in [self.logdir] + [self.logdir / f"seed_{i}"
                                  for i in range(self.seeds if self.per_seed else 0)]:
            if d.is_symlink() or (d.exists() and not d.is_dir()):
                from jaxrl.errors import RunError

                raise RunError(f"{d} is a symbolic link or a file, not a folder jaxrl made; "
                               f"jaxrl never writes through links: remove it first")
        self._mean = writer(self.logdir, mean_purge)
        self._seeds = ([writer(self.logdir / f"seed_{i}", seed_purge[i]) for i in range(self.seeds)]
                       if self.per_seed else [])
        self.last_step: int | None = None
        self._resume_step = mean_purge or 0

    @staticmethod
    def purge_after(env_steps: int | Sequence[int] | np.ndarray) -> np.ndarray:
        """``purge_step`` for a run resumed from a checkpoint taken at ``env_steps`` (per seed)."""
        return np.asarray(env_steps, np.int64) + 1

    def log(self, metrics: Mapping[str, np.ndarray]) -> None:
        """Write ``metrics[name]: [seeds, n]`` (``env_steps`` included) for ``n`` updates."""
        steps, means = seed_means(metrics)
        tags = list(means)
        columns = np.stack([means[t] for t in tags], axis=1) if tags else np.zeros((len(steps), 0))
        self._mean.scalar_rows(steps, tags, columns)
        if len(steps):
            self.last_step = int(steps[-1])
        if not self._seeds:
            return
        names = [k for k in metrics if k != "env_steps"]
        seed_tags = [metric_tag(k) for k in names]
        env_steps = np.asarray(metrics["env_steps"])
        stacked = (np.stack([np.asarray(metrics[k], np.float64) for k in names], axis=2)
                   if names else np.zeros(env_steps.shape + (0,)))
        for s, w in enumerate(self._seeds):
            w.scalar_rows(env_steps[s], seed_tags, stacked[s])

    def hparams(self, params: Mapping[str, Any]) -> None:
        """Record the run's hyperparameters for TensorBoard's HParams tab.

        ``params`` maps names to scalars (other values are shown as text). Only the
        session start is written (no experiment summary), so TensorBoard builds the
        HParams table from every run under its logdir, with this run's scalars
        (``final/return`` written by ``end``, the curves' last values) as metrics.
        """
        from tensorboardX.summary import hparams

        clean = {str(k): _hparam_value(v) for k, v in params.items()}
        _, session_start, _ = hparams({k: v for k, v in clean.items() if v is not None}, {})
        self._mean.add_summary(session_start)

    def end(self, final: Mapping[str, float] | None = None, *, step: int | None = None,
            status: str = "success") -> None:
        """Write the final metrics (``{tag: value}``, non-finite ones skipped) and close the session.

        ``step`` defaults to the last step logged. ``status`` is the HParams session
        status: ``"success"``, ``"failure"`` or ``"aborted"``; ``None`` leaves the
        session open (a stopped run that will be resumed).
        """
        from tensorboardX.proto.api_pb2 import Status
        from tensorboardX.proto.plugin_hparams_pb2 import HParamsPluginData, SessionEndInfo
        from tensorboardX.proto.summary_pb2 import Summary, SummaryMetadata

        if step is None:  # after the last point, or just before where a resumed run goes on
            step = self.last_step if self.last_step is not None else max(self._resume_step - 1, 0)
        if final:
            tags = list(final)
            self._mean.scalar_rows([step], tags,
                                   np.array([[_to_float(final[t]) for t in tags]], np.float64))
        if status is not None:
            info = SessionEndInfo(status=Status.Value(f"STATUS_{status.upper()}"))
            content = HParamsPluginData(session_end_info=info, version=0)
            metadata = SummaryMetadata(plugin_data=SummaryMetadata.PluginData(
                plugin_name="hparams", content=content.SerializeToString()))
            self._mean.add_summary(Summary(value=[
                Summary.Value(tag="_hparams_/session_end_info", metadata=metadata)]))

    def flush(self) -> None:
        """Write everything logged so far to disk (call it with each checkpoint)."""
        for w in [self._mean, *self._seeds]:
            w.flush()

    def close(self) -> None:
        for w in [self._mean, *self._seeds]:
            w.close()

    def __enter__(self) -> "TensorBoardLogger":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class _EventFile:
    """One TensorBoard event file, written in line by jaxrl itself: each event is encoded
    here (the few protocol-buffer fields a scalar event has, by hand; other summaries by
    their protobuf classes) and framed as a TFRecord (length, data, masked CRC-32C from
    the ``crc32c`` package, tensorboardX's pure-Python one without it), straight into the
    file's buffer, with no queue or thread in between. (tensorboardX's ``SummaryWriter``
    builds a protobuf object per value and hands every event through a multiprocessing
    queue and a thread: seconds per run at one event per update and seed.) ``flush``
    puts everything written so far on disk (done at least every ``flush_secs`` while
    events come in, and by every checkpoint). ``purge_step``: the first events say that a
    resumed run goes on from that step (TensorBoard then hides the events at or after it
    that earlier files hold), as ``SummaryWriter(purge_step=...)`` does. The file is named
    as tensorboardX names its files."""

    def __init__(self, logdir: Path, suffix: str, purge_step: int | None = None,
                 flush_secs: float = 30.0):
        logdir.mkdir(parents=True, exist_ok=True)
        now = time.time()
        self.path = logdir / f"events.out.tfevents.{str(now)[:10]}.{socket.gethostname()}{suffix}"
        self._file = open(self.path, "wb")  # noqa: SIM115 - closed by close()
        self._flush_secs = float(flush_secs)
        self._flushed = time.monotonic()
        self._prefixes: dict[str, bytes] = {}
        self._event(_pb_bytes(3, b"brain.Event:2"), wall_time=now)  # file_version
        if purge_step is not None:
            self._event(_pb_bytes(3, b"brain.Event:2"), step=purge_step)
            # session_log (field 7) {status (field 1) = START (1)}
            self._event(_pb_bytes(7, b"\x08\x01"), step=purge_step)

    def add_summary(self, summary: Any, step: int | None = None) -> None:
        """A protobuf ``Summary`` (hparams, session end) as an event."""
        self._event(_pb_bytes(5, summary.SerializeToString()), step=step)

    def scalar_rows(self, steps: Sequence[int] | np.ndarray, tags: Sequence[str],
                    rows: np.ndarray) -> None:
        """One event per row ``u``: ``tags[i]: rows[u, i]`` (float32, as TensorBoard keeps
        them) at step ``steps[u]``; non-finite values are left out, and a row with none
        finite makes no event. (One event per step holding every tag: one event per value
        would be about 20x slower for a run with many seeds and metrics.)"""
        rows = np.asarray(rows, np.float64).reshape(len(steps), len(tags))
        ok = np.isfinite(rows)
        every = ok.all(axis=1)
        raw = np.ascontiguousarray(rows, "<f4").tobytes()
        prefixes = [self._prefix(t) for t in tags]
        width = 4 * len(tags)
        for u, step in enumerate(steps):
            at = u * width
            if every[u]:
                body = b"".join([p + raw[at + 4 * i:at + 4 * i + 4]
                                 for i, p in enumerate(prefixes)])
            elif ok[u].any():
                body = b"".join([p + raw[at + 4 * i:at + 4 * i + 4]
                                 for i, p in enumerate(prefixes) if ok[u, i]])
            else:
                continue
            self._event(_pb_bytes(5, body), step=int(step))

    def _prefix(self, tag: str) -> bytes:
        """A ``Summary.value`` entry up to its float: field 1 {tag (field 1), simple_value
        (field 2, fixed32)}, whose 4 bytes follow."""
        prefix = self._prefixes.get(tag)
        if prefix is None:
            inner_head = _pb_bytes(1, tag.encode()) + b"\x15"
            prefix = self._prefixes[tag] = b"\x0a" + _varint(len(inner_head) + 4) + inner_head
        return prefix

    def _event(self, payload: bytes, step: int | None = None,
               wall_time: float | None = None) -> None:
        # Event: wall_time (field 1, double), step (field 2, varint), then the payload field
        head = b"\x09" + struct.pack("<d", time.time() if wall_time is None else wall_time)
        if step is not None:
            head += b"\x10" + _varint(int(step))
        data = head + payload
        length = struct.pack("<Q", len(data))
        self._file.write(length + struct.pack("<I", _masked_crc(length)) + data
                         + struct.pack("<I", _masked_crc(data)))
        if time.monotonic() - self._flushed >= self._flush_secs:
            self.flush()

    def flush(self) -> None:
        self._file.flush()
        os.fsync(self._file.fileno())
        self._flushed = time.monotonic()

    def close(self) -> None:
        if not self._file.closed:
            self.flush()
            self._file.close()


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _pb_bytes(field: int, data: bytes) -> bytes:
    """A length-delimited protobuf field."""
    return _varint(field << 3 | 2) + _varint(len(data)) + data


def _crc32c_function() -> Callable[[bytes], int]:
    try:
        from crc32c import crc32c  # the C implementation

        return cast(Callable[[bytes], int], crc32c)
    except ImportError:  # pragma: no cover - crc32c is a dependency
        from tensorboardX.crc32c import crc32c as slow

        return cast(Callable[[bytes], int], slow)


_CRC32C = _crc32c_function()


def _masked_crc(data: bytes) -> int:
    crc = _CRC32C(data) & 0xFFFFFFFF
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _to_float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def _hparam_value(value: Any) -> bool | int | float | str | None:
    """A value TensorBoard's HParams tab can hold: bool, number or text (None: left out)."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    text = str(value)
    return text if len(text) <= 200 else text[:197] + "..."


# ---------------------------------------------------------------------------------
# Number and time formatting

# ---------------------------------------------------------------------------------
# Early stopping (a training callback: jaxrl.output.tracking describes the protocol)

class StopOnReturn:
    """A callback that stops training once the return reaches ``target``.

    ``jaxrl.train(..., callbacks=[StopOnReturn(195)])`` or ``jaxrl train ...
    --stop-at-return 195``. After each chunk it pools, per seed, the episodes that ended
    in the last ``window`` updates (each episode weighs the same, as ``final_return``
    does) and returns ``False`` from ``on_chunk`` (which stops the run after that chunk,
    checkpointed and resumable; ``Result.stopped_by`` holds ``stop_reason``) when:

    * ``over="mean"``: the mean over seeds is ``>= target``;
    * ``over="all seeds"`` (or ``"all"``): every seed's is ``>= target``.

    No decision is taken before ``window`` updates were seen, nor while a seed has no
    episode that ended in the window (an environment whose episodes never end never
    stops).

    Args:
        target: the return to reach (a finite number).
        over: ``"mean"`` or ``"all seeds"``.
        window: updates pooled per seed (>= 1).

    Raises:
        RunError: a bad ``target``, ``over`` or ``window``.
    """

    OVER = ("mean", "all seeds", "all")

    def __init__(self, target: float, *, over: str = "mean", window: int = 10):
        from jaxrl.errors import RunError

        if isinstance(target, bool) or not isinstance(target, (int, float, np.number)) \
                or not math.isfinite(float(target)):
            raise RunError(f"StopOnReturn needs a finite target return, got {target!r}")
        if over not in self.OVER:
            raise RunError(f"StopOnReturn(over=...) is 'mean' or 'all seeds', got {over!r}")
        if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or window < 1:
            raise RunError(f"StopOnReturn(window=...) is a number of updates >= 1, "
                           f"got {window!r}")
        self.target = float(target)
        self.over = "all seeds" if over == "all" else over
        self.window = int(window)
        self.stop_reason: str | None = None
        self._returns: np.ndarray | None = None  # [seeds, <= window] of the last updates
        self._episodes: np.ndarray | None = None

    def __repr__(self) -> str:
        return f"StopOnReturn({self.target:g}, over={self.over!r}, window={self.window})"

    def on_start(self, info: Any) -> None:
        """A new (or resumed) run: nothing seen yet."""
        self.stop_reason, self._returns, self._episodes = None, None, None

    def on_chunk(self, first_update: int, metrics: Mapping[str, np.ndarray]) -> bool:
        """``False`` (stop) once the return over the last ``window`` updates reaches
        ``target``; ``True`` (go on) otherwise."""
        from jaxrl.core.metrics import final_returns

        ret = np.asarray(metrics["episode_return"], np.float64)
        eps = np.asarray(metrics.get("episodes", np.isfinite(ret).astype(np.int64)))
        last = first_update + ret.shape[1] - 1  # the chunk's last update
        if self._returns is not None and self._episodes is not None:
            ret = np.concatenate([self._returns, ret], axis=1)
            eps = np.concatenate([self._episodes, eps], axis=1)
        self._returns, self._episodes = ret[:, -self.window:], eps[:, -self.window:]
        if self._returns.shape[1] < self.window:
            return True
        per_seed = final_returns(self._returns, self._episodes, self.window)
        if not np.isfinite(per_seed).all():
            return True
        value = float(per_seed.mean()) if self.over == "mean" else float(per_seed.min())
        if value < self.target:
            return True
        what = "mean return over seeds" if self.over == "mean" else "lowest seed's return"
        self.stop_reason = (f"StopOnReturn: {what} {value:.4g} >= {self.target:g} "
                            f"(episodes of updates {last - self.window + 1}-{last})")
        return False

    def on_checkpoint(self, updates_done: int) -> None:
        """Nothing to flush."""

    def on_end(self, summary: Mapping[str, Any]) -> None:
        """Nothing to release."""


_UNITS = ("", "k", "M", "G", "T", "P")


def human(n: float) -> str:
    """A number as at most three digits and a unit, like ``ls -h``.

    ``999 -> '999'``, ``999.5 -> '1.0k'``, ``12_345 -> '12k'``, ``999_936 -> '1.0M'``,
    ``1_234_567 -> '1.2M'``: one decimal below 10, none above, and a mantissa that
    would round to 1000 moves to the next unit. Non-finite numbers as ``nan``/``inf``.
    """
    n = float(n)
    if not math.isfinite(n):
        return "nan" if math.isnan(n) else ("inf" if n > 0 else "-inf")
    sign = "-" if n < 0 else ""
    n = abs(n)
    for i, unit in enumerate(_UNITS):
        m = n / 1000.0 ** i
        text = f"{m:.0f}" if i == 0 or m >= 9.95 else f"{m:.1f}"
        if float(text) < 1000 or i == len(_UNITS) - 1:
            return sign + text + unit
    raise AssertionError("unreachable")


def duration(seconds: float) -> str:
    """``75 -> '1:15'``, ``3725 -> '1:02:05'``; negative with a sign, unknown as ``'-:--'``."""
    seconds = float(seconds)
    if not math.isfinite(seconds):
        return "-:--"
    if seconds < 0:
        return "-" + duration(-seconds)
    total = math.floor(seconds + 0.5)
    m, s = divmod(total, 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


# ---------------------------------------------------------------------------------
# Progress


def _return_text(mean_return: float, spread: float) -> str:
    if not math.isfinite(mean_return):
        return "return n/a"
    text = f"return {mean_return:.2f}"
    if math.isfinite(spread):
        text += f" ± {spread:.2f}"
    return text


class Progress:
    """Training progress on ``stream`` (stderr by default), drawn outside the compiled program.

    On a terminal (``rich``): a spinner with elapsed seconds while compiling, then
    ``compiled in 12.3 s`` and one live line: bar, percent, env steps, steps/s,
    return ± spread over seeds, elapsed time and ETA. Fields are dropped (least
    useful first) so the line never wraps, whatever the terminal's width.

    Elsewhere (a pipe, a CI log, a file): plain lines. One when training starts,
    then one per 10% of the run or per ``heartbeat`` seconds, but never two
    within ``interval`` seconds, and the final one.

    Args:
        label: start of every line (``"ppo CartPole-v1 x4"``).
        total_updates: updates in the whole run.
        stream: where to write (a terminal or not, as ``isatty`` says).
        enabled: False: print nothing at all.
        interval: least seconds between two plain lines.
        heartbeat: most seconds without a plain line while training.
        console: a ``rich.console.Console`` to draw on (overrides ``stream``;
            ``Console(force_terminal=True, width=60)`` draws the live line).
        clock: seconds, for tests (``time.perf_counter``).
    """

    def __init__(self, label: str, total_updates: int, stream: IO[str] | None = None,
                 enabled: bool = True, interval: float = 5.0, heartbeat: float = 60.0, *,
                 console: Any = None, clock: Callable[[], float] = time.perf_counter):
        self.label = label
        self.total = max(int(total_updates), 1)
        self.enabled = bool(enabled)
        self.interval = float(interval)
        self.heartbeat = float(heartbeat)
        self._clock = clock
        self._console = console
        self._stream = stream
        self._live: Any = None
        self._spinner: Any = None
        self._last_draw = -math.inf
        # What the live line shows; the refresh thread reads it.
        self._status: tuple[str, float] | None = None   # (text, since)
        self._compile_since: float | None = None
        self._start: float | None = None
        self._start_steps = 0.0
        self._start_updates = 0
        self._view: dict[str, Any] | None = None
        self._last_line = -math.inf
        self._next_milestone = 0.0
        self._updates_shown = False

    @property
    def console(self) -> Any:
        if self._console is None:
            from rich.console import Console

            self._console = (Console(file=self._stream, highlight=False) if self._stream is not None
                             else Console(stderr=True, highlight=False))
        return self._console

    @property
    def tty(self) -> bool:
        """Drawing a live line (a terminal or notebook), rather than plain lines."""
        if not self.enabled:
            return False
        c = self.console
        return c.is_jupyter or (c.is_terminal and not c.is_dumb_terminal)

    # -- public API used by the driver
    def message(self, text: str) -> None:
        """A status (``initialising...``); on a terminal shown with a spinner and elapsed time."""
        if not self.enabled:
            return
        if self.tty:
            if self._view is not None:
                self.note(text)
            else:
                self._status = (text, self._clock())
                self._ensure_live()
                self._redraw(force=True)
        else:
            self._plain(text)

    def compiling(self, detail: str = "") -> None:
        """Start the compile timer: ``compiling (detail)...`` until ``start`` says how long it took."""
        self._compile_since = self._clock()
        self.message(f"compiling ({detail})..." if detail else "compiling...")

    def note(self, text: str) -> None:
        """A permanent line (above the live line on a terminal), never cut: a line wider
        than the terminal wraps between words."""
        if not self.enabled:
            return
        if self.tty:
            self.console.print(_wrapped(self.label, text), crop=False)
        else:
            self._plain(text)

    def start(self, steps_done: float = 0.0, updates_done: int = 0, *,
              compile_seconds: float | None = None) -> None:
        """Start the clock (after compilation, so steps/s is the running speed).

        ``steps_done`` / ``updates_done``: what a resumed run had already done.
        ``compile_seconds``: the time before training as the caller measured it (the
        result table's ``compile`` column: initialising the state and compiling), said
        as ``initialised and compiled in ... s``; without it, the time since
        ``compiling`` as ``compiled in ... s``.
        """
        now = self._clock()
        self._start = now
        self._start_steps = float(steps_done)
        self._start_updates = int(updates_done)
        compiled = None
        if self._compile_since is not None:
            compiled, self._compile_since = now - self._compile_since, None
        if self.enabled and self.tty and self._view is None:
            self._status = ("training...", now)
            self._ensure_live()
        if compile_seconds is not None:
            self.note(f"initialised and compiled in {compile_seconds:.1f} s")
        elif compiled is not None:
            self.note(f"compiled in {compiled:.1f} s")

    def update(self, updates_done: int, steps_done: float, mean_return: float,
               spread: float = float("nan"), final: bool = False) -> None:
        """Report ``updates_done`` of the total; ``steps_done`` counts all seeds' env steps."""
        if not self.enabled:
            return
        if self._start is None:
            self.start()
        now = self._clock()
        elapsed = now - self._start
        rate = (steps_done - self._start_steps) / elapsed if elapsed > 0 else float("nan")
        updates_rate = (updates_done - self._start_updates) / elapsed if elapsed > 0 else 0.0
        remaining = max(self.total - updates_done, 0)
        eta = remaining / updates_rate if updates_rate > 0 else float("nan")
        view = {
            "updates": int(updates_done), "frac": min(updates_done / self.total, 1.0),
            "steps": float(steps_done), "rate": rate, "ret": _return_text(mean_return, spread),
            "elapsed": elapsed, "eta": 0.0 if final else eta, "final": final, "at": now,
        }
        if self.tty:
            first = self._view is None
            self._status = None
            self._view = view
            self._ensure_live()
            if final:
                self._stop_live()
            else:
                self._redraw(force=first)
            return
        first = not self._updates_shown  # show at once that training runs
        due = (first or final or view["frac"] >= self._next_milestone
               or now - self._last_line >= self.heartbeat)
        if due and (first or final or now - self._last_line >= self.interval):
            self._updates_shown = True
            self._next_milestone = (math.floor(view["frac"] * 10 + 1e-9) + 1) / 10
            speed = f"{human(rate)} steps/s" if math.isfinite(rate) else "- steps/s"
            tail = (f"{duration(elapsed)} elapsed" if final
                    else f"{duration(elapsed)} elapsed, ETA {duration(eta)}")
            self._plain(f"{view['frac']:4.0%} update {updates_done}/{self.total} | "
                        f"{human(steps_done)} steps | {speed} | {view['ret']} | {tail}")

    def close(self) -> None:
        """Stop the live line (leaving its last state on screen)."""
        self._stop_live()

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- plain lines
    def _plain(self, text: str) -> None:
        file = self.console.file
        file.write(f"{self.label}: {text}\n")
        file.flush()
        self._last_line = self._clock()

    # -- live line
    def _ensure_live(self) -> None:
        if self._live is None:
            from rich.live import Live

            # Prints to the terminal while the line is live go above it; output sent
            # elsewhere (stdout to a file) is left alone.
            self._live = Live(_ProgressLine(self), console=self.console, refresh_per_second=4,
                              transient=False, redirect_stdout=_isatty(sys.stdout),
                              redirect_stderr=_isatty(sys.stderr))
            self._live.start()

    def _redraw(self, force: bool = False) -> None:
        # rich's thread redraws 4 times a second; this shows a new state at once too
        # (a phase change, or new numbers when the last redraw from here is 0.25 s old).
        now = self._clock()
        if self._live is not None and (force or now - self._last_draw >= 0.25):
            self._last_draw = now
            self._live.refresh()

    def _stop_live(self) -> None:
        if self._live is not None:
            live, self._live = self._live, None
            live.refresh()
            live.stop()

    def _fields(self, width: int) -> Any:
        """The live line for ``width`` columns (called by rich's refresh thread)."""
        from rich.progress_bar import ProgressBar
        from rich.spinner import Spinner
        from rich.table import Column, Table
        from rich.text import Text

        now = self._clock()
        status, view = self._status, self._view
        if view is None:
            text, since = status if status is not None else ("", now)
            if self._spinner is None:
                self._spinner = Spinner("dots")
            # The label, then the message, are cut to fit; never the timer after them.
            return Text.assemble(self._spinner.render(now), " ",
                                 _fit(self.label, text, width - 2, f" {now - since:.1f} s"))
        elapsed = view["elapsed"] if view["final"] else now - self._start
        eta = view["eta"]
        if not view["final"] and math.isfinite(eta):
            eta = max(eta - (now - view["at"]), 0.0)
        rate = view["rate"]
        # (key, text, style), in display order; PRIORITY says what to keep when narrow.
        fields = {
            "label": (self.label, "bold"),
            "pct": (f"{view['frac']:4.0%}", "magenta"),
            "updates": (f"{view['updates']}/{self.total}", ""),
            "steps": (f"{human(view['steps'])} steps", ""),
            "rate": (f"{human(rate)} steps/s" if math.isfinite(rate) else "- steps/s", "cyan"),
            "ret": (view["ret"], "green"),
            "elapsed": (duration(elapsed), "yellow"),
            "eta": ("done" if view["final"] else f"ETA {duration(eta)}", "cyan"),
        }
        order = ["label", "bar", "pct", "updates", "steps", "rate", "ret", "elapsed", "eta"]
        priority = ["pct", "ret", "bar", "eta", "rate", "label", "steps", "elapsed", "updates"]
        bar_min, bar_max = 10, 40
        chosen: set[str] = set()
        used = 0
        for key in priority:
            w = bar_min if key == "bar" else Text(fields[key][0]).cell_len
            extra = w + (1 if chosen else 0)  # one space between columns
            if used + extra <= width:
                chosen.add(key)
                used += extra
        if "pct" not in chosen:  # narrower than a percentage: just the number, cut
            return Text(fields["pct"][0].strip(), no_wrap=True, overflow="crop")
        bar_width = bar_min + min(width - used, bar_max - bar_min) if "bar" in chosen else 0
        keys = [k for k in order if k in chosen]
        grid = Table.grid(*[Column(no_wrap=True, overflow="crop") for _ in keys], padding=(0, 1))
        cells: list[Any] = []
        for key in keys:
            if key == "bar":
                cells.append(ProgressBar(total=self.total, completed=view["updates"],
                                         width=bar_width))
            else:
                cells.append(Text(fields[key][0], style=fields[key][1]))
        grid.add_row(*cells)
        return grid


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _fit(label: str, text: str, width: int, timer: str = "") -> Any:
    """``label: text timer`` in at most ``width`` cells: the label is shortened first
    (down to 8 cells), then the text; the timer is kept."""
    from rich.text import Text

    head, body, tail = Text(label, style="bold"), Text(text), Text(timer, style="cyan")
    spare = width - head.cell_len - 2 - body.cell_len - tail.cell_len
    if spare < 0:
        head.truncate(max(head.cell_len + spare, min(head.cell_len, 8)), overflow="ellipsis")
        body.truncate(max(width - head.cell_len - 2 - tail.cell_len, 0), overflow="ellipsis")
    line = Text.assemble(head, ": ", body, tail, no_wrap=True, overflow="ellipsis")
    line.truncate(max(width, 0), overflow="ellipsis")
    return line


def _wrapped(label: str, text: str) -> Any:
    """``label: text`` for a permanent line: wrapped between words at the console's
    width, never cut (a word wider than the whole line, such as a long path, is folded)."""
    from rich.text import Text

    return Text.assemble(Text(label, style="bold"), ": ", text, no_wrap=False, overflow="fold")


class _ProgressLine:
    """A rich renderable drawing ``Progress``'s current state at the console's width."""

    def __init__(self, progress: Progress):
        self.progress = progress

    def __rich_console__(self, console: Any, options: Any) -> Any:
        yield self.progress._fields(options.max_width)


_NUMERIC = re.compile(r"^[-+]?(\d[\d.,]*|nan|inf)(e[-+]?\d+)?[kMG]?( ± [\d.]+)?( s)?$")


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain text table with columns aligned (numbers right, text left)."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def fmt(row: Sequence[str], raw: Sequence[object] | None) -> str:
        parts = []
        for i, c in enumerate(row):
            numeric = raw is not None and (isinstance(raw[i], (int, float, np.number))
                                           or _NUMERIC.match(c) is not None)
            parts.append(c.rjust(widths[i]) if numeric else c.ljust(widths[i]))
        return "  ".join(parts).rstrip()

    lines = [fmt(cells[0], None), "  ".join("-" * w for w in widths)]
    lines += [fmt(c, r) for c, r in zip(cells[1:], rows)]
    return "\n".join(lines)
