"""Run configuration: TOML files checked against a schema, resolved to a plain dict.

Sections and keys (defaults in brackets)::

    [data]   task ["narma5"] in narma5|narma10|narma|oscillator, order (NARMA order;
             required for task="narma"), length [300 NARMA, 240 oscillator],
             window [4], train_fraction [0.67], input ["sine"] in sine|random,
             scale ["train"] in train|all (what the MinMax scaler is fitted on),
             seed [train.seed] (random NARMA input), features ["y"] in y|y+u
             (y+u feeds the NARMA input u(t) beside y(t)), warmup [0] (points dropped
             from the start of the series), validation_fraction [0.2] (last part of the
             training windows, used only for choices made from data, e.g. the AR order)
    [model]  kind ["qlstm"] in lstm|qlstm, hidden_size [5], num_layers [1] (LSTM),
             n_qubits [4], ansatz ["chen2020"], layers [2], dressed [true],
             module_size [3], links [0], mode ["exact"] in exact|cut-exact|sampled,
             max_qubits (QPU width the circuits are cut for; default: the widest [qpus] device,
             else one module per QPU for the modular ansatz), cell ["4vqc"] in 4vqc|6vqc,
             init ["uniform"] in uniform|small-normal; sampled mode only: shots [1000],
             allocation ["uniform"] in uniform|weighted|adaptive, gradient ["parameter-shift"]
             in parameter-shift|spsa, spsa_perturbation [0.1] (c of c_k = c / (k+1)^0.101)
    [train]  optimizer ["rmsprop"] in rmsprop|adam, lr [0.01], epochs [100],
             batch_size [10], seed [0], threads [1] (torch intra-op threads;
             0 keeps torch's default - small models run fastest on one thread)
    [qpus]   the QPUs (schema in ``backends.config``), checked in every mode; cutting
             modes cut for their widths and ``sampled`` runs on them
    [budget] max_shots, max_qpu_seconds (optional caps on what a run may spend on QPUs:
             over the estimate it refuses to start; reached mid-run it stops at a step
             boundary with a checkpoint that ``--resume`` continues once raised)
    [run]    out (output folder; the CLI defaults it to runs/<config stem>)

A key that does not apply to the model is an error that names it (``n_qubits``
for an LSTM, ``num_layers`` for a QLSTM, ``shots`` outside ``sampled``).
A resolved config has every key filled in except those without meaning
(``order`` for the oscillator, ``run.out`` until the CLI sets it): TOML has
no null, so absent means "not applicable".
"""

from __future__ import annotations

import copy
import difflib
import json
import math
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from importlib import resources
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

from dqlstm.choices import (
    ALLOCATIONS,
    ANSATZE,
    CELLS,
    DEFAULT_LENGTH,
    DEFAULT_SHOTS,
    FEATURES,
    GRADIENTS,
    INITS,
    MAX_SHOTS,
    MODEL_KINDS,
    MODES,
    NARMA_INPUTS,
    OPTIMIZERS,
    SCALE_FITS,
    TASKS,
    task_order,
)

FREE_FORM_SECTIONS = ("qpus",)
SAMPLED_KEYS = ("shots", "allocation", "gradient", "spsa_perturbation")  # mode = "sampled" only
SAMPLED_DEFAULTS = {
    "shots": DEFAULT_SHOTS,
    "allocation": "uniform",
    "gradient": "parameter-shift",
    "spsa_perturbation": 0.1,
}
QLSTM_KEYS = (
    "n_qubits",
    "ansatz",
    "layers",
    "dressed",
    "cell",
    "init",
    "module_size",
    "links",
    "mode",
    "max_qubits",
) + SAMPLED_KEYS
LSTM_KEYS = ("num_layers",)


class ConfigError(ValueError):
    """An invalid configuration (unknown key, wrong type, value out of range)."""


@dataclass(frozen=True)
class Key:
    """Schema entry: accepted type, default (``None`` = no default), constraints."""

    type: type
    default: Any = None
    choices: tuple[Any, ...] | None = None
    check: Callable[[Any], str | None] | None = None  # returns a problem or None


def positive(v: Any) -> str | None:
    return None if v > 0 else "must be > 0"


def non_negative(v: Any) -> str | None:
    return None if v >= 0 else "must be >= 0"


def open_unit(v: Any) -> str | None:
    return None if 0 < v < 1 else "must be strictly between 0 and 1"


