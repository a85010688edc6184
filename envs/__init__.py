"""jaxrl's environments: pure functions of immutable state, gymnax 1.0's call shape.

Public surface::

    env, params = envs.make("CartPole-v1")
    envs.registered()
    envs.Environment, envs.VecEnv, envs.spaces, envs.wrappers
    envs.MultiAgentEnvironment, envs.to_jaxmarl(env, params)          # many agents, one world
    envs.to_gymnasium(env, params), envs.to_gymnasium_vector(env, num_envs)  # needs gymnasium
"""

from envs import spaces, wrappers
from envs.core import Environment
from envs.multiagent import MultiAgentEnvironment, to_jaxmarl
from envs.registry import make, register, registered
from envs.wrappers import VecEnv


def to_gymnasium(env, params=None, render_mode=None):
    """``envs.gymnasium_adapter.to_gymnasium`` (imported on use: Gymnasium is optional)."""
    from envs.gymnasium_adapter import to_gymnasium as convert

    return convert(env, params, render_mode)


def to_gymnasium_vector(env, num_envs, params=None):
    """``envs.gymnasium_adapter.to_gymnasium_vector`` (imported on use)."""
    from envs.gymnasium_adapter import to_gymnasium_vector as convert

    return convert(env, num_envs, params)


__all__ = [
    "Environment",
    "MultiAgentEnvironment",
    "VecEnv",
    "make",
    "register",
    "registered",
    "spaces",
    "to_gymnasium",
    "to_gymnasium_vector",
    "to_jaxmarl",
    "wrappers",
]
