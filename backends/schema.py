"""The schema of a ``[qpus]`` table: its keys, and a check that builds nothing.

Light on purpose (no qiskit, no Aer): a config is checked in every mode, and
a mistyped key must be reported at once. :mod:`backends.config` builds the
QPUs and the pool from a table that passes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from .errors import BackendConfigError

ENGINES = ("local", "process", "ray")
COMMON_KEYS = {"kind", "name", "count"}
AER_KEYS = COMMON_KEYS | {"num_qubits", "seed", "noise", "coupling_map", "max_parallel_threads", "optimization_level",
                       "shots_method"}
IBM_KEYS = COMMON_KEYS | {"backend", "num_qubits", "channel", "instance", "optimization_level", "local_noise",
                       "job_timeout"}
POOL_KEYS = {"engine", "seed", "timeout", "retries", "backoff", "max_backoff", "ray_address", "devices"}
# keys older configs may still carry -> why they went
REMOVED_KEYS = {
    "shots": "shots are set in [model] shots (the pool never used this default in training)",
    "cache_size": "the result cache was removed: every PUB is an independent draw",
}
SECRET_KEYS = {"token", "api_key", "apikey", "password"}
NOISE_KEYS = {"depolarizing_1q", "depolarizing_2q", "readout", "basis_gates"}  # or fake_backend alone


def reject_unknown(table: Mapping[str, Any], allowed: set[str], where: str) -> None:
    """Name removed keys (with why they went) and unknown keys (with what is allowed)."""
    removed = sorted(set(table) & set(REMOVED_KEYS) - allowed)
    if removed:
        raise BackendConfigError("; ".join(f"{where} {k}: {REMOVED_KEYS[k]}; remove it" for k in removed))
    unknown = set(table) - allowed
    if unknown:
        raise BackendConfigError(f"{where}: unknown keys {sorted(unknown)}; allowed: {sorted(allowed)}")


def check_pool_config(config: Mapping[str, Any]) -> None:
    """Check a ``[qpus]`` table (keys, kinds, names, counts, widths) without building anything.

    What :func:`pool_from_config` would reject for its shape is rejected here
    too, so an ``exact`` run or an LSTM with a broken table fails early; what
    needs the device itself (an IBM account, a fake backend's size) is checked
    when the pool is built.
    """
    if not isinstance(config, Mapping):
        raise BackendConfigError(f"[qpus] must be a table, got {type(config).__name__}")
    table = config["qpus"] if "qpus" in config else config
    if not isinstance(table, Mapping):
        raise BackendConfigError("[qpus] must be a table")
    reject_unknown(table, POOL_KEYS, "[qpus]")
    if table.get("engine", "local") not in ENGINES:
        raise BackendConfigError(f"[qpus]: unknown engine {table.get('engine')!r}; use one of {ENGINES}")
    _check_number(table, "seed", "[qpus]", integer=True, minimum=0)
    _check_number(table, "timeout", "[qpus]", positive=True)
    _check_number(table, "retries", "[qpus]", integer=True, minimum=0)
    _check_number(table, "backoff", "[qpus]", minimum=0)
    _check_number(table, "max_backoff", "[qpus]", minimum=0)
    devices = table.get("devices")
    if not isinstance(devices, list) or not devices:
        raise BackendConfigError("[qpus] needs at least one [[qpus.devices]] entry")
    for position, entry in enumerate(devices):
        check_device_entry(entry, position)


def device_names(entry: Mapping[str, Any]) -> list[str]:
    """The QPU names of a (checked) ``[[qpus.devices]]`` entry: ``name``, or ``name0..`` with ``count``."""
    name, count = entry["name"], entry.get("count", 1)
    return [name] if count == 1 else [f"{name}{i}" for i in range(count)]


def check_device_entry(entry: Any, position: int) -> str:
    """Check one ``[[qpus.devices]]`` entry without building it; return how errors name it."""
    where = f"[[qpus.devices]] #{position}"
    if not isinstance(entry, Mapping):
        raise BackendConfigError(f"{where} must be a table, got {type(entry).__name__}")
    secrets = SECRET_KEYS & {str(k).lower() for k in entry}
    if secrets:
        raise BackendConfigError(
            f"{where}: remove {sorted(secrets)} - credentials never go in configs; "
            "save the account with QiskitRuntimeService.save_account(...) instead"
        )
    name = entry.get("name")
    if not isinstance(name, str) or not name:
        raise BackendConfigError(f"{where}: 'name' (a non-empty string) is required")
    where = f"{where} ({name!r})"
    kind = entry.get("kind", "aer")
    if kind not in ("aer", "ibm"):
        raise BackendConfigError(f"{where}: unknown kind {kind!r}; use 'aer' or 'ibm'")
    reject_unknown(entry, AER_KEYS if kind == "aer" else IBM_KEYS, where)
    count = entry.get("count", 1)
    if isinstance(count, bool) or not isinstance(count, int) or count <= 0:
        raise BackendConfigError(f"{where}: count must be a positive integer, got {count!r}")
    width = entry.get("num_qubits")
    if width is not None and (isinstance(width, bool) or not isinstance(width, int) or width <= 0):
        raise BackendConfigError(f"{where}: num_qubits must be positive, got {width!r} (a whole number of qubits)")
    noise = entry.get("noise")
    if noise is not None:
        if not isinstance(noise, Mapping):
            raise BackendConfigError(f"{where}: noise must be a table, got {type(noise).__name__} {noise!r}")
        unknown = set(noise) - NOISE_KEYS - {"fake_backend"}
        if unknown:
            raise BackendConfigError(
                f"{where}: unknown noise keys {sorted(unknown)}; allowed: fake_backend or {sorted(NOISE_KEYS)}"
            )
    if kind == "aer" and width is None and not (isinstance(noise, Mapping) and "fake_backend" in noise):
        raise BackendConfigError(f"{where}: num_qubits is required for kind = 'aer'")
    if kind == "ibm" and not (isinstance(entry.get("backend"), str) and entry.get("backend")):
        raise BackendConfigError(f"{where}: 'backend' (an IBM device or fake backend name) is required")
    return where


def _check_number(table: Mapping[str, Any], key: str, where: str, *, integer: bool = False,
                  positive: bool = False, minimum: float | None = None) -> None:
    """An optional numeric key: the right type, finite, in range; else a one-line error naming it."""
    if key not in table:
        return
    value = table[key]
    kinds = (int,) if integer else (int, float)
    ok = isinstance(value, kinds) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and not (positive and value <= 0) and not (minimum is not None and value < minimum)
    if not ok:
        what = "an integer" if integer else "a number"
        bound = " > 0" if positive else f" >= {minimum:g}" if minimum is not None else ""
        raise BackendConfigError(f"{where}: {key} must be {what}{bound}, got {value!r}")
