"""Memory needs estimated before anything is allocated, against the memory available.

A size a user types (``--episodes 100000000``, ``--seeds``, ``num_envs``, an
environment's board size) fixes the arrays a compiled program holds. Without a check,
a size that cannot fit ends in a raw out-of-memory error (or the machine swapping)
after a long compile. Here the bytes are estimated from shapes alone
(``jax.eval_shape``: no allocation) or from the compiled program's own accounting
(``Compiled.memory_analysis``: compiling allocates no buffers), and a need larger
than the memory available is refused in one line (``RunError``) naming both numbers.

Available memory: the free memory of the accelerator the program runs on, or, on
CPU, the host's ``MemAvailable`` (``/proc/meminfo``; elsewhere ``os.sysconf``).
``JAXRL_MEMORY_LIMIT`` (bytes, with an optional K/M/G/T suffix) overrides it.
"""

from __future__ import annotations

import os
import re
from typing import Any

import numpy as np

from jaxrl.errors import RunError

__all__ = ["available_bytes", "check_fits", "compiled_bytes", "program_bytes", "tree_bytes"]

LIMIT_VARIABLE = "JAXRL_MEMORY_LIMIT"
_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}


def _nice(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"  # pragma: no cover


def _limit_from_env() -> int | None:
    text = os.environ.get(LIMIT_VARIABLE, "").strip().upper().removesuffix("B").removesuffix("I")
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([KMGT]?)", text)
    return int(float(m.group(1)) * _UNITS[m.group(2)]) if m else None


def _host_available() -> int | None:
    try:
        with open("/proc/meminfo", "rb") as f:
            for line in f.read(1 << 16).decode("ascii", "replace").splitlines():
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, OSError, ValueError):
        return None


def available_bytes(device: Any = None) -> tuple[int | None, str]:
    """``(bytes, where)``: the memory a program on ``device`` (default: JAX's first) can
    still use, and where that number comes from; ``(None, ...)`` when unknown."""
    limit = _limit_from_env()
    if limit is not None:
        return limit, LIMIT_VARIABLE
    import jax

    device = device if device is not None else jax.local_devices()[0]
    if device.platform != "cpu":
        try:
            stats = device.memory_stats() or {}
            total = stats.get("bytes_limit")
            if total:
                return int(total) - int(stats.get("bytes_in_use", 0)), f"free on {device}"
        except Exception:  # noqa: BLE001 - a backend without memory stats: unknown
            return None, str(device)
    return _host_available(), "MemAvailable"


def tree_bytes(tree: Any) -> int:
    """Bytes of every array leaf of ``tree`` (arrays or ``jax.ShapeDtypeStruct``s; a PRNG
    key counts as its key data)."""
    import jax

    total = 0
    for leaf in jax.tree.leaves(tree):
        if not hasattr(leaf, "shape") or not hasattr(leaf, "dtype"):
            continue
        dtype = leaf.dtype
        if jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key):
            itemsize = 8  # two uint32 words per key (threefry)
        else:
            itemsize = np.dtype(dtype).itemsize
        total += int(np.prod(leaf.shape, dtype=object)) * itemsize
    return total


def compiled_bytes(compiled: Any) -> int | None:
    """The peak bytes a compiled program holds while it runs (arguments, outputs and
    temporaries, by XLA's own accounting); None when the backend does not say."""
    try:
        stats = compiled.memory_analysis()
    except Exception:  # noqa: BLE001 - not every backend implements it
        return None
    if stats is None:
        return None
    peak = getattr(stats, "peak_memory_in_bytes", 0) or 0
    parts = (getattr(stats, "argument_size_in_bytes", 0) + getattr(stats, "output_size_in_bytes", 0)
             + getattr(stats, "temp_size_in_bytes", 0) - getattr(stats, "alias_size_in_bytes", 0))
    return int(max(peak, parts))


def program_bytes(compiled: Any, devices: Any) -> int | None:
    """``compiled_bytes`` of a program run on ``devices``: XLA counts one device's share,
    and CPU devices all draw on the one host memory."""
    need = compiled_bytes(compiled)
    devices = list(devices)
    if need is None or not devices:
        return need
    return need * len(devices) if devices[0].platform == "cpu" else need


def check_fits(need: int | None, what: str, hint: str, device: Any = None) -> None:
    """Refuse (``RunError``, one line) when ``need`` bytes exceed the memory available.

    ``what`` names the thing that needs it ("evaluating 100,000,000 episodes x 2
    seeds"), ``hint`` what to change. Unknown needs or memory pass.
    """
    if not need:
        return
    have, where = available_bytes(device)
    if have is None or need <= have:
        return
    raise RunError(f"{what} needs about {_nice(need)} of memory, more than the {_nice(have)} "
                   f"available ({where}); {hint}")
