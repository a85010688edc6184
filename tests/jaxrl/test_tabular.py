"""Tabular Q-learning and SARSA: hand-computed updates, probe MDPs, Gridworld, Taxi."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import struct

from jaxrl import algos, envs
from jaxrl.algos import tabular
from jaxrl.envs import spaces
from jaxrl.envs.core import Environment


# --------------------------------------------------------------------------------- probe env
@struct.dataclass
class TableState:
    s: jax.Array
    time: jax.Array


@struct.dataclass
class TableParams:
    next_state: jax.Array  # int32[S, A]
    reward: jax.Array  # float32[S, A]
    terminated: jax.Array  # bool[S, A]
    start_probs: jax.Array  # float32[S]
    max_steps_in_episode: jax.Array  # int32[]


class TableEnv(Environment):
    """A deterministic MDP given by tables in params (so probes vmap as params)."""

    def __init__(self, num_states: int = 2, num_actions: int = 2):
        self.num_states_, self.num_actions = num_states, num_actions

    @property
    def default_params(self):
        return PROBES["one_step"][0]

    def reset_env(self, key, params):
        s = jax.random.categorical(key, jnp.log(params.start_probs)).astype(jnp.int32)
        return s, TableState(s, jnp.zeros((), jnp.int32))

    def step_env(self, key, state, action, params):
        s2 = params.next_state[state.s, action]
        time = state.time + 1
        truncated = time >= params.max_steps_in_episode
        out = TableState(s2, time)
        reward = params.reward[state.s, action]
        return s2, out, reward, params.terminated[state.s, action], truncated, {}

    def action_space(self, params=None):
        return spaces.Discrete(self.num_actions)

    def observation_space(self, params=None):
        return spaces.Discrete(self.num_states_)


def probe(next_state, reward, terminated, start, cap=10) -> TableParams:
    return TableParams(
        jnp.asarray(next_state, jnp.int32), jnp.asarray(reward, jnp.float32),
        jnp.asarray(terminated, bool), jnp.asarray(start, jnp.float32), jnp.int32(cap),
    )


T, F = True, False
GAMMA = 0.5
PROBES = {
    # one step, constant reward 1: Q[0, :] = 1
    "one_step": (probe([[0, 0], [0, 0]], [[1, 1], [0, 0]], [[T, T], [T, T]], [1, 0]),
                 {(0, 0): 1.0, (0, 1): 1.0}),
    # 0 -> 1 (reward 0), 1 -> end (reward 1): Q[1, :] = 1, Q[0, :] = gamma
    "two_step": (probe([[1, 1], [0, 0]], [[0, 0], [1, 1]], [[F, F], [T, T]], [1, 0]),
                 {(0, 0): GAMMA, (0, 1): GAMMA, (1, 0): 1.0, (1, 1): 1.0}),
    # one step, reward = action: Q[0] = [0, 1]
    "action": (probe([[0, 0], [0, 0]], [[0, 1], [0, 0]], [[T, T], [T, T]], [1, 0]),
               {(0, 0): 0.0, (0, 1): 1.0}),
    # Never terminates, truncated after every step; every step leads to state 1, which
    # pays 1. Bootstrapping from the final observation gives Q[1] = 1 / (1 - gamma) = 2
    # and Q[0] = gamma / (1 - gamma) = 1. (From the reset obs instead: 1.5 and 0.5;
    # treating truncation as termination: 1 and 0.)
    "truncation": (probe([[1, 1], [1, 1]], [[0, 0], [1, 1]], [[F, F], [F, F]], [0.5, 0.5], cap=1),
                   {(0, 0): 1.0, (0, 1): 1.0, (1, 0): 2.0, (1, 1): 2.0}),
}


# --------------------------------------------------------------------------------- maths
def test_q_learning_update_by_hand():
    q = jnp.array([[1.0, 2.0], [3.0, 5.0]])
    # s=0, a=1, r=1, s'=1, gamma=0.5: target 1 + 0.5 * 5 = 3.5, td = 3.5 - 2 = 1.5
    td = tabular.q_learning_td(q[0], jnp.int32(1), jnp.float32(1.0), jnp.float32(0.5), q[1])
    assert float(td) == 1.5
    new = tabular.apply_td(q, jnp.array([0]), jnp.array([1]), td[None], 0.1)
    np.testing.assert_allclose(new, [[1.0, 2.15], [3.0, 5.0]], rtol=1e-6)
    # terminal: discount 0, target = r = 1, td = -1
    td = tabular.q_learning_td(q[0], jnp.int32(1), jnp.float32(1.0), jnp.float32(0.0), q[1])
    assert float(td) == -1.0


def test_sarsa_update_by_hand():
    q = jnp.array([[1.0, 2.0], [3.0, 5.0]])
    # a' = 0 at s'=1: target 1 + 0.5 * 3 = 2.5, td = 0.5 (Q-learning would use max = 5)
    td = tabular.sarsa_td(
        q[0], jnp.int32(1), jnp.float32(1.0), jnp.float32(0.5), q[1], jnp.int32(0)
    )
    assert float(td) == 0.5
    new = tabular.apply_td(q, jnp.array([0]), jnp.array([1]), td[None], 0.1)
    np.testing.assert_allclose(new, [[1.0, 2.05], [3.0, 5.0]], rtol=1e-6)


def test_apply_td_averages_copies_on_the_same_entry():
    q = jnp.zeros((2, 2))
    new = tabular.apply_td(
        q, jnp.array([0, 0, 1]), jnp.array([1, 1, 0]), jnp.array([1.5, 0.5, -2.0]), 0.1
    )
    # (0, 1): mean(1.5, 0.5) = 1 -> 0.1; (1, 0): -2 -> -0.2; others untouched.
    np.testing.assert_allclose(new, [[0.0, 0.1], [-0.2, 0.0]], rtol=1e-6)


def test_epsilon_greedy_by_hand():
    q = jnp.array([0.0, 1.0, 1.0, 0.0])
    eg = tabular.epsilon_greedy
    eps = jnp.float32(0.1)
    assert int(eg(jnp.array([0.05, 0.6, 0.3]), q, eps)) == 2  # explore: floor(0.6 * 4)
    assert int(eg(jnp.array([0.05, 0.99, 0.3]), q, eps)) == 3
    assert int(eg(jnp.array([0.5, 0.6, 0.3]), q, eps)) == 1  # first of the two best
    assert int(eg(jnp.array([0.5, 0.6, 0.7]), q, eps)) == 2  # second of the two best
    assert int(eg(jnp.array([0.5, 0.0, 0.0]), jnp.array([0.0, 0.0, 3.0, 0.0]), eps)) == 2


def test_epsilon_greedy_frequencies():
    q = jnp.array([0.0, 1.0, 1.0, 0.0])
    u = jax.random.uniform(jax.random.key(0), (40_000, 3))
    acts = np.asarray(jax.jit(jax.vmap(tabular.epsilon_greedy, (0, None, None)))(u, q, 0.2))
    freq = np.bincount(acts, minlength=4) / len(acts)
    # explore 0.2 spread over 4 actions (0.05 each); the 0.8 greedy mass split over 2 ties
    np.testing.assert_allclose(freq, [0.05, 0.45, 0.45, 0.05], atol=0.01)


def test_linear_epsilon():
    def f(step):
        return float(tabular.linear_epsilon(jnp.float32(step), 100, 1.0, 0.1, 0.5))

    assert f(0) == 1.0
    assert f(25) == pytest.approx(0.55)
    assert f(50) == pytest.approx(0.1)
    assert f(99) == pytest.approx(0.1)


# --------------------------------------------------------------------------------- probes
@pytest.fixture(scope="module", params=["q_learning", "sarsa"])
def probe_tables(request):
    """Every probe trained in one program (probes vmapped as params), 2 seeds each."""
    env = TableEnv()
    cfg = tabular.Config(
        algorithm=request.param, num_envs=4, num_steps=8, total_timesteps=4 * 8 * 40,
        lr=0.5, gamma=GAMMA, eps_start=0.5, eps_end=0.5, q_init=0.3,
    )
    params = jax.tree.map(lambda *x: jnp.stack(x), *[p for p, _ in PROBES.values()])

    def train(p, key):
        return tabular.make(cfg, env, p).train(key)[0].q

    keys = jax.random.split(jax.random.key(0), 2)
    q = jax.jit(jax.vmap(jax.vmap(train, (None, 0)), (0, None)))(params, keys)
    return request.param, dict(zip(PROBES, np.asarray(q)))


@pytest.mark.parametrize("name", list(PROBES))
def test_probe_values(probe_tables, name):
    algorithm, tables = probe_tables
    expected = PROBES[name][1]
    for seed_q in tables[name]:
        for (s, a), value in expected.items():
            assert seed_q[s, a] == pytest.approx(value, abs=1e-4), (algorithm, name, s, a, seed_q)


# --------------------------------------------------------------------------------- gridworld
# Optimal greedy returns on the fixed board, by hand: d = shortest number of moves to
# the goal (0, 0) around the pit (0, 1) and the wall (1, 1); return = -(d - 1) + 10.
MOVES_TO_GOAL = {
    (1, 0): 1, (2, 0): 2, (3, 0): 3, (2, 1): 3, (3, 1): 4, (2, 2): 4, (1, 2): 5,
    (3, 2): 5, (2, 3): 5, (0, 2): 6, (1, 3): 6, (3, 3): 6, (0, 3): 7,
}


@jax.jit
@jax.vmap
def _rollouts_from_cells(q):
    """Module level, so both algorithms' tests share one compiled program."""
    env, params = envs.make("Gridworld-v0", mode="player")
    return rollouts_from_cells(env, params, q)


