"""Curiosity (jaxrl.algos.curiosity): ICM and RND maths on hand-made networks, the joint
objective's gradients, and PPO wrapped with each."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxrl import envs
from jaxrl.algos import curiosity, ppo
from jaxrl.core.networks import ObservationInput
from jaxrl.envs import spaces

# ----------------------------------------------------------------------------- fixtures
# ICM on 2-vectors, 2 actions, no hidden layers, weights set by hand:
#   encoder   phi(s) = s
#   forward   fwd(phi, a) = phi + [1, 0] * a          (kernel rows: phi0, phi1, a0, a1)
#   inverse   logits(phi, phi') = [0, phi'_0 - phi_0]  (rows: phi0, phi1, phi'0, phi'1)
OBS = jnp.asarray([[1.0, 2.0], [1.0, 2.0]])
ACTION = jnp.asarray([1, 0])
NEXT = jnp.asarray([[3.0, 2.0], [1.0, 5.0]])
# forward: [2, 2] vs [3, 2] -> 1;  [1, 2] vs [1, 5] -> 9
FWD = np.array([1.0, 9.0])
# inverse: logits [0, 2] with a = 1 -> log(1 + e^-2);  [0, 0] with a = 0 -> log 2
INV = np.array([math.log1p(math.exp(-2.0)), math.log(2.0)])


def _dense(kernel):
    k = jnp.asarray(kernel, jnp.float32)
    return {"params": {"Dense_0": {"kernel": k, "bias": jnp.zeros(k.shape[1])}}}


def _icm(beta=0.2, eta=1.0, normalize=False, lam=0.1):
    mod = curiosity.make("icm", ObservationInput((2,)), spaces.Discrete(2), hidden=(),
                         features=2, beta=beta, eta=eta, lam=lam, normalize=normalize)
    state = mod.init(jax.random.key(0))
    params = {
        "encoder": _dense(np.eye(2)),
        "forward": _dense([[1, 0], [0, 1], [0, 0], [1, 0]]),
        "inverse": _dense([[0, -1], [0, 0], [0, 1], [0, 0]]),
    }
    return mod, state.replace(params=params, opt_state=mod.optimizer.init(params))


def test_error_functions_by_hand():
    pred, target = jnp.asarray([[1.0, 2.0, 3.0]]), jnp.asarray([[1.0, 0.0, 0.0]])
    assert curiosity.forward_error(pred, target).tolist() == [13.0]
    logits = jnp.asarray([[0.0, math.log(3.0)]])
    got = float(curiosity.inverse_error(logits, jnp.asarray([1]))[0])
    assert got == pytest.approx(math.log(4.0 / 3.0), rel=1e-6)
    # The book's defect (softmax, then a cross-entropy applying another) would give this:
    twice = -math.log(math.exp(0.75) / (math.exp(0.25) + math.exp(0.75)))
    assert abs(got - twice) > 0.1


def test_icm_losses_on_hand_made_encodings():
    mod, st = _icm(beta=0.2)
    err = mod.errors(st.params, st.target, OBS, ACTION, NEXT)
    np.testing.assert_allclose(err, FWD, rtol=1e-6)
    loss, terms = mod.loss(st.params, st.target, OBS, ACTION, NEXT)
    np.testing.assert_allclose(terms["forward_loss"], FWD.mean(), rtol=1e-6)
    np.testing.assert_allclose(terms["inverse_loss"], INV.mean(), rtol=1e-6)
    np.testing.assert_allclose(loss, np.mean(0.2 * FWD + 0.8 * INV), rtol=1e-6)


def test_intrinsic_reward_is_scaled_forward_error():
    mod, st = _icm(eta=0.5, normalize=False)
    r, st2 = mod.intrinsic_reward(st, OBS, ACTION, NEXT)
    np.testing.assert_allclose(r, 0.5 * FWD, rtol=1e-6)
    # Normalised: over the std of the errors merged into the running statistics first.
    mod, st = _icm(eta=0.5, normalize=True)
    r, st2 = mod.intrinsic_reward(st, OBS, ACTION, NEXT)
    c0, n = 1e-4, 2.0  # RunningStats starts at mean 0, var 1, count 1e-4
    mean_b, var_b = FWD.mean(), FWD.var()
    total = c0 + n
    var = (1.0 * c0 + var_b * n + mean_b**2 * c0 * n / total) / total
    np.testing.assert_allclose(r, 0.5 * FWD / np.sqrt(var + 1e-8), rtol=1e-5)
    np.testing.assert_allclose(st2.stats.var, var, rtol=1e-5)
    # The reward is data: no gradient reaches the module through it.
    g = jax.grad(lambda p: mod.intrinsic_reward(st.replace(params=p), OBS, ACTION, NEXT)[0].sum())(
        st.params)
    assert all(float(jnp.abs(x).max()) == 0.0 for x in jax.tree.leaves(g))


def _norm(tree):
    return max(float(jnp.abs(x).max()) for x in jax.tree.leaves(tree))


def test_icm_encoder_learns_only_from_the_inverse_model():
    mod, st = _icm(beta=1.0)  # forward loss only
    g = jax.grad(lambda p: mod.loss(p, None, OBS, ACTION, NEXT)[0])(st.params)
    assert _norm(g["encoder"]) == 0.0 and _norm(g["inverse"]) == 0.0 and _norm(g["forward"]) > 0
    mod, st = _icm(beta=0.0)  # inverse loss only
    g = jax.grad(lambda p: mod.loss(p, None, OBS, ACTION, NEXT)[0])(st.params)
    assert _norm(g["forward"]) == 0.0 and _norm(g["encoder"]) > 0 and _norm(g["inverse"]) > 0


def test_joint_step_keeps_the_policy_and_curiosity_gradients_apart():
    lam = 0.1
    mod, st = _icm(lam=lam)
    policy = {"w": jnp.asarray([1.0, -2.0, 3.0])}

    def policy_loss(p, scale):
        return scale * jnp.sum(p["w"] ** 2), jnp.float32(7.0)

    g_policy, st2, (aux, terms) = mod.joint_step(policy_loss, policy, 2.0, st,
                                                 (OBS, ACTION, NEXT))
    # The policy's gradient is exactly lam * its own loss's gradient: nothing from curiosity.
    np.testing.assert_allclose(g_policy["w"], lam * 2.0 * 2.0 * policy["w"], rtol=1e-6)
    assert float(aux) == 7.0 and set(terms) == {"forward_loss", "inverse_loss"}
    # Curiosity's loss alone, differentiated w.r.t. the policy: zero everywhere.
    zero, _, _ = mod.joint_step(lambda p, b: (0.0 * jnp.sum(p["w"]), None), policy, None, st,
                                (OBS, ACTION, NEXT))
    assert _norm(zero) == 0.0
    # The module took one Adam step on its own loss's gradient, untouched by the policy's.
    g_cur = jax.grad(lambda p: mod.loss(p, None, OBS, ACTION, NEXT)[0])(st.params)
    upd, _ = mod.optimizer.update(g_cur, mod.optimizer.init(st.params), st.params)
    want = optax.apply_updates(st.params, upd)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6), st2.params, want)


def test_rnd_error_and_fixed_target():
    mod = curiosity.make("rnd", ObservationInput((2,)), spaces.Discrete(2), hidden=(4,),
                         features=3, normalize=False, eta=2.0)
    st = mod.init(jax.random.key(3))
    assert "predictor" in st.params and st.target is not None
    err = mod.errors(st.params, st.target, OBS, ACTION, NEXT)
    from jaxrl.core.networks import MLP
    f = MLP((4, 4), 3, "relu").apply(st.params["predictor"], NEXT)
    g = MLP((4,), 3, "relu").apply(st.target, NEXT)
    np.testing.assert_allclose(err, np.sum((np.asarray(f) - np.asarray(g)) ** 2, -1), rtol=1e-5)
    np.testing.assert_allclose(mod.intrinsic_reward(st, OBS, ACTION, NEXT)[0], 2.0 * err,
                               rtol=1e-6)
    # The target is no trainable parameter: no gradient for it.
    g_t = jax.grad(lambda t: mod.loss(st.params, t, OBS, ACTION, NEXT)[0])(st.target)
    assert _norm(g_t) == 0.0


def test_rnd_target_unchanged_by_joint_steps():
    mod = curiosity.make("rnd", ObservationInput((2,)), spaces.Discrete(2), hidden=(4,),
                         features=3)
    st0 = st = mod.init(jax.random.key(4))
    step = jax.jit(lambda st: mod.joint_step(
        lambda p, b: (jnp.sum(p ** 2), None), jnp.ones(2), None, st, (OBS, ACTION, NEXT))[1])
    for _ in range(3):
        st = step(st)
    assert all(jax.tree.leaves(jax.tree.map(lambda a, b: bool(jnp.all(a == b)),
                                            st0.target, st.target)))
    assert all(jax.tree.leaves(jax.tree.map(lambda a, b: bool(jnp.any(a != b)),
                                            st0.params, st.params)))


def test_intrinsic_critic_loss_by_hand():
    """With ``intrinsic_value``: V_int in params["value"], its loss 0.5 mean (V - G)^2 added
    to the module's own (hand-made: V = 0 everywhere), and no gradient into the learner."""
    mod = curiosity.make("rnd", ObservationInput((2,)), spaces.Discrete(2), hidden=(4,),
                         features=3, intrinsic_value=True)
    st = mod.init(jax.random.key(5))
    assert set(st.params) == {"predictor", "value"}
    zero_v = {**st.params, "value": jax.tree.map(jnp.zeros_like, st.params["value"])}
    assert mod.value(zero_v, OBS).tolist() == [0.0, 0.0]
    base, _ = mod.loss(zero_v, st.target, OBS, ACTION, NEXT)
    ret = jnp.asarray([1.0, 3.0])
    total, terms = mod.loss(zero_v, st.target, OBS, ACTION, NEXT, ret)
    assert float(terms["intrinsic_value_loss"]) == pytest.approx(0.5 * (1 + 9) / 2)
    assert float(total) == pytest.approx(float(base) + 2.5, rel=1e-6)
    g_learner, st2, (_, terms) = mod.joint_step(
        lambda p, b: (jnp.sum(p ** 2), None), jnp.ones(2), None, st, (OBS, ACTION, NEXT, ret))
    assert g_learner.tolist() == pytest.approx([0.2, 0.2])  # lam * d(sum p^2) only
    assert "intrinsic_value_loss" in terms
    assert bool(jnp.any(st2.params["value"]["params"]["Dense_0"]["kernel"]
                        != st.params["value"]["params"]["Dense_0"]["kernel"]))
    assert curiosity.make("icm", ObservationInput((2,)), spaces.Discrete(2)).value is None


