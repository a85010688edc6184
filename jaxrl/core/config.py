"""Helpers shared by the algorithms' ``Config`` dataclasses.

Every algorithm's config is a frozen ``flax.struct`` dataclass: fields that fix shapes
or loop lengths are static (changing one recompiles), the rest are pytree leaves that
``jaxrl.runs.sweep`` can vmap over. ``validate`` checks leaves only when they are concrete:
inside a sweep they are tracers, and the sweep validates every setting beforehand.
"""

from __future__ import annotations

import dataclasses
import difflib
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import numpy as np
from flax import struct

__all__ = ["RolloutBatches", "check_leaves", "closest", "field_paths", "is_group", "is_traced",
           "public_name", "replace_paths", "static"]


def static(default: Any) -> Any:
    """A config field that is not a pytree leaf (part of the compiled program's shape)."""
    return struct.field(pytree_node=False, default=default)


class RolloutBatches:
    """What the configs of learners that collect ``num_envs`` x ``num_steps`` rollouts and
    learn each in ``epochs`` passes of ``minibatches`` minibatches share (PPO, PQN): the
    batch arithmetic, and its checks (``check_rollout``, from ``validate``). A mixin: the
    fields themselves are the config's own."""

    num_envs: int
    num_steps: int
    epochs: int
    minibatches: int
    total_timesteps: int

    @property
    def batch_size(self) -> int:
        """Transitions per update, ``num_envs * num_steps``."""
        return self.num_envs * self.num_steps

    @property
    def minibatch_size(self) -> int:
        return self.batch_size // self.minibatches

    @property
    def num_updates(self) -> int:
        """Updates in a run, ``total_timesteps // batch_size``."""
        return self.total_timesteps // self.batch_size

    def check_rollout(self, owner: str) -> None:
        """``ValueError`` naming ``owner`` (``"ppo.Config"``) unless the five counts are
        positive integers, the minibatches divide the batch and the run holds a batch."""
        for name in ("num_envs", "num_steps", "epochs", "minibatches", "total_timesteps"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{owner}.{name} must be a positive integer, got {value!r}")
        if self.batch_size % self.minibatches:
            raise ValueError(
                f"{owner}: minibatches={self.minibatches} must divide the batch "
                f"num_envs * num_steps = {self.batch_size}"
            )
        if self.num_updates < 1:
            raise ValueError(
                f"{owner}: total_timesteps={self.total_timesteps} is less than one batch "
                f"(num_envs * num_steps = {self.batch_size})"
            )


def public_name(cls: type) -> str:
    """``cls``'s dotted name by the shortest package that exports it, for messages
    (``jaxrl.algos.ppo.Config``, not ``jaxrl.algos.ppo.config.Config``)."""
    module = cls.__module__
    while "." in module:
        parent = module.rsplit(".", 1)[0]
        if getattr(sys.modules.get(parent), cls.__qualname__, None) is not cls:
            break
        module = parent
    return f"{module}.{cls.__qualname__}"


def is_group(value: Any) -> bool:
    """Whether a config field's value is a nested config (a group of fields such as
    ``Config.curiosity``): a dataclass instance."""
    return dataclasses.is_dataclass(value) and not isinstance(value, type)


def field_paths(config: Any) -> dict[str, tuple[Any, bool]]:
    """Every field of a config instance by path: ``{"lr": (value, static), ...}``.

    A nested config (a group) contributes its own fields as ``"group.field"`` (not
    the group itself). ``static``: the field is not a pytree leaf (inside a group:
    the group's own marking of it).
    """
    out: dict[str, tuple[Any, bool]] = {}
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if is_group(value):
            for sub, entry in field_paths(value).items():
                out[f"{f.name}.{sub}"] = entry
        else:
            out[f.name] = (value, not f.metadata.get("pytree_node", True))
    return out


def replace_paths(config: Any, values: Mapping[str, Any]) -> Any:
    """``config`` with fields replaced by path (``{"lr": 1e-3, "curiosity.beta": 0.3}``);
    a group is rebuilt with its changed fields. Unknown paths raise ``TypeError``."""
    top: dict[str, Any] = {}
    nested: dict[str, dict[str, Any]] = {}
    for path, value in values.items():
        head, dot, rest = path.partition(".")
        if dot:
            nested.setdefault(head, {})[rest] = value
        else:
            top[head] = value
    for head, sub in nested.items():
        group = top.get(head, getattr(config, head))
        if not is_group(group):
            raise TypeError(f"{type(config).__name__}.{head} is not a group of fields")
        top[head] = replace_paths(group, sub)
    return dataclasses.replace(config, **top) if top else config


def dotted(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """A nested mapping as one level: ``{"curiosity": {"eta": 1}}`` -> ``{"curiosity.eta": 1}``
    (each key after ``prefix``), the dotted names ``--set`` and ``--grid`` take."""
    out: dict[str, Any] = {}
    for key, value in d.items():
        if isinstance(value, Mapping):
            out.update(dotted(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


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
