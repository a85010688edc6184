"""The on-disk cache of compiled programs (XLA executables), for the command line and
for library users alike.

What is cached: every program JAX compiles for a run (the training chunk, the
initialisation, evaluation), keyed by JAX on the program, its devices, options and the
jaxlib version; a repeated run with the same algorithm, config and shapes loads them
instead of compiling. A cached program is the same executable: results are bit-identical.

Where: ``compile_cache_dir()``: ``$JAXRL_CACHE_DIR``, else ``$XDG_CACHE_HOME/jaxrl/xla``,
else ``~/.cache/jaxrl/xla``; capped at ``CACHE_MAX_BYTES``; deleting it is always safe.

On and off: the ``jaxrl`` command switches it on for itself (``--no-compile-cache`` or
``JAXRL_CACHE_DIR=off`` keep it off). From Python it is off until
``jaxrl.enable_compile_cache()`` is called (process-wide, like JAX's own cache
settings); ``jaxrl.enable_compile_cache(False)`` switches it off again.

Every entry jaxrl stores is sealed with the SHA-256 of its key and bytes, and an entry
whose seal does not match is not used (``_verified_entries``).
"""

from __future__ import annotations

import os
import sys
from typing import Any

__all__ = ["CACHE_MAX_BYTES", "compile_cache_dir", "enable_compile_cache"]


def compile_cache_dir() -> str | None:
    """Where compiled programs are kept between commands, or None when the cache is off.

    ``JAXRL_CACHE_DIR`` names the directory; ``off``, ``0``, ``no``, ``none``, ``false``
    or an empty value turn the cache off. Unset: ``$XDG_CACHE_HOME/jaxrl/xla``, else
    ``~/.cache/jaxrl/xla``. Deleting the directory is always safe (the next command
    compiles again).
    """
    where = os.environ.get("JAXRL_CACHE_DIR")
    if where is not None:
        where = where.strip()
        if where.lower() in ("", "0", "off", "no", "none", "false"):
            return None
        return os.path.expanduser(where)
    base = os.environ.get("XDG_CACHE_HOME", "").strip()
    if not base or not os.path.isabs(base):  # the XDG spec ignores relative paths
        base = os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "jaxrl", "xla")


def enable_compile_cache(enabled: bool = True) -> str | None:
    """Keep compiled programs on disk (``compile_cache_dir()``); returns the directory
    (None when the cache stays off).

    Process-wide, like JAX's own cache settings: every program compiled afterwards (by
    ``jaxrl.train``, ``resume``, ``evaluate``, a sweep) is looked up there first. A
    repeated run (same algorithm, config, shapes and jaxlib) loads its programs instead
    of compiling them (the README command: about 2 s instead of 15 s). A cached program
    is the same executable, so results are bit-identical. The ``jaxrl`` command calls
    this for itself; from Python the cache is off until you call it.

    ``JAXRL_CACHE_DIR=off`` (or ``--no-compile-cache``) keeps it off; the directory is
    safe to delete, and capped at ``CACHE_MAX_BYTES`` (least recently used programs are
    dropped) when the ``filelock`` package is installed (JAX needs it for the cap). An
    unwritable directory only means compiling every time.

    ``enabled=False`` switches off a cache this function switched on in this process
    (a JAX cache you configured yourself is left alone).
    """
    if not enabled:
        _switch_off()
        return None
    where = compile_cache_dir()
    if where is None:
        return None
    try:
        os.makedirs(where, exist_ok=True)
        if not os.access(where, os.W_OK):
            return None
    except OSError:
        return None  # no cache is fine
    if not _verify_entries(where):
        return None  # a JAX this code cannot hook: no cache rather than unverified entries
    import jax

    jax.config.update("jax_compilation_cache_dir", where)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    try:
        import filelock  # noqa: F401 - JAX needs it to evict entries (else every read fails)
    except ImportError:
        pass  # no size cap then
    else:
        jax.config.update("jax_compilation_cache_max_size", CACHE_MAX_BYTES)
    return where


def _switch_off() -> None:
    """Stop using the cache ``enable_compile_cache`` switched on (nothing else is touched;
    JAX is not imported for it)."""
    if "jax" not in sys.modules:
        return
    import jax

    where = jax.config.jax_compilation_cache_dir
    if not where or os.path.realpath(str(where)) not in _VERIFIED_DIRS:
        return
    jax.config.update("jax_compilation_cache_dir", None)
    try:
        from jax._src import compilation_cache as cc

        cc.reset_cache()
    except (ImportError, AttributeError):
        pass


CACHE_MAX_BYTES = 2 * 1024**3  # the compile cache's size cap (2 GiB)

