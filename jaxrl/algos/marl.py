"""Many agents, one shared Q-network: mean-field, neighbourhood and independent Q-learning.

For multi-agent environments (``envs.multiagent``): every agent of a side shares one
Q-network, applied to all agents of all environment copies in one batched call.

* ``iql``: independent Q-learning, ``Q(o_j, a_j)``; target ``r + gamma max_b Q(o', b)``.
* ``mfq``: mean-field Q-learning (Yang et al., 2018, "Mean Field Multi-Agent
  Reinforcement Learning"), ``Q(o_j, abar_j, a_j)`` with ``abar_j`` the mean action of
  agent ``j``'s neighbours (``env.neighbour_mean``: the 8 lattice neighbours in
  ``Ising2D``; in ``Battle`` the living teammates inside the agent's view window, or
  the whole team with ``neighbourhood="team"``); target
  ``r + gamma * v_MF(o', abar')``, ``v_MF = sum_b pi(b | o', abar') Q(o', abar', b)``
  with the Boltzmann policy ``pi``.
* ``nq``: neighbourhood Q-learning (the book's chapter 9, 1-D Ising),
  ``Q(o_j, n_j, a_j)`` with ``n_j`` the joint action of the neighbours: the outer
  product of their ``K`` action distributions (``A**K`` numbers; needs the env's
  fixed ``neighbours`` table and ``A**K <= 64``); target as for ``mfq``.

**What the neighbours do.** Agents act at the same time, so an agent cannot see its
neighbours' actions when it chooses. Here the neighbours' actions are their policies'
probabilities (the mean action of Yang et al. is an average of one-hot actions; its
expectation is the average of the probabilities), found by ``mf_iterations`` rounds of
a fixed-point iteration from uniform probabilities: compute every agent's Boltzmann
policy given the current summaries, average (or multiply out) the neighbours'
policies, repeat. It needs only the current observations, so acting and learning use
the same input (``act`` is stateless, and ``jaxrl eval``/``play`` work unchanged), and
the target's ``abar'`` is computed the same way at ``o'``.

**Two teams.** On an env with ``num_teams == 2`` (``Battle-v0``) ``algorithm`` drives
team 0 (red) and ``opponent`` team 1 (blue): ``"iql"``, ``"mfq"`` (a learner of its
own, trained in the same program), ``"random"`` (uniform actions) or ``"self"``
(self-play: both sides act with one network, which learns from every soldier of both
colours; ``params["team1"]`` stays empty). Metrics then include ``win_rate`` (red's
wins over battles ended in the update), ``draw_rate`` and ``opponent_return``;
``battle_results`` plays evaluation battles between the two sides of one run, and
``head_to_head`` between the networks of two runs (for example an ``mfq`` and an
``iql`` trained each by self-play), in both colours.

One update: ``num_steps`` synchronous steps of ``num_envs`` copies (actions sampled
from ``softmax(Q / tau)``), then ``epochs`` full-batch gradient steps of the Huber TD
loss over every living agent's transition (no replay: many copies decorrelate the
data; targets use the parameters the data was collected with). A transition whose
agent died bootstraps nothing; a truncated episode bootstraps from
``info["final_observation"]``.

Metrics per update: ``env_steps`` (world steps, all copies), ``episode_return`` (the
mean per-agent return of side 0 over episodes that ended, NaN if none), ``episodes``,
``agent_steps``, ``loss``, and ``aligned_fraction`` (mean over the update's steps)
plus ``final_aligned_fraction`` (at the end of episodes) on Ising worlds.
"""

from __future__ import annotations

import types
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct

from jaxrl.algos import Algorithm
from jaxrl.core.agent import Agent, Metrics
from jaxrl.core.config import check_leaves
from jaxrl.core.config import static as _static
from jaxrl.core.presets import Preset
from jaxrl.envs import spaces
from jaxrl.envs.multiagent import is_multiagent

Array = jax.Array

__all__ = [
    "ALGORITHMS",
    "DEFAULT_ENV",
    "OPPONENTS",
    "PRESETS",
    "PRESETS_BY_ALGORITHM",
    "Config",
    "IQLConfig",
    "MFQConfig",
    "NQConfig",
    "QNetwork",
    "TrainState",
    "battle_results",
    "IQL",
    "MFQ",
    "NQ",
    "head_to_head",
    "make",
    "spins_after",
]

