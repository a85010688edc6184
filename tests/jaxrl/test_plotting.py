"""jaxrl.output.plotting: the smoothing helper by hand, the learning curve of a task whose
episodes never end, the sweep figure and the bandit testbed figure (no JAX needed)."""

from __future__ import annotations

import numpy as np
import pytest

from jaxrl.output import plotting


def test_smooth_returns_weights_episodes_and_carries_through_gaps():
    ret = np.array([[1.0, np.nan, 4.0, np.nan, np.nan]])
    eps = np.array([[1, 0, 3, 0, 0]])
    # Window 2: [1], [1], 4 (the update with 3 episodes only), 4, carried forward.
    np.testing.assert_allclose(plotting.smooth_returns(ret, eps, 2), [[1, 1, 4, 4, 4]])
    # Window 3 over updates 0..2: (1 * 1 + 4 * 3) / 4.
    np.testing.assert_allclose(plotting.smooth_returns(ret, eps, 3)[0, 2], 13 / 4)
    assert np.isnan(plotting.smooth_returns(np.array([[np.nan, 2.0]]), None, 3)[0, 0])


def test_smooth_returns_without_counts_is_a_plain_moving_average():
    x = np.random.default_rng(0).normal(size=200)
    got = plotting.smooth_returns(x, None, 50)
    assert got.shape == (200,)
    np.testing.assert_allclose(got[49:], np.convolve(x, np.ones(50) / 50, mode="valid"))
    np.testing.assert_allclose(got[:3], [x[0], x[:2].mean(), x[:3].mean()])


def _bandit_metrics(seeds=2, updates=100):
    rng = np.random.default_rng(1)
    return {
        "env_steps": np.tile(np.arange(1, updates + 1), (seeds, 1)),
        "episode_return": np.full((seeds, updates), np.nan, np.float32),
        "episodes": np.zeros((seeds, updates), np.int32),
        "reward": rng.uniform(5, 9, (seeds, updates)).astype(np.float32),
    }


def test_learning_curve_of_an_endless_task_shows_the_reward_per_step(tmp_path):
    m = _bandit_metrics()
    fig = plotting.learning_curve(m, window=10, path=tmp_path / "c.png")
    ax = fig.axes[0]
    assert "reward per step" in ax.get_ylabel() and "no episode ended" in ax.get_ylabel()
    mean_line = next(line for line in ax.lines if line.get_label().startswith("mean of"))
    want = plotting.smooth_returns(m["reward"], None, 10).mean(axis=0)
    np.testing.assert_allclose(mean_line.get_ydata(), want)  # not an all-NaN curve
    # Once an episode has ended, the curve is the episode return again.
    m["episode_return"][:, 50] = 3.0
    m["episodes"][:, 50] = 1
    fig = plotting.learning_curve(m, window=10)
    assert fig.axes[0].get_ylabel().startswith("episode return")


def _sweep_inputs(grid, finals, updates=20):
    finals = np.asarray(finals, np.float64)
    settings, seeds = finals.shape
    ret = np.repeat(finals[:, :, None], updates, axis=2)
    metrics = {
        "env_steps": np.broadcast_to(np.arange(1, updates + 1) * 10, ret.shape),
        "episode_return": ret,
        "episodes": np.ones(ret.shape),
    }
    return grid, finals, metrics


def test_sweep_plot_heatmap_outlines_the_best_setting(tmp_path):
    from matplotlib.patches import Rectangle

    grid, finals, metrics = _sweep_inputs({"lr": [1, 2], "ent_coef": [0, 1, 2]},
                                          [[1, 1], [2, np.nan], [3, 3], [9, 7], [4, 4], [0, 2]])
    fig = plotting.sweep_plot(grid, finals, metrics, window=5, title="t", path=tmp_path / "s.png")
    heat, curves = fig.axes[:2]
    assert len(fig.axes) == 3  # and a colorbar
    np.testing.assert_allclose(heat.images[0].get_array(), [[1, 2, 3], [8, 4, 1]])
    (box,) = [p for p in heat.patches if isinstance(p, Rectangle)]
    assert box.get_xy() == (-0.5, 0.5)  # lr=2, ent_coef=0: mean 8
    assert len(curves.lines) == 6
    assert [line.get_linewidth() for line in curves.lines].count(2.5) == 1
    assert (tmp_path / "s.png").stat().st_size > 10_000


def test_sweep_plot_bars_for_other_grids():
    grid, finals, metrics = _sweep_inputs({"clip_eps": [0.1, 0.2, 0.3]}, [[1, 3], [4, 8], [4, 4]])
    fig = plotting.sweep_plot(grid, finals, metrics, window=5)
    bars = fig.axes[0].patches
    assert [round(b.get_height(), 6) for b in bars] == [2, 6, 4]
    reds = [i for i, b in enumerate(bars) if b.get_facecolor()[0] > 0.7]
    assert reds == [1]
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["0.1", "0.2", "0.3"]
    # Nothing finished: no best, still a figure.
    grid, finals, metrics = _sweep_inputs({"lr": [1, 2]}, [[np.nan], [np.nan]])
    assert plotting.sweep_plot(grid, finals, metrics, window=5).axes


def test_bandit_testbed_draws_both_panels(tmp_path):
    from jaxrl.algos.bandit_agents import BanditTestbedResult

    pulls = 50
    curve = np.linspace(0, 1, pulls, dtype=np.float32)
    result = BanditTestbedResult(
        labels=("a", "b", "c"), average_reward=np.stack([curve, 2 * curve, 3 * curve]),
        optimal_action=np.stack([curve, curve, curve]), expected_reward=np.zeros((3, pulls)),
        best_expected_reward=np.full(pulls, 9.0), num_runs=10, num_pulls=pulls,
        compile_seconds=0.0, run_seconds=0.0)
    fig = plotting.bandit_testbed(result, path=tmp_path / "t.png", title="test")
    ax_r, ax_o = fig.axes
    assert len(ax_r.lines) == 3 + 1  # agents and the best-arm line
    np.testing.assert_allclose(ax_o.lines[1].get_ydata(), 100 * curve)  # in percent
    assert fig._suptitle.get_text() == "test"
    with open(tmp_path / "t.png", "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("metrics", [{"env_steps": np.ones((1, 3))}])
def test_learning_curve_needs_returns_or_rewards(metrics):
    with pytest.raises(KeyError):
        plotting.learning_curve(metrics)
