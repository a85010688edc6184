"""jaxrl.core.rng.permutation: a permutation, uniform, different per key, any size."""

from collections import Counter

import jax
import numpy as np
import pytest

from jaxrl.core.rng import permutation


@pytest.mark.parametrize("n", [1, 2, 7, 512, 513, 2048, 5000])
def test_is_a_permutation(n):
    p = np.asarray(permutation(jax.random.key(n), n))
    assert p.dtype == np.int32 and p.shape == (n,)
    np.testing.assert_array_equal(np.sort(p), np.arange(n))


def test_uniform_over_all_orders_of_four():
    keys = jax.random.split(jax.random.key(0), 24_000)
    perms = np.asarray(jax.vmap(lambda k: permutation(k, 4))(keys))
    counts = np.array(list(Counter(map(tuple, perms)).values()))
    assert len(counts) == 24  # every order appears
    # Chi-square with 23 degrees of freedom: 49.7 is its 0.999 quantile.
    chi2 = np.sum((counts - 1000.0) ** 2 / 1000.0)
    assert chi2 < 49.7, chi2


def test_position_is_uniform_for_a_two_round_size():
    # n = 2048 takes two sorting rounds; where element 0 lands must be uniform.
    keys = jax.random.split(jax.random.key(1), 4096)
    perms = np.asarray(jax.vmap(lambda k: permutation(k, 2048))(keys))
    where = np.argmax(perms == 0, axis=1)
    hist = np.bincount(where // 256, minlength=8)  # 8 bins of 256 positions, 512 expected
    chi2 = np.sum((hist - 512.0) ** 2 / 512.0)
    assert chi2 < 24.3, hist  # 0.999 quantile, 7 degrees of freedom
    # Different keys give different permutations; the same key the same one.
    assert not np.array_equal(perms[0], perms[1])
    np.testing.assert_array_equal(permutation(keys[0], 2048), perms[0])


def test_bad_sizes_are_refused():
    for n in (0, -3, 2.0, True):
        with pytest.raises(ValueError, match="positive integer"):
            permutation(jax.random.key(0), n)