def at_least(n: int) -> Callable[[Any], str | None]:
    return lambda v: None if v >= n else f"must be >= {n}"


def shots_in_range(v: Any) -> str | None:
    return None if 0 < v <= MAX_SHOTS else f"must be between 1 and {MAX_SHOTS:.0e}"


def non_empty(v: Any) -> str | None:
    return None if str(v).strip() else "must not be empty"


SCHEMA: dict[str, dict[str, Key]] = {
    "data": {
        "task": Key(str, "narma5", choices=TASKS),
        "order": Key(int, None, check=positive),
        "length": Key(int, None, check=at_least(2)),
        "window": Key(int, 4, check=positive),
        "train_fraction": Key(float, 0.67, check=open_unit),
        "input": Key(str, "sine", choices=NARMA_INPUTS),
        "scale": Key(str, "train", choices=SCALE_FITS),
        "seed": Key(int, None, check=non_negative),
        "features": Key(str, "y", choices=FEATURES),
        "warmup": Key(int, 0, check=non_negative),
        "validation_fraction": Key(float, 0.2, check=lambda v: None if 0 <= v < 1 else "must be in [0, 1)"),
    },
    "model": {
        "kind": Key(str, "qlstm", choices=MODEL_KINDS),
        "hidden_size": Key(int, 5, check=positive),
        "num_layers": Key(int, 1, check=positive),
        "n_qubits": Key(int, 4, check=positive),
        "ansatz": Key(str, "chen2020", choices=ANSATZE),
        "layers": Key(int, 2, check=positive),
        "dressed": Key(bool, True),
        "cell": Key(str, "4vqc", choices=CELLS),
        "init": Key(str, "uniform", choices=INITS),
        "module_size": Key(int, 3, check=positive),
        "links": Key(int, 0, check=non_negative),
        "mode": Key(str, "exact", choices=MODES),
        "max_qubits": Key(int, None, check=positive),
        "shots": Key(int, None, check=shots_in_range),
        "allocation": Key(str, None, choices=ALLOCATIONS),
        "gradient": Key(str, None, choices=GRADIENTS),
        "spsa_perturbation": Key(float, None, check=positive),
    },
    "train": {
        "optimizer": Key(str, "rmsprop", choices=OPTIMIZERS),
        "lr": Key(float, 0.01, check=positive),
        "epochs": Key(int, 100, check=non_negative),
        "batch_size": Key(int, 10, check=positive),
        "seed": Key(int, 0, check=non_negative),
        "threads": Key(int, 1, check=non_negative),
    },
    "qpus": {},
    "budget": {
        "max_shots": Key(int, None, check=positive),
        "max_qpu_seconds": Key(float, None, check=positive),
    },
    "run": {
        "out": Key(str, None, check=non_empty),
    },
}

_TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "a boolean (true/false)"}


def _suggest(word: str, options: list[str] | tuple[str, ...]) -> str:
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _check_value(section: str, name: str, key: Key, value: Any, source: str) -> Any:
    where = f"{source}: [{section}] {name}"
    # bool is an int subclass in Python; a TOML true is never a count.
    ok = isinstance(value, key.type) and not (key.type is not bool and isinstance(value, bool))
    if key.type is float and isinstance(value, int) and not isinstance(value, bool):
        value, ok = float(value), True
    if not ok:
        raise ConfigError(f"{where} must be {_TYPE_NAMES[key.type]}, got {type(value).__name__} {value!r}")
    if key.type is float and not math.isfinite(value):
        raise ConfigError(f"{where} must be finite, got {value!r}")
    if key.choices is not None and value not in key.choices:
        raise ConfigError(
            f"{where} = {value!r} is not allowed; choose one of {list(key.choices)}"
            + _suggest(str(value), [str(c) for c in key.choices])
        )
    if key.check is not None:
        problem = key.check(value)
        if problem:
            raise ConfigError(f"{where} {problem}, got {value!r}")
    return value


