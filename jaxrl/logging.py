"""Run logging outside the compiled program: metrics CSV, TensorBoard events, progress bar.

Nothing here runs inside ``jit``: the training driver hands over numpy arrays after
each compiled chunk.

* ``MetricsCSV``: one row per (update, seed), one column per metric.
* ``EventWriter``: TensorBoard event files written directly (TFRecord framing
  around hand-encoded ``Event`` protobufs), so TensorBoard is not a dependency.
* ``Progress``: one updating line on a terminal, plain lines otherwise.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
import socket
import struct
import sys
import time
from pathlib import Path
from typing import IO, Mapping, Sequence

import numpy as np

# ---------------------------------------------------------------------------------
# CSV


class MetricsCSV:
    """Appends metrics to a CSV file: columns ``update, seed, <metric>...``.

    ``update`` counts from 1 (the row after the first update); ``seed`` is the
    index of the seed within the run (0..seeds-1). Rows are written update by
    update, all seeds of an update together.
    """

    def __init__(self, path: str | os.PathLike, columns: Sequence[str], truncate_at: int | None = None):
        self.path = Path(path)
        self.columns = list(columns)
        header = ",".join(["update", "seed", *self.columns]) + "\n"
        if self.path.exists() and truncate_at is not None:
            # Resuming: drop rows written after the checkpoint we resume from.
            with open(self.path, "r+b") as f:
                f.truncate(truncate_at)
        self._file = open(self.path, "ab")
        if self._file.tell() == 0:
            self._file.write(header.encode())
        else:
            with open(self.path, "rb") as f:
                existing = f.readline().decode()
            if existing != header:
                self._file.close()
                raise ValueError(
                    f"{self.path} has columns {existing.strip()!r}, expected {header.strip()!r}"
                )

    def append(self, first_update: int, metrics: Mapping[str, np.ndarray]) -> None:
        """Write ``metrics[name]: [seeds, n]`` as rows for updates ``first_update ..``."""
        arrays = [np.asarray(metrics[c]) for c in self.columns]
        seeds, n = arrays[0].shape[:2]
        fmt = ",".join(["%d", "%d"] + [_fmt_code(a.dtype) for a in arrays]) + "\n"
        rows = []
        for u in range(n):
            for s in range(seeds):
                rows.append(fmt % (first_update + u, s, *[a[s, u] for a in arrays]))
        self._file.write("".join(rows).encode())

    def flush(self) -> int:
        """Flush to disk; returns the file size (a safe truncation point for resume)."""
        self._file.flush()
        os.fsync(self._file.fileno())
        return self._file.tell()

    def close(self) -> None:
        self._file.close()


def _fmt_code(dtype: np.dtype) -> str:
    """printf code per column: integers exact, floats with enough digits to round-trip."""
    if np.issubdtype(dtype, np.integer) or np.issubdtype(dtype, np.bool_):
        return "%d"
    if dtype == np.float32 or np.dtype(dtype).itemsize <= 4:
        return "%.9g"
    return "%.17g"


def read_metrics_csv(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read a ``MetricsCSV`` file back into ``{name: float64[seeds, updates]}``.

    ``update`` and ``seed`` are returned too, as int arrays of the same shape.
    """
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        rows = [r for r in reader if r]
    if not rows:
        return {name: np.zeros((0, 0)) for name in header}
    data = np.array(rows, dtype=np.float64)
    seeds = int(data[:, 1].max()) + 1
    updates = len(rows) // seeds
    data = data[: updates * seeds].reshape(updates, seeds, len(header))
    out = {name: data[:, :, i].T.copy() for i, name in enumerate(header)}
    out["update"] = out["update"].astype(np.int64)
    out["seed"] = out["seed"].astype(np.int64)
    return out


# ---------------------------------------------------------------------------------
# TensorBoard event files

def _make_crc_table() -> list[int]:
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC_TABLE = _make_crc_table()


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli), the checksum TFRecord framing uses."""
    crc = 0xFFFFFFFF
    table = _CRC_TABLE
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc32c(data: bytes) -> int:
    """TFRecord's masked CRC: rotate right by 15 and add a constant."""
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def tfrecord(data: bytes) -> bytes:
    """One TFRecord: length, masked CRC of the length, data, masked CRC of the data."""
    length = struct.pack("<Q", len(data))
    return length + struct.pack("<I", masked_crc32c(length)) + data + struct.pack("<I", masked_crc32c(data))


def _varint(n: int) -> bytes:
    n &= (1 << 64) - 1  # int64 fields encode negatives as 10-byte two's complement
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _len_field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def encode_event(wall_time: float, step: int, *, file_version: str | None = None,
                 scalars: Mapping[str, float] | None = None) -> bytes:
    """A serialized ``tensorflow.Event``: wall_time (1), step (2), file_version (3) or summary (5).

    The summary is ``Summary{value: [Value{tag (1), simple_value (2)}]}``.
    """
    out = b"\x09" + struct.pack("<d", wall_time) + b"\x10" + _varint(int(step))
    if file_version is not None:
        out += _len_field(3, file_version.encode())
    if scalars:
        summary = b"".join(
            _len_field(1, _len_field(1, tag.encode()) + b"\x15" + struct.pack("<f", float(v)))
            for tag, v in scalars.items()
        )
        out += _len_field(5, summary)
    return out


