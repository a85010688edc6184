"""Hang canary and the orthogonal initialiser that avoids the hang.

jaxlib 0.10.0-0.10.2 can deadlock on a 2-core CPU when a vmapped program runs batched
LAPACK (QR, LU, Cholesky, eigh, triangular solves): the batched kernels hand their
matrices to XLA's CPU thread pool and wait for it, and with two threads the program can
stop in ``block_until_ready`` for good, at 0 % CPU. flax's orthogonal initialiser
vmapped over 16 seeds is enough: measured on jax 0.10.2 here, an MLP with 128-wide layers
hung on the first call every time, one with 64-wide layers about once in a few hundred
calls. jaxrl therefore initialises with ``jaxrl.core.networks.orthogonal_initializer``:
flax's own function, drawn one seed at a time under ``vmap``
(``jax.custom_batching.sequential_vmap``), so no batched LAPACK runs.

* The canary runs that pattern through jaxrl's networks (a vmapped init called a few
  times, then a training step) in a child process with a timeout: a thread stuck in C++
  cannot be interrupted by pytest-timeout, so a hang becomes a plain failure, not a stuck
  CI run.
* The initialiser gives flax's values bit for bit, alone and under ``vmap``, and the
  agents built on it start from the same state as before (fixed-seed runs unchanged).
* No algorithm's vmapped ``init`` (every registered algorithm, default and presets)
  contains a batched linear-algebra primitive: the check that does not depend on luck.
"""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
import textwrap

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl import algos
from jaxrl.core import networks
from jaxrl.core.networks import MLP, orthogonal_initializer
from jaxrl.runs.build import make_env

PROGRAM = textwrap.dedent(
    """
    import jax, jax.numpy as jnp, optax
    from jaxrl.core.networks import MLP

    actor = MLP(hidden=(128, 128, 128), out=2, act="tanh", orthogonal=True, out_scale=0.01)
    critic = MLP(hidden=(128, 128, 128), out=1, act="tanh", orthogonal=True)
    opt = optax.adam(1e-3)

    def init(key):
        k_actor, k_critic = jax.random.split(key)
        return actor.init(k_actor, jnp.zeros(4)), critic.init(k_critic, jnp.zeros(4))

    def step(params, key):
        x = jax.random.normal(key, (32, 4))
        loss = lambda p: jnp.mean(actor.apply(p[0], x) ** 2) + jnp.mean(critic.apply(p[1], x) ** 2)
        updates, _ = opt.update(jax.grad(loss)(params), opt.init(params), params)
        return loss(optax.apply_updates(params, updates))

    # A race, but a likely one at this width: without the fix the first call hangs.
    init_seeds = jax.jit(jax.vmap(init))
    for i in range(REPEATS):
        params = init_seeds(jax.random.split(jax.random.key(i), 16))
        jax.block_until_ready(params)
    out = jax.jit(jax.vmap(step))(params, jax.random.split(jax.random.key(0), 16))
    out.block_until_ready()
    assert out.shape == (16,) and bool(jnp.all(jnp.isfinite(out)))
    print("ok", jax.__version__)
    """
)
REPEATS = 10
TIMEOUT_S = 240


