"""Scheduling rules of the pool (pure functions, so they are testable alone).

Longest-processing-time first, most constrained first: a PUB that few QPUs
can run (it is wide) is placed before narrow ones; among free QPUs that fit,
the one with the least estimated work so far gets it, preferring QPUs the
PUB has not failed on and, on ties, the narrowest (keep wide QPUs free).
"""

from __future__ import annotations

from collections.abc import Sequence


def task_priority(width: int, cost: float, first_index: int, widths: Sequence[int]) -> tuple:
    """Sort key: fewest eligible QPUs, then largest cost, then input order."""
    eligible = sum(1 for w in widths if w >= width)
    return (eligible, -cost, first_index)


def choose_qpu(
    width: int,
    free: Sequence[int],
    widths: Sequence[int],
    load: Sequence[float],
    costs: Sequence[float],
    failed_on: set[int],
) -> int | None:
    """Index of the free QPU that should run a PUB of ``width`` qubits, or None.

    ``costs[i]`` is the PUB's estimated cost on QPU ``i``; ``load[i]`` the
    cost already given to QPU ``i`` in this run.
    """
    fitting = [i for i in free if widths[i] >= width]
    if not fitting:
        return None
    fresh = [i for i in fitting if i not in failed_on]
    candidates = fresh or fitting  # reroute when possible; else retry where it failed
    return min(candidates, key=lambda i: (load[i] + costs[i], widths[i], i))
