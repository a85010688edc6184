"""Evolution without gradients: jaxrl.algos.evolution (shared pieces), jaxrl.algos.ga, jaxrl.algos.es.

Operators and estimators are checked against hand computations and statistics with
stated tolerances; the learning tests that need whole CartPole runs are marked slow.
"""

import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxrl import envs
from jaxrl.algos import es, evolution, ga
from jaxrl.core.episodes import evaluate


@pytest.fixture(scope="module")
def cartpole():
    return envs.make("CartPole-v1")


# --------------------------------------------------------------------------------- shaping
def test_centred_ranks_by_hand():
    np.testing.assert_allclose(evolution.centred_ranks(jnp.array([3.0, 1.0, 2.0])),
                               [0.5, -0.5, 0.0])
    # Ties share their mean rank: ranks 1, 2.5, 2.5, 0 of 3.
    np.testing.assert_allclose(evolution.centred_ranks(jnp.array([1.0, 5.0, 5.0, 0.0])),
                               [1 / 3 - 0.5, 2.5 / 3 - 0.5, 2.5 / 3 - 0.5, -0.5], rtol=1e-6)
    # Invariant to monotone transformations of the fitness.
    f = jax.random.normal(jax.random.key(0), (17,))
    np.testing.assert_array_equal(evolution.centred_ranks(f),
                                  evolution.centred_ranks(jnp.exp(3 * f) - 7))
    assert float(evolution.centred_ranks(jnp.array([4.0]))[0]) == 0.0


# --------------------------------------------------------------------------------- ES maths
def test_perturbations_are_antithetic_pairs_and_regenerable():
    key, mean, sigma = jax.random.key(3), jnp.arange(5.0), 0.2
    pop = es.population(mean, key, 6, sigma)
    eps = (pop - mean) / sigma
    np.testing.assert_allclose(eps[0::2], -eps[1::2], atol=1e-5)
    for i in range(6):  # regenerated member by member, the same noise
        np.testing.assert_allclose(eps[i], es.perturbation(key, jnp.int32(i), 5), atol=1e-5)
    assert not np.allclose(eps[0], eps[2])  # pairs differ


def test_antithetic_pairs_cancel_on_a_linear_fitness():
    d, p, sigma = 6, 10, 0.3
    key, mean = jax.random.key(1), jax.random.normal(jax.random.key(2), (d,))
    a = jnp.array([1.0, -2.0, 0.5, 0.0, 3.0, -1.0])
    pop = es.population(mean, key, p, sigma)

    def grad_of(fitness):
        return np.asarray(es.gradient_estimate(key, fitness, sigma, d))

    g = grad_of(pop @ a)
    # A constant added to every member cancels within each pair (exactly, up to float).
    np.testing.assert_allclose(grad_of(pop @ a + 1000.0), g, atol=2e-3)
    np.testing.assert_array_equal(grad_of(jnp.full((p,), 5.0)), np.zeros(d))
    # Each pair contributes (a . z) z: the estimate by hand from the stored noise.
    z = np.asarray((pop[0::2] - mean) / sigma)
    by_hand = (z @ np.asarray(a))[:, None] * z
    np.testing.assert_allclose(g, by_hand.mean(axis=0), rtol=1e-4, atol=1e-4)


def test_es_gradient_estimate_equals_the_true_gradient_of_a_quadratic():
    """f(x) = -1/2 (x - t)^T A (x - t): an antithetic pair sees the quadratic term cancel,
    so each pair gives (z . grad) z exactly and the estimate's relative error has rms
    sqrt((D + 1) / pairs) = 0.021 here; asserted below 0.065 (about 3x that)."""
    d, pairs, sigma = 8, 20_000, 0.5
    k_a, k_t, k_m, k_noise = jax.random.split(jax.random.key(7), 4)
    m = jax.random.normal(k_a, (d, d))
    a = m @ m.T / d + jnp.eye(d)
    t = jax.random.normal(k_t, (d,))
    mean = jax.random.normal(k_m, (d,))

    def f(x):
        return -0.5 * (x - t) @ a @ (x - t)

    pop = es.population(mean, k_noise, 2 * pairs, sigma)
    g = es.gradient_estimate(k_noise, jax.vmap(f)(pop), sigma, d)
    true = jax.grad(f)(mean)
    rel = float(jnp.linalg.norm(g - true) / jnp.linalg.norm(true))
    assert rel < 0.065, rel
    # Not a tautology: the gradient at another point is far from the estimate.
    other = jax.grad(f)(mean + 1.0)
    assert float(jnp.linalg.norm(g - other) / jnp.linalg.norm(other)) > 0.2


