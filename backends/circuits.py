"""Pure helpers that inspect qiskit circuits and instructions.

The lowest layer of the project: the planner (:mod:`partitioner`) and the
simulators (:mod:`dqlstm.engine`, :mod:`dqlstm.cutting`) share these, so none of
them depends on another for a circuit question. Needs qiskit only: importing
this module loads neither Aer nor IBM Runtime (``backends`` re-exports lazily).
"""

from __future__ import annotations

from qiskit.circuit import CircuitInstruction, Instruction, ParameterExpression, QuantumCircuit


def has_unbound_parameters(op: Instruction) -> bool:
    """Unbound parameters in ``op``; ``is_parameterized`` misses those of controlled gates."""
    return any(isinstance(p, ParameterExpression) and p.parameters for p in op.params) or bool(
        getattr(op, "is_parameterized", lambda: False)()
    )


def qubit_indices(circuit: QuantumCircuit, inst: CircuitInstruction) -> tuple[int, ...]:
    """Indices in ``circuit`` of the qubits ``inst`` acts on, in the instruction's order."""
    return tuple(circuit.find_bit(q).index for q in inst.qubits)
