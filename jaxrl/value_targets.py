"""Targets and losses for value-based learning: pure, unbatched, checked.

Every function here works on one transition (or one n-step window); callers
``jax.vmap`` them over a batch. Names follow rlax: ``r_t`` is the reward that
followed the action ``a_tm1`` taken in ``s_tm1``, ``discount_t`` is the discount
applied to the value of ``s_t`` (``gamma`` or ``0`` at a terminal state),
``q_t`` are action values at ``s_t``.

Conventions fixed here once:

* Bootstrapping stops at termination only. A transition cut by a time limit keeps
  ``discount_t = gamma`` and bootstraps from the observation the transition
  produced (``info["final_observation"]``), never from the next episode's start.
* Double DQN selects the next action with the online network at ``s_t`` (the next
  state) and evaluates it with the target network (van Hasselt, Guez and Silver,
  2016). The book's chapter 10 selects it at ``s_tm1``; that is a defect and is not
  reproduced.
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
from flax import struct

Array = jax.Array


# --------------------------------------------------------------------------------- targets
def q_learning_target(r_t: Array, discount_t: Array, q_t: Array) -> Array:
    """One-step Q-learning (DQN) target.

    ``y = r_t + discount_t * max_a q_t[a]`` (Watkins, 1989; Mnih et al., 2015, with
    ``q_t`` from the target network).

    Args:
        r_t: float32[] reward.
        discount_t: float32[] ``gamma * (1 - terminated)``.
        q_t: float32[num_actions] values of the next state.

    Returns:
        float32[] target (no gradient flows through it).
    """
    chex.assert_rank([r_t, discount_t, q_t], [0, 0, 1])
    target = r_t + discount_t * jnp.max(q_t)
    return jax.lax.stop_gradient(target)


def greedy_action(q_t: Array) -> Array:
    """``argmax_a q_t[a]`` (lowest index on ties), int32[]."""
    chex.assert_rank(q_t, 1)
    return jnp.argmax(q_t).astype(jnp.int32)


def double_q_learning_target(
    r_t: Array, discount_t: Array, q_t_value: Array, q_t_selector: Array
) -> Array:
    """Double DQN target.

    ``a* = argmax_a q_t_selector[a]``, ``y = r_t + discount_t * q_t_value[a*]``
    (van Hasselt, Guez and Silver, 2016, "Deep Reinforcement Learning with Double
    Q-learning", eq. 4): the online network (``q_t_selector``) picks the action at
    the next state and the target network (``q_t_value``) evaluates it.

    Args:
        r_t: float32[] reward.
        discount_t: float32[] ``gamma * (1 - terminated)``.
        q_t_value: float32[num_actions] target-network values of the next state.
        q_t_selector: float32[num_actions] online-network values of the next state.

    Returns:
        float32[] target (no gradient flows through it).
    """
    chex.assert_rank([r_t, discount_t, q_t_value, q_t_selector], [0, 0, 1, 1])
    chex.assert_equal_shape([q_t_value, q_t_selector])
    target = r_t + discount_t * q_t_value[greedy_action(q_t_selector)]
    return jax.lax.stop_gradient(target)


@struct.dataclass
class NStepReturn:
    """An n-step window folded into one transition.

    Attributes:
        reward: float32[] ``sum_{k<=last} gamma^k r_k``.
        discount: float32[] ``gamma^(last+1)``, or 0 if step ``last`` terminated.
        last: int32[] index of the window's last step, whose next observation is
            the bootstrap observation.
    """

    reward: Array
    discount: Array
    last: Array


def n_step_return(
    r: Array, terminated: Array, stop: Array, gamma: Array | float
) -> NStepReturn:
    """Discounted sum of up to ``n`` rewards and the discount of the bootstrap value.

    The window holds the sampled transition (index 0) and the ``n - 1`` that
    followed it in the same environment copy. It ends at the first step ``k`` with
    ``stop[k]`` true (the episode ended there by termination or truncation, or the
    next step is not in the buffer yet), or at ``n - 1``. With ``L`` that last step:

    ``G = sum_{k=0}^{L} gamma^k r_k``,
    ``discount = gamma^(L+1) * (1 - terminated_L)``,

    and the target is ``G + discount * V(s'_L)`` where ``s'_L`` is the observation
    step ``L`` produced (Sutton and Barto, 2018, eq. 7.1; Hessel et al., 2018 for its
    use in DQN). A window cut by truncation bootstraps from the final observation
    with ``gamma^(L+1)``; one cut by termination does not bootstrap. Steps after
    ``L`` belong to another episode and are ignored.

    Args:
        r: float32[n] rewards of the window.
        terminated: bool[n] did step k reach a terminal state.
        stop: bool[n] does the window end at step k (``terminated`` implies
            ``stop``; ``stop[n-1]`` is implied).
        gamma: float32[] discount.

    Returns:
        ``NStepReturn`` of scalars.
    """
    chex.assert_rank([r, terminated, stop], 1)
    chex.assert_equal_shape([r, terminated, stop])
    n = r.shape[0]
    gamma = jnp.asarray(gamma, jnp.float32)
    stop = stop.at[n - 1].set(True) | terminated
    # Step k is inside the window iff no earlier step stopped it.
    stopped_before = jnp.cumsum(stop) - stop  # number of stops strictly before k
    inside = stopped_before == 0
    last = jnp.argmax(stop).astype(jnp.int32)  # first stop
    powers = gamma ** jnp.arange(n, dtype=jnp.float32)
    reward = jnp.sum(jnp.where(inside, powers * r, 0.0))
    not_terminal = 1.0 - terminated[last].astype(jnp.float32)
    discount = gamma ** (last + 1).astype(jnp.float32) * not_terminal
    return NStepReturn(reward=reward, discount=discount, last=last)


# --------------------------------------------------------------------------------- heads
def dueling_aggregate(value: Array, advantages: Array) -> Array:
    """Dueling-network aggregation of a state value and action advantages.

    ``q[a] = v + (A[a] - mean_b A[b])`` (Wang et al., 2016, "Dueling Network
    Architectures for Deep Reinforcement Learning", eq. 9): subtracting the mean
    makes ``v`` and ``A`` identifiable.

    Args:
        value: float32[] or float32[1] state value.
        advantages: float32[num_actions].

    Returns:
        float32[num_actions] action values.
    """
    chex.assert_rank(advantages, 1)
    value = jnp.reshape(value, ())
    return value + advantages - jnp.mean(advantages)


# --------------------------------------------------------------------------------- losses
def huber_loss(x: Array, delta: Array | float = 1.0) -> Array:
    """Huber loss of a TD error, elementwise.

    ``0.5 x^2`` if ``|x| <= delta`` else ``delta (|x| - 0.5 delta)`` (Huber, 1964;
    PyTorch's ``HuberLoss``; with ``delta = 1`` the loss DQN uses, Mnih et al., 2015).
    Its gradient is the TD error clipped to ``[-delta, delta]``.

    Args:
        x: float32[...] TD errors.
        delta: float32[] > 0, where the quadratic part ends.

    Returns:
        float32[...] same shape as ``x``.
    """
    abs_x = jnp.abs(x)
    quadratic = jnp.minimum(abs_x, delta)
    linear = abs_x - quadratic
    return 0.5 * quadratic**2 + delta * linear


def squared_loss(x: Array) -> Array:
    """Squared TD error ``x^2``, elementwise (PyTorch's ``MSELoss`` before the mean,
    as the book uses it)."""
    return jnp.square(x)


def td_loss(td_error: Array, weights: Array, kind: str, huber_delta: Array | float = 1.0) -> Array:
    """Importance-weighted mean of a per-sample loss of TD errors.

    ``loss = mean_i w_i * l(delta_i)`` with ``l`` the Huber loss (``kind="huber"``)
    or the squared error (``kind="mse"``). Uniform replay passes ``w = 1``.

    Args:
        td_error: float32[batch] ``y - q(s, a)``.
        weights: float32[batch] importance weights.
        kind: "huber" or "mse" (static).
        huber_delta: float32[] Huber threshold.

    Returns:
        float32[] scalar loss.
    """
    chex.assert_rank([td_error, weights], 1)
    chex.assert_equal_shape([td_error, weights])
    if kind == "huber":
        per_sample = huber_loss(td_error, huber_delta)
    elif kind == "mse":
        per_sample = squared_loss(td_error)
    else:
        raise ValueError(f"unknown loss {kind!r}; choose 'huber' or 'mse'")
    return jnp.mean(weights * per_sample)
