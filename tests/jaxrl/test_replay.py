"""jaxrl.core.replay: circular writes, the samplers' probabilities and weights (hand-computed),
and n-step windows across episode ends and the buffer's wrap-around."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.core import replay

# Jitted once: eager calls would compile every small op separately.
add = jax.jit(replay.add)
n_step_batch = jax.jit(replay.n_step_batch, static_argnums=2)
sample_proportional = jax.jit(replay.sample_proportional, static_argnums=2)


def example():
    return replay.Transition(
        obs=jnp.zeros((2,), jnp.float32), action=jnp.zeros((), jnp.int32),
        reward=jnp.zeros((), jnp.float32), next_obs=jnp.zeros((2,), jnp.float32),
        terminated=jnp.zeros((), bool), truncated=jnp.zeros((), bool),
    )


def step_batch(values, terminated=None, truncated=None):
    """A row of transitions for len(values) env copies; obs = value, next_obs = 100 + value."""
    v = jnp.asarray(values, jnp.float32)
    e = v.shape[0]
    return replay.Transition(
        obs=jnp.stack([v, -v], axis=-1), action=jnp.arange(e, dtype=jnp.int32),
        reward=v, next_obs=jnp.stack([100 + v, -100 - v], axis=-1),
        terminated=jnp.zeros(e, bool) if terminated is None else jnp.asarray(terminated, bool),
        truncated=jnp.zeros(e, bool) if truncated is None else jnp.asarray(truncated, bool),
    )


def filled(rows, num_envs, columns):
    """A buffer with ``columns[e] = (rewards, terminated, truncated)`` written row by row."""
    buf = replay.init(example(), rows, num_envs)
    steps = len(columns[0][0])
    for t in range(steps):
        buf = add(buf, step_batch(
            [c[0][t] for c in columns], [c[1][t] for c in columns], [c[2][t] for c in columns]
        ))
    return buf


# --------------------------------------------------------------------------------- writes
def test_add_writes_rows_circularly():
    buf = replay.init(example(), rows=3, num_envs=2)
    assert int(buf.size) == 0 and int(buf.num_transitions) == 0
    for t in range(4):
        buf = add(buf, step_batch([10 * t + 1, 10 * t + 2]))
    assert int(buf.insert) == 1 and int(buf.size) == 3 and int(buf.num_transitions) == 6
    # Row 0 was overwritten by the 4th step; rows 1, 2 hold steps 2 and 3.
    np.testing.assert_array_equal(buf.data.reward[:, 0], [31, 11, 21])
    np.testing.assert_array_equal(buf.data.reward[:, 1], [32, 12, 22])
    np.testing.assert_array_equal(buf.data.next_obs[0, 1], [132, -132])
    np.testing.assert_array_equal(buf.data.action[2], [0, 1])


def test_a_uniform_buffer_keeps_no_priorities_and_the_same_data():
    plain = replay.init(example(), rows=3, num_envs=2, prioritized=False)
    full = replay.init(example(), rows=3, num_envs=2)
    assert plain.sum_tree == () and plain.min_tree == () and not plain.prioritized
    assert full.prioritized
    for t in range(4):
        plain, full = add(plain, step_batch([t, -t])), add(full, step_batch([t, -t]))
    for a, b in zip(jax.tree.leaves(plain.data), jax.tree.leaves(full.data)):
        np.testing.assert_array_equal(a, b)
    assert int(plain.insert) == int(full.insert) and int(plain.size) == int(full.size)
    with pytest.raises(ValueError, match="no priorities"):
        replay.sample_proportional(plain, jax.random.key(0), 4, 0.5)
    with pytest.raises(ValueError, match="no priorities"):
        _ = plain.priority


def test_add_checks_the_number_of_env_copies():
    buf = replay.init(example(), rows=3, num_envs=2)
    with pytest.raises(AssertionError):
        replay.add(buf, step_batch([1.0, 2.0, 3.0]))


def test_new_transitions_get_the_max_priority():
    buf = replay.init(example(), rows=4, num_envs=2)
    buf = add(buf, step_batch([1.0, 2.0]))
    np.testing.assert_array_equal(buf.priority[0], [1.0, 1.0])  # initial max priority 1
    index = replay.SampleIndex(
        row=jnp.array([0]), env=jnp.array([1]), prob=jnp.ones(1), weight=jnp.ones(1)
    )
    buf = replay.update_priorities(buf, index, jnp.array([-5.0]), 0.01, 0.5)
    # p = |td| + eps = 5.01, stored as p^alpha = 5.01^0.5 = 2.23830
    np.testing.assert_allclose(buf.priority[0], [1.0, 2.23830], rtol=1e-5)
    np.testing.assert_allclose(buf.max_priority, 2.23830, rtol=1e-5)
    buf = add(buf, step_batch([3.0, 4.0]))
    np.testing.assert_allclose(buf.priority[1], [2.23830, 2.23830], rtol=1e-5)
    np.testing.assert_array_equal(buf.priority[2:], 0.0)  # empty slots


# --------------------------------------------------------------------------------- uniform
def test_uniform_sampling_covers_only_stored_transitions_uniformly():
    buf = replay.init(example(), rows=5, num_envs=2)
    buf = add(add(buf, step_batch([1.0, 2.0])), step_batch([3.0, 4.0]))
    index = jax.jit(replay.sample_uniform, static_argnums=2)(buf, jax.random.key(0), 40_000)
    assert set(np.unique(np.asarray(index.row))) == {0, 1}
    flat = np.asarray(index.row) * 2 + np.asarray(index.env)
    freq = np.bincount(flat, minlength=4) / flat.size
    np.testing.assert_allclose(freq, 0.25, atol=0.01)
    np.testing.assert_allclose(index.prob, 0.25)
    np.testing.assert_array_equal(index.weight, 1.0)


def test_sampling_uses_its_key():
    buf = add(replay.init(example(), 8, 2), step_batch([1.0, 2.0]))
    for _ in range(3):
        buf = add(buf, step_batch([1.0, 2.0]))
    a = replay.sample_uniform(buf, jax.random.key(0), 32)
    b = replay.sample_uniform(buf, jax.random.key(1), 32)
    a2 = replay.sample_uniform(buf, jax.random.key(0), 32)
    np.testing.assert_array_equal(a.row, a2.row)
    assert not np.array_equal(np.asarray(a.row) * 2 + a.env, np.asarray(b.row) * 2 + b.env)


# --------------------------------------------------------------------------------- prioritised
def test_proportional_probabilities_fixture():
    """Priorities p = [1, 2, 3] and an empty row: P = p^alpha / sum p^alpha."""
    buf = add(replay.init(example(), rows=2, num_envs=3), step_batch([1.0, 2.0, 3.0]))
    index = replay.SampleIndex(jnp.zeros(3, jnp.int32), jnp.arange(3), jnp.ones(3), jnp.ones(3))
    td = jnp.array([1.0, -2.0, 3.0])
    cases = {
        # alpha = 0.5: sqrt([1, 2, 3]) / (1 + 1.41421 + 1.73205)
        0.5: [0.24118, 0.34108, 0.41774],
        1.0: [1 / 6, 2 / 6, 3 / 6],
        0.0: [1 / 3, 1 / 3, 1 / 3],  # alpha = 0: uniform over the stored slots
    }
    for alpha, expected in cases.items():
        b = replay.update_priorities(buf, index, td, 0.0, alpha)
        idx = sample_proportional(b, jax.random.key(0), 3000, 0.0)
        np.testing.assert_array_equal(idx.row, 0)  # the empty row is never drawn
        np.testing.assert_allclose(idx.prob, np.array(expected)[np.asarray(idx.env)], atol=1e-5)
        assert set(np.unique(np.asarray(idx.env))) == {0, 1, 2}


def test_importance_weights_fixture():
    prob = jnp.array([0.1, 0.2, 0.7])
    n, beta = 3, 0.5
    # (N P)^-beta = [0.3, 0.6, 2.1]^-0.5 = [1.82574, 1.29099, 0.69007]; max is the first.
    raw = np.array([0.3, 0.6, 2.1]) ** -beta
    expected = raw / raw.max()
    np.testing.assert_allclose(expected, [1.0, 0.70711, 0.37796], atol=1e-5)  # the hand values
    w = replay.importance_weights(prob, jnp.min(prob), beta)
    np.testing.assert_allclose(w, expected, rtol=1e-5)
    # beta = 0: no correction; beta = 1: w proportional to 1 / P.
    np.testing.assert_allclose(replay.importance_weights(prob, 0.1, 0.0), 1.0)
    w = replay.importance_weights(prob, 0.1, 1.0)
    np.testing.assert_allclose(w, [1.0, 0.5, 1 / 7], rtol=1e-6)
    del n


def prioritized_buffer(alpha):
    """rows 3 x envs 2, two rows stored, priorities p = [[1, 2], [3, 4]] (row 2 empty),
    stored as p^alpha the way update_priorities writes them."""
    buf = replay.init(example(), rows=3, num_envs=2)
    buf = add(add(buf, step_batch([1.0, 2.0])), step_batch([3.0, 4.0]))
    index = replay.SampleIndex(
        row=jnp.array([0, 0, 1, 1]), env=jnp.array([0, 1, 0, 1]), prob=jnp.ones(4),
        weight=jnp.ones(4),
    )
    return replay.update_priorities(buf, index, jnp.array([1.0, -2.0, 3.0, -4.0]), 0.0, alpha)


def test_proportional_sampler_frequencies_probabilities_and_weights():
    alpha, beta = 0.7, 0.4
    buf = prioritized_buffer(alpha)
    rows, envs, probs, weights = [], [], [], []
    for i in range(40):
        idx = sample_proportional(buf, jax.random.key(i), 1000, beta)
        rows.append(idx.row)
        envs.append(idx.env)
        probs.append(idx.prob)
        weights.append(idx.weight)
    row, env = np.concatenate(rows), np.concatenate(envs)
    prob, weight = np.concatenate(probs), np.concatenate(weights)
    assert row.max() <= 1  # the empty row is never drawn
    flat = row * 2 + env
    p = np.array([1.0, 2.0, 3.0, 4.0]) ** alpha
    p = p / p.sum()
    freq = np.bincount(flat, minlength=4) / flat.size
    np.testing.assert_allclose(freq, p, atol=0.01)
    # Reported probability and weight of each draw: P(i) and (N P(i))^-beta / max_j.
    np.testing.assert_allclose(prob, p[flat], rtol=1e-5)
    w = (4 * p) ** -beta
    np.testing.assert_allclose(weight, (w / w.max())[flat], rtol=1e-5)


def test_proportional_sampler_is_stratified():
    """With equal priorities, one draw per equal-mass segment hits every slot exactly
    batch / N times."""
    buf = replay.init(example(), rows=4, num_envs=2)
    for t in range(4):
        buf = add(buf, step_batch([t, t]))
    idx = sample_proportional(buf, jax.random.key(3), 64, 0.4)
    counts = np.bincount(np.asarray(idx.row) * 2 + np.asarray(idx.env), minlength=8)
    np.testing.assert_array_equal(counts, 8)
    np.testing.assert_allclose(idx.weight, 1.0)


def test_tree_sampler_on_a_large_partly_filled_buffer():
    """370 rows x 3 envs = 1,110 slots (a 3-level tree: 1,120 / 64 / 32 entries), 300
    rows stored: every stored slot is drawn with its probability, empty ones never."""
    rng = np.random.default_rng(0)
    buf = replay.init(example(), rows=370, num_envs=3)
    assert [level.shape[0] for level in buf.sum_tree] == [1120, 64, 32]
    row = step_batch([1.0] * 3)
    fill = jax.jit(lambda b: jax.lax.fori_loop(0, 300, lambda t, b: replay.add(b, row), b))
    buf = fill(buf)
    n = 900
    stored = rng.uniform(0.1, 5.0, size=n).astype(np.float32)
    rows, envs = np.divmod(np.arange(n), 3)
    index = replay.SampleIndex(jnp.asarray(rows), jnp.asarray(envs), jnp.ones(n), jnp.ones(n))
    buf = replay.update_priorities(buf, index, jnp.asarray(stored), 0.0, 1.0)
    np.testing.assert_allclose(buf.priority[:300].reshape(-1), stored)
    np.testing.assert_array_equal(buf.priority[300:], 0.0)
    draws = []
    for i in range(25):
        idx = sample_proportional(buf, jax.random.key(i), 4096, 0.5)
        draws.append(np.asarray(idx.row) * 3 + np.asarray(idx.env))
        np.testing.assert_allclose(idx.prob, stored[draws[-1]] / stored.sum(), rtol=1e-4)
        w = (stored[draws[-1]] / stored.min()) ** -0.5  # (N P)^-beta / max
        np.testing.assert_allclose(idx.weight, w, rtol=1e-4)
    flat = np.concatenate(draws)
    assert flat.max() < n  # rows 300..369 are empty
    freq = np.bincount(flat, minlength=n) / flat.size
    p = stored / stored.sum()
    # Stratified draws vary less than independent ones: binomial bounds are loose enough.
    assert np.all(np.abs(freq - p) < 4 * np.sqrt(p / flat.size) + 1e-4)


# --------------------------------------------------------------------------------- n-step
def test_n_step_windows_stop_at_termination_truncation_and_the_newest_row():
    # Column 0: rewards 1..5, terminated at step 2, truncated at step 4.
    # Column 1: rewards 1 everywhere, no episode end.
    buf = filled(6, 2, [
        ([1, 2, 3, 4, 5], [0, 0, 1, 0, 0], [0, 0, 0, 0, 1]),
        ([1, 1, 1, 1, 1], [0, 0, 0, 0, 0], [0, 0, 0, 0, 0]),
    ])
    rows = jnp.array([0, 1, 2, 3, 4, 0, 3, 4])
    envs = jnp.array([0, 0, 0, 0, 0, 1, 1, 1])
    index = replay.SampleIndex(rows, envs, jnp.ones(8), jnp.ones(8))
    batch = n_step_batch(buf, index, 3, 0.5)
    expected_reward = [
        1 + 0.5 * 2 + 0.25 * 3,  # 0: window 0, 1, 2; terminated at 2
        2 + 0.5 * 3,  # 1: terminated at 2
        3,  # 2: terminated at once
        4 + 0.5 * 5,  # 3: truncated at 4
        5,  # 4: truncated at once (and the newest row)
        1 + 0.5 + 0.25,  # column 1 from 0: full window
        1 + 0.5,  # from 3: row 4 is the newest, the window stops there
        1,  # from 4: nothing after it yet
    ]
    expected_discount = [0, 0, 0, 0.25, 0.5, 0.125, 0.25, 0.5]
    expected_last = [2, 2, 2, 4, 4, 2, 4, 4]  # the row whose next_obs bootstraps
    np.testing.assert_allclose(batch.reward, expected_reward, rtol=1e-6)
    np.testing.assert_allclose(batch.discount, expected_discount, rtol=1e-6)
    # next_obs = 100 + reward of the bootstrap row; obs/action are the first step's.
    col_rewards = np.array([[1, 2, 3, 4, 5], [1, 1, 1, 1, 1]])
    boot = col_rewards[np.asarray(envs), expected_last]
    np.testing.assert_array_equal(batch.next_obs[:, 0], 100 + boot)
    np.testing.assert_array_equal(batch.obs[:, 0], col_rewards[np.asarray(envs), np.asarray(rows)])
    np.testing.assert_array_equal(batch.action, envs)


def test_n_step_window_respects_the_circular_wrap_around():
    # rows = 4 and 6 steps written: rows hold steps [4, 5, 2, 3], insert = 2.
    rewards = [1, 2, 3, 4, 5, 6]
    buf = filled(4, 1, [(rewards, [0] * 6, [0] * 6)])
    assert int(buf.insert) == 2
    index = replay.SampleIndex(
        jnp.array([2, 3, 0, 1]), jnp.zeros(4, jnp.int32), jnp.ones(4), jnp.ones(4)
    )
    batch = n_step_batch(buf, index, 3, 0.5)
    np.testing.assert_allclose(batch.reward, [
        3 + 0.5 * 4 + 0.25 * 5,  # step 2 (row 2) -> steps 3, 4 (rows 3, 0)
        4 + 0.5 * 5 + 0.25 * 6,  # step 3 -> 4, 5
        5 + 0.5 * 6,  # step 4 -> 5, then row 2 is older data: stop
        6,  # step 5 is the newest
    ])
    np.testing.assert_allclose(batch.discount, [0.125, 0.125, 0.25, 0.5])
    np.testing.assert_array_equal(batch.next_obs[:, 0], [105, 106, 106, 106])


def test_one_step_batch_is_the_plain_transition():
    buf = filled(4, 1, [([1, 2, 3], [0, 1, 0], [0, 0, 1])])
    index = replay.SampleIndex(
        jnp.array([0, 1, 2]), jnp.zeros(3, jnp.int32), jnp.ones(3), jnp.ones(3)
    )
    batch = n_step_batch(buf, index, 1, 0.9)
    np.testing.assert_allclose(batch.reward, [1, 2, 3])
    # Termination zeroes the bootstrap; truncation keeps gamma.
    np.testing.assert_allclose(batch.discount, [0.9, 0.0, 0.9], rtol=1e-6)
    np.testing.assert_array_equal(batch.next_obs[:, 0], [101, 102, 103])


# --------------------------------------------------------------------------------- storage
def test_storage_dtype_is_the_narrowest_exact_one():
    from jaxrl.envs import spaces

    assert replay.storage_dtype(spaces.Box(-1.0, 1.0, (4,))) is None  # floats stay
    assert replay.storage_dtype(spaces.Box(0.0, 1.0, (4,))) is None  # any fraction fits
    assert replay.storage_dtype(spaces.Box(False, True, (3,), jnp.bool_)) == np.bool_
    assert replay.storage_dtype(spaces.Box(0, 255, (3,), jnp.int32)) == np.uint8
    assert replay.storage_dtype(spaces.Box(-5, 100, (3,), jnp.int32)) == np.int8
    assert replay.storage_dtype(spaces.Box(0, 300, (3,), jnp.int32)) == np.uint16
    assert replay.storage_dtype(spaces.Box(0, 255, (3,), jnp.uint8)) is None  # already narrow
    assert replay.storage_dtype(spaces.Box(0, 2**31 - 1, (3,), jnp.int32)) is None
    assert replay.storage_dtype(spaces.Discrete(500)) == np.uint16  # Taxi's states
    assert replay.storage_dtype(spaces.Discrete(256)) == np.uint8
    assert replay.storage_dtype(spaces.Discrete(257)) == np.uint16
    assert replay.storage_dtype(spaces.Dict({"a": spaces.Discrete(3)})) is None


def test_narrow_storage_round_trips_exactly():
    """Taxi-like indices kept as uint16 come back as the int32 that went in, extremes too."""
    ex = example().replace(obs=jnp.zeros((), jnp.int32), next_obs=jnp.zeros((), jnp.int32))
    buf = replay.init(ex, 3, 2, np.uint16)
    assert buf.data.obs.dtype == jnp.uint16 and buf.obs_dtype == "int32"
    obs = jnp.array([0, 499], jnp.int32)
    row = replay.Transition(
        obs=obs, action=jnp.zeros(2, jnp.int32), reward=jnp.zeros(2), next_obs=obs[::-1],
        terminated=jnp.zeros(2, bool), truncated=jnp.zeros(2, bool),
    )
    buf = add(buf, row)
    index = replay.SampleIndex(
        row=jnp.zeros(2, jnp.int32), env=jnp.arange(2, dtype=jnp.int32),
        prob=jnp.ones(2), weight=jnp.ones(2),
    )
    batch = n_step_batch(buf, index, 1, 0.9)
    assert batch.obs.dtype == jnp.int32 and batch.next_obs.dtype == jnp.int32
    np.testing.assert_array_equal(batch.obs, [0, 499])
    np.testing.assert_array_equal(batch.next_obs, [499, 0])


def test_minatar_observations_are_stored_as_bool_and_round_trip():
    """A MinAtar game's 0/1 planes: the space says bool, the buffer keeps bool (a quarter
    of float32's bytes), DQN's buffer too, and sampling gives back what was stored."""
    from jaxrl import envs
    from jaxrl.algos import dqn

    env, params = envs.make("gymnax/Freeway-MinAtar")
    space = env.observation_space(params)
    assert replay.storage_dtype(space) == np.bool_

    # DQN's buffer for this env, by shapes only (no compile).
    agent = dqn.make(dqn.Config(num_envs=2, buffer_size=8, batch_size=4), env, params)
    state = jax.eval_shape(agent.init, jax.random.key(0))
    assert state.buffer.data.obs.dtype == jnp.bool_
    assert state.buffer.data.next_obs.dtype == jnp.bool_
    assert state.buffer.data.obs.shape == (4, 2, 10, 10, 7)

    # Real boards from 8 resets (the cars start at random places); a step would cost
    # seconds more of compile time and adds nothing to the storage question.
    @jax.jit
    def fill(key):
        obs, _ = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(key, 8), params)
        obs = obs.reshape(4, 2, *obs.shape[1:])  # 4 rows of 2 copies
        nxt = obs[::-1]
        ex = replay.Transition(obs=obs[0, 0], action=jnp.zeros((), jnp.int32),
                               reward=jnp.zeros(()), next_obs=obs[0, 0],
                               terminated=jnp.zeros((), bool), truncated=jnp.zeros((), bool))
        buf = replay.init(ex, 4, 2, replay.storage_dtype(space))
        for t in range(4):
            buf = replay.add(buf, replay.Transition(
                obs=obs[t], action=jnp.zeros(2, jnp.int32), reward=jnp.zeros(2),
                next_obs=nxt[t], terminated=jnp.zeros(2, bool), truncated=jnp.zeros(2, bool)))
        index = replay.SampleIndex(
            row=jnp.repeat(jnp.arange(4, dtype=jnp.int32), 2),
            env=jnp.tile(jnp.arange(2, dtype=jnp.int32), 4),
            prob=jnp.ones(8), weight=jnp.ones(8),
        )
        return buf, obs, nxt, replay.n_step_batch(buf, index, 1, 0.99)

    buf, obs, nxt, batch = fill(jax.random.key(3))
    assert buf.data.obs.dtype == jnp.bool_ and batch.obs.dtype == jnp.bool_
    np.testing.assert_array_equal(batch.obs, np.asarray(obs).reshape(8, 10, 10, 7))
    np.testing.assert_array_equal(batch.next_obs, np.asarray(nxt).reshape(8, 10, 10, 7))
    assert 0 < np.asarray(obs).sum() < np.asarray(obs).size  # real boards, not blanks
    assert len({np.asarray(o).tobytes() for o in np.asarray(obs).reshape(8, -1)}) > 1