def rollouts_from_cells(env, params, q):
    """Greedy episodes from each free cell of the fixed board, vmapped over cells."""
    cells = jnp.asarray(list(MOVES_TO_GOAL), jnp.int32)
    base = env.static_state()
    states = jax.vmap(lambda rc: base.replace(player=rc))(cells)
    obs = jax.vmap(env.observe)(states)

    def one(o, s):
        return tabular.greedy_rollout(q, env, params, o, s, env.state_index, 20)

    return jax.vmap(one)(obs, states)


@pytest.fixture(scope="module")
def gridworld_player():
    env, params = envs.make("Gridworld-v0", mode="player")
    out = {}
    for algorithm in tabular.ALGORITHMS:
        cfg = tabular.Config(algorithm=algorithm, num_envs=8, num_steps=16, total_timesteps=65_536)
        agent = tabular.make(cfg, env, params)
        state, metrics = jax.jit(jax.vmap(agent.train))(jax.random.split(jax.random.key(1), 3))
        out[algorithm] = (agent, state, metrics)
    return env, params, out


@pytest.mark.heavy
@pytest.mark.parametrize("algorithm", tabular.ALGORITHMS)
def test_gridworld_player_mode_wins_optimally_from_every_free_cell(gridworld_player, algorithm):
    env, params, out = gridworld_player
    _, state, _ = out[algorithm]
    res = _rollouts_from_cells(state.q)
    want = np.array([11.0 - d for d in MOVES_TO_GOAL.values()])
    assert np.all(np.asarray(res.won)), res.won
    moves = np.tile(list(MOVES_TO_GOAL.values()), (3, 1))
    np.testing.assert_array_equal(np.asarray(res.length), moves)
    np.testing.assert_array_equal(np.asarray(res.episode_return), np.tile(want, (3, 1)))


