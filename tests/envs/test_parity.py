"""Step-for-step parity with Gymnasium (1.1-1.3): CartPole-v0/v1, MountainCar-v0, Taxi-v3.

Method (state injection): Gymnasium plays episodes (random, heuristic and near the
time limit) and single steps from injected states; before every step its internal
state (``unwrapped.state`` / ``unwrapped.s``) and its TimeLimit's elapsed-step count
are recorded. Each recorded state becomes a jaxrl state (float64 -> float32), and
jaxrl's auto-resetting ``step`` runs on all of them in one vmapped, jitted call.
Then, per transition: ``info["final_observation"]`` equals Gymnasium's observation to
1e-5, the reward to 1e-5, ``terminated`` and ``truncated`` exactly; a transition that
did not end returns that observation and ``time + 1``; one that ended returns a fresh
start (time 0, inside the reset distribution's support). Every test counts its
terminations and truncations and asserts that both occurred.
"""

from __future__ import annotations

import dataclasses

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl import envs
from jaxrl.envs.cartpole import CartPoleState
from jaxrl.envs.mountain_car import MountainCarState
from jaxrl.envs.taxi import Taxi, TaxiState, _Tables, decode

TOL = 1e-5
pytestmark = pytest.mark.filterwarnings("ignore:.*CartPole-v0 is out of date")


@dataclasses.dataclass
class Records:
    """Gymnasium transitions: the state before, the action, and what Gymnasium returned."""

    state: list = dataclasses.field(default_factory=list)  # internal state before the step
    elapsed: list = dataclasses.field(default_factory=list)  # TimeLimit count before the step
    action: list = dataclasses.field(default_factory=list)
    obs: list = dataclasses.field(default_factory=list)
    reward: list = dataclasses.field(default_factory=list)
    terminated: list = dataclasses.field(default_factory=list)
    truncated: list = dataclasses.field(default_factory=list)
    info: list = dataclasses.field(default_factory=list)

    def add(self, state, elapsed, action, result):
        obs, reward, terminated, truncated, info = result
        self.state.append(state)
        self.elapsed.append(elapsed)
        self.action.append(action)
        self.obs.append(np.asarray(obs))
        self.reward.append(reward)
        self.terminated.append(terminated)
        self.truncated.append(truncated)
        self.info.append(info)

    def arrays(self) -> dict[str, np.ndarray]:
        return {
            "state": np.asarray(self.state),
            "elapsed": np.asarray(self.elapsed, np.int32),
            "action": np.asarray(self.action, np.int32),
            "obs": np.asarray(self.obs),
            "reward": np.asarray(self.reward, np.float64),
            "terminated": np.asarray(self.terminated, bool),
            "truncated": np.asarray(self.truncated, bool),
        }



def _gym_make(name, **kwargs):
    """Gymnasium's environment ``name``. From gymnasium 1.3 the id Taxi-v3 is retired in
    favour of Taxi-v4, the same ``TaxiEnv`` class; the parity checks compare its rules."""
    if name == "Taxi-v3" and name not in gym.registry:
        name = "Taxi-v4"
    return gym.make(name, **kwargs)

def _internal_state(genv):
    u = genv.unwrapped
    return int(u.s) if hasattr(u, "s") else np.array(u.state, np.float64)


def _play(genv, records, policy, episodes, rng, start_elapsed=None, seed0=0):
    """Full Gymnasium episodes; ``start_elapsed(rng) -> int`` puts the TimeLimit near its end."""
    for ep in range(episodes):
        obs, _ = genv.reset(seed=seed0 + ep)
        if start_elapsed is not None:
            genv._elapsed_steps = start_elapsed(rng)
        while True:
            state, elapsed = _internal_state(genv), genv._elapsed_steps
            action = policy(obs, rng)
            result = genv.step(action)
            records.add(state, elapsed, action, result)
            obs = result[0]
            if result[2] or result[3]:
                break


