"""One episode of a learned policy, shown the way a person wants to see it.

The episode is played by ``jaxrl.core.episodes`` (one recorded episode, greedy or sampled
actions, in one compiled program); the host then draws it:

* Text boards (environments with ``render(state) -> str``: Gridworld, Taxi): the
  board after every move, with the action and reward, printed and saved as text, and
  the same boards as an animated GIF and a PNG strip.
* Everything with pixels or a drawable state: an animated GIF (``<out>.gif``) and a
  PNG strip of evenly spaced frames (``<out>.png``). Drawn from the state: CartPole
  and MountainCar (jaxrl's and gymnax's, the continuous one too), gymnax's Acrobot
  and Pendulum. Drawn from the observation: any image-like observation
  (``[H, W]`` or ``[H, W, C]``): MinAtar's boolean planes (one colour per channel,
  named in a legend), Pong, Catch, DeepSea...
* Worlds with many agents that draw themselves (``render_image(state)`` -> RGB array:
  the Ising lattices, the battle): an animated GIF and a PNG strip of those pictures,
  captioned with the env's ``describe(state)``; with a text ``render`` too, the first
  and last boards are printed (the spin grid before and after the policy acts).
* Bandits: a bar chart of the agent's learned values (``Agent.values``; the action
  probabilities of its policy when it has none) beside the true means, for the
  problem the agent trained on.
* Anything else: observations and rewards over the episode, as a PNG plot.
* Distributional agents (``Agent.distribution``: C51, QR-DQN) also get
  ``<out>_distribution.png``, the learned return distribution of every action at the
  episode's first state.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from pathlib import Path
from typing import IO, Any, Callable

import numpy as np

from jaxrl.core.episodes import Episode, task_just_reset, training_env_state

__all__ = [
    "Episode", "PlayOutput", "frame_drawer", "kind", "play", "rollout", "text_episode",
    "training_env_state", "write_video",
]

FRAME_SIZE = (600, 400)  # classic-control frames, pixels


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


def _fixed_kind(env: Any) -> str | None:
    """``text`` or ``bandit`` when the env's type decides it, else None."""
    base = _unwrapped(env)
    if callable(getattr(base, "render_image", None)):
        return "frames"
    if callable(getattr(base, "render", None)):
        return "text"
    if type(base).__name__ in ("Bandit", "ContextualBandit"):
        return "bandit"
    return None


def kind(env: Any, env_params: Any = None, episode: Episode | None = None) -> str:
    """How ``play`` shows ``env``: ``text``, ``bandit``, ``frames`` or ``plot``.

    ``frames`` needs the episode (or at least a reset) to look at its state and
    observation: see ``frame_drawer``.
    """
    how = _fixed_kind(env)
    if how is not None:
        return how
    if episode is None:
        import jax

        params = env_params if env_params is not None else env.default_params
        obs, state = jax.device_get(env.reset(jax.random.key(0), params))
        episode = Episode([state], [np.asarray(obs)], np.zeros((0,)), np.zeros((0,)), False,
                          False)
    return "frames" if frame_drawer(env, env_params, episode) is not None else "plot"


