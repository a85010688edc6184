"""The chunked driver: compile once, run updates in chunks, log between them, stop cleanly.

``jax.vmap`` over seeds of ``Agent.init`` gives a batched training state (split over
devices by ``jaxrl.parallel.devices.over_seeds``). One compiled function, ``chunk(state, n)``,
runs up to ``chunk_updates`` updates of every seed: a ``lax.scan`` of fixed length whose
body runs ``Agent.update`` while the iteration index is below the traced ``n`` (the
rest are skipped by ``lax.cond``). So any number of updates up to the chunk length costs
one compilation, every update executes the same compiled code whatever the chunk
boundaries, and a run stopped and resumed at any update ends bit-identical to an
uninterrupted one. Between chunks the host writes metrics, draws progress and saves
checkpoints while the next chunk already runs (JAX dispatch is asynchronous).

A checkpoint is written off the training path: the logs are flushed and described on the
main thread, then a thread of its own copies a device snapshot of the state to the host,
serialises, hashes and writes it (atomically, as ever: the old file or the new one,
whole) while the main thread goes on with the next chunks. One write is in flight at a
time; the run's first checkpoint (it may commit an overwrite), its last one and those of
several processes are written in line; a write's error is raised on the main thread, and
the run does not return (nor stop on Ctrl-C) before the write in flight is on disk.

Interrupts: the first Ctrl-C stops after the running chunk, with a checkpoint (during
compilation: before the first chunk); a second one aborts at once (exit 130), keeping
the last checkpoint. Non-finite losses or parameters stop the run (``TrainingError``)
without writing a checkpoint of the bad state, or, with ``on_nonfinite="mask"``, are
reported once per seed and left out of the summary.

Several processes (``jaxrl.parallel.processes``): every process runs this same loop on its
share of the seeds; each chunk's metrics are gathered to every process (so all take the
same decisions), Ctrl-C is agreed on before it is acted on, process 0 alone writes the
run directory, and on resume process 0 reads the checkpoint and sends it to the others.
A checkpoint records the process count; resuming with another count is refused.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from jaxrl.core import metrics as M
from jaxrl.errors import Interrupted, RunError, TrainingError
from jaxrl.output.logging import Progress
from jaxrl.output.tracking import CallbackList, RunInfo
from jaxrl.parallel import processes as distributed
from jaxrl.parallel.devices import over_seeds, to_global, to_host
from jaxrl.runs import memory
from jaxrl.runs.build import Built
from jaxrl.runs.result import Result
from jaxrl.runs.rundir import RunDir

__all__ = [
    "Interrupted", "chunk_function", "default_checkpoint_every", "default_chunk", "drive",
    "init_function", "seed_keys", "step_budget_note",
]


def seed_keys(seed: int, seeds: int) -> Any:
    """One key per seed: ``fold_in(key(seed), i)`` for ``i < seeds``."""
    import jax
    import jax.numpy as jnp

    base = jax.random.key(seed)
    return jax.vmap(lambda i: jax.random.fold_in(base, i))(jnp.arange(seeds))


def init_function(agent: Any) -> Callable[[Any], Any]:
    """``agent.init`` over a batch of seed keys (split over devices)."""
    return _over_seeds_of(agent, agent.init)


def _over_seeds_of(agent: Any, fn: Callable[..., Any], in_axes: Any = 0,
                   donate_argnums: tuple[int, ...] = ()) -> Any:
    """``over_seeds`` for ``agent``: seeds split over devices, or, for an agent that
    splits its own work (``Agent.devices``: an evolution population), every seed whole
    on all of those devices."""
    devices = getattr(agent, "devices", None)
    return over_seeds(fn, in_axes, devices=devices, replicate=devices is not None,
                      donate_argnums=donate_argnums)


def _finite(state: Any) -> Any:
    """bool[]: every float leaf of the learned parameters (or the whole state) is finite."""
    import jax
    import jax.numpy as jnp

    tree = getattr(state, "params", state)
    leaves = [x for x in jax.tree.leaves(tree)
              if hasattr(x, "dtype") and jnp.issubdtype(x.dtype, jnp.floating)]
    if not leaves:
        return jnp.asarray(True)
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in leaves]))


def chunk_function(agent: Any, length: int, *,
                   donate: bool = False) -> Callable[[Any, Any], tuple[Any, dict, Any]]:
    """``chunk(state, n) -> (state, metrics, finite)``: ``n <= length`` updates of every seed.

    ``state`` has a leading seeds axis; ``metrics[name]`` is ``[seeds, length]``
    (entries past ``n`` are filler: NaN for floats, 0 for integers); ``finite`` is
    ``bool[seeds, length]``, whether each seed's parameters are finite after each update
    (a reduction over the parameters, small beside the update itself).

    ``donate=True``: the chunk takes over ``state``'s buffers (unusable after the call)
    and updates them in place. Without it every call first copies the whole state, a
    replay buffer included (134 MB per call for two seeds of a 48,000-transition
    MinAtar buffer).
    """
    import jax
    import jax.numpy as jnp

    def one_seed(state, n):
        metric_shapes = jax.eval_shape(agent.update, state)[1]

        def skip(s):
            fill = lambda m: jnp.full(  # noqa: E731
                m.shape, jnp.nan if jnp.issubdtype(m.dtype, jnp.floating) else 0, m.dtype
            )
            return s, jax.tree.map(fill, metric_shapes)

        def body(s, i):
            s, m = jax.lax.cond(i < n, agent.update, skip, s)
            return s, (m, _finite(s))

        state, (metrics, finite) = jax.lax.scan(body, state, jnp.arange(length))
        return state, metrics, finite

    return _over_seeds_of(agent, one_seed, in_axes=(0, None),
                          donate_argnums=(0,) if donate else ())


def default_chunk(num_updates: int) -> int:
    """About 50 chunks per run, so progress is smooth and host work is rare."""
    return max(1, math.ceil(num_updates / 50))


def default_checkpoint_every(num_updates: int) -> int:
    """About five checkpoints per run (plus the final one)."""
    return max(1, math.ceil(num_updates / 5))


class _DeferredInterrupt:
    """Within the block, the first Ctrl-C only sets ``requested``; a second one ends the
    process at once (``os._exit(130)``: no waiting on XLA's threads), keeping the last
    checkpoint."""

    def __init__(self) -> None:
        self.requested = False
        self._old: Any = None

    def _handler(self, signum: int, frame: Any) -> None:
        if self.requested:
            print("\naborted; the last checkpoint is kept", file=sys.stderr, flush=True)
            os._exit(130)
        self.requested = True
        print("\nstopping after the running chunk (Ctrl-C again to abort at once)...",
              file=sys.stderr, flush=True)

    def __enter__(self) -> "_DeferredInterrupt":
        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGINT, self._handler)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)


def _place_like_init(init: Any, keys: Any, state: Any) -> Any:
    """A restored state on the devices, and with the sharding, ``init`` gives a live one.

    Seeds split over several devices (``over_seeds``) come back from ``init`` sharded;
    a restored state put on one device would make ``chunk`` compile another program
    (other input shardings) than the uninterrupted run's: slower to resume (no cache
    hit), and bit-identity would rest on XLA partitioning both the same way.
    """
    import jax

    if len(init.devices_for(int(jax.tree.leaves(keys)[0].shape[0]))) == 1:
        return jax.device_put(state)
    shardings = init.lower(keys).compile().output_shardings
    if distributed.is_multiprocess():
        return to_global(state, shardings)
    return jax.device_put(state, shardings)


def _check_processes(run_dir: Any) -> None:
    """A run trained by N processes resumes with N (else refused in one line)."""
    from jaxrl.runs import checkpoint as ckpt
    from jaxrl.runs.rundir import CHECKPOINT_FILE

    path = run_dir.path / CHECKPOINT_FILE
    if not path.is_file():
        return  # restore names what is missing
    try:
        saved = ckpt.read_header(path).get("extra", {}).get("processes", 1)
    except (ckpt.CheckpointError, AttributeError):
        return  # restore names what is wrong
    now = distributed.process_count()
    if isinstance(saved, int) and saved != now:
        raise RunError(f"this run was trained by {saved} process(es); resume it with "
                       f"{saved} (now {now}), so that it continues the same program")


def _restore_everywhere(run_dir: Any, spec: Any, template: Any, dtypes: Any) -> Any:
    """Process 0 verifies and reads the checkpoint; every process gets the state, the
    update count and the metrics so far (one process: ``run_dir.restore``)."""
    import jax

    def read() -> Any:
        _check_processes(run_dir)
        return run_dir.restore(spec, template, dtypes)

    if not distributed.is_multiprocess():
        return read()
    leaves, treedef = jax.tree.flatten(template)

    def encode(r: Any) -> bytes:
        arrays = {f"s{i}": np.asarray(jax.random.key_data(x) if _is_key(x) else x)
                  for i, x in enumerate(jax.tree.leaves(r.state))}
        arrays.update({f"m_{k}": v for k, v in (r.metrics or {}).items()})
        arrays["updates_done"] = np.asarray(r.updates_done, np.int64)
        return distributed.pack_arrays(arrays)

    def decode(data: bytes) -> Any:
        from types import SimpleNamespace

        arrays = distributed.unpack_arrays(data)
        state = []
        for i, t in enumerate(leaves):
            x = arrays[f"s{i}"]
            state.append(jax.random.wrap_key_data(x, impl=t.dtype._impl.name)
                         if _is_key(t) else x)
        metrics = {k[2:]: v for k, v in arrays.items() if k.startswith("m_")}
        return SimpleNamespace(state=jax.tree.unflatten(treedef, state), metrics=metrics,
                               updates_done=int(arrays["updates_done"]))

    return distributed.from_writer(read, encode, decode)


def _is_key(x: Any) -> bool:
    import jax

    return hasattr(x, "dtype") and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)


def _nonfinite(metrics: dict[str, np.ndarray], finite: np.ndarray,
               first_update: int) -> dict[int, str]:
    """``{seed: what}`` for seeds whose parameters became non-finite in this chunk.

    ``finite``: ``bool[seeds, n]`` after each update. A loss of +-inf counts too (NaN
    does not: algorithms report NaN for "no loss yet", e.g. DQN before learning starts).
    """
    bad: dict[int, str] = {}
    finite = np.asarray(finite, bool)
    for s in range(finite.shape[0]):
        wrong = np.nonzero(~finite[s])[0]
        if wrong.size:
            bad[s] = f"its parameters became non-finite at update {first_update + wrong[0]}"
    for name in sorted(k for k in metrics if "loss" in k):
        arr = np.asarray(metrics[name])
        if not np.issubdtype(arr.dtype, np.floating):
            continue
        rows, cols = np.nonzero(np.isinf(arr))
        for s, u in zip(rows.tolist(), cols.tolist()):
            if s not in bad:
                bad[s] = f"{name} became {arr[s, u]} at update {first_update + u}"
    return bad


def drive(
    built: Built,
    run_dir: RunDir | None = None,
    *,
    resume: bool = False,
    progress: bool | Progress = False,
    stop_after: int | None = None,
    on_chunk: Callable[[int, dict[str, np.ndarray]], None] | None = None,
    callbacks: Sequence[Any] = (),
) -> Result:
    """Train ``built`` in chunks, writing the run directory as it goes (if given).

    Args:
        built: from ``jaxrl.runs.run.make_spec`` / ``jaxrl.runs.run.build``.
        run_dir: an open ``jaxrl.runs.rundir.RunDir`` (the caller closes it), or None to
            keep everything in memory.
        resume: continue from ``run_dir``'s checkpoint (verified first; rows of
            ``metrics.csv`` written after it are dropped).
        progress: draw progress on stderr (or a ``Progress`` to draw on).
        stop_after: stop after this many updates in this call (as if interrupted),
            leaving a resumable checkpoint.
        on_chunk: called with ``(updates_done, chunk_metrics)`` after every chunk.
        callbacks: trackers with ``on_start(info)``, ``on_chunk(first_update,
            metrics)`` and ``on_end(summary)`` (see ``jaxrl.output.tracking``). An
            ``on_chunk`` that returns ``False`` stops the run after that chunk, as
            ``stop_after`` does (checkpointed, resumable); ``None`` or ``True`` go on.
            Callbacks other than jaxrl's trackers run before the next chunk is
            launched, so that the run stops exactly there.

    Returns:
        ``Result`` (``stopped_by``: why a callback stopped it). The first Ctrl-C stops
        training after the running chunk: its state is checkpointed, then
        ``Interrupted`` (carrying the ``Result``) is raised, unless the run had just
        completed.

    Raises:
        TrainingError: a loss or parameter became non-finite (``on_nonfinite="stop"``).
    """
    import jax

    spec, agent = built.spec, built.agent
    label = f"{spec.algorithm} {spec.env} x{spec.seeds}"
    bar = progress if isinstance(progress, Progress) else Progress(
        label, spec.num_updates, enabled=bool(progress))
    for line in getattr(run_dir, "messages", []):
        # What the run directory repaired (a stale lock, a killed save's temp file, a
        # half-done --overwrite) is said even when progress is off.
        if bar.enabled:
            bar.note(line)  # a permanent line: a status line would be replaced at once
        else:
            print(f"jaxrl: {line}", file=sys.stderr, flush=True)

    with _DeferredInterrupt() as interrupt, _CacheHits().listening() as cache_hits:
        t0 = time.perf_counter()
        keys = seed_keys(spec.seed, spec.seeds)
        init = init_function(agent)
        history: list[dict[str, np.ndarray]] = []
        done = 0
        restored = None
        # Shapes only (nothing allocated): a state that cannot fit is refused here. (One
        # process alone: processes with different free memory must not decide apart.)
        template = jax.eval_shape(init, keys)
        state_bytes = memory.tree_bytes(template)
        alone = not distributed.is_multiprocess()
        if alone:
            memory.check_fits(state_bytes, f"the training state of {spec.seeds} seed(s)",
                              _TOO_BIG)
        if resume:
            restored = _restore_everywhere(run_dir, spec, template,
                                           M.metric_dtypes(agent, template))
            state, done = _place_like_init(init, keys, restored.state), restored.updates_done
            if restored.metrics:
                history.append(restored.metrics)
            bar.message(f"resuming at update {done}/{spec.num_updates}")
        else:
            budget = step_budget_note(built.config, spec.num_updates)
            if budget:
                bar.note(budget)  # said once, at the start (a resume repeats nothing)
            bar.message("initialising...")
            state = init(keys)

        if run_dir is not None:
            bar.note(checkpoint_size_note(state, spec))  # a permanent line, not a status
        # The state is donated to each chunk: updated in place, never copied per call.
        chunk_fn = chunk_function(agent, spec.chunk_updates, donate=True)
        bar.compiling(f"{spec.num_updates} updates per seed, "
                      f"{spec.chunk_updates} per compiled chunk")
        compiled = chunk_fn.compile(state, np.int32(0))
        # What running a chunk adds to the state already held (and a checkpoint's copy).
        program = memory.program_bytes(compiled, init.devices_for(spec.seeds))
        if program is not None and alone:
            memory.check_fits(max(program - state_bytes, 0)
                              + (state_bytes if run_dir is not None else 0),
                              f"training {spec.seeds} seed(s) ({spec.chunk_updates} updates "
                              f"per compiled chunk)", _TOO_BIG)
        if run_dir is not None and not resume:
            # Written once every refusal that can come before training has had its say:
            # a run refused for its size leaves no directory that needs --overwrite.
            run_dir.write_config(spec)
        jax.block_until_ready(state)
        compile_seconds = time.perf_counter() - t0
        cache_note = cache_hits.note()

        target = spec.num_updates if stop_after is None else min(spec.num_updates,
                                                                 done + int(stop_after))
        every = spec.checkpoint_every

        def next_n(d: int) -> int:
            n = min(spec.chunk_updates, target - d)
            if every:
                n = min(n, every - d % every)
            return n

        steps = M.env_steps(history[-1]) if history else np.zeros(spec.seeds, np.int64)
        # A callback may stop the run (on_chunk returns False): the chunk after the one it
        # saw must not have started yet, so the callbacks run before it is launched
        # (jaxrl's own trackers never stop a run: with only them the host work overlaps).
        # Every process takes the same path (process 0 alone has callbacks).
        in_step = distributed.any_process(any(
            type(c).__module__ != "jaxrl.output.tracking" for c in callbacks if c is not None))
        callbacks = CallbackList(callbacks)
        writer = _CheckpointWriter(callbacks)
        callbacks.on_start(RunInfo.from_spec(spec, getattr(run_dir, "path", None),
                                             updates_done=done, env_steps=steps if done else None))
        # The table's compile column and the progress note are the same number.
        bar.start(float(np.sum(steps)), updates_done=done, compile_seconds=compile_seconds)
        if cache_note:
            bar.note(cache_note)
        t_run = time.perf_counter()
        names: list[str] | None = None
        bad: dict[int, str] = {}
        cur_ret, cur_spread = float("nan"), float("nan")
        # Several processes agree on Ctrl-C (each gets its own signal) before acting on it.
        requested = lambda: distributed.any_process(interrupt.requested)
        checkpointing = distributed.any_process(run_dir is not None)  # process 0 writes
        stopped_by: str | None = None  # why a callback stopped the run

        def host_work(n: int, chunk_metrics: Any, finite: Any) -> dict[str, np.ndarray]:
            """The chunk's metrics on the host: checked, logged, given to the callbacks
            (a callback asking to stop sets ``stopped_by``)."""
            nonlocal names, stopped_by
            metrics = {k: v[:, :n] for k, v in M.flat_metrics(to_host(chunk_metrics)).items()}
            new_bad = {s: w for s, w in _nonfinite(metrics, to_host(finite)[:, :n],
                                                   done + 1).items() if s not in bad}
            # Masking every seed would leave nothing to train, evaluate or export: that
            # stops the run as "stop" does (this chunk is neither logged nor saved).
            every_seed = len(bad.keys() | new_bad.keys()) >= spec.seeds
            if new_bad and (spec.on_nonfinite == "stop" or every_seed):
                s, what = next(iter(new_bad.items()))
                others = f" (and {len(new_bad) - 1} more seed(s))" if len(new_bad) > 1 else ""
                kept = "the last good checkpoint is kept" if run_dir is not None and done \
                    else "nothing was checkpointed"
                callbacks.on_end({"status": "failed", "updates_done": done})
                if spec.on_nonfinite == "mask":
                    raise TrainingError(
                        f"every seed went non-finite (the last: seed {s}: {what}{others}); "
                        f"stopped, {kept}. Lower the learning rate")
                raise TrainingError(
                    f"seed {s}: {what}{others}; stopped, {kept}. Lower the learning rate "
                    f"or pass --on-nonfinite mask to train the other seeds on")
            for s, what in new_bad.items():
                bar.message(f"seed {s}: {what}; left out of the summary from now on")
            bad.update(new_bad)
            if run_dir is not None:
                if names is None:
                    names = M.metric_columns(metrics)
                    run_dir.open_logs(names, spec, restored)
                run_dir.append(done + 1, {k: metrics[k] for k in names})
            why = _chunk_callbacks(callbacks, done + 1, metrics, done + n)
            if why is not None and stopped_by is None:
                stopped_by = why
            return metrics

        pending = compiled(state, np.int32(next_n(done))) \
            if done < target and not requested() else None
        try:
            while pending is not None:
                n = next_n(done)
                new_state, chunk_metrics, finite = pending
                new_done = done + n
                if in_step:  # the callbacks see this chunk before the next one starts
                    pending = None  # (a non-finite stop: nothing else is running)
                    metrics = host_work(n, chunk_metrics, finite)
                    asked = distributed.any_process(interrupt.requested
                                                    or stopped_by is not None)
                    if asked and stopped_by is None and not interrupt.requested:
                        stopped_by = "a callback of another process stopped the run"
                else:
                    asked = requested()
                stopping = asked or new_done >= target
                # The next chunk takes over new_state's buffers (donated): a checkpoint due
                # now is taken from a device copy made first (asynchronous, like the chunk).
                snapshot = None
                if checkpointing and not stopping and every and new_done % every == 0:
                    writer.wait()  # one write in flight, one snapshot held at most
                    snapshot = _device_copy(new_state)
                # Launch the next chunk before the (rest of the) host work: it overlaps.
                pending = None if stopping else compiled(new_state, np.int32(next_n(new_done)))
                if not in_step:
                    try:
                        metrics = host_work(n, chunk_metrics, finite)
                    except TrainingError:
                        pending = None
                        raise
                history.append(metrics)
                state, done = new_state, new_done
                r = M.final_returns(metrics["episode_return"], metrics["episodes"], n)
                r = np.where([s in bad for s in range(spec.seeds)], np.nan, r)
                if np.isfinite(r).any():
                    cur_ret, cur_spread = float(np.nanmean(r)), float(np.nanstd(r))
                steps = M.env_steps(metrics)
                # A Ctrl-C during the host work: the chunk just launched holds the state
                # (donated), so the run stops after it, at the next turn (asked).
                late = requested()
                stopping = stopping or (late and pending is None)
                bar.update(done, float(np.sum(steps)), cur_ret, cur_spread, final=stopping)
                if on_chunk is not None:
                    on_chunk(done, metrics)
                writer.poll()
                if checkpointing and (stopping or (every and done % every == 0)):
                    saved = state if snapshot is None else snapshot
                    host_state = to_host(saved) if distributed.is_multiprocess() else saved
                    if run_dir is not None:
                        extra = run_dir.checkpoint_extra(spec, steps,
                                                         processes=distributed.process_count())
                        write = (lambda rd=run_dir, s=host_state, d=done, e=extra:
                                 rd.write_checkpoint(spec, s, d, e))
                        # In line: the last one, one that commits an overwrite, and one
                        # of several processes (process 0 alone writes, the rest wait).
                        in_line = (snapshot is None or run_dir.staging
                                   or distributed.is_multiprocess())
                        writer.submit(write, done, wait=in_line)
                if stopping:
                    pending = None
                    if stopped_by is not None and done < spec.num_updates:
                        bar.note(f"stopped at update {done}/{spec.num_updates}: "
                                    f"{stopped_by}")
        finally:
            try:
                writer.wait()  # the write in flight is on disk (or its error raised)
            finally:
                bar.close()
        run_seconds = time.perf_counter() - t_run
        jax.block_until_ready(state)
        if distributed.is_multiprocess():
            state = to_host(state)  # every process holds the whole result
        interrupted = requested()

        result = Result(spec=spec, config=built.config, agent=agent, state=state,
                        metrics=M.merge(history), compile_seconds=compile_seconds,
                        run_seconds=run_seconds,
                        run_dir=getattr(run_dir, "path", None), env=built.env,
                        env_params=built.env_params, bad_seeds=tuple(sorted(bad)),
                        stopped_by=stopped_by if done < spec.num_updates else None)
        if run_dir is not None and result.updates_done:
            from jaxrl.runs.rundir import CURVE_FILE

            if result.complete:
                result.plot(run_dir.write_path / CURVE_FILE)
            run_dir.write_summary(result.summary_json(), result.complete)
        callbacks.on_end(result.summary_json())
        if interrupted and not result.complete:
            raise Interrupted(result)
        return result


def _chunk_callbacks(callbacks: CallbackList, first_update: int,
                     metrics: dict[str, np.ndarray], updates_done: int) -> str | None:
    """Every callback's ``on_chunk``; why the run should stop (a callback returned
    ``False``: its ``stop_reason`` if it has one), else None."""
    why = None
    for c in callbacks.callbacks:
        if c.on_chunk(first_update, metrics) is False and why is None:
            reason = getattr(c, "stop_reason", None)
            why = str(reason) if reason else (f"{type(c).__name__}.on_chunk returned False "
                                              f"after update {updates_done}")
    return why


_TOO_BIG = ("use fewer seeds, fewer environment copies (num_envs), smaller batches or "
            "buffers, or a smaller environment")


class _CheckpointWriter:
    """Writes checkpoints on a thread of its own, one at a time. ``submit(write, done)``
    starts ``write()`` once the previous write has finished; ``poll()`` (between chunks)
    and ``wait()`` report finished writes to the callbacks (``on_checkpoint``) on the
    calling thread and raise a write's error there."""

    def __init__(self, callbacks: CallbackList) -> None:
        self._callbacks = callbacks
        self._thread: threading.Thread | None = None
        self._done = 0
        self._error: BaseException | None = None

    def _run(self, write: Callable[[], None]) -> None:
        try:
            write()
        except BaseException as e:  # raised again on the main thread
            self._error = e

    def submit(self, write: Callable[[], None], done: int, wait: bool = False) -> None:
        """Start ``write()`` on the writer's thread, or (``wait``) run it here."""
        self.wait()
        if wait:
            write()
            self._callbacks.on_checkpoint(done)
            return
        self._done = done
        self._thread = threading.Thread(target=self._run, args=(write,), daemon=True,
                                        name="jaxrl-checkpoint")
        self._thread.start()

    def poll(self) -> None:
        if self._thread is not None and not self._thread.is_alive():
            self.wait()

    def wait(self) -> None:
        if self._thread is None:
            return
        self._thread.join()
        self._thread = None
        if self._error is not None:
            error, self._error = self._error, None
            raise error
        self._callbacks.on_checkpoint(self._done)


