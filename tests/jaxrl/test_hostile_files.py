"""Hostile files (issue 25, items 1-3, 10, 11): nothing of the user's lost, no write
through a link, no hang on a FIFO or ``/dev/zero``, a complete run left as it is.

Every case builds the situation the issue describes on a copy of a tiny probe run
(``tests/jaxrl/probe.py``, trained once per module with a module-wide compile cache)
and checks that the command refuses in one line (exit 2 from the CLI, ``RunError``
from Python) or gives the right result, that no file outside the run directory
changed and that nothing of the user's was lost.
"""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path
from typing import Any

import pytest
from probe import PROBE
from probe import cached as probe_cached

from jaxrl import cli
from jaxrl.errors import RunError
from jaxrl.output import files as F
from jaxrl.runs import policy, run
from jaxrl.runs import rundir as R

ENV = "CartPole-v1"
BASE = {"seeds": 2, "chunk_updates": 4, "checkpoint_every": 5}  # the probe: 13 updates
STOP = 7


@pytest.fixture(scope="module", autouse=True)
def _probe_and_cache():
    """``"_probe"`` is an algorithm, and its programs go to the run's compile cache."""
    with probe_cached():
        yield


class Runs:
    """A complete probe run and the same run stopped at update ``STOP``."""

    def __init__(self, root: Path):
        self.full = root / "full"
        self.part = root / "part"
        assert run.train(PROBE, ENV, out_dir=self.full, **BASE).complete
        assert run.train(PROBE, ENV, out_dir=self.part, stop_after=STOP, **BASE).updates_done == STOP

    def copy(self, dest: Path, which: str = "full") -> Path:
        """A copy of a run in ``dest/run``, beside a user's file ``dest/notes.txt``."""
        dest.mkdir(parents=True, exist_ok=True)
        (dest / "notes.txt").write_text("a user's file beside the run\n")
        shutil.copytree(self.full if which == "full" else self.part, dest / "run")
        return dest / "run"


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Runs:
    return Runs(tmp_path_factory.mktemp("runs"))


def tree(root: Path) -> dict[str, bytes]:
    """Every regular file under ``root`` (links and special files by what they are)."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        if p.is_symlink():
            out[rel] = b"-> " + os.readlink(p).encode()
        elif p.is_file():
            out[rel] = p.read_bytes()
        elif not p.is_dir():
            out[rel] = b"<special>"
    return out


@pytest.fixture
def refused(capsys):
    """``refused(*argv)``: the CLI's one error line (exit 2, no traceback)."""
    def call(*argv: Any) -> str:
        code = cli.main([str(a) for a in argv])
        err = capsys.readouterr().err.strip()
        assert code == 2, err
        assert len(err.splitlines()) == 1 and "Traceback" not in err, err
        assert err.startswith("jaxrl: error: ")
        return err

    return call


def one_line(e: BaseException) -> str:
    msg = str(e)
    assert msg and "\n" not in msg, msg
    return msg


# ------------------------------------------------------------------------------ 1: output paths
@pytest.mark.parametrize("name", [R.CHECKPOINT_FILE, R.CONFIG_FILE, R.METRICS_FILE,
                                  R.SUMMARY_FILE, R.LOCK_FILE, R.CURVE_FILE])
def test_export_never_replaces_a_file_of_the_run(runs, tmp_path, refused, name):
    d = runs.copy(tmp_path)
    before = tree(tmp_path)
    err = refused("export", d, "--out", d / name, "--overwrite")
    assert name in err and "run" in err
    with pytest.raises(RunError) as e:
        policy.export(d, d / name)
    assert name in one_line(e.value)
    assert tree(tmp_path) == before
    assert run.load(d).complete  # eval and resume still read it


