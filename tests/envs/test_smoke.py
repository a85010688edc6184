"""Smoke harness over every registered environment name.

For each name, ``envs.check_env`` with a vmapped batch of 1,024 copies: jitted reset and
step, no retrace on the second call, spaces contain what the env returns (dtypes and
shapes included), every output finite, flags boolean scalars, auto-reset and
``final_observation`` as documented, determinism, params vmappable
(``tests/envs/test_checker.py`` has the checker's own tests).
"""

import pytest

from jaxrl import envs

BATCH = 1024
OWN = envs.registered(include_gymnax=False)
GYMNAX = [n for n in envs.registered() if n not in OWN]
# One of each light gymnax family in the default run; the rest (MinAtar: slow to compile) with -m slow.
GYMNAX_FAST = ["gymnax/Acrobot-v1", "gymnax/Pendulum-v1", "gymnax/Catch-bsuite"]


def _check(name):
    env, params = envs.make(name)
    # Four steps of 1,024 copies; episodes are cut to two steps inside the check, so
    # copies end episodes and auto-reset.
    report = envs.check_env(env, params, num_steps=4, batch=BATCH)
    assert report.traces == {"reset": 1, "step": 1}
    assert report.batch == BATCH and report.episodes_ended > 0


# DoorKey's larger boards compile the same code as 5x5: default run 5x5, the rest slow.
OWN_SLOW = {"DoorKey-6x6-v0", "DoorKey-8x8-v0", "DoorKey-16x16-v0"}


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.slow) if n in OWN_SLOW else n for n in OWN]
)
def test_own_env(name):
    _check(name)


@pytest.mark.parametrize(
    "name", [n if n in GYMNAX_FAST else pytest.param(n, marks=pytest.mark.slow) for n in GYMNAX]
)
def test_gymnax_env_through_bridge(name):
    _check(name)


def test_every_own_env_has_a_documented_module():
    for name in OWN:
        env, _ = envs.make(name)
        doc = type(env.unwrapped).__module__
        module = __import__(doc, fromlist=["_"])
        text = (module.__doc__ or "").lower()
        for word in ("observation", "action", "reward", "params"):
            assert word in text, f"{name}: module docstring does not describe {word}"
