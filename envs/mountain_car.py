"""MountainCar-v0 with Gymnasium's semantics, as pure functions.

Observation: ``float32[2]`` = (position, velocity), within
    ``[min_position, max_position] x [-max_speed, max_speed]``.
Actions: ``Discrete(3)``; 0 pushes left, 1 does nothing, 2 pushes right.
Dynamics (one step, in this order, as Gymnasium's ``MountainCarEnv.step``)::

    velocity += (action - 1) * force + cos(3 * position) * (-gravity)
    velocity  = clip(velocity, -max_speed, max_speed)
    position += velocity
    position  = clip(position, min_position, max_position)
    if position == min_position and velocity < 0: velocity = 0   # inelastic left wall

Reward: -1.0 on every step, the terminating step included. With the static option
    ``sparse=True`` (``envs.make("MountainCar-v0", sparse=True)``, chapter 8's
    exploration task): 1.0 on the step that reaches the flag, 0.0 on every other step;
    dynamics, termination and truncation unchanged.
Termination: ``position >= goal_position and velocity >= goal_velocity``, checked
    after the update.
Truncation: ``time >= max_steps_in_episode`` (200, Gymnasium's TimeLimit for v0).
Reset: position ~ U(-0.6, -0.4), velocity 0.

Params (``MountainCarParams``, every field vmappable): ``min_position`` -1.2,
``max_position`` 0.6, ``max_speed`` 0.07, ``goal_position`` 0.5, ``goal_velocity`` 0.0,
``force`` 0.001, ``gravity`` 0.0025, ``max_steps_in_episode`` 200.

Pictures: ``render_image(state, params=None)`` draws the hill, the flag and the car
(600x400), ``describe(state)`` gives the position and velocity.

Gymnasium keeps its state in float64 and casts the observation to float32; jaxrl
keeps float32 throughout, computing in the same operation order, so one step from the
same state agrees to one float32 rounding, about 1e-7 (tested to 1e-5 against Gymnasium).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from . import spaces
from .core import Environment


@struct.dataclass
class MountainCarState:
    position: jax.Array  # float32 scalar
    velocity: jax.Array  # float32 scalar
    time: jax.Array  # steps taken in this episode, int32


@struct.dataclass
class MountainCarParams:
    min_position: float = -1.2
    max_position: float = 0.6
    max_speed: float = 0.07
    goal_position: float = 0.5
    goal_velocity: float = 0.0
    force: float = 0.001
    gravity: float = 0.0025
    max_steps_in_episode: int = 200


class MountainCar(Environment[MountainCarState, MountainCarParams]):
    """Drive an under-powered car up the right hill (see the module docstring)."""

    stochastic_step = False  # the transition is deterministic; only reset draws
    render_fps = 30.0  # Gymnasium's

    def __init__(self, sparse: bool = False):
        if not isinstance(sparse, (bool, np.bool_)):
            raise TypeError(f"MountainCar sparse must be True or False, got {sparse!r}")
        self.sparse = bool(sparse)  # static: reward 1 at the flag, 0 elsewhere

    @property
    def name(self) -> str:
        return "MountainCar-v0"

    def __repr__(self) -> str:
        return f"<{self.name} sparse=True>" if self.sparse else super().__repr__()

    @property
    def default_params(self) -> MountainCarParams:
        return MountainCarParams()

    def reset_env(
        self, key: jax.Array, params: MountainCarParams
    ) -> tuple[jax.Array, MountainCarState]:
        position = jax.random.uniform(key, (), jnp.float32, minval=-0.6, maxval=-0.4)
        state = MountainCarState(
            position=position,
            velocity=jnp.zeros((), jnp.float32),
            time=jnp.zeros((), jnp.int32),
        )
        return self.observe(state), state

    def step_env(self, key, state, action, params):
        f32 = jnp.float32
        push = (jnp.asarray(action, jnp.int32) - 1).astype(f32) * jnp.asarray(params.force, f32)
        slope = jnp.cos(3 * state.position) * (-jnp.asarray(params.gravity, f32))
        velocity = state.velocity + (push + slope)
        velocity = jnp.clip(velocity, -params.max_speed, params.max_speed).astype(f32)
        position = jnp.clip(state.position + velocity, params.min_position, params.max_position)
        position = position.astype(f32)
        # The left wall is inelastic: a car pinned against it stops.
        at_wall = (position == jnp.asarray(params.min_position, f32)) & (velocity < 0)
        velocity = jnp.where(at_wall, jnp.zeros((), f32), velocity)
        new_state = MountainCarState(position=position, velocity=velocity, time=state.time + 1)
        terminated = (position >= params.goal_position) & (velocity >= params.goal_velocity)
        truncated = new_state.time >= params.max_steps_in_episode
        if self.sparse:
            reward = terminated.astype(f32)
        else:
            reward = jnp.full((), -1.0, f32)
        return self.observe(new_state), new_state, reward, terminated, truncated, {}

    @staticmethod
    def observe(state: MountainCarState) -> jax.Array:
        """``float32[2]`` = (position, velocity)."""
        return jnp.stack([state.position, state.velocity]).astype(jnp.float32)

    def render_image(self, state: MountainCarState,
                     params: MountainCarParams | None = None) -> np.ndarray:
        """The hill, the flag and the car, ``uint8[400, 600, 3]``
        (``envs.drawing.mountain_car``)."""
        from .drawing import mountain_car, scalar

        p = self.default_params if params is None else params
        return mountain_car(scalar(state.position), scalar(p.min_position),
                            scalar(p.max_position), scalar(p.goal_position))

    def describe(self, state: MountainCarState, params: MountainCarParams | None = None) -> str:
        """The car's position and velocity, for a caption."""
        from .drawing import scalar

        return f"position {scalar(state.position):+.3f}   velocity {scalar(state.velocity):+.4f}"

    def action_space(self, params: MountainCarParams | None = None) -> spaces.Discrete:
        return spaces.Discrete(3)

    def observation_space(self, params: MountainCarParams | None = None) -> spaces.Box:
        p = params if params is not None else self.default_params
        low = [float(p.min_position), -float(p.max_speed)]
        high = [float(p.max_position), float(p.max_speed)]
        return spaces.Box(low, high, (2,), jnp.float32)
