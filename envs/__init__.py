"""jaxrl's environments: pure functions of immutable state, gymnax 1.0's call shape.

Public surface::

    env, params = envs.make("CartPole-v1")
    envs.registered()
    envs.Environment, envs.VecEnv, envs.spaces, envs.wrappers
"""

from envs import spaces, wrappers
from envs.core import Environment
from envs.registry import make, register, registered
from envs.wrappers import VecEnv

__all__ = ["Environment", "VecEnv", "make", "register", "registered", "spaces", "wrappers"]