def validate(
    raw: Mapping[str, Any],
    source: str = "config",
    schema: Mapping[str, Mapping[str, Key]] | None = None,
    free_form: tuple[str, ...] = FREE_FORM_SECTIONS,
) -> dict[str, dict[str, Any]]:
    """Check sections, key names and types; return a deep copy (no defaults filled).

    ``schema``/``free_form`` default to the ``dqlstm train`` schema; other commands
    (e.g. ``dqlstm federate``) pass their own.
    """
    schema = SCHEMA if schema is None else schema
    sections = tuple(schema)
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{source}: a config must be a table, got {type(raw).__name__}")
    out: dict[str, dict[str, Any]] = {}
    for section, table in raw.items():
        if section not in schema:
            raise ConfigError(
                f"{source}: unknown section [{section}]; allowed sections: {list(sections)}"
                + _suggest(section, sections)
            )
        if not isinstance(table, Mapping):
            raise ConfigError(f"{source}: [{section}] must be a table, got {type(table).__name__} {table!r}")
        if section in free_form:
            out[section] = copy.deepcopy(dict(table))
            continue
        keys = schema[section]
        checked: dict[str, Any] = {}
        for name, value in table.items():
            if name not in keys:
                raise ConfigError(
                    f"{source}: unknown key {name!r} in section [{section}]; allowed keys: {list(keys)}"
                    + _suggest(name, list(keys))
                )
            checked[name] = _check_value(section, name, keys[name], value, source)
        out[section] = checked
    return out


def set_dotted(cfg: dict[str, dict[str, Any]], dotted: str, value: Any) -> None:
    section, _, name = dotted.partition(".")
    if not name:
        raise ConfigError(f"override {dotted!r} must look like 'section.key'")
    cfg.setdefault(section, {})[name] = value


def check_model_keys(model: Mapping[str, Any], source: str = "config") -> None:
    """Raise ``ConfigError`` naming every given ``[model]`` key that does not apply to the model."""
    kind = model.get("kind", SCHEMA["model"]["kind"].default)
    if kind == "lstm":
        bad, what = [k for k in QLSTM_KEYS if k in model], "kind = 'lstm' (a classical LSTM)"
    else:
        bad, what = [k for k in LSTM_KEYS if k in model], f"kind = {kind!r}"
        mode = model.get("mode", SCHEMA["model"]["mode"].default)
        sampled_only = [k for k in SAMPLED_KEYS if k in model]
        if sampled_only and mode != "sampled":
            bad, what = (
                bad + sampled_only,
                f"mode = {mode!r} ({', '.join(SAMPLED_KEYS)} apply to mode 'sampled' only)",
            )
    if bad:
        verb = "does" if len(bad) == 1 else "do"
        raise ConfigError(f"{source}: [model] {', '.join(bad)} {verb} not apply to {what}; remove it")


def resolve_model_keys(model: Mapping[str, Any]) -> dict[str, Any]:
    """A resolved ``[model]``: without the keys its kind does not take (absent = not applicable),
    and with the sampling settings a sampled run uses written down (so a resume compares them)."""
    foreign = QLSTM_KEYS if model.get("kind") == "lstm" else LSTM_KEYS
    out = {k: v for k, v in model.items() if k not in foreign}
    if out.get("kind") == "qlstm" and out.get("mode") == "sampled":
        for key, value in SAMPLED_DEFAULTS.items():
            out.setdefault(key, value)
    return out


def check_qpus_table(table: Any, source: str = "config") -> None:
    """Check a ``[qpus]`` table's schema (devices, kinds, widths) without building anything."""
    if table is None:
        return
    from backends.errors import BackendConfigError
    from backends.schema import check_pool_config

    try:
        check_pool_config(table)
    except BackendConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None


