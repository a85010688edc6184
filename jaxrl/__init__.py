"""jaxrl: reinforcement learning in pure JAX. Environments live in the sibling package ``envs``.

``jaxrl.train("ppo", env="CartPole-v1", seeds=16)`` trains and returns a ``jaxrl.result.Result``;
``jaxrl.resume(run_dir)`` continues a stopped run and ``jaxrl.load(run_dir)`` reads one back;
``jaxrl.export(run_dir)`` writes a params-only policy file that ``jaxrl.load_policy(path)``
turns into ``policy(obs) -> action``.
"""

from typing import Any

__version__ = "0.1.0"

__all__ = ["__version__", "export", "load", "load_policy", "resume", "train"]


def __getattr__(name: str) -> Any:
    # Lazy: importing jaxrl stays cheap (no jax import) until training is asked for.
    if name in ("train", "resume", "load"):
        from jaxrl import run

        return getattr(run, name)
    if name in ("export", "load_policy"):
        from jaxrl import policy

        return getattr(policy, name)
    raise AttributeError(f"module 'jaxrl' has no attribute {name!r}")
