"""QPUs and the scheduler that runs cut sub-experiments on them (docs/design.md, backends).

>>> from backends import AerQPU, QPUPool
>>> pool = QPUPool([AerQPU("a", 4), AerQPU("b", 6)], seed=1)
>>> results = pool.run([(circuit, values, 1000)])   # doctest: +SKIP

``pool.run`` takes sampler PUBs ``(circuit, values (P,) or (B, P), shots)``
and returns one primitives V2 ``SamplerPubResult`` per PUB, in order.
QPUs: :class:`AerQPU`, :class:`IBMRuntimeQPU`, :class:`FaultyQPU` (tests).
Engines: ``"local"`` (a thread per QPU, default), ``"process"`` (a process
per QPU: Aer work scales with cores), ``"ray"`` (a Ray actor per QPU).
Configs: :func:`pool_from_config` (schema in :mod:`backends.config`).

Nothing here imports ``dqlstm`` or ``partitioner``; Ray, worker processes and
IBM Runtime accounts are touched only when asked for. The names below load their
module on first use (PEP 562), so ``import backends.circuits`` (the pure circuit
helpers the planner and the simulators share) stays cheap: no Aer, no IBM Runtime.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# name -> submodule that defines it; loaded by __getattr__ on first access
_EXPORTS = {
    "AerQPU": "aer",
    "BackendConfigError": "errors",
    "BackendError": "errors",
    "FaultyQPU": "faults",
    "IBMCredentialsError": "errors",
    "IBMRuntimeQPU": "ibm",
    "JobFailedError": "errors",
    "NoCapableQPUError": "errors",
    "PoolExecutionError": "errors",
    "PoolStats": "stats",
    "Pub": "pub",
    "QPU": "qpu",
    "QPUPool": "pool",
    "QPUStats": "stats",
    "QPUUnavailableError": "errors",
    "as_pub": "pub",
    "binding_results": "results",
    "select_binding": "results",
    "circuit_fingerprint": "pub",
    "derive_seed": "pub",
    "pool_from_config": "config",
    "qpu_from_config": "config",
}

__all__ = [
    "AerQPU",
    "BackendConfigError",
    "BackendError",
    "FaultyQPU",
    "IBMCredentialsError",
    "IBMRuntimeQPU",
    "JobFailedError",
    "NoCapableQPUError",
    "PoolExecutionError",
    "PoolStats",
    "Pub",
    "QPU",
    "QPUPool",
    "QPUStats",
    "QPUUnavailableError",
    "as_pub",
    "binding_results",
    "circuit_fingerprint",
    "derive_seed",
    "pool_from_config",
    "qpu_from_config",
    "select_binding",
]

if TYPE_CHECKING:  # what type checkers and IDEs see; at run time __getattr__ loads these
    from .aer import AerQPU
    from .config import pool_from_config, qpu_from_config
    from .errors import (
        BackendConfigError,
        BackendError,
        IBMCredentialsError,
        JobFailedError,
        NoCapableQPUError,
        PoolExecutionError,
        QPUUnavailableError,
    )
    from .faults import FaultyQPU
    from .ibm import IBMRuntimeQPU
    from .pool import QPUPool
    from .pub import Pub, as_pub, circuit_fingerprint, derive_seed
    from .qpu import QPU
    from .results import binding_results, select_binding
    from .stats import PoolStats, QPUStats


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        # submodules stay reachable as attributes (backends.pool), as with eager imports
        if not name.startswith("_"):
            try:
                return importlib.import_module(f"{__name__}.{name}")
            except ModuleNotFoundError as exc:
                if exc.name != f"{__name__}.{name}":
                    raise
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
