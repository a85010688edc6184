"""Seeds across devices: one compiled program, the seed axis split over local devices.

A training program vmapped over seeds runs on one device. On a CPU that device is
one XLA executor, and for the small networks of classic-control RL it keeps about
one core busy whatever the machine has (measured here: a 16-seed PPO run takes the
same time pinned to one core as free on two). XLA can expose each core as its own
CPU device; :func:`over_seeds` then splits the seed axis over them with
``jax.shard_map``, so each device runs ``vmap`` over its share of the seeds, with
no communication between them. The same code shards seeds over GPUs or TPUs.

Typical use::

    import jaxrl.parallel.devices as par
    par.use_cpu_cores()              # before JAX starts; one CPU device per core
    train = par.over_seeds(agent.train)
    states, metrics = train(keys)    # keys: [seeds] -> outputs with a leading seeds axis

Results do not depend on the number of devices up to float rounding: a seed's
computation is the same, only the vmap batch it shares a device with changes.

Many processes (``jaxrl.parallel.processes.initialize``): the seeds are split over the
devices of every process (an equal share per process), arguments are made global
arrays from the same host value on every process (:func:`to_global`), and outputs
are global arrays; :func:`to_host` gathers them to every process.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

__all__ = [
    "cpu_cores", "device_count_for", "global_devices_for", "layout", "over_seeds",
    "to_global", "to_host", "use_cpu_cores",
]

AXIS = "seeds"


def cpu_cores() -> int:
    """Cores this process may run on (the affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return os.cpu_count() or 1


def use_cpu_cores(n: int | None = None) -> int:
    """Ask JAX for ``n`` CPU devices (default: one per available core); returns the count.

    Must run before JAX initialises its backends (before the first array is made or
    function compiled); afterwards the setting cannot change: with ``n`` given this
    raises ``RuntimeError`` unless the count already matches, without it the running
    count is kept and returned. Accelerators are unaffected.
    ``XLA_FLAGS=--xla_force_host_platform_device_count=K``, if set, is left to decide.
    """
    import jax

    asked = n
    n = cpu_cores() if n is None else n
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"use_cpu_cores needs a positive integer, got {n!r}")
    if _backends_initialised():
        have = len(jax.devices("cpu"))
        if asked is None:
            return have  # no count asked for: keep what the running JAX has
        if have != n:
            raise RuntimeError(
                f"JAX already started with {have} CPU device(s); call use_cpu_cores({n}) "
                "before anything else uses JAX"
            )
        return n
    flags = os.environ.get("XLA_FLAGS", "")
    forced = re.search(r"xla_force_host_platform_device_count=(\d+)", flags)
    if forced:
        return int(forced.group(1))  # the user set the count through XLA_FLAGS: theirs wins
    jax.config.update("jax_num_cpu_devices", n)
    return n


def _backends_initialised() -> bool:
    from jax._src import xla_bridge

    return bool(getattr(xla_bridge, "_backends", {}))


def device_count_for(seeds: int, devices: Sequence[Any] | None = None) -> int:
    """How many devices ``seeds`` seeds are split over: the largest count that divides
    ``seeds`` and is at most the number of local devices."""
    import jax

    available = len(devices) if devices is not None else jax.local_device_count()
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise ValueError(f"the number of seeds must be a positive integer, got {seeds!r}")
    return max(d for d in range(1, min(available, seeds) + 1) if seeds % d == 0)


def layout(seeds: int, split: str = "seeds") -> dict[str, Any]:
    """The device layout a run of ``seeds`` seeds gets in this process, as a run
    directory records it: ``platform`` (``"cpu"``, ``"gpu"``...), ``devices`` (how many,
    over every process, the program is split over: ``seeds`` split as ``over_seeds``
    splits them, or every device for ``split="population"``), ``processes`` and ``split``.

    The bits of a run depend on it (a seed's computation is the same on any layout only
    up to float rounding), so resuming on another layout is not the same run.
    """
    import jax

    processes = jax.process_count()
    if split == "population":
        count = len(jax.devices())
    elif processes > 1:
        count = len(global_devices_for(seeds))
    else:
        count = device_count_for(seeds)
    return {"platform": jax.default_backend(), "devices": count, "processes": processes,
            "split": split}


