"""Callbacks: RunInfo, TensorBoard through the callback interface, W&B and MLflow offline.

The W&B and MLflow tests need the optional packages (``pip install "jaxrl[wandb]"``,
``pip install "jaxrl[mlflow]"``, or ``mlflow-skinny``); they are skipped without them.
Both run offline: W&B in offline mode into tmp_path, MLflow on a local file store.
"""

import sys
from pathlib import Path

import numpy as np
import pytest

from jaxrl.output.tracking import (
    Callback,
    CallbackList,
    MLflowCallback,
    RunInfo,
    TensorBoardCallback,
    WandbCallback,
    final_metrics,
    run_status,
)

CONFIG = {"lr": 3e-4, "actor_hidden": [64, 64], "seed": 7, "schedule": {"kind": "linear"}}


def _info(run_dir=None, seeds=2, **kw):
    return RunInfo(algorithm="ppo", env="CartPole-v1", env_options={"mode": "easy"}, seeds=seeds,
                   seed=0, config=CONFIG, num_updates=8,
                   run_dir=None if run_dir is None else Path(run_dir), **kw)


def _chunk(first, n, seeds=2, offset=0.0):
    u = np.arange(first, first + n)
    env_steps = np.stack([(u + 1) * 64 + 2 * s for s in range(seeds)]).astype(np.int32)
    ret = np.stack([u + s + offset for s in range(seeds)]).astype(np.float32)
    if first == 0:
        ret[:, 0] = np.nan
    return {"env_steps": env_steps, "episode_return": ret, "episodes": np.ones_like(env_steps),
            "value_loss": ret * 0.1}


SUMMARY = {"updates_done": 8, "num_updates": 8, "final_return_mean": 7.5, "final_return_std": 0.5}


def test_run_info_params_and_status():
    p = _info().params()
    assert p["algorithm"] == "ppo" and p["env"] == "CartPole-v1" and p["env.mode"] == "easy"
    assert p["seeds"] == 2 and p["seed"] == 0 and p["num_updates"] == 8
    assert p["lr"] == 3e-4 and p["actor_hidden"] == [64, 64] and p["schedule.kind"] == "linear"
    assert p["config.seed"] == 7  # a config field named like the run's own keeps both
    assert _info().name == "ppo-CartPole-v1" and _info("/x/my-run").name == "my-run"

    class Spec:
        algorithm, env, env_options, seeds, seed = "dqn", "Gridworld-v0", {}, 3, 1
        config, num_updates = {"lr": 1e-3}, 100

    info = RunInfo.from_spec(Spec, "/tmp/r", updates_done=40, env_steps=[400, 400, 401])
    assert info.resumed and info.env_steps.tolist() == [400, 400, 401] and info.run_dir == Path("/tmp/r")
    assert run_status(SUMMARY) == "finished"
    assert run_status({**SUMMARY, "updates_done": 3}) == "stopped"
    assert run_status({**SUMMARY, "status": "failed"}) == "failed"
    assert final_metrics(SUMMARY) == {"final/return": 7.5, "final/return_std_over_seeds": 0.5}
    assert final_metrics({"final_return_mean": None, "final_return_std": float("nan")}) == {}


def test_callback_list_reaches_every_on_end():
    calls = []

    class Record(Callback):
        def __init__(self, name, fail=False):
            self.name, self.fail = name, fail

        def on_chunk(self, first_update, metrics):
            calls.append((self.name, first_update))

        def on_end(self, summary):
            calls.append((self.name, "end"))
            if self.fail:
                raise RuntimeError(self.name)

    cbs = CallbackList([Record("a", fail=True), None, Record("b")])
    cbs.on_start(_info())
    cbs.on_chunk(4, _chunk(3, 1))
    cbs.on_checkpoint(4)
    with pytest.raises(RuntimeError, match="a"):
        cbs.on_end(SUMMARY)
    assert calls == [("a", 4), ("b", 4), ("a", "end"), ("b", "end")]


