"""What a run's cut circuits cost, read from the model and summed across resumed processes.

A model's engine reports its cut cost (plan figures plus, for ``sampled``,
what it executed so far); a run interrupted and resumed runs in several
processes, each counting from zero, so the run's cost is the sum of the
counters of every process (:func:`add_costs`) while the plan figures stay.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn

COUNTER_KEYS = ("evaluations", "executed", "pool")  # what grows with the work done
_NOT_ADDITIVE = frozenset({"num_qubits", "name"})  # descriptions found among the counters


def cut_info(model: nn.Module) -> dict[str, Any] | None:
    """How the core's engine cuts its circuits (``None`` when nothing is cut).

    Looks for ``cut_summary()`` (or a ``cut_summary`` dict) on the core or its
    ``engine``, else a ``plan`` with ``to_dict()`` (the partitioner's ``CutPlan``).
    """
    core = getattr(model, "core", model)
    for owner in (core, getattr(core, "engine", None)):
        if owner is None:
            continue
        summary = getattr(owner, "cut_summary", None)
        if callable(summary):
            summary = summary()
        if summary:
            return dict(summary)
        plan = getattr(owner, "plan", None)
        if plan is not None and callable(getattr(plan, "to_dict", None)):
            return dict(plan.to_dict())
    return None


def models_cut_info(models: list[nn.Module]) -> dict[str, Any] | None:
    """The cut cost of several models sharing one plan and one pool (a federation's global and
    worker models): their engines' counters summed, the shared pool's statistics taken once."""
    infos = [info for info in (cut_info(getattr(m, "regressor", m)) for m in models) if info]
    total = infos[0] if infos else None
    for info in infos[1:]:
        total = add_costs(info, total, keys=("evaluations", "executed"))
    return total


def add_costs(
    earlier: Mapping[str, Any] | None, current: Mapping[str, Any] | None, keys: tuple[str, ...] = COUNTER_KEYS
) -> dict[str, Any] | None:
    """``current`` with the counters (``keys``, by default :data:`COUNTER_KEYS`) of ``earlier`` added in.

    Numbers under a counter key are summed; flags and descriptions (a QPU's
    width, whether it is available) are taken from ``current``.
    """
    if current is None:
        return None if earlier is None else dict(earlier)
    out = dict(current)
    for key in keys:
        if earlier and key in earlier:
            out[key] = _add(earlier[key], current.get(key)) if key in current else earlier[key]
    return out


def _add(a: Any, b: Any, key: str = "") -> Any:
    if b is None:
        return a
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        merged = {k: _add(a[k], v, k) if k in a else v for k, v in b.items()}
        merged.update({k: v for k, v in a.items() if k not in b})
        return merged
    numbers = (int, float)
    if (
        isinstance(a, numbers) and isinstance(b, numbers)
        and not isinstance(a, bool) and not isinstance(b, bool)
        and key not in _NOT_ADDITIVE
    ):
        return a + b
    return b
