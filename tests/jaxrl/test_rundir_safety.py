"""Run directories that never lose or corrupt work.

Every case damages, interrupts or races a run directory and then checks one rule:
the command either refuses in one line (``RunError``; exit 2 and one line from the
CLI) or gives exactly the bytes an undamaged, uninterrupted run gives, and it never
shows a traceback, never changes a file outside the run directory and never cuts
``metrics.csv`` when it refuses.

Most cases train ``_DriverProbe`` (``tests/jaxrl/probe.py``) in-process, with a
module-wide persistent compilation cache, so a run costs a fraction of a second. A
few run the real CLI in a subprocess (``python tests/jaxrl/probe.py ...`` is the
``jaxrl`` command with the probe registered; the slow ones run real PPO), with the
CLI's own device setup (one CPU device per core).

Slow-marked (``-m slow``): many more fuzz cases, every stopping point for every
chunk/checkpoint setting, SIGINT and SIGKILL of real PPO runs, a real DQN NaN.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import numpy as np
import pytest
from flax import serialization
from probe import (
    PROBE,
    no_plot,  # noqa: F401 - a fixture, requested by name
    state_bits,
)
from probe import cached as probe_cached

from jaxrl import cli
from jaxrl.errors import RunError, TrainingError
from jaxrl.output.tracking import Callback
from jaxrl.runs import checkpoint as ckpt
from jaxrl.runs import run
from jaxrl.runs import rundir as R

ENV = "CartPole-v1"
BASE = {"seeds": 2, "chunk_updates": 4, "checkpoint_every": 5}  # the probe: 13 updates
NUM_UPDATES = 13
STOP = 7  # the damaged runs stopped here (a checkpoint that is not a multiple of 5)
TIMING = ("compile_seconds", "run_seconds", "steps_per_second")
PROBE_CLI = [sys.executable, str(Path(__file__).with_name("probe.py"))]
JAXRL = Path(sys.executable).parent / "jaxrl"  # the console script pip installed
GLOG = re.compile(r"^[EWIF]\d{4} ")  # XLA's C++ log lines (a cached program's CPU notes)


# ------------------------------------------------------------------------------ set-up
@pytest.fixture(scope="module", autouse=True)
def _probe_and_cache():
    """``"_probe"`` is an algorithm, and its programs go to the run's compile cache."""
    with probe_cached():
        yield




def train(out: Path, **kw: Any) -> Any:
    return run.train(PROBE, ENV, out_dir=out, **{**BASE, **kw})


class Ref:
    """An uninterrupted probe run and the same run stopped at update ``STOP``."""

    def __init__(self, root: Path):
        self.root = root
        self.full_dir, self.part_dir = root / "full", root / "part"
        full = train(self.full_dir)
        part = train(self.part_dir, stop_after=STOP)
        assert full.complete and part.updates_done == STOP
        self.csv = (self.full_dir / R.METRICS_FILE).read_bytes()
        self.ckpt = (self.full_dir / R.CHECKPOINT_FILE).read_bytes()
        self.summary = _summary(self.full_dir)
        self.part_csv = (self.part_dir / R.METRICS_FILE).read_bytes()
        self.part_bits = state_bits(part.state)
        self.part_metrics = part.metrics

    def copy(self, dest: Path) -> Path:
        """A fresh copy of the stopped run, with bystander files beside it."""
        dest.mkdir(parents=True, exist_ok=True)
        (dest / "notes.txt").write_text("a user's file beside the run\n")
        shutil.copytree(self.part_dir, dest / "run")
        return dest / "run"


@pytest.fixture(scope="module")
def ref(tmp_path_factory) -> Ref:
    return Ref(tmp_path_factory.mktemp("ref"))


# ------------------------------------------------------------------------------ helpers


def _summary(d: Path) -> dict:
    data = json.loads((d / R.SUMMARY_FILE).read_text())
    return {k: v for k, v in data.items() if k not in TIMING}


def files(root: Path, skip: Path | None = None) -> dict[str, bytes]:
    """Every file under ``root`` (but ``skip`` and lock files): relative path -> bytes."""
    out = {}
    for p in sorted(root.rglob("*")):
        if skip is not None and (p == skip or skip in p.parents):
            continue
        if p.is_file() and p.name != R.LOCK_FILE:
            out[str(p.relative_to(root))] = p.read_bytes()
    return out


def one_line(e: BaseException) -> str:
    msg = str(e)
    assert msg and "\n" not in msg and "Traceback" not in msg, msg
    return msg


def outcome(d: Path, call: Callable[[Path], Any], check_same: Callable[[Path, Any], None]) -> str:
    """Run ``call(d)``; it must refuse in one line, changing nothing, or give the same result.

    Nothing outside ``d`` may change either way. Returns ``"refused"`` or ``"same"``.
    """
    outside = files(d.parent, skip=d)
    inside = files(d) if d.is_dir() else {}
    csv_before = len(inside.get(R.METRICS_FILE, b""))
    try:
        result = call(d)
    except RunError as e:
        one_line(e)
        assert files(d) == inside, "a refused command changed the run directory"
        verdict = "refused"
    else:
        check_same(d, result)
        verdict = "same"
    assert files(d.parent, skip=d) == outside, "a file outside the run directory changed"
    if (d / R.METRICS_FILE).is_file():
        assert verdict == "same" or (d / R.METRICS_FILE).stat().st_size >= csv_before
    return verdict


def same_as_full(ref: Ref) -> Callable[[Path, Any], None]:
    def check(d: Path, result: Any) -> None:
        assert result.complete
        assert (d / R.METRICS_FILE).read_bytes() == ref.csv
        assert (d / R.CHECKPOINT_FILE).read_bytes() == ref.ckpt
        assert _summary(d) == ref.summary

    return check


def same_as_part(ref: Ref) -> Callable[[Path, Any], None]:
    def check(d: Path, result: Any) -> None:
        assert result.updates_done == STOP and state_bits(result.state) == ref.part_bits
        for k, v in ref.part_metrics.items():
            np.testing.assert_array_equal(result.metrics[k], v)

    return check


def resume_or_refuse(d: Path, ref: Ref) -> str:
    return outcome(d, run.resume, same_as_full(ref))


def load_or_refuse(d: Path, ref: Ref) -> str:
    return outcome(d, run.load, same_as_part(ref))


# checkpoint surgery: the v2 file is msgpack {format, version, header, header_sha256, body}
def _sha(data: bytes | str) -> str:
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


def read_raw(path: Path) -> dict:
    return serialization.msgpack_restore(path.read_bytes())


def write_raw(path: Path, raw: dict) -> None:
    path.write_bytes(serialization.msgpack_serialize(raw))


def rewrite(path: Path, header_edit: Callable[[dict], Any] | None = None,
            body_edit: Callable[[dict], Any] | None = None, header_text: str | None = None) -> None:
    """Edit the header and/or the leaves, then recompute both checksums (a forged file)."""
    raw = read_raw(path)
    header = json.loads(raw["header"])
    if body_edit is not None:
        leaves = serialization.msgpack_restore(raw["body"])
        body_edit(leaves)
        raw["body"] = serialization.msgpack_serialize(leaves)
        header["body_sha256"] = _sha(raw["body"])
    if header_edit is not None:
        header_edit(header)
    text = header_text if header_text is not None else json.dumps(header)
    raw["header"], raw["header_sha256"] = text, _sha(text)
    write_raw(path, raw)


def flip(data: bytes, i: int, rng: random.Random) -> bytes:
    b = bytearray(data)
    b[i] ^= rng.randrange(1, 256)
    return bytes(b)


def body_span(data: bytes) -> tuple[int, int]:
    body = serialization.msgpack_restore(data)["body"]
    start = data.find(body)
    assert start > 0
    return start, start + len(body)