def test_observation_normalisation_by_hand():
    """``normalize_obs``: the networks read (obs - mean) / std clipped to [-5, 5], and the
    statistics merge each batch's next observations before the bonus is computed."""
    from jaxrl.algos.ppo import RunningStats

    mod = curiosity.make("rnd", ObservationInput((2,)), spaces.Discrete(2), hidden=(4,),
                         features=3, normalize_obs=True)
    st = mod.init(jax.random.key(6))
    st = st.replace(obs_stats=RunningStats(jnp.asarray([1.0, 0.0]), jnp.asarray([4.0, 1e-4]),
                                           jnp.asarray(10.0)))
    got = mod.prep(st, jnp.asarray([[3.0, 0.001], [1.0, 1.0]]))
    np.testing.assert_allclose(got, [[1.0, 0.1], [0.0, 5.0]], rtol=1e-3)  # 100 -> clip 5
    fresh = mod.init(jax.random.key(6))
    _, st2 = mod.intrinsic_reward(fresh, OBS, ACTION, NEXT)
    # Two observations merged into the prior (mean 0, var 1, count 1e-4): mean ~ NEXT's mean.
    assert st2.obs_stats.mean.tolist() == pytest.approx([2.0, 3.5], rel=1e-3)
    assert float(st2.obs_stats.count) == pytest.approx(2.0001)
    with pytest.raises(ValueError, match="normalize_obs needs float observations"):
        curiosity.make("rnd", ObservationInput((), 5), spaces.Discrete(2), normalize_obs=True)


