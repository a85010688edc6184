"""One episode of a learned policy, shown the way a person wants to see it.

The episode is played by ``jaxrl.core.episodes`` (one recorded episode, greedy or sampled
actions, in one compiled program); the host then shows it. Pictures belong to the
environment: play asks it (``env.render_image(state, params)``, the contract in
``envs.core.Environment``) and only adds captions and its own charts of what the agent
learned.

* Text boards (a single-agent environment with ``render(state) -> str``: Gridworld,
  Taxi, Maze, DoorKey): the board after every move, with the action and reward, printed
  and saved as text, and an animated GIF and a PNG strip of the env's pictures of the
  same states (of the text boards, for an env that cannot draw itself).
* Everything else that draws itself (``render_image`` returns a picture: CartPole,
  MountainCar, gymnax's classic control, MinAtar and other image observations, the Ising
  lattices, the battle): an animated GIF (``<out>.gif``) and a PNG strip of evenly
  spaced frames (``<out>.png``), each picture under a caption (the step, the action, the
  return so far, the env's ``describe(state)``). A world of many agents with a text
  ``render`` also has its first and last boards printed (the spins before and after the
  policy acts).
* ``video=True`` (``jaxrl play --video``): an MP4 of the GIF's frames too
  (``<out>.mp4``; needs ``pip install 'jaxrl[video]'``: imageio and imageio-ffmpeg).
* Bandits: a bar chart of the agent's learned values (``Agent.values``; the action
  probabilities of its policy when it has none) beside the true means, for the
  problem the agent trained on.
* Anything else (``render_image`` returns None): observations and rewards over the
  episode, as a PNG plot.
* Distributional agents (``Agent.distribution``: C51, QR-DQN) also get
  ``<out>_distribution.png``, the learned return distribution of every action at the
  episode's first state; relational DQNs ``<out>_attention.png``.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import numpy as np

from jaxrl.core.episodes import Episode, task_just_reset, training_env_state
from jaxrl.envs.drawing import font as _font
from jaxrl.envs.multiagent import is_multiagent
from jaxrl.errors import RunError
from jaxrl.output import files as _files

__all__ = [
    "Episode", "PlayOutput", "check_outputs", "frame_drawer", "kind", "output_paths", "play",
    "require_video", "rollout", "text_episode", "training_env_state", "video_available",
    "write_video",
]

CAPTION_BAND = 28  # pixels above each picture for its caption


@dataclasses.dataclass
class PlayOutput:
    """What ``play`` produced: the episode, the files written and the text shown."""

    episode: Episode
    files: list[Path]
    text: str


def rollout(agent: Any, agent_state: Any, env: Any, env_params: Any, *, greedy: bool = True,
            seed: int = 0, max_steps: int | None = None, start: Any = None) -> Episode:
    """Play one episode of ``agent`` (one seed's state, unbatched) in ``env``.

    ``jaxrl.core.episodes.record_episode`` with the key ``jax.random.key(seed)``.
    ``start``: an env state to begin from instead of a fresh reset (its observation
    comes from ``jaxrl.core.episodes.observe``). ``max_steps``: the episode cap (default
    the env's time limit).
    """
    import jax

    from jaxrl.core.episodes import observe, record_episode

    begin = None if start is None else (observe(env, start, env_params), start)
    return record_episode(agent, agent_state, env, env_params, jax.random.key(seed),
                          max_steps=max_steps, greedy=greedy, start=begin)


def _unwrapped(env: Any) -> Any:
    return getattr(env, "unwrapped", env)


def _is_bandit(env: Any) -> bool:
    return type(_unwrapped(env)).__name__ in ("Bandit", "ContextualBandit")


def _has_text(env: Any) -> bool:
    return callable(getattr(_unwrapped(env), "render", None))


def kind(env: Any, env_params: Any = None, episode: Episode | None = None) -> str:
    """How ``play`` shows ``env``: ``bandit``, ``text``, ``frames`` or ``plot``.

    ``bandit``: a bandit problem (a chart of the agent's values). ``text``: a
    single-agent env with a text ``render`` (every board printed; the GIF of its
    pictures). ``frames``: the env draws itself (``render_image`` of the episode's first
    state, or of a reset when no episode is given, is not None). ``text`` again for a
    many-agent world that only has a text ``render``; else ``plot``.
    """
    if _is_bandit(env):
        return "bandit"
    if _has_text(env) and not is_multiagent(env):
        return "text"
    if episode is None:
        import jax

        params = env_params if env_params is not None else env.default_params
        obs, state = jax.device_get(env.reset(jax.random.key(0), params))
        episode = Episode([state], [np.asarray(obs)], np.zeros((0,)), np.zeros((0,)), False,
                          False)
    if frame_drawer(env, env_params, episode) is not None:
        return "frames"
    return "text" if _has_text(env) else "plot"


def play(result: Any, *, seed_index: int = 0, greedy: bool = True, seed: int = 0,
         out: str | os.PathLike | None = None, max_steps: int | None = None, delay: float = 0.0,
         stream: IO[str] | None = None, video: bool = False) -> PlayOutput:
    """Play and show one episode of ``result`` (a ``jaxrl.runs.run.Result``).

    Args:
        result: a trained run (``jaxrl.train`` or ``jaxrl.load``).
        seed_index: which seed's policy to play.
        greedy: greedy actions (else sampled).
        seed: the episode's random seed.
        out: file stem for what is written (``<out>.gif``, ``<out>.png``, ``<out>.txt``);
            default ``<run_dir>/play`` or ``./play``.
        max_steps: cap on the episode length.
        delay: seconds to wait between text boards (an animation in a terminal).
        stream: where text goes (stdout).
        video: also write ``<out>.mp4`` (the GIF's frames) where there are frames.

    Returns:
        ``PlayOutput``.

    Raises:
        RunError: ``video`` without imageio and imageio-ffmpeg (``jaxrl[video]``).
    """
    import jax

    if video:
        require_video()
    stream = stream if stream is not None else sys.stdout
    env, env_params = result.env, result.env_params
    if env is None:
        from jaxrl import envs
        env, env_params = envs.make(result.spec.env, **dict(result.spec.env_options or {}))
    if out is None:
        out = (Path(result.run_dir) if result.run_dir else Path(".")) / "play"
    out = Path(out)
    check_outputs(out, result.run_dir)  # before anything is played or written
    out.parent.mkdir(parents=True, exist_ok=True)
    agent_state = jax.tree.map(lambda x: x[seed_index], result.state)
    # A bandit problem is drawn at reset: play the one this seed trained on (its first
    # env copy), so learned values and true means are about the same arms.
    start = training_env_state(agent_state, env, env_params) if _is_bandit(env) else None
    if start is not None:
        start = jax.device_get(start)
    episode = rollout(result.agent, agent_state, env, env_params, greedy=greedy, seed=seed,
                      max_steps=max_steps, start=start)
    how = kind(env, env_params, episode)
    policy = "greedy" if greedy else "stochastic"
    ending = ("terminated" if episode.terminated else "truncated" if episode.truncated
              else "cut at the step cap")
    header = (f"{result.algorithm} on {result.env_name}, seed {seed_index}, {policy} policy: "
              f"return {episode.total_return:g} in {episode.length} steps ({ending})")
    files: list[Path] = []
    text = ""
    if how == "text":
        text = text_episode(env, episode, stream=stream, delay=delay)
        path = out.with_suffix(".txt")
        _write_text(path, header + "\n\n" + text)
        files.append(path)
        drawn = frame_drawer(env, env_params, episode,
                             title=lambda t: _step_title(env, episode, t))
        draw, seconds = drawn if drawn is not None else (board_drawer(env, episode), 0.4)
        files += write_video(draw, len(episode.states), out, seconds_per_step=seconds,
                             video=video)
    elif how == "frames":
        draw, seconds = frame_drawer(env, env_params, episode)
        files += write_video(draw, len(episode.states), out, seconds_per_step=seconds,
                             video=video)
        text = _first_and_last(env, env_params, episode)
        if text:
            print(text, file=stream)
            path = out.with_suffix(".txt")
            _write_text(path, header + "\n\n" + text + "\n")
            files.append(path)
    elif how == "bandit":
        files.append(bandit_chart(result, env, env_params, agent_state, episode,
                                  out.with_suffix(".png"), greedy=greedy))
        text = bandit_text(episode)
        if task_just_reset(agent_state, env, env_params):
            text += ("\nnote: this bandit was drawn by an auto-reset on the run's last step; "
                     "the agent never pulled it (train with a larger max_steps_in_episode)")
        print(text, file=stream)
    else:
        files.append(plot_episode(episode, out.with_suffix(".png"), title=header))
    if video and how not in ("text", "frames"):
        print(f"note: no video: {result.env_name} has no pictures to animate "
              f"({'a chart' if how == 'bandit' else 'a plot'} instead)", file=stream)
    if callable(getattr(result.agent, "distribution", None)) and episode.observations:
        files.append(distribution_chart(result, env, agent_state, episode,
                                        out.with_name(out.name + "_distribution.png")))
    if getattr(getattr(result.agent, "config", None), "torso", "") == "relational":
        files.append(attention_chart(result, env, env_params, agent_state, episode,
                                     out.with_name(out.name + "_attention.png")))
    print(header, file=stream)
    for f in files:
        print(f"wrote {f}", file=stream)
    return PlayOutput(episode, files, text)


def output_paths(out: str | os.PathLike) -> list[Path]:
    """Every file ``play`` may write for the stem ``out`` (it adds these extensions)."""
    out = Path(out)
    return [out.with_suffix(ext) for ext in (".gif", ".png", ".txt", ".mp4")] + [
        out.with_name(out.name + "_distribution.png"), out.with_name(out.name + "_attention.png")]


def check_outputs(out: str | os.PathLike, run_dir: str | os.PathLike | None = None) -> None:
    """Refuse (``RunError``, one line) a stem ``out`` whose files (``output_paths``) would
    name a file of a run directory (``run_dir``, the run played, or any other:
    ``jaxrl.output.files.refuse_run_files``) or are links or special files."""
    paths = output_paths(out)
    _files.refuse_run_files(paths, run_dir)
    for p in paths:
        _files.refuse_odd(p)


def _write_text(path: Path, text: str) -> None:
    _files.write_bytes(path, text.encode())


def _save_image(image: Any, path: Path, **kwargs: Any) -> None:
    """A Pillow image saved whole to ``path`` (format by extension; never through a link)."""
    import io

    buf = io.BytesIO()
    image.save(buf, format=path.suffix.lstrip(".").upper() or "PNG", **kwargs)
    _files.write_bytes(path, buf.getvalue())


# ------------------------------------------------------------------------------ text
def _action_names(env: Any) -> tuple[str, ...] | None:
    names = getattr(env, "action_names", None)
    if names is None:
        module = sys.modules.get(type(_unwrapped(env)).__module__)
        names = getattr(module, "ACTION_NAMES", None)
    return tuple(names) if names is not None else None


def _boards(env: Any, state: Any, colors: bool) -> tuple[str, str]:
    """``(shown, plain)`` boards of ``state``: with terminal colours if asked, and without."""
    base = _unwrapped(env)
    try:
        if "colors" in _params(base.render):
            return base.render(state, colors=colors), base.render(state, colors=False)
        board = base.render(state)
        return board, board
    except TypeError:
        return str(state), str(state)


def _step_title(env: Any, episode: Episode, t: int) -> str:
    if t == 0:
        return "start"
    names = _action_names(env)
    a = int(np.asarray(episode.actions[t - 1]).ravel()[0])
    label = names[a] if names and 0 <= a < len(names) else str(a)
    total = float(np.sum(episode.rewards[:t]))
    return f"step {t}: {label}, reward {episode.rewards[t - 1]:g}, return {total:g}"


def text_episode(env: Any, episode: Episode, stream: IO[str] | None = None,
                 delay: float = 0.0) -> str:
    """Every board of the episode with the move that led to it; printed to ``stream``."""
    colors = stream is not None and hasattr(stream, "isatty") and stream.isatty()
    blocks = []
    for t, state in enumerate(episode.states):
        title = _step_title(env, episode, t)
        board, plain = _boards(env, state, colors)
        blocks.append(f"{title}\n{_framed(plain)}\n")
        if stream is not None:
            print(f"{title}\n{_framed(board)}\n", file=stream, flush=True)
            if delay > 0:
                time.sleep(delay)
    return "\n".join(blocks)


def _framed(board: str) -> str:
    """A board without its own frame (Gridworld) gets one, so blank rows stay visible."""
    lines = board.rstrip("\n").split("\n")
    width = max(len(line) for line in lines)
    if any(ch in board for ch in "|:") or len({len(line) for line in lines}) > 1:
        return "\n".join(lines)  # already framed (Taxi) or ragged: as the env drew it
    return "\n".join(["┌" + "─" * width + "┐", *("│" + line + "│" for line in lines),
                      "└" + "─" * width + "┘"])


def _params(fn: Any) -> set[str]:
    import inspect

    try:
        return set(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return set()


# ------------------------------------------------------------------------------ frames
def _inner_state(state: Any) -> Any:
    """Look through wrapper states (``EpisodeStatistics``, ``TimeLimit``) to the env's own
    (for the text ``render`` of the unwrapped env)."""
    while hasattr(state, "env_state"):
        state = state.env_state
    return state


def _action_text(env: Any, action: Any) -> str:
    a = np.asarray(action)
    if a.size == 1:
        v = a.ravel()[0]
        if np.issubdtype(a.dtype, np.integer):
            names = _action_names(env)
            return names[int(v)] if names and 0 <= int(v) < len(names) else str(int(v))
        return f"{float(v):+.2f}"
    return np.array2string(a, precision=2)


def _number(x: float) -> str:
    return f"{x:.0f}" if float(x).is_integer() else f"{x:.2f}"


def _caption(env: Any, episode: Episode, t: int, extra: str = "") -> str:
    """``step t   action A   return R`` (the return per agent in a world of many agents,
    without the joint action), then ``extra``."""
    text = f"step {t}"
    if t > 0:
        total = float(np.sum(episode.rewards[:t]))
        agents = _agent_count(env)
        if agents > 1:  # the episode's reward sums the agents' rewards (episodes.evaluate)
            text += f"   return {total / agents:.2f} per agent"
        else:
            text += (f"   action {_action_text(env, episode.actions[t - 1])}"
                     f"   return {_number(total)}")
    return text + (f"   {extra}" if extra else "")


def _agent_count(env: Any) -> int:
    """Agents acting in ``env``: 1 for a single-agent environment (whatever attributes it
    has), the agent axis of a ``MultiAgentEnvironment``."""
    if not is_multiagent(env):
        return 1
    try:
        return max(int(getattr(_unwrapped(env), "num_agents", 1)), 1)
    except (TypeError, ValueError):
        return 1


def _picture(env: Any, params: Any, state: Any) -> np.ndarray | None:
    """The env's own picture of one state (``render_image``), or None if it cannot draw."""
    render = getattr(env, "render_image", None)
    if not callable(render):
        return None
    pic = render(state, params)
    if pic is None:
        return None
    pic = np.asarray(pic)
    if pic.ndim != 3 or pic.shape[2] != 3 or pic.dtype != np.uint8:
        raise ValueError(f"{getattr(env, 'name', env)}.render_image must return uint8[H, W, 3], "
                         f"got {pic.dtype}{list(pic.shape)}")
    return pic


def frame_drawer(env: Any, env_params: Any, episode: Episode,
                 title: Callable[[int], str] | None = None
                 ) -> tuple[Callable[[int], Any], float] | None:
    """``(draw, seconds_per_step)`` for the episode's frames, or None if the env cannot draw.

    ``draw(t)`` is a Pillow image: the env's picture of ``episode.states[t]``
    (``render_image(state, params)``), scaled up by a whole factor when small (to about
    360 pixels), under a caption band of ``CAPTION_BAND`` pixels holding ``title(t)``
    (default: the step, the action, the return so far and the env's ``describe``). The
    band is white, or the picture's own dark ground when its corner is dark (MinAtar).
    ``seconds_per_step`` is ``1 / env.render_fps``.
    """
    from PIL import Image, ImageDraw

    params = env_params if env_params is not None else getattr(env, "default_params", None)
    first = _picture(env, params, episode.states[0])
    if first is None:
        return None
    describe = getattr(env, "describe", None)
    if title is None:
        def title(t: int) -> str:
            extra = describe(episode.states[t], params) if callable(describe) else ""
            return _caption(env, episode, t, extra)
    h, w = first.shape[:2]
    scale = max(1, int(np.ceil(360 / max(h, w))))
    corner = tuple(int(v) for v in first[0, 0])
    dark = 0.299 * corner[0] + 0.587 * corner[1] + 0.114 * corner[2] < 60
    ground, ink = (corner, "white") if dark else ((255, 255, 255), "black")
    width, height = max(w * scale, 420), h * scale + CAPTION_BAND
    caption_font = _font(13)

    def draw(t: int) -> Any:
        pic = first if t == 0 else _picture(env, params, episode.states[t])
        if pic is None or pic.shape != first.shape:
            raise ValueError(f"{getattr(env, 'name', env)}.render_image drew step {t} "
                             f"{'as None' if pic is None else f'at {pic.shape}'}, step 0 at "
                             f"{first.shape}: every picture must have one size")
        img = Image.fromarray(pic)
        if scale > 1:
            img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
        frame = Image.new("RGB", (width, height), ground)
        frame.paste(img, ((width - img.width) // 2, CAPTION_BAND))
        ImageDraw.Draw(frame).text((8, 7), title(t), fill=ink, font=caption_font)
        return frame

    return draw, 1.0 / float(getattr(env, "render_fps", 6.0) or 6.0)


def _first_and_last(env: Any, env_params: Any, episode: Episode) -> str:
    """The start and end boards of a many-agent world with a text ``render`` ("" if none)."""
    base = _unwrapped(env)
    if not callable(getattr(base, "render", None)):
        return ""
    last = len(episode.states) - 1
    describe = getattr(env, "describe", None)
    parts = []
    for t, title in ((0, "start"), (last, f"after {last} steps")):
        words = describe(episode.states[t], env_params) if callable(describe) else ""
        extra = f" ({words})" if words else ""
        board = base.render(_inner_state(episode.states[t]))
        parts.append(f"{title}{extra}:\n{_framed(board)}")
    return "\n\n".join(parts)


def board_drawer(env: Any, episode: Episode) -> Callable[[int], Any]:
    """Frames of a text board, for an env with a text ``render`` that cannot draw itself
    (``render_image`` None): the board in a monospace font, the move that led to it above."""
    from PIL import Image, ImageDraw

    font, small = _font(26, mono=True), _font(18)
    boards = [_framed(_boards(env, s, False)[1]) for s in episode.states]
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    boxes = [probe.multiline_textbbox((0, 0), b, font=font, spacing=4) for b in boards]
    width = max(360, max(b[2] for b in boxes) + 40)
    height = 40 + max(b[3] for b in boxes) + 20

    def draw(t: int) -> Any:
        img = Image.new("RGB", (width, height), "white")
        d = ImageDraw.Draw(img)
        d.text((10, 8), _step_title(env, episode, t), fill="black", font=small)
        d.multiline_text((20, 40), boards[t], fill="black", font=font, spacing=4)
        return img

    return draw


def video_available() -> bool:
    """Can ``write_video`` write an MP4 (are imageio and imageio-ffmpeg installed)?"""
    return all(importlib.util.find_spec(m) is not None for m in ("imageio", "imageio_ffmpeg"))


def require_video() -> None:
    """Raise ``RunError`` (one line naming the extra) unless MP4s can be written."""
    if not video_available():
        raise RunError("--video needs imageio and imageio-ffmpeg: "
                       "pip install 'jaxrl[video]'")


def write_video(draw: Callable[[int], Any], num_frames: int, out: Path, seconds_per_step: float,
                max_frames: int = 600, strip: int = 8, video: bool = False) -> list[Path]:
    """``<out>.gif`` (an animation) and ``<out>.png`` (a strip of evenly spaced frames).

    Args:
        draw: ``t -> Pillow image``, every frame the same size.
        num_frames: frames in the episode (``draw(0) .. draw(num_frames - 1)``).
        out: file stem.
        seconds_per_step: real time of one step; a long episode keeps every
            ``ceil(num_frames / max_frames)``-th frame and plays faster (at most
            ``max(0.1 s, seconds_per_step)`` per shown frame, at least 20 ms, the least
            a GIF viewer honours).
        max_frames: frames in the GIF at most (the last frame is always shown).
        strip: frames in the PNG strip (four per row, half size).
        video: also ``<out>.mp4``: the GIF's frames (H.264, one per ``1 / fps`` with the
            GIF's frame time; sides padded to even numbers), through imageio's ffmpeg
            plugin (``require_video``).

    Returns:
        ``[gif, png]``, and the MP4 last with ``video``.
    """
    from PIL import Image

    stride = max(1, int(np.ceil(num_frames / max_frames)))
    shown = list(range(0, num_frames, stride))
    if shown[-1] != num_frames - 1:
        shown.append(num_frames - 1)
    frames = {t: draw(t) for t in shown}
    gif = out.with_suffix(".gif")
    ms = int(np.clip(1000 * seconds_per_step * stride, 20, max(100, 1000 * seconds_per_step)))
    durations = [ms] * (len(shown) - 1) + [max(ms, 1500)]  # rest on the last frame
    first, *rest = [frames[t] for t in shown]
    _save_image(first, gif, save_all=True, append_images=rest, duration=durations, loop=0)
    picks = np.unique(np.linspace(0, num_frames - 1, min(strip, num_frames)).round().astype(int))
    small = []
    for t in picks:
        im = frames[t] if t in frames else draw(int(t))
        small.append(im.resize((im.width // 2, im.height // 2), Image.LANCZOS))
    cols = min(4, len(small))
    rows = int(np.ceil(len(small) / cols))
    fw, fh = small[0].width, small[0].height
    sheet = Image.new("RGB", (cols * fw + (cols - 1) * 4, rows * fh + (rows - 1) * 4), "gray")
    for k, im in enumerate(small):
        r, c = divmod(k, cols)
        sheet.paste(im, (c * (fw + 4), r * (fh + 4)))
    png = out.with_suffix(".png")
    _save_image(sheet, png)
    if not video:
        return [gif, png]
    mp4 = out.with_suffix(".mp4")
    write_mp4([frames[t] for t in shown], mp4, fps=1000.0 / ms)
    return [gif, png, mp4]


def write_mp4(frames: list[Any], path: Path, fps: float) -> Path:
    """Pillow images (one size) as an H.264 MP4 at ``fps`` frames per second."""
    require_video()
    import warnings

    import imageio.v2 as imageio

    _files.refuse_odd(path)  # ffmpeg opens it itself: never a link or a special file

    first = np.asarray(frames[0].convert("RGB"))
    h, w = first.shape[:2]
    pad = ((0, h % 2), (0, w % 2), (0, 0))  # yuv420p needs even sides
    with warnings.catch_warnings():
        # The ffmpeg subprocess is forked and at once replaced by ffmpeg: JAX's warning
        # about forking a multithreaded process does not apply.
        warnings.filterwarnings("ignore", message=r"os\.fork\(\) was called",
                                category=RuntimeWarning)
        with imageio.get_writer(path, format="FFMPEG", mode="I", fps=fps, codec="libx264",
                                pixelformat="yuv420p", macro_block_size=1,
                                ffmpeg_log_level="error") as writer:
            for im in frames:
                writer.append_data(np.pad(np.asarray(im.convert("RGB")), pad, mode="edge"))
    return path


# ------------------------------------------------------------------------------ bandits
def _policy_probabilities(agent: Any, agent_state: Any, obs: Any, num_actions: int,
                          samples: int = 4000) -> np.ndarray:
    import jax

    keys = jax.random.split(jax.random.key(12345), samples)
    acts = jax.jit(jax.vmap(lambda s, k: agent.act(s, obs, k, False), in_axes=(None, 0)))(
        agent_state, keys)
    return np.bincount(np.asarray(acts).ravel(), minlength=num_actions)[:num_actions] / samples


def bandit_chart(result: Any, env: Any, env_params: Any, agent_state: Any, episode: Episode,
                 path: Path, greedy: bool = True) -> Path:
    """Learned values (or policy probabilities) against the true mean reward of every arm."""
    import jax.numpy as jnp

    from jaxrl.output.plotting import figure, save_figure

    base = _unwrapped(env)
    state = episode.states[0]
    arms = np.asarray(state.arms)
    contextual = arms.ndim == 2
    contexts = range(arms.shape[0]) if contextual else [None]
    num_arms = arms.shape[-1]
    means = 10.0 * arms if contextual else np.asarray(base.expected_rewards(jnp.asarray(arms)))
    values_fn = getattr(result.agent, "values", None)
    cols = min(5, len(contexts))
    rows = int(np.ceil(len(contexts) / cols))
    fig = figure(3.2 * cols if contextual else 7.0, 2.8 * rows if contextual else 4.2)
    pulls = np.bincount(episode.actions.astype(int), minlength=num_arms)
    prob_bars = None
    for i, c in enumerate(contexts):
        ax = fig.add_subplot(rows, cols, i + 1)
        true = means[c] if contextual else means
        obs = base.observe(state.replace(context=jnp.asarray(c, jnp.int32))) if contextual \
            else episode.observations[0]
        x = np.arange(num_arms)
        ax.bar(x - 0.2, true, width=0.4, color="tab:gray", label="true mean reward")
        if values_fn is not None:
            learned = np.asarray(values_fn(agent_state, obs))
            ax.bar(x + 0.2, learned, width=0.4, color="tab:blue", label="learned value")
        else:
            probs = _policy_probabilities(result.agent, agent_state, obs, num_arms)
            ax2 = ax.twinx()
            bars = ax2.bar(x + 0.2, probs, width=0.4, color="tab:blue")
            prob_bars = prob_bars or bars
            ax2.set_ylim(0, 1)
            if i % cols == cols - 1 or not contextual:
                ax2.set_ylabel("policy probability")
        best = int(np.argmax(true))
        ax.set_xticks(x)
        ax.set_title(f"context {c}: best arm {best}" if contextual
                     else f"best arm {best}; pulls this episode: most {int(np.argmax(pulls))}",
                     fontsize=9)
        if i % cols == 0:
            ax.set_ylabel("mean reward")
        if i == 0:
            handles, labels = ax.get_legend_handles_labels()
            if prob_bars is not None:
                handles += [prob_bars]
                labels += ["policy probability (sampled)"]
            ax.legend(handles, labels, fontsize=7, loc="upper left")
    fig.suptitle(f"{result.algorithm} on {result.env_name}: what the agent learned vs the truth")
    fig.tight_layout()
    save_figure(fig, path)
    return path


def bandit_text(episode: Episode) -> str:
    num = int(episode.actions.max()) + 1 if episode.length else 0
    pulls = np.bincount(episode.actions.astype(int), minlength=num)
    share = ", ".join(f"arm {a}: {n}" for a, n in enumerate(pulls) if n)
    mean = episode.total_return / max(episode.length, 1)
    return (f"{episode.length} pulls, total reward {episode.total_return:g} "
            f"(mean {mean:.2f} per pull); pulls per arm: {share}")


# ------------------------------------------------------------------------------ distributions
def distribution_chart(result: Any, env: Any, agent_state: Any, episode: Episode,
                       path: Path) -> Path:
    """A distributional agent's (``Agent.distribution``) learned return distribution of
    every action at the episode's first state (``jaxrl.output.plotting.return_distribution``)."""
    import jax

    from jaxrl.output.plotting import return_distribution

    dist = jax.device_get(result.agent.distribution(agent_state, episode.observations[0]))
    names = _action_names(env)
    title = f"{result.algorithm} on {result.env_name}: return distribution at the first state"
    return_distribution(dist, path, action_names=names if names and len(names) ==
                        np.shape(dist.atoms)[0] else None, title=title)
    return path


def attention_chart(result: Any, env: Any, env_params: Any, agent_state: Any,
                    episode: Episode, path: Path) -> Path:
    """A relational DQN's attention heads at the episode's first observation, over the view
    (the env's ``render_view(obs)`` when it has one; ``jaxrl.output.plotting.attention_maps``)."""
    import jax.numpy as jnp

    from jaxrl.algos import dqn
    from jaxrl.core.networks import attention_weights
    from jaxrl.output.plotting import attention_maps

    obs = np.asarray(episode.observations[0])
    net = dqn.q_network(result.agent.config, env, env_params)
    weights = np.asarray(attention_weights(net, agent_state.params, jnp.asarray(obs)[None])[0])
    draw = getattr(_unwrapped(env), "render_view", None)
    side = obs.shape[0]
    view = np.asarray(draw(obs)) if callable(draw) else np.kron(
        np.full((side, obs.shape[1]), 200, np.uint8), np.ones((16, 16, 3), np.uint8))
    attention_maps(view, weights, path, title=f"{result.algorithm} on {result.env_name}: "
                   f"attention received per head at the first step")
    return path


# ------------------------------------------------------------------------------ fallback
def plot_episode(episode: Episode, path: Path, title: str = "") -> Path:
    """Observations (first 8 dimensions) and rewards over the episode."""
    from jaxrl.output.plotting import figure, save_figure

    fig = figure(7.0, 5.0)
    ax = fig.add_subplot(2, 1, 1)
    obs = np.asarray([np.ravel(o) for o in episode.observations], np.float64)
    for k in range(min(obs.shape[1], 8)):
        ax.plot(obs[:, k], label=f"obs[{k}]")
    ax.legend(fontsize=7, ncol=4)
    ax.set_title(title, fontsize=9)
    ax2 = fig.add_subplot(2, 1, 2)
    ax2.step(np.arange(1, episode.length + 1), episode.rewards, where="post")
    ax2.set_xlabel("step")
    ax2.set_ylabel("reward")
    fig.tight_layout()
    save_figure(fig, path)
    return path
