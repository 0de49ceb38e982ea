"""QPUPool: runs sampler PUBs on a set of QPUs with balancing, retries and independent draws."""

from __future__ import annotations

import bisect
import hashlib
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

import numpy as np
from qiskit.primitives import SamplerPubResult

from .engines import Engine, LocalEngine, failed_future
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
from .schema import ENGINES
from .stats import PoolStats, QPUStats

logger = logging.getLogger(__name__)
MAX_SHOTS = 10**8  # per binding; more is a typo (10**8 shots of 20 bits are 250 MB of bit arrays)
_SEED_MODULUS = 2**31 - 1  # as backends.pub: seeds in [1, 2**31 - 1]


def draw_seed(pool_seed: int, pub: Pub, draw: int) -> int:
    """Seed of the ``draw``-th submission (0 = first) of ``pub`` to a pool seeded ``pool_seed``.

    The first draw keeps :func:`backends.pub.derive_seed`, so a PUB submitted
    once gets the counts it always had; later draws hash the draw number in.
    """
    if draw == 0:
        return derive_seed(pool_seed, pub)
    digest = hashlib.sha256(f"{int(pool_seed)}|{pub.key}|draw={int(draw)}".encode()).digest()
    return int.from_bytes(digest[:8], "little") % _SEED_MODULUS + 1


