"""jaxrl.output.play: tabular runs loaded from disk play, and episodes become GIFs, PNG strips
and MP4s of the environments' own pictures (``render_image``; the colours and counts
checked against the episode)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from jaxrl import envs
from jaxrl.core.agent import Agent
from jaxrl.envs import drawing
from jaxrl.output import play


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
    # The env's picture of the first state: rows x cols cells, MARGIN below the top, centred.
    pic = env.render_image(ep.states[0], params)
    obs = ep.observations[0]
    rows, cols, _ = obs.shape
    cell = drawing.plane_cell(rows, cols)
    left = (pic.shape[1] - cols * cell) // 2
    for r in range(rows):
        for c in range(cols):
            on = np.flatnonzero(obs[r, c] > 0)
            colour = pic[drawing.MARGIN + r * cell + cell // 2, left + c * cell + cell // 2]
            want = drawing.PALETTE[on[0]] if on.size else drawing.BACKGROUND
            np.testing.assert_array_equal(colour, want, err_msg=f"cell {r, c}")
    # play's frame is that picture under a caption band of the picture's dark ground.
    frame = np.asarray(draw(0))
    np.testing.assert_array_equal(frame[play.CAPTION_BAND:], pic)
    np.testing.assert_array_equal(frame[1, -1], drawing.BACKGROUND)
    with Image.open(files[0]) as gif:
        assert gif.n_frames == ep.length + 1


def test_state_frames_for_gymnax_classic_control(tmp_path):
    env, params = envs.make("gymnax/Acrobot-v1")
    ep = play.rollout(scripted(lambda s, o, k, g: jnp.int32(2)), None, env, params,
                      max_steps=5)
    draw, seconds = play.frame_drawer(env, params, ep)
    assert seconds == pytest.approx(1 / env.render_fps) and seconds > 0
    assert not np.array_equal(np.asarray(draw(0)), np.asarray(draw(5)))  # the links moved
    first = env.render_image(ep.states[0], params)
    width, height = drawing.FRAME_SIZE
    assert first.shape == (height, width, 3)
    # Hanging straight down at the start: the lower link is drawn below the pivot.
    column = first[:, width // 2]
    link = np.flatnonzero(np.all(column == (0, 204, 204), axis=-1))
    assert link.size and link.min() > height // 2
    assert env.describe(ep.states[0], params).startswith("tip height -2.0")


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
    width, height = drawing.FRAME_SIZE
    assert {draw(t).size for t in range(len(ep.states))} == {(width, height + play.CAPTION_BAND)}


# ------------------------------------------------------------------------ play asks the env
class Dots(envs.Environment):
    """A test env that draws itself: a dot moving right on a 5x9 strip (and has no other
    picture play could recognise: its state is one int)."""

    stochastic_step = False
    render_fps = 10.0

    @property
    def default_params(self):
        return None

    def reset_env(self, key, params):
        return jnp.zeros(1, jnp.float32), jnp.zeros((), jnp.int32)

    def step_env(self, key, state, action, params):
        t = state + 1
        return (jnp.full(1, t, jnp.float32), t, jnp.float32(1), t >= 4, jnp.asarray(False), {})

    def action_space(self, params=None):
        return envs.spaces.Discrete(2)

    def observation_space(self, params=None):
        return envs.spaces.Box(0.0, 9.0, (1,))

    def render_image(self, state, params=None):
        img = np.full((5, 9, 3), 255, np.uint8)
        img[2, 2 * int(state)] = (255, 0, 0)
        return img

    def describe(self, state, params=None):
        return f"dot at {2 * int(state)}"


class Blind(Dots):
    def render_image(self, state, params=None):
        return None


def test_play_draws_what_the_env_draws_and_wrappers_forward_it(tmp_path):
    env = envs.wrappers.EpisodeStatistics(Dots())  # the state is wrapped: forwarded
    ep = play.rollout(scripted(lambda s, o, k, g: jnp.int32(0)), None, env, None)
    assert ep.length == 4 and play.kind(env, None, ep) == "frames"
    draw, seconds = play.frame_drawer(env, None, ep)
    assert seconds == pytest.approx(0.1)
    scale = int(np.ceil(360 / 9))  # small pictures are scaled up by a whole factor
    frame = np.asarray(draw(3))
    assert frame.shape == (play.CAPTION_BAND + 5 * scale, max(9 * scale, 420), 3)
    left = (frame.shape[1] - 9 * scale) // 2
    red = np.argwhere(np.all(frame[play.CAPTION_BAND:] == (255, 0, 0), axis=-1))
    assert red[:, 1].min() == left + 6 * scale and red[:, 0].min() == 2 * scale
    assert play._caption(env, ep, 3, env.describe(ep.states[3])) == \
        "step 3   action 0   return 3   dot at 6"
    assert play.kind(Blind(), None) == "plot"  # render_image None: cannot draw


@pytest.mark.skipif(not play.video_available(), reason="needs jaxrl[video]")
def test_write_video_also_writes_an_mp4_of_the_gif_frames(tmp_path):
    import imageio.v2 as imageio

    def draw(t):  # odd sides: padded to even for H.264
        return Image.new("RGB", (41, 31), (t * 20 % 256, 0, 255 - t * 20 % 256))

    gif, png, mp4 = play.write_video(draw, 12, tmp_path / "clip", 0.05, video=True)
    assert mp4.name == "clip.mp4" and mp4.stat().st_size > 0
    reader = imageio.get_reader(mp4)
    try:
        assert reader.count_frames() == 12
        assert reader.get_meta_data()["fps"] == pytest.approx(20, rel=0.01)
        assert reader.get_data(0).shape == (32, 42, 3)
    finally:
        reader.close()
    with Image.open(gif) as im:
        assert im.n_frames == 12
    # a long episode is thinned exactly as the GIF is
    *_, mp4 = play.write_video(draw, 1001, tmp_path / "long", 0.02, max_frames=100, video=True)
    reader = imageio.get_reader(mp4)
    try:
        assert reader.count_frames() == 92
    finally:
        reader.close()


def test_video_is_refused_in_one_line_without_the_extra(monkeypatch, capsys, tmp_path):
    from jaxrl.cli import main

    monkeypatch.setattr(play, "video_available", lambda: False)
    assert main(["play", str(tmp_path / "no-run"), "--video"]) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "--video" in err and "jaxrl[video]" in err and "imageio-ffmpeg" in err
