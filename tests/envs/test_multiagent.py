"""Multi-agent worlds: hand-computed Ising rewards and mean fields, battle rules, the
agent-axis contract (auto-reset, spaces) and a JaxMARL-style loop over our worlds."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl import envs
from jaxrl.envs.battle import ATTACK, Battle, BattleParams, BattleState
from jaxrl.envs.ising import Ising1D, Ising2D, IsingState
from jaxrl.envs.multiagent import is_multiagent, to_jaxmarl

STAY, UP, DOWN, LEFT, RIGHT = 0, 1, 2, 3, 4


# ------------------------------------------------------------------------------ Ising 1-D
def test_ising1d_rewards_of_hand_set_spins():
    env = Ising1D(num_spins=5)
    spins = jnp.array([1, 0, 1, 1, 1])
    # agent 0: neighbours 4 (up) and 1 (down), one match -> 2 * (-1 + 0.9) = -0.2
    # agent 1 (down): neighbours 0 and 2 both up, no match -> -2
    # agent 2: neighbours 1 (down), 3 (up) -> -0.2; agents 3, 4: both match -> 1.6
    r = env.rewards(spins, env.default_params)
    np.testing.assert_allclose(r, [-0.2, -2.0, -0.2, 1.6, 1.6], atol=1e-6)
    # the book's (-1 + 0.9 m) * 2, with other constants through params
    p = env.default_params.replace(base=0.0, match=1.0, scale=1.0)
    np.testing.assert_allclose(env.rewards(spins, p), [1, 0, 1, 2, 2])


def test_ising1d_observation_is_the_neighbours_outer_product():
    env = Ising1D(num_spins=5)
    obs = env.observe(jnp.array([1, 0, 1, 1, 1]))
    # one-hot of 2 * left + right: agent 0 sees (left 1, right 0) -> 2; agent 1 (1, 1) -> 3;
    # agent 2 (0, 1) -> 1; agent 3 (1, 1) -> 3; agent 4 (left 1, right = agent 0 = 1) -> 3
    np.testing.assert_array_equal(np.argmax(obs, axis=1), [2, 3, 1, 3, 3])
    assert obs.shape == (5, 4) and float(obs.sum()) == 5.0
    left, right = jnp.eye(2)[1], jnp.eye(2)[0]
    np.testing.assert_array_equal(obs[0], jnp.outer(left, right).ravel())


def test_ising_step_is_synchronous_and_the_reward_timing_is_a_param():
    env = Ising1D(num_spins=6)
    state = IsingState(jnp.zeros(6, jnp.int32), jnp.int32(0))
    everyone_up = jnp.ones(6, jnp.int32)
    # After the move (default): every agent's new neighbours are up too.
    _, new, r, term, trunc, info = env.step_env(None, state, everyone_up, env.default_params)
    np.testing.assert_array_equal(new.spins, everyone_up)
    np.testing.assert_allclose(r, 1.6)
    assert float(info["aligned_fraction"]) == 1.0 and not bool(term) and not bool(trunc)
    # The book's timing: against the spins observed before the move (all down).
    _, _, r, *_ = env.step_env(None, state, everyone_up,
                               env.default_params.replace(reward_after_move=False))
    np.testing.assert_allclose(r, -2.0)


def test_ising1d_aligned_fraction_counts_neighbouring_pairs():
    env = Ising1D(num_spins=6)
    s = IsingState(jnp.array([0, 0, 0, 1, 1, 1]), jnp.int32(0))
    assert float(env.aligned_fraction(s)) == pytest.approx(4 / 6)  # two walls on the ring
    s = IsingState(jnp.array([0, 1, 0, 1, 0, 1]), jnp.int32(0))
    assert float(env.aligned_fraction(s)) == 0.0


# ------------------------------------------------------------------------------ Ising 2-D
def test_ising2d_mean_field_wraps_around_the_torus_edge():
    env = Ising2D(height=4, width=5)
    grid = np.zeros((4, 5), np.int32)
    # Around the corner (0, 0) the neighbours are (3,4) (3,0) (3,1) (0,4) (0,1) (1,4)
    # (1,0) (1,1). Three of them up, plus the corner itself (which must not count).
    for rc in [(3, 4), (0, 4), (1, 1), (0, 0)]:
        grid[rc] = 1
    spins = jnp.asarray(grid.ravel())
    mf = env.mean_field(spins)
    np.testing.assert_allclose(mf[0], [5 / 8, 3 / 8])
    # (2, 2) is inside: of its 8 neighbours only (1, 1) is up
    np.testing.assert_allclose(mf[2 * 5 + 2], [7 / 8, 1 / 8])
    # (3, 4), the opposite corner: neighbours (2,3) (2,4) (2,0) (3,3) (3,0) (0,3) (0,4) (0,0)
    np.testing.assert_allclose(mf[3 * 5 + 4], [6 / 8, 2 / 8])
    np.testing.assert_allclose(env.observe(spins), mf)
    # reward tanh(5 (mf[a] - 0.5)) with a = own spin
    r = env.rewards(spins, env.default_params)
    assert float(r[0]) == pytest.approx(np.tanh(5 * (3 / 8 - 0.5)), abs=1e-6)
    assert float(r[2 * 5 + 2]) == pytest.approx(np.tanh(5 * (7 / 8 - 0.5)), abs=1e-6)


def test_ising2d_aligned_fraction_is_the_majority_share():
    env = Ising2D(height=3, width=3)
    spins = jnp.array([1, 1, 1, 1, 1, 1, 0, 0, 0])
    assert float(env.aligned_fraction(IsingState(spins, jnp.int32(0)))) == pytest.approx(6 / 9)
    r = env.rewards(jnp.ones(9, jnp.int32), env.default_params)
    np.testing.assert_allclose(r, np.tanh(2.5), rtol=1e-6)


def test_bad_sizes_are_one_line_value_errors():
    for make in (lambda: Ising1D(num_spins=2), lambda: Ising2D(height=2),
                 lambda: Ising2D(width=1), lambda: Battle(size=20, agents_per_team=121),
                 lambda: Battle(size=4), lambda: Battle(view_radius=0)):
        with pytest.raises(ValueError) as e:
            make()
        assert "\n" not in str(e.value)
    with pytest.raises(ValueError):
        envs.make("Ising1D-v0", num_spins=2)
    env, _ = envs.make("Ising2D-v0", height=3, width=4)
    assert env.num_agents == 12


def test_ising_render_text_and_image():
    env = Ising2D(height=3, width=4)
    state = IsingState(jnp.array([1, 0, 0, 1] * 3), jnp.int32(0))
    assert env.render(state) == "↑↓↓↑\n↑↓↓↑\n↑↓↓↑"
    assert env.render(state, ascii=True).split("\n")[0] == "+--+"
    img = env.render_image(state, cell=10)
    assert img.shape == (30, 40, 3) and img.dtype == np.uint8
    assert not np.array_equal(img[5, 5], img[5, 15])  # up and down differ
    assert Ising1D(3).render(IsingState(jnp.array([1, 1, 0]), jnp.int32(0))) == "↑↑↓"
    with pytest.raises(ValueError):
        env.render(IsingState(jnp.zeros((2, 12), jnp.int32), jnp.zeros((2,), jnp.int32)))


# ------------------------------------------------------------------------------ contract
SMALL = {"Ising1D-v0": {}, "Ising2D-v0": {"height": 4, "width": 3},
         "Battle-v0": {"size": 6, "agents_per_team": 2, "view_radius": 1}}


@pytest.mark.parametrize("name", [  # Battle's (seconds of compiling) in CI's heavy stage
    pytest.param(n, marks=pytest.mark.heavy) if n.startswith("Battle") else n for n in SMALL])
def test_agent_axis_spaces_and_auto_reset(name):
    env, params = envs.make(name, max_steps_in_episode=2, **SMALL[name])
    assert is_multiagent(env)
    n = env.num_agents
    k0, k1, k2, k3 = jax.random.split(jax.random.key(0), 4)
    obs, state = env.reset(k0, params)
    assert obs.shape == (n, *env.observation_space(params).shape)
    assert bool(env.joint_observation_space(params).contains(obs))
    action = env.joint_action_space(params).sample(k1)
    assert action.shape == (n,)
    step = jax.jit(env.step)
    _obs1, state, reward, term, trunc, info = step(k2, state, action, params)
    assert reward.shape == (n,) and reward.dtype == jnp.float32
    assert term.shape == () and trunc.shape == () and not bool(trunc)
    obs2, state, reward, term, trunc, info = step(k3, state, action, params)
    assert bool(trunc)  # the cap: the world has already restarted
    assert int(jax.tree.leaves(state)[-1]) == 0 or int(state.time) == 0
    assert info["final_observation"].shape == obs2.shape
    # out-of-range actions are clipped per agent, as in the single-agent contract
    big = jnp.full((n,), 99)
    np.testing.assert_array_equal(env.clip_action(big, params), env.action_space().n - 1)


def test_vmapped_worlds_and_seeds():
    env, params = envs.make("Ising2D-v0")
    keys = jax.random.split(jax.random.key(1), 3 * 4).reshape(3, 4)
    obs, state = jax.vmap(jax.vmap(env.reset, in_axes=(0, None)), in_axes=(0, None))(keys, params)
    assert obs.shape == (3, 4, 100, 2) and state.spins.shape == (3, 4, 100)


# ------------------------------------------------------------------------------ battle
def _battle(pos, hp, alive=None, size=6, per_team=2, neighbourhood="view"):
    env = Battle(size=size, agents_per_team=per_team, view_radius=2, neighbourhood=neighbourhood)
    n = 2 * per_team
    state = BattleState(pos=jnp.asarray(pos, jnp.int32), hp=jnp.asarray(hp, jnp.float32),
                        alive=jnp.ones(n, bool) if alive is None else jnp.asarray(alive),
                        time=jnp.int32(0))
    return env, state


PARAMS = BattleParams(max_hp=10.0, damage=2.0, hp_recovery=0.0, attack_reward=0.2,
                      kill_reward=5.0, miss_reward=-0.05, death_reward=-1.0, step_reward=-0.01)


def test_battle_attack_damage_adds_up_and_rewards_hits():
    # red 0 at (2,2), red 1 at (1,3), blue 0 at (2,3) (adjacent to both), blue 1 far away
    env, s = _battle([[2, 2], [1, 3], [2, 3], [5, 5]], [10, 10, 10, 10])
    act = jnp.array([ATTACK, ATTACK, STAY, ATTACK])
    _, new, r, term, _trunc, _info = env.step_env(None, s, act, PARAMS)
    np.testing.assert_allclose(new.hp, [10, 10, 6, 10])  # two hits of 2 on blue 0
    np.testing.assert_allclose(r, [0.19, 0.19, -0.01, -0.06], atol=1e-6)  # blue 1 missed
    assert not bool(term) and bool(jnp.all(new.alive))


def test_battle_target_is_the_weakest_adjacent_enemy():
    # red 0 at (2,2) touches blue 0 at (2,3) (hp 9) and blue 1 at (3,3) (hp 4: diagonal)
    env, s = _battle([[2, 2], [0, 0], [2, 3], [3, 3]], [10, 10, 9, 4])
    _, new, *_ = env.step_env(None, s, jnp.array([ATTACK, STAY, STAY, STAY]), PARAMS)
    np.testing.assert_allclose(new.hp, [10, 10, 9, 2])


def test_battle_death_kill_reward_split_and_masking():
    env, s = _battle([[2, 2], [1, 3], [2, 3], [5, 5]], [10, 10, 3, 10])
    act = jnp.array([ATTACK, ATTACK, RIGHT, STAY])
    obs, new, r, term, _trunc, info = env.step_env(None, s, act, PARAMS)
    assert not bool(new.alive[2]) and float(new.hp[2]) == 0.0
    # each of the two killers: hit 0.2 + half of the kill reward 5 + step -0.01
    np.testing.assert_allclose(r[:2], [2.69, 2.69], atol=1e-6)
    assert float(r[2]) == pytest.approx(-1.01)  # death reward + step reward
    np.testing.assert_array_equal(new.pos[2], [2, 3])  # the dead do not move
    assert not np.any(np.asarray(obs[2]))  # and see nothing
    np.testing.assert_array_equal(info["kills"], [1, 0])
    np.testing.assert_array_equal(info["alive"], [True, True, False, True])
    assert not bool(term)
    # the dead earn nothing and their actions are ignored
    _, again, r2, *_ = env.step_env(None, new, jnp.array([STAY, STAY, ATTACK, STAY]), PARAMS)
    assert float(r2[2]) == 0.0 and float(again.hp[0]) == 10.0


def test_battle_ends_when_a_team_is_wiped_out():
    env, s = _battle([[2, 2], [0, 0], [2, 3], [4, 4]], [10, 10, 2, 10],
                     alive=[True, True, True, False])
    _, _new, _r, term, _trunc, info = env.step_env(None, s, jnp.array([ATTACK, 0, 0, 0]), PARAMS)
    assert bool(term) and int(info["winner"]) == 0
    np.testing.assert_array_equal(info["team_alive"], [2, 0])


def test_battle_moves_blocked_by_walls_bodies_and_collisions():
    # red 0 at (0,0) moves up (off the grid); red 1 at (2,2) moves right into blue 0 at (2,3)
    # (occupied: fails); blue 0 moves down to (3,3) (free: succeeds); blue 1 at (4,4) moves
    # left to (4,3)
    env, s = _battle([[0, 0], [2, 2], [2, 3], [4, 4]], [10, 10, 10, 10])
    _, new, *_ = env.step_env(None, s, jnp.array([UP, RIGHT, DOWN, LEFT]), PARAMS)
    np.testing.assert_array_equal(new.pos, [[0, 0], [2, 2], [3, 3], [4, 3]])
    # two agents into one cell: neither moves
    env, s = _battle([[1, 1], [1, 3], [4, 4], [5, 5]], [10, 10, 10, 10])
    _, new, *_ = env.step_env(None, s, jnp.array([RIGHT, LEFT, STAY, STAY]), PARAMS)
    np.testing.assert_array_equal(new.pos[:2], [[1, 1], [1, 3]])


def test_battle_observation_planes_are_egocentric_and_team_relative():
    env, s = _battle([[2, 2], [0, 0], [2, 3], [5, 5]], [10, 10, 5, 10])
    obs = env.observe(s, PARAMS)
    w = env.window  # 5 (radius 2)
    view = np.asarray(obs[:, : w * w * 5]).reshape(4, w, w, 5)
    # red 0 at the centre (2,2) of its own window; blue 0 one to the right, half health
    assert view[0, 2, 2, 1] == 1.0 and view[0, 2, 3, 3] == 1.0 and view[0, 2, 3, 4] == 0.5
    # blue 0 sees red 0 as its enemy, one to the left; itself as the teammate at the centre
    assert view[2, 2, 1, 3] == 1.0 and view[2, 2, 2, 1] == 1.0 and view[2, 2, 2, 2] == 0.5
    # red 1 at the corner (0,0): the two rows above and columns left are outside
    assert view[1, 0, 0, 0] == 1.0 and view[1, 2, 2, 0] == 0.0 and view[1, 1, 4, 0] == 1.0
    np.testing.assert_array_equal(env.alive_from_obs(obs), [True, True, True, True])
    assert bool(env.observation_space().contains(obs[0]))


def test_battle_neighbour_mean_is_over_living_teammates():
    env, s = _battle([[2, 2], [0, 0], [2, 3], [5, 5]], [10, 10, 10, 10],
                     alive=[True, True, True, False], neighbourhood="team")
    obs = env.observe(s, PARAMS)
    values = jnp.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [9.0, 9.0]])
    np.testing.assert_allclose(env.neighbour_mean(values, obs),
                               [[0.5, 0.5], [0.5, 0.5], [1.0, 1.0], [1.0, 1.0]])


def test_battle_view_neighbourhood_is_living_teammates_in_the_window():
    """``neighbourhood="view"`` (radius 2 here): teammates at Chebyshev distance <= 2,
    the agent itself and the dead excluded, zeros for an agent that sees none."""
    # red 0 (2,2), red 1 (0,0) (distance 2 from red 0), red 2 (5,5) (distance 3 from
    # red 0, 5 from red 1); blue 0 (2,3), blue 1 (4,4) (distance 2), blue 2 dead at (3,3)
    env, s = _battle([[2, 2], [0, 0], [5, 5], [2, 3], [4, 4], [3, 3]], [10] * 6,
                     alive=[True] * 5 + [False], per_team=3)
    obs = env.observe(s, PARAMS)
    np.testing.assert_array_equal(env.positions_from_obs(obs)[:5], np.asarray(s.pos)[:5])
    values = jnp.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [2.0, 0.0], [0.0, 2.0], [9.0, 9.0]])
    mean = np.asarray(env.neighbour_mean(values, obs))
    np.testing.assert_allclose(mean[:5], [[0, 1], [1, 0], [0, 0], [0, 2], [2, 0]])
    # one more red teammate at (1,1) near red 0 and red 1: they average two neighbours
    env, s = _battle([[2, 2], [0, 0], [1, 1], [5, 5], [5, 4], [4, 5]], [10] * 6, per_team=3)
    mean = np.asarray(env.neighbour_mean(values, env.observe(s, PARAMS)))
    np.testing.assert_allclose(mean[:3], [[0.5, 1.0], [1.0, 0.5], [0.5, 0.5]])
    with pytest.raises(ValueError, match="neighbourhood"):
        Battle(neighbourhood="radius")


def test_battle_render():
    env, s = _battle([[0, 0], [0, 1], [5, 5], [5, 4]], [10, 4, 10, 10],
                     alive=[True, True, True, False])
    text = env.render(s)
    assert text.split("\n")[0] == "Rr...." and text.split("\n")[5] == ".....B"
    assert env.render_image(s, cell=8).shape == (48, 48, 3)


# ------------------------------------------------------------------------------ JaxMARL
@pytest.mark.heavy
@pytest.mark.parametrize("name", ["Battle-v0", "Ising1D-v0"])
def test_a_jaxmarl_style_loop_steps_our_worlds(name):
    env_, params = envs.make(name, max_steps_in_episode=5, **SMALL[name])
    env = to_jaxmarl(env_, params)
    # As a JaxMARL user writes it: dicts keyed by agent name, per-agent action spaces.
    key = jax.random.key(0)
    key, key_reset = jax.random.split(key)
    obs, state = env.reset(key_reset)
    assert list(obs) == env.agents and len(env.agents) == env.num_agents
    step = jax.jit(env.step)
    ended = 0
    for _ in range(7):
        key, key_act, key_step = jax.random.split(key, 3)
        key_act = jax.random.split(key_act, env.num_agents)
        actions = {agent: env.action_space(agent).sample(key_act[i])
                   for i, agent in enumerate(env.agents)}
        before = state
        obs, state, reward, dones, _infos = step(key_step, state, actions)
        assert set(dones) == set(env.agents) | {"__all__"}
        assert set(reward) == set(env.agents) and reward[env.agents[0]].shape == ()
        assert env.observation_space(env.agents[0]).contains(obs[env.agents[-1]])
        ended += int(dones["__all__"])
        # the same step through the array API gives the same numbers
        a = jnp.stack([actions[n] for n in env.agents])
        o2, _, r2, *_ = env_.step(key_step, before, a, params)
        np.testing.assert_allclose(jnp.stack([reward[n] for n in env.agents]), r2)
        np.testing.assert_allclose(obs[env.agents[1]], o2[1])
    assert ended >= 1  # a 5-step cap ended an episode, and the loop went on (auto-reset)
    with pytest.raises(KeyError):
        env.step(key, state, {})


def test_jaxmarl_view_refuses_a_single_agent_env():
    env, params = envs.make("CartPole-v1")
    with pytest.raises(TypeError):
        to_jaxmarl(env, params)


@pytest.mark.heavy
@pytest.mark.parametrize("name", ["Battle-v0", "Ising1D-v0"])
def test_jaxmarls_own_wrappers_and_rollout_manager_run_our_worlds(name):
    """With jaxmarl installed the view is a JaxMARL ``MultiAgentEnv``: JaxMARL's
    ``LogWrapper`` counts our episodes' returns and its ``CTRolloutManager`` (the
    Q-learning baselines' batcher) steps a batch of our worlds."""
    pytest.importorskip("jaxmarl")
    from jaxmarl.environments.multi_agent_env import MultiAgentEnv
    from jaxmarl.wrappers.baselines import CTRolloutManager, LogWrapper

    env_, params = envs.make(name, max_steps_in_episode=5, **SMALL[name])
    env = to_jaxmarl(env_, params)
    assert isinstance(env, MultiAgentEnv) and env.name == f"jaxrl/{name}"
    assert list(env.observation_spaces) == env.agents == list(env_.unwrapped.agent_names)
    n = env.num_agents

    log = LogWrapper(env)
    key = jax.random.key(3)
    obs, state = log.reset(key)
    total = np.zeros(n)
    for _ in range(5):
        key, k_act, k_step = jax.random.split(key, 3)
        ks = jax.random.split(k_act, n)
        actions = {a: env.action_space(a).sample(ks[i]) for i, a in enumerate(env.agents)}
        obs, state, reward, dones, info = log.step(k_step, state, actions)
        total += np.asarray([reward[a] for a in env.agents])
    assert bool(dones["__all__"]) and np.asarray(info["returned_episode"]).all()
    np.testing.assert_allclose(info["returned_episode_returns"], total, rtol=1e-5)
    np.testing.assert_array_equal(info["returned_episode_lengths"], 5)

    manager = CTRolloutManager(env, batch_size=3)
    obs, states = manager.batch_reset(jax.random.key(4))
    dim = int(np.prod(env_.observation_space(params).shape))
    assert obs["__all__"].shape == (3, n * dim)  # the default global state: every obs
    assert obs[env.agents[0]].shape == (3, dim + n)  # flattened, plus the agent's one-hot
    keys = jax.random.split(jax.random.key(5), n)
    acts = {a: manager.batch_sample(keys[i], a) for i, a in enumerate(env.agents)}
    obs, states, reward, dones, _ = manager.batch_step(jax.random.key(6), states, acts)
    np.testing.assert_allclose(reward["__all__"],
                               np.sum([reward[a] for a in env.agents], axis=0), rtol=1e-5)
    assert dones["__all__"].shape == (3,)


def test_jaxmarl_reset_state_and_step_env():
    pytest.importorskip("jaxmarl")
    env_, params = envs.make("Ising1D-v0", max_steps_in_episode=2, **SMALL["Ising1D-v0"])
    env = to_jaxmarl(env_, params)
    obs0, s0 = env.reset(jax.random.key(0))
    _, s1 = env.reset(jax.random.key(1))
    ones = {a: jnp.int32(1) for a in env.agents}
    _, mid, *_ = env.step(jax.random.key(2), s1, ones, reset_state=s0)
    obs, end, _, dones, _ = env.step(jax.random.key(3), mid, ones, reset_state=s0)
    assert bool(dones["__all__"])  # the 2-step limit: the episode restarts at s0
    np.testing.assert_array_equal(end.spins, s0.spins)
    for a in env.agents:
        np.testing.assert_array_equal(obs[a], obs0[a])
    # step_env never resets: the transition's own last state
    obs_raw, raw, *_ = env.step_env(jax.random.key(3), mid, ones)
    np.testing.assert_array_equal(raw.spins, np.ones_like(s0.spins))
    assert env.get_avail_actions(raw)[env.agents[0]].tolist() == [True, True]
