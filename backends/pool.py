"""QPUPool: runs sampler PUBs on a set of QPUs with balancing, retries and a cache."""

from __future__ import annotations

import bisect
import logging
import math
import random
import threading
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from copy import deepcopy
from dataclasses import dataclass, field
from typing import Any

from qiskit.primitives import SamplerPubResult

from .cache import ResultCache
from .engines import Engine, LocalEngine
from .errors import (
    BackendConfigError,
    JobFailedError,
    NoCapableQPUError,
    PoolExecutionError,
    QPUUnavailableError,
)
from .pub import Pub, as_pub, derive_seed
from .qpu import QPU
from .scheduler import choose_qpu, task_priority
from .stats import PoolStats, QPUStats

logger = logging.getLogger(__name__)
ENGINES = ("local", "process", "ray")


@dataclass(eq=False)
class _Task:
    """One distinct PUB of a run (duplicates in the input share a task)."""

    pub: Pub
    seed: int
    indices: list[int]
    costs: list[float]  # estimated cost on each QPU (0 where it does not fit)
    priority: tuple  # scheduler.task_priority
    attempts: int = 0
    live: int = 0  # in-flight jobs that have not timed out
    ready_at: float = 0.0
    waiting_since: float | None = None
    done: bool = False
    failed_on: set[int] = field(default_factory=set)
    errors: list[str] = field(default_factory=list)


@dataclass(eq=False)
class _Job:
    task: _Task
    qpu: int
    deadline: float | None
    timed_out: bool = False