@pytest.mark.parametrize("algorithm", tabular.ALGORITHMS)
def test_metrics(gridworld_player, algorithm):
    _, _, out = gridworld_player
    agent, _, m = out[algorithm]
    cfg = agent.config
    assert agent.num_updates == 65_536 // 128
    for key in ("env_steps", "episode_return", "episodes", "epsilon", "abs_td"):
        assert m[key].shape == (3, agent.num_updates)
    np.testing.assert_array_equal(m["env_steps"][0], cfg.batch_size * np.arange(1, 513))
    assert np.all(np.asarray(m["episodes"]).sum(1) > 500)
    late = np.asarray(m["episode_return"][:, -20:])
    # With eps 0.05, random starts: mean return near the optimum (mean 11 - d = 6.6).
    assert np.all(np.nanmean(late, axis=1) > 4.0), late
    assert float(m["epsilon"][0, 0]) > 0.9 and float(m["epsilon"][0, -1]) == pytest.approx(0.05)


def test_gridworld_static_mode_takes_the_seven_move_path():
    env, params = envs.make("Gridworld-v0", mode="static")
    cfg = tabular.Config(num_envs=8, num_steps=16, total_timesteps=16_384)
    agent = tabular.make(cfg, env, params)
    state, _ = jax.jit(jax.vmap(agent.train))(jax.random.split(jax.random.key(2), 3))
    res = jax.jit(jax.vmap(lambda q: tabular.evaluate(jax.random.key(0), q, env, params, 4)))(
        state.q
    )
    np.testing.assert_array_equal(np.asarray(res.length), 7)
    np.testing.assert_array_equal(np.asarray(res.episode_return), 4.0)
    assert np.all(np.asarray(res.won))
    # act() agrees with the table.
    obs, _ = env.reset(jax.random.key(0), params)
    one = jax.tree.map(lambda x: x[0], state)
    assert int(agent.act(one, obs, jax.random.key(0), True)) == int(jnp.argmax(one.q[3]))
    text = tabular.policy_text(one.q, env)
    # From (0, 3) both left and down start a 7-move path.
    assert text.splitlines()[0].startswith("+ - ") and text.splitlines()[0][-1] in "←↓"


