"""Algorithms by name: one registered record each, as open as the environment registry.

An algorithm is described by one ``Algorithm`` record (its ``Config`` class, ``make``,
presets, default environment and what it supports) and registered under its name::

    from jaxrl import algos

    MY_ALGO = algos.Algorithm(name="my_algo", config=Config, make=make,
                              presets={}, default_env="CartPole-v1")
    algos.register(MY_ALGO)                 # jaxrl.train("my_algo"), jaxrl train my_algo

or, without registering, named by where it lives: ``jaxrl train mypkg.algo:MY_ALGO``
and ``jaxrl.train("mypkg.algo:MY_ALGO")`` import ``mypkg.algo`` and use its record;
a run directory keeps that reference, so eval, play, export and resume find it again.

``make(config, env, env_params) -> jaxrl.core.agent.Agent`` builds the agent (see
``jaxrl.core.agent`` for the contract); nothing is compiled until it trains. The
built-in algorithms are registered here by reference and imported on first use, so
``import jaxrl.algos`` stays cheap.
"""

from __future__ import annotations

import dataclasses
import importlib
import re
import sys
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from jaxrl.core.config import closest
from jaxrl.core.presets import Preset

__all__ = ["SUPPORTS", "Algorithm", "get", "is_reference", "names", "register", "unregister"]

#: What an algorithm may say it supports (``Algorithm.supports``).
SUPPORTS = {
    "discrete": "discrete actions",
    "continuous": "continuous (box) actions",
    "multi_agent": "many agents in one world (jaxrl.envs.MultiAgentEnvironment)",
    "population_split": ("make(..., devices=[...]) splits a population over devices "
                         "(--split population)"),
}


@dataclasses.dataclass(frozen=True)
class Algorithm:
    """One algorithm: everything the runs, the command line and the listings need.

    Attributes:
        name: the name it is trained by (``jaxrl train NAME``).
        config: its frozen ``Config`` dataclass; ``config()`` gives the defaults.
        make: ``make(config, env, env_params) -> Agent``; with ``"population_split"``
            in ``supports`` it also takes ``devices=``.
        presets: named settings (``jaxrl.core.presets.Preset``: a config and its
            environment), ``--preset NAME``.
        default_env: the environment a run uses when neither the user nor a preset
            names one.
        summary: one line for ``jaxrl list algos`` (default: the first sentence of
            the docstring of the module that defines ``make``; ``one_line()``).
        supports: tags from ``SUPPORTS``.
    """

    name: str
    config: type
    make: Callable[..., Any]
    presets: Mapping[str, Preset] = dataclasses.field(default_factory=dict)
    default_env: str = "CartPole-v1"
    summary: str = ""
    supports: frozenset[str] = frozenset({"discrete"})

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name or ":" in self.name:
            raise ValueError(f"an algorithm's name is a non-empty string without ':', "
                             f"got {self.name!r}")
        if not (isinstance(self.config, type) and dataclasses.is_dataclass(self.config)):
            raise TypeError(f"algorithm {self.name!r}: config must be a dataclass type "
                            f"(its Config), got {self.config!r}")
        if not callable(self.make):
            raise TypeError(f"algorithm {self.name!r}: make must be callable")
        for key, preset in self.presets.items():
            if not isinstance(preset, Preset):
                raise TypeError(f"algorithm {self.name!r}: preset {key!r} is not a "
                                "jaxrl.core.presets.Preset")
            if not isinstance(preset.config, self.config):
                raise TypeError(f"algorithm {self.name!r}: preset {key!r}'s config is a "
                                f"{type(preset.config).__name__}, not its "
                                f"{self.config.__name__}")
        if not isinstance(self.default_env, str) or not self.default_env:
            raise ValueError(f"algorithm {self.name!r}: default_env must name an environment")
        unknown = set(self.supports) - set(SUPPORTS)
        if unknown:
            raise ValueError(f"algorithm {self.name!r}: unknown supports {sorted(unknown)}; "
                             f"known: {', '.join(SUPPORTS)}")
        object.__setattr__(self, "presets", MappingProxyType(dict(self.presets)))
        object.__setattr__(self, "supports", frozenset(self.supports))

    def one_line(self) -> str:
        """What the algorithm is, in one line (``jaxrl list algos``): ``summary``, else the
        first whole sentence of the docstring of ``make``'s module, else ``""``."""
        if self.summary:
            return " ".join(self.summary.split())
        module = sys.modules.get(getattr(self.make, "__module__", "") or "")
        return _first_sentence(getattr(module, "__doc__", None) or "")