class QPUPool:
    """Run sampler PUBs on several QPUs, results in input order.

    * A PUB goes only to a QPU with at least ``circuit.num_qubits`` qubits;
      a PUB no QPU can take raises :class:`NoCapableQPUError` before any work.
    * One PUB is one job (all its parameter bindings); work is ordered and
      balanced by each QPU's ``estimate_cost``; one job at a time per QPU.
    * A failed job is retried with exponential back-off (``backoff * 2**k``,
      at most ``max_backoff``), on another QPU when one is free; a job past
      ``timeout`` seconds counts as failed and is rerouted (a late result is
      still accepted). A QPU raising :class:`QPUUnavailableError` gets no
      more work. After ``retries`` retries a PUB raises
      :class:`PoolExecutionError`.
    * Seeds: PUB seed = hash(pool ``seed``, PUB content), so counts do not
      depend on which QPU or worker ran it; ``seed=None`` draws one pool seed
      at construction (see ``pool.seed``).
    * Identical (PUB, seed) work is served from an LRU cache (``cache_size``).

    ``engine="local"`` uses one thread per QPU (no start-up cost);
    ``engine="process"`` one worker process per QPU (scales with cores: Aer's
    per-job Python work holds the GIL); ``engine="ray"`` one Ray actor per QPU
    (``ray_address``: None for a light local Ray, or a cluster address).
    The pool owns its QPUs: :meth:`close` closes them.
    """

    def __init__(
        self,
        qpus: Sequence[QPU],
        engine: str = "local",
        *,
        seed: int | None = None,
        default_shots: int = 1024,
        timeout: float | None = None,
        retries: int = 3,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        cache_size: int = 4096,
        ray_address: str | None = None,
        ray_actor_options: dict[str, Any] | None = None,
    ) -> None:
        qpus = list(qpus)
        if not qpus:
            raise BackendConfigError("QPUPool needs at least one QPU")
        bad = [q for q in qpus if not isinstance(q, QPU)]
        if bad:
            raise BackendConfigError(f"QPUPool expects QPU instances, got {type(bad[0]).__name__}")
        names = [q.name for q in qpus]
        if len(set(names)) != len(names):
            raise BackendConfigError(f"QPU names must be unique in a pool, got {names}")
        if engine not in ENGINES:
            raise BackendConfigError(f"unknown engine {engine!r}; use one of {ENGINES}")
        if timeout is not None and not (timeout > 0 and math.isfinite(timeout)):
            raise BackendConfigError(f"timeout must be a positive number of seconds or None, got {timeout!r}")
        if not isinstance(retries, int) or retries < 0:
            raise BackendConfigError(f"retries must be an int >= 0, got {retries!r}")
        if backoff < 0 or max_backoff < 0:
            raise BackendConfigError("backoff and max_backoff must be >= 0")
        if not isinstance(default_shots, int) or default_shots <= 0:
            raise BackendConfigError(f"default_shots must be a positive int, got {default_shots!r}")
        self.qpus = qpus
        self.engine_name = engine
        self.seed = int(seed) if seed is not None else random.SystemRandom().randrange(1, 2**31)
        self.default_shots = default_shots
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self._cache = ResultCache(cache_size)
        self._lock = threading.Lock()
        self._available = [True] * len(qpus)
        self._stats = self._fresh_stats()
        self._leftover: dict[Future, _Job] = {}
        self._engine: Engine
        if engine == "ray":
            from .ray_engine import RayEngine  # Ray is imported only when asked for

            self._engine = RayEngine(qpus, address=ray_address, actor_options=ray_actor_options)
        elif engine == "process":
            from .process_engine import ProcessEngine

            self._engine = ProcessEngine(qpus)
        else:
            self._engine = LocalEngine(qpus)
        self._closed = False

    # -- public API ---------------------------------------------------------

    @property
    def widest(self) -> int | None:
        """Qubits of the widest QPU still available (None when none is)."""
        widths = [q.num_qubits for q, ok in zip(self.qpus, self._available) if ok]
        return max(widths) if widths else None

    @property
    def stats(self) -> PoolStats:
        """A copy of the statistics (per QPU: jobs, shots, seconds, failures)."""
        with self._lock:
            return deepcopy(self._stats)

    def reset_stats(self) -> None:
        with self._lock:
            self._stats = self._fresh_stats()

    def clear_cache(self) -> None:
        self._cache.clear()

    def pub_seed(self, pub_like: Any, shots: int | None = None) -> int:
        """The seed this pool uses for a PUB (to reproduce it with a bare sampler)."""
        return derive_seed(self.seed, as_pub(pub_like, shots or self.default_shots))

    def run(self, pubs: Iterable[Any], *, shots: int | None = None) -> list[SamplerPubResult]:
        """Run PUBs ``(circuit, values (P,) or (B, P), shots)``; results in input order.

        Each result is a primitives V2 ``SamplerPubResult`` (a ``DataBin`` of
        ``BitArray`` per classical register, shaped like the bindings); its
        metadata gains ``qpu`` (who ran it, or ``"cache"``) and ``seed``.
        """
        if self._closed:
            raise BackendConfigError("QPUPool is closed")
        items = [as_pub(p, shots or self.default_shots) for p in pubs]
        with self._lock:
            start = time.perf_counter()
            try:
                return self._run(items)
            finally:
                self._stats.pubs += len(items)
                self._stats.wall_seconds += time.perf_counter() - start

    def close(self) -> None:
        """Stop the engine and close the QPUs (releases stalled jobs, IBM batches)."""
        if self._closed:
            return
        self._closed = True
        for qpu in self.qpus:
            qpu.close()
        self._engine.close()

    def __enter__(self) -> QPUPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"QPUPool({[q.name for q in self.qpus]}, engine={self.engine_name!r}, seed={self.seed})"

    # -- dispatcher -----------------------------------------------------------

    def _fresh_stats(self) -> PoolStats:
        stats = {q.name: QPUStats(q.name, q.num_qubits) for q in self.qpus}
        for q, ok in zip(self.qpus, self._available):
            stats[q.name].available = ok
        return PoolStats(qpus=stats)

    def _run(self, items: list[Pub]) -> list[SamplerPubResult]:
        results: list[SamplerPubResult | None] = [None] * len(items)
        tasks: dict[tuple[str, int], _Task] = {}
        widths = [q.num_qubits for q in self.qpus]
        for index, pub in enumerate(items):
            self._check_width(pub.width)
            seed = derive_seed(self.seed, pub)
            key = (pub.key, seed)
            cached = self._cache.get(key)
            if cached is not None:
                self._stats.cache_hits += 1
                results[index] = _with_meta(cached, "cache", seed)
            elif key in tasks:
                tasks[key].indices.append(index)
            else:
                costs = [q.estimate_cost(pub) if q.fits(pub) else 0.0 for q in self.qpus]
                cost = min(c for c, w in zip(costs, widths) if w >= pub.width)
                tasks[key] = _Task(pub, seed, [index], costs, task_priority(pub.width, cost, index, widths))
        pending = sorted(tasks.values(), key=_priority)
        # Jobs still running from earlier runs (timed out, or abandoned by an error)
        # keep their QPU busy until they return.
        inflight: dict[Future, _Job] = dict(self._leftover)
        busy: set[int] = {job.qpu for job in inflight.values()}
        load = [0.0] * len(self.qpus)
        try:
            while any(not t.done for t in tasks.values()):
                now = time.monotonic()
                self._dispatch(pending, inflight, busy, load, now)
                wake_in = self._wake_in(pending, inflight, now)
                if not inflight:  # only back-off timers are running
                    time.sleep(wake_in or 0.0)
                    continue
                done, _ = wait(list(inflight), timeout=wake_in, return_when=FIRST_COMPLETED)
                for future in done:
                    self._complete(future, inflight.pop(future), pending, busy, results)
                self._expire(pending, inflight, time.monotonic())
        finally:
            for job in inflight.values():
                job.task.done = True  # abandoned: a late result only updates the stats
                job.timed_out = True
            self._leftover = inflight
        return results  # type: ignore[return-value]

    def _check_width(self, width: int, detail: str = "") -> None:
        widest = self.widest
        if widest is None or width > widest:
            raise NoCapableQPUError(width, widest, detail)

    def _dispatch(self, pending: list[_Task], inflight: dict[Future, _Job], busy: set[int],
                  load: list[float], now: float) -> None:
        widths = [q.num_qubits if ok else 0 for q, ok in zip(self.qpus, self._available)]
        free = [i for i, w in enumerate(widths) if w and i not in busy]
        chosen = []
        for task in pending:  # kept in priority order, so this usually stops early
            if not free:
                break
            if task.ready_at > now:
                continue
            choice = choose_qpu(task.pub.width, free, widths, load, task.costs, task.failed_on)
            if choice is not None:
                chosen.append((task, choice))
                free.remove(choice)
        for task, choice in chosen:
            task.waiting_since = None
            future = self._engine.submit(choice, task.pub, task.seed)
            deadline = None if self.timeout is None else now + self.timeout
            inflight[future] = _Job(task, choice, deadline)
            pending.remove(task)
            busy.add(choice)
            load[choice] += task.costs[choice]
            task.live += 1
        stalled = {job.qpu for job in inflight.values() if job.timed_out}
        if self.timeout is None or not stalled:
            return
        for task in pending:
            eligible = [i for i, w in enumerate(widths) if w >= task.pub.width]
            # Only stalled QPUs could take it: start the clock (see _expire).
            if task.ready_at <= now and eligible and all(i in stalled for i in eligible):
                task.waiting_since = task.waiting_since or now

    def _wake_in(self, pending: list[_Task], inflight: dict[Future, _Job], now: float) -> float | None:
        times = [job.deadline for job in inflight.values() if job.deadline is not None and not job.timed_out]
        times += [t.ready_at for t in pending if t.ready_at > now]
        if self.timeout is not None:
            times += [t.waiting_since + self.timeout for t in pending if t.waiting_since is not None]
        if not times:
            if not inflight:  # nothing runs and nothing will wake us: a bug, not a hang
                raise PoolExecutionError("scheduler stalled with pending PUBs and no QPU to run them")
            return None
        return max(0.0, min(times) - now)

    def _complete(self, future: Future, job: _Job, pending: list[_Task], busy: set[int],
                  results: list[SamplerPubResult | None]) -> None:
        busy.discard(job.qpu)
        task, qpu = job.task, self.qpus[job.qpu]
        stats = self._stats.qpus[qpu.name]
        if not job.timed_out:
            task.live -= 1
        exc = JobFailedError("job cancelled") if future.cancelled() else future.exception()
        if exc is None:
            result, seconds = future.result()
            stats.jobs += 1
            stats.shots += task.pub.shots * task.pub.num_bindings
            stats.seconds += seconds
            if not task.done:
                self._finish(task, result, qpu.name, pending, results)
            return
        if isinstance(exc, QPUUnavailableError):
            logger.warning("QPU %s is unavailable, rerouting its work: %s", qpu.name, exc)
            self._available[job.qpu] = False
            stats.available = False
            stats.failures += 0 if job.timed_out else 1
            if not task.done and task.live == 0 and task not in pending:
                task.errors.append(f"{qpu.name}: {exc}")
                bisect.insort(pending, task, key=_priority)  # not the PUB's fault: no attempt counted
            for other in pending:
                self._check_width(other.pub.width, f"QPU {qpu.name!r} became unavailable")
            return
        if not job.timed_out:
            stats.failures += 1
            logger.warning("job on QPU %s failed (%s: %s)", qpu.name, type(exc).__name__, exc)
            if not task.done and task.live == 0:
                self._retry(task, job.qpu, f"{type(exc).__name__}: {exc}", pending)

    def _expire(self, pending: list[_Task], inflight: dict[Future, _Job], now: float) -> None:
        for job in inflight.values():
            if job.deadline is not None and not job.timed_out and now >= job.deadline:
                job.timed_out = True
                job.task.live -= 1
                stats = self._stats.qpus[self.qpus[job.qpu].name]
                stats.timeouts += 1
                stats.failures += 1
                logger.warning("job on QPU %s timed out after %.3g s; rerouting",
                               self.qpus[job.qpu].name, self.timeout)
                if not job.task.done and job.task.live == 0:
                    self._retry(job.task, job.qpu, f"timed out after {self.timeout} s", pending)
        if self.timeout is not None:
            for task in list(pending):
                if task.waiting_since is not None and now >= task.waiting_since + self.timeout:
                    task.waiting_since = None
                    self._retry(task, None, "every QPU wide enough is stalled", pending)

    def _retry(self, task: _Task, qpu: int | None, reason: str, pending: list[_Task]) -> None:
        name = "pool" if qpu is None else self.qpus[qpu].name
        task.errors.append(f"{name}: {reason}")
        task.attempts += 1
        self._stats.retries += 1
        if qpu is not None:
            task.failed_on.add(qpu)
        if task.attempts > self.retries:
            raise PoolExecutionError(
                f"PUB #{task.indices[0]} ({task.pub.width} qubits) failed {task.attempts} times; "
                f"errors: {'; '.join(task.errors[-5:])}"
            )
        task.ready_at = time.monotonic() + min(self.backoff * 2 ** (task.attempts - 1), self.max_backoff)
        if task not in pending:
            bisect.insort(pending, task, key=_priority)

    def _finish(self, task: _Task, result: SamplerPubResult, qpu_name: str, pending: list[_Task],
                results: list[SamplerPubResult | None]) -> None:
        task.done = True
        if task in pending:
            pending.remove(task)
        self._cache.put((task.pub.key, task.seed), result)
        tagged = _with_meta(result, qpu_name, task.seed)
        for index in task.indices:
            results[index] = tagged


def _priority(task: _Task) -> tuple:
    return task.priority


def _with_meta(result: SamplerPubResult, qpu_name: str, seed: int) -> SamplerPubResult:
    return SamplerPubResult(result.data, metadata={**result.metadata, "qpu": qpu_name, "seed": seed})