# ------------------------------------------------------------------------------ 1. fuzz: checkpoint
def checkpoint_damages(rng: random.Random, n_flips: int, n_body: int,
                       n_cuts: int) -> list[tuple[str, Callable[[bytes], bytes]]]:
    """(name, damage(bytes) -> bytes) for random flips anywhere, in the leaves, cuts, junk."""
    cases: list[tuple[str, Callable[[bytes], bytes]]] = []
    def in_body(d: bytes, u: float) -> int:
        start, end = body_span(d)
        return start + int(u * (end - start))

    for _ in range(n_flips):
        u, s = rng.random(), rng.random()
        cases.append((f"flip@{u:.4f}", lambda d, u=u, s=s: flip(d, int(u * len(d)),
                                                                random.Random(s))))
    for _ in range(n_body):
        u, s = rng.random(), rng.random()
        cases.append((f"leaf-flip@{u:.4f}", lambda d, u=u, s=s: flip(d, in_body(d, u),
                                                                     random.Random(s))))
    for _ in range(n_cuts):
        u = rng.random()
        cases.append((f"cut@{u:.4f}", lambda d, u=u: d[:int(u * len(d))]))
    s = rng.random()
    cases += [
        ("empty", lambda d: b""),
        ("junk-appended", lambda d: d + b"\x00junk"),
        ("msgpack-appended", lambda d: d + serialization.msgpack_serialize({"a": 1})),
        ("doubled", lambda d: d + d),
        ("random-bytes", lambda d, s=s: random.Random(s).randbytes(len(d))),
    ]
    return cases


def _damage_checkpoint_cases(ref: Ref, root: Path, cases, check_load: bool) -> dict[str, int]:
    seen = {"refused": 0, "same": 0}
    for i, (name, damage) in enumerate(cases):
        d = ref.copy(root / f"c{i}")
        path = d / R.CHECKPOINT_FILE
        path.write_bytes(damage(path.read_bytes()))
        verdict = resume_or_refuse(d, ref)
        seen[verdict] += 1
        if check_load:
            d2 = ref.copy(root / f"l{i}")
            (d2 / R.CHECKPOINT_FILE).write_bytes(damage((ref.part_dir / R.CHECKPOINT_FILE).read_bytes()))
            assert load_or_refuse(d2, ref) == verdict or verdict == "refused", name
        shutil.rmtree(d.parent)
    return seen


def test_damaged_checkpoints_are_refused_never_loaded(ref, tmp_path, no_plot):
    cases = checkpoint_damages(random.Random(1234), n_flips=24, n_body=8, n_cuts=6)
    seen = _damage_checkpoint_cases(ref, tmp_path, cases, check_load=False)
    assert seen["refused"] >= len(cases) - 1  # a flip may at most hit nothing that matters


@pytest.mark.slow
def test_damaged_checkpoints_many(ref, tmp_path, no_plot):
    cases = checkpoint_damages(random.Random(99), n_flips=300, n_body=100, n_cuts=60)
    _damage_checkpoint_cases(ref, tmp_path, cases, check_load=True)


def _set(path: list, value: Any) -> Callable[[dict], None]:
    def edit(h: dict) -> None:
        node = h
        for k in path[:-1]:
            node = node[k]
        if value is _DEL:
            del node[path[-1]]
        else:
            node[path[-1]] = value

    return edit


_DEL = object()

# Forged headers (valid checksums, hostile values): every one must be refused.
HOSTILE_HEADERS = {
    "updates_done beyond num_updates": _set(["updates_done"], NUM_UPDATES + 5),
    "updates_done huge": _set(["updates_done"], 10**30),
    "updates_done negative": _set(["updates_done"], -1),
    "updates_done earlier": _set(["updates_done"], 3),
    "updates_done later": _set(["updates_done"], 12),
    "updates_done a bool": _set(["updates_done"], True),
    "updates_done a float": _set(["updates_done"], 7.0),
    "updates_done NaN": _set(["updates_done"], float("nan")),
    "csv_bytes huge": _set(["extra", "csv_bytes"], 10**18),
    "csv_bytes beyond int64": _set(["extra", "csv_bytes"], 2**70),
    "csv_bytes negative": _set(["extra", "csv_bytes"], -5),
    "csv_bytes short": _set(["extra", "csv_bytes"], 40),
    "csv_bytes a string": _set(["extra", "csv_bytes"], "100"),
    "csv_sha256 other": _set(["extra", "csv_sha256"], "0" * 64),
    "csv_sha256 missing": _set(["extra", "csv_sha256"], _DEL),
    "env_steps huge": _set(["extra", "env_steps"], [10**30, 10**30]),
    "env_steps other": _set(["extra", "env_steps"], [2, 2]),
    "env_steps too few": _set(["extra", "env_steps"], [14]),
    "env_steps not a list": _set(["extra", "env_steps"], 14),
    "spec seeds": _set(["extra", "spec", "seeds"], 3),
    "spec seed": _set(["extra", "spec", "seed"], 1),
    "spec seed huge": _set(["extra", "spec", "seed"], 2**80),
    "spec env_options": _set(["extra", "spec", "env_options"], {"max_steps": 10}),
    "spec num_updates": _set(["extra", "spec", "num_updates"], 10**12),
    "spec lr": _set(["extra", "spec", "config", "lr"], 0.5),
    "spec missing": _set(["extra", "spec"], _DEL),
    "spec not a table": _set(["extra", "spec"], [1, 2]),
    "extra missing": _set(["extra"], _DEL),
    "leaves missing": _set(["leaves"], _DEL),
    "config missing": _set(["config"], _DEL),
    "algorithm missing": _set(["algorithm"], _DEL),
    "body_sha256 missing": _set(["body_sha256"], _DEL),
    "algorithm other": _set(["algorithm"], "ppo"),
    "env other": _set(["env"], "Acrobot-v1"),
    "config lr": _set(["config", "lr"], 0.5),
    "leaf shape": _set(["leaves", 0, "shape"], [2, 4]),
    "leaf shape negative": _set(["leaves", 0, "shape"], [-2, 3]),
    "leaf dtype": _set(["leaves", 0, "dtype"], "float64"),
    "leaf dtype nonsense": _set(["leaves", 0, "dtype"], "no-such-type"),
    "leaf path": _set(["leaves", 0, "path"], ".other"),
    "leaves empty": _set(["leaves"], []),
    "leaves not tables": _set(["leaves"], [1, 2, 3, 4]),
}

# Forged bodies (recomputed checksums) whose arrays do not fit the run: refused.
HOSTILE_BODIES = {
    "leaf a string": lambda b: b.__setitem__("0", "hello"),
    "leaf a table": lambda b: b.__setitem__("0", {"a": np.zeros(3)}),
    "leaf a list": lambda b: b.__setitem__("0", [1, 2]),
    "leaf other dtype": lambda b: b.__setitem__("0", np.asarray(b["0"], np.float64)),
    "leaf other shape": lambda b: b.__setitem__("0", np.zeros((2, 4), np.float32)),
    "leaf a scalar": lambda b: b.__setitem__("0", 1.5),
    "key leaf other shape": lambda b: b.__setitem__("1", np.zeros((2, 3), np.uint32)),
    "key leaf floats": lambda b: b.__setitem__("1", np.zeros((2, 2), np.float32)),
    "leaf missing": lambda b: b.pop("0"),
    "leaf extra": lambda b: b.__setitem__("99", np.zeros(1)),
    "leaves renumbered": lambda b: b.__setitem__("7", b.pop("0")),
}


def test_forged_checkpoint_headers_are_refused(ref, tmp_path):
    for i, (name, edit) in enumerate(HOSTILE_HEADERS.items()):
        d = ref.copy(tmp_path / f"h{i}")
        rewrite(d / R.CHECKPOINT_FILE, header_edit=edit)
        assert resume_or_refuse(d, ref) == "refused", name
        assert load_or_refuse(d, ref) == "refused", name
        with pytest.raises(RunError) as err:  # a new run into it: refused with advice
            train(d)
        one_line(err.value)
    for i, (name, edit) in enumerate(HOSTILE_BODIES.items()):
        d = ref.copy(tmp_path / f"b{i}")
        rewrite(d / R.CHECKPOINT_FILE, body_edit=edit)
        assert resume_or_refuse(d, ref) == "refused", name
        assert load_or_refuse(d, ref) == "refused", name


