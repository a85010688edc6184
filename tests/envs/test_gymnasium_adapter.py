"""jaxrl environments behind Gymnasium's API: ``to_gymnasium``, ``to_gymnasium_vector``
and the ``jaxrl/<name>`` ids of ``jaxrl.gymnasium_plugin``.

Checks: Gymnasium's own ``check_env`` passes with no warning beyond the spec-less one;
a rollout through the adapter equals the jaxrl env driven by the documented key
sequence (rainy Taxi, so the step keys matter); the vector adapter equals ``VecEnv``
stepped directly, with Gymnasium 1.x same-step auto-reset info keys; bad input raises.
Registry: the plugin lists exactly the single-agent built-ins and imports no jax; every
``gymnasium.make("jaxrl/...")`` env passes ``check_env`` with no warning at all (the
spec warning an error); options reach ``envs.make``; the spec reports the env's own time
limit and Gymnasium's ``TimeLimit`` at that count changes nothing. Rendering: rgb_array
frames from ``render_image`` (new and old signatures, through wrappers, ``None`` meaning
"cannot draw"), and ``RecordVideo`` writes an MP4 of DoorKey when moviepy is installed.
"""

from __future__ import annotations

import inspect
import subprocess
import sys
import warnings

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from gymnasium.vector import AutoresetMode

from jaxrl import envs, gymnasium_plugin
from jaxrl.envs.gymnasium_adapter import GymnasiumEnv, GymnasiumVectorEnv

SPECLESS = "Not able to test alternative render modes"  # no EnvSpec: expected


@pytest.fixture(scope="module")
def adapters():
    """One adapter per env, compiled once and shared by the tests below."""
    made = {}

    def get(name, render_mode=None, **options):
        key = (name, render_mode, tuple(sorted(options.items())))
        if key not in made:
            env, params = envs.make(name, **options)
            made[key] = envs.to_gymnasium(env, params, render_mode=render_mode)
        return made[key]

    return get


@pytest.mark.parametrize(
    "name, render_mode, options",
    [
        ("CartPole-v1", None, {}),
        ("MountainCar-v0", None, {}),
        ("Taxi-v3", "ansi", {"is_rainy": True, "max_steps_in_episode": 25}),
        ("Gridworld-v0", "ansi", {"mode": "random"}),
        ("gymnax/Acrobot-v1", None, {}),
    ],
)
def test_check_env_passes(adapters, name, render_mode, options):
    genv = adapters(name, render_mode, **options)
    assert isinstance(genv, gym.Env)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(genv)
    unexpected = [str(w.message) for w in caught if SPECLESS not in str(w.message)]
    assert not unexpected, unexpected
    obs, _ = genv.reset(seed=5)
    assert obs in genv.observation_space
    if render_mode == "ansi":
        text = genv.render()
        assert isinstance(text, str) and len(text.splitlines()) >= 4
    else:  # rgb_array comes and goes with the env's render_image; no text render here
        assert set(genv.metadata["render_modes"]) <= {"rgb_array"}


def test_rollout_equals_the_jaxrl_env_with_the_documented_keys(adapters):
    """Rainy Taxi (random transitions): the adapter's keys are split as documented."""
    genv = adapters("Taxi-v3", "ansi", is_rainy=True, max_steps_in_episode=25)
    env, params = genv.env, genv.params
    reset_env, step_env = jax.jit(env.reset_env), jax.jit(env.step_env)
    rng = np.random.default_rng(0)
    obs, info = genv.reset(seed=11)
    key = jax.random.PRNGKey(11)
    key, sub = jax.random.split(key)
    ref_obs, state = reset_env(sub, params)
    assert obs == int(ref_obs) and isinstance(obs, int)
    np.testing.assert_array_equal(info["action_mask"], env.action_mask(ref_obs))
    episodes = side_steps = 0
    while episodes < 4:
        action = int(rng.integers(6))
        obs, reward, term, trunc, info = genv.step(action)
        key, sub = jax.random.split(key)
        ref_obs, state, ref_rew, ref_term, ref_trunc, ref_info = step_env(
            sub, state, jnp.int32(action), params
        )
        assert (obs, reward, term, trunc) == (
            int(ref_obs), float(ref_rew), bool(ref_term), bool(ref_trunc)
        )
        np.testing.assert_array_equal(info["action_mask"], ref_info["action_mask"])
        side_steps += float(info["prob"]) == pytest.approx(0.1)
        assert isinstance(reward, float) and isinstance(term, bool) and isinstance(trunc, bool)
        if term or trunc:  # Gymnasium semantics: no auto-reset, the caller resets
            episodes += 1
            assert genv.render().endswith(")\n")
            obs, _ = genv.reset()  # unseeded: continues the key stream
            key, sub = jax.random.split(key)
            ref_obs, state = reset_env(sub, params)
            assert obs == int(ref_obs)
    assert side_steps > 0  # the rain did blow the taxi sideways


