"""Mean-field, neighbourhood and independent Q-learning on the multi-agent worlds.

Fast tests: settings refused before compiling, the metrics contract, the two-team
plumbing, self-play's one network, head-to-head battles between hand-set policies, a
probe that the shared network learns the local reward, the driver (checkpoint and
exact resume). Slow tests (``-m slow``): the chapter's results with
8 seeds in one program each, and mean-field Q against independent Q in battle.
"""

import dataclasses
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxrl
from jaxrl import envs
from jaxrl.algos import get, marl


def _agent(algo, env_name, seeds_env=None, **kw):
    env, params = envs.make(env_name, **(seeds_env or {}))
    cfg = get(algo).config(**kw)
    return marl.make(cfg, env, params), env, params


def test_registry_names_defaults_and_presets():
    for name, env in (("mfq", "Ising2D-v0"), ("nq", "Ising1D-v0"), ("iql", "Ising2D-v0")):
        module = get(name)
        assert module.default_env == env and module.config().algorithm == name
        for preset in module.presets.values():
            preset.config.validate()
            assert preset.env in envs.registered(include_gymnax=False)


@pytest.mark.parametrize("bad", [{"algorithm": "vdn"}, {"opponent": "scripted"},
                                 {"num_envs": 0}, {"tau": 0.0}, {"gamma": 1.5},
                                 {"mf_iterations": -1}, {"total_timesteps": 10}])
def test_bad_settings_are_refused(bad):
    env, params = envs.make("Ising1D-v0")
    with pytest.raises(ValueError):
        marl.make(marl.Config(**bad), env, params)


def test_envs_that_do_not_fit_are_refused():
    with pytest.raises(ValueError, match="multi-agent"):
        marl.make(marl.Config(), *envs.make("CartPole-v1"))
    with pytest.raises(ValueError, match="2\\*\\*8"):  # 8 neighbours: 256 joint actions
        marl.make(marl.NQConfig(), *envs.make("Ising2D-v0"))
    with pytest.raises(ValueError, match="neighbour table"):
        marl.make(marl.NQConfig(), *envs.make("Battle-v0"))


@pytest.mark.slow  # compile-heavy: 30-50 s under load
def test_metrics_contract_and_keys():
    agent, env, params = _agent("mfq", "Ising2D-v0", {"height": 4, "width": 4,
                                                          "max_steps_in_episode": 5},
                                num_envs=4, num_steps=5, total_timesteps=60, hidden=(8,),
                                mf_iterations=1)
    state, m = jax.jit(agent.train)(jax.random.key(0))
    assert agent.num_updates == 3
    np.testing.assert_array_equal(m["env_steps"], [20, 40, 60])  # cumulative world steps
    np.testing.assert_array_equal(m["episodes"], [4, 4, 4])  # every copy ends every 5 steps
    np.testing.assert_array_equal(m["agent_steps"], [320, 320, 320])
    assert np.all(np.isfinite(m["episode_return"])) and np.all(np.isfinite(m["loss"]))
    assert np.all((m["aligned_fraction"] >= 0.5) & (m["aligned_fraction"] <= 1.0))
    # act takes one world's observations: one action per agent
    obs, _ = env.reset(jax.random.key(1), params)
    a = agent.act(state, obs, jax.random.key(2), True)
    assert a.shape == (16,) and a.dtype == jnp.int32


def test_the_neighbour_summary_is_what_the_network_sees():
    env, params = envs.make("Ising1D-v0", num_spins=4)
    agent = marl.make(marl.NQConfig(hidden=(8,), num_envs=2, num_steps=2, total_timesteps=4),
                      env, params)
    state = jax.eval_shape(agent.init, jax.random.key(0))
    first = jax.tree.leaves(state.params["team0"])
    # Input width: 4 observation values + 2**2 joint neighbour actions (nq), 2 for mfq.
    assert any(x.shape == (8, 8) for x in first)
    mfq = marl.make(marl.MFQConfig(hidden=(8,), num_envs=2, num_steps=2, total_timesteps=4),
                    env, params)
    assert any(x.shape == (6, 8)
               for x in jax.tree.leaves(jax.eval_shape(mfq.init, jax.random.key(0)).params))


