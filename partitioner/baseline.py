"""qiskit-addon-cutting's own cut finder, as a :class:`CutPlan` (the benchmark's reference)."""

from __future__ import annotations

import time

from qiskit.circuit import QuantumCircuit
from qiskit_addon_cutting import DeviceConstraints, OptimizationParameters, find_cuts

from .assemble import assemble_plan, timelines_from_cuts
from .capacities import Capacities
from .model import build_model
from .plan import CutPlan


def find_cuts_positions(
    circuit: QuantumCircuit,
    max_qubits: int,
    *,
    seed: int | None = 0,
    max_gamma: float = 1024,
    max_backjumps: int | None = 10000,
) -> tuple[list[int], list[tuple[int, int]], dict]:
    """Run ``find_cuts`` and map its cuts back to the original circuit.

    Returns:
        ``(gate cut instruction indices, [(instruction index, qubit)] wire cuts,
        find_cuts metadata)``. A wire cut sits just before the instruction.
    """
    cut_circ, meta = find_cuts(
        circuit,
        OptimizationParameters(seed=seed, max_gamma=max_gamma, max_backjumps=max_backjumps),
        DeviceConstraints(qubits_per_subcircuit=max_qubits),
    )
    gates: list[int] = []
    wires: list[tuple[int, int]] = []
    inserted = 0  # cut_wire instructions seen so far shift the original indices
    for i, inst in enumerate(cut_circ.data):
        name = inst.operation.name
        if name == "cut_wire":
            # it precedes the next original instruction, index i - inserted
            wires.append((i - inserted, cut_circ.find_bit(inst.qubits[0]).index))
            inserted += 1
        elif name == "qpd_2q":
            gates.append(i - inserted)
    return gates, wires, meta


def find_cuts_plan(circuit: QuantumCircuit, max_qubits: int, *, seed: int | None = 0) -> CutPlan:
    """The plan ``find_cuts`` finds for ``circuit`` on QPUs of ``max_qubits`` qubits."""
    t0 = time.perf_counter()
    gates, wires, meta = find_cuts_positions(circuit, max_qubits, seed=seed)
    seconds = time.perf_counter() - t0
    model = build_model(circuit)
    seq = timelines_from_cuts(model, gates, wires)
    stats = {
        "seconds": seconds,
        "find_cuts_overhead": float(meta["sampling_overhead"]),
        "minimum_reached": bool(meta["minimum_reached"]),
    }
    return assemble_plan(
        model,
        Capacities.parse(max_qubits),
        seq,
        method="find_cuts",
        gate_optimal=False,
        stats=stats,
    )