def test_export_never_writes_into_another_run_or_while_it_is_locked(runs, tmp_path, refused):
    d = runs.copy(tmp_path / "a")
    other = runs.copy(tmp_path / "b")
    before = tree(tmp_path)
    assert R.CHECKPOINT_FILE in refused("export", d, "--out", other / R.CHECKPOINT_FILE,
                                        "--overwrite")
    # Through a link to the other run's directory, and under its tensorboard folder.
    (tmp_path / "alias").symlink_to(other)
    assert R.CONFIG_FILE in refused("export", d, "--out", tmp_path / "alias" / R.CONFIG_FILE,
                                    "--overwrite")
    assert R.TB_DIR in refused("export", d, "--out", other / R.TB_DIR / "p.msgpack")
    # A trainer holds the run's lock: its lock file is never replaced.
    lock = R._Lock(d)
    lock.acquire()
    try:
        held = (d / R.LOCK_FILE).read_bytes()
        assert R.LOCK_FILE in refused("export", d, "--out", d / R.LOCK_FILE, "--overwrite")
        assert (d / R.LOCK_FILE).read_bytes() == held
    finally:
        lock.release()
    assert {k: v for k, v in tree(tmp_path).items() if not k.startswith("alias")} == \
        {k: v for k, v in before.items() if not k.startswith("alias")}


def test_play_out_never_names_a_file_of_a_run(runs, tmp_path, refused):
    from jaxrl.output import play

    d = runs.copy(tmp_path / "a")
    other = runs.copy(tmp_path / "b")
    before = tree(tmp_path)
    # play adds .png to the stem: RUN/learning_curve would replace the run's plot.
    assert R.CURVE_FILE in refused("play", d, "--out", d / "learning_curve")
    assert R.CURVE_FILE in refused("play", d, "--out", other / "learning_curve.gif")
    assert R.TB_DIR in refused("play", d, "--out", d / R.TB_DIR / "play")
    with pytest.raises(RunError) as e:
        play.check_outputs(d / "learning_curve", d)
    assert R.CURVE_FILE in one_line(e.value)
    assert tree(tmp_path) == before


# ------------------------------------------------------------------------------ 2: --overwrite
def _user_png(path: Path) -> bytes:
    """A user's own picture: a PNG made by matplotlib, not by jaxrl."""
    from jaxrl.output.plotting import figure

    fig = figure(2, 2)
    fig.add_subplot(1, 1, 1).plot([0, 1], [1, 0])
    fig.savefig(path)
    return path.read_bytes()


def test_overwrite_keeps_a_users_own_learning_curve(runs, tmp_path, refused):
    d = tmp_path / "pictures"
    d.mkdir()
    mine = _user_png(d / R.CURVE_FILE)
    err = refused("train", PROBE, "--env", ENV, "--out", d, "--overwrite", "-q")
    assert R.CURVE_FILE in err and "did not write" in err and "holds a run" not in err
    with pytest.raises(RunError) as e:
        run.train(PROBE, ENV, out_dir=d, overwrite=True, **BASE)
    assert "did not write" in one_line(e.value)
    assert tree(d) == {R.CURVE_FILE: mine}
    # jaxrl's own curve carries its marker, and is recognised as jaxrl's.
    assert (F.png_software(runs.full / R.CURVE_FILE) or "").startswith(F.PNG_SOFTWARE)
    assert R._is_jaxrl_file(runs.full / R.CURVE_FILE)
    assert not R._is_jaxrl_file(d / R.CURVE_FILE)


@pytest.mark.parametrize("name,content", [
    ("sweep.csv", b"name,score\nalice,3\n"),
    ("sweep.json", b'{"algorithm": "mine"}\n'),
    ("sweep.png", None),
])
def test_sweep_overwrite_keeps_a_users_own_files(tmp_path, refused, name, content):
    d = tmp_path / "s"
    d.mkdir()
    if content is None:
        content = _user_png(d / name)
    else:
        (d / name).write_bytes(content)
    err = refused("sweep", PROBE, "--env", ENV, "--grid", "lr=0.1,0.2", "--seeds", "1",
                  "--out", d, "--overwrite", "-q")
    assert name in err and "did not write" in err
    assert tree(d) == {name: content}


def test_sweep_overwrite_replaces_jaxrls_own_files(tmp_path):
    d = tmp_path / "s"
    d.mkdir()
    (d / "sweep.csv").write_text("lr,seed,final_return\n0.1,0,1.0\n")
    (d / "sweep.json").write_text('{"algorithm": "ppo", "grid": {}, "final_window": 1}')
    assert R.prepare_output(d, R.SWEEP_FILES, overwrite=True) == d
    with pytest.raises(RunError):
        R.prepare_output(d, R.SWEEP_FILES, overwrite=False)


