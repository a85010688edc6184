"""jaxrl: reinforcement learning in pure JAX. Environments live in ``jaxrl.envs``.

``jaxrl.train("ppo", env="CartPole-v1", seeds=16)`` trains and returns a ``jaxrl.runs.result.Result``;
``jaxrl.resume(run_dir)`` continues a stopped run and ``jaxrl.load(run_dir)`` reads one back;
``jaxrl.export(run_dir)`` writes a params-only policy file that ``jaxrl.load_policy(path)``
turns into ``policy(obs) -> action``. ``jaxrl.enable_compile_cache()`` keeps compiled
programs on disk (``jaxrl.runs.compile_cache``; the ``jaxrl`` command switches it on itself).
``jaxrl.compare(["ppo=DIR", "dqn=DIR"])`` compares runs with rliable's interval estimates.
"""

import importlib
from typing import Any

from jaxrl._version import __version__

# The functions; ``jaxrl.Result`` and ``jaxrl.Policy`` (what train and load_policy return)
# are reachable too, documented with their modules (jaxrl.runs.result, jaxrl.runs.policy).
__all__ = ["__version__", "compare", "enable_compile_cache", "export", "load", "load_policy",
           "resume", "train"]

# Modules reachable as attributes after a plain ``import jaxrl`` (imported on first use).
_SUBPACKAGES = ("algos", "cli", "core", "envs", "errors", "gymnasium_plugin", "output",
                "parallel", "runs")
# Short names of the modules behind the top-level functions: what they return lives there.
_SHORTCUTS = {"result": "jaxrl.runs.result", "policy": "jaxrl.runs.policy"}
_FUNCTIONS = {"train": "jaxrl.runs.run", "resume": "jaxrl.runs.run", "load": "jaxrl.runs.run",
              "Result": "jaxrl.runs.result", "export": "jaxrl.runs.policy",
              "load_policy": "jaxrl.runs.policy", "Policy": "jaxrl.runs.policy",
              "enable_compile_cache": "jaxrl.runs.compile_cache", "compare": "jaxrl.runs.compare"}
# Where a module a user may look for at the top level lives (named in the error).
_ELSEWHERE = ("runs", "output", "core", "envs", "parallel")


def __getattr__(name: str) -> Any:
    # Lazy: importing jaxrl stays cheap (no jax import) until training is asked for.
    if name in _FUNCTIONS:
        return getattr(importlib.import_module(_FUNCTIONS[name]), name)
    if name in _SUBPACKAGES:
        return importlib.import_module(f"jaxrl.{name}")
    if name in _SHORTCUTS:
        return importlib.import_module(_SHORTCUTS[name])
    hint = ""
    if not name.startswith("_"):
        from importlib.util import find_spec

        for package in _ELSEWHERE:
            try:
                found = find_spec(f"jaxrl.{package}.{name}")
            except (ImportError, ValueError):
                found = None
            if found is not None:
                hint = f"; did you mean jaxrl.{package}.{name}?"
                break
    raise AttributeError(f"module 'jaxrl' has no attribute {name!r}{hint}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_FUNCTIONS) | set(_SUBPACKAGES) | set(_SHORTCUTS))
