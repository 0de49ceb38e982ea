"""The cut plan: which gates and wires to cut, and which qubits form each fragment.

A plan is data (JSON round-trips through :meth:`CutPlan.to_dict` /
:meth:`CutPlan.from_dict`) plus one operation, :meth:`CutPlan.apply`, that
hands the circuit to qiskit-addon-cutting:

1. ``cut_gates`` replaces every planned gate cut by a ``TwoQubitQPDGate``;
2. a ``CutWire`` is inserted before every planned wire-cut position and
   ``cut_wires`` turns it into a ``Move`` onto a fresh qubit (one wire cut per
   call, see :func:`expand_wire_cuts`);
3. ``partition_problem`` separates the result by the plan's fragment labels
   into subcircuits, QPD bases and (for given observables) subobservables.

Counting. The plan's sampling overhead is :math:`\\prod_c \\gamma_c^2`.
With exact weights, ``generate_cutting_experiments`` evaluates every joint QPD
term :math:`(i_1, \\dots, i_C)` with non-zero coefficient on every fragment,
once per commuting observable group, so for one group per fragment

.. math::  N_{\\text{sub}} = F \\cdot \\prod_c T_c,

with :math:`F` fragments and :math:`T_c` non-zero terms of cut :math:`c`
(CX: 6, Move: 8, SWAP: 58).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from qiskit.circuit import CircuitInstruction, QuantumCircuit
from qiskit.quantum_info import PauliList, SparsePauliOp
from qiskit_addon_cutting import (
    PartitionedCuttingProblem,
    cut_gates,
    cut_wires,
    expand_observables,
    partition_problem,
)
from qiskit_addon_cutting.instructions import CutWire

from backends.circuits import has_unbound_parameters, qubit_indices

from .errors import PlanError

PLAN_FORMAT = 1


@dataclass(frozen=True)
class Fragment:
    """One subcircuit of the plan.

    Attributes:
        qubits: original circuit qubits with (a segment of) their wire here.
        width: qubits the fragment occupies: one per wire segment, so a qubit
            whose wire is cut and comes back counts twice.
        capacity: qubits of the QPU it is meant for.
        qpu: index of that QPU in the given capacity list (``None`` when the
            capacity was a single int).
    """

    qubits: tuple[int, ...]
    width: int
    capacity: int
    qpu: int | None = None


@dataclass(frozen=True)
class Cut:
    """One gate or wire cut.

    Attributes:
        kind: ``"gate"`` (the two-qubit gate at ``index`` is replaced by its QPD)
            or ``"wire"`` (the wire of ``qubits[0]`` is cut just before
            instruction ``index``).
        index: instruction index in the original circuit's ``data``.
        qubits: the gate's qubits, or the single cut qubit.
        operation: name of the instruction at ``index``.
        overhead: sampling overhead :math:`\\gamma^2` of this cut.
        num_terms: non-zero terms of its QPD.
        fragments: fragment of each side (gate: of ``qubits[0]``, ``qubits[1]``;
            wire: before, after).
    """

    kind: Literal["gate", "wire"]
    index: int
    qubits: tuple[int, ...]
    operation: str
    overhead: float
    num_terms: int
    fragments: tuple[int, int]


@dataclass(frozen=True)
class CutPlan:
    """Where to cut a circuit so that every fragment fits its QPU.

    Attributes:
        num_qubits: width of the circuit it was planned for.
        max_qubits: the capacities it was planned for (int or list, as given).
        fragments: the fragments; their positions are the partition labels
            used by :meth:`apply`.
        cuts: gate and wire cuts, in circuit order.
        segments: ``segments[q]`` lists the fragment of each piece of qubit
            ``q``'s wire in time order (one entry per wire cut on ``q``, plus one).
        method: how the plan was found.
        gate_optimal: ``True`` if branch and bound proved that no plan with
            gate cuts only is cheaper (wire cuts may make it cheaper still;
            with them the plan is a heuristic optimum).
        stats: search statistics (times, nodes, alternatives); informational.
    """

    num_qubits: int
    max_qubits: int | tuple[int, ...]
    fragments: tuple[Fragment, ...]
    cuts: tuple[Cut, ...]
    segments: tuple[tuple[int, ...], ...]
    method: str = ""
    gate_optimal: bool = False
    stats: dict[str, Any] = field(default_factory=dict, compare=False)

    # ------------------------------------------------------------ summary

    @property
    def num_fragments(self) -> int:
        """Number of fragments (subcircuits)."""
        return len(self.fragments)

    @property
    def num_cuts(self) -> int:
        """Gate cuts plus wire cuts."""
        return len(self.cuts)

    @property
    def num_gate_cuts(self) -> int:
        """Number of cut gates."""
        return sum(c.kind == "gate" for c in self.cuts)

    @property
    def num_wire_cuts(self) -> int:
        """Number of cut wires."""
        return sum(c.kind == "wire" for c in self.cuts)

    @property
    def sampling_overhead(self) -> float:
        """Total sampling overhead :math:`\\prod_c \\gamma_c^2` (1 without cuts)."""
        return float(math.prod(c.overhead for c in self.cuts))

    @property
    def log_overhead(self) -> float:
        """:math:`\\sum_c \\log \\gamma_c^2`, the quantity the search minimises."""
        return float(sum(math.log(c.overhead) for c in self.cuts))

    @property
    def num_qpd_terms(self) -> int:
        """Joint QPD terms :math:`\\prod_c T_c` evaluated by an exact reconstruction."""
        return math.prod(c.num_terms for c in self.cuts)

    @property
    def num_subexperiments(self) -> int:
        """Subexperiments of an exact reconstruction, one observable group per fragment.

        :math:`F \\prod_c T_c`, as generated by ``generate_cutting_experiments``
        with ``num_samples=inf``; multiply a fragment's share by its number of
        commuting observable groups for several groups.
        """
        return self.num_fragments * self.num_qpd_terms

    @property
    def fragment_widths(self) -> tuple[int, ...]:
        """Qubits of each fragment."""
        return tuple(f.width for f in self.fragments)

    @property
    def partition_labels(self) -> tuple[int, ...]:
        """Fragment of every qubit of the wire-cut circuit (see :func:`expand_wire_cuts`)."""
        return tuple(label for seg in self.segments for label in seg)

    # ------------------------------------------------------------ JSON

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description, summary figures first."""
        return {
            "format": PLAN_FORMAT,
            "num_qubits": self.num_qubits,
            "max_qubits": list(self.max_qubits)
            if isinstance(self.max_qubits, tuple)
            else self.max_qubits,
            "num_fragments": self.num_fragments,
            "num_cuts": self.num_cuts,
            "num_gate_cuts": self.num_gate_cuts,
            "num_wire_cuts": self.num_wire_cuts,
            "sampling_overhead": self.sampling_overhead,
            "num_subexperiments": self.num_subexperiments,
            "fragment_widths": list(self.fragment_widths),
            "method": self.method,
            "gate_optimal": self.gate_optimal,
            "fragments": [
                {**asdict(f), "qubits": list(f.qubits)} for f in self.fragments
            ],
            "cuts": [
                {**asdict(c), "qubits": list(c.qubits), "fragments": list(c.fragments)}
                for c in self.cuts
            ],
            "segments": [list(s) for s in self.segments],
            "stats": self.stats,
        }

    def to_json(self, **kwargs: Any) -> str:
        """:meth:`to_dict` as a JSON string (``kwargs`` go to ``json.dumps``)."""
        return json.dumps(self.to_dict(), **kwargs)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CutPlan:
        """Rebuild a plan from :meth:`to_dict` output (derived figures are recomputed)."""
        if data.get("format") != PLAN_FORMAT:
            raise ValueError(f"unsupported cut plan format {data.get('format')!r}")
        mq = data["max_qubits"]
        return cls(
            num_qubits=int(data["num_qubits"]),
            max_qubits=tuple(mq) if isinstance(mq, list) else int(mq),
            fragments=tuple(
                Fragment(tuple(f["qubits"]), int(f["width"]), int(f["capacity"]), f["qpu"])
                for f in data["fragments"]
            ),
            cuts=tuple(
                Cut(
                    c["kind"],
                    int(c["index"]),
                    tuple(c["qubits"]),
                    c["operation"],
                    float(c["overhead"]),
                    int(c["num_terms"]),
                    tuple(c["fragments"]),
                )
                for c in data["cuts"]
            ),
            segments=tuple(tuple(s) for s in data["segments"]),
            method=data.get("method", ""),
            gate_optimal=bool(data.get("gate_optimal", False)),
            stats=dict(data.get("stats", {})),
        )

    @classmethod
    def from_json(cls, text: str) -> CutPlan:
        """Inverse of :meth:`to_json`."""
        return cls.from_dict(json.loads(text))

    # ------------------------------------------------------------ apply

    def check_circuit(self, circuit: QuantumCircuit) -> None:
        """Raise :class:`PlanError` unless ``circuit`` is the one the plan was made for.

        Checks width and every cut position; a cut on a gate with unbound
        parameters is refused (its QPD depends on the angle).
        """
        if circuit.num_qubits != self.num_qubits:
            raise PlanError(
                f"plan is for {self.num_qubits} qubits, circuit has {circuit.num_qubits}"
            )
        if len(self.segments) != self.num_qubits:
            raise PlanError("plan segments do not cover every qubit")
        wires_on = [0] * self.num_qubits
        for cut in self.cuts:
            if not 0 <= cut.index < len(circuit.data):
                raise PlanError(f"{cut.kind} cut at instruction {cut.index}: circuit has "
                                f"{len(circuit.data)} instructions")
            inst = circuit.data[cut.index]
            qubits = qubit_indices(circuit, inst)
            where = f"{cut.kind} cut at instruction {cut.index}"
            if cut.kind == "gate":
                if inst.operation.name != cut.operation or qubits != cut.qubits:
                    raise PlanError(
                        f"{where}: plan expects {cut.operation} on {cut.qubits}, circuit has "
                        f"{inst.operation.name} on {qubits}"
                    )
                if has_unbound_parameters(inst.operation):
                    raise PlanError(
                        f"{where}: {inst.operation.name} on qubits {qubits} has unbound "
                        f"parameters {[str(p) for p in inst.operation.params]}; a cut gate needs "
                        "a fixed angle (keep trainable parameters off two-qubit gates, or bind "
                        "them before cutting)"
                    )
            elif cut.kind == "wire":
                if len(cut.qubits) != 1 or cut.qubits[0] not in qubits:
                    raise PlanError(f"{where}: qubit {cut.qubits} is not touched by "
                                    f"{inst.operation.name} on {qubits}")
                wires_on[cut.qubits[0]] += 1
            else:
                raise PlanError(f"unknown cut kind {cut.kind!r}")
        for q, seg in enumerate(self.segments):
            if len(seg) != wires_on[q] + 1:
                raise PlanError(f"qubit {q}: {wires_on[q]} wire cuts but {len(seg)} segments")

    def cut_circuit(self, circuit: QuantumCircuit) -> QuantumCircuit:
        """The circuit with gate cuts as ``TwoQubitQPDGate`` and wire cuts as ``Move`` QPDs.

        Its qubits are the wire segments: qubit ``q``'s segments sit at
        consecutive positions, first segment first, the last one on the
        original ``Qubit`` object; :attr:`partition_labels` labels them.
        """
        self.check_circuit(circuit)
        gate_ids = [c.index for c in self.cuts if c.kind == "gate"]
        cut, _bases = cut_gates(circuit, gate_ids)
        wires = [(c.index, c.qubits[0]) for c in self.cuts if c.kind == "wire"]
        return expand_wire_cuts(cut, wires)

    def apply(
        self,
        circuit: QuantumCircuit,
        observables: PauliList | SparsePauliOp | Sequence[str] | None = None,
    ) -> PartitionedCuttingProblem:
        """Cut ``circuit`` as planned and separate it with qiskit-addon-cutting.

        Args:
            circuit: the circuit the plan was made for (parameters may be unbound
                except on cut gates).
            observables: Pauli observables on the original qubits; a
                ``SparsePauliOp`` contributes its Pauli terms (combine the
                reconstructed values with its coefficients).

        Returns:
            ``PartitionedCuttingProblem(subcircuits, bases, subobservables)``
            keyed by fragment index, ready for ``generate_cutting_experiments``.
        """
        expanded = self.cut_circuit(circuit)
        paulis = None
        if observables is not None:
            paulis = expand_observables(_as_pauli_list(observables, circuit.num_qubits),
                                        circuit, expanded)
        problem = partition_problem(expanded, list(self.partition_labels), paulis)
        if len(problem.bases) != self.num_cuts:  # a gate across fragments the plan did not cut
            raise PlanError(
                f"plan lists {self.num_cuts} cuts but its fragments cut {len(problem.bases)} "
                "gates/wires: the plan does not belong to this circuit"
            )
        return problem


