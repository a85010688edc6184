"""CartPole-v0 and CartPole-v1 with Gymnasium's semantics, as pure functions.

Observation: ``float32[4]`` = (cart position, cart velocity, pole angle in radians,
    pole angular velocity).
Actions: ``Discrete(2)``; 0 pushes the cart left, 1 pushes it right (force ``force_mag``).
Reward: +1.0 on every step, the terminating step included (Gymnasium's default).
Termination: ``|x| > x_threshold`` (2.4) or ``|theta| > theta_threshold_radians``
    (12 degrees), checked after the Euler update.
Truncation: ``time >= max_steps_in_episode`` (500 for v1, 200 for v0).
Reset: all four state variables ~ U(-0.05, 0.05).

Params (``CartPoleParams``, every field vmappable): ``gravity`` 9.8, ``masscart`` 1.0,
``masspole`` 0.1, ``length`` 0.5 (half the pole), ``force_mag`` 10.0, ``tau`` 0.02,
``theta_threshold_radians`` 12 * 2 * pi / 360, ``x_threshold`` 2.4,
``max_steps_in_episode``. ``total_mass`` and ``polemass_length`` are derived properties.

Pictures: ``render_image(state, params=None)`` draws the cart and pole (600x400),
``describe(state)`` gives its position and angle.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import struct

from . import spaces
from .core import Environment


@struct.dataclass
class CartPoleState:
    x: jax.Array
    x_dot: jax.Array
    theta: jax.Array
    theta_dot: jax.Array
    time: jax.Array  # steps taken in this episode, int32


@struct.dataclass
class CartPoleParams:
    gravity: float = 9.8
    masscart: float = 1.0
    masspole: float = 0.1
    length: float = 0.5
    force_mag: float = 10.0
    tau: float = 0.02
    theta_threshold_radians: float = 12 * 2 * math.pi / 360
    x_threshold: float = 2.4
    max_steps_in_episode: int = 500

    @property
    def total_mass(self):
        return self.masspole + self.masscart

    @property
    def polemass_length(self):
        return self.masspole * self.length


class CartPole(Environment[CartPoleState, CartPoleParams]):
    """The classic cart-pole balancing task (see the module docstring)."""

    stochastic_step = False
    render_fps = 50.0  # tau = 0.02 s a step: pictures play in real time

    #: Gymnasium's time limit for each registered version.
    TIME_LIMITS = {"v0": 200, "v1": 500}

    def __init__(self, version: str = "v1"):
        if version not in self.TIME_LIMITS:
            raise ValueError(f"CartPole version must be one of {sorted(self.TIME_LIMITS)}, got {version!r}")
        self.version = version

    @property
    def name(self) -> str:
        return f"CartPole-{self.version}"

    @property
    def default_params(self) -> CartPoleParams:
        return CartPoleParams(max_steps_in_episode=self.TIME_LIMITS[self.version])

    def reset_env(self, key, params):
        x, x_dot, theta, theta_dot = jax.random.uniform(key, (4,), minval=-0.05, maxval=0.05)
        state = CartPoleState(x, x_dot, theta, theta_dot, jnp.zeros((), jnp.int32))
        return self.observe(state), state

    def step_env(self, key, state, action, params):
        force = jnp.where(action == 1, params.force_mag, -params.force_mag)
        cos, sin = jnp.cos(state.theta), jnp.sin(state.theta)
        temp = (force + params.polemass_length * state.theta_dot**2 * sin) / params.total_mass
        theta_acc = (params.gravity * sin - cos * temp) / (
            params.length * (4.0 / 3.0 - params.masspole * cos**2 / params.total_mass)
        )
        x_acc = temp - params.polemass_length * theta_acc * cos / params.total_mass
        # Euler integration in Gymnasium's order: positions use the old velocities.
        state = CartPoleState(
            x=state.x + params.tau * state.x_dot,
            x_dot=state.x_dot + params.tau * x_acc,
            theta=state.theta + params.tau * state.theta_dot,
            theta_dot=state.theta_dot + params.tau * theta_acc,
            time=state.time + 1,
        )
        terminated = (jnp.abs(state.x) > params.x_threshold) | (
            jnp.abs(state.theta) > params.theta_threshold_radians
        )
        truncated = state.time >= params.max_steps_in_episode
        reward = jnp.ones((), jnp.float32)
        return self.observe(state), state, reward, terminated, truncated, {}

    @staticmethod
    def observe(state: CartPoleState) -> jax.Array:
        return jnp.stack([state.x, state.x_dot, state.theta, state.theta_dot]).astype(jnp.float32)

    def render_image(self, state: CartPoleState, params: CartPoleParams | None = None):
        """The cart on its track and the pole, ``uint8[400, 600, 3]`` (red marks at
        ``+-x_threshold``; ``envs.drawing.cartpole``)."""
        from .drawing import cartpole, scalar

        p = self.default_params if params is None else params
        return cartpole(scalar(state.x), scalar(state.theta), scalar(p.x_threshold),
                        scalar(p.length))

    def describe(self, state: CartPoleState, params: CartPoleParams | None = None) -> str:
        """The cart's position and the pole's angle, for a caption."""
        from .drawing import scalar

        return f"x {scalar(state.x):+.2f}   angle {math.degrees(scalar(state.theta)):+.1f} deg"

    def action_space(self, params=None):
        return spaces.Discrete(2)

    def observation_space(self, params=None):
        p = params if params is not None else self.default_params
        inf = jnp.finfo(jnp.float32).max
        high = [float(p.x_threshold) * 2, inf, float(p.theta_threshold_radians) * 2, inf]
        return spaces.Box([-h for h in high], high, (4,), jnp.float32)
