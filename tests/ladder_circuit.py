"""The small measured circuit the backend tests run everywhere."""

from qiskit import QuantumCircuit
from qiskit.circuit import ParameterVector


def ladder(width: int, name: str = "x") -> QuantumCircuit:
    """``RY(x_i)`` on every qubit, a CX chain, then measure all."""
    x = ParameterVector(name, width)
    qc = QuantumCircuit(width)
    for i in range(width):
        qc.ry(x[i], i)
    for i in range(width - 1):
        qc.cx(i, i + 1)
    qc.measure_all()
    return qc