def _multiprocess() -> bool:
    import jax

    return jax.process_count() > 1


def global_devices_for(seeds: int) -> list[Any]:
    """The devices of every process ``seeds`` seeds are split over: an equal share per
    process, each on the largest count of its devices that divides its share."""
    import jax

    procs = jax.process_count()
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise ValueError(f"the number of seeds must be a positive integer, got {seeds!r}")
    if seeds % procs:
        raise ValueError(f"{seeds} seeds (or settings) cannot be split evenly over {procs} "
                         f"processes; use a multiple of {procs}")
    by_process: dict[int, list[Any]] = {}
    for d in jax.devices():
        by_process.setdefault(d.process_index, []).append(d)
    per = device_count_for(seeds // procs, min(by_process.values(), key=len))
    return [d for p in sorted(by_process) for d in by_process[p][:per]]


def _is_key(x: Any) -> bool:
    import jax

    return hasattr(x, "dtype") and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)


def to_global(tree: Any, shardings: Any) -> Any:
    """Every leaf of ``tree`` (the same host value on every process) as a global array
    with its sharding (one sharding for all leaves, or a tree of them); leaves that are
    already global arrays, and tracers, are kept. Typed PRNG keys are allowed."""
    import jax

    def one(x: Any, sharding: Any) -> Any:
        if isinstance(x, jax.core.Tracer):
            return x
        if isinstance(x, jax.Array) and not x.is_fully_addressable:
            return x
        if _is_key(x):
            data = np.asarray(jax.random.key_data(x))
            return jax.random.wrap_key_data(jax.device_put(data, sharding),
                                            impl=jax.random.key_impl(x))
        return jax.device_put(np.asarray(x), sharding)

    if isinstance(shardings, jax.sharding.Sharding):
        return jax.tree.map(lambda x: one(x, shardings), tree)
    return jax.tree.map(one, tree, shardings)


def to_host(tree: Any) -> Any:
    """``tree`` on the host of this process, whole (``jax.device_get``; global arrays of
    several processes are gathered: a collective, every process must call it)."""
    import jax

    if not _multiprocess():
        return jax.device_get(tree)
    from jax.experimental import multihost_utils

    def one(x: Any) -> Any:
        if not isinstance(x, jax.Array) or x.is_fully_addressable:
            return jax.device_get(x)
        if _is_key(x):
            data = multihost_utils.process_allgather(jax.random.key_data(x), tiled=True)
            return jax.random.wrap_key_data(np.asarray(data), impl=jax.random.key_impl(x))
        return np.asarray(multihost_utils.process_allgather(x, tiled=True))

    return jax.tree.map(one, tree)


def over_seeds(
    fn: Callable[..., Any],
    in_axes: int | None | Sequence[int | None] = 0,
    *,
    devices: Sequence[Any] | None = None,
    replicate: bool = False,
    donate_argnums: int | Sequence[int] = (),
) -> SeedProgram:
    """``jit(vmap(fn, in_axes))`` with the seed axis split over devices.

    Arguments with axis 0 carry the seeds (every output has a leading seeds axis);
    ``None`` marks an argument shared by all seeds (replicated). The number of
    devices used is :func:`device_count_for` the seed count of the first batched
    argument; with one device this is exactly ``jit(vmap(fn))``. The result is
    called like ``fn`` on batched arguments and has ``.lower(*args)`` to compile
    apart from running.

    ``replicate=True``: the seeds are not split; every argument and result is
    replicated over ``devices`` (default: every device of every process), for a
    ``fn`` that splits its own work over them (an evolution population,
    ``jaxrl.algos.evolution.over_population``), so that one seed can use every device.

    ``donate_argnums``: arguments whose buffers the program may reuse for its results
    (``jax.jit``'s; the caller must not use them afterwards): a training state carried
    from call to call is then updated in place instead of copied at every call.
    """
    return SeedProgram(fn, in_axes, devices, replicate, donate_argnums)


