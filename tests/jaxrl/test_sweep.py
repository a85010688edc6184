"""Sweeps as one program: grid checks before compiling, shapes, best marking, plots."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from jaxrl import envs
from jaxrl.algos import ppo
from jaxrl.runs import sweep as sweep_mod
from jaxrl.runs.sweep import SweepResult, final_returns, sweep

TINY = ppo.Config(
    num_envs=4, num_steps=16, epochs=2, minibatches=2, total_timesteps=64 * 6,
    actor_hidden=(16,), critic_hidden=(16,),
)
GRID = {"lr": [1e-3, 3e-3], "ent_coef": [0.0, 0.05]}


@pytest.fixture()
def no_compile(monkeypatch):
    """Any attempt to jit fails loudly: the checks must come first."""
    import gymnax  # noqa: F401  (its import decorates with jax.jit; do it before patching)

    def boom(*args, **kwargs):
        raise AssertionError("compiled before validating")

    monkeypatch.setattr(jax, "jit", boom)


@pytest.mark.parametrize(
    "grid, match",
    [
        ({"lrr": [1e-3]}, r"no field 'lrr'\. Did you mean: lr"),
        ({"clip": [0.1]}, r"Did you mean: clip_eps"),
        ({"num_envs": [4, 8]}, r"num_envs is a static field"),
        ({"actor_hidden": [1, 2]}, r"static field"),
        ({"lr": []}, r"non-empty list"),
        ({"lr": "1e-3"}, r"non-empty list"),
        ({"lr": [1e-3, float("nan")]}, r"finite numbers"),
        ({"lr": [1e-3, 1e-3]}, r"repeats"),
        ({"lr": [1e-3, -1e-3]}, r"setting \{'lr': -0.001\}: ppo.Config.lr must be finite and > 0"),
        ({}, r"non-empty mapping"),
    ],
)
def test_bad_grid_refused_before_compiling(no_compile, grid, match):
    with pytest.raises(ValueError, match=match):
        sweep("ppo", "CartPole-v1", TINY, grid=grid, seeds=2)


def test_bad_names_refused_before_compiling(no_compile):
    with pytest.raises(ValueError, match="unknown algorithm 'ppoo'"):
        sweep("ppoo", "CartPole-v1", grid={"lr": [1e-3]})
    with pytest.raises(ValueError, match="unknown environment"):
        sweep("ppo", "CartPol-v1", grid={"lr": [1e-3]})
    with pytest.raises(ValueError, match="seeds"):
        sweep("ppo", "CartPole-v1", TINY, grid={"lr": [1e-3]}, seeds=0)
    with pytest.raises(TypeError, match="ppo.Config"):
        sweep("ppo", "CartPole-v1", object(), grid={"lr": [1e-3]})


def test_sweepable_fields_split():
    leaves, static = sweep_mod.sweepable_fields(ppo.Config())
    assert {"lr", "clip_eps", "ent_coef", "gamma", "max_grad_norm"} <= set(leaves)
    assert {"num_envs", "num_steps", "epochs", "actor_hidden", "anneal_lr"} <= set(static)
    assert not set(leaves) & set(static)
    # A group's fields by their dotted names (Config.curiosity).
    assert {"curiosity.beta", "curiosity.eta", "curiosity.extrinsic_coef"} <= set(leaves)
    assert {"curiosity.kind", "curiosity.hidden"} <= set(static) and "curiosity" not in leaves


def test_grid_over_a_group_field_and_an_old_name(no_compile):
    """A group's leaf is swept by its dotted name (an old flat name stands for it); its
    static fields are refused, and every setting is validated, before compiling."""
    base = TINY.replace(curiosity="rnd")
    with pytest.raises(ValueError, match="curiosity.kind is a static field"):
        sweep("ppo", "CartPole-v1", base, grid={"curiosity.kind": [1, 2]}, seeds=2)
    with pytest.raises(ValueError, match=r"setting \{'curiosity.eta': -1.0\}: "
                                          r"ppo.Config.curiosity.eta must be finite"):
        sweep("ppo", "CartPole-v1", base, grid={"curiosity_eta": [0.5, -1.0]}, seeds=2)
    with pytest.raises(ValueError, match="no field 'curiosity.bta'"):
        sweep("ppo", "CartPole-v1", base, grid={"curiosity.bta": [0.5]}, seeds=2)


@pytest.mark.slow  # compiles RND twice
def test_sweep_over_a_group_field_matches_standalone_runs():
    env, params = envs.make("CartPole-v1")
    base = TINY.replace(curiosity="rnd", total_timesteps=64 * 2)
    result = sweep("ppo", (env, params), base, grid={"curiosity.eta": [0.5, 2.0]}, seeds=1,
                   key=jax.random.PRNGKey(3), final_window=1)
    assert result.grid == {"curiosity.eta": [0.5, 2.0]}
    key = jax.random.split(jax.random.PRNGKey(3), 1)[0]
    for i, eta in enumerate([0.5, 2.0]):
        agent = ppo.make(base.replace(curiosity={"eta": eta}), env, params)
        _, metrics = jax.jit(agent.train)(key)
        np.testing.assert_allclose(result.metrics["intrinsic_reward"][i, 0, 0],
                                   np.asarray(metrics["intrinsic_reward"])[0], rtol=1e-5)


def test_final_returns_fixture():
    ret = np.array([[np.nan, 10.0, 20.0, np.nan], [1.0, np.nan, np.nan, np.nan]])
    eps = np.array([[0, 1, 3, 0], [2, 0, 0, 0]])
    # seed 0, last 3 updates: (10*1 + 20*3) / 4 = 17.5; seed 1: no episode -> NaN.
    out = final_returns(ret, eps, 3)
    np.testing.assert_allclose(out[0], 17.5)
    assert np.isnan(out[1])
    np.testing.assert_allclose(final_returns(ret, eps, 4), [17.5, 1.0])


@pytest.fixture(scope="module")
def tiny_sweep():
    env, params = envs.make("CartPole-v1")
    return sweep(ppo, (env, params), TINY, grid=GRID, seeds=2, key=jax.random.PRNGKey(3),
                 final_window=2), (env, params)


def test_sweep_shapes_and_order(tiny_sweep):
    result, _ = tiny_sweep
    u = TINY.num_updates
    assert result.settings == [
        {"lr": 1e-3, "ent_coef": 0.0}, {"lr": 1e-3, "ent_coef": 0.05},
        {"lr": 3e-3, "ent_coef": 0.0}, {"lr": 3e-3, "ent_coef": 0.05},
    ]
    assert result.final_returns.shape == (4, 2)
    for name in ("episode_return", "episodes", "env_steps", "policy_loss", "lr"):
        assert result.metrics[name].shape == (4, 2, u), name
    np.testing.assert_array_equal(result.env_steps, np.arange(1, u + 1) * TINY.batch_size)
    # Each setting's learning rate really was the swept value (annealed linearly).
    for i, s in enumerate(result.settings):
        np.testing.assert_allclose(
            result.metrics["lr"][i, :, 0], s["lr"], rtol=1e-6
        )
    np.testing.assert_allclose(
        result.final_returns,
        final_returns(result.metrics["episode_return"], result.metrics["episodes"], 2),
    )
    assert np.all(np.isfinite(result.final_returns))  # CartPole episodes end quickly at first
    assert result.compile_seconds > 0 and result.run_seconds > 0


@pytest.mark.heavy
def test_sweep_matches_a_standalone_run(tiny_sweep):
    """Setting 3, seed 1 of the batched program = the same config trained alone."""
    result, (env, params) = tiny_sweep
    setting = result.settings[3]
    key = jax.random.split(jax.random.PRNGKey(3), 2)[1]
    agent = ppo.make(TINY.replace(**setting), env, params)
    _, metrics = jax.jit(agent.train)(key)
    # The first update sees identical data, so its losses agree to float tolerance.
    for name in ("policy_loss", "value_loss", "entropy", "episodes"):
        np.testing.assert_allclose(
            result.metrics[name][3, 1, 0], np.asarray(metrics[name])[0], rtol=1e-4, atol=1e-5,
            err_msg=name,
        )


def test_sweep_table_marks_best(tiny_sweep):
    result, _ = tiny_sweep
    best = int(np.argmax(np.nanmean(result.final_returns, axis=1)))
    assert result.best == best
    rows = result.table().splitlines()[3:7]
    marked = [i for i, row in enumerate(rows) if row.startswith("*")]
    assert marked == [best]


def _fake_result(grid, finals):
    settings = [dict(zip(grid, combo)) for combo in __import__("itertools").product(*grid.values())]
    finals = np.asarray(finals, float)
    s, n = finals.shape
    u = 5
    ret = np.broadcast_to(finals[:, :, None], (s, n, u)).copy()
    metrics = {
        "episode_return": ret,
        "episodes": np.ones((s, n, u)),
        "env_steps": np.broadcast_to(np.arange(1, u + 1) * 100, (s, n, u)),
    }
    return SweepResult("ppo", "Fake-v0", grid, settings, finals, metrics, 1, 1.0, 2.0)


def test_result_statistics_and_plots(tmp_path):
    # 1-D grid: means 2, 6 (best), 4; population std 1, 2, 0.
    result = _fake_result({"clip_eps": [0.1, 0.2, 0.3]}, [[1, 3], [4, 8], [4, 4]])
    np.testing.assert_allclose(result.mean, [2, 6, 4])
    np.testing.assert_allclose(result.std, [1, 2, 0])
    assert result.best == 1 and result.best_setting == {"clip_eps": 0.2}
    table = result.table()
    assert "* best: clip_eps=0.2 (6.0 +- 2.0)" in table
    result.plot(str(tmp_path / "one.png"))
    # 2-D grid with a run that never finished an episode (NaN ignored).
    result = _fake_result({"lr": [1, 2], "ent_coef": [0, 1]},
                          [[1, 1], [2, np.nan], [9, 7], [3, 3]])
    np.testing.assert_allclose(result.mean, [1, 2, 8, 3])
    assert result.best == 2
    fig = result.plot(str(tmp_path / "two.png"))
    assert len(fig.axes) >= 2
    # 3 fields: bars.
    result = _fake_result({"lr": [1], "ent_coef": [0], "gamma": [0.9, 0.99]}, [[1, 2], [3, 4]])
    result.plot(str(tmp_path / "three.png"))
    for name in ("one.png", "two.png", "three.png"):
        assert (tmp_path / name).stat().st_size > 10_000