def test_gymnax_constructor_options():
    """``envs.make("gymnax/DeepSea-bsuite", size=20)``: a constructor option of the gymnax
    class; params fields still work beside it; an unknown name is one clear error."""
    env, params = envs.make("gymnax/DeepSea-bsuite", size=20, deterministic=True)
    assert env.observation_space(params).shape == (20, 20) and bool(params.deterministic)
    assert env.observation_space(params).shape == env.reset(jax.random.key(0), params)[0].shape
    with pytest.raises(ValueError, match="no option 'sise'.*Did you mean: size"):
        envs.make("gymnax/DeepSea-bsuite", sise=20)


def test_bad_settings_refused():
    with pytest.raises(ValueError, match="curiosity 'xyz' unknown"):
        ppo.Config(curiosity="xyz").validate()
    with pytest.raises(ValueError, match=r"ppo\.Config\.curiosity\.beta must be finite and in"):
        ppo.Config(curiosity={"kind": "icm", "beta": 1.5}).validate()
    with pytest.raises(ValueError, match="curiosity.intrinsic_gamma"):
        ppo.Config(curiosity=ppo.CuriosityConfig("rnd", intrinsic_critic=True,
                                                 intrinsic_gamma=1.5)).validate()
    with pytest.raises(ValueError, match="curiosity.features"):
        ppo.Config(curiosity={"kind": "icm", "features": 0}).validate()
    with pytest.raises(ValueError, match="curiosity must be a jaxrl.algos.ppo.CuriosityConfig"):
        ppo.Config(curiosity=3).validate()
    with pytest.raises(ValueError, match="needs a single Discrete action"):
        ppo.make(ppo.Config(curiosity="icm"), *envs.make("gymnax/Pendulum-v1"))