ALGORITHMS = ("mfq", "nq", "iql")
OPPONENTS = ("iql", "mfq", "random", "self")
MAX_JOINT = 64  # nq: largest joint-action summary (A ** K numbers)


# --------------------------------------------------------------------------------- config
@struct.dataclass
class Config:
    """Settings shared by ``mfq``, ``nq`` and ``iql`` (defaults: the 2-D Ising world).

    Step counts are world steps (one step moves every agent of one copy).
    """

    # --- static -------------------------------------------------------------------
    algorithm: str = _static("mfq")  # "mfq", "nq" or "iql" (team 0 on a two-team env)
    opponent: str = _static("iql")  # team 1 on a two-team env: "iql", "mfq", "random", "self"
    num_envs: int = _static(16)  # world copies stepped together
    num_steps: int = _static(10)  # steps per copy per update
    total_timesteps: int = _static(32_000)  # world steps in a run (all copies)
    hidden: tuple[int, ...] = _static((32,))  # Q-network hidden widths
    mf_iterations: int = _static(2)  # fixed-point rounds for the neighbours' actions
    epochs: int = _static(1)  # full-batch gradient steps per update
    # --- pytree leaves (sweepable) -------------------------------------------------
    lr: float = 1e-3  # Adam step size
    gamma: float = 0.9  # discount (the book's)
    tau: float = 0.5  # Boltzmann temperature (the book's)
    max_grad_norm: float = 10.0  # global gradient-norm clip

    @property
    def batch_size(self) -> int:
        """World steps per update, ``num_envs * num_steps``."""
        return self.num_envs * self.num_steps

    @property
    def num_updates(self) -> int:
        return self.total_timesteps // self.batch_size

    def validate(self) -> Config:
        if self.algorithm not in ALGORITHMS:
            raise ValueError(f"marl.Config.algorithm must be one of {', '.join(ALGORITHMS)}, "
                             f"got {self.algorithm!r}")
        if self.opponent not in OPPONENTS:
            raise ValueError(f"marl.Config.opponent must be one of {', '.join(OPPONENTS)}, "
                             f"got {self.opponent!r}")
        for name in ("num_envs", "num_steps", "total_timesteps", "epochs"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"marl.Config.{name} must be a positive integer, got {v!r}")
        if isinstance(self.mf_iterations, bool) or not isinstance(
                self.mf_iterations, (int, np.integer)) or self.mf_iterations < 0:
            raise ValueError(f"marl.Config.mf_iterations must be an integer >= 0, "
                             f"got {self.mf_iterations!r}")
        if not self.hidden or any(int(h) < 1 for h in self.hidden):
            raise ValueError(f"marl.Config.hidden must be positive widths, got {self.hidden!r}")
        if self.num_updates < 1:
            raise ValueError(f"marl.Config: total_timesteps={self.total_timesteps} is less than "
                             f"one update (num_envs * num_steps = {self.batch_size})")
        check_leaves("marl.Config", {
            "lr": (self.lr, lambda v: v > 0, "> 0"),
            "gamma": (self.gamma, lambda v: (v >= 0) & (v <= 1), "in [0, 1]"),
            "tau": (self.tau, lambda v: v > 0, "> 0"),
            "max_grad_norm": (self.max_grad_norm, lambda v: v > 0, "> 0"),
        })
        return self


@struct.dataclass
class MFQConfig(Config):
    algorithm: str = _static("mfq")


@struct.dataclass
class NQConfig(Config):
    """Neighbourhood Q-learning's defaults: the 1-D ring."""

    algorithm: str = _static("nq")
    total_timesteps: int = _static(48_000)


@struct.dataclass
class IQLConfig(Config):
    algorithm: str = _static("iql")


# --------------------------------------------------------------------------------- network
class QNetwork(nn.Module):
    """MLP ``(observation, neighbour summary) -> float32[num_actions]``, shared by a side."""

    hidden: tuple[int, ...]
    num_actions: int

    @nn.compact
    def __call__(self, obs: Array, summary: Array) -> Array:
        x = jnp.concatenate([obs.reshape(*obs.shape[:-1], -1), summary], axis=-1)
        for width in self.hidden:
            x = nn.relu(nn.Dense(width)(x))
        return nn.Dense(self.num_actions)(x)


