"""``check_env``: does an environment keep jaxrl's contract?

In the spirit of Gymnasium's ``check_env`` and jumanji's environment checks, but for the
contract of ``envs.core.Environment`` (and ``envs.multiagent.MultiAgentEnvironment``)::

    from jaxrl import envs
    report = envs.check_env(env, params)      # raises envs.EnvCheckError on the first failure
    print(report)

The checks, in the order they run (the error names the first that fails):

``spaces``
    ``action_space(params)`` and ``observation_space(params)`` are ``envs.spaces`` spaces
    (a multi-agent env's ``joint_*_space`` too); a sampled action lies in its space.
``jit``
    ``reset`` and ``step`` compile under ``jax.jit`` with ``params`` traced (params are
    data, never Python control flow).
``reset``, ``step``
    ``reset -> (obs, state)``; ``step -> (obs, state, reward, terminated, truncated,
    info)``. ``obs`` has the observation space's shape and dtype and lies in it;
    ``reward`` is floating, ``[]`` (``[num_agents]`` for a multi-agent env);
    ``terminated`` and ``truncated`` are ``bool[]``; ``info`` is a dict.
``final_observation``
    ``info["final_observation"]`` is there, shaped and typed like ``obs``, in the space.
``retrace``
    a second ``reset`` and a second ``step`` (from the first step's state) reuse the
    compiled program: each is traced once. (A ``step`` that returns a state of another
    structure, shape, dtype or weak type than the one it takes compiles again on every
    call of a Python loop, and fails inside ``lax.scan``; the error names the leaf.)
``deterministic``
    the same key gives the same outputs (two separately traced programs, compared bit
    for bit): no host randomness, no state outside the arguments.
``finite``
    every floating output (obs, reward, info) is finite, on every step of the rollout.
``vmap``
    ``batch`` copies reset and step under ``jax.vmap`` in one compiled program, for
    ``num_steps`` steps of random actions, with the batch axis in front of every output
    and every observation in the space.
``auto_reset``
    on every step of that rollout, ``step`` is ``step_env`` followed by the documented
    reset rule: where ``terminated | truncated`` the returned ``obs``/``state`` are
    ``reset_env``'s with the reset key (``split_step_key``), elsewhere ``step_env``'s;
    ``info["final_observation"]`` is ``step_env``'s observation either way. Episodes
    are cut to at most ``num_steps // 2`` steps during the rollout (a shorter
    ``max_steps_in_episode`` when the params have one), so that resets happen.
``params_vmap``
    ``params`` batched along a new leading axis (every leaf) step ``batch`` copies under
    ``jax.vmap`` and agree with the shared-params result. Skipped when the params have
    no array leaves.

It returns a ``CheckReport``: what ran, the trace counts, and whether ``terminated`` and
``truncated`` were seen in the rollout (reachability is reported, not required: a
task whose episodes only end by time never terminates).

Everything here runs on the host and compiles a few small programs; it is a test-time
tool, not something to call inside a training loop.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from . import spaces
from .core import split_step_key

__all__ = ["CheckReport", "EnvCheckError", "check_env"]


class EnvCheckError(ValueError):
    """An environment broke the contract. ``check`` names the failed check."""

    def __init__(self, env_name: str, check: str, message: str):
        self.env_name = env_name
        self.check = check
        super().__init__(f"{env_name}: check {check!r} failed: {message}")


@dataclasses.dataclass(frozen=True)
class CheckReport:
    """What ``check_env`` verified about one environment."""

    env: str
    multi_agent: bool
    checks: tuple[str, ...]  # the checks that ran and passed, in order
    num_steps: int  # steps of the rollout (per copy)
    batch: int  # copies in the rollout
    episodes_ended: int  # ``terminated | truncated`` steps seen in the rollout (all copies)
    terminated_seen: bool
    truncated_seen: bool
    traces: dict[str, int]  # times reset / step were traced over two calls each (1 = cached)
    params_vmapped: bool  # the params_vmap check ran (False: params without array leaves)

    def __str__(self) -> str:
        ends = [name for name, seen in (("terminated", self.terminated_seen),
                                        ("truncated", self.truncated_seen)) if seen]
        return (f"{self.env}: {len(self.checks)} checks passed ({', '.join(self.checks)}); "
                f"{self.batch} copies x {self.num_steps} steps, {self.episodes_ended} episode "
                f"ends ({' and '.join(ends) if ends else 'none'} seen)")


def check_env(env: Any, params: Any = None, *, num_steps: int = 64, seed: int = 0,
              batch: int = 8) -> CheckReport:
    """Check ``env`` against jaxrl's environment contract (see the module docstring).

    Args:
        env: an ``envs.core.Environment`` (wrapped or not; multi-agent or not).
        params: the params to check with (default ``env.default_params``).
        num_steps: steps of the vmapped random-action rollout, >= 2.
        seed: seeds every key the checks use (same seed, same checks).
        batch: environment copies in the vmapped checks, >= 1.

    Returns:
        ``CheckReport``.

    Raises:
        EnvCheckError: the first check that failed, with what was expected and found.
        ValueError: ``num_steps`` or ``batch`` out of range.
    """
    if int(num_steps) != num_steps or num_steps < 2:
        raise ValueError(f"check_env needs num_steps >= 2, got {num_steps!r}")
    if int(batch) != batch or batch < 1:
        raise ValueError(f"check_env needs batch >= 1, got {batch!r}")
    return _Checker(env, params, int(num_steps), int(seed), int(batch)).run()


# ---------------------------------------------------------------------------------
class _Checker:
    def __init__(self, env: Any, params: Any, num_steps: int, seed: int, batch: int):
        self.env = env
        self.name = str(getattr(env, "name", type(env).__name__))
        self.params = params if params is not None else getattr(env, "default_params", None)
        self.num_steps, self.seed, self.batch = num_steps, seed, batch
        self.passed: list[str] = []
        base = getattr(env, "unwrapped", env)
        self.num_agents = getattr(base, "num_agents", None)
        self.multi = callable(getattr(base, "joint_action_space", None)) and \
            self.num_agents is not None

    def fail(self, check: str, message: str) -> None:
        raise EnvCheckError(self.name, check, message)

    def ok(self, check: str) -> None:
        if check not in self.passed:
            self.passed.append(check)

    # --- the checks -------------------------------------------------------------------
    def run(self) -> CheckReport:
        self.check_spaces()
        first, second = self.check_jit_and_outputs()
        traces = self.check_retrace(first, second)
        self.check_deterministic(first)
        ended, term_seen, trunc_seen = self.check_rollout()
        vmapped = self.check_params_vmap()
        return CheckReport(self.name, bool(self.multi), tuple(self.passed), self.num_steps,
                           self.batch, ended, term_seen, trunc_seen, traces, vmapped)

    def check_spaces(self) -> None:
        env, p = self.env, self.params
        try:
            act, obs = env.action_space(p), env.observation_space(p)
        except Exception as e:  # noqa: BLE001 - reported as the failed check
            self.fail("spaces", f"action_space/observation_space(params) raised "
                                f"{type(e).__name__}: {e}")
        for what, space in (("action_space", act), ("observation_space", obs)):
            if not isinstance(space, spaces.Space):
                self.fail("spaces", f"{what}(params) returned {type(space).__name__}, not an "
                                    f"envs.spaces.Space (Box, Discrete or Dict)")
        if self.multi:
            try:
                act, obs = env.joint_action_space(p), env.joint_observation_space(p)
            except Exception as e:  # noqa: BLE001
                self.fail("spaces", f"joint_action_space/joint_observation_space raised "
                                    f"{type(e).__name__}: {e}")
        self.act_space, self.obs_space = act, obs
        sample = act.sample(jax.random.key(self.seed))
        if not bool(act.contains(sample)):
            self.fail("spaces", f"{act!r}.sample(key) gave {np.asarray(sample)!r}, outside the "
                                f"space")
        self.ok("spaces")

    def _keys(self, n: int, salt: int) -> jax.Array:
        return jax.random.split(jax.random.fold_in(jax.random.key(self.seed), salt), n)

    def check_jit_and_outputs(self):
        env = self.env
        self.trace_count = {"reset": 0, "step": 0}

        def reset(key, params):
            self.trace_count["reset"] += 1
            return env.reset(key, params)

        def step(key, state, action, params):
            self.trace_count["step"] += 1
            return env.step(key, state, action, params)

        self.jreset, self.jstep = jax.jit(reset), jax.jit(step)
        k_reset, k_act, k_step, k_act2, k_step2 = self._keys(5, 1)
        try:
            out = self.jreset(k_reset, self.params)
        except Exception as e:  # noqa: BLE001
            self.fail("jit", f"jax.jit(env.reset)(key, params) raised {type(e).__name__}: "
                             f"{_short(e)}")
        if not (isinstance(out, tuple) and len(out) == 2):
            self.fail("reset", f"reset must return (obs, state), got {_describe(out)}")
        obs, state = out
        self._check_obs("reset", obs, "the observation reset returned")
        action = self.act_space.sample(k_act)
        try:
            out = self.jstep(k_step, state, action, self.params)
        except Exception as e:  # noqa: BLE001
            self.fail("jit", f"jax.jit(env.step)(key, state, action, params) raised "
                             f"{type(e).__name__}: {_short(e)}")
        self._check_step_outputs(out)
        self.ok("jit")
        self.ok("reset")
        self.ok("step")
        self.ok("final_observation")
        first = (k_reset, k_step, state, action, out)
        second = (k_step2, out[1], self.act_space.sample(k_act2))
        return first, second

    def _check_step_outputs(self, out: Any) -> None:
        if not (isinstance(out, tuple) and len(out) == 6):
            self.fail("step", f"step must return (obs, state, reward, terminated, truncated, "
                              f"info), got {_describe(out)}")
        obs, _, reward, terminated, truncated, info = out
        self._check_obs("step", obs, "the observation step returned")
        reward = jnp.asarray(reward)
        want = (self.num_agents,) if self.multi else ()
        if not jnp.issubdtype(reward.dtype, jnp.floating):
            self.fail("step", f"reward must be a floating array, got dtype {reward.dtype}")
        if reward.shape != want:
            self.fail("step", f"reward must have shape {want}"
                              f"{' (one per agent)' if self.multi else ''}, got {reward.shape}")
        for flag, value in (("terminated", terminated), ("truncated", truncated)):
            value = jnp.asarray(value)
            if value.dtype != jnp.bool_ or value.shape != ():
                self.fail("step", f"{flag} must be bool[] (a scalar"
                                  f"{' shared by every agent' if self.multi else ''}), got "
                                  f"{value.dtype}{list(value.shape)}")
        if not isinstance(info, dict):
            self.fail("step", f"info must be a dict, got {type(info).__name__}")
        if "final_observation" not in info:
            self.fail("final_observation", "info has no 'final_observation' (the observation "
                                           "the transition produced, before any reset); keys: "
                                           f"{sorted(info)}")
        self._check_obs("final_observation", info["final_observation"],
                        "info['final_observation']")
        bad = _non_finite((obs, reward, info))
        if bad:
            self.fail("finite", f"non-finite values on the first step in {bad}")

    def _check_obs(self, check: str, obs: Any, what: str, space: Any = None,
                   batch: tuple[int, ...] = ()) -> None:
        space = self.obs_space if space is None else space
        if isinstance(space, spaces.Dict):
            if not isinstance(obs, dict) or set(obs) != set(space.spaces):
                self.fail(check, f"{what} must be a dict with keys {sorted(space.spaces)}, got "
                                 f"{_describe(obs)}")
            for k, sub in space.spaces.items():
                self._check_obs(check, obs[k], f"{what}[{k!r}]", sub, batch)
            return
        x = jnp.asarray(obs)
        want = batch + tuple(space.shape)
        if x.shape != want:
            self.fail(check, f"{what} has shape {x.shape}, the space {space!r} says {want}")
        if x.dtype != jnp.dtype(space.dtype):
            self.fail(check, f"{what} has dtype {x.dtype}, the space {space!r} says "
                             f"{jnp.dtype(space.dtype)}")
        contains = space.contains
        for _ in batch:
            contains = jax.vmap(contains)
        inside = np.asarray(contains(x))
        if not inside.all():
            where = np.argwhere(~inside)[0] if inside.ndim else None
            sample = np.asarray(x[tuple(where)] if where is not None else x)
            at = f" (copy {tuple(int(i) for i in where)})" if where is not None else ""
            self.fail(check, f"{what} lies outside {space!r}{at}: {_clip_repr(sample)}")

    def check_retrace(self, first, second) -> dict[str, int]:
        state0 = first[2]
        k_step2, state1, action2 = second
        self.jreset(self._keys(1, 2)[0], self.params)
        try:
            out = self.jstep(k_step2, state1, action2, self.params)
        except Exception as e:  # noqa: BLE001
            self.fail("step", f"a second step (from the first step's state) raised "
                              f"{type(e).__name__}: {_short(e)}")
        counts = dict(self.trace_count)
        for fn, n in counts.items():
            if n != 1:
                diff = _tree_difference(state0, state1) if fn == "step" else ""
                hint = (f": the state it returns differs from the one it takes, {diff}" if diff
                        else "")
                self.fail("retrace", f"{fn} was traced {n} times for two calls with the same "
                                     f"shapes{hint}")
        self._check_step_outputs(out)
        self.ok("retrace")
        return counts

    def check_deterministic(self, first) -> None:
        env = self.env
        k_reset, k_step, state, action, out = first
        # A second, separately traced program per function: host randomness at trace time
        # or in callbacks shows up as a difference.
        again_reset, again_step = jax.jit(
            lambda k1, k2, s, a, p: (env.reset(k1, p), env.step(k2, s, a, p)))(
            k_reset, k_step, state, action, self.params)
        first_reset = self.jreset(k_reset, self.params)
        for fn, a, b in (("reset", first_reset, again_reset), ("step", out, again_step)):
            diff = _first_unequal(a, b)
            if diff:
                self.fail("deterministic", f"two calls of {fn} with the same key differ at "
                                           f"{diff}")
        self.ok("deterministic")

    def check_rollout(self) -> tuple[int, bool, bool]:
        env, batch, n = self.env, self.batch, self.num_steps
        params = _shorter_episodes(self.params, max(1, n // 2))
        stochastic = bool(getattr(env, "stochastic_step", True))
        act_space, obs_space = self.act_space, self.obs_space

        def rollout(key, params):
            k_reset, k_run = jax.random.split(key)
            obs, state = jax.vmap(env.reset, in_axes=(0, None))(
                jax.random.split(k_reset, batch), params)

            def body(state, key):
                k_act, k_step = jax.random.split(key)
                actions = jax.vmap(act_space.sample)(jax.random.split(k_act, batch))
                keys = jax.random.split(k_step, batch)
                out = jax.vmap(env.step, in_axes=(0, 0, 0, None))(keys, state, actions, params)
                obs, new_state, reward, terminated, truncated, info = out
                # The reference: step_env, then the documented reset rule.
                ks, kr = jax.vmap(lambda k: split_step_key(k, stochastic))(keys)
                clipped = jax.vmap(env.clip_action, in_axes=(0, None))(actions, params) \
                    if hasattr(env, "clip_action") else actions
                t_obs, t_state, *_ = jax.vmap(env.step_env, in_axes=(0, 0, 0, None))(
                    ks, state, clipped, params)
                r_obs, r_state = jax.vmap(env.reset_env, in_axes=(0, None))(kr, params)
                done = jnp.logical_or(terminated, truncated)
                same_trans = _close(obs, t_obs) & _close(new_state, t_state)
                same_reset = _close(obs, r_obs) & _close(new_state, r_state)
                final_ok = _close(info["final_observation"], t_obs)
                inside = _batched_contains(obs_space, obs) & \
                    _batched_contains(obs_space, info["final_observation"])
                finite = _finite_per_copy((obs, reward, info), batch)
                shapes_ok = (reward.shape[:1] == (batch,) and terminated.shape == (batch,)
                             and truncated.shape == (batch,))
                rec = {"done": done, "terminated": terminated, "truncated": truncated,
                       "continues": jnp.where(done, True, same_trans),
                       "resets": jnp.where(done, same_reset, True), "final": final_ok,
                       "inside": inside, "finite": finite, "shapes": jnp.asarray(shapes_ok)}
                return new_state, rec

            _, rec = jax.lax.scan(body, state, jax.random.split(k_run, n))
            return obs, rec

        try:
            obs0, rec = jax.jit(rollout)(self._keys(1, 3)[0], params)
        except Exception as e:  # noqa: BLE001
            self.fail("vmap", f"{batch} copies under jax.vmap (reset, then {n} steps of random "
                              f"actions in lax.scan) raised {type(e).__name__}: {_short(e)}")
        rec = jax.device_get(rec)
        self._check_obs("vmap", obs0, "a batched reset's observation", batch=(batch,))
        if not rec["shapes"].all():
            self.fail("vmap", f"batched rewards and flags must have the batch axis ({batch}) "
                              f"in front")
        for key, check, what in (
            ("final", "auto_reset", "info['final_observation'] is not step_env's observation"),
            ("continues", "auto_reset", ("on a step that did not end the episode, obs/state "
                                         "are not step_env's")),
            ("resets", "auto_reset", ("after terminated | truncated, obs/state are not a fresh "
                                      "episode's (reset_env with the reset key of "
                                      "split_step_key): no auto-reset?")),
            ("finite", "finite", "a non-finite output (obs, reward or info)"),
            ("inside", "vmap", "an observation (or final_observation) outside the space"),
        ):
            bad = np.argwhere(~np.asarray(rec[key], bool))
            if bad.size:
                t, c = (int(i) for i in bad[0])
                self.fail(check, f"{what} (rollout step {t}, copy {c})")
        self.ok("vmap")
        self.ok("auto_reset")
        self.ok("finite")
        done = np.asarray(rec["done"])
        return int(done.sum()), bool(np.any(rec["terminated"])), bool(np.any(rec["truncated"]))

    def check_params_vmap(self) -> bool:
        env, batch, p = self.env, self.batch, self.params
        leaves = [x for x in jax.tree.leaves(p) if np.ndim(x) >= 0
                  and isinstance(x, (int, float, bool, np.ndarray, np.generic, jax.Array))]
        if p is None or not leaves:
            return False
        many = jax.tree.map(lambda x: jnp.broadcast_to(jnp.asarray(x), (batch, *np.shape(x))), p)
        keys = self._keys(batch, 4)
        act_keys = self._keys(batch, 5)

        def one_step(params, in_axis):
            _, state = jax.vmap(env.reset, in_axes=(0, in_axis))(keys, params)
            actions = jax.vmap(self.act_space.sample)(act_keys)
            return jax.vmap(env.step, in_axes=(0, 0, 0, in_axis))(keys, state, actions, params)

        try:
            batched, shared = jax.jit(lambda q, r: (one_step(q, 0), one_step(r, None)))(many, p)
        except Exception as e:  # noqa: BLE001
            self.fail("params_vmap", f"reset/step under jax.vmap over params (every leaf "
                                     f"batched) raised {type(e).__name__}: {_short(e)}")
        diff = _first_unequal(batched, shared, exact=False)
        if diff:
            self.fail("params_vmap", f"copies of identical batched params disagree with shared "
                                     f"params at {diff}")
        self.ok("params_vmap")
        return True


# --------------------------------------------------------------------------------- helpers
def _short(e: Exception) -> str:
    text = str(e).strip().splitlines()
    return text[0][:300] if text else type(e).__name__


def _describe(x: Any) -> str:
    if isinstance(x, tuple):
        return f"a tuple of {len(x)}"
    return type(x).__name__


def _clip_repr(x: np.ndarray) -> str:
    text = np.array2string(np.asarray(x), precision=3, threshold=12)
    return text if len(text) < 200 else text[:197] + "..."


def _leaf_data(x: Any) -> Any:
    x = jnp.asarray(x) if not isinstance(x, jax.Array) else x
    if jnp.issubdtype(x.dtype, jax.dtypes.prng_key):
        return jax.random.key_data(x)
    return x


def _paths(tree: Any) -> list[tuple[str, Any]]:
    flat, _ = jax.tree_util.tree_flatten_with_path(tree)
    return [(jax.tree_util.keystr(path) or "<root>", leaf) for path, leaf in flat]


def _aval(x: Any) -> str:
    x = x if isinstance(x, jax.Array) else jnp.asarray(x)
    weak = " (weak type)" if getattr(x, "weak_type", False) else ""
    return f"{x.dtype}{list(x.shape)}{weak}"


def _tree_difference(a: Any, b: Any) -> str:
    """Where two states differ in structure, shape, dtype or weak type ('' if nowhere)."""
    ta, tb = jax.tree.structure(a), jax.tree.structure(b)
    if ta != tb:
        return f"tree structure {ta} vs {tb}"
    for (path, x), (_, y) in zip(_paths(a), _paths(b)):
        if _aval(x) != _aval(y):
            return f"leaf {path}: {_aval(x)} vs {_aval(y)}"
    return ""


def _first_unequal(a: Any, b: Any, exact: bool = True) -> str:
    if jax.tree.structure(a) != jax.tree.structure(b):
        return "the tree structure"
    for (path, x), (_, y) in zip(_paths(a), _paths(b)):
        x, y = np.asarray(_leaf_data(x)), np.asarray(_leaf_data(y))
        if x.shape != y.shape:
            return f"{path} (shapes {x.shape} vs {y.shape})"
        if exact or not np.issubdtype(x.dtype, np.floating):
            same = np.array_equal(x, y, equal_nan=np.issubdtype(x.dtype, np.floating))
        else:
            same = np.allclose(x, y, rtol=1e-5, atol=1e-6, equal_nan=True)
        if not same:
            return f"{path}: {_clip_repr(x)} vs {_clip_repr(y)}"
    return ""


def _non_finite(tree: Any) -> str:
    for path, leaf in _paths(tree):
        x = np.asarray(_leaf_data(leaf))
        if np.issubdtype(x.dtype, np.floating) and not np.all(np.isfinite(x)):
            return path
    return ""


def _close(a: Any, b: Any) -> jax.Array:
    """Per copy (leading axis): do two batched trees agree (floats to 1e-5)?"""
    out = None
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        x, y = _leaf_data(x), _leaf_data(y)
        if jnp.issubdtype(x.dtype, jnp.floating):
            eq = jnp.isclose(x, y, rtol=1e-5, atol=1e-6) | (jnp.isnan(x) & jnp.isnan(y))
        else:
            eq = x == y
        eq = jnp.all(jnp.reshape(eq, (eq.shape[0], -1)), axis=1) if eq.ndim > 1 else eq
        out = eq if out is None else out & eq
    return jnp.asarray(True) if out is None else out


def _batched_contains(space: Any, x: Any) -> jax.Array:
    return jax.vmap(space.contains)(x)


def _finite_per_copy(tree: Any, batch: int) -> jax.Array:
    ok = jnp.ones((batch,), bool)
    for leaf in jax.tree.leaves(tree):
        leaf = _leaf_data(leaf)
        if jnp.issubdtype(leaf.dtype, jnp.floating) and leaf.ndim >= 1 \
                and leaf.shape[0] == batch:
            ok = ok & jnp.all(jnp.reshape(jnp.isfinite(leaf), (batch, -1)), axis=1)
    return ok


def _shorter_episodes(params: Any, cap: int) -> Any:
    """``params`` with ``max_steps_in_episode`` lowered to ``cap`` (when it has one)."""
    limit = getattr(params, "max_steps_in_episode", None)
    if limit is None or not hasattr(params, "replace"):
        return params
    try:
        if int(np.asarray(limit)) <= cap:
            return params
        return params.replace(max_steps_in_episode=jnp.asarray(cap, jnp.asarray(limit).dtype))
    except (TypeError, ValueError):  # traced, batched or not a number: leave it
        return params