def resolve_config(
    raw: Mapping[str, Any],
    overrides: Mapping[str, Any] | None = None,
    source: str = "config",
) -> dict[str, dict[str, Any]]:
    """Validate ``raw``, apply ``overrides`` (``{"train.epochs": 5}``; ``None``
    values are skipped), fill defaults and derived values."""
    cfg = validate(raw, source)
    if overrides:
        given = {dotted: value for dotted, value in overrides.items() if value is not None}
        if given.get("model.mode", "sampled") != "sampled":
            # a mode chosen on the command line replaces the file's: its sampling settings go with it
            # (train a sampled config exactly, then deploy it with ``dqlstm evaluate``)
            for key in SAMPLED_KEYS:
                if f"model.{key}" not in given:
                    cfg.get("model", {}).pop(key, None)
        for dotted, value in given.items():
            set_dotted(cfg, dotted, value)
        cfg = validate(cfg, f"{source} (with command-line overrides)")

    check_model_keys(cfg.get("model", {}), source)
    check_qpus_table(cfg.get("qpus"), source)

    resolved: dict[str, dict[str, Any]] = {}
    for section, keys in SCHEMA.items():
        given = cfg.get(section, {})
        if section in FREE_FORM_SECTIONS:
            resolved[section] = given
            continue
        resolved[section] = {
            name: given.get(name, key.default)
            for name, key in keys.items()
            if given.get(name, key.default) is not None
        }
    resolved["model"] = resolve_model_keys(resolved["model"])

    data = resolved["data"]
    try:
        order = task_order(data["task"], data.get("order"))
    except ValueError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    if order is not None:
        data["order"] = order
    data.setdefault("length", DEFAULT_LENGTH["oscillator" if order is None else "narma"])
    if data["window"] >= data["length"]:
        raise ConfigError(
            f"{source}: [data] window = {data['window']} is too long for a series of "
            f"length {data['length']} (need window < length)"
        )
    if data["features"] == "y+u":
        if order is None:
            raise ConfigError(
                f"{source}: [data] features = 'y+u' feeds the NARMA input u; task {data['task']!r} has none"
            )
        if data["window"] < order:
            raise ConfigError(
                f"{source}: [data] features = 'y+u' needs window >= the NARMA order {order} (y(t+1) depends on "
                f"u(t-{order - 1})), got window = {data['window']}"
            )
    if data["warmup"] + data["window"] + 2 > data["length"]:
        raise ConfigError(
            f"{source}: [data] warmup = {data['warmup']} leaves {data['length'] - data['warmup']} of "
            f"{data['length']} points; a window of {data['window']} needs at least window + 2"
        )
    data.setdefault("seed", resolved["train"]["seed"])
    resolved["data"] = {k: data[k] for k in SCHEMA["data"] if k in data}  # schema order
    return resolved


def read_toml(path: str | Path) -> dict[str, Any]:
    """Parse a TOML file; syntax errors name the file."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"config file not found: {p}")
    try:
        with p.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: invalid TOML: {exc}") from None


def load_config(path: str | Path, overrides: Mapping[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """Read, validate and resolve a TOML config file."""
    return resolve_config(read_toml(path), overrides, source=str(path))


def default_config_path() -> Path:
    """The config shipped inside the package (NARMA-5, 4-qubit QLSTM)."""
    return Path(str(resources.files("dqlstm") / "configs" / "default.toml"))


# --- writing ------------------------------------------------------------------

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _toml_key(key: str) -> str:
    return key if _BARE_KEY.match(key) else json.dumps(key, ensure_ascii=False)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        # JSON string escapes are a subset of TOML basic-string escapes.
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{_toml_key(str(k))} = {_toml_value(v)}" for k, v in value.items()) + "}"
    raise ConfigError(f"cannot write {type(value).__name__} {value!r} to TOML")


def _toml_table(prefix: list[str], table: Mapping[str, Any], lines: list[str]) -> None:
    lines.append(f"[{'.'.join(_toml_key(p) for p in prefix)}]")
    subtables = []
    for key, value in table.items():
        if isinstance(value, Mapping):
            subtables.append((key, value))
        elif value is not None:
            lines.append(f"{_toml_key(str(key))} = {_toml_value(value)}")
    lines.append("")
    for key, value in subtables:
        _toml_table(prefix + [str(key)], value, lines)


def to_toml(cfg: Mapping[str, Mapping[str, Any]]) -> str:
    """Serialise a config (tables of scalars, arrays and sub-tables) as TOML."""
    lines: list[str] = []
    for section, table in cfg.items():
        if not isinstance(table, Mapping):
            raise ConfigError(f"top-level entry {section!r} must be a table to write TOML")
        _toml_table([str(section)], table, lines)
    return "\n".join(lines).rstrip() + "\n"


def dump_config(cfg: Mapping[str, Any], path: str | Path) -> Path:
    """Write ``cfg`` as TOML or JSON, chosen by the file suffix."""
    p = Path(path)
    if p.suffix == ".toml":
        p.write_text(to_toml(cfg))
    elif p.suffix == ".json":
        p.write_text(json.dumps(cfg, indent=2, default=str) + "\n")
    else:
        raise ConfigError(f"config output must end in .toml or .json, got {p.name}")
    return p
