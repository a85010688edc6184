"""Checkpoints: exact round trip, refusal of a different run with a precise message,
atomic saves, no code execution on load, and format v2 (a checksummed header and body:
any flipped byte is refused)."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import re
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import serialization, struct

from jaxrl.runs import checkpoint as ckpt


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


@struct.dataclass
class _Buffer:
    data: jax.Array
    sum_tree: tuple
    min_tree: tuple


@struct.dataclass
class _Holder:
    buffer: _Buffer


def test_retired_priority_trees_of_old_uniform_buffers_are_left_out(tmp_path):
    """Uniform replay kept unused priority trees before 2026-12: such a checkpoint loads
    into today's state without them; a state that keeps them still needs them."""
    old = _Holder(_Buffer(jnp.arange(4.0), (jnp.ones(8), jnp.ones(1)), (jnp.zeros(8), jnp.zeros(1))))
    new = _Holder(_Buffer(jnp.zeros(4), (), ()))
    state, _ = ckpt.load(save(tmp_path / "old.msgpack", old), new, **META)
    np.testing.assert_array_equal(state.buffer.data, [0.0, 1.0, 2.0, 3.0])
    assert state.buffer.sum_tree == () and state.buffer.min_tree == ()
    with pytest.raises(ckpt.CheckpointError, match=r"sum_tree\[0\]: missing from the checkpoint"):
        ckpt.load(save(tmp_path / "new.msgpack", new), old, **META)


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
    other = tmp_path / "other.msgpack"
    other.write_bytes(serialization.msgpack_serialize({"header": '{"format": "something"}',
                                                       "body": b""}))
    with pytest.raises(ckpt.CheckpointError, match="not a jaxrl checkpoint"):
        ckpt.read_header(other)
    with pytest.raises(ckpt.CheckpointError, match="no checkpoint at"):
        ckpt.read_header(tmp_path / "nothing.msgpack")


def test_version_1_checkpoints_are_named_as_such(tmp_path):
    """Format v1 (header string + ``leaves`` at the top level) is refused, saying so."""
    old = tmp_path / "v1.msgpack"
    old.write_bytes(serialization.msgpack_serialize(
        {"header": json.dumps({"algorithm": "ppo"}), "leaves": {"0": np.zeros(3)}}))
    with pytest.raises(ckpt.CheckpointError, match="older jaxrl \\(checkpoint version 1\\)"):
        ckpt.load(old, {"a": jax.ShapeDtypeStruct((3,), jnp.float32)}, **META)
    raw = serialization.msgpack_restore(save(tmp_path / "c.msgpack", make_state()).read_bytes())
    raw["version"] = 3
    (tmp_path / "v3.msgpack").write_bytes(serialization.msgpack_serialize(raw))
    with pytest.raises(ckpt.CheckpointError, match="version 3; this jaxrl reads 2"):
        ckpt.read_header(tmp_path / "v3.msgpack")


# ------------------------------------------------------------------ format v2
def _raw(path: Path) -> dict:
    return serialization.msgpack_restore(path.read_bytes())


def _sha(data) -> str:
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


def test_v2_layout_header_and_body_with_their_checksums(tmp_path):
    state = make_state()
    raw = _raw(save(tmp_path / "c.msgpack", state, updates=9, extra={"note": [1, 2]}))
    assert set(raw) == {"format", "version", "header", "header_sha256", "body"}
    assert raw["format"] == ckpt.FORMAT and raw["version"] == ckpt.VERSION == 2
    assert isinstance(raw["body"], bytes) and raw["header_sha256"] == _sha(raw["header"])
    header = json.loads(raw["header"])
    assert header["body_sha256"] == _sha(raw["body"])
    assert header["updates_done"] == 9 and header["extra"] == {"note": [1, 2]}
    assert [leaf["path"] for leaf in header["leaves"]] == [d["path"] for d in ckpt.describe(state)]
    leaves = serialization.msgpack_restore(raw["body"])  # the arrays, in flattening order
    assert sorted(leaves, key=int) == [str(i) for i in range(len(jax.tree.leaves(state)))]
    kernel = state.params["dense"]["kernel"]
    np.testing.assert_array_equal(leaves["0"], np.asarray(state.params["dense"]["bias"]))
    np.testing.assert_array_equal(leaves["1"], np.asarray(kernel))
    assert ckpt.read_header(tmp_path / "c.msgpack") == header