def test_edited_header_without_its_checksum_is_refused(ref, tmp_path):
    """A header edited in place (the checksum left as it was) is refused by the checksum."""
    for i, (old, new) in enumerate([(b'"updates_done": 7', b'"updates_done": 3'),
                                    (b'"seeds": 2', b'"seeds": 3'),
                                    (b'"lr": 0.1', b'"lr": 0.2')]):
        d = ref.copy(tmp_path / f"e{i}")
        path = d / R.CHECKPOINT_FILE
        raw = read_raw(path)
        assert old.decode() in raw["header"]
        raw["header"] = raw["header"].replace(old.decode(), new.decode())
        write_raw(path, raw)
        assert resume_or_refuse(d, ref) == "refused"
        with pytest.raises(RunError, match="does not match its checksum"):
            run.load(d)


def test_forged_header_text_is_refused(ref, tmp_path):
    """Header strings that are not a run's header, with a valid checksum."""
    texts = {"not JSON": "{", "a list": "[1, 2]", "null": "null", "a number": "7",
             "deeply nested": "[" * 100_000 + "]" * 100_000,
             "nested table": '{"a":' * 50_000 + "1" + "}" * 50_000, "empty": ""}
    for i, (name, text) in enumerate(texts.items()):
        d = ref.copy(tmp_path / f"t{i}")
        rewrite(d / R.CHECKPOINT_FILE, header_text=text)
        assert resume_or_refuse(d, ref) == "refused", name
    # Top-level fields of the file itself.
    for i, (key, value) in enumerate([("version", 1), ("version", 3), ("version", "2"),
                                      ("format", "other"), ("header", 5), ("body", "text"),
                                      ("header_sha256", None)]):
        d = ref.copy(tmp_path / f"f{i}")
        raw = read_raw(d / R.CHECKPOINT_FILE)
        raw[key] = value
        write_raw(d / R.CHECKPOINT_FILE, raw)
        assert resume_or_refuse(d, ref) == "refused", (key, value)


def test_a_checkpoint_that_is_a_directory_is_refused(ref, tmp_path):
    d = ref.copy(tmp_path / "x")
    (d / R.CHECKPOINT_FILE).unlink()
    (d / R.CHECKPOINT_FILE).mkdir()
    assert resume_or_refuse(d, ref) == "refused"
    assert load_or_refuse(d, ref) == "refused"


# ------------------------------------------------------------------------------ 1. fuzz: metrics.csv
def metrics_damages(rng: random.Random, csv: bytes, n: int) -> list[tuple[str, Callable[[bytes], bytes], str]]:
    """(name, damage, expected): damage inside the checkpointed bytes is refused, after them dropped."""
    size, s = len(csv), rng.random()
    cases: list[tuple[str, Callable[[bytes], bytes], str]] = [
        ("empty", lambda d: b"", "refused"),
        ("header only", lambda d: d[: d.index(b"\n") + 1], "refused"),
        ("last byte cut", lambda d: d[:-1], "refused"),
        ("last row cut", lambda d: d[: d.rstrip(b"\n").rindex(b"\n") + 1], "refused"),
        ("row edited", lambda d: d.replace(b"\n3,0,", b"\n3,0,9", 1), "refused"),
        ("row swapped", lambda d: _swap_rows(d), "refused"),
        ("CRLF", lambda d: d.replace(b"\n", b"\r\n"), "refused"),
        ("partial row after", lambda d: d + b"8,0,16,na", "same"),
        ("rows after", lambda d: d + b"8,0,16,nan,0,0.5\n8,1,16,nan,0,0.5\n", "same"),
        ("NULs after", lambda d: d + b"\x00" * 4096, "same"),
        ("binary after", lambda d, s=s: d + random.Random(s).randbytes(300), "same"),
        ("whole file again after", lambda d: d + d, "same"),
    ]
    for _ in range(n):
        i = rng.randrange(size)
        cases.append((f"NUL@{i}", lambda d, i=i: d[:i] + b"\x00" + d[i + 1:], "refused"))
        j = rng.randrange(size)
        cases.append((f"cut@{j}", lambda d, j=j: d[:j], "refused"))
        k, s = rng.randrange(size), rng.random()
        cases.append((f"flip@{k}", lambda d, k=k, s=s: flip(d, k, random.Random(s)), "refused"))
    return cases


def _swap_rows(d: bytes) -> bytes:
    lines = d.split(b"\n")
    lines[2], lines[3] = lines[3], lines[2]
    return b"\n".join(lines)


def _damage_metrics_cases(ref: Ref, root: Path, cases) -> None:
    for i, (name, damage, expected) in enumerate(cases):
        d = ref.copy(root / f"m{i}")
        path = d / R.METRICS_FILE
        path.write_bytes(damage(path.read_bytes()))
        if expected == "refused":  # the file is damaged inside what the checkpoint vouches for
            assert load_or_refuse(d, ref) == "refused", name
        assert resume_or_refuse(d, ref) == expected, name
        shutil.rmtree(d.parent)


def test_damaged_metrics_are_refused_and_junk_after_the_checkpoint_dropped(ref, tmp_path, no_plot):
    _damage_metrics_cases(ref, tmp_path, metrics_damages(random.Random(5), ref.part_csv, 6))


@pytest.mark.slow
def test_damaged_metrics_many(ref, tmp_path, no_plot):
    _damage_metrics_cases(ref, tmp_path, metrics_damages(random.Random(6), ref.part_csv, 80))


def test_missing_or_replaced_metrics_are_refused(ref, tmp_path):
    d = ref.copy(tmp_path / "gone")
    (d / R.METRICS_FILE).unlink()
    assert resume_or_refuse(d, ref) == "refused"
    d = ref.copy(tmp_path / "dir")
    (d / R.METRICS_FILE).unlink()
    (d / R.METRICS_FILE).mkdir()
    assert resume_or_refuse(d, ref) == "refused"


def test_read_metrics_refuses_any_damage_in_one_line(ref):
    """``read_metrics`` (public) on random damage: a table or one RunError, never a crash."""
    rng = random.Random(3)
    good = ref.csv
    samples = [b"update,seed\n1,-1\n", b"update,seed\n1,nan\n", b"update,seed\n1,inf\n",
               b"update,seed\nnan,0\n", b"update,seed,a\n1,0,1\n1,0\n", b"update,seed\n1\n",
               b"update,seed,x\n1,0," + b"9" * 200_000 + b"\n", b"update,seed\n1,1e300\n",
               b"update,seed\n1,0,5\n", b"\xff\xfe", b"", b"update,seed\n\"1,0\n"]
    for _ in range(200):
        i = rng.randrange(len(good))
        samples.append(flip(good, i, rng))
        samples.append(good[: rng.randrange(len(good))])
    for data in samples:
        try:
            out = R.read_metrics(data)
        except RunError as e:
            one_line(e)
        else:
            assert isinstance(out, dict)


# ------------------------------------------------------------------------------ 1. fuzz: config.json
def _cfg_edit(edit: Callable[[dict], Any]) -> Callable[[bytes], bytes]:
    def damage(data: bytes) -> bytes:
        cfg = json.loads(data)
        edit(cfg)
        return json.dumps(cfg, indent=2).encode()

    return damage