@pytest.mark.heavy
def test_es_update_uses_the_noise_it_regenerates(cartpole):
    """One update, recomputed by hand with the population stored explicitly: the members
    evaluated and the noise in the gradient are the same (keys split as in es.update)."""
    env, params = cartpole
    cfg = es.Config(population_size=8, generations=1, episodes=2, hidden=(4,))
    agent = es.make(cfg, env, params)
    state = agent.init(jax.random.key(0))
    new, metrics = jax.jit(agent.update)(state)

    policy = evolution.policy_for(env, params, cfg.hidden, cfg.activation, "es")
    evaluator = evolution.make_evaluator(policy, env, params, cfg.episodes)
    opt = optax.chain(optax.scale_by_adam(eps=cfg.adam_eps), optax.scale(-cfg.lr))

    @jax.jit
    def by_hand(state):
        _, k_noise, k_eval = jax.random.split(state.key, 3)
        pop = es.population(state.mean, k_noise, 8, cfg.sigma)  # stored, not regenerated
        eps = (pop - state.mean) / cfg.sigma
        scores = evaluator(pop, k_eval)
        grad = evolution.centred_ranks(scores.fitness) @ eps / (8 * cfg.sigma)
        step, _ = opt.update(-grad + cfg.weight_decay * state.mean, opt.init(state.mean))
        return scores, state.mean + step

    scores, mean = by_hand(state)
    np.testing.assert_allclose(metrics["mean_fitness"], scores.fitness.mean(), rtol=1e-6)
    np.testing.assert_allclose(metrics["best_fitness"], scores.fitness.max(), rtol=1e-6)
    assert int(metrics["env_steps"]) == int(scores.steps.sum())
    np.testing.assert_allclose(new.mean, mean, rtol=1e-4, atol=1e-5)
    assert not np.allclose(new.mean, state.mean)


# --------------------------------------------------------------------------------- GA operators
def test_crossover_children_take_each_layer_from_one_parent(cartpole):
    env, params = cartpole
    policy = evolution.policy_for(env, params, (10, 10), "relu", "ga")
    layers = np.asarray(policy.layers)
    assert policy.size == 4 * 10 + 10 + 10 * 10 + 10 + 10 * 2 + 2  # the book's 4-10-10-2
    assert sorted(np.bincount(layers)) == sorted([50, 110, 22])  # weights + biases per layer
    a, b = jnp.zeros(policy.size), jnp.ones(policy.size)
    cross = jax.jit(jax.vmap(lambda k: ga.layer_crossover(k, a, b, layers, 3, 1.0)))
    c1, c2 = map(np.asarray, cross(jax.random.split(jax.random.key(0), 64)))
    np.testing.assert_array_equal(c1 + c2, 1.0)  # the second child takes the other parent
    seen = set()
    for child in c1:
        per_layer = [np.unique(child[layers == i]) for i in range(3)]
        assert all(len(u) == 1 for u in per_layer)  # a whole layer from one parent
        seen.add(tuple(float(u[0]) for u in per_layer))
    assert len(seen) == 8  # every combination of parents over 3 layers occurs
    # crossover_rate 0: the children are the parents.
    n1, n2 = ga.layer_crossover(jax.random.key(1), a, b, layers, 3, 0.0)
    np.testing.assert_array_equal(n1, a)
    np.testing.assert_array_equal(n2, b)


def test_mutation_rate_and_scale_statistics():
    n, rate, scale = 200_000, 0.1, 0.3
    x = jnp.full((n,), 2.0)
    y = np.asarray(ga.mutate(jax.random.key(0), x, rate, scale)) - 2.0
    changed = y != 0
    # Binomial share: std sqrt(0.09 / n) = 6.7e-4; 5 std allowed.
    assert abs(changed.mean() - rate) < 3.4e-3
    # The added noise: N(0, 0.3^2) over ~20,000 draws (std of the std ~ 0.3 / sqrt(2 * 20k)).
    assert abs(y[changed].std() - scale) < 0.01
    assert abs(y[changed].mean()) < 0.01
    np.testing.assert_array_equal(ga.mutate(jax.random.key(1), x, 0.0, scale), x)


