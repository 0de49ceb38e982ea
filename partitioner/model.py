"""The circuit as the partitioner sees it: qubits, and the multi-qubit gates between them.

Single-qubit gates never constrain a partition, so only instructions on two or
more qubits are kept (*interactions*). Each qubit carries its timeline: the
interactions touching it in circuit order (its *events*). A wire cut splits a
timeline between two consecutive events; everything before goes to one
fragment, everything after to another.

The qubit interaction graph (:func:`interaction_graph`) has one node per qubit
and one edge per interacting pair, weighted by
:math:`w_{ij} = \\sum_{g \\in G_{ij}} \\log \\gamma^2_g` over the gates
:math:`G_{ij}` between them. A qubit partition cutting the edge set :math:`E_c`
then costs :math:`\\sum_{E_c} w_{ij} = \\log \\prod \\gamma^2`: the log of
the plan's sampling overhead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import networkx as nx
from qiskit.circuit import ControlFlowOp, Delay, Gate, QuantumCircuit

from backends.circuits import has_unbound_parameters, qubit_indices

from .costs import CutCost, UncuttableGateError, gate_cut_cost
from .errors import PlanError

_IGNORED = frozenset({"barrier", "delay"})


@dataclass(frozen=True)
class Interaction:
    """One instruction acting on two or more qubits.

    Attributes:
        index: position in ``circuit.data``.
        name: operation name.
        qubits: circuit qubit indices, in instruction order.
        cost: overhead of cutting it, or ``None`` if it cannot be cut.
        reason: why it cannot be cut (``None`` if it can).
        parameterized: the operation has unbound parameters.
    """

    index: int
    name: str
    qubits: tuple[int, ...]
    cost: CutCost | None
    reason: str | None
    parameterized: bool

    @property
    def weight(self) -> float:
        """:math:`\\log \\gamma^2` of cutting it (``inf`` when it cannot be cut)."""
        return math.inf if self.cost is None else self.cost.weight

    def describe(self) -> str:
        """Short human name, e.g. ``cx on qubits (0, 1) at instruction 7``."""
        return f"{self.name} on qubits {self.qubits} at instruction {self.index}"


@dataclass(frozen=True)
class CircuitModel:
    """Interactions of a circuit and each qubit's timeline of them.

    Attributes:
        num_qubits: circuit width.
        interactions: multi-qubit instructions in circuit order.
        events: ``events[q]`` lists the ids (into ``interactions``) touching
            qubit ``q``, in time order.
        positions: ``positions[g][k]`` is where interaction ``g`` sits in the
            timeline of its ``k``-th qubit: ``events[qubits[k]][positions[g][k]] == g``.
    """

    num_qubits: int
    interactions: tuple[Interaction, ...]
    events: tuple[tuple[int, ...], ...]
    positions: tuple[tuple[int, ...], ...]

    def uncuttable(self) -> list[Interaction]:
        """Interactions that must stay inside one fragment."""
        return [g for g in self.interactions if g.cost is None]


def _check_instruction(i: int, inst, circuit: QuantumCircuit) -> None:
    op = inst.operation
    qubits = qubit_indices(circuit, inst)
    where = f"instruction {i} ({op.name} on qubits {qubits})"
    if op.name == "measure":
        raise PlanError(f"{where} is a measurement; the VQC must be unitary (measure after cutting)")
    if op.name == "reset":
        raise PlanError(f"{where} is a reset; the VQC must be unitary")
    if isinstance(op, ControlFlowOp) or getattr(op, "condition", None) is not None:
        raise PlanError(f"{where} is classically controlled; the VQC must be unitary")
    if inst.clbits:
        raise PlanError(f"{where} acts on classical bits; the VQC must be unitary")
    if not isinstance(op, (Gate, Delay)) and op.name not in _IGNORED:
        raise PlanError(f"{where} is not a unitary gate; the VQC must be unitary")


def build_model(circuit: QuantumCircuit) -> CircuitModel:
    """Validate ``circuit`` and extract its interactions and qubit timelines.

    Raises:
        TypeError: ``circuit`` is not a ``QuantumCircuit``.
        PlanError: the circuit is empty, or holds measurements, resets,
            classical control or classical bits.
    """
    if not isinstance(circuit, QuantumCircuit):
        raise TypeError(f"expected a qiskit QuantumCircuit, got {type(circuit).__name__}")
    if circuit.num_qubits == 0:
        raise PlanError("circuit is empty: it has no qubits")
    if len(circuit.data) == 0:
        raise PlanError(f"circuit is empty: {circuit.num_qubits} qubits but no instructions")
    interactions: list[Interaction] = []
    events: list[list[int]] = [[] for _ in range(circuit.num_qubits)]
    positions: list[tuple[int, ...]] = []
    for i, inst in enumerate(circuit.data):
        _check_instruction(i, inst, circuit)
        op = inst.operation
        if op.name in _IGNORED or len(inst.qubits) < 2:
            continue
        qubits = qubit_indices(circuit, inst)
        try:
            cost, reason = gate_cut_cost(op), None
        except UncuttableGateError as exc:
            cost, reason = None, str(exc)
        gid = len(interactions)
        interactions.append(
            Interaction(i, op.name, qubits, cost, reason, has_unbound_parameters(op))
        )
        positions.append(tuple(len(events[q]) for q in qubits))
        for q in qubits:
            events[q].append(gid)
    if circuit.num_clbits:
        raise PlanError(
            f"circuit has {circuit.num_clbits} classical bits; the VQC must be unitary "
            "(qiskit-addon-cutting adds its own registers)"
        )
    return CircuitModel(
        circuit.num_qubits,
        tuple(interactions),
        tuple(tuple(e) for e in events),
        tuple(positions),
    )


def interaction_graph(circuit: QuantumCircuit | CircuitModel) -> nx.Graph:
    """Weighted qubit interaction graph of a circuit.

    Nodes are qubit indices ``0..n-1``. An edge ``(i, j)`` exists when some
    multi-qubit instruction acts on both; its attributes are

    * ``weight``: :math:`\\sum \\log \\gamma^2` of cutting all gates between
      ``i`` and ``j`` (``inf`` if one of them cannot be cut),
    * ``overhead``: :math:`\\prod \\gamma^2` (``inf`` likewise),
    * ``gates``: the instruction indices.

    Gates on three or more qubits contribute an uncuttable edge per pair.
    """
    model = circuit if isinstance(circuit, CircuitModel) else build_model(circuit)
    graph = nx.Graph()
    graph.add_nodes_from(range(model.num_qubits))
    for g in model.interactions:
        weight = g.weight if len(g.qubits) == 2 else math.inf
        overhead = g.cost.overhead if g.cost is not None and len(g.qubits) == 2 else math.inf
        for a_pos, a in enumerate(g.qubits):
            for b in g.qubits[a_pos + 1 :]:
                if not graph.has_edge(a, b):
                    graph.add_edge(a, b, weight=0.0, overhead=1.0, gates=[])
                data = graph.edges[a, b]
                data["weight"] += weight
                data["overhead"] *= overhead
                data["gates"].append(g.index)
    return graph
