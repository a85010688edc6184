"""envs.probes: every rung of the ladder gives exactly the rewards, flags and observations
its docstring promises (the answers the algorithm tests rely on)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl import envs
from jaxrl.envs import probes


def _episode(env, params, key, actions):
    """Reset, then step with ``actions`` until the episode ends: the observations before
    each step, the rewards and flags, and the final observation."""
    obs, state = env.reset(key, params)
    seen, rewards, flags, final = [np.asarray(obs)], [], [], None
    for a in actions:
        obs_next, state, reward, terminated, truncated, info = env.step(key, state, a, params)
        rewards.append(float(reward))
        flags.append((bool(terminated), bool(truncated)))
        final = np.asarray(info["final_observation"])
        if terminated or truncated:
            break
        seen.append(np.asarray(obs_next))
    return seen, rewards, flags, final


def _keys_with_signs():
    """Two keys: the first draws obs +1 on a random rung, the second -1."""
    env, params = probes.Probe(), probes.ProbeParams(kind=probes.OBS_REWARD)
    found = {}
    for i in range(20):
        key = jax.random.key(i)
        found.setdefault(float(env.reset(key, params)[0][0]), key)
    return found[1.0], found[-1.0]


PLUS, MINUS = _keys_with_signs()


@pytest.mark.parametrize("wrong", [-1.0, 0.0])
def test_every_rung(wrong):
    env = probes.Probe()

    def run(kind, key, actions):
        return _episode(env, probes.ProbeParams(kind=kind, wrong_reward=wrong), key, actions)

    # CONSTANT: obs 0, reward 1 whatever the action, terminates.
    for a in (0, 1):
        seen, rewards, flags, final = run(probes.CONSTANT, PLUS, [a])
        assert seen[0].tolist() == [0.0] and rewards == [1.0] and flags == [(True, False)]
    # OBS_REWARD: reward = obs.
    for key, sign in ((PLUS, 1.0), (MINUS, -1.0)):
        seen, rewards, _, _ = run(probes.OBS_REWARD, key, [0])
        assert seen[0].tolist() == [sign] and rewards == [sign]
    # DISCOUNT: 0 (reward 0) -> +1 (reward 1, terminated), final observation -1.
    seen, rewards, flags, final = run(probes.DISCOUNT, PLUS, [0, 1])
    assert [o.tolist() for o in seen] == [[0.0], [1.0]]
    assert rewards == [0.0, 1.0] and flags == [(False, False), (True, False)]
    assert final.tolist() == [-1.0]
    # ACTION: obs 0; action 1 pays 1, action 0 pays wrong_reward.
    assert run(probes.ACTION, PLUS, [1])[1] == [1.0]
    assert run(probes.ACTION, PLUS, [0])[1] == [wrong]
    # OBS_ACTION: the right action is obs > 0.
    for key, right in ((PLUS, 1), (MINUS, 0)):
        assert run(probes.OBS_ACTION, key, [right])[1] == [1.0]
        assert run(probes.OBS_ACTION, key, [1 - right])[1] == [wrong]
    # TRUNCATION: reward 1, truncated (never terminated), the state unchanged.
    seen, rewards, flags, final = run(probes.TRUNCATION, PLUS, [0])
    assert rewards == [1.0] and flags == [(False, True)] and final.tolist() == [0.0]


def test_one_hot_observations_and_a_vmapped_ladder():
    env = probes.Probe("one_hot")
    params = probes.ladder()
    keys = jnp.stack([PLUS] * len(probes.KINDS))
    obs, state = jax.vmap(env.reset)(keys, params)
    # o = 0 -> (1, 0, 0); o = +1 -> (0, 1, 0) (the random rungs drew +1 with this key)
    np.testing.assert_array_equal(obs, [[1, 0, 0], [0, 1, 0], [1, 0, 0], [1, 0, 0], [0, 1, 0],
                                        [1, 0, 0]])
    obs, state, reward, terminated, truncated, info = jax.vmap(env.step)(
        keys, state, jnp.ones(len(probes.KINDS), jnp.int32), params)
    np.testing.assert_array_equal(reward, [1, 1, 0, 1, 1, 1])
    np.testing.assert_array_equal(terminated, [1, 1, 0, 1, 1, 0])
    np.testing.assert_array_equal(truncated, [0, 0, 0, 0, 0, 1])
    np.testing.assert_array_equal(info["final_observation"][probes.DISCOUNT], [0, 1, 0])
    _, _, _, terminated, _, info = jax.vmap(env.step)(
        keys, state, jnp.zeros(len(probes.KINDS), jnp.int32), params)
    assert bool(terminated[probes.DISCOUNT])
    np.testing.assert_array_equal(info["final_observation"][probes.DISCOUNT], [0, 0, 1])
    with pytest.raises(ValueError, match="observation"):
        probes.Probe("image")


def test_continuous_probe_and_coin():
    env = probes.ContinuousProbe()
    obs, state = env.reset(PLUS)
    best = 0.5 * obs
    _, _, reward, terminated, truncated, _ = env.step(PLUS, state, best)
    assert float(reward) == 0.0 and bool(terminated) and not bool(truncated)
    assert float(env.step(PLUS, state, best + 0.5)[2]) == pytest.approx(-0.25)
    coin = probes.Coin()
    params = probes.CoinParams(p_win=jnp.array([0.0, 1.0]))
    obs, state = coin.reset(PLUS, params)
    assert float(coin.step(PLUS, state, 0, params)[2]) == -1.0
    assert float(coin.step(PLUS, state, 1, params)[2]) == 1.0


def test_probes_are_exported_and_not_registered():
    assert envs.probes is probes
    assert not any(name.startswith(("Probe", "Coin")) for name in envs.registered(False))
