"""Choose the engine that evaluates a gate circuit: one interface, three modes.

Every engine has ``prepare(weights (G, P_w)) -> callable(angles) -> (G, B, n_obs)``
with torch autograd flowing to both weights and angles.
"""

from __future__ import annotations

from dqlstm.circuits import GateCircuit
from dqlstm.engine import ExactEngine

MODES = ("exact", "cut-exact", "sampled")
OPTIONS = {
    "exact": ("dtype", "unitary_max_qubits"),
    "cut-exact": ("max_qubits", "plan"),
    "sampled": ("max_qubits", "plan", "pool", "shots", "seed"),
}


def make_gate_engine(vqc: GateCircuit, mode: str = "exact", **options):
    if mode in OPTIONS:
        unknown = sorted(set(options) - set(OPTIONS[mode]))
        if unknown:
            raise ValueError(
                f"mode {mode!r} takes the engine options {', '.join(OPTIONS[mode])}; got unknown {unknown}"
            )
    if mode == "exact":
        return ExactEngine(vqc.circuit, vqc.inputs, vqc.weights, **options)
    if mode in MODES:
        from dqlstm.cutting import gate_engine_for_mode

        return gate_engine_for_mode(vqc, mode, **options)
    raise ValueError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
