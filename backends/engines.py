"""Execution engines: where a QPU's jobs run. Default: one thread per QPU.

An engine turns ``submit(qpu_index, pub, seed)`` into a
``concurrent.futures.Future`` of ``(SamplerPubResult, busy_seconds)``; the
pool's dispatcher is the same for every engine. A QPU whose worker is gone
yields a future failed with ``QPUUnavailableError``; ``submit`` never raises
for it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import CancelledError, Future, InvalidStateError, ThreadPoolExecutor
from typing import Protocol

from qiskit.primitives import SamplerPubResult

from .pub import Pub
from .qpu import QPU


def timed_execute(qpu: QPU, pub: Pub, seed: int | None) -> tuple[SamplerPubResult, float]:
    """Run one job and measure the QPU's busy time (what utilisation counts)."""
    start = time.perf_counter()
    result = qpu.execute(pub, seed)
    return result, time.perf_counter() - start


class Engine(Protocol):
    def submit(self, index: int, pub: Pub, seed: int | None) -> Future: ...

    def close(self) -> None: ...


class LocalEngine:
    """In-process engine: one single-worker thread pool per QPU (Aer releases the GIL)."""

    def __init__(self, qpus: Sequence[QPU]) -> None:
        self._qpus = list(qpus)
        self._workers = [
            ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"qpu-{q.name}") for q in self._qpus
        ]

    def submit(self, index: int, pub: Pub, seed: int | None) -> Future:
        return self._workers[index].submit(timed_execute, self._qpus[index], pub, seed)

    def close(self) -> None:
        # Do not wait: a stalled job must not block shutdown (QPU.close releases it).
        for worker in self._workers:
            worker.shutdown(wait=False, cancel_futures=True)


def failed_future(exc: BaseException) -> Future:
    """A future already failed with ``exc`` (an engine never raises from ``submit``)."""
    out: Future = Future()
    out.set_exception(exc)
    return out


def relay(inner: Future, translate: Callable[[BaseException], BaseException]) -> Future:
    """A future mirroring ``inner``, with its exception passed through ``translate``.

    The pool may cancel the outer future (end of a run); a late inner result
    is then dropped instead of raising InvalidStateError in a callback.
    """
    out: Future = Future()

    def copy(done: Future) -> None:
        try:
            exc = done.exception()
            if exc is None:
                out.set_result(done.result())
            else:
                out.set_exception(translate(exc))
        except (InvalidStateError, CancelledError):
            pass  # outer cancelled, or inner cancelled at shutdown: nobody waits for it

    inner.add_done_callback(copy)
    return out
