"""Choose the engine that evaluates a gate circuit: one interface, three modes.

Every engine has ``prepare(weights (G, P_w)) -> callable(angles) -> (G, B, n_obs)``
with torch autograd flowing to both weights and angles.
"""

from __future__ import annotations

from dqlstm.circuits import GateCircuit
from dqlstm.engine import ExactEngine

MODES = ("exact", "cut-exact", "sampled")


def make_gate_engine(vqc: GateCircuit, mode: str = "exact", **options):
    if mode == "exact":
        if options:
            raise ValueError(f"mode 'exact' takes no engine options, got {sorted(options)}")
        return ExactEngine(vqc.circuit, vqc.inputs, vqc.weights)
    if mode in MODES:
        from dqlstm.cutting import gate_engine_for_mode

        return gate_engine_for_mode(vqc, mode, **options)
    raise ValueError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