def test_coverage_maps():
    env, params = envs.make("MountainCar-v0")
    cov = curiosity.coverage(env, params)
    assert cov.num_cells == 256 and cov.position
    assert int(cov.cell(jnp.asarray([-1.2, -0.07]))) == 0
    assert int(cov.cell(jnp.asarray([0.6, 0.07]))) == 255
    assert int(cov.cell(jnp.asarray([-1.19, 0.069]))) == 15
    assert curiosity.coverage(*envs.make("CartPole-v1")) is None  # unbounded observations
    maze, mp = envs.make("Maze-v0", size=7)
    cov = curiosity.coverage(maze, mp)
    assert cov.num_cells == 49 and not cov.position


def test_exploration_metrics_by_hand():
    maze, mp = envs.make("Maze-v0", size=7)
    cov = curiosity.coverage(maze, mp)
    _, s = maze.reset(jax.random.key(0), mp)
    at = lambda r, c: maze.observe(s.replace(player=jnp.asarray([r, c])))
    raw = jnp.stack([jnp.stack([at(0, 0), at(0, 1)]), jnp.stack([at(0, 1), at(1, 1)])])  # [2, 2]
    info = {"episode_done": jnp.asarray([[False, True], [True, False]]),
            "episode_return": jnp.asarray([[9.0, 0.5], [0.25, 9.0]])}
    st0 = curiosity.ExplorationState.create(49)
    st, m = curiosity.exploration_metrics(cov, st0, raw, info)
    assert int(m["visited_cells"]) == 3 and int(m["rollout_cells"]) == 3
    assert float(m["best_return"]) == 0.5
    assert st.last[0] == 1 and st.last[1] == 2 and st.last[8] == 1
    assert np.array_equal(st.first, st.last)
    st, m = curiosity.exploration_metrics(cov, st, raw[:1], {k: v[:1] * 0 for k, v in info.items()})
    assert int(m["visited_cells"]) == 3 and int(m["rollout_cells"]) == 2
    assert np.isnan(float(m["best_return"]))
    assert st.total[1] == 3 and st.last[0] == 1 and st.last[8] == 0
    assert st.first[8] == 1  # the first rollout's counts stay


