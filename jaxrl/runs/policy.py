"""Exported policies (``jaxrl.export`` / ``jaxrl.load_policy``): a small file with only what acting needs, and ``policy(obs) -> action``.

A training checkpoint holds everything (optimiser moments, a replay buffer of
millions of transitions, environment states, RNG keys). ``export`` keeps the leaves
of the training state that the agent's ``act`` actually reads, found by tracing
``act`` (``jax.make_jaxpr``) and keeping the inputs its program uses: network
parameters, an observation normaliser, a Q table. The file is a jaxrl checkpoint
(msgpack, checksummed, no pickle) of those leaves, with the run's algorithm,
environment and config in its header, so loading rebuilds the same agent::

    from jaxrl import load_policy
    policy = load_policy("runs/ppo/policy.msgpack")      # the best seed by default
    action = policy(obs)                                 # one observation, greedy
    actions = policy(batch_of_obs, key=key, greedy=False)  # [N, ...] -> [N], sampled

``jaxrl export DIR`` writes ``DIR/policy.msgpack``.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import numpy as np

from jaxrl.errors import RunError
from jaxrl.runs import checkpoint as ckpt

__all__ = ["Policy", "export", "load_policy", "used_leaves"]

POLICY_FILE = "policy.msgpack"
KIND = "policy"  # header["extra"]["kind"]: an exported policy, not a training checkpoint


def _one_seed_template(agent: Any, env: Any, env_params: Any) -> tuple[Any, Any]:
    """Shapes of one seed's training state and of one observation."""
    import jax

    state = jax.eval_shape(agent.init, jax.random.key(0))
    obs = jax.eval_shape(lambda k: env.reset(k, env_params)[0], jax.random.key(0))
    return state, obs


def used_leaves(agent: Any, state: Any, obs: Any) -> list[bool]:
    """For each leaf of ``state`` (one seed), whether ``agent.act`` reads it (greedy or not)."""
    import jax

    leaves, treedef = jax.tree.flatten(state)

    def both(leaves, obs, key):
        s = jax.tree.unflatten(treedef, leaves)
        return agent.act(s, obs, key, True), agent.act(s, obs, key, False)

    closed = jax.make_jaxpr(both)(leaves, obs, jax.random.key(0))
    jaxpr = closed.jaxpr
    seen: set[int] = set()
    for eqn in jaxpr.eqns:
        seen.update(id(v) for v in eqn.invars if not hasattr(v, "val"))
    seen.update(id(v) for v in jaxpr.outvars if not hasattr(v, "val"))
    return [id(v) in seen for v in jaxpr.invars[:len(leaves)]]


def export(run: Any, path: str | os.PathLike | None = None, *,
           trust_code: bool = False, env: Any = None) -> Path:
    """Write the acting part of a run (a ``Result`` or a run directory) to ``path``.

    Args:
        run: a ``jaxrl.runs.run.Result`` or the path of a run directory.
        path: the file (default: ``<run dir>/policy.msgpack``).
        trust_code: a run directory's ``package.module:Name`` is loaded even when no
            code of this process imported it (``jaxrl.runs.run.load``).
        env: the environment object of a run directory trained on one that no name
            rebuilds (``jaxrl.runs.run.load``'s ``env``).

    Returns:
        The path written.

    Raises:
        RunError: ``path`` names a file of a run directory (this run's or another's:
            ``jaxrl.output.files.refuse_run_files``), or is a link or a special file.
    """
    import jax

    from jaxrl.output import files
    from jaxrl.runs.run import Result, load

    run_dir = run.run_dir if isinstance(run, Result) else run
    if path is None:
        if run_dir is None:
            raise RunError("this run has no directory; give export a path")
        path = Path(run_dir) / POLICY_FILE
    path = Path(path)
    if path.is_dir():
        raise RunError(f"{path} is a directory; give export a file name")
    if not path.parent.is_dir():
        raise RunError(f"cannot write {path}: {path.parent} does not exist")
    # Checked before loading anything, and again just before writing.
    files.refuse_run_files([path], run_dir)
    files.refuse_odd(path)
    result = run if isinstance(run, Result) else load(run, trust_code=trust_code, env=env)
    one, obs = _one_seed_template(result.agent, result.env, result.env_params)
    used = used_leaves(result.agent, one, obs)
    leaves = jax.tree.leaves(result.state)
    kept = {str(i): leaf for i, (leaf, u) in enumerate(zip(leaves, used)) if u}
    final = result.final_return
    # A policy of NaN parameters is never written: only the seeds that can act are kept
    # (their run's seed numbers in "seed_ids"); none of them: refused.
    acting = list(result.require_acting("export"))
    if len(acting) < result.seeds:
        kept = {k: v[np.asarray(acting)] for k, v in kept.items()}
        final = final[acting]
    best = int(np.nanargmax(final)) if np.isfinite(final).any() else 0
    spec = result.spec
    files.refuse_run_files([path], run_dir)
    files.refuse_odd(path)
    ckpt.save(path, kept, algorithm=spec.algorithm, env=spec.env, config=spec.config,
              updates_done=result.updates_done,
              extra={"kind": KIND, "env_options": spec.env_options, "obs_noise": spec.obs_noise,
                     "env_fingerprint": spec.env_fingerprint,
                     "seeds": len(acting), "seed_ids": acting, "best_seed": best,
                     "leaves_total": len(leaves),
                     "final_return": [None if not np.isfinite(x) else float(x) for x in final]})
    return path


