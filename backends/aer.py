"""AerQPU: a QPU simulated by qiskit-aer's SamplerV2 (optionally noisy)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from qiskit import QuantumCircuit
from qiskit.primitives import SamplerPubResult
from qiskit.transpiler import CouplingMap, generate_preset_pass_manager
from qiskit_aer import AerSimulator
from qiskit_aer.noise import NoiseModel
from qiskit_aer.primitives import SamplerV2

from .errors import BackendConfigError
from .noise import noise_from_config
from .pub import Pub
from .qpu import QPU, TranspileCache, rebind_for

_TRANSPILE_SEED = 1234  # fixed: the same circuit always maps the same way


class AerQPU(QPU):
    """A simulated QPU of ``num_qubits`` qubits.

    ``noise_model``: ``None`` (ideal), a qiskit-aer ``NoiseModel``, or a dict
    (see :mod:`backends.noise`), e.g. ``{"fake_backend": "FakeManilaV2"}`` or
    ``{"depolarizing_1q": 1e-3, "depolarizing_2q": 1e-2, "readout": 0.02}``.
    With a noise model or ``coupling_map``, circuits are transpiled (fixed
    seed) to the device's basis/couplings before simulation. ``seed`` is used
    only by :meth:`QPU.run` outside a pool (a pool passes per-PUB seeds).
    ``max_parallel_threads`` defaults to 1: one QPU models one core, so a
    pool of N QPUs uses N cores.
    """

    def __init__(
        self,
        name: str,
        num_qubits: int,
        noise_model: Mapping[str, Any] | NoiseModel | None = None,
        seed: int | None = None,
        *,
        coupling_map: Sequence[Sequence[int]] | None = None,
        max_parallel_threads: int = 1,
        method: str = "automatic",
        optimization_level: int = 1,
    ) -> None:
        spec = noise_from_config(noise_model, f"QPU {name!r}")
        basis = spec.basis_gates
        if spec.backend is not None:
            device = spec.backend.num_qubits
            if isinstance(num_qubits, int) and not isinstance(num_qubits, bool) and num_qubits > device:
                raise BackendConfigError(
                    f"QPU {name!r}: num_qubits={num_qubits} exceeds {spec.backend.name} ({device} qubits)"
                )
            coupling_map = coupling_map or list(spec.backend.coupling_map.get_edges())
            basis = list(spec.backend.operation_names)
        super().__init__(name, num_qubits, coupling_map=coupling_map, basis_gates=basis, seed=seed)
        threads = max_parallel_threads
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 0:
            raise BackendConfigError(f"QPU {name!r}: max_parallel_threads must be an int >= 0")
        if optimization_level not in (0, 1, 2, 3):
            raise BackendConfigError(f"QPU {name!r}: optimization_level must be 0..3, got {optimization_level!r}")
        self._spec = spec
        self._threads = max_parallel_threads
        self._method = method
        self._optimization_level = optimization_level
        self._simulator: AerSimulator | None = None
        self._transpiled = TranspileCache()
        self._sim()

    @property
    def noise_model(self) -> NoiseModel | None:
        return self._spec.noise_model

    def _sim(self) -> AerSimulator:
        if self._simulator is None:
            options: dict[str, Any] = {"max_parallel_threads": self._threads, "method": self._method}
            if self._spec.backend is not None:
                sim = AerSimulator.from_backend(self._spec.backend, **options)
            else:
                sim = AerSimulator(noise_model=self._spec.noise_model, **options)
            self._simulator = sim
        return self._simulator

    def _transpile(self, circuit: QuantumCircuit) -> QuantumCircuit:
        if self._spec.backend is not None:
            pm = generate_preset_pass_manager(
                self._optimization_level, backend=self._sim(), seed_transpiler=_TRANSPILE_SEED
            )
        else:
            coupling = CouplingMap(self.coupling_map) if self.coupling_map else None
            pm = generate_preset_pass_manager(
                self._optimization_level,
                basis_gates=self.basis_gates,
                coupling_map=coupling,
                seed_transpiler=_TRANSPILE_SEED,
            )
        return pm.run(circuit)

    def execute(self, pub: Pub, seed: int | None) -> SamplerPubResult:
        circuit = pub.circuit
        if self.coupling_map or self.basis_gates:
            circuit = self._transpiled.get(circuit, self._transpile)
        sampler = SamplerV2.from_backend(self._sim(), seed=seed)
        return sampler.run([rebind_for(pub, circuit)]).result()[0]

    def __getstate__(self) -> dict[str, Any]:
        # Simulators and caches are rebuilt lazily after pickling (Ray actors).
        state = self.__dict__.copy()
        state["_simulator"] = None
        state["_transpiled"] = TranspileCache()
        return state