def test_probe_the_shared_network_learns_the_local_reward():
    """gamma 0 and the book's reward timing: an agent's reward is a fixed function of
    what it observed and what it chose, ``2 (-1 + 0.9 matches)``, so the shared Q must
    reach it for every observation: 1.6 / -2 when both neighbours agree, -0.2 for
    either action when they differ."""
    agent, env, _params = _agent("iql", "Ising1D-v0", {"num_spins": 4, "reward_after_move": False,
                                                          "max_steps_in_episode": 1},
                                num_envs=8, num_steps=4, total_timesteps=8 * 4 * 150,
                                hidden=(16,), gamma=0.0, lr=1e-2)
    state, m = jax.jit(agent.train)(jax.random.key(3))
    # 1-step episodes: every copy ends one per step, and an episode's return is the mean
    # agent reward of its step, in [-2, 1.6]; random choices earn -0.2 on average, copying
    # agreeing neighbours more.
    np.testing.assert_array_equal(m["episodes"], 32)
    assert np.all((m["episode_return"] >= -2.0) & (m["episode_return"] <= 1.6))
    assert float(m["episode_return"][-20:].mean()) > float(m["episode_return"][:5].mean())
    # four worlds with chosen spins: agent 1 observes (left, right) = (0,0) (0,1) (1,0) (1,1)
    # (The action that loses 3.6 is seldom tried under tau 0.5: it need only be far lower.)
    for left, right in ((0, 0), (0, 1), (1, 0), (1, 1)):
        obs = env.observe(jnp.array([left, 0, right, 0]))
        q = np.asarray(agent.values(state, obs)[1])
        if left == right:
            assert q[left] == pytest.approx(1.6, abs=0.1) and q[1 - left] < -1.0
            assert int(agent.act(state, obs, jax.random.key(0), True)[1]) == left
        else:
            np.testing.assert_allclose(q, [-0.2, -0.2], atol=0.15)


@pytest.mark.slow  # compile-heavy: 30-50 s under load
def test_two_teams_learn_side_by_side_and_battles_are_counted():
    env, params = envs.make("Battle-v0", size=6, agents_per_team=2, view_radius=1,
                            max_steps_in_episode=6)
    cfg = marl.MFQConfig(opponent="iql", num_envs=2, num_steps=6, total_timesteps=24,
                         hidden=(8,), mf_iterations=1)
    agent = marl.make(cfg, env, params)
    state, m = jax.jit(agent.train)(jax.random.key(0))
    assert set(state.params) == {"team0", "team1"}
    for k in ("win_rate", "draw_rate", "opponent_return", "opponent_loss"):
        assert k in m
    np.testing.assert_array_equal(m["episodes"], [2, 2])
    assert np.all((m["win_rate"] >= 0) & (m["win_rate"] + m["draw_rate"] <= 1))
    # a random opponent has no parameters
    rnd = marl.make(dataclasses.replace(cfg, opponent="random"), env, params)
    assert jax.eval_shape(rnd.init, jax.random.key(0)).params["team1"] == {}
    # self-play: one network, trained on both colours' transitions (one loss)
    selfp = marl.make(dataclasses.replace(cfg, opponent="self"), env, params)
    state, m = jax.jit(selfp.train)(jax.random.key(0))
    assert state.params["team1"] == {}
    np.testing.assert_array_equal(m["opponent_loss"], m["loss"])
    assert np.all(np.isfinite(m["loss"]))


@pytest.mark.heavy
def test_self_play_drives_both_colours_with_one_network():
    """``opponent="self"``: one parameter set (team 1's is empty), and blue's Q-values are
    that network applied to blue's own observations (the colour-relative view)."""
    env, params = envs.make("Battle-v0", size=6, agents_per_team=2, view_radius=1)
    cfg = marl.IQLConfig(opponent="self", num_envs=2, num_steps=2, total_timesteps=4,
                         hidden=(8,))
    agent = marl.make(cfg, env, params)
    shapes = jax.eval_shape(agent.init, jax.random.key(0))
    assert shapes.params["team1"] == {} and shapes.opt_state["team1"] == {}
    obs, _ = env.reset(jax.random.key(1), params)
    net = marl.QNetwork((8,), 6)
    one = net.init(jax.random.key(2), obs, jnp.zeros((4, 0)))
    assert jax.tree.structure(one) == jax.tree.structure(shapes.params["team0"])
    q = jax.jit(lambda p, o: agent.values(types.SimpleNamespace(params=p), o))(
        {"team0": one, "team1": {}}, obs)  # values reads only the parameters
    by_hand = net.apply(one, obs, jnp.zeros((4, 0)))
    np.testing.assert_allclose(q, by_hand, rtol=1e-6, atol=1e-6)