def test_gridworld_policy_text_by_hand():
    env, _ = envs.make("Gridworld-v0", mode="player")
    q = np.zeros((16, 4), np.float32)
    for cell in range(16):
        q[cell, cell % 4] = 1.0  # column 0 -> up, 1 -> down, 2 -> left, 3 -> right
    board = "+ - ← →\n↑ W ← →\n↑ ↓ ← →\n↑ ↓ ← →"
    assert tabular.gridworld_policy_text(q, env) == board
    assert tabular.gridworld_policy_text(q, env, arrows="ascii").splitlines()[2] == "^ v < >"
    with pytest.raises(ValueError, match="static- or player-mode"):
        tabular.gridworld_policy_text(q, envs.make("Gridworld-v0", mode="random")[0])


def test_taxi_policy_text_by_hand():
    from jaxrl.envs.taxi import encode

    q = np.zeros((500, 6), np.float32)
    q[encode(0, 0, 0, 3), 4] = 1.0  # at R with the passenger waiting at R: Pickup
    q[encode(4, 3, 4, 3), 5] = 1.0  # at B with the passenger aboard, going to B: Dropoff
    full = tabular.taxi_policy_text(q).splitlines()
    assert len(full) == 2 + 400
    assert "(0, 0)           R          B            Pickup" in full
    assert "(4, 3)           taxi       B            Dropoff" in full
    assert "(0, 1)           R          B            South" in full  # ties -> action 0
    part = tabular.taxi_policy_text(q, passenger="taxi", destination="B").splitlines()
    assert len(part) == 2 + 25


