"""Checkpoints written off the training path (``jaxrl.runs.driver._CheckpointWriter``).

The periodic checkpoints of a run are written on a thread of their own while the next
chunks run; the last one (and an overwrite's first) in line. Each written file is the
state at its update, bit for bit (a run stopped there has the same state), the callbacks
hear of each checkpoint once it is on disk and in order, and a failing write is raised
on the main thread with the last good checkpoint kept.
"""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import pytest
from probe import PROBE, no_plot, state_bits  # noqa: F401 - no_plot: a fixture
from probe import cached as probe_cached

from jaxrl.output.tracking import Callback
from jaxrl.runs import checkpoint as ckpt
from jaxrl.runs import run
from jaxrl.runs import rundir as R

ENV = "CartPole-v1"
BASE = {"seeds": 2, "chunk_updates": 2, "checkpoint_every": 4}  # the probe: 13 updates


@pytest.fixture(scope="module", autouse=True)
def _probe_and_cache():
    with probe_cached():
        yield


class Heard(Callback):
    def __init__(self):
        self.checkpoints = []

    def on_checkpoint(self, updates_done):
        self.checkpoints.append(updates_done)


def _watch_writes(monkeypatch, copies: Path, delay: float = 0.0, fail_at: int | None = None):
    """Record each checkpoint write (update, thread name) and keep a copy of each file."""
    writes = []
    original = R.RunDir.write_checkpoint

    def write(self, spec, state, updates_done, extra):
        if delay:
            time.sleep(delay)  # a slow disk: the main thread must not wait for it
        if updates_done == fail_at:
            raise OSError(28, "No space left on device")
        original(self, spec, state, updates_done, extra)
        writes.append((updates_done, threading.current_thread().name))
        shutil.copy(self.write_path / R.CHECKPOINT_FILE, copies / f"{updates_done}.msgpack")

    monkeypatch.setattr(R.RunDir, "write_checkpoint", write)
    return writes


def test_periodic_checkpoints_are_written_off_the_main_thread_and_hold_their_update(
        tmp_path, monkeypatch, no_plot):
    copies = tmp_path / "copies"
    copies.mkdir()
    writes = _watch_writes(monkeypatch, copies, delay=0.05)
    heard = Heard()
    result = run.train(PROBE, ENV, out_dir=tmp_path / "run", callbacks=[heard], **BASE)
    assert result.complete and result.updates_done == 13
    # Every fourth update off the main thread, the last (13) in line.
    assert [u for u, _ in writes] == [4, 8, 12, 13]
    threads = dict(writes)
    assert threads[13] == "MainThread"
    assert threads[4] == threads[8] == threads[12] == "jaxrl-checkpoint"
    assert heard.checkpoints == [4, 8, 12, 13]  # each heard once, after it was written
    # Each written file holds the state at its update: the same bits as a run stopped there.
    for stop in (8, 12):
        stopped = run.train(PROBE, ENV, out_dir=tmp_path / f"stop{stop}", stop_after=stop,
                            **BASE)
        assert stopped.updates_done == stop
        state, header = ckpt.load(copies / f"{stop}.msgpack", stopped.state,
                                  algorithm=PROBE, env=ENV)
        assert state_bits(state) == state_bits(stopped.state), stop
        assert header["updates_done"] == stop
    # and the run directory's own checkpoint is the last one, verified on load
    final, _ = ckpt.load(tmp_path / "run" / R.CHECKPOINT_FILE, result.state,
                         algorithm=PROBE, env=ENV)
    assert state_bits(final) == state_bits(result.state)


def test_a_failing_write_is_raised_and_the_last_good_checkpoint_kept(tmp_path, monkeypatch,
                                                                     no_plot):
    copies = tmp_path / "copies"
    copies.mkdir()
    _watch_writes(monkeypatch, copies, fail_at=8)
    with pytest.raises(OSError, match="No space left"):
        run.train(PROBE, ENV, out_dir=tmp_path / "run", **BASE)
    # the checkpoint on disk is the one of update 4, whole and verified
    header = ckpt.read_header(tmp_path / "run" / R.CHECKPOINT_FILE)
    assert header["updates_done"] == 4
    monkeypatch.undo()
    resumed = run.resume(tmp_path / "run")
    assert resumed.complete and resumed.updates_done == 13
    whole = run.train(PROBE, ENV, out_dir=tmp_path / "whole", **BASE)
    assert state_bits(resumed.state) == state_bits(whole.state)


def test_an_overwrites_first_checkpoint_is_written_in_line(tmp_path, monkeypatch, no_plot):
    """It commits the staged run (moves files the main thread's logs write to)."""
    run.train(PROBE, ENV, out_dir=tmp_path / "run", **BASE)
    copies = tmp_path / "copies"
    copies.mkdir()
    writes = _watch_writes(monkeypatch, copies)
    result = run.train(PROBE, ENV, out_dir=tmp_path / "run", overwrite=True, seed=1, **BASE)
    assert result.complete
    assert writes[0] == (4, "MainThread") and writes[1] == (8, "jaxrl-checkpoint")
    assert not (tmp_path / "run" / R.STAGING_DIR).exists()