CONFIG_DAMAGES: dict[str, Callable[[bytes], bytes]] = {
    "invalid JSON": lambda d: d[:-5],
    "empty": lambda d: b"",
    "not UTF-8": lambda d: b"\xff\xfe" + d,
    "NUL bytes": lambda d: d.replace(b"{", b"{\x00", 1),
    "a list": lambda d: b"[1, 2]",
    "deeply nested": lambda d: b"[" * 100_000 + b"]" * 100_000,
    "missing algorithm": _cfg_edit(lambda c: c.pop("algorithm")),
    "missing seeds": _cfg_edit(lambda c: c.pop("seeds")),
    "missing num_updates": _cfg_edit(lambda c: c.pop("num_updates")),
    "missing config": _cfg_edit(lambda c: c.pop("config")),
    "missing a config field": _cfg_edit(lambda c: c["config"].pop("width")),
    "seeds a string": _cfg_edit(lambda c: c.update(seeds="2")),
    "seeds a float": _cfg_edit(lambda c: c.update(seeds=2.0)),
    "seeds a bool": _cfg_edit(lambda c: c.update(seeds=True)),
    "seeds zero": _cfg_edit(lambda c: c.update(seeds=0)),
    "seeds 3": _cfg_edit(lambda c: c.update(seeds=3)),
    "seeds huge": _cfg_edit(lambda c: c.update(seeds=10**30)),
    "seed 1": _cfg_edit(lambda c: c.update(seed=1)),
    "seed negative": _cfg_edit(lambda c: c.update(seed=-1)),
    "seed huge": _cfg_edit(lambda c: c.update(seed=2**80)),
    "num_updates 20": _cfg_edit(lambda c: c.update(num_updates=20)),
    "num_updates 5 (below the checkpoint)": _cfg_edit(lambda c: c.update(num_updates=5)),
    "num_updates huge": _cfg_edit(lambda c: c.update(num_updates=10**40)),
    "chunk_updates 2": _cfg_edit(lambda c: c.update(chunk_updates=2)),
    "chunk_updates huge": _cfg_edit(lambda c: c.update(chunk_updates=10**12)),
    "checkpoint_every 1": _cfg_edit(lambda c: c.update(checkpoint_every=1)),
    "env_options added": _cfg_edit(lambda c: c.update(env_options={"max_steps": 10})),
    "env_options a list": _cfg_edit(lambda c: c.update(env_options=[1])),
    "env other": _cfg_edit(lambda c: c.update(env="Acrobot-v1")),
    "env unknown": _cfg_edit(lambda c: c.update(env="NoSuchEnv-v0")),
    "env a module path": _cfg_edit(lambda c: c.update(env="os:system")),
    "algorithm other": _cfg_edit(lambda c: c.update(algorithm="ppo")),
    "algorithm unknown": _cfg_edit(lambda c: c.update(algorithm="nope")),
    "lr edited": _cfg_edit(lambda c: c["config"].update(lr=0.2)),
    "lr a string": _cfg_edit(lambda c: c["config"].update(lr="fast")),
    "lr negative": _cfg_edit(lambda c: c["config"].update(lr=-1.0)),
    "width edited": _cfg_edit(lambda c: c["config"].update(width=4)),
    "unknown config field": _cfg_edit(lambda c: c["config"].update(nope=1)),
    "on_nonfinite other": _cfg_edit(lambda c: c.update(on_nonfinite="ignore")),
    "on_nonfinite mask": _cfg_edit(lambda c: c.update(on_nonfinite="mask")),
    "obs_noise NaN": _cfg_edit(lambda c: c.update(obs_noise=float("nan"))),
    "obs_noise edited": _cfg_edit(lambda c: c.update(obs_noise=0.5)),
}


def test_damaged_config_is_refused(ref, tmp_path, no_plot):
    for i, (name, damage) in enumerate(CONFIG_DAMAGES.items()):
        d = ref.copy(tmp_path / f"g{i}")
        path = d / R.CONFIG_FILE
        path.write_bytes(damage(path.read_bytes()))
        assert resume_or_refuse(d, ref) == "refused", name
        assert load_or_refuse(d, ref) == "refused", name
        shutil.rmtree(d.parent)


def test_config_with_an_extra_key_or_reformatted_resumes(ref, tmp_path, no_plot):
    """Harmless edits (another indentation, an unknown top-level key) give the same run."""
    d = ref.copy(tmp_path / "a")
    cfg = json.loads((d / R.CONFIG_FILE).read_text())
    cfg["my_note"] = "tried lr 0.1"
    (d / R.CONFIG_FILE).write_text(json.dumps(cfg))
    assert resume_or_refuse(d, ref) == "same"


def test_config_that_is_a_directory_is_refused(ref, tmp_path):
    d = ref.copy(tmp_path / "a")
    (d / R.CONFIG_FILE).unlink()
    (d / R.CONFIG_FILE).mkdir()
    assert resume_or_refuse(d, ref) == "refused"
    assert load_or_refuse(d, ref) == "refused"
    with pytest.raises(RunError, match="did not write"):  # a new run, even with --overwrite
        train(d, overwrite=True)


def test_a_config_naming_a_foreign_callable_runs_no_code(ref, tmp_path):
    """A run directory from elsewhere must not run a command when it is loaded or resumed."""
    d = ref.copy(tmp_path / "a")
    marker = tmp_path / "pwned"
    cfg = json.loads((d / R.CONFIG_FILE).read_text())
    cfg["env"], cfg["env_options"] = "subprocess:Popen", {"args": ["touch", str(marker)]}
    (d / R.CONFIG_FILE).write_text(json.dumps(cfg))
    for call in (run.load, run.resume):
        with pytest.raises(RunError):
            call(d)
    time.sleep(0.5)  # a spawned command would have run by now
    assert not marker.exists()


SUMMARY_DAMAGES = {
    "invalid JSON": b"{",
    "a list": b"[1, 2]",
    "not UTF-8": b"\xff\xfe{}",
    "wrong types": json.dumps({"bad_seeds": "all", "compile_seconds": "slow",
                               "run_seconds": [1], "algorithm": 5}).encode(),
    "bad seeds out of range": json.dumps({"bad_seeds": [-1, 99, True, 1.5, None]}).encode(),
}


def test_a_damaged_summary_does_not_stop_load_or_resume(ref, tmp_path, no_plot):
    """summary.json is a report, not state: damage to it is ignored (or refused), never a crash."""
    for i, (name, data) in enumerate(SUMMARY_DAMAGES.items()):
        d = ref.copy(tmp_path / f"s{i}")
        (d / R.SUMMARY_FILE).write_bytes(data)
        assert load_or_refuse(d, ref) == "same", name
        assert resume_or_refuse(d, ref) == "same", name
    d = ref.copy(tmp_path / "dir")
    (d / R.SUMMARY_FILE).unlink()
    (d / R.SUMMARY_FILE).mkdir()
    assert load_or_refuse(d, ref) == "same"


def test_a_deeply_nested_summary_does_not_crash_load(ref, tmp_path):
    d = ref.copy(tmp_path / "deep")
    (d / R.SUMMARY_FILE).write_bytes(b"[" * 100_000 + b"]" * 100_000)
    assert load_or_refuse(d, ref) in ("same", "refused")


# ------------------------------------------------------------------------------ 2. every stopping point
SETTINGS = {  # name: (chunk_updates, checkpoint_every)
    "chunk4-every5": (4, 5),
    "chunk3-every1": (3, 1),
    "chunk16-every0": (16, 0),
}


def _stop_everywhere(root: Path, chunk: int, every: int, stops: list[int]) -> None:
    kw = {"chunk_updates": chunk, "checkpoint_every": every}
    full = train(root / "full", **kw)
    csv = (root / "full" / R.METRICS_FILE).read_bytes()
    blob = (root / "full" / R.CHECKPOINT_FILE).read_bytes()
    summary = _summary(root / "full")
    for k in stops:
        d = root / f"stop{k}"
        part = train(d, stop_after=k, **kw)
        assert part.updates_done == k and not part.complete
        assert ckpt.read_header(d / R.CHECKPOINT_FILE)["updates_done"] == k
        assert csv.startswith((d / R.METRICS_FILE).read_bytes())
        end = run.resume(d)
        assert end.complete and state_bits(end.state) == state_bits(full.state), k
        assert (d / R.METRICS_FILE).read_bytes() == csv, k
        assert (d / R.CHECKPOINT_FILE).read_bytes() == blob, k
        assert _summary(d) == summary, k
        shutil.rmtree(d)