def test_reset_seeds(adapters):
    genv = adapters("CartPole-v1")
    a, _ = genv.reset(seed=0)
    b, _ = genv.reset(seed=0)
    c, _ = genv.reset(seed=1)
    d, _ = genv.reset(seed=2**40)  # beyond 32 bits: hashed, not truncated to seed 0
    e, _ = genv.reset(seed=2**40 + 1)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c) and not np.array_equal(d, a) and not np.array_equal(d, e)
    assert a.dtype == np.float32 and a.shape == (4,)


def test_bad_input_raises(adapters):
    genv = adapters("CartPole-v1")
    genv.reset(seed=0)
    with pytest.raises(ValueError, match="outside the action space"):
        genv.step(2)
    with pytest.raises(ValueError, match="render_mode 'human' is not supported"):
        envs.to_gymnasium(envs.make("CartPole-v1")[0], render_mode="human")
    with pytest.raises(TypeError, match="jaxrl Environment"):
        envs.to_gymnasium(gym.make("CartPole-v1"))
    fresh = GymnasiumEnv(envs.make("MountainCar-v0")[0])
    with pytest.raises(RuntimeError, match="reset"):
        fresh.step(0)
    vec = envs.to_gymnasium_vector(envs.make("Taxi-v3")[0], 3)
    with pytest.raises(ValueError, match="one int seed"):
        vec.reset(seed=[1, 2, 3])
    vec.reset(seed=0)
    with pytest.raises(ValueError, match="shape"):
        vec.step(np.zeros(4, np.int64))
    with pytest.raises(ValueError, match="outside the action space"):
        vec.step(np.array([0, 6, 1]))


def _reference_rollout(env, params, num_envs, seed, actions):
    """``VecEnv`` stepped directly with the key sequence the vector adapter documents."""
    vec = envs.VecEnv(env, num_envs)
    step = jax.jit(vec.step)
    key = jax.random.PRNGKey(seed)
    key, sub = jax.random.split(key)
    obs, state = vec.reset(sub, params)
    out = [np.asarray(obs)]
    for a in actions:
        key, sub = jax.random.split(key)
        obs, state, reward, term, trunc, info = step(sub, state, jnp.asarray(a, jnp.int32), params)
        out.append(jax.tree.map(np.asarray, (obs, reward, term, trunc, info)))
    return out


