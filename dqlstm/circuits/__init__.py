"""Gate circuits of the QLSTM: qiskit circuits with input and weight ParameterVectors."""

from .ansatz import ANSATZE, GateCircuit, build_vqc

__all__ = ["ANSATZE", "GateCircuit", "build_vqc"]
