"""Episodes: the one episode loop of the project, and what is built on it.

``evaluate`` runs ``num_episodes`` episodes side by side inside one compiled program,
acting through ``agent.act`` (greedy by default), and stops each episode at its first
termination, truncation or after ``max_steps`` steps. Every other episode runner is a
thin use of it:

* ``jaxrl.runs.evaluation.evaluate_seeds``: every seed of a trained run on the same
  episodes (``Result.evaluate`` and ``jaxrl eval``), with its table.
* ``record=True`` keeps each step's state, observation, action, reward and flags
  (``Trajectory``): ``jaxrl.output.play`` draws one episode from it, ``replay_text`` writes it
  down move by move.
* ``start=(obs, state)``: episodes begin from a given state instead of a reset. The
  tabular helpers play from chosen start cells with it, and bandit runs are evaluated
  on the problem they trained on (``training_env_state``): a bandit's arms are drawn at
  reset, so a fresh reset would measure an agent on arms it never saw.

It is pure, so it vmaps over seeds:
``jax.vmap(lambda s: evaluate(agent, s, env, params, key, 1000))`` scores eight trained
seeds on the same 1000 boards.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxrl.core.agent import Agent
from jaxrl.core.config import is_traced
from jaxrl.envs.core import Environment

Array = jax.Array

__all__ = [
    "DEFAULT_CAP", "Episode", "EvalResult", "START_MODES", "Trajectory", "episode_cap",
    "epsilon_agent", "evaluate", "observe", "positive_termination", "record_episode",
    "replay_text", "resolve_start", "task_just_reset", "trains_on_one_task",
    "training_env_state",
]

#: Episode cap when neither the caller nor the env's params give one.
DEFAULT_CAP = 10_000


@struct.dataclass
class Trajectory:
    """Every step of the episodes of a recorded ``evaluate`` (``record=True``).

    Axes: episodes first, then time (more axes in front if vmapped). Step ``t`` goes
    from ``states[:, t]`` to ``states[:, t + 1]`` by ``actions[:, t]``, paying
    ``rewards[:, t]``. Entries past an episode's ``length`` are filler (zero rewards,
    false flags, repeated states).

    Attributes:
        states: env states, leaves ``[N, T + 1, ...]``; ``states[:, 0]`` the starts.
        observations: ``[N, T + 1, ...]``, the observation of each state.
        actions: ``[N, T, ...]`` as the env saw them (after ``clip_action``).
        rewards: ``float32[N, T]``.
        terminated: ``bool[N, T]``, the step ended the episode by termination.
        truncated: ``bool[N, T]``, the env truncated the episode on this step.
    """

    states: Any
    observations: Any
    actions: Any
    rewards: Array
    terminated: Array
    truncated: Array


@struct.dataclass
class EvalResult:
    """Per-episode outcomes of ``evaluate`` (leading axis: episodes; more in front if vmapped).

    Attributes:
        returns: float32[N] undiscounted episode returns.
        lengths: int32[N] steps taken.
        terminated: bool[N] the episode ended by termination (not by a time limit
            or the step cap).
        wins: bool[N] the win predicate held at the episode's end.
        initial_state: the environment states the episodes started from (leaves
            ``[N, ...]``), e.g. for ``Gridworld.solvable``.
        trajectory: every step (``Trajectory``) when ``record=True``, else None.
    """

    returns: Array
    lengths: Array
    terminated: Array
    wins: Array
    initial_state: Any
    trajectory: Trajectory | None = None

    @property
    def mean_return(self) -> Array:
        """float32[...] mean return over the episodes axis."""
        return jnp.mean(self.returns, axis=-1)

    @property
    def win_rate(self) -> Array:
        """float32[...] fraction of episodes won."""
        return jnp.mean(self.wins.astype(jnp.float32), axis=-1)

    @property
    def mean_length(self) -> Array:
        """float32[...] mean episode length."""
        return jnp.mean(self.lengths.astype(jnp.float32), axis=-1)

    def __repr__(self) -> str:
        """One line: how many episodes, the mean return ± its spread over seeds (over
        episodes for one seed), the mean length. The arrays themselves stay in the fields,
        and ``win_rate`` too: left out here, since a "win" (termination on a positive
        reward) is the goal reached on Gridworld or DoorKey but the pole falling on
        CartPole, whose every step pays 1."""
        try:
            returns = np.asarray(self.returns, np.float64)
            lengths = np.asarray(self.lengths, np.float64)
        except Exception:  # noqa: BLE001 - traced inside jit/vmap: no values to show
            return f"EvalResult(returns {getattr(self.returns, 'shape', '?')}, traced)"
        if returns.size == 0:
            return f"EvalResult(no episodes, shape {returns.shape})"
        lead = returns.shape[:-1]
        count = (" x ".join(str(d) for d in lead) + " seeds x " if lead else "") + \
            f"{returns.shape[-1]} episodes"
        per = returns.reshape(-1, returns.shape[-1]).mean(axis=-1)
        spread, over = (per.std(), "over seeds") if per.size > 1 else (returns.std(),
                                                                      "over episodes")
        text = f"EvalResult({count}: return {returns.mean():.4g} ± {spread:.3g} {over}"
        return text + f", mean length {lengths.mean():.4g})"


def positive_termination(state: Any, reward: Array, terminated: Array) -> Array:
    """The default win predicate: the episode ended by termination with reward > 0."""
    return terminated & (reward > 0)


def epsilon_agent(agent: Agent, epsilon: float) -> Agent:
    """``agent`` acting epsilon-greedily by its ``values``, whatever ``greedy`` says: with
    probability ``epsilon`` a uniformly random action, else the highest-valued one (the
    Atari DQN evaluation's policy, epsilon 0.05; a memoryless greedy policy can loop
    forever on a state it values wrongly, a small epsilon leaves such loops). For
    ``evaluate``; report it labelled as epsilon-greedy, beside the greedy numbers.

    Raises:
        ValueError: ``agent`` has no per-action ``values``, or ``epsilon`` is not in [0, 1].
    """
    if agent.values is None:
        raise ValueError("epsilon_agent needs an agent with per-action values (dqn and its "
                         "views); this one has none")
    if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float)) or not (
            0.0 <= epsilon <= 1.0):
        raise ValueError(f"epsilon_agent needs epsilon in [0, 1], got {epsilon!r}")
    values = agent.values

    def act(state: Any, obs: Any, key: Array, greedy: bool = True) -> Array:
        q = values(state, obs)
        k_coin, k_action = jax.random.split(key)
        random = jax.random.randint(k_action, (), 0, q.shape[-1], jnp.int32)
        return jnp.where(jax.random.uniform(k_coin) < epsilon, random,
                         jnp.argmax(q).astype(jnp.int32))

    return dataclasses.replace(agent, act=act)


def _count(name: str, value: Any) -> int:
    """``value`` as a positive Python int, or ``ValueError`` naming ``name``."""
    whole = isinstance(value, (int, np.integer)) or (
        isinstance(value, float) and value.is_integer())
    if isinstance(value, bool) or not whole or value < 1:
        raise ValueError(f"evaluate needs {name} >= 1 (an integer), got {value!r}")
    return int(value)


def episode_cap(env_params: Any, max_steps: int | None = None) -> Any:
    """Steps after which ``evaluate`` stops an episode.

    ``max_steps`` when given, else the params' ``max_steps_in_episode`` (a Python int
    when the params are concrete; traced inside a program that traces them), else
    ``DEFAULT_CAP``.
    """
    if max_steps is not None:
        return _count("max_steps", max_steps)
    cap = getattr(env_params, "max_steps_in_episode", None)
    if cap is None:
        return DEFAULT_CAP
    if is_traced(cap):
        return cap
    return int(np.asarray(cap))


@struct.dataclass
class _Loop:
    obs: Any
    state: Any
    key: Array
    step: Array  # int32[] loop counter
    active: Array  # bool[N] episode still running
    returns: Array
    lengths: Array
    terminated: Array
    wins: Array
    trajectory: Trajectory | None


def evaluate(
    agent: Agent,
    agent_state: Any,
    env: Environment,
    env_params: Any,
    key: Array,
    num_episodes: int,
    max_steps: int | None = None,
    greedy: bool = True,
    win_fn: Callable[[Any, Array, Array], Array] | None = None,
    *,
    start: tuple[Any, Any] | None = None,
    record: bool = False,
) -> EvalResult:
    """Roll out ``num_episodes`` episodes with ``agent.act``.

    Each episode runs until the env terminates or truncates it, or until it has
    taken ``max_steps`` steps (the evaluation's own cap, e.g. the book's 15 moves on
    Gridworld). Episodes run side by side in one ``while_loop``; finished ones stay
    frozen until all are done. Keys: ``key`` is split once for the resets and once
    per step into action and transition keys, one per episode.

    Args:
        agent: the ``Agent`` (only ``act`` is used).
        agent_state: its training state (unbatched; vmap this function for seeds).
        env: a single (not vectorised) environment whose observations the agent takes.
        env_params: its params.
        key: PRNG key.
        num_episodes: ``N`` (static).
        max_steps: step cap per episode, >= 1 (default ``episode_cap``: the params'
            ``max_steps_in_episode``, else ``DEFAULT_CAP``).
        greedy: act greedily (static); else the agent's exploration policy.
        win_fn: ``(final_state, final_reward, terminated) -> bool[]`` on one episode;
            default: ended by termination with a positive final reward.
        start: ``(obs, state)``, one unbatched observation and env state every episode
            starts from instead of a reset (vmap over it for several starts).
        record: keep every step in ``EvalResult.trajectory`` (static). The cap must
            then be a Python int: pass ``max_steps`` or concrete params.

    Returns:
        ``EvalResult``.
    """
    n = _count("num_episodes", num_episodes)
    cap = episode_cap(env_params, max_steps)
    if record and not isinstance(cap, int):
        raise ValueError("evaluate(record=True) needs a static episode cap: pass max_steps")
    win_fn = positive_termination if win_fn is None else win_fn
    k_reset, k_loop = jax.random.split(key)
    if start is None:
        obs, state = jax.vmap(env.reset, in_axes=(0, None))(
            jax.random.split(k_reset, n), env_params)
    else:
        obs, state = jax.tree.map(
            lambda x: jnp.broadcast_to(jnp.asarray(x), (n, *jnp.shape(x))), tuple(start))
    act = jax.vmap(agent.act, in_axes=(None, 0, 0, None))

    def step_one(k, s, a):
        a = env.clip_action(a, env_params)
        return (a, *env.step_env(k, s, a, env_params))

    trajectory = None
    if record:
        def buffer(x, length):  # [N, ...] -> [N, length, ...], filled with x
            return jnp.repeat(x[:, None], length, axis=1)

        action_shape = jax.eval_shape(
            lambda o, k: env.clip_action(act(agent_state, o, k, greedy), env_params),
            obs, jax.random.split(k_loop, n))
        trajectory = Trajectory(
            states=jax.tree.map(lambda x: buffer(x, cap + 1), state),
            observations=jax.tree.map(lambda x: buffer(x, cap + 1), obs),
            actions=jax.tree.map(lambda s: jnp.zeros((s.shape[0], cap, *s.shape[1:]), s.dtype),
                                 action_shape),
            rewards=jnp.zeros((n, cap), jnp.float32),
            terminated=jnp.zeros((n, cap), bool),
            truncated=jnp.zeros((n, cap), bool),
        )

    def body(r: _Loop) -> _Loop:
        key, k_act, k_step = jax.random.split(r.key, 3)
        action = act(agent_state, r.obs, jax.random.split(k_act, n), greedy)
        action, obs, state, reward, term, trunc, _ = jax.vmap(step_one)(
            jax.random.split(k_step, n), r.state, action
        )
        # Multi-agent envs return one reward (and flag) per agent: the episode's reward
        # is their sum, and it ends when any agent's flag says so.
        reward = jnp.sum(jnp.reshape(reward, (n, -1)), axis=-1).astype(jnp.float32)
        term = jnp.any(jnp.reshape(jnp.asarray(term, bool), (n, -1)), axis=-1)
        trunc = jnp.any(jnp.reshape(jnp.asarray(trunc, bool), (n, -1)), axis=-1)
        length = r.lengths + r.active.astype(jnp.int32)
        done_now = r.active & (term | trunc | (length >= cap))
        new_obs = jax.tree.map(lambda new, old: _select(r.active, new, old), obs, r.obs)
        new_state = jax.tree.map(lambda new, old: _select(r.active, new, old), state, r.state)
        reward = jnp.where(r.active, reward, 0.0)
        traj = r.trajectory
        if traj is not None:
            t = r.step

            def put(buf, x, at):
                return jax.lax.dynamic_update_index_in_dim(buf, x, at, axis=1)

            traj = Trajectory(
                states=jax.tree.map(lambda b, x: put(b, x, t + 1), traj.states, new_state),
                observations=jax.tree.map(lambda b, x: put(b, x, t + 1), traj.observations,
                                          new_obs),
                actions=jax.tree.map(lambda b, x: put(b, x, t), traj.actions, action),
                rewards=put(traj.rewards, reward, t),
                terminated=put(traj.terminated, r.active & term, t),
                truncated=put(traj.truncated, r.active & trunc, t),
            )
        return _Loop(
            obs=new_obs,
            state=new_state,
            key=key,
            step=r.step + 1,
            active=r.active & ~done_now,
            returns=r.returns + reward,
            lengths=length,
            terminated=r.terminated | (done_now & term),
            wins=r.wins | (done_now & jax.vmap(win_fn)(state, reward, term)),
            trajectory=traj,
        )

    init = _Loop(
        obs=obs, state=state, key=k_loop, step=jnp.zeros((), jnp.int32),
        active=jnp.ones((n,), bool), returns=jnp.zeros((n,), jnp.float32),
        lengths=jnp.zeros((n,), jnp.int32), terminated=jnp.zeros((n,), bool),
        wins=jnp.zeros((n,), bool), trajectory=trajectory,
    )
    final = jax.lax.while_loop(lambda r: jnp.any(r.active) & (r.step < cap), body, init)
    return EvalResult(
        returns=final.returns, lengths=final.lengths, terminated=final.terminated,
        wins=final.wins, initial_state=state, trajectory=final.trajectory,
    )


def _select(mask: Array, new: Array, old: Array) -> Array:
    """``where(mask, new, old)`` with ``mask: bool[N]`` broadcast over trailing axes."""
    return jnp.where(mask.reshape(mask.shape + (1,) * (new.ndim - 1)), new, old)


# --------------------------------------------------------------------------------- starts
def observe(env: Environment, state: Any, env_params: Any) -> Any:
    """The observation of env state ``state``, for starting an episode from it.

    Uses the env's ``observe(state)`` (jaxrl's environments, looked up through
    wrappers) or a gymnax env's ``get_obs``.

    Raises:
        ValueError: the env offers neither.
    """
    fn = getattr(env, "observe", None)
    if callable(fn):
        return fn(state)
    inner = getattr(getattr(env, "unwrapped", env), "_env", None)  # envs.registry.GymnaxEnv
    get_obs = getattr(inner, "get_obs", None)
    if callable(get_obs):
        return get_obs(state, params=env_params, key=jax.random.key(0))
    raise ValueError(f"{getattr(env, 'name', env)} cannot observe a given state "
                     "(it has no observe(state)): start it from a reset")


def training_env_state(agent_state: Any, env: Environment, env_params: Any,
                       copy: int = 0, reset_clock: bool = True) -> Any:
    """The state of one env copy inside a training state, or None if there is none.

    Found by type: the first subtree that is an instance of the state class ``env``
    resets to. When its leaves carry an env-copies axis, copy ``copy`` is taken. Its
    episode clock (``time``) is set to 0 (unless ``reset_clock=False``), so an episode
    started from it runs its full length on the same task. Works on concrete and on
    traced states (inside ``vmap``).
    """
    proto = jax.eval_shape(lambda k: env.reset(k, env_params)[1], jax.random.key(0))
    cls = type(proto)
    found: list[Any] = []

    def visit(x: Any) -> Any:
        if isinstance(x, cls) and not found:
            found.append(x)
        return x

    jax.tree.map(visit, agent_state, is_leaf=lambda x: isinstance(x, cls))
    if not found:
        return None
    sub = found[0]
    shapes = [leaf.shape for leaf in jax.tree.leaves(proto)]
    if any(jnp.ndim(a) == len(s) + 1 for a, s in zip(jax.tree.leaves(sub), shapes)):
        sub = jax.tree.map(lambda a: jnp.asarray(a)[copy], sub)
    sub = jax.tree.map(jnp.asarray, sub)
    if reset_clock and hasattr(sub, "time") and hasattr(sub, "replace"):
        sub = sub.replace(time=jnp.zeros_like(sub.time))
    return sub


def trains_on_one_task(env: Environment) -> bool:
    """Does ``env`` draw its task at reset and keep it for a whole training run?

    Then an agent learns about the task of its own training episode (a bandit's arms),
    and evaluating it on freshly reset tasks measures nothing. True for ``Bandit`` and
    ``ContextualBandit``; any env can say so with an attribute
    ``evaluate_on_training_state = True`` (or False to opt out).
    """
    base = getattr(env, "unwrapped", env)
    hook = getattr(base, "evaluate_on_training_state", None)
    if hook is not None:
        return bool(hook)
    from jaxrl.envs.bandits import Bandit, ContextualBandit

    return isinstance(base, (Bandit, ContextualBandit))


START_MODES = ("auto", "fresh", "trained")


def resolve_start(env: Environment, env_params: Any, agent_state: Any,
                  start: str = "auto") -> str:
    """Where ``evaluate_seeds`` starts episodes: ``"fresh"`` (resets) or ``"trained"``.

    ``"auto"``: the task each seed trained on when ``trains_on_one_task(env)`` and
    the training state holds it (``training_env_state``), else fresh resets.
    ``"trained"`` insists (``ValueError`` when the training state holds no env state).

    Args:
        agent_state: a training state (one seed's or seed-batched: only its
            structure is looked at).
    """
    if start not in START_MODES:
        raise ValueError(f"start must be one of {', '.join(START_MODES)}, got {start!r}")
    if start == "fresh":
        return "fresh"
    has = jax.eval_shape(lambda s: training_env_state(s, env, env_params), agent_state) is not None
    if start == "trained" and not has:
        raise ValueError("start='trained': the training state holds no state of "
                         f"{getattr(env, 'name', env)}")
    return "trained" if has and (start == "trained" or trains_on_one_task(env)) else "fresh"


def task_just_reset(agent_state: Any, env: Environment, env_params: Any) -> bool:
    """Has one seed's training task (copy 0) not been acted on yet (its clock is 0)?

    True when the run ended exactly as an episode did: auto-reset drew a task the
    agent never saw, so an evaluation on it shows nothing of what it learned.
    """
    found = training_env_state(agent_state, env, env_params, reset_clock=False)
    return found is not None and hasattr(found, "time") and bool(np.all(found.time == 0))


@dataclasses.dataclass
class Episode:
    """One recorded episode on the host (from ``evaluate(..., record=True)``).

    ``states[t]`` is the env state after ``t`` steps (``states[0]`` the start) and
    ``observations[t]`` its observation; ``actions[t]`` / ``rewards[t]`` are the step
    from ``states[t]`` to ``states[t + 1]``.
    """

    states: list[Any]
    observations: list[np.ndarray]
    actions: np.ndarray
    rewards: np.ndarray
    terminated: bool
    truncated: bool

    @property
    def length(self) -> int:
        return len(self.actions)

    @property
    def total_return(self) -> float:
        return float(np.sum(self.rewards))

    @classmethod
    def from_result(cls, result: EvalResult, index: int = 0) -> "Episode":
        """Episode ``index`` of a recorded, unbatched ``EvalResult``."""
        traj = result.trajectory
        if traj is None:
            raise ValueError("the evaluation was not recorded: pass record=True")
        traj = jax.device_get(traj)
        n = int(np.asarray(result.lengths)[index])
        take = lambda tree, t: jax.tree.map(lambda x: np.asarray(x)[index, t], tree)  # noqa: E731
        term = bool(n and np.asarray(traj.terminated)[index, n - 1])
        return cls(
            states=[take(traj.states, t) for t in range(n + 1)],
            observations=[np.asarray(take(traj.observations, t)) for t in range(n + 1)],
            actions=np.asarray(traj.actions)[index, :n],
            rewards=np.asarray(traj.rewards, np.float64)[index, :n],
            terminated=term,
            truncated=bool(n and not term and np.asarray(traj.truncated)[index, n - 1]),
        )


def record_episode(agent: Agent, agent_state: Any, env: Environment, env_params: Any,
                   key: Array, *, max_steps: int | None = None, greedy: bool = True,
                   start: tuple[Any, Any] | None = None) -> Episode:
    """One episode, every step kept: ``evaluate(..., num_episodes=1, record=True)`` on the host.

    ``agent_state`` is one seed's state (device or NumPy arrays); it enters the
    compiled program as an argument, never as a constant.
    """
    cap = episode_cap(env_params, max_steps)

    def run(s: Any, begin: Any, k: Array) -> EvalResult:
        return evaluate(agent, s, env, env_params, k, 1, cap, greedy, start=begin, record=True)

    return Episode.from_result(jax.jit(run)(agent_state, start, key))


def _render(env: Environment, state: Any, obs: Any) -> str:
    """The env's ``render(state)``, looking through wrappers that wrap the state."""
    e, s = env, state
    while True:
        render = getattr(e, "render", None)
        if render is not None:
            try:
                return str(render(s))
            except (AttributeError, TypeError, ValueError):
                pass
        inner = getattr(e, "env", None)
        if inner is None:
            break
        if hasattr(s, "env_state") and not hasattr(inner, "env_state"):
            s = s.env_state
        e = inner
    return np.array2string(np.asarray(obs), precision=3, suppress_small=True)


def replay_text(
    env: Environment,
    params: Any,
    agent: Agent,
    agent_state: Any,
    key: Array,
    max_steps: int = 15,
    greedy: bool = True,
    action_names: Sequence[str] | None = None,
) -> str:
    """One episode written down move by move, like the book's test games.

    The start board, then for each move the action, the reward and the board after
    it, then the outcome: "won" (ended by termination with a positive reward),
    "lost" (any other termination), "time limit" (the env truncated it) or
    "stopped" (``max_steps`` moves played). Boards come from
    ``env.render(state)`` when the environment (or one it wraps) has it, else the
    observation is printed. The episode is played by ``evaluate`` (recorded).

    Args:
        env: a single environment (e.g. ``ObservationNoise(Gridworld)``).
        params: its params.
        agent: the ``Agent`` (``act`` is used).
        agent_state: its trained state (one seed).
        key: PRNG key.
        max_steps: moves before the replay stops the game (the book's 15).
        greedy: greedy actions (default) or the agent's exploration policy.
        action_names: names for action indices (default ``env.action_names`` if the
            env has them, else the numbers).

    Returns:
        The replay as one string.
    """
    if action_names is None:
        action_names = getattr(env, "action_names", None)
    ep = record_episode(agent, agent_state, env, params, key, max_steps=max_steps, greedy=greedy)
    lines = ["start:", _render(env, ep.states[0], ep.observations[0])]
    for t in range(ep.length):
        action = int(np.asarray(ep.actions[t]).ravel()[0])
        name = action_names[action] if action_names is not None else str(action)
        lines.append(f"move {t + 1}: {name}, reward {ep.rewards[t]:+g}")
        lines.append(_render(env, ep.states[t + 1], ep.observations[t + 1]))
    if ep.terminated:
        outcome = "won" if ep.length and ep.rewards[-1] > 0 else "lost"
    else:
        outcome = "time limit" if ep.truncated else "stopped"
    lines.append(f"{outcome} after {ep.length} moves, return {ep.total_return:+g}")
    return "\n".join(lines)
