"""Checkpoints: exact round trip, refusal of a different run with a precise message,
atomic saves, and no code execution on load."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import struct

from jaxrl import checkpoint as ckpt


@struct.dataclass
class Inner:
    w: jax.Array
    count: jax.Array


@struct.dataclass
class State:
    params: dict
    inner: Inner
    key: jax.Array  # typed PRNG key
    raw_key: jax.Array  # old-style uint32[2] key


def make_state(width: int = 3, seeds: int = 2) -> State:
    keys = jax.vmap(lambda i: jax.random.fold_in(jax.random.key(7), i))(jnp.arange(seeds))
    return State(
        params={"dense": {"kernel": jnp.arange(seeds * 4 * width, dtype=jnp.float32)
                          .reshape(seeds, 4, width) / 7.0,
                          "bias": jnp.full((seeds, width), -0.1, jnp.float32)}},
        inner=Inner(w=jnp.array([[1.5, np.nan]] * seeds, jnp.float32),
                    count=jnp.arange(seeds, dtype=jnp.int32)),
        key=keys,
        raw_key=jnp.stack([jax.random.PRNGKey(i) for i in range(seeds)]),
    )


META = dict(algorithm="ppo", env="CartPole-v1", config={"lr": 0.00025, "hidden": [64, 64]})


def save(path: Path, state: State, updates: int = 5, **over) -> Path:
    return ckpt.save(path, state, updates_done=updates, **{**META, **over})


def test_round_trip_is_exact_including_keys_and_nan(tmp_path):
    state = make_state()
    path = save(tmp_path / "c.msgpack", state, updates=17)
    template = jax.eval_shape(lambda: make_state())
    loaded, header = ckpt.load(path, template, **META)
    assert header["updates_done"] == 17
    a, b = jax.tree.leaves(state), jax.tree.leaves(loaded)
    assert len(a) == len(b)
    for x, y in zip(a, b):
        if jnp.issubdtype(x.dtype, jax.dtypes.prng_key):
            assert jnp.issubdtype(y.dtype, jax.dtypes.prng_key)
            x, y = jax.random.key_data(x), jax.random.key_data(y)
        x, y = np.asarray(x), np.asarray(y)
        assert x.dtype == y.dtype and x.shape == y.shape
        assert x.tobytes() == y.tobytes()  # bit-exact, NaN included
    # The restored typed key draws the same numbers as the original.
    np.testing.assert_array_equal(jax.random.uniform(state.key[1]), jax.random.uniform(loaded.key[1]))


def test_different_algorithm_and_shapes_are_named(tmp_path):
    path = save(tmp_path / "c.msgpack", make_state(width=3))
    template = jax.eval_shape(lambda: make_state(width=5))
    with pytest.raises(ckpt.CheckpointError) as err:
        ckpt.load(path, template, algorithm="dqn", env="CartPole-v1",
                  config={"lr": 0.001, "hidden": [64, 64]})
    msg = str(err.value)
    assert "algorithm: checkpoint 'ppo', this run 'dqn'" in msg
    assert "config lr: checkpoint 0.00025, this run 0.001" in msg
    assert ".params['dense']['kernel']: checkpoint shape (2, 4, 3), this run (2, 4, 5)" in msg
    assert ".params['dense']['bias']: checkpoint shape (2, 3), this run (2, 5)" in msg


def test_missing_extra_leaves_and_dtype_are_named(tmp_path):
    path = save(tmp_path / "c.msgpack", {"a": jnp.zeros(3), "b": jnp.zeros(2, jnp.int32)})
    template = {"a": jax.ShapeDtypeStruct((3,), jnp.float16), "c": jax.ShapeDtypeStruct((), jnp.float32)}
    with pytest.raises(ckpt.CheckpointError) as err:
        ckpt.load(path, template, **META)
    msg = str(err.value)
    assert "['c']: missing from the checkpoint" in msg
    assert "['b']: in the checkpoint but not in this run's state" in msg
    assert "['a']: checkpoint dtype float32, this run float16" in msg


def test_interrupted_save_keeps_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "c.msgpack"
    first = make_state()
    save(path, first, updates=3)
    before = path.read_bytes()

    real_fsync = os.fsync
    calls = {"n": 0}

    def failing_fsync(fd):
        calls["n"] += 1
        raise KeyboardInterrupt  # the user hits Ctrl-C while the new file is being synced

    monkeypatch.setattr(os, "fsync", failing_fsync)
    second = jax.tree.map(lambda x: x, make_state())
    with pytest.raises(KeyboardInterrupt):
        save(path, second, updates=9)
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert calls["n"] == 1
    assert path.read_bytes() == before  # untouched
    assert [p.name for p in tmp_path.iterdir()] == ["c.msgpack"]  # temp file removed
    _, header = ckpt.load(path, jax.eval_shape(make_state), **META)
    assert header["updates_done"] == 3


def test_crash_mid_write_leaves_previous_loadable(tmp_path, monkeypatch):
    """A process killed mid-write leaves a partial temp file and the old checkpoint intact."""
    path = tmp_path / "c.msgpack"
    save(path, make_state(), updates=4)

    def crash_replace(src, dst):
        # Simulate power loss: the temp file is half written and the rename never happens.
        with open(src, "r+b") as f:
            f.truncate(os.path.getsize(src) // 2)
        raise OSError("simulated crash before rename")

    monkeypatch.setattr(os, "replace", crash_replace)
    with pytest.raises(OSError, match="simulated crash"):
        save(path, make_state(), updates=8)
    monkeypatch.undo()
    _, header = ckpt.load(path, jax.eval_shape(make_state), **META)
    assert header["updates_done"] == 4
    # A truncated file (what a non-atomic writer would leave) is refused, not half-loaded.
    broken = tmp_path / "broken.msgpack"
    data = path.read_bytes()
    broken.write_bytes(data[: len(data) // 2])
    with pytest.raises(ckpt.CheckpointError, match="not a readable jaxrl checkpoint"):
        ckpt.load(broken, jax.eval_shape(make_state), **META)


class _Evil:
    def __reduce__(self):
        return (os.mkdir, (str(_Evil.target),))


def test_loading_a_pickle_runs_no_code(tmp_path):
    _Evil.target = tmp_path / "pwned"
    path = tmp_path / "c.msgpack"
    path.write_bytes(pickle.dumps({"header": _Evil(), "leaves": {}}))
    with pytest.raises(ckpt.CheckpointError):
        ckpt.load(path, {"a": jax.ShapeDtypeStruct((1,), jnp.float32)}, **META)
    assert not _Evil.target.exists()


def test_foreign_msgpack_and_missing_file_are_refused(tmp_path):
    from flax import serialization

    other = tmp_path / "other.msgpack"
    other.write_bytes(serialization.msgpack_serialize({"header": '{"format": "something"}',
                                                       "leaves": {}}))
    with pytest.raises(ckpt.CheckpointError, match="not a jaxrl checkpoint"):
        ckpt.read_header(other)
    with pytest.raises(ckpt.CheckpointError, match="no checkpoint at"):
        ckpt.read_header(tmp_path / "nothing.msgpack")
