"""The QPU interface: a named device of fixed width that runs sampler PUBs."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from qiskit import QuantumCircuit
from qiskit.primitives import SamplerPubResult

from .errors import BackendConfigError, NoCapableQPUError
from .pub import Pub, as_pub, circuit_fingerprint, derive_seed

LOCAL_TIMEOUT_FLOOR = 600.0  # s: a local job this late is stuck, not slow (estimates are rough)
LOCAL_TIMEOUT_FACTOR = 100.0  # x estimate_cost: headroom for a loaded machine


class QPU(ABC):
    """A quantum processing unit that runs Qiskit primitives V2 sampler PUBs.

    Subclasses implement :meth:`execute` (one PUB, one job). ``run`` is the
    convenience entry point for a list of PUBs without a pool. ``local`` is
    True for devices simulated on this machine (the default) and must be set
    False by remote devices with queues (IBM hardware sets it per backend).
    """

    local: bool = True

    def __init__(
        self,
        name: str,
        num_qubits: int,
        *,
        coupling_map: Sequence[Sequence[int]] | None = None,
        basis_gates: Sequence[str] | None = None,
        seed: int | None = None,
    ) -> None:
        if not isinstance(name, str) or not name.strip():
            raise BackendConfigError(f"QPU name must be a non-empty string, got {name!r}")
        if isinstance(num_qubits, bool) or not isinstance(num_qubits, (int, np.integer)):
            raise BackendConfigError(f"QPU {name!r}: num_qubits must be an int, got {num_qubits!r}")
        if num_qubits <= 0:
            raise BackendConfigError(f"QPU {name!r}: num_qubits must be positive, got {num_qubits}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
            raise BackendConfigError(f"QPU {name!r}: seed must be an int or None, got {seed!r}")
        self.name = name
        self.num_qubits = int(num_qubits)
        self.coupling_map = [tuple(int(q) for q in e) for e in coupling_map] if coupling_map else None
        self.basis_gates = list(basis_gates) if basis_gates else None
        self.seed = None if seed is None else int(seed)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, num_qubits={self.num_qubits})"

    def fits(self, pub: Pub) -> bool:
        """True when the PUB's circuit is not wider than this QPU."""
        return pub.width <= self.num_qubits

    def estimate_cost(self, pub: Pub) -> float:
        """Relative cost of one PUB (about seconds on a state-vector simulator).

        Used only to order and balance work: simulation cost grows with gates
        times 2**width per binding, sampling cost with shots per binding.
        """
        ops = max(len(pub.circuit.data), 1)
        per_binding = 2e-8 * ops * 2.0 ** pub.width + 2e-7 * pub.shots * max(pub.circuit.num_clbits, 1)
        return 1e-3 + pub.num_bindings * per_binding

    def default_timeout(self, pub: Pub) -> float | None:
        """Seconds after which a pool without a ``timeout`` treats a job of ``pub`` as stalled.

        Local devices: ``max(LOCAL_TIMEOUT_FLOOR, LOCAL_TIMEOUT_FACTOR * estimate_cost(pub))``
        (at least 600 s), so a stuck simulation cannot hang training; remote
        devices (``local`` False): None, as queues of hours are normal.
        """
        if not self.local:
            return None
        return max(LOCAL_TIMEOUT_FLOOR, LOCAL_TIMEOUT_FACTOR * self.estimate_cost(pub))

    @abstractmethod
    def execute(self, pub: Pub, seed: int | None) -> SamplerPubResult:
        """Run one PUB as one job (all its bindings) and return its result."""

    def run(
        self, pubs: Iterable[Any], *, shots: int = 1024, seed: int | None = None
    ) -> list[SamplerPubResult]:
        """Run PUBs one job each, in order; seeds derive from ``seed`` (or the QPU's)."""
        base = self.seed if seed is None else seed
        results = []
        for pub in (as_pub(p, shots) for p in pubs):
            if not self.fits(pub):
                raise NoCapableQPUError(pub.width, self.num_qubits, f"QPU {self.name!r}")
            results.append(self.execute(pub, None if base is None else derive_seed(base, pub)))
        return results

    def close(self) -> None:
        """Release resources (sessions, batches). Idempotent."""

    def __enter__(self) -> QPU:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class TranspileCache:
    """Bounded LRU of transpiled circuits keyed by circuit content."""

    def __init__(self, maxsize: int = 256) -> None:
        self._items: OrderedDict[str, QuantumCircuit] = OrderedDict()
        self._maxsize = maxsize

    def get(self, circuit: QuantumCircuit, transpile: Any) -> QuantumCircuit:
        key = circuit_fingerprint(circuit)
        if key in self._items:
            self._items.move_to_end(key)
            return self._items[key]
        out = transpile(circuit)
        self._items[key] = out
        if len(self._items) > self._maxsize:
            self._items.popitem(last=False)
        return out


def rebind_for(pub: Pub, circuit: QuantumCircuit) -> tuple[QuantumCircuit, np.ndarray | None, int]:
    """PUB tuple for a transpiled ``circuit`` that may have lost parameters.

    Optimisation can drop a parameterised gate (e.g. a diagonal gate right
    before a measurement); keep only the columns of surviving parameters.
    """
    original = list(pub.circuit.parameters)
    if not original:
        values = None if pub.sampler_pub.shape == () else np.zeros((*pub.sampler_pub.shape, 0))
        return circuit, values, pub.shots
    values = pub.parameter_values
    kept = list(circuit.parameters)
    if kept != original:
        index = {p: i for i, p in enumerate(original)}
        values = values[..., [index[p] for p in kept]]
    return circuit, values, pub.shots