@struct.dataclass
class TrainState:
    """Everything a run carries between updates.

    Attributes:
        params: ``{"team0": ..., "team1": ...}`` network parameters (one side on a
            lattice; ``team1`` is an empty dict for a non-learning opponent).
        opt_state: Adam states, keyed as ``params``.
        env_state: ``num_envs`` world states.
        obs: ``[num_envs, num_agents, *obs_shape]``.
        returns: ``float32[num_envs, 2]`` running per-agent return of each side.
        key: PRNG key, split on every use.
        env_steps: int32[] world steps taken (all copies).
    """

    params: Any
    opt_state: Any
    env_state: Any
    obs: Array
    returns: Array
    key: Array
    env_steps: Array


@struct.dataclass
class _Step:
    obs: Array  # [E, N, ...]
    summaries: tuple  # per side: [E, N_side, S] its agents' neighbour summaries
    action: Array  # int32[E, N]
    reward: Array  # float32[E, N]
    value_next: Array  # float32[E, N] bootstrap value at the final observation
    discount: Array  # float32[E, N] gamma * (agent alive after) * (not terminated)
    valid: Array  # bool[E, N] agent alive at the start of the step


# --------------------------------------------------------------------------------- make
def _side_kinds(config: Config, two_teams: bool) -> tuple[str, ...]:
    if not two_teams:
        return (config.algorithm,)
    return (config.algorithm,
            config.algorithm if config.opponent == "self" else config.opponent)