def play(result: Any, *, seed_index: int = 0, greedy: bool = True, seed: int = 0,
         out: str | os.PathLike | None = None, max_steps: int | None = None, delay: float = 0.0,
         stream: IO[str] | None = None) -> PlayOutput:
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

    Returns:
        ``PlayOutput``.
    """
    import jax

    stream = stream if stream is not None else sys.stdout
    env, env_params = result.env, result.env_params
    if env is None:
        from jaxrl import envs
        env, env_params = envs.make(result.spec.env, **dict(result.spec.env_options or {}))
    if out is None:
        out = (Path(result.run_dir) if result.run_dir else Path(".")) / "play"
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    agent_state = jax.tree.map(lambda x: x[seed_index], result.state)
    how = _fixed_kind(env)
    # A bandit problem is drawn at reset: play the one this seed trained on (its first
    # env copy), so learned values and true means are about the same arms.
    start = training_env_state(agent_state, env, env_params) if how == "bandit" else None
    if start is not None:
        start = jax.device_get(start)
    episode = rollout(result.agent, agent_state, env, env_params, greedy=greedy, seed=seed,
                      max_steps=max_steps, start=start)
    how = how or kind(env, env_params, episode)
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
        path.write_text(header + "\n\n" + text)
        files.append(path)
        draw = board_drawer(env, episode)
        files += write_video(draw, len(episode.states), out, seconds_per_step=0.4)
    elif how == "frames":
        draw, seconds = frame_drawer(env, env_params, episode)
        files += write_video(draw, len(episode.states), out, seconds_per_step=seconds)
        text = _first_and_last(env, episode)
        if text:
            print(text, file=stream)
            path = out.with_suffix(".txt")
            path.write_text(header + "\n\n" + text + "\n")
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
def _font(size: int, mono: bool = False) -> Any:
    """DejaVu (shipped with matplotlib) at ``size`` px; Pillow's default font if missing."""
    from PIL import ImageFont

    try:
        import matplotlib

        name = "DejaVuSansMono.ttf" if mono else "DejaVuSans.ttf"
        return ImageFont.truetype(os.path.join(matplotlib.get_data_path(), "fonts", "ttf", name),
                                  size)
    except (ImportError, OSError):
        return ImageFont.load_default()


def _inner_state(state: Any) -> Any:
    """Look through wrapper states (``EpisodeStatistics``, ``TimeLimit``) to the env's own."""
    while hasattr(state, "env_state"):
        state = state.env_state
    return state


def _has(state: Any, *names: str) -> bool:
    return all(hasattr(state, n) for n in names)


def _action_text(action: Any) -> str:
    a = np.asarray(action)
    if a.size == 1:
        v = a.ravel()[0]
        return str(int(v)) if np.issubdtype(a.dtype, np.integer) else f"{float(v):+.2f}"
    return np.array2string(a, precision=2)


def _number(x: float) -> str:
    return f"{x:.0f}" if float(x).is_integer() else f"{x:.2f}"


def _caption(episode: Episode, t: int, extra: str = "") -> str:
    text = f"step {t}"
    if t > 0:
        text += (f"   action {_action_text(episode.actions[t - 1])}"
                 f"   return {_number(float(np.sum(episode.rewards[:t])))}")
    return text + (f"   {extra}" if extra else "")


def frame_drawer(env: Any, env_params: Any, episode: Episode
                 ) -> tuple[Callable[[int], Any], float] | None:
    """``(draw, seconds_per_step)`` for the episode's frames, or None if it has none to draw.

    ``draw(t)`` is a Pillow image of ``episode.states[t]``. Chosen by what the state
    holds (cart ``x`` and ``theta``; ``position`` and ``velocity``; Acrobot's joint
    angles; Pendulum's ``theta`` and ``last_u``), else by the observation when it is
    an image (``[H, W]`` or ``[H, W, C]``, both sides at least 3).
    """
    params = env_params if env_params is not None else env.default_params
    state = _inner_state(episode.states[0])
    obs = np.asarray(episode.observations[0])
    if callable(getattr(_unwrapped(env), "render_image", None)):
        return _image_drawer(env, episode), 0.15
    if _has(state, "x", "theta"):
        return (lambda t: _cartpole(params, _inner_state(episode.states[t]), episode, t)), 0.02
    if _has(state, "position", "velocity"):
        return (lambda t: _mountain_car(params, _inner_state(episode.states[t]), episode, t)), 0.03
    if _has(state, "joint_angle1", "joint_angle2"):
        return (lambda t: _acrobot(params, _inner_state(episode.states[t]), episode, t)), 0.05
    if _has(state, "theta", "theta_dot", "last_u"):
        return (lambda t: _pendulum(params, _inner_state(episode.states[t]), episode, t)), 0.05
    if obs.ndim in (2, 3) and min(obs.shape[:2]) >= 3 and (obs.ndim == 2 or obs.shape[2] <= 16):
        return _pixel_drawer(env, episode), 0.08
    return None


def _canvas(size: tuple[int, int] = FRAME_SIZE) -> tuple[Any, Any]:
    from PIL import Image, ImageDraw

    img = Image.new("RGB", size, "white")
    return img, ImageDraw.Draw(img)


