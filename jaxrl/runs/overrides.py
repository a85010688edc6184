"""Configs from text: defaults, presets, a TOML file and ``--set`` overrides -> a validated ``Config``.

The one owner of how a user's words become an algorithm's config:

* ``get_algorithm(name)``: the algorithm's registered record (``jaxrl.algos.Algorithm``:
  ``config``, ``make``, ``presets``, ``default_env``);
* ``preset(algorithm, name)``: a ``jaxrl.core.presets.Preset`` (config, environment, options);
* ``resolve_config(algorithm, overrides, toml=..., base=...)``: the validated config;
* ``coerce(field, text, default)``: one value read by the type of the field's default;
* ``config_to_dict`` / ``config_from_dict``: the JSON form kept in ``config.json``;
* ``ALIASES``: the old names of renamed fields, still accepted wherever text becomes a
  config (``--set``, TOML files, ``config.json`` of existing run directories, keywords
  of ``jaxrl.train``, ``jaxrl sweep --grid``); ``comparable_config`` puts a saved config
  in today's names, so a run directory written before a rename still resumes.

A nested config (a group such as ``Config.curiosity``) is set field by field with dotted
names (``curiosity.beta=0.3``), as a table (a ``[curiosity]`` table in TOML, a JSON
object), or, for a group with a ``kind`` field, by its kind alone (``curiosity=icm``).

Every mistake is a ``RunError`` whose message is one line, raised before anything compiles.
"""

from __future__ import annotations

import ast
import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from jaxrl import algos
from jaxrl.algos import Algorithm
from jaxrl.core.config import closest, dotted, field_paths, is_group, public_name, replace_paths
from jaxrl.core.presets import Preset
from jaxrl.errors import RunError

__all__ = [
    "ALIASES", "canonical_names", "coerce", "comparable_config", "config_defaults",
    "config_fields", "config_from_dict", "config_paths", "config_to_dict", "default_env",
    "get_algorithm", "preset", "presets", "read_toml", "resolve_config",
]

#: Old config field names -> today's (``"group.field"`` for a field of a nested config).
#: One table for every algorithm: an entry applies to a config that has the new name and
#: not the old one, so an algorithm that still calls a field by an old name keeps it.
ALIASES: Mapping[str, str] = {
    # One name per concept: the step budget and the learning rate.
    "total_env_steps": "total_timesteps",  # dqn, c51, qrdqn
    "total_steps": "total_timesteps",  # contextual_bandit
    "learning_rate": "lr",  # contextual_bandit
    # The curiosity settings (dqn and its views, ppo), flat fields before they became the
    # group Config.curiosity; the kind itself was "curiosity" and still is (a group given
    # a kind alone: curiosity=icm).
    "curiosity_hidden": "curiosity.hidden",
    "curiosity_features": "curiosity.features",
    "curiosity_beta": "curiosity.beta",
    "curiosity_eta": "curiosity.eta",
    "curiosity_lr": "curiosity.lr",
    "extrinsic_coef": "curiosity.extrinsic_coef",
    "curiosity_normalize": "curiosity.normalize",  # ppo
    "curiosity_normalize_obs": "curiosity.normalize_obs",  # ppo
    "intrinsic_critic": "curiosity.intrinsic_critic",  # ppo
    "curiosity_lambda": "curiosity.lam",  # ppo
    "intrinsic_gamma": "curiosity.intrinsic_gamma",  # ppo
}

# Config fields the --num-envs / --total-steps shortcuts may mean, in order of preference.
NUM_ENVS_FIELDS = ("num_envs",)
TOTAL_STEPS_FIELDS = ("total_timesteps",)
# Budgets that are not environment steps: field -> what it counts (for --total-steps' refusal).
OTHER_BUDGETS = {"num_episodes": "episodes", "generations": "generations"}
# A group with this field may be set by its value alone (``--set curiosity=icm``).
GROUP_SHORTHAND = "kind"
# Settings of a run that are not config fields: name -> how to give it.
RUN_OPTIONS = {
    "seeds": "--seeds N (jaxrl.train(seeds=N))", "seed": "--seed N (jaxrl.train(seed=N))",
    "env": "--env NAME (jaxrl.train(env=NAME))",
    "env_options": "--env-option NAME=VALUE (jaxrl.train(env_options={...}))",
    "total_steps": "--total-steps N (jaxrl.train(total_steps=N))",
    "preset": "--preset NAME", "chunk": "--chunk N", "chunk_updates": "--chunk N",
    "checkpoint_every": "--checkpoint-every N", "on_nonfinite": "--on-nonfinite stop|mask",
    "split": "--split seeds|population",
}


def get_algorithm(name: str) -> Algorithm:
    """The record of algorithm ``name`` (a registered name or ``"package.module:NAME"``);
    unknown names raise ``RunError`` naming close ones."""
    if not isinstance(name, str):
        raise RunError(f"an algorithm is named by a string, got {name!r}")
    try:
        return algos.get(name)
    except ValueError as e:
        raise RunError(str(e)) from None