# ------------------------------------------------------------------------------ 3: resume of a complete run
def test_resume_of_a_complete_run_changes_nothing(runs, tmp_path, capsys, monkeypatch):
    from jaxrl.runs import driver

    d = runs.copy(tmp_path)
    before = tree(tmp_path)
    stamps = {p: p.stat().st_mtime_ns for p in d.rglob("*")}

    def no_training(*a: Any, **k: Any) -> Any:
        raise AssertionError("a complete run was trained (compiled) again")

    monkeypatch.setattr(driver, "drive", no_training)
    monkeypatch.setattr(run, "drive", no_training)
    assert cli.main(["train", "--resume", str(d), "-q"]) == 0
    out, err = capsys.readouterr()
    lines = out.strip().splitlines()
    assert len(lines) == 1 and "already complete" in lines[0] and "13/13" in lines[0], out
    assert "Traceback" not in err
    result = run.resume(d)
    assert result.complete and result.updates_done == 13
    assert tree(tmp_path) == before
    assert {p: p.stat().st_mtime_ns for p in d.rglob("*")} == stamps
    assert not (d / R.LOCK_FILE).exists()


# ------------------------------------------------------------------------------ 10: links
@pytest.mark.parametrize("name", [R.METRICS_FILE, R.CURVE_FILE, R.SUMMARY_FILE,
                                  R.CHECKPOINT_FILE, R.CONFIG_FILE])
def test_resume_never_writes_through_a_link(runs, tmp_path, refused, name):
    d = runs.copy(tmp_path, "part")
    outside = tmp_path / f"outside-{name}"
    if (d / name).exists():  # the same bytes outside: every check on content passes
        shutil.move(d / name, outside)
    else:
        outside.write_bytes(b"a user's file elsewhere\n")
    (d / name).symlink_to(outside)
    before = tree(tmp_path)
    err = refused("train", "--resume", d, "-q")
    assert name in err and "link" in err
    with pytest.raises(RunError):
        run.resume(d)
    assert tree(tmp_path) == before
    assert not (d / R.LOCK_FILE).exists()  # the lock was released


def test_resume_never_writes_events_through_a_linked_folder(runs, tmp_path, refused):
    d = runs.copy(tmp_path, "part")
    shutil.move(d / R.TB_DIR, tmp_path / "elsewhere")
    (d / R.TB_DIR).symlink_to(tmp_path / "elsewhere")
    before = tree(tmp_path)
    assert R.TB_DIR in refused("train", "--resume", d, "-q")
    assert tree(tmp_path) == before


@pytest.mark.parametrize("name", ["play.gif", "play.png", "play.txt"])
def test_play_never_writes_through_a_link(runs, tmp_path, refused, name):
    d = runs.copy(tmp_path)
    outside = tmp_path / "outside.bin"
    outside.write_bytes(b"a user's file elsewhere\n")
    (d / name).symlink_to(outside)
    before = tree(tmp_path)
    err = refused("play", d)
    assert name in err and "link" in err
    assert tree(tmp_path) == before


def test_writers_refuse_links_and_special_files(tmp_path):
    outside = tmp_path / "outside"
    outside.write_bytes(b"keep")
    (tmp_path / "link").symlink_to(outside)
    os.mkfifo(tmp_path / "fifo")
    for target in ("link", "fifo"):
        with pytest.raises(RunError):
            F.write_bytes(tmp_path / target, b"x")
        with pytest.raises(RunError):
            F.open_write(tmp_path / target)
        with pytest.raises(RunError):
            R.write_json(tmp_path / target, {})
    assert outside.read_bytes() == b"keep"


