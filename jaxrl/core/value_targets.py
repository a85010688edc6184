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
* Distributional targets (C51, QR-DQN) bootstrap from the distribution of the
  *greedy* next action, greedy by the distribution's expected value. The book's
  chapter 7 bootstraps from the action actually taken at ``s_t``; that is a defect
  (it learns the behaviour policy's return, not the greedy one) and is not reproduced.
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


def clipped_double_q_target(
    r_t: Array, discount_t: Array, q_t: Array, log_prob_t: Array | float = 0.0,
    alpha: Array | float = 0.0,
) -> Array:
    """The continuous-action critics' target: the smallest of several critics' values of
    the next action, less the entropy term.

    ``y = r_t + discount_t * (min_i q_t[i] - alpha * log_prob_t)``: TD3's clipped double-Q
    (Fujimoto, van Hoof and Meger, 2018; ``q_t`` are the target critics' values of the
    smoothed target action) and, with ``alpha > 0`` and ``log_prob_t`` the log-density of
    the sampled next action, SAC's soft target (Haarnoja et al., 2018). One critic is
    DDPG's plain target.

    Args:
        r_t: float32[] reward.
        discount_t: float32[] ``gamma^n * (1 - terminated)``.
        q_t: float32[num_critics] each critic's value of the next action.
        log_prob_t: float32[] ``log pi(a_t | s_t)`` of the next action (SAC; 0 for TD3).
        alpha: float32[] entropy temperature (SAC; 0 for TD3).

    Returns:
        float32[] target (no gradient flows through it).
    """
    chex.assert_rank([r_t, discount_t, q_t], [0, 0, 1])
    soft = jnp.min(q_t) - alpha * log_prob_t
    return jax.lax.stop_gradient(r_t + discount_t * soft)


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


def q_lambda_returns(
    rewards: Array,
    next_q: Array,
    terminated: Array,
    truncated: Array,
    gamma: Array | float,
    lam: Array | float,
) -> Array:
    """Peng's Q(lambda) targets over one environment's rollout, computed backwards.

    The one trajectory function of this module (PQN's targets; Peng and Williams, 1996;
    Gallici et al., 2024): ``[T]`` arrays in collection order, like
    ``jaxrl.core.returns``. With ``nq_t = max_a Q(s'_t, a)``, ``s'_t`` the observation
    transition ``t`` produced before any auto-reset (``info["final_observation"][t]``)::

        G_t = r_t + gamma * (1 - term_t) * [(1 - lam_t) * nq_t + lam_t * G_{t+1}]
        lam_t = lam, but 0 where step t ends the episode (term_t or trunc_t) or the
                rollout (t = T - 1)

    so a mixture of the one-step greedy target and the longer returns, never crossing an
    episode's end: a termination bootstraps nothing, a truncation (time limit)
    bootstraps ``nq_t`` of the real last state, and the last step of the rollout
    bootstraps ``nq_{T-1}``. ``lam = 0`` is the one-step Q-learning target
    ``r_t + gamma (1 - term_t) nq_t``; ``lam = 1`` the discounted return to the
    episode's or rollout's end, bootstrapped there. "Peng's": the greedy bootstrap is
    mixed in at every step, not cut after an exploratory action (Watkins's Q(lambda)).

    Args:
        rewards: float32[T] ``r_t``.
        next_q: float32[T] ``max_a Q(s'_t, a)`` (no gradient is taken through it).
        terminated: bool[T] (0/1 integers accepted).
        truncated: bool[T] (0/1 integers accepted).
        gamma: float32[] discount (may be traced).
        lam: float32[] lambda in [0, 1] (may be traced).

    Returns:
        float32[T] targets ``G_t`` (gradient stopped).
    """
    chex.assert_rank([rewards, next_q, terminated, truncated], 1)
    chex.assert_equal_shape([rewards, next_q, terminated, truncated])
    chex.assert_type(rewards, float)
    for name, flags in (("terminated", terminated), ("truncated", truncated)):
        dtype = jnp.asarray(flags).dtype
        if not (jnp.issubdtype(dtype, jnp.bool_) or jnp.issubdtype(dtype, jnp.integer)):
            raise TypeError(f"{name} must be a boolean (or 0/1 integer) array, got dtype {dtype}")
    term = jnp.asarray(terminated).astype(bool)
    done = (term | jnp.asarray(truncated).astype(bool)).at[-1].set(True)
    dtype = rewards.dtype
    gamma = jnp.asarray(gamma, dtype)
    lam = jnp.asarray(lam, dtype)
    next_q = jnp.asarray(next_q, dtype)
    not_term = 1.0 - term.astype(dtype)
    lam_t = jnp.where(done, 0.0, lam)

    def step(g_next, inputs):
        r, nq, nt, lt = inputs
        g = r + gamma * nt * ((1.0 - lt) * nq + lt * g_next)
        return g, g

    _, targets = jax.lax.scan(step, jnp.zeros((), dtype), (rewards, next_q, not_term, lam_t),
                              reverse=True)
    return jax.lax.stop_gradient(targets)


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


# --------------------------------------------------------------------------------- distributional
def categorical_expectation(z: Array, probs: Array) -> Array:
    """Expected value of categorical distributions on the support ``z``.

    ``E[Z] = sum_j p_j z_j``.

    Args:
        z: float32[num_atoms] support.
        probs: float32[..., num_atoms] probabilities (leading axes: actions, batch).

    Returns:
        float32[...].
    """
    chex.assert_rank(z, 1)
    return jnp.sum(probs * z, axis=-1)


def categorical_projection(z_p: Array, probs: Array, z_q: Array) -> Array:
    """Project a distribution with atoms ``z_p`` onto the evenly spaced support ``z_q``.

    The C51 projection (Bellemare, Dabney and Munos, 2017, "A Distributional
    Perspective on Reinforcement Learning", algorithm 1): each atom's mass goes to the
    two nearest atoms of ``z_q`` in proportion to closeness, and mass outside
    ``[z_q[0], z_q[-1]]`` goes to the nearer end:

    ``m_j = sum_i p_i [1 - |clip(z_p[i], v_min, v_max) - z_q[j]| / dz]_0^1``,

    with ``dz = z_q[1] - z_q[0]`` and ``[x]_0^1`` clipping to ``[0, 1]``. An atom that
    lands exactly on ``z_q[j]`` gives all its mass to ``j``. Total mass is kept.

    Args:
        z_p: float32[n] atoms of the distribution (any values, e.g. ``r + gamma z``).
        probs: float32[n] their probabilities.
        z_q: float32[num_atoms] the target support, evenly spaced, num_atoms >= 2.

    Returns:
        float32[num_atoms] probabilities on ``z_q``.
    """
    chex.assert_rank([z_p, probs, z_q], 1)
    chex.assert_equal_shape([z_p, probs])
    v_min, v_max = z_q[0], z_q[-1]
    dz = z_q[1] - z_q[0]
    tz = jnp.clip(z_p, v_min, v_max)
    # weight[i, j]: the share of atom i's mass that lands on target atom j.
    weight = jnp.clip(1.0 - jnp.abs(tz[:, None] - z_q[None, :]) / dz, 0.0, 1.0)
    return jnp.sum(probs[:, None] * weight, axis=0)


def categorical_q_learning_target(
    r_t: Array, discount_t: Array, z: Array, p_t: Array, q_t_selector: Array | None = None
) -> Array:
    """C51 target distribution, projected onto the support.

    ``a* = argmax_a q_t_selector[a]`` (default: the expected values of ``p_t``,
    ``q[a] = sum_j p_t[a, j] z_j``), then
    ``m = Phi(r_t + discount_t * z, p_t[a*])`` with ``Phi`` the projection
    ``categorical_projection`` onto ``z`` (Bellemare et al., 2017, algorithm 1).

    Double C51 passes the online network's expected values as ``q_t_selector`` and the
    target network's probabilities as ``p_t`` (Hessel et al., 2018). The next action is
    the greedy one by expected value, never the action the behaviour policy took at
    ``s_t``: the book's chapter 7 uses the latter, a defect not reproduced here.
    ``discount_t = 0`` (termination) collapses the target onto ``r_t``; a time-limit
    cut keeps ``discount_t = gamma`` and bootstraps.

    Args:
        r_t: float32[] reward (an n-step discounted sum).
        discount_t: float32[] ``gamma^n * (1 - terminated)``.
        z: float32[num_atoms] evenly spaced support.
        p_t: float32[num_actions, num_atoms] next-state probabilities (target network).
        q_t_selector: float32[num_actions] values that choose the next action.

    Returns:
        float32[num_atoms] target probabilities (no gradient flows through them).
    """
    chex.assert_rank([r_t, discount_t, z, p_t], [0, 0, 1, 2])
    chex.assert_equal(p_t.shape[-1], z.shape[0])
    if q_t_selector is None:
        q_t_selector = categorical_expectation(z, p_t)
    chex.assert_shape(q_t_selector, p_t.shape[:1])
    a_star = greedy_action(q_t_selector)
    target = categorical_projection(r_t + discount_t * z, p_t[a_star], z)
    return jax.lax.stop_gradient(target)


def categorical_cross_entropy(logits_tm1: Array, target: Array) -> Array:
    """C51 loss of one transition: ``-sum_j m_j log p_j(s_tm1, a_tm1)``.

    The cross-entropy of the projected target ``m`` (``categorical_q_learning_target``)
    to the predicted distribution ``p = softmax(logits_tm1)`` (Bellemare et al., 2017,
    eq. 7; it equals ``KL(m || p)`` plus the target's entropy, which has no gradient).

    Args:
        logits_tm1: float32[num_atoms] logits of the taken action at ``s_tm1``.
        target: float32[num_atoms] target probabilities.

    Returns:
        float32[] loss.
    """
    chex.assert_rank([logits_tm1, target], 1)
    chex.assert_equal_shape([logits_tm1, target])
    return -jnp.sum(jax.lax.stop_gradient(target) * jax.nn.log_softmax(logits_tm1))


def quantile_midpoints(num_quantiles: int) -> Array:
    """QR-DQN's quantile fractions ``tau_i = (2 i + 1) / (2 N)``, float32[N] (Dabney et al.,
    2018, lemma 2: the midpoints of ``N`` equal slices of ``[0, 1]``)."""
    return (2.0 * jnp.arange(num_quantiles, dtype=jnp.float32) + 1.0) / (2.0 * num_quantiles)


def quantile_q_learning_target(
    r_t: Array, discount_t: Array, theta_t: Array, q_t_selector: Array | None = None
) -> Array:
    """QR-DQN target samples: ``T theta_j = r_t + discount_t * theta_t[a*, j]``.

    ``a* = argmax_a q_t_selector[a]``, by default the expected values
    ``q[a] = mean_j theta_t[a, j]`` (Dabney, Rowland, Bellemare and Munos, 2018,
    "Distributional Reinforcement Learning with Quantile Regression", algorithm 1).
    Double QR-DQN passes the online network's means as ``q_t_selector``. As for C51 the
    next action is the greedy one (the book's "action taken at s'" is a defect).

    Args:
        r_t: float32[] reward (an n-step discounted sum).
        discount_t: float32[] ``gamma^n * (1 - terminated)``.
        theta_t: float32[num_actions, num_quantiles] next-state quantiles (target network).
        q_t_selector: float32[num_actions] values that choose the next action.

    Returns:
        float32[num_quantiles] target samples (no gradient flows through them).
    """
    chex.assert_rank([r_t, discount_t, theta_t], [0, 0, 2])
    if q_t_selector is None:
        q_t_selector = jnp.mean(theta_t, axis=-1)
    chex.assert_shape(q_t_selector, theta_t.shape[:1])
    target = r_t + discount_t * theta_t[greedy_action(q_t_selector)]
    return jax.lax.stop_gradient(target)


def quantile_huber_loss(
    theta_tm1: Array, target: Array, tau: Array, kappa: Array | float = 1.0
) -> Array:
    """Quantile Huber loss of one transition (Dabney et al., 2018, eq. 10 and algorithm 1).

    With ``u_ij = target_j - theta_i`` (every target sample against every predicted
    quantile),

    ``rho_ij = |tau_i - 1{u_ij < 0}| * L_kappa(u_ij) / kappa``,
    ``loss = sum_i (1 / M) sum_j rho_ij``,

    ``L_kappa`` the Huber loss (``huber_loss``) and ``M`` the number of target samples.
    Dividing by ``kappa`` makes the linear part slope exactly ``tau`` or ``1 - tau``: as
    ``kappa -> 0`` this is plain quantile regression, whose minimiser is the
    ``tau_i``-quantile of the target; a larger ``kappa`` smooths the loss near 0 and
    pulls the minimiser of a spread-out target a little towards its centre.

    Args:
        theta_tm1: float32[N] predicted quantiles of the taken action at ``s_tm1``.
        target: float32[M] target samples (``quantile_q_learning_target``).
        tau: float32[N] quantile fractions of ``theta_tm1`` (``quantile_midpoints``).
        kappa: float32[] > 0, the Huber threshold.

    Returns:
        float32[] loss.
    """
    chex.assert_rank([theta_tm1, target, tau], 1)
    chex.assert_equal_shape([theta_tm1, tau])
    u = jax.lax.stop_gradient(target)[None, :] - theta_tm1[:, None]  # [N, M]
    weight = jnp.abs(tau[:, None] - (u < 0).astype(u.dtype))
    rho = weight * huber_loss(u, kappa) / kappa
    return jnp.sum(jnp.mean(rho, axis=1))
