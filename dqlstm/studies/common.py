"""Helpers shared by the studies: torch settings, statistics, tables, TOML specs."""

from __future__ import annotations

import contextlib
import csv
import math
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from dqlstm.config import ConfigError, read_toml
from dqlstm.training.threads import intra_op_threads


@contextlib.contextmanager
def study_torch_settings(threads: int = 1) -> Iterator[None]:
    """One intra-op thread and opt_einsum's greedy path search, restored afterwards.

    Why greedy: cut-exact contracts its fragments with ``torch.einsum``; torch's
    default ``auto`` strategy runs opt_einsum's branch-and-bound path search on
    every call, which can cost several times the contraction itself. Greedy paths
    give the same values (to rounding) at a fraction of the cost.
    """
    strategy_before = torch.backends.opt_einsum.strategy
    if torch.backends.opt_einsum.is_available():
        torch.backends.opt_einsum.strategy = "greedy"
    try:
        with intra_op_threads(threads):
            yield
    finally:
        if torch.backends.opt_einsum.is_available():
            torch.backends.opt_einsum.strategy = strategy_before


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value; NaN for none)."""
    vals = [float(v) for v in values]
    if not vals:
        return math.nan, math.nan
    mean = sum(vals) / len(vals)
    if len(vals) == 1:
        return mean, 0.0
    var = sum((v - mean) ** 2 for v in vals) / (len(vals) - 1)
    return mean, math.sqrt(var)


def fmt_mean_std(mean: float, std: float, digits: int = 3) -> str:
    if math.isnan(mean):
        return "-"
    return f"{mean:.{digits}e} ± {std:.1e}"


def write_csv(path: Path, rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(columns), extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({c: _csv_value(row.get(c)) for c in columns})
    return path


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float) and math.isnan(value):
        return ""
    if isinstance(value, (list, tuple)):
        return " ".join(str(v) for v in value)
    return value


def markdown_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[tuple[str, str]]) -> str:
    """``columns`` = (key, header) pairs; values are written with ``str``."""
    head = "| " + " | ".join(h for _, h in columns) + " |"
    rule = "| " + " | ".join("---" for _ in columns) + " |"
    body = ["| " + " | ".join(str(r.get(k, "")) for k, _ in columns) + " |" for r in rows]
    return "\n".join([head, rule, *body])


def read_spec(path: str | Path, allowed: Mapping[str, set[str]]) -> dict[str, Any]:
    """Read a study TOML; unknown top-level tables or keys fail early, naming them.

    ``allowed`` maps each top-level table to its allowed keys (an empty set =
    free-form table, e.g. a partial run config).
    """
    raw = read_toml(path)
    for section, table in raw.items():
        if section not in allowed:
            raise ConfigError(f"{path}: unknown table [{section}]; allowed: {sorted(allowed)}")
        keys = allowed[section]
        if keys and isinstance(table, Mapping):
            unknown = set(table) - keys
            if unknown:
                raise ConfigError(f"{path}: unknown keys {sorted(unknown)} in [{section}]; allowed: {sorted(keys)}")
    return raw
