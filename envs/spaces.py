"""Jittable spaces: what an environment accepts and returns.

Every space has ``sample(key)`` and ``contains(x)``; both are pure JAX and work
under ``jit`` and ``vmap``. ``contains`` returns a boolean JAX scalar (so it can
be used inside a compiled program); wrap it in ``bool(...)`` outside jit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

REPR_ELEMENTS = 8  # a Box bound of at most this many differing elements is shown whole


def _number_text(value: Any) -> str:
    """One bound as a short number: ints as ints, floats to 4 significant digits
    (``-4.8``, ``0.4189``, ``inf``, ``3.403e+38``)."""
    kind = np.asarray(value).dtype
    if kind == np.bool_:
        return str(bool(value))
    if np.issubdtype(kind, np.integer):
        return str(int(value))
    return repr(float(f"{float(value):.4g}"))


def _bound_text(bound: np.ndarray) -> str:
    """A ``Box`` bound for ``repr``: one number when every element has it, the elements
    when there are few, else how many and their range."""
    flat = np.ravel(bound)
    if flat.size == 0:
        return "[]"
    if np.all(flat == flat[0]) or (np.issubdtype(flat.dtype, np.floating)
                                    and np.all(np.isnan(flat))):
        return _number_text(flat[0])
    if flat.size <= REPR_ELEMENTS:
        return "[" + ", ".join(_number_text(v) for v in flat) + "]"
    return (f"<{flat.size} values in [{_number_text(np.nanmin(flat))}, "
            f"{_number_text(np.nanmax(flat))}]>")


class Space:
    """Base class. Subclasses define ``shape``, ``dtype``, ``sample``, ``contains``."""

    shape: tuple[int, ...]
    dtype: Any

    def sample(self, key: jax.Array) -> Any:
        raise NotImplementedError

    def contains(self, x: Any) -> jax.Array:
        raise NotImplementedError


class Discrete(Space):
    """Integers ``0 .. n - 1``; scalar by default, or an array of ``shape``.

    A non-scalar ``shape`` describes one discrete choice per element (for
    example one action per agent in a multi-agent environment).
    """

    def __init__(self, n: int, shape: Sequence[int] = (), dtype: Any = jnp.int32):
        if int(n) != n or n < 1:
            raise ValueError(f"Discrete needs a positive integer n, got {n!r}")
        self.n = int(n)
        self.shape = tuple(int(s) for s in shape)
        self.dtype = jnp.dtype(dtype)

    def __repr__(self) -> str:
        extra = f", shape={self.shape}" if self.shape else ""
        if self.dtype != jnp.dtype(jnp.int32):
            extra += f", dtype={self.dtype.name}"
        return f"Discrete({self.n}{extra})"

    def sample(self, key: jax.Array) -> jax.Array:
        return jax.random.randint(key, self.shape, 0, self.n, dtype=self.dtype)

    def contains(self, x: Any) -> jax.Array:
        x = jnp.asarray(x)
        if x.shape != self.shape or not jnp.issubdtype(x.dtype, jnp.integer):
            return jnp.asarray(False)
        return jnp.all((x >= 0) & (x < self.n))


class Box(Space):
    """A (possibly unbounded) box in R^shape: ``low <= x <= high`` elementwise."""

    def __init__(self, low: Any, high: Any, shape: Sequence[int], dtype: Any = jnp.float32):
        self.shape = tuple(int(s) for s in shape)
        self.dtype = jnp.dtype(dtype)
        self.low = np.broadcast_to(np.asarray(low, dtype=self.dtype), self.shape)
        self.high = np.broadcast_to(np.asarray(high, dtype=self.dtype), self.shape)
        if np.any(self.low > self.high):
            raise ValueError("Box needs low <= high everywhere")

    def __repr__(self) -> str:
        """``Box(low=-1.0, high=1.0, shape=(4,), dtype=float32)``: a bound the same
        everywhere as one number, else every element (up to ``REPR_ELEMENTS``) or the
        range of a larger array (``<252 values in [-1.0, 0.0]>``)."""
        return (f"Box(low={_bound_text(self.low)}, high={_bound_text(self.high)}, "
                f"shape={self.shape}, dtype={self.dtype.name})")

    def sample(self, key: jax.Array) -> jax.Array:
        if jnp.issubdtype(self.dtype, jnp.integer):
            return jax.random.randint(
                key, self.shape, self.low, self.high.astype(np.int64) + 1
            ).astype(self.dtype)
        # Unbounded sides are sampled from a standard normal (shifted/exponential for
        # half-bounded), as Gymnasium does; bounded ones uniformly.
        k1, k2 = jax.random.split(key)
        low = jnp.asarray(self.low, jnp.float32)
        high = jnp.asarray(self.high, jnp.float32)
        lo_fin, hi_fin = jnp.isfinite(low), jnp.isfinite(high)
        uni = jax.random.uniform(
            k1, self.shape, minval=jnp.where(lo_fin, low, 0.0), maxval=jnp.where(hi_fin, high, 1.0)
        )
        nrm = jax.random.normal(k2, self.shape)
        expo = jnp.abs(nrm)
        x = jnp.where(
            lo_fin & hi_fin,
            uni,
            jnp.where(lo_fin, low + expo, jnp.where(hi_fin, high - expo, nrm)),
        )
        return x.astype(self.dtype)

    def contains(self, x: Any) -> jax.Array:
        x = jnp.asarray(x)
        if x.shape != self.shape:
            return jnp.asarray(False)
        return jnp.all((x >= self.low) & (x <= self.high))


class Dict(Space):
    """A dictionary of named sub-spaces (for structured observations)."""

    def __init__(self, spaces: dict[str, Space]):
        self.spaces = dict(spaces)
        self.shape = ()
        self.dtype = None

    def __repr__(self) -> str:
        return f"Dict({self.spaces!r})"

    def sample(self, key: jax.Array) -> dict[str, Any]:
        keys = jax.random.split(key, len(self.spaces))
        return {k: s.sample(kk) for (k, s), kk in zip(self.spaces.items(), keys)}

    def contains(self, x: Any) -> jax.Array:
        if not isinstance(x, dict) or set(x) != set(self.spaces):
            return jnp.asarray(False)
        out = jnp.asarray(True)
        for k, s in self.spaces.items():
            out = out & s.contains(x[k])
        return out


def from_gymnax(space: Any) -> Space:
    """Convert a gymnax space into the equivalent jaxrl space."""
    name = type(space).__name__
    if name == "Discrete":
        return Discrete(space.n, dtype=getattr(space, "dtype", jnp.int32))
    if name == "Box":
        return Box(space.low, space.high, space.shape, space.dtype)
    if name == "Dict":
        return Dict({k: from_gymnax(v) for k, v in space.spaces.items()})
    raise TypeError(f"cannot convert gymnax space {space!r}")


def to_gymnasium(space: Space) -> Any:
    """Convert a jaxrl space into the equivalent ``gymnasium.spaces`` object."""
    from gymnasium import spaces as gs

    if isinstance(space, Discrete):
        if space.shape:
            return gs.MultiDiscrete(np.full(space.shape, space.n), dtype=np.dtype(space.dtype))
        return gs.Discrete(space.n)
    if isinstance(space, Box):
        return gs.Box(space.low, space.high, space.shape, np.dtype(space.dtype))
    if isinstance(space, Dict):
        return gs.Dict({k: to_gymnasium(v) for k, v in space.spaces.items()})
    raise TypeError(f"cannot convert {space!r} to a Gymnasium space")
