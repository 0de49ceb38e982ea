"""QPUs and the scheduler that runs cut sub-experiments on them (DESIGN.md section 5).

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
IBM Runtime accounts are touched only when asked for.
"""

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
    "select_binding",
    "circuit_fingerprint",
    "derive_seed",
    "pool_from_config",
    "qpu_from_config",
]
