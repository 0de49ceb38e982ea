"""Ansatz families for the QLSTM gate circuits.

Every family returns a :class:`GateCircuit`: a ``QuantumCircuit`` whose free
parameters are two ``ParameterVector`` s, ``x`` (encoding angles, set from the
data each step) and ``theta`` (trainable weights). Trainable parameters sit on
single-qubit rotations only, so every two-qubit gate is parameter-free and can
be cut with a fixed quasi-probability decomposition.

The circuit is the single source of truth: the exact engine, the cutting
engines and the QPUs all consume it; nothing re-implements an ansatz by hand.

Families
--------
``chen2020``
    Chen, Yoo, Fang (2020): per qubit ``H, RY(arctan v), RZ(arctan v^2)``;
    each layer is a CNOT(i, i+1) ring, a CNOT(i, i+2) ring and
    ``Rot(a, b, g) = RZ(g) RY(b) RZ(a)`` on every qubit.
``brick``
    ``H, RY(v)`` per qubit; each layer an open CNOT chain then ``RY`` per qubit.
``modular``
    Liu, Chen et al. (2025): ``M`` modules of ``q`` qubits; each module carries
    its own chen2020-style encoding and trainable block (rings inside the
    module). ``links`` CNOTs join neighbouring modules after every layer;
    ``links=0`` is the paper's distributed QLSTM, which needs no cut at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from qiskit.circuit import ParameterVector, QuantumCircuit

from dqlstm.choices import ANSATZE


@dataclass(frozen=True)
class GateCircuit:
    """A variational gate circuit and how data becomes its encoding angles.

    Attributes:
        circuit: the parameterised circuit (no measurements).
        inputs: encoding-angle parameters, ``len(inputs) == num_inputs``.
        weights: trainable parameters.
        ansatz: family name.
        num_qubits: circuit width.
        layers: number of variational layers.
        features_per_qubit: how many encoding angles each data value feeds.
        modules: qubit groups that the ansatz keeps separate (``modular`` only;
            one group holding every qubit otherwise).
        links: inter-module CNOTs per layer (``modular`` only).
    """

    circuit: QuantumCircuit
    inputs: ParameterVector
    weights: ParameterVector
    ansatz: str
    num_qubits: int
    layers: int
    features_per_qubit: int
    modules: tuple[tuple[int, ...], ...] = field(default=())
    links: int = 0

    @property
    def num_inputs(self) -> int:
        return len(self.inputs)

    @property
    def num_weights(self) -> int:
        return len(self.weights)

    def encode(self, values: torch.Tensor) -> torch.Tensor:
        """Map data values ``(..., num_qubits)`` to encoding angles ``(..., num_inputs)``."""
        if values.shape[-1] != self.num_qubits:
            raise ValueError(
                f"{self.ansatz} circuit on {self.num_qubits} qubits takes {self.num_qubits} "
                f"values per sample, got {values.shape[-1]}"
            )
        return _ENCODERS[self.ansatz](values)

    def init_weights(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """Uniform random weights in [0, 2pi), the usual VQC initialisation."""
        return 2 * np.pi * torch.rand(self.num_weights, generator=generator, dtype=torch.float64)


def _arctan_pair(values: torch.Tensor) -> torch.Tensor:
    # per qubit: (arctan v, arctan v^2), interleaved as x[2i], x[2i+1]
    return torch.stack((torch.atan(values), torch.atan(values * values)), dim=-1).flatten(-2)


def _identity(values: torch.Tensor) -> torch.Tensor:
    return values


_ENCODERS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "chen2020": _arctan_pair,
    "brick": _identity,
    "modular": _arctan_pair,
}


def _chen_encoding(qc: QuantumCircuit, x: ParameterVector, qubits: list[int]) -> None:
    for q in qubits:
        qc.h(q)
        qc.ry(x[2 * q], q)
        qc.rz(x[2 * q + 1], q)


def _chen_entangle(qc: QuantumCircuit, qubits: list[int]) -> None:
    n = len(qubits)
    if n < 2:
        return
    # rings close only when they add a new pair: 2 qubits get a single CNOT
    for i in range(n if n > 2 else 1):
        qc.cx(qubits[i], qubits[(i + 1) % n])
    if n > 2:
        for i in range(n):
            qc.cx(qubits[i], qubits[(i + 2) % n])


def _rot(qc: QuantumCircuit, theta: ParameterVector, start: int, q: int) -> None:
    qc.rz(theta[start], q)
    qc.ry(theta[start + 1], q)
    qc.rz(theta[start + 2], q)


def build_vqc(
    ansatz: str,
    n_qubits: int,
    layers: int = 2,
    *,
    module_size: int = 3,
    links: int = 0,
    name: str | None = None,
) -> GateCircuit:
    """Build one gate circuit of the given ansatz family.

    Args:
        ansatz: one of :data:`ANSATZE`.
        n_qubits: total width.
        layers: number of variational layers (>= 1).
        module_size: qubits per module (``modular`` only; must divide ``n_qubits``).
        links: inter-module CNOTs per layer between neighbouring modules
            (``modular`` only; at most ``module_size``).
        name: circuit name.
    """
    if ansatz not in ANSATZE:
        raise ValueError(f"unknown ansatz {ansatz!r}; choose one of {', '.join(ANSATZE)}")
    if not isinstance(n_qubits, (int, np.integer)) or n_qubits < 1:
        raise ValueError(f"n_qubits must be a positive integer, got {n_qubits!r}")
    if not isinstance(layers, (int, np.integer)) or layers < 1:
        raise ValueError(f"layers must be a positive integer, got {layers!r}")
    if ansatz != "modular" and links:
        raise ValueError(f"links only applies to the modular ansatz, not {ansatz!r}")
    n = int(n_qubits)
    qc_name = name or f"{ansatz}_{n}q_{layers}l"
    if ansatz == "chen2020":
        x = ParameterVector("x", 2 * n)
        theta = ParameterVector("theta", 3 * n * layers)
        qc = QuantumCircuit(n, name=qc_name)
        _chen_encoding(qc, x, list(range(n)))
        for layer in range(layers):
            _chen_entangle(qc, list(range(n)))
            for q in range(n):
                _rot(qc, theta, 3 * (layer * n + q), q)
        return GateCircuit(qc, x, theta, ansatz, n, layers, 2, (tuple(range(n)),))
    if ansatz == "brick":
        x = ParameterVector("x", n)
        theta = ParameterVector("theta", n * layers)
        qc = QuantumCircuit(n, name=qc_name)
        for q in range(n):
            qc.h(q)
            qc.ry(x[q], q)
        for layer in range(layers):
            for q in range(n - 1):
                qc.cx(q, q + 1)
            for q in range(n):
                qc.ry(theta[layer * n + q], q)
        return GateCircuit(qc, x, theta, ansatz, n, layers, 1, (tuple(range(n)),))
    # modular
    if module_size < 1 or n % module_size:
        raise ValueError(
            f"modular ansatz: module_size={module_size} must be positive and divide n_qubits={n}"
        )
    if links < 0 or links > module_size:
        raise ValueError(f"modular ansatz: links must be in [0, module_size={module_size}], got {links}")
    modules = [list(range(m * module_size, (m + 1) * module_size)) for m in range(n // module_size)]
    if links and len(modules) < 2:
        raise ValueError("modular ansatz: links need at least two modules")
    x = ParameterVector("x", 2 * n)
    theta = ParameterVector("theta", 3 * n * layers)
    qc = QuantumCircuit(n, name=qc_name)
    for mod in modules:
        _chen_encoding(qc, x, mod)
    for layer in range(layers):
        for mod in modules:
            _chen_entangle(qc, mod)
            for q in mod:
                _rot(qc, theta, 3 * (layer * n + q), q)
        for left, right in zip(modules, modules[1:]):
            for j in range(links):
                qc.cx(left[-1 - j], right[j])
    return GateCircuit(
        qc, x, theta, ansatz, n, layers, 2, tuple(tuple(m) for m in modules), int(links)
    )