# --------------------------------------------------------------------------------- plumbing
def test_registry_names_resolve_to_presets():
    for name in ("q_learning", "sarsa"):
        mod = algos.get(name)
        cfg = mod.config(num_envs=2)
        assert isinstance(cfg, tabular.Config) and cfg.algorithm == name
        assert mod.make is tabular.make


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"algorithm": "expected_sarsa"}, "algorithm must be one of q_learning, sarsa"),
        ({"num_envs": 0}, "num_envs must be a positive integer"),
        ({"total_timesteps": 10}, "less than one update"),
        ({"lr": 0.0}, "lr must be finite and in"),
        ({"gamma": 1.5}, "gamma must be finite and in"),
        ({"eps_end": -0.1}, "eps_end"),
        ({"q_init": float("nan")}, "q_init"),
    ],
)
def test_config_errors(kwargs, match):
    env, params = envs.make("Gridworld-v0")
    with pytest.raises(ValueError, match=match):
        tabular.make(tabular.Config(**kwargs), env, params)


def test_unindexable_or_huge_envs_are_refused():
    env, params = envs.make("CartPole-v1")
    with pytest.raises(ValueError, match="needs a state index"):
        tabular.make(tabular.Config(), env, params)
    env, params = envs.make("Gridworld-v0", mode="random", size=10)
    with pytest.raises(ValueError, match="too large"):
        tabular.make(tabular.Config(), env, params)
    with pytest.raises(ValueError, match="both state_index= and num_states="):
        tabular.make(tabular.Config(), env, params, state_index=lambda o: 0)


def test_greedy_rollout_needs_a_key_for_random_transitions():
    env, params = envs.make("Taxi-v3", is_rainy=True)
    obs, state = env.reset(jax.random.key(0), params)
    with pytest.raises(ValueError, match="pass key="):
        tabular.greedy_rollout(jnp.zeros((500, 6)), env, params, obs, state, lambda o: o, 5)


# --------------------------------------------------------------------------------- taxi
def taxi_optimal_values(env) -> np.ndarray:
    """Undiscounted optimal values by value iteration on the env's own tables."""
    t = env.tables
    nxt, rew, term = t.next_state[:, :, 0], t.reward, t.terminated
    v = np.zeros(500)
    for _ in range(200):
        v = (rew + np.where(term, 0.0, v[nxt])).max(axis=1)
    return v


@pytest.mark.slow
@pytest.mark.parametrize(
    "algorithm, total, eps_end, floor",
    [("q_learning", 200_000, 0.05, 7.7), ("sarsa", 1_000_000, 0.0, 7.5)],
)
def test_taxi_greedy_return_is_near_optimal(algorithm, total, eps_end, floor):
    from jaxrl.envs.taxi import TaxiState

    env, params = envs.make("Taxi-v3")
    cfg = tabular.Config(
        algorithm=algorithm, num_envs=16, num_steps=50, total_timesteps=total, eps_end=eps_end
    )
    state, _ = jax.jit(jax.vmap(tabular.make(cfg, env, params).train))(
        jax.random.split(jax.random.key(0), 4)
    )
    starts = jnp.asarray(env.tables.starts)
    n = starts.shape[0]
    zeros = jnp.zeros(n, jnp.int32)
    states = TaxiState(starts, zeros, jnp.full(n, -1, jnp.int32), jnp.zeros(n, bool))

    def per_start(q):
        def one(o, s):
            return tabular.greedy_rollout(q, env, params, o, s, lambda x: x, 200)

        return jax.vmap(one)(starts, states)

    res = jax.jit(jax.vmap(per_start))(state.q)
    optimal = taxi_optimal_values(env)[env.tables.starts]
    assert optimal.mean() == pytest.approx(7.93, abs=0.005)  # the known Taxi-v3 optimum
    means = np.asarray(res.episode_return).mean(axis=1)  # exact mean over all 300 starts
    assert np.all(means >= floor), means
    assert np.all(np.asarray(res.episode_return) <= optimal + 1e-6)
