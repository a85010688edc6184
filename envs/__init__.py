"""jaxrl's environments (``jaxrl.envs``): pure functions of immutable state, gymnax 1.0's call shape.

Public surface::

    from jaxrl import envs
    env, params = envs.make("CartPole-v1")
    envs.registered()
    envs.Environment, envs.VecEnv, envs.spaces, envs.wrappers
    envs.check_env(env, params)                                       # does it keep the contract?
    envs.probes.Probe()                                               # tasks with known answers
    envs.MultiAgentEnvironment, envs.to_jaxmarl(env, params)          # many agents, one world
    envs.to_gymnasium(env, params), envs.to_gymnasium_vector(env, num_envs)  # needs gymnasium
"""

if __name__ != "jaxrl.envs":
    # The repository keeps this folder at its top level, where a working directory of the
    # checkout makes it importable as plain ``envs``: a second copy whose classes are not
    # jaxrl's. Installed, it is only ever ``jaxrl.envs``.
    raise ImportError(f"import the environments as jaxrl.envs (from jaxrl import envs), "
                      f"not as {__name__!r}")

from . import probes, spaces, wrappers
from .checker import CheckReport, EnvCheckError, check_env
from .core import Environment
from .multiagent import MultiAgentEnvironment, to_jaxmarl
from .registry import make, register, registered
from .wrappers import VecEnv


def to_gymnasium(env, params=None, render_mode=None):
    """``envs.gymnasium_adapter.to_gymnasium`` (imported on use: Gymnasium is optional)."""
    from .gymnasium_adapter import to_gymnasium as convert

    return convert(env, params, render_mode)


def to_gymnasium_vector(env, num_envs, params=None):
    """``envs.gymnasium_adapter.to_gymnasium_vector`` (imported on use)."""
    from .gymnasium_adapter import to_gymnasium_vector as convert

    return convert(env, num_envs, params)


__all__ = [
    "CheckReport",
    "EnvCheckError",
    "Environment",
    "MultiAgentEnvironment",
    "VecEnv",
    "check_env",
    "make",
    "probes",
    "register",
    "registered",
    "spaces",
    "to_gymnasium",
    "to_gymnasium_vector",
    "to_jaxmarl",
    "wrappers",
]