def make(config: Config, env: Any, env_params: Any = None) -> Agent:
    """An ``Agent`` training ``config.algorithm`` (and the opponent, on a two-team env).

    Raises:
        ValueError: not a multi-agent env with discrete actions and Box observations,
            ``nq`` without a small fixed neighbourhood, or a bad setting.
    """
    c = config.validate()
    if env_params is None:
        env_params = env.default_params
    if not is_multiagent(env):
        raise ValueError(f"{c.algorithm} trains multi-agent environments (Ising1D-v0, "
                         f"Ising2D-v0, Battle-v0); {getattr(env, 'name', env)} is not one")
    base = env.unwrapped
    act_space, obs_space = env.action_space(env_params), env.observation_space(env_params)
    if not isinstance(act_space, spaces.Discrete) or act_space.shape:
        raise ValueError(f"{c.algorithm} needs one Discrete action per agent, got {act_space!r}")
    if not isinstance(obs_space, spaces.Box):
        raise ValueError(  # noqa: TRY004 (a bad environment for this algorithm: ValueError)
            f"{c.algorithm} needs a Box observation per agent, got {obs_space!r}")
    two_teams = getattr(base, "num_teams", 1) == 2
    kinds = _side_kinds(c, two_teams)
    n, num_actions = base.num_agents, act_space.n
    team = jnp.asarray(base.team if two_teams else np.zeros(n, np.int32))
    if "nq" in kinds:
        if base.neighbours is None:
            raise ValueError(f"nq needs a fixed neighbour table; {env.name} has none (use mfq)")
        k = base.neighbours.shape[1]
        if num_actions ** k > MAX_JOINT:
            raise ValueError(f"nq on {env.name}: the neighbours' joint action has "
                             f"{num_actions}**{k} = {num_actions ** k} values, more than "
                             f"{MAX_JOINT}; use mfq (the mean action) instead")
    if "mfq" in kinds:
        try:
            jax.eval_shape(base.neighbour_mean, jnp.zeros((n, num_actions)),
                           jnp.zeros((n, *obs_space.shape)))
        except NotImplementedError:
            raise ValueError(f"mfq needs neighbourhoods; {env.name} defines none") from None

    def summary_width(kind: str) -> int:
        if kind == "mfq":
            return num_actions
        if kind == "nq":
            return num_actions ** base.neighbours.shape[1]
        return 0

    widths = tuple(summary_width(k) for k in kinds)
    net = QNetwork(tuple(int(h) for h in c.hidden), num_actions)
    learns = tuple(k != "random" for k in kinds)
    # Self-play: both sides act with, and train, team 0's network (``params["team1"]`` is
    # an empty dict); ``owner[s]`` is the side whose parameters side ``s`` uses.
    shared = two_teams and c.opponent == "self"
    owner = (0, 0) if shared else tuple(range(len(kinds)))
    optimizer = optax.chain(optax.clip_by_global_norm(c.max_grad_norm), optax.adam(c.lr))
    side_names = ("team0", "team1")[:len(kinds)]
    on_side = [team == s for s in range(len(kinds))]  # bool[N] per side
    team_np = np.asarray(base.team if two_teams else np.zeros(n, np.int32))
    members = [np.nonzero(team_np == s)[0] for s in range(len(kinds))]  # static

    def summarise(kind: str, probs: Array, obs: Array) -> Array:
        """[N, S] summary of the neighbours' action probabilities ``probs`` [N, A]."""
        if kind == "mfq":
            return base.neighbour_mean(probs, obs)
        if kind == "nq":
            nb = base.neighbour_values(probs)  # [N, K, A]
            joint = nb[:, 0]
            for i in range(1, nb.shape[1]):
                joint = (joint[:, :, None] * nb[:, i][:, None, :]).reshape(n, -1)
            return joint
        return jnp.zeros((n, 0), jnp.float32)

    def world_q(params: Any, obs: Array) -> tuple[Array, tuple[Array, ...]]:
        """One world: ``(q [N, A], summaries per side [N_side, S])`` after the
        fixed-point rounds. Each side's network sees only its own agents; a side
        without a summary (iql, random) is computed once."""
        probs = jnp.full((n, num_actions), 1.0 / num_actions, jnp.float32)
        rounds = c.mf_iterations if any(w > 0 for w in widths) else 0
        q = jnp.zeros((n, num_actions), jnp.float32)
        sums: list[Array] = [jnp.zeros((len(m), w), jnp.float32) for m, w in zip(members, widths)]
        for r in range(rounds + 1):
            for s in range(len(kinds)):
                if not learns[s] or (r > 0 and widths[s] == 0):
                    continue
                idx = members[s]
                if widths[s]:
                    sums[s] = jax.lax.stop_gradient(summarise(kinds[s], probs, obs)[idx])
                q = q.at[idx].set(net.apply(params[side_names[owner[s]]], obs[idx], sums[s]))
            if r < rounds:
                probs = jax.nn.softmax(q / c.tau, axis=-1)
        return q, tuple(sums)

    def state_value(q: Array) -> Array:
        """[N] bootstrap value per agent: Boltzmann expectation (mfq, nq) or max (iql)."""
        soft = jnp.sum(jax.nn.softmax(q / c.tau, axis=-1) * q, axis=-1)
        hard = jnp.max(q, axis=-1)
        v = jnp.zeros((n,), jnp.float32)
        for s, kind in enumerate(kinds):
            v = jnp.where(on_side[s], hard if kind == "iql" else soft, v)
        return v

    def choose(q: Array, key: Array, greedy: bool) -> Array:
        """int32[N]: Boltzmann samples (uniform for a random side), or argmax."""
        logits = q / c.tau
        for s, kind in enumerate(kinds):
            if kind == "random":
                logits = jnp.where(on_side[s][:, None], 0.0, logits)
        sampled = jax.random.categorical(key, logits, axis=-1).astype(jnp.int32)
        if not greedy:
            return sampled
        hard = jnp.argmax(q, axis=-1).astype(jnp.int32)
        for s, kind in enumerate(kinds):
            if kind == "random":
                hard = jnp.where(on_side[s], sampled, hard)
        return hard

    def alive_of(obs: Array) -> Array:
        if hasattr(base, "alive_from_obs"):
            return base.alive_from_obs(obs)
        return jnp.ones((n,), bool)

    num_updates = c.num_updates
    def probe_step(k: Array) -> Any:
        _, s = env.reset(k, env_params)
        return env.step(k, s, jnp.zeros((n,), jnp.int32), env_params)

    probe = jax.eval_shape(probe_step, jax.random.key(0))
    info_keys = tuple(k for k in ("aligned_fraction",) if k in probe[5])
    battle = "winner" in probe[5]

    def init(key: Array) -> TrainState:
        k_env, k_net, key = jax.random.split(key, 3)
        obs, env_state = jax.vmap(env.reset, in_axes=(0, None))(
            jax.random.split(k_env, c.num_envs), env_params)
        params, opt = {}, {}
        net_keys = jax.random.split(k_net, len(kinds))
        for s, _kind in enumerate(kinds):
            if learns[s] and owner[s] == s:
                p = net.init(net_keys[s], obs[0], jnp.zeros((n, widths[s])))
                params[side_names[s]], opt[side_names[s]] = p, optimizer.init(p)
            else:
                params[side_names[s]], opt[side_names[s]] = {}, {}
        return TrainState(params=params, opt_state=opt, env_state=env_state, obs=obs,
                          returns=jnp.zeros((c.num_envs, 2), jnp.float32), key=key,
                          env_steps=jnp.zeros((), jnp.int32))

    team_size = [jnp.maximum(jnp.sum(m), 1).astype(jnp.float32) for m in on_side]

    def collect(state: TrainState, _):
        key, k_act, k_step = jax.random.split(state.key, 3)
        q, sums = jax.vmap(world_q, in_axes=(None, 0))(state.params, state.obs)
        action = jax.vmap(choose, in_axes=(0, 0, None))(
            q, jax.random.split(k_act, c.num_envs), False)
        valid = jax.vmap(alive_of)(state.obs)
        obs, env_state, reward, term, trunc, info = jax.vmap(
            env.step, in_axes=(0, 0, 0, None))(jax.random.split(k_step, c.num_envs),
                                               state.env_state, action, env_params)
        final = info["final_observation"]
        q_next, _ = jax.vmap(world_q, in_axes=(None, 0))(state.params, final)
        v_next = jax.vmap(state_value)(q_next)
        alive_after = info.get("alive", jnp.ones_like(valid))
        discount = c.gamma * (alive_after & ~term[:, None]).astype(jnp.float32)
        per_side = jnp.stack([jnp.sum(jnp.where(m, reward, 0.0), axis=1) / sz
                              for m, sz in zip(on_side, team_size)]
                             + ([jnp.zeros((c.num_envs,))] if len(kinds) == 1 else []), axis=1)
        returns = state.returns + per_side
        done = term | trunc
        step = _Step(obs=state.obs, summaries=sums, action=action, reward=reward, value_next=jax.lax.stop_gradient(v_next),
                     discount=discount, valid=valid)
        stats = {"done": done, "returns": returns, "valid": valid}
        for k in info_keys:
            stats[k] = info[k]
        if battle:
            stats["winner"] = info["winner"]
        new = state.replace(key=key, env_state=env_state, obs=obs,
                            returns=jnp.where(done[:, None], 0.0, returns),
                            env_steps=state.env_steps + c.num_envs)
        return new, (step, stats)

    def side_loss(params: Any, batch: _Step, s: int) -> Array:
        """Huber TD loss of the network ``params`` over the living agents of every side
        it drives (side ``s``, and side 1 as well in self-play)."""
        total, count = 0.0, 0.0
        for t in (u for u in range(len(kinds)) if owner[u] == s):
            idx = members[t]
            q = net.apply(params, batch.obs[:, :, idx], batch.summaries[t])  # [T, E, N_t, A]
            q_a = jnp.take_along_axis(q, batch.action[:, :, idx, None], axis=-1)[..., 0]
            target = (batch.reward + batch.discount * batch.value_next)[:, :, idx]
            mask = batch.valid[:, :, idx].astype(jnp.float32)
            per = optax.huber_loss(q_a, jax.lax.stop_gradient(target))
            total, count = total + jnp.sum(per * mask), count + jnp.sum(mask)
        return total / jnp.maximum(count, 1.0)

    def learn(state: TrainState, batch: _Step) -> tuple[TrainState, list[Array]]:
        params, opt = dict(state.params), dict(state.opt_state)
        losses = []
        for s, _kind in enumerate(kinds):
            if not learns[s]:
                losses.append(jnp.float32(jnp.nan))
                continue
            if owner[s] != s:  # self-play: trained with side 0
                losses.append(losses[owner[s]])
                continue
            name = side_names[s]

            def epoch(carry, _, s=s):
                p, o = carry
                loss, grads = jax.value_and_grad(side_loss)(p, batch, s)
                updates, o = optimizer.update(grads, o, p)
                return (optax.apply_updates(p, updates), o), loss

            (params[name], opt[name]), loss = jax.lax.scan(
                epoch, (params[name], opt[name]), None, length=c.epochs)
            losses.append(loss[0])
        return state.replace(params=params, opt_state=opt), losses

    def update(state: TrainState) -> tuple[TrainState, Metrics]:
        state, (batch, stats) = jax.lax.scan(collect, state, None, length=c.num_steps)
        state, losses = learn(state, batch)
        done = stats["done"]  # [T, E]
        count = jnp.sum(done)
        denom = jnp.maximum(count, 1)

        def over_episodes(x: Array) -> Array:
            return jnp.where(count > 0, jnp.sum(jnp.where(done, x, 0.0)) / denom, jnp.nan)

        metrics = {
            "env_steps": state.env_steps,
            "episode_return": over_episodes(stats["returns"][..., 0]),
            "episodes": count.astype(jnp.int32),
            "agent_steps": jnp.sum(stats["valid"]).astype(jnp.int32),
            "loss": losses[0],
        }
        for k in info_keys:
            metrics[k] = jnp.mean(stats[k])
            metrics["final_" + k] = over_episodes(stats[k])
        if len(kinds) > 1:
            metrics["opponent_return"] = over_episodes(stats["returns"][..., 1])
            metrics["opponent_loss"] = losses[1]
        if battle:
            metrics["win_rate"] = over_episodes((stats["winner"] == 0).astype(jnp.float32))
            metrics["draw_rate"] = over_episodes((stats["winner"] == -1).astype(jnp.float32))
        return state, metrics

    def act(state: TrainState, obs: Array, key: Array, greedy: bool = True) -> Array:
        q, _ = world_q(state.params, obs)
        return choose(q, key, greedy)

    def values(state: TrainState, obs: Array) -> Array:
        """``float32[num_agents, num_actions]``: every agent's Q-values in one world."""
        return world_q(state.params, obs)[0]

    return Agent(init=init, update=update, num_updates=num_updates, act=act, config=c,
                 values=values)