def _fixture_policies(env):
    """Two hand-set iql networks (hidden (2,)): an ``attacker`` that always attacks and
    stays put, and a ``marcher`` that walks along its row toward the enemies' centroid
    column (the observation's column offset, feature ``obs_size - 3``) and never attacks."""
    net = marl.QNetwork((2,), 6)
    p = net.init(jax.random.key(0), jnp.zeros((1, env.obs_size)), jnp.zeros((1, 0)))
    zero = jax.tree.map(jnp.zeros_like, p)
    attacker = jax.tree.map(lambda x: x, zero)
    attacker["params"]["Dense_1"]["bias"] = zero["params"]["Dense_1"]["bias"].at[5].set(1.0)
    marcher = jax.tree.map(lambda x: x, zero)
    k0 = zero["params"]["Dense_0"]["kernel"].at[env.obs_size - 3].set(jnp.array([10.0, -10.0]))
    marcher["params"]["Dense_0"]["kernel"] = k0  # h0 = relu(10 dcol), h1 = relu(-10 dcol)
    k1 = zero["params"]["Dense_1"]["kernel"].at[0, 4].set(1.0).at[1, 3].set(1.0)
    marcher["params"]["Dense_1"]["kernel"] = k1  # right from h0, left from h1
    return attacker, marcher


@pytest.mark.heavy
def test_head_to_head_counts_both_colours_from_the_first_side():
    """A hand-set attacker against a hand-set marcher that walks into it and never
    hits back: the attacker loses nobody and wins nearly every battle whether it plays
    red or blue; swapping the arguments mirrors the record."""
    env, params = envs.make("Battle-v0", size=10, agents_per_team=5, max_steps_in_episode=40)
    attacker, marcher = _fixture_policies(env.unwrapped)
    cfg = marl.IQLConfig(hidden=(2,))
    h2h = jax.jit(lambda a, b, k: marl.head_to_head((cfg, a), (cfg, b), env, params, k, 20,
                                                     greedy=True))
    r = {k: np.asarray(v) for k, v in h2h(attacker, marcher, jax.random.key(0)).items()}
    np.testing.assert_allclose(r["wins"] + r["draws"] + r["losses"], 1.0, atol=1e-6)
    np.testing.assert_array_equal(r["lost"], [0.0, 0.0])  # the marcher never attacks
    assert np.all(r["killed"] > 0.5) and np.all(r["wins"] >= 0.9), r
    assert np.all(r["losses"] == 0.0)
    assert np.all(r["length"] <= 40.0)
    m = {k: np.asarray(v) for k, v in h2h(marcher, attacker, jax.random.key(0)).items()}
    np.testing.assert_array_equal(m["losses"], r["wins"][::-1])  # the same battles, mirrored
    np.testing.assert_array_equal(m["killed"], r["lost"][::-1])
    with pytest.raises(ValueError, match="hidden"):
        marl.head_to_head((cfg, attacker), (marl.IQLConfig(hidden=(3,)), marcher), env, params,
                          jax.random.key(0))


DRIVER = {"env": "Ising1D-v0", "seeds": 2, "env_options": {"num_spins": 4},
              "total_steps": 4 * 5 * 6, "num_envs": 4, "num_steps": 5, "hidden": (4,), "chunk_updates": 2,
              "mf_iterations": 1}


@pytest.mark.slow  # compile-heavy: 30-50 s under load
def test_trains_through_the_driver_and_resumes(tmp_path):
    stopped = jaxrl.train("mfq", out_dir=tmp_path / "part", stop_after=3, checkpoint_every=0,
                          **DRIVER)
    assert stopped.updates_done == 3
    resumed = jaxrl.resume(tmp_path / "part")
    assert resumed.updates_done == 6 and resumed.metrics["aligned_fraction"].shape == (2, 6)
    np.testing.assert_array_equal(resumed.metrics["env_steps"][:, -1], [120, 120])
    # jaxrl play draws the world: a GIF and strip of render_image frames, and the spins
    # as text before and after the policy acts
    import io

    from jaxrl.output.play import play

    shown = play(resumed, out=tmp_path / "play", max_steps=4, stream=io.StringIO())
    names = sorted(p.name for p in shown.files)
    assert names == ["play.gif", "play.png", "play.txt"]
    assert shown.text.startswith("start (aligned") and "after 4 steps" in shown.text


