"""Configs from text: defaults, presets, a TOML file and ``--set`` overrides -> a validated ``Config``.

The one owner of how a user's words become an algorithm's config:

* ``algorithm_module(name)``: the algorithm's module (``Config``, ``make``, ``PRESETS``,
  ``DEFAULT_ENV``);
* ``preset(algorithm, name)``: a ``jaxrl.core.presets.Preset`` (config, environment, options);
* ``resolve_config(algorithm, overrides, toml=..., base=...)``: the validated config;
* ``coerce(field, text, default)``: one value read by the type of the field's default;
* ``config_to_dict`` / ``config_from_dict``: the JSON form kept in ``config.json``.

Every mistake is a ``RunError`` whose message is one line, raised before anything compiles.
"""

from __future__ import annotations

import ast
import dataclasses
import os
import sys
import types
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from jaxrl.core.config import closest
from jaxrl.errors import RunError
from jaxrl.core.presets import Preset

__all__ = [
    "algorithm_module", "coerce", "config_defaults", "config_fields", "config_from_dict",
    "config_to_dict", "default_env", "preset", "presets", "read_toml", "resolve_config",
]

# Config fields the --num-envs / --total-steps shortcuts may mean, in order of preference.
NUM_ENVS_FIELDS = ("num_envs",)
TOTAL_STEPS_FIELDS = ("total_timesteps", "total_steps", "total_env_steps", "num_env_steps")


def algorithm_module(name: str) -> types.ModuleType:
    """The module of algorithm ``name``; unknown names raise ``RunError`` naming close ones."""
    from jaxrl import algos

    if not isinstance(name, str):
        raise RunError(f"an algorithm is named by a string, got {name!r}")
    try:
        return algos.get(name)
    except ValueError as e:
        raise RunError(str(e)) from None


def config_fields(module: types.ModuleType) -> dict[str, dataclasses.Field]:
    """The fields of ``module.Config`` by name."""
    return {f.name: f for f in dataclasses.fields(module.Config)}


def config_defaults(module: types.ModuleType) -> dict[str, Any]:
    """Every field of ``module.Config`` with its default value."""
    default = module.Config()
    return {name: getattr(default, name) for name in config_fields(module)}


def default_env(algorithm: str) -> str:
    """The environment ``algorithm`` trains on when none is named (its ``DEFAULT_ENV``)."""
    return getattr(algorithm_module(algorithm), "DEFAULT_ENV", "CartPole-v1")


