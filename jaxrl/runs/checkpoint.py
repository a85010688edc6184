"""Checkpoints: a whole training state on disk, in a format that cannot run code.

A checkpoint is one msgpack file (``flax.serialization``'s msgpack, with numpy
arrays as msgpack extension types; no pickle anywhere, so loading a file only
ever builds arrays, strings and numbers). Its top level holds

* ``format`` and ``version``;
* ``header``: a JSON string: algorithm and environment names, the resolved config,
  the run's progress (``updates_done``), free-form ``extra`` data, one entry per
  leaf of the state (path, shape, dtype), and ``body_sha256``;
* ``header_sha256``: the SHA-256 of the header string;
* ``body``: the state's leaves, msgpack-encoded in ``jax.tree_util`` flattening
  order, as one byte string whose SHA-256 is ``body_sha256``.

Loading verifies both digests before it decodes a single leaf, so a flipped byte
anywhere in the file is refused (``CheckpointError``), never loaded.

Typed PRNG keys (``jax.random.key``) are stored as their raw ``key_data`` with the
key implementation's name, and wrapped back on load.

Loading needs a *template* (for example ``jax.eval_shape`` of the state), which
fixes the tree structure; the checkpoint is refused, with a message that names
every difference, if its algorithm, environment, leaf paths, shapes or dtypes do
not match the template's.

Saving is atomic (``atomic_write``): the bytes go to a temporary file in the same
directory, are flushed and ``fsync``-ed, and only then renamed over the old
checkpoint (``os.replace``), so a save interrupted at any point leaves the
previous checkpoint intact. The body is written from the arrays' own memory in pieces,
hashed on the way, never joined into one copy (a replay buffer of a hundred megabytes
costs one pass of SHA-256 and the write); the file's bytes are exactly flax's msgpack
of the same leaves.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import serialization

from jaxrl.errors import CheckpointError
from jaxrl.output import files

FORMAT = "jaxrl-checkpoint"
VERSION = 2
FILENAME = "checkpoint.msgpack"
TEMP_PREFIX = files.TEMP_PREFIX  # atomic_write's temporary files: '.jaxrl-tmp.<name>.<random>'


def _is_key(leaf: Any) -> bool:
    dtype = getattr(leaf, "dtype", None)
    return dtype is not None and jnp.issubdtype(dtype, jax.dtypes.prng_key)


def _leaf_info(path: Any, leaf: Any) -> dict[str, Any]:
    info = {
        "path": jax.tree_util.keystr(path),
        "shape": [int(s) for s in np.shape(leaf)],
        "dtype": str(leaf.dtype) if hasattr(leaf, "dtype") else np.asarray(leaf).dtype.name,
    }
    if _is_key(leaf):
        try:
            info["key_impl"] = str(jax.random.key_impl(leaf))
        except TypeError:  # a ShapeDtypeStruct: the impl is on the dtype
            info["key_impl"] = leaf.dtype._impl.name
    return info


def describe(tree: Any) -> list[dict[str, Any]]:
    """Path, shape and dtype of every leaf of ``tree`` (arrays or ``ShapeDtypeStruct``)."""
    return [_leaf_info(p, x) for p, x in jax.tree_util.tree_flatten_with_path(tree)[0]]


def save(
    path: str | os.PathLike,
    state: Any,
    *,
    algorithm: str,
    env: str,
    config: dict[str, Any],
    updates_done: int,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write ``state`` and its description to ``path`` atomically.

    Args:
        path: the checkpoint file; its directory must exist.
        state: any pytree of arrays (typed PRNG keys allowed).
        algorithm: algorithm name, checked on load.
        env: environment name, checked on load.
        config: the resolved config as JSON-ready values, checked on load.
        updates_done: training updates the state has completed.
        extra: more JSON-ready data to keep in the header (file offsets, seeds...).

    Returns:
        The path written.
    """
    path = Path(path)
    leaves_with_path = jax.tree_util.tree_flatten_with_path(state)[0]
    infos, arrays = [], {}
    for i, (p, leaf) in enumerate(leaves_with_path):
        infos.append(_leaf_info(p, leaf))
        if _is_key(leaf):
            leaf = jax.random.key_data(leaf)
        arrays[str(i)] = np.asarray(jax.device_get(leaf))
    header = {
        "format": FORMAT,
        "version": VERSION,
        "algorithm": algorithm,
        "env": env,
        "config": config,
        "updates_done": int(updates_done),
        "leaves": infos,
        "extra": extra or {},
    }
    body = _body_pieces(arrays)
    if body is None:  # an array too big for one msgpack value: flax chunks it
        whole = serialization.msgpack_serialize(arrays)
        body = [whole]
    digest = hashlib.sha256()
    for piece in body:
        digest.update(piece)
    header["body_sha256"] = digest.hexdigest()
    text = json.dumps(header)
    # The top-level map packed around the body's pieces: the same bytes as
    # msgpack_serialize({... "body": b"".join(body)}) without joining (copying) them.
    # flax packs a dict's keys sorted, "body" first: split the map after its empty body.
    outer = serialization.msgpack_serialize({
        "format": FORMAT, "version": VERSION, "header": text,
        "header_sha256": hashlib.sha256(text.encode()).hexdigest(), "body": b""})
    cut = outer.index(_EMPTY_BODY) + len(_EMPTY_BODY)
    size = sum(len(piece) for piece in body)
    files.write_bytes(path, [_with_bin_length(outer[:cut], size), *body, outer[cut:]],
                      durable=True)
    return path


