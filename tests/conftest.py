"""Session set-up shared by every test.

Compiled programs are shared by the whole test run: most of the suite's time is XLA
compiling the same small programs again in test after test (the probe algorithm, the
tiny presets), so every test process (pytest-xdist workers and the commands tests start
as subprocesses) keeps them in one persistent compilation cache that lives as long as
the run. ``JAXRL_TEST_CACHE=DIR`` names a directory to keep between runs instead; the
default is a fresh temporary directory, removed at the end, so a run is timed cold.

The end of the run reports where its time went: the seconds XLA spent compiling, the
programs compiled and those the cache served, summed over the test processes.
"""

import importlib.util
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

_OWN_CACHE = None
if not os.environ.get("JAXRL_TEST_CACHE"):
    # The first process of the run (the xdist controller, or pytest without -n) makes
    # it; workers and subprocesses inherit the variable.
    _OWN_CACHE = tempfile.mkdtemp(prefix="jaxrl-test-cache-")
    os.environ["JAXRL_TEST_CACHE"] = _OWN_CACHE
CACHE_ROOT = os.environ["JAXRL_TEST_CACHE"]

# The jaxrl command keeps compiled programs in ~/.cache/jaxrl/xla by default; tests never
# write there. The commands tests run (in-process or as subprocesses) use the run's cache
# (its own folder: the command seals its entries); a test that needs another cache, or
# none, passes its own JAXRL_CACHE_DIR.
os.environ["JAXRL_CACHE_DIR"] = os.path.join(CACHE_ROOT, "cli")

import jax

# Programs that take 0.2 s or more to compile are kept; the lock (filelock, a dependency)
# keeps two workers from reading an entry while the other writes it.
jax.config.update("jax_compilation_cache_dir", os.path.join(CACHE_ROOT, "xla"))
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)
jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
jax.config.update("jax_compilation_cache_max_size", 8 * 1024**3)

# Start JAX now, with its default CPU device count, so that no test depends on which
# test happened to start it: the jaxrl CLI, called in-process by some tests, asks for
# one CPU device per core when it is the first to start JAX. Multi-device behaviour is
# tested in child processes (tests/jaxrl/test_parallel.py).
jax.devices()


@pytest.fixture(scope="session")
def load_script():
    """``load(path, name=None)``: a file that is no package's module (a benchmark script)
    imported by its path, under ``name`` (default: the file's stem)."""

    def load(path, name=None):
        path = Path(path)
        spec = importlib.util.spec_from_file_location(name or path.stem, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
        return module

    return load


# ------------------------------------------------------------------ where the time went
_COMPILE = {"compile_seconds": 0.0, "programs": 0, "cache_hits": 0}


def _on_duration(event, duration, **_):
    if event == "/jax/core/compile/backend_compile_duration":
        _COMPILE["compile_seconds"] += duration
        _COMPILE["programs"] += 1


def _on_event(event, **_):
    if event == "/jax/compilation_cache/cache_hits":
        _COMPILE["cache_hits"] += 1


try:
    jax.monitoring.register_event_duration_secs_listener(_on_duration)
    jax.monitoring.register_event_listener(_on_event)
except AttributeError:  # pragma: no cover - a JAX without monitoring: no report
    pass


def _stats_dir():
    return os.path.join(CACHE_ROOT, "stats")


def pytest_sessionfinish(session):
    os.makedirs(_stats_dir(), exist_ok=True)
    name = getattr(session.config, "workerinput", {}).get("workerid", "main")
    with open(os.path.join(_stats_dir(), f"{name}-{os.getpid()}.json"), "w") as f:
        json.dump(_COMPILE, f)


def pytest_terminal_summary(terminalreporter, config):
    if hasattr(config, "workerinput"):
        return
    total = {"compile_seconds": 0.0, "programs": 0, "cache_hits": 0}
    try:
        for name in os.listdir(_stats_dir()):
            with open(os.path.join(_stats_dir(), name)) as f:
                for k, v in json.load(f).items():
                    total[k] += v
    except (OSError, ValueError):
        return
    terminalreporter.write_line(
        f"XLA in the test processes (not their subprocesses): {total['programs']} programs "
        f"compiled or loaded in {total['compile_seconds']:.0f} s, {total['cache_hits']} of them "
        f"from the run's compile cache")


def pytest_unconfigure(config):
    if _OWN_CACHE and not hasattr(config, "workerinput"):
        shutil.rmtree(_OWN_CACHE, ignore_errors=True)