def _device_copy(state: Any) -> Any:
    """A copy of ``state`` on the same devices (dispatched asynchronously)."""
    import jax

    return jax.tree.map(lambda x: x.copy(), state)


class _CacheHits:
    """Counts the programs JAX loads from its persistent compile cache while listening
    (``jax.monitoring`` events), so the driver can say where a short compile came from."""

    def __init__(self) -> None:
        self.hits = 0

    def _listen(self, event: str, **_: Any) -> None:
        if event == "/jax/compilation_cache/cache_hits":
            self.hits += 1

    @contextlib.contextmanager
    def listening(self) -> Iterator[_CacheHits]:
        import jax

        jax.monitoring.register_event_listener(self._listen)
        try:
            yield self
        finally:
            with contextlib.suppress(AssertionError, ValueError):  # already gone
                jax.monitoring.unregister_event_listener(self._listen)

    def note(self) -> str:
        """One line when programs came from the cache (and where it is), else ``""``."""
        import jax

        if not self.hits:
            return ""
        where = jax.config.jax_compilation_cache_dir or "the compile cache"
        return (f"{self.hits} compiled program(s) loaded from {where} (safe to delete; "
                f"JAXRL_CACHE_DIR=off or --no-compile-cache to compile afresh)")


def step_budget_note(config: Any, num_updates: int) -> str:
    """One line when the run trains fewer environment steps than its config asks:
    ``100,000 env steps per seed asked: 99,840 trained (390 updates x 256 steps per
    update; ...)``, else ``""``.

    The asked budget is the config's ``total_timesteps``; the steps per update are the
    config's ``num_envs * num_steps`` (a rollout of every copy) or ``num_envs`` (one
    step of every copy), whichever gives ``num_updates`` (the algorithm's
    ``total_timesteps // steps per update``). A budget counted otherwise (episodes,
    generations, a rollout set by the environment) gets no line.
    """
    asked = getattr(config, "total_timesteps", None)
    if not isinstance(asked, (int, np.integer)) or isinstance(asked, bool):
        return ""
    envs, steps = getattr(config, "num_envs", None), getattr(config, "num_steps", None)
    sizes = [envs * steps] if isinstance(envs, int) and isinstance(steps, int) else []
    sizes += [envs] if isinstance(envs, int) else []
    for size in sizes:
        if size > 0 and asked // size == num_updates:
            trained = num_updates * size
            if trained == asked:
                return ""
            return (f"{asked:,} env steps per seed asked: {trained:,} trained ({num_updates:,} "
                    f"updates x {size:,} steps per update; a multiple of {size:,} trains "
                    f"exactly)")
    return ""


def checkpoint_size_note(state: Any, spec: Any) -> str:
    """One line: how big each checkpoint is, what dominates it, how to save less."""
    import jax

    from jaxrl.runs.rundir import nice_bytes

    total, replay = 0, 0
    for path, leaf in jax.tree_util.tree_flatten_with_path(state)[0]:
        size = int(np.prod(leaf.shape)) * np.dtype(
            "uint32" if jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key) else leaf.dtype
        ).itemsize
        total += size
        name = jax.tree_util.keystr(path).lower()
        if "buffer" in name or "replay" in name:
            replay += size
    what = f" ({nice_bytes(replay)} of it the replay buffer, kept for an exact resume)" \
        if replay > total / 4 else ""
    when = f"every {spec.checkpoint_every} updates" if spec.checkpoint_every else "at the end"
    return (f"checkpoint: {nice_bytes(total)} per save{what}, {when} "
            f"(--checkpoint-every N to change)")
