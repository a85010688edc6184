"""What a new user saw first (issue 26): help texts, listings, reprs, progress lines.

Each test reads what the user reads (the command's output, a repr, the progress lines
on a terminal of 80 columns) and checks it against the thing it describes.
"""

from __future__ import annotations

import argparse
import io
import re
import sys
import types

import numpy as np
import pytest

from jaxrl import algos, cli, envs
from jaxrl.envs import spaces
from jaxrl.output import play
from jaxrl.output.logging import Progress


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


# ------------------------------------------------------------------------------ help
def test_every_option_of_every_subcommand_has_a_help_text():
    parser = cli.build_parser()
    missing = []
    for name, sub in {"jaxrl": parser, **_subparsers(parser)}.items():
        for action in sub._actions:
            if isinstance(action, argparse._SubParsersAction):
                continue
            text = (action.help or "").strip()
            if not text or text == argparse.SUPPRESS:
                missing.append(f"{name} {'/'.join(action.option_strings) or action.dest}")
    assert not missing, f"options without a help text: {', '.join(missing)}"
    assert set(_subparsers(parser)) == set(cli.COMMANDS)  # every subcommand was looked at


def test_eval_help_explains_episodes_and_seed(capsys):
    with pytest.raises(SystemExit):
        cli.main(["eval", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert re.search(r"--episodes N episodes per seed", out)
    assert re.search(r"--seed SEED random seed of the evaluation episodes", out)


def _family(name: str) -> str:
    """``DoorKey-5x5-v0 -> DoorKey``, ``CartPole-v1 -> CartPole``."""
    return re.sub(r"(-\d+x\d+)?-v\d+$", "", name)


def _play_help(capsys) -> str:
    with pytest.raises(SystemExit):
        cli.main(["play", "--help"])
    return " ".join(capsys.readouterr().out.split())


def test_play_help_names_every_builtin_environment_but_the_bandits(capsys):
    text = _play_help(capsys)
    families = {_family(name) for name in envs.registered(include_gymnax=False)}
    bandits = {_family(name) for name in envs.registered(include_gymnax=False)
               if play._is_bandit(envs.make(name)[0])}
    assert bandits == {"Bandit", "ContextualBandit"}
    for family in sorted(families - bandits):
        assert re.search(rf"\b{family}\b", text), f"play --help does not name {family}"
    assert "GIF" in text and "PNG" in text and "bar chart" in text


@pytest.mark.slow
def test_play_draws_what_its_help_says(capsys):
    """The help's list against what play really does with each built-in environment:
    a picture (GIF and strip) for all but the bandits, a chart for those."""
    text = _play_help(capsys)
    drawn, charted = set(), set()
    for name in envs.registered(include_gymnax=False):
        env, params = envs.make(name)
        how = play.kind(env, params)
        (drawn if how in ("frames", "text") else charted).add(_family(name))
    assert charted == {"Bandit", "ContextualBandit"}
    for family in sorted(drawn):
        assert re.search(rf"\b{family}\b", text), f"play --help does not name {family}"


# ------------------------------------------------------------------------------ list algos
def test_list_algos_gives_each_algorithm_its_own_whole_line(capsys):
    assert cli.main(["list", "algos"]) == 0
    out = capsys.readouterr().out
    said = {}
    for name in algos.names():
        line = re.search(rf"^{name}: (.+)$", out, flags=re.M)
        assert line, f"no line for {name}"
        said[name] = line.group(1)
        assert said[name] == algos.get(name).one_line()
    assert len(set(said.values())) == len(said), "two algorithms share a description"
    assert "categorical" in said["c51"] and "quantile" in said["qrdqn"]
    assert "contextual bandit" in said["contextual_bandit"]


def test_a_record_without_summary_gets_its_module_docstrings_first_whole_sentence():
    module = types.ModuleType("my_rough_algo")
    module.__doc__ = ("Semi-gradient Q-learning with a linear Q-function, e.g. on\n"
                      "CartPole (Sutton and Barto, section 10.1). The features are the\n"
                      "observation and a constant.\n\nMore text.")

    def make(config, env, env_params):  # pragma: no cover - never called
        raise NotImplementedError

    make.__module__ = module.__name__

    @__import__("dataclasses").dataclass
    class Config:
        lr: float = 0.1

    sys.modules[module.__name__] = module
    try:
        record = algos.Algorithm(name="rough", config=Config, make=make)
        assert record.one_line() == ("Semi-gradient Q-learning with a linear Q-function, e.g. "
                                     "on CartPole (Sutton and Barto, section 10.1)")
        module.__doc__ = None
        assert record.one_line() == ""
        summarised = algos.Algorithm(name="rough", config=Config, make=make,
                                     summary="linear\n  Q-learning")
        assert summarised.one_line() == "linear Q-learning"
    finally:
        del sys.modules[module.__name__]


# ------------------------------------------------------------------------------ spaces
def test_box_repr_shows_its_bounds():
    env, params = envs.make("CartPole-v1")
    box = env.observation_space(params)
    text = repr(box)
    assert "..." not in text and "shape=(4,)" in text and "dtype=float32" in text
    low = re.search(r"low=\[([^\]]*)\]", text).group(1).split(", ")
    high = re.search(r"high=\[([^\]]*)\]", text).group(1).split(", ")
    np.testing.assert_allclose([float(v) for v in low], box.low, rtol=1e-3)
    np.testing.assert_allclose([float(v) for v in high], box.high, rtol=1e-3)

    assert repr(spaces.Box(-1.0, 1.0, (3,))) == \
        "Box(low=-1.0, high=1.0, shape=(3,), dtype=float32)"
    assert repr(spaces.Box(0, 255, (84, 84), np.uint8)) == \
        "Box(low=0, high=255, shape=(84, 84), dtype=uint8)"
    big = spaces.Box(np.linspace(-2.0, 0.0, 300), 1.0, (300,))
    assert repr(big) == "Box(low=<300 values in [-2.0, 0.0]>, high=1.0, shape=(300,), " \
                        "dtype=float32)"
    assert len(repr(big)) < 100  # a big array is summarised, not printed


def test_discrete_and_dict_reprs():
    assert repr(spaces.Discrete(4)) == "Discrete(4)"
    assert repr(spaces.Discrete(6, shape=(20,))) == "Discrete(6, shape=(20,))"
    assert repr(spaces.Discrete(3, dtype=np.uint8)) == "Discrete(3, dtype=uint8)"
    d = spaces.Dict({"image": spaces.Box(0.0, 1.0, (2, 2)), "direction": spaces.Discrete(4)})
    assert repr(d) == ("Dict({'image': Box(low=0.0, high=1.0, shape=(2, 2), dtype=float32), "
                       "'direction': Discrete(4)})")


def test_every_builtin_space_repr_shows_numbers_not_ellipses():
    """What ``jaxrl list envs`` prints for each environment's spaces."""
    for name in envs.registered(include_gymnax=False):
        env, params = envs.make(name)
        for space in (env.action_space(params), env.observation_space(params)):
            assert "..." not in repr(space), (name, repr(space))
    env, params = envs.make("MountainCar-v0")
    assert repr(env.observation_space(params)) == \
        "Box(low=[-1.2, -0.07], high=[0.6, 0.07], shape=(2,), dtype=float32)"


# ------------------------------------------------------------------------------ play captions
def _episode(rewards):
    """An episode of action 0 at every step (captions read actions and rewards only)."""
    n = len(rewards)
    return play.Episode([None] * (n + 1), [None] * (n + 1), np.zeros((n,), np.int32),
                        np.asarray(rewards, np.float64), False, False)


def test_single_agent_captions_say_action_and_return_never_per_agent():
    env, _ = envs.make("DoorKey-5x5-v0")
    caption = play._caption(env, _episode([0.0, 0.5]), 2)
    assert caption == "step 2   action left   return 0.50"
    ising, _ = envs.make("Ising1D-v0")  # 20 agents: the summed reward per agent
    caption = play._caption(ising, _episode([10.0, 30.0]), 2)
    assert caption == f"step 2   return {40.0 / ising.num_agents:.2f} per agent"


# ------------------------------------------------------------------------------ progress
def _terminal(width: int = 80):
    from rich.console import Console

    buf = io.StringIO()
    return Console(file=buf, force_terminal=True, width=width, color_system=None), buf


def _clean(text: str) -> str:
    """Terminal output as the user reads it: control sequences out, lines as drawn."""
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)
    return text.replace("\r", "\n")


def test_notes_are_permanent_lines_wrapped_between_words_at_80_columns():
    console, buf = _terminal(80)
    clock = iter(np.arange(0.0, 100.0, 0.5)).__next__
    bar = Progress("ppo CartPole-v1 x1", 10, console=console, clock=clock)
    bar.message("initialising...")
    long_note = ("2 compiled program(s) loaded from /home/someone/.cache/jaxrl/xla (safe to "
                 "delete; JAXRL_CACHE_DIR=off or --no-compile-cache to compile afresh)")
    bar.note(long_note)
    bar.compiling("10 updates per seed, 1 per compiled chunk")
    bar.start(compile_seconds=3.8)
    bar.update(10, 1000.0, 1.0, final=True)
    bar.close()
    lines = [ln.rstrip() for ln in _clean(buf.getvalue()).split("\n") if ln.strip()]
    assert all(len(ln) <= 80 for ln in lines)
    start = next(i for i, ln in enumerate(lines) if ln.startswith("ppo CartPole-v1 x1: 2 comp"))
    end = next(i for i, ln in enumerate(lines) if i >= start and ln.endswith("afresh)"))
    shown = " ".join(lines[start:end + 1])
    assert shown == "ppo CartPole-v1 x1: " + long_note  # whole, broken only between words
    assert "…" not in shown
    assert "ppo CartPole-v1 x1: initialised and compiled in 3.8 s" in lines


def test_the_progress_note_and_the_table_give_the_same_compile_seconds(tmp_path, capsys):
    """A tiny tabular run through the command: its progress note and its table say the
    same compile time, the step budget is stated once, and counts are exact."""
    out = tmp_path / "run"
    code = cli.main(["train", "q_learning", "--env", "Gridworld-v0", "--total-steps", "1000",
                     "--set", "num_envs=4", "--set", "num_steps=16", "--chunk", "8",
                     "--checkpoint-every", "0", "--out", str(out), "--no-compile-cache"])
    assert code == 0
    captured = capsys.readouterr()
    err, table = captured.err, captured.out
    size = 4 * 16
    trained = 1000 // size * size  # 960: 15 updates of 64 steps
    note = (f"1,000 env steps per seed asked: {trained:,} trained ({1000 // size} updates x "
            f"{size} steps per update")
    assert err.count(note) == 1, err
    said = float(re.search(r"initialised and compiled in ([\d.]+) s", err).group(1))
    row = next(ln for ln in table.splitlines() if ln.startswith("q_learning"))
    assert f" {trained:,} " in row and "1.0k" not in row and "960 " in row
    compile_col = re.findall(r"([\d.]+) s", row)[0]
    assert float(compile_col) == said
    assert re.search(r"checkpoint: .* per save", err)  # the checkpoint note is a line of its own


def test_step_budget_note_is_empty_when_the_budget_is_a_whole_number_of_updates():
    from jaxrl.algos.ppo import Config
    from jaxrl.runs.driver import step_budget_note

    cfg = Config(num_envs=4, num_steps=64, total_timesteps=100_000)
    updates = 100_000 // 256
    assert step_budget_note(cfg, updates) == (
        f"100,000 env steps per seed asked: {updates * 256:,} trained ({updates} updates x 256 "
        f"steps per update; a multiple of 256 trains exactly)")
    assert step_budget_note(Config(num_envs=4, num_steps=64, total_timesteps=102_400), 400) == ""
    assert step_budget_note(object(), 3) == ""  # no step budget (episodes, generations)
