"""jaxrl.output.play: tabular runs loaded from disk play, and episodes become GIFs and PNG strips
(frames drawn from the state or from image observations; the frame colours and counts
checked against the episode)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from jaxrl import envs
from jaxrl.output import play
from jaxrl.core.agent import Agent


def scripted(policy):
    return Agent(init=None, update=None, num_updates=0, act=policy, config=None)


def test_tabular_act_takes_a_state_loaded_from_disk():
    """A loaded state holds NumPy arrays; ``act`` inside a compiled program indexes its
    table with a traced observation (this raised TracerArrayConversionError)."""
    from jaxrl.algos import tabular

    env, params = envs.make("Taxi-v3")
    agent = tabular.make(tabular.Config(num_envs=2, num_steps=4, total_timesteps=64), env, params)
    q = np.zeros((500, 6), np.float32)
    q[123, 4] = 1.0
    state = tabular.TabularState(q=q, env_state=None, obs=None, action=None,
                                 key=jax.random.key(0), step=np.int32(0))
    act = jax.jit(lambda obs: agent.act(state, obs, jax.random.key(1), True))
    assert int(act(jnp.int32(123))) == 4 and int(act(jnp.int32(7))) == 0


@pytest.mark.slow
def test_play_a_tabular_run_loaded_from_disk(tmp_path):
    import jaxrl

    jaxrl.train("q_learning", env="Taxi-v3", total_steps=2048, num_envs=4, num_steps=8,
                out_dir=tmp_path / "run")
    out = play.play(jaxrl.load(tmp_path / "run"), out=tmp_path / "taxi", stream=open(
        tmp_path / "shown.txt", "w"))
    assert [f.name for f in out.files] == ["taxi.txt", "taxi.gif", "taxi.png"]
    with Image.open(tmp_path / "taxi.gif") as gif:
        assert gif.n_frames == out.episode.length + 1  # every board, start included


def test_pixel_frames_colour_each_observation_channel(tmp_path):
    env, params = envs.make("gymnax/Breakout-MinAtar")
    ep = play.rollout(scripted(lambda s, o, k, g: jnp.int32(0)), None, env, params,
                      max_steps=6)
    assert play.kind(env, params, ep) == "frames"
    draw, _ = play.frame_drawer(env, params, ep)
    files = play.write_video(draw, len(ep.states), tmp_path / "breakout", 0.08)
    assert [f.name for f in files] == ["breakout.gif", "breakout.png"]
    img = np.asarray(draw(0))
    # Locate the board: rows x cols cells below the caption band, centred.
    obs = ep.observations[0]
    rows, cols, _ = obs.shape
    cell = min(48, 520 // cols, 360 // rows)
    left = (img.shape[1] - cols * cell) // 2
    for r in range(rows):
        for c in range(cols):
            on = np.flatnonzero(obs[r, c] > 0)
            colour = img[26 + r * cell + cell // 2, left + c * cell + cell // 2]
            want = play.PALETTE[on[0]] if on.size else play.BACKGROUND
            np.testing.assert_array_equal(colour, want, err_msg=f"cell {r, c}")
    with Image.open(files[0]) as gif:
        assert gif.n_frames == ep.length + 1


def test_state_frames_for_gymnax_classic_control(tmp_path):
    env, params = envs.make("gymnax/Acrobot-v1")
    ep = play.rollout(scripted(lambda s, o, k, g: jnp.int32(2)), None, env, params,
                      max_steps=5)
    draw, seconds = play.frame_drawer(env, params, ep)
    assert seconds > 0
    first = np.asarray(draw(0))
    assert first.shape == (play.FRAME_SIZE[1], play.FRAME_SIZE[0], 3)
    assert not np.array_equal(first, np.asarray(draw(5)))  # the links moved
    # Hanging straight down at the start: the lower link is drawn below the pivot.
    column = first[:, play.FRAME_SIZE[0] // 2]
    link = np.flatnonzero(np.all(column == (0, 204, 204), axis=-1))
    assert link.size and link.min() > play.FRAME_SIZE[1] // 2


def test_vector_observations_without_a_picture_fall_back_to_a_plot():
    env, params = envs.make("gymnax/MemoryChain-bsuite")
    assert play.kind(env, params) == "plot"
    assert play.kind(*envs.make("CartPole-v1")) == "frames"
    assert play.kind(*envs.make("Gridworld-v0")) == "text"
    assert play.kind(*envs.make("Bandit-v0")) == "bandit"


def test_write_video_thins_long_episodes_and_keeps_the_last_frame(tmp_path):
    def draw(t):
        return Image.new("RGB", (40, 30), (t % 256, 0, 255 - t % 256))

    gif, png = play.write_video(draw, 1001, tmp_path / "long", 0.02, max_frames=100)
    with Image.open(gif) as im:
        assert im.n_frames == 92  # t = 0, 11, ..., 990 (every 11th of 1001), and t = 1000
        im.seek(im.n_frames - 1)
        last = np.asarray(im.convert("RGB"))[0, 0]
        assert abs(int(last[0]) - 1000 % 256) <= 8  # palette rounding
    with Image.open(png) as im:
        assert im.size == (4 * 20 + 3 * 4, 2 * 15 + 4)  # 8 half-size frames, 4 per row


@pytest.mark.parametrize("name", ["CartPole-v1", "gymnax/Pendulum-v1"])
def test_frames_have_one_size(name, tmp_path):
    env, params = envs.make(name)
    space = env.action_space(params)
    act = (lambda s, o, k, g: jnp.int32(0)) if hasattr(space, "n") else \
        (lambda s, o, k, g: jnp.ones(space.shape))
    ep = play.rollout(scripted(act), None, env, params, max_steps=3)
    draw, _ = play.frame_drawer(env, params, ep)
    assert {draw(t).size for t in range(len(ep.states))} == {play.FRAME_SIZE}
