"""A run's live objects from its specification: the environment (``make_env``), the
config and the agent (``build``), nothing compiled yet.

Below the driver and ``Result``, which both need an environment rebuilt from a
run directory's specification.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from jaxrl.algos import Algorithm
from jaxrl.errors import RunError
from jaxrl.parallel import processes as distributed
from jaxrl.runs.overrides import config_from_dict, get_algorithm
from jaxrl.runs.rundir import RunSpec

__all__ = ["SPLITS", "Built", "build", "make_env"]


@dataclasses.dataclass
class Built:
    """A run's live objects: the agent, its environment and the vmapped functions."""

    spec: RunSpec
    config: Any
    agent: Any
    env: Any
    env_params: Any


def make_env(name: str, options: Mapping[str, Any] | None = None,
             obs_noise: float = 0.0) -> tuple[Any, Any]:
    """``envs.make`` with user errors turned into ``RunError``.

    ``name`` is a registered name or ``"package.module:ClassName"`` (a user's own
    environment class, constructed with ``options``).
    """
    from jaxrl import envs
    if not isinstance(name, str) or not name:
        raise RunError(f"an environment is named by a string, got {name!r}")
    if options is not None and not isinstance(options, Mapping):
        raise RunError(f"environment options are a table of name=value, got {options!r}")
    try:
        env, params = envs.make(name, **dict(options or {}))
    except (ValueError, TypeError, ImportError, AttributeError) as e:
        raise RunError(str(e).splitlines()[0] if str(e) else repr(e)) from None
    if obs_noise > 0:
        from jaxrl.envs.wrappers import ObservationNoise

        env = ObservationNoise(env, obs_noise)
    return env, params


SPLITS = ("seeds", "population")


def _check_split_mode(split: Any) -> str:
    if split not in SPLITS:
        raise RunError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    return split


def _make_agent(record: Algorithm, algorithm: str, config: Any, env: Any, env_params: Any,
                split: str = "seeds") -> Any:
    kwargs: dict[str, Any] = {}
    if split == "population":
        import jax

        if "population_split" not in record.supports:
            raise RunError(f"--split population splits an evolution population over the "
                           f"devices (es, ga); {algorithm} has none: split its seeds")
        kwargs["devices"] = jax.devices()  # every device of every process
    try:
        return record.make(config, env, env_params, **kwargs)
    except (ValueError, TypeError) as e:  # e.g. an algorithm that does not fit this env
        raise RunError(str(e).splitlines()[0] if str(e) else repr(e)) from None


def build(spec: RunSpec, split: str = "seeds") -> Built:
    """Config, environment and agent for ``spec`` (nothing compiled yet); ``split``: what
    is split over the devices, the seeds or (es, ga) each generation's population."""
    if _check_split_mode(split) == "seeds":
        _check_split(spec.seeds)
    record = get_algorithm(spec.algorithm)
    config = config_from_dict(spec.algorithm, spec.config)
    env, env_params = make_env(spec.env, spec.env_options, spec.obs_noise)
    agent = _make_agent(record, spec.algorithm, config, env, env_params, split)
    # (A config.json edited by hand is caught against the checkpoint's own copy of the
    # spec, which names every difference: jaxrl.runs.rundir.load_checkpoint.)
    return Built(spec, config, agent, env, env_params)


def _check_split(seeds: int) -> None:
    """With several processes, each takes an equal share of the seeds."""
    count = distributed.process_count()
    if seeds % count:
        raise RunError(f"{seeds} seeds cannot be split evenly over {count} processes; "
                       f"use a multiple of {count}")