# Every entry jaxrl's compile cache stores is ENTRY_MAGIC + SHA-256(key, entry) + the
# entry JAX gave it (``_VerifiedEntries``).
ENTRY_MAGIC = b"jaxrl-compile-cache-entry-v1\n"
_VERIFIED_DIRS: set[str] = set()  # the cache directories whose entries are verified


def _entry_digest(key: str, entry: bytes) -> bytes:
    import hashlib

    return hashlib.sha256(key.encode() + b"\0" + entry).digest()


def _seal(key: str, entry: bytes) -> bytes:
    """``entry`` as stored under ``key``: bound to the key by its digest."""
    return ENTRY_MAGIC + _entry_digest(key, entry) + entry


def _unseal(key: str, stored: bytes) -> tuple[bytes | None, bool]:
    """``(entry, tampered)``: the entry stored under ``key`` when it was sealed for this
    key; None when it was not (``tampered``: sealed, but for another key or changed since:
    an entry swapped in from another program)."""
    if not stored.startswith(ENTRY_MAGIC):
        return None, False  # not written by this code (plain JAX, an older jaxrl): a miss
    digest = stored[len(ENTRY_MAGIC):len(ENTRY_MAGIC) + 32]
    entry = stored[len(ENTRY_MAGIC) + 32:]
    if digest != _entry_digest(key, entry):
        return None, True
    return entry, False


def _verified_entries(base: Any) -> Any:
    """``base`` (JAX's on-disk cache) behind a check of every entry against its key.

    JAX names an entry by a hash of the program, its devices and options, but reads the
    file under that name without looking at what it holds: a file copied there from
    another program would run that program instead. Here each entry is sealed with the
    SHA-256 of its key and bytes when stored, and an entry whose seal does not match is
    not used: one warning line, the file is removed, and the program is compiled (and
    stored) afresh. Entries not sealed by jaxrl are misses too (silently).
    """
    from pathlib import Path

    from jax._src.compilation_cache_interface import CacheInterface

    class _VerifiedEntries(CacheInterface):
        def __init__(self, inner: Any):
            self._inner = inner
            self._warned: set[str] = set()

        @property
        def _path(self) -> Any:  # type: ignore[override]
            return self._inner._path

        def get(self, key: str) -> bytes | None:
            stored = self._inner.get(key)
            if stored is None:
                return None
            entry, tampered = _unseal(key, stored)
            if entry is None:
                self._discard(key, stored, tampered)
            return entry

        def put(self, key: str, value: bytes) -> None:
            self._inner.put(key, _seal(key, value))

        def clear(self) -> None:
            if hasattr(self._inner, "clear"):
                self._inner.clear()

        def _discard(self, key: str, stored: bytes, tampered: bool) -> None:
            """Remove the file of an entry that cannot be used (so that the fresh
            program is stored in its place: JAX never replaces an existing entry)."""
            if tampered and key not in self._warned:
                self._warned.add(key)
                print(f"jaxrl: warning: compile cache entry {key} does not match its key "
                      f"(changed or swapped in from another program); not used, compiling "
                      f"afresh", file=sys.stderr)
            path = Path(str(self._inner._path)) / f"{key}-cache"
            try:
                if path.is_file() and not path.is_symlink() and path.read_bytes() == stored:
                    path.unlink()
                elif path.is_symlink():
                    path.unlink()
            except OSError:
                pass  # then it stays a miss

    return _VerifiedEntries(base)


def _verify_entries(where: str) -> bool:
    """Make JAX's persistent cache in ``where`` verify every entry (``_verified_entries``):
    ``jax._src.compilation_cache.get_file_cache`` (JAX 0.8 to 0.10) is wrapped once per
    process, and a cache JAX already opened is reopened through it. False when this JAX
    has no such hook (then jaxrl keeps no cache at all)."""
    try:
        from jax._src import compilation_cache as cc
        from jax._src.compilation_cache_interface import CacheInterface  # noqa: F401
    except ImportError:
        return False
    opener = getattr(cc, "get_file_cache", None)
    if opener is None or not hasattr(cc, "reset_cache"):
        return False
    _VERIFIED_DIRS.add(os.path.realpath(where))
    if not getattr(opener, "jaxrl_verified", False):
        def get_file_cache(path: Any) -> Any:
            opened = opener(path)
            if opened is None or os.path.realpath(str(path)) not in _VERIFIED_DIRS:
                return opened
            cache, at = opened
            inner = getattr(cache, "_base_cache", None)
            if inner is not None:  # jax_compilation_cache_check_contents: verify beneath it
                cache._base_cache = _verified_entries(inner)
                return cache, at
            return _verified_entries(cache), at

        get_file_cache.jaxrl_verified = True  # type: ignore[attr-defined]
        cc.get_file_cache = get_file_cache
    if getattr(cc, "_cache", None) is not None:
        cc.reset_cache()  # opened before: reopen through the check, in ``where``
    return True


