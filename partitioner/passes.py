"""Best-prefix passes: the loop Kernighan-Lin and Fiduccia-Mattheyses share.

A pass applies the best feasible step even when its gain is negative (uphill
steps get a search out of a local optimum), locks what it moved, and finally
rolls back to the prefix of its steps with the largest total gain. Passes
repeat while one strictly improves. :func:`~partitioner.qubit_search.kl_partition`
(qubit clusters) and :func:`~partitioner.segments.fm_refine` (circuit events)
differ only in what a step is; the bookkeeping is here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

EPS = 1e-9  # cost differences below this are ties, in every partitioner search


class BestPrefix:
    """One pass's applied steps, the best prefix so far and the patience left.

    Attributes:
        patience: steps without a new best prefix after which the pass ends.
        best: total gain of the best prefix (``0`` for the empty prefix).
    """

    def __init__(self, patience: int) -> None:
        self.patience = patience
        self.best = 0.0
        self._total = 0.0
        self._undo: list[tuple[Any, int]] = []  # (index into part, previous label)
        self._best_len = 0
        self._stale = 0

    def record(self, undo: list[tuple[Any, int]], gain: float) -> bool:
        """Log an applied step (``undo``: the ``(index, old label)`` it changed, in order).

        Returns:
            ``True`` when the pass should end: ``patience`` steps without a new best.
        """
        self._undo.extend(undo)
        self._total += gain
        if self._total > self.best + EPS:
            self.best, self._best_len, self._stale = self._total, len(self._undo), 0
            return False
        self._stale += 1
        return self._stale >= self.patience

    def roll_back(self, part: np.ndarray) -> None:
        """Undo, in ``part``, the steps after the best prefix."""
        for index, old in reversed(self._undo[self._best_len :]):
            part[index] = old

    @property
    def improved(self) -> bool:
        """The best prefix strictly lowers the cost."""
        return self.best > EPS


def best_prefix_passes(
    part: np.ndarray, max_passes: int, patience: int, run_pass: Callable[[np.ndarray, BestPrefix], None]
) -> np.ndarray:
    """Run up to ``max_passes`` passes on ``part`` (in place) until one does not improve.

    ``run_pass(part, log)`` applies steps to ``part``, recording each with
    ``log.record`` and stopping when it returns ``True`` or no step is feasible;
    each pass starts from the best prefix of the previous one.
    """
    for _ in range(max_passes):
        log = BestPrefix(patience)
        run_pass(part, log)
        log.roll_back(part)
        if not log.improved:
            break
    return part