class SeedProgram:
    """A function vmapped over seeds, jitted, and sharded over devices (see ``over_seeds``)."""

    def __init__(self, fn: Callable[..., Any], in_axes: Any, devices: Sequence[Any] | None,
                 replicate: bool = False, donate_argnums: int | Sequence[int] = ()):
        import jax

        self._donate = (donate_argnums,) if isinstance(donate_argnums, int) \
            else tuple(donate_argnums)

        self._in_axes = in_axes
        self._devices = None if devices is None else list(devices)
        self._replicate = bool(replicate)
        self._batched = jax.vmap(fn, in_axes=in_axes)
        self._programs: dict[int, Callable[..., Any]] = {}
        self._meshes: dict[int, Any] = {}

    def _axes(self, args: tuple) -> tuple:
        axes = self._in_axes
        if isinstance(axes, (list, tuple)):
            if len(axes) != len(args):
                raise ValueError(f"in_axes has {len(axes)} entries for {len(args)} arguments")
            axes = tuple(axes)
        else:
            axes = (axes,) * len(args)
        if any(a not in (0, None) for a in axes):
            raise ValueError(f"over_seeds supports in_axes of 0 or None, got {self._in_axes!r}")
        return axes

    def devices_for(self, seeds: int) -> list[Any]:
        """The devices ``seeds`` seeds run on."""
        import jax

        if self._replicate:
            return list(self._devices) if self._devices is not None else list(jax.devices())
        if self._devices is None and _multiprocess():
            return global_devices_for(seeds)
        pool = self._devices if self._devices is not None else jax.local_devices()
        return pool[: device_count_for(seeds, pool)]

    def _program(self, args: tuple) -> Callable[..., Any]:
        import jax
        from jax.sharding import Mesh, NamedSharding, PartitionSpec

        axes = self._axes(args)
        batched_args = [x for x, a in zip(args, axes) if a == 0]
        if not batched_args:
            raise ValueError("over_seeds needs at least one argument with a seeds axis")
        seeds = int(jax.tree.leaves(batched_args[0])[0].shape[0])
        if seeds not in self._programs:
            devices = self.devices_for(seeds)
            if len(devices) == 1:
                self._programs[seeds] = jax.jit(self._batched, donate_argnums=self._donate)
                self._meshes[seeds] = None
            elif self._replicate:
                mesh = Mesh(devices, (AXIS,))
                everywhere = NamedSharding(mesh, PartitionSpec())
                self._programs[seeds] = jax.jit(self._batched, in_shardings=everywhere,
                                                out_shardings=everywhere,
                                                donate_argnums=self._donate)
                self._meshes[seeds] = mesh
            else:
                mesh = Mesh(devices, (AXIS,))
                specs = tuple(PartitionSpec(AXIS) if a == 0 else PartitionSpec() for a in axes)
                sharded = jax.shard_map(
                    self._batched, mesh=mesh, in_specs=specs,
                    out_specs=PartitionSpec(AXIS), check_vma=False,
                )
                self._programs[seeds] = jax.jit(sharded, donate_argnums=self._donate)
                self._meshes[seeds] = mesh
        return self._programs[seeds]

    def _global_args(self, args: tuple) -> tuple:
        """Arguments as global arrays over the processes' devices (several processes only)."""
        if not _multiprocess():
            return args
        import jax
        from jax.sharding import NamedSharding, PartitionSpec

        self._program(args)
        first = next(x for x, a in zip(args, self._axes(args)) if a == 0)
        seeds = int(jax.tree.leaves(first)[0].shape[0])
        mesh = self._meshes[seeds]
        if mesh is None:  # one process's single device cannot happen with several processes
            return args
        return tuple(
            to_global(x, NamedSharding(mesh, PartitionSpec(AXIS)
                                       if a == 0 and not self._replicate else PartitionSpec()))
            for x, a in zip(args, self._axes(args)))

    def __call__(self, *args: Any) -> Any:
        args = self._global_args(args)
        return self._program(args)(*args)

    def lower(self, *args: Any) -> Any:
        """The program's ``jax.stages.Lowered`` for these arguments (``.compile()`` it)."""
        args = self._global_args(args)
        return self._program(args).lower(*args)

    def compile(self, *args: Any) -> Callable[..., Any]:
        """The compiled program for arguments like these: called like ``fn`` on batched
        arguments (with several processes, host arguments are made global first)."""
        compiled = self.lower(*args).compile()
        if not _multiprocess():
            return compiled
        return lambda *a: compiled(*self._global_args(a))
