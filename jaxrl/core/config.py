"""Helpers shared by the algorithms' ``Config`` dataclasses.

Every algorithm's config is a frozen ``flax.struct`` dataclass: fields that fix shapes
or loop lengths are static (changing one recompiles), the rest are pytree leaves that
``jaxrl.runs.sweep`` can vmap over. ``validate`` checks leaves only when they are concrete:
inside a sweep they are tracers, and the sweep validates every setting beforehand.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import numpy as np
from flax import struct

__all__ = ["check_leaves", "closest", "is_traced", "static"]


def static(default: Any) -> Any:
    """A config field that is not a pytree leaf (part of the compiled program's shape)."""
    return struct.field(pytree_node=False, default=default)


def is_traced(x: Any) -> bool:
    """Whether ``x`` is a tracer (a vmapped sweep value), so it cannot be checked now."""
    return isinstance(x, jax.core.Tracer)


def check_leaves(
    owner: str, checks: Mapping[str, tuple[Any, Callable[[np.ndarray], Any], str]]
) -> None:
    """Raise ``ValueError`` for the first concrete value that is not finite or breaks its rule.

    ``checks[name] = (value, ok, rule)``: ``ok`` takes the value as a float64 array and
    returns booleans; ``rule`` says the rule in words (``"> 0"``). Tracers are skipped;
    booleans are refused (a number is expected). Arrays (a grid of settings) must pass
    everywhere.
    """
    for name, (value, ok, rule) in checks.items():
        if is_traced(value):
            continue
        if isinstance(value, (bool, np.bool_)):
            raise ValueError(f"{owner}.{name} must be a number, got {value!r}")
        arr = np.asarray(value, dtype=np.float64)
        if not np.all(np.isfinite(arr)) or not np.all(ok(arr)):
            raise ValueError(f"{owner}.{name} must be finite and {rule}, got {value!r}")


def closest(word: str, choices: Sequence[str], n: int = 3, cutoff: float = 0.5) -> str:
    """A suggestion to append to an error: ``" Did you mean: a, b?"`` or ``""``.

    The one closest-name helper of ``jaxrl`` (``envs`` keeps its own, as it imports
    nothing from ``jaxrl``).
    """
    close = difflib.get_close_matches(str(word), list(choices), n=n, cutoff=cutoff)
    return f" Did you mean: {', '.join(close)}?" if close else ""