# ------------------------------------------------------------ the non-episodic intrinsic GAE
def test_non_episodic_gae_by_hand():
    """gamma = lam = 0.5 (gamma * lam = 0.25), one env, T = 3, an episode ending at t = 1
    (terminated; V(s'_1) = 4 is the final observation's value, not v_2 = 1).

    intrinsic, never cut:  delta = [1 + .5 - 1, 2 + .5*4 - 1, 3 + .5*2 - 1] = [.5, 3, 3]
        A_2 = 3, A_1 = 3 + .25 * 3 = 3.75, A_0 = .5 + .25 * 3.75 = 1.4375
    extrinsic (r = [0, 1, 0]), cut at the termination:
        delta = [-.5, 1 + 0 - 1, 0 + .5*2 - 1] = [-.5, 0, 0];  A = [-.5, 0, 0]
    (cut like the extrinsic one, the intrinsic would be A_1 = 3, A_0 = 1.25)."""
    from jaxrl.core.returns import gae

    v, nv = jnp.asarray([[1.0], [1.0], [1.0]]), jnp.asarray([[1.0], [4.0], [2.0]])
    got = curiosity.non_episodic_gae(jnp.asarray([[1.0], [2.0], [3.0]]), v, nv, 0.5, 0.5)
    np.testing.assert_allclose(got[:, 0], [1.4375, 3.75, 3.0], rtol=1e-6)
    term = jnp.asarray([False, True, False])
    ext = gae(jnp.asarray([0.0, 1.0, 0.0]), v[:, 0], nv[:, 0], term, jnp.zeros(3, bool), 0.5, 0.5)
    np.testing.assert_allclose(ext, [-0.5, 0.0, 0.0], atol=1e-7)


def _recursion(delta, done, gl):
    """A_t = delta_t + gl * (1 - done_t) * A_{t+1}, over [T] (the tests' own loop)."""
    out, nxt = np.zeros_like(delta), 0.0
    for t in range(len(delta) - 1, -1, -1):
        nxt = delta[t] + gl * (1.0 - done[t]) * nxt
        out[t] = nxt
    return out


# ------------------------------------------------------------------ PPO wrapped (compiled once)
def _ppo(kind, spy=False, **extra):
    """One seed, two updates of 4 x 16 steps, one program (the default suite's budget is
    small); 20-step episodes, so the second rollout holds episode ends. ``spy``: record
    PPO's extrinsic GAE (``gae`` as the agent module calls it, per env) and intrinsic GAE
    (``curiosity.non_episodic_gae``) inputs and outputs as the program runs."""
    env, params = envs.make("Maze-v0", size=7, max_steps_in_episode=20)
    cfg = ppo.Config(num_envs=4, num_steps=16, minibatches=1, epochs=1, total_timesteps=128,
                     actor_hidden=(16,), critic_hidden=(16,), torso="mlp",
                     curiosity={"kind": kind, "hidden": (16,), "features": 8,
                                "extrinsic_coef": 0.0, **extra})
    seen = {"ext": [], "int": []}
    with pytest.MonkeyPatch.context() as mp:
        if spy:
            def record(name, fn):
                def wrapped(*args):
                    out = fn(*args)
                    jax.debug.callback(lambda *a: seen[name].append([np.asarray(x) for x in a]),
                                       *args[:5], out)
                    return out
                return wrapped
            from jaxrl.algos.ppo import agent as ppo_agent

            mp.setattr(ppo_agent, "gae", record("ext", ppo_agent.gae))
            mp.setattr(curiosity, "non_episodic_gae",
                       record("int", curiosity.non_episodic_gae))
        agent = ppo.make(cfg, env, params)
        init, (final, metrics) = jax.jit(lambda k: (agent.init(k), agent.train(k)))(
            jax.random.key(0))
        jax.block_until_ready(metrics)
    return init, final, {k: np.asarray(v) for k, v in metrics.items()}, seen


@pytest.fixture(scope="module")
def icm_run():  # ICM, non-episodic with its own critic, the GAEs recorded
    return _ppo("icm", spy=True, intrinsic_critic=True, intrinsic_gamma=0.9)  # group fields


