"""Build QPUs and a pool from a ``[qpus]`` TOML table.

Schema (every key optional unless marked)::

    [qpus]
    engine = "local"          # "local" (a thread per QPU) | "process" (a process per QPU) | "ray" (an actor per QPU)
    seed = 1234               # pool seed: same seed and same calls -> same counts
    timeout = 120.0           # seconds per job before it is rerouted (default: each QPU's
                              # default_timeout: >= 600 s on local simulators, none on IBM hardware)
    retries = 3               # retries per PUB after its first failure
    backoff = 0.5             # first retry delay (s), doubled per retry ...
    max_backoff = 30.0        # ... up to this
    ray_address = "auto"      # engine = "ray" only: existing cluster (default: local Ray)

    [[qpus.devices]]          # required, one table per device (or group)
    kind = "aer"              # "aer" (default) | "ibm"
    name = "aer"              # required; with count = N the names are aer0 .. aer{N-1}
    count = 1                 # identical copies of this device
    # aer:
    num_qubits = 5            # required unless noise.fake_backend gives it
    seed = 7                  # for QPU.run outside a pool
    noise = { depolarizing_1q = 1e-3, depolarizing_2q = 1e-2, readout = 0.02 }
    # noise = { fake_backend = "FakeManilaV2" }
    coupling_map = [[0, 1], [1, 2]]
    max_parallel_threads = 1
    optimization_level = 1
    shots_method = "exact"    # shots drawn from each PUB's exact distribution; "per-shot": Aer simulates each
    # ibm:
    backend = "ibm_torino"    # required; "FakeManilaV2" etc. = local testing mode
    num_qubits = 8            # cap on fragment width (default: device size)
    channel = "ibm_quantum_platform"
    instance = "<CRN or name>"  # not a secret; the token comes from the saved account / env
    optimization_level = 1
    local_noise = true        # fake backends only
    job_timeout = 600.0

Shots are not a ``[qpus]`` key: training sets them in ``[model] shots`` and
passes them with every PUB (``QPUPool(default_shots=...)`` remains for direct
use). Every PUB is an independent draw, so there is no result cache either.
Unknown or removed keys and bad values raise :class:`BackendConfigError`
naming them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .aer import AerQPU
from .errors import BackendConfigError
from .ibm import IBMRuntimeQPU
from .noise import fake_backend
from .pool import QPUPool
from .qpu import QPU
from .schema import check_device_entry, check_pool_config, device_names


def qpu_from_config(config: Mapping[str, Any]) -> QPU:
    """One QPU from a ``[[qpus.devices]]`` entry (``count`` must be 1 or absent)."""
    qpus = _qpus_from_entry(config, 0)
    if len(qpus) != 1:
        raise BackendConfigError("qpu_from_config builds one QPU; use pool_from_config for count > 1")
    return qpus[0]


def pool_from_config(config: Mapping[str, Any]) -> QPUPool:
    """A :class:`QPUPool` from the ``[qpus]`` table (or a whole config holding one)."""
    check_pool_config(config)  # the table's shape, before anything is built
    table = config["qpus"] if "qpus" in config else config
    qpus: list[QPU] = []
    try:
        for i, entry in enumerate(table["devices"]):
            qpus += _qpus_from_entry(entry, i)
    except BaseException:
        for qpu in qpus:  # a later device failed (an account, a noise model): release the ones built
            qpu.close()
        raise
    options: dict[str, Any] = {
        "engine": table.get("engine", "local"),
        "seed": table.get("seed"),
        "timeout": table.get("timeout"),
        "retries": table.get("retries", 3),
        "backoff": table.get("backoff", 0.5),
        "max_backoff": table.get("max_backoff", 30.0),
        "ray_address": table.get("ray_address"),
    }
    try:
        return QPUPool(qpus, **options)
    except BaseException as exc:  # the pool never owned them: close them here
        for qpu in qpus:
            qpu.close()
        if isinstance(exc, BackendConfigError):
            raise BackendConfigError(f"[qpus]: {exc}") from exc
        raise


def _qpus_from_entry(entry: Any, position: int) -> list[QPU]:
    where = check_device_entry(entry, position)
    names = device_names(entry)
    build = _aer if entry.get("kind", "aer") == "aer" else _ibm
    return [build(entry, n, where) for n in names]


def _aer(entry: Mapping[str, Any], name: str, where: str) -> AerQPU:
    noise = entry.get("noise")
    num_qubits = entry.get("num_qubits")
    if num_qubits is None:
        if isinstance(noise, Mapping) and isinstance(noise.get("fake_backend"), str):
            num_qubits = fake_backend(noise["fake_backend"]).num_qubits
        else:
            raise BackendConfigError(f"{where}: num_qubits is required for kind = 'aer'")
    options = {k: entry[k] for k in ("coupling_map", "max_parallel_threads", "optimization_level", "shots_method")
               if k in entry}
    return AerQPU(name, num_qubits, noise, entry.get("seed"), **options)


def _ibm(entry: Mapping[str, Any], name: str, where: str) -> IBMRuntimeQPU:
    backend = entry.get("backend")
    if not isinstance(backend, str) or not backend:
        raise BackendConfigError(f"{where}: 'backend' (an IBM device or fake backend name) is required")
    options = {k: entry[k] for k in ("num_qubits", "channel", "instance", "optimization_level", "local_noise",
                                     "job_timeout") if k in entry}
    return IBMRuntimeQPU(name, backend, **options)