#: ``"body": b""`` as msgpack packs it: the key (a 4-character str) and an empty bin.
_EMPTY_BODY = b"\xa4body\xc4\x00"


def _view(array: np.ndarray) -> memoryview:
    """The bytes of ``array`` in C order as a flat memoryview, copied only if the array
    is not C-contiguous (``tobytes("C")``'s bytes)."""
    flat = np.ascontiguousarray(array).reshape(-1)
    return memoryview(flat.view(np.uint8))


def _uint(n: int) -> bytes:
    """A non-negative int as msgpack packs it (the smallest encoding)."""
    return bytes(serialization.msgpack.packb(n))


def _body_pieces(arrays: dict[str, Any]) -> list[Any] | None:
    """``flax.serialization.msgpack_serialize(arrays)`` as a list of byte pieces whose
    concatenation is exactly its bytes: small headers packed here, the arrays' own memory
    as views, so nothing large is copied (non-contiguous arrays excepted). ``None`` when an array is over flax's chunk
    size (flax then splits it into a dict: the caller serialises as flax does)."""
    msgpack = serialization.msgpack
    pieces: list[Any] = [msgpack.Packer().pack_map_header(len(arrays))]
    for key in sorted(arrays):  # flax packs a dict's keys sorted (jax's tree order)
        array = arrays[key]
        code = 3 if isinstance(array, np.generic) else 1  # flax's npscalar / ndarray ext
        array = np.asarray(array)
        if array.dtype.hasobject or array.dtype.isalignedstruct:
            return None  # flax refuses these; let it say so
        if array.size * array.dtype.itemsize > serialization.MAX_CHUNK_SIZE:
            return None
        data = _view(array)
        # the ext's payload: packb((shape, dtype name, raw bytes)), the raw bytes last
        inner = msgpack.packb((array.shape, array.dtype.name, b""), use_bin_type=True)
        inner = _with_bin_length(inner, len(data))
        pieces += [msgpack.packb(key), _ext_header(code, len(inner) + len(data)), inner,
                   data]
    return pieces


