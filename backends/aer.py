"""AerQPU: a QPU simulated with qiskit-aer (optionally noisy).

Two routes for the shots of a PUB (``shots_method``):

* ``"exact"`` (default): the exact joint law of all classical bits per binding
  (:mod:`backends.distributions`, Aer's noise model applied exactly), then one
  multinomial per binding. Circuits it cannot represent fall back to per-shot.
* ``"per-shot"``: Aer's SamplerV2, which simulates every shot of a circuit with
  mid-circuit measurements on its own.

Both return what Aer's SamplerV2 returns; ``metadata["shots_route"]`` says
which ran (``"exact-distribution"`` or ``"per-shot"``, with ``per_shot_reason``).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from qiskit import QuantumCircuit
from qiskit.primitives import SamplerPubResult
from qiskit.transpiler import CouplingMap, generate_preset_pass_manager
from qiskit_aer import AerSimulator
from qiskit_aer.noise import NoiseModel
from qiskit_aer.primitives import SamplerV2

from .distributions import ExactProgram, Unsupported, compile_circuit, sample_data
from .errors import BackendConfigError
from .noise import NoiseChannels, noise_channels, noise_from_config
from .pub import Pub, circuit_fingerprint
from .qpu import QPU, TranspileCache, rebind_for

_TRANSPILE_SEED = 1234  # fixed: the same circuit always maps the same way
SHOTS_METHODS = ("exact", "per-shot")
_PROGRAMS = 256  # compiled circuits kept per QPU


class AerQPU(QPU):
    """A simulated QPU of ``num_qubits`` qubits.

    ``noise_model``: ``None`` (ideal), a qiskit-aer ``NoiseModel``, or a dict
    (see :mod:`backends.noise`), e.g. ``{"fake_backend": "FakeManilaV2"}`` or
    ``{"depolarizing_1q": 1e-3, "depolarizing_2q": 1e-2, "readout": 0.02}``.
    With a noise model or ``coupling_map``, circuits are transpiled (fixed
    seed) to the device's basis/couplings before simulation. ``seed`` is used
    only by :meth:`QPU.run` outside a pool (a pool passes per-PUB seeds).
    ``max_parallel_threads`` defaults to 1: one QPU models one core, so a
    pool of N QPUs uses N cores. ``shots_method``: ``"exact"`` (default) or
    ``"per-shot"`` (see the module docstring); ``method`` applies to per-shot
    runs only, the exact route is exact whatever the method.
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
        shots_method: str = "exact",
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
        if shots_method not in SHOTS_METHODS:
            raise BackendConfigError(f"QPU {name!r}: shots_method must be one of {SHOTS_METHODS}, "
                                     f"got {shots_method!r}")
        self._shots_method = shots_method
        self._channels: NoiseChannels | str | None = None  # built lazily; str = why noise has no exact form
        self._programs: OrderedDict[str, ExactProgram | str] = OrderedDict()
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

    @property
    def shots_method(self) -> str:
        return self._shots_method

    def execute(self, pub: Pub, seed: int | None) -> SamplerPubResult:
        circuit = pub.circuit
        if self.coupling_map or self.basis_gates:
            circuit = self._transpiled.get(circuit, self._transpile)
        bound = rebind_for(pub, circuit)
        reason = "shots_method='per-shot'"
        if self._shots_method == "exact":
            program = self._program(circuit)
            reason = program if isinstance(program, str) else program.too_costly(pub.shots, pub.num_bindings)
            if reason is None:
                return self._exact(pub, bound, program, seed)
        sampler = SamplerV2.from_backend(self._sim(), seed=seed)
        result = sampler.run([bound]).result()[0]
        return SamplerPubResult(result.data, metadata={**result.metadata, "shots_route": "per-shot",
                                                       "per_shot_reason": reason})

    def _exact(self, pub: Pub, bound: tuple, program: ExactProgram, seed: int | None) -> SamplerPubResult:
        circuit, values, shots = bound
        shape = tuple(pub.sampler_pub.shape)
        bindings = int(np.prod(shape, dtype=int))
        flat = np.zeros((bindings, 0)) if values is None else np.reshape(values, (bindings, program.num_parameters))
        law = program.probabilities(flat)
        data = sample_data(program, circuit, law, shape, shots, np.random.default_rng(seed))
        simulator = {"method": program.method, "num_qubits": program.num_qubits,
                     "num_records": program.num_records, "num_parameters": program.num_parameters}
        return SamplerPubResult(data, metadata={"shots": shots, "circuit_metadata": circuit.metadata,
                                                "simulator_metadata": simulator,
                                                "shots_route": "exact-distribution"})

    def _program(self, circuit: QuantumCircuit) -> ExactProgram | str:
        """Compiled circuit, or why it has no exact route (cached by content and labels)."""
        channels = self._noise_channels()
        if isinstance(channels, str):
            return channels
        key = circuit_fingerprint(circuit)
        if channels is not None:  # labels choose Aer's noise, and the fingerprint ignores them
            key += repr([inst.operation.label for inst in circuit.data])
        program = self._programs.get(key)
        if program is None:
            try:
                program = compile_circuit(circuit, channels)
            except Unsupported as exc:
                program = str(exc)
            self._programs[key] = program
            if len(self._programs) > _PROGRAMS:
                self._programs.popitem(last=False)
        else:
            self._programs.move_to_end(key)
        return program

    def _noise_channels(self) -> NoiseChannels | str | None:
        """The simulator's noise as channels: ``None`` when ideal, a string when it has no exact form."""
        if self._channels is None:
            model = self._sim().options.noise_model
            if model is None or model.is_ideal():
                self._channels = NoiseChannels()
            else:
                try:
                    self._channels = noise_channels(model)
                except ValueError as exc:
                    self._channels = f"noise model: {exc}"
        if isinstance(self._channels, NoiseChannels) and self._channels.is_ideal:
            return None
        return self._channels

    def __getstate__(self) -> dict[str, Any]:
        # Simulators and caches are rebuilt lazily after pickling (Ray actors).
        state = self.__dict__.copy()
        state["_simulator"] = None
        state["_transpiled"] = TranspileCache()
        state["_programs"] = OrderedDict()
        state["_channels"] = None
        return state