@pytest.mark.heavy
@pytest.mark.parametrize("setting", list(SETTINGS))
def test_resume_from_every_stopping_point_is_bit_identical(setting, tmp_path, no_plot):
    chunk, every = SETTINGS[setting]
    # The first setting from every update; the others from one (all of them: -m slow).
    stops = list(range(1, NUM_UPDATES)) if setting == "chunk4-every5" else [6]
    _stop_everywhere(tmp_path, chunk, every, stops)


@pytest.mark.slow
@pytest.mark.parametrize("setting", ["chunk3-every1", "chunk16-every0"])
def test_resume_from_every_stopping_point_all_settings(setting, tmp_path, no_plot):
    chunk, every = SETTINGS[setting]
    _stop_everywhere(tmp_path, chunk, every, list(range(1, NUM_UPDATES)))


@pytest.mark.slow
def test_resume_in_many_small_steps_is_bit_identical(ref, tmp_path, no_plot):
    """Stopped after every single update and resumed each time: the same run."""
    d = tmp_path / "steps"
    train(d, stop_after=1)
    for k in range(2, NUM_UPDATES + 1):
        r = run.resume(d, stop_after=1)
        assert r.updates_done == k
    assert (d / R.METRICS_FILE).read_bytes() == ref.csv
    assert (d / R.CHECKPOINT_FILE).read_bytes() == ref.ckpt


# ------------------------------------------------------------------------------ 3. one writer
class Intruder(Callback):
    """A tracker whose ``on_chunk`` runs another command on the same directory mid-run."""

    def __init__(self, attempt: Callable[[], Any], at_update: int = 5):
        self.attempt, self.at_update = attempt, at_update
        self.errors: list[str] = []
        self.tried = 0


    def on_chunk(self, first_update: int, metrics: Any) -> None:
        if first_update >= self.at_update and not self.tried:
            self.tried += 1
            with pytest.raises(RunError) as err:
                self.attempt()
            self.errors.append(one_line(err.value))



def test_a_second_writer_is_refused_and_the_first_is_unharmed(ref, tmp_path, no_plot):
    d = tmp_path / "busy"
    pid = f"pid {os.getpid()}"
    intruders = [
        Intruder(lambda: train(d)),
        Intruder(lambda: train(d, overwrite=True)),
        Intruder(lambda: run.resume(d)),
        Intruder(lambda: R.RunDir.open(d)),
    ]
    result = train(d, callbacks=intruders)
    assert result.complete
    for it in intruders:
        assert it.tried == 1 and pid in it.errors[0] and "in use by" in it.errors[0], it.errors
    assert (d / R.METRICS_FILE).read_bytes() == ref.csv
    assert (d / R.CHECKPOINT_FILE).read_bytes() == ref.ckpt
    assert not (d / R.LOCK_FILE).exists()  # released at the end


def test_resume_while_a_resume_runs_is_refused(ref, tmp_path, no_plot):
    d = ref.copy(tmp_path / "x")
    intruder = Intruder(lambda: run.resume(d), at_update=STOP + 1)
    assert run.resume(d, callbacks=[intruder]).complete
    assert intruder.tried == 1 and f"pid {os.getpid()}" in intruder.errors[0]
    assert (d / R.METRICS_FILE).read_bytes() == ref.csv


def test_cli_intruder_is_refused_naming_the_owner(ref, tmp_path):
    """A second process (the real CLI) is refused in one line naming this process's pid."""
    d = ref.copy(tmp_path / "x")
    before = files(d)
    with R.RunDir.open(d):
        proc = probe_cli("train", "--resume", str(d), cwd=tmp_path, check=False)
    err = cli_error(proc)
    assert f"pid {os.getpid()}" in err and "in use by" in err
    assert files(d) == before


def test_a_stale_lock_is_taken_over_with_a_message(ref, tmp_path, no_plot, capsys):
    d = ref.copy(tmp_path / "x")
    (d / R.LOCK_FILE).write_text("pid 999999 on elsewhere since 2024-01-01 00:00:00\n")
    with R.RunDir.open(d) as rd:
        assert any("took over the lock" in m and "pid 999999" in m for m in rd.messages)
    (d / R.LOCK_FILE).write_text("pid 999999 on elsewhere since 2024-01-01 00:00:00\n")
    assert run.resume(d).complete
    assert "took over the lock" in capsys.readouterr().err
    assert (d / R.METRICS_FILE).read_bytes() == ref.csv


# ------------------------------------------------------------------------------ 4. --overwrite
def _old_run(root: Path) -> tuple[Path, dict[str, bytes]]:
    """A finished run with a user's notes and a foreign file in tensorboard/."""
    d = root / "old"
    train(d, lr=0.05)
    (d / "notes.txt").write_text("my notes\n")
    (d / R.TB_DIR / "my_plot.svg").write_text("<svg/>")
    return d, files(d)


def test_overwrite_refused_by_its_settings_leaves_the_old_run(tmp_path):
    d, before = _old_run(tmp_path)
    with pytest.raises(RunError):
        train(d, overwrite=True, lr=-1.0)
    with pytest.raises(RunError):
        run.train(PROBE, "NoSuchEnv-v0", out_dir=d, overwrite=True)
    assert files(d) == before


class Killed(BaseException):
    """Stands for SIGKILL: nothing catches it, nothing after it runs in the driver."""


class KillAt(Callback):
    def __init__(self, update: int):
        self.update = update


    def on_chunk(self, first_update: int, metrics: Any) -> None:
        if first_update >= self.update:
            raise Killed



def test_overwrite_failing_before_its_first_checkpoint_leaves_the_old_run(tmp_path, no_plot):
    d, before = _old_run(tmp_path)
    with pytest.raises(Killed):  # stopped before its first checkpoint (every 5)
        train(d, overwrite=True, callbacks=[KillAt(1)])
    assert files(d) == before and not (d / R.STAGING_DIR).exists()
    with pytest.raises(TrainingError):  # a non-finite loss before the first checkpoint
        train(d, overwrite=True, nan_at=2)
    assert files(d) == before and not (d / R.STAGING_DIR).exists()
    # A process killed for real leaves its staging folder: the next command drops it.
    staging = d / R.STAGING_DIR
    staging.mkdir()
    (staging / R.CONFIG_FILE).write_text("{}")
    (staging / R.METRICS_FILE).write_text("update,seed\n")
    with R.RunDir.open(d) as rd:
        assert any("stopped before its first checkpoint" in m for m in rd.messages)
    assert files(d) == before and not staging.exists()


def test_overwrite_keeps_the_users_files_and_replaces_the_run(ref, tmp_path, no_plot):
    d, before = _old_run(tmp_path)
    result = train(d, overwrite=True)
    assert result.complete
    assert (d / "notes.txt").read_text() == "my notes\n"
    assert (d / R.TB_DIR / "my_plot.svg").read_text() == "<svg/>"
    assert (d / R.METRICS_FILE).read_bytes() == ref.csv
    assert (d / R.CHECKPOINT_FILE).read_bytes() == ref.ckpt
    old_events = [k for k in before if k.endswith(R.TB_SUFFIX)]
    assert old_events and not any((d / k).exists() for k in old_events)
    assert not (d / R.STAGING_DIR).exists()


def test_overwrite_never_replaces_a_config_jaxrl_did_not_write(tmp_path):
    d = tmp_path / "mine"
    d.mkdir()
    (d / R.CONFIG_FILE).write_text('{"my": "own config"}\n')
    (d / "data.csv").write_text("1,2\n")
    before = files(d)
    with pytest.raises(RunError, match="did not write") as err:
        train(d, overwrite=True)
    one_line(err.value)
    assert files(d) == before