def _ext_header(type_code: int, length: int) -> bytes:
    """The header of a msgpack ext value of type ``type_code`` holding ``length`` bytes."""
    code = bytes([type_code])
    fixed = {1: 0xD4, 2: 0xD5, 4: 0xD6, 8: 0xD7, 16: 0xD8}
    if length in fixed:
        return bytes([fixed[length]]) + code
    if length <= 0xFF:
        return bytes([0xC7, length]) + code
    if length <= 0xFFFF:
        return bytes([0xC8]) + length.to_bytes(2, "big") + code
    return bytes([0xC9]) + length.to_bytes(4, "big") + code


def _with_bin_length(packed: bytes, length: int) -> bytes:
    """``packed`` ends with an empty msgpack bin (``b"\\xc4\\x00"``): the same with that
    bin's header saying ``length`` bytes follow (which the caller writes after it)."""
    if not packed.endswith(b"\xc4\x00"):
        raise AssertionError("expected an empty bin at the end")
    if length <= 0xFF:
        tail = bytes([0xC4, length])
    elif length <= 0xFFFF:
        tail = bytes([0xC5]) + length.to_bytes(2, "big")
    else:
        tail = bytes([0xC6]) + length.to_bytes(4, "big")
    return packed[:-2] + tail


def atomic_write(path: str | os.PathLike, payload: bytes) -> None:
    """Write ``payload`` to ``path`` so that a reader sees the old file or the new one,
    whole, and synced to disk (``jaxrl.output.files.write_bytes`` with ``durable``)."""
    files.write_bytes(path, payload, durable=True)


def _refuse_larger_than_memory(path: Path) -> None:
    """A file larger than the host's free memory (a damaged or hostile one: a sparse
    200 GB file costs nothing on disk) is refused before reading it, not read until the
    machine runs out of memory."""
    from jaxrl.runs import memory

    size = path.stat().st_size
    have, where = memory.available_bytes(jax.devices("cpu")[0])
    if have is not None and size > have:
        raise CheckpointError(f"{path} holds {size:,} bytes, more than the {have:,} bytes of "
                              f"memory available ({where}); it cannot be read here")


def _read(path: Path, body: bool = True) -> dict[str, Any]:
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    _refuse_larger_than_memory(path)
    try:
        raw = serialization.msgpack_restore(path.read_bytes())
    except Exception:  # noqa: BLE001 - any decoding failure means the same to a user
        raise CheckpointError(f"{path} is not a readable jaxrl checkpoint (damaged or "
                              f"not a checkpoint)") from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        old = isinstance(raw, dict) and isinstance(raw.get("header"), str) and "leaves" in raw
        raise CheckpointError(
            f"{path} was written by an older jaxrl (checkpoint version 1); this jaxrl reads "
            f"version {VERSION}" if old else f"{path} is not a jaxrl checkpoint")
    if raw.get("version") != VERSION:
        raise CheckpointError(f"{path} has checkpoint version {raw.get('version')!r}; "
                              f"this jaxrl reads {VERSION}")
    text, digest, data = raw.get("header"), raw.get("header_sha256"), raw.get("body")
    if not (isinstance(text, str) and isinstance(digest, str) and isinstance(data, bytes)):
        raise CheckpointError(f"{path} is damaged (its header or body is missing)")
    if hashlib.sha256(text.encode()).hexdigest() != digest:
        raise CheckpointError(f"{path} is damaged: its header does not match its checksum")
    try:
        header = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: nested too deeply to be ours
        raise CheckpointError(f"{path} is damaged: its header is not JSON") from None
    problem = _header_problem(header)
    if problem:
        raise CheckpointError(f"{path} is damaged: {problem}")
    if hashlib.sha256(data).hexdigest() != header["body_sha256"]:
        raise CheckpointError(f"{path} is damaged: its arrays do not match their checksum")
    out = {"header": header}
    if body:
        try:
            out["leaves"] = serialization.msgpack_restore(data)
        except Exception:  # noqa: BLE001
            raise CheckpointError(f"{path} is damaged: its arrays cannot be decoded") from None
    return out


_HEADER_TYPES = {"algorithm": str, "env": str, "config": dict, "updates_done": int,
                 "leaves": list, "extra": dict, "body_sha256": str}