# --------------------------------------------------------------------------------- analysis
def spins_after(agent: Agent, agent_state: Any, env: Any, env_params: Any, key: Array,
                steps: int, num_worlds: int = 1, greedy: bool = False) -> tuple[Array, Array]:
    """Start ``num_worlds`` fresh worlds and play ``steps`` steps of the learned policy.

    Returns ``(first, last)`` env states (leaves ``[num_worlds, ...]``): the random
    start and the configuration after ``steps`` synchronous moves (no auto-reset: the
    transition is stepped directly). Jittable; vmap over seeds' states.
    """
    k_reset, k_loop = jax.random.split(key)
    obs, state = jax.vmap(env.reset, in_axes=(0, None))(
        jax.random.split(k_reset, num_worlds), env_params)

    def body(carry, k):
        obs, s = carry
        k_act, k_step = jax.random.split(k)
        a = jax.vmap(agent.act, in_axes=(None, 0, 0, None))(
            agent_state, obs, jax.random.split(k_act, num_worlds), greedy)
        obs, s, *_ = jax.vmap(env.step_env, in_axes=(0, 0, 0, None))(
            jax.random.split(k_step, num_worlds), s, a, env_params)
        return (obs, s), None

    (_, last), _ = jax.lax.scan(body, (obs, state), jax.random.split(k_loop, steps))
    return state, last