@pytest.fixture(scope="module")
def rnd_run():  # RND, the bonus added to the reward, whitened input (slow tests only)
    return _ppo("rnd", normalize_obs=True)


@pytest.mark.heavy
def test_ppo_intrinsic_gae_runs_through_episode_ends(icm_run):
    """Inside PPO's update: the extrinsic GAE stops at the rollout's episode ends, the
    intrinsic one (``intrinsic_gamma`` 0.9) runs on through them; both checked against
    the tests' own recursion on the values PPO computed."""
    *_, m, seen = icm_run
    gl_ext, gl_int = 0.99 * 0.95, 0.9 * 0.95
    assert len(seen["ext"]) == 2 * 4 and len(seen["int"]) == 2  # per env / per rollout
    dones = []
    for r, v, nv, term, trunc, out in seen["ext"]:
        done = (term | trunc).astype(np.float64)
        delta = r + 0.99 * (1.0 - term) * nv - v
        np.testing.assert_allclose(out, _recursion(delta, done, gl_ext), rtol=1e-4, atol=1e-5)
        dones.append(done)
    dones = np.stack(dones).reshape(2, 4, 16)  # [update, env, T]
    assert dones[1].sum() >= 4 and m["episodes"][1] >= 4  # every copy ended an episode
    for u, (bonus, v, nv, g, lam, out) in enumerate(seen["int"]):
        assert float(g) == pytest.approx(0.9) and float(lam) == pytest.approx(0.95)
        for e in range(4):
            delta = bonus[:, e] + 0.9 * nv[:, e] - v[:, e]
            np.testing.assert_allclose(out[:, e], _recursion(delta, np.zeros(16), gl_int),
                                       rtol=1e-4, atol=1e-5)
            if dones[u, e, :-1].any():  # an end inside the rollout: a cut would differ
                cut = _recursion(delta, dones[u, e], gl_int)
                assert np.max(np.abs(out[:, e] - cut)) > 1e-4


def test_ppo_icm_metrics(icm_run):
    init, final, m, _ = icm_run
    for key in ("intrinsic_reward", "forward_loss", "inverse_loss", "visited_cells",
                "rollout_cells", "best_return", "policy_loss", "intrinsic_value_loss"):
        assert key in m and m[key].shape == (2,), key
    assert np.all(np.isfinite(m["intrinsic_reward"])) and np.all(m["intrinsic_reward"] > 0)
    assert np.all(np.diff(m["visited_cells"]) >= 0)
    assert np.all(m["visited_cells"] >= m["rollout_cells"])
    assert int(final.exploration.total.sum()) == 2 * 64  # every acted-on step counted
    assert int(final.exploration.last.sum()) == 64
    changed = jax.tree.map(lambda a, b: bool(jnp.any(a != b)), init.curiosity.params,
                           final.curiosity.params)
    assert all(jax.tree.leaves(changed))


@pytest.mark.slow  # a second PPO compile; the module-level test below runs by default
def test_ppo_rnd_target_never_changes(rnd_run):
    init, final, m, _ = rnd_run
    assert "rnd_loss" in m and np.all(np.isfinite(m["rnd_loss"]))
    assert np.all(m["intrinsic_reward"] > 0)
    same = jax.tree.map(lambda a, b: bool(jnp.all(a == b)), init.curiosity.target,
                        final.curiosity.target)
    assert all(jax.tree.leaves(same))
    moved = jax.tree.map(lambda a, b: bool(jnp.any(a != b)), init.curiosity.params,
                         final.curiosity.params)
    assert all(jax.tree.leaves(moved))


def test_visitation_maps_png(tmp_path, icm_run):
    from jaxrl.output.plotting import visitation_maps

    maze, _ = envs.make("Maze-v0", size=7)
    _, final, _, _ = icm_run
    path = tmp_path / "visits.png"
    visitation_maps(maze.walls, [final.exploration.last, final.exploration.total],
                    ["last rollout", "whole run"], path, goal=maze.goal)
    assert path.stat().st_size > 2000