def _header_problem(header: Any) -> str:
    """What is wrong with a header's shape, or ``""``."""
    if not isinstance(header, dict):
        return "its header is not a table"
    for key, kind in _HEADER_TYPES.items():
        if key not in header:
            return f"its header has no {key!r}"
        value = header[key]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            return f"its header's {key!r} is not a {kind.__name__}"
    if header["updates_done"] < 0:
        return "its header's 'updates_done' is negative"
    for leaf in header["leaves"]:
        if not (isinstance(leaf, dict) and isinstance(leaf.get("path"), str)
                and isinstance(leaf.get("shape"), list) and isinstance(leaf.get("dtype"), str)
                and all(isinstance(d, int) and d >= 0 for d in leaf["shape"])):
            return "its header describes a leaf wrongly"
    return ""


def has_format_marker(path: str | os.PathLike) -> bool:
    """Whether the file at ``path`` carries jaxrl's checkpoint marker (written by jaxrl,
    intact or not), read cheaply: the outer msgpack map stores its keys in order, the
    arrays (``body``) first, so the marker sits after them; their length is skipped."""
    marker = FORMAT.encode()
    with open(path, "rb") as f:
        head = f.read(4096)
        if marker in head:
            return True
        # fixmap, then the fixstr key "body", then bin8/16/32 with its length
        if len(head) < 12 or head[0] & 0xF0 != 0x80 or head[1:6] != b"\xa4body":
            return False
        kind, i = head[6], 7
        widths = {0xC4: 1, 0xC5: 2, 0xC6: 4}
        if kind not in widths:
            return False
        length = int.from_bytes(head[i:i + widths[kind]], "big")
        f.seek(i + widths[kind] + length)
        return marker in f.read(1 << 20)


def read_header(path: str | os.PathLike) -> dict[str, Any]:
    """The header of the checkpoint at ``path`` (validates the format and both checksums)."""
    return _read(Path(path), body=False)["header"]


