"""Battle: two teams on a grid, every soldier an agent (a pure-JAX stand-in for MAgent's).

A ``size x size`` open grid (outside it counts as wall). Team red (agents
``0 .. n - 1``) starts on uniformly drawn distinct cells of the leftmost third, team
blue (agents ``n .. 2n - 1``) on the mirror-image rightmost third. A multi-agent
environment (``envs.multiagent``): arrays with an agent axis, shared scalar flags.

Action: ``Discrete(6)`` per agent: 0 stay, 1 up (row - 1), 2 down, 3 left (col - 1),
    4 right, 5 attack. An attack hits one adjacent enemy (8-neighbourhood): the one
    with the least health, ties to the lowest agent index; with no enemy adjacent it
    misses. Dead agents' actions are ignored.
Order within a step (synchronous): all attacks, on the positions at the start of the
    step; damage adds up; an agent whose health falls to 0 or below dies and leaves
    the grid. Then the survivors move: a move succeeds when the target cell is on the
    grid, empty after the deaths, and no other agent moves there (so nobody moves into
    a cell being vacated in the same step). Then living agents recover ``hp_recovery``
    health, up to ``max_hp``.
Reward (per agent, ``float32[num_agents]``): ``attack_reward`` per hit landed,
    ``kill_reward`` split among the agents whose hits killed a target this step,
    ``miss_reward`` for an attack with nobody adjacent, ``death_reward`` on the step it
    dies, ``step_reward`` every step it starts alive. Dead agents earn 0. A team's
    reward is the sum over its agents.
Observation (per agent, ``float32[obs_size]``, zeros for a dead agent): an egocentric
    ``(2 r + 1) x (2 r + 1)`` window (``r = view_radius``, default 3) of 5 planes,
    flattened row-major with the plane last: outside-the-grid, teammate present,
    teammate health / ``max_hp``, enemy present, enemy health / ``max_hp`` (the agent
    itself is the teammate at the centre); then 7 features: own health / ``max_hp``,
    row / (size - 1), col / (size - 1), the offset to the living enemies' centroid
    (rows, cols) / (size - 1), the living share of its own team and of the enemy's.
Termination: a team has no living agent. Truncation: ``time >= max_steps_in_episode``.
Winner (``info["winner"]``, meaningful when the episode ends): the team with more
    living agents, then more total health; -1 for a draw.
Params (``BattleParams``, vmappable): ``max_hp`` 10, ``damage`` 2, ``hp_recovery`` 0.1,
    ``attack_reward`` 0.2, ``kill_reward`` 5, ``miss_reward`` -0.05, ``death_reward`` -1,
    ``step_reward`` -0.005, ``max_steps_in_episode`` 150.
State (``BattleState``): ``pos`` int32[num_agents, 2] (row, col), ``hp`` float32[num_agents],
    ``alive`` bool[num_agents], ``time`` int32[].
Info: ``alive`` bool[num_agents] (after the step), ``team_alive`` int32[2], ``winner``
    int32[], ``kills`` int32[2] (enemies each team killed this step).

Neighbourhoods (for mean-field learners, the ``neighbourhood`` option): ``"view"`` (the
``battle`` presets' choice) averages over the living teammates inside the agent's view window (Chebyshev
distance <= ``view_radius``), itself excluded, zeros when it sees none: the local mean
action of Yang et al., 2018, whose Q-function conditions on the agent's neighbours.
``"team"`` averages over the living members of its team, itself included (one number
per team, as the MAgent battle code of that paper computes it; the default, so run
directories made before ``"view"`` existed keep their meaning). Pictures:
``render(state)`` is text (``R``/``B``, lower case below half health, ``.`` empty);
``render_image(state, params=None)`` an RGB array.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from . import spaces
from .multiagent import MultiAgentEnvironment
from .validation import MAX_SIDE, count

ACTION_NAMES = ("stay", "up", "down", "left", "right", "attack")
MOVES = np.array([[0, 0], [-1, 0], [1, 0], [0, -1], [0, 1], [0, 0]], np.int32)
ATTACK = 5
PLANES = ("outside", "teammate", "teammate hp", "enemy", "enemy hp")
NUM_FEATURES = 7
NEIGHBOURHOODS = ("view", "team")
RED, BLUE = (220, 50, 47), (38, 110, 220)
_AROUND = np.array([(dr, dc) for dr in (-1, 0, 1) for dc in (-1, 0, 1) if (dr, dc) != (0, 0)],
                   np.int32)


@struct.dataclass
class BattleState:
    pos: jax.Array  # int32[num_agents, 2], (row, col)
    hp: jax.Array  # float32[num_agents]
    alive: jax.Array  # bool[num_agents]
    time: jax.Array  # int32[]


@struct.dataclass
class BattleParams:
    max_hp: float = 10.0
    damage: float = 2.0  # per hit
    hp_recovery: float = 0.1  # per step, living agents
    attack_reward: float = 0.2
    kill_reward: float = 5.0
    miss_reward: float = -0.05
    death_reward: float = -1.0
    step_reward: float = -0.005
    max_steps_in_episode: int = 150


def _int(name: str, value: object, low: int) -> int:
    return count("Battle", name, value, low, MAX_SIDE)


class Battle(MultiAgentEnvironment):
    """Two teams on a ``size x size`` grid (see the module docstring).

    Args:
        size: grid side, an int >= 6.
        agents_per_team: soldiers per team (>= 1, at most the cells of a third of the grid).
        view_radius: the observation window is ``2 * view_radius + 1`` cells wide (>= 1).
        neighbourhood: whose actions ``neighbour_mean`` averages, ``"view"`` or ``"team"``.

    Raises:
        ValueError: a bad size, radius or neighbourhood, or more agents than their third
            of the grid holds.
    """

    action_names = ACTION_NAMES
    num_teams = 2

    def __init__(self, size: int = 20, agents_per_team: int = 20, view_radius: int = 3,
                 neighbourhood: str = "team"):
        self.size = _int("size", size, 6)
        self.agents_per_team = _int("agents_per_team", agents_per_team, 1)
        self.view_radius = _int("view_radius", view_radius, 1)
        if neighbourhood not in NEIGHBOURHOODS:
            raise ValueError(f"Battle neighbourhood must be one of {', '.join(NEIGHBOURHOODS)}, "
                             f"got {neighbourhood!r}")
        self.neighbourhood = neighbourhood
        self.spawn_width = self.size // 3
        cells = self.size * self.spawn_width
        if self.agents_per_team > cells:
            raise ValueError(f"Battle: {self.agents_per_team} agents per team do not fit the "
                             f"{cells} cells of a third of a {self.size}x{self.size} grid")
        self.num_agents = 2 * self.agents_per_team
        self.team = np.repeat(np.arange(2, dtype=np.int32), self.agents_per_team)
        self.window = 2 * self.view_radius + 1

    @property
    def name(self) -> str:
        return "Battle-v0"

    def __repr__(self) -> str:
        return (f"<Battle {self.size}x{self.size}, {self.agents_per_team} a side, "
                f"view {self.window}x{self.window}>")

    @property
    def agent_names(self) -> tuple[str, ...]:
        n = self.agents_per_team
        return tuple(f"red_{i}" for i in range(n)) + tuple(f"blue_{i}" for i in range(n))

    @property
    def default_params(self) -> BattleParams:
        return BattleParams()

    @property
    def obs_size(self) -> int:
        return self.window * self.window * len(PLANES) + NUM_FEATURES

    # --- reset ----------------------------------------------------------------------
    def reset_env(self, key, params):
        n, s, w = self.agents_per_team, self.size, self.spawn_width
        k_red, k_blue = jax.random.split(key)
        cells = jnp.arange(s * w)

        def spawn(k):  # n distinct cells of the left third, (row, col)
            pick = jax.random.permutation(k, cells)[:n]
            return jnp.stack([pick // w, pick % w], axis=1).astype(jnp.int32)

        red = spawn(k_red)
        blue = spawn(k_blue)
        blue = blue.at[:, 1].set(s - 1 - blue[:, 1])  # the mirror image: rightmost third
        state = BattleState(
            pos=jnp.concatenate([red, blue]),
            hp=jnp.full((self.num_agents,), params.max_hp, jnp.float32),
            alive=jnp.ones((self.num_agents,), bool),
            time=jnp.zeros((), jnp.int32),
        )
        return self.observe(state, params), state

    # --- step -----------------------------------------------------------------------
    def occupancy(self, pos: jax.Array, alive: jax.Array) -> jax.Array:
        """``int32[size, size]``: the living agent on each cell, -1 where empty."""
        idx = jnp.where(alive, jnp.arange(self.num_agents), -1)
        rows = jnp.where(alive, pos[:, 0], self.size)  # dead agents scatter off the grid
        return jnp.full((self.size, self.size), -1, jnp.int32).at[rows, pos[:, 1]].set(
            idx, mode="drop")

    def _adjacent(self, occ: jax.Array, pos: jax.Array) -> jax.Array:
        """``int32[num_agents, 8]``: the agent on each of the 8 cells around each agent (-1)."""
        cells = pos[:, None, :] + jnp.asarray(_AROUND)[None]
        inside = jnp.all((cells >= 0) & (cells < self.size), axis=-1)
        found = occ[jnp.clip(cells[..., 0], 0, self.size - 1), jnp.clip(cells[..., 1], 0,
                                                                         self.size - 1)]
        return jnp.where(inside, found, -1)

    def step_env(self, key, state, action, params):
        n = self.num_agents
        team = jnp.asarray(self.team)
        action = jnp.where(state.alive, jnp.asarray(action, jnp.int32).reshape(n), 0)
        alive, pos, hp = state.alive, state.pos, state.hp

        # Attacks, all at once on the start-of-step positions.
        occ = self.occupancy(pos, alive)
        near = self._adjacent(occ, pos)  # [n, 8]
        safe = jnp.maximum(near, 0)
        enemy = (near >= 0) & (team[safe] != team[:, None])
        score = jnp.where(enemy, hp[safe] * (n + 1) + safe, jnp.inf)  # least hp, then index
        target = safe[jnp.arange(n), jnp.argmin(score, axis=1)]
        attacks = alive & (action == ATTACK)
        hits = attacks & jnp.any(enemy, axis=1)
        misses = attacks & ~hits
        damage = jnp.zeros((n,), jnp.float32).at[target].add(jnp.where(hits, params.damage, 0.0))
        attackers = jnp.zeros((n,), jnp.float32).at[target].add(hits.astype(jnp.float32))
        hp = hp - damage
        died = alive & (hp <= 0)
        alive = alive & ~died
        killed = hits & died[target]
        kill_share = jnp.where(killed, 1.0 / jnp.maximum(attackers[target], 1.0), 0.0)

        # Moves of the survivors into cells empty after the deaths, one mover per cell.
        occ = self.occupancy(pos, alive)
        want = pos + jnp.asarray(MOVES)[action]
        moving = alive & (action >= 1) & (action <= 4)
        inside = jnp.all((want >= 0) & (want < self.size), axis=1)
        wr = jnp.clip(want[:, 0], 0, self.size - 1)
        wc = jnp.clip(want[:, 1], 0, self.size - 1)
        movers = moving & inside
        count = jnp.zeros((self.size, self.size), jnp.int32).at[wr, wc].add(movers.astype(jnp.int32))
        ok = movers & (occ[wr, wc] < 0) & (count[wr, wc] == 1)
        pos = jnp.where(ok[:, None], want, pos)
        hp = jnp.where(alive, jnp.minimum(hp + params.hp_recovery, params.max_hp), 0.0)

        reward = (params.attack_reward * hits + params.kill_reward * kill_share
                  + params.miss_reward * misses + params.death_reward * died
                  + params.step_reward * state.alive)
        reward = jnp.where(state.alive, reward, 0.0).astype(jnp.float32)
        time = state.time + 1
        new = BattleState(pos=pos, hp=hp, alive=alive, time=time)
        team_alive = jnp.stack([jnp.sum(alive & (team == t)) for t in range(2)]).astype(jnp.int32)
        terminated = jnp.any(team_alive == 0)
        truncated = time >= params.max_steps_in_episode
        kills = jnp.stack([jnp.sum(died & (team != t)) for t in range(2)]).astype(jnp.int32)
        info = {"alive": alive, "team_alive": team_alive, "winner": self.winner(new),
                "kills": kills}
        return self.observe(new, params), new, reward, terminated, truncated, info

    def winner(self, state: BattleState) -> jax.Array:
        """``int32[]``: 0 red, 1 blue, -1 draw, by living agents then total health."""
        team = jnp.asarray(self.team)
        count = [jnp.sum(state.alive & (team == t)) for t in range(2)]
        health = [jnp.sum(jnp.where(state.alive & (team == t), state.hp, 0.0)) for t in range(2)]
        by_health = jnp.where(health[0] > health[1], 0, jnp.where(health[1] > health[0], 1, -1))
        return jnp.where(count[0] > count[1], 0,
                         jnp.where(count[1] > count[0], 1, by_health)).astype(jnp.int32)

    # --- observation ------------------------------------------------------------------
    def get_obs(self, state: BattleState, params: BattleParams | None = None) -> jax.Array:
        """Every agent's observation of ``state`` (what ``reset`` and ``step`` return)."""
        return self.observe(state, self.default_params if params is None else params)

    def observe(self, state: BattleState, params: BattleParams) -> jax.Array:
        """``float32[num_agents, obs_size]`` (see the module docstring for the layout)."""
        n, s, r = self.num_agents, self.size, self.view_radius
        team = jnp.asarray(self.team)
        rows = jnp.where(state.alive, state.pos[:, 0], s)
        cols = state.pos[:, 1]
        base = jnp.zeros((s, s, 5), jnp.float32)
        for t in range(2):
            mine = (team == t).astype(jnp.float32)
            base = base.at[rows, cols, 1 + 2 * t].add(mine, mode="drop")
            base = base.at[rows, cols, 2 + 2 * t].add(mine * state.hp / params.max_hp, mode="drop")
        outside = jnp.zeros((s + 2 * r, s + 2 * r, 1), jnp.float32).at[:, :, 0].set(1.0)
        outside = outside.at[r:r + s, r:r + s, 0].set(0.0)
        padded = jnp.concatenate(
            [outside, jnp.pad(base[..., 1:], ((r, r), (r, r), (0, 0)))], axis=-1)

        def window(p):
            return jax.lax.dynamic_slice(padded, (p[0], p[1], 0), (self.window, self.window, 5))

        views = jax.vmap(window)(state.pos)  # [n, w, w, 5]: outside, red, red hp, blue, blue hp
        swap = jnp.asarray([0, 3, 4, 1, 2])
        views = jnp.where((team == 1)[:, None, None, None], views[..., swap], views)

        alive_f = state.alive.astype(jnp.float32)
        count = jnp.stack([jnp.sum(alive_f * (team == t)) for t in range(2)])
        centroid = jnp.stack([
            jnp.sum(state.pos * (alive_f * (team == t))[:, None], axis=0) / jnp.maximum(count[t], 1)
            for t in range(2)])  # [2, 2]
        other = 1 - team
        scale = float(s - 1)
        features = jnp.concatenate([
            (state.hp / params.max_hp)[:, None],
            state.pos / scale,
            jnp.where(count[other][:, None] > 0, (centroid[other] - state.pos) / scale, 0.0),
            (count[team] / self.agents_per_team)[:, None],
            (count[other] / self.agents_per_team)[:, None],
        ], axis=1)
        obs = jnp.concatenate([views.reshape(n, -1), features], axis=1)
        return jnp.where(state.alive[:, None], obs, 0.0).astype(jnp.float32)

    def alive_from_obs(self, obs: jax.Array) -> jax.Array:
        """``bool[num_agents]``: living agents, read from their observations (own health > 0)."""
        return obs[:, self.window * self.window * len(PLANES)] > 0

    def positions_from_obs(self, obs: jax.Array) -> jax.Array:
        """``int32[num_agents, 2]``: (row, col) read back from the observations' features
        (exact: stored as ``row / (size - 1)``); meaningless for dead agents."""
        f = self.window * self.window * len(PLANES)
        return jnp.round(obs[:, f + 1:f + 3] * (self.size - 1)).astype(jnp.int32)

    def neighbour_mean(self, values, obs=None):
        """Each agent's neighbours' mean of ``values`` (``neighbourhood``, see the class).

        ``"view"``: the living teammates inside the agent's view window (Chebyshev
        distance <= ``view_radius``), itself excluded; zeros when it sees none.
        ``"team"``: the living members of its team, itself included.
        """
        if self.neighbourhood == "view":
            if obs is None:
                raise ValueError("Battle.neighbour_mean with neighbourhood='view' needs the "
                                 "observations (positions)")
            team = jnp.asarray(self.team)
            alive = self.alive_from_obs(obs)
            pos = self.positions_from_obs(obs)
            dist = jnp.max(jnp.abs(pos[:, None, :] - pos[None, :, :]), axis=-1)
            near = ((dist <= self.view_radius) & (team[:, None] == team[None, :])
                    & alive[None, :] & ~jnp.eye(self.num_agents, dtype=bool))
            w = near.astype(values.dtype)
            return (w @ values) / jnp.maximum(jnp.sum(w, axis=1, keepdims=True), 1.0)
        team = jnp.asarray(self.team)
        alive = (jnp.ones((self.num_agents,), bool) if obs is None
                 else self.alive_from_obs(obs)).astype(values.dtype)
        means = []
        for t in range(2):
            w = alive * (team == t)
            means.append(jnp.sum(values * w[:, None], axis=0) / jnp.maximum(jnp.sum(w), 1.0))
        return jnp.stack(means)[team]

    def action_space(self, params=None):
        return spaces.Discrete(len(ACTION_NAMES))

    def observation_space(self, params=None):
        low = np.zeros((self.obs_size,), np.float32)
        low[-4:-2] = -1.0  # the centroid offset
        return spaces.Box(low, 1.0, (self.obs_size,), jnp.float32)

    # --- pictures --------------------------------------------------------------------
    def _unbatched(self, state: BattleState) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        pos, hp, alive = (np.asarray(x) for x in (state.pos, state.hp, state.alive))
        if pos.shape != (self.num_agents, 2):
            raise ValueError(f"render takes one unbatched state, got positions {pos.shape}")
        return pos, hp, alive

    def describe(self, state: BattleState, params: BattleParams | None = None) -> str:
        """One line for a picture's caption: the living agents of each team."""
        _, _, alive = self._unbatched(state)
        red = int(alive[: self.agents_per_team].sum())
        return f"red {red} alive, blue {int(alive.sum()) - red} alive"

    def render(self, state: BattleState, max_hp: float | None = None) -> str:
        """The grid as text: ``R`` red, ``B`` blue (``r``/``b`` below half health), ``.``."""
        pos, hp, alive = self._unbatched(state)
        full = BattleParams().max_hp if max_hp is None else max_hp
        board = [["."] * self.size for _ in range(self.size)]
        for i in np.nonzero(alive)[0]:
            ch = "RB"[self.team[i]]
            board[pos[i, 0]][pos[i, 1]] = ch if hp[i] >= full / 2 else ch.lower()
        return "\n".join("".join(row) for row in board)

    def render_image(self, state: BattleState, params: BattleParams | None = None,
                     cell: int = 16, max_hp: float | None = None) -> np.ndarray:
        """``uint8[size * cell, size * cell, 3]``: red and blue squares shaded by health
        (full colour at ``max_hp``, default the params')."""
        pos, hp, alive = self._unbatched(state)
        if max_hp is None:
            max_hp = (params if params is not None else BattleParams()).max_hp
        full = float(np.asarray(max_hp))
        img = np.full((self.size * cell, self.size * cell, 3), 245, np.uint8)
        img[::cell, :, :] = 225
        img[:, ::cell, :] = 225
        m = max(1, cell // 8)
        for i in np.nonzero(alive)[0]:
            frac = float(np.clip(hp[i] / full, 0.0, 1.0))
            colour = np.asarray(RED if self.team[i] == 0 else BLUE, np.float64)
            shade = (255 - (255 - colour) * (0.35 + 0.65 * frac)).astype(np.uint8)
            r, c = pos[i] * cell
            img[r + m:r + cell - m + 1, c + m:c + cell - m + 1] = shade
        return img
