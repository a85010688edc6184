"""``jaxrl.algos``: one ``Algorithm`` record per algorithm, registered by the public call or
named as ``package.module:RECORD``; refusals are one line."""

from __future__ import annotations

import dataclasses
import sys

import pytest
from probe import PROBE, ProbeConfig, _probe_make

from jaxrl import algos
from jaxrl.algos import Algorithm
from jaxrl.core.presets import Preset
from jaxrl.errors import RunError
from jaxrl.runs import overrides


def test_every_builtin_is_a_record_with_its_own_name_and_presets():
    for name in algos.names():
        record = algos.get(name)
        assert isinstance(record, Algorithm) and record.name == name
        assert record.summary, name
        assert record.supports and record.supports <= set(algos.SUPPORTS), name
        for preset in record.presets.values():
            assert isinstance(preset.config, record.config)
        assert algos.get(name) is record  # imported once, then kept


def test_c51_and_qrdqn_are_dqn_losses_not_views():
    from jaxrl.algos import dqn

    for name, distribution in (("c51", "categorical"), ("qrdqn", "quantile")):
        record = algos.get(name)
        assert record.make is dqn.make
        assert issubclass(record.config, dqn.Config)
        assert record.config().distribution == distribution
    assert not hasattr(algos, "view") and not hasattr(dqn, "for_name")


def test_population_split_is_a_declared_capability():
    assert {n for n in algos.names() if "population_split" in algos.get(n).supports} == {"ga", "es"}
    with pytest.raises(RunError, match="--split population"):
        import jaxrl

        jaxrl.train("ppo", total_steps=2048, num_envs=4, split="population")


def test_register_get_and_unregister():
    record = Algorithm(name="probe_copy", config=ProbeConfig, make=_probe_make,
                       presets={"tiny": Preset(ProbeConfig(total_timesteps=8))})
    assert algos.register(record) is record
    try:
        assert algos.get("probe_copy") is record and "probe_copy" in algos.names()
        with pytest.raises(ValueError, match="already registered"):
            algos.register(record)
        algos.register(dataclasses.replace(record, summary="again"), replace=True)
        assert algos.get("probe_copy").summary == "again"
        assert overrides.preset("probe_copy", "tiny").config.total_timesteps == 8
    finally:
        algos.unregister("probe_copy")
    with pytest.raises(ValueError, match="unknown algorithm 'probe_copy'"):
        algos.get("probe_copy")


def test_a_record_is_checked_when_made():
    with pytest.raises(ValueError, match="without ':'"):
        Algorithm(name="a:b", config=ProbeConfig, make=_probe_make)
    with pytest.raises(TypeError, match="dataclass"):
        Algorithm(name="x", config=dict, make=_probe_make)
    with pytest.raises(TypeError, match="callable"):
        Algorithm(name="x", config=ProbeConfig, make=None)
    with pytest.raises(TypeError, match="Preset"):
        Algorithm(name="x", config=ProbeConfig, make=_probe_make, presets={"p": ProbeConfig()})
    from jaxrl.algos import ppo

    with pytest.raises(TypeError, match="not its ProbeConfig"):
        Algorithm(name="x", config=ProbeConfig, make=_probe_make,
                  presets={"p": Preset(ppo.Config())})
    with pytest.raises(ValueError, match="unknown supports"):
        Algorithm(name="x", config=ProbeConfig, make=_probe_make, supports={"teleport"})
    with pytest.raises(TypeError, match="takes a jaxrl.algos.Algorithm"):
        algos.register("ppo")


def test_references_load_records_and_refuse_anything_else(tmp_path, monkeypatch):
    (tmp_path / "user_algos.py").write_text(
        "from jaxrl import algos\n"
        "from probe import ProbeConfig, _probe_make\n"
        "MINE = algos.Algorithm(name='mine', config=ProbeConfig, make=_probe_make)\n"
        "NOT_A_RECORD = 3\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        assert algos.get("user_algos:MINE").name == "mine"
        assert "user_algos:MINE" not in algos.names()  # not registered by being named
        with pytest.raises(ValueError, match="names a int, not a jaxrl.algos.Algorithm"):
            algos.get("user_algos:NOT_A_RECORD")
        with pytest.raises(ValueError, match="names nothing"):
            algos.get("user_algos:MISSING")
        with pytest.raises(ValueError, match="cannot import 'no_such_module_x'"):
            algos.get("no_such_module_x:MINE")
        with pytest.raises(RunError, match="unknown algorithm 'pp0'.*ppo"):
            overrides.get_algorithm("pp0")
    finally:
        sys.modules.pop("user_algos", None)


def test_the_probe_is_registered_through_the_public_call(probe):
    assert probe == PROBE and algos.get(PROBE).config is ProbeConfig


from probe import probe  # noqa: E402,F401 - the fixture