def battle_results(agent: Agent, agent_state: Any, env: Any, env_params: Any, key: Array,
                   num_battles: int = 100, greedy: bool = False) -> dict[str, Array]:
    """Play ``num_battles`` fresh battles between the two trained sides (one seed).

    Returns ``{"red_wins", "blue_wins", "draws"}`` as float32 shares of the battles
    (red = team 0 = ``algorithm``, blue = team 1 = ``opponent``) and ``"length"``, the
    mean battle length. Jittable; vmap over seeds' states.
    """
    from jaxrl.core.episodes import evaluate

    base = env.unwrapped
    cap = int(env_params.max_steps_in_episode)
    # The win predicate sees the final (pre-reset) state; one run per predicate, on the
    # same key: the same battles.
    red = evaluate(agent, agent_state, env, env_params, key, num_battles, cap, greedy,
                   win_fn=lambda s, r, t: base.winner(s) == 0)
    blue = evaluate(agent, agent_state, env, env_params, key, num_battles, cap, greedy,
                    win_fn=lambda s, r, t: base.winner(s) == 1)
    red_wins = red.win_rate
    blue_wins = blue.win_rate
    return {"red_wins": red_wins, "blue_wins": blue_wins,
            "draws": 1.0 - red_wins - blue_wins, "length": red.mean_length}


