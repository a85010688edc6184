"""Preset claims (``Preset.claim``) against their measurement on unseen seeds.

``benchmarks/preset_claims.py`` trains every claiming preset on 16 seeds from a base seed
used nowhere else and records the per-seed values in ``benchmarks/preset_claims.json``.
These tests need no training: they check that the record covers every claim as it is
now (metric, level, seeds, base seed), that its counts follow from its values, and that
each claim states the share the record measured.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from jaxrl import algos
from jaxrl.core.presets import CLAIM_METRICS, Claim

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "preset_claims.py"


@pytest.fixture(scope="module")
def bench(load_script):
    return load_script(BENCH)


def _claiming():
    return [(a, n, p) for a in algos.names() for n, p in algos.get(a).presets.items()
            if p.claim is not None]


def test_a_claim_refuses_an_unknown_metric_and_no_episodes():
    with pytest.raises(ValueError, match="metric must be one of"):
        Claim("greedy_reward", 1.0, "x")
    with pytest.raises(ValueError, match="episodes must be >= 1"):
        Claim("greedy_return", 1.0, "x", episodes=0)
    c = Claim("greedy_return", 475.0, "solved")
    assert c.reached(475.0) and not c.reached(474.9) and not c.reached(math.nan)
    assert set(CLAIM_METRICS) == {"greedy_return", "greedy_win_rate", "final_return"}


def test_the_presets_that_name_a_result_claim_it():
    # A description that states a measured level (a percentage, "solved", a return)
    # comes with a Claim that the benchmark checks.
    for algo in algos.names():
        for name, preset in algos.get(algo).presets.items():
            d = preset.description
            if ("% " in d or "%)" in d or "after" in d) and "book ch. 3, online" not in d:
                assert preset.claim is not None, f"{algo}:{name} states a result: {d}"


def test_every_claim_is_measured_on_16_unseen_seeds_as_it_stands(bench):
    rows = bench.load_rows()
    for algo, name, preset in _claiming():
        key = f"{algo}:{name}"
        assert key in rows, f"{key}: no row; run python benchmarks/preset_claims.py --only {key}"
        row = rows[key]
        if preset.claim.holds == "":
            # not measured: only when the benchmark tried and could not (the row says why)
            assert "error" in row, f"{key}: measured, but its Claim.holds is empty"
            continue
        assert "error" not in row, f"{key}: {row['error']}"
        assert row["seeds"] == bench.SEEDS == 16 and row["base_seed"] == bench.BASE_SEED
        claim = preset.claim
        assert (row["metric"], row["threshold"]) == (claim.metric, claim.threshold), \
            f"{key}: the claim changed since it was measured; measure it again"
        values = row["values"]
        assert len(values) == row["seeds"]
        assert row["reached"] == sum(claim.reached(v) for v in values)


def test_each_claim_states_its_measured_share(bench):
    rows = bench.load_rows()
    for algo, name, preset in _claiming():
        row = rows[f"{algo}:{name}"]
        if "error" in row:
            assert preset.claim.holds == "", f"{algo}:{name}: no measurement to state"
            continue
        assert preset.claim.holds == bench.share(row), (
            f"{algo}:{name}: Claim.holds says {preset.claim.holds!r}, the measurement "
            f"{bench.share(row)}")


def test_the_base_seed_is_used_nowhere_else():
    # No code, test or benchmark but the claims' own seeds with it (documents may name it;
    # run directory names carry dates such as ppo-CartPole-v1-20261207-101414).
    root = BENCH.parents[1]
    seed = "20261207"
    hits = []
    for folder in ("jaxrl", "tests", "benchmarks", "docs"):
        for path in (root / folder).rglob("*.py"):
            if path in (BENCH, Path(__file__).resolve()):
                continue
            text = path.read_text(errors="replace")
            hits += [str(path.relative_to(root)) for line in text.splitlines()
                     if seed in line and f"-{seed}-" not in line]
    assert not hits, f"base seed {seed} also used in {sorted(set(hits))}"


def test_jaxrl_list_shows_each_claim_with_its_measured_share(capsys):
    from jaxrl.cli import main

    assert main(["list", "c51"]) == 0
    out = capsys.readouterr().out
    claim = algos.get("c51").presets["cartpole"].claim
    assert f"    claim: {claim.text}; reached by {claim.holds} unseen seeds" in out
    assert out.count("    claim: ") == sum(p.claim is not None
                                          for p in algos.get("c51").presets.values())