def config_fields(record: Algorithm) -> dict[str, dataclasses.Field]:
    """The fields of the algorithm's ``Config`` by name."""
    return {f.name: f for f in dataclasses.fields(record.config)}


def config_defaults(record: Algorithm) -> dict[str, Any]:
    """Every field of the algorithm's ``Config`` with its default value (a group as
    its default nested config)."""
    default = record.config()
    return {name: getattr(default, name) for name in config_fields(record)}


def config_paths(record: Algorithm) -> dict[str, tuple[Any, bool]]:
    """Every settable field of the algorithm's ``Config``, a group's fields as
    ``"group.field"``: ``{path: (default, static)}``."""
    return field_paths(record.config())


def _group_kind(config: Any, name: str) -> str | None:
    """``name.kind`` when ``name`` is a group of ``config`` that has a ``kind`` field."""
    value = getattr(config, name, None)
    if is_group(value) and hasattr(value, GROUP_SHORTHAND):
        return f"{name}.{GROUP_SHORTHAND}"
    return None


def field_path(config: Any, name: str) -> str | None:
    """The path of the field ``name`` stands for in ``config`` (itself, or the new name
    of an old one, ``ALIASES``); None when it names no field (or a whole group)."""
    paths = field_paths(config)
    if name in paths:
        return name
    new = ALIASES.get(name)
    return new if new in paths else None


def canonical_names(
    config: Any, values: Mapping[str, Any], owner: str, *, strict: bool = True
) -> dict[str, Any]:
    """``values`` (field names as a user or an old file gives them) by today's paths.

    Old names (``ALIASES``) become new ones where ``config`` has the new name and not
    the old; a table given for a group becomes its fields (``{"curiosity": {"beta": 0.3}}``
    -> ``{"curiosity.beta": 0.3}``); any other value given for a group with a ``kind``
    field sets its kind (``{"curiosity": "icm"}`` -> ``{"curiosity.kind": "icm"}``).

    Raises:
        RunError: (``strict``) an unknown name, with the closest ones; two names for one
            field. Without ``strict`` unknown names are kept as they are.
    """
    paths = field_paths(config)
    out: dict[str, Any] = {}
    given: dict[str, str] = {}

    def put(path: str, value: Any, name: str) -> None:
        if path in out and given[path] != name:
            raise RunError(f"{owner}: {given[path]} and {name} both set {path}; give it once")
        out[path], given[path] = value, name

    for name, value in values.items():
        name = str(name)
        path = field_path(config, name)
        if path is not None:
            put(path, value, name)
        elif is_group(getattr(config, name, None)) and is_group(value):  # a whole group
            for sub, (v, _) in field_paths(value).items():
                put(f"{name}.{sub}", v, f"{name}.{sub}")
        elif is_group(getattr(config, name, None)):
            if isinstance(value, Mapping):  # the group's fields by their dotted names
                for path, v in canonical_names(config, {f"{name}.{sub}": v for sub, v
                                                        in value.items()}, owner,
                                               strict=strict).items():
                    put(path, v, path)
            elif _group_kind(config, name):
                put(_group_kind(config, name), value, name)
            elif strict:
                raise RunError(f"{owner}: {name} is a group of fields; set them as "
                               f"{name}.FIELD=VALUE")
            else:
                out[name] = value
        elif strict and name in RUN_OPTIONS:
            raise RunError(f"{owner}: {name} is a setting of the run, not a config field; "
                           f"give it as {RUN_OPTIONS[name]}")
        elif strict:
            known = [*paths, *(n for n, new in ALIASES.items() if new in paths)]
            raise RunError(f"{owner} has no config field {name!r}.{closest(name, known)}"
                           f" Fields: {', '.join(paths)}.")
        else:
            out[name] = value
    return out


