"""One episode of a learned policy, shown the way a person wants to see it.

* Text boards (environments with ``render(state) -> str``: Gridworld, Taxi): the
  board after every move, with the action and reward, printed and saved as text.
* CartPole and MountainCar: frames drawn with Pillow into an animated GIF and a
  PNG strip of evenly spaced frames.
* Bandits: a bar chart of the agent's learned values (``Agent.values``; the
  action probabilities of its policy when it has none) beside the true means.
* Anything else: observations and rewards over the episode, as a PNG plot.

The episode itself runs as one compiled ``lax.scan`` (greedy or sampled actions),
then the host draws it.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from pathlib import Path
from typing import IO, Any

import numpy as np


@dataclasses.dataclass
class Episode:
    """One episode on the host: ``states[t]`` is the state after ``t`` steps (``states[0]``
    the start), ``actions[t]`` / ``rewards[t]`` the step from ``states[t]`` to ``states[t+1]``."""

    states: list[Any]
    observations: list[np.ndarray]
    actions: np.ndarray
    rewards: np.ndarray
    terminated: bool
    truncated: bool

    @property
    def length(self) -> int:
        return len(self.actions)

    @property
    def total_return(self) -> float:
        return float(np.sum(self.rewards))


@dataclasses.dataclass
class PlayOutput:
    """What ``play`` produced: the episode, the files written and the text shown."""

    episode: Episode
    files: list[Path]
    text: str


def rollout(agent: Any, agent_state: Any, env: Any, env_params: Any, *, greedy: bool = True,
            seed: int = 0, max_steps: int | None = None, start: Any = None) -> Episode:
    """Play one episode of ``agent`` (one seed's state, unbatched) in ``env``.

    ``start``: an env state to begin from instead of a fresh reset (its observation
    comes from ``env.observe``).
    """
    import jax
    import jax.numpy as jnp

    from envs.core import tree_where
    from jaxrl.run import episode_cap

    cap = episode_cap(env_params, max_steps)
    base = _unwrapped(env)

    def run(key):
        k_reset, k_loop = jax.random.split(key)
        if start is None:
            obs, state = env.reset(k_reset, env_params)
        else:
            state = jax.tree.map(jnp.asarray, start)
            obs = base.observe(state)

        def step(carry, k):
            state, obs, done = carry
            k_act, k_env = jax.random.split(k)
            action = env.clip_action(agent.act(agent_state, obs, k_act, greedy), env_params)
            obs2, state2, reward, term, trunc, _ = env.step_env(k_env, state, action, env_params)
            state2 = tree_where(done, state, state2)
            obs2 = jax.tree.map(lambda a, b: jnp.where(done, a, b), obs, obs2)
            out = (state2, obs2, action, reward, term, trunc, done)
            return (state2, obs2, done | term | trunc), out

        _, traj = jax.lax.scan(step, (state, obs, jnp.zeros((), bool)), jax.random.split(k_loop, cap))
        return state, obs, traj

    state0, obs0, traj = jax.device_get(jax.jit(run)(jax.random.key(seed)))
    states, observations, actions, rewards, term, trunc, was_done = traj
    n = int(np.sum(~np.asarray(was_done)))
    take = lambda tree, i: jax.tree.map(lambda x: np.asarray(x)[i], tree)  # noqa: E731
    return Episode(
        states=[state0] + [take(states, i) for i in range(n)],
        observations=[np.asarray(obs0)] + [np.asarray(observations[i]) for i in range(n)],
        actions=np.asarray(actions[:n]),
        rewards=np.asarray(rewards[:n], np.float64),
        terminated=bool(n and term[n - 1]),
        truncated=bool(n and trunc[n - 1] and not term[n - 1]),
    )


def _unwrapped(env: Any) -> Any:
    return getattr(env, "unwrapped", env)


def kind(env: Any) -> str:
    """How ``play`` shows ``env``: ``text``, ``cartpole``, ``mountaincar``, ``bandit`` or ``plot``."""
    base = _unwrapped(env)
    name = type(base).__name__
    if callable(getattr(base, "render", None)):
        return "text"
    if name == "CartPole":
        return "cartpole"
    if name == "MountainCar":
        return "mountaincar"
    if name in ("Bandit", "ContextualBandit"):
        return "bandit"
    return "plot"


def play(result: Any, *, seed_index: int = 0, greedy: bool = True, seed: int = 0,
         out: str | os.PathLike | None = None, max_steps: int | None = None, delay: float = 0.0,
         stream: IO[str] | None = None) -> PlayOutput:
    """Play and show one episode of ``result`` (a ``jaxrl.run.Result``).

    Args:
        result: a trained run (``jaxrl.train`` or ``jaxrl.run.load``).
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
    from jaxrl.run import first_seed, make_env

    stream = stream if stream is not None else sys.stdout
    env, env_params = result.env, result.env_params
    if env is None:
        env, env_params = make_env(result.spec.env, result.spec.env_options)
    if out is None:
        out = (Path(result.run_dir) if result.run_dir else Path(".")) / "play"
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    agent_state = first_seed(result.state, seed_index)
    how = kind(env)
    # A bandit problem is drawn at reset: play the one this seed trained on (its first
    # env copy), so learned values and true means are about the same arms.
    start = training_env_state(agent_state, env, env_params) if how == "bandit" else None
    episode = rollout(result.agent, agent_state, env, env_params, greedy=greedy, seed=seed,
                      max_steps=max_steps, start=start)
    policy = "greedy" if greedy else "stochastic"
    header = (f"{result.algorithm} on {result.env_name}, seed {seed_index}, {policy} policy: "
              f"return {episode.total_return:g} in {episode.length} steps"
              f" ({'terminated' if episode.terminated else 'truncated' if episode.truncated else 'cut at the step cap'})")
    files: list[Path] = []
    if how == "text":
        text = text_episode(env, episode, stream=stream, delay=delay)
        path = out.with_suffix(".txt")
        path.write_text(header + "\n\n" + text)
        files.append(path)
    elif how in ("cartpole", "mountaincar"):
        frames = [draw_frame(env, env_params, s, t, episode) for t, s in enumerate(episode.states)]
        files += save_animation(frames, out, seconds_per_step=0.02 if how == "cartpole" else 0.03)
        text = ""
    elif how == "bandit":
        files.append(bandit_chart(result, env, env_params, agent_state, episode,
                                  out.with_suffix(".png"), greedy=greedy))
        text = bandit_text(episode)
        print(text, file=stream)
    else:
        files.append(plot_episode(episode, out.with_suffix(".png"), title=header))
        text = ""
    print(header, file=stream)
    for f in files:
        print(f"wrote {f}", file=stream)
    return PlayOutput(episode, files, text)


def training_env_state(agent_state: Any, env: Any, env_params: Any) -> Any:
    """The state of the first env copy inside a training state, or None if there is none.

    Found by type: the first subtree that is an instance of ``env``'s state class
    (leaves batched over env copies; copy 0 is returned, with its episode clock reset).
    """
    import jax

    proto = jax.eval_shape(lambda k: env.reset(k, env_params)[1], jax.random.key(0))
    cls = type(proto)
    found = []

    def visit(x):
        if isinstance(x, cls) and not found:
            found.append(x)
        return x

    jax.tree.map(visit, agent_state, is_leaf=lambda x: isinstance(x, cls))
    if not found:
        return None
    sub = found[0]
    shapes = [np.shape(leaf) for leaf in jax.tree.leaves(proto)]
    leaves = jax.tree.leaves(sub)
    if any(np.ndim(a) == len(p) + 1 for a, p in zip(leaves, shapes)):
        sub = jax.tree.map(lambda a: np.asarray(a)[0], sub)
    if hasattr(sub, "time"):
        sub = sub.replace(time=np.zeros_like(np.asarray(sub.time)))
    return sub


# ------------------------------------------------------------------------------ text
def _action_names(env: Any) -> tuple[str, ...] | None:
    module = sys.modules.get(type(_unwrapped(env)).__module__)
    names = getattr(module, "ACTION_NAMES", None)
    return tuple(names) if names is not None else None


def text_episode(env: Any, episode: Episode, stream: IO[str] | None = None,
                 delay: float = 0.0) -> str:
    """Every board of the episode with the move that led to it; printed to ``stream``."""
    base = _unwrapped(env)
    names = _action_names(env)
    colors = stream is not None and hasattr(stream, "isatty") and stream.isatty()
    blocks = []
    total = 0.0
    for t, state in enumerate(episode.states):
        if t == 0:
            title = "start"
        else:
            a = int(episode.actions[t - 1])
            total += episode.rewards[t - 1]
            label = names[a] if names and 0 <= a < len(names) else str(a)
            title = f"step {t}: {label}, reward {episode.rewards[t - 1]:g}, return {total:g}"
        try:
            board = base.render(state, colors=colors) if "colors" in _params(base.render) else base.render(state)
            plain = base.render(state, colors=False) if colors else board
        except TypeError:
            board = plain = str(state)
        block_shown = f"{title}\n{_framed(board)}\n"
        blocks.append(f"{title}\n{_framed(plain)}\n")
        if stream is not None:
            print(block_shown, file=stream, flush=True)
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
def draw_frame(env: Any, env_params: Any, state: Any, t: int, episode: Episode) -> Any:
    """A Pillow image of ``state`` (CartPole or MountainCar), 600 x 400."""
    from PIL import Image, ImageDraw

    w, h = 600, 400
    img = Image.new("RGB", (w, h), "white")
    d = ImageDraw.Draw(img)
    name = type(_unwrapped(env)).__name__
    if name == "CartPole":
        x, theta = float(state.x), float(state.theta)
        world = 2 * float(env_params.x_threshold)
        scale = w / world
        track_y = 300
        d.line([(0, track_y), (w, track_y)], fill="black", width=1)
        for edge in (-float(env_params.x_threshold), float(env_params.x_threshold)):
            ex = edge * scale + w / 2
            d.line([(ex, track_y - 10), (ex, track_y + 10)], fill="red", width=2)
        cx = x * scale + w / 2
        cw, ch = 50, 30
        d.rectangle([cx - cw / 2, track_y - ch / 2, cx + cw / 2, track_y + ch / 2], fill="black")
        pole = scale * 2 * float(env_params.length)
        top = (cx + pole * np.sin(theta), track_y - ch / 4 - pole * np.cos(theta))
        d.line([(cx, track_y - ch / 4), top], fill=(202, 152, 101), width=10)
        d.ellipse([cx - 5, track_y - ch / 4 - 5, cx + 5, track_y - ch / 4 + 5], fill=(129, 132, 203))
        caption = f"step {t}   x {x:+.2f}   angle {np.degrees(theta):+.1f} deg"
    else:  # MountainCar
        lo, hi = float(env_params.min_position), float(env_params.max_position)
        scale = w / (hi - lo)
        height = lambda p: np.sin(3 * p) * 0.45 + 0.55  # noqa: E731
        to_px = lambda p: ((p - lo) * scale, h - 40 - height(p) * scale * 0.8)  # noqa: E731
        xs = np.linspace(lo, hi, 200)
        d.line([to_px(p) for p in xs], fill="black", width=2)
        gx, gy = to_px(float(env_params.goal_position))
        d.line([(gx, gy), (gx, gy - 40)], fill="black", width=2)
        d.polygon([(gx, gy - 40), (gx + 25, gy - 33), (gx, gy - 26)], fill=(204, 204, 0))
        pos = float(state.position)
        px, py = to_px(pos)
        d.ellipse([px - 12, py - 24, px + 12, py], fill=(60, 60, 200))
        caption = f"step {t}   position {pos:+.3f}   velocity {float(state.velocity):+.4f}"
    if t > 0:
        caption += f"   action {int(episode.actions[t - 1])}   return {np.sum(episode.rewards[:t]):g}"
    d.text((10, 10), caption, fill="black")
    return img


def save_animation(frames: list[Any], out: Path, seconds_per_step: float,
                   max_frames: int = 200, strip: int = 8) -> list[Path]:
    """``<out>.gif`` (at most ``max_frames`` frames, real time) and ``<out>.png`` (a strip)."""
    from PIL import Image

    stride = max(1, int(np.ceil(len(frames) / max_frames)))
    shown = frames[::stride]
    if shown[-1] is not frames[-1]:
        shown.append(frames[-1])
    gif = out.with_suffix(".gif")
    shown[0].save(gif, save_all=True, append_images=shown[1:],
                  duration=max(20, int(1000 * seconds_per_step * stride)), loop=0)
    picks = np.unique(np.linspace(0, len(frames) - 1, min(strip, len(frames))).round().astype(int))
    small = [frames[i].resize((frames[i].width // 2, frames[i].height // 2)) for i in picks]
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
    acts = jax.jit(jax.vmap(lambda k: agent.act(agent_state, obs, k, False)))(keys)
    return np.bincount(np.asarray(acts).ravel(), minlength=num_actions)[:num_actions] / samples


def bandit_chart(result: Any, env: Any, env_params: Any, agent_state: Any, episode: Episode,
                 path: Path, greedy: bool = True) -> Path:
    """Learned values (or policy probabilities) against the true mean reward of every arm."""
    import jax.numpy as jnp

    from jaxrl.plotting import _figure

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
    fig = _figure(3.2 * cols if contextual else 7.0, 2.8 * rows if contextual else 4.2)
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
    return (f"{episode.length} pulls, total reward {episode.total_return:g} "
            f"(mean {episode.total_return / max(episode.length, 1):.2f} per pull); pulls per arm: {share}")


# ------------------------------------------------------------------------------ fallback
def plot_episode(episode: Episode, path: Path, title: str = "") -> Path:
    """Observations (first 8 dimensions) and rewards over the episode."""
    from jaxrl.plotting import _figure

    fig = _figure(7.0, 5.0)
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
