"""Process engine: one worker process per QPU (no Ray needed).

Threads share the GIL, and Aer's sampler spends most of a small job in
Python (binding, bit-array packing), so threads alone do not scale with
cores; processes do. QPUs must be picklable (AerQPU and FaultyQPU are).
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from .engines import relay, timed_execute
from .errors import BackendConfigError, QPUUnavailableError
from .pub import Pub
from .qpu import QPU

_WORKER_QPU: QPU | None = None  # the QPU living in this worker process


def _init_worker(qpu: QPU) -> None:
    global _WORKER_QPU
    _WORKER_QPU = qpu


def _ready() -> str:
    assert _WORKER_QPU is not None
    return _WORKER_QPU.name


def _execute(pub: Pub, seed: int | None) -> tuple[Any, float]:
    assert _WORKER_QPU is not None
    return timed_execute(_WORKER_QPU, pub, seed)


class ProcessEngine:
    """One single-worker process pool per QPU, started (and warmed up) eagerly."""

    def __init__(self, qpus: Sequence[QPU], *, startup_timeout: float = 120.0) -> None:
        methods = multiprocessing.get_all_start_methods()
        # forkserver/spawn: forking a process that already runs threads is unsafe.
        context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
        self._workers = [
            ProcessPoolExecutor(max_workers=1, mp_context=context, initializer=_init_worker, initargs=(q,))
            for q in qpus
        ]
        try:
            for future in [w.submit(_ready) for w in self._workers]:
                future.result(timeout=startup_timeout)
        except Exception as exc:
            self.close()
            raise BackendConfigError(f"could not start QPU worker processes: {exc}") from exc

    def submit(self, index: int, pub: Pub, seed: int | None) -> Future:
        def translate(exc: BaseException) -> BaseException:
            if isinstance(exc, BrokenProcessPool):
                return QPUUnavailableError(f"worker process of QPU #{index} died: {exc}")
            return exc

        return relay(self._workers[index].submit(_execute, pub, seed), translate)

    def close(self) -> None:
        for worker in self._workers:
            # A stalled job must not keep the interpreter alive at exit: stop its process.
            for process in list(getattr(worker, "_processes", {}).values()):
                process.terminate()
            worker.shutdown(wait=False, cancel_futures=True)
        self._workers = []
