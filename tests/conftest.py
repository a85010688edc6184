"""Session set-up shared by every test."""

import os

# The jaxrl command keeps compiled programs in ~/.cache/jaxrl/xla by default; tests never
# write there. "off" also reaches the commands tests start as subprocesses; a test that
# wants the cache passes its own JAXRL_CACHE_DIR (a temporary directory).
os.environ["JAXRL_CACHE_DIR"] = "off"

import jax

# Start JAX now, with its default CPU device count, so that no test depends on which
# test happened to start it: the jaxrl CLI, called in-process by some tests, asks for
# one CPU device per core when it is the first to start JAX. Multi-device behaviour is
# tested in child processes (tests/jaxrl/test_parallel.py).
jax.devices()
