"""jaxrl.core.schedules.learning_rate: constant or linearly annealed, by hand."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxrl.core.schedules import learning_rate


def test_constant_is_the_rate_itself_or_a_constant_schedule():
    assert learning_rate(3e-4, False) == 3e-4
    sched = learning_rate(3e-4, False, schedule=True)
    for count in (0, 7, 10_000):
        value = sched(jnp.int32(count))
        assert value.dtype == jnp.float32 and float(value) == np.float32(3e-4)


def test_annealed_by_hand():
    sched = learning_rate(1.0, True, 4)
    # 1 - count / 4, then 0 for good (no negative rate past the end).
    got = [float(sched(jnp.int32(c))) for c in range(7)]
    assert got == [1.0, 0.75, 0.5, 0.25, 0.0, 0.0, 0.0]


def test_steps_per_decay_holds_the_rate_within_an_update():
    sched = learning_rate(2.0, True, 2, steps_per_decay=3, schedule=True)
    got = [float(sched(jnp.int32(c))) for c in range(7)]
    assert got == [2.0, 2.0, 2.0, 1.0, 1.0, 1.0, 0.0]


def test_traced_rate_and_optax():
    # The rate may be a vmapped leaf (a sweep over learning rates).
    rates = jnp.array([1.0, 0.5])
    at_two = jax.vmap(lambda lr: learning_rate(lr, True, 4)(jnp.int32(2)))(rates)
    np.testing.assert_allclose(at_two, [0.5, 0.25])
    # Plain SGD with the schedule: the step sizes are the schedule's values.
    opt = optax.sgd(learning_rate(1.0, True, 4))
    state = opt.init(jnp.zeros(()))
    steps = []
    for _ in range(3):
        updates, state = opt.update(jnp.ones(()), state)
        steps.append(-float(updates))
    assert steps == [1.0, 0.75, 0.5]


@pytest.mark.parametrize("total", [None, 0, -3, 2.5, True])
def test_annealing_needs_a_run_length(total):
    with pytest.raises(ValueError, match="run's length"):
        learning_rate(1e-3, True, total)


def test_bad_steps_per_decay():
    with pytest.raises(ValueError, match="steps_per_decay"):
        learning_rate(1e-3, True, 10, steps_per_decay=0)