# ------------------------------------------------------------------------------ values
def _to_bool(text: str, field: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("true", "yes", "on", "1"):
        return True
    if lowered in ("false", "no", "off", "0"):
        return False
    raise RunError(f"config field {field!r} takes true or false, got {text!r}")


def _to_int(value: Any, field: str) -> int:
    if isinstance(value, bool):
        raise RunError(f"config field {field!r} takes an integer, got {value!r}")
    original = value
    if isinstance(value, str):
        text = value.strip().replace("_", "")
        try:
            return int(text)
        except ValueError:
            try:
                value = float(text)  # "1e6"
            except ValueError:
                raise RunError(f"config field {field!r} takes an integer, got {value!r}") from None
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return int(value)
    raise RunError(f"config field {field!r} takes an integer, got {original!r}")


def _to_float(value: Any, field: str) -> float:
    if isinstance(value, bool):
        raise RunError(f"config field {field!r} takes a number, got {value!r}")
    try:
        return float(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError, OverflowError):
        raise RunError(f"config field {field!r} takes a number, got {value!r}") from None


def coerce(field: str, value: Any, default: Any) -> Any:
    """``value`` (a string from the command line, or a TOML/JSON value) as the type of ``default``.

    Raises:
        RunError: when the value cannot be read as that type.
    """
    if isinstance(default, bool):
        if isinstance(value, str):
            return _to_bool(value, field)
        if isinstance(value, (bool, np.bool_)):
            return bool(value)
        raise RunError(f"config field {field!r} takes true or false, got {value!r}")
    if isinstance(default, (int, np.integer)):
        return _to_int(value, field)
    if isinstance(default, (float, np.floating)):
        return _to_float(value, field)
    if isinstance(default, str):
        if not isinstance(value, str):
            raise RunError(f"config field {field!r} takes a string, got {value!r}")
        return value
    if isinstance(default, (tuple, list)):
        if isinstance(value, str):
            text = value.strip()
            if text.startswith(("(", "[")):
                try:
                    value = ast.literal_eval(text)
                except (ValueError, SyntaxError, MemoryError, RecursionError):
                    raise RunError(f"config field {field!r}: cannot read {value!r}") from None
            else:
                value = [v for v in text.split(",") if v.strip()] if text else []
        if not isinstance(value, (tuple, list)):
            value = [value]
        proto = default[0] if len(default) else None
        items = [coerce(field, v, proto) if proto is not None else v for v in value]
        return type(default)(items)
    if default is None:
        if isinstance(value, str):
            try:
                return ast.literal_eval(value)
            except (ValueError, SyntaxError, MemoryError, RecursionError):
                return value
        return value
    # Arrays and other leaves: a number.
    return _to_float(value, field)


# ------------------------------------------------------------------------------ configs
def resolve_config(
    algorithm: str,
    overrides: Mapping[str, Any] | None = None,
    *,
    toml: str | os.PathLike | None = None,
    num_envs: int | None = None,
    total_steps: int | None = None,
    base: Any = None,
) -> Any:
    """Build and validate ``<algorithm>.Config`` from defaults, a TOML file and overrides.

    Precedence (later wins): the defaults (or ``base``), the TOML file (top-level keys
    are config fields), ``num_envs`` / ``total_steps``, then ``overrides``
    (``{"lr": "3e-4"}``; strings are read by the field's default type).

    Raises:
        RunError: unknown field (with the closest names), a value of the wrong type,
            or a value ``Config.validate`` refuses.
    """
    module = algorithm_module(algorithm)
    fields = config_fields(module)
    config = base if base is not None else module.Config()
    if not isinstance(config, module.Config):
        raise RunError(f"config for {algorithm} must be a {module.__name__}.Config")
    values: dict[str, Any] = {}
    if toml is not None:
        values.update(read_toml(toml))
    if num_envs is not None:
        values[_shortcut(module, algorithm, NUM_ENVS_FIELDS, "--num-envs")] = num_envs
    if total_steps is not None:
        values[_shortcut(module, algorithm, TOTAL_STEPS_FIELDS, "--total-steps")] = total_steps
    values.update(overrides or {})
    coerced = {}
    for name, value in values.items():
        if name not in fields:
            raise RunError(
                f"{algorithm} has no config field {name!r}.{closest(name, list(fields))}"
                f" Fields: {', '.join(fields)}."
            )
        coerced[name] = coerce(name, value, getattr(config, name))
    try:
        config = config.replace(**coerced) if coerced else config
        config.validate()
    except (ValueError, TypeError, OverflowError) as e:
        raise RunError(str(e).splitlines()[0] if str(e) else repr(e)) from None
    return config


def _shortcut(module: types.ModuleType, algorithm: str, candidates: tuple[str, ...],
              flag: str) -> str:
    fields = config_fields(module)
    for name in candidates:
        if name in fields:
            return name
    raise RunError(
        f"{flag} does not apply to {algorithm}: its config has none of "
        f"{', '.join(candidates)} (fields: {', '.join(fields)}); use --set FIELD=VALUE"
    )


def read_toml(path: str | os.PathLike) -> dict[str, Any]:
    """Config fields from a TOML file: top-level ``field = value`` pairs (or a ``[config]`` table)."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib

    path = Path(path)
    if path.is_dir():
        raise RunError(f"config file {path} is a directory, not a TOML file")
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise RunError(f"config file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as e:
        raise RunError(f"cannot read config file {path}: {e}") from None
    except tomllib.TOMLDecodeError as e:
        raise RunError(f"config file {path} is not valid TOML: {e}") from None
    if set(data) == {"config"} and isinstance(data["config"], dict):
        data = data["config"]
    for name, value in data.items():
        if isinstance(value, dict):
            raise RunError(f"config file {path}: [{name}] is a table; write fields as "
                           f"top-level 'field = value' lines (or under one [config] table)")
    return data


def config_to_dict(config: Any) -> dict[str, Any]:
    """JSON-ready values of every config field (tuples become lists)."""
    return {f.name: jsonable(getattr(config, f.name)) for f in dataclasses.fields(config)}


def jsonable(v: Any) -> Any:
    """``v`` as plain JSON values (numpy scalars and arrays become numbers and lists)."""
    if isinstance(v, (tuple, list)):
        return [jsonable(x) for x in v]
    if isinstance(v, (bool, int, float, str)) or v is None:
        return v
    if isinstance(v, np.generic):
        return v.item()
    arr = np.asarray(v)
    return arr.item() if arr.ndim == 0 else arr.tolist()


def config_from_dict(algorithm: str, values: Mapping[str, Any]) -> Any:
    """Inverse of ``config_to_dict`` (validated)."""
    if not isinstance(values, Mapping):
        raise RunError(f"a {algorithm} config is a table of fields, got {type(values).__name__}")
    return resolve_config(algorithm, dict(values))


# ------------------------------------------------------------------------------ presets
def presets(algorithm: str) -> dict[str, Preset]:
    """The named presets ``<algorithm>.PRESETS`` offers (``{}`` when it has none)."""
    table = getattr(algorithm_module(algorithm), "PRESETS", {})
    return {name: p if isinstance(p, Preset) else Preset(p) for name, p in table.items()}


def preset(algorithm: str, name: str) -> Preset:
    """``<algorithm>.PRESETS[name]``; ``RunError`` for an unknown name."""
    table = presets(algorithm)
    if name not in table:
        have = ", ".join(table) if table else "none"
        raise RunError(f"{algorithm} has no preset {name!r} (presets: {have})."
                       f"{closest(name, list(table))}")
    return table[name]


def preset_changes(algorithm: str, p: Preset) -> dict[str, Any]:
    """The config fields a preset sets to other values than the defaults."""
    defaults = config_to_dict(algorithm_module(algorithm).Config())
    mine = config_to_dict(p.config)
    return {k: v for k, v in mine.items() if defaults.get(k) != v}
