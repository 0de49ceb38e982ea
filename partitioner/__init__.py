"""Partitioner: cut plans that fit variational circuits onto small QPUs.

>>> from partitioner import plan_cuts
>>> plan = plan_cuts(circuit, max_qubits=4)          # or max_qubits=[5, 3, 3]
>>> plan.num_cuts, plan.sampling_overhead, plan.fragment_widths
>>> problem = plan.apply(circuit, observables)       # qiskit-addon-cutting objects

The circuit becomes a weighted graph (qubits; two-qubit gates weighted by the
log of their QPD sampling overhead, so overheads multiply along a plan); a
capacitated partition of it is searched exactly (branch and bound) when small
and by Kernighan-Lin with restarts beyond; wire cuts are added where they beat
cutting several gates.
"""

from .capacities import Capacities
from .costs import CutCost, gate_cut_cost, wire_cut_cost
from .errors import PlanError
from .model import CircuitModel, Interaction, build_model, interaction_graph
from .plan import Cut, CutPlan, Fragment, expand_wire_cuts
from .planner import plan_cuts
from .segments import time_expanded_graph

__all__ = [
    "Capacities",
    "CircuitModel",
    "Cut",
    "CutCost",
    "CutPlan",
    "Fragment",
    "Interaction",
    "PlanError",
    "build_model",
    "expand_wire_cuts",
    "gate_cut_cost",
    "interaction_graph",
    "plan_cuts",
    "time_expanded_graph",
    "wire_cut_cost",
]