def _first_sentence(text: str) -> str:
    """The first sentence of ``text``'s first paragraph, whole and on one line (its final
    full stop dropped); the whole paragraph when no sentence ends inside it."""
    paragraph = text.strip().split("\n\n", 1)[0]
    flat = " ".join(paragraph.split())
    end = re.search(r"[.!?](?=\s+[A-Z(\"'`])", flat)  # a full stop, then a new sentence
    sentence = flat[:end.start() + 1] if end else flat
    return sentence[:-1] if sentence.endswith(".") else sentence


# name -> a record, or "module:ATTRIBUTE" of one (the built-ins: imported on first use).
_REGISTRY: dict[str, Algorithm | str] = {
    "q_learning": "jaxrl.algos.tabular:Q_LEARNING",
    "sarsa": "jaxrl.algos.tabular:SARSA",
    "dqn": "jaxrl.algos.dqn:DQN",
    "c51": "jaxrl.algos.dqn:C51",
    "qrdqn": "jaxrl.algos.dqn:QRDQN",
    "pqn": "jaxrl.algos.pqn:PQN",
    "sac": "jaxrl.algos.continuous:SAC",
    "td3": "jaxrl.algos.continuous:TD3",
    "reinforce": "jaxrl.algos.reinforce:REINFORCE",
    "a2c": "jaxrl.algos.a2c:A2C",
    "ppo": "jaxrl.algos.ppo:PPO",
    "contextual_bandit": "jaxrl.algos.bandit_agents:CONTEXTUAL_BANDIT",
    "mfq": "jaxrl.algos.marl:MFQ",
    "nq": "jaxrl.algos.marl:NQ",
    "iql": "jaxrl.algos.marl:IQL",
    "ga": "jaxrl.algos.ga:GA",
    "es": "jaxrl.algos.es:ES",
}


def names() -> list[str]:
    """The registered names, in registration order."""
    return list(_REGISTRY)


def is_reference(name: str) -> bool:
    """Is ``name`` a ``"package.module:ATTRIBUTE"`` reference rather than a registered name?"""
    return isinstance(name, str) and ":" in name


def register(algorithm: Algorithm, *, replace: bool = False) -> Algorithm:
    """Register ``algorithm`` under ``algorithm.name``; returns it.

    Raises:
        TypeError: ``algorithm`` is not an ``Algorithm``.
        ValueError: the name is taken (pass ``replace=True`` to replace it).
    """
    if not isinstance(algorithm, Algorithm):
        raise TypeError(f"register takes a jaxrl.algos.Algorithm, got {type(algorithm).__name__}")
    if algorithm.name in _REGISTRY and not replace:
        raise ValueError(f"an algorithm named {algorithm.name!r} is already registered "
                         "(register(..., replace=True) replaces it)")
    _REGISTRY[algorithm.name] = algorithm
    return algorithm


def unregister(name: str) -> None:
    """Remove a registered algorithm (``KeyError`` when there is none by that name)."""
    del _REGISTRY[name]


def _load(reference: str) -> Algorithm:
    module_name, _, attribute = reference.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"an algorithm reference is 'package.module:NAME', got {reference!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise ValueError(f"cannot import {module_name!r} for algorithm {reference!r}: {e}") from None
    record = getattr(module, attribute, None)
    if not isinstance(record, Algorithm):
        found = "nothing" if record is None else f"a {type(record).__name__}"
        raise ValueError(f"{reference!r} names {found}, not a jaxrl.algos.Algorithm record")
    return record


def get(name: str) -> Algorithm:
    """The record of algorithm ``name``: a registered name or ``"package.module:NAME"``.

    Raises:
        ValueError: an unknown name (with the closest matches) or a reference that
            does not lead to an ``Algorithm``.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"an algorithm is named by a string, got {name!r}")
    entry = _REGISTRY.get(name)
    if entry is None:
        if is_reference(name):
            return _load(name)
        hint = closest(name, names(), cutoff=0.4)
        raise ValueError(f"unknown algorithm {name!r}.{hint} Known: {', '.join(names())}.")
    if isinstance(entry, str):
        entry = _load(entry)
        if entry.name != name:
            raise ValueError(f"{_REGISTRY[name]!r} is registered as {name!r} but calls "
                             f"itself {entry.name!r}")
        _REGISTRY[name] = entry
    return entry
