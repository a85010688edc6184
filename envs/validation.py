"""Bounds on the sizes an environment's options may ask for.

An option that sets a size (a board's side, a number of arms, spins or agents) fixes
array shapes: a value a user types by mistake (``size=100000``, ``num_arms=10**9``)
would otherwise end, after a long compile, in an out-of-memory crash, or allocate
gigabytes in the constructor itself. ``count`` refuses such values, and non-integers,
in one line (``ValueError``) before anything is built. The bounds are far above any
environment's use and far below what would not fit; what a whole batch of copies
needs is estimated again, for the memory available, when a run starts
(``jaxrl.runs.memory``).
"""

from __future__ import annotations

import math
import numbers
from typing import Any

__all__ = ["MAX_COUNT", "MAX_SIDE", "count", "finite"]

#: The largest side of a square board (Gridworld, Maze, DoorKey, Battle, an Ising lattice).
MAX_SIDE = 1024
#: The largest count of things in one environment copy (bandit arms, states, spins, agents).
MAX_COUNT = 2**20


def count(owner: str, name: str, value: Any, low: int, high: int = MAX_COUNT) -> int:
    """``value`` as an int in ``[low, high]``; ``ValueError`` naming ``owner`` and ``name``
    otherwise (a bool, a float, a string or an out-of-range int)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) \
            or not low <= value <= high:
        raise ValueError(f"{owner} {name} must be an int >= {low} and <= {high:,}, "
                         f"got {value!r}")
    return int(value)


def finite(owner: str, name: str, value: Any) -> Any:
    """``value`` unchanged when it is a finite number (or not a plain number at all);
    ``ValueError`` for NaN and the infinities."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool) \
            and not math.isfinite(float(value)):
        raise ValueError(f"{owner} option {name!r} must be a finite number, got {value!r}")
    return value