@dataclasses.dataclass
class Policy:
    """A loaded policy: call it on observations.

    Attributes:
        algorithm, env: what it was trained as and on.
        seed: the seed whose parameters act (default: the best by final return).
        seeds: how many seeds the file holds.
        final_return: the final training return of each seed (NaN where none).
        observation_space, action_space: the environment's (``envs.spaces``).
        states: every seed's parameters that acting reads (leading axis: seeds; what
            acting never reads is zeros).
    """

    algorithm: str
    env: str
    seed: int
    seeds: int
    final_return: np.ndarray
    _agent: Any
    _states: Any
    _obs_ndim: int
    _fn: Any = None
    observation_space: Any = None
    action_space: Any = None

    @property
    def states(self) -> Any:
        return self._states

    def __repr__(self) -> str:
        """One line: algorithm, environment, spaces, which seed acts (the arrays are in
        ``states``)."""
        ret = self.final_return[self.seed] if self.seed < len(self.final_return) else np.nan
        shown = f", final return {ret:.4g}" if np.isfinite(ret) else ""
        spaces = "".join(f", {what} {space!r}" for what, space in
                         (("observations", self.observation_space),
                          ("actions", self.action_space)) if space is not None)
        return (f"Policy({self.algorithm} on {self.env}{spaces}, seed {self.seed} of "
                f"{self.seeds}{shown})")

    def __call__(self, obs: Any, key: Any = None, greedy: bool = True) -> Any:
        """Actions for ``obs``: one observation, or a batch with leading axes.

        Args:
            obs: an observation of the environment's shape, or ``[N, ...]`` of them
                (any number of leading axes).
            key: a PRNG key for sampled actions (``greedy=False``); each observation
                gets its own split of it. Default ``jax.random.key(0)``.
            greedy: the most likely / highest-valued action; else sample the policy.
        """
        import jax
        import jax.numpy as jnp

        obs = jnp.asarray(obs)
        batch = obs.shape[:obs.ndim - self._obs_ndim]
        if obs.ndim < self._obs_ndim:
            raise ValueError(f"observation of shape {obs.shape}: the policy takes "
                             f"{self._obs_ndim}-d observations")
        key = jax.random.key(0) if key is None else key
        n = int(np.prod(batch)) if batch else 1
        flat = obs.reshape((n,) + obs.shape[len(batch):])
        keys = jax.random.split(key, n)
        state = jax.tree.map(lambda x: x[self.seed], self._states)
        if self._fn is None:
            self._fn = jax.jit(jax.vmap(self._agent.act, in_axes=(None, 0, 0, None)),
                               static_argnums=3)
        actions = self._fn(state, flat, keys, bool(greedy))
        return actions.reshape(batch + actions.shape[1:])


