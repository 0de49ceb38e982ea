"""Process engine: one worker process per QPU (no Ray needed).

Threads share the GIL, and Aer's sampler spends most of a small job in
Python (binding, bit-array packing), so threads alone do not scale with
cores; processes do. QPUs must be picklable (AerQPU and FaultyQPU are).

Workers never outlive the process that owns the engine: each holds the read
end of a "lifeline" pipe whose only write end stays in the owner, and a
watchdog thread exits the worker at EOF (the owner exited, even by SIGKILL)
or when the owner's pid is gone. With forkserver the worker's parent is the
fork server, not the owner, so the parent pid alone proves nothing; once the
workers are gone, the fork server and resource tracker exit by themselves.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.connection import Connection
from typing import Any

from .engines import failed_future, relay, timed_execute
from .errors import BackendConfigError, QPUUnavailableError
from .pub import Pub
from .qpu import QPU

WATCH_INTERVAL = 0.5  # seconds between checks of the owner's pid (EOF is seen at once)

_WORKER_QPU: QPU | None = None  # the QPU living in this worker process


def _init_worker(qpu: QPU, owner: int, lifeline: Connection) -> None:
    global _WORKER_QPU
    _WORKER_QPU = qpu
    threading.Thread(target=_watch_owner, args=(owner, lifeline), name="qpu-owner-watchdog", daemon=True).start()


def _watch_owner(owner: int, lifeline: Connection) -> None:
    """Exit this worker as soon as the owning process is gone."""
    while True:
        try:
            if lifeline.poll(WATCH_INTERVAL):  # nobody writes: readable means EOF
                break
        except (EOFError, OSError):
            break
        if not owner_alive(owner):  # the pipe may be held open by a forked child of the owner
            break
    os._exit(0)  # not sys.exit: the main thread may be deep in an Aer job


def owner_alive(pid: int) -> bool:
    """False once process ``pid`` has exited (a zombie counts as exited).

    Only POSIX can probe a pid safely (``os.kill(pid, 0)`` terminates it on
    Windows); elsewhere this is always True and the lifeline pipe decides.
    """
    if os.name != "posix":
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):  # no procfs (macOS): the pid exists, trust it
        return True


def _ready() -> int:
    assert _WORKER_QPU is not None
    return os.getpid()


def _execute(pub: Pub, seed: int | None) -> tuple[Any, float]:
    assert _WORKER_QPU is not None
    return timed_execute(_WORKER_QPU, pub, seed)


class ProcessEngine:
    """One single-worker process pool per QPU, started (and warmed up) eagerly.

    A worker that dies (killed, crashed) makes its QPU unavailable: every
    later ``submit`` to it returns a future failed with
    :class:`QPUUnavailableError`, never raises.
    """

    def __init__(self, qpus: Sequence[QPU], *, startup_timeout: float = 120.0) -> None:
        methods = multiprocessing.get_all_start_methods()
        # forkserver/spawn: forking a process that already runs threads is unsafe.
        context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
        self._names = [q.name for q in qpus]
        self._pids: list[int | None] = [None] * len(qpus)
        self._workers: list[ProcessPoolExecutor] = []
        lifeline, self._lifeline = context.Pipe(duplex=False)
        try:
            self._workers = [
                ProcessPoolExecutor(max_workers=1, mp_context=context, initializer=_init_worker,
                                    initargs=(q, os.getpid(), lifeline))
                for q in qpus
            ]
            futures = [w.submit(_ready) for w in self._workers]
            self._pids = [f.result(timeout=startup_timeout) for f in futures]
        except Exception as exc:
            self.close()
            raise BackendConfigError(f"could not start QPU worker processes: {exc}") from exc
        finally:
            lifeline.close()  # the workers hold their own copies; one worker per pool, never respawned

    def worker_pids(self) -> list[int | None]:
        """Process id of each QPU's worker (diagnostics; None if it never started)."""
        return list(self._pids)

    def submit(self, index: int, pub: Pub, seed: int | None) -> Future:
        name = self._names[index]

        def translate(exc: BaseException) -> BaseException:
            if isinstance(exc, BrokenProcessPool):
                return QPUUnavailableError(f"worker process of QPU {name!r} died: {exc}")
            return exc

        try:
            inner = self._workers[index].submit(_execute, pub, seed)
        except RuntimeError as exc:  # BrokenProcessPool: the worker died while idle; or shut down
            return failed_future(QPUUnavailableError(f"worker process of QPU {name!r} is gone: {exc}"))
        return relay(inner, translate)

    def close(self) -> None:
        for worker in self._workers:
            # A stalled job must not keep the interpreter alive at exit: stop its process.
            for process in list(getattr(worker, "_processes", {}).values()):
                process.terminate()
            worker.shutdown(wait=False, cancel_futures=True)
        self._workers = []
        self._lifeline.close()  # any worker still alive sees EOF and exits