def head_to_head(first: tuple[Config, Any], second: tuple[Config, Any], env: Any,
                 env_params: Any, key: Array, num_battles: int = 100,
                 greedy: bool = False) -> dict[str, Array]:
    """Battles between two trained networks, each playing red in half of them.

    ``first`` and ``second`` are ``(config, params)``: a run's settings and the
    parameters of the network it trained (``state.params["team0"]``; in self-play the
    one network of both colours). Both must share ``hidden``, ``tau`` and
    ``mf_iterations`` (the policy's shape and temperature). ``num_battles`` fresh
    battles with ``first`` red, then ``num_battles`` (other draws) with ``first`` blue;
    each battle runs until a team is wiped out or ``max_steps_in_episode``, and
    ``env.winner`` of that last state decides it (more living soldiers, then more
    health; a tie is a draw).

    Returns:
        ``{"wins", "draws", "losses", "length", "killed", "lost"}``, each
        ``float32[2]`` from ``first``'s point of view, index 0 with ``first`` red and 1
        with it blue: shares of the battles, mean battle length, and mean soldiers of
        the other side killed / of its own lost per battle. Jittable; vmap over seeds'
        parameters.

    Raises:
        ValueError: not a two-team env, or the two configs differ in a policy setting.
    """
    (ca, pa), (cb, pb) = first, second
    base = env.unwrapped
    if getattr(base, "num_teams", 1) != 2 or not hasattr(base, "winner"):
        raise ValueError(f"head_to_head needs a two-team battle env, got {env.name}")
    for name in ("hidden", "tau", "mf_iterations"):
        if getattr(ca, name) != getattr(cb, name):
            raise ValueError(f"head_to_head: the two configs differ in {name} "
                             f"({getattr(ca, name)!r} vs {getattr(cb, name)!r})")
    if env_params is None:
        env_params = env.default_params
    cap = int(env_params.max_steps_in_episode)
    team = np.asarray(base.team)

    def battles(red, blue, key):
        (c_red, p_red), (c_blue, p_blue) = red, blue
        cfg = Config(algorithm=c_red.algorithm, opponent=c_blue.algorithm,
                     num_envs=1, num_steps=1, total_timesteps=1, hidden=c_red.hidden,
                     mf_iterations=c_red.mf_iterations, tau=c_red.tau)
        agent = make(cfg, env, env_params)
        holder = types.SimpleNamespace(params={"team0": p_red, "team1": p_blue})
        k_reset, k_loop = jax.random.split(key)
        obs, state = jax.vmap(base.reset_env, in_axes=(0, None))(
            jax.random.split(k_reset, num_battles), env_params)
        start = state.alive

        def body(carry, k):
            obs, state, done, winner, length = carry
            k_act, k_step = jax.random.split(k)
            action = jax.vmap(agent.act, in_axes=(None, 0, 0, None))(
                holder, obs, jax.random.split(k_act, num_battles), greedy)
            obs, state, _, term, trunc, info = jax.vmap(base.step_env, in_axes=(0, 0, 0, None))(
                jax.random.split(k_step, num_battles), state, action, env_params)
            ends = ~done & (term | trunc)
            winner = jnp.where(ends, info["winner"], winner)
            return (obs, state, done | ends, winner, length + ~done), state.alive

        init = (obs, state, jnp.zeros((num_battles,), bool),
                jnp.full((num_battles,), -1, jnp.int32), jnp.zeros((num_battles,), jnp.int32))
        (_, _, _, winner, length), alive = jax.lax.scan(
            body, init, jax.random.split(k_loop, cap))
        end = alive[-1]  # a battle's soldiers stop dying once a side is wiped out
        lost = [jnp.mean(jnp.sum(start & ~end & (team == t), axis=1)) for t in range(2)]
        return winner, jnp.mean(length.astype(jnp.float32)), lost

    k_red, k_blue = jax.random.split(key)
    w0, len0, lost0 = battles((ca, pa), (cb, pb), k_red)
    w1, len1, lost1 = battles((cb, pb), (ca, pa), k_blue)
    mine = (0, 1)
    out = {"wins": [], "draws": [], "losses": []}
    for colour, w in zip(mine, (w0, w1)):
        out["wins"].append(jnp.mean(w == colour))
        out["draws"].append(jnp.mean(w == -1))
        out["losses"].append(jnp.mean(w == 1 - colour))
    out = {k: jnp.stack(v).astype(jnp.float32) for k, v in out.items()}
    out["length"] = jnp.stack([len0, len1])
    out["killed"] = jnp.stack([lost0[1], lost1[0]]).astype(jnp.float32)
    out["lost"] = jnp.stack([lost0[0], lost1[1]]).astype(jnp.float32)
    return out


