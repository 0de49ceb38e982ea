"""FaultyQPU: wraps a QPU and injects failures, stalls and disappearance (for tests).

Decisions are a hash of ``(seed, PUB content, how often this wrapper saw the
PUB)``, so they do not depend on thread timing: a retry of the same PUB
draws a fresh decision, and the same run sees the same faults.
"""

from __future__ import annotations

import hashlib
import threading
from collections import Counter
from typing import Any

from qiskit.primitives import SamplerPubResult

from .errors import BackendConfigError, JobFailedError, QPUUnavailableError
from .pub import Pub
from .qpu import QPU


class FaultyQPU(QPU):
    """Delegates to ``inner``; fails ``failure_rate`` and stalls ``stall_rate`` of jobs.

    A stalled job blocks for ``stall_seconds`` (or until :meth:`close`) and
    then runs normally. After ``disappear_after`` jobs, every job raises
    :class:`QPUUnavailableError` (the device went away mid-run). ``injected``
    counts what was injected in this process: ``"failures"``, ``"stalls"``,
    ``"gone"`` (a worker process keeps its own count).
    """

    def __init__(
        self,
        inner: QPU,
        *,
        failure_rate: float = 0.0,
        stall_rate: float = 0.0,
        stall_seconds: float = 30.0,
        disappear_after: int | None = None,
        seed: int = 0,
        name: str | None = None,
    ) -> None:
        super().__init__(name or inner.name, inner.num_qubits,
                         coupling_map=inner.coupling_map, basis_gates=inner.basis_gates, seed=inner.seed)
        for key, rate in (("failure_rate", failure_rate), ("stall_rate", stall_rate)):
            if not 0.0 <= rate <= 1.0:
                raise BackendConfigError(f"FaultyQPU {self.name!r}: {key} must be in [0, 1], got {rate!r}")
        if disappear_after is not None and disappear_after < 0:
            raise BackendConfigError(f"FaultyQPU {self.name!r}: disappear_after must be >= 0")
        self.inner = inner
        self.failure_rate = failure_rate
        self.stall_rate = stall_rate
        self.stall_seconds = stall_seconds
        self.disappear_after = disappear_after
        self.fault_seed = seed
        self.local = inner.local
        self.injected: Counter[str] = Counter()
        self._seen: Counter[str] = Counter()
        self._jobs = 0
        self._lock = threading.Lock()
        self._closed = threading.Event()

    def estimate_cost(self, pub: Pub) -> float:
        return self.inner.estimate_cost(pub)

    def default_timeout(self, pub: Pub) -> float | None:
        return self.inner.default_timeout(pub)

    def _draw(self, kind: str, pub: Pub, visit: int) -> float:
        text = f"{self.fault_seed}|{self.name}|{kind}|{pub.key}|{visit}".encode()
        return int.from_bytes(hashlib.sha256(text).digest()[:8], "little") / 2.0**64

    def execute(self, pub: Pub, seed: int | None) -> SamplerPubResult:
        with self._lock:
            visit = self._seen[pub.key]
            self._seen[pub.key] += 1
            self._jobs += 1
            jobs = self._jobs
        if self._closed.is_set() or (self.disappear_after is not None and jobs > self.disappear_after):
            self._count("gone")
            raise QPUUnavailableError(f"QPU {self.name!r} is gone (injected after {self.disappear_after} jobs)")
        if self._draw("fail", pub, visit) < self.failure_rate:
            self._count("failures")
            raise JobFailedError(f"QPU {self.name!r}: injected job failure")
        if self._draw("stall", pub, visit) < self.stall_rate:
            self._count("stalls")
            if self._closed.wait(self.stall_seconds):
                raise QPUUnavailableError(f"QPU {self.name!r} was closed while stalled")
        return self.inner.execute(pub, seed)

    def _count(self, kind: str) -> None:
        with self._lock:
            self.injected[kind] += 1

    def close(self) -> None:
        self._closed.set()  # releases stalled jobs so no thread outlives the test
        self.inner.close()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_lock"] = None
        state["_closed"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()
        self._closed = threading.Event()