def _cartpole(params: Any, state: Any, episode: Episode, t: int) -> Any:
    img, d = _canvas()
    w, _ = img.size
    x, theta = float(state.x), float(state.theta)
    limit = float(params.x_threshold)
    scale = w / (2 * limit)
    track_y = 300
    d.line([(0, track_y), (w, track_y)], fill="black", width=1)
    for edge in (-limit, limit):
        ex = edge * scale + w / 2
        d.line([(ex, track_y - 10), (ex, track_y + 10)], fill="red", width=2)
    cx = x * scale + w / 2
    cw, ch = 50, 30
    d.rectangle([cx - cw / 2, track_y - ch / 2, cx + cw / 2, track_y + ch / 2], fill="black")
    pole = scale * 2 * float(params.length)
    axle = (cx, track_y - ch / 4)
    top = (cx + pole * np.sin(theta), axle[1] - pole * np.cos(theta))
    d.line([axle, top], fill=(202, 152, 101), width=10)
    d.ellipse([cx - 5, axle[1] - 5, cx + 5, axle[1] + 5], fill=(129, 132, 203))
    extra = f"x {x:+.2f}   angle {np.degrees(theta):+.1f} deg"
    d.text((10, 10), _caption(episode, t, extra), fill="black", font=_font(13))
    return img


def _mountain_car(params: Any, state: Any, episode: Episode, t: int) -> Any:
    img, d = _canvas()
    w, h = img.size
    lo, hi = float(params.min_position), float(params.max_position)
    scale = w / (hi - lo)

    def to_px(p: float) -> tuple[float, float]:
        return (p - lo) * scale, h - 40 - (np.sin(3 * p) * 0.45 + 0.55) * scale * 0.8

    d.line([to_px(p) for p in np.linspace(lo, hi, 200)], fill="black", width=2)
    gx, gy = to_px(float(params.goal_position))
    d.line([(gx, gy), (gx, gy - 40)], fill="black", width=2)
    d.polygon([(gx, gy - 40), (gx + 25, gy - 33), (gx, gy - 26)], fill=(204, 204, 0))
    pos = float(state.position)
    px, py = to_px(pos)
    d.ellipse([px - 12, py - 24, px + 12, py], fill=(60, 60, 200))
    extra = f"position {pos:+.3f}   velocity {float(state.velocity):+.4f}"
    d.text((10, 10), _caption(episode, t, extra), fill="black", font=_font(13))
    return img


def _acrobot(params: Any, state: Any, episode: Episode, t: int) -> Any:
    img, d = _canvas()
    w, h = img.size
    l1, l2 = float(params.link_length_1), float(params.link_length_2)
    scale = (h / 2 - 30) / (l1 + l2)
    cx, cy = w / 2, h / 2 + 15
    a1, a2 = float(state.joint_angle1), float(state.joint_angle2)
    # Angles from hanging straight down, y up: joint = l1 (sin a1, -cos a1).
    p1 = (cx + scale * l1 * np.sin(a1), cy + scale * l1 * np.cos(a1))
    p2 = (p1[0] + scale * l2 * np.sin(a1 + a2), p1[1] + scale * l2 * np.cos(a1 + a2))
    goal_y = cy - scale * 1.0  # the tip must rise one link length above the pivot
    d.line([(40, goal_y), (w - 40, goal_y)], fill=(60, 160, 60), width=2)
    d.text((w - 130, goal_y - 18), "goal height", fill=(60, 160, 60), font=_font(12))
    for a, b in (((cx, cy), p1), (p1, p2)):
        d.line([a, b], fill=(0, 204, 204), width=12)
    for px, py in ((cx, cy), p1):
        d.ellipse([px - 7, py - 7, px + 7, py + 7], fill=(204, 204, 0))
    height = -l1 * np.cos(a1) - l2 * np.cos(a1 + a2)
    d.text((10, 10), _caption(episode, t, f"tip height {height:+.2f}"), fill="black",
           font=_font(13))
    return img