@pytest.mark.slow
def test_pure_curiosity_drives_the_car_up_the_hill():
    """No extrinsic reward at all: ICM's bonus alone takes the car to the flag (16 copies
    under random actions get no further than about -0.1 in 200k steps: benchmarks/
    curiosity.py), on every one of 4 seeds within 60k steps."""
    env, params = envs.make("MountainCar-v0", sparse=True)
    cfg = ppo.PRESETS["mountaincar_sparse_icm"].config.replace(
        total_timesteps=61_440, curiosity={"extrinsic_coef": 0.0, "eta": 1.0})
    agent = ppo.make(cfg, env, params)
    _, m = jax.jit(jax.vmap(agent.train))(jax.random.split(jax.random.key(0), 4))
    furthest = np.asarray(m["furthest_position"]).max(axis=1)
    assert np.all(furthest >= 0.45), furthest
    assert np.all(np.asarray(m["visited_cells"])[:, -1] >= 120)  # random actions: about 66


@pytest.mark.slow
def test_rnd_finds_the_far_goal_of_the_tree_maze():
    """The ``maze_rnd`` preset (non-episodic bonus, its own critic, whitened input) on its
    15x15 tree maze, where uniform random actions never reach the goal in 200 steps and
    plain PPO with the same settings reached it on 0 of 8 seeds (benchmarks/curiosity.py):
    RND reaches the goal on at least 3 of 4 seeds within the preset's budget."""
    preset = ppo.PRESETS["maze_rnd"]
    env, params = envs.make(preset.env, **preset.env_options)
    agent = ppo.make(preset.config, env, params)
    _, m = jax.jit(jax.vmap(agent.train))(jax.random.split(jax.random.key(0), 4))
    best = np.max(np.nan_to_num(np.asarray(m["best_return"]), nan=-1.0), axis=1)
    assert np.sum(best > 0.5) >= 3, best  # an episode that ended at the goal (return 1)


# ------------------------------------------------------------------ DQN wrapped (the book's)
@pytest.mark.heavy
def test_dqn_with_icm():
    """``dqn.Config(curiosity="icm")``: every stored reward is ``extrinsic_coef * r + r_int``
    (here the maze pays nothing and extrinsic_coef is 0: the stored rewards are the bonus),
    the module learns from every step, the Q-network starts where plain DQN's does (its own
    key), and the exploration metrics come per update."""
    from jaxrl.algos import dqn

    env, params = envs.make("Maze-v0", size=7, max_steps_in_episode=20)
    base = dqn.Config(num_envs=4, total_timesteps=64, hidden=(16,), torso="mlp", batch_size=8,
                      buffer_size=64, learning_starts=32, n_steps=1)
    cfg = base.replace(curiosity=dqn.CuriosityConfig("icm", hidden=(16,), features=8,
                                                     extrinsic_coef=0.0))
    agent = dqn.make(cfg, env, params)
    init, (final, m) = jax.jit(lambda k: (agent.init(k), agent.train(k)))(jax.random.key(0))
    m = {k: np.asarray(v) for k, v in m.items()}
    for key in ("intrinsic_reward", "forward_loss", "inverse_loss", "visited_cells", "loss"):
        assert m[key].shape == (16,), key
    stored = np.asarray(final.buffer.data.reward)  # [16 rows = updates, 4 copies]
    assert np.all(stored > 0)
    np.testing.assert_allclose(stored.mean(axis=1), m["intrinsic_reward"], rtol=1e-5)
    assert np.isfinite(m["loss"][-1]) and np.all(np.diff(m["visited_cells"]) >= 0)
    moved = jax.tree.map(lambda a, b: bool(jnp.any(a != b)), init.curiosity.params,
                         final.curiosity.params)
    assert all(jax.tree.leaves(moved))
    plain = dqn.make(base, env, params).init(jax.random.key(0))
    same = jax.tree.map(lambda a, b: bool(jnp.all(a == b)), plain.params, init.params)
    assert all(jax.tree.leaves(same)) and plain.curiosity is None
    with pytest.raises(ValueError, match="curiosity 'xyz' unknown"):
        dqn.Config(curiosity="xyz").validate()
    with pytest.raises(ValueError, match="curiosity.extrinsic_coef"):
        dqn.Config(curiosity={"kind": "icm", "extrinsic_coef": -1.0}).validate()