def test_any_flipped_byte_is_refused(tmp_path):
    path = save(tmp_path / "c.msgpack", make_state())
    data = path.read_bytes()
    body = _raw(path)["body"]
    start = data.find(body)
    template = jax.eval_shape(make_state)
    rng = np.random.default_rng(0)
    spots = [start + len(body) // 2, start + 3, data.find(b'"updates_done"') + 16,
             *rng.integers(0, len(data), 40).tolist()]
    for i in spots:
        broken = bytearray(data)
        broken[i] ^= 0x5A
        (tmp_path / "b.msgpack").write_bytes(bytes(broken))
        with pytest.raises(ckpt.CheckpointError):
            ckpt.load(tmp_path / "b.msgpack", template, **META)
    broken = bytearray(data)
    broken[start + len(body) // 2] ^= 1
    (tmp_path / "b.msgpack").write_bytes(bytes(broken))
    with pytest.raises(ckpt.CheckpointError, match="arrays do not match their checksum"):
        ckpt.load(tmp_path / "b.msgpack", template, **META)


def test_forged_headers_with_valid_checksums_are_checked(tmp_path):
    path = save(tmp_path / "c.msgpack", make_state())
    template = jax.eval_shape(make_state)

    def forge(edit) -> Path:
        raw = _raw(path)
        header = json.loads(raw["header"])
        edit(header)
        raw["header"] = json.dumps(header)
        raw["header_sha256"] = _sha(raw["header"])
        out = tmp_path / "forged.msgpack"
        out.write_bytes(serialization.msgpack_serialize(raw))
        return out

    cases = {
        "its header has no 'leaves'": lambda h: h.pop("leaves"),
        "its header's 'updates_done' is not a int": lambda h: h.update(updates_done="5"),
        "its header's 'updates_done' is negative": lambda h: h.update(updates_done=-3),
        "its header describes a leaf wrongly": lambda h: h["leaves"][0].update(shape=[-1]),
        "its arrays do not match their checksum": lambda h: h.update(body_sha256="0" * 64),
    }
    for expected, edit in cases.items():
        with pytest.raises(ckpt.CheckpointError, match=re.escape(expected)):
            ckpt.load(forge(edit), template, **META)
    with pytest.raises(ckpt.CheckpointError, match="its header is not JSON"):
        raw = _raw(path)
        raw["header"] = "[" * 100_000
        raw["header_sha256"] = _sha(raw["header"])
        (tmp_path / "deep.msgpack").write_bytes(serialization.msgpack_serialize(raw))
        ckpt.read_header(tmp_path / "deep.msgpack")


def test_atomic_write_uses_the_usual_file_mode_and_a_recognisable_temp_name(tmp_path, monkeypatch):
    old = os.umask(0o022)
    try:
        path = save(tmp_path / "c.msgpack", make_state())
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644
    seen = []
    real = os.replace

    def spy(src, dst):
        seen.append(Path(src).name)
        return real(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    ckpt.atomic_write(tmp_path / "x.json", b"{}")
    assert seen and seen[0].startswith(f"{ckpt.TEMP_PREFIX}x.json.")
    assert (tmp_path / "x.json").read_bytes() == b"{}"


def _flax_bytes(path: Path) -> bytes:
    """The file ``save`` would have written by joining flax's serialisations: the body
    ``msgpack_serialize`` of the leaves, the top level of the header and that body."""
    raw = _raw(path)
    leaves = serialization.msgpack_restore(raw["body"])
    body = serialization.msgpack_serialize(leaves)
    return serialization.msgpack_serialize({**raw, "body": body})


def test_streamed_save_writes_exactly_flax_s_bytes(tmp_path):
    """``save`` writes the arrays' memory in pieces (no joined copy of the body); the file
    is byte for byte what flax's msgpack of the same leaves is: every dtype, 0-d, empty,
    Fortran-ordered and strided arrays, more than 16 leaves (msgpack's map16), a leaf over
    65,535 bytes (bin32/ext32), typed keys."""
    import ml_dtypes

    rng = np.random.default_rng(3)
    dtypes = (np.uint8, np.int8, np.int32, np.int64, np.uint32, np.float16, np.float32,
              np.float64, np.bool_, ml_dtypes.bfloat16)
    tree = {d.__name__ if hasattr(d, "__name__") else str(d): {
        "scalar": np.asarray(rng.standard_normal() * 9).astype(d),
        "empty": np.zeros((2, 0, 3), d), "small": (rng.standard_normal(4) * 9).astype(d),
        "vector": (rng.standard_normal(300) * 9).astype(d)} for d in dtypes}
    tree["big"] = rng.standard_normal((70_000,)).astype(np.float32)
    tree["fortran"] = np.asfortranarray(rng.standard_normal((5, 7)).astype(np.float32))
    tree["strided"] = rng.standard_normal((9, 9)).astype(np.float32)[::2, 1:]
    tree["state"] = make_state()
    path = ckpt.save(tmp_path / "c.msgpack", tree, updates_done=1, **META)
    assert path.read_bytes() == _flax_bytes(path)
    # read back (without x64, jax holds no 64-bit arrays: those are checked by bytes only)
    del tree["float64"], tree["int64"]
    path = ckpt.save(tmp_path / "c.msgpack", tree, updates_done=1, **META)
    assert path.read_bytes() == _flax_bytes(path)
    back, _ = ckpt.load(path, jax.eval_shape(lambda: tree), **META)
    for got, want in zip(jax.tree.leaves(back), jax.tree.leaves(tree)):
        if jnp.issubdtype(getattr(want, "dtype", np.float32), jax.dtypes.prng_key):
            got, want = jax.random.key_data(got), jax.random.key_data(want)
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want))


def test_an_array_over_flax_s_chunk_size_is_saved_as_flax_chunks_it(tmp_path, monkeypatch):
    from jaxrl.runs import checkpoint as module

    monkeypatch.setattr(module.serialization, "MAX_CHUNK_SIZE", 64)  # 16 float32 values
    state = make_state(width=8)  # a kernel of 2 x 4 x 8 = 64 values: chunked
    path = save(tmp_path / "c.msgpack", state)
    assert b"__msgpack_chunked_array__" in path.read_bytes()
    back, _ = ckpt.load(path, jax.eval_shape(lambda: state), **META)
    np.testing.assert_array_equal(back.params["dense"]["kernel"],
                                  state.params["dense"]["kernel"])