@pytest.mark.parametrize("name, limit", [("CartPole-v1", 30), ("Taxi-v3", 15)])
def test_vector_env_matches_vecenv(name, limit):
    """Same-step auto-reset: a short time limit (a params field) gives both kinds of end."""
    num_envs, steps = 8, 60
    env, params = envs.make(name, max_steps_in_episode=limit)
    genv = envs.to_gymnasium_vector(env, num_envs, params)
    assert isinstance(genv, gym.vector.VectorEnv) and isinstance(genv, GymnasiumVectorEnv)
    assert genv.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP
    assert genv.observation_space.shape[0] == num_envs == genv.action_space.shape[0]
    genv.action_space.seed(1)
    actions = [genv.action_space.sample() for _ in range(steps)]
    ref = _reference_rollout(env, params, num_envs, 4, actions)

    obs, info = genv.reset(seed=4)
    np.testing.assert_array_equal(obs, ref[0])
    assert obs in genv.observation_space
    n_term = n_trunc = 0
    for t, a in enumerate(actions):
        obs, reward, term, trunc, info = genv.step(a)
        r_obs, r_rew, r_term, r_trunc, r_info = ref[t + 1]
        np.testing.assert_array_equal(obs, r_obs)
        np.testing.assert_array_equal(reward, r_rew)
        np.testing.assert_array_equal(term, r_term)
        np.testing.assert_array_equal(trunc, r_trunc)
        assert reward.dtype == np.float64 and term.dtype == trunc.dtype == np.bool_
        done = term | trunc
        n_term, n_trunc = n_term + term.sum(), n_trunc + trunc.sum()
        if not done.any():
            assert "final_obs" not in info and "_final_obs" not in info
            continue
        np.testing.assert_array_equal(info["_final_obs"], done)
        np.testing.assert_array_equal(info["_final_info"], done)
        for i in range(num_envs):
            if done[i]:
                np.testing.assert_array_equal(info["final_obs"][i], r_info["final_observation"][i])
                assert info["final_obs"][i] in genv.single_observation_space
            else:
                assert info["final_obs"][i] is None
        if name == "Taxi-v3":
            # top level describes the returned obs; final_info the finished episode
            np.testing.assert_array_equal(info["action_mask"], env.action_mask(obs))
            assert info["_action_mask"].all()
            np.testing.assert_array_equal(info.get("_prob", np.zeros(num_envs, bool)), ~done)
            fin = info["final_info"]
            np.testing.assert_array_equal(fin["_action_mask"], done)
            np.testing.assert_array_equal(
                fin["action_mask"][done], env.action_mask(r_info["final_observation"][done])
            )
    assert n_term > 0 or name == "Taxi-v3"  # random Taxi play rarely delivers
    assert n_trunc > 0


def test_gymnax_env_with_box_actions_converts_to_vector():
    """gymnax Pendulum: continuous float32 actions through the vector adapter."""
    env, params = envs.make("gymnax/Pendulum-v1")
    genv = envs.to_gymnasium_vector(env, 3, params)
    assert isinstance(genv.single_action_space, gym.spaces.Box)
    obs, _ = genv.reset(seed=0)
    assert obs.shape == (3, 3) and obs.dtype == np.float32 and obs in genv.observation_space
    genv.action_space.seed(0)
    obs, reward, term, trunc, _ = genv.step(genv.action_space.sample())
    assert obs.shape == (3, 3) and reward.shape == (3,) and np.all(reward <= 0)
    assert not (term | trunc).any()


# --- Gymnasium's registry: jaxrl/<name> -------------------------------------------------
SPEC_WARNING = r".*(spec|Not able to test alternative render modes).*"
# The n-armed bandit has no state to observe: its observation is a constant Box(0, 0, (1,)).
# CartPole-v0 has a v1, and Gymnasium says so (as for its own CartPole-v0).
ENV_WARNINGS = {
    "Bandit-v0": ("A Box observation space maximum and minimum values are equal",),
    "CartPole-v0": ("is out of date. You should consider upgrading to version `v1`",),
}


def _single_agent_builtins() -> list[str]:
    names = []
    for name in envs.registered(include_gymnax=False):
        env, _ = envs.make(name)
        if type(env).__module__.startswith("jaxrl.envs.") and not isinstance(
            env, envs.MultiAgentEnvironment
        ):
            names.append(name)
    return names


def test_plugin_lists_the_single_agent_builtins():
    from importlib.metadata import entry_points

    assert list(gymnasium_plugin.NAMES) == _single_agent_builtins()
    assert len(gymnasium_plugin.NAMES) == 12
    for name in gymnasium_plugin.NAMES:
        spec = gym.spec(f"jaxrl/{name}")
        assert (spec.namespace, spec.entry_point, spec.kwargs) == (
            "jaxrl", "jaxrl.envs.gymnasium_adapter:make_gymnasium", {"name": name}
        )
        assert spec.max_episode_steps is None  # the env truncates itself: no TimeLimit added
    hooks = {ep.name: ep.value for ep in entry_points(group="gymnasium.envs")}
    assert hooks.get("jaxrl") == "jaxrl.gymnasium_plugin:register_jaxrl_envs"
    gymnasium_plugin.register_jaxrl_envs()  # a loader calling the hook again: no-op