def _pendulum(params: Any, state: Any, episode: Episode, t: int) -> Any:
    img, d = _canvas()
    w, h = img.size
    cx, cy = w / 2, h / 2 + 15
    rod = h / 2 - 50
    theta = float(state.theta)  # 0: upright
    tip = (cx - rod * np.sin(theta), cy - rod * np.cos(theta))
    d.ellipse([cx - rod, cy - rod, cx + rod, cy + rod], outline=(220, 220, 220))
    d.line([(cx, cy), tip], fill=(204, 77, 77), width=14)
    d.ellipse([cx - 6, cy - 6, cx + 6, cy + 6], fill="black")
    torque = float(np.asarray(state.last_u).ravel()[0])
    bar = 120 * torque / max(float(params.max_torque), 1e-6)
    d.rectangle([cx, h - 30, cx + bar, h - 18] if bar >= 0 else [cx + bar, h - 30, cx, h - 18],
                 fill=(77, 77, 204))
    d.text((cx - 60, h - 16), "torque (last)", fill="black", font=_font(11))
    wrapped = (theta + np.pi) % (2 * np.pi) - np.pi
    extra = f"angle {np.degrees(wrapped):+.1f} deg from upright"
    d.text((10, 10), _caption(episode, t, extra), fill="black", font=_font(13))
    return img


# Channel names of gymnax's image observations, in channel order (for the legend).
CHANNEL_NAMES = {
    "Asterix-MinAtar": ("player", "enemy", "trail", "gold"),
    "Breakout-MinAtar": ("paddle", "ball", "trail", "brick"),
    "Freeway-MinAtar": ("chicken", "car", "speed 1", "speed 2", "speed 3", "speed 4",
                        "speed 5"),
    "Seaquest-MinAtar": ("sub front", "sub back", "friendly bullet", "trail", "enemy bullet",
                         "enemy fish", "enemy sub", "oxygen gauge", "diver gauge", "diver"),
    "SpaceInvaders-MinAtar": ("cannon", "alien", "alien left", "alien right",
                              "friendly bullet", "enemy bullet"),
    "Pong-misc": ("paddles", "ball", "ball, last step"),
}
PALETTE = [(255, 215, 0), (230, 57, 70), (69, 123, 240), (46, 196, 100), (255, 140, 0),
           (170, 90, 240), (0, 200, 200), (255, 105, 180), (150, 150, 150), (160, 110, 60),
           (240, 240, 240), (120, 200, 60), (0, 120, 120), (200, 160, 255), (255, 180, 120),
           (90, 90, 160)]
BACKGROUND = (18, 18, 28)