def load_policy(path: str | os.PathLike, seed: int | None = None, *, env: Any = None,
                trust_code: bool = False) -> Policy:
    """The policy exported to ``path`` (``export``); ``seed`` picks a seed (default: the best).

    The file names its algorithm and environment; a ``package.module:Name`` among them
    is imported only when trusted (``jaxrl.runs.build.check_trusted``): registered or
    already imported by the user's code, given as ``env`` (the environment the user
    expects; a file for another one is refused), or ``trust_code=True``.

    ``env`` may also be the environment itself (an ``Environment`` or an ``(env,
    params)`` pair): then nothing is imported for it, and it is refused unless it
    behaves as the one trained on (the fingerprint ``export`` recorded). That is how a
    policy of a user's own environment loads where its module is not importable, or
    of one no name rebuilds (``<module.Class instance>``).
    """
    import jax
    import jax.numpy as jnp

    from jaxrl.runs.build import check_trusted, make_env
    from jaxrl.runs.overrides import config_from_dict, get_algorithm
    from jaxrl.runs.run import check_same_env, checked_env_pair, is_instance_label

    path = Path(path)
    try:
        header = ckpt.read_header(path)
    except ckpt.CheckpointError as e:
        raise RunError(str(e)) from None
    extra = header["extra"]
    if extra.get("kind") != KIND:
        raise RunError(f"{path} is a training checkpoint, not an exported policy; "
                       f"write one with: jaxrl export <run dir>")
    algorithm, env_name = header["algorithm"], header["env"]
    if not isinstance(algorithm, str) or not isinstance(env_name, str):
        raise RunError(f"{path} is damaged: no algorithm or environment name")
    given = env is not None and not isinstance(env, str)
    if env is not None and not given and env != env_name:
        raise RunError(f"{path} is a policy for the environment {env_name!r}, not {env!r}")
    options = extra.get("env_options") or {}
    noise = float(extra.get("obs_noise") or 0.0)
    _check_importable("algorithm", algorithm, path)
    check_trusted("algorithm", algorithm, str(path), trust_code)
    if given:
        env_obj, env_params = checked_env_pair(env)
        if noise > 0:
            from jaxrl.envs.wrappers import ObservationNoise

            env_obj = ObservationNoise(env_obj, noise)
        saved = extra.get("env_fingerprint")
        check_same_env(env_name, options, noise, saved if isinstance(saved, dict) else None,
                       env_obj, env_params, str(path))
    else:
        if is_instance_label(env_name):
            raise RunError(f"{path} is a policy for a {env_name[1:-len(' instance>')]} object "
                           f"that no name rebuilds; pass it: "
                           f"jaxrl.load_policy(path, env=<the same environment>)")
        _check_importable("environment", env_name, path)
        check_trusted("environment", env_name, str(path), trust_code or env is not None)
        env_obj, env_params = make_env(env_name, options, noise)
    agent = record_make(get_algorithm(algorithm), algorithm, config_from_dict(
        algorithm, header["config"]), env_obj, env_params)
    seeds = extra.get("seeds")
    if not isinstance(seeds, int) or seeds < 1:
        raise RunError(f"{path} is damaged: no seed count")
    one, obs = _one_seed_template(agent, env_obj, env_params)
    used = used_leaves(agent, one, obs)
    leaves_one, treedef = jax.tree.flatten(one)
    batched = [jax.ShapeDtypeStruct((seeds,) + x.shape, x.dtype) for x in leaves_one]
    template = {str(i): leaf for i, (leaf, u) in enumerate(zip(batched, used)) if u}
    try:
        kept, _ = ckpt.load(path, template, algorithm=algorithm, env=env_name,
                            config=header["config"])
    except ckpt.CheckpointError as e:
        raise RunError(f"{path} does not fit this jaxrl's {algorithm}: {e}") from None
    # Leaves act never reads are filled with zeros of their shape (never looked at).
    full = [jnp.asarray(kept[str(i)]) if u else jnp.zeros(b.shape, b.dtype)
            if not jnp.issubdtype(b.dtype, jax.dtypes.prng_key)
            else jax.random.split(jax.random.key(0), int(np.prod(b.shape))).reshape(b.shape)
            for i, (b, u) in enumerate(zip(batched, used))]
    states = jax.tree.unflatten(treedef, full)
    final = np.array([np.nan if x is None else x for x in extra.get("final_return", [])],
                     np.float64)
    best = extra.get("best_seed", 0)
    seed = best if seed is None else seed
    if not isinstance(seed, int) or not 0 <= seed < seeds:
        raise RunError(f"seed must be in [0, {seeds}), got {seed!r}")
    spaces = []
    for what in ("observation_space", "action_space"):
        try:
            spaces.append(getattr(env_obj, what)(env_params))
        except Exception:  # noqa: BLE001 - only shown
            spaces.append(None)
    return Policy(algorithm=algorithm, env=env_name, seed=seed, seeds=seeds,
                  final_return=final, _agent=agent, _states=states,
                  _obs_ndim=len(obs.shape), observation_space=spaces[0],
                  action_space=spaces[1])


def record_make(record: Any, algorithm: str, config: Any, env: Any, env_params: Any) -> Any:
    """``record.make`` with an algorithm that does not fit the environment refused in
    one line."""
    try:
        return record.make(config, env, env_params)
    except (ValueError, TypeError) as e:
        raise RunError(f"{algorithm} cannot act on this environment: "
                       f"{str(e).splitlines()[0] if str(e) else type(e).__name__}") from None


def _check_importable(kind: str, name: str, path: Path) -> None:
    """Refuse, in one line saying what is missing and how to supply it, a policy whose
    ``package.module:Name`` names a module this Python cannot find (nothing is imported:
    only the top-level package is looked up)."""
    import sys
    from importlib.util import find_spec

    if ":" not in name:
        return
    module = name.partition(":")[0]
    top = module.split(".")[0]
    if not top or module in sys.modules:
        return
    if kind == "environment":
        from jaxrl.envs import registry

        if name in registry.registered(include_gymnax=False):
            return
    else:
        from jaxrl import algos

        if name in algos.names():
            return
    try:
        found = find_spec(top) is not None
    except (ImportError, ValueError):
        found = False
    if found:
        return
    supply = (f"pass the environment itself: jaxrl.load_policy(path, env="
              f"{name.partition(':')[2]}(...))" if kind == "environment"
              else f"import or register {name.partition(':')[2]} first")
    raise RunError(f"{path} is a policy for the {kind} {name!r}, whose module {module!r} "
                   f"cannot be imported here: put it on the Python path (PYTHONPATH=its "
                   f"folder), or {supply}")
