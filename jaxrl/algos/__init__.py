"""Algorithm registry: every trainable algorithm by name, one module each.

Each module provides ``Config`` and ``make(config, env, env_params) -> jaxrl.core.agent.Agent``
(see ``jaxrl.core.agent``), ``PRESETS: dict[str, jaxrl.core.presets.Preset]`` and ``DEFAULT_ENV``
(the environment a run uses when none is named). ``get(name)`` returns the module;
``names()`` lists them.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from jaxrl.core.config import closest

# name -> module path. Modules are imported on first use.
_ALGORITHMS: dict[str, str] = {
    "q_learning": "jaxrl.algos.tabular",
    "sarsa": "jaxrl.algos.tabular",
    "dqn": "jaxrl.algos.dqn",
    "c51": "jaxrl.algos.dqn",  # distributional views of dqn (dqn.for_name)
    "qrdqn": "jaxrl.algos.dqn",
    "reinforce": "jaxrl.algos.reinforce",
    "a2c": "jaxrl.algos.a2c",
    "ppo": "jaxrl.algos.ppo",
    "contextual_bandit": "jaxrl.algos.bandit_agents",
    "mfq": "jaxrl.algos.marl",
    "nq": "jaxrl.algos.marl",
    "iql": "jaxrl.algos.marl",
    "ga": "jaxrl.algos.ga",
    "es": "jaxrl.algos.es",
}


def names() -> list[str]:
    """Names ``get`` accepts."""
    return list(_ALGORITHMS)


def get(name: str) -> ModuleType:
    """The module implementing algorithm ``name``; unknown names get the closest matches."""
    if name not in _ALGORITHMS:
        hint = closest(name, names(), cutoff=0.4)
        raise ValueError(f"unknown algorithm {name!r}.{hint} Known: {', '.join(names())}.")
    module = importlib.import_module(_ALGORITHMS[name])
    # A module serving several names (q_learning / sarsa; dqn / c51 / qrdqn) exposes a
    # per-name hook.
    return getattr(module, "for_name", lambda n: module)(name)


_VIEWS: dict[tuple[str, str], ModuleType] = {}


def view(module: ModuleType, name: str, **attrs: object) -> ModuleType:
    """A module-like view of ``module`` serving algorithm ``name`` (built once, then reused).

    For a module that serves several names (``tabular``: q_learning and sarsa; ``dqn``:
    c51 and qrdqn; ``marl``: mfq, nq and iql): every name in ``module.__all__``, with
    ``attrs`` (``Config``, ``PRESETS``, ``DEFAULT_ENV``...) put in place and
    ``ALGORITHM = name``. ``make`` and everything else stay the module's own.
    """
    key = (module.__name__, name)
    if key not in _VIEWS:
        out = ModuleType(f"{module.__name__}:{name}", module.__doc__)
        for attr in module.__all__:
            setattr(out, attr, getattr(module, attr))
        out.ALGORITHM = name
        for attr, value in attrs.items():
            setattr(out, attr, value)
        _VIEWS[key] = out
    return _VIEWS[key]
