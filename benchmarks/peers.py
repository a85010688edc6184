"""jaxrl beside whichever peers are importable, timed in one process, interleaved.

Builds nothing itself: each peer is used if it imports, else its rows are skipped with
a note. Peers live in their own environment, never in this project, e.g.::

    python3 -m venv /work/peers/purejaxrl-venv
    /work/peers/purejaxrl-venv/bin/pip install jax==0.9.2 jaxlib==0.9.2 gymnax flashbax rejax
    git clone https://github.com/luchris429/purejaxrl /work/peers/purejaxrl
    /work/peers/purejaxrl-venv/bin/python benchmarks/peers.py --purejaxrl /work/peers/purejaxrl

(jaxrl's own dependencies, flax and optax, must import there too; this file puts the
repository on ``sys.path``.) PureJaxRL's ``dqn.py`` imports ``wandb`` at the top; when
it is missing a do-nothing stand-in is registered so the script imports (it only logs
with ``WANDB_MODE=online``); so are Brax and Navix for its ``wrappers.py`` (CartPole never
uses them), and ``jax.tree_map`` (gone in JAX 0.9) for flashbax 0.1. PureJaxRL and rejax
0.1 call gymnax's 5-value ``step``: install ``gymnax<1`` in the peers' environment.

What is timed (one device, every seed vmapped in one ``jit``; compile excluded; each
round runs every contestant once, in turn, so a busy moment of a shared machine hits
all of them; min and median over rounds, and each peer's time over jaxrl's):

* ``ppo``: CartPole-v1 at CleanRL's settings (4 envs x 128 steps, 4 epochs x 4
  minibatches, 2x64 tanh, lr 2.5e-4 annealed): jaxrl's ``cleanrl`` preset, PureJaxRL's
  ``ppo.py``, rejax's PPO (evaluation only at the end), and the floor: the two networks'
  work alone (the rollout's acting passes and the epochs' gradient steps, no env, no GAE).
* ``dqn``: CartPole-v1, 8 envs, buffer 50,000, learning from 1,000 steps, batch 128,
  one gradient step per update of the 8 envs: jaxrl with PureJaxRL's features (1-step
  targets, no double DQN, no clipping, hard target copies), jaxrl's defaults (3-step,
  double, clipped, Polyak), PureJaxRL's ``dqn.py`` (flashbax buffer), and two floors: the
  network's work alone (acting forward pass and gradient step, no env or replay), without
  and with double DQN's extra forward pass.
* ``env``: CartPole-v1, ``--env-copies`` copies with auto-reset and random actions in a
  jitted scan: jaxrl's ``VecEnv`` and gymnax's (``vmap`` of ``env.step``).

Usage: ``python benchmarks/peers.py [--purejaxrl DIR] [--only ppo dqn env] [--seeds 16]
[--rounds 3] [--quick] [--json PATH]``
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import sys
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import jax
import jax.numpy as jnp


# ------------------------------------------------------------------------------ contestants
def _load_purejaxrl(root: str | None, name: str, package: str = "purejaxrl") -> Any:
    """PureJaxRL's ``purejaxrl/<name>.py`` (or ``<root>/<name>.py``) as a module; with
    ``package="purejaxql"``, purejaxql's ``purejaxql/<name>.py`` the same way."""
    if root is None:
        raise ImportError(f"no --{package} path given")
    base = Path(root)
    folder = base / package if (base / package / f"{name}.py").is_file() else base
    path = folder / f"{name}.py"
    if not path.is_file():
        raise ImportError(f"{path} not found")
    if "wandb" not in sys.modules:
        try:
            import wandb  # noqa: F401
        except ImportError:
            stub = types.ModuleType("wandb")
            stub.log = stub.init = lambda *a, **k: None
            sys.modules["wandb"] = stub
    _stand_ins()
    if not hasattr(jax, "tree_map"):  # flashbax 0.1 still calls it; JAX 0.9 removed it
        jax.tree_map = jax.tree.map
    sys.path.insert(0, str(folder))  # ppo.py imports its sibling wrappers.py
    spec = importlib.util.spec_from_file_location(f"{package}_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _stand_ins() -> None:
    """Empty modules for what PureJaxRL's ``wrappers.py`` imports for other environments
    (Brax, Navix), when they are not installed: CartPole never touches them."""
    import importlib

    for name in ("brax", "navix"):
        try:
            importlib.import_module(name)
        except ImportError:
            parts = ["brax", "brax.envs", "brax.envs.wrappers", "brax.envs.wrappers.training"] \
                if name == "brax" else ["navix"]
            for part in parts:
                sys.modules.setdefault(part, types.ModuleType(part))
            if name == "brax":
                sys.modules["brax"].envs = sys.modules["brax.envs"]
                training = sys.modules["brax.envs.wrappers.training"]
                training.EpisodeWrapper = training.AutoResetWrapper = object


def jaxrl_train(algo: str, config: Any) -> Callable[[Any], Any]:
    from jaxrl import envs
    from jaxrl.algos import dqn, ppo

    env, params = envs.make("CartPole-v1")
    agent = {"dqn": dqn, "ppo": ppo}[algo].make(config, env, params)
    return jax.vmap(agent.train)


def ppo_contestants(total: int, root: str | None) -> dict[str, Callable | str]:
    from jaxrl.algos import ppo

    out: dict[str, Callable | str] = {}
    cfg = ppo.PRESETS["cleanrl"].config.replace(total_timesteps=total)
    out["jaxrl"] = jaxrl_train("ppo", cfg)
    try:
        pjx = _load_purejaxrl(root, "ppo")
        config = {"LR": 2.5e-4, "NUM_ENVS": 4, "NUM_STEPS": 128, "TOTAL_TIMESTEPS": total,
                  "UPDATE_EPOCHS": 4, "NUM_MINIBATCHES": 4, "GAMMA": 0.99, "GAE_LAMBDA": 0.95,
                  "CLIP_EPS": 0.2, "ENT_COEF": 0.01, "VF_COEF": 0.5, "MAX_GRAD_NORM": 0.5,
                  "ACTIVATION": "tanh", "ENV_NAME": "CartPole-v1", "ANNEAL_LR": True,
                  "DEBUG": False}
        out["purejaxrl"] = jax.vmap(pjx.make_train(config))
    except Exception as e:  # noqa: BLE001 - a peer that does not import is skipped
        out["purejaxrl"] = f"skipped ({type(e).__name__}: {e})"
    try:
        from rejax import PPO

        algo = PPO.create(env="CartPole-v1", num_envs=4, num_steps=128, num_epochs=4,
                          num_minibatches=4, learning_rate=2.5e-4, max_grad_norm=0.5,
                          total_timesteps=total, eval_freq=total, skip_initial_evaluation=True,
                          gamma=0.99, gae_lambda=0.95, clip_eps=0.2, ent_coef=0.01,
                          vf_coef=0.5, agent_kwargs={"activation": "tanh"})
        out["rejax"] = jax.vmap(algo.train)
    except Exception as e:  # noqa: BLE001
        out["rejax"] = f"skipped ({type(e).__name__}: {e})"
    out["floor: network work alone"] = ppo_floor(total)
    return out


def ppo_floor(total: int, envs: int = 4, steps: int = 128, epochs: int = 4,
              minibatches: int = 4) -> Callable[[Any], Any]:
    """The work no PPO at CleanRL's CartPole settings can skip, and nothing else: per
    update, ``steps`` acting passes of the actor and the critic (two 64-64 tanh MLPs) on
    ``envs`` observations, one after another as a rollout must be, then ``epochs`` x
    ``minibatches`` gradient steps of the clipped loss (policy ratio, value error, entropy)
    on minibatches of ``envs * steps / minibatches`` rows, each through global-norm
    clipping and Adam. No environment, no advantage estimation, no shuffling, no random
    numbers: observations, actions, advantages and returns are fixed rows of one array. A
    contestant's time over this row's is how much of its time goes to anything but the
    networks."""
    import flax.linen as nn
    import optax

    class MLP(nn.Module):
        out: int

        @nn.compact
        def __call__(self, x):
            for _ in range(2):
                x = nn.tanh(nn.Dense(64)(x))
            return nn.Dense(self.out)(x)

    actor, critic = MLP(2), MLP(1)
    opt = optax.chain(optax.clip_by_global_norm(0.5), optax.adam(2.5e-4))
    batch = envs * steps
    size, updates = batch // minibatches, total // batch

    def run(key):
        k_a, k_c, k_data = jax.random.split(key, 3)
        params = {"actor": actor.init(k_a, jnp.zeros((1, 4))),
                  "critic": critic.init(k_c, jnp.zeros((1, 4)))}
        data = jax.random.normal(k_data, (batch + steps, 4))
        actions = jnp.arange(size) % 2
        adv = jnp.linspace(-1.0, 1.0, size)
        old_logp = jnp.full((size,), -0.69)

        def loss(p, obs):
            logits = actor.apply(p["actor"], obs)
            value = critic.apply(p["critic"], obs)[:, 0]
            logp_all = jax.nn.log_softmax(logits)
            logp = logp_all[jnp.arange(size), actions]
            ratio = jnp.exp(logp - old_logp)
            pg = -jnp.minimum(ratio * adv, jnp.clip(ratio, 0.8, 1.2) * adv).mean()
            entropy = -(jnp.exp(logp_all) * logp_all).sum(-1).mean()
            return pg + 0.5 * ((value - adv) ** 2).mean() - 0.01 * entropy

        def minibatch(carry, j):
            params, opt_state = carry
            obs = jax.lax.dynamic_slice(data, ((j % minibatches) * size, 0), (size, 4))
            grads = jax.grad(loss)(params, obs)
            step, opt_state = opt.update(grads, opt_state, params)
            return (optax.apply_updates(params, step), opt_state), None

        def update(carry, _):
            params, opt_state, acc = carry

            def act(acc, t):
                obs = jax.lax.dynamic_slice(data, (t, 0), (envs, 4))
                logits = actor.apply(params["actor"], obs)
                value = critic.apply(params["critic"], obs)
                return acc + jnp.sum(logits) + jnp.sum(value), None

            acc, _ = jax.lax.scan(act, acc, jnp.arange(steps))
            (params, opt_state), _ = jax.lax.scan(minibatch, (params, opt_state),
                                                  jnp.arange(epochs * minibatches))
            return (params, opt_state, acc), None

        carry = (params, opt.init(params), 0.0)
        return jax.lax.scan(update, carry, None, length=updates)[0][2]

    return jax.vmap(run)


#: Contestants held to another floor than their section's first (the table's ``x floor``):
#: jaxrl's DQN defaults use double DQN, whose target needs one more online forward pass.
DQN_DEFAULTS, DOUBLE_FLOOR = ("jaxrl (defaults: 3-step, double, clipped)",
                              "floor, double DQN: network work alone")
FLOOR_OF = {DQN_DEFAULTS: DOUBLE_FLOOR}


def dqn_contestants(total: int, root: str | None) -> dict[str, Callable | str]:
    from jaxrl.algos import dqn

    out: dict[str, Callable | str] = {}
    base = dqn.Config(num_envs=8, total_timesteps=total, buffer_size=50_000, batch_size=128,
                      learning_starts=1_000, train_every=1, gradient_steps=1, hidden=(120, 84),
                      lr=2.5e-4)
    out["jaxrl (PureJaxRL's features)"] = jaxrl_train(
        "dqn", base.replace(n_steps=1, double=False, max_grad_norm=0.0, target="hard",
                            target_update_period=62))
    out[DQN_DEFAULTS] = jaxrl_train("dqn", base)
    try:
        pjx = _load_purejaxrl(root, "dqn")
        config = {"NUM_ENVS": 8, "BUFFER_SIZE": 50_000, "BUFFER_BATCH_SIZE": 128,
                  "TOTAL_TIMESTEPS": total, "EPSILON_START": 1.0, "EPSILON_FINISH": 0.05,
                  "EPSILON_ANNEAL_TIME": total // 2, "TARGET_UPDATE_INTERVAL": 500,
                  "LR": 2.5e-4, "LEARNING_STARTS": 1_000, "TRAINING_INTERVAL": 8,
                  "LR_LINEAR_DECAY": False, "GAMMA": 0.99, "TAU": 1.0,
                  "ENV_NAME": "CartPole-v1", "WANDB_MODE": "disabled"}
        out["purejaxrl"] = jax.vmap(pjx.make_train(config))
    except Exception as e:  # noqa: BLE001
        out["purejaxrl"] = f"skipped ({type(e).__name__}: {e})"
    out["floor: network work alone"] = dqn_floor(total)
    out[DOUBLE_FLOOR] = dqn_floor(total, double=True)
    return out


def dqn_floor(total: int, double: bool = False) -> Callable[[Any], Any]:
    """The work no DQN at PureJaxRL's settings can skip, and nothing else: per update of
    the 8 environments, the Q-network (120-84) on 8 observations (acting), then one
    gradient step on 128 transitions (online network forward and backward, target network
    forward, Adam) and the target's periodic copy. No environment, no replay buffer, no
    random numbers: batches are fixed rows of one array. A contestant's time over this
    row's is how much of its time goes to anything but the network. ``double``: also the
    online network's forward pass on the next observations that double DQN's target needs
    (the one network pass jaxrl's defaults add)."""
    import flax.linen as nn
    import optax

    class Q(nn.Module):
        @nn.compact
        def __call__(self, x):
            x = nn.relu(nn.Dense(120)(x))
            return nn.Dense(2)(nn.relu(nn.Dense(84)(x)))

    net, opt, updates = Q(), optax.adam(2.5e-4), total // 8

    def run(key):
        k_init, k_data = jax.random.split(key)
        params = net.init(k_init, jnp.zeros((1, 4)))
        data = jax.random.normal(k_data, (1024 + 129, 4))
        actions = jnp.arange(128) % 2

        def loss(p, target, obs, nxt):
            q = net.apply(p, obs)[jnp.arange(128), actions]
            q_next = net.apply(target, nxt)
            if double:
                best = jnp.argmax(net.apply(jax.lax.stop_gradient(p), nxt), axis=-1)
                y = 1.0 + 0.99 * q_next[jnp.arange(128), best]
            else:
                y = 1.0 + 0.99 * jnp.max(q_next, axis=-1)
            return jnp.mean((q - y) ** 2)

        def body(carry, i):
            params, target, opt_state, acc = carry
            start = i % 1024
            acting = net.apply(params, jax.lax.dynamic_slice(data, (start, 0), (8, 4)))
            obs = jax.lax.dynamic_slice(data, (start, 0), (128, 4))
            nxt = jax.lax.dynamic_slice(data, (start + 1, 0), (128, 4))
            grads = jax.grad(loss)(params, target, obs, nxt)
            step, opt_state = opt.update(grads, opt_state)
            params = optax.apply_updates(params, step)
            target = jax.tree.map(lambda p, t: jnp.where(i % 62 == 0, p, t), params, target)
            return (params, target, opt_state, acc + jnp.sum(acting)), None

        carry = (params, params, opt.init(params), 0.0)
        return jax.lax.scan(body, carry, jnp.arange(updates))[0][3]

    return jax.vmap(run)


def env_contestants(copies: int, steps: int) -> dict[str, Callable | str]:
    from jaxrl import envs
    from jaxrl.envs.wrappers import VecEnv

    out: dict[str, Callable | str] = {}
    env, params = envs.make("CartPole-v1")
    venv = VecEnv(env, copies)

    def ours(key):
        _, state = venv.reset(key, params)

        def body(c, k):
            state, total = c
            ka, ks = jax.random.split(k)
            a = jax.random.randint(ka, (copies,), 0, 2)
            obs, state, r, *_ = venv.step(ks, state, a, params)
            return (state, total + jnp.sum(r) + jnp.sum(obs)), None

        return jax.lax.scan(body, (state, 0.0), jax.random.split(key, steps))[0][1]

    out["jaxrl"] = jax.vmap(ours)
    try:
        import gymnax

        genv, gparams = gymnax.make("CartPole-v1")

        def theirs(key):
            _, state = jax.vmap(genv.reset, in_axes=(0, None))(jax.random.split(key, copies),
                                                               gparams)

            def body(c, k):
                state, total = c
                ka, ks = jax.random.split(k)
                a = jax.random.randint(ka, (copies,), 0, 2)
                obs, state, r, *_ = jax.vmap(genv.step, in_axes=(0, 0, 0, None))(
                    jax.random.split(ks, copies), state, a, gparams)
                return (state, total + jnp.sum(r) + jnp.sum(obs)), None

            return jax.lax.scan(body, (state, 0.0), jax.random.split(key, steps))[0][1]

        out["gymnax"] = jax.vmap(theirs)
    except Exception as e:  # noqa: BLE001
        out["gymnax"] = f"skipped ({type(e).__name__}: {e})"
    return out


# ------------------------------------------------------------------------------ timing
def race(contestants: dict[str, Callable | str], keys: Any, rounds: int) -> dict[str, Any]:
    """Compile each, then ``rounds`` rounds running every contestant once, in turn."""
    compiled, times, notes = {}, {}, {}
    for name, fn in contestants.items():
        if isinstance(fn, str):
            notes[name] = fn
            continue
        t = time.perf_counter()
        try:
            compiled[name] = jax.jit(fn).lower(keys).compile()
        except Exception as e:  # noqa: BLE001 - a peer whose program does not build
            notes[name] = f"skipped ({type(e).__name__}: {str(e).splitlines()[0][:120]})"
            continue
        notes[name] = f"compile {time.perf_counter() - t:.1f} s"
        times[name] = []
    for r in range(rounds):
        order = list(compiled) if r % 2 == 0 else list(reversed(compiled))
        for name in order:
            t = time.perf_counter()
            jax.block_until_ready(compiled[name](keys))
            times[name].append(time.perf_counter() - t)
    return {"times": times, "notes": notes}


def table(title: str, result: dict[str, Any], work: float, unit: str) -> list[str]:
    times, notes = result["times"], result["notes"]
    lines = [title]
    ref = min(times[next(iter(times))]) if times else float("nan")
    # the floor a contestant is held to: the first floor row, or the one FLOOR_OF names
    floors = {name: min(t) for name, t in times.items() if name.startswith("floor")}
    for name, note in notes.items():
        if name not in times:
            lines.append(f"  {name:<42} {note}")
            continue
        t = times[name]
        best, med = min(t), statistics.median(t)
        floor = floors.get(FLOOR_OF.get(name, ""), next(iter(floors.values()), None))
        over = f"  {best / floor:5.2f}x floor" if floor else ""
        lines.append(f"  {name:<42} min {best:7.2f} s  median {med:7.2f} s  "
                     f"{work / best / 1e3:9.1f}k {unit}/s  time / first row's "
                     f"{best / ref:5.2f}{over}  ({note})")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--purejaxrl", default=None, metavar="DIR",
                    help="a checkout of luchris429/purejaxrl (or its purejaxrl/ folder)")
    ap.add_argument("--only", nargs="+", choices=("ppo", "dqn", "env"),
                    default=["ppo", "dqn", "env"])
    ap.add_argument("--seeds", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--ppo-steps", type=int, default=500_000, help="env steps per seed")
    ap.add_argument("--dqn-steps", type=int, default=100_000, help="env steps per seed")
    ap.add_argument("--env-copies", type=int, default=4096)
    ap.add_argument("--env-steps", type=int, default=1000, help="steps of every copy")
    ap.add_argument("--quick", action="store_true",
                    help="4 seeds, 2 rounds, 50k PPO / 20k DQN steps, 256 env copies")
    ap.add_argument("--json", default=None, metavar="PATH")
    args = ap.parse_args()
    if args.quick:
        args.seeds, args.rounds = 4, 2
        args.ppo_steps, args.dqn_steps, args.env_copies, args.env_steps = 51_200, 20_000, 256, 500
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"jax {jax.__version__}, {jax.device_count()} device(s), {os.cpu_count()} cores, "
          f"load average {load:.1f}; {args.seeds} seeds, {args.rounds} rounds, interleaved")
    keys = jax.random.split(jax.random.key(0), args.seeds)
    rows = []
    sections = {
        "ppo": (lambda: ppo_contestants(args.ppo_steps, args.purejaxrl),
                f"PPO on CartPole-v1, CleanRL settings, {args.ppo_steps:,} steps per seed",
                args.ppo_steps * args.seeds, "env steps"),
        "dqn": (lambda: dqn_contestants(args.dqn_steps, args.purejaxrl),
                (f"DQN on CartPole-v1, 8 envs, buffer 50k, batch 128, {args.dqn_steps:,} "
                 f"steps per seed"), args.dqn_steps * args.seeds, "env steps"),
        "env": (lambda: env_contestants(args.env_copies, args.env_steps),
                (f"CartPole-v1 stepping, {args.env_copies} copies x {args.env_steps} steps, "
                 f"auto-reset, random actions"), args.env_copies * args.env_steps * args.seeds,
                "env steps"),
    }
    for part in args.only:
        build, title, work, unit = sections[part]
        result = race(build(), keys, args.rounds)
        print("\n".join(table(title, result, work, unit)))
        print()
        for name, t in result["times"].items():
            rows.append({"name": f"{part}-{name}", "what": title,
                         "setting": f"{args.seeds} seeds, one device, min of {args.rounds} "
                                    f"interleaved rounds",
                         "number": f"{work / min(t) / 1e3:.1f}k {unit}/s (min "
                                   f"{min(t):.2f} s, median {statistics.median(t):.2f} s)",
                         "seeds": args.seeds, "compile_s": None, "run_s": round(min(t), 2),
                         "plot": None})
    if args.json:
        from jaxrl.runs.checkpoint import atomic_write

        atomic_write(args.json, json.dumps(rows, indent=1).encode())


if __name__ == "__main__":
    main()
