"""jaxrl: reinforcement learning in pure JAX. Environments live in ``jaxrl.envs``.

``jaxrl.train("ppo", env="CartPole-v1", seeds=16)`` trains and returns a ``jaxrl.runs.result.Result``;
``jaxrl.resume(run_dir)`` continues a stopped run and ``jaxrl.load(run_dir)`` reads one back;
``jaxrl.export(run_dir)`` writes a params-only policy file that ``jaxrl.load_policy(path)``
turns into ``policy(obs) -> action``.
"""

import importlib
from typing import Any

from jaxrl._version import __version__

__all__ = ["__version__", "export", "load", "load_policy", "resume", "train"]

# Subpackages reachable as attributes after a plain ``import jaxrl``.
_SUBPACKAGES = ("algos", "cli", "core", "envs", "errors", "output", "parallel", "runs")


def __getattr__(name: str) -> Any:
    # Lazy: importing jaxrl stays cheap (no jax import) until training is asked for.
    if name in ("train", "resume", "load"):
        from jaxrl.runs import run

        return getattr(run, name)
    if name in ("export", "load_policy"):
        from jaxrl.runs import policy

        return getattr(policy, name)
    if name in _SUBPACKAGES:
        return importlib.import_module(f"jaxrl.{name}")
    raise AttributeError(f"module 'jaxrl' has no attribute {name!r}")