# --------------------------------------------------------------------------------- registry
_CONFIGS = {"mfq": MFQConfig, "nq": NQConfig, "iql": IQLConfig}
_DEFAULT_ENVS = {"mfq": "Ising2D-v0", "nq": "Ising1D-v0", "iql": "Ising2D-v0"}

#: The environment a run trains on when none is named.
DEFAULT_ENV: str = "Ising2D-v0"

PRESETS_BY_ALGORITHM: dict[str, dict[str, Preset]] = {
    "mfq": {
        "ising2d": Preset(MFQConfig(), env="Ising2D-v0",
                          description="the book's 10x10 torus: tau 0.5, gamma 0.9"),
        "battle": Preset(
            MFQConfig(opponent="iql", num_envs=16, num_steps=16, total_timesteps=400_000,
                      hidden=(64, 64), mf_iterations=1, lr=5e-4, gamma=0.95, tau=0.1),
            env="Battle-v0", env_options={"neighbourhood": "view"},
            description="red mean-field Q (neighbours in view) trained against blue "
                        "independent Q in one program (co-trained: who wins swings with "
                        "training length; to compare the two, train each with battle-self "
                        "and play marl.head_to_head)"),
        "battle-self": Preset(
            MFQConfig(opponent="self", num_envs=16, num_steps=16, total_timesteps=150_000,
                      hidden=(64, 64), mf_iterations=1, lr=5e-4, gamma=0.95, tau=0.1),
            env="Battle-v0", env_options={"neighbourhood": "view"},
            description="mean-field Q by self-play (one network for both colours), for "
                        "marl.head_to_head against iql's battle-self"),
    },
    "nq": {
        "ising1d": Preset(NQConfig(), env="Ising1D-v0",
                          description="the book's 20-spin ring: tau 0.5, gamma 0.9"),
    },
    "iql": {
        "ising2d": Preset(IQLConfig(), env="Ising2D-v0", description="the baseline on the torus"),
        "battle": Preset(
            IQLConfig(opponent="iql", num_envs=16, num_steps=16, total_timesteps=400_000,
                      hidden=(64, 64), mf_iterations=1, lr=5e-4, gamma=0.95, tau=0.1),
            env="Battle-v0", env_options={"neighbourhood": "view"},
            description="independent Q on both sides (the control)"),
        "battle-self": Preset(
            IQLConfig(opponent="self", num_envs=16, num_steps=16, total_timesteps=150_000,
                      hidden=(64, 64), mf_iterations=1, lr=5e-4, gamma=0.95, tau=0.1),
            env="Battle-v0", env_options={"neighbourhood": "view"},
            description="independent Q by self-play (one network for both colours)"),
    },
}

PRESETS: dict[str, Preset] = PRESETS_BY_ALGORITHM["mfq"]


#: The registry's records: one ``make`` whose config's ``algorithm`` field picks the
#: learner.
MFQ = Algorithm(
    name="mfq", config=MFQConfig, make=make, presets=PRESETS_BY_ALGORITHM["mfq"],
    default_env=_DEFAULT_ENVS["mfq"],
    summary="mean-field Q-learning: each agent's Q sees the mean action of its neighbours",
    supports=frozenset({"discrete", "multi_agent"}),
)
NQ = Algorithm(
    name="nq", config=NQConfig, make=make, presets=PRESETS_BY_ALGORITHM["nq"],
    default_env=_DEFAULT_ENVS["nq"],
    summary="neighbourhood Q-learning: each agent's Q sees its neighbours' actions",
    supports=frozenset({"discrete", "multi_agent"}),
)
IQL = Algorithm(
    name="iql", config=IQLConfig, make=make, presets=PRESETS_BY_ALGORITHM["iql"],
    default_env=_DEFAULT_ENVS["iql"],
    summary="independent Q-learning: one shared Q-network, every agent on its own",
    supports=frozenset({"discrete", "multi_agent"}),
)