def test_overwrite_killed_in_its_swap_is_finished_by_the_next_command(ref, tmp_path, no_plot,
                                                                      monkeypatch):
    d, _ = _old_run(tmp_path)
    real = os.replace
    calls = {"n": 0}

    def dying_replace(src, dst):
        calls["n"] += 1
        if calls["n"] == 4:  # checkpoint, COMMIT list, one staged file moved: then killed
            raise Killed
        return real(src, dst)

    monkeypatch.setattr(os, "replace", dying_replace)
    with pytest.raises(Killed):
        train(d, overwrite=True)
    monkeypatch.setattr(os, "replace", real)
    assert (d / R.STAGING_DIR / R.COMMIT_FILE).is_file()  # the swap is pending, not dropped
    result = run.resume(d)  # the next command finishes the swap, then the new run
    assert result.complete
    assert (d / R.METRICS_FILE).read_bytes() == ref.csv
    assert (d / R.CHECKPOINT_FILE).read_bytes() == ref.ckpt
    assert (d / "notes.txt").read_text() == "my notes\n"
    assert not (d / R.STAGING_DIR).exists()


def test_a_hand_made_pending_swap_is_finished(ref, tmp_path, no_plot):
    """Staging folder + COMMIT list as a killed swap leaves them: the next command commits."""
    d, _ = _old_run(tmp_path)
    new = tmp_path / "new"
    train(new, stop_after=STOP)
    staging = d / R.STAGING_DIR
    staging.mkdir()
    names = [R.CONFIG_FILE, R.METRICS_FILE, R.CHECKPOINT_FILE]
    for n in names:
        shutil.copy(new / n, staging / n)
    (staging / R.COMMIT_FILE).write_text(json.dumps(names))
    with R.RunDir.open(d) as rd:
        assert any("finished replacing the old run" in m for m in rd.messages)
    assert not staging.exists()
    assert not (d / R.SUMMARY_FILE).exists() and not (d / R.CURVE_FILE).exists()
    assert run.resume(d).complete
    assert (d / R.METRICS_FILE).read_bytes() == ref.csv


def test_a_staging_name_taken_by_a_file_is_refused(ref, tmp_path):
    d = ref.copy(tmp_path / "x")
    (d / R.STAGING_DIR).write_text("mine")
    assert resume_or_refuse(d, ref) == "refused"
    with pytest.raises(RunError):
        train(d, overwrite=True)
    assert (d / R.STAGING_DIR).read_text() == "mine"


def test_links_out_of_the_run_directory_are_never_written_through(ref, tmp_path):
    """A lock file or staging folder that is a symbolic link to elsewhere (a directory from
    someone else) is refused: jaxrl never truncates, moves or deletes what it points to."""
    d = ref.copy(tmp_path / "lock")
    (d / R.LOCK_FILE).symlink_to(d.parent / "notes.txt")
    assert resume_or_refuse(d, ref) == "refused"
    assert (d.parent / "notes.txt").read_text() == "a user's file beside the run\n"
    d = ref.copy(tmp_path / "staging")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / R.COMMIT_FILE).write_text(json.dumps(["precious.txt"]))
    (elsewhere / "precious.txt").write_text("keep me")
    (d / R.STAGING_DIR).symlink_to(elsewhere, target_is_directory=True)
    assert resume_or_refuse(d, ref) == "refused"
    with pytest.raises(RunError):
        train(d, overwrite=True)
    assert (elsewhere / "precious.txt").read_text() == "keep me"
    assert (elsewhere / R.COMMIT_FILE).exists()
    # A real staging folder whose COMMIT list reaches out through a link inside it.
    d = ref.copy(tmp_path / "inner")
    staging = d / R.STAGING_DIR
    staging.mkdir()
    (staging / "out").symlink_to(elsewhere, target_is_directory=True)
    (staging / "ln.txt").symlink_to(elsewhere / "precious.txt")
    (staging / R.COMMIT_FILE).write_text(json.dumps(["out/precious.txt", "ln.txt",
                                                    "../notes.txt", str(elsewhere)]))
    with R.RunDir.open(d):
        pass
    assert (elsewhere / "precious.txt").read_text() == "keep me"
    assert (d.parent / "notes.txt").exists() and not staging.exists()
    assert not (d / "out").exists() and not (d / "ln.txt").exists()


# ------------------------------------------------------------------------------ 5. NaN guard
def test_nonfinite_stops_at_the_update_and_keeps_the_last_good_checkpoint(tmp_path, no_plot):
    d = tmp_path / "nan"
    with pytest.raises(TrainingError) as err:
        train(d, nan_at=7, nan_share=0.5, seeds=4)
    msg = one_line(err.value)
    bad = [s for s in range(4) if _probe_bad(s)]
    assert bad and len(bad) < 4
    assert f"seed {bad[0]}: its parameters became non-finite at update 7" in msg
    header = ckpt.read_header(d / R.CHECKPOINT_FILE)
    assert header["updates_done"] == 5  # the last checkpoint before update 7
    loaded = run.load(d)
    assert loaded.updates_done == 5 and np.all(np.isfinite(np.asarray(loaded.state.w)))
    assert len((d / R.METRICS_FILE).read_text().splitlines()) == 1 + 5 * 4


def _probe_bad(seed_index: int, base: int = 0, share: float = 0.5) -> bool:
    key = run.seed_keys(base, seed_index + 1)[seed_index]
    return bool(jax.random.uniform(jax.random.fold_in(key, 7)) < share)


def test_nonfinite_masked_trains_on_and_lists_the_bad_seeds(tmp_path, no_plot):
    d = tmp_path / "mask"
    result = train(d, nan_at=7, nan_share=0.5, seeds=4, on_nonfinite="mask")
    bad = [s for s in range(4) if _probe_bad(s)]
    assert result.complete and list(result.bad_seeds) == bad
    assert json.loads((d / R.SUMMARY_FILE).read_text())["bad_seeds"] == bad
    # Stopped after the NaN and resumed: the same summary (bad seeds found again).
    d2 = tmp_path / "mask2"
    train(d2, nan_at=7, nan_share=0.5, seeds=4, on_nonfinite="mask", stop_after=9)
    assert run.resume(d2).complete
    assert _summary(d2) == _summary(d)
    assert (d2 / R.METRICS_FILE).read_bytes() == (d / R.METRICS_FILE).read_bytes()


def test_nonfinite_cli_is_one_line_exit_1(tmp_path, capsys, no_plot):
    code = cli.main(["train", PROBE, "--env", ENV, "--seeds", "2", "--chunk", "4",
                     "--checkpoint-every", "5", "--set", "nan_at=7", "--out", str(tmp_path / "n"),
                     "-q"])
    err = capsys.readouterr().err.strip()
    assert code == 1 and len(err.splitlines()) == 1, err
    assert err.startswith("jaxrl: training stopped: seed 0: its parameters became non-finite "
                          "at update 7")
    assert ckpt.read_header(tmp_path / "n" / R.CHECKPOINT_FILE)["updates_done"] == 5


# ------------------------------------------------------------------------------ 6. smaller items
class SigintAt(Callback):
    """Sends this process a real SIGINT from ``on_chunk`` once update ``update`` is done."""

    def __init__(self, update: int):
        self.update, self.sent = update, False

    def on_start(self, info: Any) -> None:
        assert threading.current_thread() is threading.main_thread()

    def on_chunk(self, first_update: int, metrics: Any) -> None:
        n = next(iter(metrics.values())).shape[1]
        if first_update + n - 1 >= self.update and not self.sent:
            self.sent = True  # once: a second Ctrl-C ends the process (os._exit)
            os.kill(os.getpid(), signal.SIGINT)



def test_ctrl_c_after_the_last_update_still_writes_summary_and_curve(ref, tmp_path):
    d = tmp_path / "last"
    result = train(d, callbacks=[SigintAt(NUM_UPDATES)])  # no Interrupted: the run is complete
    assert result.complete
    assert (d / R.CURVE_FILE).stat().st_size > 0
    assert _summary(d) == ref.summary
    assert (d / R.METRICS_FILE).read_bytes() == ref.csv