# ------------------------------------------------------------------ the settings as one group
def test_curiosity_settings_are_one_group(tmp_path):
    """``Config.curiosity`` holds every curiosity setting; a kind alone or a dict stands for
    the group with those fields changed, and the flat names of before still read."""
    from jaxrl.algos import dqn
    from jaxrl.runs import overrides as O
    from jaxrl.runs import run

    assert ppo.Config().curiosity == ppo.CuriosityConfig() and ppo.Config().curiosity.kind is None
    assert isinstance(dqn.Config().curiosity, curiosity.CuriosityConfig)
    assert not hasattr(dqn.Config().curiosity, "intrinsic_critic")  # PPO's own fields
    # A kind alone keeps the rest of the group (a preset's network widths stay).
    maze = ppo.PRESETS["maze_icm"].config
    rnd = maze.replace(curiosity="rnd")
    assert rnd.curiosity == maze.curiosity.replace(kind="rnd") and rnd.curiosity.features == 64
    assert maze.replace(curiosity="none").curiosity.kind is None
    assert maze.replace(curiosity={"eta": 0.5}).curiosity.eta == 0.5
    assert ppo.Config(curiosity=curiosity.CuriosityConfig("icm", beta=0.3)).curiosity == \
        ppo.CuriosityConfig("icm", beta=0.3)  # the shared group, lifted to PPO's
    # Text: dotted names, a kind, the flat names of before, a TOML table.
    cfg = run.resolve_config("ppo", {"curiosity": "icm", "curiosity.beta": "0.3",
                                     "curiosity_eta": "0.5", "intrinsic_critic": "true",
                                     "curiosity_lambda": "0.2"})
    assert cfg.curiosity == ppo.CuriosityConfig("icm", beta=0.3, eta=0.5, intrinsic_critic=True,
                                                lam=0.2)
    assert run.resolve_config("ppo", {"curiosity": "none"}).curiosity.kind is None
    toml = tmp_path / "c.toml"
    toml.write_text('curiosity_eta = 0.5\n[curiosity]\nkind = "rnd"\nbeta = 0.3\n')
    assert run.resolve_config("ppo", toml=toml).curiosity == ppo.CuriosityConfig(
        "rnd", beta=0.3, eta=0.5)
    assert run.resolve_config("dqn", {"curiosity_features": "8"}).curiosity.features == 8
    with pytest.raises(run.RunError, match="dqn has no config field 'curiosity_lambda'"):
        run.resolve_config("dqn", {"curiosity_lambda": "0.2"})  # dqn never had it
    with pytest.raises(run.RunError, match="no config field 'curiosity.bta'.*curiosity.beta"):
        run.resolve_config("ppo", {"curiosity.bta": "0.3"})
    # The JSON form is nested, and the flat JSON of before reads the same.
    saved = O.config_to_dict(cfg)
    assert saved["curiosity"]["beta"] == 0.3 and "curiosity_beta" not in saved
    assert O.config_from_dict("ppo", saved) == cfg
    flat = {k: v for k, v in saved.items() if k != "curiosity"}
    flat.update({"curiosity": "icm", "curiosity_hidden": [64], "curiosity_features": 32,
                 "curiosity_normalize": True, "intrinsic_critic": True,
                 "curiosity_normalize_obs": False, "curiosity_beta": 0.3,
                 "curiosity_lambda": 0.2, "curiosity_eta": 0.5, "curiosity_lr": 0.001,
                 "extrinsic_coef": 1.0, "intrinsic_gamma": 0.99})
    assert O.config_from_dict("ppo", flat) == cfg
    assert O.comparable_config("ppo", flat) == O.comparable_config("ppo", saved)
    assert O.comparable_config("ppo", {**flat, "curiosity_eta": 0.6}) != \
        O.comparable_config("ppo", saved)