def test_selection_statistics():
    fitness = jnp.array([-1.0, 0.0, 2.0])  # shifted by the worst: weights 0, 1, 3
    picks = np.asarray(ga.proportional_select(jax.random.key(0), fitness, 40_000))
    share = np.bincount(picks, minlength=3) / picks.size
    np.testing.assert_allclose(share, [0.0, 0.25, 0.75], atol=0.01)
    # Tournaments of 2 out of 3: the worst never wins, the best wins 1 - (2/3)^2 = 5/9.
    picks = np.asarray(ga.tournament_select(jax.random.key(1), fitness, 40_000, 2))
    share = np.bincount(picks, minlength=3) / picks.size
    np.testing.assert_allclose(share, [1 / 9, 3 / 9, 5 / 9], atol=0.01)
    # Equal fitness: the roulette is uniform.
    picks = np.asarray(ga.proportional_select(jax.random.key(2), jnp.ones(4), 40_000))
    np.testing.assert_allclose(np.bincount(picks) / picks.size, 0.25, atol=0.01)


@pytest.mark.heavy
def test_elitism_never_loses_the_best():
    cfg = ga.Config(population_size=16, elites=2, mutation_rate=1.0, mutation_scale=1.0)
    layers = np.zeros(5, np.int32)

    @jax.jit
    def generations(key):
        def one(k):
            k_pop, k_f, k_next = jax.random.split(k, 3)
            pop = jax.random.normal(k_pop, (16, 5))
            f = jax.random.normal(k_f, (16,))
            order = jnp.argsort(-f)
            new = ga.next_generation(k_next, pop, f, layers, cfg)
            return pop[order[0]], pop[order[1]], new
        return jax.vmap(one)(jax.random.split(key, 20))

    best, second, new = map(np.asarray, generations(jax.random.key(0)))
    assert new.shape == (20, 16, 5)
    np.testing.assert_array_equal(new[:, 0], best)  # row 0: the best, unchanged
    np.testing.assert_array_equal(new[:, 1], second)
    # Every child is mutated (rate 1): no other row is a copy of the best.
    assert not np.any(np.all(new[:, 2:] == best[:, None], axis=-1))


@pytest.mark.heavy
def test_hello_world_string_ga_converges():
    """The chapter's warm-up: evolve "Hello World!" from random characters with the same
    operators (one gene per character, read as its rounded character code; each gene is
    its own "layer", so crossover is uniform); fitness = minus the summed distance of the
    character codes to the target's, 0 when the string is right."""
    target = jnp.array([ord(c) for c in "Hello World!"], jnp.float32)
    n = target.shape[0]
    cfg = ga.Config(population_size=100, elites=2, tournament_size=3, mutation_rate=0.1,
                    mutation_scale=2.0, crossover_rate=0.8)
    layers = np.arange(n, dtype=np.int32)

    def text(pop):
        return jnp.clip(jnp.round(pop), 32, 126)

    def fitness(pop):
        return -jnp.sum(jnp.abs(text(pop) - target), axis=-1)

    def generation(pop, key):
        f = fitness(pop)
        return ga.next_generation(key, pop, f, layers, cfg), jnp.max(f)

    @jax.jit
    def run(key):
        k0, k1 = jax.random.split(key)
        pop = jax.random.uniform(k0, (100, n), minval=32, maxval=127)
        pop, best = jax.lax.scan(generation, pop, jax.random.split(k1, 100))
        return pop, best, fitness(pop)

    pop, best, last = run(jax.random.key(0))
    assert float(best[0]) < -100  # random strings are far off
    assert np.all(np.diff(np.asarray(best)) >= 0)  # elitism: the best never gets worse
    winner = np.asarray(text(pop[jnp.argmax(last)])).astype(int)
    assert "".join(map(chr, winner)) == "Hello World!"


# --------------------------------------------------------------------------------- configs
@pytest.mark.parametrize("module, changes, message", [
    (es, {"population_size": 7}, "population_size must be even"),
    (es, {"sigma": -0.1}, r"sigma must be finite and > 0"),
    (es, {"weight_decay": -1.0}, "weight_decay must be finite and >= 0"),
    (es, {"fitness_shaping": "rank"}, "fitness_shaping 'rank' unknown"),
    (ga, {"elites": 8, "population_size": 8}, "elites=8 must be less than population_size=8"),
    (ga, {"mutation_rate": -0.1}, r"mutation_rate must be finite and in \[0, 1\]"),
    (ga, {"mutation_scale": -1.0}, "mutation_scale must be finite and >= 0"),
    (ga, {"crossover_rate": 1.5}, "crossover_rate must be finite and in"),
    (ga, {"selection": "roulette"}, "selection 'roulette' unknown; choose from tournament"),
    (ga, {"hidden": (10, 0)}, "hidden must be a tuple of positive integers"),
    (ga, {"generations": 0}, "generations must be a positive integer"),
])
def test_bad_settings_are_one_line_value_errors(module, changes, message, cartpole):
    with pytest.raises(ValueError, match=message) as info:
        module.make(module.Config(**changes), *cartpole)
    assert "\n" not in str(info.value)


