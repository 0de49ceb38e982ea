r"""Checks made before any sub-experiment is generated or run.

Sub-experiment count. qiskit-addon-cutting's ``generate_cutting_experiments``
lists, for every fragment :math:`f`, one circuit per joint QPD term and
commuting observable group: :math:`L_f = T G_f` with :math:`T = \prod_c M_c`
(:math:`M_c` the number of terms of cut :math:`c`'s QPD basis) when every
term is enumerated (``num_samples = inf``). Building them costs time and
memory linear in :math:`\sum_f L_f`, so a plan whose count is beyond
``max_subexperiments`` is refused before anything is built.

Of the :math:`L_f` circuits only

.. math::
    D_f G_f, \qquad D_f = \prod_{c \ni f} m_{c,f},

are distinct, with :math:`m_{c,f}` the number of distinct local operation
lists of cut :math:`c`'s basis on fragment :math:`f`'s side (terms differing
only in cuts elsewhere, or in operations on the other side, give the same
circuit); the distinct ones are what runs (:mod:`.dedup`), so the shot total
of one call is :math:`S \cdot B \sum_f D_f G_f` for ``shots`` :math:`S` and
:math:`B` bindings.

Parameter values and shots are checked here too, one function each for every
engine.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from qiskit.circuit import QuantumCircuit

from dqlstm.choices import MAX_SHOTS

__all__ = [
    "DEFAULT_MAX_SUBEXPERIMENTS",
    "DEFAULT_MAX_TOTAL_SHOTS",
    "MAX_SHOTS",
    "SubexperimentCount",
    "check_parameter_values",
    "check_plan_size",
    "check_shots",
    "check_total_shots",
    "count_subexperiments",
]

# Sub-experiments qiskit-addon-cutting may list for one circuit template.
DEFAULT_MAX_SUBEXPERIMENTS = 100_000
# Shots of one call (all sub-experiments x bindings x shots).
DEFAULT_MAX_TOTAL_SHOTS = 10**10
# Shots per sub-experiment and binding: 10**8 already gives a standard error of
# 1e-4 on a single term; more is a unit mistake, not a plan.


@dataclass(frozen=True)
class SubexperimentCount:
    """Sub-experiments of a partitioned problem, predicted from its QPD bases.

    Attributes:
        num_terms: joint QPD terms :math:`T` that ``generate_cutting_experiments``
            lists (an upper bound when ``num_samples`` is finite).
        num_groups: commuting observable groups :math:`G_f` per fragment.
        listed: :math:`T G_f` per fragment, as qiskit-addon-cutting lists them.
        distinct: :math:`D_f G_f` per fragment, the distinct circuits (an upper
            bound: circuits may coincide further).
    """

    num_terms: int
    num_groups: dict[Hashable, int]
    listed: dict[Hashable, int]
    distinct: dict[Hashable, int]

    @property
    def total_listed(self) -> int:
        return sum(self.listed.values())

    @property
    def total_distinct(self) -> int:
        return sum(self.distinct.values())


def count_subexperiments(
    subcircuits: Mapping[Hashable, QuantumCircuit],
    num_groups: Mapping[Hashable, int],
    num_samples: float = math.inf,
) -> SubexperimentCount:
    """Predict the listed and distinct sub-experiments of ``partition_problem``'s subcircuits.

    Uses only the ``SingleQubitQPDGate`` s of each subcircuit (their ``basis``,
    ``qubit_id`` and the ``_<cut id>`` label suffix); nothing is generated.
    Exact integers (Python ints): the count of a bad plan may exceed 2**63.
    """
    num_maps: dict[int, int] = {}
    local: dict[Hashable, dict[int, list[tuple[Any, int]]]] = {}
    for label, circuit in subcircuits.items():
        cuts = local.setdefault(label, {})
        for inst in circuit.data:
            op = inst.operation
            basis = getattr(op, "basis", None)
            if basis is None or not hasattr(op, "qubit_id"):
                continue
            cut = _cut_id(op.label)
            num_maps[cut] = len(basis.maps)
            cuts.setdefault(cut, []).append((basis, int(op.qubit_id)))
    terms = math.prod(num_maps.values())
    if math.isfinite(num_samples):
        # exact weights (probability >= 1/N) and sampled ones are at most N each
        terms = min(terms, 2 * math.ceil(num_samples))
    listed, distinct = {}, {}
    for label in subcircuits:
        groups = int(num_groups[label])
        classes = math.prod(_distinct_local_maps(sides) for sides in local[label].values())
        listed[label] = terms * groups
        distinct[label] = min(classes, terms) * groups
    return SubexperimentCount(terms, {k: int(v) for k, v in num_groups.items()}, listed, distinct)


def _cut_id(label: str | None) -> int:
    try:
        return int(str(label).rsplit("_", 1)[-1])
    except ValueError:
        raise ValueError(f"QPD gate label {label!r} has no '_<cut id>' suffix") from None


def _distinct_local_maps(sides: list[tuple[Any, int]]) -> int:
    """Distinct operation lists one fragment applies over the terms of one cut's basis."""
    basis = sides[0][0]
    seen = set()
    for m in range(len(basis.maps)):
        seen.add(
            tuple(
                tuple((op.name, tuple(map(str, op.params))) for op in b.maps[m][qubit])
                for b, qubit in sides
            )
        )
    return len(seen)