def _pixel_drawer(env: Any, episode: Episode) -> Callable[[int], Any]:
    """Frames from image observations: each cell coloured by its first active channel
    (channel planes), or grey levels for a single ``[H, W]`` plane."""
    from PIL import Image, ImageDraw

    first = np.asarray(episode.observations[0])
    rows, cols = first.shape[:2]
    channels = first.shape[2] if first.ndim == 3 else 1
    cell = int(max(6, min(48, 520 // cols, 360 // rows)))
    name = getattr(env, "name", "").split("/")[-1]
    names = CHANNEL_NAMES.get(name, tuple(f"channel {k}" for k in range(channels)))
    font = _font(13)
    legend_rows = 0 if first.ndim == 2 else -(-channels // 4)
    width = max(cols * cell, 480)
    top, legend_h = 26, 20 * legend_rows + (6 if legend_rows else 0)
    height = top + rows * cell + legend_h
    left = (width - cols * cell) // 2
    colours = np.array([PALETTE[k % len(PALETTE)] for k in range(channels)], np.uint8)
    if first.ndim == 2:
        every = np.asarray(episode.observations, np.float64)
        lo, hi = float(every.min()), float(every.max())
        span = hi - lo if hi > lo else 1.0

    def draw(t: int) -> Any:
        obs = np.asarray(episode.observations[t], np.float64)
        if obs.ndim == 2:
            level = (255 * (obs - lo) / span).clip(0, 255).astype(np.uint8)
            rgb = np.repeat(level[..., None], 3, axis=-1)
        else:
            on = obs > 0
            # The first active channel wins: MinAtar puts the player in channel 0.
            which = np.argmax(on, axis=-1)
            rgb = np.where(on.any(axis=-1)[..., None], colours[which], np.uint8(BACKGROUND))
        board = Image.fromarray(rgb.astype(np.uint8), "RGB").resize(
            (cols * cell, rows * cell), Image.NEAREST)
        img = Image.new("RGB", (width, height), BACKGROUND)
        img.paste(board, (left, top))
        d = ImageDraw.Draw(img)
        if cell >= 12:  # a faint grid shows the cells
            for c in range(cols + 1):
                d.line([(left + c * cell, top), (left + c * cell, top + rows * cell)],
                       fill=(40, 40, 55))
            for r in range(rows + 1):
                d.line([(left, top + r * cell), (left + cols * cell, top + r * cell)],
                       fill=(40, 40, 55))
        d.text((8, 5), _caption(episode, t), fill="white", font=font)
        for k in range(channels if legend_rows else 0):
            r, c = divmod(k, 4)
            x, y = 8 + c * (width // 4), top + rows * cell + 6 + 20 * r
            d.rectangle([x, y + 2, x + 12, y + 14], fill=tuple(int(v) for v in colours[k]))
            d.text((x + 18, y), names[k] if k < len(names) else f"channel {k}", fill="white",
                   font=font)
        return img

    return draw


def _first_and_last(env: Any, episode: Episode) -> str:
    """The start and end boards of a many-agent world with a text ``render`` ("" if none)."""
    base = _unwrapped(env)
    if not callable(getattr(base, "render", None)):
        return ""
    last = len(episode.states) - 1
    parts = []
    for t, title in ((0, "start"), (last, f"after {last} steps")):
        state = _inner_state(episode.states[t])
        describe = getattr(base, "describe", None)
        extra = f" ({describe(state)})" if callable(describe) else ""
        parts.append(f"{title}{extra}:\n{_framed(base.render(state))}")
    return "\n\n".join(parts)


def _image_drawer(env: Any, episode: Episode) -> Callable[[int], Any]:
    """Frames from the env's own ``render_image(state)`` (many-agent worlds), with a
    caption: the step, the return per agent so far and the env's ``describe(state)``."""
    from PIL import Image, ImageDraw

    base = _unwrapped(env)
    agents = int(getattr(base, "num_agents", 1))
    describe = getattr(base, "describe", None)
    first = np.asarray(base.render_image(_inner_state(episode.states[0])))
    scale = max(1, int(np.ceil(360 / max(first.shape[:2]))))
    font = _font(13)

    def draw(t: int) -> Any:
        state = _inner_state(episode.states[t])
        pic = Image.fromarray(np.asarray(base.render_image(state), np.uint8), "RGB")
        if scale > 1:
            pic = pic.resize((pic.width * scale, pic.height * scale), Image.NEAREST)
        img = Image.new("RGB", (max(pic.width, 420), pic.height + 28), "white")
        img.paste(pic, ((img.width - pic.width) // 2, 28))
        text = f"step {t}"
        if t > 0:
            text += f"   return {float(np.sum(episode.rewards[:t])) / agents:.2f} per agent"
        if callable(describe):
            text += f"   {describe(state)}"
        ImageDraw.Draw(img).text((8, 6), text, fill="black", font=font)
        return img

    return draw


def board_drawer(env: Any, episode: Episode) -> Callable[[int], Any]:
    """Frames of a text board (Gridworld, Taxi): the board in a monospace font, with
    the move that led to it above."""
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


def write_video(draw: Callable[[int], Any], num_frames: int, out: Path, seconds_per_step: float,
                max_frames: int = 600, strip: int = 8) -> list[Path]:
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

    Returns:
        ``[gif, png]``.
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
    first.save(gif, save_all=True, append_images=rest, duration=durations, loop=0)
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
    sheet.save(png)
    return [gif, png]


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

    from jaxrl.output.plotting import figure

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
    fig.savefig(path)
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
    from jaxrl.output.plotting import figure

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
    fig.savefig(path)
    return path
