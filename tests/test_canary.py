"""Hang canary: a vmapped init + training step in a child process with a timeout.

jaxlib 0.10.0-0.10.2 deadlock on 2-core CPUs when a vmapped program runs batched LAPACK
(flax's orthogonal initialiser vmapped over seeds is enough); a thread stuck in C++
cannot be interrupted by pytest-timeout, so this runs in a subprocess and a hang becomes
a plain failure instead of a stuck CI run.
"""

import subprocess
import sys
import textwrap

PROGRAM = textwrap.dedent(
    """
    import jax, jax.numpy as jnp, optax
    from jaxrl.core.networks import MLP

    net = MLP(hidden=(64, 64), out=2, act="tanh", orthogonal=True)
    opt = optax.adam(1e-3)

    def init_and_step(key):
        params = net.init(key, jnp.zeros(4))
        state = opt.init(params)
        x = jax.random.normal(key, (32, 4))
        loss = lambda p: jnp.mean(net.apply(p, x) ** 2)
        grads = jax.grad(loss)(params)
        updates, state = opt.update(grads, state, params)
        return loss(optax.apply_updates(params, updates))

    out = jax.jit(jax.vmap(init_and_step))(jax.random.split(jax.random.key(0), 8))
    out.block_until_ready()
    assert out.shape == (8,) and bool(jnp.all(jnp.isfinite(out)))
    print("ok", jax.__version__)
    """
)


def test_vmapped_orthogonal_init_and_step_does_not_hang():
    try:
        proc = subprocess.run(
            [sys.executable, "-c", PROGRAM], capture_output=True, text=True, timeout=240
        )
    except subprocess.TimeoutExpired as exc:  # a deadlock, not a slow machine
        raise AssertionError(
            "vmapped orthogonal init + step did not finish in 240 s: the batched-LAPACK "
            "deadlock of jaxlib 0.10.x on small CPUs? Check the pinned jax version."
        ) from exc
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.startswith("ok")
