"""``dqlstm federate`` configs: the train schema's machinery with federated sections.

Sections and keys (defaults in brackets)::

    [data]      task ["susy"] in susy|susy-csv|narma5|narma10|narma|oscillator
                susy (generated SUSY-like events): events [2000], seed [federated.seed]
                susy-csv (the UCI layout): path (required), max_rows (all if unset)
                both tabular tasks: test_fraction [0.2], steps [6] (18 features read
                as steps x 18/steps); series tasks: the keys of ``dqlstm train``'s [data]
    [model]     as for ``dqlstm train``
    [train]     optimizer ["rmsprop"], lr [0.01], batch_size [10], threads [1]
                (local training of every client)
    [federated] clients [10], fraction [1.0] in (0, 1], rounds [10], local_epochs [1],
                partition ["contiguous"] in contiguous|interleaved|label-skew, seed [0],
                alpha [0.5] (label-skew only: Dirichlet concentration over clients per class),
                optimizer_state ["reset"] in reset|keep
    [qpus]      as for ``dqlstm train``; [run] out
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dqlstm.choices import (
    OPTIMIZER_STATES,
    PARTITIONS,
    SUSY_FEATURES,
    TABULAR_TASKS,
    TASKS,
)
from dqlstm.config import (
    FREE_FORM_SECTIONS,
    SCHEMA,
    ConfigError,
    Key,
    at_least,
    check_model_keys,
    check_qpus_table,
    non_negative,
    open_unit,
    positive,
    read_toml,
    resolve_config,
    resolve_model_keys,
    set_dotted,
    validate,
)


def _fraction(v: Any) -> str | None:
    return None if 0 < v <= 1 else "must be in (0, 1]"


def _divides_features(v: Any) -> str | None:
    if v < 1 or SUSY_FEATURES % v:
        return f"must divide the {SUSY_FEATURES} features into equal steps (1, 2, 3, 6, 9 or 18)"
    return None


DEFAULT_ALPHA = 0.5  # label-skew: strongly non-i.i.d. shards (Hsu, Qi, Brown 2019 use 0.05-100)

TABULAR_KEYS = {
    "susy": ("events", "test_fraction", "steps", "seed"),
    "susy-csv": ("path", "max_rows", "test_fraction", "steps"),
}

FEDERATED_SCHEMA: dict[str, dict[str, Key]] = {
    "data": {
        **SCHEMA["data"],
        "task": Key(str, "susy", choices=TABULAR_TASKS + TASKS),
        "events": Key(int, 2000, check=at_least(2)),
        "path": Key(str, None),
        "max_rows": Key(int, None, check=positive),
        "test_fraction": Key(float, 0.2, check=open_unit),
        "steps": Key(int, 6, check=_divides_features),
    },
    "model": SCHEMA["model"],
    "train": {k: SCHEMA["train"][k] for k in ("optimizer", "lr", "batch_size", "threads")},
    "federated": {
        "clients": Key(int, 10, check=positive),
        "fraction": Key(float, 1.0, check=_fraction),
        "rounds": Key(int, 10, check=non_negative),
        "local_epochs": Key(int, 1, check=positive),
        "partition": Key(str, "contiguous", choices=PARTITIONS),
        "alpha": Key(float, None, check=positive),  # label-skew only (default DEFAULT_ALPHA)
        "seed": Key(int, 0, check=non_negative),
        "optimizer_state": Key(str, "reset", choices=OPTIMIZER_STATES),
    },
    "qpus": {},
    "run": SCHEMA["run"],
}


def _defaults(section: str, given: Mapping[str, Any]) -> dict[str, Any]:
    keys = FEDERATED_SCHEMA[section]
    return {n: given.get(n, k.default) for n, k in keys.items() if given.get(n, k.default) is not None}


def _resolve_data(given: Mapping[str, Any], seed: int, source: str) -> dict[str, Any]:
    task = given.get("task", FEDERATED_SCHEMA["data"]["task"].default)
    if task in TABULAR_TASKS:
        allowed = TABULAR_KEYS[task]
        for name in given:
            if name != "task" and name not in allowed:
                raise ConfigError(
                    f"{source}: [data] {name} does not apply to task {task!r}; its keys are {list(allowed)}"
                )
        if task == "susy-csv" and "path" not in given:
            raise ConfigError(f"{source}: [data] task = 'susy-csv' needs data.path (the CSV file)")
        data = {"task": task}
        for name in allowed:
            value = given.get(name, FEDERATED_SCHEMA["data"][name].default)
            if name == "seed" and value is None:
                value = seed
            if value is not None:
                data[name] = value
        if task == "susy-csv":
            data["path"] = str(Path(data["path"]).expanduser())
        return data
    for name in given:
        if name not in SCHEMA["data"]:
            raise ConfigError(
                f"{source}: [data] {name} applies only to tabular tasks {list(TABULAR_TASKS)}, not {task!r}"
            )
    # Series tasks: exactly what `dqlstm train` resolves (derived order, length, seed).
    return resolve_config({"data": dict(given), "train": {"seed": seed}}, source=source)["data"]


def resolve_federated_config(
    raw: Mapping[str, Any], overrides: Mapping[str, Any] | None = None, source: str = "config"
) -> dict[str, dict[str, Any]]:
    """Validate ``raw`` against :data:`FEDERATED_SCHEMA`, apply ``overrides``
    (``{"federated.rounds": 5}``; ``None`` skipped), fill defaults."""
    cfg = validate(raw, source, schema=FEDERATED_SCHEMA, free_form=FREE_FORM_SECTIONS)
    if overrides:
        for dotted, value in overrides.items():
            if value is not None:
                set_dotted(cfg, dotted, value)
        cfg = validate(cfg, f"{source} (with command-line overrides)", schema=FEDERATED_SCHEMA)
    check_model_keys(cfg.get("model", {}), source)
    check_qpus_table(cfg.get("qpus"), source)
    resolved: dict[str, dict[str, Any]] = {}
    for section in FEDERATED_SCHEMA:
        given = cfg.get(section, {})
        if section in FREE_FORM_SECTIONS:
            resolved[section] = given
        elif section != "data":
            resolved[section] = _defaults(section, given)
    resolved["model"] = resolve_model_keys(resolved["model"])
    fed = resolved["federated"]
    if fed["partition"] == "label-skew":
        fed.setdefault("alpha", DEFAULT_ALPHA)
    elif "alpha" in fed:
        raise ConfigError(
            f"{source}: [federated] alpha applies to partition = 'label-skew' only, not {fed['partition']!r}"
        )
    resolved["data"] = _resolve_data(cfg.get("data", {}), resolved["federated"]["seed"], source)
    return {s: resolved[s] for s in FEDERATED_SCHEMA}


def load_federated_config(
    path: str | Path, overrides: Mapping[str, Any] | None = None
) -> dict[str, dict[str, Any]]:
    """Read, validate and resolve a federated TOML config file."""
    return resolve_federated_config(read_toml(path), overrides, source=str(path))
