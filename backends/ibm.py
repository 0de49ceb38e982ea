"""IBMRuntimeQPU: an IBM Quantum backend through qiskit-ibm-runtime, in a Batch.

Circuits are transpiled to the backend's ISA with qiskit's preset pass
manager and run with the runtime's current sampler: the client-side
``qiskit_ibm_runtime.executor_sampler.Sampler`` (built on ``Executor``,
0.50+), else the legacy ``SamplerV2`` on older releases. A fake backend
(``"FakeManilaV2"`` or an instance) selects the library's local testing
mode: no account, no network. Job ids are logged at INFO; tokens never are.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

from qiskit.primitives import SamplerPubResult
from qiskit.providers import BackendV2
from qiskit.transpiler import generate_preset_pass_manager

from .errors import BackendConfigError, IBMCredentialsError, JobFailedError
from .noise import fake_backend
from .pub import Pub
from .qpu import QPU, TranspileCache, rebind_for

logger = logging.getLogger(__name__)

SAVE_ACCOUNT_HELP = (
    "no IBM Quantum account found. Save one once (token and instance CRN from "
    "https://quantum.cloud.ibm.com):\n"
    "    from qiskit_ibm_runtime import QiskitRuntimeService\n"
    "    QiskitRuntimeService.save_account(channel='ibm_quantum_platform', token='<API key>',\n"
    "                                      instance='<CRN or instance name>', set_as_default=True)\n"
    "or set QISKIT_IBM_TOKEN / QISKIT_IBM_INSTANCE. Never put the token in a config file. "
    "For tests use a fake backend, e.g. backend='FakeManilaV2' (local testing mode)."
)


def runtime_sampler_class() -> type:
    """The sampler class to use with the installed qiskit-ibm-runtime."""
    try:
        from qiskit_ibm_runtime.executor_sampler import Sampler  # 0.50+: SamplerV2 deprecated
    except ImportError:
        from qiskit_ibm_runtime import SamplerV2 as Sampler
    return Sampler


def runtime_service(channel: str | None = None, instance: str | None = None, **kwargs: Any) -> Any:
    """``QiskitRuntimeService`` from the saved account or env, or IBMCredentialsError."""
    from qiskit_ibm_runtime import QiskitRuntimeService
    from qiskit_ibm_runtime.accounts import AccountNotFoundError

    try:
        return QiskitRuntimeService(channel=channel, instance=instance, **kwargs)
    except AccountNotFoundError as exc:
        raise IBMCredentialsError(SAVE_ACCOUNT_HELP) from exc


def _is_local(backend: BackendV2) -> bool:
    from qiskit_ibm_runtime import IBMBackend

    return not isinstance(backend, IBMBackend)


class IBMRuntimeQPU(QPU):
    """A QPU backed by an IBM Quantum device (or a fake one, locally).

    ``backend``: a device name (``"ibm_torino"``; needs a saved account), a
    fake backend class name (``"FakeManilaV2"``: local testing mode) or a
    ``BackendV2`` instance. ``num_qubits`` caps the fragment width accepted
    (default: the device's size). ``local_noise=False`` simulates a fake
    backend without its noise (its ISA and couplings are kept).
    ``max_parallel_threads`` (local mode only, default 1 like ``AerQPU``)
    caps the simulator's OpenMP threads per job. Each
    :meth:`execute` is one job in this QPU's ``Batch``; ``job_timeout`` (s)
    bounds waiting on a remote job.
    """

    def __init__(
        self,
        name: str,
        backend: str | BackendV2,
        *,
        num_qubits: int | None = None,
        service: Any = None,
        channel: str | None = None,
        instance: str | None = None,
        optimization_level: int = 1,
        local_noise: bool = True,
        job_timeout: float | None = None,
        max_parallel_threads: int = 1,
    ) -> None:
        device = self._resolve(name, backend, service, channel, instance)
        self.local = _is_local(device)
        if isinstance(max_parallel_threads, bool) or not isinstance(max_parallel_threads, int) \
                or max_parallel_threads < 0:
            raise BackendConfigError(f"QPU {name!r}: max_parallel_threads must be an int >= 0")
        size = device.num_qubits
        width = size if num_qubits is None else num_qubits
        if isinstance(width, int) and not isinstance(width, bool) and width > size:
            raise BackendConfigError(f"QPU {name!r}: num_qubits={width} exceeds {device.name} ({size} qubits)")
        coupling = device.coupling_map
        super().__init__(name, width, coupling_map=list(coupling.get_edges()) if coupling else None,
                         basis_gates=list(device.operation_names))
        if optimization_level not in (0, 1, 2, 3):
            raise BackendConfigError(f"QPU {name!r}: optimization_level must be 0..3")
        self.backend = device
        self.local_noise = local_noise
        self.max_parallel_threads = max_parallel_threads
        self._simulator: Any = None  # local mode: the AerSimulator the runtime runs, built once
        self.job_timeout = job_timeout
        self._optimization_level = optimization_level
        self._pm: Any = None  # built on first use (pass managers do not pickle)
        self._transpiled = TranspileCache()
        self._batch: Any = None
        self.job_ids: list[str] = []

    @staticmethod
    def _resolve(name: str, backend: Any, service: Any, channel: str | None, instance: str | None) -> BackendV2:
        if isinstance(backend, BackendV2):
            return backend
        if not isinstance(backend, str) or not backend:
            raise BackendConfigError(f"QPU {name!r}: backend must be a name or a BackendV2, got {backend!r}")
        if backend.startswith("Fake"):
            return fake_backend(backend)
        service = service or runtime_service(channel, instance)
        try:
            return service.backend(backend)
        except Exception as exc:  # QiskitBackendNotFoundError and friends
            raise BackendConfigError(f"QPU {name!r}: IBM backend {backend!r} not available: {exc}") from exc

    def estimate_cost(self, pub: Pub) -> float:
        if self.local:
            return super().estimate_cost(pub)
        # Hardware: a few seconds per job plus ~250 us per shot (rep. delay + readout).
        return 2.0 + 2.5e-4 * pub.shots * pub.num_bindings

    def execute(self, pub: Pub, seed: int | None) -> SamplerPubResult:
        from qiskit_ibm_runtime import Batch

        if self._batch is None:
            self._batch = Batch(backend=self._local_simulator() if self.local else self.backend)
        if self._pm is None:
            self._pm = generate_preset_pass_manager(self._optimization_level, backend=self.backend,
                                                    seed_transpiler=1234)
        circuit = self._transpiled.get(pub.circuit, self._pm.run)
        sampler = runtime_sampler_class()(mode=self._batch)
        if self.local and seed is not None:
            sampler.options.simulator.seed_simulator = seed
        job = sampler.run([rebind_for(pub, circuit)])
        self.job_ids.append(job.job_id())
        logger.info("QPU %s (%s): job %s, %d binding(s) x %d shots",
                    self.name, self.backend.name, job.job_id(), pub.num_bindings, pub.shots)
        try:
            result = job.result() if self.local else job.result(timeout=self.job_timeout)
        except Exception as exc:
            if not self.local:
                _cancel_quietly(job)
            raise JobFailedError(f"QPU {self.name!r}: job {job.job_id()} failed: {exc}") from exc
        return result[0]

    def __getstate__(self) -> dict[str, Any]:
        # A Batch is tied to this process; worker processes open their own.
        state = self.__dict__.copy()
        state["_batch"] = None
        state["_simulator"] = None
        state["_pm"] = None
        state["_transpiled"] = TranspileCache()
        return state

    def _local_simulator(self) -> Any:
        # The runtime's local mode builds an AerSimulator from a fake backend on every job
        # (its noise model: ~0.1 s) with all cores per job; with one pool thread per QPU
        # on few cores those threads oversubscribe (10x slower on 2 cores). Build it once,
        # with the fake device's target and (unless local_noise is False) its noise.
        if self._simulator is None:
            from qiskit_aer import AerSimulator

            if isinstance(self.backend, AerSimulator):  # a simulator given as the backend: keep its noise
                sim = copy.deepcopy(self.backend)
            else:
                sim = AerSimulator.from_backend(self.backend)
            sim.set_options(max_parallel_threads=self.max_parallel_threads)
            if not self.local_noise:
                sim.set_options(noise_model=None)
            self._simulator = sim
        return self._simulator

    def close(self) -> None:
        if self._batch is not None:
            try:
                self._batch.close()
            finally:
                self._batch = None


def _cancel_quietly(job: Any) -> None:
    try:
        job.cancel()
    except Exception:  # already finished or gone: nothing to cancel
        logger.debug("could not cancel job %s", job.job_id(), exc_info=True)
