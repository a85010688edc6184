"""jaxrl's single-agent environments in Gymnasium's registry, as ``jaxrl/<name>``.

::

    import gymnasium
    import jaxrl.gymnasium_plugin  # noqa: F401  registers the ids

    env = gymnasium.make("jaxrl/CartPole-v1")
    env = gymnasium.make("jaxrl/DoorKey-5x5-v0", render_mode="rgb_array")
    env = gymnasium.make("jaxrl/Gridworld-v0", mode="random", size=5)  # envs.make options

    # or in one string, with nothing imported first (a config file, a CLI flag):
    env = gymnasium.make("jaxrl.gymnasium_plugin:jaxrl/Taxi-v3")

Gymnasium 1.x reads no plugin entry points, so the ids exist once this module is imported
(importing it registers them; ``gymnasium.register_envs(jaxrl.gymnasium_plugin)`` is the
same import, spelt so linters keep it). The ``gymnasium.envs`` entry point in
pyproject.toml names ``register_jaxrl_envs`` for loaders that still call plugin hooks.

This module is light on purpose: it imports the standard library and Gymnasium's
registration API, never jax or the rest of jaxrl. The environment is built only by
``gymnasium.make``, through the entry point ``jaxrl.envs.gymnasium_adapter:make_gymnasium``
(keyword arguments become ``envs.make`` options). Registered specs have
``max_episode_steps=None``: the jaxrl env truncates its episodes itself, and the made env's
``spec.max_episode_steps`` reports that limit (see ``jaxrl.envs.gymnasium_adapter``).
"""

from __future__ import annotations

from gymnasium.envs.registration import register, registry

NAMESPACE = "jaxrl"
ENTRY_POINT = "jaxrl.envs.gymnasium_adapter:make_gymnasium"

#: jaxrl's single-agent built-ins (``jaxrl.envs.registered()`` less the multi-agent Ising
#: and Battle, and less gymnax's own ``gymnax/*`` envs). A test keeps the two lists equal.
NAMES = (
    "Bandit-v0",
    "ContextualBandit-v0",
    "Gridworld-v0",
    "CartPole-v0",
    "CartPole-v1",
    "MountainCar-v0",
    "Taxi-v3",
    "Maze-v0",
    "DoorKey-5x5-v0",
    "DoorKey-6x6-v0",
    "DoorKey-8x8-v0",
    "DoorKey-16x16-v0",
)


def register_jaxrl_envs() -> None:
    """Register ``jaxrl/<name>`` for every name of ``NAMES`` (ids already there are kept)."""
    for name in NAMES:
        env_id = f"{NAMESPACE}/{name}"
        if env_id not in registry:
            register(id=env_id, entry_point=ENTRY_POINT, kwargs={"name": name})


register_jaxrl_envs()