def _inject(genv, records, states, elapsed, actions):
    """Single Gymnasium steps from the given internal states and elapsed counts."""
    genv.reset(seed=0)
    u = genv.unwrapped
    for state, e, a in zip(states, elapsed, actions):
        if hasattr(u, "s"):
            u.s = int(state)
        else:
            u.state = np.array(state, np.float64)
            if hasattr(u, "steps_beyond_terminated"):
                u.steps_beyond_terminated = None  # else Gymnasium pays 0 after a fall
        genv._elapsed_steps = int(e)
        records.add(_internal_state(genv), int(e), int(a), genv.step(int(a)))


def _epsilon(policy, eps, n_actions):
    def act(obs, rng):
        return int(rng.integers(n_actions)) if rng.random() < eps else policy(obs)

    return act


# --- per-env collection ---------------------------------------------------------------
def _collect_cartpole(name: str) -> Records:
    limit = {"CartPole-v0": 200, "CartPole-v1": 500}[name]
    genv = _gym_make(name)
    rng = np.random.default_rng(1)
    rec = Records()
    balance = _epsilon(lambda o: int(o[2] + 0.5 * o[3] > 0), 0.1, 2)
    random_policy = _epsilon(lambda o: 0, 1.0, 2)
    _play(genv, rec, balance, 4, rng, seed0=0)  # long, usually to the time limit
    _play(genv, rec, random_policy, 40, rng, seed0=100)  # short, end by a fall
    _play(genv, rec, balance, 30, rng, lambda r: limit - int(r.integers(2, 40)), seed0=200)
    n = 2000
    high = np.array([2.6, 2.0, 0.25, 3.0])
    states = rng.uniform(-high, high, size=(n, 4))
    elapsed = np.where(rng.random(n) < 0.1, limit - 1, rng.integers(0, limit - 1, n))
    _inject(genv, rec, states, elapsed, rng.integers(0, 2, n))
    return rec


