"""Host-side logging: number formatting, TensorBoard files read back, progress output."""

import io
import re

import numpy as np
import pytest

from jaxrl.output.logging import (
    EVENT_FILE_SUFFIX,
    Progress,
    TensorBoardLogger,
    duration,
    human,
    metric_tag,
    seed_means,
)


# ------------------------------------------------------------------ human / duration
@pytest.mark.parametrize("value, text", [
    (0, "0"), (7, "7"), (999, "999"), (999.4, "999"),
    (999.5, "1.0k"),          # rounds to 1000: the next unit, never "1000" or "1e+03"
    (1000, "1.0k"), (1234, "1.2k"), (9_949, "9.9k"), (9_950, "10k"), (12_345, "12k"),
    (999_499, "999k"),
    (999_500, "1.0M"), (999_936, "1.0M"),  # was "1e+03k"
    (1_234_567, "1.2M"), (999_999_999, "1.0G"), (1e9, "1.0G"), (2.5e12, "2.5T"),
    (-5, "-5"), (-999_936, "-1.0M"), (-1234, "-1.2k"),
    (float("nan"), "nan"), (float("inf"), "inf"), (-float("inf"), "-inf"),
    (np.int64(50_000), "50k"), (np.float32(3e6), "3.0M"),
])
def test_human(value, text):
    assert human(value) == text


def test_human_never_shows_four_digits_or_exponents():
    for v in np.concatenate([np.logspace(0, 17, 3000), np.arange(995, 1005, 0.1),
                             np.arange(999_000, 1_001_000, 37.0)]):
        for x in (v, -v):
            out = human(x)
            digits = out.lstrip("-").rstrip("kMGTP")
            assert "e" not in out and len(digits.replace(".", "")) <= 3, (x, out)
            assert float(digits) < 1000 and (float(digits) >= 1 or abs(x) < 1000), (x, out)


@pytest.mark.parametrize("seconds, text", [
    (0, "0:00"), (0.4, "0:00"), (59.4, "0:59"), (59.6, "1:00"), (75, "1:15"),
    (3599.5, "1:00:00"), (3725, "1:02:05"), (-5, "-0:05"),
    (float("nan"), "-:--"), (float("inf"), "-:--"),
])
def test_duration(seconds, text):
    assert duration(seconds) == text


# ------------------------------------------------------------------ TensorBoard
def _metrics(first, n, seeds=3, offset=0.0):
    """Seed s takes 100 env steps per update plus s extra in total (seeds differ)."""
    u = np.arange(first, first + n)
    env_steps = np.stack([(u + 1) * 100 + s for s in range(seeds)]).astype(np.int32)
    ret = np.stack([u + 10.0 * s + offset for s in range(seeds)]).astype(np.float32)
    if first == 0:
        ret[:, 0] = np.nan  # no episode ended in the first update
    return {"env_steps": env_steps, "episode_return": ret,
            "episodes": np.ones_like(env_steps), "policy_loss": ret * 0.5,
            "entropy": np.full(env_steps.shape, 0.7, np.float32)}


def _scalars(path, tag):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(path), size_guidance={"scalars": 0})
    acc.Reload()
    return acc, [(e.step, e.value) for e in acc.Scalars(tag)] if tag in acc.Tags()["scalars"] else []


def test_metric_tags_and_seed_means():
    assert metric_tag("episode_return") == "train/episode_return"
    assert metric_tag("episodes") == "train/episodes"
    assert metric_tag("reward") == "train/reward"
    assert metric_tag("policy_loss") == "loss/policy_loss"
    assert metric_tag("entropy") == "stats/entropy"
    steps, values = seed_means({"env_steps": np.array([[10, 20], [11, 23]]),
                                "episode_return": np.array([[np.nan, 2.0], [np.nan, 4.0]])})
    np.testing.assert_array_equal(steps, [11, 22])  # 10.5 -> 11, 21.5 -> 22: half up
    assert np.isnan(values["train/episode_return"][0]) and values["train/episode_return"][1] == 3
    assert values["train/episode_return_std_over_seeds"][1] == 1.0


def test_tensorboard_reads_back_means_spread_and_per_seed_runs(tmp_path):
    logdir = tmp_path / "tensorboard"
    with TensorBoardLogger(logdir, 3) as tb:
        assert tb.per_seed
        tb.hparams({"algorithm": "ppo", "lr": 3e-4, "hidden": (64, 64), "anneal": True,
                    "none": None, "seeds": np.int64(3)})
        tb.log(_metrics(0, 4))
        tb.log(_metrics(4, 2))
        tb.end({"final/return": 12.5, "final/bad": float("nan")})

    acc, ret = _scalars(logdir, "train/episode_return")
    # x = mean env steps over seeds (100 u + 1); the first update had no episode: left out.
    assert ret == [(201, 11.0), (301, 12.0), (401, 13.0), (501, 14.0), (601, 15.0)]
    _, std = _scalars(logdir, "train/episode_return_std_over_seeds")
    assert [s for s, _ in std] == [201, 301, 401, 501, 601]
    assert std[0][1] == pytest.approx(np.std([1.0, 11.0, 21.0]))
    tags = set(acc.Tags()["scalars"])
    assert {"train/episodes", "loss/policy_loss", "stats/entropy", "final/return"} <= tags
    assert "final/bad" not in tags and not any("env_steps" in t for t in tags)
    hp = acc.PluginTagToContent("hparams")
    assert set(hp) == {"_hparams_/session_start_info", "_hparams_/session_end_info"}
    assert b"ppo" in hp["_hparams_/session_start_info"]

    for s in range(3):  # each seed at its own env steps
        _, seed_ret = _scalars(logdir / f"seed_{s}", "train/episode_return")
        assert seed_ret == [((u + 1) * 100 + s, u + 10.0 * s) for u in range(1, 6)]
    files = sorted(p.name for p in logdir.rglob("events.out.tfevents.*"))
    assert len(files) == 4 and all(f.endswith(EVENT_FILE_SUFFIX) for f in files)


