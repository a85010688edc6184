"""The contract itself: auto-reset, key use, action clipping, wrappers, VecEnv, spaces, registry."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import struct

from jaxrl import envs
from jaxrl.envs import spaces, wrappers
from jaxrl.envs.core import Environment


@struct.dataclass
class CounterState:
    count: jax.Array
    time: jax.Array


@struct.dataclass
class CounterParams:
    end_at: int = 3  # terminate when count reaches this
    max_steps_in_episode: int = 5
    start_max: int = 1000  # reset draws count ~ U{0..start_max-1}... only when asked


class Counter(Environment):
    """A probe: obs = count; action 1 adds one; terminates at ``end_at``; truncates at cap.

    Reset starts at 0 unless ``random_start``, when it draws the start from the key, so
    tests can see which key each reset used.
    """

    stochastic_step = False

    def __init__(self, random_start=False):
        self.random_start = random_start

    @property
    def default_params(self):
        return CounterParams()

    def reset_env(self, key, params):
        start = jax.random.randint(key, (), 0, params.start_max) if self.random_start else 0
        state = CounterState(jnp.asarray(start, jnp.int32), jnp.zeros((), jnp.int32))
        return state.count.astype(jnp.float32)[None], state

    def step_env(self, key, state, action, params):
        count = state.count + action
        time = state.time + 1
        new = CounterState(count, time)
        return (
            count.astype(jnp.float32)[None], new, count.astype(jnp.float32),
            count >= params.end_at, time >= params.max_steps_in_episode, {"count": count},
        )

    def action_space(self, params=None):
        return spaces.Discrete(2)

    def observation_space(self, params=None):
        return spaces.Box(0, 1e9, (1,))


def run(env, actions, params=None, key=0):
    params = env.default_params if params is None else params
    key = jax.random.key(key)
    obs, state = env.reset(key, params)
    out = []
    for i, a in enumerate(actions):
        obs, state, r, te, tr, info = env.step(jax.random.fold_in(key, i), state, a, params)
        out.append((float(obs[0]), float(r), bool(te), bool(tr), float(info["final_observation"][0])))
    return out


def test_auto_reset_on_termination_keeps_final_observation():
    out = run(Counter(), [1, 1, 1, 1])
    # step 3 reaches count 3: terminated, obs is the reset obs 0, final obs is 3
    assert out[2] == (0.0, 3.0, True, False, 3.0)
    assert out[3] == (1.0, 1.0, False, False, 1.0)


def test_truncation_is_not_termination():
    out = run(Counter(), [0, 0, 0, 0, 0, 0])
    assert [o[3] for o in out] == [False, False, False, False, True, False]
    assert not any(o[2] for o in out)
    assert out[4][0] == 0.0 and out[4][4] == 0.0


def test_both_flags_on_the_same_step():
    env = Counter()
    params = env.default_params.replace(end_at=5)
    out = run(env, [1] * 5, params)
    assert out[4][2:4] == (True, True)


def test_out_of_range_actions_clip_and_checked_mode_raises():
    env = Counter()
    assert run(env, [7])[0][0] == 1.0  # 7 acts as 1
    assert run(env, [-3])[0][0] == 0.0  # -3 acts as 0
    checked = wrappers.CheckedActions(env)
    assert run(checked, [1])[0][0] == 1.0
    with pytest.raises(Exception, match="outside the action space"):
        jax.block_until_ready(jax.jit(checked.step)(jax.random.key(0), checked.reset(jax.random.key(0))[1], 7))
    env2, _ = envs.make("CartPole-v1", checked=True)
    assert isinstance(env2, wrappers.CheckedActions)


def test_deterministic_step_gives_the_whole_key_to_reset():
    env = Counter(random_start=True)
    params = env.default_params.replace(end_at=10**6, max_steps_in_episode=1)
    key = jax.random.key(3)
    _, state = env.reset(jax.random.key(0), params)
    obs, *_ = env.step(key, state, 0, params)
    expected, _ = env.reset_env(key, params)
    assert float(obs[0]) == float(expected[0])


def test_episode_statistics_and_time_limit():
    env = wrappers.EpisodeStatistics(wrappers.TimeLimit(Counter(), max_steps=2))
    params = env.default_params.replace(end_at=100)
    key = jax.random.key(0)
    obs, state = env.reset(key, params)
    rets, lens, dones = [], [], []
    for i, a in enumerate([1, 1, 1, 0]):
        obs, state, r, te, tr, info = env.step(jax.random.fold_in(key, i), state, a, params)
        rets.append(float(info["episode_return"]))
        lens.append(int(info["episode_length"]))
        dones.append(bool(info["episode_done"]))
    # episode 1: rewards 1, 2 (count) -> truncated at 2 steps; episode 2: 1, 1
    assert rets == [1.0, 3.0, 1.0, 2.0]
    assert lens == [1, 2, 1, 2]
    assert dones == [False, True, False, True]
    assert int(state.episode_length) == 0  # reset together with the inner state


def test_terminal_reward_only_on_termination():
    env = wrappers.TerminalReward(Counter(), value=-10.0)
    out = run(env, [1, 1, 1])
    assert [o[1] for o in out] == [1.0, 2.0, -10.0]
    out = run(env, [0] * 5)  # truncated, not terminated: reward untouched
    assert out[4][1] == 0.0


def test_observation_noise_and_flatten():
    base, params = envs.make("CartPole-v1")
    env = wrappers.ObservationNoise(base, scale=0.01)
    assert env.stochastic_step
    k = jax.random.key(0)
    o1, s = env.reset(k, params)
    o0, _ = base.reset(jax.random.split(k)[0], params)
    noise = np.asarray(o1 - o0)
    assert np.all((noise >= 0) & (noise <= 0.01)) and np.any(noise > 0)
    flat = wrappers.FlattenObservation(wrappers.ObservationNoise(base))
    assert flat.observation_space(params).shape == (4,)
    with pytest.raises(ValueError):
        wrappers.ObservationNoise(base, scale=-1)


def test_vecenv_matches_the_single_env_rules():
    base = Counter(random_start=False)
    venv = envs.VecEnv(base, 4, reset_pool=0)
    params = base.default_params
    obs, state = venv.reset(jax.random.key(0), params)
    actions = jnp.array([1, 0, 1, 1])
    for t in range(3):
        obs, state, r, te, tr, info = venv.step(jax.random.key(t + 1), state, actions, params)
    np.testing.assert_array_equal(np.asarray(te), [True, False, True, True])
    np.testing.assert_array_equal(np.asarray(obs[:, 0]), [0, 0, 0, 0])
    np.testing.assert_array_equal(np.asarray(info["final_observation"][:, 0]), [3, 0, 3, 3])


@pytest.mark.parametrize("pool", [0, 2, 16])
def test_vecenv_sparse_reset_gives_every_new_episode_its_own_start(pool):
    env = Counter(random_start=True)
    params = env.default_params.replace(end_at=10**6, max_steps_in_episode=1)  # all end each step
    n = 16
    venv = envs.VecEnv(env, n, reset_pool=pool)
    obs, state = venv.reset(jax.random.key(0), params)
    step = jax.jit(venv.step)
    starts = []
    for t in range(20):
        # half the copies end each step (every copy truncates at 1 step, so make half survive
        # by giving them a longer cap through batched... simpler: all end; pool overflows)
        obs, state, r, te, tr, info = step(jax.random.key(t + 1), state, jnp.zeros(n, jnp.int32), params)
        assert bool(jnp.all(tr))
        starts.append(np.asarray(obs[:, 0]))
    starts = np.stack(starts)
    # every copy restarted each step with a fresh draw: no two copies share a start value
    # more often than chance allows (values are U{0..999})
    dup = np.mean([len(set(row)) < n for row in starts])
    assert dup < 0.5


def test_vecenv_sparse_reset_pool_assigns_distinct_starts():
    env = Counter(random_start=True)
    n, pool = 64, 8
    params = env.default_params.replace(end_at=1, max_steps_in_episode=10**6)  # action 1 ends
    venv = envs.VecEnv(env, n, reset_pool=pool)
    obs, state = venv.reset(jax.random.key(0), params)
    state = state.replace(count=jnp.zeros(n, jnp.int32))
    actions = jnp.zeros(n, jnp.int32).at[jnp.array([3, 10, 40])].set(1)
    obs, state, r, te, tr, info = jax.jit(venv.step)(jax.random.key(1), state, actions, params)
    np.testing.assert_array_equal(np.flatnonzero(np.asarray(te)), [3, 10, 40])
    fresh = np.asarray(obs[[3, 10, 40], 0])
    assert len(set(fresh.tolist())) == 3  # three distinct pool entries
    untouched = np.delete(np.asarray(obs[:, 0]), [3, 10, 40])
    assert np.all(untouched == 0)
    # overflow (more ends than the pool holds) still resets every copy
    obs, state, r, te, tr, info = jax.jit(venv.step)(jax.random.key(2), state, jnp.ones(n, jnp.int32), params)
    assert bool(jnp.all(te)) and len(set(np.asarray(obs[:, 0]).tolist())) > n // 2


def test_vecenv_batched_params():
    base, params = envs.make("CartPole-v1")
    batched = jax.tree.map(lambda x: jnp.full((3,), x), params)
    batched = batched.replace(gravity=jnp.array([9.8, 0.0, 20.0]))
    venv = envs.VecEnv(base, 3, batched_params=True)
    obs, state = venv.reset(jax.random.key(0), batched)
    state = state.replace(theta=jnp.full(3, 0.1), x=jnp.zeros(3), x_dot=jnp.zeros(3), theta_dot=jnp.zeros(3))
    obs, state, *_ = venv.step(jax.random.key(1), state, jnp.zeros(3, jnp.int32), batched)
    acc = np.asarray(state.theta_dot)
    assert acc[1] < acc[0] < acc[2]  # more gravity, faster fall
    with pytest.raises(ValueError):
        envs.VecEnv(base, 0)


def test_spaces():
    d = spaces.Discrete(3)
    assert bool(d.contains(2)) and not bool(d.contains(3)) and not bool(d.contains(-1))
    assert not bool(d.contains(jnp.zeros(2, jnp.int32)))
    samples = jax.vmap(d.sample)(jax.random.split(jax.random.key(0), 300))
    assert set(np.asarray(samples).tolist()) == {0, 1, 2}
    b = spaces.Box(-1.0, 1.0, (2,))
    assert bool(b.contains(jnp.array([0.5, -1.0]))) and not bool(b.contains(jnp.array([1.5, 0.0])))
    assert bool(b.contains(b.sample(jax.random.key(1))))
    u = spaces.Box(-np.inf, np.inf, (3,))
    assert bool(u.contains(u.sample(jax.random.key(2))))
    with pytest.raises(ValueError):
        spaces.Discrete(0)
    with pytest.raises(ValueError):
        spaces.Box(1.0, 0.0, (1,))
    md = spaces.Discrete(2, shape=(5,))
    assert bool(md.contains(md.sample(jax.random.key(0))))


def test_registry_errors_name_the_closest_matches():
    with pytest.raises(ValueError, match="CartPole-v1"):
        envs.make("Cartpole-v1")
    with pytest.raises(ValueError, match="gravity"):
        envs.make("CartPole-v1", gravty=1.0)
    with pytest.raises(TypeError, match="must be a number"):
        envs.make("CartPole-v1", gravity="strong")
    with pytest.raises(TypeError, match="integer"):
        envs.make("CartPole-v1", max_steps_in_episode=2.5)
    with pytest.raises(ValueError, match="Acrobot-v1"):
        envs.make("gymnax/Acrobot-v2")
    env, params = envs.make("CartPole-v1", gravity=3.0, max_steps_in_episode=7)
    assert params.gravity == 3.0 and params.max_steps_in_episode == 7
    assert "gymnax/Freeway-MinAtar" in envs.registered()
    assert envs.make("CartPole-v0")[1].max_steps_in_episode == 200


def test_params_are_vmappable():
    env, params = envs.make("CartPole-v1")
    many = jax.tree.map(lambda x: jnp.stack([jnp.asarray(x)] * 2), params)
    many = many.replace(force_mag=jnp.array([10.0, 30.0]))
    _, state = env.reset(jax.random.key(0), params)
    out = jax.vmap(env.step, in_axes=(None, None, None, 0))(jax.random.key(1), state, 1, many)
    v = np.asarray(out[1].x_dot)
    assert v[1] > v[0] > 0


def test_auto_reset_selects_per_copy_and_keeps_the_final_observation():
    """envs.core.auto_reset, the one implementation behind Environment.step and VecEnv.step."""
    from jaxrl.envs.core import auto_reset

    obs = jnp.array([[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]])  # 3 copies, obs [2]
    state = {"t": jnp.array([5, 6, 7]), "pos": jnp.ones((3, 2, 2))}
    term = jnp.array([False, True, False])
    trunc = jnp.array([False, False, True])
    seen = []

    def reset(done):
        seen.append(np.asarray(done))
        return -jnp.ones_like(obs), {"t": jnp.zeros(3, jnp.int32), "pos": jnp.zeros((3, 2, 2))}

    out_obs, out_state, reward, te, tr, info = auto_reset(
        (obs, state, jnp.arange(3.0), term, trunc, {"x": 1}), reset
    )
    np.testing.assert_array_equal(seen[0], [False, True, True])
    np.testing.assert_array_equal(out_obs, [[1.0, 1.0], [-1.0, -1.0], [-1.0, -1.0]])
    np.testing.assert_array_equal(out_state["t"], [5, 0, 0])
    np.testing.assert_array_equal(out_state["pos"].sum(axis=(1, 2)), [4.0, 0.0, 0.0])
    np.testing.assert_array_equal(info["final_observation"], obs)
    assert info["x"] == 1 and te is term and tr is trunc
    np.testing.assert_array_equal(reward, [0.0, 1.0, 2.0])


def test_an_adapter_whose_library_does_not_load_is_left_out_and_named_by_make(monkeypatch):
    """A library that is installed but fails to import (a version for another JAX) never
    breaks ``registered()``; making one of its names says what is wrong in one line."""
    from jaxrl.envs import registry

    monkeypatch.setitem(registry.ADAPTERS, "broken/",
                        ("jaxrl.envs.no_such_module:Env", "json", "broken"))
    assert not [n for n in envs.registered() if n.startswith("broken/")]
    with pytest.raises(ValueError, match=r"json package is installed but does not load.*"
                                         r"pip install 'jaxrl\[broken\]'"):
        envs.make("broken/Thing-v0")
    monkeypatch.setitem(registry.ADAPTERS, "missing/",
                        ("jaxrl.envs.no_such_module:Env", "no_such_package_xyz", "missing"))
    with pytest.raises(ValueError, match=r"needs the no_such_package_xyz package: "
                                         r"pip install 'jaxrl\[missing\]'"):
        envs.make("missing/Thing-v0")