def test_continuous_actions_and_step_overflow_are_refused(cartpole):
    with pytest.raises(ValueError, match="es needs a single Discrete action space.*Pendulum"):
        es.make(es.Config(), *envs.make("gymnax/Pendulum-v1"))
    with pytest.raises(ValueError, match="overflow the int32 env_steps"):
        ga.make(ga.Config(population_size=10_000, generations=1_000), *cartpole)


# --------------------------------------------------------------------------------- agents
@pytest.mark.heavy
def test_short_runs_report_the_metrics_and_act(cartpole):
    """A short GA run (ES's metrics are checked against a hand computation above)."""
    env, params = cartpole
    for module, cfg in ((ga, ga.Config(population_size=16, generations=3, episodes=2)),):
        agent = module.make(cfg, env, params)
        states, m = jax.jit(jax.vmap(agent.train))(jax.random.split(jax.random.key(0), 2))
        assert m["best_fitness"].shape == (2, 3)
        assert np.all(m["worst_fitness"] <= m["mean_fitness"])
        assert np.all(m["mean_fitness"] <= m["best_fitness"])
        np.testing.assert_array_equal(m["episode_return"], m["mean_fitness"])
        np.testing.assert_array_equal(m["episodes"], 32)
        steps = np.asarray(m["env_steps"])
        assert np.all(np.diff(steps, axis=1) >= 32)  # every episode takes >= 1 step
        one = jax.tree.map(lambda x: x[0], states)
        act = jax.jit(agent.act, static_argnums=3)
        assert int(act(one, jnp.zeros(4), jax.random.key(1), True)) in (0, 1)
        assert int(act(one, jnp.zeros(4), jax.random.key(1), False)) in (0, 1)
        if module is ga:  # act plays the best member of the last generation, an elite
            np.testing.assert_array_equal(states.population[:, 0], states.best)
            assert np.all(states.best_fitness == m["best_fitness"][:, -1])


@pytest.mark.slow
def test_ga_learns_cartpole_quickly(cartpole):
    """A short run (4 seeds, 10 generations of 64) lifts the best member well above a
    random network's ~20 on CartPole-v1."""
    env, params = cartpole
    agent = ga.make(ga.Config(population_size=64, generations=10), env, params)
    _, m = jax.jit(jax.vmap(agent.train))(jax.random.split(jax.random.key(0), 4))
    best = np.asarray(m["best_fitness"])
    assert np.all(best[:, -1] > 100), best[:, -1]
    assert np.all(np.asarray(m["mean_fitness"])[:, 0] < 60)


# --------------------------------------------------------------------------------- devices
CHILD = textwrap.dedent(
    """
    import jax, numpy as np
    from jaxrl.parallel import devices as par
    assert par.use_cpu_cores(2) == 2
    from jaxrl import envs
    from jaxrl.algos import es, ga
    env, p = envs.make("CartPole-v1")
    # ES: each device regenerates its own members' noise; GA uses the same helper.
    for mod, cfg in ((es, es.Config(population_size=8, generations=3, episodes=2)),):
        one = mod.make(cfg, env, p)
        two = mod.make(cfg, env, p, devices=jax.devices())
        s1, m1 = jax.jit(one.train)(jax.random.key(0))
        s2, m2 = jax.jit(two.train)(jax.random.key(0))
        for a, b in zip(jax.tree.leaves(s1), jax.tree.leaves(s2)):
            if not jax.dtypes.issubdtype(a.dtype, jax.dtypes.prng_key):
                np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-5)
        for k in m1:
            np.testing.assert_allclose(np.asarray(m1[k]), np.asarray(m2[k]), rtol=1e-5)
        try:
            mod.make(cfg.replace(population_size=6), env, p, devices=jax.devices()[:1] * 4)
        except ValueError as e:
            assert "does not split evenly over 4 devices" in str(e)
        else:
            raise AssertionError("an uneven split was accepted")
        try:  # 12 over 4 devices: 3 members each, an antithetic pair across two devices
            mod.make(cfg.replace(population_size=12), env, p, devices=jax.devices()[:1] * 4)
        except ValueError as e:
            assert "antithetic pair split between two devices" in str(e)
        else:
            raise AssertionError("a split pair was accepted")
    # The GA's path: a stored population's fitness, members split over the devices.
    from jaxrl.algos import evolution as ev
    pol = ev.policy_for(env, p, (10, 10), "relu", "ga")
    evaluator = ev.make_evaluator(pol, env, p, 2)
    pop = jax.random.normal(jax.random.key(1), (8, pol.size))
    split = jax.jit(ev.over_population(evaluator, (0, None), jax.devices(), 8))
    f2 = split(pop, jax.random.key(2)).fitness
    assert len(f2.sharding.device_set) == 2
    np.testing.assert_allclose(np.asarray(f2),
                               np.asarray(jax.jit(evaluator)(pop, jax.random.key(2)).fitness))
    print("ok")
    """
)