def test_tensorboard_per_seed_default_and_purge_shape(tmp_path):
    with TensorBoardLogger(tmp_path / "one", 1) as tb:
        assert not tb.per_seed
    with TensorBoardLogger(tmp_path / "many", 17) as tb:
        assert not tb.per_seed and not (tmp_path / "many" / "seed_0").exists()
    with pytest.raises(ValueError, match="one step per seed"):
        TensorBoardLogger(tmp_path / "bad", 2, purge_step=[1, 2, 3])


def test_tensorboard_resume_with_purge_step_has_no_duplicate_steps(tmp_path):
    logdir = tmp_path / "tensorboard"
    first = TensorBoardLogger(logdir, 2)
    first.log(_metrics(0, 6, seeds=2))
    checkpoint_steps = _metrics(0, 6, seeds=2)["env_steps"][:, 3]  # checkpoint after update 4
    first.flush()  # the process dies here: updates 5 and 6 were logged after the checkpoint
    # Resumed (same second, same directory): updates 5.. again, with different values.
    second = TensorBoardLogger(logdir, 2, purge_step=TensorBoardLogger.purge_after(checkpoint_steps))
    again = _metrics(4, 4, seeds=2, offset=1000.0)
    # No episode ends in update 5 this time: without the purge step, TensorBoard's own
    # out-of-order check would not drop the old update-6 return (its tag is not in update 5).
    again["episode_return"][:, 0] = np.nan
    second.log(again)
    second.close()
    first.close()

    assert len(list(logdir.glob("events.out.tfevents.*"))) == 2  # the second did not overwrite
    for path, extra in [(logdir, 0.5), (logdir / "seed_0", 0.0), (logdir / "seed_1", 1.0)]:
        _, ret = _scalars(path, "train/episode_return")
        steps = [s for s, _ in ret]
        assert steps == sorted(set(steps)), f"duplicated or unordered steps in {path}: {steps}"
        base = [int((u + 1) * 100 + extra + 0.5) for u in range(8)]
        assert steps == base[1:4] + base[5:]  # updates 1 and 5 had no episode
        # Updates 2-4 from the first process, 6-8 only from the resumed one.
        assert all(v < 1000 for s, v in ret[:3]) and all(v >= 1000 for s, v in ret[3:])


# ------------------------------------------------------------------ Progress
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _feed(p, clock, total=50, dt=0.5):
    p.message("initialising...")
    p.compiling("50 updates per seed, 1 per compiled chunk")
    clock[0] += 12.3
    p.start(0.0)
    for u in range(1, total + 1):
        clock[0] += dt
        p.update(u, u * 4096.0, 20.0 + u, 1.5 if u > 1 else float("nan"), final=u == total)
    p.close()


def test_progress_plain_lines_when_not_a_terminal():
    clock, out = [0.0], io.StringIO()
    _feed(Progress("ppo CartPole-v1 x4", 50, stream=out, clock=lambda: clock[0]), clock)
    lines = out.getvalue().splitlines()
    assert lines[:3] == ["ppo CartPole-v1 x4: initialising...",
                         "ppo CartPole-v1 x4: compiling (50 updates per seed, 1 per compiled chunk)...",
                         "ppo CartPole-v1 x4: compiled in 12.3 s"]
    assert "\r" not in out.getvalue() and "\x1b" not in out.getvalue()
    updates = lines[3:]
    # The first update at once, then one per 10% (0.5 s apart < interval 5 s: throttled), the last.
    assert 4 <= len(updates) <= 8, updates
    assert updates[0].startswith("ppo CartPole-v1 x4:   2% update 1/50 | 4.1k steps | 8.2k steps/s")
    assert "| return 21.00 |" in updates[0] and "ETA 0:25" in updates[0]  # spread: 1 seed with episodes
    assert updates[-1] == ("ppo CartPole-v1 x4: 100% update 50/50 | 205k steps | 8.2k steps/s | "
                           "return 70.00 ± 1.50 | 0:25 elapsed")


