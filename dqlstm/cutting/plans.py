"""The cost figures of a cut plan, as every cut result reports them."""

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