def check_shots(value: Any, what: str = "shots") -> int:
    """``value`` as an int in ``[1, MAX_SHOTS]``, or a ValueError naming ``what``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 1 <= value <= MAX_SHOTS:
        raise ValueError(f"{what} must be an integer in [1, {MAX_SHOTS:_}] (per binding), got {value!r}")
    return int(value)


@dataclass(eq=False)
class _Task:
    """One submitted PUB of a run (a duplicate in the input is its own task and draw)."""

    pub: Pub
    index: int
    seed: int
    draw: int
    costs: list[float]  # estimated cost on each QPU (0 where it does not fit)
    timeouts: list[float | None]  # stall timeout of a job on each QPU (None: never)
    priority: tuple  # scheduler.task_priority
    attempts: int = 0
    live: int = 0  # in-flight jobs that have not timed out
    ready_at: float = 0.0
    blocked_since: float | None = None  # ready, but every QPU wide enough is stalled
    done: bool = False
    failed_on: set[int] = field(default_factory=set)
    errors: list[str] = field(default_factory=list)


@dataclass(eq=False)
class _Job:
    task: _Task
    qpu: int
    deadline: float | None
    timed_out: bool = False


@dataclass
class _Run:
    """Dispatcher state of one ``run`` call."""

    results: list[SamplerPubResult | None]
    tasks: list[_Task]
    pending: list[_Task]  # kept in priority order
    inflight: dict[Future, _Job]
    busy: set[int]
    load: list[float]
    blocked: set[_Task] = field(default_factory=set)


class QPUPool:
    """Run sampler PUBs on several QPUs, results in input order.

    * A PUB goes only to a QPU with at least ``circuit.num_qubits`` qubits;
      a PUB no QPU can take raises :class:`NoCapableQPUError` before any work.
    * One PUB is one job (all its parameter bindings); work is ordered and
      balanced by each QPU's ``estimate_cost``; one job at a time per QPU.
      Shots are at most :data:`MAX_SHOTS` per binding (``ValueError`` before
      any work otherwise).
    * A failed job is retried with exponential back-off (``backoff * 2**k``,
      at most ``max_backoff``), on another QPU when one is free; a job past
      its timeout counts as failed and is rerouted (a late result may still
      serve its own PUB, never another). After ``retries`` retries a PUB
      raises :class:`PoolExecutionError`. Only jobs that ran and failed or
      timed out are charged (``stats.retries``); a QPU raising
      :class:`QPUUnavailableError` (or whose worker died) gets no more work
      and its PUB is rerouted free of charge.
    * Timeouts: ``timeout`` seconds per job on every QPU; ``None`` (default)
      uses each QPU's :meth:`QPU.default_timeout` - at least 600 s on local
      simulators (100x the job's estimated cost), none on remote devices
      such as IBM hardware, where queues of hours are normal.
    * Stalls: a QPU whose timed-out job has not returned takes no new work.
      A PUB that only stalled QPUs could run waits free of charge, but at most
      ``(retries + 1)`` timeouts in a row; then :class:`PoolExecutionError`
      (a stuck device must not hang training).
    * Draws: every PUB submitted is an independent sample. Its seed hashes
      the pool ``seed``, the PUB content and how many times this pool was
      given that PUB before (:func:`draw_seed`, :meth:`pub_seed`); so counts
      do not depend on which QPU or worker ran it, repeats are independent,
      and the same seed and sequence of calls give the same counts.
      ``seed=None`` draws one pool seed at construction (see ``pool.seed``).
      Result metadata: ``qpu`` (who ran it), ``seed`` and ``draw``. Numbering
      repeats costs ~100 bytes per distinct PUB for the pool's lifetime.

    ``engine="local"`` uses one thread per QPU (no start-up cost);
    ``engine="process"`` one worker process per QPU (scales with cores: Aer's
    per-job Python work holds the GIL; workers exit when this process dies);
    ``engine="ray"`` one Ray actor per QPU (``ray_address``: None for a light
    local Ray, or a cluster address). The pool owns its QPUs: :meth:`close`
    closes them.
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
        ray_address: str | None = None,
        ray_actor_options: dict[str, Any] | None = None,
    ) -> None:
        qpus = _as_qpu_list(qpus)
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
        try:
            default_shots = check_shots(default_shots, "default_shots")
        except ValueError as exc:
            raise BackendConfigError(str(exc)) from None
        self.qpus = qpus
        self.engine_name = engine
        self.seed = int(seed) if seed is not None else random.SystemRandom().randrange(1, 2**31)
        self.default_shots = default_shots
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self._draws: dict[int, int] = {}  # 64-bit PUB key prefix -> submissions so far
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
    def engine(self) -> Engine:
        """The execution engine (diagnostics, e.g. ``ProcessEngine.worker_pids``)."""
        return self._engine

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

    def pub_seed(self, pub_like: Any, shots: int | None = None, *, draw: int = 0) -> int:
        """The seed this pool uses for the ``draw``-th submission (0 = first) of a PUB.

        Reproduces a pool result with a bare sampler; ``result.metadata["draw"]``
        tells which draw a result was.
        """
        return draw_seed(self.seed, as_pub(pub_like, self.default_shots if shots is None else shots), draw)

    def run(self, pubs: Iterable[Any], *, shots: int | None = None) -> list[SamplerPubResult]:
        """Run PUBs ``(circuit, values (P,) or (B, P), shots)``; results in input order.

        ``shots`` (default ``default_shots``) applies to PUBs given without
        their own; every PUB's shots must lie in ``[1, MAX_SHOTS]``. Each
        result is a primitives V2 ``SamplerPubResult`` (a ``DataBin`` of
        ``BitArray`` per classical register, shaped like the bindings); its
        metadata gains ``qpu`` (who ran it), ``seed`` and ``draw``.
        """
        if self._closed:
            raise BackendConfigError("QPUPool is closed")
        default = self.default_shots if shots is None else check_shots(shots)
        items = [as_pub(p, default) for p in pubs]
        for index, pub in enumerate(items):
            check_shots(pub.shots, f"PUB #{index} shots")
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

    def _next_draw(self, pub: Pub) -> int:
        key = int(pub.key[:16], 16)  # 64 bits: a collision only shares a draw counter
        draw = self._draws.get(key, 0)
        self._draws[key] = draw + 1
        return draw

    def _task(self, index: int, pub: Pub, widths: list[int]) -> _Task:
        fits = [q.fits(pub) for q in self.qpus]
        costs = [q.estimate_cost(pub) if ok else 0.0 for q, ok in zip(self.qpus, fits)]
        timeouts = [self._timeout_on(q, pub) if ok else None for q, ok in zip(self.qpus, fits)]
        cost = min(c for c, ok in zip(costs, fits) if ok)
        draw = self._next_draw(pub)
        return _Task(pub, index, draw_seed(self.seed, pub, draw), draw, costs, timeouts,
                     task_priority(pub.width, cost, index, widths))

    def _timeout_on(self, qpu: QPU, pub: Pub) -> float | None:
        return self.timeout if self.timeout is not None else qpu.default_timeout(pub)

    def _run(self, items: list[Pub]) -> list[SamplerPubResult]:
        for pub in items:
            self._check_width(pub.width)
        widths = [q.num_qubits for q in self.qpus]
        tasks = [self._task(index, pub, widths) for index, pub in enumerate(items)]
        # Jobs still running from earlier runs (timed out, or abandoned by an error)
        # keep their QPU busy until they return.
        inflight = dict(self._leftover)
        state = _Run([None] * len(items), tasks, sorted(tasks, key=_priority), inflight,
                     {job.qpu for job in inflight.values()}, [0.0] * len(self.qpus))
        try:
            while any(not t.done for t in tasks):
                now = time.monotonic()
                self._dispatch(state, now)
                self._mark_blocked(state, now)
                wake_in = self._wake_in(state, now)
                if not state.inflight:  # only back-off timers are running
                    time.sleep(wake_in or 0.0)
                    continue
                done, _ = wait(list(state.inflight), timeout=wake_in, return_when=FIRST_COMPLETED)
                for future in done:
                    self._complete(state, future, state.inflight.pop(future))
                self._expire(state, time.monotonic())
        finally:
            for job in state.inflight.values():
                job.task.done = True  # abandoned: a late result only updates the stats
                job.timed_out = True
            self._leftover = state.inflight
        return state.results  # type: ignore[return-value]

    def _check_width(self, width: int, detail: str = "") -> None:
        widest = self.widest
        if widest is None or width > widest:
            raise NoCapableQPUError(width, widest, detail)

    def _usable_widths(self) -> list[int]:
        return [q.num_qubits if ok else 0 for q, ok in zip(self.qpus, self._available)]

    def _dispatch(self, state: _Run, now: float) -> None:
        widths = self._usable_widths()
        free = [i for i, w in enumerate(widths) if w and i not in state.busy]
        chosen = []
        for task in state.pending:  # kept in priority order, so this usually stops early
            if not free:
                break
            if task.ready_at > now:
                continue
            choice = choose_qpu(task.pub.width, free, widths, state.load, task.costs, task.failed_on)
            if choice is not None:
                chosen.append((task, choice))
                free.remove(choice)
        for task, choice in chosen:
            future = self._submit(choice, task)
            timeout = task.timeouts[choice]
            state.inflight[future] = _Job(task, choice, None if timeout is None else now + timeout)
            state.pending.remove(task)
            state.busy.add(choice)
            state.load[choice] += task.costs[choice]
            task.live += 1

    def _submit(self, qpu: int, task: _Task) -> Future:
        try:
            return self._engine.submit(qpu, task.pub, task.seed)
        except Exception as exc:  # an engine should not raise; if it does, it is this job's failure
            return failed_future(exc)

    def _mark_blocked(self, state: _Run, now: float) -> None:
        """Start (or stop) the wait clock of PUBs that only stalled QPUs could run."""
        stalled = {job.qpu for job in state.inflight.values() if job.timed_out}
        still: set[_Task] = set()
        if stalled:
            widths = self._usable_widths()
            for task in state.pending:
                eligible = [i for i, w in enumerate(widths) if w >= task.pub.width]
                if task.ready_at <= now and eligible and all(i in stalled for i in eligible):
                    task.blocked_since = task.blocked_since or now
                    still.add(task)
        for task in state.blocked - still:
            task.blocked_since = None
        state.blocked = still

    def _wait_limit(self, task: _Task) -> float:
        """How long a PUB may wait behind stalled QPUs: ``retries + 1`` of their timeouts."""
        widths = self._usable_widths()
        timeouts = [t for t, w in zip(task.timeouts, widths) if t is not None and w >= task.pub.width]
        return (self.retries + 1) * max(timeouts, default=0.0)

    def _wake_in(self, state: _Run, now: float) -> float | None:
        times = [job.deadline for job in state.inflight.values() if job.deadline is not None and not job.timed_out]
        times += [t.ready_at for t in state.pending if t.ready_at > now]
        times += [t.blocked_since + self._wait_limit(t) for t in state.blocked if t.blocked_since is not None]
        if not times:
            if not state.inflight:  # nothing runs and nothing will wake us: a bug, not a hang
                raise PoolExecutionError("scheduler stalled with pending PUBs and no QPU to run them")
            return None
        return max(0.0, min(times) - now)

    def _complete(self, state: _Run, future: Future, job: _Job) -> None:
        state.busy.discard(job.qpu)
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
                self._finish(state, task, result, qpu.name)
            return
        if isinstance(exc, QPUUnavailableError):
            logger.warning("QPU %s is unavailable, rerouting its work: %s", qpu.name, exc)
            self._available[job.qpu] = False
            stats.available = False
            stats.failures += 0 if job.timed_out else 1
            if not task.done and task.live == 0 and task not in state.pending:
                task.errors.append(f"{qpu.name}: {exc}")
                bisect.insort(state.pending, task, key=_priority)  # not the PUB's fault: no attempt counted
            for other in state.pending:
                self._check_width(other.pub.width, f"QPU {qpu.name!r} became unavailable: {exc}")
            return
        if not job.timed_out:
            stats.failures += 1
            logger.warning("job on QPU %s failed (%s: %s)", qpu.name, type(exc).__name__, exc)
            self._charge(state, task, job.qpu, f"{type(exc).__name__}: {exc}")

    def _expire(self, state: _Run, now: float) -> None:
        for job in state.inflight.values():
            if job.deadline is not None and not job.timed_out and now >= job.deadline:
                job.timed_out = True
                job.task.live -= 1
                name = self.qpus[job.qpu].name
                stats = self._stats.qpus[name]
                stats.timeouts += 1
                stats.failures += 1
                timeout = job.task.timeouts[job.qpu]
                logger.warning("job on QPU %s timed out after %.3g s; rerouting", name, timeout)
                self._charge(state, job.task, job.qpu, f"timed out after {timeout:.3g} s")
        for task in state.blocked:
            limit = self._wait_limit(task)
            if task.blocked_since is not None and now >= task.blocked_since + limit:
                names = [q.name for q, w in zip(self.qpus, self._usable_widths()) if w >= task.pub.width]
                raise PoolExecutionError(
                    f"PUB #{task.index} ({task.pub.width} qubits) waited {limit:.3g} s "
                    f"(retries + 1 timeouts) while every QPU wide enough ({', '.join(names)}) was stalled "
                    f"on a timed-out job that never returned; errors: {'; '.join(task.errors[-5:]) or 'none'}"
                )

    def _charge(self, state: _Run, task: _Task, qpu: int, reason: str) -> None:
        """Count one failed or timed-out attempt of ``task`` on ``qpu``; retry it if still needed."""
        task.errors.append(f"{self.qpus[qpu].name}: {reason}")
        task.failed_on.add(qpu)
        self._stats.retries += 1
        if task.done or task.live > 0:
            return  # served meanwhile by a late result, or another attempt is still running
        task.attempts += 1
        if task.attempts > self.retries:
            raise PoolExecutionError(
                f"PUB #{task.index} ({task.pub.width} qubits) failed {task.attempts} times; "
                f"errors: {'; '.join(task.errors[-5:])}"
            )
        task.ready_at = time.monotonic() + min(self.backoff * 2 ** (task.attempts - 1), self.max_backoff)
        if task not in state.pending:
            bisect.insort(state.pending, task, key=_priority)

    def _finish(self, state: _Run, task: _Task, result: SamplerPubResult, qpu_name: str) -> None:
        task.done = True
        if task in state.pending:
            state.pending.remove(task)
        state.blocked.discard(task)
        state.results[task.index] = SamplerPubResult(
            result.data, metadata={**result.metadata, "qpu": qpu_name, "seed": task.seed, "draw": task.draw}
        )


def _as_qpu_list(qpus: Any) -> list[QPU]:
    """``qpus`` as a non-empty list of QPU instances, or a BackendConfigError naming the bad items."""
    if isinstance(qpus, QPU):
        raise BackendConfigError(f"QPUPool expects a list of QPUs, got one QPU: pass [{qpus!r}]")
    if isinstance(qpus, (str, bytes)) or not isinstance(qpus, Iterable):
        raise BackendConfigError(f"QPUPool expects a list of QPU instances, got {type(qpus).__name__}")
    qpus = list(qpus)
    if not qpus:
        raise BackendConfigError("QPUPool needs at least one QPU")
    bad = [f"#{i}: {q!r} ({type(q).__name__})" for i, q in enumerate(qpus) if not isinstance(q, QPU)]
    if bad:
        shown = ", ".join(bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
        raise BackendConfigError(f"QPUPool expects QPU instances (AerQPU, IBMRuntimeQPU, ...); not QPUs: {shown}")
    return qpus


def _priority(task: _Task) -> tuple:
    return task.priority