# ------------------------------------------------------------------------------ 11: FIFOs, /dev/zero
def _quickly(fn: Any, fifo: Path | None = None, seconds: float = 20.0) -> Any:
    """``fn()`` in a thread; fail (unblocking a reader of ``fifo``) if it takes too long."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["v"] = fn()
        except BaseException as e:  # noqa: BLE001 - raised again in the test's thread
            box["e"] = e

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(seconds)
    if t.is_alive():
        if fifo is not None:  # let the blocked open return, so the thread can end
            fd = os.open(fifo, os.O_RDWR)
            os.close(fd)
        t.join(5)
        pytest.fail(f"hung on {fifo}")
    if "e" in box:
        raise box["e"]
    return box.get("v")


@pytest.mark.parametrize("which,command", [("full", "eval"), ("part", "resume")])
def test_a_fifo_metrics_file_is_refused_not_waited_on(runs, tmp_path, capsys, which, command):
    d = runs.copy(tmp_path, which)
    (d / R.METRICS_FILE).unlink()
    os.mkfifo(d / R.METRICS_FILE)
    before = tree(tmp_path)
    argv = ["eval", str(d)] if command == "eval" else ["train", "--resume", str(d), "-q"]
    code = _quickly(lambda: cli.main(argv), d / R.METRICS_FILE)
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    assert R.METRICS_FILE in err and "FIFO" in err
    assert tree(tmp_path) == before
    assert not (d / R.LOCK_FILE).exists()  # released: a later command may take it
    lock = R._Lock(d)
    lock.acquire()  # nobody holds it
    lock.release()


@pytest.mark.parametrize("name", [R.METRICS_FILE, R.CONFIG_FILE, R.SUMMARY_FILE])
def test_run_files_linked_to_dev_zero_are_refused(runs, tmp_path, name):
    d = runs.copy(tmp_path)
    (d / name).unlink()
    (d / name).symlink_to("/dev/zero")
    if name == R.SUMMARY_FILE:  # only the timings are lost
        result = _quickly(lambda: run.load(d))
        assert result.complete and result.compile_seconds != result.compile_seconds  # NaN
        return
    with pytest.raises(RunError) as e:
        _quickly(lambda: run.load(d))
    assert name in one_line(e.value) and "device" in str(e.value)
    with pytest.raises(RunError):
        _quickly(lambda: run.resume(d))


def test_a_fifo_config_is_refused(runs, tmp_path):
    d = runs.copy(tmp_path, "part")
    (d / R.CONFIG_FILE).unlink()
    os.mkfifo(d / R.CONFIG_FILE)
    with pytest.raises(RunError) as e:
        _quickly(lambda: run.load(d), d / R.CONFIG_FILE)
    assert "FIFO" in one_line(e.value)
    with pytest.raises(RunError):
        _quickly(lambda: run.resume(d), d / R.CONFIG_FILE)
    assert not (d / R.LOCK_FILE).exists()


def test_a_fifo_lock_file_is_refused(runs, tmp_path, refused):
    d = runs.copy(tmp_path, "part")
    os.mkfifo(d / R.LOCK_FILE)
    before = tree(tmp_path)
    assert R.LOCK_FILE in _quickly(lambda: refused("train", "--resume", d, "-q"), d / R.LOCK_FILE)
    assert tree(tmp_path) == before


@pytest.mark.parametrize("kind", ["fifo", "dev-zero"])
def test_a_config_toml_that_never_ends_is_refused(tmp_path, refused, kind):
    """``--config FILE`` (the user's TOML) that is a FIFO or a link to /dev/zero: refused
    at once, not waited on or read until memory runs out."""
    path = tmp_path / "config.toml"
    if kind == "fifo":
        os.mkfifo(path)
    else:
        path.symlink_to("/dev/zero")
    err = _quickly(lambda: refused("train", PROBE, "--config", path, "--out", tmp_path / "o"),
                   path if kind == "fifo" else None)
    assert "not a regular file" in err
    assert not (tmp_path / "o").exists()


def test_a_checkpoint_larger_than_memory_is_refused_unread(runs, tmp_path, refused, monkeypatch):
    """A sparse file of 1 TiB costs nothing on disk; reading it would exhaust memory."""
    d = runs.copy(tmp_path, "full")
    with open(d / R.CHECKPOINT_FILE, "r+b") as f:
        f.truncate(2**40)
    monkeypatch.setenv("JAXRL_MEMORY_LIMIT", "1G")
    err = _quickly(lambda: refused("eval", d))
    assert "more than the" in err and "cannot be read here" in err
    big = tmp_path / "policy.msgpack"
    with open(big, "wb") as f:
        f.truncate(2**40)
    with pytest.raises(RunError, match="cannot be read here"):
        _quickly(lambda: policy.load_policy(big))
