"""Ray engine: one Ray actor per QPU (extra ``dqlstm[ray]``); imported only on demand."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from typing import Any

from .engines import failed_future, relay, timed_execute
from .errors import BackendConfigError, QPUUnavailableError
from .pub import Pub
from .qpu import QPU

logger = logging.getLogger(__name__)

# Local clusters stay small and on loopback; an existing cluster is used as is.
LOCAL_INIT: dict[str, Any] = {
    "num_cpus": 2,
    "include_dashboard": False,
    "log_to_driver": False,
    "_node_ip_address": "127.0.0.1",
}


class _QPUActor:
    """Holds one QPU in a Ray worker process; runs one job at a time."""

    def __init__(self, qpu: QPU) -> None:
        self.qpu = qpu

    def ready(self) -> str:
        return self.qpu.name

    def execute(self, pub: Pub, seed: int | None) -> tuple[Any, float]:
        return timed_execute(self.qpu, pub, seed)

    def close(self) -> None:
        self.qpu.close()


class RayEngine:
    """Dispatches each QPU's jobs to its own Ray actor.

    ``address=None`` starts a light local Ray (2 CPUs, no dashboard, loopback)
    unless Ray is already initialised; otherwise connects to ``address``
    (e.g. ``"auto"`` or ``"ray://head:10001"``).
    """

    def __init__(
        self,
        qpus: Sequence[QPU],
        *,
        address: str | None = None,
        actor_options: Mapping[str, Any] | None = None,
        init_kwargs: Mapping[str, Any] | None = None,
        startup_timeout: float = 120.0,
    ) -> None:
        try:
            import ray
        except ImportError as exc:
            raise BackendConfigError(
                "engine='ray' needs Ray: pip install 'dqlstm[ray]' (or use engine='local')"
            ) from exc
        self._ray = ray
        self._owns_ray = False
        if not ray.is_initialized():
            kwargs = dict(init_kwargs or {})
            if address is None:
                kwargs = {**LOCAL_INIT, **kwargs}
            else:
                kwargs.setdefault("log_to_driver", False)
            try:
                ray.init(address=address, **kwargs)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                where = "a local Ray instance" if address is None else f"the Ray cluster at {address!r}"
                raise BackendConfigError(f"could not start or join {where}: {exc}") from exc
            self._owns_ray = True
        # num_cpus=0: QPUs are I/O- or Aer-thread-bound; CPU slots must not block actor placement.
        options = {"num_cpus": 0, "max_concurrency": 1, **dict(actor_options or {})}
        actor_cls = ray.remote(_QPUActor)
        self._actors = [actor_cls.options(**options).remote(q) for q in qpus]
        try:
            ray.get([a.ready.remote() for a in self._actors], timeout=startup_timeout)
        except ray.exceptions.GetTimeoutError as exc:
            self.close()
            raise BackendConfigError(
                f"Ray could not start {len(qpus)} QPU actors within {startup_timeout} s "
                "(check cluster resources and actor_options)"
            ) from exc

    def submit(self, index: int, pub: Pub, seed: int | None) -> Future:
        def translate(exc: BaseException) -> BaseException:
            if isinstance(exc, self._ray.exceptions.RayActorError):
                # The actor (hence the QPU) died: reroute, never retry on it.
                return QPUUnavailableError(f"Ray actor of QPU #{index} died: {exc}")
            return exc

        try:
            ref = self._actors[index].execute.remote(pub, seed)
        except self._ray.exceptions.RayActorError as exc:  # the pool expects a failed future, not a raise
            return failed_future(translate(exc))
        return relay(ref.future(), translate)

    def close(self) -> None:
        for actor in getattr(self, "_actors", []):
            try:
                self._ray.kill(actor)
            except Exception:  # already dead: nothing to release
                logger.debug("Ray actor already gone", exc_info=True)
        self._actors = []
        if self._owns_ray:
            self._ray.shutdown()
            self._owns_ray = False
