"""Split a circuit along a cut plan into fragment circuits for exact contraction.

Every cut carries a *ket* index and a *bra* index of the same dimension:

* gate cut: the operator Schmidt decomposition ``U = sum_r A_r (x) B_r`` of the
  cut gate (rank 2 for CX/CZ); row ``r`` applies ``A_r`` on one side and
  ``B_r`` on the other;
* wire cut: ``1 = sum_j |j><j|``; the upstream fragment leaves the wire's
  amplitude index ``j`` open, the downstream one starts the wire in ``|j>``.

The full state is then ``|Psi> = sum_a (x)_f |psi_f^{a_f}>`` and for a product
observable ``<Psi|O|Psi> = sum_{a, a'} prod_f <psi_f^{a'_f}| O_f |psi_f^{a_f}>``:
each fragment is simulated once per assignment of the ket indices of its own
cuts, and the fragments' tensors are contracted over the (ket, bra) pairs.
This is the pure-state form of the gate/wire decompositions used by
qiskit-addon-cutting (4 index pairs per wire, as in the Pauli basis).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from qiskit.circuit import QuantumCircuit
from qiskit.quantum_info import Operator

from backends.circuits import has_unbound_parameters, qubit_indices
from dqlstm.engine.program import IndexedGate, check_vqc_instruction


@dataclass
class FragmentCircuit:
    """One fragment: a local circuit plus how its indices attach to the cuts.

    Attributes:
        index: fragment number in the plan.
        circuit: local circuit (``IndexedGate`` placeholders for cut terms).
        segment_qubit: local qubit of every ``(qubit, segment)`` in the fragment.
        ket_cuts: ``(cut id, dim)`` of the indices simulated as rows, in row-digit
            order (the first varies slowest).
        open_cuts: ``(cut id, local qubit)`` of wires leaving the fragment.
        stacks: ``key -> (dim, 2, 2)`` operator stacks of the placeholders.
        observed: original qubit -> local qubit, for qubits whose wire ends here.
    """

    index: int
    circuit: QuantumCircuit
    segment_qubit: dict[tuple[int, int], int]
    ket_cuts: list[tuple[int, int]] = field(default_factory=list)
    open_cuts: list[tuple[int, int]] = field(default_factory=list)
    stacks: dict[str, torch.Tensor] = field(default_factory=dict)
    observed: dict[int, int] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return int(np.prod([d for _, d in self.ket_cuts])) if self.ket_cuts else 1


def schmidt_terms(matrix: np.ndarray, tol: float = 1e-12) -> tuple[np.ndarray, np.ndarray]:
    """Operator Schmidt decomposition of a two-qubit gate in qiskit's order.

    Returns stacks ``A (r, 2, 2)`` on the instruction's first qubit and
    ``B (r, 2, 2)`` on its second with ``U = sum_r B_r (x) A_r`` (kron order,
    first qubit least significant).
    """
    u = matrix.reshape(2, 2, 2, 2)  # (i1, i0, j1, j0)
    m = u.transpose(0, 2, 1, 3).reshape(4, 4)  # rows (i1 j1) -> B, cols (i0 j0) -> A
    left, s, right = np.linalg.svd(m)
    keep = s > tol * max(s[0], 1.0)
    root = np.sqrt(s[keep])
    b = (left[:, keep] * root).T.reshape(-1, 2, 2)
    a = (right[keep].T * root).T.reshape(-1, 2, 2)
    return a, b


_WIRE_IN = np.stack([np.eye(2), np.array([[0.0, 1.0], [1.0, 0.0]])]).astype(complex)


def split_circuit(circuit: QuantumCircuit, plan) -> list[FragmentCircuit]:
    """Fragment circuits of ``circuit`` under ``plan`` (a partitioner ``CutPlan``)."""
    plan.check_circuit(circuit)
    n = circuit.num_qubits
    segments = [list(s) for s in plan.segments]
    frags: list[FragmentCircuit] = []
    for f in range(plan.num_fragments):
        owned = sorted((q, s) for q in range(n) for s, lab in enumerate(segments[q]) if lab == f)
        frag = FragmentCircuit(f, QuantumCircuit(len(owned), name=f"fragment_{f}"), {})
        frag.segment_qubit = {qs: i for i, qs in enumerate(owned)}
        frags.append(frag)
    gate_cuts = {c.index: i for i, c in enumerate(plan.cuts) if c.kind == "gate"}
    wire_cuts: dict[tuple[int, int], int] = {}
    for i, c in enumerate(plan.cuts):
        if c.kind == "wire":
            if (c.index, c.qubits[0]) in wire_cuts:
                raise ValueError(f"the plan cuts the wire of qubit {c.qubits[0]} twice before instruction {c.index}")
            wire_cuts[(c.index, c.qubits[0])] = i
    for q, labels in enumerate(segments):
        if any(not 0 <= lab < plan.num_fragments for lab in labels):
            raise ValueError(f"qubit {q}: segment labels {labels} outside the plan's {plan.num_fragments} fragments")
    seg = [0] * n
    for pos, inst in enumerate(circuit.data):
        if not inst.qubits or inst.operation.name == "barrier":
            continue  # global phase and barriers change no expectation value
        check_vqc_instruction(inst, f"instruction {pos} ({inst.operation.name})")
        qubits = list(qubit_indices(circuit, inst))
        for q in qubits:
            cid = wire_cuts.get((pos, q))
            if cid is None:
                continue
            up = frags[segments[q][seg[q]]]
            up.open_cuts.append((cid, up.segment_qubit[(q, seg[q])]))
            seg[q] += 1
            down = frags[segments[q][seg[q]]]
            key = f"wire{cid}"
            down.ket_cuts.append((cid, 2))
            down.stacks[key] = torch.from_numpy(_WIRE_IN)
            down.circuit.append(IndexedGate(key), [down.segment_qubit[(q, seg[q])]])
        owners = [segments[q][seg[q]] for q in qubits]
        if len(set(owners)) == 1:
            frag = frags[owners[0]]
            local = [frag.segment_qubit[(q, seg[q])] for q in qubits]
            frag.circuit.append(inst.operation, local)
            if pos in gate_cuts:
                raise ValueError(
                    f"the plan cuts instruction {pos} ({inst.operation.name}) but both of its "
                    f"qubits are in fragment {owners[0]}"
                )
            continue
        cid = gate_cuts.get(pos)
        where = f"instruction {pos} ({inst.operation.name} on qubits {qubits})"
        if cid is None:
            raise ValueError(f"{where} spans fragments {sorted(set(owners))} but the plan does not cut it")
        if len(qubits) != 2:
            raise ValueError(f"{where}: only two-qubit gates can be cut")
        if has_unbound_parameters(inst.operation):
            raise ValueError(
                f"{where} carries unbound parameters; cut gates must be parameter-free "
                "(the ansatz keeps trainable parameters on single-qubit gates)"
            )
        a, b = schmidt_terms(Operator(inst.operation).data)
        for side, (q, stack) in enumerate(((qubits[0], a), (qubits[1], b))):
            frag = frags[owners[side]]
            key = f"gate{cid}{'ab'[side]}"
            frag.ket_cuts.append((cid, stack.shape[0]))
            frag.stacks[key] = torch.from_numpy(stack.astype(complex))
            frag.circuit.append(IndexedGate(key), [frag.segment_qubit[(q, seg[q])]])
    for q in range(n):
        if seg[q] != len(segments[q]) - 1:
            raise ValueError(f"qubit {q}: the plan lists {len(segments[q])} segments but its wire was cut {seg[q]} times")
        frags[segments[q][-1]].observed[q] = frags[segments[q][-1]].segment_qubit[(q, len(segments[q]) - 1)]
    return frags