def test_plugin_module_imports_no_jax():
    code = (
        "import sys, gymnasium\n"
        "import jaxrl.gymnasium_plugin\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('jax', 'jaxlib', 'flax')"
        " or m.startswith('jaxrl.envs'))\n"
        "assert not heavy, heavy\n"
        "assert 'jaxrl/CartPole-v1' in gymnasium.registry\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


@pytest.mark.parametrize("name", gymnasium_plugin.NAMES)
def test_gymnasium_make_passes_check_env(name):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.filterwarnings("error", message=SPEC_WARNING)
        env = gym.make(f"jaxrl/{name}")
        inner = env.unwrapped
        check_env(inner)  # also makes one env per render mode from the spec and renders it
    assert isinstance(inner, GymnasiumEnv) and inner.spec.id == f"jaxrl/{name}"
    assert env.spec.max_episode_steps == inner.params.max_steps_in_episode == inner.time_limit
    assert not any(isinstance(w, gym.wrappers.TimeLimit) for w in _wrappers(env))
    # Allowed: what check_env says of an env's own design, not of the adapter or the spec.
    allowed = ENV_WARNINGS.get(name, ())
    unexpected = [str(w.message) for w in caught if not any(a in str(w.message) for a in allowed)]
    assert not unexpected, unexpected
    # The limit the spec reports is the step on which the env's own truncation fires
    # (short params, same env object: nothing recompiles).
    short = GymnasiumEnv(inner.env, inner.params.replace(max_steps_in_episode=4))
    assert short.time_limit == 4
    short.reset(seed=0)
    short.action_space.seed(0)
    steps = 0
    for _ in range(12):
        _, _, term, trunc, _ = short.step(short.action_space.sample())
        steps += 1
        assert steps < 4 or (steps == 4 and (term or trunc))
        if term or trunc:
            steps = 0
            short.reset()
    modes = inner.metadata["render_modes"]
    assert set(modes) <= {"rgb_array", "ansi"} and inner.metadata["render_fps"] > 0
    if name.startswith(("DoorKey", "Gridworld", "Taxi", "Maze")):
        assert "ansi" in modes
    if name.startswith("DoorKey"):
        assert "rgb_array" in modes


def _wrappers(env):
    while isinstance(env, gym.Wrapper):
        yield env
        env = env.env


def test_options_reach_envs_make():
    env = gym.make("jaxrl/Gridworld-v0", mode="random", size=5)
    inner = env.unwrapped
    assert (inner.env.size, inner.env.mode) == (5, "random")
    assert env.spec.kwargs == {"name": "Gridworld-v0", "mode": "random", "size": 5}
    assert env.observation_space == envs.to_gymnasium(*envs.make("Gridworld-v0", size=5)
                                                      ).observation_space
    with pytest.raises(ValueError, match="no option 'sise'"):
        gym.make("jaxrl/Gridworld-v0", sise=5)
    with pytest.raises(ValueError, match="render_mode 'human' is not supported"):
        gym.make("jaxrl/CartPole-v1", render_mode="human")


def _rollout(env, seed, actions):
    out = [env.reset(seed=seed)[0]]
    for a in actions:
        obs, reward, term, trunc, _ = env.step(a)
        out.append((np.asarray(obs), reward, term, trunc))
        if term or trunc:
            out.append(env.reset()[0])
    return out


def test_time_limit_is_the_envs_own_and_reported_in_the_spec():
    """``max_steps_in_episode`` sets the env's limit, the spec reports it, and Gymnasium's
    ``TimeLimit`` at that count (a re-make from the spec) ends no episode differently."""
    env = gym.make("jaxrl/MountainCar-v0", max_steps_in_episode=7)
    assert env.spec.max_episode_steps == 7 == env.unwrapped.time_limit
    assert gym.make("jaxrl/CartPole-v1").spec.max_episode_steps == 500
    again = gym.make(env.spec)
    limits = [w for w in _wrappers(again) if isinstance(w, gym.wrappers.TimeLimit)]
    assert [w._max_episode_steps for w in limits] == [7]
    actions = np.random.default_rng(0).integers(3, size=30)
    ours, theirs = _rollout(env, 3, actions), _rollout(again, 3, actions)
    assert len(ours) == len(theirs) == 30 + 1 + 4  # 4 episodes of 7 steps (MountainCar)
    for a, b in zip(ours, theirs):
        np.testing.assert_equal(a, b)
    ends = [i for i, x in enumerate(ours) if isinstance(x, tuple) and x[3]]
    assert ends == [7, 15, 23, 31]  # truncated by the env itself, on its 7th step

    shorter = gym.make("jaxrl/MountainCar-v0", max_episode_steps=3)  # Gymnasium's own cap
    assert shorter.spec.max_episode_steps == 3
    shorter.reset(seed=0)
    assert [shorter.step(0)[3] for _ in range(3)] == [False, False, True]


# --- rendering ------------------------------------------------------------------------
class _Canvas(envs.wrappers.Wrapper):
    """Draws a frame with the new ``render_image(state, params=None)`` signature."""

    def __init__(self, env, kind="frame"):
        super().__init__(env)
        self.kind, self.seen = kind, []

    def render_image(self, state, params=None):
        self.seen.append((type(state).__name__, params))
        if self.kind == "none":
            return None
        frame = np.zeros((4, 6, 3), np.uint8 if self.kind == "frame" else np.float32)
        frame[..., 0] = int(state.time)
        return frame


def test_rgb_array_follows_the_render_image_contract():
    bandit, params = envs.make("Bandit-v0")
    canvas = _Canvas(bandit)
    # Wrapped twice more: a TimeLimit nests the state, CheckedActions passes it through.
    outer = envs.wrappers.CheckedActions(envs.wrappers.TimeLimit(canvas, 5))
    genv = envs.to_gymnasium(outer, params, render_mode="rgb_array")
    assert genv.metadata["render_modes"] == ["rgb_array"] and genv.time_limit == 5
    genv.reset(seed=0)
    genv.step(1)
    frame = genv.render()
    assert frame.dtype == np.uint8 and frame.shape == (4, 6, 3) and frame[0, 0, 0] == 1
    assert canvas.seen[-1] == ("BanditState", params)  # its own state, and the params

    with pytest.raises(ValueError, match="render_mode 'rgb_array' is not supported"):
        envs.to_gymnasium(_Canvas(bandit, "none"), params, render_mode="rgb_array")
    assert envs.to_gymnasium(_Canvas(bandit, "none"), params).metadata["render_modes"] == []
    bad = envs.to_gymnasium(_Canvas(bandit, "float"), params, render_mode="rgb_array")
    bad.reset(seed=0)
    with pytest.raises(TypeError, match=r"uint8\[H, W, 3\]"):
        bad.render()


def test_doorkey_renders_frames_and_text():
    env = gym.make("jaxrl/DoorKey-5x5-v0", render_mode="rgb_array")
    inner = env.unwrapped
    env.reset(seed=1)
    env.step(2)
    frame = env.render()
    draw = inner.env.render_image
    takes_params = "params" in inspect.signature(draw).parameters
    expected = draw(inner.state, params=inner.params) if takes_params else draw(inner.state)
    np.testing.assert_array_equal(frame, expected)
    assert frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3
    text = gym.make("jaxrl/DoorKey-5x5-v0", render_mode="ansi")
    text.reset(seed=1)
    assert text.render() == inner.env.render(text.unwrapped.state)


def test_record_video_writes_an_mp4(tmp_path):
    pytest.importorskip("moviepy")
    folder = tmp_path / "videos"
    env = gym.make("jaxrl/DoorKey-5x5-v0", render_mode="rgb_array", max_steps_in_episode=20)
    env = gym.wrappers.RecordVideo(env, str(folder), episode_trigger=lambda i: i == 0,
                                   disable_logger=True)
    env.reset(seed=0)
    env.action_space.seed(0)
    steps, done = 0, False
    while not done:
        _, _, term, trunc, _ = env.step(env.action_space.sample())
        steps, done = steps + 1, term or trunc
    env.close()
    videos = list(folder.glob("*.mp4"))
    assert len(videos) == 1 and videos[0].stat().st_size > 0, videos
    assert steps <= 20