def comparable_config(algorithm: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """A saved config (``config.json``, a checkpoint's header) in today's names, flat by
    path, for comparing two of them: old names and flat fields of what is now a group
    compare equal to their new forms. Names it cannot place are kept as they are."""
    try:
        config = get_algorithm(algorithm).config()
        out = canonical_names(config, values, algorithm, strict=False)
    except (RunError, ImportError, TypeError, ValueError):  # an algorithm gone: compare as is
        return dict(values)
    for path, value in list(out.items()):
        if path.endswith(f".{GROUP_SHORTHAND}") and _is_none_word(value):
            out[path] = None
    return out


def _is_none_word(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip().lower() == "none")


def default_env(name: str) -> str:
    """The environment algorithm ``name`` trains on when none is named."""
    return get_algorithm(name).default_env


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
    record = get_algorithm(algorithm)
    config = base if base is not None else record.config()
    if not isinstance(config, record.config):
        raise RunError(f"config for {algorithm} must be a {public_name(record.config)}")
    values: dict[str, Any] = {}
    if toml is not None:
        values.update(canonical_names(config, read_toml(toml), algorithm))
    shortcuts: dict[str, str] = {}
    for value, candidates, flag in ((num_envs, NUM_ENVS_FIELDS, "--num-envs"),
                                    (total_steps, TOTAL_STEPS_FIELDS, "--total-steps")):
        if value is not None:
            path = _shortcut(record, algorithm, candidates, flag)
            values[path], shortcuts[path] = value, f"{flag} {value}"
    explicit = canonical_names(config, overrides or {}, algorithm)
    for path in explicit.keys() & shortcuts.keys():  # --num-envs 4 --set num_envs=8
        raise RunError(f"{shortcuts[path]} and {path}={explicit[path]} (--set or a config "
                       f"table) both set {path}; give it once")
    values.update(explicit)
    current = field_paths(config)
    coerced = {}
    for path, value in values.items():
        if path.endswith(f".{GROUP_SHORTHAND}") and _is_none_word(value):
            coerced[path] = None  # a group's kind: none
        else:
            coerced[path] = coerce(path, value, current[path][0])
    try:
        config = replace_paths(config, coerced) if coerced else config
        config.validate()
    except (ValueError, TypeError, OverflowError) as e:
        raise RunError(str(e).splitlines()[0] if str(e) else repr(e)) from None
    return config


def _shortcut(record: Algorithm, algorithm: str, candidates: tuple[str, ...],
              flag: str) -> str:
    fields = config_fields(record)
    for name in candidates:
        if name in fields:
            return name
    if flag == "--total-steps":
        for name, unit in OTHER_BUDGETS.items():
            if name in fields:
                raise RunError(f"--total-steps counts environment steps; {algorithm}'s budget "
                               f"is in {unit}: use --set {name}=N")
        raise RunError(f"--total-steps counts environment steps; {algorithm}'s config has no "
                       f"{' or '.join(candidates)} (fields: {', '.join(fields)}); set its "
                       f"budget with --set FIELD=VALUE")
    raise RunError(
        f"{flag} does not apply to {algorithm}: its config has none of "
        f"{', '.join(candidates)} (fields: {', '.join(fields)}); use --set FIELD=VALUE"
    )


def read_toml(path: str | os.PathLike) -> dict[str, Any]:
    """Config fields from a TOML file: top-level ``field = value`` pairs (or a ``[config]`` table)."""
    import tomllib

    from jaxrl.output.files import SMALL_FILE, read_bytes

    path = Path(path)
    if path.is_dir():
        raise RunError(f"config file {path} is a directory, not a TOML file")
    try:
        # A regular file of sane size only: a FIFO or /dev/zero is refused, not waited on.
        data = tomllib.loads(read_bytes(path, SMALL_FILE).decode())
    except FileNotFoundError:
        raise RunError(f"config file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as e:
        raise RunError(f"cannot read config file {path}: {e}") from None
    except tomllib.TOMLDecodeError as e:
        raise RunError(f"config file {path} is not valid TOML: {e}") from None
    if set(data) == {"config"} and isinstance(data["config"], dict):
        data = data["config"]
    for name, value in data.items():  # a table sets a group of fields ([curiosity])
        if isinstance(value, dict) and any(isinstance(v, dict) for v in value.values()):
            raise RunError(f"config file {path}: [{name}] holds a table; write fields as "
                           f"top-level 'field = value' lines, a group's under its own "
                           f"[group] table")
    return data


def config_to_dict(config: Any) -> dict[str, Any]:
    """JSON-ready values of every config field (tuples become lists, a group a dict)."""
    return {f.name: config_to_dict(v) if is_group(v := getattr(config, f.name)) else jsonable(v)
            for f in dataclasses.fields(config)}


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
    """Inverse of ``config_to_dict`` (validated); a ``config.json`` written before a
    rename (``ALIASES``, flat fields of what is now a group) reads the same."""
    if not isinstance(values, Mapping):
        raise RunError(f"a {algorithm} config is a table of fields, got {type(values).__name__}")
    return resolve_config(algorithm, dict(values))


# ------------------------------------------------------------------------------ presets
def presets(name: str) -> dict[str, Preset]:
    """The named presets algorithm ``name`` offers (``{}`` when it has none)."""
    return dict(get_algorithm(name).presets)


def preset(algorithm: str, name: str) -> Preset:
    """The algorithm's preset ``name``; ``RunError`` for an unknown name."""
    table = presets(algorithm)
    if name not in table:
        have = ", ".join(table) if table else "none"
        raise RunError(f"{algorithm} has no preset {name!r} (presets: {have})."
                       f"{closest(name, list(table))}")
    return table[name]


def preset_changes(algorithm: str, p: Preset) -> dict[str, Any]:
    """The config fields a preset sets to other values than the defaults (a group's
    fields as ``"group.field"``)."""
    defaults = dotted(config_to_dict(get_algorithm(algorithm).config()))
    mine = dotted(config_to_dict(p.config))
    return {k: v for k, v in mine.items() if defaults.get(k) != v}

