"""The persistent compile cache: where it lives, how it is turned off, what a hit prints.

The directory rules are checked on ``compile_cache_dir`` alone (no compiling). One run of
the test probe (``tests/jaxrl/probe.py``) trained twice in this process against a
temporary cache shows the second compile loading the programs and the driver saying
so; the global JAX cache settings are put back afterwards.
"""

from __future__ import annotations

import os

import jax
import numpy as np
import pytest
from probe import PROBE
from probe import registered as probe_registered

from jaxrl import cli
from jaxrl.runs import run


@pytest.mark.parametrize("value", ["off", "OFF", "0", "no", "none", "false", "", "  "])
def test_cache_turned_off_by_env(monkeypatch, value):
    monkeypatch.setenv("JAXRL_CACHE_DIR", value)
    assert cli.compile_cache_dir() is None
    assert cli.enable_compile_cache() is None


def test_cache_dir_named_by_env(monkeypatch, tmp_path):
    monkeypatch.setenv("JAXRL_CACHE_DIR", str(tmp_path / "c"))
    assert cli.compile_cache_dir() == str(tmp_path / "c")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("JAXRL_CACHE_DIR", "~/xla")
    assert cli.compile_cache_dir() == os.path.join(str(tmp_path), "xla")


def test_cache_on_by_default_in_user_cache_dir(monkeypatch, tmp_path):
    monkeypatch.delenv("JAXRL_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cli.compile_cache_dir() == os.path.join(str(tmp_path / "xdg"), "jaxrl", "xla")
    # No XDG_CACHE_HOME, or a relative one (the XDG spec ignores those): ~/.cache.
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for xdg in (None, "relative/dir"):
        if xdg is None:
            monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
        else:
            monkeypatch.setenv("XDG_CACHE_HOME", xdg)
        assert cli.compile_cache_dir() == os.path.join(str(tmp_path / "home"), ".cache",
                                                       "jaxrl", "xla")


def test_flag_turns_cache_off(monkeypatch, tmp_path):
    monkeypatch.setenv("JAXRL_CACHE_DIR", str(tmp_path / "c"))
    assert cli.enable_compile_cache(False) is None
    assert not (tmp_path / "c").exists()
    args = cli.build_parser().parse_args(["train", "ppo", "--no-compile-cache"])
    assert args.no_compile_cache
    assert not cli.build_parser().parse_args(["sweep", "ppo"]).no_compile_cache


def test_unwritable_cache_dir_means_no_cache(monkeypatch, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("JAXRL_CACHE_DIR", str(blocker / "xla"))
    assert cli.enable_compile_cache() is None


TINY = {"env": "CartPole-v1", "seeds": 2, "chunk_updates": 4}


@pytest.fixture
def temporary_cache(tmp_path):
    from jax._src import compilation_cache as cc

    names = ("jax_compilation_cache_dir", "jax_persistent_cache_min_compile_time_secs",
             "jax_persistent_cache_min_entry_size_bytes", "jax_compilation_cache_max_size")
    saved = {n: getattr(jax.config, n) for n in names}
    cc.reset_cache()
    jax.config.update(names[0], str(tmp_path / "xla"))
    jax.config.update(names[1], 0.0)
    jax.config.update(names[2], 0)
    try:
        yield tmp_path / "xla"
    finally:
        for n, v in saved.items():
            jax.config.update(n, v)
        cc.reset_cache()


@pytest.fixture
def registered():
    with probe_registered():
        yield


@pytest.mark.usefixtures("registered")
def test_second_run_loads_cached_programs_and_says_so(temporary_cache, capsys):
    first = run.train(PROBE, progress=True, **TINY)
    err_first = capsys.readouterr().err
    assert "compiled in" in err_first and "loaded from" not in err_first
    assert any(temporary_cache.iterdir()), "the first run wrote no cache entries"
    second = run.train(PROBE, progress=True, **TINY)
    err_second = capsys.readouterr().err
    assert f"loaded from {temporary_cache}" in err_second, err_second
    assert "compiled in" in err_second  # the (short) compile time is printed either way
    # The same executable: the same bits.
    np.testing.assert_array_equal(np.asarray(first.state.w), np.asarray(second.state.w))
