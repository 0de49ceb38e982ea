"""Sampling overheads of gate and wire cuts, taken from qiskit-addon-cutting's QPDs.

A cut replaces a channel :math:`\\mathcal{E}` by a quasi-probability
decomposition (QPD) :math:`\\mathcal{E} = \\sum_i a_i \\mathcal{F}_i` of local
operations. Estimating through it multiplies the shots needed for a given
precision by :math:`\\gamma^2 = (\\sum_i |a_i|)^2` (``QPDBasis.overhead``).
Independent cuts compose by tensor product, so along a plan

.. math::  \\gamma^2_{\\text{plan}} = \\prod_{c} \\gamma_c^2,
           \\qquad \\log \\gamma^2_{\\text{plan}} = \\sum_c \\log \\gamma_c^2 ,

which is why the partitioner works with the additive weights
:math:`w_c = \\log \\gamma_c^2` (CX/CZ: :math:`\\log 9`, RZZ(t):
:math:`2\\log(1 + 2|\\sin t|)`, SWAP: :math:`\\log 49`, wire cut (``Move``):
:math:`\\log 16`). Every number here comes from ``qpdbasis_from_instruction``;
nothing is tabulated by hand.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

from qiskit.circuit import Instruction
from qiskit.circuit.library import get_standard_gate_name_mapping
from qiskit_addon_cutting.instructions import Move
from qiskit_addon_cutting.qpd import QPDBasis, qpdbasis_from_instruction

from backends.circuits import has_unbound_parameters

# generate_qpd_weights drops terms whose |coefficient| is below this (qpd/weights.py)
_NONZERO_ATOL = 1e-14


@dataclass(frozen=True)
class CutCost:
    """What cutting one instruction costs.

    Attributes:
        overhead: sampling overhead :math:`\\gamma^2` of the cut.
        num_terms: number of QPD terms with a non-zero coefficient; the exact
            reconstruction evaluates the product of these over all cuts.
    """

    overhead: float
    num_terms: int

    @property
    def weight(self) -> float:
        """Additive cost :math:`\\log \\gamma^2`."""
        return math.log(self.overhead)


def _cost_of_basis(basis: QPDBasis) -> CutCost:
    terms = sum(1 for c in basis.coeffs if abs(c) > _NONZERO_ATOL)
    return CutCost(overhead=float(basis.overhead), num_terms=int(terms))


_STANDARD_GATES = frozenset(get_standard_gate_name_mapping())
_GATE_COSTS: dict[tuple[str, tuple[float, ...]], CutCost] = {}


def _cached_gate_cost(name: str, params: tuple[float, ...], op: Instruction) -> CutCost:
    # same (name, numeric params) -> same matrix -> same QPD
    key = (name, params)
    cost = _GATE_COSTS.get(key)
    if cost is None:
        cost = _GATE_COSTS[key] = _cost_of_basis(qpdbasis_from_instruction(op))
    return cost


class UncuttableGateError(ValueError):
    """The gate has no QPD in qiskit-addon-cutting (unbound parameters, > 2 qubits, ...)."""


def gate_cut_cost(op: Instruction) -> CutCost:
    """Sampling overhead and QPD size of cutting the two-qubit gate ``op``.

    Raises:
        UncuttableGateError: ``op`` is not a two-qubit gate, has unbound
            parameters, or qiskit-addon-cutting has no decomposition for it.
    """
    if op.num_qubits != 2:
        raise UncuttableGateError(
            f"{op.name} acts on {op.num_qubits} qubits; only two-qubit gates can be cut"
        )
    if has_unbound_parameters(op):
        raise UncuttableGateError(
            f"{op.name} has unbound parameters {sorted(str(p) for p in op.params)}; "
            "its QPD depends on the angle, so it cannot be cut symbolically"
        )
    params: tuple[float, ...] | None = None
    if op.name in _STANDARD_GATES:  # custom gates may reuse a name with another matrix
        try:
            params = tuple(float(p) for p in op.params)
        except (TypeError, ValueError):
            params = None
    try:
        if params is None:
            return _cost_of_basis(qpdbasis_from_instruction(op))
        return _cached_gate_cost(op.name, params, op)
    except ValueError as exc:
        raise UncuttableGateError(f"{op.name} cannot be cut: {exc}") from exc


@lru_cache(maxsize=1)
def wire_cut_cost() -> CutCost:
    """Cost of one wire cut: the QPD of the ``Move`` operation (overhead 16)."""
    return _cost_of_basis(qpdbasis_from_instruction(Move()))