def test_vmapped_orthogonal_init_and_step_does_not_hang():
    program = PROGRAM.replace("REPEATS", str(REPEATS))
    try:
        proc = subprocess.run(
            [sys.executable, "-c", program], capture_output=True, text=True, timeout=TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:  # a deadlock, not a slow machine
        raise AssertionError(
            f"{REPEATS} calls of a vmapped orthogonal init + step did not finish in "
            f"{TIMEOUT_S} s: the batched-LAPACK deadlock of jaxlib 0.10.x on small CPUs? "
            "Does every orthogonal initialiser go through networks.orthogonal_initializer?"
        ) from exc
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.startswith("ok")


# ------------------------------------------------------------------------ same values


def _jaxlib_before(major: int, minor: int) -> bool:
    parts = importlib.metadata.version("jaxlib").split(".")
    return (int(parts[0]), int(parts[1])) < (major, minor)


# Only where batched LAPACK is safe do the tests run flax's initialiser under vmap.
BATCHED_LAPACK_SAFE = _jaxlib_before(0, 10)

SHAPES = [(4, 64), (64, 2), (3, 3, 2, 16)]  # wide, tall, a conv kernel


def _as_array(x):
    if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
        x = jax.random.key_data(x)
    return np.asarray(x)


def _assert_trees_identical(a, b):
    leaves_a, leaves_b = jax.tree.leaves(a), jax.tree.leaves(b)
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for i, (x, y) in enumerate(zip(leaves_a, leaves_b)):
        x, y = _as_array(x), _as_array(y)
        assert x.dtype == y.dtype and x.shape == y.shape, i
        assert np.array_equal(x, y), f"leaf {i} differs"


@pytest.mark.heavy
@pytest.mark.parametrize("typed_key", [True, False])
def test_orthogonal_initializer_is_flax_bit_for_bit(typed_key):
    key = jax.random.key(7) if typed_key else jax.random.PRNGKey(7)
    for scale, shape in [(np.sqrt(2.0), (4, 64)), (0.01, (64, 2)), (1.0, (3, 3, 2, 16))]:
        ours, flax_init = orthogonal_initializer(scale), nn.initializers.orthogonal(scale)
        _assert_trees_identical(ours(key, shape, jnp.float32), flax_init(key, shape, jnp.float32))
        _assert_trees_identical(jax.jit(ours, static_argnums=1)(key, shape),  # default dtype
                                jax.jit(flax_init, static_argnums=1)(key, shape))
    _assert_trees_identical(orthogonal_initializer(2.0, column_axis=0)(key, (5, 3)),
                            nn.initializers.orthogonal(2.0, column_axis=0)(key, (5, 3)))


@pytest.mark.heavy
@pytest.mark.parametrize("typed_key", [True, False])
def test_orthogonal_initializer_under_vmap_is_flax_per_seed(typed_key):
    root = jax.random.key(11) if typed_key else jax.random.PRNGKey(11)
    keys = jax.random.split(root, 4)
    flax_init, ours = nn.initializers.orthogonal(np.sqrt(2.0)), orthogonal_initializer(np.sqrt(2.0))
    for shape in SHAPES:
        def draw_ours(k, shape=shape):
            return ours(k, shape, jnp.float32)

        def draw_flax(k, shape=shape):
            return flax_init(k, shape, jnp.float32)

        batched = jax.jit(jax.vmap(draw_ours))(keys)
        one = jax.jit(draw_flax)
        _assert_trees_identical(batched, jnp.stack([one(k) for k in keys]))
        if BATCHED_LAPACK_SAFE:  # the program runs made before the fix: the same numbers
            _assert_trees_identical(batched, jax.jit(jax.vmap(draw_flax))(keys))
    # Nested vmap (a sweep over configs around the seeds): still one seed at a time.
    shape = SHAPES[0]
    nested = jax.jit(jax.vmap(jax.vmap(lambda k: ours(k, shape, jnp.float32))))(
        keys.reshape(2, 2, *keys.shape[1:]))
    _assert_trees_identical(nested.reshape(4, *shape),
                            jnp.stack([flax_init(k, shape, jnp.float32) for k in keys]))


AGENTS = [("ppo", "cartpole"), ("a2c", "tuned")]  # the agents with orthogonal init


@pytest.mark.heavy
@pytest.mark.parametrize("name, preset", AGENTS)
def test_agents_start_where_they_did_before(name, preset, monkeypatch):
    """Each agent's whole vmapped initial state, built on jaxrl's initialiser, equals
    the state built on flax's (the code before the fix): fixed-seed runs do not change."""
    record = algos.get(name)
    p = record.presets[preset]
    env, env_params = make_env(p.env, dict(p.env_options))
    keys = jax.random.split(jax.random.key(3), 4)
    ours = jax.jit(jax.vmap(record.make(p.config, env, env_params).init))(keys)

    flax_orthogonal = nn.initializers.orthogonal
    monkeypatch.setattr(networks, "orthogonal_initializer", flax_orthogonal)
    module = sys.modules[record.make.__module__]
    if hasattr(module, "orthogonal_initializer"):
        monkeypatch.setattr(module, "orthogonal_initializer", flax_orthogonal)
    before = record.make(p.config, env, env_params)
    if BATCHED_LAPACK_SAFE:
        reference = jax.jit(jax.vmap(before.init))(keys)
    else:  # flax's initialiser one seed at a time (batched, it may hang here)
        one = jax.jit(before.init)
        reference = jax.tree.map(lambda *xs: jnp.stack(xs), *[one(k) for k in keys])
    _assert_trees_identical(ours, reference)


# ------------------------------------------------------------------ no batched LAPACK

LINALG_PRIMITIVES = {
    "qr", "geqrf", "geqp3", "householder_product", "lu", "cholesky", "cholesky_update",
    "eigh", "eig", "svd", "triangular_solve", "schur", "hessenberg", "tridiagonal",
    "tridiagonal_solve",
}


def batched_linalg(jaxpr, found=None) -> list[tuple[str, tuple[int, ...]]]:
    """``(primitive, operand shape)`` of every linear-algebra equation in ``jaxpr`` (and the
    jaxprs inside it) whose operand has more than one matrix."""
    found = [] if found is None else found
    for eqn in jaxpr.eqns:
        if eqn.primitive.name in LINALG_PRIMITIVES and any(
                getattr(v.aval, "ndim", 0) > 2 for v in eqn.invars):
            found.append((eqn.primitive.name, tuple(eqn.invars[0].aval.shape)))
        for param in eqn.params.values():
            for sub in param if isinstance(param, (list, tuple)) else [param]:
                sub = getattr(sub, "jaxpr", sub)  # a ClosedJaxpr's Jaxpr
                if hasattr(sub, "eqns"):
                    batched_linalg(sub, found)
    return found


def test_the_check_sees_flax_batched_qr():
    keys = jax.random.split(jax.random.key(0), 4)
    flax_init = nn.initializers.orthogonal()
    seen = batched_linalg(jax.make_jaxpr(jax.vmap(lambda k: flax_init(k, (8, 8))))(keys).jaxpr)
    assert seen and seen[0][1] == (4, 8, 8)
    ours = orthogonal_initializer()
    assert batched_linalg(jax.make_jaxpr(jax.vmap(lambda k: ours(k, (8, 8))))(keys).jaxpr) == []
    conv = MLP(hidden=(8,), out=2, orthogonal=True, obs_ndim=3, torso="conv")
    jaxpr = jax.make_jaxpr(jax.vmap(lambda k: conv.init(k, jnp.zeros((10, 10, 2)))))(keys)
    assert batched_linalg(jaxpr.jaxpr) == []


@pytest.mark.heavy
def test_no_algorithm_initialises_with_batched_lapack():
    keys = jax.random.split(jax.random.key(0), 2)
    envs_made: dict = {}
    offenders = []
    for name in algos.names():
        record = algos.get(name)
        cases = [("default", record.config(), record.default_env, {})] + [
            (label, p.config, p.env or record.default_env, dict(p.env_options))
            for label, p in record.presets.items()
        ]
        for label, config, env_name, options in cases:
            key = (env_name, repr(sorted(options.items())))
            if key not in envs_made:
                envs_made[key] = make_env(env_name, options)
            agent = record.make(config, *envs_made[key])
            found = batched_linalg(jax.make_jaxpr(jax.vmap(agent.init))(keys).jaxpr)
            if found:
                offenders.append(f"{name}/{label}: {found}")
    assert not offenders, ("batched LAPACK in a vmapped init (deadlocks jaxlib 0.10 on "
                           "small CPUs; use networks.orthogonal_initializer): "
                           + "; ".join(offenders))