def test_ctrl_c_mid_run_checkpoints_and_resumes(ref, tmp_path, no_plot):
    d = tmp_path / "mid"
    with pytest.raises(run.Interrupted) as stop:
        train(d, callbacks=[SigintAt(6)])
    done = stop.value.result.updates_done
    assert 6 <= done < NUM_UPDATES
    assert ckpt.read_header(d / R.CHECKPOINT_FILE)["updates_done"] == done
    assert run.resume(d).complete
    assert (d / R.METRICS_FILE).read_bytes() == ref.csv
    assert (d / R.CHECKPOINT_FILE).read_bytes() == ref.ckpt


def test_a_killed_saves_temp_file_is_removed_with_a_message(ref, tmp_path, no_plot, capsys):
    d = ref.copy(tmp_path / "x")
    tmp = d / f"{ckpt.TEMP_PREFIX}{R.CHECKPOINT_FILE}.abc123"
    tmp.write_bytes((d / R.CHECKPOINT_FILE).read_bytes()[:100])
    assert run.resume(d).complete
    assert not tmp.exists()
    assert f"removed {tmp.name}" in capsys.readouterr().err
    assert (d / R.METRICS_FILE).read_bytes() == ref.csv


class SigintOnStart(Callback):
    """Ctrl-C after compiling, before the first chunk runs."""

    def on_start(self, info: Any) -> None:
        os.kill(os.getpid(), signal.SIGINT)


def test_ctrl_c_before_the_first_chunk_leaves_no_checkpoint_and_no_circle(tmp_path):
    d = tmp_path / "early"
    with pytest.raises(run.Interrupted) as stop:
        train(d, callbacks=[SigintOnStart()])
    assert stop.value.result.updates_done == 0 and not (d / R.CHECKPOINT_FILE).exists()
    with pytest.raises(RunError) as resumed:
        run.resume(d)
    assert "--resume" not in one_line(resumed.value)


def test_cli_ctrl_c_before_the_first_chunk_does_not_advise_resume(tmp_path, capsys, monkeypatch):
    real = run.train
    def train_then_ctrl_c(*a: Any, callbacks: Any = (), **k: Any) -> Any:
        return real(*a, callbacks=[*callbacks, SigintOnStart()], **k)

    monkeypatch.setattr(run, "train", train_then_ctrl_c)
    try:
        code = cli.main(["train", PROBE, "--env", ENV, "--out", str(tmp_path / "e"), "-q"])
    except SystemExit as e:  # the interrupted command exits 130 (SystemExit from cmd_train)
        code = e.code
    err = capsys.readouterr().err
    assert code == 130
    assert "--resume" not in err and "checkpoint saved" not in err, err


def test_advice_for_a_run_without_checkpoint_is_not_a_circle(tmp_path):
    d = tmp_path / "early"
    with pytest.raises(TrainingError):  # config.json written, no checkpoint yet
        train(d, nan_at=1)
    assert (d / R.CONFIG_FILE).is_file() and not (d / R.CHECKPOINT_FILE).exists()
    with pytest.raises(RunError) as resumed:
        run.resume(d)
    with pytest.raises(RunError) as again:
        train(d, nan_at=1)
    for e in (resumed.value, again.value):
        msg = one_line(e)
        assert "--resume" not in msg and "--overwrite" in msg, msg


def test_files_have_the_usual_mode(ref, tmp_path, no_plot):
    old = os.umask(0o022)
    try:
        d = tmp_path / "modes"
        train(d)
        run.resume(train(tmp_path / "m2", stop_after=3).run_dir)
    finally:
        os.umask(old)
    for root in (d, tmp_path / "m2"):
        for name in (R.CONFIG_FILE, R.CHECKPOINT_FILE, R.METRICS_FILE, R.SUMMARY_FILE):
            assert (root / name).stat().st_mode & 0o777 == 0o644, (root, name)


# ------------------------------------------------------------------------------ CLI: one line, exit 2
def cli_error(proc: Any) -> str:
    """The one error line of a refused CLI command (XLA's own log lines aside)."""
    err = [line for line in proc.stderr.splitlines() if line.strip() and not GLOG.match(line)]
    assert proc.returncode == 2, proc.stderr
    assert len(err) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert err[0].startswith("jaxrl: error: ")
    return err[0]


def test_cli_errors_are_one_line_exit_2(ref, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)

    def refused(*argv: str) -> str:
        code = cli.main(list(argv))
        err = capsys.readouterr().err.strip()
        assert code == 2 and len(err.splitlines()) == 1 and "Traceback" not in err, err
        assert err.startswith("jaxrl: error: ")
        return err

    assert "updates" in refused("train", "ppo", "--total-steps", "1e15", "--out", "big")
    (tmp_path / "adir").mkdir()
    assert "adir" in refused("train", "ppo", "--config", "adir", "--out", "c1")
    assert "missing.toml" in refused("train", "ppo", "--config", "missing.toml", "--out", "c2")
    assert not any((tmp_path / n).exists() for n in ("big", "c1", "c2"))
    d = ref.copy(tmp_path / "h")
    rewrite(d / R.CHECKPOINT_FILE, header_edit=_set(["extra"], _DEL))
    before = files(d)
    assert "damaged" in refused("train", "--resume", str(d), "-q")
    assert files(d) == before
    d = ref.copy(tmp_path / "k")
    cfg = json.loads((d / R.CONFIG_FILE).read_text())
    del cfg["num_updates"]
    (d / R.CONFIG_FILE).write_text(json.dumps(cfg))
    before = files(d)
    assert "num_updates" in refused("train", "--resume", str(d), "-q")
    assert "num_updates" in refused("eval", str(d))
    assert files(d) == before


