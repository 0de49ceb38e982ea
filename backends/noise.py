"""Noise models for Aer QPUs from a plain dict (as read from TOML).

Two forms::

    {"fake_backend": "FakeManilaV2"}            # noise + coupling map + basis of a fake IBM device
    {"depolarizing_1q": 1e-3, "depolarizing_2q": 1e-2, "readout": 0.02,
     "basis_gates": ["rz", "sx", "x", "cx"]}     # simple model; every key optional

``readout`` is a flip probability or a pair ``[p(1|0), p(0|1)]``.

:func:`noise_channels` reads a ``NoiseModel`` back as the channels Aer applies,
for the exact-distribution route of :mod:`backends.distributions`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from qiskit.providers import BackendV2
from qiskit.quantum_info import Kraus
from qiskit_aer.noise import NoiseModel, QuantumError, ReadoutError, depolarizing_error

from .errors import BackendConfigError
from .schema import NOISE_KEYS

DEFAULT_BASIS = ("rz", "sx", "x", "cx")
_TWO_QUBIT = {"cx", "cz", "ecr", "swap", "iswap", "rzz", "rxx", "ryy", "rzx", "cy"}


@dataclass
class NoiseSpec:
    """What a noise description implies for an Aer QPU."""

    noise_model: NoiseModel | None
    backend: BackendV2 | None = None  # fake device whose target we transpile to
    basis_gates: list[str] | None = None


def fake_backend(name: str) -> BackendV2:
    """Instantiate ``qiskit_ibm_runtime.fake_provider.<name>`` (e.g. ``FakeManilaV2``)."""
    from qiskit_ibm_runtime import fake_provider
    from qiskit_ibm_runtime.fake_provider.fake_backend import FakeBackendV2

    cls = getattr(fake_provider, name, None) if isinstance(name, str) else None
    if not (isinstance(cls, type) and issubclass(cls, FakeBackendV2)):
        known = sorted(n for n in dir(fake_provider) if n.startswith("Fake") and n.endswith("V2"))
        sample = ", ".join(known[:8])
        raise BackendConfigError(
            f"unknown fake IBM backend {name!r}; use a FakeBackendV2 class name from "
            f"qiskit_ibm_runtime.fake_provider, e.g. {sample}, ... ({len(known)} known)"
        )
    return cls()


def noise_from_config(config: Mapping[str, Any] | NoiseModel | None, qpu_name: str = "QPU") -> NoiseSpec:
    """Turn ``None``, a NoiseModel or a dict (see module docstring) into a :class:`NoiseSpec`."""
    if config is None:
        return NoiseSpec(None)
    if isinstance(config, NoiseModel):
        return NoiseSpec(config, basis_gates=list(config.basis_gates))
    if not isinstance(config, Mapping):
        raise BackendConfigError(f"{qpu_name}: noise must be a dict or NoiseModel, got {type(config).__name__}")
    if "fake_backend" in config:
        extra = set(config) - {"fake_backend"}
        if extra:
            raise BackendConfigError(f"{qpu_name}: 'fake_backend' cannot be combined with {sorted(extra)}")
        backend = fake_backend(config["fake_backend"])
        return NoiseSpec(NoiseModel.from_backend(backend), backend=backend)
    unknown = set(config) - NOISE_KEYS
    if unknown:
        raise BackendConfigError(
            f"{qpu_name}: unknown noise keys {sorted(unknown)}; allowed: fake_backend or {sorted(NOISE_KEYS)}"
        )
    basis = list(config.get("basis_gates", DEFAULT_BASIS))
    if not basis or not all(isinstance(g, str) for g in basis):
        raise BackendConfigError(f"{qpu_name}: basis_gates must be a non-empty list of gate names")
    model = NoiseModel(basis_gates=basis)
    p1 = _probability(qpu_name, "depolarizing_1q", config.get("depolarizing_1q", 0.0))
    p2 = _probability(qpu_name, "depolarizing_2q", config.get("depolarizing_2q", 0.0))
    one_q = [g for g in basis if g not in _TWO_QUBIT and g not in {"rz", "measure", "reset", "delay"}]
    two_q = [g for g in basis if g in _TWO_QUBIT]
    if p1 > 0 and one_q:
        model.add_all_qubit_quantum_error(depolarizing_error(p1, 1), one_q)
    if p2 > 0 and two_q:
        model.add_all_qubit_quantum_error(depolarizing_error(p2, 2), two_q)
    readout = config.get("readout", 0.0)
    p01, p10 = _readout_pair(qpu_name, readout)
    if p01 > 0 or p10 > 0:
        model.add_all_qubit_readout_error(ReadoutError([[1 - p01, p01], [p10, 1 - p10]]))
    return NoiseSpec(model, basis_gates=basis)


def _probability(qpu_name: str, key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise BackendConfigError(f"{qpu_name}: noise {key} must be a probability in [0, 1], got {value!r}")
    return float(value)


def _readout_pair(qpu_name: str, value: Any) -> tuple[float, float]:
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise BackendConfigError(f"{qpu_name}: noise readout must be p or [p(1|0), p(0|1)], got {value!r}")
        return _probability(qpu_name, "readout", value[0]), _probability(qpu_name, "readout", value[1])
    p = _probability(qpu_name, "readout", value)
    return p, p


@dataclass(frozen=True)
class NoiseChannels:
    """A ``NoiseModel`` as the maps Aer applies, looked up the way Aer looks them up.

    Quantum errors are Kraus stacks ``K`` of shape ``(r, 2**k, 2**k)``,
    ``E(rho) = sum_i K_i rho K_i^dagger`` (kept as Aer ``QuantumError``s until
    first looked up: converting them is slow), keyed by instruction key (the
    instruction's label if it has one, else its name: Aer matches labels) and
    qubits. Aer applies a gate's error after the gate, a reset's after the
    reset and a measure's *before* the measurement; an error on given qubits
    replaces the all-qubit error of that instruction there.

    Readout errors are confusion matrices ``A[true, reported]`` per qubit,
    applied to the recorded bit of every measurement independently.
    ``pass_op_types``: instruction types a custom noise pass rewrites (those
    circuits need Aer itself); ``None`` means every instruction.
    """

    local: dict[str, dict[tuple[int, ...], np.ndarray | QuantumError]] = field(default_factory=dict)
    default: dict[str, np.ndarray | QuantumError] = field(default_factory=dict)
    readout: dict[int, np.ndarray] = field(default_factory=dict)
    default_readout: np.ndarray | None = None
    pass_op_types: tuple[type, ...] | None = ()

    @property
    def is_ideal(self) -> bool:
        """No error of any kind."""
        return not (self.local or self.default or self.readout or self.default_readout is not None
                    or self.pass_op_types != ())

    def error(self, key: str, qubits: tuple[int, ...]) -> np.ndarray | None:
        """Kraus stack of the error on instruction ``key`` acting on ``qubits``, if any."""
        table: dict[Any, np.ndarray | QuantumError] | None = self.local.get(key)
        slot: Any = qubits
        if table is None or qubits not in table:
            table, slot = self.default, key
            if key not in table:
                return None
        found = table[slot]
        if not isinstance(found, np.ndarray):
            found = table[slot] = _kraus(found)
        return found

    def readout_matrix(self, qubit: int) -> np.ndarray | None:
        """Confusion matrix of a measurement of ``qubit``, if it has a readout error."""
        return self.readout.get(qubit, self.default_readout)

    def rewrites(self, operation: Any) -> bool:
        """True when a custom noise pass of the model would rewrite ``operation``."""
        if self.pass_op_types is None:
            return True
        return bool(self.pass_op_types) and isinstance(operation, self.pass_op_types)


def noise_channels(model: NoiseModel) -> NoiseChannels:
    """Read ``model`` as :class:`NoiseChannels`; ``ValueError`` (the reason) if it has no exact form here.

    Not representable: readout errors on several qubits at once (correlated).
    """
    local: dict[str, dict[tuple[int, ...], np.ndarray | QuantumError]] = {}
    for key, by_qubits in model._local_quantum_errors.items():
        local[key] = {tuple(q): error for q, error in by_qubits.items()}
    default: dict[str, np.ndarray | QuantumError] = dict(model._default_quantum_errors)
    readout = {}
    for qubits, error in model._local_readout_errors.items():
        if len(qubits) != 1:
            raise ValueError(f"correlated readout error on qubits {tuple(qubits)}")
        readout[int(qubits[0])] = _confusion(error)
    default_readout = None
    if model._default_readout_error is not None:
        if model._default_readout_error.number_of_qubits != 1:
            raise ValueError("correlated all-qubit readout error")
        default_readout = _confusion(model._default_readout_error)
    pass_ops: tuple[type, ...] | None = ()
    for noise_pass in model._custom_noise_passes:
        ops = getattr(noise_pass, "_ops", None)
        if not ops:  # a pass without op types rewrites everything
            pass_ops = None
            break
        pass_ops = (*pass_ops, *ops)
    return NoiseChannels(local, default, readout, default_readout, pass_ops)


def _kraus(error: Any) -> np.ndarray:
    return np.asarray(Kraus(error.to_quantumchannel()).data, dtype=complex)


def _confusion(error: ReadoutError) -> np.ndarray:
    return np.asarray(error.probabilities, dtype=float)