def test_tensorboard_callback_resume_and_hparams(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run_dir = tmp_path / "run"
    cb = TensorBoardCallback()
    cb.on_start(_info(run_dir))
    cb.on_chunk(1, _chunk(0, 4))
    cb.on_checkpoint(4)
    cb.on_chunk(5, _chunk(4, 2))  # logged after the checkpoint; then the process dies
    cb.logger.flush()

    resumed = TensorBoardCallback()
    resumed.on_start(_info(run_dir, updates_done=4, env_steps=_chunk(0, 4)["env_steps"][:, -1]))
    resumed.on_chunk(5, _chunk(4, 4, offset=100.0))
    resumed.on_end(SUMMARY)
    assert resumed.logger is None

    acc = EventAccumulator(str(run_dir / "tensorboard"))
    acc.Reload()
    ret = [(e.step, e.value) for e in acc.Scalars("train/episode_return")]
    assert [s for s, _ in ret] == [65 + 64 * u for u in range(1, 8)]  # mean of seeds 64u+64, +2
    assert [v for _, v in ret] == [1.5, 2.5, 3.5, 104.5, 105.5, 106.5, 107.5]
    assert [e.value for e in acc.Scalars("final/return")] == [7.5]
    assert "loss/value_loss" in acc.Tags()["scalars"]
    hp = acc.PluginTagToContent("hparams")
    assert b"CartPole-v1" in hp["_hparams_/session_start_info"]
    assert "_hparams_/session_end_info" in hp
    seed1 = EventAccumulator(str(run_dir / "tensorboard" / "seed_1"))
    seed1.Reload()
    assert [e.step for e in seed1.Scalars("train/episode_return")] == [66 + 64 * u for u in range(1, 8)]


def test_tensorboard_callback_needs_a_directory(tmp_path):
    with pytest.raises(ValueError, match="needs a logdir"):
        TensorBoardCallback().on_start(_info())
    cb = TensorBoardCallback(tmp_path / "tb", per_seed=False, hparams=False)
    cb.on_start(_info())
    cb.on_chunk(1, _chunk(0, 2))
    cb.on_end({**SUMMARY, "updates_done": 2})  # stopped: no final metric, session left open
    assert not (tmp_path / "tb" / "seed_0").exists()
    cb = TensorBoardCallback(tmp_path / "tb2")
    cb.on_start(_info())
    with pytest.raises(KeyError, match="need 'env_steps'"):
        cb.on_chunk(1, {"episode_return": np.zeros((2, 1))})
    cb.on_end({**SUMMARY, "status": "failed"})


@pytest.mark.parametrize("cls, module, extra", [(WandbCallback, "wandb", "wandb"),
                                                (MLflowCallback, "mlflow", "mlflow")])
def test_missing_tracker_says_how_to_install(monkeypatch, cls, module, extra):
    monkeypatch.setitem(sys.modules, module, None)  # makes `import module` fail
    with pytest.raises(ImportError) as e:
        cls()
    assert str(e.value) == f'{cls.__name__} needs {module}: pip install "jaxrl[{extra}]"'


def test_mlflow_local_store(tmp_path, monkeypatch):
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 asks for an opt-in
    uri = (tmp_path / "mlruns").as_uri()
    cb = MLflowCallback("jaxrl-test", tracking_uri=uri)
    cb.on_start(_info(tmp_path / "ppo-run"))
    cb.on_chunk(1, _chunk(0, 3))
    cb.on_chunk(4, _chunk(3, 2))
    cb.on_end(SUMMARY)

    client = MlflowClient(uri)
    [run] = client.search_runs([client.get_experiment_by_name("jaxrl-test").experiment_id])
    assert run.info.status == "FINISHED" and run.info.run_name == "ppo-run"
    assert run.data.params["algorithm"] == "ppo" and run.data.params["lr"] == "0.0003"
    assert run.data.params["env.mode"] == "easy" and run.data.tags["env"] == "CartPole-v1"
    history = client.get_metric_history(run.info.run_id, "train/episode_return")
    assert [(m.step, m.value) for m in sorted(history, key=lambda m: m.step)] == [
        (129, 1.5), (193, 2.5), (257, 3.5), (321, 4.5)]
    assert run.data.metrics["final/return"] == 7.5
    assert run.data.metrics["train/episode_return_std_over_seeds"] == 0.5
    assert "loss/value_loss" in run.data.metrics


def test_wandb_offline(tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    cb = WandbCallback(project="jaxrl-test", mode="offline")
    cb.on_start(_info(tmp_path / "run-dir"))
    run = cb.run
    assert run.config["algorithm"] == "ppo" and run.config["config"]["lr"] == 3e-4
    assert run.name == "run-dir"
    cb.on_chunk(1, _chunk(0, 3))
    cb.on_chunk(4, _chunk(3, 2))
    # W&B commits a step when the next one arrives: the summary holds step 257's means.
    assert run.summary["train/episode_return"] == pytest.approx(3.5)
    assert run.summary["train/episode_return_std_over_seeds"] == pytest.approx(0.5)
    assert run.summary["_step"] == 257
    cb.on_end(SUMMARY)
    assert cb.run is None
    offline = list((tmp_path / "run-dir" / "wandb").glob("offline-run-*/run-*.wandb"))
    assert len(offline) == 1 and offline[0].stat().st_size > 0