@pytest.mark.slow  # a fresh JAX process with two CPU devices: ~10 s idle, 25 s loaded
def test_population_split_over_two_devices_matches_one_device():
    proc = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True,
                          timeout=240, check=False)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert proc.stdout.strip().endswith("ok")


# --------------------------------------------------------------------------------- evosax
def test_evosax_strategy_drives_the_same_evaluator(cartpole):
    evosax = pytest.importorskip("evosax.algorithms")
    env, params = cartpole
    policy = evolution.policy_for(env, params, (8,), "relu", "es")
    evaluator = evolution.make_evaluator(policy, env, params, 2)
    strategy = evosax.Open_ES(population_size=32, solution=policy.template,
                              optimizer=optax.adam(0.1),
                              std_schedule=optax.constant_schedule(0.1))
    es_params = strategy.default_params
    step = evolution.evosax_step(strategy, es_params, evaluator)
    state = strategy.init(jax.random.key(0), policy.unravel(policy.init(jax.random.key(1))),
                          es_params)

    @jax.jit
    def step_and_check(state, key):
        """One adapter step, and our evaluator on the population evosax asks for."""
        k_ask, k_eval, _ = jax.random.split(key, 3)
        asked, _ = strategy.ask(k_ask, state, es_params)
        return step(state, key), evaluator(asked, k_eval).fitness

    (new, scores), direct = step_and_check(state, jax.random.key(2))
    # The fitness the adapter reports is the evaluator's on the population evosax asked for.
    np.testing.assert_allclose(scores.fitness, direct)
    assert not np.allclose(new.mean, state.mean)
    means = []
    for i in range(15):  # the same compiled program (its check half is cheap)
        (new, scores), _ = step_and_check(new, jax.random.key(10 + i))
        means.append(float(scores.fitness.mean()))
    assert np.mean(means[-3:]) > 2 * np.mean(means[:3]), means  # it climbs (maximises)

    class OldStyle:  # evosax 0.1: tell(x, fitness, state, params)
        def tell(self, x, fitness, state, params): ...

    with pytest.raises(ValueError, match="needs evosax >= 0.2"):
        evolution.evosax_step(OldStyle(), None, evaluator)


# --------------------------------------------------------------------------------- learning
def _greedy_returns(agent, states, env, params, episodes=20):
    run = jax.jit(jax.vmap(lambda s: evaluate(agent, s, env, params, jax.random.key(99),
                                              episodes).mean_return))
    return np.asarray(run(states))


@pytest.mark.slow
@pytest.mark.parametrize("module", [es, ga])
def test_tuned_presets_reach_500_on_every_seed(module, cartpole):
    env, params = cartpole
    agent = module.make(module.PRESETS["cartpole"].config, env, params)
    states, _ = jax.jit(jax.vmap(agent.train))(jax.random.split(jax.random.key(0), 8))
    returns = _greedy_returns(agent, states, env, params)
    np.testing.assert_array_equal(returns, 500.0)


@pytest.mark.slow
def test_book_preset_runs_the_chapter_and_improves(cartpole):
    """The book's settings (population 20, 100 generations, sampled actions) improve on
    the random start; benchmarks/evolution.py reports what they reach."""
    env, params = cartpole
    agent = ga.make(ga.PRESETS["book"].config, env, params)
    _, m = jax.jit(jax.vmap(agent.train))(jax.random.split(jax.random.key(0), 8))
    mean = np.asarray(m["mean_fitness"])
    assert mean.shape == (8, 100)
    assert mean[:, -10:].mean() > 2 * mean[:, :5].mean()