def test_spin_grids_picture(tmp_path):
    from jaxrl.envs.ising import IsingState
    from jaxrl.output.plotting import spin_grids

    env, _ = envs.make("Ising2D-v0", height=4, width=5)
    before = IsingState(jnp.arange(20) % 2, jnp.int32(0))
    after = IsingState(jnp.ones(20, jnp.int32), jnp.int32(0))
    fig = spin_grids(env, [before, after], ["before", "after"], tmp_path / "grids.png")
    assert (tmp_path / "grids.png").stat().st_size > 1000
    assert "aligned 100%" in fig.axes[1].get_title()
    with pytest.raises(ValueError):
        spin_grids(env, [before], ["a", "b"])


@pytest.mark.slow
def test_a_resumed_run_equals_one_never_stopped(tmp_path):
    full = jaxrl.train("mfq", out_dir=tmp_path / "full", **DRIVER)
    jaxrl.train("mfq", out_dir=tmp_path / "part", stop_after=3, checkpoint_every=0, **DRIVER)
    resumed = jaxrl.resume(tmp_path / "part")
    for k in ("episode_return", "aligned_fraction", "loss"):
        np.testing.assert_array_equal(resumed.metrics[k], full.metrics[k])
    assert (tmp_path / "part" / "metrics.csv").read_bytes() == \
        (tmp_path / "full" / "metrics.csv").read_bytes()


# ------------------------------------------------------------------------------ slow
def _ising_run(algo, env_name, total, seeds=8, steps_after=200, **env_options):
    env, params = envs.make(env_name, **env_options)
    agent = marl.make(get(algo).config(total_timesteps=total, hidden=(32,)), env, params)

    def one(key):
        k_train, k_eval = jax.random.split(key)
        state, m = agent.train(k_train)
        _, last = marl.spins_after(agent, state, env, params, k_eval, steps_after, 16, True)
        return m, jax.vmap(env.aligned_fraction)(last)

    return jax.jit(jax.vmap(one))(jax.random.split(jax.random.key(0), seeds))


@pytest.mark.slow
def test_nq_aligns_the_ring_on_every_seed():
    """1-D: neighbourhood Q, 8 seeds: >= 90 % of neighbour pairs aligned on every seed
    (the source: two aligned domains, 90 % on the 20-ring), 16 fresh rings per seed
    played 200 steps greedily."""
    _m, aligned = _ising_run("nq", "Ising1D-v0", 48_000)
    per_seed = np.asarray(aligned).mean(axis=1)
    full = float(np.mean(np.asarray(aligned) == 1.0))
    print(f"nq 1-D aligned per seed {np.round(per_seed, 3)}; rings fully aligned {full:.0%}")
    assert np.all(per_seed >= 0.9)


@pytest.mark.slow
def test_mfq_aligns_the_torus():
    """2-D: mean-field Q, 8 seeds: >= 97 % of spins with the majority, mean over seeds
    (the source: all but 3 of 100)."""
    _m, aligned = _ising_run("mfq", "Ising2D-v0", 32_000)
    mean = float(np.mean(aligned))
    print(f"mfq 2-D aligned {mean:.4f}; per seed {np.round(np.asarray(aligned).mean(1), 3)}")
    assert mean >= 0.97


@pytest.mark.slow
def test_a_trained_side_beats_a_random_one():
    """Mean-field Q (red) against uniformly random blue on a small field: red must win
    most battles, and ``battle_results`` must count them for red (a swapped label or
    a broken winner would show here)."""
    env, params = envs.make("Battle-v0", size=10, agents_per_team=5, max_steps_in_episode=60)
    cfg = dataclasses.replace(marl.PRESETS["battle"].config, opponent="random",
                              total_timesteps=40_000)
    agent = marl.make(cfg, env, params)

    def one(key):
        k_train, k_eval = jax.random.split(key)
        state, _ = agent.train(k_train)
        return marl.battle_results(agent, state, env, params, k_eval, 100)

    r = jax.jit(jax.vmap(one))(jax.random.split(jax.random.key(0), 2))
    print({k: np.round(np.asarray(v), 3) for k, v in r.items()})
    np.testing.assert_allclose(r["red_wins"] + r["blue_wins"] + r["draws"], 1.0, atol=1e-6)
    assert np.all(np.asarray(r["red_wins"]) > 0.8)