def test_progress_plain_lines_follow_the_run_not_the_calls():
    """10% steps when fast, a heartbeat when slow; never two lines within `interval`."""
    clock, out = [0.0], io.StringIO()
    p = Progress("x", 1000, stream=out, clock=lambda: clock[0], interval=5.0, heartbeat=60.0)
    p.start()
    for u in range(1, 1001):  # 1000 updates of 10 s: a line per minute, plus 10% steps
        clock[0] += 10.0
        p.update(u, u, 0.0, final=u == 1000)
    n = len(out.getvalue().splitlines())
    assert 160 <= n <= 180, n  # 10000 s / 60 s + first + final
    clock, out = [0.0], io.StringIO()
    p = Progress("x", 1000, stream=out, clock=lambda: clock[0])
    p.start()
    for u in range(1, 1001):  # 1000 updates of 10 ms
        clock[0] += 0.01
        p.update(u, u, 0.0, final=u == 1000)
    assert len(out.getvalue().splitlines()) == 3  # first, one at 5 s (50%), final


def test_progress_disabled_prints_nothing(capsys):
    clock, out = [0.0], io.StringIO()
    _feed(Progress("x", 50, stream=out, enabled=False, clock=lambda: clock[0]), clock)
    from rich.console import Console

    tty = io.StringIO()
    clock = [0.0]
    _feed(Progress("x", 50, enabled=False, clock=lambda: clock[0],
                   console=Console(file=tty, force_terminal=True, width=80)), clock)
    assert out.getvalue() == "" and tty.getvalue() == ""
    assert capsys.readouterr() == ("", "")


@pytest.mark.parametrize("width", [60, 200])
def test_progress_on_a_terminal_fits_the_width(width):
    from rich.console import Console

    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=width, color_system="standard")
    clock = [0.0]
    p = Progress("ppo CartPole-v1 x16 (a long label for a narrow terminal)", 50,
                 console=console, clock=lambda: clock[0])
    assert p.tty
    _feed(p, clock)
    text = out.getvalue()
    lines = [ln for ln in re.split(r"[\r\n]", ANSI.sub("", text)) if ln]
    assert lines and max(len(ln) for ln in lines) <= width
    assert any("compiling (50 updates" in ln for ln in lines)  # the live compile timer
    assert any("compiled in 12.3 s" in ln for ln in lines)
    final = lines[-1]
    assert "100%" in final and "return 70.00 ± 1.50" in final and "━" in final
    if width >= 200:
        assert "205k steps" in final and "8.2k steps/s" in final and "50/50" in final
    mid = [ln for ln in lines if " 50%" in ln]
    assert mid and "ETA 0:13" in mid[-1]  # 25 updates in 12.5 s, 25 to go


def test_progress_compile_timer_ticks_while_blocked():
    """While the driver blocks in compile(), rich's refresh thread redraws the elapsed time."""
    import time

    from rich.console import Console

    out = io.StringIO()
    p = Progress("x", 10, console=Console(file=out, force_terminal=True, width=80))
    p.compiling()
    time.sleep(0.8)
    p.start()
    p.update(10, 10.0, 1.0, final=True)
    shown = re.findall(r"compiling\.\.\. (\d+\.\d) s", ANSI.sub("", out.getvalue()))
    assert len(set(shown)) >= 2, shown


def test_event_records_are_tensorboardx_protobufs_with_valid_checksums(tmp_path, monkeypatch):
    """jaxrl encodes scalar events itself: each record must be the bytes the protobuf
    classes give for the same event, framed with tensorboardX's masked CRC-32C."""
    import struct

    from tensorboardX.proto.event_pb2 import Event, SessionLog
    from tensorboardX.proto.summary_pb2 import Summary
    from tensorboardX.record_writer import masked_crc32c

    from jaxrl.output import logging as L

    monkeypatch.setattr(L.time, "time", lambda: 1234.5)
    f = L._EventFile(tmp_path, ".x", purge_step=300)
    values = np.array([1.5, -2.25, 1e-8], np.float64)
    f.scalar_rows([301, 302], ["train/a", "loss/b" * 30, "c"],  # a tag over 127 bytes
                  np.stack([values, [np.nan, np.nan, np.inf]]))  # no finite value: no event
    f.add_summary(Summary(value=[Summary.Value(tag="t", simple_value=3.0)]), step=7)
    f.close()
    raw, records = f.path.read_bytes(), []
    while raw:
        (n,) = struct.unpack("<Q", raw[:8])
        assert struct.unpack("<I", raw[8:12])[0] == masked_crc32c(raw[:8])
        data = raw[12:12 + n]
        assert struct.unpack("<I", raw[12 + n:16 + n])[0] == masked_crc32c(data)
        records.append(data)
        raw = raw[16 + n:]
    want = [
        Event(wall_time=1234.5, file_version="brain.Event:2"),
        Event(wall_time=1234.5, step=300, file_version="brain.Event:2"),
        Event(wall_time=1234.5, step=300, session_log=SessionLog(status=SessionLog.START)),
        Event(wall_time=1234.5, step=301, summary=Summary(value=[
            Summary.Value(tag=t, simple_value=float(v))
            for t, v in zip(["train/a", "loss/b" * 30, "c"], values)])),
        Event(wall_time=1234.5, step=7, summary=Summary(value=[
            Summary.Value(tag="t", simple_value=3.0)])),
    ]
    assert records == [e.SerializeToString() for e in want]
