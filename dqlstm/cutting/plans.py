"""Where cutting engines get their plan, and the cost figures every cut result reports."""

from __future__ import annotations

from typing import Any

PLAN_KEYS = (
    "num_fragments",
    "num_cuts",
    "num_gate_cuts",
    "num_wire_cuts",
    "sampling_overhead",
    "num_subexperiments",
    "fragment_widths",
    "method",
)


def plan_summary(plan) -> dict[str, Any]:
    """Cuts, fragment widths, sampling overhead and sub-experiments of a ``CutPlan``."""
    d = plan.to_dict()
    return {k: d[k] for k in PLAN_KEYS if k in d}


def resolve_plan(circuit, plan=None, max_qubits=None, who: str = "cutting"):
    """``plan`` if given, else ``plan_cuts(circuit, max_qubits)``; one of the two is required."""
    if plan is not None:
        return plan
    if max_qubits is None:
        raise ValueError(f"{who} needs max_qubits (the QPU capacity) or a cut plan")
    from partitioner import plan_cuts

    return plan_cuts(circuit, max_qubits)