# ------------------------------------------------------------------------------ subprocesses: kill -9, Ctrl-C
def probe_cli(*args: str, cwd: Path, check: bool = True, cache: Path | None = None) -> Any:
    """``jaxrl ARGS`` with the probe registered, in a fresh process (CLI device defaults)."""
    env = {**os.environ, "JAXRL_CACHE_DIR": str(cache or cwd / "xla-cache")}
    proc = subprocess.run([*PROBE_CLI, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"{args} exited {proc.returncode}:\n{proc.stderr}")
    return proc


def _leaves(path: Path) -> dict:
    return serialization.msgpack_restore(read_raw(path)["body"])


def _wait_for_checkpoint(d: Path, proc: Any, timeout: float = 300) -> None:
    deadline = time.time() + timeout
    while not (d / R.CHECKPOINT_FILE).exists():
        assert proc.poll() is None, f"the victim exited {proc.returncode} before a checkpoint"
        assert time.time() < deadline, "no checkpoint"
        time.sleep(0.01)


def _kill_and_resume(cmd: list[str], resume: list[str], root: Path, env: dict, sig: int,
                     delay: float) -> tuple[Path, str]:
    d = root / "victim"
    log = root / "victim.stderr"  # a file, not a pipe: a full pipe would stall the victim
    with open(log, "w") as stderr:
        proc = subprocess.Popen([*cmd, "--out", str(d)], cwd=root, env=env,
                                stdout=subprocess.DEVNULL, stderr=stderr)
        try:
            _wait_for_checkpoint(d, proc)
            time.sleep(delay)
            proc.send_signal(sig)
            proc.wait(timeout=300)
        finally:
            if proc.poll() is None:
                proc.kill()
    err = log.read_text()
    if sig == signal.SIGKILL:
        assert proc.returncode == -signal.SIGKILL, err
    else:
        assert proc.returncode == 130, err
        assert "checkpoint saved" in err
    header = ckpt.read_header(d / R.CHECKPOINT_FILE)
    num_updates = json.loads((d / R.CONFIG_FILE).read_text())["num_updates"]
    assert 0 < header["updates_done"] < num_updates, (  # stopped mid-run, not after it
        f"the victim stopped at {header['updates_done']}/{num_updates} (delay {delay:.2f} s)")
    back = subprocess.run([*resume, str(d)], cwd=root, env=env, capture_output=True, text=True,
                          timeout=600, check=False)
    assert back.returncode == 0, f"resume after {header['updates_done']}: {back.stderr}"
    return d, back.stderr


def _same_run(a: Path, b: Path) -> None:
    la, lb = ((p / R.METRICS_FILE).read_bytes().splitlines() for p in (a, b))
    if la != lb:
        i = next((i for i, (x, y) in enumerate(zip(la, lb)) if x != y), min(len(la), len(lb)))
        raise AssertionError(f"metrics.csv differs from line {i + 1}: {la[i:i + 1]} vs "
                             f"{lb[i:i + 1]} ({len(la)} vs {len(lb)} lines)")
    la, lb = _leaves(a / R.CHECKPOINT_FILE), _leaves(b / R.CHECKPOINT_FILE)
    assert la.keys() == lb.keys()
    for k in la:
        assert np.asarray(la[k]).tobytes() == np.asarray(lb[k]).tobytes(), k
    assert (a / R.CHECKPOINT_FILE).read_bytes() == (b / R.CHECKPOINT_FILE).read_bytes()
    assert not list(b.glob(f"{ckpt.TEMP_PREFIX}*")) and not (b / R.LOCK_FILE).exists()


PROBE_LONG = ["train", PROBE, "--env", ENV, "--seeds", "2", "--total-steps", "320", "--chunk", "4",
              "--checkpoint-every", "6", "-q"]


@pytest.mark.heavy
def test_kill_9_then_resume_is_bit_identical(tmp_path):
    """SIGKILL of the CLI at a random point, then ``--resume``: the uninterrupted run's bytes.

    The reference runs beside the victim (2 cores), so the test costs about two JAX starts.
    """
    env = {**os.environ, "JAXRL_CACHE_DIR": str(tmp_path / "xla-cache")}
    with open(tmp_path / "ref.stderr", "w") as ref_log:
        ref_proc = subprocess.Popen([*PROBE_CLI, *PROBE_LONG, "--out", str(tmp_path / "ref")],
                                    cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                                    stderr=ref_log)
        try:
            delay = random.Random(os.getpid()).uniform(0.0, 0.05)
            d, err = _kill_and_resume([*PROBE_CLI, *PROBE_LONG],
                                      [*PROBE_CLI, "train", "--resume"], tmp_path, env,
                                      signal.SIGKILL, delay)
            ref_proc.wait(timeout=300)
        finally:
            if ref_proc.poll() is None:
                ref_proc.kill()
    assert ref_proc.returncode == 0, (tmp_path / "ref.stderr").read_text()
    assert "took over the lock" in err  # the killed process's lock file named it
    _same_run(tmp_path / "ref", d)


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
def test_kill_probe_at_random_points(sig, tmp_path):
    env = {**os.environ, "JAXRL_CACHE_DIR": str(tmp_path / "xla-cache")}
    long = [*PROBE_LONG]
    long[long.index("--total-steps") + 1] = "2400"  # 1200 updates
    probe_cli(*long, "--out", "ref", cwd=tmp_path)
    rng = random.Random(17 + sig)
    for i in range(3):
        root = tmp_path / f"try{i}"
        root.mkdir()
        d, _ = _kill_and_resume([*PROBE_CLI, *long], [*PROBE_CLI, "train", "--resume"], root,
                                env, sig, rng.uniform(0.0, 1.0))
        _same_run(tmp_path / "ref", d)


# Real PPO through the installed console script (test_cli.py's TINY, many updates).
TINY_LONG = ["train", "ppo", "--env", "CartPole-v1", "--seeds", "2", "--num-envs", "2",
             "--set", "num_steps=16", "--set", "epochs=1", "--set", "minibatches=1",
             "--set", "actor_hidden=8", "--set", "critic_hidden=8", "--total-steps", "64000",
             "--chunk", "16", "--checkpoint-every", "10", "-q"]  # 2000 updates


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
def test_kill_ppo_at_random_points_then_resume(sig, tmp_path):
    """The issue's case: Ctrl-C (or kill -9) of a PPO run, resumed with the CLI's default
    devices (one per core, seeds split over them): metrics.csv and the state are the
    uninterrupted run's, bit for bit."""
    env = {**os.environ, "JAXRL_CACHE_DIR": str(tmp_path / "xla-cache")}
    subprocess.run([str(JAXRL), *TINY_LONG, "--out", "ref"], cwd=tmp_path, env=env, check=True,
                   capture_output=True, timeout=900)
    rng = random.Random(31 + sig)
    for i in range(3):
        root = tmp_path / f"try{i}"
        root.mkdir()
        d, _ = _kill_and_resume([str(JAXRL), *TINY_LONG], [str(JAXRL), "train", "--resume"],
                                root, env, sig, rng.uniform(0.0, 2.0))
        _same_run(tmp_path / "ref", d)


@pytest.mark.slow
def test_dqn_with_a_huge_learning_rate_stops_in_one_line(tmp_path):
    args = ["train", "dqn", "--env", "CartPole-v1", "--seeds", "2", "--set", "lr=1e30",
            "--total-steps", "4000", "--checkpoint-every", "1", "-q"]
    env = {**os.environ, "JAXRL_CACHE_DIR": str(tmp_path / "xla-cache")}
    proc = subprocess.run([str(JAXRL), *args, "--out", "d"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=900, check=False)
    err = [x for x in proc.stderr.splitlines() if x.strip() and not GLOG.match(x)]
    assert proc.returncode == 1 and len(err) == 1 and "Traceback" not in proc.stderr, proc.stderr
    m = re.match(r"jaxrl: training stopped: seed (\d+): .* (at|after) update (\d+)", err[0])
    assert m, err[0]
    failed = int(m.group(3))
    d = tmp_path / "d"  # a checkpoint after every update: the last good one is just before
    assert ckpt.read_header(d / R.CHECKPOINT_FILE)["updates_done"] == failed - 1
    loaded = run.load(d)
    for x in jax.tree.leaves(loaded.params):
        assert np.all(np.isfinite(np.asarray(x)))
    proc = subprocess.run([str(JAXRL), *args, "--on-nonfinite", "mask", "--out", "m"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900,
                          check=False)
    if proc.returncode == 1:  # both seeds diverged: masking leaves nothing, so it stops
        assert "every seed went non-finite" in proc.stderr, proc.stderr
        return
    assert proc.returncode == 0, proc.stderr
    assert json.loads((tmp_path / "m" / R.SUMMARY_FILE).read_text())["bad_seeds"]


def test_a_real_sized_checkpoint_is_recognised_as_jaxrls(tmp_path):
    """The marker follows the arrays in the file: a checkpoint of more than a few kB (any
    real run's) must still count as jaxrl's, so --overwrite can replace it; a file of the
    same name that is not ours still does not."""
    state = {"buffer": np.arange(200_000, dtype=np.float32), "step": np.int32(3)}
    path = ckpt.save(tmp_path / R.CHECKPOINT_FILE, state, algorithm="dqn", env="CartPole-v1",
                     config={}, updates_done=3)
    assert path.stat().st_size > 800_000 and b"jaxrl" not in path.read_bytes()[:4096]
    assert R._is_jaxrl_file(path)
    for data in (b"\x85\xa4body\xc6\x00\x00\x00\x10" + bytes(16) + b"no marker here",
                 b"\x85\xa4body\xc6\xff\xff\xff\xff", b"\x85\xa4body\xd9", b"", b"x" * 10_000):
        path.write_bytes(data)
        assert not R._is_jaxrl_file(path), data[:20]


def test_overwrite_replaces_a_run_with_a_real_sized_checkpoint(tmp_path, no_plot):
    d = tmp_path / "run"
    train(d)
    big = {"buffer": np.arange(100_000, dtype=np.float32)}
    ckpt.save(d / R.CHECKPOINT_FILE, big, algorithm=PROBE, env="x", config={}, updates_done=1)
    train(d, overwrite=True)  # once refused: "holds checkpoint.msgpack that jaxrl did not write"
    assert (d / R.CHECKPOINT_FILE).stat().st_size < 400_000