def _differences(
    header: dict[str, Any], template: list[dict[str, Any]], algorithm: str, env: str,
    config: dict[str, Any] | None,
    normalize: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> list[str]:
    diffs = []
    if header["algorithm"] != algorithm:
        diffs.append(f"algorithm: checkpoint {header['algorithm']!r}, this run {algorithm!r}")
    if header["env"] != env:
        diffs.append(f"environment: checkpoint {header['env']!r}, this run {env!r}")
    if config is not None:
        saved = header["config"]
        if normalize is not None:  # e.g. old field names as today's
            saved, config = normalize(saved), normalize(config)
        for key in sorted(set(saved) | set(config)):
            old, new = saved.get(key, "<absent>"), config.get(key, "<absent>")
            if old != new:
                diffs.append(f"config {key}: checkpoint {old!r}, this run {new!r}")
    saved = {leaf["path"]: leaf for leaf in header["leaves"]}
    wanted = {leaf["path"]: leaf for leaf in template}
    for p in wanted:
        if p not in saved:
            diffs.append(f"state{p}: missing from the checkpoint")
    for p in saved:
        if p not in wanted:
            diffs.append(f"state{p}: in the checkpoint but not in this run's state")
    for p in wanted:
        if p in saved:
            a, b = saved[p], wanted[p]
            if a["shape"] != b["shape"]:
                diffs.append(f"state{p}: checkpoint shape {tuple(a['shape'])}, this run {tuple(b['shape'])}")
            if a["dtype"] != b["dtype"]:
                diffs.append(f"state{p}: checkpoint dtype {a['dtype']}, this run {b['dtype']}")
    if not diffs and [leaf["path"] for leaf in header["leaves"]] != [leaf["path"] for leaf in template]:
        diffs.append("state: same leaves in a different order")
    return diffs


# Leaves that earlier versions wrote and this one no longer keeps: a checkpoint holding
# them loads with them left out, when the run's state has no such leaf. Uniform-replay
# DQN kept the (unused) priority trees until 2026-12; jaxrl.core.replay keeps them only for
# prioritised replay now.
_RETIRED_LEAVES = re.compile(r"\.buffer\.(sum_tree|min_tree)\[\d+\]$")


def _drop_retired(raw: dict[str, Any], wanted: set[str]) -> dict[str, Any]:
    """``raw`` without the retired leaves that the run's state does not have."""
    header, stored = raw["header"], raw["leaves"]
    leaves = header.get("leaves")
    if not isinstance(leaves, list) or not isinstance(stored, dict):
        return raw  # damaged: the checks that follow say so
    keep = [i for i, leaf in enumerate(leaves)
            if leaf.get("path") in wanted or not _RETIRED_LEAVES.search(str(leaf.get("path")))]
    if len(keep) == len(leaves):
        return raw
    return {**raw, "header": {**header, "leaves": [leaves[i] for i in keep]},
            "leaves": {str(j): stored.get(str(i)) for j, i in enumerate(keep)}}


def load(
    path: str | os.PathLike,
    template: Any,
    *,
    algorithm: str,
    env: str,
    config: dict[str, Any] | None = None,
    normalize_config: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> tuple[Any, dict[str, Any]]:
    """Read a checkpoint into the structure of ``template``.

    Args:
        path: checkpoint file.
        template: a pytree with the expected structure, shapes and dtypes (arrays or
            ``jax.ShapeDtypeStruct``, e.g. from ``jax.eval_shape``).
        algorithm: expected algorithm name.
        env: expected environment name.
        config: expected resolved config; ``None`` skips the config comparison.
        normalize_config: applied to both configs before they are compared (the
            run directory passes one that puts renamed fields in today's names).

    Returns:
        ``(state, header)``; ``state`` has ``template``'s structure with numpy
        leaves (typed PRNG keys re-wrapped as JAX key arrays).

    Raises:
        CheckpointError: unreadable file, or a checkpoint of a different run; the
            message lists every difference.
    """
    path = Path(path)
    raw = _read(path)
    flat, treedef = jax.tree_util.tree_flatten_with_path(template)
    expected = [_leaf_info(p, x) for p, x in flat]
    raw = _drop_retired(raw, {leaf["path"] for leaf in expected})
    header = raw["header"]
    diffs = _differences(header, expected, algorithm, env, config, normalize_config)
    if diffs:
        shown = diffs[:8] + ([f"... and {len(diffs) - 8} more"] if len(diffs) > 8 else [])
        raise CheckpointError(
            f"checkpoint {path} does not match this run: " + "; ".join(shown)
        )
    leaves = []
    stored = raw["leaves"]
    if not isinstance(stored, dict) or len(stored) != len(expected):
        raise CheckpointError(f"checkpoint {path} is damaged: it holds a wrong number of arrays")
    for i, info in enumerate(expected):
        arr = stored.get(str(i))
        if arr is None:
            raise CheckpointError(f"checkpoint {path} is damaged: array {i} is missing")
        if "key_impl" in info:
            try:
                arr = jax.random.wrap_key_data(jnp.asarray(arr), impl=info["key_impl"])
            except Exception:  # noqa: BLE001 - wrong shape or dtype of key data
                raise CheckpointError(f"checkpoint {path} is corrupt at state{info['path']}") from None
            if list(arr.shape) != info["shape"]:
                raise CheckpointError(f"checkpoint {path} is corrupt at state{info['path']}")
        else:
            if not isinstance(arr, (np.ndarray, np.generic, int, float, bool)):
                raise CheckpointError(f"checkpoint {path} is corrupt at state{info['path']}")
            arr = np.asarray(arr)
            if list(arr.shape) != info["shape"] or arr.dtype.name != np.dtype(info["dtype"]).name:
                raise CheckpointError(f"checkpoint {path} is corrupt at state{info['path']}")
        leaves.append(arr)
    return jax.tree_util.tree_unflatten(treedef, leaves), header