def _collect_mountain_car() -> Records:
    genv = gym.make("MountainCar-v0")
    rng = np.random.default_rng(2)
    rec = Records()
    pump = _epsilon(lambda o: 2 if o[1] >= 0 else 0, 0.1, 3)  # reaches the goal
    random_policy = _epsilon(lambda o: 0, 1.0, 3)  # runs into the time limit
    _play(genv, rec, pump, 12, rng, seed0=0)
    _play(genv, rec, random_policy, 8, rng, seed0=100)
    n = 3000
    states = np.stack(
        [rng.uniform(-1.2, 0.6, n), rng.uniform(-0.07, 0.07, n)], axis=1
    )
    states[: n // 10, 0] = -1.2 + rng.uniform(0, 0.02, n // 10)  # next to the left wall
    states[: n // 10, 1] = -rng.uniform(0.02, 0.07, n // 10)  # moving into it
    elapsed = np.where(rng.random(n) < 0.1, 199, rng.integers(0, 199, n))
    _inject(genv, rec, states, elapsed, rng.integers(0, 3, n))
    return rec


def _taxi_greedy_policy(genv) -> np.ndarray:
    """Shortest-path actions computed from Gymnasium's own P (value iteration)."""
    P = genv.unwrapped.P
    nxt = np.array([[P[s][a][0][1] for a in range(6)] for s in range(500)])
    rew = np.array([[P[s][a][0][2] for a in range(6)] for s in range(500)], np.float64)
    term = np.array([[P[s][a][0][3] for a in range(6)] for s in range(500)])
    v = np.zeros(500)
    for _ in range(60):
        q = rew + np.where(term, 0.0, 0.95 * v[nxt])
        v = q.max(1)
    return q.argmax(1)


def _collect_taxi() -> Records:
    genv = _gym_make("Taxi-v3")
    rng = np.random.default_rng(3)
    rec = Records()
    # Every (state, action) pair once, 10 % of them on the last allowed step.
    s_all, a_all = np.meshgrid(np.arange(500), np.arange(6), indexing="ij")
    n = s_all.size
    elapsed = np.where(rng.random(n) < 0.1, 199, rng.integers(0, 199, n))
    _inject(genv, rec, s_all.ravel(), elapsed, a_all.ravel())
    greedy = _taxi_greedy_policy(genv)
    _play(genv, rec, _epsilon(lambda o: int(greedy[o]), 0.2, 6), 60, rng, seed0=0)
    _play(genv, rec, _epsilon(lambda o: 0, 1.0, 6), 15, rng, seed0=100)
    return rec


# --- our side ---------------------------------------------------------------------------
def _cartpole_state(r):
    s = jnp.asarray(r["state"], jnp.float32)
    return CartPoleState(s[:, 0], s[:, 1], s[:, 2], s[:, 3], jnp.asarray(r["elapsed"]))


def _mountain_car_state(r):
    s = jnp.asarray(r["state"], jnp.float32)
    return MountainCarState(s[:, 0], s[:, 1], jnp.asarray(r["elapsed"]))


def _taxi_state(r):
    n = len(r["state"])
    return TaxiState(
        s=jnp.asarray(r["state"], jnp.int32),
        time=jnp.asarray(r["elapsed"]),
        last_action=jnp.full((n,), -1, jnp.int32),
        fickle_step=jnp.zeros((n,), bool),
    )


def _cartpole_fresh(obs):
    return np.all(np.abs(obs) <= 0.05, axis=-1)


def _mountain_car_fresh(obs):
    return (obs[:, 0] >= -0.6) & (obs[:, 0] <= -0.4) & (obs[:, 1] == 0)


def _taxi_fresh(obs):
    _, _, p, d = decode(np.asarray(obs))
    return (p < 4) & (p != d)


CASES = {
    "CartPole-v0": (lambda: _collect_cartpole("CartPole-v0"), _cartpole_state, _cartpole_fresh),
    "CartPole-v1": (lambda: _collect_cartpole("CartPole-v1"), _cartpole_state, _cartpole_fresh),
    "MountainCar-v0": (_collect_mountain_car, _mountain_car_state, _mountain_car_fresh),
    "Taxi-v3": (_collect_taxi, _taxi_state, _taxi_fresh),
}


def _our_step(env, params, records, make_state):
    r = records.arrays()
    n = len(r["action"])
    keys = jax.random.split(jax.random.PRNGKey(0), n)
    step = jax.jit(jax.vmap(env.step, in_axes=(0, 0, 0, None)))
    out = step(keys, make_state(r), jnp.asarray(r["action"]), params)
    return r, jax.tree.map(np.asarray, out)


@pytest.mark.parametrize("name", list(CASES))
def test_step_parity_with_gymnasium(name):
    collect, make_state, fresh = CASES[name]
    env, params = envs.make(name)
    records = collect()
    r, out = _our_step(env, params, records, make_state)
    obs, state, reward, terminated, truncated, info = out
    final = info["final_observation"]
    done = r["terminated"] | r["truncated"]

    err_obs = np.abs(final.astype(np.float64) - r["obs"].astype(np.float64))
    err_obs = err_obs.reshape(len(done), -1).max(axis=1)
    err_rew = np.abs(reward - r["reward"])
    bad_obs = np.flatnonzero(err_obs > TOL)
    assert bad_obs.size == 0, f"obs differ at {bad_obs[:5]}: max error {err_obs.max():.3g}"
    assert err_rew.max() <= TOL
    np.testing.assert_array_equal(terminated, r["terminated"])
    np.testing.assert_array_equal(truncated, r["truncated"])

    # auto-reset: ongoing transitions keep the stepped obs; finished ones start afresh
    np.testing.assert_array_equal(obs[~done], final[~done])
    np.testing.assert_array_equal(state.time, np.where(done, 0, r["elapsed"] + 1))
    assert np.all(fresh(obs[done])), "an auto-reset observation is not a fresh start"
    if name == "Taxi-v3":
        gym_masks = np.stack([i["action_mask"] for i in records.info])
        np.testing.assert_array_equal(info["action_mask"], gym_masks)
        np.testing.assert_array_equal(info["prob"], [i["prob"] for i in records.info])

    n_term, n_trunc = int(r["terminated"].sum()), int(r["truncated"].sum())
    print(
        f"\n{name}: {len(done)} transitions, max |obs err| {err_obs.max():.2e}, "
        f"max |reward err| {err_rew.max():.1e}, {n_term} terminated, {n_trunc} truncated, "
        f"{int((r['terminated'] & r['truncated']).sum())} both"
    )
    assert len(done) >= 3000
    assert n_term >= 4 and n_trunc >= 20
    if name.startswith("CartPole"):
        limit = params.max_steps_in_episode
        # episodes cut by the limit (balanced rollouts and near-limit starts)
        assert np.sum(r["truncated"] & (r["elapsed"] == limit - 1)) >= 10
        assert n_term >= 100
    if name == "MountainCar-v0":
        pos, vel = r["obs"][:, 0], r["obs"][:, 1]
        assert np.sum(pos == np.float32(-1.2)) >= 50, "left wall not exercised"
        assert np.sum(np.abs(vel) == np.float32(0.07)) >= 5, "velocity clip not exercised"
        assert n_term >= 12
    if name == "Taxi-v3":
        assert n_term >= 40  # 4 from the exhaustive pairs, most greedy episodes
        assert np.sum(np.asarray(r["reward"]) == -10) >= 500


def test_cartpole_v1_episodes_reach_the_time_limit_in_gymnasium_and_ours():
    """A whole balanced episode stepped by both from the same start: same length 500."""
    genv = gym.make("CartPole-v1")
    env, params = envs.make("CartPole-v1")
    step = jax.jit(env.step_env)
    obs_g, _ = genv.reset(seed=7)
    s = genv.unwrapped.state.astype(np.float32)
    state = CartPoleState(*map(jnp.asarray, s), jnp.zeros((), jnp.int32))
    for t in range(500):
        a = int(obs_g[2] + 0.5 * obs_g[3] > 0)
        obs_g, _, term_g, trunc_g, _ = genv.step(a)
        _, state, _, term, trunc, _ = step(None, state, a, params)
        # re-sync every step: float32 vs float64 would otherwise drift apart chaotically
        state = state.replace(**dict(zip(("x", "x_dot", "theta", "theta_dot"),
                                         map(jnp.float32, genv.unwrapped.state))))
        assert (bool(term), bool(trunc)) == (term_g, trunc_g), t
        if term_g or trunc_g:
            break
    assert (t, trunc_g, term_g) == (499, True, False)


# --- reset distributions ----------------------------------------------------------------
@pytest.mark.parametrize("name", ["CartPole-v1", "MountainCar-v0", "Taxi-v3"])
def test_reset_distribution(name):
    env, params = envs.make(name)
    n = 30_000
    obs, state = jax.jit(jax.vmap(env.reset, in_axes=(0, None)))(
        jax.random.split(jax.random.PRNGKey(1), n), params
    )
    obs = np.asarray(obs)
    genv = _gym_make(name)
    gobs = np.asarray([genv.reset(seed=i)[0] for i in range(300)])
    if name == "CartPole-v1":
        assert obs.shape == (n, 4) and obs.dtype == np.float32
        assert np.all(np.abs(obs) <= 0.05) and np.all(np.abs(gobs) <= 0.05)
        # uniform on [-0.05, 0.05]: mean 0, sd 0.1/sqrt(12); spans the interval
        assert np.all(np.abs(obs.mean(0)) < 5 * 0.0289 / np.sqrt(n))
        np.testing.assert_allclose(obs.std(0), 0.1 / np.sqrt(12), rtol=0.02)
        assert np.all(obs.min(0) < -0.0499) and np.all(obs.max(0) > 0.0499)
    elif name == "MountainCar-v0":
        pos, vel = obs[:, 0], obs[:, 1]
        assert np.all((pos >= -0.6) & (pos <= -0.4)) and np.all(vel == 0)
        assert np.all((gobs[:, 0] >= -0.6) & (gobs[:, 0] <= -0.4)) and np.all(gobs[:, 1] == 0)
        assert abs(pos.mean() + 0.5) < 5 * 0.0577 / np.sqrt(n)
        assert pos.min() < -0.5999 and pos.max() > -0.4001
        np.testing.assert_array_equal(np.asarray(state.time), 0)
    else:
        support = set(np.flatnonzero(genv.unwrapped.initial_state_distrib > 0).tolist())
        assert len(support) == 300
        assert set(np.unique(obs).tolist()) == support  # every start reached, nothing else
        assert set(gobs.tolist()) <= support
        counts = np.bincount(obs, minlength=500)[sorted(support)]
        expected = n / 300  # uniform: binomial sd sqrt(100 * (299/300)) ~ 10
        assert np.all(np.abs(counts - expected) < 5 * np.sqrt(expected))
        _, _, p, d = decode(obs)
        assert np.all(p < 4) and np.all(p != d)
        np.testing.assert_array_equal(np.asarray(state.last_action), -1)


# --- Taxi tables, render and options ----------------------------------------------------
@pytest.mark.parametrize("is_rainy", [False, True])
def test_taxi_tables_equal_gymnasium_P(is_rainy):
    if is_rainy and "Taxi-v3" not in gym.registry:
        pytest.skip("this Gymnasium has only Taxi-v4, whose rainy slips follow new rules; "
                    "jaxrl's Taxi-v3 keeps v3's (checked with the gymnasium < 1.3 ends)")
    genv = _gym_make("Taxi-v3", is_rainy=is_rainy).unwrapped
    tables = _Tables(is_rainy)
    for s in range(500):
        np.testing.assert_array_equal(tables.action_mask[s], genv.action_mask(s))
        for a in range(6):
            branches = genv.P[s][a]
            for i, (p, s2, reward, term) in enumerate(branches):
                assert tables.probs[a, i] == pytest.approx(p)
                ours = (tables.next_state[s, a, i], tables.reward[s, a], tables.terminated[s, a])
                assert ours == (s2, reward, term), (s, a, i)
            assert np.all(tables.probs[a, len(branches):] == 0)


def test_taxi_render_matches_gymnasium_ansi():
    genv = _gym_make("Taxi-v3", render_mode="ansi")
    genv.reset(seed=0)
    u = genv.unwrapped
    env = Taxi()
    for s in range(500):
        for last in (None, s % 6):
            u.s, u.lastaction = s, last
            state = TaxiState(jnp.int32(s), jnp.int32(0), jnp.int32(-1 if last is None else last),
                              jnp.bool_(False))
            assert env.render(state, colors=True) == genv.render()
    plain = env.render(TaxiState(jnp.int32(env.encode(4, 4, 4, 3)), jnp.int32(0), jnp.int32(5),
                                 jnp.bool_(False)))
    assert plain.splitlines()[5] == "|Y| : |B:@|"
    assert "passenger: in taxi, destination: B" in plain and "(Dropoff)" in plain


def test_taxi_decode_inverts_gymnasium_encode():
    u = _gym_make("Taxi-v3").unwrapped
    s = np.arange(500)
    row, col, p, d = map(np.asarray, Taxi.decode(jnp.asarray(s)))
    for i in range(500):
        assert (int(row[i]), int(col[i]), int(p[i]), int(d[i])) == tuple(u.decode(i))
        assert Taxi.encode(*u.decode(i)) == i


def test_taxi_rainy_branch_frequencies():
    """Rainy moves take the intended branch w.p. 0.8 and each side step w.p. 0.1.

    Gymnasium tests a side step's wall on the border character beside the *new* cell,
    even for a north/south side step of an east/west move, so from (2, 2) both side
    steps of "east" are blocked (the taxi stays, w.p. 0.2); our table copies that.
    """
    env, params = envs.make("Taxi-v3", is_rainy=True)
    assert env.stochastic_step
    s0 = env.encode(2, 2, 0, 1)
    n = 20_000
    state = TaxiState(jnp.full((n,), s0), jnp.zeros((n,), jnp.int32), jnp.full((n,), -1),
                      jnp.zeros((n,), bool))
    step = jax.jit(jax.vmap(env.step_env, in_axes=(0, 0, None, None)))
    expected_cells = {
        0: {(3, 2): 0.8, (2, 1): 0.1, (2, 3): 0.1},
        1: {(1, 2): 0.8, (2, 1): 0.1, (2, 3): 0.1},
        2: {(2, 3): 0.8, (2, 2): 0.2},
    }
    for a, cells in expected_cells.items():
        keys = jax.random.split(jax.random.PRNGKey(a), n)
        obs, *_, info = step(keys, state, jnp.int32(a), params)
        row, col, p, d = decode(np.asarray(obs))
        assert np.all((p == 0) & (d == 1))
        for (r, c), prob in cells.items():
            freq = np.mean((row == r) & (col == c))
            assert abs(freq - prob) < 5 * np.sqrt(prob * (1 - prob) / n), (a, (r, c), freq)
        assert sum(np.sum((row == r) & (col == c)) for r, c in cells) == n
        np.testing.assert_allclose(np.unique(np.asarray(info["prob"])), [0.1, 0.8])


def test_taxi_fickle_passenger():
    """Fickle: P(fickle episode) = 0.3 at reset; first move with the passenger aboard
    switches to one of the three other destinations uniformly; only once."""
    env, params = envs.make("Taxi-v3", fickle_passenger=True)
    n = 20_000
    _, st = jax.jit(jax.vmap(env.reset, in_axes=(0, None)))(
        jax.random.split(jax.random.PRNGKey(3), n), params
    )
    rate = float(np.mean(np.asarray(st.fickle_step)))
    assert abs(rate - 0.3) < 5 * np.sqrt(0.21 / n)

    s0 = env.encode(2, 2, 4, 1)  # passenger aboard, destination G
    state = TaxiState(jnp.full((n,), s0), jnp.zeros((n,), jnp.int32), jnp.full((n,), -1),
                      jnp.ones((n,), bool))
    step = jax.jit(jax.vmap(env.step_env, in_axes=(0, 0, None, None)))
    keys = jax.random.split(jax.random.PRNGKey(4), n)
    obs, st2, reward, term, *_ = step(keys, state, jnp.int32(0), params)
    row, col, p, d = decode(np.asarray(obs))
    assert np.all((row == 3) & (col == 2) & (p == 4)) and not np.any(np.asarray(st2.fickle_step))
    assert np.all(np.asarray(reward) == -1) and not np.any(np.asarray(term))
    counts = np.bincount(d, minlength=4)
    assert counts[1] == 0 and np.all(np.abs(counts[[0, 2, 3]] - n / 3) < 5 * np.sqrt(n * 2 / 9))
    # the trigger fires once: a second move keeps the new destination
    obs2, *_ = step(jax.random.split(jax.random.PRNGKey(5), n), st2, jnp.int32(1), params)
    np.testing.assert_array_equal(decode(np.asarray(obs2))[3], d)
    # no trigger without a move (pickup at a non-stand is a no-op with -10)
    obs3, st3, *_ = step(jax.random.split(jax.random.PRNGKey(6), n), state, jnp.int32(4), params)
    np.testing.assert_array_equal(np.asarray(obs3), s0)
    assert np.all(np.asarray(st3.fickle_step))


def test_mountain_car_params_vmap_over_goal_velocity():
    """Params are vmappable: copies with goal_velocity 0 and 0.02 in one call, each
    matching Gymnasium's ``goal_velocity`` argument from states next to the goal."""
    env, params = envs.make("MountainCar-v0")
    goals = (0.0, 0.02)
    copies = [params.replace(goal_velocity=g) for g in goals]
    batched = jax.tree.map(lambda *x: jnp.asarray(x), *copies)
    rng = np.random.default_rng(5)
    n = 400
    states = np.stack([rng.uniform(0.45, 0.6, n), rng.uniform(-0.07, 0.07, n)], axis=1)
    actions = rng.integers(0, 3, n)
    ours = MountainCarState(jnp.asarray(states[:, 0], jnp.float32),
                            jnp.asarray(states[:, 1], jnp.float32), jnp.zeros((n,), jnp.int32))
    over_states = jax.vmap(env.step_env, in_axes=(None, 0, 0, None))
    step = jax.vmap(over_states, in_axes=(None, None, None, 0))
    _, _, _, term, _, _ = jax.jit(step)(jax.random.PRNGKey(0), ours, jnp.asarray(actions), batched)
    term = np.asarray(term)
    for k, g in enumerate(goals):
        genv = gym.make("MountainCar-v0", goal_velocity=g)
        rec = Records()
        _inject(genv, rec, states, np.zeros(n, int), actions)
        np.testing.assert_array_equal(term[k], rec.terminated)
    assert term[0].sum() > term[1].sum() > 0  # the stricter goal ends fewer episodes