class EventWriter:
    """Writes scalar summaries to ``<logdir>/events.out.tfevents.<time>.<host>``.

    Args:
        logdir: directory (created if needed).
        path: an existing event file to append to (resume); ``truncate_at`` cuts it first.
    """

    def __init__(self, logdir: str | os.PathLike, path: str | os.PathLike | None = None,
                 truncate_at: int | None = None):
        logdir = Path(logdir)
        logdir.mkdir(parents=True, exist_ok=True)
        if path is not None and Path(path).exists():
            self.path = Path(path)
            if truncate_at is not None:
                with open(self.path, "r+b") as f:
                    f.truncate(truncate_at)
            self._file = open(self.path, "ab")
        else:
            now = time.time()
            self.path = logdir / f"events.out.tfevents.{int(now)}.{socket.gethostname()}.jaxrl"
            self._file = open(self.path, "ab")
            self._file.write(tfrecord(encode_event(now, 0, file_version="brain.Event:2")))

    def scalars(self, step: int, values: Mapping[str, float], wall_time: float | None = None) -> None:
        """One event holding every finite value of ``values`` at ``step``."""
        finite = {k: float(v) for k, v in values.items() if np.isfinite(v)}
        if finite:
            wt = time.time() if wall_time is None else wall_time
            self._file.write(tfrecord(encode_event(wt, step, scalars=finite)))

    def flush(self) -> int:
        """Flush to disk; returns the file size (a safe truncation point for resume)."""
        self._file.flush()
        os.fsync(self._file.fileno())
        return self._file.tell()

    def close(self) -> None:
        self._file.close()


# ---------------------------------------------------------------------------------
# Progress


def human(n: float) -> str:
    """``1234567 -> '1.23M'``; small numbers as integers."""
    n = float(n)
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.3g}{unit}"
    return f"{n:.0f}"


def duration(seconds: float) -> str:
    seconds = int(round(seconds))
    m, s = divmod(seconds, 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class Progress:
    """Training progress on ``stream`` (stderr by default).

    On a terminal one line is redrawn in place; otherwise a plain line is printed
    at most every ``interval`` seconds (and at the end).
    """

    def __init__(self, label: str, total_updates: int, stream: IO[str] | None = None,
                 enabled: bool = True, interval: float = 5.0, width: int = 24):
        self.label = label
        self.total = max(int(total_updates), 1)
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.tty = enabled and hasattr(self.stream, "isatty") and self.stream.isatty()
        self.interval = interval
        self.width = width
        self._last_print = -math.inf
        self._last_len = 0
        self._start: float | None = None
        self._start_steps = 0.0

    def message(self, text: str) -> None:
        """A one-off status line (``compiling...``)."""
        if not self.enabled:
            return
        if self.tty:
            self._draw(text)
        else:
            print(f"{self.label}: {text}", file=self.stream, flush=True)

    def start(self, steps_done: float = 0.0) -> None:
        """Start the clock (after compilation, so steps/s is the running speed)."""
        self._start = time.perf_counter()
        self._start_steps = steps_done

    def update(self, updates_done: int, steps_done: float, mean_return: float,
               spread: float = float("nan"), final: bool = False) -> None:
        """Report ``updates_done`` of the total; ``steps_done`` counts all seeds' env steps."""
        if not self.enabled:
            return
        if self._start is None:
            self.start()
        now = time.perf_counter()
        elapsed = now - self._start
        rate = (steps_done - self._start_steps) / elapsed if elapsed > 0 else float("nan")
        frac = min(updates_done / self.total, 1.0)
        ret = "return   n/a" if not np.isfinite(mean_return) else f"return {mean_return:8.2f}"
        if np.isfinite(spread):
            ret += f" ± {spread:.2f}"
        speed = f"{human(rate)} steps/s" if np.isfinite(rate) else "- steps/s"
        if self.tty:
            filled = int(round(frac * self.width))
            bar = "█" * filled + "░" * (self.width - filled)
            line = (f"{self.label} {bar} {frac:4.0%}  {human(steps_done)} steps  {speed}  "
                    f"{ret}  {duration(elapsed)}")
            self._draw(line)
            if final:
                print(file=self.stream, flush=True)
                self._last_len = 0
        elif final or now - self._last_print >= self.interval:
            self._last_print = now
            print(f"{self.label}: {frac:4.0%} update {updates_done}/{self.total}  "
                  f"{human(steps_done)} steps  {speed}  {ret}  {duration(elapsed)}",
                  file=self.stream, flush=True)

    def _draw(self, line: str) -> None:
        pad = max(self._last_len - len(line), 0)
        self.stream.write("\r" + line + " " * pad)
        self.stream.flush()
        self._last_len = len(line)

    def close(self) -> None:
        if self.enabled and self.tty and self._last_len:
            print(file=self.stream, flush=True)
            self._last_len = 0


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