def _as_pauli_list(observables: PauliList | SparsePauliOp | Sequence[str], n: int) -> PauliList:
    if isinstance(observables, SparsePauliOp):
        paulis = observables.paulis
    elif isinstance(observables, PauliList):
        paulis = observables
    else:
        paulis = PauliList(list(observables))
    if paulis.num_qubits != n:
        raise ValueError(f"observables act on {paulis.num_qubits} qubits, circuit has {n}")
    return paulis


def expand_wire_cuts(circuit: QuantumCircuit, wires: Sequence[tuple[int, int]]) -> QuantumCircuit:
    """Insert a ``CutWire`` before instruction ``index`` on qubit ``q`` for each ``(index, q)``
    and turn each into a ``Move`` QPD onto a fresh qubit with ``cut_wires``.

    ``cut_wires`` (qiskit-addon-cutting 0.10) counts the cuts per qubit with
    ``itertools.groupby``, which miscounts a qubit whose ``CutWire`` s are not
    consecutive among all ``CutWire`` s (two cuts on ``q0`` around one on
    ``q1``) and then overlaps wires. So the cuts go in one at a time, latest
    first, which keeps earlier instruction indices valid: the new qubit takes
    the part of the wire before the cut and sits just before the carrier.

    Returns:
        A circuit whose qubit ``offset(q) + s`` carries segment ``s`` of
        original qubit ``q`` (``offset(q)`` = segments of the qubits before ``q``).
    """
    n = circuit.num_qubits
    out = circuit
    seen: dict[int, int] = {}
    # latest first; for cuts before the same instruction, each inserted Move
    # shifts that instruction by one
    for index, q in sorted(wires, key=lambda w: (-w[0], w[1])):
        shift = seen.get(index, 0)
        seen[index] = shift + 1
        inst = out.data[index + shift]
        carriers = _carrier_range(out, circuit, q)
        found = [b for b in inst.qubits if out.find_bit(b).index in carriers]
        if len(found) != 1:
            raise PlanError(f"wire cut on qubit {q} before instruction {index}: "
                            f"{inst.operation.name} does not act on qubit {q}")
        out = out.copy()
        out.data.insert(index + shift, CircuitInstruction(CutWire(), [found[0]], []))
        out = cut_wires(out)
    # order check: segments of each original qubit are consecutive, last on the original bit
    if out.num_qubits != n + len(wires):
        raise AssertionError("cut_wires added an unexpected number of qubits")
    return out


def _carrier_range(current: QuantumCircuit, original: QuantumCircuit, q: int) -> range:
    """Positions in ``current`` of the bits carrying segments of original qubit ``q``.

    ``cut_wires`` inserts each new bit just before the bit it splits, so q's
    carriers are the bits after original qubit ``q - 1`` up to q's own bit.
    """
    end = current.find_bit(original.qubits[q]).index
    start = current.find_bit(original.qubits[q - 1]).index + 1 if q > 0 else 0
    return range(start, end + 1)