def check_plan_size(
    count: SubexperimentCount,
    *,
    num_cuts: int,
    sampling_overhead: float,
    shots: int,
    max_subexperiments: int | None,
    max_total_shots: int | None,
) -> None:
    """Refuse a plan whose sub-experiments or shots (one binding) exceed the limits."""
    frags = len(count.listed)
    fix = (
        "Cut less: plan for bigger QPUs (a larger max_qubits) or a circuit with fewer links "
        "between its modules, so that fewer gates and wires are cut"
    )
    if max_subexperiments is not None and count.total_listed > max_subexperiments:
        raise ValueError(
            f"the cut plan lists {count.total_listed:,} sub-experiments ({num_cuts} cuts: "
            f"{count.num_terms:,} QPD terms x observable groups in each of {frags} fragments; "
            f"{count.total_distinct:,} of them distinct), above max_subexperiments="
            f"{max_subexperiments:,}; its sampling overhead is {sampling_overhead:.3g}, so each "
            f"value also needs ~{sampling_overhead:.3g}x the shots of the uncut circuit. {fix}; "
            "or raise max_subexperiments if this is really meant"
        )
    total = count.total_distinct * shots
    if max_total_shots is not None and total > max_total_shots:
        raise ValueError(
            f"the cut plan needs {total:,} shots for a single binding ({count.total_distinct:,} "
            f"distinct sub-experiments x {shots:,} shots; {num_cuts} cuts, sampling overhead "
            f"{sampling_overhead:.3g}), above max_total_shots={max_total_shots:,}. {fix}; or use "
            "fewer shots, or raise max_total_shots"
        )


def check_total_shots(total: int, max_total_shots: int | None, what: str) -> None:
    """Refuse a call whose shots (sub-experiments x bindings x shots) exceed the limit."""
    if max_total_shots is not None and total > max_total_shots:
        raise ValueError(
            f"{what} needs {total:,} shots, above max_total_shots={max_total_shots:,}; pass fewer "
            "bindings per call or fewer shots, or raise max_total_shots"
        )


def check_shots(shots: Any) -> int:
    """Shots per sub-experiment and binding: an integer in ``[1, MAX_SHOTS]``."""
    if isinstance(shots, bool) or not isinstance(shots, (int, np.integer)):
        raise ValueError(f"shots must be a positive integer, got {shots!r}")
    if shots <= 0:
        raise ValueError(f"shots must be a positive integer, got {shots}")
    if shots > MAX_SHOTS:
        raise ValueError(
            f"shots={int(shots):,} per sub-experiment and binding is above the maximum "
            f"{MAX_SHOTS:,} (standard error ~1e-4 per term already); use fewer shots"
        )
    return int(shots)


def check_limit(value: Any, name: str) -> int | None:
    """A positive integer limit, or None for no limit."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{name} must be a positive integer or None, got {value!r}")
    return int(value)


def check_parameter_values(values: Any, num_parameters: int) -> np.ndarray:
    """``(B, P)`` float64 bindings (a ``(P,)`` vector is one binding).

    Refused: non-numeric or complex values (a cast to real would silently drop
    the imaginary part), a wrong width, ``B = 0`` (a call that runs nothing is
    a caller's bug), NaN or infinite entries.
    """
    try:
        raw = np.asarray(values)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"parameter values are not a numeric array: {exc}") from None
    if np.iscomplexobj(raw):
        raise ValueError("parameter values are complex; rotation angles must be real numbers")
    try:
        arr = np.array(raw, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"parameter values are not a numeric array: {exc}") from None
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != num_parameters:
        raise ValueError(
            f"parameter values must have shape (B, {num_parameters}) (one column per circuit "
            f"parameter, in circuit.parameters order), got {np.shape(values)}"
        )
    if arr.shape[0] == 0:
        raise ValueError("parameter values have no rows (B = 0)")
    if not np.isfinite(arr).all():
        raise ValueError("parameter values contain NaN or infinite entries")
    return arr
