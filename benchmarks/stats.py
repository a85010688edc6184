"""The benchmarks' statistics over seeds: mean ± std as before, and beside it the
interquartile mean with its 95 % stratified-bootstrap interval and, for two agents, the
probability of improvement (rliable, through ``jaxrl.runs.compare.compare_scores``).

Without rliable (``pip install "jaxrl[compare]"``) the interval parts are left out and
the tables say so with a ``-``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: Bootstrap replications for the benchmarks' intervals.
REPS = 2000


def _finite(x: Any) -> np.ndarray:
    x = np.asarray(x, dtype=float).ravel()
    return x[np.isfinite(x)]


def iqm(values: Any, reps: int = REPS, seed: int = 0) -> tuple[float, float, float] | None:
    """``(IQM, low, high)`` of one agent's per-seed values (one task), or ``None`` with
    fewer than 2 finite values or without rliable."""
    x = _finite(values)
    if x.size < 2:
        return None
    try:
        from jaxrl.runs.compare import compare_scores

        c = compare_scores({"a": x}, reps=reps, seed=seed)
    except Exception:  # noqa: BLE001 - rliable missing: the table shows "-"
        return None
    k = c.metrics.index("IQM")
    return float(c.point["a"][k]), float(c.interval["a"][0][k]), float(c.interval["a"][1][k])


def iqm_text(values: Any, fmt: str = "{:.1f}", scale: float = 1.0) -> str:
    """``"IQM m [lo, hi]"`` or ``"IQM -"``."""
    r = iqm(np.asarray(values, dtype=float) * scale)
    if r is None:
        return "IQM -"
    f = fmt.format
    return f"IQM {f(r[0])} [{f(r[1])}, {f(r[2])}]"


def improvement(first: Any, second: Any, reps: int = REPS,
                seed: int = 0) -> tuple[float, float, float, bool] | None:
    """``(P(first > second), low, high, significant)`` over seeds, or ``None``."""
    a, b = _finite(first), _finite(second)
    if a.size < 2 or b.size < 2:
        return None
    try:
        from jaxrl.runs.compare import compare_scores

        c = compare_scores({"first": a, "second": b}, reps=reps, seed=seed)
    except Exception:  # noqa: BLE001
        return None
    pair = next(p for p in c.pairs if p.x == "first" and p.y == "second")
    return pair.probability, pair.low, pair.high, pair.significant


def improvement_text(first: Any, second: Any, names: tuple[str, str] = ("first", "second")) -> str:
    """``"P(a > b) 0.91 [0.78, 0.99], significant"`` or ``"P(a > b) -"``."""
    r = improvement(first, second)
    head = f"P({names[0]} > {names[1]})"
    if r is None:
        return f"{head} -"
    return (f"{head} {r[0]:.2f} [{r[1]:.2f}, {r[2]:.2f}], "
            + ("significant" if r[3] else "not significant"))
